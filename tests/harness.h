/*
 * harness.h: the small unit-test harness every tests/test_<module>.c uses.
 *
 * A test file defines static void functions and a main() that RUNs each one
 * and returns harness_report(). A failed check prints file, line, the
 * expression and both values, marks the current test failed, and carries
 * on, so one run shows every broken check. ctest treats a non-zero exit as
 * failure.
 */
#ifndef HALQA_TESTS_HARNESS_H
#define HALQA_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "halqa/err.h"

extern int harness_current_failed;

void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void harness_run(const char *name, void (*fn)(void));
int harness_report(void);

/* harness_hex decodes |hex| into a malloc'd buffer (caller frees); aborts on bad hex. */
uint8_t *harness_hex(const char *hex, size_t *out_len);

/* harness_check_mem compares two byte strings and reports the first difference. */
int harness_check_mem(const char *file, int line, const char *what, const uint8_t *got,
		      size_t got_len, const uint8_t *want, size_t want_len);

#define RUN(fn) harness_run(#fn, fn)

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			harness_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);   \
		}                                                                      \
	} while (0)

#define CHECK_INT_EQ(got, want)                                                        \
	do {                                                                           \
		long long got_ = (long long)(got), want_ = (long long)(want);          \
		if (got_ != want_) {                                                   \
			harness_fail(__FILE__, __LINE__, "%s == %lld, want %s == %lld", \
				     #got, got_, #want, want_);                        \
		}                                                                      \
	} while (0)

/* CHECK_RC: an expression returning a halqa error code must return |want|. */
#define CHECK_RC(expr, want)                                                           \
	do {                                                                           \
		int rc_ = (expr), want_ = (want);                                      \
		if (rc_ != want_) {                                                    \
			harness_fail(__FILE__, __LINE__, "%s returned %s, want %s",     \
				     #expr, halqa_errname(rc_), halqa_errname(want_)); \
		}                                                                      \
	} while (0)

#define CHECK_OK(expr) CHECK_RC(expr, HALQA_OK)

#define CHECK_MEM_EQ(got, got_len, want, want_len)                                     \
	harness_check_mem(__FILE__, __LINE__, #got, (got), (got_len), (want), (want_len))

#endif
