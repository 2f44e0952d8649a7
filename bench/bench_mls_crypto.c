/*
 * bench_mls_crypto.c: the cost of MLS's cryptographic primitives (suite
 * 0x0003) as Halqa implements them: HPKE (RFC 9180) with and without its
 * setup, Encrypt/DecryptWithLabel, ExpandWithLabel against raw HKDF-Expand,
 * and Ed25519 Sign/VerifyWithLabel. Each operation is checked (a failed
 * open or verify aborts the run), so a figure is never that of a
 * short-circuited error path. Each row gives the wall time and the CPU time
 * of this thread per operation: on a machine shared with other work the
 * wall time includes waiting for a core, the CPU time does not.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "halqa/hkdf.h"
#include "halqa/hpke.h"
#include "halqa/mls_crypto.h"

#define MSG_LEN         64
#define SIG_CONTENT_LEN 256
#define MIN_MS          200

struct hpke_bench {
	struct hpke_params params;
	uint8_t sk_r[HPKE_NSK], pk_r[HPKE_NPK];
	uint8_t enc[HPKE_NENC];
	uint8_t msg[MSG_LEN], ct[MSG_LEN + HPKE_NT], pt[MSG_LEN];
	struct hpke_ctx s, r; /* established pair for the steady state */
};

static int open_and_check(struct hpke_ctx *r, struct hpke_bench *b)
{
	int rc;

	if ((rc = hpke_open(r, b->pt, NULL, 0, b->ct, sizeof b->ct)) != 0) {
		return rc;
	}
	return memcmp(b->pt, b->msg, MSG_LEN) != 0;
}

/* Sender setup (random Encap + key schedule) and Seal of 64 B. */
static int op_hpke_sender(void *arg)
{
	struct hpke_bench *b = arg;
	struct hpke_ctx s;
	int rc;

	hpke_ctx_init(&s);
	if ((rc = hpke_setup_sender(&s, b->enc, &b->params, b->pk_r)) == 0) {
		rc = hpke_seal(&s, b->ct, NULL, 0, b->msg, MSG_LEN);
	}
	hpke_ctx_cleanup(&s);
	return rc;
}

/* Recipient setup (Decap + key schedule) and Open of 64 B. */
static int op_hpke_recipient(void *arg)
{
	struct hpke_bench *b = arg;
	struct hpke_ctx r;
	int rc;

	hpke_ctx_init(&r);
	if ((rc = hpke_setup_recipient(&r, &b->params, b->enc, sizeof b->enc, b->sk_r)) == 0) {
		rc = open_and_check(&r, b);
	}
	hpke_ctx_cleanup(&r);
	return rc;
}

/* Both: a single-shot HPKE message, as MLS's EncryptWithLabel uses it. */
static int op_hpke_full(void *arg)
{
	int rc;

	if ((rc = op_hpke_sender(arg)) != 0) {
		return rc;
	}
	return op_hpke_recipient(arg);
}

/* Seal + Open of 64 B on an established pair of contexts. */
static int op_hpke_steady(void *arg)
{
	struct hpke_bench *b = arg;
	int rc;

	if ((rc = hpke_seal(&b->s, b->ct, NULL, 0, b->msg, MSG_LEN)) != 0) {
		return rc;
	}
	return open_and_check(&b->r, b);
}

static int op_encrypt_decrypt_with_label(void *arg)
{
	static const uint8_t context[32] = {1};
	struct hpke_bench *b = arg;
	uint8_t kem_output[MLS_KEM_PUB_LEN];
	uint8_t *ct = NULL, *pt = NULL;
	size_t ct_len, pt_len;
	int rc;

	if ((rc = mls_encrypt_with_label(kem_output, &ct, &ct_len, b->pk_r, "UpdatePathNode",
					 context, sizeof context, b->msg, MSG_LEN)) == 0 &&
	    (rc = mls_decrypt_with_label(&pt, &pt_len, b->sk_r, "UpdatePathNode", context,
					 sizeof context, kem_output, sizeof kem_output, ct,
					 ct_len)) == 0) {
		rc = pt_len != MSG_LEN || memcmp(pt, b->msg, MSG_LEN) != 0;
	}
	free(ct);
	free(pt);
	return rc;
}

struct kdf_bench {
	uint8_t secret[MLS_HASH_LEN];
	uint8_t context[32];
	uint8_t out[MLS_HASH_LEN];
};

static int op_expand_with_label(void *arg)
{
	struct kdf_bench *k = arg;

	return mls_expand_with_label(k->out, sizeof k->out, k->secret, "epoch", k->context,
				     sizeof k->context);
}

static int op_derive_tree_secret(void *arg)
{
	struct kdf_bench *k = arg;

	return mls_derive_tree_secret(k->out, MLS_AEAD_KEY_LEN, k->secret, "key", 7);
}

/* Raw HKDF-Expand of the same output size with an info of the same length. */
static int op_hkdf_expand(void *arg)
{
	struct kdf_bench *k = arg;
	uint8_t info[2 + 1 + 13 + 1 + 32] = {0};

	return hkdf_expand(k->out, sizeof k->out, k->secret, info, sizeof info);
}

struct sig_bench {
	uint8_t priv[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN];
	uint8_t content[SIG_CONTENT_LEN];
	uint8_t sig[MLS_SIG_LEN];
};

static int op_sign(void *arg)
{
	struct sig_bench *g = arg;

	return mls_sign_with_label(g->sig, g->priv, "FramedContentTBS", g->content,
				   sizeof g->content);
}

static int op_verify(void *arg)
{
	struct sig_bench *g = arg;

	return mls_verify_with_label(g->pub, "FramedContentTBS", g->content, sizeof g->content,
				     g->sig, sizeof g->sig);
}

static int op_derive_key_pair(void *arg)
{
	struct kdf_bench *k = arg;
	uint8_t sk[HPKE_NSK], pk[HPKE_NPK];
	int rc = mls_kem_derive_key_pair(sk, pk, k->secret, sizeof k->secret);

	sodium_memzero(sk, sizeof sk);
	return rc;
}

/* Baselines: the libsodium calls underneath, to read the figures against. */
static int op_x25519(void *arg)
{
	struct hpke_bench *b = arg;
	uint8_t out[32];
	int rc = crypto_scalarmult(out, b->sk_r, b->enc);

	sodium_memzero(out, sizeof out);
	return rc;
}

static int op_raw_sign(void *arg)
{
	struct sig_bench *g = arg;

	return crypto_sign_detached(g->sig, NULL, g->content, sizeof g->content, g->priv);
}

/* run prints wall and CPU time: on a shared machine only the second is the code's own. */
static void run(const char *name, int (*op)(void *), void *arg)
{
	double cpu_ns;
	double wall_ns = bench_run_cpu(name, op, arg, MIN_MS, &cpu_ns);

	bench_report_cpu(name, wall_ns, cpu_ns);
}

int main(void)
{
	static struct hpke_bench b;
	static struct kdf_bench k;
	static struct sig_bench g;
	uint8_t ikm[32], seed[MLS_SIG_SEED_LEN];

	if (sodium_init() < 0) {
		return 1;
	}
	randombytes_buf(ikm, sizeof ikm);
	randombytes_buf(b.msg, sizeof b.msg);
	b.params = (struct hpke_params){.mode = HPKE_MODE_BASE,
					.aead_id = HPKE_AEAD_CHACHA20POLY1305,
					.info = (const uint8_t *)"bench",
					.info_len = 5};
	hpke_ctx_init(&b.s);
	hpke_ctx_init(&b.r);
	if (hpke_derive_key_pair(b.sk_r, b.pk_r, ikm, sizeof ikm) != 0 ||
	    hpke_setup_sender(&b.s, b.enc, &b.params, b.pk_r) != 0 ||
	    hpke_setup_recipient(&b.r, &b.params, b.enc, sizeof b.enc, b.sk_r) != 0) {
		fprintf(stderr, "bench_mls_crypto: HPKE setup failed\n");
		return 1;
	}
	randombytes_buf(k.secret, sizeof k.secret);
	randombytes_buf(k.context, sizeof k.context);
	randombytes_buf(seed, sizeof seed);
	randombytes_buf(g.content, sizeof g.content);
	if (mls_sig_key_pair_from_seed(g.priv, g.pub, seed) != 0 ||
	    mls_sign_with_label(g.sig, g.priv, "FramedContentTBS", g.content, sizeof g.content) !=
		0) {
		fprintf(stderr, "bench_mls_crypto: signature setup failed\n");
		return 1;
	}

	printf("bench_mls_crypto: suite 0x0003, libsodium %s\n", sodium_version_string());
	bench_print_load("at start");
	run("baseline: libsodium X25519", op_x25519, &b);
	run("baseline: libsodium Ed25519 sign 256B", op_raw_sign, &g);
	if (mls_sign_with_label(g.sig, g.priv, "FramedContentTBS", g.content,
				sizeof g.content) != 0) {
		return 1;
	}
	run("hpke setup+seal+setup+open 64B", op_hpke_full, &b);
	run("hpke sender: encap+seal 64B", op_hpke_sender, &b);
	run("hpke recipient: decap+open 64B", op_hpke_recipient, &b);
	run("hpke steady seal+open 64B", op_hpke_steady, &b);
	run("EncryptWithLabel+DecryptWithLabel 64B", op_encrypt_decrypt_with_label, &b);
	run("ExpandWithLabel 32B (32B context)", op_expand_with_label, &k);
	run("DeriveTreeSecret 32B", op_derive_tree_secret, &k);
	run("raw HKDF-Expand 32B (same info size)", op_hkdf_expand, &k);
	run("KEM DeriveKeyPair", op_derive_key_pair, &k);
	run("SignWithLabel 256B", op_sign, &g);
	run("VerifyWithLabel 256B", op_verify, &g);
	bench_print_load("at end");

	hpke_ctx_cleanup(&b.s);
	hpke_ctx_cleanup(&b.r);
	sodium_memzero(&b, sizeof b);
	sodium_memzero(&g, sizeof g);
	return 0;
}
