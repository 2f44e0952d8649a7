/*
 * test_session.c: the session payload codec. Round trips of every kind,
 * the exact bytes of one schedule, and every refusal: bounds, dates,
 * enums, UTF-8, controls, non-canonical encodings, trailing bytes.
 */
#include "halqa/session.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"
#include "harness.h"

static struct session_message msg; /* large: keep off the stack */
static struct session_message got;

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi)
{
	return session_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static void base_schedule(void)
{
	struct session_schedule *s = &msg.u.schedule;

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_SCHEDULE;
	memset(s->id, 0xab, sizeof s->id);
	strcpy(s->title, "Weekly check-in");
	strcpy(s->zone, "Europe/Berlin");
	s->local.date.year = 2025;
	s->local.date.month = 1;
	s->local.date.day = 9;
	s->local.hour = 18;
	s->local.minute = 0;
	s->start_utc = utc(2025, 1, 9, 17, 0);
	s->duration_min = 90;
	s->freq = SESSION_FREQ_WEEKLY;
	s->interval_weeks = 1;
	s->end = SESSION_END_COUNT;
	s->count = 10;
	strcpy(s->agenda, "1. arrive\n2. share");
	s->session_only = 1;
}

/* Encodes |msg|, decodes it, and checks the struct and a second encoding match. */
static void round_trip(void)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	CHECK_OK(session_encode(&a, &alen, &msg));
	CHECK_OK(session_decode(&got, a, alen));
	CHECK(memcmp(&got, &msg, sizeof msg) == 0);
	CHECK_OK(session_encode(&b, &blen, &got));
	CHECK_MEM_EQ(b, blen, a, alen);
	free(a);
	free(b);
}

/* |msg| must be refused by the encoder with |want|, and by the decoder too. */
static void refused(int want, int line)
{
	uint8_t *a = NULL;
	size_t alen = 99;
	int rc = session_encode(&a, &alen, &msg);

	if (rc != want || a != NULL || alen != 0) {
		harness_fail(__FILE__, line, "encode gave %s, want %s", halqa_errname(rc),
			     halqa_errname(want));
	}
}
#define REFUSED(want) refused((want), __LINE__)

static void test_round_trips(void)
{
	base_schedule();
	round_trip();
	msg.kind = SESSION_KIND_EDIT;
	msg.u.schedule.sequence = 3;
	msg.u.schedule.freq = SESSION_FREQ_MONTHLY;
	msg.u.schedule.interval_weeks = 0;
	msg.u.schedule.end = SESSION_END_UNTIL;
	msg.u.schedule.count = 0;
	msg.u.schedule.until.year = 2029;
	msg.u.schedule.until.month = 12;
	msg.u.schedule.until.day = 31;
	memset(msg.u.schedule.agenda, 0, sizeof msg.u.schedule.agenda);
	round_trip();

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHAT;
	strcpy(msg.u.chat.text, "hello, \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\nsecond line\ttab \xf0\x9f\x8c\xbf");
	round_trip();
	msg.u.chat.in_round = 1;
	memset(msg.u.chat.round_id, 7, sizeof msg.u.chat.round_id);
	round_trip();

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CANCEL;
	memset(msg.u.cancel.id, 1, SESSION_ID_LEN);
	msg.u.cancel.sequence = 4;
	msg.u.cancel.whole_series = 1;
	round_trip();
	msg.u.cancel.whole_series = 0;
	msg.u.cancel.occurrence.year = 2025;
	msg.u.cancel.occurrence.month = 2;
	msg.u.cancel.occurrence.day = 28;
	round_trip();

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_RSVP;
	msg.u.rsvp.whole_series = 1;
	msg.u.rsvp.answer = SESSION_ANSWER_MAYBE;
	strcpy(msg.u.rsvp.note, "late by 10 min\nsorry");
	round_trip();

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHECKIN;
	msg.u.checkin.step = SESSION_STEP_OPEN;
	strcpy(msg.u.checkin.question, "How was your week?");
	msg.u.checkin.turn_timeout_s = 120;
	round_trip();
	memset(&msg.u.checkin, 0, sizeof msg.u.checkin);
	msg.u.checkin.step = SESSION_STEP_TURN;
	memset(msg.u.checkin.member, 0x42, SESSION_MEMBER_KEY_LEN);
	round_trip();
	memset(&msg.u.checkin, 0, sizeof msg.u.checkin);
	msg.u.checkin.step = SESSION_STEP_PASS;
	round_trip();
	msg.u.checkin.step = SESSION_STEP_END;
	round_trip();
}

static void test_exact_bytes(void)
{
	static const char want_hex[] =
		"0101" /* version, SCHEDULE */
		"abababababababababababababababab" /* id */
		"00000000" /* sequence */
		"0f" "5765656b6c7920636865636b2d696e" /* title */
		"0000000067800090" /* 2025-01-09T17:00Z */
		"0d" "4575726f70652f4265726c696e" /* zone */
		"07e9" "01" "09" "12" "00" /* local 2025-01-09 18:00 */
		"005a" /* 90 min */
		"01" "01" /* weekly, 1 */
		"02" "000a" /* count 10 */
		"12" "312e206172726976650a322e207368617265" /* agenda */
		"01"; /* session-only */
	uint8_t *want, *a = NULL;
	size_t want_len, alen = 0;

	base_schedule();
	want = harness_hex(want_hex, &want_len);
	CHECK_OK(session_encode(&a, &alen, &msg));
	CHECK_MEM_EQ(a, alen, want, want_len);
	free(a);
	free(want);
}

static void test_schedule_refusals(void)
{
	char big[SESSION_AGENDA_MAX + 2];

	base_schedule();
	msg.u.schedule.title[0] = '\0';
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	memset(msg.u.schedule.title, 'a', SESSION_TITLE_MAX);
	msg.u.schedule.title[SESSION_TITLE_MAX] = '\0';
	round_trip(); /* exactly at the bound */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(msg.u.schedule.agenda, big, SESSION_AGENDA_MAX);
	msg.u.schedule.agenda[SESSION_AGENDA_MAX] = '\0';
	round_trip();
	base_schedule();
	strcpy(msg.u.schedule.title, "two\nlines");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "bell\a");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "csi \xc2\x9b" "2J");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "rlo \xe2\x80\xae" "cba");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "del \x7f");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "overlong \xc0\xaf");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "overlong3 \xe0\x80\xaf");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "surrogate \xed\xa0\x80");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "too high \xf4\x90\x80\x80");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "cut \xe2\x82");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.title, "lone \x80");
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	strcpy(msg.u.schedule.agenda, "esc \x1b[2J");
	REFUSED(HALQA_ERR_INVALID);

	base_schedule();
	strcpy(msg.u.schedule.zone, "../etc/passwd");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.zone, "/etc/localtime");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.zone, "Europe//Berlin");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.zone, "Europe/Berlin ");
	REFUSED(HALQA_ERR_INVALID);
	strcpy(msg.u.schedule.zone, "");
	REFUSED(HALQA_ERR_INVALID);
	memset(msg.u.schedule.zone, 'A', SESSION_ZONE_MAX);
	msg.u.schedule.zone[SESSION_ZONE_MAX] = '\0';
	round_trip(); /* the codec does not know zones; recur_check does */

	base_schedule();
	msg.u.schedule.sequence = 1; /* a schedule is sequence 0 */
	REFUSED(HALQA_ERR_INVALID);
	msg.kind = SESSION_KIND_EDIT;
	msg.u.schedule.sequence = 0; /* an edit is >= 1 */
	REFUSED(HALQA_ERR_INVALID);

	base_schedule();
	msg.u.schedule.local.date.year = 1999;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.local.date.month = 13;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.local.date.month = 2;
	msg.u.schedule.local.date.day = 29; /* 2025 is not a leap year */
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.local.hour = 24;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.local.minute = 60;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.start_utc += 20 * 3600; /* 19 hours from the wall time */
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.start_utc = -1;
	REFUSED(HALQA_ERR_INVALID);

	base_schedule();
	msg.u.schedule.duration_min = 4;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.duration_min = 1441;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.duration_min = 5;
	round_trip();
	msg.u.schedule.duration_min = 1440;
	round_trip();

	base_schedule();
	msg.u.schedule.interval_weeks = 3;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.interval_weeks = 0;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.freq = 3;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.freq = SESSION_FREQ_MONTHLY; /* interval left at 1 */
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.freq = SESSION_FREQ_NONE; /* a single session with a count */
	msg.u.schedule.interval_weeks = 0;
	REFUSED(HALQA_ERR_INVALID);

	base_schedule();
	msg.u.schedule.count = 0;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.count = SESSION_COUNT_MAX + 1;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.count = SESSION_COUNT_MAX;
	round_trip();
	base_schedule();
	msg.u.schedule.end = SESSION_END_UNTIL;
	msg.u.schedule.count = 0;
	msg.u.schedule.until.year = 2030;
	msg.u.schedule.until.month = 1;
	msg.u.schedule.until.day = 9; /* five years and a day after 2025-01-09: 1826 days */
	round_trip();
	msg.u.schedule.until.day = 11; /* 1828 days */
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.until.year = 2025;
	msg.u.schedule.until.day = 8; /* before the start */
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.until.day = 32;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.schedule.until.day = 9;
	msg.u.schedule.count = 2; /* both UNTIL and COUNT */
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.end = 3;
	REFUSED(HALQA_ERR_INVALID);
	base_schedule();
	msg.u.schedule.session_only = 2;
	REFUSED(HALQA_ERR_INVALID);
}

static void test_other_refusals(void)
{
	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHAT;
	REFUSED(HALQA_ERR_INVALID); /* empty chat */
	strcpy(msg.u.chat.text, "hi");
	msg.u.chat.round_id[3] = 1; /* round id without the flag */
	REFUSED(HALQA_ERR_INVALID);
	msg.u.chat.round_id[3] = 0;
	msg.u.chat.in_round = 2;
	REFUSED(HALQA_ERR_INVALID);

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_RSVP;
	msg.u.rsvp.whole_series = 1;
	msg.u.rsvp.answer = 0;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.rsvp.answer = 4;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.rsvp.answer = SESSION_ANSWER_YES;
	msg.u.rsvp.occurrence.year = 2025; /* a date with the series flag */
	REFUSED(HALQA_ERR_INVALID);
	msg.u.rsvp.whole_series = 0;
	msg.u.rsvp.occurrence.month = 2;
	msg.u.rsvp.occurrence.day = 29;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.rsvp.occurrence.year = 2101;
	msg.u.rsvp.occurrence.day = 28;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.rsvp.occurrence.year = 2100;
	round_trip();
	memset(msg.u.rsvp.note, 'n', SESSION_NOTE_MAX + 1);
	REFUSED(HALQA_ERR_TOO_LARGE); /* no terminator within the bound */

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CANCEL;
	msg.u.cancel.whole_series = 2;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.cancel.whole_series = 0; /* occurrence date missing */
	REFUSED(HALQA_ERR_INVALID);

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHECKIN;
	msg.u.checkin.step = 0;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.checkin.step = 5;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.checkin.step = SESSION_STEP_OPEN;
	msg.u.checkin.turn_timeout_s = SESSION_TURN_TIMEOUT_MAX + 1;
	REFUSED(HALQA_ERR_INVALID);
	msg.u.checkin.turn_timeout_s = 0;
	strcpy(msg.u.checkin.question, "line\nbreak");
	REFUSED(HALQA_ERR_INVALID);
	msg.u.checkin.question[0] = '\0';
	msg.u.checkin.member[0] = 1; /* a member only in TURN */
	REFUSED(HALQA_ERR_INVALID);
	msg.u.checkin.member[0] = 0;
	msg.u.checkin.step = SESSION_STEP_PASS;
	msg.u.checkin.turn_timeout_s = 5; /* a timeout only in OPEN */
	REFUSED(HALQA_ERR_INVALID);

	memset(&msg, 0, sizeof msg);
	msg.kind = 6;
	REFUSED(HALQA_ERR_UNSUPPORTED);
}

/* Decodes |hex| and expects |want|, with the output zeroed. */
static void decode_refused(const char *hex, int want, int line)
{
	static const struct session_message zero;
	size_t len;
	uint8_t *data = harness_hex(hex, &len);
	int rc;

	memset(&got, 0x5a, sizeof got);
	rc = session_decode(&got, data, len);
	if (rc != want) {
		harness_fail(__FILE__, line, "decode %s gave %s, want %s", hex, halqa_errname(rc),
			     halqa_errname(want));
	}
	if (memcmp(&got, &zero, sizeof got) != 0) {
		harness_fail(__FILE__, line, "output not zeroed after refusal");
	}
	free(data);
}
#define DECODE_REFUSED(hex, want) decode_refused((hex), (want), __LINE__)

static void test_decode_refusals(void)
{
	DECODE_REFUSED("", HALQA_ERR_TRUNCATED);
	DECODE_REFUSED("01", HALQA_ERR_TRUNCATED);
	DECODE_REFUSED("0200", HALQA_ERR_UNSUPPORTED);
	DECODE_REFUSED("0109", HALQA_ERR_UNSUPPORTED);
	DECODE_REFUSED("01000002", HALQA_ERR_TRUNCATED);           /* chat: text cut */
	DECODE_REFUSED("0100000268690a", HALQA_ERR_MALFORMED);     /* trailing byte */
	DECODE_REFUSED("0100000268", HALQA_ERR_TRUNCATED);         /* length 2, 1 byte */
	DECODE_REFUSED("01000002686900", HALQA_ERR_MALFORMED);     /* trailing zero */
	DECODE_REFUSED("01000002006a", HALQA_ERR_INVALID);         /* NUL in text */
	DECODE_REFUSED("010000400168", HALQA_ERR_MALFORMED);       /* non-minimal varint */
	DECODE_REFUSED("0100007e8168", HALQA_ERR_TOO_LARGE);       /* length 16001 */
	DECODE_REFUSED("010002", HALQA_ERR_TRUNCATED);             /* round flag set, no id */
	/* RSVP: whole-series flag 0 with a date, answer 9. */
	DECODE_REFUSED("0104" "00000000000000000000000000000000" "00" "07e90101" "09" "00",
		       HALQA_ERR_INVALID);
	/* Cancel: a 64-bit sequence would not fit; here the u32 is cut. */
	DECODE_REFUSED("0103" "00000000000000000000000000000000" "0000", HALQA_ERR_TRUNCATED);
	/* Checkin TURN with member key cut short. */
	DECODE_REFUSED("0105" "00000000000000000000000000000000" "02" "4242", HALQA_ERR_TRUNCATED);
	/* A schedule with start_utc = 2^63 + 1 (negative if cast first). */
	DECODE_REFUSED("0101" "abababababababababababababababab" "00000000" "0161"
		       "8000000000000001" "0d4575726f70652f4265726c696e" "07e9" "01" "09" "12" "00"
		       "005a" "00" "00" "00" "00",
		       HALQA_ERR_INVALID);
}

static void test_schedule_decode_fields(void)
{
	uint8_t *a = NULL;
	size_t alen = 0, cut;

	base_schedule();
	CHECK_OK(session_encode(&a, &alen, &msg));
	/* Every prefix of a valid message is refused and leaves nothing behind. */
	for (cut = 0; cut < alen; cut++) {
		int rc = session_decode(&got, a, cut);

		CHECK(rc == HALQA_ERR_TRUNCATED || rc == HALQA_ERR_INVALID);
	}
	CHECK_OK(session_decode(&got, a, alen));
	CHECK_INT_EQ(got.u.schedule.count, 10);
	CHECK(strcmp(got.u.schedule.zone, "Europe/Berlin") == 0);
	free(a);
}

int main(void)
{
	RUN(test_round_trips);
	RUN(test_exact_bytes);
	RUN(test_schedule_refusals);
	RUN(test_other_refusals);
	RUN(test_decode_refusals);
	RUN(test_schedule_decode_fields);
	return harness_report();
}
