/*
 * test_cli_welcome.c: a Welcome the relay will not take yet, through the
 * real halqa binary, against a halqad whose mailboxes hold two items.
 * Someone fills noor's mailbox; `halqa circle add` still adds her (the
 * commit is accepted), says that her Welcome waits, and the circle's
 * messages go out meanwhile; once her mailbox has room, Amira's next
 * sync posts it and Noor reads what was said.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/card.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

static struct cli_runner cr;
static struct relay_test relay;

#define HALQA(who, ...) cli_runner_run(&cr, who, "pw-" who, NULL, 0, __VA_ARGS__, (char *)NULL)

#define EXPECT_OK(call) CLI_EXPECT_OK(&cr, call)

static void test_welcome_waits(void)
{
	char card[512];
	struct card cd;

	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	EXPECT_OK(HALQA("noor", "sync"));
	CHECK_INT_EQ(cli_runner_card(&cr, "noor", card, sizeof card), 0);
	CHECK_OK(card_decode(&cd, card));
	CHECK(steps_fill_mailbox(&relay, cd.mailbox_id) > 0);
	EXPECT_OK(HALQA("amira", "circle", "create", "Desk"));
	EXPECT_OK(HALQA("amira", "circle", "add", "Desk", "noor"));
	CLI_EXPECT_OUT(cr.out, "Added noor to Desk. The relay did not take 1 Welcome yet");
	CLI_EXPECT_OUT(cr.err, "Welcome waits for the next sync: the relay refused: quota-exceeded");
	EXPECT_OK(HALQA("amira", "send", "Desk", "while noor's Welcome waits"));
	CLI_EXPECT_OUT(cr.out, "Sent to Desk.");
	/* Noor's sync refuses the junk and empties her mailbox; she is not in yet. */
	EXPECT_OK(HALQA("noor", "circle", "list"));
	CHECK(cr.out == NULL || strstr(cr.out, "Desk") == NULL);
	EXPECT_OK(HALQA("amira", "sync"));
	EXPECT_OK(HALQA("noor", "read", "Desk"));
	CLI_EXPECT_OUT(cr.out, "while noor's Welcome waits");
}

int main(void)
{
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	if (steps_small_mailboxes(&relay) != HALQA_OK) {
		fprintf(stderr, "cannot configure halqad\n");
		relay_test_stop(&relay);
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_welcome_waits);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
