/*
 * relay_client.c: the blocking test client and the halqad runner of
 * relay_client.h.
 *
 * The client is deliberately simple where the real client is not: it
 * blocks in zmq_poll (level-triggered on a ZeroMQ socket, so none of the
 * ZMQ_FD edge rules of the relay's libuv loop apply), keeps every frame it
 * receives in one FIFO with its header already read, and lets each wait
 * function take the first frame it is looking for. Replies to other request
 * ids met while waiting for a reply are late answers to requests that timed
 * out and are dropped; pushes stay queued, bounded. Frames that do not
 * decode are reported, since a relay that sends one has a bug a test
 * should see.
 *
 * The daemon runner forks and execs halqad with PR_SET_PDEATHSIG so a test
 * that crashes does not leave a relay holding a port, and gives each run a
 * fresh temp directory that relay_test_stop removes.
 */
#define _GNU_SOURCE /* mkdtemp, prctl */
#include "support/relay_client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "halqa/bytes.h"

struct frame {
	struct frame *next;
	uint8_t type;
	uint32_t id;
	size_t len;
	uint8_t *data;
};

struct relay_client {
	void *ctx; /* the shared context, counted in ctx_refs */
	void *sock;
	char endpoint[256];
	uint8_t server_pub[32];
	uint8_t pub[32];
	uint8_t sec[32];
	uint32_t next_id;
	struct frame *head, *tail;
	size_t queued, dropped;
	uint8_t *reply_held; /* the frame the last reply borrows from */
	uint8_t *push_held;  /* the frame the last push borrows from */
	/*
	 * Two 9 KiB messages, allocated on first use: a benchmark holding
	 * thousands of idle clients should not pay for them.
	 */
	struct wire_msg *scratch;   /* a request copy with our request id */
	struct wire_msg *tmp_reply; /* relay_client_ok's reply when the caller wants none */
};

/* ---- the shared ZeroMQ context ---- */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *ctx_shared;
static size_t ctx_refs;

static void *ctx_acquire(void)
{
	void *ctx;

	pthread_mutex_lock(&ctx_lock);
	if (ctx_shared == NULL) {
		ctx_shared = zmq_ctx_new();
		/* A benchmark holds thousands of idle connections; the default is 1023. */
		if (ctx_shared != NULL) {
			zmq_ctx_set(ctx_shared, ZMQ_MAX_SOCKETS, 65536);
		}
	}
	if (ctx_shared != NULL) {
		ctx_refs++;
	}
	ctx = ctx_shared;
	pthread_mutex_unlock(&ctx_lock);
	return ctx;
}

static void ctx_release(void)
{
	pthread_mutex_lock(&ctx_lock);
	if (ctx_refs > 0 && --ctx_refs == 0) {
		zmq_ctx_term(ctx_shared);
		ctx_shared = NULL;
	}
	pthread_mutex_unlock(&ctx_lock);
}

/* ---- time ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* ---- client ---- */

static int open_socket(struct relay_client *c)
{
	int linger = 0, sndtimeo = 5000;
	int64_t maxmsg = WIRE_MAX_FRAME;

	c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
	if (c->sock == NULL) {
		return HALQA_ERR_NETWORK;
	}
	if (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->server_pub, 32) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->pub, 32) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->sec, 32) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
	    zmq_connect(c->sock, c->endpoint) != 0) {
		zmq_close(c->sock);
		c->sock = NULL;
		return HALQA_ERR_NETWORK;
	}
	return HALQA_OK;
}

int relay_client_new(struct relay_client **out, const char *endpoint, const uint8_t server_pub[32],
		     const uint8_t *client_pub, const uint8_t *client_sec)
{
	struct relay_client *c = NULL;
	int rc;

	*out = NULL;
	if (endpoint == NULL || server_pub == NULL || (client_pub == NULL) != (client_sec == NULL) ||
	    strlen(endpoint) >= sizeof c->endpoint) {
		return HALQA_ERR_ARG;
	}
	if (sodium_init() < 0) {
		return HALQA_ERR_INTERNAL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	strcpy(c->endpoint, endpoint);
	memcpy(c->server_pub, server_pub, 32);
	if (client_pub != NULL) {
		memcpy(c->pub, client_pub, 32);
		memcpy(c->sec, client_sec, 32);
	} else {
		crypto_box_keypair(c->pub, c->sec);
	}
	c->next_id = 1;
	if ((c->ctx = ctx_acquire()) == NULL) {
		sodium_memzero(c->sec, sizeof c->sec);
		free(c);
		return HALQA_ERR_NETWORK;
	}
	if ((rc = open_socket(c)) != HALQA_OK) {
		relay_client_free(c);
		return rc;
	}
	*out = c;
	return HALQA_OK;
}

static void frame_free(struct frame *f)
{
	if (f != NULL) {
		free(f->data);
		free(f);
	}
}

void relay_client_free(struct relay_client *c)
{
	struct frame *f, *next;

	if (c == NULL) {
		return;
	}
	if (c->sock != NULL) {
		zmq_close(c->sock);
	}
	for (f = c->head; f != NULL; f = next) {
		next = f->next;
		frame_free(f);
	}
	free(c->reply_held);
	free(c->push_held);
	free(c->scratch);
	free(c->tmp_reply);
	sodium_memzero(c->sec, sizeof c->sec);
	if (c->ctx != NULL) {
		ctx_release();
	}
	free(c);
}

void relay_client_public_key(const struct relay_client *c, uint8_t out[32])
{
	memcpy(out, c->pub, 32);
}

void relay_client_secret_key(const struct relay_client *c, uint8_t out[32])
{
	memcpy(out, c->sec, 32);
}

int relay_client_reconnect(struct relay_client *c)
{
	if (c->sock != NULL) {
		zmq_close(c->sock);
		c->sock = NULL;
	}
	return open_socket(c);
}

size_t relay_client_queued(const struct relay_client *c)
{
	return c->queued;
}

size_t relay_client_dropped(const struct relay_client *c)
{
	return c->dropped;
}

int relay_client_send_raw(struct relay_client *c, const uint8_t *data, size_t len)
{
	if (c->sock == NULL || zmq_send(c->sock, data, len, 0) < 0) {
		return HALQA_ERR_NETWORK;
	}
	return HALQA_OK;
}

int relay_client_send_multipart(struct relay_client *c, const uint8_t *const *parts,
				const size_t *lens, size_t num_parts)
{
	size_t i;

	if (c->sock == NULL || num_parts == 0) {
		return HALQA_ERR_ARG;
	}
	for (i = 0; i < num_parts; i++) {
		int flags = i + 1 < num_parts ? ZMQ_SNDMORE : 0;

		if (zmq_send(c->sock, parts[i], lens[i], flags) < 0) {
			return HALQA_ERR_NETWORK;
		}
	}
	return HALQA_OK;
}

int relay_client_send_request(struct relay_client *c, const struct wire_msg *req, uint32_t *out_id)
{
	struct bytes_writer w;
	uint32_t id;
	int rc;

	*out_id = 0;
	if (c->scratch == NULL && (c->scratch = malloc(sizeof *c->scratch)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	id = c->next_id++;
	if (c->next_id == 0) {
		c->next_id = 1;
	}
	*c->scratch = *req;
	c->scratch->request_id = id;
	bytes_writer_init(&w, WIRE_MAX_FRAME, BYTES_WIPE);
	rc = wire_encode(&w, c->scratch);
	/* The copy may hold a capability or an invite. */
	wire_msg_cleanup(c->scratch);
	if (rc == HALQA_OK) {
		rc = relay_client_send_raw(c, bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	if (rc == HALQA_OK) {
		*out_id = id;
	}
	return rc;
}

static void enqueue(struct relay_client *c, struct frame *f)
{
	if (c->queued >= RELAY_CLIENT_MAX_QUEUED) {
		c->dropped++;
		frame_free(f);
		return;
	}
	if (c->tail != NULL) {
		c->tail->next = f;
	} else {
		c->head = f;
	}
	c->tail = f;
	c->queued++;
}

/*
 * receive_available moves every frame ZeroMQ has ready into the queue.
 * Returns HALQA_ERR_MALFORMED if one was multi-part or had no readable
 * header (dropped), HALQA_ERR_NOMEM, else HALQA_OK.
 */
static int receive_available(struct relay_client *c)
{
	int result = HALQA_OK;

	for (;;) {
		struct wire_header h;
		struct frame *f;
		zmq_msg_t msg;
		int more;

		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return result;
		}
		more = zmq_msg_more(&msg);
		if (more) {
			/* The relay must send single frames: drop every part. */
			while (more) {
				zmq_msg_close(&msg);
				zmq_msg_init(&msg);
				if (zmq_msg_recv(&msg, c->sock, 0) < 0) {
					break;
				}
				more = zmq_msg_more(&msg);
			}
			zmq_msg_close(&msg);
			result = HALQA_ERR_MALFORMED;
			continue;
		}
		if (wire_peek_header(zmq_msg_data(&msg), zmq_msg_size(&msg), &h) != HALQA_OK) {
			zmq_msg_close(&msg);
			result = HALQA_ERR_MALFORMED;
			continue;
		}
		f = calloc(1, sizeof *f);
		if (f == NULL || (f->data = malloc(zmq_msg_size(&msg) + 1)) == NULL) {
			free(f);
			zmq_msg_close(&msg);
			return HALQA_ERR_NOMEM;
		}
		f->len = zmq_msg_size(&msg);
		memcpy(f->data, zmq_msg_data(&msg), f->len);
		f->type = h.type;
		f->id = h.request_id;
		zmq_msg_close(&msg);
		enqueue(c, f);
	}
}

enum want { WANT_REPLY_ID, WANT_ANY_REPLY, WANT_PUSH };

/* take finds, unlinks and returns the first queued frame matching |want|. */
static struct frame *take(struct relay_client *c, enum want want, uint32_t id)
{
	struct frame **link = &c->head, *prev = NULL, *f;

	while ((f = *link) != NULL) {
		int is_reply = f->type == WIRE_OK || f->type == WIRE_ERR;
		int match = (want == WANT_PUSH && f->type == WIRE_DELIVER) ||
			    (want == WANT_ANY_REPLY && is_reply) ||
			    (want == WANT_REPLY_ID && is_reply && f->id == id);
		/* An ERR with id 0 is a notice (queue overflow), not a late reply: keep it. */
		int drop = want == WANT_REPLY_ID && is_reply && f->id != id && f->id != 0;

		if (match || drop) {
			*link = f->next;
			if (c->tail == f) {
				c->tail = prev;
			}
			c->queued--;
			f->next = NULL;
			if (match) {
				return f;
			}
			frame_free(f);
			continue;
		}
		prev = f;
		link = &f->next;
	}
	return NULL;
}

static int wait_frame(struct relay_client *c, enum want want, uint32_t id, struct wire_msg *out,
		      int timeout_ms)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct frame *f;
	int rc;

	memset(out, 0, sizeof *out);
	if (c->sock == NULL) {
		return HALQA_ERR_NETWORK;
	}
	for (;;) {
		zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
		int64_t left;

		if ((rc = receive_available(c)) != HALQA_OK) {
			return rc;
		}
		if ((f = take(c, want, id)) != NULL) {
			break;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			return HALQA_ERR_NETWORK;
		}
		if (zmq_poll(&item, 1, (long)left) < 0 && errno != EINTR) {
			return HALQA_ERR_NETWORK;
		}
	}
	if ((rc = wire_decode(f->data, f->len, out)) != HALQA_OK) {
		frame_free(f);
		return HALQA_ERR_MALFORMED;
	}
	/* |out| borrows from the frame: keep it until the next call of this kind. */
	if (want == WANT_PUSH) {
		free(c->push_held);
		c->push_held = f->data;
	} else {
		free(c->reply_held);
		c->reply_held = f->data;
	}
	free(f);
	return HALQA_OK;
}

int relay_client_wait_reply(struct relay_client *c, uint32_t id, struct wire_msg *reply,
			    int timeout_ms)
{
	return wait_frame(c, WANT_REPLY_ID, id, reply, timeout_ms);
}

int relay_client_request(struct relay_client *c, const struct wire_msg *req,
			 struct wire_msg *reply, int timeout_ms)
{
	uint32_t id;
	int rc;

	if ((rc = relay_client_send_request(c, req, &id)) != HALQA_OK) {
		memset(reply, 0, sizeof *reply);
		return rc;
	}
	return relay_client_wait_reply(c, id, reply, timeout_ms);
}

int relay_client_next_push(struct relay_client *c, struct wire_msg *out, int timeout_ms)
{
	return wait_frame(c, WANT_PUSH, 0, out, timeout_ms);
}

int relay_client_next_reply(struct relay_client *c, struct wire_msg *out, int timeout_ms)
{
	return wait_frame(c, WANT_ANY_REPLY, 0, out, timeout_ms);
}

int relay_client_ok(struct relay_client *c, const struct wire_msg *req, struct wire_msg *reply,
		    uint16_t *out_code, int timeout_ms)
{
	struct wire_msg *r = reply;
	int rc;

	if (out_code != NULL) {
		*out_code = 0;
	}
	if (r == NULL) {
		if (c->tmp_reply == NULL && (c->tmp_reply = malloc(sizeof *c->tmp_reply)) == NULL) {
			return HALQA_ERR_NOMEM;
		}
		r = c->tmp_reply;
	}
	if ((rc = relay_client_request(c, req, r, timeout_ms)) != HALQA_OK) {
		return rc;
	}
	if (r->type == WIRE_ERR) {
		if (out_code != NULL) {
			*out_code = r->u.err.code;
		}
		return wire_err_to_halqa(r->u.err.code);
	}
	if (r->type != WIRE_OK || r->u.ok.for_type != req->type) {
		return HALQA_ERR_MALFORMED;
	}
	return HALQA_OK;
}

/* ---- running halqad ---- */

#define MAX_ARGS 48

struct argv_buf {
	char words[1024];
	char *argv[MAX_ARGS + 1];
	size_t argc;
};

static int argv_add(struct argv_buf *a, size_t *used, const char *word, size_t n)
{
	if (a->argc >= MAX_ARGS || n + 1 > sizeof a->words - *used) {
		return HALQA_ERR_TOO_LARGE;
	}
	memcpy(a->words + *used, word, n);
	a->words[*used + n] = '\0';
	a->argv[a->argc++] = a->words + *used;
	a->argv[a->argc] = NULL;
	*used += n + 1;
	return HALQA_OK;
}

/* argv_add_split appends the space-separated words of |s| (NULL: none). */
static int argv_add_split(struct argv_buf *a, size_t *used, const char *s)
{
	int rc;

	while (s != NULL && *s != '\0') {
		size_t n;

		while (*s == ' ') {
			s++;
		}
		n = strcspn(s, " ");
		if (n > 0 && (rc = argv_add(a, used, s, n)) != HALQA_OK) {
			return rc;
		}
		s += n;
	}
	return HALQA_OK;
}

static int build_argv(struct argv_buf *a, const char *bin, const char *const *fixed,
		      const char *extra)
{
	size_t used = 0;
	int rc;

	a->argc = 0;
	a->argv[0] = NULL;
	if ((rc = argv_add(a, &used, bin, strlen(bin))) != HALQA_OK) {
		return rc;
	}
	for (; *fixed != NULL; fixed++) {
		if ((rc = argv_add(a, &used, *fixed, strlen(*fixed))) != HALQA_OK) {
			return rc;
		}
	}
	return argv_add_split(a, &used, extra);
}

static int halqad_path(char *out, size_t out_len)
{
	const char *dir = getenv("HALQA_BIN_DIR");
	int n;

	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "relay_test: HALQA_BIN_DIR is not set\n");
		return HALQA_ERR_NOT_FOUND;
	}
	n = snprintf(out, out_len, "%s/halqad", dir);
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (access(out, X_OK) != 0) {
		fprintf(stderr, "relay_test: %s is not an executable\n", out);
		return HALQA_ERR_NOT_FOUND;
	}
	return HALQA_OK;
}

/*
 * spawn runs argv with stdout to |stdout_fd| (-1: the log) and stderr to
 * the log (or inherited with HALQA_TEST_RELAY_LOG). The child dies with us.
 * With |block_stop| the child starts with SIGTERM, SIGINT and SIGHUP
 * blocked, as if they had arrived before its main().
 */
static int spawn(struct relay_test *t, char *const argv[], int stdout_fd, int block_stop,
		 pid_t *out_pid)
{
	sigset_t stop, old_mask;
	int inherit = getenv("HALQA_TEST_RELAY_LOG") != NULL;
	pid_t parent = getpid(), pid;
	int log_fd;

	*out_pid = 0;
	log_fd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		return HALQA_ERR_IO;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	fflush(NULL);
	/* Blocked across fork, so a kill() right after it cannot come first. */
	if (block_stop && pthread_sigmask(SIG_BLOCK, &stop, &old_mask) != 0) {
		close(log_fd);
		return HALQA_ERR_IO;
	}
	pid = fork();
	if (pid != 0 && block_stop) {
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	if (pid < 0) {
		close(log_fd);
		return HALQA_ERR_IO;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
			_exit(127);
		}
		if (dup2(stdout_fd >= 0 ? stdout_fd : (inherit ? 2 : log_fd), 1) < 0 ||
		    (!inherit && dup2(log_fd, 2) < 0)) {
			_exit(127);
		}
		/* The mask inherited from fork survives exec; pending signals stay pending. */
		execv(argv[0], argv);
		_exit(127);
	}
	close(log_fd);
	*out_pid = pid;
	return HALQA_OK;
}

static void print_log(const struct relay_test *t);

/*
 * dump_stacks prints every thread's stack of a daemon that does not exit
 * (gdb in batch mode, when installed), so that a rare hang in a stop can
 * be attributed from the test's output alone. HALQA_TEST_NO_GDB skips it.
 */
static void dump_stacks(pid_t pid)
{
	char pid_text[32];
	pid_t g;
	int status;

	if (getenv("HALQA_TEST_NO_GDB") != NULL || access("/usr/bin/gdb", X_OK) != 0) {
		return;
	}
	snprintf(pid_text, sizeof pid_text, "%ld", (long)pid);
	fflush(NULL);
	g = fork();
	if (g < 0) {
		return;
	}
	if (g == 0) {
		if (dup2(2, 1) < 0) {
			_exit(127);
		}
		execl("/usr/bin/gdb", "gdb", "-p", pid_text, "-batch", "-nx", "-ex",
		      "thread apply all bt", (char *)NULL);
		_exit(127);
	}
	while (waitpid(g, &status, 0) < 0 && errno == EINTR) {
	}
}

/* wait_exit waits up to |timeout_ms| for the daemon, then kills it. */
static void wait_exit(struct relay_test *t, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int status = 0;

	if (t->pid <= 0) {
		return;
	}
	for (;;) {
		pid_t r = waitpid(t->pid, &status, WNOHANG);

		if (r == t->pid || (r < 0 && errno != EINTR)) {
			break;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "relay_test: halqad did not exit, killing it\n");
			print_log(t);
			dump_stacks(t->pid);
			kill(t->pid, SIGKILL);
			while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR) {
			}
			break;
		}
		sleep_ms(5);
	}
	t->last_status = status;
	t->pid = 0;
}

static void print_log(const struct relay_test *t)
{
	char buf[4096];
	FILE *f = fopen(t->log_path, "r");
	size_t n;

	if (f == NULL) {
		return;
	}
	if (fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);

		if (size > (long)sizeof buf - 1) {
			fseek(f, size - (long)(sizeof buf - 1), SEEK_SET);
		} else {
			fseek(f, 0, SEEK_SET);
		}
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- halqad log (%s) ----\n%s---- end of log ----\n", t->log_path, buf);
}

/* run_capture runs argv to completion and collects its stdout. */
static int run_capture(struct relay_test *t, char *const argv[], char *out, size_t out_len,
		       int *out_status)
{
	char sink[512];
	size_t used = 0;
	int fds[2], status = 0, rc;
	pid_t pid;

	if (out != NULL && out_len > 0) {
		out[0] = '\0';
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		return HALQA_ERR_IO;
	}
	rc = spawn(t, argv, fds[1], 0, &pid);
	close(fds[1]);
	if (rc != HALQA_OK) {
		close(fds[0]);
		return rc;
	}
	for (;;) {
		char *dst = sink;
		size_t room = sizeof sink;
		ssize_t n;

		if (out != NULL && used + 1 < out_len) {
			dst = out + used;
			room = out_len - 1 - used;
		}
		n = read(fds[0], dst, room);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		if (dst != sink) {
			used += (size_t)n;
			out[used] = '\0';
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (out_status != NULL) {
		*out_status = status;
	}
	return HALQA_OK;
}

/*
 * parse_address finds "halqa-relay:<endpoint>#<key>" in |text| (what
 * `halqad init` printed) and takes the key: 64 lowercase hex digits, the
 * only form relayaddr_parse accepts.
 */
static int parse_address(struct relay_test *t, const char *text)
{
	const char *line = strstr(text, "halqa-relay:");
	const char *hash;
	size_t n, bin_len = 0, i;

	if (line == NULL) {
		return HALQA_ERR_MALFORMED;
	}
	n = strcspn(line, "\r\n");
	hash = memchr(line, '#', n);
	if (hash == NULL || (size_t)(line + n - (hash + 1)) != 64) {
		return HALQA_ERR_MALFORMED;
	}
	for (i = 1; i <= 64; i++) {
		if (!((hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f'))) {
			return HALQA_ERR_MALFORMED;
		}
	}
	if (sodium_hex2bin(t->server_pub, 32, hash + 1, 64, NULL, &bin_len, NULL) != 0 ||
	    bin_len != 32) {
		return HALQA_ERR_MALFORMED;
	}
	return HALQA_OK;
}

/*
 * set_address_line writes the line of the relay as it really runs: init
 * printed the configured public endpoint, but the test relay listens on
 * t->endpoint, a free port chosen afterwards.
 */
static void set_address_line(struct relay_test *t)
{
	char hex[65];

	sodium_bin2hex(hex, sizeof hex, t->server_pub, 32);
	snprintf(t->address_line, sizeof t->address_line, "halqa-relay:%s#%s", t->endpoint, hex);
}

static int free_port(int *out)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = HALQA_ERR_IO;

	*out = 0;
	if (fd < 0) {
		return HALQA_ERR_IO;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
		*out = ntohs(sa.sin_port);
		rc = HALQA_OK;
	}
	close(fd);
	return rc;
}

/* wait_ready pings the daemon until it answers, it exits, or 20 s pass. */
static int wait_ready(struct relay_test *t)
{
	struct relay_client *c = NULL;
	struct wire_msg ping;
	int64_t deadline = now_ms() + 20000;
	int rc;

	if ((rc = relay_test_client(t, &c, NULL, NULL)) != HALQA_OK) {
		return rc;
	}
	wire_msg_init(&ping, WIRE_PING, 1);
	rc = HALQA_ERR_NETWORK;
	while (now_ms() < deadline) {
		int status;

		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->last_status = status;
			t->pid = 0;
			fprintf(stderr, "relay_test: halqad exited during startup (status %d)\n",
				status);
			break;
		}
		/* Any well-formed answer means the daemon is up and serving. */
		if (relay_client_ok(c, &ping, NULL, NULL, 250) != HALQA_ERR_NETWORK) {
			rc = HALQA_OK;
			break;
		}
	}
	relay_client_free(c);
	return rc;
}

static int spawn_run(struct relay_test *t, int block_stop)
{
	struct argv_buf a;
	char bin[512];
	const char *fixed[] = {"run", "--data", t->dir, "--listen", t->endpoint, NULL};
	int rc;

	if ((rc = halqad_path(bin, sizeof bin)) != HALQA_OK ||
	    (rc = build_argv(&a, bin, fixed, t->extra_args)) != HALQA_OK) {
		return rc;
	}
	return spawn(t, a.argv, -1, block_stop, &t->pid);
}

int relay_test_spawn_unready(struct relay_test *t, int block_stop)
{
	if (t->pid > 0) {
		return HALQA_ERR_INVALID;
	}
	return spawn_run(t, block_stop);
}

static int start_run(struct relay_test *t)
{
	int rc;

	if ((rc = spawn_run(t, 0)) != HALQA_OK) {
		return rc;
	}
	if ((rc = wait_ready(t)) != HALQA_OK) {
		print_log(t);
		if (t->pid > 0) {
			kill(t->pid, SIGKILL);
			wait_exit(t, 5000);
		}
	}
	return rc;
}

static void remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) != 0) {
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char child[1024];

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
				continue;
			}
			if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) <
			    (int)sizeof child) {
				remove_tree(child);
			}
		}
		closedir(d);
	}
	rmdir(path);
}

int relay_test_start(struct relay_test *t, const char *extra_args)
{
	const char *tmp = getenv("TMPDIR");
	char out[2048], bin[512];
	struct argv_buf a;
	int rc, status = 0, attempt;

	memset(t, 0, sizeof *t);
	if (extra_args != NULL && strlen(extra_args) >= sizeof t->extra_args) {
		return HALQA_ERR_ARG;
	}
	if (extra_args != NULL) {
		strcpy(t->extra_args, extra_args);
	}
	if ((rc = halqad_path(bin, sizeof bin)) != HALQA_OK) {
		return rc;
	}
	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 200) {
		tmp = "/tmp";
	}
	snprintf(t->root, sizeof t->root, "%s/halqa-relaytest-XXXXXX", tmp);
	if (mkdtemp(t->root) == NULL) {
		t->root[0] = '\0';
		return HALQA_ERR_IO;
	}
	snprintf(t->dir, sizeof t->dir, "%s/data", t->root);
	snprintf(t->log_path, sizeof t->log_path, "%s/halqad.log", t->root);

	{
		const char *fixed[] = {"init", "--data", t->dir, NULL};

		if ((rc = build_argv(&a, bin, fixed, NULL)) != HALQA_OK ||
		    (rc = run_capture(t, a.argv, out, sizeof out, &status)) != HALQA_OK) {
			goto out;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "relay_test: halqad init failed (status %d)\n", status);
		print_log(t);
		rc = HALQA_ERR_IO;
		goto out;
	}
	if ((rc = parse_address(t, out)) != HALQA_OK) {
		fprintf(stderr, "relay_test: no address line in halqad init output:\n%s\n", out);
		goto out;
	}
	/* Another process may take the free port first: try a few. */
	for (attempt = 0; attempt < 3; attempt++) {
		if ((rc = free_port(&t->port)) != HALQA_OK) {
			goto out;
		}
		snprintf(t->endpoint, sizeof t->endpoint, "tcp://127.0.0.1:%d", t->port);
		set_address_line(t);
		if ((rc = start_run(t)) == HALQA_OK) {
			break;
		}
	}
out:
	if (rc != HALQA_OK) {
		relay_test_stop(t);
	}
	return rc;
}

int relay_test_kill(struct relay_test *t, int sig)
{
	if (t->pid <= 0) {
		return HALQA_ERR_INVALID;
	}
	if (kill(t->pid, sig) != 0) {
		return HALQA_ERR_IO;
	}
	if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGABRT) {
		wait_exit(t, 20000);
	}
	return HALQA_OK;
}

int relay_test_restart(struct relay_test *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		wait_exit(t, 20000);
	}
	return start_run(t);
}

int relay_test_command(struct relay_test *t, const char *args, char *out, size_t out_len,
		       int *out_status)
{
	struct argv_buf a;
	char bin[512];
	size_t used = 0;
	int rc;

	if (out_status != NULL) {
		*out_status = -1;
	}
	if ((rc = halqad_path(bin, sizeof bin)) != HALQA_OK) {
		return rc;
	}
	a.argc = 0;
	if ((rc = argv_add(&a, &used, bin, strlen(bin))) != HALQA_OK ||
	    (rc = argv_add_split(&a, &used, args)) != HALQA_OK ||
	    (rc = argv_add(&a, &used, "--data", 6)) != HALQA_OK ||
	    (rc = argv_add(&a, &used, t->dir, strlen(t->dir))) != HALQA_OK) {
		return rc;
	}
	return run_capture(t, a.argv, out, out_len, out_status);
}

int relay_test_invite(struct relay_test *t, unsigned uses, char *out, size_t out_len)
{
	char args[64], text[1024];
	char *line = NULL, *p, *save = NULL;
	int rc, status;
	size_t n;

	if (out_len > 0) {
		out[0] = '\0';
	}
	snprintf(args, sizeof args, "invite --uses %u", uses);
	if ((rc = relay_test_command(t, args, text, sizeof text, &status)) != HALQA_OK) {
		return rc;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "relay_test: halqad invite failed (status %d)\n", status);
		print_log(t);
		return HALQA_ERR_IO;
	}
	for (p = strtok_r(text, "\r\n", &save); p != NULL; p = strtok_r(NULL, "\r\n", &save)) {
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		n = strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
			p[--n] = '\0';
		}
		if (n > 0) {
			line = p;
		}
	}
	if (line == NULL || strlen(line) >= out_len) {
		return HALQA_ERR_MALFORMED;
	}
	strcpy(out, line);
	return HALQA_OK;
}

void relay_test_stop(struct relay_test *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		wait_exit(t, 20000);
	}
	if (t->root[0] != '\0') {
		remove_tree(t->root);
		t->root[0] = '\0';
	}
}

int relay_test_client(struct relay_test *t, struct relay_client **out, const uint8_t *client_pub,
		      const uint8_t *client_sec)
{
	return relay_client_new(out, t->endpoint, t->server_pub, client_pub, client_sec);
}
