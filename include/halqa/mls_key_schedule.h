/*
 * mls_key_schedule.h: the epoch key schedule of RFC 9420 section 8 for
 * cipher suite 0x0003 (KDF HKDF-SHA256, Nh = 32; MAC HMAC-SHA256).
 *
 *   init_secret_[n-1] --salt--> Extract(commit_secret) --ExpandWithLabel
 *   "joiner" (GroupContext_[n])--> joiner_secret --salt--> Extract(psk_secret)
 *   --> welcome_secret = DeriveSecret(., "welcome"), and
 *   epoch_secret = ExpandWithLabel(., "epoch", GroupContext_[n]), from which
 *   every epoch secret is DeriveSecret(epoch_secret, label).
 *
 * An epoch's secrets live in a struct mls_key_schedule_epoch allocated in
 * sodium_malloc memory by mls_key_schedule_new (or _from_joiner, for a
 * member joining by Welcome) and wiped by mls_key_schedule_free. The
 * epoch_secret itself and the intermediate extracts are wiped before the
 * constructor returns (RFC 9420 9.2 counts them consumed). Fields the
 * group no longer needs (joiner_secret and welcome_secret after the
 * Welcome is built, the previous init_secret) can be wiped by the caller
 * with sodium_memzero; mls_key_schedule_secret_tree wipes the
 * encryption_secret when it hands it to the secret tree.
 *
 * Also here: MLS-Exporter (8.5), the Welcome key and nonce (12.4.3.1) and
 * the epoch's external key pair (8).
 *
 * Errors: HALQA_ERR_ARG for NULL or out-of-range arguments, HALQA_ERR_NOMEM,
 * and what the codec returns for a GroupContext it cannot encode. On failure no
 * object is returned and fixed-size outputs are zeroed.
 */
#ifndef HALQA_MLS_KEY_SCHEDULE_H
#define HALQA_MLS_KEY_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"

struct mls_secret_tree;

/* The secrets of one epoch (RFC 9420 8, table "Epoch-Derived Secrets"). */
struct mls_key_schedule_epoch {
	uint8_t joiner_secret[MLS_HASH_LEN];
	uint8_t welcome_secret[MLS_HASH_LEN];
	uint8_t sender_data_secret[MLS_HASH_LEN];
	uint8_t encryption_secret[MLS_HASH_LEN];
	uint8_t exporter_secret[MLS_HASH_LEN];
	uint8_t external_secret[MLS_HASH_LEN];
	uint8_t confirmation_key[MLS_HASH_LEN];
	uint8_t membership_key[MLS_HASH_LEN];
	uint8_t resumption_psk[MLS_HASH_LEN];
	uint8_t epoch_authenticator[MLS_HASH_LEN];
	uint8_t init_secret[MLS_HASH_LEN]; /* init_secret_[n]: input of the next epoch */
	uint8_t external_pub[MLS_KEM_PUB_LEN]; /* KEM.DeriveKeyPair(external_secret).pub */
};

/*
 * mls_key_schedule_new derives epoch n from |init_secret| (init_secret_[n-1],
 * or a fresh random value for a new group), |commit_secret| and
 * |psk_secret| (each NULL for the all-zero value RFC 9420 8 uses when there
 * is no path or no PSK), and the GroupContext of epoch n, which it encodes
 * with the codec. On success |*out| is a new epoch (free with
 * mls_key_schedule_free); on failure |*out| is NULL.
 */
HALQA_MUST_CHECK int mls_key_schedule_new(struct mls_key_schedule_epoch **out,
					  const uint8_t init_secret[MLS_HASH_LEN],
					  const uint8_t *commit_secret, const uint8_t *psk_secret,
					  const struct mls_group_context *group_context);

/*
 * mls_key_schedule_new_from_joiner derives epoch n from a joiner_secret
 * received in GroupSecrets (RFC 9420 12.4.3.1), the PSK secret (NULL for
 * zero) and the GroupContext from the GroupInfo. As mls_key_schedule_new.
 */
HALQA_MUST_CHECK int mls_key_schedule_new_from_joiner(
	struct mls_key_schedule_epoch **out, const uint8_t joiner_secret[MLS_HASH_LEN],
	const uint8_t *psk_secret, const struct mls_group_context *group_context);

/* mls_key_schedule_free wipes and frees |epoch|; NULL is a no-op. */
void mls_key_schedule_free(struct mls_key_schedule_epoch *epoch);

/*
 * mls_key_schedule_secret_tree makes the epoch's secret tree for
 * |n_leaves| leaves (see mls_secret_tree_new) into |*out| and wipes
 * |epoch|'s encryption_secret, which from then on exists only as the tree.
 * On failure nothing is wiped and |*out| is NULL.
 */
HALQA_MUST_CHECK int mls_key_schedule_secret_tree(struct mls_key_schedule_epoch *epoch,
						  struct mls_secret_tree **out, uint32_t n_leaves);

/*
 * mls_key_schedule_export computes MLS-Exporter(label, context, out_len)
 * (RFC 9420 8.5) = ExpandWithLabel(DeriveSecret(exporter_secret, label),
 * "exported", Hash(context), out_len) into |out|. |label| is a
 * NUL-terminated string (the IANA exporter labels are strings; a label
 * containing a zero byte cannot be expressed). |out_len| at most
 * 255 * 32. |out| is zeroed on failure.
 */
HALQA_MUST_CHECK int mls_key_schedule_export(const struct mls_key_schedule_epoch *epoch,
					     uint8_t *out, size_t out_len, const char *label,
					     const uint8_t *context, size_t context_len);

/*
 * mls_key_schedule_external_key_pair derives the epoch's external HPKE
 * key pair (RFC 9420 8: KEM.DeriveKeyPair(external_secret)) into |priv|
 * and |pub|; the caller wipes |priv|. Outputs zeroed on failure.
 */
HALQA_MUST_CHECK int mls_key_schedule_external_key_pair(const struct mls_key_schedule_epoch *epoch,
							uint8_t priv[MLS_KEM_PRIV_LEN],
							uint8_t pub[MLS_KEM_PUB_LEN]);

/*
 * mls_key_schedule_welcome_key derives the AEAD key and nonce that
 * encrypt a Welcome's GroupInfo (RFC 9420 12.4.3.1): ExpandWithLabel(
 * welcome_secret, "key" / "nonce", "", Nk / Nn). Outputs zeroed on failure.
 */
HALQA_MUST_CHECK int mls_key_schedule_welcome_key(uint8_t key[MLS_AEAD_KEY_LEN],
						  uint8_t nonce[MLS_AEAD_NONCE_LEN],
						  const uint8_t welcome_secret[MLS_HASH_LEN]);

#endif
