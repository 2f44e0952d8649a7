/*
 * test_chat.c: `halqa chat` end to end: a real halqad on loopback, three
 * profiles made with the real halqa binary, circles set up through the
 * engine in this process, and `halqa chat` run as a child with its
 * standard input a pipe we type into and its output a file we read.
 *
 *  - a line typed in the chat reaches another member; a message sent by
 *    another member appears live in the chat;
 *  - hostile bodies (an escape sequence stored in the history, bidi
 *    overrides, tabs and a line break posing as another sender) are shown
 *    without any ESC byte, bidi control or unindented fake line;
 *  - a check-in OPEN from a member who is no facilitator is refused by the
 *    chat, which says so, and its question is never shown or logged;
 *  - a check-in round driven by the facilitator's chat: the facilitator
 *    answers, a member answers and another passes from their own chats,
 *    and the facilitator ends it in an offline member's turn; then the
 *    relay stops and restarts: lines typed meanwhile in the facilitator's
 *    and a member's chat are taken at once and shown as queued (no wait
 *    on the network), sent after the reconnect with a notice each, and
 *    arrive exactly once; a round opened offline skips nobody while the
 *    relay is away, and once it is back every turn times out and the
 *    round closes; `halqa read --all` of the facilitator and of the
 *    answering member shows the first round's answers grouped under its
 *    question;
 *  - a session scheduled while chatting: its reminder and the start of
 *    another are shown, once (a second chat does not repeat them);
 *  - a message of a session-only occurrence that is over, arriving late in
 *    a chat, is deleted on arrival: never shown, not kept;
 *  - on a pseudo-terminal: raw mode while chatting, a message arriving
 *    while a line is half typed is printed above it and the line is
 *    redrawn with the cursor where it was; a body padded to the width
 *    cannot start a row at the left edge; ^C twice quits, SIGTERM too,
 *    and both leave the terminal in the mode they found it in.
 *
 * No timing assertions: every wait polls for an outcome with a generous
 * deadline.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "halqa/engine.h"
#include "halqa/identity.h"
#include "halqa/profile.h"
#include "halqa/session.h"
#include "halqa/store.h"
#include "harness.h"
#include "support/relay_client.h"

#define PASS    "chat test passphrase"
#define WAIT_MS 40000

static char bin[512], tmp[256];
static struct relay_test relay;

struct member {
	const char *name;
	char home[300];
	char card[2048];
	struct store *store;
	struct identity *id;
	uv_loop_t loop;
	struct engine *engine;
	bool open;
};

static struct member alice = {.name = "alice"}, bob = {.name = "bob"}, carol = {.name = "carol"},
                     dina = {.name = "dina"};

struct chat_proc {
	pid_t pid;
	int in_fd;
	char out_path[320];
};

/*
 * HALQA_RELAY_TIMEOUT_MS for the chats we start: a relay request that
 * waits on a dead relay waits this long, far past every wait of ours, so
 * a chat that stalls on the network fails the test instead of slowing it.
 */
#define STALL_MS "120000"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_halqa runs the binary to completion with |home|; stdout into |out| if not NULL. */
static int run_halqa(const char *home, char *out, size_t out_len, ...)
{
	char *argv[16], out_path[320], home_opt[] = "--home";
	va_list ap;
	int argc = 0, status = -1;
	pid_t pid;

	argv[argc++] = bin;
	argv[argc++] = home_opt;
	argv[argc++] = (char *)home;
	va_start(ap, out_len);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL) {
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof out_path, "%s/run.out", tmp);
	pid = fork();
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int n = open("/dev/null", O_RDWR);
		dup2(o, 1);
		dup2(n, 0);
		setenv("HALQA_PASSPHRASE", PASS, 1);
		setsid();
		execv(bin, argv);
		_exit(127);
	}
	if (pid > 0) {
		waitpid(pid, &status, 0);
	}
	if (out != NULL) {
		FILE *f = fopen(out_path, "rb");
		size_t n = 0;
		if (f != NULL) {
			n = fread(out, 1, out_len - 1, f);
			fclose(f);
		}
		out[n] = '\0';
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* card_of extracts the halqa-card: line from whoami's output. */
static void card_of(struct member *m)
{
	char out[8192], *p, *end;

	CHECK_INT_EQ(run_halqa(m->home, out, sizeof out, "whoami", NULL), 0);
	p = strstr(out, "halqa-card:");
	if (p == NULL) {
		harness_fail(__FILE__, __LINE__, "no card in whoami output: %s", out);
		return;
	}
	end = p + strcspn(p, " \r\n");
	*end = '\0';
	snprintf(m->card, sizeof m->card, "%s", p);
}

static int member_open(struct member *m)
{
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	char name[STORE_MAX_NAME + 1];
	struct bytes_reader rd;
	int r;

	if ((r = profile_open(&m->store, m->home, PASS, strlen(PASS))) != HALQA_OK ||
	    (r = store_identity_get(m->store, name, &blob, &blob_len)) != HALQA_OK) {
		return r;
	}
	bytes_reader_init(&rd, blob, blob_len);
	r = identity_decode(&rd, &m->id);
	store_secret_free(blob, blob_len);
	if (r != HALQA_OK || uv_loop_init(&m->loop) != 0) {
		return r != HALQA_OK ? r : HALQA_ERR_IO;
	}
	if ((r = engine_new(&m->engine, m->store, m->id, &m->loop)) != HALQA_OK) {
		return r;
	}
	m->open = true;
	return HALQA_OK;
}

static void member_close(struct member *m)
{
	if (!m->open) {
		return;
	}
	engine_free(m->engine);
	(void)uv_run(&m->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&m->loop);
	identity_free(m->id);
	store_close(m->store);
	m->engine = NULL;
	m->id = NULL;
	m->store = NULL;
	m->open = false;
}

static void member_init(struct member *m)
{
	snprintf(m->home, sizeof m->home, "%s/%s", tmp, m->name);
	CHECK_INT_EQ(
	    run_halqa(m->home, NULL, 0, "init", "--name", m->name, "--kdf-profile", "test", NULL),
	    0);
	CHECK_INT_EQ(run_halqa(m->home, NULL, 0, "relay", "set", relay.address_line, NULL), 0);
	card_of(m);
}

static struct chat_proc chat_start(struct member *m, const char *circle)
{
	struct chat_proc p = {0};
	int fds[2];

	snprintf(p.out_path, sizeof p.out_path, "%s/chat-%s.out", tmp, m->name);
	/* Not the child's truncation: until it runs, we would read the last chat's output. */
	unlink(p.out_path);
	/* Close-on-exec: no other child (another chat, a restarted halqad) may keep our end open.
	 */
	if (pipe(fds) != 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
		CHECK(0);
		return p;
	}
	p.pid = fork();
	if (p.pid == 0) {
		int o = open(p.out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fds[0], 0);
		dup2(o, 1);
		dup2(o, 2);
		close(fds[0]);
		close(fds[1]);
		setenv("HALQA_PASSPHRASE", PASS, 1);
		setenv("HALQA_RELAY_TIMEOUT_MS", STALL_MS, 1);
		setsid();
		execl(bin, bin, "--home", m->home, "chat", circle, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	p.in_fd = fds[1];
	return p;
}

static void chat_type(struct chat_proc *p, const char *line)
{
	size_t len = strlen(line);

	CHECK(write(p->in_fd, line, len) == (ssize_t)len);
	CHECK(write(p->in_fd, "\n", 1) == 1);
}

/* chat_output reads everything the chat printed so far (malloc'd, NUL-terminated). */
static char *chat_output(const struct chat_proc *p, size_t *out_len)
{
	FILE *f = fopen(p->out_path, "rb");
	char *buf = NULL;
	long n;

	*out_len = 0;
	if (f == NULL) {
		return calloc(1, 1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if ((buf = malloc((size_t)n + 1)) != NULL) {
		*out_len = fread(buf, 1, (size_t)n, f);
		buf[*out_len] = '\0';
	}
	fclose(f);
	return buf;
}

/* count_of counts the occurrences of |needle| in |hay|. */
static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
		n++;
	}
	return n;
}

/* chat_wait waits until the chat's output holds |needle| |times| times. */
static int chat_wait(const struct chat_proc *p, const char *needle, size_t times)
{
	int64_t deadline = mono_ms() + WAIT_MS;

	do {
		size_t len;
		char *out = chat_output(p, &len);
		size_t n = out != NULL ? count_of(out, needle) : 0;
		free(out);
		if (n >= times) {
			return 1;
		}
		sleep_ms(50);
	} while (mono_ms() < deadline);
	{
		size_t len;
		char *out = chat_output(p, &len);
		harness_fail(__FILE__, __LINE__, "chat output lacks \"%s\":\n%s", needle,
		             out != NULL ? out : "");
		free(out);
	}
	return 0;
}

/* chat_stop closes the chat's input (end of input quits it) and checks it exits 0. */
static void chat_stop(struct chat_proc *p)
{
	int status = -1;
	int64_t deadline = mono_ms() + WAIT_MS;

	if (p->pid <= 0) {
		return;
	}
	close(p->in_fd);
	while (waitpid(p->pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			harness_fail(__FILE__, __LINE__, "chat did not quit at end of input");
			break;
		}
		sleep_ms(50);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	p->pid = 0;
}

/* history_count counts messages of |circle| in |m|'s store whose body is |text|. */
static size_t history_count(struct member *m, const char *circle, const char *text)
{
	struct store_circle c;
	struct store_message_list l = {0};
	size_t n = 0;

	if (engine_circle_find(m->engine, circle, &c) != HALQA_OK ||
	    store_message_list_after(m->store, c.circle_id, 0, 1000, 0, &l) != HALQA_OK) {
		return 0;
	}
	for (size_t i = 0; i < l.num; i++) {
		n += strcmp(l.items[i].body, text) == 0;
	}
	store_message_list_free(&l);
	return n;
}

/* sync_until syncs |m| until its history holds |text| at least once. */
static size_t sync_until(struct member *m, const char *circle, const char *text)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct engine_sync_report rep;
	size_t n = 0;

	do {
		CHECK_OK(engine_sync(m->engine, &rep));
		if ((n = history_count(m, circle, text)) > 0) {
			return n;
		}
		sleep_ms(200);
	} while (mono_ms() < deadline);
	harness_fail(__FILE__, __LINE__, "\"%s\" never arrived", text);
	return 0;
}

static void send_text(struct member *m, const char *circle, const char *text)
{
	static struct session_message msg;
	bool sent = false;
	struct engine_sync_report rep;

	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHAT;
	snprintf(msg.u.chat.text, sizeof msg.u.chat.text, "%s", text);
	CHECK_OK(engine_send(m->engine, circle, &msg, NULL, &sent));
	if (!sent) {
		/* The connection was not up (the relay restarted): the sync flushes the outbox. */
		CHECK_OK(engine_sync(m->engine, &rep));
	}
}

static void setup(void)
{
	/* Leaves, and so check-in turns, in this order: alice, bob, dina, carol. */
	const char *members[3] = {"bob", "dina", "carol"};
	struct engine_sync_report rep;
	char name[64];

	member_init(&alice);
	member_init(&bob);
	member_init(&carol);
	member_init(&dina);
	CHECK_INT_EQ(run_halqa(alice.home, NULL, 0, "contact", "add", "bob", bob.card, NULL), 0);
	CHECK_INT_EQ(run_halqa(alice.home, NULL, 0, "contact", "add", "carol", carol.card, NULL),
	             0);
	CHECK_INT_EQ(run_halqa(alice.home, NULL, 0, "contact", "add", "dina", dina.card, NULL), 0);
	CHECK_INT_EQ(run_halqa(bob.home, NULL, 0, "contact", "add", "alice", alice.card, NULL), 0);
	CHECK_INT_EQ(run_halqa(dina.home, NULL, 0, "contact", "add", "alice", alice.card, NULL), 0);
	CHECK_INT_EQ(run_halqa(carol.home, NULL, 0, "contact", "add", "alice", alice.card, NULL),
	             0);
	CHECK_OK(member_open(&alice));
	CHECK_OK(member_open(&bob));
	CHECK_OK(member_open(&carol));
	CHECK_OK(member_open(&dina));
	CHECK_OK(engine_register(alice.engine, NULL));
	CHECK_OK(engine_register(bob.engine, NULL));
	CHECK_OK(engine_register(carol.engine, NULL));
	CHECK_OK(engine_register(dina.engine, NULL));
	CHECK_OK(engine_circle_create(alice.engine, "circle", (uint8_t[ENGINE_ID_LEN]){0}));
	CHECK_OK(engine_circle_add(alice.engine, "circle", members, 3));
	CHECK_OK(engine_sync(bob.engine, &rep));
	CHECK_OK(engine_sync(carol.engine, &rep));
	CHECK_OK(engine_sync(dina.engine, &rep));
	snprintf(name, sizeof name, "circle");
	CHECK_OK(engine_circle_find(bob.engine, name, &(struct store_circle){0}));
	CHECK_OK(engine_circle_find(carol.engine, name, &(struct store_circle){0}));
	CHECK_OK(engine_circle_find(dina.engine, name, &(struct store_circle){0}));
}

/* no_escape checks that the output holds no ESC and no bidi override or isolate. */
static void no_escape(const char *out)
{
	CHECK(strchr(out, 0x1b) == NULL);
	CHECK(strstr(out, "\xe2\x80\xae") == NULL); /* U+202E */
	CHECK(strstr(out, "\xe2\x81\xa6") == NULL); /* U+2066 */
}

/* chat_lacks checks that the chat's output so far does not hold |needle|. */
static void chat_lacks(const struct chat_proc *p, const char *needle, int line)
{
	size_t len;
	char *out = chat_output(p, &len);

	if (out == NULL || strstr(out, needle) != NULL) {
		harness_fail(__FILE__, line, "chat output holds \"%s\":\n%s", needle,
		             out != NULL ? out : "");
	}
	free(out);
}

static void test_chat_both_ways_and_hostile_text(void)
{
	struct store_circle circle;
	struct store_message m;
	struct chat_proc p;
	size_t len;
	char *out;
	char hostile[] = "stored \x1b[2J\x1b]0;owned\x07 escape";

	/* A hostile body already in bob's history (as a buggy path might have stored it). */
	CHECK_OK(engine_circle_find(bob.engine, "circle", &circle));
	memset(&m, 0, sizeof m);
	memcpy(m.circle_id, circle.circle_id, STORE_ID_LEN);
	randombytes_buf(m.msg_id, sizeof m.msg_id);
	memcpy(m.sender, alice.id->sign_pub, STORE_PUB_LEN);
	m.sent_at = (int64_t)time(NULL) * 1000;
	m.received_at = m.sent_at;
	m.body = hostile;
	CHECK_OK(store_message_add(bob.store, &m, NULL));
	member_close(&bob);

	p = chat_start(&bob, "circle");
	CHECK(chat_wait(&p, "/help", 1));
	CHECK(chat_wait(&p, "stored \\x1b[2J\\x1b]0;owned\\x07 escape", 1));

	/* Alice writes; bob's chat shows it live, tab, bidi override and all made harmless. */
	send_text(&alice, "circle",
	          "hello from alice\t\xe2\x80\xae"
	          "gnp.exe\nbob: I agree");
	CHECK(chat_wait(&p, "hello from alice", 1));
	/* The forged second line is indented under alice's message. */
	CHECK(chat_wait(&p, "\n    bob: I agree", 1));

	/*
	 * Dina, no facilitator, opens a round of her own and answers in it:
	 * bob's chat refuses the step and says so, and its question is not
	 * logged (bob's read shows the answer under a heading without it).
	 */
	{
		static struct session_message forged;
		uint8_t round[SESSION_ROUND_ID_LEN];

		randombytes_buf(round, sizeof round);
		memset(&forged, 0, sizeof forged);
		forged.kind = SESSION_KIND_CHECKIN;
		memcpy(forged.u.checkin.round_id, round, sizeof round);
		forged.u.checkin.step = SESSION_STEP_OPEN;
		snprintf(forged.u.checkin.question, sizeof forged.u.checkin.question,
		         "forged question");
		CHECK_OK(engine_send(dina.engine, "circle", &forged, NULL, NULL));
		memset(&forged, 0, sizeof forged);
		forged.kind = SESSION_KIND_CHAT;
		forged.u.chat.in_round = 1;
		memcpy(forged.u.chat.round_id, round, sizeof round);
		snprintf(forged.u.chat.text, sizeof forged.u.chat.text, "forged answer");
		CHECK_OK(engine_send(dina.engine, "circle", &forged, NULL, NULL));
		CHECK(chat_wait(&p, "-- Refused a check-in step from member ", 1));
		CHECK(chat_wait(&p, "forged answer", 1));
		chat_lacks(&p, "forged question", __LINE__);
	}

	/* Bob types; alice receives it. */
	chat_type(&p, "hi from bob's chat");
	CHECK(sync_until(&alice, "circle", "hi from bob's chat") == 1);
	/* /read and /search run inside the chat. */
	chat_type(&p, "/search chat");
	CHECK(chat_wait(&p, "1 message found", 1));
	chat_type(&p, "/members");
	CHECK(chat_wait(&p, "[facilitator]", 1));
	chat_type(&p, "/read 5");
	CHECK(chat_wait(&p, "owned", 2));

	chat_stop(&p);
	out = chat_output(&p, &len);
	if (out != NULL) {
		no_escape(out);
		CHECK(strstr(out, "\xef\xbf\xbd") != NULL); /* the override became U+FFFD */
		CHECK(strstr(out, "\\x09") != NULL);        /* the tab is shown, not obeyed */
	}
	free(out);
	CHECK_OK(member_open(&bob));
}

/*
 * read_grouped runs `halqa read CIRCLE --all` for |m| and checks that its
 * output has |heading| followed at once by a line holding |first| and one
 * holding |second|, both indented: the round's answers under its question;
 * and that |num_indented| lines in all are answers (indented by two).
 * Returns the output (static).
 */
static const char *read_grouped(struct member *m, const char *heading, const char *first,
                                const char *second, size_t num_indented, int line)
{
	static char out[65536];
	const char *h, *l1, *l2;

	CHECK_INT_EQ(run_halqa(m->home, out, sizeof out, "read", "circle", "--all", NULL), 0);
	h = strstr(out, heading);
	l1 = h != NULL ? strchr(h, '\n') : NULL;
	l2 = l1 != NULL ? strchr(l1 + 1, '\n') : NULL;
	if (h == NULL || (h != out && h[-1] != '\n') || l1 == NULL || l2 == NULL ||
	    strncmp(l1 + 1, "  ", 2) != 0 || strncmp(l2 + 1, "  ", 2) != 0 ||
	    strstr(l1 + 1, first) == NULL || strstr(l1 + 1, first) > l2 ||
	    strstr(l2 + 1, second) == NULL || strchr(l2 + 1, '\n') == NULL ||
	    strstr(l2 + 1, second) > strchr(l2 + 1, '\n')) {
		harness_fail(__FILE__, line,
		             "%s's read does not group \"%s\" and \"%s\" under \"%s\":\n%s",
		             m->name, first, second, heading, out);
	}
	/* Only answers are indented by two (a body's own line breaks by four). */
	if (count_of(out, "\n  ") - count_of(out, "\n   ") != num_indented) {
		harness_fail(__FILE__, line, "%s's read does not indent %zu answers:\n%s", m->name,
		             num_indented, out);
	}
	return out;
}

/*
 * Two check-in rounds run by alice's chat, and the relay going away
 * between them.
 *
 * The first round has no turn timeout: with one, every step below would
 * race the driver's clock (its turn starts before the TURN is even sent),
 * and on a loaded machine a turn can run out before an answer, or the
 * relay's going away, reaches the driver. Bob may not open a round; alice
 * opens one and answers, bob answers and dina passes from their chats,
 * and alice ends it in carol's turn (carol stays offline).
 *
 * Then the relay stops. A line alice types and three lines bob types are
 * each taken at once and shown as queued, all before the relay is back (a
 * chat that waited on the network would wait STALL_MS, past our
 * deadline). Alice opens a second round with 1 s turns while offline: her
 * chat cannot hear answers then, so its round clock stands still and her
 * own turn is still running however long the relay stays away; bob's chat
 * answers a command too. Once the relay is back each chat says each of its
 * lines went out, each line arrives exactly once, every turn of the second
 * round times out (nobody answers in it) and the round closes. Then `halqa
 * read` of alice and of bob groups the first round's answers under its
 * question: the ones their chats sent and the ones their chats received,
 * none of them seen by a command's sync.
 */
static void test_checkin_round_and_outage(void)
{
	static const char *const lines[3] = {"queued one", "queued two", "queued three"};
	static const char away[] = "typed while away";
	struct chat_proc pa, pb, pd;
	char carol_fp[17], carol_turn_b[64];
	int64_t opened;

	/* Bob has no contact for carol: his chat names her by her key's fingerprint. */
	sodium_bin2hex(carol_fp, sizeof carol_fp, carol.id->sign_pub, 8);
	snprintf(carol_turn_b, sizeof carol_turn_b, "It is member %s's turn.", carol_fp);
	member_close(&alice);
	member_close(&bob);
	/* carol stays closed and silent: she is the offline member. */
	member_close(&carol);
	member_close(&dina);
	pa = chat_start(&alice, "circle");
	pb = chat_start(&bob, "circle");
	pd = chat_start(&dina, "circle");
	CHECK(chat_wait(&pa, "/help", 1));
	CHECK(chat_wait(&pb, "/help", 1));
	CHECK(chat_wait(&pd, "/help", 1));
	chat_type(&pb, "/checkin Who goes first?");
	CHECK(chat_wait(&pb, "Only a facilitator", 1));

	/* Turns go in member order: alice, bob, dina, carol. */
	chat_type(&pa, "/checkin --timeout 0 How was your week?");
	CHECK(chat_wait(&pb, "Check-in round opened by alice: \"How was your week?\"", 1));
	CHECK(chat_wait(&pa, "It is your turn", 1));
	chat_type(&pa, "a good week");
	CHECK(chat_wait(&pb, "It is your turn", 1));
	chat_type(&pb, "a hard week");
	CHECK(chat_wait(&pa, "bob: a hard week", 1));
	CHECK(chat_wait(&pd, "It is your turn", 1));
	chat_type(&pd, "/pass");
	CHECK(chat_wait(&pa, "-- dina passed.", 1));
	CHECK(chat_wait(&pa, "It is carol's turn.", 1));
	CHECK(chat_wait(&pb, carol_turn_b, 1));
	chat_type(&pa, "/endround");
	CHECK(chat_wait(&pa, "The check-in round is closed.", 1));
	CHECK(chat_wait(&pb, "The check-in round is closed.", 1));
	CHECK(chat_wait(&pd, "The check-in round is closed.", 1));
	CHECK(chat_wait(&pb, "alice: a good week", 1));
	chat_lacks(&pa, "No answer from", __LINE__);

	/* The relay goes away; what is in flight fails at once, so no chat stalls on it. */
	CHECK_OK(relay_test_kill(&relay, SIGTERM));
	CHECK(chat_wait(&pa, "Offline, reconnecting", 1));
	CHECK(chat_wait(&pb, "Offline, reconnecting", 1));
	CHECK(chat_wait(&pd, "Offline, reconnecting", 1));
	chat_type(&pa, away);
	CHECK(chat_wait(&pa, "you: typed while away  [queued", 1));
	for (size_t i = 0; i < 3; i++) {
		char want[64];
		chat_type(&pb, lines[i]);
		snprintf(want, sizeof want, "you: %s  [queued", lines[i]);
		CHECK(chat_wait(&pb, want, 1));
	}
	/* A round opened offline: its OPEN and first TURN wait in the outbox. */
	chat_type(&pa, "/checkin --timeout 1 Anything else?");
	CHECK(chat_wait(&pa, "(waiting in the outbox until the relay is back)", 2));
	CHECK(chat_wait(&pa, "It is your turn", 2));
	opened = mono_ms();
	/*
	 * Stay away well past the 1 s turn, then ask: still alice's turn, nobody
	 * skipped. Her chat's clock stands still offline, so this holds however
	 * loaded the machine is; a clock that ran on would have skipped her.
	 */
	while (mono_ms() - opened < 2500) {
		sleep_ms(100);
	}
	chat_type(&pa, "/turn");
	CHECK(chat_wait(&pa, "It is your turn", 3));
	chat_lacks(&pa, "No answer from", __LINE__);
	chat_type(&pb, "/turn");
	CHECK(chat_wait(&pb, "No check-in round is open.", 1));
	chat_lacks(&pa, "Sent from the outbox", __LINE__);
	chat_lacks(&pb, "Sent from the outbox", __LINE__);

	CHECK_OK(relay_test_restart(&relay));
	CHECK(chat_wait(&pb, "Sent from the outbox: your message of", 3));
	CHECK(chat_wait(&pa, "Sent from the outbox: your message of", 1));
	for (size_t i = 0; i < 3; i++) {
		char want[64];
		snprintf(want, sizeof want, "bob: %s", lines[i]);
		CHECK(chat_wait(&pa, want, 1));
	}
	CHECK(chat_wait(&pb, "alice: typed while away", 1));
	CHECK(chat_wait(&pd, "alice: typed while away", 1));
	CHECK(chat_wait(&pa, "No answer from carol in time", 1));
	CHECK(chat_wait(&pa, "The check-in round is closed.", 2));
	CHECK(chat_wait(&pb, "The check-in round is closed.", 2));
	CHECK(chat_wait(&pd, "The check-in round is closed.", 2));
	/* Both outboxes are empty now, so nothing can go out twice: count. */
	chat_stop(&pa);
	chat_stop(&pb);
	chat_stop(&pd);
	/* Alice's engine, not her chat, received dina's forged round: it is not tagged there. */
	read_grouped(&alice, "-- check-in: How was your week? (asked by you) --",
	             "you: a good week", "bob: a hard week", 2, __LINE__);
	{
		const char *out =
		    read_grouped(&bob, "-- check-in: How was your week? (asked by alice) --",
		                 "alice: a good week", "you: a hard week", 3, __LINE__);
		const char *forged = strstr(out, "\n-- check-in --\n  ");

		CHECK(strstr(out, "forged question") == NULL);
		CHECK(forged != NULL && strstr(forged, "forged answer") != NULL &&
		      strstr(forged, "forged answer") < strchr(forged + 20, '\n'));
	}
	CHECK_OK(member_open(&alice));
	CHECK_OK(member_open(&bob));
	CHECK_OK(member_open(&carol));
	CHECK_OK(member_open(&dina));
	{
		struct engine_sync_report rep;
		size_t len;
		char *out = chat_output(&pb, &len);

		CHECK(out != NULL && count_of(out, "Sent from the outbox") == 3);
		CHECK(out != NULL && count_of(out, "alice: typed while away") == 1);
		free(out);
		out = chat_output(&pa, &len);
		CHECK(out != NULL && count_of(out, "Sent from the outbox: your message of") == 1);
		for (size_t i = 0; out != NULL && i < 3; i++) {
			char want[64];
			snprintf(want, sizeof want, "bob: %s", lines[i]);
			CHECK_INT_EQ(count_of(out, want), 1);
		}
		free(out);
		CHECK_OK(engine_sync(alice.engine, &rep));
		CHECK_OK(engine_sync(bob.engine, &rep));
	}
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT_EQ(history_count(&alice, "circle", lines[i]), 1);
		CHECK_INT_EQ(history_count(&bob, "circle", lines[i]), 1);
	}
	CHECK_INT_EQ(history_count(&alice, "circle", away), 1);
	CHECK_INT_EQ(history_count(&bob, "circle", away), 1);
}

struct tty_proc {
	pid_t pid;
	int master, slave;
	char out[65536];
	size_t out_len;
};

/* tty_start runs `halqa chat |circle|` for |m| on a new pseudo-terminal, 80 columns wide. */
static int tty_start(struct tty_proc *t, struct member *m, const char *circle)
{
	struct winsize ws = {.ws_row = 24, .ws_col = 80};

	memset(t, 0, sizeof *t);
	if (openpty(&t->master, &t->slave, NULL, NULL, &ws) != 0) {
		return -1;
	}
	t->pid = fork();
	if (t->pid == 0) {
		setsid();
		(void)ioctl(t->slave, TIOCSCTTY, 0);
		dup2(t->slave, 0);
		dup2(t->slave, 1);
		dup2(t->slave, 2);
		close(t->master);
		setenv("HALQA_PASSPHRASE", PASS, 1);
		execl(bin, bin, "--home", m->home, "chat", circle, (char *)NULL);
		_exit(127);
	}
	return t->pid > 0 ? 0 : -1;
}

/* tty_pump reads what the chat wrote for up to |ms| (it must be read, or the chat blocks). */
static void tty_pump(struct tty_proc *t, int ms)
{
	struct pollfd pfd = {.fd = t->master, .events = POLLIN};

	while (poll(&pfd, 1, ms) > 0 && t->out_len + 1 < sizeof t->out) {
		ssize_t n = read(t->master, t->out + t->out_len, sizeof t->out - 1 - t->out_len);
		if (n <= 0) {
			break;
		}
		t->out_len += (size_t)n;
		t->out[t->out_len] = '\0';
		ms = 50;
	}
}

static int tty_wait(struct tty_proc *t, const char *needle)
{
	int64_t deadline = mono_ms() + WAIT_MS;

	while (mono_ms() < deadline) {
		tty_pump(t, 100);
		if (strstr(t->out, needle) != NULL) {
			return 1;
		}
	}
	harness_fail(__FILE__, __LINE__, "terminal output lacks \"%s\"", needle);
	return 0;
}

/* tty_end waits for the chat to exit, checks it exited 0 and left the terminal as it found it. */
static void tty_end(struct tty_proc *t, const struct termios *before)
{
	struct termios after;
	int status = -1;
	int64_t deadline = mono_ms() + WAIT_MS;

	while (waitpid(t->pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, &status, 0);
			harness_fail(__FILE__, __LINE__, "chat did not quit");
			break;
		}
		tty_pump(t, 50);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT_EQ(tcgetattr(t->slave, &after), 0);
	CHECK_INT_EQ(after.c_lflag & (ICANON | ECHO | ISIG),
	             before->c_lflag & (ICANON | ECHO | ISIG));
	CHECK_INT_EQ(after.c_iflag & ICRNL, before->c_iflag & ICRNL);
	close(t->master);
	close(t->slave);
}

static void test_terminal(void)
{
	struct tty_proc t;
	struct termios before, during;
	const char *partial = "half typed \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85";
	char *msg_at, *redraw;

	member_close(&bob);
	if (tty_start(&t, &bob, "circle") != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(tcgetattr(t.slave, &before), 0);
	CHECK(tty_wait(&t, "circle> "));
	/* Raw mode while the chat runs. */
	CHECK_INT_EQ(tcgetattr(t.slave, &during), 0);
	CHECK((during.c_lflag & (ICANON | ECHO)) == 0);
	CHECK(write(t.master, partial, strlen(partial)) == (ssize_t)strlen(partial));
	CHECK(tty_wait(&t, "circle> half typed \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\x1b[K\r\x1b[23C"));
	/* A message arrives while bob types: printed above, the partial line redrawn after it. */
	send_text(&alice, "circle",
	          "live while typing \xe2\x80\xae"
	          "txt.exe");
	CHECK(tty_wait(&t, "live while typing"));
	CHECK(
	    tty_wait(&t, "\rcircle> half typed \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\x1b[K\r\x1b[23C"));
	msg_at = strstr(t.out, "live while typing");
	redraw = msg_at != NULL ? strstr(msg_at, "\rcircle> half typed") : NULL;
	CHECK(redraw != NULL);
	CHECK(strstr(t.out, "\xe2\x80\xae") == NULL);
	/*
	 * A body padded to the terminal's width: the terminal's own wrap would
	 * start "12:00 carol: ..." at the left edge, as if carol had written it.
	 * The chat breaks the row itself and indents the rest.
	 */
	{
		char padded[128], *at, *end;
		size_t breaks = 0;

		/* "HH:MM alice: " takes 13 columns; 67 more fill the 80-column row. */
		snprintf(padded, sizeof padded, "padded%61s12:00 carol: fake", "");
		send_text(&alice, "circle", padded);
		CHECK(tty_wait(&t, "12:00 carol: fake"));
		at = strstr(t.out, "padded");
		end = at != NULL ? strstr(at, "12:00 carol: fake") : NULL;
		CHECK(end != NULL);
		for (char *q = at; q != NULL && end != NULL && (q = strstr(q, "\r\n")) != NULL && q < end;
		     q += 2) {
			CHECK(strncmp(q + 2, "    ", 4) == 0);
			breaks++;
		}
		CHECK(breaks >= 1);
	}
	/* Finish the line and send it; then ^C twice quits. */
	CHECK(write(t.master, "!\r", 2) == 2);
	CHECK(tty_wait(&t, "you: half typed"));
	CHECK(write(t.master, "\x03", 1) == 1);
	CHECK(tty_wait(&t, "Ctrl-C again"));
	CHECK(write(t.master, "\x03", 1) == 1);
	tty_end(&t, &before);

	/* SIGTERM restores the terminal too. */
	if (tty_start(&t, &bob, "circle") != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(tcgetattr(t.slave, &before), 0);
	CHECK(tty_wait(&t, "circle> "));
	kill(t.pid, SIGTERM);
	tty_end(&t, &before);
	CHECK_OK(member_open(&bob));
	CHECK(sync_until(&alice, "circle", "half typed \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85!") == 1);
}

/* schedule sends a one-off session of |circle| starting at |start| (UTC seconds, whole minute). */
static void schedule(struct member *m, const char *circle, const char *title, time_t start,
                     bool session_only)
{
	static struct session_message msg;
	struct tm tm;
	bool sent = false;
	struct engine_sync_report rep;

	memset(&msg, 0, sizeof msg);
	gmtime_r(&start, &tm);
	msg.kind = SESSION_KIND_SCHEDULE;
	randombytes_buf(msg.u.schedule.id, sizeof msg.u.schedule.id);
	snprintf(msg.u.schedule.title, sizeof msg.u.schedule.title, "%s", title);
	msg.u.schedule.start_utc = start;
	snprintf(msg.u.schedule.zone, sizeof msg.u.schedule.zone, "UTC");
	msg.u.schedule.local.date.year = (uint16_t)(tm.tm_year + 1900);
	msg.u.schedule.local.date.month = (uint8_t)(tm.tm_mon + 1);
	msg.u.schedule.local.date.day = (uint8_t)tm.tm_mday;
	msg.u.schedule.local.hour = (uint8_t)tm.tm_hour;
	msg.u.schedule.local.minute = (uint8_t)tm.tm_min;
	msg.u.schedule.duration_min = 60;
	msg.u.schedule.session_only = session_only;
	CHECK_OK(engine_send(m->engine, circle, &msg, NULL, &sent));
	if (!sent) {
		/* The connection was not up (the relay restarted): the sync flushes the outbox. */
		CHECK_OK(engine_sync(m->engine, &rep));
	}
}

static void test_reminders(void)
{
	struct chat_proc p;
	time_t now = time(NULL);

	member_close(&bob);
	p = chat_start(&bob, "circle");
	CHECK(chat_wait(&p, "/help", 1));
	/* One session starts in about five minutes (inside the default 15-minute lead), one has
	 * started. */
	schedule(&alice, "circle", "Soon session", (now / 60 + 5) * 60, false);
	schedule(&alice, "circle", "Running session", (now / 60) * 60, false);
	CHECK(chat_wait(&p, "alice scheduled a session: \"Soon session\"", 1));
	CHECK(chat_wait(&p, "Reminder: \"Soon session\" starts at", 1));
	CHECK(chat_wait(&p, "The session \"Running session\" has started", 1));
	chat_stop(&p);
	/* Shown once: a second chat does not repeat them. */
	p = chat_start(&bob, "circle");
	CHECK(chat_wait(&p, "/help", 1));
	/* Due reminders show with the opening, before input is read: this answer comes after. */
	chat_type(&p, "/turn");
	CHECK(chat_wait(&p, "No check-in round is open.", 1));
	chat_stop(&p);
	{
		size_t len;
		char *out = chat_output(&p, &len);
		CHECK(out != NULL && strstr(out, "Reminder:") == NULL);
		free(out);
	}
	CHECK_OK(member_open(&bob));
}

static int64_t fixed_clock(void *arg)
{
	return *(const int64_t *)arg;
}

/*
 * A session-only session that ended an hour ago, and a message sent
 * during it (its sender's clock says so) that reaches bob's open chat only
 * now: the session handler deletes it on arrival, so the chat never shows
 * it and bob's history does not keep it. A message sent now is shown.
 */
static void test_session_only_late_arrival(void)
{
	static struct session_message msg;
	struct chat_proc p;
	time_t start = (time(NULL) / 60) * 60 - 2 * 3600;
	int64_t during = ((int64_t)start + 10 * 60) * 1000;

	member_close(&bob);
	p = chat_start(&bob, "circle");
	CHECK(chat_wait(&p, "/help", 1));
	schedule(&alice, "circle", "Quiet hour", start, true);
	CHECK(chat_wait(&p, "alice scheduled a session: \"Quiet hour\"", 1));
	memset(&msg, 0, sizeof msg);
	msg.kind = SESSION_KIND_CHAT;
	snprintf(msg.u.chat.text, sizeof msg.u.chat.text, "said in the quiet hour");
	engine_set_clock(alice.engine, fixed_clock, &during);
	CHECK_OK(engine_send(alice.engine, "circle", &msg, NULL, NULL));
	engine_set_clock(alice.engine, NULL, NULL);
	send_text(&alice, "circle", "said after the quiet hour");
	CHECK(chat_wait(&p, "said after the quiet hour", 1));
	chat_lacks(&p, "said in the quiet hour", __LINE__);
	chat_stop(&p);
	CHECK_OK(member_open(&bob));
	CHECK_INT_EQ(history_count(&bob, "circle", "said in the quiet hour"), 0);
	CHECK_INT_EQ(history_count(&bob, "circle", "said after the quiet hour"), 1);
}

int main(void)
{
	const char *dir = getenv("HALQA_BIN_DIR");
	int rc;

	if (sodium_init() < 0 || dir == NULL) {
		fprintf(stderr, "test_chat: needs libsodium and HALQA_BIN_DIR\n");
		return 1;
	}
	snprintf(bin, sizeof bin, "%s/halqa", dir);
	snprintf(tmp, sizeof tmp, "/tmp/halqa-chat-XXXXXX");
	if (mkdtemp(tmp) == NULL) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "test_chat: cannot start halqad\n");
		return 1;
	}
	RUN(setup);
	RUN(test_chat_both_ways_and_hostile_text);
	RUN(test_checkin_round_and_outage);
	RUN(test_reminders);
	RUN(test_session_only_late_arrival);
	RUN(test_terminal);
	member_close(&alice);
	member_close(&bob);
	member_close(&carol);
	member_close(&dina);
	relay_test_stop(&relay);
	rc = harness_report();
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0) {
			fprintf(stderr, "test_chat: could not remove %s\n", tmp);
		}
	}
	return rc;
}
