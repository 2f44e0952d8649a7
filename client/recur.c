/*
 * recur.c: occurrences of a session in its own time zone.
 *
 * The series is generated as local dates (start date + k weeks, or the same
 * day k months later), each paired with the session's wall-clock time, and
 * only then turned into UTC with the zone's rules. That is what keeps a
 * weekly 18:00 at 18:00 local time through DST changes; stepping in UTC
 * would move it by an hour twice a year.
 *
 * Zone rules come from the system tz database through libical's builtin
 * timezones (on Debian libical is built to read /usr/share/zoneinfo; see
 * icaltzutil_get_zone_directory). We only ask libical one question, "what is
 * the UTC offset at this UTC instant", and do the local-to-UTC inversion
 * ourselves so the gap and overlap rules are ours and documented: for a
 * wall time L we try the offsets in force a day before and a day after; an
 * offset o fits if the zone's offset at L - o is o. Two fits: an overlap,
 * take the earlier instant. No fit: a gap; L - (offset before) is the
 * instant the gap's length later on the clock. We never touch TZ or
 * localtime(): library code must not change process-wide state.
 *
 * libical's builtin timezone cache is global and not thread-safe in 3.0:
 * call these functions from one thread (the client's main thread).
 * libical is loaded on the first lookup of a well-formed zone name
 * (ical_lib.h); if it cannot be, these functions return
 * HALQA_ERR_UNSUPPORTED.
 */
#include "halqa/recur.h"

#include <string.h>

#include "halqa/ical_lib.h"

#define DAY_S INT64_C(86400)

/*
 * zone_lookup sets |*out| to the rules of |zone| and |*out_lib| to libical.
 * HALQA_ERR_INVALID for a name outside the tz database's character set
 * (checked before libical sees it, so no path is ever built from it) or an
 * unknown zone; HALQA_ERR_UNSUPPORTED if libical cannot be loaded.
 */
static int zone_name_valid(const char *zone)
{
	size_t len = strnlen(zone, SESSION_ZONE_MAX + 1);

	if (len == 0 || len > SESSION_ZONE_MAX || zone[0] == '/' || zone[0] == '-') {
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		char c = zone[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+')) {
			return 0;
		}
	}
	return 1;
}

static int zone_lookup(const struct ical_lib **out_lib, icaltimezone **out, const char *zone)
{
	int r;

	*out_lib = NULL;
	*out = NULL;
	if (!zone_name_valid(zone)) {
		return HALQA_ERR_INVALID;
	}
	if ((r = ical_lib_get(out_lib)) != HALQA_OK) {
		return r;
	}
	*out = strcmp(zone, "UTC") == 0 ? (*out_lib)->icaltimezone_get_utc_timezone()
	                                : (*out_lib)->icaltimezone_get_builtin_timezone(zone);
	return *out != NULL ? HALQA_OK : HALQA_ERR_INVALID;
}

static int offset_at(const struct ical_lib *L, icaltimezone *z, int64_t utc)
{
	struct icaltimetype t =
	    L->icaltime_from_timet_with_zone((time_t)utc, 0, L->icaltimezone_get_utc_timezone());

	return L->icaltimezone_get_utc_offset_of_utc_time(z, &t, NULL);
}

static int wall_valid(const struct session_wall *w)
{
	return session_date_valid(&w->date) && w->hour <= 23 && w->minute <= 59;
}

static int64_t wall_seconds(const struct session_wall *w)
{
	return session_days_from_civil(w->date.year, w->date.month, w->date.day) * DAY_S +
	       w->hour * 3600 + w->minute * 60;
}

static int64_t resolve(const struct ical_lib *L, icaltimezone *z, int64_t local)
{
	int before = offset_at(L, z, local - DAY_S);
	int after = offset_at(L, z, local + DAY_S);
	int64_t t1 = local - before, t2 = local - after;
	int fit1 = offset_at(L, z, t1) == before;
	int fit2 = offset_at(L, z, t2) == after;

	if (fit1 && fit2) {
		return t1 < t2 ? t1 : t2; /* overlap (or no change): the earlier instant */
	}
	if (fit1) {
		return t1;
	}
	if (fit2) {
		return t2;
	}
	return t1; /* gap: the old offset carries the time past the gap */
}

int recur_zone_known(const char *zone)
{
	const struct ical_lib *L;
	icaltimezone *z;

	return zone_lookup(&L, &z, zone);
}

int recur_resolve_local(int64_t *out_utc, const char *zone, const struct session_wall *wall)
{
	const struct ical_lib *L;
	icaltimezone *z;
	int r;

	*out_utc = 0;
	if (!wall_valid(wall)) {
		return HALQA_ERR_INVALID;
	}
	if ((r = zone_lookup(&L, &z, zone)) != HALQA_OK) {
		return r;
	}
	*out_utc = resolve(L, z, wall_seconds(wall));
	return HALQA_OK;
}

int recur_to_zone(struct session_wall *out, int *out_offset_s, const char *zone, int64_t utc)
{
	const struct ical_lib *L;
	icaltimezone *z;
	int64_t local, days, secs;
	int off, year, r;
	unsigned month, day;

	memset(out, 0, sizeof *out);
	if (out_offset_s != NULL) {
		*out_offset_s = 0;
	}
	if (utc < SESSION_UTC_MIN || utc > SESSION_UTC_MAX) {
		return HALQA_ERR_INVALID;
	}
	if ((r = zone_lookup(&L, &z, zone)) != HALQA_OK) {
		return r;
	}
	off = offset_at(L, z, utc);
	local = utc + off;
	days = local / DAY_S; /* local > 0 within our range */
	secs = local % DAY_S;
	session_civil_from_days(days, &year, &month, &day);
	out->date.year = (uint16_t)year;
	out->date.month = (uint8_t)month;
	out->date.day = (uint8_t)day;
	out->hour = (uint8_t)(secs / 3600);
	out->minute = (uint8_t)(secs % 3600 / 60);
	if (out_offset_s != NULL) {
		*out_offset_s = off;
	}
	return HALQA_OK;
}

static int shape_valid(const struct session_schedule *s)
{
	switch (s->freq) {
	case SESSION_FREQ_NONE:
	case SESSION_FREQ_MONTHLY:
		break;
	case SESSION_FREQ_WEEKLY:
		if (s->interval_weeks != 1 && s->interval_weeks != 2 && s->interval_weeks != 4) {
			return 0;
		}
		break;
	default:
		return 0;
	}
	if (s->end == SESSION_END_UNTIL) {
		return session_date_valid(&s->until);
	}
	if (s->end == SESSION_END_COUNT) {
		return s->count >= 1 && s->count <= SESSION_COUNT_MAX;
	}
	return s->end == SESSION_END_NONE;
}

int recur_check_stored(const struct session_schedule *s)
{
	if (!shape_valid(s) || s->duration_min < SESSION_DURATION_MIN ||
	    s->duration_min > SESSION_DURATION_MAX || !wall_valid(&s->local) ||
	    !zone_name_valid(s->zone) || s->start_utc < SESSION_UTC_MIN ||
	    s->start_utc > SESSION_UTC_MAX) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

int recur_check(const struct session_schedule *s)
{
	int64_t utc;
	int r;

	if ((r = recur_check_stored(s)) != HALQA_OK) {
		return r;
	}
	if ((r = recur_resolve_local(&utc, s->zone, &s->local)) != HALQA_OK) {
		return r;
	}
	return utc == s->start_utc ? HALQA_OK : HALQA_ERR_INVALID;
}

static int excluded_has(const struct session_date *excluded, size_t num, const struct session_date *d)
{
	size_t i;

	for (i = 0; i < num; i++) {
		if (session_date_cmp(&excluded[i], d) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * The local date of step |k| of the series, or 0 if that step has no
 * occurrence (a month without the day).
 */
static int step_date(struct session_date *out, const struct session_schedule *s, int64_t k)
{
	const struct session_date *d0 = &s->local.date;

	if (s->freq == SESSION_FREQ_MONTHLY) {
		int64_t m = (int64_t)d0->year * 12 + (d0->month - 1) + k;
		int64_t year = m / 12;
		unsigned month = (unsigned)(m % 12) + 1;

		if (year > SESSION_YEAR_MAX) {
			out->year = SESSION_YEAR_MAX + 1; /* past the end: the caller stops */
			out->month = 1;
			out->day = 1;
			return 1;
		}
		if (d0->day > session_days_in_month((unsigned)year, month)) {
			return 0;
		}
		out->year = (uint16_t)year;
		out->month = (uint8_t)month;
		out->day = d0->day;
		return 1;
	}
	{
		int64_t days = session_days_from_civil(d0->year, d0->month, d0->day) +
			       k * 7 * (s->freq == SESSION_FREQ_WEEKLY ? s->interval_weeks : 0);
		int year;
		unsigned month, day;

		session_civil_from_days(days, &year, &month, &day);
		out->year = (uint16_t)(year > SESSION_YEAR_MAX ? SESSION_YEAR_MAX + 1 : year);
		out->month = (uint8_t)month;
		out->day = (uint8_t)day;
		return 1;
	}
}

int recur_expand(struct recur_occurrence *out, size_t max_out, size_t *num_out,
		 const struct session_schedule *s, const struct session_date *excluded,
		 size_t num_excluded, int64_t from, int64_t to)
{
	const struct ical_lib *L;
	icaltimezone *z;
	int64_t k = 0, counted = 0, dur;
	size_t n = 0;
	int r;

	*num_out = 0;
	if (from > to) {
		return HALQA_ERR_INVALID;
	}
	if ((r = recur_check(s)) != HALQA_OK || (r = zone_lookup(&L, &z, s->zone)) != HALQA_OK) {
		return r;
	}
	dur = (int64_t)s->duration_min * 60;
	/*
	 * Without COUNT nothing before |from| matters: jump close to it (two
	 * steps early, for DST shifts and the duration) instead of walking an
	 * open-ended series from its start.
	 */
	if (s->end != SESSION_END_COUNT && from > s->start_utc) {
		int64_t ahead = from - s->start_utc;

		if (s->freq == SESSION_FREQ_WEEKLY) {
			k = ahead / (7 * DAY_S * s->interval_weeks) - 2;
		} else if (s->freq == SESSION_FREQ_MONTHLY) {
			k = ahead / (28 * DAY_S) - 2;
			/* 28-day months overestimate; a month is at least 28 days, so step back safely. */
			k = k * 28 / 31;
		}
		if (k < 0) {
			k = 0;
		}
	}
	for (;; k++) {
		struct session_date d;
		struct session_wall w;
		int64_t start;

		if (s->freq == SESSION_FREQ_NONE && k > 0) {
			break;
		}
		if (!step_date(&d, s, k)) {
			continue; /* a month without the day: not an occurrence, not counted */
		}
		if (d.year > SESSION_YEAR_MAX) {
			break;
		}
		if (s->end == SESSION_END_UNTIL && session_date_cmp(&d, &s->until) > 0) {
			break;
		}
		if (s->end == SESSION_END_COUNT && counted >= s->count) {
			break;
		}
		counted++;
		w = s->local;
		w.date = d;
		start = resolve(L, z, wall_seconds(&w));
		if (start >= to) {
			break;
		}
		if (start + dur <= from || excluded_has(excluded, num_excluded, &d)) {
			continue;
		}
		if (n == max_out) {
			*num_out = n;
			return HALQA_ERR_LIMIT;
		}
		out[n].start_utc = start;
		out[n].end_utc = start + dur;
		out[n].local_date = d;
		n++;
	}
	*num_out = n;
	return HALQA_OK;
}
