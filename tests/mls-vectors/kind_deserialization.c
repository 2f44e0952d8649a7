/*
 * kind_deserialization.c: RFC 9420 section 2.1.2 variable-length integer
 * headers. Each entry gives a header and the length it encodes: decoding
 * must yield that length and consume the whole header, and encoding the
 * length must give back the same bytes (the minimal form).
 */
#include "vectors.h"

#include "halqa/bytes.h"

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct bytes_reader r;
	struct bytes_writer w;
	const uint8_t *header;
	size_t header_len;
	uint64_t want;
	uint32_t got;

	if ((header = vec_hex(ctx, entry, "vlbytes_header", &header_len)) == NULL ||
	    !vec_uint(ctx, entry, "length", &want)) {
		return;
	}
	bytes_reader_init(&r, header, header_len);
	if (!vec_check_rc(ctx, "decode varint", bytes_get_varint(&r, &got))) {
		return;
	}
	if (got != want) {
		vec_fail(ctx, "decoded length %u, want %llu", got, (unsigned long long)want);
		return;
	}
	if (bytes_expect_end(&r) != HALQA_OK) {
		vec_fail(ctx, "header has bytes after the varint");
		return;
	}
	bytes_writer_init(&w, 8, 0);
	if (vec_check_rc(ctx, "encode varint", bytes_put_varint(&w, got))) {
		vec_check_bytes(ctx, "re-encoded header", bytes_writer_data(&w),
				bytes_writer_len(&w), header, header_len);
	}
	bytes_writer_cleanup(&w);
}

const struct vector_kind vector_kind_deserialization = {"deserialization", run_entry};
