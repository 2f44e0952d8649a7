/*
 * cli_runner.h: running the real `halqa` binary ($HALQA_BIN_DIR/halqa) from
 * tests, as a user would, each profile in its own directory under one temp
 * root, so tests run in parallel without sharing anything.
 *
 * A run passes the passphrase in HALQA_PASSPHRASE (never a terminal: the
 * child has none, so a prompt fails instead of hanging), feeds |input| on
 * standard input (or /dev/null), and captures stdout and stderr whole
 * (up to CLI_RUNNER_MAX_OUTPUT each) for the test to inspect.
 */
#ifndef HALQA_TESTS_CLI_RUNNER_H
#define HALQA_TESTS_CLI_RUNNER_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

#define CLI_RUNNER_MAX_OUTPUT (4u * 1024 * 1024)
#define CLI_RUNNER_MAX_ARGS   32
#define CLI_RUNNER_MAX_JOBS   8
#define CLI_RUNNER_MAX_ENV    8

struct cli_runner {
	char bin[512];  /* the halqa binary */
	char root[256]; /* temp directory for profiles and captured output */
	char *out;      /* the last run's stdout, NUL-terminated (length out_len) */
	char *err;      /* its stderr */
	size_t out_len, err_len;
	int status; /* its exit status (-1 if it died of a signal) */
	unsigned serial;
	/* Variables set (value NULL: unset) in every child, after the defaults. */
	struct {
		char name[64];
		char value[256];
		int unset;
	} env[CLI_RUNNER_MAX_ENV];
	size_t num_env;
};

/* A run started in the background (cli_runner_start), for concurrency tests. */
struct cli_job {
	pid_t pid;
	char out_path[320], err_path[320];
};

/*
 * cli_runner_init finds the binary and makes a temp root. Returns 0, or -1
 * after printing why (no HALQA_BIN_DIR, no binary).
 */
int cli_runner_init(struct cli_runner *r);

/* cli_runner_cleanup removes the temp root and frees the captured output. */
void cli_runner_cleanup(struct cli_runner *r);

/* cli_runner_home writes the profile directory for |name| (root/name) into |out|. */
void cli_runner_home(const struct cli_runner *r, const char *name, char *out, size_t out_len);

/*
 * cli_runner_run runs `halqa --home root/|who| ARGS...` (the NULL-terminated
 * arguments after |input|; |who| NULL: no --home) with HALQA_PASSPHRASE
 * |pass| (unset if NULL) and |input_len| bytes of |input| on stdin (NULL:
 * /dev/null). Returns the exit status, also kept in r->status, with the
 * output in r->out and r->err.
 */
int cli_runner_run(struct cli_runner *r, const char *who, const char *pass, const char *input,
                   size_t input_len, ...);

/* cli_runner_vrun is cli_runner_run with the arguments in |ap|. */
int cli_runner_vrun(struct cli_runner *r, const char *who, const char *pass, const char *input,
                    size_t input_len, va_list ap);

/*
 * cli_runner_setenv sets |name| to |value| (NULL: unsets it) in the
 * children of later runs, replacing an earlier setting of |name|. Returns
 * 0, or -1 when the table is full or a string too long.
 */
int cli_runner_setenv(struct cli_runner *r, const char *name, const char *value);

/*
 * CLI_EXPECT_OK(r, call) reports a failure, with |r|'s stderr, when
 * |call| (a run's exit status) is not 0. CLI_EXPECT_OUT(buf, want)
 * reports one when |buf| (an output, may be NULL) lacks |want|. Both
 * report the caller's file and line.
 */
#define CLI_EXPECT_OK(r, call)                                                                     \
	do {                                                                                       \
		int st_ = (call);                                                                  \
		if (st_ != 0) {                                                                    \
			harness_fail(__FILE__, __LINE__, "%s exited %d; stderr:\n%s", #call, st_,  \
			             (r)->err ? (r)->err : "");                                    \
		}                                                                                  \
	} while (0)
#define CLI_EXPECT_OUT(buf, want) cli_runner_expect_at(__FILE__, __LINE__, (buf), (want))
void cli_runner_expect_at(const char *file, int line, const char *buf, const char *want);

/*
 * cli_runner_run_env sets |name| to |value| as cli_runner_setenv does
 * (it stays for later runs), then runs halqa for profile |who| with its
 * passphrase "pw-<who>" and no input, the arguments NULL-terminated.
 * Returns the exit status, or -1 if the variable could not be set.
 */
int cli_runner_run_env(struct cli_runner *r, const char *name, const char *value, const char *who,
                       ...);

/* cli_runner_start starts the same in the background; cli_runner_finish waits and captures. */
int cli_runner_start(struct cli_runner *r, struct cli_job *job, const char *who, const char *pass,
                     ...);
int cli_runner_finish(struct cli_runner *r, struct cli_job *job);

/*
 * Steps for profiles under test; each reports failures through the
 * harness (with the halqa output) and returns 0 or -1. A profile |who|
 * has the passphrase "pw-<who>" and the test KDF profile.
 *
 * cli_runner_address writes the relay address line for |t| (its real
 * endpoint and key) into |out|. cli_runner_profile creates |who| with
 * display name |name|, sets the relay of |t| and registers with a fresh
 * invite. cli_runner_card copies |who|'s contact card into |out|.
 * cli_runner_introduce makes |a| and |b| contacts of each other, each
 * under the other's profile directory name.
 */
struct relay_test;
int cli_runner_address(char *out, size_t out_len, const struct relay_test *t);
int cli_runner_profile(struct cli_runner *r, struct relay_test *t, const char *who,
                       const char *name);
int cli_runner_card(struct cli_runner *r, const char *who, char *out, size_t out_len);
/* cli_runner_card_in copies the card from the last run's output (whoami --json) into |out|. */
int cli_runner_card_in(struct cli_runner *r, char *out, size_t out_len);
int cli_runner_introduce(struct cli_runner *r, const char *a, const char *b);

/* cli_runner_count returns how many times |needle| occurs in |hay|. */
size_t cli_runner_count(const char *hay, const char *needle);

#endif
