/*
 * ratelimit.c: the token bucket of ratelimit.h.
 *
 * Refilling is lazy (computed from elapsed time at each take), so idle
 * devices cost no timer work; the relay's rate-limit timer only drops the
 * buckets that are full again (ratelimit_full), which bounds memory by the
 * devices active within the last burst/rate seconds.
 */
#include "halqa/ratelimit.h"

static void refill(struct ratelimit *rl, uint64_t now_ms)
{
	if (now_ms > rl->last_ms) {
		rl->tokens += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
		if (rl->tokens > rl->burst) {
			rl->tokens = rl->burst;
		}
		rl->last_ms = now_ms;
	}
}

void ratelimit_init(struct ratelimit *rl, double rate, double burst, uint64_t now_ms)
{
	rl->rate = rate;
	rl->burst = burst;
	rl->tokens = burst;
	rl->last_ms = now_ms;
}

void ratelimit_set(struct ratelimit *rl, double rate, double burst)
{
	rl->rate = rate;
	rl->burst = burst;
	if (rl->tokens > burst) {
		rl->tokens = burst;
	}
}

int ratelimit_take(struct ratelimit *rl, double n, uint64_t now_ms)
{
	refill(rl, now_ms);
	if (rl->tokens < n) {
		return 0;
	}
	rl->tokens -= n;
	return 1;
}

int ratelimit_full(const struct ratelimit *rl, uint64_t now_ms)
{
	double t = rl->tokens;

	if (now_ms > rl->last_ms) {
		t += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
	}
	return t >= rl->burst;
}
