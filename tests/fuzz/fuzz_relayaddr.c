/*
 * fuzz_relayaddr.c: the relay address line and proxy parsers on arbitrary
 * text. Whatever parses must format back to exactly the input (the
 * formatter is the parser's inverse), and the formatted text must parse to
 * the same struct.
 */
#include "halqa/relayaddr.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[2 * RELAYADDR_MAX_LINE];
	char again[RELAYADDR_MAX_LINE];
	struct relayaddr a, b;
	struct relayaddr_hostport p, q;

	if (size >= sizeof text) {
		size = sizeof text - 1;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	if (relayaddr_parse(&a, text) == HALQA_OK) {
		if (relayaddr_format(again, sizeof again, &a) != HALQA_OK || strcmp(again, text) != 0 ||
		    relayaddr_parse(&b, again) != HALQA_OK || memcmp(&a, &b, sizeof a) != 0) {
			abort();
		}
	}
	memset(&p, 0, sizeof p);
	memset(&q, 0, sizeof q);
	if (relayaddr_parse_proxy(&p, text) == HALQA_OK) {
		if (relayaddr_format_proxy(again, sizeof again, &p) != HALQA_OK ||
		    strcmp(again, text) != 0 || relayaddr_parse_proxy(&q, again) != HALQA_OK ||
		    memcmp(&p, &q, sizeof p) != 0) {
			abort();
		}
	}
	return 0;
}
