/*
 * recur.h: a session's occurrences, expanded in its own IANA time zone.
 *
 * A weekly session at 18:00 Europe/Berlin stays at 18:00 Berlin time
 * across daylight-saving changes: occurrences are computed as local wall
 * times in the session's zone, then converted to UTC with the system tz
 * database (through libical, which reads /usr/share/zoneinfo on Debian).
 *
 * libical is loaded on first use (ical_lib.h): every function below that
 * needs a zone's rules returns HALQA_ERR_UNSUPPORTED if it cannot be.
 *
 * Rules (docs/SESSIONS.md):
 * - weekly: every interval_weeks weeks from the start date;
 * - monthly: the start's day of month; a month without that day (the 31st
 *   in April) has no occurrence and does not count toward COUNT, as
 *   RFC 5545 section 3.3.10 requires for invalid dates;
 * - a local time that does not exist (the spring-forward gap) is moved
 *   forward by the length of the gap (02:30 becomes 03:30 in Berlin);
 * - a local time that occurs twice (the fall-back overlap) means the first,
 *   earlier instant (the one still on daylight time);
 * - UNTIL is an inclusive local date; COUNT counts occurrences before
 *   exclusions (a cancelled occurrence still uses its place), as RFC 5545
 *   does with EXDATE;
 * - no occurrence after 2100-12-31 is produced.
 */
#ifndef HALQA_RECUR_H
#define HALQA_RECUR_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/session.h"

struct recur_occurrence {
	int64_t start_utc;
	int64_t end_utc;
	struct session_date local_date; /* its date in the session's zone: its name for cancel/RSVP */
};

/*
 * recur_zone_known returns HALQA_OK if |zone| names a zone of the system tz
 * database, HALQA_ERR_INVALID otherwise (also for names with characters
 * outside the tz database's set, so no path is ever built from them).
 */
HALQA_MUST_CHECK int recur_zone_known(const char *zone);

/*
 * recur_resolve_local converts the wall time |*wall| in |zone| to a UTC
 * instant in |*out_utc|, applying the gap and overlap rules above.
 * HALQA_ERR_INVALID for an unknown zone or an invalid wall time.
 */
HALQA_MUST_CHECK int recur_resolve_local(int64_t *out_utc, const char *zone,
					 const struct session_wall *wall);

/*
 * recur_to_zone converts |utc| to the wall time in |zone| (for display in
 * the viewer's zone), with the UTC offset in seconds in |*out_offset_s|
 * (may be NULL). HALQA_ERR_INVALID for an unknown zone or an instant
 * outside 2000..2100.
 */
HALQA_MUST_CHECK int recur_to_zone(struct session_wall *out, int *out_offset_s, const char *zone,
				   int64_t utc);

/*
 * recur_check returns HALQA_OK if |s| can be expanded: its zone is known and
 * its start_utc is its local wall time resolved in that zone. A session
 * that fails this is refused (HALQA_ERR_INVALID) before it is stored.
 */
HALQA_MUST_CHECK int recur_check(const struct session_schedule *s);

/*
 * recur_check_stored returns HALQA_OK if |s| is well formed without looking
 * at time zone data (so without loading libical): its shape, duration,
 * wall time, zone name syntax and start in range; else HALQA_ERR_INVALID.
 * For schedules read back from our own store, which recur_check accepted
 * before they were stored; recur_expand still runs recur_check.
 */
HALQA_MUST_CHECK int recur_check_stored(const struct session_schedule *s);

/*
 * recur_expand writes to |out| (room for |max_out|) the occurrences of |s|
 * that overlap [from, to) in UTC, in order, skipping those whose local date
 * is in |excluded| (|num_excluded| dates, any order). |*num_out| is the
 * number written. HALQA_ERR_LIMIT if more than |max_out| overlap (the first
 * |max_out| are written); HALQA_ERR_INVALID as recur_check, or from > to.
 */
HALQA_MUST_CHECK int recur_expand(struct recur_occurrence *out, size_t max_out, size_t *num_out,
				  const struct session_schedule *s,
				  const struct session_date *excluded, size_t num_excluded,
				  int64_t from, int64_t to);

#endif
