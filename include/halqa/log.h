/*
 * log.h: one line per event, to stderr, with a level.
 *
 * Halqa's logs are read by relay operators and, after a seizure, perhaps by
 * others. So what goes in is chosen with care: never message bodies, keys,
 * capabilities, passphrases, or which device touched which circle. Print a
 * short fingerprint (halqa_log_fp) when an object must be named. Lines are
 * "LEVEL component: message", newline-terminated, with control characters
 * replaced, so a hostile string cannot forge a log line.
 */
#ifndef HALQA_LOG_H
#define HALQA_LOG_H

#include <stddef.h>
#include <stdint.h>

enum halqa_log_level {
	HALQA_LOG_ERROR = 0,
	HALQA_LOG_WARN = 1,
	HALQA_LOG_INFO = 2,
	HALQA_LOG_DEBUG = 3,
};

/* halqa_log_set_level sets the most verbose level that is printed (default INFO). */
void halqa_log_set_level(enum halqa_log_level level);

/*
 * halqa_log_parse_level maps "error", "warn", "info" or "debug" to a level.
 * Returns 0 on success, HALQA_ERR_ARG for anything else.
 */
int halqa_log_parse_level(const char *name, enum halqa_log_level *out);

/* halqa_log_enabled says whether |level| would be printed. */
int halqa_log_enabled(enum halqa_log_level level);

/* halqa_log prints one line "LEVEL component: message" if |level| is enabled. */
void halqa_log(enum halqa_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * halqa_log_fp writes into |out| a short, non-reversible fingerprint of
 * |data| (8 hex digits of a keyed hash whose key is random per process), so
 * logs can tell objects apart within one run without revealing or linking
 * them across runs. |out| receives a NUL-terminated string.
 */
void halqa_log_fp(char out[9], const uint8_t *data, size_t len);

#endif
