/*
 * test_relayaddr.c: the relay address line and the SOCKS proxy address.
 * A line as halqad prints it round-trips byte for byte (checked against
 * libsodium's own hex encoder); the key is 64 lowercase hex digits and
 * nothing else (upper case, a second '#', 63 or 65 digits are refused);
 * a formatted line holds only characters a shell takes literally; every
 * structural violation is refused with its code and leaves the output
 * untouched; host, port and key edges.
 */
#include "halqa/relayaddr.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define HEX_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static void line_for(char *out, size_t out_len, const char *endpoint, const uint8_t key[32])
{
	char hex[65];
	int n;

	sodium_bin2hex(hex, sizeof hex, key, 32);
	n = snprintf(out, out_len, "halqa-relay:%s#%s", endpoint, hex);
	CHECK(n > 0 && (size_t)n < out_len);
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
			memset(key, 0xff, sizeof key);
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
	/* The example line of docs/OPERATOR.md and docs/USER.md. */
	const char *line = "halqa-relay:tcp://relay.example.org:7400#"
			   "5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b617133";
	static const uint8_t want[32] = {
		0x5b, 0xe8, 0xbe, 0x2f, 0xa3, 0x48, 0x32, 0x11, 0xaa, 0xfb, 0xf9,
		0x1e, 0xe1, 0x71, 0xb7, 0x22, 0x3a, 0x74, 0x39, 0x39, 0x24, 0x24,
		0xd0, 0x48, 0x83, 0xe6, 0xb2, 0x21, 0x2b, 0x61, 0x71, 0x33,
	};
	char again[RELAYADDR_MAX_LINE];
	struct relayaddr a;

	CHECK_OK(relayaddr_parse(&a, line));
	CHECK_MEM_EQ(a.server_key, 32, want, 32);
	CHECK_OK(relayaddr_format(again, sizeof again, &a));
	CHECK(strcmp(again, line) == 0);
}

static void test_shell_safe(void)
{
	/*
	 * Every character of a line with a DNS or IPv4 host is one a POSIX
	 * shell takes literally inside a word, so an unquoted paste is one
	 * argument, unchanged: no glob, quote, expansion or separator.
	 */
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   ".-:/#";
	char line[RELAYADDR_MAX_LINE], again[RELAYADDR_MAX_LINE];
	uint8_t key[32];
	struct relayaddr a;
	size_t i;
	int round;

	for (round = 0; round < 100; round++) {
		randombytes_buf(key, sizeof key);
		line_for(line, sizeof line,
			 round % 2 ? "tcp://relay.example.org:7400" : "tcp://10.0.0.1:1", key);
		CHECK_OK(relayaddr_parse(&a, line));
		CHECK_OK(relayaddr_format(again, sizeof again, &a));
		for (i = 0; again[i] != '\0'; i++) {
			CHECK(memchr(safe, again[i], sizeof safe - 1) != NULL);
		}
		/* '#' opens a comment only at the start of a word; here it never is. */
		CHECK(strchr(again, '#') > again && strchr(again, '#')[-1] != ' ');
	}
}

static void test_key_spelling(void)
{
	/* One canonical spelling: lowercase only, exactly 64 digits, one '#'. */
	static const char *bad_keys[] = {
		"5BE8BE2FA3483211AAFBF91EE171B7223A7439392424D04883E6B2212B617133",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b61713A",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b61713g",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b61713",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b6171330",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b6171#3",
		"#5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b61713",
		"5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b61713 ",
		"5be8be2fa3483211 aafbf91ee171b7223a7439392424d04883e6b2212b61713",
		"0x5be8be2fa3483211aafbf91ee171b7223a7439392424d04883e6b2212b6171",
		"tJ&^OQEWcLS@8Pk&C(sJi=)wxbQy-cGxxD.d}9AN", /* the old Z85 form */
		"",
	};
	char line[RELAYADDR_MAX_LINE * 2];
	struct relayaddr a, before;
	size_t i;

	memset(&a, 0x5a, sizeof a);
	before = a;
	for (i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
		snprintf(line, sizeof line, "halqa-relay:tcp://127.0.0.1:1#%s", bad_keys[i]);
		CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
		CHECK(memcmp(&a, &before, sizeof a) == 0);
	}
	snprintf(line, sizeof line, "halqa-relay:tcp://127.0.0.1:1#%s", HEX_ZERO);
	CHECK_OK(relayaddr_parse(&a, line));
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
	snprintf(line, sizeof line, "halqa-relay:tcp://h#%s", HEX_ZERO);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
}

static void test_structure(void)
{
	const char *z = HEX_ZERO;
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
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%s0", z); /* 65 key chars */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.63s", z);
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.60s~000", z); /* not hex */
	CHECK_RC(relayaddr_parse(&a, line), HALQA_ERR_MALFORMED);
	snprintf(line, sizeof line, "halqa-relay:tcp://h:1#%.60sffff", z);
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
	RUN(test_shell_safe);
	RUN(test_key_spelling);
	RUN(test_hosts);
	RUN(test_ports);
	RUN(test_structure);
	RUN(test_format_refuses_bad_struct);
	RUN(test_proxy);
	return harness_report();
}
