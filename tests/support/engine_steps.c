/*
 * engine_steps.c: profiles driven in one process for the engine tests.
 * Each profile has its own store file, identity, loop and engine, all on
 * the test's thread; the relay is a real halqad (relay_client.h).
 */
#include "support/engine_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "halqa/card.h"
#include "halqa/mls_group.h"
#include "harness.h"
#include "support/hostile_relay.h"

static int64_t eprof_clock(void *arg)
{
	struct eprof *p = arg;

	return p->now;
}

static int eprof_event(void *arg, const struct engine_event *ev)
{
	struct eprof *p = arg;

	if (ev->type > 0 && ev->type < (int)(sizeof p->events / sizeof p->events[0])) {
		p->events[ev->type]++;
	}
	if (p->on_event != NULL) {
		p->on_event(p, ev);
	}
	return HALQA_OK;
}

static int eprof_open(struct eprof *p, unsigned flags)
{
	int r;

	if ((r = store_open(&p->store, p->path, p->key, flags)) != HALQA_OK) {
		return r;
	}
	if (uv_loop_init(&p->loop) != 0) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = engine_new(&p->e, p->store, p->id, &p->loop)) != HALQA_OK) {
		return r;
	}
	engine_set_clock(p->e, eprof_clock, p);
	engine_set_event_cb(p->e, eprof_event, p);
	engine_set_timeout(p->e, 5000);
	return HALQA_OK;
}

static void eprof_close(struct eprof *p)
{
	if (p->e != NULL) {
		engine_free(p->e);
		p->e = NULL;
		while (uv_run(&p->loop, UV_RUN_NOWAIT) != 0) {
		}
		(void)uv_loop_close(&p->loop);
	}
	store_close(p->store);
	p->store = NULL;
}

struct eprof *eprof_new(struct relay_test *t, const char *name)
{
	struct eprof *p;
	char hex[65];
	int r;

	if ((p = calloc(1, sizeof *p)) == NULL) {
		return NULL;
	}
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->dir, sizeof p->dir, "/tmp/halqa-engine-XXXXXX");
	if (mkdtemp(p->dir) == NULL) {
		free(p);
		return NULL;
	}
	snprintf(p->path, sizeof p->path, "%s/store.db", p->dir);
	randombytes_buf(p->key, sizeof p->key);
	p->now = 1700000000000LL;
	CHECK_OK(r = identity_new(&p->id));
	if (r != HALQA_OK) {
		eprof_free(p);
		return NULL;
	}
	sodium_bin2hex(hex, sizeof hex, t->server_pub, 32);
	CHECK_OK(r = eprof_open(p, STORE_CREATE));
	if (r == HALQA_OK) {
		CHECK_OK(r = store_setting_set(p->store, "relay.endpoint", t->endpoint));
	}
	if (r == HALQA_OK) {
		CHECK_OK(r = store_setting_set(p->store, "relay.key", hex));
	}
	if (r == HALQA_OK) {
		CHECK_OK(r = engine_register(p->e, NULL));
		if (r != HALQA_OK) {
			fprintf(stderr, "register: %s\n", engine_last_error(p->e));
		}
	}
	if (r != HALQA_OK) {
		eprof_free(p);
		return NULL;
	}
	return p;
}

int eprof_reopen(struct eprof *p)
{
	eprof_close(p);
	return eprof_open(p, 0);
}

void eprof_free(struct eprof *p)
{
	char cmd[320];

	if (p == NULL) {
		return;
	}
	eprof_close(p);
	identity_free(p->id);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "could not remove %s\n", p->dir);
	}
	sodium_memzero(p->key, sizeof p->key);
	free(p);
}

static int add_contact(struct eprof *to, const struct eprof *who)
{
	char endpoint[CARD_MAX_ENDPOINT + 1], hex[65];
	size_t key_len = 0;
	struct card cd;
	struct store_contact ct;
	int r;

	memset(&cd, 0, sizeof cd);
	memset(&ct, 0, sizeof ct);
	if ((r = store_setting_get(who->store, "relay.endpoint", endpoint, sizeof endpoint)) !=
		    HALQA_OK ||
	    (r = store_setting_get(who->store, "relay.key", hex, sizeof hex)) != HALQA_OK) {
		return r;
	}
	snprintf(cd.endpoint, sizeof cd.endpoint, "%s", endpoint);
	if (sodium_hex2bin(cd.relay_pub, 32, hex, 64, NULL, &key_len, NULL) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(cd.identity_pub, who->id->sign_pub, 32);
	memcpy(cd.mailbox_id, who->id->mailbox_id, 16);
	memcpy(cd.kp_dir_id, who->id->kp_dir_id, 16);
	if ((r = card_encode(ct.card, &cd)) != HALQA_OK) {
		return r;
	}
	snprintf(ct.name, sizeof ct.name, "%s", who->name);
	memcpy(ct.identity_pub, who->id->sign_pub, 32);
	ct.verified = 1;
	ct.added_at = to->now;
	return store_contact_add(to->store, &ct);
}

int eprof_meet(struct eprof *a, struct eprof *b)
{
	int r;

	CHECK_OK(r = add_contact(a, b));
	if (r == HALQA_OK) {
		CHECK_OK(r = add_contact(b, a));
	}
	return r;
}

int eprof_pair(struct eprof *a, struct eprof *b, const char *name)
{
	struct engine_sync_report rep;
	int r;

	if ((r = eprof_meet(a, b)) != HALQA_OK) {
		return r;
	}
	CHECK_OK(r = engine_circle_create(a->e, name, NULL));
	if (r == HALQA_OK) {
		CHECK_OK(r = engine_circle_add(a->e, name, (const char *[]){b->name}, 1));
	}
	if (r == HALQA_OK) {
		CHECK_OK(r = eprof_sync(b, &rep));
		CHECK_INT_EQ(rep.joined, 1);
	}
	return r;
}

int eprof_say(struct eprof *p, const char *circle, const char *text, bool *out_sent)
{
	struct session_message *m = calloc(1, sizeof *m);
	int r;

	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	m->kind = SESSION_KIND_CHAT;
	snprintf(m->u.chat.text, sizeof m->u.chat.text, "%s", text);
	r = engine_send(p->e, circle, m, NULL, out_sent);
	if (r != HALQA_OK) {
		fprintf(stderr, "%s: send: %s (%s)\n", p->name, halqa_strerror(r),
			engine_last_error(p->e));
	}
	free(m);
	return r;
}

int eprof_say_with_sync(struct eprof *p, const char *circle, const char *text, bool *out_sent,
			struct engine_sync_report *rep)
{
	struct session_message *m = calloc(1, sizeof *m);
	uint8_t msg_id[ENGINE_ID_LEN];
	int r;

	if (m == NULL) {
		return HALQA_ERR_NOMEM;
	}
	m->kind = SESSION_KIND_CHAT;
	snprintf(m->u.chat.text, sizeof m->u.chat.text, "%s", text);
	if ((r = engine_send_with_sync(p->e, circle, m)) == HALQA_OK) {
		CHECK_OK(eprof_sync(p, rep));
		r = engine_send_outcome(p->e, msg_id, out_sent);
	}
	free(m);
	return r;
}

int eprof_sync(struct eprof *p, struct engine_sync_report *rep)
{
	struct engine_sync_report local;
	int r;

	r = engine_sync(p->e, rep != NULL ? rep : &local);
	if (r != HALQA_OK) {
		fprintf(stderr, "%s: sync: %s (%s)\n", p->name, halqa_strerror(r),
			engine_last_error(p->e));
	}
	return r;
}

int eprof_last_text(struct eprof *p, const char *circle, char *out, size_t out_len)
{
	struct store_circle c;
	struct store_message_list l;
	int r;

	memset(&l, 0, sizeof l);
	out[0] = '\0';
	if ((r = engine_circle_find(p->e, circle, &c)) != HALQA_OK ||
	    (r = store_message_list_after(p->store, c.circle_id, 0, 1, 1, &l)) != HALQA_OK) {
		return r;
	}
	if (l.num == 0) {
		r = HALQA_ERR_NOT_FOUND;
	} else {
		snprintf(out, out_len, "%s", l.items[0].body);
	}
	store_message_list_free(&l);
	return r;
}

long eprof_count(struct eprof *p, const char *circle)
{
	struct store_circle c;
	struct store_message_list l;
	long n;

	memset(&l, 0, sizeof l);
	if (engine_circle_find(p->e, circle, &c) != HALQA_OK ||
	    store_message_list_after(p->store, c.circle_id, 0, 100000, 0, &l) != HALQA_OK) {
		return -1;
	}
	n = (long)l.num;
	store_message_list_free(&l);
	return n;
}

int eprof_has_text(struct eprof *p, const char *circle, const char *text)
{
	struct store_circle c;
	struct store_message_list l;
	int n = 0;

	memset(&l, 0, sizeof l);
	if (engine_circle_find(p->e, circle, &c) != HALQA_OK ||
	    store_message_list_after(p->store, c.circle_id, 0, 100000, 0, &l) != HALQA_OK) {
		return -1;
	}
	for (size_t i = 0; i < l.num; i++) {
		n += strcmp(l.items[i].body, text) == 0;
	}
	store_message_list_free(&l);
	return n;
}

int eprof_group(struct eprof *p, const char *circle, struct mls_group **out)
{
	struct store_circle c;
	uint8_t *state = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = engine_circle_find(p->e, circle, &c)) != HALQA_OK ||
	    (r = store_circle_state_get(p->store, c.circle_id, &state, &len)) != HALQA_OK) {
		return r;
	}
	r = mls_group_load(out, state, len, NULL);
	store_secret_free(state, len);
	return r;
}

int eprof_same_epoch(struct eprof *a, struct eprof *b, const char *circle, uint64_t *out_epoch)
{
	struct mls_group *ga = NULL, *gb = NULL;
	uint8_t auth_a[32], auth_b[32];
	int r;

	if ((r = eprof_group(a, circle, &ga)) != HALQA_OK ||
	    (r = eprof_group(b, circle, &gb)) != HALQA_OK) {
		goto out;
	}
	if (out_epoch != NULL) {
		*out_epoch = mls_group_epoch(ga);
	}
	mls_group_epoch_authenticator(ga, auth_a);
	mls_group_epoch_authenticator(gb, auth_b);
	if (mls_group_epoch(ga) != mls_group_epoch(gb) || sodium_memcmp(auth_a, auth_b, 32) != 0) {
		r = HALQA_ERR_INVALID;
	}
out:
	mls_group_free(ga);
	mls_group_free(gb);
	return r;
}

int eprof_run_until(struct eprof *p, const size_t *count, size_t want, int ms)
{
	struct timespec nap = {0, 5 * 1000 * 1000};

	for (int i = 0; i < ms / 5 && *count < want; i++) {
		uv_run(&p->loop, UV_RUN_NOWAIT);
		nanosleep(&nap, NULL);
	}
	return *count >= want;
}

struct eprof *eprof_new_behind(struct relay_test *t, struct eprof *peer, const char *name,
			       struct hostile_relay **out_h)
{
	struct relay_test fake;
	struct eprof *p;
	char endpoint[64];
	uint8_t key[32];
	int r;

	*out_h = NULL;
	CHECK_OK(hostile_relay_start(out_h, t, endpoint, key));
	if (*out_h == NULL) {
		return NULL;
	}
	fake = *t;
	snprintf(fake.endpoint, sizeof fake.endpoint, "%s", endpoint);
	memcpy(fake.server_pub, key, 32);
	if ((p = eprof_new(&fake, name)) == NULL) {
		return NULL;
	}
	/* The card made for |peer| names the real relay; then the liar is ours. */
	if ((r = store_setting_set(p->store, "relay.endpoint", t->endpoint)) != HALQA_OK ||
	    (r = eprof_meet(peer, p)) != HALQA_OK ||
	    (r = store_setting_set(p->store, "relay.endpoint", endpoint)) != HALQA_OK) {
		CHECK_OK(r);
		eprof_free(p);
		return NULL;
	}
	return p;
}

size_t eprof_welcomes_waiting(struct eprof *p, const char *circle)
{
	struct store_circle row;
	struct store_welcome_out *items = NULL;
	size_t num = 0;

	CHECK_OK(engine_circle_find(p->e, circle, &row));
	CHECK_OK(store_welcome_out_list(p->store, row.circle_id, &items, &num));
	store_welcome_out_free(items, num);
	return num;
}
