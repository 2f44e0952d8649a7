/*
 * relay_client.h: a small blocking relay client for tests and benchmarks,
 * and helpers that run the real halqad in a temp directory.
 *
 * relay_client speaks the wire protocol (halqa/wire.h) over a ZeroMQ
 * CURVE DEALER socket, like the real client, but blocking and simple: send
 * a request, wait for the reply with the same request id, and queue every
 * DELIVER push that arrives meanwhile for relay_client_next_push. Hostile
 * tests send raw bytes with relay_client_send_raw and read whatever comes
 * back with relay_client_next_reply.
 *
 * All clients of a process share one ZeroMQ context (created with the first
 * client, terminated with the last), so a benchmark can hold thousands of
 * connections without a context (and an I/O thread) each. A client is used
 * from one thread at a time.
 *
 * Borrowing: a reply filled in by relay_client_request / _wait_reply /
 * _next_reply borrows its blobs from a frame the client holds until the next
 * of those calls on the same client; a push from _next_push, until the next
 * _next_push. relay_client_free ends both.
 *
 * relay_test runs halqad as a child process:
 *   $HALQA_BIN_DIR/halqad init --data DIR     (prints halqa-relay:<ep>#<key>)
 *   $HALQA_BIN_DIR/halqad run --data DIR --listen tcp://127.0.0.1:PORT [extra]
 * on a free loopback port, waits until it answers PING, and cleans up. The
 * daemon's stdout and stderr go to ROOT/halqad.log (printed when startup
 * fails), or to the test's stderr when HALQA_TEST_RELAY_LOG is set. The
 * child gets SIGKILL if the test process dies first.
 */
#ifndef HALQA_TESTS_RELAY_CLIENT_H
#define HALQA_TESTS_RELAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "halqa/err.h"
#include "halqa/wire.h"

/* Pushes queued beyond this are dropped (and counted): a test client must not grow without bound. */
#define RELAY_CLIENT_MAX_QUEUED 65536

struct relay_client;

/*
 * relay_client_new connects a new client to |endpoint| ("tcp://host:port"),
 * pinning the relay key |server_pub|. With |client_pub| and |client_sec|
 * both NULL a fresh CURVE key pair is generated; otherwise both are copied.
 * The connection is made in the background (ZeroMQ): the first request
 * waits for it. Returns HALQA_ERR_ARG for a bad argument, HALQA_ERR_NOMEM,
 * or HALQA_ERR_NETWORK if ZeroMQ refuses the socket or endpoint. |*out| is
 * NULL on failure; free with relay_client_free.
 */
HALQA_MUST_CHECK int relay_client_new(struct relay_client **out, const char *endpoint,
				      const uint8_t server_pub[32], const uint8_t *client_pub,
				      const uint8_t *client_sec);

/* relay_client_free closes the socket and frees |c| (wiping its secret key). NULL is a no-op. */
void relay_client_free(struct relay_client *c);

/* relay_client_public_key copies the client's CURVE public key (its device key) into |out|. */
void relay_client_public_key(const struct relay_client *c, uint8_t out[32]);

/* relay_client_secret_key copies the client's CURVE secret key into |out| (to reconnect as the same device elsewhere). */
void relay_client_secret_key(const struct relay_client *c, uint8_t out[32]);

/*
 * relay_client_send_request sends |req| with a fresh request id (written to
 * |*out_id|; the id in |req| is ignored) and does not wait. Returns
 * HALQA_OK, an encoding error from wire_encode, or HALQA_ERR_NETWORK if
 * the frame could not be queued.
 */
HALQA_MUST_CHECK int relay_client_send_request(struct relay_client *c, const struct wire_msg *req,
					       uint32_t *out_id);

/*
 * relay_client_wait_reply waits up to |timeout_ms| for the OK or ERR with
 * request id |id|, queueing pushes and dropping replies to other ids (late
 * answers to requests that timed out). Returns HALQA_OK with |*reply|
 * filled (check reply->type: WIRE_OK or WIRE_ERR), HALQA_ERR_NETWORK on
 * timeout, HALQA_ERR_MALFORMED if the relay sent a frame that does not
 * decode (a relay bug: the frame is dropped). ERR notices with request id
 * 0 (the relay dropped this connection's listens) stay queued for
 * relay_client_next_reply.
 */
HALQA_MUST_CHECK int relay_client_wait_reply(struct relay_client *c, uint32_t id,
					     struct wire_msg *reply, int timeout_ms);

/* relay_client_request is send_request then wait_reply. Same returns. */
HALQA_MUST_CHECK int relay_client_request(struct relay_client *c, const struct wire_msg *req,
					  struct wire_msg *reply, int timeout_ms);

/*
 * relay_client_next_push returns the oldest queued DELIVER, waiting up to
 * |timeout_ms| for one. HALQA_ERR_NETWORK on timeout; HALQA_ERR_MALFORMED
 * as above.
 */
HALQA_MUST_CHECK int relay_client_next_push(struct relay_client *c, struct wire_msg *out,
					    int timeout_ms);

/*
 * relay_client_next_reply returns the oldest OK or ERR whatever its request
 * id (for replies to raw frames), waiting up to |timeout_ms|. Returns as
 * relay_client_next_push.
 */
HALQA_MUST_CHECK int relay_client_next_reply(struct relay_client *c, struct wire_msg *out,
					     int timeout_ms);

/*
 * relay_client_send_raw sends |len| bytes of |data| as one frame, unchecked
 * (for hostile-input tests). HALQA_ERR_NETWORK if it could not be queued.
 */
HALQA_MUST_CHECK int relay_client_send_raw(struct relay_client *c, const uint8_t *data, size_t len);

/*
 * relay_client_send_multipart sends |num_parts| frames as one multi-part
 * ZeroMQ message (which the protocol forbids), for hostile tests.
 */
HALQA_MUST_CHECK int relay_client_send_multipart(struct relay_client *c, const uint8_t *const *parts,
						 const size_t *lens, size_t num_parts);

/*
 * relay_client_reconnect closes the socket and opens a new one with the
 * same keys and endpoint (a new CURVE session; the relay forgets this
 * connection's listens). Queued pushes are kept. HALQA_ERR_NETWORK if
 * ZeroMQ refuses.
 */
HALQA_MUST_CHECK int relay_client_reconnect(struct relay_client *c);

/* relay_client_queued returns how many frames are queued, relay_client_dropped how many pushes were dropped. */
size_t relay_client_queued(const struct relay_client *c);
size_t relay_client_dropped(const struct relay_client *c);

/*
 * relay_client_ok is a test shortcut: relay_client_request, then map the
 * outcome to one code: HALQA_OK for an OK answering req->type,
 * wire_err_to_halqa(code) for an ERR (|*out_code| gets the wire code, 0 for
 * OK), HALQA_ERR_NETWORK on timeout, HALQA_ERR_MALFORMED for an OK of
 * another type. |reply| may be NULL if the result is not needed.
 */
HALQA_MUST_CHECK int relay_client_ok(struct relay_client *c, const struct wire_msg *req,
				     struct wire_msg *reply, uint16_t *out_code, int timeout_ms);

/* A running (or stopped) halqad under test. Fields are read-only for tests. */
struct relay_test {
	char root[256];          /* temp directory holding data/ and halqad.log */
	char dir[300];           /* the data directory (--data) */
	char log_path[300];      /* the daemon's stdout+stderr */
	char endpoint[64];       /* tcp://127.0.0.1:PORT */
	char address_line[512];  /* "halqa-relay:" endpoint "#" hex key: the port it listens on */
	char extra_args[512];    /* as given to relay_test_start */
	uint8_t server_pub[32];  /* the relay's public key */
	int port;
	pid_t pid;               /* 0 when not running */
	int last_status;         /* waitpid status of the last exit */
};

/*
 * relay_test_start creates a temp directory, runs `halqad init` there and
 * then `halqad run` with |extra_args| (space-separated, e.g. "--open"; NULL
 * for none) on a free loopback port, and waits up to 20 s for it to answer
 * PING. Returns HALQA_ERR_NOT_FOUND if $HALQA_BIN_DIR/halqad is missing,
 * HALQA_ERR_MALFORMED if init printed no address line, HALQA_ERR_NETWORK if
 * the daemon exited or never answered (its log is printed), HALQA_ERR_IO
 * for file or process errors. On failure everything is cleaned up.
 */
HALQA_MUST_CHECK int relay_test_start(struct relay_test *t, const char *extra_args);

/*
 * relay_test_kill sends |sig| to the daemon. For SIGKILL, SIGTERM, SIGINT,
 * SIGQUIT and SIGABRT it then waits for the exit (up to 20 s, then
 * SIGKILL) and records it in last_status; other signals (SIGHUP) are only
 * sent. HALQA_ERR_INVALID if it is not running.
 */
HALQA_MUST_CHECK int relay_test_kill(struct relay_test *t, int sig);

/*
 * relay_test_restart stops the daemon if it still runs (SIGTERM) and starts
 * `halqad run` again on the same directory, port and arguments, waiting
 * for PING as relay_test_start. Same returns.
 */
HALQA_MUST_CHECK int relay_test_restart(struct relay_test *t);

/*
 * relay_test_spawn_unready starts `halqad run` on the directory of a
 * stopped relay_test, as relay_test_restart does, but returns at once
 * without waiting for PING: for signals that land during startup. With
 * |block_stop| the daemon starts with SIGTERM, SIGINT and SIGHUP blocked
 * (inherited across exec), as if they had arrived before its main().
 * HALQA_ERR_INVALID if the daemon still runs, HALQA_ERR_IO if it cannot
 * be started.
 */
HALQA_MUST_CHECK int relay_test_spawn_unready(struct relay_test *t, int block_stop);

/*
 * relay_test_command runs `halqad <args> --data DIR` (args space-separated,
 * e.g. "invite --uses 3") to completion, capturing up to |out_len|-1 bytes
 * of its stdout into |out| (NUL-terminated; |out| may be NULL) and its exit
 * status into |*out_status| (may be NULL). HALQA_ERR_IO if it cannot run.
 */
HALQA_MUST_CHECK int relay_test_command(struct relay_test *t, const char *args, char *out,
					size_t out_len, int *out_status);

/*
 * relay_test_invite runs `halqad invite --uses |uses|` and copies the code
 * (the last non-empty line of its output, trimmed) into |out|.
 * HALQA_ERR_IO if the command fails, HALQA_ERR_MALFORMED if it printed
 * nothing usable.
 */
HALQA_MUST_CHECK int relay_test_invite(struct relay_test *t, unsigned uses, char *out,
				       size_t out_len);

/*
 * relay_test_stop sends SIGTERM, waits for the exit (recorded in
 * last_status) and removes the temp directory. Safe on a stopped or
 * never-started relay_test (zeroed).
 */
void relay_test_stop(struct relay_test *t);

/*
 * relay_test_client connects a new client to |t| (keys generated if
 * |client_pub|/|client_sec| are NULL). Same returns as relay_client_new.
 */
HALQA_MUST_CHECK int relay_test_client(struct relay_test *t, struct relay_client **out,
				       const uint8_t *client_pub, const uint8_t *client_sec);

#endif
