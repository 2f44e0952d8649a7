/*
 * test_mls_sim.c: an in-process simulation of a circle of up to 30
 * members running a seeded random sequence of operations: add, remove,
 * self-update, application messages from random senders, and removed
 * members trying to read. After every commit every member must hold the
 * same epoch authenticator; every application message must decrypt for
 * exactly the current members (the sender aside) and for no removed one.
 * Members also leave: the leaver proposes its own removal, another
 * member commits the cached proposals, and everyone, the leaver
 * included, processes the commit. Half the commits reach their own
 * committer as the relay's echo instead of a confirm. Every commit
 * event must name the leaves it added and removed.
 *
 * HALQA_SIM_OPS sets the number of operations (default 1000; 200 under
 * AddressSanitizer), HALQA_SIM_SEED the seed of the operation sequence
 * (the cryptographic randomness is libsodium's own).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"
#include "harness.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SIM_SANITIZED 1
#endif
#ifdef SIM_SANITIZED
#define SIM_DEFAULT_OPS 200
#else
#define SIM_DEFAULT_OPS 1000
#endif

#define SIM_MAX 30     /* members at most */
#define SIM_REMOVED 4  /* removed members kept around to try reading */

struct sim_member {
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
	uint8_t sig_pub[MLS_SIG_PUB_LEN];
	struct mls_group *g;
};

static struct sim_member *members[SIM_MAX];
static size_t num_members;
static struct sim_member *removed[SIM_REMOVED];
static size_t num_removed_total;
static uint64_t rng_state;
static size_t stat_commits, stat_messages, stat_refused_reads, stat_leaves;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: the operation sequence only, never key material. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static void member_free(struct sim_member *m)
{
	if (m != NULL) {
		mls_group_free(m->g);
		sodium_memzero(m, sizeof *m);
		free(m);
	}
}

static struct sim_member *member_new(struct mls_key_package *kp, struct mls_keypackage_private *kpp)
{
	struct sim_member *m = calloc(1, sizeof *m);

	if (m == NULL) {
		abort();
	}
	crypto_sign_keypair(m->sig_pub, m->sig_priv);
	CHECK_OK(mls_keypackage_create(kp, kpp, m->sig_priv, 0, UINT64_MAX, false));
	return m;
}

static void check_agreement(void)
{
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];

	mls_group_epoch_authenticator(members[0]->g, a);
	for (size_t i = 1; i < num_members; i++) {
		mls_group_epoch_authenticator(members[i]->g, b);
		if (sodium_memcmp(a, b, sizeof a) != 0) {
			harness_fail(__FILE__, __LINE__, "member %zu disagrees on the epoch", i);
			return;
		}
		CHECK_INT_EQ(mls_group_epoch(members[i]->g), mls_group_epoch(members[0]->g));
		CHECK_INT_EQ(mls_group_num_members(members[i]->g), num_members);
	}
}

/*
 * Checks a commit event names exactly the leaf |added| (UINT32_MAX: none;
 * UINT32_MAX - 1: one, any leaf) and |removed_leaf| (UINT32_MAX: none).
 */
static void check_lists(const struct mls_group_event *ev, uint32_t added, uint32_t removed_leaf)
{
	CHECK_INT_EQ(ev->num_added, added != UINT32_MAX ? 1 : 0);
	CHECK_INT_EQ(ev->num_removed, removed_leaf != UINT32_MAX ? 1 : 0);
	if (ev->num_added == 1 && added != UINT32_MAX - 1) {
		CHECK_INT_EQ(ev->added_leaves[0], added);
	}
	if (ev->num_removed == 1) {
		CHECK_INT_EQ(ev->removed_leaves[0], removed_leaf);
	}
}

/*
 * The committer confirms, or half the time processes the relay's echo of
 * its own commit; every other member processes the commit. |added| and
 * |removed_leaf| as in check_lists.
 */
static void distribute(size_t committer, const uint8_t *commit, size_t len, size_t skip_a,
		       size_t skip_b, uint32_t added, uint32_t removed_leaf)
{
	struct mls_group_event ev;

	if (rnd(2) == 0) {
		CHECK_OK(mls_group_commit_confirm(members[committer]->g));
	} else {
		CHECK_OK(mls_group_process(members[committer]->g, commit, len, &ev));
		CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
		CHECK_INT_EQ(ev.sender, mls_group_own_leaf(members[committer]->g));
		check_lists(&ev, added, removed_leaf);
		mls_group_event_cleanup(&ev);
		CHECK(!mls_group_has_pending(members[committer]->g));
	}
	for (size_t i = 0; i < num_members; i++) {
		if (i == committer || i == skip_a || i == skip_b) {
			continue;
		}
		CHECK_OK(mls_group_process(members[i]->g, commit, len, &ev));
		CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
		CHECK(!ev.removed);
		check_lists(&ev, added, removed_leaf);
		mls_group_event_cleanup(&ev);
	}
	stat_commits++;
}

static void op_add(void)
{
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;
	struct sim_member *m = member_new(&kp, &kpp);
	size_t committer = rnd((uint32_t)num_members);
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;

	mls_group_set_handshake_public(members[committer]->g, rnd(2) == 0);
	CHECK_OK(mls_group_commit_add(members[committer]->g, &kp, 1, 0, &commit, &commit_len,
				      &welcome, &welcome_len));
	if (commit == NULL) {
		member_free(m);
		mls_key_package_cleanup(&kp);
		return;
	}
	distribute(committer, commit, commit_len, SIZE_MAX, SIZE_MAX, UINT32_MAX - 1, UINT32_MAX);
	CHECK_OK(mls_group_join(&m->g, welcome, welcome_len, NULL, 0, m->sig_priv, &kp, &kpp, NULL));
	if (m->g == NULL) {
		abort(); /* the simulation cannot go on without the member */
	}
	members[num_members++] = m;
	free(commit);
	free(welcome);
	mls_key_package_cleanup(&kp);
}

static void op_remove(void)
{
	size_t committer = rnd((uint32_t)num_members), victim, last;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	uint32_t leaf;
	bool victim_sees;

	do {
		victim = rnd((uint32_t)num_members);
	} while (victim == committer);
	leaf = mls_group_own_leaf(members[victim]->g);
	mls_group_set_handshake_public(members[committer]->g, rnd(2) == 0);
	CHECK_OK(mls_group_commit_remove(members[committer]->g, &leaf, 1, &commit, &commit_len));
	if (commit == NULL) {
		return;
	}
	/* Half the time the removed member never sees its removal. */
	victim_sees = rnd(2) == 0;
	distribute(committer, commit, commit_len, victim, SIZE_MAX, UINT32_MAX, leaf);
	if (victim_sees) {
		struct mls_group_event ev;

		CHECK_OK(mls_group_process(members[victim]->g, commit, commit_len, &ev));
		CHECK(ev.removed);
		mls_group_event_cleanup(&ev);
		CHECK(mls_group_is_removed(members[victim]->g));
	}
	free(commit);
	last = num_removed_total++ % SIM_REMOVED;
	member_free(removed[last]);
	removed[last] = members[victim];
	members[victim] = members[--num_members];
}

static void op_update(void)
{
	size_t committer = rnd((uint32_t)num_members);
	uint8_t *commit = NULL;
	size_t commit_len = 0;

	mls_group_set_handshake_public(members[committer]->g, rnd(2) == 0);
	CHECK_OK(mls_group_commit_update(members[committer]->g, &commit, &commit_len));
	if (commit != NULL) {
		distribute(committer, commit, commit_len, SIZE_MAX, SIZE_MAX, UINT32_MAX, UINT32_MAX);
	}
	free(commit);
}

/*
 * A member leaves (RFC 9420 12.2: it cannot commit its own removal): it
 * proposes its own Remove, every member caches it, another member commits
 * the cached proposals, and the leaver learns from that commit that it is
 * out.
 */
static void op_leave(void)
{
	size_t leaver = rnd((uint32_t)num_members), committer, last;
	uint8_t *prop = NULL, *commit = NULL;
	size_t prop_len = 0, commit_len = 0;
	uint32_t leaf = mls_group_own_leaf(members[leaver]->g);
	struct mls_group_event ev;

	do {
		committer = rnd((uint32_t)num_members);
	} while (committer == leaver);
	mls_group_set_handshake_public(members[leaver]->g, rnd(2) == 0);
	CHECK_OK(mls_group_propose_remove(members[leaver]->g, leaf, &prop, &prop_len));
	if (prop == NULL) {
		return;
	}
	CHECK_INT_EQ(mls_group_num_proposals(members[leaver]->g), 1);
	/* The leaver cannot commit its own removal: nothing valid to commit. */
	CHECK_RC(mls_group_commit_proposals(members[leaver]->g, &commit, &commit_len),
		 HALQA_ERR_NOT_FOUND);
	for (size_t i = 0; i < num_members; i++) {
		if (i == leaver) {
			continue;
		}
		CHECK_OK(mls_group_process(members[i]->g, prop, prop_len, &ev));
		CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_PROPOSAL);
		CHECK_INT_EQ(ev.sender, leaf);
		CHECK_INT_EQ(ev.proposal_type, MLS_PROPOSAL_REMOVE);
		CHECK_INT_EQ(ev.proposal_leaf, leaf);
		mls_group_event_cleanup(&ev);
		CHECK_INT_EQ(mls_group_num_proposals(members[i]->g), 1);
	}
	free(prop);
	mls_group_set_handshake_public(members[committer]->g, rnd(2) == 0);
	CHECK_OK(mls_group_commit_proposals(members[committer]->g, &commit, &commit_len));
	if (commit == NULL) {
		return;
	}
	distribute(committer, commit, commit_len, leaver, SIZE_MAX, UINT32_MAX, leaf);
	CHECK_OK(mls_group_process(members[leaver]->g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	CHECK(ev.removed);
	check_lists(&ev, UINT32_MAX, leaf);
	mls_group_event_cleanup(&ev);
	CHECK(mls_group_is_removed(members[leaver]->g));
	free(commit);
	stat_leaves++;
	last = num_removed_total++ % SIM_REMOVED;
	member_free(removed[last]);
	removed[last] = members[leaver];
	members[leaver] = members[--num_members];
}

static void op_message(size_t n)
{
	size_t sender = rnd((uint32_t)num_members);
	char text[64];
	uint8_t *ct = NULL;
	size_t ct_len = 0;

	snprintf(text, sizeof text, "message %zu from leaf %u", n,
		 mls_group_own_leaf(members[sender]->g));
	CHECK_OK(mls_group_protect(members[sender]->g, (const uint8_t *)text, strlen(text), &ct,
				   &ct_len));
	if (ct == NULL) {
		return;
	}
	for (size_t i = 0; i < num_members; i++) {
		struct mls_group_event ev;

		if (i == sender) {
			continue;
		}
		CHECK_OK(mls_group_process(members[i]->g, ct, ct_len, &ev));
		CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_APPLICATION);
		CHECK_MEM_EQ(ev.data, ev.data_len, (const uint8_t *)text, strlen(text));
		mls_group_event_cleanup(&ev);
	}
	for (size_t i = 0; i < SIM_REMOVED; i++) {
		struct mls_group_event ev;

		if (removed[i] == NULL) {
			continue;
		}
		/* A removed member reads nothing sent after its removal. */
		CHECK(mls_group_process(removed[i]->g, ct, ct_len, &ev) != HALQA_OK);
		CHECK(ev.data == NULL);
		stat_refused_reads++;
	}
	stat_messages++;
	free(ct);
}

static void test_simulation(void)
{
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;
	const char *env = getenv("HALQA_SIM_OPS"), *seed = getenv("HALQA_SIM_SEED");
	size_t ops = env != NULL ? strtoul(env, NULL, 10) : SIM_DEFAULT_OPS;
	static const uint8_t gid[] = "sim-circle";

	rng_state = seed != NULL ? strtoull(seed, NULL, 10) : 0x9e3779b97f4a7c15ULL;
	if (rng_state == 0) {
		rng_state = 1;
	}
	members[0] = member_new(&kp, &kpp);
	CHECK_OK(mls_group_create(&members[0]->g, gid, sizeof gid - 1, members[0]->sig_priv, &kp,
				  &kpp, NULL));
	mls_key_package_cleanup(&kp);
	num_members = 1;
	if (members[0]->g == NULL) {
		return;
	}
	/* Grow to the full circle first, one Welcome at a time. */
	while (num_members < SIM_MAX && harness_current_failed == 0) {
		op_add();
		check_agreement();
	}
	for (size_t n = 0; n < ops && harness_current_failed == 0; n++) {
		uint32_t r = rnd(20);

		/* About 3 commits in 10 operations: a busy circle. */
		if (r < 2 && num_members < SIM_MAX) {
			op_add();
		} else if (r < 3 && num_members > 2) {
			op_remove();
		} else if (r < 4 && num_members > 2) {
			op_leave();
		} else if (r < 6) {
			op_update();
		} else {
			op_message(n);
			continue;
		}
		check_agreement();
	}
	printf("sim: %zu ops, %zu commits (%zu leaves), %zu messages, %zu refused reads by removed "
	       "members, %zu members at the end, epoch %llu\n",
	       ops, stat_commits, stat_leaves, stat_messages, stat_refused_reads, num_members,
	       (unsigned long long)mls_group_epoch(members[0]->g));
	for (size_t i = 0; i < num_members; i++) {
		member_free(members[i]);
	}
	for (size_t i = 0; i < SIM_REMOVED; i++) {
		member_free(removed[i]);
	}
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_simulation);
	return harness_report();
}
