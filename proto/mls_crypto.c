/*
 * mls_crypto.c: RFC 9420 section 5's labelled primitives for cipher suite
 * 0x0003, on hkdf.c, hpke.c and libsodium's SHA-256 and Ed25519.
 *
 * Each primitive encodes its small TLS struct (KDFLabel, SignContent,
 * RefHashInput, EncryptContext) with a bytes_writer whose maximum is the
 * exact size of the struct, then hands the bytes to the KDF, hash,
 * signature or HPKE. The writers are created with BYTES_WIPE: contexts can
 * be secret-derived (GroupContext, transcript hashes) and the brief is to
 * leave nothing behind. The "MLS 1.0 " prefix is written in front of the
 * caller's label here, so no caller ever builds a prefixed label string.
 */
#include "halqa/mls_crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"
#include "halqa/hpke.h"

static const char label_prefix[] = "MLS 1.0 ";
#define LABEL_PREFIX_LEN (sizeof label_prefix - 1)

/* A varint length prefix takes at most 4 bytes (RFC 9420 2.1.2). */
#define VARINT_MAX_LEN 4

/*
 * label_len checks |label| (present, at most MLS_LABEL_MAX bytes) and
 * returns its length through |*out|.
 */
static int label_len(const char *label, size_t *out)
{
	size_t n;

	if (label == NULL) {
		return HALQA_ERR_ARG;
	}
	n = strnlen(label, MLS_LABEL_MAX + 1);
	if (n > MLS_LABEL_MAX) {
		return HALQA_ERR_ARG;
	}
	*out = n;
	return HALQA_OK;
}

/* put_label writes opaque label<V> = "MLS 1.0 " + |label|. */
static void put_label(struct bytes_writer *w, const char *label, size_t len)
{
	bytes_put_varint(w, (uint32_t)(LABEL_PREFIX_LEN + len));
	bytes_put(w, (const uint8_t *)label_prefix, LABEL_PREFIX_LEN);
	bytes_put(w, (const uint8_t *)label, len);
}

/*
 * encode_label_pair builds struct { opaque label<V>; opaque data<V>; } with
 * an optional uint16 |length| in front (KDFLabel) into a fresh writer |w|
 * that the caller cleans up. |prefixed| says whether "MLS 1.0 " is added.
 */
static int encode_label_pair(struct bytes_writer *w, int with_length, uint16_t length,
			     const char *label, int prefixed, const uint8_t *data, size_t data_len)
{
	size_t llen;
	size_t max;
	int rc;

	if ((rc = label_len(label, &llen)) != 0) {
		return rc;
	}
	if (data == NULL && data_len != 0) {
		return HALQA_ERR_ARG;
	}
	if (data_len > BYTES_VARINT_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	max = 2 + VARINT_MAX_LEN + LABEL_PREFIX_LEN + llen + VARINT_MAX_LEN + data_len;
	bytes_writer_init(w, max, BYTES_WIPE);
	if (with_length) {
		bytes_put_u16(w, length);
	}
	if (prefixed) {
		put_label(w, label, llen);
	} else {
		bytes_put_vec(w, (const uint8_t *)label, llen);
	}
	bytes_put_vec(w, data, data_len);
	return bytes_writer_error(w);
}

int mls_expand_with_label(uint8_t *out, size_t out_len, const uint8_t secret[MLS_HASH_LEN],
			  const char *label, const uint8_t *context, size_t context_len)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, 0, BYTES_WIPE);
	if (out == NULL && out_len != 0) {
		return HALQA_ERR_ARG;
	}
	if (secret == NULL || out_len > HKDF_MAX_OUT_LEN) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = encode_label_pair(&w, 1, (uint16_t)out_len, label, 1, context, context_len)) !=
	    0) {
		goto out;
	}
	rc = hkdf_expand(out, out_len, secret, bytes_writer_data(&w), bytes_writer_len(&w));
out:
	bytes_writer_cleanup(&w);
	if (rc != 0 && out != NULL) {
		sodium_memzero(out, out_len);
	}
	return rc;
}

int mls_derive_secret(uint8_t out[MLS_HASH_LEN], const uint8_t secret[MLS_HASH_LEN],
		      const char *label)
{
	return mls_expand_with_label(out, MLS_HASH_LEN, secret, label, NULL, 0);
}

int mls_derive_tree_secret(uint8_t *out, size_t out_len, const uint8_t secret[MLS_HASH_LEN],
			   const char *label, uint32_t generation)
{
	uint8_t context[4];
	struct bytes_writer w;
	int rc;

	/* The context is the generation as a uint32 (RFC 9420 9.1). */
	bytes_writer_init(&w, sizeof context, 0);
	bytes_put_u32(&w, generation);
	if ((rc = bytes_writer_error(&w)) == 0) {
		memcpy(context, bytes_writer_data(&w), sizeof context);
		rc = mls_expand_with_label(out, out_len, secret, label, context, sizeof context);
	} else if (out != NULL) {
		sodium_memzero(out, out_len);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_ref_hash(uint8_t out[MLS_HASH_LEN], const char *label, const uint8_t *value,
		 size_t value_len)
{
	struct bytes_writer w;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_writer_init(&w, 0, BYTES_WIPE);
	/* RFC 9420 5.2: RefHashInput's label is the caller's string, as is. */
	if ((rc = encode_label_pair(&w, 0, 0, label, 0, value, value_len)) == 0) {
		crypto_hash_sha256(out, bytes_writer_data(&w), bytes_writer_len(&w));
	} else {
		sodium_memzero(out, MLS_HASH_LEN);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_sign_with_label(uint8_t sig[MLS_SIG_LEN], const uint8_t priv[MLS_SIG_PRIV_LEN],
			const char *label, const uint8_t *content, size_t content_len)
{
	struct bytes_writer w;
	int rc;

	if (sig == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(sig, MLS_SIG_LEN);
	if (priv == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_writer_init(&w, 0, BYTES_WIPE);
	if ((rc = encode_label_pair(&w, 0, 0, label, 1, content, content_len)) == 0 &&
	    crypto_sign_detached(sig, NULL, bytes_writer_data(&w), bytes_writer_len(&w), priv) !=
		0) {
		sodium_memzero(sig, MLS_SIG_LEN);
		rc = HALQA_ERR_CRYPTO;
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_verify_with_label(const uint8_t pub[MLS_SIG_PUB_LEN], const char *label,
			  const uint8_t *content, size_t content_len, const uint8_t *sig,
			  size_t sig_len)
{
	struct bytes_writer w;
	int rc;

	if (pub == NULL || (sig == NULL && sig_len != 0)) {
		return HALQA_ERR_ARG;
	}
	/* An Ed25519 signature is R || S, exactly 64 bytes (RFC 8032 5.1.6);
	 * anything else is simply not a valid signature. */
	if (sig_len != MLS_SIG_LEN) {
		return HALQA_ERR_CRYPTO;
	}
	bytes_writer_init(&w, 0, BYTES_WIPE);
	if ((rc = encode_label_pair(&w, 0, 0, label, 1, content, content_len)) == 0 &&
	    crypto_sign_verify_detached(sig, bytes_writer_data(&w), bytes_writer_len(&w), pub) !=
		0) {
		rc = HALQA_ERR_CRYPTO;
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_sig_key_pair_from_seed(uint8_t priv[MLS_SIG_PRIV_LEN], uint8_t pub[MLS_SIG_PUB_LEN],
			       const uint8_t seed[MLS_SIG_SEED_LEN])
{
	if (priv == NULL || pub == NULL || seed == NULL) {
		return HALQA_ERR_ARG;
	}
	if (crypto_sign_seed_keypair(pub, priv, seed) != 0) {
		sodium_memzero(priv, MLS_SIG_PRIV_LEN);
		sodium_memzero(pub, MLS_SIG_PUB_LEN);
		return HALQA_ERR_CRYPTO;
	}
	return HALQA_OK;
}

int mls_kem_derive_key_pair(uint8_t priv[MLS_KEM_PRIV_LEN], uint8_t pub[MLS_KEM_PUB_LEN],
			    const uint8_t *ikm, size_t ikm_len)
{
	return hpke_derive_key_pair(priv, pub, ikm, ikm_len);
}

/* free_secret wipes and frees a heap buffer of |len| bytes (NULL is fine). */
static void free_secret(uint8_t *p, size_t len)
{
	if (p != NULL) {
		sodium_memzero(p, len);
		free(p);
	}
}

int mls_encrypt_with_label(uint8_t kem_output[MLS_KEM_PUB_LEN], uint8_t **out_ct,
			   size_t *out_ct_len, const uint8_t pub[MLS_KEM_PUB_LEN],
			   const char *label, const uint8_t *context, size_t context_len,
			   const uint8_t *pt, size_t pt_len)
{
	struct hpke_params params = {.mode = HPKE_MODE_BASE, .aead_id = HPKE_AEAD_CHACHA20POLY1305};
	struct hpke_ctx hpke;
	struct bytes_writer info;
	uint8_t *ct = NULL;
	size_t ct_len = 0;
	int rc;

	hpke_ctx_init(&hpke);
	bytes_writer_init(&info, 0, BYTES_WIPE);
	if (kem_output == NULL || out_ct == NULL || out_ct_len == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(kem_output, MLS_KEM_PUB_LEN);
	*out_ct = NULL;
	*out_ct_len = 0;
	if (pub == NULL || (pt == NULL && pt_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if (pt_len > SIZE_MAX - HPKE_NT) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((rc = encode_label_pair(&info, 0, 0, label, 1, context, context_len)) != 0) {
		goto out;
	}
	params.info = bytes_writer_data(&info);
	params.info_len = bytes_writer_len(&info);
	ct_len = pt_len + HPKE_NT;
	if ((ct = malloc(ct_len)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	if ((rc = hpke_setup_sender(&hpke, kem_output, &params, pub)) != 0 ||
	    (rc = hpke_seal(&hpke, ct, NULL, 0, pt, pt_len)) != 0) {
		goto out;
	}
	*out_ct = ct;
	*out_ct_len = ct_len;
	ct = NULL;
out:
	free_secret(ct, ct_len);
	hpke_ctx_cleanup(&hpke);
	bytes_writer_cleanup(&info);
	if (rc != 0) {
		sodium_memzero(kem_output, MLS_KEM_PUB_LEN);
	}
	return rc;
}

int mls_decrypt_with_label(uint8_t **out_pt, size_t *out_pt_len,
			   const uint8_t priv[MLS_KEM_PRIV_LEN], const char *label,
			   const uint8_t *context, size_t context_len, const uint8_t *kem_output,
			   size_t kem_output_len, const uint8_t *ct, size_t ct_len)
{
	struct hpke_params params = {.mode = HPKE_MODE_BASE, .aead_id = HPKE_AEAD_CHACHA20POLY1305};
	struct hpke_ctx hpke;
	struct bytes_writer info;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int rc;

	hpke_ctx_init(&hpke);
	bytes_writer_init(&info, 0, BYTES_WIPE);
	if (out_pt == NULL || out_pt_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*out_pt = NULL;
	*out_pt_len = 0;
	if (priv == NULL || (kem_output == NULL && kem_output_len != 0) ||
	    (ct == NULL && ct_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if (kem_output_len != MLS_KEM_PUB_LEN || ct_len < HPKE_NT) {
		return HALQA_ERR_MALFORMED;
	}
	if ((rc = encode_label_pair(&info, 0, 0, label, 1, context, context_len)) != 0) {
		goto out;
	}
	params.info = bytes_writer_data(&info);
	params.info_len = bytes_writer_len(&info);
	pt_len = ct_len - HPKE_NT;
	/* One byte at least, so an empty plaintext still gives a non-NULL buffer. */
	if ((pt = malloc(pt_len != 0 ? pt_len : 1)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	if ((rc = hpke_setup_recipient(&hpke, &params, kem_output, kem_output_len, priv)) != 0 ||
	    (rc = hpke_open(&hpke, pt, NULL, 0, ct, ct_len)) != 0) {
		goto out;
	}
	*out_pt = pt;
	*out_pt_len = pt_len;
	pt = NULL;
out:
	free_secret(pt, pt_len);
	hpke_ctx_cleanup(&hpke);
	bytes_writer_cleanup(&info);
	return rc;
}
