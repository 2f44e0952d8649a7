/*
 * test_mls_secret_tree.c: the secret tree beyond the vectors. A sender's
 * tree and a receiver's tree start from the same encryption_secret; the
 * receiver gets messages in and out of order, inside and outside the
 * retention window and beyond the forward limit, sees replays refused,
 * and an unauthenticated lookup leaves its state alone. The deletion
 * schedule is checked through the stored-secret counts: a parent's secret
 * is gone once its children exist, and a consumed generation can never be
 * derived again.
 */
#include "halqa/mls_secret_tree.h"

#include <sodium.h>
#include <string.h>

#include "harness.h"

static const uint8_t secret[MLS_HASH_LEN] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};

#define NUM_SENT 64

/* Keys the sender used for generations 0 .. NUM_SENT-1 of leaf 3's application ratchet. */
static struct mls_secret_tree_key sent[NUM_SENT];

static void make_sent(void)
{
	struct mls_secret_tree *tx = NULL;

	CHECK_OK(mls_secret_tree_new(&tx, secret, 8));
	for (uint32_t g = 0; g < NUM_SENT; g++) {
		CHECK_OK(mls_secret_tree_next_key(tx, &sent[g], 3, MLS_SECRET_TREE_APPLICATION));
		CHECK_INT_EQ(sent[g].generation, g);
	}
	mls_secret_tree_free(tx);
}

/* Receives generation |g| and checks it matches what the sender used. */
static int receive(struct mls_secret_tree *rx, uint32_t g)
{
	struct mls_secret_tree_key k;
	int rc = mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION, g);

	if (rc == HALQA_OK) {
		CHECK_MEM_EQ(k.key, sizeof k.key, sent[g].key, sizeof sent[g].key);
		CHECK_MEM_EQ(k.nonce, sizeof k.nonce, sent[g].nonce, sizeof sent[g].nonce);
		rc = mls_secret_tree_consume(rx, &k);
	}
	mls_secret_tree_key_wipe(&k);
	return rc;
}

static void test_in_order(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_stats st;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	for (uint32_t g = 0; g < NUM_SENT; g++) {
		CHECK_OK(receive(rx, g));
	}
	mls_secret_tree_get_stats(rx, &st);
	CHECK_INT_EQ(st.num_retained, 0);
	mls_secret_tree_free(rx);
}

static void test_out_of_order_inside_window(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_stats st;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	CHECK_OK(receive(rx, 5));
	mls_secret_tree_get_stats(rx, &st);
	CHECK_INT_EQ(st.num_retained, 5); /* 0..4 kept for late delivery */
	CHECK_OK(receive(rx, 2));
	CHECK_OK(receive(rx, 0));
	CHECK_OK(receive(rx, 4));
	CHECK_OK(receive(rx, 6));
	CHECK_OK(receive(rx, 1));
	CHECK_OK(receive(rx, 3));
	mls_secret_tree_get_stats(rx, &st);
	CHECK_INT_EQ(st.num_retained, 0);
	mls_secret_tree_free(rx);
}

static void test_out_of_order_outside_window(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_stats st;
	const uint32_t far = MLS_SECRET_TREE_WINDOW + 8;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	CHECK_OK(receive(rx, far));
	mls_secret_tree_get_stats(rx, &st);
	CHECK_INT_EQ(st.num_retained, MLS_SECRET_TREE_WINDOW);
	/* The newest WINDOW skipped generations are kept, older ones are gone. */
	CHECK_RC(receive(rx, far - MLS_SECRET_TREE_WINDOW - 1), HALQA_ERR_NOT_FOUND);
	CHECK_RC(receive(rx, 0), HALQA_ERR_NOT_FOUND);
	CHECK_OK(receive(rx, far - MLS_SECRET_TREE_WINDOW));
	CHECK_OK(receive(rx, far - 1));
	/* A second jump evicts the oldest of the first jump's keys. */
	CHECK_OK(receive(rx, far + 11));
	mls_secret_tree_get_stats(rx, &st);
	CHECK_INT_EQ(st.num_retained, MLS_SECRET_TREE_WINDOW);
	CHECK_RC(receive(rx, far - MLS_SECRET_TREE_WINDOW + 1), HALQA_ERR_NOT_FOUND);
	CHECK_OK(receive(rx, far + 10));
	mls_secret_tree_free(rx);
}

static void test_forward_limit(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_key k;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	CHECK_RC(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION,
					 MLS_SECRET_TREE_MAX_FORWARD + 1),
		 HALQA_ERR_TOO_LARGE);
	CHECK_RC(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION, UINT32_MAX),
		 HALQA_ERR_TOO_LARGE);
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION,
					 MLS_SECRET_TREE_MAX_FORWARD));
	mls_secret_tree_key_wipe(&k);
	/* The limit is relative to the ratchet: after 10, 1010 is within reach. */
	CHECK_OK(receive(rx, 10));
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION,
					 11 + MLS_SECRET_TREE_MAX_FORWARD));
	mls_secret_tree_key_wipe(&k);
	mls_secret_tree_free(rx);
}

/* A consumed generation, in order or retained, is never served again. */
static void test_replay_refused(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_key k;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	CHECK_OK(receive(rx, 0));
	CHECK_RC(receive(rx, 0), HALQA_ERR_NOT_FOUND);
	CHECK_OK(receive(rx, 4));
	CHECK_OK(receive(rx, 2));
	CHECK_RC(receive(rx, 2), HALQA_ERR_NOT_FOUND);
	CHECK_RC(receive(rx, 4), HALQA_ERR_NOT_FOUND);
	/* Consuming the same retained lookup twice fails the second time. */
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION, 1));
	CHECK_OK(mls_secret_tree_consume(rx, &k));
	CHECK_RC(mls_secret_tree_consume(rx, &k), HALQA_ERR_NOT_FOUND);
	mls_secret_tree_key_wipe(&k);
	/* The other ratchet of the same leaf is independent. */
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_HANDSHAKE, 0));
	CHECK(sodium_memcmp(k.key, sent[0].key, sizeof k.key) != 0);
	mls_secret_tree_key_wipe(&k);
	mls_secret_tree_free(rx);
}

/* A lookup that is never consumed (its message failed to authenticate) changes nothing. */
static void test_unconsumed_lookup_changes_nothing(void)
{
	struct mls_secret_tree *rx = NULL;
	struct mls_secret_tree_key k, stale;
	struct mls_secret_tree_stats before, after;

	CHECK_OK(mls_secret_tree_new(&rx, secret, 8));
	CHECK_OK(receive(rx, 1));
	mls_secret_tree_get_stats(rx, &before);
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION, 900));
	mls_secret_tree_key_wipe(&k);
	CHECK_OK(mls_secret_tree_get_key(rx, &k, 3, MLS_SECRET_TREE_APPLICATION, 0));
	mls_secret_tree_key_wipe(&k);
	mls_secret_tree_get_stats(rx, &after);
	CHECK_INT_EQ(after.num_retained, before.num_retained);
	CHECK_INT_EQ(after.num_node_secrets, before.num_node_secrets);
	CHECK_OK(receive(rx, 0));
	CHECK_OK(receive(rx, 2));

	/* A lookup made before the ratchet moved must not be committed. */
	CHECK_OK(mls_secret_tree_get_key(rx, &stale, 3, MLS_SECRET_TREE_APPLICATION, 5));
	CHECK_OK(receive(rx, 7));
	CHECK_RC(mls_secret_tree_consume(rx, &stale), HALQA_ERR_STALE);
	mls_secret_tree_key_wipe(&stale);
	CHECK_OK(receive(rx, 5)); /* now served from the retained keys */
	mls_secret_tree_free(rx);
}

/* The sender side consumes as it hands out: generations never repeat. */
static void test_sender_never_repeats(void)
{
	struct mls_secret_tree *tx = NULL;
	struct mls_secret_tree_key a, b, h;

	CHECK_OK(mls_secret_tree_new(&tx, secret, 8));
	CHECK_OK(mls_secret_tree_next_key(tx, &a, 3, MLS_SECRET_TREE_APPLICATION));
	CHECK_OK(mls_secret_tree_next_key(tx, &b, 3, MLS_SECRET_TREE_APPLICATION));
	CHECK_OK(mls_secret_tree_next_key(tx, &h, 3, MLS_SECRET_TREE_HANDSHAKE));
	CHECK_INT_EQ(a.generation, 0);
	CHECK_INT_EQ(b.generation, 1);
	CHECK_INT_EQ(h.generation, 0);
	CHECK(sodium_memcmp(a.key, b.key, sizeof a.key) != 0);
	CHECK(sodium_memcmp(a.nonce, b.nonce, sizeof a.nonce) != 0);
	CHECK(sodium_memcmp(a.key, h.key, sizeof a.key) != 0);
	CHECK_MEM_EQ(a.key, sizeof a.key, sent[0].key, sizeof sent[0].key);
	/* Generation 0 of the sending ratchet is no longer derivable here. */
	CHECK_RC(mls_secret_tree_get_key(tx, &b, 3, MLS_SECRET_TREE_APPLICATION, 0),
		 HALQA_ERR_NOT_FOUND);
	mls_secret_tree_key_wipe(&a);
	mls_secret_tree_key_wipe(&h);
	for (size_t i = 0; i < sizeof a; i++) {
		CHECK(((const uint8_t *)&a)[i] == 0);
	}
	mls_secret_tree_free(tx);
}

/* Node secrets are wiped as soon as both children exist (RFC 9420 9.2). */
static void test_node_secrets_deleted(void)
{
	struct mls_secret_tree *t = NULL;
	struct mls_secret_tree_key k;
	struct mls_secret_tree_stats st;

	CHECK_OK(mls_secret_tree_new(&t, secret, 8));
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 1);
	CHECK_INT_EQ(st.num_leaves, 0);
	/* Leaf 0: root and nodes 3, 1 are consumed; siblings 11, 5, 2 remain. */
	CHECK_OK(mls_secret_tree_next_key(t, &k, 0, MLS_SECRET_TREE_HANDSHAKE));
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 3);
	CHECK_INT_EQ(st.num_leaves, 1);
	/* Leaf 1 takes node 2 off the frontier. */
	CHECK_OK(mls_secret_tree_get_key(t, &k, 1, MLS_SECRET_TREE_APPLICATION, 0));
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 2);
	for (uint32_t leaf = 2; leaf < 8; leaf++) {
		CHECK_OK(mls_secret_tree_next_key(t, &k, leaf, MLS_SECRET_TREE_APPLICATION));
	}
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 0);
	CHECK_INT_EQ(st.num_leaves, 8);
	mls_secret_tree_key_wipe(&k);
	mls_secret_tree_free(t);
}

/* A 1,024-leaf tree costs one path when one member speaks. */
static void test_large_tree_is_lazy(void)
{
	struct mls_secret_tree *t = NULL;
	struct mls_secret_tree_key k;
	struct mls_secret_tree_stats st;

	CHECK_OK(mls_secret_tree_new(&t, secret, 1024));
	CHECK_OK(mls_secret_tree_next_key(t, &k, 1023, MLS_SECRET_TREE_APPLICATION));
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 10);
	CHECK_INT_EQ(st.num_leaves, 1);
	CHECK_OK(mls_secret_tree_next_key(t, &k, 512, MLS_SECRET_TREE_APPLICATION));
	mls_secret_tree_get_stats(t, &st);
	CHECK_INT_EQ(st.num_node_secrets, 17);
	mls_secret_tree_key_wipe(&k);
	mls_secret_tree_free(t);
}

static void test_bad_arguments(void)
{
	struct mls_secret_tree *t = NULL;
	struct mls_secret_tree_key k;

	CHECK_RC(mls_secret_tree_new(&t, secret, 0), HALQA_ERR_ARG);
	CHECK_RC(mls_secret_tree_new(&t, secret, 3), HALQA_ERR_ARG);
	CHECK(t == NULL);
	CHECK_OK(mls_secret_tree_new(&t, secret, 4));
	CHECK_INT_EQ(mls_secret_tree_n_leaves(t), 4);
	CHECK_RC(mls_secret_tree_get_key(t, &k, 4, MLS_SECRET_TREE_APPLICATION, 0), HALQA_ERR_ARG);
	CHECK_RC(mls_secret_tree_next_key(t, &k, UINT32_MAX, MLS_SECRET_TREE_HANDSHAKE),
		 HALQA_ERR_ARG);
	CHECK_RC(mls_secret_tree_get_key(t, &k, 0, (enum mls_secret_tree_ratchet)2, 0),
		 HALQA_ERR_ARG);
	mls_secret_tree_free(t);
	mls_secret_tree_free(NULL);
}

/* The sample is the first 32 bytes of the ciphertext, or all of a shorter one. */
static void test_sender_data_sample(void)
{
	uint8_t ct[80], key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN];
	uint8_t want_key[MLS_AEAD_KEY_LEN], want_nonce[MLS_AEAD_NONCE_LEN];

	for (size_t i = 0; i < sizeof ct; i++) {
		ct[i] = (uint8_t)(i * 7);
	}
	CHECK_OK(mls_secret_tree_sender_data(key, nonce, secret, ct, sizeof ct));
	CHECK_OK(mls_expand_with_label(want_key, sizeof want_key, secret, "key", ct, 32));
	CHECK_OK(mls_expand_with_label(want_nonce, sizeof want_nonce, secret, "nonce", ct, 32));
	CHECK_MEM_EQ(key, sizeof key, want_key, sizeof want_key);
	CHECK_MEM_EQ(nonce, sizeof nonce, want_nonce, sizeof want_nonce);
	CHECK_OK(mls_secret_tree_sender_data(key, nonce, secret, ct, 10));
	CHECK_OK(mls_expand_with_label(want_key, sizeof want_key, secret, "key", ct, 10));
	CHECK_MEM_EQ(key, sizeof key, want_key, sizeof want_key);
	CHECK_RC(mls_secret_tree_sender_data(key, nonce, secret, NULL, 5), HALQA_ERR_ARG);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	make_sent();
	RUN(test_in_order);
	RUN(test_out_of_order_inside_window);
	RUN(test_out_of_order_outside_window);
	RUN(test_forward_limit);
	RUN(test_replay_refused);
	RUN(test_unconsumed_lookup_changes_nothing);
	RUN(test_sender_never_repeats);
	RUN(test_node_secrets_deleted);
	RUN(test_large_tree_is_lazy);
	RUN(test_bad_arguments);
	RUN(test_sender_data_sample);
	for (uint32_t g = 0; g < NUM_SENT; g++) {
		mls_secret_tree_key_wipe(&sent[g]);
	}
	return harness_report();
}
