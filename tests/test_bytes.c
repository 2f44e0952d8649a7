/*
 * test_bytes.c: the bounded reader and growable writer. Good input, round
 * trips, and every error path: truncation at every byte, oversize lengths,
 * the reserved varint prefix, non-minimal varints, trailing bytes, writer
 * limits and the sticky error.
 */
#include "halqa/bytes.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void test_integers(void)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				     0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct bytes_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_OK(bytes_get_u8(&r, &u8));
	CHECK_INT_EQ(u8, 0x01);
	CHECK_OK(bytes_get_u16(&r, &u16));
	CHECK_INT_EQ(u16, 0x0203);
	CHECK_OK(bytes_get_u32(&r, &u32));
	CHECK_INT_EQ(u32, 0x04050607);
	CHECK_OK(bytes_get_u64(&r, &u64));
	CHECK(u64 == 0x08090a0b0c0d0e0fULL);
	CHECK_INT_EQ(bytes_remaining(&r), 0);
	CHECK_OK(bytes_expect_end(&r));
	CHECK_RC(bytes_get_u8(&r, &u8), HALQA_ERR_TRUNCATED);
}

/* A get that fails must leave the reader exactly where it was. */
static void test_truncation_leaves_reader_unchanged(void)
{
	static const uint8_t in[] = {0xaa, 0xbb, 0xcc};
	struct bytes_reader r;
	uint32_t u32;
	uint64_t u64;
	uint8_t buf[4];
	const uint8_t *span;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_RC(bytes_get_u32(&r, &u32), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_u64(&r, &u64), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_copy(&r, buf, 4), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_span(&r, &span, 4), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_skip(&r, SIZE_MAX), HALQA_ERR_TRUNCATED);
	CHECK_INT_EQ(bytes_remaining(&r), 3);
	CHECK(r.ptr == in);
	CHECK_OK(bytes_get_copy(&r, buf, 3));
	CHECK_MEM_EQ(buf, 3, in, 3);
	CHECK_RC(bytes_expect_end(&r), HALQA_OK);
}

static void test_expect_end_refuses_trailing(void)
{
	static const uint8_t in[] = {0x00, 0x01};
	struct bytes_reader r;
	uint8_t u8;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_OK(bytes_get_u8(&r, &u8));
	CHECK_RC(bytes_expect_end(&r), HALQA_ERR_MALFORMED);
}

struct varint_case {
	const char *hex;
	uint32_t value;
	int rc;
};

static void test_varint_decode(void)
{
	static const struct varint_case cases[] = {
		{"00", 0, HALQA_OK},
		{"3f", 63, HALQA_OK},
		{"4040", 64, HALQA_OK},
		{"7fff", 16383, HALQA_OK},
		{"80004000", 16384, HALQA_OK},
		{"bfffffff", 0x3fffffff, HALQA_OK},
		{"4000", 0, HALQA_ERR_MALFORMED},     /* non-minimal 2-byte */
		{"403f", 0, HALQA_ERR_MALFORMED},     /* 63 in 2 bytes */
		{"80000000", 0, HALQA_ERR_MALFORMED}, /* non-minimal 4-byte */
		{"80003fff", 0, HALQA_ERR_MALFORMED}, /* 16383 in 4 bytes */
		{"c0", 0, HALQA_ERR_MALFORMED},       /* reserved prefix 11 */
		{"ffffffff", 0, HALQA_ERR_MALFORMED},
		{"40", 0, HALQA_ERR_TRUNCATED},
		{"8000", 0, HALQA_ERR_TRUNCATED},
		{"", 0, HALQA_ERR_TRUNCATED},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		uint8_t *in = harness_hex(cases[i].hex, &len);
		struct bytes_reader r;
		uint32_t v = 0xdeadbeef;

		bytes_reader_init(&r, in, len);
		CHECK_RC(bytes_get_varint(&r, &v), cases[i].rc);
		if (cases[i].rc == HALQA_OK) {
			CHECK_INT_EQ(v, cases[i].value);
			CHECK_INT_EQ(bytes_remaining(&r), 0);
		} else {
			CHECK_INT_EQ(bytes_remaining(&r), len);
		}
		free(in);
	}
}

static void test_varint_round_trip(void)
{
	static const uint32_t values[] = {0, 1, 63, 64, 255, 16383, 16384, 1u << 20, 0x3fffffff};

	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		struct bytes_writer w;
		struct bytes_reader r;
		uint32_t v;

		bytes_writer_init(&w, 16, 0);
		CHECK_OK(bytes_put_varint(&w, values[i]));
		bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
		CHECK_OK(bytes_get_varint(&r, &v));
		CHECK_INT_EQ(v, values[i]);
		CHECK_OK(bytes_expect_end(&r));
		bytes_writer_cleanup(&w);
	}
}

static void test_varint_put_too_large(void)
{
	struct bytes_writer w;

	bytes_writer_init(&w, 16, 0);
	CHECK_RC(bytes_put_varint(&w, 0x40000000), HALQA_ERR_TOO_LARGE);
	/* Sticky: later puts fail the same way and write nothing. */
	CHECK_RC(bytes_put_u8(&w, 1), HALQA_ERR_TOO_LARGE);
	CHECK_INT_EQ(bytes_writer_len(&w), 0);
	bytes_writer_cleanup(&w);
}

static void test_vec(void)
{
	static const uint8_t in[] = {0x03, 'a', 'b', 'c', 0x05, 'x'};
	struct bytes_reader r, body;
	uint8_t *dup;
	size_t dup_len;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_RC(bytes_get_vec(&r, &body, 2), HALQA_ERR_TOO_LARGE);
	CHECK_INT_EQ(bytes_remaining(&r), sizeof in);
	CHECK_OK(bytes_get_vec(&r, &body, 16));
	CHECK_MEM_EQ(body.ptr, body.len, (const uint8_t *)"abc", 3);
	/* Declared 5, only 1 left. */
	CHECK_RC(bytes_get_vec(&r, &body, 16), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_vec_dup(&r, &dup, &dup_len, 16), HALQA_ERR_TRUNCATED);
	CHECK(dup == NULL);
	CHECK_INT_EQ(bytes_remaining(&r), 2);

	bytes_reader_init(&r, in, 4);
	CHECK_OK(bytes_get_vec_dup(&r, &dup, &dup_len, 16));
	CHECK_MEM_EQ(dup, dup_len, (const uint8_t *)"abc", 3);
	free(dup);
}

static void test_vec_huge_declared_length(void)
{
	/* 0x3fffffff declared, 2 bytes present: refused by bound and by input. */
	static const uint8_t in[] = {0xbf, 0xff, 0xff, 0xff, 0x00, 0x00};
	struct bytes_reader r, body;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_RC(bytes_get_vec(&r, &body, SIZE_MAX), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_vec(&r, &body, 1024), HALQA_ERR_TOO_LARGE);
}

static void test_prefixed(void)
{
	static const uint8_t in[] = {0x00, 0x02, 'h', 'i', 0x00, 0x00, 0x00, 0x09};
	struct bytes_reader r, body;

	bytes_reader_init(&r, in, sizeof in);
	CHECK_RC(bytes_get_prefixed(&r, 3, &body, 16), HALQA_ERR_ARG);
	CHECK_OK(bytes_get_prefixed(&r, 2, &body, 16));
	CHECK_MEM_EQ(body.ptr, body.len, (const uint8_t *)"hi", 2);
	CHECK_RC(bytes_get_prefixed(&r, 4, &body, 16), HALQA_ERR_TRUNCATED);
	CHECK_RC(bytes_get_prefixed(&r, 4, &body, 8), HALQA_ERR_TOO_LARGE);
	bytes_reader_init(&r, in, 1);
	CHECK_RC(bytes_get_prefixed(&r, 2, &body, 16), HALQA_ERR_TRUNCATED);
}

/* Truncating a nested structure at every byte must fail cleanly each time. */
static void test_truncation_at_every_byte(void)
{
	/* u16 tag, vec of 2 bytes, vec of 65 bytes (a 2-byte varint prefix). */
	uint8_t in[2 + 1 + 2 + 2 + 65];
	size_t at = 0;

	in[at++] = 0x00;
	in[at++] = 0x07;
	in[at++] = 0x02;
	in[at++] = 'x';
	in[at++] = 'y';
	in[at++] = 0x40;
	in[at++] = 0x41;
	memset(in + at, 'z', 65);

	for (size_t cut = 0; cut <= sizeof in; cut++) {
		struct bytes_reader r, outer, inner;
		uint16_t tag;
		int rc;

		bytes_reader_init(&r, in, cut);
		rc = bytes_get_u16(&r, &tag);
		if (rc == HALQA_OK) {
			rc = bytes_get_vec(&r, &outer, 1024);
		}
		if (rc == HALQA_OK) {
			rc = bytes_get_vec(&r, &inner, 1024);
		}
		if (rc == HALQA_OK) {
			rc = bytes_expect_end(&r);
		}
		if (cut == sizeof in) {
			CHECK_OK(rc);
			CHECK_INT_EQ(outer.len, 2);
			CHECK_INT_EQ(inner.len, 65);
		} else {
			CHECK_INT_EQ(rc, HALQA_ERR_TRUNCATED);
		}
	}
}

static void test_writer_integers_and_growth(void)
{
	struct bytes_writer w;
	uint8_t *out;
	size_t out_len;

	bytes_writer_init(&w, 1 << 20, 0);
	bytes_put_u8(&w, 0x01);
	bytes_put_u16(&w, 0x0203);
	bytes_put_u32(&w, 0x04050607);
	bytes_put_u64(&w, 0x08090a0b0c0d0e0fULL);
	for (int i = 0; i < 1000; i++) {
		bytes_put(&w, (const uint8_t *)"0123456789", 10);
	}
	CHECK_OK(bytes_writer_finish(&w, &out, &out_len));
	CHECK_INT_EQ(out_len, 15 + 10000);
	CHECK_INT_EQ(out[0], 0x01);
	CHECK_INT_EQ(out[14], 0x0f);
	CHECK_INT_EQ(out[15], '0');
	CHECK_INT_EQ(out[out_len - 1], '9');
	free(out);
	bytes_writer_cleanup(&w);
}

static void test_writer_max(void)
{
	struct bytes_writer w;
	uint8_t *out = (uint8_t *)"x";
	size_t out_len = 99;

	bytes_writer_init(&w, 8, BYTES_WIPE);
	CHECK_OK(bytes_put_u64(&w, 1));
	CHECK_RC(bytes_put_u8(&w, 1), HALQA_ERR_TOO_LARGE);
	CHECK_RC(bytes_put_u8(&w, 1), HALQA_ERR_TOO_LARGE);
	CHECK_RC(bytes_writer_finish(&w, &out, &out_len), HALQA_ERR_TOO_LARGE);
	CHECK(out == NULL);
	CHECK_INT_EQ(out_len, 0);
	/* finish leaves the writer empty and usable again. */
	CHECK_OK(bytes_put_u8(&w, 7));
	CHECK_OK(bytes_writer_finish(&w, &out, &out_len));
	CHECK_INT_EQ(out_len, 1);
	free(out);
	bytes_writer_cleanup(&w);
}

static void test_writer_size_overflow(void)
{
	struct bytes_writer w;

	bytes_writer_init(&w, SIZE_MAX, 0);
	CHECK_OK(bytes_put_u8(&w, 1));
	/* len + SIZE_MAX would wrap: must be refused, not allocated. */
	CHECK_RC(bytes_put(&w, (const uint8_t *)"", SIZE_MAX), HALQA_ERR_TOO_LARGE);
	bytes_writer_cleanup(&w);
}

static void test_writer_empty_finish(void)
{
	struct bytes_writer w;
	uint8_t *out;
	size_t out_len;

	bytes_writer_init(&w, 16, 0);
	CHECK_OK(bytes_writer_finish(&w, &out, &out_len));
	CHECK(out != NULL);
	CHECK_INT_EQ(out_len, 0);
	free(out);
}

static void test_nested_prefixes(void)
{
	struct bytes_writer w;
	struct bytes_mark outer, inner, fixed;
	struct bytes_reader r, ro, ri, rf;
	uint8_t big[300];
	uint16_t tag;

	memset(big, 0x5a, sizeof big);
	bytes_writer_init(&w, 4096, BYTES_WIPE);
	bytes_put_u16(&w, 0xbeef);
	bytes_begin(&w, BYTES_PREFIX_VARINT, &outer);
	bytes_begin(&w, BYTES_PREFIX_VARINT, &inner);
	bytes_put(&w, big, sizeof big);
	bytes_end(&w, &inner);
	bytes_begin(&w, BYTES_PREFIX_U16, &fixed);
	bytes_put(&w, (const uint8_t *)"ok", 2);
	bytes_end(&w, &fixed);
	CHECK_OK(bytes_end(&w, &outer));
	/* 2 + outer varint(2) + inner varint(2) + 300 + 2 + 2 */
	CHECK_INT_EQ(bytes_writer_len(&w), 2 + 2 + 2 + 300 + 2 + 2);

	bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
	CHECK_OK(bytes_get_u16(&r, &tag));
	CHECK_INT_EQ(tag, 0xbeef);
	CHECK_OK(bytes_get_vec(&r, &ro, 4096));
	CHECK_OK(bytes_get_vec(&ro, &ri, 4096));
	CHECK_MEM_EQ(ri.ptr, ri.len, big, sizeof big);
	CHECK_OK(bytes_get_prefixed(&ro, 2, &rf, 16));
	CHECK_MEM_EQ(rf.ptr, rf.len, (const uint8_t *)"ok", 2);
	CHECK_OK(bytes_expect_end(&ro));
	CHECK_OK(bytes_expect_end(&r));
	bytes_writer_cleanup(&w);
}

static void test_prefix_too_long(void)
{
	struct bytes_writer w;
	struct bytes_mark m;
	uint8_t big[300] = {0};

	bytes_writer_init(&w, 4096, 0);
	bytes_begin(&w, BYTES_PREFIX_U8, &m);
	bytes_put(&w, big, sizeof big);
	CHECK_RC(bytes_end(&w, &m), HALQA_ERR_TOO_LARGE);
	CHECK_RC(bytes_writer_error(&w), HALQA_ERR_TOO_LARGE);
	bytes_writer_cleanup(&w);
}

static void test_empty_vec(void)
{
	struct bytes_writer w;
	struct bytes_mark m;

	bytes_writer_init(&w, 16, 0);
	bytes_begin(&w, BYTES_PREFIX_VARINT, &m);
	CHECK_OK(bytes_end(&w, &m));
	CHECK_OK(bytes_put_vec(&w, NULL, 0));
	CHECK_INT_EQ(bytes_writer_len(&w), 2);
	CHECK_INT_EQ(bytes_writer_data(&w)[0], 0);
	CHECK_INT_EQ(bytes_writer_data(&w)[1], 0);
	bytes_writer_cleanup(&w);
}

static void test_strerror(void)
{
	CHECK(strcmp(halqa_strerror(HALQA_OK), "success") == 0);
	CHECK(strcmp(halqa_errname(HALQA_ERR_STALE), "HALQA_ERR_STALE") == 0);
	CHECK(strcmp(halqa_strerror(-999), "unknown error") == 0);
	CHECK(strcmp(halqa_strerror(5), "unknown error") == 0);
	for (int e = 0; e > -HALQA_ERR_COUNT; e--) {
		CHECK(halqa_strerror(e) != NULL && halqa_strerror(e)[0] != '\0');
		CHECK(strcmp(halqa_errname(e), "HALQA_ERR_UNKNOWN") != 0);
	}
}

int main(void)
{
	RUN(test_integers);
	RUN(test_truncation_leaves_reader_unchanged);
	RUN(test_expect_end_refuses_trailing);
	RUN(test_varint_decode);
	RUN(test_varint_round_trip);
	RUN(test_varint_put_too_large);
	RUN(test_vec);
	RUN(test_vec_huge_declared_length);
	RUN(test_prefixed);
	RUN(test_truncation_at_every_byte);
	RUN(test_writer_integers_and_growth);
	RUN(test_writer_max);
	RUN(test_writer_size_overflow);
	RUN(test_writer_empty_finish);
	RUN(test_nested_prefixes);
	RUN(test_prefix_too_long);
	RUN(test_empty_vec);
	RUN(test_strerror);
	return harness_report();
}
