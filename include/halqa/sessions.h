/*
 * sessions.h: a profile's circle sessions: what facilitators scheduled,
 * edited and cancelled, who answered what, and the session-only rule.
 *
 * The state lives in tables of this module's own in the profile's
 * encrypted store (store_db), versioned by the setting "sessions.schema":
 *     sessions           one row per session: circle, edit sequence, every
 *                        schedule field, cancelled flag, creator, last editor
 *     session_cancelled  cancelled occurrences (local dates in the session's zone)
 *     session_rsvps      the latest answer of each member per occurrence or
 *                        for the series
 *     session_shown      reminders and start/end announcements already shown
 *     session_cleared    session-only occurrences whose messages were cleared
 *     session_members    the members a circle had when its sessions were last
 *                        sent or received (to tell who joined since)
 *
 * Payloads arrive from other members (session.h decoded them strictly);
 * sessions_apply adds the rules that need state: schedules, edits and
 * cancellations only from a facilitator of that circle, edits only with a
 * higher sequence, a time zone the tz database knows (recur_check), an
 * occurrence date that is an occurrence. A refused payload returns an
 * error and changes nothing.
 *
 * Dates of occurrences are local dates in the session's own zone (that is
 * how cancel and RSVP payloads name them); instants are UTC seconds, but
 * message times (sent_at) are Unix milliseconds as in store.h.
 */
#ifndef HALQA_SESSIONS_H
#define HALQA_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/roster.h"
#include "halqa/session.h"
#include "halqa/store.h"

#define SESSIONS_SCHEMA_VERSION 2
#define SESSIONS_SETTING_SCHEMA "sessions.schema"
/* Minutes before an occurrence that its reminder is due (0..SESSIONS_REMIND_MAX). */
#define SESSIONS_SETTING_REMIND "sessions.remind_minutes"
#define SESSIONS_REMIND_DEFAULT 15
#define SESSIONS_REMIND_MAX 10080
/* At most this many cancelled occurrences per session (what ics_export takes). */
#define SESSIONS_CANCELLED_MAX SESSION_COUNT_MAX
/* At most this many sessions in one listing. */
#define SESSIONS_LIST_MAX 1000

/*
 * The local notice added to a circle's history when a session-only
 * occurrence's messages are deleted: sender all zero bytes, this flag in
 * store_message.flags, sent_at the occurrence's end.
 */
#define SESSIONS_NOTICE_TEXT "the session's messages were cleared"
#define SESSIONS_MSG_NOTICE 0x100u

/* A stored session. */
struct sessions_entry {
	struct session_schedule sched; /* sequence = the latest applied */
	uint8_t circle_id[STORE_ID_LEN];
	uint8_t creator[ROSTER_KEY_LEN];
	uint8_t editor[ROSTER_KEY_LEN]; /* the facilitator of the last schedule/edit/cancel */
	int cancelled;                  /* the whole series */
	int64_t updated_at;             /* sent_at (ms) of the last change */
	struct session_date cancelled_dates[SESSIONS_CANCELLED_MAX]; /* ascending */
	size_t num_cancelled;
};

/* A member's answer. */
struct sessions_rsvp {
	uint8_t member[ROSTER_KEY_LEN];
	int whole_series;
	struct session_date occurrence; /* if !whole_series */
	uint8_t answer;                 /* enum session_answer */
	char note[SESSION_NOTE_MAX + 1];
	int64_t sent_at; /* ms, the member's clock */
};

/* One occurrence in a listing. */
struct sessions_occurrence {
	uint8_t session_id[SESSION_ID_LEN];
	uint8_t circle_id[STORE_ID_LEN];
	char title[SESSION_TITLE_MAX + 1];
	char zone[SESSION_ZONE_MAX + 1];
	int64_t start_utc; /* seconds */
	int64_t end_utc;
	struct session_date local_date; /* in the session's zone */
	int session_only;
	uint8_t my_answer; /* 0: none, else enum session_answer (occurrence beats series) */
};

/*
 * sessions_init creates the tables if absent and records the schema
 * version. HALQA_ERR_UNSUPPORTED if the profile holds a newer version (the
 * store is left untouched), the store's errors otherwise. Every other
 * function calls it first, so callers need not.
 */
HALQA_MUST_CHECK int sessions_init(struct store *s);

/*
 * sessions_apply applies |msg|, sent at |sent_at| (ms, sender's clock) by
 * the member |sender| of circle |circle_id| whose roster in force is
 * |roster|. SCHEDULE, EDIT and CANCEL need roster_may_schedule
 * (HALQA_ERR_DENIED); EDIT, CANCEL and RSVP an existing session of that
 * circle (HALQA_ERR_NOT_FOUND: an id of another circle is not found);
 * SCHEDULE an id not taken by another circle's session (HALQA_ERR_EXISTS;
 * a schedule again for a session of this circle is a no-op, HALQA_OK: that
 * is how a facilitator brings newcomers up to date); EDIT a sequence above the stored
 * one and CANCEL one at least as high (HALQA_ERR_STALE); a schedule or edit
 * recur_check accepts, a cancelled or answered occurrence that is one, a
 * series not cancelled (HALQA_ERR_INVALID); HALQA_ERR_LIMIT past
 * SESSIONS_CANCELLED_MAX cancellations. An RSVP older (by sent_at) than
 * the member's stored answer for the same scope is ignored (HALQA_OK).
 * CHAT and CHECKIN are not this module's: HALQA_ERR_ARG. On any error
 * nothing is stored. Runs in a savepoint, so it joins a caller's
 * transaction.
 */
HALQA_MUST_CHECK int sessions_apply(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
				    const uint8_t sender[ROSTER_KEY_LEN], const struct roster *roster,
				    int64_t sent_at, const struct session_message *msg);

/* sessions_get fills |*out| with session |id|; HALQA_ERR_NOT_FOUND if unknown. */
HALQA_MUST_CHECK int sessions_get(struct store *s, const uint8_t id[SESSION_ID_LEN],
				  struct sessions_entry *out);

/*
 * sessions_resolve finds the session whose id in hex starts with |prefix|
 * (1..32 hex digits, case-insensitive). HALQA_ERR_NOT_FOUND if none,
 * HALQA_ERR_EXISTS if several match (a longer prefix is needed),
 * HALQA_ERR_ARG for a prefix that is not hex.
 */
HALQA_MUST_CHECK int sessions_resolve(struct store *s, const char *prefix,
				      uint8_t out[SESSION_ID_LEN]);

/*
 * sessions_list returns the sessions of circle |circle_id| (NULL: all), by
 * start, in a malloc'd array |*out| of |*num_out| (free with free(); NULL
 * when empty). At most SESSIONS_LIST_MAX.
 */
HALQA_MUST_CHECK int sessions_list(struct store *s, const uint8_t *circle_id,
				   struct sessions_entry **out, size_t *num_out);

/*
 * sessions_rsvps returns the answers stored for session |id| (series
 * answers first, then by occurrence) in a malloc'd array (free with free()).
 */
HALQA_MUST_CHECK int sessions_rsvps(struct store *s, const uint8_t id[SESSION_ID_LEN],
				    struct sessions_rsvp **out, size_t *num_out);

/*
 * sessions_answer writes |member|'s answer for the occurrence on |date| of
 * session |id| to |*out|: the answer for that occurrence, else the one for
 * the series, else 0.
 */
HALQA_MUST_CHECK int sessions_answer(struct store *s, const uint8_t id[SESSION_ID_LEN],
				     const uint8_t member[ROSTER_KEY_LEN],
				     const struct session_date *date, uint8_t *out);

/*
 * sessions_upcoming lists the occurrences overlapping [from, to) (UTC
 * seconds) of the sessions of |circle_id| (NULL: all circles), cancelled
 * ones left out, by start, with |me|'s answer, in a malloc'd array (free
 * with free()). HALQA_ERR_LIMIT past |max| occurrences (at most 10000).
 */
HALQA_MUST_CHECK int sessions_upcoming(struct store *s, const uint8_t *circle_id,
				       const uint8_t me[ROSTER_KEY_LEN], int64_t from, int64_t to,
				       size_t max, struct sessions_occurrence **out,
				       size_t *num_out);

/*
 * sessions_occurrence_at finds the occurrence of session |e| that starts on
 * local date |date|; HALQA_ERR_NOT_FOUND if that date has none (cancelled
 * ones count: they keep their place).
 */
HALQA_MUST_CHECK int sessions_occurrence_at(const struct sessions_entry *e,
					    const struct session_date *date,
					    struct sessions_occurrence *out);

/*
 * Session-only retention. A message of a circle whose sent_at falls in
 * [start, end) of an occurrence of a session-only session of that circle is
 * session-only; once the occurrence has ended it is deleted
 * (store_message_delete_range: secure delete, index optimized) and a
 * notice added.
 *
 * sessions_retention_run deletes the messages of every session-only
 * occurrence that ended by |now_ms| and was not cleared before; the
 * number of occurrences whose messages were deleted now goes to
 * |*out_cleared| (may be NULL).
 * Run it on every command, sync and in chat on a timer.
 */
HALQA_MUST_CHECK int sessions_retention_run(struct store *s, int64_t now_ms,
					    size_t *out_cleared);

enum sessions_msg_state {
	SESSIONS_MSG_NORMAL = 0,       /* not in a session-only occurrence */
	SESSIONS_MSG_SESSION_ONLY = 1, /* in one still running: cleared when it ends */
	SESSIONS_MSG_DELETED = 2,      /* in one already over: deleted now */
};

/*
 * sessions_message_arrived applies the rule to a message just stored in
 * circle |circle_id| with |sent_at| (ms) at |now_ms|: a message of an
 * occurrence that is already over (a member who was offline syncing late)
 * is deleted at once with the rest of that occurrence. |*out_state| says
 * which case held (enum sessions_msg_state).
 */
HALQA_MUST_CHECK int sessions_message_arrived(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
					      int64_t sent_at, int64_t now_ms, int *out_state);

/*
 * Newcomers. A member who joins a circle never saw the schedules sent
 * before; a facilitator's client sends the circle's sessions again when
 * the members differ from the set recorded here.
 *
 * sessions_members_newcomers counts in |*out_num| the |members| not in the
 * set recorded for |circle_id| (all of them if none is recorded).
 * sessions_members_record replaces the recorded set by |members|.
 */
HALQA_MUST_CHECK int sessions_members_newcomers(struct store *s,
						const uint8_t circle_id[STORE_ID_LEN],
						const uint8_t (*members)[ROSTER_KEY_LEN],
						size_t num_members, size_t *out_num);
HALQA_MUST_CHECK int sessions_members_record(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
					     const uint8_t (*members)[ROSTER_KEY_LEN],
					     size_t num_members);

/* sessions_id_hex writes |id| as 32 lowercase hex digits and a NUL. */
void sessions_id_hex(char out[2 * SESSION_ID_LEN + 1], const uint8_t id[SESSION_ID_LEN]);

#endif
