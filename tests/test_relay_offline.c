/*
 * test_relay_offline.c: relay_handle without ZeroMQ (the offline mode the
 * fuzz target uses): output appears only at relay_end_turn, after the
 * commit; a failed commit turns every reply of the turn into `internal`
 * and withholds its pushes; a guest key may only register; pushes reach a
 * listening connection id; hostile frames get error replies.
 */
#include "halqa/relay.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "halqa/wire.h"
#include "harness.h"

struct out_frame {
	uint8_t conn[8];
	size_t conn_len;
	uint8_t *data;
	size_t len;
};

/* Connection ids as libzmq assigns them: 0x00 and a 32-bit counter. */
#define CA "\0\0\0\0\1"
#define CB "\0\0\0\0\2"

static struct out_frame outs[64];
static size_t num_outs;
static struct wire_msg msg, got;

static void on_output(void *ctx, const uint8_t *conn_id, size_t conn_id_len, const uint8_t *frame,
		      size_t frame_len)
{
	(void)ctx;
	if (num_outs < 64 && conn_id_len <= 8) {
		memcpy(outs[num_outs].conn, conn_id, conn_id_len);
		outs[num_outs].conn_len = conn_id_len;
		outs[num_outs].data = malloc(frame_len);
		memcpy(outs[num_outs].data, frame, frame_len);
		outs[num_outs].len = frame_len;
		num_outs++;
	}
}

static void clear_outs(void)
{
	for (size_t i = 0; i < num_outs; i++) {
		free(outs[i].data);
	}
	num_outs = 0;
}

/* handle encodes |m| and hands it to the relay as connection |conn|. */
static void handle(struct relay *r, const uint8_t key[32], int registered, const char *conn,
		   const struct wire_msg *m)
{
	struct bytes_writer w;

	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	CHECK_OK(wire_encode(&w, m));
	CHECK_OK(relay_handle(r, key, registered, (const uint8_t *)conn, 5,
			      bytes_writer_data(&w), bytes_writer_len(&w)));
	bytes_writer_cleanup(&w);
}

/* decoded returns output |i| decoded into |got| (type 0 on failure). */
static const struct wire_msg *decoded(size_t i)
{
	memset(&got, 0, sizeof got);
	if (i >= num_outs || wire_decode(outs[i].data, outs[i].len, &got) != HALQA_OK) {
		got.type = 0;
	}
	return &got;
}

static void test_offline(void)
{
	char db[] = "/tmp/halqa-test-offline-XXXXXX";
	char path[256];
	struct relay_options opt;
	struct relay *r = NULL;
	uint8_t alice[32], bob[32], circle[WIRE_ID_LEN], cap[WIRE_CAP_LEN];
	int fd;

	fd = mkstemp(db);
	CHECK(fd >= 0);
	close(fd);
	unlink(db);
	snprintf(path, sizeof path, "%s", db);
	memset(&opt, 0, sizeof opt);
	relay_config_defaults(&opt.config);
	opt.config.mode = RELAY_MODE_OPEN;
	opt.output = on_output;
	opt.db_path = path;
	CHECK_OK(relay_new(&r, &opt));
	if (r == NULL) {
		return;
	}
	randombytes_buf(alice, sizeof alice);
	randombytes_buf(bob, sizeof bob);
	randombytes_buf(circle, sizeof circle);
	randombytes_buf(cap, sizeof cap);

	/* A guest may not create a circle; it may register (open mode). */
	wire_msg_init(&msg, WIRE_CIRCLE_CREATE, 5);
	memcpy(msg.u.circle_create.circle_id, circle, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(msg.u.circle_create.cap_hash, cap));
	handle(r, alice, 0, CA, &msg);
	CHECK_INT_EQ(num_outs, 0); /* nothing before the end of the turn */
	CHECK_OK(relay_end_turn(r));
	CHECK_INT_EQ(num_outs, 1);
	CHECK_INT_EQ(decoded(0)->type, WIRE_ERR);
	CHECK_INT_EQ(got.u.err.code, WIRE_ERR_NOT_REGISTERED);
	CHECK_INT_EQ(got.request_id, 5);
	clear_outs();

	wire_msg_init(&msg, WIRE_REGISTER, 6);
	handle(r, alice, 0, CA, &msg);
	handle(r, bob, 0, CB, &msg);
	wire_msg_init(&msg, WIRE_CIRCLE_CREATE, 7);
	memcpy(msg.u.circle_create.circle_id, circle, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(msg.u.circle_create.cap_hash, cap));
	/* Still flagged a guest by "ZAP", but registered in this turn. */
	handle(r, alice, 0, CA, &msg);
	wire_msg_init(&msg, WIRE_LISTEN, 8);
	memcpy(msg.u.listen.circle_id, circle, WIRE_ID_LEN);
	memcpy(msg.u.listen.cap, cap, WIRE_CAP_LEN);
	handle(r, bob, 1, CB, &msg);
	CHECK_OK(relay_end_turn(r));
	CHECK_INT_EQ(num_outs, 4);
	for (size_t i = 0; i < num_outs; i++) {
		CHECK_INT_EQ(decoded(i)->type, WIRE_OK);
	}
	clear_outs();

	/* A send: reply to alice, push to bob's connection. */
	wire_msg_init(&msg, WIRE_SEND, 9);
	memcpy(msg.u.send.circle_id, circle, WIRE_ID_LEN);
	msg.u.send.kind = WIRE_KIND_APPLICATION;
	memcpy(msg.u.send.cap, cap, WIRE_CAP_LEN);
	randombytes_buf(msg.u.send.client_msg_id, WIRE_ID_LEN);
	msg.u.send.payload.data = (const uint8_t *)"ciphertext";
	msg.u.send.payload.len = 10;
	handle(r, alice, 1, CA, &msg);
	CHECK_OK(relay_end_turn(r));
	CHECK_INT_EQ(num_outs, 2);
	CHECK_INT_EQ(decoded(0)->type, WIRE_OK);
	CHECK_INT_EQ(got.u.ok.u.send.seq, 1);
	CHECK_INT_EQ(decoded(1)->type, WIRE_DELIVER);
	CHECK_MEM_EQ(outs[1].conn, outs[1].conn_len, (const uint8_t *)CB, 5);
	CHECK_INT_EQ(got.u.deliver.seq, 1);
	clear_outs();

	/* A failed commit: the reply says internal, the push is withheld,
	 * and the message is not stored (a retry gets seq 2, not a duplicate). */
	relay_inject_commit_failure(r, 1);
	randombytes_buf(msg.u.send.client_msg_id, WIRE_ID_LEN);
	handle(r, alice, 1, CA, &msg);
	CHECK_RC(relay_end_turn(r), HALQA_ERR_IO);
	CHECK_INT_EQ(num_outs, 1);
	CHECK_INT_EQ(decoded(0)->type, WIRE_ERR);
	CHECK_INT_EQ(got.u.err.code, WIRE_ERR_INTERNAL);
	CHECK_INT_EQ(got.request_id, 9);
	clear_outs();
	handle(r, alice, 1, CA, &msg);
	CHECK_OK(relay_end_turn(r));
	CHECK_INT_EQ(decoded(0)->type, WIRE_OK);
	CHECK_INT_EQ(got.u.ok.u.send.seq, 2);
	CHECK_INT_EQ(got.u.ok.u.send.duplicate, 0);
	clear_outs();

	/* A connection id the peer chose cannot listen. */
	wire_msg_init(&msg, WIRE_LISTEN, 10);
	memcpy(msg.u.listen.circle_id, circle, WIRE_ID_LEN);
	memcpy(msg.u.listen.cap, cap, WIRE_CAP_LEN);
	{
		struct bytes_writer w;
		bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
		CHECK_OK(wire_encode(&w, &msg));
		CHECK_OK(relay_handle(r, bob, 1, (const uint8_t *)"mine", 4, bytes_writer_data(&w),
				      bytes_writer_len(&w)));
		/* Nor can another device on a connection id already bound to bob. */
		CHECK_OK(relay_handle(r, alice, 1, (const uint8_t *)CB, 5, bytes_writer_data(&w),
				      bytes_writer_len(&w)));
		bytes_writer_cleanup(&w);
	}
	CHECK_OK(relay_end_turn(r));
	CHECK_INT_EQ(num_outs, 2);
	CHECK_INT_EQ(decoded(0)->type, WIRE_ERR);
	CHECK_INT_EQ(got.u.err.code, WIRE_ERR_BAD_REQUEST);
	CHECK_INT_EQ(decoded(1)->type, WIRE_ERR);
	CHECK_INT_EQ(got.u.err.code, WIRE_ERR_BAD_REQUEST);
	clear_outs();

	/* Hostile bytes: an error reply, never a crash. */
	{
		static const uint8_t junk[] = {0x48, 0x51, 1, WIRE_SEND, 0, 0, 0, 3, 0xff};
		CHECK_OK(relay_handle(r, alice, 1, (const uint8_t *)CA, 5, junk, sizeof junk));
		CHECK_OK(relay_handle(r, alice, 1, (const uint8_t *)CA, 5, junk, 0));
		CHECK_OK(relay_end_turn(r));
		CHECK_INT_EQ(num_outs, 2);
		CHECK_INT_EQ(decoded(0)->type, WIRE_ERR);
		CHECK_INT_EQ(got.request_id, 3);
		CHECK_INT_EQ(decoded(1)->type, WIRE_ERR);
		clear_outs();
	}
	relay_free(r);
	unlink(path);
	snprintf(path, sizeof path, "%s-wal", db);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", db);
	unlink(path);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_offline);
	clear_outs();
	return harness_report();
}
