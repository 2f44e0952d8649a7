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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool_int.h"
#include "spool_schema.h"

const char *const spool_st_sql[ST_COUNT] = {
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

void spool_inject_commit_delay(struct spool *sp, unsigned ms)
{
	if (sp != NULL) {
		sp->delay_commit_ms = ms;
	}
}

static int commit_hook(void *arg)
{
	struct spool *sp = arg;

	if (sp->delay_commit_ms > 0) {
		struct timespec pause = {(time_t)(sp->delay_commit_ms / 1000),
					 (long)(sp->delay_commit_ms % 1000) * 1000000L};

		sp->delay_commit_ms = 0;
		while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
		}
	}
	if (sp->fail_commits > 0) {
		sp->fail_commits--;
		return 1; /* turns this COMMIT into a ROLLBACK */
	}
	return 0;
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

int spool_limits_set(struct spool *sp, const struct spool_limits *limits)
{
	struct spool_limits lim;
	int rc;

	if (sp == NULL || limits == NULL) {
		return HALQA_ERR_ARG;
	}
	lim = *limits;
	if ((rc = fill_limits(&lim)) != HALQA_OK) {
		return rc;
	}
	sp->lim = lim;
	sqlite3_busy_timeout(sp->db, (int)sp->lim.busy_timeout_ms);
	return HALQA_OK;
}

/*
 * prepare_file creates the database file with mode 0600 before SQLite sees
 * it (SQLite would use 0644 minus umask, and gives the -wal and -shm files
 * the main file's mode), and narrows the mode of an existing file. Its
 * close() drops every POSIX lock this process holds on the file: harmless
 * only while no connection of ours has the file open (spool.h, spool_open).
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
		if ((src = sqlite3_prepare_v2(sp->db, spool_st_sql[i], -1, &sp->st[i], NULL)) !=
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
	spool_checkpoints_stop(sp);
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
