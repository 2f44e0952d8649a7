/*
 * kind_tree_math.c: RFC 9420 Appendix C tree arithmetic. Each entry gives a
 * tree size, its node count and root, and for every node its left child,
 * right child, parent and sibling, null where the relation does not exist.
 * Every array element is checked: a number must be what we compute, a null
 * must be HALQA_ERR_NOT_FOUND from us. The node just past the end must be
 * refused as out of range.
 */
#include "vectors.h"

#include "halqa/mls_tree_math.h"

typedef int (*relation_fn)(uint32_t x, uint32_t n_leaves, uint32_t *out);

static void check_relation(struct vector_ctx *ctx, json_t *entry, const char *name, relation_fn fn,
			   uint32_t n_leaves, uint32_t n_nodes)
{
	json_t *arr = vec_array(ctx, entry, name);
	uint32_t got;

	if (arr == NULL) {
		return;
	}
	if (json_array_size(arr) != n_nodes) {
		vec_fail(ctx, "%s has %zu entries, want %u", name, json_array_size(arr), n_nodes);
		return;
	}
	for (uint32_t i = 0; i < n_nodes; i++) {
		json_t *want = json_array_get(arr, i);
		int rc = fn(i, n_leaves, &got);

		if (json_is_null(want)) {
			if (rc != HALQA_ERR_NOT_FOUND) {
				vec_fail(ctx, "%s[%u] should be undefined, got rc %s value %u", name,
					 i, halqa_errname(rc), rc == HALQA_OK ? got : 0);
				return;
			}
		} else if (!json_is_integer(want) || json_integer_value(want) < 0) {
			vec_fail(ctx, "%s[%u] is neither null nor a node index", name, i);
			return;
		} else if (rc != HALQA_OK || (json_int_t)got != json_integer_value(want)) {
			vec_fail(ctx, "%s[%u]: rc %s value %u, want %lld", name, i,
				 halqa_errname(rc), rc == HALQA_OK ? got : 0,
				 (long long)json_integer_value(want));
			return;
		}
	}
	/* One past the last node is outside the tree, never a relation. */
	if (fn(n_nodes, n_leaves, &got) != HALQA_ERR_ARG) {
		vec_fail(ctx, "%s accepted node %u outside the tree", name, n_nodes);
	}
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	uint64_t n_leaves, n_nodes, root;
	uint32_t got;

	if (!vec_uint(ctx, entry, "n_leaves", &n_leaves) ||
	    !vec_uint(ctx, entry, "n_nodes", &n_nodes) || !vec_uint(ctx, entry, "root", &root)) {
		return;
	}
	if (n_leaves > MLS_TREE_MATH_MAX_LEAVES || n_nodes > UINT32_MAX) {
		vec_fail(ctx, "tree size out of range");
		return;
	}
	if (!vec_check_rc(ctx, "node_width", mls_tree_math_node_width((uint32_t)n_leaves, &got))) {
		return;
	}
	if (got != n_nodes) {
		vec_fail(ctx, "node_width %u, want %llu", got, (unsigned long long)n_nodes);
		return;
	}
	if (!vec_check_rc(ctx, "root", mls_tree_math_root((uint32_t)n_leaves, &got))) {
		return;
	}
	if (got != root) {
		vec_fail(ctx, "root %u, want %llu", got, (unsigned long long)root);
		return;
	}
	check_relation(ctx, entry, "left", mls_tree_math_left, (uint32_t)n_leaves,
		       (uint32_t)n_nodes);
	check_relation(ctx, entry, "right", mls_tree_math_right, (uint32_t)n_leaves,
		       (uint32_t)n_nodes);
	check_relation(ctx, entry, "parent", mls_tree_math_parent, (uint32_t)n_leaves,
		       (uint32_t)n_nodes);
	check_relation(ctx, entry, "sibling", mls_tree_math_sibling, (uint32_t)n_leaves,
		       (uint32_t)n_nodes);
}

const struct vector_kind vector_kind_tree_math = {"tree-math", run_entry};
