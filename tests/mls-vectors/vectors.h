/*
 * vectors.h: the MLS interop test-vector runner, `mls-vectors KIND FILE`.
 *
 * Each vector kind (the base name of an upstream JSON file: "hpke",
 * "tree-math", ...) lives in its own file kind_<name>.c, with '-' written
 * as '_', and defines
 *
 *     const struct vector_kind vector_kind_<name> = {"<kind>", run_entry};
 *
 * The build finds kind_*.c files by name and registers them, so adding a
 * kind touches no shared file. run_entry is called once per array entry of
 * the JSON file and reports through the vector_ctx: the first failed check
 * of an entry prints one line "KIND[i]: what failed", later ones are only
 * counted. Helpers below fetch hex and integer fields; a missing or
 * malformed field fails the entry (a vector we cannot read is a failure,
 * never a pass). Memory they return lives until the entry ends.
 */
#ifndef HALQA_TESTS_VECTORS_H
#define HALQA_TESTS_VECTORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct vector_alloc;

struct vector_ctx {
	const char *kind;
	size_t index;
	int failed;  /* number of failed checks in this entry */
	int skipped; /* set by vec_skip */
	struct vector_alloc *allocs;
};

struct vector_kind {
	const char *name;
	void (*run_entry)(struct vector_ctx *ctx, json_t *entry);
};

/* vec_fail records a failed check; the first per entry is printed. */
void vec_fail(struct vector_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* vec_skip marks the entry skipped (allowed only where the issue says so). */
void vec_skip(struct vector_ctx *ctx, const char *why);

/*
 * vec_hex decodes the hex string field |key| of |obj| and returns its bytes
 * (owned by ctx) and length. Returns NULL and fails the entry if the field
 * is missing or not hex. An empty string gives a non-NULL pointer, length 0.
 */
const uint8_t *vec_hex(struct vector_ctx *ctx, json_t *obj, const char *key, size_t *out_len);

/* vec_hex_value decodes a JSON string value |v| as vec_hex does; |what| names it in errors. */
const uint8_t *vec_hex_value(struct vector_ctx *ctx, json_t *v, const char *what, size_t *out_len);

/* vec_uint reads a non-negative integer field; fails the entry if absent. */
int vec_uint(struct vector_ctx *ctx, json_t *obj, const char *key, uint64_t *out);

/* vec_array returns the array field |key|, or NULL after failing the entry. */
json_t *vec_array(struct vector_ctx *ctx, json_t *obj, const char *key);

/* vec_object returns the object field |key|, or NULL after failing the entry. */
json_t *vec_object(struct vector_ctx *ctx, json_t *obj, const char *key);

/* vec_alloc returns zeroed memory owned by ctx, freed when the entry ends. */
void *vec_alloc(struct vector_ctx *ctx, size_t len);

/*
 * vec_check_bytes compares |got| with |want| and fails the entry naming
 * |what| if they differ. Returns 1 if equal.
 */
int vec_check_bytes(struct vector_ctx *ctx, const char *what, const uint8_t *got, size_t got_len,
		    const uint8_t *want, size_t want_len);

/* vec_check_rc fails the entry naming |what| if |rc| is not HALQA_OK. Returns 1 if OK. */
int vec_check_rc(struct vector_ctx *ctx, const char *what, int rc);

#endif
