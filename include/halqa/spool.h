/*
 * spool.h: the relay's durable store (halqad's only disk state).
 *
 * A synchronous C API over one SQLite database opened through SQLCipher's
 * library (unkeyed: the relay holds only MLS ciphertext, hashes of
 * capabilities and random ids). The daemon's loop thread owns the spool;
 * nothing here is thread-safe and nothing here blocks except the SQLite
 * calls themselves (the one deliberate block of the relay, batched per turn).
 *
 * Group commit. All writes of one loop turn form one transaction: the first
 * write of a turn opens it (spool_begin_turn makes that explicit), and
 * spool_commit_turn makes it durable (WAL, synchronous=FULL) before the
 * daemon sends any reply or push of that turn. If the commit fails every
 * write of the turn is rolled back and the daemon must turn every pending
 * reply of the turn into an error: nothing is acknowledged that is not on
 * disk. A write refused for a reason (a quota, a stale epoch, a wrong
 * capability) makes every check before it writes, so it leaves no change in
 * the turn and the other operations of the turn are unaffected. A storage
 * error in the middle of an operation fails the whole turn: its commit
 * rolls back and returns HALQA_ERR_IO.
 *
 * What the disk shows. No table links a device key to a circle id. Devices
 * carry only counters (circles created, bytes sent today); circles, epochs,
 * messages and cursors carry no device key. Capabilities are never given to
 * the spool, only cap_hash = wire_cap_hash(cap) (SHA-256 with a label), and
 * invite codes are stored only as a hash. Column names follow one rule the
 * tests check: device keys live in columns named "*_key", circle ids and
 * references to circles in columns named "circle_*", and no table has both.
 *
 * Conventions. Every function returns HALQA_OK or a negative HALQA_ERR_*;
 * out-parameters are cleared on entry and filled only on success. Ids are
 * fixed-size arrays (SPOOL_ID_LEN, SPOOL_KEY_LEN, SPOOL_HASH_LEN bytes) that
 * the caller has already checked for length. Every time is a `now` argument
 * in seconds since the Unix epoch, supplied by the caller, so tests and the
 * daemon can inject a clock; times above INT64_MAX give HALQA_ERR_ARG.
 * Storage failures are HALQA_ERR_IO, with the detail logged (never a
 * payload, key or capability hash). Results that own memory have a
 * *_cleanup function that is safe on a zeroed or already-cleaned struct.
 */
#ifndef HALQA_SPOOL_H
#define HALQA_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

#define SPOOL_ID_LEN 16   /* circle, cursor, mailbox, KeyPackage directory, client message id */
#define SPOOL_KEY_LEN 32  /* a device's CURVE public key */
#define SPOOL_HASH_LEN 32 /* cap_hash */
#define SPOOL_INVITE_CODE_MAX 128 /* longest invite code accepted, in bytes */

/* SPOOL_SCHEMA_VERSION is the PRAGMA user_version this build writes and reads. */
#define SPOOL_SCHEMA_VERSION 2

/*
 * SPOOL_TIME_GRANULARITY: every time the spool stores (arrival of a message
 * or mailbox item, a cursor's last acknowledgement, a device's
 * registration, an invite's creation and expiry) is rounded UP to a
 * multiple of this many seconds. With times to the second, a seized disk
 * would link a Welcome in a mailbox to the commit that added its member
 * (same second); to the hour, every item of that hour looks alike.
 * Rounding up never shortens a retention period: things are kept (and
 * invites stay valid) at most this much longer than asked. Schema version
 * 2 coarsens the times an older file holds.
 */
#define SPOOL_TIME_GRANULARITY 3600u

struct spool;

/*
 * Message kinds as stored. The wire format has its own numbering; the daemon
 * maps between them.
 */
enum spool_kind {
	SPOOL_KIND_COMMIT = 1,
	SPOOL_KIND_PROPOSAL = 2,
	SPOOL_KIND_APPLICATION = 3,
};

/*
 * struct spool_limits: the bounds the spool enforces. Every blob length is
 * checked against these before anything is inserted. A zero field means
 * "use the default" (see spool_limits_default), so a caller may set only
 * the fields it cares about.
 */
struct spool_limits {
	uint32_t max_payload;            /* bytes of one circle message (256 KiB) */
	uint32_t max_fetch_count;        /* messages returned by one fetch (256) */
	uint32_t max_fetch_bytes;        /* payload bytes returned by one fetch (4 MiB);
					    the first message is always returned */
	uint32_t max_cursors_per_circle; /* cursors one circle may hold (256) */
	uint64_t default_max_age;        /* circle message lifetime, seconds (30 days) */
	uint64_t max_max_age;            /* largest max_age a creator may ask (365 days) */
	uint32_t max_devices;            /* registered devices (100000) */
	uint32_t max_circles_per_device; /* circles one device may create, ever (1000) */
	uint64_t max_bytes_per_day;      /* bytes one device may send per UTC day (256 MiB) */
	uint32_t max_mailboxes_per_device; /* mailboxes one device may own (8) */
	uint32_t max_mailbox_item;       /* bytes of one mailbox item (256 KiB) */
	uint32_t max_mailbox_items;      /* items held per mailbox (1000) */
	uint64_t max_mailbox_bytes;      /* bytes held per mailbox (16 MiB) */
	uint64_t mailbox_max_age;        /* mailbox item lifetime, seconds (30 days) */
	uint32_t max_kp_dirs_per_device; /* KeyPackage directories one device may own (8) */
	uint32_t max_keypackage;         /* bytes of one KeyPackage (16 KiB) */
	uint32_t max_keypackages;        /* one-time KeyPackages held per directory (256) */
	uint32_t max_mailbox_fetch;      /* mailbox items returned by one fetch (256) */
	uint32_t sweep_budget;           /* rows deleted by one spool_sweep call (1000) */
	uint32_t busy_timeout_ms;        /* SQLite busy timeout (2000) */
};

/* spool_limits_default fills |out| with the defaults named above. Cannot fail. */
void spool_limits_default(struct spool_limits *out);

/*
 * spool_open opens (creating if needed, mode 0600) the database at |path|,
 * applies the pragmas (WAL, synchronous=FULL, foreign keys, busy timeout),
 * checks that the SQLCipher library is the one linked, migrates the schema
 * to SPOOL_SCHEMA_VERSION and prepares every statement. |limits| is copied;
 * NULL means the defaults. A database whose user_version is newer than this
 * build is refused with HALQA_ERR_UNSUPPORTED and left byte-for-byte
 * unchanged. Returns HALQA_ERR_ARG for bad arguments or limits, HALQA_ERR_IO
 * if the file cannot be opened or is not a database, HALQA_ERR_NOMEM.
 * On success *out owns the handle; free it with spool_close.
 *
 * Never open a file this process already has open through another spool:
 * spool_open opens and closes the file itself (to fix its mode), and
 * closing any descriptor of a file drops every POSIX lock the process
 * holds on it, SQLite's included. Another process would then take itself
 * for the database's last user, checkpoint and delete the WAL that the
 * still-open spool goes on writing to. To change limits, spool_limits_set.
 */
int spool_open(struct spool **out, const char *path, const struct spool_limits *limits)
	HALQA_MUST_CHECK;

/*
 * spool_close closes the database. A turn still open is rolled back (it was
 * never acknowledged). NULL is a no-op.
 */
void spool_close(struct spool *sp);

/*
 * spool_checkpoints_start moves WAL checkpoints off the COMMIT: a helper
 * thread with its own connection to |path| (the file spool_open opened)
 * copies the WAL into the database once it holds 1,000 pages, while
 * commits go on; only past 8,000 does a COMMIT checkpoint itself, as
 * SQLite's automatic checkpoint would (spool_ckpt.c). Without it, SQLite's
 * automatic checkpoint stays. Returns HALQA_ERR_ARG (bad arguments or
 * already started), HALQA_ERR_NOMEM, HALQA_ERR_IO; the spool works on
 * either way. spool_close stops it.
 */
int spool_checkpoints_start(struct spool *sp, const char *path) HALQA_MUST_CHECK;

/* spool_checkpoints_stop stops the helper and restores the automatic checkpoint. */
void spool_checkpoints_stop(struct spool *sp);

/* spool_limits_get returns the limits in force (defaults filled in). */
const struct spool_limits *spool_limits_get(const struct spool *sp);

/*
 * spool_limits_set replaces the limits of an open spool, checked and
 * defaulted as spool_open does; the next operation runs under them.
 * HALQA_ERR_ARG for bad limits, with the old ones kept.
 */
int spool_limits_set(struct spool *sp, const struct spool_limits *limits) HALQA_MUST_CHECK;

/* ------------------------------------------------------------------------ */
/* Turns (group commit) */

/*
 * spool_begin_turn opens the turn's transaction if none is open (a no-op
 * otherwise). Every write function calls it itself, so the daemon never has
 * to; it exists to make the start of a turn explicit. Returns HALQA_ERR_IO
 * if the transaction cannot start (the database is locked past the busy
 * timeout, or the previous turn failed and was not yet committed).
 */
int spool_begin_turn(struct spool *sp) HALQA_MUST_CHECK;

/* spool_turn_open says whether a turn is open (1) or not (0). */
int spool_turn_open(const struct spool *sp);

/*
 * spool_commit_turn commits the open turn and returns once it is on disk.
 * With no turn open it does nothing and returns HALQA_OK. Returns
 * HALQA_ERR_IO if the commit failed or a write of the turn hit a storage
 * error that aborted the transaction: then every write of the turn has been
 * rolled back and the daemon must answer every pending request of the turn
 * with an error. Either way, no turn is open afterwards.
 */
int spool_commit_turn(struct spool *sp) HALQA_MUST_CHECK;

/*
 * spool_inject_commit_failure makes the next |count| commits fail (through
 * SQLite's commit hook, so SQLite's real rollback path runs) and report
 * HALQA_ERR_IO. For tests of the "nothing acknowledged unless on disk" path;
 * the daemon never calls it.
 */
void spool_inject_commit_failure(struct spool *sp, unsigned count);

/*
 * spool_inject_commit_delay makes the next commit sleep |ms| milliseconds
 * (in SQLite's commit hook) before it completes, as a slow disk would. For
 * tests of what waits for a COMMIT; the daemon never calls it.
 */
void spool_inject_commit_delay(struct spool *sp, unsigned ms);

/* ------------------------------------------------------------------------ */
/* Devices and invites */

enum spool_device_status {
	SPOOL_DEVICE_UNKNOWN = 0,    /* never registered: guest */
	SPOOL_DEVICE_REGISTERED = 1, /* full access */
	SPOOL_DEVICE_BANNED = 2,     /* refused by ZAP */
};

/*
 * spool_invite_create stores a new invite: only a keyed hash of |code|
 * (code_len 1..SPOOL_INVITE_CODE_MAX bytes) is kept, with |uses| (>= 1)
 * registrations left and an expiry |expires_at| (0: never). The caller
 * generates the code (random, high entropy) and shows it to the operator.
 * *out_id (may be NULL) receives the invite's number for list/revoke.
 * Returns HALQA_ERR_ARG, HALQA_ERR_EXISTS (same code already stored),
 * HALQA_ERR_IO.
 */
int spool_invite_create(struct spool *sp, int64_t *out_id, const uint8_t *code, size_t code_len,
			uint32_t uses, uint64_t expires_at, uint64_t now) HALQA_MUST_CHECK;

struct spool_invite {
	int64_t id;
	uint32_t uses_left;
	uint64_t expires_at; /* 0: never */
	uint64_t created_at;
};

/*
 * spool_invite_list returns every stored invite (expired ones included until
 * a sweep removes them) in *out (malloc'd array the caller frees with free())
 * and their number in *out_num. Returns HALQA_ERR_NOMEM, HALQA_ERR_IO.
 */
int spool_invite_list(struct spool *sp, struct spool_invite **out, size_t *out_num)
	HALQA_MUST_CHECK;

/* spool_invite_revoke deletes invite |id|. Returns HALQA_ERR_NOT_FOUND, HALQA_ERR_IO. */
int spool_invite_revoke(struct spool *sp, int64_t id) HALQA_MUST_CHECK;

/*
 * spool_device_register registers |device|. Unless |open_mode| is set, the
 * invite |code| must match a stored, unexpired invite with uses left; one
 * use is consumed (the invite is deleted at zero). In open mode |code| is
 * ignored and may be NULL. Returns HALQA_ERR_EXISTS if |device| is already
 * registered (no use consumed, so a retried REGISTER costs nothing),
 * HALQA_ERR_DENIED if it is banned or the code is unknown, expired or used
 * up (one answer for all three: a guest learns nothing about codes),
 * HALQA_ERR_LIMIT if max_devices is reached, HALQA_ERR_ARG, HALQA_ERR_IO.
 */
int spool_device_register(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN],
			  const uint8_t *code, size_t code_len, int open_mode, uint64_t now)
	HALQA_MUST_CHECK;

/*
 * spool_device_status writes |device|'s status (enum spool_device_status)
 * to *out. An unknown key is SPOOL_DEVICE_UNKNOWN, not an error. Returns
 * HALQA_ERR_IO.
 */
int spool_device_status(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int *out)
	HALQA_MUST_CHECK;

/*
 * spool_device_ban bans (|banned| = 1) or unbans (0) |device|. Banning an
 * unknown key records it as banned so it cannot register later; unbanning
 * a key that was banned without registering forgets it. Returns
 * HALQA_ERR_NOT_FOUND when unbanning an unknown key, HALQA_ERR_IO.
 */
int spool_device_ban(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], int banned,
		     uint64_t now) HALQA_MUST_CHECK;

/* struct spool_quota: one device's counters and the limits they meet. */
struct spool_quota {
	uint64_t circles_created;
	uint64_t circles_max;
	uint64_t bytes_today; /* bytes charged in the UTC day containing |now| */
	uint64_t bytes_max;
};

/*
 * spool_device_quota reads |device|'s counters as of |now| (a new UTC day
 * reads as zero bytes). Returns HALQA_ERR_NOT_FOUND for an unregistered
 * device, HALQA_ERR_IO.
 */
int spool_device_quota(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], uint64_t now,
		       struct spool_quota *out) HALQA_MUST_CHECK;

/*
 * spool_device_charge adds |bytes| to |device|'s sent-bytes counter for the
 * UTC day of |now| (resetting it when the day changed). Returns
 * HALQA_ERR_LIMIT, charging nothing, if that would pass max_bytes_per_day;
 * HALQA_ERR_NOT_FOUND for an unregistered device; HALQA_ERR_IO. The daemon
 * charges every SEND, MAILBOX_PUT and KP_PUBLISH before storing it.
 */
int spool_device_charge(struct spool *sp, const uint8_t device[SPOOL_KEY_LEN], uint64_t bytes,
			uint64_t now) HALQA_MUST_CHECK;

/* ------------------------------------------------------------------------ */
/* Circles */

/*
 * spool_circle_create creates circle |circle_id| at epoch 0 whose
 * capability hashes to |cap_hash0|, keeping messages at most |max_age|
 * seconds (0: the default; above max_max_age: HALQA_ERR_ARG). The creator's
 * circles-created counter is incremented (a counter only: which circle it
 * created is not recorded). Returns HALQA_ERR_EXISTS for a known circle id,
 * HALQA_ERR_LIMIT if |creator| reached max_circles_per_device,
 * HALQA_ERR_NOT_FOUND if |creator| is not registered, HALQA_ERR_IO.
 */
int spool_circle_create(struct spool *sp, const uint8_t creator[SPOOL_KEY_LEN],
			const uint8_t circle_id[SPOOL_ID_LEN],
			const uint8_t cap_hash0[SPOOL_HASH_LEN], uint64_t max_age, uint64_t now)
	HALQA_MUST_CHECK;

/* struct spool_append_req: one SEND. Pointers are borrowed for the call. */
struct spool_append_req {
	const uint8_t *circle_id;     /* SPOOL_ID_LEN bytes */
	uint64_t epoch;               /* the epoch the message was built in */
	int kind;                     /* enum spool_kind */
	const uint8_t *cap_hash;      /* SPOOL_HASH_LEN: hash of the presented capability */
	const uint8_t *next_cap_hash; /* SPOOL_HASH_LEN for a commit, NULL otherwise */
	const uint8_t *client_msg_id; /* SPOOL_ID_LEN: idempotency key */
	const uint8_t *payload;       /* opaque MLS bytes; may be NULL if payload_len is 0 */
	size_t payload_len;           /* 1..max_payload */
	uint64_t now;
};

struct spool_append_res {
	uint64_t seq;       /* the message's sequence number in its circle (from 1) */
	uint64_t epoch;     /* the epoch it belongs to */
	int duplicate;      /* 1: a retry; seq is the original, nothing was stored */
	int closed_epoch;   /* 1: this commit closed |epoch| and opened epoch + 1 */
};

/*
 * spool_append stores one message. In order:
 *  - unknown circle: HALQA_ERR_NOT_FOUND;
 *  - (circle, client_msg_id) already stored and |cap_hash| opens the epoch
 *    it belongs to: HALQA_OK with duplicate = 1 and the original seq (a
 *    retry of a commit whose reply was lost thus succeeds although that
 *    commit closed the epoch); with another cap: HALQA_ERR_DENIED. This
 *    holds while the original is stored: once retention deleted it, a
 *    retry is judged like a new message;
 *  - |epoch| unknown or |cap_hash| not that epoch's: HALQA_ERR_DENIED;
 *  - |epoch| closed (an older epoch, or a second commit for it):
 *    HALQA_ERR_STALE;
 *  - bad kind, missing or unexpected next_cap_hash, empty payload:
 *    HALQA_ERR_ARG; payload over max_payload: HALQA_ERR_TOO_LARGE;
 *    next_cap_hash equal to an epoch's cap hash already in the circle:
 *    HALQA_ERR_INVALID (a cap hash must name one epoch);
 *  - otherwise the message gets the next seq; a commit becomes the last
 *    message of |epoch| (closed_epoch = 1) and registers next_cap_hash for
 *    epoch + 1, whose first seq is seq + 1.
 * HALQA_ERR_IO on storage failure. The daemon charges the sender's daily
 * bytes (spool_device_charge) separately.
 */
int spool_append(struct spool *sp, const struct spool_append_req *req, struct spool_append_res *out)
	HALQA_MUST_CHECK;

/*
 * spool_append_find answers a retried SEND without storing anything: if
 * (circle, client_msg_id) is stored and |cap_hash| opens its epoch,
 * HALQA_OK with duplicate = 1 and the original seq and epoch, exactly what
 * spool_append would return for the retry. HALQA_ERR_DENIED if it is stored
 * under another cap, HALQA_ERR_NOT_FOUND if the circle or the message is
 * unknown, HALQA_ERR_ARG for missing fields, HALQA_ERR_IO on storage
 * failure. Only circle_id, cap_hash and client_msg_id of |req| are read.
 * The daemon calls it when a quota would refuse a new message, so that a
 * retry of an accepted one still gets its original seq.
 */
int spool_append_find(struct spool *sp, const struct spool_append_req *req,
		      struct spool_append_res *out) HALQA_MUST_CHECK;

/* struct spool_epoch_info: what a capability opens. */
struct spool_epoch_info {
	uint64_t epoch;
	uint64_t first_seq;  /* the first seq that belongs (or will belong) to it */
	uint64_t last_seq;   /* closed: its commit's seq; open: the circle's newest seq
				(first_seq - 1 if nothing was posted in it yet) */
	int closed;          /* 1 once a commit closed it */
	uint64_t max_age;    /* the circle's message lifetime, seconds */
};

/*
 * spool_cap_lookup finds the epoch of |circle_id| whose capability hashes to
 * |cap_hash|. LISTEN needs an open epoch (closed == 0). Returns
 * HALQA_ERR_NOT_FOUND for an unknown circle, HALQA_ERR_DENIED if no epoch
 * matches, HALQA_ERR_IO.
 */
int spool_cap_lookup(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		     const uint8_t cap_hash[SPOOL_HASH_LEN], struct spool_epoch_info *out)
	HALQA_MUST_CHECK;

/* struct spool_msg: one stored message, as fetch returns it. */
struct spool_msg {
	uint64_t seq;
	uint64_t epoch;
	int kind;
	uint8_t client_msg_id[SPOOL_ID_LEN];
	uint64_t received_at;
	uint8_t *payload; /* owned by the enclosing struct spool_fetch */
	size_t payload_len;
};

struct spool_fetch {
	struct spool_epoch_info info; /* the epoch the capability opens */
	struct spool_msg *msgs;       /* in seq order; gaps are messages retention deleted */
	size_t num_msgs;
	int more;                     /* 1: the epoch holds stored messages past the last one
					 returned (the count or byte bound cut the answer) */
};

/*
 * spool_fetch returns the stored messages of the epoch |cap_hash| opens,
 * from max(from_seq, first_seq) on, at most min(max, max_fetch_count)
 * messages (max 0: max_fetch_count) and about max_fetch_bytes of payload.
 * info says whether the epoch is closed and its last seq, so the client
 * walks epoch by epoch. Returns HALQA_ERR_NOT_FOUND (circle),
 * HALQA_ERR_DENIED (no epoch matches the cap), HALQA_ERR_NOMEM,
 * HALQA_ERR_IO. On success release *out with spool_fetch_cleanup.
 */
int spool_fetch(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		const uint8_t cap_hash[SPOOL_HASH_LEN], uint64_t from_seq, uint32_t max,
		struct spool_fetch *out) HALQA_MUST_CHECK;

/* spool_fetch_cleanup frees what spool_fetch allocated and zeroes *f. */
void spool_fetch_cleanup(struct spool_fetch *f);

/*
 * spool_cursor_ack records that cursor |cursor_id| of |circle_id| has read
 * everything up to and including |seq|, at time |now| (which keeps the
 * cursor live for the circle's max_age). |cap_hash| must open the epoch
 * containing |seq|; seq = first_seq - 1 of that epoch is also accepted ("read
 * everything before my epoch", what a joiner acknowledges first). A cursor
 * never moves back: a lower seq only refreshes its time. Cursors are random
 * ids linked to no device. Returns HALQA_ERR_NOT_FOUND (circle),
 * HALQA_ERR_DENIED (no epoch matches the cap, or |seq| outside its range,
 * or past the circle's newest seq), HALQA_ERR_LIMIT (a new cursor while the
 * circle holds max_cursors_per_circle), HALQA_ERR_IO.
 */
int spool_cursor_ack(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		     const uint8_t cursor_id[SPOOL_ID_LEN], const uint8_t cap_hash[SPOOL_HASH_LEN],
		     uint64_t seq, uint64_t now) HALQA_MUST_CHECK;

struct spool_sweep_res {
	uint64_t acked_deleted;   /* messages every live cursor had acknowledged */
	uint64_t aged_deleted;    /* messages older than their circle's max_age */
	uint64_t cursors_expired; /* cursors not acknowledged within max_age */
	uint64_t mailbox_deleted; /* mailbox items older than mailbox_max_age */
	uint64_t invites_expired; /* invites past their expiry */
	int more;                 /* 1: the budget ran out; call again soon */
};

/*
 * spool_sweep applies retention as of |now|, deleting at most about
 * sweep_budget rows per call (circles are visited round-robin from where the
 * previous call stopped), so the loop never stalls on a big backlog. A
 * message is deleted when every live cursor of its circle has acknowledged
 * it (a circle with no live cursor keeps its messages until max_age), or
 * when it is older than the circle's max_age. Writes go into the current
 * turn (opened if needed). Counts go to *out; out->more = 1 asks the caller
 * to sweep again soon (the budget ran out), 0 means it may wait for its
 * normal interval. Returns HALQA_ERR_IO, never HALQA_ERR_LIMIT.
 */
int spool_sweep(struct spool *sp, uint64_t now, struct spool_sweep_res *out) HALQA_MUST_CHECK;

struct spool_circle_stats {
	uint64_t epoch;         /* the open epoch */
	uint64_t last_seq;      /* newest seq ever assigned (0: none) */
	uint64_t messages;      /* messages stored */
	uint64_t bytes;         /* payload bytes stored */
	uint64_t cursors;       /* cursors stored (live or not yet swept) */
	uint64_t max_age;
};

/*
 * spool_circle_stats reads one circle's figures. Returns HALQA_ERR_NOT_FOUND,
 * HALQA_ERR_IO. (The daemon must not log these next to a device.)
 */
int spool_circle_stats(struct spool *sp, const uint8_t circle_id[SPOOL_ID_LEN],
		       struct spool_circle_stats *out) HALQA_MUST_CHECK;

/* ------------------------------------------------------------------------ */
/* Mailboxes */

/*
 * spool_mailbox_ensure creates mailbox |mailbox_id| owned by |owner| if it
 * does not exist (what the owner's first MAILBOX_FETCH does). Returns
 * HALQA_OK if it exists with that owner or was created, HALQA_ERR_DENIED
 * if another device owns it, HALQA_ERR_LIMIT if |owner| already owns
 * max_mailboxes_per_device, HALQA_ERR_IO.
 */
int spool_mailbox_ensure(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			 const uint8_t owner[SPOOL_KEY_LEN], uint64_t now) HALQA_MUST_CHECK;

/*
 * spool_mailbox_owner writes the owner of |mailbox_id| to |out|. Returns
 * HALQA_ERR_NOT_FOUND, HALQA_ERR_IO.
 */
int spool_mailbox_owner(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			uint8_t out[SPOOL_KEY_LEN]) HALQA_MUST_CHECK;

/*
 * spool_mailbox_put stores |data| (1..max_mailbox_item bytes) in mailbox
 * |mailbox_id| and writes its item id (increasing, never reused) to
 * *out_item (may be NULL). Any registered device may put. Returns
 * HALQA_ERR_NOT_FOUND (no such mailbox yet), HALQA_ERR_TOO_LARGE,
 * HALQA_ERR_LIMIT (the mailbox holds max_mailbox_items or would pass
 * max_mailbox_bytes), HALQA_ERR_ARG, HALQA_ERR_IO.
 */
int spool_mailbox_put(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
		      const uint8_t *data, size_t data_len, uint64_t now, uint64_t *out_item)
	HALQA_MUST_CHECK;

/* struct spool_item: one mailbox item or KeyPackage handed out. */
struct spool_item {
	uint64_t id;
	uint64_t received_at;
	uint8_t *data; /* owned by the enclosing result */
	size_t data_len;
};

struct spool_items {
	struct spool_item *items;
	size_t num_items;
	int more; /* 1: items past the last one returned remain */
};

/* spool_items_cleanup frees what a fetch allocated and zeroes *it. */
void spool_items_cleanup(struct spool_items *it);

/*
 * spool_mailbox_fetch returns the items of |mailbox_id| with id > after_id,
 * oldest first, at most min(max, max_mailbox_fetch) (max 0: the bound). Only
 * the owner may fetch. Returns HALQA_ERR_NOT_FOUND, HALQA_ERR_DENIED (not
 * the owner), HALQA_ERR_NOMEM, HALQA_ERR_IO. Release with spool_items_cleanup.
 */
int spool_mailbox_fetch(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			const uint8_t owner[SPOOL_KEY_LEN], uint64_t after_id, uint32_t max,
			struct spool_items *out) HALQA_MUST_CHECK;

/*
 * spool_mailbox_delete deletes the items |ids| (num_ids of them) of
 * |mailbox_id|; ids not in this mailbox are ignored, so a retry is
 * harmless. *out_deleted (may be NULL) gets the number deleted. Only the
 * owner may delete. Returns HALQA_ERR_NOT_FOUND, HALQA_ERR_DENIED,
 * HALQA_ERR_ARG (num_ids above max_mailbox_fetch), HALQA_ERR_IO.
 */
int spool_mailbox_delete(struct spool *sp, const uint8_t mailbox_id[SPOOL_ID_LEN],
			 const uint8_t owner[SPOOL_KEY_LEN], const uint64_t *ids, size_t num_ids,
			 size_t *out_deleted) HALQA_MUST_CHECK;

/* ------------------------------------------------------------------------ */
/* KeyPackage directory */

struct spool_blob {
	const uint8_t *data;
	size_t len;
};

/*
 * spool_kp_publish adds |num_pkgs| one-time KeyPackages to directory
 * |dir_id| (created on first publish, owned by |owner|) and, if
 * |last_resort| is not NULL, replaces the last-resort package with it.
 * Each package is 1..max_keypackage bytes. All or nothing. Returns
 * HALQA_ERR_DENIED (another device owns the directory), HALQA_ERR_TOO_LARGE
 * (a package), HALQA_ERR_LIMIT (more than max_keypackages would be held,
 * or |owner| owns max_kp_dirs_per_device directories), HALQA_ERR_ARG,
 * HALQA_ERR_IO.
 */
int spool_kp_publish(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN],
		     const uint8_t owner[SPOOL_KEY_LEN], const struct spool_blob *pkgs,
		     size_t num_pkgs, const struct spool_blob *last_resort, uint64_t now)
	HALQA_MUST_CHECK;

/*
 * spool_kp_claim hands out one KeyPackage of |dir_id|: the oldest one-time
 * package, deleted as it is handed out, or when none is left the
 * last-resort package, which is kept. *out_data (malloc'd, caller frees)
 * and *out_len receive it, *out_last_resort says which kind it was.
 * Returns HALQA_ERR_NOT_FOUND (no directory, or nothing to hand out),
 * HALQA_ERR_NOMEM, HALQA_ERR_IO. Claim rate limits are the daemon's.
 */
int spool_kp_claim(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN], uint8_t **out_data,
		   size_t *out_len, int *out_last_resort) HALQA_MUST_CHECK;

/*
 * spool_kp_count writes the number of one-time packages left in |dir_id|
 * to *out_count and whether a last-resort package is set to
 * *out_has_last_resort (may be NULL). Owner only. Returns
 * HALQA_ERR_NOT_FOUND, HALQA_ERR_DENIED, HALQA_ERR_IO.
 */
int spool_kp_count(struct spool *sp, const uint8_t dir_id[SPOOL_ID_LEN],
		   const uint8_t owner[SPOOL_KEY_LEN], uint32_t *out_count,
		   int *out_has_last_resort) HALQA_MUST_CHECK;

/* ------------------------------------------------------------------------ */
/* Figures for `halqad status` */

struct spool_stats {
	uint64_t devices;          /* registered, not banned */
	uint64_t banned;
	uint64_t invites;
	uint64_t circles;
	uint64_t messages;         /* stored circle messages */
	uint64_t message_bytes;    /* their payload bytes */
	uint64_t mailbox_items;
	uint64_t mailbox_bytes;
	uint64_t keypackages;      /* one-time packages held */
};

/*
 * spool_stats reads the store's totals (message figures are kept per circle
 * as counters, so this costs one pass over circles, not over messages).
 * Returns HALQA_ERR_IO.
 */
int spool_stats(struct spool *sp, struct spool_stats *out) HALQA_MUST_CHECK;

#endif
