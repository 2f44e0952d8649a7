/*
 * test_ics.c: iCalendar export read back by libical. Every property we
 * write is parsed again and compared with the session; titles with
 * commas, semicolons, backslashes and Arabic survive; a cancelled
 * occurrence comes back as an EXDATE; the agenda appears only when asked;
 * and libical's own recurrence expansion of the file agrees with ours.
 */
#include "halqa/ics.h"

#include <libical/ical.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/recur.h"
#include "harness.h"

#define TITLE "Circle: Ahmad, Sara; \"court\" \\ \xd8\xad\xd9\x84\xd9\x82\xd8\xa9"
#define AGENDA "1. arrive, settle\n2. round; share\n\xd8\xb4\xd9\x83\xd8\xb1\xd8\xa7"

static struct session_schedule sched;

static void make(const char *zone, int y, int mo, int d, int h, int mi)
{
	memset(&sched, 0, sizeof sched);
	memset(sched.id, 0xa5, sizeof sched.id);
	sched.id[0] = 0x01;
	sched.sequence = 2;
	strcpy(sched.title, TITLE);
	strcpy(sched.agenda, AGENDA);
	strcpy(sched.zone, zone);
	sched.local.date.year = (uint16_t)y;
	sched.local.date.month = (uint8_t)mo;
	sched.local.date.day = (uint8_t)d;
	sched.local.hour = (uint8_t)h;
	sched.local.minute = (uint8_t)mi;
	sched.duration_min = 90;
	if (recur_resolve_local(&sched.start_utc, zone, &sched.local) != HALQA_OK) {
		sched.start_utc = 0;
	}
}

static icalcomponent *export_parse(const struct ics_event *ev, size_t n, int with_agenda,
				   char **text_out)
{
	struct ics_options opts = {with_agenda, 15, INT64_C(1735689600)};
	char *text = NULL;
	size_t len = 0;
	icalcomponent *cal;

	CHECK_OK(ics_export(&text, &len, ev, n, &opts));
	if (text == NULL) {
		return NULL;
	}
	CHECK_INT_EQ(strlen(text), len);
	CHECK(strstr(text, "\r\n") != NULL);
	cal = icalparser_parse_string(text);
	CHECK(cal != NULL);
	if (text_out != NULL) {
		*text_out = text;
	} else {
		free(text);
	}
	return cal;
}

static void test_weekly_round_trip(void)
{
	struct session_date cancelled[1] = {{2025, 3, 13}};
	struct ics_event ev = {&sched, cancelled, 1, 0};
	icalcomponent *cal, *vev, *vtz, *alarm;
	icalproperty *p;
	icalparameter *tzid;
	struct icaltimetype t;
	struct icalrecurrencetype rr;
	struct icaltriggertype trig;
	char *text = NULL;
	char uid[ICS_UID_LEN];

	make("Europe/Berlin", 2025, 2, 27, 18, 0);
	sched.freq = SESSION_FREQ_WEEKLY;
	sched.interval_weeks = 2;
	sched.end = SESSION_END_COUNT;
	sched.count = 6;
	cal = export_parse(&ev, 1, 0, &text);
	if (cal == NULL) {
		free(text);
		return;
	}
	/* The escaping is libical's: a comma and a semicolon in TEXT are escaped. */
	CHECK(strstr(text, "Ahmad\\, Sara\\;") != NULL);
	free(text);

	CHECK(strcmp(icalproperty_get_prodid(
			     icalcomponent_get_first_property(cal, ICAL_PRODID_PROPERTY)),
		     "-//Halqa//Halqa circle sessions//EN") == 0);
	CHECK(strcmp(icalproperty_get_version(
			     icalcomponent_get_first_property(cal, ICAL_VERSION_PROPERTY)),
		     "2.0") == 0);
	vtz = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT);
	CHECK(vtz != NULL);
	if (vtz != NULL) {
		p = icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY);
		CHECK(p != NULL && strcmp(icalproperty_get_tzid(p), "Europe/Berlin") == 0);
	}
	vev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	CHECK(vev != NULL);
	if (vev == NULL) {
		icalcomponent_free(cal);
		return;
	}
	CHECK(icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT) == NULL);
	ics_uid(uid, sched.id);
	CHECK(strcmp(uid, "01a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5@halqa.invalid") == 0);
	CHECK(strcmp(icalcomponent_get_uid(vev), uid) == 0);
	CHECK(strcmp(icalcomponent_get_summary(vev), TITLE) == 0);
	CHECK_INT_EQ(icalcomponent_get_sequence(vev), 2);
	CHECK(icalcomponent_get_first_property(vev, ICAL_DESCRIPTION_PROPERTY) == NULL);
	CHECK(icalcomponent_get_first_property(vev, ICAL_STATUS_PROPERTY) == NULL);

	p = icalcomponent_get_first_property(vev, ICAL_DTSTART_PROPERTY);
	CHECK(p != NULL);
	if (p != NULL) {
		t = icalproperty_get_dtstart(p);
		CHECK_INT_EQ(t.year, 2025);
		CHECK_INT_EQ(t.month, 2);
		CHECK_INT_EQ(t.day, 27);
		CHECK_INT_EQ(t.hour, 18);
		CHECK_INT_EQ(t.minute, 0);
		tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
		CHECK(tzid != NULL && strcmp(icalparameter_get_tzid(tzid), "Europe/Berlin") == 0);
		/* libical resolves the TZID through our VTIMEZONE to the same instant. */
		t = icalcomponent_get_dtstart(vev);
		CHECK_INT_EQ(icaltime_as_timet_with_zone(t, t.zone), sched.start_utc);
	}
	p = icalcomponent_get_first_property(vev, ICAL_DURATION_PROPERTY);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_INT_EQ(icaldurationtype_as_int(icalproperty_get_duration(p)), 90 * 60);
	}
	p = icalcomponent_get_first_property(vev, ICAL_RRULE_PROPERTY);
	CHECK(p != NULL);
	if (p != NULL) {
		rr = icalproperty_get_rrule(p);
		CHECK_INT_EQ(rr.freq, ICAL_WEEKLY_RECURRENCE);
		CHECK_INT_EQ(rr.interval, 2);
		CHECK_INT_EQ(rr.count, 6);
		CHECK(icaltime_is_null_time(rr.until));
	}
	p = icalcomponent_get_first_property(vev, ICAL_EXDATE_PROPERTY);
	CHECK(p != NULL);
	if (p != NULL) {
		t = icalproperty_get_exdate(p);
		CHECK_INT_EQ(t.year, 2025);
		CHECK_INT_EQ(t.month, 3);
		CHECK_INT_EQ(t.day, 13);
		CHECK_INT_EQ(t.hour, 18);
		tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
		CHECK(tzid != NULL && strcmp(icalparameter_get_tzid(tzid), "Europe/Berlin") == 0);
		CHECK(icalcomponent_get_next_property(vev, ICAL_EXDATE_PROPERTY) == NULL);
	}
	alarm = icalcomponent_get_first_component(vev, ICAL_VALARM_COMPONENT);
	CHECK(alarm != NULL);
	if (alarm != NULL) {
		p = icalcomponent_get_first_property(alarm, ICAL_ACTION_PROPERTY);
		CHECK(p != NULL && icalproperty_get_action(p) == ICAL_ACTION_DISPLAY);
		p = icalcomponent_get_first_property(alarm, ICAL_TRIGGER_PROPERTY);
		CHECK(p != NULL);
		if (p != NULL) {
			trig = icalproperty_get_trigger(p);
			CHECK_INT_EQ(icaldurationtype_as_int(trig.duration), -15 * 60);
		}
	}

	/* libical expands the file's RRULE + EXDATE to exactly our occurrences. */
	{
		struct recur_occurrence occ[16];
		size_t n = 0, k = 0;
		struct icaltimetype start = icalcomponent_get_dtstart(vev);
		icalrecur_iterator *it;
		struct icaltimetype next;

		CHECK_OK(recur_expand(occ, 16, &n, &sched, cancelled, 1, SESSION_UTC_MIN,
				      SESSION_UTC_MAX));
		CHECK_INT_EQ(n, 5);
		rr = icalproperty_get_rrule(icalcomponent_get_first_property(vev, ICAL_RRULE_PROPERTY));
		it = icalrecur_iterator_new(rr, start);
		CHECK(it != NULL);
		while (it != NULL && !icaltime_is_null_time(next = icalrecur_iterator_next(it))) {
			if (next.month == 3 && next.day == 13) {
				continue; /* the EXDATE */
			}
			CHECK(k < n);
			if (k < n) {
				CHECK_INT_EQ(icaltime_as_timet_with_zone(next, start.zone), occ[k].start_utc);
			}
			k++;
		}
		CHECK_INT_EQ(k, n);
		icalrecur_iterator_free(it);
	}
	icalcomponent_free(cal);
}

static void test_monthly_until_agenda_cancelled(void)
{
	struct ics_event ev = {&sched, NULL, 0, 1};
	icalcomponent *cal, *vev;
	icalproperty *p;
	struct icalrecurrencetype rr;

	make("America/New_York", 2025, 1, 31, 19, 30);
	sched.freq = SESSION_FREQ_MONTHLY;
	sched.end = SESSION_END_UNTIL;
	sched.until.year = 2025;
	sched.until.month = 12;
	sched.until.day = 31;
	cal = export_parse(&ev, 1, 1, NULL);
	if (cal == NULL) {
		return;
	}
	vev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	CHECK(vev != NULL);
	if (vev != NULL) {
		CHECK(strcmp(icalcomponent_get_description(vev), AGENDA) == 0);
		CHECK_INT_EQ(icalcomponent_get_status(vev), ICAL_STATUS_CANCELLED);
		p = icalcomponent_get_first_property(vev, ICAL_RRULE_PROPERTY);
		CHECK(p != NULL);
		if (p != NULL) {
			rr = icalproperty_get_rrule(p);
			CHECK_INT_EQ(rr.freq, ICAL_MONTHLY_RECURRENCE);
			CHECK_INT_EQ(rr.by_month_day[0], 31);
			CHECK_INT_EQ(rr.by_month_day[1], ICAL_RECURRENCE_ARRAY_MAX);
			CHECK_INT_EQ(rr.count, 0);
			/* UNTIL in UTC: 2025-12-31 19:30 EST. */
			CHECK(icaltime_is_utc(rr.until));
			CHECK_INT_EQ(icaltime_as_timet(rr.until),
				     session_days_from_civil(2026, 1, 1) * 86400 + 30 * 60);
		}
		CHECK(icalcomponent_get_first_property(vev, ICAL_EXDATE_PROPERTY) == NULL);
	}
	icalcomponent_free(cal);
}

static void test_two_sessions_one_timezone_each(void)
{
	static struct session_schedule other;
	struct ics_event ev[3];
	icalcomponent *cal, *c;
	int zones = 0, events = 0;

	make("Asia/Kathmandu", 2025, 5, 1, 18, 0);
	other = sched;
	other.id[0] = 2;
	memset(&ev, 0, sizeof ev);
	ev[0].session = &sched;
	ev[1].session = &other;
	make("UTC", 2025, 5, 2, 9, 0);
	ev[2].session = &sched;
	cal = export_parse(ev, 3, 0, NULL);
	if (cal == NULL) {
		return;
	}
	for (c = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(cal, ICAL_VTIMEZONE_COMPONENT)) {
		zones++;
	}
	for (c = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); c != NULL;
	     c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
		events++;
		CHECK(icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) == NULL);
	}
	CHECK_INT_EQ(zones, 1); /* Kathmandu once; UTC needs none */
	CHECK_INT_EQ(events, 3);
	c = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT);
	c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT);
	if (c != NULL) {
		struct icaltimetype t = icalcomponent_get_dtstart(c);

		CHECK_INT_EQ(icaltime_as_timet(t), sched.start_utc);
		CHECK(icaltime_is_utc(t));
	}
	icalcomponent_free(cal);
}

static void test_refusals(void)
{
	struct session_date bad = {2025, 2, 30};
	struct ics_event ev = {&sched, NULL, 0, 0};
	struct ics_options opts = {0, 15, INT64_C(1735689600)};
	char *text = (char *)1;
	size_t len = 5;

	make("Europe/Berlin", 2025, 2, 27, 18, 0);
	CHECK_RC(ics_export(&text, &len, &ev, 0, &opts), HALQA_ERR_INVALID);
	CHECK(text == NULL);
	CHECK_INT_EQ(len, 0);
	opts.reminder_min = ICS_REMINDER_MAX + 1;
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	opts.reminder_min = 15;
	opts.dtstamp_utc = 0;
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	opts.dtstamp_utc = INT64_C(1735689600);
	ev.cancelled = &bad;
	ev.num_cancelled = 1;
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	ev.num_cancelled = 0;
	strcpy(sched.zone, "Nowhere/Land");
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	make("Europe/Berlin", 2025, 2, 27, 18, 0);
	strcpy(sched.title, "bad \xc0\xaf");
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	make("Europe/Berlin", 2025, 2, 27, 18, 0);
	sched.start_utc += 60;
	CHECK_RC(ics_export(&text, &len, &ev, 1, &opts), HALQA_ERR_INVALID);
	/* And without a reminder there is no VALARM. */
	make("Europe/Berlin", 2025, 2, 27, 18, 0);
	opts.reminder_min = 0;
	CHECK_OK(ics_export(&text, &len, &ev, 1, &opts));
	CHECK(text != NULL && strstr(text, "BEGIN:VALARM") == NULL);
	CHECK(text != NULL && strstr(text, "DESCRIPTION") == NULL);
	free(text);
}

int main(void)
{
	RUN(test_weekly_round_trip);
	RUN(test_monthly_until_agenda_cancelled);
	RUN(test_two_sessions_one_timezone_each);
	RUN(test_refusals);
	return harness_report();
}
