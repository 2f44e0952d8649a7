/*
 * hostile_relay.c: see hostile_relay.h. One thread polls the ROUTER,
 * decodes each request, forwards it upstream with relay_client, tampers
 * with the answer according to the modes, and sends it back with the
 * request's own id. Every client of this relay is one device upstream;
 * the engine tests need nothing more.
 */
#include "support/hostile_relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "halqa/bytes.h"
#include "halqa/wire.h"

#define STASH_MAX 64

struct stash_item {
	uint64_t seq;
	uint8_t kind;
	uint8_t *payload;
	size_t len;
};

struct hostile_relay {
	void *ctx;
	void *router;
	struct relay_client *up;
	pthread_t thread;
	atomic_int stop;
	atomic_uint modes;
	atomic_int fetch_left; /* FETCHes still answered, when fetch_limited */
	atomic_int fetch_limited;
	/* FETCHes of this circle get ERR internal, while fail_set. */
	pthread_mutex_t fail_lock;
	bool fail_set;
	uint8_t fail_circle[WIRE_ID_LEN];
	/* Messages of earlier fetches: of the last circle, and of others. */
	uint8_t last_circle[WIRE_ID_LEN];
	struct stash_item last[STASH_MAX];
	size_t num_last;
	struct stash_item foreign[STASH_MAX];
	size_t num_foreign;
	uint8_t foreign_circle[WIRE_ID_LEN];
};

static void stash_clear(struct stash_item *s, size_t *num)
{
	for (size_t i = 0; i < *num; i++) {
		free(s[i].payload);
	}
	*num = 0;
}

static void stash_put(struct stash_item *s, size_t *num, const struct wire_fetch_item *it)
{
	if (*num >= STASH_MAX || (s[*num].payload = malloc(it->payload.len)) == NULL) {
		return;
	}
	memcpy(s[*num].payload, it->payload.data, it->payload.len);
	s[*num].len = it->payload.len;
	s[*num].seq = it->seq;
	s[*num].kind = it->kind;
	(*num)++;
}

static void send_frame(struct hostile_relay *h, const uint8_t *rid, size_t rid_len,
		       const uint8_t *data, size_t len)
{
	if (zmq_send(h->router, rid, rid_len, ZMQ_SNDMORE) >= 0) {
		(void)zmq_send(h->router, data, len, 0);
	}
}

static void send_msg(struct hostile_relay *h, const uint8_t *rid, size_t rid_len,
		     const struct wire_msg *m)
{
	struct bytes_writer w;
	uint8_t *buf = NULL;
	size_t len = 0;

	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	if (wire_encode(&w, m) == HALQA_OK && bytes_writer_finish(&w, &buf, &len) == HALQA_OK) {
		send_frame(h, rid, rid_len, buf, len);
	}
	bytes_writer_cleanup(&w);
	free(buf);
}

/* tamper_fetch rewrites a FETCH answer in |m| (items borrow from |keep|, freed by the caller). */
static void tamper_fetch(struct hostile_relay *h, const uint8_t circle[WIRE_ID_LEN],
			 struct wire_msg *m, uint8_t **keep, size_t *num_keep)
{
	struct wire_fetch_ok *f = &m->u.ok.u.fetch;
	struct wire_fetch_item items[WIRE_MAX_FETCH_COUNT];
	unsigned modes = atomic_load(&h->modes);
	size_t n = 0;

	for (uint16_t i = 0; i < f->num_msgs && n < WIRE_MAX_FETCH_COUNT; i++) {
		items[n] = f->msgs[i];
		if (modes & HOSTILE_CORRUPT) {
			uint8_t *copy = malloc(items[n].payload.len);

			if (copy == NULL) {
				continue;
			}
			memcpy(copy, items[n].payload.data, items[n].payload.len);
			copy[items[n].payload.len / 2] ^= 0x5a;
			keep[(*num_keep)++] = copy;
			items[n].payload.data = copy;
		}
		n++;
		if ((modes & HOSTILE_REPEAT) && n < WIRE_MAX_FETCH_COUNT) {
			items[n] = items[n - 1];
			n++;
		}
	}
	if (modes & HOSTILE_REPEAT) {
		for (size_t i = 0; i < h->num_last && n < WIRE_MAX_FETCH_COUNT &&
				   memcmp(h->last_circle, circle, WIRE_ID_LEN) == 0;
		     i++) {
			items[n].seq = h->last[i].seq;
			items[n].kind = h->last[i].kind;
			items[n].payload.data = h->last[i].payload;
			items[n].payload.len = h->last[i].len;
			n++;
		}
	}
	if ((modes & HOSTILE_FOREIGN) && !f->closed) {
		uint64_t next = f->last_seq + 1;
		const struct stash_item *src = h->foreign;
		size_t num_src = h->num_foreign;

		/* Whichever stash holds another circle's messages. */
		if (h->num_last > 0 && memcmp(h->last_circle, circle, WIRE_ID_LEN) != 0) {
			src = h->last;
			num_src = h->num_last;
		} else if (memcmp(h->foreign_circle, circle, WIRE_ID_LEN) == 0) {
			num_src = 0;
		}
		for (size_t i = 0; i < num_src && n < WIRE_MAX_FETCH_COUNT; i++) {
			/* Numbered as new messages of the epoch the client asked for. */
			items[n].seq = next + i;
			items[n].kind = src[i].kind;
			items[n].payload.data = src[i].payload;
			items[n].payload.len = src[i].len;
			if (f->last_seq < items[n].seq) {
				f->last_seq = items[n].seq;
			}
			n++;
		}
	}
	if (modes & HOSTILE_REVERSE) {
		for (size_t i = 0; i < n / 2; i++) {
			struct wire_fetch_item t = items[i];

			items[i] = items[n - 1 - i];
			items[n - 1 - i] = t;
		}
	}
	f->num_msgs = (uint16_t)n;
	memcpy(f->msgs, items, n * sizeof items[0]);
}

/* remember keeps the genuine items of a fetch, for later replays and foreign deliveries. */
static void remember(struct hostile_relay *h, const uint8_t circle[WIRE_ID_LEN],
		     const struct wire_fetch_ok *f)
{
	if (f->num_msgs == 0) {
		return;
	}
	if (h->num_last > 0 && memcmp(h->last_circle, circle, WIRE_ID_LEN) != 0) {
		/* The last circle's messages become the foreign stash. */
		stash_clear(h->foreign, &h->num_foreign);
		memcpy(h->foreign, h->last, sizeof h->last);
		h->num_foreign = h->num_last;
		memcpy(h->foreign_circle, h->last_circle, WIRE_ID_LEN);
		h->num_last = 0;
	} else {
		stash_clear(h->last, &h->num_last);
	}
	memcpy(h->last_circle, circle, WIRE_ID_LEN);
	for (uint16_t i = 0; i < f->num_msgs; i++) {
		stash_put(h->last, &h->num_last, &f->msgs[i]);
	}
}

static void handle(struct hostile_relay *h, const uint8_t *rid, size_t rid_len,
		   const uint8_t *frame, size_t len)
{
	static struct wire_msg req, reply;
	static const uint8_t garbage[] = {0x48, 0x51, 0x01, 0x80, 0, 0, 0, 0, 0xff, 0xff};
	uint8_t *keep[2 * WIRE_MAX_FETCH_COUNT];
	size_t num_keep = 0;
	uint8_t circle[WIRE_ID_LEN];
	uint32_t id;
	unsigned modes = atomic_load(&h->modes);

	if (wire_decode(frame, len, &req) != HALQA_OK) {
		return;
	}
	id = req.request_id;
	if (req.type == WIRE_SEND && (modes & HOSTILE_MUTE_SEND)) {
		/* A relay whose writes hang: it reads on, and the client waits for this answer. */
		wire_msg_cleanup(&req);
		return;
	}
	if (req.type == WIRE_FETCH && atomic_load(&h->fetch_limited)) {
		if (atomic_load(&h->fetch_left) <= 0) {
			send_frame(h, rid, rid_len, garbage, sizeof garbage);
			wire_msg_cleanup(&req);
			return;
		}
		atomic_fetch_sub(&h->fetch_left, 1);
	}
	memcpy(circle, req.u.fetch.circle_id, WIRE_ID_LEN);
	pthread_mutex_lock(&h->fail_lock);
	bool fail = req.type == WIRE_FETCH && h->fail_set &&
		    memcmp(h->fail_circle, circle, WIRE_ID_LEN) == 0;
	pthread_mutex_unlock(&h->fail_lock);
	if (fail) {
		wire_msg_init(&reply, WIRE_ERR, id);
		reply.u.err.code = WIRE_ERR_INTERNAL;
		snprintf(reply.u.err.reason, sizeof reply.u.err.reason, "storage failed");
		send_msg(h, rid, rid_len, &reply);
		wire_msg_cleanup(&req);
		return;
	}
	if (relay_client_request(h->up, &req, &reply, 10000) != HALQA_OK) {
		wire_msg_cleanup(&req);
		return;
	}
	bool fetched = reply.type == WIRE_OK && reply.u.ok.for_type == WIRE_FETCH;
	static struct wire_fetch_ok genuine;

	if (fetched) {
		genuine = reply.u.ok.u.fetch;
		tamper_fetch(h, circle, &reply, keep, &num_keep);
	}
	if (modes & HOSTILE_GARBAGE) {
		struct wire_msg stray;

		send_frame(h, rid, rid_len, garbage, sizeof garbage);
		/* An OK for a request id nobody is waiting for. */
		wire_msg_init(&stray, WIRE_OK, id + 7777);
		stray.u.ok.for_type = WIRE_PING;
		send_msg(h, rid, rid_len, &stray);
	}
	reply.request_id = id;
	send_msg(h, rid, rid_len, &reply);
	if (fetched) {
		/* Only now: the answer may carry replays borrowed from the stash it replaces. */
		remember(h, circle, &genuine);
	}
	for (size_t i = 0; i < num_keep; i++) {
		free(keep[i]);
	}
	wire_msg_cleanup(&req);
}

static void *run(void *arg)
{
	struct hostile_relay *h = arg;
	uint8_t rid[256], *frame = malloc(WIRE_MAX_FRAME);
	zmq_pollitem_t item;

	if (frame == NULL) {
		return NULL;
	}
	while (!atomic_load(&h->stop)) {
		int rid_len, len, more = 0;
		size_t more_len = sizeof more;

		item.socket = h->router;
		item.events = ZMQ_POLLIN;
		item.fd = 0;
		item.revents = 0;
		if (zmq_poll(&item, 1, 50) <= 0) {
			continue;
		}
		if ((rid_len = zmq_recv(h->router, rid, sizeof rid, ZMQ_DONTWAIT)) < 0) {
			continue;
		}
		(void)zmq_getsockopt(h->router, ZMQ_RCVMORE, &more, &more_len);
		if (!more) {
			continue;
		}
		len = zmq_recv(h->router, frame, WIRE_MAX_FRAME, 0);
		(void)zmq_getsockopt(h->router, ZMQ_RCVMORE, &more, &more_len);
		while (more) {
			uint8_t junk[16];

			(void)zmq_recv(h->router, junk, sizeof junk, 0);
			(void)zmq_getsockopt(h->router, ZMQ_RCVMORE, &more, &more_len);
		}
		if (len > 0 && (size_t)len <= WIRE_MAX_FRAME && (size_t)rid_len <= sizeof rid) {
			handle(h, rid, (size_t)rid_len, frame, (size_t)len);
		}
	}
	free(frame);
	return NULL;
}

int hostile_relay_start(struct hostile_relay **out, struct relay_test *t, char endpoint[64],
			uint8_t key[32])
{
	struct hostile_relay *h;
	struct wire_msg req, reply;
	uint8_t sec[32];
	size_t len = 64;
	uint16_t code = 0;
	int as_server = 1, r;

	*out = NULL;
	if ((h = calloc(1, sizeof *h)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	pthread_mutex_init(&h->fail_lock, NULL);
	crypto_box_keypair(key, sec);
	if ((r = relay_test_client(t, &h->up, NULL, NULL)) != HALQA_OK) {
		goto fail;
	}
	wire_msg_init(&req, WIRE_REGISTER, 0);
	if ((r = relay_client_ok(h->up, &req, &reply, &code, 10000)) != HALQA_OK) {
		goto fail;
	}
	if ((h->ctx = zmq_ctx_new()) == NULL || (h->router = zmq_socket(h->ctx, ZMQ_ROUTER)) == NULL ||
	    zmq_setsockopt(h->router, ZMQ_CURVE_SERVER, &as_server, sizeof as_server) != 0 ||
	    zmq_setsockopt(h->router, ZMQ_CURVE_SECRETKEY, sec, 32) != 0 ||
	    zmq_bind(h->router, "tcp://127.0.0.1:*") != 0 ||
	    zmq_getsockopt(h->router, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0) {
		r = HALQA_ERR_NETWORK;
		goto fail;
	}
	sodium_memzero(sec, sizeof sec);
	if (pthread_create(&h->thread, NULL, run, h) != 0) {
		r = HALQA_ERR_INTERNAL;
		goto fail;
	}
	*out = h;
	return HALQA_OK;
fail:
	sodium_memzero(sec, sizeof sec);
	if (h->router != NULL) {
		zmq_close(h->router);
	}
	if (h->ctx != NULL) {
		zmq_ctx_term(h->ctx);
	}
	relay_client_free(h->up);
	pthread_mutex_destroy(&h->fail_lock);
	free(h);
	return r;
}

void hostile_relay_set_modes(struct hostile_relay *h, unsigned modes)
{
	atomic_store(&h->modes, modes);
}

void hostile_relay_fetch_budget(struct hostile_relay *h, int n)
{
	atomic_store(&h->fetch_left, n);
	atomic_store(&h->fetch_limited, n >= 0);
}

void hostile_relay_fail_circle(struct hostile_relay *h, const uint8_t *id)
{
	pthread_mutex_lock(&h->fail_lock);
	h->fail_set = id != NULL;
	if (id != NULL) {
		memcpy(h->fail_circle, id, WIRE_ID_LEN);
	}
	pthread_mutex_unlock(&h->fail_lock);
}

void hostile_relay_stop(struct hostile_relay *h)
{
	if (h == NULL) {
		return;
	}
	atomic_store(&h->stop, 1);
	pthread_join(h->thread, NULL);
	zmq_close(h->router);
	zmq_ctx_term(h->ctx);
	relay_client_free(h->up);
	stash_clear(h->last, &h->num_last);
	stash_clear(h->foreign, &h->num_foreign);
	pthread_mutex_destroy(&h->fail_lock);
	free(h);
}
