/*
 * test_mls_crypto.c: the RFC 9420 section 5 primitives beyond what
 * crypto-basics.json shows (that file runs as `mls-vectors crypto-basics`):
 * the encodings checked against structs built by hand here (including the
 * 2-byte varint of a context over 63 bytes), the label and length limits,
 * signature refusals, and Encrypt/DecryptWithLabel's strict input sizes.
 */
#include "halqa/mls_crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++) {
		acc |= p[i];
	}
	return acc == 0;
}

/*
 * KDFLabel written out by hand: uint16 length, "MLS 1.0 " + label with a
 * 1-byte varint, the context with a 2-byte varint (0x40 | len >> 8).
 */
static void test_expand_with_label_encoding(void)
{
	static const char label[] = "my label";
	uint8_t secret[MLS_HASH_LEN], context[100], kdf_label[2 + 1 + 16 + 2 + 100];
	uint8_t want[48], got[48];
	size_t n = 0;

	memset(secret, 0x11, sizeof secret);
	for (size_t i = 0; i < sizeof context; i++) {
		context[i] = (uint8_t)i;
	}
	kdf_label[n++] = 0;
	kdf_label[n++] = sizeof want;
	kdf_label[n++] = 16;
	memcpy(kdf_label + n, "MLS 1.0 my label", 16);
	n += 16;
	kdf_label[n++] = 0x40;
	kdf_label[n++] = sizeof context;
	memcpy(kdf_label + n, context, sizeof context);
	n += sizeof context;
	CHECK_INT_EQ(n, sizeof kdf_label);
	CHECK_OK(hkdf_expand(want, sizeof want, secret, kdf_label, sizeof kdf_label));
	CHECK_OK(mls_expand_with_label(got, sizeof got, secret, label, context, sizeof context));
	CHECK_MEM_EQ(got, sizeof got, want, sizeof want);
}

/* DeriveSecret and DeriveTreeSecret are ExpandWithLabel with fixed contexts. */
static void test_derive_helpers(void)
{
	static const uint8_t gen_be[4] = {0xa0, 0xb1, 0xc2, 0xd3};
	uint8_t secret[MLS_HASH_LEN], a[MLS_HASH_LEN], b[MLS_HASH_LEN], c[12], d[12];

	memset(secret, 0x22, sizeof secret);
	CHECK_OK(mls_derive_secret(a, secret, "epoch"));
	CHECK_OK(mls_expand_with_label(b, sizeof b, secret, "epoch", NULL, 0));
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	CHECK_OK(mls_derive_tree_secret(c, sizeof c, secret, "nonce", 0xa0b1c2d3u));
	CHECK_OK(mls_expand_with_label(d, sizeof d, secret, "nonce", gen_be, sizeof gen_be));
	CHECK_MEM_EQ(c, sizeof c, d, sizeof d);
}

/* RefHashInput by hand; the label is taken as is, without "MLS 1.0 ". */
static void test_ref_hash_encoding(void)
{
	static const char label[] = "MLS 1.0 KeyPackage Reference";
	uint8_t value[300], input[1 + 28 + 2 + 300], want[MLS_HASH_LEN], got[MLS_HASH_LEN];
	size_t n = 0;

	for (size_t i = 0; i < sizeof value; i++) {
		value[i] = (uint8_t)(i * 7);
	}
	input[n++] = 28;
	memcpy(input + n, label, 28);
	n += 28;
	input[n++] = 0x40 | (sizeof value >> 8);
	input[n++] = sizeof value & 0xff;
	memcpy(input + n, value, sizeof value);
	crypto_hash_sha256(want, input, sizeof input);
	CHECK_OK(mls_ref_hash(got, label, value, sizeof value));
	CHECK_MEM_EQ(got, sizeof got, want, sizeof want);
}

static void test_label_and_length_limits(void)
{
	char long_label[MLS_LABEL_MAX + 2];
	uint8_t secret[MLS_HASH_LEN] = {0}, out[64];
	uint8_t *big = malloc(255 * 32 + 1);

	CHECK(big != NULL);
	memset(long_label, 'a', sizeof long_label - 1);
	long_label[MLS_LABEL_MAX] = '\0';
	CHECK_OK(mls_derive_secret(out, secret, long_label));
	long_label[MLS_LABEL_MAX] = 'a';
	long_label[MLS_LABEL_MAX + 1] = '\0';
	memset(out, 0x77, sizeof out);
	CHECK_RC(mls_derive_secret(out, secret, long_label), HALQA_ERR_ARG);
	CHECK(all_zero(out, MLS_HASH_LEN));
	CHECK_RC(mls_derive_secret(out, secret, NULL), HALQA_ERR_ARG);
	CHECK_RC(mls_ref_hash(out, NULL, NULL, 0), HALQA_ERR_ARG);
	CHECK_RC(mls_expand_with_label(out, 4, secret, "x", NULL, 3), HALQA_ERR_ARG);

	CHECK_OK(mls_expand_with_label(big, 255 * 32, secret, "x", NULL, 0));
	memset(big, 0x77, 255 * 32 + 1);
	CHECK_RC(mls_expand_with_label(big, 255 * 32 + 1, secret, "x", NULL, 0), HALQA_ERR_ARG);
	CHECK(all_zero(big, 255 * 32 + 1));
	free(big);
}

static void test_sign_verify(void)
{
	static const uint8_t content[] = "signed content";
	static const uint8_t small_order_pub[MLS_SIG_PUB_LEN] = {1};
	uint8_t seed[MLS_SIG_SEED_LEN], priv[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN];
	uint8_t sig[MLS_SIG_LEN + 1];
	const size_t n = sizeof content - 1;

	randombytes_buf(seed, sizeof seed);
	CHECK_OK(mls_sig_key_pair_from_seed(priv, pub, seed));
	CHECK_OK(mls_sign_with_label(sig, priv, "LeafNodeTBS", content, n));
	CHECK_OK(mls_verify_with_label(pub, "LeafNodeTBS", content, n, sig, MLS_SIG_LEN));
	CHECK_RC(mls_verify_with_label(pub, "GroupInfoTBS", content, n, sig, MLS_SIG_LEN),
		 HALQA_ERR_CRYPTO);
	CHECK_RC(mls_verify_with_label(pub, "LeafNodeTBS", content, n - 1, sig, MLS_SIG_LEN),
		 HALQA_ERR_CRYPTO);
	sig[MLS_SIG_LEN] = 0;
	CHECK_RC(mls_verify_with_label(pub, "LeafNodeTBS", content, n, sig, MLS_SIG_LEN + 1),
		 HALQA_ERR_CRYPTO);
	CHECK_RC(mls_verify_with_label(pub, "LeafNodeTBS", content, n, sig, MLS_SIG_LEN - 1),
		 HALQA_ERR_CRYPTO);
	CHECK_RC(mls_verify_with_label(pub, "LeafNodeTBS", content, n, NULL, 0), HALQA_ERR_CRYPTO);
	CHECK_RC(
	    mls_verify_with_label(small_order_pub, "LeafNodeTBS", content, n, sig, MLS_SIG_LEN),
	    HALQA_ERR_CRYPTO);
	sig[10] ^= 4;
	CHECK_RC(mls_verify_with_label(pub, "LeafNodeTBS", content, n, sig, MLS_SIG_LEN),
		 HALQA_ERR_CRYPTO);
	sodium_memzero(priv, sizeof priv);
	sodium_memzero(seed, sizeof seed);
}

static void test_encrypt_decrypt(void)
{
	static const uint8_t context[] = "group context";
	static const uint8_t msg[] = "path secret";
	uint8_t ikm[32], priv[MLS_KEM_PRIV_LEN], pub[MLS_KEM_PUB_LEN], priv2[MLS_KEM_PRIV_LEN];
	uint8_t kem_output[MLS_KEM_PUB_LEN];
	uint8_t *ct = NULL, *pt = (uint8_t *)1;
	size_t ct_len = 0, pt_len = 99;

	memset(ikm, 0x33, sizeof ikm);
	CHECK_OK(mls_kem_derive_key_pair(priv, pub, ikm, sizeof ikm));
	CHECK_OK(mls_kem_derive_key_pair(priv2, kem_output, ikm, sizeof ikm));
	CHECK_MEM_EQ(priv2, sizeof priv2, priv, sizeof priv); /* deterministic */
	CHECK_RC(mls_kem_derive_key_pair(priv2, kem_output, ikm, 31), HALQA_ERR_ARG);

	CHECK_OK(mls_encrypt_with_label(kem_output, &ct, &ct_len, pub, "UpdatePathNode", context,
					sizeof context, msg, sizeof msg));
	CHECK_INT_EQ(ct_len, sizeof msg + MLS_AEAD_TAG_LEN);
	CHECK_OK(mls_decrypt_with_label(&pt, &pt_len, priv, "UpdatePathNode", context,
					sizeof context, kem_output, sizeof kem_output, ct, ct_len));
	CHECK_MEM_EQ(pt, pt_len, msg, sizeof msg);
	free(pt);

	/* Failures leave NULL/0 outputs. */
	pt = (uint8_t *)1;
	CHECK_RC(mls_decrypt_with_label(&pt, &pt_len, priv, "UpdatePathNode", context,
					sizeof context - 1, kem_output, sizeof kem_output, ct,
					ct_len),
		 HALQA_ERR_CRYPTO);
	CHECK(pt == NULL && pt_len == 0);
	CHECK_RC(mls_decrypt_with_label(&pt, &pt_len, priv, "Welcome", context, sizeof context,
					kem_output, sizeof kem_output, ct, ct_len),
		 HALQA_ERR_CRYPTO);
	CHECK_RC(mls_decrypt_with_label(&pt, &pt_len, priv, "UpdatePathNode", context,
					sizeof context, kem_output, sizeof kem_output - 1, ct,
					ct_len),
		 HALQA_ERR_MALFORMED);
	CHECK_RC(mls_decrypt_with_label(&pt, &pt_len, priv, "UpdatePathNode", context,
					sizeof context, kem_output, sizeof kem_output, ct,
					MLS_AEAD_TAG_LEN - 1),
		 HALQA_ERR_MALFORMED);
	CHECK_RC(mls_decrypt_with_label(&pt, &pt_len, ikm, "UpdatePathNode", context,
					sizeof context, kem_output, sizeof kem_output, ct, ct_len),
		 HALQA_ERR_CRYPTO);
	CHECK(pt == NULL && pt_len == 0);
	free(ct);

	/* An empty plaintext still yields non-NULL buffers. */
	CHECK_OK(mls_encrypt_with_label(kem_output, &ct, &ct_len, pub, "x", NULL, 0, NULL, 0));
	CHECK_OK(mls_decrypt_with_label(&pt, &pt_len, priv, "x", NULL, 0, kem_output,
					sizeof kem_output, ct, ct_len));
	CHECK(pt != NULL && pt_len == 0);
	free(pt);
	free(ct);

	/* A small-order recipient key is refused, and the outputs are clear. */
	memset(pub, 0, sizeof pub);
	ct = (uint8_t *)1;
	CHECK_RC(
	    mls_encrypt_with_label(kem_output, &ct, &ct_len, pub, "x", NULL, 0, msg, sizeof msg),
	    HALQA_ERR_CRYPTO);
	CHECK(ct == NULL && ct_len == 0 && all_zero(kem_output, sizeof kem_output));
	sodium_memzero(priv, sizeof priv);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 2;
	}
	RUN(test_expand_with_label_encoding);
	RUN(test_derive_helpers);
	RUN(test_ref_hash_encoding);
	RUN(test_label_and_length_limits);
	RUN(test_sign_verify);
	RUN(test_encrypt_decrypt);
	return harness_report();
}
