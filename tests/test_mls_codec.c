/*
 * test_mls_codec.c: the RFC 9420 codec against real messages (taken from
 * the IETF messages.json vectors) and hostile variants of them: round
 * trips, truncation at every byte, trailing bytes, bad optional presence
 * bytes, unknown enum values, oversize vectors and over-count lists.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"

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

int main(void)
{
	RUN(test_key_package_round_trip);
	RUN(test_key_package_fields);
	RUN(test_key_package_hostile);
	RUN(test_ratchet_tree);
	RUN(test_bounds);
	RUN(test_unknown_extension_kept);
	RUN(test_encode_rejects_bad_enums);
	return harness_report();
}
