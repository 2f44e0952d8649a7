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
#include "support_mls_fixed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_mls_fixed F;

static void init(void)
{
	static const uint8_t gid[] = "fuzz-welcome";
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");

	fuzz_mls_fixed_init(&F, gid, sizeof gid - 1, 1);
	/* Seeds: Welcomes for D alone and for C and D together. */
	for (int n = 1; n <= 2; n++) {
		uint8_t *w = NULL;
		size_t w_len = 0;
		char name[32];

		fuzz_check(mls_group_commit_add(F.a, &F.kp[4 - n], (size_t)n, 0, &commit,
						&commit_len, &w, &w_len) == 0);
		mls_group_commit_discard(F.a);
		if (dir != NULL) {
			snprintf(name, sizeof name, "seed_welcome_%d", n);
			fuzz_write_seed(dir, name, w, w_len);
		}
		{
			struct mls_keypackage_private kpp = F.kpp[3];
			struct mls_group *d = NULL;

			fuzz_check(mls_group_join(&d, w, w_len, NULL, 0, F.sig_priv[3], &F.kp[3],
						  &kpp, NULL) == HALQA_OK);
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
		fuzz_check(d == NULL);
		fuzz_check(sodium_memcmp(&kpp, &F.kpp[3], sizeof kpp) == 0);
	} else {
		fuzz_check(mls_group_epoch(d) == 2);
		fuzz_check(mls_group_num_members(d) >= 1);
	}
	mls_group_free(d);
	sodium_memzero(&kpp, sizeof kpp);
	return 0;
}
