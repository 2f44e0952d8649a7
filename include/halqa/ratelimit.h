/*
 * ratelimit.h: a token bucket, the relay's per-device rate limit.
 *
 * A bucket holds up to |burst| tokens and refills at |rate| tokens per
 * second. Taking n tokens succeeds only if n are there; otherwise nothing
 * is taken, so a refused request costs the device nothing more and a
 * device that stops at the limit is served at exactly |rate|. Time is
 * passed in by the caller (monotonic milliseconds) so tests and the
 * relay's injectable clock drive it; it never goes backwards here even if
 * the caller's clock does. State is a few doubles, kept only in memory.
 */
#ifndef HALQA_RATELIMIT_H
#define HALQA_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	double tokens;
	double rate;  /* tokens per second */
	double burst; /* bucket depth */
	uint64_t last_ms;
};

/* ratelimit_init starts a full bucket at time |now_ms|. Cannot fail. */
void ratelimit_init(struct ratelimit *rl, double rate, double burst, uint64_t now_ms);

/*
 * ratelimit_set changes rate and depth (a SIGHUP reload) keeping the tokens
 * held, capped at the new depth. Cannot fail.
 */
void ratelimit_set(struct ratelimit *rl, double rate, double burst);

/*
 * ratelimit_take refills for the time since the last call, then takes |n|
 * tokens if that many are held. Returns 1 if taken, 0 if refused (nothing
 * taken). A request larger than the bucket's depth is refused for ever:
 * callers bound sizes before asking.
 */
int ratelimit_take(struct ratelimit *rl, double n, uint64_t now_ms);

/* ratelimit_full says whether the bucket has refilled completely at |now_ms|. */
int ratelimit_full(const struct ratelimit *rl, uint64_t now_ms);

#endif
