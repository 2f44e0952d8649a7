/*
 * mls_secret_tree.h: the per-epoch secret tree and the senders' hash
 * ratchets (RFC 9420 section 9), and the sender-data key and nonce
 * (section 6.3.2).
 *
 * One tree per epoch, made from the epoch's encryption_secret. Each leaf
 * (a member) owns two ratchets, handshake (proposals and commits) and
 * application; generation j of a ratchet yields one AEAD key and nonce,
 * used for exactly one message.
 *
 * Derivation is lazy: a node's secret is computed only when a leaf below it
 * is first used, and a parent's secret is wiped as soon as both children
 * are derived (section 9.2), so the tree holds at most the frontier of
 * unused subtrees plus the ratchets of leaves seen so far. A tree of 1,024
 * leaves holds one secret until members speak, and one path's worth (10
 * node secrets) after the first member does.
 *
 * Receiving is two-phase, so a forged message cannot move a ratchet:
 *   1. mls_secret_tree_get_key derives the key and nonce for (leaf,
 *      generation) without changing what the tree can still decrypt;
 *   2. the caller decrypts; only if the AEAD tag verifies does it call
 *      mls_secret_tree_consume, which deletes that key, advances the
 *      ratchet past it and keeps the keys of skipped generations.
 * Out-of-order delivery: up to MLS_SECRET_TREE_WINDOW keys of skipped
 * generations are kept per ratchet (the newest ones; older ones are
 * evicted and those messages become undecryptable). A receiver derives at
 * most MLS_SECRET_TREE_MAX_FORWARD generations ahead of the ratchet, which
 * bounds the work a single hostile message can cost. A consumed generation
 * is never available again: replays fail with HALQA_ERR_NOT_FOUND.
 *
 * Sending uses mls_secret_tree_next_key, which consumes the next
 * generation of the sender's own ratchet at once: a sending key is never
 * handed out twice, even if the caller then fails to send.
 *
 * All secrets (node secrets, ratchet secrets, retained keys) live in
 * locked secmem memory and are wiped when deleted and by
 * mls_secret_tree_free. Errors: HALQA_ERR_ARG for a leaf outside the tree
 * or a bad argument, HALQA_ERR_NOT_FOUND for a generation already consumed
 * or evicted, HALQA_ERR_TOO_LARGE for a generation beyond the forward
 * window, HALQA_ERR_LIMIT when a ratchet reaches generation 2^32 - 1,
 * HALQA_ERR_STALE when consume finds the ratchet moved since get_key,
 * HALQA_ERR_NOMEM. A failed call leaves the tree's decryptable state as it
 * was.
 */
#ifndef HALQA_MLS_SECRET_TREE_H
#define HALQA_MLS_SECRET_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"
#include "halqa/mls_crypto.h"

/* How many generations a receiver derives ahead of a ratchet for one message. */
#define MLS_SECRET_TREE_MAX_FORWARD 1000

/* How many keys of skipped generations each ratchet keeps for late messages. */
#define MLS_SECRET_TREE_WINDOW 32

/* The two ratchets of a leaf (RFC 9420 section 9). */
enum mls_secret_tree_ratchet {
	MLS_SECRET_TREE_HANDSHAKE = 0,
	MLS_SECRET_TREE_APPLICATION = 1,
};

struct mls_secret_tree;

/*
 * One message key. The public fields are what the AEAD needs; the fields
 * ending in '_' belong to the tree (how to commit a lookup) and hold a
 * ratchet secret. Wipe with mls_secret_tree_key_wipe on every path.
 */
struct mls_secret_tree_key {
	uint32_t leaf;
	enum mls_secret_tree_ratchet type;
	uint32_t generation;
	uint8_t key[MLS_AEAD_KEY_LEN];
	uint8_t nonce[MLS_AEAD_NONCE_LEN];
	uint8_t next_secret_[MLS_HASH_LEN];
	uint32_t base_generation_;
	int retained_;
};

/*
 * mls_secret_tree_new makes the secret tree of an epoch with |n_leaves|
 * leaves (a full tree, see mls_tree_math.h) rooted at |encryption_secret|,
 * and sets |*out|; free it with mls_secret_tree_free. The tree keeps its
 * own copy of the secret: the caller should wipe its copy (RFC 9420 9.2
 * counts the encryption_secret as consumed once the tree exists).
 * HALQA_ERR_ARG for an invalid leaf count, HALQA_ERR_NOMEM.
 */
HALQA_MUST_CHECK int mls_secret_tree_new(struct mls_secret_tree **out,
					 const uint8_t encryption_secret[MLS_HASH_LEN],
					 uint32_t n_leaves);

/* mls_secret_tree_free wipes and frees |tree|; NULL is a no-op. */
void mls_secret_tree_free(struct mls_secret_tree *tree);

/* mls_secret_tree_n_leaves returns the number of leaves of |tree|. */
uint32_t mls_secret_tree_n_leaves(const struct mls_secret_tree *tree);

/*
 * mls_secret_tree_next_key gives the sender |leaf| the key and nonce of
 * the next unused generation of its |type| ratchet in |*out|, and consumes
 * that generation at once. On failure |*out| is wiped.
 */
HALQA_MUST_CHECK int mls_secret_tree_next_key(struct mls_secret_tree *tree,
					      struct mls_secret_tree_key *out, uint32_t leaf,
					      enum mls_secret_tree_ratchet type);

/*
 * mls_secret_tree_get_key derives into |*out| the key and nonce of
 * |generation| of the |type| ratchet of |leaf|, for decrypting a received
 * message, without consuming it (see the top of this file). On failure
 * |*out| is wiped. The tree may cache the leaf's ratchet roots, which
 * changes nothing about which keys remain derivable.
 */
HALQA_MUST_CHECK int mls_secret_tree_get_key(struct mls_secret_tree *tree,
					     struct mls_secret_tree_key *out, uint32_t leaf,
					     enum mls_secret_tree_ratchet type,
					     uint32_t generation);

/*
 * mls_secret_tree_consume deletes the key |key| came from, after the
 * message it decrypted was authenticated: the ratchet moves past it and
 * the keys of the generations it skipped are retained (the newest
 * MLS_SECRET_TREE_WINDOW). HALQA_ERR_STALE if the ratchet changed since
 * get_key, HALQA_ERR_NOT_FOUND if a retained key was consumed meanwhile.
 * |key| is not wiped here; the caller wipes it.
 */
HALQA_MUST_CHECK int mls_secret_tree_consume(struct mls_secret_tree *tree,
					     const struct mls_secret_tree_key *key);

/* mls_secret_tree_key_wipe zeroes |key|. */
void mls_secret_tree_key_wipe(struct mls_secret_tree_key *key);

/*
 * mls_secret_tree_sender_data computes the sender-data AEAD key and nonce
 * (RFC 9420 6.3.2) from |sender_data_secret| and the content ciphertext:
 * ExpandWithLabel(secret, "key" / "nonce", sample, Nk / Nn) where sample
 * is the first 32 bytes of |ciphertext| (all of it if shorter). Outputs
 * are zeroed on failure.
 */
HALQA_MUST_CHECK int mls_secret_tree_sender_data(uint8_t key[MLS_AEAD_KEY_LEN],
						 uint8_t nonce[MLS_AEAD_NONCE_LEN],
						 const uint8_t sender_data_secret[MLS_HASH_LEN],
						 const uint8_t *ciphertext, size_t ciphertext_len);

/*
 * mls_secret_tree_encode appends the whole state of |tree| to |w| for a
 * saved group state: the leaf count, the frontier node secrets, each used
 * leaf's two ratchets (secret and next generation) and the kept keys of
 * skipped generations. |w| should be a BYTES_WIPE writer. Returns the
 * writer's sticky error.
 */
int mls_secret_tree_encode(struct bytes_writer *w, const struct mls_secret_tree *tree);

/*
 * mls_secret_tree_decode reads what mls_secret_tree_encode wrote into a
 * new tree |*out| and checks everything the secrets do not hide: a valid
 * leaf count; frontier nodes sorted, inside the tree, disjoint; used
 * leaves sorted, inside the tree, under no frontier node; every leaf
 * either used or under exactly one frontier node; kept keys sorted, of a
 * used leaf and a real ratchet, behind that ratchet, at most
 * MLS_SECRET_TREE_WINDOW per ratchet. HALQA_ERR_INVALID when a rule
 * fails, the reader's errors when bytes are missing; on failure |*out| is
 * NULL and everything read is wiped.
 */
HALQA_MUST_CHECK int mls_secret_tree_decode(struct bytes_reader *r,
					    struct mls_secret_tree **out);

/* What a tree currently stores, for tests and memory accounting. */
struct mls_secret_tree_stats {
	size_t num_node_secrets; /* unused subtree roots still held */
	size_t num_leaves;       /* leaves whose ratchets exist */
	size_t num_retained;     /* keys kept for out-of-order generations */
};

/* mls_secret_tree_get_stats fills |*out| from |tree|. */
void mls_secret_tree_get_stats(const struct mls_secret_tree *tree,
			       struct mls_secret_tree_stats *out);

#endif
