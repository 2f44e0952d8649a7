/*
 * test_cli_sendsync.c: what `halqa send` counts as read, now that its
 * message is stored before its sync reads what others wrote. Our own
 * message never makes a circle look unread when nothing was unread
 * before it; what the others wrote and the same command's sync read
 * still counts as unread, and `halqa read` then shows exactly that. With
 * something unread before, our message counts too, as before.
 */
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
#define EXPECT_OK(call) CLI_EXPECT_OK(&cr, call)

static void test_setup(void)
{
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	EXPECT_OK(HALQA("amira", "circle", "create", "Desk"));
	EXPECT_OK(HALQA("amira", "circle", "add", "Desk", "noor"));
	EXPECT_OK(HALQA("noor", "read", "Desk"));
	CLI_EXPECT_OUT(cr.err, "you joined the circle Desk");
}

/* Noor was caught up; Amira wrote; Noor sends before reading it. */
static void test_caught_up(void)
{
	EXPECT_OK(HALQA("amira", "send", "Desk", "written while noor was away"));
	EXPECT_OK(HALQA("noor", "send", "Desk", "noor answers"));
	CLI_EXPECT_OUT(cr.out, "Sent to Desk.");
	EXPECT_OK(HALQA("noor", "circle", "list", "--json"));
	CLI_EXPECT_OUT(cr.out, "\"unread\":1,");
	EXPECT_OK(HALQA("noor", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "written while noor was away"), 1);
	CHECK_INT_EQ(cli_runner_count(cr.out, "noor answers"), 0);
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 1);
	EXPECT_OK(HALQA("noor", "circle", "list", "--json"));
	CLI_EXPECT_OUT(cr.out, "\"unread\":0,");
	/* Amira has Noor's message once. */
	EXPECT_OK(HALQA("amira", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "noor answers"), 1);
}

/* Something was unread before: Noor's own message counts as unread too. */
static void test_unread_before(void)
{
	EXPECT_OK(HALQA("amira", "send", "Desk", "unread one"));
	EXPECT_OK(HALQA("noor", "sync"));
	EXPECT_OK(HALQA("noor", "send", "Desk", "noor again"));
	EXPECT_OK(HALQA("noor", "circle", "list", "--json"));
	CLI_EXPECT_OUT(cr.out, "\"unread\":2,");
	EXPECT_OK(HALQA("noor", "read", "Desk", "--json"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "\"seq\":"), 2);
}

int main(void)
{
	setenv("HALQA_RELAY_TIMEOUT_MS", "5000", 1);
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, NULL) != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_setup);
	RUN(test_caught_up);
	RUN(test_unread_before);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
