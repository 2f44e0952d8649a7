/*
 * test_engine_outbox.c: the outbox and live mode against a real halqad.
 * A message sent while the relay is down waits, goes out once the relay
 * is back, and arrives exactly once, also when a retry resends it (the
 * relay's idempotent SEND) or a second copy is encrypted again (the
 * receiver drops the message id it has seen). Live mode receives pushes
 * as they come, follows a commit to the next epoch, and flushes the
 * outbox when the relay comes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sodium.h>

#include "harness.h"
#include "support/engine_steps.h"

static struct relay_test relay;

static void test_outbox_across_restart(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	struct store_circle row;
	struct store_outbox *items = NULL, copy;
	size_t num = 0;
	uint64_t seq = 0;
	bool sent = true;

	memset(&copy, 0, sizeof copy);
	if (alice == NULL || bob == NULL || eprof_pair(alice, bob, "Outbox") != HALQA_OK) {
		goto out;
	}
	engine_set_timeout(alice->e, 1000);
	CHECK_OK(relay_test_kill(&relay, SIGKILL));
	CHECK_OK(eprof_say(alice, "Outbox", "typed while the relay was down", &sent));
	CHECK(!sent);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(rep.offline);
	CHECK_INT_EQ(rep.waiting, 1);
	/* Keep the entry as it stands (queued, not acknowledged). */
	CHECK_OK(engine_circle_find(alice->e, "Outbox", &row));
	CHECK_OK(store_outbox_list(alice->store, row.circle_id, &items, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		copy = items[0];
		copy.payload = malloc(items[0].payload_len);
		copy.wire = NULL;
		copy.wire_len = 0;
		copy.body = (char *)"";
		memcpy(copy.payload, items[0].payload, items[0].payload_len);
	}
	store_outbox_list_free(items, num);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(alice->e, 5000);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	/*
	 * Sent by this sync, or already: the SEND that timed out may sit in
	 * ZeroMQ's queue and reach the relay once it is back; its echo then
	 * settles the entry. Either way, once.
	 */
	CHECK(rep.sent <= 1);
	CHECK_INT_EQ(rep.waiting, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Outbox", "typed while the relay was down"), 1);
	if (copy.payload == NULL) {
		goto out;
	}
	/*
	 * A crash after the relay stored it but before we noted that: the
	 * entry goes again with its client message id, and the relay's
	 * idempotent SEND stores nothing new.
	 */
	CHECK_OK(engine_circle_find(bob->e, "Outbox", &row));
	seq = row.relay_seq;
	CHECK_OK(store_outbox_add(alice->store, &copy));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.sent, 1);
	CHECK_INT_EQ(rep.waiting, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(engine_circle_find(bob->e, "Outbox", &row));
	CHECK_INT_EQ(row.relay_seq, seq); /* nothing new in the log */
	/* A copy encrypted again under a new client message id reaches the relay twice... */
	randombytes_buf(copy.client_msg_id, sizeof copy.client_msg_id);
	CHECK_OK(store_outbox_add(alice->store, &copy));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.sent, 1);
	/* ...and the receiver drops the message id it has already seen. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(engine_circle_find(bob->e, "Outbox", &row));
	CHECK_INT_EQ(row.relay_seq, seq + 1);
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Outbox", "typed while the relay was down"), 1);
	CHECK_INT_EQ(eprof_count(bob, "Outbox"), 1);
	CHECK_INT_EQ(eprof_count(alice, "Outbox"), 1);
out:
	free(copy.payload);
	free(copy.wire);
	eprof_free(alice);
	eprof_free(bob);
}

static void test_live(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	bool sent = true;

	if (alice == NULL || bob == NULL || carol == NULL || eprof_pair(alice, bob, "Live") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(engine_live(bob->e, "Live"));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_ONLINE], 1, 5000));
	CHECK_OK(eprof_say(alice, "Live", "live one", NULL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_MESSAGE], 1, 5000));
	CHECK_INT_EQ(eprof_has_text(bob, "Live", "live one"), 1);
	/* A commit closes the epoch: bob follows and listens on the next one. */
	CHECK_OK(engine_circle_add(alice->e, "Live", (const char *[]){"carol"}, 1));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_MEMBERS], 1, 5000));
	CHECK_OK(eprof_say(alice, "Live", "live two", NULL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_MESSAGE], 2, 5000));
	CHECK_INT_EQ(eprof_has_text(bob, "Live", "live two"), 1);
	/* The relay goes away; what bob types waits, and goes out when it is back. */
	CHECK_OK(relay_test_kill(&relay, SIGKILL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_OFFLINE], 1, 10000));
	/*
	 * Once live mode knows the relay is down, a send is queued without
	 * trying it: with a request timeout far beyond the test's own time
	 * limit, a send that tried would never return in time.
	 */
	engine_set_timeout(bob->e, 3600 * 1000);
	CHECK_OK(eprof_say(bob, "Live", "typed offline", &sent));
	CHECK(!sent);
	CHECK_OK(eprof_say(bob, "Live", "typed offline, twice", &sent));
	CHECK(!sent);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_OUTBOX], 0);
	CHECK_OK(relay_test_restart(&relay));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_OUTBOX], 2, 15000));
	CHECK(bob->events[ENGINE_EVENT_ONLINE] >= 2);
	engine_set_timeout(bob->e, 5000);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(eprof_has_text(alice, "Live", "typed offline"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Live", "typed offline, twice"), 1);
	/* And pushes flow again after the reconnect. */
	CHECK_OK(eprof_say(alice, "Live", "live three", NULL));
	CHECK(eprof_run_until(bob, &bob->events[ENGINE_EVENT_MESSAGE], 3, 10000));
	CHECK_INT_EQ(eprof_has_text(bob, "Live", "live three"), 1);
	engine_live_stop(bob->e);
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
	RUN(test_outbox_across_restart);
	RUN(test_live);
	relay_test_stop(&relay);
	return harness_report();
}
