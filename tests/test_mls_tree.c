/*
 * test_mls_tree.c: the ratchet tree beyond the IETF vectors. The RFC's
 * example trees for resolution and filtered direct paths; Add, Update and
 * Remove on small trees (placement, unmerged leaves, truncation); a long
 * seeded sequence of operations on a tree of 1,000+ leaves whose cached
 * tree hash must always equal one computed from scratch; and refusals:
 * malformed and truncated encodings, broken unmerged_leaves, a bad parent
 * hash, a bad leaf signature, duplicate keys and each LeafNode rule, every
 * one with the error it must give and the tree left unchanged.
 */
#include "halqa/mls_tree.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/log.h"
#include "harness.h"

static const uint8_t group_id[] = "halqa test group";

/* A small deterministic generator, so a failing sequence can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(uint32_t bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % bound);
}

static void set_u16_list(struct mls_u16_list *l, const uint16_t *v, size_t n)
{
	l->items = NULL;
	l->num = n;
	if (n > 0) {
		l->items = malloc(n * sizeof *v);
		if (l->items == NULL) {
			abort();
		}
		memcpy(l->items, v, n * sizeof *v);
	}
}

/* Signs |leaf| with |priv| as leaf |leaf_index| of the test group. */
static void sign_leaf(struct mls_leaf_node *leaf, const uint8_t priv[MLS_SIG_PRIV_LEN],
		      uint32_t leaf_index)
{
	struct bytes_writer w;
	uint8_t sig[MLS_SIG_LEN];

	bytes_writer_init(&w, 1 << 20, 0);
	(void)mls_leaf_node_tbs_encode(&w, leaf, group_id, sizeof group_id, leaf_index);
	if (bytes_writer_error(&w) != 0 ||
	    mls_sign_with_label(sig, priv, "LeafNodeTBS", bytes_writer_data(&w),
				bytes_writer_len(&w)) != 0 ||
	    mls_bytes_set(&leaf->signature, sig, sizeof sig) != 0) {
		abort();
	}
	bytes_writer_cleanup(&w);
}

/*
 * make_leaf fills |leaf| with fresh keys, a basic credential and suite 3
 * capabilities, from |source|, signed for |leaf_index|. The signature
 * private key goes to |priv| if not NULL.
 */
static void make_leaf(struct mls_leaf_node *leaf, uint8_t source, uint32_t leaf_index,
		      uint8_t priv[MLS_SIG_PRIV_LEN])
{
	static const uint16_t versions[] = {1}, suites[] = {3}, creds[] = {MLS_CREDENTIAL_BASIC};
	uint8_t sig_pub[MLS_SIG_PUB_LEN], sig_priv[MLS_SIG_PRIV_LEN], enc[MLS_KEM_PUB_LEN];
	char identity[32];

	memset(leaf, 0, sizeof *leaf);
	crypto_sign_keypair(sig_pub, sig_priv);
	randombytes_buf(enc, sizeof enc);
	snprintf(identity, sizeof identity, "member-%u", leaf_index);
	if (mls_bytes_set(&leaf->encryption_key, enc, sizeof enc) != 0 ||
	    mls_bytes_set(&leaf->signature_key, sig_pub, sizeof sig_pub) != 0 ||
	    mls_bytes_set(&leaf->credential.identity, (const uint8_t *)identity,
			  strlen(identity)) != 0) {
		abort();
	}
	leaf->credential.type = MLS_CREDENTIAL_BASIC;
	set_u16_list(&leaf->capabilities.versions, versions, 1);
	set_u16_list(&leaf->capabilities.cipher_suites, suites, 1);
	set_u16_list(&leaf->capabilities.credentials, creds, 1);
	leaf->leaf_node_source = source;
	if (source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
		leaf->lifetime.not_before = 1000;
		leaf->lifetime.not_after = 2000;
	} else if (source == MLS_LEAF_SOURCE_COMMIT) {
		uint8_t ph[MLS_HASH_LEN];

		randombytes_buf(ph, sizeof ph);
		if (mls_bytes_set(&leaf->parent_hash, ph, sizeof ph) != 0) {
			abort();
		}
	}
	sign_leaf(leaf, sig_priv, leaf_index);
	if (priv != NULL) {
		memcpy(priv, sig_priv, sizeof sig_priv);
	}
	sodium_memzero(sig_priv, sizeof sig_priv);
}

/* A parent node with a random key and the given unmerged leaves. */
static void make_parent(struct mls_node *n, const uint32_t *unmerged, size_t num)
{
	uint8_t key[MLS_KEM_PUB_LEN];

	memset(n, 0, sizeof *n);
	n->type = MLS_NODE_PARENT;
	randombytes_buf(key, sizeof key);
	if (mls_bytes_set(&n->u.parent.encryption_key, key, sizeof key) != 0) {
		abort();
	}
	if (num > 0) {
		n->u.parent.unmerged_leaves = malloc(num * sizeof *unmerged);
		if (n->u.parent.unmerged_leaves == NULL) {
			abort();
		}
		memcpy(n->u.parent.unmerged_leaves, unmerged, num * sizeof *unmerged);
		n->u.parent.num_unmerged_leaves = num;
	}
}

/*
 * build_nodes makes a ratchet tree from a pattern, one character per node
 * in array order: 'L' a leaf (source update), '_' blank, 'P' a parent with
 * no unmerged leaves. Unmerged leaves are added by the caller.
 */
static void build_nodes(struct mls_ratchet_tree *rt, const char *pattern)
{
	size_t n = strlen(pattern);

	rt->num_nodes = n;
	rt->nodes = calloc(n, sizeof *rt->nodes);
	if (rt->nodes == NULL) {
		abort();
	}
	for (size_t x = 0; x < n; x++) {
		if (pattern[x] == 'L') {
			rt->nodes[x].type = MLS_NODE_LEAF;
			make_leaf(&rt->nodes[x].u.leaf, MLS_LEAF_SOURCE_UPDATE, (uint32_t)(x / 2),
				  NULL);
		} else if (pattern[x] == 'P') {
			make_parent(&rt->nodes[x], NULL, 0);
		}
	}
}

static void set_unmerged(struct mls_ratchet_tree *rt, uint32_t x, const uint32_t *leaves,
			 size_t num)
{
	mls_node_cleanup(&rt->nodes[x]);
	make_parent(&rt->nodes[x], leaves, num);
}

static struct mls_tree *tree_from_pattern(const char *pattern)
{
	struct mls_ratchet_tree rt = {0};
	struct mls_tree *t = NULL;

	build_nodes(&rt, pattern);
	CHECK_OK(mls_tree_from_nodes(&t, &rt));
	mls_ratchet_tree_cleanup(&rt);
	return t;
}

static void check_list(const uint32_t *got, size_t n, const uint32_t *want, size_t want_n,
		       const char *what)
{
	int same = n == want_n && (n == 0 || memcmp(got, want, n * sizeof *got) == 0);

	if (!same) {
		harness_fail(__FILE__, __LINE__, "%s: got %zu entries, want %zu (or they differ)",
			     what, n, want_n);
	}
}

/*
 * The tree hash from scratch: encode, load into a fresh tree (no cache),
 * hash. Equal to the cached hash if the cache was invalidated correctly.
 */
static void check_hash_from_scratch(struct mls_tree *t)
{
	struct mls_tree *fresh = NULL;
	uint8_t *enc = NULL, cached[MLS_HASH_LEN], scratch[MLS_HASH_LEN];
	size_t enc_len = 0;

	CHECK_OK(mls_tree_hash(t, cached));
	CHECK_OK(mls_tree_encode_bytes(t, &enc, &enc_len));
	CHECK_OK(mls_tree_load(&fresh, enc, enc_len));
	if (fresh != NULL) {
		CHECK_INT_EQ(mls_tree_num_leaves(fresh), mls_tree_num_leaves(t));
		CHECK_OK(mls_tree_hash(fresh, scratch));
		CHECK_MEM_EQ(cached, sizeof cached, scratch, sizeof scratch);
	}
	mls_tree_free(fresh);
	free(enc);
}

/* The encoding of |t|, for comparing states before and after a refused change. */
static uint8_t *snapshot(const struct mls_tree *t, size_t *len)
{
	uint8_t *enc = NULL;

	CHECK_OK(mls_tree_encode_bytes(t, &enc, len));
	return enc;
}

static void check_unchanged(const struct mls_tree *t, const uint8_t *before, size_t before_len)
{
	size_t len = 0;
	uint8_t *now = snapshot(t, &len);

	CHECK_MEM_EQ(now, len, before, before_len);
	free(now);
}

/* RFC 9420 4.1.1, the tree of figure "A Tree with Blanks and Unmerged Leaves". */
static void test_resolution_example(void)
{
	struct mls_ratchet_tree rt = {0};
	struct mls_tree *t = NULL;
	static const uint32_t x_unmerged[] = {1};
	static const uint32_t want_x[] = {3, 2}, want_top[] = {3, 2, 9, 14};
	uint32_t *res = NULL;
	size_t n = 0;

	/* Leaves A B _ D E F _ H; X = node 3 with unmerged [B]; Y = node 9. */
	build_nodes(&rt, "L_LP__L_LPL___L");
	set_unmerged(&rt, 3, x_unmerged, 1);
	CHECK_OK(mls_tree_from_nodes(&t, &rt));
	mls_ratchet_tree_cleanup(&rt);
	if (t == NULL) {
		return;
	}
	CHECK_OK(mls_tree_resolution(t, 3, NULL, 0, &res, &n));
	check_list(res, n, want_x, 2, "resolution of X");
	free(res);
	CHECK_OK(mls_tree_resolution(t, 4, NULL, 0, &res, &n));
	CHECK_INT_EQ(n, 0);
	free(res);
	CHECK_OK(mls_tree_resolution(t, 12, NULL, 0, &res, &n));
	CHECK_INT_EQ(n, 0);
	free(res);
	CHECK_OK(mls_tree_resolution(t, 7, NULL, 0, &res, &n));
	check_list(res, n, want_top, 4, "resolution of the root");
	free(res);
	/* Excluding a new member (12.4.2) drops it wherever it appears. */
	{
		static const uint32_t excl[] = {7, 1}, want_excl[] = {3, 9};

		CHECK_OK(mls_tree_resolution(t, 7, excl, 2, &res, &n));
		check_list(res, n, want_excl, 2, "resolution excluding B and H");
		free(res);
	}
	CHECK_RC(mls_tree_resolution(t, 15, NULL, 0, &res, &n), HALQA_ERR_ARG);
	mls_tree_free(t);
}

/* RFC 9420 4.1.2, the tree of figure "A Complete Tree with Five Members". */
static void test_filtered_direct_path_example(void)
{
	/* A B _ _ E F G _ with T=1, X=9, Y=11, W=7; U=3, V=5, Z=13 blank. */
	struct mls_tree *t = tree_from_pattern("LPL____PLPLPL");
	static const uint32_t want_a[] = {1, 7}, want_e[] = {9, 11, 7}, want_g[] = {11, 7};
	static const uint32_t cop_a[] = {2, 11}, cop_g[] = {9, 3};
	uint32_t path[MLS_TREE_MAX_DEPTH], copath[MLS_TREE_MAX_DEPTH];
	size_t n = 0;

	if (t == NULL) {
		return;
	}
	CHECK_OK(mls_tree_filtered_direct_path(t, 0, path, copath, &n));
	check_list(path, n, want_a, 2, "filtered direct path of A");
	check_list(copath, n, cop_a, 2, "copath children of A");
	CHECK_OK(mls_tree_filtered_direct_path(t, 1, path, NULL, &n));
	check_list(path, n, want_a, 2, "filtered direct path of B");
	CHECK_OK(mls_tree_filtered_direct_path(t, 4, path, NULL, &n));
	check_list(path, n, want_e, 3, "filtered direct path of E");
	CHECK_OK(mls_tree_filtered_direct_path(t, 6, path, copath, &n));
	check_list(path, n, want_g, 2, "filtered direct path of G");
	check_list(copath, n, cop_g, 2, "copath children of G");
	CHECK_RC(mls_tree_filtered_direct_path(t, 8, path, NULL, &n), HALQA_ERR_ARG);
	mls_tree_free(t);
}

/* Add fills the leftmost blank, extends when full, and marks unmerged leaves (12.1.1). */
static void test_add_placement(void)
{
	struct mls_tree *t = mls_tree_new();
	struct mls_leaf_node leaf;
	uint32_t idx = 99;
	const struct mls_node *root;

	CHECK(t != NULL);
	for (uint32_t i = 0; i < 5; i++) {
		make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, i, NULL);
		CHECK_OK(mls_tree_add_leaf(t, &leaf, &idx));
		CHECK_INT_EQ(idx, i);
		mls_leaf_node_cleanup(&leaf);
	}
	CHECK_INT_EQ(mls_tree_num_leaves(t), 8);
	CHECK_INT_EQ(mls_tree_num_members(t), 5);
	CHECK_INT_EQ(mls_tree_root(t), 7);
	check_hash_from_scratch(t);
	/* A joiner finds its leaf by the whole LeafNode, not by key alone. */
	{
		struct mls_leaf_node mine;
		uint32_t found = 99;

		CHECK_OK(mls_leaf_node_copy(&mine, mls_tree_leaf(t, 3)));
		CHECK_OK(mls_tree_find_leaf(t, &mine, &found));
		CHECK_INT_EQ(found, 3);
		mine.signature.data[0] ^= 1;
		CHECK_RC(mls_tree_find_leaf(t, &mine, &found), HALQA_ERR_NOT_FOUND);
		mls_leaf_node_cleanup(&mine);
		make_leaf(&mine, MLS_LEAF_SOURCE_KEY_PACKAGE, 0, NULL);
		CHECK_RC(mls_tree_find_leaf(t, &mine, &found), HALQA_ERR_NOT_FOUND);
		mls_leaf_node_cleanup(&mine);
	}
	mls_tree_free(t);

	/* Leftmost blank first; unmerged leaves kept sorted in every non-blank ancestor. */
	{
		struct mls_ratchet_tree rt = {0};
		static const uint32_t um[] = {3};

		build_nodes(&rt, "L_LPL_LPL_L_L_L");
		set_unmerged(&rt, 7, um, 1);
		set_unmerged(&rt, 3, um, 1);
		mls_node_cleanup(&rt.nodes[2]);
		t = NULL;
		CHECK_OK(mls_tree_from_nodes(&t, &rt));
		mls_ratchet_tree_cleanup(&rt);
	}
	if (t == NULL) {
		return;
	}
	make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 1, NULL);
	CHECK_OK(mls_tree_add_leaf(t, &leaf, &idx));
	mls_leaf_node_cleanup(&leaf);
	CHECK_INT_EQ(idx, 1);
	root = mls_tree_node(t, 7);
	CHECK(root != NULL && root->type == MLS_NODE_PARENT);
	if (root != NULL && root->type == MLS_NODE_PARENT) {
		static const uint32_t want[] = {1, 3};

		check_list(root->u.parent.unmerged_leaves, root->u.parent.num_unmerged_leaves,
			   want, 2, "root unmerged leaves");
	}
	root = mls_tree_node(t, 3);
	CHECK(root != NULL && root->u.parent.num_unmerged_leaves == 2);
	check_hash_from_scratch(t);
	mls_tree_free(t);
}

/* Update replaces the leaf and blanks its direct path; Remove truncates (12.1.2-3). */
static void test_update_and_remove(void)
{
	struct mls_tree *t = tree_from_pattern("LPLPLPLPLPL");
	struct mls_leaf_node leaf;
	uint8_t *before;
	size_t before_len;

	if (t == NULL) {
		return;
	}
	CHECK_INT_EQ(mls_tree_num_leaves(t), 8);
	CHECK_INT_EQ(mls_tree_num_members(t), 6);
	make_leaf(&leaf, MLS_LEAF_SOURCE_UPDATE, 1, NULL);
	CHECK_OK(mls_tree_update_leaf(t, 1, &leaf));
	CHECK(mls_tree_node(t, 1)->type == MLS_NODE_BLANK);
	CHECK(mls_tree_node(t, 3)->type == MLS_NODE_BLANK);
	CHECK(mls_tree_node(t, 7)->type == MLS_NODE_BLANK);
	CHECK(mls_tree_node(t, 5)->type == MLS_NODE_PARENT);
	CHECK(mls_tree_leaf(t, 1) != NULL &&
	      mls_tree_leaf(t, 1)->leaf_node_source == MLS_LEAF_SOURCE_UPDATE);
	check_hash_from_scratch(t);

	/* Refusals leave the tree as it was. */
	before = snapshot(t, &before_len);
	CHECK_RC(mls_tree_update_leaf(t, 6, &leaf), HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_update_leaf(t, 8, &leaf), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_remove_leaf(t, 7), HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_remove_leaf(t, 8), HALQA_ERR_ARG);
	check_unchanged(t, before, before_len);
	free(before);
	mls_leaf_node_cleanup(&leaf);

	/* Removing leaf 5 leaves 4 as the only member on the right: no truncation. */
	CHECK_OK(mls_tree_remove_leaf(t, 5));
	CHECK_INT_EQ(mls_tree_num_leaves(t), 8);
	CHECK(mls_tree_node(t, 9)->type == MLS_NODE_BLANK);
	CHECK(mls_tree_leaf(t, 4) != NULL);
	check_hash_from_scratch(t);
	/* Removing 4 empties the right half: down to 4 leaves. */
	CHECK_OK(mls_tree_remove_leaf(t, 4));
	CHECK_INT_EQ(mls_tree_num_leaves(t), 4);
	check_hash_from_scratch(t);
	/* Down to a single member, which cannot be removed. */
	CHECK_OK(mls_tree_remove_leaf(t, 3));
	CHECK_INT_EQ(mls_tree_num_leaves(t), 4);
	CHECK_OK(mls_tree_remove_leaf(t, 2));
	CHECK_INT_EQ(mls_tree_num_leaves(t), 2);
	CHECK_OK(mls_tree_remove_leaf(t, 1));
	CHECK_INT_EQ(mls_tree_num_leaves(t), 1);
	CHECK_INT_EQ(mls_tree_num_members(t), 1);
	check_hash_from_scratch(t);
	CHECK_RC(mls_tree_remove_leaf(t, 0), HALQA_ERR_INVALID);
	CHECK_INT_EQ(mls_tree_num_members(t), 1);
	mls_tree_free(t);
}

/*
 * A 1,024-leaf tree with every parent set, then a seeded sequence of Adds,
 * Updates and Removes; after each, the cached tree hash equals the hash
 * from scratch and the encoding reloads (its unmerged_leaves still obey
 * 12.4.3.1). A copy taken midway must not see later changes.
 */
static void test_large_tree_sequence(void)
{
	char *pattern = malloc(2048);
	struct mls_tree *t, *copy = NULL;
	uint8_t copy_hash[MLS_HASH_LEN], again[MLS_HASH_LEN];

	if (pattern == NULL) {
		abort();
	}
	for (int i = 0; i < 2047; i++) {
		pattern[i] = (i % 2 == 0) ? 'L' : 'P';
	}
	pattern[2047] = '\0';
	t = tree_from_pattern(pattern);
	free(pattern);
	if (t == NULL) {
		return;
	}
	CHECK_INT_EQ(mls_tree_num_members(t), 1024);
	check_hash_from_scratch(t);
	for (int op = 0; op < 100; op++) {
		uint32_t n = mls_tree_num_leaves(t), l = rng(n), idx;
		struct mls_leaf_node leaf;
		int kind = rng(3);

		if (op == 75) {
			CHECK_OK(mls_tree_copy(&copy, t));
			CHECK_OK(mls_tree_hash(copy, copy_hash));
		}
		if (kind == 0) {
			make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 0, NULL);
			CHECK_OK(mls_tree_add_leaf(t, &leaf, &idx));
			mls_leaf_node_cleanup(&leaf);
		} else if (mls_tree_leaf(t, l) == NULL) {
			CHECK_RC(mls_tree_remove_leaf(t, l), HALQA_ERR_INVALID);
		} else if (kind == 1) {
			make_leaf(&leaf, MLS_LEAF_SOURCE_UPDATE, l, NULL);
			CHECK_OK(mls_tree_update_leaf(t, l, &leaf));
			mls_leaf_node_cleanup(&leaf);
		} else {
			CHECK_OK(mls_tree_remove_leaf(t, l));
		}
		check_hash_from_scratch(t);
	}
	/* Remove everyone in the right half: the tree must shrink, hashes still right. */
	{
		uint32_t before = mls_tree_num_leaves(t);

		for (uint32_t l = before / 2; l < before; l++) {
			if (mls_tree_leaf(t, l) != NULL) {
				CHECK_OK(mls_tree_remove_leaf(t, l));
			}
		}
		CHECK(mls_tree_num_leaves(t) <= before / 2);
	}
	check_hash_from_scratch(t);
	/* Grow past 1,024 again by adds. */
	while (mls_tree_num_members(t) < 1100) {
		struct mls_leaf_node leaf;
		uint32_t idx;

		make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 0, NULL);
		CHECK_OK(mls_tree_add_leaf(t, &leaf, &idx));
		mls_leaf_node_cleanup(&leaf);
	}
	CHECK_INT_EQ(mls_tree_num_leaves(t), 2048);
	check_hash_from_scratch(t);
	if (copy != NULL) {
		CHECK_OK(mls_tree_hash(copy, again));
		CHECK_MEM_EQ(again, sizeof again, copy_hash, sizeof copy_hash);
		check_hash_from_scratch(copy);
	}
	mls_tree_free(copy);
	mls_tree_free(t);
}

/* Encodings that are not ratchet trees (12.4.3.3). */
static void test_load_refusals(void)
{
	struct mls_ratchet_tree rt = {0};
	struct mls_tree *t = NULL;
	uint8_t *enc = NULL;
	size_t enc_len = 0;

	/* Every strict prefix of a good encoding is refused. */
	build_nodes(&rt, "LPLPL");
	CHECK_OK(mls_ratchet_tree_encode_bytes(&rt, &enc, &enc_len));
	CHECK_OK(mls_tree_load(&t, enc, enc_len));
	mls_tree_free(t);
	for (size_t i = 0; i < enc_len; i++) {
		int rc = mls_tree_load(&t, enc, i);

		CHECK(rc == HALQA_ERR_TRUNCATED || rc == HALQA_ERR_MALFORMED);
		CHECK(t == NULL);
	}
	free(enc);
	mls_ratchet_tree_cleanup(&rt);

	/* A trailing blank node. */
	build_nodes(&rt, "LPL__");
	CHECK_RC(mls_tree_from_nodes(&t, &rt), HALQA_ERR_MALFORMED);
	CHECK_INT_EQ(rt.num_nodes, 5); /* the caller still owns its nodes */
	CHECK_OK(mls_ratchet_tree_encode_bytes(&rt, &enc, &enc_len));
	CHECK_RC(mls_tree_load(&t, enc, enc_len), HALQA_ERR_MALFORMED);
	free(enc);
	mls_ratchet_tree_cleanup(&rt);

	/* No nodes at all. */
	{
		static const uint8_t empty[] = {0x00};

		CHECK_RC(mls_tree_load(&t, empty, sizeof empty), HALQA_ERR_MALFORMED);
	}

	/* A parent at an even index, a leaf at an odd one. */
	build_nodes(&rt, "PPL");
	CHECK_RC(mls_tree_from_nodes(&t, &rt), HALQA_ERR_MALFORMED);
	mls_ratchet_tree_cleanup(&rt);
	build_nodes(&rt, "LLL");
	CHECK_RC(mls_tree_from_nodes(&t, &rt), HALQA_ERR_MALFORMED);
	mls_ratchet_tree_cleanup(&rt);

	/* Trailing bytes after the tree. */
	build_nodes(&rt, "L");
	CHECK_OK(mls_ratchet_tree_encode_bytes(&rt, &enc, &enc_len));
	{
		uint8_t *longer = malloc(enc_len + 1);

		if (longer != NULL) {
			memcpy(longer, enc, enc_len);
			longer[enc_len] = 0;
			CHECK_RC(mls_tree_load(&t, longer, enc_len + 1), HALQA_ERR_MALFORMED);
			free(longer);
		}
	}
	free(enc);
	mls_ratchet_tree_cleanup(&rt);
	CHECK(t == NULL);
}

/* The unmerged_leaves rules of 7.1 and 12.4.3.1. */
static void test_unmerged_refusals(void)
{
	static const struct {
		uint32_t node;
		uint32_t leaves[2];
		size_t num;
	} bad[] = {
		{7, {6, 4}, 2}, /* not sorted */
		{7, {4, 4}, 2}, /* repeated */
		{1, {2}, 1},    /* leaf 2 is not below node 1 */
		{7, {9}, 1},    /* no such leaf */
		{7, {5}, 1},    /* blank leaf */
		{7, {1}, 1},    /* nodes 1 and 3, between leaf 1 and the root, lack it */
	};
	static const uint32_t ok_leaves[] = {1}, ok_right[] = {4, 6};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mls_ratchet_tree rt = {0};
		struct mls_tree *t = NULL;

		build_nodes(&rt, "LPLPLPL_L___L_L");
		set_unmerged(&rt, bad[i].node, bad[i].leaves, bad[i].num);
		CHECK_RC(mls_tree_from_nodes(&t, &rt), HALQA_ERR_INVALID);
		CHECK(t == NULL);
		mls_ratchet_tree_cleanup(&rt);
	}
	/* A leaf listed at every non-blank level is right. */
	{
		struct mls_ratchet_tree rt = {0};
		struct mls_tree *t = NULL;

		build_nodes(&rt, "LPLPLPL_L___L_L");
		set_unmerged(&rt, 7, ok_leaves, 1);
		set_unmerged(&rt, 3, ok_leaves, 1);
		set_unmerged(&rt, 1, ok_leaves, 1);
		CHECK_OK(mls_tree_from_nodes(&t, &rt));
		mls_tree_free(t);
		mls_ratchet_tree_cleanup(&rt);
		build_nodes(&rt, "LPLPLPL_L___L_L");
		set_unmerged(&rt, 7, ok_right, 2);
		CHECK_OK(mls_tree_from_nodes(&t, &rt));
		mls_tree_free(t);
		mls_ratchet_tree_cleanup(&rt);
	}
}

/*
 * A tree from the IETF tree-validation vectors (4 members, every parent
 * set by commits; suite 3) with its group id: the base for refusals that
 * need valid parent hashes and signatures.
 */
static const char vector_tree_hex[] =
	"43c1010120067f870adaf43e2ebdd3dab23563353d35152c9eeed6e560a09ea30e74f00e5b20f6d929d10bd5"
	"77fafb92d123701a30b67fa33c2db0d85ecc47ce53262bcbb9fc000105416c6963650200010e000100020003"
	"0004000500060007000002000103207dcabe89a0832fdffab1b7305d4470bab48c1aa7731e43f92ff323b6db"
	"1d38e900404032f4ee4c2a6a2a050a5f10ed1ac49beee99d663343ca80abb7c1ea1cea5018235a880016161e"
	"630c4263d221cc13a4bf0c93f9cbcc41ccd6537b415e51a2540b010220e036324a7499763639e1655619fde5"
	"5bf503b8db7fa8b0fa488ab6c4a12ecd5520cda913ca53ceec4f133bd54f8256a289354c7f9e0c7ed0b63f10"
	"7bc48ea6c97700010120d756105a5c910feab75eae120681811f084894b6ecbce6901f27c427afc962362042"
	"3326c9a81e656f6544be9b22eba06b89f1d30e769df6a3ddd01e12b9edfe56000106416c696365310200010e"
	"000100020003000400050006000700000200010320bbfdbbe69ff2a8b752aa58d4b4cdca12b6ffb65fac9d58"
	"4245ed6062f9ec007f004040c713ed3e17e7507380a013978f426c348e385f5bb177b2609a2e146ffeb69451"
	"b2c6037688cd6be1e21683b315e1a1c57e66675fea938bb349a0739c54a30c0b010220d655c5edff93998a07"
	"5c03f646aff898856ba4f0371d9d00899b5d5b09fbdd6900000101202e2206342a600fdf41b9d6305855c2da"
	"47b2a256e277a495c86dfa812c0d0f1b20a00f3e1d082464341dcc58787de6140b01ebfb0671973dbc61fc50"
	"945fb16be4000106416c696365320200010e000100020003000400050006000700000200010320d02c069931"
	"f402df21f574e3b787cf2bec23229d8173d3af804acb3be87cb47e00404007259d2f80f42d7c789848d5fcc5"
	"fe3eaf12537b0580921fd244440deff82e5a492c2c1629c898131adf90dabf7ede092665129567fa7c9ee452"
	"2dcbf45cf20b01022079ac1961bc5121ddaaa86b03e7ad5e4199c6fb09c92644d804e7f3197b2bbd3a2011d3"
	"971cd36fc9a8d976c3521465a73e69feecc0d78c48a782da6bebcabee3b40001012083f393cc28511b2c0dae"
	"a046e0361ff7b63e4c32e696e526bb2c093136d2971220385859daa6f0b6e70afadf3c78cc81970e71e49589"
	"b82b565fb4ed2443022182000106416c696365330200010e0001000200030004000500060007000002000101"
	"0000000063f31e420000000065d45fd2004040e5f662e8c38f79462057dcbdf675a0060851318775bd477d82"
	"4c7c5e3046f5e70b4b722ac369adfa2c8ff08f9d192a251e80308a50519a7572178d6d14729a0a";
static const char vector_group_hex[] =
	"b0ab2af2502ff68d0aadf9991f92193594cd8474bb369bf7ad732e44f3cefe04";

static void decode_vector_tree(struct mls_ratchet_tree *rt, uint8_t **gid, size_t *gid_len)
{
	size_t len = 0;
	uint8_t *bytes = harness_hex(vector_tree_hex, &len);

	memset(rt, 0, sizeof *rt);
	CHECK_OK(mls_ratchet_tree_decode_bytes(bytes, len, rt));
	free(bytes);
	*gid = harness_hex(vector_group_hex, gid_len);
}

static int verify_nodes(struct mls_ratchet_tree *rt, const uint8_t *gid, size_t gid_len)
{
	struct mls_tree_policy policy = {.group_id = gid, .group_id_len = gid_len};
	struct mls_tree *t = NULL;
	int rc;

	if ((rc = mls_tree_from_nodes(&t, rt)) != 0) {
		return rc;
	}
	rc = mls_tree_verify(t, &policy);
	mls_tree_free(t);
	return rc;
}

/* Parent hashes and signatures of a peer's tree (7.9.2, 7.3). */
static void test_verify_refusals(void)
{
	struct mls_ratchet_tree rt;
	uint8_t *gid;
	size_t gid_len;

	decode_vector_tree(&rt, &gid, &gid_len);
	CHECK_OK(verify_nodes(&rt, gid, gid_len));
	mls_ratchet_tree_cleanup(&rt);
	free(gid);

	/* The wrong group id: leaf signatures (sources update, commit) fail. */
	decode_vector_tree(&rt, &gid, &gid_len);
	gid[0] ^= 1;
	CHECK_RC(verify_nodes(&rt, gid, gid_len), HALQA_ERR_CRYPTO);
	mls_ratchet_tree_cleanup(&rt);
	free(gid);

	/* A parent's key changed: its parent hash no longer links to anything below. */
	decode_vector_tree(&rt, &gid, &gid_len);
	CHECK(rt.nodes[1].type == MLS_NODE_PARENT);
	rt.nodes[1].u.parent.encryption_key.data[0] ^= 1;
	CHECK_RC(verify_nodes(&rt, gid, gid_len), HALQA_ERR_INVALID);
	mls_ratchet_tree_cleanup(&rt);
	free(gid);

	/* A parent's parent_hash changed: its link to the root breaks. */
	decode_vector_tree(&rt, &gid, &gid_len);
	CHECK(rt.nodes[5].type == MLS_NODE_PARENT && rt.nodes[5].u.parent.parent_hash.len > 0);
	rt.nodes[5].u.parent.parent_hash.data[5] ^= 0x80;
	CHECK_RC(verify_nodes(&rt, gid, gid_len), HALQA_ERR_INVALID);
	mls_ratchet_tree_cleanup(&rt);
	free(gid);

	/*
	 * A leaf signature changed. Every leaf here is covered by some parent
	 * hash, so the parent-hash check refuses the tree first.
	 */
	decode_vector_tree(&rt, &gid, &gid_len);
	CHECK(rt.nodes[2].type == MLS_NODE_LEAF);
	rt.nodes[2].u.leaf.signature.data[10] ^= 1;
	CHECK_RC(verify_nodes(&rt, gid, gid_len), HALQA_ERR_INVALID);
	mls_ratchet_tree_cleanup(&rt);
	free(gid);

	/* The node a chain passed through blanked: the root is left with no link. */
	decode_vector_tree(&rt, &gid, &gid_len);
	mls_node_cleanup(&rt.nodes[5]);
	CHECK_RC(verify_nodes(&rt, gid, gid_len), HALQA_ERR_INVALID);
	mls_ratchet_tree_cleanup(&rt);
	free(gid);
}

/* Leaves from KeyPackages (no parents, no group context): uniqueness rules of 7.3. */
static struct mls_tree *key_package_tree(uint32_t members)
{
	struct mls_tree *t = mls_tree_new();

	for (uint32_t i = 0; t != NULL && i < members; i++) {
		struct mls_leaf_node leaf;
		uint32_t idx;

		make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, i, NULL);
		CHECK_OK(mls_tree_add_leaf(t, &leaf, &idx));
		mls_leaf_node_cleanup(&leaf);
	}
	return t;
}

static void test_tree_leaf_refusals(void)
{
	struct mls_tree_policy policy = {.group_id = group_id, .group_id_len = sizeof group_id};
	struct mls_tree *t = key_package_tree(3);
	struct mls_tree *loaded = NULL;
	struct mls_ratchet_tree rt = {0};
	uint8_t *enc = NULL, priv[MLS_SIG_PRIV_LEN];
	size_t enc_len = 0;

	CHECK_OK(mls_tree_verify(t, &policy));
	CHECK_OK(mls_tree_encode_bytes(t, &enc, &enc_len));
	mls_tree_free(t);

	/* A bad leaf signature in a tree without parents: nothing but the signature catches it. */
	CHECK_OK(mls_ratchet_tree_decode_bytes(enc, enc_len, &rt));
	rt.nodes[2].u.leaf.signature.data[3] ^= 4;
	CHECK_OK(mls_tree_from_nodes(&loaded, &rt));
	CHECK_RC(mls_tree_verify(loaded, &policy), HALQA_ERR_CRYPTO);
	mls_tree_free(loaded);
	mls_ratchet_tree_cleanup(&rt);

	/* Leaf 2 re-signed with leaf 0's encryption key: valid signature, duplicate key. */
	CHECK_OK(mls_ratchet_tree_decode_bytes(enc, enc_len, &rt));
	mls_node_cleanup(&rt.nodes[4]);
	rt.nodes[4].type = MLS_NODE_LEAF;
	make_leaf(&rt.nodes[4].u.leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 2, priv);
	CHECK_OK(mls_bytes_set(&rt.nodes[4].u.leaf.encryption_key,
			       rt.nodes[0].u.leaf.encryption_key.data,
			       rt.nodes[0].u.leaf.encryption_key.len));
	sign_leaf(&rt.nodes[4].u.leaf, priv, 2);
	CHECK_OK(mls_tree_from_nodes(&loaded, &rt));
	CHECK_RC(mls_tree_verify(loaded, &policy), HALQA_ERR_INVALID);
	mls_tree_free(loaded);
	mls_ratchet_tree_cleanup(&rt);

	/*
	 * Leaves 0 and 2 with one signature key, each validly signed: leaf 2 is
	 * a copy of leaf 0 given a fresh encryption key and re-signed.
	 */
	CHECK_OK(mls_ratchet_tree_decode_bytes(enc, enc_len, &rt));
	mls_node_cleanup(&rt.nodes[0]);
	rt.nodes[0].type = MLS_NODE_LEAF;
	make_leaf(&rt.nodes[0].u.leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 0, priv);
	mls_node_cleanup(&rt.nodes[4]);
	rt.nodes[4].type = MLS_NODE_LEAF;
	CHECK_OK(mls_leaf_node_copy(&rt.nodes[4].u.leaf, &rt.nodes[0].u.leaf));
	{
		uint8_t key[MLS_KEM_PUB_LEN];

		randombytes_buf(key, sizeof key);
		CHECK_OK(mls_bytes_set(&rt.nodes[4].u.leaf.encryption_key, key, sizeof key));
		sign_leaf(&rt.nodes[4].u.leaf, priv, 2);
	}
	CHECK_OK(mls_tree_from_nodes(&loaded, &rt));
	CHECK_RC(mls_tree_verify(loaded, &policy), HALQA_ERR_INVALID);
	mls_tree_free(loaded);
	mls_ratchet_tree_cleanup(&rt);
	free(enc);
	sodium_memzero(priv, sizeof priv);
}

/* mls_tree_check_leaf: each rule of 7.3 for a leaf arriving in a proposal or path. */
static void test_check_leaf(void)
{
	struct mls_tree_policy policy = {.group_id = group_id, .group_id_len = sizeof group_id};
	struct mls_tree *t = key_package_tree(4);
	struct mls_leaf_node leaf;
	uint8_t priv[MLS_SIG_PRIV_LEN];

	if (t == NULL) {
		return;
	}
	/* A good Update from leaf 1, and the same leaf refused for the wrong source or slot. */
	make_leaf(&leaf, MLS_LEAF_SOURCE_UPDATE, 1, priv);
	CHECK_OK(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_UPDATE, &policy));
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_COMMIT, &policy),
		 HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	/* Signed for leaf 1: as leaf 2 the signature does not verify. */
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 2, MLS_LEAF_SOURCE_UPDATE, &policy),
		 HALQA_ERR_CRYPTO);
	/* Update of a blank leaf. */
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 7, MLS_LEAF_SOURCE_UPDATE, &policy),
		 HALQA_ERR_INVALID);
	/* Another group's id. */
	{
		struct mls_tree_policy other = policy;

		other.group_id_len--;
		CHECK_RC(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_UPDATE, &other),
			 HALQA_ERR_CRYPTO);
	}
	/* Update keeping the old encryption key (7.3). */
	CHECK_OK(mls_bytes_set(&leaf.encryption_key, mls_tree_leaf(t, 1)->encryption_key.data,
			       MLS_KEM_PUB_LEN));
	sign_leaf(&leaf, priv, 1);
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_UPDATE, &policy),
		 HALQA_ERR_INVALID);
	/* Another member's encryption key. */
	CHECK_OK(mls_bytes_set(&leaf.encryption_key, mls_tree_leaf(t, 3)->encryption_key.data,
			       MLS_KEM_PUB_LEN));
	sign_leaf(&leaf, priv, 1);
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 1, MLS_LEAF_SOURCE_UPDATE, &policy),
		 HALQA_ERR_INVALID);
	mls_leaf_node_cleanup(&leaf);

	/* Another member's signature key. */
	make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 4, priv);
	CHECK_OK(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy));
	CHECK_OK(mls_bytes_set(&leaf.signature_key, mls_tree_leaf(t, 0)->signature_key.data,
			       MLS_SIG_PUB_LEN));
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	mls_leaf_node_cleanup(&leaf);

	/* Lifetime 1000..2000: checked when the policy gives a time. */
	make_leaf(&leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 4, priv);
	policy.now = 1500;
	CHECK_OK(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy));
	policy.now = 2001;
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	policy.now = 999;
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	policy.now = 0;
	policy.max_lifetime = 999;
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	policy.max_lifetime = 1000;
	CHECK_OK(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy));
	policy.max_lifetime = 0;

	/* A leaf whose capabilities lack its own credential type (and the group's). */
	{
		static const uint16_t both[] = {MLS_CREDENTIAL_BASIC, MLS_CREDENTIAL_X509};
		static const uint16_t x509[] = {MLS_CREDENTIAL_X509};
		struct mls_leaf_node other;

		CHECK_OK(mls_leaf_node_copy(&other, &leaf));
		mls_u16_list_cleanup(&other.capabilities.credentials);
		set_u16_list(&other.capabilities.credentials, x509, 1);
		sign_leaf(&other, priv, 4);
		CHECK_RC(mls_tree_check_leaf(t, &other, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
			 HALQA_ERR_INVALID);
		mls_u16_list_cleanup(&other.capabilities.credentials);
		set_u16_list(&other.capabilities.credentials, both, 2);
		sign_leaf(&other, priv, 4);
		CHECK_OK(mls_tree_check_leaf(t, &other, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy));
		mls_leaf_node_cleanup(&other);
	}

	/* A non-default extension not in the capabilities; then listed; then twice. */
	{
		struct mls_leaf_node other;
		static const uint16_t ext_types[] = {0x0a0a};

		CHECK_OK(mls_leaf_node_copy(&other, &leaf));
		other.extensions.items = calloc(2, sizeof *other.extensions.items);
		CHECK(other.extensions.items != NULL);
		if (other.extensions.items != NULL) {
			other.extensions.items[0].type = 0x0a0a;
			other.extensions.items[1].type = 0x0a0a;
			other.extensions.num = 1;
			sign_leaf(&other, priv, 4);
			CHECK_RC(mls_tree_check_leaf(t, &other, 4, MLS_LEAF_SOURCE_KEY_PACKAGE,
						     &policy),
				 HALQA_ERR_INVALID);
			set_u16_list(&other.capabilities.extensions, ext_types, 1);
			sign_leaf(&other, priv, 4);
			CHECK_OK(mls_tree_check_leaf(t, &other, 4, MLS_LEAF_SOURCE_KEY_PACKAGE,
						     &policy));
			other.extensions.num = 2;
			sign_leaf(&other, priv, 4);
			CHECK_RC(mls_tree_check_leaf(t, &other, 4, MLS_LEAF_SOURCE_KEY_PACKAGE,
						     &policy),
				 HALQA_ERR_INVALID);
		}
		mls_leaf_node_cleanup(&other);
	}

	/* required_capabilities in the group context (11.1). */
	{
		/* extension_types [0x0a0a], proposal_types [], credential_types [basic]. */
		static const uint8_t required[] = {0x02, 0x0a, 0x0a, 0x00, 0x02, 0x00, 0x01};
		static const uint8_t garbled[] = {0x02, 0x0a};
		struct mls_extension ext = {.type = MLS_EXT_REQUIRED_CAPABILITIES};
		struct mls_extension_list exts = {.items = &ext, .num = 1};

		ext.data.data = (uint8_t *)required;
		ext.data.len = sizeof required;
		policy.group_extensions = &exts;
		CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
			 HALQA_ERR_INVALID);
		{
			static const uint8_t only_cred[] = {0x00, 0x00, 0x02, 0x00, 0x01};

			ext.data.data = (uint8_t *)only_cred;
			ext.data.len = sizeof only_cred;
			CHECK_OK(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE,
						     &policy));
		}
		ext.data.data = (uint8_t *)garbled;
		ext.data.len = sizeof garbled;
		CHECK(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy) !=
		      HALQA_OK);
		policy.group_extensions = NULL;
	}

	/* Keys of the wrong length. */
	leaf.encryption_key.len = 31;
	CHECK_RC(mls_tree_check_leaf(t, &leaf, 4, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy),
		 HALQA_ERR_INVALID);
	leaf.encryption_key.len = 32;
	mls_leaf_node_cleanup(&leaf);
	sodium_memzero(priv, sizeof priv);
	mls_tree_free(t);
}

/* ---- TreeKEM ---- */

#define SIM_MAX 64

struct sim_member {
	struct mls_tree_private *priv;
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
};

struct sim {
	struct mls_tree *tree;
	struct sim_member m[SIM_MAX]; /* by leaf index */
};

static const struct mls_tree_policy sim_policy = {.group_id = group_id,
						  .group_id_len = sizeof group_id};

/* A KeyPackage leaf with a real X25519 key pair, its private keys returned. */
static void make_member_leaf(struct mls_leaf_node *leaf, uint8_t enc_priv[MLS_KEM_PRIV_LEN],
			     uint8_t sig_priv[MLS_SIG_PRIV_LEN])
{
	uint8_t enc_pub[MLS_KEM_PUB_LEN];

	make_leaf(leaf, MLS_LEAF_SOURCE_KEY_PACKAGE, 0, sig_priv);
	randombytes_buf(enc_priv, MLS_KEM_PRIV_LEN);
	if (crypto_scalarmult_base(enc_pub, enc_priv) != 0 ||
	    mls_bytes_set(&leaf->encryption_key, enc_pub, sizeof enc_pub) != 0) {
		abort();
	}
	sign_leaf(leaf, sig_priv, 0);
}

/* Adds a member to the canonical tree; its private state waits for the Welcome. */
static uint32_t sim_add(struct sim *s, uint8_t enc_priv[MLS_KEM_PRIV_LEN])
{
	struct mls_leaf_node leaf;
	uint32_t idx = 0;

	make_member_leaf(&leaf, enc_priv, s->m[SIM_MAX - 1].sig_priv);
	CHECK_OK(mls_tree_add_leaf(s->tree, &leaf, &idx));
	mls_leaf_node_cleanup(&leaf);
	if (idx < SIM_MAX - 1) {
		memcpy(s->m[idx].sig_priv, s->m[SIM_MAX - 1].sig_priv, MLS_SIG_PRIV_LEN);
	}
	return idx;
}

static void group_context_for(struct mls_tree *t, uint8_t **gc, size_t *gc_len)
{
	struct mls_group_context ctx;
	uint8_t hash[MLS_HASH_LEN];

	memset(&ctx, 0, sizeof ctx);
	CHECK_OK(mls_tree_hash(t, hash));
	ctx.version = MLS_VERSION_MLS10;
	ctx.cipher_suite = 3;
	ctx.group_id.data = (uint8_t *)group_id;
	ctx.group_id.len = sizeof group_id;
	ctx.epoch = 7;
	ctx.tree_hash.data = hash;
	ctx.tree_hash.len = sizeof hash;
	CHECK_OK(mls_group_context_encode_bytes(&ctx, gc, gc_len));
}

/*
 * One commit by |c| with an UpdatePath after |num_joiners| adds (whose
 * enc keys are in |joiner_priv|, leaves in |joiners|): every other member
 * merges it into its own copy and decrypts; every joiner derives its path
 * keys from the path secret it would get in the Welcome. All must agree
 * on the tree hash and the commit secret.
 */
static void sim_commit(struct sim *s, uint32_t c, const uint32_t *joiners,
		       uint8_t (*joiner_priv)[MLS_KEM_PRIV_LEN], size_t num_joiners)
{
	struct mls_tree *ours = NULL, *theirs = NULL;
	struct mls_tree_private *next = NULL;
	struct mls_update_path path;
	uint8_t hash[MLS_HASH_LEN], their_hash[MLS_HASH_LEN], commit[MLS_HASH_LEN];
	uint8_t got[MLS_HASH_LEN], *gc = NULL;
	size_t gc_len = 0;

	memset(&path, 0, sizeof path);
	for (uint32_t j = 0; j < SIM_MAX; j++) {
		if (s->m[j].priv != NULL) {
			mls_tree_private_prune(s->m[j].priv, s->tree);
		}
	}
	CHECK_OK(mls_tree_copy(&ours, s->tree));
	CHECK_OK(mls_tree_private_copy(&next, s->m[c].priv));
	CHECK_OK(mls_tree_path_generate(ours, next, NULL, s->m[c].sig_priv, group_id,
					sizeof group_id));
	group_context_for(ours, &gc, &gc_len);
	CHECK_OK(mls_tree_path_encrypt(ours, next, joiners, num_joiners, gc, gc_len, &path));
	CHECK_OK(mls_tree_private_commit_secret(next, commit));
	CHECK_OK(mls_tree_private_check(next, ours));

	CHECK_OK(mls_tree_copy(&theirs, s->tree));
	CHECK_OK(mls_tree_merge_path(theirs, c, &path, &sim_policy));
	CHECK_OK(mls_tree_hash(theirs, their_hash));
	CHECK_OK(mls_tree_hash(ours, hash));
	CHECK_MEM_EQ(their_hash, sizeof their_hash, hash, sizeof hash);
	/* The caches survived installing a path. */
	check_hash_from_scratch(ours);
	check_hash_from_scratch(theirs);
	/* Joiners excluded: the path is valid for a verifying newcomer too. */
	CHECK_OK(mls_tree_verify_parent_hashes(theirs));

	for (uint32_t j = 0; j < SIM_MAX; j++) {
		int joiner = 0;

		for (size_t k = 0; k < num_joiners; k++) {
			joiner |= joiners[k] == j;
		}
		if (j == c || joiner || s->m[j].priv == NULL) {
			continue;
		}
		CHECK_OK(mls_tree_path_decrypt(theirs, s->m[j].priv, c, &path, joiners, num_joiners,
					       gc, gc_len, got, NULL));
		CHECK_MEM_EQ(got, sizeof got, commit, sizeof commit);
		CHECK_OK(mls_tree_private_check(s->m[j].priv, theirs));
	}
	for (size_t k = 0; k < num_joiners; k++) {
		uint8_t secret[MLS_HASH_LEN];
		uint32_t node = 0, j = joiners[k];

		CHECK_OK(mls_tree_private_new(&s->m[j].priv, j, joiner_priv[k]));
		CHECK_OK(mls_tree_private_path_secret_for(next, ours, j, secret, &node));
		CHECK_OK(mls_tree_private_join_path(s->m[j].priv, theirs, node, secret));
		CHECK_OK(mls_tree_private_check(s->m[j].priv, theirs));
		sodium_memzero(secret, sizeof secret);
	}
	mls_tree_private_forget_path(next);
	CHECK_RC(mls_tree_private_commit_secret(next, got), HALQA_ERR_NOT_FOUND);
	mls_tree_private_free(s->m[c].priv);
	s->m[c].priv = next;
	mls_tree_free(s->tree);
	s->tree = theirs;
	mls_tree_free(ours);
	mls_update_path_cleanup(&path);
	free(gc);
}

static void sim_free(struct sim *s)
{
	for (uint32_t j = 0; j < SIM_MAX; j++) {
		mls_tree_private_free(s->m[j].priv);
		sodium_memzero(s->m[j].sig_priv, sizeof s->m[j].sig_priv);
	}
	mls_tree_free(s->tree);
}

/* Starts a group of one and grows it to |size| in one commit. */
static void sim_start(struct sim *s, uint32_t size)
{
	uint8_t enc_priv[MLS_KEM_PRIV_LEN], (*jp)[MLS_KEM_PRIV_LEN];
	uint32_t *joiners, idx;

	memset(s, 0, sizeof *s);
	s->tree = mls_tree_new();
	idx = sim_add(s, enc_priv);
	CHECK_INT_EQ(idx, 0);
	CHECK_OK(mls_tree_private_new(&s->m[0].priv, 0, enc_priv));
	joiners = calloc(size, sizeof *joiners);
	jp = calloc(size, sizeof *jp);
	if (joiners == NULL || jp == NULL) {
		abort();
	}
	for (uint32_t k = 1; k < size; k++) {
		joiners[k - 1] = sim_add(s, jp[k - 1]);
	}
	sim_commit(s, 0, joiners, jp, size - 1);
	sodium_memzero(jp, size * sizeof *jp);
	free(jp);
	free(joiners);
	sodium_memzero(enc_priv, sizeof enc_priv);
}

/*
 * A seeded run of commits with adds, removes and updates: after every
 * commit all members agree on the commit secret and hold exactly the keys
 * the tree says they may (sim_commit checks), and a removed member's
 * state no longer fits the tree.
 */
static void test_treekem_sequence(void)
{
	struct sim s;

	sim_start(&s, 5);
	for (int round = 0; round < 25; round++) {
		uint32_t joiners[2], c, n = mls_tree_num_leaves(s.tree);
		uint8_t jp[2][MLS_KEM_PRIV_LEN];
		size_t num_joiners = 0;

		/* Maybe remove someone. */
		if (mls_tree_num_members(s.tree) > 3 && rng(3) == 0) {
			uint32_t r = rng(n);

			if (s.m[r].priv != NULL) {
				struct mls_tree_private *gone = s.m[r].priv;

				CHECK_OK(mls_tree_remove_leaf(s.tree, r));
				s.m[r].priv = NULL;
				CHECK_RC(mls_tree_private_check(gone, s.tree), HALQA_ERR_INVALID);
				mls_tree_private_free(gone);
			}
		}
		/* Maybe add one or two. */
		for (uint32_t k = rng(3); k > 0 && mls_tree_num_members(s.tree) < 40; k--) {
			uint32_t j = sim_add(&s, jp[num_joiners]);

			CHECK(j < SIM_MAX - 1);
			joiners[num_joiners++] = j;
		}
		do {
			c = rng(mls_tree_num_leaves(s.tree));
		} while (s.m[c].priv == NULL || mls_tree_leaf(s.tree, c) == NULL);
		sim_commit(&s, c, joiners, jp, num_joiners);
		sodium_memzero(jp, sizeof jp);
	}
	sim_free(&s);
}

/*
 * Parent-hash links across unmerged leaves (7.9.2): after leaf 1 is
 * removed and leaf 0 commits (node 1 is then blank and skipped), a new
 * member lands at leaf 1, unmerged at nodes 3 and 7. Node 3 is covered by
 * leaf 0 with the rest of the resolution of node 1 being exactly node 3's
 * unmerged leaf; dropping that entry breaks the link.
 */
static void test_parent_hash_unmerged(void)
{
	struct sim s;
	struct mls_ratchet_tree rt = {0};
	struct mls_tree *t = NULL;
	uint8_t enc_priv[MLS_KEM_PRIV_LEN], *enc = NULL;
	size_t enc_len = 0;

	sim_start(&s, 5);
	CHECK_OK(mls_tree_remove_leaf(s.tree, 1));
	mls_tree_private_free(s.m[1].priv);
	s.m[1].priv = NULL;
	sim_commit(&s, 0, NULL, NULL, 0);
	CHECK(mls_tree_node(s.tree, 1)->type == MLS_NODE_BLANK);
	CHECK_INT_EQ(sim_add(&s, enc_priv), 1);
	CHECK_INT_EQ(mls_tree_node(s.tree, 3)->u.parent.num_unmerged_leaves, 1);
	CHECK_INT_EQ(mls_tree_node(s.tree, 7)->u.parent.num_unmerged_leaves, 1);
	CHECK_OK(mls_tree_verify(s.tree, &sim_policy));

	CHECK_OK(mls_tree_encode_bytes(s.tree, &enc, &enc_len));
	CHECK_OK(mls_ratchet_tree_decode_bytes(enc, enc_len, &rt));
	rt.nodes[3].u.parent.num_unmerged_leaves = 0;
	rt.nodes[7].u.parent.num_unmerged_leaves = 0;
	CHECK_OK(mls_tree_from_nodes(&t, &rt));
	CHECK_RC(mls_tree_verify_parent_hashes(t), HALQA_ERR_INVALID);
	mls_tree_free(t);
	mls_ratchet_tree_cleanup(&rt);
	free(enc);
	sodium_memzero(enc_priv, sizeof enc_priv);
	sim_free(&s);
}

/* The private state refuses keys the tree does not back, and forgets stale ones. */
static void test_private_state_refusals(void)
{
	struct sim s;
	struct mls_tree_private *p = NULL, *copy = NULL;
	struct mls_update_path path;
	uint8_t secret[MLS_HASH_LEN], other[MLS_KEM_PRIV_LEN], commit[MLS_HASH_LEN];
	uint32_t node;

	sim_start(&s, 4);
	memset(&path, 0, sizeof path);
	/* A leaf key that is not the leaf's. */
	randombytes_buf(other, sizeof other);
	CHECK_OK(mls_tree_private_new(&p, 2, other));
	CHECK_RC(mls_tree_private_check(p, s.tree), HALQA_ERR_INVALID);
	mls_tree_private_free(p);
	/* A path secret whose key is not the node's; a node off our direct path; a leaf. */
	CHECK_OK(mls_tree_private_copy(&p, s.m[2].priv));
	randombytes_buf(secret, sizeof secret);
	CHECK_RC(mls_tree_private_set_path_secret(p, s.tree, 3, secret), HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_private_set_path_secret(p, s.tree, 1, secret), HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_private_set_path_secret(p, s.tree, 4, secret), HALQA_ERR_INVALID);
	CHECK_RC(mls_tree_private_join_path(p, s.tree, 3, secret), HALQA_ERR_INVALID);
	CHECK_OK(mls_tree_private_check(p, s.tree));
	/* No generated path: nothing to encrypt, no commit or joiner secret. */
	CHECK_RC(mls_tree_private_commit_secret(p, commit), HALQA_ERR_NOT_FOUND);
	CHECK_RC(mls_tree_private_path_secret_for(p, s.tree, 3, secret, &node),
		 HALQA_ERR_NOT_FOUND);
	CHECK_RC(mls_tree_path_encrypt(s.tree, p, NULL, 0, NULL, 0, &path), HALQA_ERR_INVALID);
	/* An Update of leaf 3 blanks node 3 (and the root): leaf 2 must forget those keys. */
	{
		struct mls_leaf_node leaf;

		make_member_leaf(&leaf, other, s.m[3].sig_priv);
		CHECK_OK(mls_tree_update_leaf(s.tree, 3, &leaf));
		mls_leaf_node_cleanup(&leaf);
	}
	CHECK_RC(mls_tree_private_check(p, s.tree), HALQA_ERR_INVALID);
	CHECK_OK(mls_tree_private_copy(&copy, p));
	mls_tree_private_prune(copy, s.tree);
	CHECK_OK(mls_tree_private_check(copy, s.tree));
	mls_tree_private_free(copy);
	mls_tree_private_free(p);
	sodium_memzero(other, sizeof other);
	sim_free(&s);
}

/* Merging and decrypting refuse a broken path and leave tree and state unchanged. */
static void test_treekem_refusals(void)
{
	struct sim s;
	struct mls_tree *ours = NULL, *theirs = NULL;
	struct mls_tree_private *next = NULL;
	struct mls_update_path path;
	uint8_t *gc = NULL, *before, commit[MLS_HASH_LEN], scratch[MLS_HASH_LEN];
	size_t gc_len = 0, before_len;
	const uint32_t c = 1, r = 6;

	sim_start(&s, 8);
	memset(&path, 0, sizeof path);
	CHECK_OK(mls_tree_copy(&ours, s.tree));
	CHECK_OK(mls_tree_private_copy(&next, s.m[c].priv));
	/* A signing key that is not the leaf's. */
	CHECK_RC(mls_tree_path_generate(ours, next, NULL, s.m[c + 1].sig_priv, group_id,
					sizeof group_id),
		 HALQA_ERR_ARG);
	CHECK_OK(mls_tree_path_generate(ours, next, NULL, s.m[c].sig_priv, group_id,
					sizeof group_id));
	group_context_for(ours, &gc, &gc_len);
	CHECK_OK(mls_tree_path_encrypt(ours, next, NULL, 0, gc, gc_len, &path));
	CHECK_OK(mls_tree_private_commit_secret(next, commit));
	theirs = s.tree;
	before = snapshot(theirs, &before_len);

	/* A path node key changed: the leaf's parent hash no longer matches. */
	path.nodes[1].encryption_key.data[0] ^= 1;
	CHECK_RC(mls_tree_merge_path(theirs, c, &path, &sim_policy), HALQA_ERR_INVALID);
	path.nodes[1].encryption_key.data[0] ^= 1;
	/* A path node key already in the tree (another member's leaf key). */
	{
		struct mls_bytes saved = path.nodes[0].encryption_key;

		CHECK_OK(mls_bytes_copy(&path.nodes[0].encryption_key,
					&mls_tree_leaf(theirs, 5)->encryption_key));
		CHECK_RC(mls_tree_merge_path(theirs, c, &path, &sim_policy), HALQA_ERR_INVALID);
		mls_bytes_cleanup(&path.nodes[0].encryption_key);
		path.nodes[0].encryption_key = saved;
	}
	/* One node missing. */
	path.num_nodes--;
	CHECK_RC(mls_tree_merge_path(theirs, c, &path, &sim_policy), HALQA_ERR_INVALID);
	path.num_nodes++;
	/* The leaf signature, the sender, and the group id. */
	path.leaf_node.signature.data[0] ^= 1;
	CHECK_RC(mls_tree_merge_path(theirs, c, &path, &sim_policy), HALQA_ERR_CRYPTO);
	path.leaf_node.signature.data[0] ^= 1;
	CHECK_RC(mls_tree_merge_path(theirs, c + 1, &path, &sim_policy), HALQA_ERR_INVALID);
	{
		struct mls_tree_policy other = sim_policy;

		other.group_id_len--;
		CHECK_RC(mls_tree_merge_path(theirs, c, &path, &other), HALQA_ERR_CRYPTO);
	}
	check_unchanged(theirs, before, before_len);
	free(before);
	/* Decrypting before merging: the path does not fit the tree. */
	CHECK_RC(mls_tree_path_decrypt(theirs, s.m[r].priv, c, &path, NULL, 0, gc, gc_len, scratch,
				       NULL),
		 HALQA_ERR_INVALID);

	CHECK_OK(mls_tree_merge_path(theirs, c, &path, &sim_policy));
	/* The sender itself, a tampered ciphertext, the wrong context, a missing ciphertext. */
	CHECK_RC(mls_tree_path_decrypt(theirs, next, c, &path, NULL, 0, gc, gc_len, scratch, NULL),
		 HALQA_ERR_INVALID);
	{
		size_t i = path.num_nodes - 1; /* the root: leaf 6 sits below its copath child */
		struct mls_hpke_ciphertext *ct = path.nodes[i].encrypted_path_secret;
		size_t num = path.nodes[i].num_encrypted_path_secret;

		CHECK(num >= 1);
		for (size_t k = 0; k < num; k++) {
			ct[k].ciphertext.data[0] ^= 1;
		}
		CHECK_RC(mls_tree_path_decrypt(theirs, s.m[r].priv, c, &path, NULL, 0, gc, gc_len,
					       scratch, NULL),
			 HALQA_ERR_CRYPTO);
		for (size_t k = 0; k < num; k++) {
			ct[k].ciphertext.data[0] ^= 1;
		}
		gc[gc_len - 1] ^= 1;
		CHECK_RC(mls_tree_path_decrypt(theirs, s.m[r].priv, c, &path, NULL, 0, gc, gc_len,
					       scratch, NULL),
			 HALQA_ERR_CRYPTO);
		gc[gc_len - 1] ^= 1;
		path.nodes[i].num_encrypted_path_secret--;
		CHECK_RC(mls_tree_path_decrypt(theirs, s.m[r].priv, c, &path, NULL, 0, gc, gc_len,
					       scratch, NULL),
			 HALQA_ERR_INVALID);
		path.nodes[i].num_encrypted_path_secret++;
	}
	/* The member's state is intact: it still decrypts the honest path. */
	{
		uint8_t got[MLS_HASH_LEN];

		CHECK_OK(mls_tree_path_decrypt(theirs, s.m[r].priv, c, &path, NULL, 0, gc, gc_len,
					       got, NULL));
		CHECK_MEM_EQ(got, sizeof got, commit, sizeof commit);
	}
	mls_update_path_cleanup(&path);
	mls_tree_private_free(next);
	mls_tree_free(ours);
	free(gc);
	sim_free(&s);
}

/*
 * TreeKEM on a 1,000-member group: one commit after a single add encrypts
 * to the copath resolutions (the joiner excluded) and a sample of members
 * decrypts it.
 */
static void test_treekem_large(void)
{
	struct sim s;
	struct mls_tree *ours = NULL, *theirs = NULL;
	struct mls_tree_private *next = NULL, *mine = NULL;
	struct mls_update_path path;
	uint8_t *gc = NULL, commit[MLS_HASH_LEN], got[MLS_HASH_LEN], enc_priv[MLS_KEM_PRIV_LEN];
	size_t gc_len = 0, total = 0;
	uint32_t joiner;

	/* Member 0 builds the group: 999 joiners in one commit. */
	memset(&s, 0, sizeof s);
	s.tree = mls_tree_new();
	(void)sim_add(&s, enc_priv);
	CHECK_OK(mls_tree_private_new(&mine, 0, enc_priv));
	for (uint32_t k = 1; k < 1000; k++) {
		struct mls_leaf_node leaf;
		uint8_t sig[MLS_SIG_PRIV_LEN], priv[MLS_KEM_PRIV_LEN];
		uint32_t idx;

		make_member_leaf(&leaf, priv, sig);
		CHECK_OK(mls_tree_add_leaf(s.tree, &leaf, &idx));
		mls_leaf_node_cleanup(&leaf);
		/* Keep a sample of members' keys to decrypt with. */
		if (k % 97 == 0) {
			CHECK_OK(mls_tree_private_new(&s.m[k / 97].priv, idx, priv));
		}
		sodium_memzero(priv, sizeof priv);
		sodium_memzero(sig, sizeof sig);
	}
	s.m[0].priv = mine;
	memcpy(s.m[0].sig_priv, s.m[SIM_MAX - 1].sig_priv, MLS_SIG_PRIV_LEN);
	CHECK_INT_EQ(mls_tree_num_leaves(s.tree), 1024);
	/* A full path from member 0, then an add and a path from member 0 excluding the joiner. */
	memset(&path, 0, sizeof path);
	CHECK_OK(mls_tree_copy(&ours, s.tree));
	CHECK_OK(mls_tree_private_copy(&next, mine));
	CHECK_OK(mls_tree_path_generate(ours, next, NULL, s.m[0].sig_priv, group_id,
					sizeof group_id));
	group_context_for(ours, &gc, &gc_len);
	joiner = 999;
	CHECK_OK(mls_tree_path_encrypt(ours, next, &joiner, 1, gc, gc_len, &path));
	for (size_t i = 0; i < path.num_nodes; i++) {
		total += path.nodes[i].num_encrypted_path_secret;
	}
	/* Nobody has merged a path yet: every leaf but ours and the joiner's is a recipient. */
	CHECK_INT_EQ(total, 998);
	CHECK_OK(mls_tree_copy(&theirs, s.tree));
	CHECK_OK(mls_tree_merge_path(theirs, 0, &path, &sim_policy));
	check_hash_from_scratch(theirs);
	CHECK_OK(mls_tree_private_commit_secret(next, commit));
	CHECK_OK(mls_tree_verify_parent_hashes(theirs));
	CHECK_OK(mls_tree_verify(theirs, &sim_policy));
	/* The joiner is excluded: it holds no ciphertext (a Welcome gives it its secret). */
	{
		uint32_t node;
		uint8_t secret[MLS_HASH_LEN];

		CHECK_OK(mls_tree_private_path_secret_for(next, ours, 999, secret, &node));
		CHECK_INT_EQ(node, 1023);
		sodium_memzero(secret, sizeof secret);
	}
	/* A sample of members decrypts the path and agrees on the commit secret. */
	for (uint32_t j = 1; j < SIM_MAX; j++) {
		if (s.m[j].priv == NULL) {
			continue;
		}
		CHECK_OK(mls_tree_path_decrypt(theirs, s.m[j].priv, 0, &path, &joiner, 1, gc, gc_len,
					       got, NULL));
		CHECK_MEM_EQ(got, sizeof got, commit, sizeof commit);
		CHECK_OK(mls_tree_private_check(s.m[j].priv, theirs));
	}
	mls_update_path_cleanup(&path);
	mls_tree_private_free(next);
	mls_tree_free(ours);
	mls_tree_free(theirs);
	free(gc);
	sodium_memzero(enc_priv, sizeof enc_priv);
	sim_free(&s);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	if (getenv("HALQA_TEST_DEBUG") != NULL) {
		halqa_log_set_level(HALQA_LOG_DEBUG);
	}
	RUN(test_resolution_example);
	RUN(test_filtered_direct_path_example);
	RUN(test_add_placement);
	RUN(test_update_and_remove);
	RUN(test_large_tree_sequence);
	RUN(test_load_refusals);
	RUN(test_unmerged_refusals);
	RUN(test_verify_refusals);
	RUN(test_tree_leaf_refusals);
	RUN(test_check_leaf);
	RUN(test_treekem_sequence);
	RUN(test_treekem_refusals);
	RUN(test_parent_hash_unmerged);
	RUN(test_private_state_refusals);
	RUN(test_treekem_large);
	return harness_report();
}
