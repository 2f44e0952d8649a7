/*
 * card.c: contact cards (card.h).
 *
 * The payload is built and parsed with the byte codec like every other
 * structure; this file adds only the base32 text layer and the checksum.
 * Card contents are public, so the base32 code is plain table lookups.
 */
#include "halqa/card.h"

#include <sodium.h>
#include <string.h>

#include "halqa/bytes.h"

#define CARD_VERSION 1
#define CARD_CHECKSUM_LEN 4
/* The endpoint length (<= 200) takes a 2-byte varint. */
#define CARD_MAX_PAYLOAD (1 + 2 * CARD_KEY_LEN + 2 * CARD_ID_LEN + 2 + CARD_MAX_ENDPOINT + CARD_CHECKSUM_LEN)

static const char card_prefix[] = "halqa-card:";
static const char card_label[] = "halqa card v1";
static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int card_endpoint_valid(const char *endpoint)
{
	size_t n = strnlen(endpoint, CARD_MAX_ENDPOINT + 1);

	if (n > CARD_MAX_ENDPOINT || n <= 6 || strncmp(endpoint, "tcp://", 6) != 0) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)endpoint[i];
		if (c <= 0x20 || c >= 0x7f) {
			return 0;
		}
	}
	return 1;
}

static void card_checksum(uint8_t out[CARD_CHECKSUM_LEN], const uint8_t *data, size_t len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)card_label, sizeof card_label - 1);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, h);
	memcpy(out, h, CARD_CHECKSUM_LEN);
}

int card_encode(char out[CARD_MAX_TEXT], const struct card *c)
{
	struct bytes_writer w;
	uint8_t sum[CARD_CHECKSUM_LEN];
	const uint8_t *p;
	size_t len, at, bits = 0;
	uint32_t acc = 0;
	int rc;

	out[0] = '\0';
	if (!card_endpoint_valid(c->endpoint)) {
		return HALQA_ERR_INVALID;
	}
	bytes_writer_init(&w, CARD_MAX_PAYLOAD, 0);
	bytes_put_u8(&w, CARD_VERSION);
	bytes_put(&w, c->identity_pub, CARD_KEY_LEN);
	bytes_put(&w, c->relay_pub, CARD_KEY_LEN);
	bytes_put(&w, c->mailbox_id, CARD_ID_LEN);
	bytes_put(&w, c->kp_dir_id, CARD_ID_LEN);
	bytes_put_vec(&w, (const uint8_t *)c->endpoint, strlen(c->endpoint));
	if ((rc = bytes_writer_error(&w)) != 0) {
		goto out;
	}
	card_checksum(sum, bytes_writer_data(&w), bytes_writer_len(&w));
	if ((rc = bytes_put(&w, sum, sizeof sum)) != 0) {
		goto out;
	}
	p = bytes_writer_data(&w);
	len = bytes_writer_len(&w);
	memcpy(out, card_prefix, sizeof card_prefix - 1);
	at = sizeof card_prefix - 1;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[at++] = base32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0) {
		out[at++] = base32_alphabet[(acc << (5 - bits)) & 31];
	}
	out[at] = '\0';
out:
	bytes_writer_cleanup(&w);
	return rc;
}

static int base32_value(char ch)
{
	if (ch >= 'a' && ch <= 'z') {
		return ch - 'a';
	}
	if (ch >= 'A' && ch <= 'Z') {
		return ch - 'A';
	}
	if (ch >= '2' && ch <= '7') {
		return ch - '2' + 26;
	}
	return -1;
}

int card_decode(struct card *out, const char *text)
{
	uint8_t payload[CARD_MAX_PAYLOAD];
	uint8_t sum[CARD_CHECKSUM_LEN], want[CARD_CHECKSUM_LEN];
	struct bytes_reader r, endpoint;
	struct card c;
	size_t n = 0, bits = 0, text_len;
	uint32_t acc = 0;
	uint8_t version;
	int rc;

	text_len = strnlen(text, CARD_MAX_TEXT + 1);
	if (text_len > CARD_MAX_TEXT) {
		return HALQA_ERR_TOO_LARGE;
	}
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r') {
		text++;
	}
	if (strncmp(text, card_prefix, sizeof card_prefix - 1) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	for (const char *s = text + sizeof card_prefix - 1; *s != '\0'; s++) {
		int v;

		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '-') {
			continue;
		}
		if ((v = base32_value(*s)) < 0) {
			return HALQA_ERR_MALFORMED;
		}
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (n == sizeof payload) {
				return HALQA_ERR_TOO_LARGE;
			}
			payload[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits are the encoder's zero padding; anything else is noise. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	if (n < CARD_CHECKSUM_LEN + 1) {
		return HALQA_ERR_TRUNCATED;
	}
	card_checksum(want, payload, n - CARD_CHECKSUM_LEN);
	bytes_reader_init(&r, payload, n - CARD_CHECKSUM_LEN);
	memcpy(sum, payload + n - CARD_CHECKSUM_LEN, CARD_CHECKSUM_LEN);
	if (memcmp(sum, want, sizeof sum) != 0) {
		return HALQA_ERR_INVALID;
	}
	memset(&c, 0, sizeof c);
	if ((rc = bytes_get_u8(&r, &version)) != 0) {
		return rc;
	}
	if (version != CARD_VERSION) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if ((rc = bytes_get_copy(&r, c.identity_pub, CARD_KEY_LEN)) != 0 ||
	    (rc = bytes_get_copy(&r, c.relay_pub, CARD_KEY_LEN)) != 0 ||
	    (rc = bytes_get_copy(&r, c.mailbox_id, CARD_ID_LEN)) != 0 ||
	    (rc = bytes_get_copy(&r, c.kp_dir_id, CARD_ID_LEN)) != 0 ||
	    (rc = bytes_get_vec(&r, &endpoint, CARD_MAX_ENDPOINT)) != 0 ||
	    (rc = bytes_expect_end(&r)) != 0) {
		return rc;
	}
	memcpy(c.endpoint, endpoint.ptr, endpoint.len);
	/* An embedded NUL would make the endpoint read shorter than it is. */
	if (memchr(c.endpoint, '\0', endpoint.len) != NULL || !card_endpoint_valid(c.endpoint)) {
		return HALQA_ERR_INVALID;
	}
	*out = c;
	return HALQA_OK;
}
