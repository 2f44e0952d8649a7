/*
 * mls_codec.c: RFC 9420 wire syntax, part one: opaque vectors, lists,
 * extensions, credentials, capabilities, LeafNode, KeyPackage, the ratchet
 * tree, UpdatePath and GroupContext (framing and messages are in
 * mls_codec_msg.c).
 *
 * Design. Each struct has a decoder that reads fields in RFC order through
 * the bounded bytes_reader and copies every variable-length field out
 * (decoded structs never point into the input), an encoder that writes the
 * same fields through bytes_writer, and a cleanup that frees and zeroes.
 * Decoders clear their output on entry and call the cleanup on every error,
 * so a failed decode leaves nothing behind. Vectors of structs go through
 * one generic list decoder that grows its array with the input, so memory
 * is bounded by the input size and the per-list item caps in the header.
 * Because the MLS varint is minimal and every field is kept, re-encoding a
 * decoded struct reproduces its input exactly; the vectors and the fuzzer
 * check that property.
 */
#include "halqa/mls_codec.h"
#include "halqa/mls_codec_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int mls_writer_fail(struct bytes_writer *w, int err)
{
	if (w->err == HALQA_OK) {
		w->err = err;
	}
	return w->err;
}

int mls_optional_decode(struct bytes_reader *r, bool *present)
{
	uint8_t b;
	int rc;

	*present = false;
	if ((rc = bytes_get_u8(r, &b)) != HALQA_OK) {
		return rc;
	}
	/* RFC 9420 2.1.1: the presence byte is 0 or 1; anything else is not an optional<T>. */
	if (b > 1) {
		return HALQA_ERR_MALFORMED;
	}
	*present = b == 1;
	return HALQA_OK;
}

/* ---- opaque vectors ---- */

int mls_bytes_decode(struct bytes_reader *r, struct mls_bytes *out, size_t max_len)
{
	return bytes_get_vec_dup(r, &out->data, &out->len, max_len);
}

int mls_bytes_encode(struct bytes_writer *w, const struct mls_bytes *in)
{
	return bytes_put_vec(w, in->data, in->len);
}

int mls_bytes_set(struct mls_bytes *out, const uint8_t *data, size_t len)
{
	uint8_t *copy = NULL;

	if (len > 0) {
		if ((copy = malloc(len)) == NULL) {
			mls_bytes_cleanup(out);
			return HALQA_ERR_NOMEM;
		}
		memcpy(copy, data, len);
	}
	mls_bytes_cleanup(out);
	out->data = copy;
	out->len = len;
	return HALQA_OK;
}

int mls_bytes_copy(struct mls_bytes *out, const struct mls_bytes *in)
{
	memset(out, 0, sizeof(*out));
	return mls_bytes_set(out, in->data, in->len);
}

void mls_bytes_cleanup(struct mls_bytes *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

void mls_bytes_wipe(struct mls_bytes *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->len);
	}
	mls_bytes_cleanup(b);
}

/* ---- generic lists ---- */

void mls_list_cleanup(void *items, size_t num, size_t item_size, mls_item_cleanup_fn cleanup)
{
	uint8_t *p = items;

	if (items == NULL) {
		return;
	}
	if (cleanup != NULL) {
		for (size_t i = 0; i < num; i++) {
			cleanup(p + i * item_size);
		}
	}
	free(items);
}

int mls_list_decode(struct bytes_reader *r, size_t max_bytes, size_t max_items, size_t item_size,
		    mls_item_decode_fn dec, mls_item_cleanup_fn cleanup, void **out_items,
		    size_t *out_num)
{
	struct bytes_reader body;
	uint8_t *items = NULL;
	size_t num = 0, cap = 0;
	int rc;

	*out_items = NULL;
	*out_num = 0;
	if ((rc = bytes_get_vec(r, &body, max_bytes)) != HALQA_OK) {
		return rc;
	}
	while (bytes_remaining(&body) > 0) {
		if (num == max_items) {
			rc = HALQA_ERR_TOO_LARGE;
			goto out;
		}
		if (num == cap) {
			size_t new_cap = cap == 0 ? 4 : cap * 2;
			uint8_t *grown;

			if (new_cap > max_items) {
				new_cap = max_items;
			}
			if ((grown = realloc(items, new_cap * item_size)) == NULL) {
				rc = HALQA_ERR_NOMEM;
				goto out;
			}
			items = grown;
			cap = new_cap;
		}
		memset(items + num * item_size, 0, item_size);
		if ((rc = dec(&body, items + num * item_size)) != HALQA_OK) {
			goto out;
		}
		num++;
	}
	*out_items = items;
	*out_num = num;
	items = NULL;
	num = 0;
	rc = HALQA_OK;
out:
	mls_list_cleanup(items, num, item_size, cleanup);
	return rc;
}

int mls_list_encode(struct bytes_writer *w, const void *items, size_t num, size_t item_size,
		    mls_item_encode_fn enc)
{
	const uint8_t *p = items;
	struct bytes_mark m;

	bytes_begin(w, BYTES_PREFIX_VARINT, &m);
	for (size_t i = 0; i < num && bytes_writer_error(w) == HALQA_OK; i++) {
		enc(w, p + i * item_size);
	}
	return bytes_end(w, &m);
}

/* ---- u16 and u32 lists ---- */

static int u16_dec(struct bytes_reader *r, void *item)
{
	return bytes_get_u16(r, item);
}

static int u16_enc(struct bytes_writer *w, const void *item)
{
	return bytes_put_u16(w, *(const uint16_t *)item);
}

static int u32_dec(struct bytes_reader *r, void *item)
{
	return bytes_get_u32(r, item);
}

static int u32_enc(struct bytes_writer *w, const void *item)
{
	return bytes_put_u32(w, *(const uint32_t *)item);
}

/* A trailing odd byte in a u16 list is a truncated item: report MALFORMED, not TRUNCATED. */
static int fixed_list_decode(struct bytes_reader *r, size_t width, size_t max_items,
			     mls_item_decode_fn dec, void **out_items, size_t *out_num)
{
	struct bytes_reader peek = *r, body;
	int rc;

	*out_items = NULL;
	*out_num = 0;
	if ((rc = bytes_get_vec(&peek, &body, max_items * width)) != HALQA_OK) {
		return rc;
	}
	if (bytes_remaining(&body) % width != 0) {
		return HALQA_ERR_MALFORMED;
	}
	return mls_list_decode(r, max_items * width, max_items, width, dec, NULL, out_items,
			       out_num);
}

int mls_u16_list_decode(struct bytes_reader *r, struct mls_u16_list *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = fixed_list_decode(r, 2, MLS_MAX_CAPABILITY_ITEMS, u16_dec, &items, &out->num);
	out->items = items;
	return rc;
}

int mls_u16_list_encode(struct bytes_writer *w, const struct mls_u16_list *in)
{
	return mls_list_encode(w, in->items, in->num, sizeof(uint16_t), u16_enc);
}

void mls_u16_list_cleanup(struct mls_u16_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- extensions ---- */

int mls_extension_decode(struct bytes_reader *r, struct mls_extension *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->type)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->data, MLS_MAX_TREE_BYTES)) != HALQA_OK) {
		mls_extension_cleanup(out);
	}
	return rc;
}

int mls_extension_encode(struct bytes_writer *w, const struct mls_extension *in)
{
	bytes_put_u16(w, in->type);
	return mls_bytes_encode(w, &in->data);
}

void mls_extension_cleanup(struct mls_extension *e)
{
	mls_bytes_cleanup(&e->data);
	memset(e, 0, sizeof(*e));
}

MLS_LIST_THUNKS(ext, mls_extension)

int mls_extension_list_decode(struct bytes_reader *r, struct mls_extension_list *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_EXTENSIONS, sizeof(struct mls_extension),
			     ext_dec, ext_free, &items, &out->num);
	out->items = items;
	return rc;
}

int mls_extension_list_encode(struct bytes_writer *w, const struct mls_extension_list *in)
{
	return mls_list_encode(w, in->items, in->num, sizeof(struct mls_extension), ext_enc);
}

void mls_extension_list_cleanup(struct mls_extension_list *l)
{
	mls_list_cleanup(l->items, l->num, sizeof(struct mls_extension), ext_free);
	memset(l, 0, sizeof(*l));
}

int mls_extension_list_copy(struct mls_extension_list *out, const struct mls_extension_list *in)
{
	int rc = HALQA_OK;

	memset(out, 0, sizeof(*out));
	if (in->num == 0) {
		return HALQA_OK;
	}
	if ((out->items = calloc(in->num, sizeof(struct mls_extension))) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < in->num; i++) {
		out->num = i + 1;
		out->items[i].type = in->items[i].type;
		if ((rc = mls_bytes_copy(&out->items[i].data, &in->items[i].data)) != HALQA_OK) {
			mls_extension_list_cleanup(out);
			return rc;
		}
	}
	return HALQA_OK;
}

const struct mls_extension *mls_extension_list_find(const struct mls_extension_list *l,
						    uint16_t type)
{
	for (size_t i = 0; i < l->num; i++) {
		if (l->items[i].type == type) {
			return &l->items[i];
		}
	}
	return NULL;
}

/* ---- credentials ---- */

static int cert_dec(struct bytes_reader *r, void *item)
{
	return mls_bytes_decode(r, item, MLS_MAX_CERT);
}

static int cert_enc(struct bytes_writer *w, const void *item)
{
	return mls_bytes_encode(w, item);
}

static void cert_free(void *item)
{
	mls_bytes_cleanup(item);
}

int mls_credential_decode(struct bytes_reader *r, struct mls_credential *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->type)) != HALQA_OK) {
		goto out;
	}
	switch (out->type) {
	case MLS_CREDENTIAL_BASIC:
		rc = mls_bytes_decode(r, &out->identity, MLS_MAX_IDENTITY);
		break;
	case MLS_CREDENTIAL_X509:
		rc = mls_list_decode(r, (size_t)MLS_MAX_CERT * MLS_MAX_CERTS, MLS_MAX_CERTS,
				     sizeof(struct mls_bytes), cert_dec, cert_free, &items,
				     &out->num_certificates);
		out->certificates = items;
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
out:
	if (rc != HALQA_OK) {
		mls_credential_cleanup(out);
	}
	return rc;
}

int mls_credential_encode(struct bytes_writer *w, const struct mls_credential *in)
{
	bytes_put_u16(w, in->type);
	switch (in->type) {
	case MLS_CREDENTIAL_BASIC:
		return mls_bytes_encode(w, &in->identity);
	case MLS_CREDENTIAL_X509:
		return mls_list_encode(w, in->certificates, in->num_certificates,
				       sizeof(struct mls_bytes), cert_enc);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

void mls_credential_cleanup(struct mls_credential *c)
{
	mls_bytes_cleanup(&c->identity);
	mls_list_cleanup(c->certificates, c->num_certificates, sizeof(struct mls_bytes), cert_free);
	memset(c, 0, sizeof(*c));
}

MLS_COPY_VIA_CODEC(mls_credential)

/* ---- capabilities, lifetime ---- */

int mls_capabilities_decode(struct bytes_reader *r, struct mls_capabilities *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_u16_list_decode(r, &out->versions)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->cipher_suites)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->extensions)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->proposals)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->credentials)) != HALQA_OK) {
		mls_capabilities_cleanup(out);
	}
	return rc;
}

int mls_capabilities_encode(struct bytes_writer *w, const struct mls_capabilities *in)
{
	mls_u16_list_encode(w, &in->versions);
	mls_u16_list_encode(w, &in->cipher_suites);
	mls_u16_list_encode(w, &in->extensions);
	mls_u16_list_encode(w, &in->proposals);
	return mls_u16_list_encode(w, &in->credentials);
}

void mls_capabilities_cleanup(struct mls_capabilities *c)
{
	mls_u16_list_cleanup(&c->versions);
	mls_u16_list_cleanup(&c->cipher_suites);
	mls_u16_list_cleanup(&c->extensions);
	mls_u16_list_cleanup(&c->proposals);
	mls_u16_list_cleanup(&c->credentials);
}

int mls_lifetime_decode(struct bytes_reader *r, struct mls_lifetime *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u64(r, &out->not_before)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &out->not_after)) != HALQA_OK) {
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int mls_lifetime_encode(struct bytes_writer *w, const struct mls_lifetime *in)
{
	bytes_put_u64(w, in->not_before);
	return bytes_put_u64(w, in->not_after);
}

/* ---- LeafNode ---- */

int mls_leaf_node_decode(struct bytes_reader *r, struct mls_leaf_node *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->encryption_key, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->signature_key, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_credential_decode(r, &out->credential)) != HALQA_OK ||
	    (rc = mls_capabilities_decode(r, &out->capabilities)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &out->leaf_node_source)) != HALQA_OK) {
		goto out;
	}
	switch (out->leaf_node_source) {
	case MLS_LEAF_SOURCE_KEY_PACKAGE:
		rc = mls_lifetime_decode(r, &out->lifetime);
		break;
	case MLS_LEAF_SOURCE_UPDATE:
		break;
	case MLS_LEAF_SOURCE_COMMIT:
		rc = mls_bytes_decode(r, &out->parent_hash, MLS_MAX_HASH);
		break;
	default:
		rc = HALQA_ERR_UNSUPPORTED;
		break;
	}
	if (rc != HALQA_OK ||
	    (rc = mls_extension_list_decode(r, &out->extensions)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->signature, MLS_MAX_SIGNATURE)) != HALQA_OK) {
		goto out;
	}
out:
	if (rc != HALQA_OK) {
		mls_leaf_node_cleanup(out);
	}
	return rc;
}

/* The LeafNode fields up to and including its extensions: shared by LeafNode and LeafNodeTBS. */
static int leaf_node_body_encode(struct bytes_writer *w, const struct mls_leaf_node *in)
{
	mls_bytes_encode(w, &in->encryption_key);
	mls_bytes_encode(w, &in->signature_key);
	mls_credential_encode(w, &in->credential);
	mls_capabilities_encode(w, &in->capabilities);
	bytes_put_u8(w, in->leaf_node_source);
	switch (in->leaf_node_source) {
	case MLS_LEAF_SOURCE_KEY_PACKAGE:
		mls_lifetime_encode(w, &in->lifetime);
		break;
	case MLS_LEAF_SOURCE_UPDATE:
		break;
	case MLS_LEAF_SOURCE_COMMIT:
		mls_bytes_encode(w, &in->parent_hash);
		break;
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
	return mls_extension_list_encode(w, &in->extensions);
}

int mls_leaf_node_encode(struct bytes_writer *w, const struct mls_leaf_node *in)
{
	leaf_node_body_encode(w, in);
	return mls_bytes_encode(w, &in->signature);
}

int mls_leaf_node_tbs_encode(struct bytes_writer *w, const struct mls_leaf_node *leaf,
			     const uint8_t *group_id, size_t group_id_len, uint32_t leaf_index)
{
	leaf_node_body_encode(w, leaf);
	/* RFC 9420 7.2: leaves not from a KeyPackage are bound to their group and position. */
	if (leaf->leaf_node_source == MLS_LEAF_SOURCE_UPDATE ||
	    leaf->leaf_node_source == MLS_LEAF_SOURCE_COMMIT) {
		bytes_put_vec(w, group_id, group_id_len);
		bytes_put_u32(w, leaf_index);
	}
	return bytes_writer_error(w);
}

void mls_leaf_node_cleanup(struct mls_leaf_node *n)
{
	mls_bytes_cleanup(&n->encryption_key);
	mls_bytes_cleanup(&n->signature_key);
	mls_credential_cleanup(&n->credential);
	mls_capabilities_cleanup(&n->capabilities);
	mls_bytes_cleanup(&n->parent_hash);
	mls_extension_list_cleanup(&n->extensions);
	mls_bytes_cleanup(&n->signature);
	memset(n, 0, sizeof(*n));
}

MLS_COPY_VIA_CODEC(mls_leaf_node)

/* ---- KeyPackage ---- */

int mls_key_package_decode(struct bytes_reader *r, struct mls_key_package *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->version)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &out->cipher_suite)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->init_key, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_leaf_node_decode(r, &out->leaf_node)) != HALQA_OK ||
	    (rc = mls_extension_list_decode(r, &out->extensions)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->signature, MLS_MAX_SIGNATURE)) != HALQA_OK) {
		mls_key_package_cleanup(out);
	}
	return rc;
}

int mls_key_package_tbs_encode(struct bytes_writer *w, const struct mls_key_package *kp)
{
	bytes_put_u16(w, kp->version);
	bytes_put_u16(w, kp->cipher_suite);
	mls_bytes_encode(w, &kp->init_key);
	mls_leaf_node_encode(w, &kp->leaf_node);
	return mls_extension_list_encode(w, &kp->extensions);
}

int mls_key_package_encode(struct bytes_writer *w, const struct mls_key_package *in)
{
	mls_key_package_tbs_encode(w, in);
	return mls_bytes_encode(w, &in->signature);
}

void mls_key_package_cleanup(struct mls_key_package *kp)
{
	mls_bytes_cleanup(&kp->init_key);
	mls_leaf_node_cleanup(&kp->leaf_node);
	mls_extension_list_cleanup(&kp->extensions);
	mls_bytes_cleanup(&kp->signature);
	memset(kp, 0, sizeof(*kp));
}

MLS_COPY_VIA_CODEC(mls_key_package)

/* ---- HPKECiphertext, UpdatePath ---- */

int mls_hpke_ciphertext_decode(struct bytes_reader *r, struct mls_hpke_ciphertext *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->kem_output, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->ciphertext, MLS_MAX_MESSAGE)) != HALQA_OK) {
		mls_hpke_ciphertext_cleanup(out);
	}
	return rc;
}

int mls_hpke_ciphertext_encode(struct bytes_writer *w, const struct mls_hpke_ciphertext *in)
{
	mls_bytes_encode(w, &in->kem_output);
	return mls_bytes_encode(w, &in->ciphertext);
}

void mls_hpke_ciphertext_cleanup(struct mls_hpke_ciphertext *c)
{
	mls_bytes_cleanup(&c->kem_output);
	mls_bytes_cleanup(&c->ciphertext);
}

MLS_LIST_THUNKS(hpke_ct, mls_hpke_ciphertext)

int mls_update_path_node_decode(struct bytes_reader *r, struct mls_update_path_node *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->encryption_key, MLS_MAX_KEY)) != HALQA_OK) {
		return rc;
	}
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_LEAVES,
			     sizeof(struct mls_hpke_ciphertext), hpke_ct_dec, hpke_ct_free, &items,
			     &out->num_encrypted_path_secret);
	out->encrypted_path_secret = items;
	if (rc != HALQA_OK) {
		mls_update_path_node_cleanup(out);
	}
	return rc;
}

int mls_update_path_node_encode(struct bytes_writer *w, const struct mls_update_path_node *in)
{
	mls_bytes_encode(w, &in->encryption_key);
	return mls_list_encode(w, in->encrypted_path_secret, in->num_encrypted_path_secret,
			       sizeof(struct mls_hpke_ciphertext), hpke_ct_enc);
}

void mls_update_path_node_cleanup(struct mls_update_path_node *n)
{
	mls_bytes_cleanup(&n->encryption_key);
	mls_list_cleanup(n->encrypted_path_secret, n->num_encrypted_path_secret,
			 sizeof(struct mls_hpke_ciphertext), hpke_ct_free);
	memset(n, 0, sizeof(*n));
}

MLS_LIST_THUNKS(upn, mls_update_path_node)

int mls_update_path_decode(struct bytes_reader *r, struct mls_update_path *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_leaf_node_decode(r, &out->leaf_node)) != HALQA_OK) {
		return rc;
	}
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_PATH_NODES,
			     sizeof(struct mls_update_path_node), upn_dec, upn_free, &items,
			     &out->num_nodes);
	out->nodes = items;
	if (rc != HALQA_OK) {
		mls_update_path_cleanup(out);
	}
	return rc;
}

int mls_update_path_encode(struct bytes_writer *w, const struct mls_update_path *in)
{
	mls_leaf_node_encode(w, &in->leaf_node);
	return mls_list_encode(w, in->nodes, in->num_nodes, sizeof(struct mls_update_path_node),
			       upn_enc);
}

void mls_update_path_cleanup(struct mls_update_path *p)
{
	mls_leaf_node_cleanup(&p->leaf_node);
	mls_list_cleanup(p->nodes, p->num_nodes, sizeof(struct mls_update_path_node), upn_free);
	memset(p, 0, sizeof(*p));
}

/* ---- ParentNode, Node, ratchet tree ---- */

int mls_parent_node_decode(struct bytes_reader *r, struct mls_parent_node *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->encryption_key, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->parent_hash, MLS_MAX_HASH)) != HALQA_OK) {
		goto out;
	}
	rc = fixed_list_decode(r, 4, MLS_MAX_LEAVES, u32_dec, &items, &out->num_unmerged_leaves);
	out->unmerged_leaves = items;
out:
	if (rc != HALQA_OK) {
		mls_parent_node_cleanup(out);
	}
	return rc;
}

int mls_parent_node_encode(struct bytes_writer *w, const struct mls_parent_node *in)
{
	mls_bytes_encode(w, &in->encryption_key);
	mls_bytes_encode(w, &in->parent_hash);
	return mls_list_encode(w, in->unmerged_leaves, in->num_unmerged_leaves, sizeof(uint32_t),
			       u32_enc);
}

void mls_parent_node_cleanup(struct mls_parent_node *p)
{
	mls_bytes_cleanup(&p->encryption_key);
	mls_bytes_cleanup(&p->parent_hash);
	free(p->unmerged_leaves);
	memset(p, 0, sizeof(*p));
}

MLS_COPY_VIA_CODEC(mls_parent_node)

int mls_node_decode(struct bytes_reader *r, struct mls_node *out)
{
	uint8_t type;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u8(r, &type)) != HALQA_OK) {
		return rc;
	}
	switch (type) {
	case MLS_NODE_LEAF:
		rc = mls_leaf_node_decode(r, &out->u.leaf);
		break;
	case MLS_NODE_PARENT:
		rc = mls_parent_node_decode(r, &out->u.parent);
		break;
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
	if (rc == HALQA_OK) {
		out->type = type;
	}
	return rc;
}

int mls_node_encode(struct bytes_writer *w, const struct mls_node *in)
{
	bytes_put_u8(w, in->type);
	switch (in->type) {
	case MLS_NODE_LEAF:
		return mls_leaf_node_encode(w, &in->u.leaf);
	case MLS_NODE_PARENT:
		return mls_parent_node_encode(w, &in->u.parent);
	default:
		return mls_writer_fail(w, HALQA_ERR_ARG);
	}
}

void mls_node_cleanup(struct mls_node *n)
{
	switch (n->type) {
	case MLS_NODE_LEAF:
		mls_leaf_node_cleanup(&n->u.leaf);
		break;
	case MLS_NODE_PARENT:
		mls_parent_node_cleanup(&n->u.parent);
		break;
	default:
		break;
	}
	memset(n, 0, sizeof(*n));
}

MLS_COPY_VIA_CODEC(mls_node)

static int opt_node_dec(struct bytes_reader *r, void *item)
{
	bool present;
	int rc;

	if ((rc = mls_optional_decode(r, &present)) != HALQA_OK || !present) {
		return rc;
	}
	return mls_node_decode(r, item);
}

static int opt_node_enc(struct bytes_writer *w, const void *item)
{
	const struct mls_node *n = item;

	if (n->type == MLS_NODE_BLANK) {
		return bytes_put_u8(w, 0);
	}
	bytes_put_u8(w, 1);
	return mls_node_encode(w, n);
}

static void node_free(void *item)
{
	mls_node_cleanup(item);
}

int mls_ratchet_tree_decode(struct bytes_reader *r, struct mls_ratchet_tree *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_TREE_NODES, sizeof(struct mls_node),
			     opt_node_dec, node_free, &items, &out->num_nodes);
	out->nodes = items;
	return rc;
}

int mls_ratchet_tree_encode(struct bytes_writer *w, const struct mls_ratchet_tree *in)
{
	return mls_list_encode(w, in->nodes, in->num_nodes, sizeof(struct mls_node), opt_node_enc);
}

void mls_ratchet_tree_cleanup(struct mls_ratchet_tree *t)
{
	mls_list_cleanup(t->nodes, t->num_nodes, sizeof(struct mls_node), node_free);
	memset(t, 0, sizeof(*t));
}

/* ---- GroupContext ---- */

int mls_group_context_decode(struct bytes_reader *r, struct mls_group_context *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = bytes_get_u16(r, &out->version)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &out->cipher_suite)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->group_id, MLS_MAX_GROUP_ID)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &out->epoch)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->tree_hash, MLS_MAX_HASH)) != HALQA_OK ||
	    (rc = mls_bytes_decode(r, &out->confirmed_transcript_hash, MLS_MAX_HASH)) != HALQA_OK ||
	    (rc = mls_extension_list_decode(r, &out->extensions)) != HALQA_OK) {
		mls_group_context_cleanup(out);
	}
	return rc;
}

int mls_group_context_encode(struct bytes_writer *w, const struct mls_group_context *in)
{
	bytes_put_u16(w, in->version);
	bytes_put_u16(w, in->cipher_suite);
	mls_bytes_encode(w, &in->group_id);
	bytes_put_u64(w, in->epoch);
	mls_bytes_encode(w, &in->tree_hash);
	mls_bytes_encode(w, &in->confirmed_transcript_hash);
	return mls_extension_list_encode(w, &in->extensions);
}

void mls_group_context_cleanup(struct mls_group_context *gc)
{
	mls_bytes_cleanup(&gc->group_id);
	mls_bytes_cleanup(&gc->tree_hash);
	mls_bytes_cleanup(&gc->confirmed_transcript_hash);
	mls_extension_list_cleanup(&gc->extensions);
	memset(gc, 0, sizeof(*gc));
}

MLS_COPY_VIA_CODEC(mls_group_context)

/* ---- whole-buffer helpers ---- */

MLS_BYTES_HELPERS(mls_key_package)
MLS_BYTES_HELPERS(mls_ratchet_tree)
MLS_BYTES_HELPERS(mls_group_context)

MLS_DECODE_BYTES(mls_leaf_node)
