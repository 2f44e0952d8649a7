/*
 * lineedit.c: the chat line editor as a state machine over input bytes.
 *
 * Input goes through two small parsers: an escape-sequence parser (ESC,
 * CSI with bounded parameters, SS3) that turns arrow and Home/End keys into
 * edits and swallows every sequence it does not know up to its final byte,
 * and a UTF-8 assembler that holds up to four bytes of a code point split
 * across reads and lets through only what utf8_decode accepts and
 * utf8_is_unsafe does not name. So the line is always strict UTF-8 without
 * controls, and nothing typed or pasted can make our own redraw emit a
 * control sequence.
 *
 * Display is one row: "\r", the prompt, the visible slice of the line,
 * erase to end of row, then "\r" and a cursor move to the column. The
 * slice scrolls sideways so the cursor stays visible; all widths come from
 * term_cp_width. Edits only mark the row dirty; it is drawn once when the
 * feed returns, so a 16,000-byte paste costs one redraw, not 16,000.
 *
 * The typed line is the user's plaintext: the line, the history and the
 * queued output are wiped when they are let go of.
 */
#include "halqa/lineedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/bytes.h"
#include "halqa/term.h"
#include "halqa/utf8.h"

/* Queued output bound: a print_above of the largest text, sanitized, plus a row. */
#define OUTPUT_MAX (8u * 1024 * 1024)
/* CSI parameter bytes kept; longer sequences are consumed and ignored. */
#define CSI_MAX 16

enum parse_state {
	PARSE_NORMAL = 0,
	PARSE_ESC = 1,
	PARSE_CSI = 2,
	PARSE_SS3 = 3,
};

struct lineedit {
	char prompt[4 * LINEEDIT_MAX_PROMPT + 1]; /* sanitized */
	size_t prompt_len, prompt_w;
	unsigned cols;

	char line[LINEEDIT_MAX_LINE + 1];
	size_t len, cur, scroll; /* byte offsets; cur and scroll on code point starts */
	char submitted[LINEEDIT_MAX_LINE + 1];
	size_t submitted_len;

	char *hist[LINEEDIT_HISTORY];
	size_t num_hist, hist_pos; /* hist_pos == num_hist: the line being typed */
	char *saved;               /* that line, while browsing the history */

	int state;
	char csi[CSI_MAX];
	size_t csi_len;
	int csi_overflow;
	uint8_t pend[4];
	size_t pend_len, pend_need;
	int in_paste;
	int last_cr;
	int dirty;
	int bell;

	struct bytes_writer out;
};

static void out_str(struct lineedit *le, const char *s)
{
	(void)bytes_put(&le->out, (const uint8_t *)s, strlen(s));
}

int lineedit_new(struct lineedit **out, const char *prompt, unsigned cols)
{
	struct lineedit *le;
	char *safe = NULL;
	size_t safe_len = 0;
	int r;

	*out = NULL;
	if (strlen(prompt) > LINEEDIT_MAX_PROMPT) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((le = calloc(1, sizeof *le)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = term_sanitize(&safe, &safe_len, prompt, strlen(prompt), 0)) != HALQA_OK) {
		free(le);
		return r;
	}
	memcpy(le->prompt, safe, safe_len + 1);
	le->prompt_len = safe_len;
	le->prompt_w = term_width(safe, safe_len);
	free(safe);
	bytes_writer_init(&le->out, OUTPUT_MAX, BYTES_WIPE);
	lineedit_set_cols(le, cols);
	le->dirty = 0;
	*out = le;
	return HALQA_OK;
}

static void free_text(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void lineedit_free(struct lineedit *le)
{
	if (le == NULL) {
		return;
	}
	for (size_t i = 0; i < le->num_hist; i++) {
		free_text(le->hist[i]);
	}
	free_text(le->saved);
	bytes_writer_cleanup(&le->out);
	sodium_memzero(le, sizeof *le);
	free(le);
}

void lineedit_set_cols(struct lineedit *le, unsigned cols)
{
	if (cols < LINEEDIT_MIN_COLS) {
		cols = LINEEDIT_MIN_COLS;
	} else if (cols > LINEEDIT_MAX_COLS) {
		cols = LINEEDIT_MAX_COLS;
	}
	le->cols = cols;
	le->dirty = 1;
}

/* cp_at decodes the code point starting at byte |pos| of the (valid) line. */
static uint32_t cp_at(const struct lineedit *le, size_t pos, size_t *next)
{
	uint32_t cp = 0;
	size_t p = pos;

	if (utf8_decode((const uint8_t *)le->line, le->len, &p, &cp) != HALQA_OK) {
		/* The line only ever holds validated text; treat a surprise as one byte. */
		p = pos + 1;
		cp = '?';
	}
	*next = p;
	return cp;
}

/* prev_start returns the start of the code point that ends at |pos| (> 0). */
static size_t prev_start(const struct lineedit *le, size_t pos)
{
	do {
		pos--;
	} while (pos > 0 && ((uint8_t)le->line[pos] & 0xc0u) == 0x80u);
	return pos;
}

/* Cursor moves step over a whole character: a base and its zero-width marks. */
static size_t step_left(const struct lineedit *le, size_t pos)
{
	size_t next;

	while (pos > 0) {
		pos = prev_start(le, pos);
		if (term_cp_width(cp_at(le, pos, &next)) != 0) {
			break;
		}
	}
	return pos;
}

static size_t step_right(const struct lineedit *le, size_t pos)
{
	size_t next;

	if (pos < le->len) {
		(void)cp_at(le, pos, &pos);
	}
	while (pos < le->len && term_cp_width(cp_at(le, pos, &next)) == 0) {
		pos = next;
	}
	return pos;
}

static size_t width_between(const struct lineedit *le, size_t from, size_t to)
{
	return term_width(le->line + from, to - from);
}

static void render(struct lineedit *le)
{
	size_t avail, w, pos, next, col, end;
	char move[32];

	avail = le->cols > le->prompt_w + 5 ? le->cols - 1 - le->prompt_w : 4;
	/*
	 * An edit left of the scroll point (a transposition, a recalled line)
	 * can leave it inside a code point; printing from there would send the
	 * terminal a broken UTF-8 sequence. Back it onto a character start.
	 */
	if (le->scroll > le->len) {
		le->scroll = le->len;
	}
	while (le->scroll > 0 && ((uint8_t)le->line[le->scroll] & 0xc0u) == 0x80u) {
		le->scroll--;
	}
	if (le->scroll > le->cur) {
		le->scroll = step_left(le, le->cur);
	}
	/* Keep the cursor's own column inside the row. */
	w = width_between(le, le->scroll, le->cur);
	while (w + 1 > avail && le->scroll < le->cur) {
		pos = le->scroll;
		w -= (size_t)term_cp_width(cp_at(le, pos, &next));
		le->scroll = next;
	}
	col = le->prompt_w + w;
	end = le->scroll;
	w = 0;
	while (end < le->len) {
		size_t cw = (size_t)term_cp_width(cp_at(le, end, &next));
		if (w + cw > avail) {
			break;
		}
		w += cw;
		end = next;
	}
	out_str(le, "\r");
	(void)bytes_put(&le->out, (const uint8_t *)le->prompt, le->prompt_len);
	(void)bytes_put(&le->out, (const uint8_t *)le->line + le->scroll, end - le->scroll);
	out_str(le, "\x1b[K\r");
	if (col > 0) {
		snprintf(move, sizeof move, "\x1b[%zuC", col);
		out_str(le, move);
	}
	le->dirty = 0;
}

static void set_line(struct lineedit *le, const char *s)
{
	size_t n = strlen(s);

	if (n > LINEEDIT_MAX_LINE) {
		n = 0;
	}
	sodium_memzero(le->line, le->len);
	memcpy(le->line, s, n);
	le->line[n] = '\0';
	le->len = n;
	le->cur = n;
	le->scroll = 0;
	le->dirty = 1;
}

static void insert(struct lineedit *le, const uint8_t *s, size_t n)
{
	if (le->len + n > LINEEDIT_MAX_LINE) {
		le->bell = 1;
		return;
	}
	memmove(le->line + le->cur + n, le->line + le->cur, le->len - le->cur);
	memcpy(le->line + le->cur, s, n);
	le->len += n;
	le->cur += n;
	le->line[le->len] = '\0';
	le->dirty = 1;
}

static void delete_range(struct lineedit *le, size_t from, size_t to)
{
	if (from >= to) {
		return;
	}
	memmove(le->line + from, le->line + to, le->len - to);
	le->len -= to - from;
	sodium_memzero(le->line + le->len, to - from);
	le->line[le->len] = '\0';
	if (le->cur >= to) {
		le->cur -= to - from;
	} else if (le->cur > from) {
		le->cur = from;
	}
	if (le->scroll > le->cur) {
		le->scroll = 0;
	}
	le->dirty = 1;
}

int lineedit_history_add(struct lineedit *le, const char *line)
{
	char *copy;

	if (line[0] == '\0' || strlen(line) > LINEEDIT_MAX_LINE ||
	    (le->num_hist > 0 && strcmp(le->hist[le->num_hist - 1], line) == 0)) {
		return HALQA_OK;
	}
	if ((copy = strdup(line)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (le->num_hist == LINEEDIT_HISTORY) {
		free_text(le->hist[0]);
		memmove(le->hist, le->hist + 1, (LINEEDIT_HISTORY - 1) * sizeof le->hist[0]);
		le->num_hist--;
	}
	le->hist[le->num_hist++] = copy;
	le->hist_pos = le->num_hist;
	free_text(le->saved);
	le->saved = NULL;
	return HALQA_OK;
}

static int history_up(struct lineedit *le)
{
	if (le->hist_pos == 0) {
		le->bell = 1;
		return HALQA_OK;
	}
	if (le->hist_pos == le->num_hist) {
		free_text(le->saved);
		if ((le->saved = strdup(le->line)) == NULL) {
			return HALQA_ERR_NOMEM;
		}
	}
	le->hist_pos--;
	set_line(le, le->hist[le->hist_pos]);
	return HALQA_OK;
}

static void history_down(struct lineedit *le)
{
	if (le->hist_pos >= le->num_hist) {
		le->bell = 1;
		return;
	}
	le->hist_pos++;
	if (le->hist_pos == le->num_hist) {
		set_line(le, le->saved != NULL ? le->saved : "");
		free_text(le->saved);
		le->saved = NULL;
	} else {
		set_line(le, le->hist[le->hist_pos]);
	}
}

static void kill_word(struct lineedit *le)
{
	size_t p = le->cur;

	while (p > 0 && le->line[p - 1] == ' ') {
		p--;
	}
	while (p > 0 && le->line[p - 1] != ' ') {
		p = prev_start(le, p);
	}
	delete_range(le, p, le->cur);
}

static int submit(struct lineedit *le)
{
	int r;

	memcpy(le->submitted, le->line, le->len + 1);
	le->submitted_len = le->len;
	if ((r = lineedit_history_add(le, le->line)) != HALQA_OK) {
		return r;
	}
	le->hist_pos = le->num_hist;
	free_text(le->saved);
	le->saved = NULL;
	set_line(le, "");
	return HALQA_OK;
}

/* csi_key maps a complete CSI or SS3 sequence to an edit. */
static int csi_key(struct lineedit *le, uint8_t final)
{
	const char *p = le->csi_overflow ? "" : le->csi;

	if (le->in_paste && !(final == '~' && strcmp(p, "201") == 0)) {
		return HALQA_OK; /* inside a paste no key acts, only its end */
	}
	switch (final) {
	case 'A':
		return history_up(le);
	case 'B':
		history_down(le);
		break;
	case 'C':
		le->cur = step_right(le, le->cur);
		le->dirty = 1;
		break;
	case 'D':
		le->cur = step_left(le, le->cur);
		le->dirty = 1;
		break;
	case 'H':
		le->cur = 0;
		le->dirty = 1;
		break;
	case 'F':
		le->cur = le->len;
		le->dirty = 1;
		break;
	case '~':
		if (strcmp(p, "1") == 0 || strcmp(p, "7") == 0) {
			le->cur = 0;
			le->dirty = 1;
		} else if (strcmp(p, "4") == 0 || strcmp(p, "8") == 0) {
			le->cur = le->len;
			le->dirty = 1;
		} else if (strcmp(p, "3") == 0) {
			delete_range(le, le->cur, step_right(le, le->cur));
		} else if (strcmp(p, "200") == 0) {
			le->in_paste = 1;
		} else if (strcmp(p, "201") == 0) {
			le->in_paste = 0;
		}
		break;
	default:
		break; /* unknown keys are ignored */
	}
	return HALQA_OK;
}

/* utf8_byte assembles code points; returns 1 if |b| must be processed again. */
static int utf8_byte(struct lineedit *le, uint8_t b)
{
	size_t pos = 0;
	uint32_t cp;

	if (le->pend_len == 0) {
		if (b >= 0xc2u && b <= 0xdfu) {
			le->pend_need = 2;
		} else if (b >= 0xe0u && b <= 0xefu) {
			le->pend_need = 3;
		} else if (b >= 0xf0u && b <= 0xf4u) {
			le->pend_need = 4;
		} else {
			return 0; /* a stray continuation or an impossible byte */
		}
		le->pend[le->pend_len++] = b;
		return 0;
	}
	if ((b & 0xc0u) != 0x80u) {
		/* The sequence was cut short: drop it, and read |b| afresh. */
		le->pend_len = 0;
		return 1;
	}
	le->pend[le->pend_len++] = b;
	if (le->pend_len < le->pend_need) {
		return 0;
	}
	if (utf8_decode(le->pend, le->pend_len, &pos, &cp) == HALQA_OK && pos == le->pend_len &&
	    !utf8_is_unsafe(cp)) {
		insert(le, le->pend, le->pend_len);
	}
	sodium_memzero(le->pend, sizeof le->pend);
	le->pend_len = 0;
	return 0;
}

/* normal_byte handles one byte outside escape sequences; sets |*action|. */
static int normal_byte(struct lineedit *le, uint8_t b, int *action, int *again)
{
	static const uint8_t space = ' ';
	int cr = le->last_cr;

	le->last_cr = 0;
	if (le->pend_len > 0 || b >= 0x80u) {
		*again = utf8_byte(le, b);
		return HALQA_OK;
	}
	if (b == 0x1bu) {
		le->state = PARSE_ESC;
		return HALQA_OK;
	}
	if (le->in_paste) {
		/* Pasted text is text: line breaks and tabs become spaces, no key acts. */
		if (b == '\r' || b == '\n' || b == '\t') {
			insert(le, &space, 1);
		} else if (b >= 0x20u && b != 0x7fu) {
			insert(le, &b, 1);
		}
		return HALQA_OK;
	}
	switch (b) {
	case '\r':
		le->last_cr = 1;
		*action = LINEEDIT_SUBMIT;
		return submit(le);
	case '\n':
		if (cr) {
			return HALQA_OK; /* the second half of CR LF */
		}
		*action = LINEEDIT_SUBMIT;
		return submit(le);
	case 0x7f:
	case 0x08:
		if (le->cur > 0) {
			delete_range(le, prev_start(le, le->cur), le->cur);
		}
		return HALQA_OK;
	case 0x01:
		le->cur = 0;
		le->dirty = 1;
		return HALQA_OK;
	case 0x05:
		le->cur = le->len;
		le->dirty = 1;
		return HALQA_OK;
	case 0x02:
		le->cur = step_left(le, le->cur);
		le->dirty = 1;
		return HALQA_OK;
	case 0x06:
		le->cur = step_right(le, le->cur);
		le->dirty = 1;
		return HALQA_OK;
	case 0x04:
		if (le->len == 0) {
			*action = LINEEDIT_EOF;
		} else {
			delete_range(le, le->cur, step_right(le, le->cur));
		}
		return HALQA_OK;
	case 0x03:
		set_line(le, "");
		le->hist_pos = le->num_hist;
		*action = LINEEDIT_INTERRUPT;
		return HALQA_OK;
	case 0x15:
		delete_range(le, 0, le->cur);
		return HALQA_OK;
	case 0x0b:
		delete_range(le, le->cur, le->len);
		return HALQA_OK;
	case 0x17:
		kill_word(le);
		return HALQA_OK;
	case 0x0c:
		le->dirty = 1;
		return HALQA_OK;
	case 0x10:
		return history_up(le);
	case 0x0e:
		history_down(le);
		return HALQA_OK;
	case '\t':
		insert(le, &space, 1);
		return HALQA_OK;
	default:
		if (b >= 0x20u) {
			insert(le, &b, 1);
		}
		return HALQA_OK; /* other controls are dropped */
	}
}

static int flush_out(struct lineedit *le)
{
	int r;

	if (le->bell) {
		out_str(le, "\a");
		le->bell = 0;
	}
	if (le->dirty) {
		render(le);
	}
	if ((r = bytes_writer_error(&le->out)) != HALQA_OK) {
		lineedit_output_clear(le);
	}
	return r;
}

int lineedit_feed(struct lineedit *le, const uint8_t *in, size_t in_len, size_t *out_used,
                  int *out_action)
{
	size_t i = 0;
	int r = HALQA_OK, action = LINEEDIT_NONE;

	*out_used = 0;
	*out_action = LINEEDIT_NONE;
	while (i < in_len && action == LINEEDIT_NONE && r == HALQA_OK) {
		uint8_t b = in[i];
		int again = 0;

		switch (le->state) {
		case PARSE_ESC:
			if (b == '[') {
				le->state = PARSE_CSI;
				le->csi_len = 0;
				le->csi_overflow = 0;
			} else if (b == 'O') {
				le->state = PARSE_SS3;
			} else if (b != 0x1bu) {
				/* Alt+key and lone ESC pairs: ignored. */
				le->state = PARSE_NORMAL;
			}
			break;
		case PARSE_CSI:
			if (b >= 0x20u && b <= 0x3fu) {
				if (le->csi_len + 1 < CSI_MAX) {
					le->csi[le->csi_len++] = (char)b;
					le->csi[le->csi_len] = '\0';
				} else {
					le->csi_overflow = 1;
				}
			} else if (b >= 0x40u && b <= 0x7eu) {
				le->state = PARSE_NORMAL;
				r = csi_key(le, b);
			} else {
				/* Not a CSI byte: abandon the sequence, read |b| afresh. */
				le->state = PARSE_NORMAL;
				again = 1;
			}
			break;
		case PARSE_SS3:
			le->state = PARSE_NORMAL;
			le->csi[0] = '\0';
			le->csi_overflow = 0;
			if (b >= 0x40u && b <= 0x7eu) {
				r = csi_key(le, b);
			}
			break;
		default:
			r = normal_byte(le, b, &action, &again);
			break;
		}
		if (!again) {
			i++;
		}
	}
	if (r == HALQA_OK) {
		r = flush_out(le);
	}
	if (r != HALQA_OK) {
		return r;
	}
	*out_used = i;
	*out_action = action;
	return HALQA_OK;
}

const char *lineedit_submitted(const struct lineedit *le, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = le->submitted_len;
	}
	return le->submitted;
}

const char *lineedit_line(const struct lineedit *le, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = le->len;
	}
	return le->line;
}

size_t lineedit_cursor(const struct lineedit *le)
{
	return le->cur;
}

int lineedit_print_above(struct lineedit *le, const char *text, size_t len)
{
	char *safe = NULL;
	size_t safe_len = 0, start = 0;
	int r;

	if (len > LINEEDIT_MAX_ABOVE) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((r = term_sanitize(&safe, &safe_len, text, len, TERM_NEWLINES)) != HALQA_OK) {
		return r;
	}
	out_str(le, "\r\x1b[K");
	/* The terminal is in raw mode: a line break needs its carriage return. */
	for (size_t i = 0; i <= safe_len; i++) {
		if (i == safe_len || safe[i] == '\n') {
			(void)bytes_put(&le->out, (const uint8_t *)safe + start, i - start);
			if (i < safe_len || i > start || safe_len == 0) {
				out_str(le, "\r\n");
			}
			start = i + 1;
		}
	}
	free(safe);
	le->dirty = 1;
	return flush_out(le);
}

int lineedit_redraw(struct lineedit *le)
{
	le->dirty = 1;
	return flush_out(le);
}

int lineedit_finish(struct lineedit *le)
{
	out_str(le, "\r\x1b[K");
	le->dirty = 0;
	return flush_out(le);
}

const uint8_t *lineedit_output(const struct lineedit *le, size_t *out_len)
{
	*out_len = bytes_writer_len(&le->out);
	return bytes_writer_data(&le->out);
}

void lineedit_output_clear(struct lineedit *le)
{
	bytes_writer_cleanup(&le->out);
	bytes_writer_init(&le->out, OUTPUT_MAX, BYTES_WIPE);
}
