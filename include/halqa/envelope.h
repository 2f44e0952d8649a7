/*
 * envelope.h: what a circle member puts inside an MLS application message,
 * and what a facilitator puts in a new member's mailbox.
 *
 * Application envelope (the plaintext of every MLS application message of
 * a circle):
 *     version u8 (1) | msg_id[16] | sent_at u64 | counter u64 | payload<V>
 * |msg_id| is 16 random bytes chosen once per message: a message that is
 * re-encrypted for a newer epoch (an outbox retry after stale-epoch) keeps
 * it, so receivers drop the second copy. |sent_at| is the sender's clock
 * in Unix milliseconds (0..ENVELOPE_MAX_TIME). |counter| counts the
 * sender's envelopes in the circle from 1 up; a receiver that sees it jump
 * knows messages went missing (the relay dropped or withheld them).
 * |payload| is a session.h payload (1..ENVELOPE_MAX_PAYLOAD bytes) and is
 * decoded by session_decode, not here. The sender is not in the envelope:
 * MLS authenticates it (the leaf that signed the message).
 *
 * Welcome mailbox item (what the engine seals to the new member with a
 * libsodium sealed box before MAILBOX_PUT, so the relay never reads the
 * circle's id or name):
 *     version u8 (1) | kind u8 (1 = welcome) | circle_id[16] | name<V>
 *     | welcome<V>
 * |name| is the circle's name as the facilitator gave it (strict UTF-8,
 * utf8_name_check: 1..UTF8_MAX_NAME bytes, no control or bidi characters),
 * |welcome| an MLSMessage holding an MLS Welcome (1..ENVELOPE_MAX_WELCOME
 * bytes; checked by the group layer).
 *
 * Lengths are MLS varints (RFC 9420 2.1.2), minimal form. Decoding is
 * strict: HALQA_ERR_UNSUPPORTED for another version or kind,
 * HALQA_ERR_TRUNCATED / _MALFORMED for bad encoding or trailing bytes,
 * HALQA_ERR_TOO_LARGE over a bound, HALQA_ERR_INVALID for a well-formed but
 * impossible value (counter 0, a time past the bound, an empty payload, a
 * bad name). On error the output is zeroed. Encoding checks the same rules,
 * so what we send decodes, and decode-then-encode gives the same bytes.
 */
#ifndef HALQA_ENVELOPE_H
#define HALQA_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/utf8.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_ID_LEN 16
/* Fits a session.h payload of the largest kind with room to spare. */
#define ENVELOPE_MAX_PAYLOAD (32u * 1024)
/* Bytes of envelope around the payload, at most. */
#define ENVELOPE_OVERHEAD (1 + ENVELOPE_ID_LEN + 8 + 8 + 4)
/* 9999-12-31: far past any honest clock, well inside int64 milliseconds. */
#define ENVELOPE_MAX_TIME INT64_C(253402300799999)

#define ENVELOPE_ITEM_WELCOME 1
#define ENVELOPE_MAX_WELCOME (200u * 1024)

struct envelope {
	uint8_t msg_id[ENVELOPE_ID_LEN];
	int64_t sent_at;        /* ms since the Unix epoch, 0..ENVELOPE_MAX_TIME */
	uint64_t counter;       /* >= 1 */
	const uint8_t *payload; /* borrowed: from the decoded buffer, or the caller's */
	size_t payload_len;     /* 1..ENVELOPE_MAX_PAYLOAD */
};

/*
 * envelope_decode parses |len| bytes of |data| into |*out|, whose payload
 * borrows from |data|. Errors as above; |*out| zeroed on error.
 */
HALQA_MUST_CHECK int envelope_decode(struct envelope *out, const uint8_t *data, size_t len);

/*
 * envelope_encode checks |*in| and writes its encoding to |*out| (free
 * with free()), |*out_len| bytes. HALQA_ERR_INVALID or _TOO_LARGE for an
 * envelope the decoder would refuse; outputs NULL and 0 on error.
 */
HALQA_MUST_CHECK int envelope_encode(uint8_t **out, size_t *out_len, const struct envelope *in);

struct envelope_welcome {
	uint8_t circle_id[ENVELOPE_ID_LEN];
	char name[UTF8_MAX_NAME + 1]; /* NUL-terminated */
	const uint8_t *welcome;        /* borrowed, as envelope.payload */
	size_t welcome_len;            /* 1..ENVELOPE_MAX_WELCOME */
};

/* envelope_welcome_decode / _encode: the mailbox item, as the envelope pair. */
HALQA_MUST_CHECK int envelope_welcome_decode(struct envelope_welcome *out, const uint8_t *data,
					     size_t len);
HALQA_MUST_CHECK int envelope_welcome_encode(uint8_t **out, size_t *out_len,
					     const struct envelope_welcome *in);

#endif
