/*
 * test_cli_basics.c: the real build/bin/halqa binary driven like a user
 * would: init with the test KDF profile, whoami before and after relay
 * set, exchanging cards between two profiles, a mistyped card refused,
 * verify, list --json, remove, passwd, a wrong passphrase, a passphrase
 * file others can read, and damaged or cut store.db and store.kdf: each
 * failure exits non-zero with one line on stderr and leaves the files
 * byte for byte as they were.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RELAY                                                                                      \
	"halqa-relay:tcp://127.0.0.1:7400#"                                                        \
	"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b617133"

static char bin[512], tmp[256], home_a[300], home_b[300];
static char out_buf[8192], err_buf[8192];

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/*
 * run executes halqa with the NULL-terminated arguments, the passphrase
 * |pass| in HALQA_PASSPHRASE (unset if NULL), and returns its exit status;
 * stdout and stderr land in out_buf and err_buf.
 */
static int run(const char *pass, ...)
{
	char *argv[32], out_path[300], err_path[300];
	va_list ap;
	int argc = 0, status = -1;
	pid_t pid;

	argv[argc++] = bin;
	va_start(ap, pass);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)) != NULL) {
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof out_path, "%s/out", tmp);
	snprintf(err_path, sizeof err_path, "%s/err", tmp);
	pid = fork();
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int n = open("/dev/null", O_RDONLY);
		dup2(o, 1);
		dup2(e, 2);
		dup2(n, 0);
		if (pass != NULL) {
			setenv("HALQA_PASSPHRASE", pass, 1);
		} else {
			unsetenv("HALQA_PASSPHRASE");
		}
		unsetenv("HALQA_HOME");
		setsid(); /* no controlling terminal: a prompt must fail, not hang */
		execv(bin, argv);
		_exit(127);
	}
	if (pid > 0) {
		waitpid(pid, &status, 0);
	}
	slurp(out_path, out_buf, sizeof out_buf);
	slurp(err_path, err_buf, sizeof err_buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* one_line checks that stderr is exactly one line mentioning |want|. */
static void expect_one_line(const char *want)
{
	char *nl = strchr(err_buf, '\n');

	CHECK(nl != NULL && nl[1] == '\0');
	if (strstr(err_buf, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr \"%s\" lacks \"%s\"", err_buf, want);
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
	const char *p, *q;

	out[0] = '\0';
	CHECK_INT_EQ(run(pass, "--home", home, "whoami", "--json", NULL), 0);
	p = strstr(out_buf, "\"card\":\"");
	if (p == NULL) {
		harness_fail(__FILE__, __LINE__, "no card in %s", out_buf);
		return;
	}
	p += 8;
	q = strchr(p, '"');
	if (q != NULL && (size_t)(q - p) < cap) {
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = '\0';
	}
}

static void test_init_and_whoami(void)
{
	struct stat sb;
	char path[400];

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "init", "--name", "Amina", "--kdf-profile",
			 "test", NULL),
		     0);
	CHECK(strstr(out_buf, "Your fingerprint:") != NULL);
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
	CHECK(strstr(out_buf, "Amina") != NULL && strstr(out_buf, "set the relay first") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "whoami", "--json", NULL), 0);
	CHECK(strstr(out_buf, "\"card\":null") != NULL);
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
	CHECK(strstr(out_buf, "halqa-card:") != NULL);
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
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "Layla", card_b, NULL), 0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "add", "Again", card_b, NULL), 1);
	expect_one_line("already exists");

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strncmp(out_buf, "[{\"name\":\"Layla\",\"verified\":false,\"fingerprint\":\"", 49) ==
	      0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Layla", NULL), 0);
	CHECK(strstr(out_buf, "Safety number") != NULL && strstr(out_buf, "--yes") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", NULL), 0);
	CHECK(strstr(out_buf, "unverified") != NULL);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "verify", "Layla", "--yes", NULL),
		     0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strstr(out_buf, "\"verified\":true") != NULL);
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
		if ((p = strstr(out_buf, "sides):\n")) != NULL) {
			snprintf(num_a, sizeof num_a, "%.75s", p + 8);
		}
		CHECK_INT_EQ(run("pass-b", "--home", home_b, "contact", "verify", "Amina", NULL),
			     0);
		CHECK(num_a[0] != '\0' && strstr(out_buf, num_a) != NULL);
	}

	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "remove", "Layla", NULL), 0);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "remove", "Layla", NULL), 1);
	CHECK_INT_EQ(run("pass-a", "--home", home_a, "contact", "list", "--json", NULL), 0);
	CHECK(strcmp(out_buf, "[]\n") == 0);
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
	CHECK(strstr(out_buf, "Amina") != NULL);

	CHECK_INT_EQ(run(NULL, "help", NULL), 0);
	CHECK(strstr(out_buf, "contact verify NAME") != NULL);
	CHECK_INT_EQ(run(NULL, "contact", "--help", NULL), 0);
	CHECK(strstr(out_buf, "usage: halqa contact add") != NULL);
	CHECK_INT_EQ(run(NULL, "frobnicate", NULL), 2);
	CHECK_INT_EQ(run(NULL, "contact", NULL), 2);
	CHECK_INT_EQ(run(NULL, "--home", home_a, "init", NULL), 2);
}

int main(void)
{
	const char *dir = getenv("HALQA_BIN_DIR"), *t = getenv("TMPDIR");

	if (dir == NULL) {
		fprintf(stderr, "HALQA_BIN_DIR is not set (run through ctest)\n");
		return 1;
	}
	snprintf(bin, sizeof bin, "%s/halqa", dir);
	snprintf(tmp, sizeof tmp, "%s/halqa-cli-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		return 1;
	}
	snprintf(home_a, sizeof home_a, "%s/a", tmp);
	snprintf(home_b, sizeof home_b, "%s/b/nested", tmp);
	RUN(test_init_and_whoami);
	RUN(test_contacts);
	RUN(test_refusals_leave_files);
	RUN(test_passwd_and_help);
	if (harness_report() == 0) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0) {
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "files kept in %s\n", tmp);
	return 1;
}
