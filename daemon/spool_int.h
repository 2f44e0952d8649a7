/*
 * spool_int.h: private to daemon/spool*.c, the parts of the spool shared
 * between its files: the handle, the table of prepared statements, the
 * small statement helpers (static inline, so nothing here is exported but
 * the two device-row functions), and the operation bracket op_begin/op_end.
 * See spool.c for the design.
 */
#ifndef HALQA_DAEMON_SPOOL_INT_H
#define HALQA_DAEMON_SPOOL_INT_H

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/err.h"
#include "halqa/log.h"
#include "halqa/spool.h"

#define DAY_SECONDS 86400u
#define MAX_TIME ((uint64_t)INT64_MAX)

/* spool_time rounds a time to be stored up to SPOOL_TIME_GRANULARITY (spool.h). */
static inline uint64_t spool_time(uint64_t t)
{
	if (t > MAX_TIME - SPOOL_TIME_GRANULARITY) {
		return t; /* refused by the callers' MAX_TIME checks anyway */
	}
	return (t + SPOOL_TIME_GRANULARITY - 1) / SPOOL_TIME_GRANULARITY * SPOOL_TIME_GRANULARITY;
}

/* Every statement the spool runs, prepared once at open (SQL in spool.c). */
enum st {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,

	ST_INV_BY_HASH,
	ST_INV_INSERT,
	ST_INV_LIST,
	ST_INV_DELETE,
	ST_INV_USE,
	ST_INV_EXPIRE,

	ST_DEV_GET,
	ST_DEV_INSERT,
	ST_DEV_SET_BAN,
	ST_DEV_DELETE,
	ST_DEV_COUNT,
	ST_DEV_SET_BYTES,
	ST_DEV_INC_CIRCLES,

	ST_CIR_GET,
	ST_CIR_INSERT,
	ST_CIR_APPENDED,
	ST_CIR_STATS,
	ST_CIR_SWEEP_NEXT,

	ST_EP_INSERT,
	ST_EP_GET,
	ST_EP_BY_CAP,
	ST_EP_CLOSE,

	ST_MSG_BY_CMID,
	ST_MSG_INSERT,
	ST_MSG_FETCH,
	ST_MSG_OLDEST,
	ST_MSG_SUM_ACKED,
	ST_MSG_DEL_ACKED,
	ST_MSG_SUM_AGED,
	ST_MSG_DEL_AGED,
	ST_CIR_DELETED,

	ST_CUR_GET,
	ST_CUR_PUT,
	ST_CUR_COUNT,
	ST_CUR_EXPIRE,
	ST_CUR_MIN_LIVE,

	ST_MB_GET,
	ST_MB_INSERT,
	ST_MB_COUNT_OWNER,
	ST_MBI_INSERT,
	ST_MBI_FETCH,
	ST_MBI_DELETE,
	ST_MBI_EXPIRE,

	ST_KPD_GET,
	ST_KPD_INSERT,
	ST_KPD_COUNT_OWNER,
	ST_KPD_SET_LR,
	ST_KPD_GET_LR,
	ST_KP_INSERT,
	ST_KP_COUNT,
	ST_KP_OLDEST,
	ST_KP_DELETE,

	ST_STATS_DEV,
	ST_STATS_INV,
	ST_STATS_CIRCLES,
	ST_STATS_MB,
	ST_STATS_KP,

	ST_COUNT
};

/* spool_st_sql[id] is the SQL text of statement |id|: parameters only, never data. */
extern const char *const spool_st_sql[ST_COUNT];

struct spool {
	sqlite3 *db;
	struct spool_limits lim;
	sqlite3_stmt *st[ST_COUNT];
	int in_turn;            /* BEGIN issued, COMMIT not yet */
	int turn_failed;        /* the turn holds a partial operation, or SQLite aborted it */
	int op_changes;         /* sqlite3_total_changes when the current operation began */
	unsigned fail_commits;  /* test hook: commits still to refuse */
	unsigned delay_commit_ms; /* test hook: the next commit first sleeps this long */
	int64_t sweep_pos;      /* circle_no after which the next sweep resumes */
	struct spool_ckpt *ckpt; /* the checkpoint thread, if started (spool_ckpt.c) */
};

/* fail logs a storage failure of statement |id| and returns HALQA_ERR_IO. */
static inline int fail(struct spool *sp, enum st id, int src)
{
	/* The SQL text holds only parameters, never data, so it may be logged. */
	halqa_log(HALQA_LOG_ERROR, "spool", "\"%.60s\" failed: %s (%d)", spool_st_sql[id],
		  sqlite3_errmsg(sp->db), src);
	return HALQA_ERR_IO;
}

static inline sqlite3_stmt *st_get(struct spool *sp, enum st id)
{
	return sp->st[id];
}

static inline void st_done(struct spool *sp, enum st id)
{
	sqlite3_reset(sp->st[id]);
	sqlite3_clear_bindings(sp->st[id]);
}

/*
 * Binders. Each returns HALQA_OK or logs and returns HALQA_ERR_IO; blobs
 * are bound SQLITE_STATIC because every use resets the statement before
 * the caller's buffer can go away.
 */
static inline int bind_blob(struct spool *sp, enum st id, int col, const void *p, size_t len)
{
	int src;

	if (len > INT_MAX) {
		return HALQA_ERR_ARG;
	}
	src = sqlite3_bind_blob(sp->st[id], col, p != NULL ? p : "", (int)len, SQLITE_STATIC);
	return src == SQLITE_OK ? HALQA_OK : fail(sp, id, src);
}

static inline int bind_i64(struct spool *sp, enum st id, int col, int64_t v)
{
	int src = sqlite3_bind_int64(sp->st[id], col, v);

	return src == SQLITE_OK ? HALQA_OK : fail(sp, id, src);
}

static inline int bind_u64(struct spool *sp, enum st id, int col, uint64_t v)
{
	if (v > MAX_TIME) {
		return HALQA_ERR_ARG;
	}
	return bind_i64(sp, id, col, (int64_t)v);
}

/*
 * step_row steps statement |id|: *out_row = 1 with a row to read (the
 * caller reads it, then calls st_done), 0 at the end (statement already
 * reset). Errors reset the statement and return HALQA_ERR_IO.
 */
static inline int step_row(struct spool *sp, enum st id, int *out_row)
{
	int src = sqlite3_step(sp->st[id]);

	*out_row = 0;
	if (src == SQLITE_ROW) {
		*out_row = 1;
		return HALQA_OK;
	}
	if (src == SQLITE_DONE) {
		st_done(sp, id);
		return HALQA_OK;
	}
	(void)fail(sp, id, src);
	st_done(sp, id);
	return HALQA_ERR_IO;
}

/* step_exec runs statement |id| to completion and resets it. */
static inline int step_exec(struct spool *sp, enum st id)
{
	int src = sqlite3_step(sp->st[id]);
	int rc = HALQA_OK;

	if (src == SQLITE_ROW) {
		while ((src = sqlite3_step(sp->st[id])) == SQLITE_ROW) {
		}
	}
	if (src != SQLITE_DONE) {
		rc = fail(sp, id, src);
	}
	st_done(sp, id);
	return rc;
}

/* step_count runs a one-row "SELECT count(*)" and writes the value. */
static inline int step_count(struct spool *sp, enum st id, int64_t *out)
{
	int row = 0, rc;

	*out = 0;
	if ((rc = step_row(sp, id, &row)) != HALQA_OK) {
		return rc;
	}
	if (row) {
		*out = sqlite3_column_int64(sp->st[id], 0);
		st_done(sp, id);
	}
	return HALQA_OK;
}

static inline uint64_t col_u64(struct spool *sp, enum st id, int col)
{
	int64_t v = sqlite3_column_int64(sp->st[id], col);

	return v < 0 ? 0 : (uint64_t)v;
}

/* col_blob_eq says whether column |col| is a blob of exactly |len| bytes equal to |want|. */
static inline int col_blob_eq(struct spool *sp, enum st id, int col, const uint8_t *want,
			      size_t len)
{
	const void *p = sqlite3_column_blob(sp->st[id], col);
	int n = sqlite3_column_bytes(sp->st[id], col);

	return p != NULL && n >= 0 && (size_t)n == len && sodium_memcmp(p, want, len) == 0;
}

/* col_dup copies column |col| (a blob) into a fresh malloc'd buffer. */
static inline int col_dup(struct spool *sp, enum st id, int col, uint8_t **out, size_t *out_len)
{
	const void *p = sqlite3_column_blob(sp->st[id], col);
	int n = sqlite3_column_bytes(sp->st[id], col);
	uint8_t *copy;

	*out = NULL;
	*out_len = 0;
	if (n < 0) {
		return HALQA_ERR_INTERNAL;
	}
	if (p == NULL && n > 0) {
		return HALQA_ERR_NOMEM;
	}
	if ((copy = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (n > 0) {
		memcpy(copy, p, (size_t)n);
	}
	*out = copy;
	*out_len = (size_t)n;
	return HALQA_OK;
}

/* op_begin opens the turn if needed and notes where one write operation starts. */
static inline int op_begin(struct spool *sp)
{
	int rc;

	if ((rc = spool_begin_turn(sp)) != HALQA_OK) {
		return rc;
	}
	sp->op_changes = sqlite3_total_changes(sp->db);
	return HALQA_OK;
}

/*
 * op_end ends a write operation and returns |rc|. A failed operation that
 * had already changed rows, or a transaction SQLite aborted, fails the whole
 * turn, so no half-done operation can ever be committed.
 */
static inline int op_end(struct spool *sp, int rc)
{
	if (rc == HALQA_OK) {
		return HALQA_OK;
	}
	if (sqlite3_get_autocommit(sp->db) || sqlite3_total_changes(sp->db) != sp->op_changes) {
		if (!sp->turn_failed) {
			halqa_log(HALQA_LOG_ERROR, "spool",
				  "an operation failed half-way (%s): the whole turn will be rolled back",
				  halqa_errname(rc));
		}
		sp->turn_failed = 1;
	}
	return rc;
}

/* One row of the devices table, as the device and circle code reads it. */
struct device_row {
	int found;
	int registered;
	int banned;
	uint64_t circles_created;
	uint64_t bytes_day;
	uint64_t bytes_today;
};

/* spool_device_row_get reads |device|'s row into *d (d->found = 0 if none). */
int spool_device_row_get(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
			 struct device_row *d);

/*
 * spool_device_row_registered reads |device| and returns HALQA_ERR_NOT_FOUND
 * for unknown, unregistered and banned keys.
 */
int spool_device_row_registered(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
				struct device_row *d);

#endif
