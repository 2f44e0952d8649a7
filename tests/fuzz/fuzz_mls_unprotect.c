/*
 * fuzz_mls_unprotect.c: hostile MLSMessage bytes unprotected against a
 * fixed epoch (RFC 9420 6.2, 6.3): fixed GroupContext, epoch secrets from
 * a fixed init secret, and a fresh secret tree of four leaves per input
 * (a decrypted message consumes its key). PublicMessages are checked
 * (membership tag) and PrivateMessages decrypted (sender data, content);
 * what comes out must carry this group and epoch, and signature checks
 * must return without crashing.
 *
 * HALQA_FUZZ_WRITE_SEEDS=dir writes seed messages made against the same
 * epoch: a PublicMessage proposal and commit, PrivateMessage application
 * data, proposal and commit.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_framing.h"
#include "halqa/mls_key_schedule.h"
#include "halqa/mls_secret_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LEAVES 4

static struct mls_group_context gc;
static struct mls_key_schedule_epoch *ks;
static uint8_t encryption_secret[MLS_HASH_LEN];
static uint8_t sig_priv[MLS_SIG_PRIV_LEN], sig_pub[MLS_SIG_PUB_LEN];

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

/* Builds, protects and (if asked) writes one seed message of |type|. */
static void seed(const char *dir, const char *name, uint16_t wire_format, uint8_t type)
{
	struct mls_authenticated_content ac = {0};
	struct mls_secret_tree *st = NULL;
	struct mls_framing_epoch ep = {.group_context = &gc, .secrets = ks};
	uint8_t *out = NULL, tag[MLS_HASH_LEN] = {1};
	size_t out_len = 0;

	check(mls_secret_tree_new(&st, encryption_secret, LEAVES) == 0);
	ep.tree = st;
	ac.wire_format = wire_format;
	check(mls_bytes_copy(&ac.content.group_id, &gc.group_id) == 0);
	ac.content.epoch = gc.epoch;
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.content.sender.index = 1;
	ac.content.content_type = type;
	if (type == MLS_CONTENT_APPLICATION) {
		check(mls_bytes_set(&ac.content.application_data, (const uint8_t *)"hello", 5) == 0);
	} else if (type == MLS_CONTENT_PROPOSAL) {
		ac.content.proposal.type = MLS_PROPOSAL_REMOVE;
		ac.content.proposal.u.remove.removed = 2;
	} else {
		check(mls_bytes_set(&ac.auth.confirmation_tag, tag, sizeof tag) == 0);
	}
	check(mls_framing_sign(&ac.auth.signature, wire_format, &ac.content, &gc, sig_priv) == 0);
	if (wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
		check(mls_framing_protect_public(&ep, &out, &out_len, &ac) == 0);
	} else {
		check(mls_framing_protect_private(&ep, &out, &out_len, &ac, 8) == 0);
	}
	if (dir != NULL) {
		write_seed(dir, name, out, out_len);
	}
	/* Every seed must unprotect and verify. */
	check(LLVMFuzzerTestOneInput(out, out_len) == 0);
	free(out);
	mls_authenticated_content_cleanup(&ac);
	mls_secret_tree_free(st);
}

static int ready;

static void init(void)
{
	static const uint8_t gid[] = "fuzz-unprotect";
	uint8_t init_secret[MLS_HASH_LEN] = {3}, hash[MLS_HASH_LEN] = {4}, seedk[32] = {5};
	const char *dir = getenv("HALQA_FUZZ_WRITE_SEEDS");

	check(sodium_init() >= 0);
	check(mls_sig_key_pair_from_seed(sig_priv, sig_pub, seedk) == 0);
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = 3;
	gc.epoch = 7;
	check(mls_bytes_set(&gc.group_id, gid, sizeof gid - 1) == 0);
	check(mls_bytes_set(&gc.tree_hash, hash, sizeof hash) == 0);
	check(mls_bytes_set(&gc.confirmed_transcript_hash, hash, sizeof hash) == 0);
	check(mls_key_schedule_new(&ks, init_secret, NULL, NULL, &gc) == 0);
	/* The secret tree is remade per input; keep the secret it is made from. */
	memcpy(encryption_secret, ks->encryption_secret, sizeof encryption_secret);
	ready = 1;
	seed(dir, "seed_public_proposal", MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL);
	seed(dir, "seed_public_commit", MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT);
	seed(dir, "seed_private_application", MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_APPLICATION);
	seed(dir, "seed_private_proposal", MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_PROPOSAL);
	seed(dir, "seed_private_commit", MLS_WIRE_PRIVATE_MESSAGE, MLS_CONTENT_COMMIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mls_message m = {0};
	struct mls_authenticated_content ac = {0};
	struct mls_secret_tree *st = NULL;
	struct mls_framing_epoch ep = {.group_context = &gc};
	int rc;

	if (!ready) {
		init();
	}
	if (mls_message_decode_bytes(data, size, &m) != HALQA_OK) {
		return 0;
	}
	check(mls_secret_tree_new(&st, encryption_secret, LEAVES) == 0);
	ep.secrets = ks;
	ep.tree = st;
	if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
		rc = mls_framing_unprotect_public(&ep, &ac, &m.public_message);
	} else if (m.wire_format == MLS_WIRE_PRIVATE_MESSAGE) {
		rc = mls_framing_unprotect_private(&ep, &ac, &m.private_message);
	} else {
		rc = HALQA_ERR_UNSUPPORTED;
	}
	if (rc == HALQA_OK) {
		check(ac.content.epoch == gc.epoch);
		check(ac.content.group_id.len == gc.group_id.len &&
		      memcmp(ac.content.group_id.data, gc.group_id.data, gc.group_id.len) == 0);
		rc = mls_framing_verify(&ac, &gc, sig_pub);
		check(rc == HALQA_OK || rc == HALQA_ERR_CRYPTO);
	}
	mls_authenticated_content_cleanup(&ac);
	mls_message_cleanup(&m);
	mls_secret_tree_free(st);
	return 0;
}
