/*
 * hostile_relay.h: a relay that lies, for the engine tests. It is a
 * CurveZMQ ROUTER of its own (a fresh server key) that forwards every
 * request to a real halqad through one registered device and tampers
 * with what comes back, as a compromised or malicious relay could:
 * garbage frames before the answer, fetched messages corrupted,
 * repeated, reordered, or taken from another circle. It runs on a thread
 * of its own; the modes may be changed between requests.
 */
#ifndef HALQA_TESTS_HOSTILE_RELAY_H
#define HALQA_TESTS_HOSTILE_RELAY_H

#include <stdint.h>

#include "support/relay_client.h"

enum hostile_mode {
	HOSTILE_GARBAGE = 0x01, /* an undecodable frame and an unsolicited OK before each answer */
	HOSTILE_CORRUPT = 0x02, /* flip a byte in every fetched message */
	HOSTILE_REPEAT = 0x04,  /* every fetched message twice, and the last fetch's again */
	HOSTILE_REVERSE = 0x08, /* fetched messages in reverse order */
	HOSTILE_FOREIGN = 0x10, /* add messages fetched earlier from another circle */
	HOSTILE_MUTE_SEND = 0x20, /* SENDs swallowed: never forwarded, never answered (writes hang) */
};

struct hostile_relay;

/* hostile_relay_start starts one in front of |t|; its endpoint and key go to |endpoint| / |key|. */
int hostile_relay_start(struct hostile_relay **out, struct relay_test *t, char endpoint[64],
			uint8_t key[32]);

/* hostile_relay_set_modes sets the hostile_mode bits for the next requests. */
void hostile_relay_set_modes(struct hostile_relay *h, unsigned modes);

/*
 * hostile_relay_fetch_budget answers the next |n| FETCH requests and, after
 * them, answers each FETCH with an undecodable frame only (the client
 * times out); |n| < 0 lifts the limit (the default).
 */
void hostile_relay_fetch_budget(struct hostile_relay *h, int n);

/*
 * hostile_relay_fail_circle answers every later FETCH of circle |id| with
 * ERR `internal`, as a relay whose storage failed for that circle would;
 * NULL ends it.
 */
void hostile_relay_fail_circle(struct hostile_relay *h, const uint8_t *id);

/* hostile_relay_stop stops the thread and frees everything. NULL is a no-op. */
void hostile_relay_stop(struct hostile_relay *h);

#endif
