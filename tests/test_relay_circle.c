/*
 * test_relay_circle.c: circles on the real halqad: create, send, fetch in
 * order, idempotent retries, two racing committers (exactly one wins, the
 * other gets stale-epoch), capabilities checked for the right sequence
 * ranges (wrong, stale, and a removed member's), pushes to listeners in
 * order, listeners dropped by an epoch-closing commit, and retention after
 * acknowledgements and after the maximum age (with --test-clock).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

static struct wire_msg req, rep, push;

static int start(struct relay_test *t, const char *args, struct relay_client **a,
		 struct relay_client **b)
{
	if (relay_test_start(t, args) != HALQA_OK) {
		CHECK(0);
		return -1;
	}
	if (steps_device(t, a) != HALQA_OK || steps_device(t, b) != HALQA_OK) {
		return -1;
	}
	return 0;
}

static void test_create_send_fetch(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci, other;
	uint64_t seq;
	char text[32];

	if (start(&t, NULL, &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	/* The same id again is refused, whoever asks. */
	other = ci;
	wire_msg_init(&req, WIRE_CIRCLE_CREATE, 1);
	memcpy(req.u.circle_create.circle_id, ci.id, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(req.u.circle_create.cap_hash, ci.caps[0]));
	CHECK_INT_EQ(steps_call(b, &req, NULL), WIRE_ERR_EXISTS);

	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof text, "message %d", i);
		CHECK_OK(steps_text_send(i % 2 ? a : b, &ci, 0, text, &seq));
		CHECK_INT_EQ(seq, i);
	}
	steps_fetch(&req, &ci, 0, 1, 100);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.epoch, 0);
	CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 0);
	CHECK_INT_EQ(rep.u.ok.u.fetch.first_seq, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 5);
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 5);
	for (int i = 0; i < 5 && i < rep.u.ok.u.fetch.num_msgs; i++) {
		snprintf(text, sizeof text, "message %d", i + 1);
		CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[i].seq, i + 1);
		CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[i].kind, WIRE_KIND_APPLICATION);
		CHECK_MEM_EQ(rep.u.ok.u.fetch.msgs[i].payload.data, rep.u.ok.u.fetch.msgs[i].payload.len,
			     (const uint8_t *)text, strlen(text));
	}
	/* from_seq and max_count. */
	steps_fetch(&req, &ci, 0, 3, 2);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 2);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[0].seq, 3);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[1].seq, 4);

	/* Wrong capability, unknown circle. */
	randombytes_buf(other.caps[0], WIRE_CAP_LEN);
	steps_fetch(&req, &other, 0, 1, 10);
	CHECK_INT_EQ(steps_call(b, &req, NULL), WIRE_ERR_DENIED);
	CHECK_INT_EQ(steps_text_send(b, &other, 0, "x", NULL), WIRE_ERR_DENIED);
	randombytes_buf(other.id, WIRE_ID_LEN);
	memcpy(other.caps[0], ci.caps[0], WIRE_CAP_LEN);
	steps_fetch(&req, &other, 0, 1, 10);
	CHECK_INT_EQ(steps_call(b, &req, NULL), WIRE_ERR_NOT_FOUND);
	CHECK_INT_EQ(steps_text_send(b, &other, 0, "x", NULL), WIRE_ERR_NOT_FOUND);
	/* An epoch that does not exist yet. */
	CHECK_INT_EQ(steps_text_send(b, &ci, 1, "x", NULL), WIRE_ERR_DENIED);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

static void test_idempotent_retry(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci;
	uint8_t id[WIRE_ID_LEN];
	static const uint8_t body[] = "once only";

	if (start(&t, NULL, &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	randombytes_buf(id, sizeof id);
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, body, sizeof body, id);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 1);
	CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 0);
	CHECK_OK(steps_text_send(b, &ci, 0, "between", NULL));
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, body, sizeof body, id);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 1);
	CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 1);

	/* A retried commit whose reply was lost still gets its seq, even
	 * though it closed the epoch. */
	randombytes_buf(id, sizeof id);
	steps_commit(&req, &ci, 0, body, sizeof body, id);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 3);
	steps_commit(&req, &ci, 0, body, sizeof body, id);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 3);
	CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 1);

	steps_fetch(&req, &ci, 0, 1, 100);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 3);
	CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 3);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

static void test_racing_commits(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ca, cb;
	static const uint8_t ca_body[] = "commit from a", cb_body[] = "commit from b";
	uint32_t ida = 0, idb = 0;
	int a_won, b_won;

	if (start(&t, NULL, &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ca));
	/* b knows epoch 0 but would move the group to its own epoch 1. */
	cb = ca;
	randombytes_buf(cb.caps[1], WIRE_CAP_LEN);

	steps_commit(&req, &ca, 0, ca_body, sizeof ca_body, NULL);
	CHECK_OK(relay_client_send_request(a, &req, &ida));
	steps_commit(&req, &cb, 0, cb_body, sizeof cb_body, NULL);
	CHECK_OK(relay_client_send_request(b, &req, &idb));

	CHECK_OK(relay_client_wait_reply(a, ida, &rep, STEPS_TIMEOUT_MS));
	a_won = rep.type == WIRE_OK;
	if (!a_won) {
		CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_STALE_EPOCH);
	}
	CHECK_OK(relay_client_wait_reply(b, idb, &rep, STEPS_TIMEOUT_MS));
	b_won = rep.type == WIRE_OK;
	if (!b_won) {
		CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_STALE_EPOCH);
	}
	CHECK_INT_EQ(a_won + b_won, 1);
	{
		struct steps_circle *win = a_won ? &ca : &cb, *lose = a_won ? &cb : &ca;
		struct relay_client *loser = a_won ? b : a;

		/* The loser's later application message for epoch 0 is stale too. */
		CHECK_INT_EQ(steps_text_send(loser, lose, 0, "late", NULL), WIRE_ERR_STALE_EPOCH);
		/* Its idea of epoch 1 opens nothing. */
		CHECK_INT_EQ(steps_text_send(loser, lose, 1, "fork", NULL), WIRE_ERR_DENIED);
		/* After syncing (fetch epoch 0, learn the winner's commit) it posts. */
		steps_fetch(&req, win, 0, 1, 10);
		CHECK_OK(steps_call(loser, &req, &rep));
		CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 1);
		CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 1);
		CHECK_MEM_EQ(rep.u.ok.u.fetch.msgs[0].payload.data,
			     rep.u.ok.u.fetch.msgs[0].payload.len, a_won ? ca_body : cb_body,
			     sizeof ca_body);
		CHECK_OK(steps_text_send(loser, win, 1, "synced", NULL));
	}
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

/*
 * Epoch 0: seqs 1, 2 and the commit 3. Epoch 1: 4, 5 and the commit 6 that
 * removes a member (who knows caps 0 and 1 only). Epoch 2: 7.
 */
static void test_capability_ranges(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *removed = NULL;
	struct steps_circle ci, known;
	uint8_t cursor[WIRE_ID_LEN];
	static const uint8_t body[] = "commit";

	if (start(&t, NULL, &a, &removed) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(steps_text_send(a, &ci, 0, "one", NULL));
	CHECK_OK(steps_text_send(removed, &ci, 0, "two", NULL));
	steps_commit(&req, &ci, 0, body, sizeof body, NULL);
	CHECK_OK(steps_call(a, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 1, "four", NULL));
	CHECK_OK(steps_text_send(removed, &ci, 1, "five", NULL));
	steps_commit(&req, &ci, 1, body, sizeof body, NULL);
	CHECK_OK(steps_call(a, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 2, "seven", NULL));

	known = ci;
	randombytes_buf(known.caps[2], WIRE_CAP_LEN); /* the removed member cannot compute it */

	steps_fetch(&req, &ci, 0, 1, 100);
	CHECK_OK(steps_call(removed, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 3);
	CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.first_seq, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 3);
	/* cap 0 never reads past its epoch, whatever from_seq says. */
	steps_fetch(&req, &ci, 0, 4, 100);
	CHECK_OK(steps_call(removed, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 0);
	/* The removed member reads the commit that removed it... */
	steps_fetch(&req, &ci, 1, 1, 100);
	CHECK_OK(steps_call(removed, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.epoch, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.first_seq, 4);
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 6);
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 3);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[0].seq, 4);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[2].seq, 6);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[2].kind, WIRE_KIND_COMMIT);
	/* ...and nothing after. */
	steps_fetch(&req, &known, 2, 7, 100);
	CHECK_INT_EQ(steps_call(removed, &req, NULL), WIRE_ERR_DENIED);
	steps_listen(&req, &ci, 1);
	CHECK_INT_EQ(steps_call(removed, &req, NULL), WIRE_ERR_STALE_EPOCH);
	CHECK_INT_EQ(steps_text_send(removed, &ci, 1, "still here?", NULL),
		     WIRE_ERR_STALE_EPOCH);
	steps_send(&req, &known, 2, WIRE_KIND_APPLICATION, body, sizeof body, NULL);
	CHECK_INT_EQ(steps_call(removed, &req, NULL), WIRE_ERR_DENIED);
	randombytes_buf(cursor, sizeof cursor);
	steps_ack(&req, &ci, 1, cursor, 7);
	CHECK_INT_EQ(steps_call(removed, &req, NULL), WIRE_ERR_DENIED);
	steps_ack(&req, &ci, 1, cursor, 6);
	CHECK_OK(steps_call(removed, &req, NULL));

	/* A current member reads epoch 2. */
	steps_fetch(&req, &ci, 2, 1, 100);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 1);
	CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[0].seq, 7);
	CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 0);
out:
	relay_client_free(a);
	relay_client_free(removed);
	steps_stop(&t);
}

static void test_listen_push(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci;
	static const uint8_t body[] = "commit";
	char text[32];

	if (start(&t, NULL, &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(steps_text_send(a, &ci, 0, "before listen", NULL));
	steps_listen(&req, &ci, 0);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.listen.epoch, 0);
	CHECK_INT_EQ(rep.u.ok.u.listen.last_seq, 1);
	/* A wrong capability cannot listen. */
	{
		struct steps_circle wrong = ci;
		randombytes_buf(wrong.caps[0], WIRE_CAP_LEN);
		steps_listen(&req, &wrong, 0);
		CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_DENIED);
	}

	for (int i = 0; i < 20; i++) {
		snprintf(text, sizeof text, "push %d", i);
		CHECK_OK(steps_text_send(a, &ci, 0, text, NULL));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(text, sizeof text, "push %d", i);
		CHECK_OK(relay_client_next_push(b, &push, STEPS_TIMEOUT_MS));
		CHECK_INT_EQ(push.type, WIRE_DELIVER);
		CHECK_MEM_EQ(push.u.deliver.circle_id, WIRE_ID_LEN, ci.id, WIRE_ID_LEN);
		CHECK_INT_EQ(push.u.deliver.seq, i + 2);
		CHECK_INT_EQ(push.u.deliver.epoch, 0);
		CHECK_INT_EQ(push.u.deliver.flags, 0);
		CHECK_MEM_EQ(push.u.deliver.payload.data, push.u.deliver.payload.len,
			     (const uint8_t *)text, strlen(text));
	}
	/* The sender does not listen, so it got no push. */
	CHECK_RC(relay_client_next_push(a, &push, 200), HALQA_ERR_NETWORK);

	/* The closing commit is pushed, flagged; then the listeners are gone. */
	steps_commit(&req, &ci, 0, body, sizeof body, NULL);
	CHECK_OK(steps_call(a, &req, NULL));
	CHECK_OK(relay_client_next_push(b, &push, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(push.u.deliver.seq, 22);
	CHECK_INT_EQ(push.u.deliver.kind, WIRE_KIND_COMMIT);
	CHECK_INT_EQ(push.u.deliver.flags, WIRE_DELIVER_EPOCH_CLOSED);
	CHECK_OK(steps_text_send(a, &ci, 1, "epoch one", NULL));
	CHECK_RC(relay_client_next_push(b, &push, 300), HALQA_ERR_NETWORK);

	/* Re-listening with the next capability resumes pushes. */
	steps_listen(&req, &ci, 1);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.listen.epoch, 1);
	CHECK_INT_EQ(rep.u.ok.u.listen.last_seq, 23);
	CHECK_OK(steps_text_send(a, &ci, 1, "heard", NULL));
	CHECK_OK(relay_client_next_push(b, &push, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(push.u.deliver.seq, 24);

	/* UNLISTEN stops them; unlistening twice is fine. */
	wire_msg_init(&req, WIRE_UNLISTEN, 1);
	memcpy(req.u.unlisten.circle_id, ci.id, WIRE_ID_LEN);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 1, "unheard", NULL));
	CHECK_RC(relay_client_next_push(b, &push, 300), HALQA_ERR_NETWORK);

	/* A reconnect forgets listens (they live only in memory, per connection). */
	steps_listen(&req, &ci, 1);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(relay_client_reconnect(b));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 1, "after reconnect", NULL));
	CHECK_RC(relay_client_next_push(b, &push, 300), HALQA_ERR_NETWORK);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

static long fetch_count(struct relay_client *c, const struct steps_circle *ci, uint64_t epoch,
			uint64_t *first)
{
	steps_fetch(&req, ci, epoch, 1, 100);
	if (steps_call(c, &req, &rep) != HALQA_OK) {
		return -1;
	}
	*first = rep.u.ok.u.fetch.num_msgs > 0 ? rep.u.ok.u.fetch.msgs[0].seq : 0;
	return rep.u.ok.u.fetch.num_msgs;
}

static void test_retention(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci;
	uint8_t cx[WIRE_ID_LEN], cy[WIRE_ID_LEN];
	char out[256];
	uint64_t first = 0;
	int status = -1;

	if (start(&t, "--test-clock", &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	for (int i = 0; i < 4; i++) {
		CHECK_OK(steps_text_send(a, &ci, 0, "retained", NULL));
	}
	randombytes_buf(cx, sizeof cx);
	randombytes_buf(cy, sizeof cy);
	steps_ack(&req, &ci, 0, cx, 4);
	CHECK_OK(steps_call(a, &req, NULL));
	steps_ack(&req, &ci, 0, cy, 2);
	CHECK_OK(steps_call(b, &req, NULL));
	/* An ack past the newest message is refused. */
	steps_ack(&req, &ci, 0, cy, 5);
	CHECK_INT_EQ(steps_call(b, &req, NULL), WIRE_ERR_DENIED);

	CHECK_OK(relay_test_command(&t, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	/* Both cursors read 1 and 2; only y holds 3 and 4 back. */
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 2);
	CHECK_INT_EQ(first, 3);

	steps_ack(&req, &ci, 0, cy, 4);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(relay_test_command(&t, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 0);
	/* The log's numbering survives deletion. */
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 4);

	/* Unread messages go once older than the maximum age (30 days). */
	CHECK_OK(steps_text_send(a, &ci, 0, "unread", NULL));
	CHECK_OK(relay_test_command(&t, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 1);
	CHECK_OK(relay_test_command(&t, "admin clock advance 29d", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_OK(relay_test_command(&t, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 1);
	CHECK_OK(relay_test_command(&t, "admin clock advance 2d", out, sizeof out, &status));
	CHECK_OK(relay_test_command(&t, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 0);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

/*
 * A COMMIT that fails (injected; a disk error would do the same) on the
 * relay's commit thread: the SEND is answered `internal`, nothing is
 * stored, the listener is told to fetch instead of being pushed a message
 * that does not exist, and the next turn works again.
 */
static void test_failed_commit(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci;
	char out[256];
	uint64_t seq = 0, first = 0;
	int status = -1;

	if (start(&t, "--test-faults", &a, &b) != 0) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	steps_listen(&req, &ci, 0);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(relay_test_command(&t, "admin fail commits 1", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_INT_EQ(steps_text_send(a, &ci, 0, "rolled back", NULL), WIRE_ERR_INTERNAL);
	CHECK_OK(relay_client_next_reply(b, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_ERR);
	CHECK_INT_EQ(rep.request_id, 0);
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_BUSY);
	CHECK_RC(relay_client_next_push(b, &push, 300), HALQA_ERR_NETWORK);
	CHECK_INT_EQ(fetch_count(b, &ci, 0, &first), 0);
	CHECK_INT_EQ(rep.u.ok.u.fetch.last_seq, 0);

	steps_listen(&req, &ci, 0);
	CHECK_OK(steps_call(b, &req, NULL));
	CHECK_OK(steps_text_send(a, &ci, 0, "kept", &seq));
	CHECK_INT_EQ(seq, 1);
	CHECK_OK(relay_client_next_push(b, &push, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(push.u.deliver.seq, 1);
	CHECK_MEM_EQ(push.u.deliver.payload.data, push.u.deliver.payload.len,
		     (const uint8_t *)"kept", 4);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

/* Without --test-clock the admin socket cannot move time. */
static void test_clock_needs_flag(void)
{
	struct relay_test t = {0};
	char out[256];
	int status = -1;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_command(&t, "admin clock advance 31d", out, sizeof out, &status));
	CHECK(status != 0);
	CHECK(strncmp(out, "error", 5) == 0);
	/* Nor make commits fail without --test-faults. */
	CHECK_OK(relay_test_command(&t, "admin fail commits 1", out, sizeof out, &status));
	CHECK(status != 0);
	CHECK(strncmp(out, "error", 5) == 0);
	steps_stop(&t);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_create_send_fetch);
	RUN(test_idempotent_retry);
	RUN(test_racing_commits);
	RUN(test_capability_ranges);
	RUN(test_listen_push);
	RUN(test_retention);
	RUN(test_failed_commit);
	RUN(test_clock_needs_flag);
	return harness_report();
}
