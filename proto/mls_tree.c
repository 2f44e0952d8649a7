/*
 * mls_tree.c: the MLS ratchet tree (RFC 9420 sections 4, 7, 12.1).
 *
 * The tree is the array of Appendix C: node x is a leaf when x is even
 * (leaf x/2), a parent otherwise, and a tree of n leaves (always a power of
 * two) has 2n - 1 nodes with the root at n - 1. Growing the tree keeps
 * every index, so extending appends a blank right half and truncating
 * drops one; the arrays grow by doubling.
 *
 * Tree hashes (7.8) are cached per node with a validity flag. A change to
 * a node clears the flags of the node and its ancestors only, so a change
 * costs O(log n) hashes the next time the root hash is asked for, and a
 * freshly extended blank half is hashed once, lazily. The original sibling
 * tree hash of a parent hash (7.9) reuses the cache for every subtree that
 * holds none of the excluded unmerged leaves and recomputes only the few
 * paths that do.
 *
 * Verifying a tree from a peer (12.4.3.1) is split in two: mls_tree_load
 * checks the shape (node kinds, trailing blanks, unmerged_leaves
 * structure), which everything else relies on; mls_tree_verify checks what
 * needs cryptography (parent hashes, leaf signatures) and the uniqueness
 * and capability rules of 7.3, in O(n log n) for the whole tree.
 *
 * The tree holds public data only: no wiping is needed here.
 */
#include "halqa/mls_tree.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/log.h"
#include "halqa/mls_tree_math.h"
#include "mls_tree_internal.h"

struct mls_tree {
	struct mls_node *nodes;         /* 2 * num_leaves - 1 used, cap_nodes allocated */
	uint8_t (*hash)[MLS_HASH_LEN]; /* cached tree hash per node */
	uint8_t *hash_ok;               /* 1 when hash[x] is current */
	uint32_t num_leaves;
	uint32_t num_members;
	uint32_t cap_nodes;
};

/* The largest encoding of one TreeHashInput: a leaf node cannot exceed the tree's bound. */
#define TREE_HASH_INPUT_MAX MLS_MAX_TREE_BYTES

/*
 * ---- array tree arithmetic: mls_tree_math (Appendix C) ----
 *
 * Every index passed here comes from the tree's own walk, so a failure is
 * a bug in this file, not bad input: it aborts (STYLE 3) rather than
 * threading impossible errors through every caller.
 */

static void tm_check(int rc)
{
	if (rc != HALQA_OK) {
		abort();
	}
}

static uint32_t tm_left(const struct mls_tree *t, uint32_t x)
{
	uint32_t v = 0;

	tm_check(mls_tree_math_left(x, t->num_leaves, &v));
	return v;
}

static uint32_t tm_right(const struct mls_tree *t, uint32_t x)
{
	uint32_t v = 0;

	tm_check(mls_tree_math_right(x, t->num_leaves, &v));
	return v;
}

static uint32_t tm_parent(const struct mls_tree *t, uint32_t x)
{
	uint32_t v = 0;

	tm_check(mls_tree_math_parent(x, t->num_leaves, &v));
	return v;
}

static uint32_t tm_sibling(const struct mls_tree *t, uint32_t x)
{
	uint32_t v = 0;

	tm_check(mls_tree_math_sibling(x, t->num_leaves, &v));
	return v;
}

/* The first and last node index of the subtree headed by |x|. */
static void tm_span(uint32_t x, uint32_t *lo, uint32_t *hi)
{
	uint32_t half = (UINT32_C(1) << mls_tree_math_level(x)) - 1;

	*lo = x - half;
	*hi = x + half;
}

static uint32_t tree_root(const struct mls_tree *t)
{
	return t->num_leaves - 1;
}

static uint32_t tree_width(const struct mls_tree *t)
{
	return t->num_leaves == 0 ? 0 : 2 * t->num_leaves - 1;
}

static bool is_blank(const struct mls_tree *t, uint32_t x)
{
	return t->nodes[x].type == MLS_NODE_BLANK;
}

/* Clears the cached hash of |x| and of every ancestor. */
static void invalidate_path(struct mls_tree *t, uint32_t x)
{
	uint32_t root = tree_root(t);

	t->hash_ok[x] = 0;
	while (x != root) {
		x = tm_parent(t, x);
		t->hash_ok[x] = 0;
	}
}

static void blank_node(struct mls_tree *t, uint32_t x)
{
	mls_node_cleanup(&t->nodes[x]);
	memset(&t->nodes[x], 0, sizeof t->nodes[x]);
	t->nodes[x].type = MLS_NODE_BLANK;
}

/* Makes room for |num_leaves| leaves; new nodes are blank with no cached hash. */
static int reserve(struct mls_tree *t, uint32_t num_leaves)
{
	uint32_t want = 2 * num_leaves - 1, cap = t->cap_nodes ? t->cap_nodes : 1;
	struct mls_node *nodes;
	uint8_t(*hash)[MLS_HASH_LEN];
	uint8_t *ok;

	if (want <= t->cap_nodes) {
		return HALQA_OK;
	}
	while (cap < want) {
		cap = 2 * cap + 1;
	}
	if ((nodes = realloc(t->nodes, (size_t)cap * sizeof *nodes)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	t->nodes = nodes;
	if ((hash = realloc(t->hash, (size_t)cap * sizeof *hash)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	t->hash = hash;
	if ((ok = realloc(t->hash_ok, cap)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	t->hash_ok = ok;
	memset(&t->nodes[t->cap_nodes], 0, (size_t)(cap - t->cap_nodes) * sizeof *nodes);
	memset(&t->hash_ok[t->cap_nodes], 0, cap - t->cap_nodes);
	t->cap_nodes = cap;
	return HALQA_OK;
}

/* ---- lifetime ---- */

struct mls_tree *mls_tree_new(void)
{
	return calloc(1, sizeof(struct mls_tree));
}

void mls_tree_free(struct mls_tree *t)
{
	if (t == NULL) {
		return;
	}
	for (uint32_t x = 0; x < t->cap_nodes; x++) {
		mls_node_cleanup(&t->nodes[x]);
	}
	free(t->nodes);
	free(t->hash);
	free(t->hash_ok);
	free(t);
}

int mls_tree_copy(struct mls_tree **out, const struct mls_tree *t)
{
	struct mls_tree *c = NULL;
	uint32_t width;
	int rc;

	*out = NULL;
	if (t == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((c = mls_tree_new()) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	width = tree_width(t);
	if (t->num_leaves > 0 && (rc = reserve(c, t->num_leaves)) != 0) {
		goto out;
	}
	for (uint32_t x = 0; x < width; x++) {
		if (t->nodes[x].type != MLS_NODE_BLANK &&
		    (rc = mls_node_copy(&c->nodes[x], &t->nodes[x])) != 0) {
			goto out;
		}
	}
	if (width > 0) {
		memcpy(c->hash, t->hash, (size_t)width * sizeof *t->hash);
		memcpy(c->hash_ok, t->hash_ok, width);
	}
	c->num_leaves = t->num_leaves;
	c->num_members = t->num_members;
	*out = c;
	c = NULL;
	rc = HALQA_OK;
out:
	mls_tree_free(c);
	return rc;
}

/* ---- loading and encoding ---- */

/* Binary search in a sorted list of leaf indices. */
static bool sorted_contains(const uint32_t *v, size_t n, uint32_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] == key) {
			return true;
		}
		if (v[mid] < key) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return false;
}

/*
 * The unmerged_leaves rules of 7.1 and 12.4.3.1: each list strictly
 * increasing (sorted, no repeats), naming non-blank leaves in the node's
 * subtree, and every non-blank parent between such a leaf and the node
 * listing it too. Other code (resolution, original sibling hashes) relies
 * on the lists being sorted.
 */
static int check_unmerged(const struct mls_tree *t)
{
	uint32_t width = tree_width(t);

	for (uint32_t x = 1; x < width; x += 2) {
		const struct mls_parent_node *p;
		uint32_t lo, hi;

		if (is_blank(t, x)) {
			continue;
		}
		p = &t->nodes[x].u.parent;
		tm_span(x, &lo, &hi);
		for (size_t i = 0; i < p->num_unmerged_leaves; i++) {
			uint32_t leaf = p->unmerged_leaves[i];

			if (i > 0 && leaf <= p->unmerged_leaves[i - 1]) {
				halqa_log(HALQA_LOG_DEBUG, "mls_tree", "node %u: unmerged_leaves unsorted",
					  x);
				return HALQA_ERR_INVALID;
			}
			if (leaf >= t->num_leaves || 2 * leaf < lo || 2 * leaf > hi ||
			    is_blank(t, 2 * leaf)) {
				halqa_log(HALQA_LOG_DEBUG, "mls_tree",
					  "node %u: unmerged leaf %u not a member below it", x, leaf);
				return HALQA_ERR_INVALID;
			}
			for (uint32_t y = tm_parent(t, 2 * leaf); y != x; y = tm_parent(t, y)) {
				const struct mls_parent_node *q = &t->nodes[y].u.parent;

				if (!is_blank(t, y) &&
				    !sorted_contains(q->unmerged_leaves, q->num_unmerged_leaves, leaf)) {
					halqa_log(HALQA_LOG_DEBUG, "mls_tree",
						  "node %u: unmerged leaf %u missing below at %u", x,
						  leaf, y);
					return HALQA_ERR_INVALID;
				}
			}
		}
	}
	return HALQA_OK;
}

int mls_tree_from_nodes(struct mls_tree **out, struct mls_ratchet_tree *rt)
{
	struct mls_tree *t = NULL;
	uint32_t num_leaves = 1;
	size_t n;
	int rc;

	*out = NULL;
	if (rt == NULL) {
		return HALQA_ERR_ARG;
	}
	n = rt->num_nodes;
	/* 12.4.3.3: the sender MUST NOT send trailing blanks; the receiver MUST check. */
	if (n == 0 || rt->nodes[n - 1].type == MLS_NODE_BLANK) {
		return HALQA_ERR_MALFORMED;
	}
	for (size_t x = 0; x < n; x++) {
		uint8_t type = rt->nodes[x].type;
		uint8_t want = (x % 2 == 0) ? MLS_NODE_LEAF : MLS_NODE_PARENT;

		if (type != MLS_NODE_BLANK && type != want) {
			return HALQA_ERR_MALFORMED;
		}
	}
	while ((size_t)2 * num_leaves - 1 < n) {
		num_leaves *= 2;
	}
	if (num_leaves > MLS_MAX_LEAVES) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((t = mls_tree_new()) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = reserve(t, num_leaves)) != 0) {
		goto out;
	}
	/* Move the nodes in; the tail stays blank (reserve zeroed it). */
	memcpy(t->nodes, rt->nodes, n * sizeof *rt->nodes);
	t->num_leaves = num_leaves;
	for (uint32_t l = 0; l < num_leaves; l++) {
		t->num_members += !is_blank(t, 2 * l);
	}
	if ((rc = check_unmerged(t)) != 0) {
		/* Give the nodes back so the caller's |rt| is untouched. */
		memset(t->nodes, 0, n * sizeof *rt->nodes);
		goto out;
	}
	free(rt->nodes);
	rt->nodes = NULL;
	rt->num_nodes = 0;
	*out = t;
	t = NULL;
	rc = HALQA_OK;
out:
	mls_tree_free(t);
	return rc;
}

int mls_tree_load(struct mls_tree **out, const uint8_t *data, size_t len)
{
	struct mls_ratchet_tree rt;
	int rc;

	*out = NULL;
	memset(&rt, 0, sizeof rt);
	if ((rc = mls_ratchet_tree_decode_bytes(data, len, &rt)) != 0) {
		return rc;
	}
	rc = mls_tree_from_nodes(out, &rt);
	mls_ratchet_tree_cleanup(&rt);
	return rc;
}

int mls_tree_encode(struct bytes_writer *w, const struct mls_tree *t)
{
	struct mls_ratchet_tree rt;
	uint32_t n = tree_width(t);

	while (n > 0 && is_blank(t, n - 1)) {
		n--;
	}
	if (n == 0) {
		return mls_writer_fail(w, HALQA_ERR_INVALID);
	}
	/* A borrowed view: the codec only reads the nodes. */
	rt.nodes = t->nodes;
	rt.num_nodes = n;
	return mls_ratchet_tree_encode(w, &rt);
}

int mls_tree_encode_bytes(const struct mls_tree *t, uint8_t **out, size_t *out_len)
{
	struct bytes_writer w;

	*out = NULL;
	*out_len = 0;
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	(void)mls_tree_encode(&w, t);
	return bytes_writer_finish(&w, out, out_len);
}

/* ---- accessors ---- */

uint32_t mls_tree_num_leaves(const struct mls_tree *t)
{
	return t->num_leaves;
}

uint32_t mls_tree_num_nodes(const struct mls_tree *t)
{
	return tree_width(t);
}

uint32_t mls_tree_num_members(const struct mls_tree *t)
{
	return t->num_members;
}

uint32_t mls_tree_root(const struct mls_tree *t)
{
	return t->num_leaves == 0 ? UINT32_MAX : tree_root(t);
}

const struct mls_node *mls_tree_node(const struct mls_tree *t, uint32_t x)
{
	return x < tree_width(t) ? &t->nodes[x] : NULL;
}

const struct mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf)
{
	if (leaf >= t->num_leaves || is_blank(t, 2 * leaf)) {
		return NULL;
	}
	return &t->nodes[2 * leaf].u.leaf;
}

/* Encodes |leaf| into |w| (fresh, caller cleans up); returns the writer's error. */
static int encode_leaf(struct bytes_writer *w, const struct mls_leaf_node *leaf)
{
	bytes_writer_init(w, MLS_MAX_TREE_BYTES, 0);
	(void)mls_leaf_node_encode(w, leaf);
	return bytes_writer_error(w);
}

int mls_tree_find_leaf(const struct mls_tree *t, const struct mls_leaf_node *leaf,
		       uint32_t *out_leaf)
{
	struct bytes_writer want, got;
	int rc;

	*out_leaf = 0;
	if (t == NULL || leaf == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = encode_leaf(&want, leaf)) != 0) {
		bytes_writer_cleanup(&want);
		return rc;
	}
	rc = HALQA_ERR_NOT_FOUND;
	for (uint32_t l = 0; l < t->num_leaves && rc == HALQA_ERR_NOT_FOUND; l++) {
		const struct mls_leaf_node *cand = mls_tree_leaf(t, l);

		/* Encryption keys are unique in a verified tree: compare those first. */
		if (cand == NULL || cand->encryption_key.len != leaf->encryption_key.len ||
		    (leaf->encryption_key.len > 0 &&
		     memcmp(cand->encryption_key.data, leaf->encryption_key.data,
			    leaf->encryption_key.len) != 0)) {
			continue;
		}
		if (encode_leaf(&got, cand) != 0) {
			rc = bytes_writer_error(&got);
		} else if (bytes_writer_len(&got) == bytes_writer_len(&want) &&
			   memcmp(bytes_writer_data(&got), bytes_writer_data(&want),
				  bytes_writer_len(&want)) == 0) {
			*out_leaf = l;
			rc = HALQA_OK;
		}
		bytes_writer_cleanup(&got);
	}
	bytes_writer_cleanup(&want);
	return rc;
}

/* ---- tree hashes (7.8) ---- */

/* Hashes what |w| holds into |out| and releases the writer. */
static int finish_hash(struct bytes_writer *w, uint8_t out[MLS_HASH_LEN])
{
	int rc = bytes_writer_error(w);

	if (rc == HALQA_OK) {
		crypto_hash_sha256(out, bytes_writer_data(w), bytes_writer_len(w));
	}
	bytes_writer_cleanup(w);
	return rc;
}

/* TreeHashInput for a leaf: node_type, uint32 leaf_index, optional<LeafNode>. */
static int hash_leaf(uint32_t leaf, const struct mls_leaf_node *ln, uint8_t out[MLS_HASH_LEN])
{
	struct bytes_writer w;

	bytes_writer_init(&w, TREE_HASH_INPUT_MAX, 0);
	bytes_put_u8(&w, MLS_NODE_LEAF);
	bytes_put_u32(&w, leaf);
	if (ln == NULL) {
		bytes_put_u8(&w, 0);
	} else {
		bytes_put_u8(&w, 1);
		(void)mls_leaf_node_encode(&w, ln);
	}
	return finish_hash(&w, out);
}

/* TreeHashInput for a parent: node_type, optional<ParentNode>, left_hash<V>, right_hash<V>. */
static int hash_parent(const struct mls_parent_node *pn, const uint8_t left[MLS_HASH_LEN],
		       const uint8_t right[MLS_HASH_LEN], uint8_t out[MLS_HASH_LEN])
{
	struct bytes_writer w;

	bytes_writer_init(&w, TREE_HASH_INPUT_MAX, 0);
	bytes_put_u8(&w, MLS_NODE_PARENT);
	if (pn == NULL) {
		bytes_put_u8(&w, 0);
	} else {
		bytes_put_u8(&w, 1);
		(void)mls_parent_node_encode(&w, pn);
	}
	bytes_put_vec(&w, left, MLS_HASH_LEN);
	bytes_put_vec(&w, right, MLS_HASH_LEN);
	return finish_hash(&w, out);
}

static int node_hash(struct mls_tree *t, uint32_t x)
{
	const struct mls_node *n = &t->nodes[x];
	int rc;

	if (t->hash_ok[x]) {
		return HALQA_OK;
	}
	if (x % 2 == 0) {
		rc = hash_leaf(x / 2, n->type == MLS_NODE_BLANK ? NULL : &n->u.leaf, t->hash[x]);
	} else {
		uint32_t l = tm_left(t, x), r = tm_right(t, x);

		if ((rc = node_hash(t, l)) != 0 || (rc = node_hash(t, r)) != 0) {
			return rc;
		}
		rc = hash_parent(n->type == MLS_NODE_BLANK ? NULL : &n->u.parent, t->hash[l],
				 t->hash[r], t->hash[x]);
	}
	if (rc == HALQA_OK) {
		t->hash_ok[x] = 1;
	}
	return rc;
}

int mls_tree_node_hash(struct mls_tree *t, uint32_t x, uint8_t out[MLS_HASH_LEN])
{
	int rc;

	if (t == NULL || x >= tree_width(t)) {
		return HALQA_ERR_ARG;
	}
	if ((rc = node_hash(t, x)) != 0) {
		return rc;
	}
	memcpy(out, t->hash[x], MLS_HASH_LEN);
	return HALQA_OK;
}

int mls_tree_hash(struct mls_tree *t, uint8_t out[MLS_HASH_LEN])
{
	if (t == NULL || t->num_leaves == 0) {
		return HALQA_ERR_ARG;
	}
	return mls_tree_node_hash(t, tree_root(t), out);
}

/* Whether the sorted leaf list |v| has an entry in [lo, hi]. */
static bool sorted_any_in(const uint32_t *v, size_t n, uint32_t lo, uint32_t hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (v[mid] < lo) {
			a = mid + 1;
		} else {
			b = mid;
		}
	}
	return a < n && v[a] <= hi;
}

/*
 * The tree hash of |x| in the tree where the leaves of the sorted list
 * |excl| are blank and gone from every unmerged_leaves list (7.9's
 * original sibling tree hash). Subtrees without an excluded leaf use the
 * cache.
 */
static int hash_excluding(struct mls_tree *t, uint32_t x, const uint32_t *excl, size_t n_excl,
			  uint8_t out[MLS_HASH_LEN])
{
	const struct mls_node *n = &t->nodes[x];
	uint8_t lh[MLS_HASH_LEN], rh[MLS_HASH_LEN];
	struct mls_parent_node filtered;
	uint32_t lo, hi;
	int rc;

	tm_span(x, &lo, &hi);
	if (!sorted_any_in(excl, n_excl, lo / 2, hi / 2)) {
		if ((rc = node_hash(t, x)) == 0) {
			memcpy(out, t->hash[x], MLS_HASH_LEN);
		}
		return rc;
	}
	if (x % 2 == 0) {
		return hash_leaf(x / 2, NULL, out);
	}
	if ((rc = hash_excluding(t, tm_left(t, x), excl, n_excl, lh)) != 0 ||
	    (rc = hash_excluding(t, tm_right(t, x), excl, n_excl, rh)) != 0) {
		return rc;
	}
	if (n->type == MLS_NODE_BLANK) {
		return hash_parent(NULL, lh, rh, out);
	}
	/* A shallow view of the node with the excluded leaves filtered out. */
	filtered = n->u.parent;
	filtered.unmerged_leaves = NULL;
	filtered.num_unmerged_leaves = 0;
	if (n->u.parent.num_unmerged_leaves > 0) {
		filtered.unmerged_leaves =
			malloc(n->u.parent.num_unmerged_leaves * sizeof *filtered.unmerged_leaves);
		if (filtered.unmerged_leaves == NULL) {
			return HALQA_ERR_NOMEM;
		}
		for (size_t i = 0; i < n->u.parent.num_unmerged_leaves; i++) {
			uint32_t leaf = n->u.parent.unmerged_leaves[i];
			if (!sorted_contains(excl, n_excl, leaf)) {
				filtered.unmerged_leaves[filtered.num_unmerged_leaves++] = leaf;
			}
		}
	}
	rc = hash_parent(&filtered, lh, rh, out);
	free(filtered.unmerged_leaves);
	return rc;
}

/* ---- resolution and paths (4.1) ---- */

struct u32_vec {
	uint32_t *v;
	size_t n, cap;
};

static int u32_push(struct u32_vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 8;
		uint32_t *v = realloc(a->v, cap * sizeof *v);

		if (v == NULL) {
			return HALQA_ERR_NOMEM;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return HALQA_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int resolve(const struct mls_tree *t, uint32_t x, const uint32_t *excl, size_t n_excl,
		   struct u32_vec *out)
{
	const struct mls_node *n = &t->nodes[x];
	int rc;

	if (n->type == MLS_NODE_LEAF) {
		return sorted_contains(excl, n_excl, x / 2) ? HALQA_OK : u32_push(out, x);
	}
	if (n->type == MLS_NODE_PARENT) {
		if ((rc = u32_push(out, x)) != 0) {
			return rc;
		}
		for (size_t i = 0; i < n->u.parent.num_unmerged_leaves; i++) {
			uint32_t leaf = n->u.parent.unmerged_leaves[i];
			if (!sorted_contains(excl, n_excl, leaf) &&
			    (rc = u32_push(out, 2 * leaf)) != 0) {
				return rc;
			}
		}
		return HALQA_OK;
	}
	if (x % 2 == 0) {
		return HALQA_OK;
	}
	if ((rc = resolve(t, tm_left(t, x), excl, n_excl, out)) != 0) {
		return rc;
	}
	return resolve(t, tm_right(t, x), excl, n_excl, out);
}

int mls_tree_resolution(const struct mls_tree *t, uint32_t x, const uint32_t *exclude,
			size_t num_exclude, uint32_t **out, size_t *out_num)
{
	struct u32_vec res = {0};
	uint32_t *excl = NULL;
	int rc;

	*out = NULL;
	*out_num = 0;
	if (t == NULL || x >= tree_width(t) || (exclude == NULL && num_exclude > 0)) {
		return HALQA_ERR_ARG;
	}
	if (num_exclude > 0) {
		if ((excl = malloc(num_exclude * sizeof *excl)) == NULL) {
			return HALQA_ERR_NOMEM;
		}
		memcpy(excl, exclude, num_exclude * sizeof *excl);
		qsort(excl, num_exclude, sizeof *excl, cmp_u32);
	}
	if ((rc = resolve(t, x, excl, num_exclude, &res)) != 0) {
		free(res.v);
		goto out;
	}
	*out = res.v;
	*out_num = res.n;
out:
	free(excl);
	return rc;
}

/* Whether the subtree under |x| holds a non-blank node, i.e. has a non-empty resolution. */
static bool subtree_occupied(const struct mls_tree *t, uint32_t x)
{
	uint32_t lo, hi;

	tm_span(x, &lo, &hi);
	for (uint32_t y = lo; y <= hi; y++) {
		if (!is_blank(t, y)) {
			return true;
		}
	}
	return false;
}

int mls_tree_filtered_direct_path(const struct mls_tree *t, uint32_t leaf,
				  uint32_t path[MLS_TREE_MAX_DEPTH],
				  uint32_t copath[MLS_TREE_MAX_DEPTH], size_t *out_num)
{
	uint32_t x, root;
	size_t n = 0;

	*out_num = 0;
	if (t == NULL || leaf >= t->num_leaves) {
		return HALQA_ERR_ARG;
	}
	root = tree_root(t);
	for (x = 2 * leaf; x != root; x = tm_parent(t, x)) {
		uint32_t s = tm_sibling(t, x);

		if (!subtree_occupied(t, s)) {
			continue;
		}
		path[n] = tm_parent(t, x);
		if (copath != NULL) {
			copath[n] = s;
		}
		n++;
	}
	*out_num = n;
	return HALQA_OK;
}

/* ---- parent hashes (7.9) ---- */

int mls_tree_parent_hash(struct mls_tree *t, uint32_t p, uint32_t s, uint8_t out[MLS_HASH_LEN])
{
	const struct mls_parent_node *pn;
	uint8_t sibling_hash[MLS_HASH_LEN];
	struct bytes_writer w;
	int rc;

	if (t == NULL || p >= tree_width(t) || p % 2 == 0) {
		return HALQA_ERR_ARG;
	}
	if (is_blank(t, p) || (s != tm_left(t, p) && s != tm_right(t, p))) {
		return HALQA_ERR_INVALID;
	}
	pn = &t->nodes[p].u.parent;
	if ((rc = hash_excluding(t, s, pn->unmerged_leaves, pn->num_unmerged_leaves,
				 sibling_hash)) != 0) {
		return rc;
	}
	/* ParentHashInput {encryption_key<V>, parent_hash<V>, original_sibling_tree_hash<V>}. */
	bytes_writer_init(&w, TREE_HASH_INPUT_MAX, 0);
	bytes_put_vec(&w, pn->encryption_key.data, pn->encryption_key.len);
	bytes_put_vec(&w, pn->parent_hash.data, pn->parent_hash.len);
	bytes_put_vec(&w, sibling_hash, MLS_HASH_LEN);
	return finish_hash(&w, out);
}

/* The parent_hash field a node carries, or NULL: parents, and leaves of source commit. */
static const struct mls_bytes *node_parent_hash(const struct mls_tree *t, uint32_t x)
{
	const struct mls_node *n = &t->nodes[x];

	if (n->type == MLS_NODE_PARENT) {
		return &n->u.parent.parent_hash;
	}
	if (n->type == MLS_NODE_LEAF && n->u.leaf.leaf_node_source == MLS_LEAF_SOURCE_COMMIT) {
		return &n->u.leaf.parent_hash;
	}
	return NULL;
}

/*
 * Counts the nodes D below child |c| of |p| whose parent hash is valid with
 * respect to |p| (7.9.2): D.parent_hash is p's parent hash with copath
 * child the other child, D is in the resolution of c, and p's unmerged
 * leaves under c are exactly the rest of that resolution.
 *
 * A hostile tree can give many nodes of one resolution the same parent
 * hash, so "the rest of the resolution" is not rebuilt per candidate:
 * with S the sorted resolution and U the sorted unmerged leaves under c
 * (|S| = |U| + 1, entries distinct), S without S[q] equals U exactly when
 * S and U agree on their first q entries (q <= pre) and S[q+1..] equals
 * U[q..] (q >= suf). One pass computes pre and suf; each candidate then
 * costs a binary search, and the whole check O(k log k).
 */
static int count_links(struct mls_tree *t, uint32_t p, uint32_t c, unsigned *count)
{
	const struct mls_parent_node *pn = &t->nodes[p].u.parent;
	uint32_t s = (c == tm_left(t, p)) ? tm_right(t, p) : tm_left(t, p);
	uint8_t ph[MLS_HASH_LEN];
	struct u32_vec res = {0}, unmerged = {0}, sorted = {0};
	size_t m, pre, suf;
	uint32_t lo, hi;
	int rc;

	tm_span(c, &lo, &hi);
	for (size_t i = 0; i < pn->num_unmerged_leaves; i++) {
		uint32_t x = 2 * pn->unmerged_leaves[i];
		if (x >= lo && x <= hi && (rc = u32_push(&unmerged, x)) != 0) {
			goto out;
		}
	}
	if ((rc = resolve(t, c, NULL, 0, &res)) != 0) {
		goto out;
	}
	if (res.n != unmerged.n + 1) {
		rc = HALQA_OK; /* no D can leave exactly the unmerged leaves */
		goto out;
	}
	if ((rc = mls_tree_parent_hash(t, p, s, ph)) != 0) {
		goto out;
	}
	for (size_t i = 0; i < res.n; i++) {
		if ((rc = u32_push(&sorted, res.v[i])) != 0) {
			goto out;
		}
	}
	qsort(sorted.v, sorted.n, sizeof *sorted.v, cmp_u32);
	m = unmerged.n; /* unmerged leaves are sorted: node indices grow with leaf indices */
	for (pre = 0; pre < m && sorted.v[pre] == unmerged.v[pre]; pre++) {
	}
	for (suf = m; suf > 0 && sorted.v[suf] == unmerged.v[suf - 1]; suf--) {
	}
	for (size_t i = 0; i < res.n; i++) {
		const struct mls_bytes *dph = node_parent_hash(t, res.v[i]);
		size_t q = 0, hi_q = sorted.n;

		if (dph == NULL || dph->len != MLS_HASH_LEN || memcmp(dph->data, ph, MLS_HASH_LEN)) {
			continue;
		}
		while (q < hi_q) {
			size_t mid = q + (hi_q - q) / 2;
			if (sorted.v[mid] < res.v[i]) {
				q = mid + 1;
			} else {
				hi_q = mid;
			}
		}
		if (suf <= q && q <= pre) {
			(*count)++;
		}
	}
	rc = HALQA_OK;
out:
	free(res.v);
	free(unmerged.v);
	free(sorted.v);
	return rc;
}

int mls_tree_verify_parent_hashes(struct mls_tree *t)
{
	uint32_t width;
	int rc;

	if (t == NULL) {
		return HALQA_ERR_ARG;
	}
	width = tree_width(t);
	for (uint32_t p = 1; p < width; p += 2) {
		unsigned count = 0;

		if (is_blank(t, p)) {
			continue;
		}
		if ((rc = count_links(t, p, tm_left(t, p), &count)) != 0 ||
		    (rc = count_links(t, p, tm_right(t, p), &count)) != 0) {
			return rc;
		}
		if (count != 1) {
			halqa_log(HALQA_LOG_DEBUG, "mls_tree",
				  "node %u: %u parent-hash links, want exactly 1", p, count);
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

/* ---- leaf node validation (7.3) ---- */

/* Extension types RFC 9420 7.2 calls default: never listed in capabilities. */
static bool default_extension(uint16_t type)
{
	return type >= MLS_EXT_APPLICATION_ID && type <= MLS_EXT_EXTERNAL_SENDERS;
}

static bool default_proposal(uint16_t type)
{
	return type >= MLS_PROPOSAL_ADD && type <= MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
}

static bool u16_listed(const struct mls_u16_list *l, uint16_t v)
{
	for (size_t i = 0; i < l->num; i++) {
		if (l->items[i] == v) {
			return true;
		}
	}
	return false;
}

/* The leaf's signature over LeafNodeTBS (7.2), with group context for update and commit. */
static int check_signature(const struct mls_leaf_node *leaf, uint32_t leaf_index,
			   const struct mls_tree_policy *policy)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_TREE_BYTES, 0);
	(void)mls_leaf_node_tbs_encode(&w, leaf, policy->group_id, policy->group_id_len,
				       leaf_index);
	if ((rc = bytes_writer_error(&w)) == HALQA_OK) {
		rc = mls_verify_with_label(leaf->signature_key.data, "LeafNodeTBS",
					   bytes_writer_data(&w), bytes_writer_len(&w),
					   leaf->signature.data, leaf->signature.len);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

/*
 * required_capabilities (11.1): extension_types<V>, proposal_types<V>,
 * credential_types<V>, each of which the leaf must support.
 */
static int check_required_capabilities(const struct mls_leaf_node *leaf,
				       const struct mls_tree_policy *policy)
{
	const struct mls_extension *ext;
	struct mls_required_capabilities req;
	int rc;

	if (policy->group_extensions == NULL ||
	    (ext = mls_extension_list_find(policy->group_extensions,
					   MLS_EXT_REQUIRED_CAPABILITIES)) == NULL) {
		return HALQA_OK;
	}
	memset(&req, 0, sizeof req);
	if ((rc = mls_required_capabilities_decode_bytes(ext->data.data, ext->data.len, &req)) !=
	    0) {
		goto out;
	}
	rc = HALQA_ERR_INVALID;
	for (size_t i = 0; i < req.extension_types.num; i++) {
		uint16_t type = req.extension_types.items[i];

		if (!default_extension(type) && !u16_listed(&leaf->capabilities.extensions, type)) {
			goto out;
		}
	}
	for (size_t i = 0; i < req.proposal_types.num; i++) {
		uint16_t type = req.proposal_types.items[i];

		if (!default_proposal(type) && !u16_listed(&leaf->capabilities.proposals, type)) {
			goto out;
		}
	}
	for (size_t i = 0; i < req.credential_types.num; i++) {
		if (!u16_listed(&leaf->capabilities.credentials, req.credential_types.items[i])) {
			goto out;
		}
	}
	rc = HALQA_OK;
out:
	mls_required_capabilities_cleanup(&req);
	return rc;
}

/* The checks of 7.3 that concern the leaf alone, the signature last (the costly one). */
static int check_leaf_alone(const struct mls_leaf_node *leaf, uint32_t leaf_index,
			    const struct mls_tree_policy *policy)
{
	int rc;

	if (leaf->encryption_key.len != MLS_KEM_PUB_LEN ||
	    leaf->signature_key.len != MLS_SIG_PUB_LEN) {
		return HALQA_ERR_INVALID;
	}
	if (leaf->leaf_node_source == MLS_LEAF_SOURCE_KEY_PACKAGE) {
		const struct mls_lifetime *lt = &leaf->lifetime;

		if (policy->now != 0 && (policy->now < lt->not_before || policy->now > lt->not_after)) {
			return HALQA_ERR_INVALID;
		}
		if (policy->max_lifetime != 0 && (lt->not_after < lt->not_before ||
						  lt->not_after - lt->not_before > policy->max_lifetime)) {
			return HALQA_ERR_INVALID;
		}
	}
	/* 7.2: the leaf's own credential type must be among its capabilities. */
	if (!u16_listed(&leaf->capabilities.credentials, leaf->credential.type)) {
		return HALQA_ERR_INVALID;
	}
	for (size_t i = 0; i < leaf->extensions.num; i++) {
		uint16_t type = leaf->extensions.items[i].type;

		if (!default_extension(type) && !u16_listed(&leaf->capabilities.extensions, type)) {
			return HALQA_ERR_INVALID;
		}
		/* 13: an extension type appears at most once in a list. */
		for (size_t j = 0; j < i; j++) {
			if (leaf->extensions.items[j].type == type) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	if ((rc = check_required_capabilities(leaf, policy)) != 0) {
		return rc;
	}
	return check_signature(leaf, leaf_index, policy);
}

static bool bytes_equal(const struct mls_bytes *a, const struct mls_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int mls_tree_check_leaf(const struct mls_tree *t, const struct mls_leaf_node *leaf,
			uint32_t leaf_index, uint8_t source, const struct mls_tree_policy *policy)
{
	const struct mls_leaf_node *old;
	uint32_t width;
	int rc;

	if (t == NULL || leaf == NULL || policy == NULL) {
		return HALQA_ERR_ARG;
	}
	if (source != 0 && leaf->leaf_node_source != source) {
		return HALQA_ERR_INVALID;
	}
	old = mls_tree_leaf(t, leaf_index);
	if (source == MLS_LEAF_SOURCE_UPDATE || source == MLS_LEAF_SOURCE_COMMIT) {
		/* 7.3, 7.5: an update replaces a member's leaf with a fresh key. */
		if (old == NULL || bytes_equal(&old->encryption_key, &leaf->encryption_key)) {
			return HALQA_ERR_INVALID;
		}
	}
	width = tree_width(t);
	for (uint32_t x = 0; x < width; x++) {
		const struct mls_node *n = &t->nodes[x];

		if (n->type == MLS_NODE_BLANK || x == 2 * leaf_index) {
			continue;
		}
		if (n->type == MLS_NODE_PARENT) {
			if (bytes_equal(&n->u.parent.encryption_key, &leaf->encryption_key)) {
				return HALQA_ERR_INVALID;
			}
			continue;
		}
		/* 7.3: keys unique among members; credential types mutually supported. */
		if (bytes_equal(&n->u.leaf.encryption_key, &leaf->encryption_key) ||
		    bytes_equal(&n->u.leaf.signature_key, &leaf->signature_key) ||
		    !u16_listed(&n->u.leaf.capabilities.credentials, leaf->credential.type) ||
		    !u16_listed(&leaf->capabilities.credentials, n->u.leaf.credential.type)) {
			return HALQA_ERR_INVALID;
		}
	}
	if ((rc = check_leaf_alone(leaf, leaf_index, policy)) != 0) {
		return rc;
	}
	return HALQA_OK;
}

struct key_ref {
	const struct mls_bytes *key;
};

static int cmp_key(const void *a, const void *b)
{
	const struct mls_bytes *x = ((const struct key_ref *)a)->key;
	const struct mls_bytes *y = ((const struct key_ref *)b)->key;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n > 0 ? memcmp(x->data, y->data, n) : 0;

	if (c != 0) {
		return c;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Sorts |keys| and reports HALQA_ERR_INVALID if two are equal. */
static int check_unique(struct key_ref *keys, size_t n)
{
	if (n > 1) {
		qsort(keys, n, sizeof *keys, cmp_key);
	}
	for (size_t i = 1; i < n; i++) {
		if (cmp_key(&keys[i - 1], &keys[i]) == 0) {
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

int mls_tree_verify(struct mls_tree *t, const struct mls_tree_policy *policy)
{
	struct key_ref *enc = NULL, *sig = NULL;
	size_t n_enc = 0, n_sig = 0;
	uint16_t in_use[8];
	size_t n_in_use = 0;
	uint32_t width;
	int rc;

	if (t == NULL || policy == NULL || t->num_leaves == 0) {
		return HALQA_ERR_ARG;
	}
	width = tree_width(t);
	if ((rc = mls_tree_verify_parent_hashes(t)) != 0) {
		return rc;
	}
	if ((enc = calloc(width, sizeof *enc)) == NULL ||
	    (sig = calloc(t->num_leaves, sizeof *sig)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	for (uint32_t x = 0; x < width; x++) {
		const struct mls_node *n = &t->nodes[x];

		if (n->type == MLS_NODE_PARENT) {
			enc[n_enc++].key = &n->u.parent.encryption_key;
		} else if (n->type == MLS_NODE_LEAF) {
			uint16_t type = n->u.leaf.credential.type;
			bool seen = false;

			enc[n_enc++].key = &n->u.leaf.encryption_key;
			sig[n_sig++].key = &n->u.leaf.signature_key;
			for (size_t i = 0; i < n_in_use; i++) {
				seen = seen || in_use[i] == type;
			}
			if (!seen) {
				/* The codec knows two credential types; more cannot arrive. */
				if (n_in_use == sizeof in_use / sizeof in_use[0]) {
					rc = HALQA_ERR_UNSUPPORTED;
					goto out;
				}
				in_use[n_in_use++] = type;
			}
		}
	}
	/* 7.3 and 12.4.3.1: HPKE keys unique across all nodes, signature keys across leaves. */
	if ((rc = check_unique(enc, n_enc)) != 0 || (rc = check_unique(sig, n_sig)) != 0) {
		halqa_log(HALQA_LOG_DEBUG, "mls_tree", "duplicate key in tree");
		goto out;
	}
	for (uint32_t l = 0; l < t->num_leaves; l++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(t, l);

		if (leaf == NULL) {
			continue;
		}
		/* Every credential type in use is supported by every member (7.3). */
		for (size_t i = 0; i < n_in_use; i++) {
			if (!u16_listed(&leaf->capabilities.credentials, in_use[i])) {
				rc = HALQA_ERR_INVALID;
				goto out;
			}
		}
		if ((rc = check_leaf_alone(leaf, l, policy)) != 0) {
			halqa_log(HALQA_LOG_DEBUG, "mls_tree", "leaf %u: invalid (%s)", l,
				  halqa_errname(rc));
			goto out;
		}
	}
	rc = HALQA_OK;
out:
	free(enc);
	free(sig);
	return rc;
}

/* ---- Add, Update, Remove (12.1) ---- */

/* Inserts |leaf| into the sorted list of |p|, whose array already has room. */
static void insert_unmerged(struct mls_parent_node *p, uint32_t leaf)
{
	size_t i = p->num_unmerged_leaves;

	while (i > 0 && p->unmerged_leaves[i - 1] > leaf) {
		p->unmerged_leaves[i] = p->unmerged_leaves[i - 1];
		i--;
	}
	p->unmerged_leaves[i] = leaf;
	p->num_unmerged_leaves++;
}

int mls_tree_add_leaf(struct mls_tree *t, const struct mls_leaf_node *leaf, uint32_t *out_leaf)
{
	struct mls_leaf_node copy;
	uint32_t l, x, root;
	int rc;

	*out_leaf = 0;
	if (t == NULL || leaf == NULL) {
		return HALQA_ERR_ARG;
	}
	memset(&copy, 0, sizeof copy);
	for (l = 0; l < t->num_leaves && !is_blank(t, 2 * l); l++) {
	}
	if (l == t->num_leaves) {
		uint32_t grown = t->num_leaves == 0 ? 1 : 2 * t->num_leaves;

		if (grown > MLS_MAX_LEAVES) {
			return HALQA_ERR_TOO_LARGE;
		}
		if ((rc = reserve(t, grown)) != 0) {
			return rc;
		}
	}
	if ((rc = mls_leaf_node_copy(&copy, leaf)) != 0) {
		return rc;
	}
	/*
	 * Make room in every unmerged_leaves list first, so nothing can fail
	 * once the tree starts changing. Spare capacity is harmless.
	 */
	if (l < t->num_leaves) {
		root = tree_root(t);
		for (x = 2 * l; x != root;) {
			x = tm_parent(t, x);
			if (!is_blank(t, x)) {
				struct mls_parent_node *p = &t->nodes[x].u.parent;
				uint32_t *v = realloc(p->unmerged_leaves,
						      (p->num_unmerged_leaves + 1) * sizeof *v);
				if (v == NULL) {
					mls_leaf_node_cleanup(&copy);
					return HALQA_ERR_NOMEM;
				}
				p->unmerged_leaves = v;
			}
		}
	} else {
		/*
		 * Extend (12.1.1, 7.7): the old tree becomes the left half under a
		 * blank root, so the new leaf has no non-blank ancestor.
		 */
		t->num_leaves = t->num_leaves == 0 ? 1 : 2 * t->num_leaves;
	}
	root = tree_root(t);
	for (x = 2 * l; x != root;) {
		x = tm_parent(t, x);
		if (!is_blank(t, x)) {
			insert_unmerged(&t->nodes[x].u.parent, l);
		}
	}
	t->nodes[2 * l].type = MLS_NODE_LEAF;
	t->nodes[2 * l].u.leaf = copy;
	t->num_members++;
	invalidate_path(t, 2 * l);
	*out_leaf = l;
	return HALQA_OK;
}

int mls_tree_update_leaf(struct mls_tree *t, uint32_t leaf_index, const struct mls_leaf_node *leaf)
{
	struct mls_leaf_node copy;
	uint32_t x, root;
	int rc;

	if (t == NULL || leaf == NULL || leaf_index >= t->num_leaves) {
		return HALQA_ERR_ARG;
	}
	if (is_blank(t, 2 * leaf_index)) {
		return HALQA_ERR_INVALID;
	}
	memset(&copy, 0, sizeof copy);
	if ((rc = mls_leaf_node_copy(&copy, leaf)) != 0) {
		return rc;
	}
	mls_leaf_node_cleanup(&t->nodes[2 * leaf_index].u.leaf);
	t->nodes[2 * leaf_index].u.leaf = copy;
	root = tree_root(t);
	for (x = 2 * leaf_index; x != root;) {
		x = tm_parent(t, x);
		blank_node(t, x);
	}
	invalidate_path(t, 2 * leaf_index);
	return HALQA_OK;
}

int mls_tree_remove_leaf(struct mls_tree *t, uint32_t leaf_index)
{
	uint32_t x, root, last;

	if (t == NULL || leaf_index >= t->num_leaves) {
		return HALQA_ERR_ARG;
	}
	if (is_blank(t, 2 * leaf_index) || t->num_members <= 1) {
		return HALQA_ERR_INVALID;
	}
	invalidate_path(t, 2 * leaf_index);
	blank_node(t, 2 * leaf_index);
	root = tree_root(t);
	for (x = 2 * leaf_index; x != root;) {
		x = tm_parent(t, x);
		blank_node(t, x);
	}
	t->num_members--;
	/* 12.1.3: truncate while the right half holds no member. */
	for (last = t->num_leaves - 1; is_blank(t, 2 * last); last--) {
	}
	while (t->num_leaves > 1 && last < t->num_leaves / 2) {
		uint32_t old_width = tree_width(t);

		t->num_leaves /= 2;
		for (x = tree_width(t); x < old_width; x++) {
			blank_node(t, x);
			t->hash_ok[x] = 0;
		}
	}
	return HALQA_OK;
}

void mls_tree_install_path(struct mls_tree *t, uint32_t leaf, struct mls_leaf_node *leaf_node,
			   const uint32_t *path, struct mls_parent_node *parents, size_t n)
{
	uint32_t x, root = tree_root(t);
	size_t i = 0;

	mls_leaf_node_cleanup(&t->nodes[2 * leaf].u.leaf);
	t->nodes[2 * leaf].u.leaf = *leaf_node;
	memset(leaf_node, 0, sizeof *leaf_node);
	for (x = 2 * leaf; x != root;) {
		x = tm_parent(t, x);
		blank_node(t, x);
		if (i < n && path[i] == x) {
			t->nodes[x].type = MLS_NODE_PARENT;
			t->nodes[x].u.parent = parents[i];
			memset(&parents[i], 0, sizeof parents[i]);
			i++;
		}
	}
	invalidate_path(t, 2 * leaf);
}
