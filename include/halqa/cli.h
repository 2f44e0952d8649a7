/*
 * cli.h: the halqa command line.
 *
 *     halqa [--home DIR] [--passphrase-file F] COMMAND [ARGS...]
 *
 * cli_main parses the global options, runs one command and returns the
 * process exit status: 0 on success, 1 on failure (one line on stderr
 * saying why), 2 on a usage error. Later commands (circles, messages,
 * chat) plug into its command table.
 */
#ifndef HALQA_CLI_H
#define HALQA_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "halqa/err.h"

int cli_main(int argc, char **argv);

/*
 * cli_json_string writes |s| to |f| as a JSON string literal (quotes
 * included): '"' and '\\' escaped, controls as \u00XX, bytes that are not
 * strict UTF-8 as U+FFFD, so the output is always valid JSON.
 */
void cli_json_string(FILE *f, const char *s);

#endif
