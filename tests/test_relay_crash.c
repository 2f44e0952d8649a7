/*
 * test_relay_crash.c: kill -9 the relay while clients send in a burst, and
 * check after each restart that nothing acknowledged was lost, duplicated,
 * reordered or damaged, and that nothing unacknowledged is half there.
 *
 * The real halqad runs in a temp directory (--open). Four sender devices
 * pipeline SENDs into one circle; after a seeded random pause the relay gets
 * SIGKILL, so the kill lands at a random point of its work (decoding, inside
 * a turn's transaction, during the commit's fsync, while sending replies).
 * (In odd rounds the pause starts only after the first acknowledgement, so
 * some kills always hit a relay with committed work however slow the
 * machine.) Whatever replies reached the senders before the kill are the
 * acknowledged set. After `halqad run` restarts on the same directory, a reader fetches
 * the whole circle and we check:
 *   - every acknowledged message is present exactly once, with the seq its
 *     acknowledgement gave, and its payload byte for byte;
 *   - every message present is one we sent, complete, and present once;
 *   - seqs strictly increase, and each sender's messages keep their order;
 *   - retrying every unacknowledged message with the same client message id
 *     returns the seq it already has if it was stored (duplicate = 1) or a
 *     new one if not, and retrying acknowledged ones returns their seq;
 *   - after the retries every message is present exactly once.
 * Five kills per run. The seed is printed; HALQA_TEST_SEED=N replays one.
 *
 * The same burst is then run three times with SIGTERM instead, while the
 * reader also listens (so pushes are queued when the signal lands): the
 * relay must exit with status 0 (relay_test_kill gives it 20 s, then
 * SIGKILLs it, which fails the test) after a graceful stop, and the same
 * checks hold: nothing acknowledged lost, nothing stored twice.
 *
 * Before both, SIGTERM lands during startup (see test_sigterm_at_startup):
 * halqad must stop cleanly then too.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "support/relay_client.h"

#define NUM_SENDERS 4
#define PER_ROUND 100 /* per sender: well inside the default burst of 400 requests */
#define ROUNDS 5
#define MAX_MSGS (NUM_SENDERS * PER_ROUND * ROUNDS)
#define TIMEOUT_MS 30000

enum msg_state {
	MSG_UNSENT = 0,
	MSG_SENT,  /* SEND went out, no OK seen */
	MSG_ACKED, /* OK seen: must survive any crash */
};

struct msg {
	enum msg_state state;
	uint32_t req_id;
	uint64_t seq;
	uint8_t cmid[WIRE_ID_LEN];
	int seen;
	uint64_t seen_seq;
	int late; /* first stored by a retry, so after messages sent later */
};

static uint64_t g_rng;
static uint8_t g_payload_key[crypto_stream_chacha20_KEYBYTES];
static struct msg g_msgs[NUM_SENDERS][PER_ROUND * ROUNDS];
static uint32_t g_num_sent[NUM_SENDERS];

/* splitmix64: a small seeded generator, so a failing run can be replayed. */
static uint64_t rnd(void)
{
	uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_bytes(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = (uint8_t)rnd();
	}
}

/*
 * make_payload writes the payload of message |num| of |sender|: its length
 * (40..1063 bytes) and content follow from the pair, the first 8 bytes name
 * it, the rest is a ChaCha20 keystream (as opaque as real ciphertext).
 */
static size_t make_payload(uint8_t out[1100], uint32_t sender, uint32_t num)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
	size_t len = 40 + ((sender * 7919u + num * 104729u) % 1024u);

	out[0] = (uint8_t)(sender >> 24);
	out[1] = (uint8_t)(sender >> 16);
	out[2] = (uint8_t)(sender >> 8);
	out[3] = (uint8_t)sender;
	out[4] = (uint8_t)(num >> 24);
	out[5] = (uint8_t)(num >> 16);
	out[6] = (uint8_t)(num >> 8);
	out[7] = (uint8_t)num;
	memcpy(nonce, out, 8);
	crypto_stream_chacha20(out + 8, len - 8, nonce, g_payload_key);
	return len;
}

struct world {
	struct relay_test t;
	struct relay_client *reader;
	struct relay_client *senders[NUM_SENDERS];
	uint8_t circle[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN];
};

static int register_client(struct relay_client *c)
{
	struct wire_msg m;
	uint16_t code = 0;
	int rc;

	wire_msg_init(&m, WIRE_REGISTER, 1);
	rc = relay_client_ok(c, &m, NULL, &code, TIMEOUT_MS);
	wire_msg_cleanup(&m);
	return rc == HALQA_OK || code == WIRE_ERR_ALREADY_REGISTERED ? HALQA_OK : rc;
}

static void build_send(struct wire_msg *m, const struct world *w, uint32_t sender, uint32_t num,
		       uint8_t *buf)
{
	wire_msg_init(m, WIRE_SEND, 1);
	memcpy(m->u.send.circle_id, w->circle, WIRE_ID_LEN);
	m->u.send.epoch = 0;
	m->u.send.kind = WIRE_KIND_APPLICATION;
	memcpy(m->u.send.cap, w->cap, WIRE_CAP_LEN);
	memcpy(m->u.send.client_msg_id, g_msgs[sender][num].cmid, WIRE_ID_LEN);
	m->u.send.payload.data = buf;
	m->u.send.payload.len = make_payload(buf, sender, num);
}

/* find_by_req maps a reply's request id on |sender|'s connection to its message. */
static struct msg *find_by_req(uint32_t sender, uint32_t req_id)
{
	for (uint32_t n = 0; n < g_num_sent[sender]; n++) {
		if (g_msgs[sender][n].req_id == req_id && g_msgs[sender][n].state != MSG_UNSENT) {
			return &g_msgs[sender][n];
		}
	}
	return NULL;
}

/*
 * take_reply applies one reply to a SEND. An ERR to a SEND here is a test
 * failure: nothing in this test should be refused.
 */
static void take_reply(uint32_t sender, const struct wire_msg *rep)
{
	struct msg *m = find_by_req(sender, rep->request_id);

	if (m == NULL) {
		harness_fail(__FILE__, __LINE__, "reply to unknown request %u", rep->request_id);
		return;
	}
	if (rep->type == WIRE_ERR) {
		harness_fail(__FILE__, __LINE__, "SEND refused: %s (%s)", wire_err_name(rep->u.err.code),
			     rep->u.err.reason);
		return;
	}
	if (rep->type != WIRE_OK || rep->u.ok.for_type != WIRE_SEND) {
		harness_fail(__FILE__, __LINE__, "unexpected reply type %s", wire_type_name(rep->type));
		return;
	}
	if (m->state == MSG_ACKED) {
		CHECK_INT_EQ(rep->u.ok.u.send.seq, m->seq);
		return;
	}
	m->state = MSG_ACKED;
	m->seq = rep->u.ok.u.send.seq;
}

/*
 * verify fetches the whole circle and checks it against what we sent. With
 * |complete| every message sent must be present (after the retries).
 * Returns the number of messages fetched.
 */
static size_t verify(struct world *w, int complete)
{
	struct wire_msg req, rep;
	uint64_t from = 1, prev_seq = 0;
	uint64_t last_n[NUM_SENDERS], last_seq[NUM_SENDERS] = {0};
	size_t fetched = 0;
	uint8_t buf[1100];

	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		last_n[s] = UINT64_MAX;
		for (uint32_t n = 0; n < g_num_sent[s]; n++) {
			g_msgs[s][n].seen = 0;
		}
	}
	for (int guard = 0; guard < 1000; guard++) {
		int rc;

		wire_msg_init(&req, WIRE_FETCH, 1);
		memcpy(req.u.fetch.circle_id, w->circle, WIRE_ID_LEN);
		memcpy(req.u.fetch.cap, w->cap, WIRE_CAP_LEN);
		req.u.fetch.from_seq = from;
		req.u.fetch.max_count = WIRE_MAX_FETCH_COUNT;
		rc = relay_client_ok(w->reader, &req, &rep, NULL, TIMEOUT_MS);
		wire_msg_cleanup(&req);
		CHECK_OK(rc);
		if (rc != HALQA_OK) {
			return fetched;
		}
		CHECK_INT_EQ(rep.u.ok.u.fetch.closed, 0);
		for (uint16_t i = 0; i < rep.u.ok.u.fetch.num_msgs; i++) {
			const struct wire_fetch_item *it = &rep.u.ok.u.fetch.msgs[i];
			uint32_t s, n;
			struct msg *m;
			size_t len;

			fetched++;
			if (it->seq <= prev_seq) {
				harness_fail(__FILE__, __LINE__, "seq %llu after %llu",
					     (unsigned long long)it->seq, (unsigned long long)prev_seq);
			}
			prev_seq = it->seq;
			CHECK_INT_EQ(it->kind, WIRE_KIND_APPLICATION);
			if (it->payload.len < 8) {
				harness_fail(__FILE__, __LINE__, "short payload at seq %llu",
					     (unsigned long long)it->seq);
				continue;
			}
			s = (uint32_t)it->payload.data[0] << 24 | (uint32_t)it->payload.data[1] << 16 |
			    (uint32_t)it->payload.data[2] << 8 | it->payload.data[3];
			n = (uint32_t)it->payload.data[4] << 24 | (uint32_t)it->payload.data[5] << 16 |
			    (uint32_t)it->payload.data[6] << 8 | it->payload.data[7];
			if (s >= NUM_SENDERS || n >= g_num_sent[s]) {
				harness_fail(__FILE__, __LINE__, "seq %llu holds a message never sent",
					     (unsigned long long)it->seq);
				continue;
			}
			m = &g_msgs[s][n];
			len = make_payload(buf, s, n);
			/* Complete and intact: the very bytes we sent, no prefix of them. */
			CHECK_MEM_EQ(it->payload.data, it->payload.len, buf, len);
			m->seen++;
			m->seen_seq = it->seq;
			if (m->seen > 1) {
				harness_fail(__FILE__, __LINE__, "sender %u message %u stored twice", s, n);
			}
			if (m->state == MSG_ACKED && m->seq != it->seq) {
				harness_fail(__FILE__, __LINE__,
					     "sender %u message %u acknowledged as seq %llu, stored at %llu",
					     s, n, (unsigned long long)m->seq, (unsigned long long)it->seq);
			}
			/*
			 * A sender's messages keep the order it sent them in, except
			 * those first stored by retry(): a message lost with the killed
			 * relay's connection is stored only when retried, after later
			 * ones that did get through. (Those can be many: under load the
			 * old socket reconnects to the restarted relay and sends the
			 * rest of its queue before reconnect_all replaces it.)
			 */
			if (m->late) {
				continue;
			}
			if (last_n[s] != UINT64_MAX && n < last_n[s]) {
				harness_fail(__FILE__, __LINE__,
					     "sender %u: message %u (seq %llu, %s) stored after %llu "
					     "(seq %llu, %s)",
					     s, n, (unsigned long long)it->seq,
					     m->state == MSG_ACKED ? "acknowledged" : "unacknowledged",
					     (unsigned long long)last_n[s],
					     (unsigned long long)last_seq[s],
					     g_msgs[s][last_n[s]].state == MSG_ACKED ? "acknowledged"
										  : "unacknowledged");
			}
			last_n[s] = n;
			last_seq[s] = it->seq;
		}
		if (rep.u.ok.u.fetch.num_msgs == 0 || prev_seq >= rep.u.ok.u.fetch.last_seq) {
			break;
		}
		from = prev_seq + 1;
	}
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		for (uint32_t n = 0; n < g_num_sent[s]; n++) {
			struct msg *m = &g_msgs[s][n];

			if ((m->state == MSG_ACKED || complete) && m->seen != 1) {
				harness_fail(__FILE__, __LINE__,
					     "sender %u message %u (%s) present %d times", s, n,
					     m->state == MSG_ACKED ? "acknowledged" : "sent", m->seen);
			}
		}
	}
	return fetched;
}

/* collect reads the replies that reached each sender (they stay queued after a kill). */
static void collect(struct world *w, int wait_ms)
{
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		struct wire_msg rep;

		while (relay_client_next_reply(w->senders[s], &rep, wait_ms) == HALQA_OK) {
			take_reply(s, &rep);
		}
	}
}

/*
 * retry sends every unacknowledged message again with its client message
 * id, and every fifth acknowledged one (pipelined, as a client catching up
 * would), then checks each answer: the seq already stored when the relay
 * had the message, a fresh one otherwise.
 */
static void retry(struct world *w)
{
	static uint64_t stored[NUM_SENDERS][PER_ROUND * ROUNDS];
	static uint8_t retried[NUM_SENDERS][PER_ROUND * ROUNDS];
	uint8_t buf[1100];

	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		size_t pending = 0;

		for (uint32_t n = 0; n < g_num_sent[s]; n++) {
			struct msg *m = &g_msgs[s][n];
			struct wire_msg req;

			retried[s][n] = 0;
			if (m->state == MSG_ACKED && n % 5 != 0) {
				continue;
			}
			stored[s][n] = m->seen == 1 ? m->seen_seq : 0;
			build_send(&req, w, s, n, buf);
			CHECK_OK(relay_client_send_request(w->senders[s], &req, &m->req_id));
			wire_msg_cleanup(&req);
			retried[s][n] = 1;
			pending++;
		}
		while (pending > 0) {
			struct wire_msg rep;
			struct msg *m;
			uint32_t n;

			if (relay_client_next_reply(w->senders[s], &rep, TIMEOUT_MS) != HALQA_OK) {
				harness_fail(__FILE__, __LINE__, "sender %u: %zu retries unanswered", s,
					     pending);
				break;
			}
			pending--;
			for (n = 0; n < g_num_sent[s]; n++) {
				if (retried[s][n] && g_msgs[s][n].req_id == rep.request_id) {
					break;
				}
			}
			if (n == g_num_sent[s] || rep.type != WIRE_OK ||
			    rep.u.ok.for_type != WIRE_SEND) {
				harness_fail(__FILE__, __LINE__, "sender %u: bad answer to a retry (%s)",
					     s, rep.type == WIRE_ERR ? rep.u.err.reason : "?");
				continue;
			}
			m = &g_msgs[s][n];
			retried[s][n] = 0;
			if (stored[s][n] != 0) {
				/* It was on disk: a retry must name it, never add a copy. */
				CHECK_INT_EQ(rep.u.ok.u.send.seq, stored[s][n]);
				CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 1);
			} else {
				CHECK_INT_EQ(rep.u.ok.u.send.duplicate, 0);
				m->late = 1;
			}
			if (m->state == MSG_ACKED) {
				CHECK_INT_EQ(rep.u.ok.u.send.seq, m->seq);
			}
			m->state = MSG_ACKED;
			m->seq = rep.u.ok.u.send.seq;
		}
	}
}

static void reconnect_all(struct world *w)
{
	CHECK_OK(relay_client_reconnect(w->reader));
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		CHECK_OK(relay_client_reconnect(w->senders[s]));
	}
}

/* listen_reader has the reader LISTEN to the circle, so the relay has pushes to send. */
static void listen_reader(struct world *w)
{
	struct wire_msg m;

	wire_msg_init(&m, WIRE_LISTEN, 1);
	memcpy(m.u.listen.circle_id, w->circle, WIRE_ID_LEN);
	memcpy(m.u.listen.cap, w->cap, WIRE_CAP_LEN);
	CHECK_OK(relay_client_ok(w->reader, &m, NULL, NULL, TIMEOUT_MS));
	wire_msg_cleanup(&m);
}

/* stop_during_burst: |rounds| bursts, each ended by |sig| (SIGKILL or SIGTERM). */
static void stop_during_burst(int sig, int rounds)
{
	struct world w;
	struct wire_msg m;
	const char *env = getenv("HALQA_TEST_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	size_t acked_before_kill = 0, stored_unacked = 0;
	uint8_t buf[1100];

	printf("test_relay_crash: %s, seed %llu (HALQA_TEST_SEED to replay)\n",
	       sig == SIGKILL ? "SIGKILL" : "SIGTERM", (unsigned long long)seed);
	g_rng = seed;
	rnd_bytes(g_payload_key, sizeof g_payload_key);
	memset(&w, 0, sizeof w);
	memset(g_msgs, 0, sizeof g_msgs);
	memset(g_num_sent, 0, sizeof g_num_sent);
	rnd_bytes(w.circle, sizeof w.circle);
	rnd_bytes(w.cap, sizeof w.cap);

	if (relay_test_start(&w.t, "--open") != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "halqad did not start");
		return;
	}
	CHECK_OK(relay_test_client(&w.t, &w.reader, NULL, NULL));
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		CHECK_OK(relay_test_client(&w.t, &w.senders[s], NULL, NULL));
	}
	if (harness_current_failed) {
		goto out;
	}
	CHECK_OK(register_client(w.reader));
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		CHECK_OK(register_client(w.senders[s]));
	}
	wire_msg_init(&m, WIRE_CIRCLE_CREATE, 1);
	memcpy(m.u.circle_create.circle_id, w.circle, WIRE_ID_LEN);
	CHECK_OK(wire_cap_hash(m.u.circle_create.cap_hash, w.cap));
	CHECK_OK(relay_client_ok(w.reader, &m, NULL, NULL, TIMEOUT_MS));
	wire_msg_cleanup(&m);
	if (harness_current_failed) {
		goto out;
	}

	for (int round = 0; round < rounds && !harness_current_failed; round++) {
		unsigned pause_us = (unsigned)(rnd() % 15000);
		size_t acked = 0, stored = 0;

		if (sig == SIGTERM) {
			listen_reader(&w);
		}
		/* The burst: senders interleaved, everything pipelined. */
		for (uint32_t k = 0; k < PER_ROUND; k++) {
			for (uint32_t s = 0; s < NUM_SENDERS; s++) {
				uint32_t n = g_num_sent[s]++;
				struct msg *mm = &g_msgs[s][n];

				rnd_bytes(mm->cmid, sizeof mm->cmid);
				build_send(&m, &w, s, n, buf);
				if (relay_client_send_request(w.senders[s], &m, &mm->req_id) != HALQA_OK) {
					harness_fail(__FILE__, __LINE__, "could not queue a SEND");
				}
				mm->state = MSG_SENT;
				wire_msg_cleanup(&m);
			}
		}
		if (round % 2 == 1) {
			struct wire_msg rep;

			/*
			 * Odd rounds kill only once the relay has answered something,
			 * so however slow the machine, some kills land mid-burst with
			 * acknowledged work behind them.
			 */
			if (relay_client_next_reply(w.senders[0], &rep, TIMEOUT_MS) == HALQA_OK) {
				take_reply(0, &rep);
			}
		}
		usleep(pause_us);
		CHECK_OK(relay_test_kill(&w.t, sig));
		if (sig == SIGTERM) {
			/* A graceful stop: exit status 0 within relay_test_kill's 20 s. */
			if (!WIFEXITED(w.t.last_status) || WEXITSTATUS(w.t.last_status) != 0) {
				harness_fail(__FILE__, __LINE__,
					     "SIGTERM in round %d: halqad ended with status %d", round,
					     w.t.last_status);
			}
		}
		collect(&w, 50);
		for (uint32_t s = 0; s < NUM_SENDERS; s++) {
			for (uint32_t n = g_num_sent[s] - PER_ROUND; n < g_num_sent[s]; n++) {
				acked += g_msgs[s][n].state == MSG_ACKED;
			}
		}
		acked_before_kill += acked;

		if (relay_test_restart(&w.t) != HALQA_OK) {
			harness_fail(__FILE__, __LINE__, "halqad did not restart after kill %d", round);
			break;
		}
		reconnect_all(&w);
		verify(&w, 0);
		for (uint32_t s = 0; s < NUM_SENDERS; s++) {
			for (uint32_t n = 0; n < g_num_sent[s]; n++) {
				stored += g_msgs[s][n].state != MSG_ACKED && g_msgs[s][n].seen;
			}
		}
		stored_unacked += stored;
		printf("round %d: %s %u us after the burst; of %d sent, %zu acknowledged, "
		       "%zu more stored unacknowledged\n",
		       round, sig == SIGKILL ? "SIGKILL" : "SIGTERM", pause_us, NUM_SENDERS * PER_ROUND,
		       acked, stored);
		retry(&w);
		verify(&w, 1);
	}
	/* The test means something only if some kills hit work in progress. */
	printf("acknowledged before a kill: %zu; stored but unacknowledged: %zu\n",
	       acked_before_kill, stored_unacked);
	CHECK(acked_before_kill > 0);

out:
	relay_client_free(w.reader);
	for (uint32_t s = 0; s < NUM_SENDERS; s++) {
		relay_client_free(w.senders[s]);
	}
	relay_test_stop(&w.t);
	sodium_memzero(w.cap, sizeof w.cap);
}

static void test_kill9_during_burst(void)
{
	stop_during_burst(SIGKILL, ROUNDS);
}

static void test_sigterm_during_burst(void)
{
	stop_during_burst(SIGTERM, 3);
}

/* count_in_log counts the lines of the daemon's log that contain |needle|. */
static int count_in_log(const struct relay_test *t, const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(t->log_path, "r");

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		n += strstr(line, needle) != NULL;
	}
	fclose(f);
	return n;
}

/*
 * test_sigterm_at_startup: a stop signal that arrives while halqad is still
 * starting (opening and recovering the spool, binding) must give a clean
 * stop, not the default action's death. The daemon is started with the
 * stop signals blocked by the test, so the signal is sent at a known point
 * (before halqad's main even runs) whatever the machine's speed; then
 * SIGTERM comes 0 to 20 ms later, at some point of the startup. Each run
 * must end with exit status 0 and the log line of a graceful stop, and
 * the relay must start and serve normally afterwards.
 */
static void test_sigterm_at_startup(void)
{
	struct relay_test t;
	struct relay_client *c = NULL;
	struct wire_msg ping;
	int stops, log_in_file;

	if (relay_test_start(&t, "--open") != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "halqad did not start");
		return;
	}
	CHECK_OK(relay_test_kill(&t, SIGTERM));
	CHECK(WIFEXITED(t.last_status) && WEXITSTATUS(t.last_status) == 0);
	/* With HALQA_TEST_RELAY_LOG the log goes to our stderr: only statuses are checked. */
	log_in_file = getenv("HALQA_TEST_RELAY_LOG") == NULL;
	stops = count_in_log(&t, "stopped: last turn committed");
	if (log_in_file) {
		CHECK_INT_EQ(stops, 1);
	}
	for (int i = 0; i < 6 && !harness_current_failed; i++) {
		CHECK_OK(relay_test_spawn_unready(&t, 1));
		usleep((unsigned)i * 4000);
		CHECK_OK(relay_test_kill(&t, SIGTERM));
		if (!WIFEXITED(t.last_status) || WEXITSTATUS(t.last_status) != 0) {
			harness_fail(__FILE__, __LINE__,
				     "SIGTERM %d ms into startup: halqad ended with status %d", i * 4,
				     t.last_status);
		}
		if (log_in_file) {
			CHECK_INT_EQ(count_in_log(&t, "stopped: last turn committed"), stops + 1 + i);
		}
	}
	CHECK_OK(relay_test_restart(&t));
	CHECK_OK(relay_test_client(&t, &c, NULL, NULL));
	wire_msg_init(&ping, WIRE_PING, 1);
	CHECK_OK(relay_client_ok(c, &ping, NULL, NULL, TIMEOUT_MS));
	relay_client_free(c);
	relay_test_stop(&t);
}

int main(void)
{
	/* Line by line, so that progress and failures (stderr) interleave in order in a log file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_sigterm_at_startup);
	RUN(test_kill9_during_burst);
	RUN(test_sigterm_during_burst);
	return harness_report();
}
