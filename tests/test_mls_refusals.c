/*
 * test_mls_refusals.c: for each validation rule of the group layer (RFC
 * 9420 6, 12.2, 12.4.2, 12.4.3.1) a message breaking it, made by a member
 * turned hostile (the testing hook of mls_group.h alters its commits
 * before signing or after tagging), must be refused with the right error
 * and leave the receiver's state as it was: same epoch, epoch
 * authenticator, exporter output and members, no pending commit, and the
 * next honest commit still processes.
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

static struct member A, B, C, D;
static const uint8_t gid[] = "refusals";

struct snapshot {
	uint64_t epoch;
	uint8_t auth[MLS_HASH_LEN];
	uint8_t exported[32];
	uint32_t members;
};

static void snap(struct mls_group *g, struct snapshot *s)
{
	s->epoch = mls_group_epoch(g);
	mls_group_epoch_authenticator(g, s->auth);
	CHECK_OK(mls_group_export(g, "snapshot", NULL, 0, s->exported, sizeof s->exported));
	s->members = mls_group_num_members(g);
}

static void same_snapshot(const struct snapshot *a, const struct snapshot *b)
{
	CHECK_INT_EQ(a->epoch, b->epoch);
	CHECK_MEM_EQ(a->auth, sizeof a->auth, b->auth, sizeof b->auth);
	CHECK_MEM_EQ(a->exported, sizeof a->exported, b->exported, sizeof b->exported);
	CHECK_INT_EQ(a->members, b->members);
}

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

static void setup(void)
{
	struct mls_key_package kps[2];
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;

	member_init(&A);
	member_init(&B);
	member_init(&C);
	member_init(&D);
	CHECK_OK(mls_group_create(&A.g, gid, sizeof gid - 1, A.sig_priv, &A.kp, &A.kpp, NULL));
	kps[0] = B.kp;
	kps[1] = C.kp;
	CHECK_OK(mls_group_commit_add(A.g, kps, 2, 0, &commit, &commit_len, &welcome,
				      &welcome_len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_OK(mls_group_join(&B.g, welcome, welcome_len, NULL, 0, B.sig_priv, &B.kp, &B.kpp,
				NULL));
	free(commit);
	free(welcome);
	if (B.g == NULL) {
		abort();
	}
	mls_group_set_handshake_public(A.g, true);
}

/* ---- the hostile changes ---- */

enum op { OP_UPDATE, OP_REMOVE_C, OP_ADD_D };

struct hostile {
	const char *name;
	enum op op;
	int phase;
	void (*change)(struct mls_authenticated_content *ac);
	int want;
	bool private_handshake;
};

static struct mls_proposal_or_ref *append(struct mls_commit *c)
{
	struct mls_proposal_or_ref *p =
		realloc(c->proposals, (c->num_proposals + 1) * sizeof *c->proposals);

	if (p == NULL) {
		abort();
	}
	c->proposals = p;
	p = &c->proposals[c->num_proposals++];
	memset(p, 0, sizeof *p);
	p->type = MLS_PROPOSAL_OR_REF_PROPOSAL;
	return p;
}

static void remove_leaf(struct mls_commit *c, uint32_t leaf)
{
	struct mls_proposal_or_ref *p = append(c);

	p->proposal.type = MLS_PROPOSAL_REMOVE;
	p->proposal.u.remove.removed = leaf;
}

static void ch_remove_self(struct mls_authenticated_content *ac)
{
	remove_leaf(&ac->content.commit, ac->content.sender.index);
}

static void ch_remove_blank(struct mls_authenticated_content *ac)
{
	remove_leaf(&ac->content.commit, 3); /* leaves 0..2 are the members */
}

static void ch_remove_twice(struct mls_authenticated_content *ac)
{
	remove_leaf(&ac->content.commit, 2);
}

static void ch_two_gce(struct mls_authenticated_content *ac)
{
	append(&ac->content.commit)->proposal.type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
	append(&ac->content.commit)->proposal.type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
}

static void ch_unknown_ref(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);
	uint8_t ref[MLS_HASH_LEN];

	randombytes_buf(ref, sizeof ref);
	p->type = MLS_PROPOSAL_OR_REF_REFERENCE;
	CHECK_OK(mls_bytes_set(&p->reference, ref, sizeof ref));
}

static void ch_drop_path(struct mls_authenticated_content *ac)
{
	mls_update_path_cleanup(&ac->content.commit.path);
	ac->content.commit.has_path = false;
}

static void ch_reinit(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);

	p->proposal.type = MLS_PROPOSAL_REINIT;
	p->proposal.u.reinit.version = MLS_VERSION_MLS10;
	p->proposal.u.reinit.cipher_suite = 3;
	CHECK_OK(mls_bytes_set(&p->proposal.u.reinit.group_id, gid, sizeof gid - 1));
}

static void ch_psk_unknown(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);
	uint8_t nonce[MLS_HASH_LEN] = {7};

	p->proposal.type = MLS_PROPOSAL_PSK;
	p->proposal.u.psk.psk.psktype = MLS_PSK_EXTERNAL;
	CHECK_OK(mls_bytes_set(&p->proposal.u.psk.psk.psk_id, (const uint8_t *)"nope", 4));
	CHECK_OK(mls_bytes_set(&p->proposal.u.psk.psk.psk_nonce, nonce, sizeof nonce));
}

static void ch_committer_update(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);

	p->proposal.type = MLS_PROPOSAL_UPDATE;
	CHECK_OK(mls_leaf_node_copy(&p->proposal.u.update.leaf_node,
				    &ac->content.commit.path.leaf_node));
}

static void ch_bad_kp(struct mls_authenticated_content *ac)
{
	ac->content.commit.proposals[0].proposal.u.add.key_package.signature.data[3] ^= 1;
}

static void ch_add_twice(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);

	p->proposal.type = MLS_PROPOSAL_ADD;
	CHECK_OK(mls_key_package_copy(&p->proposal.u.add.key_package, &D.kp));
}

static void ch_add_member_again(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);

	p->proposal.type = MLS_PROPOSAL_ADD;
	CHECK_OK(mls_key_package_copy(&p->proposal.u.add.key_package, &B.kp));
}

static void ch_gce_unsupported(struct mls_authenticated_content *ac)
{
	struct mls_proposal_or_ref *p = append(&ac->content.commit);
	struct mls_extension_list *l = &p->proposal.u.group_context_extensions.extensions;

	p->proposal.type = MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
	l->items = calloc(1, sizeof *l->items);
	if (l->items == NULL) {
		abort();
	}
	l->num = 1;
	l->items[0].type = 0xF0F0;
}

static void ch_path_leaf_sig(struct mls_authenticated_content *ac)
{
	ac->content.commit.path.leaf_node.signature.data[0] ^= 1;
}

static void ch_path_short(struct mls_authenticated_content *ac)
{
	struct mls_update_path *p = &ac->content.commit.path;

	if (p->num_nodes > 0) {
		mls_update_path_node_cleanup(&p->nodes[p->num_nodes - 1]);
		p->num_nodes--;
	}
}

static void ch_sender_blank(struct mls_authenticated_content *ac)
{
	ac->content.sender.index = 3;
}

static void ch_sender_other(struct mls_authenticated_content *ac)
{
	/* Claims to be B but is signed with A's key. */
	ac->content.sender.index = 1;
}

static void ch_bad_signature(struct mls_authenticated_content *ac)
{
	ac->auth.signature.data[10] ^= 1;
}

static void ch_bad_tag(struct mls_authenticated_content *ac)
{
	ac->auth.confirmation_tag.data[0] ^= 1;
}

static const struct hostile *current;

static void hook(struct mls_authenticated_content *ac, int phase, void *arg)
{
	(void)arg;
	if (current != NULL && phase == current->phase) {
		current->change(ac);
	}
}

static void make(enum op op, uint8_t **commit, size_t *len)
{
	uint8_t *welcome = NULL;
	size_t welcome_len = 0;
	uint32_t c_leaf = 2;

	switch (op) {
	case OP_UPDATE:
		CHECK_OK(mls_group_commit_update(A.g, commit, len));
		break;
	case OP_REMOVE_C:
		CHECK_OK(mls_group_commit_remove(A.g, &c_leaf, 1, commit, len));
		break;
	case OP_ADD_D:
		CHECK_OK(mls_group_commit_add(A.g, &D.kp, 1, 0, commit, len, &welcome,
					      &welcome_len));
		free(welcome);
		break;
	}
}

static const struct hostile cases[] = {
	{"committer removes itself (12.2)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_remove_self,
	 HALQA_ERR_INVALID, false},
	{"remove of a blank leaf (12.1.3)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_remove_blank,
	 HALQA_ERR_INVALID, false},
	{"same leaf removed twice (12.2)", OP_REMOVE_C, MLS_GROUP_HOOK_CONTENT, ch_remove_twice,
	 HALQA_ERR_INVALID, false},
	{"two GroupContextExtensions (12.2)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_two_gce,
	 HALQA_ERR_INVALID, false},
	{"unknown proposal reference (12.4.2)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_unknown_ref,
	 HALQA_ERR_NOT_FOUND, false},
	{"remove without a path (12.4)", OP_REMOVE_C, MLS_GROUP_HOOK_CONTENT, ch_drop_path,
	 HALQA_ERR_INVALID, false},
	{"empty commit without a path (12.4)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_drop_path,
	 HALQA_ERR_INVALID, false},
	{"ReInit (not supported)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_reinit,
	 HALQA_ERR_UNSUPPORTED, false},
	{"unknown external PSK (8.4)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_psk_unknown,
	 HALQA_ERR_NOT_FOUND, false},
	{"committer's own Update by value (12.2)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT,
	 ch_committer_update, HALQA_ERR_INVALID, false},
	{"Add with a bad KeyPackage signature (10.1)", OP_ADD_D, MLS_GROUP_HOOK_CONTENT, ch_bad_kp,
	 HALQA_ERR_CRYPTO, false},
	{"same KeyPackage added twice (12.2)", OP_ADD_D, MLS_GROUP_HOOK_CONTENT, ch_add_twice,
	 HALQA_ERR_INVALID, false},
	{"Add of a current member's keys (7.3)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT,
	 ch_add_member_again, HALQA_ERR_INVALID, false},
	{"extension no member supports (12.1.7)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT,
	 ch_gce_unsupported, HALQA_ERR_INVALID, false},
	{"path leaf signature (7.3)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_path_leaf_sig,
	 HALQA_ERR_CRYPTO, false},
	{"path too short (7.5)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_path_short,
	 HALQA_ERR_INVALID, false},
	{"sender leaf blank (6.3.2)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_sender_blank,
	 HALQA_ERR_INVALID, false},
	{"sender claims another member (6.1)", OP_UPDATE, MLS_GROUP_HOOK_CONTENT, ch_sender_other,
	 HALQA_ERR_CRYPTO, false},
	{"bad signature (6.1)", OP_UPDATE, MLS_GROUP_HOOK_AUTH, ch_bad_signature,
	 HALQA_ERR_CRYPTO, false},
	{"bad confirmation tag (12.4.2)", OP_UPDATE, MLS_GROUP_HOOK_AUTH, ch_bad_tag,
	 HALQA_ERR_CRYPTO, false},
	{"bad confirmation tag, PrivateMessage", OP_UPDATE, MLS_GROUP_HOOK_AUTH, ch_bad_tag,
	 HALQA_ERR_CRYPTO, true},
	{"bad signature, PrivateMessage", OP_REMOVE_C, MLS_GROUP_HOOK_AUTH, ch_bad_signature,
	 HALQA_ERR_CRYPTO, true},
};

/* B refuses |msg| with |want| and is left as it was. */
static void expect_refused(const char *name, const uint8_t *msg, size_t len, int want)
{
	struct snapshot before, after;
	struct mls_group_event ev;
	int rc;

	snap(B.g, &before);
	rc = mls_group_process(B.g, msg, len, &ev);
	if (rc != want) {
		harness_fail(__FILE__, __LINE__, "%s: got %s, want %s", name, halqa_errname(rc),
			     halqa_errname(want));
	}
	CHECK(ev.data == NULL);
	snap(B.g, &after);
	same_snapshot(&before, &after);
	CHECK(!mls_group_has_pending(B.g));
}

/* An honest commit from A still goes through: the state really was intact. */
static void honest_round(void)
{
	uint8_t *commit = NULL;
	size_t len = 0;
	struct mls_group_event ev;
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];

	current = NULL;
	CHECK_OK(mls_group_commit_update(A.g, &commit, &len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_OK(mls_group_process(B.g, commit, len, &ev));
	mls_group_event_cleanup(&ev);
	mls_group_epoch_authenticator(A.g, a);
	mls_group_epoch_authenticator(B.g, b);
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	free(commit);
}

static void test_hostile_commits(void)
{
	mls_group_testing_set_hook(A.g, hook, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *commit = NULL;
		size_t len = 0;

		current = &cases[i];
		mls_group_set_handshake_public(A.g, !cases[i].private_handshake);
		make(cases[i].op, &commit, &len);
		mls_group_commit_discard(A.g);
		if (commit == NULL) {
			harness_fail(__FILE__, __LINE__, "%s: no commit made", cases[i].name);
			continue;
		}
		expect_refused(cases[i].name, commit, len, cases[i].want);
		free(commit);
		mls_group_set_handshake_public(A.g, true);
		honest_round();
	}
	mls_group_testing_set_hook(A.g, NULL, NULL);
}

static void test_stale_and_replay(void)
{
	uint8_t *commit = NULL, *ct = NULL;
	size_t len = 0, ct_len = 0;
	struct mls_group_event ev;

	CHECK_OK(mls_group_commit_update(A.g, &commit, &len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_OK(mls_group_process(B.g, commit, len, &ev));
	mls_group_event_cleanup(&ev);
	/* The same commit again is for an epoch that is gone (6). */
	expect_refused("replayed commit", commit, len, HALQA_ERR_STALE);
	free(commit);
	/* An application message: tampered, then replayed. */
	CHECK_OK(mls_group_protect(A.g, (const uint8_t *)"hi", 2, &ct, &ct_len));
	ct[ct_len - 1] ^= 1;
	expect_refused("tampered application message", ct, ct_len, HALQA_ERR_CRYPTO);
	ct[ct_len - 1] ^= 1;
	CHECK_OK(mls_group_process(B.g, ct, ct_len, &ev));
	mls_group_event_cleanup(&ev);
	expect_refused("replayed application message", ct, ct_len, HALQA_ERR_NOT_FOUND);
	free(ct);
	/* Our own commit never comes back through process (the relay confirms it). */
	CHECK_OK(mls_group_commit_update(B.g, &commit, &len));
	mls_group_commit_discard(B.g);
	{
		struct snapshot before, after;

		mls_group_set_handshake_public(B.g, true);
		free(commit);
		CHECK_OK(mls_group_commit_update(B.g, &commit, &len));
		mls_group_commit_discard(B.g);
		snap(B.g, &before);
		CHECK_RC(mls_group_process(B.g, commit, len, &ev), HALQA_ERR_INVALID);
		snap(B.g, &after);
		same_snapshot(&before, &after);
		mls_group_set_handshake_public(B.g, false);
	}
	free(commit);
	/* Garbage and other wire formats. */
	expect_refused("garbage", (const uint8_t *)"\x00\x01\x00", 3, HALQA_ERR_TRUNCATED);
}

/*
 * PreSharedKey commits (8.4, 8.6): a resumption PSK of an earlier epoch
 * kept by both sides, and an external PSK both stores hold, are accepted
 * and agreed on; a PSK of an epoch nobody kept, or an external one not in
 * our store, cannot be committed (NOT_FOUND).
 */
static void test_psk_commits(void)
{
	static const uint8_t ext_id[] = "circle-psk", ext_secret[] = "shared secret value";
	static const struct mls_group_psk item = {ext_id, sizeof ext_id - 1, ext_secret,
						  sizeof ext_secret - 1};
	static const struct mls_group_psk_store store = {&item, 1};
	struct mls_psk_id id = {0};
	uint8_t nonce[MLS_HASH_LEN], a[MLS_HASH_LEN], b[MLS_HASH_LEN];
	uint8_t *commit = NULL;
	size_t len = 0;
	struct mls_group_event ev;

	randombytes_buf(nonce, sizeof nonce);
	id.psk_nonce.data = nonce;
	id.psk_nonce.len = sizeof nonce;
	id.psk_group_id.data = (uint8_t *)gid;
	id.psk_group_id.len = sizeof gid - 1;
	id.psktype = MLS_PSK_RESUMPTION;
	id.usage = MLS_RESUMPTION_APPLICATION;
	id.psk_epoch = mls_group_epoch(A.g) - 2;
	CHECK_OK(mls_group_commit_psk(A.g, &id, &commit, &len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	CHECK_OK(mls_group_process(B.g, commit, len, &ev));
	mls_group_event_cleanup(&ev);
	free(commit);
	mls_group_epoch_authenticator(A.g, a);
	mls_group_epoch_authenticator(B.g, b);
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	id.psk_epoch = mls_group_epoch(A.g) + 5;
	CHECK_RC(mls_group_commit_psk(A.g, &id, &commit, &len), HALQA_ERR_NOT_FOUND);
	/* External. */
	memset(&id.psk_group_id, 0, sizeof id.psk_group_id);
	id.psktype = MLS_PSK_EXTERNAL;
	id.psk_id.data = (uint8_t *)ext_id;
	id.psk_id.len = sizeof ext_id - 1;
	CHECK_RC(mls_group_commit_psk(A.g, &id, &commit, &len), HALQA_ERR_NOT_FOUND);
	mls_group_set_psk_store(A.g, &store);
	CHECK_OK(mls_group_commit_psk(A.g, &id, &commit, &len));
	CHECK_OK(mls_group_commit_confirm(A.g));
	/* B without the PSK refuses, as it was; with it, it follows. */
	expect_refused("external PSK we lack", commit, len, HALQA_ERR_NOT_FOUND);
	mls_group_set_psk_store(B.g, &store);
	CHECK_OK(mls_group_process(B.g, commit, len, &ev));
	mls_group_event_cleanup(&ev);
	free(commit);
	mls_group_epoch_authenticator(A.g, a);
	mls_group_epoch_authenticator(B.g, b);
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	mls_group_set_psk_store(A.g, NULL);
	mls_group_set_psk_store(B.g, NULL);
}

static void test_welcome_refusals(void)
{
	struct member e;
	uint8_t *commit = NULL, *welcome = NULL;
	size_t len = 0, welcome_len = 0;
	struct mls_group *g = NULL;
	uint8_t zero[MLS_KEM_PRIV_LEN] = {0};

	member_init(&e);
	CHECK_OK(mls_group_commit_add(A.g, &e.kp, 1, 0, &commit, &len, &welcome, &welcome_len));
	mls_group_commit_discard(A.g);
	if (welcome == NULL) {
		member_free(&e);
		return;
	}
	/* Not for D: its KeyPackageRef is not listed. */
	CHECK_RC(mls_group_join(&g, welcome, welcome_len, NULL, 0, D.sig_priv, &D.kp, &D.kpp, NULL),
		 HALQA_ERR_NOT_FOUND);
	/* GroupInfo tampered with. */
	welcome[welcome_len - 1] ^= 1;
	CHECK_RC(mls_group_join(&g, welcome, welcome_len, NULL, 0, e.sig_priv, &e.kp, &e.kpp, NULL),
		 HALQA_ERR_CRYPTO);
	welcome[welcome_len - 1] ^= 1;
	/* A failed join keeps the KeyPackage privates for a later attempt. */
	CHECK(sodium_memcmp(e.kpp.init_priv, zero, sizeof zero) != 0);
	/* The wrong signing key for our leaf. */
	CHECK_RC(mls_group_join(&g, welcome, welcome_len, NULL, 0, D.sig_priv, &e.kp, &e.kpp, NULL),
		 HALQA_ERR_INVALID);
	CHECK(g == NULL);
	CHECK_OK(mls_group_join(&g, welcome, welcome_len, NULL, 0, e.sig_priv, &e.kp, &e.kpp, NULL));
	CHECK(sodium_memcmp(e.kpp.init_priv, zero, sizeof zero) == 0);
	mls_group_free(g);
	free(commit);
	free(welcome);
	member_free(&e);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	setup();
	RUN(test_hostile_commits);
	RUN(test_stale_and_replay);
	RUN(test_psk_commits);
	RUN(test_welcome_refusals);
	member_free(&A);
	member_free(&B);
	member_free(&C);
	member_free(&D);
	return harness_report();
}
