/*
 * spool_schema.h: private to the spool (daemon/spool*.c). The migrations,
 * spool_migrations[v] taking a database from user_version v to v + 1.
 */
#ifndef HALQA_DAEMON_SPOOL_SCHEMA_H
#define HALQA_DAEMON_SPOOL_SCHEMA_H

#include "halqa/spool.h"

extern const char *const spool_migrations[SPOOL_SCHEMA_VERSION];

#endif
