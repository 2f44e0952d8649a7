/*
 * fuzz_envelope.c: the application envelope and the Welcome mailbox item
 * decoders on arbitrary bytes. Whatever either accepts must re-encode to
 * exactly the input (the encodings are canonical).
 */
#include "halqa/envelope.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e;
	struct envelope_welcome w;
	uint8_t *again = NULL;
	size_t again_len = 0;

	if (envelope_decode(&e, data, size) == HALQA_OK) {
		if (envelope_encode(&again, &again_len, &e) != HALQA_OK || again_len != size ||
		    memcmp(again, data, size) != 0) {
			abort();
		}
		free(again);
		again = NULL;
	}
	if (envelope_welcome_decode(&w, data, size) == HALQA_OK) {
		if (envelope_welcome_encode(&again, &again_len, &w) != HALQA_OK ||
		    again_len != size || memcmp(again, data, size) != 0) {
			abort();
		}
		free(again);
	}
	return 0;
}
