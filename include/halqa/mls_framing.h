/*
 * mls_framing.h: message protection, RFC 9420 section 6, for cipher suite
 * 0x0003 (Ed25519 signatures, HMAC-SHA256 tags, ChaCha20-Poly1305).
 *
 * The unit of content is the codec's struct mls_authenticated_content:
 * FramedContent (group, epoch, sender, authenticated data, and an
 * application message, proposal or commit) plus FramedContentAuthData
 * (signature, and the confirmation tag of a commit).
 *
 * Sending:
 *   1. fill the FramedContent, choose the wire format;
 *   2. mls_framing_sign: SignWithLabel(., "FramedContentTBS", ...) over
 *      the content, the wire format and (for members) the GroupContext;
 *   3. for a commit, the group layer computes the confirmation tag (which
 *      depends on the signature through the transcript hash);
 *   4. mls_framing_protect_public (adds the membership tag) or
 *      mls_framing_protect_private (encrypts with the sender's next ratchet
 *      key, a fresh reuse guard, then encrypts the sender data); both give
 *      the encoded MLSMessage to send.
 * Receiving: decode the MLSMessage with the codec, then
 *   mls_framing_unprotect_public (membership tag, constant-time) or
 *   mls_framing_unprotect_private (sender data, then content), which yield
 *   the AuthenticatedContent; then look up the sender's signature key (the
 *   leaf the content names; the framing layer does not know the ratchet
 *   tree, so checking that the leaf is non-blank is the caller's job,
 *   RFC 9420 6.3.2) and call mls_framing_verify.
 *
 * The epoch state is passed in a struct mls_framing_epoch of borrowed
 * pointers to the other modules' objects, so the group layer needs no
 * internals. A received message whose group_id or epoch differs from the
 * epoch passed is refused (HALQA_ERR_STALE for another epoch,
 * HALQA_ERR_INVALID for another group): the caller picks the epoch state.
 *
 * Errors: HALQA_ERR_ARG for a malformed request (NULL, wrong wire format,
 * a non-member sending a PrivateMessage, padding over the bound),
 * HALQA_ERR_INVALID for content the RFC forbids (an application message
 * in a PublicMessage, a non-member sender with anything but a proposal,
 * or a commit for new_member_commit (6.1), a sender leaf outside the tree), HALQA_ERR_CRYPTO
 * for a tag, AEAD or signature that does not verify, HALQA_ERR_MALFORMED
 * for a decrypted plaintext that does not parse (non-zero padding
 * included), the secret tree's errors for generations (NOT_FOUND: replay or
 * too old; TOO_LARGE: too far ahead), HALQA_ERR_NOMEM. A refused message
 * leaves the secret tree as it was: a ratchet key is consumed only when
 * the whole message decrypted and parsed.
 */
#ifndef HALQA_MLS_FRAMING_H
#define HALQA_MLS_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_crypto.h"
#include "halqa/mls_key_schedule.h"
#include "halqa/mls_secret_tree.h"

/* The most zero bytes of padding a PrivateMessage may be given on sending. */
#define MLS_FRAMING_MAX_PADDING 32768

/*
 * What protection needs of an epoch, all borrowed: the GroupContext (group
 * id, epoch, and the signature context), the epoch secrets
 * (sender_data_secret and membership_key; may be NULL when only
 * non-member PublicMessages are handled), and the secret tree (may be
 * NULL when only PublicMessages are handled).
 */
struct mls_framing_epoch {
	const struct mls_group_context *group_context;
	const struct mls_key_schedule_epoch *secrets;
	struct mls_secret_tree *tree;
};

/*
 * mls_framing_sign sets |*signature| (freeing what it held) to
 * SignWithLabel(priv, "FramedContentTBS", FramedContentTBS{mls10,
 * wire_format, content, group_context if the sender is a member or a
 * new_member_commit}). |priv| is the 64-byte libsodium Ed25519 key.
 */
HALQA_MUST_CHECK int mls_framing_sign(struct mls_bytes *signature, uint16_t wire_format,
				      const struct mls_framed_content *content,
				      const struct mls_group_context *group_context,
				      const uint8_t priv[MLS_SIG_PRIV_LEN]);

/*
 * mls_framing_verify checks |ac|'s signature against |pub| over the
 * FramedContentTBS of |ac| (its own wire format) and |group_context|.
 * HALQA_OK if valid, HALQA_ERR_CRYPTO if not.
 */
HALQA_MUST_CHECK int mls_framing_verify(const struct mls_authenticated_content *ac,
					const struct mls_group_context *group_context,
					const uint8_t pub[MLS_SIG_PUB_LEN]);

/*
 * mls_framing_protect_public encodes |ac| (wire format mls_public_message,
 * signed; a commit carries its confirmation tag) as an MLSMessage holding
 * a PublicMessage, with membership_tag = MAC(membership_key,
 * AuthenticatedContentTBM) for member senders (RFC 9420 6.2), into |*out|
 * (malloc'd, caller frees) and |*out_len|. Application content is refused
 * (HALQA_ERR_INVALID, RFC 9420 6: application data MUST be encrypted). The
 * content's group id and epoch must be the epoch's (HALQA_ERR_ARG).
 */
HALQA_MUST_CHECK int mls_framing_protect_public(const struct mls_framing_epoch *epoch,
						uint8_t **out, size_t *out_len,
						const struct mls_authenticated_content *ac);

/*
 * mls_framing_unprotect_public checks a received PublicMessage against the
 * epoch: group id, epoch, and for a member sender the membership tag
 * (constant-time). Application content is refused (HALQA_ERR_INVALID).
 * On success the content and auth data are moved out of |pm| into |*out|
 * (wire format mls_public_message; |pm| keeps only its tag) and the caller
 * must still verify the signature (mls_framing_verify). On failure |pm| is
 * unchanged and |*out| zeroed.
 */
HALQA_MUST_CHECK int mls_framing_unprotect_public(const struct mls_framing_epoch *epoch,
						  struct mls_authenticated_content *out,
						  struct mls_public_message *pm);

/*
 * mls_framing_protect_private encrypts |ac| (wire format
 * mls_private_message, member sender in the tree, signed; a commit with
 * its confirmation tag) as an MLSMessage holding a PrivateMessage (RFC
 * 9420 6.3) into |*out| (malloc'd, caller frees) and |*out_len|: the
 * PrivateMessageContent with |padding_len| zero bytes (at most
 * MLS_FRAMING_MAX_PADDING) is sealed with the next key of the sender's
 * handshake (proposal, commit) or application ratchet, its nonce XORed
 * with a fresh random 4-byte reuse guard, under PrivateContentAAD; the
 * SenderData is sealed with the key and nonce derived from the ciphertext
 * sample, under SenderDataAAD. The ratchet generation is consumed even if
 * a later step fails, so a key is never used twice.
 */
HALQA_MUST_CHECK int mls_framing_protect_private(const struct mls_framing_epoch *epoch,
						 uint8_t **out, size_t *out_len,
						 const struct mls_authenticated_content *ac,
						 size_t padding_len);

/*
 * mls_framing_unprotect_private decrypts a received PrivateMessage |pm|:
 * the sender data (leaf index must be inside the tree), then the content
 * with that leaf's key for the generation named, then parses it (padding
 * must be zero). On success |*out| owns the AuthenticatedContent (wire
 * format mls_private_message, sender member |leaf_index|), whose
 * signature the caller still verifies, and the ratchet key is consumed.
 * On failure |*out| is zeroed and the secret tree is unchanged.
 */
HALQA_MUST_CHECK int mls_framing_unprotect_private(const struct mls_framing_epoch *epoch,
						   struct mls_authenticated_content *out,
						   const struct mls_private_message *pm);

#endif
