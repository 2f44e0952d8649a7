/*
 * kind_key_schedule.c: RFC 9420 section 8 over chained epochs. For each
 * epoch the GroupContext is built from the entry (suite, group_id, epoch
 * number, tree_hash, confirmed_transcript_hash, no extensions), encoded
 * with the codec and compared with `group_context`; the epoch is derived
 * from the previous epoch's init_secret (the entry's initial_init_secret
 * first), commit_secret and psk_secret, and every output is compared:
 * joiner, welcome, init and all epoch-derived secrets, external_pub and
 * one MLS-Exporter value. A joiner deriving from joiner_secret must reach
 * the same epoch.
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_key_schedule.h"

static int check_secret(struct vector_ctx *ctx, json_t *ep, const char *field,
			const uint8_t *got, size_t got_len)
{
	const uint8_t *want;
	size_t want_len;

	if ((want = vec_hex(ctx, ep, field, &want_len)) == NULL) {
		return 0;
	}
	return vec_check_bytes(ctx, field, got, got_len, want, want_len);
}

static int check_epoch_outputs(struct vector_ctx *ctx, json_t *ep,
			       const struct mls_key_schedule_epoch *e)
{
	return check_secret(ctx, ep, "joiner_secret", e->joiner_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "welcome_secret", e->welcome_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "init_secret", e->init_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "sender_data_secret", e->sender_data_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "encryption_secret", e->encryption_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "exporter_secret", e->exporter_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "epoch_authenticator", e->epoch_authenticator,
			    MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "external_secret", e->external_secret, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "confirmation_key", e->confirmation_key, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "membership_key", e->membership_key, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "resumption_psk", e->resumption_psk, MLS_HASH_LEN) &&
	       check_secret(ctx, ep, "external_pub", e->external_pub, MLS_KEM_PUB_LEN);
}

/*
 * The exporter label is a JSON string used as the label text itself (the
 * upstream format says "string"; its characters happen to be hex digits).
 */
static void check_exporter(struct vector_ctx *ctx, json_t *ep,
			   const struct mls_key_schedule_epoch *e)
{
	json_t *ex = vec_object(ctx, ep, "exporter"), *label;
	const uint8_t *context, *want;
	size_t context_len, want_len;
	uint64_t length;
	uint8_t *got;

	if (ex == NULL || (context = vec_hex(ctx, ex, "context", &context_len)) == NULL ||
	    (want = vec_hex(ctx, ex, "secret", &want_len)) == NULL ||
	    !vec_uint(ctx, ex, "length", &length)) {
		return;
	}
	label = json_object_get(ex, "label");
	if (!json_is_string(label) || strlen(json_string_value(label)) != json_string_length(label) ||
	    length == 0 || length > 255 * 32) {
		vec_fail(ctx, "exporter label not a string, or length out of range");
		return;
	}
	got = vec_alloc(ctx, (size_t)length);
	if (vec_check_rc(ctx, "exporter",
			 mls_key_schedule_export(e, got, (size_t)length, json_string_value(label),
						 context, context_len))) {
		vec_check_bytes(ctx, "exporter secret", got, (size_t)length, want, want_len);
	}
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_group_context gc = {0};
	struct mls_key_schedule_epoch *e = NULL, *joined = NULL;
	uint8_t init_secret[MLS_HASH_LEN], *gc_bytes = NULL;
	const uint8_t *group_id, *initial;
	size_t group_id_len, initial_len, gc_len;
	uint64_t suite;
	json_t *epochs;

	if (!vec_uint(ctx, entry, "cipher_suite", &suite) ||
	    (group_id = vec_hex(ctx, entry, "group_id", &group_id_len)) == NULL ||
	    (initial = vec_hex(ctx, entry, "initial_init_secret", &initial_len)) == NULL ||
	    (epochs = vec_array(ctx, entry, "epochs")) == NULL) {
		return;
	}
	if (suite != 3 || initial_len != MLS_HASH_LEN || json_array_size(epochs) == 0) {
		vec_fail(ctx, "unexpected suite, init secret size or no epochs");
		return;
	}
	memcpy(init_secret, initial, MLS_HASH_LEN);
	for (size_t i = 0; i < json_array_size(epochs); i++) {
		json_t *ep = json_array_get(epochs, i);
		const uint8_t *tree_hash, *cth, *commit, *psk, *want_gc;
		size_t tree_hash_len, cth_len, commit_len, psk_len, want_gc_len;

		if (!json_is_object(ep) ||
		    (tree_hash = vec_hex(ctx, ep, "tree_hash", &tree_hash_len)) == NULL ||
		    (cth = vec_hex(ctx, ep, "confirmed_transcript_hash", &cth_len)) == NULL ||
		    (commit = vec_hex(ctx, ep, "commit_secret", &commit_len)) == NULL ||
		    (psk = vec_hex(ctx, ep, "psk_secret", &psk_len)) == NULL ||
		    (want_gc = vec_hex(ctx, ep, "group_context", &want_gc_len)) == NULL) {
			vec_fail(ctx, "epochs[%zu] malformed", i);
			goto out;
		}
		if (commit_len != MLS_HASH_LEN || psk_len != MLS_HASH_LEN) {
			vec_fail(ctx, "epochs[%zu]: secret sizes", i);
			goto out;
		}
		mls_group_context_cleanup(&gc);
		gc.version = 1;
		gc.cipher_suite = (uint16_t)suite;
		gc.epoch = i;
		if (mls_bytes_set(&gc.group_id, group_id, group_id_len) != HALQA_OK ||
		    mls_bytes_set(&gc.tree_hash, tree_hash, tree_hash_len) != HALQA_OK ||
		    mls_bytes_set(&gc.confirmed_transcript_hash, cth, cth_len) != HALQA_OK) {
			vec_fail(ctx, "out of memory");
			goto out;
		}
		free(gc_bytes);
		gc_bytes = NULL;
		if (!vec_check_rc(ctx, "encode group_context",
				  mls_group_context_encode_bytes(&gc, &gc_bytes, &gc_len)) ||
		    !vec_check_bytes(ctx, "group_context", gc_bytes, gc_len, want_gc,
				     want_gc_len)) {
			goto out;
		}
		mls_key_schedule_free(e);
		e = NULL;
		if (!vec_check_rc(ctx, "key schedule",
				  mls_key_schedule_new(&e, init_secret, commit, psk, &gc)) ||
		    !check_epoch_outputs(ctx, ep, e)) {
			vec_fail(ctx, "epochs[%zu]", i);
			goto out;
		}
		check_exporter(ctx, ep, e);
		/* A member joining by Welcome reaches the same epoch from joiner_secret. */
		mls_key_schedule_free(joined);
		joined = NULL;
		if (!vec_check_rc(ctx, "joiner key schedule",
				  mls_key_schedule_new_from_joiner(&joined, e->joiner_secret, psk,
								   &gc)) ||
		    !vec_check_bytes(ctx, "joiner's epoch", (const uint8_t *)joined,
				     sizeof *joined, (const uint8_t *)e, sizeof *e)) {
			goto out;
		}
		memcpy(init_secret, e->init_secret, MLS_HASH_LEN);
	}
out:
	sodium_memzero(init_secret, sizeof init_secret);
	mls_key_schedule_free(e);
	mls_key_schedule_free(joined);
	mls_group_context_cleanup(&gc);
	free(gc_bytes);
}

const struct vector_kind vector_kind_key_schedule = {"key-schedule", run_entry};
