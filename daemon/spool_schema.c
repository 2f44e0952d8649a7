/*
 * spool_schema.c: the spool's SQL schema, one migration per version.
 *
 * PRAGMA user_version holds the version; spool_open runs the migrations
 * from the file's version up to SPOOL_SCHEMA_VERSION, each in its own
 * transaction with the version bump, so a crash leaves the file at a whole
 * version. A migration is never edited once released: a change is a new
 * entry. Everything here must run on SQLite 3.15 (no UPSERT, no window
 * functions, no JSON1).
 *
 * Design rules the tests check (test_spool.c, "what the disk shows"):
 * device keys appear only in columns named *_key, circles only in columns
 * named circle_*, and no table has both. Circles are referred to inside the
 * store by a small integer (circle_no) to keep message rows short. Message
 * counters per circle live in the circle's row (so status figures cost one
 * pass over circles, not over messages): an append updates them in the
 * statement that bumps last_seq, retention in one UPDATE per deletion
 * batch (spool_circle.c). Mailbox counters, low-volume, are kept by triggers.
 */
#include <stddef.h>

#include "halqa/spool.h"
#include "spool_schema.h"

static const char migration_1[] =
	"CREATE TABLE devices ("
	" device_key BLOB PRIMARY KEY NOT NULL CHECK (length(device_key) = 32),"
	" registered INTEGER NOT NULL,"
	" banned INTEGER NOT NULL,"
	" registered_at INTEGER NOT NULL,"
	" circles_created INTEGER NOT NULL,"
	" bytes_day INTEGER NOT NULL,"
	" bytes_today INTEGER NOT NULL"
	") WITHOUT ROWID;"

	"CREATE TABLE invites ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" code_hash BLOB NOT NULL UNIQUE,"
	" uses_left INTEGER NOT NULL CHECK (uses_left > 0),"
	" expires_at INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL"
	");"

	"CREATE TABLE circles ("
	" circle_no INTEGER PRIMARY KEY,"
	" circle_id BLOB NOT NULL UNIQUE CHECK (length(circle_id) = 16),"
	" max_age INTEGER NOT NULL,"
	" epoch INTEGER NOT NULL,"
	" last_seq INTEGER NOT NULL,"
	" msg_count INTEGER NOT NULL,"
	" msg_bytes INTEGER NOT NULL"
	");"

	"CREATE TABLE epochs ("
	" circle_no INTEGER NOT NULL REFERENCES circles (circle_no),"
	" epoch INTEGER NOT NULL,"
	" cap_hash BLOB NOT NULL CHECK (length(cap_hash) = 32),"
	" first_seq INTEGER NOT NULL,"
	" last_seq INTEGER,"
	" PRIMARY KEY (circle_no, epoch),"
	" UNIQUE (circle_no, cap_hash)"
	") WITHOUT ROWID;"

	"CREATE TABLE messages ("
	" circle_no INTEGER NOT NULL REFERENCES circles (circle_no),"
	" seq INTEGER NOT NULL,"
	" epoch INTEGER NOT NULL,"
	" kind INTEGER NOT NULL,"
	" client_msg_id BLOB NOT NULL,"
	" received_at INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" payload BLOB NOT NULL,"
	" UNIQUE (circle_no, seq),"
	" UNIQUE (circle_no, client_msg_id)"
	");"

	"CREATE TABLE cursors ("
	" circle_no INTEGER NOT NULL REFERENCES circles (circle_no),"
	" cursor_id BLOB NOT NULL,"
	" acked_seq INTEGER NOT NULL,"
	" acked_at INTEGER NOT NULL,"
	" PRIMARY KEY (circle_no, cursor_id)"
	") WITHOUT ROWID;"

	"CREATE TABLE mailboxes ("
	" mailbox_no INTEGER PRIMARY KEY,"
	" mailbox_id BLOB NOT NULL UNIQUE,"
	" owner_key BLOB NOT NULL,"
	" item_count INTEGER NOT NULL,"
	" item_bytes INTEGER NOT NULL"
	");"
	"CREATE INDEX mailboxes_by_owner ON mailboxes (owner_key);"

	"CREATE TABLE mailbox_items ("
	" item_id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mailbox_no INTEGER NOT NULL REFERENCES mailboxes (mailbox_no),"
	" received_at INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" data BLOB NOT NULL"
	");"
	"CREATE INDEX mailbox_items_by_box ON mailbox_items (mailbox_no, item_id);"
	"CREATE INDEX mailbox_items_by_time ON mailbox_items (received_at);"

	"CREATE TRIGGER mailbox_items_added AFTER INSERT ON mailbox_items BEGIN"
	" UPDATE mailboxes SET item_count = item_count + 1, item_bytes = item_bytes + new.size"
	" WHERE mailbox_no = new.mailbox_no;"
	" END;"
	"CREATE TRIGGER mailbox_items_deleted AFTER DELETE ON mailbox_items BEGIN"
	" UPDATE mailboxes SET item_count = item_count - 1, item_bytes = item_bytes - old.size"
	" WHERE mailbox_no = old.mailbox_no;"
	" END;"

	"CREATE TABLE kp_dirs ("
	" dir_no INTEGER PRIMARY KEY,"
	" dir_id BLOB NOT NULL UNIQUE,"
	" owner_key BLOB NOT NULL,"
	" last_resort BLOB"
	");"
	"CREATE INDEX kp_dirs_by_owner ON kp_dirs (owner_key);"

	"CREATE TABLE keypackages ("
	" kp_no INTEGER PRIMARY KEY AUTOINCREMENT,"
	" dir_no INTEGER NOT NULL REFERENCES kp_dirs (dir_no),"
	" data BLOB NOT NULL"
	");"
	"CREATE INDEX keypackages_by_dir ON keypackages (dir_no, kp_no);";

/*
 * Version 2: stored times are rounded up to SPOOL_TIME_GRANULARITY (3600 s,
 * spool.h), so a seized disk no longer tells which mailbox item arrived in
 * the same second as which commit. Values near the top of the range (which
 * the spool never writes) are left alone rather than overflow.
 */
#define COARSE(col)                                                                           \
	" " col " = CASE WHEN " col " > 9223372036854771807 THEN " col " ELSE (" col             \
	" + 3599) / 3600 * 3600 END"
static const char migration_2[] =
	"UPDATE messages SET" COARSE("received_at") ";"
	"UPDATE mailbox_items SET" COARSE("received_at") ";"
	"UPDATE cursors SET" COARSE("acked_at") ";"
	"UPDATE devices SET" COARSE("registered_at") ";"
	"UPDATE invites SET" COARSE("created_at") ","
	" expires_at = CASE WHEN expires_at = 0 OR expires_at > 9223372036854771807"
	" THEN expires_at ELSE (expires_at + 3599) / 3600 * 3600 END;";
#undef COARSE

/* spool_migrations[v] takes a file from version v to v + 1. */
const char *const spool_migrations[SPOOL_SCHEMA_VERSION] = {
	migration_1,
	migration_2,
};
