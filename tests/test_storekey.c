/*
 * test_storekey.c: parameter encoding round trip and every refusal of a
 * tampered parameters file, and key derivation (with the test profile, so
 * the suite stays fast): same inputs give the same key, any change gives
 * another.
 */
#include "halqa/storekey.h"

#include <sodium.h>
#include <string.h>

#include "harness.h"

static void encode(const struct storekey_params *p, uint8_t out[STOREKEY_ENCODED_LEN])
{
	struct bytes_writer w;

	bytes_writer_init(&w, STOREKEY_ENCODED_LEN, 0);
	CHECK_OK(storekey_params_encode(&w, p));
	CHECK_INT_EQ(bytes_writer_len(&w), STOREKEY_ENCODED_LEN);
	memcpy(out, bytes_writer_data(&w), STOREKEY_ENCODED_LEN);
	bytes_writer_cleanup(&w);
}

static int decode(const uint8_t *buf, size_t len, struct storekey_params *out)
{
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, buf, len);
	if ((rc = storekey_params_decode(&r, out)) == 0) {
		rc = bytes_expect_end(&r);
	}
	return rc;
}

static void test_profiles(void)
{
	struct storekey_params def, test, again;

	CHECK_OK(storekey_params_new(&def, STOREKEY_PROFILE_DEFAULT));
	CHECK_OK(storekey_params_new(&test, STOREKEY_PROFILE_TEST));
	CHECK_OK(storekey_params_new(&again, STOREKEY_PROFILE_TEST));
	CHECK(!storekey_params_is_test(&def));
	CHECK(storekey_params_is_test(&test));
	CHECK(memcmp(test.salt, again.salt, STOREKEY_SALT_LEN) != 0);
	CHECK_RC(storekey_params_new(&def, (enum storekey_profile)7), HALQA_ERR_ARG);
}

static void test_round_trip(void)
{
	struct storekey_params p, q;
	uint8_t buf[STOREKEY_ENCODED_LEN];

	CHECK_OK(storekey_params_new(&p, STOREKEY_PROFILE_DEFAULT));
	encode(&p, buf);
	CHECK_OK(decode(buf, sizeof buf, &q));
	CHECK(q.opslimit == p.opslimit && q.memlimit == p.memlimit);
	CHECK_MEM_EQ(q.salt, STOREKEY_SALT_LEN, p.salt, STOREKEY_SALT_LEN);
}

static void test_tampered(void)
{
	struct storekey_params p, q;
	uint8_t buf[STOREKEY_ENCODED_LEN], bad[STOREKEY_ENCODED_LEN + 1];

	CHECK_OK(storekey_params_new(&p, STOREKEY_PROFILE_TEST));
	encode(&p, buf);
	for (size_t cut = 0; cut < sizeof buf; cut++) {
		CHECK_RC(decode(buf, cut, &q), HALQA_ERR_TRUNCATED);
	}
	memcpy(bad, buf, sizeof buf);
	bad[0] = 'X';
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_MALFORMED);
	memcpy(bad, buf, sizeof buf);
	bad[4] = 2; /* version */
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_UNSUPPORTED);
	memcpy(bad, buf, sizeof buf);
	bad[5] = 1; /* algorithm: argon2i */
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_UNSUPPORTED);
	memcpy(bad, buf, sizeof buf);
	bad[6] = 0x01; /* opslimit 2^56 */
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_INVALID);
	memcpy(bad, buf, sizeof buf);
	memset(bad + 6, 0, 8); /* opslimit 0 */
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_INVALID);
	memcpy(bad, buf, sizeof buf);
	bad[14 + 3] = 0x80; /* memlimit 2^39: more than we ever allocate */
	CHECK_RC(decode(bad, sizeof buf, &q), HALQA_ERR_INVALID);
	memcpy(bad, buf, sizeof buf);
	bad[sizeof buf] = 0;
	CHECK_RC(decode(bad, sizeof bad, &q), HALQA_ERR_MALFORMED);
}

static void test_derive(void)
{
	struct storekey_params p, other;
	uint8_t k1[STOREKEY_KEY_LEN], k2[STOREKEY_KEY_LEN], k3[STOREKEY_KEY_LEN],
		k4[STOREKEY_KEY_LEN];
	static const char pass[] = "correct horse \xd8\xad\xd9\x84\xd9\x82\xd8\xa9";

	CHECK_OK(storekey_params_new(&p, STOREKEY_PROFILE_TEST));
	CHECK_OK(storekey_params_new(&other, STOREKEY_PROFILE_TEST));
	CHECK_OK(storekey_derive(k1, &p, pass, strlen(pass)));
	CHECK_OK(storekey_derive(k2, &p, pass, strlen(pass)));
	CHECK_OK(storekey_derive(k3, &p, pass, strlen(pass) - 1));
	CHECK_OK(storekey_derive(k4, &other, pass, strlen(pass)));
	CHECK_MEM_EQ(k1, sizeof k1, k2, sizeof k2);
	CHECK(memcmp(k1, k3, sizeof k1) != 0);
	CHECK(memcmp(k1, k4, sizeof k1) != 0);
	CHECK_RC(storekey_derive(k1, &p, NULL, 3), HALQA_ERR_ARG);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_profiles);
	RUN(test_round_trip);
	RUN(test_tampered);
	RUN(test_derive);
	return harness_report();
}
