/*
 * kind_treekem.c: TreeKEM (RFC 9420 7.4-7.6, 7.9, 12.4.2). Each entry gives
 * a ratchet tree, the private state of every member (leaf key, signature
 * key, path secrets of the nodes it knows), and UpdatePaths from several
 * senders. For each member we build the private state and check it against
 * the tree. For each UpdatePath: merge it into a copy of the tree (which
 * checks its leaf and parent hash), compare the tree hash after, then let
 * every other member decrypt it with the provisional GroupContext and
 * compare the path secret it decrypts and the commit secret. Then the
 * sender generates a fresh UpdatePath of our own, encodes and decodes it,
 * and every other member must merge it and reach the same commit secret.
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_tree.h"

struct member {
	struct mls_tree_private *priv;
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
};

struct entry_state {
	struct vector_ctx *ctx;
	struct mls_tree *tree;
	struct member *members;
	uint32_t num_leaves;
	const uint8_t *group_id;
	size_t group_id_len;
	const uint8_t *cth;
	size_t cth_len;
	uint64_t epoch, suite;
};

/* The provisional GroupContext (README: extensions empty) with |tree_hash|. */
static int group_context(const struct entry_state *s, const uint8_t tree_hash[MLS_HASH_LEN],
			 uint8_t **out, size_t *out_len)
{
	struct mls_group_context gc;

	memset(&gc, 0, sizeof gc);
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = (uint16_t)s->suite;
	gc.group_id.data = (uint8_t *)s->group_id;
	gc.group_id.len = s->group_id_len;
	gc.epoch = s->epoch;
	gc.tree_hash.data = (uint8_t *)tree_hash;
	gc.tree_hash.len = MLS_HASH_LEN;
	gc.confirmed_transcript_hash.data = (uint8_t *)s->cth;
	gc.confirmed_transcript_hash.len = s->cth_len;
	return mls_group_context_encode_bytes(&gc, out, out_len);
}

static int load_member(struct entry_state *s, json_t *lp)
{
	struct vector_ctx *ctx = s->ctx;
	const uint8_t *enc_priv, *sig_seed;
	size_t enc_len, seed_len;
	uint8_t sig_pub[MLS_SIG_PUB_LEN];
	struct member *m;
	json_t *secrets, *ps;
	uint64_t index;
	size_t i;

	if (!vec_uint(ctx, lp, "index", &index) ||
	    (enc_priv = vec_hex(ctx, lp, "encryption_priv", &enc_len)) == NULL ||
	    (sig_seed = vec_hex(ctx, lp, "signature_priv", &seed_len)) == NULL ||
	    (secrets = vec_array(ctx, lp, "path_secrets")) == NULL) {
		return 0;
	}
	if (index >= s->num_leaves || enc_len != MLS_KEM_PRIV_LEN || seed_len != MLS_SIG_SEED_LEN ||
	    s->members[index].priv != NULL) {
		vec_fail(ctx, "leaves_private entry for leaf %llu malformed",
			 (unsigned long long)index);
		return 0;
	}
	m = &s->members[index];
	if (!vec_check_rc(ctx, "private state",
			  mls_tree_private_new(&m->priv, (uint32_t)index, enc_priv)) ||
	    !vec_check_rc(ctx, "signature key",
			  mls_sig_key_pair_from_seed(m->sig_priv, sig_pub, sig_seed))) {
		return 0;
	}
	json_array_foreach(secrets, i, ps)
	{
		const uint8_t *secret;
		size_t secret_len;
		uint64_t node;

		if (!vec_uint(ctx, ps, "node", &node) ||
		    (secret = vec_hex(ctx, ps, "path_secret", &secret_len)) == NULL) {
			return 0;
		}
		if (node > UINT32_MAX || secret_len != MLS_HASH_LEN) {
			vec_fail(ctx, "path secret entry of leaf %llu malformed",
				 (unsigned long long)index);
			return 0;
		}
		if (!vec_check_rc(ctx, "path secret consistent with the tree",
				  mls_tree_private_set_path_secret(m->priv, s->tree, (uint32_t)node,
								   secret))) {
			return 0;
		}
	}
	return vec_check_rc(ctx, "private state consistent with the tree",
			    mls_tree_private_check(m->priv, s->tree));
}

/*
 * Merges |path| from |sender| into a copy of the tree, returns the merged
 * tree (caller frees) and its hash, or NULL after failing the entry.
 */
static struct mls_tree *merged_tree(struct entry_state *s, uint32_t sender,
				    const struct mls_update_path *path, uint8_t hash[MLS_HASH_LEN])
{
	struct mls_tree_policy policy = {.group_id = s->group_id, .group_id_len = s->group_id_len};
	struct mls_tree *t = NULL;

	if (!vec_check_rc(s->ctx, "copy tree", mls_tree_copy(&t, s->tree)) ||
	    !vec_check_rc(s->ctx, "merge update path", mls_tree_merge_path(t, sender, path, &policy)) ||
	    !vec_check_rc(s->ctx, "tree hash after merge", mls_tree_hash(t, hash))) {
		mls_tree_free(t);
		return NULL;
	}
	return t;
}

/* Member |j| processes |path|; its commit secret (and path secret) are returned. */
static int receive(struct entry_state *s, const struct mls_tree *merged, uint32_t sender,
		   uint32_t j, const struct mls_update_path *path, const uint8_t *gc, size_t gc_len,
		   uint8_t commit[MLS_HASH_LEN], uint8_t path_secret[MLS_HASH_LEN])
{
	struct mls_tree_private *priv = NULL;
	int ok;

	if (s->members[j].priv == NULL) {
		vec_fail(s->ctx, "no private state for leaf %u", j);
		return 0;
	}
	ok = vec_check_rc(s->ctx, "copy private state",
			  mls_tree_private_copy(&priv, s->members[j].priv)) &&
	     vec_check_rc(s->ctx, "process update path",
			  mls_tree_path_decrypt(merged, priv, sender, path, NULL, 0, gc, gc_len,
						commit, path_secret)) &&
	     vec_check_rc(s->ctx, "keys after processing", mls_tree_private_check(priv, merged));
	mls_tree_private_free(priv);
	return ok;
}

static void run_update_path(struct entry_state *s, json_t *up)
{
	struct vector_ctx *ctx = s->ctx;
	struct mls_update_path path;
	struct bytes_reader r;
	struct mls_tree *merged = NULL;
	const uint8_t *path_bytes, *want_commit, *want_hash;
	size_t path_len, want_commit_len, want_hash_len, gc_len = 0;
	uint8_t hash[MLS_HASH_LEN], commit[MLS_HASH_LEN], secret[MLS_HASH_LEN], *gc = NULL;
	json_t *secrets;
	uint64_t sender;

	memset(&path, 0, sizeof path);
	if (!vec_uint(ctx, up, "sender", &sender) ||
	    (path_bytes = vec_hex(ctx, up, "update_path", &path_len)) == NULL ||
	    (secrets = vec_array(ctx, up, "path_secrets")) == NULL ||
	    (want_commit = vec_hex(ctx, up, "commit_secret", &want_commit_len)) == NULL ||
	    (want_hash = vec_hex(ctx, up, "tree_hash_after", &want_hash_len)) == NULL) {
		return;
	}
	if (sender >= s->num_leaves || json_array_size(secrets) != s->num_leaves) {
		vec_fail(ctx, "update path sender or path_secrets out of range");
		return;
	}
	bytes_reader_init(&r, path_bytes, path_len);
	if (!vec_check_rc(ctx, "decode update path", mls_update_path_decode(&r, &path)) ||
	    !vec_check_rc(ctx, "update path trailing bytes", bytes_expect_end(&r))) {
		goto out;
	}
	if ((merged = merged_tree(s, (uint32_t)sender, &path, hash)) == NULL ||
	    !vec_check_bytes(ctx, "tree_hash_after", hash, sizeof hash, want_hash, want_hash_len) ||
	    !vec_check_rc(ctx, "group context", group_context(s, hash, &gc, &gc_len))) {
		goto out;
	}
	for (uint32_t j = 0; j < s->num_leaves; j++) {
		const uint8_t *want_secret;
		size_t want_secret_len;

		if (j == sender || mls_tree_leaf(s->tree, j) == NULL) {
			continue;
		}
		if ((want_secret = vec_hex_value(ctx, json_array_get(secrets, j), "path_secrets[]",
						 &want_secret_len)) == NULL ||
		    !receive(s, merged, (uint32_t)sender, j, &path, gc, gc_len, commit, secret) ||
		    !vec_check_bytes(ctx, "decrypted path secret", secret, sizeof secret,
				     want_secret, want_secret_len) ||
		    !vec_check_bytes(ctx, "commit secret", commit, sizeof commit, want_commit,
				     want_commit_len)) {
			goto out;
		}
	}
out:
	sodium_memzero(commit, sizeof commit);
	sodium_memzero(secret, sizeof secret);
	free(gc);
	mls_tree_free(merged);
	mls_update_path_cleanup(&path);
}

/* Our own UpdatePath from |sender|, through the wire format, processed by every other member. */
static void run_own_path(struct entry_state *s, uint32_t sender)
{
	struct vector_ctx *ctx = s->ctx;
	struct mls_tree_private *priv = NULL;
	struct mls_tree *own = NULL;
	struct mls_update_path path, decoded;
	struct bytes_writer w;
	struct bytes_reader r;
	uint8_t hash[MLS_HASH_LEN], merged_hash[MLS_HASH_LEN], ours[MLS_HASH_LEN];
	uint8_t commit[MLS_HASH_LEN], *gc = NULL;
	size_t gc_len = 0;

	memset(&path, 0, sizeof path);
	memset(&decoded, 0, sizeof decoded);
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if (s->members[sender].priv == NULL) {
		vec_fail(ctx, "no private state for sender %u", sender);
		goto out;
	}
	if (!vec_check_rc(ctx, "copy tree", mls_tree_copy(&own, s->tree)) ||
	    !vec_check_rc(ctx, "copy private state",
			  mls_tree_private_copy(&priv, s->members[sender].priv)) ||
	    !vec_check_rc(ctx, "generate path",
			  mls_tree_path_generate(own, priv, NULL, s->members[sender].sig_priv,
						 s->group_id, s->group_id_len)) ||
	    !vec_check_rc(ctx, "hash own tree", mls_tree_hash(own, hash)) ||
	    !vec_check_rc(ctx, "group context", group_context(s, hash, &gc, &gc_len)) ||
	    !vec_check_rc(ctx, "encrypt path",
			  mls_tree_path_encrypt(own, priv, NULL, 0, gc, gc_len, &path)) ||
	    !vec_check_rc(ctx, "own commit secret", mls_tree_private_commit_secret(priv, ours)) ||
	    !vec_check_rc(ctx, "own keys", mls_tree_private_check(priv, own)) ||
	    !vec_check_rc(ctx, "encode own path", mls_update_path_encode(&w, &path))) {
		goto out;
	}
	bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
	if (!vec_check_rc(ctx, "decode own path", mls_update_path_decode(&r, &decoded)) ||
	    !vec_check_rc(ctx, "own path trailing bytes", bytes_expect_end(&r))) {
		goto out;
	}
	for (uint32_t j = 0; j < s->num_leaves; j++) {
		struct mls_tree *merged;
		int ok;

		if (j == sender || mls_tree_leaf(s->tree, j) == NULL) {
			continue;
		}
		if ((merged = merged_tree(s, sender, &decoded, merged_hash)) == NULL) {
			goto out;
		}
		ok = vec_check_bytes(ctx, "tree hash after own path", merged_hash,
				     sizeof merged_hash, hash, sizeof hash) &&
		     receive(s, merged, sender, j, &decoded, gc, gc_len, commit, NULL) &&
		     vec_check_bytes(ctx, "commit secret of own path", commit, sizeof commit, ours,
				     sizeof ours);
		mls_tree_free(merged);
		if (!ok) {
			goto out;
		}
	}
out:
	sodium_memzero(ours, sizeof ours);
	sodium_memzero(commit, sizeof commit);
	free(gc);
	bytes_writer_cleanup(&w);
	mls_update_path_cleanup(&path);
	mls_update_path_cleanup(&decoded);
	mls_tree_private_free(priv);
	mls_tree_free(own);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct entry_state s;
	const uint8_t *tree;
	size_t tree_len, i;
	json_t *leaves, *paths, *v;

	memset(&s, 0, sizeof s);
	s.ctx = ctx;
	if (!vec_uint(ctx, entry, "cipher_suite", &s.suite) ||
	    (s.group_id = vec_hex(ctx, entry, "group_id", &s.group_id_len)) == NULL ||
	    !vec_uint(ctx, entry, "epoch", &s.epoch) ||
	    (s.cth = vec_hex(ctx, entry, "confirmed_transcript_hash", &s.cth_len)) == NULL ||
	    (tree = vec_hex(ctx, entry, "ratchet_tree", &tree_len)) == NULL ||
	    (leaves = vec_array(ctx, entry, "leaves_private")) == NULL ||
	    (paths = vec_array(ctx, entry, "update_paths")) == NULL) {
		return;
	}
	if (s.suite != 3) {
		vec_fail(ctx, "cipher suite %llu is not 0x0003", (unsigned long long)s.suite);
		return;
	}
	if (!vec_check_rc(ctx, "load tree", mls_tree_load(&s.tree, tree, tree_len))) {
		return;
	}
	s.num_leaves = mls_tree_num_leaves(s.tree);
	s.members = calloc(s.num_leaves, sizeof *s.members);
	if (s.members == NULL) {
		vec_fail(ctx, "out of memory");
		goto out;
	}
	json_array_foreach(leaves, i, v)
	{
		if (!load_member(&s, v)) {
			goto out;
		}
	}
	json_array_foreach(paths, i, v)
	{
		uint64_t sender;

		run_update_path(&s, v);
		if (ctx->failed || !vec_uint(ctx, v, "sender", &sender)) {
			goto out;
		}
		run_own_path(&s, (uint32_t)sender);
		if (ctx->failed) {
			goto out;
		}
	}
out:
	for (uint32_t j = 0; s.members != NULL && j < s.num_leaves; j++) {
		mls_tree_private_free(s.members[j].priv);
		sodium_memzero(s.members[j].sig_priv, sizeof s.members[j].sig_priv);
	}
	free(s.members);
	mls_tree_free(s.tree);
}

const struct vector_kind vector_kind_treekem = {"treekem", run_entry};
