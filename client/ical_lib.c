/*
 * ical_lib.c: dlopen of libical on first use (see ical_lib.h for why).
 *
 * RTLD_NOW resolves all of libical's own symbols at load, so a broken
 * installation fails here, with one clear line, rather than in the middle
 * of an export. RTLD_LOCAL keeps libical's symbols out of the global
 * namespace: only this table reaches them. Each symbol goes from dlsym's
 * void * to its function pointer through memcpy, the conversion POSIX
 * guarantees and ISO C does not spell.
 */
#include "halqa/ical_lib.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/dl_table.h"
#include "halqa/log.h"

static struct ical_lib g_lib;
static enum { UNTRIED, LOADED, FAILED } g_state = UNTRIED;

static int load(void)
{
	static const char *const names[] = {
#define ICAL_LIB_NAME(name) #name,
		ICAL_LIB_FUNCS(ICAL_LIB_NAME)
#undef ICAL_LIB_NAME
	};
	void *syms[sizeof names / sizeof names[0]];
	const char *v = getenv("HALQA_TEST_NO_ICAL");
	char why[256];
	size_t i = 0;

	if (v != NULL && strcmp(v, "1") == 0) {
		halqa_log(HALQA_LOG_ERROR, "ical", "cannot load %s: disabled by HALQA_TEST_NO_ICAL",
		          ICAL_LIB_SONAME);
		return HALQA_ERR_UNSUPPORTED;
	}
	if (dl_table_load(ICAL_LIB_SONAME, RTLD_NOW | RTLD_LOCAL, names, syms,
			  sizeof names / sizeof names[0], why, sizeof why) != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "ical", "cannot load %s (needed for session dates): %s",
		          ICAL_LIB_SONAME, why);
		return HALQA_ERR_UNSUPPORTED;
	}
#define ICAL_LIB_SET(name) memcpy(&g_lib.name, &syms[i++], sizeof syms[0]);
	ICAL_LIB_FUNCS(ICAL_LIB_SET)
#undef ICAL_LIB_SET
	return HALQA_OK;
}

int ical_lib_get(const struct ical_lib **out)
{
	_Static_assert(sizeof(void *) == sizeof(g_lib.icaltime_null_time),
	               "function pointers are as wide as object pointers (POSIX)");

	*out = NULL;
	if (g_state == UNTRIED) {
		g_state = load() == HALQA_OK ? LOADED : FAILED;
	}
	if (g_state != LOADED) {
		return HALQA_ERR_UNSUPPORTED;
	}
	*out = &g_lib;
	return HALQA_OK;
}
