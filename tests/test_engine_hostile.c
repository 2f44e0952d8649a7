/*
 * test_engine_hostile.c: a member whose relay lies (support/hostile_relay:
 * garbage frames, stray answers, fetched messages repeated, reversed,
 * corrupted, or taken from another circle). Whatever it does, the member
 * stores each genuine message once and nothing else, and does not crash.
 * A relay that answers `internal` for one circle's log is not taken for
 * an unreachable one: the sync is not offline, the other circles are
 * read, and the error comes back with its reason and the circle's name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "support/engine_steps.h"
#include "support/hostile_relay.h"

static struct relay_test relay;

static void test_hostile_relay(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = NULL;
	struct hostile_relay *h = NULL;
	struct engine_sync_report rep;
	struct store_circle row;

	/* Bob's relay is the liar; alice talks to the real one. */
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
	CHECK_OK(eprof_say(alice, "A", "a2", NULL));
	CHECK_OK(eprof_say(alice, "B", "b1", NULL));
	hostile_relay_set_modes(h, HOSTILE_GARBAGE | HOSTILE_REPEAT | HOSTILE_REVERSE);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 3);
	CHECK(rep.refused > 0);
	CHECK_INT_EQ(eprof_has_text(bob, "A", "a1"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "A", "a2"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "B", "b1"), 1);
	CHECK_INT_EQ(eprof_count(bob, "A"), 2);
	CHECK_INT_EQ(eprof_count(bob, "B"), 1);
	/* The same again: replays of what was read are dropped. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(bob, "A"), 2);

	/* Corrupted ciphertext: refused, nothing stored. */
	CHECK_OK(eprof_say(alice, "A", "a4", NULL));
	hostile_relay_set_modes(h, HOSTILE_CORRUPT);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK(rep.refused > 0);
	CHECK_INT_EQ(eprof_has_text(bob, "A", "a4"), 0);
	CHECK_INT_EQ(eprof_count(bob, "A"), 2);
	/* Messages of another circle delivered as this one's: refused. */
	CHECK_OK(eprof_say(alice, "A", "a3", NULL));
	CHECK_OK(eprof_say(alice, "B", "b2", NULL));
	hostile_relay_set_modes(h, HOSTILE_FOREIGN);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 2);
	CHECK(rep.refused > 0);
	CHECK_INT_EQ(eprof_count(bob, "A"), 3);
	CHECK_INT_EQ(eprof_count(bob, "B"), 2);
	CHECK_INT_EQ(eprof_has_text(bob, "A", "b1"), 0);
	CHECK_INT_EQ(eprof_has_text(bob, "B", "a1"), 0);
	/* a4 never arrived whole: a3 came with alice's counter one too far. */
	CHECK_OK(engine_circle_find(bob->e, "A", &row));
	CHECK_INT_EQ(row.gaps, 1);

	hostile_relay_set_modes(h, 0);
out:
	eprof_free(bob);
	eprof_free(alice);
	hostile_relay_stop(h);
}

static void test_internal_one_circle(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = NULL;
	struct hostile_relay *h = NULL;
	struct engine_sync_report rep;
	struct store_circle *circles = NULL;
	size_t num = 0;
	const char *names[2] = {"First", "Second"}, *failing, *other;
	char failing_text[STORE_MAX_NAME + 8], other_text[STORE_MAX_NAME + 8];

	if (alice == NULL || (bob = eprof_new_behind(&relay, alice, "bob", &h)) == NULL) {
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		CHECK_OK(engine_circle_create(alice->e, names[i], NULL));
		CHECK_OK(engine_circle_add(alice->e, names[i], (const char *[]){"bob"}, 1));
	}
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 2);
	/* The circle bob's sync reads first fails: before, that ended his whole sync. */
	CHECK_OK(store_circle_list(bob->store, &circles, &num));
	CHECK_INT_EQ(num, 2);
	if (num != 2) {
		goto out;
	}
	failing = circles[0].name;
	other = circles[1].name;
	snprintf(failing_text, sizeof failing_text, "in %s", failing);
	snprintf(other_text, sizeof other_text, "in %s", other);
	CHECK_OK(eprof_say(alice, failing, failing_text, NULL));
	CHECK_OK(eprof_say(alice, other, other_text, NULL));
	hostile_relay_fail_circle(h, circles[0].circle_id);
	CHECK_RC(engine_sync(bob->e, &rep), HALQA_ERR_NETWORK);
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, other, other_text), 1);
	CHECK_INT_EQ(eprof_has_text(bob, failing, failing_text), 0);
	CHECK(strstr(engine_last_error(bob->e), "internal") != NULL);
	CHECK(strstr(engine_last_error(bob->e), failing) != NULL);
	/* The relay mended: the next sync reads the rest. */
	hostile_relay_fail_circle(h, NULL);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, failing, failing_text), 1);
out:
	free(circles);
	eprof_free(bob);
	eprof_free(alice);
	hostile_relay_stop(h);
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
	RUN(test_hostile_relay);
	RUN(test_internal_one_circle);
	relay_test_stop(&relay);
	return harness_report();
}
