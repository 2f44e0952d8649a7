/*
 * agenda.c: reminders and start/end announcements due now.
 *
 * The occurrences come from sessions_upcoming over a window around |now|
 * wide enough for the lead time and the end grace; each candidate is then
 * tested against the rules in agenda.h and against session_shown (a table
 * sessions_init creates), so every item is shown once per profile however
 * many times and by whichever program the agenda is asked for.
 */
#include "halqa/agenda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlcipher/sqlite3.h>

int agenda_remind_minutes(struct store *s, unsigned *out)
{
	char v[16], *end = NULL;
	unsigned long m;
	int r;

	*out = SESSIONS_REMIND_DEFAULT;
	r = store_setting_get(s, SESSIONS_SETTING_REMIND, v, sizeof v);
	if (r == HALQA_ERR_NOT_FOUND) {
		return HALQA_OK;
	}
	if (r == HALQA_ERR_TOO_LARGE) {
		return HALQA_ERR_MALFORMED;
	}
	if (r != HALQA_OK) {
		return r;
	}
	if (v[0] < '0' || v[0] > '9') {
		return HALQA_ERR_MALFORMED;
	}
	m = strtoul(v, &end, 10);
	if (*end != '\0' || m > SESSIONS_REMIND_MAX) {
		return HALQA_ERR_MALFORMED;
	}
	*out = (unsigned)m;
	return HALQA_OK;
}

int agenda_set_remind_minutes(struct store *s, unsigned minutes)
{
	char v[16];

	if (minutes > SESSIONS_REMIND_MAX) {
		return HALQA_ERR_ARG;
	}
	snprintf(v, sizeof v, "%u", minutes);
	return store_setting_set(s, SESSIONS_SETTING_REMIND, v);
}

static int64_t occ_day(const struct sessions_occurrence *o)
{
	return session_days_from_civil(o->local_date.year, o->local_date.month, o->local_date.day);
}

/* shown says in |*out| whether |kind| of occurrence |o| was shown already. */
static int shown(sqlite3 *db, const struct sessions_occurrence *o, int kind, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*out = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 FROM session_shown WHERE session = ? AND day = ? AND"
			       " kind = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		return HALQA_ERR_IO;
	}
	sqlite3_bind_blob(st, 1, o->session_id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, occ_day(o));
	sqlite3_bind_int(st, 3, kind);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return HALQA_ERR_IO;
	}
	*out = rc == SQLITE_ROW;
	return HALQA_OK;
}

int agenda_due(struct store *s, const uint8_t me[ROSTER_KEY_LEN], int64_t now,
	       struct agenda_item **out, size_t *num_out)
{
	struct sessions_occurrence *occ = NULL;
	struct agenda_item *items = NULL;
	size_t num_occ = 0, n = 0, i;
	unsigned lead = 0;
	int r;

	*out = NULL;
	*num_out = 0;
	if ((r = sessions_init(s)) != HALQA_OK || (r = agenda_remind_minutes(s, &lead)) != HALQA_OK) {
		return r;
	}
	/* Anything that ended within the grace, or starts within the lead time. */
	r = sessions_upcoming(s, NULL, me, now - AGENDA_END_GRACE_S, now + (int64_t)lead * 60 + 1,
			      AGENDA_MAX, &occ, &num_occ);
	if (r != HALQA_OK) {
		return r;
	}
	if (num_occ > 0 && (items = calloc(num_occ, sizeof *items)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < num_occ; i++) {
		const struct sessions_occurrence *o = &occ[i];
		int kind = 0, was;

		if (lead > 0 && o->start_utc - (int64_t)lead * 60 <= now && now < o->start_utc &&
		    o->my_answer != SESSION_ANSWER_NO) {
			kind = AGENDA_REMIND;
		} else if (o->start_utc <= now && now < o->end_utc) {
			kind = AGENDA_START;
		} else if (o->end_utc <= now && now < o->end_utc + AGENDA_END_GRACE_S) {
			kind = AGENDA_END;
		}
		if (kind == 0) {
			continue;
		}
		if ((r = shown(store_db(s), o, kind, &was)) != HALQA_OK) {
			goto out;
		}
		if (!was) {
			items[n].kind = kind;
			items[n].occ = *o;
			n++;
		}
	}
	r = HALQA_OK;
out:
	free(occ);
	if (r != HALQA_OK || n == 0) {
		free(items);
		return r;
	}
	*out = items;
	*num_out = n;
	return HALQA_OK;
}

int agenda_mark_shown(struct store *s, const struct agenda_item *item, int64_t now)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int r, rc;

	if ((r = sessions_init(s)) != HALQA_OK) {
		return r;
	}
	if (sqlite3_prepare_v2(db,
			       "INSERT OR IGNORE INTO session_shown(session, day, kind, shown_at)"
			       " VALUES(?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK) {
		return HALQA_ERR_IO;
	}
	sqlite3_bind_blob(st, 1, item->occ.session_id, SESSION_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, occ_day(&item->occ));
	sqlite3_bind_int(st, 3, item->kind);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? HALQA_OK : HALQA_ERR_IO;
}
