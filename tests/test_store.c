/*
 * test_store.c: every store function on a real SQLCipher file in a
 * temporary directory: the encryption itself (no "SQLite format 3" header,
 * no plaintext marker anywhere in the files), wrong keys, rekeying, schema
 * refusal, damaged files, and each table's operations and refusals.
 * libcrypto, started by the store, knows the one cipher SQLCipher asks for
 * by name and not the full legacy tables (see store.c).
 */
#include "halqa/store.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlcipher/sqlite3.h>

#include "halqa/log.h"
#include "harness.h"

static char dir[256];
static char path[300];
static const char marker[] = "PLAINTEXT-MARKER-7f3a9c";

static void key_fill(uint8_t key[STORE_KEY_LEN], uint8_t v)
{
	memset(key, v, STORE_KEY_LEN);
}

static void cleanup_files(void)
{
	char p[320];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static struct store *fresh(uint8_t keyv)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;

	cleanup_files();
	key_fill(key, keyv);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	return s;
}

/* file_contains says whether the file at |p| holds |needle| anywhere. */
static int file_contains(const char *p, const void *needle, size_t n)
{
	FILE *f = fopen(p, "rb");
	uint8_t *buf;
	long len;
	int found = 0;

	if (f == NULL) {
		return 0;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len) {
		for (long i = 0; i + (long)n <= len; i++) {
			if (memcmp(buf + i, needle, n) == 0) {
				found = 1;
				break;
			}
		}
	}
	free(buf);
	fclose(f);
	return found;
}

static void test_encrypted_on_disk(void)
{
	struct store *s = fresh(1);
	struct stat sb;
	char p[320];

	CHECK_OK(store_setting_set(s, "marker", marker));
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(p, sizeof p, "%s-wal", path);
	CHECK(!file_contains(p, marker, strlen(marker)));
	store_close(s);
	CHECK(!file_contains(path, "SQLite format 3", 15));
	CHECK(!file_contains(path, marker, strlen(marker)));
	CHECK(!file_contains(path, "CREATE TABLE", 12));
}

/* lookup calls libcrypto's |fn| (a by-name lookup) on |name|; NULL if libcrypto lacks it. */
static const void *lookup(const char *fn, const char *name)
{
	const void *(*by_name)(const char *);
	void *sym = dlsym(RTLD_DEFAULT, fn);

	if (sym == NULL) {
		return NULL;
	}
	memcpy(&by_name, &sym, sizeof sym);
	return by_name(name);
}

static void test_crypto_tables(void)
{
	struct store *s = fresh(1);

	/* The store worked with them (fresh wrote its schema), and only the one cipher is named. */
	CHECK(s != NULL);
	if (dlsym(RTLD_DEFAULT, "EVP_add_cipher") != NULL) {
		CHECK(lookup("EVP_get_cipherbyname", "aes-256-cbc") != NULL);
		CHECK(lookup("EVP_get_cipherbyname", "aes-128-cbc") == NULL);
		CHECK(lookup("EVP_get_digestbyname", "sha256") == NULL);
	}
	store_close(s);
}

static void test_wrong_key_and_reopen(void)
{
	struct store *s = fresh(2);
	uint8_t key[STORE_KEY_LEN];
	char v[64];
	int version = 0;

	CHECK_OK(store_setting_set(s, "k", "v1"));
	CHECK_OK(store_schema_version(s, &version));
	CHECK_INT_EQ(version, STORE_SCHEMA_VERSION);
	store_close(s);

	key_fill(key, 3);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_CRYPTO);
	CHECK(s == NULL);
	key_fill(key, 2);
	CHECK_RC(store_open(&s, path, key, STORE_CREATE), HALQA_ERR_EXISTS);
	CHECK_OK(store_open(&s, path, key, 0));
	CHECK_OK(store_setting_get(s, "k", v, sizeof v));
	CHECK(strcmp(v, "v1") == 0);
	store_close(s);

	cleanup_files();
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_NOT_FOUND);
}

static void test_rekey(void)
{
	struct store *s = fresh(4);
	uint8_t key[STORE_KEY_LEN];
	char v[64];

	CHECK_OK(store_setting_set(s, "k", "kept"));
	CHECK_OK(store_begin(s));
	key_fill(key, 5);
	CHECK_RC(store_rekey(s, key), HALQA_ERR_ARG);
	CHECK_OK(store_commit(s));
	CHECK_OK(store_rekey(s, key));
	store_close(s);
	key_fill(key, 4);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_CRYPTO);
	key_fill(key, 5);
	CHECK_OK(store_open(&s, path, key, 0));
	CHECK_OK(store_setting_get(s, "k", v, sizeof v));
	CHECK(strcmp(v, "kept") == 0);
	store_close(s);
}

static void test_newer_schema_refused_untouched(void)
{
	struct store *s = fresh(6);
	uint8_t key[STORE_KEY_LEN];
	sqlite3 *db = NULL;
	char spec[80];
	struct stat before, after;

	store_close(s);
	/* Bump user_version behind the store's back, as a future client would. */
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	key_fill(key, 6);
	memcpy(spec, "x'", 2);
	sodium_bin2hex(spec + 2, 65, key, STORE_KEY_LEN);
	memcpy(spec + 66, "'", 2);
	CHECK(sqlite3_key(db, spec, 67) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA cipher_page_size = 4096; PRAGMA user_version = 99", NULL,
			   NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(stat(path, &before) == 0);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_UNSUPPORTED);
	CHECK(stat(path, &after) == 0);
	CHECK(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
}

static void test_damaged_files(void)
{
	struct store *s = fresh(7);
	uint8_t key[STORE_KEY_LEN];
	int fd;

	store_close(s);
	key_fill(key, 7);
	/* Cut mid-page. */
	CHECK(truncate(path, 5000) == 0);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_MALFORMED);
	/* Empty. */
	CHECK(truncate(path, 0) == 0);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_MALFORMED);

	/* A flipped byte in page 1 fails its HMAC: reported like a wrong key. */
	s = fresh(7);
	store_close(s);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "\xff\xff\xff\xff", 4, 100) == 4);
	close(fd);
	CHECK_RC(store_open(&s, path, key, 0), HALQA_ERR_CRYPTO);
}

static void test_settings(void)
{
	struct store *s = fresh(8);
	char v[8], big[STORE_MAX_SETTING + 2];

	CHECK_RC(store_setting_get(s, "none", v, sizeof v), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_setting_set(s, "a", "1"));
	CHECK_OK(store_setting_set(s, "a", "2"));
	CHECK_OK(store_setting_get(s, "a", v, sizeof v));
	CHECK(strcmp(v, "2") == 0);
	CHECK_OK(store_setting_set(s, "long", "12345678"));
	CHECK_RC(store_setting_get(s, "long", v, sizeof v), HALQA_ERR_TOO_LARGE);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_RC(store_setting_set(s, "big", big), HALQA_ERR_TOO_LARGE);
	CHECK_RC(store_setting_set(s, "bad", "\xc0\xaf"), HALQA_ERR_MALFORMED);
	CHECK_OK(store_setting_delete(s, "a"));
	CHECK_RC(store_setting_get(s, "a", v, sizeof v), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_setting_delete(s, "a"));
	store_close(s);
}

static void test_identity(void)
{
	struct store *s = fresh(9);
	uint8_t blob[100], *got = NULL;
	size_t got_len = 0;
	char name[STORE_MAX_NAME + 1];

	randombytes_buf(blob, sizeof blob);
	CHECK_RC(store_identity_get(s, name, &got, &got_len), HALQA_ERR_NOT_FOUND);
	CHECK_RC(store_identity_put(s, "bad\x1b", blob, sizeof blob), HALQA_ERR_INVALID);
	CHECK_OK(store_identity_put(s, "Amina", blob, sizeof blob));
	CHECK_RC(store_identity_put(s, "Amina", blob, sizeof blob), HALQA_ERR_EXISTS);
	CHECK_OK(store_identity_get(s, name, &got, &got_len));
	CHECK(strcmp(name, "Amina") == 0);
	CHECK_MEM_EQ(got, got_len, blob, sizeof blob);
	store_secret_free(got, got_len);
	store_secret_free(NULL, 0);
	store_close(s);
}

static void contact(struct store_contact *c, const char *name, uint8_t keyv)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	memset(c->identity_pub, keyv, sizeof c->identity_pub);
	snprintf(c->card, sizeof c->card, "halqa-card:CARD%u", keyv);
	c->added_at = 1000 + keyv;
}

static void test_contacts(void)
{
	struct store *s = fresh(10);
	struct store_contact a, b, got, *list = NULL;
	size_t num = 0;

	contact(&a, "ليلى", 1);
	contact(&b, "Bob", 2);
	CHECK_OK(store_contact_add(s, &a));
	CHECK_OK(store_contact_add(s, &b));
	contact(&got, "ليلى", 3);
	CHECK_RC(store_contact_add(s, &got), HALQA_ERR_EXISTS);
	contact(&got, "Other", 1);
	CHECK_RC(store_contact_add(s, &got), HALQA_ERR_EXISTS);
	contact(&got, "", 4);
	CHECK_RC(store_contact_add(s, &got), HALQA_ERR_ARG);
	contact(&got, "a\xe2\x80\xae" "b", 4);
	CHECK_RC(store_contact_add(s, &got), HALQA_ERR_INVALID);

	CHECK_OK(store_contact_get_by_name(s, "ليلى", &got));
	CHECK_MEM_EQ(got.identity_pub, 32, a.identity_pub, 32);
	CHECK(strcmp(got.card, a.card) == 0 && got.added_at == a.added_at && !got.verified);
	CHECK_OK(store_contact_get_by_key(s, b.identity_pub, &got));
	CHECK(strcmp(got.name, "Bob") == 0);
	CHECK_RC(store_contact_get_by_name(s, "nobody", &got), HALQA_ERR_NOT_FOUND);

	CHECK_OK(store_contact_set_verified(s, "Bob", 1));
	CHECK_RC(store_contact_set_verified(s, "nobody", 1), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_contact_list(s, &list, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK(strcmp(list[0].name, "Bob") == 0 && list[0].verified);
		CHECK(strcmp(list[1].name, "ليلى") == 0 && !list[1].verified);
	}
	free(list);
	CHECK_OK(store_contact_remove(s, "Bob"));
	CHECK_RC(store_contact_remove(s, "Bob"), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_contact_list(s, &list, &num));
	CHECK_INT_EQ(num, 1);
	free(list);
	store_close(s);
}

static void circle(struct store_circle *c, const char *name, uint8_t idv)
{
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	memset(c->circle_id, idv, sizeof c->circle_id);
	c->created_at = 77;
}

static int add_msg(struct store *s, uint8_t circlev, uint8_t idv, int64_t sent, const char *body,
		   int64_t *seq)
{
	struct store_message m;

	memset(&m, 0, sizeof m);
	memset(m.circle_id, circlev, sizeof m.circle_id);
	memset(m.msg_id, idv, sizeof m.msg_id);
	memset(m.sender, 0x55, sizeof m.sender);
	m.sent_at = sent;
	m.received_at = sent + 1;
	m.flags = 3;
	m.body = (char *)body;
	return store_message_add(s, &m, seq);
}

/*
 * fts_count counts the docids the full-text index alone holds for |word|
 * (no join with messages, so stale entries count too); table_count counts
 * the messages whose body has |word| between spaces. FTS4's own
 * 'integrity-check' cannot be used: in SQLite 3.15 it reports every
 * order=DESC index as corrupt, even one just built.
 */
static long fts_count(struct store *s, const char *word)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(store_db(s),
			       "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, word, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			n = (long)sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_finalize(st);
	return n;
}

static long table_count(struct store *s, const char *word)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(store_db(s),
			       "SELECT count(*) FROM messages WHERE ' ' || body || ' '"
			       " LIKE '% ' || ? || ' %'",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, word, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			n = (long)sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_finalize(st);
	return n;
}

/* index_matches says whether the index and the table agree on |word|. */
static int index_matches(struct store *s, const char *word)
{
	long f = fts_count(s, word), t = table_count(s, word);

	if (f < 0 || f != t) {
		fprintf(stderr, "index has %ld messages with '%s', table %ld\n", f, word, t);
		return 0;
	}
	return 1;
}

/* search_count returns how many messages |query| finds (all circles), or -1. */
static long search_count(struct store *s, const char *query)
{
	struct store_message_list l;
	long n;

	if (store_message_search(s, query, NULL, 1000, &l) != HALQA_OK) {
		return -1;
	}
	n = (long)l.num;
	store_message_list_free(&l);
	return n;
}

static void test_circles(void)
{
	struct store *s = fresh(11);
	struct store_circle a, b, got, *list = NULL;
	uint8_t state[300], *st = NULL, unknown[STORE_ID_LEN];
	size_t num = 0, st_len = 0;
	uint64_t unread = 0;
	int64_t seq_b = 0;

	circle(&a, "Mentors", 1);
	circle(&b, "حلقة", 2);
	memset(unknown, 9, sizeof unknown);
	CHECK_OK(store_circle_add(s, &a));
	CHECK_OK(store_circle_add(s, &b));
	circle(&got, "Mentors", 3);
	CHECK_RC(store_circle_add(s, &got), HALQA_ERR_EXISTS);
	circle(&got, "Else", 1);
	CHECK_RC(store_circle_add(s, &got), HALQA_ERR_EXISTS);

	CHECK_RC(store_circle_state_get(s, a.circle_id, &st, &st_len), HALQA_ERR_NOT_FOUND);
	randombytes_buf(state, sizeof state);
	CHECK_OK(store_circle_state_put(s, a.circle_id, state, sizeof state));
	CHECK_RC(store_circle_state_put(s, unknown, state, sizeof state), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_circle_state_get(s, a.circle_id, &st, &st_len));
	CHECK_MEM_EQ(st, st_len, state, sizeof state);
	store_secret_free(st, st_len);

	CHECK_OK(store_circle_set_cursor(s, a.circle_id, 42));
	CHECK_RC(store_circle_set_cursor(s, unknown, 1), HALQA_ERR_NOT_FOUND);
	CHECK_OK(add_msg(s, 1, 1, 10, "one", NULL));
	CHECK_OK(add_msg(s, 1, 2, 11, "two", NULL));
	CHECK_OK(store_circle_get_by_name(s, "Mentors", &got));
	CHECK(got.relay_seq == 42 && got.created_at == 77);
	CHECK_OK(store_circle_unread(s, got.circle_id, &unread));
	CHECK_INT_EQ(unread, 2);
	CHECK_OK(store_circle_get_by_id(s, b.circle_id, &got));
	CHECK(strcmp(got.name, "حلقة") == 0);
	CHECK_OK(store_circle_unread(s, b.circle_id, &unread));
	CHECK_INT_EQ(unread, 0);
	CHECK_RC(store_circle_unread(s, unknown, &unread), HALQA_ERR_NOT_FOUND);
	/* Each circle counts its own, whatever arrived in the other between. */
	CHECK_OK(add_msg(s, 2, 3, 12, "three", &seq_b));
	CHECK_OK(add_msg(s, 1, 4, 13, "four", NULL));
	CHECK_OK(store_circle_unread(s, a.circle_id, &unread));
	CHECK_INT_EQ(unread, 3);
	CHECK_OK(store_circle_unread(s, b.circle_id, &unread));
	CHECK_INT_EQ(unread, 1);
	CHECK_OK(store_message_mark_read(s, b.circle_id, seq_b));
	CHECK_OK(store_circle_unread(s, b.circle_id, &unread));
	CHECK_INT_EQ(unread, 0);
	CHECK_OK(store_circle_unread(s, a.circle_id, &unread));
	CHECK_INT_EQ(unread, 3);
	CHECK_RC(store_circle_get_by_id(s, unknown, &got), HALQA_ERR_NOT_FOUND);
	CHECK_RC(store_circle_get_by_name(s, "none", &got), HALQA_ERR_NOT_FOUND);

	CHECK_OK(store_circle_list(s, &list, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK(strcmp(list[0].name, "Mentors") == 0);
	}
	free(list);

	CHECK_OK(store_circle_remove(s, a.circle_id));
	CHECK_RC(store_circle_remove(s, a.circle_id), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_circle_list(s, &list, &num));
	CHECK_INT_EQ(num, 1);
	free(list);
	{
		struct store_message_list l;
		CHECK_OK(store_message_search(s, "one", NULL, 10, &l));
		CHECK_INT_EQ(l.num, 0);
		store_message_list_free(&l);
	}
	store_close(s);
}

static void test_messages(void)
{
	struct store *s = fresh(12);
	struct store_circle c, got;
	struct store_message_list l;
	int64_t seq1 = 0, seq2 = 0, seq3 = 0;
	uint64_t unread = 0;
	char big[STORE_MAX_BODY + 2];

	circle(&c, "C", 1);
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(add_msg(s, 1, 1, 100, "hello world", &seq1));
	CHECK_OK(add_msg(s, 1, 2, 200, "مرحبا بالعالم", &seq2));
	CHECK_OK(add_msg(s, 1, 3, 300, "שלום world", &seq3));
	CHECK(seq1 < seq2 && seq2 < seq3);
	CHECK_RC(add_msg(s, 9, 4, 1, "no circle", NULL), HALQA_ERR_NOT_FOUND);
	CHECK_RC(add_msg(s, 1, 5, 1, "bad \xed\xa0\x80", NULL), HALQA_ERR_MALFORMED);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_RC(add_msg(s, 1, 6, 1, big, NULL), HALQA_ERR_TOO_LARGE);

	CHECK_OK(store_message_list_after(s, c.circle_id, 0, 10, 0, &l));
	CHECK_INT_EQ(l.num, 3);
	if (l.num == 3) {
		CHECK(strcmp(l.items[1].body, "مرحبا بالعالم") == 0);
		CHECK(l.items[1].sent_at == 200 && l.items[1].received_at == 201);
		CHECK(l.items[1].flags == 3 && l.items[1].sender[0] == 0x55);
		CHECK(l.items[1].msg_id[0] == 2 && l.items[1].circle_id[0] == 1);
	}
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, seq1, 1, 0, &l));
	CHECK(l.num == 1 && l.items[0].seq == seq2);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, 0, 2, 1, &l));
	CHECK(l.num == 2 && l.items[0].seq == seq2 && l.items[1].seq == seq3);
	store_message_list_free(&l);

	CHECK_OK(store_message_mark_read(s, c.circle_id, seq2));
	CHECK_OK(store_message_mark_read(s, c.circle_id, seq1));
	CHECK_OK(store_circle_get_by_id(s, c.circle_id, &got));
	CHECK(got.read_marker == seq2);
	CHECK_OK(store_circle_unread(s, c.circle_id, &unread));
	CHECK_INT_EQ(unread, 1);

	/* Search: words, Arabic, and FTS syntax taken literally. */
	CHECK_OK(store_message_search(s, "world", NULL, 10, &l));
	CHECK(l.num == 2 && l.items[0].sent_at == 300);
	store_message_list_free(&l);
	CHECK_OK(store_message_search(s, "بالعالم", c.circle_id, 10, &l));
	CHECK_INT_EQ(l.num, 1);
	store_message_list_free(&l);
	CHECK_OK(store_message_search(s, "hello OR שלום", NULL, 10, &l));
	CHECK_INT_EQ(l.num, 0);
	store_message_list_free(&l);
	CHECK_OK(store_message_search(s, "hel*", NULL, 10, &l));
	CHECK_INT_EQ(l.num, 0);
	store_message_list_free(&l);
	CHECK_OK(store_message_search(s, "\"world NEAR hello\" body:x -hello", NULL, 10, &l));
	CHECK_INT_EQ(l.num, 0);
	store_message_list_free(&l);
	CHECK_RC(store_message_search(s, "  \"\" ", NULL, 10, &l), HALQA_ERR_ARG);

	/* Delete a time range: gone from the list and from the index. */
	size_t deleted = 0;
	CHECK_OK(store_message_delete_range(s, c.circle_id, 150, 301, &deleted));
	CHECK_INT_EQ(deleted, 2);
	CHECK_OK(store_message_search(s, "world", NULL, 10, &l));
	CHECK(l.num == 1 && l.items[0].seq == seq1);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, 0, 10, 0, &l));
	CHECK_INT_EQ(l.num, 1);
	store_message_list_free(&l);
	/* A rolled-back transaction leaves nothing. */
	CHECK_OK(store_begin(s));
	CHECK_OK(add_msg(s, 1, 7, 1, "rolled back", NULL));
	CHECK_INT_EQ(store_rollback(s), HALQA_OK);
	CHECK_OK(store_message_search(s, "rolled", NULL, 10, &l));
	CHECK_INT_EQ(l.num, 0);
	store_message_list_free(&l);
	store_close(s);
}

/* From a bound the list walks by seq: another circle's messages between ours are skipped. */
static void test_messages_after_bound(void)
{
	struct store *s = fresh(13);
	struct store_circle c, d;
	struct store_message_list l;
	int64_t seq[6] = { 0 };

	circle(&c, "C", 1);
	circle(&d, "D", 2);
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(store_circle_add(s, &d));
	CHECK_OK(add_msg(s, 1, 1, 100, "one", &seq[0]));
	CHECK_OK(add_msg(s, 2, 2, 200, "other", &seq[1]));
	CHECK_OK(add_msg(s, 1, 3, 300, "two", &seq[2]));
	CHECK_OK(add_msg(s, 2, 4, 400, "other again", &seq[3]));
	CHECK_OK(add_msg(s, 1, 5, 500, "three", &seq[4]));
	CHECK_OK(add_msg(s, 2, 6, 600, "other last", &seq[5]));
	CHECK_OK(store_message_list_after(s, c.circle_id, seq[0], 10, 0, &l));
	CHECK(l.num == 2 && l.items[0].seq == seq[2] && l.items[1].seq == seq[4]);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, seq[0], 1, 0, &l));
	CHECK(l.num == 1 && l.items[0].seq == seq[2] && strcmp(l.items[0].body, "two") == 0);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, seq[0], 1, 1, &l));
	CHECK(l.num == 1 && l.items[0].seq == seq[4]);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, seq[1], 5, 1, &l));
	CHECK(l.num == 2 && l.items[0].seq == seq[2] && l.items[1].seq == seq[4]);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, c.circle_id, seq[4], 5, 1, &l));
	CHECK_INT_EQ(l.num, 0);
	store_message_list_free(&l);
	CHECK_OK(store_message_list_after(s, d.circle_id, seq[2], 1, 1, &l));
	CHECK(l.num == 1 && strcmp(l.items[0].body, "other last") == 0);
	store_message_list_free(&l);
	store_close(s);
}

static void test_outbox(void)
{
	struct store *s = fresh(13);
	struct store_circle c;
	struct store_outbox o, *list = NULL;
	size_t num = 0;
	uint8_t other[STORE_ID_LEN];

	circle(&c, "C", 1);
	CHECK_OK(store_circle_add(s, &c));
	memset(&o, 0, sizeof o);
	memcpy(o.circle_id, c.circle_id, STORE_ID_LEN);
	memset(o.client_msg_id, 0xa1, STORE_ID_LEN);
	o.created_at = 5;
	o.body = (char *)"queued";
	CHECK_OK(store_outbox_add(s, &o));
	CHECK_RC(store_outbox_add(s, &o), HALQA_ERR_EXISTS);
	memset(o.client_msg_id, 0xa2, STORE_ID_LEN);
	o.body = (char *)"second";
	CHECK_OK(store_outbox_add(s, &o));
	memset(o.circle_id, 0x99, STORE_ID_LEN);
	memset(o.client_msg_id, 0xa3, STORE_ID_LEN);
	CHECK_RC(store_outbox_add(s, &o), HALQA_ERR_NOT_FOUND);

	memset(other, 0xa1, sizeof other);
	CHECK_OK(store_outbox_bump(s, other));
	CHECK_OK(store_outbox_bump(s, other));
	CHECK_OK(store_outbox_list(s, c.circle_id, &list, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK(strcmp(list[0].body, "queued") == 0 && list[0].attempts == 2);
		CHECK(strcmp(list[1].body, "second") == 0 && list[1].attempts == 0);
	}
	store_outbox_list_free(list, num);
	CHECK_OK(store_outbox_remove(s, other));
	CHECK_RC(store_outbox_remove(s, other), HALQA_ERR_NOT_FOUND);
	CHECK_RC(store_outbox_bump(s, other), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_outbox_list(s, NULL, &list, &num));
	CHECK_INT_EQ(num, 1);
	store_outbox_list_free(list, num);
	memset(other, 0x77, sizeof other);
	CHECK_OK(store_outbox_list(s, other, &list, &num));
	CHECK_INT_EQ(num, 0);
	store_outbox_list_free(list, num);
	store_close(s);
}

/* Schema 2: the engine's bookkeeping, each table once. */
static void test_engine_tables(void)
{
	struct store *s = fresh(14);
	struct store_circle c, got;
	struct store_outbox o, *list = NULL;
	struct store_welcome_out *wo = NULL;
	uint8_t ref[STORE_HASH_LEN], hash[STORE_HASH_LEN], sender[STORE_PUB_LEN];
	uint8_t *kp = NULL, *priv = NULL, mbox[STORE_ID_LEN], msg_id[STORE_ID_LEN];
	const uint8_t kp_in[] = {1, 2, 3}, priv_in[] = {9, 8, 7, 6}, wire[] = {0xee, 0xff};
	size_t kp_len = 0, priv_len = 0, num = 0;
	uint64_t counter = 99;
	int last_resort = -1, version = 0;

	CHECK_OK(store_schema_version(s, &version));
	CHECK_INT_EQ(version, STORE_SCHEMA_VERSION);
	circle(&c, "C", 3);
	memset(c.cursor_id, 0xc0, sizeof c.cursor_id);
	c.updated_at = 1234;
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(store_circle_get_by_id(s, c.circle_id, &got));
	CHECK_MEM_EQ(got.cursor_id, STORE_ID_LEN, c.cursor_id, STORE_ID_LEN);
	CHECK_INT_EQ(got.updated_at, 1234);
	CHECK_INT_EQ(got.flags, 0);
	got.flags = STORE_CIRCLE_BLOCKED;
	snprintf(got.reason, sizeof got.reason, "%s", "a commit was refused");
	got.send_counter = 5;
	got.sends_since_update = 4;
	got.gaps = 2;
	CHECK_OK(store_circle_update(s, &got));
	CHECK_OK(store_circle_get_by_name(s, "C", &c));
	CHECK_INT_EQ(c.flags, STORE_CIRCLE_BLOCKED);
	CHECK(strcmp(c.reason, "a commit was refused") == 0);
	CHECK_INT_EQ(c.send_counter, 5);
	CHECK_INT_EQ(c.sends_since_update, 4);
	CHECK_INT_EQ(c.gaps, 2);

	/* KeyPackage privates. */
	memset(ref, 0x42, sizeof ref);
	CHECK_OK(store_kp_put(s, ref, kp_in, sizeof kp_in, priv_in, sizeof priv_in, 1, 5));
	CHECK_RC(store_kp_put(s, ref, kp_in, sizeof kp_in, priv_in, sizeof priv_in, 1, 5),
		 HALQA_ERR_EXISTS);
	CHECK_OK(store_kp_count(s, 1, &num));
	CHECK_INT_EQ(num, 1);
	CHECK_OK(store_kp_count(s, 0, &num));
	CHECK_INT_EQ(num, 0);
	CHECK_OK(store_kp_get(s, ref, &kp, &kp_len, &priv, &priv_len, &last_resort));
	CHECK_MEM_EQ(kp, kp_len, kp_in, sizeof kp_in);
	CHECK_MEM_EQ(priv, priv_len, priv_in, sizeof priv_in);
	CHECK_INT_EQ(last_resort, 1);
	free(kp);
	store_secret_free(priv, priv_len);
	CHECK_OK(store_kp_delete(s, ref));
	CHECK_RC(store_kp_delete(s, ref), HALQA_ERR_NOT_FOUND);
	CHECK_RC(store_kp_get(s, ref, &kp, &kp_len, &priv, &priv_len, &last_resort),
		 HALQA_ERR_NOT_FOUND);
	CHECK(kp == NULL && priv == NULL);

	/* Sender counters, seen ids, our own hashes. */
	memset(sender, 0x5e, sizeof sender);
	CHECK_OK(store_counter_get(s, c.circle_id, sender, &counter));
	CHECK_INT_EQ(counter, 0);
	CHECK_OK(store_counter_set(s, c.circle_id, sender, 17));
	CHECK_OK(store_counter_set(s, c.circle_id, sender, 18));
	CHECK_OK(store_counter_get(s, c.circle_id, sender, &counter));
	CHECK_INT_EQ(counter, 18);
	memset(msg_id, 0x31, sizeof msg_id);
	CHECK_OK(store_seen_add(s, c.circle_id, msg_id));
	CHECK_RC(store_seen_add(s, c.circle_id, msg_id), HALQA_ERR_EXISTS);
	memset(hash, 0x77, sizeof hash);
	CHECK_RC(store_sent_take(s, c.circle_id, hash), HALQA_ERR_NOT_FOUND);
	CHECK_OK(store_sent_add(s, c.circle_id, hash));
	CHECK_OK(store_sent_add(s, c.circle_id, hash));
	CHECK_OK(store_sent_take(s, c.circle_id, hash));
	CHECK_RC(store_sent_take(s, c.circle_id, hash), HALQA_ERR_NOT_FOUND);

	/* Outbox payload and wire. */
	memset(&o, 0, sizeof o);
	memcpy(o.circle_id, c.circle_id, STORE_ID_LEN);
	memset(o.client_msg_id, 0xa1, STORE_ID_LEN);
	o.body = (char *)"";
	o.payload = (uint8_t *)priv_in;
	o.payload_len = sizeof priv_in;
	CHECK_OK(store_outbox_add(s, &o));
	CHECK_OK(store_outbox_set_wire(s, o.client_msg_id, wire, sizeof wire, 3));
	CHECK_OK(store_outbox_list(s, c.circle_id, &list, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		CHECK_MEM_EQ(list[0].payload, list[0].payload_len, priv_in, sizeof priv_in);
		CHECK_MEM_EQ(list[0].wire, list[0].wire_len, wire, sizeof wire);
		CHECK_INT_EQ(list[0].wire_epoch, 3);
	}
	store_outbox_list_free(list, num);

	/* Welcomes waiting for their commit. */
	memset(mbox, 0x6d, sizeof mbox);
	CHECK_OK(store_welcome_out_add(s, c.circle_id, 4, mbox, wire, sizeof wire));
	CHECK_OK(store_welcome_out_add(s, c.circle_id, 4, mbox, kp_in, sizeof kp_in));
	CHECK_OK(store_welcome_out_list(s, c.circle_id, &wo, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK_MEM_EQ(wo[0].item, wo[0].item_len, wire, sizeof wire);
		CHECK_MEM_EQ(wo[0].mailbox_id, STORE_ID_LEN, mbox, STORE_ID_LEN);
		CHECK_OK(store_welcome_out_delete(s, wo[0].row));
	}
	store_welcome_out_free(wo, num);
	CHECK_OK(store_welcome_out_list(s, c.circle_id, &wo, &num));
	CHECK_INT_EQ(num, 1);
	store_welcome_out_free(wo, num);
	/* Discarding the commit of epoch 5 leaves the accepted one of epoch 4 its Welcome. */
	CHECK_OK(store_welcome_out_add(s, c.circle_id, 5, mbox, wire, sizeof wire));
	CHECK_OK(store_welcome_out_discard(s, c.circle_id, 5));
	CHECK_OK(store_welcome_out_list(s, c.circle_id, &wo, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		CHECK_MEM_EQ(wo[0].item, wo[0].item_len, kp_in, sizeof kp_in);
	}
	store_welcome_out_free(wo, num);
	CHECK_OK(store_welcome_out_discard(s, c.circle_id, 5));
	CHECK_OK(store_welcome_out_discard(s, c.circle_id, 4));
	CHECK_OK(store_welcome_out_list(s, c.circle_id, &wo, &num));
	CHECK_INT_EQ(num, 0);
	store_welcome_out_free(wo, num);
	CHECK_RC(store_welcome_out_add(s, c.circle_id, (uint64_t)INT64_MAX + 1, mbox, wire,
				       sizeof wire),
		 HALQA_ERR_TOO_LARGE);

	/* Removing the circle takes all of it along. */
	CHECK_OK(store_circle_remove(s, c.circle_id));
	CHECK_RC(store_seen_add(s, c.circle_id, msg_id), HALQA_ERR_NOT_FOUND);
	CHECK_RC(store_counter_set(s, c.circle_id, sender, 1), HALQA_ERR_NOT_FOUND);
	store_close(s);
}

/*
 * The insert path inside a caller's transaction (the engine's batches): a
 * refused message changes nothing and leaves the transaction usable, and
 * every committed row is in the full-text index.
 */
static void test_message_batch(void)
{
	struct store *s = fresh(15);
	struct store_circle c;
	char body[64];
	int64_t seq = 0, prev = 0;

	circle(&c, "C", 1);
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(store_begin(s));
	for (int i = 0; i < 40; i++) {
		snprintf(body, sizeof body, "batch word%d shared", i);
		CHECK_OK(add_msg(s, 1, (uint8_t)(i + 1), i, body, &seq));
		CHECK(seq > prev);
		prev = seq;
	}
	CHECK_RC(add_msg(s, 8, 100, 99, "unknown circle inside", NULL), HALQA_ERR_NOT_FOUND);
	CHECK_OK(add_msg(s, 1, 200, 99, "after the refusals", NULL));
	CHECK_OK(store_commit(s));
	CHECK_INT_EQ(search_count(s, "shared"), 40);
	CHECK_INT_EQ(search_count(s, "word17"), 1);
	CHECK_INT_EQ(search_count(s, "unknown"), 0);
	CHECK_INT_EQ(search_count(s, "refusals"), 1);
	CHECK(index_matches(s, "shared") && index_matches(s, "word3"));
	CHECK(index_matches(s, "unknown") && index_matches(s, "inside"));

	/* Alone, a refusal leaves no transaction open behind it. */
	CHECK_RC(add_msg(s, 8, 101, 99, "unknown alone", NULL), HALQA_ERR_NOT_FOUND);
	CHECK(sqlite3_get_autocommit(store_db(s)));
	CHECK_OK(add_msg(s, 1, 201, 99, "alone again", NULL));
	CHECK_INT_EQ(search_count(s, "alone"), 1);

	/* Removal through the delete trigger, of rows indexed without one. */
	size_t deleted = 0;
	CHECK_OK(store_message_delete_range(s, c.circle_id, 10, 20, &deleted));
	CHECK_INT_EQ(deleted, 10);
	CHECK_INT_EQ(search_count(s, "shared"), 30);
	CHECK_INT_EQ(search_count(s, "word15"), 0);
	CHECK(index_matches(s, "shared") && index_matches(s, "word15"));
	store_close(s);
}

#define SENDER "x'5555555555555555555555555555555555555555555555555555555555555555'"

/*
 * The index against a model, across many transactions (FTS4 writes a
 * segment per transaction and merges them sixteen at a time, newest
 * first with order=DESC), a range delete with its 'optimize', and
 * searches: newest first, cut at the limit, one circle or all.
 */
#define MODEL_WORDS 12
#define MODEL_MSGS 400

static void test_index_model(void)
{
	static const char *const words[MODEL_WORDS] = {
		"alpha", "beta",  "gamma", "delta", "epsilon", "zeta",
		"eta",	 "theta", "iota",  "kappa", "لمبدا",   "ميو",
	};
	struct store *s = fresh(17);
	struct store_circle c;
	struct store_message_list l;
	char body[256];
	uint8_t has[MODEL_MSGS][MODEL_WORDS];
	int64_t seqs[MODEL_MSGS];
	int alive[MODEL_MSGS];
	uint32_t x = 12345;
	size_t deleted = 0;

	memset(has, 0, sizeof has);
	for (uint8_t k = 1; k <= 2; k++) {
		circle(&c, k == 1 ? "One" : "Two", k);
		CHECK_OK(store_circle_add(s, &c));
	}
	for (int i = 0; i < MODEL_MSGS; i++) {
		size_t o = 0;

		if (i % 16 == 0) {
			CHECK_OK(store_begin(s));
		}
		/* Word w is in about 1 message in w + 1: a skewed vocabulary. */
		for (int w = 0; w < MODEL_WORDS; w++) {
			x = x * 1103515245u + 12345u;
			if ((x >> 16) % (uint32_t)(w + 1) == 0) {
				o += (size_t)snprintf(body + o, sizeof body - o, "%s ", words[w]);
				has[i][w] = 1;
			}
		}
		snprintf(body + o, sizeof body - o, "m%d", i);
		struct store_message m = {0};
		memset(m.circle_id, 1 + i % 2, sizeof m.circle_id);
		memcpy(m.msg_id, &i, sizeof i);
		m.sent_at = i;
		m.body = body;
		CHECK_OK(store_message_add(s, &m, &seqs[i]));
		alive[i] = 1;
		if (i % 16 == 15) {
			CHECK_OK(store_commit(s));
		}
	}
	/* Circle Two loses its messages sent in [100, 300). */
	circle(&c, "Two", 2);
	CHECK_OK(store_message_delete_range(s, c.circle_id, 100, 300, &deleted));
	CHECK_INT_EQ(deleted, 100);
	for (int i = 100; i < 300; i++) {
		alive[i] = i % 2 == 0;
	}
	for (int w = 0; w < MODEL_WORDS; w++) {
		long want_all = 0, want_two = 0;
		int newest[5], n_newest = 0;

		for (int i = MODEL_MSGS - 1; i >= 0; i--) {
			if (alive[i] && has[i][w]) {
				want_all++;
				want_two += i % 2 == 1;
				if (n_newest < 5) {
					newest[n_newest++] = i;
				}
			}
		}
		CHECK(index_matches(s, words[w]));
		CHECK_INT_EQ(search_count(s, words[w]), want_all);
		CHECK_OK(store_message_search(s, words[w], c.circle_id, 1000, &l));
		CHECK_INT_EQ(l.num, want_two);
		store_message_list_free(&l);
		CHECK_OK(store_message_search(s, words[w], NULL, 5, &l));
		CHECK_INT_EQ(l.num, n_newest);
		for (size_t j = 0; j < l.num && (int)j < n_newest; j++) {
			CHECK(l.items[j].seq == seqs[newest[j]]);
		}
		store_message_list_free(&l);
	}
	store_close(s);
}

/* The schema-2 DDL as that build wrote it, for the migration test. */
static const char v2_schema[] =
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
	" attempts INTEGER NOT NULL DEFAULT 0);"
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
	" mailbox_id BLOB NOT NULL, item BLOB NOT NULL);"
	"PRAGMA user_version = 2;";

/* count_rows runs a count(*) statement on the store's connection; -1 on error. */
static long count_rows(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		n = (long)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return n;
}

/*
 * A store written by a schema-2 build (messages indexed by the old
 * trigger) opens, migrates, keeps finding its old messages, indexes new
 * ones once each, and removes old ones from the index.
 */
static void test_migrate_from_v2(void)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;
	sqlite3 *db = NULL;
	char spec[80];
	int version = 0;
	int64_t seq = 0;
	size_t deleted = 0;
	struct store_circle c, got;

	cleanup_files();
	key_fill(key, 16);
	memcpy(spec, "x'", 2);
	sodium_bin2hex(spec + 2, 65, key, STORE_KEY_LEN);
	memcpy(spec + 66, "'", 2);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_key(db, spec, 67) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA cipher_page_size = 4096; PRAGMA journal_mode = WAL", NULL,
			   NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_exec(db, v2_schema, NULL, NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
			   "INSERT INTO circles(id, circle_id, name, created_at)"
			   " VALUES(1, x'01010101010101010101010101010101', 'Old', 1);"
			   "INSERT INTO messages(circle, msg_id, sender, sent_at, received_at, body)"
			   " VALUES(1, x'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', " SENDER ", 10, 11, 'an old archived letter'),"
			   " (1, x'a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2', " SENDER ", 20, 21, 'another old note'),"
			   " (1, x'a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3', " SENDER ", 30, 31, 'رسالة قديمة'),"
			   " (1, x'a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4a4', " SENDER ", 35, 36, 'soon gone');"
			   /* The newest deleted: AUTOINCREMENT must not give seq 4 again. */
			   "DELETE FROM messages WHERE seq = 4;"
			   "INSERT INTO welcome_out(circle, mailbox_id, item)"
			   " VALUES(1, x'6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d6d', x'0102')",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	CHECK_OK(store_open(&s, path, key, 0));
	if (s == NULL) {
		return;
	}
	CHECK_OK(store_schema_version(s, &version));
	CHECK_INT_EQ(version, STORE_SCHEMA_VERSION);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
				   " AND name = 'messages_ai'"),
		     0);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'"
				   " AND sql LIKE '%order=desc%'"),
		     1);
	/* Schema 9: no per-message %_docsize row (matchinfo=fts3), the index rebuilt. */
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'"
				   " AND sql LIKE '%matchinfo=fts3%'"),
		     1);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master"
				   " WHERE name = 'messages_fts_docsize'"),
		     0);
	CHECK_INT_EQ(search_count(s, "old"), 2);
	CHECK_INT_EQ(search_count(s, "قديمة"), 1);
	CHECK_OK(add_msg(s, 1, 4, 40, "a new note in the new style", &seq));
	CHECK_INT_EQ(seq, 5);
	/* Indexed once: a leftover trigger would index it twice. */
	CHECK_INT_EQ(search_count(s, "note"), 2);
	CHECK_INT_EQ(search_count(s, "gone"), 0);
	/*
	 * Schema 7: the messages table rebuilt without UNIQUE(circle, msg_id),
	 * its rows and seqs kept, its time index and three triggers made again.
	 */
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'messages'"
				   " AND type = 'index'"),
		     1);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'messages'"
				   " AND type = 'trigger'"),
		     3);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE name = 'messages_v7'"),
		     0);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM messages WHERE seq IN (1, 2, 3)"
				   " AND msg_id = x'a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2' AND seq = 2"),
		     1);
	CHECK_INT_EQ(count_rows(s, "SELECT sum(seq) FROM messages"), 1 + 2 + 3 + 5);
	CHECK(index_matches(s, "note") && index_matches(s, "old"));
	circle(&c, "Old", 1);
	/* Schema 5: the circle kept its row, and has never acknowledged its cursor. */
	CHECK_OK(store_circle_get_by_id(s, c.circle_id, &got));
	CHECK(strcmp(got.name, "Old") == 0);
	CHECK_INT_EQ(got.acked_seq, 0);
	CHECK_INT_EQ(got.acked_at, 0);
	/* Schema 6: no newcomer cursor owed, and the table takes one. */
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM newcomer_acks"), 0);
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				   " AND name = 'newcomer_acks_by_circle'"),
		     1);
	/* Schema 8: a Welcome from before has no epoch, and goes with any discard in its circle. */
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM welcome_out WHERE commit_epoch IS NULL"), 1);
	CHECK_OK(store_welcome_out_discard(s, c.circle_id, 9));
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM welcome_out"), 0);
	CHECK_OK(store_message_delete_range(s, c.circle_id, 0, 25, &deleted));
	CHECK_INT_EQ(deleted, 2);
	CHECK_INT_EQ(search_count(s, "old"), 0);
	CHECK_INT_EQ(search_count(s, "note"), 1);
	CHECK_INT_EQ(search_count(s, "archived"), 0);
	CHECK(index_matches(s, "old") && index_matches(s, "archived"));
	store_close(s);

	/* And it reopens as a current store. */
	CHECK_OK(store_open(&s, path, key, 0));
	CHECK_INT_EQ(search_count(s, "note"), 1);
	store_close(s);
}

/* The acknowledged cursor (schema 5): set, read back by every getter, kept apart from the cursor. */
static void test_circle_acked(void)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = NULL;
	struct store_circle c, got, *list = NULL;
	size_t num = 0;

	cleanup_files();
	key_fill(key, 17);
	CHECK_OK(store_open(&s, path, key, STORE_CREATE));
	if (s == NULL) {
		return;
	}
	circle(&c, "Acked", 5);
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(store_circle_get_by_id(s, c.circle_id, &got));
	CHECK_INT_EQ(got.acked_seq, 0);
	CHECK_INT_EQ(got.acked_at, 0);
	CHECK_OK(store_circle_set_cursor(s, c.circle_id, 42));
	CHECK_OK(store_circle_set_acked(s, c.circle_id, 40, 1700000000123LL));
	CHECK_OK(store_circle_get_by_name(s, "Acked", &got));
	CHECK_INT_EQ(got.relay_seq, 42);
	CHECK_INT_EQ(got.acked_seq, 40);
	CHECK_INT_EQ(got.acked_at, 1700000000123LL);
	CHECK_OK(store_circle_list(s, &list, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		CHECK_INT_EQ(list[0].acked_seq, 40);
		CHECK_INT_EQ(list[0].acked_at, 1700000000123LL);
	}
	free(list);
	/* store_circle_update (the engine's bookkeeping) leaves it alone. */
	got.acked_seq = 7;
	CHECK_OK(store_circle_update(s, &got));
	CHECK_OK(store_circle_get_by_id(s, c.circle_id, &got));
	CHECK_INT_EQ(got.acked_seq, 40);
	CHECK_RC(store_circle_set_acked(s, c.circle_id, (uint64_t)INT64_MAX + 1, 1),
		 HALQA_ERR_TOO_LARGE);
	c.circle_id[0] ^= 0xff;
	CHECK_RC(store_circle_set_acked(s, c.circle_id, 1, 1), HALQA_ERR_NOT_FOUND);
	store_close(s);
}

/*
 * Newcomer cursors owed (schema 6): listed lowest seq first with their
 * capability, deleted one by one or by circle, gone with their circle.
 */
static void test_newcomer_acks(void)
{
	struct store *s = fresh(18);
	struct store_circle c, other;
	struct store_newcomer_ack *items = NULL;
	uint8_t cursor[STORE_ID_LEN], cap[STORE_CAP_LEN];
	size_t num = 0;

	circle(&c, "Owed", 6);
	circle(&other, "Other", 7);
	CHECK_OK(store_circle_add(s, &c));
	CHECK_OK(store_circle_add(s, &other));
	memset(cursor, 0xc1, sizeof cursor);
	memset(cap, 0xca, sizeof cap);
	CHECK_OK(store_newcomer_ack_add(s, c.circle_id, cursor, 40, cap, 1000));
	cursor[0] = 0xc2;
	cap[0] = 0xcb;
	CHECK_OK(store_newcomer_ack_add(s, c.circle_id, cursor, 12, cap, 2000));
	CHECK_OK(store_newcomer_ack_add(s, other.circle_id, cursor, 5, cap, 3000));
	CHECK_RC(store_newcomer_ack_add(s, c.circle_id, cursor, (uint64_t)INT64_MAX + 1, cap, 1),
		 HALQA_ERR_TOO_LARGE);
	other.circle_id[0] ^= 0xff;
	CHECK_RC(store_newcomer_ack_add(s, other.circle_id, cursor, 1, cap, 1), HALQA_ERR_NOT_FOUND);
	other.circle_id[0] ^= 0xff;
	CHECK_OK(store_newcomer_ack_list(s, c.circle_id, &items, &num));
	CHECK_INT_EQ(num, 2);
	if (num == 2) {
		CHECK_INT_EQ(items[0].seq, 12);
		CHECK_INT_EQ(items[0].created_at, 2000);
		CHECK_MEM_EQ(items[0].cursor_id, STORE_ID_LEN, cursor, STORE_ID_LEN);
		CHECK_MEM_EQ(items[0].cap, STORE_CAP_LEN, cap, STORE_CAP_LEN);
		CHECK_INT_EQ(items[1].seq, 40);
		CHECK_INT_EQ(items[1].cursor_id[0], 0xc1);
		CHECK_INT_EQ(items[1].cap[0], 0xca);
		CHECK_OK(store_newcomer_ack_delete(s, items[0].row));
		CHECK_RC(store_newcomer_ack_delete(s, items[0].row), HALQA_ERR_NOT_FOUND);
	}
	store_newcomer_ack_free(items, num);
	store_newcomer_ack_free(NULL, 0);
	CHECK_OK(store_newcomer_ack_list(s, c.circle_id, &items, &num));
	CHECK_INT_EQ(num, 1);
	store_newcomer_ack_free(items, num);
	CHECK_OK(store_newcomer_ack_clear(s, c.circle_id));
	CHECK_OK(store_newcomer_ack_list(s, c.circle_id, &items, &num));
	CHECK_INT_EQ(num, 0);
	CHECK(items == NULL);
	/* The other circle's goes with the circle. */
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM newcomer_acks"), 1);
	CHECK_OK(store_circle_remove(s, other.circle_id));
	CHECK_INT_EQ(count_rows(s, "SELECT count(*) FROM newcomer_acks"), 0);
	store_close(s);
}

/*
 * A second connection to the same store (another halqa process on the
 * profile) waits for the first one's write lock instead of failing at once.
 * A child process holds a write transaction until the parent has started
 * waiting for it, then commits.
 */
static void test_second_writer_waits(void)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *s = fresh(0x61), *t = NULL;
	int held[2], go[2], status = 0;
	char byte = 0;
	pid_t pid;

	key_fill(key, 0x61);
	store_close(s);
	CHECK(pipe(held) == 0 && pipe(go) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;
		int ok = store_open(&c, path, key, 0) == HALQA_OK && store_begin(c) == HALQA_OK &&
			 store_setting_set(c, "test.writer", "child") == HALQA_OK;

		/* Tell the parent the lock is held; wait until it is about to ask for it. */
		ok = ok && write(held[1], "h", 1) == 1 && read(go[0], &byte, 1) == 1;
		usleep(200 * 1000);
		ok = ok && store_commit(c) == HALQA_OK;
		store_close(c);
		_exit(ok ? 0 : 1);
	}
	CHECK(read(held[0], &byte, 1) == 1);
	CHECK_OK(store_open(&t, path, key, 0));
	CHECK(write(go[1], "g", 1) == 1);
	/* Blocks until the child commits; without a busy timeout it failed at once. */
	CHECK_OK(store_begin(t));
	CHECK_OK(store_setting_set(t, "test.writer", "parent"));
	CHECK_OK(store_commit(t));
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		char v[16];

		CHECK_OK(store_setting_get(t, "test.writer", v, sizeof v));
		CHECK(strcmp(v, "parent") == 0);
	}
	store_close(t);
	close(held[0]);
	close(held[1]);
	close(go[0]);
	close(go[1]);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	if (getenv("HALQA_TEST_DEBUG") != NULL) {
		halqa_log_set_level(HALQA_LOG_DEBUG);
	}
	if (sodium_init() < 0) {
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/halqa-store-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		return 1;
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	RUN(test_encrypted_on_disk);
	RUN(test_crypto_tables);
	RUN(test_wrong_key_and_reopen);
	RUN(test_rekey);
	RUN(test_newer_schema_refused_untouched);
	RUN(test_damaged_files);
	RUN(test_settings);
	RUN(test_identity);
	RUN(test_contacts);
	RUN(test_circles);
	RUN(test_messages);
	RUN(test_messages_after_bound);
	RUN(test_outbox);
	RUN(test_engine_tables);
	RUN(test_message_batch);
	RUN(test_index_model);
	RUN(test_migrate_from_v2);
	RUN(test_circle_acked);
	RUN(test_newcomer_acks);
	RUN(test_second_writer_waits);
	cleanup_files();
	rmdir(dir);
	return harness_report();
}
