/*
 * kind_transcript_hashes.c: RFC 9420 section 8.2. The entry's
 * AuthenticatedContent is decoded with the codec and must be a commit; its
 * confirmation tag must verify under confirmation_key over
 * confirmed_transcript_hash_after, and updating interim_transcript_hash_before
 * with it must give both "after" hashes. A tag with one bit flipped must
 * be refused.
 */
#include "vectors.h"

#include <string.h>

#include "halqa/mls_key_schedule.h"

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_authenticated_content ac = {0};
	const uint8_t *key, *ac_bytes, *interim_before, *want_confirmed, *want_interim;
	size_t key_len, ac_len, interim_before_len, want_confirmed_len, want_interim_len;
	uint8_t confirmed[MLS_HASH_LEN], interim[MLS_HASH_LEN], *bad_tag;

	if ((key = vec_hex(ctx, entry, "confirmation_key", &key_len)) == NULL ||
	    (ac_bytes = vec_hex(ctx, entry, "authenticated_content", &ac_len)) == NULL ||
	    (interim_before = vec_hex(ctx, entry, "interim_transcript_hash_before",
				      &interim_before_len)) == NULL ||
	    (want_confirmed = vec_hex(ctx, entry, "confirmed_transcript_hash_after",
				      &want_confirmed_len)) == NULL ||
	    (want_interim = vec_hex(ctx, entry, "interim_transcript_hash_after",
				    &want_interim_len)) == NULL) {
		return;
	}
	if (key_len != MLS_HASH_LEN || want_confirmed_len != MLS_HASH_LEN) {
		vec_fail(ctx, "confirmation_key or confirmed hash of the wrong size");
		return;
	}
	if (!vec_check_rc(ctx, "decode authenticated_content",
			  mls_authenticated_content_decode_bytes(ac_bytes, ac_len, &ac))) {
		return;
	}
	if (ac.content.content_type != MLS_CONTENT_COMMIT) {
		vec_fail(ctx, "authenticated_content is not a commit");
		goto out;
	}
	if (!vec_check_rc(ctx, "confirmation tag",
			  mls_key_schedule_verify_confirmation_tag(
				  key, want_confirmed, want_confirmed_len,
				  ac.auth.confirmation_tag.data, ac.auth.confirmation_tag.len))) {
		goto out;
	}
	if (ac.auth.confirmation_tag.len > 0) {
		bad_tag = vec_alloc(ctx, ac.auth.confirmation_tag.len);
		memcpy(bad_tag, ac.auth.confirmation_tag.data, ac.auth.confirmation_tag.len);
		bad_tag[ac.auth.confirmation_tag.len - 1] ^= 1;
		if (mls_key_schedule_verify_confirmation_tag(key, want_confirmed, want_confirmed_len,
							     bad_tag, ac.auth.confirmation_tag.len) !=
		    HALQA_ERR_CRYPTO) {
			vec_fail(ctx, "a tampered confirmation tag was accepted");
			goto out;
		}
	}
	if (vec_check_rc(ctx, "confirmed transcript hash",
			 mls_key_schedule_confirmed_transcript_hash(confirmed, interim_before,
								    interim_before_len, &ac)) &&
	    vec_check_bytes(ctx, "confirmed_transcript_hash_after", confirmed, sizeof confirmed,
			    want_confirmed, want_confirmed_len) &&
	    vec_check_rc(ctx, "interim transcript hash",
			 mls_key_schedule_interim_transcript_hash(interim, confirmed,
								  ac.auth.confirmation_tag.data,
								  ac.auth.confirmation_tag.len))) {
		vec_check_bytes(ctx, "interim_transcript_hash_after", interim, sizeof interim,
				want_interim, want_interim_len);
	}
out:
	mls_authenticated_content_cleanup(&ac);
}

const struct vector_kind vector_kind_transcript_hashes = {"transcript-hashes", run_entry};
