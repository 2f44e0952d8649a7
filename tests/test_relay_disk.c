/*
 * test_relay_disk.c: what a seized relay disk shows.
 *
 * The real halqad (invite mode) serves three circles of four members drawn
 * from six devices, with overlapping membership: creation, LISTEN, messages
 * (random bytes, as opaque as the MLS ciphertext real clients send), a
 * commit that moves each circle to epoch 1 with a new capability, messages
 * in epoch 1, cursor ACKs, FETCH of both epochs, a mailbox PUT/FETCH and a
 * KeyPackage publish/claim. Then it is killed with SIGKILL, so its files
 * are exactly what the disk holds at an arbitrary moment (the WAL not
 * checkpointed), and we inspect them:
 *
 *  - the data directory is 0700, server.key 0600;
 *  - no capability (any circle, any epoch) appears in any file under the
 *    relay's directory (database, -wal, -shm, config, log), raw or in hex,
 *    and neither does the invite code;
 *  - the log names no device key (raw, hex or Z85), no circle id and no
 *    capability;
 *  - in the database (read with the SQLCipher library, like the relay), no
 *    table holds both a device key and a circle id in its rows, no table
 *    has both a "*_key" and a "circle_*" column (spool.h's naming rule),
 *    and no foreign key joins a table holding circle ids to one holding
 *    device keys.
 *
 * The relay stores payloads as given; that they are ciphertext is the
 * client's job (MLS), so no payload check belongs here.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>
#include <zmq.h>

#include "harness.h"
#include "support/relay_client.h"

#define NUM_DEVICES 6
#define NUM_CIRCLES 3
#define MEMBERS 4
#define TIMEOUT_MS 30000

static const int g_members[NUM_CIRCLES][MEMBERS] = {{0, 1, 2, 3}, {2, 3, 4, 5}, {0, 4, 5, 1}};

struct circle {
	uint8_t id[WIRE_ID_LEN];
	uint8_t cap[2][WIRE_CAP_LEN]; /* epoch 0, epoch 1 */
};

struct world {
	struct relay_test t;
	struct relay_client *dev[NUM_DEVICES];
	uint8_t keys[NUM_DEVICES][32];
	struct circle circles[NUM_CIRCLES];
	char invite[128];
};

/* A needle to look for in files: raw bytes, or text. */
struct needle {
	char what[48];
	uint8_t bytes[96];
	size_t len;
};

static int ok(struct relay_client *c, struct wire_msg *m, struct wire_msg *rep)
{
	int rc = relay_client_ok(c, m, rep, NULL, TIMEOUT_MS);

	wire_msg_cleanup(m);
	return rc;
}

static int send_msg(struct world *w, int dev, int circle, uint64_t epoch, uint8_t kind)
{
	struct circle *c = &w->circles[circle];
	uint8_t payload[200];
	struct wire_msg m;

	randombytes_buf(payload, sizeof payload);
	wire_msg_init(&m, WIRE_SEND, 1);
	memcpy(m.u.send.circle_id, c->id, WIRE_ID_LEN);
	m.u.send.epoch = epoch;
	m.u.send.kind = kind;
	memcpy(m.u.send.cap, c->cap[epoch], WIRE_CAP_LEN);
	if (kind == WIRE_KIND_COMMIT && wire_cap_hash(m.u.send.next_cap_hash, c->cap[1]) != HALQA_OK) {
		return HALQA_ERR_INTERNAL;
	}
	randombytes_buf(m.u.send.client_msg_id, WIRE_ID_LEN);
	m.u.send.payload.data = payload;
	m.u.send.payload.len = sizeof payload;
	return ok(w->dev[dev], &m, NULL);
}

static int listen_to(struct world *w, int dev, int circle, int epoch)
{
	struct wire_msg m;

	wire_msg_init(&m, WIRE_LISTEN, 1);
	memcpy(m.u.listen.circle_id, w->circles[circle].id, WIRE_ID_LEN);
	memcpy(m.u.listen.cap, w->circles[circle].cap[epoch], WIRE_CAP_LEN);
	return ok(w->dev[dev], &m, NULL);
}

/* run_circles drives the traffic described at the top; failures are recorded. */
static void run_circles(struct world *w)
{
	struct wire_msg m, rep;
	uint8_t mailbox[WIRE_ID_LEN], dir[WIRE_ID_LEN], blob[3][120];

	for (int d = 0; d < NUM_DEVICES; d++) {
		CHECK_OK(relay_test_client(&w->t, &w->dev[d], NULL, NULL));
		if (w->dev[d] == NULL) {
			return;
		}
		relay_client_public_key(w->dev[d], w->keys[d]);
		wire_msg_init(&m, WIRE_REGISTER, 1);
		snprintf(m.u.reg.invite, sizeof m.u.reg.invite, "%.64s", w->invite);
		CHECK_OK(ok(w->dev[d], &m, NULL));
	}
	for (int c = 0; c < NUM_CIRCLES; c++) {
		struct circle *cc = &w->circles[c];

		randombytes_buf(cc->id, sizeof cc->id);
		randombytes_buf(cc->cap, sizeof cc->cap);
		wire_msg_init(&m, WIRE_CIRCLE_CREATE, 1);
		memcpy(m.u.circle_create.circle_id, cc->id, WIRE_ID_LEN);
		CHECK_OK(wire_cap_hash(m.u.circle_create.cap_hash, cc->cap[0]));
		CHECK_OK(ok(w->dev[g_members[c][0]], &m, NULL));
		for (int i = 0; i < MEMBERS; i++) {
			CHECK_OK(listen_to(w, g_members[c][i], c, 0));
		}
		for (int i = 0; i < MEMBERS; i++) {
			CHECK_OK(send_msg(w, g_members[c][i], c, 0, WIRE_KIND_APPLICATION));
			CHECK_OK(send_msg(w, g_members[c][i], c, 0, WIRE_KIND_PROPOSAL));
		}
		/* The commit closes epoch 0; members follow into epoch 1. */
		CHECK_OK(send_msg(w, g_members[c][1], c, 0, WIRE_KIND_COMMIT));
		for (int i = 0; i < MEMBERS; i++) {
			CHECK_OK(listen_to(w, g_members[c][i], c, 1));
			CHECK_OK(send_msg(w, g_members[c][i], c, 1, WIRE_KIND_APPLICATION));
		}
		for (int i = 0; i < MEMBERS; i++) {
			for (int e = 0; e < 2; e++) {
				wire_msg_init(&m, WIRE_FETCH, 1);
				memcpy(m.u.fetch.circle_id, cc->id, WIRE_ID_LEN);
				memcpy(m.u.fetch.cap, cc->cap[e], WIRE_CAP_LEN);
				m.u.fetch.from_seq = 1;
				m.u.fetch.max_count = 64;
				CHECK_OK(ok(w->dev[g_members[c][i]], &m, &rep));
			}
			wire_msg_init(&m, WIRE_ACK, 1);
			memcpy(m.u.ack.circle_id, cc->id, WIRE_ID_LEN);
			randombytes_buf(m.u.ack.cursor_id, WIRE_ID_LEN);
			memcpy(m.u.ack.cap, cc->cap[1], WIRE_CAP_LEN);
			m.u.ack.seq = 2 * MEMBERS + 2;
			CHECK_OK(ok(w->dev[g_members[c][i]], &m, NULL));
		}
	}

	/* A Welcome through a mailbox, a KeyPackage through the directory. */
	randombytes_buf(mailbox, sizeof mailbox);
	randombytes_buf(dir, sizeof dir);
	randombytes_buf(blob, sizeof blob);
	wire_msg_init(&m, WIRE_MAILBOX_FETCH, 1);
	memcpy(m.u.mailbox_fetch.mailbox_id, mailbox, WIRE_ID_LEN);
	m.u.mailbox_fetch.max_count = 4;
	CHECK_OK(ok(w->dev[5], &m, &rep));
	wire_msg_init(&m, WIRE_MAILBOX_PUT, 1);
	memcpy(m.u.mailbox_put.mailbox_id, mailbox, WIRE_ID_LEN);
	m.u.mailbox_put.payload.data = blob[0];
	m.u.mailbox_put.payload.len = sizeof blob[0];
	CHECK_OK(ok(w->dev[0], &m, NULL));
	wire_msg_init(&m, WIRE_KP_PUBLISH, 1);
	memcpy(m.u.kp_publish.dir_id, dir, WIRE_ID_LEN);
	m.u.kp_publish.num_packages = 1;
	m.u.kp_publish.packages[0].data = blob[1];
	m.u.kp_publish.packages[0].len = sizeof blob[1];
	m.u.kp_publish.has_last_resort = 1;
	m.u.kp_publish.last_resort.data = blob[2];
	m.u.kp_publish.last_resort.len = sizeof blob[2];
	CHECK_OK(ok(w->dev[4], &m, NULL));
	wire_msg_init(&m, WIRE_KP_CLAIM, 1);
	memcpy(m.u.kp_dir.dir_id, dir, WIRE_ID_LEN);
	CHECK_OK(ok(w->dev[3], &m, &rep));
}

static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	long n;

	*out = NULL;
	*out_len = 0;
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		if (f != NULL) {
			fclose(f);
		}
		return -1;
	}
	*out = malloc((size_t)n + 1);
	if (*out == NULL || fread(*out, 1, (size_t)n, f) != (size_t)n) {
		free(*out);
		*out = NULL;
		fclose(f);
		return -1;
	}
	fclose(f);
	*out_len = (size_t)n;
	return 0;
}

static int contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
	return len > 0 && hay_len >= len && memmem(hay, hay_len, needle, len) != NULL;
}

static void add_needle(struct needle *n, size_t *num, const char *what, const uint8_t *b,
		       size_t len)
{
	snprintf(n[*num].what, sizeof n[*num].what, "%s", what);
	memcpy(n[*num].bytes, b, len);
	n[*num].len = len;
	(*num)++;
}

/* add_forms adds |b| raw, in lower- and upper-case hex, and (for 32 bytes) in Z85. */
static void add_forms(struct needle *n, size_t *num, const char *what, const uint8_t *b, size_t len)
{
	char hex[2 * 32 + 1], z85[41];

	add_needle(n, num, what, b, len);
	sodium_bin2hex(hex, sizeof hex, b, len);
	add_needle(n, num, what, (const uint8_t *)hex, 2 * len);
	for (size_t i = 0; i < 2 * len; i++) {
		if (hex[i] >= 'a' && hex[i] <= 'f') {
			hex[i] = (char)(hex[i] - 'a' + 'A');
		}
	}
	add_needle(n, num, what, (const uint8_t *)hex, 2 * len);
	if (len == 32 && zmq_z85_encode(z85, b, len) != NULL) {
		add_needle(n, num, what, (const uint8_t *)z85, 40);
	}
}

/* scan_dir checks every regular file under |dir| for the needles; returns files read. */
static int scan_dir(const char *dir, const struct needle *n, size_t num)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	if (d == NULL) {
		harness_fail(__FILE__, __LINE__, "cannot open %s", dir);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		uint8_t *buf;
		size_t len;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0) {
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			files += scan_dir(path, n, num);
			continue;
		}
		if (!S_ISREG(st.st_mode) || read_file(path, &buf, &len) != 0) {
			continue;
		}
		files++;
		for (size_t i = 0; i < num; i++) {
			if (contains(buf, len, n[i].bytes, n[i].len)) {
				harness_fail(__FILE__, __LINE__, "%s found in %s", n[i].what,
					     e->d_name);
			}
		}
		free(buf);
	}
	closedir(d);
	return files;
}

/* What one table's rows and columns hold. */
struct table_info {
	char name[128];
	int has_key_value;      /* a device key in some row */
	int has_circle_value;   /* a circle id in some row */
	int has_key_column;     /* a column named *_key */
	int has_circle_column;  /* a column named circle_* */
};

static int value_has(const uint8_t *v, size_t len, const uint8_t *x, size_t xlen)
{
	char hex[65];

	if (contains(v, len, x, xlen)) {
		return 1;
	}
	sodium_bin2hex(hex, sizeof hex, x, xlen);
	return contains(v, len, (const uint8_t *)hex, 2 * xlen);
}

static void inspect_table(sqlite3 *db, struct table_info *ti, const struct world *w)
{
	char sql[300];
	sqlite3_stmt *st = NULL;

	snprintf(sql, sizeof sql, "PRAGMA table_info(\"%.127s\")", ti->name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *col = (const char *)sqlite3_column_text(st, 1);
		size_t n = col != NULL ? strlen(col) : 0;

		if (n >= 4 && strcmp(col + n - 4, "_key") == 0) {
			ti->has_key_column = 1;
		}
		if (strncmp(col != NULL ? col : "", "circle_", 7) == 0) {
			ti->has_circle_column = 1;
		}
	}
	sqlite3_finalize(st);

	snprintf(sql, sizeof sql, "SELECT * FROM \"%.127s\"", ti->name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const uint8_t *v = sqlite3_column_blob(st, c);
			size_t len = (size_t)sqlite3_column_bytes(st, c);

			if (v == NULL) {
				continue;
			}
			for (int d = 0; d < NUM_DEVICES; d++) {
				ti->has_key_value |= value_has(v, len, w->keys[d], 32);
			}
			for (int k = 0; k < NUM_CIRCLES; k++) {
				ti->has_circle_value |= value_has(v, len, w->circles[k].id, WIRE_ID_LEN);
			}
		}
	}
	sqlite3_finalize(st);
}

static struct table_info *find_table(struct table_info *t, int num, const char *name)
{
	for (int i = 0; i < num; i++) {
		if (strcmp(t[i].name, name) == 0) {
			return &t[i];
		}
	}
	return NULL;
}

/* inspect_db applies the schema and content rules to relay.db. */
static void inspect_db(const struct world *w, const char *path)
{
	struct table_info tables[64];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int num = 0, with_keys = 0, with_circles = 0;

	memset(tables, 0, sizeof tables);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st,
			       NULL) != SQLITE_OK) {
		harness_fail(__FILE__, __LINE__, "cannot read %s: %s", path,
			     db != NULL ? sqlite3_errmsg(db) : "open failed");
		sqlite3_close(db);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW && num < 64) {
		snprintf(tables[num++].name, sizeof tables[0].name, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	CHECK(num > 0);
	for (int i = 0; i < num; i++) {
		struct table_info *ti = &tables[i];

		inspect_table(db, ti, w);
		with_keys += ti->has_key_value;
		with_circles += ti->has_circle_value;
		if (ti->has_key_value && ti->has_circle_value) {
			harness_fail(__FILE__, __LINE__, "table %s holds device keys and circle ids",
				     ti->name);
		}
		if (ti->has_key_column && ti->has_circle_column) {
			harness_fail(__FILE__, __LINE__, "table %s has *_key and circle_* columns",
				     ti->name);
		}
	}
	/* The test saw something: keys and circles are on disk, just never together. */
	CHECK(with_keys > 0);
	CHECK(with_circles > 0);

	/* A foreign key from a circle table to a device table (or back) would link them too. */
	for (int i = 0; i < num; i++) {
		char sql[300];

		snprintf(sql, sizeof sql, "PRAGMA foreign_key_list(\"%.127s\")", tables[i].name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			harness_fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
			continue;
		}
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *to = (const char *)sqlite3_column_text(st, 2);
			struct table_info *other = to != NULL ? find_table(tables, num, to) : NULL;

			if (other != NULL &&
			    ((tables[i].has_circle_value && other->has_key_value) ||
			     (tables[i].has_key_value && other->has_circle_value))) {
				harness_fail(__FILE__, __LINE__, "foreign key %s -> %s links devices "
					     "and circles", tables[i].name, to);
			}
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

static void test_seized_disk(void)
{
	static struct world w;
	static struct needle secrets[64], log_needles[128];
	size_t num_secrets = 0, num_log = 0;
	char path[600];
	struct stat st;
	uint8_t *log = NULL;
	size_t log_len = 0;

	memset(&w, 0, sizeof w);
	if (relay_test_start(&w.t, NULL) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "halqad did not start");
		return;
	}
	CHECK_OK(relay_test_invite(&w.t, 10, w.invite, sizeof w.invite));
	run_circles(&w);
	if (harness_current_failed) {
		goto out;
	}
	/* The disk as it is at an arbitrary moment: no clean shutdown, no checkpoint. */
	CHECK_OK(relay_test_kill(&w.t, SIGKILL));

	CHECK(stat(w.t.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof path, "%s/server.key", w.t.dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	for (int c = 0; c < NUM_CIRCLES; c++) {
		add_forms(secrets, &num_secrets, "a capability", w.circles[c].cap[0], WIRE_CAP_LEN);
		add_forms(secrets, &num_secrets, "a capability", w.circles[c].cap[1], WIRE_CAP_LEN);
	}
	add_needle(secrets, &num_secrets, "the invite code", (const uint8_t *)w.invite,
		   strlen(w.invite));
	CHECK(scan_dir(w.t.root, secrets, num_secrets) >= 3);

	/* The log: no keys, no circle ids (no device-circle link can be read from it). */
	for (int d = 0; d < NUM_DEVICES; d++) {
		add_forms(log_needles, &num_log, "a device key", w.keys[d], 32);
	}
	for (int c = 0; c < NUM_CIRCLES; c++) {
		add_forms(log_needles, &num_log, "a circle id", w.circles[c].id, WIRE_ID_LEN);
	}
	if (read_file(w.t.log_path, &log, &log_len) == 0) {
		for (size_t i = 0; i < num_log; i++) {
			if (contains(log, log_len, log_needles[i].bytes, log_needles[i].len)) {
				harness_fail(__FILE__, __LINE__, "%s found in the log",
					     log_needles[i].what);
			}
		}
		free(log);
	}

	snprintf(path, sizeof path, "%s/relay.db", w.t.dir);
	inspect_db(&w, path);
out:
	for (int d = 0; d < NUM_DEVICES; d++) {
		relay_client_free(w.dev[d]);
	}
	relay_test_stop(&w.t);
	sodium_memzero(&w, sizeof w);
	sodium_memzero(secrets, sizeof secrets);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_seized_disk);
	return harness_report();
}
