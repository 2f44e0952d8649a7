/*
 * utf8.h: strict UTF-8 decoding and validation.
 *
 * Everything a member sends (message bodies, circle names) and everything a
 * user types (contact names) is text Halqa stores and shows, so it must be
 * exactly UTF-8 as RFC 3629 defines it: overlong forms, UTF-16 surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF are refused, because
 * lenient decoders disagree about them and a disagreement between the
 * validator and the terminal is how filters get bypassed.
 */
#ifndef HALQA_UTF8_H
#define HALQA_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/* Longest name (contact, circle, profile) in bytes. */
#define UTF8_MAX_NAME 64

/*
 * utf8_decode decodes the code point starting at |s[*pos]| (|len| bytes in
 * all) into |*out_cp| and advances |*pos| past it. Returns
 * HALQA_ERR_MALFORMED for an invalid, overlong, surrogate or out-of-range
 * sequence, HALQA_ERR_TRUNCATED if the sequence is cut off by |len|; |*pos|
 * is then unchanged.
 */
HALQA_MUST_CHECK int utf8_decode(const uint8_t *s, size_t len, size_t *pos, uint32_t *out_cp);

/* utf8_valid returns 1 if all |len| bytes of |s| are strict UTF-8, else 0. */
int utf8_valid(const uint8_t *s, size_t len);

/*
 * utf8_encode writes |cp| into |out| (up to 4 bytes) and returns the number
 * of bytes, or 0 if |cp| is a surrogate or above U+10FFFF.
 */
size_t utf8_encode(uint8_t out[4], uint32_t cp);

/*
 * utf8_is_unsafe says whether |cp| must never reach a terminal as itself:
 * C0 controls, DEL, C1 controls, and the bidi embedding, override and
 * isolate controls (U+202A..U+202E, U+2066..U+2069) that can make text
 * display in an order other than the one it was written in.
 */
int utf8_is_unsafe(uint32_t cp);

/*
 * utf8_name_check checks a name: 1..UTF8_MAX_NAME bytes, strict UTF-8, no
 * code point for which utf8_is_unsafe holds, and not only spaces. Returns
 * HALQA_ERR_ARG for NULL or empty, HALQA_ERR_TOO_LARGE if too long,
 * HALQA_ERR_MALFORMED for invalid UTF-8, HALQA_ERR_INVALID otherwise.
 */
HALQA_MUST_CHECK int utf8_name_check(const char *name);

#endif
