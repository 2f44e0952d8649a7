/*
 * roster.c: the facilitator roster extension and the role rules.
 *
 * The roster is consensus state: every member must decode the same bytes
 * to the same list and apply the same rules, or the circle forks. Hence
 * the canonical form (sorted, unique, bounded) and rules that are pure
 * functions of (roster, sender, change), with no local configuration.
 * Keys are public identity keys, so plain memcmp is fine for ordering.
 */
#include "halqa/roster.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"

static int roster_well_formed(const struct roster *r)
{
	size_t i;

	if (r->num_keys < 1 || r->num_keys > ROSTER_MAX) {
		return 0;
	}
	for (i = 1; i < r->num_keys; i++) {
		if (memcmp(r->keys[i - 1], r->keys[i], ROSTER_KEY_LEN) >= 0) {
			return 0; /* unsorted or duplicate */
		}
	}
	return 1;
}

int roster_decode(struct roster *out, const uint8_t *data, size_t len)
{
	struct bytes_reader r, v;
	uint8_t version;
	size_t n, i;
	int rc;

	memset(out, 0, sizeof *out);
	bytes_reader_init(&r, data, len);
	if ((rc = bytes_get_u8(&r, &version)) != HALQA_OK) {
		goto out;
	}
	if (version != ROSTER_VERSION) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = bytes_get_vec(&r, &v, (size_t)ROSTER_MAX * ROSTER_KEY_LEN)) != HALQA_OK ||
	    (rc = bytes_expect_end(&r)) != HALQA_OK) {
		goto out;
	}
	n = bytes_remaining(&v);
	if (n % ROSTER_KEY_LEN != 0) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	for (i = 0; i < n / ROSTER_KEY_LEN; i++) {
		if ((rc = bytes_get_copy(&v, out->keys[i], ROSTER_KEY_LEN)) != HALQA_OK) {
			goto out;
		}
	}
	out->num_keys = n / ROSTER_KEY_LEN;
	rc = roster_well_formed(out) ? HALQA_OK : HALQA_ERR_INVALID;
out:
	if (rc != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return rc;
}

int roster_encode(uint8_t **out, size_t *out_len, const struct roster *r)
{
	struct bytes_writer w;

	*out = NULL;
	*out_len = 0;
	if (!roster_well_formed(r)) {
		return HALQA_ERR_INVALID;
	}
	bytes_writer_init(&w, 1 + 4 + (size_t)ROSTER_MAX * ROSTER_KEY_LEN, 0);
	bytes_put_u8(&w, ROSTER_VERSION);
	bytes_put_vec(&w, &r->keys[0][0], r->num_keys * ROSTER_KEY_LEN);
	return bytes_writer_finish(&w, out, out_len);
}

int roster_has(const struct roster *r, const uint8_t key[ROSTER_KEY_LEN])
{
	size_t i;

	for (i = 0; i < r->num_keys && i < ROSTER_MAX; i++) {
		if (memcmp(r->keys[i], key, ROSTER_KEY_LEN) == 0) {
			return 1;
		}
	}
	return 0;
}

int roster_add(struct roster *r, const uint8_t key[ROSTER_KEY_LEN])
{
	size_t pos = 0;

	if (roster_has(r, key)) {
		return HALQA_ERR_EXISTS;
	}
	if (r->num_keys >= ROSTER_MAX) {
		return HALQA_ERR_LIMIT;
	}
	while (pos < r->num_keys && memcmp(r->keys[pos], key, ROSTER_KEY_LEN) < 0) {
		pos++;
	}
	memmove(r->keys[pos + 1], r->keys[pos], (r->num_keys - pos) * ROSTER_KEY_LEN);
	memcpy(r->keys[pos], key, ROSTER_KEY_LEN);
	r->num_keys++;
	return HALQA_OK;
}

int roster_remove(struct roster *r, const uint8_t key[ROSTER_KEY_LEN])
{
	size_t pos;

	for (pos = 0; pos < r->num_keys && pos < ROSTER_MAX; pos++) {
		if (memcmp(r->keys[pos], key, ROSTER_KEY_LEN) == 0) {
			break;
		}
	}
	if (pos >= r->num_keys || pos >= ROSTER_MAX) {
		return HALQA_ERR_NOT_FOUND;
	}
	if (r->num_keys == 1) {
		return HALQA_ERR_DENIED;
	}
	memmove(r->keys[pos], r->keys[pos + 1], (r->num_keys - pos - 1) * ROSTER_KEY_LEN);
	r->num_keys--;
	memset(r->keys[r->num_keys], 0, ROSTER_KEY_LEN);
	return HALQA_OK;
}

int roster_may_change_membership(const struct roster *r, const uint8_t sender[ROSTER_KEY_LEN])
{
	return roster_has(r, sender) ? HALQA_OK : HALQA_ERR_DENIED;
}

int roster_may_schedule(const struct roster *r, const uint8_t sender[ROSTER_KEY_LEN])
{
	return roster_has(r, sender) ? HALQA_OK : HALQA_ERR_DENIED;
}

int roster_validate_change(const struct roster *old, const struct roster *new_roster,
			   const uint8_t sender[ROSTER_KEY_LEN])
{
	if (!roster_well_formed(new_roster)) {
		return HALQA_ERR_INVALID;
	}
	if (old->num_keys == new_roster->num_keys &&
	    memcmp(old->keys, new_roster->keys, old->num_keys * ROSTER_KEY_LEN) == 0) {
		return HALQA_OK;
	}
	return roster_has(old, sender) ? HALQA_OK : HALQA_ERR_DENIED;
}

int roster_validate_removals(const struct roster *r, const uint8_t (*removed)[ROSTER_KEY_LEN],
			     size_t num_removed)
{
	size_t i, j;

	for (i = 0; i < r->num_keys && i < ROSTER_MAX; i++) {
		int gone = 0;

		for (j = 0; j < num_removed; j++) {
			if (memcmp(r->keys[i], removed[j], ROSTER_KEY_LEN) == 0) {
				gone = 1;
				break;
			}
		}
		if (!gone) {
			return HALQA_OK; /* a facilitator remains */
		}
	}
	return HALQA_ERR_DENIED;
}
