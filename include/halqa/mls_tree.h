/*
 * mls_tree.h: the MLS ratchet tree (RFC 9420 sections 4, 7 and 12.1): an
 * array of nodes (blank, leaf or parent) in the order of Appendix C, with
 * the operations a group needs on it.
 *
 *   - load from the `ratchet_tree` encoding (12.4.3.3), refusing trailing
 *     blanks and nodes of the wrong kind, and encode back byte for byte;
 *   - resolution (4.1.1) and filtered direct path (4.1.2);
 *   - tree hash of every node (7.8), cached and recomputed only along the
 *     paths an operation changed, so growing a group to thousands of
 *     members costs O(log n) hashes per change;
 *   - parent hashes (7.9): computing them for a fresh path and verifying a
 *     whole tree (7.9.2: every non-blank parent is covered by exactly one
 *     parent-hash link from below);
 *   - LeafNode validation (7.3) and the join-time tree checks of 12.4.3.1;
 *   - Add, Update and Remove applied to the tree (12.1.1 to 12.1.3).
 *
 * The tree stores codec structs (mls_codec.h): leaves are struct
 * mls_leaf_node, parents struct mls_parent_node, inside struct mls_node
 * whose type MLS_NODE_BLANK marks a blank node. A tree always has a power
 * of two leaves, 2 * num_leaves - 1 nodes; leaf L is node 2L.
 *
 * Ownership. A struct mls_tree is a heap object from mls_tree_new,
 * mls_tree_load or mls_tree_copy, freed with mls_tree_free. Leaf nodes
 * passed in are copied; pointers returned by the accessors are borrowed
 * and valid until the next change to the tree. The tree holds no secrets
 * (private keys and path secrets live with TreeKEM).
 *
 * Errors, the same everywhere:
 *   HALQA_ERR_MALFORMED  not a ratchet tree: no nodes, a blank last node,
 *                        a leaf at an odd index or a parent at an even one
 *                        (and every codec decoding error, passed through);
 *   HALQA_ERR_INVALID    a rule of RFC 9420 is broken: unmerged_leaves not
 *                        sorted, outside the node's subtree, naming a blank
 *                        leaf or missing from an intermediate node; a parent
 *                        hash that does not verify; a duplicate encryption
 *                        or signature key; a leaf whose source, lifetime,
 *                        capabilities or extensions are not acceptable; a
 *                        key of the wrong length; an operation on a blank
 *                        or missing leaf;
 *   HALQA_ERR_CRYPTO     a LeafNode signature does not verify;
 *   HALQA_ERR_TOO_LARGE  the tree would exceed MLS_MAX_LEAVES;
 *   HALQA_ERR_ARG        an index out of range or a NULL argument;
 *   HALQA_ERR_NOMEM.
 * A failed operation leaves the tree as it was.
 */
#ifndef HALQA_MLS_TREE_H
#define HALQA_MLS_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_crypto.h"

/* The deepest tree MLS_MAX_LEAVES allows: at most this many nodes on a direct path. */
#define MLS_TREE_MAX_DEPTH 32

struct mls_tree;

/*
 * struct mls_tree_policy: what LeafNode validation (RFC 9420 7.3) needs to
 * know about the group. Borrowed for the duration of a call.
 *   group_id          the group's id, signed into LeafNodeTBS for leaves of
 *                     source update and commit;
 *   group_extensions  the GroupContext extensions, whose
 *                     required_capabilities (11.1) every leaf must meet
 *                     (NULL: none);
 *   now               the current time in seconds since the Unix epoch,
 *                     checked against the lifetime of key_package leaves;
 *                     0 skips the check (7.3 only RECOMMENDS it for leaves
 *                     received, since a leaf may expire in transit);
 *   max_lifetime      the longest not_after - not_before we accept
 *                     (7.2 makes the application choose one); 0: no bound.
 */
struct mls_tree_policy {
	const uint8_t *group_id;
	size_t group_id_len;
	const struct mls_extension_list *group_extensions;
	uint64_t now;
	uint64_t max_lifetime;
};

/* mls_tree_new returns an empty tree (no leaves), NULL when out of memory. */
struct mls_tree *mls_tree_new(void);

/* mls_tree_free frees |t| and everything it holds; NULL is a no-op. */
void mls_tree_free(struct mls_tree *t);

/*
 * mls_tree_copy sets |*out| to an independent deep copy of |t| (cached tree
 * hashes included). HALQA_ERR_NOMEM on failure, |*out| NULL.
 */
HALQA_MUST_CHECK int mls_tree_copy(struct mls_tree **out, const struct mls_tree *t);

/*
 * mls_tree_load decodes an encoded ratchet tree, optional<Node>
 * ratchet_tree<V> (RFC 9420 12.4.3.3), from the whole of |data|/|len|:
 * the last node must be non-blank, leaves sit at even and parents at odd
 * indices, and the tree is extended with blanks to 2^(d+1) - 1 nodes. The
 * structure of every unmerged_leaves list is checked as 12.4.3.1 asks
 * (sorted, naming non-blank leaves below the node, repeated in every
 * non-blank node in between). Signatures, parent hashes and key
 * uniqueness are NOT checked here: call mls_tree_verify before trusting a
 * tree from a peer. On success |*out| is a new tree the caller frees; on
 * failure |*out| is NULL.
 */
HALQA_MUST_CHECK int mls_tree_load(struct mls_tree **out, const uint8_t *data, size_t len);

/*
 * mls_tree_from_nodes is mls_tree_load for a ratchet tree the codec has
 * already decoded (the ratchet_tree extension of a GroupInfo). On success
 * it takes the nodes out of |rt|, leaving it empty; on failure |rt| is
 * untouched and still owned by the caller.
 */
HALQA_MUST_CHECK int mls_tree_from_nodes(struct mls_tree **out, struct mls_ratchet_tree *rt);

/*
 * mls_tree_encode appends the ratchet_tree encoding of |t| to |w|, without
 * trailing blank nodes (12.4.3.3). Returns the writer's sticky error;
 * HALQA_ERR_INVALID if the tree has no non-blank node.
 * mls_tree_encode_bytes hands the encoding to the caller in |*out| (free
 * with free()) and |*out_len|; on failure NULL and 0.
 */
int mls_tree_encode(struct bytes_writer *w, const struct mls_tree *t);
HALQA_MUST_CHECK int mls_tree_encode_bytes(const struct mls_tree *t, uint8_t **out,
					   size_t *out_len);

/* mls_tree_num_leaves returns the number of leaves (a power of two, or 0 if empty). */
uint32_t mls_tree_num_leaves(const struct mls_tree *t);

/* mls_tree_num_nodes returns 2 * num_leaves - 1 (0 if empty). */
uint32_t mls_tree_num_nodes(const struct mls_tree *t);

/* mls_tree_num_members returns the number of non-blank leaves. */
uint32_t mls_tree_num_members(const struct mls_tree *t);

/*
 * mls_tree_node returns node |x| (borrowed; type MLS_NODE_BLANK if blank),
 * or NULL if |x| is out of range.
 */
const struct mls_node *mls_tree_node(const struct mls_tree *t, uint32_t x);

/* mls_tree_leaf returns leaf |leaf| (borrowed), or NULL if it is blank or out of range. */
const struct mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf);

/*
 * mls_tree_find_leaf sets |*out_leaf| to the index of the non-blank leaf
 * whose LeafNode is identical (same encoding) to |leaf|: how a joiner
 * finds its own leaf (12.4.3.1). HALQA_ERR_NOT_FOUND if there is none.
 */
HALQA_MUST_CHECK int mls_tree_find_leaf(const struct mls_tree *t, const struct mls_leaf_node *leaf,
					uint32_t *out_leaf);

/*
 * mls_tree_root returns the node index of the root, or UINT32_MAX for an
 * empty tree.
 */
uint32_t mls_tree_root(const struct mls_tree *t);

/*
 * mls_tree_hash writes the tree hash of the root (7.8) to |out|;
 * mls_tree_node_hash that of node |x|. Hashes are cached in the tree
 * (hence the non-const tree) and recomputed only for changed subtrees.
 * HALQA_ERR_ARG for an empty tree or |x| out of range.
 */
HALQA_MUST_CHECK int mls_tree_hash(struct mls_tree *t, uint8_t out[MLS_HASH_LEN]);
HALQA_MUST_CHECK int mls_tree_node_hash(struct mls_tree *t, uint32_t x,
					uint8_t out[MLS_HASH_LEN]);

/*
 * mls_tree_resolution computes the resolution of node |x| (4.1.1): node
 * indices, the node itself followed by its unmerged leaves for a non-blank
 * node, else the resolutions of its children left to right. Leaves listed
 * in |exclude| (|num_exclude| leaf indices, any order; new members of the
 * commit, 12.4.2) are left out. |*out| is malloc'd (the caller frees it;
 * NULL when the resolution is empty) and |*out_num| its length.
 */
HALQA_MUST_CHECK int mls_tree_resolution(const struct mls_tree *t, uint32_t x,
					 const uint32_t *exclude, size_t num_exclude,
					 uint32_t **out, size_t *out_num);

/*
 * mls_tree_filtered_direct_path computes the filtered direct path of leaf
 * |leaf| (4.1.2): the nodes of its direct path, leaf to root, whose child
 * on the copath has a non-empty resolution. |path| receives the nodes and
 * |copath|, if not NULL, the copath child of each; |*out_num| the count.
 */
HALQA_MUST_CHECK int mls_tree_filtered_direct_path(const struct mls_tree *t, uint32_t leaf,
						   uint32_t path[MLS_TREE_MAX_DEPTH],
						   uint32_t copath[MLS_TREE_MAX_DEPTH],
						   size_t *out_num);

/*
 * mls_tree_parent_hash computes the parent hash of parent node |p| with
 * copath child |s| (7.9): Hash(ParentHashInput{p.encryption_key,
 * p.parent_hash, original_sibling_tree_hash}), where the original sibling
 * tree hash is that of |s| with p's unmerged leaves blanked and removed
 * from every unmerged_leaves list below. HALQA_ERR_INVALID if |p| is blank
 * or |s| not one of its children.
 */
HALQA_MUST_CHECK int mls_tree_parent_hash(struct mls_tree *t, uint32_t p, uint32_t s,
					  uint8_t out[MLS_HASH_LEN]);

/*
 * mls_tree_verify_parent_hashes checks that every non-blank parent node is
 * parent-hash valid (7.9.2): exactly one node below it links to it. Returns
 * HALQA_ERR_INVALID naming no node (the log gets the index) otherwise.
 */
HALQA_MUST_CHECK int mls_tree_verify_parent_hashes(struct mls_tree *t);

/*
 * mls_tree_verify runs the checks a joiner applies to a tree from a peer
 * (12.4.3.1) other than comparing the tree hash with the GroupInfo's:
 * parent hashes; every non-blank leaf valid as a LeafNode (7.3, see
 * mls_tree_check_leaf) under |policy|, its signature with |policy->group_id|
 * and its own index for sources update and commit; every encryption key
 * (leaves and parents) and every signature key unique in the tree; every
 * credential type in use supported by every member. The unmerged_leaves
 * rules were checked when the tree was loaded.
 */
HALQA_MUST_CHECK int mls_tree_verify(struct mls_tree *t, const struct mls_tree_policy *policy);

/*
 * mls_tree_check_leaf validates a LeafNode |leaf| that is to occupy leaf
 * |leaf_index| of |t| (7.3), received in a KeyPackage (|source|
 * MLS_LEAF_SOURCE_KEY_PACKAGE; |leaf_index| is then where it will be
 * added, unused for the signature), an Update proposal (..._UPDATE) or an
 * UpdatePath (..._COMMIT); |source| 0 accepts any source (a tree being
 * verified). Checks: key lengths; the signature over LeafNodeTBS; the
 * source; for an Update, an encryption key different from the leaf's
 * current one; the lifetime if policy->now is set; required_capabilities
 * of the group; every non-default extension listed in the capabilities, no
 * extension type twice; the credential type supported by every other
 * member and every type in use supported by this leaf; encryption and
 * signature keys found nowhere else in the tree (the leaf it replaces
 * excepted). The credential itself is the application's to judge
 * (5.3.1): not checked here.
 */
HALQA_MUST_CHECK int mls_tree_check_leaf(const struct mls_tree *t,
					 const struct mls_leaf_node *leaf, uint32_t leaf_index,
					 uint8_t source, const struct mls_tree_policy *policy);

/*
 * mls_tree_add_leaf applies an Add (12.1.1): |leaf| (copied) goes to the
 * leftmost blank leaf, or the tree is extended to the right if none is
 * blank; the new leaf index is added to the unmerged_leaves of every
 * non-blank parent above it. Its index is returned in |*out_leaf|.
 * No validation: check the leaf first.
 */
HALQA_MUST_CHECK int mls_tree_add_leaf(struct mls_tree *t, const struct mls_leaf_node *leaf,
				       uint32_t *out_leaf);

/*
 * mls_tree_update_leaf applies an Update (12.1.2): leaf |leaf_index| is
 * replaced by |leaf| (copied) and its direct path blanked.
 * HALQA_ERR_INVALID if the leaf is blank. No validation.
 */
HALQA_MUST_CHECK int mls_tree_update_leaf(struct mls_tree *t, uint32_t leaf_index,
					  const struct mls_leaf_node *leaf);

/*
 * mls_tree_remove_leaf applies a Remove (12.1.3): leaf |leaf_index| and its
 * direct path are blanked, then the tree is truncated while its right half
 * holds no non-blank leaf. HALQA_ERR_INVALID if the leaf is blank or is the
 * last member (a group cannot be empty).
 */
HALQA_MUST_CHECK int mls_tree_remove_leaf(struct mls_tree *t, uint32_t leaf_index);

/*
 * ---- TreeKEM (RFC 9420 7.4-7.6, 12.4.2) ----
 *
 * A member's private view of the tree is a struct mls_tree_private: its
 * leaf index, the private key of its leaf, and the private keys of the
 * nodes on its direct path it knows (the tree invariant, 4.2: no others).
 * After generating an UpdatePath it also holds the path secrets and the
 * commit secret of that path until mls_tree_private_forget_path. All of it
 * lives in locked secmem memory and is wiped when freed; every
 * intermediate secret (path, node and leaf secrets, decrypted plaintexts)
 * is wiped on every path out.
 *
 * Committing (12.4.2), after the proposals are applied to the tree:
 *   mls_tree_path_generate   new leaf key, path secrets and node keys along
 *                            the filtered direct path, parent hashes, the
 *                            re-signed leaf, all merged into the tree;
 *   (the caller hashes the tree and builds the provisional GroupContext)
 *   mls_tree_path_encrypt    the UpdatePath, each path secret encrypted to
 *                            the resolution of its copath child minus the
 *                            members this commit adds;
 *   mls_tree_private_commit_secret, mls_tree_private_path_secret_for (the
 *                            path_secret of a joiner's GroupSecrets).
 * Receiving, after the proposals are applied:
 *   mls_tree_merge_path      validates the UpdatePath (leaf node 7.3,
 *                            length, fresh keys, parent hash of the leaf)
 *                            and merges it;
 *   (the caller hashes the tree and builds the provisional GroupContext)
 *   mls_tree_path_decrypt    finds and decrypts our path secret, derives
 *                            upward, checks every derived public key, and
 *                            returns the commit secret.
 * Joining (12.4.3.1): mls_tree_private_new, then
 * mls_tree_private_join_path with the GroupSecrets path_secret.
 *
 * Errors as above, plus HALQA_ERR_CRYPTO when an HPKE decryption fails and
 * HALQA_ERR_NOT_FOUND when no node of ours can decrypt a path. A failed
 * call leaves the tree and the private state as they were.
 */
struct mls_tree_private;

/*
 * mls_tree_private_new creates the private state of leaf |leaf_index| with
 * leaf private key |leaf_priv| (copied). HALQA_ERR_NOMEM on failure.
 */
HALQA_MUST_CHECK int mls_tree_private_new(struct mls_tree_private **out, uint32_t leaf_index,
					  const uint8_t leaf_priv[MLS_KEM_PRIV_LEN]);

/* mls_tree_private_free wipes and frees |p|; NULL is a no-op. */
void mls_tree_private_free(struct mls_tree_private *p);

/* mls_tree_private_copy sets |*out| to an independent copy of |p|. */
HALQA_MUST_CHECK int mls_tree_private_copy(struct mls_tree_private **out,
					   const struct mls_tree_private *p);

/*
 * mls_tree_private_encode appends |p| to |w| for a saved group state: the
 * leaf index, the leaf private key and each node key with its node index.
 * A generated path not yet forgotten is not saved (HALQA_ERR_INVALID: the
 * group forgets it before an epoch is kept). |w| should be a BYTES_WIPE
 * writer. Returns the writer's sticky error.
 */
int mls_tree_private_encode(struct bytes_writer *w, const struct mls_tree_private *p);
/*
 * mls_tree_private_decode reads what mls_tree_private_encode wrote into a
 * new state |*out| (free with mls_tree_private_free): at most
 * MLS_TREE_MAX_DEPTH node keys, no node twice. The keys are not checked
 * against a tree here: call mls_tree_private_check. On failure |*out| is
 * NULL and nothing read is left unwiped.
 */
HALQA_MUST_CHECK int mls_tree_private_decode(struct bytes_reader *r, struct mls_tree_private **out);
/* mls_tree_private_leaf_index returns the leaf index |p| belongs to. */
uint32_t mls_tree_private_leaf_index(const struct mls_tree_private *p);

/*
 * mls_tree_private_check checks |p| against |t|: its leaf is non-blank
 * with the public key of our leaf private key, and every node key we hold
 * belongs to a non-blank node on our direct path with the matching public
 * key. HALQA_ERR_INVALID otherwise.
 */
HALQA_MUST_CHECK int mls_tree_private_check(const struct mls_tree_private *p,
					    const struct mls_tree *t);

/*
 * mls_tree_private_set_path_secret derives the key pair of node |x| from
 * |path_secret| (7.4: node_secret = DeriveSecret(path_secret, "node"),
 * KEM.DeriveKeyPair(node_secret)) and stores the private key, after
 * checking that |x| is a non-blank parent on our direct path holding the
 * derived public key (HALQA_ERR_INVALID otherwise).
 */
HALQA_MUST_CHECK int mls_tree_private_set_path_secret(struct mls_tree_private *p,
						      const struct mls_tree *t, uint32_t x,
						      const uint8_t path_secret[MLS_HASH_LEN]);

/*
 * mls_tree_private_join_path does the same for node |x| (the lowest common
 * ancestor of our leaf and the committer's, 12.4.3.1), then for each
 * non-blank ancestor above it with the next path secret
 * (DeriveSecret(path_secret, "path")): the committer's filtered direct path.
 */
HALQA_MUST_CHECK int mls_tree_private_join_path(struct mls_tree_private *p,
						const struct mls_tree *t, uint32_t x,
						const uint8_t path_secret[MLS_HASH_LEN]);

/*
 * mls_tree_private_prune drops the node keys of |p| that no longer match
 * |t| (the node was blanked by an Update or Remove, or replaced): call it
 * after applying proposals. Dropped keys are wiped.
 */
void mls_tree_private_prune(struct mls_tree_private *p, const struct mls_tree *t);

/*
 * mls_tree_path_generate replaces the direct path of our leaf (|p|'s) in
 * |t| with a fresh one (7.4, 7.5): a new leaf key pair, a random first
 * path secret and those derived from it along the filtered direct path,
 * node key pairs, parent hashes (7.9), and a new leaf node made from
 * |leaf_template| (NULL: our current leaf; its encryption key, source and
 * parent hash are replaced) signed with |sig_priv| (libsodium 64-byte
 * form) over |group_id| and our index. On success |t| holds the new path
 * and |p| the new keys, path secrets and commit secret (path_secret[n+1];
 * for a lone member with no path nodes, a fresh random value).
 * HALQA_ERR_INVALID if our leaf is blank; HALQA_ERR_ARG if |sig_priv| is
 * not the key of the leaf's signature_key (no one could verify it).
 */
HALQA_MUST_CHECK int mls_tree_path_generate(struct mls_tree *t, struct mls_tree_private *p,
					    const struct mls_leaf_node *leaf_template,
					    const uint8_t sig_priv[MLS_SIG_PRIV_LEN],
					    const uint8_t *group_id, size_t group_id_len);

/*
 * mls_tree_path_encrypt builds the UpdatePath of the path |p| generated
 * into |t| (7.6): our leaf node and, for each node of our filtered direct
 * path, its public key and its path secret encrypted with
 * EncryptWithLabel(key, "UpdatePathNode", |group_context|) to every node of
 * the resolution of its copath child, leaving out the leaves in
 * |exclude| (the members this commit adds). |group_context| is the encoded
 * provisional GroupContext. |*out| (zeroed on entry) is the caller's to
 * clean up with mls_update_path_cleanup. HALQA_ERR_INVALID if |p| holds
 * no generated path or |t| no longer matches it.
 */
HALQA_MUST_CHECK int mls_tree_path_encrypt(const struct mls_tree *t,
					   const struct mls_tree_private *p,
					   const uint32_t *exclude, size_t num_exclude,
					   const uint8_t *group_context, size_t group_context_len,
					   struct mls_update_path *out);

/*
 * mls_tree_private_commit_secret copies the commit secret of the path
 * generated into |p|; HALQA_ERR_NOT_FOUND if there is none.
 */
HALQA_MUST_CHECK int mls_tree_private_commit_secret(const struct mls_tree_private *p,
						    uint8_t out[MLS_HASH_LEN]);

/*
 * mls_tree_private_path_secret_for copies the path secret a new member at
 * leaf |joiner| needs (GroupSecrets.path_secret, 12.4.3.1): that of the
 * lowest node of our generated path above the joiner, whose node index
 * goes to |*out_node|. HALQA_ERR_NOT_FOUND if there is no generated path
 * or the joiner is not below it.
 */
HALQA_MUST_CHECK int mls_tree_private_path_secret_for(const struct mls_tree_private *p,
						      const struct mls_tree *t, uint32_t joiner,
						      uint8_t out[MLS_HASH_LEN],
						      uint32_t *out_node);

/* mls_tree_private_forget_path wipes the path secrets and commit secret of |p|. */
void mls_tree_private_forget_path(struct mls_tree_private *p);

/*
 * mls_tree_merge_path validates the UpdatePath |path| sent by the member at
 * leaf |sender| and merges it into |t| (7.5, 12.4.2): the leaf node must
 * pass mls_tree_check_leaf as source commit under |policy|, the path must
 * have one node per node of the sender's filtered direct path, no public
 * key in it may appear anywhere in the tree or twice in the path, and the
 * leaf's parent_hash must equal the parent hash computed for the path.
 * The sender's direct path is then blanked and the path's nodes set, with
 * their parent hashes and no unmerged leaves.
 */
HALQA_MUST_CHECK int mls_tree_merge_path(struct mls_tree *t, uint32_t sender,
					 const struct mls_update_path *path,
					 const struct mls_tree_policy *policy);

/*
 * mls_tree_path_decrypt processes, for our state |p|, the UpdatePath
 * |path| from |sender| already merged into |t| (7.5): it finds the node of
 * the sender's filtered direct path whose copath child we sit below, the
 * resolution node (leaving out |exclude|) we hold a key for, decrypts the
 * path secret with DecryptWithLabel(..., "UpdatePathNode",
 * |group_context|), derives the secrets above it, checks each derived
 * public key against the path, and stores the new node keys in |p|. The
 * commit secret goes to |commit_secret| and, if |out_path_secret| is not
 * NULL, the decrypted path secret to it. HALQA_ERR_INVALID if we are the
 * sender or the path does not fit the tree, HALQA_ERR_NOT_FOUND if we
 * hold no key for the resolution, HALQA_ERR_CRYPTO if decryption fails.
 */
HALQA_MUST_CHECK int mls_tree_path_decrypt(const struct mls_tree *t, struct mls_tree_private *p,
					   uint32_t sender, const struct mls_update_path *path,
					   const uint32_t *exclude, size_t num_exclude,
					   const uint8_t *group_context, size_t group_context_len,
					   uint8_t commit_secret[MLS_HASH_LEN],
					   uint8_t out_path_secret[MLS_HASH_LEN]);

#endif
