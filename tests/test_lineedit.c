/*
 * test_lineedit.c: the chat line editor fed byte sequences as a terminal
 * would send them, checking the line, the cursor, the actions and the
 * bytes it asks us to write.
 */
#include <stdlib.h>
#include <string.h>

#include "halqa/lineedit.h"
#include "halqa/term.h"
#include "harness.h"

/* Everything fed, with the actions it produced in order. */
struct run {
	int actions[16];
	size_t num_actions;
	char submitted[4][LINEEDIT_MAX_LINE + 1];
	size_t num_submitted;
};

static void feed(struct lineedit *le, struct run *run, const char *in, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t used = 0;
		int action = 0;

		CHECK_OK(lineedit_feed(le, (const uint8_t *)in + off, len - off, &used, &action));
		if (used == 0) {
			harness_fail(__FILE__, __LINE__, "feed consumed nothing");
			return;
		}
		off += used;
		if (action != LINEEDIT_NONE && run != NULL && run->num_actions < 16) {
			run->actions[run->num_actions++] = action;
			if (action == LINEEDIT_SUBMIT && run->num_submitted < 4) {
				strcpy(run->submitted[run->num_submitted++],
				       lineedit_submitted(le, NULL));
			}
		}
	}
}

static void feeds(struct lineedit *le, struct run *run, const char *in)
{
	feed(le, run, in, strlen(in));
}

static struct lineedit *make(unsigned cols)
{
	struct lineedit *le = NULL;

	CHECK_OK(lineedit_new(&le, "> ", cols));
	return le;
}

static void check_line(struct lineedit *le, const char *want, size_t want_cursor)
{
	size_t len;
	const char *got = lineedit_line(le, &len);

	CHECK_MEM_EQ((const uint8_t *)got, len, (const uint8_t *)want, strlen(want));
	CHECK_INT_EQ(lineedit_cursor(le), want_cursor);
}

/* output_has says whether the queued output contains |needle|. */
static int output_has(struct lineedit *le, const char *needle, size_t n)
{
	size_t len;
	const uint8_t *o = lineedit_output(le, &len);

	for (size_t i = 0; o != NULL && i + n <= len; i++) {
		if (memcmp(o + i, needle, n) == 0) {
			return 1;
		}
	}
	return 0;
}

static int output_ends_with(struct lineedit *le, const char *tail)
{
	size_t len, n = strlen(tail);
	const uint8_t *o = lineedit_output(le, &len);

	return o != NULL && len >= n && memcmp(o + len - n, tail, n) == 0;
}

static void test_type_and_submit(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};

	feeds(le, &run, "hello");
	check_line(le, "hello", 5);
	CHECK(output_ends_with(le, "\r> hello\x1b[K\r\x1b[7C"));
	lineedit_output_clear(le);
	feeds(le, &run, "\r");
	CHECK_INT_EQ(run.num_actions, 1);
	CHECK_INT_EQ(run.actions[0], LINEEDIT_SUBMIT);
	CHECK(strcmp(run.submitted[0], "hello") == 0);
	check_line(le, "", 0);
	/* The row is redrawn with the bare prompt. */
	CHECK(output_ends_with(le, "\r> \x1b[K\r\x1b[2C"));
	lineedit_free(le);
}

static void test_feed_stops_at_action(void)
{
	struct lineedit *le = make(80);
	size_t used = 0;
	int action = 0;

	CHECK_OK(lineedit_feed(le, (const uint8_t *)"a\rb", 3, &used, &action));
	CHECK_INT_EQ(used, 2);
	CHECK_INT_EQ(action, LINEEDIT_SUBMIT);
	CHECK(strcmp(lineedit_submitted(le, NULL), "a") == 0);
	CHECK_OK(lineedit_feed(le, (const uint8_t *)"b", 1, &used, &action));
	CHECK_INT_EQ(used, 1);
	CHECK_INT_EQ(action, LINEEDIT_NONE);
	check_line(le, "b", 1);
	lineedit_free(le);
}

static void test_crlf_is_one_submit(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};

	feeds(le, &run, "one\r\ntwo\n\nthree\r\r");
	CHECK_INT_EQ(run.num_actions, 5);
	CHECK(strcmp(run.submitted[0], "one") == 0);
	CHECK(strcmp(run.submitted[1], "two") == 0);
	CHECK(strcmp(run.submitted[2], "") == 0);
	CHECK(strcmp(run.submitted[3], "three") == 0);
	lineedit_free(le);
}

static void test_arrows_home_end(void)
{
	struct lineedit *le = make(80);

	feeds(le, NULL, "abc\x1b[D\x1b[DX");
	check_line(le, "aXbc", 2);
	feeds(le, NULL, "\x1b[H");
	check_line(le, "aXbc", 0);
	feeds(le, NULL, "\x1b[F");
	check_line(le, "aXbc", 4);
	feeds(le, NULL, "\x1b[1~");
	check_line(le, "aXbc", 0);
	feeds(le, NULL, "\x1b[4~");
	check_line(le, "aXbc", 4);
	feeds(le, NULL, "\x1bOH");
	check_line(le, "aXbc", 0);
	feeds(le, NULL, "\x1bOF\x01");
	check_line(le, "aXbc", 0);
	feeds(le, NULL, "\x05\x02\x02\x06");
	check_line(le, "aXbc", 3);
	/* Ctrl+Right (CSI 1;5C) moves like Right. */
	feeds(le, NULL, "\x1b[1;5C");
	check_line(le, "aXbc", 4);
	/* Right at the end and Left at the start stay put. */
	feeds(le, NULL, "\x1b[C\x01\x1b[D");
	check_line(le, "aXbc", 0);
	/* Delete (CSI 3~) and ^D delete under the cursor. */
	feeds(le, NULL, "\x1b[3~\x04");
	check_line(le, "bc", 0);
	lineedit_free(le);
}

static void test_kill_keys(void)
{
	struct lineedit *le = make(80);

	feeds(le, NULL, "one two  three");
	feeds(le, NULL, "\x17");
	check_line(le, "one two  ", 9);
	feeds(le, NULL, "\x17");
	check_line(le, "one ", 4);
	feeds(le, NULL, "x\x02\x02\x0b");
	check_line(le, "one", 3);
	feeds(le, NULL, "\x02\x15");
	check_line(le, "e", 0);
	feeds(le, NULL, "\x7f\x08");
	check_line(le, "e", 0);
	lineedit_free(le);
}

static void test_utf8_editing(void)
{
	struct lineedit *le = make(80);
	/* "salam" in Arabic: four two-byte code points. */
	const char *salam = "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85";

	feeds(le, NULL, salam);
	check_line(le, salam, 8);
	feeds(le, NULL, "\x1b[D");
	check_line(le, salam, 6);
	feeds(le, NULL, "\x1b[D\x1b[D\x7f");
	check_line(le, "\xd9\x84\xd8\xa7\xd9\x85", 0);
	feeds(le, NULL, "\x05\x7f");
	check_line(le, "\xd9\x84\xd8\xa7", 4);
	lineedit_free(le);

	/* A combining mark moves with its base: e + U+0301, then x. */
	le = make(80);
	feeds(le, NULL, "e\xcc\x81x\x1b[D\x1b[D");
	check_line(le, "e\xcc\x81x", 0);
	feeds(le, NULL, "\x1b[C");
	check_line(le, "e\xcc\x81x", 3);
	lineedit_free(le);
}

static void test_wide_cursor_column(void)
{
	struct lineedit *le = make(80);

	/* Two CJK characters: four columns after a two-column prompt. */
	feeds(le, NULL, "\xe4\xb8\xad\xe6\x96\x87");
	CHECK(output_ends_with(le, "\r> \xe4\xb8\xad\xe6\x96\x87\x1b[K\r\x1b[6C"));
	lineedit_output_clear(le);
	feeds(le, NULL, "\x1b[D");
	CHECK(output_ends_with(le, "\x1b[K\r\x1b[4C"));
	lineedit_free(le);
}

static void test_split_code_point(void)
{
	struct lineedit *le = make(80);

	feeds(le, NULL, "\xd8");
	check_line(le, "", 0);
	feeds(le, NULL, "\xb3");
	check_line(le, "\xd8\xb3", 2);
	/* A four-byte emoji split in three reads. */
	feeds(le, NULL, "\xf0\x9f");
	feeds(le, NULL, "\x98");
	feeds(le, NULL, "\x80");
	check_line(le, "\xd8\xb3\xf0\x9f\x98\x80", 6);
	lineedit_free(le);
}

static void test_invalid_utf8_dropped(void)
{
	struct lineedit *le = make(80);

	/* Stray continuation, 0xff, overlong '/', surrogate, cut sequence, > U+10FFFF. */
	feeds(le, NULL,
	      "\x80\xff"
	      "a\xc0\xaf"
	      "b\xed\xa0\x80"
	      "c\xe4\xb8"
	      "d\xf4\x90\x80\x80"
	      "e");
	check_line(le, "abcde", 5);
	/* Bidi override and isolate controls and C1 controls are not typed in. */
	feeds(le, NULL,
	      "\xe2\x80\xae\xe2\x81\xa6\xc2\x9b"
	      "f");
	check_line(le, "abcdef", 6);
	/* Other C0 controls are dropped; a tab becomes a space. */
	feed(le, NULL, "\x07\x1a\x00\tg", 5);
	check_line(le, "abcdef g", 8);
	lineedit_free(le);
}

static void test_escape_sequences_swallowed(void)
{
	struct lineedit *le = make(80);

	/* SGR, a long parameter list, an OSC-looking ESC ], Alt+x, F5. */
	feeds(le, NULL,
	      "a\x1b[38;5;196;48;5;21;1;4;7m"
	      "b\x1b[1111111111111111111111111111A"
	      "c\x1bxd\x1b[15~e\x1b\x1b[Df");
	check_line(le, "abcdfe", 5);
	/* An unfinished CSI cut by a control: the control still acts. */
	feeds(le, NULL, "\x1b[12\x01");
	check_line(le, "abcdfe", 0);
	lineedit_free(le);
}

static void test_history(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};

	feeds(le, &run, "one\rtwo\rtwo\rpa");
	feeds(le, NULL, "\x1b[A");
	check_line(le, "two", 3);
	feeds(le, NULL, "\x1b[A");
	check_line(le, "one", 3);
	feeds(le, NULL, "\x1b[A");
	check_line(le, "one", 3);
	feeds(le, NULL, "\x1b[B");
	check_line(le, "two", 3);
	feeds(le, NULL, "\x0e");
	check_line(le, "pa", 2);
	feeds(le, NULL, "\x10x\r");
	CHECK(strcmp(lineedit_submitted(le, NULL), "twox") == 0);
	feeds(le, NULL, "\x1b[A");
	check_line(le, "twox", 4);
	lineedit_free(le);
}

static void test_ctrl_c_and_eof(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};

	feeds(le, &run, "half typed\x03");
	CHECK_INT_EQ(run.num_actions, 1);
	CHECK_INT_EQ(run.actions[0], LINEEDIT_INTERRUPT);
	check_line(le, "", 0);
	feeds(le, &run, "x\x04");
	CHECK_INT_EQ(run.num_actions, 1);
	feeds(le, &run, "\x7f\x04");
	CHECK_INT_EQ(run.num_actions, 2);
	CHECK_INT_EQ(run.actions[1], LINEEDIT_EOF);
	lineedit_free(le);
}

static void test_long_paste_bounded(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};
	size_t n = LINEEDIT_MAX_LINE + 5000, len;
	char *big = malloc(n + 16);

	if (big == NULL) {
		CHECK(0);
		return;
	}
	memset(big, 'x', n);
	memcpy(big + n, "\r", 2);
	feed(le, &run, big, n + 1);
	CHECK_INT_EQ(run.num_actions, 1);
	(void)lineedit_submitted(le, &len);
	CHECK_INT_EQ(len, LINEEDIT_MAX_LINE);
	lineedit_output_clear(le);

	/* A bracketed paste: its line breaks are spaces, its ^C and arrows do nothing. */
	feeds(le, &run, "\x1b[200~line one\r\nline two\x03\x1b[A\x04\x1b[201~!");
	CHECK_INT_EQ(run.num_actions, 1);
	check_line(le, "line one  line two!", 19);
	lineedit_output_clear(le);
	feed(le, &run, big, n);
	CHECK(output_has(le, "\a", 1));
	(void)lineedit_line(le, &len);
	CHECK_INT_EQ(len, LINEEDIT_MAX_LINE);
	free(big);
	lineedit_free(le);
}

/* last_row extracts the text between the last "\r" + prompt and "\x1b[K". */
static size_t last_row_width(struct lineedit *le)
{
	size_t len, end = 0, start = 0;
	const uint8_t *o = lineedit_output(le, &len);

	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(o + i, "\x1b[K", 3) == 0) {
			end = i;
		}
	}
	for (size_t i = 0; i < end; i++) {
		if (o[i] == '\r') {
			start = i + 1;
		}
	}
	return term_width((const char *)o + start, end - start);
}

static void test_scrolls_sideways(void)
{
	struct lineedit *le = make(20);
	char cjk[3 * 30 + 1];

	for (int i = 0; i < 30; i++) {
		memcpy(cjk + 3 * i, "\xe4\xb8\xad", 3);
	}
	cjk[90] = '\0';
	feeds(le, NULL, cjk);
	CHECK(last_row_width(le) <= 19);
	/* The cursor is at the end, inside the row. */
	CHECK(output_ends_with(le, "\x1b[K\r\x1b[18C") || output_ends_with(le, "\x1b[K\r\x1b[19C"));
	lineedit_output_clear(le);
	feeds(le, NULL, "\x01");
	CHECK(last_row_width(le) <= 19);
	CHECK(output_ends_with(le, "\x1b[K\r\x1b[2C"));
	lineedit_output_clear(le);
	lineedit_set_cols(le, 200);
	CHECK_OK(lineedit_redraw(le));
	CHECK_INT_EQ(last_row_width(le), 2 + 60);
	lineedit_free(le);
}

static void test_print_above(void)
{
	struct lineedit *le = make(80);
	size_t len;
	const uint8_t *o;
	const char *msg = "alice 10:02 hi \x1b[31mred\x1b]0;title\x07 \xe2\x80\xae"
	                  "abc\nline2";

	feeds(le, NULL, "partial\x1b[D\x1b[D");
	lineedit_output_clear(le);
	CHECK_OK(lineedit_print_above(le, msg, strlen(msg)));
	o = lineedit_output(le, &len);
	/* Clear the row, the text made harmless, a line break, the row again. */
	CHECK(len > 4 && memcmp(o, "\r\x1b[K", 4) == 0);
	CHECK(output_has(le,
	                 "hi \\x1b[31mred\\x1b]0;title\\x07 \xef\xbf\xbd"
	                 "abc\r\nline2\r\n",
	                 strlen("hi \\x1b[31mred\\x1b]0;title\\x07 \xef\xbf\xbd"
	                        "abc\r\nline2\r\n")));
	CHECK(!output_has(le, "\x1b[31m", 5));
	CHECK(!output_has(le, "\x07", 1));
	CHECK(output_ends_with(le, "\r> partial\x1b[K\r\x1b[7C"));
	/* Exactly our own three escape sequences: clear, erase, cursor move. */
	{
		size_t esc = 0;
		for (size_t i = 0; i < len; i++) {
			esc += o[i] == 0x1b;
		}
		CHECK_INT_EQ(esc, 3);
	}
	check_line(le, "partial", 5);
	lineedit_output_clear(le);
	CHECK_RC(lineedit_print_above(le, "x", LINEEDIT_MAX_ABOVE + 1), HALQA_ERR_TOO_LARGE);
	CHECK_OK(lineedit_finish(le));
	CHECK(output_ends_with(le, "\r\x1b[K"));
	lineedit_free(le);
}

static void test_bidi_line(void)
{
	struct lineedit *le = make(80);
	struct run run = {0};
	/* Hebrew "shalom", a space, Latin, then Arabic: kept in logical order. */
	const char *mixed =
	    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d abc \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7";

	feeds(le, &run, mixed);
	feeds(le, &run, "\r");
	CHECK(strcmp(run.submitted[0], mixed) == 0);
	lineedit_free(le);
}

static void test_hostile_prompt(void)
{
	struct lineedit *le = NULL;
	char long_prompt[LINEEDIT_MAX_PROMPT + 2];

	CHECK_OK(lineedit_new(&le, "\x1b[2J#circle> ", 80));
	CHECK_OK(lineedit_redraw(le));
	CHECK(!output_has(le, "\x1b[2J", 4));
	lineedit_free(le);
	memset(long_prompt, 'p', sizeof long_prompt - 1);
	long_prompt[sizeof long_prompt - 1] = '\0';
	le = NULL;
	CHECK_RC(lineedit_new(&le, long_prompt, 80), HALQA_ERR_TOO_LARGE);
	CHECK(le == NULL);
	lineedit_free(NULL);
}

int main(void)
{
	RUN(test_type_and_submit);
	RUN(test_feed_stops_at_action);
	RUN(test_crlf_is_one_submit);
	RUN(test_arrows_home_end);
	RUN(test_kill_keys);
	RUN(test_utf8_editing);
	RUN(test_wide_cursor_column);
	RUN(test_split_code_point);
	RUN(test_invalid_utf8_dropped);
	RUN(test_escape_sequences_swallowed);
	RUN(test_history);
	RUN(test_ctrl_c_and_eof);
	RUN(test_long_paste_bounded);
	RUN(test_scrolls_sideways);
	RUN(test_print_above);
	RUN(test_bidi_line);
	RUN(test_hostile_prompt);
	return harness_report();
}
