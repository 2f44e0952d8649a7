/*
 * test_engine_live.c: live mode through a relay outage, against a real
 * halqad that is killed and restarted.
 *
 * The facilitator runs live on all her circles, with a request timeout
 * far beyond this test's own time limit (ctest's), so a live turn that
 * waited on the dead relay would never end in time. The relay dies while
 * she reads the first of two pushes: the rest of that turn (the LISTEN
 * after the read, the read the second push asks for) must not wait on it.
 * What she types during the outage goes to the outbox at once; after the
 * restart it goes out by itself, and every message, hers and the one
 * whose push she let go, arrives exactly once.
 *
 * A circle the relay answers with an error for (here one it does not
 * know) does not keep live mode from listening to the others: their
 * pushes are read as they come.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "harness.h"
#include "support/engine_steps.h"

/* Far beyond ctest's limit for this test: a request that waited it out would fail the test. */
#define LIVE_TIMEOUT_MS (3600u * 1000u)

static struct relay_test relay;

/* Hook: the relay dies the moment the first pushed message is stored (mid-turn). */
static void kill_on_message(struct eprof *p, const struct engine_event *ev)
{
	if (ev->type == ENGINE_EVENT_MESSAGE && p->hook_arg != NULL) {
		CHECK_OK(relay_test_kill(p->hook_arg, SIGKILL));
		p->hook_arg = NULL;
	}
}

static int circle_with(struct eprof *alice, struct eprof *bob, const char *name)
{
	int r;

	CHECK_OK(r = engine_circle_create(alice->e, name, NULL));
	if (r == HALQA_OK) {
		CHECK_OK(r = engine_circle_add(alice->e, name, (const char *[]){bob->name}, 1));
	}
	return r;
}

static void test_outage_mid_turn(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = true;

	if (alice == NULL || bob == NULL || eprof_meet(alice, bob) != HALQA_OK ||
	    circle_with(alice, bob, "One") != HALQA_OK ||
	    circle_with(alice, bob, "Two") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 2);

	CHECK_OK(engine_live(alice->e, NULL));
	CHECK(eprof_run_until(alice, &alice->events[ENGINE_EVENT_ONLINE], 1, 10000));
	engine_set_timeout(alice->e, LIVE_TIMEOUT_MS);

	/* Two pushes wait for alice; reading the first, she loses the relay. */
	CHECK_OK(eprof_say(bob, "One", "one, before the outage", NULL));
	CHECK_OK(eprof_say(bob, "Two", "two, before the outage", NULL));
	alice->on_event = kill_on_message;
	alice->hook_arg = &relay;
	CHECK(eprof_run_until(alice, &alice->events[ENGINE_EVENT_OFFLINE], 1, 60000));
	alice->on_event = NULL;
	CHECK(alice->hook_arg == NULL);
	CHECK_INT_EQ(eprof_has_text(alice, "One", "one, before the outage"), 1);

	/* Typed during the outage: queued at once, not tried. */
	CHECK_OK(eprof_say(alice, "One", "one, typed during the outage", &sent));
	CHECK(!sent);
	sent = true;
	CHECK_OK(eprof_say(alice, "Two", "two, typed during the outage", &sent));
	CHECK(!sent);
	CHECK_INT_EQ(alice->events[ENGINE_EVENT_OUTBOX], 0);
	/* Turns go on while the relay is away, and try nothing (nothing goes out). */
	CHECK(!eprof_run_until(alice, &alice->events[ENGINE_EVENT_OUTBOX], 1, 100));

	/* Back: the outbox goes out by itself, and the push she let go is read. */
	CHECK_OK(relay_test_restart(&relay));
	CHECK(eprof_run_until(alice, &alice->events[ENGINE_EVENT_OUTBOX], 2, 60000));
	CHECK(alice->events[ENGINE_EVENT_ONLINE] >= 2);
	CHECK_INT_EQ(alice->events[ENGINE_EVENT_OUTBOX], 2);
	CHECK_INT_EQ(eprof_has_text(alice, "Two", "two, before the outage"), 1);

	/* Exactly once, on both sides. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 2);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "One", "one, typed during the outage"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Two", "two, typed during the outage"), 1);
	CHECK_INT_EQ(eprof_count(bob, "One"), 2);
	CHECK_INT_EQ(eprof_count(bob, "Two"), 2);
	CHECK_INT_EQ(eprof_count(alice, "One"), 2);
	CHECK_INT_EQ(eprof_count(alice, "Two"), 2);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);

	/* And live mode carries on: a push after the reconnect is read as it comes. */
	CHECK_OK(eprof_say(bob, "Two", "two, after the outage", NULL));
	CHECK(eprof_run_until(alice, &alice->events[ENGINE_EVENT_MESSAGE], 3, 60000));
	CHECK_INT_EQ(eprof_has_text(alice, "Two", "two, after the outage"), 1);
	CHECK_INT_EQ(eprof_count(alice, "Two"), 3);
	engine_live_stop(alice->e);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_one_circle_refused(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;

	if (alice == NULL || bob == NULL || eprof_meet(alice, bob) != HALQA_OK ||
	    circle_with(alice, bob, "Aaa") != HALQA_OK ||
	    circle_with(alice, bob, "Bbb") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 2);
	/* Bob's "Aaa", listened to first, now names a circle the relay does not know. */
	CHECK_INT_EQ(sqlite3_exec(store_db(bob->store),
				  "UPDATE circles SET circle_id = randomblob(16) WHERE name = 'Aaa'",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	CHECK_OK(eprof_reopen(bob));
	CHECK_OK(engine_live(bob->e, NULL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_ONLINE], 1, 10000));
	CHECK_OK(eprof_say(alice, "Bbb", "pushed to bob", NULL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_MESSAGE], 1, 10000));
	CHECK_INT_EQ(eprof_has_text(bob, "Bbb", "pushed to bob"), 1);
	engine_live_stop(bob->e);
out:
	eprof_free(alice);
	eprof_free(bob);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	RUN(test_outage_mid_turn);
	RUN(test_one_circle_refused);
	relay_test_stop(&relay);
	return harness_report();
}
