/*
 * checkin_log.c: the check-in tags of stored messages (checkin_log.h).
 *
 * The engine stores a chat message's text and nothing else of its
 * payload, so the round an answer belongs to is kept beside it here,
 * keyed by (circle, message id) as the store keys messages, with the
 * round's question from its OPEN step. INSERT OR IGNORE makes the first
 * word final: a replayed or later OPEN cannot rewrite a question that was
 * shown, and a message keeps the tag it arrived with.
 */
#include "halqa/checkin_log.h"

#include <string.h>

#include <sqlcipher/sqlite3.h>

#include "halqa/log.h"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS checkin_rounds(circle BLOB NOT NULL, round BLOB NOT NULL,"
	" opener BLOB NOT NULL, question TEXT NOT NULL, opened_at INTEGER NOT NULL,"
	" PRIMARY KEY(circle, round));"
	"CREATE TABLE IF NOT EXISTS checkin_answers(circle BLOB NOT NULL, msg BLOB NOT NULL,"
	" round BLOB NOT NULL, PRIMARY KEY(circle, msg));";

/* db_err turns a failed SQLite call's |rc| into ours (the detail only to the debug log). */
static int db_err(sqlite3 *db, int rc)
{
	halqa_log(HALQA_LOG_DEBUG, "checkin", "sqlite: %s", sqlite3_errmsg(db));
	return (rc & 0xff) == SQLITE_NOMEM ? HALQA_ERR_NOMEM : HALQA_ERR_IO;
}

int checkin_log_init(struct store *s)
{
	sqlite3 *db = store_db(s);
	char v[16];
	int r, rc;

	r = store_setting_get(s, CHECKIN_LOG_SETTING_SCHEMA, v, sizeof v);
	if (r == HALQA_OK) {
		/* A newer client's tables: writing them with our rules could lose data. */
		return strcmp(v, CHECKIN_LOG_SCHEMA_VERSION) == 0 ? HALQA_OK : HALQA_ERR_UNSUPPORTED;
	}
	if (r != HALQA_ERR_NOT_FOUND) {
		return r;
	}
	if ((rc = sqlite3_exec(db, "SAVEPOINT checkin_init", NULL, NULL, NULL)) != SQLITE_OK) {
		return db_err(db, rc);
	}
	if ((rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK) {
		r = db_err(db, rc);
	} else {
		r = store_setting_set(s, CHECKIN_LOG_SETTING_SCHEMA, CHECKIN_LOG_SCHEMA_VERSION);
	}
	if (r == HALQA_OK) {
		rc = sqlite3_exec(db, "RELEASE checkin_init", NULL, NULL, NULL);
		return rc == SQLITE_OK ? HALQA_OK : db_err(db, rc);
	}
	(void)sqlite3_exec(db, "ROLLBACK TO checkin_init; RELEASE checkin_init", NULL, NULL, NULL);
	return r;
}

/* insert runs one INSERT OR IGNORE of |num| blobs and optionally a text and an integer. */
static int insert(struct store *s, const char *sql, const void *const *blobs, const int *lens,
		  int num, const char *text, int64_t num_val)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int r, i;

	if ((r = checkin_log_init(s)) != HALQA_OK) {
		return r;
	}
	if ((r = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK) {
		return db_err(db, r);
	}
	for (i = 0; i < num; i++) {
		sqlite3_bind_blob(st, i + 1, blobs[i], lens[i], SQLITE_STATIC);
	}
	if (text != NULL) {
		sqlite3_bind_text(st, i + 1, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, i + 2, num_val);
	}
	r = sqlite3_step(st);
	r = r == SQLITE_DONE ? HALQA_OK : db_err(db, r);
	sqlite3_finalize(st);
	return r;
}

int checkin_log_round(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
		      const uint8_t round_id[SESSION_ROUND_ID_LEN],
		      const uint8_t opener[SESSION_MEMBER_KEY_LEN], const char *question,
		      int64_t opened_at)
{
	const void *blobs[3] = {circle_id, round_id, opener};
	const int lens[3] = {STORE_ID_LEN, SESSION_ROUND_ID_LEN, SESSION_MEMBER_KEY_LEN};
	size_t len;

	if (question == NULL) {
		return HALQA_ERR_ARG;
	}
	len = strnlen(question, SESSION_QUESTION_MAX + 1);
	if (len > SESSION_QUESTION_MAX || !session_utf8_valid(question, len, 1)) {
		return HALQA_ERR_INVALID;
	}
	return insert(s,
		      "INSERT OR IGNORE INTO checkin_rounds(circle, round, opener, question,"
		      " opened_at) VALUES(?, ?, ?, ?, ?)",
		      blobs, lens, 3, question, opened_at);
}

int checkin_log_answer(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
		       const uint8_t msg_id[STORE_ID_LEN],
		       const uint8_t round_id[SESSION_ROUND_ID_LEN])
{
	const void *blobs[3] = {circle_id, msg_id, round_id};
	const int lens[3] = {STORE_ID_LEN, STORE_ID_LEN, SESSION_ROUND_ID_LEN};

	return insert(s, "INSERT OR IGNORE INTO checkin_answers(circle, msg, round) VALUES(?, ?, ?)",
		      blobs, lens, 3, NULL, 0);
}

int checkin_log_get(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
		    const uint8_t msg_id[STORE_ID_LEN], struct checkin_log_round *out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	const unsigned char *q;
	int r, rc;

	memset(out, 0, sizeof *out);
	if ((r = checkin_log_init(s)) != HALQA_OK) {
		return r;
	}
	if ((rc = sqlite3_prepare_v2(db,
				     "SELECT a.round, r.opener, r.question, r.opened_at FROM "
				     "checkin_answers a LEFT JOIN checkin_rounds r ON r.circle = "
				     "a.circle AND r.round = a.round WHERE a.circle = ? AND a.msg = ?",
				     -1, &st, NULL)) != SQLITE_OK) {
		return db_err(db, rc);
	}
	sqlite3_bind_blob(st, 1, circle_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, msg_id, STORE_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_err(db, rc);
		goto out;
	}
	/* Rows are ours, but a damaged store must give an error, not a wrong grouping. */
	if (sqlite3_column_bytes(st, 0) != SESSION_ROUND_ID_LEN) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	memcpy(out->round_id, sqlite3_column_blob(st, 0), SESSION_ROUND_ID_LEN);
	r = HALQA_OK;
	if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
		goto out;
	}
	q = sqlite3_column_text(st, 2);
	if (sqlite3_column_bytes(st, 1) != SESSION_MEMBER_KEY_LEN || q == NULL ||
	    (size_t)sqlite3_column_bytes(st, 2) > SESSION_QUESTION_MAX) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	out->known = true;
	memcpy(out->opener, sqlite3_column_blob(st, 1), SESSION_MEMBER_KEY_LEN);
	memcpy(out->question, q, (size_t)sqlite3_column_bytes(st, 2));
	out->question[sqlite3_column_bytes(st, 2)] = '\0';
	out->opened_at = sqlite3_column_int64(st, 3);
out:
	sqlite3_finalize(st);
	if (r != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return r;
}
