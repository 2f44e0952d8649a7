/*
 * bytes.h: the bounded reader and the growable writer.
 *
 * Every decoder in Halqa (MLS structures, the client-relay wire format,
 * stored blobs) reads through a bytes_reader, and every encoder writes
 * through a bytes_writer. Bounds are checked here, in one small, fuzzed
 * place, so decoders read like the structs of the RFC and never do pointer
 * arithmetic of their own.
 *
 * Reader. A bytes_reader is a view (pointer, remaining length) over memory
 * it does not own: copy out what must outlive the buffer. Every get checks
 * that enough bytes remain before touching any, and advances only on
 * success: on failure the reader is unchanged. Lengths are compared with
 * lengths, never pointers with pointers, so a huge length cannot wrap.
 *
 * Length-prefixed fields yield a sub-reader over exactly their bytes, parsed
 * with the same calls; a caller finishing a struct calls bytes_expect_end()
 * so trailing bytes are refused.
 *
 * The MLS variable-length integer (RFC 9420 section 2.1.2) has 1-, 2- and
 * 4-byte forms selected by the top two bits (00, 01, 10); the prefix 11 is
 * invalid, and a value encoded in more bytes than it needs is refused as
 * MLS requires. Every vector get also takes our own maximum length, so no
 * peer can make us accept a field larger than we planned for.
 *
 * Writer. A bytes_writer owns a heap buffer that grows (doubling) up to a
 * maximum size set at init. Errors are sticky: once a put fails, every later
 * put is a no-op returning the same error, so a chain of puts needs a single
 * check at the end (bytes_writer_error or bytes_writer_finish). A writer
 * created with BYTES_WIPE zeroes every buffer it lets go of (on growth, on
 * cleanup, and bytes a nested prefix moves), for encodings of secrets.
 *
 * Nested length prefixes are opened with bytes_begin() and closed with
 * bytes_end(); the prefix is filled in when the contents are known. For the
 * MLS varint the shortest form is written, so the output is canonical.
 */
#ifndef HALQA_BYTES_H
#define HALQA_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/* The largest length an MLS variable-length integer can carry: 2^30 - 1. */
#define BYTES_VARINT_MAX 0x3fffffffu

struct bytes_reader {
	const uint8_t *ptr;
	size_t len;
};

/* bytes_reader_init points |r| at |len| bytes of |data|, borrowed. */
void bytes_reader_init(struct bytes_reader *r, const uint8_t *data, size_t len);

/* bytes_remaining returns how many bytes |r| has left. */
static inline size_t bytes_remaining(const struct bytes_reader *r)
{
	return r->len;
}

/*
 * bytes_get_u8 .. bytes_get_u64 read a big-endian integer into |*out|.
 * They return HALQA_ERR_TRUNCATED if too few bytes remain.
 */
HALQA_MUST_CHECK int bytes_get_u8(struct bytes_reader *r, uint8_t *out);
HALQA_MUST_CHECK int bytes_get_u16(struct bytes_reader *r, uint16_t *out);
HALQA_MUST_CHECK int bytes_get_u32(struct bytes_reader *r, uint32_t *out);
HALQA_MUST_CHECK int bytes_get_u64(struct bytes_reader *r, uint64_t *out);

/* bytes_get_copy copies the next |n| bytes into |out| (fixed-size fields). */
HALQA_MUST_CHECK int bytes_get_copy(struct bytes_reader *r, uint8_t *out, size_t n);

/*
 * bytes_get_span sets |*out| to the next |n| bytes, borrowed from the
 * reader's buffer, and advances past them.
 */
HALQA_MUST_CHECK int bytes_get_span(struct bytes_reader *r, const uint8_t **out, size_t n);

/* bytes_get_reader sets |*out| to a sub-reader over the next |n| bytes. */
HALQA_MUST_CHECK int bytes_get_reader(struct bytes_reader *r, struct bytes_reader *out, size_t n);

/* bytes_skip advances past |n| bytes. */
HALQA_MUST_CHECK int bytes_skip(struct bytes_reader *r, size_t n);

/*
 * bytes_get_varint reads an MLS variable-length integer (RFC 9420 2.1.2).
 * It returns HALQA_ERR_MALFORMED for the reserved prefix 11 and for a value
 * not in its minimal form, HALQA_ERR_TRUNCATED if the input ends early.
 */
HALQA_MUST_CHECK int bytes_get_varint(struct bytes_reader *r, uint32_t *out);

/*
 * bytes_get_vec reads an MLS opaque<V> vector: a varint length, then that
 * many bytes, returned as the sub-reader |*out|. A length above |max_len|
 * gives HALQA_ERR_TOO_LARGE; a length beyond the input, HALQA_ERR_TRUNCATED.
 */
HALQA_MUST_CHECK int bytes_get_vec(struct bytes_reader *r, struct bytes_reader *out,
				   size_t max_len);

/*
 * bytes_get_prefixed reads a field with a fixed-width big-endian length
 * prefix of |width| bytes (1, 2 or 4), as the wire format uses, into the
 * sub-reader |*out|. Limits and errors as bytes_get_vec.
 */
HALQA_MUST_CHECK int bytes_get_prefixed(struct bytes_reader *r, unsigned width,
					struct bytes_reader *out, size_t max_len);

/*
 * bytes_get_vec_dup reads an MLS opaque<V> vector and returns a heap copy
 * in |*out| (NULL for an empty vector) and its length in |*out_len|. The
 * caller frees it with free() (or wipes first, for secrets). On error the
 * outputs are NULL and 0.
 */
HALQA_MUST_CHECK int bytes_get_vec_dup(struct bytes_reader *r, uint8_t **out, size_t *out_len,
				       size_t max_len);

/*
 * bytes_expect_end returns HALQA_OK if |r| is used up, otherwise
 * HALQA_ERR_MALFORMED: trailing bytes after a struct are an error.
 */
HALQA_MUST_CHECK int bytes_expect_end(const struct bytes_reader *r);

/* Writer flags. */
#define BYTES_WIPE 0x1u /* zero every buffer released: the contents are secret */

struct bytes_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;
	int err;
	unsigned flags;
};

/* A prefix opened with bytes_begin, closed with bytes_end. */
enum bytes_prefix {
	BYTES_PREFIX_VARINT = 0, /* MLS variable-length integer */
	BYTES_PREFIX_U8 = 1,
	BYTES_PREFIX_U16 = 2,
	BYTES_PREFIX_U32 = 4,
};

struct bytes_mark {
	size_t offset;
	enum bytes_prefix kind;
};

/*
 * bytes_writer_init sets |w| to an empty writer that will grow to at most
 * |max_len| bytes. It cannot fail and allocates nothing yet.
 */
void bytes_writer_init(struct bytes_writer *w, size_t max_len, unsigned flags);

/* bytes_writer_cleanup frees the buffer (wiping it if BYTES_WIPE). Safe in any state. */
void bytes_writer_cleanup(struct bytes_writer *w);

/* bytes_writer_error returns the sticky error, HALQA_OK if none. */
static inline int bytes_writer_error(const struct bytes_writer *w)
{
	return w->err;
}

/* bytes_writer_data / _len expose the bytes written so far (borrowed). */
static inline const uint8_t *bytes_writer_data(const struct bytes_writer *w)
{
	return w->buf;
}
static inline size_t bytes_writer_len(const struct bytes_writer *w)
{
	return w->len;
}

/*
 * bytes_writer_finish hands the written bytes to the caller: |*out| (free
 * with free(); wipe first if they are secret) and |*out_len|. On a sticky
 * error it returns that error, frees the buffer and sets the outputs to
 * NULL and 0. Either way |w| is left empty and may be reused. Zero bytes
 * written yields a valid 1-byte allocation so |*out| is never NULL on success.
 */
HALQA_MUST_CHECK int bytes_writer_finish(struct bytes_writer *w, uint8_t **out, size_t *out_len);

/* Puts: append big-endian integers or raw bytes. All return the sticky error. */
int bytes_put_u8(struct bytes_writer *w, uint8_t v);
int bytes_put_u16(struct bytes_writer *w, uint16_t v);
int bytes_put_u32(struct bytes_writer *w, uint32_t v);
int bytes_put_u64(struct bytes_writer *w, uint64_t v);
int bytes_put(struct bytes_writer *w, const uint8_t *data, size_t len);

/*
 * bytes_put_varint appends |v| as a minimal MLS varint. A value above
 * BYTES_VARINT_MAX sets HALQA_ERR_TOO_LARGE.
 */
int bytes_put_varint(struct bytes_writer *w, uint32_t v);

/* bytes_put_vec appends an MLS opaque<V>: varint length then the bytes. */
int bytes_put_vec(struct bytes_writer *w, const uint8_t *data, size_t len);

/*
 * bytes_begin opens a length prefix of kind |kind| at the current position
 * and records it in |*mark|; bytes_end closes it, writing the length of
 * what was appended since. Marks nest like parentheses. Contents too long
 * for the prefix set HALQA_ERR_TOO_LARGE.
 */
int bytes_begin(struct bytes_writer *w, enum bytes_prefix kind, struct bytes_mark *mark);
int bytes_end(struct bytes_writer *w, const struct bytes_mark *mark);

#endif
