/*
 * test_relay_basic.c: the real halqad on loopback, over CURVE: HELLO and
 * version negotiation, PING, what a guest may and may not do, invite-only
 * registration (missing, wrong, used-up, multi-use, loosely typed codes;
 * codes made after a SIGHUP reload, and their uses across a crash),
 * open mode, banned keys, undecodable frames, and `halqad status`.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

static struct wire_msg req, rep;

static void test_hello_and_guest(void)
{
	struct relay_test t = {0};
	struct relay_client *c = NULL;
	struct steps_circle ci;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_client(&t, &c, NULL, NULL));

	steps_hello(&req);
	CHECK_OK(steps_call(c, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.version, 1);
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 0);
	CHECK(rep.u.ok.u.hello.max_frame >= 65536 && rep.u.ok.u.hello.max_frame <= WIRE_MAX_FRAME);
	CHECK(rep.u.ok.u.hello.max_payload > 0 && rep.u.ok.u.hello.max_payload <= WIRE_MAX_PAYLOAD);
	CHECK(rep.u.ok.u.hello.max_fetch_count > 0);
	CHECK_INT_EQ(rep.u.ok.u.hello.default_max_age, 30 * 86400);

	/* A range we do not speak. */
	steps_hello(&req);
	req.u.hello.min_version = 2;
	req.u.hello.max_version = 7;
	CHECK_INT_EQ(steps_call(c, &req, NULL), WIRE_ERR_UNSUPPORTED_VERSION);

	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(steps_call(c, &req, NULL));

	/* A guest may not do anything else. */
	CHECK_INT_EQ(steps_circle_new(c, &ci), WIRE_ERR_NOT_REGISTERED);
	steps_fetch(&req, &ci, 0, 1, 10);
	CHECK_INT_EQ(steps_call(c, &req, NULL), WIRE_ERR_NOT_REGISTERED);
	wire_msg_init(&req, WIRE_KP_COUNT, 1);
	CHECK_INT_EQ(steps_call(c, &req, NULL), WIRE_ERR_NOT_REGISTERED);

	relay_client_free(c);
	steps_stop(&t);
	CHECK(WIFEXITED(t.last_status) && WEXITSTATUS(t.last_status) == 0);
}

static void test_invite_registration(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL, *d = NULL;
	struct steps_circle ci;
	char code[128], loose[128];
	uint8_t pub[32], sec[32];

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_client(&t, &a, NULL, NULL));
	CHECK_OK(relay_test_client(&t, &b, NULL, NULL));
	CHECK_OK(relay_test_client(&t, &d, NULL, NULL));

	steps_register(&req, "");
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_INVITE_INVALID);
	steps_register(&req, "aaaa-bbbb-cccc-dddd-eeee-ffff");
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_INVITE_INVALID);

	/* Codes are typed loosely: case and dashes do not matter. */
	CHECK_OK(relay_test_invite(&t, 1, code, sizeof code));
	CHECK_INT_EQ(strlen(code), 29);
	{
		size_t n = 0;
		for (const char *p = code; *p != '\0'; p++) {
			if (*p != '-') {
				loose[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
			}
		}
		loose[n] = '\0';
	}
	steps_register(&req, loose);
	CHECK_OK(steps_call(a, &req, NULL));
	/* Same connection, now registered (ZAP let it in as a guest). */
	steps_hello(&req);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 1);
	CHECK_OK(steps_circle_new(a, &ci));
	steps_register(&req, code);
	CHECK_INT_EQ(steps_call(a, &req, NULL), WIRE_ERR_ALREADY_REGISTERED);

	/* A one-use code is spent. */
	steps_register(&req, code);
	CHECK_INT_EQ(steps_call(b, &req, NULL), WIRE_ERR_INVITE_INVALID);

	/* A two-use code serves two devices, not three. */
	CHECK_OK(relay_test_invite(&t, 2, code, sizeof code));
	steps_register(&req, code);
	CHECK_OK(steps_call(b, &req, NULL));
	steps_register(&req, code);
	CHECK_OK(steps_call(d, &req, NULL));
	relay_client_free(d);
	CHECK_OK(relay_test_client(&t, &d, NULL, NULL));
	steps_register(&req, code);
	CHECK_INT_EQ(steps_call(d, &req, NULL), WIRE_ERR_INVITE_INVALID);

	/* Reconnecting: ZAP now knows the key as registered. */
	relay_client_public_key(b, pub);
	relay_client_secret_key(b, sec);
	relay_client_free(b);
	CHECK_OK(relay_test_client(&t, &b, pub, sec));
	sodium_memzero(sec, sizeof sec);
	steps_hello(&req);
	CHECK_OK(steps_call(b, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.hello.registered, 1);
	CHECK_OK(steps_circle_new(b, &ci));

	relay_client_free(a);
	relay_client_free(b);
	relay_client_free(d);
	steps_stop(&t);
}

/* register_new connects |*c| (a fresh key) and registers it with |code|. */
static int register_new(struct relay_test *t, struct relay_client **c, const char *code)
{
	int rc;

	relay_client_free(*c);
	*c = NULL;
	if ((rc = relay_test_client(t, c, NULL, NULL)) != HALQA_OK) {
		return rc;
	}
	steps_register(&req, code);
	return steps_call(*c, &req, NULL);
}

/* reconnect_registered reconnects |*c| as the same device and says whether it is registered. */
static int reconnect_registered(struct relay_test *t, struct relay_client **c)
{
	uint8_t pub[32], sec[32];
	int registered = -1;

	relay_client_public_key(*c, pub);
	relay_client_secret_key(*c, sec);
	relay_client_free(*c);
	*c = NULL;
	if (relay_test_client(t, c, pub, sec) == HALQA_OK) {
		steps_hello(&req);
		if (steps_call(*c, &req, &rep) == HALQA_OK) {
			registered = rep.u.ok.u.hello.registered;
		}
	}
	sodium_memzero(sec, sizeof sec);
	return registered;
}

/*
 * test_invite_after_reload: `halqad invite` writes to the store beside the
 * running daemon, also after a SIGHUP reload, and what the daemon
 * acknowledges after a reload is on disk for every later reader. A reload
 * used to reopen the store, and opening it again from the same process
 * dropped the daemon's POSIX lock on the database file: the next command to
 * close the store then took itself for its last user and deleted the WAL
 * the daemon went on writing to. The daemon's later writes, acknowledged,
 * were invisible to other processes and lost on a crash, and invites made
 * after that were invisible to the daemon (refused as invite-invalid).
 */
static void test_invite_after_reload(void)
{
	static const char body[] = "acknowledged after a reload";
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	struct steps_circle ci;
	char code1[128], code2[128], code3[128];
	uint64_t seq = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_client(&t, &a, NULL, NULL));
	if (steps_reconfigure(&t, a, "[limits]\nrequests_per_second = 123\n", 123) != HALQA_OK) {
		goto out;
	}
	/* Each code made by a separate process that opens and closes the store. */
	CHECK_OK(relay_test_invite(&t, 1, code1, sizeof code1));
	steps_register(&req, code1);
	CHECK_OK(steps_call(a, &req, NULL));
	CHECK_OK(relay_test_invite(&t, 1, code2, sizeof code2));
	CHECK_OK(register_new(&t, &b, code2));
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(steps_text_send(a, &ci, 0, body, &seq));
	CHECK_OK(relay_test_invite(&t, 2, code3, sizeof code3));
	CHECK_OK(register_new(&t, &c, code3));

	/* A crash: only what reached the store's files survives. */
	CHECK_OK(relay_test_kill(&t, SIGKILL));
	if (relay_test_restart(&t) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	CHECK_INT_EQ(reconnect_registered(&t, &a), 1);
	CHECK_INT_EQ(reconnect_registered(&t, &b), 1);
	CHECK_INT_EQ(reconnect_registered(&t, &c), 1);
	steps_fetch(&req, &ci, 0, 1, 10);
	CHECK_OK(steps_call(a, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.fetch.num_msgs, 1);
	if (rep.u.ok.u.fetch.num_msgs == 1) {
		CHECK_INT_EQ(rep.u.ok.u.fetch.msgs[0].seq, seq);
		CHECK_MEM_EQ(rep.u.ok.u.fetch.msgs[0].payload.data,
			     rep.u.ok.u.fetch.msgs[0].payload.len, (const uint8_t *)body,
			     sizeof body - 1);
	}
	/* Every use was counted, across the crash: spent codes stay spent. */
	CHECK_INT_EQ(register_new(&t, &d, code1), WIRE_ERR_INVITE_INVALID);
	CHECK_INT_EQ(register_new(&t, &d, code2), WIRE_ERR_INVITE_INVALID);
	CHECK_OK(register_new(&t, &d, code3));
	CHECK_INT_EQ(register_new(&t, &d, code3), WIRE_ERR_INVITE_INVALID);
out:
	relay_client_free(a);
	relay_client_free(b);
	relay_client_free(c);
	relay_client_free(d);
	steps_stop(&t);
}

/*
 * test_mode_after_reload: `mode` applies at the next start, as halqad.conf
 * says; a SIGHUP (here for the limits) leaves an invite-only relay
 * invite-only even with `mode = open` in the file, until a restart.
 */
static void test_mode_after_reload(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_client(&t, &a, NULL, NULL));
	if (steps_reconfigure(&t, a, "[relay]\nmode = open\n[limits]\nrequests_per_second = 77\n",
			      77) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	CHECK_INT_EQ(register_new(&t, &b, ""), WIRE_ERR_INVITE_INVALID);
	if (relay_test_restart(&t) != HALQA_OK) {
		CHECK(0);
		goto out;
	}
	CHECK_OK(register_new(&t, &b, ""));
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

static void test_open_mode(void)
{
	struct relay_test t = {0};
	struct relay_client *c = NULL;
	struct steps_circle ci;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		CHECK(0);
		return;
	}
	CHECK_OK(relay_test_client(&t, &c, NULL, NULL));
	steps_register(&req, "");
	CHECK_OK(steps_call(c, &req, NULL));
	CHECK_OK(steps_circle_new(c, &ci));
	relay_client_free(c);
	steps_stop(&t);
}

/*
 * test_ban: `halqad ban KEY` takes the device key in hex (the spelling of
 * the address line) or in Z85, through the running relay and, with none
 * running, straight into the spool.
 */
static void test_ban(void)
{
	struct relay_test t = {0};
	struct relay_client *c = NULL, *other = NULL;
	uint8_t pub[32], sec[32];
	char z85[41], hex[65], cmd[160];
	int status = -1;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &c) != HALQA_OK || steps_device(&t, &other) != HALQA_OK) {
		goto out;
	}
	relay_client_public_key(c, pub);
	relay_client_secret_key(c, sec);
	zmq_z85_encode(z85, pub, 32);
	sodium_bin2hex(hex, sizeof hex, pub, 32);
	snprintf(cmd, sizeof cmd, "ban %s", hex);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK_INT_EQ(status, 0);

	/* Its open connection is answered no more... */
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_RC(relay_client_ok(c, &req, &rep, NULL, 500), HALQA_ERR_NETWORK);
	/* ...and a new one is refused in the handshake. */
	relay_client_free(c);
	CHECK_OK(relay_test_client(&t, &c, pub, sec));
	CHECK_RC(relay_client_ok(c, &req, &rep, NULL, 500), HALQA_ERR_NETWORK);
	/* Others are unaffected. */
	CHECK_OK(steps_call(other, &req, NULL));

	/* The Z85 spelling names the same device. */
	snprintf(cmd, sizeof cmd, "unban %s", z85);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK_INT_EQ(status, 0);
	relay_client_free(c);
	CHECK_OK(relay_test_client(&t, &c, pub, sec));
	CHECK_OK(steps_call(c, &req, NULL));

	CHECK_OK(relay_test_command(&t, "ban nonsense", NULL, 0, &status));
	CHECK(status != 0);
	/* One digit short of a key is refused, not padded. */
	hex[63] = '\0';
	snprintf(cmd, sizeof cmd, "ban %s", hex);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK(status != 0);
	CHECK_OK(steps_call(c, &req, NULL));
	/* The same through the admin socket line. */
	snprintf(cmd, sizeof cmd, "admin ban %s", hex);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK(status != 0);
	sodium_bin2hex(hex, sizeof hex, pub, 32);

	/* With no relay running the ban goes into the spool and holds on restart. */
	relay_client_free(c);
	c = NULL;
	CHECK_OK(relay_test_kill(&t, SIGTERM));
	snprintf(cmd, sizeof cmd, "ban %s", hex);
	CHECK_OK(relay_test_command(&t, cmd, NULL, 0, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_OK(relay_test_restart(&t));
	CHECK_OK(relay_test_client(&t, &c, pub, sec));
	CHECK_RC(relay_client_ok(c, &req, &rep, NULL, 500), HALQA_ERR_NETWORK);
	relay_client_free(other);
	other = NULL;
	CHECK_OK(relay_test_client(&t, &other, NULL, NULL));
	CHECK_OK(steps_call(other, &req, NULL));
out:
	sodium_memzero(sec, sizeof sec);
	relay_client_free(c);
	relay_client_free(other);
	steps_stop(&t);
}

static void test_bad_frames(void)
{
	struct relay_test t = {0};
	struct relay_client *c = NULL;
	uint8_t frame[16] = {WIRE_MAGIC0, WIRE_MAGIC1, 1, WIRE_PING, 0, 0, 0, 9};
	const uint8_t *parts[2] = {frame, frame};
	size_t lens[2] = {8, 8};

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &c) != HALQA_OK) {
		goto out;
	}
	/* A good PING sent raw. */
	CHECK_OK(relay_client_send_raw(c, frame, 8));
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_OK);
	CHECK_INT_EQ(rep.request_id, 9);

	frame[2] = 9; /* version */
	CHECK_OK(relay_client_send_raw(c, frame, 8));
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_ERR);
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_UNSUPPORTED_VERSION);
	CHECK_INT_EQ(rep.request_id, 9);

	frame[2] = 1;
	frame[3] = 0x7e; /* type */
	CHECK_OK(relay_client_send_raw(c, frame, 8));
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_UNKNOWN_TYPE);

	frame[3] = WIRE_OK; /* a reply type sent as a request */
	CHECK_OK(relay_client_send_raw(c, frame, 8));
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.type, WIRE_ERR);

	frame[3] = WIRE_PING;
	CHECK_OK(relay_client_send_raw(c, frame, 12)); /* trailing bytes */
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_BAD_REQUEST);

	CHECK_OK(relay_client_send_raw(c, frame, 3)); /* no header */
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_BAD_REQUEST);
	CHECK_INT_EQ(rep.request_id, 0);

	CHECK_OK(relay_client_send_multipart(c, parts, lens, 2));
	CHECK_OK(relay_client_next_reply(c, &rep, STEPS_TIMEOUT_MS));
	CHECK_INT_EQ(rep.u.err.code, WIRE_ERR_BAD_REQUEST);

	/* The connection still works. */
	wire_msg_init(&req, WIRE_PING, 1);
	CHECK_OK(steps_call(c, &req, NULL));
out:
	relay_client_free(c);
	steps_stop(&t);
}

static long status_value(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n') {
			p++;
		}
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			return strtol(p + n + 1, NULL, 10);
		}
	}
	return -1;
}

static void test_status(void)
{
	struct relay_test t = {0};
	struct relay_client *a = NULL, *b = NULL;
	struct steps_circle ci;
	char out[4096];
	int status = -1;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &a) != HALQA_OK || steps_device(&t, &b) != HALQA_OK) {
		goto out;
	}
	CHECK_OK(steps_circle_new(a, &ci));
	CHECK_OK(steps_text_send(a, &ci, 0, "hello", NULL));
	CHECK_OK(steps_text_send(b, &ci, 0, "hi there", NULL));
	CHECK_OK(relay_test_command(&t, "status", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_INT_EQ(status_value(out, "devices"), 2);
	CHECK_INT_EQ(status_value(out, "circles"), 1);
	CHECK_INT_EQ(status_value(out, "messages"), 2);
	CHECK_INT_EQ(status_value(out, "message_bytes"), 13);
	/* The two clients, and perhaps the runner's PING connection. */
	CHECK(status_value(out, "connections") >= 2);
	CHECK(status_value(out, "requests_total") >= 6);
	CHECK(status_value(out, "uptime") >= 0);
	CHECK(strstr(out, "requests_per_sec ") != NULL);
	/* No relay running: status says so and fails. */
	CHECK_OK(relay_test_kill(&t, SIGTERM));
	CHECK(WIFEXITED(t.last_status) && WEXITSTATUS(t.last_status) == 0);
	CHECK_OK(relay_test_command(&t, "status", out, sizeof out, &status));
	CHECK(status != 0);
out:
	relay_client_free(a);
	relay_client_free(b);
	steps_stop(&t);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_hello_and_guest);
	RUN(test_invite_registration);
	RUN(test_invite_after_reload);
	RUN(test_mode_after_reload);
	RUN(test_open_mode);
	RUN(test_ban);
	RUN(test_bad_frames);
	RUN(test_status);
	return harness_report();
}
