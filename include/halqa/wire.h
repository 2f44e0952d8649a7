/*
 * wire.h: the client-relay wire format, version 1.
 *
 * One ZeroMQ frame carries one message: a client's DEALER sends requests to
 * the relay's ROUTER (which adds the routing id), the relay answers each
 * request with exactly one OK or ERR carrying the same request id, and pushes
 * DELIVER messages (request id 0) to connections that LISTEN to a circle.
 * docs/PROTOCOL.md describes every byte; this header is the C view of it.
 *
 * Every frame starts with the same 8-byte header in every version:
 *
 *     magic "HQ" (0x48 0x51) | version u8 | type u8 | request id u32
 *
 * followed by the type's body. Integers are big-endian; ids are fixed 16
 * bytes, capabilities and hashes 32 bytes; opaque blobs (MLS messages,
 * KeyPackages, Welcomes) have a u32 length prefix with our own bounds.
 * Booleans are one byte, 0 or 1. Trailing bytes are refused.
 *
 * Decoding borrows: the blobs of a decoded struct wire_msg (payloads,
 * packages) point into the buffer given to wire_decode and are valid only
 * while that buffer lives and is unchanged. Nothing is allocated, so the
 * relay's hot path decodes a frame without copying its payload. Everything
 * else (ids, capabilities, integers, the invite code and the error reason)
 * is copied into the struct. Arrays (fetched messages, mailbox items,
 * KeyPackages, item ids) have fixed capacities inside the struct, so
 * sizeof(struct wire_msg) is about 9 KiB: keep one per connection or per
 * call, not many on a stack.
 *
 * A decoded request holds capabilities and maybe an invite code, which are
 * secrets: call wire_msg_cleanup when done with it (it wipes them).
 *
 * The encoder checks every bound the decoder checks, so we never send a
 * frame a peer following this header would refuse.
 */
#ifndef HALQA_WIRE_H
#define HALQA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/bytes.h"
#include "halqa/err.h"

/* Versions this code speaks. A relay answers HELLO with the highest common one. */
#define WIRE_VERSION_MIN 1
#define WIRE_VERSION_MAX 1

#define WIRE_MAGIC0 0x48 /* 'H' */
#define WIRE_MAGIC1 0x51 /* 'Q' */
#define WIRE_HEADER_LEN 8

#define WIRE_ID_LEN 16  /* circle, mailbox, directory, cursor, client message ids */
#define WIRE_CAP_LEN 32 /* a capability, and SHA-256 cap hashes */

/* Protocol bounds, checked by both encoder and decoder. */
#define WIRE_MAX_FRAME (2u * 1024 * 1024)   /* whole frame, header included */
#define WIRE_MAX_PAYLOAD (256u * 1024)      /* one MLS message or mailbox item */
#define WIRE_MAX_KP_LEN (16u * 1024)        /* one KeyPackage */
#define WIRE_MAX_FETCH_COUNT 256            /* messages per FETCH reply */
#define WIRE_MAX_MAILBOX_FETCH 64           /* items per MAILBOX_FETCH reply */
#define WIRE_MAX_DELETE_IDS 64              /* item ids per MAILBOX_DELETE */
#define WIRE_MAX_KP_BATCH 64                /* one-time KeyPackages per KP_PUBLISH */
#define WIRE_MAX_INVITE 64                  /* invite code, printable ASCII */
#define WIRE_MAX_REASON 128                 /* ERR reason, printable ASCII */

/*
 * Size budgeting for the relay: a FETCH reply is WIRE_FETCH_OK_OVERHEAD
 * bytes plus WIRE_FETCH_ITEM_OVERHEAD + payload length per message; a
 * MAILBOX_FETCH reply likewise. A reply must fit in the peer's max frame.
 */
#define WIRE_FETCH_OK_OVERHEAD (WIRE_HEADER_LEN + 1 + 8 + 1 + 8 + 8 + 2)
#define WIRE_FETCH_ITEM_OVERHEAD (8 + 1 + 4)
#define WIRE_MAILBOX_OK_OVERHEAD (WIRE_HEADER_LEN + 1 + 2)
#define WIRE_MAILBOX_ITEM_OVERHEAD (8 + 4)

/* Message types (the header's type byte). 0x01..0x7f requests, 0x80.. relay to client. */
enum wire_type {
	WIRE_HELLO = 0x01,
	WIRE_PING = 0x02,
	WIRE_REGISTER = 0x03,
	WIRE_CIRCLE_CREATE = 0x10,
	WIRE_SEND = 0x11,
	WIRE_LISTEN = 0x12,
	WIRE_UNLISTEN = 0x13,
	WIRE_FETCH = 0x14,
	WIRE_ACK = 0x15,
	WIRE_MAILBOX_PUT = 0x20,
	WIRE_MAILBOX_FETCH = 0x21,
	WIRE_MAILBOX_DELETE = 0x22,
	WIRE_KP_PUBLISH = 0x30,
	WIRE_KP_CLAIM = 0x31,
	WIRE_KP_COUNT = 0x32,
	WIRE_OK = 0x80,
	WIRE_ERR = 0x81,
	WIRE_DELIVER = 0x82,
};

/* Kinds of circle message (SEND, FETCH items, DELIVER). */
enum wire_kind {
	WIRE_KIND_COMMIT = 1,
	WIRE_KIND_PROPOSAL = 2,
	WIRE_KIND_APPLICATION = 3,
};

/* DELIVER flags. */
#define WIRE_DELIVER_EPOCH_CLOSED 0x01u /* this commit closed its epoch; listeners were dropped */

/*
 * Error codes carried by ERR (u16). The names (wire_err_name) are what
 * docs/PROTOCOL.md and logs use. Decoders accept any non-zero code so a
 * newer relay may add some; an unknown code means "request failed".
 */
enum wire_errcode {
	WIRE_ERR_BAD_REQUEST = 1,         /* malformed frame or field out of bounds */
	WIRE_ERR_UNSUPPORTED_VERSION = 2, /* header version (or HELLO range) not spoken */
	WIRE_ERR_UNKNOWN_TYPE = 3,        /* type byte not known in this version */
	WIRE_ERR_TOO_LARGE = 4,           /* frame larger than the relay's max frame */
	WIRE_ERR_NOT_REGISTERED = 5,      /* guest key: only HELLO, REGISTER, PING allowed */
	WIRE_ERR_INVITE_INVALID = 6,      /* invite unknown, used up or expired */
	WIRE_ERR_DENIED = 7,              /* wrong capability, or not the owner */
	WIRE_ERR_STALE_EPOCH = 8,         /* epoch is not the circle's current one */
	WIRE_ERR_NOT_FOUND = 9,           /* no such circle, mailbox, directory, package */
	WIRE_ERR_EXISTS = 10,             /* circle id already taken */
	WIRE_ERR_RATE_LIMITED = 11,       /* too many requests or claims; retry later */
	WIRE_ERR_QUOTA_EXCEEDED = 12,     /* circles, bytes per day, mailbox full */
	WIRE_ERR_INTERNAL = 13,           /* relay failure (storage); retry later */
	WIRE_ERR_BUSY = 14,               /* relay overloaded or shutting down; retry later */
	WIRE_ERR_ALREADY_REGISTERED = 15, /* REGISTER from a registered key */
};
#define WIRE_ERR_CODE_MAX 15

/* A borrowed run of bytes (see "Decoding borrows" above). */
struct wire_blob {
	const uint8_t *data;
	size_t len;
};

/* ---- requests ---- */

struct wire_hello {
	uint8_t min_version; /* 1 <= min <= max */
	uint8_t max_version;
};

struct wire_register {
	char invite[WIRE_MAX_INVITE + 1]; /* NUL-terminated, printable ASCII 0x21..0x7e; "" = none */
};

struct wire_circle_create {
	uint8_t circle_id[WIRE_ID_LEN];
	uint8_t cap_hash[WIRE_CAP_LEN]; /* wire_cap_hash of epoch 0's capability */
	uint32_t max_age;               /* seconds; 0 = the relay's default */
};

struct wire_send {
	uint8_t circle_id[WIRE_ID_LEN];
	uint64_t epoch;
	uint8_t kind; /* enum wire_kind */
	uint8_t cap[WIRE_CAP_LEN];
	uint8_t next_cap_hash[WIRE_CAP_LEN]; /* on the wire for commits only; else zero */
	uint8_t client_msg_id[WIRE_ID_LEN];
	struct wire_blob payload; /* 1..WIRE_MAX_PAYLOAD */
};

struct wire_listen {
	uint8_t circle_id[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN];
};

struct wire_unlisten {
	uint8_t circle_id[WIRE_ID_LEN];
};

struct wire_fetch {
	uint8_t circle_id[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN];
	uint64_t from_seq;
	uint16_t max_count; /* 1..WIRE_MAX_FETCH_COUNT */
};

struct wire_ack {
	uint8_t circle_id[WIRE_ID_LEN];
	uint8_t cursor_id[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN]; /* of the epoch containing seq */
	uint64_t seq;              /* may be first_seq - 1 of cap's epoch (0 in epoch 0) */
};

struct wire_mailbox_put {
	uint8_t mailbox_id[WIRE_ID_LEN];
	struct wire_blob payload; /* 1..WIRE_MAX_PAYLOAD */
};

struct wire_mailbox_fetch {
	uint8_t mailbox_id[WIRE_ID_LEN];
	uint16_t max_count; /* 1..WIRE_MAX_MAILBOX_FETCH */
};

struct wire_mailbox_delete {
	uint8_t mailbox_id[WIRE_ID_LEN];
	uint16_t num_ids; /* 1..WIRE_MAX_DELETE_IDS */
	uint64_t ids[WIRE_MAX_DELETE_IDS];
};

struct wire_kp_publish {
	uint8_t dir_id[WIRE_ID_LEN];
	uint16_t num_packages; /* 0..WIRE_MAX_KP_BATCH; with the last resort, at least one */
	struct wire_blob packages[WIRE_MAX_KP_BATCH]; /* each 1..WIRE_MAX_KP_LEN */
	uint8_t has_last_resort;                      /* 0 or 1 */
	struct wire_blob last_resort;                 /* when has_last_resort */
};

/* KP_CLAIM and KP_COUNT name only the directory. */
struct wire_kp_dir {
	uint8_t dir_id[WIRE_ID_LEN];
};

/* ---- replies and pushes ---- */

struct wire_hello_ok {
	uint8_t version;            /* chosen, within the request's range */
	uint8_t registered;         /* 1 if this key is a registered device */
	uint32_t max_frame;         /* <= WIRE_MAX_FRAME */
	uint32_t max_payload;       /* <= WIRE_MAX_PAYLOAD */
	uint16_t max_fetch_count;   /* <= WIRE_MAX_FETCH_COUNT */
	uint16_t max_mailbox_fetch; /* <= WIRE_MAX_MAILBOX_FETCH */
	uint16_t max_kp_batch;      /* <= WIRE_MAX_KP_BATCH */
	uint16_t max_delete_ids;    /* <= WIRE_MAX_DELETE_IDS */
	uint32_t requests_per_sec;  /* per device; 0 = unlimited */
	uint32_t kp_claims_per_min; /* per claiming device; 0 = unlimited */
	uint32_t max_circles;       /* circles a device may create; 0 = unlimited */
	uint64_t bytes_per_day;     /* stored bytes a device may add per day; 0 = unlimited */
	uint32_t default_max_age;   /* seconds a circle message is kept at most by default */
};

struct wire_send_ok {
	uint64_t seq;      /* the message's sequence number (the original one on a retry) */
	uint8_t duplicate; /* 1 if client_msg_id was already stored */
};

struct wire_listen_ok {
	uint64_t epoch;    /* the circle's current epoch */
	uint64_t last_seq; /* the circle's last sequence number so far; 0 if none */
};

struct wire_fetch_item {
	uint64_t seq;
	uint8_t kind;
	struct wire_blob payload; /* 1..WIRE_MAX_PAYLOAD */
};

struct wire_fetch_ok {
	uint64_t epoch;     /* the epoch whose capability was presented */
	uint8_t closed;     /* 1 if a commit closed that epoch */
	uint64_t first_seq; /* first sequence number that belongs to the epoch */
	uint64_t last_seq;  /* last one so far (final when closed); first_seq - 1 if empty */
	uint16_t num_msgs;  /* 0..WIRE_MAX_FETCH_COUNT, ascending seq */
	struct wire_fetch_item msgs[WIRE_MAX_FETCH_COUNT];
};

struct wire_mailbox_item {
	uint64_t id;              /* relay-assigned, for MAILBOX_DELETE */
	struct wire_blob payload; /* 1..WIRE_MAX_PAYLOAD */
};

struct wire_mailbox_fetch_ok {
	uint16_t num_items; /* 0..WIRE_MAX_MAILBOX_FETCH */
	struct wire_mailbox_item items[WIRE_MAX_MAILBOX_FETCH];
};

struct wire_mailbox_delete_ok {
	uint16_t deleted; /* how many of the ids existed and were removed */
};

struct wire_kp_publish_ok {
	uint32_t one_time; /* one-time packages now stored in the directory */
};

struct wire_kp_claim_ok {
	uint8_t last_resort;      /* 1 if this is the (kept) last-resort package */
	struct wire_blob package; /* 1..WIRE_MAX_KP_LEN */
};

struct wire_kp_count_ok {
	uint32_t one_time;
	uint8_t has_last_resort;
};

/*
 * OK names the request type it answers (for_type), so an OK decodes without
 * knowing the request. Types with no result (PING, REGISTER, CIRCLE_CREATE,
 * UNLISTEN, ACK, MAILBOX_PUT) have an empty body.
 */
struct wire_ok {
	uint8_t for_type; /* a request type */
	union {
		struct wire_hello_ok hello;
		struct wire_send_ok send;
		struct wire_listen_ok listen;
		struct wire_fetch_ok fetch;
		struct wire_mailbox_fetch_ok mailbox_fetch;
		struct wire_mailbox_delete_ok mailbox_delete;
		struct wire_kp_publish_ok kp_publish;
		struct wire_kp_claim_ok kp_claim;
		struct wire_kp_count_ok kp_count;
	} u;
};

struct wire_err {
	uint16_t code;                     /* enum wire_errcode, non-zero */
	char reason[WIRE_MAX_REASON + 1]; /* NUL-terminated, printable ASCII 0x20..0x7e */
};

struct wire_deliver {
	uint8_t circle_id[WIRE_ID_LEN];
	uint64_t seq;
	uint64_t epoch;
	uint8_t kind;
	uint8_t flags;            /* WIRE_DELIVER_*; unknown bits refused */
	struct wire_blob payload; /* 1..WIRE_MAX_PAYLOAD */
};

struct wire_msg {
	uint8_t version;     /* header version; WIRE_VERSION_MAX unless negotiated lower */
	uint8_t type;        /* enum wire_type */
	uint32_t request_id; /* non-zero in requests, echoed in OK/ERR, 0 in DELIVER */
	union {
		struct wire_hello hello;
		struct wire_register reg;
		struct wire_circle_create circle_create;
		struct wire_send send;
		struct wire_listen listen;
		struct wire_unlisten unlisten;
		struct wire_fetch fetch;
		struct wire_ack ack;
		struct wire_mailbox_put mailbox_put;
		struct wire_mailbox_fetch mailbox_fetch;
		struct wire_mailbox_delete mailbox_delete;
		struct wire_kp_publish kp_publish;
		struct wire_kp_dir kp_dir; /* KP_CLAIM, KP_COUNT */
		struct wire_ok ok;
		struct wire_err err;
		struct wire_deliver deliver;
	} u;
};

/* The fixed header, as wire_peek_header finds it. */
struct wire_header {
	uint8_t version;
	uint8_t type;
	uint32_t request_id;
};

/*
 * wire_msg_init zeroes |m| and sets its header to (WIRE_VERSION_MAX, |type|,
 * |request_id|). It cannot fail.
 */
void wire_msg_init(struct wire_msg *m, uint8_t type, uint32_t request_id);

/*
 * wire_msg_cleanup wipes the secrets |m| may hold (capabilities, the invite
 * code) and zeroes the header. Blobs are borrowed, so nothing is freed.
 * Safe on any struct wire_msg, initialised or decoded or not.
 */
void wire_msg_cleanup(struct wire_msg *m);

/*
 * wire_encode appends the encoding of |m| to |w| (initialise |w| with a
 * maximum of at least the peer's max frame; WIRE_MAX_FRAME is always
 * enough). It returns HALQA_ERR_UNSUPPORTED for an unknown type or a version
 * outside WIRE_VERSION_MIN..MAX, HALQA_ERR_INVALID for a field value the
 * protocol forbids (bad kind, request id 0 in a request, empty payload,
 * non-printable reason...), HALQA_ERR_TOO_LARGE for a field or the frame
 * over its bound, or the writer's sticky error. On failure the writer's
 * contents are unspecified: discard them.
 */
HALQA_MUST_CHECK int wire_encode(struct bytes_writer *w, const struct wire_msg *m);

/*
 * wire_decode parses the single frame |buf| of |len| bytes into |*out|.
 * Blobs in |*out| borrow from |buf| (valid while it lives). It returns
 * HALQA_ERR_TOO_LARGE for a frame over WIRE_MAX_FRAME or a field over its
 * bound, HALQA_ERR_TRUNCATED when the frame ends early, HALQA_ERR_MALFORMED
 * for a bad magic, a forbidden value or trailing bytes, and
 * HALQA_ERR_UNSUPPORTED for an unknown version or type. On failure |*out|
 * is wiped and zeroed; use wire_reject to answer the frame.
 */
HALQA_MUST_CHECK int wire_decode(const uint8_t *buf, size_t len, struct wire_msg *out);

/*
 * wire_peek_header reads only the 8-byte header of |buf| into |*out|
 * (version and type are not checked). Returns HALQA_ERR_TRUNCATED if |len|
 * < 8, HALQA_ERR_MALFORMED if the magic is wrong.
 */
HALQA_MUST_CHECK int wire_peek_header(const uint8_t *buf, size_t len, struct wire_header *out);

/*
 * wire_reject fills |*reply| with the ERR that answers a request frame
 * |buf| that wire_decode refused with |decode_rc|: unsupported-version for
 * an unknown version, unknown-type for an unknown type, too-large for an
 * oversize frame or field, else bad-request. The reply echoes the request
 * id when the header was readable (0 otherwise) and is encoded in version
 * WIRE_VERSION_MIN, which every client can read. It cannot fail.
 */
void wire_reject(const uint8_t *buf, size_t len, int decode_rc, struct wire_msg *reply);

/*
 * wire_set_err makes |*m| an ERR reply to |request_id| with |code| and the
 * reason |reason| (NULL for none), truncated to WIRE_MAX_REASON bytes and
 * with every non-printable byte replaced by '?'. It cannot fail.
 */
void wire_set_err(struct wire_msg *m, uint32_t request_id, uint16_t code, const char *reason);

/* wire_is_request says whether |type| is a request type known to version 1. */
int wire_is_request(uint8_t type);

/* wire_type_name returns "SEND", "OK", ...; "unknown" for other values. Never NULL. */
const char *wire_type_name(uint8_t type);

/* wire_err_name returns "bad-request", "stale-epoch", ...; "unknown" otherwise. Never NULL. */
const char *wire_err_name(uint16_t code);

/*
 * wire_err_to_halqa maps an ERR code to the HALQA_ERR_* a client acts on
 * (stale-epoch -> HALQA_ERR_STALE, denied -> HALQA_ERR_DENIED, rate-limited
 * and quota-exceeded -> HALQA_ERR_LIMIT, ...). Unknown codes give
 * HALQA_ERR_NETWORK ("the relay refused; see the code").
 */
int wire_err_to_halqa(uint16_t code);

/*
 * wire_cap_hash sets |out| to SHA-256("halqa cap v1" || cap), the only form
 * of a capability the relay stores. Returns HALQA_OK (libsodium's SHA-256
 * cannot fail); intermediates are wiped.
 */
HALQA_MUST_CHECK int wire_cap_hash(uint8_t out[WIRE_CAP_LEN], const uint8_t cap[WIRE_CAP_LEN]);

#endif
