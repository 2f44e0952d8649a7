/*
 * fuzz_relay_request.c: the relay's request handler (decoder, checks, spool)
 * under fuzzer input, with no sockets.
 *
 * One relay in offline mode (relay.h: relay_options.output set, a temporary
 * spool file) lives for the whole process. At start a device A registers,
 * creates circle C with capability CAP and listens to it on connection 0, so
 * inputs reach the deep paths: SEND, FETCH, ACK, commits, mailboxes and
 * KeyPackages all find something to act on. The rate limits and the
 * malformed-frame ban are lifted so the fuzzer is not locked out after its
 * first thousand bad frames; those checks have their own tests.
 *
 * An input is a sequence of requests:
 *
 *     sel u8 | len u16 (big-endian) | len bytes of frame (cut at the end)
 *
 * sel bit 0 picks the device (0: registered A, 1: unregistered guest G),
 * bits 1-2 the connection, bit 7 ends the loop turn (commit and output)
 * after this frame. Connection ids have libzmq's own form, 0x00 and a
 * 4-byte counter: the relay lets only such ids LISTEN (a peer-chosen id
 * could be reused by another device), so with any other form the LISTEN
 * and push paths would be refused rather than exercised. Setup checks
 * that they are: A's LISTEN is answered OK and a SEND is pushed to it. The input's last turn is always ended. Every frame the
 * relay sends back must decode with wire_decode: a relay that emits a frame
 * its own clients refuse is a bug, and we abort on it.
 *
 * The seed corpus in corpus/relay_request/ holds valid requests of every
 * type, encoded with wire_encode. To write it again, run the replay binary
 * with HALQA_FUZZ_WRITE_SEEDS=DIR (LLVMFuzzerInitialize writes the seeds
 * there and carries on).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/bytes.h"
#include "halqa/log.h"
#include "halqa/relay.h"
#include "halqa/relay_config.h"
#include "halqa/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key_a[32] = {0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1,
				  0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1,
				  0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1,
				  0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0xa1};
static const uint8_t key_g[32] = {0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
				  0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
				  0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e,
				  0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e, 0x6e};

#define CIRCLE_BYTE 0xc1
#define CAP_BYTE 0xca
#define NEXT_CAP_BYTE 0xcb
#define MAILBOX_BYTE 0x4d
#define DIR_BYTE 0x4b

static struct relay *g_relay;
static char g_dir[64];
static char g_db[128];
static int g_failed_setup;

/* What the relay emitted since the last reset: setup checks its own steps. */
static struct {
	unsigned ok, err, deliver_to_c0;
} g_seen;

/* conn_id fills |id| with connection |k|'s routing id, as libzmq makes them. */
static void conn_id(uint8_t id[5], unsigned k)
{
	id[0] = 0x00;
	id[1] = 0x80;
	id[2] = 0x00;
	id[3] = 0x00;
	id[4] = (uint8_t)(0x41 + k);
}

/* The output callback: every frame the relay emits must be one we can decode. */
static void on_output(void *ctx, const uint8_t *conn, size_t conn_len, const uint8_t *frame,
		      size_t frame_len)
{
	struct wire_msg *m = ctx;
	uint8_t c0[5];

	if (wire_decode(frame, frame_len, m) != HALQA_OK) {
		fprintf(stderr, "fuzz_relay_request: the relay emitted an undecodable frame\n");
		abort();
	}
	conn_id(c0, 0);
	if (m->type == WIRE_OK) {
		g_seen.ok++;
	} else if (m->type == WIRE_ERR) {
		g_seen.err++;
	} else if (m->type == WIRE_DELIVER && conn_len == sizeof c0 &&
		   memcmp(conn, c0, sizeof c0) == 0) {
		g_seen.deliver_to_c0++;
	}
	wire_msg_cleanup(m);
}

static struct wire_msg g_out_scratch;

static void cleanup(void)
{
	char path[160];

	relay_free(g_relay);
	g_relay = NULL;
	unlink(g_db);
	snprintf(path, sizeof path, "%s-wal", g_db);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", g_db);
	unlink(path);
	snprintf(path, sizeof path, "%s-journal", g_db);
	unlink(path);
	rmdir(g_dir);
}

/* encode_into appends |m|'s encoding to |w| as one input record with selector |sel|. */
static int encode_record(struct bytes_writer *w, uint8_t sel, const struct wire_msg *m)
{
	struct bytes_writer f;
	int rc;

	bytes_writer_init(&f, WIRE_MAX_FRAME, 0);
	if ((rc = wire_encode(&f, m)) == HALQA_OK) {
		bytes_put_u8(w, sel);
		bytes_put_u16(w, (uint16_t)bytes_writer_len(&f));
		bytes_put(w, bytes_writer_data(&f), bytes_writer_len(&f));
		rc = bytes_writer_error(w);
	}
	bytes_writer_cleanup(&f);
	return rc;
}

/* run_records feeds an input (the format above) to the relay. */
static void run_records(const uint8_t *data, size_t size)
{
	struct bytes_reader r;
	uint8_t conn[5];

	bytes_reader_init(&r, data, size);
	while (bytes_remaining(&r) > 0) {
		uint8_t sel;
		uint16_t len;
		const uint8_t *frame;
		const uint8_t *key;

		if (bytes_get_u8(&r, &sel) != HALQA_OK) {
			break;
		}
		if (bytes_get_u16(&r, &len) != HALQA_OK) {
			len = 0;
		}
		if (len > bytes_remaining(&r)) {
			len = (uint16_t)bytes_remaining(&r);
		}
		if (bytes_get_span(&r, &frame, len) != HALQA_OK) {
			break;
		}
		key = (sel & 1) ? key_g : key_a;
		conn_id(conn, (sel >> 1) & 3u);
		/* A is registered (as ZAP would say); G is a guest until it registers. */
		if (relay_handle(g_relay, key, key == key_a, conn, sizeof conn, frame, len) !=
		    HALQA_OK) {
			/* Only NOMEM is possible; the turn's output is still consistent. */
		}
		if (sel & 0x80) {
			(void)relay_end_turn(g_relay);
		}
	}
	(void)relay_end_turn(g_relay);
}

static void set_ids(struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_CIRCLE_CREATE:
		memset(m->u.circle_create.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_SEND:
		memset(m->u.send.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		memset(m->u.send.cap, CAP_BYTE, WIRE_CAP_LEN);
		break;
	case WIRE_LISTEN:
		memset(m->u.listen.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		memset(m->u.listen.cap, CAP_BYTE, WIRE_CAP_LEN);
		break;
	case WIRE_UNLISTEN:
		memset(m->u.unlisten.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_FETCH:
		memset(m->u.fetch.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		memset(m->u.fetch.cap, CAP_BYTE, WIRE_CAP_LEN);
		break;
	case WIRE_ACK:
		memset(m->u.ack.circle_id, CIRCLE_BYTE, WIRE_ID_LEN);
		memset(m->u.ack.cursor_id, 0x5c, WIRE_ID_LEN);
		memset(m->u.ack.cap, CAP_BYTE, WIRE_CAP_LEN);
		break;
	case WIRE_MAILBOX_PUT:
		memset(m->u.mailbox_put.mailbox_id, MAILBOX_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_MAILBOX_FETCH:
		memset(m->u.mailbox_fetch.mailbox_id, MAILBOX_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_MAILBOX_DELETE:
		memset(m->u.mailbox_delete.mailbox_id, MAILBOX_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_KP_PUBLISH:
		memset(m->u.kp_publish.dir_id, DIR_BYTE, WIRE_ID_LEN);
		break;
	case WIRE_KP_CLAIM:
	case WIRE_KP_COUNT:
		memset(m->u.kp_dir.dir_id, DIR_BYTE, WIRE_ID_LEN);
		break;
	default:
		break;
	}
}

/*
 * build_request fills |m| with a valid request of |type| naming the fixed
 * circle, mailbox and directory; |variant| picks a SEND: 0 application, 1
 * proposal, 2 commit to epoch 1, 3 stale epoch, 4 a fixed client message id
 * (retries), 5 application in epoch 1. Payloads borrow static data.
 */
static int build_request(struct wire_msg *m, uint8_t type, int variant, uint32_t id)
{
	static const uint8_t payload[48] = "opaque MLS ciphertext stands here, as given.";
	uint8_t next[WIRE_CAP_LEN];

	wire_msg_init(m, type, id);
	set_ids(m);
	switch (type) {
	case WIRE_HELLO:
		m->u.hello.min_version = 1;
		m->u.hello.max_version = 1;
		break;
	case WIRE_CIRCLE_CREATE:
		m->u.circle_create.circle_id[0] ^= 1; /* a new circle */
		memset(m->u.circle_create.cap_hash, 0x11, WIRE_CAP_LEN);
		break;
	case WIRE_SEND:
		m->u.send.kind = WIRE_KIND_APPLICATION;
		memset(m->u.send.client_msg_id, 0x30 + variant, WIRE_ID_LEN);
		if (variant != 4) {
			m->u.send.client_msg_id[0] = (uint8_t)id;
		}
		m->u.send.payload.data = payload;
		m->u.send.payload.len = sizeof payload;
		if (variant == 1) {
			m->u.send.kind = WIRE_KIND_PROPOSAL;
		} else if (variant == 2) {
			m->u.send.kind = WIRE_KIND_COMMIT;
			memset(next, NEXT_CAP_BYTE, sizeof next);
			if (wire_cap_hash(m->u.send.next_cap_hash, next) != HALQA_OK) {
				return -1;
			}
		} else if (variant == 3) {
			m->u.send.epoch = 7;
		} else if (variant == 5) {
			m->u.send.epoch = 1;
			memset(m->u.send.cap, NEXT_CAP_BYTE, WIRE_CAP_LEN);
		}
		break;
	case WIRE_FETCH:
		m->u.fetch.from_seq = 1;
		m->u.fetch.max_count = 16;
		break;
	case WIRE_ACK:
		m->u.ack.seq = 1;
		break;
	case WIRE_MAILBOX_PUT:
		m->u.mailbox_put.payload.data = payload;
		m->u.mailbox_put.payload.len = sizeof payload;
		break;
	case WIRE_MAILBOX_FETCH:
		m->u.mailbox_fetch.max_count = 8;
		break;
	case WIRE_MAILBOX_DELETE:
		m->u.mailbox_delete.num_ids = 2;
		m->u.mailbox_delete.ids[0] = 1;
		m->u.mailbox_delete.ids[1] = 2;
		break;
	case WIRE_KP_PUBLISH:
		m->u.kp_publish.num_packages = 2;
		m->u.kp_publish.packages[0].data = payload;
		m->u.kp_publish.packages[0].len = 20;
		m->u.kp_publish.packages[1].data = payload + 20;
		m->u.kp_publish.packages[1].len = 20;
		m->u.kp_publish.has_last_resort = 1;
		m->u.kp_publish.last_resort.data = payload;
		m->u.kp_publish.last_resort.len = 8;
		break;
	default:
		break;
	}
	return 0;
}

/* One seed: up to four requests (type, SEND variant, selector), then a FETCH. */
struct seed {
	const char *name;
	struct {
		uint8_t type;
		uint8_t variant;
		uint8_t sel;
	} req[4];
};

static const struct seed seeds[] = {
	{"hello", {{WIRE_HELLO, 0, 0}}},
	{"ping-guest", {{WIRE_PING, 0, 1}}},
	{"register-guest", {{WIRE_REGISTER, 0, 1}, {WIRE_PING, 0, 1}}},
	{"circle-create", {{WIRE_CIRCLE_CREATE, 0, 0x80}}},
	{"send", {{WIRE_SEND, 0, 0}, {WIRE_SEND, 0, 2}}},
	{"send-retry", {{WIRE_SEND, 4, 0x80}, {WIRE_SEND, 4, 0x80}}},
	{"send-proposal", {{WIRE_SEND, 1, 0}}},
	{"send-commit", {{WIRE_SEND, 0, 0}, {WIRE_SEND, 2, 0x80}, {WIRE_SEND, 0, 0}, {WIRE_SEND, 5, 0}}},
	{"send-stale", {{WIRE_SEND, 3, 0}}},
	{"send-guest", {{WIRE_SEND, 0, 1}}},
	{"listen", {{WIRE_LISTEN, 0, 4}, {WIRE_SEND, 0, 0}}},
	{"unlisten", {{WIRE_UNLISTEN, 0, 0}, {WIRE_SEND, 0, 0}}},
	{"ack", {{WIRE_SEND, 0, 0x80}, {WIRE_ACK, 0, 0x80}}},
	{"mailbox-put", {{WIRE_MAILBOX_FETCH, 0, 0x80}, {WIRE_MAILBOX_PUT, 0, 0x80},
			 {WIRE_MAILBOX_FETCH, 0, 0x80}}},
	{"mailbox-delete", {{WIRE_MAILBOX_FETCH, 0, 0x80}, {WIRE_MAILBOX_PUT, 0, 0x80},
			    {WIRE_MAILBOX_DELETE, 0, 0x80}}},
	{"mailbox-guest", {{WIRE_MAILBOX_FETCH, 0, 1}}},
	{"kp-publish", {{WIRE_KP_PUBLISH, 0, 0x80}, {WIRE_KP_COUNT, 0, 0}}},
	{"kp-claim", {{WIRE_KP_PUBLISH, 0, 0x80}, {WIRE_KP_CLAIM, 0, 0x80}, {WIRE_KP_CLAIM, 0, 0},
		      {WIRE_KP_CLAIM, 0, 0x80}}},
};

/*
 * write_seeds writes one seed file per entry of seeds[] into |dir|.
 * Returns 0 or -1.
 */
static int write_seeds(const char *dir)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0] && rc == 0; i++) {
		struct bytes_writer w;
		struct wire_msg m;
		char path[512];
		FILE *f;

		bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
		for (size_t k = 0; k < 4 && seeds[i].req[k].type != 0 && rc == 0; k++) {
			if (build_request(&m, seeds[i].req[k].type, seeds[i].req[k].variant,
					  (uint32_t)(k + 1)) != 0 ||
			    encode_record(&w, seeds[i].req[k].sel, &m) != HALQA_OK) {
				rc = -1;
			}
			wire_msg_cleanup(&m);
		}
		/* Then read the circle, to see what the requests changed. */
		if (rc == 0 && (build_request(&m, WIRE_FETCH, 0, 99) != 0 ||
				encode_record(&w, 0x80, &m) != HALQA_OK)) {
			rc = -1;
		}
		wire_msg_cleanup(&m);
		snprintf(path, sizeof path, "%s/seed-%02zu-%s", dir, i, seeds[i].name);
		if (rc == 0 && (f = fopen(path, "wb")) != NULL) {
			if (fwrite(bytes_writer_data(&w), 1, bytes_writer_len(&w), f) !=
				bytes_writer_len(&w) ||
			    fclose(f) != 0) {
				rc = -1;
			}
		} else {
			rc = -1;
		}
		bytes_writer_cleanup(&w);
	}
	return rc;
}

/* setup opens the relay and gives it one registered device, one circle, one listener. */
static int setup(void)
{
	struct relay_options opt;
	struct bytes_writer w;
	struct wire_msg m;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int rc;

	if (sodium_init() < 0) {
		return -1;
	}
	halqa_log_set_level(HALQA_LOG_ERROR);
	snprintf(g_dir, sizeof g_dir, "%s/fuzz_relay.XXXXXX", base);
	if (mkdtemp(g_dir) == NULL) {
		return -1;
	}
	snprintf(g_db, sizeof g_db, "%s/relay.db", g_dir);
	memset(&opt, 0, sizeof opt);
	relay_config_defaults(&opt.config);
	opt.config.mode = RELAY_MODE_OPEN;
	opt.config.limits.requests_per_sec = 1e7;
	opt.config.limits.requests_burst = 1e7;
	opt.config.limits.bytes_per_sec = 1e12;
	opt.config.limits.bytes_burst = 1e12;
	opt.config.limits.claims_per_min = 1e6;
	opt.config.limits.claims_burst = 1e6;
	opt.config.limits.malformed_ban = 1u << 30;
	opt.output = on_output;
	opt.output_ctx = &g_out_scratch;
	opt.db_path = g_db;
	atexit(cleanup);
	if (relay_new(&g_relay, &opt) != HALQA_OK) {
		return -1;
	}

	/* REGISTER A (as a guest), then CIRCLE_CREATE and LISTEN on connection c0. */
	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	wire_msg_init(&m, WIRE_REGISTER, 1);
	rc = encode_record(&w, 0x80, &m);
	wire_msg_init(&m, WIRE_CIRCLE_CREATE, 2);
	set_ids(&m);
	{
		uint8_t cap[WIRE_CAP_LEN];

		memset(cap, CAP_BYTE, sizeof cap);
		if (rc == HALQA_OK) {
			rc = wire_cap_hash(m.u.circle_create.cap_hash, cap);
		}
	}
	if (rc == HALQA_OK) {
		rc = encode_record(&w, 0x80, &m);
	}
	wire_msg_init(&m, WIRE_LISTEN, 3);
	set_ids(&m);
	if (rc == HALQA_OK) {
		rc = encode_record(&w, 0x80, &m);
	}
	wire_msg_cleanup(&m);
	/* A SEND from A's second connection: the listener on c0 must get it. */
	if (rc == HALQA_OK && build_request(&m, WIRE_SEND, 0, 4) != 0) {
		rc = HALQA_ERR_INTERNAL;
	}
	if (rc == HALQA_OK) {
		rc = encode_record(&w, 0x82, &m);
	}
	wire_msg_cleanup(&m);
	if (rc == HALQA_OK) {
		struct bytes_reader r;
		uint8_t sel;
		uint16_t len;
		const uint8_t *frame;
		uint8_t conn[5];
		int first = 1;

		memset(&g_seen, 0, sizeof g_seen);
		bytes_reader_init(&r, bytes_writer_data(&w), bytes_writer_len(&w));
		while (rc == HALQA_OK && bytes_remaining(&r) > 0) {
			if ((rc = bytes_get_u8(&r, &sel)) != HALQA_OK ||
			    (rc = bytes_get_u16(&r, &len)) != HALQA_OK ||
			    (rc = bytes_get_span(&r, &frame, len)) != HALQA_OK) {
				break;
			}
			conn_id(conn, (sel >> 1) & 3u);
			/* A is a guest for its REGISTER, registered afterwards. */
			rc = relay_handle(g_relay, key_a, !first, conn, sizeof conn, frame, len);
			if (rc == HALQA_OK) {
				rc = relay_end_turn(g_relay);
			}
			first = 0;
		}
	}
	bytes_writer_cleanup(&w);
	/* REGISTER, CIRCLE_CREATE, LISTEN and SEND all OK, and one push to c0:
	 * otherwise the fuzzer would only ever see refusals. */
	if (rc == HALQA_OK && (g_seen.ok != 4 || g_seen.err != 0 || g_seen.deliver_to_c0 != 1)) {
		fprintf(stderr,
			"fuzz_relay_request: setup got %u OK, %u ERR, %u pushes to the listener\n",
			g_seen.ok, g_seen.err, g_seen.deliver_to_c0);
		rc = HALQA_ERR_INTERNAL;
	}
	return rc == HALQA_OK ? 0 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed_dir = getenv("HALQA_FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (setup() != 0) {
		fprintf(stderr, "fuzz_relay_request: setup failed\n");
		g_failed_setup = 1;
	}
	if (seed_dir != NULL && write_seeds(seed_dir) != 0) {
		fprintf(stderr, "fuzz_relay_request: could not write seeds to %s\n", seed_dir);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (g_relay == NULL && !g_failed_setup) {
		/* The replay driver does not call LLVMFuzzerInitialize. */
		LLVMFuzzerInitialize(NULL, NULL);
	}
	if (g_failed_setup) {
		abort();
	}
	run_records(data, size);
	return 0;
}
