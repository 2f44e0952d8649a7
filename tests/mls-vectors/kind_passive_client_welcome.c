/*
 * kind_passive_client_welcome.c: the upstream passive-client scenarios
 * (test-vectors.md, "Passive Client Scenarios"). A client joins from
 * another implementation's Welcome with the given KeyPackage, private
 * keys, optional out-of-band ratchet tree and external PSKs, checks the
 * initial epoch authenticator, then for each epoch processes the
 * proposals and the commit and compares the epoch authenticator. The
 * three upstream files share this format; passive_client_run is the
 * join-and-follow path all three kinds use, through the public group API
 * only (mls_group.h).
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec_msg.h"
#include "halqa/mls_crypto.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"

void passive_client_run(struct vector_ctx *ctx, json_t *entry);

/* The KeyPackage field is an MLSMessage(KeyPackage); a bare KeyPackage is accepted too. */
static int decode_kp(const uint8_t *data, size_t len, struct mls_message *m)
{
	if (mls_message_decode_bytes(data, len, m) == 0) {
		return m->wire_format == MLS_WIRE_KEY_PACKAGE ? HALQA_OK : HALQA_ERR_INVALID;
	}
	memset(m, 0, sizeof *m);
	m->wire_format = MLS_WIRE_KEY_PACKAGE;
	return mls_key_package_decode_bytes(data, len, &m->key_package);
}

static int load_psks(struct vector_ctx *ctx, json_t *entry, struct mls_group_psk_store *store)
{
	json_t *arr = vec_array(ctx, entry, "external_psks"), *item;
	struct mls_group_psk *psks;
	size_t i;

	if (arr == NULL) {
		return 0;
	}
	psks = vec_alloc(ctx, (json_array_size(arr) + 1) * sizeof *psks);
	json_array_foreach(arr, i, item)
	{
		if ((psks[i].id = vec_hex(ctx, item, "psk_id", &psks[i].id_len)) == NULL ||
		    (psks[i].secret = vec_hex(ctx, item, "psk", &psks[i].secret_len)) == NULL) {
			return 0;
		}
	}
	store->items = psks;
	store->num = json_array_size(arr);
	return 1;
}

void passive_client_run(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_message kpm = {0};
	struct mls_keypackage_private kpp = {0};
	struct mls_group_psk_store *store = vec_alloc(ctx, sizeof *store);
	struct mls_group *g = NULL;
	const uint8_t *sig_seed, *enc_priv, *init_priv, *welcome, *tree = NULL, *auth0;
	size_t sig_seed_len, enc_priv_len, init_priv_len, welcome_len, tree_len = 0, auth0_len;
	uint8_t sig_priv[MLS_SIG_PRIV_LEN], sig_pub[MLS_SIG_PUB_LEN], pub[32], auth[MLS_HASH_LEN];
	const struct mls_key_package *kp;
	json_t *epochs, *ep, *rt;
	uint64_t suite;
	size_t i;

	if (!vec_uint(ctx, entry, "cipher_suite", &suite) ||
	    (sig_seed = vec_hex(ctx, entry, "signature_priv", &sig_seed_len)) == NULL ||
	    (enc_priv = vec_hex(ctx, entry, "encryption_priv", &enc_priv_len)) == NULL ||
	    (init_priv = vec_hex(ctx, entry, "init_priv", &init_priv_len)) == NULL ||
	    (welcome = vec_hex(ctx, entry, "welcome", &welcome_len)) == NULL ||
	    (auth0 = vec_hex(ctx, entry, "initial_epoch_authenticator", &auth0_len)) == NULL ||
	    (epochs = vec_array(ctx, entry, "epochs")) == NULL || !load_psks(ctx, entry, store)) {
		return;
	}
	if (suite != 3 || sig_seed_len != MLS_SIG_SEED_LEN || enc_priv_len != 32 ||
	    init_priv_len != 32) {
		vec_fail(ctx, "suite %llu or key sizes not ours", (unsigned long long)suite);
		return;
	}
	rt = json_object_get(entry, "ratchet_tree");
	if (rt != NULL && !json_is_null(rt) &&
	    (tree = vec_hex_value(ctx, rt, "ratchet_tree", &tree_len)) == NULL) {
		return;
	}
	{
		size_t kp_len;
		const uint8_t *kp_bytes = vec_hex(ctx, entry, "key_package", &kp_len);

		if (kp_bytes == NULL ||
		    !vec_check_rc(ctx, "decode key_package", decode_kp(kp_bytes, kp_len, &kpm))) {
			return;
		}
	}
	kp = &kpm.key_package;
	/* The private keys must belong to the KeyPackage's public keys. */
	if (!vec_check_rc(ctx, "signature key", mls_sig_key_pair_from_seed(sig_priv, sig_pub, sig_seed))) {
		goto out;
	}
	if (kp->leaf_node.signature_key.len != 32 ||
	    memcmp(kp->leaf_node.signature_key.data, sig_pub, 32) != 0) {
		vec_fail(ctx, "signature_priv does not match the KeyPackage");
		goto out;
	}
	if (crypto_scalarmult_base(pub, enc_priv) != 0 || kp->leaf_node.encryption_key.len != 32 ||
	    memcmp(kp->leaf_node.encryption_key.data, pub, 32) != 0 ||
	    crypto_scalarmult_base(pub, init_priv) != 0 || kp->init_key.len != 32 ||
	    memcmp(kp->init_key.data, pub, 32) != 0) {
		vec_fail(ctx, "encryption_priv or init_priv does not match the KeyPackage");
		goto out;
	}
	memcpy(kpp.init_priv, init_priv, 32);
	memcpy(kpp.encryption_priv, enc_priv, 32);
	if (!vec_check_rc(ctx, "join", mls_group_join(&g, welcome, welcome_len, tree, tree_len,
						       sig_priv, kp, &kpp, store))) {
		goto out;
	}
	mls_group_epoch_authenticator(g, auth);
	if (!vec_check_bytes(ctx, "initial_epoch_authenticator", auth, sizeof auth, auth0,
			     auth0_len)) {
		goto out;
	}
	json_array_foreach(epochs, i, ep)
	{
		json_t *props = vec_array(ctx, ep, "proposals"), *p;
		const uint8_t *commit, *want, *msg;
		size_t commit_len, want_len, msg_len, j;
		struct mls_group_event ev;

		if (props == NULL || (commit = vec_hex(ctx, ep, "commit", &commit_len)) == NULL ||
		    (want = vec_hex(ctx, ep, "epoch_authenticator", &want_len)) == NULL) {
			goto out;
		}
		json_array_foreach(props, j, p)
		{
			if ((msg = vec_hex_value(ctx, p, "proposal", &msg_len)) == NULL) {
				goto out;
			}
			if (!vec_check_rc(ctx, "proposal", mls_group_process(g, msg, msg_len, &ev))) {
				vec_fail(ctx, "epoch %zu proposal %zu refused", i, j);
				goto out;
			}
			mls_group_event_cleanup(&ev);
		}
		if (!vec_check_rc(ctx, "commit", mls_group_process(g, commit, commit_len, &ev))) {
			vec_fail(ctx, "epoch %zu commit refused", i);
			goto out;
		}
		if (ev.type != MLS_GROUP_EVENT_COMMIT) {
			vec_fail(ctx, "epoch %zu: the commit message is not a commit", i);
			mls_group_event_cleanup(&ev);
			goto out;
		}
		mls_group_event_cleanup(&ev);
		mls_group_epoch_authenticator(g, auth);
		if (!vec_check_bytes(ctx, "epoch_authenticator", auth, sizeof auth, want, want_len)) {
			vec_fail(ctx, "epoch %zu authenticator differs", i);
			goto out;
		}
	}
out:
	sodium_memzero(sig_priv, sizeof sig_priv);
	mls_keypackage_private_wipe(&kpp);
	mls_group_free(g);
	mls_message_cleanup(&kpm);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	passive_client_run(ctx, entry);
}

const struct vector_kind vector_kind_passive_client_welcome = {"passive-client-welcome", run_entry};
