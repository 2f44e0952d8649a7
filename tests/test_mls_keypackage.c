/*
 * test_mls_keypackage.c: KeyPackage creation and validation (RFC 9420 10).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"
#include "halqa/mls_keypackage.h"
#include "harness.h"

static void make_identity(uint8_t priv[MLS_SIG_PRIV_LEN], uint8_t pub[MLS_SIG_PUB_LEN])
{
	crypto_sign_keypair(pub, priv);
}

static void test_create_validate(void)
{
	uint8_t priv[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN], id[MLS_SIG_PUB_LEN];
	uint8_t ref1[MLS_HASH_LEN], ref2[MLS_HASH_LEN], zero[MLS_KEM_PRIV_LEN] = {0};
	struct mls_key_package kp = {0}, back = {0};
	struct mls_keypackage_private kpp;
	uint8_t *enc = NULL;
	size_t enc_len = 0;

	make_identity(priv, pub);
	CHECK_OK(mls_keypackage_create(&kp, &kpp, priv, 1000, 2000, false));
	CHECK_OK(mls_keypackage_validate(&kp, 1500));
	CHECK_OK(mls_keypackage_validate(&kp, 0));
	CHECK_RC(mls_keypackage_validate(&kp, 999), HALQA_ERR_INVALID);
	CHECK_RC(mls_keypackage_validate(&kp, 2001), HALQA_ERR_INVALID);
	CHECK(!mls_keypackage_is_last_resort(&kp));
	CHECK_OK(mls_keypackage_leaf_identity(&kp.leaf_node, id));
	CHECK_MEM_EQ(id, sizeof id, pub, sizeof pub);
	CHECK(sodium_memcmp(kpp.init_priv, zero, sizeof zero) != 0);
	/* Round trip through the codec keeps it valid and its ref stable. */
	CHECK_OK(mls_key_package_encode_bytes(&kp, &enc, &enc_len));
	CHECK_OK(mls_key_package_decode_bytes(enc, enc_len, &back));
	CHECK_OK(mls_keypackage_validate(&back, 1500));
	CHECK_OK(mls_keypackage_ref(&kp, ref1));
	CHECK_OK(mls_keypackage_ref(&back, ref2));
	CHECK_MEM_EQ(ref1, sizeof ref1, ref2, sizeof ref2);
	mls_keypackage_private_wipe(&kpp);
	CHECK(sodium_memcmp(kpp.init_priv, zero, sizeof zero) == 0);
	CHECK(sodium_memcmp(kpp.encryption_priv, zero, sizeof zero) == 0);
	free(enc);
	mls_key_package_cleanup(&back);
	mls_key_package_cleanup(&kp);
}

static void test_last_resort(void)
{
	uint8_t priv[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN];
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;

	make_identity(priv, pub);
	CHECK_OK(mls_keypackage_create(&kp, &kpp, priv, 0, UINT64_MAX, true));
	CHECK(mls_keypackage_is_last_resort(&kp));
	CHECK_OK(mls_keypackage_validate(&kp, 12345));
	mls_keypackage_private_wipe(&kpp);
	mls_key_package_cleanup(&kp);
	CHECK_RC(mls_keypackage_create(&kp, &kpp, priv, 10, 5, false), HALQA_ERR_ARG);
}

/* Each rule of 10.1 broken once, on a fresh package. */
static void test_refusals(void)
{
	uint8_t priv[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN], id[MLS_SIG_PUB_LEN];
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;

	make_identity(priv, pub);
	for (int rule = 0; rule < 8; rule++) {
		int want = HALQA_ERR_INVALID;

		CHECK_OK(mls_keypackage_create(&kp, &kpp, priv, 0, 100, false));
		switch (rule) {
		case 0:
			kp.version = 2;
			want = HALQA_ERR_UNSUPPORTED;
			break;
		case 1:
			kp.cipher_suite = 1;
			want = HALQA_ERR_UNSUPPORTED;
			break;
		case 2: /* init_key equal to the encryption key */
			memcpy(kp.init_key.data, kp.leaf_node.encryption_key.data, 32);
			break;
		case 3: /* package signature broken */
			kp.signature.data[0] ^= 1;
			want = HALQA_ERR_CRYPTO;
			break;
		case 4: /* leaf signature broken */
			kp.leaf_node.signature.data[5] ^= 1;
			want = HALQA_ERR_CRYPTO;
			break;
		case 5: /* init key the wrong size */
			kp.init_key.len = 31;
			break;
		case 6: /* leaf source not key_package */
			kp.leaf_node.leaf_node_source = MLS_LEAF_SOURCE_UPDATE;
			break;
		case 7: /* suite not in the leaf's capabilities */
			kp.leaf_node.capabilities.cipher_suites.items[0] = 1;
			break;
		}
		CHECK_RC(mls_keypackage_validate(&kp, 50), want);
		if (rule == 5) {
			kp.init_key.len = 32;
		}
		mls_keypackage_private_wipe(&kpp);
		mls_key_package_cleanup(&kp);
	}
	/* A credential that is not our identity form. */
	CHECK_OK(mls_keypackage_create(&kp, &kpp, priv, 0, 100, false));
	kp.leaf_node.credential.identity.data[0] ^= 1;
	CHECK_RC(mls_keypackage_leaf_identity(&kp.leaf_node, id), HALQA_ERR_INVALID);
	mls_keypackage_private_wipe(&kpp);
	mls_key_package_cleanup(&kp);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_create_validate);
	RUN(test_last_resort);
	RUN(test_refusals);
	return harness_report();
}
