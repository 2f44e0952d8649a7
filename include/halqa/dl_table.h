/*
 * dl_table.h: a library loaded with dlopen into a table of functions.
 *
 * ical_lib and zmq_lib load libraries halqa does not link. Each lists the
 * functions it calls once (an X-macro) and gets them here in that order:
 * every name looked up, so a library without one of them fails at load,
 * with the reason in words.
 */
#ifndef HALQA_DL_TABLE_H
#define HALQA_DL_TABLE_H

#include <stddef.h>

#include "halqa/err.h"

/*
 * dl_table_load dlopens |soname| with |flags| and sets syms[i] to the
 * address of names[i], for each of the |num| names. On failure it closes
 * what it opened, writes why into |why| (|why_len| bytes, NUL-terminated:
 * dlerror's text, or which function is missing) and returns
 * HALQA_ERR_UNSUPPORTED; syms is then all NULL. The library is never
 * closed after a success.
 */
HALQA_MUST_CHECK int dl_table_load(const char *soname, int flags, const char *const *names,
				   void **syms, size_t num, char *why, size_t why_len);

#endif
