/*
 * mls_codec_msg.c: RFC 9420 wire syntax, part two: proposals, Commit,
 * framing, GroupInfo, GroupSecrets, Welcome and MLSMessage, and the
 * encoders of the signed, MACed and hashed inputs built from them.
 *
 * Same design as mls_codec.c. Three points are particular to framing:
 * fields whose presence depends on an earlier field (the confirmation tag
 * on the content type, the membership tag on the sender type) are decoded
 * with that field in hand, never guessed; PrivateMessageContent has no
 * length of its own, so its decoder consumes the whole plaintext and
 * requires the rest to be zero padding (RFC 9420 6.3.1); and every
 * to-be-signed or to-be-hashed input is produced here, from the same
 * encoders as the wire form, so the bytes signed are the bytes sent.
 */
#include "halqa/mls_codec_msg.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec_impl.h"

/* ---- PreSharedKeyID ---- */

int mls_psk_id_decode(struct bytes_reader *r, struct mls_psk_id *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u8(r, &out->psktype)) != HALQA_OK) {
		goto out;
	}
	switch (out->psktype) {
	case MLS_PSK_EXTERNAL:
		rc = mls_bytes_decode(r, &out->psk_id, MLS_MAX_SECRET);
		break;
	case MLS_PSK_RESUMPTION:
		if ((rc = bytes_get_u8(r, &out->usage)) != HALQA_OK) {
			break;
		}
		if (out->usage < MLS_RESUMPTION_APPLICATION || out->usage > MLS_RESUMPTION_BRANCH) {
			rc = HALQA_ERR_UNSUPPORTED;
			break;
		}
		if ((rc = mls_bytes_decode(r, &out->psk_group_id, MLS_MAX_GROUP_ID)) != HALQA_OK) {
			break;
		}
		rc = bytes_get_u64(r, &out->psk_epoch);
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
	if (rc == HALQA_OK) {
		rc = mls_bytes_decode(r, &out->psk_nonce, MLS_MAX_SECRET);
	}
out:
	if (rc != HALQA_OK) {
		mls_psk_id_cleanup(out);
	}
	return rc;
}

int mls_psk_id_encode(struct bytes_writer *w, const struct mls_psk_id *in)
{
	bytes_put_u8(w, in->psktype);
	switch (in->psktype) {
	case MLS_PSK_EXTERNAL:
		mls_bytes_encode(w, &in->psk_id);
		break;
	case MLS_PSK_RESUMPTION:
		bytes_put_u8(w, in->usage);
		mls_bytes_encode(w, &in->psk_group_id);
		bytes_put_u64(w, in->psk_epoch);
		break;
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	return mls_bytes_encode(w, &in->psk_nonce);
}

void mls_psk_id_cleanup(struct mls_psk_id *p)
{
	mls_bytes_wipe(&p->psk_id);
	mls_bytes_cleanup(&p->psk_group_id);
	mls_bytes_wipe(&p->psk_nonce);
	memset(p, 0, sizeof(*p));
}

/* ---- proposal bodies ---- */

int mls_add_decode(struct bytes_reader *r, struct mls_add *out)
{
	return mls_key_package_decode(r, &out->key_package);
}

int mls_add_encode(struct bytes_writer *w, const struct mls_add *in)
{
	return mls_key_package_encode(w, &in->key_package);
}

void mls_add_cleanup(struct mls_add *p)
{
	mls_key_package_cleanup(&p->key_package);
}

int mls_update_decode(struct bytes_reader *r, struct mls_update *out)
{
	return mls_leaf_node_decode(r, &out->leaf_node);
}

int mls_update_encode(struct bytes_writer *w, const struct mls_update *in)
{
	return mls_leaf_node_encode(w, &in->leaf_node);
}

void mls_update_cleanup(struct mls_update *p)
{
	mls_leaf_node_cleanup(&p->leaf_node);
}

int mls_remove_decode(struct bytes_reader *r, struct mls_remove *out)
{
	int rc;

	if ((rc = bytes_get_u32(r, &out->removed)) != HALQA_OK) {
		out->removed = 0;
	}
	return rc;
}

int mls_remove_encode(struct bytes_writer *w, const struct mls_remove *in)
{
	return bytes_put_u32(w, in->removed);
}

void mls_remove_cleanup(struct mls_remove *p)
{
	p->removed = 0;
}

int mls_pre_shared_key_decode(struct bytes_reader *r, struct mls_pre_shared_key *out)
{
	return mls_psk_id_decode(r, &out->psk);
}

int mls_pre_shared_key_encode(struct bytes_writer *w, const struct mls_pre_shared_key *in)
{
	return mls_psk_id_encode(w, &in->psk);
}

void mls_pre_shared_key_cleanup(struct mls_pre_shared_key *p)
{
	mls_psk_id_cleanup(&p->psk);
}

int mls_reinit_decode(struct bytes_reader *r, struct mls_reinit *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->group_id, MLS_MAX_GROUP_ID)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &out->version)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &out->cipher_suite)) != HALQA_OK ||
	    (rc = mls_extension_list_decode(r, &out->extensions)) != HALQA_OK) {
		mls_reinit_cleanup(out);
	}
	return rc;
}

int mls_reinit_encode(struct bytes_writer *w, const struct mls_reinit *in)
{
	mls_bytes_encode(w, &in->group_id);
	bytes_put_u16(w, in->version);
	bytes_put_u16(w, in->cipher_suite);
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_reinit_cleanup(struct mls_reinit *p)
{
	mls_bytes_cleanup(&p->group_id);
	mls_extension_list_cleanup(&p->extensions);
	memset(p, 0, sizeof(*p));
}

int mls_external_init_decode(struct bytes_reader *r, struct mls_external_init *out)
{
	return mls_bytes_decode(r, &out->kem_output, MLS_MAX_KEY);
}

int mls_external_init_encode(struct bytes_writer *w, const struct mls_external_init *in)
{
	return mls_bytes_encode(w, &in->kem_output);
}

void mls_external_init_cleanup(struct mls_external_init *p)
{
	mls_bytes_cleanup(&p->kem_output);
}

int mls_group_context_extensions_decode(struct bytes_reader *r,
					struct mls_group_context_extensions *out)
{
	return mls_extension_list_decode(r, &out->extensions);
}

int mls_group_context_extensions_encode(struct bytes_writer *w,
					const struct mls_group_context_extensions *in)
{
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_group_context_extensions_cleanup(struct mls_group_context_extensions *p)
{
	mls_extension_list_cleanup(&p->extensions);
}

/* ---- Proposal, ProposalOrRef, Commit ---- */

int mls_proposal_decode(struct bytes_reader *r, struct mls_proposal *out)
{
	uint16_t type;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &type)) != HALQA_OK) {
		return rc;
	}
	switch (type) {
	case MLS_PROPOSAL_ADD:
		rc = mls_add_decode(r, &out->u.add);
		break;
	case MLS_PROPOSAL_UPDATE:
		rc = mls_update_decode(r, &out->u.update);
		break;
	case MLS_PROPOSAL_REMOVE:
		rc = mls_remove_decode(r, &out->u.remove);
		break;
	case MLS_PROPOSAL_PSK:
		rc = mls_pre_shared_key_decode(r, &out->u.psk);
		break;
	case MLS_PROPOSAL_REINIT:
		rc = mls_reinit_decode(r, &out->u.reinit);
		break;
	case MLS_PROPOSAL_EXTERNAL_INIT:
		rc = mls_external_init_decode(r, &out->u.external_init);
		break;
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		rc = mls_group_context_extensions_decode(r, &out->u.group_context_extensions);
		break;
	default:
		/* No length prefix: an unknown proposal cannot be skipped (RFC 9420 12.1). */
		return HALQA_ERR_UNSUPPORTED;
	}
	if (rc == HALQA_OK) {
		out->type = type;
	}
	return rc;
}

int mls_proposal_encode(struct bytes_writer *w, const struct mls_proposal *in)
{
	bytes_put_u16(w, in->type);
	switch (in->type) {
	case MLS_PROPOSAL_ADD:
		return mls_add_encode(w, &in->u.add);
	case MLS_PROPOSAL_UPDATE:
		return mls_update_encode(w, &in->u.update);
	case MLS_PROPOSAL_REMOVE:
		return mls_remove_encode(w, &in->u.remove);
	case MLS_PROPOSAL_PSK:
		return mls_pre_shared_key_encode(w, &in->u.psk);
	case MLS_PROPOSAL_REINIT:
		return mls_reinit_encode(w, &in->u.reinit);
	case MLS_PROPOSAL_EXTERNAL_INIT:
		return mls_external_init_encode(w, &in->u.external_init);
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		return mls_group_context_extensions_encode(w, &in->u.group_context_extensions);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

void mls_proposal_cleanup(struct mls_proposal *p)
{
	switch (p->type) {
	case MLS_PROPOSAL_ADD:
		mls_add_cleanup(&p->u.add);
		break;
	case MLS_PROPOSAL_UPDATE:
		mls_update_cleanup(&p->u.update);
		break;
	case MLS_PROPOSAL_PSK:
		mls_pre_shared_key_cleanup(&p->u.psk);
		break;
	case MLS_PROPOSAL_REINIT:
		mls_reinit_cleanup(&p->u.reinit);
		break;
	case MLS_PROPOSAL_EXTERNAL_INIT:
		mls_external_init_cleanup(&p->u.external_init);
		break;
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		mls_group_context_extensions_cleanup(&p->u.group_context_extensions);
		break;
	default:
		break;
	}
	memset(p, 0, sizeof(*p));
}

MLS_COPY_VIA_CODEC(mls_proposal)

int mls_proposal_or_ref_decode(struct bytes_reader *r, struct mls_proposal_or_ref *out)
{
	uint8_t type;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u8(r, &type)) != HALQA_OK) {
		return rc;
	}
	switch (type) {
	case MLS_PROPOSAL_OR_REF_PROPOSAL:
		rc = mls_proposal_decode(r, &out->proposal);
		break;
	case MLS_PROPOSAL_OR_REF_REFERENCE:
		rc = mls_bytes_decode(r, &out->reference, MLS_MAX_HASH);
		break;
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
	if (rc == HALQA_OK) {
		out->type = type;
	}
	return rc;
}

int mls_proposal_or_ref_encode(struct bytes_writer *w, const struct mls_proposal_or_ref *in)
{
	bytes_put_u8(w, in->type);
	switch (in->type) {
	case MLS_PROPOSAL_OR_REF_PROPOSAL:
		return mls_proposal_encode(w, &in->proposal);
	case MLS_PROPOSAL_OR_REF_REFERENCE:
		return mls_bytes_encode(w, &in->reference);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

void mls_proposal_or_ref_cleanup(struct mls_proposal_or_ref *p)
{
	mls_proposal_cleanup(&p->proposal);
	mls_bytes_cleanup(&p->reference);
	memset(p, 0, sizeof(*p));
}

MLS_LIST_THUNKS(por, mls_proposal_or_ref)

int mls_commit_decode(struct bytes_reader *r, struct mls_commit *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_PROPOSALS,
			     sizeof(struct mls_proposal_or_ref), por_dec, por_free, &items,
			     &out->num_proposals);
	out->proposals = items;
	if (rc != HALQA_OK || (rc = mls_optional_decode(r, &out->has_path)) != HALQA_OK) {
		goto out;
	}
	if (out->has_path) {
		rc = mls_update_path_decode(r, &out->path);
	}
out:
	if (rc != HALQA_OK) {
		mls_commit_cleanup(out);
	}
	return rc;
}

int mls_commit_encode(struct bytes_writer *w, const struct mls_commit *in)
{
	mls_list_encode(w, in->proposals, in->num_proposals, sizeof(struct mls_proposal_or_ref),
			por_enc);
	bytes_put_u8(w, in->has_path ? 1 : 0);
	if (in->has_path) {
		mls_update_path_encode(w, &in->path);
	}
	return bytes_writer_error(w);
}

void mls_commit_cleanup(struct mls_commit *c)
{
	mls_list_cleanup(c->proposals, c->num_proposals, sizeof(struct mls_proposal_or_ref),
			 por_free);
	mls_update_path_cleanup(&c->path);
	memset(c, 0, sizeof(*c));
}

/* ---- Sender, FramedContent, FramedContentAuthData ---- */

int mls_sender_decode(struct bytes_reader *r, struct mls_sender *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u8(r, &out->type)) != HALQA_OK) {
		return rc;
	}
	switch (out->type) {
	case MLS_SENDER_MEMBER:
	case MLS_SENDER_EXTERNAL:
		rc = bytes_get_u32(r, &out->index);
		break;
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
	if (rc != HALQA_OK) {
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int mls_sender_encode(struct bytes_writer *w, const struct mls_sender *in)
{
	bytes_put_u8(w, in->type);
	switch (in->type) {
	case MLS_SENDER_MEMBER:
	case MLS_SENDER_EXTERNAL:
		return bytes_put_u32(w, in->index);
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case MLS_SENDER_NEW_MEMBER_COMMIT:
		return bytes_writer_error(w);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

/*
 * The content body selected by a content type: shared by FramedContent and
 * PrivateMessageContent, which carry the same select.
 */
static int content_body_decode(struct bytes_reader *r, uint8_t content_type,
			       struct mls_bytes *application_data, struct mls_proposal *proposal,
			       struct mls_commit *commit)
{
	switch (content_type) {
	case MLS_CONTENT_APPLICATION:
		return mls_bytes_decode(r, application_data, MLS_MAX_MESSAGE);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_decode(r, proposal);
	case MLS_CONTENT_COMMIT:
		return mls_commit_decode(r, commit);
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

static int content_body_encode(struct bytes_writer *w, uint8_t content_type,
			       const struct mls_bytes *application_data,
			       const struct mls_proposal *proposal, const struct mls_commit *commit)
{
	switch (content_type) {
	case MLS_CONTENT_APPLICATION:
		return mls_bytes_encode(w, application_data);
	case MLS_CONTENT_PROPOSAL:
		return mls_proposal_encode(w, proposal);
	case MLS_CONTENT_COMMIT:
		return mls_commit_encode(w, commit);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

int mls_framed_content_decode(struct bytes_reader *r, struct mls_framed_content *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->group_id, MLS_MAX_GROUP_ID)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &out->epoch)) != HALQA_OK ||
	    (rc = mls_sender_decode(r, &out->sender)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->authenticated_data, MLS_MAX_MESSAGE)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &out->content_type)) != HALQA_OK ||
	    (rc = content_body_decode(r, out->content_type, &out->application_data, &out->proposal,
				      &out->commit)) != HALQA_OK) {
		mls_framed_content_cleanup(out);
	}
	return rc;
}

int mls_framed_content_encode(struct bytes_writer *w, const struct mls_framed_content *in)
{
	mls_bytes_encode(w, &in->group_id);
	bytes_put_u64(w, in->epoch);
	mls_sender_encode(w, &in->sender);
	mls_bytes_encode(w, &in->authenticated_data);
	bytes_put_u8(w, in->content_type);
	return content_body_encode(w, in->content_type, &in->application_data, &in->proposal,
				   &in->commit);
}

void mls_framed_content_cleanup(struct mls_framed_content *c)
{
	mls_bytes_cleanup(&c->group_id);
	mls_bytes_cleanup(&c->authenticated_data);
	/* Application data is plaintext once decrypted: wipe it. */
	mls_bytes_wipe(&c->application_data);
	mls_proposal_cleanup(&c->proposal);
	mls_commit_cleanup(&c->commit);
	memset(c, 0, sizeof(*c));
}

int mls_framed_content_auth_data_decode(struct bytes_reader *r, uint8_t content_type,
					struct mls_framed_content_auth_data *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (content_type < MLS_CONTENT_APPLICATION || content_type > MLS_CONTENT_COMMIT) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if ((rc = mls_bytes_decode(r, &out->signature, MLS_MAX_SIGNATURE)) == HALQA_OK &&
	    content_type == MLS_CONTENT_COMMIT) {
		rc = mls_bytes_decode(r, &out->confirmation_tag, MLS_MAX_HASH);
	}
	if (rc != HALQA_OK) {
		mls_framed_content_auth_data_cleanup(out);
	}
	return rc;
}

int mls_framed_content_auth_data_encode(struct bytes_writer *w, uint8_t content_type,
					const struct mls_framed_content_auth_data *in)
{
	if (content_type < MLS_CONTENT_APPLICATION || content_type > MLS_CONTENT_COMMIT) {
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	mls_bytes_encode(w, &in->signature);
	if (content_type == MLS_CONTENT_COMMIT) {
		mls_bytes_encode(w, &in->confirmation_tag);
	}
	return bytes_writer_error(w);
}

void mls_framed_content_auth_data_cleanup(struct mls_framed_content_auth_data *a)
{
	mls_bytes_cleanup(&a->signature);
	mls_bytes_cleanup(&a->confirmation_tag);
}

/* ---- AuthenticatedContent, PublicMessage, PrivateMessage ---- */

static bool is_framed_wire_format(uint16_t wf)
{
	return wf == MLS_WIRE_PUBLIC_MESSAGE || wf == MLS_WIRE_PRIVATE_MESSAGE;
}

int mls_authenticated_content_decode(struct bytes_reader *r, struct mls_authenticated_content *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->wire_format)) != HALQA_OK) {
		goto out;
	}
	/* Only the two framed wire formats carry FramedContent (RFC 9420 6). */
	if (!is_framed_wire_format(out->wire_format)) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = mls_framed_content_decode(r, &out->content)) != HALQA_OK) {
		goto out;
	}
	rc = mls_framed_content_auth_data_decode(r, out->content.content_type, &out->auth);
out:
	if (rc != HALQA_OK) {
		mls_authenticated_content_cleanup(out);
	}
	return rc;
}

int mls_authenticated_content_encode(struct bytes_writer *w,
				     const struct mls_authenticated_content *in)
{
	if (!is_framed_wire_format(in->wire_format)) {
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	bytes_put_u16(w, in->wire_format);
	mls_framed_content_encode(w, &in->content);
	return mls_framed_content_auth_data_encode(w, in->content.content_type, &in->auth);
}

void mls_authenticated_content_cleanup(struct mls_authenticated_content *a)
{
	mls_framed_content_cleanup(&a->content);
	mls_framed_content_auth_data_cleanup(&a->auth);
	memset(a, 0, sizeof(*a));
}

MLS_DECODE_BYTES(mls_authenticated_content)

int mls_public_message_decode(struct bytes_reader *r, struct mls_public_message *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_framed_content_decode(r, &out->content)) != HALQA_OK ||
	    (rc = mls_framed_content_auth_data_decode(r, out->content.content_type, &out->auth)) !=
		    HALQA_OK) {
		goto out;
	}
	/* RFC 9420 6.2: only a member's message carries the membership tag. */
	if (out->content.sender.type == MLS_SENDER_MEMBER) {
		rc = mls_bytes_decode(r, &out->membership_tag, MLS_MAX_HASH);
	}
out:
	if (rc != HALQA_OK) {
		mls_public_message_cleanup(out);
	}
	return rc;
}

int mls_public_message_encode(struct bytes_writer *w, const struct mls_public_message *in)
{
	mls_framed_content_encode(w, &in->content);
	mls_framed_content_auth_data_encode(w, in->content.content_type, &in->auth);
	if (in->content.sender.type == MLS_SENDER_MEMBER) {
		mls_bytes_encode(w, &in->membership_tag);
	}
	return bytes_writer_error(w);
}

void mls_public_message_cleanup(struct mls_public_message *m)
{
	mls_framed_content_cleanup(&m->content);
	mls_framed_content_auth_data_cleanup(&m->auth);
	mls_bytes_cleanup(&m->membership_tag);
	memset(m, 0, sizeof(*m));
}

int mls_private_message_decode(struct bytes_reader *r, struct mls_private_message *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->group_id, MLS_MAX_GROUP_ID)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &out->epoch)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &out->content_type)) != HALQA_OK) {
		goto out;
	}
	if (out->content_type < MLS_CONTENT_APPLICATION || out->content_type > MLS_CONTENT_COMMIT) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = mls_bytes_decode(r, &out->authenticated_data, MLS_MAX_MESSAGE)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->encrypted_sender_data, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->ciphertext, MLS_MAX_CIPHERTEXT)) != HALQA_OK) {
		goto out;
	}
out:
	if (rc != HALQA_OK) {
		mls_private_message_cleanup(out);
	}
	return rc;
}

/* The header shared by PrivateMessage, PrivateContentAAD and SenderDataAAD. */
static int private_header_encode(struct bytes_writer *w, const struct mls_private_message *m)
{
	if (m->content_type < MLS_CONTENT_APPLICATION || m->content_type > MLS_CONTENT_COMMIT) {
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	mls_bytes_encode(w, &m->group_id);
	bytes_put_u64(w, m->epoch);
	return bytes_put_u8(w, m->content_type);
}

int mls_private_message_encode(struct bytes_writer *w, const struct mls_private_message *in)
{
	private_header_encode(w, in);
	mls_bytes_encode(w, &in->authenticated_data);
	mls_bytes_encode(w, &in->encrypted_sender_data);
	return mls_bytes_encode(w, &in->ciphertext);
}

int mls_private_content_aad_encode(struct bytes_writer *w, const struct mls_private_message *m)
{
	private_header_encode(w, m);
	return mls_bytes_encode(w, &m->authenticated_data);
}

int mls_sender_data_aad_encode(struct bytes_writer *w, const struct mls_private_message *m)
{
	return private_header_encode(w, m);
}

void mls_private_message_cleanup(struct mls_private_message *m)
{
	mls_bytes_cleanup(&m->group_id);
	mls_bytes_cleanup(&m->authenticated_data);
	mls_bytes_cleanup(&m->encrypted_sender_data);
	mls_bytes_cleanup(&m->ciphertext);
	memset(m, 0, sizeof(*m));
}

/* ---- PrivateMessageContent, SenderData ---- */

int mls_private_message_content_decode(struct bytes_reader *r, uint8_t content_type,
				       struct mls_private_message_content *out)
{
	const uint8_t *pad;
	uint8_t acc = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = content_body_decode(r, content_type, &out->application_data, &out->proposal,
				      &out->commit)) != HALQA_OK ||
	    (rc = mls_framed_content_auth_data_decode(r, content_type, &out->auth)) != HALQA_OK) {
		goto out;
	}
	/* RFC 9420 6.3.1: the rest is padding and MUST be zero; a non-zero byte is malformed. */
	out->padding_len = bytes_remaining(r);
	if ((rc = bytes_get_span(r, &pad, out->padding_len)) != HALQA_OK) {
		goto out;
	}
	for (size_t i = 0; i < out->padding_len; i++) {
		acc |= pad[i];
	}
	if (acc != 0) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	out->content_type = content_type;
out:
	if (rc != HALQA_OK) {
		mls_private_message_content_cleanup(out);
	}
	return rc;
}

int mls_private_message_content_encode(struct bytes_writer *w,
				       const struct mls_private_message_content *in)
{
	static const uint8_t zeros[256];
	size_t left = in->padding_len;

	content_body_encode(w, in->content_type, &in->application_data, &in->proposal, &in->commit);
	mls_framed_content_auth_data_encode(w, in->content_type, &in->auth);
	while (left > 0 && bytes_writer_error(w) == HALQA_OK) {
		size_t n = left < sizeof(zeros) ? left : sizeof(zeros);

		bytes_put(w, zeros, n);
		left -= n;
	}
	return bytes_writer_error(w);
}

void mls_private_message_content_cleanup(struct mls_private_message_content *c)
{
	mls_bytes_wipe(&c->application_data);
	mls_proposal_cleanup(&c->proposal);
	mls_commit_cleanup(&c->commit);
	mls_bytes_wipe(&c->auth.signature);
	mls_bytes_wipe(&c->auth.confirmation_tag);
	sodium_memzero(c, sizeof(*c));
}

int mls_sender_data_decode(struct bytes_reader *r, struct mls_sender_data *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u32(r, &out->leaf_index)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &out->generation)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, out->reuse_guard, sizeof(out->reuse_guard))) != HALQA_OK) {
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int mls_sender_data_encode(struct bytes_writer *w, const struct mls_sender_data *in)
{
	bytes_put_u32(w, in->leaf_index);
	bytes_put_u32(w, in->generation);
	return bytes_put(w, in->reuse_guard, sizeof(in->reuse_guard));
}

int mls_sender_data_decode_bytes(const uint8_t *data, size_t len, struct mls_sender_data *out)
{
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, data, len);
	if ((rc = mls_sender_data_decode(&r, out)) == HALQA_OK &&
	    (rc = bytes_expect_end(&r)) != HALQA_OK) {
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* ---- GroupInfo ---- */

int mls_group_info_decode(struct bytes_reader *r, struct mls_group_info *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_group_context_decode(r, &out->group_context)) != HALQA_OK ||
	    (rc = mls_extension_list_decode(r, &out->extensions)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->confirmation_tag, MLS_MAX_HASH)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &out->signer)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->signature, MLS_MAX_SIGNATURE)) != HALQA_OK) {
		mls_group_info_cleanup(out);
	}
	return rc;
}

int mls_group_info_tbs_encode(struct bytes_writer *w, const struct mls_group_info *g)
{
	mls_group_context_encode(w, &g->group_context);
	mls_extension_list_encode(w, &g->extensions);
	mls_bytes_encode(w, &g->confirmation_tag);
	return bytes_put_u32(w, g->signer);
}

int mls_group_info_encode(struct bytes_writer *w, const struct mls_group_info *in)
{
	mls_group_info_tbs_encode(w, in);
	return mls_bytes_encode(w, &in->signature);
}

void mls_group_info_cleanup(struct mls_group_info *g)
{
	mls_group_context_cleanup(&g->group_context);
	mls_extension_list_cleanup(&g->extensions);
	mls_bytes_cleanup(&g->confirmation_tag);
	mls_bytes_cleanup(&g->signature);
	memset(g, 0, sizeof(*g));
}

/* ---- GroupSecrets, EncryptedGroupSecrets, Welcome ---- */

MLS_LIST_THUNKS(psk, mls_psk_id)

int mls_group_secrets_decode(struct bytes_reader *r, struct mls_group_secrets *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->joiner_secret, MLS_MAX_SECRET)) != HALQA_OK ||
	    (rc = mls_optional_decode(r, &out->has_path_secret)) != HALQA_OK) {
		goto out;
	}
	if (out->has_path_secret) {
		/* PathSecret is a struct holding one opaque<V>: no length of its own. */
		if ((rc = mls_bytes_decode(r, &out->path_secret, MLS_MAX_SECRET)) != HALQA_OK) {
			goto out;
		}
	}
	rc = mls_list_decode(r, MLS_MAX_MESSAGE, MLS_MAX_PSKS, sizeof(struct mls_psk_id), psk_dec,
			     psk_free, &items, &out->num_psks);
	out->psks = items;
out:
	if (rc != HALQA_OK) {
		mls_group_secrets_cleanup(out);
	}
	return rc;
}

int mls_group_secrets_encode(struct bytes_writer *w, const struct mls_group_secrets *in)
{
	mls_bytes_encode(w, &in->joiner_secret);
	bytes_put_u8(w, in->has_path_secret ? 1 : 0);
	if (in->has_path_secret) {
		mls_bytes_encode(w, &in->path_secret);
	}
	return mls_list_encode(w, in->psks, in->num_psks, sizeof(struct mls_psk_id), psk_enc);
}

void mls_group_secrets_cleanup(struct mls_group_secrets *g)
{
	mls_bytes_wipe(&g->joiner_secret);
	mls_bytes_wipe(&g->path_secret);
	mls_list_cleanup(g->psks, g->num_psks, sizeof(struct mls_psk_id), psk_free);
	sodium_memzero(g, sizeof(*g));
}

int mls_encrypted_group_secrets_decode(struct bytes_reader *r,
				       struct mls_encrypted_group_secrets *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->new_member, MLS_MAX_HASH)) != HALQA_OK ||
	    (rc = mls_hpke_ciphertext_decode(r, &out->encrypted_group_secrets)) != HALQA_OK) {
		mls_encrypted_group_secrets_cleanup(out);
	}
	return rc;
}

int mls_encrypted_group_secrets_encode(struct bytes_writer *w,
				       const struct mls_encrypted_group_secrets *in)
{
	mls_bytes_encode(w, &in->new_member);
	return mls_hpke_ciphertext_encode(w, &in->encrypted_group_secrets);
}

void mls_encrypted_group_secrets_cleanup(struct mls_encrypted_group_secrets *e)
{
	mls_bytes_cleanup(&e->new_member);
	mls_hpke_ciphertext_cleanup(&e->encrypted_group_secrets);
	memset(e, 0, sizeof(*e));
}

MLS_LIST_THUNKS(egs, mls_encrypted_group_secrets)

int mls_welcome_decode(struct bytes_reader *r, struct mls_welcome *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->cipher_suite)) != HALQA_OK) {
		goto out;
	}
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_LEAVES,
			     sizeof(struct mls_encrypted_group_secrets), egs_dec, egs_free, &items,
			     &out->num_secrets);
	out->secrets = items;
	if (rc != HALQA_OK) {
		goto out;
	}
	rc = mls_bytes_decode(r, &out->encrypted_group_info, MLS_MAX_ENCODING);
out:
	if (rc != HALQA_OK) {
		mls_welcome_cleanup(out);
	}
	return rc;
}

int mls_welcome_encode(struct bytes_writer *w, const struct mls_welcome *in)
{
	bytes_put_u16(w, in->cipher_suite);
	mls_list_encode(w, in->secrets, in->num_secrets, sizeof(struct mls_encrypted_group_secrets),
			egs_enc);
	return mls_bytes_encode(w, &in->encrypted_group_info);
}

void mls_welcome_cleanup(struct mls_welcome *wm)
{
	mls_list_cleanup(wm->secrets, wm->num_secrets, sizeof(struct mls_encrypted_group_secrets),
			 egs_free);
	mls_bytes_cleanup(&wm->encrypted_group_info);
	memset(wm, 0, sizeof(*wm));
}

/* ---- MLSMessage ---- */

int mls_message_decode(struct bytes_reader *r, struct mls_message *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->version)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &out->wire_format)) != HALQA_OK) {
		goto out;
	}
	if (out->version != MLS_VERSION_MLS10) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	switch (out->wire_format) {
	case MLS_WIRE_PUBLIC_MESSAGE:
		rc = mls_public_message_decode(r, &out->public_message);
		break;
	case MLS_WIRE_PRIVATE_MESSAGE:
		rc = mls_private_message_decode(r, &out->private_message);
		break;
	case MLS_WIRE_WELCOME:
		rc = mls_welcome_decode(r, &out->welcome);
		break;
	case MLS_WIRE_GROUP_INFO:
		rc = mls_group_info_decode(r, &out->group_info);
		break;
	case MLS_WIRE_KEY_PACKAGE:
		rc = mls_key_package_decode(r, &out->key_package);
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
out:
	if (rc != HALQA_OK) {
		mls_message_cleanup(out);
	}
	return rc;
}

int mls_message_encode(struct bytes_writer *w, const struct mls_message *in)
{
	bytes_put_u16(w, in->version);
	bytes_put_u16(w, in->wire_format);
	switch (in->wire_format) {
	case MLS_WIRE_PUBLIC_MESSAGE:
		return mls_public_message_encode(w, &in->public_message);
	case MLS_WIRE_PRIVATE_MESSAGE:
		return mls_private_message_encode(w, &in->private_message);
	case MLS_WIRE_WELCOME:
		return mls_welcome_encode(w, &in->welcome);
	case MLS_WIRE_GROUP_INFO:
		return mls_group_info_encode(w, &in->group_info);
	case MLS_WIRE_KEY_PACKAGE:
		return mls_key_package_encode(w, &in->key_package);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

void mls_message_cleanup(struct mls_message *m)
{
	mls_public_message_cleanup(&m->public_message);
	mls_private_message_cleanup(&m->private_message);
	mls_welcome_cleanup(&m->welcome);
	mls_group_info_cleanup(&m->group_info);
	mls_key_package_cleanup(&m->key_package);
	memset(m, 0, sizeof(*m));
}

/* ---- signed, MACed and hashed inputs ---- */

int mls_framed_content_tbs_encode(struct bytes_writer *w, uint16_t wire_format,
				  const struct mls_framed_content *content,
				  const struct mls_group_context *context)
{
	bool with_context = content->sender.type == MLS_SENDER_MEMBER ||
			    content->sender.type == MLS_SENDER_NEW_MEMBER_COMMIT;

	/* RFC 9420 6.1: member and new-member-commit signatures bind the GroupContext. */
	if (with_context && context == NULL) {
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	bytes_put_u16(w, MLS_VERSION_MLS10);
	bytes_put_u16(w, wire_format);
	mls_framed_content_encode(w, content);
	if (with_context) {
		mls_group_context_encode(w, context);
	}
	return bytes_writer_error(w);
}

int mls_authenticated_content_tbm_encode(struct bytes_writer *w,
					 const struct mls_framed_content *content,
					 const struct mls_framed_content_auth_data *auth,
					 const struct mls_group_context *context)
{
	mls_framed_content_tbs_encode(w, MLS_WIRE_PUBLIC_MESSAGE, content, context);
	return mls_framed_content_auth_data_encode(w, content->content_type, auth);
}

int mls_confirmed_transcript_hash_input_encode(struct bytes_writer *w,
					       const struct mls_authenticated_content *ac)
{
	if (ac->content.content_type != MLS_CONTENT_COMMIT) {
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	bytes_put_u16(w, ac->wire_format);
	mls_framed_content_encode(w, &ac->content);
	return mls_bytes_encode(w, &ac->auth.signature);
}

int mls_interim_transcript_hash_input_encode(struct bytes_writer *w,
					     const uint8_t *confirmation_tag, size_t tag_len)
{
	return bytes_put_vec(w, confirmation_tag, tag_len);
}

/* ---- whole-buffer helpers ---- */

MLS_BYTES_HELPERS(mls_message)
MLS_BYTES_HELPERS(mls_group_info)
MLS_BYTES_HELPERS(mls_welcome)
MLS_DECODE_BYTES(mls_group_secrets)
MLS_ENCODE_BYTES(mls_group_secrets, BYTES_WIPE)
MLS_BYTES_HELPERS(mls_proposal)
MLS_BYTES_HELPERS(mls_commit)
