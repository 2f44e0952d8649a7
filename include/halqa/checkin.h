/*
 * checkin.h: the state machine of a check-in round (issue 7), apart from
 * the terminal and the network so it can be tested on its own.
 *
 * A facilitator opens a round (a SESSION_KIND_CHECKIN OPEN step, with a
 * question and a turn timeout), then invites each member in turn (a TURN
 * step naming the member), in the circle's member order. A member answers
 * with an ordinary chat message tagged with the round (session_chat
 * in_round + round_id) or passes (a PASS step). The facilitator's client,
 * the round's driver, moves the turn on after an answer or a pass, skips a
 * member whose turn timed out (an offline member), and closes the round
 * (END) when every member has answered, passed or been skipped, or when the
 * facilitator ends it early. Every client runs the same machine on the
 * steps it receives, so each one can show whose turn it is.
 *
 * Trust: steps come from other members and may be forged by any of them
 * (MLS authenticates the sender, not their role). OPEN and END are taken
 * only from a facilitator of the circle's roster (roster_may_schedule),
 * TURN only from the facilitator who opened the round, PASS only from its
 * sender about itself; a refused step returns HALQA_ERR_DENIED and changes
 * nothing. Steps for another round return HALQA_ERR_NOT_FOUND (stale or
 * replayed), also without change.
 *
 * The machine never sends anything: each call fills a struct checkin_out
 * with the steps the caller must send, in order, and what to tell the
 * user. Times are Unix milliseconds supplied by the caller.
 */
#ifndef HALQA_CHECKIN_H
#define HALQA_CHECKIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/roster.h"
#include "halqa/session.h"

#define CHECKIN_KEY_LEN      SESSION_MEMBER_KEY_LEN
#define CHECKIN_ROUND_ID_LEN SESSION_ROUND_ID_LEN
/* Most members a round invites (a circle larger than this cannot take turns). */
#define CHECKIN_MAX_MEMBERS 1000
/* The turn timeout when the facilitator sets none, in seconds. */
#define CHECKIN_DEFAULT_TIMEOUT_S 120
/* Most steps one call can ask to send: a PASS, then a TURN or an END. */
#define CHECKIN_MAX_OUT 2

enum checkin_status {
	CHECKIN_WAITING = 0,
	CHECKIN_ANSWERED = 1,
	CHECKIN_PASSED = 2,
	CHECKIN_SKIPPED = 3, /* the turn timed out */
};

/* What a call asks of the caller. */
struct checkin_out {
	struct session_checkin steps[CHECKIN_MAX_OUT]; /* to send, in this order */
	size_t num_steps;
	bool skipped; /* a turn timed out: |skipped_key| was skipped */
	uint8_t skipped_key[CHECKIN_KEY_LEN];
};

struct checkin {
	bool active;
	uint8_t round_id[CHECKIN_ROUND_ID_LEN];
	uint8_t opener[CHECKIN_KEY_LEN];
	char question[SESSION_QUESTION_MAX + 1];
	uint16_t timeout_s; /* 0: turns never time out */
	bool have_turn;
	uint8_t turn[CHECKIN_KEY_LEN];
	int64_t turn_started_ms;
	struct roster roster; /* the circle's facilitators, to check steps */

	/* The driver's side: only when we opened the round. */
	bool driving;
	uint8_t self[CHECKIN_KEY_LEN];
	uint8_t (*members)[CHECKIN_KEY_LEN]; /* malloc'd, in turn order */
	uint8_t *status;                     /* enum checkin_status per member */
	size_t num_members;
};

/* checkin_init sets |c| to no round; checkin_cleanup frees; safe in any state. */
void checkin_init(struct checkin *c);
void checkin_cleanup(struct checkin *c);

/* checkin_set_roster records the circle's current facilitators (after a roster change). */
void checkin_set_roster(struct checkin *c, const struct roster *r);

/*
 * checkin_open opens a round driven by us (|self|, who must be in the
 * roster) over |members| (|num_members| identity keys in turn order,
 * copied; |self| may be among them) with id |round_id|, |question| ("" for
 * none) and |timeout_s| (0: none). |out| gets OPEN and the first TURN. Any
 * round in progress is replaced. HALQA_ERR_DENIED if we are not a
 * facilitator, HALQA_ERR_INVALID for no members, a duplicate member, a
 * question that is too long or not clean UTF-8, a timeout above
 * SESSION_TURN_TIMEOUT_MAX; HALQA_ERR_TOO_LARGE above CHECKIN_MAX_MEMBERS;
 * HALQA_ERR_NOMEM. On error |c| is unchanged.
 */
HALQA_MUST_CHECK int
checkin_open(struct checkin *c, struct checkin_out *out, const uint8_t self[CHECKIN_KEY_LEN],
             const uint8_t round_id[CHECKIN_ROUND_ID_LEN], const char *question, uint16_t timeout_s,
             const uint8_t (*members)[CHECKIN_KEY_LEN], size_t num_members, int64_t now_ms);

/*
 * checkin_on_step applies a step |step| received from |sender|. A driver
 * may get steps to send in |out| (the next TURN or the END after a PASS).
 * HALQA_ERR_DENIED for a step its sender may not send (see the top),
 * HALQA_ERR_NOT_FOUND for a step of a round that is not the current one,
 * HALQA_ERR_INVALID for an unknown step; |c| is then unchanged.
 * A repeated step changes nothing and returns HALQA_OK.
 */
HALQA_MUST_CHECK int checkin_on_step(struct checkin *c, struct checkin_out *out,
                                     const uint8_t sender[CHECKIN_KEY_LEN],
                                     const struct session_checkin *step, int64_t now_ms);

/*
 * checkin_on_answer records that |sender| answered round |round_id| (a
 * chat message tagged with it, ours included). A driver moves the turn on
 * if it was |sender|'s (|out| gets the next TURN or the END).
 * HALQA_ERR_NOT_FOUND if |round_id| is not the current round.
 */
HALQA_MUST_CHECK int checkin_on_answer(struct checkin *c, struct checkin_out *out,
                                       const uint8_t sender[CHECKIN_KEY_LEN],
                                       const uint8_t round_id[CHECKIN_ROUND_ID_LEN],
                                       int64_t now_ms);

/*
 * checkin_pass is our /pass: |out| gets a PASS step (then, if we drive,
 * the next TURN or the END), already applied here. HALQA_ERR_NOT_FOUND if
 * no round is open, HALQA_ERR_EXISTS if we already answered or passed.
 */
HALQA_MUST_CHECK int checkin_pass(struct checkin *c, struct checkin_out *out,
                                  const uint8_t self[CHECKIN_KEY_LEN], int64_t now_ms);

/*
 * checkin_end is our /endround: |out| gets END and the round is closed.
 * HALQA_ERR_NOT_FOUND if no round is open, HALQA_ERR_DENIED if we are not
 * a facilitator.
 */
HALQA_MUST_CHECK int checkin_end(struct checkin *c, struct checkin_out *out,
                                 const uint8_t self[CHECKIN_KEY_LEN]);

/*
 * checkin_tick lets a driver skip a member whose turn has lasted the
 * timeout: |out| says who was skipped and gets the next TURN or the END.
 * Does nothing if we do not drive, no turn is running, or there is no
 * timeout. Returns HALQA_OK.
 */
HALQA_MUST_CHECK int checkin_tick(struct checkin *c, struct checkin_out *out, int64_t now_ms);

/* checkin_turn copies whose turn it is to |out|; HALQA_ERR_NOT_FOUND if nobody's. */
HALQA_MUST_CHECK int checkin_turn(const struct checkin *c, uint8_t out[CHECKIN_KEY_LEN]);

/* checkin_is_turn returns true if a round is open and it is |key|'s turn. */
bool checkin_is_turn(const struct checkin *c, const uint8_t key[CHECKIN_KEY_LEN]);

/*
 * checkin_member_status gives a driver the status of |key| in the round;
 * HALQA_ERR_NOT_FOUND if we do not drive or |key| is not invited.
 */
HALQA_MUST_CHECK int checkin_member_status(const struct checkin *c,
                                           const uint8_t key[CHECKIN_KEY_LEN], int *out_status);

#endif
