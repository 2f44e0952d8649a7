/*
 * ical_lib.h: libical, loaded on first use.
 *
 * Only session dates (the session commands, a received schedule, and the
 * sessions of a circle read back from the store) and iCalendar export need
 * libical. Linking it would make every halqa process pay for it at start:
 * the dynamic loader maps and relocates libical and the ICU libraries it
 * brings, about 5 ms of CPU on every `halqa send`. So halqa does not link
 * it; recur.c and ics.c call it through the table below, which
 * ical_lib_get fills with dlopen(ICAL_LIB_SONAME) the first time it is
 * asked. libical's headers still give the types and the prototypes, so the
 * table's members are checked against them by the compiler.
 *
 * Like libical's own builtin timezone cache, the table is not thread-safe:
 * call from one thread (the client's main thread).
 */
#ifndef HALQA_ICAL_LIB_H
#define HALQA_ICAL_LIB_H

#include <libical/ical.h>

#include "halqa/err.h"

/* The soname of libical 3, as the package's dependency names it. */
#define ICAL_LIB_SONAME "libical.so.3"

/* ICAL_LIB_FUNCS(X) lists every libical function Halqa calls, once. */
#define ICAL_LIB_FUNCS(X)                                                                          \
	X(icalcomponent_add_component)                                                             \
	X(icalcomponent_add_property)                                                              \
	X(icalcomponent_as_ical_string_r)                                                          \
	X(icalcomponent_free)                                                                      \
	X(icalcomponent_get_first_component)                                                       \
	X(icalcomponent_get_first_property)                                                        \
	X(icalcomponent_get_next_component)                                                        \
	X(icalcomponent_new)                                                                       \
	X(icalcomponent_new_clone)                                                                 \
	X(icaldurationtype_from_int)                                                               \
	X(icalmemory_free_buffer)                                                                  \
	X(icalparameter_new_tzid)                                                                  \
	X(icalproperty_add_parameter)                                                              \
	X(icalproperty_get_tzid)                                                                   \
	X(icalproperty_new_action)                                                                 \
	X(icalproperty_new_calscale)                                                               \
	X(icalproperty_new_description)                                                            \
	X(icalproperty_new_dtstamp)                                                                \
	X(icalproperty_new_dtstart)                                                                \
	X(icalproperty_new_duration)                                                               \
	X(icalproperty_new_exdate)                                                                 \
	X(icalproperty_new_prodid)                                                                 \
	X(icalproperty_new_rrule)                                                                  \
	X(icalproperty_new_sequence)                                                               \
	X(icalproperty_new_status)                                                                 \
	X(icalproperty_new_summary)                                                                \
	X(icalproperty_new_trigger)                                                                \
	X(icalproperty_new_uid)                                                                    \
	X(icalproperty_new_version)                                                                \
	X(icalproperty_set_tzid)                                                                   \
	X(icalrecurrencetype_clear)                                                                \
	X(icaltime_from_timet_with_zone)                                                           \
	X(icaltime_null_time)                                                                      \
	X(icaltimezone_get_builtin_timezone)                                                       \
	X(icaltimezone_get_component)                                                              \
	X(icaltimezone_get_utc_offset_of_utc_time)                                                 \
	X(icaltimezone_get_utc_timezone)

/* struct ical_lib: one pointer per function, named and typed as libical's. */
struct ical_lib {
#define ICAL_LIB_MEMBER(name) __typeof__(name) *name;
	ICAL_LIB_FUNCS(ICAL_LIB_MEMBER)
#undef ICAL_LIB_MEMBER
};

/*
 * ical_lib_get sets |*out| to the loaded table, loading libical on the
 * first call. If it cannot be loaded (not installed, or a symbol missing),
 * it logs one error line naming the library and the reason, sets |*out| to
 * NULL and returns HALQA_ERR_UNSUPPORTED, now and on every later call
 * (without trying or logging again). The table lives as long as the
 * process; libical is never unloaded.
 *
 * For tests, the environment variable HALQA_TEST_NO_ICAL=1 makes the load
 * fail as if libical were not installed.
 */
HALQA_MUST_CHECK int ical_lib_get(const struct ical_lib **out);

#endif
