/*
 * test_engine_join.c: joining a circle, against a real halqad.
 *  - A newcomer who syncs late still reads the epoch's first messages,
 *    though every other member read them and the relay ran its retention:
 *    the member who added it made its relay cursor at the commit.
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

static size_t welcomes_waiting(struct eprof *p, const char *circle)
{
	struct store_circle row;
	struct store_welcome_out *items = NULL;
	size_t num = 0;

	CHECK_OK(engine_circle_find(p->e, circle, &row));
	CHECK_OK(store_welcome_out_list(p->store, row.circle_id, &items, &num));
	store_welcome_out_free(items, num);
	return num;
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
	CHECK_INT_EQ(welcomes_waiting(alice, "Retry"), 1);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(alice->e, 5000);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 0);
	/* Alice's next sync, no new commit needed, posts it. */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(welcomes_waiting(alice, "Retry"), 0);
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
		CHECK_OK(store_welcome_out_clear(p->store, ev->circle_id));
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
	RUN(test_welcome_other_circle);
	relay_test_stop(&relay);
	return harness_report();
}
