/*
 * fuzz_session.c: the session payload decoder on arbitrary bytes. Any
 * payload it accepts must re-encode to exactly the same bytes (the
 * encoding is canonical), and decode again to the same struct.
 */
#include "halqa/session.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct session_message first, second;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *again = NULL;
	size_t again_len = 0;

	if (session_decode(&first, data, size) != HALQA_OK) {
		return 0;
	}
	if (session_encode(&again, &again_len, &first) != HALQA_OK || again_len != size ||
	    memcmp(again, data, size) != 0 ||
	    session_decode(&second, again, again_len) != HALQA_OK ||
	    memcmp(&first, &second, sizeof first) != 0) {
		abort();
	}
	free(again);
	return 0;
}
