/*
 * test_mls_group.c: the group API end to end (RFC 9420 11, 12): create a
 * group, add members by Welcome, exchange messages, remove one and show it
 * can no longer read, pending commits confirmed and discarded, exporter,
 * members, group context extensions.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"
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
	sodium_memzero(m->sig_priv, sizeof m->sig_priv);
}

static const uint8_t gid[] = "circle-1";

/* Delivers |msg| to |m| and expects a commit. */
static void deliver_commit(struct member *m, const uint8_t *msg, size_t len)
{
	struct mls_group_event ev;

	CHECK_OK(mls_group_process(m->g, msg, len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
	mls_group_event_cleanup(&ev);
}

static void same_epoch(struct member *a, struct member *b)
{
	uint8_t x[MLS_HASH_LEN], y[MLS_HASH_LEN];

	CHECK_INT_EQ(mls_group_epoch(a->g), mls_group_epoch(b->g));
	mls_group_epoch_authenticator(a->g, x);
	mls_group_epoch_authenticator(b->g, y);
	CHECK_MEM_EQ(x, sizeof x, y, sizeof y);
}

/* |from| sends |text|; |to| must read it back. */
static void send_ok(struct member *from, struct member *to, const char *text)
{
	struct mls_group_event ev;
	uint8_t *ct = NULL;
	size_t ct_len = 0;

	CHECK_OK(mls_group_protect(from->g, (const uint8_t *)text, strlen(text), &ct, &ct_len));
	CHECK_OK(mls_group_process(to->g, ct, ct_len, &ev));
	CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_APPLICATION);
	CHECK_INT_EQ(ev.sender, mls_group_own_leaf(from->g));
	CHECK_MEM_EQ(ev.data, ev.data_len, (const uint8_t *)text, strlen(text));
	mls_group_event_cleanup(&ev);
	free(ct);
}

static void test_end_to_end(void)
{
	struct member a, b, c;
	struct mls_key_package kps[2];
	uint8_t *commit = NULL, *welcome = NULL, *ct = NULL;
	size_t commit_len = 0, welcome_len = 0, ct_len = 0;
	struct mls_group_member *list = NULL;
	size_t num = 0;
	struct mls_group_event ev;
	uint8_t ex1[32], ex2[32];
	uint32_t rm;

	member_init(&a);
	member_init(&b);
	member_init(&c);
	CHECK_OK(mls_group_create(&a.g, gid, sizeof gid - 1, a.sig_priv, &a.kp, &a.kpp, NULL));
	CHECK_INT_EQ(mls_group_epoch(a.g), 0);
	kps[0] = b.kp;
	kps[1] = c.kp;
	CHECK_OK(mls_group_commit_add(a.g, kps, 2, 100, &commit, &commit_len, &welcome,
				      &welcome_len));
	CHECK(mls_group_has_pending(a.g));
	CHECK_INT_EQ(mls_group_epoch(a.g), 0);
	CHECK_OK(mls_group_commit_confirm(a.g));
	CHECK_INT_EQ(mls_group_epoch(a.g), 1);
	CHECK_OK(mls_group_join(&b.g, welcome, welcome_len, NULL, 0, b.sig_priv, &b.kp, &b.kpp, NULL));
	CHECK_OK(mls_group_join(&c.g, welcome, welcome_len, NULL, 0, c.sig_priv, &c.kp, &c.kpp, NULL));
	free(commit);
	free(welcome);
	if (b.g == NULL || c.g == NULL) {
		goto out;
	}
	same_epoch(&a, &b);
	same_epoch(&a, &c);
	/* The joiner learns the group id from the Welcome's GroupContext. */
	{
		const uint8_t *id = NULL;
		size_t id_len = 0;

		mls_group_id(c.g, &id, &id_len);
		CHECK_MEM_EQ(id, id_len, gid, sizeof gid - 1);
		mls_group_id(a.g, &id, &id_len);
		CHECK_MEM_EQ(id, id_len, gid, sizeof gid - 1);
	}
	CHECK_INT_EQ(mls_group_num_members(b.g), 3);
	CHECK_OK(mls_group_members(c.g, &list, &num));
	CHECK_INT_EQ(num, 3);
	if (num == 3) {
		CHECK(list[0].has_identity);
		CHECK_MEM_EQ(list[0].identity, 32, a.sig_pub, 32);
		CHECK_MEM_EQ(list[1].identity, 32, b.sig_pub, 32);
		CHECK_MEM_EQ(list[2].identity, 32, c.sig_pub, 32);
	}
	free(list);
	CHECK_OK(mls_group_export(a.g, "relay", (const uint8_t *)"x", 1, ex1, sizeof ex1));
	CHECK_OK(mls_group_export(c.g, "relay", (const uint8_t *)"x", 1, ex2, sizeof ex2));
	CHECK_MEM_EQ(ex1, sizeof ex1, ex2, sizeof ex2);

	send_ok(&a, &b, "hello b");
	send_ok(&b, &c, "hello c");
	send_ok(&c, &a, "hello a");

	/* b updates its keys (commit as a PublicMessage this time). */
	mls_group_set_handshake_public(b.g, true);
	CHECK_OK(mls_group_commit_update(b.g, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(b.g));
	deliver_commit(&a, commit, commit_len);
	deliver_commit(&c, commit, commit_len);
	free(commit);
	same_epoch(&a, &b);
	same_epoch(&a, &c);

	/* a removes c; c processes the commit and is told it was removed. */
	rm = mls_group_own_leaf(c.g);
	CHECK_OK(mls_group_commit_remove(a.g, &rm, 1, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(a.g));
	deliver_commit(&b, commit, commit_len);
	CHECK_OK(mls_group_process(c.g, commit, commit_len, &ev));
	CHECK(ev.removed);
	mls_group_event_cleanup(&ev);
	CHECK(mls_group_is_removed(c.g));
	free(commit);
	same_epoch(&a, &b);
	CHECK_INT_EQ(mls_group_num_members(a.g), 2);
	send_ok(&a, &b, "c is gone");
	CHECK_OK(mls_group_protect(b.g, (const uint8_t *)"secret", 6, &ct, &ct_len));
	CHECK(mls_group_process(c.g, ct, ct_len, &ev) != HALQA_OK);
	CHECK_RC(mls_group_protect(c.g, (const uint8_t *)"x", 1, &commit, &commit_len),
		 HALQA_ERR_DENIED);
	free(ct);
out:
	member_free(&a);
	member_free(&b);
	member_free(&c);
}

/* The relay orders commits: ours stays pending, another's wins, ours is dropped. */
static void test_pending(void)
{
	struct member a, b;
	uint8_t *commit = NULL, *welcome = NULL, *mine = NULL;
	size_t commit_len = 0, welcome_len = 0, mine_len = 0;
	uint8_t auth[MLS_HASH_LEN], auth2[MLS_HASH_LEN];

	member_init(&a);
	member_init(&b);
	CHECK_OK(mls_group_create(&a.g, gid, sizeof gid - 1, a.sig_priv, &a.kp, &a.kpp, NULL));
	CHECK_OK(mls_group_commit_add(a.g, &b.kp, 1, 0, &commit, &commit_len, &welcome,
				      &welcome_len));
	CHECK_RC(mls_group_commit_update(a.g, &mine, &mine_len), HALQA_ERR_EXISTS);
	CHECK_OK(mls_group_commit_confirm(a.g));
	CHECK_OK(mls_group_join(&b.g, welcome, welcome_len, NULL, 0, b.sig_priv, &b.kp, &b.kpp, NULL));
	free(commit);
	free(welcome);
	if (b.g == NULL) {
		goto out;
	}
	/* Both commit at once; the relay takes b's. */
	mls_group_epoch_authenticator(a.g, auth);
	CHECK_OK(mls_group_commit_update(a.g, &mine, &mine_len));
	mls_group_epoch_authenticator(a.g, auth2);
	CHECK_MEM_EQ(auth, sizeof auth, auth2, sizeof auth2);
	CHECK_OK(mls_group_commit_update(b.g, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(b.g));
	deliver_commit(&a, commit, commit_len);
	CHECK(!mls_group_has_pending(a.g));
	CHECK_RC(mls_group_commit_confirm(a.g), HALQA_ERR_NOT_FOUND);
	same_epoch(&a, &b);
	/* a's stale commit is refused by b. */
	{
		struct mls_group_event ev;

		CHECK(mls_group_process(b.g, mine, mine_len, &ev) != HALQA_OK);
	}
	free(mine);
	free(commit);
	/* Discard. */
	CHECK_OK(mls_group_commit_update(a.g, &mine, &mine_len));
	mls_group_commit_discard(a.g);
	CHECK(!mls_group_has_pending(a.g));
	free(mine);
	send_ok(&a, &b, "still here");
out:
	member_free(&a);
	member_free(&b);
}

/* Drops the roster from |kp|'s capabilities and signs it again. */
static void strip_roster(struct mls_key_package *kp, const uint8_t sig_priv[MLS_SIG_PRIV_LEN])
{
	struct mls_u16_list *l = &kp->leaf_node.capabilities.extensions;
	struct bytes_writer w;
	uint8_t sig[MLS_SIG_LEN];
	size_t n = 0;

	for (size_t i = 0; i < l->num; i++) {
		if (l->items[i] != MLS_GROUP_EXT_ROSTER) {
			l->items[n++] = l->items[i];
		}
	}
	l->num = n;
	bytes_writer_init(&w, 1 << 20, 0);
	mls_leaf_node_tbs_encode(&w, &kp->leaf_node, NULL, 0, 0);
	CHECK_OK(mls_sign_with_label(sig, sig_priv, "LeafNodeTBS", bytes_writer_data(&w),
				     bytes_writer_len(&w)));
	memcpy(kp->leaf_node.signature.data, sig, sizeof sig);
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, 1 << 20, 0);
	mls_key_package_tbs_encode(&w, kp);
	CHECK_OK(mls_sign_with_label(sig, sig_priv, "KeyPackageTBS", bytes_writer_data(&w),
				     bytes_writer_len(&w)));
	memcpy(kp->signature.data, sig, sizeof sig);
	bytes_writer_cleanup(&w);
}

static void test_extensions(void)
{
	struct member a, b;
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;
	struct mls_extension ext = {.type = MLS_GROUP_EXT_ROSTER};
	struct mls_extension_list list = {.items = &ext, .num = 1};
	const struct mls_extension *found;
	uint8_t roster[] = {1, 2, 3};

	member_init(&a);
	member_init(&b);
	ext.data.data = roster;
	ext.data.len = sizeof roster;
	CHECK_OK(mls_group_create(&a.g, gid, sizeof gid - 1, a.sig_priv, &a.kp, &a.kpp, NULL));
	CHECK_OK(mls_group_commit_add(a.g, &b.kp, 1, 0, &commit, &commit_len, &welcome,
				      &welcome_len));
	CHECK_OK(mls_group_commit_confirm(a.g));
	CHECK_OK(mls_group_join(&b.g, welcome, welcome_len, NULL, 0, b.sig_priv, &b.kp, &b.kpp, NULL));
	free(commit);
	free(welcome);
	if (b.g == NULL) {
		goto out;
	}
	CHECK_OK(mls_group_commit_extensions(a.g, &list, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(a.g));
	deliver_commit(&b, commit, commit_len);
	free(commit);
	same_epoch(&a, &b);
	found = mls_extension_list_find(mls_group_extensions(b.g), MLS_GROUP_EXT_ROSTER);
	CHECK(found != NULL);
	if (found != NULL) {
		CHECK_MEM_EQ(found->data.data, found->data.len, roster, sizeof roster);
	}
	/* 12.1.1, 13: a newcomer must support the group's extensions. */
	{
		struct member old;

		member_init(&old);
		strip_roster(&old.kp, old.sig_priv);
		CHECK_OK(mls_keypackage_validate(&old.kp, 0));
		CHECK_RC(mls_group_commit_add(a.g, &old.kp, 1, 0, &commit, &commit_len, &welcome,
					      &welcome_len),
			 HALQA_ERR_INVALID);
		CHECK(!mls_group_has_pending(a.g));
		member_free(&old);
	}
	/* An extension no member supports is refused before anything is sent. */
	ext.type = 0xF0F0;
	CHECK_RC(mls_group_commit_extensions(a.g, &list, &commit, &commit_len), HALQA_ERR_INVALID);
	CHECK(!mls_group_has_pending(a.g));
out:
	member_free(&a);
	member_free(&b);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_end_to_end);
	RUN(test_pending);
	RUN(test_extensions);
	return harness_report();
}
