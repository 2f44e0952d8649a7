/*
 * kind_tree_validation.c: RFC 9420 ratchet trees as a joiner receives
 * them. Each entry gives an encoded tree and a group id: the tree must
 * load, every node's resolution (4.1.1) and tree hash (7.8) must match the
 * lists given (which cover the tree extended to its full width), and the
 * tree must pass the join-time checks (parent hashes 7.9.2, every leaf
 * signature with the entry's group id as context 7.3, key uniqueness).
 */
#include "vectors.h"

#include <stdlib.h>

#include "halqa/mls_tree.h"

static void check_resolution(struct vector_ctx *ctx, const struct mls_tree *t, uint32_t x,
			     json_t *want)
{
	uint32_t *res = NULL;
	size_t n = 0;

	if (!json_is_array(want)) {
		vec_fail(ctx, "resolutions[%u] is not an array", x);
		return;
	}
	if (!vec_check_rc(ctx, "resolution", mls_tree_resolution(t, x, NULL, 0, &res, &n))) {
		return;
	}
	if (n != json_array_size(want)) {
		vec_fail(ctx, "resolution of node %u has %zu nodes, want %zu", x, n,
			 json_array_size(want));
	} else {
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(want, i);

			if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)res[i]) {
				vec_fail(ctx, "resolution of node %u differs at %zu", x, i);
				break;
			}
		}
	}
	free(res);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_tree_policy policy = {0};
	struct mls_tree *t = NULL;
	const uint8_t *tree, *group_id, *want;
	size_t tree_len, group_id_len, want_len;
	json_t *hashes, *resolutions;
	uint8_t hash[MLS_HASH_LEN];
	uint32_t width;

	if ((tree = vec_hex(ctx, entry, "tree", &tree_len)) == NULL ||
	    (group_id = vec_hex(ctx, entry, "group_id", &group_id_len)) == NULL ||
	    (hashes = vec_array(ctx, entry, "tree_hashes")) == NULL ||
	    (resolutions = vec_array(ctx, entry, "resolutions")) == NULL) {
		return;
	}
	if (!vec_check_rc(ctx, "load tree", mls_tree_load(&t, tree, tree_len))) {
		return;
	}
	width = mls_tree_num_nodes(t);
	if (json_array_size(hashes) != width || json_array_size(resolutions) != width) {
		vec_fail(ctx, "tree has %u nodes, vector lists %zu hashes and %zu resolutions",
			 width, json_array_size(hashes), json_array_size(resolutions));
		goto out;
	}
	for (uint32_t x = 0; x < width && ctx->failed == 0; x++) {
		check_resolution(ctx, t, x, json_array_get(resolutions, x));
		if ((want = vec_hex_value(ctx, json_array_get(hashes, x), "tree_hashes[]",
					  &want_len)) == NULL ||
		    !vec_check_rc(ctx, "tree hash", mls_tree_node_hash(t, x, hash))) {
			goto out;
		}
		vec_check_bytes(ctx, "tree hash", hash, sizeof hash, want, want_len);
	}
	vec_check_rc(ctx, "parent hashes", mls_tree_verify_parent_hashes(t));
	policy.group_id = group_id;
	policy.group_id_len = group_id_len;
	vec_check_rc(ctx, "tree verification", mls_tree_verify(t, &policy));
out:
	mls_tree_free(t);
}

const struct vector_kind vector_kind_tree_validation = {"tree-validation", run_entry};
