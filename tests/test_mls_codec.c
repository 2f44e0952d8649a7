/*
 * test_mls_codec.c: the RFC 9420 codec against real messages (taken from
 * the IETF messages.json vectors, and the fuzz seeds made from them) and
 * hostile variants of them: round trips, truncation at every byte,
 * trailing bytes, bad optional presence bytes, non-zero padding, unknown
 * enum values, oversize vectors and over-count lists; and the encoders of
 * signed, MACed and hashed inputs against the wire forms they derive from.
 */
#include "harness.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec_msg.h"

/* messages.json entry 100 (suite 3): the KeyPackage inside mls_key_package. */
static const char KP_SUITE3[] =
	"00010003202392eaeff976e680a0e181401768462305e591d4da91a460a69a6693f019667b204e25b364"
	"5e07f2da66c3294f1f499c5e2eec7458e9b09a115eaa413844737245203530c7c5cf67f3e09e1dbce15b"
	"ed6975e79426bfbbf8679d4408910c53fbee0c000105416c696365020001060001000200030200010c00"
	"010002000300040005000702000101000000006408842600000000647750360040405886b24a9630903d"
	"dc5f741a83f5fa50e0a273af4409d53d353f0bfe3641084013742553e63116d79a17c5d0fb6fe262adac"
	"cbc857daa5cd9fc2ab600138b5020040408428542c6137becc3c6bb9a208f0c823d5af87c7db045a11da"
	"f690170b255a1c44492f7b7706b6d5e86a18367b1f720d67f9e0067b6f695c253c27911b5ad203";

/* messages.json entry 200 (suite 2, P-256 keys of 65 bytes, ECDSA signatures). */
static const char KP_SUITE2[] =
	"00010002404104"
	"43fbd9e334b0e243833107235cb24f634939937f99acd14bd3dac063071126c11d4f88f8ed58ad3b09ee"
	"a0692ac0601818c164666a9338ca7307534762229713404104e6b4e962c456cce66e9019bea1ef22c718"
	"22cf0ed7a8665e82ec60b9c507498816b301f9137f9deccb34b52b086dca10f11b02e1aedaf8c8ea3708"
	"e63c8410dd404104b5507264840f74655c643d7000a43afaf2d809a63d661a088ffb736e203977154cc4"
	"64dc295392375adf6eb072e35fef38285b75ddb589ccd23bdff13a71b498000105416c69636502000106"
	"0001000200030200010c0001000200030004000500070200010100000000640884280000000064775038"
	"004047304502206d23ec944f1c706dba8a92bb10626cc5bc6a465c2450f1e265b263120904eb4b022100"
	"b3350b9b771308f7ef8793842fbddc31ef75675ac7331ed17a9b304eb8e6244f00404730450221"
	"00d5980bd474f48a0b54a7630f485a7e3f6c6b3f33dacfb3cc3fd7dbaaab0c36fd022002c998a21e6121"
	"2b1ff4b4b1177061d14bacfd1307e4a4186c5e1147527eb3ee";

/* messages.json entry 100: ratchet_tree (one leaf, a blank, ...). */
static const char TREE_SUITE3[] =
	"40ab01012027b962c4db2f9f3eda6a069af2de96ede012bb0c8ea50a6cb985b41370c1590e203530c7c5"
	"cf67f3e09e1dbce15bed6975e79426bfbbf8679d4408910c53fbee0c000105416c696365020001020003"
	"00000200010100000000640884260000000064775036004040c7abfad986cc08d681fb09881fb23f33e4"
	"41ce310f52fe31be4017e5ba67649c9ceab104d7f2fa9d7d2a36ba98fefa1504eb16bc0cf08d04493bbd"
	"863d920c00";

/*
 * A generic check over one struct type: decoding the whole buffer works,
 * re-encoding gives the same bytes, every strict prefix and the buffer
 * with one trailing byte fail cleanly (ASan and the leak checker watch).
 */
#define CHECK_STRUCT(type, bytes, len)                                                 \
	do {                                                                           \
		struct type s_;                                                        \
		uint8_t *enc_ = NULL, *longer_;                                        \
		size_t enc_len_ = 0;                                                   \
		CHECK_OK(type##_decode_bytes((bytes), (len), &s_));                    \
		CHECK_OK(type##_encode_bytes(&s_, &enc_, &enc_len_));                  \
		CHECK_MEM_EQ(enc_, enc_len_, (bytes), (len));                          \
		free(enc_);                                                            \
		type##_cleanup(&s_);                                                   \
		type##_cleanup(&s_); /* cleanup twice is safe */                       \
		for (size_t cut_ = 0; cut_ < (len); cut_++) {                          \
			int rc_ = type##_decode_bytes((bytes), cut_, &s_);             \
			if (rc_ == HALQA_OK) {                                         \
				harness_fail(__FILE__, __LINE__,                       \
					     #type " accepted a %zu-byte prefix", cut_); \
				type##_cleanup(&s_);                                   \
			}                                                              \
		}                                                                      \
		longer_ = malloc((len) + 1);                                           \
		memcpy(longer_, (bytes), (len));                                       \
		longer_[(len)] = 0;                                                    \
		CHECK_RC(type##_decode_bytes(longer_, (len) + 1, &s_), HALQA_ERR_MALFORMED); \
		free(longer_);                                                         \
	} while (0)

static size_t varint_len(size_t n)
{
	return n < 0x40 ? 1 : n < 0x4000 ? 2 : 4;
}

static void test_key_package_round_trip(void)
{
	static const char *const hexes[] = {KP_SUITE3, KP_SUITE2};

	for (size_t i = 0; i < 2; i++) {
		size_t len;
		uint8_t *kp_bytes = harness_hex(hexes[i], &len);

		CHECK_STRUCT(mls_key_package, kp_bytes, len);
		free(kp_bytes);
	}
}

static void test_key_package_fields(void)
{
	struct mls_key_package kp, copy;
	struct bytes_writer w, w2;
	size_t len;
	uint8_t *b = harness_hex(KP_SUITE3, &len);

	CHECK_OK(mls_key_package_decode_bytes(b, len, &kp));
	CHECK_INT_EQ(kp.version, 1);
	CHECK_INT_EQ(kp.cipher_suite, 3);
	CHECK_INT_EQ(kp.init_key.len, 32);
	CHECK_INT_EQ(kp.leaf_node.credential.type, MLS_CREDENTIAL_BASIC);
	CHECK_MEM_EQ(kp.leaf_node.credential.identity.data, kp.leaf_node.credential.identity.len,
		     (const uint8_t *)"Alice", 5);
	CHECK_INT_EQ(kp.leaf_node.leaf_node_source, MLS_LEAF_SOURCE_KEY_PACKAGE);
	CHECK_INT_EQ(kp.leaf_node.lifetime.not_before, 0x64088426);
	CHECK_INT_EQ(kp.leaf_node.capabilities.cipher_suites.num, 3);

	/* KeyPackageTBS is the KeyPackage without its trailing signature<V>. */
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_key_package_tbs_encode(&w, &kp));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b,
		     len - varint_len(kp.signature.len) - kp.signature.len);
	bytes_writer_cleanup(&w);

	/* LeafNodeTBS for a key_package leaf carries no group binding. */
	bytes_writer_init(&w, 4096, 0);
	bytes_writer_init(&w2, 4096, 0);
	CHECK_OK(mls_leaf_node_tbs_encode(&w, &kp.leaf_node, NULL, 0, 7));
	CHECK_OK(mls_leaf_node_encode(&w2, &kp.leaf_node));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), bytes_writer_data(&w2),
		     bytes_writer_len(&w2) - varint_len(kp.leaf_node.signature.len) -
			     kp.leaf_node.signature.len);
	bytes_writer_cleanup(&w);
	bytes_writer_cleanup(&w2);

	CHECK_OK(mls_key_package_copy(&copy, &kp));
	mls_key_package_cleanup(&kp);
	CHECK_INT_EQ(copy.init_key.len, 32);
	mls_key_package_cleanup(&copy);
	free(b);
}

static void test_ratchet_tree(void)
{
	struct mls_ratchet_tree t;
	size_t len;
	uint8_t *b = harness_hex(TREE_SUITE3, &len);

	CHECK_STRUCT(mls_ratchet_tree, b, len);
	CHECK_OK(mls_ratchet_tree_decode_bytes(b, len, &t));
	CHECK(t.num_nodes >= 1);
	CHECK_INT_EQ(t.nodes[0].type, MLS_NODE_LEAF);
	mls_ratchet_tree_cleanup(&t);

	/* optional<Node> presence byte 2 is neither absent nor present. */
	b[2] = 2;
	CHECK_RC(mls_ratchet_tree_decode_bytes(b, len, &t), HALQA_ERR_MALFORMED);
	/* Node type 3 does not exist. */
	b[2] = 1;
	b[3] = 3;
	CHECK_RC(mls_ratchet_tree_decode_bytes(b, len, &t), HALQA_ERR_UNSUPPORTED);
	b[3] = 0;
	CHECK_RC(mls_ratchet_tree_decode_bytes(b, len, &t), HALQA_ERR_UNSUPPORTED);
	free(b);
}

/* Offset of leaf_node_source in KP_SUITE3 (after keys, credential, capabilities). */
static size_t kp_source_offset(const uint8_t *b, size_t len)
{
	struct mls_key_package kp;
	size_t off;

	if (mls_key_package_decode_bytes(b, len, &kp) != HALQA_OK) {
		return 0;
	}
	/* version, suite, init_key, encryption_key, signature_key (1-byte lengths) */
	off = 2 + 2 + 1 + kp.init_key.len + 1 + kp.leaf_node.encryption_key.len + 1 +
	      kp.leaf_node.signature_key.len;
	off += 2 + 1 + kp.leaf_node.credential.identity.len;
	off += 1 + 2 * kp.leaf_node.capabilities.versions.num;
	off += 1 + 2 * kp.leaf_node.capabilities.cipher_suites.num;
	off += 1 + 2 * kp.leaf_node.capabilities.extensions.num;
	off += 1 + 2 * kp.leaf_node.capabilities.proposals.num;
	off += 1 + 2 * kp.leaf_node.capabilities.credentials.num;
	mls_key_package_cleanup(&kp);
	return off;
}

static void test_key_package_hostile(void)
{
	struct mls_key_package kp;
	size_t len, off;
	uint8_t *b = harness_hex(KP_SUITE3, &len);

	off = kp_source_offset(b, len);
	CHECK_INT_EQ(b[off], MLS_LEAF_SOURCE_KEY_PACKAGE);
	b[off] = 4;
	CHECK_RC(mls_key_package_decode_bytes(b, len, &kp), HALQA_ERR_UNSUPPORTED);
	b[off] = 0;
	CHECK_RC(mls_key_package_decode_bytes(b, len, &kp), HALQA_ERR_UNSUPPORTED);
	b[off] = MLS_LEAF_SOURCE_KEY_PACKAGE;

	/* Credential type 3 (unknown): its body cannot be skipped. */
	off = 2 + 2 + 1 + 32 + 1 + 32 + 1 + 32;
	CHECK_INT_EQ(b[off + 1], MLS_CREDENTIAL_BASIC);
	b[off + 1] = 3;
	CHECK_RC(mls_key_package_decode_bytes(b, len, &kp), HALQA_ERR_UNSUPPORTED);
	b[off + 1] = MLS_CREDENTIAL_BASIC;

	/* init_key length 0x40 0x20 is a non-minimal varint for 32. */
	b[4] = 0x40;
	CHECK_RC(mls_key_package_decode_bytes(b, len, &kp), HALQA_ERR_MALFORMED);
	free(b);
}

static void test_bounds(void)
{
	struct mls_group_context gc, back;
	struct mls_u16_list list;
	struct mls_extension_list exts;
	struct bytes_writer w;
	struct bytes_reader r;
	uint8_t big[MLS_MAX_GROUP_ID + 1];

	memset(&gc, 0, sizeof(gc));
	memset(big, 0xaa, sizeof(big));
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = 3;
	CHECK_OK(mls_bytes_set(&gc.group_id, big, sizeof(big)));
	bytes_writer_init(&w, 1 << 16, 0);
	CHECK_OK(mls_group_context_encode(&w, &gc));
	CHECK_RC(mls_group_context_decode_bytes(bytes_writer_data(&w), bytes_writer_len(&w), &back),
		 HALQA_ERR_TOO_LARGE);
	bytes_writer_cleanup(&w);

	/* At the bound it decodes, round trips and copies. */
	CHECK_OK(mls_bytes_set(&gc.group_id, big, MLS_MAX_GROUP_ID));
	CHECK_OK(mls_group_context_copy(&back, &gc));
	CHECK_MEM_EQ(back.group_id.data, back.group_id.len, big, MLS_MAX_GROUP_ID);
	mls_group_context_cleanup(&back);
	mls_group_context_cleanup(&gc);

	/* A u16 list of MLS_MAX_CAPABILITY_ITEMS + 1 entries is over count. */
	bytes_writer_init(&w, 1 << 16, 0);
	bytes_put_varint(&w, 2 * (MLS_MAX_CAPABILITY_ITEMS + 1));
	for (int i = 0; i <= MLS_MAX_CAPABILITY_ITEMS; i++) {
		bytes_put_u16(&w, (uint16_t)i);
	}
	bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
	CHECK_RC(mls_u16_list_decode(&r, &list), HALQA_ERR_TOO_LARGE);
	CHECK(list.items == NULL && list.num == 0);
	bytes_writer_cleanup(&w);

	/* An odd byte count in a u16 list is malformed. */
	{
		static const uint8_t odd[] = {0x03, 0x00, 0x01, 0x02};

		bytes_reader_init(&r, odd, sizeof(odd));
		CHECK_RC(mls_u16_list_decode(&r, &list), HALQA_ERR_MALFORMED);
	}

	/* MLS_MAX_EXTENSIONS + 1 extensions is over count; unknown types are kept. */
	bytes_writer_init(&w, 1 << 16, 0);
	bytes_put_varint(&w, 3 * (MLS_MAX_EXTENSIONS + 1));
	for (int i = 0; i <= MLS_MAX_EXTENSIONS; i++) {
		bytes_put_u16(&w, (uint16_t)(0x0a0a + i));
		bytes_put_u8(&w, 0);
	}
	bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
	CHECK_RC(mls_extension_list_decode(&r, &exts), HALQA_ERR_TOO_LARGE);
	CHECK(exts.items == NULL && exts.num == 0);
	bytes_writer_cleanup(&w);
}

static void test_unknown_extension_kept(void)
{
	/* GREASE type 0x0a0a with 3 bytes, then an unknown 0xff00 with none. */
	static const uint8_t in[] = {0x09, 0x0a, 0x0a, 0x03, 0x01, 0x02, 0x03, 0xff, 0x00, 0x00};
	struct mls_extension_list exts, copy;
	struct bytes_reader r;
	struct bytes_writer w;

	bytes_reader_init(&r, in, sizeof(in));
	CHECK_OK(mls_extension_list_decode(&r, &exts));
	CHECK_OK(bytes_expect_end(&r));
	CHECK_INT_EQ(exts.num, 2);
	CHECK(mls_extension_list_find(&exts, 0x0a0a) == &exts.items[0]);
	CHECK(mls_extension_list_find(&exts, MLS_EXT_RATCHET_TREE) == NULL);
	CHECK_OK(mls_extension_list_copy(&copy, &exts));
	mls_extension_list_cleanup(&exts);
	bytes_writer_init(&w, 64, 0);
	CHECK_OK(mls_extension_list_encode(&w, &copy));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), in, sizeof(in));
	bytes_writer_cleanup(&w);
	mls_extension_list_cleanup(&copy);
}

static void test_encode_rejects_bad_enums(void)
{
	struct mls_node node;
	struct mls_credential cred;
	struct mls_leaf_node leaf;
	struct bytes_writer w;

	memset(&node, 0, sizeof(node));
	memset(&cred, 0, sizeof(cred));
	memset(&leaf, 0, sizeof(leaf));
	bytes_writer_init(&w, 64, 0);
	CHECK_RC(mls_node_encode(&w, &node), HALQA_ERR_ARG);
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, 64, 0);
	cred.type = 9;
	CHECK_RC(mls_credential_encode(&w, &cred), HALQA_ERR_ARG);
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, 64, 0);
	leaf.credential.type = MLS_CREDENTIAL_BASIC;
	leaf.leaf_node_source = 0;
	CHECK_RC(mls_leaf_node_encode(&w, &leaf), HALQA_ERR_ARG);
	bytes_writer_cleanup(&w);
}

/* ---- the fuzz seeds: every real message decodes, re-encodes, and fails when cut ---- */

/* Reads tests/fuzz/corpus/mls_message/|name| into a malloc'd buffer; NULL on error. */
static uint8_t *read_seed(const char *name, size_t *out_len)
{
	const char *src = getenv("HALQA_SOURCE_DIR");
	char path[4096];
	uint8_t *buf = NULL;
	long n;
	FILE *f;

	*out_len = 0;
	if (src == NULL) {
		harness_fail(__FILE__, __LINE__, "HALQA_SOURCE_DIR is not set (run under ctest)");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/mls_message/%s", src, name);
	if ((f = fopen(path, "rb")) == NULL) {
		harness_fail(__FILE__, __LINE__, "cannot open %s", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
			*out_len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	if (buf == NULL) {
		harness_fail(__FILE__, __LINE__, "cannot read %s", path);
	}
	return buf;
}

/*
 * Decodes |data| as |type| (whole buffer), re-encodes and compares; returns
 * the decode result, and sets *same when the re-encoding matched.
 */
#define DECODE_AGAIN(type, data, len, same)                                             \
	do {                                                                            \
		struct type s_;                                                         \
		uint8_t *e_ = NULL;                                                     \
		size_t el_ = 0;                                                         \
		rc = type##_decode_bytes((data), (len), &s_);                           \
		if (rc == HALQA_OK) {                                                   \
			*(same) = type##_encode_bytes(&s_, &e_, &el_) == HALQA_OK &&    \
				  el_ == (len) && memcmp(e_, (data), (len)) == 0;       \
			free(e_);                                                       \
			type##_cleanup(&s_);                                            \
		}                                                                       \
	} while (0)

/* The seed naming of tests/fuzz/corpus/mls_message: "_selN_" picks the struct. */
static int decode_seed(const char *name, const uint8_t *data, size_t len, int *same)
{
	const char *sel = strstr(name, "sel");
	int rc = HALQA_ERR_ARG;

	*same = 0;
	if (sel == NULL) {
		DECODE_AGAIN(mls_message, data, len, same);
		return rc;
	}
	switch (atoi(sel + 3)) {
	case 0:
		DECODE_AGAIN(mls_key_package, data, len, same);
		break;
	case 1:
		DECODE_AGAIN(mls_welcome, data, len, same);
		break;
	case 2:
		DECODE_AGAIN(mls_group_info, data, len, same);
		break;
	case 3:
		DECODE_AGAIN(mls_ratchet_tree, data, len, same);
		break;
	case 4:
		DECODE_AGAIN(mls_commit, data, len, same);
		break;
	case 5:
		DECODE_AGAIN(mls_proposal, data, len, same);
		break;
	case 6:
		DECODE_AGAIN(mls_group_secrets, data, len, same);
		break;
	case 7: {
		struct mls_authenticated_content ac;
		struct bytes_writer w;

		if ((rc = mls_authenticated_content_decode_bytes(data, len, &ac)) == HALQA_OK) {
			bytes_writer_init(&w, 1 << 20, 0);
			*same = mls_authenticated_content_encode(&w, &ac) == HALQA_OK &&
				bytes_writer_len(&w) == len &&
				memcmp(bytes_writer_data(&w), data, len) == 0;
			bytes_writer_cleanup(&w);
			mls_authenticated_content_cleanup(&ac);
		}
		break;
	}
	case 8: {
		struct mls_leaf_node leaf;
		struct bytes_writer w;

		if ((rc = mls_leaf_node_decode_bytes(data, len, &leaf)) == HALQA_OK) {
			bytes_writer_init(&w, 1 << 20, 0);
			*same = mls_leaf_node_encode(&w, &leaf) == HALQA_OK &&
				bytes_writer_len(&w) == len &&
				memcmp(bytes_writer_data(&w), data, len) == 0;
			bytes_writer_cleanup(&w);
			mls_leaf_node_cleanup(&leaf);
		}
		break;
	}
	case 9:
		DECODE_AGAIN(mls_group_context, data, len, same);
		break;
	case 11: {
		struct mls_required_capabilities c;
		struct bytes_writer w;

		if ((rc = mls_required_capabilities_decode_bytes(data, len, &c)) == HALQA_OK) {
			bytes_writer_init(&w, 1 << 20, 0);
			*same = mls_required_capabilities_encode(&w, &c) == HALQA_OK &&
				bytes_writer_len(&w) == len &&
				memcmp(bytes_writer_data(&w), data, len) == 0;
			bytes_writer_cleanup(&w);
			mls_required_capabilities_cleanup(&c);
		}
		break;
	}
	case 12: {
		struct mls_external_senders x;
		struct bytes_writer w;

		if ((rc = mls_external_senders_decode_bytes(data, len, &x)) == HALQA_OK) {
			bytes_writer_init(&w, 1 << 20, 0);
			*same = mls_external_senders_encode(&w, &x) == HALQA_OK &&
				bytes_writer_len(&w) == len &&
				memcmp(bytes_writer_data(&w), data, len) == 0;
			bytes_writer_cleanup(&w);
			mls_external_senders_cleanup(&x);
		}
		break;
	}
	default:
		/* PrivateMessageContent seeds: checked in test_padding. */
		*same = 1;
		rc = HALQA_OK;
		break;
	}
	return rc;
}

static void test_corpus_seeds(void)
{
	const char *src = getenv("HALQA_SOURCE_DIR");
	char path[4096];
	struct dirent *de;
	size_t seeds = 0;
	DIR *dir;

	if (src == NULL) {
		harness_fail(__FILE__, __LINE__, "HALQA_SOURCE_DIR is not set (run under ctest)");
		return;
	}
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/mls_message", src);
	if ((dir = opendir(path)) == NULL) {
		harness_fail(__FILE__, __LINE__, "cannot open %s", path);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		uint8_t *data, *body;
		size_t len, body_len;
		int same, rc;

		if (de->d_name[0] == '.' || strstr(de->d_name, "sel10") != NULL) {
			continue;
		}
		if ((data = read_seed(de->d_name, &len)) == NULL) {
			continue;
		}
		/* Selector seeds carry one leading byte for the fuzzer; skip it. */
		body = strstr(de->d_name, "sel") != NULL ? data + 1 : data;
		body_len = strstr(de->d_name, "sel") != NULL ? len - 1 : len;
		rc = decode_seed(de->d_name, body, body_len, &same);
		if (rc != HALQA_OK || !same) {
			harness_fail(__FILE__, __LINE__, "seed %s: %s, re-encoding %s", de->d_name,
				     halqa_errname(rc), same ? "same" : "differs");
		}
		for (size_t cut = 0; cut < body_len; cut++) {
			if (decode_seed(de->d_name, body, cut, &same) == HALQA_OK) {
				harness_fail(__FILE__, __LINE__, "seed %s: %zu-byte prefix accepted",
					     de->d_name, cut);
			}
		}
		free(data);
		seeds++;
	}
	closedir(dir);
	CHECK(seeds >= 40);
}

/* ---- optional<T> presence bytes ---- */

static void test_optional_presence(void)
{
	struct mls_commit commit, back;
	struct mls_group_secrets gs, gs_back;
	struct mls_proposal_or_ref ref;
	uint8_t secret[32], *enc;
	size_t len;

	memset(&commit, 0, sizeof(commit));
	memset(&ref, 0, sizeof(ref));
	memset(secret, 0x11, sizeof(secret));
	ref.type = MLS_PROPOSAL_OR_REF_REFERENCE;
	CHECK_OK(mls_bytes_set(&ref.reference, secret, 32));
	commit.proposals = &ref;
	commit.num_proposals = 1;
	CHECK_OK(mls_commit_encode_bytes(&commit, &enc, &len));
	CHECK_INT_EQ(enc[len - 1], 0);
	CHECK_OK(mls_commit_decode_bytes(enc, len, &back));
	CHECK(!back.has_path);
	CHECK_INT_EQ(back.num_proposals, 1);
	CHECK_INT_EQ(back.proposals[0].type, MLS_PROPOSAL_OR_REF_REFERENCE);
	mls_commit_cleanup(&back);
	enc[len - 1] = 2;
	CHECK_RC(mls_commit_decode_bytes(enc, len, &back), HALQA_ERR_MALFORMED);
	enc[len - 1] = 0xff;
	CHECK_RC(mls_commit_decode_bytes(enc, len, &back), HALQA_ERR_MALFORMED);
	enc[len - 1] = 1; /* present, but the UpdatePath is missing */
	CHECK_RC(mls_commit_decode_bytes(enc, len, &back), HALQA_ERR_TRUNCATED);
	free(enc);
	mls_bytes_cleanup(&ref.reference);

	memset(&gs, 0, sizeof(gs));
	CHECK_OK(mls_bytes_set(&gs.joiner_secret, secret, 32));
	gs.has_path_secret = true;
	CHECK_OK(mls_bytes_set(&gs.path_secret, secret, 32));
	CHECK_OK(mls_group_secrets_encode_bytes(&gs, &enc, &len));
	CHECK_INT_EQ(len, 1 + 32 + 1 + 1 + 32 + 1);
	CHECK_OK(mls_group_secrets_decode_bytes(enc, len, &gs_back));
	CHECK(gs_back.has_path_secret);
	CHECK_MEM_EQ(gs_back.path_secret.data, gs_back.path_secret.len, secret, 32);
	mls_group_secrets_cleanup(&gs_back);
	enc[33] = 2;
	CHECK_RC(mls_group_secrets_decode_bytes(enc, len, &gs_back), HALQA_ERR_MALFORMED);
	free(enc);
	mls_group_secrets_cleanup(&gs);
	CHECK(gs.joiner_secret.data == NULL && gs.path_secret.data == NULL);
}

/* ---- PrivateMessageContent padding ---- */

static void test_padding(void)
{
	struct mls_private_message_content c, back;
	struct bytes_writer w;
	struct bytes_reader r;
	uint8_t sig[64], *buf;
	size_t len;

	memset(&c, 0, sizeof(c));
	memset(sig, 0x5a, sizeof(sig));
	c.content_type = MLS_CONTENT_APPLICATION;
	CHECK_OK(mls_bytes_set(&c.application_data, (const uint8_t *)"hello", 5));
	CHECK_OK(mls_bytes_set(&c.auth.signature, sig, sizeof(sig)));
	c.padding_len = 300; /* more than the encoder's block of zeros */
	bytes_writer_init(&w, 4096, BYTES_WIPE);
	CHECK_OK(mls_private_message_content_encode(&w, &c));
	len = bytes_writer_len(&w);
	CHECK_INT_EQ(len, 1 + 5 + 2 + 64 + 300);
	buf = malloc(len);
	memcpy(buf, bytes_writer_data(&w), len);
	bytes_writer_cleanup(&w);

	bytes_reader_init(&r, buf, len);
	CHECK_OK(mls_private_message_content_decode(&r, MLS_CONTENT_APPLICATION, &back));
	CHECK_INT_EQ(back.padding_len, 300);
	CHECK_MEM_EQ(back.application_data.data, back.application_data.len,
		     (const uint8_t *)"hello", 5);
	CHECK(back.auth.confirmation_tag.len == 0);
	mls_private_message_content_cleanup(&back);

	/* Any non-zero byte in the padding, first or last, is malformed. */
	buf[len - 1] = 1;
	bytes_reader_init(&r, buf, len);
	CHECK_RC(mls_private_message_content_decode(&r, MLS_CONTENT_APPLICATION, &back),
		 HALQA_ERR_MALFORMED);
	CHECK(back.application_data.data == NULL);
	buf[len - 1] = 0;
	buf[len - 300] = 0x80;
	bytes_reader_init(&r, buf, len);
	CHECK_RC(mls_private_message_content_decode(&r, MLS_CONTENT_APPLICATION, &back),
		 HALQA_ERR_MALFORMED);
	buf[len - 300] = 0;

	/* Read as a commit the same bytes are not a Commit; content type 0 is unknown. */
	bytes_reader_init(&r, buf, len);
	CHECK(mls_private_message_content_decode(&r, MLS_CONTENT_COMMIT, &back) != HALQA_OK);
	bytes_reader_init(&r, buf, len);
	CHECK_RC(mls_private_message_content_decode(&r, 0, &back), HALQA_ERR_UNSUPPORTED);
	free(buf);
	mls_private_message_content_cleanup(&c);

	/* The commit seed: confirmation tag present, 3 bytes of padding. */
	buf = read_seed("sel10_private_content_commit", &len);
	if (buf != NULL) {
		bytes_reader_init(&r, buf + 2, len - 2);
		CHECK_OK(mls_private_message_content_decode(&r, MLS_CONTENT_COMMIT, &back));
		CHECK_INT_EQ(back.padding_len, 3);
		CHECK_INT_EQ(back.auth.confirmation_tag.len, 32);
		bytes_writer_init(&w, 4096, 0);
		CHECK_OK(mls_private_message_content_encode(&w, &back));
		CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), buf + 2, len - 2);
		bytes_writer_cleanup(&w);
		mls_private_message_content_cleanup(&back);
		free(buf);
	}
}

/* ---- unknown values of closed enums ---- */

/* Decodes |b| as an MLSMessage with byte |at| set to |v|, expecting |want|. */
static void message_with_byte(uint8_t *b, size_t len, size_t at, uint8_t v, int want, int line)
{
	struct mls_message m;
	uint8_t old = b[at];
	int rc;

	b[at] = v;
	rc = mls_message_decode_bytes(b, len, &m);
	if (rc != want) {
		harness_fail(__FILE__, line, "byte %zu = %u: %s, want %s", at, v, halqa_errname(rc),
			     halqa_errname(want));
	}
	if (rc == HALQA_OK) {
		mls_message_cleanup(&m);
	}
	b[at] = old;
}

static void test_unknown_values(void)
{
	struct mls_proposal p;
	struct mls_commit commit;
	struct mls_pre_shared_key psk;
	struct mls_authenticated_content ac;
	struct bytes_reader r;
	uint8_t *b;
	size_t len;

	/*
	 * Entry 100's public application message: version 0-1, wire format
	 * 2-3, group_id 4-20, epoch 21-28, sender type 29, leaf index 30-33,
	 * authenticated_data 34-37, content type 38.
	 */
	if ((b = read_seed("e100_public_message_application", &len)) == NULL) {
		return;
	}
	CHECK_INT_EQ(b[29], MLS_SENDER_MEMBER);
	CHECK_INT_EQ(b[38], MLS_CONTENT_APPLICATION);
	message_with_byte(b, len, 1, 2, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 1, 0, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 3, 6, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 3, 0, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 29, 5, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 29, 0, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 38, 4, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 38, 0, HALQA_ERR_UNSUPPORTED, __LINE__);
	/* An external sender has no membership tag: the tag becomes trailing bytes. */
	message_with_byte(b, len, 29, MLS_SENDER_EXTERNAL, HALQA_ERR_MALFORMED, __LINE__);
	free(b);

	/* PrivateMessage: content type at the same offset 29 (after group_id and epoch). */
	if ((b = read_seed("e100_private_message", &len)) == NULL) {
		return;
	}
	message_with_byte(b, len, 29, 0, HALQA_ERR_UNSUPPORTED, __LINE__);
	message_with_byte(b, len, 29, 4, HALQA_ERR_UNSUPPORTED, __LINE__);
	free(b);

	{
		static const uint8_t type8[] = {0x00, 0x08, 0x00, 0x00, 0x00, 0x00};
		static const uint8_t type0[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
		static const uint8_t remove[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x07};

		CHECK_RC(mls_proposal_decode_bytes(type8, sizeof(type8), &p), HALQA_ERR_UNSUPPORTED);
		CHECK_RC(mls_proposal_decode_bytes(type0, sizeof(type0), &p), HALQA_ERR_UNSUPPORTED);
		CHECK_OK(mls_proposal_decode_bytes(remove, sizeof(remove), &p));
		CHECK_INT_EQ(p.type, MLS_PROPOSAL_REMOVE);
		CHECK_INT_EQ(p.u.remove.removed, 7);
		mls_proposal_cleanup(&p);
	}
	{
		/* ProposalOrRef types 0 and 3 do not exist. */
		static const uint8_t por3[] = {0x01, 0x03, 0x00};
		static const uint8_t por0[] = {0x01, 0x00, 0x00};

		CHECK_RC(mls_commit_decode_bytes(por3, sizeof(por3), &commit), HALQA_ERR_UNSUPPORTED);
		CHECK_RC(mls_commit_decode_bytes(por0, sizeof(por0), &commit), HALQA_ERR_UNSUPPORTED);
	}
	{
		/* PSK type 3; resumption usages 0 and 4; a valid resumption PSK. */
		static const uint8_t psk3[] = {0x03, 0x00, 0x00};
		static const uint8_t usage0[] = {0x02, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0x00};
		static const uint8_t usage4[] = {0x02, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0x00};
		static const uint8_t branch[] = {0x02, 0x03, 0x01, 0xaa, 0, 0, 0, 0, 0, 0, 0, 9,
						 0x01, 0xbb};

		bytes_reader_init(&r, psk3, sizeof(psk3));
		CHECK_RC(mls_pre_shared_key_decode(&r, &psk), HALQA_ERR_UNSUPPORTED);
		bytes_reader_init(&r, usage0, sizeof(usage0));
		CHECK_RC(mls_pre_shared_key_decode(&r, &psk), HALQA_ERR_UNSUPPORTED);
		bytes_reader_init(&r, usage4, sizeof(usage4));
		CHECK_RC(mls_pre_shared_key_decode(&r, &psk), HALQA_ERR_UNSUPPORTED);
		bytes_reader_init(&r, branch, sizeof(branch));
		CHECK_OK(mls_pre_shared_key_decode(&r, &psk));
		CHECK_OK(bytes_expect_end(&r));
		CHECK_INT_EQ(psk.psk.psktype, MLS_PSK_RESUMPTION);
		CHECK_INT_EQ(psk.psk.usage, MLS_RESUMPTION_BRANCH);
		CHECK_INT_EQ(psk.psk.psk_epoch, 9);
		mls_pre_shared_key_cleanup(&psk);
	}

	/* AuthenticatedContent: only the two framed wire formats. */
	if ((b = read_seed("sel7_authenticated_content", &len)) == NULL) {
		return;
	}
	CHECK_OK(mls_authenticated_content_decode_bytes(b + 1, len - 1, &ac));
	mls_authenticated_content_cleanup(&ac);
	b[2] = MLS_WIRE_WELCOME;
	CHECK_RC(mls_authenticated_content_decode_bytes(b + 1, len - 1, &ac),
		 HALQA_ERR_UNSUPPORTED);
	free(b);
}

/* ---- vectors longer than our bounds ---- */

static void test_oversize(void)
{
	struct mls_message m, back;
	struct mls_proposal p, pback;
	struct bytes_writer w;
	uint8_t *big, *enc;
	size_t len;

	big = calloc(1, MLS_MAX_MESSAGE + 1);
	memset(&m, 0, sizeof(m));
	m.version = MLS_VERSION_MLS10;
	m.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	m.public_message.content.sender.type = MLS_SENDER_MEMBER;
	m.public_message.content.content_type = MLS_CONTENT_APPLICATION;

	/* Within bounds: round trip. */
	CHECK_OK(mls_bytes_set(&m.public_message.content.group_id, big, MLS_MAX_GROUP_ID));
	CHECK_OK(mls_bytes_set(&m.public_message.membership_tag, big, MLS_MAX_HASH));
	CHECK_OK(mls_bytes_set(&m.public_message.auth.signature, big, MLS_MAX_SIGNATURE));
	CHECK_OK(mls_bytes_set(&m.public_message.content.application_data, big, MLS_MAX_MESSAGE));
	CHECK_OK(mls_message_encode_bytes(&m, &enc, &len));
	CHECK_OK(mls_message_decode_bytes(enc, len, &back));
	mls_message_cleanup(&back);
	free(enc);

#define OVER(field, n)                                                                  \
	do {                                                                            \
		CHECK_OK(mls_bytes_set(&m.public_message.field, big, (n) + 1));         \
		CHECK_OK(mls_message_encode_bytes(&m, &enc, &len));                     \
		CHECK_RC(mls_message_decode_bytes(enc, len, &back), HALQA_ERR_TOO_LARGE); \
		free(enc);                                                              \
		CHECK_OK(mls_bytes_set(&m.public_message.field, big, (n)));             \
	} while (0)

	OVER(content.group_id, MLS_MAX_GROUP_ID);
	OVER(membership_tag, MLS_MAX_HASH);
	OVER(auth.signature, MLS_MAX_SIGNATURE);
	OVER(content.application_data, MLS_MAX_MESSAGE);
	OVER(content.authenticated_data, MLS_MAX_MESSAGE);
#undef OVER
	mls_message_cleanup(&m);

	/* An ExternalInit kem_output longer than MLS_MAX_KEY. */
	memset(&p, 0, sizeof(p));
	p.type = MLS_PROPOSAL_EXTERNAL_INIT;
	CHECK_OK(mls_bytes_set(&p.u.external_init.kem_output, big, MLS_MAX_KEY + 1));
	CHECK_OK(mls_proposal_encode_bytes(&p, &enc, &len));
	CHECK_RC(mls_proposal_decode_bytes(enc, len, &pback), HALQA_ERR_TOO_LARGE);
	free(enc);
	mls_proposal_cleanup(&p);

	/* GroupSecrets joiner_secret, a basic identity, an X.509 certificate. */
	{
		struct mls_group_secrets gs, gs_back;
		struct mls_credential cred, cred_back;
		struct mls_bytes cert;
		struct bytes_writer cw;
		struct bytes_reader cr;

		memset(&gs, 0, sizeof(gs));
		CHECK_OK(mls_bytes_set(&gs.joiner_secret, big, MLS_MAX_SECRET + 1));
		CHECK_OK(mls_group_secrets_encode_bytes(&gs, &enc, &len));
		CHECK_RC(mls_group_secrets_decode_bytes(enc, len, &gs_back), HALQA_ERR_TOO_LARGE);
		free(enc);
		mls_group_secrets_cleanup(&gs);

		memset(&cred, 0, sizeof(cred));
		cred.type = MLS_CREDENTIAL_BASIC;
		CHECK_OK(mls_bytes_set(&cred.identity, big, MLS_MAX_IDENTITY + 1));
		bytes_writer_init(&cw, 1 << 20, 0);
		CHECK_OK(mls_credential_encode(&cw, &cred));
		bytes_reader_init(&cr, bytes_writer_data(&cw), bytes_writer_len(&cw));
		CHECK_RC(mls_credential_decode(&cr, &cred_back), HALQA_ERR_TOO_LARGE);
		bytes_writer_cleanup(&cw);
		mls_credential_cleanup(&cred);

		memset(&cert, 0, sizeof(cert));
		cred.type = MLS_CREDENTIAL_X509;
		CHECK_OK(mls_bytes_set(&cert, big, MLS_MAX_CERT + 1));
		cred.certificates = &cert;
		cred.num_certificates = 1;
		bytes_writer_init(&cw, 1 << 20, 0);
		CHECK_OK(mls_credential_encode(&cw, &cred));
		bytes_reader_init(&cr, bytes_writer_data(&cw), bytes_writer_len(&cw));
		CHECK_RC(mls_credential_decode(&cr, &cred_back), HALQA_ERR_TOO_LARGE);
		bytes_writer_cleanup(&cw);
		mls_bytes_cleanup(&cert);
	}

	/* A PrivateMessage ciphertext over MLS_MAX_CIPHERTEXT. */
	{
		uint8_t *huge = calloc(1, MLS_MAX_CIPHERTEXT + 1);

		memset(&m, 0, sizeof(m));
		m.version = MLS_VERSION_MLS10;
		m.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
		m.private_message.content_type = MLS_CONTENT_APPLICATION;
		CHECK_OK(mls_bytes_set(&m.private_message.ciphertext, huge, MLS_MAX_CIPHERTEXT));
		CHECK_OK(mls_message_encode_bytes(&m, &enc, &len));
		CHECK_OK(mls_message_decode_bytes(enc, len, &back));
		mls_message_cleanup(&back);
		free(enc);
		CHECK_OK(mls_bytes_set(&m.private_message.ciphertext, huge, MLS_MAX_CIPHERTEXT + 1));
		CHECK_OK(mls_message_encode_bytes(&m, &enc, &len));
		CHECK_RC(mls_message_decode_bytes(enc, len, &back), HALQA_ERR_TOO_LARGE);
		free(enc);
		mls_message_cleanup(&m);
		free(huge);
	}

	/* A writer whose maximum is reached reports it, stickily. */
	memset(&p, 0, sizeof(p));
	p.type = MLS_PROPOSAL_EXTERNAL_INIT;
	CHECK_OK(mls_bytes_set(&p.u.external_init.kem_output, big, 100));
	bytes_writer_init(&w, 50, 0);
	CHECK(mls_proposal_encode(&w, &p) != HALQA_OK);
	bytes_writer_cleanup(&w);
	mls_proposal_cleanup(&p);
	free(big);
}

/* ---- lists with more items than our bounds ---- */

/* Writes prefix, then a vector of |count| copies of |item|, then suffix; decodes with |fn|. */
static int over_count(const uint8_t *prefix, size_t prefix_len, const uint8_t *item,
		      size_t item_len, size_t count, int (*fn)(const uint8_t *, size_t))
{
	struct bytes_writer w;
	struct bytes_mark m;
	int rc;

	bytes_writer_init(&w, 64u << 20, 0);
	bytes_put(&w, prefix, prefix_len);
	bytes_begin(&w, BYTES_PREFIX_VARINT, &m);
	for (size_t i = 0; i < count; i++) {
		bytes_put(&w, item, item_len);
	}
	bytes_end(&w, &m);
	if ((rc = bytes_writer_error(&w)) == HALQA_OK) {
		rc = fn(bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	return rc;
}

static int try_commit(const uint8_t *b, size_t len)
{
	struct mls_commit c;
	uint8_t *copy = malloc(len + 1);
	int rc;

	/* The commit needs its optional path byte after the proposals. */
	memcpy(copy, b, len);
	copy[len] = 0;
	if ((rc = mls_commit_decode_bytes(copy, len + 1, &c)) == HALQA_OK) {
		mls_commit_cleanup(&c);
	}
	free(copy);
	return rc;
}

static int try_tree(const uint8_t *b, size_t len)
{
	struct mls_ratchet_tree t;
	int rc;

	if ((rc = mls_ratchet_tree_decode_bytes(b, len, &t)) == HALQA_OK) {
		mls_ratchet_tree_cleanup(&t);
	}
	return rc;
}

static int try_welcome(const uint8_t *b, size_t len)
{
	struct mls_welcome wm;
	uint8_t *copy = malloc(len + 1);
	int rc;

	memcpy(copy, b, len);
	copy[len] = 0; /* empty encrypted_group_info */
	if ((rc = mls_welcome_decode_bytes(copy, len + 1, &wm)) == HALQA_OK) {
		mls_welcome_cleanup(&wm);
	}
	free(copy);
	return rc;
}

static int try_group_secrets(const uint8_t *b, size_t len)
{
	struct mls_group_secrets gs;
	int rc;

	if ((rc = mls_group_secrets_decode_bytes(b, len, &gs)) == HALQA_OK) {
		mls_group_secrets_cleanup(&gs);
	}
	return rc;
}

static int try_credential(const uint8_t *b, size_t len)
{
	struct mls_credential c;
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, b, len);
	if ((rc = mls_credential_decode(&r, &c)) == HALQA_OK) {
		rc = bytes_expect_end(&r);
		mls_credential_cleanup(&c);
	}
	return rc;
}

static int try_parent(const uint8_t *b, size_t len)
{
	struct mls_parent_node p;
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, b, len);
	if ((rc = mls_parent_node_decode(&r, &p)) == HALQA_OK) {
		rc = bytes_expect_end(&r);
		mls_parent_node_cleanup(&p);
	}
	return rc;
}

static int try_path_node(const uint8_t *b, size_t len)
{
	struct mls_update_path_node n;
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, b, len);
	if ((rc = mls_update_path_node_decode(&r, &n)) == HALQA_OK) {
		rc = bytes_expect_end(&r);
		mls_update_path_node_cleanup(&n);
	}
	return rc;
}

static int try_update_path(const uint8_t *b, size_t len)
{
	struct mls_update_path p;
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, b, len);
	if ((rc = mls_update_path_decode(&r, &p)) == HALQA_OK) {
		rc = bytes_expect_end(&r);
		mls_update_path_cleanup(&p);
	}
	return rc;
}

static void test_over_count(void)
{
	static const uint8_t ref[] = {MLS_PROPOSAL_OR_REF_REFERENCE, 0x00};
	static const uint8_t blank[] = {0x00};
	static const uint8_t egs[] = {0x00, 0x00, 0x00};
	static const uint8_t gs_prefix[] = {0x00, 0x00};
	static const uint8_t psk[] = {MLS_PSK_EXTERNAL, 0x00, 0x00};
	static const uint8_t suite[] = {0x00, 0x03};
	static const uint8_t x509[] = {0x00, MLS_CREDENTIAL_X509};
	static const uint8_t cert[] = {0x00};
	static const uint8_t parent_prefix[] = {0x00, 0x00};
	static const uint8_t leaf_index[] = {0, 0, 0, 1};
	static const uint8_t path_node_prefix[] = {0x00};
	static const uint8_t hpke_ct[] = {0x00, 0x00};
	static const uint8_t path_node[] = {0x00, 0x00};
	struct mls_key_package kp;
	struct bytes_writer w;
	size_t len, leaf_len;
	uint8_t *b, *leaf_bytes;

	CHECK_OK(over_count(NULL, 0, ref, 2, MLS_MAX_PROPOSALS, try_commit));
	CHECK_RC(over_count(NULL, 0, ref, 2, MLS_MAX_PROPOSALS + 1, try_commit), HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(NULL, 0, blank, 1, MLS_MAX_TREE_NODES, try_tree));
	CHECK_RC(over_count(NULL, 0, blank, 1, MLS_MAX_TREE_NODES + 1, try_tree), HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(suite, 2, egs, 3, MLS_MAX_LEAVES, try_welcome));
	CHECK_RC(over_count(suite, 2, egs, 3, MLS_MAX_LEAVES + 1, try_welcome), HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(gs_prefix, 2, psk, 3, MLS_MAX_PSKS, try_group_secrets));
	CHECK_RC(over_count(gs_prefix, 2, psk, 3, MLS_MAX_PSKS + 1, try_group_secrets),
		 HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(x509, 2, cert, 1, MLS_MAX_CERTS, try_credential));
	CHECK_RC(over_count(x509, 2, cert, 1, MLS_MAX_CERTS + 1, try_credential), HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(parent_prefix, 2, leaf_index, 4, MLS_MAX_LEAVES, try_parent));
	CHECK_RC(over_count(parent_prefix, 2, leaf_index, 4, MLS_MAX_LEAVES + 1, try_parent),
		 HALQA_ERR_TOO_LARGE);
	CHECK_OK(over_count(path_node_prefix, 1, hpke_ct, 2, MLS_MAX_LEAVES, try_path_node));
	CHECK_RC(over_count(path_node_prefix, 1, hpke_ct, 2, MLS_MAX_LEAVES + 1, try_path_node),
		 HALQA_ERR_TOO_LARGE);
	{
		/* Unmerged leaves: 3 bytes is not a whole number of uint32s. */
		static const uint8_t odd[] = {0x00, 0x00, 0x03, 0, 0, 0};

		CHECK_RC(try_parent(odd, sizeof(odd)), HALQA_ERR_MALFORMED);
	}

	/* An UpdatePath of MLS_MAX_PATH_NODES + 1 nodes, behind a real LeafNode. */
	b = harness_hex(KP_SUITE3, &len);
	CHECK_OK(mls_key_package_decode_bytes(b, len, &kp));
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_leaf_node_encode(&w, &kp.leaf_node));
	leaf_len = bytes_writer_len(&w);
	leaf_bytes = malloc(leaf_len);
	memcpy(leaf_bytes, bytes_writer_data(&w), leaf_len);
	bytes_writer_cleanup(&w);
	CHECK_OK(over_count(leaf_bytes, leaf_len, path_node, 2, MLS_MAX_PATH_NODES, try_update_path));
	CHECK_RC(over_count(leaf_bytes, leaf_len, path_node, 2, MLS_MAX_PATH_NODES + 1,
			    try_update_path),
		 HALQA_ERR_TOO_LARGE);
	free(leaf_bytes);
	mls_key_package_cleanup(&kp);
	free(b);
}

/* ---- encoders refuse what they cannot encode ---- */

static void test_encoders_reject(void)
{
	struct mls_message m;
	struct mls_proposal p;
	struct mls_proposal_or_ref por;
	struct mls_framed_content fc;
	struct mls_framed_content_auth_data auth;
	struct mls_authenticated_content ac;
	struct mls_private_message pm;
	struct mls_psk_id psk;
	struct mls_sender sender;
	struct bytes_writer w;

#define REJECT(call)                                                                    \
	do {                                                                            \
		bytes_writer_init(&w, 1 << 16, 0);                                      \
		CHECK_RC(call, HALQA_ERR_ARG);                                          \
		CHECK_RC(bytes_writer_error(&w), HALQA_ERR_ARG);                        \
		bytes_writer_cleanup(&w);                                               \
	} while (0)

	memset(&m, 0, sizeof(m));
	m.version = MLS_VERSION_MLS10;
	m.wire_format = 9;
	REJECT(mls_message_encode(&w, &m));
	memset(&p, 0, sizeof(p));
	p.type = 8;
	REJECT(mls_proposal_encode(&w, &p));
	memset(&por, 0, sizeof(por));
	REJECT(mls_proposal_or_ref_encode(&w, &por));
	memset(&sender, 0, sizeof(sender));
	REJECT(mls_sender_encode(&w, &sender));
	memset(&psk, 0, sizeof(psk));
	REJECT(mls_psk_id_encode(&w, &psk));
	memset(&fc, 0, sizeof(fc));
	fc.sender.type = MLS_SENDER_MEMBER;
	REJECT(mls_framed_content_encode(&w, &fc));
	memset(&auth, 0, sizeof(auth));
	REJECT(mls_framed_content_auth_data_encode(&w, 4, &auth));
	memset(&pm, 0, sizeof(pm));
	REJECT(mls_private_message_encode(&w, &pm));
	REJECT(mls_sender_data_aad_encode(&w, &pm));

	/* A member's FramedContentTBS needs the GroupContext. */
	fc.content_type = MLS_CONTENT_APPLICATION;
	REJECT(mls_framed_content_tbs_encode(&w, MLS_WIRE_PUBLIC_MESSAGE, &fc, NULL));
	fc.sender.type = MLS_SENDER_NEW_MEMBER_COMMIT;
	REJECT(mls_authenticated_content_tbm_encode(&w, &fc, &auth, NULL));

	/* The confirmed transcript hash covers commits only; AuthenticatedContent framed formats only. */
	memset(&ac, 0, sizeof(ac));
	ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.content.content_type = MLS_CONTENT_APPLICATION;
	REJECT(mls_confirmed_transcript_hash_input_encode(&w, &ac));
	ac.wire_format = MLS_WIRE_KEY_PACKAGE;
	REJECT(mls_authenticated_content_encode(&w, &ac));
#undef REJECT
}

/* ---- signed, MACed and hashed inputs ---- */

static void test_signed_inputs(void)
{
	struct mls_authenticated_content ac;
	struct mls_group_info gi;
	struct mls_group_context gc;
	struct mls_message m;
	struct bytes_writer w, want;
	uint8_t *b;
	size_t len;

	/*
	 * ConfirmedTranscriptHashInput is AuthenticatedContent without its
	 * confirmation tag; InterimTranscriptHashInput is that tag as a MAC<V>.
	 * (transcript-hashes.json's commit, a member sender.)
	 */
	if ((b = read_seed("sel7_authenticated_content", &len)) == NULL) {
		return;
	}
	CHECK_OK(mls_authenticated_content_decode_bytes(b + 1, len - 1, &ac));
	CHECK_INT_EQ(ac.content.content_type, MLS_CONTENT_COMMIT);
	CHECK_INT_EQ(ac.auth.confirmation_tag.len, 32);
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_confirmed_transcript_hash_input_encode(&w, &ac));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b + 1, len - 1 - 1 - 32);
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_interim_transcript_hash_input_encode(&w, ac.auth.confirmation_tag.data,
							  ac.auth.confirmation_tag.len));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b + len - 33, 33);
	bytes_writer_cleanup(&w);

	/*
	 * FramedContentTBS: version, wire format, content, and the
	 * GroupContext for member and new_member_commit senders only.
	 * AuthenticatedContentTBM appends the auth data.
	 */
	memset(&gc, 0, sizeof(gc));
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = 3;
	gc.epoch = 7;
	CHECK_OK(mls_bytes_set(&gc.group_id, (const uint8_t *)"group", 5));
	for (uint8_t st = MLS_SENDER_MEMBER; st <= MLS_SENDER_NEW_MEMBER_COMMIT; st++) {
		int with = st == MLS_SENDER_MEMBER || st == MLS_SENDER_NEW_MEMBER_COMMIT;

		ac.content.sender.type = st;
		bytes_writer_init(&w, 4096, 0);
		bytes_writer_init(&want, 4096, 0);
		CHECK_OK(mls_authenticated_content_tbm_encode(&w, &ac.content, &ac.auth, &gc));
		bytes_put_u16(&want, MLS_VERSION_MLS10);
		bytes_put_u16(&want, MLS_WIRE_PUBLIC_MESSAGE);
		CHECK_OK(mls_framed_content_encode(&want, &ac.content));
		if (with) {
			CHECK_OK(mls_group_context_encode(&want, &gc));
		}
		CHECK_OK(mls_framed_content_auth_data_encode(&want, MLS_CONTENT_COMMIT, &ac.auth));
		CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), bytes_writer_data(&want),
			     bytes_writer_len(&want));
		bytes_writer_cleanup(&w);
		bytes_writer_cleanup(&want);
		/* Senders without a context ignore a NULL one. */
		if (!with) {
			bytes_writer_init(&w, 4096, 0);
			CHECK_OK(mls_framed_content_tbs_encode(&w, MLS_WIRE_PRIVATE_MESSAGE,
							       &ac.content, NULL));
			bytes_writer_cleanup(&w);
		}
	}
	mls_group_context_cleanup(&gc);
	mls_authenticated_content_cleanup(&ac);
	free(b);

	/* GroupInfoTBS is the GroupInfo without its signature. */
	if ((b = read_seed("e100_mls_group_info", &len)) == NULL) {
		return;
	}
	CHECK_OK(mls_group_info_decode_bytes(b + 4, len - 4, &gi));
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_group_info_tbs_encode(&w, &gi));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b + 4,
		     len - 4 - varint_len(gi.signature.len) - gi.signature.len);
	bytes_writer_cleanup(&w);
	mls_group_info_cleanup(&gi);
	CHECK_OK(mls_message_decode_bytes(b, len, &m));
	CHECK_INT_EQ(m.wire_format, MLS_WIRE_GROUP_INFO);
	CHECK_INT_EQ(m.group_info.group_context.cipher_suite, 3);
	mls_message_cleanup(&m);
	free(b);
}

static void test_private_aads(void)
{
	struct mls_message m;
	struct mls_sender_data sd, back;
	struct bytes_writer w;
	size_t len, hdr;
	uint8_t *b;

	/* The AADs are the PrivateMessage's own leading fields, byte for byte. */
	if ((b = read_seed("e100_private_message", &len)) == NULL) {
		return;
	}
	CHECK_OK(mls_message_decode_bytes(b, len, &m));
	hdr = 1 + m.private_message.group_id.len + 8 + 1;
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_sender_data_aad_encode(&w, &m.private_message));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b + 4, hdr);
	bytes_writer_cleanup(&w);
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_private_content_aad_encode(&w, &m.private_message));
	CHECK_MEM_EQ(bytes_writer_data(&w), bytes_writer_len(&w), b + 4,
		     hdr + varint_len(m.private_message.authenticated_data.len) +
			     m.private_message.authenticated_data.len);
	bytes_writer_cleanup(&w);
	mls_message_cleanup(&m);
	free(b);

	/* SenderData: fixed 12 bytes. */
	memset(&sd, 0, sizeof(sd));
	sd.leaf_index = 0x01020304;
	sd.generation = 0xa0b0c0d0;
	memcpy(sd.reuse_guard, "\xde\xad\xbe\xef", 4);
	bytes_writer_init(&w, 64, 0);
	CHECK_OK(mls_sender_data_encode(&w, &sd));
	CHECK_INT_EQ(bytes_writer_len(&w), 12);
	CHECK_OK(mls_sender_data_decode_bytes(bytes_writer_data(&w), 12, &back));
	CHECK(memcmp(&back, &sd, sizeof(sd)) == 0);
	CHECK_RC(mls_sender_data_decode_bytes(bytes_writer_data(&w), 11, &back),
		 HALQA_ERR_TRUNCATED);
	bytes_put_u8(&w, 0);
	CHECK_RC(mls_sender_data_decode_bytes(bytes_writer_data(&w), 13, &back),
		 HALQA_ERR_MALFORMED);
	bytes_writer_cleanup(&w);
}

static void test_copies(void)
{
	static const char *const seeds[] = {"e100_sel5_proposal_1", "e100_sel5_proposal_2",
					    "e100_sel5_proposal_4", "e100_sel5_proposal_5"};
	struct mls_ratchet_tree t;
	struct mls_node node;
	struct mls_parent_node parent;
	struct mls_leaf_node leaf;
	struct mls_credential cred;
	struct bytes_writer w;
	uint8_t *b;
	size_t len;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct mls_proposal p, c;
		uint8_t *enc;
		size_t enc_len;

		if ((b = read_seed(seeds[i], &len)) == NULL) {
			continue;
		}
		CHECK_OK(mls_proposal_decode_bytes(b + 1, len - 1, &p));
		CHECK_OK(mls_proposal_copy(&c, &p));
		mls_proposal_cleanup(&p);
		CHECK_OK(mls_proposal_encode_bytes(&c, &enc, &enc_len));
		CHECK_MEM_EQ(enc, enc_len, b + 1, len - 1);
		free(enc);
		mls_proposal_cleanup(&c);
		free(b);
	}

	/* Node, ParentNode, LeafNode and Credential copies from a real tree. */
	b = harness_hex(TREE_SUITE3, &len);
	CHECK_OK(mls_ratchet_tree_decode_bytes(b, len, &t));
	CHECK_OK(mls_node_copy(&node, &t.nodes[0]));
	CHECK_OK(mls_leaf_node_copy(&leaf, &t.nodes[0].u.leaf));
	CHECK_OK(mls_credential_copy(&cred, &t.nodes[0].u.leaf.credential));
	bytes_writer_init(&w, 4096, 0);
	CHECK_OK(mls_node_encode(&w, &node));
	CHECK_INT_EQ(bytes_writer_data(&w)[0], MLS_NODE_LEAF);
	bytes_writer_cleanup(&w);
	CHECK_MEM_EQ(cred.identity.data, cred.identity.len, (const uint8_t *)"Alice", 5);
	for (size_t i = 0; i < t.num_nodes; i++) {
		if (t.nodes[i].type == MLS_NODE_PARENT) {
			CHECK_OK(mls_parent_node_copy(&parent, &t.nodes[i].u.parent));
			CHECK_INT_EQ(parent.encryption_key.len, t.nodes[i].u.parent.encryption_key.len);
			mls_parent_node_cleanup(&parent);
		}
	}
	mls_ratchet_tree_cleanup(&t);
	mls_node_cleanup(&node);
	mls_leaf_node_cleanup(&leaf);
	mls_credential_cleanup(&cred);
	free(b);
}

static void test_extension_payloads(void)
{
	/* external_senders: one basic-credential sender, then the same with credential type 9. */
	static const uint8_t one[] = {0x09, 0x02, 0xaa, 0xbb, 0x00, 0x01, 0x03, 'b', 'o', 't'};
	static const uint8_t bad[] = {0x09, 0x02, 0xaa, 0xbb, 0x00, 0x09, 0x03, 'b', 'o', 't'};
	static const uint8_t caps_odd[] = {0x01, 0x00, 0x00, 0x00};
	static const uint8_t app_id[] = {0x03, 'a', 'p', 'p'};
	struct mls_external_senders xs;
	struct mls_required_capabilities rc_caps;
	struct mls_external_pub pub;
	struct mls_group_info gi;
	struct mls_ratchet_tree t;
	const struct mls_extension *e;
	struct mls_bytes id;
	size_t len;
	uint8_t *b;

	CHECK_OK(mls_external_senders_decode_bytes(one, sizeof(one), &xs));
	CHECK_INT_EQ(xs.num, 1);
	CHECK_INT_EQ(xs.items[0].signature_key.len, 2);
	CHECK_MEM_EQ(xs.items[0].credential.identity.data, xs.items[0].credential.identity.len,
		     (const uint8_t *)"bot", 3);
	mls_external_senders_cleanup(&xs);
	CHECK_RC(mls_external_senders_decode_bytes(bad, sizeof(bad), &xs), HALQA_ERR_UNSUPPORTED);
	CHECK(xs.items == NULL && xs.num == 0);
	CHECK_RC(mls_required_capabilities_decode_bytes(caps_odd, sizeof(caps_odd), &rc_caps),
		 HALQA_ERR_MALFORMED);
	CHECK_OK(mls_application_id_decode_bytes(app_id, sizeof(app_id), &id));
	CHECK_MEM_EQ(id.data, id.len, (const uint8_t *)"app", 3);
	mls_bytes_cleanup(&id);
	CHECK_RC(mls_application_id_decode_bytes(app_id, sizeof(app_id) - 1, &id),
		 HALQA_ERR_TRUNCATED);
	CHECK_RC(mls_external_pub_decode_bytes(app_id, sizeof(app_id) + 0, &pub), HALQA_OK);
	mls_external_pub_cleanup(&pub);

	/* A real GroupInfo: its ratchet_tree extension is the entry's ratchet_tree field. */
	if ((b = read_seed("e100_mls_group_info", &len)) == NULL) {
		return;
	}
	CHECK_OK(mls_group_info_decode_bytes(b + 4, len - 4, &gi));
	e = mls_extension_list_find(&gi.extensions, MLS_EXT_RATCHET_TREE);
	CHECK(e != NULL);
	if (e != NULL) {
		size_t tlen;
		uint8_t *tree = harness_hex(TREE_SUITE3, &tlen);

		CHECK_MEM_EQ(e->data.data, e->data.len, tree, tlen);
		CHECK_OK(mls_ratchet_tree_decode_bytes(e->data.data, e->data.len, &t));
		mls_ratchet_tree_cleanup(&t);
		free(tree);
	}
	e = mls_extension_list_find(&gi.extensions, MLS_EXT_EXTERNAL_PUB);
	CHECK(e != NULL);
	if (e != NULL) {
		CHECK_OK(mls_external_pub_decode_bytes(e->data.data, e->data.len, &pub));
		CHECK_INT_EQ(pub.external_pub.len, 32);
		mls_external_pub_cleanup(&pub);
	}
	e = mls_extension_list_find(&gi.group_context.extensions, MLS_EXT_REQUIRED_CAPABILITIES);
	CHECK(e != NULL);
	if (e != NULL) {
		CHECK_OK(mls_required_capabilities_decode_bytes(e->data.data, e->data.len, &rc_caps));
		mls_required_capabilities_cleanup(&rc_caps);
	}
	mls_group_info_cleanup(&gi);
	free(b);
}

int main(void)
{
	RUN(test_key_package_round_trip);
	RUN(test_key_package_fields);
	RUN(test_key_package_hostile);
	RUN(test_ratchet_tree);
	RUN(test_bounds);
	RUN(test_unknown_extension_kept);
	RUN(test_encode_rejects_bad_enums);
	RUN(test_corpus_seeds);
	RUN(test_optional_presence);
	RUN(test_padding);
	RUN(test_unknown_values);
	RUN(test_oversize);
	RUN(test_over_count);
	RUN(test_encoders_reject);
	RUN(test_signed_inputs);
	RUN(test_private_aads);
	RUN(test_copies);
	RUN(test_extension_payloads);
	return harness_report();
}
