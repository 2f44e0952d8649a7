/*
 * relayaddr.h: the relay address line, as `halqad init` and `halqad address`
 * print it, and the optional SOCKS5 proxy address.
 *
 *     halqa-relay:tcp://HOST:PORT#<relay CURVE public key, 64 lowercase hex>
 *
 * The line arrives from a user's paste, a contact card or a config file,
 * so it is hostile text: the parser bounds its length, accepts only the
 * tcp transport, a host made of DNS-name characters (or a bracketed IPv6
 * literal), a decimal port 1..65535 without leading zeros, and a key of
 * exactly 64 lowercase hex digits (32 bytes; one canonical form, so upper
 * case is refused). Anything else is refused and the output untouched.
 * Whatever parses formats back to the identical line, so a stored line and
 * a re-printed one never differ.
 *
 * Hex rather than Z85 (used before): Z85's alphabet holds ( ) * ? [ ] { }
 * and #, so a line pasted unquoted into a shell broke. A line with a DNS
 * name or IPv4 host is now shell-safe unquoted ('#' inside a word is not a
 * comment); only a bracketed IPv6 literal still wants quotes. The endpoint
 * never holds '#' and hex cannot, so the line splits at its one '#'. The
 * endpoint is at most RELAYADDR_MAX_ENDPOINT characters so it also fits a
 * contact card (CARD_MAX_ENDPOINT).
 */
#ifndef HALQA_RELAYADDR_H
#define HALQA_RELAYADDR_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

#define RELAYADDR_PREFIX "halqa-relay:"
#define RELAYADDR_KEY_LEN 32
#define RELAYADDR_HEX_LEN 64
#define RELAYADDR_MAX_ENDPOINT 200 /* "tcp://HOST:PORT", = CARD_MAX_ENDPOINT */
#define RELAYADDR_MAX_HOST (RELAYADDR_MAX_ENDPOINT - 6 - 6)
/* prefix + endpoint + '#' + key + NUL */
#define RELAYADDR_MAX_LINE (12 + RELAYADDR_MAX_ENDPOINT + 1 + RELAYADDR_HEX_LEN + 1)
#define RELAYADDR_MAX_PROXY (RELAYADDR_MAX_HOST + 6 + 1) /* "HOST:PORT" + NUL */

/* A host and port (the relay's, or a SOCKS proxy's). */
struct relayaddr_hostport {
	char host[RELAYADDR_MAX_HOST + 1]; /* NUL-terminated; IPv6 literals keep their brackets */
	uint16_t port;                     /* 1..65535 */
};

/* A parsed address line. */
struct relayaddr {
	struct relayaddr_hostport relay;
	uint8_t server_key[RELAYADDR_KEY_LEN]; /* the relay's CURVE public key (pinned) */
};

/*
 * relayaddr_parse parses the NUL-terminated |line| into |*out|. It returns
 * HALQA_ERR_ARG for NULL arguments, HALQA_ERR_TOO_LARGE for a line, host or
 * endpoint over its bound, HALQA_ERR_UNSUPPORTED for a transport other than
 * tcp://, and HALQA_ERR_MALFORMED for anything else that is not a valid line
 * (missing prefix or '#', bad host character, bad port, key not exactly
 * 64 lowercase hex digits, whitespace or control characters anywhere).
 * |*out| is unchanged on failure.
 */
HALQA_MUST_CHECK int relayaddr_parse(struct relayaddr *out, const char *line);

/*
 * relayaddr_format writes the address line of |a| into |out| (|out_len|
 * bytes, RELAYADDR_MAX_LINE is always enough). HALQA_ERR_TOO_LARGE if it
 * does not fit, HALQA_ERR_INVALID if |a| holds a host or port the parser
 * would refuse.
 */
HALQA_MUST_CHECK int relayaddr_format(char *out, size_t out_len, const struct relayaddr *a);

/*
 * relayaddr_endpoint writes the ZeroMQ endpoint "tcp://HOST:PORT" of |a|
 * into |out| (RELAYADDR_MAX_ENDPOINT + 1 is always enough). Same returns as
 * relayaddr_format.
 */
HALQA_MUST_CHECK int relayaddr_endpoint(char *out, size_t out_len, const struct relayaddr *a);

/*
 * relayaddr_parse_proxy parses a SOCKS5 proxy given as "HOST:PORT" (the
 * form ZMQ_SOCKS_PROXY takes; Tor's is "127.0.0.1:9050") with the same
 * host and port rules. HALQA_ERR_ARG, HALQA_ERR_TOO_LARGE or
 * HALQA_ERR_MALFORMED as relayaddr_parse; |*out| unchanged on failure.
 */
HALQA_MUST_CHECK int relayaddr_parse_proxy(struct relayaddr_hostport *out, const char *text);

/*
 * relayaddr_format_proxy writes "HOST:PORT" for |p| into |out|
 * (RELAYADDR_MAX_PROXY is always enough). Same returns as relayaddr_format.
 */
HALQA_MUST_CHECK int relayaddr_format_proxy(char *out, size_t out_len,
					    const struct relayaddr_hostport *p);

#endif
