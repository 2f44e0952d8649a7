/*
 * fuzz_mls_tree.c: loads hostile bytes as a ratchet tree (RFC 9420
 * 12.4.3.3) and, if they load, exercises everything a joiner would run on
 * them: the encoding must give back the input byte for byte (the codec is
 * canonical and a loaded tree has no trailing blanks), every node hash and
 * resolution must compute, verification must return without crashing,
 * and Update/Remove of the first member keep the tree encodable.
 */
#include "halqa/mls_tree.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t group_id[] = "fuzz";
	struct mls_tree_policy policy = {.group_id = group_id, .group_id_len = sizeof group_id};
	struct mls_tree *t = NULL;
	uint8_t *enc = NULL, hash[MLS_HASH_LEN];
	size_t enc_len = 0;
	uint32_t path[MLS_TREE_MAX_DEPTH], n;
	size_t num;
	int rc;

	if (mls_tree_load(&t, data, size) != HALQA_OK) {
		check(t == NULL);
		return 0;
	}
	check(mls_tree_encode_bytes(t, &enc, &enc_len) == HALQA_OK);
	check(enc_len == size && memcmp(enc, data, size) == 0);
	free(enc);
	n = mls_tree_num_nodes(t);
	for (uint32_t x = 0; x < n && x < 64; x++) {
		uint32_t *res = NULL;

		check(mls_tree_node_hash(t, x, hash) == HALQA_OK);
		check(mls_tree_resolution(t, x, NULL, 0, &res, &num) == HALQA_OK);
		free(res);
	}
	check(mls_tree_filtered_direct_path(t, 0, path, NULL, &num) == HALQA_OK);
	rc = mls_tree_verify(t, &policy);
	check(rc <= 0 && rc > -HALQA_ERR_COUNT);
	if (mls_tree_leaf(t, 0) != NULL && mls_tree_num_members(t) > 1) {
		check(mls_tree_remove_leaf(t, 0) == HALQA_OK);
		check(mls_tree_hash(t, hash) == HALQA_OK);
		check(mls_tree_encode_bytes(t, &enc, &enc_len) == HALQA_OK);
		free(enc);
	}
	mls_tree_free(t);
	return 0;
}
