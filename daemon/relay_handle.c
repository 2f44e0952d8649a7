/*
 * relay_handle.c: one request in, one reply (and maybe pushes) out.
 *
 * relay_handle is the relay's whole request path minus ZeroMQ: bounds and
 * rate limits first (they cost nothing to check and protect everything
 * behind them), then the wire decoder, then the guest rule (a key ZAP did
 * not know may only HELLO, REGISTER and PING), then one spool call per
 * request. Replies and pushes are only queued here (relay_pending_add); the
 * loop commits the turn and releases them, so nothing is acknowledged
 * before it is on disk.
 *
 * What the peer hears is chosen apart from what is logged: the peer gets a
 * wire error code and a fixed generic reason; the log gets the device's
 * per-run fingerprint and the request type, never a circle id in the same
 * line, nor payloads, capabilities or invite codes.
 *
 * Malformed frames draw from a per-device allowance (limits.malformed_ban
 * per minute); a device that exhausts it is banned in memory for
 * limits.ban_seconds: its frames are dropped unanswered and ZAP refuses
 * its new connections. ZeroMQ has no way to close one ROUTER peer, so the
 * ban is how a hostile connection is "disconnected".
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/log.h"
#include "relay_int.h"

/* handle_ctx: what one request's handler needs to answer. */
struct handle_ctx {
	struct relay *r;
	const uint8_t *key;
	const uint8_t *conn_id;
	size_t conn_id_len;
	uint32_t request_id;
	uint8_t version;
	struct relay_device *dev;
	char fp[9];
};

static int queue_frame(struct handle_ctx *h, const struct wire_msg *m, size_t max)
{
	struct bytes_writer w;
	int r;

	bytes_writer_init(&w, max, 0);
	r = wire_encode(&w, m);
	if (r == HALQA_OK) {
		struct relay_frame *f = relay_frame_new(bytes_writer_data(&w), bytes_writer_len(&w));
		r = f == NULL ? HALQA_ERR_NOMEM
			      : relay_pending_add(h->r, h->conn_id, h->conn_id_len, 0,
						  h->request_id, f);
		relay_frame_unref(f);
	}
	bytes_writer_cleanup(&w);
	return r;
}

static int reply_err(struct handle_ctx *h, uint16_t code, const char *reason)
{
	struct wire_msg *m = h->r->rep;

	wire_set_err(m, h->request_id, code, reason);
	m->version = h->version;
	return queue_frame(h, m, WIRE_HEADER_LEN + 4 + WIRE_MAX_REASON + 16);
}

/* reply_ok sends h->r->rep (an OK filled by the caller); an encode failure
 * is our bug, answered as `internal`. */
static int reply_ok(struct handle_ctx *h)
{
	struct wire_msg *m = h->r->rep;
	int r;

	m->type = WIRE_OK;
	m->version = h->version;
	m->request_id = h->request_id;
	r = queue_frame(h, m, h->r->cfg.limits.max_frame);
	if (r == HALQA_ERR_NOMEM) {
		return r;
	}
	if (r != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "encoding a %s reply failed: %s",
			  wire_type_name(m->u.ok.for_type), halqa_errname(r));
		return reply_err(h, WIRE_ERR_INTERNAL, "internal error");
	}
	return HALQA_OK;
}

static void ok_init(struct handle_ctx *h, uint8_t for_type)
{
	struct wire_msg *m = h->r->rep;

	wire_msg_init(m, WIRE_OK, h->request_id);
	m->u.ok.for_type = for_type;
}

/* spool_err answers a spool failure with the wire code a client acts on. */
static int spool_err(struct handle_ctx *h, int rc)
{
	switch (rc) {
	case HALQA_ERR_NOT_FOUND:
		return reply_err(h, WIRE_ERR_NOT_FOUND, "not found");
	case HALQA_ERR_DENIED:
		return reply_err(h, WIRE_ERR_DENIED, "denied");
	case HALQA_ERR_STALE:
		return reply_err(h, WIRE_ERR_STALE_EPOCH, "stale epoch; sync and retry");
	case HALQA_ERR_EXISTS:
		return reply_err(h, WIRE_ERR_EXISTS, "already exists");
	case HALQA_ERR_LIMIT:
		return reply_err(h, WIRE_ERR_QUOTA_EXCEEDED, "quota exceeded");
	case HALQA_ERR_TOO_LARGE:
		return reply_err(h, WIRE_ERR_TOO_LARGE, "too large");
	case HALQA_ERR_ARG:
	case HALQA_ERR_INVALID:
		return reply_err(h, WIRE_ERR_BAD_REQUEST, "bad request");
	case HALQA_ERR_NOMEM:
		return reply_err(h, WIRE_ERR_BUSY, "relay busy; retry");
	default:
		halqa_log(HALQA_LOG_ERROR, "relay", "device %s: storage error %s", h->fp,
			  halqa_errname(rc));
		return reply_err(h, WIRE_ERR_INTERNAL, "internal error; retry");
	}
}

/*
 * quota_check refuses |bytes| more stored bytes for the device today before
 * anything is written, so a refused request changes nothing and a retried
 * duplicate is not charged twice (the charge follows a successful store).
 * The figures are read from the spool once and then kept in memory with
 * the device's other state; charges are written once per turn.
 */
static int quota_check(struct handle_ctx *h, uint64_t bytes, int *refused)
{
	struct relay_device *d = h->dev;
	uint64_t now = relay_now_sec(h->r), day = now / 86400;
	struct spool_quota q;
	int rc;

	*refused = 0;
	if (!d->quota_known || d->quota_day != day) {
		rc = spool_device_quota(h->r->spool, h->key, now, &q);
		if (rc != HALQA_OK) {
			return rc;
		}
		d->quota_known = 1;
		d->quota_day = day;
		d->bytes_today = q.bytes_today + d->pending_charge;
		d->bytes_max = q.bytes_max;
	}
	if (d->bytes_max != 0 &&
	    (d->bytes_today > d->bytes_max || bytes > d->bytes_max - d->bytes_today)) {
		*refused = 1;
	}
	return HALQA_OK;
}

static void charge(struct handle_ctx *h, uint64_t bytes)
{
	struct relay_device *d = h->dev;

	d->bytes_today += bytes;
	d->pending_charge += bytes;
	if (!d->dirty) {
		d->dirty = 1;
		d->dirty_next = h->r->dirty;
		h->r->dirty = d;
	}
}

static int do_hello(struct handle_ctx *h, const struct wire_hello *req, int registered)
{
	const struct relay_config *cfg = &h->r->cfg;
	struct wire_hello_ok *ok;
	uint64_t rps;

	if (req->min_version > WIRE_VERSION_MAX || req->max_version < WIRE_VERSION_MIN) {
		return reply_err(h, WIRE_ERR_UNSUPPORTED_VERSION, "no common version");
	}
	ok_init(h, WIRE_HELLO);
	ok = &h->r->rep->u.ok.u.hello;
	ok->version = req->max_version < WIRE_VERSION_MAX ? req->max_version : WIRE_VERSION_MAX;
	ok->registered = (uint8_t)(registered != 0);
	ok->max_frame = cfg->limits.max_frame;
	ok->max_payload = cfg->limits.max_payload;
	ok->max_fetch_count = (uint16_t)cfg->limits.max_fetch;
	ok->max_mailbox_fetch = WIRE_MAX_MAILBOX_FETCH;
	ok->max_kp_batch = WIRE_MAX_KP_BATCH;
	ok->max_delete_ids = WIRE_MAX_DELETE_IDS;
	rps = (uint64_t)cfg->limits.requests_per_sec;
	ok->requests_per_sec = rps == 0 ? 1 : (rps > UINT32_MAX ? UINT32_MAX : (uint32_t)rps);
	ok->kp_claims_per_min = cfg->limits.claims_per_min < 1 ? 1 : (uint32_t)cfg->limits.claims_per_min;
	ok->max_circles = cfg->limits.max_circles;
	ok->bytes_per_day = cfg->limits.daily_bytes;
	ok->default_max_age = cfg->retention.max_age_sec > UINT32_MAX
				      ? UINT32_MAX
				      : (uint32_t)cfg->retention.max_age_sec;
	return reply_ok(h);
}

/*
 * normalise_invite lets people type codes loosely: case and the '-' group
 * separators do not matter. The normalised form is what `halqad invite`
 * stored.
 */
static size_t normalise_invite(const char *in, char out[WIRE_MAX_INVITE + 1])
{
	size_t n = 0;

	for (; *in != '\0' && n < WIRE_MAX_INVITE; in++) {
		char c = *in;
		if (c == '-') {
			continue;
		}
		if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return n;
}

static int do_register(struct handle_ctx *h, const struct wire_register *req, int registered)
{
	char code[WIRE_MAX_INVITE + 1];
	size_t code_len;
	int open = h->r->cfg.mode == RELAY_MODE_OPEN;
	int rc;

	if (registered) {
		return reply_err(h, WIRE_ERR_ALREADY_REGISTERED, "already registered");
	}
	code_len = normalise_invite(req->invite, code);
	if (!open && code_len == 0) {
		return reply_err(h, WIRE_ERR_INVITE_INVALID, "invite required");
	}
	rc = spool_device_register(h->r->spool, h->key, open ? NULL : (const uint8_t *)code,
				   open ? 0 : code_len, open, relay_now_sec(h->r));
	sodium_memzero(code, sizeof code);
	switch (rc) {
	case HALQA_OK:
		halqa_log(HALQA_LOG_INFO, "relay", "device %s registered", h->fp);
		ok_init(h, WIRE_REGISTER);
		return reply_ok(h);
	case HALQA_ERR_EXISTS:
		return reply_err(h, WIRE_ERR_ALREADY_REGISTERED, "already registered");
	case HALQA_ERR_DENIED:
	case HALQA_ERR_ARG:
		return reply_err(h, WIRE_ERR_INVITE_INVALID, "invite invalid, used or expired");
	default:
		return spool_err(h, rc);
	}
}

static int do_circle_create(struct handle_ctx *h, const struct wire_circle_create *req)
{
	int rc = spool_circle_create(h->r->spool, h->key, req->circle_id, req->cap_hash,
				     req->max_age, relay_now_sec(h->r));

	if (rc == HALQA_ERR_NOT_FOUND) {
		return reply_err(h, WIRE_ERR_NOT_REGISTERED, "not registered");
	}
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_CIRCLE_CREATE);
	return reply_ok(h);
}

/* push_deliver queues the DELIVER of a stored message to every listener. */
static int push_deliver(struct handle_ctx *h, const struct wire_send *req,
			const struct spool_append_res *res)
{
	struct relay *r = h->r;
	struct relay_circle *ci = relay_circle_find(r, req->circle_id);
	struct wire_msg *m = r->push;
	struct relay_frame *f = NULL;
	struct bytes_writer w;
	int rc = HALQA_OK;

	if (ci == NULL || ci->num_conns == 0) {
		return HALQA_OK;
	}
	wire_msg_init(m, WIRE_DELIVER, 0);
	memcpy(m->u.deliver.circle_id, req->circle_id, WIRE_ID_LEN);
	m->u.deliver.seq = res->seq;
	m->u.deliver.epoch = res->epoch;
	m->u.deliver.kind = req->kind;
	m->u.deliver.flags = res->closed_epoch ? WIRE_DELIVER_EPOCH_CLOSED : 0;
	m->u.deliver.payload = req->payload;
	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	rc = wire_encode(&w, m);
	wire_msg_cleanup(m);
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "encoding a push failed: %s", halqa_errname(rc));
		goto out;
	}
	/* Encoded once, shared by every listener's queue. */
	f = relay_frame_new(bytes_writer_data(&w), bytes_writer_len(&w));
	if (f == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < ci->num_conns; i++) {
		struct relay_conn *c = ci->conns[i];
		rc = relay_pending_add(r, c->id, c->id_len, 1, 0, f);
		if (rc != HALQA_OK) {
			goto out;
		}
		r->pushes_total++;
	}
out:
	relay_frame_unref(f);
	bytes_writer_cleanup(&w);
	return rc;
}

static int do_send(struct handle_ctx *h, const struct wire_send *req)
{
	struct spool_append_req ar;
	struct spool_append_res res;
	uint8_t cap_hash[WIRE_CAP_LEN];
	int refused, rc;

	if (req->payload.len > h->r->cfg.limits.max_payload) {
		return reply_err(h, WIRE_ERR_TOO_LARGE, "payload too large");
	}
	if ((rc = wire_cap_hash(cap_hash, req->cap)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	memset(&ar, 0, sizeof ar);
	ar.circle_id = req->circle_id;
	ar.epoch = req->epoch;
	ar.kind = req->kind == WIRE_KIND_COMMIT     ? SPOOL_KIND_COMMIT
		  : req->kind == WIRE_KIND_PROPOSAL ? SPOOL_KIND_PROPOSAL
						    : SPOOL_KIND_APPLICATION;
	ar.cap_hash = cap_hash;
	ar.next_cap_hash = req->kind == WIRE_KIND_COMMIT ? req->next_cap_hash : NULL;
	ar.client_msg_id = req->client_msg_id;
	ar.payload = req->payload.data;
	ar.payload_len = req->payload.len;
	ar.now = relay_now_sec(h->r);
	if ((rc = quota_check(h, req->payload.len, &refused)) != HALQA_OK) {
		sodium_memzero(cap_hash, sizeof cap_hash);
		return spool_err(h, rc);
	}
	if (refused) {
		/*
		 * A retry of a message already accepted costs nothing, so the
		 * quota does not apply to it: a client whose OK was lost must
		 * learn its original seq, not resend forever or give up on a
		 * message the circle already has.
		 */
		rc = spool_append_find(h->r->spool, &ar, &res);
		sodium_memzero(cap_hash, sizeof cap_hash);
		if (rc == HALQA_ERR_NOT_FOUND) {
			return reply_err(h, WIRE_ERR_QUOTA_EXCEEDED, "daily byte quota exceeded");
		}
	} else {
		rc = spool_append(h->r->spool, &ar, &res);
		sodium_memzero(cap_hash, sizeof cap_hash);
	}
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	if (!res.duplicate) {
		charge(h, req->payload.len);
	}
	/* The reply is queued before the pushes, so a sender that also
	 * listens hears its OK first. */
	ok_init(h, WIRE_SEND);
	h->r->rep->u.ok.u.send.seq = res.seq;
	h->r->rep->u.ok.u.send.duplicate = (uint8_t)(res.duplicate != 0);
	if ((rc = reply_ok(h)) != HALQA_OK || res.duplicate) {
		return rc;
	}
	if ((rc = push_deliver(h, req, &res)) != HALQA_OK) {
		return rc;
	}
	if (res.closed_epoch) {
		/* The commit went out to the listeners of the closed epoch; from
		 * now on only holders of the next capability hear the circle, so
		 * a removed member hears nothing more. */
		relay_listen_drop_circle(h->r, req->circle_id);
	}
	return HALQA_OK;
}

static int do_listen(struct handle_ctx *h, const struct wire_listen *req)
{
	struct spool_epoch_info info;
	uint8_t cap_hash[WIRE_CAP_LEN];
	struct relay_conn *c;
	int rc;

	if ((rc = wire_cap_hash(cap_hash, req->cap)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	rc = spool_cap_lookup(h->r->spool, req->circle_id, cap_hash, &info);
	sodium_memzero(cap_hash, sizeof cap_hash);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	if (info.closed) {
		return reply_err(h, WIRE_ERR_STALE_EPOCH, "epoch closed; fetch and use the next");
	}
	/* libzmq names a peer 0x00 + a counter it never reuses, unless the
	 * peer picks its own routing id; a chosen id could be picked again by
	 * another device after this one disconnects and inherit its listens.
	 * So only connections with a relay-assigned id may listen. */
	if (h->conn_id_len != 5 || h->conn_id[0] != 0) {
		return reply_err(h, WIRE_ERR_BAD_REQUEST, "connections that set a routing id cannot listen");
	}
	c = relay_conn_get(h->r, h->conn_id, h->conn_id_len, h->key);
	if (c == NULL) {
		return reply_err(h, WIRE_ERR_BUSY, "relay busy; retry");
	}
	if (sodium_memcmp(c->key, h->key, 32) != 0) {
		return reply_err(h, WIRE_ERR_BAD_REQUEST, "connection id in use");
	}
	rc = relay_listen_add(h->r, c, req->circle_id);
	if (rc == HALQA_ERR_LIMIT) {
		return reply_err(h, WIRE_ERR_QUOTA_EXCEEDED, "too many listens on this connection");
	}
	if (rc != HALQA_OK) {
		return reply_err(h, WIRE_ERR_BUSY, "relay busy; retry");
	}
	c->overflowed = 0;
	ok_init(h, WIRE_LISTEN);
	h->r->rep->u.ok.u.listen.epoch = info.epoch;
	h->r->rep->u.ok.u.listen.last_seq = info.last_seq;
	return reply_ok(h);
}

static int do_unlisten(struct handle_ctx *h, const struct wire_unlisten *req)
{
	struct relay_conn *c = relay_conn_find(h->r, h->conn_id, h->conn_id_len);

	if (c != NULL) {
		relay_listen_del(h->r, c, req->circle_id);
	}
	ok_init(h, WIRE_UNLISTEN);
	return reply_ok(h);
}

static int do_fetch(struct handle_ctx *h, const struct wire_fetch *req)
{
	struct spool_fetch f = {0};
	uint8_t cap_hash[WIRE_CAP_LEN];
	struct wire_fetch_ok *ok;
	uint32_t max = req->max_count;
	size_t budget, used = WIRE_FETCH_OK_OVERHEAD;
	int rc;

	if (max > h->r->cfg.limits.max_fetch) {
		max = h->r->cfg.limits.max_fetch;
	}
	if ((rc = wire_cap_hash(cap_hash, req->cap)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	rc = spool_fetch(h->r->spool, req->circle_id, cap_hash, req->from_seq, max, &f);
	sodium_memzero(cap_hash, sizeof cap_hash);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_FETCH);
	ok = &h->r->rep->u.ok.u.fetch;
	ok->epoch = f.info.epoch;
	ok->closed = (uint8_t)(f.info.closed != 0);
	ok->first_seq = f.info.first_seq;
	ok->last_seq = f.info.last_seq;
	/* The reply must fit the frame the client accepts; what does not fit
	 * is fetched by the next FETCH from the next seq. */
	budget = h->r->cfg.limits.max_frame;
	for (size_t i = 0; i < f.num_msgs && i < WIRE_MAX_FETCH_COUNT; i++) {
		size_t need = WIRE_FETCH_ITEM_OVERHEAD + f.msgs[i].payload_len;
		if (used + need > budget) {
			break;
		}
		used += need;
		ok->msgs[i].seq = f.msgs[i].seq;
		ok->msgs[i].kind = (uint8_t)f.msgs[i].kind;
		ok->msgs[i].payload.data = f.msgs[i].payload;
		ok->msgs[i].payload.len = f.msgs[i].payload_len;
		ok->num_msgs = (uint16_t)(i + 1);
	}
	rc = reply_ok(h);
	spool_fetch_cleanup(&f);
	return rc;
}

static int do_ack(struct handle_ctx *h, const struct wire_ack *req)
{
	uint8_t cap_hash[WIRE_CAP_LEN];
	int rc;

	if ((rc = wire_cap_hash(cap_hash, req->cap)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	rc = spool_cursor_ack(h->r->spool, req->circle_id, req->cursor_id, cap_hash, req->seq,
			      relay_now_sec(h->r));
	sodium_memzero(cap_hash, sizeof cap_hash);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_ACK);
	return reply_ok(h);
}

static int do_mailbox_put(struct handle_ctx *h, const struct wire_mailbox_put *req)
{
	int refused, rc;

	if (req->payload.len > h->r->cfg.limits.max_payload) {
		return reply_err(h, WIRE_ERR_TOO_LARGE, "payload too large");
	}
	if ((rc = quota_check(h, req->payload.len, &refused)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	if (refused) {
		return reply_err(h, WIRE_ERR_QUOTA_EXCEEDED, "daily byte quota exceeded");
	}
	rc = spool_mailbox_put(h->r->spool, req->mailbox_id, req->payload.data, req->payload.len,
			       relay_now_sec(h->r), NULL);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	charge(h, req->payload.len);
	ok_init(h, WIRE_MAILBOX_PUT);
	return reply_ok(h);
}

static int do_mailbox_fetch(struct handle_ctx *h, const struct wire_mailbox_fetch *req)
{
	struct spool_items it = {0};
	struct wire_mailbox_fetch_ok *ok;
	size_t used = WIRE_MAILBOX_OK_OVERHEAD;
	int rc;

	/* The owner's first fetch creates the mailbox: its id came from the
	 * owner's contact card, so nobody else can have claimed it first
	 * unless the card leaked, and then ensure says DENIED. */
	rc = spool_mailbox_ensure(h->r->spool, req->mailbox_id, h->key, relay_now_sec(h->r));
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	rc = spool_mailbox_fetch(h->r->spool, req->mailbox_id, h->key, 0, req->max_count, &it);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_MAILBOX_FETCH);
	ok = &h->r->rep->u.ok.u.mailbox_fetch;
	for (size_t i = 0; i < it.num_items && i < WIRE_MAX_MAILBOX_FETCH; i++) {
		size_t need = WIRE_MAILBOX_ITEM_OVERHEAD + it.items[i].data_len;
		if (used + need > h->r->cfg.limits.max_frame) {
			break;
		}
		used += need;
		ok->items[i].id = it.items[i].id;
		ok->items[i].payload.data = it.items[i].data;
		ok->items[i].payload.len = it.items[i].data_len;
		ok->num_items = (uint16_t)(i + 1);
	}
	rc = reply_ok(h);
	spool_items_cleanup(&it);
	return rc;
}

static int do_mailbox_delete(struct handle_ctx *h, const struct wire_mailbox_delete *req)
{
	size_t deleted = 0;
	int rc;

	rc = spool_mailbox_delete(h->r->spool, req->mailbox_id, h->key, req->ids, req->num_ids,
				  &deleted);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_MAILBOX_DELETE);
	h->r->rep->u.ok.u.mailbox_delete.deleted = (uint16_t)deleted;
	return reply_ok(h);
}

static int do_kp_publish(struct handle_ctx *h, const struct wire_kp_publish *req)
{
	struct spool_blob pkgs[WIRE_MAX_KP_BATCH];
	struct spool_blob last;
	uint64_t total = 0;
	uint32_t count = 0;
	int refused, rc;

	for (size_t i = 0; i < req->num_packages && i < WIRE_MAX_KP_BATCH; i++) {
		pkgs[i].data = req->packages[i].data;
		pkgs[i].len = req->packages[i].len;
		total += req->packages[i].len;
	}
	if (req->has_last_resort) {
		last.data = req->last_resort.data;
		last.len = req->last_resort.len;
		total += last.len;
	}
	if ((rc = quota_check(h, total, &refused)) != HALQA_OK) {
		return spool_err(h, rc);
	}
	if (refused) {
		return reply_err(h, WIRE_ERR_QUOTA_EXCEEDED, "daily byte quota exceeded");
	}
	rc = spool_kp_publish(h->r->spool, req->dir_id, h->key, pkgs, req->num_packages,
			      req->has_last_resort ? &last : NULL, relay_now_sec(h->r));
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	charge(h, total);
	rc = spool_kp_count(h->r->spool, req->dir_id, h->key, &count, NULL);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_KP_PUBLISH);
	h->r->rep->u.ok.u.kp_publish.one_time = count;
	return reply_ok(h);
}

static int do_kp_claim(struct handle_ctx *h, struct relay_device *d, const struct wire_kp_dir *req)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int last_resort = 0, rc;

	/* Claims empty a directory of one-time packages, forcing everyone onto
	 * the last resort (weaker forward secrecy): they are limited per
	 * claiming device, apart from the general request rate. */
	if (!ratelimit_take(&d->claims, 1, relay_now_ms(h->r))) {
		return reply_err(h, WIRE_ERR_RATE_LIMITED, "too many claims; retry later");
	}
	rc = spool_kp_claim(h->r->spool, req->dir_id, &data, &len, &last_resort);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_KP_CLAIM);
	h->r->rep->u.ok.u.kp_claim.last_resort = (uint8_t)(last_resort != 0);
	h->r->rep->u.ok.u.kp_claim.package.data = data;
	h->r->rep->u.ok.u.kp_claim.package.len = len;
	rc = reply_ok(h);
	free(data);
	return rc;
}

static int do_kp_count(struct handle_ctx *h, const struct wire_kp_dir *req)
{
	uint32_t count = 0;
	int has_last = 0, rc;

	rc = spool_kp_count(h->r->spool, req->dir_id, h->key, &count, &has_last);
	if (rc != HALQA_OK) {
		return spool_err(h, rc);
	}
	ok_init(h, WIRE_KP_COUNT);
	h->r->rep->u.ok.u.kp_count.one_time = count;
	h->r->rep->u.ok.u.kp_count.has_last_resort = (uint8_t)(has_last != 0);
	return reply_ok(h);
}

/* malformed charges the device's allowance and bans it when exhausted. */
static void malformed(struct handle_ctx *h, struct relay_device *d)
{
	uint64_t now = relay_now_ms(h->r);

	if (ratelimit_take(&d->malformed, 1, now)) {
		return;
	}
	d->banned_until_ms = now + (uint64_t)h->r->cfg.limits.ban_seconds * 1000;
	h->r->bans_total++;
	halqa_log(HALQA_LOG_WARN, "relay", "device %s: repeated malformed input, banned for %us",
		  h->fp, h->r->cfg.limits.ban_seconds);
}

static int dispatch(struct handle_ctx *h, struct relay_device *d, int registered)
{
	struct wire_msg *m = h->r->req;

	switch (m->type) {
	case WIRE_HELLO:
		return do_hello(h, &m->u.hello, registered);
	case WIRE_PING:
		ok_init(h, WIRE_PING);
		return reply_ok(h);
	case WIRE_REGISTER:
		return do_register(h, &m->u.reg, registered);
	default:
		break;
	}
	if (!registered) {
		return reply_err(h, WIRE_ERR_NOT_REGISTERED, "register first");
	}
	switch (m->type) {
	case WIRE_CIRCLE_CREATE:
		return do_circle_create(h, &m->u.circle_create);
	case WIRE_SEND:
		return do_send(h, &m->u.send);
	case WIRE_LISTEN:
		return do_listen(h, &m->u.listen);
	case WIRE_UNLISTEN:
		return do_unlisten(h, &m->u.unlisten);
	case WIRE_FETCH:
		return do_fetch(h, &m->u.fetch);
	case WIRE_ACK:
		return do_ack(h, &m->u.ack);
	case WIRE_MAILBOX_PUT:
		return do_mailbox_put(h, &m->u.mailbox_put);
	case WIRE_MAILBOX_FETCH:
		return do_mailbox_fetch(h, &m->u.mailbox_fetch);
	case WIRE_MAILBOX_DELETE:
		return do_mailbox_delete(h, &m->u.mailbox_delete);
	case WIRE_KP_PUBLISH:
		return do_kp_publish(h, &m->u.kp_publish);
	case WIRE_KP_CLAIM:
		return do_kp_claim(h, d, &m->u.kp_dir);
	case WIRE_KP_COUNT:
		return do_kp_count(h, &m->u.kp_dir);
	default:
		malformed(h, d);
		return reply_err(h, WIRE_ERR_UNKNOWN_TYPE, "not a request");
	}
}

int relay_handle(struct relay *r, const uint8_t device_key[32], int registered,
		 const uint8_t *conn_id, size_t conn_id_len, const uint8_t *req, size_t len)
{
	struct handle_ctx h;
	struct wire_header hdr;
	struct relay_device *d;
	uint64_t now = relay_now_ms(r);
	int status, rc;

	memset(&h, 0, sizeof h);
	h.r = r;
	h.key = device_key;
	h.conn_id = conn_id;
	h.conn_id_len = conn_id_len;
	h.version = WIRE_VERSION_MIN;
	if (wire_peek_header(req, len, &hdr) == HALQA_OK) {
		h.request_id = hdr.request_id;
	}
	halqa_log_fp(h.fp, device_key, 32);

	d = relay_device_get(r, device_key);
	if (d == NULL) {
		return HALQA_ERR_NOMEM;
	}
	h.dev = d;
	if (d->banned_until_ms > now) {
		return HALQA_OK;
	}
	r->requests_total++;
	r->req_ring[r->req_ring_pos]++;

	if (!ratelimit_take(&d->requests, 1, now)) {
		return reply_err(&h, WIRE_ERR_RATE_LIMITED, "too many requests; slow down");
	}
	if (len > r->cfg.limits.max_frame) {
		malformed(&h, d);
		return reply_err(&h, WIRE_ERR_TOO_LARGE, "frame too large");
	}
	if (!ratelimit_take(&d->bytes, (double)len, now)) {
		return reply_err(&h, WIRE_ERR_RATE_LIMITED, "too many bytes; slow down");
	}

	rc = wire_decode(req, len, r->req);
	if (rc != HALQA_OK) {
		malformed(&h, d);
		wire_reject(req, len, rc, r->rep);
		halqa_log(HALQA_LOG_DEBUG, "relay", "device %s: undecodable frame: %s", h.fp,
			  halqa_errname(rc));
		rc = queue_frame(&h, r->rep, WIRE_HEADER_LEN + 4 + WIRE_MAX_REASON + 16);
		wire_msg_cleanup(r->rep);
		return rc;
	}
	h.version = r->req->version;
	h.request_id = r->req->request_id;

	if (!registered) {
		/* ZAP saw a guest; it may have registered since it connected. */
		rc = spool_device_status(r->spool, device_key, &status);
		if (rc != HALQA_OK) {
			rc = spool_err(&h, rc);
			goto out;
		}
		if (status == SPOOL_DEVICE_BANNED) {
			rc = HALQA_OK;
			goto out;
		}
		registered = status == SPOOL_DEVICE_REGISTERED;
	}
	rc = dispatch(&h, d, registered);
	halqa_log(HALQA_LOG_DEBUG, "relay", "device %s: %s", h.fp, wire_type_name(r->req->type));
out:
	wire_msg_cleanup(r->req);
	wire_msg_cleanup(r->rep);
	return rc;
}
