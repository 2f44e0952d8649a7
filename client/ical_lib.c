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

#include "halqa/log.h"

static struct ical_lib g_lib;
static enum { UNTRIED, LOADED, FAILED } g_state = UNTRIED;

static int load(void)
{
	const char *v = getenv("HALQA_TEST_NO_ICAL");
	const char *missing = NULL;
	void *h, *sym;

	if (v != NULL && strcmp(v, "1") == 0) {
		halqa_log(HALQA_LOG_ERROR, "ical", "cannot load %s: disabled by HALQA_TEST_NO_ICAL",
		          ICAL_LIB_SONAME);
		return HALQA_ERR_UNSUPPORTED;
	}
	if ((h = dlopen(ICAL_LIB_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();

		halqa_log(HALQA_LOG_ERROR, "ical", "cannot load %s (needed for session dates): %s",
		          ICAL_LIB_SONAME, why != NULL ? why : "unknown reason");
		return HALQA_ERR_UNSUPPORTED;
	}
#define ICAL_LIB_RESOLVE(name)                                                                     \
	if (missing == NULL) {                                                                     \
		if ((sym = dlsym(h, #name)) == NULL) {                                             \
			missing = #name;                                                           \
		} else {                                                                           \
			memcpy(&g_lib.name, &sym, sizeof sym);                                     \
		}                                                                                  \
	}
	ICAL_LIB_FUNCS(ICAL_LIB_RESOLVE)
#undef ICAL_LIB_RESOLVE
	if (missing != NULL) {
		halqa_log(HALQA_LOG_ERROR, "ical", "cannot load %s: it has no %s", ICAL_LIB_SONAME,
		          missing);
		memset(&g_lib, 0, sizeof g_lib);
		dlclose(h);
		return HALQA_ERR_UNSUPPORTED;
	}
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
