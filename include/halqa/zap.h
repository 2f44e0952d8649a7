/*
 * zap.h: the relay's ZeroMQ authentication handler (ZAP, ZeroMQ RFC 27).
 *
 * libzmq asks a REP socket bound at inproc://zeromq.zap.01, in the same
 * context as the relay's ROUTER, about every CURVE handshake; the relay's
 * loop answers through zap_serve_one. The decision comes from the caller's
 * lookup function (the spool's device table plus the in-memory bans):
 *   registered device -> "200", user id = the key in Z85 (40 characters);
 *   unknown device    -> "200", user id = "guest:" + Z85 key; a guest may
 *                        only HELLO, REGISTER and PING (checked by relay.c);
 *   banned device     -> "400": libzmq drops the connection in the handshake.
 * The user id travels with every message of the connection as the "User-Id"
 * metadata property, which zap_user_id_parse turns back into key + flag.
 */
#ifndef HALQA_ZAP_H
#define HALQA_ZAP_H

#include <stdint.h>

#include "halqa/err.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

enum zap_verdict {
	ZAP_REGISTERED = 0,
	ZAP_GUEST = 1,
	ZAP_DENIED = 2,
};

/* zap_lookup_fn decides about the device |key|; it must not block for long. */
typedef enum zap_verdict (*zap_lookup_fn)(void *ctx, const uint8_t key[32]);

/*
 * zap_serve_one receives one ZAP request from the REP socket |rep| without
 * waiting and sends its answer. A request that is not a well-formed CURVE
 * request (wrong version, mechanism, frame count or key length) is refused
 * with "400"/"500" rather than left unanswered, since an unanswered REP
 * socket would stall every later handshake. Returns HALQA_OK when a
 * request was served, HALQA_ERR_NOT_FOUND if none was waiting, and
 * HALQA_ERR_NETWORK if the socket failed.
 */
HALQA_MUST_CHECK int zap_serve_one(void *rep, zap_lookup_fn lookup, void *ctx);

/*
 * zap_user_id_parse reads a user id written by zap_serve_one: |key| gets
 * the device key, |registered| 1 for a registered device, 0 for a guest.
 * HALQA_ERR_MALFORMED for anything else (including NULL).
 */
HALQA_MUST_CHECK int zap_user_id_parse(const char *user_id, uint8_t key[32], int *registered);

#endif
