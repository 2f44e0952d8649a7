/*
 * test_identity.c: generated identities are distinct and working key pairs
 * (a signature verifies, the X25519 public key matches its secret), the
 * stored form round-trips to the same keys, and damaged forms are refused.
 */
#include "halqa/identity.h"

#include <sodium.h>
#include <string.h>

#include "harness.h"

static void test_generate(void)
{
	struct identity *a = NULL, *b = NULL;
	uint8_t sig[crypto_sign_BYTES], derived[32];
	static const uint8_t msg[] = "halqa";

	CHECK_OK(identity_new(&a));
	CHECK_OK(identity_new(&b));
	if (a == NULL || b == NULL) {
		goto out;
	}
	CHECK(memcmp(a->sign_pub, b->sign_pub, 32) != 0);
	CHECK(memcmp(a->curve_pub, b->curve_pub, 32) != 0);
	CHECK(memcmp(a->mailbox_id, b->mailbox_id, 16) != 0);
	CHECK(memcmp(a->mailbox_id, a->kp_dir_id, 16) != 0);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, a->sign_sec);
	CHECK(crypto_sign_verify_detached(sig, msg, sizeof msg, a->sign_pub) == 0);
	CHECK(crypto_sign_verify_detached(sig, msg, sizeof msg, b->sign_pub) != 0);
	CHECK(crypto_scalarmult_base(derived, a->curve_sec) == 0);
	CHECK_MEM_EQ(derived, 32, a->curve_pub, 32);
out:
	identity_free(a);
	identity_free(b);
	identity_free(NULL);
}

static void test_round_trip(void)
{
	struct identity *a = NULL, *b = NULL;
	struct bytes_writer w;
	struct bytes_reader r;

	CHECK_OK(identity_new(&a));
	if (a == NULL) {
		return;
	}
	bytes_writer_init(&w, IDENTITY_ENCODED_LEN, BYTES_WIPE);
	CHECK_OK(identity_encode(&w, a));
	CHECK_INT_EQ(bytes_writer_len(&w), IDENTITY_ENCODED_LEN);
	bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
	CHECK_OK(identity_decode(&r, &b));
	CHECK_OK(bytes_expect_end(&r));
	if (b != NULL) {
		CHECK(memcmp(a, b, sizeof *a) == 0);
	}
	identity_free(b);
	bytes_writer_cleanup(&w);
	identity_free(a);
}

static void test_refusals(void)
{
	struct identity *a = NULL, *b = NULL;
	struct bytes_writer w;
	struct bytes_reader r;
	uint8_t buf[IDENTITY_ENCODED_LEN];

	CHECK_OK(identity_new(&a));
	if (a == NULL) {
		return;
	}
	bytes_writer_init(&w, IDENTITY_ENCODED_LEN, BYTES_WIPE);
	CHECK_OK(identity_encode(&w, a));
	memcpy(buf, bytes_writer_data(&w), sizeof buf);
	bytes_writer_cleanup(&w);

	for (size_t n = 0; n < sizeof buf; n++) {
		bytes_reader_init(&r, buf, n);
		CHECK_RC(identity_decode(&r, &b), HALQA_ERR_TRUNCATED);
		CHECK(b == NULL && bytes_remaining(&r) == n);
	}
	buf[0] ^= 1;
	bytes_reader_init(&r, buf, sizeof buf);
	CHECK_RC(identity_decode(&r, &b), HALQA_ERR_MALFORMED);
	buf[0] ^= 1;
	buf[4] = 2;
	bytes_reader_init(&r, buf, sizeof buf);
	CHECK_RC(identity_decode(&r, &b), HALQA_ERR_UNSUPPORTED);
	CHECK(b == NULL);
	sodium_memzero(buf, sizeof buf);
	identity_free(a);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_generate);
	RUN(test_round_trip);
	RUN(test_refusals);
	return harness_report();
}
