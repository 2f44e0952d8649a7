/*
 * test_engine_welcome.c: Welcomes the relay will not take yet, against a
 * real halqad whose mailboxes hold two items.
 *  - A Welcome refused for a full mailbox waits in the adder's
 *    welcome_out; the add succeeds (the commit is accepted) and the
 *    circle's messages still go out meanwhile.
 *  - A later commit of the adder that loses its epoch (stale-epoch)
 *    takes its own Welcomes with it, never the waiting one of the
 *    earlier, accepted commit: once the mailbox has room, that one is
 *    posted and the newcomer joins.
 *  - The adder leaving the circle does not take the waiting Welcome
 *    with it: the adder's next sync still posts it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "support/engine_steps.h"
#include "support/relay_steps.h"

static struct relay_test relay;

/* Hook: carol's self-update, made while alice reads carol's message before her own commit. */
static void carol_commits(struct eprof *p, const struct engine_event *ev)
{
	struct eprof *carol = p->hook_arg;
	struct engine_sync_report rep;

	if (ev->type != ENGINE_EVENT_MESSAGE || carol == NULL) {
		return;
	}
	p->hook_arg = NULL;
	carol->now += ENGINE_SELF_UPDATE_MS + 1000;
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.commits, 1);
}

static void test_welcome_kept_past_stale(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct eprof *carol = eprof_new(&relay, "carol"), *dave = eprof_new(&relay, "dave");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL || carol == NULL || dave == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(eprof_meet(alice, dave));
	CHECK_OK(engine_circle_create(alice->e, "Court", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Court", (const char *[]){"carol"}, 1));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);

	/* Someone fills bob's mailbox (anyone may put there). */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(steps_fill_mailbox(&relay, bob->id->mailbox_id) > 0);

	/* Alice adds bob: her commit is accepted, his Welcome waits, her messages go out. */
	CHECK_OK(engine_circle_add(alice->e, "Court", (const char *[]){"bob"}, 1));
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Court"), 1);
	CHECK_OK(eprof_say(alice, "Court", "while bob's Welcome waits", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(eprof_has_text(carol, "Court", "while bob's Welcome waits"), 1);

	/*
	 * Alice adds dave; carol commits between alice's read and alice's
	 * commit, which the relay then refuses as stale. Alice retries on
	 * the new epoch; the discarded commit's Welcome to dave goes, bob's
	 * stays.
	 */
	CHECK_OK(eprof_say(carol, "Court", "carol before her update", NULL));
	alice->on_event = carol_commits;
	alice->hook_arg = carol;
	CHECK_OK(engine_circle_add(alice->e, "Court", (const char *[]){"dave"}, 1));
	alice->on_event = NULL;
	CHECK(alice->hook_arg == NULL);
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Court"), 1);
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_same_epoch(alice, dave, "Court", NULL));

	/* Bob empties his mailbox (the junk is refused); alice's next sync posts his Welcome. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	CHECK(rep.refused > 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Court"), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Court", "while bob's Welcome waits"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Court", NULL));
	CHECK_OK(eprof_say(dave, "Court", "hello bob", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Court", "hello bob"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
	eprof_free(dave);
}

static void test_welcome_kept_past_leaving(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct eprof *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	struct store_circle row;

	if (alice == NULL || bob == NULL || carol == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(engine_circle_create(alice->e, "Desk", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Desk", (const char *[]){"carol"}, 1));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(engine_circle_set_facilitator(alice->e, "Desk", "carol", true));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(steps_fill_mailbox(&relay, bob->id->mailbox_id) > 0);
	CHECK_OK(engine_circle_add(alice->e, "Desk", (const char *[]){"bob"}, 1));
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Desk"), 1);
	CHECK_OK(eprof_say(alice, "Desk", "before alice left", NULL));
	/* Alice leaves before bob's mailbox has room; carol's sync commits it. */
	CHECK_OK(engine_circle_leave(alice->e, "Desk"));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_OK(engine_circle_find(alice->e, "Desk", &row));
	CHECK(row.flags & STORE_CIRCLE_LEFT);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Desk"), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "before alice left"), 1);
	CHECK_OK(eprof_same_epoch(carol, bob, "Desk", NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	if (steps_small_mailboxes(&relay) != HALQA_OK) {
		fprintf(stderr, "cannot configure halqad\n");
		relay_test_stop(&relay);
		return 1;
	}
	RUN(test_welcome_kept_past_stale);
	RUN(test_welcome_kept_past_leaving);
	relay_test_stop(&relay);
	return harness_report();
}
