/*
 * ics.h: iCalendar (RFC 5545) export of circle sessions, through libical.
 *
 * One VCALENDAR holds one VEVENT per session and one VTIMEZONE per zone
 * used (built by libical from the system tz database, its TZID set to the
 * plain IANA name). The VEVENT's UID is derived from the session id
 * (hex@halqa.invalid), so it is stable across edits and a calendar that
 * imports the file again updates the event; SEQUENCE is the session's edit
 * sequence. Nothing beyond title and times goes in unless asked: the agenda
 * becomes DESCRIPTION only with |with_agenda|.
 */
#ifndef HALQA_ICS_H
#define HALQA_ICS_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/session.h"

/* "<32 hex digits>@halqa.invalid" and its NUL. */
#define ICS_UID_LEN (2 * SESSION_ID_LEN + sizeof "@halqa.invalid")
#define ICS_REMINDER_MAX 10080 /* minutes: one week */
#define ICS_EVENTS_MAX 1000

struct ics_event {
	const struct session_schedule *session;
	const struct session_date *cancelled; /* local dates of cancelled occurrences: EXDATE */
	size_t num_cancelled;                 /* at most SESSION_COUNT_MAX */
	int series_cancelled;                 /* 1: STATUS:CANCELLED */
};

struct ics_options {
	int with_agenda;       /* 1: the agenda goes in DESCRIPTION */
	unsigned reminder_min; /* VALARM this many minutes before; 0: no VALARM */
	int64_t dtstamp_utc;   /* DTSTAMP (RFC 5545 requires it): when the file is made */
};

/* ics_uid writes the UID of the session |id| into |out|. */
void ics_uid(char out[ICS_UID_LEN], const uint8_t id[SESSION_ID_LEN]);

/*
 * ics_export writes an iCalendar text for |events| (|num_events|, 1..1000) to
 * |*out| (NUL-terminated, free with free()), its length without the NUL in
 * |*out_len|. Lines end in CRLF as RFC 5545 requires. HALQA_ERR_INVALID for a
 * session recur_check refuses, an invalid text or cancelled date, or a
 * reminder above a week; HALQA_ERR_NOMEM. On error the outputs are NULL, 0.
 */
HALQA_MUST_CHECK int ics_export(char **out, size_t *out_len, const struct ics_event *events,
				size_t num_events, const struct ics_options *opts);

#endif
