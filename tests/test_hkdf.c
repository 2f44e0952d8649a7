/*
 * test_hkdf.c: HKDF-SHA256 against the SHA-256 test cases 1-3 of RFC 5869
 * Appendix A (basic, long inputs, empty salt and info), the Expand length
 * limit, and the spans variants against the plain calls.
 */
#include "halqa/hkdf.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"

struct rfc5869_case {
	const char *ikm, *salt, *info;
	size_t len;
	const char *prk, *okm;
};

static const struct rfc5869_case cases[] = {
	/* A.1: basic test case with SHA-256 */
	{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
	 "f0f1f2f3f4f5f6f7f8f9", 42,
	 "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
	 "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
	/* A.2: longer inputs and outputs */
	{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	 "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	 "404142434445464748494a4b4c4d4e4f",
	 "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
	 "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	 "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	 "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
	 82, "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
	 "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	 "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	 "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
	/* A.3: zero-length salt and info */
	{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
	 "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
	 "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static void test_rfc5869(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t ikm_len, salt_len, info_len, prk_len, okm_len;
		uint8_t *ikm = harness_hex(cases[i].ikm, &ikm_len);
		uint8_t *salt = harness_hex(cases[i].salt, &salt_len);
		uint8_t *info = harness_hex(cases[i].info, &info_len);
		uint8_t *prk_want = harness_hex(cases[i].prk, &prk_len);
		uint8_t *okm_want = harness_hex(cases[i].okm, &okm_len);
		uint8_t prk[HKDF_HASH_LEN];
		uint8_t okm[128];

		CHECK_INT_EQ(okm_len, cases[i].len);
		CHECK_OK(hkdf_extract(prk, salt_len != 0 ? salt : NULL, salt_len, ikm, ikm_len));
		CHECK_MEM_EQ(prk, sizeof prk, prk_want, prk_len);
		CHECK_OK(hkdf_expand(okm, cases[i].len, prk, info_len != 0 ? info : NULL,
				     info_len));
		CHECK_MEM_EQ(okm, cases[i].len, okm_want, okm_len);
		free(ikm);
		free(salt);
		free(info);
		free(prk_want);
		free(okm_want);
	}
}

/* An explicit all-zero salt must equal the missing salt (RFC 5869 2.2). */
static void test_empty_salt_is_zero_salt(void)
{
	static const uint8_t zero[HKDF_HASH_LEN];
	static const uint8_t ikm[] = {1, 2, 3};
	uint8_t a[HKDF_HASH_LEN], b[HKDF_HASH_LEN];

	CHECK_OK(hkdf_extract(a, NULL, 0, ikm, sizeof ikm));
	CHECK_OK(hkdf_extract(b, zero, sizeof zero, ikm, sizeof ikm));
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
}

/* Output length: 255 blocks at most; a prefix of a longer output is the shorter output. */
static void test_expand_limits(void)
{
	uint8_t prk[HKDF_HASH_LEN];
	uint8_t *big = malloc(HKDF_MAX_OUT_LEN + 1);
	uint8_t small[33];

	memset(prk, 0x42, sizeof prk);
	CHECK(big != NULL);
	CHECK_OK(hkdf_expand(big, HKDF_MAX_OUT_LEN, prk, NULL, 0));
	CHECK_OK(hkdf_expand(small, sizeof small, prk, NULL, 0));
	CHECK_MEM_EQ(big, sizeof small, small, sizeof small);
	memset(big, 0xee, HKDF_MAX_OUT_LEN + 1);
	CHECK_RC(hkdf_expand(big, HKDF_MAX_OUT_LEN + 1, prk, NULL, 0), HALQA_ERR_ARG);
	/* A refused request leaves zeros, never stale or partial key material. */
	for (size_t i = 0; i < HKDF_MAX_OUT_LEN + 1; i++) {
		if (big[i] != 0) {
			CHECK(big[i] == 0);
			break;
		}
	}
	CHECK_OK(hkdf_expand(NULL, 0, prk, NULL, 0));
	CHECK_RC(hkdf_expand(NULL, 1, prk, NULL, 0), HALQA_ERR_ARG);
	CHECK_RC(hkdf_expand(small, sizeof small, prk, NULL, 5), HALQA_ERR_ARG);
	CHECK_RC(hkdf_extract(small, NULL, 3, prk, 1), HALQA_ERR_ARG);
	CHECK_RC(hkdf_extract(small, NULL, 0, NULL, 1), HALQA_ERR_ARG);
	free(big);
}

/* The spans variants hash the concatenation, however it is split. */
static void test_spans(void)
{
	static const uint8_t data[] = "the quick brown fox jumps over the lazy dog";
	const size_t n = sizeof data - 1;
	const struct hkdf_span split[] = {
		{data, 3}, {NULL, 0}, {data + 3, 10}, {data + 13, n - 13},
	};
	uint8_t salt[7] = {9, 8, 7, 6, 5, 4, 3};
	uint8_t a[HKDF_HASH_LEN], b[HKDF_HASH_LEN];
	uint8_t ea[100], eb[100];

	CHECK_OK(hkdf_extract(a, salt, sizeof salt, data, n));
	CHECK_OK(hkdf_extract_spans(b, salt, sizeof salt, split, 4));
	CHECK_MEM_EQ(a, sizeof a, b, sizeof b);
	CHECK_OK(hkdf_expand(ea, sizeof ea, a, data, n));
	CHECK_OK(hkdf_expand_spans(eb, sizeof eb, a, split, 4));
	CHECK_MEM_EQ(ea, sizeof ea, eb, sizeof eb);
	/* A different split point of different bytes must not collide. */
	CHECK_OK(hkdf_expand_spans(eb, sizeof eb, a, split, 3));
	CHECK(memcmp(ea, eb, sizeof ea) != 0);
}

int main(void)
{
	RUN(test_rfc5869);
	RUN(test_empty_salt_is_zero_salt);
	RUN(test_expand_limits);
	RUN(test_spans);
	return harness_report();
}
