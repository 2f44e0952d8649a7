/*
 * test_mls_key_schedule.c: the key schedule beyond the vector file: NULL
 * commit and PSK secrets mean the zero vector, every input binds the
 * outputs (a changed GroupContext, commit secret or PSK changes every
 * secret), the exporter's arguments are checked and bind its output,
 * handing the encryption_secret to the secret tree wipes the epoch's copy,
 * and the external key pair matches external_pub.
 */
#include "halqa/mls_key_schedule.h"

#include <sodium.h>
#include <string.h>

#include "halqa/mls_secret_tree.h"
#include "harness.h"

static const uint8_t zero[MLS_HASH_LEN];

static void make_gc(struct mls_group_context *gc, uint64_t epoch)
{
	static const uint8_t gid[] = "circle", th[32] = {7}, cth[32] = {9};

	memset(gc, 0, sizeof *gc);
	gc->version = 1;
	gc->cipher_suite = 3;
	gc->epoch = epoch;
	CHECK_OK(mls_bytes_set(&gc->group_id, gid, sizeof gid - 1));
	CHECK_OK(mls_bytes_set(&gc->tree_hash, th, sizeof th));
	CHECK_OK(mls_bytes_set(&gc->confirmed_transcript_hash, cth, sizeof cth));
}

/* Every secret field of |a| differs from the same field of |b|. */
static int all_differ(const struct mls_key_schedule_epoch *a,
		      const struct mls_key_schedule_epoch *b)
{
	const uint8_t *pa = (const uint8_t *)a, *pb = (const uint8_t *)b;

	for (size_t off = 0; off + MLS_HASH_LEN <= sizeof *a; off += MLS_HASH_LEN) {
		if (sodium_memcmp(pa + off, pb + off, MLS_HASH_LEN) == 0) {
			return 0;
		}
	}
	return 1;
}

static void test_null_means_zero(void)
{
	struct mls_group_context gc;
	struct mls_key_schedule_epoch *a = NULL, *b = NULL;
	uint8_t init[MLS_HASH_LEN];

	randombytes_buf(init, sizeof init);
	make_gc(&gc, 0);
	CHECK_OK(mls_key_schedule_new(&a, init, NULL, NULL, &gc));
	CHECK_OK(mls_key_schedule_new(&b, init, zero, zero, &gc));
	CHECK(a != NULL && b != NULL);
	if (a != NULL && b != NULL) {
		CHECK_MEM_EQ((const uint8_t *)a, sizeof *a, (const uint8_t *)b, sizeof *b);
	}
	mls_key_schedule_free(a);
	mls_key_schedule_free(b);
	mls_group_context_cleanup(&gc);
}

static void test_inputs_bind_outputs(void)
{
	struct mls_group_context gc, gc2;
	struct mls_key_schedule_epoch *base = NULL, *other = NULL;
	uint8_t init[MLS_HASH_LEN], commit[MLS_HASH_LEN], psk[MLS_HASH_LEN];

	randombytes_buf(init, sizeof init);
	randombytes_buf(commit, sizeof commit);
	randombytes_buf(psk, sizeof psk);
	make_gc(&gc, 5);
	make_gc(&gc2, 6);
	CHECK_OK(mls_key_schedule_new(&base, init, commit, psk, &gc));

	CHECK_OK(mls_key_schedule_new(&other, init, commit, psk, &gc2));
	CHECK(all_differ(base, other));
	mls_key_schedule_free(other);

	commit[0] ^= 1;
	CHECK_OK(mls_key_schedule_new(&other, init, commit, psk, &gc));
	CHECK(all_differ(base, other));
	mls_key_schedule_free(other);
	commit[0] ^= 1;

	/* The PSK enters after the joiner secret: that one stays, the rest change. */
	psk[31] ^= 0x80;
	CHECK_OK(mls_key_schedule_new(&other, init, commit, psk, &gc));
	CHECK_MEM_EQ(other->joiner_secret, MLS_HASH_LEN, base->joiner_secret, MLS_HASH_LEN);
	CHECK(sodium_memcmp(other->welcome_secret, base->welcome_secret, MLS_HASH_LEN) != 0);
	CHECK(sodium_memcmp(other->epoch_authenticator, base->epoch_authenticator,
			    MLS_HASH_LEN) != 0);
	mls_key_schedule_free(other);

	mls_key_schedule_free(base);
	mls_group_context_cleanup(&gc);
	mls_group_context_cleanup(&gc2);
}

static void test_exporter(void)
{
	struct mls_group_context gc;
	struct mls_key_schedule_epoch *e = NULL;
	uint8_t init[MLS_HASH_LEN], a[64], b[64], big[255 * 32 + 1];

	randombytes_buf(init, sizeof init);
	make_gc(&gc, 1);
	CHECK_OK(mls_key_schedule_new(&e, init, NULL, NULL, &gc));
	CHECK_OK(mls_key_schedule_export(e, a, 32, "halqa relay", (const uint8_t *)"x", 1));
	CHECK_OK(mls_key_schedule_export(e, b, 32, "halqa relay", (const uint8_t *)"y", 1));
	CHECK(sodium_memcmp(a, b, 32) != 0);
	CHECK_OK(mls_key_schedule_export(e, b, 32, "halqa other", (const uint8_t *)"x", 1));
	CHECK(sodium_memcmp(a, b, 32) != 0);
	/* The length is part of the KDF label: a longer output is not an extension. */
	CHECK_OK(mls_key_schedule_export(e, b, 64, "halqa relay", (const uint8_t *)"x", 1));
	CHECK(sodium_memcmp(a, b, 32) != 0);
	CHECK_OK(mls_key_schedule_export(e, a, 16, "halqa relay", NULL, 0));
	CHECK_OK(mls_key_schedule_export(e, big, 255 * 32, "halqa relay", NULL, 0));
	CHECK_RC(mls_key_schedule_export(e, big, sizeof big, "halqa relay", NULL, 0),
		 HALQA_ERR_ARG);
	CHECK_RC(mls_key_schedule_export(e, a, 0, "halqa relay", NULL, 0), HALQA_ERR_ARG);
	CHECK_RC(mls_key_schedule_export(e, a, 32, NULL, NULL, 0), HALQA_ERR_ARG);
	CHECK_RC(mls_key_schedule_export(e, a, 32, "x", NULL, 3), HALQA_ERR_ARG);
	CHECK_MEM_EQ(a, 32, zero, 32); /* zeroed on failure */
	mls_key_schedule_free(e);
	mls_group_context_cleanup(&gc);
}

static void test_secret_tree_takes_encryption_secret(void)
{
	struct mls_group_context gc;
	struct mls_key_schedule_epoch *e = NULL;
	struct mls_secret_tree *from_epoch = NULL, *reference = NULL;
	struct mls_secret_tree_key k1, k2;
	uint8_t init[MLS_HASH_LEN], saved[MLS_HASH_LEN];

	randombytes_buf(init, sizeof init);
	make_gc(&gc, 2);
	CHECK_OK(mls_key_schedule_new(&e, init, NULL, NULL, &gc));
	memcpy(saved, e->encryption_secret, sizeof saved);
	CHECK_RC(mls_key_schedule_secret_tree(e, &from_epoch, 3), HALQA_ERR_ARG);
	CHECK_MEM_EQ(e->encryption_secret, MLS_HASH_LEN, saved, sizeof saved);
	CHECK_OK(mls_key_schedule_secret_tree(e, &from_epoch, 4));
	CHECK_MEM_EQ(e->encryption_secret, MLS_HASH_LEN, zero, sizeof zero);
	CHECK_OK(mls_secret_tree_new(&reference, saved, 4));
	CHECK_OK(mls_secret_tree_next_key(from_epoch, &k1, 2, MLS_SECRET_TREE_APPLICATION));
	CHECK_OK(mls_secret_tree_next_key(reference, &k2, 2, MLS_SECRET_TREE_APPLICATION));
	CHECK_MEM_EQ(k1.key, sizeof k1.key, k2.key, sizeof k2.key);
	mls_secret_tree_key_wipe(&k1);
	mls_secret_tree_key_wipe(&k2);
	mls_secret_tree_free(from_epoch);
	mls_secret_tree_free(reference);
	mls_key_schedule_free(e);
	mls_group_context_cleanup(&gc);
}

static void test_external_and_welcome(void)
{
	struct mls_group_context gc;
	struct mls_key_schedule_epoch *e = NULL;
	uint8_t init[MLS_HASH_LEN], priv[MLS_KEM_PRIV_LEN], pub[MLS_KEM_PUB_LEN], check[32];
	uint8_t key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN], want[MLS_AEAD_KEY_LEN];

	randombytes_buf(init, sizeof init);
	make_gc(&gc, 3);
	CHECK_OK(mls_key_schedule_new(&e, init, NULL, NULL, &gc));
	CHECK_OK(mls_key_schedule_external_key_pair(e, priv, pub));
	CHECK_MEM_EQ(pub, sizeof pub, e->external_pub, sizeof e->external_pub);
	CHECK(crypto_scalarmult_base(check, priv) == 0);
	CHECK_MEM_EQ(check, sizeof check, pub, sizeof pub);
	CHECK_OK(mls_key_schedule_welcome_key(key, nonce, e->welcome_secret));
	CHECK_OK(mls_expand_with_label(want, sizeof want, e->welcome_secret, "key", NULL, 0));
	CHECK_MEM_EQ(key, sizeof key, want, sizeof want);
	CHECK_OK(mls_expand_with_label(want, MLS_AEAD_NONCE_LEN, e->welcome_secret, "nonce", NULL,
				       0));
	CHECK_MEM_EQ(nonce, sizeof nonce, want, MLS_AEAD_NONCE_LEN);
	mls_key_schedule_free(e);
	CHECK_RC(mls_key_schedule_new(&e, NULL, NULL, NULL, &gc), HALQA_ERR_ARG);
	CHECK(e == NULL);
	sodium_memzero(priv, sizeof priv);
	mls_group_context_cleanup(&gc);
}

static void make_psk_id(struct mls_psk_id *id, uint8_t tag)
{
	uint8_t name[8], nonce[MLS_HASH_LEN];

	memset(name, tag, sizeof name);
	memset(nonce, tag ^ 0x5a, sizeof nonce);
	memset(id, 0, sizeof *id);
	id->psktype = MLS_PSK_EXTERNAL;
	CHECK_OK(mls_bytes_set(&id->psk_id, name, sizeof name));
	CHECK_OK(mls_bytes_set(&id->psk_nonce, nonce, sizeof nonce));
}

static void test_psk_secret(void)
{
	static const uint8_t k1[] = "first pre-shared key", k2[] = "second pre-shared key";
	struct mls_psk_id ids[2], res = {0};
	struct mls_key_schedule_psk psks[2], swapped[2], one[1];
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];

	make_psk_id(&ids[0], 1);
	make_psk_id(&ids[1], 2);
	psks[0] = (struct mls_key_schedule_psk){&ids[0], k1, sizeof k1};
	psks[1] = (struct mls_key_schedule_psk){&ids[1], k2, sizeof k2};
	swapped[0] = psks[1];
	swapped[1] = psks[0];
	CHECK_OK(mls_key_schedule_psk_secret(a, NULL, 0));
	CHECK_MEM_EQ(a, sizeof a, zero, sizeof zero);
	CHECK_OK(mls_key_schedule_psk_secret(a, psks, 2));
	CHECK_OK(mls_key_schedule_psk_secret(b, swapped, 2));
	CHECK(sodium_memcmp(a, b, sizeof a) != 0); /* order is part of the secret */
	CHECK_OK(mls_key_schedule_psk_secret(b, psks, 1));
	CHECK(sodium_memcmp(a, b, sizeof a) != 0); /* so is the count */
	/* A resumption PSK ID encodes its usage, group and epoch. */
	res.psktype = MLS_PSK_RESUMPTION;
	res.usage = MLS_RESUMPTION_APPLICATION;
	res.psk_epoch = 9;
	CHECK_OK(mls_bytes_set(&res.psk_group_id, (const uint8_t *)"g", 1));
	CHECK_OK(mls_bytes_set(&res.psk_nonce, zero, sizeof zero));
	one[0] = (struct mls_key_schedule_psk){&res, k1, sizeof k1};
	CHECK_OK(mls_key_schedule_psk_secret(b, one, 1));
	CHECK_RC(mls_key_schedule_psk_secret(b, psks, MLS_KEY_SCHEDULE_MAX_PSKS + 1),
		 HALQA_ERR_ARG);
	CHECK_MEM_EQ(b, sizeof b, zero, sizeof zero);
	one[0].id = NULL;
	CHECK_RC(mls_key_schedule_psk_secret(b, one, 1), HALQA_ERR_ARG);
	mls_psk_id_cleanup(&ids[0]);
	mls_psk_id_cleanup(&ids[1]);
	mls_psk_id_cleanup(&res);
}

static void test_confirmation_tag(void)
{
	uint8_t key[MLS_HASH_LEN], cth[MLS_HASH_LEN], tag[MLS_HASH_LEN], want[MLS_HASH_LEN];
	struct mls_authenticated_content ac = {0};

	randombytes_buf(key, sizeof key);
	randombytes_buf(cth, sizeof cth);
	CHECK_OK(mls_key_schedule_confirmation_tag(tag, key, cth, sizeof cth));
	crypto_auth_hmacsha256(want, cth, sizeof cth, key);
	CHECK_MEM_EQ(tag, sizeof tag, want, sizeof want);
	CHECK_OK(mls_key_schedule_verify_confirmation_tag(key, cth, sizeof cth, tag, sizeof tag));
	for (size_t i = 0; i < sizeof tag; i++) {
		tag[i] ^= 0x01;
		CHECK_RC(mls_key_schedule_verify_confirmation_tag(key, cth, sizeof cth, tag,
								  sizeof tag),
			 HALQA_ERR_CRYPTO);
		tag[i] ^= 0x01;
	}
	CHECK_RC(mls_key_schedule_verify_confirmation_tag(key, cth, sizeof cth, tag, 31),
		 HALQA_ERR_CRYPTO);
	CHECK_RC(mls_key_schedule_verify_confirmation_tag(key, cth, sizeof cth, NULL, 0),
		 HALQA_ERR_CRYPTO);
	/* Only a commit has a place in the transcript. */
	ac.wire_format = MLS_WIRE_PUBLIC_MESSAGE;
	ac.content.content_type = MLS_CONTENT_APPLICATION;
	CHECK_RC(mls_key_schedule_confirmed_transcript_hash(want, NULL, 0, &ac), HALQA_ERR_ARG);
	CHECK_RC(mls_key_schedule_interim_transcript_hash(want, cth, tag, MLS_MAX_HASH + 1),
		 HALQA_ERR_ARG);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_null_means_zero);
	RUN(test_inputs_bind_outputs);
	RUN(test_exporter);
	RUN(test_secret_tree_takes_encryption_secret);
	RUN(test_external_and_welcome);
	RUN(test_psk_secret);
	RUN(test_confirmation_tag);
	return harness_report();
}
