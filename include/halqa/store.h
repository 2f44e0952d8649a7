/*
 * store.h: a profile's encrypted database (SQLCipher).
 *
 * One file per profile holds everything the client knows: settings, its
 * identity (the only place private keys are ever written), contacts,
 * circles with their opaque MLS group state, message history with a
 * full-text index, and the outbox. The file is keyed with a raw 256-bit key
 * (from storekey_derive), so nothing in it, not even the schema, is readable
 * without the passphrase.
 *
 * Opening refuses to run on anything but SQLCipher (PRAGMA cipher_version
 * must answer: a plain SQLite linked by mistake would write plaintext), says
 * HALQA_ERR_CRYPTO when the key does not open the file (a wrong passphrase,
 * or a damaged file: SQLCipher cannot tell them apart), and refuses a
 * schema newer than this build knows without writing to it.
 *
 * All functions return HALQA_OK or an error from err.h; HALQA_ERR_IO means
 * SQLite failed for another reason. Lengths of every text and blob are
 * bounded (below); text must be strict UTF-8. Circles are named by their
 * 16-byte circle id, messages by a 16-byte message id unique per circle.
 * Times are whatever the caller uses (the client uses Unix milliseconds).
 */
#ifndef HALQA_STORE_H
#define HALQA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halqa/card.h"
#include "halqa/err.h"
#include "halqa/storekey.h"
#include "halqa/utf8.h"

#define STORE_KEY_LEN STOREKEY_KEY_LEN
#define STORE_ID_LEN 16
#define STORE_PUB_LEN 32
#define STORE_MAX_NAME UTF8_MAX_NAME
#define STORE_MAX_SETTING_NAME 64
#define STORE_MAX_SETTING 4096
#define STORE_MAX_IDENTITY 4096
#define STORE_MAX_STATE (4u * 1024 * 1024)
#define STORE_MAX_BODY (64u * 1024)
#define STORE_MAX_QUERY 256
#define STORE_HASH_LEN 32
#define STORE_CAP_LEN 32 /* a relay capability (wire.h WIRE_CAP_LEN) */
#define STORE_MAX_REASON 200
#define STORE_MAX_PAYLOAD (64u * 1024)    /* an encoded envelope in the outbox */
#define STORE_MAX_WIRE (256u * 1024)      /* an MLS message or mailbox item (WIRE_MAX_PAYLOAD) */
#define STORE_MAX_KP (16u * 1024)         /* a KeyPackage or its privates */
/*
 * How long a write waits for another connection's write lock (another
 * halqa process on the same profile) before failing with HALQA_ERR_IO:
 * longer than a relay request's timeout, which bounds how long a sync
 * holds it.
 */
#define STORE_BUSY_TIMEOUT_MS 15000
/* The schema version this build writes and the newest it opens. */
#define STORE_SCHEMA_VERSION 9

struct store;

/* Flags for store_open. */
#define STORE_CREATE 0x1u /* create a new file; HALQA_ERR_EXISTS if it exists */

/*
 * store_library_init starts libcrypto for SQLCipher (without its
 * configuration file); store_open calls it. It goes through the dynamic
 * loader's lock (dlsym, and libcrypto pinning itself), so a caller about
 * to load a library on another thread (zmq_lib_preload) calls it first,
 * rather than have the store's opening wait for that load.
 */
void store_library_init(void);

/*
 * store_open opens (or with STORE_CREATE creates, mode 0600) the database at
 * |path| keyed with |key|, applies pending migrations and returns it in
 * |*out|. The key is not kept by the store; the caller wipes its copy.
 * Errors: HALQA_ERR_NOT_FOUND (no file, without STORE_CREATE),
 * HALQA_ERR_EXISTS (file exists, with STORE_CREATE), HALQA_ERR_CRYPTO (wrong
 * key or damaged file), HALQA_ERR_UNSUPPORTED (not SQLCipher, or a schema
 * newer than STORE_SCHEMA_VERSION: the file is left untouched),
 * HALQA_ERR_IO. |*out| is NULL on error.
 */
HALQA_MUST_CHECK int store_open(struct store **out, const char *path,
				const uint8_t key[STORE_KEY_LEN], unsigned flags);

/*
 * store_close closes |s|; NULL is a no-op. Closing checkpoints the WAL into
 * the database and deletes it, which also makes durable any commit made
 * after store_sync_relax.
 */
void store_close(struct store *s);

/*
 * How long a commit waits for the disk. By default (PRAGMA synchronous =
 * FULL) a commit returns once it is on disk, so a crash or power loss
 * cannot undo it. Relaxed (NORMAL) it returns once written, and becomes
 * durable with the next FULL commit or at store_close; a power loss before
 * then may undo it (never corrupt the file: the WAL is replayed up to its
 * last whole commit). Only for writes whose loss the next sync repairs,
 * such as removing an outbox entry the relay has acknowledged (sent again,
 * the same bytes are recognised by their client message id) or moving a
 * read marker.
 *
 * store_sync_relax makes the commits that follow on |s| relaxed, unless
 * they already are or less (a benchmark's setup may run at OFF), and
 * writes what store_sync_restore needs in |*out_saved|. On failure
 * (HALQA_ERR_IO) nothing changed, which is safe, and |*out_saved| says so
 * (restoring it is a no-op).
 *
 * store_sync_restore sets the level back as |saved| says. It cannot be allowed
 * to fail quietly, since the commits after it (a ratchet step stored
 * before its message leaves) rely on it: on failure it returns
 * HALQA_ERR_IO, logs an error, and from then on |s| refuses every write
 * and commit (HALQA_ERR_IO), through its own functions and through
 * store_db's handle alike, while reads go on; the relaxed commits made so
 * far become durable at store_close as usual. Only a new store_open
 * writes again. store_writes_refused says whether that happened (a
 * command that saw it must not report success).
 */
int store_sync_relax(struct store *s, int *out_saved);
HALQA_MUST_CHECK int store_sync_restore(struct store *s, int saved);
bool store_writes_refused(const struct store *s);

/*
 * store_db returns the store's SQLite handle for client modules that keep
 * tables of their own in the same encrypted file (sessions, KeyPackage
 * privates), so their rows commit in the same transactions as the
 * messages they relate to. Such a module creates its tables itself and
 * versions them with a setting of its own; it must not touch this file's
 * tables except through the functions here.
 */
struct sqlite3;
struct sqlite3 *store_db(struct store *s);

/* store_schema_version reads PRAGMA user_version into |*out|. */
HALQA_MUST_CHECK int store_schema_version(struct store *s, int *out);

/* Transactions: begin (IMMEDIATE), commit, rollback. They do not nest. */
HALQA_MUST_CHECK int store_begin(struct store *s);
HALQA_MUST_CHECK int store_commit(struct store *s);
int store_rollback(struct store *s);

/*
 * store_rekey re-encrypts the whole database under |key| (sqlite3_rekey).
 * Not inside a transaction. The caller wipes |key|.
 */
HALQA_MUST_CHECK int store_rekey(struct store *s, const uint8_t key[STORE_KEY_LEN]);

/*
 * store_setting_get copies setting |name| into |out| (|out_len| bytes,
 * NUL-terminated). HALQA_ERR_NOT_FOUND if unset, HALQA_ERR_TOO_LARGE if it
 * does not fit. store_setting_set sets or replaces it (UTF-8, at most
 * STORE_MAX_SETTING bytes); store_setting_delete removes it (no error if
 * absent).
 */
HALQA_MUST_CHECK int store_setting_get(struct store *s, const char *name, char *out,
				       size_t out_len);
HALQA_MUST_CHECK int store_setting_set(struct store *s, const char *name, const char *value);
HALQA_MUST_CHECK int store_setting_delete(struct store *s, const char *name);

/*
 * store_identity_put stores the profile's identity blob (secret: an encoded
 * identity from identity.h) and its name. HALQA_ERR_EXISTS if one is stored
 * already: an identity is never replaced.
 * store_identity_get returns a secmem_alloc'd copy in |*out| (free with
 * store_secret_free) and the name in |name|. HALQA_ERR_NOT_FOUND if none.
 */
HALQA_MUST_CHECK int store_identity_put(struct store *s, const char *name, const uint8_t *blob,
					size_t blob_len);
HALQA_MUST_CHECK int store_identity_get(struct store *s, char name[STORE_MAX_NAME + 1],
					uint8_t **out, size_t *out_len);

/* store_secret_free wipes and frees a secret returned by the store; NULL is a no-op. */
void store_secret_free(uint8_t *p, size_t len);

struct store_contact {
	char name[STORE_MAX_NAME + 1];
	uint8_t identity_pub[STORE_PUB_LEN];
	char card[CARD_MAX_TEXT];
	int verified;
	int64_t added_at;
};

/*
 * store_contact_add adds |c| (verified as given). HALQA_ERR_EXISTS if the
 * name or the identity key is taken; HALQA_ERR_INVALID for a bad name.
 */
HALQA_MUST_CHECK int store_contact_add(struct store *s, const struct store_contact *c);
/* store_contact_get_by_name / _by_key fill |*out|; HALQA_ERR_NOT_FOUND if absent. */
HALQA_MUST_CHECK int store_contact_get_by_name(struct store *s, const char *name,
					       struct store_contact *out);
HALQA_MUST_CHECK int store_contact_get_by_key(struct store *s, const uint8_t key[STORE_PUB_LEN],
					      struct store_contact *out);
/*
 * store_contact_list returns all contacts ordered by name in a malloc'd
 * array |*out| of |*num_out| entries (free with free(); NULL when empty).
 */
HALQA_MUST_CHECK int store_contact_list(struct store *s, struct store_contact **out,
					size_t *num_out);
/* store_contact_set_verified sets the verified flag; HALQA_ERR_NOT_FOUND if absent. */
HALQA_MUST_CHECK int store_contact_set_verified(struct store *s, const char *name, int verified);
/* store_contact_remove removes a contact; HALQA_ERR_NOT_FOUND if absent. */
HALQA_MUST_CHECK int store_contact_remove(struct store *s, const char *name);

struct store_circle {
	uint8_t circle_id[STORE_ID_LEN];
	char name[STORE_MAX_NAME + 1];
	uint64_t relay_seq;   /* the relay cursor: last sequence number processed */
	int64_t read_marker;  /* last message (store_message.seq) the user has read */
	int64_t created_at;
	/* Schema 2: the circle engine's bookkeeping. */
	uint8_t cursor_id[STORE_ID_LEN]; /* our relay cursor (ACK); set by store_circle_add */
	uint32_t flags;                  /* STORE_CIRCLE_* */
	char reason[STORE_MAX_REASON + 1]; /* why it is blocked/removed, for the user; "" if none */
	uint64_t send_counter;           /* our last envelope counter in this circle */
	uint64_t sends_since_update;     /* messages we sent since our last self-update */
	int64_t updated_at;              /* when we last self-updated (or joined/created) */
	uint64_t gaps;                   /* missing messages detected (sender counters jumped) */
	/* Schema 5: the relay cursor as we last acknowledged it (0, 0: never). */
	uint64_t acked_seq;
	int64_t acked_at;
};

/* Circle flags. */
#define STORE_CIRCLE_LEFT 0x1u    /* we asked to leave: closed locally */
#define STORE_CIRCLE_REMOVED 0x2u /* a commit removed us */
#define STORE_CIRCLE_BLOCKED 0x4u /* a refused commit: the group cannot go on */
#define STORE_CIRCLE_BAD_PROPOSAL 0x8u /* a proposal this epoch breaks the roster rules */

/*
 * store_circle_add adds a circle (name, id, created_at, cursor_id, flags and
 * updated_at from |c|; relay cursor and marker start at 0, no group state).
 * HALQA_ERR_EXISTS if the id or name is taken.
 */
HALQA_MUST_CHECK int store_circle_add(struct store *s, const struct store_circle *c);
HALQA_MUST_CHECK int store_circle_get_by_name(struct store *s, const char *name,
					      struct store_circle *out);
HALQA_MUST_CHECK int store_circle_get_by_id(struct store *s, const uint8_t id[STORE_ID_LEN],
					    struct store_circle *out);
/* store_circle_list: all circles by name (free with free()). */
HALQA_MUST_CHECK int store_circle_list(struct store *s, struct store_circle **out,
				       size_t *num_out);
/*
 * store_circle_unread counts the circle's messages after its read marker;
 * HALQA_ERR_NOT_FOUND for an unknown circle. Its cost grows with what
 * arrived (in any circle) since the circle was last read: ask it where
 * the count is shown, not on every circle read.
 */
HALQA_MUST_CHECK int store_circle_unread(struct store *s, const uint8_t id[STORE_ID_LEN],
					 uint64_t *out);
/* store_circle_set_cursor records the relay sequence processed up to. */
HALQA_MUST_CHECK int store_circle_set_cursor(struct store *s, const uint8_t id[STORE_ID_LEN],
					     uint64_t relay_seq);
/*
 * store_circle_set_acked records that the relay accepted our ACK of
 * |relay_seq| at time |at|. HALQA_ERR_NOT_FOUND for an unknown circle.
 */
HALQA_MUST_CHECK int store_circle_set_acked(struct store *s, const uint8_t id[STORE_ID_LEN],
					    uint64_t relay_seq, int64_t at);
/*
 * store_circle_state_put replaces the circle's group state (opaque bytes
 * from the group API, at most STORE_MAX_STATE). store_circle_state_get
 * returns a secmem_alloc'd copy (free with store_secret_free);
 * HALQA_ERR_NOT_FOUND if the circle has none.
 */
HALQA_MUST_CHECK int store_circle_state_put(struct store *s, const uint8_t id[STORE_ID_LEN],
					    const uint8_t *state, size_t state_len);
HALQA_MUST_CHECK int store_circle_state_get(struct store *s, const uint8_t id[STORE_ID_LEN],
					    uint8_t **out, size_t *out_len);
/* store_circle_remove removes a circle with its messages and outbox. */
HALQA_MUST_CHECK int store_circle_remove(struct store *s, const uint8_t id[STORE_ID_LEN]);

struct store_message {
	int64_t seq; /* local order: increases with every message stored */
	uint8_t circle_id[STORE_ID_LEN];
	uint8_t msg_id[STORE_ID_LEN];
	uint8_t sender[STORE_PUB_LEN];
	int64_t sent_at;
	int64_t received_at;
	uint32_t flags;
	char *body; /* NUL-terminated UTF-8; owned by the list it came in */
};

/*
 * store_message_add stores |m| (seq is ignored) in its circle; the new seq
 * goes to |*out_seq| if not NULL. HALQA_ERR_NOT_FOUND for an unknown
 * circle, HALQA_ERR_MALFORMED for a body that is not UTF-8,
 * HALQA_ERR_TOO_LARGE above STORE_MAX_BODY; nothing changes on an error.
 * It does not look for a duplicate message id: store_seen_add does, and
 * a caller storing a message from the network runs it first, in the same
 * transaction (since schema 7; a second unique index on random ids cost
 * a third of the insert).
 */
HALQA_MUST_CHECK int store_message_add(struct store *s, const struct store_message *m,
				       int64_t *out_seq);

struct store_message_list {
	struct store_message *items;
	size_t num;
};

/* store_message_list_free frees the list's bodies and array; safe on a zeroed list. */
void store_message_list_free(struct store_message_list *l);

/*
 * store_message_list_after returns up to |limit| messages of a circle with
 * seq > |after| in seq order. With |last| non-zero it returns the last
 * |limit| such messages instead (still in seq order).
 */
HALQA_MUST_CHECK int store_message_list_after(struct store *s, const uint8_t id[STORE_ID_LEN],
					      int64_t after, size_t limit, int last,
					      struct store_message_list *out);
/* store_message_mark_read moves a circle's read marker to |seq| (never backwards). */
HALQA_MUST_CHECK int store_message_mark_read(struct store *s, const uint8_t id[STORE_ID_LEN],
					     int64_t seq);
/*
 * store_message_search finds messages whose body contains every word of
 * |query| (FTS4; each word is quoted, so the query cannot use FTS syntax),
 * newest first by local order (seq, not the sender's sent_at), at most
 * |limit|, in circle |id| or all circles if |id| is NULL. HALQA_ERR_ARG for
 * a query with no word, HALQA_ERR_TOO_LARGE above STORE_MAX_QUERY bytes.
 */
HALQA_MUST_CHECK int store_message_search(struct store *s, const char *query,
					  const uint8_t *id, size_t limit,
					  struct store_message_list *out);
/*
 * store_message_delete_range deletes a circle's messages with from <=
 * sent_at < to, then optimizes the full-text index so its old segments do
 * not keep the text (secure_delete zeroes the freed pages). The count goes
 * to |*out_num| if not NULL.
 */
HALQA_MUST_CHECK int store_message_delete_range(struct store *s, const uint8_t id[STORE_ID_LEN],
						int64_t from, int64_t to, size_t *out_num);

struct store_outbox {
	uint8_t circle_id[STORE_ID_LEN];
	uint8_t client_msg_id[STORE_ID_LEN];
	int64_t created_at;
	uint32_t attempts;
	char *body;
	/* Schema 2 (malloc'd in lists; NULL, 0 when absent). */
	uint8_t *payload;    /* the encoded envelope to send */
	size_t payload_len;
	uint8_t *wire;       /* the MLS message last built from it */
	size_t wire_len;
	uint64_t wire_epoch; /* the epoch |wire| was built in */
};

/*
 * store_outbox_add queues |o| (attempts start at 0; body, and payload if
 * not NULL, at most STORE_MAX_PAYLOAD; wire is not written). HALQA_ERR_EXISTS
 * for a client message id already queued.
 */
HALQA_MUST_CHECK int store_outbox_add(struct store *s, const struct store_outbox *o);
/*
 * store_outbox_list returns queued entries, oldest first, of circle |id|
 * or of all circles if NULL, in |*out| (free with store_outbox_list_free).
 */
HALQA_MUST_CHECK int store_outbox_list(struct store *s, const uint8_t *id,
				       struct store_outbox **out, size_t *num_out);
void store_outbox_list_free(struct store_outbox *items, size_t num);
/* store_outbox_bump adds one to an entry's attempts; HALQA_ERR_NOT_FOUND if absent. */
HALQA_MUST_CHECK int store_outbox_bump(struct store *s, const uint8_t client_msg_id[STORE_ID_LEN]);
/* store_outbox_remove removes an entry; HALQA_ERR_NOT_FOUND if absent. */
HALQA_MUST_CHECK int store_outbox_remove(struct store *s,
					 const uint8_t client_msg_id[STORE_ID_LEN]);

/*
 * store_outbox_set_wire records the MLS message built for an outbox entry
 * and its epoch (NULL clears it). HALQA_ERR_NOT_FOUND if absent.
 */
HALQA_MUST_CHECK int store_outbox_set_wire(struct store *s,
					   const uint8_t client_msg_id[STORE_ID_LEN],
					   const uint8_t *wire, size_t wire_len, uint64_t epoch);

/*
 * store_circle_update writes the schema-2 bookkeeping of |c| (flags,
 * reason, send_counter, sends_since_update, updated_at, gaps) to the
 * circle |c->circle_id|. HALQA_ERR_NOT_FOUND if absent.
 */
HALQA_MUST_CHECK int store_circle_update(struct store *s, const struct store_circle *c);

/*
 * KeyPackage privates, until the package is used. |ref| is its
 * KeyPackageRef; |kp| the encoded KeyPackage; |priv| the secret halves
 * (encoded by the caller). store_kp_get returns |*kp| malloc'd and |*priv|
 * secmem_alloc'd (free with store_secret_free); HALQA_ERR_NOT_FOUND if
 * none. store_kp_count counts the one-time (|last_resort| 0) or
 * last-resort packages kept.
 */
HALQA_MUST_CHECK int store_kp_put(struct store *s, const uint8_t ref[STORE_HASH_LEN],
				  const uint8_t *kp, size_t kp_len, const uint8_t *priv,
				  size_t priv_len, int last_resort, int64_t created_at);
HALQA_MUST_CHECK int store_kp_get(struct store *s, const uint8_t ref[STORE_HASH_LEN],
				  uint8_t **kp, size_t *kp_len, uint8_t **priv,
				  size_t *priv_len, int *last_resort);
HALQA_MUST_CHECK int store_kp_delete(struct store *s, const uint8_t ref[STORE_HASH_LEN]);
HALQA_MUST_CHECK int store_kp_count(struct store *s, int last_resort, size_t *out);

/*
 * store_counter_get reads the last envelope counter seen from |sender| in
 * circle |id| (0 if none); store_counter_set records it.
 */
HALQA_MUST_CHECK int store_counter_get(struct store *s, const uint8_t id[STORE_ID_LEN],
				       const uint8_t sender[STORE_PUB_LEN], uint64_t *out);
HALQA_MUST_CHECK int store_counter_set(struct store *s, const uint8_t id[STORE_ID_LEN],
				       const uint8_t sender[STORE_PUB_LEN], uint64_t counter);

/*
 * store_seen_add records an envelope's message id in circle |id|:
 * HALQA_ERR_EXISTS if it was seen before (a duplicate), HALQA_ERR_NOT_FOUND
 * for an unknown circle.
 */
HALQA_MUST_CHECK int store_seen_add(struct store *s, const uint8_t id[STORE_ID_LEN],
				    const uint8_t msg_id[STORE_ID_LEN]);

/*
 * Hashes of MLS messages we sent to circle |id|, to recognise them when
 * the relay hands them back. store_sent_add records one (no error if
 * present, nor for an unknown circle); store_sent_take removes one: HALQA_OK if it was there,
 * HALQA_ERR_NOT_FOUND if not.
 */
HALQA_MUST_CHECK int store_sent_add(struct store *s, const uint8_t id[STORE_ID_LEN],
				    const uint8_t hash[STORE_HASH_LEN]);
HALQA_MUST_CHECK int store_sent_take(struct store *s, const uint8_t id[STORE_ID_LEN],
				     const uint8_t hash[STORE_HASH_LEN]);

/*
 * Welcomes waiting to be posted once their commit is accepted: add one
 * (for mailbox |mailbox_id|, of our commit made in epoch |commit_epoch|;
 * HALQA_ERR_NOT_FOUND for an unknown circle), list a circle's, oldest
 * first (free with store_welcome_out_free), delete one by its row.
 * store_welcome_out_discard deletes circle |id|'s Welcomes of the commit
 * made in |commit_epoch| (our pending commit, discarded: they can never
 * be valid), and those stored before schema 8, whose epoch is unknown;
 * the Welcomes of an earlier commit of ours, which the relay accepted,
 * stay. No error if there are none.
 */
struct store_welcome_out {
	int64_t row;
	uint8_t mailbox_id[STORE_ID_LEN];
	uint8_t *item;
	size_t item_len;
};
HALQA_MUST_CHECK int store_welcome_out_add(struct store *s, const uint8_t id[STORE_ID_LEN],
					   uint64_t commit_epoch,
					   const uint8_t mailbox_id[STORE_ID_LEN],
					   const uint8_t *item, size_t item_len);
HALQA_MUST_CHECK int store_welcome_out_list(struct store *s, const uint8_t id[STORE_ID_LEN],
					    struct store_welcome_out **out, size_t *num_out);
void store_welcome_out_free(struct store_welcome_out *items, size_t num);
HALQA_MUST_CHECK int store_welcome_out_delete(struct store *s, int64_t row);
HALQA_MUST_CHECK int store_welcome_out_discard(struct store *s, const uint8_t id[STORE_ID_LEN],
					       uint64_t commit_epoch);

/*
 * Relay cursors owed to the members a commit of ours added (schema 6): the
 * ACK of |cursor_id| at |seq| with capability |cap| (of the epoch that
 * commit opened), still to be made at the relay. store_newcomer_ack_add
 * records one for circle |id| (HALQA_ERR_NOT_FOUND for an unknown circle,
 * HALQA_ERR_TOO_LARGE for a |seq| over INT64_MAX). store_newcomer_ack_list
 * gives a circle's in |*out|, lowest |seq| first (free with
 * store_newcomer_ack_free, which wipes the capabilities; NULL is a no-op).
 * store_newcomer_ack_delete removes one by its row (HALQA_ERR_NOT_FOUND if
 * absent); store_newcomer_ack_clear removes a circle's. Removing the circle
 * removes them too.
 */
struct store_newcomer_ack {
	int64_t row;
	uint8_t cursor_id[STORE_ID_LEN];
	uint64_t seq;
	uint8_t cap[STORE_CAP_LEN];
	int64_t created_at;
};
HALQA_MUST_CHECK int store_newcomer_ack_add(struct store *s, const uint8_t id[STORE_ID_LEN],
					    const uint8_t cursor_id[STORE_ID_LEN], uint64_t seq,
					    const uint8_t cap[STORE_CAP_LEN], int64_t created_at);
HALQA_MUST_CHECK int store_newcomer_ack_list(struct store *s, const uint8_t id[STORE_ID_LEN],
					     struct store_newcomer_ack **out, size_t *num_out);
void store_newcomer_ack_free(struct store_newcomer_ack *items, size_t num);
HALQA_MUST_CHECK int store_newcomer_ack_delete(struct store *s, int64_t row);
HALQA_MUST_CHECK int store_newcomer_ack_clear(struct store *s, const uint8_t id[STORE_ID_LEN]);

#endif
