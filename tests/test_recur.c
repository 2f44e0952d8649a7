/*
 * test_recur.c: occurrences in the session's own zone across DST changes,
 * half-hour and 45-minute offsets, gaps and overlaps, monthly on the 31st,
 * COUNT, UNTIL, exclusions and windows. Expected instants are worked out
 * by hand from the published transition dates (2024).
 */
#include "halqa/recur.h"

#include <string.h>

#include "harness.h"

static int64_t utc(int y, unsigned mo, unsigned d, int h, int mi)
{
	return session_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static struct session_wall wall(int y, int mo, int d, int h, int mi)
{
	struct session_wall w;

	memset(&w, 0, sizeof w);
	w.date.year = (uint16_t)y;
	w.date.month = (uint8_t)mo;
	w.date.day = (uint8_t)d;
	w.hour = (uint8_t)h;
	w.minute = (uint8_t)mi;
	return w;
}

static void make(struct session_schedule *s, const char *zone, struct session_wall w,
		 uint8_t freq, uint8_t interval)
{
	memset(s, 0, sizeof *s);
	strcpy(s->title, "circle");
	strcpy(s->zone, zone);
	s->local = w;
	s->duration_min = 90;
	s->freq = freq;
	s->interval_weeks = interval;
	if (recur_resolve_local(&s->start_utc, zone, &w) != HALQA_OK) {
		s->start_utc = -1;
	}
}

/* Expands a weekly 18:00 series over 4 weeks from |w| and checks the UTC starts. */
static void check_weekly(const char *zone, struct session_wall w, const int64_t want[4])
{
	struct session_schedule s;
	struct recur_occurrence occ[8];
	size_t n = 0, i;

	make(&s, zone, w, SESSION_FREQ_WEEKLY, 1);
	s.end = SESSION_END_COUNT;
	s.count = 4;
	CHECK_OK(recur_expand(occ, 8, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX));
	CHECK_INT_EQ(n, 4);
	for (i = 0; i < n && i < 4; i++) {
		struct session_wall back;

		CHECK_INT_EQ(occ[i].start_utc, want[i]);
		CHECK_INT_EQ(occ[i].end_utc - occ[i].start_utc, 90 * 60);
		/* Local time stays 18:00 on every occurrence. */
		CHECK_OK(recur_to_zone(&back, NULL, zone, occ[i].start_utc));
		CHECK_INT_EQ(back.hour, w.hour);
		CHECK_INT_EQ(back.minute, w.minute);
		CHECK_INT_EQ(session_date_cmp(&back.date, &occ[i].local_date), 0);
	}
}

static void test_berlin_both_transitions(void)
{
	/* CET -> CEST on 2024-03-31, CEST -> CET on 2024-10-27. */
	const int64_t spring[4] = {utc(2024, 3, 21, 17, 0), utc(2024, 3, 28, 17, 0),
				   utc(2024, 4, 4, 16, 0), utc(2024, 4, 11, 16, 0)};
	const int64_t fall[4] = {utc(2024, 10, 17, 16, 0), utc(2024, 10, 24, 16, 0),
				 utc(2024, 10, 31, 17, 0), utc(2024, 11, 7, 17, 0)};

	check_weekly("Europe/Berlin", wall(2024, 3, 21, 18, 0), spring);
	check_weekly("Europe/Berlin", wall(2024, 10, 17, 18, 0), fall);
}

static void test_new_york_both_transitions(void)
{
	/* EST -> EDT on 2024-03-10, EDT -> EST on 2024-11-03. */
	const int64_t spring[4] = {utc(2024, 2, 29, 23, 0), utc(2024, 3, 7, 23, 0),
				   utc(2024, 3, 14, 22, 0), utc(2024, 3, 21, 22, 0)};
	const int64_t fall[4] = {utc(2024, 10, 24, 22, 0), utc(2024, 10, 31, 22, 0),
				 utc(2024, 11, 7, 23, 0), utc(2024, 11, 14, 23, 0)};

	check_weekly("America/New_York", wall(2024, 2, 29, 18, 0), spring);
	check_weekly("America/New_York", wall(2024, 10, 24, 18, 0), fall);
}

static void test_sydney_southern_hemisphere(void)
{
	/* AEDT (+11) -> AEST (+10) on 2024-04-07, back on 2024-10-06. */
	const int64_t april[4] = {utc(2024, 3, 28, 7, 0), utc(2024, 4, 4, 7, 0),
				  utc(2024, 4, 11, 8, 0), utc(2024, 4, 18, 8, 0)};
	const int64_t october[4] = {utc(2024, 9, 26, 8, 0), utc(2024, 10, 3, 8, 0),
				    utc(2024, 10, 10, 7, 0), utc(2024, 10, 17, 7, 0)};

	check_weekly("Australia/Sydney", wall(2024, 3, 28, 18, 0), april);
	check_weekly("Australia/Sydney", wall(2024, 9, 26, 18, 0), october);
}

static void test_half_hour_and_45_minutes(void)
{
	/* Kolkata +05:30 all year. */
	const int64_t kolkata[4] = {utc(2024, 3, 21, 12, 30), utc(2024, 3, 28, 12, 30),
				    utc(2024, 4, 4, 12, 30), utc(2024, 4, 11, 12, 30)};
	/* Adelaide ACDT +10:30 -> ACST +09:30 on 2024-04-07. */
	const int64_t adelaide[4] = {utc(2024, 3, 28, 7, 30), utc(2024, 4, 4, 7, 30),
				     utc(2024, 4, 11, 8, 30), utc(2024, 4, 18, 8, 30)};
	/* Kathmandu +05:45. */
	const int64_t kathmandu[4] = {utc(2024, 3, 21, 12, 15), utc(2024, 3, 28, 12, 15),
				      utc(2024, 4, 4, 12, 15), utc(2024, 4, 11, 12, 15)};
	struct session_wall w;
	int off = 0;

	check_weekly("Asia/Kolkata", wall(2024, 3, 21, 18, 0), kolkata);
	check_weekly("Australia/Adelaide", wall(2024, 3, 28, 18, 0), adelaide);
	check_weekly("Asia/Kathmandu", wall(2024, 3, 21, 18, 0), kathmandu);

	/* Display in a viewer's zone. */
	CHECK_OK(recur_to_zone(&w, &off, "Asia/Kathmandu", utc(2024, 3, 21, 23, 0)));
	CHECK_INT_EQ(off, 5 * 3600 + 45 * 60);
	CHECK_INT_EQ(w.date.day, 22);
	CHECK_INT_EQ(w.hour, 4);
	CHECK_INT_EQ(w.minute, 45);
	CHECK_OK(recur_to_zone(&w, &off, "America/New_York", utc(2024, 3, 21, 3, 0)));
	CHECK_INT_EQ(off, -4 * 3600);
	CHECK_INT_EQ(w.date.day, 20);
	CHECK_INT_EQ(w.hour, 23);
	CHECK_OK(recur_to_zone(&w, &off, "UTC", utc(2024, 3, 21, 3, 0)));
	CHECK_INT_EQ(off, 0);
}

static void test_gap_and_overlap(void)
{
	int64_t t = 0;
	struct session_wall w;

	/* Spring forward: 02:30 does not exist; it becomes 03:30 local. */
	w = wall(2024, 3, 31, 2, 30);
	CHECK_OK(recur_resolve_local(&t, "Europe/Berlin", &w));
	CHECK_INT_EQ(t, utc(2024, 3, 31, 1, 30));
	w = wall(2024, 3, 10, 2, 30);
	CHECK_OK(recur_resolve_local(&t, "America/New_York", &w));
	CHECK_INT_EQ(t, utc(2024, 3, 10, 7, 30));
	/* Fall back: 02:30 occurs twice in Berlin; the first (CEST) is taken. */
	w = wall(2024, 10, 27, 2, 30);
	CHECK_OK(recur_resolve_local(&t, "Europe/Berlin", &w));
	CHECK_INT_EQ(t, utc(2024, 10, 27, 0, 30));
	w = wall(2024, 11, 3, 1, 30);
	CHECK_OK(recur_resolve_local(&t, "America/New_York", &w));
	CHECK_INT_EQ(t, utc(2024, 11, 3, 5, 30));
	/* Just outside the overlap: unambiguous. */
	w = wall(2024, 10, 27, 3, 0);
	CHECK_OK(recur_resolve_local(&t, "Europe/Berlin", &w));
	CHECK_INT_EQ(t, utc(2024, 10, 27, 2, 0));
	/* Sydney's gap is in October: 02:30 becomes 03:30 AEDT. */
	w = wall(2024, 10, 6, 2, 30);
	CHECK_OK(recur_resolve_local(&t, "Australia/Sydney", &w));
	CHECK_INT_EQ(t, utc(2024, 10, 5, 16, 30));
}

static void test_monthly_31st_and_count(void)
{
	struct session_schedule s;
	struct recur_occurrence occ[16];
	size_t n = 0;

	make(&s, "Europe/Berlin", wall(2024, 1, 31, 19, 0), SESSION_FREQ_MONTHLY, 0);
	s.end = SESSION_END_COUNT;
	s.count = 5;
	CHECK_OK(recur_expand(occ, 16, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX));
	CHECK_INT_EQ(n, 5);
	if (n == 5) {
		/* February, April, June have no 31st and are not counted. */
		CHECK_INT_EQ(occ[0].start_utc, utc(2024, 1, 31, 18, 0));
		CHECK_INT_EQ(occ[1].start_utc, utc(2024, 3, 31, 17, 0));
		CHECK_INT_EQ(occ[2].start_utc, utc(2024, 5, 31, 17, 0));
		CHECK_INT_EQ(occ[3].start_utc, utc(2024, 7, 31, 17, 0));
		CHECK_INT_EQ(occ[4].start_utc, utc(2024, 8, 31, 17, 0));
	}
	/* Excluding one keeps its place in COUNT (as EXDATE does). */
	{
		struct session_date ex = {2024, 5, 31};

		CHECK_OK(recur_expand(occ, 16, &n, &s, &ex, 1, SESSION_UTC_MIN, SESSION_UTC_MAX));
		CHECK_INT_EQ(n, 4);
		CHECK_INT_EQ(occ[2].local_date.month, 7);
	}
	/* Monthly open-ended: a window years later starts at the right month. */
	s.end = SESSION_END_NONE;
	s.count = 0;
	CHECK_OK(recur_expand(occ, 16, &n, &s, NULL, 0, utc(2030, 1, 1, 0, 0), utc(2030, 4, 1, 0, 0)));
	CHECK_INT_EQ(n, 2);
	CHECK_INT_EQ(occ[0].start_utc, utc(2030, 1, 31, 18, 0));
	CHECK_INT_EQ(occ[1].start_utc, utc(2030, 3, 31, 17, 0));
}

static void test_until_interval_window(void)
{
	struct session_schedule s;
	struct recur_occurrence occ[64];
	size_t n = 0;

	/* Every 2 weeks until 2024-03-14 inclusive: 02-01, 02-15, 02-29, 03-14. */
	make(&s, "America/New_York", wall(2024, 2, 1, 18, 0), SESSION_FREQ_WEEKLY, 2);
	s.end = SESSION_END_UNTIL;
	s.until.year = 2024;
	s.until.month = 3;
	s.until.day = 14;
	CHECK_OK(recur_expand(occ, 64, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX));
	CHECK_INT_EQ(n, 4);
	CHECK_INT_EQ(occ[3].start_utc, utc(2024, 3, 14, 22, 0));
	/* Window [from, to): an occurrence under way at |from| overlaps. */
	CHECK_OK(recur_expand(occ, 64, &n, &s, NULL, 0, utc(2024, 2, 15, 23, 30),
			      utc(2024, 2, 29, 23, 0)));
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(occ[0].start_utc, utc(2024, 2, 15, 23, 0));
	/* Ending exactly at |from| does not overlap; starting at |to| neither. */
	CHECK_OK(recur_expand(occ, 64, &n, &s, NULL, 0, utc(2024, 2, 16, 0, 30),
			      utc(2024, 2, 29, 23, 0)));
	CHECK_INT_EQ(n, 0);
	/* Too many for the caller's array. */
	CHECK_RC(recur_expand(occ, 2, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX),
		 HALQA_ERR_LIMIT);
	CHECK_INT_EQ(n, 2);
	CHECK_RC(recur_expand(occ, 2, &n, &s, NULL, 0, 10, 5), HALQA_ERR_INVALID);
	/* Single occurrence. */
	make(&s, "Asia/Kolkata", wall(2025, 6, 1, 9, 0), SESSION_FREQ_NONE, 0);
	CHECK_OK(recur_expand(occ, 64, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX));
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(occ[0].start_utc, utc(2025, 6, 1, 3, 30));
}

static void test_open_weekly_far_window(void)
{
	struct session_schedule s;
	struct recur_occurrence occ[8];
	size_t n = 0, i;

	/* Open-ended, 4-weekly from a Monday in 2024; look at July 2031 in Berlin (CEST). */
	make(&s, "Europe/Berlin", wall(2024, 1, 1, 18, 0), SESSION_FREQ_WEEKLY, 4);
	CHECK_OK(recur_expand(occ, 8, &n, &s, NULL, 0, utc(2031, 7, 1, 0, 0), utc(2031, 9, 1, 0, 0)));
	CHECK(n >= 2);
	for (i = 0; i < n; i++) {
		int64_t days = (occ[i].start_utc + 2 * 3600) / 86400 -
			       session_days_from_civil(2024, 1, 1);

		CHECK_INT_EQ(days % 28, 0);
		CHECK_INT_EQ((occ[i].start_utc + 2 * 3600) % 86400, 18 * 3600);
	}
	/* Series stop at the end of 2100. */
	CHECK_OK(recur_expand(occ, 8, &n, &s, NULL, 0, utc(2100, 12, 1, 0, 0), SESSION_UTC_MAX));
	CHECK(n >= 1);
	CHECK_INT_EQ(occ[n - 1].local_date.year, 2100);
}

static void test_refusals(void)
{
	struct session_schedule s;
	struct recur_occurrence occ[4];
	struct session_wall w = wall(2024, 5, 1, 18, 0), bad = wall(2024, 2, 30, 18, 0);
	int64_t t = 0;
	size_t n = 7;

	CHECK_RC(recur_zone_known("Mars/Olympus_Mons"), HALQA_ERR_INVALID);
	CHECK_RC(recur_zone_known("../../etc/passwd"), HALQA_ERR_INVALID);
	CHECK_RC(recur_zone_known("/etc/localtime"), HALQA_ERR_INVALID);
	CHECK_RC(recur_zone_known(""), HALQA_ERR_INVALID);
	CHECK_RC(recur_zone_known("Europe/Berlin\n"), HALQA_ERR_INVALID);
	CHECK_OK(recur_zone_known("Europe/Berlin"));
	CHECK_OK(recur_zone_known("UTC"));
	CHECK_RC(recur_resolve_local(&t, "Nowhere/Town", &w), HALQA_ERR_INVALID);
	CHECK_RC(recur_resolve_local(&t, "Europe/Berlin", &bad), HALQA_ERR_INVALID);
	make(&s, "Europe/Berlin", w, SESSION_FREQ_NONE, 0);
	CHECK_OK(recur_check(&s));
	s.start_utc += 3600; /* an instant that disagrees with the wall time */
	CHECK_RC(recur_check(&s), HALQA_ERR_INVALID);
	CHECK_RC(recur_expand(occ, 4, &n, &s, NULL, 0, SESSION_UTC_MIN, SESSION_UTC_MAX),
		 HALQA_ERR_INVALID);
	CHECK_INT_EQ(n, 0);
	make(&s, "Europe/Berlin", w, SESSION_FREQ_WEEKLY, 3);
	CHECK_RC(recur_check(&s), HALQA_ERR_INVALID);
	make(&s, "Europe/Berlin", w, SESSION_FREQ_WEEKLY, 0);
	CHECK_RC(recur_check(&s), HALQA_ERR_INVALID);
	strcpy(s.zone, "Atlantis/Capital");
	CHECK_RC(recur_check(&s), HALQA_ERR_INVALID);
	CHECK_RC(recur_to_zone(&w, NULL, "Europe/Berlin", 12), HALQA_ERR_INVALID);
}

int main(void)
{
	RUN(test_berlin_both_transitions);
	RUN(test_new_york_both_transitions);
	RUN(test_sydney_southern_hemisphere);
	RUN(test_half_hour_and_45_minutes);
	RUN(test_gap_and_overlap);
	RUN(test_monthly_31st_and_count);
	RUN(test_until_interval_window);
	RUN(test_open_weekly_far_window);
	RUN(test_refusals);
	return harness_report();
}
