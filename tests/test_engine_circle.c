/*
 * test_engine_circle.c: circle changes through the engine against a real
 * halqad: removal (the removed member reads nothing after), two
 * facilitators committing at once (both end in the same epoch), the
 * self-update by clock and by count, KeyPackage stocking and claims down
 * to the last-resort package, and the roster rule (a commit by a member
 * who is not a facilitator is refused by everyone else).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"
#include "harness.h"
#include "support/engine_steps.h"
#include "support/relay_client.h"

static struct relay_test relay;

/* circle_of_three: alice (facilitator) with bob and carol, all synced. */
static int circle_of_three(struct eprof *alice, struct eprof *bob, struct eprof *carol,
			   const char *name)
{
	const char *both[] = {"bob", "carol"};
	struct engine_sync_report rep;
	int r;

	if ((r = eprof_meet(alice, bob)) != HALQA_OK || (r = eprof_meet(alice, carol)) != HALQA_OK ||
	    (r = eprof_meet(bob, carol)) != HALQA_OK) {
		return r;
	}
	CHECK_OK(r = engine_circle_create(alice->e, name, NULL));
	if (r == HALQA_OK) {
		CHECK_OK(r = engine_circle_add(alice->e, name, both, 2));
	}
	if (r == HALQA_OK) {
		CHECK_OK(r = eprof_sync(bob, &rep));
		CHECK_INT_EQ(rep.joined, 1);
	}
	if (r == HALQA_OK) {
		CHECK_OK(r = eprof_sync(carol, &rep));
		CHECK_INT_EQ(rep.joined, 1);
	}
	return r;
}

static void test_remove(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	struct store_circle row;
	struct engine_member *members = NULL;
	size_t num = 0;
	const char *c[] = {"carol"};

	if (alice == NULL || bob == NULL || carol == NULL ||
	    circle_of_three(alice, bob, carol, "Review") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Review", "before", NULL));
	CHECK_OK(engine_circle_remove(alice->e, "Review", c, 1));
	CHECK_OK(eprof_say(alice, "Review", "after", NULL));
	CHECK_OK(eprof_say(bob, "Review", "after too", NULL));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(carol->events[ENGINE_EVENT_REMOVED], 1);
	CHECK_INT_EQ(eprof_has_text(carol, "Review", "before"), 1);
	CHECK_INT_EQ(eprof_has_text(carol, "Review", "after"), 0);
	CHECK_OK(engine_circle_find(carol->e, "Review", &row));
	CHECK(row.flags & STORE_CIRCLE_REMOVED);
	CHECK(strstr(row.reason, "removed") != NULL);
	/* Nothing more comes, and carol can no longer send. */
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(carol, "Review"), 1);
	CHECK_RC(eprof_say(carol, "Review", "let me in", NULL), HALQA_ERR_DENIED);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Review", "after"), 1);
	CHECK_OK(engine_circle_members(bob->e, "Review", &members, &num));
	CHECK_INT_EQ(num, 2);
	free(members);
	CHECK_OK(eprof_same_epoch(alice, bob, "Review", NULL));
	/* The last facilitator cannot be removed (alice removing herself is refused too). */
	CHECK_RC(engine_circle_remove(bob->e, "Review", (const char *[]){"alice"}, 1),
		 HALQA_ERR_DENIED);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

/* While bob reads alice's message, alice commits: bob's commit then meets stale-epoch. */
static struct eprof *racer;
static int raced;

static void race_hook(struct eprof *p, const struct engine_event *ev)
{
	(void)p;
	if (ev->type == ENGINE_EVENT_MESSAGE && racer != NULL && !raced) {
		raced = 1;
		CHECK_OK(engine_circle_add(racer->e, "Race", (const char *[]){"dave"}, 1));
	}
}

static void test_two_facilitators_at_once(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol"), *dave = eprof_new(&relay, "dave"),
		     *erin = eprof_new(&relay, "erin");
	struct engine_sync_report rep;
	struct engine_member *members = NULL;
	size_t num = 0;
	uint64_t epoch = 0;

	if (alice == NULL || bob == NULL || carol == NULL || dave == NULL || erin == NULL ||
	    circle_of_three(alice, bob, carol, "Race") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, dave));
	CHECK_OK(eprof_meet(bob, erin));
	CHECK_OK(engine_circle_set_facilitator(alice->e, "Race", "bob", true));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(eprof_say(alice, "Race", "go", NULL));
	racer = alice;
	raced = 0;
	bob->on_event = race_hook;
	/* bob's add syncs first; alice's add lands in the middle of that sync. */
	CHECK_OK(engine_circle_add(bob->e, "Race", (const char *[]){"erin"}, 1));
	bob->on_event = NULL;
	racer = NULL;
	CHECK_INT_EQ(raced, 1);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_sync(erin, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Race", &epoch));
	CHECK_OK(eprof_same_epoch(alice, carol, "Race", NULL));
	CHECK_OK(eprof_same_epoch(alice, dave, "Race", NULL));
	CHECK_OK(eprof_same_epoch(alice, erin, "Race", NULL));
	CHECK_OK(engine_circle_members(carol->e, "Race", &members, &num));
	CHECK_INT_EQ(num, 5);
	free(members);
	CHECK_OK(eprof_say(erin, "Race", "hello all", NULL));
	CHECK_OK(eprof_sync(dave, &rep));
	CHECK_INT_EQ(eprof_has_text(dave, "Race", "hello all"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
	eprof_free(dave);
	eprof_free(erin);
}

static void test_self_update(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	uint64_t before = 0, after = 0;
	char text[32];

	if (alice == NULL || bob == NULL || carol == NULL ||
	    circle_of_three(alice, bob, carol, "Heal") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_same_epoch(alice, bob, "Heal", &before));
	/* Six days: nothing. A week: bob's client heals on its own. */
	bob->now += 6LL * 24 * 3600 * 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 0);
	bob->now += 1LL * 24 * 3600 * 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_OK(eprof_same_epoch(alice, bob, "Heal", &after));
	CHECK_OK(eprof_same_epoch(alice, carol, "Heal", NULL));
	CHECK_INT_EQ(after, before + 1);
	/* And after ENGINE_SELF_UPDATE_SENDS messages. */
	for (int i = 0; i < ENGINE_SELF_UPDATE_SENDS; i++) {
		snprintf(text, sizeof text, "message %d", i);
		CHECK_OK(eprof_say(carol, "Heal", text, NULL));
	}
	CHECK_OK(eprof_sync(carol, &rep));
	if (rep.waiting != 0 || rep.offline) {
		fprintf(stderr, "carol: %zu waiting, offline %d: %s\n", rep.waiting, rep.offline,
			engine_last_error(carol->e));
	}
	CHECK_INT_EQ(rep.waiting, 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, ENGINE_SELF_UPDATE_SENDS);
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_OK(eprof_same_epoch(alice, carol, "Heal", &after));
	CHECK_INT_EQ(after, before + 2);
	CHECK_INT_EQ(eprof_count(alice, "Heal"), ENGINE_SELF_UPDATE_SENDS);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

/* claim_one claims one of |p|'s packages as a stranger; returns whether it was the last resort. */
static int claim_one(struct relay_client *rc, const struct eprof *p, int *last_resort)
{
	struct wire_msg req, reply;
	uint16_t code = 0;
	int r;

	wire_msg_init(&req, WIRE_KP_CLAIM, 0);
	memcpy(req.u.kp_dir.dir_id, p->id->kp_dir_id, WIRE_ID_LEN);
	r = relay_client_ok(rc, &req, &reply, &code, 5000);
	if (r == HALQA_OK) {
		*last_resort = reply.u.ok.u.kp_claim.last_resort;
	}
	return r;
}

static int kp_count(struct relay_client *rc, const struct eprof *p, uint32_t *one_time,
		    int *has_lr)
{
	struct wire_msg req, reply;
	uint16_t code = 0;
	int r;

	(void)rc;
	wire_msg_init(&req, WIRE_KP_COUNT, 0);
	memcpy(req.u.kp_dir.dir_id, p->id->kp_dir_id, WIRE_ID_LEN);
	/* Only the owner may count: ask through a client with the owner's key. */
	struct relay_client *owner = NULL;

	if ((r = relay_test_client(&relay, &owner, p->id->curve_pub, p->id->curve_sec)) !=
	    HALQA_OK) {
		return r;
	}
	r = relay_client_ok(owner, &req, &reply, &code, 5000);
	if (r == HALQA_OK) {
		*one_time = reply.u.ok.u.kp_count.one_time;
		*has_lr = reply.u.ok.u.kp_count.has_last_resort;
	}
	relay_client_free(owner);
	return r;
}

static struct relay_client *stranger(void)
{
	struct relay_client *rc = NULL;
	struct wire_msg req, reply;
	uint16_t code = 0;

	if (relay_test_client(&relay, &rc, NULL, NULL) != HALQA_OK) {
		return NULL;
	}
	wire_msg_init(&req, WIRE_REGISTER, 0);
	if (relay_client_ok(rc, &req, &reply, &code, 5000) != HALQA_OK) {
		relay_client_free(rc);
		return NULL;
	}
	return rc;
}

static void test_keypackages(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct relay_client *rc = NULL;
	struct engine_sync_report rep;
	uint32_t one_time = 0;
	int has_lr = 0, lr = 0, claimed = 0;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(kp_count(NULL, bob, &one_time, &has_lr));
	CHECK_INT_EQ(one_time, ENGINE_KP_STOCK);
	CHECK_INT_EQ(has_lr, 1);
	/* Strangers claim every one-time package (a few devices: claims are rate limited). */
	for (int round = 0; round < 8 && lr == 0; round++) {
		relay_client_free(rc);
		if ((rc = stranger()) == NULL) {
			break;
		}
		for (int i = 0; i < 4 && lr == 0; i++) {
			if (claim_one(rc, bob, &lr) != HALQA_OK) {
				break;
			}
			claimed++;
		}
	}
	CHECK_INT_EQ(lr, 1);
	CHECK_INT_EQ(claimed, ENGINE_KP_STOCK + 1);
	/* Only the last resort is left, and alice can still add bob with it. */
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(engine_circle_create(alice->e, "One", NULL));
	CHECK_OK(engine_circle_add(alice->e, "One", (const char *[]){"bob"}, 1));
	CHECK_OK(engine_circle_create(alice->e, "Two", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Two", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 2);
	/* That sync restocked the directory, and the last resort is still there. */
	CHECK_OK(kp_count(NULL, bob, &one_time, &has_lr));
	CHECK_INT_EQ(one_time, ENGINE_KP_STOCK);
	CHECK_INT_EQ(has_lr, 1);
	CHECK_OK(eprof_say(alice, "Two", "two works", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Two", "two works"), 1);
out:
	relay_client_free(rc);
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * A member who is not a facilitator adds someone anyway, with a commit
 * made by hand from its own group state (as a modified client would).
 */
static void test_roster_enforced(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol"), *mallory = eprof_new(&relay, "mallory");
	struct engine_sync_report rep;
	struct mls_group *g = NULL, *copy = NULL;
	struct mls_key_package kp;
	struct mls_keypackage_private kpp;
	struct relay_client *rc = NULL;
	struct wire_msg req, reply;
	struct store_circle row;
	uint8_t *commit = NULL, *welcome = NULL, *state = NULL, cap[32], next[32];
	size_t commit_len = 0, welcome_len = 0, state_len = 0;
	uint16_t code = 0;

	memset(&kp, 0, sizeof kp);
	if (alice == NULL || bob == NULL || carol == NULL || mallory == NULL ||
	    circle_of_three(alice, bob, carol, "Closed") != HALQA_OK) {
		goto out;
	}
	CHECK_RC(engine_circle_add(bob->e, "Closed", (const char *[]){"carol"}, 1),
		 HALQA_ERR_DENIED);
	/* Carol's next FETCH brings these and the forged commit in one batch. */
	CHECK_OK(eprof_say(alice, "Closed", "before the forgery 1", NULL));
	CHECK_OK(eprof_say(alice, "Closed", "before the forgery 2", NULL));
	CHECK_OK(eprof_group(bob, "Closed", &g));
	CHECK_OK(engine_circle_find(bob->e, "Closed", &row));
	if (g == NULL) {
		goto out;
	}
	CHECK_OK(mls_keypackage_create(&kp, &kpp, mallory->id->sign_sec, 0, UINT64_MAX, false));
	CHECK_OK(mls_group_commit_add(g, &kp, 1, 0, &commit, &commit_len, &welcome, &welcome_len));
	CHECK_OK(mls_group_export(g, "halqa relay capability", row.circle_id, 16, cap, 32));
	CHECK_OK(mls_group_save(g, &state, &state_len));
	CHECK_OK(mls_group_load(&copy, state, state_len, NULL));
	CHECK_OK(mls_group_commit_confirm(copy));
	CHECK_OK(mls_group_export(copy, "halqa relay capability", row.circle_id, 16, next, 32));
	if ((rc = stranger()) == NULL || commit == NULL) {
		goto out;
	}
	wire_msg_init(&req, WIRE_SEND, 0);
	memcpy(req.u.send.circle_id, row.circle_id, 16);
	req.u.send.epoch = mls_group_epoch(g);
	req.u.send.kind = WIRE_KIND_COMMIT;
	memcpy(req.u.send.cap, cap, 32);
	CHECK_OK(wire_cap_hash(req.u.send.next_cap_hash, next));
	randombytes_buf(req.u.send.client_msg_id, 16);
	req.u.send.payload.data = commit;
	req.u.send.payload.len = commit_len;
	CHECK_OK(relay_client_ok(rc, &req, &reply, &code, 5000));
	/* Alice and carol refuse it: the circle is blocked, with the reason. */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.refused, 1);
	CHECK_INT_EQ(rep.commits, 0);
	CHECK_OK(engine_circle_find(alice->e, "Closed", &row));
	CHECK(row.flags & STORE_CIRCLE_BLOCKED);
	CHECK(strstr(row.reason, "not a facilitator") != NULL);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.refused, 1);
	/* The refusal takes back the commit alone: the messages before it stay. */
	CHECK_INT_EQ(rep.received, 2);
	CHECK_INT_EQ(eprof_has_text(carol, "Closed", "before the forgery 2"), 1);
	CHECK_OK(engine_circle_find(carol->e, "Closed", &row));
	CHECK(row.flags & STORE_CIRCLE_BLOCKED);
	CHECK_OK(eprof_reopen(carol));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(carol, "Closed"), 2);
	CHECK_RC(eprof_say(carol, "Closed", "still there?", NULL), HALQA_ERR_DENIED);
	/* The refused commit left their groups where they were. */
	CHECK_OK(eprof_same_epoch(alice, carol, "Closed", NULL));
out:
	relay_client_free(rc);
	mls_group_state_free(state, state_len);
	mls_group_free(copy);
	mls_group_free(g);
	mls_key_package_cleanup(&kp);
	mls_keypackage_private_wipe(&kpp);
	free(commit);
	free(welcome);
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
	eprof_free(mallory);
}

static void test_leave(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	struct engine_member *members = NULL;
	struct store_circle row;
	size_t num = 0;

	if (alice == NULL || bob == NULL || carol == NULL ||
	    circle_of_three(alice, bob, carol, "Leaving") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(carol, "Leaving", "goodbye", NULL));
	CHECK_OK(engine_circle_leave(carol->e, "Leaving"));
	CHECK_OK(engine_circle_find(carol->e, "Leaving", &row));
	CHECK(row.flags & STORE_CIRCLE_LEFT);
	CHECK_INT_EQ(eprof_count(carol, "Leaving"), 1); /* history kept */
	CHECK_RC(eprof_say(carol, "Leaving", "one more", NULL), HALQA_ERR_DENIED);
	/* Bob sees the request but is no facilitator: he does not commit it. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 0);
	/* Alice's sync commits it. */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Leaving", "goodbye"), 1);
	CHECK_OK(engine_circle_members(alice->e, "Leaving", &members, &num));
	CHECK_INT_EQ(num, 2);
	free(members);
	CHECK_OK(eprof_say(alice, "Leaving", "after carol left", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Leaving", "after carol left"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Leaving", NULL));
	CHECK_OK(engine_circle_members(bob->e, "Leaving", &members, &num));
	CHECK_INT_EQ(num, 2);
	free(members);
	/* The last facilitator cannot leave; once bob is one too, she can. */
	CHECK_RC(engine_circle_leave(alice->e, "Leaving"), HALQA_ERR_DENIED);
	CHECK_OK(engine_circle_set_facilitator(alice->e, "Leaving", "bob", true));
	CHECK_OK(engine_circle_leave(alice->e, "Leaving"));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 2);
	CHECK_OK(engine_circle_members(bob->e, "Leaving", &members, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		CHECK(members[0].self && members[0].facilitator);
	}
	free(members);
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.received, 0);
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
	RUN(test_remove);
	RUN(test_two_facilitators_at_once);
	RUN(test_self_update);
	RUN(test_keypackages);
	RUN(test_roster_enforced);
	RUN(test_leave);
	relay_test_stop(&relay);
	return harness_report();
}
