/*
 * test_store_sync.c: store_sync_relax and store_sync_restore.
 *
 * A fresh store commits at FULL; relaxing makes it NORMAL and restoring
 * brings FULL back; a store already at OFF (a benchmark's setup) is left
 * at OFF and restoring changes nothing; a relaxed commit is in the file
 * after store_close (whose checkpoint makes it durable), and the WAL is
 * gone.
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
	store_sync_restore(s, saved);
	CHECK_INT_EQ(level(s), 2);

	/* Already below NORMAL: left alone, and restoring is a no-op. */
	CHECK_INT_EQ(sqlite3_exec(store_db(s), "PRAGMA synchronous = OFF", NULL, NULL, NULL),
		     SQLITE_OK);
	CHECK_OK(store_sync_relax(s, &saved));
	CHECK_INT_EQ(saved, -1);
	CHECK_INT_EQ(level(s), 0);
	store_sync_restore(s, saved);
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
	unlink(path);
	rmdir(dir);
	return harness_report();
}
