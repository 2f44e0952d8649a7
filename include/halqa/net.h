/*
 * net.h: the client's connection to its relay, on a libuv loop.
 *
 * One struct net is one ZeroMQ DEALER socket with CURVE (the device's key
 * pair, the relay's key pinned from the address line), optionally through
 * a SOCKS5 proxy, driven by the caller's libuv loop. Requests are
 * asynchronous: net_request assigns the request id, sends the frame and
 * later calls the callback exactly once, with the relay's answer, a
 * timeout, a connection fault, or the close. DELIVER pushes go to the push
 * callback. net_call is a blocking convenience for one-shot commands.
 *
 * Outcomes given to a net_reply_cb (|reply| is valid only during the
 * callback, including the blobs it borrows: copy what must outlive it):
 *   HALQA_OK, reply is an OK answering the request's type;
 *   wire_err_to_halqa(code) (HALQA_ERR_STALE, _DENIED, _LIMIT, ...), reply is
 *     the relay's ERR (code and reason);
 *   HALQA_ERR_NETWORK, reply NULL: no answer within the timeout; the
 *     connection dropped with the request pending (it fails at once: the
 *     relay may or may not have got it); the request was made while the
 *     connection is down and a fresh attempt to connect failed; or
 *     net_close was called with the request pending;
 *   HALQA_ERR_DENIED, reply NULL: the relay refused this device during the
 *     CurveZMQ handshake (ZAP 400: a banned key); ZeroMQ does not retry;
 *   HALQA_ERR_CRYPTO, reply NULL: the handshake keeps failing, which is
 *     what a relay whose key does not match the address line looks like.
 * net_fault_text turns the last two into a sentence for the user.
 *
 * Replies that are garbage, answer no pending request (unknown, late or
 * replayed ids, including the late answer to a request that failed when
 * the connection dropped) or do not fit the request (an OK for another
 * type) are dropped and counted (net_stats); they never complete a request.
 *
 * Connection states: connecting (from net_new to the first handshake:
 * requests queue and wait, within their timeouts); connected; offline
 * (after NET_EVENT_DISCONNECTED until the next NET_EVENT_CONNECTED).
 * ZeroMQ reconnects by itself with backoff, but while offline a request
 * does not wait for that: it starts a fresh connection attempt at once and
 * is sent if that attempt's handshake completes, or fails with
 * HALQA_ERR_NETWORK as soon as the attempt fails (a refused connect, a
 * dropped handshake). Only an attempt that hangs (packets lost on the way)
 * makes it wait for its timeout.
 *
 * Threading: everything runs on the loop's thread. Callbacks may call
 * net_request and net_close.
 */
#ifndef HALQA_NET_H
#define HALQA_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "halqa/err.h"
#include "halqa/relayaddr.h"
#include "halqa/wire.h"

/* Requests outstanding at once (sent or queued, not yet answered). */
#define NET_MAX_PENDING 1024

/* Consecutive failed handshakes, with none succeeding, that mean "wrong relay key". */
#define NET_KEY_MISMATCH_FAILURES 3

struct net;

/*
 * A request's outcome (see above). |reply| is NULL unless |status| came
 * from the relay; it is borrowed for the duration of the call.
 */
typedef void (*net_reply_cb)(void *arg, int status, const struct wire_msg *reply);

/* A DELIVER push; |push| (type WIRE_DELIVER) is borrowed for the duration of the call. */
typedef void (*net_push_cb)(void *arg, const struct wire_msg *push);

/* Connection events, for a caller that re-LISTENs after a reconnect or shows state. */
enum net_event {
	NET_EVENT_CONNECTED = 1,    /* a CurveZMQ handshake completed (first or after a reconnect) */
	NET_EVENT_DISCONNECTED = 2, /* the connection dropped: pending requests fail right after
				       this event; ZeroMQ reconnects with backoff */
	NET_EVENT_REFUSED = 3,      /* the relay refused this device (HALQA_ERR_DENIED) */
	NET_EVENT_KEY_MISMATCH = 4, /* the relay's key does not match (HALQA_ERR_CRYPTO) */
};
typedef void (*net_event_cb)(void *arg, enum net_event ev);

/* Counters for tests and diagnostics. */
struct net_stats {
	uint64_t sent;            /* request frames handed to ZeroMQ */
	uint64_t replies;         /* replies that completed a request */
	uint64_t pushes;          /* DELIVER pushes given to the push callback */
	uint64_t dropped_garbage; /* frames that did not decode, or multi-part messages */
	uint64_t dropped_unknown; /* OK/ERR for no pending request: unknown, late, replayed */
	uint64_t dropped_mismatch; /* OK answering another request type than the pending one */
	uint64_t dropped_other;   /* decoded frames a relay must not send (requests, DELIVER with an id) */
	uint64_t timeouts;        /* requests completed with HALQA_ERR_NETWORK by their timer */
	uint64_t lost;            /* requests failed (HALQA_ERR_NETWORK) by a drop or a failed attempt */
	uint64_t handshake_failures;
	uint64_t connects;        /* NET_EVENT_CONNECTED count */
};

/*
 * net_new creates the connection to the relay |addr| on |loop|, with ZeroMQ
 * context |zmq_ctx| (both owned by the caller and must outlive the net),
 * the device's CURVE key pair |client_pub|/|client_sec| (copied into
 * ZeroMQ; the caller keeps and wipes its own), and the SOCKS5 proxy
 * |socks| (NULL for a direct connection). Connecting happens in the
 * background; requests sent before the first handshake are queued (a relay
 * not up yet may still answer them within their timeouts). Returns
 * HALQA_ERR_ARG for a NULL argument or an address that does not format,
 * HALQA_ERR_NOMEM, HALQA_ERR_NETWORK if ZeroMQ or libuv refuse the socket,
 * its options or its polling. |*out| is NULL on failure; libuv handles
 * already set up are then being closed, so run the loop before closing it.
 */
HALQA_MUST_CHECK int net_new(struct net **out, uv_loop_t *loop, void *zmq_ctx,
			     const struct relayaddr *addr, const uint8_t client_pub[32],
			     const uint8_t client_sec[32], const struct relayaddr_hostport *socks);

/* net_set_push_cb sets the DELIVER callback (NULL: pushes are counted and dropped). */
void net_set_push_cb(struct net *n, net_push_cb cb, void *arg);

/* net_set_event_cb sets the connection-event callback (NULL for none). */
void net_set_event_cb(struct net *n, net_event_cb cb, void *arg);

/*
 * net_request sends |req| (a request type; its request_id is ignored and a
 * fresh one assigned) and arranges for |cb| to be called exactly once, at
 * the latest |timeout_ms| (> 0) later. |req| and its blobs are only read
 * during the call (encoded at once). Returns HALQA_OK (|cb| will be called,
 * never from within net_request), HALQA_ERR_ARG for a bad argument or a
 * non-request type, an encoding error from wire_encode, HALQA_ERR_LIMIT
 * when NET_MAX_PENDING requests are outstanding, HALQA_ERR_NOMEM, or
 * HALQA_ERR_NETWORK once net_close has been called; on any failure |cb|
 * is never called. A request made while the relay refuses us or its key
 * mismatches completes (asynchronously) with that fault; one made while
 * offline waits for a fresh connection attempt (see above), never for
 * ZeroMQ's backoff.
 */
HALQA_MUST_CHECK int net_request(struct net *n, const struct wire_msg *req, net_reply_cb cb,
				 void *arg, unsigned timeout_ms);

/*
 * net_call is net_request then running the loop until that request
 * completes: for one-shot commands, never from inside a callback of the
 * same loop. Returns the request's status (see above) or net_request's
 * error. On HALQA_OK and on a relay ERR, |*reply| holds the answer; its
 * blobs borrow from a copy of the frame that |n| keeps until the next
 * net_call or net_close.
 */
HALQA_MUST_CHECK int net_call(struct net *n, const struct wire_msg *req, struct wire_msg *reply,
			      unsigned timeout_ms);

/*
 * struct net_pending: a request whose answer the caller waits for later
 * (net_start, then net_finish), so that it can work while the relay
 * does. The caller owns it and keeps it in place from net_start until
 * net_finish returns or net_close has been called (which completes it).
 * Its fields are the net's; net_pending_init gives the idle state.
 */
struct net_pending {
	struct net *net;
	uint8_t *frame; /* a copy of the answer's frame, which the reply borrows */
	size_t frame_len;
	int status;
	int waiting; /* started and not yet completed */
	int started; /* started and not yet finished */
	int in_turn; /* net_finish is running a loop turn for it */
};

/* net_pending_init gives |p| the idle state. */
void net_pending_init(struct net_pending *p);

/* net_pending_cleanup wipes and frees the kept answer; |p| must not be waiting. */
void net_pending_cleanup(struct net_pending *p);

/*
 * net_start is net_request with |p| (idle or finished; an answer it kept
 * is released) collecting the outcome. Returns net_request's error, and
 * HALQA_ERR_ARG if |p| was started and not finished.
 */
HALQA_MUST_CHECK int net_start(struct net *n, const struct wire_msg *req, struct net_pending *p,
			       unsigned timeout_ms);

/*
 * net_finish runs the loop until |p|'s request completes (never from
 * inside a callback of the same loop) and returns its status as net_call
 * does; on HALQA_OK and on a relay ERR, |*reply| holds the answer, its
 * blobs borrowed from |p| until |p| is started again or cleaned up.
 * An answer that arrived while the loop was not running is read first,
 * so a caller that worked past the timeout still gets it. HALQA_ERR_ARG
 * if |p| was not started.
 */
HALQA_MUST_CHECK int net_finish(struct net_pending *p, struct wire_msg *reply);

/*
 * net_flush sends the queued requests now, where net_request leaves that
 * to the loop's next turn: for a caller that starts a request and then
 * works without running the loop. Answers already there complete their
 * requests, so callbacks may run inside it; never call it from inside a
 * callback of the same loop.
 */
void net_flush(struct net *n);

/*
 * net_close completes every pending request with HALQA_ERR_NETWORK (their
 * callbacks run before it returns), closes the socket, and releases |n|
 * through libuv close callbacks: the caller keeps running the loop (e.g.
 * uv_run until it returns 0) for the memory to be freed. |n| must not be
 * used afterwards, except by callbacks already running. NULL is a no-op.
 */
void net_close(struct net *n);

/*
 * net_close_retire is net_close for a process about to end: the sockets
 * and |zmq_ctx|, the context they were made in, go to zmq_lib_retire, which
 * closes them and ends the context on a thread of its own. |zmq_ctx| must
 * not be used afterwards either. With |n| NULL the context alone retires.
 */
void net_close_retire(struct net *n, void *zmq_ctx);

/* net_stats copies the counters. */
void net_stats(const struct net *n, struct net_stats *out);

/*
 * net_connected says whether a handshake has completed and the connection
 * not dropped since (0 while connecting and while offline).
 */
int net_connected(const struct net *n);

/*
 * net_fault returns the standing connection fault: HALQA_OK, HALQA_ERR_DENIED
 * (the relay refused this device) or HALQA_ERR_CRYPTO (the relay's key does
 * not match the address line).
 */
int net_fault(const struct net *n);

/*
 * net_fault_text returns a sentence for the user for a status a reply
 * callback or net_call gave with no reply: "the relay refused this device",
 * "the relay's key does not match the address line", "the relay did not
 * answer in time"; else halqa_strerror(status). Never NULL.
 */
const char *net_fault_text(int status);

#endif
