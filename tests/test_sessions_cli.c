/*
 * test_sessions_cli.c: circle sessions end to end through the real halqa
 * binary and a real halqad on loopback, with three profiles: Amira (the
 * facilitator), Noor and Samir.
 *
 * Schedule, RSVP, edit and cancel travel between the profiles; a
 * non-facilitator's schedule (sent by this test through the engine, since
 * the command refuses to send it) is refused by the others; promote and
 * demote; the last facilitator can neither step down nor leave; the
 * iCalendar export is parsed back with libical; session-only messages are
 * cleared at the end of the occurrence, and Samir, offline during it,
 * deletes them on arrival. Time is injected with HALQA_TEST_NOW_MS (with
 * HALQA_TESTING=1) in the binaries and engine_set_clock here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libical/ical.h>
#include <sodium.h>
#include <uv.h>

#include "halqa/engine.h"
#include "halqa/identity.h"
#include "halqa/profile.h"
#include "halqa/session.h"
#include "halqa/sessions.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

#define PASS "pass-sessions"

static char tmp[256];
static char home_a[300], home_n[300], home_s[300], home_l[300];
static struct cli_runner cr;
static struct relay_test relay;
static char session_id[33];

/* 2030-01-07 is a Monday; Berlin is UTC+1 then. */
#define T_MORNING "1894003200000"    /* 2030-01-07 08:00 UTC */
#define T_DURING "1894037400000"     /* 2030-01-07 17:30 UTC = 18:30 Berlin */
#define T_AFTER "1894042800000"      /* 2030-01-07 19:00 UTC = 20:00 Berlin */
#define START_MS INT64_C(1894035600000) /* 2030-01-07 17:00 UTC */

/*
 * run executes halqa --home |home| ARGS... (NULL-terminated; |home| is a
 * profile under the runner's root) in Europe/Berlin at the test time
 * |now_ms| (NULL: the real clock) and returns its exit status; the output
 * is in cr.out and cr.err.
 */
static int run(const char *home, const char *now_ms, ...)
{
	va_list ap;
	int st;

	if (cli_runner_setenv(&cr, "HALQA_TEST_NOW_MS", now_ms) != 0 ||
	    cli_runner_setenv(&cr, "HALQA_TESTING", now_ms != NULL ? "1" : NULL) != 0) {
		return -1;
	}
	va_start(ap, now_ms);
	st = cli_runner_vrun(&cr, strrchr(home, '/') + 1, PASS, NULL, 0, ap);
	va_end(ap);
	if (st != 0) {
		fprintf(stderr, "  [halqa in %s] exit %d; stderr: %s", strrchr(home, '/') + 1, st,
			cr.err != NULL ? cr.err : "");
	}
	return st;
}

#define HAS(buf, s)                                                                        \
	do {                                                                               \
		if (strstr((buf), (s)) == NULL) {                                          \
			harness_fail(__FILE__, __LINE__, "output lacks \"%s\":\n%s", (s),  \
				     (buf));                                               \
		}                                                                          \
	} while (0)

#define LACKS(buf, s)                                                                      \
	do {                                                                               \
		if (strstr((buf), (s)) != NULL) {                                          \
			harness_fail(__FILE__, __LINE__, "output has \"%s\":\n%s", (s), (buf)); \
		}                                                                          \
	} while (0)

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
		n++;
	}
	return n;
}

/* card_of reads the card from whoami --json. */
static void card_of(const char *home, char *out, size_t cap)
{
	CHECK_INT_EQ(run(home, NULL, "whoami", "--json", NULL), 0);
	(void)cli_runner_card_in(&cr, out, cap);
}

static void make_profile(const char *home, const char *name)
{
	CHECK_INT_EQ(run(home, NULL, "init", "--name", name, "--kdf-profile", "test", NULL), 0);
	CHECK_INT_EQ(run(home, NULL, "relay", "set", relay.address_line, NULL), 0);
}

/* A profile opened in this process, with an engine on a loop of its own. */
struct direct {
	struct store *store;
	struct identity *id;
	uv_loop_t loop;
	struct engine *engine;
	int64_t now;
};

static int64_t direct_clock(void *arg)
{
	return ((struct direct *)arg)->now;
}

static int direct_open(struct direct *d, const char *home, int64_t now)
{
	char name[STORE_MAX_NAME + 1];
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	struct bytes_reader rd;
	int r;

	memset(d, 0, sizeof *d);
	d->now = now;
	if ((r = profile_open(&d->store, home, PASS, strlen(PASS))) != HALQA_OK ||
	    (r = store_identity_get(d->store, name, &blob, &blob_len)) != HALQA_OK) {
		return r;
	}
	bytes_reader_init(&rd, blob, blob_len);
	r = identity_decode(&rd, &d->id);
	store_secret_free(blob, blob_len);
	if (r != HALQA_OK || uv_loop_init(&d->loop) != 0) {
		return r != HALQA_OK ? r : HALQA_ERR_INTERNAL;
	}
	if ((r = engine_new(&d->engine, d->store, d->id, &d->loop)) != HALQA_OK) {
		return r;
	}
	engine_set_clock(d->engine, direct_clock, d);
	return HALQA_OK;
}

static void direct_close(struct direct *d)
{
	engine_free(d->engine);
	if (d->id != NULL) {
		(void)uv_run(&d->loop, UV_RUN_NOWAIT);
		(void)uv_loop_close(&d->loop);
	}
	identity_free(d->id);
	store_close(d->store);
	memset(d, 0, sizeof *d);
}

/* direct_send sends a chat text into "peers" at time |now| from |home|. */
static void direct_chat(const char *home, int64_t now, const char *text)
{
	struct direct d;
	struct session_message m;

	CHECK_OK(direct_open(&d, home, now));
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CHAT;
	snprintf(m.u.chat.text, sizeof m.u.chat.text, "%s", text);
	if (d.engine != NULL) {
		CHECK_OK(engine_send(d.engine, "peers", &m, NULL, NULL));
	}
	direct_close(&d);
}

/* history_has says whether |home|'s history of "peers" holds |text| (search and list). */
static int history_has(const char *home, const char *text)
{
	struct direct d;
	struct store_circle c;
	struct store_message_list l;
	int found = 0;

	memset(&d, 0, sizeof d);
	if (profile_open(&d.store, home, PASS, strlen(PASS)) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "cannot open %s", home);
		return -1;
	}
	memset(&l, 0, sizeof l);
	if (store_circle_get_by_name(d.store, "peers", &c) == HALQA_OK &&
	    store_message_list_after(d.store, c.circle_id, 0, 10000, 0, &l) == HALQA_OK) {
		for (size_t i = 0; i < l.num; i++) {
			found |= strstr(l.items[i].body, text) != NULL;
		}
	}
	store_message_list_free(&l);
	store_close(d.store);
	return found;
}

/* stored_title says whether |home| has stored a session titled |title| (no command run). */
static int stored_title(const char *home, const char *title)
{
	struct store *st = NULL;
	struct sessions_entry *list = NULL;
	size_t num = 0;
	int found = 0;

	if (profile_open(&st, home, PASS, strlen(PASS)) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "cannot open %s", home);
		return -1;
	}
	if (sessions_list(st, NULL, &list, &num) == HALQA_OK) {
		for (size_t i = 0; i < num; i++) {
			found |= strcmp(list[i].sched.title, title) == 0;
		}
	}
	free(list);
	store_close(st);
	return found;
}

/*
 * The circle is built through the engine in this process (register,
 * create, add, join), so this test needs of the binary only what it
 * tests: the session commands.
 */
static void test_setup(void)
{
	char card_a[700], card_n[700], card_s[700];
	const char *const both[] = {"Noor", "Samir"};
	const char *homes[3];
	struct engine_sync_report rep;
	struct direct d;

	make_profile(home_a, "Amira");
	make_profile(home_n, "Noor");
	make_profile(home_s, "Samir");
	card_of(home_a, card_a, sizeof card_a);
	card_of(home_n, card_n, sizeof card_n);
	card_of(home_s, card_s, sizeof card_s);
	CHECK_INT_EQ(run(home_a, NULL, "contact", "add", "Noor", card_n, NULL), 0);
	CHECK_INT_EQ(run(home_a, NULL, "contact", "add", "Samir", card_s, NULL), 0);
	CHECK_INT_EQ(run(home_n, NULL, "contact", "add", "Amira", card_a, NULL), 0);
	CHECK_INT_EQ(run(home_n, NULL, "contact", "add", "Samir", card_s, NULL), 0);
	CHECK_INT_EQ(run(home_s, NULL, "contact", "add", "Amira", card_a, NULL), 0);
	CHECK_INT_EQ(run(home_s, NULL, "contact", "add", "Noor", card_n, NULL), 0);
	homes[0] = home_a;
	homes[1] = home_n;
	homes[2] = home_s;
	for (int i = 0; i < 3; i++) {
		CHECK_OK(direct_open(&d, homes[i], START_MS - 86400000));
		if (d.engine != NULL) {
			CHECK_OK(engine_register(d.engine, NULL));
		}
		direct_close(&d);
	}
	CHECK_OK(direct_open(&d, home_a, START_MS - 86400000));
	if (d.engine != NULL) {
		uint8_t id[ENGINE_ID_LEN];

		CHECK_OK(engine_circle_create(d.engine, "peers", id));
		CHECK_OK(engine_circle_add(d.engine, "peers", both, 2));
	}
	direct_close(&d);
	for (int i = 1; i < 3; i++) {
		CHECK_OK(direct_open(&d, homes[i], START_MS - 86400000));
		if (d.engine != NULL) {
			memset(&rep, 0, sizeof rep);
			CHECK_OK(engine_sync(d.engine, &rep));
			CHECK_INT_EQ(rep.joined, 1);
		}
		direct_close(&d);
	}
}

static void test_schedule_and_rsvp(void)
{
	const char *p;

	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "schedule", "peers", "--title",
			 "Court-day check-in", "--at", "2030-01-07 18:00", "--tz", "Europe/Berlin",
			 "--duration", "90m", "--every", "1w", "--count", "4", "--agenda",
			 "Round of news\nCase review", "--session-only", NULL),
		     0);
	HAS(cr.out, "Scheduled");
	CHECK_INT_EQ(run(home_a, T_MORNING, "sessions", "--json", NULL), 0);
	if ((p = strstr(cr.out, "\"id\":\"")) != NULL && strlen(p) > 38) {
		memcpy(session_id, p + 6, 32);
		session_id[32] = '\0';
	}
	CHECK_INT_EQ(strlen(session_id), 32);
	/* Noor and Samir see it, in their own time (TZ=Europe/Berlin here). */
	CHECK_INT_EQ(run(home_n, T_MORNING, "sessions", NULL), 0);
	HAS(cr.out, "Court-day check-in");
	HAS(cr.out, "Mon 2030-01-07 18:00-19:30");
	HAS(cr.out, "session-only");
	CHECK_INT_EQ(run(home_n, T_MORNING, "session", "rsvp", session_id, "yes", "--note",
			 "I'll bring the docket", NULL),
		     0);
	CHECK_INT_EQ(run(home_s, T_MORNING, "session", "rsvp", session_id, "no", "--occurrence",
			 "2030-01-14", NULL),
		     0);
	/* A date that is no occurrence is refused before anything is sent. */
	CHECK_INT_EQ(run(home_s, T_MORNING, "session", "rsvp", session_id, "no", "--occurrence",
			 "2030-01-15", NULL),
		     1);
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "show", session_id, NULL), 0);
	HAS(cr.out, "Noor: yes (series) \"I'll bring the docket\"");
	HAS(cr.out, "Samir: no (2030-01-14)");
	HAS(cr.out, "Round of news");
	CHECK_INT_EQ(run(home_s, T_MORNING, "sessions", "--json", NULL), 0);
	HAS(cr.out, "\"date\":\"2030-01-14\",\"session_only\":true,\"rsvp\":\"no\"");
}

static void test_edit_cancel(void)
{
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "edit", session_id, "--title",
			 "Check-in between court days", NULL),
		     0);
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "cancel", session_id, "--occurrence",
			 "2030-01-21", NULL),
		     0);
	/* Noor cannot edit or cancel: her command refuses. */
	CHECK_INT_EQ(run(home_n, T_MORNING, "session", "cancel", session_id, NULL), 1);
	HAS(cr.err, "only a facilitator");
	CHECK_INT_EQ(run(home_s, T_MORNING, "sessions", "--days", "60", NULL), 0);
	HAS(cr.out, "Check-in between court days");
	HAS(cr.out, "Mon 2030-01-14 18:00");
	LACKS(cr.out, "2030-01-21");
	HAS(cr.out, "Mon 2030-01-28 18:00");
	CHECK_INT_EQ(run(home_s, T_MORNING, "session", "show", session_id, "--json", NULL), 0);
	HAS(cr.out, "\"sequence\":2");
}

/* A non-facilitator's schedule, sent past the command's own check, is refused by the others. */
static void test_forged_schedule(void)
{
	struct direct d;
	struct session_message m;
	struct session_schedule *s = &m.u.schedule;

	CHECK_OK(direct_open(&d, home_n, START_MS - 8 * 3600 * 1000));
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_SCHEDULE;
	memset(s->id, 0xee, SESSION_ID_LEN);
	strcpy(s->title, "Forged meeting");
	strcpy(s->zone, "UTC");
	s->local.date.year = 2030;
	s->local.date.month = 2;
	s->local.date.day = 1;
	s->local.hour = 12;
	s->duration_min = 60;
	s->start_utc = INT64_C(1896177600);
	if (d.engine != NULL) {
		CHECK_OK(engine_send(d.engine, "peers", &m, NULL, NULL));
	}
	direct_close(&d);
	CHECK_INT_EQ(run(home_a, T_MORNING, "sessions", "--days", "60", NULL), 0);
	LACKS(cr.out, "Forged meeting");
	HAS(cr.err, "refused 1 session message");
	CHECK_INT_EQ(run(home_s, T_MORNING, "sessions", "--days", "60", NULL), 0);
	LACKS(cr.out, "Forged meeting");
	/* The command itself refuses for a member. */
	CHECK_INT_EQ(run(home_n, T_MORNING, "session", "schedule", "peers", "--title", "Mine",
			 "--at", "2030-02-01 12:00", "--duration", "1h", NULL),
		     1);
	HAS(cr.err, "only a facilitator");
}

static void test_roles(void)
{
	/* Only a facilitator changes roles. */
	CHECK_INT_EQ(run(home_n, T_MORNING, "circle", "promote", "peers", "Samir", NULL), 1);
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "promote", "peers", "Noor", NULL), 0);
	HAS(cr.out, "is now a facilitator");
	CHECK_INT_EQ(run(home_n, T_MORNING, "session", "schedule", "peers", "--title",
			 "Noor's mentoring hour", "--at", "2030-01-09 12:30", "--tz",
			 "Asia/Kolkata", "--duration", "1h", NULL),
		     0);
	CHECK_INT_EQ(run(home_s, T_MORNING, "sessions", NULL), 0);
	HAS(cr.out, "Noor's mentoring hour");
	/* 12:30 in Kolkata (+05:30) is 08:00 in Berlin (+01:00). */
	HAS(cr.out, "Wed 2030-01-09 08:00-09:00");
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "demote", "peers", "Noor", NULL), 0);
	HAS(cr.out, "no longer a facilitator");
	CHECK_INT_EQ(run(home_n, T_MORNING, "session", "schedule", "peers", "--title", "Again",
			 "--at", "2030-02-01 12:00", "--duration", "1h", NULL),
		     1);
	HAS(cr.err, "only a facilitator");
}

/*
 * Every command that syncs applies session payloads, not only the session
 * commands: `halqa sync` and `halqa read` store what Amira schedules and
 * edits, and a plain `halqa send` after them still works.
 */
static void test_sync_applies(void)
{
	char id[33] = "";
	const char *p;

	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "schedule", "peers", "--title",
			 "Case clinic", "--at", "2030-02-04 10:00", "--tz", "Europe/Berlin",
			 "--duration", "1h", NULL),
		     0);
	CHECK_INT_EQ(stored_title(home_n, "Case clinic"), 0);
	CHECK_INT_EQ(run(home_n, T_MORNING, "sync", NULL), 0);
	CHECK_INT_EQ(stored_title(home_n, "Case clinic"), 1);
	CHECK_INT_EQ(run(home_a, T_MORNING, "sessions", "--days", "60", "--json", NULL), 0);
	if ((p = strstr(cr.out, "Case clinic")) != NULL) {
		while (p > cr.out && strncmp(p, "\"id\":\"", 6) != 0) {
			p--;
		}
		if (strncmp(p, "\"id\":\"", 6) == 0) {
			snprintf(id, sizeof id, "%.32s", p + 6);
		}
	}
	CHECK_INT_EQ(strlen(id), 32);
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "edit", id, "--title", "Case clinic (room 2)",
			 NULL),
		     0);
	CHECK_INT_EQ(run(home_s, T_MORNING, "read", "peers", NULL), 0);
	CHECK_INT_EQ(stored_title(home_s, "Case clinic (room 2)"), 1);
	CHECK_INT_EQ(run(home_n, T_MORNING, "read", "peers", NULL), 0);
	CHECK_INT_EQ(stored_title(home_n, "Case clinic (room 2)"), 1);
	/* The CLI's own events still flow after the session handler. */
	CHECK_INT_EQ(run(home_n, T_MORNING, "send", "peers", "after the clinic moved", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_MORNING, "read", "peers", NULL), 0);
	HAS(cr.out, "after the clinic moved");
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "cancel", id, NULL), 0);
	CHECK_INT_EQ(run(home_n, T_MORNING, "sync", NULL), 0);
}

/* direct_send sends |m| into "peers" from |home| at |now|. */
static void direct_send(const char *home, int64_t now, const struct session_message *m)
{
	struct direct d;

	CHECK_OK(direct_open(&d, home, now));
	if (d.engine != NULL) {
		CHECK_OK(engine_send(d.engine, "peers", m, NULL, NULL));
	}
	direct_close(&d);
}

/*
 * A check-in round as `halqa chat` runs it (OPEN, answers tagged with the
 * round): Samir's `halqa read` shows the answers together under the
 * question, the message sent between them after the group.
 */
static void test_checkin_read(void)
{
	struct session_message m;
	uint8_t round[SESSION_ROUND_ID_LEN];
	int64_t t = START_MS - 8 * 3600 * 1000;
	const char *head, *a1, *a2, *other;

	randombytes_buf(round, sizeof round);
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CHECKIN;
	memcpy(m.u.checkin.round_id, round, sizeof round);
	m.u.checkin.step = SESSION_STEP_OPEN;
	strcpy(m.u.checkin.question, "How was your week?");
	m.u.checkin.turn_timeout_s = 60;
	direct_send(home_a, t, &m);
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CHAT;
	m.u.chat.in_round = 1;
	memcpy(m.u.chat.round_id, round, sizeof round);
	strcpy(m.u.chat.text, "a long week in court");
	direct_send(home_n, t + 1000, &m);
	direct_chat(home_n, t + 2000, "who has the docket?");
	strcpy(m.u.chat.text, "a quiet week");
	direct_send(home_a, t + 3000, &m);
	CHECK_INT_EQ(run(home_s, T_MORNING, "read", "peers", NULL), 0);
	head = strstr(cr.out, "-- check-in: How was your week? (asked by Amira) --");
	a1 = strstr(cr.out, "Noor: a long week in court");
	a2 = strstr(cr.out, "Amira: a quiet week");
	other = strstr(cr.out, "Noor: who has the docket?");
	CHECK(head != NULL && a1 != NULL && a2 != NULL && other != NULL);
	if (head != NULL && a1 != NULL && a2 != NULL && other != NULL) {
		CHECK(head < a1 && a1 < a2 && a2 < other);
	}
	CHECK_INT_EQ(run(home_s, T_MORNING, "read", "peers", "--last", "3", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"question\":\"How was your week?\""), 2);
	/* A tag naming a round no facilitator opened: grouped, but under no question. */
	randombytes_buf(round, sizeof round);
	memcpy(m.u.chat.round_id, round, sizeof round);
	strcpy(m.u.chat.text, "my own round");
	direct_send(home_n, t + 4000, &m);
	CHECK_INT_EQ(run(home_s, T_MORNING, "read", "peers", NULL), 0);
	HAS(cr.out, "-- check-in --");
	LACKS(cr.out, "asked by");
}

/* A facilitator steps down with "me" while another remains; the last one cannot. */
static void test_step_down(void)
{
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "promote", "peers", "Noor", NULL), 0);
	CHECK_INT_EQ(run(home_n, T_MORNING, "circle", "demote", "peers", "me", NULL), 0);
	HAS(cr.out, "You are no longer a facilitator of peers");
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 1);
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "demote", "peers", "me", NULL), 1);
	HAS(cr.err, "you are the last facilitator of this circle and cannot step down");
	CHECK_INT_EQ(run(home_n, T_MORNING, "circle", "demote", "peers", "me", NULL), 1);
	HAS(cr.err, "you are not a facilitator of this circle");
}

/* Layla joins after the sessions were scheduled: Amira's next command sends them again. */
static void test_newcomer(void)
{
	char card_a[700], card_l[700];
	struct direct d;

	make_profile(home_l, "Layla");
	card_of(home_a, card_a, sizeof card_a);
	card_of(home_l, card_l, sizeof card_l);
	CHECK_INT_EQ(run(home_a, NULL, "contact", "add", "Layla", card_l, NULL), 0);
	CHECK_INT_EQ(run(home_l, NULL, "contact", "add", "Amira", card_a, NULL), 0);
	CHECK_OK(direct_open(&d, home_l, START_MS - 8 * 3600 * 1000));
	if (d.engine != NULL) {
		CHECK_OK(engine_register(d.engine, NULL));
	}
	direct_close(&d);
	/* `halqa circle add` sends the live sessions right after its commit. */
	CHECK_INT_EQ(run(home_a, T_MORNING, "circle", "add", "peers", "Layla", NULL), 0);
	HAS(cr.err, "sent 2 session(s) of peers again");
	/* A second command sends nothing more. */
	CHECK_INT_EQ(run(home_a, T_MORNING, "sessions", NULL), 0);
	LACKS(cr.err, "again");
	/* Layla's first sync (a plain `halqa sync`) brings them, the edit and the cancellation. */
	CHECK_INT_EQ(run(home_l, T_MORNING, "sync", NULL), 0);
	CHECK_INT_EQ(stored_title(home_l, "Check-in between court days"), 1);
	CHECK_INT_EQ(stored_title(home_l, "Case clinic (room 2)"), 0);
	CHECK_INT_EQ(run(home_l, T_MORNING, "sessions", "--days", "60", NULL), 0);
	HAS(cr.out, "Check-in between court days");
	HAS(cr.out, "Noor's mentoring hour");
	HAS(cr.out, "Mon 2030-01-28 18:00");
	LACKS(cr.out, "2030-01-21");
	/* For those who had them the copies change nothing and are not refusals. */
	CHECK_INT_EQ(run(home_s, T_MORNING, "sessions", "--days", "60", NULL), 0);
	LACKS(cr.err, "refused");
	HAS(cr.out, "Check-in between court days");
}

/* Amira is the only facilitator again: she cannot step down or leave without handing over. */
static void test_last_facilitator(void)
{
	struct direct d;
	struct engine_member *m = NULL;
	size_t n = 0, facs = 0;

	CHECK_OK(direct_open(&d, home_a, START_MS));
	if (d.engine != NULL) {
		CHECK(engine_circle_leave(d.engine, "peers") != HALQA_OK);
		CHECK_OK(engine_circle_members(d.engine, "peers", &m, &n));
		for (size_t i = 0; i < n; i++) {
			facs += m[i].facilitator;
			CHECK(!m[i].facilitator || m[i].self);
		}
		CHECK_INT_EQ(n, 4);
		CHECK_INT_EQ(facs, 1);
		free(m);
	}
	direct_close(&d);
}

/*
 * A facilitator who is removed, or leaves, leaves the roster too: added
 * again, they come back as members, not as facilitators.
 */
static void test_removed_facilitator(void)
{
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "promote", "peers", "Layla", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 2);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "remove", "peers", "Layla", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 1);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "add", "peers", "Layla", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 1);
	CHECK_INT_EQ(count_of(cr.out, "\"name\":"), 4);
	/* A facilitator who leaves steps down first; back again, Noor is a member. */
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "promote", "peers", "Noor", NULL), 0);
	CHECK_INT_EQ(run(home_n, T_AFTER, "circle", "leave", "peers", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "sync", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"name\":"), 3);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 1);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "add", "peers", "Noor", NULL), 0);
	CHECK_INT_EQ(run(home_a, T_AFTER, "circle", "members", "peers", "--json", NULL), 0);
	CHECK_INT_EQ(count_of(cr.out, "\"name\":"), 4);
	CHECK_INT_EQ(count_of(cr.out, "\"facilitator\":true"), 1);
}

static icalproperty *first_prop(icalcomponent *c, icalproperty_kind k)
{
	return icalcomponent_get_first_property(c, k);
}

static void test_export(void)
{
	char path[400], *text = NULL;
	size_t len = 0;
	FILE *f;
	long n;
	icalcomponent *cal, *ev, *tz, *alarm;
	icalproperty *p;
	struct icaltimetype t;
	struct icalrecurrencetype rr;
	int exdates = 0;

	snprintf(path, sizeof path, "%s/peers.ics", tmp);
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "export", session_id, "--ics", path,
			 "--with-agenda", NULL),
		     0);
	f = fopen(path, "rb");
	CHECK(f != NULL);
	if (f == NULL) {
		return;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	len = fread(text, 1, (size_t)n, f);
	fclose(f);
	CHECK_INT_EQ(len, n);
	cal = icalparser_parse_string(text);
	CHECK(cal != NULL);
	if (cal == NULL) {
		free(text);
		return;
	}
	ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	tz = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT);
	CHECK(ev != NULL && tz != NULL);
	if (ev != NULL) {
		char uid[64];

		snprintf(uid, sizeof uid, "%s@halqa.invalid", session_id);
		CHECK(strcmp(icalcomponent_get_uid(ev), uid) == 0);
		CHECK(strcmp(icalcomponent_get_summary(ev), "Check-in between court days") == 0);
		CHECK(strstr(icalcomponent_get_description(ev), "Case review") != NULL);
		CHECK_INT_EQ(icalcomponent_get_sequence(ev), 2);
		p = first_prop(ev, ICAL_DTSTART_PROPERTY);
		CHECK(p != NULL);
		if (p != NULL) {
			icalparameter *tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);

			CHECK(tzid != NULL && strcmp(icalparameter_get_tzid(tzid), "Europe/Berlin") == 0);
			t = icalproperty_get_dtstart(p);
			CHECK(t.year == 2030 && t.month == 1 && t.day == 7 && t.hour == 18 && t.minute == 0);
		}
		CHECK_INT_EQ(icaldurationtype_as_int(icalcomponent_get_duration(ev)), 90 * 60);
		p = first_prop(ev, ICAL_RRULE_PROPERTY);
		CHECK(p != NULL);
		if (p != NULL) {
			rr = icalproperty_get_rrule(p);
			CHECK(rr.freq == ICAL_WEEKLY_RECURRENCE && rr.count == 4 && rr.interval == 1);
		}
		for (p = first_prop(ev, ICAL_EXDATE_PROPERTY); p != NULL;
		     p = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY)) {
			t = icalproperty_get_exdate(p);
			CHECK(t.year == 2030 && t.month == 1 && t.day == 21 && t.hour == 18);
			exdates++;
		}
		CHECK_INT_EQ(exdates, 1);
		alarm = icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT);
		CHECK(alarm != NULL);
	}
	icalcomponent_free(cal);
	/* Without --with-agenda nothing private goes in. */
	CHECK_INT_EQ(run(home_a, T_MORNING, "session", "export", "peers", "--ics", "-", NULL), 0);
	HAS(cr.out, "BEGIN:VCALENDAR");
	LACKS(cr.out, "Case review");
	free(text);
}

static void test_session_only(void)
{
	/* During the occurrence Amira and Noor talk; Samir is offline. */
	direct_chat(home_a, START_MS + 10 * 60 * 1000, "the confidential docket number 4711");
	direct_chat(home_a, START_MS - 30 * 60 * 1000, "before the session: agenda posted");
	CHECK_INT_EQ(run(home_n, T_DURING, "sessions", NULL), 0);
	CHECK_INT_EQ(history_has(home_n, "docket number 4711"), 1);
	/* Noor's reminders: the session has started. */
	CHECK_INT_EQ(run(home_n, T_DURING, "agenda", "--remind", NULL), 0);
	HAS(cr.out, "has started");
	/* After the end, Noor's next command clears it and says so. */
	CHECK_INT_EQ(run(home_n, T_AFTER, "agenda", NULL), 0);
	CHECK_INT_EQ(history_has(home_n, "docket number 4711"), 0);
	CHECK_INT_EQ(history_has(home_n, SESSIONS_NOTICE_TEXT), 1);
	CHECK_INT_EQ(history_has(home_n, "agenda posted"), 1);
	/* Samir syncs only now: the message is deleted on arrival. */
	CHECK_INT_EQ(run(home_s, T_AFTER, "sessions", NULL), 0);
	CHECK_INT_EQ(history_has(home_s, "docket number 4711"), 0);
	CHECK_INT_EQ(history_has(home_s, SESSIONS_NOTICE_TEXT), 1);
	CHECK_INT_EQ(history_has(home_s, "agenda posted"), 1);
	/* And the sender's own copy goes too. */
	CHECK_INT_EQ(run(home_a, T_AFTER, "sessions", NULL), 0);
	CHECK_INT_EQ(history_has(home_a, "docket number 4711"), 0);
	/* The notice reads as a system line, not as a stranger's message. */
	CHECK_INT_EQ(run(home_s, T_AFTER, "read", "peers", "--all", NULL), 0);
	HAS(cr.out, "-- " SESSIONS_NOTICE_TEXT " --");
	LACKS(cr.out, "~");
	CHECK_INT_EQ(run(home_s, T_AFTER, "read", "peers", "--all", "--json", NULL), 0);
	HAS(cr.out, "\"system\":true,\"sender\":null");
	CHECK_INT_EQ(count_of(cr.out, "\"system\":true"), 1);
}

static void test_clock_guard(void)
{
	/* The test clock without HALQA_TESTING=1 is refused. */
	CHECK_INT_EQ(cli_runner_setenv(&cr, "HALQA_TEST_NOW_MS", T_AFTER), 0);
	CHECK_INT_EQ(cli_runner_setenv(&cr, "HALQA_TESTING", NULL), 0);
	CHECK_INT_EQ(cli_runner_run(&cr, "amira", PASS, NULL, 0, "agenda", (char *)NULL), 1);
	HAS(cr.err, "HALQA_TESTING=1");
}

int main(void)
{
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0 ||
	    cli_runner_setenv(&cr, "TZ", "Europe/Berlin") != 0) {
		return 1;
	}
	snprintf(tmp, sizeof tmp, "%s", cr.root);
	cli_runner_home(&cr, "amira", home_a, sizeof home_a);
	cli_runner_home(&cr, "noor", home_n, sizeof home_n);
	cli_runner_home(&cr, "samir", home_s, sizeof home_s);
	cli_runner_home(&cr, "layla", home_l, sizeof home_l);
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	RUN(test_setup);
	if (harness_current_failed) {
		relay_test_stop(&relay);
		return 1;
	}
	RUN(test_schedule_and_rsvp);
	RUN(test_edit_cancel);
	RUN(test_forged_schedule);
	RUN(test_roles);
	RUN(test_sync_applies);
	RUN(test_checkin_read);
	RUN(test_step_down);
	RUN(test_newcomer);
	RUN(test_export);
	RUN(test_session_only);
	RUN(test_clock_guard);
	RUN(test_last_facilitator);
	RUN(test_removed_facilitator);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
