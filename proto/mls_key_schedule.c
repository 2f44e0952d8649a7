/*
 * mls_key_schedule.c: RFC 9420 section 8, from an epoch's inputs to its
 * secrets, plus the exporter, the Welcome key, the external key pair, the
 * PSK chain and the transcript hashes.
 *
 * The derivation runs on stack temporaries (the two extracts and the
 * epoch_secret), writes straight into a secmem_alloc'd epoch struct, and
 * wipes the temporaries on every path. The GroupContext is encoded by the
 * codec, never by hand, so the bytes the key schedule binds are the bytes
 * the wire carries. KDF.Extract(salt, ikm) takes the diagram's "top" input
 * as salt and the "left" input as IKM.
 */
#include "halqa/mls_key_schedule.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/hkdf.h"
#include "halqa/mls_secret_tree.h"
#include "halqa/secmem.h"

static const uint8_t zero_secret[MLS_HASH_LEN];

/* The labels of RFC 9420 8, table "Epoch-Derived Secrets". */
static int derive_from_epoch_secret(struct mls_key_schedule_epoch *e,
				    const uint8_t epoch_secret[MLS_HASH_LEN])
{
	const struct {
		const char *label;
		uint8_t *out;
	} table[] = {
		{"sender data", e->sender_data_secret},
		{"encryption", e->encryption_secret},
		{"exporter", e->exporter_secret},
		{"external", e->external_secret},
		{"confirm", e->confirmation_key},
		{"membership", e->membership_key},
		{"resumption", e->resumption_psk},
		{"authentication", e->epoch_authenticator},
		{"init", e->init_secret},
	};
	uint8_t external_priv[MLS_KEM_PRIV_LEN];
	int rc = HALQA_OK;

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		if ((rc = mls_derive_secret(table[i].out, epoch_secret, table[i].label)) !=
		    HALQA_OK) {
			return rc;
		}
	}
	rc = mls_kem_derive_key_pair(external_priv, e->external_pub, e->external_secret,
				     MLS_HASH_LEN);
	sodium_memzero(external_priv, sizeof external_priv);
	return rc;
}

/*
 * From joiner_secret on: member = Extract(joiner, psk), welcome and epoch
 * secrets, then the table. Shared by new epochs and joiners.
 */
static int derive_from_joiner(struct mls_key_schedule_epoch *e, const uint8_t *psk_secret,
			      const uint8_t *gc, size_t gc_len)
{
	uint8_t member[MLS_HASH_LEN], epoch_secret[MLS_HASH_LEN];
	int rc;

	if ((rc = hkdf_extract(member, e->joiner_secret, MLS_HASH_LEN,
			       psk_secret != NULL ? psk_secret : zero_secret, MLS_HASH_LEN)) !=
		    HALQA_OK ||
	    (rc = mls_derive_secret(e->welcome_secret, member, "welcome")) != HALQA_OK ||
	    (rc = mls_expand_with_label(epoch_secret, MLS_HASH_LEN, member, "epoch", gc,
					gc_len)) != HALQA_OK ||
	    (rc = derive_from_epoch_secret(e, epoch_secret)) != HALQA_OK) {
		goto out;
	}
out:
	sodium_memzero(member, sizeof member);
	sodium_memzero(epoch_secret, sizeof epoch_secret);
	return rc;
}

static struct mls_key_schedule_epoch *epoch_alloc(void)
{
	struct mls_key_schedule_epoch *e = secmem_alloc(sizeof *e);

	if (e != NULL) {
		sodium_memzero(e, sizeof *e);
	}
	return e;
}

int mls_key_schedule_new(struct mls_key_schedule_epoch **out,
			 const uint8_t init_secret[MLS_HASH_LEN], const uint8_t *commit_secret,
			 const uint8_t *psk_secret, const struct mls_group_context *group_context)
{
	struct mls_key_schedule_epoch *e = NULL;
	uint8_t pre_joiner[MLS_HASH_LEN], *gc = NULL;
	size_t gc_len = 0;
	int rc;

	*out = NULL;
	if (init_secret == NULL || group_context == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = mls_group_context_encode_bytes(group_context, &gc, &gc_len)) != HALQA_OK) {
		return rc;
	}
	if ((e = epoch_alloc()) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	if ((rc = hkdf_extract(pre_joiner, init_secret, MLS_HASH_LEN,
			       commit_secret != NULL ? commit_secret : zero_secret,
			       MLS_HASH_LEN)) != HALQA_OK ||
	    (rc = mls_expand_with_label(e->joiner_secret, MLS_HASH_LEN, pre_joiner, "joiner", gc,
					gc_len)) != HALQA_OK ||
	    (rc = derive_from_joiner(e, psk_secret, gc, gc_len)) != HALQA_OK) {
		goto out;
	}
	*out = e;
	e = NULL;
out:
	sodium_memzero(pre_joiner, sizeof pre_joiner);
	mls_key_schedule_free(e);
	free(gc);
	return rc;
}

int mls_key_schedule_new_from_joiner(struct mls_key_schedule_epoch **out,
				     const uint8_t joiner_secret[MLS_HASH_LEN],
				     const uint8_t *psk_secret,
				     const struct mls_group_context *group_context)
{
	struct mls_key_schedule_epoch *e = NULL;
	uint8_t *gc = NULL;
	size_t gc_len = 0;
	int rc;

	*out = NULL;
	if (joiner_secret == NULL || group_context == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = mls_group_context_encode_bytes(group_context, &gc, &gc_len)) != HALQA_OK) {
		return rc;
	}
	if ((e = epoch_alloc()) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(e->joiner_secret, joiner_secret, MLS_HASH_LEN);
	if ((rc = derive_from_joiner(e, psk_secret, gc, gc_len)) != HALQA_OK) {
		goto out;
	}
	*out = e;
	e = NULL;
out:
	mls_key_schedule_free(e);
	free(gc);
	return rc;
}

void mls_key_schedule_free(struct mls_key_schedule_epoch *epoch)
{
	secmem_free(epoch); /* wipes; NULL is a no-op */
}

int mls_key_schedule_secret_tree(struct mls_key_schedule_epoch *epoch,
				 struct mls_secret_tree **out, uint32_t n_leaves)
{
	int rc;

	*out = NULL;
	if (epoch == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = mls_secret_tree_new(out, epoch->encryption_secret, n_leaves)) != HALQA_OK) {
		return rc;
	}
	sodium_memzero(epoch->encryption_secret, sizeof epoch->encryption_secret);
	return HALQA_OK;
}

int mls_key_schedule_export(const struct mls_key_schedule_epoch *epoch, uint8_t *out,
			    size_t out_len, const char *label, const uint8_t *context,
			    size_t context_len)
{
	uint8_t derived[MLS_HASH_LEN], context_hash[crypto_hash_sha256_BYTES];
	int rc;

	if (epoch == NULL || out == NULL || label == NULL ||
	    (context == NULL && context_len != 0) || out_len == 0 ||
	    out_len > HKDF_MAX_OUT_LEN) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	crypto_hash_sha256(context_hash, context, context_len);
	if ((rc = mls_derive_secret(derived, epoch->exporter_secret, label)) != HALQA_OK ||
	    (rc = mls_expand_with_label(out, out_len, derived, "exported", context_hash,
					sizeof context_hash)) != HALQA_OK) {
		goto out;
	}
out:
	if (rc != HALQA_OK && out != NULL && out_len <= HKDF_MAX_OUT_LEN) {
		sodium_memzero(out, out_len);
	}
	sodium_memzero(derived, sizeof derived);
	sodium_memzero(context_hash, sizeof context_hash);
	return rc;
}

int mls_key_schedule_external_key_pair(const struct mls_key_schedule_epoch *epoch,
				       uint8_t priv[MLS_KEM_PRIV_LEN],
				       uint8_t pub[MLS_KEM_PUB_LEN])
{
	int rc = HALQA_ERR_ARG;

	if (epoch != NULL) {
		rc = mls_kem_derive_key_pair(priv, pub, epoch->external_secret, MLS_HASH_LEN);
	}
	if (rc != HALQA_OK) {
		sodium_memzero(priv, MLS_KEM_PRIV_LEN);
		sodium_memzero(pub, MLS_KEM_PUB_LEN);
	}
	return rc;
}

int mls_key_schedule_welcome_key(uint8_t key[MLS_AEAD_KEY_LEN], uint8_t nonce[MLS_AEAD_NONCE_LEN],
				 const uint8_t welcome_secret[MLS_HASH_LEN])
{
	int rc = HALQA_ERR_ARG;

	if (welcome_secret != NULL &&
	    (rc = mls_expand_with_label(key, MLS_AEAD_KEY_LEN, welcome_secret, "key", NULL, 0)) ==
		    HALQA_OK) {
		rc = mls_expand_with_label(nonce, MLS_AEAD_NONCE_LEN, welcome_secret, "nonce", NULL,
					   0);
	}
	if (rc != HALQA_OK) {
		sodium_memzero(key, MLS_AEAD_KEY_LEN);
		sodium_memzero(nonce, MLS_AEAD_NONCE_LEN);
	}
	return rc;
}

/* Appends PSKLabel{id, index, count} (RFC 9420 8.4). */
static int psk_label_encode(struct bytes_writer *w, const struct mls_psk_id *id, uint16_t index,
			    uint16_t count)
{
	mls_psk_id_encode(w, id);
	bytes_put_u16(w, index);
	return bytes_put_u16(w, count);
}

int mls_key_schedule_psk_secret(uint8_t out[MLS_HASH_LEN], const struct mls_key_schedule_psk *psks,
				size_t num_psks)
{
	uint8_t secret[MLS_HASH_LEN] = {0}, next[MLS_HASH_LEN];
	uint8_t extracted[MLS_HASH_LEN], input[MLS_HASH_LEN];
	struct bytes_writer w;
	int rc = HALQA_OK;

	/* PSKLabel names the secret; its encoding is wiped with the writer. */
	bytes_writer_init(&w, MLS_MAX_ENCODING, BYTES_WIPE);
	if (num_psks > MLS_KEY_SCHEDULE_MAX_PSKS || (psks == NULL && num_psks != 0)) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	for (size_t i = 0; i < num_psks; i++) {
		if (psks[i].id == NULL || (psks[i].psk == NULL && psks[i].psk_len != 0)) {
			rc = HALQA_ERR_ARG;
			goto out;
		}
		bytes_writer_cleanup(&w);
		bytes_writer_init(&w, MLS_MAX_ENCODING, BYTES_WIPE);
		if ((rc = psk_label_encode(&w, psks[i].id, (uint16_t)i, (uint16_t)num_psks)) !=
			    HALQA_OK ||
		    (rc = hkdf_extract(extracted, zero_secret, MLS_HASH_LEN, psks[i].psk,
				       psks[i].psk_len)) != HALQA_OK ||
		    (rc = mls_expand_with_label(input, MLS_HASH_LEN, extracted, "derived psk",
						bytes_writer_data(&w), bytes_writer_len(&w))) !=
			    HALQA_OK ||
		    (rc = hkdf_extract(next, input, MLS_HASH_LEN, secret, MLS_HASH_LEN)) !=
			    HALQA_OK) {
			goto out;
		}
		memcpy(secret, next, MLS_HASH_LEN);
	}
	memcpy(out, secret, MLS_HASH_LEN);
out:
	if (rc != HALQA_OK) {
		sodium_memzero(out, MLS_HASH_LEN);
	}
	bytes_writer_cleanup(&w);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(next, sizeof next);
	sodium_memzero(extracted, sizeof extracted);
	sodium_memzero(input, sizeof input);
	return rc;
}

int mls_key_schedule_confirmed_transcript_hash(uint8_t out[MLS_HASH_LEN],
					       const uint8_t *interim_before,
					       size_t interim_before_len,
					       const struct mls_authenticated_content *commit)
{
	crypto_hash_sha256_state st;
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if (commit == NULL || commit->content.content_type != MLS_CONTENT_COMMIT ||
	    interim_before_len > MLS_MAX_HASH || (interim_before == NULL && interim_before_len != 0)) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = mls_confirmed_transcript_hash_input_encode(&w, commit)) != HALQA_OK) {
		goto out;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, interim_before, interim_before_len);
	crypto_hash_sha256_update(&st, bytes_writer_data(&w), bytes_writer_len(&w));
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
out:
	if (rc != HALQA_OK) {
		sodium_memzero(out, MLS_HASH_LEN);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_key_schedule_interim_transcript_hash(uint8_t out[MLS_HASH_LEN],
					     const uint8_t confirmed[MLS_HASH_LEN],
					     const uint8_t *confirmation_tag,
					     size_t confirmation_tag_len)
{
	crypto_hash_sha256_state st;
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_HASH + 4, 0);
	if (confirmed == NULL || confirmation_tag_len > MLS_MAX_HASH ||
	    (confirmation_tag == NULL && confirmation_tag_len != 0)) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = mls_interim_transcript_hash_input_encode(&w, confirmation_tag,
							   confirmation_tag_len)) != HALQA_OK) {
		goto out;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, confirmed, MLS_HASH_LEN);
	crypto_hash_sha256_update(&st, bytes_writer_data(&w), bytes_writer_len(&w));
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
out:
	if (rc != HALQA_OK) {
		sodium_memzero(out, MLS_HASH_LEN);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_key_schedule_confirmation_tag(uint8_t out[MLS_HASH_LEN],
				      const uint8_t confirmation_key[MLS_HASH_LEN],
				      const uint8_t *confirmed, size_t confirmed_len)
{
	if (confirmation_key == NULL || (confirmed == NULL && confirmed_len != 0)) {
		sodium_memzero(out, MLS_HASH_LEN);
		return HALQA_ERR_ARG;
	}
	/* MAC of suite 0x0003 is HMAC-SHA256, keyed with the 32-byte confirmation key. */
	crypto_auth_hmacsha256(out, confirmed, confirmed_len, confirmation_key);
	return HALQA_OK;
}

int mls_key_schedule_verify_confirmation_tag(const uint8_t confirmation_key[MLS_HASH_LEN],
					     const uint8_t *confirmed, size_t confirmed_len,
					     const uint8_t *tag, size_t tag_len)
{
	uint8_t want[MLS_HASH_LEN];
	int rc;

	if ((rc = mls_key_schedule_confirmation_tag(want, confirmation_key, confirmed,
						    confirmed_len)) != HALQA_OK) {
		return rc;
	}
	/* The length is public; the bytes are compared in constant time. */
	rc = tag != NULL && tag_len == sizeof want && sodium_memcmp(want, tag, sizeof want) == 0
		     ? HALQA_OK
		     : HALQA_ERR_CRYPTO;
	sodium_memzero(want, sizeof want);
	return rc;
}
