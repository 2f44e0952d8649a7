/*
 * relay.h: the Halqa relay, halqad's engine.
 *
 * One libuv loop owns everything: the ZeroMQ ROUTER socket (CURVE server),
 * the ZAP handler's REP socket, a socket monitor counting live connections,
 * the admin socket, timers (retention sweep, rate-limit housekeeping,
 * retrying blocked peers) and signal handlers. No other thread touches
 * relay state, so nothing is locked.
 *
 * A loop turn: the ROUTER pump receives requests and hands each to
 * relay_handle, which decodes it, checks limits, applies it to the spool
 * (all writes of the turn in one transaction) and queues the reply and any
 * pushes as pending. A uv_check_t then commits the transaction and only
 * after that moves the turn's pending output to the connections' queues;
 * if the commit fails, every reply of the turn becomes an `internal` error
 * and listeners who would have had a push are told to fetch instead. So
 * nothing is acknowledged or pushed that is not on disk.
 *
 * relay_handle is separable from ZeroMQ: a relay made with a non-NULL
 * relay_options.output has no sockets at all, and relay_end_turn commits
 * and hands the turn's output to that callback. This is how the fuzz target
 * drives the request handler against a temporary store.
 */
#ifndef HALQA_RELAY_H
#define HALQA_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/relay_config.h"

struct relay;

/* Longest ZeroMQ routing id (a peer may choose its own, up to 255 bytes). */
#define RELAY_CONN_ID_MAX 255

/*
 * relay_output_fn receives one encoded frame for the connection |conn_id|
 * (a reply or a push) in offline mode. |frame| is borrowed for the call.
 */
typedef void (*relay_output_fn)(void *ctx, const uint8_t *conn_id, size_t conn_id_len,
				const uint8_t *frame, size_t frame_len);

struct relay_options {
	const char *data_dir;       /* holds relay.db, server.key, admin.sock */
	struct relay_config config; /* effective settings (file + flags) */
	const char *config_path;    /* re-read on SIGHUP; NULL: no reload */
	int log_level_forced;       /* 1: --log-level given, SIGHUP keeps it */
	int mode_forced;            /* 1: --open given, SIGHUP keeps it */
	int test_clock;             /* 1: admin accepts "clock advance N" (tests only) */
	int test_no_safety_net;     /* 1: the 1 s timer does not pump the ROUTER (tests only) */
	int test_faults;            /* 1: admin accepts "fail commits N" (tests only) */
	/* Offline mode: no sockets, no admin socket, no timers; output goes here. */
	relay_output_fn output;
	void *output_ctx;
	const char *db_path;        /* offline mode: the spool file (data_dir unused) */
};

/*
 * relay_new opens the spool, and unless in offline mode, locks the data
 * directory (one daemon per directory), loads the server key, creates the
 * ZeroMQ context and sockets (ZAP handler bound before the ROUTER) and
 * binds the listen endpoint and the admin socket. Returns HALQA_ERR_IO for
 * files and sockets (the detail is logged), HALQA_ERR_EXISTS if another
 * halqad holds the directory, HALQA_ERR_NOT_FOUND without a server key,
 * HALQA_ERR_NOMEM. On success the caller owns *out (relay_free).
 */
HALQA_MUST_CHECK int relay_new(struct relay **out, const struct relay_options *opt);

/*
 * relay_run runs the loop until SIGTERM or SIGINT, then commits, sends what
 * it can, and returns HALQA_OK. HALQA_ERR_ARG in offline mode. Once its
 * handlers are installed it unblocks SIGTERM, SIGINT and SIGHUP in the
 * calling thread (halqad blocks them before startup, so one that arrives
 * early waits for a clean stop instead of killing the process).
 */
HALQA_MUST_CHECK int relay_run(struct relay *r);

/* relay_free closes everything and frees |r|. NULL is a no-op. */
void relay_free(struct relay *r);

/*
 * relay_handle processes one request frame |req| (|len| bytes, borrowed)
 * from device |device_key| on connection |conn_id|. |registered| says the
 * ZAP handler let the key in as a registered device; a guest may only
 * HELLO, REGISTER and PING (a guest that registered in this session is
 * recognised through the spool). The reply and any pushes are queued for
 * the end of the turn, never sent from here. Hostile input yields an error
 * reply (or silence for a banned device), never a failure of the relay.
 * Returns HALQA_OK, or HALQA_ERR_NOMEM if the reply could not be queued.
 */
HALQA_MUST_CHECK int relay_handle(struct relay *r, const uint8_t device_key[32], int registered,
				  const uint8_t *conn_id, size_t conn_id_len, const uint8_t *req,
				  size_t len);

/*
 * relay_end_turn commits the turn's writes and releases its output: to the
 * connections' queues, or in offline mode to the output callback. Returns
 * the commit's error (the output then already says `internal`), else
 * HALQA_OK. It runs the COMMIT on the calling thread, after waiting for
 * one the commit thread may be running; the loop's own turns go to that
 * thread instead (relay_commit.c), and this serves admin commands, reload,
 * stop and offline mode.
 */
int relay_end_turn(struct relay *r);

/*
 * relay_drop_conn forgets connection |conn_id|: its listens and queued
 * output. For offline drivers; the loop does this itself when a peer is
 * gone.
 */
void relay_drop_conn(struct relay *r, const uint8_t *conn_id, size_t conn_id_len);

/*
 * relay_clock_advance moves the relay's clock |seconds| forward (tests of
 * retention; only reachable from the admin socket with --test-clock).
 */
void relay_clock_advance(struct relay *r, uint64_t seconds);

/*
 * relay_inject_commit_failure makes the next |count| turn commits fail (it
 * forwards to spool_inject_commit_failure), for tests of the rule that a
 * failed commit answers every request of its turn with `internal`.
 */
void relay_inject_commit_failure(struct relay *r, unsigned count);

/*
 * relay_sweep runs one bounded retention sweep now (what the sweep timer
 * does) and returns the spool's error. Its deletions commit with the turn.
 */
int relay_sweep(struct relay *r);

#endif
