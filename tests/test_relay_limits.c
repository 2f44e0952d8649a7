/*
 * test_relay_limits.c: the relay's limits on the real halqad, each set
 * small through halqad.conf + SIGHUP (which this also tests): circles per
 * device, bytes per device per day, requests per second, frame and payload
 * size, the malformed-input ban, a refused reload keeping the running
 * settings, and a listener too slow for its pushes losing its listens (with
 * a notice) instead of growing the relay's memory.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

static struct wire_msg req, rep, push;

static void test_quotas(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle c1, c2, c3, wrong;
	static uint8_t big[700];
	uint8_t id700[WIRE_ID_LEN];
	uint64_t seq700;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK || steps_device(&t, &b) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_reconfigure(&t, a, "[limits]\nmax_circles_per_device = 2\n"
					  "daily_bytes_per_device = 1k\n"
					  "requests_per_second = 50\n",
				   50));
	steps_hello(&req);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.max_circles, 2);
	CHECK_INT_EQ(rep.u.ok.u.hello.bytes_per_day, 1024);

	CHECK_OK(steps_circle_new(a, &c1));
	CHECK_OK(steps_circle_new(a, &c2));
	CHECK_INT_EQ(steps_circle_new(a, &c3), WIRE_ERR_QUOTA_EXCEEDED);
	/* The quota is per device. */
	CHECK_OK(steps_circle_new(b, &c3));

	memset(big, 'q', sizeof big);
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, 300, NULL);
	CHECK_OK(steps_call(a, &req, NULL));
	/* A retry of a stored message is not charged again: 300 + 700 fit. */
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 1);
	randombytes_buf(id700, sizeof id700);
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, 700, id700);
	CHECK_OK(steps_call(a, &req, &rep));
	seq700 = rep.u.ok.u.send.seq;
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, 100, NULL);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_QUOTA_EXCEEDED);
	/* With the quota spent, a retry of an accepted message still gets its
	 * original seq (checked before the quota), and is not charged. */
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, 700, id700);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 1);
	CHECK_INT_EQ(rep.u.ok.u.send.seq, seq700);
	/* ... but only under the capability it was sent with. */
	wrong = c1;
	wrong.caps[0][0] ^= 1;
	steps_send(&req, &wrong, 0, WIRE_KIND_APPLICATION, big, 700, id700);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_DENIED);
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, 100, NULL);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_QUOTA_EXCEEDED);
	/* Refused means not stored. */
	steps_fetch(&req, &c1, 0, 1, 10);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 2);
	/* b still has its own budget. */
	steps_send(&req, &c1, 0, WIRE_KIND_APPLICATION, big, sizeof big, NULL);
	CHECK_OK(steps_call(b, &req, NULL));
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

static void test_rate_limit(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	uint32_t ids[40];
	int limited = 0, ok = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK || steps_device(&t, &b) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_reconfigure(&t, a, "[limits]\nrequests_per_second = 2\n"
					  "requests_burst = 10\n",
				   2));
	/* 40 requests at once against a burst of 10 refilling at 2/s. */
	wire_msg_init(&req, WIRE_PING, 1);
	for (int i = 0; i < 40; i++) {
		CHECK_OK(relay_client_send_request(a, &req, &ids[i]));
	}
	for (int i = 0; i < 40; i++) {
		if (relay_client_wait_reply(a, ids[i], &rep, STEPS_TIMEOUT_MS) != HALQA_OK) {
			CHECK(0);
			continue;
		}
		if (rep.type == WIRE_OK) {
			ok++;
		} else if (rep.u.err.code == WIRE_ERR_RATE_LIMITED) {
			limited++;
		}
	}
	CHECK_INT_EQ(ok + limited, 40);
	CHECK(limited >= 10);
	CHECK(ok >= 5);
	/* Per device: b is not slowed by a. */
	CHECK_OK(steps_call(b, &req, NULL));
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

/* wait_log waits (up to 10 s) for |needle| to appear in the daemon's log. */
static int wait_log(const struct relay_test *t, const char *needle)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	static char text[1 << 16];

	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(t->log_path, "r");
		size_t n = 0;
		if (f != NULL) {
			n = fread(text, 1, sizeof text - 1, f);
			fclose(f);
		}
		text[n] = '\0';
		if (strstr(text, needle) != NULL) {
			return 1;
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

static void test_sizes_and_bad_reload(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL;
	struct steps_circle ci;
	uint8_t *buf = calloc(1, 80000);
	char path[512];
	FILE *f;

	if (buf == NULL || relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		free(buf);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(steps_reconfigure(&t, a, "[limits]\nmax_frame = 64k\nmax_payload = 32k\n"
					  "requests_per_second = 51\n",
				   51));
	steps_hello(&req);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.max_frame, 65536);
	CHECK_INT_EQ(rep.u.ok.u.hello.max_payload, 32768);

	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, buf, 32768, NULL);
	CHECK_OK(steps_call(a, &req, NULL));
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, buf, 32769, NULL);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_TOO_LARGE);
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, buf, 70000, NULL);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_TOO_LARGE);
	CHECK_OK(relay_client_send_raw(a, buf, 80000));
	CHECK_OK(relay_client_next_reply(a, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_TOO_LARGE);

	/* A broken file is refused whole: the running limits stay. */
	snprintf(path, sizeof path, "%s/halqad.conf", t.dir);
	f = fopen(path, "a");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("\n[limits]\nrequests_per_second = 99\nmax_frame = lots\n", f);
		fclose(f);
	}
	CHECK_OK(relay_test_kill(&t, SIGHUP));
	CHECK(wait_log(&t, "config refused"));
	steps_hello(&req);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.max_frame, 65536);
	CHECK(rep.u.ok.u.hello.requests_per_sec != 99);
out:
	free(buf);
	relay_client_free(a);
	steps_stop(&t);
}

static void test_malformed_ban(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	static const uint8_t junk[5] = {1, 2, 3, 4, 5};
	int answered = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK || steps_device(&t, &b) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_reconfigure(&t, a, "[limits]\nmalformed_before_ban = 3\nban = 1h\n"
					  "requests_per_second = 52\n",
				   52));
	for (int i = 0; i < 6; i++) {
		CHECK_OK(relay_client_send_raw(a, junk, sizeof junk));
	}
	while (relay_client_next_reply(a, &rep, 500) == HALQA_OK) {
		CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_BAD_REQUEST);
		answered++;
	}
	/* Three are answered (the allowance), the fourth bans: silence. */
	CHECK_INT_EQ(answered, 4);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(relay_client_ok(a, &req, &rep, NULL, 500), HALQA_ERR_NETWORK);
	CHECK_OK(relay_client_reconnect(a));
	CHECK_RC(relay_client_ok(a, &req, &rep, NULL, 500), HALQA_ERR_NETWORK);
	/* Everyone else is served. */
	CHECK_OK(steps_call(b, &req, NULL));
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

/*
 * A listener that never reads: once its queue passes the bound its listens
 * are dropped and a notice (ERR, request id 0, busy) is queued; the relay
 * keeps serving. The sender is unaffected.
 */
static void test_slow_listener(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *slow = NULL;
	struct steps_circle ci;
	static uint8_t body[16384];
	uint32_t ids[64];
	char out[4096];
	int status = -1, overflowed = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK || steps_device(&t, &slow) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_reconfigure(&t, a, "[limits]\nqueue_messages = 16\nqueue_bytes = 1M\n"
					  "requests_per_second = 5000\nrequests_burst = 100000\n"
					  "bytes_per_second = 1G\nbytes_burst = 1G\n"
					  "daily_bytes_per_device = 1G\n",
				   5000));
	CHECK_OK(steps_circle_new(a, &ci));
	steps_listen(&req, &ci, 0);
	CHECK_OK(steps_call(slow, &req, NULL));
	memset(body, 's', sizeof body);
	/* Enough 16 KiB pushes to fill the slow reader's socket buffers, the
	 * relay's libzmq pipe and then its bounded queue. */
	for (int round = 0; round < 200 && !overflowed; round++) {
		for (int i = 0; i < 64; i++) {
			steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, body, sizeof body, NULL);
			CHECK_OK(relay_client_send_request(a, &req, &ids[i]));
		}
		for (int i = 0; i < 64; i++) {
			CHECK_OK(relay_client_wait_reply(a, ids[i], &rep, STEPS_TIMEOUT_MS));
			CHECK_INT_EQ(rep.type, WIRE_OK);
		}
		CHECK_OK(relay_test_command(&t, "status", out, sizeof out, &status));
		overflowed = strstr(out, "overflows_total 0\n") == NULL;
	}
	CHECK(overflowed);
	CHECK(strstr(out, "listening_circles 0\n") != NULL);
	/* The slow reader, reading at last, finds pushes and then the notice. */
	{
		int notice = 0;
		for (int i = 0; i < 100000 && !notice; i++) {
			if (relay_client_next_reply(slow, &rep, 0) == HALQA_OK) {
				notice = rep.type == WIRE_ERR && rep.request_id == 0 &&
					 rep.u.err.code == WIRE_ERR_BUSY;
				continue;
			}
			if (relay_client_next_push(slow, &push, 2000) != HALQA_OK) {
				notice = relay_client_next_reply(slow, &rep, 2000) == HALQA_OK &&
					 rep.type == WIRE_ERR && rep.request_id == 0 &&
					 rep.u.err.code == WIRE_ERR_BUSY;
				break;
			}
		}
		CHECK(notice);
	}
	/* It can listen again. */
	steps_listen(&req, &ci, 0);
	CHECK_OK(steps_call(slow, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 0, "after", NULL));
	CHECK_OK(relay_client_next_push(slow, &push, STEPS_TIMEOUT_MS));
out:
	relay_client_free(a);
	relay_client_free(slow);
	steps_stop(&t);
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "slow") == 0) {
		RUN(test_slow_listener);
		return harness_report();
	}
	RUN(test_quotas);
	RUN(test_rate_limit);
	RUN(test_sizes_and_bad_reload);
	RUN(test_malformed_ban);
	RUN(test_slow_listener);
	return harness_report();
}
