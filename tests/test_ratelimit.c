/*
 * test_ratelimit.c: the token bucket behind the relay's per-device limits.
 * Time is passed in, so every case is exact and none depends on timing.
 */
#include "halqa/ratelimit.h"

#include "harness.h"

static void test_burst_then_refuse(void)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 10, 5, 1000);
	for (int i = 0; i < 5; i++) {
		CHECK(ratelimit_take(&rl, 1, 1000));
	}
	CHECK(!ratelimit_take(&rl, 1, 1000));
	/* A refusal takes nothing: the bucket is still empty, not negative. */
	CHECK(!ratelimit_take(&rl, 1, 1099));
	CHECK(ratelimit_take(&rl, 1, 1100));
	CHECK(!ratelimit_take(&rl, 1, 1100));
}

static void test_refill_caps_at_burst(void)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 100, 3, 0);
	CHECK(ratelimit_take(&rl, 3, 0));
	CHECK(!ratelimit_full(&rl, 0));
	CHECK(ratelimit_full(&rl, 1000000));
	/* Hours idle still give only |burst| tokens. */
	CHECK(ratelimit_take(&rl, 3, 1000000));
	CHECK(!ratelimit_take(&rl, 1, 1000000));
}

static void test_large_request_refused(void)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 1000, 100, 0);
	CHECK(!ratelimit_take(&rl, 101, 5000));
	CHECK(ratelimit_take(&rl, 100, 5000));
}

static void test_clock_backwards(void)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 1, 1, 5000);
	CHECK(ratelimit_take(&rl, 1, 5000));
	/* A clock that jumps back neither refills nor breaks the bucket. */
	CHECK(!ratelimit_take(&rl, 1, 1000));
	CHECK(!ratelimit_take(&rl, 1, 5500));
	CHECK(ratelimit_take(&rl, 1, 6000));
}

static void test_set_keeps_tokens_capped(void)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 10, 10, 0);
	ratelimit_set(&rl, 1, 2);
	CHECK(ratelimit_take(&rl, 2, 0));
	CHECK(!ratelimit_take(&rl, 1, 0));
	CHECK(!ratelimit_take(&rl, 1, 999));
	CHECK(ratelimit_take(&rl, 1, 1000));
}

int main(void)
{
	RUN(test_burst_then_refuse);
	RUN(test_refill_caps_at_burst);
	RUN(test_large_request_refused);
	RUN(test_clock_backwards);
	RUN(test_set_keeps_tokens_capped);
	return harness_report();
}
