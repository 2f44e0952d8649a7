/*
 * checkin_log.h: which circle messages answered which check-in round, so
 * `halqa read` can show the answers grouped under the round's question.
 *
 * An answer travels as an ordinary chat message tagged with its round
 * (session_chat in_round + round_id), and the store keeps only the text;
 * the tag is kept here, in tables of this module's own in the profile's
 * encrypted store (store_db), versioned by the setting "checkin.schema":
 *     checkin_rounds   circle, round id, the facilitator who opened it,
 *                      the question, when it was opened
 *     checkin_answers  circle, message id, round id
 * Rows are filled as payloads arrive (sessions_event.c) and by the client
 * that sends a round's OPEN or an answer itself (the engine does not hand
 * our own messages back). They hold no message text.
 *
 * Trust: a round is logged only after the caller checked that its opener
 * is a facilitator (roster_may_schedule); the first OPEN of a round id in
 * a circle wins, a repeat changes nothing. An answer's tag is its sender's
 * own claim about its own message and is kept per circle, so it can group
 * only that member's message, never another's. Question text is another
 * member's: the caller sanitizes it before showing it.
 */
#ifndef HALQA_CHECKIN_LOG_H
#define HALQA_CHECKIN_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/session.h"
#include "halqa/store.h"

#define CHECKIN_LOG_SCHEMA_VERSION "1"
#define CHECKIN_LOG_SETTING_SCHEMA "checkin.schema"

/* A logged round. */
struct checkin_log_round {
	uint8_t round_id[SESSION_ROUND_ID_LEN];
	bool known;                               /* its OPEN was logged */
	uint8_t opener[SESSION_MEMBER_KEY_LEN];   /* if known */
	char question[SESSION_QUESTION_MAX + 1];  /* if known; "" for none */
	int64_t opened_at;                        /* ms, the opener's clock; if known */
};

/*
 * checkin_log_init creates the tables if absent. HALQA_ERR_UNSUPPORTED if
 * the profile holds a newer version (nothing touched). Every other call
 * runs it first.
 */
HALQA_MUST_CHECK int checkin_log_init(struct store *s);

/*
 * checkin_log_round records that |opener| (a facilitator: the caller
 * checked) opened round |round_id| in circle |circle_id| with |question|
 * (valid UTF-8, at most SESSION_QUESTION_MAX bytes: HALQA_ERR_INVALID
 * otherwise) at |opened_at| (ms). A round already logged is kept as it was
 * (HALQA_OK). Runs in a savepoint, so it joins a caller's transaction.
 */
HALQA_MUST_CHECK int checkin_log_round(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
				       const uint8_t round_id[SESSION_ROUND_ID_LEN],
				       const uint8_t opener[SESSION_MEMBER_KEY_LEN],
				       const char *question, int64_t opened_at);

/*
 * checkin_log_answer records that message |msg_id| of circle |circle_id|
 * answers round |round_id|. A message already tagged keeps its first tag.
 */
HALQA_MUST_CHECK int checkin_log_answer(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
					const uint8_t msg_id[STORE_ID_LEN],
					const uint8_t round_id[SESSION_ROUND_ID_LEN]);

/*
 * checkin_log_get fills |*out| with the round message |msg_id| of circle
 * |circle_id| answers (|out->known| false when the round's OPEN never
 * reached us). HALQA_ERR_NOT_FOUND if the message answers no round.
 */
HALQA_MUST_CHECK int checkin_log_get(struct store *s, const uint8_t circle_id[STORE_ID_LEN],
				     const uint8_t msg_id[STORE_ID_LEN],
				     struct checkin_log_round *out);

#endif
