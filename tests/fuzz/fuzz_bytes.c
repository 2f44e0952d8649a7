/*
 * fuzz_bytes.c: drives the bounded reader with input-chosen operations and
 * checks its invariants: a failed get never moves the reader, a successful
 * one moves it by exactly what it consumed, and nothing reads outside the
 * input (ASan watches). Every decoded MLS vector is re-encoded and must
 * give back the same bytes, proving the writer's varint is canonical.
 */
#include "halqa/bytes.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

static void exercise(struct bytes_reader *r, int depth)
{
	while (bytes_remaining(r) > 0) {
		struct bytes_reader before = *r, sub;
		uint8_t op, buf[16];
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
		int rc;

		if (bytes_get_u8(r, &op) != HALQA_OK) {
			return;
		}
		before = *r;
		switch (op % 8) {
		case 0:
			rc = bytes_get_u16(r, &u16);
			break;
		case 1:
			rc = bytes_get_u32(r, &u32);
			break;
		case 2:
			rc = bytes_get_u64(r, &u64);
			break;
		case 3:
			rc = bytes_get_copy(r, buf, op % 17);
			break;
		case 4:
			rc = bytes_get_varint(r, &u32);
			break;
		case 5:
		case 6: {
			rc = bytes_get_vec(r, &sub, op & 0x80 ? 64 : SIZE_MAX);
			if (rc == HALQA_OK) {
				struct bytes_writer w;
				size_t consumed = before.len - r->len;

				bytes_writer_init(&w, 1u << 20, BYTES_WIPE);
				check(bytes_put_vec(&w, sub.ptr, sub.len) == HALQA_OK);
				check(bytes_writer_len(&w) == consumed);
				check(memcmp(bytes_writer_data(&w), before.ptr, consumed) == 0);
				bytes_writer_cleanup(&w);
				if (depth < 8) {
					exercise(&sub, depth + 1);
				}
			}
			break;
		}
		default:
			rc = bytes_get_prefixed(r, 1u << (op % 3), &sub, 1024);
			if (rc == HALQA_OK && depth < 8) {
				exercise(&sub, depth + 1);
			}
			break;
		}
		if (rc != HALQA_OK) {
			check(r->ptr == before.ptr && r->len == before.len);
			return;
		}
		check(r->len <= before.len);
	}
	check(bytes_expect_end(r) == HALQA_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes_reader r;

	bytes_reader_init(&r, data, size);
	exercise(&r, 0);
	return 0;
}
