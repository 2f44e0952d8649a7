/*
 * kind_secret_tree.c: RFC 9420 section 9 secret tree and hash ratchets,
 * and the sender-data key and nonce of section 6.3.2. Each entry gives an
 * encryption_secret and, per leaf, a list of generations with the
 * handshake and application key and nonce expected there. A tree with as
 * many leaves as the entry lists is built and every listed generation of
 * both ratchets of every leaf is fetched the way a receiver does it
 * (get_key, then consume), so skipping ahead is exercised too.
 */
#include "vectors.h"

#include <string.h>

#include "halqa/mls_secret_tree.h"

static void check_sender_data(struct vector_ctx *ctx, json_t *entry)
{
	json_t *sd = vec_object(ctx, entry, "sender_data");
	const uint8_t *secret, *ct, *want_key, *want_nonce;
	size_t secret_len, ct_len, want_key_len, want_nonce_len;
	uint8_t key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN];

	if (sd == NULL || (secret = vec_hex(ctx, sd, "sender_data_secret", &secret_len)) == NULL ||
	    (ct = vec_hex(ctx, sd, "ciphertext", &ct_len)) == NULL ||
	    (want_key = vec_hex(ctx, sd, "key", &want_key_len)) == NULL ||
	    (want_nonce = vec_hex(ctx, sd, "nonce", &want_nonce_len)) == NULL) {
		return;
	}
	if (secret_len != MLS_HASH_LEN) {
		vec_fail(ctx, "sender_data_secret is %zu bytes", secret_len);
		return;
	}
	if (vec_check_rc(ctx, "sender_data",
			 mls_secret_tree_sender_data(key, nonce, secret, ct, ct_len))) {
		vec_check_bytes(ctx, "sender_data key", key, sizeof key, want_key, want_key_len);
		vec_check_bytes(ctx, "sender_data nonce", nonce, sizeof nonce, want_nonce,
				want_nonce_len);
	}
}

static int check_ratchet(struct vector_ctx *ctx, struct mls_secret_tree *tree, uint32_t leaf,
			 enum mls_secret_tree_ratchet type, uint32_t gen, json_t *g,
			 const char *key_field, const char *nonce_field)
{
	struct mls_secret_tree_key k;
	const uint8_t *want_key, *want_nonce;
	size_t want_key_len, want_nonce_len;
	int ok = 0;

	if ((want_key = vec_hex(ctx, g, key_field, &want_key_len)) == NULL ||
	    (want_nonce = vec_hex(ctx, g, nonce_field, &want_nonce_len)) == NULL) {
		return 0;
	}
	if (!vec_check_rc(ctx, key_field, mls_secret_tree_get_key(tree, &k, leaf, type, gen))) {
		return 0;
	}
	if (vec_check_bytes(ctx, key_field, k.key, sizeof k.key, want_key, want_key_len) &&
	    vec_check_bytes(ctx, nonce_field, k.nonce, sizeof k.nonce, want_nonce,
			    want_nonce_len) &&
	    vec_check_rc(ctx, "consume", mls_secret_tree_consume(tree, &k))) {
		ok = 1;
	}
	mls_secret_tree_key_wipe(&k);
	return ok;
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_secret_tree *tree = NULL;
	const uint8_t *secret;
	size_t secret_len, n_leaves;
	json_t *leaves;

	check_sender_data(ctx, entry);
	if ((secret = vec_hex(ctx, entry, "encryption_secret", &secret_len)) == NULL ||
	    (leaves = vec_array(ctx, entry, "leaves")) == NULL) {
		return;
	}
	n_leaves = json_array_size(leaves);
	if (secret_len != MLS_HASH_LEN || n_leaves == 0 || n_leaves > UINT32_MAX) {
		vec_fail(ctx, "bad encryption_secret or leaf count");
		return;
	}
	if (!vec_check_rc(ctx, "secret tree",
			  mls_secret_tree_new(&tree, secret, (uint32_t)n_leaves))) {
		return;
	}
	for (uint32_t i = 0; i < n_leaves; i++) {
		json_t *gens = json_array_get(leaves, i);

		if (!json_is_array(gens) || json_array_size(gens) == 0) {
			vec_fail(ctx, "leaves[%u] is not a non-empty array", i);
			goto out;
		}
		for (size_t j = 0; j < json_array_size(gens); j++) {
			json_t *g = json_array_get(gens, j);
			uint64_t gen;

			if (!json_is_object(g) || !vec_uint(ctx, g, "generation", &gen)) {
				vec_fail(ctx, "leaves[%u][%zu] malformed", i, j);
				goto out;
			}
			if (gen > UINT32_MAX ||
			    !check_ratchet(ctx, tree, i, MLS_SECRET_TREE_HANDSHAKE, (uint32_t)gen,
					   g, "handshake_key", "handshake_nonce") ||
			    !check_ratchet(ctx, tree, i, MLS_SECRET_TREE_APPLICATION, (uint32_t)gen,
					   g, "application_key", "application_nonce")) {
				vec_fail(ctx, "leaves[%u] generation %llu", i,
					 (unsigned long long)gen);
				goto out;
			}
		}
	}
out:
	mls_secret_tree_free(tree);
}

const struct vector_kind vector_kind_secret_tree = {"secret-tree", run_entry};
