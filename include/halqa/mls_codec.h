/*
 * mls_codec.h: the TLS-presentation codec for every structure of RFC 9420
 * (Messaging Layer Security): basic types, credentials, LeafNode, KeyPackage,
 * the ratchet tree, GroupContext, UpdatePath and the payloads of the
 * defined extensions here; proposals, Commit, framing, GroupInfo, Welcome
 * and MLSMessage in mls_codec_msg.h.
 *
 * Syntax only. The codec checks that bytes are well-formed RFC 9420
 * structures within our bounds; it does no cryptography and no semantic
 * validation (whether a leaf index exists, a signature verifies, a
 * lifetime holds, a cipher suite is ours). Keys, hashes and signatures are
 * opaque vectors of any suite, so suites 1, 2 and 3 decode alike.
 *
 * Conventions shared by every struct `mls_<name>`:
 *
 *   int  mls_<name>_decode(struct bytes_reader *r, struct mls_<name> *out);
 *   int  mls_<name>_encode(struct bytes_writer *w, const struct mls_<name> *in);
 *   void mls_<name>_cleanup(struct mls_<name> *s);
 *
 * - _decode reads one struct from |r| and advances past it. It does not
 *   require |r| to end afterwards (the struct may be a field of a larger
 *   one); the mls_<name>_decode_bytes helpers do. On success |*out| owns
 *   heap copies of every variable-length field: nothing points into the
 *   input, which may be freed at once. On failure |*out| is left zeroed
 *   (everything decoded so far is freed) and |r| may have advanced; callers
 *   discard a reader after an error.
 * - _encode appends the canonical encoding to |w| and returns the writer's
 *   sticky error (HALQA_ERR_ARG if |in| holds an enum value the codec cannot
 *   encode). Re-encoding a decoded struct gives back the input byte for byte
 *   (the MLS varint is minimal, so the encoding is unique).
 * - _cleanup frees what the struct owns, wipes secret-bearing fields, and
 *   leaves it zeroed; it is safe on a zeroed or partially filled struct.
 *   A zeroed struct is the initial state; there is no separate _init.
 * - _copy, where given, makes |*out| an independent deep copy of |in|
 *   (HALQA_ERR_NOMEM or the encoding error on failure, |*out| zeroed).
 *
 * Errors while decoding, the same everywhere:
 *   HALQA_ERR_TRUNCATED   the input ends inside the struct;
 *   HALQA_ERR_MALFORMED   bad syntax: invalid or non-minimal varint, an
 *                         optional<T> presence byte other than 0 or 1,
 *                         non-zero PrivateMessageContent padding, trailing
 *                         bytes inside a length-prefixed struct or after a
 *                         whole-buffer decode;
 *   HALQA_ERR_UNSUPPORTED an MLSMessage version other than mls10 (RFC 9420
 *                         6: "version = mls10"), or a value of a closed
 *                         enum that RFC 9420 does not define (reserved 0
 *                         included): wire format, content
 *                         type, sender type, proposal type, credential type,
 *                         leaf node source, node type, PSK type, resumption
 *                         PSK usage, ProposalOrRef type;
 *   HALQA_ERR_TOO_LARGE   a vector longer, or a list with more items, than
 *                         our bound below;
 *   HALQA_ERR_NOMEM       an allocation failed.
 * Extension types, and the values listed in Capabilities, are NOT closed:
 * RFC 9420 13 and 13.5 make extension_data opaque and allow GREASE, so an
 * unknown extension type is kept byte for byte and never an error.
 *
 * Bounds. Every vector has a maximum chosen here, far below the 2^30 the
 * varint allows. Lists are decoded item by item into arrays that grow with
 * the input, so allocation is bounded by the input size; the item caps
 * below bound it further.
 */
#ifndef HALQA_MLS_CODEC_H
#define HALQA_MLS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"

/* Bounds on vector lengths (bytes) and list lengths (items). */
#define MLS_MAX_GROUP_ID 256         /* group_id, psk_group_id */
#define MLS_MAX_KEY 1024             /* HPKE and signature public keys, kem_output */
#define MLS_MAX_HASH 64              /* hashes, MACs, references (SHA-512 at most) */
#define MLS_MAX_SIGNATURE 1024       /* signatures (Ed448, ECDSA P-521 fit) */
#define MLS_MAX_SECRET 256           /* joiner_secret, path_secret, psk_id, psk_nonce */
#define MLS_MAX_IDENTITY 4096        /* basic credential identity */
#define MLS_MAX_CERT 65536           /* one X.509 certificate */
#define MLS_MAX_CERTS 32             /* certificates in a chain */
#define MLS_MAX_CAPABILITY_ITEMS 256 /* entries in each Capabilities list */
#define MLS_MAX_EXTENSIONS 256       /* extensions in one list */
#define MLS_MAX_LEAVES 100000        /* members of a group */
#define MLS_MAX_TREE_NODES (2 * MLS_MAX_LEAVES - 1)
#define MLS_MAX_PATH_NODES 32        /* UpdatePath nodes: tree depth, 2^32 leaves at most */
#define MLS_MAX_PROPOSALS 10000      /* ProposalOrRef entries in one Commit */
#define MLS_MAX_PSKS 256             /* PreSharedKeyIDs in GroupSecrets */
#define MLS_MAX_MESSAGE (1u << 20)   /* application data, AAD, ciphertexts: 1 MiB */
#define MLS_MAX_TREE_BYTES (32u << 20) /* an encoded ratchet tree, and extension_data */
#define MLS_MAX_ENCODING (64u << 20) /* writers made by the _encode_bytes helpers */

/* ProtocolVersion (RFC 9420 6). */
#define MLS_VERSION_MLS10 1

/* WireFormat (RFC 9420 6, 17.2). */
enum mls_wire_format {
	MLS_WIRE_PUBLIC_MESSAGE = 1,
	MLS_WIRE_PRIVATE_MESSAGE = 2,
	MLS_WIRE_WELCOME = 3,
	MLS_WIRE_GROUP_INFO = 4,
	MLS_WIRE_KEY_PACKAGE = 5,
};

/* ContentType (RFC 9420 6). */
enum mls_content_type {
	MLS_CONTENT_APPLICATION = 1,
	MLS_CONTENT_PROPOSAL = 2,
	MLS_CONTENT_COMMIT = 3,
};

/* SenderType (RFC 9420 6). */
enum mls_sender_type {
	MLS_SENDER_MEMBER = 1,
	MLS_SENDER_EXTERNAL = 2,
	MLS_SENDER_NEW_MEMBER_PROPOSAL = 3,
	MLS_SENDER_NEW_MEMBER_COMMIT = 4,
};

/* ProposalType (RFC 9420 12.1, 17.4). */
enum mls_proposal_type {
	MLS_PROPOSAL_ADD = 1,
	MLS_PROPOSAL_UPDATE = 2,
	MLS_PROPOSAL_REMOVE = 3,
	MLS_PROPOSAL_PSK = 4,
	MLS_PROPOSAL_REINIT = 5,
	MLS_PROPOSAL_EXTERNAL_INIT = 6,
	MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS = 7,
};

/* CredentialType (RFC 9420 5.3, 17.5). */
enum mls_credential_type {
	MLS_CREDENTIAL_BASIC = 1,
	MLS_CREDENTIAL_X509 = 2,
};

/* ExtensionType (RFC 9420 17.3); any other value is kept opaque. */
enum mls_extension_type {
	MLS_EXT_APPLICATION_ID = 1,
	MLS_EXT_RATCHET_TREE = 2,
	MLS_EXT_REQUIRED_CAPABILITIES = 3,
	MLS_EXT_EXTERNAL_PUB = 4,
	MLS_EXT_EXTERNAL_SENDERS = 5,
};

/* LeafNodeSource (RFC 9420 7.2). */
enum mls_leaf_node_source {
	MLS_LEAF_SOURCE_KEY_PACKAGE = 1,
	MLS_LEAF_SOURCE_UPDATE = 2,
	MLS_LEAF_SOURCE_COMMIT = 3,
};

/* NodeType (RFC 9420 7.8); MLS_NODE_BLANK marks an absent optional<Node>. */
enum mls_node_type {
	MLS_NODE_BLANK = 0,
	MLS_NODE_LEAF = 1,
	MLS_NODE_PARENT = 2,
};

/* PSKType and ResumptionPSKUsage (RFC 9420 8.4). */
enum mls_psk_type {
	MLS_PSK_EXTERNAL = 1,
	MLS_PSK_RESUMPTION = 2,
};
enum mls_resumption_usage {
	MLS_RESUMPTION_APPLICATION = 1,
	MLS_RESUMPTION_REINIT = 2,
	MLS_RESUMPTION_BRANCH = 3,
};

/*
 * struct mls_bytes: an owned opaque<V> (data is NULL when len is 0).
 * mls_bytes_decode reads an opaque<V> of at most |max_len| bytes.
 * mls_bytes_set copies |len| bytes of |data| into |*out|, freeing what it
 * held (HALQA_ERR_NOMEM on failure, |*out| then empty).
 * mls_bytes_cleanup frees; mls_bytes_wipe zeroes the bytes first (secrets).
 */
struct mls_bytes {
	uint8_t *data;
	size_t len;
};

HALQA_MUST_CHECK int mls_bytes_decode(struct bytes_reader *r, struct mls_bytes *out,
				      size_t max_len);
int mls_bytes_encode(struct bytes_writer *w, const struct mls_bytes *in);
HALQA_MUST_CHECK int mls_bytes_set(struct mls_bytes *out, const uint8_t *data, size_t len);
HALQA_MUST_CHECK int mls_bytes_copy(struct mls_bytes *out, const struct mls_bytes *in);
void mls_bytes_cleanup(struct mls_bytes *b);
void mls_bytes_wipe(struct mls_bytes *b);

/*
 * struct mls_u16_list: a vector of uint16 values (ProtocolVersion,
 * CipherSuite, ExtensionType, ProposalType, CredentialType<V>), at most
 * MLS_MAX_CAPABILITY_ITEMS. An odd byte length is MALFORMED.
 */
struct mls_u16_list {
	uint16_t *items;
	size_t num;
};

HALQA_MUST_CHECK int mls_u16_list_decode(struct bytes_reader *r, struct mls_u16_list *out);
int mls_u16_list_encode(struct bytes_writer *w, const struct mls_u16_list *in);
void mls_u16_list_cleanup(struct mls_u16_list *l);

/* Extension (RFC 9420 13): extension_data is opaque, any type is kept. */
struct mls_extension {
	uint16_t type;
	struct mls_bytes data; /* at most MLS_MAX_TREE_BYTES */
};

HALQA_MUST_CHECK int mls_extension_decode(struct bytes_reader *r, struct mls_extension *out);
int mls_extension_encode(struct bytes_writer *w, const struct mls_extension *in);
void mls_extension_cleanup(struct mls_extension *e);

/*
 * struct mls_extension_list: Extension extensions<V>, at most
 * MLS_MAX_EXTENSIONS. Duplicate types are not refused here (RFC 9420 13
 * makes that a validation rule for the receiver of a LeafNode, KeyPackage
 * or GroupContext, which the group layer applies).
 * mls_extension_list_find returns the first extension of |type| or NULL.
 */
struct mls_extension_list {
	struct mls_extension *items;
	size_t num;
};

HALQA_MUST_CHECK int mls_extension_list_decode(struct bytes_reader *r,
					       struct mls_extension_list *out);
int mls_extension_list_encode(struct bytes_writer *w, const struct mls_extension_list *in);
void mls_extension_list_cleanup(struct mls_extension_list *l);
HALQA_MUST_CHECK int mls_extension_list_copy(struct mls_extension_list *out,
					     const struct mls_extension_list *in);
const struct mls_extension *mls_extension_list_find(const struct mls_extension_list *l,
						    uint16_t type);

/*
 * Credential (RFC 9420 5.3): basic carries |identity|; x509 carries
 * |certificates| (cert_data of each, leaf first). Another credential type
 * is UNSUPPORTED: its body has no length prefix, so it cannot be skipped.
 */
struct mls_credential {
	uint16_t type;
	struct mls_bytes identity;
	struct mls_bytes *certificates;
	size_t num_certificates;
};

HALQA_MUST_CHECK int mls_credential_decode(struct bytes_reader *r, struct mls_credential *out);
int mls_credential_encode(struct bytes_writer *w, const struct mls_credential *in);
void mls_credential_cleanup(struct mls_credential *c);
HALQA_MUST_CHECK int mls_credential_copy(struct mls_credential *out,
					 const struct mls_credential *in);

/* Capabilities (RFC 9420 7.2); GREASE values are kept as they come. */
struct mls_capabilities {
	struct mls_u16_list versions;
	struct mls_u16_list cipher_suites;
	struct mls_u16_list extensions;
	struct mls_u16_list proposals;
	struct mls_u16_list credentials;
};

HALQA_MUST_CHECK int mls_capabilities_decode(struct bytes_reader *r,
					     struct mls_capabilities *out);
int mls_capabilities_encode(struct bytes_writer *w, const struct mls_capabilities *in);
void mls_capabilities_cleanup(struct mls_capabilities *c);

/* Lifetime (RFC 9420 7.2): seconds since the Unix epoch. Owns nothing. */
struct mls_lifetime {
	uint64_t not_before;
	uint64_t not_after;
};

HALQA_MUST_CHECK int mls_lifetime_decode(struct bytes_reader *r, struct mls_lifetime *out);
int mls_lifetime_encode(struct bytes_writer *w, const struct mls_lifetime *in);

/*
 * LeafNode (RFC 9420 7.2). |lifetime| is meaningful only for source
 * key_package, |parent_hash| only for source commit; the encoder writes
 * the field the source selects and ignores the other.
 */
struct mls_leaf_node {
	struct mls_bytes encryption_key; /* HPKEPublicKey */
	struct mls_bytes signature_key;  /* SignaturePublicKey */
	struct mls_credential credential;
	struct mls_capabilities capabilities;
	uint8_t leaf_node_source; /* enum mls_leaf_node_source */
	struct mls_lifetime lifetime;
	struct mls_bytes parent_hash;
	struct mls_extension_list extensions;
	struct mls_bytes signature;
};

HALQA_MUST_CHECK int mls_leaf_node_decode(struct bytes_reader *r, struct mls_leaf_node *out);
int mls_leaf_node_encode(struct bytes_writer *w, const struct mls_leaf_node *in);
void mls_leaf_node_cleanup(struct mls_leaf_node *n);
HALQA_MUST_CHECK int mls_leaf_node_copy(struct mls_leaf_node *out, const struct mls_leaf_node *in);

/*
 * mls_leaf_node_tbs_encode appends LeafNodeTBS (RFC 9420 7.2), the content
 * SignWithLabel(., "LeafNodeTBS", .) covers: the leaf without its signature,
 * then, for sources update and commit, |group_id| and |leaf_index| (both
 * ignored for source key_package; |group_id| may then be NULL).
 */
int mls_leaf_node_tbs_encode(struct bytes_writer *w, const struct mls_leaf_node *leaf,
			     const uint8_t *group_id, size_t group_id_len, uint32_t leaf_index);

/* KeyPackage (RFC 9420 10). |version| and |cipher_suite| are kept as read. */
struct mls_key_package {
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_bytes init_key; /* HPKEPublicKey */
	struct mls_leaf_node leaf_node;
	struct mls_extension_list extensions;
	struct mls_bytes signature;
};

HALQA_MUST_CHECK int mls_key_package_decode(struct bytes_reader *r, struct mls_key_package *out);
int mls_key_package_encode(struct bytes_writer *w, const struct mls_key_package *in);
void mls_key_package_cleanup(struct mls_key_package *kp);
HALQA_MUST_CHECK int mls_key_package_copy(struct mls_key_package *out,
					  const struct mls_key_package *in);

/* mls_key_package_tbs_encode appends KeyPackageTBS: the KeyPackage without its signature. */
int mls_key_package_tbs_encode(struct bytes_writer *w, const struct mls_key_package *kp);

/* HPKECiphertext (RFC 9420 7.6). */
struct mls_hpke_ciphertext {
	struct mls_bytes kem_output; /* at most MLS_MAX_KEY */
	struct mls_bytes ciphertext; /* at most MLS_MAX_MESSAGE */
};

HALQA_MUST_CHECK int mls_hpke_ciphertext_decode(struct bytes_reader *r,
						struct mls_hpke_ciphertext *out);
int mls_hpke_ciphertext_encode(struct bytes_writer *w, const struct mls_hpke_ciphertext *in);
void mls_hpke_ciphertext_cleanup(struct mls_hpke_ciphertext *c);

/* UpdatePathNode (RFC 9420 7.6): at most MLS_MAX_LEAVES ciphertexts. */
struct mls_update_path_node {
	struct mls_bytes encryption_key;
	struct mls_hpke_ciphertext *encrypted_path_secret;
	size_t num_encrypted_path_secret;
};

HALQA_MUST_CHECK int mls_update_path_node_decode(struct bytes_reader *r,
						 struct mls_update_path_node *out);
int mls_update_path_node_encode(struct bytes_writer *w, const struct mls_update_path_node *in);
void mls_update_path_node_cleanup(struct mls_update_path_node *n);

/* UpdatePath (RFC 9420 7.6): at most MLS_MAX_PATH_NODES nodes. */
struct mls_update_path {
	struct mls_leaf_node leaf_node;
	struct mls_update_path_node *nodes;
	size_t num_nodes;
};

HALQA_MUST_CHECK int mls_update_path_decode(struct bytes_reader *r, struct mls_update_path *out);
int mls_update_path_encode(struct bytes_writer *w, const struct mls_update_path *in);
void mls_update_path_cleanup(struct mls_update_path *p);

/* ParentNode (RFC 9420 7.1): at most MLS_MAX_LEAVES unmerged leaves. */
struct mls_parent_node {
	struct mls_bytes encryption_key;
	struct mls_bytes parent_hash;
	uint32_t *unmerged_leaves;
	size_t num_unmerged_leaves;
};

HALQA_MUST_CHECK int mls_parent_node_decode(struct bytes_reader *r, struct mls_parent_node *out);
int mls_parent_node_encode(struct bytes_writer *w, const struct mls_parent_node *in);
void mls_parent_node_cleanup(struct mls_parent_node *p);
HALQA_MUST_CHECK int mls_parent_node_copy(struct mls_parent_node *out,
					  const struct mls_parent_node *in);

/*
 * Node (RFC 9420 12.4.3.3): |type| selects u.leaf or u.parent.
 * mls_node_decode reads a Node (type leaf or parent, never blank);
 * mls_node_encode of a blank node is HALQA_ERR_ARG.
 */
struct mls_node {
	uint8_t type; /* enum mls_node_type */
	union {
		struct mls_leaf_node leaf;
		struct mls_parent_node parent;
	} u;
};

HALQA_MUST_CHECK int mls_node_decode(struct bytes_reader *r, struct mls_node *out);
int mls_node_encode(struct bytes_writer *w, const struct mls_node *in);
void mls_node_cleanup(struct mls_node *n);
HALQA_MUST_CHECK int mls_node_copy(struct mls_node *out, const struct mls_node *in);

/*
 * The ratchet tree (RFC 9420 12.4.3.3): optional<Node> ratchet_tree<V>,
 * one entry per node in array order (Appendix C), a blank node having
 * type MLS_NODE_BLANK. At most MLS_MAX_TREE_NODES nodes and
 * MLS_MAX_TREE_BYTES bytes. Syntax only: whether the node count is odd,
 * the last node is non-blank and leaves sit at even indices is checked by
 * the tree layer, which knows what a valid tree is.
 */
struct mls_ratchet_tree {
	struct mls_node *nodes;
	size_t num_nodes;
};

HALQA_MUST_CHECK int mls_ratchet_tree_decode(struct bytes_reader *r, struct mls_ratchet_tree *out);
int mls_ratchet_tree_encode(struct bytes_writer *w, const struct mls_ratchet_tree *in);
void mls_ratchet_tree_cleanup(struct mls_ratchet_tree *t);

/*
 * GroupContext (RFC 9420 8.1). Its encoding is the context of the key
 * schedule and of FramedContentTBS. |version| is kept as read.
 */
struct mls_group_context {
	uint16_t version;
	uint16_t cipher_suite;
	struct mls_bytes group_id;
	uint64_t epoch;
	struct mls_bytes tree_hash;
	struct mls_bytes confirmed_transcript_hash;
	struct mls_extension_list extensions;
};

HALQA_MUST_CHECK int mls_group_context_decode(struct bytes_reader *r,
					      struct mls_group_context *out);
int mls_group_context_encode(struct bytes_writer *w, const struct mls_group_context *in);
void mls_group_context_cleanup(struct mls_group_context *gc);
HALQA_MUST_CHECK int mls_group_context_copy(struct mls_group_context *out,
					    const struct mls_group_context *in);

/*
 * Whole-buffer helpers: decode one struct from |data|/|len| and require
 * that nothing follows (HALQA_ERR_MALFORMED otherwise); errors and
 * ownership as the _decode they wrap.
 */
HALQA_MUST_CHECK int mls_key_package_decode_bytes(const uint8_t *data, size_t len,
						  struct mls_key_package *out);
HALQA_MUST_CHECK int mls_ratchet_tree_decode_bytes(const uint8_t *data, size_t len,
						   struct mls_ratchet_tree *out);
HALQA_MUST_CHECK int mls_leaf_node_decode_bytes(const uint8_t *data, size_t len,
						struct mls_leaf_node *out);
HALQA_MUST_CHECK int mls_group_context_decode_bytes(const uint8_t *data, size_t len,
						    struct mls_group_context *out);

/*
 * Whole-buffer encoders: encode |in| into a fresh writer of at most
 * MLS_MAX_ENCODING bytes and hand the bytes to the caller in |*out| (free
 * with free()) and |*out_len|. On failure the outputs are NULL and 0.
 */
HALQA_MUST_CHECK int mls_key_package_encode_bytes(const struct mls_key_package *in, uint8_t **out,
						  size_t *out_len);
HALQA_MUST_CHECK int mls_ratchet_tree_encode_bytes(const struct mls_ratchet_tree *in,
						   uint8_t **out, size_t *out_len);
HALQA_MUST_CHECK int mls_group_context_encode_bytes(const struct mls_group_context *in,
						    uint8_t **out, size_t *out_len);

/*
 * Payloads of the extensions RFC 9420 defines (13.4, 12.1.8.1, 12.4.3.2,
 * 11.1, 13.2), for the layers that interpret them; the Extension itself
 * keeps extension_data opaque. Decode an Extension's data with the
 * matching _decode_bytes (nothing may follow); encode into extension_data
 * with _encode. The ratchet_tree extension's payload is a ratchet tree
 * (mls_ratchet_tree_decode_bytes); application_id is an opaque<V>
 * (mls_application_id_decode_bytes, at most MLS_MAX_IDENTITY bytes).
 */

/* RequiredCapabilities (RFC 9420 11.1). */
struct mls_required_capabilities {
	struct mls_u16_list extension_types;
	struct mls_u16_list proposal_types;
	struct mls_u16_list credential_types;
};

HALQA_MUST_CHECK int mls_required_capabilities_decode(struct bytes_reader *r,
						      struct mls_required_capabilities *out);
int mls_required_capabilities_encode(struct bytes_writer *w,
				     const struct mls_required_capabilities *in);
void mls_required_capabilities_cleanup(struct mls_required_capabilities *c);
HALQA_MUST_CHECK int mls_required_capabilities_decode_bytes(const uint8_t *data, size_t len,
							    struct mls_required_capabilities *out);

/* ExternalSender (RFC 9420 12.1.8.1); the extension holds a list of them. */
struct mls_external_sender {
	struct mls_bytes signature_key;
	struct mls_credential credential;
};

HALQA_MUST_CHECK int mls_external_sender_decode(struct bytes_reader *r,
						struct mls_external_sender *out);
int mls_external_sender_encode(struct bytes_writer *w, const struct mls_external_sender *in);
void mls_external_sender_cleanup(struct mls_external_sender *s);

/* external_senders: ExternalSender external_senders<V>, at most MLS_MAX_EXTENSIONS. */
struct mls_external_senders {
	struct mls_external_sender *items;
	size_t num;
};

HALQA_MUST_CHECK int mls_external_senders_decode(struct bytes_reader *r,
						 struct mls_external_senders *out);
int mls_external_senders_encode(struct bytes_writer *w, const struct mls_external_senders *in);
void mls_external_senders_cleanup(struct mls_external_senders *s);
HALQA_MUST_CHECK int mls_external_senders_decode_bytes(const uint8_t *data, size_t len,
						       struct mls_external_senders *out);

/* ExternalPub (RFC 9420 12.4.3.2): the HPKE public key external joiners encrypt to. */
struct mls_external_pub {
	struct mls_bytes external_pub;
};

HALQA_MUST_CHECK int mls_external_pub_decode(struct bytes_reader *r, struct mls_external_pub *out);
int mls_external_pub_encode(struct bytes_writer *w, const struct mls_external_pub *in);
void mls_external_pub_cleanup(struct mls_external_pub *p);
HALQA_MUST_CHECK int mls_external_pub_decode_bytes(const uint8_t *data, size_t len,
						   struct mls_external_pub *out);

/* ApplicationId (RFC 9420 5.3.3): opaque application_id<V>. */
HALQA_MUST_CHECK int mls_application_id_decode_bytes(const uint8_t *data, size_t len,
						     struct mls_bytes *out);

/*
 * Building blocks for list-shaped fields, T items<V>, used by this codec
 * and available to codecs of further MLS structures (tree hash inputs).
 *
 * mls_list_decode reads a vector of at most |max_bytes| bytes holding
 * items of |item_size| bytes each decoded by |dec| (which must leave its
 * item zeroed on failure), at most |max_items| of them (HALQA_ERR_TOO_LARGE
 * beyond). On success |*out_items| is a malloc'd array of |*out_num|
 * items (NULL when empty), released with mls_list_cleanup. On failure
 * every item decoded so far is cleaned with |cleanup| (may be NULL for
 * items owning nothing) and the outputs are NULL and 0.
 * mls_list_encode writes the items with |enc| inside one varint prefix.
 */
typedef int (*mls_item_decode_fn)(struct bytes_reader *r, void *item);
typedef int (*mls_item_encode_fn)(struct bytes_writer *w, const void *item);
typedef void (*mls_item_cleanup_fn)(void *item);

HALQA_MUST_CHECK int mls_list_decode(struct bytes_reader *r, size_t max_bytes, size_t max_items,
				     size_t item_size, mls_item_decode_fn dec,
				     mls_item_cleanup_fn cleanup, void **out_items,
				     size_t *out_num);
int mls_list_encode(struct bytes_writer *w, const void *items, size_t num, size_t item_size,
		    mls_item_encode_fn enc);
void mls_list_cleanup(void *items, size_t num, size_t item_size, mls_item_cleanup_fn cleanup);

/*
 * mls_optional_decode reads the presence byte of optional<T> (RFC 9420
 * 2.1.1) into |*present|: 0 or 1, anything else HALQA_ERR_MALFORMED.
 */
HALQA_MUST_CHECK int mls_optional_decode(struct bytes_reader *r, bool *present);

/* mls_writer_fail sets |err| as |w|'s sticky error unless one is set; returns the sticky error. */
int mls_writer_fail(struct bytes_writer *w, int err);

#endif
