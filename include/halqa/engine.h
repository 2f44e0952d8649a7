/*
 * engine.h: the client's circle engine: MLS groups over the relay, the
 * sync that every command runs first, the outbox, and the events the
 * interactive mode shows live.
 *
 * An engine works on an open profile (the store and the identity, both
 * borrowed from the caller) and a libuv loop (borrowed: the caller's, so
 * `halqa chat` can run the terminal and timers on the same loop; one-shot
 * commands pass a loop of their own and the engine runs it while it
 * waits). It talks to the relay through net.h, with the epoch
 * capabilities of DESIGN.md (MLS-Exporter("halqa relay capability",
 * circle_id, 32)), and keeps every circle's MLS state in the store
 * (mls_group_save/load), saved in the same store transaction as the
 * messages that state change produced, so a crash never loses or repeats
 * a message.
 *
 * Circles are named by the name the user sees (unique per profile; a
 * joiner gets the name the facilitator gave, made unique locally) or by
 * their 16-byte id. Contacts by their contact name (store.h).
 *
 * Errors: HALQA_ERR_NOT_FOUND (no such circle or contact, no relay set),
 * HALQA_ERR_DENIED (not a facilitator; we were removed; the relay refused
 * this device), HALQA_ERR_NETWORK (relay unreachable: a send is then kept
 * in the outbox and succeeds later), HALQA_ERR_INVALID (bad text, a name
 * taken), HALQA_ERR_LIMIT (relay quota or rate limit), the store's and the
 * group API's errors. engine_last_error gives a one-line reason for the
 * user, never containing message text or keys.
 */
#ifndef HALQA_ENGINE_H
#define HALQA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "halqa/err.h"
#include "halqa/identity.h"
#include "halqa/session.h"
#include "halqa/store.h"

#define ENGINE_ID_LEN 16
#define ENGINE_KEY_LEN 32

/* One-time KeyPackages kept in the relay's directory; replenished below half. */
#define ENGINE_KP_STOCK 20

/*
 * Log items a catch-up reads in one store transaction at the most (a
 * transaction ends earlier at the end of the log and when a commit of
 * ours is confirmed). A transaction is one WAL commit, and one FTS4
 * segment up to about 4,000 messages (past 1 MiB of pending terms FTS4
 * writes one anyway): at 4,096 a message costs the store about a fifth
 * less CPU than at 1,024 (bench/README.md, bench_store, whose default
 * batch this is). The price: a batch holds the store's write lock while
 * it reads (about half a second at the catch-up's speed), its events
 * wait for its commit, and a crash loses it whole (the relay sends it
 * again: the cursor commits with it).
 */
#define ENGINE_BATCH_ITEMS 4096

/* Post-compromise healing: a self-update after this long or this many sends. */
#define ENGINE_SELF_UPDATE_MS (7LL * 24 * 3600 * 1000)
#define ENGINE_SELF_UPDATE_SENDS 100

struct engine;

/* A clock in Unix milliseconds; tests inject one (NULL: the real clock). */
typedef int64_t (*engine_clock_fn)(void *arg);

/*
 * engine_new makes an engine on |store| and |id| (borrowed; they must
 * outlive it) and |loop| (borrowed). It does not connect yet.
 */
HALQA_MUST_CHECK int engine_new(struct engine **out, struct store *store,
				const struct identity *id, uv_loop_t *loop);

/* engine_free closes the relay connection (running |loop| until it is closed) and frees. */
void engine_free(struct engine *e);

/*
 * engine_end is engine_free for a process about to end: ZeroMQ's sockets
 * and context are handed to zmq_lib_retire, so they close on a thread of
 * their own while the caller goes on (closing the store); zmq_lib_settle
 * waits for that thread before the process exits. Everything else, the
 * wiping of secrets included, is done before it returns, as engine_free does.
 */
void engine_end(struct engine *e);

/*
 * engine_group_counts reports how many times this engine rebuilt a
 * circle's MLS group from its stored bytes (|out_loads|) and how many
 * loads reused a group kept from an earlier use because the stored bytes
 * were still the ones it equals (|out_reuses|). For tests and benches.
 */
void engine_group_counts(const struct engine *e, unsigned long *out_loads,
			 unsigned long *out_reuses);

void engine_set_clock(struct engine *e, engine_clock_fn fn, void *arg);

/*
 * engine_set_timeout sets how long one relay request may take before the
 * relay counts as unreachable (0: the default, 10 s). Added for tests and
 * scripts that want a quick "offline".
 */
void engine_set_timeout(struct engine *e, unsigned timeout_ms);

/*
 * engine_set_batch_items sets how many log items a catch-up reads in one
 * store transaction at the most (0: ENGINE_BATCH_ITEMS). For tests, so a
 * catch-up can cross a batch's end without thousands of messages.
 */
void engine_set_batch_items(struct engine *e, size_t num_items);

/* engine_last_error: a one-line reason for the last failure; "" if none. Never NULL. */
/*
 * Added to the agreed API: engine_set_timeout (below); circles found by
 * hex id too (engine_circle_find). A circle's state (left, removed,
 * blocked and why, gaps seen) is in struct store_circle (store.h).
 */
const char *engine_last_error(const struct engine *e);

/*
 * engine_register registers this device with the relay set in the store
 * (invite |invite|, NULL or "" for an open relay), then stocks the
 * KeyPackage directory: ENGINE_KP_STOCK one-time packages and a
 * last-resort one, their private keys kept in the store until used.
 */
HALQA_MUST_CHECK int engine_register(struct engine *e, const char *invite);

/* What a sync did. */
struct engine_sync_report {
	bool offline;          /* the relay could not be reached: nothing else happened */
	size_t joined;         /* circles joined from Welcomes */
	size_t received;       /* new messages stored */
	size_t commits;        /* commits applied */
	size_t sent;           /* outbox entries sent */
	size_t waiting;        /* outbox entries still waiting */
	size_t refused;        /* messages refused (bad MLS, bad payload): logged, not stored */
};

/*
 * engine_sync fetches the mailbox (joining circles from Welcomes), every
 * circle's new messages epoch by epoch (applying commits, storing
 * messages), flushes the outbox, posts waiting Welcomes (also those a
 * circle we left or were removed from still owes), sends a due
 * self-update, and tops up the KeyPackage directory. Unreachable relay
 * (lost, or no answer in time): HALQA_OK with |rep->offline|, and
 * engine_send then only queues until a handshake completes again. An
 * error the relay answers with (`internal` for one circle, say) fails
 * that circle or step alone: the rest is still synced, and the first
 * such error is returned, engine_last_error naming the circle.
 */
HALQA_MUST_CHECK int engine_sync(struct engine *e, struct engine_sync_report *rep);

/* engine_circle_create makes a circle named |name|, us its facilitator. */
HALQA_MUST_CHECK int engine_circle_create(struct engine *e, const char *name,
					  uint8_t out_id[ENGINE_ID_LEN]);

/*
 * engine_circle_add adds the contacts |names| (claiming a KeyPackage of
 * each, one commit, a Welcome posted to each new member's mailbox).
 * engine_circle_remove removes them. Both need a facilitator and retry
 * transparently on stale-epoch (sync, re-apply, retry).
 */
HALQA_MUST_CHECK int engine_circle_add(struct engine *e, const char *circle,
				       const char *const *names, size_t num_names);
HALQA_MUST_CHECK int engine_circle_remove(struct engine *e, const char *circle,
					  const char *const *names, size_t num_names);

/*
 * engine_circle_leave asks to leave (a Remove proposal for our own leaf,
 * which a facilitator's client commits); the circle is closed locally at
 * once and its history kept.
 */
HALQA_MUST_CHECK int engine_circle_leave(struct engine *e, const char *circle);

/*
 * engine_circle_set_facilitator adds (|on|) or removes a facilitator in
 * the circle's roster (a GroupContextExtensions commit). Facilitators only.
 * |name| NULL names ourselves (added: a facilitator steps down; the last
 * one cannot, HALQA_ERR_DENIED).
 */
HALQA_MUST_CHECK int engine_circle_set_facilitator(struct engine *e, const char *circle,
						   const char *name, bool on);

struct engine_member {
	uint8_t identity[ENGINE_KEY_LEN];
	char name[STORE_MAX_NAME + 1]; /* contact name; "" if not a contact */
	bool self;
	bool verified;    /* a verified contact (always true for self) */
	bool facilitator; /* in the roster */
};

/* engine_circle_members lists the members (malloc'd array, free()). */
HALQA_MUST_CHECK int engine_circle_members(struct engine *e, const char *circle,
					   struct engine_member **out, size_t *out_num);

/*
 * engine_circle_find resolves a circle name (or, added: the circle id in
 * 32 hex digits) to the stored circle. HALQA_ERR_NOT_FOUND if none.
 */
HALQA_MUST_CHECK int engine_circle_find(struct engine *e, const char *circle,
					struct store_circle *out);

/*
 * engine_send queues |msg| (a session.h payload: chat text, schedule,
 * RSVP...) for circle |circle| in the outbox with a fresh message id (to
 * |out_msg_id| if not NULL) and tries to send it now. HALQA_OK means
 * stored in the outbox or sent: |*out_sent| (if not NULL) says which.
 * A chat message is also stored in our own history at once.
 * The attempt to send (the sync before it included) takes at most the
 * timeout (engine_set_timeout) as a whole; a connection that drops during
 * it ends it at once (net.h), the message staying queued. Added: in live
 * mode, while the relay is known to be down (from ENGINE_EVENT_OFFLINE, or
 * engine_live's start, until the connection is back), it only queues and
 * returns at once (*out_sent false); live mode flushes the outbox on the
 * reconnect.
 */
HALQA_MUST_CHECK int engine_send(struct engine *e, const char *circle,
				 const struct session_message *msg,
				 uint8_t out_msg_id[ENGINE_ID_LEN], bool *out_sent);

/*
 * engine_send_with_sync makes the next engine_sync also send |msg| to
 * |circle|, as engine_send would after it, but sooner: `halqa send`. When
 * the circle is known, open, and nothing older waits in its outbox, the
 * sync queues and encrypts the message (one durable commit, before any
 * ciphertext leaves) while its first requests and the relay handshake are
 * under way, and its SEND goes out right after them, before their answers
 * are read. The relay answers one connection in order, so the sync reads
 * the log as it was before the message; the SEND's answer is read once
 * the sync has read its circles, and the outbox flush of that circle
 * passes the entry over until then. A SEND refused as stale (a commit
 * came first) is sent again, once, for the epoch the sync moved to; if
 * that commit closed the circle for us (we were removed), it is not sent
 * again, leaves the outbox, and the outcome says the circle is closed.
 * The message is stored in our history before what the sync reads, so
 * messages of others it brings come after ours in local order (as when a
 * message waited in the outbox). Otherwise (a circle the sync may join, a
 * closed one, an outbox with older entries) the message is sent after
 * the sync with engine_send. |circle| and |msg| are borrowed until that
 * sync returns. HALQA_ERR_ARG for a NULL argument or in live mode.
 */
HALQA_MUST_CHECK int engine_send_with_sync(struct engine *e, const char *circle,
					   const struct session_message *msg);

/*
 * engine_send_outcome gives what happened to the message of the last
 * engine_sync that had one (engine_send_with_sync): engine_send's result
 * (HALQA_OK: sent, or queued in the outbox; |*out_sent| says which), its
 * message id in |out_msg_id|, and, on failure, its reason as
 * engine_last_error (HALQA_ERR_DENIED: the circle is closed, also when
 * the sync closed it; the message then stays in our history only).
 * HALQA_ERR_ARG if no sync has carried a message. Either output may be NULL.
 */
HALQA_MUST_CHECK int engine_send_outcome(struct engine *e, uint8_t out_msg_id[ENGINE_ID_LEN],
					 bool *out_sent);

/* Live events, for the interactive mode and the session handler. */
enum engine_event_type {
	ENGINE_EVENT_MESSAGE = 1,   /* a chat message was stored (|seq|) */
	ENGINE_EVENT_PAYLOAD = 2,   /* a non-chat session payload arrived (|payload|) */
	ENGINE_EVENT_MEMBERS = 3,   /* members joined, left or were removed */
	ENGINE_EVENT_JOINED = 4,    /* we joined a circle from a Welcome */
	ENGINE_EVENT_REMOVED = 5,   /* we were removed from a circle */
	ENGINE_EVENT_ONLINE = 6,    /* connected to the relay */
	ENGINE_EVENT_OFFLINE = 7,   /* lost the relay; reconnecting with backoff */
	ENGINE_EVENT_OUTBOX = 8,    /* an outbox entry was sent */
};

struct engine_event {
	int type;                             /* enum engine_event_type */
	uint8_t circle_id[ENGINE_ID_LEN];     /* for circle events */
	int64_t seq;                          /* MESSAGE: store_message.seq */
	uint8_t sender[ENGINE_KEY_LEN];       /* MESSAGE, PAYLOAD */
	int64_t sent_at;                      /* MESSAGE, PAYLOAD: sender's clock, ms */
	uint8_t msg_id[ENGINE_ID_LEN];        /* MESSAGE, PAYLOAD, OUTBOX */
	const struct session_message *payload; /* PAYLOAD: borrowed during the call */
	/* Added: MESSAGE, a check-in answer (the chat payload's round tag; the store keeps only text). */
	bool in_round;
	uint8_t round_id[SESSION_ROUND_ID_LEN];
};

/*
 * The event callback runs on the loop, during engine_sync or while
 * engine_live runs; it must not call engine_sync itself. A PAYLOAD
 * handler returning non-OK makes the message count as refused.
 */
typedef int (*engine_event_cb)(void *arg, const struct engine_event *ev);
void engine_set_event_cb(struct engine *e, engine_event_cb cb, void *arg);

/*
 * engine_live starts live mode on the caller's loop for |circle| (NULL:
 * all): LISTEN for pushes, process them as they come, flush the outbox
 * on every (re)connect, reconnect with backoff. While the relay is down
 * no turn waits on it: nothing is tried, pushes that were waiting are
 * read by the reconnect's sync instead. engine_live_stop ends it.
 * Events go to the callback; the loop is the caller's to run.
 */
HALQA_MUST_CHECK int engine_live(struct engine *e, const char *circle);
void engine_live_stop(struct engine *e);

#endif
