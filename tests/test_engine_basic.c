/*
 * test_engine_basic.c: the circle engine against a real halqad on
 * loopback: create a circle, add two members by Welcome, exchange
 * messages (one in Arabic), member lists and roles, a member who was away
 * catching up over several epochs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness.h"
#include "support/engine_steps.h"

static struct relay_test relay;

static const char arabic[] = "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 "
			     "\xd8\xa8\xd8\xa7\xd9\x84\xd8\xad\xd9\x84\xd9\x82\xd8\xa9"; /* مرحبا بالحلقة */

static void test_create_add_exchange(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = eprof_new(&relay, "bob");
	struct eprof *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	struct engine_member *members = NULL;
	size_t num_members = 0;
	uint8_t id[ENGINE_ID_LEN];
	const char *both[] = {"bob", "carol"};
	char text[256];
	bool sent = false;

	if (alice == NULL || bob == NULL || carol == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(eprof_meet(bob, carol));
	CHECK_OK(engine_circle_create(alice->e, "Mentors", id));
	CHECK_RC(engine_circle_create(alice->e, "Mentors", NULL), HALQA_ERR_INVALID);
	CHECK_OK(engine_circle_add(alice->e, "Mentors", both, 2));
	if (harness_current_failed) {
		fprintf(stderr, "add: %s\n", engine_last_error(alice->e));
		goto out;
	}
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_JOINED], 1);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	/* The mailbox was emptied: a second sync joins nothing. */
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 0);

	CHECK_OK(eprof_say(alice, "Mentors", "welcome, both of you", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(eprof_last_text(bob, "Mentors", text, sizeof text));
	CHECK(strcmp(text, "welcome, both of you") == 0);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_MESSAGE], 1);

	CHECK_OK(eprof_say(bob, "Mentors", arabic, &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(eprof_last_text(alice, "Mentors", text, sizeof text));
	CHECK(strcmp(text, arabic) == 0);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 2);
	CHECK_INT_EQ(eprof_has_text(carol, "Mentors", arabic), 1);
	CHECK_INT_EQ(eprof_has_text(carol, "Mentors", "welcome, both of you"), 1);
	/* Our own messages are in our history once, not twice after the echo. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Mentors", arabic), 1);
	CHECK_INT_EQ(eprof_count(bob, "Mentors"), 2);
	CHECK_INT_EQ(eprof_count(alice, "Mentors"), 2);

	CHECK_OK(engine_circle_members(carol->e, "Mentors", &members, &num_members));
	CHECK_INT_EQ(num_members, 3);
	for (size_t i = 0; i < num_members; i++) {
		if (members[i].self) {
			CHECK(sodium_memcmp(members[i].identity, carol->id->sign_pub, 32) == 0);
			CHECK(!members[i].facilitator);
		} else if (strcmp(members[i].name, "alice") == 0) {
			CHECK(members[i].facilitator);
			CHECK(members[i].verified);
		} else {
			CHECK(strcmp(members[i].name, "bob") == 0);
			CHECK(!members[i].facilitator);
		}
	}
	free(members);
	/* Members cannot add or remove: that is a facilitator's. */
	CHECK_RC(engine_circle_add(bob->e, "Mentors", both, 1), HALQA_ERR_DENIED);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

static void test_offline_catch_up(void)
{
	struct eprof *alice = eprof_new(&relay, "alice");
	struct eprof *bob = eprof_new(&relay, "bob");
	struct eprof *carol = eprof_new(&relay, "carol");
	struct eprof *dave = eprof_new(&relay, "dave");
	struct engine_sync_report rep;
	const char *b[] = {"bob"}, *c[] = {"carol"}, *d[] = {"dave"};
	char text[64];

	if (alice == NULL || bob == NULL || carol == NULL || dave == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(eprof_meet(alice, dave));
	CHECK_OK(engine_circle_create(alice->e, "Court days", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Court days", b, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	/* Bob is away now: three epochs go by, with messages in each. */
	CHECK_OK(eprof_say(alice, "Court days", "epoch one", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Court days", c, 1));
	CHECK_OK(eprof_say(alice, "Court days", "epoch two", NULL));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_say(carol, "Court days", "carol here", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Court days", d, 1));
	CHECK_OK(eprof_say(alice, "Court days", "epoch three", NULL));
	/* Carol joined in epoch 2: she reads from there, not before. */
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(eprof_has_text(carol, "Court days", "epoch one"), 0);
	CHECK_INT_EQ(eprof_has_text(carol, "Court days", "epoch two"), 1);
	CHECK_INT_EQ(eprof_has_text(carol, "Court days", "epoch three"), 1);
	/* Bob comes back and walks the epochs. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 4);
	CHECK_INT_EQ(rep.commits, 2);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_count(bob, "Court days"), 4);
	CHECK_OK(eprof_last_text(bob, "Court days", text, sizeof text));
	CHECK(strcmp(text, "epoch three") == 0);
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_say(bob, "Court days", "back again", NULL));
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(eprof_has_text(dave, "Court days", "back again"), 1);
	CHECK_INT_EQ(eprof_has_text(dave, "Court days", "epoch three"), 1);
	/* A restart changes nothing: the state is in the store. */
	CHECK_OK(eprof_reopen(dave));
	CHECK_OK(eprof_say(alice, "Court days", "after the restart", NULL));
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(dave, "Court days", "after the restart"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
	eprof_free(dave);
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
	RUN(test_create_add_exchange);
	RUN(test_offline_catch_up);
	relay_test_stop(&relay);
	return harness_report();
}
