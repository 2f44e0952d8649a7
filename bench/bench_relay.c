/*
 * bench_relay.c: a load generator for the relay, over real ZeroMQ CURVE on
 * loopback, and the same load against a bare CURVE ROUTER that only forwards.
 *
 * The generator owns N devices, each a DEALER socket with its own CURVE key
 * pair, grouped in circles of 10. Every device sends 256-byte payloads that
 * carry the sender, a per-sender number and a CLOCK_MONOTONIC timestamp; when
 * another member receives one, the difference to the clock is one
 * send-to-delivery latency sample (one process, one clock). Sends are either
 * saturating (each device keeps a window of unanswered sends) or paced at a
 * fixed total rate.
 *
 * The "bare" target is this same executable re-run as a child (so its RSS is
 * that of a fresh process, like halqad's): one ROUTER, CURVE server, no ZAP,
 * no storage, no checks; it forwards each message to the 9 other members of
 * the sender's circle, named by the sender's routing id. It is the transport's
 * own limit, and the relay's figures are reported as ratios to it. It counts
 * what it received in a small file both processes map.
 *
 * Idle figures: N devices connect, each proves its handshake finished with a
 * ping the router answers, then the router's VmRSS is read from /proc.
 *
 * Everything is bounded: run times are fixed, counts are fixed, and every wait
 * has a deadline. Loopback only. Figures and method: bench/README.md.
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#define CIRCLE_SIZE 10
#define PAYLOAD_LEN 256
#define ROUTING_ID_LEN 5
#define MAX_SAMPLES (8u * 1000u * 1000u)
#define STALL_NS (1000u * 1000u * 1000u)

/* Payloads each device keeps in flight in a saturating run (--window). */
static uint64_t g_window = 8;

/* What the bare router and the generator share through a mapped file. */
struct bare_shared {
	uint32_t ready;
	char endpoint[64];
	uint8_t server_pk[crypto_box_PUBLICKEYBYTES];
	uint64_t ingress;
	uint64_t forwarded;
};

struct dev {
	void *sock;
	uint32_t idx;
	uint8_t pk[crypto_box_PUBLICKEYBYTES];
	uint8_t sk[crypto_box_SECRETKEYBYTES];
	uint64_t sent;       /* payloads sent */
	uint64_t credited;   /* bare: highest first-delivered number + 1 */
	uint64_t next_ns;    /* paced mode: when the next send is due */
	uint64_t credit_ns;  /* when the window last moved */
	bool ponged;
};

struct load_result {
	double seconds;
	uint64_t sent;
	uint64_t accepted;
	uint64_t delivered;
	uint64_t stalls;
	uint64_t behind;
	uint32_t *samples;
	size_t num_samples;
	double p50_us;
	double p99_us;
	double max_us;
	long peak_rss_kib;
};

struct gen {
	void *ctx;
	struct dev *devs;
	size_t num_devs;
	uint8_t server_pk[crypto_box_PUBLICKEYBYTES];
	char endpoint[64];
	pid_t target_pid;
	struct bare_shared *shared;
	/* measurement window */
	uint64_t win_start;
	uint64_t win_end;
	struct load_result *res;
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

/* read_status_kib returns a "VmRSS:"-style field of /proc/PID/status in KiB, or -1. */
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

static void record_latency(struct gen *g, uint64_t now, uint64_t sent_ns)
{
	struct load_result *r = g->res;
	uint64_t d = now > sent_ns ? now - sent_ns : 0;

	if (r->num_samples < MAX_SAMPLES) {
		r->samples[r->num_samples++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

/* ---------------------------------------------------------------------------
 * The bare router (child process).
 */

static int bare_router_main(const char *shared_path)
{
	struct bare_shared *sh;
	uint8_t pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	int fd, one = 1, zero = 0, backlog = 4096;
	size_t len;
	void *ctx, *sock;

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
	sock = zmq_socket(ctx, ZMQ_ROUTER);
	if (sock == NULL || zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sk, sizeof sk) != 0 ||
	    zmq_setsockopt(sock, ZMQ_BACKLOG, &backlog, sizeof backlog) != 0 ||
	    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_bind(sock, "tcp://127.0.0.1:*") != 0) {
		die("router: socket");
	}
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
	char path[512];
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
		execl("/proc/self/exe", "bench_relay", "--bare-router", path, (char *)NULL);
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
 * Devices.
 */

static void gen_init(struct gen *g, size_t num_devs)
{
	memset(g, 0, sizeof *g);
	g->num_devs = num_devs;
	g->devs = calloc(num_devs, sizeof *g->devs);
	if (g->devs == NULL) {
		die("calloc");
	}
	for (size_t i = 0; i < num_devs; i++) {
		g->devs[i].idx = (uint32_t)i;
		crypto_box_keypair(g->devs[i].pk, g->devs[i].sk);
	}
	g->ctx = zmq_ctx_new();
	if (g->ctx == NULL || zmq_ctx_set(g->ctx, ZMQ_MAX_SOCKETS, (int)num_devs + 64) != 0) {
		die("zmq context");
	}
}

static void gen_close_devices(struct gen *g)
{
	for (size_t i = 0; i < g->num_devs; i++) {
		if (g->devs[i].sock != NULL) {
			zmq_close(g->devs[i].sock);
			g->devs[i].sock = NULL;
		}
	}
}

static void gen_cleanup(struct gen *g)
{
	gen_close_devices(g);
	zmq_ctx_term(g->ctx);
	sodium_memzero(g->devs, g->num_devs * sizeof *g->devs);
	free(g->devs);
	memset(g, 0, sizeof *g);
}

/* connect_device opens a CURVE DEALER; with |routing_id| the bare router can name it. */
static void connect_device(struct gen *g, struct dev *d, bool routing_id)
{
	int zero = 0, hwm = 10000;
	uint8_t rid[ROUTING_ID_LEN];

	d->sock = zmq_socket(g->ctx, ZMQ_DEALER);
	if (d->sock == NULL) {
		die("zmq_socket (raise ulimit -n?)");
	}
	rid[0] = 'd';
	put_be32(rid + 1, d->idx);
	if (zmq_setsockopt(d->sock, ZMQ_CURVE_SERVERKEY, g->server_pk, sizeof g->server_pk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_CURVE_PUBLICKEY, d->pk, sizeof d->pk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, d->sk, sizeof d->sk) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_setsockopt(d->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
	    (routing_id && zmq_setsockopt(d->sock, ZMQ_ROUTING_ID, rid, sizeof rid) != 0) ||
	    zmq_connect(d->sock, g->endpoint) != 0) {
		die("connect device");
	}
}

/* ---------------------------------------------------------------------------
 * Bare target: payload frames straight to the router.
 */

static void make_payload(uint8_t out[PAYLOAD_LEN], const struct dev *d, uint64_t num, uint64_t ts)
{
	memset(out, 0xa5, PAYLOAD_LEN);
	put_be32(out, d->idx);
	put_be64(out + 4, num);
	put_be64(out + 12, ts);
}

/* on_delivery accounts one payload delivered to |to|; returns false if it is not ours. */
static bool on_delivery(struct gen *g, const struct dev *to, const uint8_t *p, size_t len,
			uint64_t now)
{
	uint32_t from;
	uint64_t num;
	struct dev *s;

	if (len != PAYLOAD_LEN) {
		return false;
	}
	from = get_be32(p);
	num = get_be64(p + 4);
	if (from >= g->num_devs || from == to->idx) {
		return false;
	}
	s = &g->devs[from];
	if (num + 1 > s->credited) {
		s->credited = num + 1;
		s->credit_ns = now;
	}
	if (now >= g->win_start && now < g->win_end) {
		g->res->delivered++;
		record_latency(g, now, get_be64(p + 12));
	}
	return true;
}

/*
 * run_bare_load drives the devices for |warm_s| + |run_s| seconds. With
 * |rate| 0 every device keeps WINDOW payloads in flight (a payload leaves the
 * window when its first copy reaches another member); otherwise the devices
 * send |rate| payloads per second in total, evenly spaced.
 */
static void run_bare_load(struct gen *g, double warm_s, double run_s, double rate,
			  struct load_result *res)
{
	uint64_t t0 = bench_now_ns(), interval = 0, now, ingress0 = 0;
	bool in_window = false;
	uint8_t buf[PAYLOAD_LEN + 64];
	zmq_pollitem_t *items;

	items = calloc(g->num_devs, sizeof *items);
	res->samples = malloc(MAX_SAMPLES * sizeof *res->samples);
	if (items == NULL || res->samples == NULL) {
		die("malloc");
	}
	g->res = res;
	g->win_start = t0 + (uint64_t)(warm_s * 1e9);
	g->win_end = g->win_start + (uint64_t)(run_s * 1e9);
	if (rate > 0) {
		interval = (uint64_t)(1e9 * (double)g->num_devs / rate);
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		struct dev *d = &g->devs[i];

		d->sent = d->credited = 0;
		d->credit_ns = t0;
		d->next_ns = t0 + (interval * i) / g->num_devs;
		items[i].socket = d->sock;
		items[i].events = ZMQ_POLLIN;
	}
	while ((now = bench_now_ns()) < g->win_end) {
		bool busy = false;

		if (!in_window && now >= g->win_start) {
			in_window = true;
			ingress0 = __atomic_load_n(&g->shared->ingress, __ATOMIC_RELAXED);
		}
		for (size_t i = 0; i < g->num_devs; i++) {
			struct dev *d = &g->devs[i];

			for (int budget = 256; budget > 0; budget--) {
				int n = zmq_recv(d->sock, buf, sizeof buf, ZMQ_DONTWAIT);

				if (n < 0) {
					break;
				}
				busy = true;
				on_delivery(g, d, buf, (size_t)n, bench_now_ns());
			}
			if (d->sent - d->credited >= g_window && now - d->credit_ns > STALL_NS) {
				/* Every copy of the window was dropped: open it again. */
				d->credited = d->sent;
				d->credit_ns = now;
				res->stalls++;
			}
			while (d->sent - d->credited < g_window && (interval == 0 || now >= d->next_ns)) {
				uint64_t ts = bench_now_ns();

				make_payload(buf, d, d->sent, ts);
				if (zmq_send(d->sock, buf, PAYLOAD_LEN, ZMQ_DONTWAIT) < 0) {
					break;
				}
				busy = true;
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
		if (!busy) {
			zmq_poll(items, (int)g->num_devs, 1);
		}
	}
	res->seconds = run_s;
	res->accepted = __atomic_load_n(&g->shared->ingress, __ATOMIC_RELAXED) - ingress0;
	res->peak_rss_kib = read_status_kib(g->target_pid, "VmHWM");
	finish_latency(res);
	free(items);
}

/* wait_pongs sends one ping per device and waits for every answer (bounded). */
static int wait_pongs(struct gen *g, double timeout_s)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);
	size_t left = g->num_devs;
	zmq_pollitem_t *items = calloc(g->num_devs, sizeof *items);
	char buf[16];

	if (items == NULL) {
		die("calloc");
	}
	for (size_t i = 0; i < g->num_devs; i++) {
		g->devs[i].ponged = false;
		items[i].socket = g->devs[i].sock;
		items[i].events = ZMQ_POLLIN;
		if (zmq_send(g->devs[i].sock, "ping", 4, 0) != 4) {
			die("ping");
		}
	}
	while (left > 0 && bench_now_ns() < deadline) {
		if (zmq_poll(items, (int)g->num_devs, 100) <= 0) {
			continue;
		}
		for (size_t i = 0; i < g->num_devs; i++) {
			if ((items[i].revents & ZMQ_POLLIN) == 0) {
				continue;
			}
			while (zmq_recv(g->devs[i].sock, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
				if (!g->devs[i].ponged) {
					g->devs[i].ponged = true;
					left--;
				}
			}
		}
	}
	free(items);
	return left == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Reporting and the main program.
 */

static void print_load(const char *name, const struct load_result *r)
{
	printf("%-28s sent %9.0f/s  accepted %9.0f/s  delivered %10.0f/s  p50 %8.1f us  "
	       "p99 %8.1f us  max %9.1f us  peak RSS %7ld KiB%s\n",
	       name, r->sent / r->seconds, r->accepted / r->seconds, r->delivered / r->seconds,
	       r->p50_us, r->p99_us, r->max_us, r->peak_rss_kib,
	       r->stalls != 0 || r->behind != 0 ? "  (stalls/behind)" : "");
	if (r->stalls != 0 || r->behind != 0) {
		printf("%-28s stalls %llu, paced sends skipped %llu\n", "", (unsigned long long)r->stalls,
		       (unsigned long long)r->behind);
	}
	fflush(stdout);
}

struct opts {
	size_t devices;
	double warm_s;
	double run_s;
	double rate;
	size_t idle[4];
	size_t num_idle;
	bool bare;
	bool idle_only;
};

static void bench_bare(const struct opts *o, const char *tmpdir, struct load_result *sat,
		       struct load_result *paced)
{
	struct gen g;

	gen_init(&g, o->devices);
	start_bare(&g, tmpdir);
	for (size_t i = 0; i < g.num_devs; i++) {
		connect_device(&g, &g.devs[i], true);
	}
	if (wait_pongs(&g, 30) != 0) {
		errno = ETIMEDOUT;
		die("bare: devices did not connect");
	}
	run_bare_load(&g, o->warm_s, o->run_s, 0, sat);
	print_load("bare saturating", sat);
	if (o->rate > 0) {
		run_bare_load(&g, o->warm_s, o->run_s, o->rate, paced);
		char name[64];
		snprintf(name, sizeof name, "bare paced %.0f/s", o->rate);
		print_load(name, paced);
	}
	stop_target(&g);
	gen_cleanup(&g);
}

static long bench_bare_idle(size_t n, const char *tmpdir, long *base_kib)
{
	struct gen g;
	long rss;

	gen_init(&g, n);
	start_bare(&g, tmpdir);
	usleep(200000);
	*base_kib = read_status_kib(g.target_pid, "VmRSS");
	for (size_t i = 0; i < g.num_devs; i++) {
		connect_device(&g, &g.devs[i], true);
	}
	if (wait_pongs(&g, 120) != 0) {
		errno = ETIMEDOUT;
		die("bare idle: devices did not connect");
	}
	usleep(500000);
	rss = read_status_kib(g.target_pid, "VmRSS");
	stop_target(&g);
	gen_cleanup(&g);
	return rss;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_relay [--bare-only] [--idle-only] [--devices N] [--seconds S]\n"
		"                   [--warmup S] [--rate R] [--window W] [--idle N[,N...]]\n"
		"  --devices N   devices in the load runs, circles of 10 (default 100)\n"
		"  --seconds S   measured seconds per load run (default 5)\n"
		"  --warmup S    unmeasured seconds before each (default 1)\n"
		"  --rate R      paced run at R sends/s in total, 0 to skip (default 10000)\n"
		"  --window W    payloads in flight per device when saturating (default 8)\n"
		"  --idle LIST   idle-connection counts (default 1000,10000; 0 to skip)\n");
	exit(2);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
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
			o->bare = true;
		} else if (strcmp(a, "--idle-only") == 0) {
			o->idle_only = true;
		} else if (v == NULL) {
			usage();
		} else if (strcmp(a, "--devices") == 0) {
			o->devices = strtoul(v, NULL, 10);
			i++;
		} else if (strcmp(a, "--seconds") == 0) {
			o->run_s = strtod(v, NULL);
			i++;
		} else if (strcmp(a, "--warmup") == 0) {
			o->warm_s = strtod(v, NULL);
			i++;
		} else if (strcmp(a, "--window") == 0) {
			g_window = strtoul(v, NULL, 10);
			i++;
		} else if (strcmp(a, "--rate") == 0) {
			o->rate = strtod(v, NULL);
			i++;
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
			i++;
		} else {
			usage();
		}
	}
	if (o->devices < CIRCLE_SIZE || o->devices % CIRCLE_SIZE != 0 || o->devices > 20000 ||
	    o->run_s <= 0 || o->run_s > 120 || o->warm_s < 0 || o->warm_s > 30 || o->rate < 0 || g_window == 0 || g_window > 1000) {
		usage();
	}
	for (size_t i = 0; i < o->num_idle; i++) {
		if (o->idle[i] > 20000) {
			usage();
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct load_result bare_sat = {0}, bare_paced = {0};
	char tmpdir[] = "/tmp/bench_relay.XXXXXX";
	char cmd[600];

	if (argc == 3 && strcmp(argv[1], "--bare-router") == 0) {
		if (sodium_init() < 0) {
			die("sodium_init");
		}
		return bare_router_main(argv[2]);
	}
	parse_opts(&o, argc, argv);
	if (sodium_init() < 0) {
		die("sodium_init");
	}
	signal(SIGPIPE, SIG_IGN);
	/* 10,000 DEALERs need a socket and a mailbox descriptor each. */
	raise_nofile(65536);
	if (mkdtemp(tmpdir) == NULL) {
		die("mkdtemp");
	}
	printf("bench_relay: %zu devices in circles of %d, %d-byte payloads, window %llu, "
	       "%.0f s measured after %.0f s warm-up\n",
	       o.devices, CIRCLE_SIZE, PAYLOAD_LEN, (unsigned long long)g_window, o.run_s, o.warm_s);
	if (!o.idle_only) {
		bench_bare(&o, tmpdir, &bare_sat, &bare_paced);
	}
	for (size_t i = 0; i < o.num_idle; i++) {
		long base, rss = bench_bare_idle(o.idle[i], tmpdir, &base);

		printf("bare idle %6zu devices       router VmRSS %7ld KiB (empty %ld KiB, %.1f KiB "
		       "per connection)\n",
		       o.idle[i], rss, base, (double)(rss - base) / (double)o.idle[i]);
		fflush(stdout);
	}
	free(bare_sat.samples);
	free(bare_paced.samples);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_relay: could not remove %s\n", tmpdir);
	}
	return 0;
}
