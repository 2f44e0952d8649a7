/*
 * spool_device.c: devices, invites and per-device counters.
 *
 * A device is its CURVE public key. Invites are stored as a keyed BLAKE2b
 * hash of the code with a use count and an expiry; the last use deletes
 * the row. The devices table holds the registered and banned flags and two
 * counters (circles created, bytes sent in the current UTC day): counters
 * only, so a seized disk shows how much a device did, never in which circle.
 */
#include "spool_int.h"

/* Keyed hash label for invite codes, so a stored hash is useless elsewhere. */
static const uint8_t invite_hash_key[] = "halqa relay invite code v1";

static void invite_hash(uint8_t out[32], const uint8_t *code, size_t code_len)
{
	crypto_generichash(out, 32, code, code_len, invite_hash_key, sizeof invite_hash_key - 1);
}

int spool_invite_create(struct spool *sp, int64_t *out_id, const uint8_t *code, size_t code_len,
			uint32_t uses, uint64_t expires_at, uint64_t now)
{
	uint8_t hash[32];
	int rc, row = 0;

	if (out_id != NULL) {
		*out_id = 0;
	}
	if (sp == NULL || code == NULL || code_len == 0 || code_len > SPOOL_INVITE_CODE_MAX ||
	    uses == 0 || expires_at > MAX_TIME || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	invite_hash(hash, code, code_len);
	if ((rc = op_begin(sp)) != HALQA_OK) {
		goto wipe;
	}
	if ((rc = bind_blob(sp, ST_INV_BY_HASH, 1, hash, sizeof hash)) != HALQA_OK ||
	    (rc = step_row(sp, ST_INV_BY_HASH, &row)) != HALQA_OK) {
		goto out;
	}
	if (row) {
		st_done(sp, ST_INV_BY_HASH);
		rc = HALQA_ERR_EXISTS;
		goto out;
	}
	if ((rc = bind_blob(sp, ST_INV_INSERT, 1, hash, sizeof hash)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_INV_INSERT, 2, uses)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_INV_INSERT, 3, expires_at == 0 ? 0 : spool_time(expires_at))) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_INV_INSERT, 4, spool_time(now))) != HALQA_OK ||
	    (rc = step_exec(sp, ST_INV_INSERT)) != HALQA_OK) {
		st_done(sp, ST_INV_INSERT);
		goto out;
	}
	if (out_id != NULL) {
		*out_id = sqlite3_last_insert_rowid(sp->db);
	}
out:
	rc = op_end(sp, rc);
	if (rc != HALQA_OK && out_id != NULL) {
		*out_id = 0;
	}
wipe:
	sodium_memzero(hash, sizeof hash);
	return rc;
}

int spool_invite_list(struct spool *sp, struct spool_invite **out, size_t *out_num)
{
	struct spool_invite *list = NULL, *grown;
	size_t num = 0, cap = 0;
	int rc, row = 0;

	if (out == NULL || out_num == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	*out_num = 0;
	if (sp == NULL) {
		return HALQA_ERR_ARG;
	}
	for (;;) {
		if ((rc = step_row(sp, ST_INV_LIST, &row)) != HALQA_OK) {
			goto out;
		}
		if (!row) {
			break;
		}
		if (num == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(list, cap * sizeof *list)) == NULL) {
				st_done(sp, ST_INV_LIST);
				rc = HALQA_ERR_NOMEM;
				goto out;
			}
			list = grown;
		}
		list[num].id = sqlite3_column_int64(st_get(sp, ST_INV_LIST), 0);
		list[num].uses_left = (uint32_t)col_u64(sp, ST_INV_LIST, 1);
		list[num].expires_at = col_u64(sp, ST_INV_LIST, 2);
		list[num].created_at = col_u64(sp, ST_INV_LIST, 3);
		num++;
	}
	*out = list;
	*out_num = num;
	list = NULL;
out:
	free(list);
	return rc;
}

int spool_invite_revoke(struct spool *sp, int64_t id)
{
	int rc;

	if (sp == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = bind_i64(sp, ST_INV_DELETE, 1, id)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_INV_DELETE)) != HALQA_OK) {
		goto out;
	}
	if (sqlite3_changes(sp->db) == 0) {
		rc = HALQA_ERR_NOT_FOUND;
	}
out:
	return op_end(sp, rc);
}

static int device_insert(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int registered,
			 int banned, uint64_t now)
{
	int rc;

	if ((rc = bind_blob(sp, ST_DEV_INSERT, 1, device, SPOOL_KEY_LEN)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_DEV_INSERT, 2, registered)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_DEV_INSERT, 3, banned)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_DEV_INSERT, 4, spool_time(now))) != HALQA_OK) {
		st_done(sp, ST_DEV_INSERT);
		return rc;
	}
	return step_exec(sp, ST_DEV_INSERT);
}

int spool_device_register(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
			  const uint8_t *code, size_t code_len, int open_mode, uint64_t now)
{
	struct device_row d;
	uint8_t hash[32];
	int64_t invite_id = 0, uses = 0, count = 0;
	uint64_t expires_at = 0;
	int rc, row = 0;

	if (sp == NULL || device == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	memset(hash, 0, sizeof hash);
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = spool_device_row_get(sp, device, &d)) != HALQA_OK) {
		goto out;
	}
	if (d.found) {
		rc = d.banned ? HALQA_ERR_DENIED : HALQA_ERR_EXISTS;
		goto out;
	}
	if (!open_mode) {
		if (code == NULL || code_len == 0 || code_len > SPOOL_INVITE_CODE_MAX) {
			rc = HALQA_ERR_DENIED;
			goto out;
		}
		invite_hash(hash, code, code_len);
		if ((rc = bind_blob(sp, ST_INV_BY_HASH, 1, hash, sizeof hash)) != HALQA_OK ||
		    (rc = step_row(sp, ST_INV_BY_HASH, &row)) != HALQA_OK) {
			goto out;
		}
		if (!row) {
			rc = HALQA_ERR_DENIED;
			goto out;
		}
		invite_id = sqlite3_column_int64(st_get(sp, ST_INV_BY_HASH), 0);
		uses = sqlite3_column_int64(st_get(sp, ST_INV_BY_HASH), 1);
		expires_at = col_u64(sp, ST_INV_BY_HASH, 2);
		st_done(sp, ST_INV_BY_HASH);
		if (uses <= 0 || (expires_at != 0 && expires_at <= now)) {
			rc = HALQA_ERR_DENIED;
			goto out;
		}
	}
	if ((rc = step_count(sp, ST_DEV_COUNT, &count)) != HALQA_OK) {
		goto out;
	}
	if ((uint64_t)count >= sp->lim.max_devices) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	if (!open_mode) {
		/* An invite is deleted with its last use: nothing is kept "just in case". */
		enum st id = uses == 1 ? ST_INV_DELETE : ST_INV_USE;

		if ((rc = bind_i64(sp, id, 1, invite_id)) != HALQA_OK ||
		    (rc = step_exec(sp, id)) != HALQA_OK) {
			st_done(sp, id);
			goto out;
		}
	}
	rc = device_insert(sp, device, 1, 0, now);
out:
	sodium_memzero(hash, sizeof hash);
	return op_end(sp, rc);
}

int spool_device_status(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int *out)
{
	struct device_row d;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = SPOOL_DEVICE_UNKNOWN;
	if (sp == NULL || device == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = spool_device_row_get(sp, device, &d)) != HALQA_OK) {
		return rc;
	}
	if (d.banned) {
		*out = SPOOL_DEVICE_BANNED;
	} else if (d.registered) {
		*out = SPOOL_DEVICE_REGISTERED;
	}
	return HALQA_OK;
}

int spool_device_ban(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int banned,
		     uint64_t now)
{
	struct device_row d;
	int rc;

	if (sp == NULL || device == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = spool_device_row_get(sp, device, &d)) != HALQA_OK) {
		goto out;
	}
	if (!d.found) {
		rc = banned ? device_insert(sp, device, 0, 1, now) : HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if (!banned && !d.registered) {
		/* Banned without ever registering: forget the key entirely. */
		if ((rc = bind_blob(sp, ST_DEV_DELETE, 1, device, SPOOL_KEY_LEN)) == HALQA_OK) {
			rc = step_exec(sp, ST_DEV_DELETE);
		}
		st_done(sp, ST_DEV_DELETE);
		goto out;
	}
	if ((rc = bind_blob(sp, ST_DEV_SET_BAN, 1, device, SPOOL_KEY_LEN)) == HALQA_OK &&
	    (rc = bind_i64(sp, ST_DEV_SET_BAN, 2, banned ? 1 : 0)) == HALQA_OK) {
		rc = step_exec(sp, ST_DEV_SET_BAN);
	}
	st_done(sp, ST_DEV_SET_BAN);
out:
	return op_end(sp, rc);
}

int spool_device_quota(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], uint64_t now,
		       struct spool_quota *out)
{
	struct device_row d;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	if (sp == NULL || device == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if ((rc = spool_device_row_registered(sp, device, &d)) != HALQA_OK) {
		return rc;
	}
	out->circles_created = d.circles_created;
	out->circles_max = sp->lim.max_circles_per_device;
	out->bytes_today = d.bytes_day == now / DAY_SECONDS ? d.bytes_today : 0;
	out->bytes_max = sp->lim.max_bytes_per_day;
	return HALQA_OK;
}

int spool_device_charge(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], uint64_t bytes,
			uint64_t now)
{
	struct device_row d;
	uint64_t day, today;
	int rc;

	if (sp == NULL || device == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = spool_device_row_registered(sp, device, &d)) != HALQA_OK) {
		goto out;
	}
	day = now / DAY_SECONDS;
	today = d.bytes_day == day ? d.bytes_today : 0;
	if (bytes > sp->lim.max_bytes_per_day || today > sp->lim.max_bytes_per_day - bytes) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	if ((rc = bind_blob(sp, ST_DEV_SET_BYTES, 1, device, SPOOL_KEY_LEN)) == HALQA_OK &&
	    (rc = bind_u64(sp, ST_DEV_SET_BYTES, 2, day)) == HALQA_OK &&
	    (rc = bind_u64(sp, ST_DEV_SET_BYTES, 3, today + bytes)) == HALQA_OK) {
		rc = step_exec(sp, ST_DEV_SET_BYTES);
	}
	st_done(sp, ST_DEV_SET_BYTES);
out:
	return op_end(sp, rc);
}

int spool_device_row_get(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
			 struct device_row *d)
{
	int rc, row = 0;

	memset(d, 0, sizeof *d);
	if ((rc = bind_blob(sp, ST_DEV_GET, 1, device, SPOOL_KEY_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_DEV_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_DEV_GET);
		return rc;
	}
	if (row) {
		d->found = 1;
		d->registered = sqlite3_column_int(st_get(sp, ST_DEV_GET), 0) != 0;
		d->banned = sqlite3_column_int(st_get(sp, ST_DEV_GET), 1) != 0;
		d->circles_created = col_u64(sp, ST_DEV_GET, 2);
		d->bytes_day = col_u64(sp, ST_DEV_GET, 3);
		d->bytes_today = col_u64(sp, ST_DEV_GET, 4);
		st_done(sp, ST_DEV_GET);
	}
	return HALQA_OK;
}

int spool_device_row_registered(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
				struct device_row *d)
{
	int rc = spool_device_row_get(sp, device, d);

	if (rc != HALQA_OK) {
		return rc;
	}
	return d->found && d->registered && !d->banned ? HALQA_OK : HALQA_ERR_NOT_FOUND;
}

