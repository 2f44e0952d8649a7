/*
 * test_zmq_lib.c: libzmq loaded by the client itself (zmq_lib.h).
 *
 * - A failed load (HALQA_TEST_NO_ZMQ=1, in a child: the load is tried
 *   once per process) refuses every later call: no table, no context,
 *   and settling is harmless.
 * - A preload hands its context out once, then fresh ones; each works
 *   (a socket is made on it) and ends.
 * - A retired context (zmq_lib_retire) is ended, its sockets closed, by
 *   the time zmq_lib_settle returns: its I/O and reaper threads are gone.
 *   A second retirement waits for the first; an empty one does nothing.
 * - Through the binary: a command that needs no relay never tries the
 *   load (it runs with the load refused and says nothing of it), and a
 *   command that needs the relay, with the load refused, fails with one
 *   line naming the library.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/zmq_lib.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

static struct cli_runner cr;
static struct relay_test relay;

static void test_unavailable(void)
{
	pid_t pid;
	int st = 0;

	fflush(stderr);
	if ((pid = fork()) == 0) {
		const struct zmq_lib *lib = (const struct zmq_lib *)1;
		int bad = 0;

		setenv("HALQA_TEST_NO_ZMQ", "1", 1);
		zmq_lib_preload();
		bad |= zmq_lib_get(&lib) != HALQA_ERR_UNSUPPORTED || lib != NULL;
		bad |= zmq_lib_ctx_new() != NULL;
		/* Refused for good: unsetting the variable changes nothing now. */
		unsetenv("HALQA_TEST_NO_ZMQ");
		bad |= zmq_lib_get(&lib) != HALQA_ERR_UNSUPPORTED;
		zmq_lib_settle();
		_exit(bad ? 1 : 0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_preload_contexts(void)
{
	const struct zmq_lib *lib = NULL;
	void *a, *b, *sock;

	zmq_lib_preload();
	zmq_lib_preload(); /* a second call starts nothing */
	CHECK_OK(zmq_lib_get(&lib));
	CHECK(lib != NULL && lib == zmq_lib_loaded());
	a = zmq_lib_ctx_new();
	b = zmq_lib_ctx_new();
	CHECK(a != NULL && b != NULL && a != b);
	if (lib == NULL || a == NULL || b == NULL) {
		return;
	}
	sock = lib->zmq_socket(a, ZMQ_DEALER);
	CHECK(sock != NULL);
	if (sock != NULL) {
		CHECK_INT_EQ(lib->zmq_close(sock), 0);
	}
	CHECK_INT_EQ(lib->zmq_ctx_term(a), 0);
	CHECK_INT_EQ(lib->zmq_ctx_term(b), 0);
	zmq_lib_settle();
}

/* thread_count is how many threads this process has now (-1 if unknown). */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *ent;
	int n = 0;

	if (d == NULL) {
		return -1;
	}
	while ((ent = readdir(d)) != NULL) {
		n += ent->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* busy_context makes a context with a DEALER socket (monitored when |mon| is not NULL). */
static void *busy_context(const struct zmq_lib *lib, void **sock, void **mon, const char *mon_ep)
{
	void *ctx = zmq_lib_ctx_new();

	*sock = NULL;
	if (mon != NULL) {
		*mon = NULL;
	}
	if (ctx == NULL || (*sock = lib->zmq_socket(ctx, ZMQ_DEALER)) == NULL) {
		return ctx;
	}
	if (mon != NULL &&
	    (lib->zmq_socket_monitor(*sock, mon_ep, ZMQ_EVENT_ALL) != 0 ||
	     (*mon = lib->zmq_socket(ctx, ZMQ_PAIR)) == NULL || lib->zmq_connect(*mon, mon_ep) != 0)) {
		harness_fail(__FILE__, __LINE__, "cannot monitor the socket");
	}
	return ctx;
}

static void test_retire(void)
{
	const struct zmq_lib *lib = NULL;
	void *ctx1, *ctx2, *sock1, *sock2, *mon1;
	int base;

	CHECK_OK(zmq_lib_get(&lib));
	if (lib == NULL) {
		return;
	}
	zmq_lib_settle();
	base = thread_count();
	CHECK(base > 0);
	ctx1 = busy_context(lib, &sock1, &mon1, "inproc://retire-test");
	ctx2 = busy_context(lib, &sock2, NULL, NULL);
	CHECK(ctx1 != NULL && ctx2 != NULL && sock1 != NULL && sock2 != NULL && mon1 != NULL);
	/* Each context runs an I/O thread and a reaper once it has a socket. */
	CHECK(thread_count() >= base + 4);
	zmq_lib_retire(ctx1, sock1, mon1);
	zmq_lib_retire(ctx2, sock2, NULL); /* waits for the first */
	zmq_lib_retire(NULL, NULL, NULL);  /* nothing to do */
	zmq_lib_settle();
	CHECK_INT_EQ(thread_count(), base);
	zmq_lib_settle(); /* again: nothing left to wait for */
	CHECK_INT_EQ(thread_count(), base);
}

#define NO_ZMQ_LINE "cannot load libzmq.so.5"

/* RUN_AS runs halqa as |who| with HALQA_TEST_NO_ZMQ set to |no_zmq| (NULL: unset). */
#define RUN_AS(who, no_zmq, ...) \
	cli_runner_run_env(&cr, "HALQA_TEST_NO_ZMQ", no_zmq, who, __VA_ARGS__)

static void test_cli(void)
{
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(RUN_AS("amira", "1", "help", NULL), 0);
	CHECK_INT_EQ(RUN_AS("amira", "1", "contact", "list", NULL), 0);
	CHECK(strstr(cr.err, "libzmq") == NULL);
	CHECK(RUN_AS("amira", "1", "sync", NULL) != 0);
	if (strstr(cr.err, NO_ZMQ_LINE) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr lacks \"%s\": %s", NO_ZMQ_LINE, cr.err);
	}
	CHECK_INT_EQ(RUN_AS("amira", NULL, "sync", NULL), 0);
	CHECK(strstr(cr.err, "libzmq") == NULL);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_unavailable);
	RUN(test_preload_contexts);
	RUN(test_retire);
	if (cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_cli);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
