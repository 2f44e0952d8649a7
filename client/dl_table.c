/*
 * dl_table.c: a library loaded with dlopen into a table (dl_table.h).
 */
#include "halqa/dl_table.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int dl_table_load(const char *soname, int flags, const char *const *names, void **syms,
		  size_t num, char *why, size_t why_len)
{
	void *h;

	memset(syms, 0, num * sizeof *syms);
	if ((h = dlopen(soname, flags)) == NULL) {
		const char *err = dlerror();

		snprintf(why, why_len, "%s", err != NULL ? err : "unknown reason");
		return HALQA_ERR_UNSUPPORTED;
	}
	for (size_t i = 0; i < num; i++) {
		if ((syms[i] = dlsym(h, names[i])) == NULL) {
			snprintf(why, why_len, "it has no %s", names[i]);
			memset(syms, 0, num * sizeof *syms);
			dlclose(h);
			return HALQA_ERR_UNSUPPORTED;
		}
	}
	return HALQA_OK;
}
