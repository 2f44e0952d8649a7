/*
 * test_mls_proposals.c: our own proposals (mls_group_propose_remove,
 * mls_group_commit_proposals), the proposal and commit events, and our
 * own pending commit coming back from the relay.
 *
 * Leaving: a member cannot commit its own removal (RFC 9420 12.2), so it
 * proposes it and another member commits the cached proposals; the
 * leaver sees the commit remove it and reads nothing after. Refusals: a
 * proposal from a non-member, of another epoch, or seen twice must be
 * refused and leave the cache as it was.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"
#include "harness.h"

struct member {
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
	uint8_t sig_pub[MLS_SIG_PUB_LEN];
	struct mls_key_package kp;
	struct mls_keypackage_private kpp;
	struct mls_group *g;
};

static struct member A, B, C;
static const uint8_t gid[] = "proposals";

static void member_init(struct member *m)
{
	memset(m, 0, sizeof *m);
	crypto_sign_keypair(m->sig_pub, m->sig_priv);
	CHECK_OK(mls_keypackage_create(&m->kp, &m->kpp, m->sig_priv, 0, UINT64_MAX, false));
}

static void member_free(struct member *m)
{
	mls_group_free(m->g);
	mls_key_package_cleanup(&m->kp);
	mls_keypackage_private_wipe(&m->kpp);
	memset(m, 0, sizeof *m);
}

/* A creates the group and adds B and C (leaves 0, 1, 2; leaf 3 blank). */
static void setup(bool public_handshake)
{
	struct mls_key_package kps[2];
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;

	member_init(&A);
	member_init(&B);
	member_init(&C);
	CHECK_OK(mls_group_create(&A.g, gid, sizeof gid - 1, A.sig_priv, &A.kp, &A.kpp, NULL));
	kps[0] = B.kp;
	kps[1] = C.kp;
	CHECK_OK(
	    mls_group_commit_add(A.g, kps, 2, 0, &commit, &commit_len, &welcome, &welcome_len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_OK(
	    mls_group_join(&B.g, welcome, welcome_len, NULL, 0, B.sig_priv, &B.kp, &B.kpp, NULL));
	CHECK_OK(
	    mls_group_join(&C.g, welcome, welcome_len, NULL, 0, C.sig_priv, &C.kp, &C.kpp, NULL));
	free(commit);
	free(welcome);
	if (B.g == NULL || C.g == NULL) {
		abort();
	}
	mls_group_set_handshake_public(A.g, public_handshake);
	mls_group_set_handshake_public(B.g, public_handshake);
	mls_group_set_handshake_public(C.g, public_handshake);
}

static void teardown(void)
{
	member_free(&A);
	member_free(&B);
	member_free(&C);
}

static void same_epoch(struct mls_group *x, struct mls_group *y)
{
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];

	mls_group_epoch_authenticator(x, a);
	mls_group_epoch_authenticator(y, b);
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	CHECK_INT_EQ(mls_group_epoch(x), mls_group_epoch(y));
}

/* Processes |msg| at |g| and expects a proposal event naming |sender| and |leaf|. */
static void expect_proposal(struct mls_group *g, const uint8_t *msg, size_t len, uint32_t sender,
			    uint32_t leaf)
{
	struct mls_group_event ev;

	CHECK_OK(mls_group_process(g, msg, len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_PROPOSAL);
	CHECK_INT_EQ(ev.sender, sender);
	CHECK_INT_EQ(ev.proposal_type, MLS_PROPOSAL_REMOVE);
	CHECK_INT_EQ(ev.proposal_leaf, leaf);
	CHECK(ev.removed_leaves == NULL && ev.added_leaves == NULL);
	mls_group_event_cleanup(&ev);
}

/* C leaves: proposes its own removal, B commits it, A and C process the commit. */
static void leave(bool public_handshake)
{
	uint8_t *prop = NULL, *commit = NULL, *ct = NULL;
	size_t prop_len = 0, commit_len = 0, ct_len = 0;
	struct mls_group_event ev;

	setup(public_handshake);
	CHECK_OK(mls_group_propose_remove(C.g, 2, &prop, &prop_len));
	CHECK_INT_EQ(mls_group_num_proposals(C.g), 1);
	expect_proposal(A.g, prop, prop_len, 2, 2);
	expect_proposal(B.g, prop, prop_len, 2, 2);
	CHECK_INT_EQ(mls_group_num_proposals(B.g), 1);
	/* C may not commit its own removal: nothing it could commit. */
	CHECK_RC(mls_group_commit_proposals(C.g, &commit, &commit_len), HALQA_ERR_NOT_FOUND);
	CHECK(commit == NULL);
	CHECK_OK(mls_group_commit_proposals(B.g, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(B.g));
	CHECK_INT_EQ(mls_group_num_proposals(B.g), 0);
	CHECK_OK(mls_group_process(A.g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	CHECK_INT_EQ(ev.sender, 1);
	CHECK(!ev.removed);
	CHECK_INT_EQ(ev.num_removed, 1);
	CHECK_INT_EQ(ev.num_added, 0);
	if (ev.num_removed == 1) {
		CHECK_INT_EQ(ev.removed_leaves[0], 2);
	}
	mls_group_event_cleanup(&ev);
	same_epoch(A.g, B.g);
	CHECK_INT_EQ(mls_group_num_members(A.g), 2);
	CHECK_OK(mls_group_process(C.g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	CHECK(ev.removed);
	CHECK_INT_EQ(ev.num_removed, 1);
	mls_group_event_cleanup(&ev);
	CHECK(mls_group_is_removed(C.g));
	/* The leaver reads nothing sent after, and can propose nothing more. */
	CHECK_OK(mls_group_protect(A.g, (const uint8_t *)"after", 5, &ct, &ct_len));
	CHECK_RC(mls_group_process(C.g, ct, ct_len, &ev), HALQA_ERR_DENIED);
	CHECK(ev.data == NULL);
	CHECK_OK(mls_group_process(B.g, ct, ct_len, &ev));
	mls_group_event_cleanup(&ev);
	free(prop);
	prop = NULL;
	CHECK_RC(mls_group_propose_remove(C.g, 0, &prop, &prop_len), HALQA_ERR_DENIED);
	free(ct);
	free(commit);
	teardown();
}

static void test_leave_private(void)
{
	leave(false);
}

static void test_leave_public(void)
{
	leave(true);
}

/* Proposals by others than the committer are committed; the committer's own removal is not. */
static void test_commit_proposals_selection(void)
{
	uint8_t *p1 = NULL, *p2 = NULL, *p3 = NULL, *commit = NULL, *none = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0, commit_len = 0, none_len = 0;
	struct mls_group_event ev;

	setup(true);
	/* B asks to remove A; C asks to remove B; A asks to remove B too. */
	CHECK_OK(mls_group_propose_remove(B.g, 0, &p1, &l1));
	CHECK_OK(mls_group_propose_remove(C.g, 1, &p2, &l2));
	CHECK_OK(mls_group_propose_remove(A.g, 1, &p3, &l3));
	CHECK_RC(mls_group_propose_remove(A.g, 1, &none, &none_len), HALQA_ERR_EXISTS);
	CHECK_RC(mls_group_propose_remove(A.g, 3, &none, &none_len), HALQA_ERR_ARG);
	CHECK(none == NULL);
	expect_proposal(A.g, p1, l1, 1, 0);
	expect_proposal(A.g, p2, l2, 2, 1);
	CHECK_INT_EQ(mls_group_num_proposals(A.g), 3);
	expect_proposal(C.g, p1, l1, 1, 0);
	expect_proposal(C.g, p3, l3, 0, 1);
	/* A commits: its own removal is skipped, B is removed once. */
	CHECK_OK(mls_group_commit_proposals(A.g, &commit, &commit_len));
	CHECK_RC(mls_group_commit_proposals(A.g, &none, &none_len), HALQA_ERR_EXISTS);
	CHECK_OK(mls_group_process(C.g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.num_removed, 1);
	if (ev.num_removed == 1) {
		CHECK_INT_EQ(ev.removed_leaves[0], 1);
	}
	mls_group_event_cleanup(&ev);
	/* A learns of its commit from the relay's echo. */
	CHECK_OK(mls_group_process(A.g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	CHECK_INT_EQ(ev.sender, 0);
	CHECK_INT_EQ(ev.num_removed, 1);
	mls_group_event_cleanup(&ev);
	same_epoch(A.g, C.g);
	CHECK_INT_EQ(mls_group_num_members(C.g), 2);
	CHECK_RC(mls_group_commit_proposals(A.g, &none, &none_len), HALQA_ERR_NOT_FOUND);
	free(p1);
	free(p2);
	free(p3);
	free(commit);
	teardown();
}

/* A proposal seen twice is refused the second time, the cache unchanged. */
static void test_duplicate_refused(void)
{
	uint8_t *pub = NULL, *priv = NULL;
	size_t pub_len = 0, priv_len = 0;
	struct mls_group_event ev;

	setup(true);
	CHECK_OK(mls_group_propose_remove(B.g, 2, &pub, &pub_len));
	mls_group_set_handshake_public(C.g, false);
	CHECK_OK(mls_group_propose_remove(C.g, 1, &priv, &priv_len));
	expect_proposal(A.g, pub, pub_len, 1, 2);
	expect_proposal(A.g, priv, priv_len, 2, 1);
	CHECK_RC(mls_group_process(A.g, pub, pub_len, &ev), HALQA_ERR_EXISTS);
	CHECK_INT_EQ(ev.type, 0);
	/* A PrivateMessage replayed: its key is gone. */
	CHECK_RC(mls_group_process(A.g, priv, priv_len, &ev), HALQA_ERR_NOT_FOUND);
	CHECK_INT_EQ(mls_group_num_proposals(A.g), 2);
	/* Our own proposal echoed back by the relay is refused harmlessly. */
	CHECK_RC(mls_group_process(B.g, pub, pub_len, &ev), HALQA_ERR_EXISTS);
	CHECK_RC(mls_group_process(C.g, priv, priv_len, &ev), HALQA_ERR_NOT_FOUND);
	CHECK_INT_EQ(mls_group_num_proposals(B.g), 1);
	CHECK_INT_EQ(mls_group_num_proposals(C.g), 1);
	free(pub);
	free(priv);
	teardown();
}

/* A proposal of an epoch that ended is refused; so is a commit of a proposal we do not hold. */
static void test_wrong_epoch_refused(void)
{
	uint8_t *prop = NULL, *commit = NULL;
	size_t prop_len = 0, commit_len = 0;
	struct mls_group_event ev;

	setup(true);
	CHECK_OK(mls_group_propose_remove(B.g, 2, &prop, &prop_len));
	expect_proposal(A.g, prop, prop_len, 1, 2);
	/* A moves on without it: proposals of the old epoch are void (12.4.2). */
	CHECK_OK(mls_group_commit_update(A.g, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_INT_EQ(mls_group_num_proposals(A.g), 0);
	CHECK_OK(mls_group_process(C.g, commit, commit_len, &ev));
	mls_group_event_cleanup(&ev);
	CHECK_RC(mls_group_process(C.g, prop, prop_len, &ev), HALQA_ERR_STALE);
	CHECK_INT_EQ(mls_group_num_proposals(C.g), 0);
	free(prop);
	free(commit);
	teardown();
}

/* A commit referring to a proposal the receiver never cached is refused (12.4.2). */
static void test_unknown_reference_refused(void)
{
	uint8_t *prop = NULL, *commit = NULL;
	size_t prop_len = 0, commit_len = 0;
	struct mls_group_event ev;
	uint8_t before[MLS_HASH_LEN], after[MLS_HASH_LEN];

	setup(true);
	CHECK_OK(mls_group_propose_remove(B.g, 2, &prop, &prop_len));
	expect_proposal(A.g, prop, prop_len, 1, 2);
	CHECK_OK(mls_group_commit_proposals(A.g, &commit, &commit_len));
	mls_group_epoch_authenticator(C.g, before);
	/* C never got B's proposal. */
	CHECK_RC(mls_group_process(C.g, commit, commit_len, &ev), HALQA_ERR_NOT_FOUND);
	mls_group_epoch_authenticator(C.g, after);
	CHECK_MEM_EQ(after, sizeof after, before, sizeof before);
	/* Once it has it, the same commit goes through and removes it. */
	expect_proposal(C.g, prop, prop_len, 1, 2);
	CHECK_OK(mls_group_process(C.g, commit, commit_len, &ev));
	CHECK(ev.removed);
	mls_group_event_cleanup(&ev);
	free(prop);
	free(commit);
	teardown();
}

static uint32_t hook_sender;

static void set_sender(struct mls_authenticated_content *ac, int phase, void *arg)
{
	(void)arg;
	if (phase == MLS_GROUP_HOOK_CONTENT) {
		ac->content.sender.index = hook_sender;
	}
}

/* A proposal naming a sender that is not a member is refused, the cache unchanged. */
static void test_non_member_refused(void)
{
	static const uint32_t senders[] = {3, 4, 1000};
	uint8_t *prop = NULL;
	size_t prop_len = 0;
	struct mls_group_event ev;

	setup(true);
	mls_group_testing_set_hook(B.g, set_sender, NULL);
	for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++) {
		hook_sender = senders[i];
		CHECK_OK(mls_group_propose_remove(B.g, (uint32_t)i, &prop, &prop_len));
		CHECK_RC(mls_group_process(A.g, prop, prop_len, &ev), HALQA_ERR_INVALID);
		CHECK_INT_EQ(ev.type, 0);
		CHECK_INT_EQ(mls_group_num_proposals(A.g), 0);
		free(prop);
		prop = NULL;
	}
	mls_group_testing_set_hook(B.g, NULL, NULL);
	teardown();
}

/* Our pending commit echoed back applies it once; a second echo is refused. */
static void test_own_commit_echo(void)
{
	uint8_t *commit = NULL, *state = NULL;
	size_t commit_len = 0, state_len = 0;
	struct mls_group_event ev;
	struct mls_group *loaded = NULL;
	uint64_t epoch;

	setup(false);
	epoch = mls_group_epoch(A.g);
	CHECK_OK(mls_group_commit_update(A.g, &commit, &commit_len));
	/* Across a save and load, as after a crash. */
	CHECK_OK(mls_group_save(A.g, &state, &state_len));
	CHECK_OK(mls_group_load(&loaded, state, state_len, NULL));
	mls_group_state_free(state, state_len);
	if (loaded == NULL) {
		free(commit);
		teardown();
		return;
	}
	mls_group_free(A.g);
	A.g = loaded;
	CHECK_OK(mls_group_process(A.g, commit, commit_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	CHECK_INT_EQ(ev.sender, 0);
	CHECK(!ev.removed);
	CHECK_INT_EQ(ev.num_added + ev.num_removed, 0);
	mls_group_event_cleanup(&ev);
	CHECK_INT_EQ(mls_group_epoch(A.g), epoch + 1);
	CHECK(!mls_group_has_pending(A.g));
	CHECK_RC(mls_group_process(A.g, commit, commit_len, &ev), HALQA_ERR_STALE);
	CHECK_INT_EQ(mls_group_epoch(A.g), epoch + 1);
	CHECK_OK(mls_group_process(B.g, commit, commit_len, &ev));
	mls_group_event_cleanup(&ev);
	same_epoch(A.g, B.g);
	free(commit);
	teardown();
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_leave_private);
	RUN(test_leave_public);
	RUN(test_commit_proposals_selection);
	RUN(test_duplicate_refused);
	RUN(test_wrong_epoch_refused);
	RUN(test_unknown_reference_refused);
	RUN(test_non_member_refused);
	RUN(test_own_commit_echo);
	return harness_report();
}
