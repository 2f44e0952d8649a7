/*
 * test_wire.c: the client-relay wire format (wire.h).
 *
 * A sample of every message type (every OK result shape included) must
 * encode, decode and re-encode to the same bytes, with blobs borrowed from
 * the frame. Then hostile frames: each sample cut at every byte, with a
 * trailing byte, with an unknown version, type or magic, with oversize
 * fields and counts, out-of-range kinds, booleans and flags, control bytes
 * in text, and request ids where the rules forbid them. wire_reject must
 * turn each refusal into the right error code.
 *
 * With HALQA_WIRE_CORPUS_DIR set, the samples are also written there, one
 * file per sample: that is how tests/fuzz/corpus/wire/ was made.
 */
#include "harness.h"

#include "halqa/wire.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 40

static struct wire_msg samples[MAX_SAMPLES];
static const char *sample_names[MAX_SAMPLES];
static size_t num_samples;

static uint8_t payload_a[300];
static uint8_t payload_b[5];
static uint8_t big_payload[WIRE_MAX_PAYLOAD + 1];

static void fill_id(uint8_t *id, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		id[i] = (uint8_t)(seed + i * 7);
	}
}

static struct wire_msg *add(const char *name, uint8_t type, uint32_t id)
{
	struct wire_msg *m = &samples[num_samples];

	if (num_samples >= MAX_SAMPLES) {
		abort();
	}
	sample_names[num_samples++] = name;
	wire_msg_init(m, type, id);
	return m;
}

static struct wire_msg *add_ok(const char *name, uint8_t for_type)
{
	struct wire_msg *m = add(name, WIRE_OK, 0x01020304);

	m->u.ok.for_type = for_type;
	return m;
}

static void make_samples(void)
{
	struct wire_msg *m;
	size_t i;

	for (i = 0; i < sizeof payload_a; i++) {
		payload_a[i] = (uint8_t)(i * 13 + 1);
	}
	memcpy(payload_b, "hello", 5);
	num_samples = 0;

	m = add("hello", WIRE_HELLO, 1);
	m->u.hello.min_version = 1;
	m->u.hello.max_version = 1;
	add("ping", WIRE_PING, 2);
	m = add("register", WIRE_REGISTER, 3);
	strcpy(m->u.reg.invite, "HQ-7xk2-pq9w-3mzt");
	add("register-open", WIRE_REGISTER, 0xffffffffu);
	m = add("circle-create", WIRE_CIRCLE_CREATE, 4);
	fill_id(m->u.circle_create.circle_id, WIRE_ID_LEN, 1);
	fill_id(m->u.circle_create.cap_hash, WIRE_CAP_LEN, 2);
	m->u.circle_create.max_age = 30 * 86400;
	m = add("send-commit", WIRE_SEND, 5);
	fill_id(m->u.send.circle_id, WIRE_ID_LEN, 1);
	m->u.send.epoch = 7;
	m->u.send.kind = WIRE_KIND_COMMIT;
	fill_id(m->u.send.cap, WIRE_CAP_LEN, 3);
	fill_id(m->u.send.next_cap_hash, WIRE_CAP_LEN, 4);
	fill_id(m->u.send.client_msg_id, WIRE_ID_LEN, 5);
	m->u.send.payload = (struct wire_blob){payload_a, sizeof payload_a};
	m = add("send-application", WIRE_SEND, 6);
	fill_id(m->u.send.circle_id, WIRE_ID_LEN, 1);
	m->u.send.epoch = UINT64_MAX;
	m->u.send.kind = WIRE_KIND_APPLICATION;
	fill_id(m->u.send.cap, WIRE_CAP_LEN, 3);
	fill_id(m->u.send.client_msg_id, WIRE_ID_LEN, 6);
	m->u.send.payload = (struct wire_blob){payload_b, sizeof payload_b};
	m = add("send-proposal", WIRE_SEND, 7);
	m->u.send.kind = WIRE_KIND_PROPOSAL;
	m->u.send.payload = (struct wire_blob){payload_b, 1};
	m = add("listen", WIRE_LISTEN, 8);
	fill_id(m->u.listen.circle_id, WIRE_ID_LEN, 1);
	fill_id(m->u.listen.cap, WIRE_CAP_LEN, 3);
	m = add("unlisten", WIRE_UNLISTEN, 9);
	fill_id(m->u.unlisten.circle_id, WIRE_ID_LEN, 1);
	m = add("fetch", WIRE_FETCH, 10);
	fill_id(m->u.fetch.circle_id, WIRE_ID_LEN, 1);
	fill_id(m->u.fetch.cap, WIRE_CAP_LEN, 3);
	m->u.fetch.from_seq = 1;
	m->u.fetch.max_count = WIRE_MAX_FETCH_COUNT;
	m = add("ack", WIRE_ACK, 11);
	fill_id(m->u.ack.circle_id, WIRE_ID_LEN, 1);
	fill_id(m->u.ack.cursor_id, WIRE_ID_LEN, 9);
	fill_id(m->u.ack.cap, WIRE_CAP_LEN, 3);
	m->u.ack.seq = 42;
	m = add("mailbox-put", WIRE_MAILBOX_PUT, 12);
	fill_id(m->u.mailbox_put.mailbox_id, WIRE_ID_LEN, 10);
	m->u.mailbox_put.payload = (struct wire_blob){payload_a, 200};
	m = add("mailbox-fetch", WIRE_MAILBOX_FETCH, 13);
	fill_id(m->u.mailbox_fetch.mailbox_id, WIRE_ID_LEN, 10);
	m->u.mailbox_fetch.max_count = 1;
	m = add("mailbox-delete", WIRE_MAILBOX_DELETE, 14);
	fill_id(m->u.mailbox_delete.mailbox_id, WIRE_ID_LEN, 10);
	m->u.mailbox_delete.num_ids = 3;
	m->u.mailbox_delete.ids[0] = 1;
	m->u.mailbox_delete.ids[1] = 99;
	m->u.mailbox_delete.ids[2] = UINT64_MAX;
	m = add("kp-publish", WIRE_KP_PUBLISH, 15);
	fill_id(m->u.kp_publish.dir_id, WIRE_ID_LEN, 11);
	m->u.kp_publish.num_packages = 2;
	m->u.kp_publish.packages[0] = (struct wire_blob){payload_a, 100};
	m->u.kp_publish.packages[1] = (struct wire_blob){payload_a + 100, 150};
	m->u.kp_publish.has_last_resort = 1;
	m->u.kp_publish.last_resort = (struct wire_blob){payload_b, 5};
	m = add("kp-publish-last-resort-only", WIRE_KP_PUBLISH, 16);
	m->u.kp_publish.has_last_resort = 1;
	m->u.kp_publish.last_resort = (struct wire_blob){payload_b, 5};
	m = add("kp-claim", WIRE_KP_CLAIM, 17);
	fill_id(m->u.kp_dir.dir_id, WIRE_ID_LEN, 11);
	m = add("kp-count", WIRE_KP_COUNT, 18);
	fill_id(m->u.kp_dir.dir_id, WIRE_ID_LEN, 11);

	m = add_ok("ok-hello", WIRE_HELLO);
	m->u.ok.u.hello = (struct wire_hello_ok){
		.version = 1,
		.registered = 1,
		.max_frame = WIRE_MAX_FRAME,
		.max_payload = WIRE_MAX_PAYLOAD,
		.max_fetch_count = 100,
		.max_mailbox_fetch = 16,
		.max_kp_batch = 32,
		.max_delete_ids = 64,
		.requests_per_sec = 200,
		.kp_claims_per_min = 10,
		.max_circles = 50,
		.bytes_per_day = 100ull * 1024 * 1024,
		.default_max_age = 30 * 86400,
	};
	add_ok("ok-ping", WIRE_PING);
	add_ok("ok-register", WIRE_REGISTER);
	add_ok("ok-circle-create", WIRE_CIRCLE_CREATE);
	add_ok("ok-unlisten", WIRE_UNLISTEN);
	add_ok("ok-ack", WIRE_ACK);
	add_ok("ok-mailbox-put", WIRE_MAILBOX_PUT);
	m = add_ok("ok-send", WIRE_SEND);
	m->u.ok.u.send.seq = 12345;
	m->u.ok.u.send.duplicate = 1;
	m = add_ok("ok-listen", WIRE_LISTEN);
	m->u.ok.u.listen.epoch = 3;
	m->u.ok.u.listen.last_seq = 77;
	m = add_ok("ok-fetch", WIRE_FETCH);
	m->u.ok.u.fetch.epoch = 2;
	m->u.ok.u.fetch.closed = 1;
	m->u.ok.u.fetch.first_seq = 10;
	m->u.ok.u.fetch.last_seq = 12;
	m->u.ok.u.fetch.num_msgs = 3;
	for (i = 0; i < 3; i++) {
		m->u.ok.u.fetch.msgs[i].seq = 10 + i;
		m->u.ok.u.fetch.msgs[i].kind = (uint8_t)(i == 2 ? WIRE_KIND_COMMIT
								 : WIRE_KIND_APPLICATION);
		m->u.ok.u.fetch.msgs[i].payload = (struct wire_blob){payload_a + i, 20 + i};
	}
	m = add_ok("ok-fetch-empty", WIRE_FETCH);
	m->u.ok.u.fetch.first_seq = 1;
	m->u.ok.u.fetch.last_seq = 0;
	m = add_ok("ok-mailbox-fetch", WIRE_MAILBOX_FETCH);
	m->u.ok.u.mailbox_fetch.num_items = 2;
	m->u.ok.u.mailbox_fetch.items[0] = (struct wire_mailbox_item){5, {payload_a, 40}};
	m->u.ok.u.mailbox_fetch.items[1] = (struct wire_mailbox_item){6, {payload_b, 5}};
	m = add_ok("ok-mailbox-delete", WIRE_MAILBOX_DELETE);
	m->u.ok.u.mailbox_delete.deleted = 2;
	m = add_ok("ok-kp-publish", WIRE_KP_PUBLISH);
	m->u.ok.u.kp_publish.one_time = 64;
	m = add_ok("ok-kp-claim", WIRE_KP_CLAIM);
	m->u.ok.u.kp_claim.last_resort = 1;
	m->u.ok.u.kp_claim.package = (struct wire_blob){payload_a, 250};
	m = add_ok("ok-kp-count", WIRE_KP_COUNT);
	m->u.ok.u.kp_count.one_time = 7;
	m->u.ok.u.kp_count.has_last_resort = 1;

	m = add("err", WIRE_ERR, 19);
	m->u.err.code = WIRE_ERR_STALE_EPOCH;
	strcpy(m->u.err.reason, "stale-epoch: epoch 7 is closed");
	m = add("err-no-id", WIRE_ERR, 0);
	m->u.err.code = WIRE_ERR_BAD_REQUEST;
	m = add("deliver", WIRE_DELIVER, 0);
	fill_id(m->u.deliver.circle_id, WIRE_ID_LEN, 1);
	m->u.deliver.seq = 1;
	m->u.deliver.epoch = 0;
	m->u.deliver.kind = WIRE_KIND_APPLICATION;
	m->u.deliver.payload = (struct wire_blob){payload_a, 256};
	m = add("deliver-epoch-closed", WIRE_DELIVER, 0);
	fill_id(m->u.deliver.circle_id, WIRE_ID_LEN, 1);
	m->u.deliver.seq = 9;
	m->u.deliver.epoch = 4;
	m->u.deliver.kind = WIRE_KIND_COMMIT;
	m->u.deliver.flags = WIRE_DELIVER_EPOCH_CLOSED;
	m->u.deliver.payload = (struct wire_blob){payload_a, 64};
}

/* encode encodes |m| into a fresh heap buffer; aborts the test on failure. */
static int encode(const struct wire_msg *m, uint8_t **out, size_t *out_len)
{
	struct bytes_writer w;
	int rc;

	*out = NULL;
	*out_len = 0;
	bytes_writer_init(&w, WIRE_MAX_FRAME + 64, 0);
	if ((rc = wire_encode(&w, m)) != HALQA_OK) {
		bytes_writer_cleanup(&w);
		return rc;
	}
	return bytes_writer_finish(&w, out, out_len);
}

/* blob_inside checks that a decoded blob borrows from |buf|. */
static int blob_inside(const struct wire_blob *b, const uint8_t *buf, size_t len)
{
	uintptr_t p = (uintptr_t)b->data, s = (uintptr_t)buf;

	return b->len > 0 && p >= s && p - s <= len && b->len <= len - (p - s);
}

static struct wire_msg decoded;

static void test_round_trip(void)
{
	size_t i, seen_types = 0;
	uint8_t types_seen[256] = {0};

	make_samples();
	for (i = 0; i < num_samples; i++) {
		uint8_t *buf = NULL, *again = NULL;
		size_t len = 0, again_len = 0;

		CHECK_OK(encode(&samples[i], &buf, &len));
		if (buf == NULL) {
			harness_fail(__FILE__, __LINE__, "sample %s does not encode", sample_names[i]);
			continue;
		}
		CHECK_OK(wire_decode(buf, len, &decoded));
		CHECK_INT_EQ(decoded.type, samples[i].type);
		CHECK_INT_EQ(decoded.version, WIRE_VERSION_MAX);
		CHECK_INT_EQ(decoded.request_id, samples[i].request_id);
		CHECK_OK(encode(&decoded, &again, &again_len));
		CHECK_MEM_EQ(again, again_len, buf, len);
		if (!types_seen[samples[i].type]) {
			types_seen[samples[i].type] = 1;
			seen_types++;
		}
		if (decoded.type == WIRE_SEND) {
			CHECK(blob_inside(&decoded.u.send.payload, buf, len));
			CHECK_MEM_EQ(decoded.u.send.payload.data, decoded.u.send.payload.len,
				     samples[i].u.send.payload.data, samples[i].u.send.payload.len);
		}
		wire_msg_cleanup(&decoded);
		free(buf);
		free(again);
	}
	/* 15 requests + OK + ERR + DELIVER. */
	CHECK_INT_EQ(seen_types, 18);
}

static void test_fields_survive(void)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	const struct wire_fetch_ok *f;

	make_samples();
	/* sample "ok-fetch" */
	for (size_t i = 0; i < num_samples; i++) {
		if (strcmp(sample_names[i], "ok-fetch") != 0) {
			continue;
		}
		CHECK_OK(encode(&samples[i], &buf, &len));
		CHECK_OK(wire_decode(buf, len, &decoded));
		f = &decoded.u.ok.u.fetch;
		CHECK_INT_EQ(decoded.u.ok.for_type, WIRE_FETCH);
		CHECK_INT_EQ(f->epoch, 2);
		CHECK_INT_EQ(f->closed, 1);
		CHECK_INT_EQ(f->first_seq, 10);
		CHECK_INT_EQ(f->last_seq, 12);
		CHECK_INT_EQ(f->num_msgs, 3);
		CHECK_INT_EQ(f->msgs[2].seq, 12);
		CHECK_INT_EQ(f->msgs[2].kind, WIRE_KIND_COMMIT);
		CHECK_MEM_EQ(f->msgs[1].payload.data, f->msgs[1].payload.len, payload_a + 1, 21);
		CHECK(blob_inside(&f->msgs[1].payload, buf, len));
		CHECK_INT_EQ(len, WIRE_FETCH_OK_OVERHEAD + 3 * WIRE_FETCH_ITEM_OVERHEAD + 20 + 21 + 22);
		free(buf);
		buf = NULL;
	}
	/* A non-commit SEND carries no next_cap_hash: it decodes as zero. */
	for (size_t i = 0; i < num_samples; i++) {
		if (strcmp(sample_names[i], "send-application") != 0) {
			continue;
		}
		CHECK_OK(encode(&samples[i], &buf, &len));
		CHECK_INT_EQ(len, WIRE_HEADER_LEN + 16 + 8 + 1 + 32 + 16 + 4 + 5);
		CHECK_OK(wire_decode(buf, len, &decoded));
		CHECK_INT_EQ(decoded.u.send.epoch, UINT64_MAX);
		for (size_t j = 0; j < WIRE_CAP_LEN; j++) {
			CHECK_INT_EQ(decoded.u.send.next_cap_hash[j], 0);
		}
		free(buf);
		buf = NULL;
	}
	wire_msg_cleanup(&decoded);
}

static void test_truncation_and_trailing(void)
{
	size_t i, cut;

	make_samples();
	for (i = 0; i < num_samples; i++) {
		uint8_t *buf = NULL, *longer;
		size_t len = 0;

		CHECK_OK(encode(&samples[i], &buf, &len));
		if (buf == NULL) {
			continue;
		}
		for (cut = 0; cut < len; cut++) {
			int rc = wire_decode(buf, cut, &decoded);

			if (rc != HALQA_ERR_TRUNCATED) {
				harness_fail(__FILE__, __LINE__, "%s cut at %zu: %s", sample_names[i],
					     cut, halqa_errname(rc));
			}
			CHECK_INT_EQ(decoded.type, 0);
		}
		longer = malloc(len + 1);
		memcpy(longer, buf, len);
		longer[len] = 0;
		CHECK_RC(wire_decode(longer, len + 1, &decoded), HALQA_ERR_MALFORMED);
		free(longer);
		free(buf);
	}
}

/* encode_sample encodes the named sample; the test fails if it is missing. */
static uint8_t *encode_sample(const char *name, size_t *len)
{
	uint8_t *buf = NULL;

	make_samples();
	for (size_t i = 0; i < num_samples; i++) {
		if (strcmp(sample_names[i], name) == 0) {
			CHECK_OK(encode(&samples[i], &buf, len));
			return buf;
		}
	}
	abort();
}

static void test_header(void)
{
	struct wire_msg reply;
	struct wire_header h;
	size_t len;
	uint8_t *buf = encode_sample("ping", &len);

	CHECK_INT_EQ(len, WIRE_HEADER_LEN);
	CHECK_OK(wire_peek_header(buf, len, &h));
	CHECK_INT_EQ(h.request_id, 2);

	/* An unknown version: refused, answered with unsupported-version in v1. */
	buf[2] = 2;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_UNSUPPORTED);
	wire_reject(buf, len, HALQA_ERR_UNSUPPORTED, &reply);
	CHECK_INT_EQ(reply.type, WIRE_ERR);
	CHECK_INT_EQ(reply.version, WIRE_VERSION_MIN);
	CHECK_INT_EQ(reply.request_id, 2);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_UNSUPPORTED_VERSION);
	CHECK(strcmp(reply.u.err.reason, "unsupported-version") == 0);
	buf[2] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_UNSUPPORTED);
	buf[2] = 1;

	/* An unknown type. */
	buf[3] = 0x7f;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_UNSUPPORTED);
	wire_reject(buf, len, HALQA_ERR_UNSUPPORTED, &reply);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_UNKNOWN_TYPE);
	CHECK_INT_EQ(reply.request_id, 2);
	buf[3] = 0x00;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_UNSUPPORTED);
	/* A relay-to-client type sent as a request decodes but is no request. */
	CHECK(!wire_is_request(WIRE_OK) && !wire_is_request(WIRE_DELIVER));
	buf[3] = WIRE_PING;

	/* Bad magic. */
	buf[0] = 'h';
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	CHECK_RC(wire_peek_header(buf, len, &h), HALQA_ERR_MALFORMED);
	wire_reject(buf, len, HALQA_ERR_MALFORMED, &reply);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_BAD_REQUEST);
	CHECK_INT_EQ(reply.request_id, 0);
	buf[0] = WIRE_MAGIC0;

	/* Request id 0 is reserved for pushes. */
	buf[4] = buf[5] = buf[6] = buf[7] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	wire_reject(buf, len, HALQA_ERR_MALFORMED, &reply);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_BAD_REQUEST);
	free(buf);

	/* A DELIVER with a request id is refused. */
	buf = encode_sample("deliver", &len);
	buf[7] = 1;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* The header of a reply to an unreadable frame still encodes. */
	wire_reject(NULL, 0, HALQA_ERR_TRUNCATED, &reply);
	CHECK_INT_EQ(reply.request_id, 0);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_BAD_REQUEST);
	{
		uint8_t *enc = NULL;
		size_t enc_len = 0;

		CHECK_OK(encode(&reply, &enc, &enc_len));
		CHECK_OK(wire_decode(enc, enc_len, &decoded));
		CHECK_INT_EQ(decoded.u.err.code, WIRE_ERR_BAD_REQUEST);
		free(enc);
	}
}

static void test_oversize(void)
{
	struct wire_msg m, reply;
	uint8_t *buf = NULL, *frame;
	size_t len = 0;

	/* Payload one byte over the bound: the encoder refuses to send it... */
	wire_msg_init(&m, WIRE_SEND, 1);
	m.u.send.kind = WIRE_KIND_APPLICATION;
	m.u.send.payload = (struct wire_blob){big_payload, WIRE_MAX_PAYLOAD + 1};
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_TOO_LARGE);
	/* ...and exactly the bound is fine. */
	m.u.send.payload.len = WIRE_MAX_PAYLOAD;
	CHECK_OK(encode(&m, &buf, &len));
	CHECK_OK(wire_decode(buf, len, &decoded));
	CHECK_INT_EQ(decoded.u.send.payload.len, WIRE_MAX_PAYLOAD);
	/* ...the decoder refuses a length field one over, before reading on. */
	{
		size_t off = WIRE_HEADER_LEN + 16 + 8 + 1 + 32 + 16;
		uint32_t n = WIRE_MAX_PAYLOAD + 1;

		buf[off] = (uint8_t)(n >> 24);
		buf[off + 1] = (uint8_t)(n >> 16);
		buf[off + 2] = (uint8_t)(n >> 8);
		buf[off + 3] = (uint8_t)n;
		CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_TOO_LARGE);
		wire_reject(buf, len, HALQA_ERR_TOO_LARGE, &reply);
		CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_TOO_LARGE);
		CHECK_INT_EQ(reply.request_id, 1);
		/* An empty payload is not a message. */
		buf[off] = buf[off + 1] = buf[off + 2] = buf[off + 3] = 0;
		CHECK_RC(wire_decode(buf, off + 4, &decoded), HALQA_ERR_MALFORMED);
	}
	free(buf);
	buf = NULL;
	m.u.send.payload.len = 0;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_INVALID);

	/* A frame over WIRE_MAX_FRAME is refused whatever it holds. */
	frame = calloc(1, WIRE_MAX_FRAME + 1);
	frame[0] = WIRE_MAGIC0;
	frame[1] = WIRE_MAGIC1;
	frame[2] = 1;
	frame[3] = WIRE_PING;
	frame[7] = 9;
	CHECK_RC(wire_decode(frame, WIRE_MAX_FRAME + 1, &decoded), HALQA_ERR_TOO_LARGE);
	wire_reject(frame, WIRE_MAX_FRAME + 1, HALQA_ERR_TOO_LARGE, &reply);
	CHECK_INT_EQ(reply.u.err.code, WIRE_ERR_TOO_LARGE);
	CHECK_INT_EQ(reply.request_id, 9);
	free(frame);

	/* Counts over their bounds. */
	wire_msg_init(&m, WIRE_FETCH, 1);
	m.u.fetch.max_count = WIRE_MAX_FETCH_COUNT + 1;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_TOO_LARGE);
	m.u.fetch.max_count = 0;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_INVALID);
	buf = encode_sample("fetch", &len);
	buf[len - 2] = (uint8_t)((WIRE_MAX_FETCH_COUNT + 1) >> 8);
	buf[len - 1] = (uint8_t)(WIRE_MAX_FETCH_COUNT + 1);
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_TOO_LARGE);
	buf[len - 2] = buf[len - 1] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	wire_msg_init(&m, WIRE_MAILBOX_DELETE, 1);
	m.u.mailbox_delete.num_ids = WIRE_MAX_DELETE_IDS + 1;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_TOO_LARGE);
	buf = encode_sample("mailbox-delete", &len);
	buf[WIRE_HEADER_LEN + 16] = 0;
	buf[WIRE_HEADER_LEN + 17] = WIRE_MAX_DELETE_IDS + 1;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_TOO_LARGE);
	free(buf);

	wire_msg_init(&m, WIRE_KP_PUBLISH, 1);
	m.u.kp_publish.num_packages = WIRE_MAX_KP_BATCH + 1;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_TOO_LARGE);
	m.u.kp_publish.num_packages = 1;
	m.u.kp_publish.packages[0] = (struct wire_blob){big_payload, WIRE_MAX_KP_LEN + 1};
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_TOO_LARGE);
	m.u.kp_publish.num_packages = 0;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_INVALID);
	buf = encode_sample("kp-publish", &len);
	buf[WIRE_HEADER_LEN + 16] = 0;
	buf[WIRE_HEADER_LEN + 17] = WIRE_MAX_KP_BATCH + 1;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_TOO_LARGE);
	free(buf);

	/* Invite and reason strings over their bounds. */
	wire_msg_init(&m, WIRE_REGISTER, 1);
	memset(m.u.reg.invite, 'a', WIRE_MAX_INVITE);
	CHECK_OK(encode(&m, &buf, &len));
	free(buf);
	buf = NULL;
	{
		uint8_t frame2[WIRE_HEADER_LEN + 1 + WIRE_MAX_INVITE + 1];

		memset(frame2, 'a', sizeof frame2);
		frame2[0] = WIRE_MAGIC0;
		frame2[1] = WIRE_MAGIC1;
		frame2[2] = 1;
		frame2[3] = WIRE_REGISTER;
		frame2[4] = frame2[5] = frame2[6] = 0;
		frame2[7] = 1;
		frame2[8] = WIRE_MAX_INVITE + 1;
		CHECK_RC(wire_decode(frame2, sizeof frame2, &decoded), HALQA_ERR_TOO_LARGE);
		frame2[8] = WIRE_MAX_INVITE;
		CHECK_RC(wire_decode(frame2, sizeof frame2 - 1, &decoded), HALQA_OK);
		/* A space or control byte in an invite is refused. */
		frame2[12] = ' ';
		CHECK_RC(wire_decode(frame2, sizeof frame2 - 1, &decoded), HALQA_ERR_MALFORMED);
	}
	wire_msg_init(&m, WIRE_ERR, 1);
	m.u.err.code = WIRE_ERR_INTERNAL;
	memset(m.u.err.reason, 'x', WIRE_MAX_REASON);
	CHECK_OK(encode(&m, &buf, &len));
	free(buf);
	buf = NULL;
	wire_msg_cleanup(&decoded);
}

static void test_bad_values(void)
{
	struct wire_msg m;
	uint8_t *buf;
	size_t len;
	const size_t kind_off = WIRE_HEADER_LEN + 16 + 8;

	/* SEND kinds outside 1..3. */
	buf = encode_sample("send-application", &len);
	buf[kind_off] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[kind_off] = 4;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	/* Relabelled as a commit it lacks 32 bytes of next_cap_hash: refused. */
	buf[kind_off] = WIRE_KIND_COMMIT;
	CHECK(wire_decode(buf, len, &decoded) != HALQA_OK);
	free(buf);
	wire_msg_init(&m, WIRE_SEND, 1);
	m.u.send.kind = 9;
	m.u.send.payload = (struct wire_blob){payload_b, 1};
	uint8_t *out = NULL;
	size_t out_len = 0;
	CHECK_RC(encode(&m, &out, &out_len), HALQA_ERR_INVALID);

	/* DELIVER: bad kind, unknown flag, epoch-closed on a non-commit. */
	buf = encode_sample("deliver", &len);
	buf[WIRE_HEADER_LEN + 32] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 32] = WIRE_KIND_APPLICATION;
	buf[WIRE_HEADER_LEN + 33] = 0x02;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 33] = WIRE_DELIVER_EPOCH_CLOSED;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 32] = WIRE_KIND_COMMIT;
	CHECK_OK(wire_decode(buf, len, &decoded));
	free(buf);

	/* Booleans other than 0 and 1. */
	buf = encode_sample("ok-kp-count", &len);
	buf[len - 1] = 2;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);
	buf = encode_sample("ok-send", &len);
	buf[len - 1] = 0xff;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* An OK for a type that is no request. */
	buf = encode_sample("ok-ping", &len);
	buf[WIRE_HEADER_LEN] = WIRE_DELIVER;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* HELLO with an inverted range or version 0. */
	buf = encode_sample("hello", &len);
	buf[WIRE_HEADER_LEN] = 2;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* A relay's limits beyond the protocol's are refused. */
	buf = encode_sample("ok-hello", &len);
	buf[WIRE_HEADER_LEN + 1 + 2 + 4] = 0x7f; /* max_payload high byte */
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* ACK of seq 0 registers a cursor in epoch 0: allowed. */
	buf = encode_sample("ack", &len);
	memset(buf + len - 8, 0, 8);
	CHECK_OK(wire_decode(buf, len, &decoded));
	CHECK_INT_EQ(decoded.u.ack.seq, 0);
	free(buf);
	/* An ERR with code 0. */
	buf = encode_sample("err", &len);
	buf[WIRE_HEADER_LEN] = buf[WIRE_HEADER_LEN + 1] = 0;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);

	/* FETCH reply whose range is inverted, or starts at 0. */
	buf = encode_sample("ok-fetch-empty", &len);
	buf[WIRE_HEADER_LEN + 1 + 8 + 1 + 7] = 5; /* first_seq = 5, last_seq = 0 */
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 1 + 8 + 1 + 7] = 0; /* first_seq = 0 */
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	/* first_seq = 1, last_seq = UINT64_MAX: a valid range, no overflow. */
	buf[WIRE_HEADER_LEN + 1 + 8 + 1 + 7] = 1;
	memset(buf + WIRE_HEADER_LEN + 1 + 8 + 1 + 8, 0xff, 8);
	CHECK_OK(wire_decode(buf, len, &decoded));
	free(buf);
	wire_msg_cleanup(&decoded);
}

static void test_reason_text(void)
{
	struct wire_msg m;
	uint8_t *buf;
	size_t len;

	/* Control bytes (a terminal escape, a newline) are refused both ways. */
	buf = encode_sample("err", &len);
	buf[WIRE_HEADER_LEN + 3] = 0x1b;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 3] = 0x7f;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	buf[WIRE_HEADER_LEN + 3] = 0x80;
	CHECK_RC(wire_decode(buf, len, &decoded), HALQA_ERR_MALFORMED);
	free(buf);
	wire_msg_init(&m, WIRE_ERR, 1);
	m.u.err.code = 1;
	strcpy(m.u.err.reason, "line\nbreak");
	buf = NULL;
	CHECK_RC(encode(&m, &buf, &len), HALQA_ERR_INVALID);

	/* wire_set_err sanitises and truncates instead. */
	{
		char longer[300];

		memset(longer, 'y', sizeof longer - 1);
		longer[sizeof longer - 1] = '\0';
		longer[3] = '\n';
		wire_set_err(&m, 5, WIRE_ERR_DENIED, longer);
		CHECK_INT_EQ(strlen(m.u.err.reason), WIRE_MAX_REASON);
		CHECK_INT_EQ(m.u.err.reason[3], '?');
		CHECK_OK(encode(&m, &buf, &len));
		free(buf);
		wire_set_err(&m, 5, 0, NULL);
		CHECK_INT_EQ(m.u.err.code, WIRE_ERR_INTERNAL);
		CHECK_INT_EQ(m.u.err.reason[0], '\0');
	}
}

static void test_names(void)
{
	uint16_t c;
	size_t i;

	for (c = 1; c <= WIRE_ERR_CODE_MAX; c++) {
		CHECK(strcmp(wire_err_name(c), "unknown") != 0);
		for (uint16_t d = 1; d < c; d++) {
			CHECK(strcmp(wire_err_name(c), wire_err_name(d)) != 0);
		}
	}
	CHECK(strcmp(wire_err_name(0), "unknown") == 0);
	CHECK(strcmp(wire_err_name(WIRE_ERR_CODE_MAX + 1), "unknown") == 0);
	CHECK(strcmp(wire_err_name(WIRE_ERR_STALE_EPOCH), "stale-epoch") == 0);
	CHECK_INT_EQ(wire_err_to_halqa(WIRE_ERR_STALE_EPOCH), HALQA_ERR_STALE);
	CHECK_INT_EQ(wire_err_to_halqa(WIRE_ERR_DENIED), HALQA_ERR_DENIED);
	CHECK_INT_EQ(wire_err_to_halqa(999), HALQA_ERR_NETWORK);
	make_samples();
	for (i = 0; i < num_samples; i++) {
		CHECK(strcmp(wire_type_name(samples[i].type), "unknown") != 0);
	}
	CHECK(strcmp(wire_type_name(0x7f), "unknown") == 0);
}

static void test_cap_hash(void)
{
	uint8_t cap[32], out[32], direct[32], *want;
	uint8_t concat[12 + 32];
	size_t want_len, i;

	for (i = 0; i < 32; i++) {
		cap[i] = (uint8_t)i;
	}
	/* Computed independently: sha256(b"halqa cap v1" + bytes(range(32))). */
	want = harness_hex("9196a8de9db486500f048b1e07a0371b1b2ddaa2d661ba7c2e5bc86c01d99e64",
			   &want_len);
	CHECK_OK(wire_cap_hash(out, cap));
	CHECK_MEM_EQ(out, sizeof out, want, want_len);
	memcpy(concat, "halqa cap v1", 12);
	memcpy(concat + 12, cap, 32);
	crypto_hash_sha256(direct, concat, sizeof concat);
	CHECK_MEM_EQ(out, sizeof out, direct, sizeof direct);
	cap[0] ^= 1;
	CHECK_OK(wire_cap_hash(out, cap));
	CHECK(memcmp(out, want, 32) != 0);
	free(want);
}

static void test_cleanup_wipes(void)
{
	uint8_t *buf;
	size_t len, i;
	int nonzero = 0;

	buf = encode_sample("send-commit", &len);
	CHECK_OK(wire_decode(buf, len, &decoded));
	wire_msg_cleanup(&decoded);
	for (i = 0; i < WIRE_CAP_LEN; i++) {
		nonzero |= decoded.u.send.cap[i];
	}
	CHECK_INT_EQ(nonzero, 0);
	CHECK_INT_EQ(decoded.type, 0);
	free(buf);
}

/* Writes every sample to $HALQA_WIRE_CORPUS_DIR (the fuzz seed corpus). */
static void write_corpus(void)
{
	const char *dir = getenv("HALQA_WIRE_CORPUS_DIR");
	size_t i;

	if (dir == NULL) {
		return;
	}
	make_samples();
	for (i = 0; i < num_samples; i++) {
		char path[512];
		uint8_t *buf = NULL;
		size_t len = 0;
		FILE *f;

		CHECK_OK(encode(&samples[i], &buf, &len));
		snprintf(path, sizeof path, "%s/%s", dir, sample_names[i]);
		if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, len, f) != len) {
			harness_fail(__FILE__, __LINE__, "cannot write %s", path);
		}
		if (f != NULL) {
			fclose(f);
		}
		free(buf);
	}
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_round_trip);
	RUN(test_fields_survive);
	RUN(test_truncation_and_trailing);
	RUN(test_header);
	RUN(test_oversize);
	RUN(test_bad_values);
	RUN(test_reason_text);
	RUN(test_names);
	RUN(test_cap_hash);
	RUN(test_cleanup_wipes);
	RUN(write_corpus);
	return harness_report();
}
