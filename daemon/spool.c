/*
 * spool.c: the relay's durable store, a synchronous API over one SQLite
 * database (SQLCipher's library, unkeyed; see include/halqa/spool.h).
 *
 * Design. Every statement is prepared once at open and kept in a table
 * indexed by enum st; a use binds (sqlite3_bind_* only: no SQL is ever
 * built from data), steps and resets, so the hot path parses nothing. Writes
 * happen inside a "turn": the first write of a loop turn issues BEGIN
 * IMMEDIATE, spool_commit_turn issues COMMIT once, so the relay pays one
 * fsync per turn however many requests the turn carried (group commit).
 * Every write operation makes all its checks before its first write, so a
 * refused request (a stale epoch, a quota) leaves nothing behind in the
 * turn. An operation that fails after it has changed rows (only a storage
 * error can do that), or a storage error that makes SQLite abort the
 * transaction, marks the turn failed: its commit then rolls everything back
 * and reports HALQA_ERR_IO, so the daemon answers every request of that
 * turn with an error. (A SAVEPOINT per operation would give the same
 * guarantee for the other requests of the turn, but measured at about a
 * quarter of the cost of an append; a storage error is rare enough that
 * failing its whole turn is the better trade.)
 *
 * Capability hashes are compared with sodium_memcmp where the spool holds
 * the expected value (SEND names its epoch). Finding which epoch a cap hash
 * opens (FETCH, ACK, LISTEN) is an index lookup on the hash: timing can
 * reveal at most how much of a SHA-256 output matched, which does not help
 * anyone find a capability.
 *
 * Errors from SQLite become HALQA_ERR_IO; the log line names the statement
 * and SQLite's message (which holds table and column names, never values).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/err.h"
#include "halqa/log.h"
#include "halqa/spool.h"
#include "spool_schema.h"

#define DAY_SECONDS 86400u
#define MAX_TIME ((uint64_t)INT64_MAX)

/* Keyed hash label for invite codes, so a stored hash is useless elsewhere. */
static const uint8_t invite_hash_key[] = "halqa relay invite code v1";

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

static const char *const st_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",

	[ST_INV_BY_HASH] = "SELECT id, uses_left, expires_at FROM invites WHERE code_hash = ?1",
	[ST_INV_INSERT] = "INSERT INTO invites (code_hash, uses_left, expires_at, created_at)"
			  " VALUES (?1, ?2, ?3, ?4)",
	[ST_INV_LIST] = "SELECT id, uses_left, expires_at, created_at FROM invites ORDER BY id",
	[ST_INV_DELETE] = "DELETE FROM invites WHERE id = ?1",
	[ST_INV_USE] = "UPDATE invites SET uses_left = uses_left - 1 WHERE id = ?1",
	[ST_INV_EXPIRE] = "DELETE FROM invites WHERE id IN (SELECT id FROM invites"
			  " WHERE expires_at != 0 AND expires_at <= ?1 LIMIT ?2)",

	[ST_DEV_GET] = "SELECT registered, banned, circles_created, bytes_day, bytes_today"
		       " FROM devices WHERE device_key = ?1",
	[ST_DEV_INSERT] = "INSERT INTO devices (device_key, registered, banned, registered_at,"
			  " circles_created, bytes_day, bytes_today) VALUES (?1, ?2, ?3, ?4, 0, 0, 0)",
	[ST_DEV_SET_BAN] = "UPDATE devices SET banned = ?2 WHERE device_key = ?1",
	[ST_DEV_DELETE] = "DELETE FROM devices WHERE device_key = ?1",
	[ST_DEV_COUNT] = "SELECT count(*) FROM devices WHERE registered = 1",
	[ST_DEV_SET_BYTES] = "UPDATE devices SET bytes_day = ?2, bytes_today = ?3 WHERE device_key = ?1",
	[ST_DEV_INC_CIRCLES] = "UPDATE devices SET circles_created = circles_created + 1"
			       " WHERE device_key = ?1",

	[ST_CIR_GET] = "SELECT circle_no, max_age, epoch, last_seq FROM circles WHERE circle_id = ?1",
	[ST_CIR_INSERT] = "INSERT INTO circles (circle_id, max_age, epoch, last_seq, msg_count,"
			  " msg_bytes) VALUES (?1, ?2, 0, 0, 0, 0)",
	[ST_CIR_APPENDED] = "UPDATE circles SET last_seq = ?2, epoch = ?3, msg_count = msg_count + 1,"
			    " msg_bytes = msg_bytes + ?4 WHERE circle_no = ?1",
	[ST_CIR_STATS] = "SELECT epoch, last_seq, msg_count, msg_bytes, max_age,"
			 " (SELECT count(*) FROM cursors WHERE cursors.circle_no = circles.circle_no)"
			 " FROM circles WHERE circle_id = ?1",
	[ST_CIR_SWEEP_NEXT] = "SELECT circle_no, max_age FROM circles WHERE circle_no > ?1"
			      " ORDER BY circle_no LIMIT 1",

	[ST_EP_INSERT] = "INSERT INTO epochs (circle_no, epoch, cap_hash, first_seq, last_seq)"
			 " VALUES (?1, ?2, ?3, ?4, NULL)",
	[ST_EP_GET] = "SELECT cap_hash, first_seq, last_seq FROM epochs"
		      " WHERE circle_no = ?1 AND epoch = ?2",
	[ST_EP_BY_CAP] = "SELECT epoch, first_seq, last_seq, cap_hash FROM epochs"
			 " WHERE circle_no = ?1 AND cap_hash = ?2",
	[ST_EP_CLOSE] = "UPDATE epochs SET last_seq = ?3 WHERE circle_no = ?1 AND epoch = ?2",

	[ST_MSG_BY_CMID] = "SELECT seq, epoch FROM messages WHERE circle_no = ?1 AND client_msg_id = ?2",
	[ST_MSG_INSERT] = "INSERT INTO messages (circle_no, seq, epoch, kind, client_msg_id,"
			  " received_at, size, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_MSG_FETCH] = "SELECT seq, epoch, kind, client_msg_id, received_at, payload FROM messages"
			 " WHERE circle_no = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
	[ST_MSG_OLDEST] = "SELECT seq, received_at FROM messages WHERE circle_no = ?1"
			  " ORDER BY seq LIMIT 1",
	/*
	 * Retention deletes a seq range from the head of a circle's log: ?3 is
	 * oldest seq + budget - 1, so one statement touches at most |budget|
	 * rows. The SUM twin of each DELETE has the same WHERE clause and feeds
	 * the circle's counters (a per-row trigger cost 40 % of the deletion).
	 */
	[ST_MSG_SUM_ACKED] = "SELECT count(*), total(size) FROM messages"
			     " WHERE circle_no = ?1 AND seq <= ?2 AND seq <= ?3",
	[ST_MSG_DEL_ACKED] = "DELETE FROM messages WHERE circle_no = ?1 AND seq <= ?2 AND seq <= ?3",
	[ST_MSG_SUM_AGED] = "SELECT count(*), total(size) FROM messages"
			    " WHERE circle_no = ?1 AND seq <= ?3 AND received_at < ?2",
	[ST_MSG_DEL_AGED] = "DELETE FROM messages"
			    " WHERE circle_no = ?1 AND seq <= ?3 AND received_at < ?2",
	[ST_CIR_DELETED] = "UPDATE circles SET msg_count = msg_count - ?2, msg_bytes = msg_bytes - ?3"
			   " WHERE circle_no = ?1",

	[ST_CUR_GET] = "SELECT acked_seq FROM cursors WHERE circle_no = ?1 AND cursor_id = ?2",
	[ST_CUR_PUT] = "INSERT OR REPLACE INTO cursors (circle_no, cursor_id, acked_seq, acked_at)"
		       " VALUES (?1, ?2, ?3, ?4)",
	[ST_CUR_COUNT] = "SELECT count(*) FROM cursors WHERE circle_no = ?1",
	[ST_CUR_EXPIRE] = "DELETE FROM cursors WHERE circle_no = ?1 AND acked_at < ?2",
	[ST_CUR_MIN_LIVE] = "SELECT count(*), min(acked_seq) FROM cursors"
			    " WHERE circle_no = ?1 AND acked_at >= ?2",

	[ST_MB_GET] = "SELECT mailbox_no, owner_key, item_count, item_bytes FROM mailboxes"
		      " WHERE mailbox_id = ?1",
	[ST_MB_INSERT] = "INSERT INTO mailboxes (mailbox_id, owner_key, item_count, item_bytes)"
			 " VALUES (?1, ?2, 0, 0)",
	[ST_MB_COUNT_OWNER] = "SELECT count(*) FROM mailboxes WHERE owner_key = ?1",
	[ST_MBI_INSERT] = "INSERT INTO mailbox_items (mailbox_no, received_at, size, data)"
			  " VALUES (?1, ?2, ?3, ?4)",
	[ST_MBI_FETCH] = "SELECT item_id, received_at, data FROM mailbox_items"
			 " WHERE mailbox_no = ?1 AND item_id > ?2 ORDER BY item_id LIMIT ?3",
	[ST_MBI_DELETE] = "DELETE FROM mailbox_items WHERE item_id = ?1 AND mailbox_no = ?2",
	[ST_MBI_EXPIRE] = "DELETE FROM mailbox_items WHERE item_id IN (SELECT item_id FROM"
			  " mailbox_items WHERE received_at < ?1 LIMIT ?2)",

	[ST_KPD_GET] = "SELECT dir_no, owner_key, last_resort IS NOT NULL FROM kp_dirs"
		       " WHERE dir_id = ?1",
	[ST_KPD_INSERT] = "INSERT INTO kp_dirs (dir_id, owner_key, last_resort) VALUES (?1, ?2, NULL)",
	[ST_KPD_COUNT_OWNER] = "SELECT count(*) FROM kp_dirs WHERE owner_key = ?1",
	[ST_KPD_SET_LR] = "UPDATE kp_dirs SET last_resort = ?2 WHERE dir_no = ?1",
	[ST_KPD_GET_LR] = "SELECT last_resort FROM kp_dirs WHERE dir_no = ?1",
	[ST_KP_INSERT] = "INSERT INTO keypackages (dir_no, data) VALUES (?1, ?2)",
	[ST_KP_COUNT] = "SELECT count(*) FROM keypackages WHERE dir_no = ?1",
	[ST_KP_OLDEST] = "SELECT kp_no, data FROM keypackages WHERE dir_no = ?1"
			 " ORDER BY kp_no LIMIT 1",
	[ST_KP_DELETE] = "DELETE FROM keypackages WHERE kp_no = ?1",

	[ST_STATS_DEV] = "SELECT total(registered = 1 AND banned = 0), total(banned = 1) FROM devices",
	[ST_STATS_INV] = "SELECT count(*) FROM invites",
	[ST_STATS_CIRCLES] = "SELECT count(*), total(msg_count), total(msg_bytes) FROM circles",
	[ST_STATS_MB] = "SELECT total(item_count), total(item_bytes) FROM mailboxes",
	[ST_STATS_KP] = "SELECT count(*) FROM keypackages",
};

struct spool {
	sqlite3 *db;
	struct spool_limits lim;
	sqlite3_stmt *st[ST_COUNT];
	int in_turn;            /* BEGIN issued, COMMIT not yet */
	int turn_failed;        /* the turn holds a partial operation, or SQLite aborted it */
	int op_changes;         /* sqlite3_total_changes when the current operation began */
	unsigned fail_commits;  /* test hook: commits still to refuse */
	int64_t sweep_pos;      /* circle_no after which the next sweep resumes */
};

/* ------------------------------------------------------------------------ */
/* Statement helpers */

/* fail logs a storage failure of statement |id| and returns HALQA_ERR_IO. */
static int fail(struct spool *sp, enum st id, int src)
{
	/* The SQL text holds only parameters, never data, so it may be logged. */
	halqa_log(HALQA_LOG_ERROR, "spool", "\"%.60s\" failed: %s (%d)", st_sql[id],
		  sqlite3_errmsg(sp->db), src);
	return HALQA_ERR_IO;
}

static sqlite3_stmt *st_get(struct spool *sp, enum st id)
{
	return sp->st[id];
}

static void st_done(struct spool *sp, enum st id)
{
	sqlite3_reset(sp->st[id]);
	sqlite3_clear_bindings(sp->st[id]);
}

/*
 * Binders. Each returns HALQA_OK or logs and returns HALQA_ERR_IO; blobs
 * are bound SQLITE_STATIC because every use resets the statement before
 * the caller's buffer can go away.
 */
static int bind_blob(struct spool *sp, enum st id, int col, const void *p, size_t len)
{
	int src;

	if (len > INT_MAX) {
		return HALQA_ERR_ARG;
	}
	src = sqlite3_bind_blob(sp->st[id], col, p != NULL ? p : "", (int)len, SQLITE_STATIC);
	return src == SQLITE_OK ? HALQA_OK : fail(sp, id, src);
}

static int bind_i64(struct spool *sp, enum st id, int col, int64_t v)
{
	int src = sqlite3_bind_int64(sp->st[id], col, v);

	return src == SQLITE_OK ? HALQA_OK : fail(sp, id, src);
}

static int bind_u64(struct spool *sp, enum st id, int col, uint64_t v)
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
static int step_row(struct spool *sp, enum st id, int *out_row)
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
static int step_exec(struct spool *sp, enum st id)
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
static int step_count(struct spool *sp, enum st id, int64_t *out)
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

static uint64_t col_u64(struct spool *sp, enum st id, int col)
{
	int64_t v = sqlite3_column_int64(sp->st[id], col);

	return v < 0 ? 0 : (uint64_t)v;
}

/* col_blob_eq says whether column |col| is a blob of exactly |len| bytes equal to |want|. */
static int col_blob_eq(struct spool *sp, enum st id, int col, const uint8_t *want, size_t len)
{
	const void *p = sqlite3_column_blob(sp->st[id], col);
	int n = sqlite3_column_bytes(sp->st[id], col);

	return p != NULL && n >= 0 && (size_t)n == len && sodium_memcmp(p, want, len) == 0;
}

/* col_dup copies column |col| (a blob) into a fresh malloc'd buffer. */
static int col_dup(struct spool *sp, enum st id, int col, uint8_t **out, size_t *out_len)
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

static int exec_plain(struct spool *sp, const char *sql)
{
	char *msg = NULL;
	int src = sqlite3_exec(sp->db, sql, NULL, NULL, &msg);

	if (src != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "setup failed: %s (%d)",
			  msg != NULL ? msg : sqlite3_errmsg(sp->db), src);
		sqlite3_free(msg);
		return HALQA_ERR_IO;
	}
	return HALQA_OK;
}

/* ------------------------------------------------------------------------ */
/* Turns */

int spool_begin_turn(struct spool *sp)
{
	int rc;

	if (sp == NULL) {
		return HALQA_ERR_ARG;
	}
	if (sp->turn_failed) {
		return HALQA_ERR_IO;
	}
	if (sp->in_turn) {
		return HALQA_OK;
	}
	if ((rc = step_exec(sp, ST_BEGIN)) != HALQA_OK) {
		return rc;
	}
	sp->in_turn = 1;
	return HALQA_OK;
}

int spool_turn_open(const struct spool *sp)
{
	return sp != NULL && sp->in_turn;
}

int spool_commit_turn(struct spool *sp)
{
	int rc = HALQA_OK;

	if (sp == NULL) {
		return HALQA_ERR_ARG;
	}
	if (!sp->in_turn) {
		return HALQA_OK;
	}
	if (sp->turn_failed) {
		rc = HALQA_ERR_IO;
	} else {
		rc = step_exec(sp, ST_COMMIT);
	}
	/*
	 * A failed COMMIT may leave the transaction open (SQLITE_BUSY) or may
	 * have rolled it back already (the commit hook, an I/O error); either
	 * way nothing of the turn may survive, so roll back what is left.
	 */
	if (rc != HALQA_OK && !sqlite3_get_autocommit(sp->db)) {
		(void)step_exec(sp, ST_ROLLBACK);
	}
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "turn rolled back: its writes are not stored");
	}
	sp->in_turn = 0;
	sp->turn_failed = 0;
	return rc;
}

void spool_inject_commit_failure(struct spool *sp, unsigned count)
{
	if (sp != NULL) {
		sp->fail_commits = count;
	}
}

static int commit_hook(void *arg)
{
	struct spool *sp = arg;

	if (sp->fail_commits > 0) {
		sp->fail_commits--;
		return 1; /* turns this COMMIT into a ROLLBACK */
	}
	return 0;
}

/* op_begin opens the turn if needed and notes where one write operation starts. */
static int op_begin(struct spool *sp)
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
static int op_end(struct spool *sp, int rc)
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

/* ------------------------------------------------------------------------ */
/* Open and close */

void spool_limits_default(struct spool_limits *out)
{
	memset(out, 0, sizeof *out);
	out->max_payload = 256u * 1024u;
	out->max_fetch_count = 256;
	out->max_fetch_bytes = 4u * 1024u * 1024u;
	out->max_cursors_per_circle = 256;
	out->default_max_age = 30u * DAY_SECONDS;
	out->max_max_age = 365u * DAY_SECONDS;
	out->max_devices = 100000;
	out->max_circles_per_device = 1000;
	out->max_bytes_per_day = 256u * 1024u * 1024u;
	out->max_mailboxes_per_device = 8;
	out->max_mailbox_item = 256u * 1024u;
	out->max_mailbox_items = 1000;
	out->max_mailbox_bytes = 16u * 1024u * 1024u;
	out->mailbox_max_age = 30u * DAY_SECONDS;
	out->max_kp_dirs_per_device = 8;
	out->max_keypackage = 16u * 1024u;
	out->max_keypackages = 256;
	out->max_mailbox_fetch = 256;
	out->sweep_budget = 1000;
	out->busy_timeout_ms = 2000;
}

const struct spool_limits *spool_limits_get(const struct spool *sp)
{
	return &sp->lim;
}

#define FILL(field)                                                                    \
	do {                                                                           \
		if (lim->field == 0) {                                                 \
			lim->field = def.field;                                        \
		}                                                                      \
	} while (0)

/* fill_limits replaces zero fields by defaults and refuses values SQLite cannot hold. */
static int fill_limits(struct spool_limits *lim)
{
	struct spool_limits def;

	spool_limits_default(&def);
	FILL(max_payload);
	FILL(max_fetch_count);
	FILL(max_fetch_bytes);
	FILL(max_cursors_per_circle);
	FILL(default_max_age);
	FILL(max_max_age);
	FILL(max_devices);
	FILL(max_circles_per_device);
	FILL(max_bytes_per_day);
	FILL(max_mailboxes_per_device);
	FILL(max_mailbox_item);
	FILL(max_mailbox_items);
	FILL(max_mailbox_bytes);
	FILL(mailbox_max_age);
	FILL(max_kp_dirs_per_device);
	FILL(max_keypackage);
	FILL(max_keypackages);
	FILL(max_mailbox_fetch);
	FILL(sweep_budget);
	FILL(busy_timeout_ms);
	/* Blobs are bound with an int length; times and ages are stored as int64. */
	if (lim->max_payload > INT_MAX / 2 || lim->max_mailbox_item > INT_MAX / 2 ||
	    lim->max_keypackage > INT_MAX / 2 || lim->max_max_age > MAX_TIME / 4 ||
	    lim->default_max_age > lim->max_max_age || lim->mailbox_max_age > MAX_TIME / 4 ||
	    lim->max_bytes_per_day > MAX_TIME / 4 || lim->max_mailbox_bytes > MAX_TIME / 4 ||
	    lim->busy_timeout_ms > INT_MAX || lim->max_fetch_count > INT_MAX / 2 ||
	    lim->max_mailbox_fetch > INT_MAX / 2 || lim->sweep_budget > INT_MAX / 2) {
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

#undef FILL

/*
 * prepare_file creates the database file with mode 0600 before SQLite sees
 * it (SQLite would use 0644 minus umask, and gives the -wal and -shm files
 * the main file's mode), and narrows the mode of an existing file.
 */
static int prepare_file(const char *path)
{
	struct stat stbuf;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = HALQA_OK;

	if (fd < 0) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot open the database file: %s",
			  strerror(errno));
		return HALQA_ERR_IO;
	}
	if (fstat(fd, &stbuf) != 0 || !S_ISREG(stbuf.st_mode)) {
		halqa_log(HALQA_LOG_ERROR, "spool", "the database path is not a regular file");
		rc = HALQA_ERR_IO;
	} else if ((stbuf.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot make the database private: %s",
			  strerror(errno));
		rc = HALQA_ERR_IO;
	}
	close(fd);
	return rc;
}

/* query_int runs a one-value query used at open time (no data bound). */
static int query_int(struct spool *sp, const char *sql, int64_t *out, int *out_row)
{
	sqlite3_stmt *s = NULL;
	int src, rc = HALQA_OK;

	*out = 0;
	if (out_row != NULL) {
		*out_row = 0;
	}
	if ((src = sqlite3_prepare_v2(sp->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot read the database: %s (%d)",
			  sqlite3_errmsg(sp->db), src);
		return HALQA_ERR_IO;
	}
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		if (out_row != NULL) {
			*out_row = 1;
		}
	} else if (src != SQLITE_DONE) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot read the database: %s (%d)",
			  sqlite3_errmsg(sp->db), src);
		rc = HALQA_ERR_IO;
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * migrate brings the schema to SPOOL_SCHEMA_VERSION, one version per
 * transaction. The version is read again inside each write transaction, so
 * two processes opening the same new file (the daemon and `halqad invite`)
 * cannot both run a migration.
 */
static int migrate(struct spool *sp)
{
	int64_t version = 0, tables = 0;
	int rc;
	char sql[64];

	for (;;) {
		if ((rc = exec_plain(sp, "BEGIN IMMEDIATE")) != HALQA_OK) {
			return rc;
		}
		if ((rc = query_int(sp, "PRAGMA user_version", &version, NULL)) != HALQA_OK) {
			goto out;
		}
		if (version == SPOOL_SCHEMA_VERSION) {
			break;
		}
		if (version < 0 || version > SPOOL_SCHEMA_VERSION) {
			rc = HALQA_ERR_UNSUPPORTED;
			goto out;
		}
		if (version == 0) {
			/* Version 0 must be an empty file: never adopt someone else's database. */
			if ((rc = query_int(sp, "SELECT count(*) FROM sqlite_master", &tables,
					    NULL)) != HALQA_OK) {
				goto out;
			}
			if (tables != 0) {
				halqa_log(HALQA_LOG_ERROR, "spool",
					  "the file holds tables but no spool schema version;"
					  " refusing to touch it");
				rc = HALQA_ERR_UNSUPPORTED;
				goto out;
			}
		}
		if ((rc = exec_plain(sp, spool_migrations[version])) != HALQA_OK) {
			goto out;
		}
		/* PRAGMA takes no parameters; the value is our own integer, not data. */
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", (int)version + 1);
		if ((rc = exec_plain(sp, sql)) != HALQA_OK) {
			goto out;
		}
		if ((rc = exec_plain(sp, "COMMIT")) != HALQA_OK) {
			goto out;
		}
		halqa_log(HALQA_LOG_INFO, "spool", "schema migrated to version %d", (int)version + 1);
	}
	rc = exec_plain(sp, "COMMIT");
	return rc;
out:
	if (!sqlite3_get_autocommit(sp->db)) {
		(void)exec_plain(sp, "ROLLBACK");
	}
	return rc;
}

int spool_open(struct spool **out, const char *path, const struct spool_limits *limits)
{
	struct spool *sp = NULL;
	int64_t version = 0, tables = 0;
	int row = 0, src, rc;
	const unsigned char *mode;
	sqlite3_stmt *s = NULL;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		return HALQA_ERR_ARG;
	}
	if (sodium_init() < 0) {
		return HALQA_ERR_INTERNAL;
	}
	if ((sp = calloc(1, sizeof *sp)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (limits != NULL) {
		sp->lim = *limits;
	}
	if ((rc = fill_limits(&sp->lim)) != HALQA_OK) {
		goto out;
	}
	if ((rc = prepare_file(path)) != HALQA_OK) {
		goto out;
	}
	src = sqlite3_open_v2(path, &sp->db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
			      NULL);
	if (src != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot open the database: %s (%d)",
			  sp->db != NULL ? sqlite3_errmsg(sp->db) : "out of memory", src);
		rc = src == SQLITE_NOMEM ? HALQA_ERR_NOMEM : HALQA_ERR_IO;
		goto out;
	}
	sqlite3_extended_result_codes(sp->db, 1);
	sqlite3_busy_timeout(sp->db, (int)sp->lim.busy_timeout_ms);

	/*
	 * Linking libsqlite3 beside SQLCipher silently picks one of them
	 * (PLATFORM.md): refuse to run on anything but SQLCipher.
	 */
	if ((src = sqlite3_prepare_v2(sp->db, "PRAGMA cipher_version", -1, &s, NULL)) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		halqa_log(HALQA_LOG_ERROR, "spool",
			  "the SQLite library in use is not SQLCipher; refusing to run");
		rc = HALQA_ERR_INTERNAL;
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;

	/*
	 * Read the version before any pragma that writes (journal_mode=WAL
	 * rewrites the header): a file from a newer halqad stays untouched.
	 */
	if ((rc = query_int(sp, "PRAGMA user_version", &version, NULL)) != HALQA_OK) {
		goto out;
	}
	if (version < 0 || version > SPOOL_SCHEMA_VERSION) {
		halqa_log(HALQA_LOG_ERROR, "spool",
			  "the database has schema version %lld, newer than this halqad supports"
			  " (%d); refusing to open it (upgrade halqad or restore a backup)",
			  (long long)version, SPOOL_SCHEMA_VERSION);
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if (version == 0) {
		/* Version 0 must be an empty file: never adopt someone else's database. */
		if ((rc = query_int(sp, "SELECT count(*) FROM sqlite_master", &tables, NULL)) !=
		    HALQA_OK) {
			goto out;
		}
		if (tables != 0) {
			halqa_log(HALQA_LOG_ERROR, "spool",
				  "the file holds tables but no spool schema version;"
				  " refusing to touch it");
			rc = HALQA_ERR_UNSUPPORTED;
			goto out;
		}
	}

	if ((src = sqlite3_prepare_v2(sp->db, "PRAGMA journal_mode = WAL", -1, &s, NULL)) !=
		    SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW || (mode = sqlite3_column_text(s, 0)) == NULL ||
	    strcmp((const char *)mode, "wal") != 0) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot switch the database to WAL: %s",
			  sqlite3_errmsg(sp->db));
		rc = HALQA_ERR_IO;
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	/*
	 * synchronous=FULL: a commit returns only once the WAL is synced, the
	 * promise behind every acknowledgement. secure_delete: retention
	 * overwrites what it deletes. journal_size_limit: the WAL shrinks back
	 * after a burst instead of keeping its high-water mark on disk.
	 */
	if ((rc = exec_plain(sp, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
				 " PRAGMA secure_delete = ON;"
				 " PRAGMA journal_size_limit = 16777216;")) != HALQA_OK) {
		goto out;
	}
	if ((rc = query_int(sp, "PRAGMA foreign_keys", &version, &row)) != HALQA_OK) {
		goto out;
	}
	if (!row || version != 1) {
		halqa_log(HALQA_LOG_ERROR, "spool", "foreign keys cannot be enabled");
		rc = HALQA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = migrate(sp)) != HALQA_OK) {
		goto out;
	}
	for (int i = 0; i < ST_COUNT; i++) {
		if ((src = sqlite3_prepare_v2(sp->db, st_sql[i], -1, &sp->st[i], NULL)) !=
		    SQLITE_OK) {
			halqa_log(HALQA_LOG_ERROR, "spool", "cannot prepare statement %d: %s", i,
				  sqlite3_errmsg(sp->db));
			rc = HALQA_ERR_INTERNAL;
			goto out;
		}
	}
	sqlite3_commit_hook(sp->db, commit_hook, sp);
	*out = sp;
	sp = NULL;
	rc = HALQA_OK;
out:
	sqlite3_finalize(s);
	spool_close(sp);
	return rc;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL) {
		return;
	}
	if (sp->db != NULL && sp->in_turn && !sqlite3_get_autocommit(sp->db)) {
		/* Never acknowledged, so never kept. */
		(void)step_exec(sp, ST_ROLLBACK);
	}
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(sp->st[i]);
	}
	if (sp->db != NULL && sqlite3_close(sp->db) != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "close failed: %s", sqlite3_errmsg(sp->db));
	}
	free(sp);
}

/* ------------------------------------------------------------------------ */
/* Devices and invites */

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
	    (rc = bind_u64(sp, ST_INV_INSERT, 3, expires_at)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_INV_INSERT, 4, now)) != HALQA_OK ||
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

struct device_row {
	int found;
	int registered;
	int banned;
	uint64_t circles_created;
	uint64_t bytes_day;
	uint64_t bytes_today;
};

static int device_get(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], struct device_row *d)
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

static int device_insert(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int registered,
			 int banned, uint64_t now)
{
	int rc;

	if ((rc = bind_blob(sp, ST_DEV_INSERT, 1, device, SPOOL_KEY_LEN)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_DEV_INSERT, 2, registered)) != HALQA_OK ||
	    (rc = bind_i64(sp, ST_DEV_INSERT, 3, banned)) != HALQA_OK ||
	    (rc = bind_u64(sp, ST_DEV_INSERT, 4, now)) != HALQA_OK) {
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
	if ((rc = device_get(sp, device, &d)) != HALQA_OK) {
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
	if ((rc = device_get(sp, device, &d)) != HALQA_OK) {
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
	if ((rc = device_get(sp, device, &d)) != HALQA_OK) {
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

/* registered_device reads |device| and refuses unknown, unregistered and banned keys. */
static int registered_device(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
			     struct device_row *d)
{
	int rc = device_get(sp, device, d);

	if (rc != HALQA_OK) {
		return rc;
	}
	return d->found && d->registered && !d->banned ? HALQA_OK : HALQA_ERR_NOT_FOUND;
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
	if ((rc = registered_device(sp, device, &d)) != HALQA_OK) {
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
	if ((rc = registered_device(sp, device, &d)) != HALQA_OK) {
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

/* ------------------------------------------------------------------------ */
/* Circles */

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
	if ((rc = registered_device(sp, creator, &d)) != HALQA_OK) {
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
	    (rc = bind_u64(sp, ST_MSG_INSERT, 6, req->now)) != HALQA_OK ||
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
	    (rc = bind_u64(sp, ST_CUR_PUT, 4, now)) != HALQA_OK ||
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

/* ------------------------------------------------------------------------ */
/* Mailboxes */

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
	    (rc = bind_u64(sp, ST_MBI_INSERT, 2, now)) != HALQA_OK ||
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

/* ------------------------------------------------------------------------ */
/* Status figures */

/* stats_row runs a one-row query and reads up to three numeric columns. */
static int stats_row(struct spool *sp, enum st id, uint64_t *a, uint64_t *b, uint64_t *c)
{
	sqlite3_stmt *s = st_get(sp, id);
	uint64_t *outs[3] = {a, b, c};
	int rc, row = 0;

	if ((rc = step_row(sp, id, &row)) != HALQA_OK) {
		return rc;
	}
	if (!row) {
		return HALQA_ERR_INTERNAL;
	}
	for (int i = 0; i < 3; i++) {
		if (outs[i] != NULL) {
			/* total() returns a float; counts stay far below 2^53. */
			double v = sqlite3_column_double(s, i);

			*outs[i] = v > 0 ? (uint64_t)v : 0;
		}
	}
	st_done(sp, id);
	return HALQA_OK;
}

int spool_stats(struct spool *sp, struct spool_stats *out)
{
	struct spool_stats res;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&res, 0, sizeof res);
	if (sp == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = stats_row(sp, ST_STATS_DEV, &res.devices, &res.banned, NULL)) != HALQA_OK ||
	    (rc = stats_row(sp, ST_STATS_INV, &res.invites, NULL, NULL)) != HALQA_OK ||
	    (rc = stats_row(sp, ST_STATS_CIRCLES, &res.circles, &res.messages,
			    &res.message_bytes)) != HALQA_OK ||
	    (rc = stats_row(sp, ST_STATS_MB, &res.mailbox_items, &res.mailbox_bytes, NULL)) !=
		    HALQA_OK ||
	    (rc = stats_row(sp, ST_STATS_KP, &res.keypackages, NULL, NULL)) != HALQA_OK) {
		return rc;
	}
	*out = res;
	return HALQA_OK;
}
