/*
 * mls_group_state.c: saving a whole MLS group to bytes and loading it
 * back (the client keeps the bytes in its encrypted store between runs).
 *
 * The format is ours, versioned, and written only through bytes_writer
 * (a BYTES_WIPE writer: it is full of secrets). Everything is fixed-width
 * big-endian; variable parts carry a u32 length prefix with our own bound.
 *
 *   state    = magic "HQGS" || u16 version (1) || u8 flags
 *              (1 public handshake, 2 removed, 4 pending; no other bits)
 *              || sig_priv[64] || epoch (current)
 *              || u64 num_history || u8 n || n x (u64 epoch || psk[32])
 *              || u32 num_props || each: ref[32] || u32 sender || <Proposal>
 *              || if pending: epoch (the pending one) || <MLSMessage>
 *                             || u32 n || n x u32 added leaf
 *                             || u32 n || n x u32 removed leaf
 *   epoch    = <GroupContext> || <ratchet tree> || private tree state
 *              || 8 epoch secrets[32] || external_pub[32]
 *              || secret tree || u8 interim_len || interim
 * where <X> is a u32 length then the RFC 9420 encoding of X. The
 * joiner, welcome and encryption secrets are absent: a kept epoch has
 * wiped them (the encryption secret lives on only as the secret tree).
 *
 * The bytes are stored encrypted, but mls_group_load still treats them
 * as hostile: every length is bounded, nothing may trail, and each part is
 * checked as far as its content allows. The tree is verified as a
 * joiner verifies one (mls_tree_verify: signatures, parent hashes, key
 * uniqueness) and its hash must equal the GroupContext's; our private
 * keys must match the public keys of our leaf and direct path; our
 * signing key must be the key of our leaf; the external key pair must
 * derive from the external secret; the secret tree's structure must be
 * one our own code can reach; cached proposals pass the checks a received
 * one passes; the pending epoch follows the current one. What cannot be
 * checked is the value of a secret that has no public image (epoch
 * secrets, ratchet secrets and kept keys, the interim transcript hash,
 * old resumption PSKs, proposal references): a changed byte there gives
 * a group that loads but no longer agrees with its peers, and fails their
 * messages' authentication, never our memory safety.
 *
 * mls_group_load_own, for bytes our own save wrote, is the same parser
 * with the same structural checks; of the content checks it keeps the
 * cheap ones (every key of the tree of its suite's length, our leaf's
 * signature key equal to our signing key's public half, the tree hash
 * equal to the GroupContext's, cached proposals) and skips those that
 * cost public-key operations: the leaf signatures and the rest of
 * mls_tree_verify, our private keys against the tree, the external key
 * pair, the signing key's seed against its public half. Where the
 * skipped checks would refuse, the group still loads safely: the key
 * lengths the code relies on are checked in both.
 */
#include "halqa/mls_group.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_key_schedule.h"
#include "halqa/mls_keypackage.h"
#include "halqa/mls_secret_tree.h"
#include "halqa/mls_tree.h"
#include "halqa/secmem.h"
#include "mls_group_internal.h"

static const uint8_t STATE_MAGIC[4] = {'H', 'Q', 'G', 'S'};
#define STATE_VERSION 1

#define FLAG_PUBLIC  0x01u
#define FLAG_REMOVED 0x02u
#define FLAG_PENDING 0x04u

/* The bound of a GroupContext encoding: id, two hashes, extensions. */
#define MAX_GC_BYTES (1u << 20)

/* ---- saving ---- */

static int put_epoch(struct bytes_writer *w, const struct mls_group_epoch *s)
{
	const struct mls_key_schedule_epoch *ks = s->ks;
	struct bytes_mark m;
	int rc;

	bytes_begin(w, BYTES_PREFIX_U32, &m);
	mls_group_context_encode(w, &s->gc);
	bytes_end(w, &m);
	bytes_begin(w, BYTES_PREFIX_U32, &m);
	if ((rc = mls_tree_encode(w, s->tree)) != 0) {
		return rc;
	}
	bytes_end(w, &m);
	if ((rc = mls_tree_private_encode(w, s->priv)) != 0) {
		return rc;
	}
	bytes_put(w, ks->sender_data_secret, MLS_HASH_LEN);
	bytes_put(w, ks->exporter_secret, MLS_HASH_LEN);
	bytes_put(w, ks->external_secret, MLS_HASH_LEN);
	bytes_put(w, ks->confirmation_key, MLS_HASH_LEN);
	bytes_put(w, ks->membership_key, MLS_HASH_LEN);
	bytes_put(w, ks->resumption_psk, MLS_HASH_LEN);
	bytes_put(w, ks->epoch_authenticator, MLS_HASH_LEN);
	bytes_put(w, ks->init_secret, MLS_HASH_LEN);
	bytes_put(w, ks->external_pub, MLS_KEM_PUB_LEN);
	mls_secret_tree_encode(w, s->st);
	bytes_put_u8(w, (uint8_t)s->interim_len);
	bytes_put(w, s->interim, s->interim_len);
	return bytes_writer_error(w);
}

static void put_leaves(struct bytes_writer *w, const uint32_t *l, size_t n)
{
	bytes_put_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		bytes_put_u32(w, l[i]);
	}
}

/* save_write writes |g|'s state to |w| (a BYTES_WIPE writer); the writer's error, if any. */
static int save_write(const struct mls_group *g, struct bytes_writer *w)
{
	struct bytes_mark m;
	size_t n_hist;
	int rc;

	bytes_put(w, STATE_MAGIC, sizeof STATE_MAGIC);
	bytes_put_u16(w, STATE_VERSION);
	bytes_put_u8(w, (uint8_t)((g->public_handshake ? FLAG_PUBLIC : 0) |
				  (g->removed ? FLAG_REMOVED : 0) |
				  (g->pending != NULL ? FLAG_PENDING : 0)));
	bytes_put(w, g->sig_priv, MLS_SIG_PRIV_LEN);
	if ((rc = put_epoch(w, &g->cur)) != 0) {
		return rc;
	}
	n_hist = g->history == NULL ? 0 : g->num_history;
	bytes_put_u64(w, (uint64_t)n_hist);
	n_hist = n_hist < MLS_GROUP_PSK_HISTORY ? n_hist : MLS_GROUP_PSK_HISTORY;
	bytes_put_u8(w, (uint8_t)n_hist);
	for (size_t i = 0; i < n_hist; i++) {
		bytes_put_u64(w, g->history[i].epoch);
		bytes_put(w, g->history[i].psk, MLS_HASH_LEN);
	}
	bytes_put_u32(w, (uint32_t)g->num_props);
	for (size_t i = 0; i < g->num_props; i++) {
		bytes_put(w, g->props[i].ref, MLS_HASH_LEN);
		bytes_put_u32(w, g->props[i].sender);
		bytes_begin(w, BYTES_PREFIX_U32, &m);
		mls_proposal_encode(w, &g->props[i].p);
		bytes_end(w, &m);
	}
	if (g->pending != NULL) {
		if ((rc = put_epoch(w, &g->pending->next)) != 0) {
			return rc;
		}
		bytes_put_u32(w, (uint32_t)g->pending->msg_len);
		bytes_put(w, g->pending->msg, g->pending->msg_len);
		put_leaves(w, g->pending->added, g->pending->num_added);
		put_leaves(w, g->pending->removed, g->pending->num_removed);
	}
	return bytes_writer_error(w);
}

int mls_group_save(const struct mls_group *g, uint8_t **out, size_t *out_len)
{
	struct bytes_writer w;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL || out_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	*out_len = 0;
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_writer_init(&w, MLS_GROUP_STATE_MAX, BYTES_WIPE);
	if ((rc = save_write(g, &w)) != 0 || (rc = bytes_writer_finish(&w, &buf, &len)) != 0) {
		goto out;
	}
	if ((*out = secmem_alloc(len)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, buf, len);
	*out_len = len;
out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		free(buf);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

void mls_group_state_digest(uint8_t out[static MLS_GROUP_STATE_DIGEST_LEN], const uint8_t *state,
			    size_t len)
{
	crypto_generichash(out, MLS_GROUP_STATE_DIGEST_LEN, state, len, NULL, 0);
}

int mls_group_state_hash(const struct mls_group *g, uint8_t out[static MLS_GROUP_STATE_DIGEST_LEN])
{
	struct bytes_writer w;
	int rc;

	sodium_memzero(out, MLS_GROUP_STATE_DIGEST_LEN);
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_writer_init(&w, MLS_GROUP_STATE_MAX, BYTES_WIPE);
	if ((rc = save_write(g, &w)) == 0) {
		mls_group_state_digest(out, bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	return rc;
}

void mls_group_state_free(uint8_t *state, size_t len)
{
	(void)len; /* secmem_free knows the size and wipes it */
	secmem_free(state);
}

/* ---- loading ---- */

static bool bytes_is(const struct mls_bytes *a, const uint8_t *b, size_t n)
{
	return a->len == n && (n == 0 || memcmp(a->data, b, n) == 0);
}

/* The GroupContext: ours is always MLS 1.0, suite 0x0003, with 32-byte hashes. */
static int get_group_context(struct bytes_reader *r, struct mls_group_context *gc)
{
	struct bytes_reader sub;
	int rc;

	if ((rc = bytes_get_prefixed(r, 4, &sub, MAX_GC_BYTES)) != 0 ||
	    (rc = mls_group_context_decode(&sub, gc)) != 0 || (rc = bytes_expect_end(&sub)) != 0) {
		return rc;
	}
	if (gc->version != MLS_VERSION_MLS10 || gc->cipher_suite != MLS_KEYPACKAGE_SUITE) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (gc->group_id.len == 0 || gc->group_id.len > MLS_MAX_GROUP_ID ||
	    gc->tree_hash.len != MLS_HASH_LEN ||
	    (gc->confirmed_transcript_hash.len != 0 &&
	     gc->confirmed_transcript_hash.len != MLS_HASH_LEN)) {
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

/* The epoch secrets (the external key pair is checked in check_epoch). */
static int get_key_schedule(struct bytes_reader *r, struct mls_key_schedule_epoch **out)
{
	struct mls_key_schedule_epoch *ks;
	int rc;

	*out = NULL;
	if ((ks = secmem_alloc(sizeof *ks)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memset(ks, 0, sizeof *ks);
	if ((rc = bytes_get_copy(r, ks->sender_data_secret, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->exporter_secret, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->external_secret, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->confirmation_key, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->membership_key, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->resumption_psk, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->epoch_authenticator, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->init_secret, MLS_HASH_LEN)) != 0 ||
	    (rc = bytes_get_copy(r, ks->external_pub, MLS_KEM_PUB_LEN)) != 0) {
		mls_key_schedule_free(ks);
		return rc;
	}
	*out = ks;
	return HALQA_OK;
}

/*
 * One epoch, parsed: the structural checks here, the costly ones (with
 * signatures and key derivations) in check_epoch once the whole state
 * has parsed, so damaged bytes cost little. The interim transcript hash
 * is empty only in a group's first epoch (8.2).
 */
static int get_epoch(struct bytes_reader *r, struct mls_group_epoch *s)
{
	struct bytes_reader sub;
	uint8_t n;
	int rc;

	if ((rc = get_group_context(r, &s->gc)) != 0 ||
	    (rc = bytes_get_prefixed(r, 4, &sub, MLS_MAX_TREE_BYTES)) != 0 ||
	    (rc = mls_tree_load(&s->tree, sub.ptr, sub.len)) != 0) {
		return rc;
	}
	if ((rc = mls_tree_private_decode(r, &s->priv)) != 0 ||
	    (rc = get_key_schedule(r, &s->ks)) != 0 ||
	    (rc = mls_secret_tree_decode(r, &s->st)) != 0 || (rc = bytes_get_u8(r, &n)) != 0) {
		return rc;
	}
	if (mls_secret_tree_n_leaves(s->st) != mls_tree_num_leaves(s->tree)) {
		return HALQA_ERR_INVALID;
	}
	if (n == 0) {
		/* Only the creator's epoch 0 has no transcript yet. */
		if (s->gc.epoch != 0 || s->gc.confirmed_transcript_hash.len != 0) {
			return HALQA_ERR_INVALID;
		}
	} else if (n != MLS_HASH_LEN || s->gc.confirmed_transcript_hash.len != MLS_HASH_LEN) {
		return HALQA_ERR_INVALID;
	}
	s->interim_len = n;
	return bytes_get_copy(r, s->interim, n);
}

/*
 * Every HPKE and signature key in the tree has its suite's length, which
 * the rest of the group code relies on (a member's signature key is
 * passed to the verifier as MLS_SIG_PUB_LEN bytes). mls_tree_verify
 * checks the leaves' keys too; this walk is what a load of our own state
 * keeps of it.
 */
static int check_key_lengths(const struct mls_tree *t)
{
	uint32_t n = mls_tree_num_nodes(t);

	for (uint32_t x = 0; x < n; x++) {
		const struct mls_node *node = mls_tree_node(t, x);

		if (node->type == MLS_NODE_LEAF &&
		    (node->u.leaf.encryption_key.len != MLS_KEM_PUB_LEN ||
		     node->u.leaf.signature_key.len != MLS_SIG_PUB_LEN)) {
			return HALQA_ERR_INVALID;
		}
		if (node->type == MLS_NODE_PARENT &&
		    node->u.parent.encryption_key.len != MLS_KEM_PUB_LEN) {
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

/*
 * One epoch, checked: the tree verified as a joiner verifies it
 * (12.4.3.1) with its hash equal to the GroupContext's, our private keys
 * matching it, and the external key pair derived from the external secret.
 * For our own state (|own|) only the key lengths and the tree hash.
 */
static int check_epoch(struct mls_group_epoch *s, bool own)
{
	struct mls_tree_policy policy = mls_group_tree_policy(s);
	uint8_t th[MLS_HASH_LEN], priv[MLS_KEM_PRIV_LEN], pub[MLS_KEM_PUB_LEN];
	int rc;

	if ((rc = check_key_lengths(s->tree)) != 0 ||
	    (!own && (rc = mls_tree_verify(s->tree, &policy)) != 0) ||
	    (rc = mls_tree_hash(s->tree, th)) != 0) {
		return rc;
	}
	if (!bytes_is(&s->gc.tree_hash, th, sizeof th)) {
		return HALQA_ERR_INVALID;
	}
	if (own) {
		return HALQA_OK;
	}
	if ((rc = mls_tree_private_check(s->priv, s->tree)) != 0 ||
	    (rc = mls_key_schedule_external_key_pair(s->ks, priv, pub)) != 0) {
		return rc;
	}
	sodium_memzero(priv, sizeof priv);
	return sodium_memcmp(pub, s->ks->external_pub, sizeof pub) == 0 ? HALQA_OK
									: HALQA_ERR_INVALID;
}

/*
 * Our signing key: a valid Ed25519 key pair (its public half derived
 * again from its seed, unless |own|) whose public half is our leaf's key
 * (checked by the caller once the tree is read).
 */
static int get_sig_priv(struct bytes_reader *r, struct mls_group *g, bool own)
{
	uint8_t check[MLS_SIG_PRIV_LEN], pub[MLS_SIG_PUB_LEN];
	int rc;

	if ((g->sig_priv = secmem_alloc(MLS_SIG_PRIV_LEN)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = bytes_get_copy(r, g->sig_priv, MLS_SIG_PRIV_LEN)) != 0 || own) {
		return rc;
	}
	if ((rc = mls_sig_key_pair_from_seed(check, pub, g->sig_priv)) != 0) {
		goto out;
	}
	if (sodium_memcmp(check, g->sig_priv, sizeof check) != 0) {
		rc = HALQA_ERR_INVALID;
	}
out:
	sodium_memzero(check, sizeof check);
	return rc;
}

static int get_history(struct bytes_reader *r, struct mls_group *g)
{
	uint64_t num;
	uint8_t n;
	int rc;

	if ((rc = bytes_get_u64(r, &num)) != 0 || (rc = bytes_get_u8(r, &n)) != 0) {
		return rc;
	}
	/* One entry per epoch change we went through, and the ring holds the last 8. */
	if (num > g->cur.gc.epoch ||
	    n != (num < MLS_GROUP_PSK_HISTORY ? num : MLS_GROUP_PSK_HISTORY)) {
		return HALQA_ERR_INVALID;
	}
	if (num == 0) {
		return HALQA_OK;
	}
	if ((g->history = secmem_alloc(MLS_GROUP_PSK_HISTORY * sizeof *g->history)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memset(g->history, 0, MLS_GROUP_PSK_HISTORY * sizeof *g->history);
	g->num_history = (size_t)num;
	for (uint8_t i = 0; i < n; i++) {
		if ((rc = bytes_get_u64(r, &g->history[i].epoch)) != 0 ||
		    (rc = bytes_get_copy(r, g->history[i].psk, MLS_HASH_LEN)) != 0) {
			return rc;
		}
		if (g->history[i].epoch >= g->cur.gc.epoch) {
			return HALQA_ERR_INVALID;
		}
	}
	return HALQA_OK;
}

static int get_proposals(struct bytes_reader *r, struct mls_group *g)
{
	struct bytes_reader sub;
	uint32_t n;
	int rc;

	if ((rc = bytes_get_u32(r, &n)) != 0) {
		return rc;
	}
	if (n > MLS_GROUP_MAX_CACHED_PROPOSALS || (g->removed && n != 0)) {
		return HALQA_ERR_INVALID;
	}
	if (n == 0) {
		return HALQA_OK;
	}
	if ((g->props = calloc(n, sizeof *g->props)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct mls_group_cached_proposal *cp = &g->props[i];

		if ((rc = bytes_get_copy(r, cp->ref, MLS_HASH_LEN)) != 0 ||
		    (rc = bytes_get_u32(r, &cp->sender)) != 0 ||
		    (rc = bytes_get_prefixed(r, 4, &sub, MLS_MAX_ENCODING)) != 0) {
			return rc;
		}
		rc = mls_proposal_decode(&sub, &cp->p);
		g->num_props = i + 1; /* cleaned up by mls_group_free from here on */
		if (rc != 0 || (rc = bytes_expect_end(&sub)) != 0) {
			return rc;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (memcmp(g->props[j].ref, cp->ref, MLS_HASH_LEN) == 0) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	return HALQA_OK;
}

/* Each cached proposal passes the checks a received one passes (12.1). */
static int check_proposals(const struct mls_group *g)
{
	int rc;

	for (size_t i = 0; i < g->num_props; i++) {
		const struct mls_group_cached_proposal *cp = &g->props[i];

		if (cp->sender != UINT32_MAX && mls_tree_leaf(g->cur.tree, cp->sender) == NULL) {
			return HALQA_ERR_INVALID;
		}
		if ((rc = mls_group_check_proposal(g, &cp->p, cp->sender)) != 0) {
			return rc;
		}
	}
	return HALQA_OK;
}

/* A list of leaf indices, each non-blank in |t|. */
static int get_leaves(struct bytes_reader *r, const struct mls_tree *t, uint32_t **out,
		      size_t *out_num)
{
	uint32_t n;
	int rc;

	if ((rc = bytes_get_u32(r, &n)) != 0) {
		return rc;
	}
	if (n > mls_tree_num_leaves(t)) {
		return HALQA_ERR_INVALID;
	}
	if ((*out = calloc((size_t)n + 1, sizeof **out)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = bytes_get_u32(r, &(*out)[i])) != 0) {
			return rc;
		}
		if (mls_tree_leaf(t, (*out)[i]) == NULL) {
			return HALQA_ERR_INVALID;
		}
		for (uint32_t j = 0; j < i; j++) {
			if ((*out)[j] == (*out)[i]) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	*out_num = n;
	return HALQA_OK;
}

/*
 * Our pending commit: an epoch one after the current, of the same group,
 * with us at the same leaf; the commit message as we sent it (a handshake
 * MLSMessage); the leaves it adds (members of the new epoch) and removes
 * (members of the current one).
 */
static int get_pending(struct bytes_reader *r, struct mls_group *g)
{
	struct mls_group_pending *p;
	struct mls_message m = {0};
	uint32_t len;
	const uint8_t *span;
	int rc;

	if ((p = g->pending = calloc(1, sizeof *p)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = get_epoch(r, &p->next)) != 0) {
		return rc;
	}
	if (p->next.gc.epoch != g->cur.gc.epoch + 1 ||
	    !bytes_is(&p->next.gc.group_id, g->cur.gc.group_id.data, g->cur.gc.group_id.len) ||
	    mls_tree_private_leaf_index(p->next.priv) != mls_tree_private_leaf_index(g->cur.priv) ||
	    p->next.interim_len != MLS_HASH_LEN) {
		return HALQA_ERR_INVALID;
	}
	if ((rc = bytes_get_u32(r, &len)) != 0) {
		return rc;
	}
	if (len > MLS_MAX_ENCODING) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((rc = bytes_get_span(r, &span, len)) != 0) {
		return rc;
	}
	if ((rc = mls_message_decode_bytes(span, len, &m)) != 0) {
		return rc;
	}
	if (m.wire_format != MLS_WIRE_PUBLIC_MESSAGE && m.wire_format != MLS_WIRE_PRIVATE_MESSAGE) {
		rc = HALQA_ERR_INVALID;
	}
	mls_message_cleanup(&m);
	if (rc != 0) {
		return rc;
	}
	if ((p->msg = malloc(len + 1)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memcpy(p->msg, span, len);
	p->msg_len = len;
	if ((rc = get_leaves(r, p->next.tree, &p->added, &p->num_added)) != 0) {
		return rc;
	}
	return get_leaves(r, g->cur.tree, &p->removed, &p->num_removed);
}

/* load: mls_group_load, or mls_group_load_own if |own|; one parser for both. */
static int load(struct mls_group **out, const uint8_t *state, size_t len,
		const struct mls_group_psk_store *psks, bool own)
{
	struct mls_group *g = NULL;
	struct bytes_reader r;
	uint8_t magic[sizeof STATE_MAGIC], flags;
	const struct mls_leaf_node *leaf;
	uint16_t version;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	if (state == NULL || len > MLS_GROUP_STATE_MAX) {
		return state == NULL ? HALQA_ERR_ARG : HALQA_ERR_TOO_LARGE;
	}
	bytes_reader_init(&r, state, len);
	if ((rc = bytes_get_copy(&r, magic, sizeof magic)) != 0 ||
	    (rc = bytes_get_u16(&r, &version)) != 0 || (rc = bytes_get_u8(&r, &flags)) != 0) {
		return rc;
	}
	if (memcmp(magic, STATE_MAGIC, sizeof magic) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	if (version != STATE_VERSION) {
		return HALQA_ERR_UNSUPPORTED;
	}
	/* A removed group dropped its pending commit; no unknown flags. */
	if ((flags & ~(FLAG_PUBLIC | FLAG_REMOVED | FLAG_PENDING)) != 0 ||
	    ((flags & FLAG_REMOVED) != 0 && (flags & FLAG_PENDING) != 0)) {
		return HALQA_ERR_INVALID;
	}
	if ((g = calloc(1, sizeof *g)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	g->public_handshake = (flags & FLAG_PUBLIC) != 0;
	g->removed = (flags & FLAG_REMOVED) != 0;
	g->psks = psks;
	/* First parse everything, then run the checks that cost signatures. */
	if ((rc = get_sig_priv(&r, g, own)) != 0 || (rc = get_epoch(&r, &g->cur)) != 0 ||
	    (rc = get_history(&r, g)) != 0 || (rc = get_proposals(&r, g)) != 0 ||
	    ((flags & FLAG_PENDING) != 0 && (rc = get_pending(&r, g)) != 0) ||
	    (rc = bytes_expect_end(&r)) != 0) {
		goto out;
	}
	leaf = mls_tree_leaf(g->cur.tree, mls_tree_private_leaf_index(g->cur.priv));
	if (leaf == NULL ||
	    !bytes_is(&leaf->signature_key, g->sig_priv + MLS_SIG_SEED_LEN, MLS_SIG_PUB_LEN)) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	if ((rc = check_epoch(&g->cur, own)) != 0 || (rc = check_proposals(g)) != 0 ||
	    (g->pending != NULL && (rc = check_epoch(&g->pending->next, own)) != 0)) {
		goto out;
	}
	*out = g;
	g = NULL;
out:
	mls_group_free(g);
	return rc;
}

int mls_group_load(struct mls_group **out, const uint8_t *state, size_t len,
		   const struct mls_group_psk_store *psks)
{
	return load(out, state, len, psks, false);
}

int mls_group_load_own(struct mls_group **out, const uint8_t *state, size_t len,
		       const struct mls_group_psk_store *psks)
{
	return load(out, state, len, psks, true);
}
