/*
 * test_mls_group_state.c: mls_group_save, mls_group_load and
 * mls_group_load_own.
 *
 * A seeded random simulation (as test_mls_sim.c, smaller) saves and
 * loads every member after every operation and goes on with the loaded
 * copies, committers included while their commit is pending: if anything
 * a group needs were lost or changed, the members would stop agreeing on
 * the epoch authenticator or stop decrypting each other. Every reload
 * loads the bytes both ways, checks the two groups are the same, and goes
 * on with one or the other in turn, so groups from mls_group_load_own
 * send, receive, commit and get removed too. Then out-of-order keys
 * across a save, a removed member's state, and damaged states: every
 * truncation refused by both loads, single-bit flips either refused or,
 * where they hit a secret with no public image, loaded into a group whose
 * public state is unchanged and whose save gives back exactly the flipped
 * bytes (the own load accepting all the full load accepts, and refusing
 * the structural damage), and a key of the wrong length in a tree whose
 * hash was made to agree, refused by both.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_codec.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"
#include "halqa/mls_tree.h"
#include "harness.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ST_SANITIZED 1
#endif
#ifdef ST_SANITIZED
#define ST_OPS 30
#else
#define ST_OPS 80
#endif

#define ST_MAX 8

struct member {
	uint8_t sig_priv[MLS_SIG_PRIV_LEN];
	uint8_t sig_pub[MLS_SIG_PUB_LEN];
	struct mls_group *g;
};

static struct member *members[ST_MAX];
static size_t num_members;
static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static size_t stat_reloads, stat_own_kept;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: the operation sequence only, never key material. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

static struct member *member_new(struct mls_key_package *kp, struct mls_keypackage_private *kpp)
{
	struct member *m = calloc(1, sizeof *m);

	if (m == NULL) {
		abort();
	}
	crypto_sign_keypair(m->sig_pub, m->sig_priv);
	CHECK_OK(mls_keypackage_create(kp, kpp, m->sig_priv, 0, UINT64_MAX, false));
	return m;
}

static void member_free(struct member *m)
{
	if (m != NULL) {
		mls_group_free(m->g);
		sodium_memzero(m, sizeof *m);
		free(m);
	}
}

/* Public view of a group, to compare two groups that should be the same. */
static void check_same_public(const struct mls_group *a, const struct mls_group *b)
{
	struct mls_group_member *ma = NULL, *mb = NULL;
	size_t na = 0, nb = 0;

	CHECK_INT_EQ(mls_group_epoch(a), mls_group_epoch(b));
	CHECK_INT_EQ(mls_group_own_leaf(a), mls_group_own_leaf(b));
	CHECK_INT_EQ(mls_group_is_removed(a), mls_group_is_removed(b));
	CHECK_INT_EQ(mls_group_has_pending(a), mls_group_has_pending(b));
	CHECK_OK(mls_group_members(a, &ma, &na));
	CHECK_OK(mls_group_members(b, &mb, &nb));
	CHECK_INT_EQ(na, nb);
	if (na == nb && na > 0) {
		CHECK(memcmp(ma, mb, na * sizeof *ma) == 0);
	}
	free(ma);
	free(mb);
}

/*
 * Checks that |copy| agrees with |g|: epoch authenticator, an exported
 * secret, public view, and a save giving back |state|.
 */
static void check_same_group(const struct mls_group *g, const struct mls_group *copy,
			     const uint8_t *state, size_t len)
{
	uint8_t a1[MLS_HASH_LEN], a2[MLS_HASH_LEN], e1[16], e2[16];
	uint8_t *again = NULL;
	size_t again_len = 0;

	mls_group_epoch_authenticator(g, a1);
	mls_group_epoch_authenticator(copy, a2);
	CHECK(sodium_memcmp(a1, a2, sizeof a1) == 0);
	CHECK_OK(mls_group_export(g, "test", (const uint8_t *)"c", 1, e1, sizeof e1));
	CHECK_OK(mls_group_export(copy, "test", (const uint8_t *)"c", 1, e2, sizeof e2));
	CHECK(sodium_memcmp(e1, e2, sizeof e1) == 0);
	check_same_public(g, copy);
	CHECK_OK(mls_group_save(copy, &again, &again_len));
	CHECK_MEM_EQ(again, again_len, state, len);
	mls_group_state_free(again, again_len);
}

/*
 * Saves |*g|, loads the bytes with mls_group_load and with
 * mls_group_load_own, checks both copies agree with the original, and
 * replaces |*g| with one of them, the own load's every other time.
 */
static void reload(struct mls_group **g)
{
	uint8_t *s1 = NULL;
	size_t l1 = 0;
	struct mls_group *copy = NULL, *own = NULL;
	uint8_t h1[MLS_GROUP_STATE_DIGEST_LEN], h2[MLS_GROUP_STATE_DIGEST_LEN];

	CHECK_OK(mls_group_save(*g, &s1, &l1));
	if (s1 == NULL) {
		return;
	}
	/* The state's hash is the digest of its saved bytes. */
	mls_group_state_digest(h1, s1, l1);
	CHECK_OK(mls_group_state_hash(*g, h2));
	CHECK_MEM_EQ(h2, sizeof h2, h1, sizeof h1);
	CHECK_OK(mls_group_load(&copy, s1, l1, NULL));
	CHECK_OK(mls_group_load_own(&own, s1, l1, NULL));
	if (copy == NULL || own == NULL) {
		mls_group_free(copy);
		mls_group_free(own);
		mls_group_state_free(s1, l1);
		return;
	}
	check_same_group(*g, copy, s1, l1);
	check_same_group(*g, own, s1, l1);
	mls_group_state_free(s1, l1);
	mls_group_free(*g);
	if (stat_reloads % 2 == 1) {
		*g = own;
		mls_group_free(copy);
		stat_own_kept++;
	} else {
		*g = copy;
		mls_group_free(own);
	}
	stat_reloads++;
}

static void reload_all(void)
{
	for (size_t i = 0; i < num_members; i++) {
		reload(&members[i]->g);
	}
}

static void check_agreement(void)
{
	uint8_t a[MLS_HASH_LEN], b[MLS_HASH_LEN];

	mls_group_epoch_authenticator(members[0]->g, a);
	for (size_t i = 1; i < num_members; i++) {
		mls_group_epoch_authenticator(members[i]->g, b);
		if (sodium_memcmp(a, b, sizeof a) != 0) {
			harness_fail(__FILE__, __LINE__, "member %zu disagrees on the epoch", i);
			return;
		}
	}
}

/* The committer (reloaded while its commit is pending) confirms; the others process. */
static void distribute(size_t committer, const uint8_t *commit, size_t len, size_t skip)
{
	reload(&members[committer]->g);
	CHECK(mls_group_has_pending(members[committer]->g));
	CHECK_OK(mls_group_commit_confirm(members[committer]->g));
	for (size_t i = 0; i < num_members; i++) {
		struct mls_group_event ev;

		if (i == committer || i == skip) {
			continue;
		}
		CHECK_OK(mls_group_process(members[i]->g, commit, len, &ev));
		CHECK_INT_EQ(ev.type, MLS_GROUP_EVENT_COMMIT);
		mls_group_event_cleanup(&ev);
	}
}

static void op_add(void)
{
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;
	struct member *m = member_new(&kp, &kpp);
	size_t committer = rnd((uint32_t)num_members);
	uint8_t *commit = NULL, *welcome = NULL;
	size_t commit_len = 0, welcome_len = 0;

	mls_group_set_handshake_public(members[committer]->g, rnd(2) == 0);
	CHECK_OK(mls_group_commit_add(members[committer]->g, &kp, 1, 0, &commit, &commit_len,
				      &welcome, &welcome_len));
	if (commit == NULL) {
		member_free(m);
		mls_key_package_cleanup(&kp);
		return;
	}
	distribute(committer, commit, commit_len, SIZE_MAX);
	CHECK_OK(
	    mls_group_join(&m->g, welcome, welcome_len, NULL, 0, m->sig_priv, &kp, &kpp, NULL));
	if (m->g == NULL) {
		abort();
	}
	members[num_members++] = m;
	free(commit);
	free(welcome);
	mls_key_package_cleanup(&kp);
}

static void op_remove(void)
{
	size_t committer = rnd((uint32_t)num_members), victim;
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	uint32_t leaf;

	do {
		victim = rnd((uint32_t)num_members);
	} while (victim == committer);
	leaf = mls_group_own_leaf(members[victim]->g);
	CHECK_OK(mls_group_commit_remove(members[committer]->g, &leaf, 1, &commit, &commit_len));
	if (commit == NULL) {
		return;
	}
	distribute(committer, commit, commit_len, victim);
	free(commit);
	member_free(members[victim]);
	members[victim] = members[--num_members];
}

static void op_update(void)
{
	size_t committer = rnd((uint32_t)num_members);
	uint8_t *commit = NULL;
	size_t commit_len = 0;

	CHECK_OK(mls_group_commit_update(members[committer]->g, &commit, &commit_len));
	if (commit != NULL) {
		distribute(committer, commit, commit_len, SIZE_MAX);
	}
	free(commit);
}

/* A message from a random sender; each receiver is reloaded between two messages. */
static void op_messages(size_t n)
{
	size_t sender = rnd((uint32_t)num_members);
	uint8_t *ct[2] = {NULL, NULL};
	size_t ct_len[2] = {0, 0};
	char text[2][48];

	for (int k = 0; k < 2; k++) {
		snprintf(text[k], sizeof text[k], "message %zu.%d", n, k);
		CHECK_OK(mls_group_protect(members[sender]->g, (const uint8_t *)text[k],
					   strlen(text[k]), &ct[k], &ct_len[k]));
	}
	for (size_t i = 0; i < num_members && ct[1] != NULL; i++) {
		/* Half the receivers get the second message first. */
		int first = (int)rnd(2);

		if (i == sender) {
			continue;
		}
		for (int k = 0; k < 2; k++) {
			int which = k == 0 ? first : 1 - first;
			struct mls_group_event ev;

			CHECK_OK(mls_group_process(members[i]->g, ct[which], ct_len[which], &ev));
			CHECK_MEM_EQ(ev.data, ev.data_len, (const uint8_t *)text[which],
				     strlen(text[which]));
			mls_group_event_cleanup(&ev);
			reload(&members[i]->g);
		}
	}
	free(ct[0]);
	free(ct[1]);
}

static void sim_cleanup(void)
{
	for (size_t i = 0; i < num_members; i++) {
		member_free(members[i]);
		members[i] = NULL;
	}
	num_members = 0;
}

static void sim_start(void)
{
	struct mls_key_package kp = {0};
	struct mls_keypackage_private kpp;
	static const uint8_t gid[] = "state-circle";

	members[0] = member_new(&kp, &kpp);
	CHECK_OK(mls_group_create(&members[0]->g, gid, sizeof gid - 1, members[0]->sig_priv, &kp,
				  &kpp, NULL));
	mls_key_package_cleanup(&kp);
	num_members = 1;
	if (members[0]->g == NULL) {
		abort();
	}
	reload(&members[0]->g); /* epoch 0: no transcript yet */
}

static void test_round_trip_simulation(void)
{
	sim_start();
	for (size_t n = 0; n < ST_OPS && harness_current_failed == 0; n++) {
		uint32_t r = rnd(10);

		if (num_members < 3 || (r < 3 && num_members < ST_MAX)) {
			op_add();
		} else if (r < 5 && num_members > 2) {
			op_remove();
		} else if (r < 7) {
			op_update();
		} else {
			op_messages(n);
		}
		reload_all();
		check_agreement();
	}
	printf("state: %d ops, %zu save/load round trips (%zu going on with the own load), %zu "
	       "members, epoch %llu\n",
	       ST_OPS, stat_reloads, stat_own_kept, num_members,
	       (unsigned long long)mls_group_epoch(members[0]->g));
	CHECK(stat_own_kept > 0);
	sim_cleanup();
}

/* Keys kept for skipped generations are saved: late messages still decrypt, once. */
static void test_out_of_order_keys_survive(void)
{
	uint8_t *ct[4] = {0};
	size_t ct_len[4] = {0};
	struct mls_group_event ev;

	sim_start();
	op_add();
	for (int k = 0; k < 4; k++) {
		CHECK_OK(
		    mls_group_protect(members[0]->g, (const uint8_t *)"x", 1, &ct[k], &ct_len[k]));
	}
	CHECK_OK(mls_group_process(members[1]->g, ct[3], ct_len[3], &ev));
	mls_group_event_cleanup(&ev);
	reload(&members[1]->g);
	for (int k = 0; k < 3; k++) {
		CHECK_OK(mls_group_process(members[1]->g, ct[k], ct_len[k], &ev));
		mls_group_event_cleanup(&ev);
		reload(&members[1]->g);
	}
	/* Consumed keys stay consumed across a save: no replay. */
	for (int k = 0; k < 4; k++) {
		CHECK_RC(mls_group_process(members[1]->g, ct[k], ct_len[k], &ev),
			 HALQA_ERR_NOT_FOUND);
		free(ct[k]);
	}
	sim_cleanup();
}

/* A message sent moves the ratchet: the state's hash changes with it, and only then. */
static void test_state_hash_follows_ratchet(void)
{
	uint8_t before[MLS_GROUP_STATE_DIGEST_LEN], again[MLS_GROUP_STATE_DIGEST_LEN],
	    after[MLS_GROUP_STATE_DIGEST_LEN];
	uint8_t *ct = NULL;
	size_t ct_len = 0;

	sim_start();
	op_add();
	CHECK_OK(mls_group_state_hash(members[0]->g, before));
	CHECK_OK(mls_group_state_hash(members[0]->g, again));
	CHECK_MEM_EQ(again, sizeof again, before, sizeof before);
	CHECK_OK(mls_group_protect(members[0]->g, (const uint8_t *)"x", 1, &ct, &ct_len));
	CHECK_OK(mls_group_state_hash(members[0]->g, after));
	CHECK(memcmp(after, before, sizeof after) != 0);
	CHECK_RC(mls_group_state_hash(NULL, after), HALQA_ERR_ARG);
	free(ct);
	sim_cleanup();
}

/* A removed member's state keeps saying so. */
static void test_removed_state(void)
{
	uint8_t *commit = NULL, *ct = NULL;
	size_t commit_len = 0, ct_len = 0;
	uint32_t leaf;
	struct mls_group_event ev;

	sim_start();
	op_add();
	op_add();
	leaf = mls_group_own_leaf(members[2]->g);
	CHECK_OK(mls_group_commit_remove(members[0]->g, &leaf, 1, &commit, &commit_len));
	CHECK_OK(mls_group_commit_confirm(members[0]->g));
	CHECK_OK(mls_group_process(members[2]->g, commit, commit_len, &ev));
	CHECK(ev.removed);
	mls_group_event_cleanup(&ev);
	reload(&members[2]->g);
	CHECK(mls_group_is_removed(members[2]->g));
	CHECK_OK(mls_group_protect(members[0]->g, (const uint8_t *)"after", 5, &ct, &ct_len));
	CHECK_RC(mls_group_process(members[2]->g, ct, ct_len, &ev), HALQA_ERR_DENIED);
	free(ct);
	free(commit);
	sim_cleanup();
}

/* Cached proposals are saved: a later commit referring to them is understood. */
static void test_cached_proposals_survive(void)
{
	uint8_t *prop = NULL, *commit = NULL;
	size_t prop_len = 0, commit_len = 0;
	struct mls_group_event ev;

	sim_start();
	op_add();
	op_add();
	CHECK_OK(mls_group_propose_remove(members[1]->g, 2, &prop, &prop_len));
	reload(&members[1]->g);
	CHECK_INT_EQ(mls_group_num_proposals(members[1]->g), 1);
	for (size_t i = 0; i < num_members; i += 2) {
		CHECK_OK(mls_group_process(members[i]->g, prop, prop_len, &ev));
		mls_group_event_cleanup(&ev);
		reload(&members[i]->g);
		CHECK_INT_EQ(mls_group_num_proposals(members[i]->g), 1);
	}
	CHECK_OK(mls_group_commit_proposals(members[0]->g, &commit, &commit_len));
	distribute(0, commit, commit_len, 2);
	CHECK_OK(mls_group_process(members[2]->g, commit, commit_len, &ev));
	CHECK(ev.removed);
	mls_group_event_cleanup(&ev);
	reload(&members[2]->g);
	CHECK(mls_group_is_removed(members[2]->g));
	member_free(members[2]);
	members[2] = NULL;
	num_members = 2;
	check_agreement();
	free(prop);
	free(commit);
	sim_cleanup();
}

/*
 * A state of three members with a cached proposal, kept keys and a
 * pending commit: the damage tests' subject.
 */
static void damaged_subject(uint8_t **state, size_t *len)
{
	uint8_t *ct = NULL, *commit = NULL, *prop = NULL;
	size_t ct_len = 0, commit_len = 0, prop_len = 0;
	struct mls_group_event ev;

	sim_start();
	op_add();
	op_add();
	CHECK_OK(mls_group_propose_remove(members[2]->g, 2, &prop, &prop_len));
	CHECK_OK(mls_group_process(members[0]->g, prop, prop_len, &ev));
	mls_group_event_cleanup(&ev);
	free(prop);
	for (int k = 0; k < 3; k++) {
		CHECK_OK(mls_group_protect(members[1]->g, (const uint8_t *)"y", 1, &ct, &ct_len));
		if (k == 2) {
			CHECK_OK(mls_group_process(members[0]->g, ct, ct_len, &ev));
			mls_group_event_cleanup(&ev);
		}
		free(ct);
	}
	CHECK_OK(mls_group_commit_update(members[0]->g, &commit, &commit_len));
	free(commit);
	CHECK_OK(mls_group_save(members[0]->g, state, len));
}

static void test_truncations_refused(void)
{
	uint8_t *state = NULL;
	size_t len = 0;
	struct mls_group *g = NULL;

	damaged_subject(&state, &len);
	for (size_t cut = 0; cut < len && state != NULL; cut++) {
		for (int own = 0; own < 2; own++) {
			int rc = own ? mls_group_load_own(&g, state, cut, NULL)
				     : mls_group_load(&g, state, cut, NULL);

			if (rc == HALQA_OK || g != NULL) {
				harness_fail(__FILE__, __LINE__, "a state cut to %zu of %zu loaded%s",
					     cut, len, own ? " as our own" : "");
				mls_group_free(g);
				g = NULL;
			}
		}
	}
	/* And one byte too many. */
	if (state != NULL) {
		uint8_t *longer = malloc(len + 1);

		memcpy(longer, state, len);
		longer[len] = 0;
		CHECK_RC(mls_group_load(&g, longer, len + 1, NULL), HALQA_ERR_MALFORMED);
		CHECK(g == NULL);
		CHECK_RC(mls_group_load_own(&g, longer, len + 1, NULL), HALQA_ERR_MALFORMED);
		CHECK(g == NULL);
		free(longer);
	}
	mls_group_state_free(state, len);
	sim_cleanup();
}

/*
 * The first byte of each 8-byte word gets one flip, of a bit that moves
 * with the position: refused, or loaded with the same public state and a
 * save that gives back the flipped bytes. The own load accepts every flip
 * the full load accepts; what only the full load refuses lands in a
 * secret whose public image only a public-key operation shows (the
 * signing key's seed, our private keys, the external key pair): each of
 * the tree's bytes is covered by the tree hash. Such a group is wrong but
 * safe to use: it seals a message and builds a self-update.
 */
static void test_flips_refused_or_harmless(void)
{
	uint8_t *state = NULL, *copy = NULL;
	size_t len = 0, refused = 0, accepted = 0, own_only = 0;
	struct mls_group *g = NULL, *own = NULL;

	damaged_subject(&state, &len);
	if (state == NULL || (copy = malloc(len)) == NULL) {
		mls_group_state_free(state, len);
		sim_cleanup();
		return;
	}
	for (size_t pos = 0; pos < len; pos += 8) {
		uint8_t *again = NULL;
		size_t again_len = 0;
		int rc_full, rc_own;

		memcpy(copy, state, len);
		copy[pos] ^= (uint8_t)(1u << (pos / 8 % 8));
		rc_full = mls_group_load(&g, copy, len, NULL);
		rc_own = mls_group_load_own(&own, copy, len, NULL);
		CHECK((rc_full == HALQA_OK) == (g != NULL));
		CHECK((rc_own == HALQA_OK) == (own != NULL));
		if (rc_own != HALQA_OK) {
			if (rc_full == HALQA_OK) {
				harness_fail(__FILE__, __LINE__,
					     "flip at %zu: only the own load refused (%s)", pos,
					     halqa_errname(rc_own));
			}
			refused++;
		} else if (rc_full != HALQA_OK) {
			own_only++;
		} else {
			accepted++;
		}
		if (own != NULL) {
			check_same_public(own, members[0]->g);
			CHECK_OK(mls_group_save(own, &again, &again_len));
			CHECK_MEM_EQ(again, again_len, copy, len);
			mls_group_state_free(again, again_len);
		}
		if (g != NULL && own != NULL) {
			check_same_group(g, own, copy, len);
		}
		if (own != NULL && g == NULL) {
			uint8_t *msg = NULL;
			size_t msg_len = 0;

			/* Wrong, but safe to use: it seals and commits (its peers would refuse). */
			CHECK_OK(mls_group_protect(own, (const uint8_t *)"z", 1, &msg, &msg_len));
			free(msg);
			msg = NULL;
			mls_group_commit_discard(own);
			if (mls_group_commit_update(own, &msg, &msg_len) == HALQA_OK) {
				mls_group_commit_discard(own);
			}
			free(msg);
		}
		mls_group_free(g);
		mls_group_free(own);
		g = NULL;
		own = NULL;
	}
	printf("state: %zu bytes; of %zu flips %zu refused by both loads, %zu only by the full "
	       "load, %zu in secrets loaded\n",
	       len, refused + own_only + accepted, refused, own_only, accepted);
	/* The flags, lengths, GroupContext, tree and keys with public images are most of it. */
	CHECK(refused + own_only > accepted);
	/* The structure and the tree hash alone still refuse more than half of what is hit. */
	CHECK(refused > accepted);
	/* The full load still checks what the own load skips. */
	CHECK(own_only > 0);
	free(copy);
	mls_group_state_free(state, len);
	sim_cleanup();
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Takes one from the MLS varint (RFC 9420 2.1.2) at |p|, keeping its width. */
static void varint_dec(uint8_t *p)
{
	size_t width = (size_t)1 << (p[0] >> 6);
	uint32_t v = p[0] & 0x3fu;

	for (size_t i = 1; i < width; i++) {
		v = v << 8 | p[i];
	}
	CHECK(v > (width == 1 ? 0u : width == 2 ? 63u : 16383u) + 1);
	v--;
	for (size_t i = width; i-- > 1;) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	p[0] = (uint8_t)((p[0] & 0xc0u) | v);
}

static void tree_hash_of(const uint8_t *tree, size_t len, uint8_t out[MLS_HASH_LEN])
{
	struct mls_tree *t = NULL;

	memset(out, 0, MLS_HASH_LEN);
	CHECK_OK(mls_tree_load(&t, tree, len));
	if (t != NULL) {
		CHECK_OK(mls_tree_hash(t, out));
	}
	mls_tree_free(t);
}

/*
 * Member 1's signature key in member 0's saved state (no pending commit)
 * edited by |shorten| (drop its last byte) or not (change its last
 * byte), with the tree's length prefixes and the GroupContext's tree
 * hash made to agree with the edited tree, as a faulty save would write
 * it. Returns the new state (malloc'd) and its length.
 */
static uint8_t *edit_member_key(const uint8_t *state, size_t len, bool shorten, size_t *out_len)
{
	const size_t gc_at = 4 + 2 + 1 + MLS_SIG_PRIV_LEN; /* magic, version, flags, sig_priv */
	uint8_t old_hash[MLS_HASH_LEN], new_hash[MLS_HASH_LEN], *out;
	size_t gc_len, tree_at, tree_len, key_at = 0;

	gc_len = get_be32(state + gc_at);
	tree_at = gc_at + 4 + gc_len + 4;
	tree_len = get_be32(state + tree_at - 4);
	for (size_t i = tree_at; i + 1 + MLS_SIG_PUB_LEN <= tree_at + tree_len; i++) {
		if (state[i] == MLS_SIG_PUB_LEN &&
		    memcmp(state + i + 1, members[1]->sig_pub, MLS_SIG_PUB_LEN) == 0) {
			key_at = i;
			break;
		}
	}
	CHECK(key_at != 0);
	tree_hash_of(state + tree_at, tree_len, old_hash);
	if ((out = malloc(len)) == NULL) {
		abort();
	}
	memcpy(out, state, len);
	*out_len = len;
	if (key_at == 0) {
		return out;
	}
	if (shorten) {
		/* A 31-byte key: its prefix, the tree's vector length and our u32 each one less. */
		memmove(out + key_at + MLS_SIG_PUB_LEN, out + key_at + MLS_SIG_PUB_LEN + 1,
			len - key_at - MLS_SIG_PUB_LEN - 1);
		out[key_at] = MLS_SIG_PUB_LEN - 1;
		varint_dec(out + tree_at);
		tree_len--;
		put_be32(out + tree_at - 4, (uint32_t)tree_len);
		*out_len = len - 1;
	} else {
		out[key_at + MLS_SIG_PUB_LEN] ^= 1;
	}
	tree_hash_of(out + tree_at, tree_len, new_hash);
	for (size_t i = gc_at + 4; i + MLS_HASH_LEN <= gc_at + 4 + gc_len; i++) {
		if (memcmp(out + i, old_hash, MLS_HASH_LEN) == 0) {
			memcpy(out + i, new_hash, MLS_HASH_LEN);
			return out;
		}
	}
	harness_fail(__FILE__, __LINE__, "the tree hash is not in the GroupContext");
	return out;
}

/*
 * A member's signature key one byte short, in a tree whose hash agrees:
 * both loads refuse it (the group code hands a member's key to the
 * verifier as MLS_SIG_PUB_LEN bytes). The same edit keeping the length
 * is what the own load does not see and the full load does: the leaf's
 * signature no longer verifies.
 */
static void test_wrong_key_length_refused(void)
{
	uint8_t *state = NULL, *bad = NULL;
	size_t len = 0, bad_len = 0;
	struct mls_group *g = NULL;

	sim_start();
	op_add();
	CHECK_OK(mls_group_save(members[0]->g, &state, &len));
	if (state == NULL) {
		sim_cleanup();
		return;
	}
	bad = edit_member_key(state, len, true, &bad_len);
	CHECK_RC(mls_group_load_own(&g, bad, bad_len, NULL), HALQA_ERR_INVALID);
	CHECK(g == NULL);
	CHECK(mls_group_load(&g, bad, bad_len, NULL) != HALQA_OK);
	CHECK(g == NULL);
	free(bad);
	bad = edit_member_key(state, len, false, &bad_len);
	CHECK_OK(mls_group_load_own(&g, bad, bad_len, NULL));
	mls_group_free(g);
	g = NULL;
	CHECK(mls_group_load(&g, bad, bad_len, NULL) != HALQA_OK);
	CHECK(g == NULL);
	free(bad);
	mls_group_state_free(state, len);
	sim_cleanup();
}

static void test_bad_header(void)
{
	uint8_t *state = NULL;
	size_t len = 0;
	struct mls_group *g = NULL;

	damaged_subject(&state, &len);
	if (state != NULL) {
		state[0] ^= 1;
		CHECK_RC(mls_group_load(&g, state, len, NULL), HALQA_ERR_MALFORMED);
		state[0] ^= 1;
		state[5] ^= 2; /* version 1 -> 3 */
		CHECK_RC(mls_group_load(&g, state, len, NULL), HALQA_ERR_UNSUPPORTED);
		state[5] ^= 2;
		state[6] |= 0x80; /* an unknown flag */
		CHECK_RC(mls_group_load(&g, state, len, NULL), HALQA_ERR_INVALID);
		state[6] &= 0x7f;
		CHECK_OK(mls_group_load(&g, state, len, NULL));
		mls_group_free(g);
		g = NULL;
		state[0] ^= 1;
		CHECK_RC(mls_group_load_own(&g, state, len, NULL), HALQA_ERR_MALFORMED);
		state[0] ^= 1;
		state[5] ^= 2;
		CHECK_RC(mls_group_load_own(&g, state, len, NULL), HALQA_ERR_UNSUPPORTED);
		state[5] ^= 2;
		state[6] |= 0x80;
		CHECK_RC(mls_group_load_own(&g, state, len, NULL), HALQA_ERR_INVALID);
		state[6] &= 0x7f;
		CHECK_OK(mls_group_load_own(&g, state, len, NULL));
		mls_group_free(g);
		g = NULL;
	}
	CHECK_RC(mls_group_load(&g, NULL, 0, NULL), HALQA_ERR_ARG);
	CHECK(g == NULL);
	CHECK_RC(mls_group_load_own(&g, NULL, 0, NULL), HALQA_ERR_ARG);
	CHECK_RC(mls_group_load_own(NULL, state, len, NULL), HALQA_ERR_ARG);
	CHECK(g == NULL);
	mls_group_state_free(state, len);
	sim_cleanup();
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_round_trip_simulation);
	RUN(test_out_of_order_keys_survive);
	RUN(test_state_hash_follows_ratchet);
	RUN(test_removed_state);
	RUN(test_cached_proposals_survive);
	RUN(test_truncations_refused);
	RUN(test_flips_refused_or_harmless);
	RUN(test_wrong_key_length_refused);
	RUN(test_bad_header);
	return harness_report();
}
