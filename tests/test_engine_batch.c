/*
 * test_engine_batch.c: a member catching up reads each FETCH reply as one
 * batch (one store transaction, one save of the group at its end). A
 * hostile message in the middle of a batch is refused alone: the genuine
 * messages around it are stored, the group stays in step with the
 * others, and what was stored survives a restart with nothing read twice.
 * The hostile messages, sent straight to the relay with the circle's
 * capability as a member could: bytes that are no MLS message, a genuine
 * MLS application message whose content is no Halqa envelope, and a
 * commit put in an application slot of the log (it must not move the
 * group in the middle of a batch). Also what a sync with nothing to read
 * leaves out (the ACK and the KeyPackage count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/envelope.h"
#include "halqa/mls_group.h"
#include "halqa/session.h"
#include "harness.h"
#include "support/engine_steps.h"
#include "support/relay_steps.h"

static struct relay_test relay;

/* raw_send puts |payload| in |circle|'s log as alice's group's current epoch allows. */
static int raw_send(struct relay_client *rc, struct eprof *alice, const char *circle,
		    uint8_t kind, const uint8_t *payload, size_t len)
{
	struct store_circle row;
	struct steps_circle ci;
	struct mls_group *g = NULL;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint64_t epoch;
	int r;

	memset(&ci, 0, sizeof ci);
	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = engine_circle_find(alice->e, circle, &row)) != HALQA_OK ||
	    (r = eprof_group(alice, circle, &g)) != HALQA_OK) {
		goto out;
	}
	epoch = mls_group_epoch(g);
	memcpy(ci.id, row.circle_id, sizeof ci.id);
	if ((r = mls_group_export(g, "halqa relay capability", row.circle_id, ENGINE_ID_LEN,
				  ci.caps[epoch % 16], WIRE_CAP_LEN)) != HALQA_OK) {
		goto out;
	}
	steps_send(m, &ci, epoch, kind, payload, len, NULL);
	r = steps_call(rc, m, NULL);
out:
	mls_group_free(g);
	sodium_memzero(&ci, sizeof ci);
	free(m);
	return r;
}

/*
 * protect_as encrypts |pt| (any bytes) as alice in |circle| and keeps
 * alice's ratchet moved on, as her own client would.
 */
static int protect_as(struct eprof *alice, const char *circle, const uint8_t *pt, size_t pt_len,
		      uint8_t **out, size_t *out_len)
{
	struct store_circle row;
	struct mls_group *g = NULL;
	uint8_t *state = NULL;
	size_t state_len = 0;
	int r;

	if ((r = engine_circle_find(alice->e, circle, &row)) != HALQA_OK ||
	    (r = eprof_group(alice, circle, &g)) != HALQA_OK ||
	    (r = mls_group_protect(g, pt, pt_len, out, out_len)) != HALQA_OK ||
	    (r = mls_group_save(g, &state, &state_len)) != HALQA_OK) {
		goto out;
	}
	r = store_circle_state_put(alice->store, row.circle_id, state, state_len);
out:
	mls_group_state_free(state, state_len);
	mls_group_free(g);
	return r;
}

/* protect_not_envelope encrypts a text that is no Halqa envelope as alice in |circle|. */
static int protect_not_envelope(struct eprof *alice, const char *circle, uint8_t **out,
				size_t *out_len)
{
	const char text[] = "no envelope here";

	return protect_as(alice, circle, (const uint8_t *)text, sizeof text, out, out_len);
}

/*
 * say_with_counter puts a chat message |text| of alice's in |circle|'s log
 * with envelope counter |counter| and message id |msg_id| of our choosing
 * (a relay that withheld messages, or a resend, looks like this to a
 * reader).
 */
static int say_with_counter(struct relay_client *rc, struct eprof *alice, const char *circle,
			    const char *text, uint64_t counter, const uint8_t msg_id[16])
{
	struct session_message msg;
	struct envelope env;
	uint8_t *payload = NULL, *pt = NULL, *mls = NULL;
	size_t payload_len = 0, pt_len = 0, mls_len = 0;
	int r;

	memset(&msg, 0, sizeof msg);
	memset(&env, 0, sizeof env);
	msg.kind = SESSION_KIND_CHAT;
	snprintf(msg.u.chat.text, sizeof msg.u.chat.text, "%s", text);
	if ((r = session_encode(&payload, &payload_len, &msg)) != HALQA_OK) {
		goto out;
	}
	memcpy(env.msg_id, msg_id, sizeof env.msg_id);
	env.sent_at = 1;
	env.counter = counter;
	env.payload = payload;
	env.payload_len = payload_len;
	if ((r = envelope_encode(&pt, &pt_len, &env)) != HALQA_OK ||
	    (r = protect_as(alice, circle, pt, pt_len, &mls, &mls_len)) != HALQA_OK) {
		goto out;
	}
	r = raw_send(rc, alice, circle, WIRE_KIND_APPLICATION, mls, mls_len);
out:
	free(payload);
	free(pt);
	free(mls);
	return r;
}

/* commit_bytes builds an update commit of alice's in |circle| without applying it anywhere. */
static int commit_bytes(struct eprof *alice, const char *circle, uint8_t **out, size_t *out_len)
{
	struct mls_group *g = NULL;
	int r;

	if ((r = eprof_group(alice, circle, &g)) == HALQA_OK) {
		r = mls_group_commit_update(g, out, out_len);
	}
	mls_group_free(g);
	return r;
}

/*
 * circle_of_two makes circle |name| of alice's with bob in it (joined),
 * and in |*rc| a registered device that speaks to the relay directly, as
 * any member's could (|m| is scratch space for its requests).
 */
static int circle_of_two(struct eprof *alice, struct eprof *bob, const char *name,
			 struct relay_client **rc, struct wire_msg *m)
{
	struct engine_sync_report rep;
	int r;

	*rc = NULL;
	if ((r = eprof_meet(alice, bob)) != HALQA_OK ||
	    (r = engine_circle_create(alice->e, name, NULL)) != HALQA_OK ||
	    (r = engine_circle_add(alice->e, name, (const char *[]){"bob"}, 1)) != HALQA_OK ||
	    (r = eprof_sync(bob, &rep)) != HALQA_OK) {
		return r;
	}
	if (rep.joined != 1) {
		return HALQA_ERR_INTERNAL;
	}
	if ((r = relay_test_client(&relay, rc, NULL, NULL)) != HALQA_OK) {
		return r;
	}
	steps_register(m, "");
	return steps_call(*rc, m, NULL);
}

static void test_hostile_in_the_middle(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct relay_client *rc = NULL;
	struct engine_sync_report rep;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint8_t *mls = NULL, *commit = NULL, junk[200];
	size_t mls_len = 0, commit_len = 0;
	uint64_t epoch_a = 0, epoch_b = 0;
	char text[64];

	if (alice == NULL || bob == NULL || m == NULL) {
		goto out;
	}
	CHECK_OK(circle_of_two(alice, bob, "Batch", &rc, m));
	if (rc == NULL) {
		goto out;
	}

	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "before %d", i);
		CHECK_OK(eprof_say(alice, "Batch", text, NULL));
	}
	randombytes_buf(junk, sizeof junk);
	CHECK_OK(raw_send(rc, alice, "Batch", WIRE_KIND_APPLICATION, junk, sizeof junk));
	CHECK_OK(protect_not_envelope(alice, "Batch", &mls, &mls_len));
	CHECK_OK(raw_send(rc, alice, "Batch", WIRE_KIND_APPLICATION, mls, mls_len));
	CHECK_OK(commit_bytes(alice, "Batch", &commit, &commit_len));
	CHECK_OK(raw_send(rc, alice, "Batch", WIRE_KIND_APPLICATION, commit, commit_len));
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "after %d", i);
		CHECK_OK(eprof_say(alice, "Batch", text, NULL));
	}

	/* One sync, one FETCH reply of 13 messages: 10 stored, 3 refused alone. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 10);
	CHECK_INT_EQ(rep.refused, 3);
	CHECK_INT_EQ(rep.commits, 0);
	CHECK_INT_EQ(eprof_count(bob, "Batch"), 10);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "before 0"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "before 4"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "after 0"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "after 4"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "no envelope here"), 0);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_MESSAGE], 10);
	/* The commit in an application slot moved nobody: all in the same epoch. */
	CHECK_OK(eprof_same_epoch(alice, bob, "Batch", &epoch_a));
	CHECK_INT_EQ(epoch_a, 1);

	/* What the batch stored and the group it saved agree across a restart. */
	CHECK_OK(eprof_reopen(bob));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_say(alice, "Batch", "after the restart", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Batch", "after the restart"), 1);
	CHECK_INT_EQ(eprof_count(bob, "Batch"), 11);
	/* And bob's own ratchet, saved with the batch, still talks to alice. */
	CHECK_OK(eprof_say(bob, "Batch", "bob after the batch", NULL));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(eprof_has_text(alice, "Batch", "bob after the batch"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Batch", &epoch_b));
	CHECK_INT_EQ(epoch_b, epoch_a);
out:
	free(mls);
	free(commit);
	free(m);
	relay_client_free(rc);
	eprof_free(alice);
	eprof_free(bob);
}

/* A batch that spans a commit: the messages before it, the commit alone, the next epoch's. */
static void test_batch_across_a_commit(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob"),
		     *carol = eprof_new(&relay, "carol");
	struct engine_sync_report rep;
	uint64_t epoch = 0;

	if (alice == NULL || bob == NULL || carol == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(eprof_meet(alice, carol));
	CHECK_OK(engine_circle_create(alice->e, "Span", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Span", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(eprof_say(alice, "Span", "epoch one a", NULL));
	CHECK_OK(eprof_say(alice, "Span", "epoch one b", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Span", (const char *[]){"carol"}, 1));
	CHECK_OK(eprof_say(alice, "Span", "epoch two a", NULL));
	CHECK_OK(eprof_say(alice, "Span", "epoch two b", NULL));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 4);
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_MESSAGE], 4);
	CHECK_INT_EQ(bob->events[ENGINE_EVENT_MEMBERS], 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Span", &epoch));
	CHECK_INT_EQ(epoch, 2);
	CHECK_OK(eprof_reopen(bob));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_count(bob, "Span"), 4);
out:
	eprof_free(alice);
	eprof_free(bob);
	eprof_free(carol);
}

/*
 * Within a batch the senders' counters live in memory and are written at
 * its end: gaps are still found inside one batch, a counter never goes
 * back, a duplicate id is dropped, and what the batch wrote is what the
 * next sync (after a restart) starts from.
 */
static void test_batch_counters(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct relay_client *rc = NULL;
	struct engine_sync_report rep;
	struct store_circle row;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint8_t id_jump[16], id_late[16], id_next[16];
	uint64_t base = 0;

	if (alice == NULL || bob == NULL || m == NULL) {
		goto out;
	}
	randombytes_buf(id_jump, sizeof id_jump);
	randombytes_buf(id_late, sizeof id_late);
	randombytes_buf(id_next, sizeof id_next);
	CHECK_OK(circle_of_two(alice, bob, "Count", &rc, m));
	if (rc == NULL) {
		goto out;
	}

	/* One FETCH reply: counters base+1, base+2, base+5 (two missing), base+3, a copy. */
	CHECK_OK(eprof_say(alice, "Count", "one", NULL));
	CHECK_OK(eprof_say(alice, "Count", "two", NULL));
	CHECK_OK(engine_circle_find(alice->e, "Count", &row));
	base = row.send_counter - 2;
	CHECK_OK(say_with_counter(rc, alice, "Count", "five", base + 5, id_jump));
	CHECK_OK(say_with_counter(rc, alice, "Count", "three, late", base + 3, id_late));
	CHECK_OK(say_with_counter(rc, alice, "Count", "five again", base + 5, id_jump));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 4);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Count", "five again"), 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Count", "three, late"), 1);
	CHECK_OK(engine_circle_find(bob->e, "Count", &row));
	CHECK_INT_EQ(row.gaps, 2);

	/*
	 * After a restart the counter read back is base+5 (the late base+3 did
	 * not move it back): base+7 is one more missing, no more.
	 */
	CHECK_OK(eprof_reopen(bob));
	CHECK_OK(say_with_counter(rc, alice, "Count", "seven", base + 7, id_next));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(engine_circle_find(bob->e, "Count", &row));
	CHECK_INT_EQ(row.gaps, 3);
	CHECK_INT_EQ(eprof_count(bob, "Count"), 5);
out:
	free(m);
	relay_client_free(rc);
	eprof_free(alice);
	eprof_free(bob);
}

/* kp_counted_at reads when |p| last counted its KeyPackages (0 if never). */
static long long kp_counted_at(struct eprof *p)
{
	char text[32];

	if (store_setting_get(p->store, "kp.counted_at", text, sizeof text) != HALQA_OK) {
		return 0;
	}
	return strtoll(text, NULL, 10);
}

/*
 * A sync that read nothing new makes no ACK (its cursor is where the relay
 * has it) and no KeyPackage count (one was made within the hour), until
 * the hour is up; a sync that moved the cursor ACKs, and one that met a
 * Welcome counts (a package of ours was claimed).
 */
static void test_idle_sync_round_trips(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	struct store_circle row;
	int64_t t0;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_meet(alice, bob));
	CHECK_OK(engine_circle_create(alice->e, "Idle", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Idle", (const char *[]){"bob"}, 1));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	t0 = bob->now;
	CHECK_OK(engine_circle_find(bob->e, "Idle", &row));
	CHECK_INT_EQ(row.acked_seq, row.relay_seq);
	CHECK_INT_EQ(row.acked_at, t0);
	CHECK_INT_EQ(kp_counted_at(bob), t0);

	/* Nothing new: neither call. */
	bob->now += 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(engine_circle_find(bob->e, "Idle", &row));
	CHECK_INT_EQ(row.acked_at, t0);
	CHECK_INT_EQ(kp_counted_at(bob), t0);

	/* A message moves the cursor: ACKed; still no count. */
	CHECK_OK(eprof_say(alice, "Idle", "hello", NULL));
	bob->now += 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_OK(engine_circle_find(bob->e, "Idle", &row));
	CHECK_INT_EQ(row.acked_seq, row.relay_seq);
	CHECK_INT_EQ(row.acked_at, bob->now);
	CHECK_INT_EQ(kp_counted_at(bob), t0);

	/* An hour on, both again (the cursor is kept live). */
	bob->now += 3600LL * 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_OK(engine_circle_find(bob->e, "Idle", &row));
	CHECK_INT_EQ(row.acked_at, bob->now);
	CHECK_INT_EQ(kp_counted_at(bob), bob->now);

	/* A Welcome: counted at once. */
	CHECK_OK(engine_circle_create(alice->e, "Second", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Second", (const char *[]){"bob"}, 1));
	bob->now += 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	CHECK_INT_EQ(kp_counted_at(bob), bob->now);
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
	RUN(test_hostile_in_the_middle);
	RUN(test_batch_across_a_commit);
	RUN(test_batch_counters);
	RUN(test_idle_sync_round_trips);
	relay_test_stop(&relay);
	return harness_report();
}
