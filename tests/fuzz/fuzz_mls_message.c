/*
 * fuzz_mls_message.c: the RFC 9420 codec on hostile bytes. The whole input
 * is decoded as an MLSMessage; then its first byte chooses another
 * top-level structure (KeyPackage, Welcome, GroupInfo, ratchet tree,
 * Commit, Proposal, GroupSecrets, AuthenticatedContent, LeafNode,
 * GroupContext, PrivateMessageContent, RequiredCapabilities, external
 * senders) that the rest is decoded as. Every
 * successful decode is re-encoded and must give back exactly the input,
 * and a deep copy must encode the same; a difference abort()s. ASan and
 * UBSan watch for everything else (over-reads, leaks, undefined shifts).
 */
#include "halqa/mls_codec_msg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

static void check_same(struct bytes_writer *w, const uint8_t *data, size_t size)
{
	check(bytes_writer_error(w) == HALQA_OK);
	check(bytes_writer_len(w) == size);
	check(size == 0 || memcmp(bytes_writer_data(w), data, size) == 0);
}

/* Decode the whole buffer as |type|, re-encode, compare. */
#define ROUND_TRIP(type, data, size)                                                    \
	do {                                                                            \
		struct type s_;                                                         \
		struct bytes_reader r_;                                                 \
		struct bytes_writer w_;                                                 \
                                                                                        \
		bytes_reader_init(&r_, (data), (size));                                 \
		if (type##_decode(&r_, &s_) == HALQA_OK) {                              \
			if (bytes_expect_end(&r_) == HALQA_OK) {                        \
				bytes_writer_init(&w_, MLS_MAX_ENCODING, 0);            \
				type##_encode(&w_, &s_);                                \
				check_same(&w_, (data), (size));                        \
				bytes_writer_cleanup(&w_);                              \
			}                                                               \
			type##_cleanup(&s_);                                            \
		} else {                                                                \
			/* A failed decode leaves a zeroed struct: nothing to free. */  \
			static const struct type zero_;                                 \
			check(memcmp(&s_, &zero_, sizeof(s_)) == 0);                    \
		}                                                                       \
	} while (0)

/* As ROUND_TRIP, and a _copy must encode to the same bytes too. */
#define ROUND_TRIP_COPY(type, data, size)                                               \
	do {                                                                            \
		struct type s_, c_;                                                     \
		struct bytes_writer w_;                                                 \
                                                                                        \
		if (type##_decode_bytes((data), (size), &s_) == HALQA_OK) {             \
			check(type##_copy(&c_, &s_) == HALQA_OK);                       \
			type##_cleanup(&s_);                                            \
			bytes_writer_init(&w_, MLS_MAX_ENCODING, 0);                    \
			type##_encode(&w_, &c_);                                        \
			check_same(&w_, (data), (size));                                \
			bytes_writer_cleanup(&w_);                                      \
			type##_cleanup(&c_);                                            \
		}                                                                       \
	} while (0)

static void private_content(const uint8_t *data, size_t size)
{
	struct mls_private_message_content c;
	struct bytes_reader r;
	struct bytes_writer w;

	if (size < 1) {
		return;
	}
	bytes_reader_init(&r, data + 1, size - 1);
	if (mls_private_message_content_decode(&r, data[0] % 4, &c) == HALQA_OK) {
		check(bytes_remaining(&r) == 0);
		bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
		mls_private_message_content_encode(&w, &c);
		check_same(&w, data + 1, size - 1);
		bytes_writer_cleanup(&w);
		mls_private_message_content_cleanup(&c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *rest = data + 1;
	size_t rest_len = size - 1;

	ROUND_TRIP(mls_message, data, size);
	if (size == 0) {
		return 0;
	}
	switch (data[0] % 13) {
	case 0:
		ROUND_TRIP_COPY(mls_key_package, rest, rest_len);
		break;
	case 1:
		ROUND_TRIP(mls_welcome, rest, rest_len);
		break;
	case 2:
		ROUND_TRIP(mls_group_info, rest, rest_len);
		break;
	case 3:
		ROUND_TRIP(mls_ratchet_tree, rest, rest_len);
		break;
	case 4:
		ROUND_TRIP(mls_commit, rest, rest_len);
		break;
	case 5:
		ROUND_TRIP_COPY(mls_proposal, rest, rest_len);
		break;
	case 6:
		ROUND_TRIP(mls_group_secrets, rest, rest_len);
		break;
	case 7:
		ROUND_TRIP(mls_authenticated_content, rest, rest_len);
		break;
	case 8:
		ROUND_TRIP_COPY(mls_leaf_node, rest, rest_len);
		break;
	case 9:
		ROUND_TRIP_COPY(mls_group_context, rest, rest_len);
		break;
	case 10:
		private_content(rest, rest_len);
		break;
	case 11:
		ROUND_TRIP(mls_required_capabilities, rest, rest_len);
		break;
	default:
		ROUND_TRIP(mls_external_senders, rest, rest_len);
		break;
	}
	return 0;
}
