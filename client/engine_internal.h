/*
 * engine_internal.h: what the files of the engine module (engine.c, the
 * circle operations and sync; engine_live.c, live mode) share. Not a
 * public header: nothing outside client/engine*.c includes it.
 */
#ifndef HALQA_ENGINE_INTERNAL_H
#define HALQA_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "halqa/engine.h"
#include "halqa/net.h"
#include "halqa/wire.h"

/*
 * Live mode's handles on the caller's loop: a poll of our loop's backend
 * descriptor and a timer for our loop's timeouts and the reconnect
 * backoff. Heap-allocated apart from the engine, and freed by their close
 * callbacks, so engine_free never has to run the caller's loop.
 */
struct engine_live_handles {
	uv_poll_t poll;
	uv_timer_t timer;
	struct engine *e; /* NULL once the engine let go of them */
	int open;         /* handles not yet closed */
};

/*
 * A circle's MLS group kept between two uses in one engine (engine.c,
 * circle_load and circle_cleanup): rebuilding a group from its bytes
 * (parse, tree hash, secure allocations) is saved. |state_hash| is
 * the BLAKE2b of the stored bytes the group is equal to; a load uses the
 * kept group only if the bytes it reads from the store now have that hash,
 * so a rollback, a reload or another writer of the store can never make it
 * use a group the store does not hold. Empty in live mode.
 */
#define ENGINE_GROUP_CACHE 4
struct mls_group;
struct engine_kept_group {
	struct mls_group *g; /* NULL: an empty slot */
	uint8_t circle_id[ENGINE_ID_LEN];
	uint8_t state_hash[32];
	uint64_t used; /* the engine's group_tick when last put back */
};

/* A DELIVER push copied out of the net's buffer, waiting for the engine. */
struct engine_push {
	struct engine_push *next;
	uint8_t circle_id[ENGINE_ID_LEN];
	uint64_t seq;
	uint64_t epoch;
};

/*
 * A FETCH of fetch_circle's, possibly sent before its answer is needed:
 * the next epoch's as soon as the commit closing the current one is read
 * (the relay reads while the batch is written), or the rest of an epoch
 * whose reply stopped early (while that reply is read). It carries the
 * capability of the epoch it names; what it asked for is kept, and its
 * answer is read only if the circle is still exactly there (same epoch,
 * the cursor just before |from_seq|); otherwise it is waited out and
 * dropped, so nothing is skipped or read twice.
 */
struct engine_fetch {
	struct net_pending p;
	struct wire_msg *msg; /* the answer, borrowing from p */
	uint8_t circle_id[ENGINE_ID_LEN];
	uint64_t epoch;
	uint64_t from_seq;
};

/*
 * The message engine_send_with_sync hands to the next engine_sync
 * (engine.c, "sending with a sync"). When its circle can take the fast
 * way, it is queued and encrypted while the sync's first requests and the
 * handshake are out, and its SEND follows them on the wire; its answer is
 * read once the sync has read its circles (|in_flight| until then), and
 * the sync's own outbox flush passes the entry over meanwhile. Otherwise
 * it is sent after the sync, as engine_send does.
 */
struct engine_sync_send {
	const char *circle;                /* borrowed until the sync returns; NULL: none */
	const struct session_message *msg; /* borrowed likewise */
	bool pipelined;                    /* queued during the sync, SEND out before its reads */
	bool in_flight;                    /* its SEND is out, the answer not read (ENGINE_SEND_AHEAD) */
	bool done;                         /* the outcome below is final */
	uint8_t circle_id[ENGINE_ID_LEN];
	uint8_t client_msg_id[ENGINE_ID_LEN];
	uint8_t msg_id[ENGINE_ID_LEN];
	int64_t sent_at;
	uint64_t epoch;                    /* the epoch its SEND named */
	/* The outcome, for engine_send_outcome. */
	int result;
	bool sent;
	char err[256];
};

struct engine {
	struct store *store;
	const struct identity *id;
	uv_loop_t *loop;     /* the caller's: live mode runs on it */
	uv_loop_t own_loop;  /* ours: the relay connection runs on it */
	bool own_loop_init;
	void *zctx;
	struct net *net;
	struct wire_msg *reply; /* net_call's answer (about 9 KiB, so on the heap) */
	/* fetch_circle's FETCHes: the one being read and the one asked ahead (engine.c). */
	struct engine_fetch *fetch;
	struct engine_sync_send ss; /* a message sent with the next sync (engine_send_with_sync) */
	unsigned timeout_ms;
	size_t batch_items; /* a catch-up's transaction, in log items (ENGINE_BATCH_ITEMS) */
	unsigned commit_depth; /* send_commit calls in progress (its syncs make no commits) */
	struct engine_kept_group groups[ENGINE_GROUP_CACHE];
	uint64_t group_tick;
	unsigned long group_loads; /* groups rebuilt from stored bytes (tests read it) */
	unsigned long group_reuses; /* loads answered by a kept group */

	engine_clock_fn clock;
	void *clock_arg;
	engine_event_cb cb;
	void *cb_arg;
	char err[256];

	/* Connection state reported by the net's event callback. */
	bool connected_event;
	bool disconnected_event;
	/*
	 * The relay is known to be down: the connection dropped (or, in live
	 * mode, has not come up yet) and no handshake completed since. Live
	 * mode then queues sends without trying (engine_send) and waits for
	 * the reconnect instead of blocking on requests that must time out.
	 */
	bool relay_down;
	/*
	 * The last request that failed was answered by the relay with an ERR
	 * (it is there and talking; `internal` still maps to
	 * HALQA_ERR_NETWORK): see relay_unreachable. Cleared as each request
	 * starts.
	 */
	bool relay_refused;
	/*
	 * An outbox entry was removed by a commit that did not wait for the
	 * disk (outbox_remove_relaxed, or an echo read in a relaxed batch):
	 * a power cut may bring it back, to be sent again. ack_cursor makes
	 * the store durable before an ACK lets the relay forget the message
	 * (and with it the client message id that makes a resend harmless).
	 */
	bool outbox_unsynced;
	/*
	 * The last engine_sync found the relay unreachable; until a
	 * handshake completes again, engine_send only queues (relay_known_down).
	 */
	bool sync_offline;
	/* The end of the current operation's time (engine_send), uv_hrtime ns; 0: none. */
	uint64_t deadline_ns;

	/* Live mode. */
	bool live;
	bool live_all;
	uint8_t live_circle[ENGINE_ID_LEN];
	bool in_live_turn; /* live processing is running: no nested turn */
	bool online_shown; /* the last connection event given out was ONLINE */
	struct engine_live_handles *lh; /* on the caller's loop; freed by their close callbacks */
	struct engine_push *pushes;
	struct engine_push **pushes_tail;
	size_t num_pushes;
	int64_t live_retry_at;
	unsigned live_backoff_ms;
	bool live_dirty; /* a reconnect or epoch change: LISTEN again, flush */
};

/* engine_now returns the injected clock's time, else the real one, in Unix ms. */
int64_t engine_now(const struct engine *e);

/* engine_seterr records a one-line reason for engine_last_error and returns |rc|. */
int engine_seterr(struct engine *e, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * engine_relay_down says whether live mode knows the relay to be
 * unreachable (see relay_down): then nothing is sent until it is back.
 */
bool engine_relay_down(const struct engine *e);

/* engine_connect makes the relay connection if there is none. */
HALQA_MUST_CHECK int engine_connect(struct engine *e);

/* engine_emit hands |ev| to the event callback, if any; returns its answer. */
int engine_emit(struct engine *e, const struct engine_event *ev);

/*
 * engine_sync_one syncs circle |id| (fetch, apply, flush its outbox, send a
 * due self-update), adding to |rep|.
 */
HALQA_MUST_CHECK int engine_sync_one(struct engine *e, const uint8_t id[ENGINE_ID_LEN],
				     struct engine_sync_report *rep);

/* engine_listen_all sends LISTEN for the live circles at their current epochs. */
HALQA_MUST_CHECK int engine_listen_all(struct engine *e);

/* engine_live_close closes live mode's handles (engine_free). */
void engine_live_close(struct engine *e);

#endif
