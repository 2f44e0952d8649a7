/*
 * test_hpke.c: HPKE behaviour the RFC 9180 vectors do not reach (the
 * vectors themselves run as `mls-vectors hpke`): random-key round trips in
 * every mode, refusal of bad parameters, of wrong-size and small-order KEM
 * outputs, of tampered, reordered and replayed ciphertexts, of sequence
 * overflow, of use in the wrong role, and the wiping of contexts.
 */
#include "halqa/hpke.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const uint8_t info[] = "halqa test info";
static const uint8_t psk[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
				17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t psk_id[] = "psk id";

static int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++) {
		acc |= b[i];
	}
	return acc == 0;
}

static void random_key_pair(uint8_t sk[HPKE_NSK], uint8_t pk[HPKE_NPK])
{
	uint8_t ikm[32];

	randombytes_buf(ikm, sizeof ikm);
	CHECK_OK(hpke_derive_key_pair(sk, pk, ikm, sizeof ikm));
}

static struct hpke_params params_for(enum hpke_mode mode, uint16_t aead_id)
{
	struct hpke_params p = {.mode = mode, .aead_id = aead_id};

	p.info = info;
	p.info_len = sizeof info - 1;
	if (mode == HPKE_MODE_PSK || mode == HPKE_MODE_AUTH_PSK) {
		p.psk = psk;
		p.psk_len = sizeof psk;
		p.psk_id = psk_id;
		p.psk_id_len = sizeof psk_id - 1;
	}
	return p;
}

/* Sender and recipient agree in every mode, message after message. */
static void test_round_trip_all_modes(void)
{
	static const enum hpke_mode modes[] = {HPKE_MODE_BASE, HPKE_MODE_PSK, HPKE_MODE_AUTH,
					       HPKE_MODE_AUTH_PSK};
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], sk_s[HPKE_NSK], pk_s[HPKE_NPK];

	random_key_pair(sk_r, pk_r);
	random_key_pair(sk_s, pk_s);
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		struct hpke_params sp = params_for(modes[m], HPKE_AEAD_CHACHA20POLY1305), rp = sp;
		int auth = modes[m] == HPKE_MODE_AUTH || modes[m] == HPKE_MODE_AUTH_PSK;
		struct hpke_ctx s, r;
		uint8_t enc[HPKE_NENC];
		uint8_t exp_s[40], exp_r[40];

		hpke_ctx_init(&s);
		hpke_ctx_init(&r);
		if (auth) {
			sp.sk_s = sk_s;
			rp.pk_s = pk_s;
		}
		CHECK_OK(hpke_setup_sender(&s, enc, &sp, pk_r));
		CHECK_OK(hpke_setup_recipient(&r, &rp, enc, sizeof enc, sk_r));
		for (size_t i = 0; i < 5; i++) {
			uint8_t msg[64], buf[64 + HPKE_NT];
			static const uint8_t aad[] = "aad";

			memset(msg, (int)i, sizeof msg);
			memcpy(buf, msg, sizeof msg);
			/* In place: ct and pt share the buffer. */
			CHECK_OK(hpke_seal(&s, buf, aad, 3, buf, i * 10));
			CHECK_OK(hpke_open(&r, buf, aad, 3, buf, i * 10 + HPKE_NT));
			CHECK_MEM_EQ(buf, i * 10, msg, i * 10);
		}
		CHECK_OK(hpke_export(&s, exp_s, sizeof exp_s, info, 3));
		CHECK_OK(hpke_export(&r, exp_r, sizeof exp_r, info, 3));
		CHECK_MEM_EQ(exp_s, sizeof exp_s, exp_r, sizeof exp_r);
		hpke_ctx_cleanup(&s);
		hpke_ctx_cleanup(&r);
	}
	sodium_memzero(sk_r, sizeof sk_r);
	sodium_memzero(sk_s, sizeof sk_s);
}

/* Two encapsulations to one key never give the same enc or secret. */
static void test_encap_is_randomised(void)
{
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK];
	uint8_t ss1[HPKE_NSECRET], ss2[HPKE_NSECRET], enc1[HPKE_NENC], enc2[HPKE_NENC];

	random_key_pair(sk_r, pk_r);
	CHECK_OK(hpke_encap(ss1, enc1, pk_r, NULL));
	CHECK_OK(hpke_encap(ss2, enc2, pk_r, NULL));
	CHECK(memcmp(enc1, enc2, sizeof enc1) != 0);
	CHECK(memcmp(ss1, ss2, sizeof ss1) != 0);
	CHECK_OK(hpke_decap(ss2, enc1, sizeof enc1, sk_r, NULL));
	CHECK_MEM_EQ(ss2, sizeof ss2, ss1, sizeof ss1);
}

/* AuthDecap with the wrong sender key yields a different context. */
static void test_auth_wrong_sender(void)
{
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], sk_s[HPKE_NSK], pk_s[HPKE_NPK];
	uint8_t sk_x[HPKE_NSK], pk_x[HPKE_NPK];
	struct hpke_params sp = params_for(HPKE_MODE_AUTH, HPKE_AEAD_CHACHA20POLY1305), rp = sp;
	struct hpke_ctx s, r;
	uint8_t enc[HPKE_NENC], buf[8 + HPKE_NT] = {0};

	random_key_pair(sk_r, pk_r);
	random_key_pair(sk_s, pk_s);
	random_key_pair(sk_x, pk_x);
	hpke_ctx_init(&s);
	hpke_ctx_init(&r);
	sp.sk_s = sk_s;
	rp.pk_s = pk_x;
	CHECK_OK(hpke_setup_sender(&s, enc, &sp, pk_r));
	CHECK_OK(hpke_setup_recipient(&r, &rp, enc, sizeof enc, sk_r));
	CHECK_OK(hpke_seal(&s, buf, NULL, 0, buf, 8));
	CHECK_RC(hpke_open(&r, buf, NULL, 0, buf, sizeof buf), HALQA_ERR_CRYPTO);
	hpke_ctx_cleanup(&s);
	hpke_ctx_cleanup(&r);
}

/* VerifyPSKInputs, unknown modes and AEADs, auth keys on the wrong side. */
static void test_bad_params(void)
{
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], enc[HPKE_NENC];
	struct hpke_params p;
	struct hpke_ctx s;

	random_key_pair(sk_r, pk_r);
	hpke_ctx_init(&s);

	p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	p.psk = psk;
	p.psk_len = sizeof psk;
	p.psk_id = psk_id;
	p.psk_id_len = 3;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* PSK not wanted */
	p.mode = HPKE_MODE_PSK;
	p.psk_id_len = 0;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* PSK without id */
	p.psk_id_len = 3;
	p.psk_len = 31;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* PSK too short */
	p.psk_len = 0;
	p.psk_id_len = 0;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* missing PSK */

	p = params_for(HPKE_MODE_AUTH, HPKE_AEAD_CHACHA20POLY1305);
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* no sender key */
	p.pk_s = pk_r;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* recipient's field */
	p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	p.sk_s = sk_r;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG); /* auth key in base */
	CHECK_RC(hpke_setup_recipient(&s, &p, pk_r, HPKE_NPK, sk_r), HALQA_ERR_ARG);

	p = params_for(HPKE_MODE_BASE, 0x0001); /* AES-128-GCM: not ours */
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG);
	p = params_for((enum hpke_mode)4, HPKE_AEAD_CHACHA20POLY1305);
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG);
	p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	p.info = NULL;
	CHECK_RC(hpke_setup_sender(&s, enc, &p, pk_r), HALQA_ERR_ARG);

	/* A failed setup leaves an empty context and a zero enc. */
	CHECK_INT_EQ(s.role, HPKE_ROLE_NONE);
	CHECK(all_zero(&s.key, sizeof s.key));
	CHECK(all_zero(enc, sizeof enc));

	CHECK_RC(hpke_derive_key_pair(sk_r, pk_r, psk, 31), HALQA_ERR_ARG);
	CHECK(all_zero(sk_r, sizeof sk_r));
	hpke_ctx_cleanup(&s);
}

/* enc must be exactly 32 bytes and not a small-order point (RFC 9180 7.1.4). */
static void test_bad_kem_output(void)
{
	/* 0 and 1 are small-order points: X25519 with them gives all zeros. */
	static const uint8_t zero_point[HPKE_NENC] = {0};
	static const uint8_t one_point[HPKE_NENC] = {1};
	struct hpke_params p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], enc[HPKE_NENC + 1], ss[HPKE_NSECRET];
	struct hpke_ctx r;

	random_key_pair(sk_r, pk_r);
	hpke_ctx_init(&r);
	CHECK_OK(hpke_encap(ss, enc, pk_r, NULL));
	enc[HPKE_NENC] = 0;
	CHECK_RC(hpke_setup_recipient(&r, &p, enc, HPKE_NENC - 1, sk_r), HALQA_ERR_MALFORMED);
	CHECK_RC(hpke_setup_recipient(&r, &p, enc, HPKE_NENC + 1, sk_r), HALQA_ERR_MALFORMED);
	CHECK_RC(hpke_setup_recipient(&r, &p, zero_point, HPKE_NENC, sk_r), HALQA_ERR_CRYPTO);
	CHECK_RC(hpke_setup_recipient(&r, &p, one_point, HPKE_NENC, sk_r), HALQA_ERR_CRYPTO);
	CHECK_INT_EQ(r.role, HPKE_ROLE_NONE);
	/* And a sender must not encapsulate to a small-order recipient key. */
	CHECK_RC(hpke_encap(ss, enc, zero_point, NULL), HALQA_ERR_CRYPTO);
	CHECK(all_zero(ss, sizeof ss));
	CHECK_RC(hpke_setup_sender(&r, enc, &p, one_point), HALQA_ERR_CRYPTO);
	CHECK_INT_EQ(r.role, HPKE_ROLE_NONE);
}

/* Open refuses tampering, reordering and replay, and then leaves pt zeroed. */
static void test_open_refusals(void)
{
	struct hpke_params p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], enc[HPKE_NENC];
	uint8_t ct1[20 + HPKE_NT], ct2[20 + HPKE_NT], pt[20];
	static const uint8_t msg[20] = "twenty bytes of text";
	struct hpke_ctx s, r;

	random_key_pair(sk_r, pk_r);
	hpke_ctx_init(&s);
	hpke_ctx_init(&r);
	CHECK_OK(hpke_setup_sender(&s, enc, &p, pk_r));
	CHECK_OK(hpke_setup_recipient(&r, &p, enc, sizeof enc, sk_r));
	CHECK_OK(hpke_seal(&s, ct1, NULL, 0, msg, sizeof msg));
	CHECK_OK(hpke_seal(&s, ct2, NULL, 0, msg, sizeof msg));

	CHECK_RC(hpke_open(&r, pt, NULL, 0, ct2, sizeof ct2), HALQA_ERR_CRYPTO); /* reordered */
	CHECK(all_zero(pt, sizeof pt));
	CHECK_INT_EQ(r.seq, 0);
	ct1[3] ^= 1;
	CHECK_RC(hpke_open(&r, pt, NULL, 0, ct1, sizeof ct1), HALQA_ERR_CRYPTO); /* tampered */
	ct1[3] ^= 1;
	CHECK_RC(hpke_open(&r, pt, (const uint8_t *)"x", 1, ct1, sizeof ct1), HALQA_ERR_CRYPTO);
	CHECK_RC(hpke_open(&r, pt, NULL, 0, ct1, HPKE_NT - 1), HALQA_ERR_MALFORMED);
	CHECK_INT_EQ(r.seq, 0);
	CHECK_OK(hpke_open(&r, pt, NULL, 0, ct1, sizeof ct1));
	CHECK_MEM_EQ(pt, sizeof pt, msg, sizeof msg);
	CHECK_RC(hpke_open(&r, pt, NULL, 0, ct1, sizeof ct1), HALQA_ERR_CRYPTO); /* replayed */
	CHECK_OK(hpke_open(&r, pt, NULL, 0, ct2, sizeof ct2));
	CHECK_INT_EQ(r.seq, 2);
	hpke_ctx_cleanup(&s);
	hpke_ctx_cleanup(&r);
}

/* Roles, export-only, sequence overflow, export bounds and wiping. */
static void test_context_rules(void)
{
	struct hpke_params p = params_for(HPKE_MODE_BASE, HPKE_AEAD_CHACHA20POLY1305);
	struct hpke_params xp = params_for(HPKE_MODE_BASE, HPKE_AEAD_EXPORT_ONLY);
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK], enc[HPKE_NENC], buf[HPKE_NT + 4] = {0};
	uint8_t *big = malloc(HPKE_EXPORT_MAX + 1);
	struct hpke_ctx s, r, x;

	CHECK(big != NULL);
	random_key_pair(sk_r, pk_r);
	hpke_ctx_init(&s);
	hpke_ctx_init(&r);
	hpke_ctx_init(&x);
	CHECK_RC(hpke_seal(&s, buf, NULL, 0, buf, 4), HALQA_ERR_ARG); /* not set up */
	CHECK_RC(hpke_export(&s, buf, 4, NULL, 0), HALQA_ERR_ARG);
	CHECK_OK(hpke_setup_sender(&s, enc, &p, pk_r));
	CHECK_OK(hpke_setup_recipient(&r, &p, enc, sizeof enc, sk_r));
	CHECK_RC(hpke_open(&s, buf, NULL, 0, buf, sizeof buf), HALQA_ERR_ARG);
	CHECK_RC(hpke_seal(&r, buf, NULL, 0, buf, 4), HALQA_ERR_ARG);

	/* Empty plaintext, no buffers at all. */
	CHECK_OK(hpke_seal(&s, buf, NULL, 0, NULL, 0));
	CHECK_OK(hpke_open(&r, NULL, NULL, 0, buf, HPKE_NT));

	/* The last sequence number is refused before anything is written. */
	s.seq = UINT64_MAX;
	r.seq = UINT64_MAX;
	memset(buf, 0x5a, sizeof buf);
	CHECK_RC(hpke_seal(&s, buf, NULL, 0, buf, 4), HALQA_ERR_LIMIT);
	CHECK_INT_EQ(buf[0], 0x5a);
	CHECK_RC(hpke_open(&r, buf, NULL, 0, buf, sizeof buf), HALQA_ERR_LIMIT);
	s.seq = UINT64_MAX - 1;
	CHECK_OK(hpke_seal(&s, buf, NULL, 0, buf, 4));
	CHECK(s.seq == UINT64_MAX);

	CHECK_OK(hpke_export(&s, big, HPKE_EXPORT_MAX, NULL, 0));
	CHECK_RC(hpke_export(&s, big, HPKE_EXPORT_MAX + 1, NULL, 0), HALQA_ERR_ARG);
	CHECK_OK(hpke_export(&s, NULL, 0, NULL, 0));

	CHECK_OK(hpke_setup_sender(&x, enc, &xp, pk_r));
	CHECK_RC(hpke_seal(&x, buf, NULL, 0, buf, 4), HALQA_ERR_UNSUPPORTED);
	CHECK_OK(hpke_export(&x, buf, 4, NULL, 0));

	hpke_ctx_cleanup(&s);
	hpke_ctx_cleanup(&r);
	hpke_ctx_cleanup(&x);
	CHECK(all_zero(&s, sizeof s));
	CHECK(all_zero(&r, sizeof r));
	CHECK(all_zero(&x, sizeof x));
	hpke_ctx_cleanup(NULL);
	free(big);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 2;
	}
	RUN(test_round_trip_all_modes);
	RUN(test_encap_is_randomised);
	RUN(test_auth_wrong_sender);
	RUN(test_bad_params);
	RUN(test_bad_kem_output);
	RUN(test_open_refusals);
	RUN(test_context_rules);
	return harness_report();
}
