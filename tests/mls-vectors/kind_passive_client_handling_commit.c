/*
 * kind_passive_client_handling_commit.c: the upstream passive-client-handling-commit scenarios,
 * run by the general join-and-follow path of
 * kind_passive_client_welcome.c (same JSON format).
 */
#include "vectors.h"

void passive_client_run(struct vector_ctx *ctx, json_t *entry);

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	passive_client_run(ctx, entry);
}

const struct vector_kind vector_kind_passive_client_handling_commit = {"passive-client-handling-commit", run_entry};
