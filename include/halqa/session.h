/*
 * session.h: the payloads of circle sessions, carried inside MLS
 * application messages (the relay never sees them).
 *
 * Every application message of a circle starts with a version byte and a
 * kind byte (session_kind): a plain chat message (optionally tagged with a
 * check-in round), a schedule, an edit, a cancellation, an RSVP, or a step
 * of a check-in round. docs/SESSIONS.md gives the layout byte by byte.
 *
 * Decoding is strict: unknown version or kind gives HALQA_ERR_UNSUPPORTED,
 * bad encoding (non-minimal varints, booleans other than 0/1, fields that
 * must be absent present, trailing bytes) HALQA_ERR_MALFORMED or
 * HALQA_ERR_TRUNCATED, a text longer than its bound HALQA_ERR_TOO_LARGE,
 * and well-formed but absurd values (dates outside 2000..2100, a duration
 * of three days, 10000 occurrences, invalid UTF-8, control characters in a
 * title) HALQA_ERR_INVALID. On any error the output is zeroed, so nothing of
 * a refused message can be stored by mistake. Encoding applies the same
 * checks, so we never send what a peer would refuse, and the encoding is
 * canonical: decode then encode gives the same bytes.
 *
 * Texts are held in fixed buffers, NUL-terminated, so a decoded message is
 * one flat struct the caller owns; texts never contain NUL.
 */
#ifndef HALQA_SESSION_H
#define HALQA_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

#define SESSION_VERSION 1

#define SESSION_ID_LEN 16
#define SESSION_ROUND_ID_LEN 16
#define SESSION_MEMBER_KEY_LEN 32

#define SESSION_TITLE_MAX 200    /* bytes of UTF-8 */
#define SESSION_AGENDA_MAX 4000  /* bytes of UTF-8, may contain newlines */
#define SESSION_NOTE_MAX 500     /* RSVP note */
#define SESSION_QUESTION_MAX 500 /* check-in question */
#define SESSION_ZONE_MAX 64      /* IANA zone name */
#define SESSION_CHAT_MAX 16000   /* chat message text */

#define SESSION_DURATION_MIN 5     /* minutes */
#define SESSION_DURATION_MAX 1440  /* 24 hours */
#define SESSION_COUNT_MAX 500      /* occurrences of a series */
#define SESSION_UNTIL_MAX_DAYS 1827 /* 5 years (with leap days) after the start date */
#define SESSION_YEAR_MIN 2000
#define SESSION_YEAR_MAX 2100
#define SESSION_TURN_TIMEOUT_MAX 3600 /* seconds a check-in turn may wait */

/* 2000-01-01T00:00:00Z and 2100-12-31T23:59:59Z: the bounds of any instant. */
#define SESSION_UTC_MIN INT64_C(946684800)
#define SESSION_UTC_MAX INT64_C(4133980799)

enum session_kind {
	SESSION_KIND_CHAT = 0,
	SESSION_KIND_SCHEDULE = 1,
	SESSION_KIND_EDIT = 2,
	SESSION_KIND_CANCEL = 3,
	SESSION_KIND_RSVP = 4,
	SESSION_KIND_CHECKIN = 5,
};

enum session_freq {
	SESSION_FREQ_NONE = 0,    /* a single occurrence */
	SESSION_FREQ_WEEKLY = 1,  /* every interval_weeks weeks: 1, 2 or 4 */
	SESSION_FREQ_MONTHLY = 2, /* same day of month; months without it skipped */
};

enum session_end {
	SESSION_END_NONE = 0,  /* open-ended series (or a single occurrence) */
	SESSION_END_UNTIL = 1, /* last local date (inclusive) */
	SESSION_END_COUNT = 2, /* number of occurrences */
};

enum session_answer {
	SESSION_ANSWER_YES = 1,
	SESSION_ANSWER_NO = 2,
	SESSION_ANSWER_MAYBE = 3,
};

enum session_step {
	SESSION_STEP_OPEN = 1, /* facilitator opens a round: question, turn timeout */
	SESSION_STEP_TURN = 2, /* it is |member|'s turn */
	SESSION_STEP_PASS = 3, /* the sender passes */
	SESSION_STEP_END = 4,  /* the round is closed */
};

/* A calendar date in a session's own zone. */
struct session_date {
	uint16_t year;
	uint8_t month; /* 1..12 */
	uint8_t day;   /* 1..31, valid for the month */
};

/* A local wall-clock time in a session's own zone (minute precision). */
struct session_wall {
	struct session_date date;
	uint8_t hour;   /* 0..23 */
	uint8_t minute; /* 0..59 */
};

/* SESSION_SCHEDULE and SESSION_EDIT. */
struct session_schedule {
	uint8_t id[SESSION_ID_LEN];
	uint32_t sequence; /* 0 in a schedule, >= 1 in an edit (RFC 5545 SEQUENCE) */
	char title[SESSION_TITLE_MAX + 1];
	int64_t start_utc; /* first occurrence, UTC seconds */
	char zone[SESSION_ZONE_MAX + 1];
	struct session_wall local; /* the same start as a wall time in |zone| */
	uint16_t duration_min;
	uint8_t freq;           /* enum session_freq */
	uint8_t interval_weeks; /* 1, 2 or 4 if weekly, else 0 */
	uint8_t end;            /* enum session_end; NONE if freq is NONE */
	struct session_date until; /* if end == UNTIL, else zero */
	uint16_t count;            /* if end == COUNT (1..500), else 0 */
	char agenda[SESSION_AGENDA_MAX + 1]; /* empty = none */
	uint8_t session_only; /* 0 or 1 */
};

/* SESSION_CANCEL: the whole series, or one occurrence by its local date. */
struct session_cancel {
	uint8_t id[SESSION_ID_LEN];
	uint32_t sequence;
	uint8_t whole_series;   /* 1: series, 0: one occurrence */
	struct session_date occurrence; /* if !whole_series, else zero */
};

/* RSVP: an answer for the series or one occurrence. */
struct session_rsvp {
	uint8_t id[SESSION_ID_LEN];
	uint8_t whole_series;
	struct session_date occurrence; /* if !whole_series, else zero */
	uint8_t answer;                 /* enum session_answer */
	char note[SESSION_NOTE_MAX + 1];
};

/* A step of a check-in round. Answers are chat messages tagged with the round. */
struct session_checkin {
	uint8_t round_id[SESSION_ROUND_ID_LEN];
	uint8_t step; /* enum session_step */
	char question[SESSION_QUESTION_MAX + 1]; /* OPEN only; may be empty */
	uint16_t turn_timeout_s;                  /* OPEN only: 0 = no timeout, <= 3600 */
	uint8_t member[SESSION_MEMBER_KEY_LEN];   /* TURN only: whose turn */
};

/* A plain chat message, optionally an answer in a check-in round. */
struct session_chat {
	uint8_t in_round; /* 0 or 1 */
	uint8_t round_id[SESSION_ROUND_ID_LEN]; /* if in_round, else zero */
	char text[SESSION_CHAT_MAX + 1];
};

struct session_message {
	uint8_t kind; /* enum session_kind */
	union {
		struct session_chat chat;
		struct session_schedule schedule; /* SCHEDULE and EDIT */
		struct session_cancel cancel;
		struct session_rsvp rsvp;
		struct session_checkin checkin;
	} u;
};

/*
 * session_decode parses one application-message payload into |*out|.
 * Errors as described at the top of this file; on error |*out| is zeroed.
 */
HALQA_MUST_CHECK int session_decode(struct session_message *out, const uint8_t *data, size_t len);

/*
 * session_encode validates |*msg| with the decoder's rules and writes its
 * encoding to |*out| (free with free()), length |*out_len|. On error the
 * outputs are NULL and 0; HALQA_ERR_INVALID or HALQA_ERR_TOO_LARGE for a
 * message a peer would refuse.
 */
HALQA_MUST_CHECK int session_encode(uint8_t **out, size_t *out_len, const struct session_message *msg);

/*
 * session_utf8_valid returns 1 if |s| (|len| bytes) is strict UTF-8 (utf8.h:
 * no overlong forms, no surrogates, nothing above U+10FFFF) without NUL.
 * With |allow_newline| 0 it also refuses what utf8_is_unsafe names (C0, DEL,
 * C1, bidi embeddings, overrides and isolates); with 1 it allows '\n' and
 * '\t' and refuses every other C0 control, DEL and C1.
 */
int session_utf8_valid(const char *s, size_t len, int allow_newline);

/* session_date_valid returns 1 if |d| is a real date in 2000..2100. */
int session_date_valid(const struct session_date *d);

/* session_days_in_month returns the days of |month| (1..12) in |year|, 0 if invalid. */
unsigned session_days_in_month(unsigned year, unsigned month);

/* session_days_from_civil returns days since 1970-01-01 of a proleptic Gregorian date. */
int64_t session_days_from_civil(int year, unsigned month, unsigned day);

/* session_civil_from_days is the inverse of session_days_from_civil. */
void session_civil_from_days(int64_t days, int *out_year, unsigned *out_month, unsigned *out_day);

/* session_date_cmp returns <0, 0, >0 as |a| is before, equal to, after |b|. */
int session_date_cmp(const struct session_date *a, const struct session_date *b);

#endif
