/*
 * harness.c: bookkeeping and reporting for harness.h. Output ends with the
 * plain "N passed, M failed" line so any reader of test logs can count.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int harness_current_failed;
static int tests_passed;
static int tests_failed;

void harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	harness_current_failed = 1;
}

void harness_run(const char *name, void (*fn)(void))
{
	harness_current_failed = 0;
	fn();
	if (harness_current_failed) {
		tests_failed++;
		printf("FAIL %s\n", name);
	} else {
		tests_passed++;
		printf("ok   %s\n", name);
	}
	fflush(stdout);
}

int harness_report(void)
{
	printf("%d passed, %d failed\n", tests_passed, tests_failed);
	return tests_failed == 0 && tests_passed > 0 ? 0 : 1;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

uint8_t *harness_hex(const char *hex, size_t *out_len)
{
	size_t n = strlen(hex);
	uint8_t *out;

	if (n % 2 != 0) {
		fprintf(stderr, "harness_hex: odd length\n");
		abort();
	}
	out = malloc(n / 2 + 1);
	if (out == NULL) {
		abort();
	}
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "harness_hex: bad digit\n");
			abort();
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = n / 2;
	return out;
}

int harness_check_mem(const char *file, int line, const char *what, const uint8_t *got,
		      size_t got_len, const uint8_t *want, size_t want_len)
{
	size_t i;

	if (got_len == want_len && (got_len == 0 || memcmp(got, want, got_len) == 0)) {
		return 1;
	}
	for (i = 0; i < got_len && i < want_len && got[i] == want[i]; i++) {
	}
	harness_fail(file, line, "%s: %zu bytes, want %zu; first difference at byte %zu", what,
		     got_len, want_len, i);
	return 0;
}
