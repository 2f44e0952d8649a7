/*
 * mls_codec_impl.h: macros shared by the codec's implementation files
 * (proto/mls_codec*.c) and by codecs of further MLS structures built on
 * mls_codec.h. Not an API for callers of the codec.
 *
 * MLS_LIST_THUNKS(name, type) defines name_dec, name_enc and name_free,
 * adapters from the typed type_decode/_encode/_cleanup to the generic list
 * callbacks: calling a function through a pointer of another type is
 * undefined behaviour (and trips UBSan's -fsanitize=function).
 *
 * MLS_COPY_VIA_CODEC(type) defines type_copy as encode-then-decode: one
 * code path, and a copy is exactly as valid as a decoded struct. The
 * temporary encoding is wiped, since some structs carry secrets.
 *
 * MLS_BYTES_HELPERS(type) defines type_decode_bytes (whole buffer, nothing
 * may follow) and type_encode_bytes (into a fresh MLS_MAX_ENCODING writer).
 */
#ifndef HALQA_MLS_CODEC_IMPL_H
#define HALQA_MLS_CODEC_IMPL_H

#include <string.h>

#include "halqa/mls_codec.h"

#define MLS_LIST_THUNKS(name, type)                                                     \
	static int name##_dec(struct bytes_reader *r, void *item)                       \
	{                                                                               \
		return type##_decode(r, item);                                          \
	}                                                                               \
	static int name##_enc(struct bytes_writer *w, const void *item)                 \
	{                                                                               \
		return type##_encode(w, item);                                          \
	}                                                                               \
	static void name##_free(void *item)                                             \
	{                                                                               \
		type##_cleanup(item);                                                   \
	}

#define MLS_COPY_VIA_CODEC(type)                                                        \
	int type##_copy(struct type *out, const struct type *in)                        \
	{                                                                               \
		struct bytes_writer w;                                                  \
		struct bytes_reader r;                                                  \
		int rc;                                                                 \
                                                                                        \
		memset(out, 0, sizeof(*out));                                           \
		bytes_writer_init(&w, MLS_MAX_ENCODING, BYTES_WIPE);                    \
		if ((rc = type##_encode(&w, in)) == HALQA_OK) {                         \
			bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w)); \
			rc = type##_decode(&r, out);                                    \
		}                                                                       \
		bytes_writer_cleanup(&w);                                               \
		return rc;                                                              \
	}

#define MLS_DECODE_BYTES(type)                                                          \
	int type##_decode_bytes(const uint8_t *data, size_t len, struct type *out)      \
	{                                                                               \
		struct bytes_reader r;                                                  \
		int rc;                                                                 \
                                                                                        \
		bytes_reader_init(&r, data, len);                                       \
		if ((rc = type##_decode(&r, out)) == HALQA_OK &&                        \
		    (rc = bytes_expect_end(&r)) != HALQA_OK) {                          \
			type##_cleanup(out);                                            \
		}                                                                       \
		return rc;                                                              \
	}

#define MLS_ENCODE_BYTES(type, flags)                                                   \
	int type##_encode_bytes(const struct type *in, uint8_t **out, size_t *out_len)  \
	{                                                                               \
		struct bytes_writer w;                                                  \
                                                                                        \
		bytes_writer_init(&w, MLS_MAX_ENCODING, (flags));                       \
		type##_encode(&w, in);                                                  \
		return bytes_writer_finish(&w, out, out_len);                           \
	}

#define MLS_BYTES_HELPERS(type)                                                         \
	MLS_DECODE_BYTES(type)                                                          \
	MLS_ENCODE_BYTES(type, 0)

#endif
