/*
 * test_safety.c: fingerprints and safety numbers. A known answer pins the
 * algorithm (an accidental change would make every user's numbers differ
 * from their contacts' old clients), and the pair number must be symmetric.
 */
#include "halqa/safety.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Computed independently (Python hashlib) from the definition in safety.h. */
#define SAFETY_KAT "11741 59570 59785 54871 88082 62619"

static void test_format(void)
{
	uint8_t key[SAFETY_KEY_LEN];
	char fp[SAFETY_FP_STR_LEN];

	memset(key, 0x11, sizeof key);
	safety_fingerprint(fp, key);
	CHECK_INT_EQ(strlen(fp), SAFETY_FP_STR_LEN - 1);
	for (size_t i = 0; i < strlen(fp); i++) {
		if (i % 6 == 5) {
			CHECK(fp[i] == ' ');
		} else {
			CHECK(fp[i] >= '0' && fp[i] <= '9');
		}
	}
}

/* The algorithm is pinned: a change would make every number differ from old clients. */
static void test_known_answer(void)
{
	uint8_t key[SAFETY_KEY_LEN];
	char fp[SAFETY_FP_STR_LEN];

	for (size_t i = 0; i < sizeof key; i++) {
		key[i] = (uint8_t)i;
	}
	safety_fingerprint(fp, key);
	CHECK(strcmp(fp, SAFETY_KAT) == 0);
	if (strcmp(fp, SAFETY_KAT) != 0) {
		fprintf(stderr, "got fingerprint %s\n", fp);
	}
}

static void test_pair_symmetric(void)
{
	uint8_t a[SAFETY_KEY_LEN], b[SAFETY_KEY_LEN];
	char ab[SAFETY_NUMBER_STR_LEN], ba[SAFETY_NUMBER_STR_LEN];
	char fa[SAFETY_FP_STR_LEN], fb[SAFETY_FP_STR_LEN];

	randombytes_buf(a, sizeof a);
	randombytes_buf(b, sizeof b);
	CHECK_OK(safety_number(ab, a, b));
	CHECK_OK(safety_number(ba, b, a));
	CHECK(strcmp(ab, ba) == 0);
	CHECK_INT_EQ(strlen(ab), SAFETY_NUMBER_STR_LEN - 1);
	safety_fingerprint(fa, a);
	safety_fingerprint(fb, b);
	CHECK(strstr(ab, fa) != NULL);
	CHECK(strstr(ab, fb) != NULL);
	CHECK(strcmp(fa, fb) != 0);
}

static void test_one_bit_changes_everything(void)
{
	uint8_t a[SAFETY_KEY_LEN];
	char f1[SAFETY_FP_STR_LEN], f2[SAFETY_FP_STR_LEN];
	int same_groups = 0;

	randombytes_buf(a, sizeof a);
	safety_fingerprint(f1, a);
	a[31] ^= 1;
	safety_fingerprint(f2, a);
	for (int g = 0; g < 6; g++) {
		same_groups += memcmp(f1 + 6 * g, f2 + 6 * g, 5) == 0;
	}
	/* Equal groups by chance: 6 tries at 1 in 100000 each. */
	CHECK(same_groups == 0);
}

static void test_self_refused(void)
{
	uint8_t a[SAFETY_KEY_LEN];
	char n[SAFETY_NUMBER_STR_LEN];

	randombytes_buf(a, sizeof a);
	CHECK_RC(safety_number(n, a, a), HALQA_ERR_ARG);
	CHECK(n[0] == '\0');
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_format);
	RUN(test_known_answer);
	RUN(test_pair_symmetric);
	RUN(test_one_bit_changes_everything);
	RUN(test_self_refused);
	return harness_report();
}
