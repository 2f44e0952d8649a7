/*
 * test_engine_join.c: joining a circle, against a real halqad.
 *  - A newcomer who syncs late still reads the epoch's first messages,
 *    though every other member read them and the relay ran its retention:
 *    the member who added it made its relay cursor at the commit.
 *  - The same when the adder lost the relay between its commit's
 *    confirmation and that cursor: the cursor owed is on disk from the
 *    confirmation on (an engine closed then keeps it), the adder's next
 *    sync makes it before moving its own cursor past the commit.
 *  - A cursor owed that the relay refuses for good (denied) is given up,
 *    and the adder's own cursor moves on.
 *  - While the relay will not take it (the circle's cursors are at its
 *    limit), the adder's own cursor stays at the commit and holds the
 *    epoch's messages for the newcomer.
 *  - Leaving gives the cursors owed up; being removed does not: the
 *    removed adder still posts the Welcome and makes the cursor.
 *  - A Welcome whose posting failed after its commit was accepted waits
 *    in the adder's welcome_out and goes out with the adder's next sync.
 *  - A Welcome item naming another circle than its group is refused,
 *    and the genuine one still works afterwards.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/envelope.h"
#include "harness.h"
#include "support/engine_steps.h"
#include "support/relay_steps.h"

static struct relay_test relay;

static void test_newcomer_keeps_first_messages(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	char out[512];
	int status = -1;

	if (alice == NULL || bob == NULL || carol == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(engine_circle_create(alice->e, "Keep", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Keep", (const char *[]){"carol"}, 1));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(engine_circle_add(alice->e, "Keep", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_say(alice, "Keep", "said before bob looked", NULL));
	/* Everyone with a cursor has read it... */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_OK(eprof_sync(carol, &rep));
	CHECK_INT_EQ(eprof_has_text(carol, "Keep", "said before bob looked"), 1);
	/* ...and the relay deletes what every live cursor has read. */
	CHECK_OK(relay_test_command(&relay, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Keep", "said before bob looked"), 1);
	/* Bob's own cursor is that one: once he has read, the relay may let go. */
	CHECK_OK(eprof_say(alice, "Keep", "second", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

/* Hook: the relay dies the moment alice sees her commit accepted (before the Welcome goes). */
static void kill_on_members(struct eprof *p, const struct engine_event *ev)
{
	if (ev->type == ENGINE_EVENT_MEMBERS && p->hook_arg != NULL) {
		CHECK_OK(relay_test_kill(p->hook_arg, SIGKILL));
		p->hook_arg = NULL;
	}
}

/* owed_list lists the newcomer cursors |p| owes in |circle| (store_newcomer_ack_free them). */
static size_t owed_list(struct eprof *p, const char *circle, struct store_newcomer_ack **out)
{
	struct store_circle row;
	size_t num = 0;

	*out = NULL;
	CHECK_OK(engine_circle_find(p->e, circle, &row));
	CHECK_OK(store_newcomer_ack_list(p->store, row.circle_id, out, &num));
	return num;
}

static size_t owed(struct eprof *p, const char *circle)
{
	struct store_newcomer_ack *items = NULL;
	size_t num = owed_list(p, circle, &items);

	store_newcomer_ack_free(items, num);
	return num;
}

/* Hook: as kill_on_members, after checking that the confirmation wrote the cursor owed. */
static void owed_then_kill(struct eprof *p, const struct engine_event *ev)
{
	struct store_newcomer_ack *items = NULL;
	size_t num = 0;

	if (ev->type != ENGINE_EVENT_MEMBERS || p->hook_arg == NULL) {
		return;
	}
	CHECK_OK(store_newcomer_ack_list(p->store, ev->circle_id, &items, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1) {
		/* At the commit's seq: the new epoch's first_seq - 1. */
		struct store_circle row;

		CHECK_OK(store_circle_get_by_id(p->store, ev->circle_id, &row));
		CHECK_INT_EQ(items[0].seq, row.relay_seq);
	}
	store_newcomer_ack_free(items, num);
	kill_on_members(p, ev);
}

/* Three profiles: alice adds carol, then bob, to a circle. */
struct trio {
	struct eprof *alice, *bob, *carol;
};

/*
 * trio_start makes |t|'s profiles and |circle| with alice and carol in
 * it (carol a facilitator too if |carol_facilitates|). Alice adds bob and loses the relay right after her commit is
 * confirmed, before bob's cursor is made; the relay comes back; carol
 * reads the commit, writes |text| in the new epoch and reads that too.
 * Returns whether the test is still passing.
 */
static int trio_start(struct trio *t, const char *circle, const char *text,
		      bool carol_facilitates)
{
	struct engine_sync_report rep;

	t->alice = eprof_new(&relay, "alice");
	t->bob = eprof_new(&relay, "bob");
	t->carol = eprof_new(&relay, "carol");
	if (t->alice == NULL || t->bob == NULL || t->carol == NULL) {
		return 0;
	}
	CHECK_OK(eprof_meet(t->alice, t->bob));
	CHECK_OK(eprof_meet(t->alice, t->carol));
	CHECK_OK(engine_circle_create(t->alice->e, circle, NULL));
	CHECK_OK(engine_circle_add(t->alice->e, circle, (const char *[]){"carol"}, 1));
	CHECK_OK(eprof_sync(t->carol, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	if (carol_facilitates) {
		CHECK_OK(engine_circle_set_facilitator(t->alice->e, circle, "carol", true));
	}
	engine_set_timeout(t->alice->e, 1000);
	t->alice->on_event = owed_then_kill;
	t->alice->hook_arg = &relay;
	CHECK_RC(engine_circle_add(t->alice->e, circle, (const char *[]){"bob"}, 1),
		 HALQA_ERR_NETWORK);
	t->alice->on_event = NULL;
	CHECK(t->alice->hook_arg == NULL);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(t->alice->e, 5000);
	CHECK_OK(eprof_sync(t->carol, &rep));
	CHECK_OK(eprof_say(t->carol, circle, text, NULL));
	CHECK_OK(eprof_sync(t->carol, &rep));
	return !harness_current_failed;
}

static void trio_free(struct trio *t)
{
	eprof_free(t->alice);
	eprof_free(t->bob);
	eprof_free(t->carol);
}

static void sweep(void)
{
	char out[512];
	int status = -1;

	CHECK_OK(relay_test_command(&relay, "admin sweep", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
}

static void test_newcomer_cursor_after_drop(void)
{
	struct trio t = {0};
	struct engine_sync_report rep;

	if (!trio_start(&t, "Drop", "said before bob looked", false)) {
		goto out;
	}
	sweep();
	/* Alice's laptop was closed: the cursor owed survives the engine and store... */
	CHECK_OK(eprof_reopen(t.alice));
	CHECK_INT_EQ(owed(t.alice, "Drop"), 1);
	/* ...she comes back and reads all of it (and posts bob's Welcome)... */
	CHECK_OK(eprof_sync(t.alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(owed(t.alice, "Drop"), 0);
	/* ...and the relay deletes what every live cursor has read. */
	sweep();
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(t.bob, "Drop", "said before bob looked"), 1);
out:
	trio_free(&t);
}

static void test_newcomer_cursor_denied(void)
{
	struct trio t = {0};
	struct engine_sync_report rep;
	struct store_newcomer_ack *items = NULL;
	struct store_circle row;
	size_t num = 0;

	if (!trio_start(&t, "Drop", "after the commit", false)) {
		goto out;
	}
	/* The capability kept for it no longer opens the epoch: the relay says denied. */
	num = owed_list(t.alice, "Drop", &items);
	CHECK_INT_EQ(num, 1);
	CHECK_OK(engine_circle_find(t.alice->e, "Drop", &row));
	if (num == 1) {
		items[0].cap[0] ^= 0x01;
		CHECK_OK(store_newcomer_ack_clear(t.alice->store, row.circle_id));
		CHECK_OK(store_newcomer_ack_add(t.alice->store, row.circle_id, items[0].cursor_id,
						items[0].seq, items[0].cap, items[0].created_at));
	}
	store_newcomer_ack_free(items, num);
	/* Alice's sync gives it up and acknowledges her own cursor past the commit. */
	CHECK_OK(eprof_sync(t.alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(owed(t.alice, "Drop"), 0);
	CHECK_OK(engine_circle_find(t.alice->e, "Drop", &row));
	CHECK(row.acked_seq > 0);
	CHECK_INT_EQ(row.acked_seq, row.relay_seq);
	/* Bob still joins and reads from where the relay's log still is. */
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
out:
	trio_free(&t);
}


static void test_welcome_retried(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(engine_circle_create(alice->e, "Retry", NULL));
	engine_set_timeout(alice->e, 1000);
	alice->on_event = kill_on_members;
	alice->hook_arg = &relay;
	CHECK_RC(engine_circle_add(alice->e, "Retry", (const char *[]){"bob"}, 1),
		 HALQA_ERR_NETWORK);
	alice->on_event = NULL;
	CHECK(alice->hook_arg == NULL);
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Retry"), 1);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(alice->e, 5000);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	/* Alice's next sync, no new commit needed, posts it. */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(eprof_welcomes_waiting(alice, "Retry"), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(eprof_say(alice, "Retry", "welcome at last", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Retry", "welcome at last"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/* What the hook below takes out of alice's welcome_out. */
struct taken {
	uint8_t *item;
	size_t item_len;
	uint8_t mailbox_id[STORE_ID_LEN];
};

/* Hook: take the Welcome out of alice's welcome_out before she posts it. */
static void take_on_members(struct eprof *p, const struct engine_event *ev)
{
	struct taken *t = p->hook_arg;
	struct store_welcome_out *items = NULL;
	size_t num = 0;

	if (ev->type != ENGINE_EVENT_MEMBERS || t == NULL || t->item != NULL) {
		return;
	}
	CHECK_OK(store_welcome_out_list(p->store, ev->circle_id, &items, &num));
	CHECK_INT_EQ(num, 1);
	if (num == 1 && (t->item = malloc(items[0].item_len)) != NULL) {
		memcpy(t->item, items[0].item, items[0].item_len);
		t->item_len = items[0].item_len;
		memcpy(t->mailbox_id, items[0].mailbox_id, STORE_ID_LEN);
		CHECK_OK(store_welcome_out_delete(p->store, items[0].row));
	}
	store_welcome_out_free(items, num);
}

/* mailbox_put puts |item| in mailbox |id| through a device of the test's own. */
static int mailbox_put(struct relay_client *rc, const uint8_t id[WIRE_ID_LEN], const uint8_t *item,
		       size_t item_len)
{
	struct wire_msg *m = calloc(1, sizeof *m);
	int r;

	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	wire_msg_init(m, WIRE_MAILBOX_PUT, 1);
	memcpy(m->u.mailbox_put.mailbox_id, id, WIRE_ID_LEN);
	m->u.mailbox_put.payload.data = item;
	m->u.mailbox_put.payload.len = item_len;
	r = steps_call(rc, m, NULL);
	free(m);
	return r;
}

/* reseal opens |t|'s item with bob's keys, names circle |other| in it and seals it to bob again. */
static int reseal(const struct eprof *bob, const struct taken *t,
		  const uint8_t other[ENVELOPE_ID_LEN], uint8_t **out, size_t *out_len)
{
	struct envelope_welcome w;
	uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
	uint8_t *plain = NULL, *item = NULL;
	size_t plain_len, item_len = 0;
	int r = HALQA_ERR_CRYPTO;

	*out = NULL;
	if (t->item_len <= crypto_box_SEALBYTES ||
	    (plain = malloc(t->item_len - crypto_box_SEALBYTES)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	plain_len = t->item_len - crypto_box_SEALBYTES;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, bob->id->sign_pub) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, bob->id->sign_sec) != 0 ||
	    crypto_box_seal_open(plain, t->item, t->item_len, xpk, xsk) != 0) {
		goto out;
	}
	if ((r = envelope_welcome_decode(&w, plain, plain_len)) != HALQA_OK) {
		goto out;
	}
	memcpy(w.circle_id, other, ENVELOPE_ID_LEN);
	if ((r = envelope_welcome_encode(&item, &item_len, &w)) != HALQA_OK) {
		goto out;
	}
	if ((*out = malloc(item_len + crypto_box_SEALBYTES)) == NULL ||
	    crypto_box_seal(*out, item, item_len, xpk) != 0) {
		free(*out);
		*out = NULL;
		r = HALQA_ERR_CRYPTO;
		goto out;
	}
	*out_len = item_len + crypto_box_SEALBYTES;
	r = HALQA_OK;
out:
	sodium_memzero(xsk, sizeof xsk);
	free(item);
	free(plain);
	return r;
}

static void test_welcome_other_circle(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct relay_client *rc = NULL;
	struct engine_sync_report rep;
	struct store_circle row;
	struct taken t;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint8_t other[ENVELOPE_ID_LEN], *forged = NULL;
	size_t forged_len = 0;

	memset(&t, 0, sizeof t);
	if (alice == NULL || bob == NULL || m == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(engine_circle_create(alice->e, "Real", NULL));
	alice->on_event = take_on_members;
	alice->hook_arg = &t;
	CHECK_OK(engine_circle_add(alice->e, "Real", (const char *[]){"bob"}, 1));
	alice->on_event = NULL;
	alice->hook_arg = NULL;
	if (t.item == NULL) {
		CHECK(0);
		goto out;
	}
	CHECK_OK(relay_test_client(&relay, &rc, NULL, NULL));
	if (rc == NULL) {
		goto out;
	}
	steps_register(m, "");
	CHECK_OK(steps_call(rc, m, NULL));
	/* The same Welcome, its item naming a circle of another id. */
	randombytes_buf(other, sizeof other);
	CHECK_OK(reseal(bob, &t, other, &forged, &forged_len));
	CHECK_OK(mailbox_put(rc, t.mailbox_id, forged, forged_len));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	CHECK_INT_EQ(rep.refused, 1);
	CHECK_RC(store_circle_get_by_id(bob->store, other, &row), HALQA_ERR_NOT_FOUND);
	/* The genuine item still joins: the refused one left the KeyPackage unused. */
	CHECK_OK(mailbox_put(rc, t.mailbox_id, t.item, t.item_len));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_OK(engine_circle_find(bob->e, "Real", &row));
out:
	free(forged);
	free(t.item);
	free(m);
	relay_client_free(rc);
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * fill_cursors makes new cursors in |circle| of |p| at |seq| (in the epoch
 * of the commit whose newcomer cursor |p| owes, with the capability kept
 * for it), through a device of the test's own, until the relay refuses
 * one for the circle's cursor limit. Returns how many it made.
 */
static int fill_cursors(struct eprof *p, const char *circle, uint64_t seq)
{
	struct store_newcomer_ack *items = NULL;
	struct relay_client *rc = NULL;
	struct store_circle row;
	struct wire_msg *m = calloc(1, sizeof *m);
	size_t num = owed_list(p, circle, &items);
	int made = 0, r = HALQA_OK;

	CHECK_INT_EQ(num, 1);
	CHECK_OK(engine_circle_find(p->e, circle, &row));
	if (num != 1 || m == NULL || relay_test_client(&relay, &rc, NULL, NULL) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	steps_register(m, "");
	CHECK_OK(steps_call(rc, m, NULL));
	for (int i = 0; i < 1000 && r == HALQA_OK; i++) {
		wire_msg_init(m, WIRE_ACK, 1);
		memcpy(m->u.ack.circle_id, row.circle_id, WIRE_ID_LEN);
		randombytes_buf(m->u.ack.cursor_id, WIRE_ID_LEN);
		memcpy(m->u.ack.cap, items[0].cap, WIRE_CAP_LEN);
		m->u.ack.seq = seq;
		if ((r = steps_call(rc, m, NULL)) == HALQA_OK) {
			made++;
		}
	}
	CHECK_INT_EQ(r, WIRE_ERR_QUOTA_EXCEEDED);
out:
	store_newcomer_ack_free(items, num);
	relay_client_free(rc);
	free(m);
	return made;
}

static void test_own_cursor_held(void)
{
	struct trio t = {0};
	struct engine_sync_report rep;
	struct store_newcomer_ack *items = NULL;
	struct store_circle row;
	size_t num = 0;

	if (!trio_start(&t, "Held", "said before bob looked", false)) {
		goto out;
	}
	/* New cursors that have read it all too: only alice's may keep it now. */
	CHECK_OK(engine_circle_find(t.carol->e, "Held", &row));
	CHECK(fill_cursors(t.alice, "Held", row.relay_seq) > 0);
	/* Alice reads it all, but her cursor stays at her commit while bob's is not made. */
	CHECK_OK(eprof_sync(t.alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.received, 1);
	num = owed_list(t.alice, "Held", &items);
	CHECK_INT_EQ(num, 1);
	CHECK_OK(engine_circle_find(t.alice->e, "Held", &row));
	if (num == 1) {
		CHECK_INT_EQ(row.acked_seq, items[0].seq);
		CHECK(row.relay_seq > items[0].seq);
	}
	store_newcomer_ack_free(items, num);
	sweep();
	/* Bob's first sync (his own cursor cannot be made either) reads the epoch. */
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(t.bob, "Held", "said before bob looked"), 1);
	/* Leaving gives it up: the circle is not synced again. */
	CHECK_OK(engine_circle_set_facilitator(t.alice->e, "Held", "carol", true));
	CHECK_INT_EQ(owed(t.alice, "Held"), 1);
	CHECK_OK(engine_circle_leave(t.alice->e, "Held"));
	CHECK_INT_EQ(owed(t.alice, "Held"), 0);
out:
	trio_free(&t);
}

/*
 * Alice's commit adding bob was accepted, but his Welcome and cursor did
 * not go out before carol removed alice. Alice's next sync reads her
 * removal and still posts the Welcome and makes bob's cursor (the relay
 * takes both from her): bob joins at her commit's epoch, reads what was
 * said there though every other member has read it, and follows the
 * circle to alice's removal, where carol is. It failed before: the
 * removal gave both up, and bob never joined.
 */
static void test_owed_settled_after_removal(void)
{
	struct trio t = {0};
	struct engine_sync_report rep;
	struct store_circle row;
	uint64_t carol_epoch = 0;

	if (!trio_start(&t, "Gone", "before alice went", true)) {
		goto out;
	}
	CHECK_OK(engine_circle_remove(t.carol->e, "Gone", (const char *[]){"alice"}, 1));
	CHECK_INT_EQ(owed(t.alice, "Gone"), 1);
	CHECK_INT_EQ(eprof_welcomes_waiting(t.alice, "Gone"), 1);
	CHECK_OK(eprof_sync(t.alice, &rep));
	CHECK(!rep.offline);
	CHECK_OK(engine_circle_find(t.alice->e, "Gone", &row));
	CHECK(row.flags & STORE_CIRCLE_REMOVED);
	CHECK_INT_EQ(owed(t.alice, "Gone"), 0);
	CHECK_INT_EQ(eprof_welcomes_waiting(t.alice, "Gone"), 0);
	/* Carol has read it all: only bob's cursor keeps the epoch's first message. */
	CHECK_OK(eprof_sync(t.carol, &rep));
	sweep();
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(eprof_has_text(t.bob, "Gone", "before alice went"), 1);
	CHECK_OK(eprof_same_epoch(t.carol, t.bob, "Gone", &carol_epoch));
	CHECK_OK(engine_circle_find(t.bob->e, "Gone", &row));
	CHECK(!(row.flags & STORE_CIRCLE_REMOVED));
	CHECK_OK(eprof_say(t.carol, "Gone", "after alice went", NULL));
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(eprof_has_text(t.bob, "Gone", "after alice went"), 1);
	CHECK_INT_EQ(eprof_has_text(t.alice, "Gone", "after alice went"), 0);
out:
	trio_free(&t);
}

/*
 * A Welcome whose posting failed waits in welcome_out; another member's
 * commit read before it goes out (carol's self-update, made while alice
 * was away) does not make it invalid: alice's commit was accepted, so
 * bob joins at its epoch and reads on from there. Only a commit that
 * discards a pending commit of ours takes its Welcomes with it.
 */
static void test_welcome_past_later_commit(void)
{
	struct trio t = {0};
	struct engine_sync_report rep;

	if (!trio_start(&t, "Later", "said before bob looked", false)) {
		goto out;
	}
	CHECK_INT_EQ(eprof_welcomes_waiting(t.alice, "Later"), 1);
	t.carol->now += ENGINE_SELF_UPDATE_MS + 1000;
	CHECK_OK(eprof_sync(t.carol, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_OK(eprof_sync(t.alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_INT_EQ(eprof_welcomes_waiting(t.alice, "Later"), 0);
	CHECK_OK(eprof_sync(t.bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(eprof_has_text(t.bob, "Later", "said before bob looked"), 1);
	CHECK_OK(eprof_same_epoch(t.alice, t.bob, "Later", NULL));
	CHECK_OK(eprof_same_epoch(t.carol, t.bob, "Later", NULL));
out:
	trio_free(&t);
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
	RUN(test_newcomer_keeps_first_messages);
	RUN(test_welcome_retried);
	RUN(test_newcomer_cursor_after_drop);
	RUN(test_newcomer_cursor_denied);
	RUN(test_own_cursor_held);
	RUN(test_owed_settled_after_removal);
	RUN(test_welcome_other_circle);
	RUN(test_welcome_past_later_commit);
	relay_test_stop(&relay);
	return harness_report();
}
