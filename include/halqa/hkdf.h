/*
 * hkdf.h: HKDF with HMAC-SHA256 (RFC 5869), the KDF of MLS cipher suite
 * 0x0003 and of HPKE KDF 0x0001.
 *
 * libsodium 1.0.18 has HMAC-SHA256 but no HKDF, so this module builds
 * Extract and Expand on crypto_auth_hmacsha256_init/update/final, whose init
 * accepts a key of any length (the one-shot crypto_auth_hmacsha256 wants
 * exactly 32 bytes, which an empty or long salt is not).
 *
 * Besides the plain RFC 5869 calls there are "spans" variants whose input
 * (the IKM for Extract, the info for Expand) is the concatenation of a list
 * of byte strings. HPKE's LabeledExtract and LabeledExpand (RFC 9180 4.)
 * prefix their inputs with a version label, a suite id and a label; the
 * spans let them do that without building and wiping a concatenated copy.
 *
 * Every function wipes its HMAC states and intermediate blocks before
 * returning, on every path. Outputs are written only on success; on failure
 * they are zeroed where the length is known.
 */
#ifndef HALQA_HKDF_H
#define HALQA_HKDF_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/* HashLen of SHA-256: the size of a PRK and of each Expand block. */
#define HKDF_HASH_LEN 32
/* Expand can produce at most 255 blocks (RFC 5869 2.3). */
#define HKDF_MAX_OUT_LEN (255 * HKDF_HASH_LEN)

/* One piece of a concatenated input; |ptr| may be NULL only if |len| is 0. */
struct hkdf_span {
	const uint8_t *ptr;
	size_t len;
};

/*
 * hkdf_extract computes PRK = HMAC-SHA256(salt, IKM) into |out| (RFC 5869
 * 2.2). An empty salt (|salt_len| 0, |salt| may be NULL) stands for 32 zero
 * bytes, as the RFC says. Returns HALQA_ERR_ARG for a NULL pointer with a
 * non-zero length; otherwise HALQA_OK.
 */
HALQA_MUST_CHECK int hkdf_extract(uint8_t out[32], const uint8_t *salt, size_t salt_len,
				  const uint8_t *ikm, size_t ikm_len);

/*
 * hkdf_expand computes the first |out_len| bytes of HKDF-Expand(PRK, info)
 * into |out| (RFC 5869 2.3). |out_len| must be at most HKDF_MAX_OUT_LEN
 * (HALQA_ERR_ARG otherwise, and |out| is zeroed); 0 is allowed and writes
 * nothing. |info| may be NULL when |info_len| is 0.
 */
HALQA_MUST_CHECK int hkdf_expand(uint8_t *out, size_t out_len, const uint8_t prk[32],
				 const uint8_t *info, size_t info_len);

/*
 * hkdf_extract_spans is hkdf_extract with IKM the concatenation of the
 * |num_ikm| spans. Same errors.
 */
HALQA_MUST_CHECK int hkdf_extract_spans(uint8_t out[32], const uint8_t *salt, size_t salt_len,
					const struct hkdf_span *ikm, size_t num_ikm);

/*
 * hkdf_expand_spans is hkdf_expand with info the concatenation of the
 * |num_info| spans. Same errors.
 */
HALQA_MUST_CHECK int hkdf_expand_spans(uint8_t *out, size_t out_len, const uint8_t prk[32],
				       const struct hkdf_span *info, size_t num_info);

#endif
