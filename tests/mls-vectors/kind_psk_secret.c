/*
 * kind_psk_secret.c: RFC 9420 section 8.4 PSK chaining. Each entry lists
 * 0 to 10 external PSKs (psk_id, psk, psk_nonce); the PreSharedKeyIDs are
 * built with type external and chained in order into psk_secret.
 */
#include "vectors.h"

#include <string.h>

#include "halqa/mls_key_schedule.h"

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_psk_id *ids = NULL;
	struct mls_key_schedule_psk *psks = NULL;
	const uint8_t *want;
	size_t want_len, n = 0;
	uint8_t got[MLS_HASH_LEN];
	json_t *arr;

	if ((arr = vec_array(ctx, entry, "psks")) == NULL ||
	    (want = vec_hex(ctx, entry, "psk_secret", &want_len)) == NULL) {
		return;
	}
	n = json_array_size(arr);
	ids = vec_alloc(ctx, (n + 1) * sizeof *ids);
	psks = vec_alloc(ctx, (n + 1) * sizeof *psks);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(arr, i);
		const uint8_t *id, *nonce;
		size_t id_len, nonce_len;

		if (!json_is_object(p) || (id = vec_hex(ctx, p, "psk_id", &id_len)) == NULL ||
		    (nonce = vec_hex(ctx, p, "psk_nonce", &nonce_len)) == NULL ||
		    (psks[i].psk = vec_hex(ctx, p, "psk", &psks[i].psk_len)) == NULL) {
			vec_fail(ctx, "psks[%zu] malformed", i);
			goto out;
		}
		ids[i].psktype = MLS_PSK_EXTERNAL;
		if (mls_bytes_set(&ids[i].psk_id, id, id_len) != HALQA_OK ||
		    mls_bytes_set(&ids[i].psk_nonce, nonce, nonce_len) != HALQA_OK) {
			vec_fail(ctx, "out of memory");
			goto out;
		}
		psks[i].id = &ids[i];
	}
	if (vec_check_rc(ctx, "psk_secret", mls_key_schedule_psk_secret(got, psks, n))) {
		vec_check_bytes(ctx, "psk_secret", got, sizeof got, want, want_len);
	}
out:
	for (size_t i = 0; i < n; i++) {
		mls_psk_id_cleanup(&ids[i]);
	}
}

const struct vector_kind vector_kind_psk_secret = {"psk_secret", run_entry};
