/*
 * test_cli_concurrent.c: two facilitators commit at once. Amira and Noor
 * (promoted to facilitator) each run `halqa circle add` at the same moment,
 * adding a different member. The relay accepts one commit for the epoch
 * and refuses the other as stale; the loser's client syncs, applies the
 * winner's commit and retries. Both commands succeed, and every member
 * ends with the same member list and can talk to every other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "halqa/bytes.h"
#include "halqa/engine.h"
#include "halqa/identity.h"
#include "halqa/profile.h"
#include "harness.h"
#include "support/cli_runner.h"
#include "support/relay_client.h"

static struct cli_runner cr;
static struct relay_test relay;

#define HALQA(who, ...) cli_runner_run(&cr, who, "pw-" who, NULL, 0, __VA_ARGS__, (char *)NULL)

#define EXPECT_OK(call) CLI_EXPECT_OK(&cr, call)

/*
 * promote makes |name| a facilitator of |circle| in |who|'s profile through
 * the engine directly (the command for it belongs to the sessions work).
 */
static void promote(const char *who, const char *circle, const char *name)
{
	char home[300], pass[80], pname[STORE_MAX_NAME + 1];
	struct store *s = NULL;
	struct identity *id = NULL;
	struct engine *e = NULL;
	struct engine_sync_report rep;
	struct bytes_reader rd;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	uv_loop_t loop;

	cli_runner_home(&cr, who, home, sizeof home);
	snprintf(pass, sizeof pass, "pw-%s", who);
	CHECK_OK(profile_open(&s, home, pass, strlen(pass)));
	if (s == NULL) {
		return;
	}
	CHECK_OK(store_identity_get(s, pname, &blob, &blob_len));
	bytes_reader_init(&rd, blob, blob_len);
	CHECK_OK(identity_decode(&rd, &id));
	store_secret_free(blob, blob_len);
	CHECK(uv_loop_init(&loop) == 0);
	if (id != NULL) {
		CHECK_OK(engine_new(&e, s, id, &loop));
	}
	if (e != NULL) {
		engine_set_timeout(e, 60000);
		CHECK_OK(engine_sync(e, &rep));
		CHECK(!rep.offline);
		CHECK_OK(engine_circle_set_facilitator(e, circle, name, true));
		engine_free(e);
	}
	(void)uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(uv_loop_close(&loop) == 0);
	identity_free(id);
	store_close(s);
}

/* sorted_fingerprints collects the "fingerprint" values of members --json, sorted. */
static void fingerprints(const char *who, char *out, size_t out_len)
{
	char pass[80], fps[8][64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(pass, sizeof pass, "pw-%s", who);
	if (cli_runner_run(&cr, who, pass, NULL, 0, "circle", "members", "Pair", "--json",
	                   (char *)NULL) != 0) {
		harness_fail(__FILE__, __LINE__, "members for %s: %s", who, cr.err);
		return;
	}
	for (p = cr.out; n < 8 && (p = strstr(p, "\"fingerprint\":\"")) != NULL; n++) {
		p += 15;
		snprintf(fps[n], sizeof fps[n], "%.35s", p);
	}
	qsort(fps, n, sizeof fps[0], (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; i < n; i++) {
		strncat(out, fps[i], out_len - strlen(out) - 1);
		strncat(out, ";", out_len - strlen(out) - 1);
	}
}

static void test_two_facilitators_commit_at_once(void)
{
	struct cli_job a, b;
	char fa[400], fn[400], fy[400], fl[400];

	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "amira", "Amira"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "noor", "Noor"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "yusuf", "Yusuf"), 0);
	CHECK_INT_EQ(cli_runner_profile(&cr, &relay, "lina", "Lina"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "noor"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "amira", "yusuf"), 0);
	CHECK_INT_EQ(cli_runner_introduce(&cr, "noor", "lina"), 0);
	EXPECT_OK(HALQA("amira", "circle", "create", "Pair"));
	EXPECT_OK(HALQA("amira", "circle", "add", "Pair", "noor"));
	promote("amira", "Pair", "noor");
	EXPECT_OK(HALQA("noor", "circle", "members", "Pair", "--json"));
	if (cli_runner_count(cr.out, "\"facilitator\":true") != 2) {
		harness_fail(__FILE__, __LINE__, "noor sees %zu facilitators; stdout:\n%s\nstderr:\n%s",
		             cli_runner_count(cr.out, "\"facilitator\":true"), cr.out, cr.err);
	}

	/* Both commit for the same epoch; one of them must retry. */
	CHECK_INT_EQ(cli_runner_start(&cr, &a, "amira", "pw-amira", "circle", "add", "Pair",
	                              "yusuf", (char *)NULL),
	             0);
	CHECK_INT_EQ(cli_runner_start(&cr, &b, "noor", "pw-noor", "circle", "add", "Pair", "lina",
	                              (char *)NULL),
	             0);
	EXPECT_OK(cli_runner_finish(&cr, &a));
	EXPECT_OK(cli_runner_finish(&cr, &b));

	fingerprints("amira", fa, sizeof fa);
	fingerprints("noor", fn, sizeof fn);
	fingerprints("yusuf", fy, sizeof fy);
	fingerprints("lina", fl, sizeof fl);
	CHECK_INT_EQ(cli_runner_count(fa, ";"), 4);
	CHECK(strcmp(fa, fn) == 0);
	CHECK(strcmp(fa, fy) == 0);
	CHECK(strcmp(fa, fl) == 0);

	/* The group did not fork: what Yusuf says reaches Lina, and back. */
	EXPECT_OK(HALQA("yusuf", "send", "Pair", "hello from Yusuf"));
	EXPECT_OK(HALQA("lina", "read", "Pair"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "hello from Yusuf"), 1);
	EXPECT_OK(HALQA("lina", "send", "Pair", "hello from Lina"));
	EXPECT_OK(HALQA("yusuf", "read", "Pair"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "hello from Lina"), 1);
	EXPECT_OK(HALQA("amira", "read", "Pair"));
	CHECK_INT_EQ(cli_runner_count(cr.out, "hello from"), 2);
}

int main(void)
{
	/* A loaded machine under the sanitizers is slow: never mistake it for offline. */
	setenv("HALQA_RELAY_TIMEOUT_MS", "60000", 1);
	if (sodium_init() < 0 || cli_runner_init(&cr) != 0) {
		return 1;
	}
	if (relay_test_start(&relay, NULL) != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		cli_runner_cleanup(&cr);
		return 1;
	}
	RUN(test_two_facilitators_commit_at_once);
	relay_test_stop(&relay);
	cli_runner_cleanup(&cr);
	return harness_report();
}
