/*
 * test_engine_pipeline.c: a member catching up keeps the next FETCH in
 * flight while it reads a reply: the next epoch's, sent as soon as the
 * commit closing the current one is read, and the rest of an epoch
 * whose reply stopped at the relay's count limit. Across many epochs,
 * each message is stored once and the group ends where the others are;
 * when a FETCH asked ahead is never answered (the relay sends garbage
 * instead, or nothing), what was read before stays, nothing is read
 * twice, and the next sync finishes the job. A sync's first FETCH and
 * KeyPackage count go out with its mailbox fetch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "support/engine_steps.h"
#include "support/hostile_relay.h"

static struct relay_test relay;

/*
 * epochs has |p| say |per_epoch| messages, then move a week on and sync
 * (its self-update is due: a commit), |num| times. Returns the messages said.
 */
static size_t epochs(struct eprof *p, const char *circle, size_t num, size_t per_epoch)
{
	struct engine_sync_report rep;
	char text[64];
	size_t said = 0;

	for (size_t k = 0; k < num; k++) {
		for (size_t i = 0; i < per_epoch; i++) {
			snprintf(text, sizeof text, "epoch %zu message %zu", k, i);
			CHECK_OK(eprof_say(p, circle, text, NULL));
			said++;
		}
		p->now += ENGINE_SELF_UPDATE_MS + 1000;
		CHECK_OK(eprof_sync(p, &rep));
		CHECK_INT_EQ(rep.commits, 1);
	}
	return said;
}

/* joined_pair: alice's circle |name| with bob in it, both synced. */
static int joined_pair(struct eprof *alice, struct eprof *bob, const char *name)
{
	struct engine_sync_report rep;
	int r;

	if ((r = eprof_meet(alice, bob)) != HALQA_OK ||
	    (r = engine_circle_create(alice->e, name, NULL)) != HALQA_OK ||
	    (r = engine_circle_add(alice->e, name, (const char *[]){"bob"}, 1)) != HALQA_OK ||
	    (r = eprof_sync(bob, &rep)) != HALQA_OK) {
		return r;
	}
	return rep.joined == 1 ? HALQA_OK : HALQA_ERR_INTERNAL;
}

/*
 * Twelve epochs of messages, and one of 300 (more than one FETCH reply
 * holds), read in one sync.
 */
static void test_many_epochs(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	uint64_t epoch = 0;
	size_t said;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(joined_pair(alice, bob, "Long"));
	bob->events[ENGINE_EVENT_MESSAGE] = 0;
	said = epochs(alice, "Long", 12, 7);
	said += epochs(alice, "Long", 1, 300);
	said += epochs(alice, "Long", 2, 3);
	/* The last epoch is open: messages after the last commit. */
	CHECK_OK(eprof_say(alice, "Long", "the open epoch", NULL));
	said++;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, said);
	CHECK_INT_EQ(rep.commits, 15);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK(!rep.offline);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_MESSAGE], said);
	CHECK_INT_EQ(eprof_count(bob, "Long"), (long)said);
	CHECK_INT_EQ(eprof_has_text(bob, "Long", "epoch 0 message 299"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Long", "the open epoch"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Long", &epoch));
	CHECK_INT_EQ(epoch, 16);
	/* What was stored is where the next run starts: nothing read twice. */
	CHECK_OK(eprof_reopen(bob));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(bob, "Long"), (long)said);
	/* And the circle goes on: bob is heard in the epoch he reached. */
	CHECK_OK(eprof_say(bob, "Long", "caught up", NULL));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * Bob's relay answers a few FETCHes, then only garbage: the sync that
 * meets it ends offline with the epochs it read stored; the next sync,
 * with an honest relay again, reads the rest. Then a catch-up across
 * epochs through a relay that repeats, reverses and pads every answer.
 */
static void test_fetch_ahead_unanswered(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = NULL;
	struct hostile_relay *h = NULL;
	struct engine_sync_report rep;
	uint64_t epoch = 0;
	size_t said, first;

	if (alice == NULL || (bob = eprof_new_behind(&relay, alice, "bob", &h)) == NULL) {
		goto out;
	}
	CHECK_OK(engine_circle_create(alice->e, "Ahead", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Ahead", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);

	said = epochs(alice, "Ahead", 6, 4);
	/* Two FETCHes answered: the first epoch's, and the second's, asked ahead. */
	hostile_relay_fetch_budget(h, 2);
	engine_set_timeout(bob->e, 700);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(rep.offline);
	first = rep.received;
	CHECK_INT_EQ(first, 8);
	CHECK_INT_EQ(rep.commits, 2);
	CHECK_INT_EQ(eprof_count(bob, "Ahead"), (long)first);
	/* Nothing answered at all: nothing changes. */
	hostile_relay_fetch_budget(h, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(rep.offline);
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(bob, "Ahead"), (long)first);
	/* A restart in between changes nothing either. */
	CHECK_OK(eprof_reopen(bob));
	hostile_relay_fetch_budget(h, -1);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, said - first);
	CHECK_INT_EQ(rep.commits, 4);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(bob, "Ahead"), (long)said);
	CHECK_OK(eprof_same_epoch(alice, bob, "Ahead", &epoch));

	/* Replays, reversed order and stray frames across epochs: each message once. */
	said += epochs(alice, "Ahead", 4, 5);
	hostile_relay_set_modes(h, HOSTILE_GARBAGE | HOSTILE_REPEAT | HOSTILE_REVERSE);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 20);
	CHECK_INT_EQ(rep.commits, 4);
	CHECK_INT_EQ(eprof_count(bob, "Ahead"), (long)said);
	CHECK_OK(eprof_same_epoch(alice, bob, "Ahead", NULL));
	hostile_relay_set_modes(h, 0);
out:
	eprof_free(bob);
	eprof_free(alice);
	hostile_relay_stop(h);
}

/*
 * A sync sends a circle's first FETCH and the KeyPackage count with the
 * mailbox fetch: a Welcome waiting beside messages of circles bob is in
 * is read in one sync, and when FETCH goes unanswered the Welcome is
 * still taken and the next sync reads every circle once.
 */
static void test_sync_ahead(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = NULL;
	struct hostile_relay *h = NULL;
	struct engine_sync_report rep;

	if (alice == NULL || (bob = eprof_new_behind(&relay, alice, "bob", &h)) == NULL) {
		goto out;
	}
	CHECK_OK(engine_circle_create(alice->e, "A", NULL));
	CHECK_OK(engine_circle_create(alice->e, "B", NULL));
	CHECK_OK(engine_circle_add(alice->e, "A", (const char *[]){"bob"}, 1));
	CHECK_OK(engine_circle_add(alice->e, "B", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 2);

	CHECK_OK(eprof_say(alice, "A", "a1", NULL));
	CHECK_OK(eprof_say(alice, "B", "b1", NULL));
	CHECK_OK(engine_circle_create(alice->e, "C", NULL));
	CHECK_OK(engine_circle_add(alice->e, "C", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_say(alice, "C", "c1", NULL));
	/* Two hours on: the KeyPackage count is due by time, so it goes out ahead too. */
	bob->now += 2 * 3600 * 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(rep.received, 3);
	CHECK_INT_EQ(rep.refused, 0);

	/* FETCH unanswered: the mailbox is still read, no message is. */
	CHECK_OK(eprof_say(alice, "A", "a2", NULL));
	CHECK_OK(eprof_say(alice, "C", "c2", NULL));
	CHECK_OK(engine_circle_create(alice->e, "D", NULL));
	CHECK_OK(engine_circle_add(alice->e, "D", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_say(alice, "D", "d1", NULL));
	hostile_relay_fetch_budget(h, 0);
	engine_set_timeout(bob->e, 700);
	bob->now += 2 * 3600 * 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(rep.offline);
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(rep.received, 0);
	hostile_relay_fetch_budget(h, -1);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.joined, 0);
	CHECK_INT_EQ(rep.received, 3);
	CHECK_INT_EQ(eprof_count(bob, "A"), 2);
	CHECK_INT_EQ(eprof_count(bob, "B"), 1);
	CHECK_INT_EQ(eprof_count(bob, "C"), 2);
	CHECK_INT_EQ(eprof_count(bob, "D"), 1);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
out:
	eprof_free(bob);
	eprof_free(alice);
	hostile_relay_stop(h);
}

/*
 * A reader slower than the request timeout: bob's event handler takes
 * longer than his timeout on the first message it hears, which it hears
 * once his first batch (512 items here, engine_set_batch_items) is
 * written, with the FETCH for the rest already out and answered on
 * loopback. The answer sitting
 * in the socket is read, not taken for a timeout (libuv runs due timers
 * before it polls): the sync reads every epoch and is not offline.
 */
static void slow_hook(struct eprof *p, const struct engine_event *ev)
{
	if (ev->type == ENGINE_EVENT_MESSAGE && p->hook_arg != NULL) {
		p->hook_arg = NULL;
		/* Past the 500 ms timeout; the answer, asked before, needs only to be in by the end. */
		uv_sleep(2500);
	}
}

static void test_slow_reader(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char text[64];
	size_t said = 1100;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(joined_pair(alice, bob, "Slow"));
	/* More than two batches hold: the first one's events come while a FETCH is out. */
	for (size_t i = 0; i < said; i++) {
		snprintf(text, sizeof text, "slow %zu", i);
		CHECK_OK(eprof_say(alice, "Slow", text, NULL));
		if (i % 300 == 299) {
			uv_sleep(1500); /* under the relay's default rate limit (200/s, burst 400) */
		}
	}
	engine_set_timeout(bob->e, 500);
	engine_set_batch_items(bob->e, 512);
	bob->on_event = slow_hook;
	bob->hook_arg = bob;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(bob->hook_arg == NULL);
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, said);
	CHECK_INT_EQ(eprof_count(bob, "Slow"), (long)said);
	CHECK_OK(eprof_same_epoch(alice, bob, "Slow", NULL));
	bob->on_event = NULL;
out:
	eprof_free(alice);
	eprof_free(bob);
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
	RUN(test_many_epochs);
	RUN(test_fetch_ahead_unanswered);
	RUN(test_sync_ahead);
	RUN(test_slow_reader);
	relay_test_stop(&relay);
	return harness_report();
}
