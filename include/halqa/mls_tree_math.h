/*
 * mls_tree_math.h: index arithmetic of the array-based ratchet tree (RFC
 * 9420 Appendix C).
 *
 * A tree with n leaves is stored as an array of node_width(n) = 2n - 1
 * nodes: leaf i is node 2i, parents sit at odd indices, and the level of a
 * node is the number of trailing one bits of its index. RFC 9420 trees are
 * always full (section 7.7: extending doubles the leaves, truncating halves
 * them), so every function here requires |n_leaves| to be a power of two
 * between 1 and MLS_TREE_MATH_MAX_LEAVES; any other count is refused with
 * HALQA_ERR_ARG. Node indices are uint32_t, so the largest tree is 2^31
 * leaves (2^32 - 1 nodes).
 *
 * Indices often come from peers (a sender's leaf index, a path length), so
 * nothing here trusts its arguments: a node outside the tree gives
 * HALQA_ERR_ARG, and asking for a relation that does not exist (the child
 * of a leaf, the parent or sibling of the root) gives HALQA_ERR_NOT_FOUND.
 * Outputs are written only on success.
 */
#ifndef HALQA_MLS_TREE_MATH_H
#define HALQA_MLS_TREE_MATH_H

#include <stdint.h>

#include "halqa/err.h"

/* The largest number of leaves a tree may have: node indices stay below 2^32 - 1. */
#define MLS_TREE_MATH_MAX_LEAVES (UINT32_C(1) << 31)

/* The longest direct path or copath: one entry per level above the leaves. */
#define MLS_TREE_MATH_MAX_PATH 31

/*
 * mls_tree_math_valid_leaves returns 1 if |n_leaves| is a tree size we
 * accept (a power of two, 1 .. MLS_TREE_MATH_MAX_LEAVES), else 0.
 */
int mls_tree_math_valid_leaves(uint32_t n_leaves);

/*
 * mls_tree_math_level returns the level of node |x|: 0 for a leaf (even
 * index), otherwise the number of trailing one bits. Defined for every
 * uint32_t; whether |x| is inside a given tree is checked elsewhere.
 */
uint32_t mls_tree_math_level(uint32_t x);

/* mls_tree_math_is_leaf returns 1 if node |x| is a leaf (even index). */
int mls_tree_math_is_leaf(uint32_t x);

/*
 * mls_tree_math_node_width sets |*out| to the number of nodes of a tree
 * with |n_leaves| leaves (2n - 1). HALQA_ERR_ARG for an invalid count.
 */
HALQA_MUST_CHECK int mls_tree_math_node_width(uint32_t n_leaves, uint32_t *out);

/*
 * mls_tree_math_root sets |*out| to the root node index of a tree with
 * |n_leaves| leaves (n - 1 for a full tree). HALQA_ERR_ARG for an invalid
 * count.
 */
HALQA_MUST_CHECK int mls_tree_math_root(uint32_t n_leaves, uint32_t *out);

/*
 * mls_tree_math_leaf_to_node sets |*out| to the node index of leaf |leaf|
 * (2 * leaf). HALQA_ERR_ARG if the count is invalid or |leaf| >= n_leaves.
 */
HALQA_MUST_CHECK int mls_tree_math_leaf_to_node(uint32_t leaf, uint32_t n_leaves,
						uint32_t *out);

/*
 * mls_tree_math_node_to_leaf sets |*out| to the leaf index of node |x|.
 * HALQA_ERR_ARG if |x| is outside the tree, HALQA_ERR_NOT_FOUND if it is
 * not a leaf.
 */
HALQA_MUST_CHECK int mls_tree_math_node_to_leaf(uint32_t x, uint32_t n_leaves, uint32_t *out);

/*
 * mls_tree_math_left / _right set |*out| to the left or right child of
 * node |x|. HALQA_ERR_ARG if |x| is outside the tree, HALQA_ERR_NOT_FOUND
 * if |x| is a leaf.
 */
HALQA_MUST_CHECK int mls_tree_math_left(uint32_t x, uint32_t n_leaves, uint32_t *out);
HALQA_MUST_CHECK int mls_tree_math_right(uint32_t x, uint32_t n_leaves, uint32_t *out);

/*
 * mls_tree_math_parent / _sibling set |*out| to the parent of node |x| or
 * to the other child of that parent. HALQA_ERR_ARG if |x| is outside the
 * tree, HALQA_ERR_NOT_FOUND if |x| is the root.
 */
HALQA_MUST_CHECK int mls_tree_math_parent(uint32_t x, uint32_t n_leaves, uint32_t *out);
HALQA_MUST_CHECK int mls_tree_math_sibling(uint32_t x, uint32_t n_leaves, uint32_t *out);

/*
 * mls_tree_math_direct_path writes the direct path of node |x| (its
 * ancestors, parent first, root last) to |out| and their count to
 * |*num_out|; the root's direct path is empty. mls_tree_math_copath writes
 * the copath (the sibling of |x| and of each ancestor below the root,
 * ordered from the leaf up). HALQA_ERR_ARG if |x| is outside the tree.
 */
HALQA_MUST_CHECK int mls_tree_math_direct_path(uint32_t x, uint32_t n_leaves,
					       uint32_t out[static MLS_TREE_MATH_MAX_PATH],
					       uint32_t *num_out);
HALQA_MUST_CHECK int mls_tree_math_copath(uint32_t x, uint32_t n_leaves,
					  uint32_t out[static MLS_TREE_MATH_MAX_PATH],
					  uint32_t *num_out);

/*
 * mls_tree_math_common_ancestor sets |*out| to the lowest node that is
 * |x| or |y| or on both of their direct paths (one of them if one is an
 * ancestor of the other). HALQA_ERR_ARG if either node is outside the tree.
 */
HALQA_MUST_CHECK int mls_tree_math_common_ancestor(uint32_t x, uint32_t y, uint32_t n_leaves,
						   uint32_t *out);

/*
 * mls_tree_math_is_ancestor returns 1 if node |a| is |x| itself or on the
 * direct path of |x|, else 0 (also 0 for nodes outside any tree: callers
 * check ranges first).
 */
int mls_tree_math_is_ancestor(uint32_t a, uint32_t x);

#endif
