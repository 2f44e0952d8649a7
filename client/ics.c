/*
 * ics.c: RFC 5545 export of sessions with libical.
 *
 * libical builds the components and does the text escaping (commas,
 * semicolons, backslashes, newlines in TEXT values, section 3.3.11) and the
 * line folding, so no quoting of ours can go wrong. Times are written the
 * way calendars recompute them correctly across DST: DTSTART as a local
 * wall time with TZID and the matching VTIMEZONE, the recurrence as an
 * RRULE in that zone. UNTIL must be UTC when DTSTART has a TZID (section
 * 3.3.10), so the session's inclusive local until-date becomes the UTC
 * instant of the wall time on that date. EXDATEs carry the cancelled
 * occurrences' wall times with the same TZID, so they match the RRULE's
 * instances exactly.
 *
 * libical's own VTIMEZONE for a zone carries a TZID with a vendor prefix
 * ("/freeassociation.sourceforge.net/Europe/Berlin"); we set it to the
 * plain IANA name, which is what the DTSTART parameters say and what other
 * calendars recognise.
 */
#include "halqa/ics.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/ical_lib.h"
#include "halqa/recur.h"

#define ICS_PRODID "-//Halqa//Halqa circle sessions//EN"

void ics_uid(char out[ICS_UID_LEN], const uint8_t id[SESSION_ID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < SESSION_ID_LEN; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 0xf];
	}
	memcpy(out + 2 * SESSION_ID_LEN, "@halqa.invalid", sizeof "@halqa.invalid");
}

static int is_utc(const char *zone)
{
	return strcmp(zone, "UTC") == 0;
}

static struct icaltimetype wall_time(const struct ical_lib *L, const struct session_date *d,
                                     const struct session_wall *w)
{
	struct icaltimetype t = L->icaltime_null_time();

	t.year = d->year;
	t.month = d->month;
	t.day = d->day;
	t.hour = w->hour;
	t.minute = w->minute;
	t.second = 0;
	t.is_date = 0;
	return t;
}

static struct icaltimetype utc_time(const struct ical_lib *L, int64_t utc)
{
	return L->icaltime_from_timet_with_zone((time_t)utc, 0, L->icaltimezone_get_utc_timezone());
}

/* A DTSTART or EXDATE at the session's wall time on |d|, in its zone. */
static icalproperty *zoned_prop(const struct ical_lib *L,
                                icalproperty *(*make)(struct icaltimetype),
                                const struct session_schedule *s, const struct session_date *d)
{
	icalproperty *p;

	if (is_utc(s->zone)) {
		int64_t t;
		struct session_wall w = s->local;

		w.date = *d;
		if (recur_resolve_local(&t, s->zone, &w) != HALQA_OK) {
			return NULL;
		}
		return make(utc_time(L, t));
	}
	p = make(wall_time(L, d, &s->local));
	if (p != NULL) {
		L->icalproperty_add_parameter(p, L->icalparameter_new_tzid(s->zone));
	}
	return p;
}

static int event_valid(const struct ics_event *e)
{
	const struct session_schedule *s = e->session;
	size_t i;

	if (s == NULL || recur_check(s) != HALQA_OK || e->series_cancelled > 1 ||
	    e->num_cancelled > SESSION_COUNT_MAX || (e->num_cancelled > 0 && e->cancelled == NULL)) {
		return 0;
	}
	if (strnlen(s->title, SESSION_TITLE_MAX + 1) > SESSION_TITLE_MAX || s->title[0] == '\0' ||
	    !session_utf8_valid(s->title, strlen(s->title), 0) ||
	    strnlen(s->agenda, SESSION_AGENDA_MAX + 1) > SESSION_AGENDA_MAX ||
	    !session_utf8_valid(s->agenda, strlen(s->agenda), 1)) {
		return 0;
	}
	for (i = 0; i < e->num_cancelled; i++) {
		if (!session_date_valid(&e->cancelled[i])) {
			return 0;
		}
	}
	return 1;
}

/* Adds the VTIMEZONE of |zone| once per calendar. */
static int add_timezone(const struct ical_lib *L, icalcomponent *cal, const char *zone)
{
	icalcomponent *c, *vtz;
	icalproperty *p;
	icaltimezone *z;

	if (is_utc(zone)) {
		return HALQA_OK; /* UTC needs no VTIMEZONE: times carry Z */
	}
	for (c = L->icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT); c != NULL;
	     c = L->icalcomponent_get_next_component(cal, ICAL_VTIMEZONE_COMPONENT)) {
		p = L->icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY);
		if (p != NULL && strcmp(L->icalproperty_get_tzid(p), zone) == 0) {
			return HALQA_OK;
		}
	}
	if ((z = L->icaltimezone_get_builtin_timezone(zone)) == NULL ||
	    (c = L->icaltimezone_get_component(z)) == NULL) {
		return HALQA_ERR_INVALID;
	}
	if ((vtz = L->icalcomponent_new_clone(c)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	p = L->icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY);
	if (p == NULL) {
		L->icalcomponent_free(vtz);
		return HALQA_ERR_INTERNAL;
	}
	L->icalproperty_set_tzid(p, zone);
	L->icalcomponent_add_component(cal, vtz);
	return HALQA_OK;
}

static icalproperty *rrule_prop(const struct ical_lib *L, const struct session_schedule *s)
{
	struct icalrecurrencetype r;

	L->icalrecurrencetype_clear(&r);
	if (s->freq == SESSION_FREQ_WEEKLY) {
		r.freq = ICAL_WEEKLY_RECURRENCE;
		r.interval = s->interval_weeks;
	} else {
		r.freq = ICAL_MONTHLY_RECURRENCE;
		r.interval = 1;
		r.by_month_day[0] = s->local.date.day;
		r.by_month_day[1] = ICAL_RECURRENCE_ARRAY_MAX;
	}
	if (s->end == SESSION_END_COUNT) {
		r.count = s->count;
	} else if (s->end == SESSION_END_UNTIL) {
		struct session_wall w = s->local;
		int64_t t;

		w.date = s->until;
		if (recur_resolve_local(&t, s->zone, &w) != HALQA_OK) {
			return NULL;
		}
		r.until = utc_time(L, t);
	}
	return L->icalproperty_new_rrule(r);
}

/* Adds |p| to |c|; a NULL |p| (libical out of memory) is an error. */
static int add(const struct ical_lib *L, icalcomponent *c, icalproperty *p)
{
	if (p == NULL) {
		return HALQA_ERR_NOMEM;
	}
	L->icalcomponent_add_property(c, p);
	return HALQA_OK;
}

static int add_event(const struct ical_lib *L, icalcomponent *cal, const struct ics_event *e,
                     const struct ics_options *opts)
{
	const struct session_schedule *s = e->session;
	icalcomponent *ev, *alarm = NULL;
	char uid[ICS_UID_LEN];
	size_t i;
	int r;

	if ((r = add_timezone(L, cal, s->zone)) != HALQA_OK) {
		return r;
	}
	if ((ev = L->icalcomponent_new(ICAL_VEVENT_COMPONENT)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	ics_uid(uid, s->id);
	if ((r = add(L, ev, L->icalproperty_new_uid(uid))) != HALQA_OK ||
	    (r = add(L, ev, L->icalproperty_new_dtstamp(utc_time(L, opts->dtstamp_utc)))) !=
	        HALQA_OK ||
	    (r = add(L, ev, zoned_prop(L, L->icalproperty_new_dtstart, s, &s->local.date))) !=
	        HALQA_OK ||
	    (r = add(L, ev,
	             L->icalproperty_new_duration(
	                 L->icaldurationtype_from_int((int)s->duration_min * 60)))) != HALQA_OK ||
	    (r = add(L, ev, L->icalproperty_new_sequence((int)(s->sequence & 0x7fffffff)))) !=
	        HALQA_OK ||
	    (r = add(L, ev, L->icalproperty_new_summary(s->title))) != HALQA_OK) {
		goto out;
	}
	if (s->freq != SESSION_FREQ_NONE && (r = add(L, ev, rrule_prop(L, s))) != HALQA_OK) {
		goto out;
	}
	for (i = 0; i < e->num_cancelled; i++) {
		if ((r = add(L, ev,
		             zoned_prop(L, L->icalproperty_new_exdate, s, &e->cancelled[i]))) !=
		    HALQA_OK) {
			goto out;
		}
	}
	if (opts->with_agenda && s->agenda[0] != '\0' &&
	    (r = add(L, ev, L->icalproperty_new_description(s->agenda))) != HALQA_OK) {
		goto out;
	}
	if (e->series_cancelled &&
	    (r = add(L, ev, L->icalproperty_new_status(ICAL_STATUS_CANCELLED))) != HALQA_OK) {
		goto out;
	}
	if (opts->reminder_min > 0) {
		struct icaltriggertype trig;

		memset(&trig, 0, sizeof trig);
		trig.time = L->icaltime_null_time();
		trig.duration = L->icaldurationtype_from_int(-(int)opts->reminder_min * 60);
		if ((alarm = L->icalcomponent_new(ICAL_VALARM_COMPONENT)) == NULL) {
			r = HALQA_ERR_NOMEM;
			goto out;
		}
		/* DISPLAY alarms need a DESCRIPTION (RFC 5545 3.6.6): the title, already public here. */
		if ((r = add(L, alarm, L->icalproperty_new_action(ICAL_ACTION_DISPLAY))) !=
		        HALQA_OK ||
		    (r = add(L, alarm, L->icalproperty_new_trigger(trig))) != HALQA_OK ||
		    (r = add(L, alarm, L->icalproperty_new_description(s->title))) != HALQA_OK) {
			goto out;
		}
		L->icalcomponent_add_component(ev, alarm);
		alarm = NULL;
	}
	L->icalcomponent_add_component(cal, ev);
	ev = NULL;
	r = HALQA_OK;
out:
	if (alarm != NULL) {
		L->icalcomponent_free(alarm);
	}
	if (ev != NULL) {
		L->icalcomponent_free(ev);
	}
	return r;
}

int ics_export(char **out, size_t *out_len, const struct ics_event *events, size_t num_events,
	       const struct ics_options *opts)
{
	const struct ical_lib *L;
	icalcomponent *cal = NULL;
	char *text = NULL, *copy = NULL;
	size_t i, len;
	int r;

	*out = NULL;
	*out_len = 0;
	if (num_events == 0 || num_events > ICS_EVENTS_MAX || opts->reminder_min > ICS_REMINDER_MAX ||
	    opts->dtstamp_utc < SESSION_UTC_MIN || opts->dtstamp_utc > SESSION_UTC_MAX) {
		return HALQA_ERR_INVALID;
	}
	/* Loaded first, so that a missing libical is not reported as an invalid session. */
	if ((r = ical_lib_get(&L)) != HALQA_OK) {
		return r;
	}
	for (i = 0; i < num_events; i++) {
		if (!event_valid(&events[i])) {
			return HALQA_ERR_INVALID;
		}
	}
	if ((cal = L->icalcomponent_new(ICAL_VCALENDAR_COMPONENT)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = add(L, cal, L->icalproperty_new_prodid(ICS_PRODID))) != HALQA_OK ||
	    (r = add(L, cal, L->icalproperty_new_version("2.0"))) != HALQA_OK ||
	    (r = add(L, cal, L->icalproperty_new_calscale("GREGORIAN"))) != HALQA_OK) {
		goto out;
	}
	for (i = 0; i < num_events; i++) {
		if ((r = add_event(L, cal, &events[i], opts)) != HALQA_OK) {
			goto out;
		}
	}
	if ((text = L->icalcomponent_as_ical_string_r(cal)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	/* Hand the caller a buffer from our allocator, not libical's. */
	len = strlen(text);
	if ((copy = malloc(len + 1)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, text, len + 1);
	*out = copy;
	*out_len = len;
	r = HALQA_OK;
out:
	if (text != NULL) {
		L->icalmemory_free_buffer(text);
	}
	if (cal != NULL) {
		L->icalcomponent_free(cal);
	}
	return r;
}
