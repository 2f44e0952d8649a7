/*
 * mls_codec_msg.h: RFC 9420 wire syntax, part two: proposals, Commit, the
 * framing structures (FramedContent, AuthenticatedContent, PublicMessage,
 * PrivateMessage and its decrypted content, SenderData), GroupInfo,
 * GroupSecrets, Welcome and MLSMessage, plus the encoders of the
 * to-be-signed, to-be-MACed and transcript-hash inputs built from them.
 *
 * Conventions, errors and bounds are those of mls_codec.h: decoded structs
 * own their memory, failed decodes leave the output zeroed, unknown values
 * of closed enums are HALQA_ERR_UNSUPPORTED, bad syntax is
 * HALQA_ERR_MALFORMED, and re-encoding reproduces the input.
 */
#ifndef HALQA_MLS_CODEC_MSG_H
#define HALQA_MLS_CODEC_MSG_H

#include "halqa/mls_codec.h"

/*
 * A PrivateMessage ciphertext: the largest plaintext (MLS_MAX_MESSAGE of
 * application data) plus room for the signature, tag and padding.
 */
#define MLS_MAX_CIPHERTEXT (2 * MLS_MAX_MESSAGE)

/*
 * PreSharedKeyID (RFC 9420 8.4). External PSKs use |psk_id|; resumption
 * PSKs use |usage|, |psk_group_id| and |psk_epoch|. |psk_nonce| always.
 * Cleanup wipes |psk_id| and |psk_nonce| (they name and salt a secret).
 */
struct mls_psk_id {
	uint8_t psktype; /* enum mls_psk_type */
	struct mls_bytes psk_id;
	uint8_t usage; /* enum mls_resumption_usage */
	struct mls_bytes psk_group_id;
	uint64_t psk_epoch;
	struct mls_bytes psk_nonce;
};

HALQA_MUST_CHECK int mls_psk_id_decode(struct bytes_reader *r, struct mls_psk_id *out);
int mls_psk_id_encode(struct bytes_writer *w, const struct mls_psk_id *in);
void mls_psk_id_cleanup(struct mls_psk_id *p);

/*
 * The proposal bodies of RFC 9420 12.1.1-12.1.7, each its own struct as
 * the RFC declares them (the messages vectors carry them bare).
 */
struct mls_add {
	struct mls_key_package key_package;
};
struct mls_update {
	struct mls_leaf_node leaf_node;
};
struct mls_remove {
	uint32_t removed;
};
struct mls_pre_shared_key {
	struct mls_psk_id psk;
};
struct mls_reinit {
	struct mls_bytes group_id;
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_extension_list extensions;
};
struct mls_external_init {
	struct mls_bytes kem_output;
};
struct mls_group_context_extensions {
	struct mls_extension_list extensions;
};

HALQA_MUST_CHECK int mls_add_decode(struct bytes_reader *r, struct mls_add *out);
int mls_add_encode(struct bytes_writer *w, const struct mls_add *in);
void mls_add_cleanup(struct mls_add *p);
HALQA_MUST_CHECK int mls_update_decode(struct bytes_reader *r, struct mls_update *out);
int mls_update_encode(struct bytes_writer *w, const struct mls_update *in);
void mls_update_cleanup(struct mls_update *p);
HALQA_MUST_CHECK int mls_remove_decode(struct bytes_reader *r, struct mls_remove *out);
int mls_remove_encode(struct bytes_writer *w, const struct mls_remove *in);
void mls_remove_cleanup(struct mls_remove *p);
HALQA_MUST_CHECK int mls_pre_shared_key_decode(struct bytes_reader *r,
					       struct mls_pre_shared_key *out);
int mls_pre_shared_key_encode(struct bytes_writer *w, const struct mls_pre_shared_key *in);
void mls_pre_shared_key_cleanup(struct mls_pre_shared_key *p);
HALQA_MUST_CHECK int mls_reinit_decode(struct bytes_reader *r, struct mls_reinit *out);
int mls_reinit_encode(struct bytes_writer *w, const struct mls_reinit *in);
void mls_reinit_cleanup(struct mls_reinit *p);
HALQA_MUST_CHECK int mls_external_init_decode(struct bytes_reader *r,
					      struct mls_external_init *out);
int mls_external_init_encode(struct bytes_writer *w, const struct mls_external_init *in);
void mls_external_init_cleanup(struct mls_external_init *p);
HALQA_MUST_CHECK int mls_group_context_extensions_decode(struct bytes_reader *r,
							 struct mls_group_context_extensions *out);
int mls_group_context_extensions_encode(struct bytes_writer *w,
					const struct mls_group_context_extensions *in);
void mls_group_context_extensions_cleanup(struct mls_group_context_extensions *p);

/*
 * Proposal (RFC 9420 12.1): |type| selects the member of |u|. A proposal
 * type RFC 9420 does not define is UNSUPPORTED: its body has no length
 * prefix, so it cannot be skipped or kept.
 */
struct mls_proposal {
	uint16_t type; /* enum mls_proposal_type */
	union {
		struct mls_add add;
		struct mls_update update;
		struct mls_remove remove;
		struct mls_pre_shared_key psk;
		struct mls_reinit reinit;
		struct mls_external_init external_init;
		struct mls_group_context_extensions group_context_extensions;
	} u;
};

HALQA_MUST_CHECK int mls_proposal_decode(struct bytes_reader *r, struct mls_proposal *out);
int mls_proposal_encode(struct bytes_writer *w, const struct mls_proposal *in);
void mls_proposal_cleanup(struct mls_proposal *p);
HALQA_MUST_CHECK int mls_proposal_copy(struct mls_proposal *out, const struct mls_proposal *in);

/* ProposalOrRef (RFC 9420 12.4): an inline proposal or a ProposalRef. */
enum mls_proposal_or_ref_type {
	MLS_PROPOSAL_OR_REF_PROPOSAL = 1,
	MLS_PROPOSAL_OR_REF_REFERENCE = 2,
};

struct mls_proposal_or_ref {
	uint8_t type; /* enum mls_proposal_or_ref_type */
	struct mls_proposal proposal;
	struct mls_bytes reference; /* at most MLS_MAX_HASH */
};

HALQA_MUST_CHECK int mls_proposal_or_ref_decode(struct bytes_reader *r,
						struct mls_proposal_or_ref *out);
int mls_proposal_or_ref_encode(struct bytes_writer *w, const struct mls_proposal_or_ref *in);
void mls_proposal_or_ref_cleanup(struct mls_proposal_or_ref *p);

/* Commit (RFC 9420 12.4): at most MLS_MAX_PROPOSALS entries; optional path. */
struct mls_commit {
	struct mls_proposal_or_ref *proposals;
	size_t num_proposals;
	bool has_path;
	struct mls_update_path path;
};

HALQA_MUST_CHECK int mls_commit_decode(struct bytes_reader *r, struct mls_commit *out);
int mls_commit_encode(struct bytes_writer *w, const struct mls_commit *in);
void mls_commit_cleanup(struct mls_commit *c);

/* Sender (RFC 9420 6): |index| is leaf_index (member) or sender_index (external). */
struct mls_sender {
	uint8_t type; /* enum mls_sender_type */
	uint32_t index;
};

HALQA_MUST_CHECK int mls_sender_decode(struct bytes_reader *r, struct mls_sender *out);
int mls_sender_encode(struct bytes_writer *w, const struct mls_sender *in);

/*
 * FramedContent (RFC 9420 6): |content_type| selects |application_data|,
 * |proposal| or |commit|; the others stay empty.
 */
struct mls_framed_content {
	struct mls_bytes group_id;
	uint64_t epoch;
	struct mls_sender sender;
	struct mls_bytes authenticated_data; /* at most MLS_MAX_MESSAGE */
	uint8_t content_type;                /* enum mls_content_type */
	struct mls_bytes application_data;   /* at most MLS_MAX_MESSAGE */
	struct mls_proposal proposal;
	struct mls_commit commit;
};

HALQA_MUST_CHECK int mls_framed_content_decode(struct bytes_reader *r,
					       struct mls_framed_content *out);
int mls_framed_content_encode(struct bytes_writer *w, const struct mls_framed_content *in);
void mls_framed_content_cleanup(struct mls_framed_content *c);

/*
 * FramedContentAuthData (RFC 9420 6.1): |confirmation_tag| is on the wire
 * only when the content is a commit, so decode and encode take the
 * content type (an undefined one is UNSUPPORTED / HALQA_ERR_ARG).
 */
struct mls_framed_content_auth_data {
	struct mls_bytes signature;
	struct mls_bytes confirmation_tag; /* commits only */
};

HALQA_MUST_CHECK int mls_framed_content_auth_data_decode(struct bytes_reader *r,
							 uint8_t content_type,
							 struct mls_framed_content_auth_data *out);
int mls_framed_content_auth_data_encode(struct bytes_writer *w, uint8_t content_type,
					const struct mls_framed_content_auth_data *in);
void mls_framed_content_auth_data_cleanup(struct mls_framed_content_auth_data *a);

/*
 * AuthenticatedContent (RFC 9420 6): the input of ProposalRef (5.2) and of
 * the transcript hashes. |wire_format| must be public or private message.
 */
struct mls_authenticated_content {
	uint16_t wire_format;
	struct mls_framed_content content;
	struct mls_framed_content_auth_data auth;
};

HALQA_MUST_CHECK int mls_authenticated_content_decode(struct bytes_reader *r,
						      struct mls_authenticated_content *out);
int mls_authenticated_content_encode(struct bytes_writer *w,
				     const struct mls_authenticated_content *in);
void mls_authenticated_content_cleanup(struct mls_authenticated_content *a);
HALQA_MUST_CHECK int mls_authenticated_content_decode_bytes(const uint8_t *data, size_t len,
							    struct mls_authenticated_content *out);

/*
 * PublicMessage (RFC 9420 6.2): |membership_tag| is on the wire only when
 * the sender is a member.
 */
struct mls_public_message {
	struct mls_framed_content content;
	struct mls_framed_content_auth_data auth;
	struct mls_bytes membership_tag; /* member senders only */
};

HALQA_MUST_CHECK int mls_public_message_decode(struct bytes_reader *r,
					       struct mls_public_message *out);
int mls_public_message_encode(struct bytes_writer *w, const struct mls_public_message *in);
void mls_public_message_cleanup(struct mls_public_message *m);

/* PrivateMessage (RFC 9420 6.3). */
struct mls_private_message {
	struct mls_bytes group_id;
	uint64_t epoch;
	uint8_t content_type; /* enum mls_content_type */
	struct mls_bytes authenticated_data;    /* at most MLS_MAX_MESSAGE */
	struct mls_bytes encrypted_sender_data; /* at most MLS_MAX_KEY */
	struct mls_bytes ciphertext;            /* at most MLS_MAX_CIPHERTEXT */
};

HALQA_MUST_CHECK int mls_private_message_decode(struct bytes_reader *r,
						struct mls_private_message *out);
int mls_private_message_encode(struct bytes_writer *w, const struct mls_private_message *in);
void mls_private_message_cleanup(struct mls_private_message *m);

/*
 * PrivateContentAAD and SenderDataAAD (RFC 9420 6.3.1, 6.3.2), the AEAD
 * associated data of a PrivateMessage, built from its header fields
 * (|encrypted_sender_data| and |ciphertext| are not read).
 */
int mls_private_content_aad_encode(struct bytes_writer *w, const struct mls_private_message *m);
int mls_sender_data_aad_encode(struct bytes_writer *w, const struct mls_private_message *m);

/*
 * PrivateMessageContent (RFC 9420 6.3.1): the plaintext of a
 * PrivateMessage. It has no length of its own, so decoding takes the
 * content type from the PrivateMessage and consumes the whole reader: the
 * body, the auth data, then padding, which must be all zero bytes
 * (HALQA_ERR_MALFORMED otherwise; every padding byte is examined, with no
 * early exit). |padding_len| zeros are written back on encode. Cleanup
 * wipes the body and tags (this is plaintext).
 */
struct mls_private_message_content {
	uint8_t content_type;
	struct mls_bytes application_data;
	struct mls_proposal proposal;
	struct mls_commit commit;
	struct mls_framed_content_auth_data auth;
	size_t padding_len;
};

HALQA_MUST_CHECK int mls_private_message_content_decode(struct bytes_reader *r,
							uint8_t content_type,
							struct mls_private_message_content *out);
int mls_private_message_content_encode(struct bytes_writer *w,
				       const struct mls_private_message_content *in);
void mls_private_message_content_cleanup(struct mls_private_message_content *c);

/* SenderData (RFC 9420 6.3.2). Owns nothing. */
struct mls_sender_data {
	uint32_t leaf_index;
	uint32_t generation;
	uint8_t reuse_guard[4];
};

HALQA_MUST_CHECK int mls_sender_data_decode(struct bytes_reader *r, struct mls_sender_data *out);
int mls_sender_data_encode(struct bytes_writer *w, const struct mls_sender_data *in);
HALQA_MUST_CHECK int mls_sender_data_decode_bytes(const uint8_t *data, size_t len,
						  struct mls_sender_data *out);

/* GroupInfo (RFC 9420 12.4.3). */
struct mls_group_info {
	struct mls_group_context group_context;
	struct mls_extension_list extensions;
	struct mls_bytes confirmation_tag;
	uint32_t signer;
	struct mls_bytes signature;
};

HALQA_MUST_CHECK int mls_group_info_decode(struct bytes_reader *r, struct mls_group_info *out);
int mls_group_info_encode(struct bytes_writer *w, const struct mls_group_info *in);
void mls_group_info_cleanup(struct mls_group_info *g);

/* mls_group_info_tbs_encode appends GroupInfoTBS: the GroupInfo without its signature. */
int mls_group_info_tbs_encode(struct bytes_writer *w, const struct mls_group_info *g);

/*
 * GroupSecrets (RFC 9420 12.4.3.1), the HPKE plaintext of a Welcome.
 * Cleanup wipes joiner_secret, path_secret and the PSK ids; encode to a
 * BYTES_WIPE writer.
 */
struct mls_group_secrets {
	struct mls_bytes joiner_secret;
	bool has_path_secret;
	struct mls_bytes path_secret;
	struct mls_psk_id *psks;
	size_t num_psks;
};

HALQA_MUST_CHECK int mls_group_secrets_decode(struct bytes_reader *r,
					      struct mls_group_secrets *out);
int mls_group_secrets_encode(struct bytes_writer *w, const struct mls_group_secrets *in);
void mls_group_secrets_cleanup(struct mls_group_secrets *g);

/* EncryptedGroupSecrets (RFC 9420 12.4.3.1). */
struct mls_encrypted_group_secrets {
	struct mls_bytes new_member; /* KeyPackageRef, at most MLS_MAX_HASH */
	struct mls_hpke_ciphertext encrypted_group_secrets;
};

HALQA_MUST_CHECK int mls_encrypted_group_secrets_decode(struct bytes_reader *r,
							struct mls_encrypted_group_secrets *out);
int mls_encrypted_group_secrets_encode(struct bytes_writer *w,
				       const struct mls_encrypted_group_secrets *in);
void mls_encrypted_group_secrets_cleanup(struct mls_encrypted_group_secrets *e);

/* Welcome (RFC 9420 12.4.3.1): at most MLS_MAX_LEAVES secrets. */
struct mls_welcome {
	uint16_t cipher_suite;
	struct mls_encrypted_group_secrets *secrets;
	size_t num_secrets;
	struct mls_bytes encrypted_group_info; /* at most MLS_MAX_ENCODING (it may carry the tree) */
};

HALQA_MUST_CHECK int mls_welcome_decode(struct bytes_reader *r, struct mls_welcome *out);
int mls_welcome_encode(struct bytes_writer *w, const struct mls_welcome *in);
void mls_welcome_cleanup(struct mls_welcome *wm);

/*
 * MLSMessage (RFC 9420 6): |version| must be mls10 (MALFORMED otherwise);
 * |wire_format| selects the one filled member.
 */
struct mls_message {
	uint16_t version;
	uint16_t wire_format; /* enum mls_wire_format */
	struct mls_public_message public_message;
	struct mls_private_message private_message;
	struct mls_welcome welcome;
	struct mls_group_info group_info;
	struct mls_key_package key_package;
};

HALQA_MUST_CHECK int mls_message_decode(struct bytes_reader *r, struct mls_message *out);
int mls_message_encode(struct bytes_writer *w, const struct mls_message *in);
void mls_message_cleanup(struct mls_message *m);

/*
 * Encoders of signed, MACed and hashed inputs (RFC 9420 6.1, 6.2, 8.2,
 * 12.4.3), so that no caller assembles these by hand.
 *
 * mls_framed_content_tbs_encode appends FramedContentTBS: version mls10,
 * |wire_format|, |content|, then |context| when the sender is a member or
 * a new_member_commit (HALQA_ERR_ARG if |context| is NULL then; it is
 * ignored for other senders).
 *
 * mls_authenticated_content_tbm_encode appends AuthenticatedContentTBM,
 * the input of the membership tag: FramedContentTBS of a PublicMessage
 * (wire format mls_public_message) followed by |auth|.
 *
 * mls_confirmed_transcript_hash_input_encode appends
 * ConfirmedTranscriptHashInput: |ac|'s wire format, content (a commit:
 * HALQA_ERR_ARG otherwise) and signature.
 *
 * mls_interim_transcript_hash_input_encode appends
 * InterimTranscriptHashInput: the confirmation tag as MAC<V>.
 */
int mls_framed_content_tbs_encode(struct bytes_writer *w, uint16_t wire_format,
				  const struct mls_framed_content *content,
				  const struct mls_group_context *context);
int mls_authenticated_content_tbm_encode(struct bytes_writer *w,
					 const struct mls_framed_content *content,
					 const struct mls_framed_content_auth_data *auth,
					 const struct mls_group_context *context);
int mls_confirmed_transcript_hash_input_encode(struct bytes_writer *w,
					       const struct mls_authenticated_content *ac);
int mls_interim_transcript_hash_input_encode(struct bytes_writer *w,
					     const uint8_t *confirmation_tag, size_t tag_len);

/* Whole-buffer helpers, as in mls_codec.h. */
HALQA_MUST_CHECK int mls_message_decode_bytes(const uint8_t *data, size_t len,
					      struct mls_message *out);
HALQA_MUST_CHECK int mls_group_info_decode_bytes(const uint8_t *data, size_t len,
						 struct mls_group_info *out);
HALQA_MUST_CHECK int mls_welcome_decode_bytes(const uint8_t *data, size_t len,
					      struct mls_welcome *out);
HALQA_MUST_CHECK int mls_group_secrets_decode_bytes(const uint8_t *data, size_t len,
						    struct mls_group_secrets *out);
HALQA_MUST_CHECK int mls_proposal_decode_bytes(const uint8_t *data, size_t len,
					       struct mls_proposal *out);
HALQA_MUST_CHECK int mls_commit_decode_bytes(const uint8_t *data, size_t len,
					     struct mls_commit *out);

HALQA_MUST_CHECK int mls_message_encode_bytes(const struct mls_message *in, uint8_t **out,
					      size_t *out_len);
HALQA_MUST_CHECK int mls_group_info_encode_bytes(const struct mls_group_info *in, uint8_t **out,
						 size_t *out_len);
HALQA_MUST_CHECK int mls_welcome_encode_bytes(const struct mls_welcome *in, uint8_t **out,
					      size_t *out_len);
/* The output holds secrets: wipe it (sodium_memzero) before free(). */
HALQA_MUST_CHECK int mls_group_secrets_encode_bytes(const struct mls_group_secrets *in,
						    uint8_t **out, size_t *out_len);
HALQA_MUST_CHECK int mls_proposal_encode_bytes(const struct mls_proposal *in, uint8_t **out,
					       size_t *out_len);
HALQA_MUST_CHECK int mls_commit_encode_bytes(const struct mls_commit *in, uint8_t **out,
					     size_t *out_len);

#endif
