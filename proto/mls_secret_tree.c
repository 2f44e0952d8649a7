/*
 * mls_secret_tree.c: RFC 9420 section 9, the secret tree and the senders'
 * hash ratchets, with the deletion schedule of section 9.2.
 *
 * State is three sorted arrays in locked secmem memory (grown by doubling,
 * the old buffer wiped by secmem_free):
 *   nodes   the frontier: secrets of subtree roots no leaf has used yet.
 *           Initially only the root (encryption_secret). Using a leaf
 *           finds the frontier node above it, splits it down to the leaf,
 *           leaves the off-path children on the frontier and wipes every
 *           secret on the path: after that the tree cannot re-derive any
 *           node above the leaf, which is the forward secrecy section 9.2
 *           asks for.
 *   leaves  per used leaf, the two ratchets: current secret and the next
 *           generation it will produce.
 *   kept    keys and nonces of skipped generations, per (leaf, ratchet,
 *           generation), at most MLS_SECRET_TREE_WINDOW per ratchet.
 *
 * Every mutation is computed into wiped temporaries first and committed
 * only when nothing can fail any more (capacity is reserved up front), so
 * a failed call leaves the arrays as they were. Receiving is split into
 * get_key (derive, no change to what can be decrypted) and consume (after
 * the AEAD verified), so a forged message with a far generation cannot
 * push a ratchet forward and evict the keys of real messages.
 */
#include "halqa/mls_secret_tree.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/mls_tree_math.h"
#include "halqa/secmem.h"

/* A growable array of fixed-size elements in locked secmem memory. */
struct sarr {
	void *buf;
	size_t num;
	size_t cap;
	size_t elem;
};

struct st_node {
	uint32_t index;
	uint8_t secret[MLS_HASH_LEN];
};

struct st_ratchet {
	uint8_t secret[MLS_HASH_LEN];
	uint32_t next_gen;
};

struct st_leaf {
	uint32_t leaf;
	struct st_ratchet r[2];
};

struct st_kept {
	uint32_t leaf;
	uint32_t type;
	uint32_t generation;
	uint8_t key[MLS_AEAD_KEY_LEN];
	uint8_t nonce[MLS_AEAD_NONCE_LEN];
};

struct mls_secret_tree {
	uint32_t n_leaves;
	struct sarr nodes;  /* struct st_node, by index */
	struct sarr leaves; /* struct st_leaf, by leaf */
	struct sarr kept;   /* struct st_kept, by (leaf, type, generation) */
};

static void *sarr_at(const struct sarr *a, size_t i)
{
	return (uint8_t *)a->buf + i * a->elem;
}

/* Makes room for |extra| more elements; on failure the array is unchanged. */
static int sarr_reserve(struct sarr *a, size_t extra)
{
	size_t cap = a->cap != 0 ? a->cap : 4;
	void *nb;

	if (extra <= a->cap - a->num) {
		return HALQA_OK;
	}
	while (cap - a->num < extra) {
		if (cap > SIZE_MAX / 2 / a->elem) {
			return HALQA_ERR_NOMEM;
		}
		cap *= 2;
	}
	if ((nb = secmem_alloc(cap * a->elem)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (a->num > 0) {
		memcpy(nb, a->buf, a->num * a->elem);
	}
	secmem_free(a->buf); /* wipes the old copy */
	a->buf = nb;
	a->cap = cap;
	return HALQA_OK;
}

/* Inserts |e| at |pos|; capacity must have been reserved. */
static void sarr_insert(struct sarr *a, size_t pos, const void *e)
{
	memmove(sarr_at(a, pos + 1), sarr_at(a, pos), (a->num - pos) * a->elem);
	memcpy(sarr_at(a, pos), e, a->elem);
	a->num++;
}

/* Removes |count| elements at |pos| and wipes the vacated tail. */
static void sarr_remove(struct sarr *a, size_t pos, size_t count)
{
	memmove(sarr_at(a, pos), sarr_at(a, pos + count), (a->num - pos - count) * a->elem);
	a->num -= count;
	sodium_memzero(sarr_at(a, a->num), count * a->elem);
}

static void sarr_free(struct sarr *a)
{
	secmem_free(a->buf);
	a->buf = NULL;
	a->num = a->cap = 0;
}

/* First frontier position whose index is >= |x|. */
static size_t nodes_lower_bound(const struct sarr *a, uint32_t x)
{
	size_t lo = 0, hi = a->num;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (((const struct st_node *)sarr_at(a, mid))->index < x) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* Position of |leaf| (or where it would go); returns 1 if present. */
static int leaves_find(const struct sarr *a, uint32_t leaf, size_t *pos)
{
	size_t lo = 0, hi = a->num;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (((const struct st_leaf *)sarr_at(a, mid))->leaf < leaf) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*pos = lo;
	return lo < a->num && ((const struct st_leaf *)sarr_at(a, lo))->leaf == leaf;
}

static int kept_less(const struct st_kept *k, uint32_t leaf, uint32_t type, uint32_t gen)
{
	if (k->leaf != leaf) {
		return k->leaf < leaf;
	}
	if (k->type != type) {
		return k->type < type;
	}
	return k->generation < gen;
}

/* Position of (leaf, type, gen) in kept (or where it would go); 1 if present. */
static int kept_find(const struct sarr *a, uint32_t leaf, uint32_t type, uint32_t gen,
		     size_t *pos)
{
	size_t lo = 0, hi = a->num;
	const struct st_kept *k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (kept_less(sarr_at(a, mid), leaf, type, gen)) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*pos = lo;
	if (lo == a->num) {
		return 0;
	}
	k = sarr_at(a, lo);
	return k->leaf == leaf && k->type == type && k->generation == gen;
}

int mls_secret_tree_new(struct mls_secret_tree **out,
			const uint8_t encryption_secret[MLS_HASH_LEN], uint32_t n_leaves)
{
	struct mls_secret_tree *t = NULL;
	struct st_node root;
	int rc;

	*out = NULL;
	if (encryption_secret == NULL || !mls_tree_math_valid_leaves(n_leaves)) {
		return HALQA_ERR_ARG;
	}
	if ((t = calloc(1, sizeof *t)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	t->n_leaves = n_leaves;
	t->nodes.elem = sizeof(struct st_node);
	t->leaves.elem = sizeof(struct st_leaf);
	t->kept.elem = sizeof(struct st_kept);
	if ((rc = sarr_reserve(&t->nodes, 1)) != HALQA_OK) {
		goto out;
	}
	root.index = n_leaves - 1;
	memcpy(root.secret, encryption_secret, MLS_HASH_LEN);
	sarr_insert(&t->nodes, 0, &root);
	sodium_memzero(&root, sizeof root);
	*out = t;
	t = NULL;
	rc = HALQA_OK;
out:
	mls_secret_tree_free(t);
	return rc;
}

void mls_secret_tree_free(struct mls_secret_tree *tree)
{
	if (tree == NULL) {
		return;
	}
	sarr_free(&tree->nodes);
	sarr_free(&tree->leaves);
	sarr_free(&tree->kept);
	free(tree);
}

uint32_t mls_secret_tree_n_leaves(const struct mls_secret_tree *tree)
{
	return tree->n_leaves;
}

void mls_secret_tree_get_stats(const struct mls_secret_tree *tree,
			       struct mls_secret_tree_stats *out)
{
	out->num_node_secrets = tree->nodes.num;
	out->num_leaves = tree->leaves.num;
	out->num_retained = tree->kept.num;
}

void mls_secret_tree_key_wipe(struct mls_secret_tree_key *key)
{
	sodium_memzero(key, sizeof *key);
}

/*
 * Returns the ratchets of |leaf|, deriving them from the frontier on first
 * use: the frontier node above the leaf is split level by level (RFC 9420
 * 9: "tree" with context "left" / "right"), the off-path children join the
 * frontier, and the path secrets and the leaf secret are wiped.
 */
static int ensure_leaf(struct mls_secret_tree *t, uint32_t leaf, struct st_leaf **out)
{
	struct st_node off[MLS_TREE_MATH_MAX_PATH];
	struct st_leaf fresh;
	uint8_t cur_secret[MLS_HASH_LEN], left_secret[MLS_HASH_LEN], right_secret[MLS_HASH_LEN];
	uint32_t x = 2 * leaf, cur, num_off = 0;
	size_t pos, leaf_pos, anc = SIZE_MAX;
	int rc;

	if (leaves_find(&t->leaves, leaf, &leaf_pos)) {
		*out = sarr_at(&t->leaves, leaf_pos);
		return HALQA_OK;
	}
	/* Frontier subtrees are disjoint: only the nearest two can hold x. */
	pos = nodes_lower_bound(&t->nodes, x);
	if (pos < t->nodes.num &&
	    mls_tree_math_is_ancestor(((struct st_node *)sarr_at(&t->nodes, pos))->index, x)) {
		anc = pos;
	} else if (pos > 0 && mls_tree_math_is_ancestor(
				      ((struct st_node *)sarr_at(&t->nodes, pos - 1))->index, x)) {
		anc = pos - 1;
	}
	if (anc == SIZE_MAX) {
		return HALQA_ERR_INTERNAL; /* a leaf is either derived or under the frontier */
	}
	cur = ((struct st_node *)sarr_at(&t->nodes, anc))->index;
	if ((rc = sarr_reserve(&t->nodes, mls_tree_math_level(cur))) != HALQA_OK ||
	    (rc = sarr_reserve(&t->leaves, 1)) != HALQA_OK) {
		return rc;
	}
	memcpy(cur_secret, ((struct st_node *)sarr_at(&t->nodes, anc))->secret, MLS_HASH_LEN);
	while (cur != x) {
		uint32_t left, right;

		if ((rc = mls_tree_math_left(cur, t->n_leaves, &left)) != HALQA_OK ||
		    (rc = mls_tree_math_right(cur, t->n_leaves, &right)) != HALQA_OK ||
		    (rc = mls_expand_with_label(left_secret, MLS_HASH_LEN, cur_secret, "tree",
						(const uint8_t *)"left", 4)) != HALQA_OK ||
		    (rc = mls_expand_with_label(right_secret, MLS_HASH_LEN, cur_secret, "tree",
						(const uint8_t *)"right", 5)) != HALQA_OK) {
			goto out;
		}
		if (mls_tree_math_is_ancestor(left, x)) {
			off[num_off].index = right;
			memcpy(off[num_off].secret, right_secret, MLS_HASH_LEN);
			memcpy(cur_secret, left_secret, MLS_HASH_LEN);
			cur = left;
		} else {
			off[num_off].index = left;
			memcpy(off[num_off].secret, left_secret, MLS_HASH_LEN);
			memcpy(cur_secret, right_secret, MLS_HASH_LEN);
			cur = right;
		}
		num_off++;
	}
	memset(&fresh, 0, sizeof fresh);
	fresh.leaf = leaf;
	if ((rc = mls_expand_with_label(fresh.r[MLS_SECRET_TREE_HANDSHAKE].secret, MLS_HASH_LEN,
					cur_secret, "handshake", NULL, 0)) != HALQA_OK ||
	    (rc = mls_expand_with_label(fresh.r[MLS_SECRET_TREE_APPLICATION].secret, MLS_HASH_LEN,
					cur_secret, "application", NULL, 0)) != HALQA_OK) {
		goto out;
	}
	/* Commit: nothing below can fail. */
	sarr_remove(&t->nodes, anc, 1);
	for (uint32_t i = 0; i < num_off; i++) {
		sarr_insert(&t->nodes, nodes_lower_bound(&t->nodes, off[i].index), &off[i]);
	}
	sarr_insert(&t->leaves, leaf_pos, &fresh);
	*out = sarr_at(&t->leaves, leaf_pos);
	rc = HALQA_OK;
out:
	sodium_memzero(off, sizeof off);
	sodium_memzero(&fresh, sizeof fresh);
	sodium_memzero(cur_secret, sizeof cur_secret);
	sodium_memzero(left_secret, sizeof left_secret);
	sodium_memzero(right_secret, sizeof right_secret);
	return rc;
}

/* Key, nonce and next ratchet secret of generation |gen| from its secret. */
static int ratchet_step(const uint8_t secret[MLS_HASH_LEN], uint32_t gen,
			uint8_t key[MLS_AEAD_KEY_LEN], uint8_t nonce[MLS_AEAD_NONCE_LEN],
			uint8_t next[MLS_HASH_LEN])
{
	int rc;

	if ((key != NULL && (rc = mls_derive_tree_secret(key, MLS_AEAD_KEY_LEN, secret, "key",
							 gen)) != HALQA_OK) ||
	    (nonce != NULL && (rc = mls_derive_tree_secret(nonce, MLS_AEAD_NONCE_LEN, secret,
							   "nonce", gen)) != HALQA_OK) ||
	    (rc = mls_derive_tree_secret(next, MLS_HASH_LEN, secret, "secret", gen)) != HALQA_OK) {
		return rc;
	}
	return HALQA_OK;
}

static int check_args(const struct mls_secret_tree *t, uint32_t leaf,
		      enum mls_secret_tree_ratchet type)
{
	if (t == NULL || leaf >= t->n_leaves ||
	    (type != MLS_SECRET_TREE_HANDSHAKE && type != MLS_SECRET_TREE_APPLICATION)) {
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

int mls_secret_tree_next_key(struct mls_secret_tree *tree, struct mls_secret_tree_key *out,
			     uint32_t leaf, enum mls_secret_tree_ratchet type)
{
	struct st_leaf *l;
	struct st_ratchet *r;
	uint8_t next[MLS_HASH_LEN];
	int rc;

	mls_secret_tree_key_wipe(out);
	if ((rc = check_args(tree, leaf, type)) != HALQA_OK ||
	    (rc = ensure_leaf(tree, leaf, &l)) != HALQA_OK) {
		return rc;
	}
	r = &l->r[type];
	/* The generation after 2^32 - 1 has no encoding in SenderData. */
	if (r->next_gen == UINT32_MAX) {
		return HALQA_ERR_LIMIT;
	}
	if ((rc = ratchet_step(r->secret, r->next_gen, out->key, out->nonce, next)) != HALQA_OK) {
		goto out;
	}
	out->leaf = leaf;
	out->type = type;
	out->generation = r->next_gen;
	/* A sending key is consumed when handed out, never twice. */
	memcpy(r->secret, next, MLS_HASH_LEN);
	r->next_gen++;
	rc = HALQA_OK;
out:
	sodium_memzero(next, sizeof next);
	if (rc != HALQA_OK) {
		mls_secret_tree_key_wipe(out);
	}
	return rc;
}

int mls_secret_tree_get_key(struct mls_secret_tree *tree, struct mls_secret_tree_key *out,
			    uint32_t leaf, enum mls_secret_tree_ratchet type, uint32_t generation)
{
	struct st_leaf *l;
	struct st_ratchet *r;
	uint8_t secret[MLS_HASH_LEN], next[MLS_HASH_LEN];
	size_t pos;
	int rc;

	mls_secret_tree_key_wipe(out);
	if ((rc = check_args(tree, leaf, type)) != HALQA_OK ||
	    (rc = ensure_leaf(tree, leaf, &l)) != HALQA_OK) {
		return rc;
	}
	r = &l->r[type];
	out->leaf = leaf;
	out->type = type;
	out->generation = generation;
	if (generation < r->next_gen) {
		const struct st_kept *k;

		/* Behind the ratchet: only a retained key can serve; else a replay or too late. */
		if (!kept_find(&tree->kept, leaf, (uint32_t)type, generation, &pos)) {
			mls_secret_tree_key_wipe(out);
			return HALQA_ERR_NOT_FOUND;
		}
		k = sarr_at(&tree->kept, pos);
		memcpy(out->key, k->key, MLS_AEAD_KEY_LEN);
		memcpy(out->nonce, k->nonce, MLS_AEAD_NONCE_LEN);
		out->retained_ = 1;
		return HALQA_OK;
	}
	/* Bound the hash steps one message can make us do. */
	if (generation - r->next_gen > MLS_SECRET_TREE_MAX_FORWARD) {
		mls_secret_tree_key_wipe(out);
		return HALQA_ERR_TOO_LARGE;
	}
	if (generation == UINT32_MAX) {
		mls_secret_tree_key_wipe(out);
		return HALQA_ERR_LIMIT;
	}
	memcpy(secret, r->secret, MLS_HASH_LEN);
	for (uint32_t g = r->next_gen; g < generation; g++) {
		if ((rc = ratchet_step(secret, g, NULL, NULL, next)) != HALQA_OK) {
			goto out;
		}
		memcpy(secret, next, MLS_HASH_LEN);
	}
	if ((rc = ratchet_step(secret, generation, out->key, out->nonce, out->next_secret_)) !=
	    HALQA_OK) {
		goto out;
	}
	out->base_generation_ = r->next_gen;
	rc = HALQA_OK;
out:
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(next, sizeof next);
	if (rc != HALQA_OK) {
		mls_secret_tree_key_wipe(out);
	}
	return rc;
}

int mls_secret_tree_consume(struct mls_secret_tree *tree, const struct mls_secret_tree_key *key)
{
	struct st_kept tmp[MLS_SECRET_TREE_WINDOW];
	struct st_leaf *l;
	struct st_ratchet *r;
	uint8_t secret[MLS_HASH_LEN], next[MLS_HASH_LEN];
	uint32_t num_tmp = 0, skipped, first_kept;
	size_t pos, lo, hi;
	int rc;

	if (key == NULL || (rc = check_args(tree, key->leaf, key->type)) != HALQA_OK) {
		return HALQA_ERR_ARG;
	}
	if (key->retained_) {
		if (!kept_find(&tree->kept, key->leaf, (uint32_t)key->type, key->generation,
			       &pos)) {
			return HALQA_ERR_NOT_FOUND;
		}
		sarr_remove(&tree->kept, pos, 1);
		return HALQA_OK;
	}
	if (!leaves_find(&tree->leaves, key->leaf, &pos)) {
		return HALQA_ERR_STALE;
	}
	l = sarr_at(&tree->leaves, pos);
	r = &l->r[key->type];
	if (r->next_gen != key->base_generation_ || key->generation < r->next_gen ||
	    key->generation - r->next_gen > MLS_SECRET_TREE_MAX_FORWARD ||
	    key->generation == UINT32_MAX) {
		return HALQA_ERR_STALE;
	}
	skipped = key->generation - r->next_gen;
	first_kept = skipped > MLS_SECRET_TREE_WINDOW ? key->generation - MLS_SECRET_TREE_WINDOW
						      : r->next_gen;
	if ((rc = sarr_reserve(&tree->kept, skipped < MLS_SECRET_TREE_WINDOW
						    ? skipped
						    : MLS_SECRET_TREE_WINDOW)) != HALQA_OK) {
		return rc;
	}
	/* Re-walk the skipped generations, keeping the newest WINDOW keys. */
	memcpy(secret, r->secret, MLS_HASH_LEN);
	for (uint32_t g = r->next_gen; g < key->generation; g++) {
		if (g >= first_kept) {
			tmp[num_tmp].leaf = key->leaf;
			tmp[num_tmp].type = (uint32_t)key->type;
			tmp[num_tmp].generation = g;
			rc = ratchet_step(secret, g, tmp[num_tmp].key, tmp[num_tmp].nonce, next);
			num_tmp++;
		} else {
			rc = ratchet_step(secret, g, NULL, NULL, next);
		}
		if (rc != HALQA_OK) {
			goto out;
		}
		memcpy(secret, next, MLS_HASH_LEN);
	}
	/* Commit: nothing below can fail. */
	for (uint32_t i = 0; i < num_tmp; i++) {
		(void)kept_find(&tree->kept, tmp[i].leaf, tmp[i].type, tmp[i].generation, &pos);
		sarr_insert(&tree->kept, pos, &tmp[i]);
	}
	/* Evict this ratchet's oldest retained keys beyond the window. */
	(void)kept_find(&tree->kept, key->leaf, (uint32_t)key->type, 0, &lo);
	(void)kept_find(&tree->kept, key->leaf, (uint32_t)key->type + 1, 0, &hi);
	if (hi - lo > MLS_SECRET_TREE_WINDOW) {
		sarr_remove(&tree->kept, lo, hi - lo - MLS_SECRET_TREE_WINDOW);
	}
	memcpy(r->secret, key->next_secret_, MLS_HASH_LEN);
	r->next_gen = key->generation + 1;
	rc = HALQA_OK;
out:
	sodium_memzero(tmp, sizeof tmp);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(next, sizeof next);
	return rc;
}

/* ---- saving and loading (a group state kept by the client) ---- */

int mls_secret_tree_encode(struct bytes_writer *w, const struct mls_secret_tree *tree)
{
	bytes_put_u32(w, tree->n_leaves);
	bytes_put_u32(w, (uint32_t)tree->nodes.num);
	for (size_t i = 0; i < tree->nodes.num; i++) {
		const struct st_node *n = sarr_at(&tree->nodes, i);

		bytes_put_u32(w, n->index);
		bytes_put(w, n->secret, MLS_HASH_LEN);
	}
	bytes_put_u32(w, (uint32_t)tree->leaves.num);
	for (size_t i = 0; i < tree->leaves.num; i++) {
		const struct st_leaf *l = sarr_at(&tree->leaves, i);

		bytes_put_u32(w, l->leaf);
		for (int t = 0; t < 2; t++) {
			bytes_put(w, l->r[t].secret, MLS_HASH_LEN);
			bytes_put_u32(w, l->r[t].next_gen);
		}
	}
	bytes_put_u32(w, (uint32_t)tree->kept.num);
	for (size_t i = 0; i < tree->kept.num; i++) {
		const struct st_kept *k = sarr_at(&tree->kept, i);

		bytes_put_u32(w, k->leaf);
		bytes_put_u8(w, (uint8_t)k->type);
		bytes_put_u32(w, k->generation);
		bytes_put(w, k->key, MLS_AEAD_KEY_LEN);
		bytes_put(w, k->nonce, MLS_AEAD_NONCE_LEN);
	}
	return bytes_writer_error(w);
}

/* Reads a count, refusing more than |max| (and so more than the input could hold). */
static int get_count(struct bytes_reader *r, uint32_t max, size_t elem_min, size_t *out)
{
	uint32_t n;
	int rc;

	if ((rc = bytes_get_u32(r, &n)) != 0) {
		return rc;
	}
	if (n > max) {
		return HALQA_ERR_INVALID;
	}
	if (n > bytes_remaining(r) / elem_min) {
		return HALQA_ERR_TRUNCATED;
	}
	*out = n;
	return HALQA_OK;
}

/* First and last node index of the subtree under |x|. */
static void subtree_span(uint32_t x, uint32_t *lo, uint32_t *hi)
{
	uint32_t half = (UINT32_C(1) << mls_tree_math_level(x)) - 1;

	*lo = x - half;
	*hi = x + half;
}

static int decode_nodes(struct bytes_reader *r, struct mls_secret_tree *t, uint64_t *covered)
{
	uint32_t n_nodes = 2 * t->n_leaves - 1, prev_hi = 0;
	size_t num;
	int rc;

	if ((rc = get_count(r, n_nodes, 4 + MLS_HASH_LEN, &num)) != 0 ||
	    (rc = sarr_reserve(&t->nodes, num)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < num; i++) {
		struct st_node *n = sarr_at(&t->nodes, i);
		uint32_t lo, hi;

		if ((rc = bytes_get_u32(r, &n->index)) != 0 ||
		    (rc = bytes_get_copy(r, n->secret, MLS_HASH_LEN)) != 0) {
			return rc;
		}
		t->nodes.num = i + 1;
		if (n->index >= n_nodes) {
			return HALQA_ERR_INVALID;
		}
		subtree_span(n->index, &lo, &hi);
		/* Sorted and disjoint: the lookup in ensure_leaf relies on both. */
		if (hi >= n_nodes || (i > 0 && lo <= prev_hi)) {
			return HALQA_ERR_INVALID;
		}
		prev_hi = hi;
		*covered += (uint64_t)(hi - lo) / 2 + 1;
	}
	return HALQA_OK;
}

static bool under_frontier(const struct mls_secret_tree *t, uint32_t leaf)
{
	for (size_t i = 0; i < t->nodes.num; i++) {
		if (mls_tree_math_is_ancestor(((const struct st_node *)sarr_at(&t->nodes, i))->index,
					      2 * leaf)) {
			return true;
		}
	}
	return false;
}

static int decode_leaves(struct bytes_reader *r, struct mls_secret_tree *t)
{
	size_t num;
	int rc;

	if ((rc = get_count(r, t->n_leaves, 4 + 2 * (MLS_HASH_LEN + 4), &num)) != 0 ||
	    (rc = sarr_reserve(&t->leaves, num)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < num; i++) {
		struct st_leaf *l = sarr_at(&t->leaves, i);

		if ((rc = bytes_get_u32(r, &l->leaf)) != 0) {
			return rc;
		}
		for (int k = 0; k < 2; k++) {
			if ((rc = bytes_get_copy(r, l->r[k].secret, MLS_HASH_LEN)) != 0 ||
			    (rc = bytes_get_u32(r, &l->r[k].next_gen)) != 0) {
				t->leaves.num = i + 1; /* wiped on the way out */
				return rc;
			}
		}
		t->leaves.num = i + 1;
		if (l->leaf >= t->n_leaves ||
		    (i > 0 && ((struct st_leaf *)sarr_at(&t->leaves, i - 1))->leaf >= l->leaf) ||
		    under_frontier(t, l->leaf)) {
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

static int decode_kept(struct bytes_reader *r, struct mls_secret_tree *t)
{
	const size_t elem = 4 + 1 + 4 + MLS_AEAD_KEY_LEN + MLS_AEAD_NONCE_LEN;
	uint32_t run = 0;
	size_t num, pos;
	int rc;

	if ((rc = get_count(r, (uint32_t)(2 * MLS_SECRET_TREE_WINDOW * t->leaves.num), elem,
			    &num)) != 0 ||
	    (rc = sarr_reserve(&t->kept, num)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < num; i++) {
		struct st_kept *k = sarr_at(&t->kept, i);
		const struct st_kept *prev = i > 0 ? sarr_at(&t->kept, i - 1) : NULL;
		const struct st_leaf *l;
		uint8_t type;

		if ((rc = bytes_get_u32(r, &k->leaf)) != 0 || (rc = bytes_get_u8(r, &type)) != 0 ||
		    (rc = bytes_get_u32(r, &k->generation)) != 0 ||
		    (rc = bytes_get_copy(r, k->key, MLS_AEAD_KEY_LEN)) != 0 ||
		    (rc = bytes_get_copy(r, k->nonce, MLS_AEAD_NONCE_LEN)) != 0) {
			t->kept.num = i + 1;
			return rc;
		}
		k->type = type;
		t->kept.num = i + 1;
		if (type > MLS_SECRET_TREE_APPLICATION ||
		    !leaves_find(&t->leaves, k->leaf, &pos)) {
			return HALQA_ERR_INVALID;
		}
		l = sarr_at(&t->leaves, pos);
		if (k->generation >= l->r[type].next_gen ||
		    (prev != NULL && !kept_less(prev, k->leaf, k->type, k->generation))) {
			return HALQA_ERR_INVALID;
		}
		/* At most a window of kept keys per ratchet, as consume leaves it. */
		run = prev != NULL && prev->leaf == k->leaf && prev->type == k->type ? run + 1 : 1;
		if (run > MLS_SECRET_TREE_WINDOW) {
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

int mls_secret_tree_decode(struct bytes_reader *r, struct mls_secret_tree **out)
{
	struct mls_secret_tree *t = NULL;
	uint64_t covered = 0;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	t->nodes.elem = sizeof(struct st_node);
	t->leaves.elem = sizeof(struct st_leaf);
	t->kept.elem = sizeof(struct st_kept);
	if ((rc = bytes_get_u32(r, &t->n_leaves)) != 0) {
		goto out;
	}
	if (!mls_tree_math_valid_leaves(t->n_leaves)) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	if ((rc = decode_nodes(r, t, &covered)) != 0 || (rc = decode_leaves(r, t)) != 0 ||
	    (rc = decode_kept(r, t)) != 0) {
		goto out;
	}
	/* Every leaf derivable exactly once: from the frontier or its ratchets. */
	if (covered + t->leaves.num != t->n_leaves) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	*out = t;
	t = NULL;
out:
	mls_secret_tree_free(t); /* secmem_free wipes every array */
	return rc;
}

int mls_secret_tree_sender_data(uint8_t key[MLS_AEAD_KEY_LEN], uint8_t nonce[MLS_AEAD_NONCE_LEN],
				const uint8_t sender_data_secret[MLS_HASH_LEN],
				const uint8_t *ciphertext, size_t ciphertext_len)
{
	size_t sample = ciphertext_len < MLS_HASH_LEN ? ciphertext_len : MLS_HASH_LEN;
	int rc;

	if (sender_data_secret == NULL || (ciphertext == NULL && ciphertext_len != 0)) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	if ((rc = mls_expand_with_label(key, MLS_AEAD_KEY_LEN, sender_data_secret, "key",
					ciphertext, sample)) != HALQA_OK ||
	    (rc = mls_expand_with_label(nonce, MLS_AEAD_NONCE_LEN, sender_data_secret, "nonce",
					ciphertext, sample)) != HALQA_OK) {
		goto out;
	}
	return HALQA_OK;
out:
	sodium_memzero(key, MLS_AEAD_KEY_LEN);
	sodium_memzero(nonce, MLS_AEAD_NONCE_LEN);
	return rc;
}
