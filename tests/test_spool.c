/*
 * test_spool.c: the relay's store, function by function, success and each
 * error, in a fresh mkdtemp directory per test. Times are injected (the
 * spool takes `now` from the caller), so retention is tested without
 * waiting. Durability is checked by closing and reopening the file, and by
 * a child process that is SIGKILLed with a turn open.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "halqa/log.h"
#include "halqa/spool.h"
#include "harness.h"

/* An arbitrary "now", on a whole hour: stored times are rounded up to
 * SPOOL_TIME_GRANULARITY (H), so tests step the clock in hours. */
#define T0 1700002800u
#define H SPOOL_TIME_GRANULARITY
#define DAY 86400u

static char tmp_dir[64];
static char path[128];

static void setup(void)
{
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_spool.XXXXXX");
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof path, "%s/spool.db", tmp_dir);
}

static void teardown(void)
{
	char p[160];
	const char *suffix[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(tmp_dir);
}

static struct spool *open_with(const struct spool_limits *lim)
{
	struct spool *sp = NULL;

	CHECK_OK(spool_open(&sp, path, lim));
	if (sp == NULL) {
		fprintf(stderr, "cannot open the spool; giving up\n");
		exit(1);
	}
	return sp;
}

static struct spool *open_default(void)
{
	return open_with(NULL);
}

static void rnd(uint8_t *p, size_t n)
{
	randombytes_buf(p, n);
}

/* A registered device in open mode. */
static void new_device(struct spool *sp, uint8_t key[SPOOL_KEY_LEN])
{
	rnd(key, SPOOL_KEY_LEN);
	CHECK_OK(spool_device_register(sp, key, NULL, 0, 1, T0));
}

struct circle {
	uint8_t id[SPOOL_ID_LEN];
	uint8_t cap[8][SPOOL_HASH_LEN]; /* cap hash of epoch i */
};

static void new_circle(struct spool *sp, const uint8_t creator[SPOOL_KEY_LEN], struct circle *c,
		       uint64_t max_age)
{
	rnd(c->id, sizeof c->id);
	rnd(&c->cap[0][0], sizeof c->cap);
	CHECK_OK(spool_circle_create(sp, creator, c->id, c->cap[0], max_age, T0));
}

/* post appends one message; returns the rc, seq in *seq. */
static int post(struct spool *sp, const struct circle *c, uint64_t epoch, int kind,
		const uint8_t *cap, const char *text, uint64_t now, struct spool_append_res *res)
{
	struct spool_append_req req;
	uint8_t cmid[SPOOL_ID_LEN];

	rnd(cmid, sizeof cmid);
	memset(&req, 0, sizeof req);
	req.circle_id = c->id;
	req.epoch = epoch;
	req.kind = kind;
	req.cap_hash = cap;
	req.next_cap_hash = kind == SPOOL_KIND_COMMIT ? c->cap[epoch + 1] : NULL;
	req.client_msg_id = cmid;
	req.payload = (const uint8_t *)text;
	req.payload_len = strlen(text);
	req.now = now;
	return spool_append(sp, &req, res);
}

static uint64_t post_ok(struct spool *sp, const struct circle *c, uint64_t epoch, int kind,
			const char *text, uint64_t now)
{
	struct spool_append_res res;

	CHECK_OK(post(sp, c, epoch, kind, c->cap[epoch], text, now, &res));
	CHECK_OK(spool_commit_turn(sp));
	return res.seq;
}

/* read_file returns the whole file (malloc'd) and its size. */
static uint8_t *read_file(const char *p, size_t *out_len)
{
	FILE *f = fopen(p, "rb");
	uint8_t *buf = NULL;
	long n;

	*out_len = 0;
	if (f == NULL) {
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
			*out_len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static int contains(const uint8_t *hay, size_t hay_len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++) {
		if (memcmp(hay + i, needle, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/* raw_exec runs SQL on the file through a separate plain connection. */
static void raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "raw_exec: %s", msg != NULL ? msg : "?");
	}
	sqlite3_free(msg);
	sqlite3_close(db);
}

static int64_t raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	CHECK_INT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ------------------------------------------------------------------------ */

static void test_open_fresh(void)
{
	struct spool *sp;
	struct stat st;
	char wal[160];

	setup();
	sp = open_default();
	CHECK_INT_EQ(stat(path, &st), 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	snprintf(wal, sizeof wal, "%s-wal", path);
	CHECK_INT_EQ(stat(wal, &st), 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	CHECK_INT_EQ(spool_limits_get(sp)->max_payload, 256 * 1024);
	CHECK(!spool_turn_open(sp));
	spool_close(sp);
	CHECK_INT_EQ(raw_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	/* Reopening an up-to-date file migrates nothing and works. */
	sp = open_default();
	spool_close(sp);
	CHECK_INT_EQ(raw_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	teardown();
}

static void test_open_args(void)
{
	struct spool *sp = (struct spool *)&sp;
	struct spool_limits lim;

	setup();
	CHECK_RC(spool_open(&sp, NULL, NULL), HALQA_ERR_ARG);
	CHECK(sp == NULL);
	CHECK_RC(spool_open(&sp, "", NULL), HALQA_ERR_ARG);
	CHECK_RC(spool_open(NULL, path, NULL), HALQA_ERR_ARG);
	spool_limits_default(&lim);
	lim.default_max_age = lim.max_max_age + 1;
	CHECK_RC(spool_open(&sp, path, &lim), HALQA_ERR_ARG);
	CHECK_RC(spool_open(&sp, "/nonexistent-dir/x/spool.db", NULL), HALQA_ERR_IO);
	spool_close(NULL);
	teardown();
}

static void test_open_wide_mode_narrowed(void)
{
	struct spool *sp;
	struct stat st;
	int fd;

	setup();
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	CHECK_INT_EQ(fchmod(fd, 0644), 0);
	close(fd);
	sp = open_default();
	CHECK_INT_EQ(stat(path, &st), 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	spool_close(sp);
	teardown();
}

static void test_open_empty_v0(void)
{
	struct spool *sp;
	uint8_t key[SPOOL_KEY_LEN];
	int fd;

	setup();
	fd = open(path, O_CREAT | O_WRONLY, 0600); /* a zero-length file is an empty v0 database */
	CHECK(fd >= 0);
	close(fd);
	sp = open_default();
	new_device(sp, key);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	CHECK_INT_EQ(raw_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM devices"), 1);
	teardown();
}

/* A file from a newer halqad: refused, and not one byte changes. */
static void test_open_future_version(void)
{
	struct spool *sp = NULL;
	uint8_t *before, *after;
	size_t before_len, after_len;

	setup();
	raw_exec("CREATE TABLE future (x); INSERT INTO future VALUES (42);"
		 " PRAGMA user_version = 7;");
	before = read_file(path, &before_len);
	CHECK(before != NULL && before_len > 0);
	CHECK_RC(spool_open(&sp, path, NULL), HALQA_ERR_UNSUPPORTED);
	CHECK(sp == NULL);
	after = read_file(path, &after_len);
	CHECK_MEM_EQ(after, after_len, before, before_len);
	CHECK_INT_EQ(raw_int("PRAGMA user_version"), 7);
	CHECK_INT_EQ(raw_int("SELECT x FROM future"), 42);
	free(before);
	free(after);
	teardown();
}

/* A version-0 file that holds tables is someone else's database: untouched. */
static void test_open_foreign_db(void)
{
	struct spool *sp = NULL;
	uint8_t *before, *after;
	size_t before_len, after_len;

	setup();
	raw_exec("CREATE TABLE notes (x); INSERT INTO notes VALUES (1);");
	before = read_file(path, &before_len);
	CHECK_RC(spool_open(&sp, path, NULL), HALQA_ERR_UNSUPPORTED);
	after = read_file(path, &after_len);
	CHECK_MEM_EQ(after, after_len, before, before_len);
	free(before);
	free(after);
	teardown();
}

static void test_open_not_a_db(void)
{
	struct spool *sp = NULL;
	FILE *f;

	setup();
	f = fopen(path, "wb");
	CHECK(f != NULL);
	for (int i = 0; i < 4096; i++) {
		fputc(0xA5 ^ i, f);
	}
	fclose(f);
	CHECK_RC(spool_open(&sp, path, NULL), HALQA_ERR_IO);
	CHECK(sp == NULL);
	teardown();
}

static void test_invites_and_register(void)
{
	struct spool *sp;
	struct spool_invite *list = NULL;
	struct spool_sweep_res sw;
	size_t num = 0;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], c[SPOOL_KEY_LEN], d[SPOOL_KEY_LEN];
	const uint8_t code[] = "TWO-USES-CODE", late[] = "EXPIRING-CODE", bad[] = "NO-SUCH-CODE";
	int64_t id = 0, id2 = 0;
	int status = -1;

	setup();
	sp = open_default();
	rnd(a, sizeof a);
	rnd(b, sizeof b);
	rnd(c, sizeof c);
	rnd(d, sizeof d);

	CHECK_RC(spool_invite_create(sp, &id, code, 0, 1, 0, T0), HALQA_ERR_ARG);
	CHECK_RC(spool_invite_create(sp, &id, code, sizeof code - 1, 0, 0, T0), HALQA_ERR_ARG);
	CHECK_RC(spool_invite_create(sp, &id, code, SPOOL_INVITE_CODE_MAX + 1, 1, 0, T0),
		 HALQA_ERR_ARG);
	CHECK_OK(spool_invite_create(sp, &id, code, sizeof code - 1, 2, 0, T0));
	CHECK(id > 0);
	CHECK_RC(spool_invite_create(sp, &id2, code, sizeof code - 1, 5, 0, T0), HALQA_ERR_EXISTS);
	CHECK_INT_EQ(id2, 0);
	/* Created at T0 + 1, expiring at T0 + 100: stored as T0 + H both. */
	CHECK_OK(spool_invite_create(sp, &id2, late, sizeof late - 1, 3, T0 + 100, T0 + 1));
	CHECK_OK(spool_commit_turn(sp));

	/* Without an invite, or with a wrong one, a guest gets one answer. */
	CHECK_RC(spool_device_register(sp, a, NULL, 0, 0, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_device_register(sp, a, bad, sizeof bad - 1, 0, T0), HALQA_ERR_DENIED);
	CHECK_OK(spool_device_status(sp, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_UNKNOWN);

	/* A valid invite: two uses, then used up and gone. */
	CHECK_OK(spool_device_register(sp, a, code, sizeof code - 1, 0, T0));
	CHECK_OK(spool_device_status(sp, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_REGISTERED);
	/* A retried REGISTER consumes nothing. */
	CHECK_RC(spool_device_register(sp, a, code, sizeof code - 1, 0, T0), HALQA_ERR_EXISTS);
	CHECK_OK(spool_invite_list(sp, &list, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK_INT_EQ(list[0].id, id);
		CHECK_INT_EQ(list[0].uses_left, 1);
		CHECK_INT_EQ(list[1].expires_at, T0 + H);
		CHECK_INT_EQ(list[1].created_at, T0 + H);
	}
	free(list);
	CHECK_OK(spool_device_register(sp, b, code, sizeof code - 1, 0, T0));
	CHECK_RC(spool_device_register(sp, c, code, sizeof code - 1, 0, T0), HALQA_ERR_DENIED);
	CHECK_OK(spool_invite_list(sp, &list, &num));
	CHECK_INT_EQ(num, 1);
	free(list);

	/* Expiry: valid up to the second before the stored expires_at (rounded
	 * up: an invite lives at least as long as asked, at most H longer). */
	CHECK_RC(spool_device_register(sp, c, late, sizeof late - 1, 0, T0 + H), HALQA_ERR_DENIED);
	CHECK_OK(spool_device_register(sp, c, late, sizeof late - 1, 0, T0 + H - 1));

	/* Open mode needs no code. */
	CHECK_OK(spool_device_register(sp, d, NULL, 0, 1, T0));

	/* Expired invites are swept. */
	CHECK_OK(spool_sweep(sp, T0 + H - 1, &sw));
	CHECK_INT_EQ(sw.invites_expired, 0);
	CHECK_OK(spool_sweep(sp, T0 + H, &sw));
	CHECK_INT_EQ(sw.invites_expired, 1);
	CHECK_RC(spool_invite_revoke(sp, id2), HALQA_ERR_NOT_FOUND);

	/* Revoke. */
	CHECK_OK(spool_invite_create(sp, &id2, bad, sizeof bad - 1, 1, 0, T0));
	CHECK_OK(spool_invite_revoke(sp, id2));
	CHECK_RC(spool_invite_revoke(sp, id2), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_device_register(sp, c, bad, sizeof bad - 1, 0, T0), HALQA_ERR_EXISTS);
	rnd(c, sizeof c);
	CHECK_RC(spool_device_register(sp, c, bad, sizeof bad - 1, 0, T0), HALQA_ERR_DENIED);
	CHECK_OK(spool_invite_list(sp, &list, &num));
	CHECK_INT_EQ(num, 0);
	free(list);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_ban(void)
{
	struct spool *sp;
	uint8_t a[SPOOL_KEY_LEN], stranger[SPOOL_KEY_LEN];
	int status = -1;

	setup();
	sp = open_default();
	new_device(sp, a);
	rnd(stranger, sizeof stranger);

	CHECK_OK(spool_device_ban(sp, a, 1, T0));
	CHECK_OK(spool_device_status(sp, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_BANNED);
	CHECK_RC(spool_device_register(sp, a, NULL, 0, 1, T0), HALQA_ERR_DENIED);
	CHECK_OK(spool_device_ban(sp, a, 0, T0));
	CHECK_OK(spool_device_status(sp, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_REGISTERED);

	/* Banning a key that never registered keeps it out. */
	CHECK_OK(spool_device_ban(sp, stranger, 1, T0));
	CHECK_OK(spool_device_status(sp, stranger, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_BANNED);
	CHECK_RC(spool_device_register(sp, stranger, NULL, 0, 1, T0), HALQA_ERR_DENIED);
	CHECK_OK(spool_device_ban(sp, stranger, 0, T0));
	CHECK_OK(spool_device_status(sp, stranger, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_UNKNOWN);
	CHECK_RC(spool_device_ban(sp, stranger, 0, T0), HALQA_ERR_NOT_FOUND);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_device_limit(void)
{
	struct spool *sp;
	struct spool_limits lim;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], c[SPOOL_KEY_LEN];
	struct spool_stats stats;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_devices = 2;
	sp = open_with(&lim);
	new_device(sp, a);
	new_device(sp, b);
	rnd(c, sizeof c);
	CHECK_RC(spool_device_register(sp, c, NULL, 0, 1, T0), HALQA_ERR_LIMIT);
	CHECK_OK(spool_stats(sp, &stats));
	CHECK_INT_EQ(stats.devices, 2);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

/* spool_limits_set: new limits on the open spool; bad ones refused, the old kept. */
static void test_limits_set(void)
{
	struct spool *sp;
	struct spool_limits lim;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], c[SPOOL_KEY_LEN];

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_devices = 1;
	sp = open_with(&lim);
	new_device(sp, a);
	rnd(b, sizeof b);
	CHECK_RC(spool_device_register(sp, b, NULL, 0, 1, T0), HALQA_ERR_LIMIT);

	lim.max_devices = 2;
	CHECK_OK(spool_limits_set(sp, &lim));
	CHECK_INT_EQ(spool_limits_get(sp)->max_devices, 2);
	/* Zero fields take the defaults, as at open. */
	CHECK_INT_EQ(spool_limits_get(sp)->max_payload, 256 * 1024);
	CHECK_OK(spool_device_register(sp, b, NULL, 0, 1, T0));

	lim.max_devices = 3;
	lim.max_payload = INT_MAX;
	CHECK_RC(spool_limits_set(sp, &lim), HALQA_ERR_ARG);
	CHECK_RC(spool_limits_set(sp, NULL), HALQA_ERR_ARG);
	CHECK_RC(spool_limits_set(NULL, &lim), HALQA_ERR_ARG);
	CHECK_INT_EQ(spool_limits_get(sp)->max_devices, 2);
	CHECK_INT_EQ(spool_limits_get(sp)->max_payload, 256 * 1024);
	rnd(c, sizeof c);
	CHECK_RC(spool_device_register(sp, c, NULL, 0, 1, T0), HALQA_ERR_LIMIT);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_quota(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct spool_quota q;
	struct circle c1, c2, c3;
	uint8_t a[SPOOL_KEY_LEN], guest[SPOOL_KEY_LEN];

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_bytes_per_day = 1000;
	lim.max_circles_per_device = 2;
	sp = open_with(&lim);
	new_device(sp, a);
	rnd(guest, sizeof guest);

	CHECK_OK(spool_device_charge(sp, a, 600, T0));
	CHECK_OK(spool_device_charge(sp, a, 400, T0 + 1));
	CHECK_RC(spool_device_charge(sp, a, 1, T0 + 2), HALQA_ERR_LIMIT);
	CHECK_RC(spool_device_charge(sp, a, 1001, T0 + 2), HALQA_ERR_LIMIT);
	CHECK_OK(spool_device_quota(sp, a, T0 + 2, &q));
	CHECK_INT_EQ(q.bytes_today, 1000);
	CHECK_INT_EQ(q.bytes_max, 1000);
	/* A new UTC day starts from zero. */
	CHECK_OK(spool_device_quota(sp, a, (T0 / DAY + 1) * DAY, &q));
	CHECK_INT_EQ(q.bytes_today, 0);
	CHECK_OK(spool_device_charge(sp, a, 10, (T0 / DAY + 1) * DAY));
	CHECK_OK(spool_device_quota(sp, a, (T0 / DAY + 1) * DAY + 5, &q));
	CHECK_INT_EQ(q.bytes_today, 10);
	CHECK_RC(spool_device_charge(sp, guest, 1, T0), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_device_quota(sp, guest, T0, &q), HALQA_ERR_NOT_FOUND);

	/* Circles created: a counter, with a limit. */
	new_circle(sp, a, &c1, 0);
	new_circle(sp, a, &c2, 0);
	rnd(c3.id, sizeof c3.id);
	rnd(&c3.cap[0][0], sizeof c3.cap);
	CHECK_RC(spool_circle_create(sp, a, c3.id, c3.cap[0], 0, T0), HALQA_ERR_LIMIT);
	CHECK_OK(spool_device_quota(sp, a, T0, &q));
	CHECK_INT_EQ(q.circles_created, 2);
	CHECK_INT_EQ(q.circles_max, 2);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_circle_create(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_circle_stats cs;
	struct spool_epoch_info info;
	uint8_t a[SPOOL_KEY_LEN], guest[SPOOL_KEY_LEN], other[SPOOL_ID_LEN];

	setup();
	sp = open_default();
	new_device(sp, a);
	rnd(guest, sizeof guest);
	new_circle(sp, a, &c, 3600);
	CHECK_RC(spool_circle_create(sp, a, c.id, c.cap[1], 0, T0), HALQA_ERR_EXISTS);
	rnd(other, sizeof other);
	CHECK_RC(spool_circle_create(sp, guest, other, c.cap[0], 0, T0), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_circle_create(sp, a, other, c.cap[0], 366 * DAY, T0), HALQA_ERR_ARG);
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.epoch, 0);
	CHECK_INT_EQ(cs.last_seq, 0);
	CHECK_INT_EQ(cs.max_age, 3600);
	CHECK_RC(spool_circle_stats(sp, other, &cs), HALQA_ERR_NOT_FOUND);
	CHECK_OK(spool_cap_lookup(sp, c.id, c.cap[0], &info));
	CHECK_INT_EQ(info.epoch, 0);
	CHECK_INT_EQ(info.first_seq, 1);
	CHECK_INT_EQ(info.last_seq, 0);
	CHECK_INT_EQ(info.closed, 0);
	CHECK_RC(spool_cap_lookup(sp, c.id, c.cap[1], &info), HALQA_ERR_DENIED);
	CHECK_RC(spool_cap_lookup(sp, other, c.cap[0], &info), HALQA_ERR_NOT_FOUND);
	/* max_age 0 takes the default. */
	rnd(other, sizeof other);
	CHECK_OK(spool_circle_create(sp, a, other, c.cap[2], 0, T0));
	CHECK_OK(spool_circle_stats(sp, other, &cs));
	CHECK_INT_EQ(cs.max_age, 30 * DAY);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_append_in_order(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_fetch f;
	struct spool_circle_stats cs;
	uint8_t a[SPOOL_KEY_LEN];
	char text[32];

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof text, "message %d", i);
		CHECK_INT_EQ(post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, text, T0 + (unsigned)i), i);
	}
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 5);
	CHECK_INT_EQ(f.more, 0);
	CHECK_INT_EQ(f.info.closed, 0);
	CHECK_INT_EQ(f.info.last_seq, 5);
	for (size_t i = 0; i < f.num_msgs; i++) {
		snprintf(text, sizeof text, "message %d", (int)i + 1);
		CHECK_INT_EQ(f.msgs[i].seq, i + 1);
		CHECK_INT_EQ(f.msgs[i].epoch, 0);
		CHECK_INT_EQ(f.msgs[i].kind, SPOOL_KIND_APPLICATION);
		CHECK_INT_EQ(f.msgs[i].received_at, T0 + H); /* T0 + 1..5, rounded up */
		CHECK_MEM_EQ(f.msgs[i].payload, f.msgs[i].payload_len, (const uint8_t *)text,
			     strlen(text));
	}
	spool_fetch_cleanup(&f);
	spool_fetch_cleanup(&f); /* safe twice */
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 5);
	CHECK_INT_EQ(cs.bytes, 5 * strlen("message 1"));
	CHECK_INT_EQ(cs.last_seq, 5);
	spool_close(sp);
	teardown();
}

static void test_append_args(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct circle c;
	struct spool_append_req req;
	struct spool_append_res res;
	uint8_t a[SPOOL_KEY_LEN], cmid[SPOOL_ID_LEN], big[101], unknown[SPOOL_ID_LEN];

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_payload = 100;
	sp = open_with(&lim);
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	rnd(cmid, sizeof cmid);
	memset(big, 'x', sizeof big);
	memset(&req, 0, sizeof req);
	req.circle_id = c.id;
	req.epoch = 0;
	req.kind = SPOOL_KIND_APPLICATION;
	req.cap_hash = c.cap[0];
	req.client_msg_id = cmid;
	req.payload = big;
	req.payload_len = 100;
	req.now = T0;

	req.payload_len = 101;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_TOO_LARGE);
	req.payload_len = 0;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_ARG);
	req.payload_len = 100;
	req.kind = 9;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_ARG);
	req.kind = SPOOL_KIND_COMMIT; /* a commit without next_cap_hash */
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_ARG);
	req.kind = SPOOL_KIND_PROPOSAL; /* next_cap_hash on a non-commit */
	req.next_cap_hash = c.cap[1];
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_ARG);
	req.next_cap_hash = NULL;
	req.client_msg_id = NULL;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_ARG);
	req.client_msg_id = cmid;
	rnd(unknown, sizeof unknown);
	req.circle_id = unknown;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_NOT_FOUND);
	req.circle_id = c.id;
	req.epoch = 1; /* no such epoch yet */
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_DENIED);
	req.epoch = 0;
	req.cap_hash = c.cap[1]; /* wrong cap */
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_DENIED);
	req.cap_hash = c.cap[0];
	CHECK_RC(spool_append(NULL, &req, &res), HALQA_ERR_ARG);
	CHECK_RC(spool_append(sp, NULL, &res), HALQA_ERR_ARG);
	CHECK_RC(spool_append(sp, &req, NULL), HALQA_ERR_ARG);
	CHECK_OK(spool_append(sp, &req, &res));
	CHECK_INT_EQ(res.seq, 1);
	CHECK_INT_EQ(res.duplicate, 0);
	CHECK_INT_EQ(res.closed_epoch, 0);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_idempotent_retry(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_append_req req;
	struct spool_append_res res, again;
	struct spool_circle_stats cs;
	uint8_t a[SPOOL_KEY_LEN], cmid[SPOOL_ID_LEN], commit_id[SPOOL_ID_LEN];

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "first", T0);

	rnd(cmid, sizeof cmid);
	memset(&req, 0, sizeof req);
	req.circle_id = c.id;
	req.kind = SPOOL_KIND_APPLICATION;
	req.cap_hash = c.cap[0];
	req.client_msg_id = cmid;
	req.payload = (const uint8_t *)"hello";
	req.payload_len = 5;
	req.now = T0;
	CHECK_OK(spool_append(sp, &req, &res));
	CHECK_INT_EQ(res.seq, 2);
	CHECK_OK(spool_commit_turn(sp));
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "third", T0);

	CHECK_OK(spool_append(sp, &req, &again));
	CHECK_INT_EQ(again.seq, 2);
	CHECK_INT_EQ(again.duplicate, 1);
	/* Someone else presenting the id with another cap learns nothing. */
	req.cap_hash = c.cap[3];
	CHECK_RC(spool_append(sp, &req, &again), HALQA_ERR_DENIED);
	req.cap_hash = c.cap[0];
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 3);

	/* A commit whose reply was lost: its retry succeeds although it closed the epoch. */
	rnd(commit_id, sizeof commit_id);
	req.client_msg_id = commit_id;
	req.kind = SPOOL_KIND_COMMIT;
	req.next_cap_hash = c.cap[1];
	CHECK_OK(spool_append(sp, &req, &res));
	CHECK_INT_EQ(res.seq, 4);
	CHECK_INT_EQ(res.closed_epoch, 1);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_append(sp, &req, &again));
	CHECK_INT_EQ(again.seq, 4);
	CHECK_INT_EQ(again.duplicate, 1);
	CHECK_INT_EQ(again.closed_epoch, 0);
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 4);
	CHECK_INT_EQ(cs.epoch, 1);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_commit_epochs(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_append_res res;
	struct spool_epoch_info info;
	struct spool_fetch f;
	uint8_t a[SPOOL_KEY_LEN], outsider[SPOOL_HASH_LEN];
	struct spool_append_req req;
	uint8_t cmid[SPOOL_ID_LEN];

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	rnd(outsider, sizeof outsider);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "e0 one", T0);
	post_ok(sp, &c, 0, SPOOL_KIND_PROPOSAL, "e0 proposal", T0);
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_COMMIT, c.cap[0], "commit 0->1", T0, &res));
	CHECK_INT_EQ(res.seq, 3);
	CHECK_INT_EQ(res.epoch, 0);
	CHECK_INT_EQ(res.closed_epoch, 1);
	CHECK_OK(spool_commit_turn(sp));

	/* A second commit for epoch 0, and an application message of epoch 0: stale. */
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_COMMIT, c.cap[0], "racing commit", T0, &res),
		 HALQA_ERR_STALE);
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "late", T0, &res),
		 HALQA_ERR_STALE);
	/* An outsider naming epoch 0 is refused, not told it is stale. */
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_APPLICATION, outsider, "x", T0, &res),
		 HALQA_ERR_DENIED);
	/* The old cap cannot post into the new epoch. */
	CHECK_RC(post(sp, &c, 1, SPOOL_KIND_APPLICATION, c.cap[0], "x", T0, &res),
		 HALQA_ERR_DENIED);

	post_ok(sp, &c, 1, SPOOL_KIND_APPLICATION, "e1 one", T0);
	post_ok(sp, &c, 1, SPOOL_KIND_APPLICATION, "e1 two", T0);

	/* The old cap reads its own closed range, commit included, nothing after. */
	CHECK_OK(spool_cap_lookup(sp, c.id, c.cap[0], &info));
	CHECK_INT_EQ(info.closed, 1);
	CHECK_INT_EQ(info.first_seq, 1);
	CHECK_INT_EQ(info.last_seq, 3);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 1, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 3);
	if (f.num_msgs == 3) {
		CHECK_INT_EQ(f.msgs[2].seq, 3);
		CHECK_INT_EQ(f.msgs[2].kind, SPOOL_KIND_COMMIT);
	}
	CHECK_INT_EQ(f.info.closed, 1);
	spool_fetch_cleanup(&f);
	/* A removed member (only cap 0) asking past its range gets nothing of epoch 1. */
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 4, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 0);
	CHECK_INT_EQ(f.info.closed, 1);
	spool_fetch_cleanup(&f);

	/* The new cap reads only from the next seq on. */
	CHECK_OK(spool_cap_lookup(sp, c.id, c.cap[1], &info));
	CHECK_INT_EQ(info.epoch, 1);
	CHECK_INT_EQ(info.closed, 0);
	CHECK_INT_EQ(info.first_seq, 4);
	CHECK_INT_EQ(info.last_seq, 5);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[1], 1, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 2);
	if (f.num_msgs == 2) {
		CHECK_INT_EQ(f.msgs[0].seq, 4);
		CHECK_INT_EQ(f.msgs[0].epoch, 1);
		CHECK_MEM_EQ(f.msgs[1].payload, f.msgs[1].payload_len, (const uint8_t *)"e1 two", 6);
	}
	spool_fetch_cleanup(&f);
	CHECK_RC(spool_fetch(sp, c.id, outsider, 1, 0, &f), HALQA_ERR_DENIED);

	/* A commit must not register a cap hash that already names an epoch. */
	rnd(cmid, sizeof cmid);
	memset(&req, 0, sizeof req);
	req.circle_id = c.id;
	req.epoch = 1;
	req.kind = SPOOL_KIND_COMMIT;
	req.cap_hash = c.cap[1];
	req.next_cap_hash = c.cap[0];
	req.client_msg_id = cmid;
	req.payload = (const uint8_t *)"commit";
	req.payload_len = 6;
	req.now = T0;
	CHECK_RC(spool_append(sp, &req, &res), HALQA_ERR_INVALID);

	/* Epoch 1 -> 2, then the epoch-1 cap is closed too. */
	CHECK_OK(post(sp, &c, 1, SPOOL_KIND_COMMIT, c.cap[1], "commit 1->2", T0, &res));
	CHECK_INT_EQ(res.seq, 6);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_cap_lookup(sp, c.id, c.cap[2], &info));
	CHECK_INT_EQ(info.first_seq, 7);
	CHECK_INT_EQ(info.last_seq, 6);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[2], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 0);
	CHECK_INT_EQ(f.info.closed, 0);
	spool_fetch_cleanup(&f);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[1], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 3);
	CHECK_INT_EQ(f.info.closed, 1);
	CHECK_INT_EQ(f.info.last_seq, 6);
	spool_fetch_cleanup(&f);
	spool_close(sp);
	teardown();
}

static void test_fetch_windows(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct circle c;
	struct spool_fetch f;
	uint8_t a[SPOOL_KEY_LEN];
	char big[121];
	uint8_t unknown[SPOOL_ID_LEN];

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_fetch_count = 4;
	lim.max_fetch_bytes = 250;
	sp = open_with(&lim);
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	for (int i = 0; i < 10; i++) {
		post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "0123456789", T0);
	}
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 1, 3, &f));
	CHECK_INT_EQ(f.num_msgs, 3);
	CHECK_INT_EQ(f.more, 1);
	spool_fetch_cleanup(&f);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 4, 100, &f)); /* capped at max_fetch_count */
	CHECK_INT_EQ(f.num_msgs, 4);
	if (f.num_msgs == 4) {
		CHECK_INT_EQ(f.msgs[0].seq, 4);
		CHECK_INT_EQ(f.msgs[3].seq, 7);
	}
	CHECK_INT_EQ(f.more, 1);
	spool_fetch_cleanup(&f);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 8, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 3);
	CHECK_INT_EQ(f.more, 0);
	spool_fetch_cleanup(&f);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 11, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 0);
	CHECK_INT_EQ(f.more, 0);
	CHECK_INT_EQ(f.info.last_seq, 10);
	spool_fetch_cleanup(&f);

	/* The byte bound: 120-byte payloads, 250 bytes per answer -> 2 at a time. */
	memset(big, 'b', 120);
	big[120] = '\0';
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, big, T0);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, big, T0);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, big, T0);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 11, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 2);
	CHECK_INT_EQ(f.more, 1);
	spool_fetch_cleanup(&f);
	rnd(unknown, sizeof unknown);
	CHECK_RC(spool_fetch(sp, unknown, c.cap[0], 0, 0, &f), HALQA_ERR_NOT_FOUND);
	spool_close(sp);

	/* A single message above the byte bound is still handed out, alone. */
	memset(&lim, 0, sizeof lim);
	lim.max_fetch_bytes = 100;
	sp = open_with(&lim);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 11, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 1);
	CHECK_INT_EQ(f.more, 1);
	spool_fetch_cleanup(&f);
	spool_close(sp);
	teardown();
}

static void test_cursors_and_ack_deletion(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_sweep_res sw;
	struct spool_circle_stats cs;
	struct spool_fetch f;
	uint8_t a[SPOOL_KEY_LEN], cur1[SPOOL_ID_LEN], cur2[SPOOL_ID_LEN], cur3[SPOOL_ID_LEN];
	uint8_t unknown[SPOOL_ID_LEN];

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	rnd(cur1, sizeof cur1);
	rnd(cur2, sizeof cur2);
	rnd(cur3, sizeof cur3);
	for (int i = 0; i < 6; i++) {
		post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "e0", T0);
	}
	CHECK_INT_EQ(post_ok(sp, &c, 0, SPOOL_KIND_COMMIT, "commit", T0), 7);
	for (int i = 0; i < 3; i++) {
		post_ok(sp, &c, 1, SPOOL_KIND_APPLICATION, "e1", T0);
	}

	/* No cursor at all: nothing is deleted before max_age. */
	CHECK_OK(spool_sweep(sp, T0 + 10, &sw));
	CHECK_INT_EQ(sw.acked_deleted, 0);
	CHECK_INT_EQ(sw.aged_deleted, 0);

	/* The cap must open the epoch holding seq. */
	CHECK_RC(spool_cursor_ack(sp, c.id, cur1, c.cap[1], 5, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_cursor_ack(sp, c.id, cur1, c.cap[0], 8, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_cursor_ack(sp, c.id, cur1, c.cap[1], 11, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_cursor_ack(sp, c.id, cur1, c.cap[5], 1, T0), HALQA_ERR_DENIED);
	rnd(unknown, sizeof unknown);
	CHECK_RC(spool_cursor_ack(sp, unknown, cur1, c.cap[0], 1, T0), HALQA_ERR_NOT_FOUND);
	/* A joiner of epoch 1 may acknowledge "everything before my epoch" (seq 7 = first - 1). */
	CHECK_OK(spool_cursor_ack(sp, c.id, cur3, c.cap[1], 7, T0));

	CHECK_OK(spool_cursor_ack(sp, c.id, cur1, c.cap[0], 5, T0));
	CHECK_OK(spool_cursor_ack(sp, c.id, cur2, c.cap[0], 3, T0));
	CHECK_OK(spool_sweep(sp, T0 + 10, &sw));
	CHECK_INT_EQ(sw.acked_deleted, 3);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 4);
	if (f.num_msgs > 0) {
		CHECK_INT_EQ(f.msgs[0].seq, 4);
	}
	spool_fetch_cleanup(&f);

	/* A cursor never moves back. */
	CHECK_OK(spool_cursor_ack(sp, c.id, cur2, c.cap[0], 1, T0));
	CHECK_OK(spool_cursor_ack(sp, c.id, cur2, c.cap[1], 10, T0));
	CHECK_OK(spool_cursor_ack(sp, c.id, cur2, c.cap[0], 2, T0));
	CHECK_OK(spool_cursor_ack(sp, c.id, cur1, c.cap[1], 9, T0));
	CHECK_OK(spool_sweep(sp, T0 + 10, &sw));
	CHECK_INT_EQ(sw.acked_deleted, 4); /* up to 7: cur3 still holds seq 8 and on */
	CHECK_OK(spool_cursor_ack(sp, c.id, cur3, c.cap[1], 10, T0));
	CHECK_OK(spool_sweep(sp, T0 + 10, &sw));
	CHECK_INT_EQ(sw.acked_deleted, 2); /* 8, 9: cur1 stopped at 9 */
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 1);
	CHECK_INT_EQ(cs.bytes, 2);
	CHECK_INT_EQ(cs.cursors, 3);
	CHECK_INT_EQ(cs.last_seq, 10);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_cursor_limit(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct circle c;
	uint8_t a[SPOOL_KEY_LEN], cur[SPOOL_ID_LEN];

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_cursors_per_circle = 2;
	sp = open_with(&lim);
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	for (int i = 0; i < 2; i++) {
		rnd(cur, sizeof cur);
		CHECK_OK(spool_cursor_ack(sp, c.id, cur, c.cap[0], 0, T0));
	}
	CHECK_OK(spool_cursor_ack(sp, c.id, cur, c.cap[0], 0, T0 + 1)); /* existing: fine */
	rnd(cur, sizeof cur);
	CHECK_RC(spool_cursor_ack(sp, c.id, cur, c.cap[0], 0, T0), HALQA_ERR_LIMIT);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_max_age_and_cursor_expiry(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_sweep_res sw;
	struct spool_circle_stats cs;
	uint8_t a[SPOOL_KEY_LEN], old_cur[SPOOL_ID_LEN], new_cur[SPOOL_ID_LEN];
	const uint64_t age = 10 * H;

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, age);
	rnd(old_cur, sizeof old_cur);
	rnd(new_cur, sizeof new_cur);
	/* A cursor that stops acknowledging must not hold messages forever. */
	CHECK_OK(spool_cursor_ack(sp, c.id, old_cur, c.cap[0], 0, T0));
	for (int i = 0; i < 3; i++) {
		post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "early", T0 + 1); /* stored T0 + H */
	}
	for (int i = 0; i < 2; i++) {
		post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "later", T0 + 5 * H + 1); /* T0 + 6H */
	}
	CHECK_OK(spool_cursor_ack(sp, c.id, new_cur, c.cap[0], 4, T0 + 6 * H + 1)); /* T0 + 7H */
	/* At T0 + 6H + 1 old_cur is live and holds everything. */
	CHECK_OK(spool_sweep(sp, T0 + 6 * H + 1, &sw));
	CHECK_INT_EQ(sw.acked_deleted, 0);
	CHECK_INT_EQ(sw.cursors_expired, 0);
	/* At T0 + 10H + 1 old_cur (acked at T0) is dead; new_cur lets 1..4 go. */
	CHECK_OK(spool_sweep(sp, T0 + 10 * H + 1, &sw));
	CHECK_INT_EQ(sw.cursors_expired, 1);
	CHECK_INT_EQ(sw.acked_deleted, 4);
	CHECK_INT_EQ(sw.aged_deleted, 0);
	/* Message 5 is stored as received at T0 + 6H: kept until T0 + 16H, then aged out. */
	CHECK_OK(spool_sweep(sp, T0 + 16 * H, &sw));
	CHECK_INT_EQ(sw.aged_deleted, 0);
	CHECK_OK(spool_sweep(sp, T0 + 16 * H + 1, &sw));
	CHECK_INT_EQ(sw.aged_deleted, 1);
	CHECK_INT_EQ(sw.cursors_expired, 0);
	CHECK_OK(spool_sweep(sp, T0 + 17 * H + 1, &sw));
	CHECK_INT_EQ(sw.cursors_expired, 1); /* new_cur stored as acked at T0 + 7H */
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 0);
	CHECK_INT_EQ(cs.bytes, 0);
	CHECK_INT_EQ(cs.cursors, 0);
	CHECK_INT_EQ(cs.last_seq, 5);
	CHECK_OK(spool_commit_turn(sp));
	/* Numbering goes on after deletion. */
	CHECK_INT_EQ(post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "next", T0 + 18 * H), 6);
	spool_close(sp);
	teardown();
}

static void test_sweep_budget(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct circle c[3];
	struct spool_sweep_res sw;
	struct spool_stats stats;
	uint8_t a[SPOOL_KEY_LEN], cur[SPOOL_ID_LEN];
	uint64_t total = 0;
	int calls = 0;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.sweep_budget = 10;
	sp = open_with(&lim);
	new_device(sp, a);
	for (int k = 0; k < 3; k++) {
		new_circle(sp, a, &c[k], 0);
		for (int i = 0; i < 20; i++) {
			struct spool_append_res res;

			CHECK_OK(post(sp, &c[k], 0, SPOOL_KIND_APPLICATION, c[k].cap[0], "m", T0,
				      &res));
		}
		rnd(cur, sizeof cur);
		CHECK_OK(spool_cursor_ack(sp, c[k].id, cur, c[k].cap[0], 20, T0));
	}
	CHECK_OK(spool_commit_turn(sp));
	do {
		CHECK_OK(spool_sweep(sp, T0 + 1, &sw));
		CHECK(sw.acked_deleted <= 10);
		total += sw.acked_deleted;
		CHECK_OK(spool_commit_turn(sp));
	} while ((sw.more || sw.acked_deleted > 0) && ++calls < 50);
	CHECK_INT_EQ(total, 60);
	CHECK(calls >= 6);
	CHECK_OK(spool_stats(sp, &stats));
	CHECK_INT_EQ(stats.messages, 0);
	spool_close(sp);
	teardown();
}

static void test_mailbox(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct spool_items it;
	struct spool_sweep_res sw;
	struct spool_stats stats;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], owner[SPOOL_KEY_LEN];
	uint8_t box[SPOOL_ID_LEN], box2[SPOOL_ID_LEN], big[65];
	uint64_t id1 = 0, id2 = 0, id3 = 0, ids[3];
	size_t deleted = 0;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_mailbox_item = 64;
	lim.max_mailbox_items = 3;
	lim.max_mailbox_bytes = 80;
	lim.max_mailboxes_per_device = 1;
	lim.mailbox_max_age = 10 * H;
	sp = open_with(&lim);
	new_device(sp, a);
	new_device(sp, b);
	rnd(box, sizeof box);
	rnd(box2, sizeof box2);
	memset(big, 'w', sizeof big);

	CHECK_RC(spool_mailbox_put(sp, box, (const uint8_t *)"welcome", 7, T0, &id1),
		 HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_mailbox_owner(sp, box, owner), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_mailbox_fetch(sp, box, a, 0, 0, &it), HALQA_ERR_NOT_FOUND);
	CHECK_OK(spool_mailbox_ensure(sp, box, a, T0));
	CHECK_OK(spool_mailbox_ensure(sp, box, a, T0)); /* again: fine */
	CHECK_RC(spool_mailbox_ensure(sp, box, b, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_mailbox_ensure(sp, box2, a, T0), HALQA_ERR_LIMIT);
	CHECK_OK(spool_mailbox_owner(sp, box, owner));
	CHECK_MEM_EQ(owner, sizeof owner, a, sizeof a);

	CHECK_OK(spool_mailbox_fetch(sp, box, a, 0, 0, &it));
	CHECK_INT_EQ(it.num_items, 0);
	spool_items_cleanup(&it);

	CHECK_RC(spool_mailbox_put(sp, box, big, 65, T0, &id1), HALQA_ERR_TOO_LARGE);
	CHECK_RC(spool_mailbox_put(sp, box, big, 0, T0, &id1), HALQA_ERR_ARG);
	CHECK_OK(spool_mailbox_put(sp, box, (const uint8_t *)"welcome 1", 9, T0, &id1));
	CHECK_OK(spool_mailbox_put(sp, box, (const uint8_t *)"welcome 2", 9, T0 + 1, &id2));
	CHECK(id2 > id1);
	CHECK_RC(spool_mailbox_put(sp, box, big, 64, T0, &id3), HALQA_ERR_LIMIT); /* bytes */
	CHECK_INT_EQ(id3, 0);
	CHECK_OK(spool_mailbox_put(sp, box, big, 60, T0 + 1, &id3));
	CHECK_RC(spool_mailbox_put(sp, box, big, 1, T0, NULL), HALQA_ERR_LIMIT); /* count */

	CHECK_RC(spool_mailbox_fetch(sp, box, b, 0, 0, &it), HALQA_ERR_DENIED);
	CHECK_OK(spool_mailbox_fetch(sp, box, a, 0, 2, &it));
	CHECK_INT_EQ(it.num_items, 2);
	CHECK_INT_EQ(it.more, 1);
	if (it.num_items == 2) {
		CHECK_INT_EQ(it.items[0].id, id1);
		CHECK_INT_EQ(it.items[1].received_at, T0 + H); /* T0 + 1, rounded up */
		CHECK_MEM_EQ(it.items[1].data, it.items[1].data_len, (const uint8_t *)"welcome 2", 9);
	}
	spool_items_cleanup(&it);
	CHECK_OK(spool_mailbox_fetch(sp, box, a, id2, 0, &it));
	CHECK_INT_EQ(it.num_items, 1);
	CHECK_INT_EQ(it.more, 0);
	spool_items_cleanup(&it);

	ids[0] = id1;
	ids[1] = id1 + 1000; /* not there: ignored */
	ids[2] = id1;
	CHECK_RC(spool_mailbox_delete(sp, box, b, ids, 3, &deleted), HALQA_ERR_DENIED);
	CHECK_OK(spool_mailbox_delete(sp, box, a, ids, 3, &deleted));
	CHECK_INT_EQ(deleted, 1);
	CHECK_RC(spool_mailbox_delete(sp, box2, a, ids, 1, &deleted), HALQA_ERR_NOT_FOUND);
	CHECK_OK(spool_stats(sp, &stats));
	CHECK_INT_EQ(stats.mailbox_items, 2);
	CHECK_INT_EQ(stats.mailbox_bytes, 69);
	/* Space freed by a delete can be used again. */
	CHECK_OK(spool_mailbox_put(sp, box, (const uint8_t *)"w3", 2, T0 + 1, NULL));

	/* Items older than mailbox_max_age go. */
	CHECK_OK(spool_sweep(sp, T0 + 11 * H, &sw));
	CHECK_INT_EQ(sw.mailbox_deleted, 0); /* all three stored as received at T0 + H */
	CHECK_OK(spool_sweep(sp, T0 + 11 * H + 1, &sw));
	CHECK_INT_EQ(sw.mailbox_deleted, 3);
	CHECK_OK(spool_stats(sp, &stats));
	CHECK_INT_EQ(stats.mailbox_items, 0);
	CHECK_INT_EQ(stats.mailbox_bytes, 0);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_keypackages(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct spool_blob pk[3], lr, lr2, bigb;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], dir[SPOOL_ID_LEN], dir2[SPOOL_ID_LEN];
	uint8_t big[129], *got = NULL;
	size_t got_len = 0;
	int is_lr = -1, has_lr = -1;
	uint32_t count = 99;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_keypackage = 128;
	lim.max_keypackages = 3;
	lim.max_kp_dirs_per_device = 1;
	sp = open_with(&lim);
	new_device(sp, a);
	new_device(sp, b);
	rnd(dir, sizeof dir);
	rnd(dir2, sizeof dir2);
	memset(big, 'k', sizeof big);
	pk[0] = (struct spool_blob){(const uint8_t *)"kp-one", 6};
	pk[1] = (struct spool_blob){(const uint8_t *)"kp-two", 6};
	pk[2] = (struct spool_blob){(const uint8_t *)"kp-three", 8};
	lr = (struct spool_blob){(const uint8_t *)"last-resort", 11};
	lr2 = (struct spool_blob){(const uint8_t *)"last-resort-2", 13};
	bigb = (struct spool_blob){big, sizeof big};

	CHECK_RC(spool_kp_claim(sp, dir, &got, &got_len, &is_lr), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_kp_count(sp, dir, a, &count, &has_lr), HALQA_ERR_NOT_FOUND);
	CHECK_RC(spool_kp_publish(sp, dir, a, &bigb, 1, NULL, T0), HALQA_ERR_TOO_LARGE);
	CHECK_RC(spool_kp_publish(sp, dir, a, pk, 2, &bigb, T0), HALQA_ERR_TOO_LARGE);
	CHECK_OK(spool_kp_publish(sp, dir, a, pk, 2, &lr, T0));
	CHECK_RC(spool_kp_publish(sp, dir, b, pk, 1, NULL, T0), HALQA_ERR_DENIED);
	CHECK_RC(spool_kp_publish(sp, dir2, a, pk, 1, NULL, T0), HALQA_ERR_LIMIT); /* dirs */
	CHECK_RC(spool_kp_publish(sp, dir, a, pk, 2, NULL, T0), HALQA_ERR_LIMIT);  /* count */
	CHECK_OK(spool_kp_count(sp, dir, a, &count, &has_lr));
	CHECK_INT_EQ(count, 2);
	CHECK_INT_EQ(has_lr, 1);
	CHECK_RC(spool_kp_count(sp, dir, b, &count, &has_lr), HALQA_ERR_DENIED);
	CHECK_OK(spool_commit_turn(sp));

	/* One-time packages first, oldest first, each once. */
	CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
	CHECK_MEM_EQ(got, got_len, (const uint8_t *)"kp-one", 6);
	CHECK_INT_EQ(is_lr, 0);
	free(got);
	CHECK_OK(spool_kp_publish(sp, dir, a, &pk[2], 1, NULL, T0));
	CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
	CHECK_MEM_EQ(got, got_len, (const uint8_t *)"kp-two", 6);
	free(got);
	CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
	CHECK_MEM_EQ(got, got_len, (const uint8_t *)"kp-three", 8);
	CHECK_INT_EQ(is_lr, 0);
	free(got);
	/* Then the last resort, kept. */
	for (int i = 0; i < 2; i++) {
		CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
		CHECK_MEM_EQ(got, got_len, (const uint8_t *)"last-resort", 11);
		CHECK_INT_EQ(is_lr, 1);
		free(got);
	}
	CHECK_OK(spool_kp_count(sp, dir, a, &count, &has_lr));
	CHECK_INT_EQ(count, 0);
	/* Replacing the last resort. */
	CHECK_OK(spool_kp_publish(sp, dir, a, NULL, 0, &lr2, T0));
	CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
	CHECK_MEM_EQ(got, got_len, (const uint8_t *)"last-resort-2", 13);
	free(got);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);

	/* A directory without a last resort runs dry. */
	teardown();
	setup();
	sp = open_default();
	CHECK_OK(spool_kp_publish(sp, dir, a, pk, 1, NULL, T0));
	CHECK_OK(spool_kp_claim(sp, dir, &got, &got_len, &is_lr));
	free(got);
	CHECK_RC(spool_kp_claim(sp, dir, &got, &got_len, &is_lr), HALQA_ERR_NOT_FOUND);
	CHECK(got == NULL);
	CHECK_OK(spool_kp_count(sp, dir, a, &count, NULL));
	CHECK_INT_EQ(count, 0);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

static void test_durability_reopen(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_fetch f;
	struct spool_append_res res;
	uint8_t a[SPOOL_KEY_LEN];
	int status = -1;

	setup();
	sp = open_default();
	CHECK(!spool_turn_open(sp));
	CHECK_OK(spool_begin_turn(sp));
	CHECK(spool_turn_open(sp));
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "kept", T0, &res));
	CHECK_OK(spool_commit_turn(sp));
	CHECK(!spool_turn_open(sp));
	CHECK_OK(spool_commit_turn(sp)); /* nothing open: a no-op */
	/* A turn never committed: closing rolls it back. */
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "dropped", T0, &res));
	CHECK(spool_turn_open(sp));
	spool_close(sp);

	sp = open_default();
	CHECK_OK(spool_device_status(sp, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_REGISTERED);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 1);
	if (f.num_msgs == 1) {
		CHECK_MEM_EQ(f.msgs[0].payload, f.msgs[0].payload_len, (const uint8_t *)"kept", 4);
	}
	CHECK_INT_EQ(f.info.last_seq, 1);
	spool_fetch_cleanup(&f);
	/* The dropped message's seq is given again. */
	CHECK_INT_EQ(post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "again", T0), 2);
	spool_close(sp);
	teardown();
}

/*
 * Checkpoints on the helper thread (spool_ckpt.c): 36 MiB through the WAL
 * in turns. Whatever the helper managed meanwhile, a COMMIT past 8,000 WAL
 * pages checkpoints itself, so the main file must hold most of it before
 * close, and everything must be there, in order, after reopening.
 */
static void test_checkpoint_helper(void)
{
	enum { TURNS = 200, PER_TURN = 60, LEN = 3000 };
	struct spool *sp;
	struct circle c;
	struct spool_fetch f;
	struct stat st;
	uint8_t a[SPOOL_KEY_LEN];
	char *text = malloc(LEN + 1);

	CHECK(text != NULL);
	if (text == NULL) {
		return;
	}
	memset(text, 'x', LEN);
	text[LEN] = '\0';
	setup();
	sp = open_default();
	CHECK_RC(spool_checkpoints_start(NULL, path), HALQA_ERR_ARG);
	CHECK_RC(spool_checkpoints_start(sp, NULL), HALQA_ERR_ARG);
	CHECK_OK(spool_checkpoints_start(sp, path));
	CHECK_RC(spool_checkpoints_start(sp, path), HALQA_ERR_ARG); /* already started */
	CHECK_OK(spool_begin_turn(sp));
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	CHECK_OK(spool_commit_turn(sp));
	for (int t = 0; t < TURNS; t++) {
		for (int i = 0; i < PER_TURN; i++) {
			struct spool_append_res res;

			snprintf(text, 16, "%08d", t * PER_TURN + i + 1);
			text[8] = 'x';
			CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], text, T0, &res));
		}
		CHECK_OK(spool_commit_turn(sp));
	}
	CHECK_INT_EQ(stat(path, &st), 0);
	CHECK((uint64_t)st.st_size >= 16u * 1024 * 1024);
	spool_checkpoints_stop(sp);
	spool_checkpoints_stop(sp); /* a no-op once stopped */
	CHECK_OK(spool_checkpoints_start(sp, path)); /* and again, closed by spool_close */
	spool_close(sp);

	sp = open_default();
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 1, &f));
	CHECK_INT_EQ(f.info.last_seq, TURNS * PER_TURN);
	spool_fetch_cleanup(&f);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], TURNS * PER_TURN, 1, &f));
	CHECK_INT_EQ(f.num_msgs, 1);
	if (f.num_msgs == 1) {
		snprintf(text, 16, "%08d", TURNS * PER_TURN);
		text[8] = 'x';
		CHECK_INT_EQ(f.msgs[0].seq, TURNS * PER_TURN);
		CHECK_MEM_EQ(f.msgs[0].payload, f.msgs[0].payload_len, (const uint8_t *)text, LEN);
	}
	spool_fetch_cleanup(&f);
	spool_close(sp);
	teardown();
	free(text);
}

/* A process killed with a turn open: committed turns survive, the open one does not. */
static void test_durability_crash(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_fetch f;
	uint8_t a[SPOOL_KEY_LEN];
	pid_t pid;
	int wstatus = 0;

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct spool *child = NULL;
		struct spool_append_res res;

		if (spool_open(&child, path, NULL) != HALQA_OK) {
			_exit(2);
		}
		for (int i = 0; i < 50; i++) {
			if (post(child, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "acked", T0,
				 &res) != HALQA_OK) {
				_exit(3);
			}
		}
		if (spool_commit_turn(child) != HALQA_OK) {
			_exit(4);
		}
		for (int i = 0; i < 50; i++) {
			if (post(child, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "unacked", T0,
				 &res) != HALQA_OK) {
				_exit(5);
			}
		}
		raise(SIGKILL);
		_exit(6);
	}
	CHECK_INT_EQ(waitpid(pid, &wstatus, 0), pid);
	CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);

	sp = open_default();
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 50);
	CHECK_INT_EQ(f.info.last_seq, 50);
	for (size_t i = 0; i < f.num_msgs; i++) {
		CHECK_INT_EQ(f.msgs[i].seq, i + 1);
		CHECK_MEM_EQ(f.msgs[i].payload, f.msgs[i].payload_len, (const uint8_t *)"acked", 5);
	}
	spool_fetch_cleanup(&f);
	spool_close(sp);
	teardown();
}

/* A failed commit rolls back the whole turn and says so; the next turn works. */
static void test_commit_failure(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_fetch f;
	struct spool_append_res res;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN];
	int status = -1;

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	CHECK_OK(spool_commit_turn(sp));

	spool_inject_commit_failure(sp, 1);
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "lost", T0, &res));
	CHECK_INT_EQ(res.seq, 1);
	rnd(b, sizeof b);
	CHECK_OK(spool_device_register(sp, b, NULL, 0, 1, T0));
	CHECK_RC(spool_commit_turn(sp), HALQA_ERR_IO);
	CHECK(!spool_turn_open(sp));
	CHECK_OK(spool_device_status(sp, b, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_UNKNOWN);
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 0);
	CHECK_INT_EQ(f.info.last_seq, 0);
	spool_fetch_cleanup(&f);

	CHECK_INT_EQ(post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "stored", T0), 1);
	spool_close(sp);
	sp = open_default();
	CHECK_OK(spool_fetch(sp, c.id, c.cap[0], 0, 0, &f));
	CHECK_INT_EQ(f.num_msgs, 1);
	spool_fetch_cleanup(&f);
	spool_close(sp);
	teardown();
}

/* A refused operation inside a turn leaves no trace; its neighbours are kept. */
static void test_operation_isolation(void)
{
	struct spool *sp;
	struct spool_limits lim;
	struct circle c;
	struct spool_append_res res;
	struct spool_circle_stats cs;
	uint8_t a[SPOOL_KEY_LEN], dir[SPOOL_ID_LEN];
	struct spool_blob pk[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}};
	uint32_t count = 9;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.max_keypackages = 3;
	sp = open_with(&lim);
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	rnd(dir, sizeof dir);
	CHECK_OK(spool_commit_turn(sp));

	CHECK_OK(spool_begin_turn(sp));
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "one", T0, &res));
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[4], "refused", T0, &res),
		 HALQA_ERR_DENIED);
	CHECK_OK(spool_kp_publish(sp, dir, a, pk, 2, NULL, T0));
	/* This publish creates nothing: it fails on the count after passing the owner check. */
	CHECK_RC(spool_kp_publish(sp, dir, a, pk, 2, NULL, T0), HALQA_ERR_LIMIT);
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "two", T0, &res));
	CHECK_INT_EQ(res.seq, 2);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 2);
	CHECK_OK(spool_kp_count(sp, dir, a, &count, NULL));
	CHECK_INT_EQ(count, 2);
	spool_close(sp);
	teardown();
}

/*
 * A storage error after an operation has written some rows must not leave
 * half of it in the turn: the whole turn fails. A trigger added behind the
 * spool's back makes the second write of a commit fail.
 */
static void test_partial_failure_fails_turn(void)
{
	struct spool *sp;
	struct circle c;
	struct spool_append_res res;
	struct spool_circle_stats cs;
	struct spool_epoch_info info;

	setup();
	sp = open_default();
	{
		uint8_t a[SPOOL_KEY_LEN];

		new_device(sp, a);
		new_circle(sp, a, &c, 0);
	}
	CHECK_OK(spool_commit_turn(sp));
	raw_exec("CREATE TRIGGER break_epochs BEFORE INSERT ON epochs"
		 " BEGIN SELECT RAISE(ABORT, 'injected'); END;");

	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "first", T0, &res));
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_COMMIT, c.cap[0], "commit", T0, &res), HALQA_ERR_IO);
	/* The turn is spoiled: nothing more is accepted into it, and it does not commit. */
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "after", T0, &res),
		 HALQA_ERR_IO);
	CHECK_RC(spool_commit_turn(sp), HALQA_ERR_IO);
	CHECK(!spool_turn_open(sp));
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 0);
	CHECK_INT_EQ(cs.last_seq, 0);
	CHECK_OK(spool_cap_lookup(sp, c.id, c.cap[0], &info));
	CHECK_INT_EQ(info.closed, 0);

	/* A refused request (no rows written yet) does not spoil its turn. */
	CHECK_OK(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[0], "kept", T0, &res));
	CHECK_RC(post(sp, &c, 0, SPOOL_KIND_APPLICATION, c.cap[3], "refused", T0, &res),
		 HALQA_ERR_DENIED);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_circle_stats(sp, c.id, &cs));
	CHECK_INT_EQ(cs.messages, 1);
	spool_close(sp);
	teardown();
}

static void test_stats(void)
{
	struct spool *sp;
	struct circle c1, c2;
	struct spool_stats st;
	uint8_t a[SPOOL_KEY_LEN], b[SPOOL_KEY_LEN], box[SPOOL_ID_LEN], dir[SPOOL_ID_LEN];
	struct spool_blob pk = {(const uint8_t *)"kp", 2};

	setup();
	sp = open_default();
	CHECK_OK(spool_stats(sp, &st));
	CHECK_INT_EQ(st.devices, 0);
	CHECK_INT_EQ(st.messages, 0);
	new_device(sp, a);
	new_device(sp, b);
	CHECK_OK(spool_device_ban(sp, b, 1, T0));
	CHECK_OK(spool_invite_create(sp, NULL, (const uint8_t *)"code", 4, 1, 0, T0));
	new_circle(sp, a, &c1, 0);
	new_circle(sp, a, &c2, 0);
	post_ok(sp, &c1, 0, SPOOL_KIND_APPLICATION, "12345", T0);
	post_ok(sp, &c2, 0, SPOOL_KIND_APPLICATION, "123", T0);
	post_ok(sp, &c2, 0, SPOOL_KIND_APPLICATION, "1", T0);
	rnd(box, sizeof box);
	rnd(dir, sizeof dir);
	CHECK_OK(spool_mailbox_ensure(sp, box, a, T0));
	CHECK_OK(spool_mailbox_put(sp, box, (const uint8_t *)"wel", 3, T0, NULL));
	CHECK_OK(spool_kp_publish(sp, dir, a, &pk, 1, NULL, T0));
	CHECK_OK(spool_stats(sp, &st));
	CHECK_INT_EQ(st.devices, 1);
	CHECK_INT_EQ(st.banned, 1);
	CHECK_INT_EQ(st.invites, 1);
	CHECK_INT_EQ(st.circles, 2);
	CHECK_INT_EQ(st.messages, 3);
	CHECK_INT_EQ(st.message_bytes, 9);
	CHECK_INT_EQ(st.mailbox_items, 1);
	CHECK_INT_EQ(st.mailbox_bytes, 3);
	CHECK_INT_EQ(st.keypackages, 1);
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	teardown();
}

/*
 * What the disk shows: no table links a device key to a circle. Device keys
 * live in *_key columns, circles in circle_* columns (the schema's rule);
 * the check fails if a table ever holds both, and also if the rule stops
 * finding either kind of column (so a rename cannot make it pass vacuously).
 * Invite codes are stored only hashed.
 */
/*
 * stored_fine_times counts stored times that are not whole multiples of H,
 * over every time column of the schema.
 */
static int64_t stored_fine_times(void)
{
	static const char *const sql[] = {
		"SELECT count(*) FROM messages WHERE received_at % 3600 != 0",
		"SELECT count(*) FROM mailbox_items WHERE received_at % 3600 != 0",
		"SELECT count(*) FROM cursors WHERE acked_at % 3600 != 0",
		"SELECT count(*) FROM devices WHERE registered_at % 3600 != 0",
		"SELECT count(*) FROM invites WHERE created_at % 3600 != 0 OR expires_at % 3600 != 0",
	};
	int64_t n = 0;

	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		n += raw_int(sql[i]);
	}
	return n;
}

/*
 * Nothing stored is finer than SPOOL_TIME_GRANULARITY: every operation
 * that stores a time runs at odd seconds, and then no time column holds
 * anything but whole hours (rounded up). A file of schema version 1 with
 * times to the second is coarsened when opened.
 */
static void test_times_coarse(void)
{
	struct spool *sp;
	struct circle c;
	uint8_t a[SPOOL_KEY_LEN], cur[SPOOL_ID_LEN], box[SPOOL_ID_LEN];
	static const uint8_t code[] = "an invite code";
	int64_t id = 0;

	CHECK_INT_EQ(H, 3600); /* the SQL above spells it out */
	setup();
	sp = open_default();
	rnd(a, sizeof a);
	rnd(cur, sizeof cur);
	rnd(box, sizeof box);
	CHECK_OK(spool_invite_create(sp, &id, code, sizeof code - 1, 1, T0 + 7 * 86400 + 17,
				     T0 + 17));
	CHECK_OK(spool_device_register(sp, a, code, sizeof code - 1, 0, T0 + 1001));
	CHECK_OK(spool_invite_create(sp, &id, code, sizeof code - 1, 2, 0, T0 + 59));
	new_circle(sp, a, &c, 0);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "commit's neighbour", T0 + 1234);
	CHECK_OK(spool_cursor_ack(sp, c.id, cur, c.cap[0], 1, T0 + 1235));
	CHECK_OK(spool_mailbox_ensure(sp, box, a, T0 + 1236));
	CHECK_OK(spool_mailbox_put(sp, box, (const uint8_t *)"welcome", 7, T0 + 1237, NULL));
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM messages"), 1);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM mailbox_items"), 1);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM cursors"), 1);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM devices"), 1);
	CHECK_INT_EQ(raw_int("SELECT count(*) FROM invites"), 1);
	CHECK_INT_EQ(stored_fine_times(), 0);
	CHECK_INT_EQ(raw_int("SELECT received_at FROM messages"), T0 + H);
	CHECK_INT_EQ(raw_int("SELECT received_at FROM mailbox_items"), T0 + H);
	CHECK_INT_EQ(raw_int("SELECT registered_at FROM devices"), T0 + H);

	/* A version 1 file, as the previous halqad wrote it: times to the second. */
	raw_exec("UPDATE messages SET received_at = received_at - 3599;"
		 "UPDATE mailbox_items SET received_at = received_at - 1;"
		 "UPDATE cursors SET acked_at = acked_at - 100;"
		 "UPDATE devices SET registered_at = registered_at - 7;"
		 "UPDATE invites SET created_at = created_at - 5, expires_at = 0;"
		 "PRAGMA user_version = 1;");
	CHECK_INT_EQ(stored_fine_times(), 5);
	sp = open_default();
	spool_close(sp);
	CHECK_INT_EQ(raw_int("PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
	CHECK_INT_EQ(stored_fine_times(), 0);
	CHECK_INT_EQ(raw_int("SELECT received_at FROM messages"), T0 + H);
	CHECK_INT_EQ(raw_int("SELECT expires_at FROM invites"), 0); /* never expires: kept */
	teardown();
}

static void test_disk_has_no_device_circle_link(void)
{
	struct spool *sp;
	struct circle c;
	sqlite3 *db = NULL;
	sqlite3_stmt *tables = NULL, *cols = NULL;
	uint8_t a[SPOOL_KEY_LEN], box[SPOOL_ID_LEN];
	const char marker[] = "INVITE-CODE-MARKER-7f3a";
	int key_tables = 0, circle_tables = 0, ntables = 0;
	uint8_t *file;
	size_t file_len;
	char wal[160];

	setup();
	sp = open_default();
	new_device(sp, a);
	new_circle(sp, a, &c, 0);
	post_ok(sp, &c, 0, SPOOL_KIND_APPLICATION, "ciphertext", T0);
	rnd(box, sizeof box);
	CHECK_OK(spool_mailbox_ensure(sp, box, a, T0));
	CHECK_OK(spool_invite_create(sp, NULL, (const uint8_t *)marker, strlen(marker), 1, 0, T0));
	CHECK_OK(spool_commit_turn(sp));
	spool_close(sp);

	CHECK_INT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'",
					-1, &tables, NULL),
		     SQLITE_OK);
	while (tables != NULL && sqlite3_step(tables) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(tables, 0);
		int has_key = 0, has_circle = 0;

		ntables++;
		/* table_info takes no bound parameter; the name comes from sqlite_master. */
		char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", name);

		CHECK_INT_EQ(sqlite3_prepare_v2(db, sql, -1, &cols, NULL), SQLITE_OK);
		while (cols != NULL && sqlite3_step(cols) == SQLITE_ROW) {
			const char *col = (const char *)sqlite3_column_text(cols, 1);
			size_t n = strlen(col);

			if (n >= 4 && strcmp(col + n - 4, "_key") == 0) {
				has_key = 1;
			}
			if (strncmp(col, "circle_", 7) == 0) {
				has_circle = 1;
			}
		}
		sqlite3_finalize(cols);
		cols = NULL;
		sqlite3_free(sql);
		if (has_key && has_circle) {
			harness_fail(__FILE__, __LINE__, "table %s links device keys to circles",
				     name);
		}
		key_tables += has_key;
		circle_tables += has_circle;
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	CHECK(ntables >= 9);
	CHECK_INT_EQ(key_tables, 3);    /* devices, mailboxes, kp_dirs */
	CHECK_INT_EQ(circle_tables, 4); /* circles, epochs, messages, cursors */

	file = read_file(path, &file_len);
	CHECK(file != NULL && file_len > 0);
	CHECK(!contains(file, file_len, marker));
	CHECK(contains(file, file_len, "ciphertext")); /* the scan does see stored bytes */
	free(file);
	snprintf(wal, sizeof wal, "%s-wal", path);
	file = read_file(wal, &file_len);
	if (file != NULL) {
		CHECK(!contains(file, file_len, marker));
	}
	free(file);
	teardown();
}

/* Two connections: the second waits on the first's turn, then sees it. */
static void test_two_handles(void)
{
	struct spool *sp, *other;
	uint8_t a[SPOOL_KEY_LEN];
	struct spool_limits lim;
	int status = -1;

	setup();
	memset(&lim, 0, sizeof lim);
	lim.busy_timeout_ms = 50;
	sp = open_with(&lim);
	other = open_with(&lim);
	new_device(sp, a);
	CHECK_OK(spool_device_status(other, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_UNKNOWN); /* not committed yet */
	/* The writer lock is held by sp's turn: other cannot start one. */
	CHECK_RC(spool_begin_turn(other), HALQA_ERR_IO);
	CHECK_OK(spool_commit_turn(sp));
	CHECK_OK(spool_device_status(other, a, &status));
	CHECK_INT_EQ(status, SPOOL_DEVICE_REGISTERED);
	CHECK_OK(spool_begin_turn(other));
	CHECK_OK(spool_commit_turn(other));
	spool_close(other);
	spool_close(sp);
	teardown();
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	halqa_log_set_level(HALQA_LOG_WARN);
	RUN(test_open_fresh);
	RUN(test_open_args);
	RUN(test_open_wide_mode_narrowed);
	RUN(test_open_empty_v0);
	RUN(test_open_future_version);
	RUN(test_open_foreign_db);
	RUN(test_open_not_a_db);
	RUN(test_invites_and_register);
	RUN(test_ban);
	RUN(test_device_limit);
	RUN(test_limits_set);
	RUN(test_quota);
	RUN(test_circle_create);
	RUN(test_append_in_order);
	RUN(test_append_args);
	RUN(test_idempotent_retry);
	RUN(test_commit_epochs);
	RUN(test_fetch_windows);
	RUN(test_cursors_and_ack_deletion);
	RUN(test_cursor_limit);
	RUN(test_max_age_and_cursor_expiry);
	RUN(test_sweep_budget);
	RUN(test_mailbox);
	RUN(test_keypackages);
	RUN(test_durability_reopen);
	RUN(test_durability_crash);
	RUN(test_checkpoint_helper);
	RUN(test_commit_failure);
	RUN(test_operation_isolation);
	RUN(test_partial_failure_fails_turn);
	RUN(test_stats);
	RUN(test_times_coarse);
	RUN(test_disk_has_no_device_circle_link);
	RUN(test_two_handles);
	return harness_report();
}
