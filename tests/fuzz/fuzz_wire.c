/*
 * fuzz_wire.c: the wire decoder on arbitrary frames. Whatever decodes must
 * re-encode to exactly the input (the format is canonical, so two byte
 * strings never mean the same message), every borrowed blob must lie inside
 * the input, and whatever is refused must still yield an ERR reply that
 * encodes and decodes (wire_reject is what the relay sends back).
 */
#include "halqa/wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wire_msg msg, again;

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

static void check_blob(const struct wire_blob *b, const uint8_t *data, size_t size)
{
	uintptr_t p = (uintptr_t)b->data, s = (uintptr_t)data;

	if (b->len == 0) {
		return;
	}
	check(p >= s && p - s <= size && b->len <= size - (p - s));
}

static void check_blobs(const struct wire_msg *m, const uint8_t *data, size_t size)
{
	size_t i;

	switch (m->type) {
	case WIRE_SEND:
		check_blob(&m->u.send.payload, data, size);
		break;
	case WIRE_MAILBOX_PUT:
		check_blob(&m->u.mailbox_put.payload, data, size);
		break;
	case WIRE_KP_PUBLISH:
		for (i = 0; i < m->u.kp_publish.num_packages; i++) {
			check_blob(&m->u.kp_publish.packages[i], data, size);
		}
		check_blob(&m->u.kp_publish.last_resort, data, size);
		break;
	case WIRE_DELIVER:
		check_blob(&m->u.deliver.payload, data, size);
		break;
	case WIRE_OK:
		if (m->u.ok.for_type == WIRE_FETCH) {
			for (i = 0; i < m->u.ok.u.fetch.num_msgs; i++) {
				check_blob(&m->u.ok.u.fetch.msgs[i].payload, data, size);
			}
		} else if (m->u.ok.for_type == WIRE_MAILBOX_FETCH) {
			for (i = 0; i < m->u.ok.u.mailbox_fetch.num_items; i++) {
				check_blob(&m->u.ok.u.mailbox_fetch.items[i].payload, data, size);
			}
		} else if (m->u.ok.for_type == WIRE_KP_CLAIM) {
			check_blob(&m->u.ok.u.kp_claim.package, data, size);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	rc = wire_decode(data, size, &msg);
	if (rc == HALQA_OK) {
		check_blobs(&msg, data, size);
		check(wire_encode(&w, &msg) == HALQA_OK);
		check(bytes_writer_len(&w) == size);
		check(memcmp(bytes_writer_data(&w), data, size) == 0);
	} else {
		check(msg.type == 0);
		wire_reject(data, size, rc, &msg);
		check(msg.type == WIRE_ERR);
		check(wire_encode(&w, &msg) == HALQA_OK);
		check(wire_decode(bytes_writer_data(&w), bytes_writer_len(&w), &again) ==
		      HALQA_OK);
		check(again.u.err.code == msg.u.err.code);
		check(again.request_id == msg.request_id);
	}
	wire_msg_cleanup(&msg);
	bytes_writer_cleanup(&w);
	return 0;
}
