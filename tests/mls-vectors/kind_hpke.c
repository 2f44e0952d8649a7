/*
 * kind_hpke.c: RFC 9180 HPKE against hpke.json (the RFC's own vectors for
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 and
 * export-only, modes base, psk, auth and auth_psk). Nothing is skipped.
 *
 * Per entry: DeriveKeyPair reproduces every key pair given (E, R and, in
 * the auth modes, S); the deterministic Encap/AuthEncap from ikmE gives enc
 * and shared_secret, and Decap/AuthDecap gives the same shared_secret; the
 * key schedule's key_schedule_context and secret, then the sender's and the
 * recipient's key, base_nonce and exporter_secret, are the given ones.
 * Every encryption (257 for ChaCha20Poly1305, sequence numbers 0..256) is
 * checked in order: the nonce of both contexts, the sender's Seal output
 * against ct, and the recipient's Open against pt; the first one is also
 * opened tampered, which must fail without advancing the sequence number.
 * Every export is checked on both contexts. Export-only contexts must
 * refuse Seal and Open.
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/hpke.h"

/* A fixed-size key field: present and exactly |len| bytes. */
static const uint8_t *key_field(struct vector_ctx *ctx, json_t *entry, const char *name, size_t len)
{
	size_t got;
	const uint8_t *p = vec_hex(ctx, entry, name, &got);

	if (p != NULL && got != len) {
		vec_fail(ctx, "%s is %zu bytes, want %zu", name, got, len);
		return NULL;
	}
	return p;
}

/* DeriveKeyPair(ikm<X>) must give sk<X>m and pk<X>m. */
static int check_key_pair(struct vector_ctx *ctx, json_t *entry, const char *ikm_name,
			  const char *sk_name, const char *pk_name)
{
	const uint8_t *ikm, *sk, *pk;
	size_t ikm_len;
	uint8_t our_sk[HPKE_NSK], our_pk[HPKE_NPK];
	int ok = 0;

	if ((ikm = vec_hex(ctx, entry, ikm_name, &ikm_len)) == NULL ||
	    (sk = key_field(ctx, entry, sk_name, HPKE_NSK)) == NULL ||
	    (pk = key_field(ctx, entry, pk_name, HPKE_NPK)) == NULL) {
		return 0;
	}
	if (vec_check_rc(ctx, ikm_name, hpke_derive_key_pair(our_sk, our_pk, ikm, ikm_len)) &&
	    vec_check_bytes(ctx, sk_name, our_sk, sizeof our_sk, sk, HPKE_NSK) &&
	    vec_check_bytes(ctx, pk_name, our_pk, sizeof our_pk, pk, HPKE_NPK)) {
		ok = 1;
	}
	sodium_memzero(our_sk, sizeof our_sk);
	return ok;
}

/* The context's key, base_nonce and exporter_secret against the entry. */
static int check_context(struct vector_ctx *ctx, json_t *entry, const struct hpke_ctx *c,
			 const char *who)
{
	static const uint8_t zero[HPKE_NK];
	const uint8_t *key, *nonce, *exp;
	size_t key_len, nonce_len, exp_len;
	char what[64];

	if ((key = vec_hex(ctx, entry, "key", &key_len)) == NULL ||
	    (nonce = vec_hex(ctx, entry, "base_nonce", &nonce_len)) == NULL ||
	    (exp = vec_hex(ctx, entry, "exporter_secret", &exp_len)) == NULL) {
		return 0;
	}
	if (c->aead_id == HPKE_AEAD_EXPORT_ONLY) {
		/* Nk = Nn = 0: the vectors give empty strings, we keep zeros. */
		if (key_len != 0 || nonce_len != 0 || sodium_memcmp(c->key, zero, HPKE_NK) != 0 ||
		    sodium_memcmp(c->base_nonce, zero, HPKE_NN) != 0) {
			vec_fail(ctx, "%s: export-only context has a key or nonce", who);
			return 0;
		}
	} else {
		snprintf(what, sizeof what, "%s key", who);
		if (!vec_check_bytes(ctx, what, c->key, HPKE_NK, key, key_len)) {
			return 0;
		}
		snprintf(what, sizeof what, "%s base_nonce", who);
		if (!vec_check_bytes(ctx, what, c->base_nonce, HPKE_NN, nonce, nonce_len)) {
			return 0;
		}
	}
	snprintf(what, sizeof what, "%s exporter_secret", who);
	return vec_check_bytes(ctx, what, c->exporter_secret, HPKE_NH, exp, exp_len);
}

/* Encryption |i|: nonce on both sides, Seal == ct, Open == pt. */
static int check_encryption(struct vector_ctx *ctx, json_t *enc, size_t i, struct hpke_ctx *s,
			    struct hpke_ctx *r)
{
	const uint8_t *aad, *ct, *nonce, *pt;
	size_t aad_len, ct_len, nonce_len, pt_len;
	uint8_t our_nonce[HPKE_NN];
	uint8_t *buf;
	uint64_t seq;

	if ((aad = vec_hex(ctx, enc, "aad", &aad_len)) == NULL ||
	    (ct = vec_hex(ctx, enc, "ct", &ct_len)) == NULL ||
	    (nonce = vec_hex(ctx, enc, "nonce", &nonce_len)) == NULL ||
	    (pt = vec_hex(ctx, enc, "pt", &pt_len)) == NULL) {
		return 0;
	}
	if (ct_len != pt_len + HPKE_NT) {
		vec_fail(ctx, "encryptions[%zu]: ct is not pt + tag long", i);
		return 0;
	}
	if (s->seq != i || r->seq != i) {
		vec_fail(ctx, "encryptions[%zu]: sequence numbers %llu/%llu", i,
			 (unsigned long long)s->seq, (unsigned long long)r->seq);
		return 0;
	}
	hpke_ctx_nonce(s, our_nonce);
	if (!vec_check_bytes(ctx, "sender nonce", our_nonce, sizeof our_nonce, nonce, nonce_len)) {
		return 0;
	}
	hpke_ctx_nonce(r, our_nonce);
	if (!vec_check_bytes(ctx, "recipient nonce", our_nonce, sizeof our_nonce, nonce,
			     nonce_len)) {
		return 0;
	}
	buf = vec_alloc(ctx, ct_len);
	if (!vec_check_rc(ctx, "seal", hpke_seal(s, buf, aad, aad_len, pt, pt_len)) ||
	    !vec_check_bytes(ctx, "sealed ct", buf, ct_len, ct, ct_len)) {
		return 0;
	}
	if (i == 0) {
		/* A tampered ciphertext must fail and must not consume the nonce. */
		memcpy(buf, ct, ct_len);
		buf[ct_len - 1] ^= 0x80;
		seq = r->seq;
		if (hpke_open(r, buf, aad, aad_len, buf, ct_len) != HALQA_ERR_CRYPTO ||
		    r->seq != seq) {
			vec_fail(ctx, "encryptions[0]: a tampered ciphertext opened");
			return 0;
		}
	}
	return vec_check_rc(ctx, "open", hpke_open(r, buf, aad, aad_len, ct, ct_len)) &&
	       vec_check_bytes(ctx, "opened pt", buf, pt_len, pt, pt_len);
}

static int check_export(struct vector_ctx *ctx, json_t *ex, const struct hpke_ctx *s,
			const struct hpke_ctx *r)
{
	const uint8_t *context, *want;
	size_t context_len, want_len;
	uint64_t len;
	uint8_t *out;

	if ((context = vec_hex(ctx, ex, "exporter_context", &context_len)) == NULL ||
	    (want = vec_hex(ctx, ex, "exported_value", &want_len)) == NULL ||
	    !vec_uint(ctx, ex, "L", &len)) {
		return 0;
	}
	if (len > HPKE_EXPORT_MAX) {
		vec_fail(ctx, "export length %llu too large", (unsigned long long)len);
		return 0;
	}
	out = vec_alloc(ctx, (size_t)len);
	return vec_check_rc(ctx, "sender export",
			    hpke_export(s, out, (size_t)len, context, context_len)) &&
	       vec_check_bytes(ctx, "sender exported_value", out, (size_t)len, want, want_len) &&
	       vec_check_rc(ctx, "recipient export",
			    hpke_export(r, out, (size_t)len, context, context_len)) &&
	       vec_check_bytes(ctx, "recipient exported_value", out, (size_t)len, want, want_len);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	uint64_t mode, kem_id, kdf_id, aead_id;
	struct hpke_params sp = {0}, rp;
	struct hpke_ctx s, r;
	const uint8_t *ikm_e, *pk_r, *sk_r, *sk_s = NULL, *pk_s = NULL, *enc, *ss, *ksc, *secret;
	size_t ikm_e_len, enc_len, ss_len, ksc_len, secret_len;
	uint8_t our_ss[HPKE_NSECRET], our_enc[HPKE_NENC], our_ksc[HPKE_KSC_LEN],
	    our_secret[HPKE_NH];
	json_t *encs, *exports;
	int auth, psk;
	uint8_t dummy[HPKE_NT + 1] = {0};

	hpke_ctx_init(&s);
	hpke_ctx_init(&r);
	if (!vec_uint(ctx, entry, "mode", &mode) || !vec_uint(ctx, entry, "kem_id", &kem_id) ||
	    !vec_uint(ctx, entry, "kdf_id", &kdf_id) ||
	    !vec_uint(ctx, entry, "aead_id", &aead_id)) {
		return;
	}
	if (kem_id != HPKE_KEM_X25519_SHA256 || kdf_id != HPKE_KDF_HKDF_SHA256 ||
	    (aead_id != HPKE_AEAD_CHACHA20POLY1305 && aead_id != HPKE_AEAD_EXPORT_ONLY) ||
	    mode > HPKE_MODE_AUTH_PSK) {
		vec_fail(ctx,
			 "unsupported suite or mode (mode %llu, kem %llu, kdf %llu, aead %llu)",
			 (unsigned long long)mode, (unsigned long long)kem_id,
			 (unsigned long long)kdf_id, (unsigned long long)aead_id);
		return;
	}
	auth = mode == HPKE_MODE_AUTH || mode == HPKE_MODE_AUTH_PSK;
	psk = mode == HPKE_MODE_PSK || mode == HPKE_MODE_AUTH_PSK;

	/* DeriveKeyPair for every key pair of the entry. */
	if (!check_key_pair(ctx, entry, "ikmE", "skEm", "pkEm") ||
	    !check_key_pair(ctx, entry, "ikmR", "skRm", "pkRm") ||
	    (auth && !check_key_pair(ctx, entry, "ikmS", "skSm", "pkSm"))) {
		goto out;
	}
	if ((ikm_e = vec_hex(ctx, entry, "ikmE", &ikm_e_len)) == NULL ||
	    (pk_r = key_field(ctx, entry, "pkRm", HPKE_NPK)) == NULL ||
	    (sk_r = key_field(ctx, entry, "skRm", HPKE_NSK)) == NULL ||
	    (auth && ((sk_s = key_field(ctx, entry, "skSm", HPKE_NSK)) == NULL ||
		      (pk_s = key_field(ctx, entry, "pkSm", HPKE_NPK)) == NULL)) ||
	    (enc = vec_hex(ctx, entry, "enc", &enc_len)) == NULL ||
	    (ss = vec_hex(ctx, entry, "shared_secret", &ss_len)) == NULL ||
	    (ksc = vec_hex(ctx, entry, "key_schedule_context", &ksc_len)) == NULL ||
	    (secret = vec_hex(ctx, entry, "secret", &secret_len)) == NULL ||
	    (sp.info = vec_hex(ctx, entry, "info", &sp.info_len)) == NULL ||
	    (psk && ((sp.psk = vec_hex(ctx, entry, "psk", &sp.psk_len)) == NULL ||
		     (sp.psk_id = vec_hex(ctx, entry, "psk_id", &sp.psk_id_len)) == NULL)) ||
	    (encs = vec_array(ctx, entry, "encryptions")) == NULL ||
	    (exports = vec_array(ctx, entry, "exports")) == NULL) {
		goto out;
	}
	sp.mode = (enum hpke_mode)mode;
	sp.aead_id = (uint16_t)aead_id;
	rp = sp;
	sp.sk_s = sk_s;
	rp.pk_s = pk_s;

	/* The KEM on its own: Encap / AuthEncap from ikmE, then Decap / AuthDecap. */
	if (!vec_check_rc(ctx, "encap",
			  hpke_encap_derand(our_ss, our_enc, pk_r, sk_s, ikm_e, ikm_e_len)) ||
	    !vec_check_bytes(ctx, "enc", our_enc, sizeof our_enc, enc, enc_len) ||
	    !vec_check_bytes(ctx, "encap shared_secret", our_ss, sizeof our_ss, ss, ss_len) ||
	    !vec_check_rc(ctx, "decap", hpke_decap(our_ss, enc, enc_len, sk_r, pk_s)) ||
	    !vec_check_bytes(ctx, "decap shared_secret", our_ss, sizeof our_ss, ss, ss_len)) {
		goto out;
	}
	/* The two halves of the key schedule. */
	if (!vec_check_rc(ctx, "key_schedule_context", hpke_key_schedule_context(our_ksc, &sp)) ||
	    !vec_check_bytes(ctx, "key_schedule_context", our_ksc, sizeof our_ksc, ksc, ksc_len) ||
	    !vec_check_rc(ctx, "secret", hpke_schedule_secret(our_secret, our_ss, &sp)) ||
	    !vec_check_bytes(ctx, "secret", our_secret, sizeof our_secret, secret, secret_len)) {
		goto out;
	}
	/* The full setups, on both sides. */
	if (!vec_check_rc(ctx, "setup sender",
			  hpke_setup_sender_derand(&s, our_enc, &sp, pk_r, ikm_e, ikm_e_len)) ||
	    !vec_check_bytes(ctx, "setup enc", our_enc, sizeof our_enc, enc, enc_len) ||
	    !check_context(ctx, entry, &s, "sender") ||
	    !vec_check_rc(ctx, "setup recipient",
			  hpke_setup_recipient(&r, &rp, enc, enc_len, sk_r)) ||
	    !check_context(ctx, entry, &r, "recipient")) {
		goto out;
	}
	if (aead_id == HPKE_AEAD_EXPORT_ONLY) {
		if (json_array_size(encs) != 0 ||
		    hpke_seal(&s, dummy, NULL, 0, dummy, 1) != HALQA_ERR_UNSUPPORTED ||
		    hpke_open(&r, dummy, NULL, 0, dummy, sizeof dummy) != HALQA_ERR_UNSUPPORTED) {
			vec_fail(ctx, "export-only context sealed or opened");
			goto out;
		}
	} else if (json_array_size(encs) == 0) {
		vec_fail(ctx, "no encryptions to check");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(encs); i++) {
		if (!check_encryption(ctx, json_array_get(encs, i), i, &s, &r)) {
			goto out;
		}
	}
	if (json_array_size(exports) == 0) {
		vec_fail(ctx, "no exports to check");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(exports); i++) {
		if (!check_export(ctx, json_array_get(exports, i), &s, &r)) {
			goto out;
		}
	}
out:
	sodium_memzero(our_ss, sizeof our_ss);
	sodium_memzero(our_secret, sizeof our_secret);
	hpke_ctx_cleanup(&s);
	hpke_ctx_cleanup(&r);
}

const struct vector_kind vector_kind_hpke = {"hpke", run_entry};
