/*
 * relay.c: the relay's loop: sockets, pumps, the group commit, timers,
 * signals and the admin commands.
 *
 * Sockets. One ZeroMQ context holds three sockets, each driven by one
 * uv_poll_t on its ZMQ_FD following PLATFORM.md's pump pattern: poll
 * UV_READABLE only; all I/O of a socket goes through its pump, which
 * sends and receives until libzmq says EAGAIN, re-reads ZMQ_EVENTS after
 * each such run and stops only when that reading offers nothing; when its
 * budget runs out it re-arms itself with a uv_idle_t; and it runs once
 * right after uv_poll_start.
 *   - the ZAP REP socket (bound first, so no handshake goes unchecked);
 *   - a PAIR socket receiving the ROUTER's monitor events, which count
 *     live connections for `halqad status`;
 *   - the ROUTER: CURVE server with the relay's key, ROUTER_MANDATORY (so a
 *     vanished peer is an EHOSTUNREACH we act on, not a silent drop), small
 *     per-peer HWMs, a large accept backlog, and ZMQ_MAXMSGSIZE at the
 *     protocol's hard bound (libzmq drops a peer that sends more). Dead
 *     peers are found by TCP keepalive, not ZMTP heartbeats: libzmq keeps
 *     an I/O thread's timers in one ordered map and cancels a timer by a
 *     linear search over all of them, so with heartbeats every PONG and
 *     every finished handshake cost O(connections) in the I/O thread. At
 *     a few thousand connections on a busy machine that thread could no
 *     longer finish handshakes within their 30 s, clients reconnected, and
 *     connecting 10,000 devices collapsed at about 4,400 (bench/README.md).
 *     The kernel's keepalive timers cost the relay nothing.
 *
 * Group commit. Requests are handled as they are received; their spool
 * writes collect in the turn's transaction and their output in the pending
 * list. The uv_check_t, which libuv runs right after the turn's I/O, calls
 * relay_turn_close, which hands the COMMIT to the commit thread
 * (relay_commit.c: new requests wait in libzmq meanwhile, and the turn's
 * output is released when the thread reports), and pumps the ROUTER to
 * send. If requests arrived during that pump, a uv_idle_t keeps the loop
 * from blocking so the next check commits them promptly.
 *
 * Output per peer. Each connection has its own queue (relay_state.c). The
 * pump sends from connections in FIFO order, one frame each, so a fan-out
 * to many listeners interleaves fairly. A peer whose libzmq pipe is full
 * (EAGAIN) is set aside and retried by a short timer, because a ROUTER
 * gives no signal when one peer's pipe drains; meanwhile its own queue's
 * bound decides when it is too slow (its listens are dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "halqa/admin.h"
#include "halqa/log.h"
#include "halqa/zap.h"
#include "relay_int.h"

#define PUMP_BUDGET 512
#define PUMP_RUN 64
#define MONITOR_ENDPOINT "inproc://halqad-monitor"
#define RETRY_MS 5
#define HOUSE_MS 1000

/* mono_ms is the monotonic clock in ms, without the test offset (shutdown timing). */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t relay_now_sec(const struct relay *r)
{
	return (uint64_t)time(NULL) + r->clock_offset_sec;
}

uint64_t relay_now_ms(const struct relay *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 +
	       r->clock_offset_sec * 1000;
}

void relay_clock_advance(struct relay *r, uint64_t seconds)
{
	r->clock_offset_sec += seconds;
}

void relay_inject_commit_failure(struct relay *r, unsigned count)
{
	relay_commit_wait(r);
	spool_inject_commit_failure(r->spool, count);
}

/* ---- spool ---- */

static void spool_limits_from(const struct relay_config *cfg, struct spool_limits *sl)
{
	memset(sl, 0, sizeof *sl);
	sl->max_payload = cfg->limits.max_payload;
	sl->max_fetch_count = cfg->limits.max_fetch;
	sl->max_fetch_bytes = cfg->limits.max_frame;
	sl->default_max_age = cfg->retention.max_age_sec;
	sl->max_max_age = cfg->retention.max_age_sec > 365ull * 86400 ? cfg->retention.max_age_sec
								       : 365ull * 86400;
	sl->max_circles_per_device = cfg->limits.max_circles;
	sl->max_bytes_per_day = cfg->limits.daily_bytes;
	sl->max_mailbox_item = cfg->limits.max_payload;
	sl->max_mailbox_items = cfg->limits.mailbox_max_items;
	sl->mailbox_max_age = cfg->retention.max_age_sec;
	sl->max_keypackage = WIRE_MAX_KP_LEN;
	sl->max_keypackages = cfg->limits.kp_max_items;
	sl->max_mailbox_fetch = WIRE_MAX_MAILBOX_FETCH;
	sl->sweep_budget = cfg->retention.sweep_batch;
}

static int open_spool(struct relay *r)
{
	struct spool_limits sl;
	int rc;

	spool_limits_from(&r->cfg, &sl);
	rc = spool_open(&r->spool, r->db_path, &sl);
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "cannot open the spool: %s", halqa_strerror(rc));
		return rc;
	}
	/* Checkpoints off the acknowledgement path; SQLite's own if that fails. */
	if (!r->offline && spool_checkpoints_start(r->spool, r->db_path) != HALQA_OK) {
		halqa_log(HALQA_LOG_WARN, "relay", "checkpoints stay inside commits");
	}
	return rc;
}

int relay_end_turn(struct relay *r)
{
	int rc = HALQA_OK;

	/* A COMMIT with the thread goes first: turns commit in order. */
	relay_commit_wait(r);
	relay_turn_flush_charges(r);
	if (spool_turn_open(r->spool)) {
		r->commits_total++;
		rc = spool_commit_turn(r->spool);
		if (rc != HALQA_OK) {
			relay_commit_failed(r, rc, r->num_pending);
		}
	}
	if (r->num_pending > 0) {
		relay_release_pending(r, rc != HALQA_OK);
		/* Releasing sent frames: re-read ZMQ_EVENTS now (PLATFORM.md). */
		relay_kick(r);
	}
	return rc;
}

int relay_sweep(struct relay *r)
{
	struct spool_sweep_res res;
	int rc = spool_sweep(r->spool, relay_now_sec(r), &res);

	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "retention sweep failed: %s", halqa_strerror(rc));
		return rc;
	}
	if (res.acked_deleted + res.aged_deleted + res.cursors_expired + res.mailbox_deleted +
		    res.invites_expired >
	    0) {
		halqa_log(HALQA_LOG_INFO, "retention",
			  "deleted %llu read and %llu expired messages, %llu cursors, %llu "
			  "mailbox items, %llu invites",
			  (unsigned long long)res.acked_deleted, (unsigned long long)res.aged_deleted,
			  (unsigned long long)res.cursors_expired,
			  (unsigned long long)res.mailbox_deleted,
			  (unsigned long long)res.invites_expired);
	}
	return res.more ? HALQA_ERR_LIMIT : HALQA_OK;
}

/* ---- pumps ---- */

static void pump(struct relay_sock *s);
static void on_retry(uv_timer_t *t);

static void on_sock_idle(uv_idle_t *h)
{
	pump(h->data);
}

static void on_sock_poll(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	pump(h->data);
}

/*
 * pump drives one socket. Each pass reads ZMQ_EVENTS, then sends and
 * receives in runs of up to PUMP_RUN with ZMQ_DONTWAIT until libzmq says
 * EAGAIN, and the loop returns only after a pass whose ZMQ_EVENTS came
 * after the last send or receive and offered nothing (PLATFORM.md: the
 * check after the last operation is what keeps the edge-triggered fd
 * honest; one per operation is not needed). ZMQ_EVENTS is not throttled
 * in libzmq: every call costs a poll() and a getpid() system call, which
 * one per message made the loop's most frequent system calls.
 */
static void pump(struct relay_sock *s)
{
	for (int budget = PUMP_BUDGET; budget > 0;) {
		int ev = 0, n = 0;
		size_t len = sizeof ev;

		if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &ev, &len) != 0) {
			break;
		}
		if ((ev & ZMQ_POLLOUT) && s->send_one != NULL) {
			while (n < PUMP_RUN && s->send_one(s->relay)) {
				n++;
			}
		}
		if (ev & ZMQ_POLLIN) {
			int m = 0;

			while (m < PUMP_RUN && s->recv_one(s->relay)) {
				m++;
			}
			n += m;
		}
		if (n == 0) {
			uv_idle_stop(&s->idle);
			return;
		}
		budget -= n;
	}
	uv_idle_start(&s->idle, on_sock_idle);
}

void relay_router_hold(struct relay *r, int hold)
{
	if (r->offline || !r->router.started) {
		return;
	}
	if (hold) {
		uv_poll_stop(&r->router.poll);
	} else {
		uv_poll_start(&r->router.poll, UV_READABLE, on_sock_poll);
	}
}

void relay_kick(struct relay *r)
{
	if (!r->offline && r->router.started) {
		pump(&r->router);
	}
}

static int router_recv_one(struct relay *r)
{
	zmq_msg_t id, body, extra;
	const char *uid;
	uint8_t key[32];
	int registered, multi = 0, got = 0, rc;
	struct relay_conn *c;

	if (r->stopping || r->cm_busy) {
		/* While a COMMIT runs, requests wait in libzmq (relay_commit.c). */
		return 0;
	}
	zmq_msg_init(&id);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&id, r->router.zs, ZMQ_DONTWAIT) < 0) {
		goto out;
	}
	got = 1;
	if (!zmq_msg_more(&id) || zmq_msg_recv(&body, r->router.zs, ZMQ_DONTWAIT) < 0) {
		goto out;
	}
	while (zmq_msg_more(&body) || (multi && zmq_msg_more(&extra))) {
		/* A request is one frame; drain extra frames and refuse. */
		if (!multi) {
			zmq_msg_init(&extra);
			multi = 1;
		}
		if (zmq_msg_recv(&extra, r->router.zs, ZMQ_DONTWAIT) < 0) {
			break;
		}
		if (!zmq_msg_more(&extra)) {
			break;
		}
	}
	uid = zmq_msg_gets(&body, "User-Id");
	if (zap_user_id_parse(uid, key, &registered) != HALQA_OK) {
		goto out;
	}
	c = relay_conn_get(r, zmq_msg_data(&id), zmq_msg_size(&id), key);
	if (c != NULL && sodium_memcmp(c->key, key, 32) != 0) {
		/* A routing id the peer chose itself, now used by another device:
		 * the old connection's state (listens, queue) is not inherited. */
		relay_drop_conn(r, c->id, c->id_len);
		c = relay_conn_get(r, zmq_msg_data(&id), zmq_msg_size(&id), key);
	}
	if (c != NULL) {
		c->last_active_ms = relay_now_ms(r);
	}
	if (multi) {
		/* Handled as an undecodable frame: an error reply, and it counts
		 * towards the sender's malformed-input ban. */
		static const uint8_t junk[1] = {0};
		rc = relay_handle(r, key, registered, zmq_msg_data(&id), zmq_msg_size(&id), junk,
				  sizeof junk);
	} else {
		rc = relay_handle(r, key, registered, zmq_msg_data(&id), zmq_msg_size(&id),
				  zmq_msg_data(&body), zmq_msg_size(&body));
	}
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "request dropped: %s", halqa_strerror(rc));
	}
out:
	if (multi) {
		zmq_msg_close(&extra);
	}
	zmq_msg_close(&body);
	zmq_msg_close(&id);
	return got;
}

/*
 * send_head hands |c|'s first queued frame to libzmq. Returns 1 if sent, 0
 * if the peer's pipe is full (|c| is set aside for the retry timer), -1 if
 * the peer is gone (|c| has been freed).
 */
static int send_head(struct relay *r, struct relay_conn *c)
{
	struct relay_out *o;

	if (zmq_send(r->router.zs, c->id, c->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
		if (errno == EAGAIN) {
			/* This peer's pipe is full; others may still go. */
			relay_conn_block(r, c);
			if (!uv_is_active((uv_handle_t *)&r->retry_timer)) {
				uv_timer_start(&r->retry_timer, on_retry, RETRY_MS, RETRY_MS);
			}
			return 0;
		}
		/* EHOSTUNREACH: the peer is gone; forget it and its listens. */
		relay_drop_conn(r, c->id, c->id_len);
		return -1;
	}
	o = relay_conn_pop_head(c);
	{
		/* A copy shares the frame's buffer: no allocation per recipient. */
		zmq_msg_t m;

		zmq_msg_init(&m);
		if (zmq_msg_copy(&m, &o->frame->msg) != 0 ||
		    zmq_msg_send(&m, r->router.zs, ZMQ_DONTWAIT) < 0) {
			halqa_log(HALQA_LOG_WARN, "relay", "send failed: %s", zmq_strerror(errno));
			zmq_msg_close(&m);
		}
	}
	relay_out_free(o);
	return 1;
}

/*
 * relay_conn_flush sends what |c| has queued until its pipe is full. The
 * turn's output goes straight to libzmq this way, so a connection's own
 * queue grows only while its peer is not reading. Every caller runs the
 * router's pump afterwards, which re-reads ZMQ_EVENTS (PLATFORM.md).
 */
void relay_conn_flush(struct relay *r, struct relay_conn *c)
{
	int rc = 1;

	if (r->offline || !r->router.started) {
		return;
	}
	while (c->head != NULL && !c->blocked && (rc = send_head(r, c)) > 0) {
	}
	if (rc >= 0) {
		relay_ready_add(r, c);
	}
}

static int router_send_one(struct relay *r)
{
	struct relay_conn *c;

	while ((c = relay_ready_pop(r)) != NULL) {
		int rc;

		if (c->head == NULL || c->blocked) {
			continue;
		}
		rc = send_head(r, c);
		if (rc == 0) {
			continue;
		}
		if (rc > 0) {
			relay_ready_add(r, c);
		}
		return 1;
	}
	return 0;
}

static enum zap_verdict zap_lookup(void *ctx, const uint8_t key[32])
{
	struct relay *r = ctx;
	int status = SPOOL_DEVICE_UNKNOWN;

	if (relay_device_banned(r, key)) {
		return ZAP_DENIED;
	}
	if (spool_device_status(r->spool, key, &status) != HALQA_OK) {
		/* Storage trouble: a guest can do nothing harmful. */
		return ZAP_GUEST;
	}
	if (status == SPOOL_DEVICE_BANNED) {
		return ZAP_DENIED;
	}
	return status == SPOOL_DEVICE_REGISTERED ? ZAP_REGISTERED : ZAP_GUEST;
}

static int zap_recv_one(struct relay *r)
{
	int rc;

	if (r->cm_busy) {
		/* zap_lookup reads the spool: wait for the COMMIT (relay_loop_resume). */
		return 0;
	}
	rc = zap_serve_one(r->zap.zs, zap_lookup, r);

	if (rc == HALQA_ERR_NETWORK) {
		halqa_log(HALQA_LOG_ERROR, "zap", "ZAP socket failed: %s", zmq_strerror(errno));
	}
	return rc == HALQA_OK;
}

/*
 * monitor_recv_one counts open TCP connections by file descriptor: accepted
 * and not yet disconnected (libzmq reports a failed handshake as a
 * disconnect too; the handshake-succeeded event carries no descriptor).
 */
static int monitor_recv_one(struct relay *r)
{
	uint8_t ev[6];
	char addr[256];
	uint16_t event;
	uint32_t fd;
	int n;

	n = zmq_recv(r->monitor.zs, ev, sizeof ev, ZMQ_DONTWAIT);
	if (n < 0) {
		return 0;
	}
	/* The second frame (the endpoint) always follows. */
	if (zmq_recv(r->monitor.zs, addr, sizeof addr, 0) < 0 || n != 6) {
		return 1;
	}
	memcpy(&event, ev, 2);
	memcpy(&fd, ev + 2, 4);
	if (event == ZMQ_EVENT_ACCEPTED) {
		if (relay_map_put(&r->live_fds, (const uint8_t *)&fd, sizeof fd, r) == HALQA_OK) {
			r->live_connections = (long)r->live_fds.count;
		}
	} else if (event == ZMQ_EVENT_DISCONNECTED) {
		relay_map_del(&r->live_fds, (const uint8_t *)&fd, sizeof fd);
		r->live_connections = (long)r->live_fds.count;
	}
	return 1;
}

static int sock_start(struct relay *r, struct relay_sock *s)
{
	int fd;
	size_t len = sizeof fd;

	if (zmq_getsockopt(s->zs, ZMQ_FD, &fd, &len) != 0) {
		return HALQA_ERR_NETWORK;
	}
	s->relay = r;
	if (uv_poll_init(&r->loop, &s->poll, fd) != 0 || uv_idle_init(&r->loop, &s->idle) != 0) {
		return HALQA_ERR_IO;
	}
	s->poll.data = s;
	s->idle.data = s;
	s->started = 1;
	if (uv_poll_start(&s->poll, UV_READABLE, on_sock_poll) != 0) {
		return HALQA_ERR_IO;
	}
	/* Earlier zmq calls may have used up the fd's edge already. */
	pump(s);
	return HALQA_OK;
}

/* ---- loop callbacks ---- */

static void on_again(uv_idle_t *h)
{
	/* Only keeps the loop from blocking while a turn is pending. */
	(void)h;
}

/* keep_turning keeps the loop from blocking while a turn waits for its check. */
static void keep_turning(struct relay *r)
{
	if (!r->cm_busy && (r->num_pending > 0 || spool_turn_open(r->spool))) {
		uv_idle_start(&r->again, on_again);
	} else {
		/* Nothing to do, or a COMMIT runs and its uv_async wakes us. */
		uv_idle_stop(&r->again);
	}
}

static void on_check(uv_check_t *h)
{
	struct relay *r = h->data;

	relay_turn_close(r);
	if (r->ready != NULL) {
		pump(&r->router);
	}
	keep_turning(r);
}

void relay_zap_kick(struct relay *r)
{
	if (!r->offline && r->zap.started) {
		pump(&r->zap);
	}
}

void relay_loop_resume(struct relay *r)
{
	relay_kick(r);
	relay_zap_kick(r);
	keep_turning(r);
}

static void on_sweep(uv_timer_t *t)
{
	struct relay *r = t->data;
	int rc;

	relay_commit_wait(r);
	rc = relay_sweep(r);

	/* A backlog is worked off in small bites between requests. */
	uv_timer_start(t, on_sweep, rc == HALQA_ERR_LIMIT ? 20 : r->cfg.retention.sweep_interval_ms,
		       0);
}

static void on_house(uv_timer_t *t)
{
	struct relay *r = t->data;

	r->req_ring_pos = (r->req_ring_pos + 1) % 60;
	r->req_ring[r->req_ring_pos] = 0;
	relay_devices_prune(r);
	relay_conns_housekeeping(r);
	/*
	 * The safety net: were a pump ever to stop with the ZMQ_FD edge used
	 * up (PLATFORM.md), this would turn a hang into up to 1 s of latency,
	 * and hide the bug. Tests switch it off to prove nothing strands.
	 */
	if (!r->opt.test_no_safety_net) {
		relay_kick(r);
	}
}

static void on_retry(uv_timer_t *t)
{
	struct relay *r = t->data;

	if (r->num_blocked == 0) {
		uv_timer_stop(t);
		return;
	}
	relay_conns_unblock(r);
	relay_kick(r);
}

static void reload(struct relay *r)
{
	struct relay_config cfg = r->cfg;
	struct spool_limits sl;
	int rc;

	if (r->opt.config_path == NULL) {
		return;
	}
	rc = relay_config_load(&cfg, r->opt.config_path);
	if (rc != HALQA_OK && rc != HALQA_ERR_NOT_FOUND) {
		halqa_log(HALQA_LOG_ERROR, "relay", "reload: config refused, keeping the old one");
		return;
	}
	/*
	 * The endpoint and the mode stay until the next start, as halqad.conf
	 * and OPERATOR.md say: an operator who prepares `mode = open` for
	 * later and reloads for the limits must not open registration now.
	 */
	memcpy(cfg.listen, r->cfg.listen, sizeof cfg.listen);
	if (cfg.mode != r->cfg.mode && !r->opt.mode_forced) {
		halqa_log(HALQA_LOG_INFO, "relay",
			  "reload: mode %s in the configuration applies at the next start",
			  cfg.mode == RELAY_MODE_OPEN ? "open" : "invite");
	}
	cfg.mode = r->cfg.mode;
	if (r->opt.log_level_forced) {
		cfg.log_level = r->cfg.log_level;
	}
	/*
	 * The turn so far ran under the old limits: commit it, then change the
	 * limits in place. Never reopen the spool here: a second open of the
	 * file from this process drops the daemon's lock on it (spool.h).
	 */
	relay_end_turn(r);
	spool_limits_from(&cfg, &sl);
	if (spool_limits_set(r->spool, &sl) != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "reload: limits refused, old config kept");
		return;
	}
	r->cfg = cfg;
	halqa_log_set_level(r->cfg.log_level);
	relay_devices_apply_limits(r);
	halqa_log(HALQA_LOG_INFO, "relay", "configuration reloaded (mode %s)",
		  r->cfg.mode == RELAY_MODE_OPEN ? "open" : "invite");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct relay *r = h->data;

	if (signum == SIGHUP) {
		reload(r);
		return;
	}
	halqa_log(HALQA_LOG_INFO, "relay", "signal %d: shutting down", signum);
	if (r->stop_ms == 0) {
		r->stop_ms = mono_ms();
	}
	r->stopping = 1;
	uv_stop(&r->loop);
}

/* ---- admin ---- */

static void admin_status(struct relay *r, char *out, size_t out_len)
{
	struct spool_stats st;
	uint64_t sum = 0;
	unsigned secs = 0;
	uint64_t up = relay_now_sec(r) - r->start_sec;

	memset(&st, 0, sizeof st);
	if (spool_stats(r->spool, &st) != HALQA_OK) {
		snprintf(out, out_len, "error storage\n");
		return;
	}
	/* The current second is still filling: average the 59 before it. */
	for (unsigned i = 1; i < 60; i++) {
		unsigned k = (r->req_ring_pos + 60 - i) % 60;
		if ((uint64_t)i <= up) {
			sum += r->req_ring[k];
			secs++;
		}
	}
	snprintf(out, out_len,
		 "connections %ld\n"
		 "devices %llu\n"
		 "banned %llu\n"
		 "invites %llu\n"
		 "circles %llu\n"
		 "messages %llu\n"
		 "message_bytes %llu\n"
		 "mailbox_items %llu\n"
		 "mailbox_bytes %llu\n"
		 "keypackages %llu\n"
		 "listening_circles %zu\n"
		 "requests_total %llu\n"
		 "requests_per_sec %.1f\n"
		 "pushes_total %llu\n"
		 "commits_total %llu\n"
		 "overflows_total %llu\n"
		 "temporary_bans %llu\n"
		 "uptime %llu\n",
		 r->live_connections, (unsigned long long)st.devices,
		 (unsigned long long)st.banned, (unsigned long long)st.invites,
		 (unsigned long long)st.circles, (unsigned long long)st.messages,
		 (unsigned long long)st.message_bytes, (unsigned long long)st.mailbox_items,
		 (unsigned long long)st.mailbox_bytes, (unsigned long long)st.keypackages,
		 r->circles.count, (unsigned long long)r->requests_total,
		 secs == 0 ? 0.0 : (double)sum / secs, (unsigned long long)r->pushes_total,
		 (unsigned long long)r->commits_total,
		 (unsigned long long)r->overflows_total, (unsigned long long)r->bans_total,
		 (unsigned long long)up);
}

/*
 * admin_ban bans or unbans a device key (hex, or Z85) in the spool and in memory:
 * new connections are refused by ZAP, and frames on a connection it already
 * has are dropped unanswered from now on.
 */
static void admin_ban(struct relay *r, const char *line, char *out, size_t out_len)
{
	int ban = line[0] == 'b';
	const char *text = line + (ban ? 4 : 6);
	uint8_t key[32];
	struct relay_device *d;
	int rc;

	if (relay_keys_parse_device(text, key) != HALQA_OK) {
		snprintf(out, out_len, "error bad key\n");
		return;
	}
	rc = spool_device_ban(r->spool, key, ban, relay_now_sec(r));
	if (rc == HALQA_OK) {
		rc = relay_end_turn(r);
	}
	if (rc != HALQA_OK) {
		snprintf(out, out_len, "error %s\n", halqa_strerror(rc));
		return;
	}
	d = relay_device_get(r, key);
	if (d != NULL) {
		d->banned_until_ms = ban ? UINT64_MAX : 0;
	}
	halqa_log(HALQA_LOG_INFO, "relay", "device %s", ban ? "banned" : "unbanned");
	snprintf(out, out_len, "ok\n");
}

/*
 * fault_arg reads the number of a fault-injection admin line (`fail
 * commits N`, `delay commit MS`) into |*out_n|: 1 if it may run, else 0
 * with the error written to |out|.
 */
static int fault_arg(const struct relay *r, const char *arg, unsigned long max, const char *what,
		     unsigned long *out_n, char *out, size_t out_len)
{
	char *end;

	if (!r->opt.test_faults) {
		snprintf(out, out_len, "error fault injection needs --test-faults\n");
		return 0;
	}
	errno = 0;
	*out_n = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || *out_n > max) {
		snprintf(out, out_len, "error bad %s\n", what);
		return 0;
	}
	return 1;
}

static void admin_command(void *ctx, const char *line, char *out, size_t out_len)
{
	struct relay *r = ctx;
	uint64_t secs;
	unsigned long n;

	/* Every command may read or write the spool. */
	relay_commit_wait(r);

	if (strcmp(line, "status") == 0) {
		admin_status(r, out, out_len);
		return;
	}
	if (strncmp(line, "clock advance ", 14) == 0) {
		if (!r->opt.test_clock) {
			snprintf(out, out_len, "error clock control needs --test-clock\n");
			return;
		}
		if (relay_config_parse_duration(line + 14, &secs) != HALQA_OK ||
		    secs > 100ull * 365 * 86400) {
			snprintf(out, out_len, "error bad duration\n");
			return;
		}
		relay_clock_advance(r, secs);
		halqa_log(HALQA_LOG_WARN, "relay", "test clock advanced by %llus",
			  (unsigned long long)secs);
		/* Retention applies at once, as it would have over that time. */
		uv_timer_start(&r->sweep_timer, on_sweep, 0, 0);
		snprintf(out, out_len, "ok clock %llu\n", (unsigned long long)relay_now_sec(r));
		return;
	}
	if (strncmp(line, "ban ", 4) == 0 || strncmp(line, "unban ", 6) == 0) {
		admin_ban(r, line, out, out_len);
		return;
	}
	if (strncmp(line, "fail commits ", 13) == 0) {
		if (fault_arg(r, line + 13, 1000, "count", &n, out, out_len)) {
			relay_inject_commit_failure(r, (unsigned)n);
			halqa_log(HALQA_LOG_WARN, "relay", "the next %lu commits will fail (test)", n);
			snprintf(out, out_len, "ok fail commits %lu\n", n);
		}
		return;
	}
	if (strncmp(line, "delay commit ", 13) == 0) {
		if (fault_arg(r, line + 13, 60000, "duration", &n, out, out_len)) {
			spool_inject_commit_delay(r->spool, (unsigned)n);
			halqa_log(HALQA_LOG_WARN, "relay",
				  "the next commit will take %lu ms longer (test)", n);
			snprintf(out, out_len, "ok delay commit %lu\n", n);
		}
		return;
	}
	if (strcmp(line, "sweep") == 0) {
		int rc;
		while ((rc = relay_sweep(r)) == HALQA_ERR_LIMIT) {
			relay_end_turn(r);
		}
		relay_end_turn(r);
		snprintf(out, out_len, rc == HALQA_OK ? "ok sweep\n" : "error sweep\n");
		return;
	}
	snprintf(out, out_len, "error unknown command\n");
}

/* ---- setup and teardown ---- */

static int set_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof v) == 0 ? HALQA_OK : HALQA_ERR_NETWORK;
}

static int lock_dir(struct relay *r)
{
	char path[RELAY_CONFIG_PATH_MAX];
	int rc;

	if ((rc = relay_config_path(path, sizeof path, r->opt.data_dir, "halqad.lock")) != 0) {
		return rc;
	}
	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lock_fd < 0) {
		halqa_log(HALQA_LOG_ERROR, "relay", "cannot open the lock file: %s", strerror(errno));
		return HALQA_ERR_IO;
	}
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		halqa_log(HALQA_LOG_ERROR, "relay", "another halqad runs on this data directory");
		return HALQA_ERR_EXISTS;
	}
	return HALQA_OK;
}

static int setup_network(struct relay *r)
{
	char path[RELAY_CONFIG_PATH_MAX];
	uint8_t *sec = NULL;
	int rc;

	if ((rc = relay_config_path(path, sizeof path, r->opt.data_dir, "server.key")) != 0) {
		return rc;
	}
	sec = sodium_malloc(32);
	if (sec == NULL) {
		return HALQA_ERR_NOMEM;
	}
	rc = relay_keys_load(path, sec, r->server_pub);
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "cannot load the server key: %s%s",
			  halqa_strerror(rc),
			  rc == HALQA_ERR_DENIED ? " (the key file must be mode 0600)" : "");
		goto out;
	}
	r->zctx = zmq_ctx_new();
	if (r->zctx == NULL) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	/* ZAP first: a ROUTER with no handler bound would accept every key. */
	r->zap.zs = zmq_socket(r->zctx, ZMQ_REP);
	if (r->zap.zs == NULL || set_int(r->zap.zs, ZMQ_LINGER, 0) != 0 ||
	    zmq_bind(r->zap.zs, ZAP_ENDPOINT) != 0) {
		halqa_log(HALQA_LOG_ERROR, "zap", "cannot bind the ZAP handler: %s",
			  zmq_strerror(errno));
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	r->router.zs = zmq_socket(r->zctx, ZMQ_ROUTER);
	if (r->router.zs == NULL) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	if ((rc = set_int(r->router.zs, ZMQ_CURVE_SERVER, 1)) != 0 ||
	    (rc = zmq_setsockopt(r->router.zs, ZMQ_CURVE_SECRETKEY, sec, 32) == 0
			  ? HALQA_OK
			  : HALQA_ERR_NETWORK) != 0 ||
	    (rc = zmq_setsockopt(r->router.zs, ZMQ_ZAP_DOMAIN, "halqa", 5) == 0
			  ? HALQA_OK
			  : HALQA_ERR_NETWORK) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_ROUTER_MANDATORY, 1)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_SNDHWM, RELAY_ZMQ_SNDHWM)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_RCVHWM, RELAY_ZMQ_RCVHWM)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_BACKLOG, RELAY_ZMQ_BACKLOG)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_LINGER, 200)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_TCP_KEEPALIVE, 1)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_TCP_KEEPALIVE_IDLE, RELAY_KEEPALIVE_IDLE_S)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_TCP_KEEPALIVE_INTVL, RELAY_KEEPALIVE_INTVL_S)) != 0 ||
	    (rc = set_int(r->router.zs, ZMQ_TCP_KEEPALIVE_CNT, RELAY_KEEPALIVE_CNT)) != 0) {
		goto out;
	}
	{
		int64_t max = WIRE_MAX_FRAME;
		if (zmq_setsockopt(r->router.zs, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0) {
			rc = HALQA_ERR_NETWORK;
			goto out;
		}
	}
	if (zmq_socket_monitor(r->router.zs, MONITOR_ENDPOINT,
			       ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	r->monitor.zs = zmq_socket(r->zctx, ZMQ_PAIR);
	if (r->monitor.zs == NULL || set_int(r->monitor.zs, ZMQ_LINGER, 0) != 0 ||
	    zmq_connect(r->monitor.zs, MONITOR_ENDPOINT) != 0) {
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	if (zmq_bind(r->router.zs, r->cfg.listen) != 0) {
		halqa_log(HALQA_LOG_ERROR, "relay", "cannot listen on %s: %s", r->cfg.listen,
			  zmq_strerror(errno));
		rc = HALQA_ERR_NETWORK;
		goto out;
	}
	rc = HALQA_OK;
out:
	sodium_free(sec);
	if (rc != HALQA_OK && rc != HALQA_ERR_NOMEM && rc != HALQA_ERR_EXISTS &&
	    rc != HALQA_ERR_NOT_FOUND) {
		rc = rc == HALQA_ERR_DENIED ? rc : HALQA_ERR_IO;
	}
	return rc;
}

static int setup_loop(struct relay *r)
{
	char path[RELAY_CONFIG_PATH_MAX];
	int rc;

	if (uv_loop_init(&r->loop) != 0) {
		return HALQA_ERR_IO;
	}
	r->loop_inited = 1;
	r->router.recv_one = router_recv_one;
	r->router.send_one = router_send_one;
	r->zap.recv_one = zap_recv_one;
	r->monitor.recv_one = monitor_recv_one;
	if (uv_check_init(&r->loop, &r->check) != 0 || uv_idle_init(&r->loop, &r->again) != 0 ||
	    uv_timer_init(&r->loop, &r->sweep_timer) != 0 ||
	    uv_timer_init(&r->loop, &r->house_timer) != 0 ||
	    uv_timer_init(&r->loop, &r->retry_timer) != 0 ||
	    uv_signal_init(&r->loop, &r->sig_term) != 0 ||
	    uv_signal_init(&r->loop, &r->sig_int) != 0 ||
	    uv_signal_init(&r->loop, &r->sig_hup) != 0) {
		return HALQA_ERR_IO;
	}
	r->handles_started = 1;
	r->check.data = r->again.data = r->sweep_timer.data = r;
	r->house_timer.data = r->retry_timer.data = r;
	r->sig_term.data = r->sig_int.data = r->sig_hup.data = r;
	if ((rc = relay_config_path(path, sizeof path, r->opt.data_dir, ADMIN_SOCKET_NAME)) != 0 ||
	    (rc = admin_server_start(&r->admin, &r->loop, path, admin_command, r)) != 0 ||
	    (rc = relay_commit_start(r)) != 0) {
		return rc;
	}
	return HALQA_OK;
}

int relay_new(struct relay **out, const struct relay_options *opt)
{
	struct relay *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		return HALQA_ERR_NOMEM;
	}
	r->opt = *opt;
	r->cfg = opt->config;
	r->lock_fd = -1;
	r->offline = opt->output != NULL;
	relay_map_init(&r->conns);
	relay_map_init(&r->circles);
	relay_map_init(&r->devices);
	relay_map_init(&r->live_fds);
	r->req = malloc(sizeof *r->req);
	r->rep = malloc(sizeof *r->rep);
	r->push = malloc(sizeof *r->push);
	if (r->req == NULL || r->rep == NULL || r->push == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	wire_msg_init(r->req, WIRE_PING, 0);
	wire_msg_init(r->rep, WIRE_OK, 0);
	wire_msg_init(r->push, WIRE_DELIVER, 0);
	if (r->offline) {
		if (opt->db_path == NULL || strlen(opt->db_path) >= sizeof r->db_path) {
			rc = HALQA_ERR_ARG;
			goto out;
		}
		memcpy(r->db_path, opt->db_path, strlen(opt->db_path) + 1);
	} else if (opt->data_dir == NULL ||
		   (rc = relay_config_path(r->db_path, sizeof r->db_path, opt->data_dir,
					   "relay.db")) != HALQA_OK) {
		rc = HALQA_ERR_ARG;
		goto out;
	}
	r->start_sec = relay_now_sec(r);
	if (!r->offline && (rc = lock_dir(r)) != HALQA_OK) {
		goto out;
	}
	if ((rc = open_spool(r)) != HALQA_OK) {
		goto out;
	}
	if (!r->offline) {
		if ((rc = setup_network(r)) != HALQA_OK || (rc = setup_loop(r)) != HALQA_OK) {
			goto out;
		}
	}
	*out = r;
	r = NULL;
	rc = HALQA_OK;
out:
	relay_free(r);
	return rc;
}

int relay_run(struct relay *r)
{
	int rc;

	if (r->offline) {
		return HALQA_ERR_ARG;
	}
	if (uv_check_start(&r->check, on_check) != 0 ||
	    uv_timer_start(&r->sweep_timer, on_sweep, r->cfg.retention.sweep_interval_ms, 0) != 0 ||
	    uv_timer_start(&r->house_timer, on_house, HOUSE_MS, HOUSE_MS) != 0 ||
	    uv_signal_start(&r->sig_term, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&r->sig_int, on_signal, SIGINT) != 0 ||
	    uv_signal_start(&r->sig_hup, on_signal, SIGHUP) != 0) {
		return HALQA_ERR_IO;
	}
	/*
	 * halqad blocks these from its first instruction (main.c); with the
	 * handlers in place one that arrived during startup is delivered now
	 * and stops the loop on its first turn.
	 */
	{
		sigset_t stop;

		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGHUP);
		if (pthread_sigmask(SIG_UNBLOCK, &stop, NULL) != 0) {
			return HALQA_ERR_IO;
		}
	}
	if ((rc = sock_start(r, &r->zap)) != HALQA_OK ||
	    (rc = sock_start(r, &r->monitor)) != HALQA_OK ||
	    (rc = sock_start(r, &r->router)) != HALQA_OK) {
		return rc;
	}
	halqa_log(HALQA_LOG_INFO, "relay", "listening on %s (%s mode)", r->cfg.listen,
		  r->cfg.mode == RELAY_MODE_OPEN ? "open" : "invite");
	uv_run(&r->loop, UV_RUN_DEFAULT);

	/* Graceful stop: commit what was received, send what can be sent. */
	r->stopping = 1;
	if (r->stop_ms == 0) {
		r->stop_ms = mono_ms();
	}
	relay_end_turn(r);
	for (int i = 0; i < 64 && r->ready != NULL; i++) {
		pump(&r->router);
	}
	halqa_log(HALQA_LOG_INFO, "relay", "stopped: last turn committed and sent %llu ms after the signal",
		  (unsigned long long)(mono_ms() - r->stop_ms));
	return HALQA_OK;
}

/* drain_monitor discards every monitor event already queued for us. */
static void drain_monitor(struct relay *r)
{
	char sink[256];

	if (r->monitor.zs == NULL) {
		return;
	}
	while (zmq_recv(r->monitor.zs, sink, sizeof sink, ZMQ_DONTWAIT) >= 0) {
	}
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void close_handle(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h)) {
		uv_close(h, close_cb);
	}
}

void relay_free(struct relay *r)
{
	if (r == NULL) {
		return;
	}
	if (r->loop_inited) {
		struct relay_sock *socks[] = {&r->router, &r->zap, &r->monitor};

		/* Its last COMMIT's output goes out while the sockets are open. */
		relay_commit_stop(r);
		if (r->cm_async_inited) {
			close_handle((uv_handle_t *)&r->cm_async);
		}
		for (size_t i = 0; i < 3; i++) {
			if (socks[i]->started) {
				/* libuv's handles go before zmq_close (PLATFORM.md rule 5). */
				uv_poll_stop(&socks[i]->poll);
				close_handle((uv_handle_t *)&socks[i]->poll);
				close_handle((uv_handle_t *)&socks[i]->idle);
			}
		}
		if (r->handles_started) {
			uv_handle_t *hs[] = {(uv_handle_t *)&r->check,       (uv_handle_t *)&r->again,
					     (uv_handle_t *)&r->sweep_timer, (uv_handle_t *)&r->house_timer,
					     (uv_handle_t *)&r->retry_timer, (uv_handle_t *)&r->sig_term,
					     (uv_handle_t *)&r->sig_int,     (uv_handle_t *)&r->sig_hup};
			for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
				close_handle(hs[i]);
			}
		}
		admin_server_close(r->admin);
		r->admin = NULL;
		uv_run(&r->loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&r->loop);
	}
	if (r->router.zs != NULL) {
		/*
		 * Stop the monitor before closing our end of it. libzmq's I/O
		 * thread sends each event with a blocking send, holding the
		 * monitor's lock; once our PAIR is gone (or its pipe is full)
		 * that send never returns, and zmq_socket_monitor(NULL) waits
		 * for the lock for ever. An event that fell in that window (a
		 * peer connecting or leaving during the stop) hung halqad at
		 * exit: the rare "status 9" of the SIGTERM tests (gdb: the I/O
		 * thread in zmq_msg_send, the main thread here). Draining first
		 * leaves the pipe room for what the I/O thread still emits.
		 */
		drain_monitor(r);
		zmq_socket_monitor(r->router.zs, NULL, 0);
	}
	if (r->monitor.zs != NULL) {
		zmq_close(r->monitor.zs);
	}
	if (r->router.zs != NULL) {
		zmq_close(r->router.zs);
	}
	if (r->zap.zs != NULL) {
		zmq_close(r->zap.zs);
	}
	if (r->zctx != NULL) {
		uint64_t t0 = mono_ms();

		/* Blocks until libzmq's sockets are gone: at most the ROUTER's
		 * LINGER (200 ms) for replies still on their way out. */
		while (zmq_ctx_term(r->zctx) != 0 && errno == EINTR) {
		}
		if (r->stop_ms != 0) {
			halqa_log(HALQA_LOG_INFO, "relay", "sockets closed in %llu ms",
				  (unsigned long long)(mono_ms() - t0));
		}
	}
	/* Unsent output of an unfinished turn is dropped, not delivered. */
	r->offline = 1;
	r->opt.output = NULL;
	relay_release_pending(r, 1);
	relay_conn_free_all(r);
	relay_map_cleanup(&r->live_fds);
	if (r->spool != NULL) {
		uint64_t t0 = mono_ms();

		spool_close(r->spool);
		if (r->stop_ms != 0) {
			halqa_log(HALQA_LOG_INFO, "relay", "store closed in %llu ms; %llu ms since the signal",
				  (unsigned long long)(mono_ms() - t0),
				  (unsigned long long)(mono_ms() - r->stop_ms));
		}
	}
	relay_commit_cleanup(r);
	if (r->lock_fd >= 0) {
		close(r->lock_fd);
	}
	if (r->req != NULL) {
		wire_msg_cleanup(r->req);
	}
	if (r->rep != NULL) {
		wire_msg_cleanup(r->rep);
	}
	if (r->push != NULL) {
		wire_msg_cleanup(r->push);
	}
	free(r->req);
	free(r->rep);
	free(r->push);
	free(r);
}
