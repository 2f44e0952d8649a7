/*
 * relay_steps.h: short steps for the relay integration tests
 * (tests/test_relay_*.c), on top of relay_client.h: a registered device in
 * one call, request builders for each wire type, and a circle with its
 * epoch capabilities. Every step reports failures through the harness
 * (file and line of the caller's step are in the message) and returns the
 * outcome so a test can stop early.
 */
#ifndef HALQA_TESTS_RELAY_STEPS_H
#define HALQA_TESTS_RELAY_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/wire.h"
#include "support/relay_client.h"

#define STEPS_TIMEOUT_MS 30000

/* steps_device connects a new client and registers it with a fresh invite. */
int steps_device(struct relay_test *t, struct relay_client **out);

/*
 * steps_call sends |req| and returns HALQA_OK for an OK of the right type,
 * else the wire error code as a positive int (WIRE_ERR_*), or a negative
 * HALQA_ERR_* for a transport failure. |reply| may be NULL.
 */
int steps_call(struct relay_client *c, const struct wire_msg *req, struct wire_msg *reply);

/* A circle as its members know it: id and one capability per epoch. */
struct steps_circle {
	uint8_t id[WIRE_ID_LEN];
	uint8_t caps[16][WIRE_CAP_LEN];
	uint64_t epoch; /* current epoch as the test believes */
};

/* steps_circle_new picks a random id and capabilities, creates the circle (epoch 0). */
int steps_circle_new(struct relay_client *c, struct steps_circle *ci);

/* Request builders: they fill |m| (wire_msg_init first). */
void steps_hello(struct wire_msg *m);
void steps_register(struct wire_msg *m, const char *invite);
void steps_send(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch, uint8_t kind,
		const uint8_t *payload, size_t len, const uint8_t msg_id[WIRE_ID_LEN]);
/* steps_commit: a commit for |epoch| registering the hash of caps[epoch + 1]. */
void steps_commit(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
		  const uint8_t *payload, size_t len, const uint8_t msg_id[WIRE_ID_LEN]);
void steps_listen(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch);
void steps_fetch(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
		 uint64_t from_seq, uint16_t max);
void steps_ack(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
	       const uint8_t cursor[WIRE_ID_LEN], uint64_t seq);

/* steps_text_send sends an application message |text| in |epoch|; *out_seq gets its seq. */
int steps_text_send(struct relay_client *c, const struct steps_circle *ci, uint64_t epoch,
		    const char *text, uint64_t *out_seq);


/*
 * steps_reconfigure appends |ini| to the relay's halqad.conf, sends SIGHUP,
 * and waits (polling HELLO through |c|, up to 10 s) until the relay
 * announces |rps| requests per second: |ini| must set requests_per_second
 * to it so the test knows the reload happened.
 */
int steps_reconfigure(struct relay_test *t, struct relay_client *c, const char *ini, uint32_t rps);

/*
 * steps_small_mailboxes reconfigures the running relay |t| (steps_reconfigure)
 * so a mailbox holds two items, for tests that fill one.
 */
int steps_small_mailboxes(struct relay_test *t);

/*
 * steps_fill_mailbox puts junk into mailbox |id| through a device of its
 * own (registered on an open relay) until the relay says it is full;
 * returns how many items it put, and reports if the relay never refused.
 */
int steps_fill_mailbox(struct relay_test *t, const uint8_t id[WIRE_ID_LEN]);

/*
 * steps_stop stops the relay (SIGTERM), checks it exited with status 0 (a
 * graceful stop; under the sanitizers, also no leak or error report) and
 * removes its directory.
 */
void steps_stop(struct relay_test *t);

#endif
