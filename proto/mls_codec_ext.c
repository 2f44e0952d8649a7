/*
 * mls_codec_ext.c: the payloads of the extensions RFC 9420 defines
 * (required_capabilities, external_senders, external_pub, application_id).
 *
 * An Extension's extension_data stays opaque in every decoded struct (RFC
 * 9420 13: unknown types must survive byte for byte, and known ones are
 * only meaningful to the layer that acts on them). These decoders are for
 * that layer: each reads one payload from the extension's bytes with the
 * same bounded reader and the same ownership rules as the rest of the
 * codec, so no caller parses extension_data by hand.
 */
#include "halqa/mls_codec.h"

#include <string.h>

#include "halqa/mls_codec_impl.h"

int mls_required_capabilities_decode(struct bytes_reader *r, struct mls_required_capabilities *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_u16_list_decode(r, &out->extension_types)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->proposal_types)) != HALQA_OK ||
	    (rc = mls_u16_list_decode(r, &out->credential_types)) != HALQA_OK) {
		mls_required_capabilities_cleanup(out);
	}
	return rc;
}

int mls_required_capabilities_encode(struct bytes_writer *w,
				     const struct mls_required_capabilities *in)
{
	mls_u16_list_encode(w, &in->extension_types);
	mls_u16_list_encode(w, &in->proposal_types);
	return mls_u16_list_encode(w, &in->credential_types);
}

void mls_required_capabilities_cleanup(struct mls_required_capabilities *c)
{
	mls_u16_list_cleanup(&c->extension_types);
	mls_u16_list_cleanup(&c->proposal_types);
	mls_u16_list_cleanup(&c->credential_types);
}

int mls_external_sender_decode(struct bytes_reader *r, struct mls_external_sender *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = mls_bytes_decode(r, &out->signature_key, MLS_MAX_KEY)) != HALQA_OK ||
	    (rc = mls_credential_decode(r, &out->credential)) != HALQA_OK) {
		mls_external_sender_cleanup(out);
	}
	return rc;
}

int mls_external_sender_encode(struct bytes_writer *w, const struct mls_external_sender *in)
{
	mls_bytes_encode(w, &in->signature_key);
	return mls_credential_encode(w, &in->credential);
}

void mls_external_sender_cleanup(struct mls_external_sender *s)
{
	mls_bytes_cleanup(&s->signature_key);
	mls_credential_cleanup(&s->credential);
}

MLS_LIST_THUNKS(xs, mls_external_sender)

int mls_external_senders_decode(struct bytes_reader *r, struct mls_external_senders *out)
{
	void *items;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mls_list_decode(r, MLS_MAX_TREE_BYTES, MLS_MAX_EXTENSIONS,
			     sizeof(struct mls_external_sender), xs_dec, xs_free, &items, &out->num);
	out->items = items;
	return rc;
}

int mls_external_senders_encode(struct bytes_writer *w, const struct mls_external_senders *in)
{
	return mls_list_encode(w, in->items, in->num, sizeof(struct mls_external_sender), xs_enc);
}

void mls_external_senders_cleanup(struct mls_external_senders *s)
{
	mls_list_cleanup(s->items, s->num, sizeof(struct mls_external_sender), xs_free);
	memset(s, 0, sizeof(*s));
}

int mls_external_pub_decode(struct bytes_reader *r, struct mls_external_pub *out)
{
	memset(out, 0, sizeof(*out));
	return mls_bytes_decode(r, &out->external_pub, MLS_MAX_KEY);
}

int mls_external_pub_encode(struct bytes_writer *w, const struct mls_external_pub *in)
{
	return mls_bytes_encode(w, &in->external_pub);
}

void mls_external_pub_cleanup(struct mls_external_pub *p)
{
	mls_bytes_cleanup(&p->external_pub);
}

MLS_DECODE_BYTES(mls_required_capabilities)
MLS_DECODE_BYTES(mls_external_senders)
MLS_DECODE_BYTES(mls_external_pub)

int mls_application_id_decode_bytes(const uint8_t *data, size_t len, struct mls_bytes *out)
{
	struct bytes_reader r;
	int rc;

	bytes_reader_init(&r, data, len);
	if ((rc = mls_bytes_decode(&r, out, MLS_MAX_IDENTITY)) == HALQA_OK &&
	    (rc = bytes_expect_end(&r)) != HALQA_OK) {
		mls_bytes_cleanup(out);
	}
	return rc;
}
