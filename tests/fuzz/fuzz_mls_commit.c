/*
 * fuzz_mls_commit.c: hostile MLSMessage bytes delivered to a member of a
 * fixed three-member group (RFC 9420 12.4.2), as a commit, proposal or
 * application message would be. The group is built once, from a
 * deterministic random source installed before sodium_init, so the same
 * keys and the same seed commits come out on every run; each input is then
 * processed by a fresh copy of the receiving member (joined again from the
 * saved Welcome), so inputs do not influence each other. A refused input
 * must leave the event empty; an accepted commit must move the epoch by
 * exactly one.
 *
 * HALQA_FUZZ_WRITE_SEEDS=dir makes the target write its seed commits
 * (update, remove, add, each as PublicMessage and PrivateMessage) there.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_counter;

static void det_buf(void *const buf, const size_t size)
{
	uint8_t seed[randombytes_SEEDBYTES] = {0x48, 0x61, 0x6c, 0x71, 0x61};

	memcpy(seed + 8, &rng_counter, sizeof rng_counter);
	rng_counter++;
	randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t det_random(void)
{
	uint32_t v;

	det_buf(&v, sizeof v);
	return v;
}

static const char *det_name(void)
{
	return "halqa-fuzz-deterministic";
}

static struct randombytes_implementation det_impl = {
	.implementation_name = det_name,
	.random = det_random,
	.buf = det_buf,
};

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

struct fixed {
	uint8_t sig_priv[4][MLS_SIG_PRIV_LEN];
	struct mls_key_package kp[4];
	struct mls_keypackage_private kpp[4];
	struct mls_group *a;
	uint8_t *welcome;
	size_t welcome_len;
};

static struct fixed F;

static void write_seed(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) != NULL) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

static struct mls_group *fresh_b(void)
{
	struct mls_keypackage_private kpp = F.kpp[1];
	struct mls_group *b = NULL;

	check(mls_group_join(&b, F.welcome, F.welcome_len, NULL, 0, F.sig_priv[1], &F.kp[1], &kpp,
			     NULL) == HALQA_OK);
	return b;
}

static void init(void)
{
	static const uint8_t gid[] = "fuzz-commit";
	struct mls_keypackage_private kpp0;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");
	uint32_t c_leaf = 2;

	randombytes_set_implementation(&det_impl);
	check(sodium_init() >= 0);
	for (int i = 0; i < 4; i++) {
		uint8_t pub[MLS_SIG_PUB_LEN];

		crypto_sign_keypair(pub, F.sig_priv[i]);
		check(mls_keypackage_create(&F.kp[i], &F.kpp[i], F.sig_priv[i], 0, UINT64_MAX,
					    false) == HALQA_OK);
	}
	kpp0 = F.kpp[0];
	check(mls_group_create(&F.a, gid, sizeof gid - 1, F.sig_priv[0], &F.kp[0], &kpp0, NULL) ==
	      HALQA_OK);
	check(mls_group_commit_add(F.a, &F.kp[1], 2, 0, &commit, &commit_len, &F.welcome,
				   &F.welcome_len) == HALQA_OK);
	check(mls_group_commit_confirm(F.a) == HALQA_OK);
	free(commit);
	/* Seeds: A's possible next commits, none confirmed. */
	for (int pub = 0; pub < 2; pub++) {
		mls_group_set_handshake_public(F.a, pub == 1);
		for (int op = 0; op < 3; op++) {
			uint8_t *w = NULL;
			size_t w_len = 0;
			char name[32];

			if (op == 0) {
				check(mls_group_commit_update(F.a, &commit, &commit_len) == 0);
			} else if (op == 1) {
				check(mls_group_commit_remove(F.a, &c_leaf, 1, &commit, &commit_len) == 0);
			} else {
				check(mls_group_commit_add(F.a, &F.kp[3], 1, 0, &commit, &commit_len, &w,
							   &w_len) == 0);
			}
			mls_group_commit_discard(F.a);
			if (dir != NULL) {
				snprintf(name, sizeof name, "seed_%s_%d", pub ? "public" : "private", op);
				write_seed(dir, name, commit, commit_len);
			}
			/* Every seed must be accepted by the fixed receiver. */
			{
				struct mls_group *b = fresh_b();
				struct mls_group_event ev;

				check(mls_group_process(b, commit, commit_len, &ev) == HALQA_OK);
				check(mls_group_epoch(b) == 2);
				mls_group_event_cleanup(&ev);
				mls_group_free(b);
			}
			free(commit);
			free(w);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mls_group *b;
	struct mls_group_event ev;
	int rc;

	if (!ready) {
		init();
		ready = 1;
	}
	b = fresh_b();
	rc = mls_group_process(b, data, size, &ev);
	if (rc != HALQA_OK) {
		check(ev.data == NULL && ev.type == 0);
		check(mls_group_epoch(b) == 1);
	} else if (ev.type == MLS_GROUP_EVENT_COMMIT) {
		check(mls_group_epoch(b) == 2 || ev.removed);
	}
	mls_group_event_cleanup(&ev);
	mls_group_free(b);
	return 0;
}
