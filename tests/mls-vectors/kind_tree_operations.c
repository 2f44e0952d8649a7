/*
 * kind_tree_operations.c: applying one proposal to a ratchet tree (RFC
 * 9420 12.1.1 Add, 12.1.2 Update, 12.1.3 Remove). Each entry gives the
 * tree before and its hash, the proposal and its sender, and the encoded
 * tree after and its hash: we load the tree, check its hash, apply the
 * proposal and compare the encoding and the hash of the result.
 *
 * Upstream publishes these entries for cipher suite 1 only. Suite 1 shares
 * SHA-256 (tree hashes), X25519 and Ed25519 with our suite 0x0003 and the
 * test uses no AEAD, so the entries are run as they are.
 */
#include "vectors.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_tree.h"

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_proposal prop;
	struct mls_tree *t = NULL;
	const uint8_t *before, *proposal, *hash_before, *after, *hash_after;
	size_t before_len, proposal_len, hash_before_len, after_len, hash_after_len, out_len = 0;
	uint8_t hash[MLS_HASH_LEN], *out = NULL;
	uint64_t sender;
	uint32_t added;

	memset(&prop, 0, sizeof prop);
	if ((before = vec_hex(ctx, entry, "tree_before", &before_len)) == NULL ||
	    (proposal = vec_hex(ctx, entry, "proposal", &proposal_len)) == NULL ||
	    (hash_before = vec_hex(ctx, entry, "tree_hash_before", &hash_before_len)) == NULL ||
	    (after = vec_hex(ctx, entry, "tree_after", &after_len)) == NULL ||
	    (hash_after = vec_hex(ctx, entry, "tree_hash_after", &hash_after_len)) == NULL ||
	    !vec_uint(ctx, entry, "proposal_sender", &sender)) {
		return;
	}
	if (sender > UINT32_MAX) {
		vec_fail(ctx, "proposal_sender out of range");
		return;
	}
	if (!vec_check_rc(ctx, "load tree_before", mls_tree_load(&t, before, before_len)) ||
	    !vec_check_rc(ctx, "hash tree_before", mls_tree_hash(t, hash)) ||
	    !vec_check_bytes(ctx, "tree_hash_before", hash, sizeof hash, hash_before,
			     hash_before_len) ||
	    !vec_check_rc(ctx, "decode proposal", mls_proposal_decode_bytes(proposal, proposal_len, &prop))) {
		goto out;
	}
	switch (prop.type) {
	case MLS_PROPOSAL_ADD:
		if (!vec_check_rc(ctx, "apply add",
				  mls_tree_add_leaf(t, &prop.u.add.key_package.leaf_node, &added))) {
			goto out;
		}
		break;
	case MLS_PROPOSAL_UPDATE:
		if (!vec_check_rc(ctx, "apply update",
				  mls_tree_update_leaf(t, (uint32_t)sender, &prop.u.update.leaf_node))) {
			goto out;
		}
		break;
	case MLS_PROPOSAL_REMOVE:
		if (!vec_check_rc(ctx, "apply remove", mls_tree_remove_leaf(t, prop.u.remove.removed))) {
			goto out;
		}
		break;
	default:
		vec_fail(ctx, "proposal type %u is not add, update or remove", prop.type);
		goto out;
	}
	if (!vec_check_rc(ctx, "encode tree", mls_tree_encode_bytes(t, &out, &out_len)) ||
	    !vec_check_bytes(ctx, "tree_after", out, out_len, after, after_len) ||
	    !vec_check_rc(ctx, "hash tree_after", mls_tree_hash(t, hash))) {
		goto out;
	}
	vec_check_bytes(ctx, "tree_hash_after", hash, sizeof hash, hash_after, hash_after_len);
out:
	free(out);
	mls_proposal_cleanup(&prop);
	mls_tree_free(t);
}

const struct vector_kind vector_kind_tree_operations = {"tree-operations", run_entry};
