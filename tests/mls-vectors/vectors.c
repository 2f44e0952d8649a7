/*
 * vectors.c: field helpers and per-entry memory for the vector runner.
 */
#include "vectors.h"

#include "halqa/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vector_alloc {
	struct vector_alloc *next;
	max_align_t data[];
};

void vec_fail(struct vector_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->failed++ > 0) {
		return;
	}
	printf("%s[%zu]: ", ctx->kind, ctx->index);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void vec_skip(struct vector_ctx *ctx, const char *why)
{
	(void)why;
	ctx->skipped = 1;
}

void *vec_alloc(struct vector_ctx *ctx, size_t len)
{
	struct vector_alloc *a = calloc(1, sizeof *a + len + 1);

	if (a == NULL) {
		fprintf(stderr, "mls-vectors: out of memory\n");
		exit(2);
	}
	a->next = ctx->allocs;
	ctx->allocs = a;
	return a->data;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

const uint8_t *vec_hex_value(struct vector_ctx *ctx, json_t *v, const char *what, size_t *out_len)
{
	const char *s;
	size_t n;
	uint8_t *out;

	*out_len = 0;
	if (v == NULL || !json_is_string(v)) {
		vec_fail(ctx, "field %s missing or not a string", what);
		return NULL;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n % 2 != 0) {
		vec_fail(ctx, "field %s has odd hex length", what);
		return NULL;
	}
	out = vec_alloc(ctx, n / 2);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			vec_fail(ctx, "field %s is not hex", what);
			return NULL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = n / 2;
	return out;
}

const uint8_t *vec_hex(struct vector_ctx *ctx, json_t *obj, const char *key, size_t *out_len)
{
	return vec_hex_value(ctx, json_object_get(obj, key), key, out_len);
}

int vec_uint(struct vector_ctx *ctx, json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0) {
		vec_fail(ctx, "field %s missing or not a non-negative integer", key);
		return 0;
	}
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

json_t *vec_array(struct vector_ctx *ctx, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !json_is_array(v)) {
		vec_fail(ctx, "field %s missing or not an array", key);
		return NULL;
	}
	return v;
}

json_t *vec_object(struct vector_ctx *ctx, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !json_is_object(v)) {
		vec_fail(ctx, "field %s missing or not an object", key);
		return NULL;
	}
	return v;
}

int vec_check_bytes(struct vector_ctx *ctx, const char *what, const uint8_t *got, size_t got_len,
		    const uint8_t *want, size_t want_len)
{
	if (got_len == want_len && (got_len == 0 || memcmp(got, want, got_len) == 0)) {
		return 1;
	}
	vec_fail(ctx, "%s differs (%zu bytes, want %zu)", what, got_len, want_len);
	return 0;
}

int vec_check_rc(struct vector_ctx *ctx, const char *what, int rc)
{
	if (rc == HALQA_OK) {
		return 1;
	}
	vec_fail(ctx, "%s failed: %s", what, halqa_errname(rc));
	return 0;
}

/* Frees the entry's allocations; called by main after each entry. */
void vec_entry_done(struct vector_ctx *ctx);
void vec_entry_done(struct vector_ctx *ctx)
{
	while (ctx->allocs != NULL) {
		struct vector_alloc *next = ctx->allocs->next;
		free(ctx->allocs);
		ctx->allocs = next;
	}
}
