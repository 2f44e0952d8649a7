/*
 * fuzz_mls_group_load.c: hostile bytes offered to mls_group_load and to
 * mls_group_load_own as a saved group state. A refused state must leave
 * no group. An accepted one must save back to exactly the same bytes (the
 * format has one encoding per state) and must survive being used: an
 * application message sealed, a self-update and a commit of the cached
 * proposals built and discarded, an incoming message refused. The own
 * load, which skips the costly content checks, must accept whatever the
 * full load accepts, giving the same group (epoch, epoch authenticator);
 * what it accepts beyond that must be as safe to use.
 *
 * Saved states hold no reference to anything outside them, so the seeds
 * need no deterministic random source. HALQA_FUZZ_WRITE_SEEDS=dir makes
 * the target write its seeds there: a lone creator at epoch 0, and a
 * member of three with a cached proposal, kept out-of-order keys and a
 * pending commit. The corpus also keeps two inputs the fuzzer made from
 * them that only the own load accepts (own_only_*), so the replay in the
 * ordinary builds uses such groups too.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

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

static void save_seed(const char *dir, const char *name, const struct mls_group *g)
{
	uint8_t *s = NULL;
	size_t len = 0;

	check(mls_group_save(g, &s, &len) == HALQA_OK);
	write_seed(dir, name, s, len);
	mls_group_state_free(s, len);
}

static void write_seeds(const char *dir)
{
	static const uint8_t gid[] = "fuzz-load";
	uint8_t sig[3][MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN];
	struct mls_key_package kp[3] = {0};
	struct mls_keypackage_private kpp[3];
	struct mls_group *g[3] = {0};
	uint8_t *commit = NULL, *welcome = NULL, *ct = NULL;
	size_t commit_len = 0, welcome_len = 0, ct_len = 0;
	struct mls_group_event ev;

	for (int i = 0; i < 3; i++) {
		crypto_sign_keypair(pub, sig[i]);
		check(mls_keypackage_create(&kp[i], &kpp[i], sig[i], 0, UINT64_MAX, false) == 0);
	}
	check(mls_group_create(&g[0], gid, sizeof gid - 1, sig[0], &kp[0], &kpp[0], NULL) == 0);
	save_seed(dir, "seed_creator", g[0]);
	for (int i = 1; i < 3; i++) {
		check(mls_group_commit_add(g[0], &kp[i], 1, 0, &commit, &commit_len, &welcome,
					   &welcome_len) == 0);
		check(mls_group_commit_confirm(g[0]) == 0);
		for (int j = 1; j < i; j++) {
			check(mls_group_process(g[j], commit, commit_len, &ev) == 0);
			mls_group_event_cleanup(&ev);
		}
		check(mls_group_join(&g[i], welcome, welcome_len, NULL, 0, sig[i], &kp[i], &kpp[i],
				     NULL) == 0);
		free(commit);
		free(welcome);
	}
	check(mls_group_propose_remove(g[2], 2, &ct, &ct_len) == 0);
	check(mls_group_process(g[0], ct, ct_len, &ev) == 0);
	mls_group_event_cleanup(&ev);
	free(ct);
	for (int k = 0; k < 3; k++) {
		check(mls_group_protect(g[1], (const uint8_t *)"m", 1, &ct, &ct_len) == 0);
		if (k == 2) {
			check(mls_group_process(g[0], ct, ct_len, &ev) == 0);
			mls_group_event_cleanup(&ev);
		}
		free(ct);
	}
	check(mls_group_commit_update(g[0], &commit, &commit_len) == 0);
	free(commit);
	save_seed(dir, "seed_three_pending", g[0]);
	for (int i = 0; i < 3; i++) {
		mls_group_free(g[i]);
		mls_key_package_cleanup(&kp[i]);
	}
	sodium_memzero(sig, sizeof sig);
}

/* A loaded group saves back to |data| and survives being used; then it is freed. */
static void use(struct mls_group *g, const uint8_t *data, size_t size)
{
	struct mls_group_event ev;
	uint8_t *again = NULL, *out = NULL;
	size_t again_len = 0, out_len = 0;
	static const uint8_t junk[] = {0x00, 0x01, 0x00, 0x02};

	check(mls_group_save(g, &again, &again_len) == HALQA_OK);
	check(again_len == size && memcmp(again, data, size) == 0);
	mls_group_state_free(again, again_len);
	if (mls_group_protect(g, (const uint8_t *)"x", 1, &out, &out_len) == HALQA_OK) {
		free(out);
	}
	mls_group_commit_discard(g);
	if (mls_group_commit_update(g, &out, &out_len) == HALQA_OK) {
		free(out);
		mls_group_commit_discard(g);
	}
	if (mls_group_commit_proposals(g, &out, &out_len) == HALQA_OK) {
		free(out);
		mls_group_commit_discard(g);
	}
	check(mls_group_process(g, junk, sizeof junk, &ev) != HALQA_OK);
	mls_group_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mls_group *g = NULL, *own = NULL;
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];
	int rc, rc_own;

	if (!ready) {
		const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");

		check(sodium_init() >= 0);
		if (dir != NULL) {
			write_seeds(dir);
		}
		ready = 1;
	}
	rc = mls_group_load(&g, data, size, NULL);
	rc_own = mls_group_load_own(&own, data, size, NULL);
	check((rc == HALQA_OK) == (g != NULL));
	check((rc_own == HALQA_OK) == (own != NULL));
	check(rc != HALQA_OK || rc_own == HALQA_OK);
	if (g != NULL) {
		mls_group_epoch_authenticator(g, a);
		mls_group_epoch_authenticator(own, b);
		check(mls_group_epoch(g) == mls_group_epoch(own) && memcmp(a, b, sizeof a) == 0);
		use(g, data, size);
	}
	if (own != NULL) {
		use(own, data, size);
	}
	return 0;
}
