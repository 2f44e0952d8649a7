/*
 * lineedit.h: the line editor of `halqa chat`, as pure logic.
 *
 * The editor owns one line of UTF-8 text, a cursor, a prompt and a
 * history. It never touches a terminal: the caller feeds it the bytes the
 * terminal sent (keys, escape sequences, pastes) and gets back an action
 * and the bytes to write to the terminal to show the result. So it runs the
 * same in a test as in a raw-mode tty.
 *
 * Editing is by code point (a combining mark moves with its base), widths
 * by term_cp_width, so Arabic, Hebrew and CJK lines measure right. The line
 * shows on one terminal row that scrolls sideways when the text is wider
 * than the terminal. Keys: printable text inserts; Backspace (DEL or ^H)
 * and ^D or Delete delete; Left/Right (or ^B/^F), Home/End (or ^A/^E) move;
 * ^U kills to the start, ^K to the end, ^W the word before the cursor; Up
 * and Down (or ^P/^N) walk the history; ^L redraws; Enter submits; ^D on an
 * empty line is end of input; ^C clears the line and is reported.
 * Bracketed paste (ESC [200~ ... ESC [201~) inserts newlines as spaces.
 * Bytes that are not UTF-8, and other controls, are dropped: they can never
 * reach the line or the terminal.
 *
 * lineedit_print_above shows a line of incoming text above the line being
 * typed without disturbing it: clear the row, print, redraw the prompt and
 * the partial input with the cursor where it was.
 */
#ifndef HALQA_LINEEDIT_H
#define HALQA_LINEEDIT_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/* The longest line in bytes: a chat message's bound (session.h). */
#define LINEEDIT_MAX_LINE 16000
/* History entries kept (oldest dropped first). */
#define LINEEDIT_HISTORY 100
/* Longest prompt in bytes. */
#define LINEEDIT_MAX_PROMPT 128
/* Narrowest and widest terminal the editor lays out for. */
#define LINEEDIT_MIN_COLS 10
#define LINEEDIT_MAX_COLS 1000
/* Longest text lineedit_print_above accepts, in bytes. */
#define LINEEDIT_MAX_ABOVE (64u * 1024)

enum lineedit_action {
	LINEEDIT_NONE = 0,      /* all input consumed, nothing to report */
	LINEEDIT_SUBMIT = 1,    /* Enter: the line is in lineedit_submitted() */
	LINEEDIT_EOF = 2,       /* ^D on an empty line */
	LINEEDIT_INTERRUPT = 3, /* ^C: the line was cleared */
};

struct lineedit;

/*
 * lineedit_new makes an editor with |prompt| (sanitized by the editor;
 * at most LINEEDIT_MAX_PROMPT bytes) for a terminal |cols| wide (clamped to
 * LINEEDIT_MIN_COLS..LINEEDIT_MAX_COLS). Nothing is drawn until
 * lineedit_redraw. HALQA_ERR_NOMEM, HALQA_ERR_TOO_LARGE for a long prompt.
 */
HALQA_MUST_CHECK int lineedit_new(struct lineedit **out, const char *prompt, unsigned cols);

/* lineedit_free wipes the line and the history and frees; NULL is a no-op. */
void lineedit_free(struct lineedit *le);

/* lineedit_set_cols changes the width (after SIGWINCH) and queues a redraw. */
void lineedit_set_cols(struct lineedit *le, unsigned cols);

/*
 * lineedit_feed consumes bytes of |in| (|in_len|) up to and including the
 * first one that completes an action, and returns in |*out_used| how many
 * it consumed and in |*out_action| the action (LINEEDIT_NONE when it used
 * everything without one). Call it again with the rest. A multi-byte key or
 * code point split across calls is completed by the next call. Returns
 * HALQA_ERR_NOMEM only (then nothing was consumed); hostile input is never
 * an error, it is dropped.
 */
HALQA_MUST_CHECK int lineedit_feed(struct lineedit *le, const uint8_t *in, size_t in_len,
                                   size_t *out_used, int *out_action);

/*
 * lineedit_submitted returns the line of the last LINEEDIT_SUBMIT
 * (NUL-terminated, strict UTF-8 without controls, borrowed until the next
 * feed), and its length in |*out_len| if not NULL. "" before any submit.
 * After a submit the editor holds an empty line and has queued a redraw of
 * the input row with the bare prompt: the caller shows what was sent (with
 * lineedit_print_above), so it appears once, formatted like the rest.
 */
const char *lineedit_submitted(const struct lineedit *le, size_t *out_len);

/* lineedit_line returns the line being edited (NUL-terminated, borrowed) and its length. */
const char *lineedit_line(const struct lineedit *le, size_t *out_len);

/* lineedit_cursor returns the cursor as a byte offset into lineedit_line. */
size_t lineedit_cursor(const struct lineedit *le);

/* lineedit_history_add adds |line| to the history (empty lines and repeats are skipped). */
HALQA_MUST_CHECK int lineedit_history_add(struct lineedit *le, const char *line);

/*
 * lineedit_print_above queues: clear the input row, |text| (|len| bytes,
 * sanitized here with term_sanitize so no byte of it can drive the
 * terminal; newlines kept as line breaks), a line break, then the prompt
 * and the partial input with the cursor where it was. HALQA_ERR_NOMEM,
 * HALQA_ERR_TOO_LARGE above LINEEDIT_MAX_ABOVE (nothing queued).
 */
HALQA_MUST_CHECK int lineedit_print_above(struct lineedit *le, const char *text, size_t len);

/* lineedit_redraw queues a full redraw of the prompt and the line. */
HALQA_MUST_CHECK int lineedit_redraw(struct lineedit *le);

/*
 * lineedit_finish queues what leaves the terminal tidy on exit: the input
 * row cleared, the cursor at its start (what was typed and not sent goes).
 */
HALQA_MUST_CHECK int lineedit_finish(struct lineedit *le);

/*
 * lineedit_output returns the bytes queued for the terminal (borrowed
 * until the next call that changes the editor) and their length;
 * lineedit_output_clear drops them once written.
 */
const uint8_t *lineedit_output(const struct lineedit *le, size_t *out_len);
void lineedit_output_clear(struct lineedit *le);

#endif
