/*
 * test_term.c: sanitising hostile text (escape sequences that would clear
 * the screen, set the title, write the clipboard or open links; C1 CSI;
 * bidi overrides; invalid UTF-8), keeping honest text intact (Arabic,
 * Hebrew, mixed direction, combining marks, newlines when allowed), display
 * widths, wrapping for the terminal (no received row at the left edge),
 * and the NO_COLOR rule.
 */
#include "halqa/term.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/utf8.h"
#include "harness.h"

static void expect(const char *in, unsigned flags, const char *want)
{
	char *out = NULL;
	size_t out_len = 0;

	CHECK_OK(term_sanitize(&out, &out_len, in, strlen(in), flags));
	if (out == NULL) {
		return;
	}
	if (strcmp(out, want) != 0) {
		harness_fail(__FILE__, __LINE__, "sanitize(\"%s\") gave \"%s\", want \"%s\"", in,
			     out, want);
	}
	CHECK_INT_EQ(out_len, strlen(want));
	CHECK(utf8_valid((const uint8_t *)out, out_len));
	free(out);
}

static void test_intact(void)
{
	expect("hello", 0, "hello");
	expect("مرحبا بكم في الحلقة", 0, "مرحبا بكم في الحلقة");
	expect("שלום עולם", 0, "שלום עולם");
	expect("meeting at 5 في المكتب (שלום) ok", 0, "meeting at 5 في المكتب (שלום) ok");
	expect("e\xcc\x81 \xd9\x85\xd9\x8e", 0, "e\xcc\x81 \xd9\x85\xd9\x8e");
	expect("\xe2\x80\x8f" "rlm \xe2\x80\x8e" "lrm \xd8\x9c" "alm", 0,
	       "\xe2\x80\x8f" "rlm \xe2\x80\x8e" "lrm \xd8\x9c" "alm");
	expect("漢字 \xf0\x9f\x98\x80", 0, "漢字 \xf0\x9f\x98\x80");
	expect("two\nlines", TERM_NEWLINES, "two\nlines");
}

static void test_hostile(void)
{
	expect("\x1b[2J\x1b[H", 0, "\\x1b[2J\\x1b[H");
	expect("\x1b]0;title\x07", 0, "\\x1b]0;title\\x07");
	expect("\x1b]52;c;aGk=\x1b\\", 0, "\\x1b]52;c;aGk=\\x1b\\");
	expect("\x1b]8;;http://x\x1b\\link", 0, "\\x1b]8;;http://x\\x1b\\link");
	expect("a\xc2\x9b" "31mb", 0, "a\\x9b31mb");
	expect("\xc2\x85\xc2\x9d", 0, "\\x85\\x9d");
	expect("del\x7f", 0, "del\\x7f");
	expect("cr\roverwrite", 0, "cr\\x0doverwrite");
	expect("tab\there", 0, "tab\\x09here");
	expect("no\nbreak", 0, "no\\x0abreak");
	expect("a\xe2\x80\xae" "cod.exe", 0, "a\xef\xbf\xbd" "cod.exe");
	expect("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", 0,
	       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect("\xe2\x81\xa6x\xe2\x81\xa9", 0, "\xef\xbf\xbdx\xef\xbf\xbd");
	expect("\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd");
	expect("\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect("cut\xe2\x82", 0, "cut\xef\xbf\xbd\xef\xbf\xbd");
	/* An ESC hidden in the middle of a broken multibyte sequence. */
	expect("\xe2\x1b[2J", 0, "\xef\xbf\xbd\\x1b[2J");
}

static void test_nul_inside(void)
{
	char *out = NULL;
	size_t out_len = 0;

	CHECK_OK(term_sanitize(&out, &out_len, "a\0b", 3, 0));
	CHECK(out != NULL && strcmp(out, "a\\x00b") == 0 && out_len == 6);
	free(out);
	CHECK_OK(term_sanitize(&out, &out_len, "", 0, 0));
	CHECK(out != NULL && out_len == 0);
	free(out);
}

static void test_widths(void)
{
	CHECK_INT_EQ(term_width("hello", 5), 5);
	CHECK_INT_EQ(term_width("漢字", strlen("漢字")), 4);
	CHECK_INT_EQ(term_width("e\xcc\x81", 3), 1);
	CHECK_INT_EQ(term_width("مرحبا", strlen("مرحبا")), 5);
	CHECK_INT_EQ(term_width("مَ", strlen("مَ")), 1);
	CHECK_INT_EQ(term_width("שָׁלוֹם", strlen("שָׁלוֹם")), 4);
	CHECK_INT_EQ(term_width("\xf0\x9f\x98\x80", 4), 2);
	CHECK_INT_EQ(term_width("ｈｉ", strlen("ｈｉ")), 4);
	CHECK_INT_EQ(term_width("한국", strlen("한국")), 4);
	CHECK_INT_EQ(term_width("a\xe2\x80\x8b" "b", 5), 2);
	CHECK_INT_EQ(term_width("\xff", 1), 1);
	CHECK_INT_EQ(term_cp_width(0x301), 0);
	CHECK_INT_EQ(term_cp_width(0x4e00), 2);
	CHECK_INT_EQ(term_cp_width('A'), 1);
}

static void expect_wrap(const char *in, unsigned cols, unsigned indent, const char *want)
{
	char *out = NULL;
	size_t out_len = 0;

	CHECK_OK(term_wrap(&out, &out_len, in, strlen(in), cols, indent));
	if (out == NULL) {
		return;
	}
	if (strcmp(out, want) != 0) {
		harness_fail(__FILE__, __LINE__, "wrap(\"%s\", %u, %u) gave \"%s\", want \"%s\"", in,
			     cols, indent, out, want);
	}
	CHECK_INT_EQ(out_len, strlen(want));
	free(out);
}

/* check_rows checks that no row of |s| is wider than |cols| and every later row is indented. */
static void check_rows(const char *s, unsigned cols, unsigned indent)
{
	const char *row = s;

	for (int first = 1;; first = 0) {
		size_t len = strcspn(row, "\n");
		CHECK(term_width(row, len) <= cols);
		if (!first) {
			CHECK(len >= indent && strspn(row, " ") >= indent);
		}
		if (row[len] == '\0') {
			break;
		}
		row += len + 1;
	}
}

static void test_wrap(void)
{
	char padded[200], *out = NULL;
	size_t out_len = 0;

	expect_wrap("short", 80, 4, "short");
	expect_wrap("", 80, 4, "");
	/* The text's own line breaks are indented; no width limit with 0 columns. */
	expect_wrap("a\nb\n", 0, 4, "a\n    b\n    ");
	expect_wrap("abcdefghij", 4, 0, "abcd\nefgh\nij");
	expect_wrap("abcdefghij", 6, 2, "abcdef\n  ghij");
	/* A wide character that does not fit goes to the next row whole. */
	expect_wrap("abc漢字", 4, 0, "abc\n漢字");
	/* A combining mark stays with its base at the edge. */
	expect_wrap("abce\xcc\x81x", 4, 0, "abce\xcc\x81\nx");
	/* Controls are made visible first, and measured as what is shown. */
	expect_wrap("\x1b[2J", 4, 0, "\\x1b\n[2J");
	/* Too narrow for the indent: no indent. */
	expect_wrap("abcdef", 3, 4, "abc\ndef");
	CHECK_RC(term_wrap(&out, &out_len, "x", 1, 80, TERM_MAX_INDENT + 1), HALQA_ERR_ARG);
	CHECK(out == NULL);

	/*
	 * The spoof this stops: a body padded to the terminal's width so that
	 * the terminal's own wrap starts "12:00 bob: ..." at the left edge.
	 */
	memset(padded, ' ', sizeof padded);
	memcpy(padded, "12:00 eve: hi", 13);
	memcpy(padded + 80, "12:01 bob: send me the file", 27);
	padded[80 + 27] = '\0';
	CHECK_OK(term_wrap(&out, &out_len, padded, strlen(padded), 80, 4));
	if (out != NULL) {
		CHECK(strstr(out, "\n12:01 bob") == NULL);
		CHECK(strstr(out, "\n    12:01 bob") != NULL);
		check_rows(out, 80, 4);
		free(out);
	}
	/* Arabic, CJK and emoji across several widths keep every row within bounds. */
	for (unsigned cols = 6; cols <= 40; cols += 7) {
		const char *mixed = "مرحبا بكم 漢字漢字 \xf0\x9f\x98\x80 e\xcc\x81 line\nnext שלום";
		CHECK_OK(term_wrap(&out, &out_len, mixed, strlen(mixed), cols, 4));
		if (out != NULL) {
			check_rows(out, cols, 4);
			free(out);
		}
	}
}

static void test_color(void)
{
	setenv("NO_COLOR", "1", 1);
	CHECK(!term_color(1));
	setenv("NO_COLOR", "", 1);
	/* ctest's output is a pipe, never a terminal. */
	CHECK_INT_EQ(term_color(-1), 0);
	unsetenv("NO_COLOR");
}

int main(void)
{
	RUN(test_intact);
	RUN(test_hostile);
	RUN(test_nul_inside);
	RUN(test_widths);
	RUN(test_wrap);
	RUN(test_color);
	return harness_report();
}
