/*
 * secmem.c: the secrets arena (secmem.h).
 *
 * One region of SECMEM_ARENA_SIZE bytes from sodium_malloc, made at the
 * first allocation and kept for the life of the process, is cut into
 * SECMEM_BLOCK-byte blocks. A bitmap says which blocks are taken, and a
 * table beside it (outside the arena, so a piece's overflow cannot
 * rewrite it) holds each piece's length at its first block. Allocation
 * is first fit over the bitmap: a command holds a few dozen pieces at
 * most, and the scan of 1,024 bits is far cheaper than the system calls
 * it replaces. Freeing wipes the piece's whole blocks. One mutex guards
 * it all.
 */
#include "halqa/secmem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#if defined(__SANITIZE_ADDRESS__)
#define SECMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECMEM_ASAN 1
#endif
#endif

#ifdef SECMEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NUM_BLOCKS (SECMEM_ARENA_SIZE / SECMEM_BLOCK)

_Static_assert(SECMEM_BLOCK % 16 == 0, "blocks keep 16-byte alignment");
_Static_assert(NUM_BLOCKS % 64 == 0, "the bitmap is whole words");
_Static_assert(NUM_BLOCKS <= UINT16_MAX, "a piece's length fits its table entry");

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *g_arena;    /* NULL until the first allocation */
static bool g_arena_failed; /* sodium_malloc refused it: everything falls back */
static uint64_t g_used[NUM_BLOCKS / 64];
static uint16_t g_len[NUM_BLOCKS]; /* a piece's length in blocks, at its first block */
static struct secmem_stats g_stats;

static bool block_used(size_t i)
{
	return (g_used[i / 64] >> (i % 64)) & 1u;
}

static void mark(size_t start, size_t n, bool used)
{
	for (size_t i = start; i < start + n; i++) {
		if (used) {
			g_used[i / 64] |= UINT64_C(1) << (i % 64);
		} else {
			g_used[i / 64] &= ~(UINT64_C(1) << (i % 64));
		}
	}
}

/* find_run returns the first block of the first |n| free blocks in a row; NUM_BLOCKS if none. */
static size_t find_run(size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < NUM_BLOCKS; i++) {
		if (i % 64 == 0 && g_used[i / 64] == UINT64_MAX) {
			run = 0;
			i += 63;
			continue;
		}
		if (block_used(i)) {
			run = 0;
		} else if (++run == n) {
			return i + 1 - n;
		}
	}
	return NUM_BLOCKS;
}

/* arena_piece takes |n| blocks for |len| bytes from the arena (lock held); NULL if it cannot. */
static void *arena_piece(size_t len, size_t n)
{
	size_t start;
	uint8_t *p;

	if (g_arena == NULL && !g_arena_failed) {
		/* Page-aligned (its size is whole pages), locked, guarded, not dumped. */
		if ((g_arena = sodium_malloc(SECMEM_ARENA_SIZE)) == NULL) {
			g_arena_failed = true;
			return NULL;
		}
		POISON(g_arena, SECMEM_ARENA_SIZE);
	}
	if (g_arena == NULL || (start = find_run(n)) == NUM_BLOCKS) {
		return NULL;
	}
	mark(start, n, true);
	g_len[start] = (uint16_t)n;
	g_stats.live++;
	g_stats.blocks_used += n;
	g_stats.arena_allocs++;
	p = g_arena + start * SECMEM_BLOCK;
	UNPOISON(p, len);
	return p;
}

void *secmem_alloc(size_t len)
{
	void *p = NULL;

	if (len == 0) {
		len = 1;
	}
	pthread_mutex_lock(&g_lock);
	if (len <= SECMEM_ARENA_SIZE) {
		p = arena_piece(len, (len + SECMEM_BLOCK - 1) / SECMEM_BLOCK);
	}
	if (p == NULL) {
		g_stats.fallbacks++;
	}
	pthread_mutex_unlock(&g_lock);
	/*
	 * sodium_malloc puts a piece's end against its guard page, so its
	 * start is as aligned as its length: a length rounded up to 16 keeps
	 * the 16-byte alignment secmem.h promises (len <= SIZE_MAX - 15: the
	 * arena's size bounds nothing here, so check).
	 */
	if (p == NULL && len <= SIZE_MAX - 15) {
		p = sodium_malloc((len + 15) & ~(size_t)15);
	}
	return p;
}

void *secmem_alloc_array(size_t num, size_t size)
{
	if (size != 0 && num > SIZE_MAX / size) {
		return NULL;
	}
	return secmem_alloc(num * size);
}

void secmem_free(void *p)
{
	uintptr_t a = (uintptr_t)p, base;
	size_t start, n;

	if (p == NULL) {
		return;
	}
	pthread_mutex_lock(&g_lock);
	base = (uintptr_t)g_arena;
	if (g_arena == NULL || a < base || a - base >= SECMEM_ARENA_SIZE) {
		pthread_mutex_unlock(&g_lock);
		sodium_free(p);
		return;
	}
	if ((a - base) % SECMEM_BLOCK != 0 || (n = g_len[(a - base) / SECMEM_BLOCK]) == 0) {
		/* Not a live piece's start: a double free or a stray pointer. */
		abort();
	}
	start = (a - base) / SECMEM_BLOCK;
	UNPOISON(p, n * SECMEM_BLOCK);
	sodium_memzero(p, n * SECMEM_BLOCK);
	POISON(p, n * SECMEM_BLOCK);
	mark(start, n, false);
	g_len[start] = 0;
	g_stats.live--;
	g_stats.blocks_used -= n;
	pthread_mutex_unlock(&g_lock);
}

void secmem_stats(struct secmem_stats *out)
{
	pthread_mutex_lock(&g_lock);
	*out = g_stats;
	pthread_mutex_unlock(&g_lock);
}
