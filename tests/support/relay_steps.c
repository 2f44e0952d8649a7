/*
 * relay_steps.c: the steps of relay_steps.h.
 */
#include "support/relay_steps.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"

int steps_call(struct relay_client *c, const struct wire_msg *req, struct wire_msg *reply)
{
	uint16_t code = 0;
	struct wire_msg *tmp = NULL;
	int rc;

	if (reply == NULL) {
		tmp = malloc(sizeof *tmp);
		if (tmp == NULL) {
			return HALQA_ERR_NOMEM;
		}
		reply = tmp;
	}
	rc = relay_client_ok(c, req, reply, &code, STEPS_TIMEOUT_MS);
	if (rc != HALQA_OK && code != 0) {
		rc = code;
	}
	free(tmp);
	return rc;
}

void steps_hello(struct wire_msg *m)
{
	wire_msg_init(m, WIRE_HELLO, 1);
	m->u.hello.min_version = 1;
	m->u.hello.max_version = 1;
}

void steps_register(struct wire_msg *m, const char *invite)
{
	wire_msg_init(m, WIRE_REGISTER, 1);
	snprintf(m->u.reg.invite, sizeof m->u.reg.invite, "%s", invite);
}

int steps_device(struct relay_test *t, struct relay_client **out)
{
	struct wire_msg *m = malloc(sizeof *m);
	char code[128];
	int rc;

	*out = NULL;
	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	rc = relay_test_client(t, out, NULL, NULL);
	if (rc == HALQA_OK) {
		rc = relay_test_invite(t, 1, code, sizeof code);
	}
	if (rc == HALQA_OK) {
		steps_register(m, code);
		rc = steps_call(*out, m, NULL);
	}
	if (rc != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "steps_device failed: %d", rc);
		relay_client_free(*out);
		*out = NULL;
	}
	free(m);
	return rc;
}

int steps_circle_new(struct relay_client *c, struct steps_circle *ci)
{
	struct wire_msg *m = malloc(sizeof *m);
	int rc;

	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memset(ci, 0, sizeof *ci);
	randombytes_buf(ci->id, sizeof ci->id);
	randombytes_buf(ci->caps, sizeof ci->caps);
	wire_msg_init(m, WIRE_CIRCLE_CREATE, 1);
	memcpy(m->u.circle_create.circle_id, ci->id, WIRE_ID_LEN);
	rc = wire_cap_hash(m->u.circle_create.cap_hash, ci->caps[0]);
	if (rc == HALQA_OK) {
		rc = steps_call(c, m, NULL);
	}
	free(m);
	return rc;
}

void steps_send(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch, uint8_t kind,
		const uint8_t *payload, size_t len, const uint8_t msg_id[WIRE_ID_LEN])
{
	wire_msg_init(m, WIRE_SEND, 1);
	memcpy(m->u.send.circle_id, ci->id, WIRE_ID_LEN);
	m->u.send.epoch = epoch;
	m->u.send.kind = kind;
	memcpy(m->u.send.cap, ci->caps[epoch % 16], WIRE_CAP_LEN);
	if (msg_id != NULL) {
		memcpy(m->u.send.client_msg_id, msg_id, WIRE_ID_LEN);
	} else {
		randombytes_buf(m->u.send.client_msg_id, WIRE_ID_LEN);
	}
	m->u.send.payload.data = payload;
	m->u.send.payload.len = len;
}

void steps_commit(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
		  const uint8_t *payload, size_t len, const uint8_t msg_id[WIRE_ID_LEN])
{
	steps_send(m, ci, epoch, WIRE_KIND_COMMIT, payload, len, msg_id);
	if (wire_cap_hash(m->u.send.next_cap_hash, ci->caps[(epoch + 1) % 16]) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "wire_cap_hash failed");
	}
}

void steps_listen(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch)
{
	wire_msg_init(m, WIRE_LISTEN, 1);
	memcpy(m->u.listen.circle_id, ci->id, WIRE_ID_LEN);
	memcpy(m->u.listen.cap, ci->caps[epoch % 16], WIRE_CAP_LEN);
}

void steps_fetch(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
		 uint64_t from_seq, uint16_t max)
{
	wire_msg_init(m, WIRE_FETCH, 1);
	memcpy(m->u.fetch.circle_id, ci->id, WIRE_ID_LEN);
	memcpy(m->u.fetch.cap, ci->caps[epoch % 16], WIRE_CAP_LEN);
	m->u.fetch.from_seq = from_seq;
	m->u.fetch.max_count = max;
}

void steps_ack(struct wire_msg *m, const struct steps_circle *ci, uint64_t epoch,
	       const uint8_t cursor[WIRE_ID_LEN], uint64_t seq)
{
	wire_msg_init(m, WIRE_ACK, 1);
	memcpy(m->u.ack.circle_id, ci->id, WIRE_ID_LEN);
	memcpy(m->u.ack.cursor_id, cursor, WIRE_ID_LEN);
	memcpy(m->u.ack.cap, ci->caps[epoch % 16], WIRE_CAP_LEN);
	m->u.ack.seq = seq;
}

int steps_text_send(struct relay_client *c, const struct steps_circle *ci, uint64_t epoch,
		    const char *text, uint64_t *out_seq)
{
	struct wire_msg *m = malloc(sizeof *m), *rep = malloc(sizeof *rep);
	int rc = HALQA_ERR_NOMEM;

	if (m != NULL && rep != NULL) {
		steps_send(m, ci, epoch, WIRE_KIND_APPLICATION, (const uint8_t *)text, strlen(text),
			   NULL);
		rc = steps_call(c, m, rep);
		if (rc == HALQA_OK && out_seq != NULL) {
			*out_seq = rep->u.ok.u.send.seq;
		}
	}
	free(m);
	free(rep);
	return rc;
}

int steps_reconfigure(struct relay_test *t, struct relay_client *c, const char *ini, uint32_t rps)
{
	struct wire_msg *m = malloc(sizeof *m), *rep = malloc(sizeof *rep);
	struct timespec pause = {0, 20 * 1000 * 1000};
	char path[512];
	FILE *f;
	int rc = HALQA_ERR_IO;

	if (m == NULL || rep == NULL) {
		rc = HALQA_ERR_NOMEM;
		goto out;
	}
	snprintf(path, sizeof path, "%s/halqad.conf", t->dir);
	f = fopen(path, "a");
	if (f == NULL) {
		goto out;
	}
	fprintf(f, "\n%s\n", ini);
	fclose(f);
	if ((rc = relay_test_kill(t, SIGHUP)) != HALQA_OK) {
		goto out;
	}
	rc = HALQA_ERR_NETWORK;
	for (int i = 0; i < 500; i++) {
		steps_hello(m);
		if (steps_call(c, m, rep) == HALQA_OK && rep->u.ok.u.hello.requests_per_sec == rps) {
			rc = HALQA_OK;
			break;
		}
		nanosleep(&pause, NULL);
	}
out:
	if (rc != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "steps_reconfigure: the relay did not reload (%d)",
			     rc);
	}
	free(m);
	free(rep);
	return rc;
}

int steps_small_mailboxes(struct relay_test *t)
{
	struct relay_client *c = NULL;
	int rc = relay_test_client(t, &c, NULL, NULL);

	if (rc == HALQA_OK) {
		rc = steps_reconfigure(t, c,
				       "[limits]\nmailbox_max_items = 2\nrequests_per_second = 201\n",
				       201);
	}
	relay_client_free(c);
	return rc;
}

int steps_fill_mailbox(struct relay_test *t, const uint8_t id[WIRE_ID_LEN])
{
	static const uint8_t junk[] = "not a Welcome";
	struct relay_client *c = NULL;
	struct wire_msg *m = calloc(1, sizeof *m);
	int put = 0, rc;

	if (m == NULL) {
		return 0;
	}
	if ((rc = relay_test_client(t, &c, NULL, NULL)) == HALQA_OK) {
		steps_register(m, "");
		rc = steps_call(c, m, NULL);
	}
	for (int i = 0; i < 16 && rc == HALQA_OK; i++) {
		wire_msg_init(m, WIRE_MAILBOX_PUT, 1);
		memcpy(m->u.mailbox_put.mailbox_id, id, WIRE_ID_LEN);
		m->u.mailbox_put.payload.data = junk;
		m->u.mailbox_put.payload.len = sizeof junk;
		if ((rc = steps_call(c, m, NULL)) == HALQA_OK) {
			put++;
		}
	}
	if (rc != WIRE_ERR_QUOTA_EXCEEDED) {
		harness_fail(__FILE__, __LINE__, "steps_fill_mailbox: the relay answered %d", rc);
	}
	relay_client_free(c);
	free(m);
	return put;
}

void steps_stop(struct relay_test *t)
{
	int was_running = t->pid != 0;

	relay_test_stop(t);
	if (was_running && !(WIFEXITED(t->last_status) && WEXITSTATUS(t->last_status) == 0)) {
		harness_fail(__FILE__, __LINE__, "halqad did not exit cleanly (status %d)",
			     t->last_status);
	}
}
