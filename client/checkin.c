/*
 * checkin.c: the check-in round state machine.
 *
 * Every client keeps the round's id, its opener, and whose turn it is;
 * the opener's client (the driver) also keeps the members in turn order
 * with a status each and is the only one that produces TURN and END, so
 * the round has one clock and one order even when members' clocks and
 * views differ. A step is checked completely before anything changes:
 * a forged or stale step leaves the machine exactly as it was.
 *
 * Identity keys are public, so plain memcmp compares them.
 */
#include "halqa/checkin.h"

#include <stdlib.h>
#include <string.h>

static void out_reset(struct checkin_out *out)
{
	memset(out, 0, sizeof *out);
}

static struct session_checkin *out_step(struct checkin *c, struct checkin_out *out, uint8_t step)
{
	struct session_checkin *s = &out->steps[out->num_steps++];

	memset(s, 0, sizeof *s);
	memcpy(s->round_id, c->round_id, CHECKIN_ROUND_ID_LEN);
	s->step = step;
	return s;
}

static void close_round(struct checkin *c)
{
	free(c->members);
	free(c->status);
	c->members = NULL;
	c->status = NULL;
	c->num_members = 0;
	c->driving = false;
	c->active = false;
	c->have_turn = false;
}

void checkin_init(struct checkin *c)
{
	memset(c, 0, sizeof *c);
}

void checkin_cleanup(struct checkin *c)
{
	close_round(c);
	memset(c, 0, sizeof *c);
}

void checkin_set_roster(struct checkin *c, const struct roster *r)
{
	c->roster = *r;
}

static long member_index(const struct checkin *c, const uint8_t key[CHECKIN_KEY_LEN])
{
	for (size_t i = 0; i < c->num_members; i++) {
		if (memcmp(c->members[i], key, CHECKIN_KEY_LEN) == 0) {
			return (long)i;
		}
	}
	return -1;
}

/*
 * advance hands the turn to the next member still waiting, in order after
 * the current one, or closes the round when none is left (driver only).
 */
static void advance(struct checkin *c, struct checkin_out *out, int64_t now_ms)
{
	struct session_checkin *s;

	for (size_t i = 0; i < c->num_members; i++) {
		if (c->status[i] == CHECKIN_WAITING) {
			s = out_step(c, out, SESSION_STEP_TURN);
			memcpy(s->member, c->members[i], CHECKIN_KEY_LEN);
			memcpy(c->turn, c->members[i], CHECKIN_KEY_LEN);
			c->have_turn = true;
			c->turn_started_ms = now_ms;
			return;
		}
	}
	(void)out_step(c, out, SESSION_STEP_END);
	close_round(c);
}

/* settle records |key|'s answer or pass; a driver moves on if it was their turn. */
static void settle(struct checkin *c, struct checkin_out *out, const uint8_t key[CHECKIN_KEY_LEN],
                   int status, int64_t now_ms)
{
	long i = member_index(c, key);
	bool was_turn = checkin_is_turn(c, key);

	if (!c->driving) {
		if (was_turn) {
			c->have_turn = false; /* the driver's next TURN will say who is next */
		}
		return;
	}
	if (i < 0 || c->status[i] != CHECKIN_WAITING) {
		return; /* not invited (joined later), or settled already */
	}
	c->status[i] = (uint8_t)status;
	if (was_turn) {
		advance(c, out, now_ms);
	}
}

int checkin_open(struct checkin *c, struct checkin_out *out, const uint8_t self[CHECKIN_KEY_LEN],
                 const uint8_t round_id[CHECKIN_ROUND_ID_LEN], const char *question,
                 uint16_t timeout_s, const uint8_t (*members)[CHECKIN_KEY_LEN], size_t num_members,
                 int64_t now_ms)
{
	uint8_t(*copy)[CHECKIN_KEY_LEN] = NULL;
	uint8_t *status = NULL;
	struct session_checkin *s;
	size_t qlen = strlen(question);

	out_reset(out);
	if (roster_may_schedule(&c->roster, self) != HALQA_OK) {
		return HALQA_ERR_DENIED;
	}
	if (num_members > CHECKIN_MAX_MEMBERS) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (num_members == 0 || qlen > SESSION_QUESTION_MAX ||
	    !session_utf8_valid(question, qlen, 0) || timeout_s > SESSION_TURN_TIMEOUT_MAX) {
		return HALQA_ERR_INVALID;
	}
	for (size_t i = 0; i < num_members; i++) {
		for (size_t j = 0; j < i; j++) {
			if (memcmp(members[i], members[j], CHECKIN_KEY_LEN) == 0) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	if ((copy = malloc(num_members * CHECKIN_KEY_LEN)) == NULL ||
	    (status = calloc(num_members, 1)) == NULL) {
		free(copy);
		return HALQA_ERR_NOMEM;
	}
	memcpy(copy, members, num_members * CHECKIN_KEY_LEN);
	close_round(c);
	c->active = true;
	c->driving = true;
	memcpy(c->round_id, round_id, CHECKIN_ROUND_ID_LEN);
	memcpy(c->opener, self, CHECKIN_KEY_LEN);
	memcpy(c->self, self, CHECKIN_KEY_LEN);
	memcpy(c->question, question, qlen + 1);
	c->timeout_s = timeout_s;
	c->members = copy;
	c->status = status;
	c->num_members = num_members;
	s = out_step(c, out, SESSION_STEP_OPEN);
	memcpy(s->question, question, qlen + 1);
	s->turn_timeout_s = timeout_s;
	advance(c, out, now_ms);
	return HALQA_OK;
}

static bool same_round(const struct checkin *c, const uint8_t round_id[CHECKIN_ROUND_ID_LEN])
{
	return c->active && memcmp(c->round_id, round_id, CHECKIN_ROUND_ID_LEN) == 0;
}

int checkin_on_step(struct checkin *c, struct checkin_out *out,
                    const uint8_t sender[CHECKIN_KEY_LEN], const struct session_checkin *step,
                    int64_t now_ms)
{
	out_reset(out);
	switch (step->step) {
	case SESSION_STEP_OPEN:
		if (roster_may_schedule(&c->roster, sender) != HALQA_OK) {
			return HALQA_ERR_DENIED;
		}
		if (same_round(c, step->round_id)) {
			return HALQA_OK;
		}
		if (strlen(step->question) > SESSION_QUESTION_MAX ||
		    step->turn_timeout_s > SESSION_TURN_TIMEOUT_MAX) {
			return HALQA_ERR_INVALID;
		}
		/* A new round from a facilitator replaces ours, even one we drive. */
		close_round(c);
		c->active = true;
		memcpy(c->round_id, step->round_id, CHECKIN_ROUND_ID_LEN);
		memcpy(c->opener, sender, CHECKIN_KEY_LEN);
		memcpy(c->question, step->question, sizeof c->question);
		c->question[SESSION_QUESTION_MAX] = '\0';
		c->timeout_s = step->turn_timeout_s;
		return HALQA_OK;
	case SESSION_STEP_TURN:
		/* Only the opener hands out turns: one order, one clock. */
		if (roster_may_schedule(&c->roster, sender) != HALQA_OK) {
			return HALQA_ERR_DENIED;
		}
		if (!same_round(c, step->round_id)) {
			return HALQA_ERR_NOT_FOUND;
		}
		if (memcmp(sender, c->opener, CHECKIN_KEY_LEN) != 0) {
			return HALQA_ERR_DENIED;
		}
		if (c->driving) {
			return HALQA_OK; /* our own step coming back */
		}
		memcpy(c->turn, step->member, CHECKIN_KEY_LEN);
		c->have_turn = true;
		c->turn_started_ms = now_ms;
		return HALQA_OK;
	case SESSION_STEP_PASS:
		if (!same_round(c, step->round_id)) {
			return HALQA_ERR_NOT_FOUND;
		}
		settle(c, out, sender, CHECKIN_PASSED, now_ms);
		return HALQA_OK;
	case SESSION_STEP_END:
		if (roster_may_schedule(&c->roster, sender) != HALQA_OK) {
			return HALQA_ERR_DENIED;
		}
		if (!same_round(c, step->round_id)) {
			return HALQA_ERR_NOT_FOUND;
		}
		close_round(c);
		return HALQA_OK;
	default:
		return HALQA_ERR_INVALID;
	}
}

int checkin_on_answer(struct checkin *c, struct checkin_out *out,
                      const uint8_t sender[CHECKIN_KEY_LEN],
                      const uint8_t round_id[CHECKIN_ROUND_ID_LEN], int64_t now_ms)
{
	out_reset(out);
	if (!same_round(c, round_id)) {
		return HALQA_ERR_NOT_FOUND;
	}
	settle(c, out, sender, CHECKIN_ANSWERED, now_ms);
	return HALQA_OK;
}

int checkin_pass(struct checkin *c, struct checkin_out *out, const uint8_t self[CHECKIN_KEY_LEN],
                 int64_t now_ms)
{
	long i;

	out_reset(out);
	if (!c->active) {
		return HALQA_ERR_NOT_FOUND;
	}
	if (c->driving && (i = member_index(c, self)) >= 0 && c->status[i] != CHECKIN_WAITING) {
		return HALQA_ERR_EXISTS;
	}
	(void)out_step(c, out, SESSION_STEP_PASS);
	settle(c, out, self, CHECKIN_PASSED, now_ms);
	return HALQA_OK;
}

int checkin_end(struct checkin *c, struct checkin_out *out, const uint8_t self[CHECKIN_KEY_LEN])
{
	out_reset(out);
	if (!c->active) {
		return HALQA_ERR_NOT_FOUND;
	}
	if (roster_may_schedule(&c->roster, self) != HALQA_OK) {
		return HALQA_ERR_DENIED;
	}
	(void)out_step(c, out, SESSION_STEP_END);
	close_round(c);
	return HALQA_OK;
}

int checkin_tick(struct checkin *c, struct checkin_out *out, int64_t now_ms)
{
	long i;

	out_reset(out);
	if (!c->driving || !c->have_turn || c->timeout_s == 0 ||
	    now_ms - c->turn_started_ms < (int64_t)c->timeout_s * 1000) {
		return HALQA_OK;
	}
	if ((i = member_index(c, c->turn)) < 0) {
		return HALQA_OK;
	}
	out->skipped = true;
	memcpy(out->skipped_key, c->turn, CHECKIN_KEY_LEN);
	c->status[i] = CHECKIN_SKIPPED;
	advance(c, out, now_ms);
	return HALQA_OK;
}

int checkin_turn(const struct checkin *c, uint8_t out[CHECKIN_KEY_LEN])
{
	if (!c->active || !c->have_turn) {
		return HALQA_ERR_NOT_FOUND;
	}
	memcpy(out, c->turn, CHECKIN_KEY_LEN);
	return HALQA_OK;
}

bool checkin_is_turn(const struct checkin *c, const uint8_t key[CHECKIN_KEY_LEN])
{
	return c->active && c->have_turn && memcmp(c->turn, key, CHECKIN_KEY_LEN) == 0;
}

int checkin_member_status(const struct checkin *c, const uint8_t key[CHECKIN_KEY_LEN],
                          int *out_status)
{
	long i;

	*out_status = CHECKIN_WAITING;
	if (!c->driving || (i = member_index(c, key)) < 0) {
		return HALQA_ERR_NOT_FOUND;
	}
	*out_status = c->status[i];
	return HALQA_OK;
}
