/*
 * fuzz_mls_welcome.c: hostile bytes offered as a Welcome (RFC 9420
 * 12.4.3.1) to a joiner whose KeyPackage and private keys are fixed. The
 * group and the KeyPackages are built once from a deterministic random
 * source installed before sodium_init, so the seed Welcomes are valid on
 * every run. A refused Welcome must leave no group and the KeyPackage
 * privates intact; an accepted one must give a group at epoch 2 with the
 * joiner as a member.
 *
 * HALQA_FUZZ_WRITE_SEEDS=dir makes the target write its seed Welcomes
 * (one joiner, two joiners) there.
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

static void init(void)
{
	static const uint8_t gid[] = "fuzz-welcome";
	struct mls_keypackage_private kpp0;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");

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
	check(mls_group_commit_add(F.a, &F.kp[1], 1, 0, &commit, &commit_len, &F.welcome,
				   &F.welcome_len) == HALQA_OK);
	check(mls_group_commit_confirm(F.a) == HALQA_OK);
	free(commit);
	/* Seeds: Welcomes for D alone and for C and D together. */
	for (int n = 1; n <= 2; n++) {
		uint8_t *w = NULL;
		size_t w_len = 0;
		char name[32];

		check(mls_group_commit_add(F.a, &F.kp[4 - n], (size_t)n, 0, &commit, &commit_len,
					   &w, &w_len) == 0);
		mls_group_commit_discard(F.a);
		if (dir != NULL) {
			snprintf(name, sizeof name, "seed_welcome_%d", n);
			write_seed(dir, name, w, w_len);
		}
		{
			struct mls_keypackage_private kpp = F.kpp[3];
			struct mls_group *d = NULL;

			check(mls_group_join(&d, w, w_len, NULL, 0, F.sig_priv[3], &F.kp[3], &kpp,
					     NULL) == HALQA_OK);
			mls_group_free(d);
		}
		free(commit);
		free(w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mls_keypackage_private kpp;
	struct mls_group *d = NULL;
	int rc;

	if (!ready) {
		init();
		ready = 1;
	}
	kpp = F.kpp[3];
	rc = mls_group_join(&d, data, size, NULL, 0, F.sig_priv[3], &F.kp[3], &kpp, NULL);
	if (rc != HALQA_OK) {
		check(d == NULL);
		check(sodium_memcmp(&kpp, &F.kpp[3], sizeof kpp) == 0);
	} else {
		check(mls_group_epoch(d) == 2);
		check(mls_group_num_members(d) >= 1);
	}
	mls_group_free(d);
	sodium_memzero(&kpp, sizeof kpp);
	return 0;
}
