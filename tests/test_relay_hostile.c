/*
 * test_relay_hostile.c: the relay under a flood of hostile frames.
 *
 * The real halqad runs in invite mode in a temp directory. Two equal
 * batches of garbage, each from fresh keys (half registered with an invite,
 * half unregistered guests, plus one registered key that never stops), are
 * sent over real CURVE connections: random bytes, valid headers with random
 * bodies, valid requests truncated at a random byte, with bytes flipped,
 * with trailing bytes, with a huge length field, with bad versions and
 * unknown types, empty frames, multi-part messages, frames of exactly the
 * relay's max frame, one byte over it, over the protocol's maximum, and far
 * over both. Everything is seeded (HALQA_TEST_SEED=N replays a run).
 *
 * After each batch we check that the relay is alive, that a guest was never
 * told OK for anything but HELLO and PING, and that a well-behaved device
 * (registered before the flood) and a new device (registering after it)
 * still get correct service: PING, HELLO, SEND, a push to a listener, and
 * FETCH of the exact bytes. Memory: the relay's VmRSS after the second
 * batch may exceed that after the first by a fixed margin only, so garbage
 * cannot make it grow without bound. No timing is asserted.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "support/relay_client.h"

#define KEYS_PER_KIND 16    /* registered and guest keys per batch */
#define FRAMES_PER_KEY 60   /* ordinary garbage frames per key */
#define PERSISTENT_FRAMES 1000
#define RSS_MARGIN_KIB (24 * 1024)
#define RELAY_MAX_FRAME (1024 * 1024) /* halqad's default max_frame */
#define TIMEOUT_MS 10000

static uint64_t g_rng;

static uint64_t rnd(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_bytes(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = (uint8_t)rnd();
	}
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* relay_alive says whether the daemon process still runs (not exited, not a zombie). */
static int relay_alive(const struct relay_test *t)
{
	char path[64], line[256];
	int alive = 0;
	FILE *f;

	if (t->pid <= 0) {
		return 0;
	}
	snprintf(path, sizeof path, "/proc/%d/status", (int)t->pid);
	if ((f = fopen(path, "r")) == NULL) {
		return 0;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "State:", 6) == 0) {
			alive = strchr(line, 'Z') == NULL && strchr(line, 'X') == NULL;
			break;
		}
	}
	fclose(f);
	return alive;
}

/*
 * valid_request fills |m| with a plausible request of a random type (fields
 * random, ids unknown to the relay), borrowing payloads from |scratch|.
 */
static void valid_request(struct wire_msg *m, uint8_t *scratch, size_t scratch_len)
{
	static const uint8_t types[] = {
		WIRE_HELLO,         WIRE_PING,         WIRE_REGISTER,      WIRE_CIRCLE_CREATE,
		WIRE_SEND,          WIRE_LISTEN,       WIRE_UNLISTEN,      WIRE_FETCH,
		WIRE_ACK,           WIRE_MAILBOX_PUT,  WIRE_MAILBOX_FETCH, WIRE_MAILBOX_DELETE,
		WIRE_KP_PUBLISH,    WIRE_KP_CLAIM,     WIRE_KP_COUNT,
	};
	uint8_t type = types[rnd() % sizeof types];
	size_t plen = 1 + rnd() % (scratch_len < 700 ? scratch_len : 700);

	rnd_bytes(scratch, plen);
	wire_msg_init(m, type, (uint32_t)(1 + rnd() % 0xfffffffe));
	switch (type) {
	case WIRE_HELLO:
		m->u.hello.min_version = 1;
		m->u.hello.max_version = (uint8_t)(1 + rnd() % 3);
		break;
	case WIRE_REGISTER:
		snprintf(m->u.reg.invite, sizeof m->u.reg.invite, "not-an-invite-%u",
			 (unsigned)(rnd() % 100000));
		break;
	case WIRE_CIRCLE_CREATE:
		rnd_bytes(m->u.circle_create.circle_id, WIRE_ID_LEN);
		rnd_bytes(m->u.circle_create.cap_hash, WIRE_CAP_LEN);
		break;
	case WIRE_SEND:
		rnd_bytes(m->u.send.circle_id, WIRE_ID_LEN);
		m->u.send.epoch = rnd() % 4;
		m->u.send.kind = (uint8_t)(1 + rnd() % 3);
		rnd_bytes(m->u.send.cap, WIRE_CAP_LEN);
		if (m->u.send.kind == WIRE_KIND_COMMIT) {
			rnd_bytes(m->u.send.next_cap_hash, WIRE_CAP_LEN);
		}
		rnd_bytes(m->u.send.client_msg_id, WIRE_ID_LEN);
		m->u.send.payload.data = scratch;
		m->u.send.payload.len = plen;
		break;
	case WIRE_LISTEN:
		rnd_bytes(m->u.listen.circle_id, WIRE_ID_LEN);
		rnd_bytes(m->u.listen.cap, WIRE_CAP_LEN);
		break;
	case WIRE_UNLISTEN:
		rnd_bytes(m->u.unlisten.circle_id, WIRE_ID_LEN);
		break;
	case WIRE_FETCH:
		rnd_bytes(m->u.fetch.circle_id, WIRE_ID_LEN);
		rnd_bytes(m->u.fetch.cap, WIRE_CAP_LEN);
		m->u.fetch.from_seq = rnd() % 5;
		m->u.fetch.max_count = (uint16_t)(1 + rnd() % WIRE_MAX_FETCH_COUNT);
		break;
	case WIRE_ACK:
		rnd_bytes(m->u.ack.circle_id, WIRE_ID_LEN);
		rnd_bytes(m->u.ack.cursor_id, WIRE_ID_LEN);
		rnd_bytes(m->u.ack.cap, WIRE_CAP_LEN);
		m->u.ack.seq = 1 + rnd() % 10;
		break;
	case WIRE_MAILBOX_PUT:
		rnd_bytes(m->u.mailbox_put.mailbox_id, WIRE_ID_LEN);
		m->u.mailbox_put.payload.data = scratch;
		m->u.mailbox_put.payload.len = plen;
		break;
	case WIRE_MAILBOX_FETCH:
		rnd_bytes(m->u.mailbox_fetch.mailbox_id, WIRE_ID_LEN);
		m->u.mailbox_fetch.max_count = (uint16_t)(1 + rnd() % WIRE_MAX_MAILBOX_FETCH);
		break;
	case WIRE_MAILBOX_DELETE:
		rnd_bytes(m->u.mailbox_delete.mailbox_id, WIRE_ID_LEN);
		m->u.mailbox_delete.num_ids = (uint16_t)(1 + rnd() % 4);
		for (uint16_t i = 0; i < m->u.mailbox_delete.num_ids; i++) {
			m->u.mailbox_delete.ids[i] = rnd() % 100;
		}
		break;
	case WIRE_KP_PUBLISH:
		rnd_bytes(m->u.kp_publish.dir_id, WIRE_ID_LEN);
		m->u.kp_publish.num_packages = 1;
		m->u.kp_publish.packages[0].data = scratch;
		m->u.kp_publish.packages[0].len = plen;
		break;
	case WIRE_KP_CLAIM:
	case WIRE_KP_COUNT:
		rnd_bytes(m->u.kp_dir.dir_id, WIRE_ID_LEN);
		break;
	default:
		break;
	}
}

/* encode_valid encodes a random valid request into |buf|; returns its length. */
static size_t encode_valid(uint8_t *buf, size_t cap)
{
	uint8_t scratch[700];
	struct bytes_writer w;
	struct wire_msg m;
	size_t len = 0;

	valid_request(&m, scratch, sizeof scratch);
	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	if (wire_encode(&w, &m) == HALQA_OK && bytes_writer_len(&w) <= cap) {
		len = bytes_writer_len(&w);
		memcpy(buf, bytes_writer_data(&w), len);
	}
	bytes_writer_cleanup(&w);
	wire_msg_cleanup(&m);
	return len;
}

/* make_garbage writes one hostile frame of a random kind into |buf|; returns its length. */
static size_t make_garbage(uint8_t *buf, size_t cap)
{
	size_t len;

	switch (rnd() % 9) {
	case 0: /* random bytes */
		len = rnd() % 600;
		rnd_bytes(buf, len);
		return len;
	case 1: /* a valid header, then random bytes */
		len = 8 + rnd() % 400;
		rnd_bytes(buf, len);
		buf[0] = WIRE_MAGIC0;
		buf[1] = WIRE_MAGIC1;
		buf[2] = 1;
		return len;
	case 2: /* a valid request cut short */
		len = encode_valid(buf, cap);
		return len > 1 ? rnd() % len : 0;
	case 3: /* a valid request with a few bytes flipped */
		len = encode_valid(buf, cap);
		for (int i = 0; len > 0 && i < 1 + (int)(rnd() % 4); i++) {
			buf[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
		}
		return len;
	case 4: /* a valid request with trailing bytes */
		len = encode_valid(buf, cap - 16);
		rnd_bytes(buf + len, 1 + rnd() % 16);
		return len + 1 + rnd() % 16;
	case 5: /* a valid request whose last length-prefixed blob claims 4 GiB */
		len = encode_valid(buf, cap);
		if (len > 12) {
			size_t at = 8 + rnd() % (len - 12);

			buf[at] = buf[at + 1] = buf[at + 2] = 0xff;
			buf[at + 3] = (uint8_t)(0xf0 | (rnd() & 0xf));
		}
		return len;
	case 6: /* bad version or unknown type */
		len = encode_valid(buf, cap);
		if (len >= 8) {
			if (rnd() & 1) {
				static const uint8_t versions[] = {0, 2, 3, 0x7f, 0xff};
				buf[2] = versions[rnd() % sizeof versions];
			} else {
				static const uint8_t types[] = {0, 0x04, 0x0f, 0x16, 0x33, 0x7f,
								WIRE_OK, WIRE_ERR, WIRE_DELIVER, 0xff};
				buf[3] = types[rnd() % sizeof types];
			}
		}
		return len;
	case 7: /* empty */
		return 0;
	default: /* a well-formed request: hostile only in being pointless */
		return encode_valid(buf, cap);
	}
}

struct good {
	struct relay_client *a;    /* sender, registered before the flood */
	struct relay_client *b;    /* listener, registered before the flood */
	uint8_t circle[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN];
	uint64_t sends;
};

static int register_with(struct relay_client *c, const char *invite)
{
	struct wire_msg m;
	uint16_t code = 0;
	int rc;

	wire_msg_init(&m, WIRE_REGISTER, 1);
	snprintf(m.u.reg.invite, sizeof m.u.reg.invite, "%.64s", invite);
	rc = relay_client_ok(c, &m, NULL, &code, TIMEOUT_MS);
	wire_msg_cleanup(&m);
	return rc;
}

static int listen_on(struct good *g, struct relay_client *c)
{
	struct wire_msg m;
	int rc;

	wire_msg_init(&m, WIRE_LISTEN, 1);
	memcpy(m.u.listen.circle_id, g->circle, WIRE_ID_LEN);
	memcpy(m.u.listen.cap, g->cap, WIRE_CAP_LEN);
	rc = relay_client_ok(c, &m, NULL, NULL, TIMEOUT_MS);
	wire_msg_cleanup(&m);
	return rc;
}

/*
 * check_service runs one correct exchange: PING and HELLO from the sender,
 * a SEND it gets a seq for, the push of exactly those bytes to the
 * listener, and a FETCH that returns them.
 */
static void check_service(struct good *g)
{
	uint8_t payload[300];
	struct wire_msg m, rep;
	uint64_t seq = 0;
	int rc;

	rnd_bytes(payload, sizeof payload);
	wire_msg_init(&m, WIRE_PING, 1);
	CHECK_OK(relay_client_ok(g->a, &m, NULL, NULL, TIMEOUT_MS));
	wire_msg_init(&m, WIRE_HELLO, 1);
	m.u.hello.min_version = WIRE_VERSION_MIN;
	m.u.hello.max_version = WIRE_VERSION_MAX;
	rc = relay_client_ok(g->a, &m, &rep, NULL, TIMEOUT_MS);
	CHECK_OK(rc);
	if (rc == HALQA_OK) {
		CHECK_INT_EQ(rep.u.ok.u.hello.version, WIRE_VERSION_MAX);
		CHECK_INT_EQ(rep.u.ok.u.hello.registered, 1);
	}

	wire_msg_init(&m, WIRE_SEND, 1);
	memcpy(m.u.send.circle_id, g->circle, WIRE_ID_LEN);
	m.u.send.kind = WIRE_KIND_APPLICATION;
	memcpy(m.u.send.cap, g->cap, WIRE_CAP_LEN);
	rnd_bytes(m.u.send.client_msg_id, WIRE_ID_LEN);
	m.u.send.payload.data = payload;
	m.u.send.payload.len = sizeof payload;
	rc = relay_client_ok(g->a, &m, &rep, NULL, TIMEOUT_MS);
	wire_msg_cleanup(&m);
	CHECK_OK(rc);
	if (rc == HALQA_OK) {
		seq = rep.u.ok.u.send.seq;
		CHECK_INT_EQ(seq, g->sends + 1);
		g->sends++;
	}

	rc = relay_client_next_push(g->b, &rep, TIMEOUT_MS);
	CHECK_OK(rc);
	if (rc == HALQA_OK) {
		CHECK_INT_EQ(rep.u.deliver.seq, seq);
		CHECK_MEM_EQ(rep.u.deliver.payload.data, rep.u.deliver.payload.len, payload,
			     sizeof payload);
	}

	wire_msg_init(&m, WIRE_FETCH, 1);
	memcpy(m.u.fetch.circle_id, g->circle, WIRE_ID_LEN);
	memcpy(m.u.fetch.cap, g->cap, WIRE_CAP_LEN);
	m.u.fetch.from_seq = seq;
	m.u.fetch.max_count = 1;
	rc = relay_client_ok(g->b, &m, &rep, NULL, TIMEOUT_MS);
	wire_msg_cleanup(&m);
	CHECK_OK(rc);
	if (rc == HALQA_OK) {
		CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 1);
		if (rep.u.ok.u.fetch.num_msgs == 1) {
			CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[0].seq, seq);
			CHECK_MEM_EQ(rep.u.ok.u.fetch.msgs[0].payload.data,
				     rep.u.ok.u.fetch.msgs[0].payload.len, payload, sizeof payload);
		}
	}
}

/* drain_replies reads and counts whatever replies |c| has. */
static size_t drain_replies(struct relay_client *c)
{
	struct wire_msg rep;
	size_t n = 0;

	while (relay_client_next_reply(c, &rep, 0) == HALQA_OK) {
		n++;
	}
	return n;
}

/* check_guest_replies reads what a guest was told (OK only ever for HELLO or PING); returns how many. */
static size_t check_guest_replies(struct relay_client *c, size_t *oks, size_t *errs)
{
	struct wire_msg rep;
	size_t n = 0;

	while (relay_client_next_reply(c, &rep, 0) == HALQA_OK) {
		n++;
		if (rep.type == WIRE_OK) {
			(*oks)++;
			if (rep.u.ok.for_type != WIRE_HELLO && rep.u.ok.for_type != WIRE_PING) {
				harness_fail(__FILE__, __LINE__, "a guest got OK for %s",
					     wire_type_name(rep.u.ok.for_type));
			}
		} else {
			(*errs)++;
		}
	}
	return n;
}

/* big_frame sends one frame of |len| bytes (a valid header, random body) from |c|. */
static void big_frame(struct relay_client *c, uint8_t *buf, size_t len)
{
	rnd_bytes(buf + 8, len - 8);
	buf[0] = WIRE_MAGIC0;
	buf[1] = WIRE_MAGIC1;
	buf[2] = 1;
	buf[3] = WIRE_SEND;
	CHECK_OK(relay_client_send_raw(c, buf, len));
}

/*
 * flood sends one batch: KEYS_PER_KIND registered and as many guest keys,
 * each FRAMES_PER_KEY garbage frames with some multi-part messages mixed in,
 * one registered key sending PERSISTENT_FRAMES, and the big frames.
 * Returns the number of frames sent.
 */
static size_t flood(struct relay_test *t, const char *invite)
{
	struct relay_client *reg[KEYS_PER_KIND] = {0}, *guest[KEYS_PER_KIND] = {0};
	struct relay_client *persistent = NULL;
	size_t sent = 0, guest_oks = 0, guest_errs = 0;
	size_t big_len = 8u * 1024 * 1024 + 1;
	uint8_t *buf = malloc(big_len);
	uint8_t small[4096];

	if (buf == NULL) {
		harness_fail(__FILE__, __LINE__, "out of memory");
		return 0;
	}
	for (int i = 0; i < KEYS_PER_KIND; i++) {
		CHECK_OK(relay_test_client(t, &reg[i], NULL, NULL));
		CHECK_OK(relay_test_client(t, &guest[i], NULL, NULL));
		if (reg[i] != NULL) {
			CHECK_OK(register_with(reg[i], invite));
		}
	}
	CHECK_OK(relay_test_client(t, &persistent, NULL, NULL));
	if (persistent != NULL) {
		CHECK_OK(register_with(persistent, invite));
	}
	if (harness_current_failed) {
		goto out;
	}
	for (int f = 0; f < FRAMES_PER_KEY; f++) {
		for (int i = 0; i < 2 * KEYS_PER_KIND; i++) {
			struct relay_client *c = i < KEYS_PER_KIND ? reg[i] : guest[i - KEYS_PER_KIND];

			if (rnd() % 16 == 0) {
				const uint8_t *parts[4];
				size_t lens[4], n = 2 + rnd() % 3, used = 0;

				for (size_t p = 0; p < n; p++) {
					lens[p] = make_garbage(small + used, (sizeof small - used) / 2);
					parts[p] = small + used;
					used += lens[p];
				}
				CHECK_OK(relay_client_send_multipart(c, parts, lens, n));
			} else {
				size_t len = make_garbage(small, sizeof small);

				CHECK_OK(relay_client_send_raw(c, small, len));
			}
			sent++;
		}
	}
	for (int f = 0; f < PERSISTENT_FRAMES; f++) {
		size_t len = make_garbage(small, sizeof small);

		CHECK_OK(relay_client_send_raw(persistent, small, len));
		sent++;
	}
	/* Max-size and oversized frames, from a registered key and from a guest. */
	big_frame(reg[0], buf, RELAY_MAX_FRAME);
	big_frame(guest[0], buf, RELAY_MAX_FRAME);
	big_frame(reg[1], buf, RELAY_MAX_FRAME + 1);
	big_frame(guest[1], buf, RELAY_MAX_FRAME + 1);
	big_frame(reg[2], buf, WIRE_MAX_FRAME + 1);
	big_frame(reg[3], buf, big_len);
	big_frame(guest[3], buf, big_len);
	sent += 7;

	/*
	 * Let the relay work through it: read replies until none came for three
	 * polls in a row (bounded; banned keys hear nothing, which is fine).
	 */
	for (int quiet = 0, polls = 0; quiet < 3 && polls < 100; polls++) {
		size_t got = 0;

		usleep(100000);
		for (int i = 0; i < KEYS_PER_KIND; i++) {
			got += check_guest_replies(guest[i], &guest_oks, &guest_errs);
			got += drain_replies(reg[i]);
		}
		got += drain_replies(persistent);
		quiet = got == 0 ? quiet + 1 : 0;
	}
	printf("flood: %zu frames; guests were told OK %zu times (HELLO/PING), ERR %zu times\n",
	       sent, guest_oks, guest_errs);
out:
	for (int i = 0; i < KEYS_PER_KIND; i++) {
		relay_client_free(reg[i]);
		relay_client_free(guest[i]);
	}
	relay_client_free(persistent);
	free(buf);
	return sent;
}

static void test_hostile_frames(void)
{
	struct relay_test t;
	struct good g;
	struct wire_msg m;
	struct relay_client *late = NULL;
	const char *env = getenv("HALQA_TEST_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	char invite[128];
	long rss1, rss2;

	printf("test_relay_hostile: seed %llu (HALQA_TEST_SEED to replay)\n",
	       (unsigned long long)seed);
	g_rng = seed;
	memset(&g, 0, sizeof g);
	memset(&t, 0, sizeof t);
	if (relay_test_start(&t, NULL) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "halqad did not start");
		return;
	}
	CHECK_OK(relay_test_invite(&t, 200, invite, sizeof invite));
	CHECK_OK(relay_test_client(&t, &g.a, NULL, NULL));
	CHECK_OK(relay_test_client(&t, &g.b, NULL, NULL));
	if (harness_current_failed) {
		goto out;
	}
	CHECK_OK(register_with(g.a, invite));
	CHECK_OK(register_with(g.b, invite));
	rnd_bytes(g.circle, sizeof g.circle);
	rnd_bytes(g.cap, sizeof g.cap);
	wire_msg_init(&m, WIRE_CIRCLE_CREATE, 1);
	memcpy(m.u.circle_create.circle_id, g.circle, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(m.u.circle_create.cap_hash, g.cap));
	CHECK_OK(relay_client_ok(g.a, &m, NULL, NULL, TIMEOUT_MS));
	CHECK_OK(listen_on(&g, g.b));
	if (harness_current_failed) {
		goto out;
	}
	check_service(&g);

	flood(&t, invite);
	CHECK(relay_alive(&t));
	check_service(&g);
	rss1 = rss_kib(t.pid);

	flood(&t, invite);
	CHECK(relay_alive(&t));
	check_service(&g);
	rss2 = rss_kib(t.pid);

	/* A device new to the relay can still join and be served. */
	CHECK_OK(relay_test_client(&t, &late, NULL, NULL));
	if (late != NULL) {
		CHECK_OK(register_with(late, invite));
		CHECK_OK(listen_on(&g, late));
		check_service(&g);
		CHECK_OK(relay_client_next_push(late, &m, TIMEOUT_MS));
	}

	printf("relay VmRSS after the first batch %ld KiB, after the second %ld KiB\n", rss1, rss2);
	CHECK(rss1 > 0 && rss2 > 0);
	if (rss2 > rss1 + RSS_MARGIN_KIB) {
		harness_fail(__FILE__, __LINE__, "RSS grew by %ld KiB over an equal batch (margin %d)",
			     rss2 - rss1, RSS_MARGIN_KIB);
	}
out:
	relay_client_free(late);
	relay_client_free(g.a);
	relay_client_free(g.b);
	relay_test_stop(&t);
	sodium_memzero(g.cap, sizeof g.cap);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_hostile_frames);
	return harness_report();
}
