/*
 * mls_group.h: an MLS group (RFC 9420 sections 11, 12) as a Halqa client
 * runs it, for cipher suite 0x0003, without knowing MLS internals.
 *
 * A struct mls_group is one member's view of one group: the GroupContext,
 * the ratchet tree and our private path keys, the epoch secrets and the
 * secret tree, the interim transcript hash, proposals received this epoch,
 * and our signing key. It is made by mls_group_create (a new group with
 * us alone, epoch 0) or mls_group_join (from a Welcome).
 *
 * Changing the group. The relay orders commits, so our own commit is made
 * as a *pending* commit: mls_group_commit_add / _remove / _update /
 * _extensions return the encoded Commit (and a Welcome for adds) but leave
 * the group as it was; when the relay accepts the commit the caller calls
 * mls_group_commit_confirm, which moves the group to the new epoch; when
 * the relay refuses it (another commit came first) mls_group_commit_discard
 * drops it. While a commit is pending, incoming messages and commits are
 * processed as usual; applying another member's commit discards ours (it
 * was built on an epoch that is now gone). At most one commit is pending.
 *
 * Receiving. mls_group_process takes any MLSMessage for this group: an
 * application message (returned decrypted), a proposal (validated and kept
 * for a later commit), or a commit (fully validated, then applied). Every
 * refused message leaves the group state as it was, except that a
 * PrivateMessage that decrypts consumes its ratchet key (the framing layer
 * deletes a key once its message authenticated; this is what stops a
 * replay) even if its content is then refused.
 *
 * Wire format. Handshake messages (commits) go out as PrivateMessage by
 * default, hiding the group's structure from the relay; a group may be set
 * to PublicMessage (mls_group_set_handshake_public). Application messages
 * are always PrivateMessage (RFC 9420 6).
 *
 * Credentials. Halqa leaves carry a basic credential whose identity is
 * the member's Ed25519 identity key, equal to its signature key (see
 * mls_keypackage.h); mls_group_members reports it. Leaves of other MLS
 * clients (the interop vectors) are accepted as RFC 9420 allows and
 * reported without an identity.
 *
 * Errors: HALQA_ERR_ARG (bad arguments, a leaf index that is not a
 * member), HALQA_ERR_NOMEM, HALQA_ERR_UNSUPPORTED (another suite or
 * version, a proposal type or sender we do not handle: ReInit,
 * ExternalInit, new-member commits (external joins); resumption PSKs
 * of usage other than application), HALQA_ERR_INVALID (a rule of RFC 9420 broken),
 * HALQA_ERR_CRYPTO (signature, tag, AEAD or confirmation tag fails),
 * HALQA_ERR_STALE (a message for another epoch, a confirm after the epoch
 * moved), HALQA_ERR_NOT_FOUND (a proposal reference or PSK we do not
 * have, a Welcome not for us), HALQA_ERR_DENIED (a sender not allowed to
 * send this, or we were removed from the group), HALQA_ERR_EXISTS (a
 * commit is already pending), HALQA_ERR_LIMIT (too many cached
 * proposals), the codec's errors for bytes that do not parse.
 */
#ifndef HALQA_MLS_GROUP_H
#define HALQA_MLS_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"

/*
 * Our private-use GroupContext extension type (RFC 9420 17.3 reserves
 * 0xF000-0xFFFF for private use), reserved for the circle's facilitator
 * roster. Every Halqa leaf lists it in its capabilities, so a group may
 * set it with a GroupContextExtensions commit.
 */
#define MLS_GROUP_EXT_ROSTER 0xF0A1

/* Proposals from other members kept per epoch, at most. */
#define MLS_GROUP_MAX_CACHED_PROPOSALS 1024

struct mls_group;
struct mls_keypackage_private;
struct mls_key_package;

/* One external pre-shared key (RFC 9420 8.4), borrowed. */
struct mls_group_psk {
	const uint8_t *id;
	size_t id_len;
	const uint8_t *secret;
	size_t secret_len;
};

/* The external PSKs a group may use; borrowed for the group's life. */
struct mls_group_psk_store {
	const struct mls_group_psk *items;
	size_t num;
};

/*
 * mls_group_create makes a new group |group_id| (1 .. MLS_MAX_GROUP_ID
 * bytes) with us as its only member, at leaf 0, epoch 0. Our leaf is the
 * leaf of |own_kp|, whose signature key must be the public half of
 * |sig_priv| (HALQA_ERR_ARG otherwise); its encryption private key is
 * taken from |own_priv|, which is wiped on success. |extensions| (NULL:
 * none) become the GroupContext extensions; every type must be supported
 * by our own leaf. |sig_priv| is copied into protected memory.
 */
HALQA_MUST_CHECK int mls_group_create(struct mls_group **out, const uint8_t *group_id,
				      size_t group_id_len, const uint8_t sig_priv[MLS_SIG_PRIV_LEN],
				      const struct mls_key_package *own_kp,
				      struct mls_keypackage_private *own_priv,
				      const struct mls_extension_list *extensions);

/*
 * mls_group_join joins a group from the Welcome MLSMessage |welcome|
 * (RFC 9420 12.4.3.1) made for our KeyPackage |kp| (its privates
 * |kp_priv|, wiped on success; signing key |sig_priv|): it finds our
 * EncryptedGroupSecrets by KeyPackageRef, decrypts them with the init
 * key, resolves the PSKs from |psks| (NULL: none; an unknown PSK is
 * HALQA_ERR_NOT_FOUND; resumption PSKs are UNSUPPORTED for a joiner),
 * decrypts the GroupInfo with the welcome key and checks its signature by
 * its signer's leaf, loads the ratchet tree from the ratchet_tree
 * extension or else from |ratchet_tree| (an encoded ratchet tree given
 * out of band; NULL: none, and a Welcome without the extension is then
 * HALQA_ERR_NOT_FOUND), verifies the tree (mls_tree_verify) and its hash against the
 * GroupContext, finds our leaf by encryption key, derives the epoch, and
 * checks the confirmation tag. |psks| stays borrowed by the group.
 */
HALQA_MUST_CHECK int mls_group_join(struct mls_group **out, const uint8_t *welcome,
				    size_t welcome_len, const uint8_t *ratchet_tree,
				    size_t ratchet_tree_len, const uint8_t sig_priv[MLS_SIG_PRIV_LEN],
				    const struct mls_key_package *kp,
				    struct mls_keypackage_private *kp_priv,
				    const struct mls_group_psk_store *psks);

/*
 * mls_group_welcome_check runs the checks of a Welcome that need no
 * ratchet tree (the IETF `welcome` vectors): our GroupSecrets found by
 * KeyPackageRef and decrypted with |init_priv|, PSKs from |psks|, the
 * GroupInfo decrypted and its signature checked with |signer_pub|, and the
 * confirmation tag recomputed from the joiner secret. HALQA_OK if all hold.
 */
HALQA_MUST_CHECK int mls_group_welcome_check(const uint8_t *welcome, size_t welcome_len,
					     const struct mls_key_package *kp,
					     const uint8_t init_priv[MLS_KEM_PRIV_LEN],
					     const uint8_t signer_pub[MLS_SIG_PUB_LEN],
					     const struct mls_group_psk_store *psks);

/* mls_group_free wipes and frees |g|; NULL is a no-op. */
void mls_group_free(struct mls_group *g);

/* mls_group_set_handshake_public chooses PublicMessage (true) or PrivateMessage for our commits. */
void mls_group_set_handshake_public(struct mls_group *g, bool public_handshake);

/* mls_group_set_psk_store sets the external PSKs (borrowed; NULL: none). */
void mls_group_set_psk_store(struct mls_group *g, const struct mls_group_psk_store *psks);

/*
 * mls_group_commit_add makes a pending Commit adding the members of the
 * |num_kps| KeyPackages |kps| (each validated with
 * mls_keypackage_validate at time |now|; 0 skips the lifetime check), with
 * an UpdatePath, and the Welcome for them (GroupSecrets per joiner, the
 * GroupInfo with the ratchet_tree extension). Outputs are encoded
 * MLSMessages, malloc'd, the caller frees them; NULL and 0 on failure.
 */
HALQA_MUST_CHECK int mls_group_commit_add(struct mls_group *g, const struct mls_key_package *kps,
					  size_t num_kps, uint64_t now, uint8_t **commit,
					  size_t *commit_len, uint8_t **welcome,
					  size_t *welcome_len);

/*
 * mls_group_commit_remove makes a pending Commit removing the members at
 * |leaves| (not ourselves: HALQA_ERR_ARG; each a member, no repeats).
 */
HALQA_MUST_CHECK int mls_group_commit_remove(struct mls_group *g, const uint32_t *leaves,
					     size_t num_leaves, uint8_t **commit,
					     size_t *commit_len);

/*
 * mls_group_commit_update makes a pending Commit with no proposals and a
 * fresh UpdatePath: a new leaf key and path (post-compromise healing).
 * Proposals received this epoch are NOT included (mls_group_commit_proposals
 * commits them); the commit is empty.
 */
HALQA_MUST_CHECK int mls_group_commit_update(struct mls_group *g, uint8_t **commit,
					     size_t *commit_len);

/*
 * mls_group_commit_extensions makes a pending Commit of a
 * GroupContextExtensions proposal setting the group's extensions to
 * |extensions| (each type must be supported by every member).
 */
HALQA_MUST_CHECK int mls_group_commit_extensions(struct mls_group *g,
						 const struct mls_extension_list *extensions,
						 uint8_t **commit, size_t *commit_len);

/*
 * mls_group_commit_psk makes a pending Commit of one PreSharedKey
 * proposal (RFC 9420 8.4) injecting |psk| (copied): an external PSK from
 * the group's store, or a resumption PSK (usage application) of this
 * group's current epoch or one of the 8 before it. Every member must
 * hold the same PSK (HALQA_ERR_NOT_FOUND here if we do not). |psk_nonce|
 * must be 32 fresh random bytes.
 */
struct mls_psk_id;
HALQA_MUST_CHECK int mls_group_commit_psk(struct mls_group *g, const struct mls_psk_id *psk,
					  uint8_t **commit, size_t *commit_len);

/*
 * mls_group_propose_remove makes a Remove proposal for |leaf| (may be our
 * own leaf: leaving, since RFC 9420 12.2 forbids committing our own
 * removal) as an MLSMessage (PrivateMessage, or PublicMessage if the
 * group's handshakes are public) into |*msg| (malloc'd, caller frees).
 * The proposal is also cached in our own group so a later commit
 * referencing it by reference is understood. HALQA_ERR_ARG if |leaf| is
 * not a member, HALQA_ERR_EXISTS if we made the same proposal this epoch,
 * HALQA_ERR_LIMIT when the cache is full, HALQA_ERR_DENIED once removed.
 * Our own proposal coming back from the relay is refused harmlessly
 * (HALQA_ERR_EXISTS as a PublicMessage; HALQA_ERR_NOT_FOUND as a
 * PrivateMessage, whose key we consumed when sealing it).
 */
HALQA_MUST_CHECK int mls_group_propose_remove(struct mls_group *g, uint32_t leaf, uint8_t **msg,
					      size_t *msg_len);

/*
 * mls_group_commit_proposals makes a pending Commit of every cached
 * proposal (by reference) that is still valid, with an UpdatePath:
 * Removes of members other than us, Updates from other members, PSKs we
 * hold, the first GroupContextExtensions every member supports; at most
 * one change per leaf. Add proposals are left out (this call has no
 * Welcome to give; add members with mls_group_commit_add).
 * HALQA_ERR_NOT_FOUND if there is none; HALQA_ERR_EXISTS if a commit is
 * already pending.
 */
HALQA_MUST_CHECK int mls_group_commit_proposals(struct mls_group *g, uint8_t **commit,
						size_t *commit_len);

/* mls_group_num_proposals: cached proposals this epoch. */
size_t mls_group_num_proposals(const struct mls_group *g);

/*
 * mls_group_commit_confirm applies our pending commit (the relay accepted
 * it). HALQA_ERR_NOT_FOUND if none is pending.
 */
HALQA_MUST_CHECK int mls_group_commit_confirm(struct mls_group *g);

/* mls_group_commit_discard drops our pending commit, if any (the relay refused it). */
void mls_group_commit_discard(struct mls_group *g);

/* mls_group_has_pending tells whether a commit of ours awaits confirmation. */
bool mls_group_has_pending(const struct mls_group *g);

/* What mls_group_process found in a message. */
enum mls_group_event_type {
	MLS_GROUP_EVENT_APPLICATION = 1, /* |data| holds the plaintext */
	MLS_GROUP_EVENT_PROPOSAL = 2,    /* kept for a later commit */
	MLS_GROUP_EVENT_COMMIT = 3,      /* the group moved to a new epoch */
};

struct mls_group_event {
	int type;        /* enum mls_group_event_type */
	uint32_t sender; /* the sender's leaf index; UINT32_MAX for a proposal
			  * from an external sender or a new member (12.1.8) */
	uint8_t *data;   /* application plaintext (malloc'd; wipe then free) */
	size_t data_len;
	bool removed; /* a commit removed us: the group is now closed */
	/* MLS_GROUP_EVENT_PROPOSAL: its RFC 9420 type, and the removed leaf
	 * for a Remove, the sender's leaf for an Update, else UINT32_MAX. */
	uint16_t proposal_type;
	uint32_t proposal_leaf;
	/* MLS_GROUP_EVENT_COMMIT: the leaves it removed and added, in the
	 * commit's order (malloc'd; mls_group_event_cleanup frees them). */
	uint32_t *removed_leaves;
	size_t num_removed;
	uint32_t *added_leaves;
	size_t num_added;
};

/*
 * mls_group_process handles the MLSMessage |msg| (RFC 9420 6, 12.2,
 * 12.4.2). On success |*ev| says what it was (clean it with
 * mls_group_event_cleanup). On failure |*ev| is zeroed and the group
 * unchanged (see the top of this file). The exact bytes of our own
 * pending commit (the relay echoing it, e.g. after a crash between its
 * acceptance and our confirm) apply it as mls_group_commit_confirm does
 * and give a MLS_GROUP_EVENT_COMMIT with |sender| our own leaf.
 */
HALQA_MUST_CHECK int mls_group_process(struct mls_group *g, const uint8_t *msg, size_t msg_len,
				       struct mls_group_event *ev);

/* mls_group_event_cleanup wipes and frees what |ev| holds. */
void mls_group_event_cleanup(struct mls_group_event *ev);

/*
 * mls_group_protect encrypts |pt| (at most MLS_MAX_MESSAGE bytes) as an
 * application PrivateMessage from us, into |*out| (malloc'd, caller frees).
 * HALQA_ERR_DENIED once we were removed.
 */
HALQA_MUST_CHECK int mls_group_protect(struct mls_group *g, const uint8_t *pt, size_t pt_len,
				       uint8_t **out, size_t *out_len);

/* mls_group_epoch returns the current epoch. */
uint64_t mls_group_epoch(const struct mls_group *g);

/*
 * mls_group_id points |*out| at the group id (borrowed from |g|, valid
 * while |g| is) and sets |*out_len|: what a joiner checks against the
 * group it was told it joins.
 */
void mls_group_id(const struct mls_group *g, const uint8_t **out, size_t *out_len);

/* mls_group_epoch_authenticator copies the epoch authenticator (RFC 9420 8.7). */
void mls_group_epoch_authenticator(const struct mls_group *g, uint8_t out[MLS_HASH_LEN]);

/* mls_group_own_leaf returns our leaf index. */
uint32_t mls_group_own_leaf(const struct mls_group *g);

/* mls_group_is_removed tells whether a commit removed us. */
bool mls_group_is_removed(const struct mls_group *g);

/* One member: its leaf index and, for a Halqa leaf, its identity key. */
struct mls_group_member {
	uint32_t leaf;
	bool has_identity;
	uint8_t identity[MLS_SIG_PUB_LEN];
};

/*
 * mls_group_members lists the members in leaf order into |*out|
 * (malloc'd, caller frees; NULL when empty) and |*out_num|.
 */
HALQA_MUST_CHECK int mls_group_members(const struct mls_group *g, struct mls_group_member **out,
				       size_t *out_num);

/* mls_group_num_members returns the number of members. */
uint32_t mls_group_num_members(const struct mls_group *g);

/*
 * mls_group_export computes MLS-Exporter(label, context, out_len) (RFC
 * 9420 8.5) of the current epoch into |out|.
 */
HALQA_MUST_CHECK int mls_group_export(const struct mls_group *g, const char *label,
				      const uint8_t *context, size_t context_len, uint8_t *out,
				      size_t out_len);

/* mls_group_extensions returns the GroupContext extensions (borrowed). */
const struct mls_extension_list *mls_group_extensions(const struct mls_group *g);

/* The largest saved group state we write or read. */
#define MLS_GROUP_STATE_MAX (3u * MLS_MAX_TREE_BYTES)

/*
 * mls_group_save serializes the whole group state (GroupContext, ratchet
 * tree with our private path keys, epoch secrets, secret tree with its
 * ratchet positions and kept out-of-order keys, interim transcript hash,
 * resumption PSKs kept, cached proposals, our signing key, the pending
 * commit if any, the handshake-public flag, the removed flag) into
 * |*out| (secmem_alloc'd: it is secret; free with mls_group_state_free)
 * and |*out_len|. The format is versioned (see mls_group_state.c). The
 * testing hook and the PSK store are not saved. On failure NULL and 0.
 */
HALQA_MUST_CHECK int mls_group_save(const struct mls_group *g, uint8_t **out, size_t *out_len);

/* mls_group_state_free wipes and frees what mls_group_save returned; NULL is a no-op. */
void mls_group_state_free(uint8_t *state, size_t len);

/*
 * mls_group_state_digest writes to |out| the BLAKE2b-256 (unkeyed) of the
 * saved state |state|: what a caller compares to tell two states apart
 * without keeping either.
 */
#define MLS_GROUP_STATE_DIGEST_LEN 32
void mls_group_state_digest(uint8_t out[static MLS_GROUP_STATE_DIGEST_LEN], const uint8_t *state,
			    size_t len);

/*
 * mls_group_state_hash writes to |out| the digest mls_group_state_digest
 * gives of what mls_group_save would return for |g|, without handing the
 * bytes out (they stay in a wiped heap buffer, with no secure allocation).
 * On failure the error mls_group_save would return, and |out| zeroed.
 */
HALQA_MUST_CHECK int mls_group_state_hash(const struct mls_group *g,
					  uint8_t out[static MLS_GROUP_STATE_DIGEST_LEN]);

/*
 * mls_group_load rebuilds a group from mls_group_save's bytes; |psks| as
 * in mls_group_join. Any damage (truncation, trailing bytes, bad version,
 * inconsistent tree, wrong lengths) is refused with an error and no
 * group; the bytes are not modified. HALQA_ERR_MALFORMED (not a saved
 * state), HALQA_ERR_UNSUPPORTED (another format version), HALQA_ERR_INVALID
 * (a part that breaks a rule: tree hash, private keys, signing key,
 * secret tree layout, epochs), HALQA_ERR_CRYPTO (a leaf signature),
 * HALQA_ERR_TRUNCATED, HALQA_ERR_TOO_LARGE, the codec's errors. A changed
 * byte inside a secret with no public image cannot be detected; such a
 * group loads and then fails to agree with its peers.
 */
HALQA_MUST_CHECK int mls_group_load(struct mls_group **out, const uint8_t *state, size_t len,
				    const struct mls_group_psk_store *psks);

/*
 * mls_group_load_own is mls_group_load for bytes that our own
 * mls_group_save wrote and that were kept where nobody else can change
 * them undetected: the client's store, every page of which SQLCipher
 * authenticates with the store key. It runs the same parser: every
 * structural and length check, the magic and version, the flags, the
 * secret tree's layout against the tree, the epoch and history rules,
 * the pending commit's shape. Of the content checks it keeps the cheap
 * ones: every key in the tree of its suite's length, our leaf's
 * signature key equal to our signing key's public half, the tree hash
 * equal to the GroupContext's, and the cached proposals' checks (none
 * cost anything without cached proposals). It skips what costs
 * public-key operations, which grow with the group: the tree
 * verification a joiner does (leaf signatures, parent hashes, unique
 * keys, capabilities), our private keys against their public keys, the
 * external key pair against the external secret, the signing key's seed
 * against its public half. That is sound because each was checked
 * before the state was saved: the tree when it was joined or a commit
 * changed it (and since then only our own code changed it), our keys
 * when they were made or decrypted, and the tree hash ties the tree read
 * back to the GroupContext saved with it. A state that fails a skipped
 * check loads into a group that disagrees with its peers and fails
 * their messages' authentication, as a changed secret does under
 * mls_group_load; it does not weaken memory safety. Bytes that came from
 * anywhere else (the network, a file, a backup) must go through
 * mls_group_load. Errors as mls_group_load's; HALQA_ERR_CRYPTO only from
 * a cached proposal.
 */
HALQA_MUST_CHECK int mls_group_load_own(struct mls_group **out, const uint8_t *state,
					size_t len, const struct mls_group_psk_store *psks);

/*
 * Testing only: mls_group_testing_set_hook makes |g| call |hook| on each
 * commit it builds, once with MLS_GROUP_HOOK_CONTENT before the content is
 * signed (the commit may be changed: proposals added, the path dropped;
 * it is also called so for each proposal we make, which it may change)
 * and once with MLS_GROUP_HOOK_AUTH after the signature and confirmation
 * tag are set, before framing (they may be damaged). It lets the refusal
 * tests and fuzz targets produce commits that break RFC 9420 rules, as a
 * hostile member could; it weakens nothing on the receiving side, which
 * never calls it. NULL removes the hook. Clients never set it.
 */
struct mls_authenticated_content;
enum mls_group_hook_phase {
	MLS_GROUP_HOOK_CONTENT = 1,
	MLS_GROUP_HOOK_AUTH = 2,
};
typedef void (*mls_group_testing_hook)(struct mls_authenticated_content *ac, int phase, void *arg);
void mls_group_testing_set_hook(struct mls_group *g, mls_group_testing_hook hook, void *arg);

#endif
