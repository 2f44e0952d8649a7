/*
 * wire.c: encoder and decoder of the client-relay wire format (wire.h,
 * docs/PROTOCOL.md).
 *
 * Both directions are written as one function per message type, side by
 * side, over the same small field helpers (ids, booleans, kinds, blobs), so
 * the bound checked when decoding a field is visibly the bound checked when
 * encoding it. Decoding runs on a bytes_reader: every field is taken with a
 * checked get, every blob is a sub-reader of exactly its prefixed length,
 * and the body must end where the frame ends. The encoder validates each
 * value before writing it, so a relay or client bug cannot put a frame on
 * the wire that the other side's decoder would refuse, and the fuzz target
 * can demand encode(decode(frame)) == frame for every accepted frame: the
 * format is canonical (booleans 0 or 1, no optional padding, commits alone
 * carry next_cap_hash).
 */
#include "halqa/wire.h"

#include <sodium.h>
#include <string.h>

#define CAP_HASH_LABEL "halqa cap v1"

/* ---- field helpers ---- */

static int get_bool(struct bytes_reader *r, uint8_t *out)
{
	int rc;

	if ((rc = bytes_get_u8(r, out)) != HALQA_OK) {
		return rc;
	}
	return *out <= 1 ? HALQA_OK : HALQA_ERR_MALFORMED;
}

static int kind_valid(uint8_t kind)
{
	return kind == WIRE_KIND_COMMIT || kind == WIRE_KIND_PROPOSAL ||
	       kind == WIRE_KIND_APPLICATION;
}

static int get_kind(struct bytes_reader *r, uint8_t *out)
{
	int rc;

	if ((rc = bytes_get_u8(r, out)) != HALQA_OK) {
		return rc;
	}
	return kind_valid(*out) ? HALQA_OK : HALQA_ERR_MALFORMED;
}

/* get_blob reads a u32-prefixed blob of |min|..|max| bytes, borrowed. */
static int get_blob(struct bytes_reader *r, struct wire_blob *out, size_t min, size_t max)
{
	struct bytes_reader tmp = *r, sub;
	int rc;

	if ((rc = bytes_get_prefixed(&tmp, 4, &sub, max)) != HALQA_OK) {
		return rc;
	}
	if (bytes_remaining(&sub) < min) {
		return HALQA_ERR_MALFORMED;
	}
	out->len = bytes_remaining(&sub);
	if ((rc = bytes_get_span(&sub, &out->data, out->len)) != HALQA_OK) {
		return rc;
	}
	*r = tmp;
	return HALQA_OK;
}

static int put_blob(struct bytes_writer *w, const struct wire_blob *b, size_t min, size_t max)
{
	if (b->len > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (b->len < min || (b->len > 0 && b->data == NULL)) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u32(w, (uint32_t)b->len);
	return bytes_put(w, b->data, b->len);
}

static int put_bool(struct bytes_writer *w, uint8_t v)
{
	if (v > 1) {
		return HALQA_ERR_INVALID;
	}
	return bytes_put_u8(w, v);
}

static int put_kind(struct bytes_writer *w, uint8_t kind)
{
	if (!kind_valid(kind)) {
		return HALQA_ERR_INVALID;
	}
	return bytes_put_u8(w, kind);
}

/* A count field of |min|..|max| (u16). */
static int get_count(struct bytes_reader *r, uint16_t *out, uint16_t min, uint16_t max)
{
	int rc;

	if ((rc = bytes_get_u16(r, out)) != HALQA_OK) {
		return rc;
	}
	if (*out > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	return *out < min ? HALQA_ERR_MALFORMED : HALQA_OK;
}

static int put_count(struct bytes_writer *w, uint16_t v, uint16_t min, uint16_t max)
{
	if (v > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (v < min) {
		return HALQA_ERR_INVALID;
	}
	return bytes_put_u16(w, v);
}

static int printable(uint8_t c, uint8_t lowest)
{
	return c >= lowest && c <= 0x7e;
}

/*
 * get_text reads a u8-prefixed string of at most |max| bytes, each in
 * |lowest|..0x7e, into the NUL-terminated |out|. Control bytes are refused
 * so a hostile peer cannot smuggle terminal escapes into a log or a screen.
 */
static int get_text(struct bytes_reader *r, char *out, size_t max, uint8_t lowest)
{
	struct bytes_reader tmp = *r, sub;
	size_t i = 0;
	uint8_t c;
	int rc;

	if ((rc = bytes_get_prefixed(&tmp, 1, &sub, max)) != HALQA_OK) {
		return rc;
	}
	while (bytes_remaining(&sub) > 0) {
		if ((rc = bytes_get_u8(&sub, &c)) != HALQA_OK) {
			return rc;
		}
		if (!printable(c, lowest)) {
			return HALQA_ERR_MALFORMED;
		}
		out[i++] = (char)c;
	}
	out[i] = '\0';
	*r = tmp;
	return HALQA_OK;
}

static int put_text(struct bytes_writer *w, const char *s, size_t max, uint8_t lowest)
{
	size_t n = strnlen(s, max + 1), i;

	if (n > max) {
		return HALQA_ERR_TOO_LARGE;
	}
	for (i = 0; i < n; i++) {
		if (!printable((uint8_t)s[i], lowest)) {
			return HALQA_ERR_INVALID;
		}
	}
	bytes_put_u8(w, (uint8_t)n);
	return bytes_put(w, (const uint8_t *)s, n);
}

/* ---- requests ---- */

static int dec_hello(struct bytes_reader *r, struct wire_hello *m)
{
	int rc;

	if ((rc = bytes_get_u8(r, &m->min_version)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &m->max_version)) != HALQA_OK) {
		return rc;
	}
	return m->min_version >= 1 && m->min_version <= m->max_version ? HALQA_OK
									: HALQA_ERR_MALFORMED;
}

static int enc_hello(struct bytes_writer *w, const struct wire_hello *m)
{
	if (m->min_version < 1 || m->min_version > m->max_version) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u8(w, m->min_version);
	return bytes_put_u8(w, m->max_version);
}

static int dec_register(struct bytes_reader *r, struct wire_register *m)
{
	return get_text(r, m->invite, WIRE_MAX_INVITE, 0x21);
}

static int enc_register(struct bytes_writer *w, const struct wire_register *m)
{
	return put_text(w, m->invite, WIRE_MAX_INVITE, 0x21);
}

static int dec_circle_create(struct bytes_reader *r, struct wire_circle_create *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, m->cap_hash, WIRE_CAP_LEN)) != HALQA_OK) {
		return rc;
	}
	return bytes_get_u32(r, &m->max_age);
}

static int enc_circle_create(struct bytes_writer *w, const struct wire_circle_create *m)
{
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	bytes_put(w, m->cap_hash, WIRE_CAP_LEN);
	return bytes_put_u32(w, m->max_age);
}

static int dec_send(struct bytes_reader *r, struct wire_send *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->epoch)) != HALQA_OK ||
	    (rc = get_kind(r, &m->kind)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, m->cap, WIRE_CAP_LEN)) != HALQA_OK) {
		return rc;
	}
	/* Only a commit opens the next epoch, so only a commit names its cap hash. */
	if (m->kind == WIRE_KIND_COMMIT &&
	    (rc = bytes_get_copy(r, m->next_cap_hash, WIRE_CAP_LEN)) != HALQA_OK) {
		return rc;
	}
	if ((rc = bytes_get_copy(r, m->client_msg_id, WIRE_ID_LEN)) != HALQA_OK) {
		return rc;
	}
	return get_blob(r, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

static int enc_send(struct bytes_writer *w, const struct wire_send *m)
{
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	bytes_put_u64(w, m->epoch);
	if (put_kind(w, m->kind) == HALQA_ERR_INVALID) {
		return HALQA_ERR_INVALID;
	}
	bytes_put(w, m->cap, WIRE_CAP_LEN);
	if (m->kind == WIRE_KIND_COMMIT) {
		bytes_put(w, m->next_cap_hash, WIRE_CAP_LEN);
	}
	bytes_put(w, m->client_msg_id, WIRE_ID_LEN);
	return put_blob(w, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

static int dec_listen(struct bytes_reader *r, struct wire_listen *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK) {
		return rc;
	}
	return bytes_get_copy(r, m->cap, WIRE_CAP_LEN);
}

static int enc_listen(struct bytes_writer *w, const struct wire_listen *m)
{
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	return bytes_put(w, m->cap, WIRE_CAP_LEN);
}

static int dec_fetch(struct bytes_reader *r, struct wire_fetch *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, m->cap, WIRE_CAP_LEN)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->from_seq)) != HALQA_OK) {
		return rc;
	}
	return get_count(r, &m->max_count, 1, WIRE_MAX_FETCH_COUNT);
}

static int enc_fetch(struct bytes_writer *w, const struct wire_fetch *m)
{
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	bytes_put(w, m->cap, WIRE_CAP_LEN);
	bytes_put_u64(w, m->from_seq);
	return put_count(w, m->max_count, 1, WIRE_MAX_FETCH_COUNT);
}

static int dec_ack(struct bytes_reader *r, struct wire_ack *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, m->cursor_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, m->cap, WIRE_CAP_LEN)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->seq)) != HALQA_OK) {
		return rc;
	}
	/*
	 * seq may be 0: acknowledging first_seq - 1 of one's epoch registers a
	 * cursor before anything was read (the circle creator's is 0), so the
	 * relay keeps the epoch's messages for that member.
	 */
	return HALQA_OK;
}

static int enc_ack(struct bytes_writer *w, const struct wire_ack *m)
{
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	bytes_put(w, m->cursor_id, WIRE_ID_LEN);
	bytes_put(w, m->cap, WIRE_CAP_LEN);
	return bytes_put_u64(w, m->seq);
}

static int dec_mailbox_put(struct bytes_reader *r, struct wire_mailbox_put *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->mailbox_id, WIRE_ID_LEN)) != HALQA_OK) {
		return rc;
	}
	return get_blob(r, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

static int enc_mailbox_put(struct bytes_writer *w, const struct wire_mailbox_put *m)
{
	bytes_put(w, m->mailbox_id, WIRE_ID_LEN);
	return put_blob(w, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

static int dec_mailbox_fetch(struct bytes_reader *r, struct wire_mailbox_fetch *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->mailbox_id, WIRE_ID_LEN)) != HALQA_OK) {
		return rc;
	}
	return get_count(r, &m->max_count, 1, WIRE_MAX_MAILBOX_FETCH);
}

static int enc_mailbox_fetch(struct bytes_writer *w, const struct wire_mailbox_fetch *m)
{
	bytes_put(w, m->mailbox_id, WIRE_ID_LEN);
	return put_count(w, m->max_count, 1, WIRE_MAX_MAILBOX_FETCH);
}

static int dec_mailbox_delete(struct bytes_reader *r, struct wire_mailbox_delete *m)
{
	uint16_t i;
	int rc;

	if ((rc = bytes_get_copy(r, m->mailbox_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = get_count(r, &m->num_ids, 1, WIRE_MAX_DELETE_IDS)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_ids; i++) {
		if ((rc = bytes_get_u64(r, &m->ids[i])) != HALQA_OK) {
			return rc;
		}
	}
	return HALQA_OK;
}

static int enc_mailbox_delete(struct bytes_writer *w, const struct wire_mailbox_delete *m)
{
	uint16_t i;
	int rc;

	bytes_put(w, m->mailbox_id, WIRE_ID_LEN);
	if ((rc = put_count(w, m->num_ids, 1, WIRE_MAX_DELETE_IDS)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_ids; i++) {
		bytes_put_u64(w, m->ids[i]);
	}
	return bytes_writer_error(w);
}

static int dec_kp_publish(struct bytes_reader *r, struct wire_kp_publish *m)
{
	uint16_t i;
	int rc;

	if ((rc = bytes_get_copy(r, m->dir_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = get_count(r, &m->num_packages, 0, WIRE_MAX_KP_BATCH)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_packages; i++) {
		if ((rc = get_blob(r, &m->packages[i], 1, WIRE_MAX_KP_LEN)) != HALQA_OK) {
			return rc;
		}
	}
	if ((rc = get_bool(r, &m->has_last_resort)) != HALQA_OK) {
		return rc;
	}
	if (m->has_last_resort &&
	    (rc = get_blob(r, &m->last_resort, 1, WIRE_MAX_KP_LEN)) != HALQA_OK) {
		return rc;
	}
	/* Publishing nothing is a client bug, not a request. */
	return m->num_packages > 0 || m->has_last_resort ? HALQA_OK : HALQA_ERR_MALFORMED;
}

static int enc_kp_publish(struct bytes_writer *w, const struct wire_kp_publish *m)
{
	uint16_t i;
	int rc;

	if (m->num_packages == 0 && !m->has_last_resort) {
		return HALQA_ERR_INVALID;
	}
	bytes_put(w, m->dir_id, WIRE_ID_LEN);
	if ((rc = put_count(w, m->num_packages, 0, WIRE_MAX_KP_BATCH)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_packages; i++) {
		if ((rc = put_blob(w, &m->packages[i], 1, WIRE_MAX_KP_LEN)) != HALQA_OK) {
			return rc;
		}
	}
	if ((rc = put_bool(w, m->has_last_resort)) != HALQA_OK) {
		return rc;
	}
	if (m->has_last_resort) {
		return put_blob(w, &m->last_resort, 1, WIRE_MAX_KP_LEN);
	}
	return bytes_writer_error(w);
}

static int dec_kp_dir(struct bytes_reader *r, struct wire_kp_dir *m)
{
	return bytes_get_copy(r, m->dir_id, WIRE_ID_LEN);
}

static int enc_kp_dir(struct bytes_writer *w, const struct wire_kp_dir *m)
{
	return bytes_put(w, m->dir_id, WIRE_ID_LEN);
}

/* ---- OK results ---- */

static int hello_ok_valid(const struct wire_hello_ok *m)
{
	return m->version >= WIRE_VERSION_MIN && m->version <= WIRE_VERSION_MAX &&
	       m->registered <= 1 && m->max_frame >= WIRE_HEADER_LEN &&
	       m->max_frame <= WIRE_MAX_FRAME && m->max_payload >= 1 &&
	       m->max_payload <= WIRE_MAX_PAYLOAD && m->max_fetch_count >= 1 &&
	       m->max_fetch_count <= WIRE_MAX_FETCH_COUNT && m->max_mailbox_fetch >= 1 &&
	       m->max_mailbox_fetch <= WIRE_MAX_MAILBOX_FETCH && m->max_kp_batch >= 1 &&
	       m->max_kp_batch <= WIRE_MAX_KP_BATCH && m->max_delete_ids >= 1 &&
	       m->max_delete_ids <= WIRE_MAX_DELETE_IDS;
}

static int dec_hello_ok(struct bytes_reader *r, struct wire_hello_ok *m)
{
	int rc;

	if ((rc = bytes_get_u8(r, &m->version)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &m->registered)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->max_frame)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->max_payload)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &m->max_fetch_count)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &m->max_mailbox_fetch)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &m->max_kp_batch)) != HALQA_OK ||
	    (rc = bytes_get_u16(r, &m->max_delete_ids)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->requests_per_sec)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->kp_claims_per_min)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->max_circles)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->bytes_per_day)) != HALQA_OK ||
	    (rc = bytes_get_u32(r, &m->default_max_age)) != HALQA_OK) {
		return rc;
	}
	return hello_ok_valid(m) ? HALQA_OK : HALQA_ERR_MALFORMED;
}

static int enc_hello_ok(struct bytes_writer *w, const struct wire_hello_ok *m)
{
	if (!hello_ok_valid(m)) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u8(w, m->version);
	bytes_put_u8(w, m->registered);
	bytes_put_u32(w, m->max_frame);
	bytes_put_u32(w, m->max_payload);
	bytes_put_u16(w, m->max_fetch_count);
	bytes_put_u16(w, m->max_mailbox_fetch);
	bytes_put_u16(w, m->max_kp_batch);
	bytes_put_u16(w, m->max_delete_ids);
	bytes_put_u32(w, m->requests_per_sec);
	bytes_put_u32(w, m->kp_claims_per_min);
	bytes_put_u32(w, m->max_circles);
	bytes_put_u64(w, m->bytes_per_day);
	return bytes_put_u32(w, m->default_max_age);
}

static int fetch_ok_valid(const struct wire_fetch_ok *m)
{
	/* An empty epoch has last_seq = first_seq - 1; first_seq is at least 1. */
	return m->closed <= 1 && m->first_seq >= 1 && m->last_seq >= m->first_seq - 1;
}

static int dec_fetch_ok(struct bytes_reader *r, struct wire_fetch_ok *m)
{
	uint16_t i;
	int rc;

	if ((rc = bytes_get_u64(r, &m->epoch)) != HALQA_OK ||
	    (rc = get_bool(r, &m->closed)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->first_seq)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->last_seq)) != HALQA_OK ||
	    (rc = get_count(r, &m->num_msgs, 0, WIRE_MAX_FETCH_COUNT)) != HALQA_OK) {
		return rc;
	}
	if (!fetch_ok_valid(m)) {
		return HALQA_ERR_MALFORMED;
	}
	for (i = 0; i < m->num_msgs; i++) {
		struct wire_fetch_item *it = &m->msgs[i];

		if ((rc = bytes_get_u64(r, &it->seq)) != HALQA_OK ||
		    (rc = get_kind(r, &it->kind)) != HALQA_OK ||
		    (rc = get_blob(r, &it->payload, 1, WIRE_MAX_PAYLOAD)) != HALQA_OK) {
			return rc;
		}
	}
	return HALQA_OK;
}

static int enc_fetch_ok(struct bytes_writer *w, const struct wire_fetch_ok *m)
{
	uint16_t i;
	int rc;

	if (!fetch_ok_valid(m)) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u64(w, m->epoch);
	bytes_put_u8(w, m->closed);
	bytes_put_u64(w, m->first_seq);
	bytes_put_u64(w, m->last_seq);
	if ((rc = put_count(w, m->num_msgs, 0, WIRE_MAX_FETCH_COUNT)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_msgs; i++) {
		const struct wire_fetch_item *it = &m->msgs[i];

		bytes_put_u64(w, it->seq);
		if ((rc = put_kind(w, it->kind)) != HALQA_OK ||
		    (rc = put_blob(w, &it->payload, 1, WIRE_MAX_PAYLOAD)) != HALQA_OK) {
			return rc;
		}
	}
	return bytes_writer_error(w);
}

static int dec_mailbox_fetch_ok(struct bytes_reader *r, struct wire_mailbox_fetch_ok *m)
{
	uint16_t i;
	int rc;

	if ((rc = get_count(r, &m->num_items, 0, WIRE_MAX_MAILBOX_FETCH)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_items; i++) {
		if ((rc = bytes_get_u64(r, &m->items[i].id)) != HALQA_OK ||
		    (rc = get_blob(r, &m->items[i].payload, 1, WIRE_MAX_PAYLOAD)) != HALQA_OK) {
			return rc;
		}
	}
	return HALQA_OK;
}

static int enc_mailbox_fetch_ok(struct bytes_writer *w, const struct wire_mailbox_fetch_ok *m)
{
	uint16_t i;
	int rc;

	if ((rc = put_count(w, m->num_items, 0, WIRE_MAX_MAILBOX_FETCH)) != HALQA_OK) {
		return rc;
	}
	for (i = 0; i < m->num_items; i++) {
		bytes_put_u64(w, m->items[i].id);
		if ((rc = put_blob(w, &m->items[i].payload, 1, WIRE_MAX_PAYLOAD)) != HALQA_OK) {
			return rc;
		}
	}
	return bytes_writer_error(w);
}

static int dec_ok(struct bytes_reader *r, struct wire_ok *m)
{
	int rc;

	if ((rc = bytes_get_u8(r, &m->for_type)) != HALQA_OK) {
		return rc;
	}
	switch (m->for_type) {
	case WIRE_PING:
	case WIRE_REGISTER:
	case WIRE_CIRCLE_CREATE:
	case WIRE_UNLISTEN:
	case WIRE_ACK:
	case WIRE_MAILBOX_PUT:
		return HALQA_OK;
	case WIRE_HELLO:
		return dec_hello_ok(r, &m->u.hello);
	case WIRE_SEND:
		if ((rc = bytes_get_u64(r, &m->u.send.seq)) != HALQA_OK) {
			return rc;
		}
		if (m->u.send.seq < 1) {
			return HALQA_ERR_MALFORMED;
		}
		return get_bool(r, &m->u.send.duplicate);
	case WIRE_LISTEN:
		if ((rc = bytes_get_u64(r, &m->u.listen.epoch)) != HALQA_OK) {
			return rc;
		}
		return bytes_get_u64(r, &m->u.listen.last_seq);
	case WIRE_FETCH:
		return dec_fetch_ok(r, &m->u.fetch);
	case WIRE_MAILBOX_FETCH:
		return dec_mailbox_fetch_ok(r, &m->u.mailbox_fetch);
	case WIRE_MAILBOX_DELETE:
		return get_count(r, &m->u.mailbox_delete.deleted, 0, WIRE_MAX_DELETE_IDS);
	case WIRE_KP_PUBLISH:
		return bytes_get_u32(r, &m->u.kp_publish.one_time);
	case WIRE_KP_CLAIM:
		if ((rc = get_bool(r, &m->u.kp_claim.last_resort)) != HALQA_OK) {
			return rc;
		}
		return get_blob(r, &m->u.kp_claim.package, 1, WIRE_MAX_KP_LEN);
	case WIRE_KP_COUNT:
		if ((rc = bytes_get_u32(r, &m->u.kp_count.one_time)) != HALQA_OK) {
			return rc;
		}
		return get_bool(r, &m->u.kp_count.has_last_resort);
	default:
		/* An OK can only answer a request this version defines. */
		return HALQA_ERR_MALFORMED;
	}
}

static int enc_ok(struct bytes_writer *w, const struct wire_ok *m)
{
	int rc;

	bytes_put_u8(w, m->for_type);
	switch (m->for_type) {
	case WIRE_PING:
	case WIRE_REGISTER:
	case WIRE_CIRCLE_CREATE:
	case WIRE_UNLISTEN:
	case WIRE_ACK:
	case WIRE_MAILBOX_PUT:
		return bytes_writer_error(w);
	case WIRE_HELLO:
		return enc_hello_ok(w, &m->u.hello);
	case WIRE_SEND:
		if (m->u.send.seq < 1) {
			return HALQA_ERR_INVALID;
		}
		bytes_put_u64(w, m->u.send.seq);
		return put_bool(w, m->u.send.duplicate);
	case WIRE_LISTEN:
		bytes_put_u64(w, m->u.listen.epoch);
		return bytes_put_u64(w, m->u.listen.last_seq);
	case WIRE_FETCH:
		return enc_fetch_ok(w, &m->u.fetch);
	case WIRE_MAILBOX_FETCH:
		return enc_mailbox_fetch_ok(w, &m->u.mailbox_fetch);
	case WIRE_MAILBOX_DELETE:
		return put_count(w, m->u.mailbox_delete.deleted, 0, WIRE_MAX_DELETE_IDS);
	case WIRE_KP_PUBLISH:
		return bytes_put_u32(w, m->u.kp_publish.one_time);
	case WIRE_KP_CLAIM:
		if ((rc = put_bool(w, m->u.kp_claim.last_resort)) != HALQA_OK) {
			return rc;
		}
		return put_blob(w, &m->u.kp_claim.package, 1, WIRE_MAX_KP_LEN);
	case WIRE_KP_COUNT:
		bytes_put_u32(w, m->u.kp_count.one_time);
		return put_bool(w, m->u.kp_count.has_last_resort);
	default:
		return HALQA_ERR_INVALID;
	}
}

/* ---- ERR and DELIVER ---- */

static int dec_err(struct bytes_reader *r, struct wire_err *m)
{
	int rc;

	if ((rc = bytes_get_u16(r, &m->code)) != HALQA_OK) {
		return rc;
	}
	if (m->code == 0) {
		return HALQA_ERR_MALFORMED;
	}
	return get_text(r, m->reason, WIRE_MAX_REASON, 0x20);
}

static int enc_err(struct bytes_writer *w, const struct wire_err *m)
{
	if (m->code == 0) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u16(w, m->code);
	return put_text(w, m->reason, WIRE_MAX_REASON, 0x20);
}

static int dec_deliver(struct bytes_reader *r, struct wire_deliver *m)
{
	int rc;

	if ((rc = bytes_get_copy(r, m->circle_id, WIRE_ID_LEN)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->seq)) != HALQA_OK ||
	    (rc = bytes_get_u64(r, &m->epoch)) != HALQA_OK ||
	    (rc = get_kind(r, &m->kind)) != HALQA_OK ||
	    (rc = bytes_get_u8(r, &m->flags)) != HALQA_OK) {
		return rc;
	}
	/* Only a commit can close an epoch; unknown flag bits are refused. */
	if (m->seq < 1 || (m->flags & ~WIRE_DELIVER_EPOCH_CLOSED) != 0 ||
	    ((m->flags & WIRE_DELIVER_EPOCH_CLOSED) && m->kind != WIRE_KIND_COMMIT)) {
		return HALQA_ERR_MALFORMED;
	}
	return get_blob(r, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

static int enc_deliver(struct bytes_writer *w, const struct wire_deliver *m)
{
	if (m->seq < 1 || (m->flags & ~WIRE_DELIVER_EPOCH_CLOSED) != 0 ||
	    ((m->flags & WIRE_DELIVER_EPOCH_CLOSED) && m->kind != WIRE_KIND_COMMIT)) {
		return HALQA_ERR_INVALID;
	}
	bytes_put(w, m->circle_id, WIRE_ID_LEN);
	bytes_put_u64(w, m->seq);
	bytes_put_u64(w, m->epoch);
	if (put_kind(w, m->kind) != HALQA_OK) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u8(w, m->flags);
	return put_blob(w, &m->payload, 1, WIRE_MAX_PAYLOAD);
}

/* ---- frames ---- */

int wire_is_request(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:
	case WIRE_PING:
	case WIRE_REGISTER:
	case WIRE_CIRCLE_CREATE:
	case WIRE_SEND:
	case WIRE_LISTEN:
	case WIRE_UNLISTEN:
	case WIRE_FETCH:
	case WIRE_ACK:
	case WIRE_MAILBOX_PUT:
	case WIRE_MAILBOX_FETCH:
	case WIRE_MAILBOX_DELETE:
	case WIRE_KP_PUBLISH:
	case WIRE_KP_CLAIM:
	case WIRE_KP_COUNT:
		return 1;
	default:
		return 0;
	}
}

static int type_known(uint8_t type)
{
	return wire_is_request(type) || type == WIRE_OK || type == WIRE_ERR ||
	       type == WIRE_DELIVER;
}

/*
 * request_id_valid: requests need a non-zero id so 0 can mean "push"; an
 * OK answers a request; an ERR may carry 0 when the request's header could
 * not be read; a DELIVER is a push.
 */
static int request_id_valid(uint8_t type, uint32_t id)
{
	if (type == WIRE_DELIVER) {
		return id == 0;
	}
	if (type == WIRE_ERR) {
		return 1;
	}
	return id != 0;
}

void wire_msg_init(struct wire_msg *m, uint8_t type, uint32_t request_id)
{
	memset(m, 0, sizeof *m);
	m->version = WIRE_VERSION_MAX;
	m->type = type;
	m->request_id = request_id;
}

void wire_msg_cleanup(struct wire_msg *m)
{
	/* Wipe whatever member of the union may hold a capability or invite. */
	switch (m->type) {
	case WIRE_REGISTER:
		sodium_memzero(&m->u.reg, sizeof m->u.reg);
		break;
	case WIRE_SEND:
		sodium_memzero(&m->u.send, sizeof m->u.send);
		break;
	case WIRE_LISTEN:
		sodium_memzero(&m->u.listen, sizeof m->u.listen);
		break;
	case WIRE_FETCH:
		sodium_memzero(&m->u.fetch, sizeof m->u.fetch);
		break;
	case WIRE_ACK:
		sodium_memzero(&m->u.ack, sizeof m->u.ack);
		break;
	default:
		/* The other types carry no secret. */
		break;
	}
	m->version = 0;
	m->type = 0;
	m->request_id = 0;
}

int wire_peek_header(const uint8_t *buf, size_t len, struct wire_header *out)
{
	struct bytes_reader r;
	uint8_t magic0, magic1;
	int rc;

	memset(out, 0, sizeof *out);
	bytes_reader_init(&r, buf, len);
	if ((rc = bytes_get_u8(&r, &magic0)) != HALQA_OK ||
	    (rc = bytes_get_u8(&r, &magic1)) != HALQA_OK ||
	    (rc = bytes_get_u8(&r, &out->version)) != HALQA_OK ||
	    (rc = bytes_get_u8(&r, &out->type)) != HALQA_OK ||
	    (rc = bytes_get_u32(&r, &out->request_id)) != HALQA_OK) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	if (magic0 != WIRE_MAGIC0 || magic1 != WIRE_MAGIC1) {
		memset(out, 0, sizeof *out);
		return HALQA_ERR_MALFORMED;
	}
	return HALQA_OK;
}

static int decode_body(struct bytes_reader *r, struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO:
		return dec_hello(r, &m->u.hello);
	case WIRE_PING:
		return HALQA_OK;
	case WIRE_REGISTER:
		return dec_register(r, &m->u.reg);
	case WIRE_CIRCLE_CREATE:
		return dec_circle_create(r, &m->u.circle_create);
	case WIRE_SEND:
		return dec_send(r, &m->u.send);
	case WIRE_LISTEN:
		return dec_listen(r, &m->u.listen);
	case WIRE_UNLISTEN:
		return bytes_get_copy(r, m->u.unlisten.circle_id, WIRE_ID_LEN);
	case WIRE_FETCH:
		return dec_fetch(r, &m->u.fetch);
	case WIRE_ACK:
		return dec_ack(r, &m->u.ack);
	case WIRE_MAILBOX_PUT:
		return dec_mailbox_put(r, &m->u.mailbox_put);
	case WIRE_MAILBOX_FETCH:
		return dec_mailbox_fetch(r, &m->u.mailbox_fetch);
	case WIRE_MAILBOX_DELETE:
		return dec_mailbox_delete(r, &m->u.mailbox_delete);
	case WIRE_KP_PUBLISH:
		return dec_kp_publish(r, &m->u.kp_publish);
	case WIRE_KP_CLAIM:
	case WIRE_KP_COUNT:
		return dec_kp_dir(r, &m->u.kp_dir);
	case WIRE_OK:
		return dec_ok(r, &m->u.ok);
	case WIRE_ERR:
		return dec_err(r, &m->u.err);
	case WIRE_DELIVER:
		return dec_deliver(r, &m->u.deliver);
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

static int encode_body(struct bytes_writer *w, const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_HELLO:
		return enc_hello(w, &m->u.hello);
	case WIRE_PING:
		return bytes_writer_error(w);
	case WIRE_REGISTER:
		return enc_register(w, &m->u.reg);
	case WIRE_CIRCLE_CREATE:
		return enc_circle_create(w, &m->u.circle_create);
	case WIRE_SEND:
		return enc_send(w, &m->u.send);
	case WIRE_LISTEN:
		return enc_listen(w, &m->u.listen);
	case WIRE_UNLISTEN:
		return bytes_put(w, m->u.unlisten.circle_id, WIRE_ID_LEN);
	case WIRE_FETCH:
		return enc_fetch(w, &m->u.fetch);
	case WIRE_ACK:
		return enc_ack(w, &m->u.ack);
	case WIRE_MAILBOX_PUT:
		return enc_mailbox_put(w, &m->u.mailbox_put);
	case WIRE_MAILBOX_FETCH:
		return enc_mailbox_fetch(w, &m->u.mailbox_fetch);
	case WIRE_MAILBOX_DELETE:
		return enc_mailbox_delete(w, &m->u.mailbox_delete);
	case WIRE_KP_PUBLISH:
		return enc_kp_publish(w, &m->u.kp_publish);
	case WIRE_KP_CLAIM:
	case WIRE_KP_COUNT:
		return enc_kp_dir(w, &m->u.kp_dir);
	case WIRE_OK:
		return enc_ok(w, &m->u.ok);
	case WIRE_ERR:
		return enc_err(w, &m->u.err);
	case WIRE_DELIVER:
		return enc_deliver(w, &m->u.deliver);
	default:
		return HALQA_ERR_UNSUPPORTED;
	}
}

int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *out)
{
	struct wire_header h;
	struct bytes_reader r;
	int rc;

	memset(out, 0, sizeof *out);
	if (len > WIRE_MAX_FRAME) {
		return HALQA_ERR_TOO_LARGE;
	}
	if ((rc = wire_peek_header(buf, len, &h)) != HALQA_OK) {
		return rc;
	}
	if (h.version < WIRE_VERSION_MIN || h.version > WIRE_VERSION_MAX || !type_known(h.type)) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (!request_id_valid(h.type, h.request_id)) {
		return HALQA_ERR_MALFORMED;
	}
	out->version = h.version;
	out->type = h.type;
	out->request_id = h.request_id;
	bytes_reader_init(&r, buf, len);
	if ((rc = bytes_skip(&r, WIRE_HEADER_LEN)) != HALQA_OK ||
	    (rc = decode_body(&r, out)) != HALQA_OK || (rc = bytes_expect_end(&r)) != HALQA_OK) {
		goto out;
	}
out:
	if (rc != HALQA_OK) {
		wire_msg_cleanup(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

int wire_encode(struct bytes_writer *w, const struct wire_msg *m)
{
	size_t start = bytes_writer_len(w);
	int rc;

	if (m->version < WIRE_VERSION_MIN || m->version > WIRE_VERSION_MAX ||
	    !type_known(m->type)) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (!request_id_valid(m->type, m->request_id)) {
		return HALQA_ERR_INVALID;
	}
	bytes_put_u8(w, WIRE_MAGIC0);
	bytes_put_u8(w, WIRE_MAGIC1);
	bytes_put_u8(w, m->version);
	bytes_put_u8(w, m->type);
	bytes_put_u32(w, m->request_id);
	if ((rc = encode_body(w, m)) != HALQA_OK) {
		return rc;
	}
	if ((rc = bytes_writer_error(w)) != HALQA_OK) {
		return rc;
	}
	if (bytes_writer_len(w) - start > WIRE_MAX_FRAME) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

void wire_set_err(struct wire_msg *m, uint32_t request_id, uint16_t code, const char *reason)
{
	size_t i;

	wire_msg_init(m, WIRE_ERR, request_id);
	m->u.err.code = code != 0 ? code : WIRE_ERR_INTERNAL;
	for (i = 0; reason != NULL && reason[i] != '\0' && i < WIRE_MAX_REASON; i++) {
		uint8_t c = (uint8_t)reason[i];

		m->u.err.reason[i] = printable(c, 0x20) ? (char)c : '?';
	}
	m->u.err.reason[i] = '\0';
}

void wire_reject(const uint8_t *buf, size_t len, int decode_rc, struct wire_msg *reply)
{
	struct wire_header h;
	uint16_t code = WIRE_ERR_BAD_REQUEST;
	uint32_t id = 0;

	/* Read the header even of an oversize frame, to echo its id. */
	if (wire_peek_header(buf, len, &h) == HALQA_OK) {
		id = h.request_id;
		if (h.version < WIRE_VERSION_MIN || h.version > WIRE_VERSION_MAX) {
			code = WIRE_ERR_UNSUPPORTED_VERSION;
		} else if (!wire_is_request(h.type)) {
			code = WIRE_ERR_UNKNOWN_TYPE;
		} else if (decode_rc == HALQA_ERR_TOO_LARGE) {
			code = WIRE_ERR_TOO_LARGE;
		}
	} else if (decode_rc == HALQA_ERR_TOO_LARGE) {
		code = WIRE_ERR_TOO_LARGE;
	}
	wire_set_err(reply, id, code, wire_err_name(code));
	reply->version = WIRE_VERSION_MIN;
}

const char *wire_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:
		return "HELLO";
	case WIRE_PING:
		return "PING";
	case WIRE_REGISTER:
		return "REGISTER";
	case WIRE_CIRCLE_CREATE:
		return "CIRCLE_CREATE";
	case WIRE_SEND:
		return "SEND";
	case WIRE_LISTEN:
		return "LISTEN";
	case WIRE_UNLISTEN:
		return "UNLISTEN";
	case WIRE_FETCH:
		return "FETCH";
	case WIRE_ACK:
		return "ACK";
	case WIRE_MAILBOX_PUT:
		return "MAILBOX_PUT";
	case WIRE_MAILBOX_FETCH:
		return "MAILBOX_FETCH";
	case WIRE_MAILBOX_DELETE:
		return "MAILBOX_DELETE";
	case WIRE_KP_PUBLISH:
		return "KP_PUBLISH";
	case WIRE_KP_CLAIM:
		return "KP_CLAIM";
	case WIRE_KP_COUNT:
		return "KP_COUNT";
	case WIRE_OK:
		return "OK";
	case WIRE_ERR:
		return "ERR";
	case WIRE_DELIVER:
		return "DELIVER";
	default:
		return "unknown";
	}
}

static const struct {
	uint16_t code;
	const char *name;
	int halqa;
} err_table[] = {
	{WIRE_ERR_BAD_REQUEST, "bad-request", HALQA_ERR_MALFORMED},
	{WIRE_ERR_UNSUPPORTED_VERSION, "unsupported-version", HALQA_ERR_UNSUPPORTED},
	{WIRE_ERR_UNKNOWN_TYPE, "unknown-type", HALQA_ERR_UNSUPPORTED},
	{WIRE_ERR_TOO_LARGE, "too-large", HALQA_ERR_TOO_LARGE},
	{WIRE_ERR_NOT_REGISTERED, "not-registered", HALQA_ERR_DENIED},
	{WIRE_ERR_INVITE_INVALID, "invite-invalid", HALQA_ERR_DENIED},
	{WIRE_ERR_DENIED, "denied", HALQA_ERR_DENIED},
	{WIRE_ERR_STALE_EPOCH, "stale-epoch", HALQA_ERR_STALE},
	{WIRE_ERR_NOT_FOUND, "not-found", HALQA_ERR_NOT_FOUND},
	{WIRE_ERR_EXISTS, "exists", HALQA_ERR_EXISTS},
	{WIRE_ERR_RATE_LIMITED, "rate-limited", HALQA_ERR_LIMIT},
	{WIRE_ERR_QUOTA_EXCEEDED, "quota-exceeded", HALQA_ERR_LIMIT},
	{WIRE_ERR_INTERNAL, "internal", HALQA_ERR_NETWORK},
	{WIRE_ERR_BUSY, "busy", HALQA_ERR_LIMIT},
	{WIRE_ERR_ALREADY_REGISTERED, "already-registered", HALQA_ERR_EXISTS},
};

const char *wire_err_name(uint16_t code)
{
	size_t i;

	for (i = 0; i < sizeof err_table / sizeof err_table[0]; i++) {
		if (err_table[i].code == code) {
			return err_table[i].name;
		}
	}
	return "unknown";
}

int wire_err_to_halqa(uint16_t code)
{
	size_t i;

	for (i = 0; i < sizeof err_table / sizeof err_table[0]; i++) {
		if (err_table[i].code == code) {
			return err_table[i].halqa;
		}
	}
	return HALQA_ERR_NETWORK;
}

int wire_cap_hash(uint8_t out[WIRE_CAP_LEN], const uint8_t cap[WIRE_CAP_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)CAP_HASH_LABEL,
				  sizeof CAP_HASH_LABEL - 1);
	crypto_hash_sha256_update(&st, cap, WIRE_CAP_LEN);
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
	return HALQA_OK;
}
