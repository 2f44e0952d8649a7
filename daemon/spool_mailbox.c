/*
 * spool_mailbox.c: mailboxes and the KeyPackage directory.
 *
 * Both are keyed by a random 16-byte id from a contact card and owned by a
 * device (the only place a device key sits next to another id; neither id
 * names a circle). Mailbox items and one-time KeyPackages get AUTOINCREMENT
 * ids, never reused, so a stale id can never delete or hand out a newer row.
 */
#include "spool_int.h"

struct mailbox_row {
	int64_t no;
	uint8_t owner[SPOOL_KEY_LEN];
	uint64_t item_count;
	uint64_t item_bytes;
};

static int mailbox_get(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
		       struct mailbox_row *m)
{
	const void *owner;
	int rc, row = 0;

	memset(m, 0, sizeof *m);
	if ((rc = bind_blob(sp, ST_MB_GET, 1, mailbox_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_MB_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_MB_GET);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_NOT_FOUND;
	}
	m->no = sqlite3_column_int64(st_get(sp, ST_MB_GET), 0);
	owner = sqlite3_column_blob(st_get(sp, ST_MB_GET), 1);
	if (owner == NULL || sqlite3_column_bytes(st_get(sp, ST_MB_GET), 1) != SPOOL_KEY_LEN) {
		st_done(sp, ST_MB_GET);
		return HALQA_ERR_INTERNAL;
	}
	memcpy(m->owner, owner, SPOOL_KEY_LEN);
	m->item_count = col_u64(sp, ST_MB_GET, 2);
	m->item_bytes = col_u64(sp, ST_MB_GET, 3);
	st_done(sp, ST_MB_GET);
	return HALQA_OK;
}

/* mailbox_owned finds a mailbox and checks that |owner| owns it. */
static int mailbox_owned(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			 const uint8_t owner[SPOOL_KEY_LEN], struct mailbox_row *m)
{
	int rc = mailbox_get(sp, mailbox_id, m);

	if (rc != HALQA_OK) {
		return rc;
	}
	return sodium_memcmp(m->owner, owner, SPOOL_KEY_LEN) == 0 ? HALQA_OK : HALQA_ERR_DENIED;
}

int spool_mailbox_ensure(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			 const uint8_t owner[SPOOL_KEY_LEN], uint64_t now)
{
	struct mailbox_row m;
	int64_t count = 0;
	int rc;

	if (sp == NULL || mailbox_id == NULL || owner == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	rc = mailbox_owned(sp, mailbox_id, owner, &m);
	if (rc != HALQA_ERR_NOT_FOUND) {
		goto out;
	}
	if ((rc = bind_blob(sp, ST_MB_COUNT_OWNER, 1, owner, SPOOL_KEY_LEN)) != HALQA_OK ||
	    (rc = step_count(sp, ST_MB_COUNT_OWNER, &count)) != HALQA_OK) {
		st_done(sp, ST_MB_COUNT_OWNER);
		goto out;
	}
	if ((uint64_t)count >= sp->lim.max_mailboxes_per_device) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	if ((rc = bind_blob(sp, ST_MB_INSERT, 1, mailbox_id, SPOOL_ID_LEN)) == HALQA_OK &&
	    (rc = bind_blob(sp, ST_MB_INSERT, 2, owner, SPOOL_KEY_LEN)) == HALQA_OK) {
		rc = step_exec(sp, ST_MB_INSERT);
	}
	st_done(sp, ST_MB_INSERT);
out:
	return op_end(sp, rc);
}

int spool_mailbox_owner(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			uint8_t out[SPOOL_KEY_LEN])
{
	struct mailbox_row m;
	int rc;

	if (sp == NULL || mailbox_id == NULL || out == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = mailbox_get(sp, mailbox_id, &m)) != HALQA_OK) {
		return rc;
	}
	memcpy(out, m.owner, SPOOL_KEY_LEN);
	return HALQA_OK;
}

int spool_mailbox_put(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
		      const uint8_t *data, size_t data_len, uint64_t now, uint64_t *out_item)
{
	struct mailbox_row m;
	int rc;

	if (out_item != NULL) {
		*out_item = 0;
	}
	if (sp == NULL || mailbox_id == NULL || data == NULL || data_len == 0 || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if (data_len > sp->lim.max_mailbox_item) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = mailbox_get(sp, mailbox_id, &m)) != HALQA_OK) {
		goto out;
	}
	if (m.item_count >= sp->lim.max_mailbox_items ||
	    m.item_bytes > sp->lim.max_mailbox_bytes - data_len) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	if ((rc = bind_i64(sp, ST_MBI_INSERT, 1, m.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MBI_INSERT, 2, spool_time(now))) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_MBI_INSERT, 3, (int64_t)data_len)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_MBI_INSERT, 4, data, data_len)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_MBI_INSERT)) != HALQA_OK) {
		st_done(sp, ST_MBI_INSERT);
		goto out;
	}
	if (out_item != NULL) {
		*out_item = (uint64_t)sqlite3_last_insert_rowid(sp->db);
	}
out:
	rc = op_end(sp, rc);
	if (rc != HALQA_OK && out_item != NULL) {
		*out_item = 0;
	}
	return rc;
}

void spool_items_cleanup(struct spool_items *it)
{
	if (it == NULL) {
		return;
	}
	for (size_t i = 0; i < it->num_items; i++) {
		free(it->items[i].data);
	}
	free(it->items);
	memset(it, 0, sizeof *it);
}

int spool_mailbox_fetch(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			const uint8_t owner[SPOOL_KEY_LEN], uint64_t after_id, uint32_t max,
			struct spool_items *out)
{
	struct spool_items res;
	struct mailbox_row m;
	int rc, row = 0;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL || mailbox_id == NULL || owner == NULL || after_id > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if (max == 0 || max > sp->lim.max_mailbox_fetch) {
		max = sp->lim.max_mailbox_fetch;
	}
	if ((rc = mailbox_owned(sp, mailbox_id, owner, &m)) != HALQA_OK) {
		return rc;
	}
	if (m.item_count == 0) {
		*out = res;
		return HALQA_OK;
	}
	if ((res.items = calloc(max, sizeof *res.items)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = bind_i64(sp, ST_MBI_FETCH, 1, m.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MBI_FETCH, 2, after_id)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_MBI_FETCH, 3, (int64_t)max + 1)) != HALQA_OK) {
		st_done(sp, ST_MBI_FETCH);
		goto out;
	}
	for (;;) {
		struct spool_item *item;

		if ((rc = step_row(sp, ST_MBI_FETCH, &row)) != HALQA_OK) {
			goto out;
		}
		if (!row) {
			break;
		}
		if (res.num_items == max) {
			res.more = 1;
			st_done(sp, ST_MBI_FETCH);
			break;
		}
		item = &res.items[res.num_items];
		item->id = col_u64(sp, ST_MBI_FETCH, 0);
		item->received_at = col_u64(sp, ST_MBI_FETCH, 1);
		if ((rc = col_dup(sp, ST_MBI_FETCH, 2, &item->data, &item->data_len)) != HALQA_OK) {
			st_done(sp, ST_MBI_FETCH);
			goto out;
		}
		res.num_items++;
	}
	*out = res;
	memset(&res, 0, sizeof res);
out:
	spool_items_cleanup(&res);
	return rc;
}

int spool_mailbox_delete(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			 const uint8_t owner[SPOOL_KEY_LEN], const uint64_t *ids, size_t num_ids,
			 size_t *out_deleted)
{
	struct mailbox_row m;
	size_t deleted = 0;
	int rc;

	if (out_deleted != NULL) {
		*out_deleted = 0;
	}
	if (sp == NULL || mailbox_id == NULL || owner == NULL || (ids == NULL && num_ids > 0) ||
	    num_ids > sp->lim.max_mailbox_fetch) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = mailbox_owned(sp, mailbox_id, owner, &m)) != HALQA_OK) {
		goto out;
	}
	for (size_t i = 0; i < num_ids; i++) {
		if (ids[i] > MAX_TIME) {
			continue; /* no such item can exist */
		}
		if ((rc = bind_u64(sp, ST_MBI_DELETE, 1, ids[i])) != HALQA_OK ||
		    (rc = bind_i64(sp, ST_MBI_DELETE, 2, m.no)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_MBI_DELETE)) != HALQA_OK) {
			st_done(sp, ST_MBI_DELETE);
			goto out;
		}
		deleted += (size_t)sqlite3_changes(sp->db);
	}
out:
	rc = op_end(sp, rc);
	if (rc == HALQA_OK && out_deleted != NULL) {
		*out_deleted = deleted;
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* KeyPackage directory */

struct kpdir_row {
	int64_t no;
	uint8_t owner[SPOOL_KEY_LEN];
	int has_last_resort;
};

static int kpdir_get(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN], struct kpdir_row *k)
{
	const void *owner;
	int rc, row = 0;

	memset(k, 0, sizeof *k);
	if ((rc = bind_blob(sp, ST_KPD_GET, 1, dir_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_KPD_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_KPD_GET);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_NOT_FOUND;
	}
	k->no = sqlite3_column_int64(st_get(sp, ST_KPD_GET), 0);
	owner = sqlite3_column_blob(st_get(sp, ST_KPD_GET), 1);
	if (owner == NULL || sqlite3_column_bytes(st_get(sp, ST_KPD_GET), 1) != SPOOL_KEY_LEN) {
		st_done(sp, ST_KPD_GET);
		return HALQA_ERR_INTERNAL;
	}
	memcpy(k->owner, owner, SPOOL_KEY_LEN);
	k->has_last_resort = sqlite3_column_int(st_get(sp, ST_KPD_GET), 2) != 0;
	st_done(sp, ST_KPD_GET);
	return HALQA_OK;
}

static int kp_count(struct spool *sp, int64_t dir_no, int64_t *out)
{
	int rc;

	if ((rc = bind_i64(sp, ST_KP_COUNT, 1, dir_no)) != HALQA_OK) {
		st_done(sp, ST_KP_COUNT);
		return rc;
	}
	return step_count(sp, ST_KP_COUNT, out);
}

static int kp_blob_ok(const struct spool *sp, const struct spool_blob *b)
{
	if (b->data == NULL || b->len == 0) {
		return HALQA_ERR_ARG;
	}
	return b->len > sp->lim.max_keypackage ? HALQA_ERR_TOO_LARGE : HALQA_OK;
}

int spool_kp_publish(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN],
		     const uint8_t owner[SPOOL_KEY_LEN], const struct spool_blob *pkgs,
		     size_t num_pkgs, const struct spool_blob *last_resort, uint64_t now)
{
	struct kpdir_row k;
	int64_t count = 0;
	int rc;

	if (sp == NULL || dir_id == NULL || owner == NULL || (pkgs == NULL && num_pkgs > 0) ||
	    now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if (num_pkgs > sp->lim.max_keypackages) {
		return HALQA_ERR_LIMIT;
	}
	for (size_t i = 0; i < num_pkgs; i++) {
		if ((rc = kp_blob_ok(sp, &pkgs[i])) != HALQA_OK) {
			return rc;
		}
	}
	if (last_resort != NULL && (rc = kp_blob_ok(sp, last_resort)) != HALQA_OK) {
		return rc;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	/* Every check comes before the first write (see op_end). */
	rc = kpdir_get(sp, dir_id, &k);
	if (rc == HALQA_ERR_NOT_FOUND) {
		/* A new directory holds nothing yet, and num_pkgs was bounded above. */
		if ((rc = bind_blob(sp, ST_KPD_COUNT_OWNER, 1, owner, SPOOL_KEY_LEN)) != HALQA_OK ||
		    (rc = step_count(sp, ST_KPD_COUNT_OWNER, &count)) != HALQA_OK) {
			st_done(sp, ST_KPD_COUNT_OWNER);
			goto out;
		}
		if ((uint64_t)count >= sp->lim.max_kp_dirs_per_device) {
			rc = HALQA_ERR_LIMIT;
			goto out;
		}
		if ((rc = bind_blob(sp, ST_KPD_INSERT, 1, dir_id, SPOOL_ID_LEN)) != HALQA_OK ||
		    (rc = bind_blob(sp, ST_KPD_INSERT, 2, owner, SPOOL_KEY_LEN)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_KPD_INSERT)) != HALQA_OK) {
			st_done(sp, ST_KPD_INSERT);
			goto out;
		}
		k.no = sqlite3_last_insert_rowid(sp->db);
	} else if (rc != HALQA_OK) {
		goto out;
	} else if (sodium_memcmp(k.owner, owner, SPOOL_KEY_LEN) != 0) {
		rc = HALQA_ERR_DENIED;
		goto out;
	} else {
		if ((rc = kp_count(sp, k.no, &count)) != HALQA_OK) {
			goto out;
		}
		if ((uint64_t)count + num_pkgs > sp->lim.max_keypackages) {
			rc = HALQA_ERR_LIMIT;
			goto out;
		}
	}
	for (size_t i = 0; i < num_pkgs; i++) {
		if ((rc = bind_i64(sp, ST_KP_INSERT, 1, k.no)) != HALQA_OK ||
		    (rc = bind_blob(sp, ST_KP_INSERT, 2, pkgs[i].data, pkgs[i].len)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_KP_INSERT)) != HALQA_OK) {
			st_done(sp, ST_KP_INSERT);
			goto out;
		}
	}
	if (last_resort != NULL) {
		if ((rc = bind_i64(sp, ST_KPD_SET_LR, 1, k.no)) != HALQA_OK ||
		    (rc = bind_blob(sp, ST_KPD_SET_LR, 2, last_resort->data, last_resort->len)) !=
			    HALQA_OK ||
		    (rc = step_exec(sp, ST_KPD_SET_LR)) != HALQA_OK) {
			st_done(sp, ST_KPD_SET_LR);
			goto out;
		}
	}
out:
	return op_end(sp, rc);
}

int spool_kp_claim(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN], uint8_t **out_data,
		   size_t *out_len, int *out_last_resort)
{
	struct kpdir_row k;
	uint8_t *data = NULL;
	size_t len = 0;
	int64_t kp_no;
	int rc, row = 0, last_resort = 0;

	if (out_data == NULL || out_len == NULL || out_last_resort == NULL) {
		return HALQA_ERR_ARG;
	}
	*out_data = NULL;
	*out_len = 0;
	*out_last_resort = 0;
	if (sp == NULL || dir_id == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = kpdir_get(sp, dir_id, &k)) != HALQA_OK) {
		goto out;
	}
	if ((rc = bind_i64(sp, ST_KP_OLDEST, 1, k.no)) != HALQA_OK ||
	    (rc = step_row(sp, ST_KP_OLDEST, &row)) != HALQA_OK) {
		st_done(sp, ST_KP_OLDEST);
		goto out;
	}
	if (row) {
		/* A one-time package is handed out once: deleted in the same turn. */
		kp_no = sqlite3_column_int64(st_get(sp, ST_KP_OLDEST), 0);
		rc = col_dup(sp, ST_KP_OLDEST, 1, &data, &len);
		st_done(sp, ST_KP_OLDEST);
		if (rc != HALQA_OK) {
			goto out;
		}
		if ((rc = bind_i64(sp, ST_KP_DELETE, 1, kp_no)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_KP_DELETE)) != HALQA_OK) {
			st_done(sp, ST_KP_DELETE);
			goto out;
		}
		goto out;
	}
	if (!k.has_last_resort) {
		rc = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = bind_i64(sp, ST_KPD_GET_LR, 1, k.no)) != HALQA_OK ||
	    (rc = step_row(sp, ST_KPD_GET_LR, &row)) != HALQA_OK) {
		st_done(sp, ST_KPD_GET_LR);
		goto out;
	}
	if (!row) {
		rc = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	rc = col_dup(sp, ST_KPD_GET_LR, 0, &data, &len);
	st_done(sp, ST_KPD_GET_LR);
	last_resort = 1;
out:
	rc = op_end(sp, rc);
	if (rc == HALQA_OK) {
		*out_data = data;
		*out_len = len;
		*out_last_resort = last_resort;
		data = NULL;
	}
	free(data);
	return rc;
}

int spool_kp_count(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN],
		   const uint8_t owner[SPOOL_KEY_LEN], uint32_t *out_count,
		   int *out_has_last_resort)
{
	struct kpdir_row k;
	int64_t count = 0;
	int rc;

	if (out_count == NULL) {
		return HALQA_ERR_ARG;
	}
	*out_count = 0;
	if (out_has_last_resort != NULL) {
		*out_has_last_resort = 0;
	}
	if (sp == NULL || dir_id == NULL || owner == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = kpdir_get(sp, dir_id, &k)) != HALQA_OK) {
		return rc;
	}
	if (sodium_memcmp(k.owner, owner, SPOOL_KEY_LEN) != 0) {
		return HALQA_ERR_DENIED;
	}
	if ((rc = kp_count(sp, k.no, &count)) != HALQA_OK) {
		return rc;
	}
	*out_count = count < 0 ? 0 : (uint32_t)count;
	if (out_has_last_resort != NULL) {
		*out_has_last_resort = k.has_last_resort;
	}
	return HALQA_OK;
}
