/*
 * test_engine_durable.c: which of a sync's store commits wait for the
 * disk, against a real halqad. A sync that reads nothing but our own
 * messages echoed (the sync before every `halqa send`) commits without a
 * disk sync, and so does the record of its ACK; a sync that reads another
 * member's message syncs the WAL before it returns, echoes read in the
 * same reply or not. Either way the store is back at full durability
 * afterwards, and what the sync wrote is there after a restart.
 *
 * The disk syncs are counted by a VFS of this test, made the default
 * before any store opens: it passes every call to the real one and counts
 * xSync on WAL files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "harness.h"
#include "support/engine_steps.h"

static struct relay_test relay;

/* ---- a VFS counting the WAL's disk syncs ---- */

struct count_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
	int wal;
};

static sqlite3_vfs *g_real_vfs;
static sqlite3_vfs g_count_vfs;
static sqlite3_io_methods g_count_io;
static unsigned long g_wal_syncs;

#define REAL(f) (((struct count_file *)(f))->real)

static int c_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods->xClose(REAL(f));

	return rc;
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int c_sync(sqlite3_file *f, int flags)
{
	if (((struct count_file *)f)->wal) {
		g_wal_syncs++;
	}
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *out)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int c_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_check(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_caps(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, out);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int c_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, out);
}
static int c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct count_file *cf = (struct count_file *)f;
	int rc;

	(void)vfs;
	memset(cf, 0, sizeof *cf);
	cf->real = (sqlite3_file *)(cf + 1);
	rc = g_real_vfs->xOpen(g_real_vfs, name, cf->real, flags, out_flags);
	if (rc != SQLITE_OK || cf->real->pMethods == NULL) {
		return rc;
	}
	cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	g_count_io.iVersion = cf->real->pMethods->iVersion < 3 ? cf->real->pMethods->iVersion : 3;
	cf->base.pMethods = &g_count_io;
	return rc;
}

static void count_vfs_install(void)
{
	g_real_vfs = sqlite3_vfs_find(NULL);
	g_count_vfs = *g_real_vfs;
	g_count_vfs.zName = "halqa-test-count";
	g_count_vfs.szOsFile = (int)sizeof(struct count_file) + g_real_vfs->szOsFile;
	g_count_vfs.xOpen = c_open;
	g_count_io = (sqlite3_io_methods){
	    3,        c_close,       c_read,     c_write,       c_truncate,  c_sync,
	    c_size,   c_lock,        c_unlock,   c_check,       c_fcntl,     c_sector,
	    c_caps,   c_shm_map,     c_shm_lock, c_shm_barrier, c_shm_unmap, c_fetch,
	    c_unfetch};
	if (sqlite3_vfs_register(&g_count_vfs, 1) != SQLITE_OK) {
		fprintf(stderr, "cannot register the counting VFS\n");
		exit(1);
	}
}

/* ---- the tests ---- */

/* sync_level returns |p|'s store's PRAGMA synchronous (-1 on error). */
static int sync_level(struct eprof *p)
{
	sqlite3_stmt *st = NULL;
	int level = -1;

	if (sqlite3_prepare_v2(store_db(p->store), "PRAGMA synchronous", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		level = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return level;
}

/* pair makes alice and bob a circle of two, each synced once since (nothing left to read). */
static int pair(struct eprof *alice, struct eprof *bob, const char *circle)
{
	int r;

	if ((r = eprof_pair(alice, bob, circle)) != HALQA_OK || (r = eprof_sync(alice, NULL)) != HALQA_OK ||
	    (r = eprof_sync(bob, NULL)) != HALQA_OK) {
		return r;
	}
	return HALQA_OK;
}

static void test_echoes_only(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	unsigned long before;
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, "Echo") != HALQA_OK) {
		goto out;
	}
	CHECK_INT_EQ(sync_level(alice), 2);
	CHECK_OK(eprof_say(alice, "Echo", "first", &sent));
	CHECK(sent);
	CHECK_OK(eprof_say(alice, "Echo", "second", &sent));
	CHECK(sent);
	/* The send itself waited for the disk: its ratchet step is stored before it leaves. */
	before = g_wal_syncs;
	CHECK_OK(eprof_say(alice, "Echo", "third", &sent));
	CHECK(sent);
	CHECK(g_wal_syncs > before);
	/*
	 * The next command (a new process: the close made the sends' outbox
	 * removals durable) reads the three echoes, moves the cursor and
	 * ACKs it: no disk sync but the fresh WAL's header, which SQLite
	 * syncs at the first write after an open, relaxed or not.
	 */
	CHECK_OK(eprof_reopen(alice));
	before = g_wal_syncs;
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(g_wal_syncs, before + 1);
	CHECK_INT_EQ(sync_level(alice), 2);
	/*
	 * In one process (live mode), the outbox removal after a send did not
	 * wait for the disk: the ACK past its echo syncs it first, once, so
	 * a power cut cannot bring the message back after the relay forgot
	 * it (test_engine_powerloss).
	 */
	CHECK_OK(eprof_say(alice, "Echo", "fourth", &sent));
	CHECK(sent);
	before = g_wal_syncs;
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(g_wal_syncs, before + 1);
	CHECK_INT_EQ(sync_level(alice), 2);
	/* Written all the same: after a restart there is nothing left to read. */
	CHECK_OK(eprof_reopen(alice));
	CHECK_INT_EQ(sync_level(alice), 2);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(alice, "Echo"), 4);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 4);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/* sync_one_durably syncs |p|, which reads one message: the WAL synced, full durability after. */
static void sync_one_durably(struct eprof *p)
{
	struct engine_sync_report rep;
	unsigned long before = g_wal_syncs;

	CHECK_OK(eprof_sync(p, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK(g_wal_syncs > before);
	CHECK_INT_EQ(sync_level(p), 2);
}

/*
 * One reply with alice's echo before bob's message, and one with bob's
 * message before her echo: the batch that reads bob's message syncs.
 */
static void test_echo_then_message(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char text[64];
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, "Mixed") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Mixed", "alice first", &sent));
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_OK(eprof_say(bob, "Mixed", "bob after", &sent));
	sync_one_durably(alice);
	CHECK_OK(eprof_say(bob, "Mixed", "bob first", &sent));
	CHECK_OK(eprof_say(alice, "Mixed", "alice after", &sent));
	sync_one_durably(alice);

	/* The group that decrypted bob's messages was saved with them: the next one decrypts too. */
	CHECK_OK(eprof_reopen(alice));
	CHECK_INT_EQ(eprof_has_text(alice, "Mixed", "bob after"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Mixed", "bob first"), 1);
	CHECK_OK(eprof_say(bob, "Mixed", "bob last", &sent));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(eprof_last_text(alice, "Mixed", text, sizeof text));
	CHECK(strcmp(text, "bob last") == 0);
	CHECK_INT_EQ(eprof_count(alice, "Mixed"), 5);
out:
	eprof_free(alice);
	eprof_free(bob);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	count_vfs_install();
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	RUN(test_echoes_only);
	RUN(test_echo_then_message);
	relay_test_stop(&relay);
	return harness_report();
}
