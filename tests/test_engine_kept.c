/*
 * test_engine_kept.c: a circle's MLS group kept by the engine between two
 * uses in one command, against a real halqad. The kept group is used only
 * while the store still holds the bytes it equals: after a send whose
 * transaction is rolled back once the ratchet moved, after another engine
 * on the same store moved the group on, and across a stale-epoch retry,
 * the next load reads the store again, and every message arrives once,
 * decrypted by the other member. Counting loads shows the reuse itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "harness.h"
#include "support/engine_steps.h"

static struct relay_test relay;

/* loads_of returns how many groups |e| rebuilt from the store; |reuses| gets the kept ones used. */
static unsigned long loads_of(struct engine *e, unsigned long *reuses)
{
	unsigned long loads = 0, kept = 0;

	engine_group_counts(e, &loads, &kept);
	if (reuses != NULL) {
		*reuses = kept;
	}
	return loads;
}

/* members_load lists |circle|'s members: one circle load, nothing written. */
static void members_load(struct engine *e, const char *circle)
{
	struct engine_member *m = NULL;
	size_t num = 0;

	CHECK_OK(engine_circle_members(e, circle, &m, &num));
	CHECK_INT_EQ(num, 2);
	free(m);
}

static void test_reused_within_a_command(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	unsigned long loads, reuses, reuses2;
	bool sent = false;

	if (alice == NULL || bob == NULL || eprof_pair(alice, bob, "Kept") != HALQA_OK) {
		goto out;
	}
	/* A new engine, as a new `halqa send`: sync, the warning's members, the send. */
	CHECK_OK(eprof_reopen(alice));
	CHECK_OK(eprof_sync(alice, NULL));
	members_load(alice->e, "Kept");
	CHECK_OK(eprof_say(alice, "Kept", "loaded once", &sent));
	CHECK(sent);
	loads = loads_of(alice->e, &reuses);
	CHECK_INT_EQ(loads, 1);
	CHECK(reuses >= 2);
	/* Nothing else wrote the group: the next use is the kept one again. */
	members_load(alice->e, "Kept");
	CHECK_INT_EQ(loads_of(alice->e, &reuses2), loads);
	CHECK_INT_EQ(reuses2, reuses + 1);
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_INT_EQ(eprof_has_text(bob, "Kept", "loaded once"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_rollback_after_the_ratchet_moved(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	unsigned long loads, reuses, reuses2;
	char *err = NULL;
	bool sent = false;

	if (alice == NULL || bob == NULL || eprof_pair(alice, bob, "Rollback") != HALQA_OK) {
		goto out;
	}
	CHECK_OK(eprof_say(alice, "Rollback", "before", &sent));
	/*
	 * The send's transaction fails after the group was encrypted with and
	 * saved (the hash of the sent message is its last write): the store
	 * goes back, the group in memory does not.
	 */
	CHECK_INT_EQ(sqlite3_exec(store_db(alice->store),
	                          "CREATE TEMP TRIGGER refuse_sent BEFORE INSERT ON main.own_sent "
	                          "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
	                          NULL, NULL, &err),
	             SQLITE_OK);
	sqlite3_free(err);
	err = NULL;
	CHECK(eprof_say(alice, "Rollback", "rolled back", &sent) != HALQA_OK);
	CHECK_INT_EQ(
	    sqlite3_exec(store_db(alice->store), "DROP TRIGGER temp.refuse_sent", NULL, NULL, &err),
	    SQLITE_OK);
	sqlite3_free(err);
	/* The group that ran ahead is not used: the next load reads the store. */
	loads = loads_of(alice->e, &reuses);
	members_load(alice->e, "Rollback");
	CHECK_INT_EQ(loads_of(alice->e, &reuses2), loads + 1);
	CHECK_INT_EQ(reuses2, reuses);
	CHECK_OK(eprof_say(alice, "Rollback", "after", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_INT_EQ(eprof_has_text(bob, "Rollback", "before"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Rollback", "rolled back"), 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Rollback", "after"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Rollback", NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_two_engines_one_store(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct session_message *m = NULL;
	struct engine *other = NULL;
	uv_loop_t loop;
	bool loop_init = false, sent = false;
	unsigned long loads, reuses;

	if (alice == NULL || bob == NULL || eprof_pair(alice, bob, "Shared") != HALQA_OK ||
	    (m = calloc(1, sizeof *m)) == NULL) {
		goto out;
	}
	CHECK_INT_EQ(uv_loop_init(&loop), 0);
	loop_init = true;
	CHECK_OK(engine_new(&other, alice->store, alice->id, &loop));
	if (other == NULL) {
		goto out;
	}
	/* alice's engine keeps the group; the other one then sends with the next key. */
	CHECK_OK(eprof_say(alice, "Shared", "first engine", &sent));
	m->kind = SESSION_KIND_CHAT;
	snprintf(m->u.chat.text, sizeof m->u.chat.text, "%s", "second engine");
	CHECK_OK(engine_send(other, "Shared", m, NULL, &sent));
	CHECK(sent);
	/*
	 * The kept group is one message behind the store: using it would
	 * encrypt with the key the other engine used. It must be read again.
	 */
	loads = loads_of(alice->e, &reuses);
	members_load(alice->e, "Shared");
	CHECK_INT_EQ(loads_of(alice->e, NULL), loads + 1);
	CHECK_OK(eprof_say(alice, "Shared", "first engine again", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_INT_EQ(eprof_has_text(bob, "Shared", "first engine"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Shared", "second engine"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Shared", "first engine again"), 1);
out:
	engine_free(other);
	if (loop_init) {
		while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
		}
		(void)uv_loop_close(&loop);
	}
	free(m);
	eprof_free(alice);
	eprof_free(bob);
}

static void test_stale_epoch_retry(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	uint64_t epoch_a = 0, epoch_b = 0;
	unsigned long reuses, reuses2;
	bool sent = false;

	if (alice == NULL || bob == NULL || eprof_pair(alice, bob, "Stale") != HALQA_OK) {
		goto out;
	}
	/* bob becomes a facilitator, then steps down: a commit alice's store has not seen. */
	CHECK_OK(engine_circle_set_facilitator(alice->e, "Stale", "bob", true));
	CHECK_OK(eprof_say(alice, "Stale", "kept at this epoch", &sent));
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_OK(engine_circle_set_facilitator(bob->e, "Stale", NULL, false));
	/* alice's kept group equals her store, a closed epoch: the relay says stale, she retries.
	 */
	(void)loads_of(alice->e, &reuses);
	CHECK_OK(eprof_say(alice, "Stale", "after the retry", &sent));
	CHECK(sent);
	(void)loads_of(alice->e, &reuses2);
	CHECK(reuses2 > reuses);
	CHECK_OK(eprof_sync(bob, NULL));
	CHECK_INT_EQ(eprof_has_text(bob, "Stale", "kept at this epoch"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Stale", "after the retry"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Stale", &epoch_a));
	CHECK_OK(eprof_same_epoch(bob, alice, "Stale", &epoch_b));
	CHECK_INT_EQ(epoch_a, epoch_b);
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
	RUN(test_reused_within_a_command);
	RUN(test_rollback_after_the_ratchet_moved);
	RUN(test_two_engines_one_store);
	RUN(test_stale_epoch_retry);
	relay_test_stop(&relay);
	return harness_report();
}
