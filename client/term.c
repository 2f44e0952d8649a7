/*
 * term.c: terminal sanitising and display width.
 *
 * Sanitising decodes with the strict utf8_decode and rebuilds the text code
 * point by code point, so the output is valid UTF-8 by construction: the
 * terminal never sees a byte sequence our decoder did not accept. A control
 * becomes the four ASCII characters "\xNN" so the reader sees that one was
 * sent (ESC '[' '3' '1' 'm' reads as the harmless text "\x1b[31m").
 *
 * Widths come from our own compact table rather than wcwidth(): libc's
 * answer depends on the locale (0 or -1 for everything outside ASCII under
 * "C") and on the glibc version, and a layout that changes with the
 * environment breaks the chat screen. The table covers combining marks of
 * the scripts our users write (Latin, Arabic, Hebrew, Syriac, Indic, Thai),
 * the zero-width format characters, and the East Asian wide and emoji
 * blocks; anything else is one column.
 */
#include "halqa/term.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/utf8.h"

struct range {
	uint32_t lo, hi;
};

static const struct range zero_width[] = {
	{0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x05bf, 0x05bf},
	{0x05c1, 0x05c2}, {0x05c4, 0x05c5}, {0x05c7, 0x05c7}, {0x0610, 0x061a},
	{0x061c, 0x061c}, {0x064b, 0x065f}, {0x0670, 0x0670}, {0x06d6, 0x06dc},
	{0x06df, 0x06e4}, {0x06e7, 0x06e8}, {0x06ea, 0x06ed}, {0x0711, 0x0711},
	{0x0730, 0x074a}, {0x07a6, 0x07b0}, {0x0816, 0x082d}, {0x08d3, 0x08e1},
	{0x08e3, 0x0902}, {0x093a, 0x093a}, {0x093c, 0x093c}, {0x0941, 0x0948},
	{0x094d, 0x094d}, {0x0951, 0x0957}, {0x0962, 0x0963}, {0x0e31, 0x0e31},
	{0x0e34, 0x0e3a}, {0x0e47, 0x0e4e}, {0x1160, 0x11ff}, {0x1ab0, 0x1aff},
	{0x1dc0, 0x1dff}, {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064},
	{0x2066, 0x206f}, {0x20d0, 0x20ff}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f},
	{0xfeff, 0xfeff}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f}, {0xe0100, 0xe01ef},
};

static const struct range wide[] = {
	{0x1100, 0x115f},   {0x231a, 0x231b},   {0x2329, 0x232a},   {0x23e9, 0x23ec},
	{0x23f0, 0x23f0},   {0x23f3, 0x23f3},   {0x25fd, 0x25fe},   {0x2614, 0x2615},
	{0x2648, 0x2653},   {0x267f, 0x267f},   {0x2693, 0x2693},   {0x26a1, 0x26a1},
	{0x26aa, 0x26ab},   {0x26bd, 0x26be},   {0x26c4, 0x26c5},   {0x26ce, 0x26ce},
	{0x26d4, 0x26d4},   {0x26ea, 0x26ea},   {0x26f2, 0x26f3},   {0x26f5, 0x26f5},
	{0x26fa, 0x26fa},   {0x26fd, 0x26fd},   {0x2705, 0x2705},   {0x270a, 0x270b},
	{0x2728, 0x2728},   {0x274c, 0x274c},   {0x274e, 0x274e},   {0x2753, 0x2755},
	{0x2757, 0x2757},   {0x2795, 0x2797},   {0x27b0, 0x27b0},   {0x27bf, 0x27bf},
	{0x2b1b, 0x2b1c},   {0x2b50, 0x2b50},   {0x2b55, 0x2b55},   {0x2e80, 0x303e},
	{0x3041, 0x33ff},   {0x3400, 0x4dbf},   {0x4e00, 0x9fff},   {0xa000, 0xa4cf},
	{0xa960, 0xa97f},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},   {0xfe10, 0xfe19},
	{0xfe30, 0xfe6f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x16fe0, 0x16fe4},
	{0x17000, 0x18cff}, {0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
	{0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f202}, {0x1f210, 0x1f23b},
	{0x1f240, 0x1f248}, {0x1f250, 0x1f251}, {0x1f260, 0x1f265}, {0x1f300, 0x1f320},
	{0x1f32d, 0x1f335}, {0x1f337, 0x1f37c}, {0x1f37e, 0x1f393}, {0x1f3a0, 0x1f3ca},
	{0x1f3cf, 0x1f3d3}, {0x1f3e0, 0x1f3f0}, {0x1f3f4, 0x1f3f4}, {0x1f3f8, 0x1f43e},
	{0x1f440, 0x1f440}, {0x1f442, 0x1f4fc}, {0x1f4ff, 0x1f53d}, {0x1f54b, 0x1f54e},
	{0x1f550, 0x1f567}, {0x1f57a, 0x1f57a}, {0x1f595, 0x1f596}, {0x1f5a4, 0x1f5a4},
	{0x1f5fb, 0x1f64f}, {0x1f680, 0x1f6c5}, {0x1f6cc, 0x1f6cc}, {0x1f6d0, 0x1f6d2},
	{0x1f6d5, 0x1f6d7}, {0x1f6eb, 0x1f6ec}, {0x1f6f4, 0x1f6fc}, {0x1f7e0, 0x1f7eb},
	{0x1f90c, 0x1f93a}, {0x1f93c, 0x1f945}, {0x1f947, 0x1f9ff}, {0x1fa70, 0x1faff},
	{0x20000, 0x2fffd}, {0x30000, 0x3fffd},
};

static int in_table(const struct range *t, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < t[mid].lo) {
			hi = mid;
		} else if (cp > t[mid].hi) {
			lo = mid + 1;
		} else {
			return 1;
		}
	}
	return 0;
}

int term_cp_width(uint32_t cp)
{
	if (cp == 0 || in_table(zero_width, sizeof zero_width / sizeof zero_width[0], cp)) {
		return 0;
	}
	if (in_table(wide, sizeof wide / sizeof wide[0], cp)) {
		return 2;
	}
	return 1;
}

size_t term_width(const char *s, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t pos = 0, w = 0;
	uint32_t cp;

	while (pos < len) {
		if (utf8_decode(u, len, &pos, &cp) != HALQA_OK) {
			pos++;
			w++;
			continue;
		}
		w += (size_t)term_cp_width(cp);
	}
	return w;
}

static const char hex[] = "0123456789abcdef";

int term_sanitize(char **out, size_t *out_len, const char *in, size_t in_len, unsigned flags)
{
	static const uint8_t replacement[3] = {0xef, 0xbf, 0xbd}; /* U+FFFD */
	const uint8_t *u = (const uint8_t *)in;
	uint8_t *buf;
	size_t pos = 0, o = 0, start;
	uint32_t cp;

	*out = NULL;
	*out_len = 0;
	/* Each input byte yields at most 4 output bytes ("\xNN" or U+FFFD). */
	if (in_len > (SIZE_MAX - 1) / 4) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((buf = malloc(4 * in_len + 1)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	while (pos < in_len) {
		start = pos;
		if (utf8_decode(u, in_len, &pos, &cp) != HALQA_OK) {
			/* One replacement per bad byte; resync on the next. */
			memcpy(buf + o, replacement, 3);
			o += 3;
			pos = start + 1;
			continue;
		}
		if (cp == '\n' && (flags & TERM_NEWLINES)) {
			buf[o++] = '\n';
		} else if (cp < 0x20u || cp == 0x7fu || (cp >= 0x80u && cp <= 0x9fu)) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = (uint8_t)hex[cp >> 4];
			buf[o++] = (uint8_t)hex[cp & 0xfu];
		} else if (utf8_is_unsafe(cp)) {
			memcpy(buf + o, replacement, 3);
			o += 3;
		} else {
			memcpy(buf + o, u + start, pos - start);
			o += pos - start;
		}
	}
	buf[o] = '\0';
	*out = (char *)buf;
	*out_len = o;
	return HALQA_OK;
}

int term_wrap(char **out, size_t *out_len, const char *in, size_t in_len, unsigned cols,
	      unsigned indent)
{
	char *safe = NULL, *buf = NULL;
	size_t safe_len = 0, pos = 0, o = 0, w = 0, start;
	uint32_t cp;
	int r;

	*out = NULL;
	*out_len = 0;
	if (indent > TERM_MAX_INDENT) {
		return HALQA_ERR_ARG;
	}
	if (cols < 2) {
		cols = 0; /* not even room for a wide character: no width limit */
	} else if (cols < indent + 2) {
		indent = 0;
	}
	if ((r = term_sanitize(&safe, &safe_len, in, in_len, TERM_NEWLINES)) != HALQA_OK) {
		return r;
	}
	/* Each byte of |safe| yields itself, or a break (1 + indent bytes) and itself. */
	if (safe_len > (SIZE_MAX - 1) / (2 + indent)) {
		r = HALQA_ERR_TOO_LARGE;
		goto out;
	}
	if ((buf = malloc(safe_len * (2 + indent) + 1)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	while (pos < safe_len) {
		int cw;

		start = pos;
		if (utf8_decode((const uint8_t *)safe, safe_len, &pos, &cp) != HALQA_OK) {
			r = HALQA_ERR_INTERNAL; /* term_sanitize gives strict UTF-8 only */
			goto out;
		}
		cw = cp == '\n' ? 0 : term_cp_width(cp);
		/* A row takes at least one character beyond its indent, so this always moves on. */
		if (cp == '\n' || (cols != 0 && w + (size_t)cw > cols && w > indent)) {
			buf[o++] = '\n';
			memset(buf + o, ' ', indent);
			o += indent;
			w = indent;
			if (cp == '\n') {
				continue;
			}
		}
		memcpy(buf + o, safe + start, pos - start);
		o += pos - start;
		w += (size_t)cw;
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	buf = NULL;
	r = HALQA_OK;
out:
	if (buf != NULL) {
		sodium_memzero(buf, o);
		free(buf);
	}
	if (safe != NULL) {
		sodium_memzero(safe, safe_len);
		free(safe);
	}
	return r;
}

int term_color(int fd)
{
	const char *nc = getenv("NO_COLOR");

	if (nc != NULL && nc[0] != '\0') {
		return 0;
	}
	return isatty(fd) == 1;
}
