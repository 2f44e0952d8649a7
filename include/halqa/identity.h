/*
 * identity.h: a profile's long-term keys.
 *
 * An identity is an Ed25519 signing key pair (the MLS credential and what
 * safety numbers are computed from), an X25519 key pair for the CurveZMQ
 * transport to the relay (crypto_box_keypair, usable by ZeroMQ as is), and
 * two random 16-byte ids: the mailbox that receives Welcomes and the
 * KeyPackage directory others claim from. It lives in sodium_malloc'd
 * memory (guard pages, locked where the limit allows) and is wiped on free.
 *
 * Its stored form, only ever written into the encrypted store:
 *
 *     "HQID" | version u8 (1) | ed25519_seed[32] | x25519_secret[32]
 *            | mailbox_id[16] | kp_dir_id[16]
 *
 * Public keys are derived again on decode rather than stored, so a stored
 * identity cannot hold a public key that does not match its secret.
 */
#ifndef HALQA_IDENTITY_H
#define HALQA_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"

#define IDENTITY_PUB_LEN 32
#define IDENTITY_SIGN_SEC_LEN 64
#define IDENTITY_SEED_LEN 32
#define IDENTITY_CURVE_SEC_LEN 32
#define IDENTITY_ID_LEN 16
#define IDENTITY_ENCODED_LEN (4 + 1 + 32 + 32 + 16 + 16)

struct identity {
	uint8_t sign_pub[IDENTITY_PUB_LEN];
	uint8_t sign_sec[IDENTITY_SIGN_SEC_LEN]; /* libsodium form: seed || public key */
	uint8_t curve_pub[IDENTITY_PUB_LEN];
	uint8_t curve_sec[IDENTITY_CURVE_SEC_LEN];
	uint8_t mailbox_id[IDENTITY_ID_LEN];
	uint8_t kp_dir_id[IDENTITY_ID_LEN];
};

/*
 * identity_new generates a fresh identity into |*out| (free with
 * identity_free). HALQA_ERR_NOMEM if guarded memory is not available.
 */
HALQA_MUST_CHECK int identity_new(struct identity **out);

/* identity_free wipes and frees |id|; NULL is a no-op. */
void identity_free(struct identity *id);

/*
 * identity_encode appends the stored form of |id| to |w|. The bytes are
 * secret: |w| should be a BYTES_WIPE writer. Returns the writer's error.
 */
int identity_encode(struct bytes_writer *w, const struct identity *id);

/*
 * identity_decode reads one stored identity from |r| into a new
 * identity |*out| (free with identity_free). HALQA_ERR_MALFORMED for a bad
 * magic, HALQA_ERR_UNSUPPORTED for another version, HALQA_ERR_TRUNCATED if
 * short, HALQA_ERR_INVALID if a key cannot be derived. Trailing bytes are
 * the caller's to refuse (bytes_expect_end). |*out| is NULL on error.
 */
HALQA_MUST_CHECK int identity_decode(struct bytes_reader *r, struct identity **out);

#endif
