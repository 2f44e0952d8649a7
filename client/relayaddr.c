/*
 * relayaddr.c: the relay address line and the SOCKS proxy address.
 *
 * Both arrive as text a user pasted or a peer sent, so parsing is a strict
 * whitelist over a bounded span: the prefix, "tcp://" (ZeroMQ's other
 * transports make no sense for a remote relay, and ipc:// would let a line
 * point the client at a local socket), a host that is a DNS name (labels of
 * letters, digits and inner hyphens, which also covers IPv4 and .onion
 * names) or a bracketed IPv6 literal, a canonical decimal port, and a key
 * of 64 lowercase hex digits. The key is decoded here digit by digit rather
 * than by sodium_hex2bin, which accepts upper case too (and, with an ignore
 * set, separators): one canonical spelling per key makes formatting the
 * exact inverse of parsing, so two spellings of one relay never compare
 * unequal as strings. Nothing here is secret: the key
 * is the relay's public key.
 */
#include "halqa/relayaddr.h"

#include <stdio.h>
#include <string.h>

/* The value of a lowercase hex digit, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Decodes exactly RELAYADDR_HEX_LEN lowercase hex digits of |text| into 32 bytes. */
static int hex_decode_key(uint8_t out[RELAYADDR_KEY_LEN], const char *text)
{
	uint8_t key[RELAYADDR_KEY_LEN];
	size_t i;

	for (i = 0; i < RELAYADDR_KEY_LEN; i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			return HALQA_ERR_MALFORMED;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, key, sizeof key);
	return HALQA_OK;
}

static void hex_encode_key(char out[RELAYADDR_HEX_LEN + 1], const uint8_t key[RELAYADDR_KEY_LEN])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < RELAYADDR_KEY_LEN; i++) {
		out[2 * i] = digits[key[i] >> 4];
		out[2 * i + 1] = digits[key[i] & 0x0f];
	}
	out[RELAYADDR_HEX_LEN] = '\0';
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9');
}

/* A DNS name: labels of 1..63 letters, digits, inner hyphens, joined by single dots. */
static int dns_name_valid(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-') {
				return 0;
			}
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0) {
				return 0;
			}
		} else if (!is_alnum(c)) {
			return 0;
		}
		if (++label > 63) {
			return 0;
		}
	}
	return label != 0 && s[len - 1] != '-';
}

/* "[...]" with hex digits, ':' (at least two) and '.' (an embedded IPv4) inside. */
static int ipv6_literal_valid(const char *s, size_t len)
{
	size_t i, colons = 0;

	if (len < 4 || len > 2 + 45 || s[0] != '[' || s[len - 1] != ']') {
		return 0;
	}
	for (i = 1; i + 1 < len; i++) {
		if (s[i] == ':') {
			colons++;
		} else if (s[i] != '.' && !is_hex(s[i])) {
			return 0;
		}
	}
	return colons >= 2;
}

static int host_valid(const char *s, size_t len)
{
	if (len > RELAYADDR_MAX_HOST) {
		return 0;
	}
	return len > 0 && s[0] == '[' ? ipv6_literal_valid(s, len) : dns_name_valid(s, len);
}

/* A canonical decimal port: 1..5 digits, no leading zero, 1..65535. */
static int port_parse(const char *s, size_t len, uint16_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 5 || s[0] == '0') {
		return HALQA_ERR_MALFORMED;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return HALQA_ERR_MALFORMED;
		}
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535) {
		return HALQA_ERR_MALFORMED;
	}
	*out = (uint16_t)v;
	return HALQA_OK;
}

/* Parses the |len| bytes at |s| as "HOST:PORT" into |*out| (unchanged on failure). */
static int hostport_parse(struct relayaddr_hostport *out, const char *s, size_t len)
{
	struct relayaddr_hostport hp;
	size_t colon;
	int rc;

	memset(&hp, 0, sizeof hp);
	if (len > RELAYADDR_MAX_HOST + 6) {
		return HALQA_ERR_TOO_LARGE;
	}
	/* The port follows the last ':'; an IPv6 literal's colons sit inside its brackets. */
	for (colon = len; colon > 0 && s[colon - 1] != ':'; colon--) {
	}
	if (colon == 0) {
		return HALQA_ERR_MALFORMED;
	}
	colon--;
	if (colon > RELAYADDR_MAX_HOST) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (!host_valid(s, colon)) {
		return HALQA_ERR_MALFORMED;
	}
	if ((rc = port_parse(s + colon + 1, len - colon - 1, &hp.port)) != HALQA_OK) {
		return rc;
	}
	memcpy(hp.host, s, colon);
	hp.host[colon] = '\0';
	*out = hp;
	return HALQA_OK;
}

/* Bounded strlen: |max| + 1 if the string is longer than |max|. */
static size_t bounded_len(const char *s, size_t max)
{
	size_t n = 0;

	while (n <= max && s[n] != '\0') {
		n++;
	}
	return n;
}

int relayaddr_parse(struct relayaddr *out, const char *line)
{
	static const char prefix[] = RELAYADDR_PREFIX;
	static const char scheme[] = "tcp://";
	struct relayaddr a;
	const char *ep, *hash;
	size_t len, ep_len;
	int rc;

	if (out == NULL || line == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(&a, 0, sizeof a);
	len = bounded_len(line, RELAYADDR_MAX_LINE - 1);
	if (len > RELAYADDR_MAX_LINE - 1) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (len < sizeof prefix - 1 || memcmp(line, prefix, sizeof prefix - 1) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	ep = line + sizeof prefix - 1;
	hash = memchr(ep, '#', len - (size_t)(ep - line));
	if (hash == NULL) {
		return HALQA_ERR_MALFORMED;
	}
	ep_len = (size_t)(hash - ep);
	if (ep_len > RELAYADDR_MAX_ENDPOINT) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (ep_len < sizeof scheme - 1 || memcmp(ep, scheme, sizeof scheme - 1) != 0) {
		/* Another ZeroMQ transport ("ipc://", "inproc://") is refused as such. */
		const char *sep = memchr(ep, ':', ep_len);

		return sep != NULL && (size_t)(ep + ep_len - sep) >= 3 && sep[1] == '/' &&
				       sep[2] == '/'
			       ? HALQA_ERR_UNSUPPORTED
			       : HALQA_ERR_MALFORMED;
	}
	rc = hostport_parse(&a.relay, ep + sizeof scheme - 1, ep_len - (sizeof scheme - 1));
	if (rc != HALQA_OK) {
		return rc;
	}
	if (len - (size_t)(hash + 1 - line) != RELAYADDR_HEX_LEN) {
		return HALQA_ERR_MALFORMED;
	}
	if ((rc = hex_decode_key(a.server_key, hash + 1)) != HALQA_OK) {
		return rc;
	}
	*out = a;
	return HALQA_OK;
}

static int hostport_check(const struct relayaddr_hostport *p)
{
	size_t n = bounded_len(p->host, RELAYADDR_MAX_HOST);

	return n <= RELAYADDR_MAX_HOST && host_valid(p->host, n) && p->port != 0 ? HALQA_OK
										 : HALQA_ERR_INVALID;
}

int relayaddr_endpoint(char *out, size_t out_len, const struct relayaddr *a)
{
	int n, rc;

	if (out == NULL || a == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = hostport_check(&a->relay)) != HALQA_OK) {
		return rc;
	}
	n = snprintf(out, out_len, "tcp://%s:%u", a->relay.host, (unsigned)a->relay.port);
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int relayaddr_format(char *out, size_t out_len, const struct relayaddr *a)
{
	char ep[RELAYADDR_MAX_ENDPOINT + 1], hex[RELAYADDR_HEX_LEN + 1];
	int n, rc;

	if (out == NULL || a == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = relayaddr_endpoint(ep, sizeof ep, a)) != HALQA_OK) {
		return rc == HALQA_ERR_TOO_LARGE ? HALQA_ERR_INVALID : rc;
	}
	hex_encode_key(hex, a->server_key);
	n = snprintf(out, out_len, "%s%s#%s", RELAYADDR_PREFIX, ep, hex);
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int relayaddr_parse_proxy(struct relayaddr_hostport *out, const char *text)
{
	size_t len;

	if (out == NULL || text == NULL) {
		return HALQA_ERR_ARG;
	}
	len = bounded_len(text, RELAYADDR_MAX_PROXY - 1);
	if (len > RELAYADDR_MAX_PROXY - 1) {
		return HALQA_ERR_TOO_LARGE;
	}
	return hostport_parse(out, text, len);
}

int relayaddr_format_proxy(char *out, size_t out_len, const struct relayaddr_hostport *p)
{
	int n, rc;

	if (out == NULL || p == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = hostport_check(p)) != HALQA_OK) {
		return rc;
	}
	n = snprintf(out, out_len, "%s:%u", p->host, (unsigned)p->port);
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}
