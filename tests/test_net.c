/*
 * test_net.c: the client's relay connection on a libuv loop, against the
 * real halqad (--open) and against a hostile fake relay. HELLO, REGISTER,
 * PING; a circle with a DELIVER push through the push callback; timeouts
 * with the relay stopped; reconnect after a relay restart; a wrong relay
 * key and a banned device give their own errors, not a timeout; hundreds
 * of requests in flight complete exactly once; close fails what is
 * pending; sending from inside callbacks (between two wake-ups of the
 * socket's fd) strands nothing; and garbage, unknown ids, replays,
 * mismatched and out-of-order replies never complete the wrong request.
 * A dropped connection fails what is in flight at once (with a timeout far
 * too long to wait out), after the answers that came before the drop;
 * while the relay is down requests fail as soon as a fresh attempt is
 * refused; when it is back they connect at once; and the late answer to
 * a request failed by the drop completes nothing.
 */
#include "halqa/net.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include <zmq.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

#define T_MS 5000

/* A client under test: loop, context, keys, and the net. */
struct fixture {
	uv_loop_t loop;
	void *ctx;
	uint8_t pub[32], sec[32];
	struct relayaddr addr;
	struct net *net;
};

static struct wire_msg req, rep;

static int fixture_open(struct fixture *f, const char *address_line)
{

	memset(f, 0, sizeof *f);
	if (uv_loop_init(&f->loop) != 0) {
		return HALQA_ERR_INTERNAL;
	}
	f->ctx = zmq_ctx_new();
	crypto_box_keypair(f->pub, f->sec);
	if (f->ctx == NULL || relayaddr_parse(&f->addr, address_line) != HALQA_OK) {
		return HALQA_ERR_INTERNAL;
	}
	return net_new(&f->net, &f->loop, f->ctx, &f->addr, f->pub, f->sec, NULL);
}

/* Closes the net, runs the loop until every handle is gone, and checks the loop closes clean. */
static void fixture_close(struct fixture *f)
{
	net_close(f->net);
	f->net = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&f->loop), 0);
	zmq_ctx_term(f->ctx);
	sodium_memzero(f->sec, sizeof f->sec);
}

/* The address line of the running relay, with the port it really listens on. */
static const char *line_of(struct relay_test *t)
{
	return t->address_line;
}

static void on_deadline(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Runs |loop| until *flag or |ms| pass; returns *flag. */
static int run_until(uv_loop_t *loop, const int *flag, unsigned ms)
{
	uv_timer_t deadline;
	int expired = 0;

	uv_timer_init(loop, &deadline);
	deadline.data = &expired;
	uv_timer_start(&deadline, on_deadline, ms, 0);
	while (!*flag && !expired) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

static void register_open(struct fixture *f)
{
	steps_hello(&req);
	CHECK_OK(net_call(f->net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.type, WIRE_OK);
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_HELLO);
	CHECK_INT_EQ(rep.u.ok.u.hello.version, 1);
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 0);
	steps_register(&req, "");
	CHECK_OK(net_call(f->net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_REGISTER);
	steps_hello(&req);
	CHECK_OK(net_call(f->net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 1);
	CHECK(net_connected(f->net));
}

static void test_hello_register_ping(void)
{
	struct relay_test t = {0};
	struct fixture f;
	struct net_stats st;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_PING);
	/*
	 * The loop sits still longer than the next request's timeout: that
	 * request's timer still counts from when it is made, not from the
	 * loop's last wake-up (it would expire unsent). The timeout is long
	 * enough for a loopback PING on a loaded machine.
	 */
	{
		struct timespec ts = {4, 500 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_call(f.net, &req, &rep, 4000));
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_PING);
	/* A second REGISTER is an ERR from the relay, with the reply in hand. */
	steps_register(&req, "");
	CHECK_RC(net_call(f.net, &req, &rep, T_MS), wire_err_to_halqa(WIRE_ERR_ALREADY_REGISTERED));
	CHECK_INT_EQ(rep.type, WIRE_ERR);
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_ALREADY_REGISTERED);
	/* Not a request type: refused at once. */
	wire_msg_init(&req, WIRE_OK, 1);
	CHECK_RC(net_call(f.net, &req, &rep, T_MS), HALQA_ERR_ARG);
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.replies, 6);
	CHECK_INT_EQ(st.dropped_garbage + st.dropped_unknown + st.dropped_mismatch, 0);
	CHECK_INT_EQ(st.connects, 1);
	fixture_close(&f);
	steps_stop(&t);
}

/* ---- pushes, and sending between two wake-ups ---- */

struct push_state {
	struct fixture *f;
	int pushes;
	uint64_t last_seq;
	int pings_sent, pings_ok, pings_bad;
	int chain_left;
	int chain_done;
	int seen[64];
	int want_pushes;
	int done;
};

static void on_ping_from_cb(void *arg, int status, const struct wire_msg *reply)
{
	struct push_state *ps = arg;

	if (status == HALQA_OK && reply != NULL && reply->u.ok.for_type == WIRE_PING) {
		ps->pings_ok++;
	} else {
		ps->pings_bad++;
	}
	ps->done = ps->pushes == ps->want_pushes && ps->pings_ok + ps->pings_bad == ps->pings_sent;
}

static void on_push(void *arg, const struct wire_msg *m)
{
	struct push_state *ps = arg;
	struct wire_msg *ping = malloc(sizeof *ping);
	size_t idx;

	CHECK_INT_EQ(m->type, WIRE_DELIVER);
	CHECK(m->u.deliver.seq > ps->last_seq);
	ps->last_seq = m->u.deliver.seq;
	CHECK(m->u.deliver.payload.len >= 1);
	idx = m->u.deliver.payload.data[0];
	if (idx < 64) {
		ps->seen[idx]++;
	}
	ps->pushes++;
	/* Send on the socket from inside the receive path: the next push must still arrive. */
	if (ping != NULL) {
		wire_msg_init(ping, WIRE_PING, 1);
		if (net_request(ps->f->net, ping, on_ping_from_cb, ps, T_MS) == HALQA_OK) {
			ps->pings_sent++;
		}
		free(ping);
	}
	ps->done = ps->pushes == ps->want_pushes && ps->pings_ok + ps->pings_bad == ps->pings_sent;
}

static void test_circle_push_and_no_stranding(void)
{
	struct relay_test t = {0};
	struct fixture f;
	struct relay_client *b = NULL;
	struct steps_circle ci;
	struct push_state ps;
	uint8_t body[2];
	uint64_t seq;
	int i;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);
	memset(&ps, 0, sizeof ps);
	ps.f = &f;
	net_set_push_cb(f.net, on_push, &ps);

	/* The circle is created, listened to and written through the net. */
	memset(&ci, 0, sizeof ci);
	randombytes_buf(ci.id, sizeof ci.id);
	randombytes_buf(ci.caps, sizeof ci.caps);
	wire_msg_init(&req, WIRE_CIRCLE_CREATE, 1);
	memcpy(req.u.circle_create.circle_id, ci.id, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(req.u.circle_create.cap_hash, ci.caps[0]));
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	steps_listen(&req, &ci, 0);
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.u.listen.epoch, 0);
	body[0] = 0;
	body[1] = 'x';
	ps.want_pushes = 1;
	steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, body, sizeof body, NULL);
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.u.send.seq, 1);
	/* Our own message comes back as a push (the relay pushes to every listener). */
	CHECK(run_until(&f.loop, &ps.done, T_MS));
	CHECK_INT_EQ(ps.seen[0], 1);

	/*
	 * Another device writes a burst while our push callback sends a PING
	 * for each push: pushes and replies interleave on one socket and
	 * every send happens between two wake-ups of its fd.
	 */
	CHECK_OK(relay_test_client(&t, &b, NULL, NULL));
	steps_register(&req, "");
	CHECK_OK(steps_call(b, &req, NULL));
	ps.want_pushes = 41;
	ps.done = 0;
	for (i = 1; i <= 40; i++) {
		body[0] = (uint8_t)i;
		steps_send(&req, &ci, 0, WIRE_KIND_APPLICATION, body, sizeof body, NULL);
		CHECK_OK(steps_call(b, &req, &rep));
		seq = rep.u.ok.u.send.seq;
		CHECK_INT_EQ(seq, (uint64_t)i + 1);
		if (i % 10 == 0) {
			/* Let some arrive while the rest are still being sent. */
			uv_run(&f.loop, UV_RUN_NOWAIT);
		}
	}
	CHECK(run_until(&f.loop, &ps.done, 10000));
	CHECK_INT_EQ(ps.pushes, 41);
	CHECK_INT_EQ(ps.pings_sent, 41);
	CHECK_INT_EQ(ps.pings_ok, 41);
	for (i = 0; i <= 40; i++) {
		CHECK_INT_EQ(ps.seen[i], 1);
	}
	relay_client_free(b);
	fixture_close(&f);
	steps_stop(&t);
}

/* A chain of requests, each sent from the previous one's reply callback. */
struct chain {
	struct fixture *f;
	int left;
	int ok;
	int done;
};

static void on_chain(void *arg, int status, const struct wire_msg *reply)
{
	struct chain *c = arg;
	struct wire_msg *ping;

	if (status == HALQA_OK && reply->u.ok.for_type == WIRE_PING) {
		c->ok++;
	}
	if (--c->left == 0) {
		c->done = 1;
		return;
	}
	ping = malloc(sizeof *ping);
	if (ping == NULL) {
		c->done = 1;
		return;
	}
	wire_msg_init(ping, WIRE_PING, 1);
	if (net_request(c->f->net, ping, on_chain, c, T_MS) != HALQA_OK) {
		c->done = 1;
	}
	free(ping);
}

/* ---- many in flight, close, exactly once ---- */

struct counted {
	int calls;
	int status;
	int type;
};

static void on_counted(void *arg, int status, const struct wire_msg *reply)
{
	struct counted *c = arg;

	c->calls++;
	c->status = status;
	c->type = reply != NULL ? reply->u.ok.for_type : -1;
}

static int all_called(const struct counted *c, int num)
{
	int i;

	for (i = 0; i < num; i++) {
		if (c[i].calls == 0) {
			return 0;
		}
	}
	return 1;
}

static void test_many_in_flight_chain_and_close(void)
{
	enum { N = 300 };
	struct relay_test t = {0};
	struct fixture f;
	struct counted *c = calloc(N, sizeof *c);
	struct chain ch;
	int i, flag = 0, sent = 0;

	if (c == NULL || relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		free(c);
		return;
	}
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);
	for (i = 0; i < N; i++) {
		wire_msg_init(&req, (i % 3 == 0) ? WIRE_HELLO : WIRE_PING, 1);
		if (i % 3 == 0) {
			steps_hello(&req);
		}
		CHECK_OK(net_request(f.net, &req, on_counted, &c[i], T_MS));
	}
	for (i = 0; i < 200 && !all_called(c, N); i++) {
		run_until(&f.loop, &flag, 50);
	}
	for (i = 0; i < N; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
		CHECK_INT_EQ(c[i].status, HALQA_OK);
		CHECK_INT_EQ(c[i].type, (i % 3 == 0) ? WIRE_HELLO : WIRE_PING);
	}

	ch.f = &f;
	ch.left = 50;
	ch.ok = 0;
	ch.done = 0;
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_chain, &ch, T_MS));
	CHECK(run_until(&f.loop, &ch.done, 10000));
	CHECK_INT_EQ(ch.ok, 50);

	/* Pending requests at close: each gets HALQA_ERR_NETWORK, once. */
	memset(c, 0, N * sizeof *c);
	for (i = 0; i < 20; i++) {
		wire_msg_init(&req, WIRE_PING, 1);
		sent += net_request(f.net, &req, on_counted, &c[i], T_MS) == HALQA_OK;
	}
	CHECK_INT_EQ(sent, 20);
	net_close(f.net);
	for (i = 0; i < 20; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
		CHECK_INT_EQ(c[i].status, HALQA_ERR_NETWORK);
	}
	f.net = NULL;
	wire_msg_init(&req, WIRE_PING, 1);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	for (i = 0; i < 20; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
	}
	CHECK_INT_EQ(uv_loop_close(&f.loop), 0);
	zmq_ctx_term(f.ctx);
	free(c);
	steps_stop(&t);
}

/* ---- the bound on outstanding requests ---- */

static void test_pending_bound(void)
{
	struct fixture f;
	struct counted *c = calloc(NET_MAX_PENDING + 1, sizeof *c);
	char line[RELAYADDR_MAX_LINE];
	struct relayaddr a;
	int i;

	/* Nobody listens on this port: requests queue and wait. */
	memset(&a, 0, sizeof a);
	strcpy(a.relay.host, "127.0.0.1");
	a.relay.port = 1;
	randombytes_buf(a.server_key, sizeof a.server_key);
	CHECK_OK(relayaddr_format(line, sizeof line, &a));
	if (c == NULL) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line));
	for (i = 0; i < NET_MAX_PENDING; i++) {
		wire_msg_init(&req, WIRE_PING, 1);
		CHECK_OK(net_request(f.net, &req, on_counted, &c[i], 60000));
	}
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(net_request(f.net, &req, on_counted, &c[NET_MAX_PENDING], 60000), HALQA_ERR_LIMIT);
	fixture_close(&f);
	for (i = 0; i < NET_MAX_PENDING; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
		CHECK_INT_EQ(c[i].status, HALQA_ERR_NETWORK);
	}
	CHECK_INT_EQ(c[NET_MAX_PENDING].calls, 0);
	free(c);
}

/* ---- timeouts and reconnects ---- */

static void test_timeout_and_restart(void)
{
	struct relay_test t = {0};
	struct fixture f;
	struct net_stats st;
	int i, rc = HALQA_ERR_NETWORK;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);

	CHECK_OK(relay_test_kill(&t, SIGSTOP));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(net_call(f.net, &req, &rep, 300), HALQA_ERR_NETWORK);
	CHECK_OK(relay_test_kill(&t, SIGCONT));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.timeouts, 1);
	/* The stopped relay's late answer to the timed-out PING was dropped, not misdelivered. */
	CHECK_INT_EQ(st.dropped_unknown, 1);

	/* A restart: the socket reconnects by itself and later requests succeed. */
	CHECK_OK(relay_test_restart(&t));
	for (i = 0; i < 5 && rc != HALQA_OK; i++) {
		wire_msg_init(&req, WIRE_PING, 1);
		rc = net_call(f.net, &req, &rep, 3000);
	}
	CHECK_OK(rc);
	steps_hello(&req);
	CHECK_OK(net_call(f.net, &req, &rep, T_MS));
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 1); /* registration survived on disk */
	net_stats(f.net, &st);
	CHECK(st.connects >= 2);
	fixture_close(&f);
	steps_stop(&t);
}

/* ---- faults: wrong relay key, banned device ---- */

static int last_event;

static void on_event(void *arg, enum net_event ev)
{
	(void)arg;
	last_event = (int)ev;
}

static void test_wrong_key_and_banned(void)
{
	struct relay_test t = {0};
	struct fixture f;
	struct relayaddr a;
	char line[RELAYADDR_MAX_LINE], cmd[128], z85[41];
	uint8_t pub[32], sec[32];
	struct counted c = {0};
	int status;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relayaddr_parse(&a, line_of(&t)));
	randombytes_buf(a.server_key, sizeof a.server_key);
	CHECK_OK(relayaddr_format(line, sizeof line, &a));
	CHECK_OK(fixture_open(&f, line));
	last_event = 0;
	net_set_event_cb(f.net, on_event, NULL);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(net_call(f.net, &req, &rep, 20000), HALQA_ERR_CRYPTO);
	CHECK(strcmp(net_fault_text(HALQA_ERR_CRYPTO),
		     "the relay's key does not match the address line") == 0);
	CHECK_INT_EQ(net_fault(f.net), HALQA_ERR_CRYPTO);
	CHECK_INT_EQ(last_event, NET_EVENT_KEY_MISMATCH);
	/* Later requests fail with the same fault, asynchronously. */
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c, 20000));
	CHECK_INT_EQ(c.calls, 0);
	while (c.calls == 0) {
		uv_run(&f.loop, UV_RUN_ONCE);
	}
	CHECK_INT_EQ(c.status, HALQA_ERR_CRYPTO);
	fixture_close(&f);

	/* A banned device: ZAP 400, which ZeroMQ never retries. */
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);
	memcpy(pub, f.pub, 32);
	memcpy(sec, f.sec, 32);
	fixture_close(&f);
	CHECK(zmq_z85_encode(z85, pub, 32) != NULL);
	snprintf(cmd, sizeof cmd, "ban %s", z85);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK_INT_EQ(status, 0);
	memset(&f, 0, sizeof f);
	CHECK_INT_EQ(uv_loop_init(&f.loop), 0);
	f.ctx = zmq_ctx_new();
	memcpy(f.sec, sec, 32);
	CHECK_OK(relayaddr_parse(&f.addr, line_of(&t)));
	CHECK_OK(net_new(&f.net, &f.loop, f.ctx, &f.addr, pub, sec, NULL));
	sodium_memzero(sec, sizeof sec);
	last_event = 0;
	net_set_event_cb(f.net, on_event, NULL);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(net_call(f.net, &req, &rep, 20000), HALQA_ERR_DENIED);
	CHECK_INT_EQ(last_event, NET_EVENT_REFUSED);
	CHECK_INT_EQ(net_fault(f.net), HALQA_ERR_DENIED);
	CHECK(strcmp(net_fault_text(HALQA_ERR_DENIED), "the relay refused this device") == 0);
	fixture_close(&f);
	steps_stop(&t);
}

/* ---- a lost relay: nothing waits out its timeout ---- */

/* Long: a request that waited out its timeout would show in st.timeouts, not st.lost. */
#define T_LONG_MS 60000

static void test_drop_fails_at_once(void)
{
	struct relay_test t = {0};
	struct fixture f;
	struct net_stats st;
	struct counted c[3];
	uint64_t sent;
	int i;

	memset(c, 0, sizeof c);
	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line_of(&t)));
	register_open(&f);
	last_event = 0;
	net_set_event_cb(f.net, on_event, NULL);

	/* A PING the relay has (or is about to have) and will never answer: it is stopped... */
	CHECK_OK(relay_test_kill(&t, SIGSTOP));
	net_stats(f.net, &st);
	sent = st.sent;
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[0], T_LONG_MS));
	while (st.sent == sent && c[0].calls == 0) {
		uv_run(&f.loop, UV_RUN_ONCE);
		net_stats(f.net, &st);
	}
	CHECK_INT_EQ(c[0].calls, 0);
	/* ...then killed, with the request in flight: it fails now, not in a minute. */
	CHECK_OK(relay_test_kill(&t, SIGKILL));
	while (c[0].calls == 0) {
		uv_run(&f.loop, UV_RUN_ONCE);
	}
	CHECK_INT_EQ(c[0].status, HALQA_ERR_NETWORK);
	CHECK_INT_EQ(last_event, NET_EVENT_DISCONNECTED);
	CHECK(!net_connected(f.net));
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.timeouts, 0);
	CHECK_INT_EQ(st.lost, 1);

	/* While it is down, new requests fail as soon as a fresh attempt is refused. */
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(net_call(f.net, &req, &rep, T_LONG_MS), HALQA_ERR_NETWORK);
	for (i = 1; i < 3; i++) {
		wire_msg_init(&req, WIRE_PING, 1);
		CHECK_OK(net_request(f.net, &req, on_counted, &c[i], T_LONG_MS));
	}
	while (!all_called(c, 3)) {
		uv_run(&f.loop, UV_RUN_ONCE);
	}
	for (i = 0; i < 3; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
		CHECK_INT_EQ(c[i].status, HALQA_ERR_NETWORK);
	}
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.timeouts, 0);
	CHECK_INT_EQ(st.lost, 4);

	/*
	 * Back on the same port: the next request connects at once (ZeroMQ's
	 * own retry may be seconds away) and is answered.
	 */
	CHECK_OK(relay_test_restart(&t));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_call(f.net, &req, &rep, T_LONG_MS));
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_PING);
	CHECK_INT_EQ(last_event, NET_EVENT_CONNECTED);
	CHECK(net_connected(f.net));
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.timeouts, 0);
	CHECK_INT_EQ(st.lost, 4);
	CHECK_INT_EQ(st.connects, 2);
	/* Requests that failed were never sent after the reconnect: nothing came back for them. */
	CHECK_INT_EQ(st.dropped_unknown, 0);
	for (i = 0; i < 3; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
	}
	fixture_close(&f);
	steps_stop(&t);
}

/* ---- a hostile relay ---- */

struct fake_relay {
	void *ctx;
	void *router;
	uint8_t pub[32], sec[32];
	char endpoint[64];
	int ok; /* the script ran to its end */
	int rebound; /* the drop script listens again (atomic) */
};

static int fake_send(void *router, const uint8_t *rid, size_t rid_len, const uint8_t *data,
		     size_t len)
{
	if (zmq_send(router, rid, rid_len, ZMQ_SNDMORE) < 0 || zmq_send(router, data, len, 0) < 0) {
		return -1;
	}
	return 0;
}

static int fake_send_msg(void *router, const uint8_t *rid, size_t rid_len,
			 const struct wire_msg *m)
{
	struct bytes_writer w;
	int rc = -1;

	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	if (wire_encode(&w, m) == HALQA_OK) {
		rc = fake_send(router, rid, rid_len, bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	return rc;
}

/*
 * The script: take three requests (PING, PING, HELLO), then send garbage, a
 * multi-part message, a reply to an id nobody used, an OK of the wrong
 * type for the first request, a request-type frame; then the real answers in reverse order (the second one an
 * ERR), replays of two of them, and last a proper DELIVER that tells the
 * test everything before it was processed (one connection keeps order).
 */
static void *fake_relay_main(void *arg)
{
	struct fake_relay *fr = arg;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint8_t rid[256], frame[1024];
	size_t rid_len = 0;
	uint32_t ids[3];
	uint8_t types[3];
	static const uint8_t payload[] = "push";
	int i, n, more;
	size_t more_len;

	if (m == NULL) {
		return NULL;
	}
	for (i = 0; i < 3; i++) {
		struct wire_header h;

		n = zmq_recv(fr->router, rid, sizeof rid, 0);
		if (n <= 0 || (size_t)n > sizeof rid) {
			goto out;
		}
		rid_len = (size_t)n;
		more_len = sizeof more;
		if (zmq_getsockopt(fr->router, ZMQ_RCVMORE, &more, &more_len) != 0 || !more) {
			goto out;
		}
		n = zmq_recv(fr->router, frame, sizeof frame, 0);
		if (n < 0 || (size_t)n > sizeof frame ||
		    wire_peek_header(frame, (size_t)n, &h) != HALQA_OK) {
			goto out;
		}
		ids[i] = h.request_id;
		types[i] = h.type;
	}
	/* Garbage and a multi-part message. */
	if (fake_send(fr->router, rid, rid_len, (const uint8_t *)"garbage", 7) != 0 ||
	    zmq_send(fr->router, rid, rid_len, ZMQ_SNDMORE) < 0 ||
	    zmq_send(fr->router, "HQ", 2, ZMQ_SNDMORE) < 0 || zmq_send(fr->router, "x", 1, 0) < 0) {
		goto out;
	}
	/* A reply to an id never used (another generation of the first request's slot). */
	wire_msg_init(m, WIRE_OK, ids[0] ^ 0x40000000u);
	m->u.ok.for_type = types[0];
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	/* An OK for the first request that answers another type. */
	wire_msg_init(m, WIRE_OK, ids[0]);
	m->u.ok.for_type = WIRE_REGISTER;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	/* A request-type frame: a relay never sends one. */
	wire_msg_init(m, WIRE_PING, ids[1]);
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	/* Out of order: third, second (an ERR), first. */
	wire_msg_init(m, WIRE_OK, ids[2]);
	m->u.ok.for_type = types[2];
	m->u.ok.u.hello.version = 1;
	m->u.ok.u.hello.max_frame = 65536;
	m->u.ok.u.hello.max_payload = 1024;
	m->u.ok.u.hello.max_fetch_count = 1;
	m->u.ok.u.hello.max_mailbox_fetch = 1;
	m->u.ok.u.hello.max_kp_batch = 1;
	m->u.ok.u.hello.max_delete_ids = 1;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	wire_set_err(m, ids[1], WIRE_ERR_RATE_LIMITED, "slow down");
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	wire_msg_init(m, WIRE_OK, ids[0]);
	m->u.ok.for_type = types[0];
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	/* Replays. */
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	wire_set_err(m, ids[1], WIRE_ERR_RATE_LIMITED, "slow down");
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	/* The closing push. */
	wire_msg_init(m, WIRE_DELIVER, 0);
	memset(m->u.deliver.circle_id, 7, WIRE_ID_LEN);
	m->u.deliver.seq = 1;
	m->u.deliver.kind = WIRE_KIND_APPLICATION;
	m->u.deliver.payload.data = payload;
	m->u.deliver.payload.len = sizeof payload - 1;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	fr->ok = 1;
out:
	free(m);
	return NULL;
}

/* A fake relay socket: CURVE server with fr's key, on fr->endpoint (if empty: any port). */
static void *fake_router(struct fake_relay *fr, int linger_ms)
{
	void *r = zmq_socket(fr->ctx, ZMQ_ROUTER);
	int one = 1, timeout = 10000;
	size_t len = sizeof fr->endpoint;

	if (r == NULL || zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
	    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, fr->sec, 32) != 0 ||
	    zmq_setsockopt(r, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
	    zmq_setsockopt(r, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0) {
		if (r != NULL) {
			zmq_close(r);
		}
		return NULL;
	}
	if (fr->endpoint[0] == '\0') {
		if (zmq_bind(r, "tcp://127.0.0.1:*") != 0 ||
		    zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, fr->endpoint, &len) != 0) {
			zmq_close(r);
			return NULL;
		}
		return r;
	}
	/* Rebinding the port just closed: the old socket's close finishes on ZeroMQ's reaper thread. */
	for (int i = 0; i < 2000; i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		if (zmq_bind(r, fr->endpoint) == 0) {
			return r;
		}
		nanosleep(&ts, NULL);
	}
	zmq_close(r);
	return NULL;
}

/*
 * fake_open makes |fr| a fake relay with a fresh key, listening on a free
 * loopback port, and writes its address line into |line|. Returns 0 or -1.
 */
static int fake_open(struct fake_relay *fr, int linger_ms, char *line, size_t line_len)
{
	struct relayaddr a;

	memset(fr, 0, sizeof *fr);
	crypto_box_keypair(fr->pub, fr->sec);
	if ((fr->ctx = zmq_ctx_new()) == NULL) {
		return -1;
	}
	if ((fr->router = fake_router(fr, linger_ms)) == NULL) {
		zmq_ctx_term(fr->ctx);
		return -1;
	}
	memset(&a, 0, sizeof a);
	strcpy(a.relay.host, "127.0.0.1");
	a.relay.port = (uint16_t)atoi(strrchr(fr->endpoint, ':') + 1);
	memcpy(a.server_key, fr->pub, 32);
	return relayaddr_format(line, line_len, &a) == HALQA_OK ? 0 : -1;
}

/* fake_start opens fake relay |fr| (fake_open) and runs |serve| on it in thread |*th|. */
static int fake_start(struct fake_relay *fr, int linger_ms, void *(*serve)(void *), pthread_t *th,
		      char *line, size_t line_len)
{
	if (fake_open(fr, linger_ms, line, line_len) != 0) {
		return -1;
	}
	return pthread_create(th, NULL, serve, fr) == 0 ? 0 : -1;
}

/* Receives one request: its routing id into |rid| (*rid_len), its id and type. */
static int fake_recv(void *router, uint8_t rid[256], size_t *rid_len, uint32_t *id, uint8_t *type)
{
	uint8_t frame[1024];
	struct wire_header h;
	size_t more_len;
	int n, more;

	n = zmq_recv(router, rid, 256, 0);
	if (n <= 0 || n > 256) {
		return -1;
	}
	*rid_len = (size_t)n;
	more_len = sizeof more;
	if (zmq_getsockopt(router, ZMQ_RCVMORE, &more, &more_len) != 0 || !more) {
		return -1;
	}
	n = zmq_recv(router, frame, sizeof frame, 0);
	if (n < 0 || (size_t)n > sizeof frame || wire_peek_header(frame, (size_t)n, &h) != HALQA_OK) {
		return -1;
	}
	*id = h.request_id;
	*type = h.type;
	return 0;
}

/*
 * The drop script: take two PINGs, answer the second, and drop the
 * connection (close the socket, after the answer has gone out) without
 * answering the first. Bind again on the same port, say so, take the next
 * PING, and answer the first one late before answering it.
 */
static void *fake_drop_main(void *arg)
{
	struct fake_relay *fr = arg;
	struct wire_msg *m = calloc(1, sizeof *m);
	uint8_t rid[256], type;
	size_t rid_len = 0;
	uint32_t first, second, third;

	if (m == NULL) {
		return NULL;
	}
	if (fake_recv(fr->router, rid, &rid_len, &first, &type) != 0 || type != WIRE_PING ||
	    fake_recv(fr->router, rid, &rid_len, &second, &type) != 0 || type != WIRE_PING) {
		goto out;
	}
	wire_msg_init(m, WIRE_OK, second);
	m->u.ok.for_type = WIRE_PING;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	zmq_close(fr->router);
	if ((fr->router = fake_router(fr, 0)) == NULL) {
		goto out;
	}
	__atomic_store_n(&fr->rebound, 1, __ATOMIC_RELEASE);
	if (fake_recv(fr->router, rid, &rid_len, &third, &type) != 0 || type != WIRE_PING) {
		goto out;
	}
	wire_msg_init(m, WIRE_OK, first);
	m->u.ok.for_type = WIRE_PING;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	wire_msg_init(m, WIRE_OK, third);
	m->u.ok.for_type = WIRE_PING;
	if (fake_send_msg(fr->router, rid, rid_len, m) != 0) {
		goto out;
	}
	fr->ok = 1;
out:
	free(m);
	return NULL;
}

/*
 * A drop with two requests in flight: the one answered before it
 * completes with its answer, the other fails at once; after the
 * reconnect, the late answer to the failed one completes nothing.
 */
static void test_drop_late_reply(void)
{
	struct fake_relay fr;
	struct fixture f;
	struct counted c[2];
	struct net_stats st;
	char line[RELAYADDR_MAX_LINE];
	pthread_t th;

	memset(c, 0, sizeof c);
	/* Linger: the answer sent just before the close must leave before the connection goes. */
	if (fake_start(&fr, 5000, fake_drop_main, &th, line, sizeof line) != 0) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line));
	last_event = 0;
	net_set_event_cb(f.net, on_event, NULL);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[0], T_LONG_MS));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[1], T_LONG_MS));
	while (!all_called(c, 2)) {
		uv_run(&f.loop, UV_RUN_ONCE);
	}
	CHECK_INT_EQ(c[0].status, HALQA_ERR_NETWORK);
	CHECK_INT_EQ(c[1].status, HALQA_OK);
	CHECK_INT_EQ(c[1].type, WIRE_PING);
	CHECK_INT_EQ(last_event, NET_EVENT_DISCONNECTED);
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.lost, 1);
	CHECK_INT_EQ(st.timeouts, 0);
	/* The relay is listening again; the next request connects and gets its own answer only. */
	while (!__atomic_load_n(&fr.rebound, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_call(f.net, &req, &rep, T_LONG_MS));
	CHECK_INT_EQ(rep.u.ok.for_type, WIRE_PING);
	pthread_join(th, NULL);
	CHECK(fr.ok);
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.dropped_unknown, 1);
	CHECK_INT_EQ(st.replies, 2);
	CHECK_INT_EQ(st.connects, 2);
	CHECK_INT_EQ(c[0].calls, 1);
	CHECK_INT_EQ(c[1].calls, 1);
	fixture_close(&f);
	if (fr.router != NULL) {
		zmq_close(fr.router);
	}
	zmq_ctx_term(fr.ctx);
	sodium_memzero(fr.sec, sizeof fr.sec);
}

static int hostile_pushes;

static void on_hostile_push(void *arg, const struct wire_msg *m)
{
	(void)arg;
	if (m->u.deliver.seq == 1 && m->u.deliver.payload.len == 4 &&
	    memcmp(m->u.deliver.payload.data, "push", 4) == 0) {
		hostile_pushes++;
	}
}

static void test_hostile_relay(void)
{
	struct fake_relay fr;
	struct fixture f;
	struct counted c[3];
	struct net_stats st;
	char line[RELAYADDR_MAX_LINE];
	pthread_t th;
	int i;

	memset(c, 0, sizeof c);
	if (fake_start(&fr, 0, fake_relay_main, &th, line, sizeof line) != 0) {
		CHECK(0);
		return;
	}
	CHECK_OK(fixture_open(&f, line));
	hostile_pushes = 0;
	net_set_push_cb(f.net, on_hostile_push, NULL);
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[0], T_MS * 2));
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[1], T_MS * 2));
	steps_hello(&req);
	CHECK_OK(net_request(f.net, &req, on_counted, &c[2], T_MS * 2));
	for (i = 0; i < 200 && hostile_pushes == 0; i++) {
		int never = 0;

		run_until(&f.loop, &never, 50);
	}
	pthread_join(th, NULL);
	CHECK(fr.ok);
	CHECK_INT_EQ(hostile_pushes, 1);
	for (i = 0; i < 3; i++) {
		CHECK_INT_EQ(c[i].calls, 1);
	}
	CHECK_INT_EQ(c[0].status, HALQA_OK);
	CHECK_INT_EQ(c[0].type, WIRE_PING);
	CHECK_INT_EQ(c[1].status, HALQA_ERR_LIMIT);
	CHECK_INT_EQ(c[2].status, HALQA_OK);
	CHECK_INT_EQ(c[2].type, WIRE_HELLO);
	net_stats(f.net, &st);
	CHECK_INT_EQ(st.replies, 3);
	CHECK_INT_EQ(st.pushes, 1);
	CHECK_INT_EQ(st.dropped_garbage, 2);
	CHECK_INT_EQ(st.dropped_unknown, 3);
	CHECK_INT_EQ(st.dropped_mismatch, 1);
	CHECK_INT_EQ(st.dropped_other, 1);
	fixture_close(&f);
	zmq_close(fr.router);
	zmq_ctx_term(fr.ctx);
	sodium_memzero(fr.sec, sizeof fr.sec);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	RUN(test_hello_register_ping);
	RUN(test_circle_push_and_no_stranding);
	RUN(test_many_in_flight_chain_and_close);
	RUN(test_pending_bound);
	RUN(test_timeout_and_restart);
	RUN(test_wrong_key_and_banned);
	RUN(test_hostile_relay);
	RUN(test_drop_fails_at_once);
	RUN(test_drop_late_reply);
	return harness_report();
}
