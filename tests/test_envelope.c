/*
 * test_envelope.c: the application envelope and the Welcome mailbox item:
 * round trips, canonical encoding, every truncation, trailing bytes,
 * wrong versions and kinds, bounds, and impossible values.
 */
#include <stdlib.h>
#include <string.h>

#include "halqa/envelope.h"
#include "harness.h"

static const uint8_t payload[] = {1, 0, 5, 'h', 'e', 'l', 'l', 'o'};

static void make_env(struct envelope *e)
{
	memset(e, 0, sizeof *e);
	memset(e->msg_id, 0xab, sizeof e->msg_id);
	e->sent_at = 1700000000123LL;
	e->counter = 7;
	e->payload = payload;
	e->payload_len = sizeof payload;
}

static void test_envelope_round_trip(void)
{
	struct envelope e, d;
	uint8_t *buf = NULL, *again = NULL;
	size_t len = 0, again_len = 0;

	make_env(&e);
	CHECK_OK(envelope_encode(&buf, &len, &e));
	CHECK_INT_EQ(len, 1 + 16 + 8 + 8 + 1 + sizeof payload);
	CHECK_INT_EQ(buf[0], ENVELOPE_VERSION);
	CHECK_OK(envelope_decode(&d, buf, len));
	CHECK_MEM_EQ(d.msg_id, 16, e.msg_id, 16);
	CHECK_INT_EQ(d.sent_at, e.sent_at);
	CHECK_INT_EQ(d.counter, 7);
	CHECK_MEM_EQ(d.payload, d.payload_len, payload, sizeof payload);
	CHECK_OK(envelope_encode(&again, &again_len, &d));
	CHECK_MEM_EQ(again, again_len, buf, len);
	free(again);
	/* Every truncation is refused, and leaves the output zeroed. */
	for (size_t n = 0; n < len; n++) {
		int r = envelope_decode(&d, buf, n);

		CHECK(r == HALQA_ERR_TRUNCATED || r == HALQA_ERR_MALFORMED);
		CHECK_INT_EQ(d.payload_len, 0);
		CHECK_INT_EQ(d.counter, 0);
	}
	free(buf);
}

static void test_envelope_refusals(void)
{
	struct envelope e, d;
	uint8_t *buf = NULL, *longer;
	size_t len = 0;

	make_env(&e);
	CHECK_OK(envelope_encode(&buf, &len, &e));
	/* Trailing bytes. */
	longer = calloc(1, len + 1);
	memcpy(longer, buf, len);
	CHECK_RC(envelope_decode(&d, longer, len + 1), HALQA_ERR_MALFORMED);
	free(longer);
	/* Another version. */
	buf[0] = 2;
	CHECK_RC(envelope_decode(&d, buf, len), HALQA_ERR_UNSUPPORTED);
	buf[0] = ENVELOPE_VERSION;
	/* Counter 0 (offset 1 + 16 + 8 + 7 is its last byte). */
	buf[1 + 16 + 8 + 7] = 0;
	CHECK_RC(envelope_decode(&d, buf, len), HALQA_ERR_INVALID);
	buf[1 + 16 + 8 + 7] = 7;
	/* A time past the bound (top byte of sent_at). */
	buf[1 + 16] = 0x80;
	CHECK_RC(envelope_decode(&d, buf, len), HALQA_ERR_INVALID);
	buf[1 + 16] = 0;
	/* A non-minimal length prefix (0x40 0x08 for 8). */
	longer = calloc(1, len + 1);
	memcpy(longer, buf, len - sizeof payload - 1);
	longer[len - sizeof payload - 1] = 0x40;
	longer[len - sizeof payload] = sizeof payload;
	memcpy(longer + len - sizeof payload + 1, payload, sizeof payload);
	CHECK_RC(envelope_decode(&d, longer, len + 1), HALQA_ERR_MALFORMED);
	free(longer);
	/* An empty payload. */
	buf[len - sizeof payload - 1] = 0;
	CHECK_RC(envelope_decode(&d, buf, len - sizeof payload), HALQA_ERR_INVALID);
	free(buf);
	buf = NULL;
	/* The encoder refuses what the decoder would. */
	e.counter = 0;
	CHECK_RC(envelope_encode(&buf, &len, &e), HALQA_ERR_INVALID);
	CHECK(buf == NULL);
	make_env(&e);
	e.sent_at = -1;
	CHECK_RC(envelope_encode(&buf, &len, &e), HALQA_ERR_INVALID);
	make_env(&e);
	e.payload_len = ENVELOPE_MAX_PAYLOAD + 1;
	e.payload = calloc(1, e.payload_len);
	CHECK_RC(envelope_encode(&buf, &len, &e), HALQA_ERR_TOO_LARGE);
	free((void *)e.payload);
	CHECK_RC(envelope_decode(&d, NULL, 0), HALQA_ERR_ARG);
}

static void test_welcome_item(void)
{
	struct envelope_welcome w, d;
	uint8_t welcome[40], *buf = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	const char *name = "\xd8\xa7\xd9\x84\xd8\xad\xd9\x84\xd9\x82\xd8\xa9 1"; /* الحلقة 1 */

	memset(&w, 0, sizeof w);
	memset(w.circle_id, 0x11, sizeof w.circle_id);
	strcpy(w.name, name);
	memset(welcome, 0x5a, sizeof welcome);
	w.welcome = welcome;
	w.welcome_len = sizeof welcome;
	CHECK_OK(envelope_welcome_encode(&buf, &len, &w));
	CHECK_OK(envelope_welcome_decode(&d, buf, len));
	CHECK(strcmp(d.name, name) == 0);
	CHECK_MEM_EQ(d.circle_id, 16, w.circle_id, 16);
	CHECK_MEM_EQ(d.welcome, d.welcome_len, welcome, sizeof welcome);
	CHECK_OK(envelope_welcome_encode(&again, &again_len, &d));
	CHECK_MEM_EQ(again, again_len, buf, len);
	free(again);
	for (size_t n = 0; n < len; n++) {
		CHECK(envelope_welcome_decode(&d, buf, n) != HALQA_OK);
		CHECK_INT_EQ(d.welcome_len, 0);
	}
	buf[1] = 2; /* another kind of item */
	CHECK_RC(envelope_welcome_decode(&d, buf, len), HALQA_ERR_UNSUPPORTED);
	buf[1] = ENVELOPE_ITEM_WELCOME;
	/* A name with an escape sequence (ESC is byte 0 of the name). */
	buf[2 + 16 + 1] = 0x1b;
	CHECK_RC(envelope_welcome_decode(&d, buf, len), HALQA_ERR_INVALID);
	buf[2 + 16 + 1] = 0;
	CHECK_RC(envelope_welcome_decode(&d, buf, len), HALQA_ERR_INVALID);
	free(buf);
	buf = NULL;
	strcpy(w.name, "");
	CHECK_RC(envelope_welcome_encode(&buf, &len, &w), HALQA_ERR_INVALID);
	strcpy(w.name, "bidi \xe2\x80\xae trick");
	CHECK_RC(envelope_welcome_encode(&buf, &len, &w), HALQA_ERR_INVALID);
	CHECK(buf == NULL);
}

int main(void)
{
	RUN(test_envelope_round_trip);
	RUN(test_envelope_refusals);
	RUN(test_welcome_item);
	return harness_report();
}
