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
 * locked secmem memory by mls_key_schedule_new (or _from_joiner, for a
 * member joining by Welcome) and wiped by mls_key_schedule_free. The
 * epoch_secret itself and the intermediate extracts are wiped before the
 * constructor returns (RFC 9420 9.2 counts them consumed). Fields the
 * group no longer needs (joiner_secret and welcome_secret after the
 * Welcome is built, the previous init_secret) can be wiped by the caller
 * with sodium_memzero; mls_key_schedule_secret_tree wipes the
 * encryption_secret when it hands it to the secret tree.
 *
 * Also here: MLS-Exporter (8.5), the Welcome key and nonce (12.4.3.1),
 * the epoch's external key pair (8), the PSK secret chain (8.4), and the
 * transcript hashes and confirmation tag (8.2).
 *
 * Errors: HALQA_ERR_ARG for NULL or out-of-range arguments, HALQA_ERR_NOMEM,
 * HALQA_ERR_CRYPTO for a confirmation tag that does not verify, and what
 * the codec returns for a struct it cannot encode. On failure no
 * object is returned and fixed-size outputs are zeroed.
 */
#ifndef HALQA_MLS_KEY_SCHEDULE_H
#define HALQA_MLS_KEY_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_codec_msg.h"
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

/* One PSK to inject (RFC 9420 8.4): its PreSharedKeyID and its value. */
struct mls_key_schedule_psk {
	const struct mls_psk_id *id;
	const uint8_t *psk;
	size_t psk_len;
};

/* The most PSKs one commit may inject; PSKLabel counts them in a uint16. */
#define MLS_KEY_SCHEDULE_MAX_PSKS MLS_MAX_PSKS

/*
 * mls_key_schedule_psk_secret chains |num_psks| PSKs, in the order the
 * Commit or GroupSecrets lists them, into |out| (RFC 9420 8.4):
 *   psk_extracted = Extract(0, psk_[i])
 *   psk_input     = ExpandWithLabel(psk_extracted, "derived psk",
 *                                   PSKLabel{id, index i, count n}, 32)
 *   psk_secret_[i+1] = Extract(psk_input, psk_secret_[i]), psk_secret_[0] = 0.
 * With no PSKs the result is the zero vector. HALQA_ERR_ARG for more than
 * MLS_KEY_SCHEDULE_MAX_PSKS or a NULL id; |out| is zeroed on failure.
 */
HALQA_MUST_CHECK int mls_key_schedule_psk_secret(uint8_t out[MLS_HASH_LEN],
						 const struct mls_key_schedule_psk *psks,
						 size_t num_psks);

/*
 * mls_key_schedule_confirmed_transcript_hash computes (RFC 9420 8.2)
 *   confirmed_[n] = Hash(interim_[n-1] || ConfirmedTranscriptHashInput)
 * for the commit |commit| (an AuthenticatedContent whose content is a
 * commit: HALQA_ERR_ARG otherwise) into |out|. |interim_before| is empty
 * for the first commit of a group; at most MLS_MAX_HASH bytes.
 */
HALQA_MUST_CHECK int mls_key_schedule_confirmed_transcript_hash(
	uint8_t out[MLS_HASH_LEN], const uint8_t *interim_before, size_t interim_before_len,
	const struct mls_authenticated_content *commit);

/*
 * mls_key_schedule_interim_transcript_hash computes (RFC 9420 8.2)
 *   interim_[n] = Hash(confirmed_[n] || InterimTranscriptHashInput)
 * where the input is the commit's confirmation tag as MAC<V>.
 */
HALQA_MUST_CHECK int mls_key_schedule_interim_transcript_hash(
	uint8_t out[MLS_HASH_LEN], const uint8_t confirmed[MLS_HASH_LEN],
	const uint8_t *confirmation_tag, size_t confirmation_tag_len);

/*
 * mls_key_schedule_confirmation_tag computes MAC(confirmation_key,
 * confirmed_transcript_hash) (RFC 9420 6.1, 8.2; HMAC-SHA256) into |out|.
 */
HALQA_MUST_CHECK int mls_key_schedule_confirmation_tag(
	uint8_t out[MLS_HASH_LEN], const uint8_t confirmation_key[MLS_HASH_LEN],
	const uint8_t *confirmed, size_t confirmed_len);

/*
 * mls_key_schedule_verify_confirmation_tag recomputes the tag and compares
 * it with |tag| in constant time: HALQA_OK if equal, HALQA_ERR_CRYPTO if
 * not (a tag of the wrong length included).
 */
HALQA_MUST_CHECK int mls_key_schedule_verify_confirmation_tag(
	const uint8_t confirmation_key[MLS_HASH_LEN], const uint8_t *confirmed,
	size_t confirmed_len, const uint8_t *tag, size_t tag_len);

#endif
