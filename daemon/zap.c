/*
 * zap.c: the ZAP request/reply exchange of zap.h.
 *
 * A ZAP request is at most seven frames: version "1.0", request id,
 * domain, address, routing id, mechanism, and for CURVE one credential,
 * the client's 32-byte long-term public key. Frames are read one by one
 * into fixed buffers; anything longer than we expect is truncated on
 * receipt (zmq_recv reports the full size, which we check), and extra
 * frames are drained, so libzmq's own inproc peer cannot make us allocate.
 * The answer echoes the request id, which is at most 255 bytes.
 */
#include "halqa/zap.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#define ZAP_FRAMES 7
#define ZAP_FRAME_MAX 256

static int send_frame(void *rep, const void *data, size_t len, int more)
{
	int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);

	return zmq_send(rep, data, len, flags) < 0 ? HALQA_ERR_NETWORK : HALQA_OK;
}

static int reply(void *rep, const uint8_t *req_id, size_t req_id_len, const char *status,
		 const char *text, const char *user_id)
{
	int r;

	if ((r = send_frame(rep, "1.0", 3, 1)) != 0 ||
	    (r = send_frame(rep, req_id, req_id_len, 1)) != 0 ||
	    (r = send_frame(rep, status, strlen(status), 1)) != 0 ||
	    (r = send_frame(rep, text, strlen(text), 1)) != 0 ||
	    (r = send_frame(rep, user_id, strlen(user_id), 1)) != 0 ||
	    (r = send_frame(rep, "", 0, 0)) != 0) {
		return r;
	}
	return HALQA_OK;
}

int zap_serve_one(void *rep, zap_lookup_fn lookup, void *ctx)
{
	uint8_t frames[ZAP_FRAMES][ZAP_FRAME_MAX];
	size_t lens[ZAP_FRAMES] = {0};
	char user_id[6 + 41];
	char z85[41];
	size_t nframes = 0, req_id_len;
	int more = 1, oversize = 0;
	enum zap_verdict v;

	while (more) {
		uint8_t sink[ZAP_FRAME_MAX];
		uint8_t *dst = nframes < ZAP_FRAMES ? frames[nframes] : sink;
		size_t more_len = sizeof more;
		int n = zmq_recv(rep, dst, ZAP_FRAME_MAX, nframes == 0 ? ZMQ_DONTWAIT : 0);

		if (n < 0) {
			if (nframes == 0 && errno == EAGAIN) {
				return HALQA_ERR_NOT_FOUND;
			}
			return HALQA_ERR_NETWORK;
		}
		if ((size_t)n > ZAP_FRAME_MAX) {
			oversize = 1;
			n = ZAP_FRAME_MAX;
		}
		if (nframes < ZAP_FRAMES) {
			lens[nframes] = (size_t)n;
		}
		nframes++;
		if (zmq_getsockopt(rep, ZMQ_RCVMORE, &more, &more_len) != 0) {
			return HALQA_ERR_NETWORK;
		}
	}
	req_id_len = nframes > 1 ? lens[1] : 0;
	if (nframes != ZAP_FRAMES || oversize || lens[0] != 3 || memcmp(frames[0], "1.0", 3) != 0) {
		return reply(rep, frames[1], req_id_len, "500", "bad request", "");
	}
	if (lens[5] != 5 || memcmp(frames[5], "CURVE", 5) != 0 || lens[6] != 32) {
		return reply(rep, frames[1], req_id_len, "400", "curve only", "");
	}
	v = lookup(ctx, frames[6]);
	if (v == ZAP_DENIED) {
		return reply(rep, frames[1], req_id_len, "400", "denied", "");
	}
	if (zmq_z85_encode(z85, frames[6], 32) == NULL) {
		return reply(rep, frames[1], req_id_len, "500", "internal", "");
	}
	memcpy(user_id, v == ZAP_GUEST ? "guest:" : "", v == ZAP_GUEST ? 7 : 1);
	strcat(user_id, z85);
	return reply(rep, frames[1], req_id_len, "200", "OK", user_id);
}

int zap_user_id_parse(const char *user_id, uint8_t key[32], int *registered)
{
	int reg = 1;

	if (user_id == NULL) {
		return HALQA_ERR_MALFORMED;
	}
	if (strncmp(user_id, "guest:", 6) == 0) {
		reg = 0;
		user_id += 6;
	}
	if (strlen(user_id) != 40 || zmq_z85_decode(key, user_id) == NULL) {
		return HALQA_ERR_MALFORMED;
	}
	*registered = reg;
	return HALQA_OK;
}
