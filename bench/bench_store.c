/*
 * bench_store.c: the client store (client/store.c, SQLCipher 3.4.1) under a
 * realistic history: inserting 100,000 received messages in batched
 * transactions, then full-text searching them, against the same workload on
 * unencrypted SQLite of the same engine.
 *
 * The messages are generated once from a fixed seed, so every run and every
 * side stores the same bytes: bodies of 40-400 bytes, mostly Latin or mostly
 * Arabic with some words of the other script, words drawn from a Zipf law
 * (s = 1) over 8,000 words per script (a few dozen real ones at the head, so
 * "the" and "في" are in most messages, and a synthetic tail of rare words),
 * five circles of unequal size, ten senders each.
 *
 * Up to five sides are measured, each in a fresh file of its own (the
 * first three by default):
 *  - "store": the store API itself (store_open with a raw key, store_begin,
 *    store_message_add, store_commit, store_message_search);
 *  - "mirror/cipher": this file's copy of what store_message_add and
 *    store_message_search do (the same SQL text, the insert's statements
 *    kept prepared and the search's prepared per call, the same UTF-8
 *    check and row copying), on the store's own
 *    connection (store_db): it shows the mirror costs what the store costs;
 *  - "mirror/plain": the same mirror on a file opened with the same
 *    library (libsqlcipher) but never keyed, which is plain SQLite 3.15.2,
 *    with the same page size, WAL, secure_delete and foreign keys, and the
 *    store's schema copied statement by statement from the store's
 *    sqlite_master. The ratio cipher/plain therefore isolates SQLCipher's
 *    page encryption and HMAC: same engine, same schema, same statements,
 *    same code;
 *  - "bare/cipher" and "bare/plain" (--sides bare): the full-text index
 *    alone, declared exactly as the store declares it (read from a fresh
 *    store's sqlite_master), in a file holding nothing else, keyed at the
 *    store's page size or plain, with the store's pragmas, fed the same
 *    bodies with the same check, statement, docids and batches. No
 *    messages row, no circle: what FTS4 itself allows on this machine,
 *    the ceiling of any store built on it. Bare sides are not searched.
 * Search results are compared across sides (count and first row), so a
 * side that finds nothing fast is caught, and each file's first bytes are
 * checked on close (plain SQLite's header on the plain side only).
 *
 * Options beyond the sizes are what-if knobs used to find where the time
 * goes (README, bench_store): they alter only the mirror and bare sides
 * (--cache-kib every connection), never what the "store" side runs.
 * --page-size, --pragma and --schema-cut give the mirror/cipher side a
 * connection of its own, keyed as store_open keys, with the store's
 * schema copied, since the store's own file cannot have them. A search
 * running past --budget-ms (2 s) is interrupted (sqlite3_progress_handler)
 * and counted at the budget, because the old one-circle plan
 * (--old-search) takes minutes at this size.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "bench_util.h"
#include "halqa/engine.h"
#include "halqa/store.h"
#include "halqa/utf8.h"

#define NUM_MESSAGES_DEFAULT 100000u
/* The engine's catch-up transaction: "batched" measures what the client does. */
#define BATCH_DEFAULT        ((size_t)ENGINE_BATCH_ITEMS)
#define ROUNDS_DEFAULT       3u
#define SEARCH_REPS_DEFAULT  25u
#define SEARCH_LIMIT         50u
#define NUM_CIRCLES          5u
#define SENDERS_PER_CIRCLE   10u
#define VOCAB_SIZE           8000u
#define BODY_MIN             40u
#define BODY_MAX             400u
#define MAX_SAMPLES          4096u
#define DIR_LEN              1024u
#define PATH_LEN             (DIR_LEN + 64u)

static const char *const latin_head[] = {
    "the",       "and",     "to",      "of",        "a",        "in",        "we",      "is",
    "for",       "you",     "that",    "on",        "it",       "with",      "meeting", "will",
    "be",        "at",      "this",    "are",       "have",     "not",       "our",     "can",
    "about",     "case",    "court",   "today",     "tomorrow", "help",      "family",  "need",
    "please",    "lawyer",  "rights",  "hearing",   "report",   "news",      "thanks",  "safe",
    "documents", "call",    "office",  "question",  "training", "session",   "circle",  "mentor",
    "visit",     "plan",    "time",    "week",      "evening",  "morning",   "address", "phone",
    "judge",     "appeal",  "witness", "statement", "police",   "detention", "release", "contact",
    "advice",    "support", "group",   "list",      "notes",    "draft",
};

static const char *const arabic_head[] = {
    "في",      "من",        "على",      "إلى",     "أن",        "هذا",      "مع",       "عن",
    "ما",      "لا",        "هل",       "نحن",     "اليوم",     "غدا",      "الاجتماع", "المحكمة",
    "القضية",  "شكرا",      "العائلة",  "المحامي", "الحقوق",    "الجلسة",   "التقرير",  "الأخبار",
    "آمن",     "الوثائق",   "مساعدة",   "سؤال",    "المكتب",    "التدريب",  "الحلقة",   "المرشد",
    "زيارة",   "الخطة",     "الوقت",    "الأسبوع", "المساء",    "الصباح",   "العنوان",  "الهاتف",
    "القاضي",  "الاستئناف", "الشاهد",   "الإفادة", "الشرطة",    "الاحتجاز", "الإفراج",  "التواصل",
    "النصيحة", "الدعم",     "المجموعة", "القائمة", "الملاحظات", "المسودة",  "موعد",     "رسالة",
};

#define LATIN_HEAD_NUM  (sizeof latin_head / sizeof latin_head[0])
#define ARABIC_HEAD_NUM (sizeof arabic_head / sizeof arabic_head[0])

/* A script's vocabulary: words by Zipf rank, cumulative weights, document frequency. */
struct vocab {
	char *words[VOCAB_SIZE];
	double cdf[VOCAB_SIZE];
	uint32_t df[VOCAB_SIZE];       /* messages containing the word */
	uint32_t last_msg[VOCAB_SIZE]; /* 1 + index of the last message counted */
};

struct msg {
	uint32_t circle;
	uint32_t sender;
	uint8_t msg_id[STORE_ID_LEN];
	int64_t sent_at;
	int64_t received_at;
	char *body;
};

struct corpus {
	struct vocab latin, arabic;
	struct msg *msgs;
	size_t num;
	size_t body_bytes;
	uint8_t circle_ids[NUM_CIRCLES][STORE_ID_LEN];
	uint8_t senders[NUM_CIRCLES][SENDERS_PER_CIRCLE][STORE_PUB_LEN];
	size_t per_circle[NUM_CIRCLES];
};

/* splitmix64: a fixed-seed generator, so every run stores the same corpus. */
static uint64_t rng_state = 0x48616c7161ULL;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static uint32_t rng_below(uint32_t n)
{
	return (uint32_t)(rng_unit() * n);
}

static void rng_bytes(uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		out[i] = (uint8_t)rng_next();
	}
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "bench_store: out of memory\n");
		exit(1);
	}
	return p;
}

/* synth_word makes a rare word: Latin syllables, or Arabic letters (2 bytes each). */
static char *synth_word(bool arabic)
{
	static const char cons[] = "bcdfghjklmnprstvwz";
	static const char vow[] = "aeiou";
	char buf[32];
	size_t n = 0;

	if (arabic) {
		uint32_t letters = 3 + rng_below(5);

		for (uint32_t i = 0; i < letters; i++) {
			/* U+0628..U+063A and U+0641..U+064A: letters only, no marks. */
			uint32_t k = rng_below(19 + 10);
			uint32_t cp = k < 19 ? 0x628 + k : 0x641 + (k - 19);

			buf[n++] = (char)(0xc0 | (cp >> 6));
			buf[n++] = (char)(0x80 | (cp & 0x3f));
		}
	} else {
		uint32_t syl = 2 + rng_below(3);

		for (uint32_t i = 0; i < syl; i++) {
			buf[n++] = cons[rng_below(sizeof cons - 1)];
			buf[n++] = vow[rng_below(sizeof vow - 1)];
		}
		buf[n++] = cons[rng_below(sizeof cons - 1)];
	}
	buf[n] = '\0';
	return strdup(buf);
}

static void vocab_init(struct vocab *v, const char *const *head, size_t num_head, bool arabic)
{
	double sum = 0;

	for (size_t i = 0; i < VOCAB_SIZE; i++) {
		v->words[i] = i < num_head ? strdup(head[i]) : synth_word(arabic);
		if (v->words[i] == NULL) {
			fprintf(stderr, "bench_store: out of memory\n");
			exit(1);
		}
		sum += 1.0 / (double)(i + 1);
		v->cdf[i] = sum;
		v->df[i] = 0;
		v->last_msg[i] = 0;
	}
	for (size_t i = 0; i < VOCAB_SIZE; i++) {
		v->cdf[i] /= sum;
	}
}

static void vocab_free(struct vocab *v)
{
	for (size_t i = 0; i < VOCAB_SIZE; i++) {
		free(v->words[i]);
	}
}

static size_t vocab_pick(const struct vocab *v)
{
	double u = rng_unit();
	size_t lo = 0, hi = VOCAB_SIZE - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->cdf[mid] < u) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* make_body writes one message of BODY_MIN..BODY_MAX bytes into |out|. */
static size_t make_body(struct corpus *c, uint32_t msg_index, char *out)
{
	bool arabic = rng_unit() < 0.4;
	size_t target = BODY_MIN + rng_below(BODY_MAX - BODY_MIN + 1), len = 0;

	while (len < target) {
		bool other = rng_unit() < 0.15;
		struct vocab *v = (arabic != other) ? &c->arabic : &c->latin;
		size_t w = vocab_pick(v);
		size_t wl = strlen(v->words[w]);
		const char *sep = len == 0 ? "" : " ";
		double p = rng_unit();

		if (len > 0 && p < 0.06) {
			sep = arabic ? "، " : ", ";
		} else if (len > 0 && p < 0.10) {
			sep = ". ";
		}
		if (len + strlen(sep) + wl + 1 > BODY_MAX) {
			break;
		}
		memcpy(out + len, sep, strlen(sep));
		len += strlen(sep);
		memcpy(out + len, v->words[w], wl);
		len += wl;
		if (v->last_msg[w] != msg_index + 1) {
			v->last_msg[w] = msg_index + 1;
			v->df[w]++;
		}
	}
	if (len < BODY_MAX && rng_unit() < 0.3) {
		out[len++] = arabic ? '?' : '.';
	}
	out[len] = '\0';
	return len;
}

static void corpus_make(struct corpus *c, size_t num)
{
	/* Circle sizes: 40 %, 25 %, 15 %, 12 %, 8 % of the history. */
	static const double share[NUM_CIRCLES] = {0.40, 0.65, 0.80, 0.92, 1.0};
	char body[BODY_MAX + 1];
	int64_t t = 1790000000000LL;

	memset(c, 0, sizeof *c);
	vocab_init(&c->latin, latin_head, LATIN_HEAD_NUM, false);
	vocab_init(&c->arabic, arabic_head, ARABIC_HEAD_NUM, true);
	rng_bytes(&c->circle_ids[0][0], sizeof c->circle_ids);
	rng_bytes(&c->senders[0][0][0], sizeof c->senders);
	c->msgs = xmalloc(num * sizeof *c->msgs);
	c->num = num;
	for (size_t i = 0; i < num; i++) {
		struct msg *m = &c->msgs[i];
		double u = rng_unit();
		size_t len;

		m->circle = 0;
		while (m->circle + 1 < NUM_CIRCLES && u >= share[m->circle]) {
			m->circle++;
		}
		m->sender = rng_below(SENDERS_PER_CIRCLE);
		rng_bytes(m->msg_id, sizeof m->msg_id);
		/* Senders' clocks disagree a little: sent_at is not in storage order. */
		t += 1 + rng_below(60000);
		m->sent_at = t - rng_below(5000);
		m->received_at = t + rng_below(2000);
		len = make_body(c, (uint32_t)i, body);
		m->body = xmalloc(len + 1);
		memcpy(m->body, body, len + 1);
		c->body_bytes += len;
		c->per_circle[m->circle]++;
	}
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->num; i++) {
		free(c->msgs[i].body);
	}
	free(c->msgs);
	vocab_free(&c->latin);
	vocab_free(&c->arabic);
}

static double cpu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

static void exec_or_die(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		die_sql(db, sql);
	}
}

/* One side under test. */
enum side {
	SIDE_STORE,
	SIDE_MIRROR_CIPHER,
	SIDE_MIRROR_PLAIN,
	SIDE_BARE_CIPHER,
	SIDE_BARE_PLAIN,
	NUM_SIDES
};

static const char *const side_names[NUM_SIDES] = {
    "store (SQLCipher)", "mirror/cipher", "mirror/plain", "bare/cipher", "bare/plain",
};

static bool side_is_bare(enum side side)
{
	return side == SIDE_BARE_CIPHER || side == SIDE_BARE_PLAIN;
}

static bool side_is_plain(enum side side)
{
	return side == SIDE_MIRROR_PLAIN || side == SIDE_BARE_PLAIN;
}

struct target {
	enum side side;
	char path[PATH_LEN];
	struct store *store; /* SIDE_STORE and SIDE_MIRROR_CIPHER */
	sqlite3 *db;         /* the connection the mirror uses */
};

static char tmpdir[DIR_LEN];

/*
 * What-if knobs for finding where the time goes (see README): they change
 * only the mirror (and --cache-kib every connection, the store's too), so
 * the "store" side measures store.c as it is unless --cache-kib is given.
 */
static unsigned long opt_cache_kib;   /* 0: SQLite's default cache (2,000 KiB) */
static bool opt_reuse = true;         /* mirror: statements kept prepared, as store.c does */
static bool opt_old_search;           /* mirror: the search before FTS drove it */
static bool opt_plan;                 /* print the search statements' query plans */
static bool opt_no_fts;               /* mirror: do not index new rows */
static bool opt_savepoint;            /* mirror: each message in a SAVEPOINT of its own */
static const char *opt_drop_index;    /* mirror: this index of the schema dropped */
static bool opt_receive;              /* store side: the catch-up's steps, timed (no search) */
static uint64_t opt_budget_ms = 2000; /* a search past this is interrupted */
static unsigned long opt_page_size = 4096; /* mirror and bare: (cipher_)page_size */
#define MAX_KNOBS 4
static const char *opt_pragmas[MAX_KNOBS]; /* mirror and bare: "name=value", run after ours */
static size_t num_pragmas;
static const char *opt_cuts[MAX_KNOBS]; /* mirror and bare: text cut from the schema */
static size_t num_cuts;
static sqlite3_stmt *kept_insert;     /* with opt_reuse: the mirror's INSERT */
static sqlite3_stmt *kept_fts;        /* and its full-text INSERT */
static unsigned file_counter;

/*
 * cut_all removes from |sql| (NUL-terminated, edited in place) every
 * occurrence of each --schema-cut text: the what-if of a schema without,
 * say, AUTOINCREMENT or a UNIQUE constraint.
 */
static void cut_all(char *sql)
{
	for (size_t i = 0; i < num_cuts; i++) {
		size_t n = strlen(opt_cuts[i]);
		char *p;

		while ((p = strstr(sql, opt_cuts[i])) != NULL) {
			memmove(p, p + n, strlen(p + n) + 1);
		}
	}
}

/*
 * copy_schema creates in |dst| the tables, indexes, triggers and virtual
 * tables that store.c's migrations made in |src|, from src's sqlite_master
 * in creation order, with the --schema-cut texts removed. A virtual table
 * makes its own shadow tables, so those are skipped, as are SQLite's
 * internal tables. With |fts_only| it creates the virtual tables alone:
 * the full-text index declared exactly as the store declares it (an
 * external-content FTS4 table never reads its content table on INSERT).
 */
static void copy_schema(sqlite3 *dst, sqlite3 *src, bool fts_only)
{
	sqlite3_stmt *st = NULL;
	char vtabs[8][64];
	size_t num_vtabs = 0;

	if (sqlite3_prepare_v2(src,
	                       "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
	                       " AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
	                       -1, &st, NULL) != SQLITE_OK) {
		die_sql(src, "read schema");
	}
	exec_or_die(dst, "BEGIN");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);
		char edited[4096];
		bool shadow = false;

		for (size_t i = 0; i < num_vtabs; i++) {
			size_t n = strlen(vtabs[i]);

			if (strncmp(name, vtabs[i], n) == 0 && name[n] == '_') {
				shadow = true;
			}
		}
		if (shadow) {
			continue;
		}
		if (strncmp(sql, "CREATE VIRTUAL TABLE", 20) == 0) {
			if (num_vtabs == 8 || strlen(name) >= sizeof vtabs[0]) {
				fprintf(stderr, "bench_store: unexpected schema\n");
				exit(1);
			}
			snprintf(vtabs[num_vtabs++], sizeof vtabs[0], "%s", name);
		} else if (fts_only) {
			continue;
		}
		if (strlen(sql) >= sizeof edited) {
			fprintf(stderr, "bench_store: unexpected schema\n");
			exit(1);
		}
		memcpy(edited, sql, strlen(sql) + 1);
		cut_all(edited);
		exec_or_die(dst, edited);
	}
	exec_or_die(dst, "COMMIT");
	sqlite3_finalize(st);
}

/* key_raw keys |db| with a raw 256-bit key, as store.c does (no PBKDF2). */
static void key_raw(sqlite3 *db, const uint8_t key[STORE_KEY_LEN])
{
	char spec[2 + 2 * STORE_KEY_LEN + 2];

	spec[0] = 'x';
	spec[1] = '\'';
	sodium_bin2hex(spec + 2, 2 * STORE_KEY_LEN + 1, key, STORE_KEY_LEN);
	spec[2 + 2 * STORE_KEY_LEN] = '\'';
	spec[3 + 2 * STORE_KEY_LEN] = '\0';
	if (sqlite3_key(db, spec, (int)(sizeof spec - 1)) != SQLITE_OK) {
		die_sql(db, "key");
	}
	sodium_memzero(spec, sizeof spec);
}

/* remove_db_files removes a database and its WAL and shared-memory files. */
static void remove_db_files(const char *path)
{
	char p[PATH_LEN + 32];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static void target_open(struct target *t, enum side side, const struct corpus *c)
{
	uint8_t key[STORE_KEY_LEN];
	struct store *schema_src = NULL;
	char schema_path[PATH_LEN + 16];

	char pragma[128];
	/*
	 * The mirror runs on the store's own connection unless a knob needs a
	 * file the store would not make (another page size, a cut schema).
	 */
	bool own_conn = side == SIDE_MIRROR_PLAIN || side_is_bare(side) ||
	                (side == SIDE_MIRROR_CIPHER && (opt_page_size != 4096 || num_cuts > 0));

	memset(t, 0, sizeof *t);
	t->side = side;
	snprintf(t->path, sizeof t->path, "%s/s%u.db", tmpdir, file_counter++);
	randombytes_buf(key, sizeof key);
	if (!own_conn) {
		if (store_open(&t->store, t->path, key, STORE_CREATE) != HALQA_OK) {
			fprintf(stderr, "bench_store: store_open failed\n");
			exit(1);
		}
		t->db = store_db(t->store);
	} else {
		/* The schema comes from a store made for the purpose, then deleted. */
		snprintf(schema_path, sizeof schema_path, "%s.schema", t->path);
		if (store_open(&schema_src, schema_path, key, STORE_CREATE) != HALQA_OK) {
			fprintf(stderr, "bench_store: store_open failed\n");
			exit(1);
		}
		if (sqlite3_open_v2(t->path, &t->db,
		                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		                        SQLITE_OPEN_FULLMUTEX,
		                    NULL) != SQLITE_OK) {
			die_sql(t->db, "open");
		}
		sqlite3_extended_result_codes(t->db, 1);
		/* The pragmas store_open sets, with a key only on the cipher sides. */
		if (side_is_plain(side)) {
			snprintf(pragma, sizeof pragma, "PRAGMA page_size = %lu", opt_page_size);
		} else {
			key_raw(t->db, key);
			snprintf(pragma, sizeof pragma, "PRAGMA cipher_page_size = %lu",
			         opt_page_size);
		}
		exec_or_die(t->db, pragma);
		exec_or_die(t->db, "PRAGMA journal_mode = WAL");
		exec_or_die(t->db, "PRAGMA secure_delete = ON");
		exec_or_die(t->db, "PRAGMA foreign_keys = ON");
		copy_schema(t->db, store_db(schema_src), side_is_bare(side));
		store_close(schema_src);
		remove_db_files(schema_path);
	}
	sodium_memzero(key, sizeof key);
	for (size_t i = 0; i < num_pragmas && side != SIDE_STORE; i++) {
		snprintf(pragma, sizeof pragma, "PRAGMA %s", opt_pragmas[i]);
		exec_or_die(t->db, pragma);
	}
	if (opt_drop_index != NULL && side != SIDE_STORE && !side_is_bare(side)) {
		char sql[128];

		snprintf(sql, sizeof sql, "DROP INDEX \"%s\"", opt_drop_index);
		exec_or_die(t->db, sql);
	}
	if (opt_cache_kib > 0) {
		snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%lu", opt_cache_kib);
		exec_or_die(t->db, pragma);
	}
	for (uint32_t i = 0; i < NUM_CIRCLES && !side_is_bare(side); i++) {
		struct store_circle sc = {0};

		memcpy(sc.circle_id, c->circle_ids[i], STORE_ID_LEN);
		snprintf(sc.name, sizeof sc.name, "circle-%u", i);
		sc.created_at = 1;
		if (t->store != NULL) {
			if (store_circle_add(t->store, &sc) != HALQA_OK) {
				fprintf(stderr, "bench_store: store_circle_add failed\n");
				exit(1);
			}
		} else {
			sqlite3_stmt *st = NULL;

			if (sqlite3_prepare_v2(t->db,
			                       "INSERT INTO circles(circle_id, name, created_at)"
			                       " VALUES(?, ?, ?)",
			                       -1, &st, NULL) != SQLITE_OK) {
				die_sql(t->db, "prepare circle");
			}
			sqlite3_bind_blob(st, 1, sc.circle_id, STORE_ID_LEN, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, sc.name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, sc.created_at);
			if (sqlite3_step(st) != SQLITE_DONE) {
				die_sql(t->db, "insert circle");
			}
			sqlite3_finalize(st);
		}
	}
}

static long file_kib(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long)(sb.st_size / 1024) : 0;
}

/*
 * check_header makes sure a side is what it claims: a plain SQLite file
 * starts with "SQLite format 3", an SQLCipher file with its random salt.
 */
static void check_header(const struct target *t)
{
	static const char magic[16] = "SQLite format 3";
	char head[16] = {0};
	FILE *f = fopen(t->path, "rb");
	bool plain = f != NULL && fread(head, 1, sizeof head, f) == sizeof head &&
	             memcmp(head, magic, sizeof magic) == 0;

	if (f != NULL) {
		fclose(f);
	}
	if (plain != side_is_plain(t->side)) {
		fprintf(stderr, "bench_store: %s file is %s\n", side_names[t->side],
		        plain ? "plaintext" : "not plain SQLite");
		exit(1);
	}
}

/*
 * target_close closes a side and removes its files; it returns the size of
 * the database in KiB after the close, whose last checkpoint folded the
 * WAL into it.
 */
static long target_close(struct target *t)
{
	long kib;

	sqlite3_finalize(kept_insert);
	sqlite3_finalize(kept_fts);
	kept_insert = NULL;
	kept_fts = NULL;
	if (t->store != NULL) {
		store_close(t->store);
	} else {
		sqlite3_close_v2(t->db);
	}
	check_header(t);
	kib = file_kib(t->path);
	remove_db_files(t->path);
	return kib;
}

/* stmt_get returns the statement kept in |*slot|, or with --prepare-each a new one. */
static sqlite3_stmt *stmt_get(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (opt_reuse && *slot != NULL) {
		return *slot;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		die_sql(db, sql);
	}
	if (opt_reuse) {
		*slot = st;
	}
	return st;
}

static void stmt_done(sqlite3_stmt *st)
{
	if (opt_reuse) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	} else {
		sqlite3_finalize(st);
	}
}

/*
 * The mirror of store_message_add: check, bind, step, reset: one row
 * VALUES with the circle's id from a subquery, then the full-text row by a
 * second one-row statement, so that neither needs a statement journal
 * (see README). With --no-fts the second statement is left out.
 */
static int mirror_add(sqlite3 *db, const struct corpus *c, const struct msg *m)
{
	sqlite3_stmt *st;
	size_t len = strnlen(m->body, STORE_MAX_BODY + 1);
	int rc;

	if (len > STORE_MAX_BODY || !utf8_valid((const uint8_t *)m->body, len)) {
		return -1;
	}
	if (opt_savepoint) {
		exec_or_die(db, "SAVEPOINT halqa_op");
	}
	st = stmt_get(db, &kept_insert,
	              "INSERT INTO messages(circle, msg_id, sender, sent_at, received_at,"
	              " body, flags) VALUES((SELECT id FROM circles WHERE circle_id = ?7),"
	              " ?1, ?2, ?3, ?4, ?5, ?6)");
	sqlite3_bind_blob(st, 1, m->msg_id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->senders[m->circle][m->sender], STORE_PUB_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, m->sent_at);
	sqlite3_bind_int64(st, 4, m->received_at);
	sqlite3_bind_text(st, 5, m->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, 0);
	sqlite3_bind_blob(st, 7, c->circle_ids[m->circle], STORE_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && sqlite3_changes(db) == 0) {
		rc = SQLITE_NOTFOUND;
	}
	stmt_done(st);
	if (rc == SQLITE_DONE && !opt_no_fts) {
		st = stmt_get(db, &kept_fts, "INSERT INTO messages_fts(docid, body) VALUES(?, ?)");
		sqlite3_bind_int64(st, 1, sqlite3_last_insert_rowid(db));
		sqlite3_bind_text(st, 2, m->body, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		stmt_done(st);
	}
	if (opt_savepoint) {
		exec_or_die(db, "RELEASE halqa_op");
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * bare_add is the full-text half of mirror_add alone: the same check, the
 * same statement, the docid the store would have given the message (its
 * 1-based position: seq counts from 1 in a fresh store). What it costs is
 * FTS4's own ceiling on this corpus; the rest of the store's time is the
 * messages row and its indexes.
 */
static int bare_add(sqlite3 *db, const struct msg *m, int64_t docid)
{
	sqlite3_stmt *st;
	size_t len = strnlen(m->body, STORE_MAX_BODY + 1);
	int rc;

	if (len > STORE_MAX_BODY || !utf8_valid((const uint8_t *)m->body, len)) {
		return -1;
	}
	st = stmt_get(db, &kept_fts, "INSERT INTO messages_fts(docid, body) VALUES(?, ?)");
	sqlite3_bind_int64(st, 1, docid);
	sqlite3_bind_text(st, 2, m->body, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	stmt_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int store_add(struct store *s, const struct corpus *c, const struct msg *m)
{
	struct store_message sm = {0};

	memcpy(sm.circle_id, c->circle_ids[m->circle], STORE_ID_LEN);
	memcpy(sm.msg_id, m->msg_id, STORE_ID_LEN);
	memcpy(sm.sender, c->senders[m->circle][m->sender], STORE_PUB_LEN);
	sm.sent_at = m->sent_at;
	sm.received_at = m->received_at;
	sm.body = m->body;
	return store_message_add(s, &sm, NULL) == HALQA_OK ? 0 : -1;
}

struct insert_result {
	double wall_s;
	double cpu_s;
};

/* insert_all stores the whole corpus in transactions of |batch| messages. */
static struct insert_result insert_all(struct target *t, const struct corpus *c, size_t batch)
{
	struct insert_result res;
	uint64_t start = bench_now_ns();
	double cpu = cpu_now_s();

	for (size_t i = 0; i < c->num; i += batch) {
		size_t end = i + batch < c->num ? i + batch : c->num;

		if (t->side == SIDE_STORE) {
			if (store_begin(t->store) != HALQA_OK) {
				fprintf(stderr, "bench_store: store_begin failed\n");
				exit(1);
			}
		} else {
			exec_or_die(t->db, "BEGIN IMMEDIATE");
		}
		for (size_t j = i; j < end; j++) {
			int rc = t->side == SIDE_STORE ? store_add(t->store, c, &c->msgs[j])
			         : side_is_bare(t->side) ? bare_add(t->db, &c->msgs[j], (int64_t)j + 1)
			                                 : mirror_add(t->db, c, &c->msgs[j]);
			if (rc != 0) {
				fprintf(stderr, "bench_store: insert %zu failed on %s\n", j,
				        side_names[t->side]);
				exit(1);
			}
		}
		if (t->side == SIDE_STORE) {
			if (store_commit(t->store) != HALQA_OK) {
				fprintf(stderr, "bench_store: store_commit failed\n");
				exit(1);
			}
		} else {
			exec_or_die(t->db, "COMMIT");
		}
	}
	res.wall_s = (double)(bench_now_ns() - start) / 1e9;
	res.cpu_s = cpu_now_s() - cpu;
	return res;
}

/*
 * receive_all stores the corpus as the engine's catch-up does (client/
 * engine.c, batch_item and store_application), on the store side, in
 * transactions of |batch| messages (ENGINE_BATCH_ITEMS by default, the
 * engine's, which spans FETCH replies of 256): per message the
 * own-echo lookup (a miss: nobody here is us), the seen-id insert, the
 * sender's counter read on its first message of the batch, the message
 * with its full-text row; at the batch's end each sender's counter written
 * once, then the commit. Prints the CPU time of each step per message.
 */
static void receive_all(struct target *t, const struct corpus *c, size_t batch)
{
	enum { TAKE, SEEN, CGET, ADD, CSET, COMMIT, NUM_STEPS };
	static const char *const names[NUM_STEPS] = {"echo lookup", "seen-id insert",
	                                             "counter read", "message+FTS insert",
	                                             "counter write", "commit"};
	double spent[NUM_STEPS] = {0}, t0, total = 0;
	uint64_t start = bench_now_ns();
	uint8_t hash[32];
	bool seen[NUM_CIRCLES][SENDERS_PER_CIRCLE];
	uint64_t counter[NUM_CIRCLES][SENDERS_PER_CIRCLE];

	memset(counter, 0, sizeof counter);
	for (size_t i = 0; i < c->num; i += batch) {
		size_t end = i + batch < c->num ? i + batch : c->num;

		memset(seen, 0, sizeof seen);
		if (store_begin(t->store) != HALQA_OK) {
			fprintf(stderr, "bench_store: store_begin failed\n");
			exit(1);
		}
		for (size_t j = i; j < end; j++) {
			const struct msg *m = &c->msgs[j];
			const uint8_t *cid = c->circle_ids[m->circle];
			const uint8_t *snd = c->senders[m->circle][m->sender];
			uint64_t last = 0;
			int r;

			randombytes_buf(hash, sizeof hash);
			t0 = cpu_now_s();
			r = store_sent_take(t->store, cid, hash);
			spent[TAKE] += cpu_now_s() - t0;
			t0 = cpu_now_s();
			if (r != HALQA_ERR_NOT_FOUND || store_seen_add(t->store, cid, m->msg_id) != HALQA_OK) {
				fprintf(stderr, "bench_store: receive %zu failed\n", j);
				exit(1);
			}
			spent[SEEN] += cpu_now_s() - t0;
			if (!seen[m->circle][m->sender]) {
				t0 = cpu_now_s();
				if (store_counter_get(t->store, cid, snd, &last) != HALQA_OK ||
				    last != counter[m->circle][m->sender]) {
					fprintf(stderr, "bench_store: counter read %zu failed\n", j);
					exit(1);
				}
				spent[CGET] += cpu_now_s() - t0;
				seen[m->circle][m->sender] = true;
			}
			counter[m->circle][m->sender]++;
			t0 = cpu_now_s();
			if (store_add(t->store, c, m) != 0) {
				fprintf(stderr, "bench_store: insert %zu failed\n", j);
				exit(1);
			}
			spent[ADD] += cpu_now_s() - t0;
		}
		t0 = cpu_now_s();
		for (uint32_t ci = 0; ci < NUM_CIRCLES; ci++) {
			for (uint32_t si = 0; si < SENDERS_PER_CIRCLE; si++) {
				if (seen[ci][si] &&
				    store_counter_set(t->store, c->circle_ids[ci], c->senders[ci][si],
				                      counter[ci][si]) != HALQA_OK) {
					fprintf(stderr, "bench_store: counter write failed\n");
					exit(1);
				}
			}
		}
		spent[CSET] += cpu_now_s() - t0;
		t0 = cpu_now_s();
		if (store_commit(t->store) != HALQA_OK) {
			fprintf(stderr, "bench_store: store_commit failed\n");
			exit(1);
		}
		spent[COMMIT] += cpu_now_s() - t0;
	}
	printf("receive path, %zu messages in batches of %zu, %.2f s wall; CPU per message:",
	       c->num, batch, (double)(bench_now_ns() - start) / 1e9);
	for (int k = 0; k < NUM_STEPS; k++) {
		printf(" %s %.1f us,", names[k], spent[k] * 1e6 / (double)c->num);
		total += spent[k];
	}
	printf(" in all %.1f us (%.0f msg per CPU-s)\n", total * 1e6 / (double)c->num,
	       (double)c->num / total);
	fflush(stdout);
}

/* A search query, with what every side must find. */
struct query {
	char text[128];
	const char *kind;
	uint32_t df; /* documents containing all words, from the generator (single words) */
	bool one_circle;
	size_t expect_num;
	int64_t expect_first;
	bool expect_set;
};

#define MESSAGE_COLS                                                                               \
	"m.seq, c.circle_id, m.msg_id, m.sender, m.sent_at, m.received_at, m.flags, m.body"

/*
 * search_sql is store_message_search's statement: CROSS JOIN keeps
 * messages_fts the outer loop (SQLite never reorders a CROSS JOIN), and
 * ORDER BY docid DESC is the order FTS4 returns rows in, so LIMIT stops
 * after |limit| rows instead of sorting every match. With --old-search it
 * is the statement store.c had before (newest by sent_at, the planner free
 * to choose), to reproduce the README's "as it was" figures.
 */
static const char *search_sql(bool one_circle)
{
	if (!opt_old_search) {
		return one_circle ? "SELECT " MESSAGE_COLS " FROM messages_fts f"
		                    " CROSS JOIN messages m ON m.seq = f.docid CROSS JOIN circles c"
		                    " ON c.id = m.circle WHERE messages_fts MATCH ? AND"
		                    " c.circle_id = ? ORDER BY f.docid DESC LIMIT ?"
		                  : "SELECT " MESSAGE_COLS " FROM messages_fts f"
		                    " CROSS JOIN messages m ON m.seq = f.docid CROSS JOIN circles c"
		                    " ON c.id = m.circle WHERE messages_fts MATCH ? AND ?2 IS NULL"
		                    " ORDER BY f.docid DESC LIMIT ?";
	}
	return one_circle ? "SELECT " MESSAGE_COLS " FROM messages_fts f"
	                    " JOIN messages m ON m.seq = f.docid JOIN circles c ON"
	                    " c.id = m.circle WHERE messages_fts MATCH ? AND"
	                    " c.circle_id = ? ORDER BY m.sent_at DESC, m.seq DESC LIMIT ?"
	                  : "SELECT " MESSAGE_COLS " FROM messages_fts f"
	                    " JOIN messages m ON m.seq = f.docid JOIN circles c ON"
	                    " c.id = m.circle WHERE messages_fts MATCH ? AND ?2 IS"
	                    " NULL ORDER BY m.sent_at DESC, m.seq DESC LIMIT ?";
}

static void print_plan(sqlite3 *db, bool one_circle)
{
	char sql[1024];
	sqlite3_stmt *st = NULL;

	snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", search_sql(one_circle));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		die_sql(db, "explain");
	}
	printf("query plan (%s):\n", one_circle ? "one circle" : "all circles");
	while (sqlite3_step(st) == SQLITE_ROW) {
		printf("  %s\n", (const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
}

/*
 * The mirror of store_message_search: the words double-quoted (our queries
 * are plain words), the same statement text, every row copied out.
 */
static int mirror_search(sqlite3 *db, const struct corpus *c, const struct query *q,
                         size_t *out_num, int64_t *out_first)
{
	char match[4 * 128 + 8];
	size_t o = 0, num = 0;
	sqlite3_stmt *st = NULL;
	int rc;
	bool in_word = false;

	for (const char *p = q->text;; p++) {
		bool sep = *p == '\0' || *p == ' ';

		if (!sep && !in_word) {
			if (o > 0) {
				match[o++] = ' ';
			}
			match[o++] = '"';
			in_word = true;
		}
		if (sep && in_word) {
			match[o++] = '"';
			in_word = false;
		}
		if (*p == '\0') {
			break;
		}
		if (!sep) {
			match[o++] = *p;
		}
	}
	match[o] = '\0';
	rc = sqlite3_prepare_v2(db, search_sql(q->one_circle), -1, &st, NULL);
	if (rc != SQLITE_OK) {
		return -1;
	}
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	if (q->one_circle) {
		sqlite3_bind_blob(st, 2, c->circle_ids[0], STORE_ID_LEN, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 3, SEARCH_LIMIT);
	*out_first = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct {
			uint8_t circle_id[STORE_ID_LEN], msg_id[STORE_ID_LEN];
			uint8_t sender[STORE_PUB_LEN];
		} ids;
		const unsigned char *body = sqlite3_column_text(st, 7);
		int n = sqlite3_column_bytes(st, 7);
		char *copy;

		if (num == 0) {
			*out_first = sqlite3_column_int64(st, 0);
		}
		if (sqlite3_column_bytes(st, 1) != STORE_ID_LEN ||
		    sqlite3_column_bytes(st, 2) != STORE_ID_LEN ||
		    sqlite3_column_bytes(st, 3) != STORE_PUB_LEN || body == NULL || n < 0) {
			rc = SQLITE_CORRUPT;
			break;
		}
		memcpy(ids.circle_id, sqlite3_column_blob(st, 1), STORE_ID_LEN);
		memcpy(ids.msg_id, sqlite3_column_blob(st, 2), STORE_ID_LEN);
		memcpy(ids.sender, sqlite3_column_blob(st, 3), STORE_PUB_LEN);
		(void)sqlite3_column_int64(st, 4);
		(void)sqlite3_column_int64(st, 5);
		(void)sqlite3_column_int64(st, 6);
		copy = xmalloc((size_t)n + 1);
		memcpy(copy, body, (size_t)n);
		copy[n] = '\0';
		free(copy);
		num++;
	}
	sqlite3_finalize(st);
	*out_num = num;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int store_search(struct store *s, const struct corpus *c, const struct query *q,
                        size_t *out_num, int64_t *out_first)
{
	struct store_message_list l = {0};
	int r = store_message_search(s, q->text, q->one_circle ? c->circle_ids[0] : NULL,
	                             SEARCH_LIMIT, &l);

	*out_num = l.num;
	*out_first = l.num > 0 ? l.items[0].seq : 0;
	store_message_list_free(&l);
	return r == HALQA_OK ? 0 : -1;
}

/* The query mix: common and rare words of both scripts, two-word queries, a miss. */
static size_t make_queries(struct query *qs, const struct corpus *c)
{
	static const struct {
		bool arabic;
		size_t rank;
		const char *kind;
	} singles[] = {
	    {false, 0, "common"},  {true, 0, "common"},    {false, 14, "common"},
	    {true, 14, "common"},  {false, 300, "medium"}, {true, 300, "medium"},
	    {false, 3000, "rare"}, {true, 3000, "rare"},   {false, 7000, "rare"},
	    {true, 7000, "rare"},
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
		const struct vocab *v = singles[i].arabic ? &c->arabic : &c->latin;

		snprintf(qs[n].text, sizeof qs[n].text, "%s", v->words[singles[i].rank]);
		qs[n].kind = singles[i].kind;
		qs[n].df = v->df[singles[i].rank];
		n++;
	}
	snprintf(qs[n].text, sizeof qs[n].text, "%s %s", c->latin.words[14], c->latin.words[20]);
	qs[n].kind = "two common";
	n++;
	snprintf(qs[n].text, sizeof qs[n].text, "%s %s", c->arabic.words[0], c->arabic.words[3000]);
	qs[n].kind = "common+rare";
	n++;
	snprintf(qs[n].text, sizeof qs[n].text, "%s", "xyzzyq");
	qs[n].kind = "absent";
	n++;
	/* Each query once over all circles and once in the largest circle. */
	for (size_t i = 0; i < n; i++) {
		qs[n + i] = qs[i];
		qs[n + i].one_circle = true;
	}
	return 2 * n;
}

struct search_result {
	double median_ms, p99_ms, cpu_ms_per_query;
	unsigned timeouts;
	double q_median_ms[64];
	bool q_timed_out[64];
};

/* A query that runs past the budget is interrupted and counted at the budget. */
static uint64_t search_deadline_ns;

static int search_progress(void *arg)
{
	(void)arg;
	return bench_now_ns() > search_deadline_ns;
}

static struct search_result search_all(struct target *t, const struct corpus *c, struct query *qs,
                                       size_t num_q, unsigned reps)
{
	struct search_result res = {0};
	static uint64_t all[MAX_SAMPLES];
	uint64_t per_q[64][64];
	bool timed_out[64] = {false};
	size_t num_all = 0;
	double cpu = cpu_now_s();

	sqlite3_progress_handler(t->db, 1000, search_progress, NULL);
	for (unsigned rep = 0; rep < reps; rep++) {
		for (size_t i = 0; i < num_q; i++) {
			size_t num = 0;
			int64_t first = 0;
			uint64_t start = bench_now_ns(), ns;
			int rc;

			if (timed_out[i]) {
				/* Once over budget, always over: do not spend it again. */
				per_q[i][rep] = opt_budget_ms * 1000000u;
				all[num_all++] = per_q[i][rep];
				continue;
			}
			search_deadline_ns = start + opt_budget_ms * 1000000u;
			rc = t->side == SIDE_STORE ? store_search(t->store, c, &qs[i], &num, &first)
			                           : mirror_search(t->db, c, &qs[i], &num, &first);
			ns = bench_now_ns() - start;
			if (rc != 0 && ns >= opt_budget_ms * 1000000u) {
				timed_out[i] = true;
				res.timeouts++;
				per_q[i][rep] = opt_budget_ms * 1000000u;
				all[num_all++] = per_q[i][rep];
				continue;
			}
			if (rc != 0) {
				fprintf(stderr, "bench_store: search '%s' failed on %s\n",
				        qs[i].text, side_names[t->side]);
				exit(1);
			}
			if (!qs[i].expect_set) {
				qs[i].expect_num = num;
				qs[i].expect_first = first;
				qs[i].expect_set = true;
			} else if (qs[i].expect_num != num || qs[i].expect_first != first) {
				fprintf(stderr,
				        "bench_store: search '%s' on %s found %zu (first %lld),"
				        " expected %zu (first %lld)\n",
				        qs[i].text, side_names[t->side], num, (long long)first,
				        qs[i].expect_num, (long long)qs[i].expect_first);
				exit(1);
			}
			per_q[i][rep] = ns;
			all[num_all++] = ns;
		}
	}
	sqlite3_progress_handler(t->db, 0, NULL, NULL);
	res.cpu_ms_per_query = (cpu_now_s() - cpu) * 1e3 / (double)num_all;
	for (size_t i = 0; i < num_q; i++) {
		res.q_median_ms[i] = bench_percentile_ms(per_q[i], reps, 0.5);
		res.q_timed_out[i] = timed_out[i];
	}
	res.median_ms = bench_percentile_ms(all, num_all, 0.5);
	res.p99_ms = bench_percentile_ms(all, num_all, 0.99);
	return res;
}

static void print_ms(double ms, bool over)
{
	if (over) {
		printf("%8s", "over");
	} else {
		printf("%8.2f", ms);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof v[0], cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_store [--messages N] [--batch N] [--rounds N]"
	                " [--reps N]\n"
	                "       [--sides store,cipher,plain,bare,bare-cipher,bare-plain]\n"
	                "       [--prepare-each] [--savepoint] [--old-search]"
	                " [--no-fts] [--drop-index NAME] [--receive]\n"
	                "       [--cache-kib N] [--budget-ms N] [--plan] [--page-size N]\n"
	                "       [--pragma NAME=VALUE]... [--schema-cut TEXT]...\n");
	exit(2);
}

/* pragma_ok accepts "name=value" of letters, digits, '_' and '-' only. */
static bool pragma_ok(const char *s)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s || eq[1] == '\0' || strlen(s) > 64) {
		return false;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if (p != eq && !(*p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
		                 (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			return false;
		}
	}
	return true;
}

/* parse_sides reads the comma-separated side names of --sides. */
static void parse_sides(const char *s, bool run_side[NUM_SIDES])
{
	static const struct {
		const char *name;
		int a, b;
	} names[] = {
	    {"store", SIDE_STORE, -1},
	    {"cipher", SIDE_MIRROR_CIPHER, -1},
	    {"plain", SIDE_MIRROR_PLAIN, -1},
	    {"bare", SIDE_BARE_CIPHER, SIDE_BARE_PLAIN},
	    {"bare-cipher", SIDE_BARE_CIPHER, -1},
	    {"bare-plain", SIDE_BARE_PLAIN, -1},
	};

	memset(run_side, 0, NUM_SIDES * sizeof run_side[0]);
	while (*s != '\0') {
		size_t n = strcspn(s, ",");
		bool found = false;

		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
			if (strlen(names[i].name) == n && strncmp(s, names[i].name, n) == 0) {
				run_side[names[i].a] = true;
				if (names[i].b >= 0) {
					run_side[names[i].b] = true;
				}
				found = true;
			}
		}
		if (!found) {
			usage();
		}
		s += n;
		s += *s == ',';
	}
}

static unsigned long arg_num(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		usage();
	}
	return v;
}

int main(int argc, char **argv)
{
	static struct corpus c;
	static struct query qs[64];
	size_t num_messages = NUM_MESSAGES_DEFAULT, batch = BATCH_DEFAULT, num_q;
	unsigned rounds = ROUNDS_DEFAULT, reps = SEARCH_REPS_DEFAULT;
	bool run_side[NUM_SIDES] = {true, true, true, false, false};
	double ins_wall[NUM_SIDES][16], ins_cpu[NUM_SIDES][16];
	static struct search_result sr[NUM_SIDES][16];
	double ins_med[NUM_SIDES] = {0}, q_med[NUM_SIDES] = {0}, q_p99[NUM_SIDES] = {0};
	double cpu_us[NUM_SIDES] = {0};
	bool searched;
	long kib[NUM_SIDES] = {0};
	const char *base;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc) {
			num_messages = arg_num(argv[++i], 1000, 10000000);
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			batch = arg_num(argv[++i], 1, 1000000);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = (unsigned)arg_num(argv[++i], 1, 16);
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = (unsigned)arg_num(argv[++i], 0, 64);
		} else if (strcmp(argv[i], "--cache-kib") == 0 && i + 1 < argc) {
			opt_cache_kib = arg_num(argv[++i], 1, 4u * 1024 * 1024);
		} else if (strcmp(argv[i], "--prepare-each") == 0) {
			opt_reuse = false;
		} else if (strcmp(argv[i], "--old-search") == 0) {
			opt_old_search = true;
		} else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc) {
			opt_budget_ms = arg_num(argv[++i], 1, 3600000);
		} else if (strcmp(argv[i], "--savepoint") == 0) {
			opt_savepoint = true;
		} else if (strcmp(argv[i], "--no-fts") == 0) {
			opt_no_fts = true;
		} else if (strcmp(argv[i], "--receive") == 0) {
			opt_receive = true;
		} else if (strcmp(argv[i], "--drop-index") == 0 && i + 1 < argc &&
		           strlen(argv[i + 1]) < 64 && strchr(argv[i + 1], '"') == NULL) {
			opt_drop_index = argv[++i];
		} else if (strcmp(argv[i], "--plan") == 0) {
			opt_plan = true;
		} else if (strcmp(argv[i], "--sides") == 0 && i + 1 < argc) {
			parse_sides(argv[++i], run_side);
		} else if (strcmp(argv[i], "--page-size") == 0 && i + 1 < argc) {
			opt_page_size = arg_num(argv[++i], 512, 65536);
			if ((opt_page_size & (opt_page_size - 1)) != 0) {
				usage();
			}
		} else if (strcmp(argv[i], "--pragma") == 0 && i + 1 < argc &&
		           num_pragmas < MAX_KNOBS && pragma_ok(argv[i + 1])) {
			opt_pragmas[num_pragmas++] = argv[++i];
		} else if (strcmp(argv[i], "--schema-cut") == 0 && i + 1 < argc &&
		           num_cuts < MAX_KNOBS && argv[i + 1][0] != '\0') {
			opt_cuts[num_cuts++] = argv[++i];
		} else {
			usage();
		}
	}
	if ((opt_old_search || opt_no_fts) && run_side[SIDE_STORE]) {
		/* The store's search results would differ from the mirror's. */
		printf("--old-search or --no-fts: the store side is left out\n");
		run_side[SIDE_STORE] = false;
	}
	if (sodium_init() < 0) {
		return 1;
	}
	base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/bench_store.XXXXXX",
	         base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("bench_store: mkdtemp");
		return 1;
	}

	corpus_make(&c, num_messages);
	num_q = make_queries(qs, &c);
	printf("bench_store: SQLite %s, %zu messages (%.1f MB of text, mean %.0f B),"
	       " batches of %zu, %u rounds, %u search reps\n",
	       sqlite3_libversion(), c.num, (double)c.body_bytes / 1e6,
	       (double)c.body_bytes / (double)c.num, batch, rounds, reps);
	printf("circles: %zu %zu %zu %zu %zu messages\n", c.per_circle[0], c.per_circle[1],
	       c.per_circle[2], c.per_circle[3], c.per_circle[4]);
	bench_print_load("at start");

	if (opt_receive) {
		for (unsigned round = 0; round < rounds; round++) {
			struct target t;

			target_open(&t, SIDE_STORE, &c);
			receive_all(&t, &c, batch);
			(void)target_close(&t);
		}
		bench_print_load("at end");
		if (rmdir(tmpdir) != 0) {
			fprintf(stderr, "bench_store: %s not empty\n", tmpdir);
		}
		corpus_free(&c);
		return 0;
	}
	/* Rounds alternate the sides, so a burst of load hits all of them alike. */
	for (unsigned round = 0; round < rounds; round++) {
		for (int side = 0; side < NUM_SIDES; side++) {
			struct target t;
			struct insert_result ir;

			if (!run_side[side]) {
				continue;
			}
			target_open(&t, (enum side)side, &c);
			ir = insert_all(&t, &c, batch);
			ins_wall[side][round] = ir.wall_s;
			ins_cpu[side][round] = ir.cpu_s;
			if (opt_plan && round == 0 && side != SIDE_STORE && !side_is_bare(side)) {
				print_plan(t.db, false);
				print_plan(t.db, true);
			}
			/* A bare index has no messages to show: it is not searched. */
			searched = reps > 0 && !side_is_bare((enum side)side);
			if (searched) {
				sr[side][round] = search_all(&t, &c, qs, num_q, reps);
			}
			printf("round %u %-18s insert %8.0f msg/s (cpu %6.2f s of %6.2f s)",
			       round + 1, side_names[side], (double)c.num / ir.wall_s, ir.cpu_s,
			       ir.wall_s);
			if (searched) {
				printf("  search median %6.3f ms p99 %6.3f ms (cpu %.3f ms/query,"
				       " %u over %llu ms)",
				       sr[side][round].median_ms, sr[side][round].p99_ms,
				       sr[side][round].cpu_ms_per_query, sr[side][round].timeouts,
				       (unsigned long long)opt_budget_ms);
			}
			printf("\n");
			fflush(stdout);
			kib[side] = target_close(&t);
		}
	}
	bench_print_load("at end");

	printf("\nmedians of %u rounds:\n", rounds);
	printf("%-18s %10s %12s %10s %12s %12s %10s\n", "side", "insert/s", "insert/cpu-s",
	       "cpu us/msg", "search p50", "search p99", "file KiB");
	for (int side = 0; side < NUM_SIDES; side++) {
		double w[16], cp[16], m[16], p[16];

		if (!run_side[side]) {
			continue;
		}
		for (unsigned r = 0; r < rounds; r++) {
			w[r] = ins_wall[side][r];
			cp[r] = ins_cpu[side][r];
			m[r] = sr[side][r].median_ms;
			p[r] = sr[side][r].p99_ms;
		}
		ins_med[side] = median(w, rounds);
		q_med[side] = median(m, rounds);
		q_p99[side] = median(p, rounds);
		cpu_us[side] = median(cp, rounds) * 1e6 / (double)c.num;
		printf("%-18s %10.0f %12.0f %10.1f", side_names[side],
		       (double)c.num / ins_med[side], 1e6 / cpu_us[side], cpu_us[side]);
		if (reps > 0 && !side_is_bare((enum side)side)) {
			printf(" %9.3f ms %9.3f ms", q_med[side], q_p99[side]);
		} else {
			printf(" %12s %12s", "-", "-");
		}
		printf(" %10ld\n", kib[side]);
	}
	if (run_side[SIDE_MIRROR_CIPHER] && run_side[SIDE_MIRROR_PLAIN]) {
		printf(
		    "cipher/plain time ratio: insert %.2f, search median %.2f, search p99 %.2f\n",
		    ins_med[SIDE_MIRROR_CIPHER] / ins_med[SIDE_MIRROR_PLAIN],
		    q_med[SIDE_MIRROR_CIPHER] / q_med[SIDE_MIRROR_PLAIN],
		    q_p99[SIDE_MIRROR_CIPHER] / q_p99[SIDE_MIRROR_PLAIN]);
	}
	if (run_side[SIDE_BARE_CIPHER] && run_side[SIDE_BARE_PLAIN]) {
		printf("bare cipher/plain time ratio: insert %.2f\n",
		       ins_med[SIDE_BARE_CIPHER] / ins_med[SIDE_BARE_PLAIN]);
	}
	for (int side = SIDE_STORE; side <= SIDE_MIRROR_CIPHER; side++) {
		/* What the store adds to the bare index, per message, in CPU time. */
		if (run_side[side] && run_side[SIDE_BARE_CIPHER]) {
			printf("%s beyond bare/cipher: %.1f us of CPU per message\n",
			       side_names[side], cpu_us[side] - cpu_us[SIDE_BARE_CIPHER]);
		}
	}
	printf("\nper query (median ms of the last round; all circles | largest circle;"
	       " sides:");
	for (int side = 0; side < NUM_SIDES; side++) {
		run_side[side] = run_side[side] && reps > 0 && !side_is_bare((enum side)side);
		if (run_side[side]) {
			printf(" %s", side_names[side]);
		}
	}
	printf("):\n");
	for (size_t i = 0; i < num_q / 2 && reps > 0; i++) {
		printf("  %-12s %-28s df %6u  hits %2zu|%2zu", qs[i].kind, qs[i].text, qs[i].df,
		       qs[i].expect_num, qs[i + num_q / 2].expect_num);
		for (int side = 0; side < NUM_SIDES; side++) {
			if (run_side[side]) {
				const struct search_result *r = &sr[side][rounds - 1];

				printf("  ");
				print_ms(r->q_median_ms[i], r->q_timed_out[i]);
				printf("|");
				print_ms(r->q_median_ms[i + num_q / 2],
				         r->q_timed_out[i + num_q / 2]);
			}
		}
		printf("\n");
	}
	if (rmdir(tmpdir) != 0) {
		fprintf(stderr, "bench_store: %s not empty\n", tmpdir);
	}
	corpus_free(&c);
	return 0;
}
