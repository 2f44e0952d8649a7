/*
 * test_roster.c: the facilitator roster payload and the role rules, with
 * every refusal of the decoder.
 */
#include "halqa/roster.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void key(uint8_t out[ROSTER_KEY_LEN], uint8_t v)
{
	memset(out, v, ROSTER_KEY_LEN);
}

static void test_add_remove_order(void)
{
	struct roster r;
	uint8_t a[32], b[32], c[32];
	size_t i;

	memset(&r, 0, sizeof r);
	key(a, 0x10);
	key(b, 0x20);
	key(c, 0x30);
	CHECK_OK(roster_add(&r, c));
	CHECK_OK(roster_add(&r, a));
	CHECK_OK(roster_add(&r, b));
	CHECK_RC(roster_add(&r, b), HALQA_ERR_EXISTS);
	CHECK_INT_EQ(r.num_keys, 3);
	CHECK(memcmp(r.keys[0], a, 32) == 0 && memcmp(r.keys[1], b, 32) == 0 &&
	      memcmp(r.keys[2], c, 32) == 0);
	CHECK_OK(roster_remove(&r, b));
	CHECK_RC(roster_remove(&r, b), HALQA_ERR_NOT_FOUND);
	CHECK_OK(roster_remove(&r, a));
	CHECK_RC(roster_remove(&r, c), HALQA_ERR_DENIED); /* the last one stays */
	CHECK_INT_EQ(r.num_keys, 1);
	for (i = 1; i < ROSTER_MAX; i++) {
		uint8_t k[32];

		key(k, (uint8_t)(0x40 + i));
		CHECK_OK(roster_add(&r, k));
	}
	CHECK_INT_EQ(r.num_keys, ROSTER_MAX);
	CHECK_RC(roster_add(&r, a), HALQA_ERR_LIMIT);
}

static void test_codec(void)
{
	struct roster r, got;
	uint8_t *enc = NULL, a[32], b[32];
	size_t len = 0;

	memset(&r, 0, sizeof r);
	key(a, 1);
	key(b, 2);
	CHECK_OK(roster_add(&r, b));
	CHECK_OK(roster_add(&r, a));
	CHECK_OK(roster_encode(&enc, &len, &r));
	CHECK_INT_EQ(len, 1 + 2 + 64); /* 64 needs the 2-byte varint */
	if (len == 67) {
		CHECK_INT_EQ(enc[0], ROSTER_VERSION);
		CHECK_INT_EQ(enc[1], 0x40);
		CHECK_INT_EQ(enc[2], 64);
		CHECK_INT_EQ(enc[3], 1);
		CHECK_INT_EQ(enc[35], 2);
	}
	CHECK_OK(roster_decode(&got, enc, len));
	CHECK(memcmp(&got, &r, sizeof r) == 0);

	/* Refusals: each leaves the output empty. */
	enc[0] = 2;
	CHECK_RC(roster_decode(&got, enc, len), HALQA_ERR_UNSUPPORTED);
	CHECK_INT_EQ(got.num_keys, 0);
	enc[0] = ROSTER_VERSION;
	CHECK_RC(roster_decode(&got, enc, len - 1), HALQA_ERR_TRUNCATED);
	memcpy(enc + 3, b, 32); /* duplicate */
	CHECK_RC(roster_decode(&got, enc, len), HALQA_ERR_INVALID);
	CHECK_INT_EQ(got.num_keys, 0);
	memcpy(enc + 35, a, 32); /* b then a: unsorted */
	CHECK_RC(roster_decode(&got, enc, len), HALQA_ERR_INVALID);
	free(enc);
	{
		static const uint8_t empty[] = {1, 0};
		static const uint8_t odd[] = {1, 3, 1, 2, 3};
		static const uint8_t trailing[] = {1, 0, 0};
		static const uint8_t none[] = {0};
		uint8_t big[1 + 2 + 31 * 32];
		size_t i;

		CHECK_RC(roster_decode(&got, empty, sizeof empty), HALQA_ERR_INVALID);
		CHECK_RC(roster_decode(&got, odd, sizeof odd), HALQA_ERR_MALFORMED);
		CHECK_RC(roster_decode(&got, trailing, sizeof trailing), HALQA_ERR_MALFORMED);
		CHECK_RC(roster_decode(&got, none, 0), HALQA_ERR_TRUNCATED);
		CHECK_RC(roster_decode(&got, none, sizeof none), HALQA_ERR_UNSUPPORTED);
		big[0] = 1;
		big[1] = 0x40 | ((31 * 32) >> 8);
		big[2] = (31 * 32) & 0xff;
		for (i = 0; i < 31; i++) {
			memset(big + 3 + i * 32, (int)(i + 1), 32);
		}
		CHECK_RC(roster_decode(&got, big, sizeof big), HALQA_ERR_TOO_LARGE);
	}
	/* The encoder refuses what the decoder would. */
	memset(&r, 0, sizeof r);
	CHECK_RC(roster_encode(&enc, &len, &r), HALQA_ERR_INVALID);
	CHECK(enc == NULL);
	r.num_keys = 2;
	key(r.keys[0], 9);
	key(r.keys[1], 3);
	CHECK_RC(roster_encode(&enc, &len, &r), HALQA_ERR_INVALID);
	r.num_keys = ROSTER_MAX + 1;
	CHECK_RC(roster_encode(&enc, &len, &r), HALQA_ERR_INVALID);
}

static void test_rules(void)
{
	struct roster old, next;
	uint8_t fac[32], fac2[32], member[32];
	const uint8_t(*gone)[32];
	uint8_t both[2][32];

	key(fac, 0x11);
	key(fac2, 0x22);
	key(member, 0x33);
	memset(&old, 0, sizeof old);
	CHECK_OK(roster_add(&old, fac));

	CHECK_OK(roster_may_change_membership(&old, fac));
	CHECK_RC(roster_may_change_membership(&old, member), HALQA_ERR_DENIED);
	CHECK_OK(roster_may_schedule(&old, fac));
	CHECK_RC(roster_may_schedule(&old, member), HALQA_ERR_DENIED);

	/* Promote: only a facilitator may. */
	next = old;
	CHECK_OK(roster_add(&next, fac2));
	CHECK_OK(roster_validate_change(&old, &next, fac));
	CHECK_RC(roster_validate_change(&old, &next, member), HALQA_ERR_DENIED);
	/* A member cannot promote themself either. */
	next = old;
	CHECK_OK(roster_add(&next, member));
	CHECK_RC(roster_validate_change(&old, &next, member), HALQA_ERR_DENIED);
	/* An unchanged roster is no change. */
	CHECK_OK(roster_validate_change(&old, &old, member));
	/* An emptied roster is refused even from a facilitator. */
	memset(&next, 0, sizeof next);
	CHECK_RC(roster_validate_change(&old, &next, fac), HALQA_ERR_INVALID);

	/* The last facilitator cannot be removed from the group... */
	gone = (const uint8_t(*)[32])fac;
	CHECK_RC(roster_validate_removals(&old, gone, 1), HALQA_ERR_DENIED);
	gone = (const uint8_t(*)[32])member;
	CHECK_OK(roster_validate_removals(&old, gone, 1));
	CHECK_OK(roster_validate_removals(&old, NULL, 0));
	/* ...but can once another remains; removing both is refused. */
	next = old;
	CHECK_OK(roster_add(&next, fac2));
	gone = (const uint8_t(*)[32])fac;
	CHECK_OK(roster_validate_removals(&next, gone, 1));
	memcpy(both[0], fac, 32);
	memcpy(both[1], fac2, 32);
	CHECK_RC(roster_validate_removals(&next, (const uint8_t(*)[32])both, 2), HALQA_ERR_DENIED);
}

int main(void)
{
	RUN(test_add_remove_order);
	RUN(test_codec);
	RUN(test_rules);
	return harness_report();
}
