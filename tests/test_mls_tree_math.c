/*
 * test_mls_tree_math.c: the array-based tree arithmetic beyond the vector
 * file (which covers left, right, parent and sibling): direct paths,
 * copaths and common ancestors against their set-based definitions in RFC
 * 9420 Appendix C, the largest tree we accept, and refusal of tree sizes
 * that are not full trees and of nodes outside the tree.
 */
#include "halqa/mls_tree_math.h"

#include "harness.h"

/* Children by the arithmetic definition: x -/+ 2^(k-1) at level k. */
static void test_children_and_parent_agree(void)
{
	for (uint32_t n = 1; n <= 256; n *= 2) {
		uint32_t width, root, c, p;

		CHECK_OK(mls_tree_math_node_width(n, &width));
		CHECK_OK(mls_tree_math_root(n, &root));
		for (uint32_t x = 0; x < width; x++) {
			uint32_t k = mls_tree_math_level(x);

			if (k == 0) {
				CHECK_RC(mls_tree_math_left(x, n, &c), HALQA_ERR_NOT_FOUND);
				CHECK_RC(mls_tree_math_right(x, n, &c), HALQA_ERR_NOT_FOUND);
			} else {
				CHECK_OK(mls_tree_math_left(x, n, &c));
				CHECK_INT_EQ(c, x - (1u << (k - 1)));
				CHECK_OK(mls_tree_math_parent(c, n, &p));
				CHECK_INT_EQ(p, x);
				CHECK_OK(mls_tree_math_right(x, n, &c));
				CHECK_INT_EQ(c, x + (1u << (k - 1)));
				CHECK_OK(mls_tree_math_parent(c, n, &p));
				CHECK_INT_EQ(p, x);
			}
			if (x == root) {
				CHECK_RC(mls_tree_math_parent(x, n, &p), HALQA_ERR_NOT_FOUND);
				CHECK_RC(mls_tree_math_sibling(x, n, &p), HALQA_ERR_NOT_FOUND);
			}
		}
	}
}

/* Direct path by walking parents, copath by siblings, common ancestor by sets. */
static void test_paths_match_definitions(void)
{
	for (uint32_t n = 1; n <= 64; n *= 2) {
		uint32_t width, root;

		CHECK_OK(mls_tree_math_node_width(n, &width));
		CHECK_OK(mls_tree_math_root(n, &root));
		for (uint32_t x = 0; x < width; x++) {
			uint32_t dp[MLS_TREE_MATH_MAX_PATH], cp[MLS_TREE_MATH_MAX_PATH];
			uint32_t num_dp = 99, num_cp = 99, cur = x, s;

			CHECK_OK(mls_tree_math_direct_path(x, n, dp, &num_dp));
			CHECK_OK(mls_tree_math_copath(x, n, cp, &num_cp));
			CHECK_INT_EQ(num_dp, num_cp);
			CHECK_INT_EQ(num_dp, x == root ? 0 : 0 + (uint32_t)__builtin_ctz(n) -
								  mls_tree_math_level(x));
			for (uint32_t i = 0; i < num_dp; i++) {
				uint32_t p;

				CHECK_OK(mls_tree_math_sibling(cur, n, &s));
				CHECK_INT_EQ(cp[i], s);
				CHECK_OK(mls_tree_math_parent(cur, n, &p));
				CHECK_INT_EQ(dp[i], p);
				cur = p;
			}
			CHECK_INT_EQ(cur, root);

			for (uint32_t y = 0; y < width; y++) {
				uint32_t dy[MLS_TREE_MATH_MAX_PATH], num_dy, got, best = UINT32_MAX;
				uint32_t sx[MLS_TREE_MATH_MAX_PATH + 1], sy[MLS_TREE_MATH_MAX_PATH + 1];

				CHECK_OK(mls_tree_math_direct_path(y, n, dy, &num_dy));
				sx[0] = x;
				sy[0] = y;
				for (uint32_t i = 0; i < num_dp; i++) {
					sx[i + 1] = dp[i];
				}
				for (uint32_t i = 0; i < num_dy; i++) {
					sy[i + 1] = dy[i];
				}
				for (uint32_t i = 0; i <= num_dp; i++) {
					for (uint32_t j = 0; j <= num_dy; j++) {
						if (sx[i] == sy[j] &&
						    (best == UINT32_MAX ||
						     mls_tree_math_level(sx[i]) <
							     mls_tree_math_level(best))) {
							best = sx[i];
						}
					}
				}
				CHECK_OK(mls_tree_math_common_ancestor(x, y, n, &got));
				CHECK_INT_EQ(got, best);
				CHECK_INT_EQ(mls_tree_math_is_ancestor(got, x), 1);
				CHECK_INT_EQ(mls_tree_math_is_ancestor(got, y), 1);
			}
		}
	}
}

static void test_leaf_node_mapping(void)
{
	uint32_t out;

	CHECK_OK(mls_tree_math_leaf_to_node(3, 8, &out));
	CHECK_INT_EQ(out, 6);
	CHECK_RC(mls_tree_math_leaf_to_node(8, 8, &out), HALQA_ERR_ARG);
	CHECK_OK(mls_tree_math_node_to_leaf(14, 8, &out));
	CHECK_INT_EQ(out, 7);
	CHECK_RC(mls_tree_math_node_to_leaf(13, 8, &out), HALQA_ERR_NOT_FOUND);
	CHECK_RC(mls_tree_math_node_to_leaf(15, 8, &out), HALQA_ERR_ARG);
	CHECK_INT_EQ(mls_tree_math_is_leaf(0), 1);
	CHECK_INT_EQ(mls_tree_math_is_leaf(1), 0);
}

/* The largest tree, 2^31 leaves: no shift or width may overflow. */
static void test_largest_tree(void)
{
	const uint32_t n = MLS_TREE_MATH_MAX_LEAVES;
	uint32_t width, root, out, path[MLS_TREE_MATH_MAX_PATH], num;

	CHECK_OK(mls_tree_math_node_width(n, &width));
	CHECK_INT_EQ(width, UINT32_MAX);
	CHECK_OK(mls_tree_math_root(n, &root));
	CHECK_INT_EQ(root, 0x7fffffffu);
	CHECK_INT_EQ(mls_tree_math_level(root), 31);
	CHECK_OK(mls_tree_math_left(root, n, &out));
	CHECK_INT_EQ(out, 0x3fffffffu);
	CHECK_OK(mls_tree_math_right(root, n, &out));
	CHECK_INT_EQ(out, 0xbfffffffu);
	CHECK_OK(mls_tree_math_parent(0xfffffffeu, n, &out));
	CHECK_INT_EQ(out, 0xfffffffdu);
	CHECK_OK(mls_tree_math_direct_path(0xfffffffeu, n, path, &num));
	CHECK_INT_EQ(num, 31);
	CHECK_INT_EQ(path[30], root);
	CHECK_OK(mls_tree_math_copath(0, n, path, &num));
	CHECK_INT_EQ(num, 31);
	CHECK_INT_EQ(path[0], 2);
	CHECK_INT_EQ(path[30], 0xbfffffffu);
	CHECK_OK(mls_tree_math_common_ancestor(0, 0xfffffffeu, n, &out));
	CHECK_INT_EQ(out, root);
	CHECK_RC(mls_tree_math_parent(UINT32_MAX, n, &out), HALQA_ERR_ARG);
	CHECK_INT_EQ(mls_tree_math_level(UINT32_MAX), 32);
}

/* Tree sizes that are not full trees, and nodes outside the tree. */
static void test_refusals(void)
{
	static const uint32_t bad_sizes[] = {0, 3, 5, 6, 7, 1000, 0x80000001u, UINT32_MAX};
	uint32_t out = 12345, path[MLS_TREE_MATH_MAX_PATH], num = 777;

	for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
		uint32_t n = bad_sizes[i];

		CHECK_INT_EQ(mls_tree_math_valid_leaves(n), 0);
		CHECK_RC(mls_tree_math_node_width(n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_root(n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_left(1, n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_right(1, n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_parent(0, n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_sibling(0, n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_direct_path(0, n, path, &num), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_copath(0, n, path, &num), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_common_ancestor(0, 0, n, &out), HALQA_ERR_ARG);
		CHECK_RC(mls_tree_math_leaf_to_node(0, n, &out), HALQA_ERR_ARG);
	}
	/* In a tree of 4 leaves the nodes are 0..6. */
	CHECK_RC(mls_tree_math_left(7, 4, &out), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_right(7, 4, &out), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_parent(7, 4, &out), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_sibling(8, 4, &out), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_direct_path(7, 4, path, &num), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_copath(UINT32_MAX, 4, path, &num), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_common_ancestor(0, 7, 4, &out), HALQA_ERR_ARG);
	CHECK_RC(mls_tree_math_common_ancestor(7, 0, 4, &out), HALQA_ERR_ARG);
	/* A refused call leaves its outputs alone. */
	CHECK_INT_EQ(out, 12345);
	CHECK_INT_EQ(num, 777);
}

int main(void)
{
	RUN(test_children_and_parent_agree);
	RUN(test_paths_match_definitions);
	RUN(test_leaf_node_mapping);
	RUN(test_largest_tree);
	RUN(test_refusals);
	return harness_report();
}
