/*
 * test_zap.c: the ZAP handler's answers, driven over a real inproc REQ/REP
 * pair: registered keys get their Z85 key as user id, unknown keys a
 * "guest:" one, banned keys 400, and malformed requests (wrong version,
 * mechanism, key length, frame count) an answer rather than silence. Then
 * end to end: a CURVE ROUTER in the same context authenticates through it.
 */
#include "halqa/zap.h"

#include <sodium.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"

static uint8_t banned_key[32];
static uint8_t registered_key[32];

static enum zap_verdict lookup(void *ctx, const uint8_t key[32])
{
	(void)ctx;
	if (memcmp(key, banned_key, 32) == 0) {
		return ZAP_DENIED;
	}
	return memcmp(key, registered_key, 32) == 0 ? ZAP_REGISTERED : ZAP_GUEST;
}

/* ask sends |n| frames on |req|, serves one request, returns the reply frames. */
static void ask(void *req, void *rep, const char *const *frames, const size_t *lens, size_t n,
		char out[6][128])
{
	int more = 1;
	size_t i = 0;

	for (size_t k = 0; k < n; k++) {
		CHECK(zmq_send(req, frames[k], lens[k], k + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
	}
	/* inproc delivery is immediate once zmq_send returned. */
	CHECK_OK(zap_serve_one(rep, lookup, NULL));
	memset(out, 0, 6 * 128);
	while (more && i < 6) {
		size_t ml = sizeof more;
		int got = zmq_recv(req, out[i], 127, 0);
		CHECK(got >= 0);
		zmq_getsockopt(req, ZMQ_RCVMORE, &more, &ml);
		i++;
	}
	CHECK_INT_EQ(i, 6);
	CHECK(!more);
}

static void test_answers(void)
{
	void *ctx = zmq_ctx_new();
	void *rep = zmq_socket(ctx, ZMQ_REP);
	void *req = zmq_socket(ctx, ZMQ_REQ);
	uint8_t guest[32], key[32];
	char out[6][128], z85[41];
	int registered;
	const char *frames[7] = {"1.0", "id-1", "", "127.0.0.1", "rid", "CURVE", NULL};
	size_t lens[7] = {3, 4, 0, 9, 3, 5, 32};

	CHECK(zmq_bind(rep, "inproc://zap-test") == 0);
	CHECK(zmq_connect(req, "inproc://zap-test") == 0);
	CHECK_RC(zap_serve_one(rep, lookup, NULL), HALQA_ERR_NOT_FOUND);

	frames[6] = (const char *)registered_key;
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[0], "1.0") == 0 && strcmp(out[1], "id-1") == 0);
	CHECK(strcmp(out[2], "200") == 0);
	zmq_z85_encode(z85, registered_key, 32);
	CHECK(strcmp(out[4], z85) == 0);
	CHECK_OK(zap_user_id_parse(out[4], key, &registered));
	CHECK_INT_EQ(registered, 1);
	CHECK_MEM_EQ(key, 32, registered_key, 32);

	randombytes_buf(guest, sizeof guest);
	frames[6] = (const char *)guest;
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[2], "200") == 0);
	CHECK(strncmp(out[4], "guest:", 6) == 0);
	CHECK_OK(zap_user_id_parse(out[4], key, &registered));
	CHECK_INT_EQ(registered, 0);
	CHECK_MEM_EQ(key, 32, guest, 32);

	frames[6] = (const char *)banned_key;
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[2], "400") == 0);
	CHECK(strcmp(out[4], "") == 0);

	/* Malformed requests still get an answer (a silent REP would stall
	 * every later handshake). */
	frames[6] = (const char *)guest;
	frames[0] = "2.0";
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[2], "500") == 0);
	frames[0] = "1.0";
	frames[5] = "PLAIN";
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[2], "400") == 0);
	frames[5] = "CURVE";
	lens[6] = 31;
	ask(req, rep, frames, lens, 7, out);
	CHECK(strcmp(out[2], "400") == 0);
	lens[6] = 32;
	ask(req, rep, frames, lens, 6, out);
	CHECK(strcmp(out[2], "500") == 0);
	CHECK(strcmp(out[1], "id-1") == 0);

	CHECK_RC(zap_user_id_parse(NULL, key, &registered), HALQA_ERR_MALFORMED);
	CHECK_RC(zap_user_id_parse("guest:short", key, &registered), HALQA_ERR_MALFORMED);
	CHECK_RC(zap_user_id_parse("", key, &registered), HALQA_ERR_MALFORMED);

	zmq_close(req);
	zmq_close(rep);
	zmq_ctx_term(ctx);
}

/* A real CURVE handshake through the handler: guest user id seen by ROUTER. */
static void test_curve_end_to_end(void)
{
	void *ctx = zmq_ctx_new();
	void *zap = zmq_socket(ctx, ZMQ_REP);
	void *router = zmq_socket(ctx, ZMQ_ROUTER);
	void *dealer = zmq_socket(ctx, ZMQ_DEALER);
	uint8_t spub[32], ssec[32], cpub[32], csec[32], key[32];
	int one = 1, registered = -1, timeout = 50, delivered = 0;
	char buf[16];

	crypto_box_keypair(spub, ssec);
	crypto_box_keypair(cpub, csec);
	CHECK(zmq_bind(zap, ZAP_ENDPOINT) == 0);
	zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one);
	zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, ssec, 32);
	zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	CHECK(zmq_bind(router, "tcp://127.0.0.1:*") == 0);
	{
		char ep[128];
		size_t len = sizeof ep;
		zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
		zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, spub, 32);
		zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, cpub, 32);
		zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, csec, 32);
		CHECK(zmq_connect(dealer, ep) == 0);
	}
	CHECK(zmq_send(dealer, "hi", 2, 0) == 2);
	/* Serve ZAP and poll the router until the message arrives (bounded). */
	for (int i = 0; i < 200 && !delivered; i++) {
		zmq_msg_t id, body;
		int rc = zap_serve_one(zap, lookup, NULL);
		CHECK(rc == HALQA_OK || rc == HALQA_ERR_NOT_FOUND);
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, router, 0) >= 0 && zmq_msg_recv(&body, router, 0) >= 0) {
			CHECK_OK(zap_user_id_parse(zmq_msg_gets(&body, "User-Id"), key, &registered));
			memcpy(buf, zmq_msg_data(&body), 2);
			delivered = 1;
		}
		zmq_msg_close(&id);
		zmq_msg_close(&body);
	}
	CHECK(delivered);
	CHECK_INT_EQ(registered, 0);
	CHECK_MEM_EQ(key, 32, cpub, 32);
	zmq_close(dealer);
	zmq_close(router);
	zmq_close(zap);
	zmq_ctx_term(ctx);
	sodium_memzero(ssec, sizeof ssec);
	sodium_memzero(csec, sizeof csec);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	randombytes_buf(banned_key, sizeof banned_key);
	randombytes_buf(registered_key, sizeof registered_key);
	RUN(test_answers);
	RUN(test_curve_end_to_end);
	return harness_report();
}
