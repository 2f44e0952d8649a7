/*
 * utf8.c: strict UTF-8 (RFC 3629) in one small decoder.
 *
 * The decoder takes the lead byte's class, then checks each continuation
 * byte and the smallest value the length allows (no overlongs), refuses
 * surrogates and anything above U+10FFFF. Every other text function in the
 * client (store, terminal sanitising, names) goes through utf8_decode, so
 * the rule exists once.
 */
#include "halqa/utf8.h"

#include <string.h>

int utf8_decode(const uint8_t *s, size_t len, size_t *pos, uint32_t *out_cp)
{
	size_t i = *pos, need, k;
	uint32_t cp, min;
	uint8_t b;

	if (i >= len) {
		return HALQA_ERR_TRUNCATED;
	}
	b = s[i];
	if (b < 0x80) {
		*out_cp = b;
		*pos = i + 1;
		return HALQA_OK;
	} else if (b >= 0xc2 && b <= 0xdf) {
		need = 1;
		cp = b & 0x1fu;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 2;
		cp = b & 0x0fu;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 3;
		cp = b & 0x07u;
		min = 0x10000;
	} else {
		/* 0x80..0xc1 (continuation or overlong lead) and 0xf5..0xff. */
		return HALQA_ERR_MALFORMED;
	}
	for (k = 1; k <= need; k++) {
		if (len - i <= k) {
			return HALQA_ERR_TRUNCATED;
		}
		if ((s[i + k] & 0xc0u) != 0x80u) {
			return HALQA_ERR_MALFORMED;
		}
		cp = (cp << 6) | (s[i + k] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu)) {
		return HALQA_ERR_MALFORMED;
	}
	*out_cp = cp;
	*pos = i + need + 1;
	return HALQA_OK;
}

int utf8_valid(const uint8_t *s, size_t len)
{
	size_t pos = 0;
	uint32_t cp;

	while (pos < len) {
		if (utf8_decode(s, len, &pos, &cp) != HALQA_OK) {
			return 0;
		}
	}
	return 1;
}

size_t utf8_encode(uint8_t out[4], uint32_t cp)
{
	if (cp < 0x80u) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800u) {
		out[0] = (uint8_t)(0xc0u | (cp >> 6));
		out[1] = (uint8_t)(0x80u | (cp & 0x3fu));
		return 2;
	}
	if (cp >= 0xd800u && cp <= 0xdfffu) {
		return 0;
	}
	if (cp < 0x10000u) {
		out[0] = (uint8_t)(0xe0u | (cp >> 12));
		out[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3fu));
		out[2] = (uint8_t)(0x80u | (cp & 0x3fu));
		return 3;
	}
	if (cp <= 0x10ffffu) {
		out[0] = (uint8_t)(0xf0u | (cp >> 18));
		out[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3fu));
		out[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3fu));
		out[3] = (uint8_t)(0x80u | (cp & 0x3fu));
		return 4;
	}
	return 0;
}

int utf8_is_unsafe(uint32_t cp)
{
	return cp < 0x20u || cp == 0x7fu || (cp >= 0x80u && cp <= 0x9fu) ||
	       (cp >= 0x202au && cp <= 0x202eu) || (cp >= 0x2066u && cp <= 0x2069u);
}

int utf8_name_check(const char *name)
{
	const uint8_t *s = (const uint8_t *)name;
	size_t len, pos = 0;
	uint32_t cp;
	int non_space = 0;

	if (name == NULL || name[0] == '\0') {
		return HALQA_ERR_ARG;
	}
	len = strnlen(name, UTF8_MAX_NAME + 1);
	if (len > UTF8_MAX_NAME) {
		return HALQA_ERR_TOO_LARGE;
	}
	while (pos < len) {
		if (utf8_decode(s, len, &pos, &cp) != HALQA_OK) {
			return HALQA_ERR_MALFORMED;
		}
		if (utf8_is_unsafe(cp)) {
			return HALQA_ERR_INVALID;
		}
		if (cp != ' ') {
			non_space = 1;
		}
	}
	return non_space ? HALQA_OK : HALQA_ERR_INVALID;
}
