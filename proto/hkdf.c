/*
 * hkdf.c: HKDF-SHA256 (RFC 5869) on libsodium's incremental HMAC-SHA256.
 *
 * Extract is one HMAC keyed with the salt. Expand keys one HMAC state with
 * the PRK and copies it for every output block T(i) = HMAC(PRK, T(i-1) ||
 * info || i), so the key schedule of HMAC runs once per call rather than
 * once per block. The keyed state, the block copy and T(i) are secret (they
 * are the PRK and output material), so all of them are wiped on the way
 * out; the output is written block by block straight into the caller's
 * buffer, and zeroed if an argument check fails.
 */
#include "halqa/hkdf.h"

#include <sodium.h>
#include <string.h>

static int spans_valid(const struct hkdf_span *spans, size_t num_spans)
{
	if (spans == NULL && num_spans != 0) {
		return 0;
	}
	for (size_t i = 0; i < num_spans; i++) {
		if (spans[i].ptr == NULL && spans[i].len != 0) {
			return 0;
		}
	}
	return 1;
}

static void hmac_update_spans(crypto_auth_hmacsha256_state *st, const struct hkdf_span *spans,
			      size_t num_spans)
{
	for (size_t i = 0; i < num_spans; i++) {
		if (spans[i].len != 0) {
			crypto_auth_hmacsha256_update(st, spans[i].ptr, spans[i].len);
		}
	}
}

int hkdf_extract_spans(uint8_t out[32], const uint8_t *salt, size_t salt_len,
		       const struct hkdf_span *ikm, size_t num_ikm)
{
	static const uint8_t zero_salt[HKDF_HASH_LEN];
	crypto_auth_hmacsha256_state st;

	if (out == NULL || (salt == NULL && salt_len != 0) || !spans_valid(ikm, num_ikm)) {
		return HALQA_ERR_ARG;
	}
	/* RFC 5869 2.2: a missing salt is HashLen zero bytes. HMAC pads short
	 * keys with zeros, so this equals an empty key; spelled out anyway. */
	if (salt_len == 0) {
		salt = zero_salt;
		salt_len = sizeof zero_salt;
	}
	crypto_auth_hmacsha256_init(&st, salt, salt_len);
	hmac_update_spans(&st, ikm, num_ikm);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
	return HALQA_OK;
}

int hkdf_extract(uint8_t out[32], const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
		 size_t ikm_len)
{
	struct hkdf_span span = {ikm, ikm_len};

	return hkdf_extract_spans(out, salt, salt_len, &span, 1);
}

int hkdf_expand_spans(uint8_t *out, size_t out_len, const uint8_t prk[32],
		      const struct hkdf_span *info, size_t num_info)
{
	crypto_auth_hmacsha256_state keyed, st;
	uint8_t block[HKDF_HASH_LEN];
	size_t done = 0;
	uint8_t counter = 1;

	if (out == NULL && out_len != 0) {
		return HALQA_ERR_ARG;
	}
	if (prk == NULL || out_len > HKDF_MAX_OUT_LEN || !spans_valid(info, num_info)) {
		if (out != NULL) {
			sodium_memzero(out, out_len);
		}
		return HALQA_ERR_ARG;
	}
	if (out_len == 0) {
		return HALQA_OK;
	}
	crypto_auth_hmacsha256_init(&keyed, prk, HKDF_HASH_LEN);
	while (done < out_len) {
		size_t n = out_len - done < HKDF_HASH_LEN ? out_len - done : HKDF_HASH_LEN;

		st = keyed;
		if (counter > 1) {
			crypto_auth_hmacsha256_update(&st, block, sizeof block);
		}
		hmac_update_spans(&st, info, num_info);
		crypto_auth_hmacsha256_update(&st, &counter, 1);
		crypto_auth_hmacsha256_final(&st, block);
		memcpy(out + done, block, n);
		done += n;
		counter++;
	}
	sodium_memzero(&keyed, sizeof keyed);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(block, sizeof block);
	return HALQA_OK;
}

int hkdf_expand(uint8_t *out, size_t out_len, const uint8_t prk[32], const uint8_t *info,
		size_t info_len)
{
	struct hkdf_span span = {info, info_len};

	return hkdf_expand_spans(out, out_len, prk, &span, 1);
}
