/*
 * fuzz_card.c: the contact-card decoder on arbitrary text. Any card it
 * accepts must re-encode to a card that decodes to the same fields.
 */
#include "halqa/card.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[2 * CARD_MAX_TEXT];
	char again[CARD_MAX_TEXT];
	struct card c, d;

	if (size >= sizeof text) {
		size = sizeof text - 1;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	if (card_decode(&c, text) != HALQA_OK) {
		return 0;
	}
	if (card_encode(again, &c) != HALQA_OK || card_decode(&d, again) != HALQA_OK ||
	    memcmp(&c, &d, sizeof c) != 0) {
		abort();
	}
	return 0;
}
