/*
 * support_mls_fixed.c: the deterministic random source and the fixed
 * group of the MLS fuzz targets (see support_mls_fixed.h). The random
 * bytes are a counter-keyed stream from randombytes_buf_deterministic:
 * never use this outside a fuzz target.
 */
#include "support_mls_fixed.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void fuzz_check(int cond)
{
	if (!cond) {
		abort();
	}
}

void fuzz_write_seed(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) != NULL) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

void fuzz_mls_fixed_init(struct fuzz_mls_fixed *f, const uint8_t *gid, size_t gid_len,
			 size_t num_added)
{
	struct mls_keypackage_private kpp0;
	uint8_t *commit = NULL;
	size_t commit_len = 0;

	randombytes_set_implementation(&det_impl);
	fuzz_check(sodium_init() >= 0);
	for (int i = 0; i < 4; i++) {
		uint8_t pub[MLS_SIG_PUB_LEN];

		crypto_sign_keypair(pub, f->sig_priv[i]);
		fuzz_check(mls_keypackage_create(&f->kp[i], &f->kpp[i], f->sig_priv[i], 0,
						 UINT64_MAX, false) == HALQA_OK);
	}
	kpp0 = f->kpp[0];
	fuzz_check(mls_group_create(&f->a, gid, gid_len, f->sig_priv[0], &f->kp[0], &kpp0, NULL) ==
		   HALQA_OK);
	fuzz_check(mls_group_commit_add(f->a, &f->kp[1], num_added, 0, &commit, &commit_len,
					&f->welcome, &f->welcome_len) == HALQA_OK);
	fuzz_check(mls_group_commit_confirm(f->a) == HALQA_OK);
	free(commit);
}
