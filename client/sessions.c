/*
 * sessions.c: the session state of a profile, kept in tables of our own in
 * the encrypted store, and the rules that need that state.
 *
 * Every payload here came from another member through MLS, so the sender
 * is authenticated but not trusted: the codec (session.c) already refused
 * malformed bytes; this file refuses what is well-formed but not allowed
 * (a non-facilitator's schedule, an edit of a session of another circle,
 * a replayed or older edit, a zone the tz database does not know, a
 * cancellation of a date that is no occurrence). Each apply runs in a
 * savepoint so a refusal leaves no row behind, and so it commits with the
 * engine's transaction when the engine calls us from inside one.
 *
 * Dates are stored as day numbers (days since 1970-01-01 of the local
 * date), local times as minutes since midnight; loading a row rebuilds the
 * schedule and checks its shape again (recur_check_stored), so a damaged
 * row is an error rather than a wrong calendar; its zone is resolved only
 * where a date is computed (recur_expand), so reading sessions back does
 * not load libical.
 *
 * Session-only retention works on time ranges: a message is session-only
 * when its sent_at lies within an occurrence of a session-only session of
 * its circle, the same rule on every member's client. When the occurrence
 * is over, store_message_delete_range removes the range (secure delete,
 * FTS optimize). A per-session high-water mark (swept_to) bounds each
 * sweep; session_cleared remembers which occurrences were done and
 * whether their notice was added.
 */
#include "halqa/sessions.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/log.h"
#include "halqa/recur.h"

#define DAY_S 86400

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS sessions(id BLOB PRIMARY KEY, circle BLOB NOT NULL,"
	" sequence INTEGER NOT NULL, title TEXT NOT NULL, start_utc INTEGER NOT NULL,"
	" zone TEXT NOT NULL, local_day INTEGER NOT NULL, local_minute INTEGER NOT NULL,"
	" duration_min INTEGER NOT NULL, freq INTEGER NOT NULL, interval_weeks INTEGER NOT NULL,"
	" end_kind INTEGER NOT NULL, until_day INTEGER NOT NULL, count INTEGER NOT NULL,"
	" agenda TEXT NOT NULL, session_only INTEGER NOT NULL,"
	" cancelled INTEGER NOT NULL DEFAULT 0, cancelled_at INTEGER NOT NULL DEFAULT 0,"
	" creator BLOB NOT NULL, editor BLOB NOT NULL, updated_at INTEGER NOT NULL,"
	" swept_to INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS sessions_by_circle ON sessions(circle, start_utc);"
	"CREATE TABLE IF NOT EXISTS session_cancelled(session BLOB NOT NULL,"
	" day INTEGER NOT NULL, PRIMARY KEY(session, day));"
	"CREATE TABLE IF NOT EXISTS session_rsvps(session BLOB NOT NULL, member BLOB NOT NULL,"
	" day INTEGER NOT NULL, answer INTEGER NOT NULL, note TEXT NOT NULL,"
	" sent_at INTEGER NOT NULL, PRIMARY KEY(session, member, day));"
	"CREATE TABLE IF NOT EXISTS session_shown(session BLOB NOT NULL, day INTEGER NOT NULL,"
	" kind INTEGER NOT NULL, shown_at INTEGER NOT NULL, PRIMARY KEY(session, day, kind));"
	"CREATE TABLE IF NOT EXISTS session_cleared(session BLOB NOT NULL, day INTEGER NOT NULL,"
	" deleted INTEGER NOT NULL, noticed INTEGER NOT NULL, PRIMARY KEY(session, day));"
	"CREATE TABLE IF NOT EXISTS session_members(circle BLOB NOT NULL, member BLOB NOT NULL,"
	" PRIMARY KEY(circle, member));";

static const char select_cols[] =
	"SELECT id, circle, sequence, title, start_utc, zone, local_day, local_minute,"
	" duration_min, freq, interval_weeks, end_kind, until_day, count, agenda, session_only,"
	" cancelled, creator, editor, updated_at FROM sessions";

static int map_rc(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return HALQA_OK;
	case SQLITE_NOMEM:
		return HALQA_ERR_NOMEM;
	case SQLITE_CONSTRAINT:
		return HALQA_ERR_EXISTS;
	default:
		halqa_log(HALQA_LOG_DEBUG, "sessions", "sqlite: %s", sqlite3_errmsg(db));
		return HALQA_ERR_IO;
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	return map_rc(db, sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	*out = NULL;
	return map_rc(db, sqlite3_prepare_v2(db, sql, -1, out, NULL));
}

/* step_done runs a statement that returns no row. */
static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc == SQLITE_ROW ? SQLITE_ERROR : rc);
}

/* Savepoints nest inside a caller's transaction (the engine's) and stand alone. */
static int sp_begin(sqlite3 *db)
{
	return exec(db, "SAVEPOINT sessions_op");
}

static int sp_end(sqlite3 *db, int r)
{
	if (r == HALQA_OK && (r = exec(db, "RELEASE sessions_op")) == HALQA_OK) {
		return r;
	}
	(void)exec(db, "ROLLBACK TO sessions_op");
	(void)exec(db, "RELEASE sessions_op");
	return r;
}

static int64_t day_of(const struct session_date *d)
{
	return session_days_from_civil(d->year, d->month, d->day);
}

/* date_of rebuilds a date from a stored day number; 0 if outside our years. */
static int date_of(int64_t days, struct session_date *out)
{
	int y;
	unsigned m, d;

	memset(out, 0, sizeof *out);
	if (days < session_days_from_civil(SESSION_YEAR_MIN, 1, 1) ||
	    days > session_days_from_civil(SESSION_YEAR_MAX, 12, 31)) {
		return 0;
	}
	session_civil_from_days(days, &y, &m, &d);
	out->year = (uint16_t)y;
	out->month = (uint8_t)m;
	out->day = (uint8_t)d;
	return 1;
}

void sessions_id_hex(char out[2 * SESSION_ID_LEN + 1], const uint8_t id[SESSION_ID_LEN])
{
	sodium_bin2hex(out, 2 * SESSION_ID_LEN + 1, id, SESSION_ID_LEN);
}

/* Schema 2 added session_members; a schema-1 profile gets it on first use. */
static const char schema_2_sql[] =
	"CREATE TABLE IF NOT EXISTS session_members(circle BLOB NOT NULL, member BLOB NOT NULL,"
	" PRIMARY KEY(circle, member));";

int sessions_init(struct store *s)
{
	sqlite3 *db = store_db(s);
	char v[16];
	const char *sql;
	int r;

	r = store_setting_get(s, SESSIONS_SETTING_SCHEMA, v, sizeof v);
	if (r == HALQA_OK && strcmp(v, "2") == 0) {
		return HALQA_OK;
	}
	if (r == HALQA_OK && strcmp(v, "1") == 0) {
		sql = schema_2_sql;
	} else if (r == HALQA_OK) {
		/* A newer client's tables: reading them with our rules could lose data. */
		return HALQA_ERR_UNSUPPORTED;
	} else if (r == HALQA_ERR_NOT_FOUND) {
		sql = schema_sql;
	} else {
		return r;
	}
	if ((r = sp_begin(db)) != HALQA_OK) {
		return r;
	}
	if ((r = exec(db, sql)) == HALQA_OK) {
		r = store_setting_set(s, SESSIONS_SETTING_SCHEMA, "2");
	}
	return sp_end(db, r);
}

static int copy_text(sqlite3_stmt *st, int col, char *out, size_t max)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (t == NULL || len > max) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(out, t, len);
	out[len] = '\0';
	return HALQA_OK;
}

static int copy_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
	if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
	    (size_t)sqlite3_column_bytes(st, col) != len) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(out, sqlite3_column_blob(st, col), len);
	return HALQA_OK;
}

/* entry_row rebuilds a session from a row of select_cols and checks it again. */
static int entry_row(sqlite3_stmt *st, struct sessions_entry *e)
{
	struct session_schedule *c = &e->sched;
	int64_t minute, v;
	int r;

	memset(e, 0, sizeof *e);
	if ((r = copy_blob(st, 0, c->id, SESSION_ID_LEN)) != HALQA_OK ||
	    (r = copy_blob(st, 1, e->circle_id, STORE_ID_LEN)) != HALQA_OK ||
	    (r = copy_text(st, 3, c->title, SESSION_TITLE_MAX)) != HALQA_OK ||
	    (r = copy_text(st, 5, c->zone, SESSION_ZONE_MAX)) != HALQA_OK ||
	    (r = copy_text(st, 14, c->agenda, SESSION_AGENDA_MAX)) != HALQA_OK ||
	    (r = copy_blob(st, 17, e->creator, ROSTER_KEY_LEN)) != HALQA_OK ||
	    (r = copy_blob(st, 18, e->editor, ROSTER_KEY_LEN)) != HALQA_OK) {
		return r;
	}
	v = sqlite3_column_int64(st, 2);
	if (v < 0 || v > UINT32_MAX) {
		return HALQA_ERR_MALFORMED;
	}
	c->sequence = (uint32_t)v;
	c->start_utc = sqlite3_column_int64(st, 4);
	minute = sqlite3_column_int64(st, 7);
	if (!date_of(sqlite3_column_int64(st, 6), &c->local.date) || minute < 0 ||
	    minute >= 24 * 60) {
		return HALQA_ERR_MALFORMED;
	}
	c->local.hour = (uint8_t)(minute / 60);
	c->local.minute = (uint8_t)(minute % 60);
	c->duration_min = (uint16_t)sqlite3_column_int(st, 8);
	c->freq = (uint8_t)sqlite3_column_int(st, 9);
	c->interval_weeks = (uint8_t)sqlite3_column_int(st, 10);
	c->end = (uint8_t)sqlite3_column_int(st, 11);
	if (c->end == SESSION_END_UNTIL && !date_of(sqlite3_column_int64(st, 12), &c->until)) {
		return HALQA_ERR_MALFORMED;
	}
	c->count = (uint16_t)sqlite3_column_int(st, 13);
	c->session_only = (uint8_t)(sqlite3_column_int(st, 15) != 0);
	e->cancelled = sqlite3_column_int(st, 16) != 0;
	e->updated_at = sqlite3_column_int64(st, 19);
	/*
	 * A malformed row is damage, not a calendar. Its zone is not looked
	 * up here (that loads libical): recur_check accepted it before it was
	 * stored, and recur_expand checks it again where a date is computed.
	 */
	return recur_check_stored(c) == HALQA_OK ? HALQA_OK : HALQA_ERR_MALFORMED;
}

static int load_cancelled(sqlite3 *db, struct sessions_entry *e)
{
	sqlite3_stmt *st = NULL;
	int r, rc;

	e->num_cancelled = 0;
	if ((r = prepare(db, "SELECT day FROM session_cancelled WHERE session = ? ORDER BY day",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, e->sched.id, SESSION_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (e->num_cancelled == SESSIONS_CANCELLED_MAX ||
		    !date_of(sqlite3_column_int64(st, 0), &e->cancelled_dates[e->num_cancelled])) {
			r = HALQA_ERR_MALFORMED;
			goto out;
		}
		e->num_cancelled++;
	}
	r = rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc);
out:
	sqlite3_finalize(st);
	return r;
}

static int get_entry(sqlite3 *db, const uint8_t id[SESSION_ID_LEN], struct sessions_entry *out)
{
	char sql[sizeof select_cols + 32];
	sqlite3_stmt *st = NULL;
	int r, rc;

	snprintf(sql, sizeof sql, "%s WHERE id = ?", select_cols);
	if ((r = prepare(db, sql, &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, SESSION_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = HALQA_ERR_NOT_FOUND;
	} else if (rc != SQLITE_ROW) {
		r = map_rc(db, rc);
	} else if ((r = entry_row(st, out)) == HALQA_OK) {
		r = load_cancelled(db, out);
	}
	sqlite3_finalize(st);
	return r;
}

int sessions_get(struct store *s, const uint8_t id[SESSION_ID_LEN], struct sessions_entry *out)
{
	int r;

	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	r = get_entry(store_db(s), id, out);
	if (r != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return r;
}

int sessions_occurrence_at(const struct sessions_entry *e, const struct session_date *date,
			   struct sessions_occurrence *out)
{
	struct recur_occurrence occ[4];
	struct session_wall w;
	int64_t t;
	size_t n = 0, i;

	memset(out, 0, sizeof *out);
	if (!session_date_valid(date)) {
		return HALQA_ERR_NOT_FOUND;
	}
	w = e->sched.local;
	w.date = *date;
	if (recur_resolve_local(&t, e->sched.zone, &w) != HALQA_OK) {
		return HALQA_ERR_NOT_FOUND;
	}
	/* A day either side covers any offset; cancelled dates are not excluded here. */
	if (recur_expand(occ, 4, &n, &e->sched, NULL, 0, t - DAY_S, t + DAY_S) != HALQA_OK) {
		return HALQA_ERR_NOT_FOUND;
	}
	for (i = 0; i < n; i++) {
		if (session_date_cmp(&occ[i].local_date, date) == 0) {
			memcpy(out->session_id, e->sched.id, SESSION_ID_LEN);
			memcpy(out->circle_id, e->circle_id, STORE_ID_LEN);
			memcpy(out->title, e->sched.title, sizeof out->title);
			memcpy(out->zone, e->sched.zone, sizeof out->zone);
			out->start_utc = occ[i].start_utc;
			out->end_utc = occ[i].end_utc;
			out->local_date = occ[i].local_date;
			out->session_only = e->sched.session_only;
			return HALQA_OK;
		}
	}
	return HALQA_ERR_NOT_FOUND;
}

/* bind_schedule binds the schedule columns, in the order of put_schedule's SQL (from 2). */
static void bind_schedule(sqlite3_stmt *st, const struct session_schedule *c)
{
	sqlite3_bind_int64(st, 2, c->sequence);
	sqlite3_bind_text(st, 3, c->title, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->start_utc);
	sqlite3_bind_text(st, 5, c->zone, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, day_of(&c->local.date));
	sqlite3_bind_int(st, 7, c->local.hour * 60 + c->local.minute);
	sqlite3_bind_int(st, 8, c->duration_min);
	sqlite3_bind_int(st, 9, c->freq);
	sqlite3_bind_int(st, 10, c->interval_weeks);
	sqlite3_bind_int(st, 11, c->end);
	sqlite3_bind_int64(st, 12, c->end == SESSION_END_UNTIL ? day_of(&c->until) : 0);
	sqlite3_bind_int(st, 13, c->count);
	sqlite3_bind_text(st, 14, c->agenda, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 15, c->session_only);
}

static int apply_schedule(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
			  const uint8_t sender[ROSTER_KEY_LEN], int64_t sent_at,
			  const struct session_schedule *c)
{
	struct sessions_entry *old = NULL;
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = recur_check(c)) != HALQA_OK) {
		return HALQA_ERR_INVALID;
	}
	if ((old = malloc(sizeof *old)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	r = get_entry(db, c->id, old);
	if (r == HALQA_OK) {
		/*
		 * A facilitator sends a circle's sessions again when members join
		 * (a newcomer never saw the first schedule): for those who have it,
		 * that is a no-op. The same id from another circle is refused.
		 */
		r = sodium_memcmp(old->circle_id, circle_id, STORE_ID_LEN) == 0 ? HALQA_OK
										 : HALQA_ERR_EXISTS;
		goto out;
	}
	if (r != HALQA_ERR_NOT_FOUND) {
		goto out;
	}
	if ((r = prepare(db,
			 "INSERT INTO sessions(id, sequence, title, start_utc, zone, local_day,"
			 " local_minute, duration_min, freq, interval_weeks, end_kind, until_day,"
			 " count, agenda, session_only, circle, creator, editor, updated_at)"
			 " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, c->id, SESSION_ID_LEN, SQLITE_STATIC);
	bind_schedule(st, c);
	sqlite3_bind_blob(st, 16, circle_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 17, sender, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 18, sender, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 19, sent_at);
	r = step_done(db, st);
out:
	sqlite3_finalize(st);
	free(old);
	return r;
}

/* own_entry loads session |id| if it belongs to |circle_id|; else NOT_FOUND. */
static int own_entry(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
		     const uint8_t id[SESSION_ID_LEN], struct sessions_entry *e)
{
	int r = get_entry(db, id, e);

	/* A facilitator of another circle must not reach this circle's sessions by id. */
	if (r == HALQA_OK && sodium_memcmp(e->circle_id, circle_id, STORE_ID_LEN) != 0) {
		r = HALQA_ERR_NOT_FOUND;
	}
	return r;
}

static int apply_edit(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
		      const uint8_t sender[ROSTER_KEY_LEN], int64_t sent_at,
		      const struct session_schedule *c, struct sessions_entry *old)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = own_entry(db, circle_id, c->id, old)) != HALQA_OK) {
		return r;
	}
	if (c->sequence <= old->sched.sequence) {
		return HALQA_ERR_STALE; /* a replay or an edit built on an older version */
	}
	if (old->cancelled) {
		return HALQA_ERR_INVALID;
	}
	if (recur_check(c) != HALQA_OK) {
		return HALQA_ERR_INVALID;
	}
	if ((r = prepare(db,
			 "UPDATE sessions SET sequence = ?2, title = ?3, start_utc = ?4, zone = ?5,"
			 " local_day = ?6, local_minute = ?7, duration_min = ?8, freq = ?9,"
			 " interval_weeks = ?10, end_kind = ?11, until_day = ?12, count = ?13,"
			 " agenda = ?14, session_only = ?15, editor = ?16, updated_at = ?17"
			 " WHERE id = ?1",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, c->id, SESSION_ID_LEN, SQLITE_STATIC);
	bind_schedule(st, c);
	sqlite3_bind_blob(st, 16, sender, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 17, sent_at);
	r = step_done(db, st);
	sqlite3_finalize(st);
	return r;
}

/*
 * own_live_entry loads session |id| of circle |circle_id| into |old| for a
 * cancel or an answer naming |occurrence| (unless |whole_series|):
 * HALQA_ERR_STALE if |sequence| (>= 0; -1: not versioned) is below the
 * stored one, HALQA_ERR_INVALID for a cancelled series or a date that is
 * no occurrence, own_entry's errors otherwise.
 */
static int own_live_entry(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
			  const uint8_t id[SESSION_ID_LEN], int64_t sequence, int whole_series,
			  const struct session_date *occurrence, struct sessions_entry *old)
{
	struct sessions_occurrence occ;
	int r;

	if ((r = own_entry(db, circle_id, id, old)) != HALQA_OK) {
		return r;
	}
	if (sequence >= 0 && sequence < (int64_t)old->sched.sequence) {
		return HALQA_ERR_STALE;
	}
	if (old->cancelled ||
	    (!whole_series && sessions_occurrence_at(old, occurrence, &occ) != HALQA_OK)) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

static int apply_cancel(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
			const uint8_t sender[ROSTER_KEY_LEN], int64_t sent_at,
			const struct session_cancel *c, struct sessions_entry *old)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = own_live_entry(db, circle_id, c->id, c->sequence, c->whole_series, &c->occurrence,
				old)) != HALQA_OK) {
		return r;
	}
	if (!c->whole_series) {
		if (old->num_cancelled >= SESSIONS_CANCELLED_MAX) {
			return HALQA_ERR_LIMIT;
		}
		if ((r = prepare(db,
				 "INSERT OR IGNORE INTO session_cancelled(session, day) VALUES(?, ?)",
				 &st)) != HALQA_OK) {
			return r;
		}
		sqlite3_bind_blob(st, 1, c->id, SESSION_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, day_of(&c->occurrence));
		if ((r = step_done(db, st)) != HALQA_OK) {
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if ((r = prepare(db,
			 "UPDATE sessions SET sequence = ?2, editor = ?3, updated_at = ?4,"
			 " cancelled = ?5, cancelled_at = ?6 WHERE id = ?1",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, c->id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->sequence);
	sqlite3_bind_blob(st, 3, sender, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, sent_at);
	sqlite3_bind_int(st, 5, c->whole_series ? 1 : 0);
	sqlite3_bind_int64(st, 6, c->whole_series ? sent_at : 0);
	r = step_done(db, st);
out:
	sqlite3_finalize(st);
	return r;
}

static int apply_rsvp(sqlite3 *db, const uint8_t circle_id[STORE_ID_LEN],
		      const uint8_t sender[ROSTER_KEY_LEN], int64_t sent_at,
		      const struct session_rsvp *a, struct sessions_entry *old)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = own_live_entry(db, circle_id, a->id, -1, a->whole_series, &a->occurrence, old)) !=
	    HALQA_OK) {
		return r;
	}
	/*
	 * The latest answer counts: an older one arriving late changes nothing.
	 * (SQLCipher's SQLite 3.15 has no UPSERT, hence the guarded REPLACE.)
	 */
	if ((r = prepare(db,
			 "INSERT OR REPLACE INTO session_rsvps(session, member, day, answer, note,"
			 " sent_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM"
			 " session_rsvps WHERE session = ?1 AND member = ?2 AND day = ?3 AND"
			 " sent_at > ?6)",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, a->id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, sender, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, a->whole_series ? 0 : day_of(&a->occurrence));
	sqlite3_bind_int(st, 4, a->answer);
	sqlite3_bind_text(st, 5, a->note, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, sent_at);
	r = step_done(db, st);
	sqlite3_finalize(st);
	return r;
}

int sessions_apply(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
		   const uint8_t sender[ROSTER_KEY_LEN], const struct roster *roster,
		   int64_t sent_at, const struct session_message *msg)
{
	struct sessions_entry *old = NULL;
	sqlite3 *db = store_db(s);
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	int r;

	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	switch (msg->kind) {
	case SESSION_KIND_SCHEDULE:
	case SESSION_KIND_EDIT:
	case SESSION_KIND_CANCEL:
		if (roster_may_schedule(roster, sender) != HALQA_OK) {
			return HALQA_ERR_DENIED;
		}
		break;
	case SESSION_KIND_RSVP:
		break;
	default:
		return HALQA_ERR_ARG;
	}
	/*
	 * The engine hands us what session_decode accepted; a caller with a
	 * struct of its own (our commands, a test) gets the same rules, since
	 * the encoder validates exactly as the decoder does.
	 */
	if ((r = session_encode(&enc, &enc_len, msg)) != HALQA_OK) {
		return r == HALQA_ERR_NOMEM ? r : HALQA_ERR_INVALID;
	}
	free(enc);
	if ((old = malloc(sizeof *old)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = sp_begin(db)) != HALQA_OK) {
		free(old);
		return r;
	}
	switch (msg->kind) {
	case SESSION_KIND_SCHEDULE:
		/* The codec allows sequence 0 only in a schedule; check anyway, it is cheap. */
		r = msg->u.schedule.sequence == 0
			    ? apply_schedule(db, circle_id, sender, sent_at, &msg->u.schedule)
			    : HALQA_ERR_INVALID;
		break;
	case SESSION_KIND_EDIT:
		r = apply_edit(db, circle_id, sender, sent_at, &msg->u.schedule, old);
		break;
	case SESSION_KIND_CANCEL:
		r = apply_cancel(db, circle_id, sender, sent_at, &msg->u.cancel, old);
		break;
	default:
		r = apply_rsvp(db, circle_id, sender, sent_at, &msg->u.rsvp, old);
		break;
	}
	r = sp_end(db, r);
	free(old);
	return r;
}

/* hex_lower normalises a hex prefix; 0 if it is not 1..32 hex digits. */
static int hex_lower(char out[2 * SESSION_ID_LEN + 1], const char *in)
{
	size_t i, len = strnlen(in, 2 * SESSION_ID_LEN + 1);

	if (len == 0 || len > 2 * SESSION_ID_LEN) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char ch = in[i];

		if (ch >= 'A' && ch <= 'F') {
			ch = (char)(ch - 'A' + 'a');
		}
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			return 0;
		}
		out[i] = ch;
	}
	out[len] = '\0';
	return 1;
}

int sessions_resolve(struct store *s, const char *prefix, uint8_t out[SESSION_ID_LEN])
{
	char want[2 * SESSION_ID_LEN + 1], hex[2 * SESSION_ID_LEN + 1];
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	size_t found = 0, len;
	int r, rc;

	memset(out, 0, SESSION_ID_LEN);
	if (!hex_lower(want, prefix)) {
		return HALQA_ERR_ARG;
	}
	len = strlen(want);
	if ((r = sessions_init(s)) != HALQA_OK ||
	    (r = prepare(db, "SELECT id FROM sessions", &st)) != HALQA_OK) {
		return r;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t id[SESSION_ID_LEN];

		if (copy_blob(st, 0, id, SESSION_ID_LEN) != HALQA_OK) {
			continue;
		}
		sessions_id_hex(hex, id);
		if (memcmp(hex, want, len) == 0) {
			if (found++ == 0) {
				memcpy(out, id, SESSION_ID_LEN);
			}
		}
	}
	r = rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc);
	sqlite3_finalize(st);
	if (r == HALQA_OK && found != 1) {
		r = found == 0 ? HALQA_ERR_NOT_FOUND : HALQA_ERR_EXISTS;
	}
	if (r != HALQA_OK) {
		memset(out, 0, SESSION_ID_LEN);
	}
	return r;
}

int sessions_list(struct store *s, const uint8_t *circle_id, struct sessions_entry **out,
		  size_t *num_out)
{
	char sql[sizeof select_cols + 64];
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	struct sessions_entry *items = NULL, *grown;
	size_t n = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*num_out = 0;
	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	snprintf(sql, sizeof sql, "%s%s ORDER BY start_utc, id", select_cols,
		 circle_id != NULL ? " WHERE circle = ?" : "");
	if ((r = prepare(db, sql, &st)) != HALQA_OK) {
		return r;
	}
	if (circle_id != NULL) {
		sqlite3_bind_blob(st, 1, circle_id, STORE_ID_LEN, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == SESSIONS_LIST_MAX) {
			r = HALQA_ERR_LIMIT;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = realloc(items, cap * sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				goto out;
			}
			items = grown;
		}
		if ((r = entry_row(st, &items[n])) != HALQA_OK ||
		    (r = load_cancelled(db, &items[n])) != HALQA_OK) {
			goto out;
		}
		n++;
	}
	r = rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc);
out:
	sqlite3_finalize(st);
	if (r != HALQA_OK || n == 0) {
		free(items);
		return r;
	}
	*out = items;
	*num_out = n;
	return HALQA_OK;
}

int sessions_rsvps(struct store *s, const uint8_t id[SESSION_ID_LEN], struct sessions_rsvp **out,
		   size_t *num_out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	struct sessions_rsvp *items = NULL, *grown;
	size_t n = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*num_out = 0;
	if ((r = sessions_init(s)) != HALQA_OK ||
	    (r = prepare(db,
			 "SELECT member, day, answer, note, sent_at FROM session_rsvps"
			 " WHERE session = ? ORDER BY day, member",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, SESSION_ID_LEN, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sessions_rsvp *a;
		int64_t day = sqlite3_column_int64(st, 1);

		/* Thirty members times a few hundred occurrences is the most a circle makes. */
		if (n == 100000) {
			r = HALQA_ERR_LIMIT;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(items, cap * sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				goto out;
			}
			items = grown;
		}
		a = &items[n];
		memset(a, 0, sizeof *a);
		if ((r = copy_blob(st, 0, a->member, ROSTER_KEY_LEN)) != HALQA_OK ||
		    (r = copy_text(st, 3, a->note, SESSION_NOTE_MAX)) != HALQA_OK) {
			goto out;
		}
		a->whole_series = day == 0;
		if (day != 0 && !date_of(day, &a->occurrence)) {
			r = HALQA_ERR_MALFORMED;
			goto out;
		}
		a->answer = (uint8_t)sqlite3_column_int(st, 2);
		a->sent_at = sqlite3_column_int64(st, 4);
		n++;
	}
	r = rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc);
out:
	sqlite3_finalize(st);
	if (r != HALQA_OK || n == 0) {
		free(items);
		return r;
	}
	*out = items;
	*num_out = n;
	return HALQA_OK;
}

int sessions_answer(struct store *s, const uint8_t id[SESSION_ID_LEN],
		    const uint8_t member[ROSTER_KEY_LEN], const struct session_date *date,
		    uint8_t *out)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int r, rc;

	*out = 0;
	if ((r = sessions_init(s)) != HALQA_OK ||
	    (r = prepare(db,
			 "SELECT answer FROM session_rsvps WHERE session = ? AND member = ?"
			 " AND day IN (0, ?) ORDER BY day DESC LIMIT 1",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, member, ROSTER_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, day_of(date));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int a = sqlite3_column_int(st, 0);

		*out = (uint8_t)(a >= SESSION_ANSWER_YES && a <= SESSION_ANSWER_MAYBE ? a : 0);
		r = HALQA_OK;
	} else {
		r = rc == SQLITE_DONE ? HALQA_OK : map_rc(db, rc);
	}
	sqlite3_finalize(st);
	return r;
}

static int occ_cmp(const void *a, const void *b)
{
	const struct sessions_occurrence *x = a, *y = b;

	if (x->start_utc != y->start_utc) {
		return x->start_utc < y->start_utc ? -1 : 1;
	}
	return memcmp(x->session_id, y->session_id, SESSION_ID_LEN);
}

#define UPCOMING_HARD_MAX 10000

int sessions_upcoming(struct store *s, const uint8_t *circle_id, const uint8_t me[ROSTER_KEY_LEN],
		      int64_t from, int64_t to, size_t max, struct sessions_occurrence **out,
		      size_t *num_out)
{
	struct sessions_entry *list = NULL;
	struct sessions_occurrence *items = NULL;
	struct recur_occurrence *occ = NULL;
	size_t num_list = 0, n = 0, i, j, got;
	int r;

	*out = NULL;
	*num_out = 0;
	if (max == 0 || max > UPCOMING_HARD_MAX || from > to) {
		return HALQA_ERR_ARG;
	}
	if ((r = sessions_list(s, circle_id, &list, &num_list)) != HALQA_OK) {
		return r;
	}
	items = calloc(max, sizeof *items);
	occ = calloc(max + 1, sizeof *occ);
	if (items == NULL || occ == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < num_list; i++) {
		const struct sessions_entry *e = &list[i];

		if (e->cancelled) {
			continue;
		}
		r = recur_expand(occ, max + 1 - n, &got, &e->sched, e->cancelled_dates,
				 e->num_cancelled, from, to);
		if (r == HALQA_ERR_LIMIT || (r == HALQA_OK && n + got > max)) {
			r = HALQA_ERR_LIMIT;
			goto out;
		}
		if (r != HALQA_OK) {
			goto out;
		}
		for (j = 0; j < got; j++, n++) {
			struct sessions_occurrence *o = &items[n];

			memcpy(o->session_id, e->sched.id, SESSION_ID_LEN);
			memcpy(o->circle_id, e->circle_id, STORE_ID_LEN);
			memcpy(o->title, e->sched.title, sizeof o->title);
			memcpy(o->zone, e->sched.zone, sizeof o->zone);
			o->start_utc = occ[j].start_utc;
			o->end_utc = occ[j].end_utc;
			o->local_date = occ[j].local_date;
			o->session_only = e->sched.session_only;
			if (me != NULL &&
			    (r = sessions_answer(s, e->sched.id, me, &o->local_date,
						 &o->my_answer)) != HALQA_OK) {
				goto out;
			}
		}
	}
	qsort(items, n, sizeof *items, occ_cmp);
	r = HALQA_OK;
out:
	free(list);
	free(occ);
	if (r != HALQA_OK || n == 0) {
		free(items);
		return r;
	}
	*out = items;
	*num_out = n;
	return HALQA_OK;
}

/* add_notice adds the local "cleared" notice at the occurrence's end. */
static int add_notice(struct store *s, const uint8_t circle_id[STORE_ID_LEN], int64_t at_ms,
		      int64_t now_ms)
{
	struct store_message m;
	char body[] = SESSIONS_NOTICE_TEXT;

	memset(&m, 0, sizeof m);
	memcpy(m.circle_id, circle_id, STORE_ID_LEN);
	randombytes_buf(m.msg_id, sizeof m.msg_id);
	m.sent_at = at_ms;
	m.received_at = now_ms;
	m.flags = SESSIONS_MSG_NOTICE;
	m.body = body;
	return store_message_add(s, &m, NULL);
}

/*
 * clear_occurrence deletes the messages of one ended occurrence and adds
 * the notice once (if anything was deleted, now or in an earlier clear).
 */
static int clear_occurrence(struct store *s, const struct sessions_entry *e,
			    const struct recur_occurrence *o, int64_t now_ms, size_t *out_num)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	size_t num = 0;
	int64_t prev_deleted = 0;
	int noticed = 0, r, rc;

	if ((r = store_message_delete_range(s, e->circle_id, o->start_utc * 1000,
					    o->end_utc * 1000, &num)) != HALQA_OK) {
		return r;
	}
	if ((r = prepare(db, "SELECT deleted, noticed FROM session_cleared WHERE session = ? AND day = ?",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, e->sched.id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, day_of(&o->local_date));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		prev_deleted = sqlite3_column_int64(st, 0);
		noticed = sqlite3_column_int(st, 1) != 0;
	} else if (rc != SQLITE_DONE) {
		r = map_rc(db, rc);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (r != HALQA_OK) {
		return r;
	}
	if (num > 0 && !noticed) {
		if ((r = add_notice(s, e->circle_id, o->end_utc * 1000, now_ms)) != HALQA_OK) {
			return r;
		}
		noticed = 1;
	}
	if ((r = prepare(db,
			 "INSERT OR REPLACE INTO session_cleared(session, day, deleted, noticed)"
			 " VALUES(?, ?, ?, ?)",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, e->sched.id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, day_of(&o->local_date));
	sqlite3_bind_int64(st, 3, prev_deleted + (int64_t)num);
	sqlite3_bind_int(st, 4, noticed);
	r = step_done(db, st);
	sqlite3_finalize(st);
	if (r == HALQA_OK && out_num != NULL) {
		*out_num = num;
	}
	return r;
}

#define SWEEP_BATCH 64

/* sweep clears the ended occurrences of |e| between its high-water mark and |now_ms|. */
static int sweep(struct store *s, const struct sessions_entry *e, int64_t swept_to,
		 int64_t cancelled_at, int64_t now_ms, size_t *cleared)
{
	struct recur_occurrence occ[SWEEP_BATCH];
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int64_t now_s = now_ms / 1000, limit = now_s, from;
	size_t n, i;
	int r;

	if (e->cancelled && cancelled_at / 1000 < limit) {
		limit = cancelled_at / 1000; /* nothing after the series was called off */
	}
	/* Occurrences that ended after the last sweep; one longest duration of slack. */
	from = swept_to - (int64_t)SESSION_DURATION_MAX * 60;
	if (from < e->sched.start_utc) {
		from = e->sched.start_utc;
	}
	while (from < limit) {
		int64_t next = from;

		r = recur_expand(occ, SWEEP_BATCH, &n, &e->sched, e->cancelled_dates,
				 e->num_cancelled, from, limit);
		if (r != HALQA_OK && r != HALQA_ERR_LIMIT) {
			return r;
		}
		for (i = 0; i < n; i++) {
			if (occ[i].end_utc <= now_s) {
				size_t num = 0;
				int rr = clear_occurrence(s, e, &occ[i], now_ms, &num);

				if (rr != HALQA_OK) {
					return rr;
				}
				*cleared += num > 0;
			}
			next = occ[i].start_utc + 1;
		}
		if (r == HALQA_OK) {
			break;
		}
		from = next;
	}
	if ((r = prepare(db, "UPDATE sessions SET swept_to = ? WHERE id = ?", &st)) != HALQA_OK) {
		return r;
	}
	/* A running occurrence is not done: the next sweep starts at or before its start. */
	sqlite3_bind_int64(st, 1, now_s);
	sqlite3_bind_blob(st, 2, e->sched.id, SESSION_ID_LEN, SQLITE_STATIC);
	r = step_done(db, st);
	sqlite3_finalize(st);
	return r;
}

/* A sweep's due sessions, read before any is changed. */
struct due {
	uint8_t id[SESSION_ID_LEN];
	int64_t swept_to;
	int64_t cancelled_at;
};

static int due_sessions(sqlite3 *db, int64_t now_s, struct due **out, size_t *num_out)
{
	sqlite3_stmt *st = NULL;
	struct due *items = NULL, *grown;
	size_t n = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*num_out = 0;
	if ((r = prepare(db,
			 "SELECT id, swept_to, cancelled_at FROM sessions WHERE session_only = 1"
			 " AND swept_to < ?",
			 &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_int64(st, 1, now_s);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == SESSIONS_LIST_MAX) {
			break; /* the rest waits for the next run */
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = realloc(items, cap * sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				goto out;
			}
			items = grown;
		}
		if ((r = copy_blob(st, 0, items[n].id, SESSION_ID_LEN)) != HALQA_OK) {
			goto out;
		}
		items[n].swept_to = sqlite3_column_int64(st, 1);
		items[n].cancelled_at = sqlite3_column_int64(st, 2);
		n++;
	}
	r = rc == SQLITE_DONE || rc == SQLITE_ROW ? HALQA_OK : map_rc(db, rc);
out:
	sqlite3_finalize(st);
	if (r != HALQA_OK) {
		free(items);
		return r;
	}
	*out = items;
	*num_out = n;
	return HALQA_OK;
}

int sessions_retention_run(struct store *s, int64_t now_ms, size_t *out_cleared)
{
	sqlite3 *db = store_db(s);
	struct sessions_entry *e = NULL;
	struct due *due = NULL;
	size_t cleared = 0, num = 0, i;
	int r;

	if (out_cleared != NULL) {
		*out_cleared = 0;
	}
	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	if ((e = malloc(sizeof *e)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = sp_begin(db)) != HALQA_OK) {
		free(e);
		return r;
	}
	if ((r = due_sessions(db, now_ms / 1000, &due, &num)) != HALQA_OK) {
		goto out;
	}
	for (i = 0; i < num; i++) {
		if ((r = get_entry(db, due[i].id, e)) != HALQA_OK ||
		    (r = sweep(s, e, due[i].swept_to, due[i].cancelled_at, now_ms, &cleared)) !=
			    HALQA_OK) {
			goto out;
		}
	}
out:
	r = sp_end(db, r);
	free(due);
	free(e);
	if (r == HALQA_OK && out_cleared != NULL) {
		*out_cleared = cleared;
	}
	return r;
}

int sessions_message_arrived(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
			     int64_t sent_at, int64_t now_ms, int *out_state)
{
	struct sessions_entry *list = NULL;
	struct recur_occurrence occ[4];
	size_t num = 0, i, j, n;
	int64_t t = sent_at / 1000;
	int state = SESSIONS_MSG_NORMAL, r;
	sqlite3 *db = store_db(s);

	*out_state = SESSIONS_MSG_NORMAL;
	if (sent_at < SESSION_UTC_MIN * 1000 || sent_at > SESSION_UTC_MAX * 1000) {
		return HALQA_OK; /* outside any session's years */
	}
	if ((r = sessions_list(s, circle_id, &list, &num)) != HALQA_OK) {
		return r;
	}
	if ((r = sp_begin(db)) != HALQA_OK) {
		free(list);
		return r;
	}
	for (i = 0; i < num && state != SESSIONS_MSG_DELETED; i++) {
		const struct sessions_entry *e = &list[i];

		if (!e->sched.session_only || (e->cancelled && e->updated_at <= sent_at)) {
			continue;
		}
		r = recur_expand(occ, 4, &n, &e->sched, e->cancelled_dates, e->num_cancelled, t,
				 t + 1);
		if (r != HALQA_OK && r != HALQA_ERR_LIMIT) {
			goto out;
		}
		r = HALQA_OK;
		for (j = 0; j < n; j++) {
			if (sent_at < occ[j].start_utc * 1000 || sent_at >= occ[j].end_utc * 1000) {
				continue;
			}
			if (occ[j].end_utc * 1000 <= now_ms) {
				/* Over already: a late arrival is deleted, never kept. */
				if ((r = clear_occurrence(s, e, &occ[j], now_ms, NULL)) != HALQA_OK) {
					goto out;
				}
				state = SESSIONS_MSG_DELETED;
				break;
			}
			state = SESSIONS_MSG_SESSION_ONLY;
		}
	}
	r = HALQA_OK;
out:
	r = sp_end(db, r);
	free(list);
	if (r == HALQA_OK) {
		*out_state = state;
	}
	return r;
}

int sessions_members_newcomers(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
			       const uint8_t (*members)[ROSTER_KEY_LEN], size_t num_members,
			       size_t *out_num)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	size_t i, n = 0;
	int r, rc;

	*out_num = 0;
	if ((r = sessions_init(s)) != HALQA_OK ||
	    (r = prepare(db, "SELECT 1 FROM session_members WHERE circle = ? AND member = ?",
			 &st)) != HALQA_OK) {
		return r;
	}
	for (i = 0; i < num_members; i++) {
		sqlite3_reset(st);
		sqlite3_bind_blob(st, 1, circle_id, STORE_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, members[i], ROSTER_KEY_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			n++;
		} else if (rc != SQLITE_ROW) {
			r = map_rc(db, rc);
			break;
		}
	}
	sqlite3_finalize(st);
	if (r == HALQA_OK) {
		*out_num = n;
	}
	return r;
}

int sessions_members_record(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
			    const uint8_t (*members)[ROSTER_KEY_LEN], size_t num_members)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	size_t i;
	int r;

	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	if ((r = sp_begin(db)) != HALQA_OK) {
		return r;
	}
	/* The set is replaced: a member who left and comes back is a newcomer again. */
	if ((r = prepare(db, "DELETE FROM session_members WHERE circle = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, circle_id, STORE_ID_LEN, SQLITE_STATIC);
	if ((r = step_done(db, st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((r = prepare(db, "INSERT OR IGNORE INTO session_members(circle, member) VALUES(?, ?)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	for (i = 0; i < num_members && r == HALQA_OK; i++) {
		sqlite3_reset(st);
		sqlite3_bind_blob(st, 1, circle_id, STORE_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, members[i], ROSTER_KEY_LEN, SQLITE_STATIC);
		r = step_done(db, st);
	}
out:
	sqlite3_finalize(st);
	return sp_end(db, r);
}
