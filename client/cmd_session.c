/*
 * cmd_session.c: the facilitator's and member's session commands:
 * promote/demote, schedule, edit, cancel, RSVP, show, export, the
 * upcoming list and the agenda with its reminders.
 *
 * Each command syncs first through the circle engine with the session
 * event handler registered (what others scheduled or answered is applied
 * on arrival), then runs the session-only retention, then does its work
 * on the local state, so it also works offline. A change we make is sent
 * with engine_send (kept in the outbox when the relay is unreachable) and
 * applied to our own state with the same rules a peer applies; the
 * engine does not hand our own messages back to us.
 *
 * Everything printed that came from another member (titles, agendas,
 * notes, circle and contact names) goes through term_sanitize; --json
 * output through cli_json_string. Times are shown in the viewer's zone,
 * named in the output.
 */
#include "halqa/cmd_session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "halqa/agenda.h"
#include "halqa/cli.h"
#include "halqa/cli_engine.h"
#include "halqa/engine.h"
#include "halqa/ics.h"
#include "halqa/recur.h"
#include "halqa/safety.h"
#include "halqa/sessions.h"
#include "halqa/sessions_event.h"
#include "halqa/term.h"

#define DAY_S INT64_C(86400)
#define NEXT_SHOWN 5
#define LIST_MAX 2000
#define ID_SHORT 8 /* hex digits shown for an id */

struct run {
	struct store *store;
	const struct identity *id;
	const char *usage;
	struct cli_engine ce;   /* the engine, its loop, the session handler, the clock */
	struct engine *engine;  /* ce.e once started */
	char zone[SESSION_ZONE_MAX + 1]; /* the viewer's zone */
	const char *zone_from;           /* where it came from, for the output */
	int json;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("halqa: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int usage(const struct run *u)
{
	fprintf(stderr, "usage: halqa %s\n", u->usage);
	return 2;
}

/* put_text prints |s| made safe for the terminal (|flags|: TERM_NEWLINES). */
static void put_text(const char *s, unsigned flags)
{
	char *safe = NULL;
	size_t len = 0;

	if (term_sanitize(&safe, &len, s, strlen(s), flags) == HALQA_OK) {
		fwrite(safe, 1, len, stdout);
	}
	free(safe);
}

/* now_ms is the command's clock (the test clock under HALQA_TEST_NOW_MS). */
static int64_t now_ms(const struct run *u)
{
	return cli_engine_now_ms(&u->ce);
}

/* zone_from_path takes the zone name after ".../zoneinfo/" in |p|. */
static int zone_from_path(char out[SESSION_ZONE_MAX + 1], const char *p)
{
	const char *z = strstr(p, "zoneinfo/");

	if (z == NULL) {
		return 0;
	}
	z += strlen("zoneinfo/");
	if (strlen(z) > SESSION_ZONE_MAX || recur_zone_known(z) != HALQA_OK) {
		return 0;
	}
	strcpy(out, z);
	return 1;
}

/* viewer_zone: $TZ (a zone name or a zoneinfo path), else /etc/localtime, else UTC. */
static void viewer_zone(struct run *u)
{
	const char *tz = getenv("TZ");
	char link[512];
	ssize_t n;

	if (tz != NULL && tz[0] == ':') {
		tz++;
	}
	if (tz != NULL && tz[0] != '\0') {
		if (strlen(tz) <= SESSION_ZONE_MAX && recur_zone_known(tz) == HALQA_OK) {
			strcpy(u->zone, tz);
			u->zone_from = "TZ";
			return;
		}
		if (zone_from_path(u->zone, tz)) {
			u->zone_from = "TZ";
			return;
		}
	}
	n = readlink("/etc/localtime", link, sizeof link - 1);
	if (n > 0) {
		link[n] = '\0';
		if (zone_from_path(u->zone, link)) {
			u->zone_from = "/etc/localtime";
			return;
		}
	}
	strcpy(u->zone, "UTC");
	u->zone_from = "no TZ and no /etc/localtime";
}

static const char *const weekdays[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static const char *weekday(const struct session_date *d)
{
	int64_t days = session_days_from_civil(d->year, d->month, d->day);

	return weekdays[((days % 7) + 11) % 7]; /* 1970-01-01 was a Thursday */
}

/* fmt_wall writes "Thu 2024-03-21 18:00" for |utc| in |zone|. */
static void fmt_wall(char *out, size_t out_len, int64_t utc, const char *zone)
{
	struct session_wall w;

	if (recur_to_zone(&w, NULL, zone, utc) != HALQA_OK) {
		snprintf(out, out_len, "?");
		return;
	}
	snprintf(out, out_len, "%s %04u-%02u-%02u %02u:%02u", weekday(&w.date), w.date.year,
		 w.date.month, w.date.day, w.hour, w.minute);
}

/* fmt_hm writes "18:00" for |utc| in |zone|. */
static void fmt_hm(char *out, size_t out_len, int64_t utc, const char *zone)
{
	struct session_wall w;

	if (recur_to_zone(&w, NULL, zone, utc) != HALQA_OK) {
		snprintf(out, out_len, "?");
		return;
	}
	snprintf(out, out_len, "%02u:%02u", w.hour, w.minute);
}

static void fmt_date(char out[16], const struct session_date *d)
{
	snprintf(out, 16, "%04u-%02u-%02u", d->year % 10000u, d->month % 100u, d->day % 100u);
}

static void fmt_iso(char out[24], int64_t utc)
{
	int y;
	unsigned mo, d;
	int64_t days = utc / DAY_S, rem = utc % DAY_S;

	if (rem < 0) {
		rem += DAY_S;
		days--;
	}
	session_civil_from_days(days, &y, &mo, &d);
	snprintf(out, 24, "%04d-%02u-%02uT%02d:%02d:%02dZ", y % 10000, mo % 100u, d % 100u, (int)(rem / 3600),
		 (int)(rem / 60 % 60), (int)(rem % 60));
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;

	if (s[0] < '0' || s[0] > '9') {
		return 0;
	}
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= max;
}

/* parse_date reads "YYYY-MM-DD" (a real date in 2000..2100). */
static int parse_date(const char *s, struct session_date *out)
{
	unsigned y, m, d;
	char tail;

	memset(out, 0, sizeof *out);
	if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
	    s[7] != '-') {
		return 0;
	}
	out->year = (uint16_t)y;
	out->month = (uint8_t)m;
	out->day = (uint8_t)d;
	return session_date_valid(out);
}

/* parse_at reads "YYYY-MM-DD HH:MM". */
static int parse_at(const char *s, struct session_wall *out)
{
	char date[11];
	unsigned h, mi;
	char tail;

	memset(out, 0, sizeof *out);
	if (strlen(s) != 16 || s[10] != ' ' || s[13] != ':') {
		return 0;
	}
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!parse_date(date, &out->date) || sscanf(s + 11, "%2u:%2u%c", &h, &mi, &tail) != 2 ||
	    h > 23 || mi > 59) {
		return 0;
	}
	out->hour = (uint8_t)h;
	out->minute = (uint8_t)mi;
	return 1;
}

/* parse_duration reads "90m", "1h", "1h30m" or plain minutes. */
static int parse_duration(const char *s, uint16_t *out)
{
	unsigned long total = 0, v;
	const char *p = s;
	char *end = NULL;
	int seen_h = 0, seen_m = 0;

	if (*p == '\0') {
		return 0;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9') {
			return 0;
		}
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v > SESSION_DURATION_MAX) {
			return 0;
		}
		if (*end == 'h' && !seen_h && !seen_m) {
			total += v * 60;
			seen_h = 1;
			p = end + 1;
		} else if ((*end == 'm' && !seen_m) || (*end == '\0' && !seen_h && !seen_m)) {
			total += v;
			seen_m = 1;
			p = *end == 'm' ? end + 1 : end;
		} else {
			return 0;
		}
	}
	if (total < SESSION_DURATION_MIN || total > SESSION_DURATION_MAX) {
		return 0;
	}
	*out = (uint16_t)total;
	return 1;
}

static const char *answer_name(uint8_t a)
{
	switch (a) {
	case SESSION_ANSWER_YES:
		return "yes";
	case SESSION_ANSWER_NO:
		return "no";
	case SESSION_ANSWER_MAYBE:
		return "maybe";
	default:
		return NULL;
	}
}

/* member_name writes "you", the contact's name, or the fingerprint's start. */
static void member_name(struct run *u, const uint8_t key[ROSTER_KEY_LEN], char *out,
			size_t out_len)
{
	struct store_contact c;
	char fp[SAFETY_FP_STR_LEN];

	if (sodium_memcmp(key, u->id->sign_pub, ROSTER_KEY_LEN) == 0) {
		snprintf(out, out_len, "you");
	} else if (store_contact_get_by_key(u->store, key, &c) == HALQA_OK) {
		snprintf(out, out_len, "%s", c.name);
	} else {
		safety_fingerprint(fp, key);
		snprintf(out, out_len, "%.11s...", fp);
	}
}

static void circle_name(struct run *u, const uint8_t id[STORE_ID_LEN], char out[STORE_MAX_NAME + 1])
{
	struct store_circle c;

	if (store_circle_get_by_id(u->store, id, &c) == HALQA_OK) {
		memcpy(out, c.name, STORE_MAX_NAME + 1);
	} else {
		snprintf(out, STORE_MAX_NAME + 1, "(a circle you left)");
	}
}

static int engine_fail(struct run *u, const char *what, int r)
{
	return cli_engine_fail(&u->ce, what, r);
}

/*
 * start opens the engine and syncs through cli_engine_start: what arrived
 * is applied, the session-only retention runs, newcomers get the sessions.
 */
static int start(struct run *u)
{
	viewer_zone(u);
	if (cli_engine_start(&u->ce, u->store, u->id, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL) != 0) {
		return 1;
	}
	u->engine = u->ce.e;
	return 0;
}

static void finish(struct run *u)
{
	cli_engine_close(&u->ce);
	u->engine = NULL;
}

/* find_circle resolves a circle name (or id) the user typed. */
static int find_circle(struct run *u, const char *name, struct store_circle *out)
{
	int r = engine_circle_find(u->engine, name, out);

	if (r == HALQA_ERR_NOT_FOUND) {
		return fail("no such circle");
	}
	if (r != HALQA_OK) {
		return engine_fail(u, "cannot find the circle", r);
	}
	return 0;
}

/* find_session resolves an id prefix; |*e| is malloc'd on success. */
static int find_session(struct run *u, const char *prefix, struct sessions_entry **e)
{
	uint8_t id[SESSION_ID_LEN];
	int r = sessions_resolve(u->store, prefix, id);

	*e = NULL;
	switch (r) {
	case HALQA_OK:
		break;
	case HALQA_ERR_ARG:
		return fail("a session id is hex digits (as halqa sessions shows them)");
	case HALQA_ERR_NOT_FOUND:
		return fail("no such session");
	case HALQA_ERR_EXISTS:
		return fail("several sessions start with that id: give more digits");
	default:
		return fail("cannot look up the session: %s", halqa_strerror(r));
	}
	if ((*e = malloc(sizeof **e)) == NULL) {
		return fail("out of memory");
	}
	if ((r = sessions_get(u->store, id, *e)) != HALQA_OK) {
		free(*e);
		*e = NULL;
		return fail("cannot read the session: %s", halqa_strerror(r));
	}
	return 0;
}

/* must_facilitate checks our own role before we send what peers would refuse. */
static int must_facilitate(struct run *u, const uint8_t circle_id[STORE_ID_LEN],
			   struct roster *roster, const char *what)
{
	int r = sessions_event_roster(u->engine, u->store, circle_id, roster);

	if (r != HALQA_OK) {
		return engine_fail(u, "cannot read the circle's roster", r);
	}
	if (roster_may_schedule(roster, u->id->sign_pub) != HALQA_OK) {
		return fail("only a facilitator of this circle can %s sessions", what);
	}
	return 0;
}

/* send_apply sends |m| to the circle, then applies it to our own state. */
static int send_apply(struct run *u, const struct store_circle *c, const struct roster *roster,
		      const struct session_message *m, int *out_sent)
{
	bool sent = false;
	int r;

	*out_sent = 0;
	if ((r = engine_send(u->engine, c->name, m, NULL, &sent)) != HALQA_OK) {
		return engine_fail(u, "cannot send to the circle", r);
	}
	*out_sent = sent;
	if ((r = sessions_apply(u->store, c->circle_id, u->id->sign_pub, roster, now_ms(u), m)) !=
	    HALQA_OK) {
		return fail("sent, but could not record it here: %s", halqa_strerror(r));
	}
	if (m->kind == SESSION_KIND_SCHEDULE &&
	    sessions_event_record_members(u->engine, u->store, c->circle_id) != HALQA_OK) {
		fprintf(stderr, "halqa: warning: could not record the circle's members\n");
	}
	return 0;
}

static void say_queued(int sent)
{
	if (!sent) {
		printf("(offline: kept in the outbox, sent on the next sync)\n");
	}
}

struct sched_opts {
	const char *title, *at, *tz, *duration, *every, *until, *count, *agenda;
	int session_only; /* -1: not given */
};

static int sched_opts_parse(struct sched_opts *o, int argc, char **argv, int first)
{
	memset(o, 0, sizeof *o);
	o->session_only = -1;
	for (int i = first; i < argc; i++) {
		const char **slot = NULL;

		if (strcmp(argv[i], "--title") == 0) {
			slot = &o->title;
		} else if (strcmp(argv[i], "--at") == 0) {
			slot = &o->at;
		} else if (strcmp(argv[i], "--tz") == 0) {
			slot = &o->tz;
		} else if (strcmp(argv[i], "--duration") == 0) {
			slot = &o->duration;
		} else if (strcmp(argv[i], "--every") == 0) {
			slot = &o->every;
		} else if (strcmp(argv[i], "--until") == 0) {
			slot = &o->until;
		} else if (strcmp(argv[i], "--count") == 0) {
			slot = &o->count;
		} else if (strcmp(argv[i], "--agenda") == 0) {
			slot = &o->agenda;
		} else if (strcmp(argv[i], "--session-only") == 0) {
			o->session_only = 1;
			continue;
		} else if (strcmp(argv[i], "--no-session-only") == 0) {
			o->session_only = 0;
			continue;
		} else {
			return 0;
		}
		if (i + 1 >= argc || *slot != NULL) {
			return 0;
		}
		*slot = argv[++i];
	}
	return !(o->until != NULL && o->count != NULL);
}

static int copy_field(char *dst, size_t max, const char *src, const char *what, int newlines)
{
	size_t len = strlen(src);

	if (len > max) {
		return fail("the %s is longer than %zu bytes", what, max);
	}
	if (!session_utf8_valid(src, len, newlines)) {
		return fail("the %s must be UTF-8 text without control characters", what);
	}
	memcpy(dst, src, len + 1);
	return 0;
}

/* sched_build applies |o| to |*s| (a fresh or the stored schedule). */
static int sched_build(struct run *u, struct session_schedule *s, const struct sched_opts *o,
		       int is_new)
{
	unsigned long n;
	int r;

	if (o->title != NULL &&
	    (copy_field(s->title, SESSION_TITLE_MAX, o->title, "title", 0) != 0 || s->title[0] == '\0')) {
		return s->title[0] == '\0' ? fail("the title is empty") : 1;
	}
	if (o->agenda != NULL && copy_field(s->agenda, SESSION_AGENDA_MAX, o->agenda, "agenda", 1)) {
		return 1;
	}
	if (o->tz != NULL) {
		if (strlen(o->tz) > SESSION_ZONE_MAX || recur_zone_known(o->tz) != HALQA_OK) {
			return fail("unknown time zone (use an IANA name such as Europe/Berlin)");
		}
		strcpy(s->zone, o->tz);
	} else if (is_new) {
		strcpy(s->zone, u->zone);
	}
	if (o->at != NULL && !parse_at(o->at, &s->local)) {
		return fail("--at takes \"YYYY-MM-DD HH:MM\" (a date in 2000..2100)");
	}
	if ((r = recur_resolve_local(&s->start_utc, s->zone, &s->local)) != HALQA_OK) {
		return fail("that time does not exist in %s", s->zone);
	}
	if (o->duration != NULL && !parse_duration(o->duration, &s->duration_min)) {
		return fail("--duration takes minutes or hours, 5m to 24h (90m, 1h30m)");
	}
	if (o->every != NULL) {
		s->end = SESSION_END_NONE;
		s->count = 0;
		memset(&s->until, 0, sizeof s->until);
		s->interval_weeks = 0;
		if (strcmp(o->every, "1w") == 0 || strcmp(o->every, "2w") == 0 ||
		    strcmp(o->every, "4w") == 0) {
			s->freq = SESSION_FREQ_WEEKLY;
			s->interval_weeks = (uint8_t)(o->every[0] - '0');
		} else if (strcmp(o->every, "monthly") == 0) {
			s->freq = SESSION_FREQ_MONTHLY;
		} else if (strcmp(o->every, "none") == 0) {
			s->freq = SESSION_FREQ_NONE;
		} else {
			return fail("--every takes 1w, 2w, 4w, monthly (or none)");
		}
	}
	if (o->until != NULL || o->count != NULL) {
		if (s->freq == SESSION_FREQ_NONE) {
			return fail("--until and --count need --every");
		}
		memset(&s->until, 0, sizeof s->until);
		s->count = 0;
		if (o->until != NULL) {
			if (!parse_date(o->until, &s->until)) {
				return fail("--until takes a date YYYY-MM-DD");
			}
			s->end = SESSION_END_UNTIL;
		} else {
			if (!parse_uint(o->count, SESSION_COUNT_MAX, &n) || n == 0) {
				return fail("--count takes 1 to %d", SESSION_COUNT_MAX);
			}
			s->count = (uint16_t)n;
			s->end = SESSION_END_COUNT;
		}
	}
	if (o->session_only >= 0) {
		s->session_only = (uint8_t)o->session_only;
	}
	if (s->end == SESSION_END_UNTIL &&
	    (session_date_cmp(&s->until, &s->local.date) < 0 ||
	     session_days_from_civil(s->until.year, s->until.month, s->until.day) -
			     session_days_from_civil(s->local.date.year, s->local.date.month,
						     s->local.date.day) >
		     SESSION_UNTIL_MAX_DAYS)) {
		return fail("--until must be after the start and at most five years later");
	}
	return 0;
}

static void print_recurrence(const struct session_schedule *s)
{
	char d[16];

	switch (s->freq) {
	case SESSION_FREQ_WEEKLY:
		if (s->interval_weeks == 1) {
			printf("every week");
		} else {
			printf("every %u weeks", s->interval_weeks);
		}
		break;
	case SESSION_FREQ_MONTHLY:
		printf("monthly on day %u", s->local.date.day);
		break;
	default:
		printf("once");
		return;
	}
	if (s->end == SESSION_END_COUNT) {
		printf(", %u times", s->count);
	} else if (s->end == SESSION_END_UNTIL) {
		fmt_date(d, &s->until);
		printf(" until %s", d);
	}
}

/* print_when prints the start in the session's zone and, if it differs, in ours. */
static void print_when(struct run *u, int64_t utc, const char *zone)
{
	char a[40], b[40];

	fmt_wall(a, sizeof a, utc, zone);
	printf("%s %s", a, zone);
	if (strcmp(zone, u->zone) != 0) {
		fmt_wall(b, sizeof b, utc, u->zone);
		printf(" (your time: %s %s)", b, u->zone);
	}
}

static int cmd_schedule(struct run *u, int argc, char **argv)
{
	struct session_message m;
	struct sched_opts o;
	struct store_circle c;
	struct roster roster;
	char hex[2 * SESSION_ID_LEN + 1];
	int sent = 0;

	if (argc < 1 || !sched_opts_parse(&o, argc, argv, 1) || o.title == NULL || o.at == NULL ||
	    o.duration == NULL) {
		return usage(u);
	}
	if (start(u) != 0 || find_circle(u, argv[0], &c) != 0 ||
	    must_facilitate(u, c.circle_id, &roster, "schedule") != 0) {
		return 1;
	}
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_SCHEDULE;
	randombytes_buf(m.u.schedule.id, SESSION_ID_LEN);
	if (sched_build(u, &m.u.schedule, &o, 1) != 0) {
		return 1;
	}
	if (o.tz == NULL) {
		printf("No --tz: the session is in your zone, %s (from %s).\n", u->zone, u->zone_from);
	}
	if (send_apply(u, &c, &roster, &m, &sent) != 0) {
		return 1;
	}
	sessions_id_hex(hex, m.u.schedule.id);
	printf("Scheduled \"");
	put_text(m.u.schedule.title, 0);
	printf("\" in ");
	put_text(c.name, 0);
	printf(": id %.*s\n  first: ", ID_SHORT, hex);
	print_when(u, m.u.schedule.start_utc, m.u.schedule.zone);
	printf("\n  ");
	print_recurrence(&m.u.schedule);
	printf(", %u minutes%s\n", m.u.schedule.duration_min,
	       m.u.schedule.session_only ? ", session-only: its messages are cleared when it ends"
					 : "");
	say_queued(sent);
	return 0;
}

/* session_circle finds the stored circle of a session. */
static int session_circle(struct run *u, const struct sessions_entry *e, struct store_circle *c)
{
	if (store_circle_get_by_id(u->store, e->circle_id, c) != HALQA_OK) {
		return fail("the session's circle is no longer here");
	}
	return 0;
}

static int cmd_edit(struct run *u, int argc, char **argv)
{
	struct sessions_entry *e = NULL;
	struct session_message m;
	struct sched_opts o;
	struct store_circle c;
	struct roster roster;
	int sent = 0, rc = 1;

	if (argc < 2 || !sched_opts_parse(&o, argc, argv, 1)) {
		return usage(u);
	}
	if (start(u) != 0 || find_session(u, argv[0], &e) != 0) {
		goto out;
	}
	if (e->cancelled) {
		rc = fail("that session was cancelled");
		goto out;
	}
	if (session_circle(u, e, &c) != 0 || must_facilitate(u, c.circle_id, &roster, "edit") != 0) {
		goto out;
	}
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_EDIT;
	m.u.schedule = e->sched;
	m.u.schedule.sequence = e->sched.sequence + 1;
	if (sched_build(u, &m.u.schedule, &o, 0) != 0 || send_apply(u, &c, &roster, &m, &sent) != 0) {
		goto out;
	}
	printf("Edited \"");
	put_text(m.u.schedule.title, 0);
	printf("\" (version %u)\n  first: ", m.u.schedule.sequence);
	print_when(u, m.u.schedule.start_utc, m.u.schedule.zone);
	printf("\n  ");
	print_recurrence(&m.u.schedule);
	printf(", %u minutes\n", m.u.schedule.duration_min);
	say_queued(sent);
	rc = 0;
out:
	free(e);
	return rc;
}

/*
 * open_live runs start and resolves session |prefix| for a cancel or an
 * answer naming the occurrence on |date| (|when| as typed; NULL: the
 * series): refused, saying |cancelled_msg|, if the series is cancelled, or
 * if the date is no occurrence. |*e| (malloc'd, the caller frees it even
 * on failure) and the session's circle |*c| are filled. Returns 0 or 1.
 */
static int open_live(struct run *u, const char *prefix, const char *when,
		     const struct session_date *date, const char *cancelled_msg,
		     struct sessions_entry **e, struct store_circle *c)
{
	struct sessions_occurrence occ;

	if (start(u) != 0 || find_session(u, prefix, e) != 0) {
		return 1;
	}
	if ((*e)->cancelled) {
		return fail("%s", cancelled_msg);
	}
	if (when != NULL && sessions_occurrence_at(*e, date, &occ) != HALQA_OK) {
		return fail("the session has no occurrence on %s", when);
	}
	return session_circle(u, *e, c);
}

/* say_done prints |verb|, "|lead|DATE of " for one occurrence, the quoted title, the outbox note. */
static void say_done(const char *verb, const char *lead, const char *when, const char *title,
		     int sent)
{
	fputs(verb, stdout);
	if (when != NULL) {
		printf("%s%s of ", lead, when);
	}
	printf("\"");
	put_text(title, 0);
	printf("\"\n");
	say_queued(sent);
}

static int cmd_cancel(struct run *u, int argc, char **argv)
{
	struct sessions_entry *e = NULL;
	struct session_message m;
	struct store_circle c;
	struct roster roster;
	const char *when = NULL;
	int sent = 0, rc = 1;

	if (argc == 3 && strcmp(argv[1], "--occurrence") == 0) {
		when = argv[2];
	} else if (argc != 1) {
		return usage(u);
	}
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CANCEL;
	m.u.cancel.whole_series = when == NULL;
	if (when != NULL && !parse_date(when, &m.u.cancel.occurrence)) {
		return fail("--occurrence takes the date YYYY-MM-DD (in the session's zone)");
	}
	if (open_live(u, argv[0], when, &m.u.cancel.occurrence, "that session is already cancelled",
		      &e, &c) != 0 ||
	    must_facilitate(u, c.circle_id, &roster, "cancel") != 0) {
		goto out;
	}
	memcpy(m.u.cancel.id, e->sched.id, SESSION_ID_LEN);
	m.u.cancel.sequence = e->sched.sequence + 1;
	if (send_apply(u, &c, &roster, &m, &sent) != 0) {
		goto out;
	}
	say_done("Cancelled ", "the occurrence on ", when, e->sched.title, sent);
	rc = 0;
out:
	free(e);
	return rc;
}

static int cmd_rsvp(struct run *u, int argc, char **argv)
{
	struct sessions_entry *e = NULL;
	struct session_message m;
	struct store_circle c;
	struct roster roster;
	const char *when = NULL, *note = NULL;
	char verb[32];
	int sent = 0, rc = 1, r;

	if (argc < 2) {
		return usage(u);
	}
	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_RSVP;
	if (strcmp(argv[1], "yes") == 0) {
		m.u.rsvp.answer = SESSION_ANSWER_YES;
	} else if (strcmp(argv[1], "no") == 0) {
		m.u.rsvp.answer = SESSION_ANSWER_NO;
	} else if (strcmp(argv[1], "maybe") == 0) {
		m.u.rsvp.answer = SESSION_ANSWER_MAYBE;
	} else {
		return usage(u);
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--occurrence") == 0 && i + 1 < argc && when == NULL) {
			when = argv[++i];
		} else if (strcmp(argv[i], "--note") == 0 && i + 1 < argc && note == NULL) {
			note = argv[++i];
		} else {
			return usage(u);
		}
	}
	m.u.rsvp.whole_series = when == NULL;
	if (when != NULL && !parse_date(when, &m.u.rsvp.occurrence)) {
		return fail("--occurrence takes the date YYYY-MM-DD (in the session's zone)");
	}
	if (note != NULL && copy_field(m.u.rsvp.note, SESSION_NOTE_MAX, note, "note", 1) != 0) {
		return 1;
	}
	if (open_live(u, argv[0], when, &m.u.rsvp.occurrence, "that session was cancelled", &e,
		      &c) != 0) {
		goto out;
	}
	if ((r = sessions_event_roster(u->engine, u->store, c.circle_id, &roster)) != HALQA_OK) {
		rc = engine_fail(u, "cannot read the circle's roster", r);
		goto out;
	}
	memcpy(m.u.rsvp.id, e->sched.id, SESSION_ID_LEN);
	if (send_apply(u, &c, &roster, &m, &sent) != 0) {
		goto out;
	}
	snprintf(verb, sizeof verb, "Answered %s for ", argv[1]);
	say_done(verb, "", when, e->sched.title, sent);
	rc = 0;
out:
	free(e);
	return rc;
}

static void json_kv_str(const char *key, const char *v, int comma)
{
	printf("%s\"%s\":", comma ? "," : "", key);
	if (v == NULL) {
		printf("null");
	} else {
		cli_json_string(stdout, v);
	}
}

static int cmd_show(struct run *u, int argc, char **argv)
{
	struct sessions_entry *e = NULL;
	struct sessions_occurrence *occ = NULL;
	struct sessions_rsvp *answers = NULL;
	struct store_circle c;
	char hex[2 * SESSION_ID_LEN + 1], name[STORE_MAX_NAME + 1], when[40], d[16];
	size_t num_occ = 0, num_ans = 0, i;
	int64_t now;
	int rc = 1, r;

	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		u->json = 1;
	} else if (argc != 1) {
		return usage(u);
	}
	if (start(u) != 0 || find_session(u, argv[0], &e) != 0) {
		goto out;
	}
	now = now_ms(u) / 1000;
	if (!e->cancelled) {
		/* A little over a year ahead holds the next few of any series. */
		r = sessions_upcoming(u->store, e->circle_id, u->id->sign_pub, now,
				      now + 400 * DAY_S, LIST_MAX, &occ, &num_occ);
		if (r != HALQA_OK) {
			rc = fail("cannot list the occurrences: %s", halqa_strerror(r));
			goto out;
		}
	}
	if ((r = sessions_rsvps(u->store, e->sched.id, &answers, &num_ans)) != HALQA_OK) {
		rc = fail("cannot read the answers: %s", halqa_strerror(r));
		goto out;
	}
	sessions_id_hex(hex, e->sched.id);
	if (store_circle_get_by_id(u->store, e->circle_id, &c) == HALQA_OK) {
		memcpy(name, c.name, sizeof name);
	} else {
		snprintf(name, sizeof name, "(a circle you left)");
	}
	if (u->json) {
		printf("{\"id\":\"%s\"", hex);
		json_kv_str("circle", name, 1);
		json_kv_str("title", e->sched.title, 1);
		json_kv_str("zone", e->sched.zone, 1);
		fmt_iso(when, e->sched.start_utc);
		printf(",\"start\":\"%s\",\"duration_min\":%u,\"sequence\":%u,\"cancelled\":%s,"
		       "\"session_only\":%s",
		       when, e->sched.duration_min, e->sched.sequence, e->cancelled ? "true" : "false",
		       e->sched.session_only ? "true" : "false");
		json_kv_str("agenda", e->sched.agenda, 1);
		printf(",\"next\":[");
	} else {
		printf("Session %s in ", hex);
		put_text(name, 0);
		printf("%s\n  title:    ", e->cancelled ? " (CANCELLED)" : "");
		put_text(e->sched.title, 0);
		printf("\n  first:    ");
		print_when(u, e->sched.start_utc, e->sched.zone);
		printf("\n  repeats:  ");
		print_recurrence(&e->sched);
		printf("\n  duration: %u minutes\n", e->sched.duration_min);
		if (e->sched.session_only) {
			printf("  session-only: messages sent during it are cleared when it ends\n");
		}
		for (i = 0; i < e->num_cancelled; i++) {
			fmt_date(d, &e->cancelled_dates[i]);
			printf("  cancelled: %s\n", d);
		}
		if (e->sched.agenda[0] != '\0') {
			printf("  agenda:\n");
			put_text(e->sched.agenda, TERM_NEWLINES);
			printf("\n");
		}
		printf("Next (times in %s):\n", u->zone);
	}
	for (i = 0, r = 0; i < num_occ && r < NEXT_SHOWN; i++) {
		if (memcmp(occ[i].session_id, e->sched.id, SESSION_ID_LEN) != 0) {
			continue;
		}
		fmt_date(d, &occ[i].local_date);
		if (u->json) {
			fmt_iso(when, occ[i].start_utc);
			printf("%s{\"date\":\"%s\",\"start\":\"%s\"", r ? "," : "", d, when);
			json_kv_str("rsvp", answer_name(occ[i].my_answer), 1);
			printf("}");
		} else {
			fmt_wall(when, sizeof when, occ[i].start_utc, u->zone);
			printf("  %s  (date %s)  you: %s\n", when, d,
			       answer_name(occ[i].my_answer) ? answer_name(occ[i].my_answer) : "-");
		}
		r++;
	}
	if (!u->json && r == 0) {
		printf("  none\n");
	}
	if (u->json) {
		printf("],\"answers\":[");
	} else {
		printf("Answers:\n");
	}
	for (i = 0; i < num_ans; i++) {
		char who[STORE_MAX_NAME + 16];

		member_name(u, answers[i].member, who, sizeof who);
		if (!answers[i].whole_series) {
			fmt_date(d, &answers[i].occurrence);
		}
		if (u->json) {
			printf("%s{", i ? "," : "");
			json_kv_str("member", who, 0);
			json_kv_str("date", answers[i].whole_series ? NULL : d, 1);
			json_kv_str("answer", answer_name(answers[i].answer), 1);
			json_kv_str("note", answers[i].note, 1);
			printf("}");
			continue;
		}
		printf("  ");
		put_text(who, 0);
		printf(": %s (%s)", answer_name(answers[i].answer) ? answer_name(answers[i].answer) : "?",
		       answers[i].whole_series ? "series" : d);
		if (answers[i].note[0] != '\0') {
			printf(" \"");
			put_text(answers[i].note, 0);
			printf("\"");
		}
		printf("\n");
	}
	if (u->json) {
		printf("]}\n");
	} else if (num_ans == 0) {
		printf("  none yet\n");
	}
	rc = 0;
out:
	free(e);
	free(occ);
	free(answers);
	return rc;
}

/* write_file writes |data| to |path| through a temporary file and a rename. */
static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (strcmp(path, "-") == 0) {
		return fwrite(data, 1, len, stdout) == len ? 0 : -1;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		return -1;
	}
	if ((f = fopen(tmp, "wx")) == NULL) {
		return -1;
	}
	ok = fwrite(data, 1, len, f) == len;
	ok = fflush(f) == 0 && ok;
	ok = fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int cmd_export(struct run *u, int argc, char **argv)
{
	struct sessions_entry *list = NULL, *one = NULL;
	struct ics_event *events = NULL;
	struct ics_options opts;
	struct store_circle c;
	const char *file = NULL;
	char *text = NULL;
	size_t num = 0, text_len = 0, i;
	unsigned lead = 0;
	int with_agenda = 0, rc = 1, r;

	if (argc < 1) {
		return usage(u);
	}
	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--ics") == 0 && k + 1 < argc && file == NULL) {
			file = argv[++k];
		} else if (strcmp(argv[k], "--with-agenda") == 0) {
			with_agenda = 1;
		} else {
			return usage(u);
		}
	}
	if (file == NULL) {
		return usage(u);
	}
	if (start(u) != 0) {
		goto out;
	}
	/* A circle's name first, then a session id. */
	if (engine_circle_find(u->engine, argv[0], &c) == HALQA_OK) {
		if ((r = sessions_list(u->store, c.circle_id, &list, &num)) != HALQA_OK) {
			rc = fail("cannot list the sessions: %s", halqa_strerror(r));
			goto out;
		}
		if (num == 0) {
			rc = fail("the circle has no sessions to export");
			goto out;
		}
	} else {
		if (find_session(u, argv[0], &one) != 0) {
			goto out;
		}
		list = one;
		one = NULL;
		num = 1;
	}
	if ((events = calloc(num, sizeof *events)) == NULL) {
		rc = fail("out of memory");
		goto out;
	}
	for (i = 0; i < num; i++) {
		events[i].session = &list[i].sched;
		events[i].cancelled = list[i].cancelled_dates;
		events[i].num_cancelled = list[i].num_cancelled;
		events[i].series_cancelled = list[i].cancelled;
	}
	if ((r = agenda_remind_minutes(u->store, &lead)) != HALQA_OK) {
		rc = fail("the reminder setting is damaged: %s", halqa_strerror(r));
		goto out;
	}
	memset(&opts, 0, sizeof opts);
	opts.with_agenda = with_agenda;
	opts.reminder_min = lead;
	opts.dtstamp_utc = now_ms(u) / 1000;
	if ((r = ics_export(&text, &text_len, events, num, &opts)) != HALQA_OK) {
		rc = fail("cannot build the calendar: %s", halqa_strerror(r));
		goto out;
	}
	if (write_file(file, text, text_len) != 0) {
		rc = fail("cannot write %s: %s", strcmp(file, "-") ? "the file" : "the output",
			  strerror(errno));
		goto out;
	}
	if (strcmp(file, "-") != 0) {
		printf("Wrote %zu session%s to ", num, num == 1 ? "" : "s");
		put_text(file, 0);
		printf("%s\n", with_agenda ? " (with agendas)" : " (no agendas; --with-agenda adds them)");
	}
	rc = 0;
out:
	free(text);
	free(events);
	free(list);
	free(one);
	return rc;
}

/* print_occurrences lists |occ| for the sessions and agenda commands. */
static void print_occurrences(struct run *u, const struct sessions_occurrence *occ, size_t num)
{
	char when[40], end[8], hex[2 * SESSION_ID_LEN + 1], name[STORE_MAX_NAME + 1], iso[24];
	size_t i;

	if (u->json) {
		printf("[");
		for (i = 0; i < num; i++) {
			sessions_id_hex(hex, occ[i].session_id);
			circle_name(u, occ[i].circle_id, name);
			printf("%s{\"id\":\"%s\"", i ? "," : "", hex);
			json_kv_str("circle", name, 1);
			json_kv_str("title", occ[i].title, 1);
			fmt_iso(iso, occ[i].start_utc);
			printf(",\"start\":\"%s\"", iso);
			fmt_iso(iso, occ[i].end_utc);
			printf(",\"end\":\"%s\"", iso);
			fmt_wall(when, sizeof when, occ[i].start_utc, u->zone);
			json_kv_str("local_start", when, 1);
			json_kv_str("zone", u->zone, 1);
			fmt_date(iso, &occ[i].local_date);
			json_kv_str("date", iso, 1);
			printf(",\"session_only\":%s", occ[i].session_only ? "true" : "false");
			json_kv_str("rsvp", answer_name(occ[i].my_answer), 1);
			printf("}");
		}
		printf("]\n");
		return;
	}
	printf("Times in %s (your zone, from %s).\n", u->zone, u->zone_from);
	if (num == 0) {
		printf("Nothing scheduled.\n");
	}
	for (i = 0; i < num; i++) {
		sessions_id_hex(hex, occ[i].session_id);
		circle_name(u, occ[i].circle_id, name);
		fmt_wall(when, sizeof when, occ[i].start_utc, u->zone);
		fmt_hm(end, sizeof end, occ[i].end_utc, u->zone);
		printf("%s-%s  ", when, end);
		put_text(name, 0);
		printf("  ");
		put_text(occ[i].title, 0);
		printf("  [%.*s]  rsvp: %s%s\n", ID_SHORT, hex,
		       answer_name(occ[i].my_answer) ? answer_name(occ[i].my_answer) : "-",
		       occ[i].session_only ? "  session-only" : "");
	}
}

static int cmd_sessions(struct run *u, int argc, char **argv)
{
	struct sessions_occurrence *occ = NULL;
	struct store_circle c;
	const char *circle = NULL;
	unsigned long days = 30;
	size_t num = 0;
	int64_t now;
	int r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			u->json = 1;
		} else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
			if (!parse_uint(argv[++i], 3660, &days) || days == 0) {
				return fail("--days takes 1 to 3660");
			}
		} else if (argv[i][0] != '-' && circle == NULL) {
			circle = argv[i];
		} else {
			return usage(u);
		}
	}
	if (start(u) != 0 || (circle != NULL && find_circle(u, circle, &c) != 0)) {
		return 1;
	}
	now = now_ms(u) / 1000;
	r = sessions_upcoming(u->store, circle != NULL ? c.circle_id : NULL, u->id->sign_pub, now,
			      now + (int64_t)days * DAY_S, LIST_MAX, &occ, &num);
	if (r != HALQA_OK) {
		return fail("cannot list the sessions: %s", halqa_strerror(r));
	}
	print_occurrences(u, occ, num);
	free(occ);
	return 0;
}

static int cmd_agenda(struct run *u, int argc, char **argv)
{
	struct sessions_occurrence *occ = NULL;
	struct agenda_item *items = NULL;
	struct session_wall w;
	int64_t now, from, to;
	size_t num = 0, i;
	char when[40], name[STORE_MAX_NAME + 1];
	int remind = 0, r;

	for (int k = 0; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0) {
			u->json = 1;
		} else if (strcmp(argv[k], "--remind") == 0) {
			remind = 1;
		} else {
			return usage(u);
		}
	}
	if (start(u) != 0) {
		return 1;
	}
	now = now_ms(u) / 1000;
	if (remind) {
		if ((r = agenda_due(u->store, u->id->sign_pub, now, &items, &num)) != HALQA_OK) {
			return fail("cannot read the agenda: %s", halqa_strerror(r));
		}
		if (u->json) {
			printf("[");
		}
		for (i = 0, r = 0; i < num; i++) {
			const struct sessions_occurrence *o = &items[i].occ;

			if (items[i].kind == AGENDA_END) {
				continue; /* ends are for the interactive mode */
			}
			circle_name(u, o->circle_id, name);
			fmt_wall(when, sizeof when, o->start_utc, u->zone);
			if (u->json) {
				printf("%s{\"kind\":\"%s\"", r ? "," : "",
				       items[i].kind == AGENDA_REMIND ? "reminder" : "start");
				json_kv_str("circle", name, 1);
				json_kv_str("title", o->title, 1);
				json_kv_str("local_start", when, 1);
				printf(",\"minutes\":%lld}", (long long)((o->start_utc - now) / 60));
			} else {
				printf(items[i].kind == AGENDA_REMIND ? "Reminder: \"" : "Now: \"");
				put_text(o->title, 0);
				printf("\" in ");
				put_text(name, 0);
				if (items[i].kind == AGENDA_REMIND) {
					printf(" starts at %s %s (in %lld min)\n", when, u->zone,
					       (long long)((o->start_utc - now + 59) / 60));
				} else {
					printf(" has started (%s %s)\n", when, u->zone);
				}
			}
			r++;
			if (agenda_mark_shown(u->store, &items[i], now) != HALQA_OK) {
				free(items);
				return fail("cannot record the reminder as shown");
			}
		}
		if (u->json) {
			printf("]\n");
		}
		free(items);
		return 0;
	}
	/* Today (from local midnight) and the next seven days, in the viewer's zone. */
	if (recur_to_zone(&w, NULL, u->zone, now) != HALQA_OK) {
		return fail("cannot read the time in %s", u->zone);
	}
	w.hour = 0;
	w.minute = 0;
	if (recur_resolve_local(&from, u->zone, &w) != HALQA_OK) {
		from = now - 12 * 3600;
	}
	to = from + 8 * DAY_S;
	r = sessions_upcoming(u->store, NULL, u->id->sign_pub, from, to, LIST_MAX, &occ, &num);
	if (r != HALQA_OK) {
		return fail("cannot list the sessions: %s", halqa_strerror(r));
	}
	if (!u->json) {
		printf("Today and the next 7 days.\n");
	}
	print_occurrences(u, occ, num);
	free(occ);
	return 0;
}

static int cmd_role(struct run *u, int argc, char **argv, bool on)
{
	struct store_circle c;
	struct roster roster;
	bool self;
	int r;

	if (argc != 2) {
		return usage(u);
	}
	if (start(u) != 0) {
		return 1;
	}
	/* "me": a facilitator steps down (or, promoting, is told it is one already). */
	self = strcmp(argv[1], "me") == 0;
	if (self && !on) {
		if (find_circle(u, argv[0], &c) != 0) {
			return 1;
		}
		if (sessions_event_roster(u->engine, u->store, c.circle_id, &roster) == HALQA_OK &&
		    !roster_has(&roster, u->id->sign_pub)) {
			return fail("you are not a facilitator of this circle: nothing to step down "
				    "from");
		}
	}
	r = engine_circle_set_facilitator(u->engine, argv[0], self ? NULL : argv[1], on);
	if (r == HALQA_ERR_DENIED && !on && self) {
		return fail("you are the last facilitator of this circle and cannot step down: "
			    "promote another member first (halqa circle promote CIRCLE CONTACT)");
	}
	if (r == HALQA_ERR_DENIED && !on) {
		return engine_fail(u, "cannot demote (only a facilitator can, and a circle keeps at "
				      "least one facilitator)",
				   r);
	}
	if (r == HALQA_ERR_DENIED) {
		return engine_fail(u, "cannot promote (only a facilitator can)", r);
	}
	if (r == HALQA_ERR_NOT_FOUND) {
		return engine_fail(u, "no such circle, contact or member", r);
	}
	if (r != HALQA_OK) {
		return engine_fail(u, on ? "cannot promote" : "cannot demote", r);
	}
	if (self) {
		printf(on ? "You are a facilitator of " : "You are no longer a facilitator of ");
	} else {
		put_text(argv[1], 0);
		printf(on ? " is now a facilitator of " : " is no longer a facilitator of ");
	}
	put_text(argv[0], 0);
	printf("\n");
	return 0;
}

int cmd_session_main(struct store *store, const struct identity *id, const char *name,
		     const char *sub, const char *usage_line, int argc, char **argv)
{
	struct run u;
	int rc;

	memset(&u, 0, sizeof u);
	u.store = store;
	u.id = id;
	u.usage = usage_line;
	if (strcmp(name, "sessions") == 0) {
		rc = cmd_sessions(&u, argc, argv);
	} else if (strcmp(name, "agenda") == 0) {
		rc = cmd_agenda(&u, argc, argv);
	} else if (sub == NULL) {
		rc = usage(&u);
	} else if (strcmp(name, "circle") == 0 && strcmp(sub, "promote") == 0) {
		rc = cmd_role(&u, argc, argv, true);
	} else if (strcmp(name, "circle") == 0 && strcmp(sub, "demote") == 0) {
		rc = cmd_role(&u, argc, argv, false);
	} else if (strcmp(sub, "schedule") == 0) {
		rc = cmd_schedule(&u, argc, argv);
	} else if (strcmp(sub, "edit") == 0) {
		rc = cmd_edit(&u, argc, argv);
	} else if (strcmp(sub, "cancel") == 0) {
		rc = cmd_cancel(&u, argc, argv);
	} else if (strcmp(sub, "rsvp") == 0) {
		rc = cmd_rsvp(&u, argc, argv);
	} else if (strcmp(sub, "show") == 0) {
		rc = cmd_show(&u, argc, argv);
	} else if (strcmp(sub, "export") == 0) {
		rc = cmd_export(&u, argc, argv);
	} else {
		rc = usage(&u);
	}
	finish(&u);
	return rc;
}
