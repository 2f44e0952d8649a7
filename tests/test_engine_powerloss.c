/*
 * test_engine_powerloss.c: what a profile holds after the power fails,
 * against a real halqad. Some of the client's commits do not wait for the
 * disk (a sync that reads only our own echoes, the record of an ACK, the
 * removal of a sent message from the outbox): a power cut may undo them,
 * though the relay has already seen what followed them (the ACK, the
 * message). After such a cut and a restart nothing may be lost, shown or
 * delivered twice, and the group must still follow the circle.
 *
 * A VFS of this test, made the default before any store opens, keeps
 * every write in memory until the file is synced (what a disk cache
 * does); a power cut drops what was not synced, every later write and
 * sync of that profile's files, and its deletions, until the store is
 * closed. The files then hold what a disk would after the cut: the WAL up
 * to its last sync. The wal-index (-shm) is rebuilt at the next open, as
 * after a reboot, because no connection has the file open any more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "harness.h"
#include "support/engine_steps.h"

static struct relay_test relay;

/* ---- a VFS whose writes reach the file only at its next sync ---- */

struct chunk {
	sqlite3_int64 off;
	int len;
	unsigned char *data;
};

struct pl_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
	char name[320];
	struct chunk *chunks; /* writes not synced yet, in order */
	size_t num_chunks, cap_chunks;
};

static sqlite3_vfs *g_real_vfs;
static sqlite3_vfs g_pl_vfs;
static sqlite3_io_methods g_pl_io;
static char g_cut[512]; /* files under this directory have no power ("" = none) */

#define PL(f) ((struct pl_file *)(f))
#define REAL(f) (PL(f)->real)

static int powered(const char *name)
{
	return g_cut[0] == '\0' || name == NULL || strncmp(name, g_cut, strlen(g_cut)) != 0;
}

static void drop_chunks(struct pl_file *pf)
{
	for (size_t i = 0; i < pf->num_chunks; i++) {
		free(pf->chunks[i].data);
	}
	pf->num_chunks = 0;
}

/* flush_chunks writes what waits into the real file, in order. */
static int flush_chunks(struct pl_file *pf)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < pf->num_chunks && rc == SQLITE_OK; i++) {
		rc = pf->real->pMethods->xWrite(pf->real, pf->chunks[i].data, pf->chunks[i].len,
						pf->chunks[i].off);
	}
	drop_chunks(pf);
	return rc;
}

static int pl_close(sqlite3_file *f)
{
	struct pl_file *pf = PL(f);

	/* Closed with the power on: the cache reaches the disk sooner or later. */
	if (powered(pf->name)) {
		(void)flush_chunks(pf);
	}
	drop_chunks(pf);
	free(pf->chunks);
	pf->chunks = NULL;
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int pl_size(sqlite3_file *f, sqlite3_int64 *out)
{
	struct pl_file *pf = PL(f);
	int rc = REAL(f)->pMethods->xFileSize(REAL(f), out);

	for (size_t i = 0; rc == SQLITE_OK && i < pf->num_chunks; i++) {
		if (pf->chunks[i].off + pf->chunks[i].len > *out) {
			*out = pf->chunks[i].off + pf->chunks[i].len;
		}
	}
	return rc;
}

static int pl_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	struct pl_file *pf = PL(f);
	sqlite3_int64 size = 0;
	int rc = REAL(f)->pMethods->xRead(REAL(f), b, n, off);

	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
		return rc;
	}
	for (size_t i = 0; i < pf->num_chunks; i++) {
		const struct chunk *c = &pf->chunks[i];
		sqlite3_int64 lo = c->off > off ? c->off : off;
		sqlite3_int64 hi = c->off + c->len < off + n ? c->off + c->len : off + n;

		if (lo < hi) {
			memcpy((unsigned char *)b + (lo - off), c->data + (lo - c->off),
			       (size_t)(hi - lo));
		}
	}
	if ((rc = pl_size(f, &size)) != SQLITE_OK) {
		return rc;
	}
	return off + n > size ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int pl_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	struct pl_file *pf = PL(f);
	struct chunk *grown;

	if (!powered(pf->name)) {
		return SQLITE_OK; /* lost */
	}
	if (pf->num_chunks == pf->cap_chunks) {
		size_t cap = pf->cap_chunks ? pf->cap_chunks * 2 : 64;

		if ((grown = realloc(pf->chunks, cap * sizeof *grown)) == NULL) {
			return SQLITE_IOERR_NOMEM;
		}
		pf->chunks = grown;
		pf->cap_chunks = cap;
	}
	if ((pf->chunks[pf->num_chunks].data = malloc((size_t)n)) == NULL) {
		return SQLITE_IOERR_NOMEM;
	}
	memcpy(pf->chunks[pf->num_chunks].data, b, (size_t)n);
	pf->chunks[pf->num_chunks].off = off;
	pf->chunks[pf->num_chunks].len = n;
	pf->num_chunks++;
	return SQLITE_OK;
}

static int pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc;

	if (!powered(PL(f)->name)) {
		return SQLITE_OK;
	}
	/* Kept simple: what waits goes to the file first (a truncate is rare and synced after). */
	if ((rc = flush_chunks(PL(f))) != SQLITE_OK) {
		return rc;
	}
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int pl_sync(sqlite3_file *f, int flags)
{
	int rc;

	if (!powered(PL(f)->name)) {
		return SQLITE_OK;
	}
	if ((rc = flush_chunks(PL(f))) != SQLITE_OK) {
		return rc;
	}
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int pl_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int pl_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int pl_check(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int pl_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int pl_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int pl_caps(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int pl_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, out);
}
static int pl_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void pl_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int pl_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
/* No memory map: every read comes through pl_read, which sees what waits. */
static int pl_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	(void)f;
	(void)off;
	(void)n;
	*out = NULL;
	return SQLITE_OK;
}
static int pl_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static int pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct pl_file *pf = PL(f);
	int rc;

	(void)vfs;
	memset(pf, 0, sizeof *pf);
	pf->real = (sqlite3_file *)(pf + 1);
	snprintf(pf->name, sizeof pf->name, "%s", name != NULL ? name : "");
	rc = g_real_vfs->xOpen(g_real_vfs, name, pf->real, flags, out_flags);
	if (rc != SQLITE_OK || pf->real->pMethods == NULL) {
		return rc;
	}
	g_pl_io.iVersion = pf->real->pMethods->iVersion < 3 ? pf->real->pMethods->iVersion : 3;
	pf->base.pMethods = &g_pl_io;
	return rc;
}

static int pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	if (!powered(name)) {
		return SQLITE_OK; /* the WAL a close would delete stays on the dead disk */
	}
	return g_real_vfs->xDelete(g_real_vfs, name, sync_dir);
}

static void pl_vfs_install(void)
{
	g_real_vfs = sqlite3_vfs_find(NULL);
	g_pl_vfs = *g_real_vfs;
	g_pl_vfs.zName = "halqa-test-powerloss";
	g_pl_vfs.szOsFile = (int)sizeof(struct pl_file) + g_real_vfs->szOsFile;
	g_pl_vfs.xOpen = pl_open;
	g_pl_vfs.xDelete = pl_delete;
	g_pl_io = (sqlite3_io_methods){
	    3,         pl_close,       pl_read,     pl_write,       pl_truncate,  pl_sync,
	    pl_size,   pl_lock,        pl_unlock,   pl_check,       pl_fcntl,     pl_sector,
	    pl_caps,   pl_shm_map,     pl_shm_lock, pl_shm_barrier, pl_shm_unmap, pl_fetch,
	    pl_unfetch};
	if (sqlite3_vfs_register(&g_pl_vfs, 1) != SQLITE_OK) {
		fprintf(stderr, "cannot register the power-loss VFS\n");
		exit(1);
	}
}

/*
 * power_cut cuts |p|'s power now: what its store wrote since its last
 * disk sync is lost, and so is all it does until it is closed. Then it
 * starts again from what the disk holds.
 */
static int power_cut(struct eprof *p)
{
	int r;

	snprintf(g_cut, sizeof g_cut, "%s/", p->dir);
	r = eprof_reopen(p); /* the close runs without power, the open with it */
	g_cut[0] = '\0';
	return r;
}

/* outbox_len returns how many messages wait in |p|'s outbox (-1 on error). */
static long outbox_len(struct eprof *p)
{
	struct store_outbox *items = NULL;
	size_t num = 0;

	if (store_outbox_list(p->store, NULL, &items, &num) != HALQA_OK) {
		return -1;
	}
	store_outbox_list_free(items, num);
	return (long)num;
}

/* sweep runs the relay's retention: it deletes what every live cursor has read. */
static void sweep(void)
{
	char out[512];
	int status = -1;

	CHECK_OK(relay_test_command(&relay, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
}

/* ---- the tests ---- */

/* pair makes alice and bob a circle of two, each synced once since. */
static int pair(struct eprof *alice, struct eprof *bob, const char *circle)
{
	int r;

	if ((r = eprof_pair(alice, bob, circle)) != HALQA_OK ||
	    (r = eprof_sync(alice, NULL)) != HALQA_OK || (r = eprof_sync(bob, NULL)) != HALQA_OK) {
		return r;
	}
	return HALQA_OK;
}

/*
 * The model itself: a commit that did not wait for the disk is gone after
 * a cut, one that did is there (else the tests below would prove nothing).
 */
static void test_cut_model(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	char text[16];
	int saved = -1;

	if (alice == NULL) {
		return;
	}
	CHECK_OK(store_setting_set(alice->store, "test.durable", "1"));
	CHECK_OK(store_sync_relax(alice->store, &saved));
	CHECK_INT_EQ(saved, 2);
	CHECK_OK(store_setting_set(alice->store, "test.relaxed", "1"));
	CHECK_OK(store_sync_restore(alice->store, saved));
	CHECK_OK(power_cut(alice));
	CHECK_OK(store_setting_get(alice->store, "test.durable", text, sizeof text));
	CHECK_RC(store_setting_get(alice->store, "test.relaxed", text, sizeof text),
		 HALQA_ERR_NOT_FOUND);
	/* A relaxed commit followed by a durable one: the durable sync takes both. */
	CHECK_OK(store_sync_relax(alice->store, &saved));
	CHECK_OK(store_setting_set(alice->store, "test.relaxed", "2"));
	CHECK_OK(store_sync_restore(alice->store, saved));
	CHECK_OK(store_setting_set(alice->store, "test.durable", "2"));
	CHECK_OK(power_cut(alice));
	CHECK_OK(store_setting_get(alice->store, "test.relaxed", text, sizeof text));
	CHECK(strcmp(text, "2") == 0);
	eprof_free(alice);
}

/*
 * The power fails right after a sync that read only alice's echoes and
 * ACKed past them (both committed without a disk sync): she reads on,
 * sends and receives, and nobody sees anything twice.
 */
static void test_cut_after_echo_sync(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, "Cut") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Cut", "one", &sent));
	CHECK_OK(eprof_say(alice, "Cut", "two", &sent));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(outbox_len(alice), 0);
	CHECK_OK(power_cut(alice));
	/* Bob reads and ACKs too: the relay may drop what alice read before the cut. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 2);
	sweep();
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(alice, "Cut"), 2);
	CHECK_OK(eprof_say(alice, "Cut", "three", &sent));
	CHECK(sent);
	CHECK_OK(eprof_say(bob, "Cut", "bob", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(alice, "Cut"), 4);
	CHECK_INT_EQ(eprof_count(bob, "Cut"), 4);
	CHECK_INT_EQ(eprof_has_text(bob, "Cut", "three"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * The power fails right after a send: the message and its ratchet step
 * were synced before it left, the outbox entry's removal was not. Bob
 * gets it once; alice has it once and goes on.
 */
static void test_cut_after_send(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, "Send") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Send", "before the cut", &sent));
	CHECK(sent);
	CHECK_INT_EQ(outbox_len(alice), 0);
	CHECK_OK(power_cut(alice));
	CHECK_INT_EQ(eprof_has_text(alice, "Send", "before the cut"), 1);
	CHECK_INT_EQ(outbox_len(alice), 1);
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.waiting, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_OK(eprof_say(alice, "Send", "after the cut", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(bob, "Send"), 2);
	CHECK_INT_EQ(eprof_count(alice, "Send"), 2);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * send_with_sync_cut: alice sends with her sync (`halqa send`) after
 * |setup| made that sync do more (NULL: nothing), and her power fails
 * right after. The message and its ratchet step were on the disk before
 * the SEND left; what followed may not be. Bob reads it, the relay's
 * retention runs, and alice sends on with her syncs: bob has each
 * message once and refuses none (a ratchet step used twice would be
 * refused), and both stay in one epoch.
 */
static void send_with_sync_cut(const char *circle, void (*setup)(struct eprof *, struct eprof *))
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, circle) != HALQA_OK) {
		goto out;
	}
	if (setup != NULL) {
		setup(alice, bob);
	}
	CHECK_OK(eprof_say_with_sync(alice, circle, "before the cut", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(outbox_len(alice), 0);
	CHECK_OK(power_cut(alice));
	CHECK_INT_EQ(eprof_has_text(alice, circle, "before the cut"), 1);
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	sweep();
	/* Sent before alice reads her echo: a ratchet step lost in the cut would be used again. */
	CHECK_OK(eprof_say_with_sync(alice, circle, "after the cut", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(outbox_len(alice), 0);
	CHECK_OK(eprof_say_with_sync(alice, circle, "and again", &sent, &rep));
	CHECK(sent);
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 2);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, circle, "before the cut"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, circle, "after the cut"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, circle, "and again"), 1);
	CHECK_INT_EQ(eprof_count(bob, circle), 3);
	CHECK_INT_EQ(eprof_count(alice, circle), 3);
	CHECK_OK(eprof_same_epoch(alice, bob, circle, NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
}

/* bob_commits: bob's self-update waits on the relay, so alice's SEND is stale and sent again. */
static void bob_commits(struct eprof *alice, struct eprof *bob)
{
	struct engine_sync_report rep;

	(void)alice;
	bob->now += ENGINE_SELF_UPDATE_MS + 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 1);
}

/* alice_update_due: alice's sync reads her SEND's answer, then commits her self-update. */
static void alice_update_due(struct eprof *alice, struct eprof *bob)
{
	(void)bob;
	alice->now += ENGINE_SELF_UPDATE_MS + 1000;
}

static void test_cut_after_send_with_sync(void)
{
	send_with_sync_cut("SendSync", NULL);
	send_with_sync_cut("Stale", bob_commits);
	send_with_sync_cut("Update", alice_update_due);
}

/*
 * The power fails right after a sync that read an echo of alice's and
 * then bob's message, and ACKed past both: bob's message was on the disk
 * before the ACK left, and the group that decrypted it too.
 */
static void test_cut_after_mixed_sync(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || pair(alice, bob, "Mix") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Mix", "alice", &sent));
	CHECK_OK(eprof_say(bob, "Mix", "bob one", &sent));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(power_cut(alice));
	CHECK_INT_EQ(eprof_has_text(alice, "Mix", "bob one"), 1);
	CHECK_OK(eprof_say(bob, "Mix", "bob two", &sent));
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(alice, "Mix", "bob two"), 1);
	CHECK_INT_EQ(eprof_count(alice, "Mix"), 3);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * The power fails right after alice added carol: the commit, its
 * confirmation and the Welcome's posting waited for the disk. Carol joins
 * once, alice posts nothing again, and all three go on in one epoch.
 */
static void test_cut_after_add(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || carol == NULL || pair(alice, bob, "Add") != HALQA_OK ||
	    eprof_meet(alice, carol) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(engine_circle_add(alice->e, "Add", (const char *[]){"carol"}, 1));
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Add"), 0);
	CHECK_OK(power_cut(alice));
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Add"), 0);
	memset(&rep, 0, sizeof rep);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(eprof_say(alice, "Add", "after the cut", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_same_epoch(alice, carol, "Add", NULL));
	CHECK_OK(eprof_same_epoch(alice, bob, "Add", NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	pl_vfs_install();
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	RUN(test_cut_model);
	RUN(test_cut_after_echo_sync);
	RUN(test_cut_after_send);
	RUN(test_cut_after_send_with_sync);
	RUN(test_cut_after_mixed_sync);
	RUN(test_cut_after_add);
	relay_test_stop(&relay);
	return harness_report();
}
