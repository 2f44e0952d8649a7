/*
 * test_engine_syncsend.c: a message sent with a sync
 * (engine_send_with_sync, what `halqa send` does). The relay runs at
 * log level debug, one line per request, so the order of a command's
 * requests on the wire is read back from its log: the SEND goes out
 * right after the sync's first requests, before the ACK that ends the
 * sync, and once. A commit waiting on the relay makes the SEND stale:
 * the sync applies the commit and the message goes out once more, for
 * the new epoch, and reaches the others once. A removal waiting on the
 * relay: the message is refused, never sent again, and the outcome says
 * the circle is closed. A circle the same sync joins: sent after it.
 * A self-update due in the same sync: the SEND's answer is read before
 * the commit goes. An older message waiting in the outbox goes first.
 * The relay killed while the SEND's write is held up
 * (--test-faults): the message is queued, and after the restart it
 * reaches the others once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "halqa/mls_group.h"
#include "harness.h"
#include "support/engine_steps.h"
#include "support/hostile_relay.h"

static struct relay_test relay;

/* log_size is the relay log's current length (where a command's lines start). */
static long log_size(void)
{
	FILE *f = fopen(relay.log_path, "r");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
		if (f != NULL) {
			fclose(f);
		}
		return -1;
	}
	n = ftell(f);
	fclose(f);
	return n;
}

/*
 * requests writes the request types the relay logged from offset |from|
 * on into |out|, each followed by a space ("MAILBOX_FETCH FETCH SEND ACK ").
 */
static void requests(long from, char *out, size_t out_len)
{
	char line[512], *p;
	size_t len = 0;
	FILE *f = fopen(relay.log_path, "r");

	out[0] = '\0';
	if (f == NULL || fseek(f, from, SEEK_SET) != 0) {
		CHECK(0);
		if (f != NULL) {
			fclose(f);
		}
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "relay: device ") == NULL || (p = strrchr(line, ' ')) == NULL ||
		    strchr(p, '\n') == NULL) {
			continue;
		}
		*strchr(p, '\n') = '\0';
		len += (size_t)snprintf(out + len, len < out_len ? out_len - len : 0, "%s ", p + 1);
	}
	fclose(f);
}

/* count_of counts the whole words |word| in |list|. */
static int count_of(const char *list, const char *word)
{
	size_t n = strlen(word);
	int k = 0;

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
		if ((p == list || p[-1] == ' ') && p[n] == ' ') {
			k++;
		}
	}
	return k;
}

/* pos_of is the offset of the first whole word |word| in |list|, or -1. */
static long pos_of(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
		if ((p == list || p[-1] == ' ') && p[n] == ' ') {
			return p - list;
		}
	}
	return -1;
}

/* outbox_num is how many entries wait in |p|'s outbox. */
static size_t outbox_num(struct eprof *p)
{
	struct store_outbox *items = NULL;
	size_t num = 0;

	CHECK_OK(store_outbox_list(p->store, NULL, &items, &num));
	store_outbox_list_free(items, num);
	return num;
}

static void test_order_and_once(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char ops[4096];
	bool sent = false;
	long from;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	/* No sync has carried a message yet. */
	CHECK_RC(engine_send_outcome(alice->e, NULL, NULL), HALQA_ERR_ARG);
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(eprof_sync(alice, NULL));
	/* Bob wrote meanwhile: alice's sync reads it and moves her cursor (an ACK). */
	CHECK_OK(eprof_say(bob, "Desk", "b1", NULL));
	from = log_size();
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "a1", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.received, 1);
	requests(from, ops, sizeof ops);
	/* The first sync's requests, then the SEND, then the ACK; one SEND. */
	CHECK(pos_of(ops, "MAILBOX_FETCH") >= 0 && pos_of(ops, "FETCH") >= 0);
	CHECK(pos_of(ops, "MAILBOX_FETCH") < pos_of(ops, "SEND"));
	CHECK(pos_of(ops, "FETCH") < pos_of(ops, "SEND"));
	CHECK(pos_of(ops, "ACK") > pos_of(ops, "SEND"));
	CHECK_INT_EQ(count_of(ops, "SEND"), 1);
	if (count_of(ops, "SEND") != 1 || pos_of(ops, "ACK") < pos_of(ops, "SEND")) {
		fprintf(stderr, "requests: %s\n", ops);
	}
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "a1"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "b1"), 1);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "a1"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_stale_epoch(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char ops[4096];
	bool sent = false;
	long from;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	/* Bob's self-update is due: his sync commits, and alice has not read it. */
	bob->now += ENGINE_SELF_UPDATE_MS + 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	from = log_size();
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "after the commit", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.commits, 1);
	requests(from, ops, sizeof ops);
	/* Refused as stale, then sent once more for the new epoch. */
	CHECK_INT_EQ(count_of(ops, "SEND"), 2);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "after the commit"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "after the commit"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Desk", NULL));
	/* Nothing goes again. */
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 0);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_removed_meanwhile(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	struct store_circle sc;
	char ops[4096];
	bool sent = true;
	long from;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(engine_circle_remove(alice->e, "Desk", (const char *[]){"bob"}, 1));
	from = log_size();
	CHECK_RC(eprof_say_with_sync(bob, "Desk", "said after my removal", &sent, &rep),
		 HALQA_ERR_DENIED);
	CHECK(!sent);
	CHECK(strstr(engine_last_error(bob->e), "closed") != NULL);
	requests(from, ops, sizeof ops);
	CHECK_INT_EQ(count_of(ops, "SEND"), 1);
	CHECK_OK(engine_circle_find(bob->e, "Desk", &sc));
	CHECK(sc.flags & STORE_CIRCLE_REMOVED);
	/* Never queued for a closed circle, never sent by a later sync. */
	CHECK_INT_EQ(outbox_num(bob), 0);
	from = log_size();
	CHECK_OK(eprof_sync(bob, &rep));
	requests(from, ops, sizeof ops);
	CHECK_INT_EQ(count_of(ops, "SEND"), 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "said after my removal"), 0);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_joined_in_the_same_sync(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	bool sent = false;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(engine_circle_create(alice->e, "Late", NULL));
	CHECK_OK(engine_circle_add(alice->e, "Late", (const char *[]){"bob"}, 1));
	/* Bob does not know "Late" before his sync reads the Welcome. */
	CHECK_OK(eprof_say_with_sync(bob, "Late", "first words", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(outbox_num(bob), 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Late", "first words"), 1);
	/* An unknown circle is the outcome, as engine_send says it. */
	CHECK_RC(eprof_say_with_sync(bob, "Nowhere", "lost", &sent, &rep), HALQA_ERR_NOT_FOUND);
	CHECK(!sent);
out:
	eprof_free(alice);
	eprof_free(bob);
}

static void test_self_update_due(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char ops[4096];
	bool sent = false;
	long from;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	alice->now += ENGINE_SELF_UPDATE_MS + 1000;
	from = log_size();
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "before the update", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.commits, 1);
	requests(from, ops, sizeof ops);
	/* The message, then the commit: two SENDs, the message's not repeated. */
	CHECK_INT_EQ(count_of(ops, "SEND"), 2);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "before the update"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Desk", NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * An older message waits in the outbox (the relay was down): the new one
 * does not overtake it. The sync sends the old one, then the new one goes,
 * each once, in the order they were written.
 */
static void test_older_entry_waiting(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	struct store_message_list list;
	struct store_circle sc;
	bool sent = true;

	memset(&list, 0, sizeof list);
	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(relay_test_kill(&relay, SIGTERM));
	engine_set_timeout(alice->e, 1000);
	CHECK_OK(eprof_say(alice, "Desk", "older", &sent));
	CHECK(!sent);
	CHECK_INT_EQ(outbox_num(alice), 1);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(alice->e, 5000);
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "newer", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.sent, 1);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 2);
	CHECK_OK(engine_circle_find(bob->e, "Desk", &sc));
	CHECK_OK(store_message_list_after(bob->store, sc.circle_id, 0, 10, 0, &list));
	CHECK_INT_EQ(list.num, 2);
	if (list.num == 2) {
		CHECK(strcmp(list.items[0].body, "older") == 0);
		CHECK(strcmp(list.items[1].body, "newer") == 0);
	}
out:
	store_message_list_free(&list);
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * The relay reads but its writes hang (a hostile relay that swallows
 * every SEND) while a self-update of alice's is due in the same sync:
 * the unanswered SEND makes the sync offline there, as any unanswered
 * request does. No commit follows it to wait out a second timeout on the
 * same silence (and to stay pending, its fate unknown until the next
 * sync). Once writes go through again, the message reaches bob once and
 * the next sync makes the self-update.
 */
static void test_writes_hang_commit_due(void)
{
	struct eprof *bob = eprof_new(&relay, "bob"), *alice = NULL;
	struct hostile_relay *h = NULL;
	struct engine_sync_report rep;
	struct mls_group *g = NULL;
	bool sent = true;

	if (bob == NULL || (alice = eprof_new_behind(&relay, bob, "alice", &h)) == NULL) {
		goto out;
	}
	CHECK_OK(engine_circle_create(bob->e, "Desk", NULL));
	CHECK_OK(engine_circle_add(bob->e, "Desk", (const char *[]){"alice"}, 1));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.joined, 1);
	alice->now += ENGINE_SELF_UPDATE_MS + 1000;
	engine_set_timeout(alice->e, 1000);
	hostile_relay_set_modes(h, HOSTILE_MUTE_SEND);
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "into the silence", &sent, &rep));
	CHECK(!sent);
	CHECK(rep.offline);
	CHECK_INT_EQ(rep.commits, 0);
	CHECK_INT_EQ(outbox_num(alice), 1);
	/* No commit was made after the SEND went unanswered. */
	CHECK_OK(eprof_group(alice, "Desk", &g));
	if (g != NULL) {
		CHECK(!mls_group_has_pending(g));
	}
	mls_group_free(g);
	hostile_relay_set_modes(h, 0);
	engine_set_timeout(alice->e, 5000);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.sent, 1);
	CHECK_INT_EQ(rep.commits, 1);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "into the silence"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "into the silence"), 1);
	CHECK_OK(eprof_same_epoch(alice, bob, "Desk", NULL));
out:
	eprof_free(alice);
	eprof_free(bob);
	hostile_relay_stop(h);
}

/*
 * More is waiting than one FETCH returns: the sync's next FETCH goes out
 * after the SEND and reads alice's own message back before the SEND's
 * answer is read. The echo settles the entry; the flush does not send it
 * again, and the SEND's answer finds it gone: sent once, stored once.
 */
static void test_echo_before_answer(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char ops[4096], text[32];
	bool sent = false;
	long from;
	int num = WIRE_MAX_FETCH_COUNT + 20;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(eprof_sync(alice, NULL));
	for (int i = 0; i < num; i++) {
		snprintf(text, sizeof text, "b%d", i);
		CHECK_OK(eprof_say(bob, "Desk", text, NULL));
	}
	from = log_size();
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "mine", &sent, &rep));
	CHECK(sent);
	CHECK_INT_EQ(rep.received, num);
	CHECK_INT_EQ(rep.refused, 0);
	requests(from, ops, sizeof ops);
	CHECK_INT_EQ(count_of(ops, "SEND"), 1);
	/* A FETCH after the SEND: the one that read the echo. */
	CHECK(strstr(ops + pos_of(ops, "SEND"), " FETCH ") != NULL);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "mine"), 1);
	CHECK_INT_EQ(eprof_count(alice, "Desk"), num + 1);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.received, 0);
	CHECK_INT_EQ(rep.sent, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "mine"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

/*
 * A second halqa process on the same profile (`halqa chat` beside
 * `halqa send`): a second store connection and engine on alice's files.
 * Its send runs from alice's engine clock, at the |armed|-th reading
 * from now: inside alice's send, after her engine read the circle and
 * its group and before her queueing transaction began (the first
 * reading in engine_send; in a sync carrying a message, the second, the
 * first being whether the KeyPackage count is due).
 */
struct other_process {
	struct eprof *p;
	struct store *store;
	uv_loop_t loop;
	struct engine *e;
	int armed;
	int sent;
};

static int64_t other_clock(void *arg)
{
	struct other_process *o = arg;

	return o->p->now;
}

/* other_close ends the other process; safe after other_open failed, or never called. */
static void other_close(struct other_process *o)
{
	if (o->store == NULL) {
		return;
	}
	engine_free(o->e);
	o->e = NULL;
	while (uv_run(&o->loop, UV_RUN_NOWAIT) != 0) {
	}
	(void)uv_loop_close(&o->loop);
	store_close(o->store);
	o->store = NULL;
}

/* other_open opens the other process on |p|'s profile (reported; false on failure). */
static bool other_open(struct other_process *o, struct eprof *p)
{
	memset(o, 0, sizeof *o);
	o->sent = -1;
	o->p = p;
	CHECK_OK(store_open(&o->store, p->path, p->key, 0));
	if (o->store == NULL) {
		return false;
	}
	if (uv_loop_init(&o->loop) != 0) {
		CHECK(0);
		store_close(o->store);
		o->store = NULL;
		return false;
	}
	CHECK_OK(engine_new(&o->e, o->store, p->id, &o->loop));
	if (o->e == NULL) {
		other_close(o);
		return false;
	}
	engine_set_clock(o->e, other_clock, o);
	return true;
}

static int64_t racing_clock(void *arg)
{
	struct other_process *o = arg;
	struct session_message *m;

	if (o->armed > 0 && --o->armed == 0 && (m = calloc(1, sizeof *m)) != NULL) {
		m->kind = SESSION_KIND_CHAT;
		snprintf(m->u.chat.text, sizeof m->u.chat.text, "from the other process");
		o->sent = engine_send(o->e, "Desk", m, NULL, NULL);
		free(m);
	}
	return o->p->now;
}

static void other_process_sends_meanwhile(bool with_sync)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct other_process o;
	struct engine_sync_report rep;
	bool sent = false;

	memset(&o, 0, sizeof o);
	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(eprof_sync(alice, NULL));
	if (!other_open(&o, alice)) {
		goto out;
	}
	engine_set_clock(alice->e, racing_clock, &o);
	if (with_sync) {
		o.armed = 2;
		CHECK_OK(eprof_say_with_sync(alice, "Desk", "from this process", &sent, &rep));
	} else {
		o.armed = 1;
		CHECK_OK(eprof_say(alice, "Desk", "from this process", &sent));
	}
	CHECK(sent);
	CHECK_INT_EQ(o.armed, 0);
	CHECK_OK(o.sent);
	engine_set_clock(alice->e, other_clock, &o);
	/* Each message under a ratchet step of its own: bob reads both, refuses none. */
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 2);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "from the other process"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "from this process"), 1);
	/* And alice goes on: her next message reaches bob too. */
	CHECK_OK(eprof_say(alice, "Desk", "later", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 1);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_same_epoch(alice, bob, "Desk", NULL));
out:
	other_close(&o);
	eprof_free(alice);
	eprof_free(bob);
}

static void test_other_process_sends_meanwhile(void)
{
	other_process_sends_meanwhile(false);
	other_process_sends_meanwhile(true);
}

/* other_on_outbox: the other process sends once alice's sync has sent her first waiting entry. */
static void other_on_outbox(struct eprof *p, const struct engine_event *ev)
{
	struct other_process *o = p->hook_arg;

	if (ev->type == ENGINE_EVENT_OUTBOX && o->armed > 0) {
		o->armed = 1;
		(void)racing_clock(o);
	}
}

/*
 * The same race in a sync's outbox flush: two messages of alice's wait
 * from before bob's commit, so her sync encrypts them for the new epoch
 * with the group it loaded before reading the circle. The other process
 * sends once the first has gone (its own send flushes the second first).
 * Alice's sync passes over the entry the other process sent (it failed
 * with "not found" on it) and encrypts with the group as stored, not an
 * older one written back over the other's. Bob reads every message
 * once, refuses none, her next message too.
 */
static void test_other_process_sends_during_flush(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct other_process o;
	struct engine_sync_report rep;
	bool sent = true;

	memset(&o, 0, sizeof o);
	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(eprof_sync(alice, NULL));
	CHECK_OK(relay_test_kill(&relay, SIGTERM));
	engine_set_timeout(alice->e, 1000);
	CHECK_OK(eprof_say(alice, "Desk", "queued one", &sent));
	CHECK(!sent);
	CHECK_OK(eprof_say(alice, "Desk", "queued two", &sent));
	CHECK(!sent);
	CHECK_OK(relay_test_restart(&relay));
	engine_set_timeout(alice->e, 5000);
	/* Bob's self-update moves the circle on: both are encrypted again. */
	bob->now += ENGINE_SELF_UPDATE_MS + 1000;
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.commits, 1);
	if (!other_open(&o, alice)) {
		goto out;
	}
	alice->hook_arg = &o;
	alice->on_event = other_on_outbox;
	o.armed = 1;
	CHECK_OK(eprof_sync(alice, &rep));
	alice->on_event = NULL;
	CHECK_INT_EQ(o.armed, 0);
	CHECK_OK(o.sent);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_say(alice, "Desk", "later", &sent));
	CHECK(sent);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(rep.received, 4);
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "queued one"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "queued two"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "from the other process"), 1);
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "later"), 1);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.refused, 0);
	CHECK_OK(eprof_same_epoch(alice, bob, "Desk", NULL));
out:
	other_close(&o);
	eprof_free(alice);
	eprof_free(bob);
}

/* killer kills the relay a second after it starts: during the delayed commit of the SEND. */
static void *killer(void *arg)
{
	struct timespec pause = {1, 0};

	(void)arg;
	nanosleep(&pause, NULL);
	if (relay_test_kill(&relay, SIGKILL) != HALQA_OK) {
		fprintf(stderr, "the relay was not running\n");
	}
	return NULL;
}

static void test_relay_dies_meanwhile(void)
{
	struct eprof *alice = eprof_new(&relay, "alice"), *bob = eprof_new(&relay, "bob");
	struct engine_sync_report rep;
	char out[256];
	bool sent = true;
	int status = -1;
	pthread_t t;

	if (alice == NULL || bob == NULL) {
		goto out;
	}
	CHECK_OK(eprof_pair(alice, bob, "Desk"));
	CHECK_OK(eprof_sync(alice, NULL));
	/* The relay's next durable write (the SEND's) waits three seconds. */
	CHECK_OK(relay_test_command(&relay, "admin delay commit 3000", out, sizeof out, &status));
	CHECK_INT_EQ(status, 0);
	CHECK_INT_EQ(pthread_create(&t, NULL, killer, NULL), 0);
	/* The SEND's answer never comes: queued, not an error. */
	CHECK_OK(eprof_say_with_sync(alice, "Desk", "across the crash", &sent, &rep));
	CHECK_INT_EQ(pthread_join(t, NULL), 0);
	CHECK(!sent);
	CHECK_INT_EQ(outbox_num(alice), 1);
	CHECK_OK(relay_test_restart(&relay));
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK(!rep.offline);
	CHECK_INT_EQ(rep.sent, 1);
	CHECK_INT_EQ(outbox_num(alice), 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "across the crash"), 1);
	CHECK_OK(eprof_sync(alice, &rep));
	CHECK_INT_EQ(rep.sent, 0);
	CHECK_OK(eprof_sync(bob, &rep));
	CHECK_INT_EQ(eprof_has_text(bob, "Desk", "across the crash"), 1);
	CHECK_INT_EQ(eprof_has_text(alice, "Desk", "across the crash"), 1);
out:
	eprof_free(alice);
	eprof_free(bob);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	if (relay_test_start(&relay, "--open --log-level debug --test-faults") != HALQA_OK) {
		fprintf(stderr, "cannot start halqad\n");
		return 1;
	}
	RUN(test_order_and_once);
	RUN(test_stale_epoch);
	RUN(test_removed_meanwhile);
	RUN(test_joined_in_the_same_sync);
	RUN(test_self_update_due);
	RUN(test_older_entry_waiting);
	RUN(test_relay_dies_meanwhile);
	RUN(test_writes_hang_commit_due);
	RUN(test_echo_before_answer);
	RUN(test_other_process_sends_meanwhile);
	RUN(test_other_process_sends_during_flush);
	relay_test_stop(&relay);
	return harness_report();
}
