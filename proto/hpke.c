/*
 * hpke.c: RFC 9180 HPKE with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
 * ChaCha20Poly1305 or export-only, in all four modes.
 *
 * The RFC's pseudocode maps one to one onto the static helpers below:
 * labeled_extract / labeled_expand (section 4), dh and extract_and_expand
 * (4.1), the KEM with an explicit ephemeral key pair so that the random and
 * the deterministic (test) encapsulations share one code path, and the key
 * schedule (5.1) whose two halves are exported for the vector tests.
 * LabeledExtract and LabeledExpand feed their prefixed inputs to HKDF as
 * spans, so no concatenated copy of a secret is ever built.
 *
 * Secrets in flight: DH outputs, the ephemeral private key, eae_prk,
 * dkp_prk, the schedule's secret and the nonce live on the stack and are
 * wiped by the single exit of each function. X25519 refuses an all-zero
 * result (libsodium's crypto_scalarmult returns -1 for small-order points),
 * which RFC 9180 7.1.4 requires: a contributory check that stops a peer from
 * forcing a known shared secret.
 */
#include "halqa/hpke.h"

#include <sodium.h>
#include <string.h>

#include "halqa/hkdf.h"

#define KEM_SUITE_LEN  5  /* "KEM" || I2OSP(kem_id, 2) */
#define HPKE_SUITE_LEN 10 /* "HPKE" || kem_id || kdf_id || aead_id */
#define SUITE_MAX      HPKE_SUITE_LEN
#define MAX_INFO_SPANS 3

static const uint8_t version_label[] = {'H', 'P', 'K', 'E', '-', 'v', '1'};

struct suite {
	uint8_t id[SUITE_MAX];
	size_t len;
};

static void kem_suite(struct suite *s)
{
	s->id[0] = 'K';
	s->id[1] = 'E';
	s->id[2] = 'M';
	s->id[3] = (uint8_t)(HPKE_KEM_X25519_SHA256 >> 8);
	s->id[4] = (uint8_t)(HPKE_KEM_X25519_SHA256 & 0xff);
	s->len = KEM_SUITE_LEN;
}

static void hpke_suite(struct suite *s, uint16_t aead_id)
{
	s->id[0] = 'H';
	s->id[1] = 'P';
	s->id[2] = 'K';
	s->id[3] = 'E';
	s->id[4] = (uint8_t)(HPKE_KEM_X25519_SHA256 >> 8);
	s->id[5] = (uint8_t)(HPKE_KEM_X25519_SHA256 & 0xff);
	s->id[6] = (uint8_t)(HPKE_KDF_HKDF_SHA256 >> 8);
	s->id[7] = (uint8_t)(HPKE_KDF_HKDF_SHA256 & 0xff);
	s->id[8] = (uint8_t)(aead_id >> 8);
	s->id[9] = (uint8_t)(aead_id & 0xff);
	s->len = HPKE_SUITE_LEN;
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm) */
static int labeled_extract(uint8_t out[HPKE_NH], const struct suite *s, const uint8_t *salt,
			   size_t salt_len, const char *label, const uint8_t *ikm, size_t ikm_len)
{
	const struct hkdf_span spans[] = {
	    {version_label, sizeof version_label},
	    {s->id, s->len},
	    {(const uint8_t *)label, strlen(label)},
	    {ikm, ikm_len},
	};

	return hkdf_extract_spans(out, salt, salt_len, spans, sizeof spans / sizeof spans[0]);
}

/*
 * LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1"
 * || suite_id || label || info, L), with info given as up to
 * MAX_INFO_SPANS pieces (the KEM context is enc || pkR [|| pkS]).
 */
static int labeled_expand(uint8_t *out, size_t out_len, const uint8_t prk[HPKE_NH],
			  const struct suite *s, const char *label, const struct hkdf_span *info,
			  size_t num_info)
{
	struct hkdf_span spans[4 + MAX_INFO_SPANS];
	uint8_t len_be[2];
	size_t n = 0;

	if (out_len > 0xffff || num_info > MAX_INFO_SPANS) {
		return HALQA_ERR_ARG;
	}
	len_be[0] = (uint8_t)(out_len >> 8);
	len_be[1] = (uint8_t)(out_len & 0xff);
	spans[n++] = (struct hkdf_span){len_be, sizeof len_be};
	spans[n++] = (struct hkdf_span){version_label, sizeof version_label};
	spans[n++] = (struct hkdf_span){s->id, s->len};
	spans[n++] = (struct hkdf_span){(const uint8_t *)label, strlen(label)};
	for (size_t i = 0; i < num_info; i++) {
		spans[n++] = info[i];
	}
	return hkdf_expand_spans(out, out_len, prk, spans, n);
}

/* DH(sk, pk) for X25519; an all-zero result is refused (RFC 9180 7.1.4). */
static int dh(uint8_t out[32], const uint8_t sk[HPKE_NSK], const uint8_t pk[HPKE_NPK])
{
	if (crypto_scalarmult(out, sk, pk) != 0) {
		sodium_memzero(out, 32);
		return HALQA_ERR_CRYPTO;
	}
	return HALQA_OK;
}

int hpke_public_key(uint8_t pk[HPKE_NPK], const uint8_t sk[HPKE_NSK])
{
	if (pk == NULL || sk == NULL) {
		return HALQA_ERR_ARG;
	}
	if (crypto_scalarmult_base(pk, sk) != 0) {
		sodium_memzero(pk, HPKE_NPK);
		return HALQA_ERR_CRYPTO;
	}
	return HALQA_OK;
}

int hpke_derive_key_pair(uint8_t sk[HPKE_NSK], uint8_t pk[HPKE_NPK], const uint8_t *ikm,
			 size_t ikm_len)
{
	struct suite s;
	uint8_t dkp_prk[HPKE_NH];
	int rc;

	if (sk == NULL || pk == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(sk, HPKE_NSK);
	sodium_memzero(pk, HPKE_NPK);
	if (ikm == NULL || ikm_len < HPKE_NSK) {
		return HALQA_ERR_ARG;
	}
	kem_suite(&s);
	/* RFC 9180 7.1.3: X25519 takes the expanded bytes as the scalar as is;
	 * clamping happens inside every scalar multiplication. */
	if ((rc = labeled_extract(dkp_prk, &s, NULL, 0, "dkp_prk", ikm, ikm_len)) != 0 ||
	    (rc = labeled_expand(sk, HPKE_NSK, dkp_prk, &s, "sk", NULL, 0)) != 0 ||
	    (rc = hpke_public_key(pk, sk)) != 0) {
		goto out;
	}
out:
	sodium_memzero(dkp_prk, sizeof dkp_prk);
	if (rc != 0) {
		sodium_memzero(sk, HPKE_NSK);
		sodium_memzero(pk, HPKE_NPK);
	}
	return rc;
}

/*
 * ExtractAndExpand(dh, kem_context): eae_prk = LabeledExtract("", "eae_prk",
 * dh); shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context,
 * Nsecret). |kem_context| is enc || pkR, and || pkS in the auth modes.
 */
static int extract_and_expand(uint8_t shared_secret[HPKE_NSECRET], const uint8_t *dh_out,
			      size_t dh_len, const uint8_t enc[HPKE_NENC],
			      const uint8_t pk_r[HPKE_NPK], const uint8_t *pk_s)
{
	const struct hkdf_span kem_context[] = {
	    {enc, HPKE_NENC},
	    {pk_r, HPKE_NPK},
	    {pk_s, pk_s != NULL ? HPKE_NPK : 0},
	};
	struct suite s;
	uint8_t eae_prk[HPKE_NH];
	int rc;

	kem_suite(&s);
	if ((rc = labeled_extract(eae_prk, &s, NULL, 0, "eae_prk", dh_out, dh_len)) == 0) {
		rc = labeled_expand(shared_secret, HPKE_NSECRET, eae_prk, &s, "shared_secret",
				    kem_context, 3);
	}
	sodium_memzero(eae_prk, sizeof eae_prk);
	return rc;
}

/*
 * Encap / AuthEncap (RFC 9180 4.1) with the ephemeral key pair given.
 * enc = pkE; dh = DH(skE, pkR) [|| DH(skS, pkR)].
 */
static int encap_with(uint8_t shared_secret[HPKE_NSECRET], uint8_t enc[HPKE_NENC],
		      const uint8_t pk_r[HPKE_NPK], const uint8_t *sk_s,
		      const uint8_t sk_e[HPKE_NSK], const uint8_t pk_e[HPKE_NPK])
{
	uint8_t dh_out[64];
	uint8_t pk_s[HPKE_NPK];
	size_t dh_len = 32;
	int rc;

	if ((rc = dh(dh_out, sk_e, pk_r)) != 0) {
		goto out;
	}
	if (sk_s != NULL) {
		if ((rc = dh(dh_out + 32, sk_s, pk_r)) != 0 ||
		    (rc = hpke_public_key(pk_s, sk_s)) != 0) {
			goto out;
		}
		dh_len = 64;
	}
	memcpy(enc, pk_e, HPKE_NENC);
	rc = extract_and_expand(shared_secret, dh_out, dh_len, enc, pk_r,
				sk_s != NULL ? pk_s : NULL);
out:
	sodium_memzero(dh_out, sizeof dh_out);
	if (rc != 0) {
		sodium_memzero(shared_secret, HPKE_NSECRET);
		sodium_memzero(enc, HPKE_NENC);
	}
	return rc;
}

int hpke_encap_derand(uint8_t shared_secret[HPKE_NSECRET], uint8_t enc[HPKE_NENC],
		      const uint8_t pk_r[HPKE_NPK], const uint8_t *sk_s, const uint8_t *ikm_e,
		      size_t ikm_e_len)
{
	uint8_t sk_e[HPKE_NSK], pk_e[HPKE_NPK];
	int rc;

	if (shared_secret == NULL || enc == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(shared_secret, HPKE_NSECRET);
	sodium_memzero(enc, HPKE_NENC);
	if (pk_r == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = hpke_derive_key_pair(sk_e, pk_e, ikm_e, ikm_e_len)) == 0) {
		rc = encap_with(shared_secret, enc, pk_r, sk_s, sk_e, pk_e);
	}
	sodium_memzero(sk_e, sizeof sk_e);
	return rc;
}

int hpke_encap(uint8_t shared_secret[HPKE_NSECRET], uint8_t enc[HPKE_NENC],
	       const uint8_t pk_r[HPKE_NPK], const uint8_t *sk_s)
{
	uint8_t sk_e[HPKE_NSK], pk_e[HPKE_NPK];
	int rc;

	if (shared_secret == NULL || enc == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(shared_secret, HPKE_NSECRET);
	sodium_memzero(enc, HPKE_NENC);
	if (pk_r == NULL) {
		return HALQA_ERR_ARG;
	}
	/* GenerateKeyPair: every 32-byte string is an X25519 private key. */
	randombytes_buf(sk_e, sizeof sk_e);
	if ((rc = hpke_public_key(pk_e, sk_e)) == 0) {
		rc = encap_with(shared_secret, enc, pk_r, sk_s, sk_e, pk_e);
	}
	sodium_memzero(sk_e, sizeof sk_e);
	return rc;
}

/* Decap / AuthDecap: dh = DH(skR, pkE) [|| DH(skR, pkS)], kem_context = enc || pkR [|| pkS]. */
int hpke_decap(uint8_t shared_secret[HPKE_NSECRET], const uint8_t *enc, size_t enc_len,
	       const uint8_t sk_r[HPKE_NSK], const uint8_t *pk_s)
{
	uint8_t dh_out[64];
	uint8_t pk_r[HPKE_NPK];
	size_t dh_len = 32;
	int rc;

	if (shared_secret == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(shared_secret, HPKE_NSECRET);
	if (sk_r == NULL || (enc == NULL && enc_len != 0)) {
		return HALQA_ERR_ARG;
	}
	/* DeserializePublicKey: an X25519 public key is exactly 32 bytes. */
	if (enc_len != HPKE_NENC) {
		return HALQA_ERR_MALFORMED;
	}
	if ((rc = dh(dh_out, sk_r, enc)) != 0) {
		goto out;
	}
	if (pk_s != NULL) {
		if ((rc = dh(dh_out + 32, sk_r, pk_s)) != 0) {
			goto out;
		}
		dh_len = 64;
	}
	if ((rc = hpke_public_key(pk_r, sk_r)) != 0) {
		goto out;
	}
	rc = extract_and_expand(shared_secret, dh_out, dh_len, enc, pk_r, pk_s);
out:
	sodium_memzero(dh_out, sizeof dh_out);
	if (rc != 0) {
		sodium_memzero(shared_secret, HPKE_NSECRET);
	}
	return rc;
}

void hpke_ctx_init(struct hpke_ctx *ctx)
{
	sodium_memzero(ctx, sizeof *ctx);
	ctx->role = HPKE_ROLE_NONE;
}

void hpke_ctx_cleanup(struct hpke_ctx *ctx)
{
	if (ctx != NULL) {
		hpke_ctx_init(ctx);
	}
}

static int aead_supported(uint16_t aead_id)
{
	return aead_id == HPKE_AEAD_CHACHA20POLY1305 || aead_id == HPKE_AEAD_EXPORT_ONLY;
}

static int mode_has_psk(enum hpke_mode mode)
{
	return mode == HPKE_MODE_PSK || mode == HPKE_MODE_AUTH_PSK;
}

static int mode_has_auth(enum hpke_mode mode)
{
	return mode == HPKE_MODE_AUTH || mode == HPKE_MODE_AUTH_PSK;
}

/*
 * The checks every step shares: a known mode and AEAD, readable buffers, and
 * VerifyPSKInputs (RFC 9180 5.1): PSK and PSK id come together, exactly in
 * the psk modes; a PSK has at least 32 bytes (the RFC's entropy floor).
 */
static int check_params(const struct hpke_params *p)
{
	if (p == NULL) {
		return HALQA_ERR_ARG;
	}
	if (p->mode != HPKE_MODE_BASE && p->mode != HPKE_MODE_PSK && p->mode != HPKE_MODE_AUTH &&
	    p->mode != HPKE_MODE_AUTH_PSK) {
		return HALQA_ERR_ARG;
	}
	if (!aead_supported(p->aead_id)) {
		return HALQA_ERR_ARG;
	}
	if ((p->info == NULL && p->info_len != 0) || (p->psk == NULL && p->psk_len != 0) ||
	    (p->psk_id == NULL && p->psk_id_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if ((p->psk_len != 0) != (p->psk_id_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if ((p->psk_len != 0) != mode_has_psk(p->mode)) {
		return HALQA_ERR_ARG;
	}
	if (mode_has_psk(p->mode) && p->psk_len < 32) {
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

int hpke_key_schedule_context(uint8_t out[HPKE_KSC_LEN], const struct hpke_params *p)
{
	struct suite s;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(out, HPKE_KSC_LEN);
	if ((rc = check_params(p)) != 0) {
		return rc;
	}
	hpke_suite(&s, p->aead_id);
	out[0] = (uint8_t)p->mode;
	if ((rc = labeled_extract(out + 1, &s, NULL, 0, "psk_id_hash", p->psk_id, p->psk_id_len)) !=
		0 ||
	    (rc = labeled_extract(out + 1 + HPKE_NH, &s, NULL, 0, "info_hash", p->info,
				  p->info_len)) != 0) {
		sodium_memzero(out, HPKE_KSC_LEN);
	}
	return rc;
}

int hpke_schedule_secret(uint8_t out[HPKE_NH], const uint8_t shared_secret[HPKE_NSECRET],
			 const struct hpke_params *p)
{
	struct suite s;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	sodium_memzero(out, HPKE_NH);
	if (shared_secret == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_params(p)) != 0) {
		return rc;
	}
	hpke_suite(&s, p->aead_id);
	return labeled_extract(out, &s, shared_secret, HPKE_NSECRET, "secret", p->psk, p->psk_len);
}

int hpke_key_schedule(struct hpke_ctx *ctx, enum hpke_role role, const struct hpke_params *p,
		      const uint8_t shared_secret[HPKE_NSECRET])
{
	uint8_t ksc[HPKE_KSC_LEN];
	uint8_t secret[HPKE_NH];
	struct hkdf_span info = {ksc, sizeof ksc};
	struct suite s;
	int rc;

	if (ctx == NULL) {
		return HALQA_ERR_ARG;
	}
	hpke_ctx_cleanup(ctx);
	if (role != HPKE_ROLE_SENDER && role != HPKE_ROLE_RECIPIENT) {
		return HALQA_ERR_ARG;
	}
	if ((rc = hpke_key_schedule_context(ksc, p)) != 0 ||
	    (rc = hpke_schedule_secret(secret, shared_secret, p)) != 0) {
		goto out;
	}
	hpke_suite(&s, p->aead_id);
	/* Export-only (0xFFFF) has Nk = Nn = 0: no key, no nonce. */
	if (p->aead_id != HPKE_AEAD_EXPORT_ONLY) {
		if ((rc = labeled_expand(ctx->key, HPKE_NK, secret, &s, "key", &info, 1)) != 0 ||
		    (rc = labeled_expand(ctx->base_nonce, HPKE_NN, secret, &s, "base_nonce", &info,
					 1)) != 0) {
			goto out;
		}
	}
	if ((rc = labeled_expand(ctx->exporter_secret, HPKE_NH, secret, &s, "exp", &info, 1)) !=
	    0) {
		goto out;
	}
	ctx->aead_id = p->aead_id;
	ctx->seq = 0;
	ctx->role = role;
out:
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(ksc, sizeof ksc);
	if (rc != 0) {
		hpke_ctx_cleanup(ctx);
	}
	return rc;
}

/* The auth keys must be present exactly in the auth modes, on the right side. */
static int check_auth_keys(const struct hpke_params *p, enum hpke_role role)
{
	int want = mode_has_auth(p->mode);

	if (role == HPKE_ROLE_SENDER) {
		return (p->sk_s != NULL) == want && p->pk_s == NULL ? HALQA_OK : HALQA_ERR_ARG;
	}
	return (p->pk_s != NULL) == want && p->sk_s == NULL ? HALQA_OK : HALQA_ERR_ARG;
}

static int setup_sender(struct hpke_ctx *ctx, uint8_t enc[HPKE_NENC], const struct hpke_params *p,
			const uint8_t pk_r[HPKE_NPK], const uint8_t *ikm_e, size_t ikm_e_len,
			int derand)
{
	uint8_t shared_secret[HPKE_NSECRET];
	int rc;

	if (ctx == NULL || enc == NULL) {
		return HALQA_ERR_ARG;
	}
	hpke_ctx_cleanup(ctx);
	sodium_memzero(enc, HPKE_NENC);
	if (pk_r == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_params(p)) != 0 || (rc = check_auth_keys(p, HPKE_ROLE_SENDER)) != 0) {
		return rc;
	}
	if (derand) {
		rc = hpke_encap_derand(shared_secret, enc, pk_r, p->sk_s, ikm_e, ikm_e_len);
	} else {
		rc = hpke_encap(shared_secret, enc, pk_r, p->sk_s);
	}
	if (rc == 0) {
		rc = hpke_key_schedule(ctx, HPKE_ROLE_SENDER, p, shared_secret);
	}
	sodium_memzero(shared_secret, sizeof shared_secret);
	if (rc != 0) {
		sodium_memzero(enc, HPKE_NENC);
	}
	return rc;
}

int hpke_setup_sender(struct hpke_ctx *ctx, uint8_t enc[HPKE_NENC], const struct hpke_params *p,
		      const uint8_t pk_r[HPKE_NPK])
{
	return setup_sender(ctx, enc, p, pk_r, NULL, 0, 0);
}

int hpke_setup_sender_derand(struct hpke_ctx *ctx, uint8_t enc[HPKE_NENC],
			     const struct hpke_params *p, const uint8_t pk_r[HPKE_NPK],
			     const uint8_t *ikm_e, size_t ikm_e_len)
{
	return setup_sender(ctx, enc, p, pk_r, ikm_e, ikm_e_len, 1);
}

int hpke_setup_recipient(struct hpke_ctx *ctx, const struct hpke_params *p, const uint8_t *enc,
			 size_t enc_len, const uint8_t sk_r[HPKE_NSK])
{
	uint8_t shared_secret[HPKE_NSECRET];
	int rc;

	if (ctx == NULL) {
		return HALQA_ERR_ARG;
	}
	hpke_ctx_cleanup(ctx);
	if ((rc = check_params(p)) != 0 || (rc = check_auth_keys(p, HPKE_ROLE_RECIPIENT)) != 0) {
		return rc;
	}
	if ((rc = hpke_decap(shared_secret, enc, enc_len, sk_r, p->pk_s)) == 0) {
		rc = hpke_key_schedule(ctx, HPKE_ROLE_RECIPIENT, p, shared_secret);
	}
	sodium_memzero(shared_secret, sizeof shared_secret);
	return rc;
}

void hpke_ctx_nonce(const struct hpke_ctx *ctx, uint8_t nonce[HPKE_NN])
{
	uint64_t seq = ctx->seq;

	/* I2OSP(seq, Nn) is big-endian; seq fits in the low 8 bytes. */
	memcpy(nonce, ctx->base_nonce, HPKE_NN);
	for (size_t i = 0; i < 8; i++) {
		nonce[HPKE_NN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
	}
}

/* The common checks of seal and open: role, AEAD and sequence number. */
static int check_aead_ctx(const struct hpke_ctx *ctx, enum hpke_role role)
{
	if (ctx->role != role) {
		return HALQA_ERR_ARG;
	}
	if (ctx->aead_id == HPKE_AEAD_EXPORT_ONLY) {
		return HALQA_ERR_UNSUPPORTED;
	}
	/* IncrementSeq (RFC 9180 5.2) must never wrap: a repeated nonce under
	 * one key breaks ChaCha20Poly1305. We stop one message early. */
	if (ctx->seq == UINT64_MAX) {
		return HALQA_ERR_LIMIT;
	}
	return HALQA_OK;
}

int hpke_seal(struct hpke_ctx *ctx, uint8_t *ct, const uint8_t *aad, size_t aad_len,
	      const uint8_t *pt, size_t pt_len)
{
	uint8_t nonce[HPKE_NN];
	uint8_t empty = 0;
	unsigned long long ct_len;
	int rc;

	if (ctx == NULL || ct == NULL || (aad == NULL && aad_len != 0) ||
	    (pt == NULL && pt_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_aead_ctx(ctx, HPKE_ROLE_SENDER)) != 0) {
		return rc;
	}
	if (pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) {
		return HALQA_ERR_TOO_LARGE;
	}
	hpke_ctx_nonce(ctx, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(ct, &ct_len, pt != NULL ? pt : &empty, pt_len,
						  aad, aad_len, NULL, nonce, ctx->key);
	ctx->seq++;
	sodium_memzero(nonce, sizeof nonce);
	return HALQA_OK;
}

int hpke_open(struct hpke_ctx *ctx, uint8_t *pt, const uint8_t *aad, size_t aad_len,
	      const uint8_t *ct, size_t ct_len)
{
	uint8_t nonce[HPKE_NN];
	uint8_t empty = 0;
	unsigned long long pt_len;
	int rc;

	if (ctx == NULL || ct == NULL || (aad == NULL && aad_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if (ct_len < HPKE_NT) {
		return HALQA_ERR_MALFORMED;
	}
	if (pt == NULL && ct_len != HPKE_NT) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_aead_ctx(ctx, HPKE_ROLE_RECIPIENT)) != 0) {
		return rc;
	}
	hpke_ctx_nonce(ctx, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt != NULL ? pt : &empty, &pt_len, NULL, ct,
						      ct_len, aad, aad_len, nonce, ctx->key) != 0) {
		if (pt != NULL) {
			sodium_memzero(pt, ct_len - HPKE_NT);
		}
		rc = HALQA_ERR_CRYPTO;
		goto out;
	}
	ctx->seq++;
out:
	sodium_memzero(nonce, sizeof nonce);
	return rc;
}

int hpke_export(const struct hpke_ctx *ctx, uint8_t *out, size_t out_len,
		const uint8_t *exporter_context, size_t exporter_context_len)
{
	struct hkdf_span info = {exporter_context, exporter_context_len};
	struct suite s;
	int rc;

	if (out == NULL && out_len != 0) {
		return HALQA_ERR_ARG;
	}
	if (ctx == NULL || ctx->role == HPKE_ROLE_NONE || out_len > HPKE_EXPORT_MAX ||
	    (exporter_context == NULL && exporter_context_len != 0)) {
		if (out != NULL) {
			sodium_memzero(out, out_len);
		}
		return HALQA_ERR_ARG;
	}
	hpke_suite(&s, ctx->aead_id);
	if ((rc = labeled_expand(out, out_len, ctx->exporter_secret, &s, "sec", &info, 1)) != 0) {
		sodium_memzero(out, out_len);
	}
	return rc;
}
