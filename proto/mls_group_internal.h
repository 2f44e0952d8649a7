/*
 * mls_group_internal.h: what mls_group.c shares with mls_group_state.c
 * (saving and loading a group) and no one else: the layout of a group and
 * the few checks both need.
 */
#ifndef HALQA_MLS_GROUP_INTERNAL_H
#define HALQA_MLS_GROUP_INTERNAL_H

#include "halqa/mls_codec_msg.h"
#include "halqa/mls_group.h"
#include "halqa/mls_key_schedule.h"
#include "halqa/mls_secret_tree.h"
#include "halqa/mls_tree.h"

/* One epoch of a group: everything a member needs to run it. */
struct mls_group_epoch {
	struct mls_group_context gc;
	struct mls_tree *tree;
	struct mls_tree_private *priv;
	struct mls_key_schedule_epoch *ks;
	struct mls_secret_tree *st;
	uint8_t interim[MLS_HASH_LEN];
	size_t interim_len; /* 0 in epoch 0 (8.2: empty), else 32 */
};

struct mls_group_cached_proposal {
	uint8_t ref[MLS_HASH_LEN];
	uint32_t sender; /* leaf, or UINT32_MAX for an external or new-member sender */
	struct mls_proposal p;
};

/* Resumption PSKs of past epochs kept for PreSharedKey proposals (8.6). */
#define MLS_GROUP_PSK_HISTORY 8

struct mls_group_past_psk {
	uint64_t epoch;
	uint8_t psk[MLS_HASH_LEN];
};

/* Our pending commit: the epoch it makes and what it looked like on the wire. */
struct mls_group_pending {
	struct mls_group_epoch next;
	uint8_t *msg; /* the encoded MLSMessage, to know it when the relay echoes it */
	size_t msg_len;
	uint32_t *added; /* leaves it adds and removes, for the commit event */
	size_t num_added;
	uint32_t *removed;
	size_t num_removed;
};

struct mls_group {
	struct mls_group_epoch cur;
	struct mls_group_past_psk
	    *history;       /* secmem_alloc'd ring of MLS_GROUP_PSK_HISTORY, lazily */
	size_t num_history; /* epochs recorded so far; slot = count % MLS_GROUP_PSK_HISTORY */
	struct mls_group_pending *pending; /* our commit awaiting the relay */
	uint8_t *sig_priv;                 /* secmem_alloc'd, MLS_SIG_PRIV_LEN */
	bool public_handshake;
	bool removed;
	const struct mls_group_psk_store *psks;
	struct mls_group_cached_proposal *props;
	size_t num_props;
	mls_group_testing_hook hook;
	void *hook_arg;
};

/* mls_group_epoch_cleanup wipes and frees what |s| holds (not |s| itself). */
void mls_group_epoch_cleanup(struct mls_group_epoch *s);

/* mls_group_pending_free wipes and frees |p|; NULL is a no-op. */
void mls_group_pending_free(struct mls_group_pending *p);

/*
 * mls_group_check_proposal applies the checks a received proposal from
 * |sender| (a leaf, or UINT32_MAX) must pass to be cached in |g|'s
 * current epoch (12.1): HALQA_OK, or the error that refuses it.
 */
HALQA_MUST_CHECK int mls_group_check_proposal(const struct mls_group *g,
					      const struct mls_proposal *p, uint32_t sender);

/* mls_group_tree_policy returns the LeafNode validation policy of epoch |s|. */
struct mls_tree_policy mls_group_tree_policy(const struct mls_group_epoch *s);

#endif
