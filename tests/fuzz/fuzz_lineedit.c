/*
 * fuzz_lineedit.c: feeds the chat line editor arbitrary keystrokes in
 * arbitrary chunks, with incoming text printed above now and then, and
 * checks what must always hold: the line is strict UTF-8 with no control
 * and within its bound, the cursor sits on a code point boundary inside
 * it, and every byte the editor asks us to write is text or one of its own
 * sequences (CR, LF, BEL, ESC [ K, ESC [ n C): nothing typed, pasted or
 * received can make it emit another escape sequence.
 *
 * Input: byte 0 picks the width, then records of [length byte][bytes];
 * a length byte with its top bit set prints the record above the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/lineedit.h"
#include "halqa/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

static void check_output(struct lineedit *le)
{
	size_t len, i = 0, pos = 0;
	const uint8_t *o = lineedit_output(le, &len);
	uint32_t cp;

	while (i < len) {
		if (o[i] == 0x1b) {
			check(i + 2 < len && o[i + 1] == '[');
			i += 2;
			while (i < len && o[i] >= '0' && o[i] <= '9') {
				i++;
			}
			check(i < len && (o[i] == 'K' || o[i] == 'C'));
			i++;
			continue;
		}
		if (o[i] == '\r' || o[i] == '\n' || o[i] == '\a') {
			i++;
			continue;
		}
		pos = i;
		check(utf8_decode(o, len, &pos, &cp) == HALQA_OK);
		check(!utf8_is_unsafe(cp));
		i = pos;
	}
	lineedit_output_clear(le);
}

static void check_line(const struct lineedit *le)
{
	size_t len, pos = 0, cur = lineedit_cursor(le);
	const char *line = lineedit_line(le, &len);
	int on_boundary = cur == 0;
	uint32_t cp;

	check(len <= LINEEDIT_MAX_LINE && strlen(line) == len && cur <= len);
	while (pos < len) {
		check(utf8_decode((const uint8_t *)line, len, &pos, &cp) == HALQA_OK);
		check(!utf8_is_unsafe(cp));
		on_boundary |= pos == cur;
	}
	check(on_boundary);
	line = lineedit_submitted(le, &len);
	check(strlen(line) == len && utf8_valid((const uint8_t *)line, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lineedit *le = NULL;
	size_t off = 1;

	if (size == 0 || lineedit_new(&le, "#c> ", data[0]) != HALQA_OK) {
		return 0;
	}
	while (off < size) {
		size_t n = data[off] & 0x7fu;
		int above = (data[off] & 0x80u) != 0;

		off++;
		if (n > size - off) {
			n = size - off;
		}
		if (above) {
			check(lineedit_print_above(le, (const char *)data + off, n) == HALQA_OK);
		} else {
			size_t done = 0;
			while (done < n) {
				size_t used = 0;
				int action = 0;
				check(lineedit_feed(le, data + off + done, n - done, &used,
				                    &action) == HALQA_OK);
				check(used > 0 && used <= n - done);
				done += used;
				check_line(le);
			}
		}
		check_output(le);
		off += n;
	}
	check(lineedit_finish(le) == HALQA_OK);
	check_output(le);
	lineedit_free(le);
	return 0;
}
