/*
 * mls_crypto.h: the labelled primitives of MLS (RFC 9420 section 5) for
 * cipher suite 0x0003, MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519:
 * hash SHA-256, KDF HKDF-SHA256, signature Ed25519, HPKE DHKEM(X25519,
 * HKDF-SHA256) with ChaCha20Poly1305.
 *
 * Every MLS use of the KDF, the signature and HPKE goes through a label, so
 * that a value computed for one purpose can never be taken for another:
 *
 *   ExpandWithLabel(Secret, Label, Context, Length) =
 *       KDF.Expand(Secret, KDFLabel{Length, "MLS 1.0 " + Label, Context}, Length)
 *   DeriveSecret(Secret, Label) = ExpandWithLabel(Secret, Label, "", 32)
 *   DeriveTreeSecret(Secret, Label, Generation, Length) =
 *       ExpandWithLabel(Secret, Label, uint32 Generation, Length)
 *   RefHash(Label, Value) = SHA-256(RefHashInput{Label, Value})
 *   SignWithLabel(Key, Label, Content) = Ed25519(Key, SignContent{"MLS 1.0 " + Label, Content})
 *   EncryptWithLabel(PK, Label, Context, PT) =
 *       HPKE SealBase(PK, EncryptContext{"MLS 1.0 " + Label, Context}, "", PT)
 *
 * The structs are TLS-encoded with the byte codec (bytes_writer): uint16 /
 * uint32 big-endian, opaque<V> as an MLS varint length and the bytes.
 *
 * Labels. |label| is the NUL-terminated ASCII label WITHOUT the "MLS 1.0 "
 * prefix ("epoch", "SignWithLabel", ...), except for mls_ref_hash, whose
 * label is used as given, because RFC 9420 5.2 passes the complete string
 * ("MLS 1.0 KeyPackage Reference"). Labels are at most MLS_LABEL_MAX bytes.
 *
 * Keys. Signature private keys are libsodium's 64-byte form (seed ||
 * public key); the vectors and RFC 8032 use the 32-byte seed, which
 * mls_sig_key_pair_from_seed expands. KEM keys are raw X25519 scalars and
 * points (HPKE SerializePrivateKey / SerializePublicKey).
 *
 * Errors. HALQA_ERR_ARG for a NULL pointer with a non-zero length, a
 * missing or over-long label, or an output length out of range;
 * HALQA_ERR_CRYPTO when a signature or ciphertext does not verify or a DH
 * result is all zero; HALQA_ERR_MALFORMED for an input of the wrong size
 * (a KEM output that is not 32 bytes, a ciphertext shorter than the tag);
 * HALQA_ERR_TOO_LARGE for a context, value or content longer than an MLS
 * length can say (2^30 - 1 bytes) in ExpandWithLabel, RefHash,
 * Sign/VerifyWithLabel and Encrypt/DecryptWithLabel, or a plaintext too
 * long to encrypt; HALQA_ERR_NOMEM. Fixed-size outputs are zeroed on failure. All
 * intermediates (encoded labels, PRKs, HPKE contexts) are wiped.
 */
#ifndef HALQA_MLS_CRYPTO_H
#define HALQA_MLS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/hkdf.h" /* hkdf_extract, hkdf_expand: the suite's KDF */

#define MLS_HASH_LEN       32 /* SHA-256 */
#define MLS_SIG_PUB_LEN    32
#define MLS_SIG_PRIV_LEN   64 /* libsodium form: seed || public */
#define MLS_SIG_SEED_LEN   32 /* RFC 8032 private key, as in the vectors */
#define MLS_SIG_LEN        64
#define MLS_KEM_PUB_LEN    32
#define MLS_KEM_PRIV_LEN   32
#define MLS_AEAD_KEY_LEN   32
#define MLS_AEAD_NONCE_LEN 12
#define MLS_AEAD_TAG_LEN   16

/* The longest label we accept (after "MLS 1.0 " is added: 8 more). */
#define MLS_LABEL_MAX 255

/*
 * mls_expand_with_label computes ExpandWithLabel(secret, label, context,
 * out_len) (RFC 9420 8) into |out|. |out_len| must be at most 255*32
 * (HKDF's limit; HALQA_ERR_ARG otherwise). |context| may be NULL if |context_len| is 0.
 */
HALQA_MUST_CHECK int mls_expand_with_label(uint8_t *out, size_t out_len,
					   const uint8_t secret[MLS_HASH_LEN], const char *label,
					   const uint8_t *context, size_t context_len);

/* mls_derive_secret computes DeriveSecret(secret, label) (RFC 9420 8). */
HALQA_MUST_CHECK int mls_derive_secret(uint8_t out[MLS_HASH_LEN],
				       const uint8_t secret[MLS_HASH_LEN], const char *label);

/*
 * mls_derive_tree_secret computes DeriveTreeSecret(secret, label,
 * generation, out_len) (RFC 9420 9.1): ExpandWithLabel with the 4-byte
 * big-endian generation as context.
 */
HALQA_MUST_CHECK int mls_derive_tree_secret(uint8_t *out, size_t out_len,
					    const uint8_t secret[MLS_HASH_LEN], const char *label,
					    uint32_t generation);

/*
 * mls_ref_hash computes RefHash(label, value) (RFC 9420 5.2) into |out|.
 * |label| is used exactly as given (e.g. "MLS 1.0 KeyPackage Reference").
 */
HALQA_MUST_CHECK int mls_ref_hash(uint8_t out[MLS_HASH_LEN], const char *label,
				  const uint8_t *value, size_t value_len);

/*
 * mls_sign_with_label computes SignWithLabel(priv, label, content) (RFC
 * 9420 5.1.2), an Ed25519 signature, into |sig|. |priv| is the 64-byte
 * libsodium secret key.
 */
HALQA_MUST_CHECK int mls_sign_with_label(uint8_t sig[MLS_SIG_LEN],
					 const uint8_t priv[MLS_SIG_PRIV_LEN], const char *label,
					 const uint8_t *content, size_t content_len);

/*
 * mls_verify_with_label checks VerifyWithLabel(pub, label, content, sig).
 * Returns HALQA_OK if the signature is valid, HALQA_ERR_CRYPTO if it is not
 * (including a |sig_len| other than 64 and a public key libsodium refuses).
 */
HALQA_MUST_CHECK int mls_verify_with_label(const uint8_t pub[MLS_SIG_PUB_LEN], const char *label,
					   const uint8_t *content, size_t content_len,
					   const uint8_t *sig, size_t sig_len);

/*
 * mls_sig_key_pair_from_seed expands an RFC 8032 Ed25519 private key (the
 * 32-byte seed, as the test vectors carry it) into libsodium's 64-byte
 * private key |priv| and the public key |pub|.
 */
HALQA_MUST_CHECK int mls_sig_key_pair_from_seed(uint8_t priv[MLS_SIG_PRIV_LEN],
						uint8_t pub[MLS_SIG_PUB_LEN],
						const uint8_t seed[MLS_SIG_SEED_LEN]);

/*
 * EncryptWithLabel: HPKE base-mode SealBase(pk, info=EncryptContext{label,
 * context}, aad="", pt) (RFC 9420 5.1.3). |kem_output| receives the HPKE
 * enc (32 bytes). |*out_ct| is malloc'd (pt_len + 16 bytes, never NULL on
 * success), the caller frees it; on failure *out_ct is NULL and
 * *out_ct_len 0.
 */
HALQA_MUST_CHECK int mls_encrypt_with_label(uint8_t kem_output[MLS_KEM_PUB_LEN], uint8_t **out_ct,
					    size_t *out_ct_len, const uint8_t pub[MLS_KEM_PUB_LEN],
					    const char *label, const uint8_t *context,
					    size_t context_len, const uint8_t *pt, size_t pt_len);

/*
 * mls_decrypt_with_label is DecryptWithLabel, the inverse. |kem_output|
 * must be exactly 32 bytes and |ct| at least 16 (HALQA_ERR_MALFORMED);
 * HALQA_ERR_CRYPTO if decryption fails. |*out_pt| is malloc'd (ct_len - 16
 * bytes, never NULL on success; it is plaintext, so wipe it before freeing
 * if it is secret); on failure NULL and 0.
 */
HALQA_MUST_CHECK int mls_decrypt_with_label(uint8_t **out_pt, size_t *out_pt_len,
					    const uint8_t priv[MLS_KEM_PRIV_LEN], const char *label,
					    const uint8_t *context, size_t context_len,
					    const uint8_t *kem_output, size_t kem_output_len,
					    const uint8_t *ct, size_t ct_len);

/*
 * mls_kem_derive_key_pair is HPKE DeriveKeyPair(ikm) for DHKEM(X25519,
 * HKDF-SHA256) (RFC 9180 7.1.3). |ikm_len| must be at least 32 (RFC 9180
 * 7.1.3: ikm "MUST have length at least Nsk"), else HALQA_ERR_ARG.
 */
HALQA_MUST_CHECK int mls_kem_derive_key_pair(uint8_t priv[MLS_KEM_PRIV_LEN],
					     uint8_t pub[MLS_KEM_PUB_LEN], const uint8_t *ikm,
					     size_t ikm_len);

#endif
