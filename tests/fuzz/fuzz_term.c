/*
 * fuzz_term.c: whatever bytes come in, term_sanitize's output is strict
 * UTF-8 with no control a terminal would act on: no byte below 0x20 but
 * '\n' (and that only with TERM_NEWLINES, chosen by the first input byte),
 * no DEL, no ESC, no C1 control, no bidi override or isolate. And its width
 * can be measured. term_wrap's output (columns from the first byte too)
 * is as safe, no row is wider than the columns, and every row after the
 * first starts with the indent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/term.h"
#include "halqa/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INDENT 4

static void check_wrap(const uint8_t *data, size_t size, unsigned cols)
{
	char *out = NULL;
	size_t out_len = 0, pos = 0;
	uint32_t cp;
	int first = 1;

	if (term_wrap(&out, &out_len, (const char *)data, size, cols, INDENT) != HALQA_OK) {
		return;
	}
	if (strlen(out) != out_len) {
		abort();
	}
	while (pos <= out_len) {
		size_t len = strcspn(out + pos, "\n");
		if (cols >= 2 && term_width(out + pos, len) > cols) {
			abort();
		}
		if (!first && (cols < 2 || cols >= INDENT + 2) && strspn(out + pos, " ") < INDENT) {
			abort();
		}
		first = 0;
		pos += len + 1;
	}
	pos = 0;
	while (pos < out_len) {
		if (utf8_decode((const uint8_t *)out, out_len, &pos, &cp) != HALQA_OK ||
		    (cp != '\n' && utf8_is_unsafe(cp))) {
			abort();
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;
	char *out = NULL;
	size_t out_len = 0, pos = 0;
	uint32_t cp;

	if (size == 0) {
		return 0;
	}
	flags = (data[0] & 1) ? TERM_NEWLINES : 0;
	if (term_sanitize(&out, &out_len, (const char *)data + 1, size - 1, flags) != HALQA_OK) {
		return 0;
	}
	if (strlen(out) != out_len) {
		abort();
	}
	while (pos < out_len) {
		if (utf8_decode((const uint8_t *)out, out_len, &pos, &cp) != HALQA_OK) {
			abort();
		}
		if (cp == '\n' && flags == TERM_NEWLINES) {
			continue;
		}
		if (utf8_is_unsafe(cp)) {
			abort();
		}
	}
	(void)term_width(out, out_len);
	free(out);
	check_wrap(data + 1, size - 1, data[0] >> 1);
	return 0;
}
