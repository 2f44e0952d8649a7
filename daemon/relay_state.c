/*
 * relay_state.c: the relay's in-memory state: connections, which connection
 * listens to which circle, per-device rate limits and bans, the turn's
 * pending output and the per-connection output queues.
 *
 * None of this is ever written to disk: which connection listens to which
 * circle is exactly the device<->circle link the spool must not hold.
 *
 * Maps use SipHash-2-4 (crypto_shorthash) with a random key per process, so
 * a peer choosing routing ids or circle ids cannot force collisions and
 * turn lookups into list walks.
 *
 * Output bounds. Every connection's queue is bounded in messages and bytes
 * (limits.queue_messages, limits.queue_bytes). When a push would pass the
 * bound, the reader is too slow for what it listens to: its queued pushes
 * are discarded, its listens dropped, and one notice (an ERR with request
 * id 0, code busy) tells it to fetch and listen again. A reply that would
 * pass the bound is dropped (the client times out and retries); the rate
 * limit keeps that rare. So a slow or hostile reader costs the relay at
 * most its bounded queue.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halqa/log.h"
#include "relay_int.h"

#define MAP_MIN_BUCKETS 64

void relay_map_init(struct relay_map *m)
{
	memset(m, 0, sizeof *m);
	randombytes_buf(m->seed, sizeof m->seed);
}

void relay_map_cleanup(struct relay_map *m)
{
	for (size_t i = 0; i < m->num_buckets; i++) {
		struct relay_map_entry *e = m->buckets[i];
		while (e != NULL) {
			struct relay_map_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->num_buckets = 0;
	m->count = 0;
}

static uint64_t map_hash(const struct relay_map *m, const uint8_t *key, size_t key_len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, key, key_len, m->seed);
	for (size_t i = 0; i < sizeof h; i++) {
		v = (v << 8) | h[i];
	}
	return v;
}

static int map_grow(struct relay_map *m)
{
	size_t n = m->num_buckets == 0 ? MAP_MIN_BUCKETS : m->num_buckets * 2;
	struct relay_map_entry **b = calloc(n, sizeof *b);

	if (b == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < m->num_buckets; i++) {
		struct relay_map_entry *e = m->buckets[i];
		while (e != NULL) {
			struct relay_map_entry *next = e->next;
			size_t j = (size_t)(e->hash & (n - 1));
			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->num_buckets = n;
	return HALQA_OK;
}

static struct relay_map_entry **map_slot(const struct relay_map *m, const uint8_t *key,
					 size_t key_len, uint64_t h)
{
	struct relay_map_entry **p = &m->buckets[h & (m->num_buckets - 1)];

	while (*p != NULL) {
		if ((*p)->hash == h && (*p)->key_len == key_len &&
		    memcmp((*p)->key, key, key_len) == 0) {
			return p;
		}
		p = &(*p)->next;
	}
	return p;
}

void *relay_map_get(const struct relay_map *m, const uint8_t *key, size_t key_len)
{
	struct relay_map_entry **p;

	if (m->num_buckets == 0) {
		return NULL;
	}
	p = map_slot(m, key, key_len, map_hash(m, key, key_len));
	return *p != NULL ? (*p)->val : NULL;
}

int relay_map_put(struct relay_map *m, const uint8_t *key, size_t key_len, void *val)
{
	struct relay_map_entry **p, *e;
	uint64_t h;

	if ((m->num_buckets == 0 || m->count >= m->num_buckets) && map_grow(m) != HALQA_OK &&
	    m->num_buckets == 0) {
		return HALQA_ERR_NOMEM;
	}
	h = map_hash(m, key, key_len);
	p = map_slot(m, key, key_len, h);
	if (*p != NULL) {
		(*p)->val = val;
		return HALQA_OK;
	}
	e = malloc(sizeof *e + key_len);
	if (e == NULL) {
		return HALQA_ERR_NOMEM;
	}
	e->next = NULL;
	e->hash = h;
	e->val = val;
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	*p = e;
	m->count++;
	return HALQA_OK;
}

void *relay_map_del(struct relay_map *m, const uint8_t *key, size_t key_len)
{
	struct relay_map_entry **p, *e;
	void *val;

	if (m->num_buckets == 0) {
		return NULL;
	}
	p = map_slot(m, key, key_len, map_hash(m, key, key_len));
	if (*p == NULL) {
		return NULL;
	}
	e = *p;
	*p = e->next;
	val = e->val;
	free(e);
	m->count--;
	return val;
}

struct relay_map_entry *relay_map_next(const struct relay_map *m, struct relay_map_entry *e,
				       size_t *bucket)
{
	if (e != NULL && e->next != NULL) {
		return e->next;
	}
	for (size_t i = e == NULL ? 0 : *bucket + 1; i < m->num_buckets; i++) {
		if (m->buckets[i] != NULL) {
			*bucket = i;
			return m->buckets[i];
		}
	}
	return NULL;
}

/* ---- connections ---- */

struct relay_conn *relay_conn_find(struct relay *r, const uint8_t *id, size_t id_len)
{
	return relay_map_get(&r->conns, id, id_len);
}

struct relay_conn *relay_conn_get(struct relay *r, const uint8_t *id, size_t id_len,
				  const uint8_t key[32])
{
	struct relay_conn *c;

	if (id_len == 0 || id_len > RELAY_CONN_ID_MAX) {
		return NULL;
	}
	c = relay_map_get(&r->conns, id, id_len);
	if (c != NULL) {
		return c;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return NULL;
	}
	memcpy(c->id, id, id_len);
	c->id_len = id_len;
	memcpy(c->key, key, 32);
	if (relay_map_put(&r->conns, id, id_len, c) != HALQA_OK) {
		free(c);
		return NULL;
	}
	return c;
}

static void conn_clear_queue(struct relay_conn *c)
{
	struct relay_out *o = c->head;

	while (o != NULL) {
		struct relay_out *next = o->next;
		relay_out_free(o);
		o = next;
	}
	c->head = c->tail = NULL;
	c->queued_msgs = 0;
	c->queued_bytes = 0;
}

static void ready_remove(struct relay *r, struct relay_conn *c)
{
	struct relay_conn **p = &r->ready, *prev = NULL;

	while (*p != NULL) {
		if (*p == c) {
			*p = c->ready_next;
			if (r->ready_tail == c) {
				r->ready_tail = prev;
			}
			break;
		}
		prev = *p;
		p = &(*p)->ready_next;
	}
	c->in_ready = 0;
	c->ready_next = NULL;
}

void relay_ready_add(struct relay *r, struct relay_conn *c)
{
	if (c->in_ready || c->blocked || c->head == NULL) {
		return;
	}
	c->in_ready = 1;
	c->ready_next = NULL;
	if (r->ready_tail != NULL) {
		r->ready_tail->ready_next = c;
	} else {
		r->ready = c;
	}
	r->ready_tail = c;
}

struct relay_conn *relay_ready_pop(struct relay *r)
{
	struct relay_conn *c = r->ready;

	if (c == NULL) {
		return NULL;
	}
	r->ready = c->ready_next;
	if (r->ready == NULL) {
		r->ready_tail = NULL;
	}
	c->ready_next = NULL;
	c->in_ready = 0;
	return c;
}

struct relay_out *relay_conn_pop_head(struct relay_conn *c)
{
	struct relay_out *o = c->head;

	if (o == NULL) {
		return NULL;
	}
	c->head = o->next;
	if (c->head == NULL) {
		c->tail = NULL;
	}
	o->next = NULL;
	c->queued_msgs--;
	c->queued_bytes -= o->frame->len;
	return o;
}

static void conn_free(struct relay *r, struct relay_conn *c)
{
	relay_listen_drop_conn(r, c);
	if (c->in_ready) {
		ready_remove(r, c);
	}
	if (c->blocked) {
		struct relay_conn **p = &r->blocked;
		while (*p != NULL && *p != c) {
			p = &(*p)->blocked_next;
		}
		if (*p == c) {
			*p = c->blocked_next;
		}
		r->num_blocked--;
	}
	conn_clear_queue(c);
	free(c->listens);
	free(c);
}

void relay_drop_conn(struct relay *r, const uint8_t *conn_id, size_t conn_id_len)
{
	struct relay_conn *c = relay_map_del(&r->conns, conn_id, conn_id_len);

	if (c != NULL) {
		conn_free(r, c);
	}
}

void relay_conn_free_all(struct relay *r)
{
	struct relay_map_entry *e;
	size_t b = 0;

	for (e = relay_map_next(&r->conns, NULL, &b); e != NULL; e = relay_map_next(&r->conns, e, &b)) {
		struct relay_conn *c = e->val;
		conn_clear_queue(c);
		free(c->listens);
		free(c);
	}
	relay_map_cleanup(&r->conns);
	for (e = relay_map_next(&r->circles, NULL, &b); e != NULL;
	     e = relay_map_next(&r->circles, e, &b)) {
		struct relay_circle *ci = e->val;
		free(ci->conns);
		free(ci);
	}
	relay_map_cleanup(&r->circles);
	for (e = relay_map_next(&r->devices, NULL, &b); e != NULL;
	     e = relay_map_next(&r->devices, e, &b)) {
		free(e->val);
	}
	relay_map_cleanup(&r->devices);
	r->dirty = NULL;
	r->ready = r->ready_tail = NULL;
	r->num_blocked = 0;
	r->blocked = NULL;
}

void relay_conn_block(struct relay *r, struct relay_conn *c)
{
	if (!c->blocked) {
		c->blocked = 1;
		c->blocked_next = r->blocked;
		r->blocked = c;
		r->num_blocked++;
	}
}

/*
 * relay_conns_unblock is the retry timer's job: a ROUTER gives no signal
 * when one peer's pipe drains, so blocked peers are simply tried again.
 */
void relay_conns_unblock(struct relay *r)
{
	struct relay_conn *c = r->blocked;

	r->blocked = NULL;
	r->num_blocked = 0;
	while (c != NULL) {
		struct relay_conn *next = c->blocked_next;
		c->blocked = 0;
		c->blocked_next = NULL;
		relay_ready_add(r, c);
		c = next;
	}
}

/*
 * relay_conns_housekeeping forgets connections idle for two minutes with
 * nothing queued and no listens: they cost nothing to recreate, and
 * forgetting them bounds memory by active connections.
 */
void relay_conns_housekeeping(struct relay *r)
{
	uint64_t now = relay_now_ms(r);
	struct relay_map_entry *e;
	struct relay_conn **dead = NULL;
	size_t num_dead = 0, cap = 0, b = 0;

	for (e = relay_map_next(&r->conns, NULL, &b); e != NULL; e = relay_map_next(&r->conns, e, &b)) {
		struct relay_conn *c = e->val;
		if (c->blocked || c->head != NULL || c->num_listens != 0 ||
		    c->last_active_ms + 120000 > now) {
			continue;
		}
		if (num_dead == cap) {
			size_t n = cap == 0 ? 64 : cap * 2;
			void *p = realloc(dead, n * sizeof *dead);
			if (p == NULL) {
				break;
			}
			dead = p;
			cap = n;
		}
		dead[num_dead++] = c;
	}
	for (size_t i = 0; i < num_dead; i++) {
		relay_drop_conn(r, dead[i]->id, dead[i]->id_len);
	}
	free(dead);
}

/* ---- devices ---- */

static void device_limits(const struct relay *r, struct relay_device *d, uint64_t now, int init)
{
	const struct relay_limits *l = &r->cfg.limits;
	/* Malformed input refills its allowance in a minute: a client with a
	 * bug is not banned for a stray bad frame, a flood is. */
	double mal_rate = (double)l->malformed_ban / 60.0;

	if (init) {
		ratelimit_init(&d->requests, l->requests_per_sec, l->requests_burst, now);
		ratelimit_init(&d->bytes, l->bytes_per_sec, l->bytes_burst, now);
		ratelimit_init(&d->claims, l->claims_per_min / 60.0, l->claims_burst, now);
		ratelimit_init(&d->malformed, mal_rate, (double)l->malformed_ban, now);
	} else {
		ratelimit_set(&d->requests, l->requests_per_sec, l->requests_burst);
		ratelimit_set(&d->bytes, l->bytes_per_sec, l->bytes_burst);
		ratelimit_set(&d->claims, l->claims_per_min / 60.0, l->claims_burst);
		ratelimit_set(&d->malformed, mal_rate, (double)l->malformed_ban);
	}
}

struct relay_device *relay_device_get(struct relay *r, const uint8_t key[32])
{
	struct relay_device *d = relay_map_get(&r->devices, key, 32);

	if (d != NULL) {
		return d;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL) {
		return NULL;
	}
	device_limits(r, d, relay_now_ms(r), 1);
	memcpy(d->key, key, 32);
	if (relay_map_put(&r->devices, key, 32, d) != HALQA_OK) {
		free(d);
		return NULL;
	}
	return d;
}

int relay_device_banned(struct relay *r, const uint8_t key[32])
{
	struct relay_device *d = relay_map_get(&r->devices, key, 32);

	return d != NULL && d->banned_until_ms > relay_now_ms(r);
}

void relay_devices_apply_limits(struct relay *r)
{
	struct relay_map_entry *e;
	size_t b = 0;
	uint64_t now = relay_now_ms(r);

	for (e = relay_map_next(&r->devices, NULL, &b); e != NULL;
	     e = relay_map_next(&r->devices, e, &b)) {
		struct relay_device *d = e->val;
		device_limits(r, d, now, 0);
		/* The byte quota may have changed: read it again when needed. */
		d->quota_known = 0;
	}
}

int relay_devices_flush_charges(struct relay *r, int failed)
{
	struct relay_device *d = r->dirty;
	int rc = HALQA_OK;

	r->dirty = NULL;
	while (d != NULL) {
		struct relay_device *next = d->dirty_next;
		if (!failed && rc == HALQA_OK) {
			int c = spool_device_charge(r->spool, d->key, d->pending_charge,
						    relay_now_sec(r));
			/* LIMIT cannot happen (the cache checked it against the
			 * same figures); NOT_FOUND means the device was banned
			 * or removed meanwhile: nothing to charge. */
			if (c == HALQA_ERR_IO || c == HALQA_ERR_NOMEM) {
				rc = c;
			}
		}
		if (failed || rc != HALQA_OK) {
			d->quota_known = 0;
		}
		d->pending_charge = 0;
		d->dirty = 0;
		d->dirty_next = NULL;
		d = next;
	}
	return rc;
}

/*
 * relay_devices_prune forgets devices whose buckets are all full again and
 * who are not banned: their state equals a fresh one, so memory stays
 * bounded by the devices active within the last few seconds.
 */
void relay_devices_prune(struct relay *r)
{
	uint64_t now = relay_now_ms(r);
	uint8_t(*dead)[32] = NULL;
	size_t num_dead = 0, cap = 0;
	struct relay_map_entry *e;
	size_t b = 0;

	for (e = relay_map_next(&r->devices, NULL, &b); e != NULL;
	     e = relay_map_next(&r->devices, e, &b)) {
		struct relay_device *d = e->val;
		if (d->dirty || d->banned_until_ms > now || !ratelimit_full(&d->requests, now) ||
		    !ratelimit_full(&d->bytes, now) || !ratelimit_full(&d->claims, now) ||
		    !ratelimit_full(&d->malformed, now)) {
			continue;
		}
		if (num_dead == cap) {
			size_t n = cap == 0 ? 64 : cap * 2;
			void *p = realloc(dead, n * sizeof *dead);
			if (p == NULL) {
				break;
			}
			dead = p;
			cap = n;
		}
		memcpy(dead[num_dead++], e->key, 32);
	}
	for (size_t i = 0; i < num_dead; i++) {
		free(relay_map_del(&r->devices, dead[i], 32));
	}
	free(dead);
}

/* ---- listeners ---- */

struct relay_circle *relay_circle_find(struct relay *r, const uint8_t circle_id[WIRE_ID_LEN])
{
	return relay_map_get(&r->circles, circle_id, WIRE_ID_LEN);
}

int relay_listen_add(struct relay *r, struct relay_conn *c, const uint8_t circle_id[WIRE_ID_LEN])
{
	struct relay_circle *ci;
	int created = 0;

	for (size_t i = 0; i < c->num_listens; i++) {
		if (memcmp(c->listens[i], circle_id, WIRE_ID_LEN) == 0) {
			return HALQA_OK;
		}
	}
	if (c->num_listens >= r->cfg.limits.max_listens) {
		return HALQA_ERR_LIMIT;
	}
	ci = relay_circle_find(r, circle_id);
	if (ci == NULL) {
		ci = calloc(1, sizeof *ci);
		if (ci == NULL || relay_map_put(&r->circles, circle_id, WIRE_ID_LEN, ci) != 0) {
			free(ci);
			return HALQA_ERR_NOMEM;
		}
		created = 1;
	}
	if (ci->num_conns == ci->cap_conns) {
		size_t n = ci->cap_conns == 0 ? 4 : ci->cap_conns * 2;
		void *p = realloc(ci->conns, n * sizeof *ci->conns);
		if (p == NULL) {
			goto nomem;
		}
		ci->conns = p;
		ci->cap_conns = n;
	}
	{
		void *p = realloc(c->listens, (c->num_listens + 1) * sizeof *c->listens);
		if (p == NULL) {
			goto nomem;
		}
		c->listens = p;
	}
	memcpy(c->listens[c->num_listens++], circle_id, WIRE_ID_LEN);
	ci->conns[ci->num_conns++] = c;
	return HALQA_OK;
nomem:
	if (created) {
		relay_map_del(&r->circles, circle_id, WIRE_ID_LEN);
		free(ci->conns);
		free(ci);
	}
	return HALQA_ERR_NOMEM;
}

static void circle_remove_conn(struct relay *r, const uint8_t circle_id[WIRE_ID_LEN],
			       struct relay_conn *c)
{
	struct relay_circle *ci = relay_circle_find(r, circle_id);

	if (ci == NULL) {
		return;
	}
	for (size_t i = 0; i < ci->num_conns; i++) {
		if (ci->conns[i] == c) {
			ci->conns[i] = ci->conns[--ci->num_conns];
			break;
		}
	}
	if (ci->num_conns == 0) {
		relay_map_del(&r->circles, circle_id, WIRE_ID_LEN);
		free(ci->conns);
		free(ci);
	}
}

void relay_listen_del(struct relay *r, struct relay_conn *c, const uint8_t circle_id[WIRE_ID_LEN])
{
	for (size_t i = 0; i < c->num_listens; i++) {
		if (memcmp(c->listens[i], circle_id, WIRE_ID_LEN) == 0) {
			circle_remove_conn(r, circle_id, c);
			memmove(c->listens[i], c->listens[c->num_listens - 1], WIRE_ID_LEN);
			c->num_listens--;
			return;
		}
	}
}

void relay_listen_drop_conn(struct relay *r, struct relay_conn *c)
{
	for (size_t i = 0; i < c->num_listens; i++) {
		circle_remove_conn(r, c->listens[i], c);
	}
	c->num_listens = 0;
}

void relay_listen_drop_circle(struct relay *r, const uint8_t circle_id[WIRE_ID_LEN])
{
	struct relay_circle *ci = relay_map_del(&r->circles, circle_id, WIRE_ID_LEN);

	if (ci == NULL) {
		return;
	}
	for (size_t i = 0; i < ci->num_conns; i++) {
		struct relay_conn *c = ci->conns[i];
		for (size_t j = 0; j < c->num_listens; j++) {
			if (memcmp(c->listens[j], circle_id, WIRE_ID_LEN) == 0) {
				memmove(c->listens[j], c->listens[c->num_listens - 1], WIRE_ID_LEN);
				c->num_listens--;
				break;
			}
		}
	}
	free(ci->conns);
	free(ci);
}

/* ---- output ---- */

struct relay_frame *relay_frame_new(const uint8_t *data, size_t len)
{
	struct relay_frame *f = malloc(sizeof *f);

	if (f == NULL) {
		return NULL;
	}
	if (zmq_msg_init_size(&f->msg, len) != 0) {
		free(f);
		return NULL;
	}
	f->refs = 1;
	f->len = len;
	/* Short messages live inside |msg| itself, so take the pointer from
	 * the frame's own copy, which does not move. */
	f->data = zmq_msg_data(&f->msg);
	if (len > 0) {
		memcpy(zmq_msg_data(&f->msg), data, len);
	}
	return f;
}

void relay_frame_unref(struct relay_frame *f)
{
	if (f != NULL && --f->refs == 0) {
		zmq_msg_close(&f->msg);
		free(f);
	}
}

void relay_out_free(struct relay_out *o)
{
	if (o != NULL) {
		relay_frame_unref(o->frame);
		free(o);
	}
}

/* out_new makes a node holding a new reference to |frame|. */
static struct relay_out *out_new(struct relay_frame *frame, const uint8_t *conn_id,
				 size_t conn_id_len)
{
	struct relay_out *o = malloc(sizeof *o + conn_id_len);

	if (o == NULL) {
		return NULL;
	}
	o->next = NULL;
	o->frame = frame;
	frame->refs++;
	o->is_push = 0;
	o->request_id = 0;
	o->conn_id_len = conn_id_len;
	if (conn_id_len > 0) {
		memcpy(o->conn_id, conn_id, conn_id_len);
	}
	return o;
}

int relay_pending_add(struct relay *r, const uint8_t *conn_id, size_t conn_id_len, int is_push,
		      uint32_t request_id, struct relay_frame *frame)
{
	struct relay_out *o;

	if (conn_id_len == 0 || conn_id_len > RELAY_CONN_ID_MAX) {
		return HALQA_ERR_ARG;
	}
	o = out_new(frame, conn_id, conn_id_len);
	if (o == NULL) {
		return HALQA_ERR_NOMEM;
	}
	o->is_push = is_push;
	o->request_id = request_id;
	if (r->pend_tail != NULL) {
		r->pend_tail->next = o;
	} else {
		r->pend_head = o;
	}
	r->pend_tail = o;
	r->num_pending++;
	return HALQA_OK;
}

/* encode_err builds an ERR frame (one reference), NULL without memory. */
static struct relay_frame *encode_err(uint32_t request_id, uint16_t code, const char *reason)
{
	struct wire_msg *m = malloc(sizeof *m);
	struct bytes_writer w;
	struct relay_frame *f = NULL;

	if (m == NULL) {
		return NULL;
	}
	wire_set_err(m, request_id, code, reason);
	bytes_writer_init(&w, WIRE_HEADER_LEN + 4 + WIRE_MAX_REASON + 16, 0);
	if (wire_encode(&w, m) == HALQA_OK) {
		f = relay_frame_new(bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	wire_msg_cleanup(m);
	free(m);
	return f;
}

static void conn_push_back(struct relay_conn *c, struct relay_out *o)
{
	o->next = NULL;
	if (c->tail != NULL) {
		c->tail->next = o;
	} else {
		c->head = o;
	}
	c->tail = o;
	c->queued_msgs++;
	c->queued_bytes += o->frame->len;
}

/*
 * overflow: the connection cannot keep up with its listens. Drop them, drop
 * the queued output (a slow reader's backlog is what we refuse to hold) and
 * queue one notice so it knows to fetch.
 */
static void overflow(struct relay *r, struct relay_conn *c)
{
	struct relay_frame *notice;
	struct relay_out *o;
	char fp[9];

	relay_listen_drop_conn(r, c);
	conn_clear_queue(c);
	r->overflows_total++;
	halqa_log_fp(fp, c->key, 32);
	halqa_log(HALQA_LOG_WARN, "relay", "device %s: output queue full, listens dropped", fp);
	if (c->overflowed) {
		return;
	}
	c->overflowed = 1;
	notice = encode_err(0, WIRE_ERR_BUSY, "listens dropped: output queue full; fetch and listen");
	if (notice == NULL) {
		return;
	}
	o = out_new(notice, NULL, 0);
	relay_frame_unref(notice);
	if (o != NULL) {
		conn_push_back(c, o);
	}
}

void relay_conn_enqueue(struct relay *r, struct relay_conn *c, struct relay_out *out)
{
	const struct relay_limits *l = &r->cfg.limits;

	if (c->queued_msgs + 1 > l->queue_messages ||
	    c->queued_bytes + out->frame->len > l->queue_bytes) {
		if (out->is_push) {
			relay_out_free(out);
			overflow(r, c);
			relay_ready_add(r, c);
			return;
		}
		/* A reply beyond the bound: the peer is not reading; drop it. */
		relay_out_free(out);
		return;
	}
	if (out->is_push && c->num_listens == 0 && c->overflowed) {
		/* Pushes of this turn that raced its overflow are not delivered:
		 * the peer was told to fetch. */
		relay_out_free(out);
		return;
	}
	if (!out->is_push) {
		c->overflowed = 0;
	}
	conn_push_back(c, out);
	relay_ready_add(r, c);
}

void relay_release_pending(struct relay *r, int failed)
{
	struct relay_out *o = r->pend_head;

	r->pend_head = r->pend_tail = NULL;
	r->num_pending = 0;
	relay_release_list(r, o, failed);
}

void relay_release_list(struct relay *r, struct relay_out *o, int failed)
{
	while (o != NULL) {
		struct relay_out *next = o->next;
		struct relay_conn *c = NULL;

		o->next = NULL;
		if (failed) {
			relay_frame_unref(o->frame);
			o->frame = NULL;
			if (!o->is_push) {
				o->frame = encode_err(o->request_id, WIRE_ERR_INTERNAL,
						      "storage failure; retry");
			}
		}
		if (r->offline) {
			if (o->frame != NULL && r->opt.output != NULL) {
				r->opt.output(r->opt.output_ctx, o->conn_id, o->conn_id_len,
					      o->frame->data, o->frame->len);
			}
			relay_out_free(o);
		} else if ((c = relay_conn_find(r, o->conn_id, o->conn_id_len)) == NULL) {
			relay_out_free(o);
		} else if (o->frame == NULL) {
			/* A push that was not stored (or a reply we could not even
			 * rewrite): tell the listener to fetch rather than let it
			 * miss a message silently. */
			int was_push = o->is_push;
			relay_out_free(o);
			if (was_push) {
				overflow(r, c);
				relay_ready_add(r, c);
			}
		} else {
			relay_conn_enqueue(r, c, o);
			relay_conn_flush(r, c);
		}
		o = next;
	}
}
