/*
 * test_cli_outbox.c: offline use and exactly-once delivery across a relay
 * restart, through the real halqa binary. With the relay stopped, reading
 * still shows the local history (and says it is offline), a message sent
 * waits in the outbox, and `halqa sync` fails with one line. After the
 * relay is back, the first sync sends the message; the receiver has it
 * exactly once, and so does the sender's own history, however many syncs
 * follow.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

static struct cli_runner cr;
static struct relay_test relay;

#define HALQA(who, ...) cli_runner_run(&cr, who, "pw-" who, NULL, 0, __VA_ARGS__, (char *)NULL)

#define BEFORE     "Sent while the relay was up"
#define WHILE_DOWN "Typed on the train, relay unreachable: رسالة"

#define EXPECT_OK(call) CLI_EXPECT_OK(&cr, call)

static void test_setup(void)
{
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	EXPECT_OK(HALQA("amira", "circle", "create", "Desk"));
	EXPECT_OK(HALQA("amira", "circle", "add", "Desk", "noor"));
	EXPECT_OK(HALQA("amira", "send", "Desk", BEFORE));
	EXPECT_OK(HALQA("noor", "read", "Desk"));
	CLI_EXPECT_OUT(cr.out, BEFORE);
}

static void test_offline(void)
{
	CHECK_OK(relay_test_kill(&relay, SIGTERM));
	/* Reading works from the local history. */
	EXPECT_OK(HALQA("noor", "read", "Desk", "--all"));
	CLI_EXPECT_OUT(cr.out, BEFORE);
	CLI_EXPECT_OUT(cr.err, "offline");
	/* Sending is kept in the outbox, and says so. */
	EXPECT_OK(HALQA("amira", "send", "Desk", WHILE_DOWN));
	CLI_EXPECT_OUT(cr.out, "outbox");
	/* A sync that cannot happen is a failure, told in one line. */
	CHECK_INT_EQ(HALQA("amira", "sync"), 1);
	CLI_EXPECT_OUT(cr.err, "offline");
	CHECK(cr.err != NULL && strchr(cr.err, '\n') == cr.err + cr.err_len - 1);
	EXPECT_OK(HALQA("amira", "search", "train"));
	CLI_EXPECT_OUT(cr.out, WHILE_DOWN);
}

static void test_back_online_exactly_once(void)
{
	CHECK_OK(relay_test_restart(&relay));
	EXPECT_OK(HALQA("amira", "sync"));
	CLI_EXPECT_OUT(cr.out, "1 sent from the outbox");
	/* More syncs send nothing again. */
	EXPECT_OK(HALQA("amira", "sync", "--json"));
	CLI_EXPECT_OUT(cr.out, "\"sent\":0");
	CLI_EXPECT_OUT(cr.out, "\"waiting\":0");
	EXPECT_OK(HALQA("noor", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, WHILE_DOWN), 1);
	EXPECT_OK(HALQA("noor", "sync"));
	EXPECT_OK(HALQA("noor", "read", "Desk", "--all", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, WHILE_DOWN), 1);
	CHECK_INT_EQ(cli_runner_count(cr.out, BEFORE), 1);
	EXPECT_OK(HALQA("amira", "read", "Desk", "--all", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, WHILE_DOWN), 1);
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 2);
}

static void test_relay_restart_while_noor_away(void)
{
	/* A message stored by the relay survives its restart and reaches Noor once. */
	EXPECT_OK(HALQA("amira", "send", "Desk", "kept across the restart"));
	CHECK_OK(relay_test_restart(&relay));
	EXPECT_OK(HALQA("noor", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "kept across the restart"), 1);
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 1);
}

/*
 * A relay that takes the connection and never answers (stopped, not
 * gone): `halqa send` gives up after one timeout (its sync's; the send
 * that follows does not wait again), says so in one line, keeps the
 * message in the outbox, and exits 0; once the relay runs again the next
 * sync sends it, once.
 */
static void test_hung_relay(void)
{
	CHECK_OK(relay_test_kill(&relay, SIGSTOP));
	EXPECT_OK(HALQA("amira", "send", "Desk", "said to a hung relay"));
	CLI_EXPECT_OUT(cr.out, "outbox");
	CLI_EXPECT_OUT(cr.err, "halqa: offline: the relay cannot be reached\n");
	/*
	 * The sync before it waited out the relay's silence; the send did
	 * not wait again (it would have logged "message queued: ..." after
	 * a second timeout).
	 */
	CHECK(cr.err != NULL && strstr(cr.err, "message queued") == NULL);
	CHECK_OK(relay_test_kill(&relay, SIGCONT));
	EXPECT_OK(HALQA("amira", "sync"));
	CLI_EXPECT_OUT(cr.out, "1 sent from the outbox");
	EXPECT_OK(HALQA("noor", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "said to a hung relay"), 1);
}

int main(void)
{
	/* Offline is noticed after this long instead of the default 10 s. */
	setenv("HALQA_RELAY_TIMEOUT_MS", "1500", 1);
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, NULL) != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_setup);
	RUN(test_offline);
	RUN(test_back_online_exactly_once);
	RUN(test_relay_restart_while_noor_away);
	RUN(test_hung_relay);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
