/*
 * secmem.h: memory for secrets, from a small locked arena.
 *
 * libsodium's sodium_malloc puts every allocation in pages of its own
 * (mmap, guard pages made inaccessible, mlock, excluded from core dumps,
 * and as many system calls again to free it): right for a long-lived
 * key, costly for the dozens of small secrets a command's MLS group
 * load and save make and drop. secmem sub-allocates them from one
 * sodium_malloc'd region instead, made once per process: locked, out of
 * core dumps, with libsodium's guard pages around the whole region. A
 * piece is rounded up to SECMEM_BLOCK bytes and wiped when freed. When
 * the arena is full, or the request too large for it, the allocation
 * falls back to sodium_malloc; secmem_free tells the two apart, so a
 * caller never needs to know which it got. Thread-safe (one mutex).
 *
 * What the arena does not give: guard pages between pieces (an overflow
 * from one piece reaches its neighbour, not a fault). Under
 * AddressSanitizer every byte of the arena outside a live piece's
 * requested length is poisoned, so such an overflow is caught in tests.
 */
#ifndef HALQA_SECMEM_H
#define HALQA_SECMEM_H

#include <stddef.h>

/* The arena's size and its unit of allocation. */
#define SECMEM_ARENA_SIZE (64u * 1024u)
#define SECMEM_BLOCK 64u

/*
 * secmem_alloc returns |len| bytes (0 is taken as 1) for secret data,
 * aligned to 16 bytes, with unspecified contents; NULL when out of
 * memory. Free with secmem_free, never free() or sodium_free().
 */
void *secmem_alloc(size_t len);

/*
 * secmem_alloc_array returns room for |num| elements of |size| bytes, as
 * secmem_alloc; NULL on overflow of num * size or out of memory.
 */
void *secmem_alloc_array(size_t num, size_t size);

/*
 * secmem_free wipes and frees |p|, from secmem_alloc or
 * secmem_alloc_array (either place it came from). NULL is a no-op. A
 * pointer into the arena that is not a live piece's start aborts (a
 * double free or a stray pointer: a broken invariant).
 */
void secmem_free(void *p);

/* What the arena holds now, and how often it was bypassed (tests, benchmarks). */
struct secmem_stats {
	size_t live;          /* pieces in the arena now */
	size_t blocks_used;   /* SECMEM_BLOCK units they take */
	size_t arena_allocs;  /* pieces ever given from the arena */
	size_t fallbacks;     /* allocations given by sodium_malloc instead */
};

/* secmem_stats fills |out| (all zero before the first allocation). */
void secmem_stats(struct secmem_stats *out);

#endif
