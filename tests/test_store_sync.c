/*
 * test_store_sync.c: store_sync_relax and store_sync_restore.
 *
 * A fresh store commits at FULL; relaxing makes it NORMAL and restoring
 * brings FULL back; a store already at OFF (a benchmark's setup) is left
 * at OFF and restoring changes nothing; a relaxed commit is in the file
 * after store_close (whose checkpoint makes it durable), and the WAL is
 * gone. A restore that fails (the pragma refused) is an error, and the
 * store then refuses every write and commit, its own and those made on
 * its raw handle, cached statements included, while reads go on; the
 * relaxed commit before it survives the close, and a new open writes
 * at FULL again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/store.h"
#include "harness.h"

static char dir[256];
static char path[300];

/* level reads PRAGMA synchronous on |s|'s connection. */
static int level(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(store_db(s), "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

static void test_relax_restore(void)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;
	char value[32], wal[320];
	int saved = 7;

	memset(key, 0x42, sizeof key);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	if (s == NULL) {
		return;
	}
	CHECK_INT_EQ(level(s), 2); /* FULL */
	CHECK_OK(store_sync_relax(s, &saved));
	CHECK_INT_EQ(saved, 2);
	CHECK_INT_EQ(level(s), 1); /* NORMAL */
	CHECK_OK(store_setting_set(s, "relaxed", "kept"));
	CHECK_OK(store_sync_restore(s, saved));
	CHECK_INT_EQ(level(s), 2);

	/* Already below NORMAL: left alone, and restoring is a no-op. */
	CHECK_INT_EQ(sqlite3_exec(store_db(s), "PRAGMA synchronous = OFF", NULL, NULL, NULL),
		     SQLITE_OK);
	CHECK_OK(store_sync_relax(s, &saved));
	CHECK_INT_EQ(saved, -1);
	CHECK_INT_EQ(level(s), 0);
	CHECK_OK(store_sync_restore(s, saved));
	CHECK_INT_EQ(level(s), 0);
	store_close(s);
	s = NULL;

	/* The close checkpointed the relaxed commit into the file and removed the WAL. */
	snprintf(wal, sizeof wal, "%s-wal", path);
	CHECK(access(wal, F_OK) != 0);
	CHECK_OK(store_open(&s, path, key, 0));
	if (s == NULL) {
		return;
	}
	CHECK_OK(store_setting_get(s, "relaxed", value, sizeof value));
	CHECK(strcmp(value, "kept") == 0);
	CHECK_INT_EQ(level(s), 2); /* every open starts at FULL */
	store_close(s);
}

/* refuse_sync is an authorizer that refuses to set PRAGMA synchronous (the fault). */
static int refuse_sync(void *arg, int action, const char *a1, const char *a2, const char *a3,
		       const char *a4)
{
	(void)arg;
	(void)a3;
	(void)a4;
	if (action == SQLITE_PRAGMA && a1 != NULL && strcmp(a1, "synchronous") == 0 &&
	    a2 != NULL) {
		return SQLITE_DENY;
	}
	return SQLITE_OK;
}

static void test_restore_fails(void)
{
	uint8_t key[STORE_KEY_LEN], id[STORE_ID_LEN];
	struct store *s = NULL;
	struct store_circle c;
	struct store_message m;
	char value[32], before[] = "before", after[] = "after";
	int saved = -1;

	memset(key, 0x43, sizeof key);
	memset(&c, 0, sizeof c);
	memset(id, 0x07, sizeof id);
	unlink(path);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	if (s == NULL) {
		return;
	}
	memcpy(c.circle_id, id, STORE_ID_LEN);
	snprintf(c.name, sizeof c.name, "Circle");
	CHECK_OK(store_circle_add(s, &c));
	memset(&m, 0, sizeof m);
	memcpy(m.circle_id, id, STORE_ID_LEN);
	m.body = before;
	/* The cached insert is prepared before the fault, so its re-check is what refuses it later. */
	CHECK_OK(store_message_add(s, &m, NULL));
	CHECK(!store_writes_refused(s));
	CHECK_OK(store_sync_relax(s, &saved));
	CHECK_OK(store_setting_set(s, "relaxed", "kept"));
	CHECK_INT_EQ(sqlite3_set_authorizer(store_db(s), refuse_sync, NULL), SQLITE_OK);
	CHECK_RC(store_sync_restore(s, saved), HALQA_ERR_IO);
	CHECK(store_writes_refused(s));
	/* Every write fails, by every way in; reads go on. */
	CHECK_RC(store_setting_set(s, "after", "lost"), HALQA_ERR_IO);
	m.body = after;
	CHECK_RC(store_message_add(s, &m, NULL), HALQA_ERR_IO);
	CHECK_RC(store_begin(s), HALQA_ERR_IO);
	CHECK(sqlite3_exec(store_db(s), "INSERT INTO settings(name, value) VALUES('raw', 'x')",
			   NULL, NULL, NULL) != SQLITE_OK);
	CHECK(sqlite3_exec(store_db(s), "PRAGMA synchronous = OFF", NULL, NULL, NULL) !=
	      SQLITE_OK);
	CHECK_OK(store_setting_get(s, "relaxed", value, sizeof value));
	CHECK(strcmp(value, "kept") == 0);
	CHECK_RC(store_setting_get(s, "after", value, sizeof value), HALQA_ERR_NOT_FOUND);
	store_close(s);
	s = NULL;

	CHECK_OK(store_open(&s, path, key, 0));
	if (s == NULL) {
		return;
	}
	CHECK(!store_writes_refused(s));
	CHECK_OK(store_setting_get(s, "relaxed", value, sizeof value));
	CHECK(strcmp(value, "kept") == 0);
	CHECK_RC(store_setting_get(s, "raw", value, sizeof value), HALQA_ERR_NOT_FOUND);
	CHECK_INT_EQ(level(s), 2);
	CHECK_OK(store_setting_set(s, "after", "written"));
	store_close(s);
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	if (sodium_init() < 0) {
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/halqa-store-sync-XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	RUN(test_relax_restore);
	RUN(test_restore_fails);
	unlink(path);
	rmdir(dir);
	return harness_report();
}
