/*
 * mls_keypackage.h: KeyPackages (RFC 9420 section 10) as Halqa makes and
 * checks them, for cipher suite 0x0003.
 *
 * A Halqa KeyPackage carries a basic credential whose identity is the
 * member's 32-byte Ed25519 identity public key, which is also the leaf's
 * signature key: the identity a user verified (safety numbers) is the key
 * that signs every handshake message. Capabilities list version mls10,
 * our suite, the basic credential, the proposal types we process and the
 * extension types we understand: ratchet_tree, required_capabilities,
 * last_resort and our private-use GroupContext extension
 * (MLS_GROUP_EXT_ROSTER, mls_group.h).
 *
 * The two private keys of a KeyPackage (HPKE init key, leaf encryption
 * key) are kept in a struct mls_keypackage_private until the package is
 * used to join a group, then wiped (mls_keypackage_private_wipe). The
 * identity signing key is the caller's and is only borrowed.
 *
 * Errors: HALQA_ERR_ARG for NULL or inconsistent arguments (an empty
 * lifetime), HALQA_ERR_NOMEM, HALQA_ERR_UNSUPPORTED for a version or suite
 * other than ours, HALQA_ERR_INVALID for a rule of section 10.1 broken,
 * HALQA_ERR_CRYPTO for a signature that does not verify.
 */
#ifndef HALQA_MLS_KEYPACKAGE_H
#define HALQA_MLS_KEYPACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"

/* The one cipher suite Halqa speaks (MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519). */
#define MLS_KEYPACKAGE_SUITE 0x0003

/* The last_resort KeyPackage extension (draft-ietf-mls-extensions, IANA 0x000A). */
#define MLS_KEYPACKAGE_EXT_LAST_RESORT 0x000A

/* The private halves of a KeyPackage, kept until it is used. */
struct mls_keypackage_private {
	uint8_t init_priv[MLS_KEM_PRIV_LEN];       /* HPKE private key of init_key */
	uint8_t encryption_priv[MLS_KEM_PRIV_LEN]; /* leaf encryption_key private key */
};

/*
 * mls_keypackage_create makes a fresh KeyPackage in |*out| (zeroed on
 * entry; the caller cleans it with mls_key_package_cleanup) and its
 * private keys in |*priv|, signed with the identity key |sig_priv|
 * (libsodium 64-byte form; its public half becomes the signature key and
 * the credential identity). The leaf is valid from |not_before| to
 * |not_after| (seconds since the Unix epoch; HALQA_ERR_ARG if not_after <
 * not_before). |last_resort| adds the last_resort extension (a package a
 * server may hand out more than once when the others are used up). On
 * failure |*out| and |*priv| are zeroed.
 */
HALQA_MUST_CHECK int mls_keypackage_create(struct mls_key_package *out,
					   struct mls_keypackage_private *priv,
					   const uint8_t sig_priv[MLS_SIG_PRIV_LEN],
					   uint64_t not_before, uint64_t not_after,
					   bool last_resort);

/* mls_keypackage_private_wipe zeroes |priv| (call once the package is used or dropped). */
void mls_keypackage_private_wipe(struct mls_keypackage_private *priv);

/*
 * mls_keypackage_validate checks a KeyPackage received from a peer (RFC
 * 9420 10.1): version mls10 and suite 0x0003 (HALQA_ERR_UNSUPPORTED
 * otherwise), the leaf valid as a LeafNode of source key_package (7.3:
 * key sizes, capabilities listing its credential and its non-default
 * extensions, lifetime containing |now| when |now| is non-zero, leaf
 * signature), the KeyPackage signature, init_key of HPKE size and
 * different from the leaf's encryption key, no extension type twice.
 */
HALQA_MUST_CHECK int mls_keypackage_validate(const struct mls_key_package *kp, uint64_t now);

/*
 * mls_keypackage_ref computes KeyPackageRef = RefHash("MLS 1.0 KeyPackage
 * Reference", KeyPackage) (RFC 9420 5.2) into |out|.
 */
HALQA_MUST_CHECK int mls_keypackage_ref(const struct mls_key_package *kp,
					uint8_t out[MLS_HASH_LEN]);

/* mls_keypackage_is_last_resort tells whether |kp| carries the last_resort extension. */
bool mls_keypackage_is_last_resort(const struct mls_key_package *kp);

/*
 * mls_keypackage_leaf_identity copies the Halqa identity key of a leaf
 * into |out|: its basic credential's identity, which must be 32 bytes and
 * equal to the leaf's signature key (HALQA_ERR_INVALID otherwise, e.g. a
 * leaf made by another MLS client; |out| is then zeroed).
 */
HALQA_MUST_CHECK int mls_keypackage_leaf_identity(const struct mls_leaf_node *leaf,
						  uint8_t out[MLS_SIG_PUB_LEN]);

/*
 * mls_keypackage_capabilities fills |*out| (zeroed on entry; the caller
 * cleans it with mls_capabilities_cleanup) with the capabilities every
 * Halqa leaf advertises.
 */
HALQA_MUST_CHECK int mls_keypackage_capabilities(struct mls_capabilities *out);

#endif
