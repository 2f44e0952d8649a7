/*
 * bench_relay.c: a load generator for the relay over real ZeroMQ CURVE on
 * loopback, run in the same invocation against a bare CURVE ROUTER that only
 * forwards, so the relay's figures can be given as ratios to the transport's
 * own limit on the same machine at the same moment.
 *
 * The generator owns N devices, each a DEALER socket with its own CURVE key
 * pair, grouped in circles of 10. Every payload is 256 bytes and carries the
 * sender, a per-sender number and a CLOCK_MONOTONIC timestamp; when another
 * member receives it, now minus that timestamp is one send-to-delivery
 * latency sample (one process, one clock). A run either saturates (each
 * device keeps a window of sends in flight) or paces sends at a fixed total
 * rate; only the seconds after a warm-up are counted.
 *
 * Targets:
 *  - bare: this executable re-run as a child (a fresh process, as halqad is,
 *    so their RSS compare): one ROUTER, CURVE server, no ZAP, no storage, no
 *    checks. It forwards each frame to the 9 other members of the sender's
 *    circle, found from the routing id the generator chose. The generator
 *    sends its payloads there already wrapped as wire DELIVER frames and
 *    decodes what it receives with wire_decode, so its own work per message
 *    is the same as against the relay. A payload leaves the sender's window
 *    when its first copy reaches another member. The router counts what it
 *    received in a small file both processes map.
 *  - relay: the real halqad (`init`, then `run --open` in a temporary data
 *    directory, durable writes as always). Devices REGISTER, the first
 *    member of each circle does CIRCLE_CREATE, all LISTEN with the epoch-0
 *    capability, then SEND application messages with the epoch, the
 *    capability and a unique client message id. A send leaves the window
 *    when its OK (or ERR) arrives; "accepted" counts the OKs, which the relay
 *    gives only after the message is committed.
 *
 * Idle figures: N devices connect and each completes one round trip (a ping
 * to the bare router, REGISTER to the relay), then the target's VmRSS is read
 * from /proc/PID/status. They are taken for a third target too, bare+zap:
 * the bare router with a ZAP handler that admits every key, as halqad has
 * one. libzmq keeps each session's inproc pipe to the ZAP handler for the
 * session's whole life, so this isolates what authentication alone costs
 * per idle connection from what the relay itself adds.
 *
 * The socket loop avoids zmq_poll: with many sockets it makes two system
 * calls per socket per call. We poll the sockets' ZMQ_FDs ourselves and
 * drain (until EAGAIN) only the sockets whose descriptor fired or on which
 * we sent since the last drain (a send may consume the edge; PLATFORM.md).
 *
 * Everything is bounded: run times and counts are fixed, every wait has a
 * deadline, loopback only. Figures and method: bench/README.md.
 */
#define _GNU_SOURCE /* ppoll */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "halqa/bytes.h"
#include "halqa/wire.h"

#define CIRCLE_SIZE 10
#define PAYLOAD_LEN 256
#define ROUTING_ID_LEN 5
#define MAX_SAMPLES (8u * 1000u * 1000u)
#define STALL_NS (1000ull * 1000u * 1000u)
#define DRAIN_BUDGET 1024

/* Payloads each device keeps in flight in a saturating run (--window). */
static uint64_t g_window = 8;
/* The halqad executable (--halqad); default: next to this one. */
static char g_halqad[PATH_MAX];
/* --halqad-b: a second relay binary run after the first in every round (A/B). */
static char g_halqad_b[PATH_MAX];
static const char *g_relay_name = "relay";
/* --smaps DIR: the target's /proc/PID/smaps at each idle reading is copied there. */
static const char *g_smaps_dir;
/* --fsync-probe: time a 4 KiB write + fdatasync on the relay's disk every 10 ms. */
static bool g_fsync_probe;

enum target {
	TARGET_BARE,
	TARGET_RELAY,
};

/* What the bare router and the generator share through a mapped file. */
struct bare_shared {
	uint32_t ready;
	char endpoint[64];
	uint8_t server_pk[crypto_box_PUBLICKEYBYTES];
	uint64_t ingress;
	uint64_t forwarded;
};

struct circle {
	uint8_t id[WIRE_ID_LEN];
	uint8_t cap[WIRE_CAP_LEN];
};

struct dev {
	void *sock;
	uint32_t idx;
	uint8_t pk[crypto_box_PUBLICKEYBYTES];
	uint8_t sk[crypto_box_SECRETKEYBYTES];
	uint64_t sent;      /* payloads sent, over all runs (client message ids stay unique) */
	uint64_t credited;  /* sends that left the window */
	uint64_t next_ns;   /* paced mode: when the next send is due */
	uint64_t credit_ns; /* when the window last moved */
	uint32_t next_req;  /* last request id used */
	uint32_t wait_req;  /* setup request awaiting its reply; 0 if none */
	int wait_status;    /* its outcome: 0 OK, a wire error code, or -1 */
	bool dirty;         /* did zmq I/O since its last drain */
};

struct load_result {
	double seconds;
	uint64_t sent;
	uint64_t accepted;
	uint64_t delivered;
	uint64_t send_errors;
	uint16_t last_error;
	uint64_t stalls;
	uint64_t behind;
	uint32_t *samples;
	size_t num_samples;
	double p50_us;
	double p99_us;
	double max_us;
	long peak_rss_kib;
	/* the target's CPU time (all its threads) during the measured seconds */
	double cpu_s;
	/* --fsync-probe: fdatasync latency on the relay's disk during the run */
	size_t probe_count;
	double probe_p50_us;
	double probe_p90_us;
	double probe_p99_us;
	double probe_max_us;
};

struct gen {
	enum target target;
	bool zap; /* bare router with a ZAP handler (idle figures) */
	uint32_t idx_base; /* added to device numbers in routing ids (idle workers) */
	void *ctx;
	struct dev *devs;
	size_t num_devs;
	struct circle *circles;
	struct pollfd *pfds;
	uint8_t server_pk[crypto_box_PUBLICKEYBYTES];
	char endpoint[64];
	pid_t target_pid;
	struct bare_shared *shared;
	char data_dir[PATH_MAX];
	uint32_t run_tag;
	size_t waiting;       /* setup requests outstanding */
	uint64_t bad_frames;  /* frames wire_decode refused */
	uint64_t self_echoes; /* own messages pushed back by the relay */
	uint64_t win_start;
	uint64_t win_end;
	struct load_result *res;
	struct wire_msg msg; /* decode scratch, 9 KiB */
};

static void die(const char *what)
{
	fprintf(stderr, "bench_relay: %s: %s\n", what, errno != 0 ? strerror(errno) : "failed");
	exit(1);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* read_status_kib returns a field ("VmRSS", "VmHWM") of /proc/PID/status in KiB, or -1. */
static long read_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * read_cpu_s returns the CPU time (user + system, all threads) the process
 * has used so far, in seconds, or -1.
 */
static double read_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long utime, stime;
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15, counted from the one after the command's ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2) {
		return -1;
	}
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return;
	}
	if (rl.rlim_max < want) {
		struct rlimit up = {want, want};

		/* Raising the hard limit needs CAP_SYS_RESOURCE; otherwise keep the old one. */
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			return;
		}
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void finish_latency(struct load_result *r)
{
	if (r->num_samples == 0) {
		r->p50_us = r->p99_us = r->max_us = -1;
		return;
	}
	qsort(r->samples, r->num_samples, sizeof r->samples[0], cmp_u32);
	r->p50_us = r->samples[r->num_samples / 2] / 1000.0;
	r->p99_us = r->samples[(r->num_samples * 99) / 100] / 1000.0;
	r->max_us = r->samples[r->num_samples - 1] / 1000.0;
}

/* ---------------------------------------------------------------------------
 * The bare router (child process).
 */

/*
 * zap_answer_one answers one ZAP request on |rep| with 200 (admit any key),
 * as a handler that looks keys up would for a registered device.
 */
static void zap_answer_one(void *rep)
{
	uint8_t frames[7][256];
	int lens[7] = {0}, more = 1;
	size_t n = 0, mlen;

	while (more) {
		int got = zmq_recv(rep, n < 7 ? frames[n] : frames[6], 256, 0);

		if (got < 0) {
			return;
		}
		if (n < 7) {
			lens[n] = got > 256 ? 256 : got;
		}
		n++;
		mlen = sizeof more;
		if (zmq_getsockopt(rep, ZMQ_RCVMORE, &more, &mlen) != 0) {
			return;
		}
	}
	if (n < 2) {
		return;
	}
	zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(rep, frames[1], (size_t)lens[1], ZMQ_SNDMORE);
	zmq_send(rep, "200", 3, ZMQ_SNDMORE);
	zmq_send(rep, "OK", 2, ZMQ_SNDMORE);
	zmq_send(rep, "bench", 5, ZMQ_SNDMORE);
	zmq_send(rep, "", 0, 0);
}

static int bare_router_main(const char *shared_path, bool zap)
{
	struct bare_shared *sh;
	uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	int fd, one = 1, zero = 0, backlog = 4096;
	size_t len;
	void *ctx, *sock, *zap_sock = NULL;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((fd = open(shared_path, O_RDWR)) < 0) {
		die("router: open shared file");
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (sh == MAP_FAILED) {
		die("router: mmap");
	}
	crypto_box_keypair(pk, sk);
	ctx = zmq_ctx_new();
	zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 64);
	if (zap) {
		zap_sock = zmq_socket(ctx, ZMQ_REP);
		if (zap_sock == NULL || zmq_setsockopt(zap_sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
		    zmq_bind(zap_sock, "inproc://zeromq.zap.01") != 0) {
			die("router: ZAP socket");
		}
	}
	sock = zmq_socket(ctx, ZMQ_ROUTER);
	if (sock == NULL || zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sk, sizeof sk) != 0 ||
	    zmq_setsockopt(sock, ZMQ_BACKLOG, &backlog, sizeof backlog) != 0 ||
	    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    (zap && zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "bench", 5) != 0) ||
	    zmq_bind(sock, "tcp://127.0.0.1:*") != 0) {
		die("router: socket");
	}
	sodium_memzero(sk, sizeof sk);
	len = sizeof sh->endpoint;
	if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, sh->endpoint, &len) != 0) {
		die("router: endpoint");
	}
	memcpy(sh->server_pk, pk, sizeof pk);
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);

	for (;;) {
		zmq_msg_t id, body;
		uint8_t dst[ROUTING_ID_LEN];
		int more;
		size_t mlen = sizeof more;
		uint32_t idx, base;

		if (zap) {
			/* Only in the idle runs: a poll per message costs nothing there. */
			zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {zap_sock, 0, ZMQ_POLLIN, 0}};

			if (zmq_poll(items, 2, -1) < 0) {
				continue;
			}
			if (items[1].revents & ZMQ_POLLIN) {
				zap_answer_one(zap_sock);
			}
			if (!(items[0].revents & ZMQ_POLLIN)) {
				continue;
			}
		}
		zmq_msg_init(&id);
		zmq_msg_init(&body);
		if (zmq_msg_recv(&id, sock, 0) < 0) {
			continue;
		}
		if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &mlen) != 0 || !more ||
		    zmq_msg_recv(&body, sock, 0) < 0) {
			zmq_msg_close(&id);
			continue;
		}
		/* Drop anything past the second frame: the generator never sends it. */
		mlen = sizeof more;
		while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &mlen) == 0 && more) {
			zmq_msg_t extra;

			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, sock, 0);
			zmq_msg_close(&extra);
			mlen = sizeof more;
		}
		if (zmq_msg_size(&id) != ROUTING_ID_LEN) {
			goto next;
		}
		idx = get_be32((const uint8_t *)zmq_msg_data(&id) + 1);
		if (zmq_msg_size(&body) == 4 && memcmp(zmq_msg_data(&body), "ping", 4) == 0) {
			zmq_msg_send(&id, sock, ZMQ_SNDMORE);
			zmq_send(sock, "pong", 4, 0);
			goto next;
		}
		__atomic_store_n(&sh->ingress, sh->ingress + 1, __ATOMIC_RELAXED);
		base = idx - idx % CIRCLE_SIZE;
		dst[0] = 'd';
		for (uint32_t m = base; m < base + CIRCLE_SIZE; m++) {
			zmq_msg_t copy;

			if (m == idx) {
				continue;
			}
			put_be32(dst + 1, m);
			zmq_msg_init(&copy);
			zmq_msg_copy(&copy, &body);
			/* Without ROUTER_MANDATORY a full or absent peer silently drops. */
			if (zmq_send(sock, dst, sizeof dst, ZMQ_SNDMORE) < 0 ||
			    zmq_msg_send(&copy, sock, 0) < 0) {
				zmq_msg_close(&copy);
				continue;
			}
			__atomic_store_n(&sh->forwarded, sh->forwarded + 1, __ATOMIC_RELAXED);
		}
	next:
		zmq_msg_close(&id);
		zmq_msg_close(&body);
	}
	return 0;
}

/* start_bare re-runs this executable as the bare router and waits until it is bound. */
static void start_bare(struct gen *g, const char *tmpdir)
{
	char path[PATH_MAX];
	int fd;
	uint64_t deadline;

	snprintf(path, sizeof path, "%s/bare.shm", tmpdir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    ftruncate(fd, sizeof(struct bare_shared)) != 0) {
		die("shared file");
	}
	g->shared = mmap(NULL, sizeof *g->shared, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (g->shared == MAP_FAILED) {
		die("mmap");
	}
	g->target_pid = fork();
	if (g->target_pid < 0) {
		die("fork");
	}
	if (g->target_pid == 0) {
		execl("/proc/self/exe", "bench_relay", "--bare-router", path, g->zap ? "zap" : NULL,
		      (char *)NULL);
		_exit(127);
	}
	deadline = bench_now_ns() + 10ull * 1000000000u;
	while (!__atomic_load_n(&g->shared->ready, __ATOMIC_ACQUIRE)) {
		if (bench_now_ns() > deadline) {
			errno = ETIMEDOUT;
			die("bare router did not start");
		}
		usleep(1000);
	}
	memcpy(g->endpoint, g->shared->endpoint, sizeof g->endpoint);
	g->endpoint[sizeof g->endpoint - 1] = '\0';
	memcpy(g->server_pk, g->shared->server_pk, sizeof g->server_pk);
}

/* ---------------------------------------------------------------------------
 * The relay target: halqad in a temporary data directory.
 */

static int run_wait(char *const argv[], const char *out_path)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		die("fork");
	}
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid) {
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* free_port asks the kernel for an unused loopback port (a small race, loopback only). */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		die("free port");
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * start_relay makes a fresh data directory with `halqad init`, lifts the
 * per-device rate limits and byte quotas (the load comes from few devices
 * sending far more than any person would; the limits are checked, only their
 * values change), and runs `halqad run --open` on a free loopback port.
 */
static void start_relay(struct gen *g, const char *tmpdir)
{
	static unsigned counter;
	char conf[PATH_MAX + 32], key[PATH_MAX + 32], log[PATH_MAX + 32], sock[PATH_MAX + 32];
	char listen[64];
	uint8_t sec[32];
	uint64_t deadline;
	FILE *f;

	snprintf(g->data_dir, sizeof g->data_dir, "%s/relay%u", tmpdir, counter++);
	snprintf(conf, sizeof conf, "%s/halqad.conf", g->data_dir);
	snprintf(key, sizeof key, "%s/server.key", g->data_dir);
	snprintf(log, sizeof log, "%s.log", g->data_dir);
	snprintf(sock, sizeof sock, "%s/admin.sock", g->data_dir);
	{
		char a_init[] = "init", a_data[] = "--data";
		char *argv[] = {g_halqad, a_init, a_data, g->data_dir, NULL};

		if (run_wait(argv, log) != 0) {
			errno = 0;
			fprintf(stderr, "bench_relay: see %s\n", log);
			die("halqad init");
		}
	}
	if ((f = fopen(conf, "a")) == NULL) {
		die("halqad.conf");
	}
	fprintf(f, "\n; bench_relay: a few devices carry the load of thousands\n[limits]\n"
		   "requests_per_second = 1000000\nrequests_burst = 1000000\n"
		   "bytes_per_second = 1G\nbytes_burst = 1G\n"
		   "daily_bytes_per_device = 1099511627776\n");
	if (fclose(f) != 0) {
		die("halqad.conf");
	}
	/* server.key is the 32-byte CURVE secret (relay_config.h); clients pin its public half. */
	if ((f = fopen(key, "rb")) == NULL || fread(sec, 1, sizeof sec, f) != sizeof sec ||
	    fclose(f) != 0 || crypto_scalarmult_base(g->server_pk, sec) != 0) {
		die("server key");
	}
	sodium_memzero(sec, sizeof sec);
	snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", free_port());
	snprintf(g->endpoint, sizeof g->endpoint, "%s", listen);
	g->target_pid = fork();
	if (g->target_pid < 0) {
		die("fork");
	}
	if (g->target_pid == 0) {
		char a_run[] = "run", a_data[] = "--data", a_listen[] = "--listen", a_open[] = "--open";
		char *argv[] = {g_halqad, a_run, a_data, g->data_dir, a_listen, listen, a_open, NULL};
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	/* The admin socket appears once the relay has bound everything. */
	deadline = bench_now_ns() + 10ull * 1000000000u;
	while (access(sock, F_OK) != 0) {
		int st;

		if (bench_now_ns() > deadline || waitpid(g->target_pid, &st, WNOHANG) != 0) {
			errno = 0;
			fprintf(stderr, "bench_relay: see %s\n", log);
			die("halqad run did not start");
		}
		usleep(2000);
	}
}

static void stop_target(struct gen *g)
{
	int st;

	if (g->target_pid > 0) {
		kill(g->target_pid, SIGKILL);
		waitpid(g->target_pid, &st, 0);
		g->target_pid = 0;
	}
	if (g->shared != NULL) {
		munmap(g->shared, sizeof *g->shared);
		g->shared = NULL;
	}
}

/* ---------------------------------------------------------------------------
 * Devices and frames.
 */

static void gen_init(struct gen *g, enum target target, size_t num_devs)
{
	memset(g, 0, sizeof *g);
	g->target = target;
	g->num_devs = num_devs;
	g->devs = calloc(num_devs, sizeof *g->devs);
	g->pfds = calloc(num_devs, sizeof *g->pfds);
	g->circles = calloc(num_devs / CIRCLE_SIZE + 1, sizeof *g->circles);
	if (g->devs == NULL || g->pfds == NULL || g->circles == NULL) {
		die("calloc");
	}
	for (size_t i = 0; i < num_devs; i++) {
		g->pfds[i].fd = -1; /* poll skips it until the device connects */
		g->devs[i].idx = (uint32_t)i;
		crypto_box_keypair(g->devs[i].pk, g->devs[i].sk);
	}
	for (size_t c = 0; c <= num_devs / CIRCLE_SIZE; c++) {
		randombytes_buf(g->circles[c].id, sizeof g->circles[c].id);
		randombytes_buf(g->circles[c].cap, sizeof g->circles[c].cap);
	}
	g->run_tag = randombytes_random();
	g->ctx = zmq_ctx_new();
	if (g->ctx == NULL || zmq_ctx_set(g->ctx, ZMQ_MAX_SOCKETS, (int)num_devs + 64) != 0) {
		die("zmq context");
	}
}

static void gen_cleanup(struct gen *g)
{
	for (size_t i = 0; i < g->num_devs; i++) {
		if (g->devs[i].sock != NULL) {
			zmq_close(g->devs[i].sock);
		}
	}
	zmq_ctx_term(g->ctx);
	sodium_memzero(g->devs, g->num_devs * sizeof *g->devs);
	sodium_memzero(g->circles, (g->num_devs / CIRCLE_SIZE + 1) * sizeof *g->circles);
	wire_msg_cleanup(&g->msg);
	free(g->devs);
	free(g->pfds);
	free(g->circles);
	memset(g, 0, sizeof *g);
}

/* connect_device opens a CURVE DEALER; against the bare router its routing id names it. */
static void connect_device(struct gen *g, struct dev *d)
{
	int zero = 0, hwm = 10000;
	size_t len = sizeof g->pfds[0].fd;
	uint8_t rid[ROUTING_ID_LEN];

	d->sock = zmq_socket(g->ctx, ZMQ_DEALER);
	if (d->sock == NULL) {
		die("zmq_socket (raise ulimit -n?)");
	}
	rid[0] = 'd';
	put_be32(rid + 1, d->idx + g->idx_base);
	if (zmq_setsockopt(d->sock, ZMQ_CURVE_SERVERKEY, g->server_pk, sizeof g->server_pk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_CURVE_PUBLICKEY, d->pk, sizeof d->pk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, d->sk, sizeof d->sk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
	    (g->target == TARGET_BARE &&
	     zmq_setsockopt(d->sock, ZMQ_ROUTING_ID, rid, sizeof rid) != 0) ||
	    zmq_connect(d->sock, g->endpoint) != 0 ||
	    zmq_getsockopt(d->sock, ZMQ_FD, &g->pfds[d->idx].fd, &len) != 0) {
		die("connect device");
	}
	g->pfds[d->idx].events = POLLIN;
}

/* send_msg encodes |m| and sends it on |d|; returns 0, or -1 if the socket is full. */
static int send_msg(struct dev *d, const struct wire_msg *m, int flags)
{
	struct bytes_writer w;
	int rc;

	bytes_writer_init(&w, WIRE_MAX_FRAME, 0);
	if (wire_encode(&w, m) != HALQA_OK) {
		errno = 0;
		die("wire_encode");
	}
	rc = zmq_send(d->sock, bytes_writer_data(&w), bytes_writer_len(&w), flags);
	bytes_writer_cleanup(&w);
	d->dirty = true;
	return rc < 0 ? -1 : 0;
}

/*
 * send_payload sends one 256-byte payload from |d|: to the relay as a SEND,
 * to the bare router as the DELIVER the relay would push for it.
 */
static int send_payload(struct gen *g, struct dev *d, uint64_t ts)
{
	struct circle *c = &g->circles[d->idx / CIRCLE_SIZE];
	uint8_t payload[PAYLOAD_LEN];
	struct wire_msg m;
	int rc;

	memset(payload, 0xa5, sizeof payload);
	put_be32(payload, d->idx);
	put_be64(payload + 4, d->sent);
	put_be64(payload + 12, ts);
	if (g->target == TARGET_BARE) {
		wire_msg_init(&m, WIRE_DELIVER, 0);
		memcpy(m.u.deliver.circle_id, c->id, WIRE_ID_LEN);
		m.u.deliver.seq = d->sent + 1;
		m.u.deliver.kind = WIRE_KIND_APPLICATION;
		m.u.deliver.payload.data = payload;
		m.u.deliver.payload.len = sizeof payload;
	} else {
		wire_msg_init(&m, WIRE_SEND, ++d->next_req == 0 ? ++d->next_req : d->next_req);
		memcpy(m.u.send.circle_id, c->id, WIRE_ID_LEN);
		m.u.send.epoch = 0;
		m.u.send.kind = WIRE_KIND_APPLICATION;
		memcpy(m.u.send.cap, c->cap, WIRE_CAP_LEN);
		put_be32(m.u.send.client_msg_id, d->idx);
		put_be64(m.u.send.client_msg_id + 4, d->sent);
		put_be32(m.u.send.client_msg_id + 12, g->run_tag);
		m.u.send.payload.data = payload;
		m.u.send.payload.len = sizeof payload;
	}
	rc = send_msg(d, &m, ZMQ_DONTWAIT);
	wire_msg_cleanup(&m);
	return rc;
}

/* request sends a setup request from |d| and marks it awaited (blocking send). */
static void request(struct gen *g, struct dev *d, struct wire_msg *m)
{
	if (++d->next_req == 0) {
		d->next_req = 1;
	}
	m->request_id = d->next_req;
	d->wait_req = d->next_req;
	d->wait_status = -1;
	g->waiting++;
	if (send_msg(d, m, 0) != 0) {
		die("send request");
	}
}

static void credit(struct gen *g, struct dev *s, uint64_t upto, uint64_t now)
{
	(void)g;
	if (upto > s->credited) {
		s->credited = upto;
		s->credit_ns = now;
	}
}

/* on_delivery accounts one payload delivered to |to|. */
static void on_delivery(struct gen *g, const struct dev *to, const struct wire_blob *p, uint64_t now)
{
	struct load_result *r = g->res;
	uint32_t from;
	uint64_t num, d;

	if (p->len != PAYLOAD_LEN || (from = get_be32(p->data)) >= g->num_devs) {
		g->bad_frames++;
		return;
	}
	if (from == to->idx) {
		g->self_echoes++;
		return;
	}
	num = get_be64(p->data + 4);
	if (g->target == TARGET_BARE) {
		credit(g, &g->devs[from], num + 1, now);
	}
	if (r == NULL || now < g->win_start || now >= g->win_end) {
		return;
	}
	r->delivered++;
	d = get_be64(p->data + 12);
	d = now > d ? now - d : 0;
	if (r->num_samples < MAX_SAMPLES) {
		r->samples[r->num_samples++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

static void finish_wait(struct gen *g, struct dev *d, int status)
{
	d->wait_req = 0;
	d->wait_status = status;
	g->waiting--;
}

static void handle_frame(struct gen *g, struct dev *d, const uint8_t *data, size_t len,
			 uint64_t now)
{
	struct wire_msg *m = &g->msg;

	if (g->target == TARGET_BARE && len == 4 && memcmp(data, "pong", 4) == 0) {
		if (d->wait_req != 0) {
			finish_wait(g, d, 0);
		}
		return;
	}
	if (wire_decode(data, len, m) != HALQA_OK) {
		g->bad_frames++;
		return;
	}
	switch (m->type) {
	case WIRE_DELIVER:
		on_delivery(g, d, &m->u.deliver.payload, now);
		break;
	case WIRE_OK:
	case WIRE_ERR:
		if (d->wait_req != 0 && m->request_id == d->wait_req) {
			finish_wait(g, d, m->type == WIRE_OK ? 0 : m->u.err.code);
			break;
		}
		if (m->type == WIRE_OK && m->u.ok.for_type != WIRE_SEND) {
			g->bad_frames++;
			break;
		}
		credit(g, d, d->credited + 1, now);
		if (g->res != NULL && now >= g->win_start && now < g->win_end) {
			if (m->type == WIRE_OK) {
				g->res->accepted++;
			} else {
				g->res->send_errors++;
				g->res->last_error = m->u.err.code;
			}
		}
		break;
	default:
		g->bad_frames++;
		break;
	}
}

/* drain receives on |d| until EAGAIN (or the budget); returns how many frames. */
static int drain(struct gen *g, struct dev *d)
{
	int n = 0;

	for (; n < DRAIN_BUDGET; n++) {
		zmq_msg_t msg;

		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, d->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			d->dirty = false;
			return n;
		}
		handle_frame(g, d, zmq_msg_data(&msg), zmq_msg_size(&msg), bench_now_ns());
		zmq_msg_close(&msg);
	}
	d->dirty = true;
	return n;
}

/* poll_and_drain waits up to |timeout_ns| for any socket, then drains the ready ones. */
static bool poll_and_drain(struct gen *g, uint64_t timeout_ns)
{
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	bool busy = false;

	for (size_t i = 0; i < g->num_devs; i++) {
		if (g->devs[i].dirty) {
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
			break;
		}
	}
	if (ppoll(g->pfds, g->num_devs, &ts, NULL) < 0 && errno != EINTR) {
		die("ppoll");
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		struct dev *d = &g->devs[i];

		if (d->sock != NULL && (d->dirty || g->pfds[i].revents != 0)) {
			busy |= drain(g, d) > 0;
		}
	}
	return busy;
}

/* wait_all waits (bounded) until every setup request was answered; returns failures. */
static size_t wait_all(struct gen *g, double timeout_s, int allowed_err)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);
	size_t failed = 0;

	while (g->waiting > 0 && bench_now_ns() < deadline) {
		poll_and_drain(g, 10000000u);
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		struct dev *d = &g->devs[i];

		if (d->wait_req != 0 || (d->wait_status != 0 && d->wait_status != allowed_err)) {
			if (failed++ == 0) {
				fprintf(stderr, "bench_relay: device %zu: %s\n", i,
					d->wait_req != 0 ? "no reply"
							 : wire_err_name((uint16_t)d->wait_status));
			}
		}
		d->wait_req = 0;
		d->wait_status = 0;
	}
	g->waiting = 0;
	return failed;
}

/* first_contact sends |d|'s first request: a ping to the bare router, REGISTER to the relay. */
static void first_contact(struct gen *g, struct dev *d)
{
	struct wire_msg m;

	if (g->target == TARGET_BARE) {
		d->wait_req = 1;
		d->wait_status = -1;
		g->waiting++;
		if (zmq_send(d->sock, "ping", 4, 0) != 4) {
			die("ping");
		}
		d->dirty = true;
	} else {
		wire_msg_init(&m, WIRE_REGISTER, 1);
		request(g, d, &m);
	}
}

/*
 * connect_all connects every device and completes one round trip on each,
 * in batches of 500 so that thousands of CURVE handshakes do not all queue
 * at once on a loaded machine (ZeroMQ gives a handshake 30 s, then drops
 * and remakes the connection, and a frame in flight then is lost). Devices
 * without an answer ask again every 10 s.
 */
static void connect_all(struct gen *g, double timeout_s)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);

	for (size_t first = 0; first < g->num_devs; first += 500) {
		size_t end = first + 500 < g->num_devs ? first + 500 : g->num_devs;
		uint64_t again = bench_now_ns() + 10000000000ull;

		for (size_t i = first; i < end; i++) {
			connect_device(g, &g->devs[i]);
			first_contact(g, &g->devs[i]);
		}
		while (g->waiting > 0 && bench_now_ns() < deadline) {
			poll_and_drain(g, 10000000u);
			if (bench_now_ns() > again) {
				for (size_t i = first; i < end; i++) {
					struct dev *d = &g->devs[i];

					if (d->wait_req != 0) {
						finish_wait(g, d, -1);
						first_contact(g, d);
					}
				}
				again = bench_now_ns() + 10000000000ull;
			}
		}
	}
	if (wait_all(g, 1, WIRE_ERR_ALREADY_REGISTERED) != 0) {
		errno = 0;
		die("devices did not all connect and register");
	}
}

/* relay_join has each circle created by its first member, then every member LISTEN. */
static void relay_join(struct gen *g)
{
	struct wire_msg m;

	for (size_t i = 0; i < g->num_devs; i += CIRCLE_SIZE) {
		struct circle *c = &g->circles[i / CIRCLE_SIZE];

		wire_msg_init(&m, WIRE_CIRCLE_CREATE, 1);
		memcpy(m.u.circle_create.circle_id, c->id, WIRE_ID_LEN);
		if (wire_cap_hash(m.u.circle_create.cap_hash, c->cap) != HALQA_OK) {
			die("cap hash");
		}
		request(g, &g->devs[i], &m);
	}
	if (wait_all(g, 30, 0) != 0) {
		errno = 0;
		die("CIRCLE_CREATE failed");
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		struct circle *c = &g->circles[i / CIRCLE_SIZE];

		wire_msg_init(&m, WIRE_LISTEN, 1);
		memcpy(m.u.listen.circle_id, c->id, WIRE_ID_LEN);
		memcpy(m.u.listen.cap, c->cap, WIRE_CAP_LEN);
		request(g, &g->devs[i], &m);
		wire_msg_cleanup(&m);
	}
	if (wait_all(g, 30, 0) != 0) {
		errno = 0;
		die("LISTEN failed");
	}
}

/*
 * run_load drives the devices for |warm_s| + |run_s| seconds. With |rate| 0
 * every device keeps g_window sends in flight; otherwise the devices send
 * |rate| payloads per second in total, evenly spaced, still never more than
 * the window in flight (a backlog is skipped, never burst).
 */
/*
 * The fsync probe: a thread that, while a relay run is measured, rewrites
 * 4 KiB of a file in the relay's data directory (same file system) and
 * times its fdatasync, every 10 ms. It shows what this disk's syncs cost at
 * the very moment the relay's commits pay them, so a latency figure can be
 * set against the disk's own. It adds 100 small syncs/s to the disk's load.
 */
#define PROBE_MAX 4096
#define PROBE_PERIOD_NS 10000000u

struct fsync_probe {
	pthread_t thread;
	int fd;
	uint64_t start_ns;
	uint64_t end_ns;
	size_t n;
	uint32_t us[PROBE_MAX];
};

static void *probe_main(void *arg)
{
	struct fsync_probe *p = arg;
	struct timespec period = {0, PROBE_PERIOD_NS};
	uint8_t block[4096];
	uint64_t now;

	memset(block, 0x5a, sizeof block);
	while ((now = bench_now_ns()) < p->end_ns && p->n < PROBE_MAX) {
		if (now >= p->start_ns) {
			uint64_t t0 = bench_now_ns(), dt;

			block[0]++;
			if (pwrite(p->fd, block, sizeof block, 0) != (ssize_t)sizeof block ||
			    fdatasync(p->fd) != 0) {
				break;
			}
			dt = (bench_now_ns() - t0) / 1000u;
			p->us[p->n++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		}
		nanosleep(&period, NULL);
	}
	return NULL;
}

static struct fsync_probe *probe_start(const struct gen *g)
{
	char path[PATH_MAX + 32];
	struct fsync_probe *p;

	if (!g_fsync_probe || g->target != TARGET_RELAY) {
		return NULL;
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		die("calloc");
	}
	snprintf(path, sizeof path, "%s/fsync-probe", g->data_dir);
	p->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->fd < 0) {
		die("open fsync probe");
	}
	p->start_ns = g->win_start;
	p->end_ns = g->win_end;
	if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
		die("pthread_create");
	}
	return p;
}

static void probe_finish(struct fsync_probe *p, struct load_result *res)
{
	if (p == NULL) {
		return;
	}
	pthread_join(p->thread, NULL);
	close(p->fd);
	res->probe_count = p->n;
	if (p->n > 0) {
		qsort(p->us, p->n, sizeof p->us[0], cmp_u32);
		res->probe_p50_us = p->us[p->n / 2];
		res->probe_p90_us = p->us[(p->n * 9) / 10];
		res->probe_p99_us = p->us[(p->n * 99) / 100];
		res->probe_max_us = p->us[p->n - 1];
	}
	free(p);
}

static void run_load(struct gen *g, double warm_s, double run_s, double rate,
		     struct load_result *res)
{
	uint64_t t0 = bench_now_ns(), interval = 0, now, ingress0 = 0;
	double cpu0 = -1;
	bool in_window = false;
	struct fsync_probe *probe;

	memset(res, 0, sizeof *res);
	res->samples = malloc(MAX_SAMPLES * sizeof *res->samples);
	if (res->samples == NULL) {
		die("malloc");
	}
	g->res = res;
	g->win_start = t0 + (uint64_t)(warm_s * 1e9);
	g->win_end = g->win_start + (uint64_t)(run_s * 1e9);
	probe = probe_start(g);
	if (rate > 0) {
		interval = (uint64_t)(1e9 * (double)g->num_devs / rate);
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		struct dev *d = &g->devs[i];

		d->credited = d->sent;
		d->credit_ns = t0;
		d->next_ns = t0 + (interval * i) / g->num_devs;
	}
	while ((now = bench_now_ns()) < g->win_end) {
		if (!in_window && now >= g->win_start) {
			in_window = true;
			cpu0 = read_cpu_s(g->target_pid);
			if (g->shared != NULL) {
				ingress0 = __atomic_load_n(&g->shared->ingress, __ATOMIC_RELAXED);
			}
		}
		for (size_t i = 0; i < g->num_devs; i++) {
			struct dev *d = &g->devs[i];

			if (d->sent - d->credited >= g_window && now - d->credit_ns > STALL_NS) {
				/* Nothing came back for a second (dropped): open the window. */
				d->credited = d->sent;
				d->credit_ns = now;
				res->stalls++;
			}
			while (d->sent - d->credited < g_window && (interval == 0 || now >= d->next_ns)) {
				uint64_t ts = bench_now_ns();

				if (send_payload(g, d, ts) != 0) {
					break;
				}
				d->sent++;
				if (ts >= g->win_start && ts < g->win_end) {
					res->sent++;
				}
				if (interval != 0) {
					d->next_ns += interval;
					if (now > d->next_ns + 100000000u) {
						/* More than 100 ms behind: skip, never burst. */
						d->next_ns = now;
						res->behind++;
					}
				}
			}
		}
		/*
		 * Paced sends go out in ticks of at most 1 ms (whenever the loop
		 * wakes): waking for every single send would cost this shared
		 * 2-core machine more than the sends. Each timestamp is taken at
		 * the real send, so the latency figures stay honest.
		 */
		poll_and_drain(g, 1000000u);
	}
	res->seconds = run_s;
	if (g->shared != NULL) {
		res->accepted = __atomic_load_n(&g->shared->ingress, __ATOMIC_RELAXED) - ingress0;
	}
	res->peak_rss_kib = read_status_kib(g->target_pid, "VmHWM");
	{
		double cpu1 = read_cpu_s(g->target_pid);

		res->cpu_s = cpu0 >= 0 && cpu1 >= cpu0 ? cpu1 - cpu0 : -1;
	}
	probe_finish(probe, res);
	finish_latency(res);
	free(res->samples);
	res->samples = NULL;
	res->num_samples = 0;
	/* Let what is still in flight arrive outside the measurement. */
	g->res = NULL;
	for (uint64_t end = bench_now_ns() + 300000000u; bench_now_ns() < end;) {
		poll_and_drain(g, 10000000u);
	}
}

/* ---------------------------------------------------------------------------
 * Reporting and the main program.
 */

#define MAX_ROUNDS 9

struct opts {
	size_t rounds;
	size_t devices;
	double warm_s;
	double run_s;
	double rate;
	size_t idle[4];
	size_t num_idle;
	bool bare_only;
	bool relay_only;
	bool no_load;
};

struct figures {
	struct load_result sat;
	struct load_result paced;
	long idle_rss[4];
	long idle_base[4];
};

static void print_load(const char *target, const char *run, const struct load_result *r)
{
	printf("%-6s %-16s sent %8.0f/s  accepted %8.0f/s  delivered %9.0f/s  p50 %8.2f ms  "
	       "p99 %8.2f ms  max %8.2f ms  peak RSS %7ld KiB\n",
	       target, run, r->sent / r->seconds, r->accepted / r->seconds,
	       r->delivered / r->seconds, r->p50_us / 1000, r->p99_us / 1000, r->max_us / 1000,
	       r->peak_rss_kib);
	if (r->cpu_s >= 0 && r->accepted > 0) {
		printf("%-6s %-16s target CPU %.2f s in %.1f s (all threads): %.1f us per accepted "
		       "send\n",
		       "", "", r->cpu_s, r->seconds, 1e6 * r->cpu_s / (double)r->accepted);
	}
	if (r->probe_count > 0) {
		printf("%-6s %-16s disk: %zu fdatasyncs of 4 KiB during the run, p50 %.2f ms  "
		       "p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		       "", "", r->probe_count, r->probe_p50_us / 1000, r->probe_p90_us / 1000,
		       r->probe_p99_us / 1000, r->probe_max_us / 1000);
	}
	if (r->stalls != 0 || r->behind != 0 || r->send_errors != 0) {
		printf("%-6s %-16s stalled windows %llu, paced sends skipped %llu, SEND errors %llu "
		       "(last: %s)\n",
		       "", "", (unsigned long long)r->stalls, (unsigned long long)r->behind,
		       (unsigned long long)r->send_errors, wire_err_name(r->last_error));
	}
	fflush(stdout);
}

static void start_target(struct gen *g, const char *tmpdir)
{
	if (g->target == TARGET_BARE) {
		start_bare(g, tmpdir);
	} else {
		start_relay(g, tmpdir);
	}
}

/*
 * bench_load runs one target: a saturating run (if |saturate|) and a run
 * paced at |rate| sends/s (if |rate| > 0), into f->sat and f->paced.
 */
static void bench_load(enum target t, const struct opts *o, const char *tmpdir, struct figures *f,
		       bool saturate, double rate)
{
	const char *name = t == TARGET_BARE ? "bare" : g_relay_name;
	struct gen g;
	char run[32];

	gen_init(&g, t, o->devices);
	start_target(&g, tmpdir);
	connect_all(&g, 60);
	if (t == TARGET_RELAY) {
		relay_join(&g);
	}
	if (saturate) {
		run_load(&g, o->warm_s, o->run_s, 0, &f->sat);
		print_load(name, "saturating", &f->sat);
	}
	if (rate > 0) {
		run_load(&g, o->warm_s, o->run_s, rate, &f->paced);
		snprintf(run, sizeof run, "paced %.0f/s", rate);
		print_load(name, run, &f->paced);
	}
	if (g.bad_frames != 0) {
		printf("%-6s %llu frames not understood\n", name, (unsigned long long)g.bad_frames);
	}
	stop_target(&g);
	gen_cleanup(&g);
}

static void print_loadavg(const char *when)
{
	char buf[128] = "?";
	FILE *f = fopen("/proc/loadavg", "r");

	if (f != NULL) {
		if (fgets(buf, sizeof buf, f) == NULL) {
			buf[0] = '\0';
		}
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	printf("load average %s: %s\n", when, buf);
}

/*
 * Devices per idle worker process: a DEALER needs two descriptors (its TCP
 * connection and its mailbox's eventfd), and an unprivileged process here
 * may not raise its hard limit (20,000 on the machine of bench/README.md),
 * so 10,000 devices do not fit in one generator process.
 */
#define IDLE_PER_WORKER 4000

/* copy_smaps keeps the target's memory map, mapping by mapping, for a look at where it goes. */
static void copy_smaps(pid_t pid, const char *name, size_t n)
{
	char src[64], dst[PATH_MAX], buf[65536];
	FILE *in, *out;
	size_t got;

	snprintf(src, sizeof src, "/proc/%ld/smaps", (long)pid);
	snprintf(dst, sizeof dst, "%s/smaps-%s-%zu.txt", g_smaps_dir, name, n);
	in = fopen(src, "r");
	out = fopen(dst, "w");
	while (in != NULL && out != NULL && (got = fread(buf, 1, sizeof buf, in)) > 0) {
		fwrite(buf, 1, got, out);
	}
	if (in == NULL || out == NULL) {
		fprintf(stderr, "bench_relay: cannot copy %s to %s\n", src, dst);
	}
	if (in != NULL) {
		fclose(in);
	}
	if (out != NULL) {
		fclose(out);
	}
}

/*
 * idle_worker connects devices [first, first + n) to the target |g| names
 * and completes one round trip on each, then reports on |ready_fd| and
 * holds the connections until it is killed. It never returns.
 */
static void idle_worker(const struct gen *g, size_t first, size_t n, int ready_fd)
{
	struct gen w;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	gen_init(&w, g->target, n);
	w.idx_base = (uint32_t)first;
	memcpy(w.endpoint, g->endpoint, sizeof w.endpoint);
	memcpy(w.server_pk, g->server_pk, sizeof w.server_pk);
	connect_all(&w, 900);
	if (write(ready_fd, "r", 1) != 1) {
		_exit(1);
	}
	for (;;) {
		pause();
	}
}

static void bench_idle(enum target t, bool zap, size_t n, const char *tmpdir, long *rss,
		       long *base)
{
	struct gen g;
	pid_t workers[16];
	size_t num_workers = (n + IDLE_PER_WORKER - 1) / IDLE_PER_WORKER, ready = 0;
	int fds[2];

	if (num_workers > sizeof workers / sizeof workers[0]) {
		errno = E2BIG;
		die("too many idle devices");
	}
	gen_init(&g, t, 1); /* the target only: the devices live in the workers */
	g.zap = zap;
	start_target(&g, tmpdir);
	usleep(300000);
	*base = read_status_kib(g.target_pid, "VmRSS");
	if (pipe(fds) != 0) {
		die("pipe");
	}
	fflush(stdout);
	for (size_t k = 0; k < num_workers; k++) {
		size_t first = k * IDLE_PER_WORKER;

		workers[k] = fork();
		if (workers[k] < 0) {
			die("fork");
		}
		if (workers[k] == 0) {
			close(fds[0]);
			idle_worker(&g, first, n - first < IDLE_PER_WORKER ? n - first : IDLE_PER_WORKER,
				    fds[1]);
		}
	}
	close(fds[1]);
	while (ready < num_workers) {
		char c;

		/* A worker that dies (it gave up: its message is on stderr) closes
		 * its end; when all have, read returns 0. */
		if (read(fds[0], &c, 1) != 1) {
			errno = 0;
			die("an idle worker failed");
		}
		ready++;
	}
	close(fds[0]);
	/* Let the handshakes' transient buffers go back before reading. */
	usleep(500000);
	*rss = read_status_kib(g.target_pid, "VmRSS");
	if (g_smaps_dir != NULL) {
		copy_smaps(g.target_pid, t == TARGET_RELAY ? "relay" : zap ? "bare+zap" : "bare", n);
	}
	printf("%-8s idle %6zu devices  VmRSS %8ld KiB (empty %ld KiB, %.1f KiB per connection)\n",
	       t == TARGET_RELAY ? "relay" : zap ? "bare+zap" : "bare", n, *rss, *base,
	       (double)(*rss - *base) / (double)n);
	fflush(stdout);
	for (size_t k = 0; k < num_workers; k++) {
		int st;

		kill(workers[k], SIGKILL);
		waitpid(workers[k], &st, 0);
	}
	stop_target(&g);
	gen_cleanup(&g);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_relay [--bare-only | --relay-only] [--no-load] [--rounds N] [--devices N]\n"
		"                   [--seconds S] [--warmup S] [--rate R] [--window W]\n"
		"                   [--idle N[,N...]] [--halqad PATH] [--halqad-b PATH] [--smaps DIR]\n"
		"                   [--fsync-probe]\n"
		"  --rounds N    load rounds, bare and relay alternating; medians reported (default 3)\n"
		"  --devices N   devices in the load runs, circles of 10 (default 100)\n"
		"  --seconds S   measured seconds per load run (default 5)\n"
		"  --warmup S    unmeasured seconds before each (default 1)\n"
		"  --rate R      paced run at R sends/s in total, 0 to skip (default 10000)\n"
		"  --window W    sends in flight per device when saturating (default 8)\n"
		"  --idle LIST   idle-connection counts (default 1000,10000; 0 to skip)\n"
		"  --halqad PATH the relay (default: halqad next to this program)\n"
		"  --halqad-b PATH a second relay, run as \"relayB\" right after the first in\n"
		"                every load round (an A/B comparison under the same load)\n"
		"  --smaps DIR   copy each target's /proc/PID/smaps at each idle reading to DIR\n"
		"  --fsync-probe time a 4 KiB write + fdatasync on the relay's disk every 10 ms\n"
		"                during each measured relay run\n");
	exit(2);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	o->rounds = 3;
	o->devices = 100;
	o->warm_s = 1;
	o->run_s = 5;
	o->rate = 10000;
	o->idle[0] = 1000;
	o->idle[1] = 10000;
	o->num_idle = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--bare-only") == 0) {
			o->bare_only = true;
			continue;
		}
		if (strcmp(a, "--relay-only") == 0) {
			o->relay_only = true;
			continue;
		}
		if (strcmp(a, "--fsync-probe") == 0) {
			g_fsync_probe = true;
			continue;
		}
		if (strcmp(a, "--no-load") == 0) {
			o->no_load = true;
			continue;
		}
		if (v == NULL) {
			usage();
		}
		i++;
		if (strcmp(a, "--rounds") == 0) {
			o->rounds = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--devices") == 0) {
			o->devices = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--seconds") == 0) {
			o->run_s = strtod(v, NULL);
		} else if (strcmp(a, "--warmup") == 0) {
			o->warm_s = strtod(v, NULL);
		} else if (strcmp(a, "--rate") == 0) {
			o->rate = strtod(v, NULL);
		} else if (strcmp(a, "--window") == 0) {
			g_window = strtoul(v, NULL, 10);
		} else if (strcmp(a, "--smaps") == 0) {
			g_smaps_dir = v;
		} else if (strcmp(a, "--halqad") == 0) {
			snprintf(g_halqad, sizeof g_halqad, "%s", v);
		} else if (strcmp(a, "--halqad-b") == 0) {
			snprintf(g_halqad_b, sizeof g_halqad_b, "%s", v);
		} else if (strcmp(a, "--idle") == 0) {
			char *end;

			o->num_idle = 0;
			for (const char *p = v; *p != '\0' && o->num_idle < 4; p = end) {
				size_t n = strtoul(p, &end, 10);

				if (end == p) {
					usage();
				}
				if (n > 0) {
					o->idle[o->num_idle++] = n;
				}
				if (*end == ',') {
					end++;
				}
			}
		} else {
			usage();
		}
	}
	if (o->rounds < 1 || o->rounds > MAX_ROUNDS || o->devices < CIRCLE_SIZE || o->devices % CIRCLE_SIZE != 0 || o->devices > 20000 ||
	    o->run_s <= 0 || o->run_s > 120 || o->warm_s < 0 || o->warm_s > 30 || o->rate < 0 ||
	    g_window == 0 || g_window > 1000 || (o->bare_only && o->relay_only)) {
		usage();
	}
	for (size_t i = 0; i < o->num_idle; i++) {
		if (o->idle[i] > 20000) {
			usage();
		}
	}
	if (g_halqad[0] == '\0') {
		ssize_t n = readlink("/proc/self/exe", g_halqad, sizeof g_halqad - 16);
		char *slash;

		if (n <= 0) {
			die("readlink /proc/self/exe");
		}
		g_halqad[n] = '\0';
		slash = strrchr(g_halqad, '/');
		snprintf(slash + 1, sizeof g_halqad - (size_t)(slash + 1 - g_halqad), "halqad");
	}
}

static void ratio(const char *what, double relay, double bare)
{
	if (bare > 0 && relay >= 0) {
		printf("ratio  %-40s %6.3f  (relay %.0f, bare %.0f)\n", what, relay / bare, relay, bare);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* median_of returns the median of get(result) over the |n| results. */
static double median_of(const struct load_result *r, size_t n,
			double (*get)(const struct load_result *))
{
	double v[MAX_ROUNDS];

	for (size_t i = 0; i < n; i++) {
		v[i] = get(&r[i]);
	}
	qsort(v, n, sizeof v[0], cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double get_accepted(const struct load_result *r)
{
	return r->accepted / r->seconds;
}

static double get_delivered(const struct load_result *r)
{
	return r->delivered / r->seconds;
}

static double get_p50(const struct load_result *r)
{
	return r->p50_us;
}

static double get_p99(const struct load_result *r)
{
	return r->p99_us;
}

static double get_rss(const struct load_result *r)
{
	return (double)r->peak_rss_kib;
}

static double get_cpu_us(const struct load_result *r)
{
	return r->cpu_s >= 0 && r->accepted > 0 ? 1e6 * r->cpu_s / (double)r->accepted : -1;
}

static void print_medians(const char *target, const char *run, const struct load_result *r,
			  size_t n)
{
	printf("median %-6s %-14s accepted %8.0f/s  delivered %9.0f/s  p50 %8.2f ms  "
	       "p99 %8.2f ms  peak RSS %7.0f KiB  CPU %5.1f us/send\n",
	       target, run, median_of(r, n, get_accepted), median_of(r, n, get_delivered),
	       median_of(r, n, get_p50) / 1000, median_of(r, n, get_p99) / 1000,
	       median_of(r, n, get_rss), median_of(r, n, get_cpu_us));
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	static struct figures bare[MAX_ROUNDS], relay[MAX_ROUNDS], bare_zap;
	struct load_result bs[MAX_ROUNDS], bp[MAX_ROUNDS], rs[MAX_ROUNDS], rp[MAX_ROUNDS];
	struct load_result rbs[MAX_ROUNDS], rbp[MAX_ROUNDS];
	static struct figures relay_b[MAX_ROUNDS];
	char halqad_a[PATH_MAX];
	char tmpdir[] = "/tmp/bench_relay.XXXXXX";
	static struct figures half_bare, half_relay;
	char cmd[600], run[32], half_run[32] = "";
	double half = 0;
	bool do_bare, do_relay;

	if ((argc == 3 || argc == 4) && strcmp(argv[1], "--bare-router") == 0) {
		if (sodium_init() < 0) {
			die("sodium_init");
		}
		return bare_router_main(argv[2], argc == 4 && strcmp(argv[3], "zap") == 0);
	}
	parse_opts(&o, argc, argv);
	do_bare = !o.relay_only;
	do_relay = !o.bare_only;
	if (sodium_init() < 0) {
		die("sodium_init");
	}
	signal(SIGPIPE, SIG_IGN);
	/* 10,000 DEALERs need a socket and a mailbox descriptor each. */
	raise_nofile(65536);
	if (mkdtemp(tmpdir) == NULL) {
		die("mkdtemp");
	}
	print_loadavg("at start");
	printf("bench_relay: %zu devices in circles of %d, %d-byte payloads, window %llu, "
	       "%.1f s measured after %.1f s warm-up, %zu rounds\n",
	       o.devices, CIRCLE_SIZE, PAYLOAD_LEN, (unsigned long long)g_window, o.run_s, o.warm_s,
	       o.rounds);
	for (size_t r = 0; r < o.rounds && !o.no_load; r++) {
		if (do_bare) {
			bench_load(TARGET_BARE, &o, tmpdir, &bare[r], true, o.rate);
			bs[r] = bare[r].sat;
			bp[r] = bare[r].paced;
		}
		if (do_relay) {
			bench_load(TARGET_RELAY, &o, tmpdir, &relay[r], true, o.rate);
			rs[r] = relay[r].sat;
			rp[r] = relay[r].paced;
		}
		if (do_relay && g_halqad_b[0] != '\0') {
			memcpy(halqad_a, g_halqad, sizeof halqad_a);
			memcpy(g_halqad, g_halqad_b, sizeof g_halqad);
			g_relay_name = "relayB";
			bench_load(TARGET_RELAY, &o, tmpdir, &relay_b[r], true, o.rate);
			rbs[r] = relay_b[r].sat;
			rbp[r] = relay_b[r].paced;
			memcpy(g_halqad, halqad_a, sizeof g_halqad);
			g_relay_name = "relay";
		}
	}
	if (!o.no_load) {
		snprintf(run, sizeof run, "paced %.0f/s", o.rate);
		if (do_bare) {
			print_medians("bare", "saturating", bs, o.rounds);
			if (o.rate > 0) {
				print_medians("bare", run, bp, o.rounds);
			}
		}
		if (do_relay) {
			print_medians("relay", "saturating", rs, o.rounds);
			if (o.rate > 0) {
				print_medians("relay", run, rp, o.rounds);
			}
		}
		if (do_relay && g_halqad_b[0] != '\0') {
			print_medians("relayB", "saturating", rbs, o.rounds);
			if (o.rate > 0) {
				print_medians("relayB", run, rbp, o.rounds);
			}
		}
	}
	/*
	 * Latency at half of what the relay sustained here, for both targets:
	 * the machine may not reach --rate at all, and a latency measured in
	 * an overloaded queue says nothing about the relay.
	 */
	if (!o.no_load && do_relay) {
		half = median_of(rs, o.rounds, get_accepted) / 2;
		if (half >= 1) {
			snprintf(half_run, sizeof half_run, "paced %.0f/s", half);
			if (do_bare) {
				bench_load(TARGET_BARE, &o, tmpdir, &half_bare, false, half);
			}
			bench_load(TARGET_RELAY, &o, tmpdir, &half_relay, false, half);
		}
	}
	for (size_t i = 0; i < o.num_idle; i++) {
		if (do_bare) {
			bench_idle(TARGET_BARE, false, o.idle[i], tmpdir, &bare[0].idle_rss[i],
				   &bare[0].idle_base[i]);
			bench_idle(TARGET_BARE, true, o.idle[i], tmpdir, &bare_zap.idle_rss[i],
				   &bare_zap.idle_base[i]);
		}
		if (do_relay) {
			bench_idle(TARGET_RELAY, false, o.idle[i], tmpdir, &relay[0].idle_rss[i],
				   &relay[0].idle_base[i]);
		}
	}
	if (do_bare && do_relay) {
		if (!o.no_load) {
			ratio("accepted sends/s, saturating (medians)",
			      median_of(rs, o.rounds, get_accepted), median_of(bs, o.rounds, get_accepted));
			ratio("delivered/s, saturating (medians)", median_of(rs, o.rounds, get_delivered),
			      median_of(bs, o.rounds, get_delivered));
			if (o.rate > 0) {
				ratio("p99 latency (us), paced (medians)", median_of(rp, o.rounds, get_p99),
				      median_of(bp, o.rounds, get_p99));
			}
			if (half_run[0] != '\0') {
				char what[80];

				snprintf(what, sizeof what, "p99 latency (us), %s", half_run);
				ratio(what, half_relay.paced.p99_us, half_bare.paced.p99_us);
			}
		}
		for (size_t i = 0; i < o.num_idle; i++) {
			char what[64];

			snprintf(what, sizeof what, "idle RSS (KiB), %zu devices", o.idle[i]);
			ratio(what, (double)relay[0].idle_rss[i], (double)bare[0].idle_rss[i]);
			snprintf(what, sizeof what, "idle RSS (KiB), %zu devices, vs bare+zap", o.idle[i]);
			ratio(what, (double)relay[0].idle_rss[i], (double)bare_zap.idle_rss[i]);
		}
	}
	print_loadavg("at end");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_relay: could not remove %s\n", tmpdir);
	}
	return 0;
}
