/*
 * err.c: names and messages of the error codes in err.h, from one table so
 * that a new code cannot get a name without a message or vice versa.
 */
#include "halqa/err.h"

#include <stddef.h>

struct err_entry {
	const char *name;
	const char *message;
};

static const struct err_entry err_table[HALQA_ERR_COUNT] = {
	[0] = {"HALQA_OK", "success"},
	[-HALQA_ERR_NOMEM] = {"HALQA_ERR_NOMEM", "out of memory"},
	[-HALQA_ERR_TRUNCATED] = {"HALQA_ERR_TRUNCATED", "input is truncated"},
	[-HALQA_ERR_MALFORMED] = {"HALQA_ERR_MALFORMED", "input is malformed"},
	[-HALQA_ERR_TOO_LARGE] = {"HALQA_ERR_TOO_LARGE", "input exceeds a size limit"},
	[-HALQA_ERR_UNSUPPORTED] = {"HALQA_ERR_UNSUPPORTED", "unsupported version or type"},
	[-HALQA_ERR_CRYPTO] = {"HALQA_ERR_CRYPTO", "authentication failed"},
	[-HALQA_ERR_INVALID] = {"HALQA_ERR_INVALID", "input violates a protocol rule"},
	[-HALQA_ERR_NOT_FOUND] = {"HALQA_ERR_NOT_FOUND", "not found"},
	[-HALQA_ERR_EXISTS] = {"HALQA_ERR_EXISTS", "already exists"},
	[-HALQA_ERR_DENIED] = {"HALQA_ERR_DENIED", "permission denied"},
	[-HALQA_ERR_STALE] = {"HALQA_ERR_STALE", "state is stale; sync and retry"},
	[-HALQA_ERR_LIMIT] = {"HALQA_ERR_LIMIT", "quota or rate limit reached"},
	[-HALQA_ERR_IO] = {"HALQA_ERR_IO", "storage or file error"},
	[-HALQA_ERR_NETWORK] = {"HALQA_ERR_NETWORK", "network error or timeout"},
	[-HALQA_ERR_ARG] = {"HALQA_ERR_ARG", "invalid argument"},
	[-HALQA_ERR_INTERNAL] = {"HALQA_ERR_INTERNAL", "internal error"},
};

static const struct err_entry *err_lookup(int err)
{
	if (err > 0 || err <= -HALQA_ERR_COUNT) {
		return NULL;
	}
	return &err_table[-err];
}

const char *halqa_strerror(int err)
{
	const struct err_entry *e = err_lookup(err);
	return e != NULL ? e->message : "unknown error";
}

const char *halqa_errname(int err)
{
	const struct err_entry *e = err_lookup(err);
	return e != NULL ? e->name : "HALQA_ERR_UNKNOWN";
}
