/*
 * relay_int.h: the relay's internal state, shared by relay.c (the loop and
 * sockets), relay_state.c (connections, listeners, devices, output queues)
 * and relay_handle.c (request dispatch). Not a public header: nothing
 * outside daemon/ may depend on these layouts.
 */
#ifndef HALQA_DAEMON_RELAY_INT_H
#define HALQA_DAEMON_RELAY_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "halqa/ratelimit.h"
#include "halqa/relay.h"
#include "halqa/relay_config.h"
#include "halqa/spool.h"
#include "halqa/wire.h"

/*
 * ZeroMQ's own per-peer pipes, on top of our queues: small enough that a
 * stuck peer pins little memory inside libzmq, large enough for bursts.
 */
#define RELAY_ZMQ_SNDHWM 256
#define RELAY_ZMQ_RCVHWM 64
#define RELAY_ZMQ_BACKLOG 4096

/*
 * A peer that vanished without a FIN (a phone losing its network) is found
 * by TCP keepalive: probes after 60 s of silence, every 10 s, gone after 3
 * unanswered, so within about 90 s, as the ZMTP heartbeats used before.
 */
#define RELAY_KEEPALIVE_IDLE_S 60
#define RELAY_KEEPALIVE_INTVL_S 10
#define RELAY_KEEPALIVE_CNT 3

/* ---- a small hash map keyed by byte strings (SipHash, random key) ---- */

struct relay_map_entry {
	struct relay_map_entry *next;
	uint64_t hash;
	void *val;
	size_t key_len;
	uint8_t key[];
};

struct relay_map {
	struct relay_map_entry **buckets;
	size_t num_buckets;
	size_t count;
	uint8_t seed[16];
};

void relay_map_init(struct relay_map *m);
/* relay_map_cleanup frees the entries (not the values). */
void relay_map_cleanup(struct relay_map *m);
void *relay_map_get(const struct relay_map *m, const uint8_t *key, size_t key_len);
/* relay_map_put inserts or replaces; HALQA_ERR_NOMEM on failure (map unchanged). */
int relay_map_put(struct relay_map *m, const uint8_t *key, size_t key_len, void *val);
/* relay_map_del removes the key and returns its value (NULL if absent). */
void *relay_map_del(struct relay_map *m, const uint8_t *key, size_t key_len);
/* relay_map_next iterates: pass NULL first; do not modify the map meanwhile. */
struct relay_map_entry *relay_map_next(const struct relay_map *m, struct relay_map_entry *e,
				       size_t *bucket);

/* ---- output ---- */

/*
 * An encoded frame, shared: a push fanned out to N listeners is encoded
 * once and referenced N times. Loop thread only, so the count is plain.
 * The bytes live in a ZeroMQ message (|msg|; |data| points into it), so
 * each send hands libzmq a zmq_msg_copy that shares the buffer (libzmq's
 * own count is atomic: its I/O thread drops the copies) instead of a fresh
 * allocation and copy per recipient.
 */
struct relay_frame {
	uint32_t refs;
	size_t len;
	const uint8_t *data;
	zmq_msg_t msg;
};

/*
 * One frame on its way to one connection: first on the turn's pending list
 * (named by connection id, since a connection may vanish before the
 * commit), then, after the commit, on that connection's queue. The same
 * node moves from one list to the other.
 */
struct relay_out {
	struct relay_out *next;
	struct relay_frame *frame;
	int is_push;
	uint32_t request_id; /* replies: to rewrite as `internal` if the commit fails */
	size_t conn_id_len;
	uint8_t conn_id[];
};

/* One connection (a ZeroMQ routing id), known once it has sent something. */
struct relay_conn {
	uint8_t id[RELAY_CONN_ID_MAX];
	size_t id_len;
	uint8_t key[32];
	struct relay_out *head, *tail; /* queued output, sent by the pump */
	size_t queued_msgs;
	size_t queued_bytes;
	int blocked;       /* libzmq's pipe to the peer was full: retry on a timer */
	struct relay_conn *blocked_next; /* on the relay's blocked list */
	int overflowed;    /* its listens were dropped for overflow; notice queued */
	int in_ready;      /* on the relay's ready list */
	struct relay_conn *ready_next;
	uint8_t (*listens)[WIRE_ID_LEN]; /* circles it listens to */
	size_t num_listens;
	uint64_t last_active_ms;
};

/* Listeners of one circle. */
struct relay_circle {
	struct relay_conn **conns;
	size_t num_conns;
	size_t cap_conns;
};

/*
 * Per-device in-memory state: rate limits, the malformed-input ban, and a
 * cache of the daily byte quota. Charges accumulate in |pending_charge|
 * and are written once per device per turn, just before the commit.
 */
struct relay_device {
	struct ratelimit requests;
	struct ratelimit bytes;
	struct ratelimit claims;
	struct ratelimit malformed;
	uint64_t banned_until_ms;
	uint8_t key[32];
	int quota_known;        /* the next three mirror the spool */
	uint64_t quota_day;     /* UTC day (now / 86400) the figures are for */
	uint64_t bytes_today;   /* charged today, pending included */
	uint64_t bytes_max;     /* 0: unlimited */
	uint64_t pending_charge; /* charged this turn, not yet in the spool */
	struct relay_device *dirty_next;
	int dirty;
};

struct relay_sock;
typedef int (*relay_sock_fn)(struct relay *r);

/* A ZeroMQ socket driven by the loop (the PLATFORM.md pump pattern). */
struct relay_sock {
	void *zs;
	uv_poll_t poll;
	uv_idle_t idle;
	struct relay *relay;
	int started;
	/* recv_one returns 1 if it consumed a message, 0 if none was waiting. */
	relay_sock_fn recv_one;
	/* send_one returns 1 if it sent something, 0 if nothing is sendable. */
	relay_sock_fn send_one;
};

struct admin_server;

struct relay {
	struct relay_options opt;
	struct relay_config cfg;
	struct spool *spool;
	char db_path[RELAY_CONFIG_PATH_MAX];
	int offline;

	/* clock: real time plus the test offset */
	uint64_t clock_offset_sec;
	uint64_t start_sec;

	/* ZeroMQ */
	void *zctx;
	struct relay_sock router;
	struct relay_sock zap;
	struct relay_sock monitor;
	uint8_t server_pub[32];
	long live_connections;
	struct relay_map live_fds; /* fds of open connections (monitor events) */

	/* libuv */
	uv_loop_t loop;
	int loop_inited;
	uv_check_t check;
	uv_idle_t again; /* keeps the loop spinning while a turn has pending output */
	uv_timer_t sweep_timer;
	uv_timer_t house_timer;
	uv_timer_t retry_timer;
	uv_signal_t sig_term, sig_int, sig_hup;
	int handles_started;
	int stopping;
	uint64_t stop_ms; /* monotonic ms when the graceful stop began; 0 before */
	int lock_fd;
	struct admin_server *admin;

	/* state */
	struct relay_map conns;   /* routing id -> struct relay_conn */
	struct relay_map circles; /* circle id -> struct relay_circle */
	struct relay_map devices; /* device key -> struct relay_device */
	struct relay_device *dirty; /* devices with a pending charge this turn */
	struct relay_conn *ready, *ready_tail; /* FIFO of connections with output to send */
	size_t num_blocked;       /* connections whose libzmq pipe was full */
	struct relay_conn *blocked; /* those connections, retried by retry_timer */
	struct relay_out *pend_head, *pend_tail; /* the turn's output, released after the commit */
	size_t num_pending;

	/* the commit thread (relay_commit.c) */
	pthread_t cm_thread;
	pthread_mutex_t cm_mu; /* guards cm_go, cm_done, cm_rc, cm_quit */
	pthread_cond_t cm_cv;
	uv_async_t cm_async;   /* the thread's "done" to the loop */
	int cm_started, cm_sync_inited, cm_async_inited;
	int cm_go, cm_done, cm_rc, cm_quit;
	int cm_busy;           /* loop side: a COMMIT is with the thread */
	struct relay_out *flight_head; /* that turn's output, released after it */
	size_t num_flight;

	/* scratch for relay_handle (about 9 KiB each, so not on the stack) */
	struct wire_msg *req;
	struct wire_msg *rep;
	struct wire_msg *push;

	/* figures */
	uint64_t requests_total;
	uint32_t req_ring[60];
	unsigned req_ring_pos;
	uint64_t pushes_total;
	uint64_t commits_total;
	uint64_t overflows_total;
	uint64_t bans_total;
};

/* relay_now_sec is the relay's wall clock (seconds), test offset included. */
uint64_t relay_now_sec(const struct relay *r);
/* relay_now_ms is the relay's monotonic clock for rate limits, offset included. */
uint64_t relay_now_ms(const struct relay *r);

/* relay_state.c */
struct relay_conn *relay_conn_get(struct relay *r, const uint8_t *id, size_t id_len,
				  const uint8_t key[32]);
struct relay_conn *relay_conn_find(struct relay *r, const uint8_t *id, size_t id_len);
void relay_conn_free_all(struct relay *r);
struct relay_device *relay_device_get(struct relay *r, const uint8_t key[32]);
int relay_device_banned(struct relay *r, const uint8_t key[32]);
void relay_devices_prune(struct relay *r);
void relay_devices_apply_limits(struct relay *r);
/*
 * relay_devices_flush_charges writes the turn's pending byte charges to the
 * spool (before the commit). With |failed| (the commit failed or will),
 * forgets them and the cached quotas instead.
 */
int relay_devices_flush_charges(struct relay *r, int failed);
int relay_listen_add(struct relay *r, struct relay_conn *c, const uint8_t circle_id[WIRE_ID_LEN]);
void relay_listen_del(struct relay *r, struct relay_conn *c, const uint8_t circle_id[WIRE_ID_LEN]);
void relay_listen_drop_conn(struct relay *r, struct relay_conn *c);
void relay_listen_drop_circle(struct relay *r, const uint8_t circle_id[WIRE_ID_LEN]);
struct relay_circle *relay_circle_find(struct relay *r, const uint8_t circle_id[WIRE_ID_LEN]);
/* relay_frame_new copies |len| bytes into a new frame with one reference (NULL: no memory). */
struct relay_frame *relay_frame_new(const uint8_t *data, size_t len);
/* relay_frame_unref drops a reference, freeing the frame with the last. NULL is a no-op. */
void relay_frame_unref(struct relay_frame *f);
/*
 * relay_pending_add queues |frame| (a new reference is taken) for |conn_id|
 * at the end of the turn. HALQA_ERR_NOMEM, HALQA_ERR_ARG for a bad id.
 */
int relay_pending_add(struct relay *r, const uint8_t *conn_id, size_t conn_id_len, int is_push,
		      uint32_t request_id, struct relay_frame *frame);
/* relay_release_pending hands the turn's output out; |failed| rewrites it. */
void relay_release_pending(struct relay *r, int failed);
/* relay_conn_enqueue appends |out| (taken) to |c|'s queue, enforcing the bounds. */
void relay_conn_enqueue(struct relay *r, struct relay_conn *c, struct relay_out *out);
/* relay_out_free drops the node's frame reference and frees it. NULL is a no-op. */
void relay_out_free(struct relay_out *o);
/* relay_ready_pop takes the first connection off the ready FIFO (NULL if none). */
struct relay_conn *relay_ready_pop(struct relay *r);
/* relay_ready_add appends |c| to the ready FIFO unless it is there or blocked. */
void relay_ready_add(struct relay *r, struct relay_conn *c);
/* relay_conn_pop_head removes and returns |c|'s first queued node (caller frees). */
struct relay_out *relay_conn_pop_head(struct relay_conn *c);
/* relay_conns_housekeeping forgets connections idle for two minutes. */
void relay_conns_housekeeping(struct relay *r);
/* relay_conn_block sets |c| aside until relay_conns_unblock (its pipe is full). */
void relay_conn_block(struct relay *r, struct relay_conn *c);
/* relay_conns_unblock puts every blocked connection back on the ready FIFO. */
void relay_conns_unblock(struct relay *r);

/* relay_state.c: relay_release_list releases a list of turn output as relay_release_pending. */
void relay_release_list(struct relay *r, struct relay_out *list, int failed);

/*
 * relay_commit.c. relay_commit_start starts the commit thread (network
 * mode); relay_commit_stop waits for its COMMIT and stops it;
 * relay_commit_cleanup frees the rest (safe in any state).
 */
int relay_commit_start(struct relay *r);
void relay_commit_stop(struct relay *r);
void relay_commit_cleanup(struct relay *r);
/* relay_turn_flush_charges writes the turn's byte charges into it (errors are logged). */
void relay_turn_flush_charges(struct relay *r);
/* relay_commit_failed logs a failed COMMIT of |num_output| frames and resets cached quotas. */
void relay_commit_failed(struct relay *r, int rc, size_t num_output);
/* relay_commit_wait blocks until a COMMIT with the thread is done and releases its output. */
void relay_commit_wait(struct relay *r);
/*
 * relay_turn_close ends the turn: its COMMIT goes to the thread, or, if it
 * wrote nothing, its output is released at once. No-op while a COMMIT runs.
 */
void relay_turn_close(struct relay *r);

/* relay.c: after a COMMIT: pump the sockets that waited and keep the loop turning if needed. */
void relay_loop_resume(struct relay *r);
/* relay.c: stop (|hold|) or restart polling the router; callers pump after a restart. */
void relay_router_hold(struct relay *r, int hold);
/* relay.c: schedule the router pump (network mode only). */
void relay_kick(struct relay *r);
/* relay.c: pump the ZAP socket (network mode only); serves nothing while a COMMIT runs. */
void relay_zap_kick(struct relay *r);
/* relay.c: send |c|'s queue until its pipe is full (may free |c|: peer gone). */
void relay_conn_flush(struct relay *r, struct relay_conn *c);

#endif
