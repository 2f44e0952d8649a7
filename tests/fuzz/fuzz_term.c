/*
 * fuzz_term.c: whatever bytes come in, term_sanitize's output is strict
 * UTF-8 with no control a terminal would act on: no byte below 0x20 but
 * '\n' (and that only with TERM_NEWLINES, chosen by the first input byte),
 * no DEL, no ESC, no C1 control, no bidi override or isolate. And its width
 * can be measured.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/term.h"
#include "halqa/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
