/*
 * bytes.c: the bounded reader and growable writer of bytes.h.
 *
 * The reader's single invariant: |len| bytes are readable at |ptr|. Every
 * get first compares the length it needs with |len| and only then reads and
 * advances, so no get can over-read or leave the reader half-advanced.
 *
 * The writer's invariants: |len| <= |cap| <= |max|, and once |err| is set
 * nothing more is written. Growth doubles the capacity (capped at |max|),
 * checking every addition for overflow before it is made.
 */
#include "halqa/bytes.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void bytes_reader_init(struct bytes_reader *r, const uint8_t *data, size_t len)
{
	r->ptr = data;
	r->len = data != NULL ? len : 0;
}

int bytes_get_span(struct bytes_reader *r, const uint8_t **out, size_t n)
{
	if (r->len < n) {
		return HALQA_ERR_TRUNCATED;
	}
	*out = r->ptr;
	r->ptr += n;
	r->len -= n;
	return HALQA_OK;
}

/* Reads an unsigned big-endian integer of |n| <= 8 bytes. */
static int get_be(struct bytes_reader *r, size_t n, uint64_t *out)
{
	const uint8_t *p;
	uint64_t v = 0;
	int rc;

	if ((rc = bytes_get_span(r, &p, n)) != HALQA_OK) {
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		v = (v << 8) | p[i];
	}
	*out = v;
	return HALQA_OK;
}

int bytes_get_u8(struct bytes_reader *r, uint8_t *out)
{
	uint64_t v;
	int rc = get_be(r, 1, &v);
	if (rc == HALQA_OK) {
		*out = (uint8_t)v;
	}
	return rc;
}

int bytes_get_u16(struct bytes_reader *r, uint16_t *out)
{
	uint64_t v;
	int rc = get_be(r, 2, &v);
	if (rc == HALQA_OK) {
		*out = (uint16_t)v;
	}
	return rc;
}

int bytes_get_u32(struct bytes_reader *r, uint32_t *out)
{
	uint64_t v;
	int rc = get_be(r, 4, &v);
	if (rc == HALQA_OK) {
		*out = (uint32_t)v;
	}
	return rc;
}

int bytes_get_u64(struct bytes_reader *r, uint64_t *out)
{
	return get_be(r, 8, out);
}

int bytes_get_copy(struct bytes_reader *r, uint8_t *out, size_t n)
{
	const uint8_t *p;
	int rc = bytes_get_span(r, &p, n);
	if (rc == HALQA_OK && n > 0) {
		memcpy(out, p, n);
	}
	return rc;
}

int bytes_get_reader(struct bytes_reader *r, struct bytes_reader *out, size_t n)
{
	const uint8_t *p;
	int rc = bytes_get_span(r, &p, n);
	if (rc == HALQA_OK) {
		out->ptr = p;
		out->len = n;
	}
	return rc;
}

int bytes_skip(struct bytes_reader *r, size_t n)
{
	const uint8_t *p;
	return bytes_get_span(r, &p, n);
}

int bytes_get_varint(struct bytes_reader *r, uint32_t *out)
{
	struct bytes_reader tmp = *r;
	uint8_t first;
	uint64_t rest = 0;
	uint32_t v;
	size_t width;
	int rc;

	if ((rc = bytes_get_u8(&tmp, &first)) != HALQA_OK) {
		return rc;
	}
	switch (first >> 6) {
	case 0:
		width = 1;
		break;
	case 1:
		width = 2;
		break;
	case 2:
		width = 4;
		break;
	default:
		return HALQA_ERR_MALFORMED; /* prefix 11 is reserved */
	}
	if ((rc = get_be(&tmp, width - 1, &rest)) != HALQA_OK) {
		return rc;
	}
	v = ((uint32_t)(first & 0x3f) << (8 * (width - 1))) | (uint32_t)rest;
	/* RFC 9420 2.1.2: a value must use the shortest form that holds it. */
	if ((width == 2 && v < 0x40) || (width == 4 && v < 0x4000)) {
		return HALQA_ERR_MALFORMED;
	}
	*r = tmp;
	*out = v;
	return HALQA_OK;
}

/* Checks a declared length against our bound and the remaining input. */
static int take_length(struct bytes_reader *tmp, struct bytes_reader *r, uint64_t n,
		       size_t max_len, struct bytes_reader *out)
{
	int rc;

	if (n > max_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((rc = bytes_get_reader(tmp, out, (size_t)n)) != HALQA_OK) {
		return rc;
	}
	*r = *tmp;
	return HALQA_OK;
}

int bytes_get_vec(struct bytes_reader *r, struct bytes_reader *out, size_t max_len)
{
	struct bytes_reader tmp = *r;
	uint32_t n;
	int rc;

	if ((rc = bytes_get_varint(&tmp, &n)) != HALQA_OK) {
		return rc;
	}
	return take_length(&tmp, r, n, max_len, out);
}

int bytes_get_prefixed(struct bytes_reader *r, unsigned width, struct bytes_reader *out,
		       size_t max_len)
{
	struct bytes_reader tmp = *r;
	uint64_t n;
	int rc;

	if (width != 1 && width != 2 && width != 4) {
		return HALQA_ERR_ARG;
	}
	if ((rc = get_be(&tmp, width, &n)) != HALQA_OK) {
		return rc;
	}
	return take_length(&tmp, r, n, max_len, out);
}

int bytes_get_vec_dup(struct bytes_reader *r, uint8_t **out, size_t *out_len, size_t max_len)
{
	struct bytes_reader tmp = *r;
	struct bytes_reader body;
	uint8_t *copy = NULL;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = bytes_get_vec(&tmp, &body, max_len)) != HALQA_OK) {
		return rc;
	}
	if (body.len > 0) {
		if ((copy = malloc(body.len)) == NULL) {
			return HALQA_ERR_NOMEM;
		}
		memcpy(copy, body.ptr, body.len);
	}
	*r = tmp;
	*out = copy;
	*out_len = body.len;
	return HALQA_OK;
}

int bytes_expect_end(const struct bytes_reader *r)
{
	return r->len == 0 ? HALQA_OK : HALQA_ERR_MALFORMED;
}

/* ---- writer ---- */

void bytes_writer_init(struct bytes_writer *w, size_t max_len, unsigned flags)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max_len;
	w->err = HALQA_OK;
	w->flags = flags;
}

static void release(uint8_t *buf, size_t cap, unsigned flags)
{
	if (buf != NULL && (flags & BYTES_WIPE) != 0) {
		sodium_memzero(buf, cap);
	}
	free(buf);
}

void bytes_writer_cleanup(struct bytes_writer *w)
{
	release(w->buf, w->cap, w->flags);
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->err = HALQA_OK;
}

/* Makes room for |n| more bytes, or sets the sticky error. */
static int reserve(struct bytes_writer *w, size_t n)
{
	size_t need, cap;
	uint8_t *nbuf;

	if (w->err != HALQA_OK) {
		return w->err;
	}
	if (n > w->max || w->len > w->max - n) {
		return w->err = HALQA_ERR_TOO_LARGE;
	}
	need = w->len + n;
	if (need <= w->cap) {
		return HALQA_OK;
	}
	cap = w->cap > 0 ? w->cap : 64;
	while (cap < need) {
		cap = cap > w->max / 2 ? w->max : cap * 2;
	}
	if (cap > w->max) {
		cap = w->max;
	}
	/*
	 * Secrets are never left behind by realloc: copy into a fresh buffer
	 * and wipe the old one ourselves.
	 */
	if ((w->flags & BYTES_WIPE) != 0) {
		nbuf = malloc(cap);
		if (nbuf != NULL && w->len > 0) {
			memcpy(nbuf, w->buf, w->len);
		}
		if (nbuf != NULL) {
			release(w->buf, w->cap, w->flags);
		}
	} else {
		nbuf = realloc(w->buf, cap);
	}
	if (nbuf == NULL) {
		return w->err = HALQA_ERR_NOMEM;
	}
	w->buf = nbuf;
	w->cap = cap;
	return HALQA_OK;
}

int bytes_writer_finish(struct bytes_writer *w, uint8_t **out, size_t *out_len)
{
	int rc;

	*out = NULL;
	*out_len = 0;
	if (w->err == HALQA_OK && w->buf == NULL) {
		/* Nothing written: still hand out a real allocation. */
		if ((w->buf = malloc(1)) == NULL) {
			w->err = HALQA_ERR_NOMEM;
		} else {
			w->cap = 1;
		}
	}
	if ((rc = w->err) != HALQA_OK) {
		bytes_writer_cleanup(w);
		return rc;
	}
	*out = w->buf;
	*out_len = w->len;
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	return HALQA_OK;
}

int bytes_put(struct bytes_writer *w, const uint8_t *data, size_t len)
{
	int rc;

	if ((rc = reserve(w, len)) != HALQA_OK) {
		return rc;
	}
	if (len > 0) {
		memcpy(w->buf + w->len, data, len);
		w->len += len;
	}
	return HALQA_OK;
}

static int put_be(struct bytes_writer *w, uint64_t v, size_t n)
{
	uint8_t tmp[8];

	for (size_t i = 0; i < n; i++) {
		tmp[n - 1 - i] = (uint8_t)(v >> (8 * i));
	}
	return bytes_put(w, tmp, n);
}

int bytes_put_u8(struct bytes_writer *w, uint8_t v)
{
	return put_be(w, v, 1);
}

int bytes_put_u16(struct bytes_writer *w, uint16_t v)
{
	return put_be(w, v, 2);
}

int bytes_put_u32(struct bytes_writer *w, uint32_t v)
{
	return put_be(w, v, 4);
}

int bytes_put_u64(struct bytes_writer *w, uint64_t v)
{
	return put_be(w, v, 8);
}

/* Width of the minimal varint for |v|, which must be <= BYTES_VARINT_MAX. */
static size_t varint_width(uint32_t v)
{
	return v < 0x40 ? 1 : v < 0x4000 ? 2 : 4;
}

/* Writes the varint for |v| into |dst|, which has room for its width. */
static void encode_varint(uint8_t *dst, uint32_t v, size_t width)
{
	uint32_t tagged = v | (width == 1 ? 0u : width == 2 ? 0x4000u : 0x80000000u);

	for (size_t i = 0; i < width; i++) {
		dst[width - 1 - i] = (uint8_t)(tagged >> (8 * i));
	}
}

int bytes_put_varint(struct bytes_writer *w, uint32_t v)
{
	uint8_t tmp[4];
	size_t width;

	if (w->err != HALQA_OK) {
		return w->err;
	}
	if (v > BYTES_VARINT_MAX) {
		return w->err = HALQA_ERR_TOO_LARGE;
	}
	width = varint_width(v);
	encode_varint(tmp, v, width);
	return bytes_put(w, tmp, width);
}

int bytes_put_vec(struct bytes_writer *w, const uint8_t *data, size_t len)
{
	if (w->err == HALQA_OK && len > BYTES_VARINT_MAX) {
		return w->err = HALQA_ERR_TOO_LARGE;
	}
	bytes_put_varint(w, (uint32_t)len);
	return bytes_put(w, data, len);
}

int bytes_begin(struct bytes_writer *w, enum bytes_prefix kind, struct bytes_mark *mark)
{
	/* A varint prefix reserves its widest form; bytes_end shrinks it. */
	size_t width = kind == BYTES_PREFIX_VARINT ? 4 : (size_t)kind;
	int rc;

	mark->offset = w->len;
	mark->kind = kind;
	if ((rc = reserve(w, width)) != HALQA_OK) {
		return rc;
	}
	memset(w->buf + w->len, 0, width);
	w->len += width;
	return HALQA_OK;
}

int bytes_end(struct bytes_writer *w, const struct bytes_mark *mark)
{
	size_t reserved = mark->kind == BYTES_PREFIX_VARINT ? 4 : (size_t)mark->kind;
	size_t body_at = mark->offset + reserved;
	size_t body_len, width;
	uint64_t limit;

	if (w->err != HALQA_OK) {
		return w->err;
	}
	if (body_at > w->len) {
		abort(); /* a mark from another writer or a broken nesting: a bug */
	}
	body_len = w->len - body_at;
	switch (mark->kind) {
	case BYTES_PREFIX_U8:
		limit = 0xff;
		break;
	case BYTES_PREFIX_U16:
		limit = 0xffff;
		break;
	case BYTES_PREFIX_U32:
		limit = 0xffffffffu;
		break;
	default:
		limit = BYTES_VARINT_MAX;
		break;
	}
	if (body_len > limit) {
		return w->err = HALQA_ERR_TOO_LARGE;
	}
	if (mark->kind != BYTES_PREFIX_VARINT) {
		for (size_t i = 0; i < reserved; i++) {
			w->buf[body_at - 1 - i] = (uint8_t)(body_len >> (8 * i));
		}
		return HALQA_OK;
	}
	width = varint_width((uint32_t)body_len);
	encode_varint(w->buf + mark->offset, (uint32_t)body_len, width);
	if (width < reserved) {
		memmove(w->buf + mark->offset + width, w->buf + body_at, body_len);
		w->len -= reserved - width;
		if ((w->flags & BYTES_WIPE) != 0) {
			sodium_memzero(w->buf + w->len, reserved - width);
		}
	}
	return HALQA_OK;
}
