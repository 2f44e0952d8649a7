/*
 * hpke.h: Hybrid Public Key Encryption (RFC 9180) for one KEM and KDF,
 * DHKEM(X25519, HKDF-SHA256) (0x0020) with HKDF-SHA256 (0x0001), and two
 * AEADs: ChaCha20Poly1305 (0x0003) and export-only (0xFFFF). All four modes
 * are implemented: base, psk, auth and auth_psk. MLS (RFC 9420 5.1.3) uses
 * base mode with ChaCha20Poly1305 through mls_encrypt_with_label.
 *
 * Flow. The sender calls hpke_setup_sender with the recipient's public key
 * and gets |enc| (the KEM output to send) and a context; the recipient calls
 * hpke_setup_recipient with |enc| and its private key. Each context then
 * seals / opens messages in order (the nonce is base_nonce XOR the sequence
 * number, RFC 9180 5.2) and can export secrets (5.3).
 *
 * The lower steps, hpke_encap / hpke_decap, hpke_key_schedule and its parts
 * hpke_key_schedule_context and hpke_schedule_secret, are public so that the
 * test vectors can check each intermediate value; callers normally need
 * only the setup functions.
 *
 * Contexts. struct hpke_ctx is caller-owned: hpke_ctx_init gives an empty
 * context (cannot fail), a setup fills it, hpke_ctx_cleanup wipes it (safe
 * in any state, call it on every path). A context in which setup failed is
 * empty. Its fields are visible for the vector tests; do not write them.
 *
 * Errors. HALQA_ERR_ARG: NULL pointer with a non-zero length, unknown mode
 * or AEAD id, PSK inputs that do not fit the mode (RFC 9180 5.1,
 * VerifyPSKInputs; we also require a PSK of at least 32 bytes, the entropy
 * the RFC demands), |out_len| out of range, a context not set up or used in
 * the wrong role. HALQA_ERR_MALFORMED: |enc| not 32 bytes, ciphertext
 * shorter than the tag. HALQA_ERR_CRYPTO: an X25519 result of all zeros (a
 * small-order public key, RFC 9180 7.1.4) or a ciphertext that does not
 * authenticate. HALQA_ERR_UNSUPPORTED: seal or open on an export-only
 * context. HALQA_ERR_LIMIT: the sequence number is exhausted.
 * HALQA_ERR_TOO_LARGE: hpke_seal of a plaintext longer than the AEAD
 * allows (crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX). Outputs are
 * zeroed on failure, and every secret intermediate is wiped on every path.
 */
#ifndef HALQA_HPKE_H
#define HALQA_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

#define HPKE_KEM_X25519_SHA256     0x0020
#define HPKE_KDF_HKDF_SHA256       0x0001
#define HPKE_AEAD_CHACHA20POLY1305 0x0003
#define HPKE_AEAD_EXPORT_ONLY      0xffff

#define HPKE_NSECRET 32 /* KEM shared secret */
#define HPKE_NENC    32 /* KEM output (enc) */
#define HPKE_NPK     32 /* public key */
#define HPKE_NSK     32 /* private key */
#define HPKE_NH      32 /* KDF output */
#define HPKE_NK      32 /* AEAD key */
#define HPKE_NN      12 /* AEAD nonce */
#define HPKE_NT      16 /* AEAD tag */
/* key_schedule_context = mode || psk_id_hash || info_hash */
#define HPKE_KSC_LEN (1 + 2 * HPKE_NH)
/* Export can return at most 255 * Nh bytes (RFC 9180 4, Expand limit). */
#define HPKE_EXPORT_MAX (255 * HPKE_NH)

enum hpke_mode {
	HPKE_MODE_BASE = 0x00,
	HPKE_MODE_PSK = 0x01,
	HPKE_MODE_AUTH = 0x02,
	HPKE_MODE_AUTH_PSK = 0x03,
};

enum hpke_role {
	HPKE_ROLE_NONE = 0, /* not set up */
	HPKE_ROLE_SENDER = 1,
	HPKE_ROLE_RECIPIENT = 2,
};

/*
 * The parameters of one setup, borrowed for the call. |info| is the
 * application info. |psk|/|psk_id| are for the psk and auth_psk modes
 * (NULL/0 otherwise). In the auth modes the sender passes its private key
 * |sk_s| (its public key is derived from it) and the recipient passes the
 * sender's public key |pk_s|; other modes leave both NULL.
 */
struct hpke_params {
	enum hpke_mode mode;
	uint16_t aead_id;
	const uint8_t *info;
	size_t info_len;
	const uint8_t *psk;
	size_t psk_len;
	const uint8_t *psk_id;
	size_t psk_id_len;
	const uint8_t *sk_s; /* HPKE_NSK bytes: auth modes, sender side */
	const uint8_t *pk_s; /* HPKE_NPK bytes: auth modes, recipient side */
};

/* An HPKE encryption context (RFC 9180 5.2), one role, one direction. */
struct hpke_ctx {
	enum hpke_role role;
	uint16_t aead_id;
	uint64_t seq;
	uint8_t key[HPKE_NK];        /* all zero for export-only */
	uint8_t base_nonce[HPKE_NN]; /* all zero for export-only */
	uint8_t exporter_secret[HPKE_NH];
};

/* hpke_ctx_init sets |ctx| empty. Cannot fail. */
void hpke_ctx_init(struct hpke_ctx *ctx);

/* hpke_ctx_cleanup wipes |ctx| and leaves it empty. Safe in any state. */
void hpke_ctx_cleanup(struct hpke_ctx *ctx);

/*
 * hpke_derive_key_pair is DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256)
 * (RFC 9180 7.1.3). |ikm_len| must be at least HPKE_NSK (7.1.3: "MUST have
 * length at least Nsk"), else HALQA_ERR_ARG.
 */
HALQA_MUST_CHECK int hpke_derive_key_pair(uint8_t sk[HPKE_NSK], uint8_t pk[HPKE_NPK],
					  const uint8_t *ikm, size_t ikm_len);

/* hpke_public_key computes the X25519 public key of |sk|. */
HALQA_MUST_CHECK int hpke_public_key(uint8_t pk[HPKE_NPK], const uint8_t sk[HPKE_NSK]);

/*
 * hpke_encap is Encap(pkR) (|sk_s| NULL) or AuthEncap(pkR, skS) (RFC 9180
 * 4.1) with a fresh random ephemeral key: |shared_secret| and |enc|.
 */
HALQA_MUST_CHECK int hpke_encap(uint8_t shared_secret[HPKE_NSECRET], uint8_t enc[HPKE_NENC],
				const uint8_t pk_r[HPKE_NPK], const uint8_t *sk_s);

/*
 * hpke_encap_derand is hpke_encap with the ephemeral key pair derived from
 * |ikm_e| by DeriveKeyPair. FOR TESTS AND TEST VECTORS ONLY: a repeated
 * |ikm_e| repeats the ephemeral key and destroys confidentiality.
 */
HALQA_MUST_CHECK int hpke_encap_derand(uint8_t shared_secret[HPKE_NSECRET], uint8_t enc[HPKE_NENC],
				       const uint8_t pk_r[HPKE_NPK], const uint8_t *sk_s,
				       const uint8_t *ikm_e, size_t ikm_e_len);

/*
 * hpke_decap is Decap(enc, skR) (|pk_s| NULL) or AuthDecap(enc, skR, pkS).
 * |enc_len| must be HPKE_NENC (HALQA_ERR_MALFORMED).
 */
HALQA_MUST_CHECK int hpke_decap(uint8_t shared_secret[HPKE_NSECRET], const uint8_t *enc,
				size_t enc_len, const uint8_t sk_r[HPKE_NSK], const uint8_t *pk_s);

/*
 * hpke_key_schedule_context computes key_schedule_context = mode ||
 * LabeledExtract("", "psk_id_hash", psk_id) || LabeledExtract("",
 * "info_hash", info) for |p| (RFC 9180 5.1), after checking the PSK inputs.
 */
HALQA_MUST_CHECK int hpke_key_schedule_context(uint8_t out[HPKE_KSC_LEN],
					       const struct hpke_params *p);

/*
 * hpke_schedule_secret computes secret = LabeledExtract(shared_secret,
 * "secret", psk) (RFC 9180 5.1) for |p|, after checking the PSK inputs.
 */
HALQA_MUST_CHECK int hpke_schedule_secret(uint8_t out[HPKE_NH],
					  const uint8_t shared_secret[HPKE_NSECRET],
					  const struct hpke_params *p);

/*
 * hpke_key_schedule is KeySchedule<role>(mode, shared_secret, info, psk,
 * psk_id) (RFC 9180 5.1): it sets |ctx| up with key, base_nonce (not for
 * export-only), exporter_secret and sequence number 0. |ctx| must be
 * initialised; on failure it is left empty.
 */
HALQA_MUST_CHECK int hpke_key_schedule(struct hpke_ctx *ctx, enum hpke_role role,
				       const struct hpke_params *p,
				       const uint8_t shared_secret[HPKE_NSECRET]);

/*
 * hpke_setup_sender is SetupBaseS / SetupPSKS / SetupAuthS / SetupAuthPSKS
 * (RFC 9180 5.1.1-5.1.4) by |p->mode|: encapsulates to |pk_r|, writes the
 * KEM output to |enc| and sets up |ctx| as sender.
 */
HALQA_MUST_CHECK int hpke_setup_sender(struct hpke_ctx *ctx, uint8_t enc[HPKE_NENC],
				       const struct hpke_params *p, const uint8_t pk_r[HPKE_NPK]);

/*
 * hpke_setup_sender_derand is hpke_setup_sender with the ephemeral key
 * derived from |ikm_e|. FOR TESTS AND TEST VECTORS ONLY (see
 * hpke_encap_derand).
 */
HALQA_MUST_CHECK int hpke_setup_sender_derand(struct hpke_ctx *ctx, uint8_t enc[HPKE_NENC],
					      const struct hpke_params *p,
					      const uint8_t pk_r[HPKE_NPK], const uint8_t *ikm_e,
					      size_t ikm_e_len);

/*
 * hpke_setup_recipient is SetupBaseR .. SetupAuthPSKR: decapsulates |enc|
 * (exactly HPKE_NENC bytes) with |sk_r| and sets up |ctx| as recipient.
 */
HALQA_MUST_CHECK int hpke_setup_recipient(struct hpke_ctx *ctx, const struct hpke_params *p,
					  const uint8_t *enc, size_t enc_len,
					  const uint8_t sk_r[HPKE_NSK]);

/*
 * hpke_ctx_nonce computes the nonce of the next message, base_nonce XOR
 * I2OSP(seq, Nn) (RFC 9180 5.2, ComputeNonce).
 */
void hpke_ctx_nonce(const struct hpke_ctx *ctx, uint8_t nonce[HPKE_NN]);

/*
 * hpke_seal encrypts |pt| with |aad| on a sender context (RFC 9180 5.2,
 * ContextS.Seal) into |ct|, which must have room for |pt_len| + HPKE_NT
 * bytes, and advances the sequence number. |ct| and |pt| may be the same
 * buffer. HALQA_ERR_LIMIT when the sequence number would overflow: we stop
 * at 2^64 - 1 messages, earlier than the RFC's 2^96 - 1, which no context
 * ever reaches; HALQA_ERR_TOO_LARGE for a plaintext longer than the AEAD
 * allows.
 */
HALQA_MUST_CHECK int hpke_seal(struct hpke_ctx *ctx, uint8_t *ct, const uint8_t *aad,
			       size_t aad_len, const uint8_t *pt, size_t pt_len);

/*
 * hpke_open authenticates and decrypts |ct| with |aad| on a recipient
 * context (ContextR.Open) into |pt|, which must have room for |ct_len| -
 * HPKE_NT bytes, and advances the sequence number on success only. On
 * failure (HALQA_ERR_CRYPTO) |pt| is zeroed and the context is unchanged.
 */
HALQA_MUST_CHECK int hpke_open(struct hpke_ctx *ctx, uint8_t *pt, const uint8_t *aad,
			       size_t aad_len, const uint8_t *ct, size_t ct_len);

/*
 * hpke_export is Context.Export(exporter_context, L) (RFC 9180 5.3):
 * |out_len| = L bytes, at most HPKE_EXPORT_MAX. Works in both roles and
 * with every AEAD.
 */
HALQA_MUST_CHECK int hpke_export(const struct hpke_ctx *ctx, uint8_t *out, size_t out_len,
				 const uint8_t *exporter_context, size_t exporter_context_len);

#endif
