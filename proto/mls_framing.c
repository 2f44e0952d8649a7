/*
 * mls_framing.c: RFC 9420 section 6, PublicMessage and PrivateMessage
 * protection on top of the codec, the key schedule and the secret tree.
 *
 * Every structure that is signed, MACed, encrypted or used as AAD is
 * encoded by the codec (FramedContentTBS, AuthenticatedContentTBM,
 * PrivateMessageContent, PrivateContentAAD, SenderData, SenderDataAAD,
 * MLSMessage); nothing here lays out bytes by hand. To encode a message
 * from parts the caller still owns, the codec structs are filled with
 * shallow copies of the caller's fields and never cleaned up (only
 * zeroed), so ownership stays with the caller.
 *
 * Receiving a PrivateMessage touches the secret tree only through
 * get_key (no change) and, once the content decrypted and parsed,
 * consume: a forged or corrupted message leaves every ratchet where it
 * was. Tags are compared with sodium_memcmp; plaintexts, keys and nonces
 * are wiped on every path.
 */
#include "halqa/mls_framing.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* SenderData is two uint32 and a 4-byte guard; sealed it carries a tag. */
#define SENDER_DATA_LEN 12
#define SEALED_SENDER_DATA_LEN (SENDER_DATA_LEN + MLS_AEAD_TAG_LEN)

/* The codec refuses ciphertexts over 2 MiB, so plaintexts stop 16 bytes short. */
#define MAX_PLAINTEXT (2 * (size_t)MLS_MAX_MESSAGE - MLS_AEAD_TAG_LEN)

static const char tbs_label[] = "FramedContentTBS";

/* A received header must name this group and epoch; our own must too. */
static int check_header(const struct mls_group_context *gc, const struct mls_bytes *group_id,
			uint64_t epoch)
{
	if (group_id->len != gc->group_id.len ||
	    (group_id->len != 0 && memcmp(group_id->data, gc->group_id.data, group_id->len) != 0)) {
		return HALQA_ERR_INVALID;
	}
	if (epoch != gc->epoch) {
		return HALQA_ERR_STALE;
	}
	return HALQA_OK;
}

/* The ratchet a content type is protected with (RFC 9420 6.3.1). */
static int ratchet_for(uint8_t content_type, enum mls_secret_tree_ratchet *out)
{
	switch (content_type) {
	case MLS_CONTENT_APPLICATION:
		*out = MLS_SECRET_TREE_APPLICATION;
		return HALQA_OK;
	case MLS_CONTENT_PROPOSAL:
	case MLS_CONTENT_COMMIT:
		*out = MLS_SECRET_TREE_HANDSHAKE;
		return HALQA_OK;
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

/*
 * RFC 9420 6.1: an external sender or a new member may only propose, and a
 * new member joining by external commit may only commit; members may send
 * anything (application data only privately, checked by the callers).
 * Which proposal types such senders may use is the group layer's rule.
 */
static int check_sender_content(const struct mls_framed_content *c)
{
	switch (c->sender.type) {
	case MLS_SENDER_MEMBER:
		return HALQA_OK;
	case MLS_SENDER_EXTERNAL:
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		return c->content_type == MLS_CONTENT_PROPOSAL ? HALQA_OK : HALQA_ERR_INVALID;
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		return c->content_type == MLS_CONTENT_COMMIT ? HALQA_OK : HALQA_ERR_INVALID;
	default:
		return HALQA_ERR_INVALID;
	}
}

/* membership_tag = MAC(membership_key, AuthenticatedContentTBM) (RFC 9420 6.2). */
static int membership_tag(uint8_t out[MLS_HASH_LEN], const uint8_t key[MLS_HASH_LEN],
			  const struct mls_framed_content *content,
			  const struct mls_framed_content_auth_data *auth,
			  const struct mls_group_context *gc)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if ((rc = mls_authenticated_content_tbm_encode(&w, content, auth, gc)) == HALQA_OK) {
		crypto_auth_hmacsha256(out, bytes_writer_data(&w), bytes_writer_len(&w), key);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_framing_sign(struct mls_bytes *signature, uint16_t wire_format,
		     const struct mls_framed_content *content,
		     const struct mls_group_context *group_context,
		     const uint8_t priv[MLS_SIG_PRIV_LEN])
{
	struct bytes_writer w;
	uint8_t sig[MLS_SIG_LEN];
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if (signature == NULL || content == NULL || priv == NULL ||
	    (wire_format != MLS_WIRE_PUBLIC_MESSAGE && wire_format != MLS_WIRE_PRIVATE_MESSAGE)) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = mls_framed_content_tbs_encode(&w, wire_format, content, group_context)) !=
		    HALQA_OK ||
	    (rc = mls_sign_with_label(sig, priv, tbs_label, bytes_writer_data(&w),
				      bytes_writer_len(&w))) != HALQA_OK ||
	    (rc = mls_bytes_set(signature, sig, sizeof sig)) != HALQA_OK) {
		goto out;
	}
out:
	bytes_writer_cleanup(&w);
	return rc;
}

int mls_framing_verify(const struct mls_authenticated_content *ac,
		       const struct mls_group_context *group_context,
		       const uint8_t pub[MLS_SIG_PUB_LEN])
{
	struct bytes_writer w;
	int rc;

	if (ac == NULL || pub == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if ((rc = mls_framed_content_tbs_encode(&w, ac->wire_format, &ac->content,
						group_context)) == HALQA_OK) {
		rc = mls_verify_with_label(pub, tbs_label, bytes_writer_data(&w),
					   bytes_writer_len(&w), ac->auth.signature.data,
					   ac->auth.signature.len);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

/* Checks shared by both protect calls on our own content. */
static int check_outgoing(const struct mls_framing_epoch *epoch,
			  const struct mls_authenticated_content *ac, uint16_t wire_format)
{
	int rc;

	if (epoch == NULL || epoch->group_context == NULL || ac == NULL ||
	    ac->wire_format != wire_format) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_header(epoch->group_context, &ac->content.group_id, ac->content.epoch)) !=
	    HALQA_OK) {
		return HALQA_ERR_ARG;
	}
	/* A commit without its confirmation tag could never be accepted (6.1). */
	if (ac->auth.signature.len == 0 || (ac->content.content_type == MLS_CONTENT_COMMIT &&
					    ac->auth.confirmation_tag.len == 0)) {
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

/* Encodes |msg| into a fresh buffer for the caller. */
static int encode_message(const struct mls_message *msg, uint8_t **out, size_t *out_len)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if ((rc = mls_message_encode(&w, msg)) != HALQA_OK) {
		bytes_writer_cleanup(&w);
		return rc;
	}
	return bytes_writer_finish(&w, out, out_len);
}

int mls_framing_protect_public(const struct mls_framing_epoch *epoch, uint8_t **out,
			       size_t *out_len, const struct mls_authenticated_content *ac)
{
	struct mls_message msg;
	uint8_t tag[MLS_HASH_LEN];
	int rc;

	memset(&msg, 0, sizeof msg);
	*out = NULL;
	*out_len = 0;
	if ((rc = check_outgoing(epoch, ac, MLS_WIRE_PUBLIC_MESSAGE)) != HALQA_OK) {
		return rc;
	}
	/* RFC 9420 6: application messages MUST be sent as PrivateMessage. */
	if ((ac->content.content_type != MLS_CONTENT_PROPOSAL &&
	     ac->content.content_type != MLS_CONTENT_COMMIT) ||
	    check_sender_content(&ac->content) != HALQA_OK) {
		return HALQA_ERR_INVALID;
	}
	msg.version = MLS_VERSION_MLS10;
	msg.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	msg.public_message.content = ac->content; /* shallow: never cleaned up here */
	msg.public_message.auth = ac->auth;
	if (ac->content.sender.type == MLS_SENDER_MEMBER) {
		if (epoch->secrets == NULL) {
			rc = HALQA_ERR_ARG;
			goto out;
		}
		if ((rc = membership_tag(tag, epoch->secrets->membership_key, &ac->content,
					 &ac->auth, epoch->group_context)) != HALQA_OK) {
			goto out;
		}
		msg.public_message.membership_tag.data = tag;
		msg.public_message.membership_tag.len = sizeof tag;
	}
	rc = encode_message(&msg, out, out_len);
out:
	memset(&msg, 0, sizeof msg);
	sodium_memzero(tag, sizeof tag);
	return rc;
}

int mls_framing_unprotect_public(const struct mls_framing_epoch *epoch,
				 struct mls_authenticated_content *out,
				 struct mls_public_message *pm)
{
	uint8_t tag[MLS_HASH_LEN];
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	if (epoch == NULL || epoch->group_context == NULL || pm == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = check_header(epoch->group_context, &pm->content.group_id, pm->content.epoch)) !=
	    HALQA_OK) {
		return rc;
	}
	if ((pm->content.content_type != MLS_CONTENT_PROPOSAL &&
	     pm->content.content_type != MLS_CONTENT_COMMIT) ||
	    check_sender_content(&pm->content) != HALQA_OK) {
		return HALQA_ERR_INVALID;
	}
	if (pm->content.sender.type == MLS_SENDER_MEMBER) {
		if (epoch->secrets == NULL) {
			return HALQA_ERR_ARG;
		}
		if ((rc = membership_tag(tag, epoch->secrets->membership_key, &pm->content,
					 &pm->auth, epoch->group_context)) != HALQA_OK) {
			goto out;
		}
		/* The length is public; the bytes are compared in constant time. */
		if (pm->membership_tag.len != sizeof tag ||
		    sodium_memcmp(tag, pm->membership_tag.data, sizeof tag) != 0) {
			rc = HALQA_ERR_CRYPTO;
			goto out;
		}
	}
	out->wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	out->content = pm->content;
	out->auth = pm->auth;
	memset(&pm->content, 0, sizeof pm->content);
	memset(&pm->auth, 0, sizeof pm->auth);
	rc = HALQA_OK;
out:
	sodium_memzero(tag, sizeof tag);
	return rc;
}

/* The 4-byte reuse guard XORed into the first bytes of the nonce (6.3.1). */
static void apply_guard(uint8_t nonce[MLS_AEAD_NONCE_LEN], const uint8_t guard[4])
{
	for (size_t i = 0; i < 4; i++) {
		nonce[i] ^= guard[i];
	}
}

int mls_framing_protect_private(const struct mls_framing_epoch *epoch, uint8_t **out,
				size_t *out_len, const struct mls_authenticated_content *ac,
				size_t padding_len)
{
	struct mls_message msg;
	struct mls_private_message *pm = &msg.private_message;
	struct mls_private_message_content pc;
	struct mls_secret_tree_key key;
	struct mls_sender_data sd;
	struct bytes_writer pt, aad, sd_pt, sd_aad;
	enum mls_secret_tree_ratchet type;
	uint8_t nonce[MLS_AEAD_NONCE_LEN], sd_key[MLS_AEAD_KEY_LEN], sd_nonce[MLS_AEAD_NONCE_LEN];
	uint8_t sealed_sd[SEALED_SENDER_DATA_LEN], *ct = NULL;
	unsigned long long ct_len = 0, sealed_len = 0;
	int rc;

	memset(&msg, 0, sizeof msg);
	memset(&pc, 0, sizeof pc);
	memset(&key, 0, sizeof key);
	memset(&sd, 0, sizeof sd);
	bytes_writer_init(&pt, MAX_PLAINTEXT, BYTES_WIPE);
	bytes_writer_init(&aad, MLS_MAX_ENCODING, 0);
	bytes_writer_init(&sd_pt, 64, BYTES_WIPE);
	bytes_writer_init(&sd_aad, MLS_MAX_ENCODING, 0);
	*out = NULL;
	*out_len = 0;
	if ((rc = check_outgoing(epoch, ac, MLS_WIRE_PRIVATE_MESSAGE)) != HALQA_OK) {
		goto out;
	}
	if (epoch->tree == NULL || epoch->secrets == NULL ||
	    ac->content.sender.type != MLS_SENDER_MEMBER ||
	    ac->content.sender.index >= mls_secret_tree_n_leaves(epoch->tree) ||
	    padding_len > MLS_FRAMING_MAX_PADDING) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = ratchet_for(ac->content.content_type, &type)) != HALQA_OK) {
		rc = HALQA_ERR_ARG;
		goto out;
	}

	/* PrivateMessageContent: the body, the auth data, then zero padding. */
	pc.content_type = ac->content.content_type;
	pc.application_data = ac->content.application_data; /* shallow copies */
	pc.proposal = ac->content.proposal;
	pc.commit = ac->content.commit;
	pc.auth = ac->auth;
	pc.padding_len = padding_len;
	if ((rc = mls_private_message_content_encode(&pt, &pc)) != HALQA_OK) {
		goto out;
	}

	msg.version = MLS_VERSION_MLS10;
	msg.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	pm->group_id = ac->content.group_id;
	pm->epoch = ac->content.epoch;
	pm->content_type = ac->content.content_type;
	pm->authenticated_data = ac->content.authenticated_data;
	if ((rc = mls_private_content_aad_encode(&aad, pm)) != HALQA_OK ||
	    (rc = mls_sender_data_aad_encode(&sd_aad, pm)) != HALQA_OK) {
		goto out;
	}

	/* From here on a generation is spent, whatever happens next. */
	if ((rc = mls_secret_tree_next_key(epoch->tree, &key, ac->content.sender.index, type)) !=
	    HALQA_OK) {
		goto out;
	}
	sd.leaf_index = ac->content.sender.index;
	sd.generation = key.generation;
	randombytes_buf(sd.reuse_guard, sizeof sd.reuse_guard);
	memcpy(nonce, key.nonce, sizeof nonce);
	apply_guard(nonce, sd.reuse_guard);
	if ((ct = malloc(bytes_writer_len(&pt) + MLS_AEAD_TAG_LEN)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	crypto_aead_chacha20poly1305_ietf_encrypt(ct, &ct_len, bytes_writer_data(&pt),
						  bytes_writer_len(&pt), bytes_writer_data(&aad),
						  bytes_writer_len(&aad), NULL, nonce, key.key);

	/* SenderData, keyed by the sample of the content ciphertext (6.3.2). */
	if ((rc = mls_sender_data_encode(&sd_pt, &sd)) != HALQA_OK ||
	    (rc = mls_secret_tree_sender_data(sd_key, sd_nonce, epoch->secrets->sender_data_secret,
					      ct, (size_t)ct_len)) != HALQA_OK) {
		goto out;
	}
	if (bytes_writer_len(&sd_pt) != SENDER_DATA_LEN) {
		rc = HALQA_ERR_INTERNAL;
		goto out;
	}
	crypto_aead_chacha20poly1305_ietf_encrypt(
	    sealed_sd, &sealed_len, bytes_writer_data(&sd_pt), bytes_writer_len(&sd_pt),
	    bytes_writer_data(&sd_aad), bytes_writer_len(&sd_aad), NULL, sd_nonce, sd_key);
	pm->encrypted_sender_data.data = sealed_sd;
	pm->encrypted_sender_data.len = (size_t)sealed_len;
	pm->ciphertext.data = ct;
	pm->ciphertext.len = (size_t)ct_len;
	rc = encode_message(&msg, out, out_len);
out:
	memset(&msg, 0, sizeof msg); /* shallow: the fields belong to |ac| or to locals */
	memset(&pc, 0, sizeof pc);
	mls_secret_tree_key_wipe(&key);
	sodium_memzero(&sd, sizeof sd);
	sodium_memzero(nonce, sizeof nonce);
	sodium_memzero(sd_key, sizeof sd_key);
	sodium_memzero(sd_nonce, sizeof sd_nonce);
	bytes_writer_cleanup(&pt);
	bytes_writer_cleanup(&aad);
	bytes_writer_cleanup(&sd_pt);
	bytes_writer_cleanup(&sd_aad);
	free(ct);
	return rc;
}

/* Opens the sender data of |pm| (RFC 9420 6.3.2) into |*sd|. */
static int open_sender_data(const struct mls_framing_epoch *epoch,
			    const struct mls_private_message *pm, struct mls_sender_data *sd)
{
	struct bytes_writer aad;
	uint8_t key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN], plain[SENDER_DATA_LEN];
	unsigned long long plain_len = 0;
	int rc;

	bytes_writer_init(&aad, MLS_MAX_ENCODING, 0);
	if (pm->encrypted_sender_data.len != SEALED_SENDER_DATA_LEN) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((rc = mls_sender_data_aad_encode(&aad, pm)) != HALQA_OK ||
	    (rc = mls_secret_tree_sender_data(key, nonce, epoch->secrets->sender_data_secret,
					      pm->ciphertext.data, pm->ciphertext.len)) !=
		    HALQA_OK) {
		goto out;
	}
	if (crypto_aead_chacha20poly1305_ietf_decrypt(
		    plain, &plain_len, NULL, pm->encrypted_sender_data.data,
		    pm->encrypted_sender_data.len, bytes_writer_data(&aad), bytes_writer_len(&aad),
		    nonce, key) != 0) {
		rc = HALQA_ERR_CRYPTO;
		goto out;
	}
	rc = mls_sender_data_decode_bytes(plain, (size_t)plain_len, sd);
out:
	sodium_memzero(key, sizeof key);
	sodium_memzero(nonce, sizeof nonce);
	sodium_memzero(plain, sizeof plain);
	bytes_writer_cleanup(&aad);
	return rc;
}

int mls_framing_unprotect_private(const struct mls_framing_epoch *epoch,
				  struct mls_authenticated_content *out,
				  const struct mls_private_message *pm)
{
	struct mls_private_message_content pc;
	struct mls_secret_tree_key key;
	struct mls_sender_data sd;
	struct bytes_writer aad;
	struct bytes_reader r;
	enum mls_secret_tree_ratchet type;
	uint8_t nonce[MLS_AEAD_NONCE_LEN], *pt = NULL;
	unsigned long long pt_len = 0;
	size_t pt_cap = 0;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(out, 0, sizeof *out);
	memset(&pc, 0, sizeof pc);
	memset(&key, 0, sizeof key);
	memset(&sd, 0, sizeof sd);
	bytes_writer_init(&aad, MLS_MAX_ENCODING, 0);
	if (epoch == NULL || epoch->group_context == NULL || epoch->secrets == NULL ||
	    epoch->tree == NULL || pm == NULL) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = check_header(epoch->group_context, &pm->group_id, pm->epoch)) != HALQA_OK ||
	    (rc = ratchet_for(pm->content_type, &type)) != HALQA_OK) {
		goto out;
	}
	if (pm->ciphertext.len < MLS_AEAD_TAG_LEN) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((rc = open_sender_data(epoch, pm, &sd)) != HALQA_OK) {
		goto out;
	}
	/* The sender must be a leaf of this tree; whether it is occupied is the caller's check. */
	if (sd.leaf_index >= mls_secret_tree_n_leaves(epoch->tree)) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	if ((rc = mls_secret_tree_get_key(epoch->tree, &key, sd.leaf_index, type, sd.generation)) !=
	    HALQA_OK) {
		goto out;
	}
	memcpy(nonce, key.nonce, sizeof nonce);
	apply_guard(nonce, sd.reuse_guard);
	if ((rc = mls_private_content_aad_encode(&aad, pm)) != HALQA_OK) {
		goto out;
	}
	pt_cap = pm->ciphertext.len - MLS_AEAD_TAG_LEN;
	if ((pt = malloc(pt_cap + 1)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &pt_len, NULL, pm->ciphertext.data,
						      pm->ciphertext.len, bytes_writer_data(&aad),
						      bytes_writer_len(&aad), nonce,
						      key.key) != 0) {
		rc = HALQA_ERR_CRYPTO;
		goto out;
	}
	bytes_reader_init(&r, pt, (size_t)pt_len);
	if ((rc = mls_private_message_content_decode(&r, pm->content_type, &pc)) != HALQA_OK) {
		goto out;
	}

	out->wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	out->content.epoch = pm->epoch;
	out->content.sender.type = MLS_SENDER_MEMBER;
	out->content.sender.index = sd.leaf_index;
	out->content.content_type = pm->content_type;
	if ((rc = mls_bytes_copy(&out->content.group_id, &pm->group_id)) != HALQA_OK ||
	    (rc = mls_bytes_copy(&out->content.authenticated_data, &pm->authenticated_data)) !=
		    HALQA_OK) {
		goto out;
	}
	/* Only now, with the whole message authenticated and parsed, spend the key. */
	if ((rc = mls_secret_tree_consume(epoch->tree, &key)) != HALQA_OK) {
		goto out;
	}
	out->content.application_data = pc.application_data;
	out->content.proposal = pc.proposal;
	out->content.commit = pc.commit;
	out->auth = pc.auth;
	memset(&pc, 0, sizeof pc);
	rc = HALQA_OK;
out:
	if (rc != HALQA_OK) {
		mls_authenticated_content_cleanup(out);
	}
	mls_private_message_content_cleanup(&pc);
	mls_secret_tree_key_wipe(&key);
	sodium_memzero(&sd, sizeof sd);
	sodium_memzero(nonce, sizeof nonce);
	if (pt != NULL) {
		sodium_memzero(pt, pt_cap + 1);
		free(pt);
	}
	bytes_writer_cleanup(&aad);
	return rc;
}
