/*
 * envelope.c: the application envelope and the Welcome mailbox item
 * (envelope.h), decoded strictly through bytes_reader and encoded through
 * bytes_writer. Both come from other members (or a relay replaying or
 * forging mailbox items), so every field is bounded and checked, and the
 * encoder refuses what the decoder would, which keeps the encoding
 * canonical: a fuzzer checks decode-then-encode gives the input back.
 */
#include "halqa/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "halqa/bytes.h"

static int envelope_check(const struct envelope *e)
{
	if (e->counter == 0 || e->sent_at < 0 || e->sent_at > ENVELOPE_MAX_TIME ||
	    e->payload_len == 0 || e->payload == NULL) {
		return HALQA_ERR_INVALID;
	}
	if (e->payload_len > ENVELOPE_MAX_PAYLOAD) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int envelope_decode(struct envelope *out, const uint8_t *data, size_t len)
{
	struct bytes_reader r, body;
	uint8_t version = 0;
	uint64_t sent_at = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (data == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_reader_init(&r, data, len);
	if ((rc = bytes_get_u8(&r, &version)) != HALQA_OK) {
		goto out;
	}
	if (version != ENVELOPE_VERSION) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = bytes_get_copy(&r, out->msg_id, sizeof out->msg_id)) != HALQA_OK ||
	    (rc = bytes_get_u64(&r, &sent_at)) != HALQA_OK ||
	    (rc = bytes_get_u64(&r, &out->counter)) != HALQA_OK ||
	    (rc = bytes_get_vec(&r, &body, ENVELOPE_MAX_PAYLOAD)) != HALQA_OK ||
	    (rc = bytes_expect_end(&r)) != HALQA_OK) {
		goto out;
	}
	if (sent_at > (uint64_t)ENVELOPE_MAX_TIME) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	out->sent_at = (int64_t)sent_at;
	out->payload_len = bytes_remaining(&body);
	out->payload = body.ptr;
	rc = envelope_check(out);
out:
	if (rc != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return rc;
}

int envelope_encode(uint8_t **out, size_t *out_len, const struct envelope *in)
{
	struct bytes_writer w;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = envelope_check(in)) != HALQA_OK) {
		return rc;
	}
	bytes_writer_init(&w, ENVELOPE_OVERHEAD + ENVELOPE_MAX_PAYLOAD, 0);
	bytes_put_u8(&w, ENVELOPE_VERSION);
	bytes_put(&w, in->msg_id, sizeof in->msg_id);
	bytes_put_u64(&w, (uint64_t)in->sent_at);
	bytes_put_u64(&w, in->counter);
	bytes_put_vec(&w, in->payload, in->payload_len);
	return bytes_writer_finish(&w, out, out_len);
}

static int welcome_check(const struct envelope_welcome *wm)
{
	if (memchr(wm->name, '\0', sizeof wm->name) == NULL ||
	    utf8_name_check(wm->name) != HALQA_OK || wm->welcome == NULL ||
	    wm->welcome_len == 0) {
		return HALQA_ERR_INVALID;
	}
	if (wm->welcome_len > ENVELOPE_MAX_WELCOME) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int envelope_welcome_decode(struct envelope_welcome *out, const uint8_t *data, size_t len)
{
	struct bytes_reader r, name, welcome;
	uint8_t version = 0, kind = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (data == NULL) {
		return HALQA_ERR_ARG;
	}
	bytes_reader_init(&r, data, len);
	if ((rc = bytes_get_u8(&r, &version)) != HALQA_OK ||
	    (rc = bytes_get_u8(&r, &kind)) != HALQA_OK) {
		goto out;
	}
	if (version != ENVELOPE_VERSION || kind != ENVELOPE_ITEM_WELCOME) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = bytes_get_copy(&r, out->circle_id, sizeof out->circle_id)) != HALQA_OK ||
	    (rc = bytes_get_vec(&r, &name, UTF8_MAX_NAME)) != HALQA_OK ||
	    (rc = bytes_get_vec(&r, &welcome, ENVELOPE_MAX_WELCOME)) != HALQA_OK ||
	    (rc = bytes_expect_end(&r)) != HALQA_OK) {
		goto out;
	}
	/* A NUL inside the name would cut it short when shown: refused. */
	if (memchr(name.ptr, '\0', bytes_remaining(&name)) != NULL) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	memcpy(out->name, name.ptr, bytes_remaining(&name));
	out->name[bytes_remaining(&name)] = '\0';
	out->welcome = welcome.ptr;
	out->welcome_len = bytes_remaining(&welcome);
	rc = welcome_check(out);
out:
	if (rc != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return rc;
}

int envelope_welcome_encode(uint8_t **out, size_t *out_len, const struct envelope_welcome *in)
{
	struct bytes_writer w;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = welcome_check(in)) != HALQA_OK) {
		return rc;
	}
	bytes_writer_init(&w, 2 + ENVELOPE_ID_LEN + 4 + UTF8_MAX_NAME + 4 + ENVELOPE_MAX_WELCOME, 0);
	bytes_put_u8(&w, ENVELOPE_VERSION);
	bytes_put_u8(&w, ENVELOPE_ITEM_WELCOME);
	bytes_put(&w, in->circle_id, sizeof in->circle_id);
	bytes_put_vec(&w, (const uint8_t *)in->name, strlen(in->name));
	bytes_put_vec(&w, in->welcome, in->welcome_len);
	return bytes_writer_finish(&w, out, out_len);
}
