/*
 * mls_tree_math.c: RFC 9420 Appendix C array-based tree arithmetic.
 *
 * All relations are bit operations on the node index (parent = 01x, left
 * child = 00x, right child = 10x in the high bits). The RFC's Python works
 * on unbounded integers; here every shift that could reach 32 is done on a
 * uint64_t, and every public entry first checks that the tree size is a
 * full tree we accept and that the node lies inside it, because the
 * indices arrive from peers. For a full tree parent() never leaves the
 * tree, so no relation needs the RFC's left-balanced corrections.
 */
#include "halqa/mls_tree_math.h"

int mls_tree_math_valid_leaves(uint32_t n_leaves)
{
	return n_leaves != 0 && n_leaves <= MLS_TREE_MATH_MAX_LEAVES &&
	       (n_leaves & (n_leaves - 1)) == 0;
}

uint32_t mls_tree_math_level(uint32_t x)
{
	uint32_t k = 0;

	while (k < 32 && ((x >> k) & 1u) == 1u) {
		k++;
	}
	return k;
}

int mls_tree_math_is_leaf(uint32_t x)
{
	return (x & 1u) == 0;
}

/* Node |x| lies in a valid tree of |n_leaves| leaves. */
static int check_node(uint32_t x, uint32_t n_leaves)
{
	if (!mls_tree_math_valid_leaves(n_leaves)) {
		return HALQA_ERR_ARG;
	}
	/* node_width = 2n - 1 fits in 32 bits for n <= 2^31. */
	if (x >= 2 * n_leaves - 1) {
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

int mls_tree_math_node_width(uint32_t n_leaves, uint32_t *out)
{
	if (!mls_tree_math_valid_leaves(n_leaves)) {
		return HALQA_ERR_ARG;
	}
	*out = 2 * n_leaves - 1;
	return HALQA_OK;
}

int mls_tree_math_root(uint32_t n_leaves, uint32_t *out)
{
	if (!mls_tree_math_valid_leaves(n_leaves)) {
		return HALQA_ERR_ARG;
	}
	/* (1 << log2(2n - 1)) - 1 = n - 1 when n is a power of two. */
	*out = n_leaves - 1;
	return HALQA_OK;
}

int mls_tree_math_leaf_to_node(uint32_t leaf, uint32_t n_leaves, uint32_t *out)
{
	if (!mls_tree_math_valid_leaves(n_leaves) || leaf >= n_leaves) {
		return HALQA_ERR_ARG;
	}
	*out = 2 * leaf;
	return HALQA_OK;
}

int mls_tree_math_node_to_leaf(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK) {
		return rc;
	}
	if (!mls_tree_math_is_leaf(x)) {
		return HALQA_ERR_NOT_FOUND;
	}
	*out = x / 2;
	return HALQA_OK;
}

int mls_tree_math_left(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	uint32_t k;
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK) {
		return rc;
	}
	if ((k = mls_tree_math_level(x)) == 0) {
		return HALQA_ERR_NOT_FOUND;
	}
	*out = x ^ (UINT32_C(1) << (k - 1));
	return HALQA_OK;
}

int mls_tree_math_right(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	uint32_t k;
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK) {
		return rc;
	}
	if ((k = mls_tree_math_level(x)) == 0) {
		return HALQA_ERR_NOT_FOUND;
	}
	/* In range, k <= 30 (the root of 2^31 leaves has level 31 but k-1 = 30). */
	*out = (uint32_t)((uint64_t)x ^ ((uint64_t)3 << (k - 1)));
	return HALQA_OK;
}

int mls_tree_math_parent(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	uint64_t k, b;
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK) {
		return rc;
	}
	if (x == n_leaves - 1) {
		return HALQA_ERR_NOT_FOUND;
	}
	/* Below the root, k < log2(n) <= 31, so the result stays under 2n - 1. */
	k = mls_tree_math_level(x);
	b = ((uint64_t)x >> (k + 1)) & 1u;
	*out = (uint32_t)(((uint64_t)x | ((uint64_t)1 << k)) ^ (b << (k + 1)));
	return HALQA_OK;
}

int mls_tree_math_sibling(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	uint32_t p;
	int rc;

	if ((rc = mls_tree_math_parent(x, n_leaves, &p)) != HALQA_OK) {
		return rc;
	}
	return x < p ? mls_tree_math_right(p, n_leaves, out) : mls_tree_math_left(p, n_leaves, out);
}

int mls_tree_math_direct_path(uint32_t x, uint32_t n_leaves,
			      uint32_t out[static MLS_TREE_MATH_MAX_PATH], uint32_t *num_out)
{
	uint32_t num = 0, root = n_leaves - 1;
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK) {
		return rc;
	}
	/* Each step raises the level by at least one; the root is at most level 31. */
	while (x != root) {
		if (num >= MLS_TREE_MATH_MAX_PATH) {
			return HALQA_ERR_INTERNAL;
		}
		if ((rc = mls_tree_math_parent(x, n_leaves, &x)) != HALQA_OK) {
			return rc;
		}
		out[num++] = x;
	}
	*num_out = num;
	return HALQA_OK;
}

int mls_tree_math_copath(uint32_t x, uint32_t n_leaves, uint32_t out[static MLS_TREE_MATH_MAX_PATH],
			 uint32_t *num_out)
{
	uint32_t path[MLS_TREE_MATH_MAX_PATH], num, cur = x;
	int rc;

	if ((rc = mls_tree_math_direct_path(x, n_leaves, path, &num)) != HALQA_OK) {
		return rc;
	}
	/* The copath is the sibling of x and of every direct-path node but the root. */
	for (uint32_t i = 0; i < num; i++) {
		if ((rc = mls_tree_math_sibling(cur, n_leaves, &out[i])) != HALQA_OK) {
			return rc;
		}
		cur = path[i];
	}
	*num_out = num;
	return HALQA_OK;
}

int mls_tree_math_is_ancestor(uint32_t a, uint32_t x)
{
	uint64_t k = mls_tree_math_level(a);

	/* The subtree under a (level k) is every node agreeing with a above bit k. */
	return mls_tree_math_level(x) <= k && ((uint64_t)a >> (k + 1)) == ((uint64_t)x >> (k + 1));
}

int mls_tree_math_common_ancestor(uint32_t x, uint32_t y, uint32_t n_leaves, uint32_t *out)
{
	uint64_t xn = x, yn = y, k = 0;
	int rc;

	if ((rc = check_node(x, n_leaves)) != HALQA_OK ||
	    (rc = check_node(y, n_leaves)) != HALQA_OK) {
		return rc;
	}
	if (mls_tree_math_is_ancestor(y, x)) {
		*out = y;
		return HALQA_OK;
	}
	if (mls_tree_math_is_ancestor(x, y)) {
		*out = x;
		return HALQA_OK;
	}
	/* Neither contains the other: strip low bits until the prefixes agree. */
	while (xn != yn) {
		xn >>= 1;
		yn >>= 1;
		k++;
	}
	*out = (uint32_t)((xn << k) + ((uint64_t)1 << (k - 1)) - 1);
	return HALQA_OK;
}
