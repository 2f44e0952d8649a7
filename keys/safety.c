/*
 * safety.c: fingerprints and safety numbers (safety.h).
 *
 * Each 5-digit group is a 40-bit big-endian chunk of the iterated hash,
 * reduced modulo 100000; the bias of that reduction (2^40 is not a multiple
 * of 10^5) is below one part in ten million and irrelevant here. The
 * iteration input carries a version label and the key each round, so the
 * function cannot be confused with any other use of SHA-512 on these keys.
 */
#include "halqa/safety.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SAFETY_ITERATIONS 5200
#define SAFETY_GROUPS (SAFETY_FP_DIGITS / 5)

static const char safety_label[] = "halqa safety number v1";

void safety_fingerprint(char out[SAFETY_FP_STR_LEN], const uint8_t identity_pub[SAFETY_KEY_LEN])
{
	uint8_t h[crypto_hash_sha512_BYTES];
	crypto_hash_sha512_state st;
	size_t at = 0;

	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const uint8_t *)safety_label, sizeof safety_label - 1);
	crypto_hash_sha512_update(&st, identity_pub, SAFETY_KEY_LEN);
	crypto_hash_sha512_final(&st, h);
	for (int i = 1; i < SAFETY_ITERATIONS; i++) {
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, h, sizeof h);
		crypto_hash_sha512_update(&st, identity_pub, SAFETY_KEY_LEN);
		crypto_hash_sha512_final(&st, h);
	}
	for (int g = 0; g < SAFETY_GROUPS; g++) {
		uint64_t chunk = 0;

		for (int i = 0; i < 5; i++) {
			chunk = (chunk << 8) | h[5 * g + i];
		}
		at += (size_t)snprintf(out + at, SAFETY_FP_STR_LEN - at, g == 0 ? "%05u" : " %05u",
				       (unsigned)(chunk % 100000u));
	}
}

int safety_number(char out[SAFETY_NUMBER_STR_LEN], const uint8_t a[SAFETY_KEY_LEN],
		  const uint8_t b[SAFETY_KEY_LEN])
{
	char fa[SAFETY_FP_STR_LEN], fb[SAFETY_FP_STR_LEN];
	const char *first, *second;

	out[0] = '\0';
	if (sodium_memcmp(a, b, SAFETY_KEY_LEN) == 0) {
		return HALQA_ERR_ARG;
	}
	safety_fingerprint(fa, a);
	safety_fingerprint(fb, b);
	if (strcmp(fa, fb) <= 0) {
		first = fa;
		second = fb;
	} else {
		first = fb;
		second = fa;
	}
	snprintf(out, SAFETY_NUMBER_STR_LEN, "%s %s", first, second);
	return HALQA_OK;
}
