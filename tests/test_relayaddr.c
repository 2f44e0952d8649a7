/*
 * test_relayaddr.c: the relay address line and the SOCKS proxy address.
 * A line as halqad prints it round-trips byte for byte (checked against
 * libzmq's own Z85 encoder); every structural violation is refused with
 * its code and leaves the output untouched; host, port and key edges.
 */
#include "halqa/relayaddr.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"

static void line_for(char *out, size_t out_len, const char *endpoint, const uint8_t key[32])
{
	char z85[41];

	CHECK(zmq_z85_encode(z85, key, 32) != NULL);
	snprintf(out, out_len, "halqa-relay:%s#%s", endpoint, z85);
}

static void test_roundtrip_random_keys(void)
{
	char line[RELAYADDR_MAX_LINE], again[RELAYADDR_MAX_LINE], ep[RELAYADDR_MAX_ENDPOINT + 1];
	uint8_t key[32];
	struct relayaddr a;
	int i;

	for (i = 0; i < 200; i++) {
		randombytes_buf(key, sizeof key);
		if (i == 0) {
			memset(key, 0xff, sizeof key); /* the largest Z85 group, "%nSc0" */
		} else if (i == 1) {
			memset(key, 0, sizeof key);
		}
		line_for(line, sizeof line, "tcp://relay.example.org:7400", key);
		CHECK_OK(relayaddr_parse(&a, line));
		CHECK_MEM_EQ(a.server_key, 32, key, 32);
		CHECK(strcmp(a.relay.host, "relay.example.org") == 0);
		CHECK_INT_EQ(a.relay.port, 7400);
		CHECK_OK(relayaddr_format(again, sizeof again, &a));
		CHECK(strcmp(line, again) == 0);
		CHECK_OK(relayaddr_endpoint(ep, sizeof ep, &a));
		CHECK(strcmp(ep, "tcp://relay.example.org:7400") == 0);
	}
}

static void test_documented_example(void)
{
	/* The example line of docs/OPERATOR.md: the key holds '#' and '&'. */
	const char *line = "halqa-relay:tcp://relay.example.org:7400#tJ&^OQEWcLS@8Pk&C(sJi=)wxbQy-cGxxD.d}9AN";
	char again[RELAYADDR_MAX_LINE];
	uint8_t want[32];
	struct relayaddr a;

	CHECK(zmq_z85_decode(want, "tJ&^OQEWcLS@8Pk&C(sJi=)wxbQy-cGxxD.d}9AN") != NULL);
	CHECK_OK(relayaddr_parse(&a, line));
	CHECK_MEM_EQ(a.server_key, 32, want, 32);
	CHECK_OK(relayaddr_format(again, sizeof again, &a));
	CHECK(strcmp(again, line) == 0);
}

static void test_key_with_hash(void)
{
	/* A key whose Z85 text contains '#': the line splits at the first '#'. */
	char line[RELAYADDR_MAX_LINE], z85[41];
	uint8_t key[32];
	struct relayaddr a;
	int tries;

	for (tries = 0; tries < 10000; tries++) {
		randombytes_buf(key, sizeof key);
		CHECK(zmq_z85_encode(z85, key, 32) != NULL);
		if (strchr(z85, '#') != NULL) {
			break;
		}
	}
	CHECK(strchr(z85, '#') != NULL);
	line_for(line, sizeof line, "tcp://127.0.0.1:1", key);
	CHECK_OK(relayaddr_parse(&a, line));
	CHECK_MEM_EQ(a.server_key, 32, key, 32);
	CHECK_INT_EQ(a.relay.port, 1);
}

static void test_hosts(void)
{
	static const char *good[] = {
		"127.0.0.1", "localhost", "a", "x-y.example", "abcdefghijklmnop234567.onion",
		"[::1]", "[2001:db8::7]", "[::ffff:192.0.2.1]", "A.B.C",
	};
	static const char *bad[] = {
		"", "-a.example", "a-.example", "a..b", ".a", "a.", "a_b", "a b", "*", "a/b",
		"[]", "[::1", "::1", "[1.2.3.4]", "[::g]", "a\tb", "caf\xc3\xa9.example", "a@b",
	};
	char line[RELAYADDR_MAX_LINE], ep[256];
	uint8_t key[32];
	struct relayaddr a;
	size_t i;

	randombytes_buf(key, sizeof key);
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(ep, sizeof ep, "tcp://%s:9000", good[i]);
		line_for(line, sizeof line, ep, key);
		CHECK_OK(relayaddr_parse(&a, line));
		CHECK(strcmp(a.relay.host, good[i]) == 0);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(ep, sizeof ep, "tcp://%s:9000", bad[i]);
		line_for(line, sizeof line, ep, key);
		CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	}
	/* A 64-character label is one too many. */
	snprintf(ep, sizeof ep, "tcp://%s.example:9000",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	line_for(line, sizeof line, ep, key);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
}

static void test_ports(void)
{
	static const char *good[] = {"1", "80", "65535", "7400"};
	static const unsigned good_v[] = {1, 80, 65535, 7400};
	static const char *bad[] = {"", "0", "07400", "65536", "99999", "123456", "-1", "+80", "8a", "80 "};
	char line[RELAYADDR_MAX_LINE], ep[256];
	uint8_t key[32];
	struct relayaddr a;
	size_t i;

	randombytes_buf(key, sizeof key);
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(ep, sizeof ep, "tcp://h:%s", good[i]);
		line_for(line, sizeof line, ep, key);
		CHECK_OK(relayaddr_parse(&a, line));
		CHECK_INT_EQ(a.relay.port, good_v[i]);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(ep, sizeof ep, "tcp://h:%s", bad[i]);
		line_for(line, sizeof line, ep, key);
		CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	}
	snprintf(line, sizeof line, "halqa-relay:tcp://h#0000000000000000000000000000000000000000");
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
}

static void test_structure(void)
{
	const char *z = "0000000000000000000000000000000000000000";
	char line[RELAYADDR_MAX_LINE * 2];
	struct relayaddr a, before;
	size_t i;

	memset(&a, 0x5a, sizeof a);
	before = a;
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%s", z);
	CHECK_OK(relayaddr_parse(&a, line));
	a = before;

	snprintf(line, sizeof line, "halqa-relay:ipc:///tmp/x#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_UNSUPPORTED);
	snprintf(line, sizeof line, "halqa-relay:inproc://x#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_UNSUPPORTED);
	snprintf(line, sizeof line, "halqa-relay:TCP://h:1#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_UNSUPPORTED);
	snprintf(line, sizeof line, "halqa-relay:h:1#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1%s", z); /* no '#' */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "Halqa-relay:tcp://h:1#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, " halqa-relay:tcp://h:1#%s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%s\n", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%s0", z); /* 41 key chars */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.39s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.35s~0000", z); /* not Z85 */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.35s%%nSc1", z); /* 2^32 */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.35s%%nSc0", z); /* 2^32 - 1 */
	CHECK_OK(relayaddr_parse(&a, line));
	a = before;
	CHECK_RC(relayaddr_parse(&a, "halqa-relay:"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse(&a, ""), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse(NULL, line), HALQA_ERR_ARG);
	CHECK_RC(relayaddr_parse(&a, NULL), HALQA_ERR_ARG);

	/* Length bounds: the longest endpoint passes, one more is too large. */
	strcpy(line, "halqa-relay:tcp://");
	for (i = 0; i < RELAYADDR_MAX_HOST; i++) {
		strcat(line, (i % 60 == 59) ? "." : "a");
	}
	strcat(line, ":65535#");
	strcat(line, z);
	CHECK_INT_EQ(strlen(line), RELAYADDR_MAX_LINE - 1);
	CHECK_OK(relayaddr_parse(&a, line));
	CHECK_INT_EQ(strlen(a.relay.host), RELAYADDR_MAX_HOST);
	snprintf(line, sizeof line, "halqa-relay:tcp://%s:65535#%s", a.relay.host, z);
	memmove(line + 19, line + 18, strlen(line + 18) + 1);
	line[18] = 'b';
	a = before;
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_TOO_LARGE);
	CHECK(memcmp(&a, &before, sizeof a) == 0);
	memset(line, 'a', sizeof line - 1);
	line[sizeof line - 1] = '\0';
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_TOO_LARGE);
	CHECK(memcmp(&a, &before, sizeof a) == 0);
}

static void test_format_refuses_bad_struct(void)
{
	char out[RELAYADDR_MAX_LINE];
	struct relayaddr a;

	memset(&a, 0, sizeof a);
	strcpy(a.relay.host, "ok.example");
	a.relay.port = 1;
	CHECK_OK(relayaddr_format(out, sizeof out, &a));
	CHECK_RC(relayaddr_format(out, 20, &a), HALQA_ERR_TOO_LARGE);
	a.relay.port = 0;
	CHECK_RC(relayaddr_format(out, sizeof out, &a), HALQA_ERR_INVALID);
	a.relay.port = 1;
	strcpy(a.relay.host, "bad host");
	CHECK_RC(relayaddr_format(out, sizeof out, &a), HALQA_ERR_INVALID);
	memset(a.relay.host, 'a', sizeof a.relay.host); /* no NUL inside */
	CHECK_RC(relayaddr_format(out, sizeof out, &a), HALQA_ERR_INVALID);
}

static void test_proxy(void)
{
	struct relayaddr_hostport p, before;
	char out[RELAYADDR_MAX_PROXY];

	CHECK_OK(relayaddr_parse_proxy(&p, "127.0.0.1:9050"));
	CHECK(strcmp(p.host, "127.0.0.1") == 0);
	CHECK_INT_EQ(p.port, 9050);
	CHECK_OK(relayaddr_format_proxy(out, sizeof out, &p));
	CHECK(strcmp(out, "127.0.0.1:9050") == 0);
	CHECK_OK(relayaddr_parse_proxy(&p, "[::1]:9050"));
	CHECK(strcmp(p.host, "[::1]") == 0);
	CHECK_OK(relayaddr_parse_proxy(&p, "tor.local:1"));
	before = p;
	CHECK_RC(relayaddr_parse_proxy(&p, "127.0.0.1"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, "socks5://127.0.0.1:9050"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, "127.0.0.1:0"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, "127.0.0.1:65536"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, ":9050"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, "user@host:9050"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, "::1:9050"), HALQA_ERR_MALFORMED);
	CHECK_RC(relayaddr_parse_proxy(&p, ""), HALQA_ERR_MALFORMED);
	CHECK(memcmp(&p, &before, sizeof p) == 0);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_roundtrip_random_keys);
	RUN(test_documented_example);
	RUN(test_key_with_hash);
	RUN(test_hosts);
	RUN(test_ports);
	RUN(test_structure);
	RUN(test_format_refuses_bad_struct);
	RUN(test_proxy);
	return harness_report();
}
