/*
 * test_mls_framing.c: message protection beyond the vector file. Private
 * messages of every content type round-trip with padding, arrive out of
 * order, and are refused when replayed, tampered with (ciphertext, tag,
 * sender data, header, authenticated data), sent from a leaf outside the
 * tree, too far ahead, or with non-zero padding; every refusal leaves the
 * receiver's secret tree able to decrypt the genuine message afterwards.
 * Public messages: membership tag and signature checks, wrong group or
 * epoch, application data refused.
 */
#include "halqa/mls_framing.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct mls_group_context gc;
static struct mls_key_schedule_epoch secrets;
static uint8_t encryption_secret[MLS_HASH_LEN];
static uint8_t sig_priv[MLS_SIG_PRIV_LEN], sig_pub[MLS_SIG_PUB_LEN];

static void setup(void)
{
	static const uint8_t gid[] = "halqa circle", th[32] = {1}, cth[32] = {2};

	memset(&gc, 0, sizeof gc);
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = 3;
	gc.epoch = 42;
	CHECK_OK(mls_bytes_set(&gc.group_id, gid, sizeof gid - 1));
	CHECK_OK(mls_bytes_set(&gc.tree_hash, th, sizeof th));
	CHECK_OK(mls_bytes_set(&gc.confirmed_transcript_hash, cth, sizeof cth));
	randombytes_buf(encryption_secret, sizeof encryption_secret);
	randombytes_buf(secrets.sender_data_secret, sizeof secrets.sender_data_secret);
	randombytes_buf(secrets.membership_key, sizeof secrets.membership_key);
	crypto_sign_keypair(sig_pub, sig_priv);
}

/* A signed application message (or proposal: a Remove of leaf 0) from |leaf|. */
static void make_content(struct mls_authenticated_content *ac, uint16_t wire_format,
			 uint8_t content_type, uint32_t leaf, const char *text)
{
	memset(ac, 0, sizeof *ac);
	ac->wire_format = wire_format;
	ac->content.epoch = gc.epoch;
	ac->content.sender.type = MLS_SENDER_MEMBER;
	ac->content.sender.index = leaf;
	ac->content.content_type = content_type;
	CHECK_OK(mls_bytes_copy(&ac->content.group_id, &gc.group_id));
	CHECK_OK(mls_bytes_set(&ac->content.authenticated_data, (const uint8_t *)"ad", 2));
	if (content_type == MLS_CONTENT_APPLICATION) {
		CHECK_OK(mls_bytes_set(&ac->content.application_data, (const uint8_t *)text,
				       strlen(text)));
	} else {
		ac->content.proposal.type = MLS_PROPOSAL_REMOVE;
		ac->content.proposal.u.remove.removed = 0;
		if (content_type == MLS_CONTENT_COMMIT) {
			uint8_t tag[MLS_HASH_LEN] = {3};
			CHECK_OK(mls_bytes_set(&ac->auth.confirmation_tag, tag, sizeof tag));
		}
	}
	CHECK_OK(mls_framing_sign(&ac->auth.signature, wire_format, &ac->content, &gc, sig_priv));
}

/* Protects an application message |text| from |leaf| with |tx|. */
static uint8_t *send_private(struct mls_secret_tree *tx, uint32_t leaf, const char *text,
			     size_t *len)
{
	struct mls_framing_epoch ep = {&gc, &secrets, tx};
	struct mls_authenticated_content ac;
	uint8_t *out = NULL;

	make_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION, leaf, text);
	CHECK_OK(mls_framing_protect_private(&ep, &out, len, &ac, 0));
	mls_authenticated_content_cleanup(&ac);
	return out;
}

/* Decodes and unprotects |bytes|; on success checks the text and the signature. */
static int receive_private(struct mls_secret_tree *rx, const uint8_t *bytes, size_t len,
			   const char *want_text)
{
	struct mls_framing_epoch ep = {&gc, &secrets, rx};
	struct mls_message msg = {0};
	struct mls_authenticated_content ac = {0};
	int rc;

	CHECK_OK(mls_message_decode_bytes(bytes, len, &msg));
	rc = mls_framing_unprotect_private(&ep, &ac, &msg.private_message);
	if (rc == HALQA_OK) {
		CHECK_OK(mls_framing_verify(&ac, &gc, sig_pub));
		if (want_text != NULL) {
			CHECK_MEM_EQ(ac.content.application_data.data,
				     ac.content.application_data.len, (const uint8_t *)want_text,
				     strlen(want_text));
		}
	}
	mls_authenticated_content_cleanup(&ac);
	mls_message_cleanup(&msg);
	return rc;
}

static void test_private_round_trip_all_types(void)
{
	static const uint8_t types[] = {MLS_CONTENT_APPLICATION, MLS_CONTENT_PROPOSAL,
					MLS_CONTENT_COMMIT};
	struct mls_secret_tree *tx = NULL, *rx = NULL;

	CHECK_OK(mls_secret_tree_new(&tx, encryption_secret, 4));
	CHECK_OK(mls_secret_tree_new(&rx, encryption_secret, 4));
	for (size_t i = 0; i < sizeof types; i++) {
		for (size_t pad = 0; pad <= 300; pad += 150) {
			struct mls_framing_epoch txe = {&gc, &secrets, tx},
						 rxe = {&gc, &secrets, rx};
			struct mls_authenticated_content ac, got = {0};
			struct mls_message msg = {0};
			uint8_t *bytes = NULL;
			size_t len = 0;

			make_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, types[i], 2, "hello circle");
			CHECK_OK(mls_framing_protect_private(&txe, &bytes, &len, &ac, pad));
			CHECK_OK(mls_message_decode_bytes(bytes, len, &msg));
			CHECK_INT_EQ(msg.private_message.content_type, types[i]);
			CHECK_OK(mls_framing_unprotect_private(&rxe, &got, &msg.private_message));
			CHECK_OK(mls_framing_verify(&got, &gc, sig_pub));
			CHECK_INT_EQ(got.content.sender.index, 2);
			CHECK_INT_EQ(got.content.content_type, types[i]);
			CHECK_MEM_EQ(got.content.authenticated_data.data,
				     got.content.authenticated_data.len, (const uint8_t *)"ad", 2);
			CHECK_MEM_EQ(got.auth.signature.data, got.auth.signature.len,
				     ac.auth.signature.data, ac.auth.signature.len);
			if (types[i] == MLS_CONTENT_COMMIT) {
				CHECK_MEM_EQ(got.auth.confirmation_tag.data,
					     got.auth.confirmation_tag.len,
					     ac.auth.confirmation_tag.data,
					     ac.auth.confirmation_tag.len);
			}
			mls_message_cleanup(&msg);
			mls_authenticated_content_cleanup(&got);
			mls_authenticated_content_cleanup(&ac);
			free(bytes);
		}
	}
	mls_secret_tree_free(tx);
	mls_secret_tree_free(rx);
}

static void test_out_of_order_and_replay(void)
{
	struct mls_secret_tree *tx = NULL, *rx = NULL;
	uint8_t *m[3];
	size_t len[3];
	static const char *const text[3] = {"one", "two", "three"};

	CHECK_OK(mls_secret_tree_new(&tx, encryption_secret, 2));
	CHECK_OK(mls_secret_tree_new(&rx, encryption_secret, 2));
	for (int i = 0; i < 3; i++) {
		m[i] = send_private(tx, 1, text[i], &len[i]);
	}
	CHECK_OK(receive_private(rx, m[2], len[2], text[2]));
	CHECK_OK(receive_private(rx, m[0], len[0], text[0]));
	CHECK_RC(receive_private(rx, m[0], len[0], NULL), HALQA_ERR_NOT_FOUND);
	CHECK_OK(receive_private(rx, m[1], len[1], text[1]));
	CHECK_RC(receive_private(rx, m[2], len[2], NULL), HALQA_ERR_NOT_FOUND);
	CHECK_RC(receive_private(rx, m[1], len[1], NULL), HALQA_ERR_NOT_FOUND);
	for (int i = 0; i < 3; i++) {
		free(m[i]);
	}
	mls_secret_tree_free(tx);
	mls_secret_tree_free(rx);
}

/* Every single-byte change is refused, and the genuine message still decrypts after. */
static void test_tampering_refused_state_unchanged(void)
{
	struct mls_secret_tree *tx = NULL, *rx = NULL;
	struct mls_secret_tree_stats before, after;
	uint8_t *msg, *bad;
	size_t len;

	CHECK_OK(mls_secret_tree_new(&tx, encryption_secret, 2));
	CHECK_OK(mls_secret_tree_new(&rx, encryption_secret, 2));
	/* Make the receiver's ratchet exist so the counts below are comparable. */
	msg = send_private(tx, 1, "warm-up", &len);
	CHECK_OK(receive_private(rx, msg, len, "warm-up"));
	free(msg);
	msg = send_private(tx, 1, "the genuine one", &len);
	bad = malloc(len);
	mls_secret_tree_get_stats(rx, &before);
	/* Skip the 4-byte MLSMessage header: version and wire format must decode. */
	for (size_t i = 4; i < len; i++) {
		struct mls_message dec = {0};
		struct mls_authenticated_content ac = {0};
		struct mls_framing_epoch ep = {&gc, &secrets, rx};
		int rc;

		memcpy(bad, msg, len);
		bad[i] ^= 0x20;
		if (mls_message_decode_bytes(bad, len, &dec) == HALQA_OK) {
			rc = mls_framing_unprotect_private(&ep, &ac, &dec.private_message);
			CHECK(rc != HALQA_OK);
			if (rc == HALQA_OK) {
				harness_fail(__FILE__, __LINE__, "byte %zu changed and accepted",
					     i);
			}
		}
		mls_authenticated_content_cleanup(&ac);
		mls_message_cleanup(&dec);
	}
	mls_secret_tree_get_stats(rx, &after);
	CHECK_INT_EQ(after.num_retained, before.num_retained);
	CHECK_INT_EQ(after.num_node_secrets, before.num_node_secrets);
	CHECK_OK(receive_private(rx, msg, len, "the genuine one"));
	free(bad);
	free(msg);
	mls_secret_tree_free(tx);
	mls_secret_tree_free(rx);
}

/*
 * Seals |plain| as a PrivateMessage by hand, with any sender data, so the
 * receiver's checks after decryption can be reached: the content key is
 * taken from |keys| for (key_leaf, key_gen) without consuming it.
 */
static uint8_t *seal_raw(struct mls_secret_tree *keys, uint32_t key_leaf, uint32_t key_gen,
			 uint32_t sd_leaf, uint32_t sd_gen, const uint8_t *plain, size_t plain_len,
			 size_t *out_len)
{
	static uint8_t ad[2] = {'a', 'd'};
	struct mls_message msg;
	struct mls_private_message *pm = &msg.private_message;
	struct mls_sender_data sd = {sd_leaf, sd_gen, {9, 8, 7, 6}};
	struct mls_secret_tree_key k;
	struct bytes_writer aad, sd_aad, sd_pt, w;
	uint8_t nonce[MLS_AEAD_NONCE_LEN], sd_key[MLS_AEAD_KEY_LEN], sd_nonce[MLS_AEAD_NONCE_LEN];
	uint8_t *ct = malloc(plain_len + 16), sealed[28], *out = NULL;
	unsigned long long ct_len, sealed_len;

	memset(&msg, 0, sizeof msg);
	msg.version = MLS_VERSION_MLS10;
	msg.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	pm->group_id = gc.group_id;
	pm->epoch = gc.epoch;
	pm->content_type = MLS_CONTENT_APPLICATION;
	pm->authenticated_data.data = ad; /* as make_content signs it */
	pm->authenticated_data.len = sizeof ad;
	bytes_writer_init(&aad, 1 << 16, 0);
	bytes_writer_init(&sd_aad, 1 << 16, 0);
	bytes_writer_init(&sd_pt, 64, 0);
	bytes_writer_init(&w, 1 << 20, 0);
	CHECK_OK(mls_private_content_aad_encode(&aad, pm));
	CHECK_OK(mls_sender_data_aad_encode(&sd_aad, pm));
	CHECK_OK(mls_sender_data_encode(&sd_pt, &sd));
	CHECK_OK(mls_secret_tree_get_key(keys, &k, key_leaf, MLS_SECRET_TREE_APPLICATION, key_gen));
	memcpy(nonce, k.nonce, sizeof nonce);
	for (int i = 0; i < 4; i++) {
		nonce[i] ^= sd.reuse_guard[i];
	}
	crypto_aead_chacha20poly1305_ietf_encrypt(ct, &ct_len, plain, plain_len,
						  bytes_writer_data(&aad), bytes_writer_len(&aad),
						  NULL, nonce, k.key);
	CHECK_OK(mls_secret_tree_sender_data(sd_key, sd_nonce, secrets.sender_data_secret, ct,
					     (size_t)ct_len));
	crypto_aead_chacha20poly1305_ietf_encrypt(
	    sealed, &sealed_len, bytes_writer_data(&sd_pt), bytes_writer_len(&sd_pt),
	    bytes_writer_data(&sd_aad), bytes_writer_len(&sd_aad), NULL, sd_nonce, sd_key);
	pm->encrypted_sender_data.data = sealed;
	pm->encrypted_sender_data.len = (size_t)sealed_len;
	pm->ciphertext.data = ct;
	pm->ciphertext.len = (size_t)ct_len;
	CHECK_OK(mls_message_encode(&w, &msg));
	CHECK_OK(bytes_writer_finish(&w, &out, out_len));
	memset(&msg, 0, sizeof msg);
	mls_secret_tree_key_wipe(&k);
	bytes_writer_cleanup(&aad);
	bytes_writer_cleanup(&sd_aad);
	bytes_writer_cleanup(&sd_pt);
	free(ct);
	return out;
}

/* The encoded PrivateMessageContent of a signed application message, plus |extra|. */
static uint8_t *plaintext(const char *text, const uint8_t *extra, size_t extra_len,
			  size_t *out_len)
{
	struct mls_authenticated_content ac;
	struct mls_private_message_content pc;
	struct bytes_writer w;
	uint8_t *out = NULL;

	make_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION, 1, text);
	memset(&pc, 0, sizeof pc);
	pc.content_type = MLS_CONTENT_APPLICATION;
	pc.application_data = ac.content.application_data;
	pc.auth = ac.auth;
	bytes_writer_init(&w, 1 << 16, 0);
	CHECK_OK(mls_private_message_content_encode(&w, &pc));
	bytes_put(&w, extra, extra_len);
	CHECK_OK(bytes_writer_finish(&w, &out, out_len));
	memset(&pc, 0, sizeof pc);
	mls_authenticated_content_cleanup(&ac);
	return out;
}

static void test_decrypted_content_checks(void)
{
	static const uint8_t zeros[5], nonzero[5] = {0, 0, 1, 0, 0};
	struct mls_secret_tree *keys = NULL, *rx = NULL;
	uint8_t *pt, *m;
	size_t pt_len, len;

	CHECK_OK(mls_secret_tree_new(&keys, encryption_secret, 2));
	CHECK_OK(mls_secret_tree_new(&rx, encryption_secret, 2));

	/* Non-zero padding is malformed (6.3.1); the key stays for the real message. */
	pt = plaintext("padded", nonzero, sizeof nonzero, &pt_len);
	m = seal_raw(keys, 1, 0, 1, 0, pt, pt_len, &len);
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_MALFORMED);
	free(m);
	free(pt);
	pt = plaintext("padded", zeros, sizeof zeros, &pt_len);
	m = seal_raw(keys, 1, 0, 1, 0, pt, pt_len, &len);
	CHECK_OK(receive_private(rx, m, len, "padded"));
	free(m);

	/* A sender leaf outside the tree. */
	m = seal_raw(keys, 1, 1, 2, 1, pt, pt_len, &len);
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_INVALID);
	free(m);
	/* Sender data naming another leaf than the key's: the AEAD fails. */
	m = seal_raw(keys, 1, 1, 0, 1, pt, pt_len, &len);
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_CRYPTO);
	free(m);
	/* Too far ahead of the ratchet. */
	m = seal_raw(keys, 1, 1, 1, 1 + MLS_SECRET_TREE_MAX_FORWARD + 1, pt, pt_len, &len);
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_TOO_LARGE);
	free(m);
	/* The genuine generation 1 still works after all that. */
	m = seal_raw(keys, 1, 1, 1, 1, pt, pt_len, &len);
	CHECK_OK(receive_private(rx, m, len, "padded"));
	free(m);
	free(pt);
	mls_secret_tree_free(keys);
	mls_secret_tree_free(rx);
}

static void test_wrong_epoch_or_group(void)
{
	struct mls_secret_tree *tx = NULL, *rx = NULL;
	struct mls_group_context saved = gc;
	uint8_t *m;
	size_t len;

	CHECK_OK(mls_secret_tree_new(&tx, encryption_secret, 2));
	CHECK_OK(mls_secret_tree_new(&rx, encryption_secret, 2));
	m = send_private(tx, 1, "epoch 42", &len);
	gc.epoch = 43;
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_STALE);
	gc.epoch = 42;
	gc.group_id.len--;
	CHECK_RC(receive_private(rx, m, len, NULL), HALQA_ERR_INVALID);
	gc = saved;
	CHECK_OK(receive_private(rx, m, len, "epoch 42"));
	free(m);
	mls_secret_tree_free(tx);
	mls_secret_tree_free(rx);
}

static void test_protect_private_refusals(void)
{
	struct mls_secret_tree *tx = NULL;
	struct mls_framing_epoch ep = {&gc, &secrets, NULL};
	struct mls_authenticated_content ac;
	uint8_t *out = NULL;
	size_t len = 0;

	CHECK_OK(mls_secret_tree_new(&tx, encryption_secret, 2));
	make_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION, 1, "x");
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, 0), HALQA_ERR_ARG);
	ep.tree = tx;
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, MLS_FRAMING_MAX_PADDING + 1),
		 HALQA_ERR_ARG);
	ac.content.sender.index = 2;
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, 0), HALQA_ERR_ARG);
	ac.content.sender.index = 1;
	ac.content.sender.type = MLS_SENDER_EXTERNAL;
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, 0), HALQA_ERR_ARG);
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, 0), HALQA_ERR_ARG);
	ac.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	ac.content.epoch = 41;
	CHECK_RC(mls_framing_protect_private(&ep, &out, &len, &ac, 0), HALQA_ERR_ARG);
	ac.content.epoch = 42;
	CHECK(out == NULL && len == 0);
	CHECK_OK(mls_framing_protect_private(&ep, &out, &len, &ac, MLS_FRAMING_MAX_PADDING));
	free(out);
	mls_authenticated_content_cleanup(&ac);
	mls_secret_tree_free(tx);
}

static int receive_public(const uint8_t *bytes, size_t len, const uint8_t pub[MLS_SIG_PUB_LEN])
{
	struct mls_framing_epoch ep = {&gc, &secrets, NULL};
	struct mls_message msg = {0};
	struct mls_authenticated_content ac = {0};
	int rc;

	if ((rc = mls_message_decode_bytes(bytes, len, &msg)) == HALQA_OK &&
	    (rc = mls_framing_unprotect_public(&ep, &ac, &msg.public_message)) == HALQA_OK) {
		rc = mls_framing_verify(&ac, &gc, pub);
	}
	mls_authenticated_content_cleanup(&ac);
	mls_message_cleanup(&msg);
	return rc;
}

static void test_public_messages(void)
{
	struct mls_framing_epoch ep = {&gc, &secrets, NULL};
	struct mls_authenticated_content ac;
	uint8_t *out = NULL, other_pub[MLS_SIG_PUB_LEN], other_priv[MLS_SIG_PRIV_LEN];
	size_t len = 0;

	crypto_sign_keypair(other_pub, other_priv);
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT, 0, NULL);
	CHECK_OK(mls_framing_protect_public(&ep, &out, &len, &ac));
	CHECK_OK(receive_public(out, len, sig_pub));
	CHECK_RC(receive_public(out, len, other_pub), HALQA_ERR_CRYPTO);
	/* The membership tag is the last 32 bytes: any change is caught. */
	out[len - 1] ^= 1;
	CHECK_RC(receive_public(out, len, sig_pub), HALQA_ERR_CRYPTO);
	out[len - 1] ^= 1;
	out[len - 40] ^= 1; /* inside the confirmation tag: the membership tag covers auth */
	CHECK_RC(receive_public(out, len, sig_pub), HALQA_ERR_CRYPTO);
	free(out);
	out = NULL;

	/* A member must not publish application data. */
	mls_authenticated_content_cleanup(&ac);
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_APPLICATION, 0, "plain");
	CHECK_RC(mls_framing_protect_public(&ep, &out, &len, &ac), HALQA_ERR_INVALID);
	CHECK(out == NULL);
	mls_authenticated_content_cleanup(&ac);

	/* A commit without a confirmation tag is not sent. */
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT, 0, NULL);
	mls_bytes_cleanup(&ac.auth.confirmation_tag);
	CHECK_RC(mls_framing_protect_public(&ep, &out, &len, &ac), HALQA_ERR_ARG);
	mls_authenticated_content_cleanup(&ac);

	/* A proposal signed as a PrivateMessage does not verify as a PublicMessage. */
	make_content(&ac, MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_PROPOSAL, 0, NULL);
	ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	CHECK_OK(mls_framing_protect_public(&ep, &out, &len, &ac));
	CHECK_RC(receive_public(out, len, sig_pub), HALQA_ERR_CRYPTO);
	free(out);
	out = NULL;
	mls_authenticated_content_cleanup(&ac);

	/* An external sender may propose but not commit (6.1); no membership tag. */
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT, 0, NULL);
	ac.content.sender.type = MLS_SENDER_EXTERNAL;
	CHECK_RC(mls_framing_protect_public(&ep, &out, &len, &ac), HALQA_ERR_INVALID);
	mls_authenticated_content_cleanup(&ac);
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL, 0, NULL);
	ac.content.sender.type = MLS_SENDER_EXTERNAL;
	CHECK_OK(mls_framing_sign(&ac.auth.signature, MLS_WIRE_PUBLIC_MESSAGE, &ac.content, &gc,
				  other_priv));
	CHECK_OK(mls_framing_protect_public(&ep, &out, &len, &ac));
	CHECK_OK(receive_public(out, len, other_pub));
	free(out);
	out = NULL;
	mls_authenticated_content_cleanup(&ac);

	/* A public message from another epoch. */
	make_content(&ac, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL, 0, NULL);
	CHECK_OK(mls_framing_protect_public(&ep, &out, &len, &ac));
	gc.epoch++;
	CHECK_RC(receive_public(out, len, sig_pub), HALQA_ERR_STALE);
	gc.epoch--;
	CHECK_OK(receive_public(out, len, sig_pub));
	free(out);
	mls_authenticated_content_cleanup(&ac);
	sodium_memzero(other_priv, sizeof other_priv);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	setup();
	RUN(test_private_round_trip_all_types);
	RUN(test_out_of_order_and_replay);
	RUN(test_tampering_refused_state_unchanged);
	RUN(test_decrypted_content_checks);
	RUN(test_wrong_epoch_or_group);
	RUN(test_protect_private_refusals);
	RUN(test_public_messages);
	mls_group_context_cleanup(&gc);
	return harness_report();
}
