/*
 * agenda.h: what is due now: reminders before a session's occurrences and
 * the announcements of their start and end.
 *
 * Used by `halqa agenda --remind` (from cron or a systemd user timer) and
 * by the interactive mode's timer. An item is due once: after it has been
 * shown, agenda_mark_shown records it (session_shown, in the profile's
 * store, shared by every way of showing it), so cron and a running chat
 * never both show the same reminder.
 *
 * Rules, with L the profile's lead time (setting "sessions.remind_minutes",
 * default 15, 0 turns reminders off):
 * - AGENDA_REMIND: start - L <= now < start, and our answer for that
 *   occurrence (or else the series) is not "no";
 * - AGENDA_START: start <= now < end;
 * - AGENDA_END: end <= now < end + AGENDA_END_GRACE_S;
 * cancelled occurrences and series are never due. All instants are UTC
 * seconds.
 */
#ifndef HALQA_AGENDA_H
#define HALQA_AGENDA_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/sessions.h"
#include "halqa/store.h"

/* An end is still announced this long after it (a chat opened just after). */
#define AGENDA_END_GRACE_S (15 * 60)
/* At most this many items at once. */
#define AGENDA_MAX 256

enum agenda_kind {
	AGENDA_REMIND = 1,
	AGENDA_START = 2,
	AGENDA_END = 3,
};

struct agenda_item {
	int kind; /* enum agenda_kind */
	struct sessions_occurrence occ;
};

/*
 * agenda_remind_minutes reads the lead time into |*out| (default 15 when
 * unset). HALQA_ERR_MALFORMED if the setting is not 0..SESSIONS_REMIND_MAX.
 */
HALQA_MUST_CHECK int agenda_remind_minutes(struct store *s, unsigned *out);

/*
 * agenda_set_remind_minutes stores the lead time; HALQA_ERR_ARG above
 * SESSIONS_REMIND_MAX.
 */
HALQA_MUST_CHECK int agenda_set_remind_minutes(struct store *s, unsigned minutes);

/*
 * agenda_due lists the items due at |now| for the member |me| (our
 * identity key), not shown before, in order of time, in a malloc'd array
 * |*out| of |*num_out| (free with free(); NULL when none). At most
 * AGENDA_MAX (HALQA_ERR_LIMIT beyond).
 */
HALQA_MUST_CHECK int agenda_due(struct store *s, const uint8_t me[ROSTER_KEY_LEN], int64_t now,
				struct agenda_item **out, size_t *num_out);

/* agenda_mark_shown records |item| as shown at |now| so it is not due again. */
HALQA_MUST_CHECK int agenda_mark_shown(struct store *s, const struct agenda_item *item,
				       int64_t now);

#endif
