/*
 * term.h: making received text safe to print, and measuring it.
 *
 * Anything another member wrote (message bodies, circle names, contact
 * names taken from the group) goes through term_sanitize before it reaches
 * the terminal, so a member can never drive another member's terminal:
 * escape sequences (cursor moves, title or clipboard writes, hyperlinks),
 * other C0 and C1 controls and DEL are shown as visible "\xNN" text, bidi
 * embedding, override and isolate controls (U+202A..U+202E,
 * U+2066..U+2069) and every byte that is not strict UTF-8 become U+FFFD.
 * Arabic, Hebrew, mixed-direction text and combining marks pass unchanged,
 * as do the implicit marks U+200E/U+200F/U+061C that such text needs.
 */
#ifndef HALQA_TERM_H
#define HALQA_TERM_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/* term_sanitize flags. */
#define TERM_NEWLINES 0x1u /* keep '\n' as a line break (multi-line bodies) */

/*
 * term_sanitize returns in |*out| (malloc'd, NUL-terminated, free with
 * free()) and |*out_len| a display-safe copy of |in_len| bytes of |in|.
 * The output is strict UTF-8 with no byte below 0x20 (but '\n' with
 * TERM_NEWLINES), no 0x7f, no C1 control and no bidi control. Returns
 * HALQA_ERR_NOMEM, or HALQA_ERR_TOO_LARGE if |in_len| is absurd.
 */
HALQA_MUST_CHECK int term_sanitize(char **out, size_t *out_len, const char *in, size_t in_len,
				   unsigned flags);

/* Most columns term_wrap indents a continuation row by. */
#define TERM_MAX_INDENT 16

/*
 * term_wrap is term_sanitize (newlines kept) laid out for a terminal
 * |cols| wide: in |*out| (malloc'd, NUL-terminated, free with free()) and
 * |*out_len|, rows separated by '\n', no row wider than |cols| columns
 * (term_cp_width), and every row after the first, whether it follows a
 * line break of the text or one we made, starting with |indent| spaces.
 * So text from another member can never produce a row that starts at the
 * left edge, where the terminal's own wrap of a padded line would let it
 * pose as a line from someone else. |cols| 0 (or 1) breaks only at the
 * text's own newlines; below |indent| + 2 columns there is no indent (no
 * room for it and a wide character). HALQA_ERR_ARG for |indent| above
 * TERM_MAX_INDENT, HALQA_ERR_NOMEM, HALQA_ERR_TOO_LARGE.
 */
HALQA_MUST_CHECK int term_wrap(char **out, size_t *out_len, const char *in, size_t in_len,
			       unsigned cols, unsigned indent);

/*
 * term_cp_width returns the columns a terminal gives code point |cp|: 0 for
 * combining marks and zero-width characters, 2 for East Asian wide and
 * fullwidth characters and most emoji, 1 otherwise.
 */
int term_cp_width(uint32_t cp);

/*
 * term_width returns the display width of |len| bytes of sanitized text
 * (an invalid byte, if any, counts as one column).
 */
size_t term_width(const char *s, size_t len);

/*
 * term_color says whether output on |fd| may be coloured: not if NO_COLOR
 * is set to anything non-empty (no-color.org), not if |fd| is no terminal.
 */
int term_color(int fd);

#endif
