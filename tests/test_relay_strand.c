/*
 * test_relay_strand.c: the relay's socket pumps never strand work.
 *
 * ZMQ_FD is edge-triggered (PLATFORM.md): a pump that stops while libzmq
 * still holds input or could take output gets no new edge, and the work
 * waits. The relay's once-a-second housekeeping timer also pumps the
 * ROUTER, which would turn such a bug into up to a second of latency
 * rather than a hang, and so hide it. Here the relay runs with
 * --test-no-safety-net: only the event-driven pumps move anything. Four
 * listening devices send pipelined bursts of SENDs and PINGs into one
 * circle, interleaved, in several waves; every request must be answered
 * and every listener must receive every message of the circle, in order.
 * There is no timing assertion: a stranded pump would leave work undone
 * for ever, so the only bound is a generous 30 s for everything.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <sodium.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

#define NUM_DEVS 4
#define WAVES 6
#define PER_WAVE 40 /* SENDs per device per wave; 240 + PINGs stays inside the burst of 400 */
#define TOTAL_MS 30000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

static void test_bursts_without_safety_net(void)
{
	struct relay_test t = {0};
	struct relay_client *dev[NUM_DEVS] = {0};
	struct steps_circle ci;
	struct wire_msg req, rep, push;
	static uint32_t ids[NUM_DEVS][WAVES * PER_WAVE * 2];
	size_t num_ids[NUM_DEVS] = {0};
	uint64_t next_seq[NUM_DEVS];
	size_t pushes[NUM_DEVS] = {0};
	uint8_t payload[64];
	int64_t deadline;

	if (relay_test_start(&t, "--test-no-safety-net") != HALQA_OK) {
		CHECK(0);
		return;
	}
	for (int d = 0; d < NUM_DEVS; d++) {
		if (steps_device(&t, &dev[d]) != HALQA_OK) {
			goto out;
		}
	}
	CHECK_OK(steps_circle_new(dev[0], &ci));
	for (int d = 0; d < NUM_DEVS; d++) {
		steps_listen(&req, &ci, 0);
		CHECK_OK(steps_call(dev[d], &req, NULL));
		next_seq[d] = 1;
	}
	if (harness_current_failed) {
		goto out;
	}

	deadline = now_ms() + TOTAL_MS;
	for (int wave = 0; wave < WAVES; wave++) {
		/* Interleaved, pipelined: nobody waits for anything inside a wave. */
		for (int k = 0; k < PER_WAVE; k++) {
			for (int d = 0; d < NUM_DEVS; d++) {
				memset(payload, 0, sizeof payload);
				snprintf((char *)payload, sizeof payload, "dev %d wave %d msg %d", d, wave,
					 k);
				steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, payload, sizeof payload,
					   NULL);
				CHECK_OK(relay_client_send_request(dev[d], &req,
								   &ids[d][num_ids[d]++]));
				if (k % 8 == 0) {
					wire_msg_init(&req, WIRE_PING, 1);
					CHECK_OK(relay_client_send_request(dev[d], &req,
									   &ids[d][num_ids[d]++]));
				}
			}
		}
		/* Odd waves: answers are collected before the next wave; even
		 * waves run into the next one with their answers still out. */
		if (wave % 2 == 1 || wave == WAVES - 1) {
			for (int d = 0; d < NUM_DEVS; d++) {
				for (size_t i = 0; i < num_ids[d]; i++) {
					int rc = relay_client_wait_reply(dev[d], ids[d][i], &rep,
									 left_ms(deadline));

					if (rc != HALQA_OK) {
						harness_fail(__FILE__, __LINE__,
							     "device %d: request %zu of wave %d unanswered "
							     "(%d)",
							     d, i, wave, rc);
						goto out;
					}
					CHECK_INT_EQ(rep.type, WIRE_OK);
				}
				num_ids[d] = 0;
			}
		}
	}
	/* Every listener hears the whole circle, in order, exactly once. */
	for (int d = 0; d < NUM_DEVS; d++) {
		while (pushes[d] < (size_t)NUM_DEVS * WAVES * PER_WAVE) {
			int rc = relay_client_next_push(dev[d], &push, left_ms(deadline));

			if (rc != HALQA_OK) {
				harness_fail(__FILE__, __LINE__, "device %d: %zu of %d pushes arrived",
					     d, pushes[d], NUM_DEVS * WAVES * PER_WAVE);
				goto out;
			}
			CHECK_INT_EQ(push.u.deliver.seq, next_seq[d]);
			next_seq[d] = push.u.deliver.seq + 1;
			pushes[d]++;
		}
		CHECK_INT_EQ(relay_client_dropped(dev[d]), 0);
	}
out:
	for (int d = 0; d < NUM_DEVS; d++) {
		relay_client_free(dev[d]);
	}
	steps_stop(&t);
}

/*
 * The ZAP handler reads the spool, so a handshake that arrives while a
 * COMMIT runs on the commit thread waits for it, and the ZAP socket's edge
 * is used up meanwhile. When something other than the commit thread's
 * report collects that COMMIT (here an admin command, which waits for it),
 * the waiting handshake must still be served. The COMMIT is made slow
 * (--test-faults) so that the handshake surely arrives during it. The
 * newcomer's wait stays below libzmq's 30 s handshake timeout, after which
 * the client would reconnect and a fresh ZAP request would hide a stall;
 * no timing is asserted.
 */
static void test_handshake_during_commit(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *newcomer = NULL;
	struct steps_circle ci;
	struct wire_msg req, rep;
	struct timespec pause = {0, 500 * 1000 * 1000};
	uint32_t send_id = 0, ping_id = 0;
	char out[256];
	int status = -1;
	int64_t started;

	if (relay_test_start(&t, "--test-no-safety-net --test-faults") != HALQA_OK) {
		CHECK(0);
		return;
	}
	started = now_ms();
	if (steps_device(&t, &a) != HALQA_OK) {
		goto out;
	}
	/*
	 * The retention sweep's own turn would serve a stalled handshake when
	 * its COMMIT returns: move it out of the way. Its first run, due 5 s
	 * after the start, picks the new interval up; wait for it.
	 */
	if (steps_reconfigure(&t, a, "[limits]\nrequests_per_second = 1000\n"
				     "[retention]\nsweep_interval = 1h\n",
			      1000) != HALQA_OK) {
		goto out;
	}
	while (now_ms() < started + 5500) {
		nanosleep(&pause, NULL);
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(relay_test_command(&t, "admin delay commit 3000", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	if (harness_current_failed) {
		goto out;
	}
	/* A SEND whose COMMIT takes 3 s; a new device connects meanwhile. */
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, (const uint8_t *)"slow", 4, NULL);
	CHECK_OK(relay_client_send_request(a, &req, &send_id));
	nanosleep(&pause, NULL);
	CHECK_OK(relay_test_client(&t, &newcomer, NULL, NULL));
	if (newcomer == NULL) {
		goto out;
	}
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(relay_client_send_request(newcomer, &req, &ping_id));
	nanosleep(&pause, NULL);
	/* The admin command waits for the COMMIT and collects it. */
	CHECK_OK(relay_test_command(&t, "admin status", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_OK(relay_client_wait_reply(a, send_id, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_OK);
	if (relay_client_wait_reply(newcomer, ping_id, &rep, 15000) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__,
			     "the handshake that arrived during the COMMIT was never served");
		goto out;
	}
	CHECK_INT_EQ(rep.type, WIRE_OK);
out:
	relay_client_free(newcomer);
	relay_client_free(a);
	steps_stop(&t);
}

/*
 * SIGTERM while a COMMIT runs on the commit thread: the stop waits for it,
 * the SEND is answered OK before the exit, and after a restart the next
 * SEND gets the next sequence number (the first one was stored once).
 */
static void test_stop_during_commit(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL;
	struct steps_circle ci;
	struct wire_msg req, rep;
	struct timespec pause = {0, 500 * 1000 * 1000};
	uint32_t send_id = 0;
	uint64_t seq = 0;
	char out[256];
	int status = -1;

	if (relay_test_start(&t, "--test-faults") != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(relay_test_command(&t, "admin delay commit 2000", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	if (harness_current_failed) {
		goto out;
	}
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, (const uint8_t *)"first", 5, NULL);
	CHECK_OK(relay_client_send_request(a, &req, &send_id));
	nanosleep(&pause, NULL);
	CHECK_OK(relay_test_kill(&t, SIGTERM));
	CHECK(WIFEXITED(t.last_status) && WEXITSTATUS(t.last_status) == 0);
	CHECK_OK(relay_client_wait_reply(a, send_id, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_OK);
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 1);
	if (relay_test_restart(&t) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	CHECK_OK(steps_text_send(a, &ci, 0, "second", &seq));
	CHECK_INT_EQ(seq, 2);
out:
	relay_client_free(a);
	steps_stop(&t);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_bursts_without_safety_net);
	RUN(test_handshake_during_commit);
	RUN(test_stop_during_commit);
	return harness_report();
}
