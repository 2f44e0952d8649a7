/*
 * session.c: encoding and strict validation of the session payloads that
 * circles exchange as MLS application messages.
 *
 * These bytes come from other members, so a compromised or buggy member
 * is the adversary: every field is bounded, every enum closed, every date
 * real and within 2000..2100, every text strict UTF-8. One validation
 * function per message serves both directions, so what we send is exactly
 * what we would accept. Encoding is canonical (optional fields are present
 * iff their flag says so, varints minimal, booleans 0/1), so the fuzz target
 * can demand decode(encode(decode(x))) == x byte for byte.
 *
 * Calendar arithmetic here is plain proleptic Gregorian on day numbers;
 * time zones belong to recur.c, so this codec can check a message without
 * the tz database (a peer with a newer tzdata must not see our decoder
 * refuse its message).
 */
#include "halqa/session.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"
#include "halqa/utf8.h"

/* The largest encoding: a schedule with all texts at their bounds, with room. */
#define SESSION_ENCODED_MAX (SESSION_CHAT_MAX + 8192)

/* Offsets in the tz database stay within -12..+14 hours; allow margin, refuse worse. */
#define SESSION_MAX_OFFSET_S (18 * 3600)

int session_utf8_valid(const char *s, size_t len, int allow_newline)
{
	size_t pos = 0;
	uint32_t cp;

	while (pos < len) {
		if (utf8_decode((const uint8_t *)s, len, &pos, &cp) != HALQA_OK || cp == 0) {
			return 0;
		}
		if (!allow_newline) {
			/* One-line texts: no controls, no bidi overrides that reorder a title. */
			if (utf8_is_unsafe(cp)) {
				return 0;
			}
		} else if ((cp < 0x20 && cp != '\n' && cp != '\t') || (cp >= 0x7f && cp <= 0x9f)) {
			/* C0 (but newline and tab), DEL and C1 (CSI can drive a terminal). */
			return 0;
		}
	}
	return 1;
}

unsigned session_days_in_month(unsigned year, unsigned month)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month < 1 || month > 12) {
		return 0;
	}
	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) {
		return 29;
	}
	return days[month - 1];
}

int session_date_valid(const struct session_date *d)
{
	return d->year >= SESSION_YEAR_MIN && d->year <= SESSION_YEAR_MAX && d->month >= 1 &&
	       d->month <= 12 && d->day >= 1 && d->day <= session_days_in_month(d->year, d->month);
}

int64_t session_days_from_civil(int year, unsigned month, unsigned day)
{
	/* Count from 0000-03-01 so the leap day ends a year; eras of 400 years. */
	int64_t y = (int64_t)year - (month <= 2 ? 1 : 0);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (int64_t)(month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + (int64_t)day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void session_civil_from_days(int64_t days, int *out_year, unsigned *out_month, unsigned *out_day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	*out_year = (int)(yoe + era * 400 + (m <= 2 ? 1 : 0));
	*out_month = (unsigned)m;
	*out_day = (unsigned)d;
}

int session_date_cmp(const struct session_date *a, const struct session_date *b)
{
	uint32_t ka = ((uint32_t)a->year << 16) | ((uint32_t)a->month << 8) | a->day;
	uint32_t kb = ((uint32_t)b->year << 16) | ((uint32_t)b->month << 8) | b->day;

	return ka < kb ? -1 : ka > kb ? 1 : 0;
}

static int64_t date_days(const struct session_date *d)
{
	return session_days_from_civil(d->year, d->month, d->day);
}

static int date_is_zero(const struct session_date *d)
{
	return d->year == 0 && d->month == 0 && d->day == 0;
}

/* The tz database's own rule for names: ASCII letters, digits, '/', '_', '-', '+'. */
static int zone_name_valid(const char *z, size_t len)
{
	size_t i;

	if (len == 0 || len > SESSION_ZONE_MAX || z[0] == '/' || z[0] == '-' ||
	    z[len - 1] == '/') {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = z[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' || c == '+';

		if (!ok || (c == '/' && z[i + 1] == '/')) {
			return 0;
		}
	}
	return 1;
}

/* A NUL-terminated text field within |max| bytes, valid UTF-8 as asked. */
static int text_check(const char *s, size_t max, int allow_newline, int allow_empty)
{
	size_t len = strnlen(s, max + 1);

	if (len > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (len == 0 && !allow_empty) {
		return HALQA_ERR_INVALID;
	}
	if (!session_utf8_valid(s, len, allow_newline)) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

static int schedule_check(const struct session_schedule *s, int is_edit)
{
	int64_t wall;
	int r;

	if ((r = text_check(s->title, SESSION_TITLE_MAX, 0, 0)) != HALQA_OK ||
	    (r = text_check(s->agenda, SESSION_AGENDA_MAX, 1, 1)) != HALQA_OK) {
		return r;
	}
	if (strnlen(s->zone, SESSION_ZONE_MAX + 1) > SESSION_ZONE_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (!zone_name_valid(s->zone, strlen(s->zone))) {
		return HALQA_ERR_INVALID;
	}
	if (is_edit ? s->sequence == 0 : s->sequence != 0) {
		return HALQA_ERR_INVALID;
	}
	if (!session_date_valid(&s->local.date) || s->local.hour > 23 || s->local.minute > 59) {
		return HALQA_ERR_INVALID;
	}
	if (s->start_utc < SESSION_UTC_MIN || s->start_utc > SESSION_UTC_MAX) {
		return HALQA_ERR_INVALID;
	}
	/* The wall time and the instant must agree within any real UTC offset. */
	wall = date_days(&s->local.date) * 86400 + s->local.hour * 3600 + s->local.minute * 60;
	if (wall - s->start_utc > SESSION_MAX_OFFSET_S || s->start_utc - wall > SESSION_MAX_OFFSET_S) {
		return HALQA_ERR_INVALID;
	}
	if (s->duration_min < SESSION_DURATION_MIN || s->duration_min > SESSION_DURATION_MAX) {
		return HALQA_ERR_INVALID;
	}
	switch (s->freq) {
	case SESSION_FREQ_NONE:
		if (s->interval_weeks != 0 || s->end != SESSION_END_NONE) {
			return HALQA_ERR_INVALID;
		}
		break;
	case SESSION_FREQ_WEEKLY:
		if (s->interval_weeks != 1 && s->interval_weeks != 2 && s->interval_weeks != 4) {
			return HALQA_ERR_INVALID;
		}
		break;
	case SESSION_FREQ_MONTHLY:
		if (s->interval_weeks != 0) {
			return HALQA_ERR_INVALID;
		}
		break;
	default:
		return HALQA_ERR_INVALID;
	}
	switch (s->end) {
	case SESSION_END_NONE:
		if (!date_is_zero(&s->until) || s->count != 0) {
			return HALQA_ERR_INVALID;
		}
		break;
	case SESSION_END_UNTIL:
		if (s->count != 0 || !session_date_valid(&s->until) ||
		    session_date_cmp(&s->until, &s->local.date) < 0 ||
		    date_days(&s->until) - date_days(&s->local.date) > SESSION_UNTIL_MAX_DAYS) {
			return HALQA_ERR_INVALID;
		}
		break;
	case SESSION_END_COUNT:
		if (!date_is_zero(&s->until) || s->count < 1 || s->count > SESSION_COUNT_MAX) {
			return HALQA_ERR_INVALID;
		}
		break;
	default:
		return HALQA_ERR_INVALID;
	}
	if (s->session_only > 1) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

static int scope_check(uint8_t whole_series, const struct session_date *d)
{
	if (whole_series > 1) {
		return HALQA_ERR_INVALID;
	}
	if (whole_series ? !date_is_zero(d) : !session_date_valid(d)) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

static int message_check(const struct session_message *m)
{
	int r;

	switch (m->kind) {
	case SESSION_KIND_CHAT: {
		static const uint8_t zero[SESSION_ROUND_ID_LEN];

		if (m->u.chat.in_round > 1 ||
		    (!m->u.chat.in_round && memcmp(m->u.chat.round_id, zero, sizeof zero) != 0)) {
			return HALQA_ERR_INVALID;
		}
		return text_check(m->u.chat.text, SESSION_CHAT_MAX, 1, 0);
	}
	case SESSION_KIND_SCHEDULE:
	case SESSION_KIND_EDIT:
		return schedule_check(&m->u.schedule, m->kind == SESSION_KIND_EDIT);
	case SESSION_KIND_CANCEL:
		return scope_check(m->u.cancel.whole_series, &m->u.cancel.occurrence);
	case SESSION_KIND_RSVP:
		if ((r = scope_check(m->u.rsvp.whole_series, &m->u.rsvp.occurrence)) != HALQA_OK) {
			return r;
		}
		if (m->u.rsvp.answer < SESSION_ANSWER_YES || m->u.rsvp.answer > SESSION_ANSWER_MAYBE) {
			return HALQA_ERR_INVALID;
		}
		return text_check(m->u.rsvp.note, SESSION_NOTE_MAX, 1, 1);
	case SESSION_KIND_CHECKIN: {
		const struct session_checkin *c = &m->u.checkin;
		static const uint8_t zero[SESSION_MEMBER_KEY_LEN];

		if (c->step < SESSION_STEP_OPEN || c->step > SESSION_STEP_END) {
			return HALQA_ERR_INVALID;
		}
		if (c->step != SESSION_STEP_OPEN && (c->question[0] != '\0' || c->turn_timeout_s != 0)) {
			return HALQA_ERR_INVALID;
		}
		if (c->step != SESSION_STEP_TURN && memcmp(c->member, zero, sizeof zero) != 0) {
			return HALQA_ERR_INVALID;
		}
		if (c->turn_timeout_s > SESSION_TURN_TIMEOUT_MAX) {
			return HALQA_ERR_INVALID;
		}
		return text_check(c->question, SESSION_QUESTION_MAX, 0, 1);
	}
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

/* Writing. */

static void put_date(struct bytes_writer *w, const struct session_date *d)
{
	bytes_put_u16(w, d->year);
	bytes_put_u8(w, d->month);
	bytes_put_u8(w, d->day);
}

static void put_text(struct bytes_writer *w, const char *s)
{
	bytes_put_vec(w, (const uint8_t *)s, strlen(s));
}

static void put_schedule(struct bytes_writer *w, const struct session_schedule *s)
{
	bytes_put(w, s->id, sizeof s->id);
	bytes_put_u32(w, s->sequence);
	put_text(w, s->title);
	bytes_put_u64(w, (uint64_t)s->start_utc);
	put_text(w, s->zone);
	put_date(w, &s->local.date);
	bytes_put_u8(w, s->local.hour);
	bytes_put_u8(w, s->local.minute);
	bytes_put_u16(w, s->duration_min);
	bytes_put_u8(w, s->freq);
	if (s->freq == SESSION_FREQ_WEEKLY) {
		bytes_put_u8(w, s->interval_weeks);
	}
	bytes_put_u8(w, s->end);
	if (s->end == SESSION_END_UNTIL) {
		put_date(w, &s->until);
	} else if (s->end == SESSION_END_COUNT) {
		bytes_put_u16(w, s->count);
	}
	put_text(w, s->agenda);
	bytes_put_u8(w, s->session_only);
}

static void put_scope(struct bytes_writer *w, uint8_t whole_series, const struct session_date *d)
{
	bytes_put_u8(w, whole_series);
	if (!whole_series) {
		put_date(w, d);
	}
}

int session_encode(uint8_t **out, size_t *out_len, const struct session_message *msg)
{
	struct bytes_writer w;
	int r;

	*out = NULL;
	*out_len = 0;
	if ((r = message_check(msg)) != HALQA_OK) {
		return r;
	}
	bytes_writer_init(&w, SESSION_ENCODED_MAX, 0);
	bytes_put_u8(&w, SESSION_VERSION);
	bytes_put_u8(&w, msg->kind);
	switch (msg->kind) {
	case SESSION_KIND_CHAT:
		bytes_put_u8(&w, msg->u.chat.in_round);
		if (msg->u.chat.in_round) {
			bytes_put(&w, msg->u.chat.round_id, SESSION_ROUND_ID_LEN);
		}
		put_text(&w, msg->u.chat.text);
		break;
	case SESSION_KIND_SCHEDULE:
	case SESSION_KIND_EDIT:
		put_schedule(&w, &msg->u.schedule);
		break;
	case SESSION_KIND_CANCEL:
		bytes_put(&w, msg->u.cancel.id, SESSION_ID_LEN);
		bytes_put_u32(&w, msg->u.cancel.sequence);
		put_scope(&w, msg->u.cancel.whole_series, &msg->u.cancel.occurrence);
		break;
	case SESSION_KIND_RSVP:
		bytes_put(&w, msg->u.rsvp.id, SESSION_ID_LEN);
		put_scope(&w, msg->u.rsvp.whole_series, &msg->u.rsvp.occurrence);
		bytes_put_u8(&w, msg->u.rsvp.answer);
		put_text(&w, msg->u.rsvp.note);
		break;
	case SESSION_KIND_CHECKIN:
		bytes_put(&w, msg->u.checkin.round_id, SESSION_ROUND_ID_LEN);
		bytes_put_u8(&w, msg->u.checkin.step);
		if (msg->u.checkin.step == SESSION_STEP_OPEN) {
			put_text(&w, msg->u.checkin.question);
			bytes_put_u16(&w, msg->u.checkin.turn_timeout_s);
		} else if (msg->u.checkin.step == SESSION_STEP_TURN) {
			bytes_put(&w, msg->u.checkin.member, SESSION_MEMBER_KEY_LEN);
		}
		break;
	default:
		bytes_writer_cleanup(&w);
		return HALQA_ERR_INTERNAL; /* message_check let an unknown kind through */
	}
	return bytes_writer_finish(&w, out, out_len);
}

/* Reading. */

static int get_date(struct bytes_reader *r, struct session_date *d)
{
	int rc;

	if ((rc = bytes_get_u16(r, &d->year)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &d->month)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &d->day)) != HALQA_OK) {
		return rc;
	}
	return HALQA_OK;
}

/* Copies a vector into |dst| (|max| + 1 bytes); NUL inside is refused by validation. */
static int get_text(struct bytes_reader *r, char *dst, size_t max)
{
	struct bytes_reader v;
	size_t n;
	int rc;

	if ((rc = bytes_get_vec(r, &v, max)) != HALQA_OK) {
		return rc;
	}
	n = bytes_remaining(&v);
	if (memchr(v.ptr, '\0', n) != NULL) {
		return HALQA_ERR_INVALID;
	}
	if ((rc = bytes_get_copy(&v, (uint8_t *)dst, n)) != HALQA_OK) {
		return rc;
	}
	dst[n] = '\0';
	return HALQA_OK;
}

static int get_schedule(struct bytes_reader *r, struct session_schedule *s)
{
	uint64_t start;
	int rc;

	if ((rc = bytes_get_copy(r, s->id, sizeof s->id)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &s->sequence)) != HALQA_OK ||
	    (rc = get_text(r, s->title, SESSION_TITLE_MAX)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &start)) != HALQA_OK ||
	    (rc = get_text(r, s->zone, SESSION_ZONE_MAX)) != HALQA_OK ||
	    (rc = get_date(r, &s->local.date)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &s->local.hour)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &s->local.minute)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &s->duration_min)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &s->freq)) != HALQA_OK) {
		return rc;
	}
	/* Checked before the cast: a u64 above INT64_MAX must not turn negative-valid. */
	if (start > (uint64_t)SESSION_UTC_MAX) {
		return HALQA_ERR_INVALID;
	}
	s->start_utc = (int64_t)start;
	if (s->freq == SESSION_FREQ_WEEKLY && (rc = bytes_get_u8(r, &s->interval_weeks)) != HALQA_OK) {
		return rc;
	}
	if ((rc = bytes_get_u8(r, &s->end)) != HALQA_OK) {
		return rc;
	}
	if (s->end == SESSION_END_UNTIL) {
		rc = get_date(r, &s->until);
	} else if (s->end == SESSION_END_COUNT) {
		rc = bytes_get_u16(r, &s->count);
	}
	if (rc != HALQA_OK) {
		return rc;
	}
	if ((rc = get_text(r, s->agenda, SESSION_AGENDA_MAX)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &s->session_only)) != HALQA_OK) {
		return rc;
	}
	return HALQA_OK;
}

static int get_scope(struct bytes_reader *r, uint8_t *whole_series, struct session_date *d)
{
	int rc;

	if ((rc = bytes_get_u8(r, whole_series)) != HALQA_OK) {
		return rc;
	}
	if (*whole_series == 0) {
		return get_date(r, d);
	}
	return HALQA_OK;
}

static int decode_body(struct bytes_reader *r, struct session_message *m)
{
	int rc = HALQA_OK;

	switch (m->kind) {
	case SESSION_KIND_CHAT:
		if ((rc = bytes_get_u8(r, &m->u.chat.in_round)) != HALQA_OK) {
			return rc;
		}
		if (m->u.chat.in_round &&
		    (rc = bytes_get_copy(r, m->u.chat.round_id, SESSION_ROUND_ID_LEN)) != HALQA_OK) {
			return rc;
		}
		return get_text(r, m->u.chat.text, SESSION_CHAT_MAX);
	case SESSION_KIND_SCHEDULE:
	case SESSION_KIND_EDIT:
		return get_schedule(r, &m->u.schedule);
	case SESSION_KIND_CANCEL:
		if ((rc = bytes_get_copy(r, m->u.cancel.id, SESSION_ID_LEN)) != HALQA_OK ||
		    (rc = bytes_get_u32(r, &m->u.cancel.sequence)) != HALQA_OK) {
			return rc;
		}
		return get_scope(r, &m->u.cancel.whole_series, &m->u.cancel.occurrence);
	case SESSION_KIND_RSVP:
		if ((rc = bytes_get_copy(r, m->u.rsvp.id, SESSION_ID_LEN)) != HALQA_OK ||
		    (rc = get_scope(r, &m->u.rsvp.whole_series, &m->u.rsvp.occurrence)) != HALQA_OK ||
		    (rc = bytes_get_u8(r, &m->u.rsvp.answer)) != HALQA_OK) {
			return rc;
		}
		return get_text(r, m->u.rsvp.note, SESSION_NOTE_MAX);
	case SESSION_KIND_CHECKIN:
		if ((rc = bytes_get_copy(r, m->u.checkin.round_id, SESSION_ROUND_ID_LEN)) != HALQA_OK ||
		    (rc = bytes_get_u8(r, &m->u.checkin.step)) != HALQA_OK) {
			return rc;
		}
		if (m->u.checkin.step == SESSION_STEP_OPEN) {
			if ((rc = get_text(r, m->u.checkin.question, SESSION_QUESTION_MAX)) != HALQA_OK) {
				return rc;
			}
			return bytes_get_u16(r, &m->u.checkin.turn_timeout_s);
		}
		if (m->u.checkin.step == SESSION_STEP_TURN) {
			return bytes_get_copy(r, m->u.checkin.member, SESSION_MEMBER_KEY_LEN);
		}
		return HALQA_OK;
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

int session_decode(struct session_message *out, const uint8_t *data, size_t len)
{
	struct bytes_reader r;
	uint8_t version;
	int rc;

	memset(out, 0, sizeof *out);
	bytes_reader_init(&r, data, len);
	if ((rc = bytes_get_u8(&r, &version)) != HALQA_OK) {
		goto out;
	}
	if (version != SESSION_VERSION) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = bytes_get_u8(&r, &out->kind)) != HALQA_OK ||
	    (rc = decode_body(&r, out)) != HALQA_OK || (rc = bytes_expect_end(&r)) != HALQA_OK ||
	    (rc = message_check(out)) != HALQA_OK) {
		goto out;
	}
out:
	if (rc != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return rc;
}
