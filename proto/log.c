/*
 * log.c: the leveled stderr logger of log.h.
 *
 * Each line is formatted into a stack buffer and written with a single
 * fwrite, so lines from different threads do not interleave mid-line.
 * Control characters in the formatted text are replaced with '?': log
 * consumers (terminals, journald) must not be drivable by peer data.
 */
#include "halqa/log.h"

#include "halqa/err.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Set by the loop (a reload), read by the relay's commit and checkpoint threads too. */
static _Atomic int log_level = HALQA_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void halqa_log_set_level(enum halqa_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

int halqa_log_parse_level(const char *name, enum halqa_log_level *out)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (name != NULL && strcmp(name, level_names[i]) == 0) {
			*out = (enum halqa_log_level)i;
			return HALQA_OK;
		}
	}
	return HALQA_ERR_ARG;
}

int halqa_log_enabled(enum halqa_log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void halqa_log(enum halqa_log_level level, const char *component, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (!halqa_log_enabled(level)) {
		return;
	}
	n = snprintf(line, sizeof line, "%s %s: ", level_names[level], component);
	if (n < 0 || (size_t)n >= sizeof line) {
		return;
	}
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0) {
		return;
	}
	n = (size_t)(n + m) >= sizeof line - 1 ? (int)sizeof line - 2 : n + m;
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f) {
			line[i] = '?';
		}
	}
	line[n] = '\n';
	fwrite(line, 1, (size_t)n + 1, stderr);
}

void halqa_log_fp(char out[9], const uint8_t *data, size_t len)
{
	static unsigned char fp_key[crypto_generichash_KEYBYTES];
	static int have_key;
	unsigned char h[4];

	if (!have_key) {
		randombytes_buf(fp_key, sizeof fp_key);
		have_key = 1;
	}
	crypto_generichash(h, sizeof h, data, len, fp_key, sizeof fp_key);
	for (size_t i = 0; i < sizeof h; i++) {
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	}
}
