/*
 * store.c: the profile database on SQLCipher 3.4.1 (SQLite 3.15.2).
 *
 * Opening is ordered so that nothing is written before we know the file is
 * ours and readable: the raw key goes in first (sqlite3_key with an x'..'
 * literal, so SQLCipher's PBKDF2 never runs), then the page size (it must
 * match for the life of the file), then a read of sqlite_master, which is
 * where a wrong key shows (SQLITE_NOTADB). PRAGMA cipher_version must answer,
 * or we are on plain SQLite and would write plaintext (PLATFORM.md). A schema
 * newer than ours is refused before WAL, pragmas or migrations touch it.
 *
 * Migrations are an ordered list of SQL scripts; user_version counts how
 * many ran, and each runs in one transaction with its version bump.
 *
 * Full-text search is FTS4 with external content over messages.body (FTS5
 * is not compiled in). store_message_add indexes a new row with a second
 * one-row statement rather than a trigger (a triggered INSERT costs a
 * statement journal, which SQLCipher encrypts page by page); deletes and
 * updates are kept in step by triggers. The index is stored newest first
 * (order=DESC), the order searches ask for. FTS4 finds the words to
 * unindex by reading the content row, so removal runs BEFORE the row goes
 * (the 'delete' command is FTS5's, and fails on FTS4 external content). User queries become a list
 * of double-quoted words, so FTS operators typed by a user (or pasted from a
 * hostile message) are searched for as words, never interpreted.
 *
 * Multi-statement operations use SAVEPOINTs, so they are atomic both alone
 * and inside a caller's store_begin/store_commit.
 *
 * SQLCipher's crypto is OpenSSL's libcrypto, which on its first use reads
 * the system configuration (openssl.cnf, or any file $OPENSSL_CONF names,
 * which may load provider modules into our process). SQLCipher needs
 * none of it: AES-256-CBC, HMAC and PBKDF2 come from the built-in default
 * provider. So before the first SQLCipher call store_open initialises
 * libcrypto without its configuration (crypto_init_once), through dlsym:
 * it is in the process already, as SQLCipher's dependency, and Halqa does
 * not build against OpenSSL. That saves the read and parse at every start
 * (~0.8 million instructions of ~39 million and 11 system calls in a
 * `halqa send`) and keeps the environment from choosing code for our
 * store. It also tells libcrypto not to free its global state at exit
 * (NO_ATEXIT; 1.2 million instructions): our secrets are not there
 * (SQLCipher wipes its keys at sqlite3_close), and what libcrypto holds,
 * its random generator's state, goes with the process's memory, which
 * no one can read after exit that could not read it before.
 *
 * Nor does it register every cipher and digest under its legacy names:
 * SQLCipher looks one cipher up by name (aes-256-cbc), and reaches SHA-1
 * and PBKDF2 through direct calls, which OpenSSL 3 fetches from the
 * provider on its own. The full tables (about 250 names) cost their
 * registration at start and, at the first fetch, a copy of every name into
 * OpenSSL 3's name map: 3.1 million instructions of the store's first
 * read, about 1.5 ms here. crypto_init_once registers the one cipher. A
 * libcrypto without these calls (1.x, or a future one) gets the full
 * tables, as before.
 *
 * Closing the last connection checkpoints the WAL into the database and
 * deletes it (two syncs). We keep that on purpose: the WAL holds older
 * images of pages, so a removed message's text would stay in it
 * (encrypted, but readable to anyone who later gets the key) until the
 * frames are reused, where secure_delete has already zeroed it in the
 * database. It also makes durable the commits made after store_sync_relax,
 * whose WAL frames it syncs before copying them.
 */
#include "halqa/store.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/log.h"
#include "halqa/secmem.h"

/*
 * Statements on the insert path, prepared once per connection and kept:
 * preparing costs as much as running them (bench/README.md, bench_store).
 * Reset and unbound after every use, so none holds a read transaction or
 * a pointer into the caller's memory between calls.
 */
enum cached_stmt {
	CACHED_MESSAGE_ADD,
	CACHED_FTS_ADD,
	CACHED_SEEN_ADD,
	CACHED_COUNTER_GET,
	CACHED_COUNTER_SET,
	CACHED_SENT_FIND,
	CACHED_SENT_DELETE,
	NUM_CACHED
};

static const char *const cached_sql[NUM_CACHED] = {
	/*
	 * One row, VALUES: SQLite needs no statement journal for it, which
	 * SQLCipher would encrypt page by page (INSERT ... SELECT did). An
	 * unknown circle makes the subquery NULL and fails NOT NULL before
	 * anything is written.
	 */
	[CACHED_MESSAGE_ADD] = "INSERT INTO messages(circle, msg_id, sender, sent_at, received_at,"
			       " body, flags) VALUES((SELECT id FROM circles WHERE circle_id = ?1),"
			       " ?2, ?3, ?4, ?5, ?6, ?7)",
	[CACHED_FTS_ADD] = "INSERT INTO messages_fts(docid, body) VALUES(?, ?)",
	/*
	 * The catch-up path runs these once per message received. The same
	 * rule: one-row VALUES with the circle as a subquery (NULL, so NOT
	 * NULL fails, for an unknown circle), not INSERT ... SELECT.
	 */
	[CACHED_SEEN_ADD] = "INSERT INTO seen_ids(circle, msg_id) VALUES((SELECT id FROM circles"
			    " WHERE circle_id = ?1), ?2)",
	[CACHED_COUNTER_GET] = "SELECT counter FROM peer_counters WHERE circle = (SELECT id FROM"
			       " circles WHERE circle_id = ?1) AND sender = ?2",
	/*
	 * REPLACE on a table with a foreign key is a multi-write statement
	 * (it may delete), so it still has a statement journal: the engine
	 * writes a sender's counter once per batch, not per message.
	 */
	[CACHED_COUNTER_SET] = "INSERT OR REPLACE INTO peer_counters(circle, sender, counter)"
			       " VALUES((SELECT id FROM circles WHERE circle_id = ?1), ?2, ?3)",
	/* Most messages are not ours: a read finds that without a write statement. */
	[CACHED_SENT_FIND] = "SELECT o.rowid FROM own_sent o JOIN circles c ON c.id = o.circle"
			     " WHERE c.circle_id = ?1 AND o.hash = ?2",
	[CACHED_SENT_DELETE] = "DELETE FROM own_sent WHERE rowid = ?1",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *cached[NUM_CACHED];
	bool writes_refused; /* store_sync_restore failed: see refuse_writes */
};

static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE identity(id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,"
	" blob BLOB NOT NULL);"
	"CREATE TABLE contacts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" identity_pub BLOB NOT NULL UNIQUE, card TEXT NOT NULL,"
	" verified INTEGER NOT NULL DEFAULT 0, added_at INTEGER NOT NULL);"
	"CREATE TABLE circles(id INTEGER PRIMARY KEY, circle_id BLOB NOT NULL UNIQUE,"
	" name TEXT NOT NULL UNIQUE, group_state BLOB, relay_seq INTEGER NOT NULL DEFAULT 0,"
	" read_marker INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
	"CREATE TABLE messages(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" msg_id BLOB NOT NULL, sender BLOB NOT NULL, sent_at INTEGER NOT NULL,"
	" received_at INTEGER NOT NULL, body TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(circle, msg_id));"
	"CREATE INDEX messages_by_time ON messages(circle, sent_at);"
	"CREATE VIRTUAL TABLE messages_fts USING fts4(content=\"messages\", body,"
	" tokenize=unicode61);"
	"CREATE TRIGGER messages_bd BEFORE DELETE ON messages BEGIN"
	" DELETE FROM messages_fts WHERE docid = old.seq; END;"
	"CREATE TRIGGER messages_bu BEFORE UPDATE ON messages BEGIN"
	" DELETE FROM messages_fts WHERE docid = old.seq; END;"
	"CREATE TRIGGER messages_au AFTER UPDATE ON messages BEGIN"
	" INSERT INTO messages_fts(docid, body) VALUES(new.seq, new.body); END;"
	"CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
	" INSERT INTO messages_fts(docid, body) VALUES(new.seq, new.body); END;"
	"CREATE TABLE outbox(id INTEGER PRIMARY KEY,"
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" client_msg_id BLOB NOT NULL UNIQUE, body TEXT NOT NULL, created_at INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0);",
	/*
	 * 2: the circle engine. Per circle: the relay cursor id, state flags
	 * and the reason shown for them, our own envelope counter, the
	 * self-update clock, gaps seen. The outbox keeps the encoded envelope
	 * and the ciphertext last built from it (resent byte for byte, so the
	 * relay's idempotent SEND recognises a retry). KeyPackage privates
	 * until used; each sender's last counter (gap detection); message ids
	 * seen (duplicates); hashes of what we sent (our echoes); Welcomes
	 * waiting for their commit to be accepted.
	 */
	"ALTER TABLE circles ADD COLUMN cursor_id BLOB;"
	"ALTER TABLE circles ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE circles ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE circles ADD COLUMN send_counter INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE circles ADD COLUMN sends_since_update INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE circles ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE circles ADD COLUMN gaps INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE outbox ADD COLUMN payload BLOB;"
	"ALTER TABLE outbox ADD COLUMN wire BLOB;"
	"ALTER TABLE outbox ADD COLUMN wire_epoch INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE kp_privates(ref BLOB PRIMARY KEY, kp BLOB NOT NULL, priv BLOB NOT NULL,"
	" last_resort INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE peer_counters("
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" sender BLOB NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY(circle, sender));"
	"CREATE TABLE seen_ids(circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" msg_id BLOB NOT NULL, PRIMARY KEY(circle, msg_id));"
	"CREATE TABLE own_sent(circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" hash BLOB NOT NULL, PRIMARY KEY(circle, hash));"
	"CREATE TABLE welcome_out(id INTEGER PRIMARY KEY,"
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" mailbox_id BLOB NOT NULL, item BLOB NOT NULL);",
	/*
	 * 3: store_message_add indexes the body itself with a one-row
	 * INSERT. The trigger made every insert a triggered statement, which
	 * SQLite gives a statement journal and SQLCipher then encrypted page
	 * by page: seven page encryptions per message (bench/README.md).
	 * The delete and update triggers stay; they are off the hot path.
	 */
	"DROP TRIGGER messages_ai;",
	/*
	 * 4: the full-text index kept newest first (FTS4 order=DESC).
	 * Searches want the newest matches (ORDER BY docid DESC), and FTS4
	 * reads a doclist a piece at a time only in the order it is stored:
	 * in ascending order a word found in most messages meant decoding its
	 * whole doclist (65,000 entries at 100,000 messages) to return 50
	 * rows. Rebuilt from the messages table; the triggers name the table
	 * and go on working.
	 */
	"DROP TABLE messages_fts;"
	"CREATE VIRTUAL TABLE messages_fts USING fts4(content=\"messages\", body,"
	" tokenize=unicode61, order=desc);"
	"INSERT INTO messages_fts(messages_fts) VALUES('rebuild');",
	/*
	 * 5: the relay cursor as last acknowledged, and when. A sync whose
	 * cursor did not move since needs no ACK (a round trip and a
	 * durable write on the relay) until the acknowledgement is due again
	 * to keep the cursor live. 0, 0 means never: the next sync ACKs.
	 */
	"ALTER TABLE circles ADD COLUMN acked_seq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE circles ADD COLUMN acked_at INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 6: the relay cursors a confirmed commit of ours owes the members
	 * it added, written in the transaction that confirms it and removed
	 * once the relay has each one (engine.c, newcomer_acks). The
	 * capability is kept because the group forgets its epoch once it
	 * moves on.
	 */
	"CREATE TABLE newcomer_acks(id INTEGER PRIMARY KEY,"
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" cursor_id BLOB NOT NULL, seq INTEGER NOT NULL, cap BLOB NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX newcomer_acks_by_circle ON newcomer_acks(circle, seq);",
	/*
	 * 7: messages without UNIQUE(circle, msg_id). seen_ids, which every
	 * caller fills first in the same transaction, already refuses a
	 * duplicate id; the second index on the same random ids cost about
	 * a third of each insert at 100,000 messages, because a batch of
	 * random keys dirties most of its pages and every dirty page is
	 * written and encrypted again at commit (bench/README.md,
	 * bench_store).
	 * SQLite cannot drop a constraint, so the table is rebuilt: the same
	 * rows under the same seq (the full-text docids, which stay valid),
	 * the AUTOINCREMENT counter carried over so that no seq is ever
	 * given twice (read markers compare seqs), and the index and
	 * triggers that went with the old table made again.
	 */
	"CREATE TABLE messages_v7(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" circle INTEGER NOT NULL REFERENCES circles(id) ON DELETE CASCADE,"
	" msg_id BLOB NOT NULL, sender BLOB NOT NULL, sent_at INTEGER NOT NULL,"
	" received_at INTEGER NOT NULL, body TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO messages_v7(seq, circle, msg_id, sender, sent_at, received_at, body, flags)"
	" SELECT seq, circle, msg_id, sender, sent_at, received_at, body, flags FROM messages"
	" ORDER BY seq;"
	"DELETE FROM sqlite_sequence WHERE name = 'messages_v7';"
	"INSERT INTO sqlite_sequence(name, seq) SELECT 'messages_v7', seq FROM sqlite_sequence"
	" WHERE name = 'messages';"
	"DROP TABLE messages;"
	"ALTER TABLE messages_v7 RENAME TO messages;"
	"CREATE INDEX messages_by_time ON messages(circle, sent_at);"
	"CREATE TRIGGER messages_bd BEFORE DELETE ON messages BEGIN"
	" DELETE FROM messages_fts WHERE docid = old.seq; END;"
	"CREATE TRIGGER messages_bu BEFORE UPDATE ON messages BEGIN"
	" DELETE FROM messages_fts WHERE docid = old.seq; END;"
	"CREATE TRIGGER messages_au AFTER UPDATE ON messages BEGIN"
	" INSERT INTO messages_fts(docid, body) VALUES(new.seq, new.body); END;",
	/*
	 * 8: each waiting Welcome knows the epoch its commit was made in.
	 * Discarding our pending commit (stale-epoch, or another member's
	 * commit first) drops that commit's Welcomes alone: those of an
	 * earlier commit the relay accepted, still waiting to be posted, are
	 * valid and stay. Rows from before have none (NULL) and go with any
	 * discard in their circle, as they did.
	 */
	"ALTER TABLE welcome_out ADD COLUMN commit_epoch INTEGER;",
	/*
	 * 9: the full-text index without its %_docsize table
	 * (matchinfo=fts3). FTS4 writes a row there per message, the
	 * message's length in tokens, which only matchinfo's 'l' and 'n'
	 * read, and the store never calls matchinfo: about 6,000 of some
	 * 113,000 SQLite instructions per message inserted (bench/README.md,
	 * bench_store). Rebuilt from the messages table, as schema 4 did;
	 * the triggers name the table and go on working.
	 */
	"DROP TABLE messages_fts;"
	"CREATE VIRTUAL TABLE messages_fts USING fts4(content=\"messages\", body,"
	" tokenize=unicode61, order=desc, matchinfo=fts3);"
	"INSERT INTO messages_fts(messages_fts) VALUES('rebuild');",
};

#define NUM_MIGRATIONS (sizeof migrations / sizeof migrations[0])

_Static_assert(NUM_MIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return HALQA_OK;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return HALQA_ERR_CRYPTO;
	case SQLITE_NOMEM:
		return HALQA_ERR_NOMEM;
	case SQLITE_TOOBIG:
		return HALQA_ERR_TOO_LARGE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		halqa_log(HALQA_LOG_ERROR, "store",
			  "the profile is in use by another halqa process; try again when it is done");
		return HALQA_ERR_IO;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
			return HALQA_ERR_NOT_FOUND;
		}
		return HALQA_ERR_EXISTS;
	default:
		return HALQA_ERR_IO;
	}
}

static int exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		halqa_log(HALQA_LOG_DEBUG, "store", "statement failed: %s",
			  sqlite3_errstr(sqlite3_extended_errcode(s->db)));
	}
	return map_rc(rc == SQLITE_OK ? rc : sqlite3_extended_errcode(s->db));
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **out)
{
	*out = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK) {
		halqa_log(HALQA_LOG_DEBUG, "store", "prepare failed: %s", sqlite3_errmsg(s->db));
		return map_rc(sqlite3_extended_errcode(s->db));
	}
	return HALQA_OK;
}

/* cached_get returns statement |which|, preparing it on first use. */
static int cached_get(struct store *s, enum cached_stmt which, sqlite3_stmt **out)
{
	int r;

	if (s->cached[which] == NULL &&
	    (r = prepare(s, cached_sql[which], &s->cached[which])) != HALQA_OK) {
		*out = NULL;
		return r;
	}
	*out = s->cached[which];
	return HALQA_OK;
}

/* cached_put readies a kept statement for its next use; NULL is a no-op. */
static void cached_put(sqlite3_stmt *st)
{
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* step runs |st| once; HALQA_OK for a row or done (|*row| says which). */
static int step(struct store *s, sqlite3_stmt *st, int *row)
{
	int rc = sqlite3_step(st);

	if (row != NULL) {
		*row = rc == SQLITE_ROW;
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		return HALQA_OK;
	}
	halqa_log(HALQA_LOG_DEBUG, "store", "step failed: %s", sqlite3_errmsg(s->db));
	return map_rc(sqlite3_extended_errcode(s->db));
}

/* step_done runs a statement that returns no row. */
static int step_done(struct store *s, sqlite3_stmt *st)
{
	int row = 0;
	int r = step(s, st, &row);

	if (r == HALQA_OK && row) {
		r = HALQA_ERR_INTERNAL;
	}
	return r;
}

static int text_check(const char *t, size_t max)
{
	size_t len;

	if (t == NULL) {
		return HALQA_ERR_ARG;
	}
	len = strnlen(t, max + 1);
	if (len > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (!utf8_valid((const uint8_t *)t, len)) {
		return HALQA_ERR_MALFORMED;
	}
	return HALQA_OK;
}

/* copy_text copies column |col| into |out| (|out_len| with the NUL), bounded. */
static int copy_text(sqlite3_stmt *st, int col, char *out, size_t out_len)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (t == NULL || n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(out, t, (size_t)n);
	out[n] = '\0';
	return HALQA_OK;
}

/* copy_fixed copies a blob column that must be exactly |len| bytes. */
static int copy_fixed(sqlite3_stmt *st, int col, uint8_t *out, size_t len)
{
	const void *b = sqlite3_column_blob(st, col);

	if (b == NULL || sqlite3_column_bytes(st, col) != (int)len) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(out, b, len);
	return HALQA_OK;
}

/* copy_blob copies a nullable blob column (NULL and empty give NULL, 0) into malloc'd memory. */
static int copy_blob(sqlite3_stmt *st, int col, size_t max, uint8_t **out, size_t *out_len)
{
	const void *b = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);

	*out = NULL;
	*out_len = 0;
	if (b == NULL || n <= 0) {
		return HALQA_OK;
	}
	if ((size_t)n > max) {
		return HALQA_ERR_MALFORMED;
	}
	if ((*out = malloc((size_t)n)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memcpy(*out, b, (size_t)n);
	*out_len = (size_t)n;
	return HALQA_OK;
}

static int apply_key(sqlite3 *db, const uint8_t key[STORE_KEY_LEN], int rekey)
{
	/* x' + 64 hex digits + ' + NUL */
	char spec[2 + 2 * STORE_KEY_LEN + 2];
	int rc;

	spec[0] = 'x';
	spec[1] = '\'';
	sodium_bin2hex(spec + 2, 2 * STORE_KEY_LEN + 1, key, STORE_KEY_LEN);
	spec[2 + 2 * STORE_KEY_LEN] = '\'';
	spec[3 + 2 * STORE_KEY_LEN] = '\0';
	rc = rekey ? sqlite3_rekey(db, spec, (int)(sizeof spec - 1))
		   : sqlite3_key(db, spec, (int)(sizeof spec - 1));
	sodium_memzero(spec, sizeof spec);
	return rc == SQLITE_OK ? HALQA_OK : HALQA_ERR_IO;
}

static int pragma_int(struct store *s, const char *sql, int *out, int *has_row)
{
	sqlite3_stmt *st = NULL;
	int r, row = 0;

	if ((r = prepare(s, sql, &st)) != HALQA_OK || (r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	if (has_row != NULL) {
		*has_row = row;
	}
	if (out != NULL) {
		*out = row ? sqlite3_column_int(st, 0) : 0;
	}
out:
	sqlite3_finalize(st);
	return r;
}

/* OpenSSL's ABI (openssl/crypto.h, 1.1 and 3.x); Halqa has no OpenSSL headers to build with. */
#define OSSL_INIT_NO_ADD_ALL_CIPHERS 0x00000010UL
#define OSSL_INIT_NO_ADD_ALL_DIGESTS 0x00000020UL
#define OSSL_INIT_ADD_ALL_CIPHERS 0x00000004UL
#define OSSL_INIT_ADD_ALL_DIGESTS 0x00000008UL
#define OSSL_INIT_NO_LOAD_CONFIG 0x00000080UL
#define OSSL_INIT_NO_ATEXIT 0x00080000UL /* OpenSSL 3.0 and later */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

/*
 * crypto_init_once initialises libcrypto without its configuration file
 * (see the top of this file). It must run before SQLCipher's own first
 * call, which asks for the configuration; after ours, that request is a
 * no-op. SQLCipher built on another crypto library has no such symbol:
 * nothing to do.
 */
static void crypto_init_once(void)
{
	int (*init)(uint64_t opts, const void *settings);
	int (*add_cipher)(const void *cipher);
	const void *(*aes_256_cbc)(void);
	void *sym = dlsym(RTLD_DEFAULT, "OPENSSL_init_crypto");
	void *add_sym = dlsym(RTLD_DEFAULT, "EVP_add_cipher");
	void *aes_sym = dlsym(RTLD_DEFAULT, "EVP_aes_256_cbc");
	uint64_t tables = OSSL_INIT_ADD_ALL_CIPHERS | OSSL_INIT_ADD_ALL_DIGESTS;
	int ok;

	if (sym == NULL) {
		return;
	}
	memcpy(&init, &sym, sizeof sym);
	/* The one cipher SQLCipher asks for by name, or the full tables (see the top of the file). */
	if (add_sym != NULL && aes_sym != NULL) {
		tables = OSSL_INIT_NO_ADD_ALL_CIPHERS | OSSL_INIT_NO_ADD_ALL_DIGESTS;
	}
	ok = init(OSSL_INIT_NO_LOAD_CONFIG | OSSL_INIT_NO_ATEXIT | tables, NULL) == 1;
	if (ok && (tables & OSSL_INIT_NO_ADD_ALL_CIPHERS) != 0) {
		memcpy(&add_cipher, &add_sym, sizeof add_sym);
		memcpy(&aes_256_cbc, &aes_sym, sizeof aes_sym);
		ok = add_cipher(aes_256_cbc()) == 1;
	}
	if (!ok) {
		halqa_log(HALQA_LOG_WARN, "store", "OpenSSL initialisation failed; SQLCipher will retry");
	}
}

/*
 * library_init_once: SQLite's page cache first, then libcrypto. By
 * default each connection's cache starts with one block for 100 pages
 * (430 KiB at our page size) and writes a header into every slot at
 * once: 100 page faults, about 1 ms in this VM, where a command reads a
 * few dozen pages. Without that first block each page is allocated when
 * it is first needed. The call fails (SQLITE_MISUSE) and changes nothing
 * if SQLite was already started, as in a program that opened a database
 * before its first store.
 */
static void library_init_once(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	crypto_init_once();
}

void store_library_init(void)
{
	(void)pthread_once(&library_once, library_init_once);
}

static int migrate(struct store *s, int from)
{
	char bump[64];
	int r;

	for (size_t v = (size_t)from; v < NUM_MIGRATIONS; v++) {
		if ((r = exec(s, "BEGIN IMMEDIATE")) != HALQA_OK) {
			return r;
		}
		snprintf(bump, sizeof bump, "PRAGMA user_version = %zu", v + 1);
		if ((r = exec(s, migrations[v])) != HALQA_OK || (r = exec(s, bump)) != HALQA_OK ||
		    (r = exec(s, "COMMIT")) != HALQA_OK) {
			(void)exec(s, "ROLLBACK");
			return r;
		}
	}
	return HALQA_OK;
}

int store_open(struct store **out, const char *path, const uint8_t key[STORE_KEY_LEN],
	       unsigned flags)
{
	struct store *s = NULL;
	struct stat sb;
	int r, fd, version = 0, has_row = 0, count;
	int create = (flags & STORE_CREATE) != 0;

	*out = NULL;
	if (path == NULL || key == NULL) {
		return HALQA_ERR_ARG;
	}
	if (create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			return errno == EEXIST ? HALQA_ERR_EXISTS : HALQA_ERR_IO;
		}
		close(fd);
	} else {
		if (stat(path, &sb) != 0) {
			return errno == ENOENT ? HALQA_ERR_NOT_FOUND : HALQA_ERR_IO;
		}
		/*
		 * A store we made is whole 4 KiB pages and never empty: an
		 * empty or cut file would otherwise open as a fresh database
		 * and be written over.
		 */
		if (!S_ISREG(sb.st_mode) || sb.st_size == 0 || sb.st_size % 4096 != 0) {
			return HALQA_ERR_MALFORMED;
		}
	}
	store_library_init();
	if ((s = calloc(1, sizeof *s)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		r = HALQA_ERR_IO;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/*
	 * Another halqa process on the same profile (a `halqa send` while
	 * `halqa chat` catches up) waits for the write lock instead of failing
	 * at once; a catch-up holds it at most one relay request long.
	 */
	(void)sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* Proof that the engine is SQLCipher, before a key or a write. */
	if ((r = pragma_int(s, "PRAGMA cipher_version", NULL, &has_row)) != HALQA_OK) {
		goto out;
	}
	if (!has_row) {
		halqa_log(HALQA_LOG_ERROR, "store", "SQLite is not SQLCipher; refusing to run");
		r = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = apply_key(s->db, key, 0)) != HALQA_OK ||
	    (r = exec(s, "PRAGMA cipher_page_size = 4096")) != HALQA_OK) {
		goto out;
	}
	if ((r = pragma_int(s, "SELECT count(*) FROM sqlite_master", &count, NULL)) != HALQA_OK ||
	    (r = pragma_int(s, "PRAGMA user_version", &version, NULL)) != HALQA_OK) {
		goto out;
	}
	if (version > STORE_SCHEMA_VERSION) {
		r = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if (!create && (version == 0 || count == 0)) {
		/* An existing profile's store always has a schema. */
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((r = exec(s, "PRAGMA journal_mode = WAL")) != HALQA_OK ||
	    (r = exec(s, "PRAGMA secure_delete = ON")) != HALQA_OK ||
	    (r = exec(s, "PRAGMA foreign_keys = ON")) != HALQA_OK ||
	    (r = migrate(s, version)) != HALQA_OK) {
		goto out;
	}
	*out = s;
	s = NULL;
	r = HALQA_OK;
out:
	if (s != NULL) {
		sqlite3_close_v2(s->db);
		free(s);
		if (create) {
			unlink(path);
		}
	}
	return r;
}

/* PRAGMA synchronous levels (SQLite): OFF 0, NORMAL 1, FULL 2, EXTRA 3. */
#define SYNC_NORMAL 1

int store_sync_relax(struct store *s, int *out_saved)
{
	int level = 0, r;

	*out_saved = -1; /* nothing to restore */
	if ((r = pragma_int(s, "PRAGMA synchronous", &level, NULL)) != HALQA_OK) {
		return r;
	}
	if (level <= SYNC_NORMAL) {
		return HALQA_OK;
	}
	if ((r = exec(s, "PRAGMA synchronous = NORMAL")) != HALQA_OK) {
		return r;
	}
	*out_saved = level;
	return HALQA_OK;
}

/*
 * deny_writes is the authorizer of a connection whose commits may no
 * longer be durable (refuse_writes): reading goes on, and so does taking
 * back a transaction or savepoint; everything that would write or
 * commit, pragmas that set a value included, fails at prepare time with
 * SQLITE_AUTH.
 */
static int deny_writes(void *arg, int action, const char *a1, const char *a2, const char *a3,
		       const char *a4)
{
	(void)arg;
	(void)a3;
	(void)a4;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		return a2 == NULL ? SQLITE_OK : SQLITE_DENY;
	case SQLITE_TRANSACTION:
	case SQLITE_SAVEPOINT:
		return a1 != NULL && strcmp(a1, "ROLLBACK") == 0 ? SQLITE_OK : SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

/*
 * refuse_writes makes every later write and commit on |s| fail, through
 * the connection's authorizer, so the modules that hold the raw handle
 * (store_db) are covered too. Setting it expires the statements prepared
 * so far (the cached ones), so they are checked again before their next
 * step. It cannot fail: it allocates nothing.
 */
static void refuse_writes(struct store *s)
{
	s->writes_refused = true;
	(void)sqlite3_set_authorizer(s->db, deny_writes, NULL);
}

int store_sync_restore(struct store *s, int saved)
{
	char sql[40];
	int r;

	if (saved < 0) {
		return HALQA_OK;
	}
	snprintf(sql, sizeof sql, "PRAGMA synchronous = %d", saved);
	if ((r = exec(s, sql)) != HALQA_OK) {
		refuse_writes(s);
		halqa_log(HALQA_LOG_ERROR, "store",
			  "cannot make commits wait for the disk again: every further write "
			  "of this run is refused");
		return HALQA_ERR_IO;
	}
	return HALQA_OK;
}

bool store_writes_refused(const struct store *s)
{
	return s != NULL && s->writes_refused;
}

struct sqlite3 *store_db(struct store *s)
{
	return s->db;
}

void store_close(struct store *s)
{
	if (s == NULL) {
		return;
	}
	for (size_t i = 0; i < NUM_CACHED; i++) {
		sqlite3_finalize(s->cached[i]);
	}
	sqlite3_close_v2(s->db);
	free(s);
}

int store_schema_version(struct store *s, int *out)
{
	return pragma_int(s, "PRAGMA user_version", out, NULL);
}

int store_begin(struct store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int store_commit(struct store *s)
{
	return exec(s, "COMMIT");
}

int store_rollback(struct store *s)
{
	return exec(s, "ROLLBACK");
}

int store_rekey(struct store *s, const uint8_t key[STORE_KEY_LEN])
{
	if (!sqlite3_get_autocommit(s->db)) {
		return HALQA_ERR_ARG;
	}
	return apply_key(s->db, key, 1);
}

/* Savepoints: atomic steps that work alone and inside a caller's transaction. */
static int sp_begin(struct store *s)
{
	return exec(s, "SAVEPOINT halqa_op");
}

static int sp_end(struct store *s, int r)
{
	if (r == HALQA_OK) {
		r = exec(s, "RELEASE halqa_op");
		if (r == HALQA_OK) {
			return r;
		}
	}
	(void)exec(s, "ROLLBACK TO halqa_op");
	(void)exec(s, "RELEASE halqa_op");
	return r;
}

int store_setting_get(struct store *s, const char *name, char *out, size_t out_len)
{
	sqlite3_stmt *st = NULL;
	int r, row;

	if (out_len == 0) {
		return HALQA_ERR_ARG;
	}
	out[0] = '\0';
	if ((r = text_check(name, STORE_MAX_SETTING_NAME)) != HALQA_OK ||
	    (r = prepare(s, "SELECT value FROM settings WHERE name = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	if (!row) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if (sqlite3_column_bytes(st, 0) >= (int)out_len) {
		r = HALQA_ERR_TOO_LARGE;
		goto out;
	}
	r = copy_text(st, 0, out, out_len);
out:
	sqlite3_finalize(st);
	return r;
}

int store_setting_set(struct store *s, const char *name, const char *value)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = text_check(name, STORE_MAX_SETTING_NAME)) != HALQA_OK ||
	    (r = text_check(value, STORE_MAX_SETTING)) != HALQA_OK ||
	    (r = prepare(s, "INSERT OR REPLACE INTO settings(name, value) VALUES(?, ?)", &st)) !=
		    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_setting_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = text_check(name, STORE_MAX_SETTING_NAME)) != HALQA_OK ||
	    (r = prepare(s, "DELETE FROM settings WHERE name = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_identity_put(struct store *s, const char *name, const uint8_t *blob, size_t blob_len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (blob == NULL || blob_len == 0) {
		return HALQA_ERR_ARG;
	}
	if (blob_len > STORE_MAX_IDENTITY) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = utf8_name_check(name)) != HALQA_OK ||
	    (r = prepare(s, "INSERT INTO identity(id, name, blob) VALUES(1, ?, ?)", &st)) !=
		    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_STATIC);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_identity_get(struct store *s, char name[STORE_MAX_NAME + 1], uint8_t **out,
		       size_t *out_len)
{
	sqlite3_stmt *st = NULL;
	const void *b;
	uint8_t *copy = NULL;
	int r, row, n;

	*out = NULL;
	*out_len = 0;
	name[0] = '\0';
	if ((r = prepare(s, "SELECT name, blob FROM identity WHERE id = 1", &st)) != HALQA_OK ||
	    (r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	if (!row) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	b = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	if (b == NULL || n <= 0 || n > (int)STORE_MAX_IDENTITY) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((r = copy_text(st, 0, name, STORE_MAX_NAME + 1)) != HALQA_OK) {
		goto out;
	}
	if ((copy = secmem_alloc((size_t)n)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, b, (size_t)n);
	*out = copy;
	*out_len = (size_t)n;
	r = HALQA_OK;
out:
	sqlite3_finalize(st);
	return r;
}

void store_secret_free(uint8_t *p, size_t len)
{
	if (p != NULL) {
		sodium_memzero(p, len);
		secmem_free(p);
	}
}

/*
 * Row readers fill item |i| of a typed array |items| from a statement's
 * current row, one per kind of row, so that the two fetch loops below
 * serve every getter and list.
 */
typedef int (*row_reader)(sqlite3_stmt *st, void *items, size_t i);

/*
 * fetch_one runs |sql| with |name| (text) or else |key| (a |key_len|-byte
 * blob) as its one parameter and reads the row into |out|, an array of
 * one; HALQA_ERR_NOT_FOUND if there is none.
 */
static int fetch_one(struct store *s, const char *sql, const char *name, const uint8_t *key,
		     size_t key_len, row_reader read, void *out)
{
	sqlite3_stmt *st = NULL;
	int r, row;

	if ((r = prepare(s, sql, &st)) != HALQA_OK) {
		goto out;
	}
	if (name != NULL) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_blob(st, 1, key, (int)key_len, SQLITE_STATIC);
	}
	if ((r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	r = row ? read(st, out, 0) : HALQA_ERR_NOT_FOUND;
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * fetch_all reads every row of |sql| into a malloc'd array of
 * |item_size|-byte items in |*out| (NULL when there is none; the caller
 * frees it) and their number in |*num_out|.
 */
static int fetch_all(struct store *s, const char *sql, size_t item_size, row_reader read,
		     void **out, size_t *num_out)
{
	sqlite3_stmt *st = NULL;
	void *items = NULL, *grown;
	size_t num = 0, cap = 0;
	int r, row;

	*out = NULL;
	*num_out = 0;
	if ((r = prepare(s, sql, &st)) != HALQA_OK) {
		goto out;
	}
	for (;;) {
		if ((r = step(s, st, &row)) != HALQA_OK || !row) {
			break;
		}
		if (num == cap) {
			cap = cap ? cap * 2 : 8;
			if (cap > SIZE_MAX / item_size ||
			    (grown = realloc(items, cap * item_size)) == NULL) {
				r = HALQA_ERR_NOMEM;
				break;
			}
			items = grown;
		}
		if ((r = read(st, items, num)) != HALQA_OK) {
			break;
		}
		num++;
	}
	if (r != HALQA_OK) {
		goto out;
	}
	*out = items;
	*num_out = num;
	items = NULL;
out:
	free(items);
	sqlite3_finalize(st);
	return r;
}

static int contact_validate(const struct store_contact *c)
{
	int r;

	if ((r = utf8_name_check(c->name)) != HALQA_OK) {
		return r;
	}
	return text_check(c->card, CARD_MAX_TEXT - 1);
}

int store_contact_add(struct store *s, const struct store_contact *c)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = contact_validate(c)) != HALQA_OK ||
	    (r = prepare(s,
			 "INSERT INTO contacts(name, identity_pub, card, verified, added_at)"
			 " VALUES(?, ?, ?, ?, ?)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->identity_pub, STORE_PUB_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->card, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, c->verified != 0);
	sqlite3_bind_int64(st, 5, c->added_at);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

#define CONTACT_COLS "name, identity_pub, card, verified, added_at"

static int contact_row(sqlite3_stmt *st, void *items, size_t i)
{
	struct store_contact *out = (struct store_contact *)items + i;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = copy_text(st, 0, out->name, sizeof out->name)) != HALQA_OK ||
	    (r = copy_fixed(st, 1, out->identity_pub, STORE_PUB_LEN)) != HALQA_OK ||
	    (r = copy_text(st, 2, out->card, sizeof out->card)) != HALQA_OK) {
		return r;
	}
	out->verified = sqlite3_column_int(st, 3) != 0;
	out->added_at = sqlite3_column_int64(st, 4);
	return HALQA_OK;
}

int store_contact_get_by_name(struct store *s, const char *name, struct store_contact *out)
{
	int r = text_check(name, STORE_MAX_NAME);

	if (r != HALQA_OK) {
		return r == HALQA_ERR_TOO_LARGE ? HALQA_ERR_NOT_FOUND : r;
	}
	return fetch_one(s, "SELECT " CONTACT_COLS " FROM contacts WHERE name = ?", name, NULL, 0,
			 contact_row, out);
}

int store_contact_get_by_key(struct store *s, const uint8_t key[STORE_PUB_LEN],
			     struct store_contact *out)
{
	return fetch_one(s, "SELECT " CONTACT_COLS " FROM contacts WHERE identity_pub = ?", NULL,
			 key, STORE_PUB_LEN, contact_row, out);
}

int store_contact_list(struct store *s, struct store_contact **out, size_t *num_out)
{
	void *items = NULL;
	int r = fetch_all(s, "SELECT " CONTACT_COLS " FROM contacts ORDER BY name", sizeof **out,
			  contact_row, &items, num_out);

	*out = items;
	return r;
}

/* run_changed runs a one-text-parameter write; HALQA_ERR_NOT_FOUND if it changed nothing. */
static int run_changed(struct store *s, sqlite3_stmt *st)
{
	int r = step_done(s, st);

	if (r == HALQA_OK && sqlite3_changes(s->db) == 0) {
		r = HALQA_ERR_NOT_FOUND;
	}
	return r;
}

int store_contact_set_verified(struct store *s, const char *name, int verified)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = text_check(name, STORE_MAX_NAME)) != HALQA_OK ||
	    (r = prepare(s, "UPDATE contacts SET verified = ? WHERE name = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_int(st, 1, verified != 0);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_contact_remove(struct store *s, const char *name)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = text_check(name, STORE_MAX_NAME)) != HALQA_OK ||
	    (r = prepare(s, "DELETE FROM contacts WHERE name = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_circle_add(struct store *s, const struct store_circle *c)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = utf8_name_check(c->name)) != HALQA_OK ||
	    (r = prepare(s,
			 "INSERT INTO circles(circle_id, name, created_at, cursor_id, flags,"
			 " updated_at) VALUES(?, ?, ?, ?, ?, ?)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, c->circle_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->created_at);
	sqlite3_bind_blob(st, 4, c->cursor_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)c->flags);
	sqlite3_bind_int64(st, 6, c->updated_at);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * A circle's row. Its unread count is not among the columns: every
 * command reads circle rows several times, and counting walks messages
 * (store_circle_unread, asked only where the count is shown).
 */
#define CIRCLE_COLS                                                                            \
	"c.circle_id, c.name, c.relay_seq, c.read_marker, c.created_at,"                       \
	" c.cursor_id, c.flags, c.reason, c.send_counter, c.sends_since_update, c.updated_at,"  \
	" c.gaps, c.acked_seq, c.acked_at"

static int circle_row(sqlite3_stmt *st, void *items, size_t i)
{
	struct store_circle *out = (struct store_circle *)items + i;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = copy_fixed(st, 0, out->circle_id, STORE_ID_LEN)) != HALQA_OK ||
	    (r = copy_text(st, 1, out->name, sizeof out->name)) != HALQA_OK) {
		return r;
	}
	out->relay_seq = (uint64_t)sqlite3_column_int64(st, 2);
	out->read_marker = sqlite3_column_int64(st, 3);
	out->created_at = sqlite3_column_int64(st, 4);
	if (sqlite3_column_type(st, 5) != SQLITE_NULL &&
	    (r = copy_fixed(st, 5, out->cursor_id, STORE_ID_LEN)) != HALQA_OK) {
		return r;
	}
	out->flags = (uint32_t)sqlite3_column_int64(st, 6);
	if ((r = copy_text(st, 7, out->reason, sizeof out->reason)) != HALQA_OK) {
		return r;
	}
	out->send_counter = (uint64_t)sqlite3_column_int64(st, 8);
	out->sends_since_update = (uint64_t)sqlite3_column_int64(st, 9);
	out->updated_at = sqlite3_column_int64(st, 10);
	out->gaps = (uint64_t)sqlite3_column_int64(st, 11);
	out->acked_seq = (uint64_t)sqlite3_column_int64(st, 12);
	out->acked_at = sqlite3_column_int64(st, 13);
	return HALQA_OK;
}

int store_circle_get_by_name(struct store *s, const char *name, struct store_circle *out)
{
	int r = text_check(name, STORE_MAX_NAME);

	if (r != HALQA_OK) {
		return r == HALQA_ERR_TOO_LARGE ? HALQA_ERR_NOT_FOUND : r;
	}
	return fetch_one(s, "SELECT " CIRCLE_COLS " FROM circles c WHERE c.name = ?", name, NULL, 0,
			 circle_row, out);
}

int store_circle_get_by_id(struct store *s, const uint8_t id[STORE_ID_LEN],
			   struct store_circle *out)
{
	return fetch_one(s, "SELECT " CIRCLE_COLS " FROM circles c WHERE c.circle_id = ?", NULL, id,
			 STORE_ID_LEN, circle_row, out);
}

int store_circle_list(struct store *s, struct store_circle **out, size_t *num_out)
{
	void *items = NULL;
	int r = fetch_all(s, "SELECT " CIRCLE_COLS " FROM circles c ORDER BY c.name", sizeof **out,
			  circle_row, &items, num_out);

	*out = items;
	return r;
}

/*
 * circle_set runs |sql|, an UPDATE of one circle whose |num| integer
 * parameters come first and the circle id last; HALQA_ERR_NOT_FOUND for
 * an unknown circle.
 */
static int circle_set(struct store *s, const char *sql, const uint8_t id[STORE_ID_LEN],
		      const int64_t *vals, int num)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, sql, &st)) == HALQA_OK) {
		for (int i = 0; i < num; i++) {
			sqlite3_bind_int64(st, i + 1, vals[i]);
		}
		sqlite3_bind_blob(st, num + 1, id, STORE_ID_LEN, SQLITE_STATIC);
		r = run_changed(s, st);
	}
	sqlite3_finalize(st);
	return r;
}

int store_circle_set_cursor(struct store *s, const uint8_t id[STORE_ID_LEN], uint64_t relay_seq)
{
	int64_t v = (int64_t)relay_seq;

	if (relay_seq > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	return circle_set(s, "UPDATE circles SET relay_seq = ? WHERE circle_id = ?", id, &v, 1);
}

int store_circle_set_acked(struct store *s, const uint8_t id[STORE_ID_LEN], uint64_t relay_seq,
			   int64_t at)
{
	int64_t v[2] = {(int64_t)relay_seq, at};

	if (relay_seq > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	return circle_set(s, "UPDATE circles SET acked_seq = ?, acked_at = ? WHERE circle_id = ?", id,
			  v, 2);
}

int store_circle_state_put(struct store *s, const uint8_t id[STORE_ID_LEN], const uint8_t *state,
			   size_t state_len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (state == NULL || state_len == 0) {
		return HALQA_ERR_ARG;
	}
	if (state_len > STORE_MAX_STATE) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s, "UPDATE circles SET group_state = ? WHERE circle_id = ?", &st)) !=
	    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, state, (int)state_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_circle_state_get(struct store *s, const uint8_t id[STORE_ID_LEN], uint8_t **out,
			   size_t *out_len)
{
	sqlite3_stmt *st = NULL;
	const void *b;
	uint8_t *copy = NULL;
	int r, row, n;

	*out = NULL;
	*out_len = 0;
	if ((r = prepare(s, "SELECT group_state FROM circles WHERE circle_id = ?", &st)) !=
	    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	if ((r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	b = row ? sqlite3_column_blob(st, 0) : NULL;
	n = row ? sqlite3_column_bytes(st, 0) : 0;
	if (b == NULL || n <= 0) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if (n > (int)STORE_MAX_STATE) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((copy = secmem_alloc((size_t)n)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, b, (size_t)n);
	*out = copy;
	*out_len = (size_t)n;
out:
	sqlite3_finalize(st);
	return r;
}

/* by_circle runs |sql| whose only parameter is a circle id. */
static int by_circle(struct store *s, const char *sql, const uint8_t id[STORE_ID_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, sql, &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_circle_remove(struct store *s, const uint8_t id[STORE_ID_LEN])
{
	int r;

	if ((r = sp_begin(s)) != HALQA_OK) {
		return r;
	}
	/* Delete messages explicitly, so the FTS triggers surely run. */
	r = by_circle(s,
		      "DELETE FROM messages WHERE circle = (SELECT id FROM circles WHERE"
		      " circle_id = ?)",
		      id);
	if (r == HALQA_OK) {
		r = by_circle(s,
			      "DELETE FROM outbox WHERE circle = (SELECT id FROM circles WHERE"
			      " circle_id = ?)",
			      id);
	}
	if (r == HALQA_OK) {
		r = by_circle(s, "DELETE FROM circles WHERE circle_id = ?", id);
		if (r == HALQA_OK && sqlite3_changes(s->db) == 0) {
			r = HALQA_ERR_NOT_FOUND;
		}
	}
	if (r == HALQA_OK) {
		r = exec(s, "INSERT INTO messages_fts(messages_fts) VALUES('optimize')");
	}
	return sp_end(s, r);
}

int store_message_add(struct store *s, const struct store_message *m, int64_t *out_seq)
{
	sqlite3_stmt *row_st = NULL, *fts_st = NULL;
	int64_t seq = 0;
	int r, own_txn = 0, rc;

	if ((r = text_check(m->body, STORE_MAX_BODY)) != HALQA_OK ||
	    (r = cached_get(s, CACHED_MESSAGE_ADD, &row_st)) != HALQA_OK ||
	    (r = cached_get(s, CACHED_FTS_ADD, &fts_st)) != HALQA_OK) {
		return r;
	}
	/*
	 * Alone, the row and its index entry commit together. Inside the
	 * caller's transaction no SAVEPOINT: it would bring the statement
	 * journal back. An unknown circle fails in the first statement
	 * before anything changes; only an I/O or memory
	 * failure in the second could leave the row unindexed, and after
	 * those SQLite may have rolled the caller's transaction back
	 * anyway: the caller rolls back on any error.
	 */
	if (sqlite3_get_autocommit(s->db)) {
		if ((r = exec(s, "BEGIN IMMEDIATE")) != HALQA_OK) {
			return r;
		}
		own_txn = 1;
	}
	sqlite3_bind_blob(row_st, 1, m->circle_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(row_st, 2, m->msg_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(row_st, 3, m->sender, STORE_PUB_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(row_st, 4, m->sent_at);
	sqlite3_bind_int64(row_st, 5, m->received_at);
	sqlite3_bind_text(row_st, 6, m->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(row_st, 7, (int64_t)m->flags);
	rc = sqlite3_step(row_st);
	if (rc != SQLITE_DONE) {
		rc = sqlite3_extended_errcode(s->db);
		halqa_log(HALQA_LOG_DEBUG, "store", "message insert failed: %s",
			  sqlite3_errstr(rc));
		/* The circle subquery came back NULL: no such circle. */
		r = rc == SQLITE_CONSTRAINT_NOTNULL ? HALQA_ERR_NOT_FOUND
		    : rc == SQLITE_ROW		     ? HALQA_ERR_INTERNAL
						     : map_rc(rc);
		goto out;
	}
	seq = sqlite3_last_insert_rowid(s->db);
	sqlite3_bind_int64(fts_st, 1, seq);
	sqlite3_bind_text(fts_st, 2, m->body, -1, SQLITE_STATIC);
	if ((r = step_done(s, fts_st)) != HALQA_OK) {
		goto out;
	}
	if (own_txn) {
		r = exec(s, "COMMIT");
		own_txn = r != HALQA_OK;
	}
out:
	cached_put(row_st);
	cached_put(fts_st);
	if (own_txn) {
		(void)exec(s, "ROLLBACK");
	}
	if (r == HALQA_OK && out_seq != NULL) {
		*out_seq = seq;
	}
	return r;
}

void store_message_list_free(struct store_message_list *l)
{
	for (size_t i = 0; i < l->num; i++) {
		free(l->items[i].body);
	}
	free(l->items);
	l->items = NULL;
	l->num = 0;
}

#define MESSAGE_COLS "m.seq, c.circle_id, m.msg_id, m.sender, m.sent_at, m.received_at, m.flags, m.body"

/* message_rows collects every row of |st| (columns MESSAGE_COLS) into |out|. */
static int message_rows(struct store *s, sqlite3_stmt *st, struct store_message_list *out)
{
	struct store_message_list l = {0};
	struct store_message *grown, *m;
	size_t cap = 0;
	const unsigned char *body;
	int r, row, n;

	for (;;) {
		if ((r = step(s, st, &row)) != HALQA_OK || !row) {
			break;
		}
		if (l.num == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(l.items, cap * sizeof *grown)) == NULL) {
				r = HALQA_ERR_NOMEM;
				break;
			}
			l.items = grown;
		}
		m = &l.items[l.num];
		memset(m, 0, sizeof *m);
		m->seq = sqlite3_column_int64(st, 0);
		if ((r = copy_fixed(st, 1, m->circle_id, STORE_ID_LEN)) != HALQA_OK ||
		    (r = copy_fixed(st, 2, m->msg_id, STORE_ID_LEN)) != HALQA_OK ||
		    (r = copy_fixed(st, 3, m->sender, STORE_PUB_LEN)) != HALQA_OK) {
			break;
		}
		m->sent_at = sqlite3_column_int64(st, 4);
		m->received_at = sqlite3_column_int64(st, 5);
		m->flags = (uint32_t)sqlite3_column_int64(st, 6);
		body = sqlite3_column_text(st, 7);
		n = sqlite3_column_bytes(st, 7);
		if (body == NULL || n < 0 || (size_t)n > STORE_MAX_BODY) {
			r = HALQA_ERR_MALFORMED;
			break;
		}
		if ((m->body = malloc((size_t)n + 1)) == NULL) {
			r = HALQA_ERR_NOMEM;
			break;
		}
		memcpy(m->body, body, (size_t)n);
		m->body[n] = '\0';
		l.num++;
	}
	if (r != HALQA_OK) {
		store_message_list_free(&l);
		return r;
	}
	*out = l;
	return HALQA_OK;
}

int store_message_list_after(struct store *s, const uint8_t id[STORE_ID_LEN], int64_t after,
			     size_t limit, int last, struct store_message_list *out)
{
	sqlite3_stmt *st = NULL;
	int r;

	out->items = NULL;
	out->num = 0;
	if (limit > INT32_MAX) {
		limit = INT32_MAX;
	}
	/*
	 * With a lower bound, the walk goes by seq from it ("+m.circle" keeps
	 * SQLite off the (circle, sent_at) index, which would read the
	 * circle's whole history and sort it): what a read, a send's read
	 * marker and chat's live messages ask for lies just after their
	 * marker. Without one (a backlog), the circle's index is the short way.
	 */
#define LIST_AFTER_SQL(circle, order)                                                              \
	"SELECT " MESSAGE_COLS " FROM messages m JOIN circles c ON c.id = " circle                 \
	" WHERE c.circle_id = ? AND m.seq > ? ORDER BY m.seq " order " LIMIT ?"
#define LIST_LAST_SQL(circle) "SELECT * FROM (" LIST_AFTER_SQL(circle, "DESC") ") ORDER BY seq"
	static const char *const sql[2][2] = {
		{ LIST_AFTER_SQL("m.circle", "ASC"), LIST_LAST_SQL("m.circle") },
		{ LIST_AFTER_SQL("+m.circle", "ASC"), LIST_LAST_SQL("+m.circle") },
	};
#undef LIST_LAST_SQL
#undef LIST_AFTER_SQL

	r = prepare(s, sql[after > 0][last != 0], &st);
	if (r != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, (int64_t)limit);
	r = message_rows(s, st, out);
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * The unread count walks the messages table by seq (its rowid) from the
 * circle's read marker on, the circle's own and the others' alike ("+"
 * keeps SQLite from reading the circle's whole history through
 * messages_by_time instead). So it costs what arrived since the circle
 * was last read, not the history.
 */
int store_circle_unread(struct store *s, const uint8_t id[STORE_ID_LEN], uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r, row = 0;

	*out = 0;
	if ((r = prepare(s,
			 "SELECT (SELECT count(*) FROM messages m WHERE m.seq > c.read_marker"
			 " AND +m.circle = c.id) FROM circles c WHERE c.circle_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	if ((r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	if (!row) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	*out = (uint64_t)sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return r;
}

int store_message_mark_read(struct store *s, const uint8_t id[STORE_ID_LEN], int64_t seq)
{
	return circle_set(s,
			  "UPDATE circles SET read_marker = max(read_marker, ?) WHERE circle_id = ?",
			  id, &seq, 1);
}

/*
 * fts_query turns free text into "w1" "w2" ...: every run of characters
 * other than space and '"' becomes one quoted phrase, so no FTS operator
 * (OR, NOT, NEAR, *, ^, column:) survives as syntax. Returns HALQA_ERR_ARG
 * if there is no word.
 */
static int fts_query(char *out, size_t out_len, const char *q)
{
	size_t o = 0, words = 0;
	int in_word = 0;

	for (const char *p = q;; p++) {
		/* '*' and '^' would make a prefix or anchor even inside quotes. */
		int sep = *p == '\0' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
			  *p == '"' || *p == '*' || *p == '^';
		if (!sep && !in_word) {
			if (o + 3 > out_len) {
				return HALQA_ERR_TOO_LARGE;
			}
			if (words > 0) {
				out[o++] = ' ';
			}
			out[o++] = '"';
			in_word = 1;
			words++;
		}
		if (sep && in_word) {
			if (o + 2 > out_len) {
				return HALQA_ERR_TOO_LARGE;
			}
			out[o++] = '"';
			in_word = 0;
		}
		if (*p == '\0') {
			break;
		}
		if (!sep) {
			if (o + 2 > out_len) {
				return HALQA_ERR_TOO_LARGE;
			}
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return words > 0 ? HALQA_OK : HALQA_ERR_ARG;
}

int store_message_search(struct store *s, const char *query, const uint8_t *id, size_t limit,
			 struct store_message_list *out)
{
	/* Each byte of the query at most once, plus 3 bytes per word. */
	char match[4 * STORE_MAX_QUERY + 8];
	sqlite3_stmt *st = NULL;
	int r;

	out->items = NULL;
	out->num = 0;
	if (limit > INT32_MAX) {
		limit = INT32_MAX;
	}
	if ((r = text_check(query, STORE_MAX_QUERY)) != HALQA_OK ||
	    (r = fts_query(match, sizeof match, query)) != HALQA_OK) {
		goto out;
	}
	/*
	 * FTS drives: SQLite never reorders a CROSS JOIN, and FTS4 yields
	 * docids (= seq) in the ORDER BY's order, so LIMIT stops early; the
	 * index is stored in that order (schema 4), so FTS4 reads each word's
	 * doclist a piece at a time instead of decoding all of it first. Left
	 * to itself the planner walked a circle's messages and ran the MATCH
	 * once per message (seconds at 40,000 messages, bench/README.md).
	 * Newest means local order, as `read` shows it: sent_at is the
	 * sender's claim, and would let a member pin a message to the top.
	 */
	r = prepare(s,
		    id != NULL ? "SELECT " MESSAGE_COLS " FROM messages_fts f"
				 " CROSS JOIN messages m ON m.seq = f.docid"
				 " CROSS JOIN circles c ON c.id = m.circle"
				 " WHERE messages_fts MATCH ? AND c.circle_id = ?"
				 " ORDER BY f.docid DESC LIMIT ?"
			       : "SELECT " MESSAGE_COLS " FROM messages_fts f"
				 " CROSS JOIN messages m ON m.seq = f.docid"
				 " CROSS JOIN circles c ON c.id = m.circle"
				 " WHERE messages_fts MATCH ? AND ?2 IS NULL"
				 " ORDER BY f.docid DESC LIMIT ?",
		    &st);
	if (r != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	if (id != NULL) {
		sqlite3_bind_blob(st, 2, id, STORE_ID_LEN, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 3, (int64_t)limit);
	r = message_rows(s, st, out);
out:
	sqlite3_finalize(st);
	sodium_memzero(match, sizeof match);
	return r;
}

int store_message_delete_range(struct store *s, const uint8_t id[STORE_ID_LEN], int64_t from,
			       int64_t to, size_t *out_num)
{
	sqlite3_stmt *st = NULL;
	size_t num = 0;
	int r;

	if ((r = sp_begin(s)) != HALQA_OK) {
		return r;
	}
	if ((r = prepare(s,
			 "DELETE FROM messages WHERE circle = (SELECT id FROM circles WHERE"
			 " circle_id = ?) AND sent_at >= ? AND sent_at < ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, from);
	sqlite3_bind_int64(st, 3, to);
	if ((r = step_done(s, st)) != HALQA_OK) {
		goto out;
	}
	num = (size_t)sqlite3_changes(s->db);
	/* Merge the index segments so deleted text is not kept in old ones. */
	if (num > 0) {
		r = exec(s, "INSERT INTO messages_fts(messages_fts) VALUES('optimize')");
	}
out:
	sqlite3_finalize(st);
	r = sp_end(s, r);
	if (r == HALQA_OK && out_num != NULL) {
		*out_num = num;
	}
	return r;
}

int store_outbox_add(struct store *s, const struct store_outbox *o)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (o->payload_len > STORE_MAX_PAYLOAD) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = text_check(o->body, STORE_MAX_BODY)) != HALQA_OK ||
	    (r = prepare(s,
			 "INSERT INTO outbox(circle, client_msg_id, body, created_at, payload)"
			 " SELECT id, ?, ?, ?, ? FROM circles WHERE circle_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, o->client_msg_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, o->created_at);
	if (o->payload != NULL && o->payload_len > 0) {
		sqlite3_bind_blob(st, 4, o->payload, (int)o->payload_len, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 4);
	}
	sqlite3_bind_blob(st, 5, o->circle_id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

void store_outbox_list_free(struct store_outbox *items, size_t num)
{
	if (items == NULL) {
		return;
	}
	for (size_t i = 0; i < num; i++) {
		free(items[i].body);
		free(items[i].payload);
		free(items[i].wire);
	}
	free(items);
}

int store_outbox_list(struct store *s, const uint8_t *id, struct store_outbox **out,
		      size_t *num_out)
{
	sqlite3_stmt *st = NULL;
	struct store_outbox *items = NULL, *grown, *o;
	size_t num = 0, cap = 0;
	const unsigned char *body;
	int r, row, n;

	*out = NULL;
	*num_out = 0;
	if ((r = prepare(s,
			 "SELECT c.circle_id, o.client_msg_id, o.created_at, o.attempts, o.body,"
			 " o.payload, o.wire, o.wire_epoch FROM outbox o JOIN circles c ON c.id = o.circle"
			 " WHERE ?1 IS NULL OR c.circle_id = ?1 ORDER BY o.id",
			 &st)) != HALQA_OK) {
		goto out;
	}
	if (id != NULL) {
		sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	}
	for (;;) {
		if ((r = step(s, st, &row)) != HALQA_OK || !row) {
			break;
		}
		if (num == cap) {
			cap = cap ? cap * 2 : 8;
			if ((grown = realloc(items, cap * sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				break;
			}
			items = grown;
		}
		o = &items[num];
		memset(o, 0, sizeof *o);
		if ((r = copy_fixed(st, 0, o->circle_id, STORE_ID_LEN)) != HALQA_OK ||
		    (r = copy_fixed(st, 1, o->client_msg_id, STORE_ID_LEN)) != HALQA_OK) {
			break;
		}
		o->created_at = sqlite3_column_int64(st, 2);
		o->attempts = (uint32_t)sqlite3_column_int64(st, 3);
		body = sqlite3_column_text(st, 4);
		n = sqlite3_column_bytes(st, 4);
		if (body == NULL || n < 0 || (size_t)n > STORE_MAX_BODY) {
			r = HALQA_ERR_MALFORMED;
			break;
		}
		if ((o->body = malloc((size_t)n + 1)) == NULL) {
			r = HALQA_ERR_NOMEM;
			break;
		}
		memcpy(o->body, body, (size_t)n);
		o->body[n] = '\0';
		num++;
		if ((r = copy_blob(st, 5, STORE_MAX_PAYLOAD, &o->payload, &o->payload_len)) !=
			    HALQA_OK ||
		    (r = copy_blob(st, 6, STORE_MAX_WIRE, &o->wire, &o->wire_len)) != HALQA_OK) {
			break;
		}
		o->wire_epoch = (uint64_t)sqlite3_column_int64(st, 7);
	}
	if (r != HALQA_OK) {
		goto out;
	}
	*out = items;
	*num_out = num;
	items = NULL;
	num = 0;
out:
	store_outbox_list_free(items, num);
	sqlite3_finalize(st);
	return r;
}

static int outbox_by_id(struct store *s, const char *sql, const uint8_t id[STORE_ID_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, sql, &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_outbox_bump(struct store *s, const uint8_t client_msg_id[STORE_ID_LEN])
{
	return outbox_by_id(s, "UPDATE outbox SET attempts = attempts + 1 WHERE client_msg_id = ?",
			    client_msg_id);
}

int store_outbox_remove(struct store *s, const uint8_t client_msg_id[STORE_ID_LEN])
{
	return outbox_by_id(s, "DELETE FROM outbox WHERE client_msg_id = ?", client_msg_id);
}

/* ---- schema 2: the circle engine's state ---- */

int store_circle_update(struct store *s, const struct store_circle *c)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (memchr(c->reason, '\0', sizeof c->reason) == NULL ||
	    (r = text_check(c->reason, STORE_MAX_REASON)) != HALQA_OK) {
		return HALQA_ERR_ARG;
	}
	if (c->send_counter > INT64_MAX || c->sends_since_update > INT64_MAX ||
	    c->gaps > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s,
			 "UPDATE circles SET flags = ?, reason = ?, send_counter = ?,"
			 " sends_since_update = ?, updated_at = ?, gaps = ? WHERE circle_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)c->flags);
	sqlite3_bind_text(st, 2, c->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)c->send_counter);
	sqlite3_bind_int64(st, 4, (int64_t)c->sends_since_update);
	sqlite3_bind_int64(st, 5, c->updated_at);
	sqlite3_bind_int64(st, 6, (int64_t)c->gaps);
	sqlite3_bind_blob(st, 7, c->circle_id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_outbox_set_wire(struct store *s, const uint8_t client_msg_id[STORE_ID_LEN],
			  const uint8_t *wire, size_t wire_len, uint64_t epoch)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (wire_len > STORE_MAX_WIRE || epoch > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s, "UPDATE outbox SET wire = ?, wire_epoch = ? WHERE client_msg_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	if (wire != NULL && wire_len > 0) {
		sqlite3_bind_blob(st, 1, wire, (int)wire_len, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 1);
	}
	sqlite3_bind_int64(st, 2, (int64_t)epoch);
	sqlite3_bind_blob(st, 3, client_msg_id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_kp_put(struct store *s, const uint8_t ref[STORE_HASH_LEN], const uint8_t *kp,
		 size_t kp_len, const uint8_t *priv, size_t priv_len, int last_resort,
		 int64_t created_at)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (kp == NULL || kp_len == 0 || priv == NULL || priv_len == 0) {
		return HALQA_ERR_ARG;
	}
	if (kp_len > STORE_MAX_KP || priv_len > STORE_MAX_KP) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s,
			 "INSERT INTO kp_privates(ref, kp, priv, last_resort, created_at)"
			 " VALUES(?, ?, ?, ?, ?)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, ref, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, kp, (int)kp_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, priv, (int)priv_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, last_resort != 0);
	sqlite3_bind_int64(st, 5, created_at);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_kp_get(struct store *s, const uint8_t ref[STORE_HASH_LEN], uint8_t **kp,
		 size_t *kp_len, uint8_t **priv, size_t *priv_len, int *last_resort)
{
	sqlite3_stmt *st = NULL;
	const void *b;
	uint8_t *copy = NULL;
	int r, row, n;

	*kp = NULL;
	*kp_len = 0;
	*priv = NULL;
	*priv_len = 0;
	*last_resort = 0;
	if ((r = prepare(s, "SELECT kp, priv, last_resort FROM kp_privates WHERE ref = ?", &st)) !=
	    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, ref, STORE_HASH_LEN, SQLITE_STATIC);
	if ((r = step(s, st, &row)) != HALQA_OK) {
		goto out;
	}
	if (!row) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	b = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	if (b == NULL || n <= 0 || (size_t)n > STORE_MAX_KP) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((copy = secmem_alloc((size_t)n)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, b, (size_t)n);
	if ((r = copy_blob(st, 0, STORE_MAX_KP, kp, kp_len)) != HALQA_OK) {
		goto out;
	}
	if (*kp == NULL) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	*priv = copy;
	*priv_len = (size_t)n;
	copy = NULL;
	*last_resort = sqlite3_column_int(st, 2) != 0;
out:
	if (copy != NULL) {
		store_secret_free(copy, (size_t)n);
	}
	sqlite3_finalize(st);
	return r;
}

int store_kp_delete(struct store *s, const uint8_t ref[STORE_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, "DELETE FROM kp_privates WHERE ref = ?", &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, ref, STORE_HASH_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_kp_count(struct store *s, int last_resort, size_t *out)
{
	sqlite3_stmt *st = NULL;
	int r, row;

	*out = 0;
	if ((r = prepare(s, "SELECT count(*) FROM kp_privates WHERE last_resort = ?", &st)) !=
	    HALQA_OK) {
		goto out;
	}
	sqlite3_bind_int(st, 1, last_resort != 0);
	if ((r = step(s, st, &row)) == HALQA_OK && row) {
		*out = (size_t)sqlite3_column_int64(st, 0);
	}
out:
	sqlite3_finalize(st);
	return r;
}

int store_counter_get(struct store *s, const uint8_t id[STORE_ID_LEN],
		      const uint8_t sender[STORE_PUB_LEN], uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int r, row;

	*out = 0;
	if ((r = cached_get(s, CACHED_COUNTER_GET, &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, sender, STORE_PUB_LEN, SQLITE_STATIC);
	if ((r = step(s, st, &row)) == HALQA_OK && row) {
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	}
	cached_put(st);
	return r;
}

/*
 * cached_insert runs kept one-row INSERT |st| (bound by the caller) and
 * resets it: HALQA_ERR_NOT_FOUND when the circle subquery came back NULL
 * (no such circle), HALQA_ERR_EXISTS for a duplicate key.
 */
static int cached_insert(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st), r = HALQA_OK;

	if (rc != SQLITE_DONE) {
		rc = sqlite3_extended_errcode(s->db);
		halqa_log(HALQA_LOG_DEBUG, "store", "insert failed: %s", sqlite3_errstr(rc));
		r = rc == SQLITE_CONSTRAINT_NOTNULL ? HALQA_ERR_NOT_FOUND
		    : rc == SQLITE_ROW		     ? HALQA_ERR_INTERNAL
						     : map_rc(rc);
	}
	cached_put(st);
	return r;
}

int store_counter_set(struct store *s, const uint8_t id[STORE_ID_LEN],
		      const uint8_t sender[STORE_PUB_LEN], uint64_t counter)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (counter > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = cached_get(s, CACHED_COUNTER_SET, &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, sender, STORE_PUB_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)counter);
	return cached_insert(s, st);
}

int store_seen_add(struct store *s, const uint8_t id[STORE_ID_LEN],
		   const uint8_t msg_id[STORE_ID_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = cached_get(s, CACHED_SEEN_ADD, &st)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, msg_id, STORE_ID_LEN, SQLITE_STATIC);
	return cached_insert(s, st);
}

int store_sent_add(struct store *s, const uint8_t id[STORE_ID_LEN],
		   const uint8_t hash[STORE_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s,
			 "INSERT OR IGNORE INTO own_sent(circle, hash) SELECT id, ?1 FROM"
			 " circles WHERE circle_id = ?2",
			 &st)) == HALQA_OK) {
		sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, id, STORE_ID_LEN, SQLITE_STATIC);
		r = step_done(s, st);
	}
	sqlite3_finalize(st);
	return r;
}

int store_sent_take(struct store *s, const uint8_t id[STORE_ID_LEN],
		    const uint8_t hash[STORE_HASH_LEN])
{
	sqlite3_stmt *find = NULL, *del = NULL;
	int64_t rowid = 0;
	int r, row = 0;

	if ((r = cached_get(s, CACHED_SENT_FIND, &find)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_blob(find, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(find, 2, hash, STORE_HASH_LEN, SQLITE_STATIC);
	if ((r = step(s, find, &row)) == HALQA_OK && row) {
		rowid = sqlite3_column_int64(find, 0);
	}
	cached_put(find);
	if (r != HALQA_OK || !row) {
		return r != HALQA_OK ? r : HALQA_ERR_NOT_FOUND;
	}
	if ((r = cached_get(s, CACHED_SENT_DELETE, &del)) != HALQA_OK) {
		return r;
	}
	sqlite3_bind_int64(del, 1, rowid);
	r = run_changed(s, del);
	cached_put(del);
	return r;
}

int store_welcome_out_add(struct store *s, const uint8_t id[STORE_ID_LEN], uint64_t commit_epoch,
			  const uint8_t mailbox_id[STORE_ID_LEN], const uint8_t *item,
			  size_t item_len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (item == NULL || item_len == 0) {
		return HALQA_ERR_ARG;
	}
	if (item_len > STORE_MAX_WIRE || commit_epoch > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s,
			 "INSERT INTO welcome_out(circle, mailbox_id, item, commit_epoch)"
			 " SELECT id, ?, ?, ? FROM circles WHERE circle_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, mailbox_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, item, (int)item_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)commit_epoch);
	sqlite3_bind_blob(st, 4, id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

void store_welcome_out_free(struct store_welcome_out *items, size_t num)
{
	if (items == NULL) {
		return;
	}
	for (size_t i = 0; i < num; i++) {
		free(items[i].item);
	}
	free(items);
}

int store_welcome_out_list(struct store *s, const uint8_t id[STORE_ID_LEN],
			   struct store_welcome_out **out, size_t *num_out)
{
	sqlite3_stmt *st = NULL;
	struct store_welcome_out *items = NULL, *grown;
	size_t num = 0, cap = 0;
	int r, row;

	*out = NULL;
	*num_out = 0;
	if ((r = prepare(s,
			 "SELECT w.id, w.mailbox_id, w.item FROM welcome_out w JOIN circles c ON"
			 " c.id = w.circle WHERE c.circle_id = ? ORDER BY w.id",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	for (;;) {
		if ((r = step(s, st, &row)) != HALQA_OK || !row) {
			break;
		}
		if (num == cap) {
			cap = cap ? cap * 2 : 4;
			if ((grown = realloc(items, cap * sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				break;
			}
			items = grown;
		}
		memset(&items[num], 0, sizeof items[num]);
		items[num].row = sqlite3_column_int64(st, 0);
		num++;
		if ((r = copy_fixed(st, 1, items[num - 1].mailbox_id, STORE_ID_LEN)) != HALQA_OK ||
		    (r = copy_blob(st, 2, STORE_MAX_WIRE, &items[num - 1].item,
				   &items[num - 1].item_len)) != HALQA_OK) {
			break;
		}
		if (items[num - 1].item == NULL) {
			r = HALQA_ERR_MALFORMED;
			break;
		}
	}
	if (r != HALQA_OK) {
		goto out;
	}
	*out = items;
	*num_out = num;
	items = NULL;
	num = 0;
out:
	store_welcome_out_free(items, num);
	sqlite3_finalize(st);
	return r;
}

/* by_row runs |sql| whose only parameter is a row id; HALQA_ERR_NOT_FOUND if it changed nothing. */
static int by_row(struct store *s, const char *sql, int64_t row)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, sql, &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_int64(st, 1, row);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_welcome_out_delete(struct store *s, int64_t row)
{
	return by_row(s, "DELETE FROM welcome_out WHERE id = ?", row);
}

int store_welcome_out_discard(struct store *s, const uint8_t id[STORE_ID_LEN],
			      uint64_t commit_epoch)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (commit_epoch > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s,
			 "DELETE FROM welcome_out WHERE circle = (SELECT id FROM circles WHERE"
			 " circle_id = ?) AND (commit_epoch = ? OR commit_epoch IS NULL)",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)commit_epoch);
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int store_newcomer_ack_add(struct store *s, const uint8_t id[STORE_ID_LEN],
			   const uint8_t cursor_id[STORE_ID_LEN], uint64_t seq,
			   const uint8_t cap[STORE_CAP_LEN], int64_t created_at)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (seq > INT64_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = prepare(s,
			 "INSERT INTO newcomer_acks(circle, cursor_id, seq, cap, created_at)"
			 " SELECT id, ?, ?, ?, ? FROM circles WHERE circle_id = ?",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, cursor_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)seq);
	sqlite3_bind_blob(st, 3, cap, STORE_CAP_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, created_at);
	sqlite3_bind_blob(st, 5, id, STORE_ID_LEN, SQLITE_STATIC);
	r = run_changed(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

void store_newcomer_ack_free(struct store_newcomer_ack *items, size_t num)
{
	if (items == NULL) {
		return;
	}
	sodium_memzero(items, num * sizeof *items);
	free(items);
}

int store_newcomer_ack_list(struct store *s, const uint8_t id[STORE_ID_LEN],
			    struct store_newcomer_ack **out, size_t *num_out)
{
	sqlite3_stmt *st = NULL;
	struct store_newcomer_ack *items = NULL, *grown;
	size_t num = 0, cap = 0;
	int64_t seq;
	int r, row;

	*out = NULL;
	*num_out = 0;
	if ((r = prepare(s,
			 "SELECT n.id, n.cursor_id, n.seq, n.cap, n.created_at FROM newcomer_acks n"
			 " JOIN circles c ON c.id = n.circle WHERE c.circle_id = ?"
			 " ORDER BY n.seq, n.id",
			 &st)) != HALQA_OK) {
		goto out;
	}
	sqlite3_bind_blob(st, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	for (;;) {
		if ((r = step(s, st, &row)) != HALQA_OK || !row) {
			break;
		}
		if (num == cap) {
			cap = cap ? cap * 2 : 4;
			/* Not realloc: the old block holds capabilities, wiped before it goes. */
			if ((grown = calloc(cap, sizeof *items)) == NULL) {
				r = HALQA_ERR_NOMEM;
				break;
			}
			if (num > 0) {
				memcpy(grown, items, num * sizeof *items);
			}
			store_newcomer_ack_free(items, num);
			items = grown;
		}
		items[num].row = sqlite3_column_int64(st, 0);
		seq = sqlite3_column_int64(st, 2);
		items[num].created_at = sqlite3_column_int64(st, 4);
		num++;
		if ((r = copy_fixed(st, 1, items[num - 1].cursor_id, STORE_ID_LEN)) != HALQA_OK ||
		    (r = copy_fixed(st, 3, items[num - 1].cap, STORE_CAP_LEN)) != HALQA_OK) {
			break;
		}
		if (seq < 0) {
			r = HALQA_ERR_MALFORMED;
			break;
		}
		items[num - 1].seq = (uint64_t)seq;
	}
	if (r != HALQA_OK) {
		goto out;
	}
	*out = items;
	*num_out = num;
	items = NULL;
	num = 0;
out:
	store_newcomer_ack_free(items, num);
	sqlite3_finalize(st);
	return r;
}

int store_newcomer_ack_delete(struct store *s, int64_t row)
{
	return by_row(s, "DELETE FROM newcomer_acks WHERE id = ?", row);
}

int store_newcomer_ack_clear(struct store *s, const uint8_t id[STORE_ID_LEN])
{
	return by_circle(s,
			 "DELETE FROM newcomer_acks WHERE circle = (SELECT id FROM circles WHERE"
			 " circle_id = ?)",
			 id);
}
