/*
 * test_sessions.c: the session state on a real store: each payload kind
 * applied and refused (forged facilitator, unknown or foreign session,
 * stale edit, absurd fields, dates that are no occurrence), nothing
 * stored on refusal, RSVP ordering, id prefixes, listings, and
 * session-only retention (deletion after the end, the notice, the index,
 * a late arrival deleted at once), and the check-in tags (checkin_log).
 */
#include "halqa/sessions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlcipher/sqlite3.h>

#include "halqa/checkin_log.h"
#include "halqa/recur.h"
#include "harness.h"

static char dir[256];
static char path[300];

static const uint8_t circle_a[STORE_ID_LEN] = {0xa1, 1};
static const uint8_t circle_b[STORE_ID_LEN] = {0xb2, 2};
static uint8_t fac[ROSTER_KEY_LEN], fac2[ROSTER_KEY_LEN], fac3[ROSTER_KEY_LEN];
static uint8_t member[ROSTER_KEY_LEN];
static struct roster roster_a, roster_b;

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi)
{
	return session_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void remove_files(void)
{
	char p[320];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static struct store *fresh(void)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;
	struct store_circle c;

	remove_files();
	memset(key, 0x5a, sizeof key);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	memset(&c, 0, sizeof c);
	memcpy(c.circle_id, circle_a, STORE_ID_LEN);
	strcpy(c.name, "peers");
	CHECK_OK(store_circle_add(s, &c));
	memcpy(c.circle_id, circle_b, STORE_ID_LEN);
	strcpy(c.name, "other");
	CHECK_OK(store_circle_add(s, &c));
	return s;
}

/* A weekly 18:00 Europe/Berlin session from 2024-03-21, |count| times. */
static void weekly(struct session_message *m, uint8_t idbyte, uint16_t count)
{
	struct session_schedule *c = &m->u.schedule;

	memset(m, 0, sizeof *m);
	m->kind = SESSION_KIND_SCHEDULE;
	memset(c->id, idbyte, SESSION_ID_LEN);
	strcpy(c->title, "Monthly circle");
	strcpy(c->zone, "Europe/Berlin");
	c->local.date.year = 2024;
	c->local.date.month = 3;
	c->local.date.day = 21;
	c->local.hour = 18;
	c->duration_min = 90;
	c->freq = SESSION_FREQ_WEEKLY;
	c->interval_weeks = 1;
	c->end = SESSION_END_COUNT;
	c->count = count;
	strcpy(c->agenda, "Check-in\nCase review");
	c->start_utc = utc(2024, 3, 21, 17, 0);
}

static size_t count_sessions(struct store *s)
{
	struct sessions_entry *list = NULL;
	size_t n = 0;

	CHECK_OK(sessions_list(s, NULL, &list, &n));
	free(list);
	return n;
}

static void test_schedule_applied(void)
{
	struct store *s = fresh();
	struct session_message m;
	struct sessions_entry *e = malloc(sizeof *e);

	weekly(&m, 0x11, 4);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK(memcmp(&e->sched, &m.u.schedule, sizeof e->sched) == 0);
	CHECK(memcmp(e->circle_id, circle_a, STORE_ID_LEN) == 0);
	CHECK(memcmp(e->creator, fac, ROSTER_KEY_LEN) == 0);
	CHECK(memcmp(e->editor, fac, ROSTER_KEY_LEN) == 0);
	CHECK_INT_EQ(e->cancelled, 0);
	CHECK_INT_EQ(e->num_cancelled, 0);
	/*
	 * The same schedule again in its circle (a facilitator bringing
	 * newcomers up to date) changes nothing; in another circle it is
	 * refused.
	 */
	strcpy(m.u.schedule.title, "Replayed title");
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 2000, &m));
	CHECK_RC(sessions_apply(s, circle_b, fac3, &roster_b, 2000, &m), HALQA_ERR_EXISTS);
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK(strcmp(e->sched.title, "Monthly circle") == 0);
	CHECK_INT_EQ(e->updated_at, 1000);
	CHECK_INT_EQ(count_sessions(s), 1);
	free(e);
	store_close(s);
}

static void test_schedule_refused(void)
{
	struct store *s = fresh();
	struct session_message m;
	char v[16];

	/* Forged facilitator: a member, and a facilitator of another circle. */
	weekly(&m, 0x12, 4);
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 1000, &m), HALQA_ERR_DENIED);
	CHECK_RC(sessions_apply(s, circle_a, fac3, &roster_a, 1000, &m), HALQA_ERR_DENIED);
	/* Unknown zone: the tz database decides (recur_check). */
	strcpy(m.u.schedule.zone, "Mars/Olympus_Mons");
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	/* start_utc that is not the wall time in the zone. */
	weekly(&m, 0x12, 4);
	m.u.schedule.start_utc += 3600;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	/* Huge count, absurd year, zero duration, hostile title, edit sequence in a schedule. */
	weekly(&m, 0x12, 60000);
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	weekly(&m, 0x12, 4);
	m.u.schedule.local.date.year = 9999;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	weekly(&m, 0x12, 4);
	m.u.schedule.duration_min = 0;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	weekly(&m, 0x12, 4);
	strcpy(m.u.schedule.title, "evil\x1b]0;pwned\x07");
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	weekly(&m, 0x12, 4);
	m.u.schedule.sequence = 3;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_INVALID);
	/* Not this module's kinds. */
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CHAT;
	strcpy(m.u.chat.text, "hello");
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_ARG);
	CHECK_INT_EQ(count_sessions(s), 0);
	/* The tables exist and are versioned even so. */
	CHECK_OK(store_setting_get(s, SESSIONS_SETTING_SCHEMA, v, sizeof v));
	CHECK(strcmp(v, "2") == 0);
	store_close(s);
}

static void test_edit(void)
{
	struct store *s = fresh();
	struct session_message m, ed;
	struct sessions_entry *e = malloc(sizeof *e);

	weekly(&m, 0x21, 4);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	ed = m;
	ed.kind = SESSION_KIND_EDIT;
	ed.u.schedule.sequence = 1;
	strcpy(ed.u.schedule.title, "Moved to 19:00");
	ed.u.schedule.local.hour = 19;
	ed.u.schedule.start_utc += 3600;
	/* Not a facilitator: refused. */
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 2000, &ed), HALQA_ERR_DENIED);
	/* An edit reaching another circle's session by id: unknown there. */
	CHECK_RC(sessions_apply(s, circle_b, fac3, &roster_b, 2000, &ed), HALQA_ERR_NOT_FOUND);
	/* Unknown session. */
	ed.u.schedule.id[0] ^= 1;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 2000, &ed), HALQA_ERR_NOT_FOUND);
	ed.u.schedule.id[0] ^= 1;
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK(strcmp(e->sched.title, "Monthly circle") == 0);
	/* A facilitator's edit with a higher sequence applies. */
	CHECK_OK(sessions_apply(s, circle_a, fac2, &roster_a, 2000, &ed));
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK(strcmp(e->sched.title, "Moved to 19:00") == 0);
	CHECK_INT_EQ(e->sched.sequence, 1);
	CHECK_INT_EQ(e->sched.local.hour, 19);
	CHECK(memcmp(e->editor, fac2, ROSTER_KEY_LEN) == 0);
	CHECK(memcmp(e->creator, fac, ROSTER_KEY_LEN) == 0);
	/* A replay, or an edit built on the old version, is stale. */
	strcpy(ed.u.schedule.title, "Stale");
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 3000, &ed), HALQA_ERR_STALE);
	/* An edit with a zone the tz database lacks. */
	ed.u.schedule.sequence = 2;
	strcpy(ed.u.schedule.zone, "Nowhere/Atlantis");
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 3000, &ed), HALQA_ERR_INVALID);
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK(strcmp(e->sched.title, "Moved to 19:00") == 0);
	CHECK(strcmp(e->sched.zone, "Europe/Berlin") == 0);
	free(e);
	store_close(s);
}

static struct session_message cancel_of(const struct session_message *m, uint32_t seq, int series,
					int y, int mo, int d)
{
	struct session_message c;

	memset(&c, 0, sizeof c);
	c.kind = SESSION_KIND_CANCEL;
	memcpy(c.u.cancel.id, m->u.schedule.id, SESSION_ID_LEN);
	c.u.cancel.sequence = seq;
	c.u.cancel.whole_series = (uint8_t)series;
	if (!series) {
		c.u.cancel.occurrence.year = (uint16_t)y;
		c.u.cancel.occurrence.month = (uint8_t)mo;
		c.u.cancel.occurrence.day = (uint8_t)d;
	}
	return c;
}

static struct session_message rsvp_of(const struct session_message *m, uint8_t answer, int y,
				      int mo, int d, const char *note)
{
	struct session_message a;

	memset(&a, 0, sizeof a);
	a.kind = SESSION_KIND_RSVP;
	memcpy(a.u.rsvp.id, m->u.schedule.id, SESSION_ID_LEN);
	a.u.rsvp.whole_series = y == 0;
	if (y != 0) {
		a.u.rsvp.occurrence.year = (uint16_t)y;
		a.u.rsvp.occurrence.month = (uint8_t)mo;
		a.u.rsvp.occurrence.day = (uint8_t)d;
	}
	a.u.rsvp.answer = answer;
	strcpy(a.u.rsvp.note, note);
	return a;
}

static void test_cancel(void)
{
	struct store *s = fresh();
	struct session_message m, c, ed;
	struct sessions_entry *e = malloc(sizeof *e);
	struct sessions_occurrence *occ = NULL;
	size_t n = 0;

	weekly(&m, 0x31, 4);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	/* 2024-03-22 is no occurrence (a Friday); 2024-04-18 is past COUNT 4. */
	c = cancel_of(&m, 0, 0, 2024, 3, 22);
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 2000, &c), HALQA_ERR_INVALID);
	c = cancel_of(&m, 0, 0, 2024, 4, 18);
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 2000, &c), HALQA_ERR_INVALID);
	/* A member cannot cancel. */
	c = cancel_of(&m, 0, 0, 2024, 3, 28);
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 2000, &c), HALQA_ERR_DENIED);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 2000, &c));
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK_INT_EQ(e->num_cancelled, 1);
	CHECK_INT_EQ(e->cancelled_dates[0].day, 28);
	/* The cancelled occurrence is gone from listings; three remain. */
	CHECK_OK(sessions_upcoming(s, circle_a, member, utc(2024, 3, 1, 0, 0),
				   utc(2024, 5, 1, 0, 0), 100, &occ, &n));
	CHECK_INT_EQ(n, 3);
	if (n == 3) {
		CHECK_INT_EQ(occ[0].start_utc, utc(2024, 3, 21, 17, 0));
		/* After the DST change 18:00 Berlin is 16:00 UTC. */
		CHECK_INT_EQ(occ[1].start_utc, utc(2024, 4, 4, 16, 0));
		CHECK_INT_EQ(occ[2].start_utc, utc(2024, 4, 11, 16, 0));
	}
	free(occ);
	/* An edit bumps the sequence; a cancel built before it is stale. */
	ed = m;
	ed.kind = SESSION_KIND_EDIT;
	ed.u.schedule.sequence = 2;
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 3000, &ed));
	c = cancel_of(&m, 1, 1, 0, 0, 0);
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 4000, &c), HALQA_ERR_STALE);
	c = cancel_of(&m, 3, 1, 0, 0, 0);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 4000, &c));
	CHECK_OK(sessions_get(s, m.u.schedule.id, e));
	CHECK_INT_EQ(e->cancelled, 1);
	CHECK_INT_EQ(e->sched.sequence, 3);
	/* Nothing more happens to a cancelled series. */
	ed.u.schedule.sequence = 4;
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 5000, &ed), HALQA_ERR_INVALID);
	c = rsvp_of(&m, SESSION_ANSWER_YES, 0, 0, 0, "");
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 5000, &c), HALQA_ERR_INVALID);
	CHECK_OK(sessions_upcoming(s, NULL, member, utc(2024, 3, 1, 0, 0), utc(2024, 5, 1, 0, 0),
				   100, &occ, &n));
	CHECK_INT_EQ(n, 0);
	free(occ);
	free(e);
	store_close(s);
}

static void test_rsvp(void)
{
	struct store *s = fresh();
	struct session_message m, a;
	struct sessions_rsvp *list = NULL;
	struct session_date d28 = {2024, 3, 28}, d4 = {2024, 4, 4};
	size_t n = 0;
	uint8_t ans = 9;

	weekly(&m, 0x41, 4);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	/* Any member answers, for the series... */
	a = rsvp_of(&m, SESSION_ANSWER_YES, 0, 0, 0, "");
	CHECK_OK(sessions_apply(s, circle_a, member, &roster_a, 2000, &a));
	/* ...and for one occurrence, which beats the series answer. */
	a = rsvp_of(&m, SESSION_ANSWER_NO, 2024, 3, 28, "court day");
	CHECK_OK(sessions_apply(s, circle_a, member, &roster_a, 3000, &a));
	CHECK_OK(sessions_answer(s, m.u.schedule.id, member, &d28, &ans));
	CHECK_INT_EQ(ans, SESSION_ANSWER_NO);
	CHECK_OK(sessions_answer(s, m.u.schedule.id, member, &d4, &ans));
	CHECK_INT_EQ(ans, SESSION_ANSWER_YES);
	CHECK_OK(sessions_answer(s, m.u.schedule.id, fac, &d4, &ans));
	CHECK_INT_EQ(ans, 0);
	/* An older answer arriving late changes nothing; a newer one does. */
	a = rsvp_of(&m, SESSION_ANSWER_MAYBE, 2024, 3, 28, "older");
	CHECK_OK(sessions_apply(s, circle_a, member, &roster_a, 2500, &a));
	CHECK_OK(sessions_answer(s, m.u.schedule.id, member, &d28, &ans));
	CHECK_INT_EQ(ans, SESSION_ANSWER_NO);
	a = rsvp_of(&m, SESSION_ANSWER_MAYBE, 2024, 3, 28, "maybe after all");
	CHECK_OK(sessions_apply(s, circle_a, member, &roster_a, 4000, &a));
	CHECK_OK(sessions_answer(s, m.u.schedule.id, member, &d28, &ans));
	CHECK_INT_EQ(ans, SESSION_ANSWER_MAYBE);
	/* No such occurrence; another circle's session; a bad answer. */
	a = rsvp_of(&m, SESSION_ANSWER_YES, 2024, 3, 29, "");
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 5000, &a), HALQA_ERR_INVALID);
	a = rsvp_of(&m, SESSION_ANSWER_YES, 0, 0, 0, "");
	CHECK_RC(sessions_apply(s, circle_b, member, &roster_b, 5000, &a), HALQA_ERR_NOT_FOUND);
	a.u.rsvp.answer = 7;
	CHECK_RC(sessions_apply(s, circle_a, member, &roster_a, 5000, &a), HALQA_ERR_INVALID);
	CHECK_OK(sessions_rsvps(s, m.u.schedule.id, &list, &n));
	CHECK_INT_EQ(n, 2);
	if (n == 2) {
		CHECK_INT_EQ(list[0].whole_series, 1);
		CHECK_INT_EQ(list[0].answer, SESSION_ANSWER_YES);
		CHECK_INT_EQ(list[1].whole_series, 0);
		CHECK_INT_EQ(list[1].answer, SESSION_ANSWER_MAYBE);
		CHECK(strcmp(list[1].note, "maybe after all") == 0);
		CHECK_INT_EQ(list[1].sent_at, 4000);
	}
	free(list);
	store_close(s);
}

static void test_resolve(void)
{
	struct store *s = fresh();
	struct session_message m;
	uint8_t id[SESSION_ID_LEN];

	weekly(&m, 0xab, 2);
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	weekly(&m, 0xab, 2);
	m.u.schedule.id[15] = 0xcd;
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	CHECK_RC(sessions_resolve(s, "abab", id), HALQA_ERR_EXISTS);
	CHECK_OK(sessions_resolve(s, "ABABABABABABABABABABABABABABABCD", id));
	CHECK_INT_EQ(id[15], 0xcd);
	CHECK_OK(sessions_resolve(s, "abababababababababababababababab", id));
	CHECK_INT_EQ(id[15], 0xab);
	CHECK_RC(sessions_resolve(s, "ff", id), HALQA_ERR_NOT_FOUND);
	CHECK_RC(sessions_resolve(s, "xyz", id), HALQA_ERR_ARG);
	CHECK_RC(sessions_resolve(s, "", id), HALQA_ERR_ARG);
	store_close(s);
}

static void add_msg(struct store *s, const uint8_t *circle, int64_t sent_at_ms, const char *text)
{
	struct store_message msg;
	char body[256];

	memset(&msg, 0, sizeof msg);
	memcpy(msg.circle_id, circle, STORE_ID_LEN);
	randombytes_buf(msg.msg_id, sizeof msg.msg_id);
	memcpy(msg.sender, member, sizeof msg.sender);
	msg.sent_at = sent_at_ms;
	msg.received_at = sent_at_ms;
	snprintf(body, sizeof body, "%s", text);
	msg.body = body;
	CHECK_OK(store_message_add(s, &msg, NULL));
}

static size_t search_count(struct store *s, const char *q)
{
	struct store_message_list l;
	size_t n;

	memset(&l, 0, sizeof l);
	CHECK_OK(store_message_search(s, q, NULL, 10, &l));
	n = l.num;
	store_message_list_free(&l);
	return n;
}

static void test_retention(void)
{
	struct store *s = fresh();
	struct session_message m;
	struct store_message_list l;
	int64_t start = utc(2024, 3, 21, 17, 0) * 1000, end = start + 90 * 60 * 1000;
	int64_t week = 7LL * 86400 * 1000;
	size_t cleared = 9;
	int state = -1, notices = 0;

	weekly(&m, 0x51, 4);
	m.u.schedule.session_only = 1;
	CHECK_OK(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m));
	add_msg(s, circle_a, start - 60000, "before confidential");
	add_msg(s, circle_a, start + 60000, "during secretword");
	add_msg(s, circle_a, end - 1, "lastminute secretword");
	add_msg(s, circle_b, start + 60000, "othercircle secretword");
	add_msg(s, circle_a, end, "after confidential");
	CHECK_OK(sessions_message_arrived(s, circle_a, start + 60000, start + 120000, &state));
	CHECK_INT_EQ(state, SESSIONS_MSG_SESSION_ONLY);
	CHECK_OK(sessions_message_arrived(s, circle_a, end, end + 1000, &state));
	CHECK_INT_EQ(state, SESSIONS_MSG_NORMAL);
	/* While it runs nothing goes. */
	CHECK_OK(sessions_retention_run(s, end - 1000, &cleared));
	CHECK_INT_EQ(cleared, 0);
	CHECK_INT_EQ(search_count(s, "secretword"), 3);
	/* At the end the two messages of the occurrence go, index included. */
	CHECK_OK(sessions_retention_run(s, end, &cleared));
	CHECK_INT_EQ(cleared, 1);
	CHECK_INT_EQ(search_count(s, "secretword"), 1);
	CHECK_INT_EQ(search_count(s, "confidential"), 2);
	memset(&l, 0, sizeof l);
	CHECK_OK(store_message_list_after(s, circle_a, 0, 100, 0, &l));
	for (size_t i = 0; i < l.num; i++) {
		if (l.items[i].flags == SESSIONS_MSG_NOTICE) {
			notices++;
			CHECK(strcmp(l.items[i].body, SESSIONS_NOTICE_TEXT) == 0);
			CHECK_INT_EQ(l.items[i].sent_at, end);
		}
	}
	CHECK_INT_EQ(l.num, 3);
	CHECK_INT_EQ(notices, 1);
	store_message_list_free(&l);
	/* A member who was offline: the message arrives after the end and goes at once. */
	add_msg(s, circle_a, start + 30000, "late secretword");
	CHECK_OK(sessions_message_arrived(s, circle_a, start + 30000, end + week, &state));
	CHECK_INT_EQ(state, SESSIONS_MSG_DELETED);
	CHECK_INT_EQ(search_count(s, "secretword"), 1);
	/* Later occurrences: one sweep much later clears each, notices not repeated. */
	add_msg(s, circle_a, start + week + 5000, "week2 secretword");
	add_msg(s, circle_a, start + 3 * week + 5000, "week4 secretword");
	CHECK_OK(sessions_retention_run(s, end + 10 * week, &cleared));
	CHECK_INT_EQ(cleared, 2);
	CHECK_INT_EQ(search_count(s, "secretword"), 1);
	CHECK_OK(sessions_retention_run(s, end + 11 * week, &cleared));
	CHECK_INT_EQ(cleared, 0);
	memset(&l, 0, sizeof l);
	CHECK_OK(store_message_list_after(s, circle_a, 0, 100, 0, &l));
	notices = 0;
	for (size_t i = 0; i < l.num; i++) {
		notices += l.items[i].flags == SESSIONS_MSG_NOTICE;
	}
	CHECK_INT_EQ(notices, 3);
	store_message_list_free(&l);
	store_close(s);
}

static void test_schema_newer(void)
{
	struct store *s = fresh();
	struct session_message m;

	CHECK_OK(store_setting_set(s, SESSIONS_SETTING_SCHEMA, "3"));
	weekly(&m, 0x61, 2);
	CHECK_RC(sessions_apply(s, circle_a, fac, &roster_a, 1000, &m), HALQA_ERR_UNSUPPORTED);
	CHECK_RC(sessions_init(s), HALQA_ERR_UNSUPPORTED);
	store_close(s);
}

static void test_newcomers(void)
{
	struct store *s = fresh();
	uint8_t members[3][ROSTER_KEY_LEN];
	size_t n = 9;

	memcpy(members[0], fac, ROSTER_KEY_LEN);
	memcpy(members[1], member, ROSTER_KEY_LEN);
	memcpy(members[2], fac2, ROSTER_KEY_LEN);
	/* Nothing recorded: everyone is new. */
	CHECK_OK(sessions_members_newcomers(s, circle_a, members, 2, &n));
	CHECK_INT_EQ(n, 2);
	CHECK_OK(sessions_members_record(s, circle_a, members, 2));
	CHECK_OK(sessions_members_newcomers(s, circle_a, members, 2, &n));
	CHECK_INT_EQ(n, 0);
	/* One joins; another circle's set is separate. */
	CHECK_OK(sessions_members_newcomers(s, circle_a, members, 3, &n));
	CHECK_INT_EQ(n, 1);
	CHECK_OK(sessions_members_newcomers(s, circle_b, members, 1, &n));
	CHECK_INT_EQ(n, 1);
	/* The set is replaced: one who left and rejoins is new again. */
	CHECK_OK(sessions_members_record(s, circle_a, members + 1, 1));
	CHECK_OK(sessions_members_newcomers(s, circle_a, members, 2, &n));
	CHECK_INT_EQ(n, 1);
	store_close(s);
}

/* A profile from before session_members (schema 1) gets the table on first use. */
static void test_schema_upgrade(void)
{
	struct store *s = fresh();
	uint8_t one[1][ROSTER_KEY_LEN];
	char v[16];
	size_t n = 0;

	memcpy(one[0], member, ROSTER_KEY_LEN);
	CHECK_OK(sessions_init(s));
	CHECK(sqlite3_exec(store_db(s), "DROP TABLE session_members", NULL, NULL, NULL) == 0);
	CHECK_OK(store_setting_set(s, SESSIONS_SETTING_SCHEMA, "1"));
	CHECK_OK(sessions_members_newcomers(s, circle_a, one, 1, &n));
	CHECK_INT_EQ(n, 1);
	CHECK_OK(store_setting_get(s, SESSIONS_SETTING_SCHEMA, v, sizeof v));
	CHECK(strcmp(v, "2") == 0);
	store_close(s);
}

/* Check-in tags: first OPEN and first tag win, per circle; a bad question is refused. */
static void test_checkin_log(void)
{
	struct store *s = fresh();
	struct checkin_log_round got;
	uint8_t round[SESSION_ROUND_ID_LEN], other[SESSION_ROUND_ID_LEN], msg[STORE_ID_LEN];
	char big[SESSION_QUESTION_MAX + 2];

	if (s == NULL) {
		return;
	}
	memset(round, 0x41, sizeof round);
	memset(other, 0x42, sizeof other);
	memset(msg, 0x51, sizeof msg);
	CHECK_INT_EQ(checkin_log_get(s, circle_a, msg, &got), HALQA_ERR_NOT_FOUND);
	CHECK_OK(checkin_log_answer(s, circle_a, msg, round));
	CHECK_OK(checkin_log_get(s, circle_a, msg, &got));
	CHECK(!got.known && memcmp(got.round_id, round, sizeof round) == 0);
	CHECK_OK(checkin_log_round(s, circle_a, round, fac, "How was your week?", 1000));
	CHECK_OK(checkin_log_round(s, circle_a, round, fac2, "rewritten", 2000));
	CHECK_OK(checkin_log_answer(s, circle_a, msg, other));
	CHECK_OK(checkin_log_get(s, circle_a, msg, &got));
	CHECK(got.known && strcmp(got.question, "How was your week?") == 0);
	CHECK(memcmp(got.opener, fac, sizeof fac) == 0 && got.opened_at == 1000);
	CHECK(memcmp(got.round_id, round, sizeof round) == 0);
	/* The same message id in another circle is another message. */
	CHECK_INT_EQ(checkin_log_get(s, circle_b, msg, &got), HALQA_ERR_NOT_FOUND);
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_INT_EQ(checkin_log_round(s, circle_a, other, fac, big, 0), HALQA_ERR_INVALID);
	CHECK_INT_EQ(checkin_log_round(s, circle_a, other, fac, "bad\x1b[2J", 0),
		     HALQA_ERR_INVALID);
	store_close(s);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	if (sodium_init() < 0) {
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/halqa-sessions-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return 1;
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	memset(fac, 0x10, sizeof fac);
	memset(fac2, 0x20, sizeof fac2);
	memset(fac3, 0x28, sizeof fac3);
	memset(member, 0x30, sizeof member);
	memset(&roster_a, 0, sizeof roster_a);
	memset(&roster_b, 0, sizeof roster_b);
	if (roster_add(&roster_a, fac) != HALQA_OK || roster_add(&roster_a, fac2) != HALQA_OK ||
	    roster_add(&roster_b, fac3) != HALQA_OK) {
		return 1;
	}
	RUN(test_schedule_applied);
	RUN(test_schedule_refused);
	RUN(test_edit);
	RUN(test_cancel);
	RUN(test_rsvp);
	RUN(test_resolve);
	RUN(test_retention);
	RUN(test_schema_newer);
	RUN(test_newcomers);
	RUN(test_checkin_log);
	RUN(test_schema_upgrade);
	remove_files();
	rmdir(dir);
	return harness_report();
}
