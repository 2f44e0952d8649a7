/*
 * net.c: the client's relay connection, a ZeroMQ DEALER driven by libuv.
 *
 * ZeroMQ's ZMQ_FD is an edge-style signal, not the socket's data: any send,
 * recv or ZMQ_EVENTS read may consume it while messages wait. So, as
 * PLATFORM.md prescribes, every byte moves through one pump(): it re-reads
 * ZMQ_EVENTS after every send and every recv, returns only when neither
 * socket can make progress, and when its budget runs out it parks on a
 * uv_idle_t instead of waiting for an fd that will not fire again. The poll
 * handles watch UV_READABLE only, and pump() runs once right after they
 * start. net_request never touches the socket: it queues the frame and
 * schedules pump() on the idle handle, so no callback runs inside it. The same pump serves the socket monitor (a PAIR on an
 * inproc endpoint), which is how we tell "the relay refused this key" (ZAP
 * 400, after which ZeroMQ never reconnects) and "the relay's key is not the
 * pinned one" (the handshake fails again and again) from a plain timeout.
 *
 * A lost connection is known from the monitor too (DISCONNECTED after a
 * completed handshake), and nothing in flight is waited out: replies that
 * arrived before the drop are read first, then every request whose frame
 * went to ZeroMQ fails with HALQA_ERR_NETWORK at once (it may or may not
 * have reached the relay; a reply that comes later carries an id whose
 * generation has moved on, so it is dropped). While offline, a request's
 * frame stays in our own queue, never in ZeroMQ's, and rides one fresh
 * connection attempt (zmq_disconnect + zmq_connect, which also resets
 * ZeroMQ's reconnect backoff): a refused or failed attempt fails everything
 * pending at once, a handshake sends the queue. So a dead relay costs a
 * caller one refused connect, not its timeout, and a relay that is back is
 * used at once instead of after ZeroMQ's next retry, seconds away maybe.
 *
 * Requests live in a fixed table of NET_MAX_PENDING slots, each with its own
 * timer, initialised the first time its slot is used: a one-shot command
 * makes a handful of requests, and a thousand timers set up and closed
 * cost it more CPU than its requests (the slots' pages touched, a close
 * callback each). The request id carries the slot index in its low bits and a
 * per-slot generation above it, so a reply finds its slot in O(1) and a
 * late reply to a freed or reused slot does not match (the generation
 * differs). A slot is freed before its callback runs, which is what makes
 * every request complete exactly once whatever the callback does. Replies
 * are decoded into one wire_msg owned by the net (about 9 KiB, so never on
 * the stack), borrowed by the callback, and wiped after.
 *
 * Lifetime: net_close fails the pending requests, closes every libuv handle
 * and the ZeroMQ sockets (poll handles closed first), and the last close
 * callback frees the struct. A flag stops pump() if a callback closes the
 * net while pump() is running.
 */
#include "halqa/net.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"
#include "halqa/log.h"
#include "halqa/zmq_lib.h"

/*
 * zl is libzmq's table (zmq_lib.h): net_new loads it before anything
 * else, and every call below runs on a net, so after that.
 */
static const struct zmq_lib *zl(void)
{
	return zmq_lib_loaded();
}

#define NET_SLOT_BITS 10 /* 1 << NET_SLOT_BITS == NET_MAX_PENDING */
#define NET_PUMP_BUDGET 1024
#define NET_HWM 1000
#define NET_RECONNECT_IVL_MS 100
#define NET_RECONNECT_IVL_MAX_MS 10000
#define NET_HEARTBEAT_IVL_MS 15000
#define NET_HEARTBEAT_TIMEOUT_MS 45000

_Static_assert((1u << NET_SLOT_BITS) == NET_MAX_PENDING, "slot bits match the table");
_Static_assert(NET_MAX_PENDING <= 65536, "a slot index fits timer_slots' uint16_t");

struct net_frame {
	struct net_frame *next;
	struct net_frame *prev;
	struct net_slot *slot; /* the request it carries, while that is pending */
	size_t len;
	uint8_t data[]; /* may hold capabilities: wiped before free */
};

struct net_slot {
	uv_timer_t timer;
	struct net *net;
	net_reply_cb cb;
	void *arg;
	uint32_t id;     /* 0 when free */
	uint32_t gen;    /* bumped on every use */
	uint8_t type;    /* the request type, which an OK must name */
	struct net_frame *frame; /* its frame while still in our queue, else NULL */
	int status;      /* outcome if the timer fires: timeout, or a fault */
	int timer_on;    /* timer initialised (at the slot's first use), so closed at the end */
};

struct net {
	uv_loop_t *loop;
	void *sock;
	void *mon;
	char endpoint[RELAYADDR_MAX_ENDPOINT + 1]; /* what sock connects to, for a fresh attempt */
	uv_poll_t poll;
	uv_poll_t mon_poll;
	uv_idle_t again;
	struct net_slot *slots; /* NET_MAX_PENDING */
	size_t num_pending;
	size_t num_timers; /* slots whose timer is initialised */
	/*
	 * Their indices, in the order of first use. The slot table is 200 KiB
	 * that calloc maps untouched, and a few slots at random places are ever
	 * used: walking the whole table (to fail what is pending, or to close
	 * the timers) faulted it all in, a millisecond here.
	 */
	uint16_t *timer_slots;
	struct net_frame *outq_head;
	struct net_frame *outq_tail;
	net_push_cb push_cb;
	void *push_arg;
	net_event_cb event_cb;
	void *event_arg;
	struct wire_msg *msg; /* decode scratch, lent to callbacks */
	struct wire_msg *enc; /* encode scratch for net_request */
	struct net_pending call; /* net_call's request and its answer */
	const uint8_t *cur_frame; /* the frame being dispatched */
	size_t cur_frame_len;
	struct net_stats stats;
	int fault;
	int connected;
	int offline;      /* the connection dropped and no handshake completed since */
	int want_attempt; /* offline with requests waiting: the pump starts a fresh attempt */
	int attempting;   /* that attempt is under way */
	int endpoint_on;  /* sock is connected to endpoint (zmq_connect, not undone) */
	unsigned failed_handshakes;
	int closing;
	int in_pump; /* a callback's net_request only queues; the running pump sends it */
	int polls_started;
	int poll_inited, mon_poll_inited;
	size_t open_handles;
};

static void pump(struct net *n);

static int set_int(void *s, int opt, int v)
{
	return zl()->zmq_setsockopt(s, opt, &v, sizeof v);
}

static void emit(struct net *n, enum net_event ev)
{
	if (n->event_cb != NULL) {
		n->event_cb(n->event_arg, ev);
	}
}

static void frame_free(struct net_frame *f)
{
	sodium_memzero(f->data, f->len);
	free(f);
}

static void outq_unlink(struct net *n, struct net_frame *f)
{
	if (f->prev != NULL) {
		f->prev->next = f->next;
	} else {
		n->outq_head = f->next;
	}
	if (f->next != NULL) {
		f->next->prev = f->prev;
	} else {
		n->outq_tail = f->prev;
	}
	if (f->slot != NULL) {
		f->slot->frame = NULL;
	}
	frame_free(f);
}

/*
 * Frees the slot, then calls its callback: exactly once, whatever the
 * callback does. A frame still in our queue goes with it, so the queue
 * never holds more than NET_MAX_PENDING frames however long the relay is
 * unreachable, and a request reported as failed is not sent afterwards.
 */
static void complete(struct net_slot *s, int status, const struct wire_msg *reply)
{
	net_reply_cb cb = s->cb;
	void *arg = s->arg;

	if (s->frame != NULL) {
		outq_unlink(s->net, s->frame);
	}
	if (s->timer_on) {
		uv_timer_stop(&s->timer);
	}
	s->id = 0;
	s->cb = NULL;
	s->arg = NULL;
	s->net->num_pending--;
	cb(arg, status, reply);
}

/*
 * Completes every pending request with |status|; returns how many. A
 * pending slot has its timer: only those are looked at (timer_slots).
 */
static uint64_t fail_all(struct net *n, int status)
{
	uint64_t num = 0;
	size_t k;

	for (k = 0; k < n->num_timers && n->num_pending > 0; k++) {
		struct net_slot *s = &n->slots[n->timer_slots[k]];

		if (s->id != 0) {
			complete(s, status, NULL);
			num++;
		}
	}
	return num;
}

static void on_timer(uv_timer_t *t)
{
	struct net_slot *s = t->data;

	if (s->id == 0) {
		return;
	}
	if (s->status == HALQA_ERR_NETWORK) {
		s->net->stats.timeouts++;
	}
	complete(s, s->status, NULL);
}

/* ---- receiving ---- */

static void dispatch_reply(struct net *n, const struct wire_msg *m)
{
	struct net_slot *s = &n->slots[m->request_id & (NET_MAX_PENDING - 1)];

	if (m->request_id == 0 || s->id != m->request_id) {
		n->stats.dropped_unknown++;
		return;
	}
	if (m->type == WIRE_OK) {
		if (m->u.ok.for_type != s->type) {
			/* A relay answering with the wrong shape does not get to complete the request. */
			n->stats.dropped_mismatch++;
			return;
		}
		n->stats.replies++;
		complete(s, HALQA_OK, m);
		return;
	}
	n->stats.replies++;
	complete(s, wire_err_to_halqa(m->u.err.code), m);
}

static void dispatch(struct net *n, const uint8_t *buf, size_t len)
{
	struct wire_msg *m = n->msg;

	if (wire_decode(buf, len, m) != HALQA_OK) {
		n->stats.dropped_garbage++;
		return;
	}
	n->cur_frame = buf;
	n->cur_frame_len = len;
	switch (m->type) {
	case WIRE_OK:
	case WIRE_ERR:
		dispatch_reply(n, m);
		break;
	case WIRE_DELIVER:
		if (m->request_id != 0) {
			n->stats.dropped_other++;
			break;
		}
		n->stats.pushes++;
		if (n->push_cb != NULL) {
			n->push_cb(n->push_arg, m);
		}
		break;
	default:
		n->stats.dropped_other++;
		break;
	}
	n->cur_frame = NULL;
	n->cur_frame_len = 0;
	wire_msg_cleanup(m);
}

static void recv_one(struct net *n)
{
	zmq_msg_t msg;
	int more;
	size_t more_len = sizeof more;

	zl()->zmq_msg_init(&msg);
	if (zl()->zmq_msg_recv(&msg, n->sock, ZMQ_DONTWAIT) < 0) {
		zl()->zmq_msg_close(&msg);
		return;
	}
	if (zl()->zmq_getsockopt(n->sock, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
		/* The protocol is one frame per message: drop every part. */
		n->stats.dropped_garbage++;
		do {
			zl()->zmq_msg_close(&msg);
			zl()->zmq_msg_init(&msg);
			if (zl()->zmq_msg_recv(&msg, n->sock, ZMQ_DONTWAIT) < 0) {
				break;
			}
			more_len = sizeof more;
		} while (zl()->zmq_getsockopt(n->sock, ZMQ_RCVMORE, &more, &more_len) == 0 && more);
		zl()->zmq_msg_close(&msg);
		return;
	}
	dispatch(n, zl()->zmq_msg_data(&msg), zl()->zmq_msg_size(&msg));
	zl()->zmq_msg_close(&msg);
}

/* ---- the socket monitor ---- */

static int events_of(void *s);

/*
 * The connection dropped. The relay's answers that arrived before the drop
 * wait in the socket: read them first. Then every request whose frame went
 * to ZeroMQ fails now: it may or may not have reached the relay, and
 * waiting out its timeout would tell us nothing more. Frames still in our
 * own queue were not in flight (they may even be newer than the drop, whose
 * news waited in the monitor): they ride a fresh attempt.
 */
static void connection_lost(struct net *n)
{
	size_t i;
	int budget;

	n->connected = 0;
	n->offline = 1;
	n->attempting = 0;
	halqa_log(HALQA_LOG_DEBUG, "net", "the relay connection dropped");
	for (budget = NET_PUMP_BUDGET;
	     budget > 0 && !n->closing && (events_of(n->sock) & ZMQ_POLLIN); budget--) {
		recv_one(n);
	}
	if (n->closing) {
		return;
	}
	emit(n, NET_EVENT_DISCONNECTED);
	for (i = 0; i < NET_MAX_PENDING && !n->closing; i++) {
		if (n->slots[i].id != 0 && n->slots[i].frame == NULL) {
			n->stats.lost++;
			complete(&n->slots[i], HALQA_ERR_NETWORK, NULL);
		}
	}
	if (!n->closing && n->outq_head != NULL && !n->attempting) {
		n->want_attempt = 1;
	}
}

/* Our fresh attempt while offline failed: the requests that rode on it fail now. */
static void attempt_failed(struct net *n)
{
	if (!n->offline || !n->attempting) {
		return;
	}
	n->attempting = 0;
	n->want_attempt = 0;
	n->stats.lost += fail_all(n, HALQA_ERR_NETWORK);
}

static void on_monitor_event(struct net *n, uint16_t event, uint32_t value)
{
	switch (event) {
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		n->connected = 1;
		n->offline = 0;
		n->attempting = 0;
		n->want_attempt = 0;
		n->fault = HALQA_OK;
		n->failed_handshakes = 0;
		n->stats.connects++;
		emit(n, NET_EVENT_CONNECTED);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (n->connected) {
			connection_lost(n);
		} else {
			/* A connection of our attempt closed before its handshake completed. */
			attempt_failed(n);
		}
		break;
	case ZMQ_EVENT_CONNECT_RETRIED:
		/* The TCP (or SOCKS) connect failed; ZeroMQ will retry after its backoff. */
		attempt_failed(n);
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		n->stats.handshake_failures++;
		if (value == 400 || value == 300 || value == 500) {
			halqa_log(HALQA_LOG_WARN, "net", "the relay refused this device (ZAP %u)",
				  (unsigned)value);
			n->fault = HALQA_ERR_DENIED;
			(void)fail_all(n, HALQA_ERR_DENIED);
			emit(n, NET_EVENT_REFUSED);
		}
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		n->stats.handshake_failures++;
		/*
		 * A relay with another key drops our CurveZMQ HELLO: ZeroMQ
		 * reports a failed handshake and retries forever. One failure
		 * may be a relay restarting; several in a row with no success
		 * are the key.
		 */
		if (++n->failed_handshakes >= NET_KEY_MISMATCH_FAILURES &&
		    n->fault != HALQA_ERR_CRYPTO) {
			halqa_log(HALQA_LOG_WARN, "net",
				  "the relay's key does not match the address line");
			n->fault = HALQA_ERR_CRYPTO;
			(void)fail_all(n, HALQA_ERR_CRYPTO);
			emit(n, NET_EVENT_KEY_MISMATCH);
		} else {
			attempt_failed(n);
		}
		break;
	default:
		break;
	}
}

static void recv_monitor(struct net *n)
{
	zmq_msg_t head, tail;
	uint16_t event;
	uint32_t value;
	int more = 0;
	size_t more_len = sizeof more;

	zl()->zmq_msg_init(&head);
	if (zl()->zmq_msg_recv(&head, n->mon, ZMQ_DONTWAIT) < 0) {
		zl()->zmq_msg_close(&head);
		return;
	}
	/* Frame 1: event u16 and value u32 in host order; frame 2: the endpoint. */
	(void)zl()->zmq_getsockopt(n->mon, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zl()->zmq_msg_init(&tail);
		if (zl()->zmq_msg_recv(&tail, n->mon, ZMQ_DONTWAIT) < 0) {
			zl()->zmq_msg_close(&tail);
			break;
		}
		zl()->zmq_msg_close(&tail);
		more_len = sizeof more;
		if (zl()->zmq_getsockopt(n->mon, ZMQ_RCVMORE, &more, &more_len) != 0) {
			break;
		}
	}
	if (zl()->zmq_msg_size(&head) == 6) {
		memcpy(&event, zl()->zmq_msg_data(&head), sizeof event);
		memcpy(&value, (const uint8_t *)zl()->zmq_msg_data(&head) + sizeof event, sizeof value);
		zl()->zmq_msg_close(&head);
		on_monitor_event(n, event, value);
		return;
	}
	zl()->zmq_msg_close(&head);
}

/* ---- the pump ---- */

static void send_head(struct net *n)
{
	struct net_frame *f = n->outq_head;

	if (zl()->zmq_send(n->sock, f->data, f->len, ZMQ_DONTWAIT) < 0 && errno == EAGAIN) {
		return; /* ZMQ_EVENTS said POLLOUT; the next round re-reads it */
	}
	/* Sent, or refused for good (the request will time out): either way done with it. */
	n->stats.sent++;
	outq_unlink(n, f);
}

static int events_of(void *s)
{
	int ev = 0;
	size_t len = sizeof ev;

	if (zl()->zmq_getsockopt(s, ZMQ_EVENTS, &ev, &len) != 0) {
		return 0;
	}
	return ev;
}

/*
 * A fresh connection attempt for requests made while offline: dropping the
 * endpoint and connecting again starts at once, where ZeroMQ's own retry
 * may be up to NET_RECONNECT_IVL_MAX_MS away. The dropped endpoint's pipe
 * goes with it, so frames of requests already failed are not sent late.
 * If the endpoint cannot be dropped, connecting again would make a second
 * connection: then ZeroMQ's own retry decides.
 */
static void start_attempt(struct net *n)
{
	n->want_attempt = 0;
	n->attempting = 1;
	if (n->endpoint_on && zl()->zmq_disconnect(n->sock, n->endpoint) != 0) {
		return;
	}
	n->endpoint_on = 0;
	if (zl()->zmq_connect(n->sock, n->endpoint) != 0) {
		/* Nothing connects now, not even ZeroMQ's retry: the next request tries again. */
		halqa_log(HALQA_LOG_WARN, "net", "cannot reconnect to the relay: %s",
			  zl()->zmq_strerror(errno));
		attempt_failed(n);
		return;
	}
	n->endpoint_on = 1;
}

static void on_idle(uv_idle_t *h)
{
	pump(h->data);
}

static void pump(struct net *n)
{
	int budget;

	if (n->closing || !n->polls_started || n->in_pump) {
		return;
	}
	n->in_pump = 1;
	for (budget = NET_PUMP_BUDGET; budget > 0; budget--) {
		int ev, mev;

		if (n->closing) {
			n->in_pump = 0;
			return;
		}
		/* Every send and recv below is followed by this re-read: it re-arms both fds. */
		mev = events_of(n->mon);
		ev = events_of(n->sock);
		if (mev & ZMQ_POLLIN) {
			recv_monitor(n);
			continue;
		}
		if (n->want_attempt && n->offline && !n->attempting) {
			/* After the monitor's queued events, so none of them is taken for its outcome. */
			start_attempt(n);
			continue;
		}
		/* While offline our frames wait with us, not in ZeroMQ, to leave with the next handshake. */
		if ((ev & ZMQ_POLLOUT) && n->outq_head != NULL && !n->offline) {
			send_head(n);
			continue;
		}
		if (ev & ZMQ_POLLIN) {
			recv_one(n);
			continue;
		}
		uv_idle_stop(&n->again);
		n->in_pump = 0;
		return;
	}
	n->in_pump = 0;
	uv_idle_start(&n->again, on_idle);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	pump(h->data);
}

/* ---- lifetime ---- */

static void net_destroy(struct net *n)
{
	struct net_frame *f;

	while ((f = n->outq_head) != NULL) {
		n->outq_head = f->next;
		frame_free(f);
	}
	if (n->msg != NULL) {
		wire_msg_cleanup(n->msg);
		free(n->msg);
	}
	if (n->enc != NULL) {
		wire_msg_cleanup(n->enc);
		free(n->enc);
	}
	net_pending_cleanup(&n->call);
	free(n->slots);
	free(n->timer_slots);
	free(n);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct net *n = h->data;

	if (h->type == UV_TIMER) {
		n = ((struct net_slot *)h->data)->net;
	}
	if (--n->open_handles == 0) {
		net_destroy(n);
	}
}

static void close_sockets(struct net *n)
{
	if (n->sock != NULL && n->mon != NULL) {
		(void)zl()->zmq_socket_monitor(n->sock, NULL, 0);
	}
	if (n->mon != NULL) {
		zl()->zmq_close(n->mon);
		n->mon = NULL;
	}
	if (n->sock != NULL) {
		zl()->zmq_close(n->sock);
		n->sock = NULL;
	}
}

/*
 * Closes whatever handles are initialised; the last close callback frees
 * |n|. The sockets are closed here, or handed with |retire_ctx| to
 * zmq_lib_retire when that is not NULL.
 */
static void release(struct net *n, void *retire_ctx)
{
	size_t i;

	n->closing = 1;
	n->open_handles = n->num_timers + 1 + (size_t)n->poll_inited + (size_t)n->mon_poll_inited;
	uv_close((uv_handle_t *)&n->again, on_handle_closed);
	if (n->poll_inited) {
		uv_close((uv_handle_t *)&n->poll, on_handle_closed);
	}
	if (n->mon_poll_inited) {
		uv_close((uv_handle_t *)&n->mon_poll, on_handle_closed);
	}
	for (i = 0; i < n->num_timers; i++) {
		uv_close((uv_handle_t *)&n->slots[n->timer_slots[i]].timer, on_handle_closed);
	}
	/* The poll handles are closed (and so stopped) before the sockets whose fds they watch. */
	if (retire_ctx != NULL) {
		zmq_lib_retire(retire_ctx, n->sock, n->mon);
		n->sock = NULL;
		n->mon = NULL;
	} else {
		close_sockets(n);
	}
}

static int open_sockets(struct net *n, void *ctx, const struct relayaddr *addr,
			const uint8_t client_pub[32], const uint8_t client_sec[32],
			const struct relayaddr_hostport *socks)
{
	static unsigned long counter;
	char ep[RELAYADDR_MAX_ENDPOINT + 1], mon_ep[96], proxy[RELAYADDR_MAX_PROXY];
	int64_t maxmsg = WIRE_MAX_FRAME;

	if (relayaddr_endpoint(ep, sizeof ep, addr) != HALQA_OK) {
		return HALQA_ERR_ARG;
	}
	if (socks != NULL && relayaddr_format_proxy(proxy, sizeof proxy, socks) != HALQA_OK) {
		return HALQA_ERR_ARG;
	}
	n->sock = zl()->zmq_socket(ctx, ZMQ_DEALER);
	if (n->sock == NULL) {
		return HALQA_ERR_NETWORK;
	}
	if (set_int(n->sock, ZMQ_LINGER, 0) != 0 || set_int(n->sock, ZMQ_SNDHWM, NET_HWM) != 0 ||
	    set_int(n->sock, ZMQ_RCVHWM, NET_HWM) != 0 ||
	    set_int(n->sock, ZMQ_RECONNECT_IVL, NET_RECONNECT_IVL_MS) != 0 ||
	    set_int(n->sock, ZMQ_RECONNECT_IVL_MAX, NET_RECONNECT_IVL_MAX_MS) != 0 ||
	    set_int(n->sock, ZMQ_HEARTBEAT_IVL, NET_HEARTBEAT_IVL_MS) != 0 ||
	    set_int(n->sock, ZMQ_HEARTBEAT_TIMEOUT, NET_HEARTBEAT_TIMEOUT_MS) != 0 ||
	    zl()->zmq_setsockopt(n->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
	    zl()->zmq_setsockopt(n->sock, ZMQ_CURVE_SERVERKEY, addr->server_key, 32) != 0 ||
	    zl()->zmq_setsockopt(n->sock, ZMQ_CURVE_PUBLICKEY, client_pub, 32) != 0 ||
	    zl()->zmq_setsockopt(n->sock, ZMQ_CURVE_SECRETKEY, client_sec, 32) != 0) {
		return HALQA_ERR_NETWORK;
	}
	if (socks != NULL && zl()->zmq_setsockopt(n->sock, ZMQ_SOCKS_PROXY, proxy, strlen(proxy)) != 0) {
		return HALQA_ERR_NETWORK;
	}
	/* The monitor must be in place before connect, or the first handshake goes unseen. */
	snprintf(mon_ep, sizeof mon_ep, "inproc://halqa-net-monitor-%p-%lu", (void *)n, ++counter);
	if (zl()->zmq_socket_monitor(n->sock, mon_ep,
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
				       ZMQ_EVENT_CONNECT_RETRIED |
				       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
		return HALQA_ERR_NETWORK;
	}
	n->mon = zl()->zmq_socket(ctx, ZMQ_PAIR);
	if (n->mon == NULL || set_int(n->mon, ZMQ_LINGER, 0) != 0 ||
	    zl()->zmq_connect(n->mon, mon_ep) != 0) {
		return HALQA_ERR_NETWORK;
	}
	if (zl()->zmq_connect(n->sock, ep) != 0) {
		return HALQA_ERR_NETWORK;
	}
	memcpy(n->endpoint, ep, sizeof n->endpoint);
	n->endpoint_on = 1;
	return HALQA_OK;
}

int net_new(struct net **out, uv_loop_t *loop, void *zmq_ctx, const struct relayaddr *addr,
	    const uint8_t client_pub[32], const uint8_t client_sec[32],
	    const struct relayaddr_hostport *socks)
{
	const struct zmq_lib *lib;
	struct net *n = NULL;
	int fd, mon_fd, rc;
	size_t fd_len;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	if (loop == NULL || zmq_ctx == NULL || addr == NULL || client_pub == NULL ||
	    client_sec == NULL) {
		return HALQA_ERR_ARG;
	}
	/* Loaded already when the context came from zmq_lib_ctx_new; this makes zl() safe. */
	if ((rc = zmq_lib_get(&lib)) != HALQA_OK) {
		return rc;
	}
	n = calloc(1, sizeof *n);
	if (n == NULL) {
		return HALQA_ERR_NOMEM;
	}
	n->loop = loop;
	n->slots = calloc(NET_MAX_PENDING, sizeof *n->slots);
	n->timer_slots = calloc(NET_MAX_PENDING, sizeof *n->timer_slots);
	n->msg = calloc(1, sizeof *n->msg);
	n->enc = calloc(1, sizeof *n->enc);
	if (n->slots == NULL || n->timer_slots == NULL || n->msg == NULL || n->enc == NULL) {
		free(n->slots);
		free(n->timer_slots);
		free(n->msg);
		free(n->enc);
		free(n);
		return HALQA_ERR_NOMEM;
	}
	uv_idle_init(loop, &n->again);
	n->again.data = n;
	if ((rc = open_sockets(n, zmq_ctx, addr, client_pub, client_sec, socks)) != HALQA_OK) {
		goto out;
	}
	fd_len = sizeof fd;
	if (zl()->zmq_getsockopt(n->sock, ZMQ_FD, &fd, &fd_len) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	fd_len = sizeof mon_fd;
	if (zl()->zmq_getsockopt(n->mon, ZMQ_FD, &mon_fd, &fd_len) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	if (uv_poll_init(loop, &n->poll, fd) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	n->poll.data = n;
	n->poll_inited = 1;
	if (uv_poll_init(loop, &n->mon_poll, mon_fd) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	n->mon_poll.data = n;
	n->mon_poll_inited = 1;
	if (uv_poll_start(&n->poll, UV_READABLE, on_poll) != 0 ||
	    uv_poll_start(&n->mon_poll, UV_READABLE, on_poll) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	n->polls_started = 1;
	/* Earlier zmq calls may have consumed the fd's signal already. */
	pump(n);
	*out = n;
	n = NULL;
	rc = HALQA_OK;
out:
	if (n != NULL) {
		/* Handles are initialised: the memory goes in their close callbacks. */
		release(n, NULL);
	}
	return rc;
}

void net_set_push_cb(struct net *n, net_push_cb cb, void *arg)
{
	n->push_cb = cb;
	n->push_arg = arg;
}

void net_set_event_cb(struct net *n, net_event_cb cb, void *arg)
{
	n->event_cb = cb;
	n->event_arg = arg;
}

static struct net_slot *free_slot(struct net *n)
{
	size_t i, start = randombytes_uniform(NET_MAX_PENDING);

	for (i = 0; i < NET_MAX_PENDING; i++) {
		struct net_slot *s = &n->slots[(start + i) & (NET_MAX_PENDING - 1)];

		if (s->id == 0) {
			return s;
		}
	}
	return NULL;
}

int net_request(struct net *n, const struct wire_msg *req, net_reply_cb cb, void *arg,
		unsigned timeout_ms)
{
	struct bytes_writer w;
	struct net_slot *s;
	struct net_frame *f = NULL;
	uint32_t id;
	size_t idx;
	int rc;

	if (n == NULL || req == NULL || cb == NULL || timeout_ms == 0 ||
	    !wire_is_request(req->type)) {
		return HALQA_ERR_ARG;
	}
	if (n->closing) {
		return HALQA_ERR_NETWORK;
	}
	if (n->num_pending >= NET_MAX_PENDING || (s = free_slot(n)) == NULL) {
		return HALQA_ERR_LIMIT;
	}
	if (!s->timer_on) {
		/* The slot's first use: its timer, and a random first generation. */
		if (uv_timer_init(n->loop, &s->timer) != 0) {
			return HALQA_ERR_NETWORK;
		}
		s->timer.data = s;
		s->timer_on = 1;
		s->net = n;
		s->gen = randombytes_random() & ((1u << (32 - NET_SLOT_BITS)) - 1);
		n->timer_slots[n->num_timers++] = (uint16_t)(s - n->slots);
	}
	idx = (size_t)(s - n->slots);
	do {
		s->gen = (s->gen + 1) & ((1u << (32 - NET_SLOT_BITS)) - 1);
		id = s->gen << NET_SLOT_BITS | (uint32_t)idx;
	} while (id == 0);

	/* Encode a copy carrying our id; the copy holds the caller's capabilities, so wipe it. */
	memcpy(n->enc, req, sizeof *req);
	n->enc->request_id = id;
	bytes_writer_init(&w, WIRE_MAX_FRAME, BYTES_WIPE);
	rc = wire_encode(&w, n->enc);
	wire_msg_cleanup(n->enc);
	if (rc != HALQA_OK) {
		goto out;
	}
	f = malloc(sizeof *f + bytes_writer_len(&w));
	if (f == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	f->next = NULL;
	f->prev = NULL;
	f->slot = NULL;
	f->len = bytes_writer_len(&w);
	memcpy(f->data, bytes_writer_data(&w), f->len);

	s->id = id;
	s->type = req->type;
	s->cb = cb;
	s->arg = arg;
	/* Under a standing fault the request completes with it on the next loop turn. */
	s->status = n->fault != HALQA_OK ? n->fault : HALQA_ERR_NETWORK;
	n->num_pending++;
	/*
	 * A timer counts from the loop's cached "now", which is as old as the
	 * loop's last wake-up: after a loop sat idle (between one-shot
	 * commands, or while the caller blocked) a request would otherwise be
	 * timed out before it is even sent. Read the clock afresh.
	 */
	uv_update_time(n->loop);
	if (uv_timer_start(&s->timer, on_timer, n->fault != HALQA_OK ? 0 : timeout_ms, 0) != 0) {
		s->id = 0;
		n->num_pending--;
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	if (n->fault == HALQA_OK) {
		f->prev = n->outq_tail;
		if (n->outq_tail != NULL) {
			n->outq_tail->next = f;
		} else {
			n->outq_head = f;
		}
		n->outq_tail = f;
		f->slot = s;
		s->frame = f;
		f = NULL;
		/*
		 * The pump runs on the next loop turn, not here: pumping now
		 * could receive a reply and run a callback inside net_request.
		 * Inside a running pump, the pump's next round sends it.
		 */
		if (n->offline && !n->attempting) {
			n->want_attempt = 1;
		}
		if (!n->in_pump) {
			uv_idle_start(&n->again, on_idle);
		}
	}
	rc = HALQA_OK;
out:
	if (f != NULL) {
		frame_free(f);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

void net_pending_init(struct net_pending *p)
{
	memset(p, 0, sizeof *p);
}

void net_pending_cleanup(struct net_pending *p)
{
	if (p->frame != NULL) {
		sodium_memzero(p->frame, p->frame_len);
		free(p->frame);
	}
	p->frame = NULL;
	p->frame_len = 0;
	p->started = 0;
}

static void on_pending_reply(void *arg, int status, const struct wire_msg *reply)
{
	struct net_pending *p = arg;
	struct net *n = p->net;

	p->waiting = 0;
	p->status = status;
	/*
	 * Done: net_finish's loop turn may end. Completed by a timer, which
	 * a turn runs before it polls, the turn would otherwise go on to
	 * wait in its poll for I/O that may never come. Only inside that
	 * turn: completed anywhere else (a pump outside the loop, a dropped
	 * connection failing what is in flight, a net_close), uv_stop would
	 * stay pending and make the caller's next uv_run return at once.
	 */
	if (p->in_turn) {
		uv_stop(n->loop);
	}
	if (reply == NULL || n->cur_frame == NULL) {
		return;
	}
	/* The reply borrows from a ZeroMQ message about to be released: keep a copy. */
	if ((p->frame = malloc(n->cur_frame_len)) == NULL) {
		p->status = HALQA_ERR_NOMEM;
		return;
	}
	p->frame_len = n->cur_frame_len;
	memcpy(p->frame, n->cur_frame, n->cur_frame_len);
}

int net_start(struct net *n, const struct wire_msg *req, struct net_pending *p,
	      unsigned timeout_ms)
{
	int rc;

	if (n == NULL || p == NULL || p->started) {
		return HALQA_ERR_ARG;
	}
	net_pending_cleanup(p);
	p->net = n;
	p->status = HALQA_ERR_NETWORK;
	p->in_turn = 0;
	if ((rc = net_request(n, req, on_pending_reply, p, timeout_ms)) != HALQA_OK) {
		return rc;
	}
	p->started = 1;
	p->waiting = 1;
	return HALQA_OK;
}

int net_finish(struct net_pending *p, struct wire_msg *reply)
{
	if (p == NULL || reply == NULL || !p->started) {
		return HALQA_ERR_ARG;
	}
	wire_msg_init(reply, 0, 0);
	/*
	 * An answer may be waiting in the socket already (the caller worked
	 * without running the loop): read it before a turn runs the timers,
	 * which come first and would call it a timeout.
	 */
	if (p->waiting) {
		pump(p->net);
	}
	/* The request's own timer bounds this loop. */
	while (p->waiting) {
		p->in_turn = 1;
		uv_run(p->net->loop, UV_RUN_ONCE);
		p->in_turn = 0;
	}
	p->started = 0;
	if (p->frame != NULL && wire_decode(p->frame, p->frame_len, reply) != HALQA_OK) {
		return HALQA_ERR_INTERNAL;
	}
	return p->status;
}

int net_call(struct net *n, const struct wire_msg *req, struct wire_msg *reply,
	     unsigned timeout_ms)
{
	int rc;

	if (n == NULL || reply == NULL) {
		return HALQA_ERR_ARG;
	}
	wire_msg_init(reply, 0, 0);
	if ((rc = net_start(n, req, &n->call, timeout_ms)) != HALQA_OK) {
		return rc;
	}
	return net_finish(&n->call, reply);
}

void net_flush(struct net *n)
{
	if (n != NULL) {
		pump(n);
	}
}

void net_close(struct net *n)
{
	if (n == NULL || n->closing) {
		return;
	}
	n->closing = 1;
	fail_all(n, HALQA_ERR_NETWORK);
	release(n, NULL);
}

void net_close_retire(struct net *n, void *zmq_ctx)
{
	if (n == NULL || n->closing) {
		zmq_lib_retire(zmq_ctx, NULL, NULL);
		return;
	}
	n->closing = 1;
	fail_all(n, HALQA_ERR_NETWORK);
	release(n, zmq_ctx);
}

void net_stats(const struct net *n, struct net_stats *out)
{
	*out = n->stats;
}

int net_connected(const struct net *n)
{
	return n->connected;
}

int net_fault(const struct net *n)
{
	return n->fault;
}

const char *net_fault_text(int status)
{
	switch (status) {
	case HALQA_ERR_DENIED:
		return "the relay refused this device";
	case HALQA_ERR_CRYPTO:
		return "the relay's key does not match the address line";
	case HALQA_ERR_NETWORK:
		return "the relay did not answer in time";
	default:
		return halqa_strerror(status);
	}
}
