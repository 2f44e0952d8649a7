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

#define EXPECT_OK(call)                                                                            \
	do {                                                                                       \
		int st_ = (call);                                                                  \
		if (st_ != 0) {                                                                    \
			harness_fail(__FILE__, __LINE__, "%s exited %d; stderr:\n%s", #call, st_,  \
			             cr.err ? cr.err : "");                                        \
		}                                                                                  \
	} while (0)

static void expect(const char *buf, const char *want)
{
	if (buf == NULL || strstr(buf, want) == NULL) {
		harness_fail(__FILE__, __LINE__, "output lacks \"%s\":\n%s", want, buf ? buf : "");
	}
}

/* fill puts junk into the mailbox of |card| through a device of the test's own until it is full. */
static void fill(const char *card_text)
{
	static const uint8_t junk[] = "not a Welcome";
	struct relay_client *rc = NULL;
	struct wire_msg *m = calloc(1, sizeof *m);
	struct card cd;
	int r = HALQA_OK, put = 0;

	CHECK_OK(card_decode(&cd, card_text));
	if (m == NULL || steps_device(&relay, &rc) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	for (int i = 0; i < 16 && r == HALQA_OK; i++) {
		wire_msg_init(m, WIRE_MAILBOX_PUT, 1);
		memcpy(m->u.mailbox_put.mailbox_id, cd.mailbox_id, WIRE_ID_LEN);
		m->u.mailbox_put.payload.data = junk;
		m->u.mailbox_put.payload.len = sizeof junk;
		if ((r = steps_call(rc, m, NULL)) == HALQA_OK) {
			put++;
		}
	}
	CHECK(put > 0);
	CHECK_INT_EQ(r, WIRE_ERR_QUOTA_EXCEEDED);
out:
	relay_client_free(rc);
	free(m);
}

static void test_welcome_waits(void)
{
	char card[512];

	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	EXPECT_OK(HALQA("noor", "sync"));
	CHECK_INT_EQ(cli_runner_card(&cr, "noor", card, sizeof card), 0);
	fill(card);
	EXPECT_OK(HALQA("amira", "circle", "create", "Desk"));
	EXPECT_OK(HALQA("amira", "circle", "add", "Desk", "noor"));
	expect(cr.out, "Added noor to Desk. The relay did not take 1 Welcome yet");
	expect(cr.err, "Welcome waits for the next sync: the relay refused: quota-exceeded");
	EXPECT_OK(HALQA("amira", "send", "Desk", "while noor's Welcome waits"));
	expect(cr.out, "Sent to Desk.");
	/* Noor's sync refuses the junk and empties her mailbox; she is not in yet. */
	EXPECT_OK(HALQA("noor", "circle", "list"));
	CHECK(cr.out == NULL || strstr(cr.out, "Desk") == NULL);
	EXPECT_OK(HALQA("amira", "sync"));
	EXPECT_OK(HALQA("noor", "read", "Desk"));
	expect(cr.out, "while noor's Welcome waits");
}

int main(void)
{
	struct relay_client *rc = NULL;

	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	/* Mailboxes of two items, so the test can fill one. */
	if (relay_test_client(&relay, &rc, NULL, NULL) != HALQA_OK ||
	    steps_reconfigure(&relay, rc, "[limits]\nmailbox_max_items = 2\nrequests_per_second = 201\n",
			      201) != HALQA_OK) {
		fprintf(stderr, "cannot configure halqad\n");
		relay_client_free(rc);
		relay_test_stop(&relay);
		cli_runner_cleanup(&cr);
		return 1;
	}
	relay_client_free(rc);
	RUN(test_welcome_waits);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
