/*
 * bench_mls_group.c: the cost of the group operations a circle runs
 * (mls_group.h) as the group grows: a commit adding one member, removing
 * one, a self-update (each built as a pending commit and discarded, so
 * the group stays the same size between runs; building includes the
 * UpdatePath encryption, the new epoch's key schedule and, for an add,
 * the Welcome), and joining from a Welcome (tree verification included:
 * every leaf signature of the group is checked). Groups of 2, 10, 30 and
 * 1,000 members are made by one commit adding all the others, then one
 * self-update of each of the first 8 members, so the tree has both
 * populated and unmerged parents as a group that grew quickly would.
 *
 * Also the client's save and load of the creator's whole group state
 * (mls_group_save / mls_group_load, as around every use of its store):
 * load verifies the tree like a join does, so it grows with the group;
 * mls_group_load_own, the load the client uses for its own stored
 * state, skips that verification (the two are timed on the same bytes).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"

struct ident {
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
	struct mls_key_package kp;
	struct mls_keypackage_private kpp;
};

struct bench_group {
	struct mls_group *creator;
	struct ident joiner; /* an outsider for adds */
	struct ident late;   /* the member whose Welcome is timed */
	uint8_t *welcome;
	size_t welcome_len;
	uint32_t victim;
	uint8_t *state; /* the creator's saved state, for the load runs */
	size_t state_len;
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_mls_group: %s: %s\n", what, halqa_errname(rc));
	exit(1);
}

static void ident_new(struct ident *id)
{
	uint8_t pub[MLS_SIG_PUB_LEN];
	int rc;

	crypto_sign_keypair(pub, id->sig_priv);
	if ((rc = mls_keypackage_create(&id->kp, &id->kpp, id->sig_priv, 0, UINT64_MAX, false)) != 0) {
		die("keypackage", rc);
	}
}

static void build(struct bench_group *b, uint32_t n)
{
	static const uint8_t gid[] = "bench";
	struct ident creator, *others = calloc(n, sizeof *others);
	struct mls_key_package *kps = calloc(n, sizeof *kps);
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;
	int rc;

	if (others == NULL || kps == NULL) {
		die("alloc", HALQA_ERR_NOMEM);
	}
	ident_new(&creator);
	if ((rc = mls_group_create(&b->creator, gid, sizeof gid - 1, creator.sig_priv, &creator.kp,
				   &creator.kpp, NULL)) != 0) {
		die("create", rc);
	}
	for (uint32_t i = 0; i + 2 < n; i++) {
		ident_new(&others[i]);
		kps[i] = others[i].kp;
	}
	ident_new(&b->late);
	kps[n - 2] = b->late.kp;
	if ((rc = mls_group_commit_add(b->creator, kps, n - 1, 0, &commit, &commit_len, &welcome,
				       &welcome_len)) != 0 ||
	    (rc = mls_group_commit_confirm(b->creator)) != 0) {
		die("grow", rc);
	}
	free(commit);
	b->welcome = welcome;
	b->welcome_len = welcome_len;
	/* A few self-updates by the creator fill its path like a group in use. */
	for (int i = 0; i < 8; i++) {
		if ((rc = mls_group_commit_update(b->creator, &commit, &commit_len)) != 0 ||
		    (rc = mls_group_commit_confirm(b->creator)) != 0) {
			die("update", rc);
		}
		free(commit);
	}
	ident_new(&b->joiner);
	b->victim = n - 1;
	for (uint32_t i = 0; i + 2 < n; i++) {
		mls_key_package_cleanup(&others[i].kp);
		mls_keypackage_private_wipe(&others[i].kpp);
	}
	mls_key_package_cleanup(&creator.kp);
	free(others);
	free(kps);
}

static int op_add(void *arg)
{
	struct bench_group *b = arg;
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;
	int rc = mls_group_commit_add(b->creator, &b->joiner.kp, 1, 0, &commit, &commit_len,
				      &welcome, &welcome_len);

	mls_group_commit_discard(b->creator);
	free(commit);
	free(welcome);
	return rc;
}

static int op_remove(void *arg)
{
	struct bench_group *b = arg;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	int rc = mls_group_commit_remove(b->creator, &b->victim, 1, &commit, &commit_len);

	mls_group_commit_discard(b->creator);
	free(commit);
	return rc;
}

static int op_update(void *arg)
{
	struct bench_group *b = arg;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	int rc = mls_group_commit_update(b->creator, &commit, &commit_len);

	mls_group_commit_discard(b->creator);
	free(commit);
	return rc;
}

static int op_join(void *arg)
{
	struct bench_group *b = arg;
	struct mls_keypackage_private kpp = b->late.kpp; /* join wipes its copy */
	struct mls_group *g = NULL;
	int rc = mls_group_join(&g, b->welcome, b->welcome_len, NULL, 0, b->late.sig_priv,
				&b->late.kp, &kpp, NULL);

	mls_group_free(g);
	sodium_memzero(&kpp, sizeof kpp);
	return rc;
}

static int op_save(void *arg)
{
	struct bench_group *b = arg;
	uint8_t *s = NULL;
	size_t len = 0;
	int rc = mls_group_save(b->creator, &s, &len);

	mls_group_state_free(s, len);
	return rc;
}

static int op_load(void *arg)
{
	struct bench_group *b = arg;
	struct mls_group *g = NULL;
	int rc = mls_group_load(&g, b->state, b->state_len, NULL);

	mls_group_free(g);
	return rc;
}

static int op_load_own(void *arg)
{
	struct bench_group *b = arg;
	struct mls_group *g = NULL;
	int rc = mls_group_load_own(&g, b->state, b->state_len, NULL);

	mls_group_free(g);
	return rc;
}

int main(void)
{
	static const uint32_t sizes[] = {2, 10, 30, 1000};
	char name[96];

	if (sodium_init() < 0) {
		return 1;
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct bench_group b = {0};
		uint32_t n = sizes[i];
		unsigned ms = n >= 1000 ? 1000 : 200;

		build(&b, n);
		snprintf(name, sizeof name, "n=%u commit adding 1 member (+Welcome)", n);
		bench_report(name, bench_run(name, op_add, &b, ms));
		snprintf(name, sizeof name, "n=%u commit removing 1 member", n);
		bench_report(name, bench_run(name, op_remove, &b, ms));
		snprintf(name, sizeof name, "n=%u self-update commit", n);
		bench_report(name, bench_run(name, op_update, &b, ms));
		snprintf(name, sizeof name, "n=%u join from Welcome", n);
		bench_report(name, bench_run(name, op_join, &b, ms));
		if (mls_group_save(b.creator, &b.state, &b.state_len) != HALQA_OK) {
			die("save", HALQA_ERR_NOMEM);
		}
		printf("n=%u saved state: %zu bytes\n", n, b.state_len);
		snprintf(name, sizeof name, "n=%u save group state", n);
		bench_report(name, bench_run(name, op_save, &b, ms));
		snprintf(name, sizeof name, "n=%u load group state", n);
		bench_report(name, bench_run(name, op_load, &b, ms));
		snprintf(name, sizeof name, "n=%u load own group state", n);
		bench_report(name, bench_run(name, op_load_own, &b, ms));
		mls_group_state_free(b.state, b.state_len);
		mls_group_free(b.creator);
		free(b.welcome);
		mls_key_package_cleanup(&b.joiner.kp);
		mls_key_package_cleanup(&b.late.kp);
	}
	printf("peak RSS %ld KiB\n", bench_peak_rss_kib());
	return 0;
}
