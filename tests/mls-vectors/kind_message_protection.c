/*
 * kind_message_protection.c: RFC 9420 section 6. The GroupContext is built
 * from the entry (no extensions); the sender is leaf 1 of 2. For each of
 * proposal, commit and application:
 *   - the given PublicMessage (not for application) must pass the
 *     membership tag, its signature must verify with signature_pub, and
 *     its content must re-encode to the raw value;
 *   - our own PublicMessage of the raw value, signed with signature_priv,
 *     must unprotect and verify likewise (for application, protecting as
 *     a PublicMessage must be refused);
 *   - the given PrivateMessage must decrypt with a fresh secret tree from
 *     encryption_secret, verify and give the raw value;
 *   - our own PrivateMessage of the raw value, made with one tree and
 *     opened with another, must round-trip (encryption is randomized, so
 *     the bytes are not compared).
 */
#include "vectors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_framing.h"

struct mp_ctx {
	struct vector_ctx *vc;
	struct mls_group_context gc;
	struct mls_key_schedule_epoch secrets; /* only the fields framing reads */
	uint8_t encryption_secret[MLS_HASH_LEN];
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
	uint8_t sig_pub[MLS_SIG_PUB_LEN];
};

/* Encodes the body of |c| (proposal, commit or application data) for comparison. */
static int body_matches(struct mp_ctx *m, const char *what, const struct mls_framed_content *c,
			uint8_t content_type, const uint8_t *raw, size_t raw_len)
{
	struct bytes_writer w;
	int ok = 0;

	if (c->content_type != content_type) {
		vec_fail(m->vc, "%s: content type %u, want %u", what, c->content_type, content_type);
		return 0;
	}
	if (c->sender.type != MLS_SENDER_MEMBER || c->sender.index != 1) {
		vec_fail(m->vc, "%s: sender is not member 1", what);
		return 0;
	}
	if (content_type == MLS_CONTENT_APPLICATION) {
		return vec_check_bytes(m->vc, what, c->application_data.data,
				       c->application_data.len, raw, raw_len);
	}
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if (content_type == MLS_CONTENT_PROPOSAL) {
		mls_proposal_encode(&w, &c->proposal);
	} else {
		mls_commit_encode(&w, &c->commit);
	}
	if (vec_check_rc(m->vc, what, bytes_writer_error(&w))) {
		ok = vec_check_bytes(m->vc, what, bytes_writer_data(&w), bytes_writer_len(&w), raw,
				     raw_len);
	}
	bytes_writer_cleanup(&w);
	return ok;
}

/* Unprotects the MLSMessage |bytes| with |tree| (or as public), verifies, compares. */
static int check_incoming(struct mp_ctx *m, const char *what, const uint8_t *bytes, size_t len,
			  struct mls_secret_tree *tree, uint8_t content_type, const uint8_t *raw,
			  size_t raw_len)
{
	struct mls_framing_epoch ep = {&m->gc, &m->secrets, tree};
	struct mls_message msg = {0};
	struct mls_authenticated_content ac = {0};
	int ok = 0;

	if (!vec_check_rc(m->vc, what, mls_message_decode_bytes(bytes, len, &msg))) {
		return 0;
	}
	if (tree == NULL) {
		if (msg.wire_format != MLS_WIRE_PUBLIC_MESSAGE ||
		    !vec_check_rc(m->vc, what,
				  mls_framing_unprotect_public(&ep, &ac, &msg.public_message))) {
			vec_fail(m->vc, "%s: not an acceptable PublicMessage", what);
			goto out;
		}
	} else if (msg.wire_format != MLS_WIRE_PRIVATE_MESSAGE ||
		   !vec_check_rc(m->vc, what,
				 mls_framing_unprotect_private(&ep, &ac, &msg.private_message))) {
		vec_fail(m->vc, "%s: not an acceptable PrivateMessage", what);
		goto out;
	}
	if (vec_check_rc(m->vc, what, mls_framing_verify(&ac, &m->gc, m->sig_pub))) {
		ok = body_matches(m, what, &ac.content, content_type, raw, raw_len);
	}
out:
	mls_authenticated_content_cleanup(&ac);
	mls_message_cleanup(&msg);
	return ok;
}

/* Builds our own signed AuthenticatedContent of the raw value. */
static int build_content(struct mp_ctx *m, struct mls_authenticated_content *ac,
			 uint16_t wire_format, uint8_t content_type, const uint8_t *raw,
			 size_t raw_len)
{
	static const uint8_t aad[] = "halqa message-protection test";
	uint8_t tag[MLS_HASH_LEN];
	int rc;

	memset(ac, 0, sizeof *ac);
	ac->wire_format = wire_format;
	ac->content.epoch = m->gc.epoch;
	ac->content.sender.type = MLS_SENDER_MEMBER;
	ac->content.sender.index = 1;
	ac->content.content_type = content_type;
	if ((rc = mls_bytes_copy(&ac->content.group_id, &m->gc.group_id)) != HALQA_OK ||
	    (rc = mls_bytes_set(&ac->content.authenticated_data, aad, sizeof aad - 1)) !=
		    HALQA_OK) {
		return rc;
	}
	switch (content_type) {
	case MLS_CONTENT_PROPOSAL:
		rc = mls_proposal_decode_bytes(raw, raw_len, &ac->content.proposal);
		break;
	case MLS_CONTENT_COMMIT:
		rc = mls_commit_decode_bytes(raw, raw_len, &ac->content.commit);
		break;
	default:
		rc = mls_bytes_set(&ac->content.application_data, raw, raw_len);
		break;
	}
	if (rc != HALQA_OK ||
	    (rc = mls_framing_sign(&ac->auth.signature, wire_format, &ac->content, &m->gc,
				   m->sig_priv)) != HALQA_OK) {
		return rc;
	}
	if (content_type == MLS_CONTENT_COMMIT) {
		/* Any well-formed tag: the framing layer carries it, the group checks it. */
		randombytes_buf(tag, sizeof tag);
		rc = mls_bytes_set(&ac->auth.confirmation_tag, tag, sizeof tag);
	}
	return rc;
}

static void check_kind(struct mp_ctx *m, json_t *entry, const char *name, uint8_t content_type)
{
	char field[32];
	const uint8_t *raw, *pub_msg = NULL, *priv_msg;
	size_t raw_len, pub_len = 0, priv_len;
	struct mls_secret_tree *rx = NULL, *tx = NULL;
	struct mls_authenticated_content ac = {0};
	struct mls_framing_epoch ep = {&m->gc, &m->secrets, NULL};
	uint8_t *ours = NULL;
	size_t ours_len = 0;
	int rc;

	if ((raw = vec_hex(m->vc, entry, name, &raw_len)) == NULL) {
		return;
	}
	snprintf(field, sizeof field, "%s_priv", name);
	if ((priv_msg = vec_hex(m->vc, entry, field, &priv_len)) == NULL) {
		return;
	}
	if (content_type != MLS_CONTENT_APPLICATION) {
		snprintf(field, sizeof field, "%s_pub", name);
		if ((pub_msg = vec_hex(m->vc, entry, field, &pub_len)) == NULL ||
		    !check_incoming(m, field, pub_msg, pub_len, NULL, content_type, raw, raw_len)) {
			return;
		}
	}

	/* Our own PublicMessage. */
	snprintf(field, sizeof field, "own %s public", name);
	if (!vec_check_rc(m->vc, field,
			  build_content(m, &ac, MLS_WIRE_PUBLIC_MESSAGE, content_type, raw,
					raw_len))) {
		goto out;
	}
	rc = mls_framing_protect_public(&ep, &ours, &ours_len, &ac);
	if (content_type == MLS_CONTENT_APPLICATION) {
		if (rc != HALQA_ERR_INVALID) {
			vec_fail(m->vc, "application data was protected as a PublicMessage");
			goto out;
		}
	} else if (!vec_check_rc(m->vc, field, rc) ||
		   !check_incoming(m, field, ours, ours_len, NULL, content_type, raw, raw_len)) {
		goto out;
	}
	free(ours);
	ours = NULL;
	mls_authenticated_content_cleanup(&ac);

	/* The given PrivateMessage, with a fresh tree. */
	snprintf(field, sizeof field, "%s_priv", name);
	if (!vec_check_rc(m->vc, "secret tree",
			  mls_secret_tree_new(&rx, m->encryption_secret, 2)) ||
	    !check_incoming(m, field, priv_msg, priv_len, rx, content_type, raw, raw_len)) {
		goto out;
	}
	mls_secret_tree_free(rx);
	rx = NULL;

	/* Our own PrivateMessage: one tree seals, another opens. */
	snprintf(field, sizeof field, "own %s private", name);
	if (!vec_check_rc(m->vc, "secret tree",
			  mls_secret_tree_new(&tx, m->encryption_secret, 2)) ||
	    !vec_check_rc(m->vc, "secret tree",
			  mls_secret_tree_new(&rx, m->encryption_secret, 2)) ||
	    !vec_check_rc(m->vc, field,
			  build_content(m, &ac, MLS_WIRE_PRIVATE_MESSAGE, content_type, raw,
					raw_len))) {
		goto out;
	}
	ep.tree = tx;
	if (!vec_check_rc(m->vc, field, mls_framing_protect_private(&ep, &ours, &ours_len, &ac, 7)) ||
	    !check_incoming(m, field, ours, ours_len, rx, content_type, raw, raw_len)) {
		goto out;
	}
	/* The same message a second time is a replay: its key is gone. */
	{
		struct mls_message msg = {0};
		struct mls_authenticated_content again = {0};
		struct mls_framing_epoch rx_ep = {&m->gc, &m->secrets, rx};

		if (mls_message_decode_bytes(ours, ours_len, &msg) != HALQA_OK ||
		    mls_framing_unprotect_private(&rx_ep, &again, &msg.private_message) !=
			    HALQA_ERR_NOT_FOUND) {
			vec_fail(m->vc, "%s: a replayed PrivateMessage was not refused", field);
		}
		mls_authenticated_content_cleanup(&again);
		mls_message_cleanup(&msg);
	}
out:
	free(ours);
	mls_authenticated_content_cleanup(&ac);
	mls_secret_tree_free(rx);
	mls_secret_tree_free(tx);
}

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mp_ctx m;
	const uint8_t *group_id, *tree_hash, *cth, *seed, *pub, *enc, *sds, *mk;
	size_t group_id_len, tree_hash_len, cth_len, seed_len, pub_len, enc_len, sds_len, mk_len;
	uint64_t suite, epoch;

	memset(&m, 0, sizeof m);
	m.vc = ctx;
	if (!vec_uint(ctx, entry, "cipher_suite", &suite) || !vec_uint(ctx, entry, "epoch", &epoch) ||
	    (group_id = vec_hex(ctx, entry, "group_id", &group_id_len)) == NULL ||
	    (tree_hash = vec_hex(ctx, entry, "tree_hash", &tree_hash_len)) == NULL ||
	    (cth = vec_hex(ctx, entry, "confirmed_transcript_hash", &cth_len)) == NULL ||
	    (seed = vec_hex(ctx, entry, "signature_priv", &seed_len)) == NULL ||
	    (pub = vec_hex(ctx, entry, "signature_pub", &pub_len)) == NULL ||
	    (enc = vec_hex(ctx, entry, "encryption_secret", &enc_len)) == NULL ||
	    (sds = vec_hex(ctx, entry, "sender_data_secret", &sds_len)) == NULL ||
	    (mk = vec_hex(ctx, entry, "membership_key", &mk_len)) == NULL) {
		return;
	}
	if (suite != 3 || seed_len != MLS_SIG_SEED_LEN || pub_len != MLS_SIG_PUB_LEN ||
	    enc_len != MLS_HASH_LEN || sds_len != MLS_HASH_LEN || mk_len != MLS_HASH_LEN) {
		vec_fail(ctx, "unexpected suite or key sizes");
		return;
	}
	m.gc.version = MLS_VERSION_MLS10;
	m.gc.cipher_suite = (uint16_t)suite;
	m.gc.epoch = epoch;
	if (mls_bytes_set(&m.gc.group_id, group_id, group_id_len) != HALQA_OK ||
	    mls_bytes_set(&m.gc.tree_hash, tree_hash, tree_hash_len) != HALQA_OK ||
	    mls_bytes_set(&m.gc.confirmed_transcript_hash, cth, cth_len) != HALQA_OK ||
	    !vec_check_rc(ctx, "signature key",
			  mls_sig_key_pair_from_seed(m.sig_priv, m.sig_pub, seed))) {
		goto out;
	}
	if (!vec_check_bytes(ctx, "signature_pub from signature_priv", m.sig_pub, sizeof m.sig_pub,
			     pub, pub_len)) {
		goto out;
	}
	memcpy(m.encryption_secret, enc, MLS_HASH_LEN);
	memcpy(m.secrets.sender_data_secret, sds, MLS_HASH_LEN);
	memcpy(m.secrets.membership_key, mk, MLS_HASH_LEN);
	check_kind(&m, entry, "proposal", MLS_CONTENT_PROPOSAL);
	check_kind(&m, entry, "commit", MLS_CONTENT_COMMIT);
	check_kind(&m, entry, "application", MLS_CONTENT_APPLICATION);
out:
	mls_group_context_cleanup(&m.gc);
	sodium_memzero(&m, sizeof m);
}

const struct vector_kind vector_kind_message_protection = {"message-protection", run_entry};
