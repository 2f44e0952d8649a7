/*
 * test_secmem.c: the secrets arena. Pieces are distinct, aligned and
 * usable; a freed piece is wiped (the next piece of its size takes its
 * place and reads zero); a full arena and a request too large for it
 * fall back to sodium_malloc, and those pieces free through the same
 * call; threads allocating and freeing together never share a piece.
 * Under AddressSanitizer, the bytes past a piece's length and a freed
 * piece are poisoned.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/secmem.h"
#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static void test_pieces(void)
{
	struct secmem_stats before, st;
	uint8_t *p[8];
	size_t lens[8] = {1, 16, 63, 64, 65, 200, 1527, 4096};

	secmem_stats(&before);
	for (size_t i = 0; i < 8; i++) {
		p[i] = secmem_alloc(lens[i]);
		CHECK(p[i] != NULL);
		if (p[i] == NULL) {
			return;
		}
		CHECK_INT_EQ((uintptr_t)p[i] % 16, 0);
		memset(p[i], (int)(0x10 + i), lens[i]);
	}
	secmem_stats(&st);
	CHECK_INT_EQ(st.live, before.live + 8);
	CHECK_INT_EQ(st.arena_allocs, before.arena_allocs + 8);
	CHECK_INT_EQ(st.fallbacks, before.fallbacks);
	/* No piece overlaps another: each still holds its own pattern. */
	for (size_t i = 0; i < 8; i++) {
		for (size_t k = 0; k < lens[i]; k++) {
			if (p[i][k] != (uint8_t)(0x10 + i)) {
				CHECK(p[i][k] == (uint8_t)(0x10 + i));
				break;
			}
		}
	}
	for (size_t i = 0; i < 8; i++) {
		secmem_free(p[i]);
	}
	secmem_stats(&st);
	CHECK_INT_EQ(st.live, before.live);
	CHECK_INT_EQ(st.blocks_used, before.blocks_used);
	secmem_free(NULL);
	/* A zero-length request still gives a piece to free. */
	p[0] = secmem_alloc(0);
	CHECK(p[0] != NULL);
	secmem_free(p[0]);
	CHECK(secmem_alloc_array(SIZE_MAX / 2, 4) == NULL);
	p[0] = secmem_alloc_array(10, 32);
	CHECK(p[0] != NULL);
	memset(p[0], 1, 320);
	secmem_free(p[0]);
}

static void test_wiped(void)
{
	uint8_t *a, *b, *c;
	size_t zero = 0;

	/* First fit: a freed piece's place goes to the next piece that fits there. */
	a = secmem_alloc(500);
	b = secmem_alloc(64);
	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL) {
		return;
	}
	memset(a, 0xA5, 500);
	secmem_free(a);
	c = secmem_alloc(500);
	CHECK(c == a);
	if (c == a) {
		for (size_t i = 0; i < 500; i++) {
			zero += c[i] == 0;
		}
		CHECK_INT_EQ(zero, 500);
	}
	secmem_free(c);
	secmem_free(b);
}

static void test_full_and_too_large(void)
{
	struct secmem_stats before, st;
	size_t n = SECMEM_ARENA_SIZE / 1024 + 4, got = 0;
	uint8_t **p = calloc(n, sizeof *p), *big;

	CHECK(p != NULL);
	if (p == NULL) {
		return;
	}
	secmem_stats(&before);
	/* More 1 KiB pieces than the arena holds: the last ones come from sodium_malloc. */
	for (size_t i = 0; i < n; i++) {
		p[i] = secmem_alloc(1024);
		CHECK(p[i] != NULL);
		if (p[i] != NULL) {
			memset(p[i], 0x5A, 1024);
			got++;
		}
	}
	secmem_stats(&st);
	CHECK_INT_EQ(got, n);
	CHECK(st.fallbacks >= before.fallbacks + 4);
	CHECK(st.blocks_used <= SECMEM_ARENA_SIZE / SECMEM_BLOCK);
	for (size_t i = 0; i < n; i++) {
		secmem_free(p[i]);
	}
	secmem_stats(&st);
	CHECK_INT_EQ(st.live, before.live);
	/* Room again once freed. */
	p[0] = secmem_alloc(1024);
	secmem_stats(&before);
	CHECK_INT_EQ(before.fallbacks, st.fallbacks);
	secmem_free(p[0]);
	/*
	 * Larger than the arena: sodium_malloc, freed the same way, and
	 * aligned as every piece is though its length is odd.
	 */
	big = secmem_alloc(SECMEM_ARENA_SIZE + 1);
	CHECK(big != NULL);
	if (big != NULL) {
		CHECK_INT_EQ((uintptr_t)big % 16, 0);
		memset(big, 0x33, SECMEM_ARENA_SIZE + 1);
	}
	secmem_stats(&st);
	CHECK_INT_EQ(st.fallbacks, before.fallbacks + 1);
	secmem_free(big);
	free(p);
}

#define THREADS 4
#define ROUNDS 4000

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint8_t *held[16] = {0};
	size_t lens[16] = {0};
	uint32_t bad = 0, rnd = (uint32_t)id * 2654435761u + 1;

	for (int r = 0; r < ROUNDS; r++) {
		size_t k;

		rnd = rnd * 1103515245u + 12345u;
		k = (rnd >> 8) % 16;
		if (held[k] != NULL) {
			for (size_t i = 0; i < lens[k]; i++) {
				bad += held[k][i] != (uint8_t)(id + k);
			}
			secmem_free(held[k]);
			held[k] = NULL;
		} else {
			lens[k] = 1 + (rnd >> 16) % 3000;
			if ((held[k] = secmem_alloc(lens[k])) == NULL) {
				bad++;
				continue;
			}
			memset(held[k], (int)(id + k), lens[k]);
		}
	}
	for (size_t k = 0; k < 16; k++) {
		for (size_t i = 0; held[k] != NULL && i < lens[k]; i++) {
			bad += held[k][i] != (uint8_t)(id + k);
		}
		secmem_free(held[k]);
	}
	return (void *)(uintptr_t)bad;
}

static void test_threads(void)
{
	pthread_t t[THREADS];
	struct secmem_stats before, st;
	uintptr_t bad = 0;

	secmem_stats(&before);
	for (uintptr_t i = 0; i < THREADS; i++) {
		CHECK_INT_EQ(pthread_create(&t[i], NULL, worker, (void *)(i * 40)), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *r = NULL;

		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	secmem_stats(&st);
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(st.live, before.live);
	CHECK_INT_EQ(st.blocks_used, before.blocks_used);
	/* Up to 64 pieces of up to 3 KB held at once: most from the arena, the rest not. */
	CHECK(st.arena_allocs > before.arena_allocs);
}

static void test_poisoned(void)
{
#ifdef TEST_ASAN
	uint8_t *p = secmem_alloc(40);

	CHECK(p != NULL);
	if (p == NULL) {
		return;
	}
	CHECK(!__asan_address_is_poisoned(p + 39));
	CHECK(__asan_address_is_poisoned(p + 40));
	secmem_free(p);
	CHECK(__asan_address_is_poisoned(p));
#endif
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_pieces);
	RUN(test_wiped);
	RUN(test_full_and_too_large);
	RUN(test_threads);
	RUN(test_poisoned);
	return harness_report();
}
