/*
 * cli.h: the halqa command line.
 *
 *     halqa [--home DIR] [--passphrase-file F] COMMAND [ARGS...]
 *
 * cli_main parses the global options, runs one command and returns the
 * process exit status: 0 on success, 1 on failure (one line on stderr
 * saying why), 2 on a usage error. Commands live in client/cli.c (profile,
 * relay, contacts) and in client/cli_*.c files of their own (circles,
 * messages, chat, sessions), which plug into cli.c's command table and
 * share the helpers below.
 */
#ifndef HALQA_CLI_H
#define HALQA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "halqa/err.h"
#include "halqa/identity.h"
#include "halqa/profile.h"
#include "halqa/store.h"

int cli_main(int argc, char **argv);

/*
 * The state one command runs with: the global options, and once
 * cli_open_profile succeeded, the open store, the identity and the
 * profile's name. cli_main frees |store| and |id| after the command.
 */
struct cli_ctx {
	const char *home;     /* --home, or NULL */
	const char *passfile; /* --passphrase-file, or NULL */
	char dir[PROFILE_MAX_PATH];
	struct store *store;
	struct identity *id;
	char name[STORE_MAX_NAME + 1];
};

/* A command's entry point: |argv| holds the arguments after the command's words. */
typedef int (*cli_run_fn)(struct cli_ctx *c, int argc, char **argv);

/*
 * cli_open_profile resolves the profile directory, reads the passphrase,
 * opens the store and loads the identity into |c|. Returns 0, or 1 after
 * printing one line on stderr saying why (wrong passphrase, damaged
 * store...): the command then returns that 1 as its exit status.
 */
int cli_open_profile(struct cli_ctx *c);

/* cli_fail prints "halqa: " and the message as one line on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cli_usage prints the running command's usage line on stderr; returns 2. */
int cli_usage(void);

/*
 * cli_put_text prints |s| through term_sanitize: control characters,
 * escape sequences and bidi overrides become visible and harmless, so it
 * is how anything another person wrote reaches the terminal.
 */
void cli_put_text(FILE *f, const char *s);

/* cli_has_flag returns 1 if one of the |argc| arguments is exactly |flag|. */
int cli_has_flag(int argc, char **argv, const char *flag);

/* cli_now_ms returns the wall clock in Unix milliseconds. */
int64_t cli_now_ms(void);

/*
 * cli_json_string writes |s| to |f| as a JSON string literal (quotes
 * included): '"' and '\\' escaped, controls as \u00XX, bytes that are not
 * strict UTF-8 as U+FFFD, so the output is always valid JSON.
 */
void cli_json_string(FILE *f, const char *s);

#endif
