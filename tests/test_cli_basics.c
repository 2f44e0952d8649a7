/*
 * test_cli_basics.c: the real build/bin/halqa binary driven like a user
 * would: init with the test KDF profile, whoami before and after relay
 * set, exchanging cards between two profiles, a mistyped card refused,
 * verify, list --json, remove, passwd, a wrong passphrase, a passphrase
 * file others can read, and damaged or cut store.db and store.kdf: each
 * failure exits non-zero with one line on stderr and leaves the files
 * byte for byte as they were.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "support/cli_runner.h"

#define RELAY                                                                                      \
	"halqa-relay:tcp://127.0.0.1:7400#"                                                        \
	"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b617133"

static char tmp[256], home_a[300], home_b[300];
static struct cli_runner cr;

/*
 * run executes halqa with the NULL-terminated arguments (each test names
 * --home itself), the passphrase |pass| in HALQA_PASSPHRASE (unset if
 * NULL), and returns its exit status; the output is in cr.out and cr.err.
 */
static int run(const char *pass, ...)
{
	va_list ap;
	int st;

	va_start(ap, pass);
	st = cli_runner_vrun(&cr, NULL, pass, NULL, 0, ap);
	va_end(ap);
	return st;
}

/* one_line checks that stderr is exactly one line mentioning |want|. */
static void expect_one_line(const char *want)
{
	char *nl = strchr(cr.err, '\n');

	CHECK(nl != NULL && nl[1] == '\0');
	if (strstr(cr.err, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr \"%s\" lacks \"%s\"", cr.err, want);
	}
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (f != NULL) {
		CHECK(fwrite(data, 1, len, f) == len);
		fclose(f);
	}
}

/* card_of extracts the card from `whoami --json` output into |out|. */
static void card_of(const char *home, const char *pass, char *out, size_t cap)
{
	CHECK_INT_EQ(run(pass, "--home", home, "whoami", "--json", NULL), 0);
	(void)cli_runner_card_in(&cr, out, cap);
}

static void test_init_and_whoami(void)
{
	struct stat sb;
	char path[400];

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "init", "--name", "Amina", "--kdf-profile",
			 "test", NULL),
		     0);
	CHECK(strstr(cr.out, "Your fingerprint:") != NULL);
	CHECK(stat(home_a, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	snprintf(path, sizeof path, "%s/store.db", home_a);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(path, sizeof path, "%s/store.kdf", home_a);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	/* A second init refuses. */
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "init", "--name", "Other", "--kdf-profile",
			 "test", NULL),
		     1);
	expect_one_line("already holds a profile");
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 0);
	CHECK(strstr(cr.out, "Amina") != NULL && strstr(cr.out, "set the relay first") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", "--json", NULL), 0);
	CHECK(strstr(cr.out, "\"card\":null") != NULL);
	/* Bad names and a bad relay line. */
	CHECK_INT_EQ(run("x", "--home", home_b, "init", "--name", "a\x1b[2J", NULL), 1);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "relay", "set", "tcp://1.2.3.4:7400", NULL),
		     1);
	expect_one_line("not a relay address");
	/* The old Z85 key and an upper-case hex key: one spelling, lowercase hex. */
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "relay", "set",
			 "halqa-relay:tcp://127.0.0.1:7400#tJ&^OQEWcLS@8Pk&C(sJi=)wxbQy-cGxxD.d}9AN",
			 NULL),
		     1);
	expect_one_line("not a relay address");
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "relay", "set",
			 "halqa-relay:tcp://127.0.0.1:7400#"
			 "5BE8BE2FA3483211AAFBF91EE171B7223A7439392424D04883E6B2212B617133",
			 NULL),
		     1);
	expect_one_line("not a relay address");
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "relay", "set", RELAY, NULL), 0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 0);
	CHECK(strstr(cr.out, "halqa-card:") != NULL);
}

static void test_contacts(void)
{
	char card_b[600], typo[600];
	size_t mid;

	CHECK_INT_EQ(run("pass-b", "--home", home_b, "init", "--name", "ليلى", "--kdf-profile",
			 "test", NULL),
		     0);
	CHECK_INT_EQ(run("pass-b", "--home", home_b, "relay", "set", RELAY, "--socks",
			 "127.0.0.1:9050", NULL),
		     0);
	card_of(home_b, "pass-b", card_b, sizeof card_b);
	CHECK(strncmp(card_b, "halqa-card:", 11) == 0);

	/* One character changed in the middle of the card. */
	snprintf(typo, sizeof typo, "%s", card_b);
	mid = strlen(typo) / 2;
	typo[mid] = typo[mid] == 'a' ? 'b' : 'a';
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "Layla", typo, NULL), 1);
	expect_one_line("checksum");
	/* "me" means yourself in circle commands: no contact may take it. */
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "me", card_b, NULL), 1);
	expect_one_line("stands for yourself");
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "Layla", card_b, NULL), 0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "Again", card_b, NULL), 1);
	expect_one_line("already exists");

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strncmp(cr.out, "[{\"name\":\"Layla\",\"verified\":false,\"fingerprint\":\"", 49) ==
	      0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Layla", NULL), 0);
	CHECK(strstr(cr.out, "Safety number") != NULL && strstr(cr.out, "--yes") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", NULL), 0);
	CHECK(strstr(cr.out, "unverified") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Layla", "--yes", NULL),
		     0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strstr(cr.out, "\"verified\":true") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Nobody", NULL), 1);
	expect_one_line("no such contact");

	/* Both sides see the same safety number. */
	{
		char card_a[600], num_a[200] = "", *p;
		card_of(home_a, "pass-a", card_a, sizeof card_a);
		CHECK_INT_EQ(run("pass-b", "--home", home_b, "contact", "add", "Amina", card_a,
				 NULL),
			     0);
		CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Layla", NULL),
			     0);
		if ((p = strstr(cr.out, "sides):\n")) != NULL) {
			snprintf(num_a, sizeof num_a, "%.75s", p + 8);
		}
		CHECK_INT_EQ(run("pass-b", "--home", home_b, "contact", "verify", "Amina", NULL),
			     0);
		CHECK(num_a[0] != '\0' && strstr(cr.out, num_a) != NULL);
	}

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "remove", "Layla", NULL), 0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "remove", "Layla", NULL), 1);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strcmp(cr.out, "[]\n") == 0);
}

static int files_same(const char *home, uint8_t **db, size_t *db_len, uint8_t **kdf,
		      size_t *kdf_len)
{
	char p[400];
	size_t l1, l2;
	uint8_t *a, *b;
	int same;

	snprintf(p, sizeof p, "%s/store.db", home);
	a = read_file(p, &l1);
	snprintf(p, sizeof p, "%s/store.kdf", home);
	b = read_file(p, &l2);
	same = a != NULL && b != NULL && l1 == *db_len && l2 == *kdf_len &&
	       memcmp(a, *db, l1) == 0 && memcmp(b, *kdf, l2) == 0;
	free(a);
	free(b);
	return same;
}

static void test_refusals_leave_files(void)
{
	char db[400], kdf[400], pf[400];
	uint8_t *dbb, *kdfb;
	size_t db_len, kdf_len;

	snprintf(db, sizeof db, "%s/store.db", home_a);
	snprintf(kdf, sizeof kdf, "%s/store.kdf", home_a);
	dbb = read_file(db, &db_len);
	kdfb = read_file(kdf, &kdf_len);
	CHECK(dbb != NULL && kdfb != NULL && db_len > 4096);
	if (dbb == NULL || kdfb == NULL) {
		goto out;
	}

	CHECK_INT_EQ(run("wrong", "--home", home_a, "whoami", NULL), 1);
	expect_one_line("wrong passphrase");
	CHECK(files_same(home_a, &dbb, &db_len, &kdfb, &kdf_len));
	CHECK_INT_EQ(run("wrong", "--home", home_a, "contact", "add", "X", "halqa-card:aa", NULL),
		     1);
	CHECK(files_same(home_a, &dbb, &db_len, &kdfb, &kdf_len));
	/* No passphrase source and no terminal. */
	CHECK_INT_EQ(run(NULL, "--home", home_a, "whoami", NULL), 1);
	expect_one_line("no terminal");

	/* A passphrase file: first line only, refused when others can read it. */
	snprintf(pf, sizeof pf, "%s/pass", tmp);
	write_file(pf, (const uint8_t *)"pass-a\nignored\n", 15);
	chmod(pf, 0644);
	CHECK_INT_EQ(run(NULL, "--home", home_a, "--passphrase-file", pf, "whoami", NULL), 1);
	expect_one_line("readable by others");
	chmod(pf, 0600);
	CHECK_INT_EQ(run(NULL, "--home", home_a, "--passphrase-file", pf, "whoami", NULL), 0);

	/* Cut store.db. */
	write_file(db, dbb, db_len / 2 + 100);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 1);
	expect_one_line("damaged");
	{
		size_t l;
		uint8_t *now = read_file(db, &l);
		CHECK(now != NULL && l == db_len / 2 + 100 && memcmp(now, dbb, l) == 0);
		free(now);
	}
	/* Cut at a page boundary: whole pages missing. */
	write_file(db, dbb, db_len - 4096);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", NULL), 1);
	expect_one_line("damaged");
	{
		size_t l;
		uint8_t *now = read_file(db, &l);
		CHECK(now != NULL && l == db_len - 4096 && memcmp(now, dbb, l) == 0);
		free(now);
	}
	/* A flipped byte in store.db's first page fails its HMAC. */
	dbb[200] ^= 0x40;
	write_file(db, dbb, db_len);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", NULL), 1);
	expect_one_line("damaged");
	CHECK(files_same(home_a, &dbb, &db_len, &kdfb, &kdf_len));
	dbb[200] ^= 0x40;
	write_file(db, dbb, db_len);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 0);

	/* Cut and tampered store.kdf. */
	write_file(kdf, kdfb, kdf_len - 3);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 1);
	expect_one_line("damaged");
	kdfb[0] ^= 1;
	write_file(kdf, kdfb, kdf_len);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 1);
	expect_one_line("damaged");
	CHECK(files_same(home_a, &dbb, &db_len, &kdfb, &kdf_len));
	kdfb[0] ^= 1;
	write_file(kdf, kdfb, kdf_len);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 0);
out:
	free(dbb);
	free(kdfb);
}

static void test_passwd_and_help(void)
{
	setenv("HALQA_NEW_PASSPHRASE", "pass-a2", 1);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "passwd", NULL), 0);
	unsetenv("HALQA_NEW_PASSPHRASE");
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", NULL), 1);
	expect_one_line("wrong passphrase");
	CHECK_INT_EQ(run("pass-a2", "--home", home_a, "whoami", NULL), 0);
	CHECK(strstr(cr.out, "Amina") != NULL);

	CHECK_INT_EQ(run(NULL, "help", NULL), 0);
	CHECK(strstr(cr.out, "contact verify NAME") != NULL);
	CHECK_INT_EQ(run(NULL, "contact", "--help", NULL), 0);
	CHECK(strstr(cr.out, "usage: halqa contact add") != NULL);
	CHECK_INT_EQ(run(NULL, "frobnicate", NULL), 2);
	CHECK_INT_EQ(run(NULL, "contact", NULL), 2);
	CHECK_INT_EQ(run(NULL, "--home", home_a, "init", NULL), 2);
}

int main(void)
{
	int rc;

	if (cli_runner_init(&cr) != 0) {
		return 1;
	}
	snprintf(tmp, sizeof tmp, "%s", cr.root);
	snprintf(home_a, sizeof home_a, "%s/a", tmp);
	snprintf(home_b, sizeof home_b, "%s/b/nested", tmp);
	RUN(test_init_and_whoami);
	RUN(test_contacts);
	RUN(test_refusals_leave_files);
	RUN(test_passwd_and_help);
	rc = harness_report();
	if (rc == 0) {
		cli_runner_cleanup(&cr);
	} else {
		fprintf(stderr, "files kept in %s\n", tmp);
		free(cr.out);
		free(cr.err);
	}
	return rc;
}
