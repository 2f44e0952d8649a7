/*
 * test_zmq_lib.c: libzmq loaded by the client itself (zmq_lib.h).
 *
 * - A failed load (HALQA_TEST_NO_ZMQ=1, in a child: the load is tried
 *   once per process) refuses every later call: no table, no context,
 *   and settling is harmless.
 * - A preload hands its context out once, then fresh ones; each works
 *   (a socket is made on it) and ends.
 * - Through the binary: a command that needs no relay never tries the
 *   load (it runs with the load refused and says nothing of it), and a
 *   command that needs the relay, with the load refused, fails with one
 *   line naming the library.
 */
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
