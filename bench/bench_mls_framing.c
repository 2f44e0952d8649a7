/*
 * bench_mls_framing.c: the cost of one application message through MLS
 * message protection (RFC 9420 section 6), 256 bytes of application data,
 * in a group of 8 with leaf 3 sending.
 *
 * Lines reported (each a median of 5 rounds of at least 300 ms):
 *  - "protect+unprotect": mls_framing_protect_private on the sender's
 *    secret tree, decoding the MLSMessage, mls_framing_unprotect_private on
 *    the receiver's tree: ratchet step, two ChaCha20-Poly1305 seals and
 *    opens, the KDF calls and the codec, without signatures;
 *  - "protect" alone (the receiving side is the difference: keeping enough
 *    pre-made messages to time it alone would cost more memory than the
 *    figure is worth);
 *  - "sign+protect+unprotect+verify": a full send and receive, adding the
 *    Ed25519 signature over FramedContentTBS and its verification;
 *  - two references measured in the same run, so figures from a loaded
 *    machine can be scaled: a bare libsodium ChaCha20-Poly1305 seal+open of
 *    256 bytes, and one ExpandWithLabel of 32 bytes.
 * The ratchets advance by one generation per message, as in real use.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "halqa/mls_framing.h"

#define MSG_LEN 256
#define SENDER 3

struct bench {
	struct mls_group_context gc;
	struct mls_key_schedule_epoch secrets;
	struct mls_secret_tree *tx, *rx;
	struct mls_authenticated_content ac;
	uint8_t sig_priv[MLS_SIG_PRIV_LEN], sig_pub[MLS_SIG_PUB_LEN];
	int sign;
};

static int protect_one(struct bench *b, uint8_t **out, size_t *out_len)
{
	struct mls_framing_epoch ep = {&b->gc, &b->secrets, b->tx};

	if (b->sign && mls_framing_sign(&b->ac.auth.signature, MLS_WIRE_PRIVATE_MESSAGE,
					&b->ac.content, &b->gc, b->sig_priv) != HALQA_OK) {
		return -1;
	}
	return mls_framing_protect_private(&ep, out, out_len, &b->ac, 0);
}

static int unprotect_one(struct bench *b, const uint8_t *msg, size_t len)
{
	struct mls_framing_epoch ep = {&b->gc, &b->secrets, b->rx};
	struct mls_message m = {0};
	struct mls_authenticated_content got = {0};
	int rc;

	if ((rc = mls_message_decode_bytes(msg, len, &m)) == HALQA_OK &&
	    (rc = mls_framing_unprotect_private(&ep, &got, &m.private_message)) == HALQA_OK &&
	    got.content.application_data.len != MSG_LEN) {
		rc = HALQA_ERR_INTERNAL;
	}
	if (rc == HALQA_OK && b->sign) {
		rc = mls_framing_verify(&got, &b->gc, b->sig_pub);
	}
	mls_authenticated_content_cleanup(&got);
	mls_message_cleanup(&m);
	return rc;
}

static int op_aead_reference(void *arg)
{
	static uint8_t key[32], nonce[12], pt[MSG_LEN], ct[MSG_LEN + 16];
	unsigned long long len;

	(void)arg;
	crypto_aead_chacha20poly1305_ietf_encrypt(ct, &len, pt, sizeof pt, NULL, 0, NULL, nonce,
						  key);
	return crypto_aead_chacha20poly1305_ietf_decrypt(pt, &len, NULL, ct, sizeof ct, NULL, 0,
							 nonce, key);
}

static int op_expand_reference(void *arg)
{
	static uint8_t secret[MLS_HASH_LEN], out[MLS_HASH_LEN];

	(void)arg;
	return mls_expand_with_label(out, sizeof out, secret, "secret", secret, 4);
}

static int op_round_trip(void *arg)
{
	struct bench *b = arg;
	uint8_t *msg = NULL;
	size_t len = 0;
	int rc;

	if ((rc = protect_one(b, &msg, &len)) == HALQA_OK) {
		rc = unprotect_one(b, msg, len);
	}
	free(msg);
	return rc;
}

static int op_protect(void *arg)
{
	struct bench *b = arg;
	uint8_t *msg = NULL;
	size_t len = 0;
	int rc = protect_one(b, &msg, &len);

	free(msg);
	return rc;
}

/* Fresh sender and receiver trees over the same encryption secret. */
static int reset_trees(struct bench *b, const uint8_t encryption_secret[MLS_HASH_LEN])
{
	mls_secret_tree_free(b->tx);
	mls_secret_tree_free(b->rx);
	b->tx = b->rx = NULL;
	if (mls_secret_tree_new(&b->tx, encryption_secret, 8) != HALQA_OK ||
	    mls_secret_tree_new(&b->rx, encryption_secret, 8) != HALQA_OK) {
		return -1;
	}
	return 0;
}

int main(void)
{
	static struct bench b;
	uint8_t encryption_secret[MLS_HASH_LEN], body[MSG_LEN], th[32] = {1};
	double ns;

	if (sodium_init() < 0) {
		return 1;
	}
	randombytes_buf(encryption_secret, sizeof encryption_secret);
	randombytes_buf(b.secrets.sender_data_secret, MLS_HASH_LEN);
	randombytes_buf(b.secrets.membership_key, MLS_HASH_LEN);
	randombytes_buf(body, sizeof body);
	crypto_sign_keypair(b.sig_pub, b.sig_priv);
	b.gc.version = MLS_VERSION_MLS10;
	b.gc.cipher_suite = 3;
	b.gc.epoch = 7;
	b.ac.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	b.ac.content.epoch = 7;
	b.ac.content.sender.type = MLS_SENDER_MEMBER;
	b.ac.content.sender.index = SENDER;
	b.ac.content.content_type = MLS_CONTENT_APPLICATION;
	if (mls_bytes_set(&b.gc.group_id, (const uint8_t *)"bench circle", 12) != HALQA_OK ||
	    mls_bytes_set(&b.gc.tree_hash, th, sizeof th) != HALQA_OK ||
	    mls_bytes_set(&b.gc.confirmed_transcript_hash, th, sizeof th) != HALQA_OK ||
	    mls_bytes_copy(&b.ac.content.group_id, &b.gc.group_id) != HALQA_OK ||
	    mls_bytes_set(&b.ac.content.application_data, body, sizeof body) != HALQA_OK ||
	    mls_framing_sign(&b.ac.auth.signature, MLS_WIRE_PRIVATE_MESSAGE, &b.ac.content, &b.gc,
			     b.sig_priv) != HALQA_OK ||
	    reset_trees(&b, encryption_secret) != 0) {
		fprintf(stderr, "bench_mls_framing: setup failed\n");
		return 1;
	}

	ns = bench_run("aead", op_aead_reference, NULL, 300);
	bench_report("reference: ChaCha20-Poly1305 seal+open 256 B", ns);
	ns = bench_run("expand", op_expand_reference, NULL, 300);
	bench_report("reference: ExpandWithLabel 32 B", ns);
	ns = bench_run("protect+unprotect", op_round_trip, &b, 300);
	bench_report("PrivateMessage protect+unprotect 256 B", ns);

	if (reset_trees(&b, encryption_secret) != 0) {
		return 1;
	}
	ns = bench_run("protect", op_protect, &b, 300);
	bench_report("PrivateMessage protect 256 B", ns);

	if (reset_trees(&b, encryption_secret) != 0) {
		return 1;
	}
	b.sign = 1;
	ns = bench_run("sign+protect+unprotect+verify", op_round_trip, &b, 300);
	bench_report("sign+protect+unprotect+verify 256 B", ns);

	mls_secret_tree_free(b.tx);
	mls_secret_tree_free(b.rx);
	mls_authenticated_content_cleanup(&b.ac);
	mls_group_context_cleanup(&b.gc);
	sodium_memzero(encryption_secret, sizeof encryption_secret);
	sodium_memzero(&b.secrets, sizeof b.secrets);
	sodium_memzero(b.sig_priv, sizeof b.sig_priv);
	return 0;
}
