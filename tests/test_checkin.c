/*
 * test_checkin.c: the check-in round state machine without a terminal or
 * a relay: a driver's rounds (answers, passes, timeouts, early end) and a
 * member's view of steps, forged ones included.
 */
#include <string.h>

#include "halqa/checkin.h"
#include "harness.h"

static uint8_t key_a[32], key_b[32], key_c[32], key_d[32], key_e[32];
static const uint8_t round1[16] = {1}, round2[16] = {2};

static void keys_init(void)
{
	memset(key_a, 0xa0, 32);
	memset(key_b, 0xb0, 32);
	memset(key_c, 0xc0, 32);
	memset(key_d, 0xd0, 32);
	memset(key_e, 0xe0, 32);
}

/* A circle whose facilitators are A (and D if |with_d|). */
static void setup(struct checkin *c, int with_d)
{
	struct roster r;

	memset(&r, 0, sizeof r);
	CHECK_OK(roster_add(&r, key_a));
	if (with_d) {
		CHECK_OK(roster_add(&r, key_d));
	}
	checkin_init(c);
	checkin_set_roster(c, &r);
}

static void check_turn_step(const struct checkin_out *out, size_t i, const uint8_t *who)
{
	CHECK(out->num_steps > i);
	if (out->num_steps > i) {
		CHECK_INT_EQ(out->steps[i].step, SESSION_STEP_TURN);
		CHECK(memcmp(out->steps[i].member, who, 32) == 0);
		CHECK(memcmp(out->steps[i].round_id, round1, 16) == 0);
	}
}

static void check_status(const struct checkin *c, const uint8_t *key, int want)
{
	int st = -1;

	CHECK_OK(checkin_member_status(c, key, &st));
	CHECK_INT_EQ(st, want);
}

static void test_answer_and_pass(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[3][32], turn[32];
	struct session_checkin pass = {0};

	memcpy(m[0], key_a, 32);
	memcpy(m[1], key_b, 32);
	memcpy(m[2], key_c, 32);
	setup(&c, 0);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "How was the week?", 60,
	                      (const uint8_t(*)[32])m, 3, 1000));
	CHECK_INT_EQ(out.num_steps, 2);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_OPEN);
	CHECK(strcmp(out.steps[0].question, "How was the week?") == 0);
	CHECK_INT_EQ(out.steps[0].turn_timeout_s, 60);
	check_turn_step(&out, 1, key_a);
	CHECK(checkin_is_turn(&c, key_a));

	/* The facilitator answers first, then B passes, then C answers. */
	CHECK_OK(checkin_on_answer(&c, &out, key_a, round1, 2000));
	CHECK_INT_EQ(out.num_steps, 1);
	check_turn_step(&out, 0, key_b);
	CHECK_OK(checkin_turn(&c, turn));
	CHECK(memcmp(turn, key_b, 32) == 0);

	memcpy(pass.round_id, round1, 16);
	pass.step = SESSION_STEP_PASS;
	CHECK_OK(checkin_on_step(&c, &out, key_b, &pass, 3000));
	CHECK_INT_EQ(out.num_steps, 1);
	check_turn_step(&out, 0, key_c);
	check_status(&c, key_a, CHECKIN_ANSWERED);
	check_status(&c, key_b, CHECKIN_PASSED);

	/* A repeated pass changes nothing. */
	CHECK_OK(checkin_on_step(&c, &out, key_b, &pass, 3100));
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK(checkin_is_turn(&c, key_c));

	CHECK_OK(checkin_on_answer(&c, &out, key_c, round1, 4000));
	CHECK_INT_EQ(out.num_steps, 1);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_END);
	CHECK(!c.active);
	CHECK_RC(checkin_turn(&c, turn), HALQA_ERR_NOT_FOUND);
	CHECK_RC(checkin_on_answer(&c, &out, key_c, round1, 5000), HALQA_ERR_NOT_FOUND);
	checkin_cleanup(&c);
}

static void test_timeout_skips_offline_member(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[3][32];

	memcpy(m[0], key_b, 32);
	memcpy(m[1], key_c, 32);
	memcpy(m[2], key_a, 32);
	setup(&c, 0);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 30, (const uint8_t(*)[32])m, 3, 100000));
	check_turn_step(&out, 1, key_b);
	/* Not yet. */
	CHECK_OK(checkin_tick(&c, &out, 100000 + 29999));
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK(!out.skipped);
	/* B is offline: skipped at the timeout, C's turn starts then. */
	CHECK_OK(checkin_tick(&c, &out, 100000 + 30000));
	CHECK(out.skipped);
	CHECK(memcmp(out.skipped_key, key_b, 32) == 0);
	check_turn_step(&out, 0, key_c);
	check_status(&c, key_b, CHECKIN_SKIPPED);
	/* C's own timeout counts from C's turn. */
	CHECK_OK(checkin_tick(&c, &out, 100000 + 59999));
	CHECK_INT_EQ(out.num_steps, 0);
	/* The facilitator passes for themself out of turn; C then times out too. */
	CHECK_OK(checkin_pass(&c, &out, key_a, 100000 + 40000));
	CHECK_INT_EQ(out.num_steps, 1);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_PASS);
	CHECK_RC(checkin_pass(&c, &out, key_a, 100000 + 41000), HALQA_ERR_EXISTS);
	CHECK_OK(checkin_tick(&c, &out, 100000 + 60000));
	CHECK(out.skipped);
	CHECK_INT_EQ(out.num_steps, 1);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_END);
	CHECK(!c.active);
	checkin_cleanup(&c);
}

static void test_no_timeout_never_skips(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[1][32];

	memcpy(m[0], key_b, 32);
	setup(&c, 0);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 0, (const uint8_t(*)[32])m, 1, 0));
	CHECK_OK(checkin_tick(&c, &out, INT64_C(1) << 50));
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK(checkin_is_turn(&c, key_b));
	checkin_cleanup(&c);
}

static void test_driver_passes_on_own_turn(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[2][32];

	memcpy(m[0], key_a, 32);
	memcpy(m[1], key_b, 32);
	setup(&c, 0);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 10, (const uint8_t(*)[32])m, 2, 0));
	CHECK_OK(checkin_pass(&c, &out, key_a, 10));
	CHECK_INT_EQ(out.num_steps, 2);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_PASS);
	check_turn_step(&out, 1, key_b);
	checkin_cleanup(&c);
}

static void test_answer_out_of_turn(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[3][32];

	memcpy(m[0], key_b, 32);
	memcpy(m[1], key_c, 32);
	memcpy(m[2], key_a, 32);
	setup(&c, 0);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 0, (const uint8_t(*)[32])m, 3, 0));
	/* C answers early: the turn stays with B, C is not invited again. */
	CHECK_OK(checkin_on_answer(&c, &out, key_c, round1, 1));
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK(checkin_is_turn(&c, key_b));
	/* E joined after the round opened: their answer is a message, nothing more. */
	CHECK_OK(checkin_on_answer(&c, &out, key_e, round1, 2));
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK_RC(checkin_member_status(&c, key_e, &(int){0}), HALQA_ERR_NOT_FOUND);
	CHECK_OK(checkin_on_answer(&c, &out, key_b, round1, 3));
	check_turn_step(&out, 0, key_a);
	/* An answer tagged with another round does not count. */
	CHECK_RC(checkin_on_answer(&c, &out, key_a, round2, 4), HALQA_ERR_NOT_FOUND);
	CHECK(checkin_is_turn(&c, key_a));
	CHECK_OK(checkin_on_answer(&c, &out, key_a, round1, 5));
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_END);
	checkin_cleanup(&c);
}

static void test_end_early(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[2][32];

	memcpy(m[0], key_b, 32);
	memcpy(m[1], key_c, 32);
	setup(&c, 0);
	CHECK_RC(checkin_end(&c, &out, key_a), HALQA_ERR_NOT_FOUND);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 0, (const uint8_t(*)[32])m, 2, 0));
	CHECK_RC(checkin_end(&c, &out, key_b), HALQA_ERR_DENIED);
	CHECK(c.active);
	CHECK_OK(checkin_end(&c, &out, key_a));
	CHECK_INT_EQ(out.num_steps, 1);
	CHECK_INT_EQ(out.steps[0].step, SESSION_STEP_END);
	CHECK(memcmp(out.steps[0].round_id, round1, 16) == 0);
	CHECK(!c.active);
	CHECK_RC(checkin_pass(&c, &out, key_b, 1), HALQA_ERR_NOT_FOUND);
	CHECK_OK(checkin_tick(&c, &out, INT64_C(1) << 40));
	CHECK_INT_EQ(out.num_steps, 0);
	checkin_cleanup(&c);
}

static void test_open_refused(void)
{
	struct checkin c;
	struct checkin_out out;
	uint8_t m[2][32], dup[2][32];

	memcpy(m[0], key_b, 32);
	memcpy(m[1], key_c, 32);
	memcpy(dup[0], key_b, 32);
	memcpy(dup[1], key_b, 32);
	setup(&c, 0);
	CHECK_RC(checkin_open(&c, &out, key_b, round1, "", 0, (const uint8_t(*)[32])m, 2, 0),
	         HALQA_ERR_DENIED);
	CHECK(!c.active);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "q", 5, (const uint8_t(*)[32])m, 2, 0));
	/* Each refusal leaves the open round as it was. */
	CHECK_RC(checkin_open(&c, &out, key_a, round2, "", 0, (const uint8_t(*)[32])m, 0, 0),
	         HALQA_ERR_INVALID);
	CHECK_RC(checkin_open(&c, &out, key_a, round2, "", 0, (const uint8_t(*)[32])dup, 2, 0),
	         HALQA_ERR_INVALID);
	CHECK_RC(checkin_open(&c, &out, key_a, round2, "", SESSION_TURN_TIMEOUT_MAX + 1,
	                      (const uint8_t(*)[32])m, 2, 0),
	         HALQA_ERR_INVALID);
	CHECK_RC(
	    checkin_open(&c, &out, key_a, round2, "bell\x07", 0, (const uint8_t(*)[32])m, 2, 0),
	    HALQA_ERR_INVALID);
	CHECK_RC(checkin_open(&c, &out, key_a, round2, "", 0, (const uint8_t(*)[32])m,
	                      CHECKIN_MAX_MEMBERS + 1, 0),
	         HALQA_ERR_TOO_LARGE);
	CHECK_INT_EQ(out.num_steps, 0);
	CHECK(c.active && memcmp(c.round_id, round1, 16) == 0);
	CHECK(checkin_is_turn(&c, key_b));
	CHECK(strcmp(c.question, "q") == 0);
	checkin_cleanup(&c);
}

static void test_member_view_and_forgeries(void)
{
	struct checkin c;
	struct checkin_out out;
	struct session_checkin st;
	uint8_t turn[32];

	setup(&c, 1);
	/* B, not a facilitator, tries to open a round: refused, nothing changes. */
	memset(&st, 0, sizeof st);
	memcpy(st.round_id, round1, 16);
	st.step = SESSION_STEP_OPEN;
	strcpy(st.question, "forged");
	CHECK_RC(checkin_on_step(&c, &out, key_b, &st, 0), HALQA_ERR_DENIED);
	CHECK(!c.active);
	/* A TURN for a round nobody opened. */
	st.step = SESSION_STEP_TURN;
	memcpy(st.member, key_b, 32);
	CHECK_RC(checkin_on_step(&c, &out, key_a, &st, 0), HALQA_ERR_NOT_FOUND);

	/* A opens. */
	st.step = SESSION_STEP_OPEN;
	strcpy(st.question, "One word for today?");
	st.turn_timeout_s = 90;
	CHECK_OK(checkin_on_step(&c, &out, key_a, &st, 0));
	CHECK(c.active);
	CHECK(!c.driving);
	CHECK(strcmp(c.question, "One word for today?") == 0);
	CHECK_INT_EQ(c.timeout_s, 90);
	CHECK_RC(checkin_turn(&c, turn), HALQA_ERR_NOT_FOUND);

	/* B forges a TURN giving itself the floor: refused. */
	memset(&st, 0, sizeof st);
	memcpy(st.round_id, round1, 16);
	st.step = SESSION_STEP_TURN;
	memcpy(st.member, key_b, 32);
	CHECK_RC(checkin_on_step(&c, &out, key_b, &st, 1), HALQA_ERR_DENIED);
	CHECK_RC(checkin_turn(&c, turn), HALQA_ERR_NOT_FOUND);
	/* D is a facilitator but did not open this round: no TURN from D either. */
	CHECK_RC(checkin_on_step(&c, &out, key_d, &st, 1), HALQA_ERR_DENIED);
	/* A's TURN for C is taken. */
	memcpy(st.member, key_c, 32);
	CHECK_OK(checkin_on_step(&c, &out, key_a, &st, 2));
	CHECK(checkin_is_turn(&c, key_c));
	CHECK_INT_EQ(out.num_steps, 0); /* a member never sends on the driver's behalf */
	/* A TURN of another round is stale. */
	memcpy(st.round_id, round2, 16);
	memcpy(st.member, key_b, 32);
	CHECK_RC(checkin_on_step(&c, &out, key_a, &st, 3), HALQA_ERR_NOT_FOUND);
	CHECK(checkin_is_turn(&c, key_c));
	/* C passes: nobody's turn until the driver says. */
	memset(&st, 0, sizeof st);
	memcpy(st.round_id, round1, 16);
	st.step = SESSION_STEP_PASS;
	CHECK_OK(checkin_on_step(&c, &out, key_c, &st, 4));
	CHECK(!checkin_is_turn(&c, key_c));
	/* B forges the END: refused; an unknown step: refused. */
	st.step = SESSION_STEP_END;
	CHECK_RC(checkin_on_step(&c, &out, key_b, &st, 5), HALQA_ERR_DENIED);
	CHECK(c.active);
	st.step = 9;
	CHECK_RC(checkin_on_step(&c, &out, key_a, &st, 5), HALQA_ERR_INVALID);
	CHECK(c.active);
	/* Any facilitator may close it (the opener may have gone offline). */
	st.step = SESSION_STEP_END;
	CHECK_OK(checkin_on_step(&c, &out, key_d, &st, 6));
	CHECK(!c.active);
	checkin_cleanup(&c);
}

static void test_new_round_replaces_ours(void)
{
	struct checkin c;
	struct checkin_out out;
	struct session_checkin st, own;
	uint8_t m[1][32];

	memcpy(m[0], key_b, 32);
	setup(&c, 1);
	CHECK_OK(checkin_open(&c, &out, key_a, round1, "", 0, (const uint8_t(*)[32])m, 1, 0));
	/* Our own OPEN echoed back changes nothing. */
	own = out.steps[0];
	CHECK_OK(checkin_on_step(&c, &out, key_a, &own, 1));
	CHECK(c.driving);
	memset(&st, 0, sizeof st);
	memcpy(st.round_id, round2, 16);
	st.step = SESSION_STEP_OPEN;
	CHECK_OK(checkin_on_step(&c, &out, key_d, &st, 2));
	CHECK(c.active && !c.driving);
	CHECK(memcmp(c.round_id, round2, 16) == 0);
	CHECK(memcmp(c.opener, key_d, 32) == 0);
	checkin_cleanup(&c);
}

int main(void)
{
	keys_init();
	RUN(test_answer_and_pass);
	RUN(test_timeout_skips_offline_member);
	RUN(test_no_timeout_never_skips);
	RUN(test_driver_passes_on_own_turn);
	RUN(test_answer_out_of_turn);
	RUN(test_end_early);
	RUN(test_open_refused);
	RUN(test_member_view_and_forgeries);
	RUN(test_new_round_replaces_ours);
	return harness_report();
}
