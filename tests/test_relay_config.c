/*
 * test_relay_config.c: the relay's settings, key file and address line:
 * defaults, a written default file that reads back identically, refusal of
 * bad values and unknown keys (the running config kept), durations and
 * sizes, the key file's exclusivity and permissions.
 */
#include "halqa/relay_config.h"

#include <sodium.h>
#include <zmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];

static void path_in(char *out, size_t len, const char *name)
{
	CHECK_OK(relay_config_path(out, len, tmp, name));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_durations_and_sizes(void)
{
	uint64_t v;

	CHECK_OK(relay_config_parse_duration("90", &v));
	CHECK_INT_EQ(v, 90);
	CHECK_OK(relay_config_parse_duration("15m", &v));
	CHECK_INT_EQ(v, 900);
	CHECK_OK(relay_config_parse_duration("12h", &v));
	CHECK_INT_EQ(v, 43200);
	CHECK_OK(relay_config_parse_duration("30d", &v));
	CHECK_INT_EQ(v, 30 * 86400);
	CHECK_OK(relay_config_parse_duration("2w", &v));
	CHECK_INT_EQ(v, 14 * 86400);
	CHECK_RC(relay_config_parse_duration("", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_duration("-1", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_duration("5x", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_duration("5dd", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_duration("99999999999999999999w", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_duration("30500000000000000w", &v), HALQA_ERR_ARG);
	CHECK_OK(relay_config_parse_size("64k", &v));
	CHECK_INT_EQ(v, 65536);
	CHECK_OK(relay_config_parse_size("8M", &v));
	CHECK_INT_EQ(v, 8 << 20);
	CHECK_RC(relay_config_parse_size("8MB", &v), HALQA_ERR_ARG);
	CHECK_RC(relay_config_parse_size(" 8", &v), HALQA_ERR_ARG);
}

static void test_default_file_round_trip(void)
{
	struct relay_config a, b;
	char path[512];

	path_in(path, sizeof path, "rt.conf");
	relay_config_defaults(&a);
	CHECK_OK(relay_config_write_default(&a, path));
	CHECK_RC(relay_config_write_default(&a, path), HALQA_ERR_EXISTS);
	relay_config_defaults(&b);
	b.limits.max_fetch = 7; /* must be overwritten by the file */
	CHECK_OK(relay_config_load(&b, path));
	CHECK(memcmp(&a, &b, sizeof a) == 0);
	unlink(path);
}

static void test_values_applied(void)
{
	struct relay_config c;
	char path[512];

	path_in(path, sizeof path, "v.conf");
	write_file(path, "[relay]\nlisten = tcp://0.0.0.0:9000\nmode = open\nlog_level = debug\n"
			 "[limits]\nrequests_per_second = 2.5\nmax_fetch = 10\nqueue_bytes = 2M\n"
			 "[retention]\nmax_age = 2d\nsweep_interval = 1s\n");
	relay_config_defaults(&c);
	CHECK_OK(relay_config_load(&c, path));
	CHECK(strcmp(c.listen, "tcp://0.0.0.0:9000") == 0);
	/* Without a "public" line the address line follows the listen line. */
	CHECK(strcmp(c.public_endpoint, "tcp://0.0.0.0:9000") == 0);
	CHECK_INT_EQ(c.mode, RELAY_MODE_OPEN);
	CHECK_INT_EQ(c.log_level, HALQA_LOG_DEBUG);
	CHECK(c.limits.requests_per_sec == 2.5);
	CHECK_INT_EQ(c.limits.max_fetch, 10);
	CHECK_INT_EQ(c.limits.queue_bytes, 2 << 20);
	CHECK_INT_EQ(c.retention.max_age_sec, 2 * 86400);
	CHECK_INT_EQ(c.retention.sweep_interval_ms, 1000);
	unlink(path);
}

static void test_bad_files_keep_config(void)
{
	static const char *const bad[] = {
		"[limits]\nmax_fetch = 0\n",
		"[limits]\nmax_fetch = 100000\n",
		"[limits]\nrequests_per_second = -1\n",
		"[limits]\nrequests_per_second = nan\n",
		"[limits]\nno_such_limit = 1\n",
		"[nosuchsection]\nx = 1\n",
		"[relay]\nmode = maybe\n",
		"[relay]\nlisten = tcp://a#b\n",
		"[relay]\nlog_level = loud\n",
		"[retention]\nmax_age = 0\n",
		"[limits]\nmax_frame = 8192\nmax_payload = 8000\n",
		"[limits]\nbytes_burst = 1000\n",
		"this is not ini\n",
	};
	struct relay_config c, orig;
	char path[512];

	path_in(path, sizeof path, "bad.conf");
	relay_config_defaults(&orig);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unlink(path);
		write_file(path, bad[i]);
		c = orig;
		CHECK_RC(relay_config_load(&c, path), HALQA_ERR_INVALID);
		CHECK(memcmp(&c, &orig, sizeof c) == 0);
	}
	unlink(path);
	CHECK_RC(relay_config_load(&c, path), HALQA_ERR_NOT_FOUND);
}

static void test_keys(void)
{
	uint8_t pub[32], pub2[32], sec[32], zero[32] = {0};
	char path[512], line[256], hex[65];
	struct stat st;

	path_in(path, sizeof path, "server.key");
	CHECK_OK(relay_keys_create(path, pub));
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
	CHECK_RC(relay_keys_create(path, pub2), HALQA_ERR_EXISTS);
	CHECK_OK(relay_keys_load(path, sec, pub2));
	CHECK_MEM_EQ(pub2, 32, pub, 32);
	CHECK(memcmp(sec, zero, 32) != 0);
	sodium_memzero(sec, sizeof sec);

	/* A key others may read is refused, as ssh refuses host keys. */
	CHECK(chmod(path, 0640) == 0);
	CHECK_RC(relay_keys_load(path, sec, pub2), HALQA_ERR_DENIED);
	CHECK_MEM_EQ(sec, 32, zero, 32);
	CHECK(chmod(path, 0600) == 0);

	CHECK_OK(relay_keys_address_line(line, sizeof line, "tcp://relay.example:7400", pub));
	sodium_bin2hex(hex, sizeof hex, pub, 32); /* lowercase, the one accepted spelling */
	CHECK(strncmp(line, "halqa-relay:tcp://relay.example:7400#", 37) == 0);
	CHECK(strcmp(line + 37, hex) == 0);
	CHECK_RC(relay_keys_address_line(line, sizeof line, "tcp://a#b", pub), HALQA_ERR_ARG);
	CHECK_RC(relay_keys_address_line(line, 20, "tcp://relay.example:7400", pub),
		 HALQA_ERR_TOO_LARGE);
	unlink(path);

	path_in(path, sizeof path, "short.key");
	write_file(path, "short");
	CHECK(chmod(path, 0600) == 0);
	CHECK_RC(relay_keys_load(path, sec, pub2), HALQA_ERR_INVALID);
	unlink(path);
	CHECK_RC(relay_keys_load(path, sec, pub2), HALQA_ERR_NOT_FOUND);
}

/* The operator's spellings of a device key: hex as in the address line, or Z85. */
static void test_device_key_parse(void)
{
	uint8_t key[32], got[32], zero[32] = {0};
	char hex[65], upper[65], z85[41], text[80];

	randombytes_buf(key, sizeof key);
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	CHECK(zmq_z85_encode(z85, key, sizeof key) != NULL);
	for (size_t i = 0; i < 65; i++) {
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
	}

	CHECK_OK(relay_keys_parse_device(hex, got));
	CHECK_MEM_EQ(got, 32, key, 32);
	CHECK_OK(relay_keys_parse_device(upper, got));
	CHECK_MEM_EQ(got, 32, key, 32);
	CHECK_OK(relay_keys_parse_device(z85, got));
	CHECK_MEM_EQ(got, 32, key, 32);

	/* Wrong lengths, either side of each accepted one. */
	memcpy(text, hex, 63);
	text[63] = '\0';
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	CHECK_MEM_EQ(got, 32, zero, 32);
	snprintf(text, sizeof text, "%s0", hex);
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	snprintf(text, sizeof text, "%s ", hex);
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	memcpy(text, z85, 39);
	text[39] = '\0';
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	snprintf(text, sizeof text, "%sA", z85);
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	CHECK_RC(relay_keys_parse_device("", got), HALQA_ERR_MALFORMED);

	/* A non-hex digit anywhere in 64 characters, e.g. the last. */
	memcpy(text, hex, 65);
	text[63] = 'g';
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	CHECK_MEM_EQ(got, 32, zero, 32);
	text[63] = hex[63];
	text[0] = ':';
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	/* 40 characters outside Z85's alphabet. */
	memcpy(text, z85, 41);
	text[20] = '~';
	CHECK_RC(relay_keys_parse_device(text, got), HALQA_ERR_MALFORMED);
	CHECK_MEM_EQ(got, 32, zero, 32);
}

static void test_default_dir(void)
{
	char out[512];

	setenv("HALQAD_DATA", "/srv/relay", 1);
	CHECK_OK(relay_config_default_dir(out, sizeof out));
	CHECK(strcmp(out, "/srv/relay") == 0);
	CHECK_RC(relay_config_default_dir(out, 5), HALQA_ERR_TOO_LARGE);
	unsetenv("HALQAD_DATA");
	CHECK_OK(relay_config_default_dir(out, sizeof out));
	CHECK(geteuid() == 0 ? strcmp(out, "/var/lib/halqad") == 0
			     : strstr(out, "/halqad") != NULL);
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/halqa-test-config-XXXXXX");
	if (sodium_init() < 0 || mkdtemp(tmp) == NULL) {
		return 1;
	}
	RUN(test_durations_and_sizes);
	RUN(test_default_file_round_trip);
	RUN(test_values_applied);
	RUN(test_bad_files_keep_config);
	RUN(test_keys);
	RUN(test_device_key_parse);
	RUN(test_default_dir);
	rmdir(tmp);
	return harness_report();
}
