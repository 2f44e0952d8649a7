/*
 * kind_crypto_basics.c: the labelled primitives of RFC 9420 section 5 and
 * the key schedule helpers, against crypto-basics.json. Each entry holds
 * one object per primitive and every one of them is checked:
 *
 *   ref_hash, expand_with_label, derive_secret, derive_tree_secret: our
 *       output equals "out";
 *   sign_with_label: the given signature verifies, our own signature over
 *       the same content verifies, and (Ed25519 being deterministic) equals
 *       the given bytes; the seed's public key equals "pub"; a flipped bit
 *       in the content, or another label, is refused;
 *   encrypt_with_label: the given ciphertext decrypts to "plaintext" with
 *       "priv"; our own encryption to "pub" decrypts back to it; a flipped
 *       ciphertext bit is refused. HPKE is randomised, so our ciphertext is
 *       not compared with the given one.
 *
 * The entry's cipher_suite must be 3, the only suite we implement.
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_crypto.h"

static const char *label_of(struct vector_ctx *ctx, json_t *obj, const char *what)
{
	json_t *v = json_object_get(obj, "label");

	if (v == NULL || !json_is_string(v)) {
		vec_fail(ctx, "%s: field label missing or not a string", what);
		return NULL;
	}
	return json_string_value(v);
}

/* A copy of |src| in ctx-owned memory with one bit flipped, to tamper with. */
static uint8_t *flipped(struct vector_ctx *ctx, const uint8_t *src, size_t len, size_t at)
{
	uint8_t *out = vec_alloc(ctx, len);

	memcpy(out, src, len);
	if (len > 0) {
		out[at % len] ^= 0x01;
	}
	return out;
}

static void check_ref_hash(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "ref_hash");
	const uint8_t *value, *want;
	size_t value_len, want_len;
	const char *label;
	uint8_t out[MLS_HASH_LEN];

	if (o == NULL || (label = label_of(ctx, o, "ref_hash")) == NULL ||
	    (value = vec_hex(ctx, o, "value", &value_len)) == NULL ||
	    (want = vec_hex(ctx, o, "out", &want_len)) == NULL) {
		return;
	}
	if (vec_check_rc(ctx, "ref_hash", mls_ref_hash(out, label, value, value_len))) {
		vec_check_bytes(ctx, "ref_hash: out", out, sizeof out, want, want_len);
	}
}

static void check_expand_with_label(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "expand_with_label");
	const uint8_t *secret, *context, *want;
	size_t secret_len, context_len, want_len;
	const char *label;
	uint64_t length;
	uint8_t *out;

	if (o == NULL || (label = label_of(ctx, o, "expand_with_label")) == NULL ||
	    (secret = vec_hex(ctx, o, "secret", &secret_len)) == NULL ||
	    (context = vec_hex(ctx, o, "context", &context_len)) == NULL ||
	    (want = vec_hex(ctx, o, "out", &want_len)) == NULL ||
	    !vec_uint(ctx, o, "length", &length)) {
		return;
	}
	if (secret_len != MLS_HASH_LEN || length > 0xffff) {
		vec_fail(ctx, "expand_with_label: secret or length out of range");
		return;
	}
	out = vec_alloc(ctx, (size_t)length);
	if (vec_check_rc(
		ctx, "expand_with_label",
		mls_expand_with_label(out, (size_t)length, secret, label, context, context_len))) {
		vec_check_bytes(ctx, "expand_with_label: out", out, (size_t)length, want, want_len);
	}
}

static void check_derive_secret(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "derive_secret");
	const uint8_t *secret, *want;
	size_t secret_len, want_len;
	const char *label;
	uint8_t out[MLS_HASH_LEN];

	if (o == NULL || (label = label_of(ctx, o, "derive_secret")) == NULL ||
	    (secret = vec_hex(ctx, o, "secret", &secret_len)) == NULL ||
	    (want = vec_hex(ctx, o, "out", &want_len)) == NULL) {
		return;
	}
	if (secret_len != MLS_HASH_LEN) {
		vec_fail(ctx, "derive_secret: secret is not 32 bytes");
		return;
	}
	if (vec_check_rc(ctx, "derive_secret", mls_derive_secret(out, secret, label))) {
		vec_check_bytes(ctx, "derive_secret: out", out, sizeof out, want, want_len);
	}
}

static void check_derive_tree_secret(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "derive_tree_secret");
	const uint8_t *secret, *want;
	size_t secret_len, want_len;
	const char *label;
	uint64_t length, generation;
	uint8_t *out;

	if (o == NULL || (label = label_of(ctx, o, "derive_tree_secret")) == NULL ||
	    (secret = vec_hex(ctx, o, "secret", &secret_len)) == NULL ||
	    (want = vec_hex(ctx, o, "out", &want_len)) == NULL ||
	    !vec_uint(ctx, o, "length", &length) || !vec_uint(ctx, o, "generation", &generation)) {
		return;
	}
	if (secret_len != MLS_HASH_LEN || length > 0xffff || generation > UINT32_MAX) {
		vec_fail(ctx, "derive_tree_secret: secret, length or generation out of range");
		return;
	}
	out = vec_alloc(ctx, (size_t)length);
	if (vec_check_rc(
		ctx, "derive_tree_secret",
		mls_derive_tree_secret(out, (size_t)length, secret, label, (uint32_t)generation))) {
		vec_check_bytes(ctx, "derive_tree_secret: out", out, (size_t)length, want,
				want_len);
	}
}

static void check_sign_with_label(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "sign_with_label");
	const uint8_t *seed, *pub, *content, *sig;
	size_t seed_len, pub_len, content_len, sig_len;
	const char *label;
	uint8_t priv[MLS_SIG_PRIV_LEN], our_pub[MLS_SIG_PUB_LEN], our_sig[MLS_SIG_LEN];

	if (o == NULL || (label = label_of(ctx, o, "sign_with_label")) == NULL ||
	    (seed = vec_hex(ctx, o, "priv", &seed_len)) == NULL ||
	    (pub = vec_hex(ctx, o, "pub", &pub_len)) == NULL ||
	    (content = vec_hex(ctx, o, "content", &content_len)) == NULL ||
	    (sig = vec_hex(ctx, o, "signature", &sig_len)) == NULL) {
		return;
	}
	if (seed_len != MLS_SIG_SEED_LEN || pub_len != MLS_SIG_PUB_LEN) {
		vec_fail(ctx, "sign_with_label: key sizes %zu/%zu", seed_len, pub_len);
		return;
	}
	if (!vec_check_rc(ctx, "sign_with_label: verify given signature",
			  mls_verify_with_label(pub, label, content, content_len, sig, sig_len)) ||
	    !vec_check_rc(ctx, "sign_with_label: key from seed",
			  mls_sig_key_pair_from_seed(priv, our_pub, seed))) {
		goto out;
	}
	if (!vec_check_bytes(ctx, "sign_with_label: public key from seed", our_pub, sizeof our_pub,
			     pub, pub_len) ||
	    !vec_check_rc(ctx, "sign_with_label: sign",
			  mls_sign_with_label(our_sig, priv, label, content, content_len)) ||
	    !vec_check_rc(
		ctx, "sign_with_label: verify our signature",
		mls_verify_with_label(pub, label, content, content_len, our_sig, sizeof our_sig)) ||
	    !vec_check_bytes(ctx, "sign_with_label: our signature", our_sig, sizeof our_sig, sig,
			     sig_len)) {
		goto out;
	}
	if (mls_verify_with_label(pub, label, flipped(ctx, content, content_len, 7), content_len,
				  sig, sig_len) != HALQA_ERR_CRYPTO ||
	    mls_verify_with_label(pub, "another label", content, content_len, sig, sig_len) !=
		HALQA_ERR_CRYPTO ||
	    mls_verify_with_label(pub, label, content, content_len, sig, sig_len - 1) !=
		HALQA_ERR_CRYPTO) {
		vec_fail(ctx, "sign_with_label: a tampered signature input verified");
	}
out:
	sodium_memzero(priv, sizeof priv);
}

static void check_encrypt_with_label(struct vector_ctx *ctx, json_t *entry)
{
	json_t *o = vec_object(ctx, entry, "encrypt_with_label");
	const uint8_t *priv, *pub, *context, *kem_output, *ct, *pt;
	size_t priv_len, pub_len, context_len, kem_output_len, ct_len, pt_len;
	const char *label;
	uint8_t our_kem_output[MLS_KEM_PUB_LEN];
	uint8_t *out = NULL, *our_ct = NULL;
	size_t out_len = 0, our_ct_len = 0;

	if (o == NULL || (label = label_of(ctx, o, "encrypt_with_label")) == NULL ||
	    (priv = vec_hex(ctx, o, "priv", &priv_len)) == NULL ||
	    (pub = vec_hex(ctx, o, "pub", &pub_len)) == NULL ||
	    (context = vec_hex(ctx, o, "context", &context_len)) == NULL ||
	    (kem_output = vec_hex(ctx, o, "kem_output", &kem_output_len)) == NULL ||
	    (ct = vec_hex(ctx, o, "ciphertext", &ct_len)) == NULL ||
	    (pt = vec_hex(ctx, o, "plaintext", &pt_len)) == NULL) {
		return;
	}
	if (priv_len != MLS_KEM_PRIV_LEN || pub_len != MLS_KEM_PUB_LEN) {
		vec_fail(ctx, "encrypt_with_label: key sizes %zu/%zu", priv_len, pub_len);
		return;
	}
	if (!vec_check_rc(ctx, "encrypt_with_label: decrypt given ciphertext",
			  mls_decrypt_with_label(&out, &out_len, priv, label, context, context_len,
						 kem_output, kem_output_len, ct, ct_len)) ||
	    !vec_check_bytes(ctx, "encrypt_with_label: given ciphertext's plaintext", out, out_len,
			     pt, pt_len)) {
		goto out;
	}
	free(out);
	out = NULL;
	if (mls_decrypt_with_label(&out, &out_len, priv, label, context, context_len, kem_output,
				   kem_output_len, flipped(ctx, ct, ct_len, ct_len - 1),
				   ct_len) != HALQA_ERR_CRYPTO ||
	    mls_decrypt_with_label(&out, &out_len, priv, "another label", context, context_len,
				   kem_output, kem_output_len, ct, ct_len) != HALQA_ERR_CRYPTO ||
	    out != NULL) {
		vec_fail(ctx, "encrypt_with_label: a tampered ciphertext decrypted");
		goto out;
	}
	if (!vec_check_rc(ctx, "encrypt_with_label: encrypt",
			  mls_encrypt_with_label(our_kem_output, &our_ct, &our_ct_len, pub, label,
						 context, context_len, pt, pt_len)) ||
	    !vec_check_rc(ctx, "encrypt_with_label: decrypt our ciphertext",
			  mls_decrypt_with_label(&out, &out_len, priv, label, context, context_len,
						 our_kem_output, sizeof our_kem_output, our_ct,
						 our_ct_len))) {
		goto out;
	}
	vec_check_bytes(ctx, "encrypt_with_label: our ciphertext's plaintext", out, out_len, pt,
			pt_len);
out:
	free(out);
	free(our_ct);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	uint64_t suite;

	if (!vec_uint(ctx, entry, "cipher_suite", &suite)) {
		return;
	}
	if (suite != 3) {
		vec_fail(ctx, "cipher_suite %llu is not 3", (unsigned long long)suite);
		return;
	}
	check_ref_hash(ctx, entry);
	check_expand_with_label(ctx, entry);
	check_derive_secret(ctx, entry);
	check_derive_tree_secret(ctx, entry);
	check_sign_with_label(ctx, entry);
	check_encrypt_with_label(ctx, entry);
}

const struct vector_kind vector_kind_crypto_basics = {"crypto-basics", run_entry};
