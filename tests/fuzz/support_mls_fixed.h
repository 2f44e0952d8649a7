/*
 * support_mls_fixed.h: what the MLS fuzz targets share: a deterministic
 * random source, so a fixed group comes out the same on every run and
 * its seed messages stay valid, and that fixed group itself.
 */
#ifndef HALQA_FUZZ_SUPPORT_MLS_FIXED_H
#define HALQA_FUZZ_SUPPORT_MLS_FIXED_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"

/* Four identities with a KeyPackage each; A (identity 0) has added some. */
struct fuzz_mls_fixed {
	uint8_t sig_priv[4][MLS_SIG_PRIV_LEN];
	struct mls_key_package kp[4];
	struct mls_keypackage_private kpp[4];
	struct mls_group *a;
	uint8_t *welcome; /* the Welcome of A's first commit */
	size_t welcome_len;
};

/* fuzz_check aborts (a finding for the fuzzer) unless |cond| holds. */
void fuzz_check(int cond);

/* fuzz_write_seed writes |data| to |dir|/|name|, quietly skipping on error. */
void fuzz_write_seed(const char *dir, const char *name, const uint8_t *data, size_t len);

/*
 * fuzz_mls_fixed_init installs the deterministic randombytes (before
 * sodium_init, which it calls), makes the four identities, creates group
 * |gid| with A and has A commit (confirmed) the addition of identities 1
 * to |num_added|, keeping the Welcome. Aborts on any failure.
 */
void fuzz_mls_fixed_init(struct fuzz_mls_fixed *f, const uint8_t *gid, size_t gid_len,
			 size_t num_added);

#endif
