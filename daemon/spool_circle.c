/*
 * spool_circle.c: circles, their epochs and messages, cursors and retention.
 *
 * A circle is an append-only log numbered from 1, cut into epochs. Each
 * epoch row holds the hash of that epoch's capability and its seq range
 * (last_seq NULL while it is the open one). A commit accepted for the open
 * epoch becomes its last message and opens the next epoch with the hash the
 * committer registered; anything later naming the old epoch is stale. A
 * capability reads exactly its epoch's range. Cursors (random ids, linked
 * to no device) record what was read; retention deletes from the head of
 * the log what every live cursor has acknowledged or what is older than the
 * circle's max_age, a bounded number of rows per call.
 */
#include "spool_int.h"

struct circle_row {
	int64_t no;
	uint64_t max_age;
	uint64_t epoch;
	uint64_t last_seq;
};

/* circle_get finds a circle by id; HALQA_ERR_NOT_FOUND if there is none. */
static int circle_get(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN], struct circle_row *c)
{
	int rc, row = 0;

	memset(c, 0, sizeof *c);
	if ((rc = bind_blob(sp, ST_CIR_GET, 1, circle_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_CIR_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_CIR_GET);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_NOT_FOUND;
	}
	c->no = sqlite3_column_int64(st_get(sp, ST_CIR_GET), 0);
	c->max_age = col_u64(sp, ST_CIR_GET, 1);
	c->epoch = col_u64(sp, ST_CIR_GET, 2);
	c->last_seq = col_u64(sp, ST_CIR_GET, 3);
	st_done(sp, ST_CIR_GET);
	return HALQA_OK;
}

static int epoch_insert(struct spool *sp, int64_t circle_no, uint64_t epoch,
			const uint8_t cap_hash[SPOOL_HASH_LEN], uint64_t first_seq)
{
	int rc;

	if ((rc = bind_i64(sp, ST_EP_INSERT, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_EP_INSERT, 2, epoch)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_EP_INSERT, 3, cap_hash, SPOOL_HASH_LEN)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_EP_INSERT, 4, first_seq)) != HALQA_OK) {
		st_done(sp, ST_EP_INSERT);
		return rc;
	}
	return step_exec(sp, ST_EP_INSERT);
}

/*
 * epoch_by_cap finds the epoch of circle |c| that |cap_hash| opens and fills
 * *info; HALQA_ERR_DENIED if none does.
 */
static int epoch_by_cap(struct spool *sp, const struct circle_row *c,
			const uint8_t cap_hash[SPOOL_HASH_LEN], struct spool_epoch_info *info)
{
	sqlite3_stmt *s = st_get(sp, ST_EP_BY_CAP);
	int rc, row = 0;

	memset(info, 0, sizeof *info);
	if ((rc = bind_i64(sp, ST_EP_BY_CAP, 1, c->no)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_EP_BY_CAP, 2, cap_hash, SPOOL_HASH_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_EP_BY_CAP, &row)) != HALQA_OK) {
		st_done(sp, ST_EP_BY_CAP);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_DENIED;
	}
	if (!col_blob_eq(sp, ST_EP_BY_CAP, 3, cap_hash, SPOOL_HASH_LEN)) {
		st_done(sp, ST_EP_BY_CAP);
		return HALQA_ERR_DENIED;
	}
	info->epoch = col_u64(sp, ST_EP_BY_CAP, 0);
	info->first_seq = col_u64(sp, ST_EP_BY_CAP, 1);
	info->closed = sqlite3_column_type(s, 2) != SQLITE_NULL;
	info->last_seq = info->closed ? col_u64(sp, ST_EP_BY_CAP, 2) : c->last_seq;
	info->max_age = c->max_age;
	st_done(sp, ST_EP_BY_CAP);
	return HALQA_OK;
}

int spool_circle_create(struct spool *sp, const uint8_t creator[SPOOL_KEY_LEN],
			const uint8_t circle_id[SPOOL_ID_LEN],
			const uint8_t cap_hash0[SPOOL_HASH_LEN], uint64_t max_age, uint64_t now)
{
	struct device_row d;
	struct circle_row c;
	int64_t circle_no;
	int rc;

	if (sp == NULL || creator == NULL || circle_id == NULL || cap_hash0 == NULL ||
	    now > MAX_TIME || max_age > sp->lim.max_max_age) {
		return HALQA_ERR_ARG;
	}
	if (max_age == 0) {
		max_age = sp->lim.default_max_age;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = spool_device_row_registered(sp, creator, &d)) != HALQA_OK) {
		goto out;
	}
	rc = circle_get(sp, circle_id, &c);
	if (rc == HALQA_OK) {
		rc = HALQA_ERR_EXISTS;
		goto out;
	}
	if (rc != HALQA_ERR_NOT_FOUND) {
		goto out;
	}
	if (d.circles_created >= sp->lim.max_circles_per_device) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	if ((rc = bind_blob(sp, ST_CIR_INSERT, 1, circle_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CIR_INSERT, 2, max_age)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_CIR_INSERT)) != HALQA_OK) {
		st_done(sp, ST_CIR_INSERT);
		goto out;
	}
	circle_no = sqlite3_last_insert_rowid(sp->db);
	if ((rc = epoch_insert(sp, circle_no, 0, cap_hash0, 1)) != HALQA_OK) {
		goto out;
	}
	/* A counter only: the row says how many circles, never which. */
	if ((rc = bind_blob(sp, ST_DEV_INC_CIRCLES, 1, creator, SPOOL_KEY_LEN)) == HALQA_OK) {
		rc = step_exec(sp, ST_DEV_INC_CIRCLES);
	}
	st_done(sp, ST_DEV_INC_CIRCLES);
out:
	return op_end(sp, rc);
}

static int append_args_ok(const struct spool *sp, const struct spool_append_req *req)
{
	if (req->circle_id == NULL || req->cap_hash == NULL || req->client_msg_id == NULL ||
	    req->now > MAX_TIME || req->epoch >= MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if (req->kind != SPOOL_KIND_COMMIT && req->kind != SPOOL_KIND_PROPOSAL &&
	    req->kind != SPOOL_KIND_APPLICATION) {
		return HALQA_ERR_ARG;
	}
	if ((req->kind == SPOOL_KIND_COMMIT) != (req->next_cap_hash != NULL)) {
		return HALQA_ERR_ARG;
	}
	if (req->payload_len == 0 || req->payload == NULL) {
		return HALQA_ERR_ARG;
	}
	if (req->payload_len > sp->lim.max_payload) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

/*
 * append_duplicate looks for an earlier message with the same client
 * message id. *out_found = 1 and *out filled if it exists and |cap_hash|
 * opens its epoch; HALQA_ERR_DENIED if it exists under another cap (a
 * stranger learns nothing about someone else's message ids).
 */
static int append_duplicate(struct spool *sp, const struct circle_row *c,
			    const struct spool_append_req *req, struct spool_append_res *out,
			    int *out_found)
{
	uint64_t seq, epoch;
	int rc, row = 0, ok;

	*out_found = 0;
	if ((rc = bind_i64(sp, ST_MSG_BY_CMID, 1, c->no)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_MSG_BY_CMID, 2, req->client_msg_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_MSG_BY_CMID, &row)) != HALQA_OK) {
		st_done(sp, ST_MSG_BY_CMID);
		return rc;
	}
	if (!row) {
		return HALQA_OK;
	}
	seq = col_u64(sp, ST_MSG_BY_CMID, 0);
	epoch = col_u64(sp, ST_MSG_BY_CMID, 1);
	st_done(sp, ST_MSG_BY_CMID);

	if ((rc = bind_i64(sp, ST_EP_GET, 1, c->no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_EP_GET, 2, epoch)) != HALQA_OK ||
	    (rc = step_row(sp, ST_EP_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_EP_GET);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_INTERNAL; /* a message whose epoch is gone: broken store */
	}
	ok = col_blob_eq(sp, ST_EP_GET, 0, req->cap_hash, SPOOL_HASH_LEN);
	st_done(sp, ST_EP_GET);
	if (!ok) {
		return HALQA_ERR_DENIED;
	}
	out->seq = seq;
	out->epoch = epoch;
	out->duplicate = 1;
	*out_found = 1;
	return HALQA_OK;
}

int spool_append_find(struct spool *sp, const struct spool_append_req *req,
		      struct spool_append_res *out)
{
	struct spool_append_res res;
	struct circle_row c;
	int rc, found = 0;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL || req == NULL || req->circle_id == NULL || req->cap_hash == NULL ||
	    req->client_msg_id == NULL) {
		return HALQA_ERR_ARG;
	}
	/* A read inside the open turn, if any: a message stored earlier in
	 * this same turn is found too. */
	if ((rc = circle_get(sp, req->circle_id, &c)) != HALQA_OK) {
		return rc;
	}
	if ((rc = append_duplicate(sp, &c, req, &res, &found)) != HALQA_OK) {
		return rc;
	}
	if (!found) {
		return HALQA_ERR_NOT_FOUND;
	}
	*out = res;
	return HALQA_OK;
}

int spool_append(struct spool *sp, const struct spool_append_req *req, struct spool_append_res *out)
{
	struct spool_append_res res;
	struct circle_row c;
	struct spool_epoch_info other;
	sqlite3_stmt *s;
	uint64_t seq, new_epoch;
	int rc, row = 0, found = 0, cap_ok, closed;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL || req == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = append_args_ok(sp, req)) != HALQA_OK) {
		return rc;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = circle_get(sp, req->circle_id, &c)) != HALQA_OK) {
		goto out;
	}
	/* A retry must succeed even if the original commit has since closed its epoch. */
	if ((rc = append_duplicate(sp, &c, req, &res, &found)) != HALQA_OK || found) {
		goto out;
	}

	s = st_get(sp, ST_EP_GET);
	if ((rc = bind_i64(sp, ST_EP_GET, 1, c.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_EP_GET, 2, req->epoch)) != HALQA_OK ||
	    (rc = step_row(sp, ST_EP_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_EP_GET);
		goto out;
	}
	if (!row) {
		rc = HALQA_ERR_DENIED;
		goto out;
	}
	cap_ok = col_blob_eq(sp, ST_EP_GET, 0, req->cap_hash, SPOOL_HASH_LEN);
	closed = sqlite3_column_type(s, 2) != SQLITE_NULL;
	st_done(sp, ST_EP_GET);
	/* The cap is checked first: only a member of that epoch learns it is stale. */
	if (!cap_ok) {
		rc = HALQA_ERR_DENIED;
		goto out;
	}
	if (closed || req->epoch != c.epoch) {
		rc = HALQA_ERR_STALE;
		goto out;
	}
	if (req->kind == SPOOL_KIND_COMMIT) {
		rc = epoch_by_cap(sp, &c, req->next_cap_hash, &other);
		if (rc == HALQA_OK) {
			rc = HALQA_ERR_INVALID;
			goto out;
		}
		if (rc != HALQA_ERR_DENIED) {
			goto out;
		}
	}
	if (c.last_seq >= MAX_TIME - 1) {
		rc = HALQA_ERR_LIMIT;
		goto out;
	}
	seq = c.last_seq + 1;
	new_epoch = c.epoch;

	if ((rc = bind_i64(sp, ST_MSG_INSERT, 1, c.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MSG_INSERT, 2, seq)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MSG_INSERT, 3, req->epoch)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_MSG_INSERT, 4, req->kind)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_MSG_INSERT, 5, req->client_msg_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MSG_INSERT, 6, spool_time(req->now))) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_MSG_INSERT, 7, (int64_t)req->payload_len)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_MSG_INSERT, 8, req->payload, req->payload_len)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_MSG_INSERT)) != HALQA_OK) {
		st_done(sp, ST_MSG_INSERT);
		goto out;
	}
	if (req->kind == SPOOL_KIND_COMMIT) {
		/* The commit is the last message of its epoch (DESIGN.md, the relay). */
		if ((rc = bind_i64(sp, ST_EP_CLOSE, 1, c.no)) != HALQA_OK ||
		    (rc = bind_u64(sp, ST_EP_CLOSE, 2, req->epoch)) != HALQA_OK ||
		    (rc = bind_u64(sp, ST_EP_CLOSE, 3, seq)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_EP_CLOSE)) != HALQA_OK) {
			st_done(sp, ST_EP_CLOSE);
			goto out;
		}
		new_epoch = req->epoch + 1;
		if ((rc = epoch_insert(sp, c.no, new_epoch, req->next_cap_hash, seq + 1)) !=
		    HALQA_OK) {
			goto out;
		}
		res.closed_epoch = 1;
	}
	if ((rc = bind_i64(sp, ST_CIR_APPENDED, 1, c.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CIR_APPENDED, 2, seq)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CIR_APPENDED, 3, new_epoch)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_CIR_APPENDED, 4, (int64_t)req->payload_len)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_CIR_APPENDED)) != HALQA_OK) {
		st_done(sp, ST_CIR_APPENDED);
		goto out;
	}
	res.seq = seq;
	res.epoch = req->epoch;
out:
	rc = op_end(sp, rc);
	if (rc == HALQA_OK) {
		*out = res;
	}
	return rc;
}

int spool_cap_lookup(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		     const uint8_t cap_hash[SPOOL_HASH_LEN], struct spool_epoch_info *out)
{
	struct circle_row c;
	struct spool_epoch_info info;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	if (sp == NULL || circle_id == NULL || cap_hash == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = circle_get(sp, circle_id, &c)) != HALQA_OK ||
	    (rc = epoch_by_cap(sp, &c, cap_hash, &info)) != HALQA_OK) {
		return rc;
	}
	*out = info;
	return HALQA_OK;
}

void spool_fetch_cleanup(struct spool_fetch *f)
{
	if (f == NULL) {
		return;
	}
	for (size_t i = 0; i < f->num_msgs; i++) {
		free(f->msgs[i].payload);
	}
	free(f->msgs);
	memset(f, 0, sizeof *f);
}

int spool_fetch(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		const uint8_t cap_hash[SPOOL_HASH_LEN], uint64_t from_seq, uint32_t max,
		struct spool_fetch *out)
{
	struct spool_fetch res;
	struct circle_row c;
	sqlite3_stmt *s = NULL;
	uint64_t lo, bytes = 0;
	const void *cmid;
	int rc, row = 0;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL || circle_id == NULL || cap_hash == NULL) {
		return HALQA_ERR_ARG;
	}
	if (max == 0 || max > sp->lim.max_fetch_count) {
		max = sp->lim.max_fetch_count;
	}
	if ((rc = circle_get(sp, circle_id, &c)) != HALQA_OK ||
	    (rc = epoch_by_cap(sp, &c, cap_hash, &res.info)) != HALQA_OK) {
		return rc;
	}
	lo = from_seq > res.info.first_seq ? from_seq : res.info.first_seq;
	if (lo > res.info.last_seq) {
		*out = res;
		return HALQA_OK;
	}
	if ((res.msgs = calloc(max, sizeof *res.msgs)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	s = st_get(sp, ST_MSG_FETCH);
	/* One row more than asked tells whether the answer was cut. */
	if ((rc = bind_i64(sp, ST_MSG_FETCH, 1, c.no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MSG_FETCH, 2, lo)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_MSG_FETCH, 3, res.info.last_seq)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_MSG_FETCH, 4, (int64_t)max + 1)) != HALQA_OK) {
		st_done(sp, ST_MSG_FETCH);
		goto out;
	}
	for (;;) {
		struct spool_msg *m;
		int n;

		if ((rc = step_row(sp, ST_MSG_FETCH, &row)) != HALQA_OK) {
			goto out;
		}
		if (!row) {
			break;
		}
		n = sqlite3_column_bytes(s, 5);
		if (res.num_msgs == max ||
		    (res.num_msgs > 0 && bytes + (uint64_t)n > sp->lim.max_fetch_bytes)) {
			res.more = 1;
			st_done(sp, ST_MSG_FETCH);
			break;
		}
		m = &res.msgs[res.num_msgs];
		m->seq = col_u64(sp, ST_MSG_FETCH, 0);
		m->epoch = col_u64(sp, ST_MSG_FETCH, 1);
		m->kind = sqlite3_column_int(s, 2);
		cmid = sqlite3_column_blob(s, 3);
		if (cmid == NULL || sqlite3_column_bytes(s, 3) != SPOOL_ID_LEN) {
			st_done(sp, ST_MSG_FETCH);
			rc = HALQA_ERR_INTERNAL;
			goto out;
		}
		memcpy(m->client_msg_id, cmid, SPOOL_ID_LEN);
		m->received_at = col_u64(sp, ST_MSG_FETCH, 4);
		if ((rc = col_dup(sp, ST_MSG_FETCH, 5, &m->payload, &m->payload_len)) != HALQA_OK) {
			st_done(sp, ST_MSG_FETCH);
			goto out;
		}
		res.num_msgs++;
		bytes += m->payload_len;
	}
	*out = res;
	memset(&res, 0, sizeof res);
out:
	spool_fetch_cleanup(&res);
	return rc;
}

int spool_cursor_ack(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		     const uint8_t cursor_id[SPOOL_ID_LEN], const uint8_t cap_hash[SPOOL_HASH_LEN],
		     uint64_t seq, uint64_t now)
{
	struct circle_row c;
	struct spool_epoch_info info;
	int64_t count = 0;
	uint64_t acked = seq;
	int rc, row = 0;

	if (sp == NULL || circle_id == NULL || cursor_id == NULL || cap_hash == NULL ||
	    now > MAX_TIME || seq >= MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = circle_get(sp, circle_id, &c)) != HALQA_OK ||
	    (rc = epoch_by_cap(sp, &c, cap_hash, &info)) != HALQA_OK) {
		goto out;
	}
	/* Acknowledging needs the right to read what is acknowledged. */
	if (seq + 1 < info.first_seq || seq > info.last_seq) {
		rc = HALQA_ERR_DENIED;
		goto out;
	}
	if ((rc = bind_i64(sp, ST_CUR_GET, 1, c.no)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_CUR_GET, 2, cursor_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_CUR_GET, &row)) != HALQA_OK) {
		st_done(sp, ST_CUR_GET);
		goto out;
	}
	if (row) {
		uint64_t old = col_u64(sp, ST_CUR_GET, 0);

		st_done(sp, ST_CUR_GET);
		if (old > acked) {
			acked = old;
		}
	} else {
		if ((rc = bind_i64(sp, ST_CUR_COUNT, 1, c.no)) != HALQA_OK ||
		    (rc = step_count(sp, ST_CUR_COUNT, &count)) != HALQA_OK) {
			st_done(sp, ST_CUR_COUNT);
			goto out;
		}
		if ((uint64_t)count >= sp->lim.max_cursors_per_circle) {
			rc = HALQA_ERR_LIMIT;
			goto out;
		}
	}
	if ((rc = bind_i64(sp, ST_CUR_PUT, 1, c.no)) != HALQA_OK ||
	    (rc = bind_blob(sp, ST_CUR_PUT, 2, cursor_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CUR_PUT, 3, acked)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CUR_PUT, 4, spool_time(now))) != HALQA_OK ||
	    (rc = step_exec(sp, ST_CUR_PUT)) != HALQA_OK) {
		st_done(sp, ST_CUR_PUT);
		goto out;
	}
out:
	return op_end(sp, rc);
}

/*
 * delete_head deletes the messages of circle |circle_no| matching statement
 * pair (sum_id, del_id) bound to (?2 = |bound|, ?3 = |last_seq|), and
 * takes them off the circle's counters. *out_n gets the number deleted.
 */
static int delete_head(struct spool *sp, enum st sum_id, enum st del_id, int64_t circle_no,
		       uint64_t bound, uint64_t last_seq, uint64_t *out_n)
{
	int64_t n = 0;
	double bytes = 0;
	int rc, row = 0;

	*out_n = 0;
	if ((rc = bind_i64(sp, sum_id, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_u64(sp, sum_id, 2, bound)) != HALQA_OK ||
	    (rc = bind_u64(sp, sum_id, 3, last_seq)) != HALQA_OK ||
	    (rc = step_row(sp, sum_id, &row)) != HALQA_OK) {
		st_done(sp, sum_id);
		return rc;
	}
	if (row) {
		n = sqlite3_column_int64(st_get(sp, sum_id), 0);
		bytes = sqlite3_column_double(st_get(sp, sum_id), 1);
		st_done(sp, sum_id);
	}
	if (n <= 0) {
		return HALQA_OK;
	}
	if ((rc = bind_i64(sp, del_id, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_u64(sp, del_id, 2, bound)) != HALQA_OK ||
	    (rc = bind_u64(sp, del_id, 3, last_seq)) != HALQA_OK ||
	    (rc = step_exec(sp, del_id)) != HALQA_OK) {
		st_done(sp, del_id);
		return rc;
	}
	if (sqlite3_changes(sp->db) != n) {
		return HALQA_ERR_INTERNAL; /* the same WHERE clause saw other rows */
	}
	if ((rc = bind_i64(sp, ST_CIR_DELETED, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_CIR_DELETED, 2, n)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_CIR_DELETED, 3, (int64_t)bytes)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_CIR_DELETED)) != HALQA_OK) {
		st_done(sp, ST_CIR_DELETED);
		return rc;
	}
	*out_n = (uint64_t)n;
	return HALQA_OK;
}

/* sweep_circle applies retention to one circle, within *budget deleted rows. */
static int sweep_circle(struct spool *sp, int64_t circle_no, uint64_t max_age, uint64_t now,
			uint64_t *budget, struct spool_sweep_res *res)
{
	int64_t live = 0, min_acked = 0;
	uint64_t cutoff = now > max_age ? now - max_age : 0;
	uint64_t oldest_seq, oldest_at, deleted = 0;
	sqlite3_stmt *s;
	int rc, row = 0, n;

	/* Cursors past max_age are dead: they no longer hold messages back. */
	if ((rc = bind_i64(sp, ST_CUR_EXPIRE, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CUR_EXPIRE, 2, cutoff)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_CUR_EXPIRE)) != HALQA_OK) {
		st_done(sp, ST_CUR_EXPIRE);
		return rc;
	}
	n = sqlite3_changes(sp->db);
	res->cursors_expired += (uint64_t)n;
	*budget = *budget > (uint64_t)n ? *budget - (uint64_t)n : 0;

	if ((rc = bind_i64(sp, ST_MSG_OLDEST, 1, circle_no)) != HALQA_OK ||
	    (rc = step_row(sp, ST_MSG_OLDEST, &row)) != HALQA_OK) {
		st_done(sp, ST_MSG_OLDEST);
		return rc;
	}
	if (!row) {
		return HALQA_OK;
	}
	oldest_seq = col_u64(sp, ST_MSG_OLDEST, 0);
	oldest_at = col_u64(sp, ST_MSG_OLDEST, 1);
	st_done(sp, ST_MSG_OLDEST);

	s = st_get(sp, ST_CUR_MIN_LIVE);
	if ((rc = bind_i64(sp, ST_CUR_MIN_LIVE, 1, circle_no)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_CUR_MIN_LIVE, 2, cutoff)) != HALQA_OK ||
	    (rc = step_row(sp, ST_CUR_MIN_LIVE, &row)) != HALQA_OK) {
		st_done(sp, ST_CUR_MIN_LIVE);
		return rc;
	}
	if (row) {
		live = sqlite3_column_int64(s, 0);
		min_acked = sqlite3_column_int64(s, 1);
		st_done(sp, ST_CUR_MIN_LIVE);
	}
	/* No live cursor means nobody has said what was read: keep until max_age. */
	if (live > 0 && min_acked > 0 && oldest_seq <= (uint64_t)min_acked && *budget > 0) {
		if ((rc = delete_head(sp, ST_MSG_SUM_ACKED, ST_MSG_DEL_ACKED, circle_no,
				      (uint64_t)min_acked, oldest_seq + *budget - 1, &deleted)) !=
		    HALQA_OK) {
			return rc;
		}
		res->acked_deleted += deleted;
		*budget -= deleted < *budget ? deleted : *budget;
		oldest_seq += deleted; /* what remains starts at or after this */
	}
	if (oldest_at < cutoff && *budget > 0) {
		if ((rc = delete_head(sp, ST_MSG_SUM_AGED, ST_MSG_DEL_AGED, circle_no, cutoff,
				      oldest_seq + *budget - 1, &deleted)) != HALQA_OK) {
			return rc;
		}
		res->aged_deleted += deleted;
		*budget -= deleted < *budget ? deleted : *budget;
	}
	return HALQA_OK;
}

int spool_sweep(struct spool *sp, uint64_t now, struct spool_sweep_res *out)
{
	struct spool_sweep_res res;
	uint64_t budget, cutoff;
	int64_t circle_no = 0, pos, start;
	uint64_t max_age;
	int rc, row = 0, n, wrapped = 0;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL || now > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	budget = sp->lim.sweep_budget;
	pos = sp->sweep_pos;
	if ((rc = op_begin(sp)) != HALQA_OK) {
		return rc;
	}
	if ((rc = bind_u64(sp, ST_INV_EXPIRE, 1, now)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_INV_EXPIRE, 2, budget)) != HALQA_OK ||
	    (rc = step_exec(sp, ST_INV_EXPIRE)) != HALQA_OK) {
		st_done(sp, ST_INV_EXPIRE);
		goto out;
	}
	n = sqlite3_changes(sp->db);
	res.invites_expired = (uint64_t)n;
	budget -= (uint64_t)n < budget ? (uint64_t)n : budget;

	cutoff = now > sp->lim.mailbox_max_age ? now - sp->lim.mailbox_max_age : 0;
	if (budget > 0) {
		if ((rc = bind_u64(sp, ST_MBI_EXPIRE, 1, cutoff)) != HALQA_OK ||
		    (rc = bind_u64(sp, ST_MBI_EXPIRE, 2, budget)) != HALQA_OK ||
		    (rc = step_exec(sp, ST_MBI_EXPIRE)) != HALQA_OK) {
			st_done(sp, ST_MBI_EXPIRE);
			goto out;
		}
		n = sqlite3_changes(sp->db);
		res.mailbox_deleted = (uint64_t)n;
		budget -= (uint64_t)n < budget ? (uint64_t)n : budget;
	}

	/*
	 * Circles round-robin from where the last call stopped; each visit
	 * costs one unit of the budget, so a relay with many quiet circles
	 * still does bounded work per call, and no circle is visited twice in
	 * one call.
	 */
	start = pos;
	while (budget > 0) {
		if ((rc = bind_i64(sp, ST_CIR_SWEEP_NEXT, 1, pos)) != HALQA_OK ||
		    (rc = step_row(sp, ST_CIR_SWEEP_NEXT, &row)) != HALQA_OK) {
			st_done(sp, ST_CIR_SWEEP_NEXT);
			goto out;
		}
		if (!row) {
			/* End of the list: wrap once, to finish the round begun at |start|. */
			pos = 0;
			if (wrapped || start == 0) {
				break;
			}
			wrapped = 1;
			continue;
		}
		circle_no = sqlite3_column_int64(st_get(sp, ST_CIR_SWEEP_NEXT), 0);
		max_age = col_u64(sp, ST_CIR_SWEEP_NEXT, 1);
		st_done(sp, ST_CIR_SWEEP_NEXT);
		if (wrapped && circle_no > start) {
			break; /* every circle visited once in this call */
		}
		budget--;
		if ((rc = sweep_circle(sp, circle_no, max_age, now, &budget, &res)) != HALQA_OK) {
			goto out;
		}
		pos = circle_no;
	}
	res.more = budget == 0;
out:
	rc = op_end(sp, rc);
	if (rc == HALQA_OK) {
		/* Only a stored sweep moves the round on; a failed one is redone. */
		sp->sweep_pos = pos;
		*out = res;
	}
	return rc;
}

int spool_circle_stats(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		       struct spool_circle_stats *out)
{
	int rc, row = 0;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	if (sp == NULL || circle_id == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = bind_blob(sp, ST_CIR_STATS, 1, circle_id, SPOOL_ID_LEN)) != HALQA_OK ||
	    (rc = step_row(sp, ST_CIR_STATS, &row)) != HALQA_OK) {
		st_done(sp, ST_CIR_STATS);
		return rc;
	}
	if (!row) {
		return HALQA_ERR_NOT_FOUND;
	}
	out->epoch = col_u64(sp, ST_CIR_STATS, 0);
	out->last_seq = col_u64(sp, ST_CIR_STATS, 1);
	out->messages = col_u64(sp, ST_CIR_STATS, 2);
	out->bytes = col_u64(sp, ST_CIR_STATS, 3);
	out->max_age = col_u64(sp, ST_CIR_STATS, 4);
	out->cursors = col_u64(sp, ST_CIR_STATS, 5);
	st_done(sp, ST_CIR_STATS);
	return HALQA_OK;
}
