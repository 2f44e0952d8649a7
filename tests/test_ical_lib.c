/*
 * test_ical_lib.c: libical is loaded only when a session date needs it.
 *
 * In this process (which, like halqa, does not link libical): nothing maps
 * libical until a well-formed zone is looked up; a malformed zone name is
 * refused without loading it; HALQA_TEST_NO_ICAL=1 makes the load fail as
 * if libical were not installed, and recur and ics then say
 * HALQA_ERR_UNSUPPORTED. Through the real binaries with a real relay and
 * libical unavailable: help, init, register, circle create and send work
 * and mention no libical, and a session command fails with the one line
 * naming the library; with libical available the same command works;
 * once a session is scheduled, send, read and sync still do not load it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/ics.h"
#include "halqa/recur.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

static struct cli_runner cr;
static struct relay_test relay;

/* ical_mapped says whether libical.so is mapped in this process (/proc/self/maps). */
static int ical_mapped(void)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (f == NULL) {
		harness_fail(__FILE__, __LINE__, "cannot read /proc/self/maps");
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "/libical.so") != NULL) {
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static void test_not_loaded_at_start(void)
{
	CHECK_INT_EQ(ical_mapped(), 0);
	/* A name outside the tz database's characters is refused before any load. */
	CHECK_RC(recur_zone_known("../../etc/passwd"), HALQA_ERR_INVALID);
	CHECK_RC(recur_zone_known(""), HALQA_ERR_INVALID);
	CHECK_INT_EQ(ical_mapped(), 0);
}

/* In a child (the load is tried once per process), with HALQA_TEST_NO_ICAL=1. */
static void test_unavailable(void)
{
	pid_t pid;
	int st = 0;

	fflush(stderr);
	if ((pid = fork()) == 0) {
		struct session_wall w = {{2030, 1, 7}, 18, 0};
		struct session_schedule s;
		struct ics_event ev;
		struct ics_options opts;
		char *text = NULL;
		size_t len = 0;
		int64_t t = 0;
		int bad = 0;

		setenv("HALQA_TEST_NO_ICAL", "1", 1);
		memset(&s, 0, sizeof s);
		memset(&ev, 0, sizeof ev);
		memset(&opts, 0, sizeof opts);
		ev.session = &s;
		opts.dtstamp_utc = 1894003200;
		bad |= recur_zone_known("Europe/Berlin") != HALQA_ERR_UNSUPPORTED;
		bad |= recur_resolve_local(&t, "Europe/Berlin", &w) != HALQA_ERR_UNSUPPORTED;
		bad |= ics_export(&text, &len, &ev, 1, &opts) != HALQA_ERR_UNSUPPORTED;
		bad |= text != NULL || ical_mapped() != 0;
		_exit(bad ? 1 : 0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_loaded_on_use(void)
{
	int64_t t = 0;
	struct session_wall w = {{2030, 1, 7}, 18, 0};

	CHECK_OK(recur_zone_known("Europe/Berlin"));
	CHECK_INT_EQ(ical_mapped(), 1);
	CHECK_OK(recur_resolve_local(&t, "Europe/Berlin", &w));
	CHECK_INT_EQ(t, 1894035600); /* 17:00 UTC: Berlin is UTC+1 in January */
}

#define NO_ICAL_LINE "cannot load libical.so.3"
#define SCHEDULE                                                                           \
	"session", "schedule", "c", "--title", "Check-in", "--at", "2030-01-07 18:00", "--tz", \
		"Europe/Berlin", "--duration", "60m"

/* RUN_AS runs halqa as |who| with HALQA_TEST_NO_ICAL set to |no_ical| (NULL: unset). */
#define RUN_AS(who, no_ical, ...) \
	cli_runner_run_env(&cr, "HALQA_TEST_NO_ICAL", no_ical, who, __VA_ARGS__)

static void test_cli(void)
{
	CHECK_INT_EQ(cli_runner_setenv(&cr, "HALQA_TEST_NO_ICAL", "1"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(RUN_AS("amira", "1", "help", NULL), 0);
	CHECK(strstr(cr.err, "libical") == NULL);
	CHECK_INT_EQ(RUN_AS("amira", "1", "circle", "create", "c", NULL), 0);
	CHECK_INT_EQ(RUN_AS("amira", "1", "send", "c", "hello without libical", NULL), 0);
	CHECK(strstr(cr.err, "libical") == NULL);
	CHECK_INT_EQ(RUN_AS("amira", "1", "read", "c", "--all", NULL), 0);
	CHECK(strstr(cr.out, "hello without libical") != NULL);
	CHECK(RUN_AS("amira", "1", SCHEDULE, NULL) != 0);
	if (strstr(cr.err, NO_ICAL_LINE) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr lacks \"%s\": %s", NO_ICAL_LINE, cr.err);
	}
	CHECK_INT_EQ(RUN_AS("amira", NULL, SCHEDULE, NULL), 0);
	/*
	 * A facilitator whose circle has a scheduled session: reading it back
	 * from the store computes no date, so send, read and sync still work
	 * without libical and never try to load it.
	 */
	CHECK_INT_EQ(RUN_AS("amira", "1", "send", "c", "hello with a session", NULL), 0);
	CHECK(strstr(cr.err, "libical") == NULL);
	CHECK_INT_EQ(RUN_AS("amira", "1", "read", "c", "--all", NULL), 0);
	CHECK(strstr(cr.out, "hello with a session") != NULL);
	CHECK(strstr(cr.err, "libical") == NULL);
	CHECK_INT_EQ(RUN_AS("amira", "1", "sync", NULL), 0);
	CHECK(strstr(cr.err, "libical") == NULL);
	/* Listing the sessions shows their dates: that loads it. */
	(void)RUN_AS("amira", "1", "sessions", "c", NULL);
	if (strstr(cr.err, NO_ICAL_LINE) == NULL) {
		harness_fail(__FILE__, __LINE__, "stderr lacks \"%s\": %s", NO_ICAL_LINE, cr.err);
	}
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_not_loaded_at_start);
	RUN(test_unavailable);
	RUN(test_loaded_on_use);
	if (cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_cli);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
