/*
 * mls_keypackage.c: making and checking KeyPackages (RFC 9420 section 10).
 *
 * Creation draws two fresh X25519 key pairs (init key and leaf encryption
 * key), builds the leaf with our capabilities and the caller's lifetime,
 * and signs first the LeafNodeTBS and then the KeyPackageTBS with the
 * identity key, both encoded by the codec. Validation reuses the tree
 * layer's LeafNode checks (7.3) against an empty tree, so a KeyPackage
 * leaf and a tree leaf are judged by the same code, and adds the rules
 * that belong to the package itself (10.1). Private keys never leave the
 * mls_keypackage_private struct except by the caller's copy, and every
 * intermediate encoding holding them is wiped.
 */
#include "halqa/mls_keypackage.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_group.h"
#include "halqa/mls_tree.h"

static int u16_list_set(struct mls_u16_list *l, const uint16_t *v, size_t n)
{
	l->items = calloc(n, sizeof *l->items);
	if (l->items == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memcpy(l->items, v, n * sizeof *v);
	l->num = n;
	return HALQA_OK;
}

int mls_keypackage_capabilities(struct mls_capabilities *out)
{
	static const uint16_t versions[] = {MLS_VERSION_MLS10};
	static const uint16_t suites[] = {MLS_KEYPACKAGE_SUITE};
	/* 7.2: default extension and proposal types are implied, not listed. */
	static const uint16_t exts[] = {MLS_KEYPACKAGE_EXT_LAST_RESORT, MLS_GROUP_EXT_ROSTER};
	static const uint16_t creds[] = {MLS_CREDENTIAL_BASIC};
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = u16_list_set(&out->versions, versions, 1)) != 0 ||
	    (rc = u16_list_set(&out->cipher_suites, suites, 1)) != 0 ||
	    (rc = u16_list_set(&out->extensions, exts, 2)) != 0 ||
	    (rc = u16_list_set(&out->credentials, creds, 1)) != 0) {
		mls_capabilities_cleanup(out);
		return rc;
	}
	return HALQA_OK;
}

/* Signs |kp|'s leaf (source key_package) and then |kp| itself. */
static int sign_package(struct mls_key_package *kp, const uint8_t sig_priv[MLS_SIG_PRIV_LEN])
{
	struct bytes_writer w;
	uint8_t sig[MLS_SIG_LEN];
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	mls_leaf_node_tbs_encode(&w, &kp->leaf_node, NULL, 0, 0);
	if ((rc = bytes_writer_error(&w)) != 0 ||
	    (rc = mls_sign_with_label(sig, sig_priv, "LeafNodeTBS", bytes_writer_data(&w),
				      bytes_writer_len(&w))) != 0 ||
	    (rc = mls_bytes_set(&kp->leaf_node.signature, sig, sizeof sig)) != 0) {
		goto out;
	}
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	mls_key_package_tbs_encode(&w, kp);
	if ((rc = bytes_writer_error(&w)) != 0 ||
	    (rc = mls_sign_with_label(sig, sig_priv, "KeyPackageTBS", bytes_writer_data(&w),
				      bytes_writer_len(&w))) != 0 ||
	    (rc = mls_bytes_set(&kp->signature, sig, sizeof sig)) != 0) {
		goto out;
	}
out:
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_keypackage_create(struct mls_key_package *out, struct mls_keypackage_private *priv,
			  const uint8_t sig_priv[MLS_SIG_PRIV_LEN], uint64_t not_before,
			  uint64_t not_after, bool last_resort)
{
	uint8_t init_pub[MLS_KEM_PUB_LEN], enc_pub[MLS_KEM_PUB_LEN];
	struct mls_leaf_node *leaf;
	int rc;

	if (out == NULL || priv == NULL || sig_priv == NULL || not_after < not_before) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(priv, 0, sizeof *priv);
	crypto_box_keypair(init_pub, priv->init_priv);
	crypto_box_keypair(enc_pub, priv->encryption_priv);
	out->version = MLS_VERSION_MLS10;
	out->cipher_suite = MLS_KEYPACKAGE_SUITE;
	leaf = &out->leaf_node;
	leaf->leaf_node_source = MLS_LEAF_SOURCE_KEY_PACKAGE;
	leaf->lifetime.not_before = not_before;
	leaf->lifetime.not_after = not_after;
	leaf->credential.type = MLS_CREDENTIAL_BASIC;
	/* The libsodium private key ends with the public key (mls_crypto.h). */
	if ((rc = mls_bytes_set(&out->init_key, init_pub, sizeof init_pub)) != 0 ||
	    (rc = mls_bytes_set(&leaf->encryption_key, enc_pub, sizeof enc_pub)) != 0 ||
	    (rc = mls_bytes_set(&leaf->signature_key, sig_priv + MLS_SIG_SEED_LEN,
				MLS_SIG_PUB_LEN)) != 0 ||
	    (rc = mls_bytes_set(&leaf->credential.identity, sig_priv + MLS_SIG_SEED_LEN,
				MLS_SIG_PUB_LEN)) != 0 ||
	    (rc = mls_keypackage_capabilities(&leaf->capabilities)) != 0) {
		goto out;
	}
	if (last_resort) {
		out->extensions.items = calloc(1, sizeof *out->extensions.items);
		if (out->extensions.items == NULL) {
			rc = HALQA_ERR_NOMEM;
			goto out;
		}
		out->extensions.items[0].type = MLS_KEYPACKAGE_EXT_LAST_RESORT;
		out->extensions.num = 1;
	}
	rc = sign_package(out, sig_priv);
out:
	if (rc != 0) {
		mls_key_package_cleanup(out);
		mls_keypackage_private_wipe(priv);
	}
	return rc;
}

void mls_keypackage_private_wipe(struct mls_keypackage_private *priv)
{
	if (priv != NULL) {
		sodium_memzero(priv, sizeof *priv);
	}
}

int mls_keypackage_validate(const struct mls_key_package *kp, uint64_t now)
{
	struct mls_tree_policy policy = {.now = now};
	struct bytes_writer w;
	struct mls_tree *empty = NULL;
	int rc;

	if (kp == NULL) {
		return HALQA_ERR_ARG;
	}
	if (kp->version != MLS_VERSION_MLS10 || kp->cipher_suite != MLS_KEYPACKAGE_SUITE) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (kp->init_key.len != MLS_KEM_PUB_LEN ||
	    (kp->leaf_node.encryption_key.len == kp->init_key.len &&
	     memcmp(kp->init_key.data, kp->leaf_node.encryption_key.data, kp->init_key.len) == 0)) {
		/* 10.1: init_key and encryption_key MUST differ. */
		return HALQA_ERR_INVALID;
	}
	for (size_t i = 0; i < kp->extensions.num; i++) {
		for (size_t j = 0; j < i; j++) {
			if (kp->extensions.items[i].type == kp->extensions.items[j].type) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	/* 10.1: the leaf must support the suite and version it is offered for. */
	{
		const struct mls_capabilities *c = &kp->leaf_node.capabilities;
		bool v = false, s = false;

		for (size_t i = 0; i < c->versions.num; i++) {
			v = v || c->versions.items[i] == MLS_VERSION_MLS10;
		}
		for (size_t i = 0; i < c->cipher_suites.num; i++) {
			s = s || c->cipher_suites.items[i] == MLS_KEYPACKAGE_SUITE;
		}
		if (!v || !s) {
			return HALQA_ERR_INVALID;
		}
	}
	if ((empty = mls_tree_new()) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	rc = mls_tree_check_leaf(empty, &kp->leaf_node, 0, MLS_LEAF_SOURCE_KEY_PACKAGE, &policy);
	mls_tree_free(empty);
	if (rc != 0) {
		return rc;
	}
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	mls_key_package_tbs_encode(&w, kp);
	if ((rc = bytes_writer_error(&w)) == 0) {
		rc = mls_verify_with_label(kp->leaf_node.signature_key.data, "KeyPackageTBS",
					   bytes_writer_data(&w), bytes_writer_len(&w),
					   kp->signature.data, kp->signature.len);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_keypackage_ref(const struct mls_key_package *kp, uint8_t out[MLS_HASH_LEN])
{
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	int rc;

	if ((rc = mls_key_package_encode_bytes(kp, &enc, &enc_len)) != 0) {
		sodium_memzero(out, MLS_HASH_LEN);
		return rc;
	}
	rc = mls_ref_hash(out, "MLS 1.0 KeyPackage Reference", enc, enc_len);
	free(enc);
	return rc;
}

bool mls_keypackage_is_last_resort(const struct mls_key_package *kp)
{
	return kp != NULL &&
	       mls_extension_list_find(&kp->extensions, MLS_KEYPACKAGE_EXT_LAST_RESORT) != NULL;
}

int mls_keypackage_leaf_identity(const struct mls_leaf_node *leaf, uint8_t out[MLS_SIG_PUB_LEN])
{
	const struct mls_credential *c;

	memset(out, 0, MLS_SIG_PUB_LEN);
	if (leaf == NULL) {
		return HALQA_ERR_ARG;
	}
	c = &leaf->credential;
	if (c->type != MLS_CREDENTIAL_BASIC || c->identity.len != MLS_SIG_PUB_LEN ||
	    leaf->signature_key.len != MLS_SIG_PUB_LEN ||
	    sodium_memcmp(c->identity.data, leaf->signature_key.data, MLS_SIG_PUB_LEN) != 0) {
		return HALQA_ERR_INVALID;
	}
	memcpy(out, c->identity.data, MLS_SIG_PUB_LEN);
	return HALQA_OK;
}
