/*
 * safety.h: safety numbers, the fingerprints two people compare out of band
 * (read aloud, or side by side) to know that the identity key their client
 * holds for the other is the real one and not a relay's substitute.
 *
 * A fingerprint is 30 decimal digits in 6 groups of 5, derived from one
 * Ed25519 identity public key by 5,200 iterations of SHA-512 (so that
 * searching for a key whose fingerprint merely resembles a victim's costs
 * real work per try). A safety number for a pair is the two fingerprints,
 * the smaller first, so both sides see the same 60 digits in 12 groups.
 */
#ifndef HALQA_SAFETY_H
#define HALQA_SAFETY_H

#include <stdint.h>

#include "halqa/err.h"

#define SAFETY_KEY_LEN 32
#define SAFETY_FP_DIGITS 30
/* "ddddd ddddd ddddd ddddd ddddd ddddd" and a NUL. */
#define SAFETY_FP_STR_LEN (SAFETY_FP_DIGITS + SAFETY_FP_DIGITS / 5 - 1 + 1)
/* Two fingerprints joined by a space, and a NUL. */
#define SAFETY_NUMBER_STR_LEN (2 * SAFETY_FP_STR_LEN)

/*
 * safety_fingerprint writes the fingerprint of |identity_pub| into |out| as
 * a NUL-terminated string of 6 space-separated groups of 5 digits.
 */
void safety_fingerprint(char out[SAFETY_FP_STR_LEN], const uint8_t identity_pub[SAFETY_KEY_LEN]);

/*
 * safety_number writes the safety number of the pair (|a|, |b|) into |out|:
 * 12 groups of 5 digits, the same whichever key is |a|. Returns
 * HALQA_ERR_ARG if the two keys are equal (a number with oneself means
 * nothing and must not be shown as if it did).
 */
HALQA_MUST_CHECK int safety_number(char out[SAFETY_NUMBER_STR_LEN], const uint8_t a[SAFETY_KEY_LEN],
				   const uint8_t b[SAFETY_KEY_LEN]);

#endif
