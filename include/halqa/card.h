/*
 * card.h: contact cards, the one line an advocate hands another (in person,
 * or over another channel) so that the other can add them as a contact.
 *
 * A card carries public data only: the identity key (the MLS credential),
 * where the relay is (endpoint and its CURVE public key), the mailbox that
 * receives Welcomes, and the KeyPackage directory that others claim from.
 * Its text form is
 *
 *     halqa-card:<base32 of the payload>
 *
 * with the payload
 *
 *     version u8 (1) | identity_pub[32] | relay_pub[32] | mailbox_id[16]
 *     | kp_dir_id[16] | endpoint<V> | checksum[4]
 *
 * where the checksum is the first 4 bytes of SHA-256("halqa card v1" ||
 * everything before it). Base32 (RFC 4648 alphabet, no padding) survives
 * case changes and reading aloud; spaces, line breaks and '-' are ignored on
 * input so a card wrapped by a mail client still reads. The checksum catches
 * typos; it is no protection against forgery, which is what comparing
 * safety numbers is for.
 */
#ifndef HALQA_CARD_H
#define HALQA_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

#define CARD_KEY_LEN 32
#define CARD_ID_LEN 16
#define CARD_MAX_ENDPOINT 200
/* Longest text card: prefix + base32 of the largest payload + NUL. */
#define CARD_MAX_TEXT 512

struct card {
	uint8_t identity_pub[CARD_KEY_LEN];
	uint8_t relay_pub[CARD_KEY_LEN];
	uint8_t mailbox_id[CARD_ID_LEN];
	uint8_t kp_dir_id[CARD_ID_LEN];
	/* ZeroMQ endpoint of the relay, e.g. "tcp://relay.example:7400". */
	char endpoint[CARD_MAX_ENDPOINT + 1];
};

/*
 * card_endpoint_valid says whether |endpoint| is an endpoint a card may
 * carry: "tcp://" followed by 1..CARD_MAX_ENDPOINT-6 printable ASCII
 * characters without spaces.
 */
int card_endpoint_valid(const char *endpoint);

/*
 * card_encode writes the text form of |c| into |out| (NUL-terminated).
 * Returns HALQA_ERR_INVALID if the endpoint is not valid.
 */
HALQA_MUST_CHECK int card_encode(char out[CARD_MAX_TEXT], const struct card *c);

/*
 * card_decode parses a text card. Returns HALQA_ERR_MALFORMED if it is not a
 * card (prefix, characters, structure), HALQA_ERR_TOO_LARGE if it is longer
 * than any card, HALQA_ERR_UNSUPPORTED for a card version we do not know,
 * and HALQA_ERR_INVALID if the checksum does not match (a mistyped
 * character) or the endpoint is not valid. |*out| is unchanged on error.
 */
HALQA_MUST_CHECK int card_decode(struct card *out, const char *text);

#endif
