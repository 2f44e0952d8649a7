/*
 * test_card.c: contact cards. Round trip; a mistyped character anywhere is
 * caught; case changes, wrapping and spaces are tolerated; structure,
 * version and endpoint violations are refused with the right code.
 */
#include "halqa/card.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static void make_card(struct card *c)
{
	memset(c, 0, sizeof *c);
	randombytes_buf(c->identity_pub, sizeof c->identity_pub);
	randombytes_buf(c->relay_pub, sizeof c->relay_pub);
	randombytes_buf(c->mailbox_id, sizeof c->mailbox_id);
	randombytes_buf(c->kp_dir_id, sizeof c->kp_dir_id);
	strcpy(c->endpoint, "tcp://127.0.0.1:7400");
}

static int cards_equal(const struct card *a, const struct card *b)
{
	return memcmp(a->identity_pub, b->identity_pub, CARD_KEY_LEN) == 0 &&
	       memcmp(a->relay_pub, b->relay_pub, CARD_KEY_LEN) == 0 &&
	       memcmp(a->mailbox_id, b->mailbox_id, CARD_ID_LEN) == 0 &&
	       memcmp(a->kp_dir_id, b->kp_dir_id, CARD_ID_LEN) == 0 &&
	       strcmp(a->endpoint, b->endpoint) == 0;
}

static void test_round_trip(void)
{
	struct card c, d;
	char text[CARD_MAX_TEXT];

	make_card(&c);
	CHECK_OK(card_encode(text, &c));
	CHECK(strncmp(text, "halqa-card:", 11) == 0);
	CHECK_OK(card_decode(&d, text));
	CHECK(cards_equal(&c, &d));
}

static void test_longest_endpoint_fits(void)
{
	struct card c, d;
	char text[CARD_MAX_TEXT];

	make_card(&c);
	memset(c.endpoint, 'a', CARD_MAX_ENDPOINT);
	memcpy(c.endpoint, "tcp://", 6);
	c.endpoint[CARD_MAX_ENDPOINT] = '\0';
	CHECK_OK(card_encode(text, &c));
	CHECK(strlen(text) < CARD_MAX_TEXT);
	CHECK_OK(card_decode(&d, text));
	CHECK(cards_equal(&c, &d));
}

/* Every single-character substitution in the body must be caught. */
static void test_typos_caught(void)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	struct card c, d;
	char text[CARD_MAX_TEXT], typo[CARD_MAX_TEXT];
	size_t len;
	int accepted = 0;

	make_card(&c);
	CHECK_OK(card_encode(text, &c));
	len = strlen(text);
	for (size_t i = 11; i < len; i++) {
		for (size_t k = 0; k < 32; k++) {
			int rc;

			if (alphabet[k] == text[i]) {
				continue;
			}
			memcpy(typo, text, len + 1);
			typo[i] = alphabet[k];
			rc = card_decode(&d, typo);
			accepted += rc == HALQA_OK;
		}
	}
	/* A 32-bit checksum misses a random change with odds 2^-32 each. */
	CHECK_INT_EQ(accepted, 0);
	/* Dropping a character is caught too. */
	memcpy(typo, text, 20);
	memcpy(typo + 20, text + 21, len - 20);
	CHECK(card_decode(&d, typo) != HALQA_OK);
}

static void test_tolerated_forms(void)
{
	struct card c, d;
	char text[CARD_MAX_TEXT], wrapped[2 * CARD_MAX_TEXT];
	size_t len, at = 0;

	make_card(&c);
	CHECK_OK(card_encode(text, &c));
	len = strlen(text);
	/* Uppercase body, wrapped every 40 characters, spaces and dashes. */
	at += (size_t)sprintf(wrapped, "  \nhalqa-card:");
	for (size_t i = 11; i < len; i++) {
		char ch = text[i];
		if (ch >= 'a' && ch <= 'z') {
			ch = (char)(ch - 'a' + 'A');
		}
		wrapped[at++] = ch;
		if (i % 40 == 0) {
			wrapped[at++] = '\n';
		} else if (i % 8 == 0) {
			wrapped[at++] = '-';
		}
	}
	wrapped[at] = '\0';
	CHECK(at < CARD_MAX_TEXT);
	CHECK_OK(card_decode(&d, wrapped));
	CHECK(cards_equal(&c, &d));
}

static void test_refusals(void)
{
	struct card c, d;
	char text[CARD_MAX_TEXT], bad[2 * CARD_MAX_TEXT];

	make_card(&c);
	CHECK_OK(card_encode(text, &c));
	CHECK_RC(card_decode(&d, "halqa-crad:aaaa"), HALQA_ERR_MALFORMED);
	CHECK_RC(card_decode(&d, ""), HALQA_ERR_MALFORMED);
	CHECK_RC(card_decode(&d, "halqa-card:"), HALQA_ERR_TRUNCATED);
	CHECK_RC(card_decode(&d, "halqa-card:aaaa8aaa"), HALQA_ERR_MALFORMED);
	/* One character more than the encoding has. */
	snprintf(bad, sizeof bad, "%sa", text);
	CHECK(card_decode(&d, bad) != HALQA_OK);
	/* Much too long. */
	memset(bad, 'a', sizeof bad - 1);
	memcpy(bad, "halqa-card:", 11);
	bad[sizeof bad - 1] = '\0';
	CHECK_RC(card_decode(&d, bad), HALQA_ERR_TOO_LARGE);
	/* Endpoints a card may not carry. */
	strcpy(c.endpoint, "ipc:///tmp/x");
	CHECK_RC(card_encode(text, &c), HALQA_ERR_INVALID);
	strcpy(c.endpoint, "tcp://a b");
	CHECK_RC(card_encode(text, &c), HALQA_ERR_INVALID);
	strcpy(c.endpoint, "tcp://");
	CHECK_RC(card_encode(text, &c), HALQA_ERR_INVALID);
	strcpy(c.endpoint, "tcp://\x1b[2J");
	CHECK_RC(card_encode(text, &c), HALQA_ERR_INVALID);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_round_trip);
	RUN(test_longest_endpoint_fits);
	RUN(test_typos_caught);
	RUN(test_tolerated_forms);
	RUN(test_refusals);
	return harness_report();
}
