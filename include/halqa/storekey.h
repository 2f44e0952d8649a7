/*
 * storekey.h: the passphrase -> store key derivation of a client profile.
 *
 * A profile's SQLCipher database is keyed with a raw 256-bit key derived
 * from the passphrase with Argon2id (libsodium crypto_pwhash), so SQLCipher's
 * own, weaker PBKDF2 never runs. The salt and cost parameters are not
 * secret; they live in a small file beside the database, encoded here:
 *
 *     "HQKD" | version u8 (1) | algorithm u8 (2 = Argon2id v1.3)
 *            | opslimit u64 | memlimit u64 | salt[16]
 *
 * Decoding checks every field against sane bounds, because the file could
 * be tampered with: a huge memlimit must not let a stranger make the client
 * allocate gigabytes, and a tiny one must not silently weaken the key (the
 * caller learns the profile from the decoded parameters and can refuse).
 */
#ifndef HALQA_STOREKEY_H
#define HALQA_STOREKEY_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"

#define STOREKEY_KEY_LEN 32
#define STOREKEY_SALT_LEN 16
#define STOREKEY_ENCODED_LEN (4 + 1 + 1 + 8 + 8 + STOREKEY_SALT_LEN)

/* Largest memory cost we accept from a parameters file: 1 GiB. */
#define STOREKEY_MAX_MEMLIMIT (1024ull * 1024 * 1024)
/* Largest operations cost we accept: far above any sane profile. */
#define STOREKEY_MAX_OPSLIMIT 64

enum storekey_profile {
	/* About half a second and 256 MiB on a laptop: the default. */
	STOREKEY_PROFILE_DEFAULT = 0,
	/*
	 * libsodium's minimum cost (1 pass, 8 KiB). INSECURE: a passphrase
	 * behind it falls to a cheap guessing attack. For tests and demos only.
	 */
	STOREKEY_PROFILE_TEST = 1,
};

struct storekey_params {
	uint64_t opslimit;
	uint64_t memlimit;
	uint8_t salt[STOREKEY_SALT_LEN];
};

/*
 * storekey_params_new fills |*out| with the costs of |profile| and a fresh
 * random salt. Returns HALQA_ERR_ARG for an unknown profile.
 */
HALQA_MUST_CHECK int storekey_params_new(struct storekey_params *out, enum storekey_profile profile);

/* storekey_params_is_test says whether |p| is weaker than the default profile. */
int storekey_params_is_test(const struct storekey_params *p);

/* storekey_params_encode appends the encoding above to |w|. */
int storekey_params_encode(struct bytes_writer *w, const struct storekey_params *p);

/*
 * storekey_params_decode reads exactly one encoding from |r| (trailing bytes
 * are refused by the caller with bytes_expect_end). Returns
 * HALQA_ERR_MALFORMED for a bad magic, HALQA_ERR_UNSUPPORTED for another
 * version or algorithm, HALQA_ERR_INVALID for costs outside our bounds,
 * HALQA_ERR_TRUNCATED if short. |*out| is unchanged on error.
 */
HALQA_MUST_CHECK int storekey_params_decode(struct bytes_reader *r, struct storekey_params *out);

/*
 * storekey_derive derives the 32-byte store key from |passphrase| and |p|
 * into |out|. Returns HALQA_ERR_NOMEM if Argon2id cannot get its memory
 * (|out| is then zeroed). The caller wipes |out| once the key is applied.
 */
HALQA_MUST_CHECK int storekey_derive(uint8_t out[STOREKEY_KEY_LEN], const struct storekey_params *p,
				     const char *passphrase, size_t passphrase_len);

#endif
