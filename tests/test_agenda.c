/*
 * test_agenda.c: reminders before an occurrence within the lead time, not
 * when declined, never twice; start and end announcements; the lead time
 * setting and its refusals; cancelled occurrences never due.
 */
#include "halqa/agenda.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char dir[256];
static char path[300];
static const uint8_t circle[STORE_ID_LEN] = {0xc1};
static uint8_t fac[ROSTER_KEY_LEN], me[ROSTER_KEY_LEN];
static struct roster roster;

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

/* A store with a weekly 09:30 Asia/Kolkata (+05:30) session from 2024-05-06, 3 times. */
static struct store *fresh(struct session_message *m)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;
	struct store_circle c;
	struct session_schedule *sc = &m->u.schedule;

	remove_files();
	memset(key, 0x77, sizeof key);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	memset(&c, 0, sizeof c);
	memcpy(c.circle_id, circle, STORE_ID_LEN);
	strcpy(c.name, "mentors");
	CHECK_OK(store_circle_add(s, &c));
	memset(m, 0, sizeof *m);
	m->kind = SESSION_KIND_SCHEDULE;
	memset(sc->id, 0x42, SESSION_ID_LEN);
	strcpy(sc->title, "Mentoring hour");
	strcpy(sc->zone, "Asia/Kolkata");
	sc->local.date.year = 2024;
	sc->local.date.month = 5;
	sc->local.date.day = 6;
	sc->local.hour = 9;
	sc->local.minute = 30;
	sc->duration_min = 60;
	sc->freq = SESSION_FREQ_WEEKLY;
	sc->interval_weeks = 1;
	sc->end = SESSION_END_COUNT;
	sc->count = 3;
	sc->start_utc = utc(2024, 5, 6, 4, 0);
	CHECK_OK(sessions_apply(s, circle, fac, &roster, 1000, m));
	return s;
}

/* due_kinds returns the kinds due at |now| as a bit set (1 << kind). */
static unsigned due_kinds(struct store *s, int64_t now, size_t *num)
{
	struct agenda_item *items = NULL;
	unsigned bits = 0;

	*num = 0;
	CHECK_OK(agenda_due(s, me, now, &items, num));
	for (size_t i = 0; i < *num; i++) {
		bits |= 1u << items[i].kind;
	}
	free(items);
	return bits;
}

static void test_reminder_window(void)
{
	struct session_message m;
	struct store *s = fresh(&m);
	struct agenda_item *items = NULL;
	int64_t start = utc(2024, 5, 6, 4, 0);
	size_t n = 0;

	CHECK_INT_EQ(due_kinds(s, start - 16 * 60, &n), 0);
	CHECK_INT_EQ(n, 0);
	CHECK_OK(agenda_due(s, me, start - 15 * 60, &items, &n));
	CHECK_INT_EQ(n, 1);
	if (n == 1) {
		CHECK_INT_EQ(items[0].kind, AGENDA_REMIND);
		CHECK_INT_EQ(items[0].occ.start_utc, start);
		CHECK(strcmp(items[0].occ.title, "Mentoring hour") == 0);
		CHECK_INT_EQ(items[0].occ.local_date.day, 6);
		/* Shown once: not due again. */
		CHECK_OK(agenda_mark_shown(s, &items[0], start - 15 * 60));
	}
	free(items);
	CHECK_INT_EQ(due_kinds(s, start - 60, &n), 0);
	/* Start, then end announcements, each once. */
	CHECK_INT_EQ(due_kinds(s, start + 60, &n), 1u << AGENDA_START);
	CHECK_OK(agenda_due(s, me, start + 60, &items, &n));
	if (n == 1) {
		CHECK_OK(agenda_mark_shown(s, &items[0], start + 60));
	}
	free(items);
	CHECK_INT_EQ(due_kinds(s, start + 120, &n), 0);
	CHECK_INT_EQ(due_kinds(s, start + 3600, &n), 1u << AGENDA_END);
	CHECK_INT_EQ(due_kinds(s, start + 3600 + AGENDA_END_GRACE_S, &n), 0);
	store_close(s);
}

static void test_declined_and_cancelled(void)
{
	struct session_message m, a;
	struct store *s = fresh(&m);
	int64_t week2 = utc(2024, 5, 13, 4, 0), week3 = utc(2024, 5, 20, 4, 0);
	size_t n = 0;

	/* We declined the second occurrence: no reminder, but it still starts. */
	memset(&a, 0, sizeof a);
	a.kind = SESSION_KIND_RSVP;
	memcpy(a.u.rsvp.id, m.u.schedule.id, SESSION_ID_LEN);
	a.u.rsvp.occurrence.year = 2024;
	a.u.rsvp.occurrence.month = 5;
	a.u.rsvp.occurrence.day = 13;
	a.u.rsvp.answer = SESSION_ANSWER_NO;
	CHECK_OK(sessions_apply(s, circle, me, &roster, 2000, &a));
	CHECK_INT_EQ(due_kinds(s, week2 - 10 * 60, &n), 0);
	CHECK_INT_EQ(due_kinds(s, week2 + 10, &n), 1u << AGENDA_START);
	/* Yes for the series does not override the occurrence's no. */
	a.u.rsvp.whole_series = 1;
	memset(&a.u.rsvp.occurrence, 0, sizeof a.u.rsvp.occurrence);
	a.u.rsvp.answer = SESSION_ANSWER_YES;
	CHECK_OK(sessions_apply(s, circle, me, &roster, 3000, &a));
	CHECK_INT_EQ(due_kinds(s, week2 - 10 * 60, &n), 0);
	CHECK_INT_EQ(due_kinds(s, week3 - 10 * 60, &n), 1u << AGENDA_REMIND);
	/* A cancelled occurrence is never due. */
	memset(&a, 0, sizeof a);
	a.kind = SESSION_KIND_CANCEL;
	memcpy(a.u.cancel.id, m.u.schedule.id, SESSION_ID_LEN);
	a.u.cancel.occurrence.year = 2024;
	a.u.cancel.occurrence.month = 5;
	a.u.cancel.occurrence.day = 20;
	CHECK_OK(sessions_apply(s, circle, fac, &roster, 4000, &a));
	CHECK_INT_EQ(due_kinds(s, week3 - 10 * 60, &n), 0);
	CHECK_INT_EQ(due_kinds(s, week3 + 10, &n), 0);
	store_close(s);
}

static void test_lead_setting(void)
{
	struct session_message m;
	struct store *s = fresh(&m);
	int64_t start = utc(2024, 5, 6, 4, 0);
	unsigned lead = 0;
	size_t n = 0;

	CHECK_OK(agenda_remind_minutes(s, &lead));
	CHECK_INT_EQ(lead, SESSIONS_REMIND_DEFAULT);
	CHECK_OK(agenda_set_remind_minutes(s, 60));
	CHECK_OK(agenda_remind_minutes(s, &lead));
	CHECK_INT_EQ(lead, 60);
	CHECK_INT_EQ(due_kinds(s, start - 59 * 60, &n), 1u << AGENDA_REMIND);
	CHECK_RC(agenda_set_remind_minutes(s, SESSIONS_REMIND_MAX + 1), HALQA_ERR_ARG);
	/* 0 turns reminders off. */
	CHECK_OK(agenda_set_remind_minutes(s, 0));
	CHECK_INT_EQ(due_kinds(s, start - 60, &n), 0);
	/* A damaged setting is an error, not a guess. */
	CHECK_OK(store_setting_set(s, SESSIONS_SETTING_REMIND, "-5"));
	CHECK_RC(agenda_remind_minutes(s, &lead), HALQA_ERR_MALFORMED);
	CHECK_OK(store_setting_set(s, SESSIONS_SETTING_REMIND, "99999"));
	CHECK_RC(agenda_remind_minutes(s, &lead), HALQA_ERR_MALFORMED);
	CHECK_OK(store_setting_set(s, SESSIONS_SETTING_REMIND, "15x"));
	CHECK_RC(agenda_remind_minutes(s, &lead), HALQA_ERR_MALFORMED);
	store_close(s);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	if (sodium_init() < 0) {
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/halqa-agenda-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return 1;
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	memset(fac, 0x10, sizeof fac);
	memset(me, 0x30, sizeof me);
	memset(&roster, 0, sizeof roster);
	if (roster_add(&roster, fac) != HALQA_OK) {
		return 1;
	}
	RUN(test_reminder_window);
	RUN(test_declined_and_cancelled);
	RUN(test_lead_setting);
	remove_files();
	rmdir(dir);
	return harness_report();
}
