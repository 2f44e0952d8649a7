/*
 * test_cli_circles.c: the quickstart path end to end, through the real
 * halqa binary and a real halqad on loopback: three profiles (a mentor and
 * two advocates) register with invite codes, exchange cards, verify, make
 * a circle, talk (in Arabic too), a member who was away catches up, a
 * member is removed and reads nothing sent afterwards, the history is
 * searched, and the relay's files hold none of the plaintext. Then what a
 * hostile member could put on another member's screen (escape sequences,
 * C1 controls, bidi overrides: injected into the reader's store, the last
 * line of defence), and what a sender must be refused (huge, empty, not
 * UTF-8).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/profile.h"
#include "halqa/session.h"
#include "halqa/store.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

static struct cli_runner cr;
static struct relay_test relay;

#define ARABIC       "مرحبا يا أصدقاء، شكراً على الدعوة"
#define HEBREW_MIXED "שלום Amira, see you at 10:00"
#define MSG_WELCOME  "Welcome to the circle, everyone"
#define MSG_AWAY_1   "Court moved the hearing to Thursday"
#define MSG_AWAY_2   "Bring the intake notes please"
#define MSG_AFTER    "This is said after Samir left, keep it here"

/* halqa runs the binary as |who| with its passphrase "pw-<who>" and no input. */
#define HALQA(who, ...) cli_runner_run(&cr, who, "pw-" who, NULL, 0, __VA_ARGS__, (char *)NULL)
/* HALQA_IN does the same with |in| on standard input. */
#define HALQA_IN(who, in, len, ...)                                                                \
	cli_runner_run(&cr, who, "pw-" who, in, len, __VA_ARGS__, (char *)NULL)

static void expect_out(const char *want)
{
	if (cr.out == NULL || strstr(cr.out, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "stdout lacks \"%s\":\n%s\nstderr:\n%s", want,
		             cr.out ? cr.out : "", cr.err ? cr.err : "");
	}
}

static void expect_err(const char *want)
{
	if (cr.err == NULL || strstr(cr.err, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr lacks \"%s\":\n%s", want,
		             cr.err ? cr.err : "");
	}
}

/* expect_ok checks the last run succeeded, printing its output if not. */
#define EXPECT_OK(call) CLI_EXPECT_OK(&cr, call)

/* one_line_failure checks exit 1 with exactly one line on stderr. */
static void one_line_failure(int status, const char *want)
{
	const char *nl;

	CHECK_INT_EQ(status, 1);
	nl = cr.err ? strchr(cr.err, '\n') : NULL;
	if (nl == NULL || nl[1] != '\0' || strstr(cr.err, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "want one line with \"%s\", got:\n%s", want,
		             cr.err ? cr.err : "");
	}
}

static void test_setup(void)
{
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "samir", "Samir"), 0);
	/* Noor and Samir know Amira, not each other. */
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "samir"), 0);
	/* Amira verifies Noor only: Samir stays unverified and must be named. */
	EXPECT_OK(HALQA("amira", "contact", "verify", "noor", "--yes"));
	/* Registering the same device again is refused or harmless, never a crash. */
	(void)HALQA("amira", "register");
	CHECK(cr.status == 0 || cr.status == 1);
}

static void test_circle_and_first_messages(void)
{
	EXPECT_OK(HALQA("amira", "circle", "create", "Team"));
	expect_out("facilitator");
	/* A circle name taken, and adding someone who is no contact: refused, one line. */
	one_line_failure(HALQA("amira", "circle", "create", "Team"), "halqa:");
	one_line_failure(HALQA("amira", "circle", "add", "Team", "nobody"), "no contact named");
	EXPECT_OK(HALQA("amira", "circle", "add", "Team", "noor", "samir"));
	expect_out("Added noor and samir to Team");
	expect_err("not verified in Team: samir");
	/*
	 * Both join before the first message: a message every member with a
	 * relay cursor has acknowledged is deleted by the relay, and a member
	 * who has not synced since being added has no cursor yet (reported).
	 */
	EXPECT_OK(HALQA("samir", "sync"));
	expect_out("1 circle joined");
	EXPECT_OK(HALQA("noor", "circle", "list"));
	expect_err("you joined the circle Team");
	expect_out("Team");
	EXPECT_OK(HALQA("amira", "send", "Team", MSG_WELCOME));
	expect_out("Sent to Team");
	/* What Amira wrote herself is not unread for her. */
	EXPECT_OK(HALQA("amira", "circle", "list", "--json"));
	expect_out("\"unread\":0");

	/* Noor sees it; Samir is away from now on. */
	EXPECT_OK(HALQA("noor", "circle", "list"));
	expect_out("1 unread");
	EXPECT_OK(HALQA("noor", "read", "Team"));
	expect_out("amira: " MSG_WELCOME);
	/* Samir is no contact of Noor's: shown by fingerprint, and warned about. */
	expect_err("not verified in Team");
	expect_err("~");
	EXPECT_OK(HALQA("noor", "read", "Team"));
	expect_out("No new messages in Team");
	EXPECT_OK(HALQA("noor", "circle", "list", "--json"));
	expect_out("\"unread\":0");

	/* Arabic, then Hebrew mixed with Latin, from standard input. */
	EXPECT_OK(HALQA("noor", "send", "Team", ARABIC));
	EXPECT_OK(HALQA_IN("noor", HEBREW_MIXED "\n", strlen(HEBREW_MIXED) + 1, "send", "Team"));
	EXPECT_OK(HALQA("amira", "read", "Team", "--json"));
	expect_out("\"sender\":\"noor\"");
	expect_out("\"text\":\"" ARABIC "\"");
	expect_out("\"text\":\"" HEBREW_MIXED "\"");
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 2);
	EXPECT_OK(HALQA("amira", "read", "Team", "--last", "3"));
	expect_out("you: " MSG_WELCOME);
	expect_out("noor: " ARABIC);
}

static void test_members(void)
{
	EXPECT_OK(HALQA("amira", "circle", "members", "Team", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"fingerprint\":"), 3);
	expect_out("\"name\":\"Amira\",");
	expect_out("\"self\":true");
	expect_out("\"name\":\"noor\",");
	expect_out("\"name\":\"samir\",");
	/* Exactly one facilitator (Amira) and one unverified member (Samir). */
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"facilitator\":true"), 1);
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"verified\":false"), 1);
	EXPECT_OK(HALQA("amira", "circle", "members", "Team"));
	expect_out("Amira (you)");
	expect_out("NOT verified");
	EXPECT_OK(HALQA("noor", "circle", "members", "Team", "--json"));
	expect_out("\"name\":null");
	expect_out("\"contact\":false");
}

static void test_offline_member_catches_up(void)
{
	/* Samir has been away since he joined: five messages wait for him. */
	EXPECT_OK(HALQA("amira", "send", "Team", MSG_AWAY_1));
	EXPECT_OK(HALQA("amira", "send", "Team", MSG_AWAY_2));
	EXPECT_OK(HALQA("samir", "circle", "list"));
	expect_out("5 unread");
	EXPECT_OK(HALQA("samir", "read", "Team", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 5);
	expect_out(MSG_WELCOME);
	expect_out(ARABIC);
	expect_out(MSG_AWAY_2);
	/* In order: the welcome first, the last message of Amira last. */
	if (cr.out != NULL) {
		const char *a = strstr(cr.out, MSG_WELCOME), *b = strstr(cr.out, MSG_AWAY_2);
		CHECK(a != NULL && b != NULL && a < b);
	}
}

static void test_removal(void)
{
	EXPECT_OK(HALQA("amira", "circle", "remove", "Team", "samir"));
	expect_out("Removed samir from Team");
	EXPECT_OK(HALQA("amira", "send", "Team", MSG_AFTER));
	EXPECT_OK(HALQA("samir", "read", "Team", "--all"));
	CHECK(strstr(cr.out, MSG_AFTER) == NULL);
	expect_out(MSG_AWAY_1); /* what he received before stays */
	expect_err("removed from Team");
	EXPECT_OK(HALQA("samir", "circle", "list", "--json"));
	expect_out("\"state\":\"removed\"");
	/* He cannot post into it either: one line saying why. */
	one_line_failure(HALQA("samir", "send", "Team", "still here?"), "cannot send");
	EXPECT_OK(HALQA("samir", "search", "Samir", "left"));
	CHECK(strstr(cr.out, MSG_AFTER) == NULL);
	EXPECT_OK(HALQA("noor", "read", "Team"));
	expect_out(MSG_AFTER);
	EXPECT_OK(HALQA("amira", "circle", "members", "Team", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"fingerprint\":"), 2);
}

static void test_search(void)
{
	EXPECT_OK(HALQA("amira", "search", "hearing"));
	expect_out("Team | you: " MSG_AWAY_1);
	EXPECT_OK(HALQA("noor", "search", "مرحبا", "--circle", "Team", "--json"));
	expect_out("\"circle\":\"Team\"");
	expect_out(ARABIC);
	EXPECT_OK(HALQA("noor", "search", "nonexistentword"));
	expect_out("Nothing found");
	one_line_failure(HALQA("noor", "search", "x", "--circle", "NoSuchCircle"), "halqa:");
}

/* find_in_tree returns 1 if any file under |path| contains |needle|. */
static int find_in_tree(const char *path, const char *needle)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char child[1024];
	int found = 0;

	if (d == NULL) {
		FILE *f = fopen(path, "rb");
		char *buf;
		size_t n;

		if (f == NULL) {
			return 0;
		}
		buf = malloc(64u * 1024 * 1024);
		n = buf ? fread(buf, 1, 64u * 1024 * 1024, f) : 0;
		fclose(f);
		found = buf != NULL && memmem(buf, n, needle, strlen(needle)) != NULL;
		free(buf);
		return found;
	}
	while (!found && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			snprintf(child, sizeof child, "%s/%s", path, de->d_name);
			found = find_in_tree(child, needle);
		}
	}
	closedir(d);
	return found;
}

static void test_relay_holds_no_plaintext(void)
{
	/* Messages, people's names and the circle's name (sealed in the Welcome item). */
	const char *secrets[] = {MSG_WELCOME, ARABIC,    HEBREW_MIXED, MSG_AWAY_1, MSG_AWAY_2,
	                         MSG_AFTER,   "Amira",   "Noor",       "Samir",    "noor",
	                         "samir",     "Team"};

	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		if (find_in_tree(relay.dir, secrets[i])) {
			harness_fail(__FILE__, __LINE__, "the relay's files contain \"%s\"",
			             secrets[i]);
		}
	}
}

/*
 * inject stores a message from a stranger straight into |who|'s store: what
 * a hostile member's text would look like had it got past every check.
 */
static void inject(const char *who, const char *body)
{
	char home[300], pass[32];
	struct store *s = NULL;
	struct store_circle sc;
	struct store_message m;

	cli_runner_home(&cr, who, home, sizeof home);
	snprintf(pass, sizeof pass, "pw-%s", who);
	CHECK_OK(profile_open(&s, home, pass, strlen(pass)));
	if (s == NULL) {
		return;
	}
	CHECK_OK(store_circle_get_by_name(s, "Team", &sc));
	memset(&m, 0, sizeof m);
	memcpy(m.circle_id, sc.circle_id, sizeof m.circle_id);
	randombytes_buf(m.msg_id, sizeof m.msg_id);
	randombytes_buf(m.sender, sizeof m.sender);
	m.sent_at = m.received_at = 1700000000000;
	m.body = (char *)body;
	CHECK_OK(store_message_add(s, &m, NULL));
	store_close(s);
}

static void test_hostile_text_never_drives_the_terminal(void)
{
	/* OSC title + bell, clear screen, cursor up, C1 CSI, bidi override, a fake header. */
	static const char evil[] = "hi\x1b]0;pwned\x07\x1b[2J\x1b[1A\r\xc2\x9b"
	                           "31m\xe2\x80\xae"
	                           "reversed\nfake: 2020-01-01 00:00  amira: send me the files";

	inject("noor", evil);
	EXPECT_OK(HALQA("noor", "read", "Team"));
	CHECK(memchr(cr.out, 0x1b, cr.out_len) == NULL);
	CHECK(memchr(cr.out, 0x07, cr.out_len) == NULL);
	CHECK(memchr(cr.out, '\r', cr.out_len) == NULL);
	CHECK(memmem(cr.out, cr.out_len, "\xc2\x9b", 2) == NULL);
	CHECK(memmem(cr.out, cr.out_len, "\xe2\x80\xae", 3) == NULL);
	/* The second line of the body is indented under its header, not a header itself. */
	expect_out("\n    fake: 2020-01-01");
	expect_out("reversed");
	/* JSON escapes it all and stays one valid string. */
	EXPECT_OK(HALQA("noor", "read", "Team", "--last", "1", "--json"));
	CHECK(memchr(cr.out, 0x1b, cr.out_len) == NULL);
	expect_out("\\u001b]0;pwned\\u0007");
	/* Search output goes through the same filter. */
	EXPECT_OK(HALQA("noor", "search", "pwned"));
	CHECK(memchr(cr.out, 0x1b, cr.out_len) == NULL);
}

static void test_sender_refusals(void)
{
	char *big = malloc(SESSION_CHAT_MAX + 2);
	static const char bad_utf8[] = "zqxw\xc3\x28 \xed\xa0\x80";
	static const char escape[] = "zqxv \x1b[2J here";

	if (big == NULL) {
		return;
	}
	memset(big, 'a', SESSION_CHAT_MAX + 1);
	big[SESSION_CHAT_MAX + 1] = '\0';
	one_line_failure(HALQA_IN("amira", big, SESSION_CHAT_MAX + 1, "send", "Team"),
	                 "longer than 16000 bytes");
	one_line_failure(HALQA_IN("amira", "", 0, "send", "Team", "-"), "empty message");
	one_line_failure(HALQA_IN("amira", "\n", 1, "send", "Team"), "empty message");
	one_line_failure(HALQA_IN("amira", bad_utf8, sizeof bad_utf8 - 1, "send", "Team"),
	                 "not UTF-8");
	one_line_failure(HALQA("amira", "send", "Team", escape), "control characters");
	/* Exactly the bound goes through, whole. */
	EXPECT_OK(HALQA_IN("amira", big, SESSION_CHAT_MAX, "send", "Team"));
	EXPECT_OK(HALQA("noor", "read", "Team", "--json"));
	big[SESSION_CHAT_MAX] = '\0';
	CHECK_INT_EQ(cli_runner_count(cr.out, big), 1);
	free(big);
	/* Nothing refused reached Noor. */
	CHECK(strstr(cr.out, "zqxw") == NULL && strstr(cr.out, "zqxv") == NULL);
}

static void test_damaged_store_is_left_alone(void)
{
	char home[300], path[400];
	uint8_t *before = NULL, *after = NULL;
	size_t before_len = 0, after_len = 0;
	FILE *f;
	long size;

	cli_runner_home(&cr, "samir", home, sizeof home);
	snprintf(path, sizeof path, "%s/store.db", home);
	one_line_failure(
	    cli_runner_run(&cr, "samir", "wrong passphrase", NULL, 0, "read", "Team", (char *)NULL),
	    "wrong passphrase");
	/* Cut the store in the middle of a page, then flip a byte: both refused, untouched. */
	f = fopen(path, "r+b");
	CHECK(f != NULL);
	if (f == NULL) {
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	CHECK(truncate(path, size / 2 + 100) == 0);
	for (int round = 0; round < 2; round++) {
		f = fopen(path, "rb");
		before = malloc((size_t)size);
		before_len = f && before ? fread(before, 1, (size_t)size, f) : 0;
		if (f) {
			fclose(f);
		}
		CHECK_INT_EQ(HALQA("samir", "send", "Team", "hello"), 1);
		CHECK_INT_EQ(HALQA("samir", "read", "Team"), 1);
		CHECK(cr.err != NULL && strchr(cr.err, '\n') == cr.err + cr.err_len - 1);
		f = fopen(path, "rb");
		after = malloc((size_t)size);
		after_len = f && after ? fread(after, 1, (size_t)size, f) : 0;
		if (f) {
			fclose(f);
		}
		CHECK_MEM_EQ(after, after_len, before, before_len);
		free(before);
		free(after);
		if (round == 0) {
			/* Now a flipped byte in the first page. */
			int fd = open(path, O_RDWR);
			uint8_t b = 0;
			CHECK(fd >= 0 && pread(fd, &b, 1, 100) == 1);
			b ^= 0x40;
			CHECK(fd >= 0 && pwrite(fd, &b, 1, 100) == 1);
			if (fd >= 0) {
				close(fd);
			}
		}
	}
}

static void test_usage(void)
{
	CHECK_INT_EQ(HALQA("amira", "read"), 2);
	CHECK_INT_EQ(HALQA("amira", "read", "Team", "--last", "0"), 1);
	CHECK_INT_EQ(HALQA("amira", "circle", "add", "Team"), 2);
	CHECK_INT_EQ(HALQA("amira", "circle", "bogus"), 2);
	EXPECT_OK(cli_runner_run(&cr, NULL, NULL, NULL, 0, "read", "--help", (char *)NULL));
	expect_out("usage: halqa read CIRCLE");
	EXPECT_OK(cli_runner_run(&cr, NULL, NULL, NULL, 0, "help", (char *)NULL));
	expect_out("circle members CIRCLE");
	one_line_failure(HALQA("amira", "read", "NoSuchCircle"), "halqa:");
}

int main(void)
{
	/* A loaded machine under the sanitizers is slow: never mistake it for offline. */
	setenv("HALQA_RELAY_TIMEOUT_MS", "60000", 1);
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, NULL) != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_setup);
	RUN(test_circle_and_first_messages);
	RUN(test_members);
	RUN(test_offline_member_catches_up);
	RUN(test_removal);
	RUN(test_search);
	RUN(test_relay_holds_no_plaintext);
	RUN(test_hostile_text_never_drives_the_terminal);
	RUN(test_sender_refusals);
	RUN(test_usage);
	RUN(test_damaged_store_is_left_alone);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
