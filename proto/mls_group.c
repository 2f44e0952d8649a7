/*
 * mls_group.c: the MLS group state machine (RFC 9420 sections 11, 12) on
 * top of the codec, the ratchet tree and TreeKEM, the key schedule, the
 * secret tree and message framing.
 *
 * One epoch's state is a struct mls_group_epoch (GroupContext, tree, our
 * private path keys, epoch secrets, secret tree, interim transcript hash).
 * Every change is computed into a fresh candidate state built from copies
 * of the current one and swapped in only when every check passed, so a
 * refused commit cannot leave a half-applied group; our own commit simply
 * stays a candidate (the pending commit) until the relay confirms it.
 *
 * Receiving a commit follows 12.4.2: the sender's leaf must be non-blank
 * and its signature key verifies the content (6.3.2 leaves this to us);
 * proposals by reference come from this epoch's cache; the proposal list
 * is validated (12.2: who may propose what, no committer Update or Remove,
 * at most one change per leaf, at most one GroupContextExtensions, valid
 * KeyPackages and LeafNodes through the tree layer, unique keys, PSKs we
 * hold), applied in the order of 12.3, the path is required when 12.4
 * says so and merged and decrypted by TreeKEM, and the confirmation tag is
 * checked against the new epoch's confirmation key. Secrets (epoch
 * secrets, commit and PSK secrets, GroupSecrets encodings, the welcome
 * key, our signing key) are wiped on every path out.
 */
#include "halqa/mls_group.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/log.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_framing.h"
#include "halqa/mls_key_schedule.h"
#include "halqa/mls_keypackage.h"
#include "halqa/mls_secret_tree.h"
#include "halqa/mls_tree.h"
#include "halqa/mls_tree_math.h"
#include "halqa/secmem.h"
#include "mls_group_internal.h"

/* A proposal of a commit, resolved, with who proposed it. */
struct item {
	const struct mls_proposal *p;
	uint32_t sender;
};

/* What applying a proposal list produced. */
struct applied {
	uint32_t *added; /* leaves of the Adds, in order */
	size_t num_added;
	uint32_t *removed; /* leaves of the Removes, in order */
	size_t num_removed;
	bool path_required;
	bool removed_self;
	bool has_psk;
	uint8_t psk_secret[MLS_HASH_LEN];
};

static void applied_cleanup(struct applied *a)
{
	free(a->added);
	free(a->removed);
	sodium_memzero(a, sizeof *a);
}

void mls_group_epoch_cleanup(struct mls_group_epoch *s)
{
	mls_group_context_cleanup(&s->gc);
	mls_tree_free(s->tree);
	mls_tree_private_free(s->priv);
	mls_key_schedule_free(s->ks);
	mls_secret_tree_free(s->st);
	sodium_memzero(s, sizeof *s);
}

/* Starts a candidate: copies of the GroupContext, tree and private keys. */
static int state_begin(struct mls_group_epoch *next, const struct mls_group_epoch *cur)
{
	int rc;

	memset(next, 0, sizeof *next);
	if ((rc = mls_group_context_copy(&next->gc, &cur->gc)) != 0 ||
	    (rc = mls_tree_copy(&next->tree, cur->tree)) != 0 ||
	    (rc = mls_tree_private_copy(&next->priv, cur->priv)) != 0) {
		mls_group_epoch_cleanup(next);
	}
	return rc;
}

static void clear_cache(struct mls_group *g)
{
	for (size_t i = 0; i < g->num_props; i++) {
		mls_proposal_cleanup(&g->props[i].p);
	}
	free(g->props);
	g->props = NULL;
	g->num_props = 0;
}

void mls_group_pending_free(struct mls_group_pending *p)
{
	if (p == NULL) {
		return;
	}
	mls_group_epoch_cleanup(&p->next);
	free(p->msg);
	free(p->added);
	free(p->removed);
	free(p);
}

static void drop_pending(struct mls_group *g)
{
	mls_group_pending_free(g->pending);
	g->pending = NULL;
}

void mls_group_free(struct mls_group *g)
{
	if (g == NULL) {
		return;
	}
	drop_pending(g);
	clear_cache(g);
	mls_group_epoch_cleanup(&g->cur);
	secmem_free(g->sig_priv);
	secmem_free(g->history); /* wipes; NULL is a no-op */
	free(g);
}

static bool bytes_eq(const struct mls_bytes *a, const uint8_t *b, size_t b_len)
{
	return a->len == b_len && (b_len == 0 || memcmp(a->data, b, b_len) == 0);
}

struct mls_tree_policy mls_group_tree_policy(const struct mls_group_epoch *s)
{
	struct mls_tree_policy p = {
		.group_id = s->gc.group_id.data,
		.group_id_len = s->gc.group_id.len,
		.group_extensions = &s->gc.extensions,
	};
	return p;
}

static struct mls_framing_epoch framing_epoch(struct mls_group_epoch *s)
{
	struct mls_framing_epoch e = {.group_context = &s->gc, .secrets = s->ks, .tree = s->st};
	return e;
}

static uint32_t own_leaf(const struct mls_group *g)
{
	return mls_tree_private_leaf_index(g->cur.priv);
}

/* The extension types RFC 9420 7.2 lets every member support without listing them. */
static bool default_extension(uint16_t type)
{
	return type >= MLS_EXT_APPLICATION_ID && type <= MLS_EXT_EXTERNAL_SENDERS;
}

static bool u16_in(const struct mls_u16_list *l, uint16_t v)
{
	for (size_t i = 0; i < l->num; i++) {
		if (l->items[i] == v) {
			return true;
		}
	}
	return false;
}

/*
 * 12.1.7: a GroupContextExtensions proposal is invalid if a member does not
 * support one of the extensions, or the required capabilities it sets.
 */
static int check_members_support(const struct mls_tree *t, const struct mls_extension_list *ext)
{
	struct mls_required_capabilities rc_caps = {0};
	const struct mls_extension *req;
	uint32_t n = mls_tree_num_leaves(t);
	int rc = HALQA_OK;

	for (size_t i = 0; i < ext->num; i++) {
		for (size_t j = 0; j < i; j++) {
			if (ext->items[i].type == ext->items[j].type) {
				return HALQA_ERR_INVALID; /* 13: no type twice */
			}
		}
	}
	req = mls_extension_list_find(ext, MLS_EXT_REQUIRED_CAPABILITIES);
	if (req != NULL && (rc = mls_required_capabilities_decode_bytes(req->data.data, req->data.len,
									 &rc_caps)) != 0) {
		return HALQA_ERR_INVALID;
	}
	for (uint32_t l = 0; l < n && rc == HALQA_OK; l++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(t, l);

		if (leaf == NULL) {
			continue;
		}
		for (size_t i = 0; i < ext->num; i++) {
			uint16_t type = ext->items[i].type;

			if (!default_extension(type) && !u16_in(&leaf->capabilities.extensions, type)) {
				rc = HALQA_ERR_INVALID;
			}
		}
		for (size_t i = 0; i < rc_caps.extension_types.num; i++) {
			uint16_t type = rc_caps.extension_types.items[i];

			if (!default_extension(type) && !u16_in(&leaf->capabilities.extensions, type)) {
				rc = HALQA_ERR_INVALID;
			}
		}
		for (size_t i = 0; i < rc_caps.proposal_types.num; i++) {
			uint16_t type = rc_caps.proposal_types.items[i];

			if ((type < MLS_PROPOSAL_ADD || type > MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS) &&
			    !u16_in(&leaf->capabilities.proposals, type)) {
				rc = HALQA_ERR_INVALID;
			}
		}
		for (size_t i = 0; i < rc_caps.credential_types.num; i++) {
			if (!u16_in(&leaf->capabilities.credentials, rc_caps.credential_types.items[i])) {
				rc = HALQA_ERR_INVALID;
			}
		}
	}
	mls_required_capabilities_cleanup(&rc_caps);
	return rc;
}

static bool psk_id_equal(const struct mls_psk_id *a, const struct mls_psk_id *b)
{
	if (a->psktype != b->psktype) {
		return false;
	}
	if (a->psktype == MLS_PSK_EXTERNAL) {
		return bytes_eq(&a->psk_id, b->psk_id.data, b->psk_id.len);
	}
	return a->usage == b->usage && a->psk_epoch == b->psk_epoch &&
	       bytes_eq(&a->psk_group_id, b->psk_group_id.data, b->psk_group_id.len);
}

/*
 * Finds the value of PSK |id| (8.4): an external PSK from the store, or
 * the resumption PSK of the current epoch of this group (the only past
 * epoch secret we keep). Borrowed pointers into the store or |cur|.
 */
static int psk_lookup(const struct mls_group *g, const struct mls_group_epoch *cur,
		      const struct mls_psk_id *id, const uint8_t **out, size_t *out_len)
{
	if (id->psk_nonce.len != MLS_HASH_LEN) {
		return HALQA_ERR_INVALID; /* 8.4: psk_nonce MUST be Nh bytes */
	}
	if (id->psktype == MLS_PSK_EXTERNAL) {
		const struct mls_group_psk_store *s = g != NULL ? g->psks : NULL;

		for (size_t i = 0; s != NULL && i < s->num; i++) {
			if (bytes_eq(&id->psk_id, s->items[i].id, s->items[i].id_len)) {
				*out = s->items[i].secret;
				*out_len = s->items[i].secret_len;
				return HALQA_OK;
			}
		}
		return HALQA_ERR_NOT_FOUND;
	}
	/* 8.6: a Commit may only use resumption PSKs of usage application. */
	if (cur == NULL || id->usage != MLS_RESUMPTION_APPLICATION) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (!bytes_eq(&id->psk_group_id, cur->gc.group_id.data, cur->gc.group_id.len)) {
		return HALQA_ERR_NOT_FOUND;
	}
	if (id->psk_epoch == cur->gc.epoch) {
		*out = cur->ks->resumption_psk;
		*out_len = MLS_HASH_LEN;
		return HALQA_OK;
	}
	for (size_t i = 0; g != NULL && i < g->num_history && i < MLS_GROUP_PSK_HISTORY; i++) {
		if (g->history[i].epoch == id->psk_epoch) {
			*out = g->history[i].psk;
			*out_len = MLS_HASH_LEN;
			return HALQA_OK;
		}
	}
	return HALQA_ERR_NOT_FOUND;
}

/* Chains the PSKs of |ids| into |out| (8.4). */
static int psk_secret(const struct mls_group *g, const struct mls_group_epoch *cur,
		      const struct mls_psk_id *const *ids, size_t n, uint8_t out[MLS_HASH_LEN])
{
	struct mls_key_schedule_psk *psks;
	int rc = HALQA_OK;

	if (n > MLS_KEY_SCHEDULE_MAX_PSKS) {
		return HALQA_ERR_INVALID;
	}
	if ((psks = calloc(n, sizeof *psks)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < n && rc == HALQA_OK; i++) {
		for (size_t j = 0; j < i; j++) {
			if (psk_id_equal(ids[i], ids[j])) {
				rc = HALQA_ERR_INVALID; /* 12.2: no PSK twice */
			}
		}
		psks[i].id = ids[i];
		if (rc == HALQA_OK) {
			rc = psk_lookup(g, cur, ids[i], &psks[i].psk, &psks[i].psk_len);
		}
	}
	if (rc == HALQA_OK) {
		rc = mls_key_schedule_psk_secret(out, psks, n);
	}
	free(psks);
	return rc;
}

static bool leaf_listed(const uint32_t *l, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i] == v) {
			return true;
		}
	}
	return false;
}

/*
 * Validates the proposal list |items| of a commit by |committer| (12.2)
 * and applies it to the candidate |next| in the order of 12.3:
 * GroupContextExtensions, Updates, Removes, Adds, then the PSKs.
 * |me| is our leaf (UINT32_MAX when not in the tree yet).
 */
static int apply_proposals(const struct mls_group *g, const struct mls_group_epoch *cur,
			   struct mls_group_epoch *next, const struct item *items, size_t n,
			   uint32_t committer, struct applied *ap)
{
	const struct mls_psk_id **psk_ids = NULL;
	uint32_t *touched = NULL;
	size_t num_touched = 0, num_psks = 0, num_adds = 0;
	const struct mls_proposal *gce = NULL;
	struct mls_tree_policy policy;
	uint32_t me = own_leaf(g);
	int rc = HALQA_OK;

	memset(ap, 0, sizeof *ap);
	ap->path_required = n == 0; /* 12.4: an empty commit carries a path */
	if ((touched = calloc(n + 1, sizeof *touched)) == NULL ||
	    (psk_ids = calloc(n + 1, sizeof *psk_ids)) == NULL ||
	    (ap->added = calloc(n + 1, sizeof *ap->added)) == NULL ||
	    (ap->removed = calloc(n + 1, sizeof *ap->removed)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	/* Pass 1: the rules that need no tree changes. */
	for (size_t i = 0; i < n; i++) {
		const struct mls_proposal *p = items[i].p;

		switch (p->type) {
		case MLS_PROPOSAL_ADD:
			num_adds++;
			break;
		case MLS_PROPOSAL_UPDATE:
			/* 12.2: the committer cannot update itself by proposal. */
			if (items[i].sender == committer ||
			    leaf_listed(touched, num_touched, items[i].sender)) {
				rc = HALQA_ERR_INVALID;
				goto out;
			}
			touched[num_touched++] = items[i].sender;
			ap->path_required = true;
			break;
		case MLS_PROPOSAL_REMOVE:
			if (p->u.remove.removed == committer ||
			    mls_tree_leaf(cur->tree, p->u.remove.removed) == NULL ||
			    leaf_listed(touched, num_touched, p->u.remove.removed)) {
				rc = HALQA_ERR_INVALID;
				goto out;
			}
			touched[num_touched++] = p->u.remove.removed;
			ap->path_required = true;
			break;
		case MLS_PROPOSAL_PSK:
			psk_ids[num_psks++] = &p->u.psk.psk;
			break;
		case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
			if (gce != NULL) {
				rc = HALQA_ERR_INVALID; /* 12.2: at most one */
				goto out;
			}
			gce = p;
			ap->path_required = true;
			break;
		default:
			/* ReInit and ExternalInit: not supported by this client. */
			rc = HALQA_ERR_UNSUPPORTED;
			goto out;
		}
	}
	if (gce != NULL) {
		struct mls_extension_list copy = {0};

		if ((rc = mls_extension_list_copy(&copy, &gce->u.group_context_extensions.extensions)) != 0) {
			goto out;
		}
		mls_extension_list_cleanup(&next->gc.extensions);
		next->gc.extensions = copy;
	}
	policy = mls_group_tree_policy(next);
	for (size_t i = 0; i < n; i++) {
		if (items[i].p->type == MLS_PROPOSAL_UPDATE) {
			const struct mls_leaf_node *leaf = &items[i].p->u.update.leaf_node;

			if ((rc = mls_tree_check_leaf(next->tree, leaf, items[i].sender,
						      MLS_LEAF_SOURCE_UPDATE, &policy)) != 0 ||
			    (rc = mls_tree_update_leaf(next->tree, items[i].sender, leaf)) != 0) {
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].p->type == MLS_PROPOSAL_REMOVE) {
			uint32_t leaf = items[i].p->u.remove.removed;

			if ((rc = mls_tree_remove_leaf(next->tree, leaf)) != 0) {
				goto out;
			}
			ap->removed[ap->num_removed++] = leaf;
			ap->removed_self = ap->removed_self || leaf == me;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].p->type == MLS_PROPOSAL_ADD) {
			const struct mls_key_package *kp = &items[i].p->u.add.key_package;

			if ((rc = mls_keypackage_validate(kp, 0)) != 0 ||
			    (rc = mls_tree_check_leaf(next->tree, &kp->leaf_node,
						      mls_tree_num_leaves(next->tree),
						      MLS_LEAF_SOURCE_KEY_PACKAGE, &policy)) != 0 ||
			    (rc = mls_tree_add_leaf(next->tree, &kp->leaf_node,
						    &ap->added[ap->num_added])) != 0) {
				rc = rc == HALQA_ERR_UNSUPPORTED ? HALQA_ERR_INVALID : rc;
				goto out;
			}
			ap->num_added++;
		}
	}
	/*
	 * 12.1.7, 13: every member supports every GroupContext extension; after
	 * the Adds, so new leaves are held to the group's extensions too.
	 */
	if ((gce != NULL || ap->num_added > 0) &&
	    (rc = check_members_support(next->tree, &next->gc.extensions)) != 0) {
		goto out;
	}
	if (num_psks > 0) {
		if ((rc = psk_secret(g, cur, psk_ids, num_psks, ap->psk_secret)) != 0) {
			goto out;
		}
		ap->has_psk = true;
	}
	if (!ap->removed_self) {
		mls_tree_private_prune(next->priv, next->tree);
	}
out:
	free(touched);
	free(psk_ids);
	if (rc != 0) {
		applied_cleanup(ap);
	}
	return rc;
}

/* Sets |gc|'s tree hash from |t|. */
static int set_tree_hash(struct mls_group_context *gc, struct mls_tree *t)
{
	uint8_t h[MLS_HASH_LEN];
	int rc;

	if ((rc = mls_tree_hash(t, h)) != 0) {
		return rc;
	}
	return mls_bytes_set(&gc->tree_hash, h, sizeof h);
}

/*
 * Finishes a candidate epoch from the commit |ac| (signed; its
 * confirmation tag is set by the caller for our own commits, checked here
 * for others' when |check_tag|): transcript hashes, key schedule,
 * confirmation tag, interim hash, secret tree. |commit_secret| and
 * |psk| may be NULL (zero).
 */
static int finish_epoch(const struct mls_group_epoch *cur, struct mls_group_epoch *next,
			struct mls_authenticated_content *ac, const uint8_t *commit_secret,
			const uint8_t *psk, bool check_tag)
{
	uint8_t confirmed[MLS_HASH_LEN], tag[MLS_HASH_LEN];
	int rc;

	if ((rc = mls_key_schedule_confirmed_transcript_hash(confirmed, cur->interim,
							      cur->interim_len, ac)) != 0 ||
	    (rc = mls_bytes_set(&next->gc.confirmed_transcript_hash, confirmed,
				sizeof confirmed)) != 0 ||
	    (rc = mls_key_schedule_new(&next->ks, cur->ks->init_secret, commit_secret, psk,
				       &next->gc)) != 0) {
		goto out;
	}
	if (check_tag) {
		/* 12.4.2: the tag proves the sender derived the same epoch. */
		if ((rc = mls_key_schedule_verify_confirmation_tag(
			     next->ks->confirmation_key, confirmed, sizeof confirmed,
			     ac->auth.confirmation_tag.data, ac->auth.confirmation_tag.len)) != 0) {
			goto out;
		}
	} else if ((rc = mls_key_schedule_confirmation_tag(tag, next->ks->confirmation_key,
							   confirmed, sizeof confirmed)) != 0 ||
		   (rc = mls_bytes_set(&ac->auth.confirmation_tag, tag, sizeof tag)) != 0) {
		goto out;
	}
	if ((rc = mls_key_schedule_interim_transcript_hash(next->interim, confirmed,
							   ac->auth.confirmation_tag.data,
							   ac->auth.confirmation_tag.len)) != 0) {
		goto out;
	}
	next->interim_len = MLS_HASH_LEN;
out:
	sodium_memzero(tag, sizeof tag);
	return rc;
}

/* Makes the candidate's secret tree and wipes the secrets only a Welcome needs. */
static int finish_secrets(struct mls_group_epoch *next)
{
	sodium_memzero(next->ks->joiner_secret, sizeof next->ks->joiner_secret);
	sodium_memzero(next->ks->welcome_secret, sizeof next->ks->welcome_secret);
	mls_tree_private_forget_path(next->priv);
	return mls_key_schedule_secret_tree(next->ks, &next->st, mls_tree_num_leaves(next->tree));
}

/* ---- creating a group ---- */

int mls_group_create(struct mls_group **out, const uint8_t *group_id, size_t group_id_len,
		     const uint8_t sig_priv[MLS_SIG_PRIV_LEN], const struct mls_key_package *own_kp,
		     struct mls_keypackage_private *own_priv,
		     const struct mls_extension_list *extensions)
{
	struct mls_group *g = NULL;
	uint8_t init_secret[MLS_HASH_LEN];
	uint32_t leaf;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	if (group_id == NULL || group_id_len == 0 || group_id_len > MLS_MAX_GROUP_ID ||
	    sig_priv == NULL || own_kp == NULL || own_priv == NULL ||
	    !bytes_eq(&own_kp->leaf_node.signature_key, sig_priv + MLS_SIG_SEED_LEN,
		      MLS_SIG_PUB_LEN)) {
		return HALQA_ERR_ARG;
	}
	if ((rc = mls_keypackage_validate(own_kp, 0)) != 0) {
		return rc;
	}
	if ((g = calloc(1, sizeof *g)) == NULL ||
	    (g->sig_priv = secmem_alloc(MLS_SIG_PRIV_LEN)) == NULL ||
	    (g->cur.tree = mls_tree_new()) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(g->sig_priv, sig_priv, MLS_SIG_PRIV_LEN);
	g->cur.gc.version = MLS_VERSION_MLS10;
	g->cur.gc.cipher_suite = MLS_KEYPACKAGE_SUITE;
	if ((rc = mls_bytes_set(&g->cur.gc.group_id, group_id, group_id_len)) != 0 ||
	    (extensions != NULL &&
	     (rc = mls_extension_list_copy(&g->cur.gc.extensions, extensions)) != 0) ||
	    (rc = mls_tree_add_leaf(g->cur.tree, &own_kp->leaf_node, &leaf)) != 0 ||
	    (rc = check_members_support(g->cur.tree, &g->cur.gc.extensions)) != 0 ||
	    (rc = set_tree_hash(&g->cur.gc, g->cur.tree)) != 0 ||
	    (rc = mls_tree_private_new(&g->cur.priv, leaf, own_priv->encryption_priv)) != 0) {
		goto out;
	}
	/* 11: epoch 0 starts from a fresh random init_secret known only to us. */
	randombytes_buf(init_secret, sizeof init_secret);
	if ((rc = mls_key_schedule_new(&g->cur.ks, init_secret, NULL, NULL, &g->cur.gc)) != 0 ||
	    (rc = finish_secrets(&g->cur)) != 0) {
		goto out;
	}
	mls_keypackage_private_wipe(own_priv);
	*out = g;
	g = NULL;
out:
	sodium_memzero(init_secret, sizeof init_secret);
	mls_group_free(g);
	return rc;
}

void mls_group_set_handshake_public(struct mls_group *g, bool public_handshake)
{
	g->public_handshake = public_handshake;
}

void mls_group_set_psk_store(struct mls_group *g, const struct mls_group_psk_store *psks)
{
	g->psks = psks;
}

void mls_group_testing_set_hook(struct mls_group *g, mls_group_testing_hook hook, void *arg)
{
	g->hook = hook;
	g->hook_arg = arg;
}

/* ---- our own commits ---- */

/* Encrypts |gs| to the init key of |kp| for the Welcome (12.4.3.1). */
static int seal_group_secrets(struct mls_encrypted_group_secrets *out,
			      const struct mls_key_package *kp, const struct mls_group_secrets *gs,
			      const struct mls_bytes *encrypted_group_info)
{
	uint8_t ref[MLS_HASH_LEN], kem_output[MLS_KEM_PUB_LEN];
	uint8_t *pt = NULL, *ct = NULL;
	size_t pt_len = 0, ct_len = 0;
	int rc;

	if ((rc = mls_keypackage_ref(kp, ref)) != 0 ||
	    (rc = mls_group_secrets_encode_bytes(gs, &pt, &pt_len)) != 0 ||
	    (rc = mls_encrypt_with_label(kem_output, &ct, &ct_len, kp->init_key.data, "Welcome",
					 encrypted_group_info->data, encrypted_group_info->len, pt,
					 pt_len)) != 0 ||
	    (rc = mls_bytes_set(&out->new_member, ref, sizeof ref)) != 0 ||
	    (rc = mls_bytes_set(&out->encrypted_group_secrets.kem_output, kem_output,
				sizeof kem_output)) != 0) {
		goto out;
	}
	out->encrypted_group_secrets.ciphertext.data = ct;
	out->encrypted_group_secrets.ciphertext.len = ct_len;
	ct = NULL;
out:
	if (pt != NULL) {
		sodium_memzero(pt, pt_len);
		free(pt);
	}
	free(ct);
	return rc;
}

/*
 * Builds the Welcome for the joiners |kps| at leaves |added| of the
 * candidate |next| (12.4.3.1): GroupInfo with the ratchet tree, signed by
 * us and sealed with the welcome key; GroupSecrets per joiner with the
 * joiner secret and the path secret of the lowest path node above it.
 */
static int build_welcome(const struct mls_group *g, const struct mls_group_epoch *next,
			 const struct mls_bytes *tag, const struct mls_key_package *kps,
			 const uint32_t *added, size_t num, uint8_t **out, size_t *out_len)
{
	struct mls_group_info gi = {0};
	struct mls_message msg = {0};
	struct mls_group_secrets gs = {0};
	struct bytes_writer w;
	uint8_t key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN], path_secret[MLS_HASH_LEN];
	uint8_t sig[MLS_SIG_LEN];
	uint8_t *gi_bytes = NULL, *tree_bytes = NULL, *sealed = NULL;
	size_t gi_len = 0, tree_len = 0;
	unsigned long long sealed_len = 0;
	uint32_t node;
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	if ((gi.extensions.items = calloc(1, sizeof *gi.extensions.items)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	gi.extensions.num = 1;
	gi.extensions.items[0].type = MLS_EXT_RATCHET_TREE;
	if ((rc = mls_tree_encode_bytes(next->tree, &tree_bytes, &tree_len)) != 0) {
		goto out;
	}
	gi.extensions.items[0].data.data = tree_bytes;
	gi.extensions.items[0].data.len = tree_len;
	tree_bytes = NULL;
	gi.signer = own_leaf(g);
	if ((rc = mls_group_context_copy(&gi.group_context, &next->gc)) != 0 ||
	    (rc = mls_bytes_copy(&gi.confirmation_tag, tag)) != 0) {
		goto out;
	}
	mls_group_info_tbs_encode(&w, &gi);
	if ((rc = bytes_writer_error(&w)) != 0 ||
	    (rc = mls_sign_with_label(sig, g->sig_priv, "GroupInfoTBS", bytes_writer_data(&w),
				      bytes_writer_len(&w))) != 0 ||
	    (rc = mls_bytes_set(&gi.signature, sig, sizeof sig)) != 0 ||
	    (rc = mls_group_info_encode_bytes(&gi, &gi_bytes, &gi_len)) != 0 ||
	    (rc = mls_key_schedule_welcome_key(key, nonce, next->ks->welcome_secret)) != 0) {
		goto out;
	}
	if ((sealed = malloc(gi_len + MLS_AEAD_TAG_LEN)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	crypto_aead_chacha20poly1305_ietf_encrypt(sealed, &sealed_len, gi_bytes, gi_len, NULL, 0,
						  NULL, nonce, key);
	msg.version = MLS_VERSION_MLS10;
	msg.wire_format = MLS_WIRE_WELCOME;
	msg.welcome.cipher_suite = MLS_KEYPACKAGE_SUITE;
	msg.welcome.encrypted_group_info.data = sealed;
	msg.welcome.encrypted_group_info.len = (size_t)sealed_len;
	sealed = NULL;
	if ((msg.welcome.secrets = calloc(num, sizeof *msg.welcome.secrets)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	msg.welcome.num_secrets = num;
	gs.joiner_secret.data = (uint8_t *)next->ks->joiner_secret; /* borrowed, never freed */
	gs.joiner_secret.len = MLS_HASH_LEN;
	gs.has_path_secret = true;
	gs.path_secret.data = path_secret;
	gs.path_secret.len = sizeof path_secret;
	for (size_t i = 0; i < num; i++) {
		if ((rc = mls_tree_private_path_secret_for(next->priv, next->tree, added[i],
							   path_secret, &node)) != 0 ||
		    (rc = seal_group_secrets(&msg.welcome.secrets[i], &kps[i], &gs,
					     &msg.welcome.encrypted_group_info)) != 0) {
			goto out;
		}
	}
	rc = mls_message_encode_bytes(&msg, out, out_len);
out:
	sodium_memzero(key, sizeof key);
	sodium_memzero(path_secret, sizeof path_secret);
	bytes_writer_cleanup(&w);
	mls_group_info_cleanup(&gi);
	mls_message_cleanup(&msg);
	free(gi_bytes);
	free(tree_bytes);
	free(sealed);
	return rc;
}

/*
 * Resolves the proposals of commit |c| by |committer| into |items|: inline
 * ones are the committer's, references are looked up in this epoch's
 * cache (HALQA_ERR_NOT_FOUND if unknown) and may not repeat (12.2).
 */
static int resolve_items(const struct mls_group *g, const struct mls_commit *c,
			 uint32_t committer, struct item *items)
{
	for (size_t i = 0; i < c->num_proposals; i++) {
		const struct mls_proposal_or_ref *por = &c->proposals[i];

		if (por->type == MLS_PROPOSAL_OR_REF_PROPOSAL) {
			items[i].p = &por->proposal;
			items[i].sender = committer;
			continue;
		}
		for (size_t j = 0; j < g->num_props && items[i].p == NULL; j++) {
			if (por->reference.len == MLS_HASH_LEN &&
			    memcmp(por->reference.data, g->props[j].ref, MLS_HASH_LEN) == 0) {
				items[i].p = &g->props[j].p;
				items[i].sender = g->props[j].sender;
			}
		}
		if (items[i].p == NULL) {
			return HALQA_ERR_NOT_FOUND;
		}
		/* 12.2: the same proposal may not be committed twice. */
		for (size_t j = 0; j < i; j++) {
			if (items[j].p == items[i].p) {
				return HALQA_ERR_INVALID;
			}
		}
	}
	return HALQA_OK;
}

/*
 * Makes our commit of the proposals in |c| (inline, or references to this
 * epoch's cache; taken over: cleaned here whatever happens) with a fresh
 * UpdatePath, and a Welcome for the Adds (whose KeyPackages are |kps|, in
 * order). The new epoch becomes the pending state.
 */
static int make_commit(struct mls_group *g, struct mls_commit *c,
		       const struct mls_key_package *kps, size_t num_kps, uint8_t **commit,
		       size_t *commit_len, uint8_t **welcome, size_t *welcome_len)
{
	struct mls_authenticated_content ac = {0};
	struct mls_group_pending *pend = NULL;
	struct mls_group_epoch *next = NULL;
	struct applied ap = {0};
	struct item *items = NULL;
	uint8_t commit_secret[MLS_HASH_LEN];
	uint8_t *gc_bytes = NULL;
	size_t gc_len = 0;
	uint32_t me = own_leaf(g);
	struct mls_framing_epoch ep = framing_epoch(&g->cur);
	int rc;

	*commit = NULL;
	*commit_len = 0;
	ac.content.commit = *c;
	memset(c, 0, sizeof *c);
	if (g->removed) {
		rc = HALQA_ERR_DENIED;
		goto out;
	}
	if (g->pending != NULL) {
		rc = HALQA_ERR_EXISTS;
		goto out;
	}
	if ((pend = calloc(1, sizeof *pend)) == NULL ||
	    (items = calloc(ac.content.commit.num_proposals + 1, sizeof *items)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	next = &pend->next;
	if ((rc = state_begin(next, &g->cur)) != 0) {
		goto out;
	}
	if ((rc = resolve_items(g, &ac.content.commit, me, items)) != 0) {
		goto out;
	}
	if ((rc = apply_proposals(g, &g->cur, next, items, ac.content.commit.num_proposals, me,
				  &ap)) != 0) {
		goto out;
	}
	/* 12.4.2: new path, then the provisional GroupContext it is encrypted under. */
	next->gc.epoch = g->cur.gc.epoch + 1;
	if ((rc = mls_tree_path_generate(next->tree, next->priv, NULL, g->sig_priv,
					 next->gc.group_id.data, next->gc.group_id.len)) != 0 ||
	    (rc = set_tree_hash(&next->gc, next->tree)) != 0 ||
	    (rc = mls_group_context_encode_bytes(&next->gc, &gc_bytes, &gc_len)) != 0 ||
	    (rc = mls_tree_path_encrypt(next->tree, next->priv, ap.added, ap.num_added, gc_bytes,
					gc_len, &ac.content.commit.path)) != 0 ||
	    (rc = mls_tree_private_commit_secret(next->priv, commit_secret)) != 0) {
		goto out;
	}
	ac.content.commit.has_path = true;
	ac.wire_format = g->public_handshake ? MLS_WIRE_PUBLIC_MESSAGE : MLS_WIRE_PRIVATE_MESSAGE;
	ac.content.epoch = g->cur.gc.epoch;
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.content.sender.index = me;
	ac.content.content_type = MLS_CONTENT_COMMIT;
	if ((rc = mls_bytes_copy(&ac.content.group_id, &g->cur.gc.group_id)) != 0) {
		goto out;
	}
	if (g->hook != NULL) {
		g->hook(&ac, MLS_GROUP_HOOK_CONTENT, g->hook_arg);
	}
	if ((rc = mls_framing_sign(&ac.auth.signature, ac.wire_format, &ac.content, &g->cur.gc,
				   g->sig_priv)) != 0 ||
	    (rc = finish_epoch(&g->cur, next, &ac, commit_secret, ap.has_psk ? ap.psk_secret : NULL,
			       false)) != 0) {
		goto out;
	}
	if (num_kps > 0 && (rc = build_welcome(g, next, &ac.auth.confirmation_tag, kps, ap.added,
					       ap.num_added, welcome, welcome_len)) != 0) {
		goto out;
	}
	if ((rc = finish_secrets(next)) != 0) {
		goto out;
	}
	if (g->hook != NULL) {
		g->hook(&ac, MLS_GROUP_HOOK_AUTH, g->hook_arg);
	}
	if (g->public_handshake) {
		rc = mls_framing_protect_public(&ep, commit, commit_len, &ac);
	} else {
		rc = mls_framing_protect_private(&ep, commit, commit_len, &ac, 0);
	}
	if (rc != 0) {
		goto out;
	}
	if ((pend->msg = malloc(*commit_len)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(pend->msg, *commit, *commit_len);
	pend->msg_len = *commit_len;
	pend->added = ap.added;
	pend->num_added = ap.num_added;
	pend->removed = ap.removed;
	pend->num_removed = ap.num_removed;
	ap.added = ap.removed = NULL;
	g->pending = pend;
	pend = NULL;
out:
	if (rc != 0 && *commit != NULL) {
		free(*commit);
		*commit = NULL;
		*commit_len = 0;
	}
	if (rc != 0 && num_kps > 0 && welcome != NULL && *welcome != NULL) {
		free(*welcome);
		*welcome = NULL;
		*welcome_len = 0;
	}
	sodium_memzero(commit_secret, sizeof commit_secret);
	mls_group_pending_free(pend);
	applied_cleanup(&ap);
	free(items);
	free(gc_bytes);
	mls_authenticated_content_cleanup(&ac);
	return rc;
}

/* Allocates a commit of |n| inline proposals of |type|. */
static int commit_alloc(struct mls_commit *c, size_t n, uint16_t type)
{
	memset(c, 0, sizeof *c);
	if (n == 0) {
		return HALQA_OK;
	}
	if ((c->proposals = calloc(n, sizeof *c->proposals)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	c->num_proposals = n;
	for (size_t i = 0; i < n; i++) {
		c->proposals[i].type = MLS_PROPOSAL_OR_REF_PROPOSAL;
		c->proposals[i].proposal.type = type;
	}
	return HALQA_OK;
}

int mls_group_commit_add(struct mls_group *g, const struct mls_key_package *kps, size_t num_kps,
			 uint64_t now, uint8_t **commit, size_t *commit_len, uint8_t **welcome,
			 size_t *welcome_len)
{
	struct mls_commit c;
	int rc;

	if (g == NULL || kps == NULL || num_kps == 0 || num_kps > MLS_MAX_LEAVES ||
	    commit == NULL || commit_len == NULL || welcome == NULL || welcome_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*welcome = NULL;
	*welcome_len = 0;
	*commit = NULL;
	*commit_len = 0;
	for (size_t i = 0; i < num_kps; i++) {
		if ((rc = mls_keypackage_validate(&kps[i], now)) != 0) {
			return rc;
		}
	}
	if ((rc = commit_alloc(&c, num_kps, MLS_PROPOSAL_ADD)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < num_kps; i++) {
		if ((rc = mls_key_package_copy(&c.proposals[i].proposal.u.add.key_package,
					       &kps[i])) != 0) {
			mls_commit_cleanup(&c);
			return rc;
		}
	}
	return make_commit(g, &c, kps, num_kps, commit, commit_len, welcome, welcome_len);
}

int mls_group_commit_remove(struct mls_group *g, const uint32_t *leaves, size_t num_leaves,
			    uint8_t **commit, size_t *commit_len)
{
	struct mls_commit c;
	int rc;

	if (g == NULL || leaves == NULL || num_leaves == 0 || num_leaves > MLS_MAX_LEAVES ||
	    commit == NULL || commit_len == NULL) {
		return HALQA_ERR_ARG;
	}
	for (size_t i = 0; i < num_leaves; i++) {
		if (leaves[i] == own_leaf(g) || mls_tree_leaf(g->cur.tree, leaves[i]) == NULL ||
		    leaf_listed(leaves, i, leaves[i])) {
			return HALQA_ERR_ARG;
		}
	}
	if ((rc = commit_alloc(&c, num_leaves, MLS_PROPOSAL_REMOVE)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < num_leaves; i++) {
		c.proposals[i].proposal.u.remove.removed = leaves[i];
	}
	return make_commit(g, &c, NULL, 0, commit, commit_len, NULL, NULL);
}

int mls_group_commit_update(struct mls_group *g, uint8_t **commit, size_t *commit_len)
{
	struct mls_commit c = {0};

	if (g == NULL || commit == NULL || commit_len == NULL) {
		return HALQA_ERR_ARG;
	}
	return make_commit(g, &c, NULL, 0, commit, commit_len, NULL, NULL);
}

int mls_group_commit_extensions(struct mls_group *g, const struct mls_extension_list *extensions,
				uint8_t **commit, size_t *commit_len)
{
	struct mls_commit c;
	int rc;

	if (g == NULL || extensions == NULL || commit == NULL || commit_len == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = commit_alloc(&c, 1, MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)) != 0) {
		return rc;
	}
	if ((rc = mls_extension_list_copy(
		     &c.proposals[0].proposal.u.group_context_extensions.extensions, extensions)) != 0) {
		mls_commit_cleanup(&c);
		return rc;
	}
	return make_commit(g, &c, NULL, 0, commit, commit_len, NULL, NULL);
}

int mls_group_commit_psk(struct mls_group *g, const struct mls_psk_id *psk, uint8_t **commit,
			 size_t *commit_len)
{
	struct mls_commit c;
	struct mls_psk_id *id;
	int rc;

	if (g == NULL || psk == NULL || commit == NULL || commit_len == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = commit_alloc(&c, 1, MLS_PROPOSAL_PSK)) != 0) {
		return rc;
	}
	id = &c.proposals[0].proposal.u.psk.psk;
	id->psktype = psk->psktype;
	id->usage = psk->usage;
	id->psk_epoch = psk->psk_epoch;
	if ((rc = mls_bytes_copy(&id->psk_id, &psk->psk_id)) != 0 ||
	    (rc = mls_bytes_copy(&id->psk_group_id, &psk->psk_group_id)) != 0 ||
	    (rc = mls_bytes_copy(&id->psk_nonce, &psk->psk_nonce)) != 0) {
		mls_commit_cleanup(&c);
		return rc;
	}
	return make_commit(g, &c, NULL, 0, commit, commit_len, NULL, NULL);
}

/* Moves |next| in as the current epoch; proposals of the old epoch are void (12.4.2). */
static void swap_in(struct mls_group *g, struct mls_group_epoch *next)
{
	if (g->history == NULL) {
		g->history = secmem_alloc(MLS_GROUP_PSK_HISTORY * sizeof *g->history);
	}
	/* Without memory the old PSK is just unavailable later (NOT_FOUND). */
	if (g->history != NULL) {
		size_t slot = g->num_history++ % MLS_GROUP_PSK_HISTORY; /* the oldest goes */

		g->history[slot].epoch = g->cur.gc.epoch;
		memcpy(g->history[slot].psk, g->cur.ks->resumption_psk, MLS_HASH_LEN);
	}
	mls_group_epoch_cleanup(&g->cur);
	g->cur = *next;
	memset(next, 0, sizeof *next);
	clear_cache(g);
}

int mls_group_commit_confirm(struct mls_group *g)
{
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	if (g->pending == NULL) {
		return HALQA_ERR_NOT_FOUND;
	}
	swap_in(g, &g->pending->next);
	drop_pending(g);
	return HALQA_OK;
}

void mls_group_commit_discard(struct mls_group *g)
{
	if (g != NULL) {
		drop_pending(g);
	}
}

bool mls_group_has_pending(const struct mls_group *g)
{
	return g != NULL && g->pending != NULL;
}

/* ---- receiving ---- */

/* ProposalRef = RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent) (5.2). */
static int proposal_ref(const struct mls_authenticated_content *ac, uint8_t out[MLS_HASH_LEN])
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	mls_authenticated_content_encode(&w, ac);
	if ((rc = bytes_writer_error(&w)) == 0) {
		rc = mls_ref_hash(out, "MLS 1.0 Proposal Reference", bytes_writer_data(&w),
				  bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	return rc;
}

/*
 * A proposal from member |sender| (12.1): the types members may send; an
 * Update's leaf must be valid for the sender's own leaf. A proposal that
 * would break a rule only together with others is judged at commit time.
 */
int mls_group_check_proposal(const struct mls_group *g, const struct mls_proposal *p,
			     uint32_t sender)
{
	struct mls_tree_policy policy = mls_group_tree_policy(&g->cur);
	int rc;

	switch (p->type) {
	case MLS_PROPOSAL_ADD:
		rc = mls_keypackage_validate(&p->u.add.key_package, 0);
		rc = rc == HALQA_ERR_UNSUPPORTED ? HALQA_ERR_INVALID : rc;
		break;
	case MLS_PROPOSAL_UPDATE:
		rc = mls_tree_check_leaf(g->cur.tree, &p->u.update.leaf_node, sender,
					 MLS_LEAF_SOURCE_UPDATE, &policy);
		break;
	case MLS_PROPOSAL_REMOVE:
		rc = mls_tree_leaf(g->cur.tree, p->u.remove.removed) != NULL ? HALQA_OK
									      : HALQA_ERR_INVALID;
		break;
	case MLS_PROPOSAL_PSK:
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		rc = HALQA_OK;
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
	return rc;
}

static int process_proposal(struct mls_group *g, struct mls_authenticated_content *ac)
{
	const struct mls_proposal *p = &ac->content.proposal;
	uint32_t sender = ac->content.sender.type == MLS_SENDER_MEMBER ? ac->content.sender.index
									: UINT32_MAX;
	struct mls_group_cached_proposal *grown;
	uint8_t ref[MLS_HASH_LEN];
	int rc;

	if ((rc = mls_group_check_proposal(g, p, sender)) != 0) {
		return rc;
	}
	if (g->num_props >= MLS_GROUP_MAX_CACHED_PROPOSALS) {
		return HALQA_ERR_LIMIT;
	}
	if ((rc = proposal_ref(ac, ref)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < g->num_props; i++) {
		if (memcmp(g->props[i].ref, ref, sizeof ref) == 0) {
			return HALQA_ERR_EXISTS;
		}
	}
	grown = realloc(g->props, (g->num_props + 1) * sizeof *grown);
	if (grown == NULL) {
		return HALQA_ERR_NOMEM;
	}
	g->props = grown;
	memset(&grown[g->num_props], 0, sizeof *grown);
	if ((rc = mls_proposal_copy(&grown[g->num_props].p, p)) != 0) {
		return rc;
	}
	memcpy(grown[g->num_props].ref, ref, sizeof ref);
	grown[g->num_props].sender = sender;
	g->num_props++;
	return HALQA_OK;
}

/* Copies the leaves a commit adds and removes into |ev|. */
static int event_lists(struct mls_group_event *ev, const struct applied *ap)
{
	if ((ev->added_leaves = calloc(ap->num_added + 1, sizeof *ev->added_leaves)) == NULL ||
	    (ev->removed_leaves = calloc(ap->num_removed + 1, sizeof *ev->removed_leaves)) ==
		    NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (ap->num_added > 0) {
		memcpy(ev->added_leaves, ap->added, ap->num_added * sizeof *ap->added);
	}
	if (ap->num_removed > 0) {
		memcpy(ev->removed_leaves, ap->removed, ap->num_removed * sizeof *ap->removed);
	}
	ev->num_added = ap->num_added;
	ev->num_removed = ap->num_removed;
	return HALQA_OK;
}

/* A commit from another member (12.4.2), into a candidate swapped in on success. */
static int process_commit(struct mls_group *g, struct mls_authenticated_content *ac,
			  struct mls_group_event *ev)
{
	const struct mls_commit *c = &ac->content.commit;
	uint32_t sender = ac->content.sender.index;
	struct mls_group_epoch next = {0};
	struct applied ap = {0};
	struct item *items = NULL;
	uint8_t commit_secret[MLS_HASH_LEN];
	uint8_t *gc_bytes = NULL;
	size_t gc_len = 0;
	int rc;

	if (sender == own_leaf(g)) {
		/* Our own commit comes back through commit_confirm, never here. */
		return HALQA_ERR_INVALID;
	}
	if ((items = calloc(c->num_proposals + 1, sizeof *items)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = resolve_items(g, c, sender, items)) != 0) {
		goto out;
	}
	if ((rc = state_begin(&next, &g->cur)) != 0 ||
	    (rc = apply_proposals(g, &g->cur, &next, items, c->num_proposals, sender, &ap)) != 0) {
		goto out;
	}
	if (ap.path_required && !c->has_path) {
		rc = HALQA_ERR_INVALID; /* 12.4: these proposals need a fresh path */
		goto out;
	}
	if ((rc = event_lists(ev, &ap)) != 0) {
		goto out;
	}
	if (ap.removed_self) {
		/* We cannot follow into an epoch we were removed from: the group closes. */
		ev->removed = true;
		g->removed = true;
		drop_pending(g);
		clear_cache(g);
		rc = HALQA_OK;
		goto out;
	}
	next.gc.epoch = g->cur.gc.epoch + 1;
	if (c->has_path) {
		struct mls_tree_policy policy = mls_group_tree_policy(&next);

		if ((rc = mls_tree_merge_path(next.tree, sender, &c->path, &policy)) != 0 ||
		    (rc = set_tree_hash(&next.gc, next.tree)) != 0 ||
		    (rc = mls_group_context_encode_bytes(&next.gc, &gc_bytes, &gc_len)) != 0 ||
		    (rc = mls_tree_path_decrypt(next.tree, next.priv, sender, &c->path, ap.added,
						ap.num_added, gc_bytes, gc_len, commit_secret,
						NULL)) != 0) {
			goto out;
		}
	} else if ((rc = set_tree_hash(&next.gc, next.tree)) != 0) {
		goto out;
	}
	if ((rc = finish_epoch(&g->cur, &next, ac, c->has_path ? commit_secret : NULL,
			       ap.has_psk ? ap.psk_secret : NULL, true)) != 0 ||
	    (rc = finish_secrets(&next)) != 0) {
		goto out;
	}
	drop_pending(g); /* built on the epoch that just ended */
	swap_in(g, &next);
out:
	sodium_memzero(commit_secret, sizeof commit_secret);
	mls_group_epoch_cleanup(&next);
	applied_cleanup(&ap);
	free(items);
	free(gc_bytes);
	return rc;
}

/*
 * Finds the key that must have signed |ac| (6.1) and applies the sender
 * rules of 12.1: a member's leaf must be non-blank (6.3.2); an external
 * sender must be listed in the group's external_senders extension and may
 * propose Add, Remove, PSK and GroupContextExtensions (12.1.8.1; ReInit
 * we do not run); a new member may only propose its own Add, signed by
 * the key in its KeyPackage (12.1.8). |*key| is borrowed from the tree,
 * from |ac|, or from |*ext|, which the caller cleans up.
 */
static int sender_key_ext(const struct mls_group *g, const struct mls_authenticated_content *ac,
			  struct mls_external_senders *ext, const uint8_t **key)
{
	const struct mls_framed_content *c = &ac->content;
	const struct mls_extension *e;
	uint16_t type = c->proposal.type;

	switch (c->sender.type) {
	case MLS_SENDER_MEMBER: {
		const struct mls_leaf_node *leaf = mls_tree_leaf(g->cur.tree, c->sender.index);

		if (leaf == NULL) {
			return HALQA_ERR_INVALID;
		}
		*key = leaf->signature_key.data;
		return HALQA_OK;
	}
	case MLS_SENDER_EXTERNAL:
		if (c->content_type != MLS_CONTENT_PROPOSAL ||
		    (type != MLS_PROPOSAL_ADD && type != MLS_PROPOSAL_REMOVE &&
		     type != MLS_PROPOSAL_PSK && type != MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)) {
			return HALQA_ERR_DENIED;
		}
		e = mls_extension_list_find(&g->cur.gc.extensions, MLS_EXT_EXTERNAL_SENDERS);
		if (e == NULL ||
		    mls_external_senders_decode_bytes(e->data.data, e->data.len, ext) != 0 ||
		    c->sender.index >= ext->num ||
		    ext->items[c->sender.index].signature_key.len != MLS_SIG_PUB_LEN) {
			return HALQA_ERR_DENIED;
		}
		*key = ext->items[c->sender.index].signature_key.data;
		return HALQA_OK;
	case MLS_SENDER_NEW_MEMBER_PROPOSAL:
		if (c->content_type != MLS_CONTENT_PROPOSAL || type != MLS_PROPOSAL_ADD ||
		    c->proposal.u.add.key_package.leaf_node.signature_key.len != MLS_SIG_PUB_LEN) {
			return HALQA_ERR_DENIED;
		}
		*key = c->proposal.u.add.key_package.leaf_node.signature_key.data;
		return HALQA_OK;
	default:
		/* new_member_commit: external joins are not supported (12.4.3.2). */
		return HALQA_ERR_UNSUPPORTED;
	}
}

/*
 * Our own pending commit came back from the relay (it accepted it, and we
 * may have missed its answer, e.g. across a crash): apply it as
 * mls_group_commit_confirm does and report it as a commit from us. The
 * bytes are compared whole: our own PrivateMessage could not be decrypted
 * by us (its key was consumed when it was sealed).
 */
static int echoed_commit(struct mls_group *g, struct mls_group_event *ev)
{
	struct mls_group_pending *p = g->pending;

	ev->type = MLS_GROUP_EVENT_COMMIT;
	ev->sender = own_leaf(g);
	ev->added_leaves = p->added;
	ev->num_added = p->num_added;
	ev->removed_leaves = p->removed;
	ev->num_removed = p->num_removed;
	p->added = p->removed = NULL;
	p->num_added = p->num_removed = 0;
	return mls_group_commit_confirm(g);
}

int mls_group_process(struct mls_group *g, const uint8_t *msg, size_t msg_len,
		      struct mls_group_event *ev)
{
	struct mls_message m = {0};
	struct mls_authenticated_content ac = {0};
	struct mls_framing_epoch ep;
	const uint8_t *sig_key = NULL;
	struct mls_external_senders ext = {0};
	int rc;

	if (ev != NULL) {
		memset(ev, 0, sizeof *ev);
	}
	if (g == NULL || (msg == NULL && msg_len != 0) || ev == NULL) {
		return HALQA_ERR_ARG;
	}
	if (g->removed) {
		return HALQA_ERR_DENIED;
	}
	ev->proposal_leaf = UINT32_MAX;
	if (g->pending != NULL && msg_len == g->pending->msg_len &&
	    memcmp(msg, g->pending->msg, msg_len) == 0) {
		return echoed_commit(g, ev);
	}
	ep = framing_epoch(&g->cur);
	if ((rc = mls_message_decode_bytes(msg, msg_len, &m)) != 0) {
		goto out;
	}
	if (m.wire_format == MLS_WIRE_PUBLIC_MESSAGE) {
		rc = mls_framing_unprotect_public(&ep, &ac, &m.public_message);
	} else if (m.wire_format == MLS_WIRE_PRIVATE_MESSAGE) {
		rc = mls_framing_unprotect_private(&ep, &ac, &m.private_message);
	} else {
		rc = HALQA_ERR_UNSUPPORTED;
	}
	if (rc != 0) {
		goto out;
	}
	if ((rc = sender_key_ext(g, &ac, &ext, &sig_key)) != 0 ||
	    (rc = mls_framing_verify(&ac, &g->cur.gc, sig_key)) != 0) {
		goto out;
	}
	ev->sender = ac.content.sender.type == MLS_SENDER_MEMBER ? ac.content.sender.index
								  : UINT32_MAX;
	switch (ac.content.content_type) {
	case MLS_CONTENT_APPLICATION:
		ev->type = MLS_GROUP_EVENT_APPLICATION;
		ev->data = ac.content.application_data.data;
		ev->data_len = ac.content.application_data.len;
		ac.content.application_data.data = NULL;
		ac.content.application_data.len = 0;
		if (ev->data == NULL && (ev->data = malloc(1)) == NULL) {
			rc = HALQA_ERR_NOMEM;
		}
		break;
	case MLS_CONTENT_PROPOSAL:
		ev->type = MLS_GROUP_EVENT_PROPOSAL;
		ev->proposal_type = ac.content.proposal.type;
		if (ac.content.proposal.type == MLS_PROPOSAL_REMOVE) {
			ev->proposal_leaf = ac.content.proposal.u.remove.removed;
		} else if (ac.content.proposal.type == MLS_PROPOSAL_UPDATE) {
			ev->proposal_leaf = ev->sender;
		}
		rc = process_proposal(g, &ac);
		break;
	case MLS_CONTENT_COMMIT:
		ev->type = MLS_GROUP_EVENT_COMMIT;
		rc = process_commit(g, &ac, ev);
		break;
	default:
		rc = HALQA_ERR_INVALID;
		break;
	}
out:
	if (rc != 0) {
		mls_group_event_cleanup(ev);
	}
	mls_external_senders_cleanup(&ext);
	mls_authenticated_content_cleanup(&ac);
	mls_message_cleanup(&m);
	return rc;
}

void mls_group_event_cleanup(struct mls_group_event *ev)
{
	if (ev == NULL) {
		return;
	}
	if (ev->data != NULL) {
		sodium_memzero(ev->data, ev->data_len);
		free(ev->data);
	}
	free(ev->added_leaves);
	free(ev->removed_leaves);
	memset(ev, 0, sizeof *ev);
}

int mls_group_protect(struct mls_group *g, const uint8_t *pt, size_t pt_len, uint8_t **out,
		      size_t *out_len)
{
	struct mls_authenticated_content ac = {0};
	struct mls_framing_epoch ep;
	int rc;

	if (g == NULL || (pt == NULL && pt_len != 0) || pt_len > MLS_MAX_MESSAGE || out == NULL ||
	    out_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	*out_len = 0;
	if (g->removed) {
		return HALQA_ERR_DENIED;
	}
	ep = framing_epoch(&g->cur);
	ac.wire_format = MLS_WIRE_PRIVATE_MESSAGE;
	ac.content.epoch = g->cur.gc.epoch;
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.content.sender.index = own_leaf(g);
	ac.content.content_type = MLS_CONTENT_APPLICATION;
	/* Borrowed into the struct, detached before cleanup. */
	ac.content.group_id = g->cur.gc.group_id;
	ac.content.application_data.data = (uint8_t *)pt;
	ac.content.application_data.len = pt_len;
	if ((rc = mls_framing_sign(&ac.auth.signature, ac.wire_format, &ac.content, &g->cur.gc,
				   g->sig_priv)) == 0) {
		rc = mls_framing_protect_private(&ep, out, out_len, &ac, 0);
	}
	memset(&ac.content.group_id, 0, sizeof ac.content.group_id);
	memset(&ac.content.application_data, 0, sizeof ac.content.application_data);
	mls_authenticated_content_cleanup(&ac);
	return rc;
}

/* ---- our own proposals ---- */

int mls_group_propose_remove(struct mls_group *g, uint32_t leaf, uint8_t **msg, size_t *msg_len)
{
	struct mls_authenticated_content ac = {0};
	struct mls_group_cached_proposal *grown, entry = {0};
	struct mls_framing_epoch ep;
	int rc;

	if (msg == NULL || msg_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*msg = NULL;
	*msg_len = 0;
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	if (g->removed) {
		return HALQA_ERR_DENIED;
	}
	if (mls_tree_leaf(g->cur.tree, leaf) == NULL) {
		return HALQA_ERR_ARG;
	}
	if (g->num_props >= MLS_GROUP_MAX_CACHED_PROPOSALS) {
		return HALQA_ERR_LIMIT;
	}
	/* Room first, so that nothing can fail once the message is sealed. */
	if ((grown = realloc(g->props, (g->num_props + 1) * sizeof *grown)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	g->props = grown;
	ep = framing_epoch(&g->cur);
	ac.wire_format = g->public_handshake ? MLS_WIRE_PUBLIC_MESSAGE : MLS_WIRE_PRIVATE_MESSAGE;
	ac.content.epoch = g->cur.gc.epoch;
	ac.content.sender.type = MLS_SENDER_MEMBER;
	ac.content.sender.index = own_leaf(g);
	ac.content.content_type = MLS_CONTENT_PROPOSAL;
	ac.content.proposal.type = MLS_PROPOSAL_REMOVE;
	ac.content.proposal.u.remove.removed = leaf;
	if ((rc = mls_bytes_copy(&ac.content.group_id, &g->cur.gc.group_id)) != 0) {
		goto out;
	}
	if (g->hook != NULL) {
		g->hook(&ac, MLS_GROUP_HOOK_CONTENT, g->hook_arg);
	}
	if ((rc = mls_framing_sign(&ac.auth.signature, ac.wire_format, &ac.content, &g->cur.gc,
				   g->sig_priv)) != 0 ||
	    (rc = proposal_ref(&ac, entry.ref)) != 0) {
		goto out;
	}
	/* Signatures are deterministic: the same proposal twice has the same reference. */
	for (size_t i = 0; i < g->num_props; i++) {
		if (memcmp(g->props[i].ref, entry.ref, MLS_HASH_LEN) == 0) {
			rc = HALQA_ERR_EXISTS;
			goto out;
		}
	}
	entry.sender = ac.content.sender.index;
	if ((rc = mls_proposal_copy(&entry.p, &ac.content.proposal)) != 0) {
		goto out;
	}
	if (g->public_handshake) {
		rc = mls_framing_protect_public(&ep, msg, msg_len, &ac);
	} else {
		rc = mls_framing_protect_private(&ep, msg, msg_len, &ac, 0);
	}
	if (rc != 0) {
		goto out;
	}
	/* Kept so that a commit referring to it, from anyone, is understood. */
	g->props[g->num_props++] = entry;
	memset(&entry, 0, sizeof entry);
out:
	mls_proposal_cleanup(&entry.p);
	mls_authenticated_content_cleanup(&ac);
	return rc;
}

/*
 * Whether the cached proposal |cp| can join the commit we are building
 * as |me| (12.2), given what the proposals chosen before it touch: a
 * Remove of a member other than us, an Update from another member, an
 * external or resumption PSK we hold, the first GroupContextExtensions
 * every member supports; at most one change per leaf, no PSK twice. Adds
 * are left to mls_group_commit_add, which also makes their Welcome.
 */
static bool still_valid(const struct mls_group *g, const struct mls_group_cached_proposal *cp,
			uint32_t me, uint32_t *touched, size_t *num_touched,
			const struct mls_psk_id **psks, size_t *num_psks, bool *gce)
{
	const struct mls_proposal *p = &cp->p;
	const uint8_t *v;
	size_t v_len;
	uint32_t leaf;

	switch (p->type) {
	case MLS_PROPOSAL_REMOVE:
	case MLS_PROPOSAL_UPDATE:
		leaf = p->type == MLS_PROPOSAL_REMOVE ? p->u.remove.removed : cp->sender;
		if (leaf == me || mls_tree_leaf(g->cur.tree, leaf) == NULL ||
		    leaf_listed(touched, *num_touched, leaf)) {
			return false;
		}
		touched[(*num_touched)++] = leaf;
		return true;
	case MLS_PROPOSAL_PSK:
		for (size_t i = 0; i < *num_psks; i++) {
			if (psk_id_equal(psks[i], &p->u.psk.psk)) {
				return false;
			}
		}
		if (*num_psks >= MLS_KEY_SCHEDULE_MAX_PSKS ||
		    psk_lookup(g, &g->cur, &p->u.psk.psk, &v, &v_len) != HALQA_OK) {
			return false;
		}
		psks[(*num_psks)++] = &p->u.psk.psk;
		return true;
	case MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		if (*gce || check_members_support(g->cur.tree,
						  &p->u.group_context_extensions.extensions) != 0) {
			return false;
		}
		*gce = true;
		return true;
	default:
		return false;
	}
}

int mls_group_commit_proposals(struct mls_group *g, uint8_t **commit, size_t *commit_len)
{
	struct mls_commit c = {0};
	const struct mls_psk_id **psks = NULL;
	uint32_t *touched = NULL;
	size_t num_touched = 0, num_psks = 0;
	bool gce = false;
	int rc = HALQA_OK;

	if (commit == NULL || commit_len == NULL) {
		return HALQA_ERR_ARG;
	}
	*commit = NULL;
	*commit_len = 0;
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	if (g->removed) {
		return HALQA_ERR_DENIED;
	}
	if (g->pending != NULL) {
		return HALQA_ERR_EXISTS;
	}
	if ((c.proposals = calloc(g->num_props + 1, sizeof *c.proposals)) == NULL ||
	    (touched = calloc(g->num_props + 1, sizeof *touched)) == NULL ||
	    (psks = calloc(g->num_props + 1, sizeof *psks)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->num_props && rc == HALQA_OK; i++) {
		struct mls_proposal_or_ref *por = &c.proposals[c.num_proposals];

		if (!still_valid(g, &g->props[i], own_leaf(g), touched, &num_touched, psks,
				 &num_psks, &gce)) {
			continue;
		}
		por->type = MLS_PROPOSAL_OR_REF_REFERENCE;
		rc = mls_bytes_set(&por->reference, g->props[i].ref, MLS_HASH_LEN);
		c.num_proposals++;
	}
	if (rc == HALQA_OK && c.num_proposals == 0) {
		rc = HALQA_ERR_NOT_FOUND;
	}
out:
	free(touched);
	free(psks);
	if (rc != HALQA_OK) {
		mls_commit_cleanup(&c);
		return rc;
	}
	return make_commit(g, &c, NULL, 0, commit, commit_len, NULL, NULL);
}

size_t mls_group_num_proposals(const struct mls_group *g)
{
	return g != NULL ? g->num_props : 0;
}

/* ---- joining ---- */

/* Decrypts and decodes our GroupSecrets from |wm| (12.4.3.1). */
static int open_group_secrets(const struct mls_welcome *wm, const struct mls_key_package *kp,
			      const uint8_t init_priv[MLS_KEM_PRIV_LEN],
			      struct mls_group_secrets *gs)
{
	uint8_t ref[MLS_HASH_LEN];
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	const struct mls_encrypted_group_secrets *mine = NULL;
	int rc;

	if ((rc = mls_keypackage_ref(kp, ref)) != 0) {
		return rc;
	}
	for (size_t i = 0; i < wm->num_secrets && mine == NULL; i++) {
		if (bytes_eq(&wm->secrets[i].new_member, ref, sizeof ref)) {
			mine = &wm->secrets[i];
		}
	}
	if (mine == NULL) {
		return HALQA_ERR_NOT_FOUND;
	}
	if ((rc = mls_decrypt_with_label(&pt, &pt_len, init_priv, "Welcome",
					 wm->encrypted_group_info.data,
					 wm->encrypted_group_info.len,
					 mine->encrypted_group_secrets.kem_output.data,
					 mine->encrypted_group_secrets.kem_output.len,
					 mine->encrypted_group_secrets.ciphertext.data,
					 mine->encrypted_group_secrets.ciphertext.len)) != 0) {
		return rc;
	}
	rc = mls_group_secrets_decode_bytes(pt, pt_len, gs);
	sodium_memzero(pt, pt_len);
	free(pt);
	if (rc == 0 && gs->joiner_secret.len != MLS_HASH_LEN) {
		rc = HALQA_ERR_INVALID;
	}
	if (rc == 0 && gs->has_path_secret && gs->path_secret.len != MLS_HASH_LEN) {
		rc = HALQA_ERR_INVALID;
	}
	if (rc != 0) {
		mls_group_secrets_cleanup(gs);
	}
	return rc;
}

/* Decrypts and decodes the GroupInfo with the welcome secret (12.4.3.1). */
static int open_group_info(const struct mls_welcome *wm, const uint8_t joiner[MLS_HASH_LEN],
			   const uint8_t psk[MLS_HASH_LEN], struct mls_group_info *gi)
{
	uint8_t member[MLS_HASH_LEN], welcome[MLS_HASH_LEN];
	uint8_t key[MLS_AEAD_KEY_LEN], nonce[MLS_AEAD_NONCE_LEN];
	uint8_t *pt = NULL;
	unsigned long long pt_len = 0;
	int rc;

	/* 8: welcome_secret = DeriveSecret(Extract(joiner_secret, psk_secret), "welcome"). */
	if ((rc = hkdf_extract(member, joiner, MLS_HASH_LEN, psk, MLS_HASH_LEN)) != 0 ||
	    (rc = mls_derive_secret(welcome, member, "welcome")) != 0 ||
	    (rc = mls_key_schedule_welcome_key(key, nonce, welcome)) != 0) {
		goto out;
	}
	if (wm->encrypted_group_info.len < MLS_AEAD_TAG_LEN) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((pt = malloc(wm->encrypted_group_info.len)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &pt_len, NULL,
						      wm->encrypted_group_info.data,
						      wm->encrypted_group_info.len, NULL, 0, nonce,
						      key) != 0) {
		rc = HALQA_ERR_CRYPTO;
		goto out;
	}
	rc = mls_group_info_decode_bytes(pt, (size_t)pt_len, gi);
out:
	sodium_memzero(member, sizeof member);
	sodium_memzero(welcome, sizeof welcome);
	sodium_memzero(key, sizeof key);
	sodium_memzero(nonce, sizeof nonce);
	free(pt);
	return rc;
}

/*
 * Opens a Welcome (12.4.3.1) up to the GroupInfo: our GroupSecrets, the
 * PSK secret from |psks|, the decrypted GroupInfo of our suite. On
 * failure every output is cleaned.
 */
static int welcome_open(const struct mls_welcome *wm, const struct mls_key_package *kp,
			const uint8_t init_priv[MLS_KEM_PRIV_LEN],
			const struct mls_group_psk_store *psks, struct mls_group_secrets *gs,
			uint8_t psk[MLS_HASH_LEN], struct mls_group_info *gi)
{
	const struct mls_psk_id **ids = NULL;
	struct mls_group_psk_store none = {0};
	struct mls_group shell = {0};
	int rc;

	memset(psk, 0, MLS_HASH_LEN);
	/* 12.4.3.1: the Welcome's suite must be that of our KeyPackage. */
	if (wm->cipher_suite != MLS_KEYPACKAGE_SUITE || kp->cipher_suite != MLS_KEYPACKAGE_SUITE) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if ((rc = open_group_secrets(wm, kp, init_priv, gs)) != 0) {
		return rc;
	}
	shell.psks = psks != NULL ? psks : &none;
	if (gs->num_psks > 0) {
		if ((ids = calloc(gs->num_psks, sizeof *ids)) == NULL) {
			rc = HALQA_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < gs->num_psks; i++) {
			ids[i] = &gs->psks[i];
		}
		/* A joiner holds no epoch of this group: resumption PSKs are unknown to it. */
		if ((rc = psk_secret(&shell, NULL, ids, gs->num_psks, psk)) != 0) {
			goto out;
		}
	}
	if ((rc = open_group_info(wm, gs->joiner_secret.data, psk, gi)) != 0) {
		goto out;
	}
	if (gi->group_context.version != MLS_VERSION_MLS10 ||
	    gi->group_context.cipher_suite != MLS_KEYPACKAGE_SUITE) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if (gi->group_context.group_id.len == 0 ||
	    gi->group_context.confirmed_transcript_hash.len != MLS_HASH_LEN) {
		rc = HALQA_ERR_INVALID;
	}
out:
	free(ids);
	if (rc != 0) {
		sodium_memzero(psk, MLS_HASH_LEN);
		mls_group_secrets_cleanup(gs);
		mls_group_info_cleanup(gi);
	}
	return rc;
}

/* Checks a GroupInfo's signature with |pub| (12.4.3). */
static int verify_group_info_with(const struct mls_group_info *gi, const struct mls_bytes *pub)
{
	struct bytes_writer w;
	int rc;

	if (pub->len != MLS_SIG_PUB_LEN) {
		return HALQA_ERR_CRYPTO;
	}
	bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
	mls_group_info_tbs_encode(&w, gi);
	if ((rc = bytes_writer_error(&w)) == 0) {
		rc = mls_verify_with_label(pub->data, "GroupInfoTBS", bytes_writer_data(&w),
					   bytes_writer_len(&w), gi->signature.data,
					   gi->signature.len);
	}
	bytes_writer_cleanup(&w);
	return rc;
}

static int decode_welcome(const uint8_t *welcome, size_t welcome_len, struct mls_message *m)
{
	int rc;

	if ((rc = mls_message_decode_bytes(welcome, welcome_len, m)) != 0) {
		return rc;
	}
	if (m->wire_format != MLS_WIRE_WELCOME) {
		mls_message_cleanup(m);
		return HALQA_ERR_INVALID;
	}
	return HALQA_OK;
}

int mls_group_welcome_check(const uint8_t *welcome, size_t welcome_len,
			    const struct mls_key_package *kp,
			    const uint8_t init_priv[MLS_KEM_PRIV_LEN],
			    const uint8_t signer_pub[MLS_SIG_PUB_LEN],
			    const struct mls_group_psk_store *psks)
{
	struct mls_message m = {0};
	struct mls_group_secrets gs = {0};
	struct mls_group_info gi = {0};
	struct mls_key_schedule_epoch *ks = NULL;
	struct mls_bytes pub = {.data = (uint8_t *)signer_pub, .len = MLS_SIG_PUB_LEN};
	uint8_t psk[MLS_HASH_LEN] = {0};
	int rc;

	if ((welcome == NULL && welcome_len != 0) || kp == NULL || init_priv == NULL ||
	    signer_pub == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((rc = decode_welcome(welcome, welcome_len, &m)) != 0 ||
	    (rc = welcome_open(&m.welcome, kp, init_priv, psks, &gs, psk, &gi)) != 0 ||
	    (rc = verify_group_info_with(&gi, &pub)) != 0 ||
	    (rc = mls_key_schedule_new_from_joiner(&ks, gs.joiner_secret.data, psk,
						   &gi.group_context)) != 0) {
		goto out;
	}
	rc = mls_key_schedule_verify_confirmation_tag(
		ks->confirmation_key, gi.group_context.confirmed_transcript_hash.data, MLS_HASH_LEN,
		gi.confirmation_tag.data, gi.confirmation_tag.len);
out:
	sodium_memzero(psk, sizeof psk);
	mls_key_schedule_free(ks);
	mls_group_info_cleanup(&gi);
	mls_group_secrets_cleanup(&gs);
	mls_message_cleanup(&m);
	return rc;
}

int mls_group_join(struct mls_group **out, const uint8_t *welcome, size_t welcome_len,
		   const uint8_t *ratchet_tree, size_t ratchet_tree_len,
		   const uint8_t sig_priv[MLS_SIG_PRIV_LEN], const struct mls_key_package *kp,
		   struct mls_keypackage_private *kp_priv, const struct mls_group_psk_store *psks)
{
	struct mls_message m = {0};
	struct mls_group_secrets gs = {0};
	struct mls_group_info gi = {0};
	struct mls_group *g = NULL;
	const struct mls_extension *ext;
	struct mls_tree_policy policy;
	uint8_t psk[MLS_HASH_LEN] = {0}, th[MLS_HASH_LEN];
	uint32_t me = UINT32_MAX, n;
	int rc;

	if (out == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	if ((welcome == NULL && welcome_len != 0) || sig_priv == NULL || kp == NULL ||
	    kp_priv == NULL || (ratchet_tree == NULL && ratchet_tree_len != 0)) {
		return HALQA_ERR_ARG;
	}
	if ((rc = decode_welcome(welcome, welcome_len, &m)) != 0 ||
	    (rc = welcome_open(&m.welcome, kp, kp_priv->init_priv, psks, &gs, psk, &gi)) != 0) {
		goto out;
	}
	if ((g = calloc(1, sizeof *g)) == NULL ||
	    (g->sig_priv = secmem_alloc(MLS_SIG_PRIV_LEN)) == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	memcpy(g->sig_priv, sig_priv, MLS_SIG_PRIV_LEN);
	g->psks = psks;
	ext = mls_extension_list_find(&gi.extensions, MLS_EXT_RATCHET_TREE);
	if (ext != NULL) {
		rc = mls_tree_load(&g->cur.tree, ext->data.data, ext->data.len);
	} else if (ratchet_tree != NULL) {
		rc = mls_tree_load(&g->cur.tree, ratchet_tree, ratchet_tree_len);
	} else {
		rc = HALQA_ERR_NOT_FOUND; /* no tree in the Welcome and none given */
	}
	if (rc != 0 || (rc = mls_group_context_copy(&g->cur.gc, &gi.group_context)) != 0) {
		goto out;
	}
	policy = mls_group_tree_policy(&g->cur);
	if ((rc = mls_tree_verify(g->cur.tree, &policy)) != 0 ||
	    (rc = mls_tree_hash(g->cur.tree, th)) != 0) {
		goto out;
	}
	if (!bytes_eq(&gi.group_context.tree_hash, th, sizeof th) ||
	    mls_tree_leaf(g->cur.tree, gi.signer) == NULL) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	if ((rc = verify_group_info_with(&gi, &mls_tree_leaf(g->cur.tree, gi.signer)->signature_key)) != 0) {
		goto out;
	}
	/* 12.4.3.1: our leaf is the one holding our KeyPackage's encryption key. */
	n = mls_tree_num_leaves(g->cur.tree);
	for (uint32_t l = 0; l < n && me == UINT32_MAX; l++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(g->cur.tree, l);

		if (leaf != NULL && bytes_eq(&leaf->encryption_key, kp->leaf_node.encryption_key.data,
					     kp->leaf_node.encryption_key.len)) {
			me = l;
		}
	}
	if (me == UINT32_MAX ||
	    !bytes_eq(&mls_tree_leaf(g->cur.tree, me)->signature_key, sig_priv + MLS_SIG_SEED_LEN,
		      MLS_SIG_PUB_LEN)) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	if ((rc = mls_tree_private_new(&g->cur.priv, me, kp_priv->encryption_priv)) != 0) {
		goto out;
	}
	if (gs.has_path_secret) {
		uint32_t x;

		if (me == gi.signer) {
			rc = HALQA_ERR_INVALID;
			goto out;
		}
		if ((rc = mls_tree_math_common_ancestor(2 * me, 2 * gi.signer, n, &x)) != 0 ||
		    (rc = mls_tree_private_join_path(g->cur.priv, g->cur.tree, x,
						     gs.path_secret.data)) != 0) {
			goto out;
		}
	}
	if ((rc = mls_tree_private_check(g->cur.priv, g->cur.tree)) != 0 ||
	    (rc = mls_key_schedule_new_from_joiner(&g->cur.ks, gs.joiner_secret.data, psk,
						   &g->cur.gc)) != 0 ||
	    (rc = mls_key_schedule_verify_confirmation_tag(
		     g->cur.ks->confirmation_key, gi.group_context.confirmed_transcript_hash.data,
		     MLS_HASH_LEN, gi.confirmation_tag.data, gi.confirmation_tag.len)) != 0 ||
	    (rc = mls_key_schedule_interim_transcript_hash(
		     g->cur.interim, gi.group_context.confirmed_transcript_hash.data,
		     gi.confirmation_tag.data, gi.confirmation_tag.len)) != 0) {
		goto out;
	}
	g->cur.interim_len = MLS_HASH_LEN;
	if ((rc = finish_secrets(&g->cur)) != 0) {
		goto out;
	}
	mls_keypackage_private_wipe(kp_priv);
	*out = g;
	g = NULL;
out:
	sodium_memzero(psk, sizeof psk);
	mls_group_info_cleanup(&gi);
	mls_group_secrets_cleanup(&gs);
	mls_message_cleanup(&m);
	mls_group_free(g);
	return rc;
}

/* ---- reading ---- */

uint64_t mls_group_epoch(const struct mls_group *g)
{
	return g->cur.gc.epoch;
}

void mls_group_id(const struct mls_group *g, const uint8_t **out, size_t *out_len)
{
	*out = g->cur.gc.group_id.data;
	*out_len = g->cur.gc.group_id.len;
}

void mls_group_epoch_authenticator(const struct mls_group *g, uint8_t out[MLS_HASH_LEN])
{
	memcpy(out, g->cur.ks->epoch_authenticator, MLS_HASH_LEN);
}

uint32_t mls_group_own_leaf(const struct mls_group *g)
{
	return own_leaf(g);
}

bool mls_group_is_removed(const struct mls_group *g)
{
	return g->removed;
}

uint32_t mls_group_num_members(const struct mls_group *g)
{
	return mls_tree_num_members(g->cur.tree);
}

int mls_group_members(const struct mls_group *g, struct mls_group_member **out, size_t *out_num)
{
	uint32_t n, count = 0;
	struct mls_group_member *m;

	if (g == NULL || out == NULL || out_num == NULL) {
		return HALQA_ERR_ARG;
	}
	*out = NULL;
	*out_num = 0;
	n = mls_tree_num_leaves(g->cur.tree);
	if ((m = calloc(mls_tree_num_members(g->cur.tree) + 1, sizeof *m)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (uint32_t l = 0; l < n; l++) {
		const struct mls_leaf_node *leaf = mls_tree_leaf(g->cur.tree, l);

		if (leaf == NULL) {
			continue;
		}
		m[count].leaf = l;
		m[count].has_identity = mls_keypackage_leaf_identity(leaf, m[count].identity) == 0;
		count++;
	}
	*out = m;
	*out_num = count;
	return HALQA_OK;
}

int mls_group_export(const struct mls_group *g, const char *label, const uint8_t *context,
		     size_t context_len, uint8_t *out, size_t out_len)
{
	if (g == NULL) {
		return HALQA_ERR_ARG;
	}
	return mls_key_schedule_export(g->cur.ks, out, out_len, label, context, context_len);
}

const struct mls_extension_list *mls_group_extensions(const struct mls_group *g)
{
	return &g->cur.gc.extensions;
}
