/*
 * sessions_event.h: the circle engine's event callback for sessions.
 *
 * Every command that syncs, and the interactive mode, registers
 * sessions_event_handle (with a struct sessions_event as its argument)
 * through engine_set_event_cb:
 * - ENGINE_EVENT_PAYLOAD with a schedule, edit, cancel or RSVP: applied
 *   with sessions_apply under the circle's roster (the members'
 *   facilitator flags from engine_circle_members); a refusal is returned
 *   to the engine, which counts the message as refused. A check-in OPEN,
 *   TURN or END from a non-facilitator is refused the same way; other
 *   check-in steps pass. An OPEN's round and question are logged
 *   (checkin_log_round).
 * - ENGINE_EVENT_MESSAGE: the session-only rule (sessions_message_arrived);
 *   a message tagged as a check-in answer is logged (checkin_log_answer).
 *   The engine has no code to drop a message before it is stored, so a
 *   message of an occurrence that is already over is deleted right after
 *   it was stored, in the same sync.
 * Every event then goes on to |next| (if set), except a message that was
 * just deleted, so the interactive mode can show what is left. A refused
 * payload goes on too, with |verdict| set to the refusal, so the
 * interactive mode can say that a forged step was refused; the refusal is
 * returned to the engine whatever |next| returns.
 *
 * The engine does not hand our own messages back: a client that sends a
 * check-in OPEN or an answer itself records it with
 * sessions_event_checkin_sent, the same way as one that arrives.
 */
#ifndef HALQA_SESSIONS_EVENT_H
#define HALQA_SESSIONS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/engine.h"
#include "halqa/sessions.h"

struct sessions_event {
	struct store *store;   /* borrowed */
	struct engine *engine; /* borrowed */
	engine_clock_fn clock; /* NULL: the real clock (ms) */
	void *clock_arg;
	engine_event_cb next; /* NULL: none */
	void *next_arg;
	/* For |next|, during the call: HALQA_OK, or the refusal of the payload it is handed. */
	int verdict;
	/* Counters for the caller's summary. */
	size_t applied;  /* session payloads stored */
	size_t refused;  /* session payloads refused */
	size_t deleted;  /* messages deleted on arrival (their occurrence was over) */
};

/*
 * sessions_event_attach zeroes |*se|, fills its store and engine, and
 * registers sessions_event_handle with it as |engine|'s event callback.
 * Set |se->next| (and |se->clock|) afterwards to chain a callback of your
 * own. After each sync, run sessions_retention_run.
 */
void sessions_event_attach(struct sessions_event *se, struct store *store, struct engine *engine);

/*
 * sessions_event_handle is an engine_event_cb; |arg| is a struct
 * sessions_event. Returns the refusal's error for a refused session
 * payload, HALQA_OK otherwise (or what |next| returns).
 */
int sessions_event_handle(void *arg, const struct engine_event *ev);

/*
 * sessions_event_checkin_sent records a check-in message we sent ourselves
 * to circle |circle_id| (|self| is our identity key) as
 * sessions_event_handle records one from another member: for a
 * SESSION_KIND_CHECKIN step, the roster must name |self| as a facilitator
 * (HALQA_ERR_DENIED otherwise, HALQA_ERR_INVALID for a circle without
 * facilitators) for an OPEN, TURN or END, and an OPEN's round and question
 * are logged with |sent_at| (ms) as its time; a PASS needs nothing. For a
 * SESSION_KIND_CHAT message tagged with a round, message |msg_id| (the id
 * engine_send gave it) is logged as an answer. HALQA_ERR_ARG for anything
 * else; the store's error if logging failed (the message is sent all the
 * same: it only shows ungrouped).
 */
HALQA_MUST_CHECK int sessions_event_checkin_sent(struct sessions_event *se,
						 const uint8_t circle_id[STORE_ID_LEN],
						 const uint8_t self[SESSION_MEMBER_KEY_LEN],
						 const uint8_t msg_id[STORE_ID_LEN], int64_t sent_at,
						 const struct session_message *m);

/*
 * sessions_event_roster builds in |*out| the roster of circle |circle_id|
 * from the engine's members list. HALQA_ERR_NOT_FOUND for an unknown
 * circle; HALQA_ERR_INVALID if no member is a facilitator.
 */
HALQA_MUST_CHECK int sessions_event_roster(struct engine *e, struct store *s,
					   const uint8_t circle_id[STORE_ID_LEN],
					   struct roster *out);

/*
 * sessions_event_record_members records the current members of circle
 * |circle_id| (sessions_members_record): those who have its sessions now.
 */
HALQA_MUST_CHECK int sessions_event_record_members(struct engine *e, struct store *s,
						   const uint8_t circle_id[STORE_ID_LEN]);

/*
 * sessions_event_catch_up brings members who joined after the sessions of
 * circle |circle_id| were sent up to date: if we facilitate the circle and
 * its members are not all in the set sessions_members_record recorded, it
 * sends again every session still live at |now_ms| (the schedule as it
 * stands, edits included, then its cancelled occurrences; a no-op for
 * members who have them) and records the members. The number of sessions
 * sent goes to |*out_sent| (may be NULL). Nothing is sent for a circle we
 * left or were removed from, or one without sessions.
 */
HALQA_MUST_CHECK int sessions_event_catch_up(struct sessions_event *se,
					     const uint8_t circle_id[STORE_ID_LEN], int64_t now_ms,
					     size_t *out_sent);

#endif
