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
#include "support_mls_fixed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_mls_fixed F;

static struct mls_group *fresh_b(void)
{
	struct mls_keypackage_private kpp = F.kpp[1];
	struct mls_group *b = NULL;

	fuzz_check(mls_group_join(&b, F.welcome, F.welcome_len, NULL, 0, F.sig_priv[1], &F.kp[1],
				  &kpp, NULL) == HALQA_OK);
	return b;
}

static void init(void)
{
	static const uint8_t gid[] = "fuzz-commit";
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");
	uint32_t c_leaf = 2;

	fuzz_mls_fixed_init(&F, gid, sizeof gid - 1, 2);
	/* Seeds: A's possible next commits, none confirmed. */
	for (int pub = 0; pub < 2; pub++) {
		mls_group_set_handshake_public(F.a, pub == 1);
		for (int op = 0; op < 3; op++) {
			uint8_t *w = NULL;
			size_t w_len = 0;
			char name[32];

			if (op == 0) {
				fuzz_check(mls_group_commit_update(F.a, &commit, &commit_len) == 0);
			} else if (op == 1) {
				fuzz_check(mls_group_commit_remove(F.a, &c_leaf, 1, &commit,
								   &commit_len) == 0);
			} else {
				fuzz_check(mls_group_commit_add(F.a, &F.kp[3], 1, 0, &commit, &commit_len,
								&w, &w_len) == 0);
			}
			mls_group_commit_discard(F.a);
			if (dir != NULL) {
				snprintf(name, sizeof name, "seed_%s_%d", pub ? "public" : "private", op);
				fuzz_write_seed(dir, name, commit, commit_len);
			}
			/* Every seed must be accepted by the fixed receiver. */
			{
				struct mls_group *b = fresh_b();
				struct mls_group_event ev;

				fuzz_check(mls_group_process(b, commit, commit_len, &ev) == HALQA_OK);
				fuzz_check(mls_group_epoch(b) == 2);
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
		fuzz_check(ev.data == NULL && ev.type == 0);
		fuzz_check(mls_group_epoch(b) == 1);
	} else if (ev.type == MLS_GROUP_EVENT_COMMIT) {
		fuzz_check(mls_group_epoch(b) == 2 || ev.removed);
	}
	mls_group_event_cleanup(&ev);
	mls_group_free(b);
	return 0;
}
