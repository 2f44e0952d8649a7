/*
 * bench_client.c: the client's circle engine against a real relay on
 * loopback: how long a chat send takes to be accepted, and how fast a
 * member who was away catches up.
 *
 * Everything runs in this process except the relay: ten profiles, each
 * with its own SQLCipher store (raw random key: the passphrase KDF is not
 * part of any figure), identity, libuv loop and engine, registered with a
 * fresh `halqad run --open` in a temporary directory whose per-device
 * limits are lifted (one process plays ten people sending far faster than
 * people do; the checks still run, only their values change). Member 0
 * creates the circle and adds the nine others; each joins from its
 * Welcome.
 *
 *  - send: member 1 calls engine_send with a chat message; the time is
 *    from the call until it returns with the relay's OK (|out_sent| must
 *    say sent, else the run fails: a send left in the outbox would time
 *    nothing).
 *  - catch-up: member 9 stops syncing; members 0-8 send N messages
 *    between them (default 10,000; their stores skip fdatasync meanwhile,
 *    as only member 9's work is measured), each syncing after every 100
 *    of its sends so the log holds the self-update commits a real circle
 *    has; then member 9's engine_sync is timed, and it must report every
 *    one of them received.
 *  - with --halqa: the whole `halqa send` process (a profile made with
 *    `--kdf-profile test`, so its Argon2id is the documented cheap one):
 *    wall time and the process's CPU time; beside it the test KDF alone
 *    (taken out of the figure) and `halqa help` (starting and ending a
 *    process that links SQLCipher, ZeroMQ and libuv, libical being loaded
 *    only where a session date is needed: the floor of any command on this
 *    machine at this load). With --cli-session the circle has a weekly
 *    session scheduled before the timed sends (a facilitator's sends).
 *  - with --alloc N, alone: N allocations and frees of secrets of the
 *    sizes a `halqa send` makes (its group load, save and stored state),
 *    with sodium_malloc and with the secrets arena (secmem.h): the
 *    process's CPU time per pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>
#include <uv.h>

#include "bench_util.h"
#include "halqa/card.h"
#include "halqa/engine.h"
#include "halqa/identity.h"
#include "halqa/secmem.h"
#include "halqa/session.h"
#include "halqa/store.h"
#include "halqa/storekey.h"

#define NUM_MEMBERS     10
#define CIRCLE_NAME     "bench"
#define SENDS_DEFAULT   200u
#define CATCHUP_DEFAULT 10000u
#define MAX_SAMPLES     100000u

struct prof {
	char name[32];
	char path[PATH_MAX];
	struct store *store;
	struct identity *id;
	uv_loop_t loop;
	struct engine *e;
};

static char g_tmpdir[PATH_MAX - 64];
static char g_halqad[PATH_MAX];
static char g_halqa[PATH_MAX]; /* --halqa: time the CLI too */
static bool g_cli_session;     /* --cli-session: the CLI's circle has a weekly session */
static char g_endpoint[64];
static uint8_t g_server_pub[32];
static pid_t g_relay_pid;
static bool g_count_requests; /* --count-requests: the relay logs each request (debug) */
static char g_relay_log[PATH_MAX + 16];

_Noreturn static void die(const char *what)
{
	fprintf(stderr, "bench_client: %s%s%s\n", what, errno != 0 ? ": " : "",
	        errno != 0 ? strerror(errno) : "");
	if (g_relay_pid > 0) {
		kill(g_relay_pid, SIGKILL);
	}
	exit(1);
}

_Noreturn static void die_engine(const struct prof *p, const char *what, int r)
{
	fprintf(stderr, "bench_client: %s: %s: %s (%s)\n", p->name, what, halqa_strerror(r),
	        engine_last_error(p->e));
	if (g_relay_pid > 0) {
		kill(g_relay_pid, SIGKILL);
	}
	exit(1);
}

static double cpu_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the relay ---- */

/*
 * run_wait runs |argv| with its output appended to |log| and the pairs of
 * |env| (name, value, ..., NULL) set, and returns its exit status. It
 * uses posix_spawn, which does not copy this process's page tables: this
 * process holds ten engines and their stores, and a fork of it took
 * milliseconds that a timed `halqa send` would have been charged with.
 */
static int run_wait(char *const argv[], const char *log, const char *const env[])
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	char **envp, *set[8];
	size_t n = 0, num_set = 0, len;
	pid_t pid;
	int st, fd, rc;

	for (size_t i = 0; env != NULL && env[i] != NULL && num_set < 8; i += 2) {
		len = strlen(env[i]) + strlen(env[i + 1]) + 2;
		if ((set[num_set] = malloc(len)) == NULL) {
			die("malloc");
		}
		snprintf(set[num_set++], len, "%s=%s", env[i], env[i + 1]);
	}
	while (environ[n] != NULL) {
		n++;
	}
	if ((envp = calloc(n + num_set + 1, sizeof *envp)) == NULL) {
		die("calloc");
	}
	n = 0;
	for (size_t i = 0; environ[i] != NULL; i++) {
		bool replaced = false;

		for (size_t k = 0; k < num_set; k++) {
			len = strcspn(set[k], "=") + 1;
			replaced |= strncmp(environ[i], set[k], len) == 0;
		}
		if (!replaced) {
			envp[n++] = environ[i];
		}
	}
	for (size_t k = 0; k < num_set; k++) {
		envp[n++] = set[k];
	}
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		die("open log");
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	for (size_t k = 0; k < num_set; k++) {
		free(set[k]);
	}
	free(envp);
	if (rc != 0) {
		errno = rc;
		die("posix_spawn");
	}
	if (waitpid(pid, &st, 0) != pid) {
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

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

/* start_relay: `halqad init`, limits lifted, `halqad run --open` on a free port. */
static void start_relay(void)
{
	char dir[PATH_MAX], conf[PATH_MAX + 16], key[PATH_MAX + 16], log[PATH_MAX + 16];
	char sock[PATH_MAX + 16];
	uint8_t sec[32];
	uint64_t deadline;
	FILE *f;

	snprintf(g_endpoint, sizeof g_endpoint, "tcp://127.0.0.1:%d", free_port());
	snprintf(dir, sizeof dir, "%s/relay", g_tmpdir);
	snprintf(conf, sizeof conf, "%s/halqad.conf", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	snprintf(log, sizeof log, "%s/relay.log", g_tmpdir);
	snprintf(g_relay_log, sizeof g_relay_log, "%s", log);
	snprintf(sock, sizeof sock, "%s/admin.sock", dir);
	{
		char a_init[] = "init", a_data[] = "--data", a_listen[] = "--listen";
		char *argv[] = {g_halqad, a_init, a_data, dir, a_listen, g_endpoint, NULL};

		if (run_wait(argv, log, NULL) != 0) {
			errno = 0;
			die("halqad init failed (see relay.log)");
		}
	}
	if ((f = fopen(conf, "a")) == NULL) {
		die("halqad.conf");
	}
	fprintf(f, "\n; bench_client: ten members sending much faster than people\n[limits]\n"
	           "requests_per_second = 1000000\nrequests_burst = 1000000\n"
	           "bytes_per_second = 1G\nbytes_burst = 1G\n"
	           "daily_bytes_per_device = 1099511627776\n");
	if (fclose(f) != 0) {
		die("halqad.conf");
	}
	if ((f = fopen(key, "rb")) == NULL || fread(sec, 1, sizeof sec, f) != sizeof sec ||
	    fclose(f) != 0 || crypto_scalarmult_base(g_server_pub, sec) != 0) {
		die("server key");
	}
	sodium_memzero(sec, sizeof sec);
	g_relay_pid = fork();
	if (g_relay_pid < 0) {
		die("fork");
	}
	if (g_relay_pid == 0) {
		char a_run[] = "run", a_data[] = "--data", a_listen[] = "--listen",
		     a_open[] = "--open", a_level[] = "--log-level", a_debug[] = "debug";
		char *argv[] = {g_halqad, a_run, a_data,  dir,     a_listen,
				g_endpoint, a_open, a_level, a_debug, NULL};

		if (!g_count_requests) {
			argv[7] = NULL;
		}
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	deadline = bench_now_ns() + 20ull * 1000000000u;
	while (access(sock, F_OK) != 0) {
		int st;

		if (bench_now_ns() > deadline || waitpid(g_relay_pid, &st, WNOHANG) != 0) {
			errno = 0;
			die("halqad run did not start (see relay.log)");
		}
		usleep(2000);
	}
}

static void stop_relay(void)
{
	int st;

	if (g_relay_pid > 0) {
		kill(g_relay_pid, SIGTERM);
		waitpid(g_relay_pid, &st, 0);
		g_relay_pid = 0;
	}
}

/* ---- the halqa command ---- */

static const char *const g_cli_env[] = {"HALQA_PASSPHRASE", "bench passphrase, not a real one",
                                        "NO_COLOR", "1", NULL};

/* cli runs `halqa --home HOME ARGS...` (|args| NULL-terminated), output to |log|. */
static void cli(const char *home, const char *log, const char *const *args)
{
	char *argv[24];
	size_t n = 0;

	argv[n++] = g_halqa;
	argv[n++] = (char *)"--home";
	argv[n++] = (char *)home;
	for (size_t i = 0; args[i] != NULL && n + 1 < sizeof argv / sizeof argv[0]; i++) {
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	if (run_wait(argv, log, g_cli_env) != 0) {
		errno = 0;
		fprintf(stderr, "bench_client: halqa %s failed; see %s\n", args[0], log);
		die("halqa");
	}
}

/*
 * cli_sends makes a profile with `halqa init --kdf-profile test`, sets the
 * relay from `halqad address`, registers, creates a circle, and times
 * |n| runs of the whole `halqa send` process.
 */
static double children_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) != 0) {
		die("getrusage");
	}
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

static void cli_sends(unsigned long n, uint64_t *samples, uint64_t *cpu)
{
	char home[PATH_MAX], log[PATH_MAX], relay[PATH_MAX], address[512];
	char text[64];
	FILE *f;

	snprintf(home, sizeof home, "%s/cli", g_tmpdir);
	snprintf(log, sizeof log, "%s/cli.log", g_tmpdir);
	snprintf(relay, sizeof relay, "%s/relay", g_tmpdir);
	{
		char a_addr[] = "address", a_data[] = "--data", out[PATH_MAX + 16];
		char *argv[] = {g_halqad, a_addr, a_data, relay, NULL};

		snprintf(out, sizeof out, "%s/address.txt", g_tmpdir);
		if (run_wait(argv, out, NULL) != 0 || (f = fopen(out, "r")) == NULL) {
			die("halqad address");
		}
		address[0] = '\0';
		while (fgets(address, sizeof address, f) != NULL &&
		       strncmp(address, "halqa-relay:", 12) != 0) {
		}
		fclose(f);
		address[strcspn(address, "\n")] = '\0';
		if (strncmp(address, "halqa-relay:", 12) != 0) {
			errno = 0;
			die("halqad address printed no address line");
		}
	}
	cli(home, log,
	    (const char *const[]){"init", "--name", "Bench", "--kdf-profile", "test", NULL});
	cli(home, log, (const char *const[]){"relay", "set", address, NULL});
	cli(home, log, (const char *const[]){"register", NULL});
	cli(home, log, (const char *const[]){"circle", "create", CIRCLE_NAME, NULL});
	if (g_cli_session) {
		cli(home, log,
		    (const char *const[]){"session", "schedule", CIRCLE_NAME, "--title", "Weekly",
		                          "--at", "2030-01-07 18:00", "--tz", "Europe/Berlin",
		                          "--duration", "60m", "--every", "1w", NULL});
	}
	for (unsigned long i = 0; i < n; i++) {
		uint64_t start;
		double cpu0;

		snprintf(text, sizeof text, "message %lu from the command line", i);
		cpu0 = children_cpu_ns();
		start = bench_now_ns();
		cli(home, log, (const char *const[]){"send", CIRCLE_NAME, text, NULL});
		samples[i] = bench_now_ns() - start;
		cpu[i] = (uint64_t)(children_cpu_ns() - cpu0);
	}
}

/* cli_help_ms times |n| runs of `halqa help` and returns their median in milliseconds. */
static double cli_help_ms(unsigned long n, uint64_t *samples)
{
	char home[PATH_MAX], log[PATH_MAX];

	snprintf(home, sizeof home, "%s/cli", g_tmpdir);
	snprintf(log, sizeof log, "%s/cli.log", g_tmpdir);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t start = bench_now_ns();

		cli(home, log, (const char *const[]){"help", NULL});
		samples[i] = bench_now_ns() - start;
	}
	return bench_percentile_ms(samples, n, 0.5);
}

/*
 * kdf_test_ms times |n| derivations of a store key at the test profile's
 * cost (what every `halqa` command of cli_sends pays first) and returns
 * the median in milliseconds: the passphrase KDF is not part of the send
 * target, so the report takes it out.
 */
static double kdf_test_ms(unsigned long n, uint64_t *samples)
{
	static const char pass[] = "bench passphrase, not a real one";
	struct storekey_params p;
	uint8_t key[STOREKEY_KEY_LEN];

	if (storekey_params_new(&p, STOREKEY_PROFILE_TEST) != HALQA_OK) {
		die("storekey_params_new");
	}
	for (unsigned long i = 0; i < n; i++) {
		uint64_t start = bench_now_ns();

		if (storekey_derive(key, &p, pass, sizeof pass - 1) != HALQA_OK) {
			die("storekey_derive");
		}
		samples[i] = bench_now_ns() - start;
	}
	sodium_memzero(key, sizeof key);
	return bench_percentile_ms(samples, n, 0.5);
}

/* ---- profiles ---- */

/* prof_start makes the profile's engine on a loop of its own (a `halqa` process starting). */
static void prof_start(struct prof *p)
{
	int r;

	if (uv_loop_init(&p->loop) != 0) {
		die("uv_loop_init");
	}
	if ((r = engine_new(&p->e, p->store, p->id, &p->loop)) != HALQA_OK) {
		die_engine(p, "engine_new", r);
	}
}

/* prof_stop closes the engine and its loop (the process exiting); the store stays open. */
static void prof_stop(struct prof *p)
{
	engine_free(p->e);
	p->e = NULL;
	while (uv_run(&p->loop, UV_RUN_NOWAIT) != 0) {
	}
	(void)uv_loop_close(&p->loop);
}

static void prof_new(struct prof *p, unsigned idx)
{
	uint8_t key[STORE_KEY_LEN];
	char hex[65];
	int r;

	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "member%u", idx);
	snprintf(p->path, sizeof p->path, "%s/%s.db", g_tmpdir, p->name);
	randombytes_buf(key, sizeof key);
	if (identity_new(&p->id) != HALQA_OK ||
	    store_open(&p->store, p->path, key, STORE_CREATE) != HALQA_OK) {
		die("profile");
	}
	sodium_memzero(key, sizeof key);
	sodium_bin2hex(hex, sizeof hex, g_server_pub, sizeof g_server_pub);
	if (store_setting_set(p->store, "relay.endpoint", g_endpoint) != HALQA_OK ||
	    store_setting_set(p->store, "relay.key", hex) != HALQA_OK) {
		die("relay settings");
	}
	prof_start(p);
	if ((r = engine_register(p->e, NULL)) != HALQA_OK) {
		die_engine(p, "register", r);
	}
}

static void prof_free(struct prof *p)
{
	prof_stop(p);
	store_close(p->store);
	identity_free(p->id);
	unlink(p->path);
}

/* contact_add makes |who| a verified contact of |to|, as `halqa contact add` would. */
static void contact_add(struct prof *to, const struct prof *who)
{
	struct card cd;
	struct store_contact ct;

	memset(&cd, 0, sizeof cd);
	memset(&ct, 0, sizeof ct);
	snprintf(cd.endpoint, sizeof cd.endpoint, "%s", g_endpoint);
	memcpy(cd.relay_pub, g_server_pub, sizeof cd.relay_pub);
	memcpy(cd.identity_pub, who->id->sign_pub, sizeof cd.identity_pub);
	memcpy(cd.mailbox_id, who->id->mailbox_id, sizeof cd.mailbox_id);
	memcpy(cd.kp_dir_id, who->id->kp_dir_id, sizeof cd.kp_dir_id);
	if (card_encode(ct.card, &cd) != HALQA_OK) {
		die("card_encode");
	}
	snprintf(ct.name, sizeof ct.name, "%s", who->name);
	memcpy(ct.identity_pub, who->id->sign_pub, sizeof ct.identity_pub);
	ct.verified = 1;
	ct.added_at = 1;
	if (store_contact_add(to->store, &ct) != HALQA_OK) {
		die("store_contact_add");
	}
}

static void sync_or_die(struct prof *p, struct engine_sync_report *rep)
{
	struct engine_sync_report local;
	int r;

	if (rep == NULL) {
		rep = &local;
	}
	memset(rep, 0, sizeof *rep);
	if ((r = engine_sync(p->e, rep)) != HALQA_OK) {
		die_engine(p, "sync", r);
	}
	if (rep->offline) {
		die_engine(p, "sync: relay unreachable", HALQA_ERR_NETWORK);
	}
}

static void send_or_die(struct prof *p, const char *text)
{
	static struct session_message m;
	bool sent = false;
	int r;

	memset(&m, 0, sizeof m);
	m.kind = SESSION_KIND_CHAT;
	snprintf(m.u.chat.text, sizeof m.u.chat.text, "%s", text);
	if ((r = engine_send(p->e, CIRCLE_NAME, &m, NULL, &sent)) != HALQA_OK) {
		die_engine(p, "send", r);
	}
	if (!sent) {
		die_engine(p, "send: left in the outbox", HALQA_ERR_NETWORK);
	}
}

/* make_text writes a chat line of about |len| bytes, numbered, mixed scripts. */
static void make_text(char *out, size_t out_len, unsigned n, size_t len)
{
	static const char *const words[] = {"meeting", "tomorrow", "الاجتماع", "غدا",
	                                    "court",   "notes",    "المحكمة",  "شكرا"};
	size_t o = (size_t)snprintf(out, out_len, "%u", n);

	while (o < len && o + 20 < out_len) {
		o += (size_t)snprintf(out + o, out_len - o, " %s",
		                      words[randombytes_uniform(sizeof words / sizeof words[0])]);
	}
}

/* proc_io reads this process's write counters (/proc/self/io): bytes and system calls. */
static void proc_io(uint64_t *wchar, uint64_t *syscw)
{
	char line[128];
	FILE *f = fopen("/proc/self/io", "r");
	unsigned long long v;

	*wchar = 0;
	*syscw = 0;
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "wchar: %llu", &v) == 1) {
			*wchar = v;
		} else if (sscanf(line, "syscw: %llu", &v) == 1) {
			*syscw = v;
		}
	}
	if (f != NULL) {
		fclose(f);
	}
}

/*
 * store_synchronous reads |p|'s PRAGMA synchronous, then sets it to
 * |level| (0 = OFF) if |level| >= 0. The catch-up's senders fill the log
 * without waiting on their own disk: their durability is not what is
 * measured, and the sends' fdatasync calls made the setup of 10,000
 * messages too slow to run. The reader's store is never changed.
 */
static int store_synchronous(struct prof *p, int level)
{
	sqlite3 *db = store_db(p->store);
	sqlite3_stmt *st = NULL;
	char sql[64];
	int old = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		old = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	if (old < 0) {
		die("PRAGMA synchronous");
	}
	snprintf(sql, sizeof sql, "PRAGMA synchronous = %d", level);
	if (level >= 0 && sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		die("PRAGMA synchronous");
	}
	return old;
}

/*
 * The reader's store during the catch-up: its WAL commits, each one
 * fsync at the store's synchronous = FULL, counted by a WAL hook that
 * also does what SQLite's own would (a checkpoint from 1000 pages on).
 */
struct wal_counts {
	unsigned long commits;
	unsigned long checkpoints;
};

static int wal_count(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct wal_counts *w = arg;

	w->commits++;
	if (pages >= 1000) {
		w->checkpoints++;
		(void)sqlite3_wal_checkpoint(db, name);
	}
	return SQLITE_OK;
}

/* relay_log_size returns the relay log's size, where counting starts. */
static long relay_log_size(void)
{
	struct stat st;

	return stat(g_relay_log, &st) == 0 ? (long)st.st_size : 0;
}

/*
 * relay_requests counts the requests the relay logged (--count-requests)
 * from offset |from| on, and the FETCHes among them.
 */
static void relay_requests(long from, unsigned long *out_all, unsigned long *out_fetch)
{
	char line[512];
	FILE *f = fopen(g_relay_log, "r");

	*out_all = 0;
	*out_fetch = 0;
	if (f == NULL || fseek(f, from, SEEK_SET) != 0) {
		die("relay.log");
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, "relay: device ") == NULL) {
			continue;
		}
		(*out_all)++;
		if (strstr(line, ": FETCH\n") != NULL) {
			(*out_fetch)++;
		}
	}
	fclose(f);
}

/* state_len returns the size of |p|'s saved group state for the circle. */
static size_t state_len(struct prof *p, const uint8_t id[ENGINE_ID_LEN])
{
	uint8_t *state = NULL;
	size_t len = 0;

	if (store_circle_state_get(p->store, id, &state, &len) != HALQA_OK) {
		die("store_circle_state_get");
	}
	store_secret_free(state, len);
	return len;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_client [--sends N] [--catchup N] [--rounds N]"
	                " [--halqad PATH] [--count-requests]\n"
	                "                    [--halqa PATH [--cli-sends N] [--cli-session]]\n"
	                "       bench_client --alloc N\n");
	exit(2);
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * alloc_bench times |n| allocate-touch-free pairs of secrets, the sizes
 * one `halqa send` asked sodium_malloc for (strace and a counting
 * wrapper, 2026-12-07), with sodium_malloc and with secmem_alloc.
 */
/* alloc_pairs returns the process's CPU time, in ms, of |n| pairs of |alloc_fn| and |free_fn|. */
static double alloc_pairs(unsigned long n, void *(*alloc_fn)(size_t), void (*free_fn)(void *))
{
	static const size_t sizes[] = {35, 64, 96, 99, 101, 144, 160, 192, 195, 304,
				       320, 384, 1026, 1527, 1527, 2384};
	double t0 = cpu_ms();

	for (unsigned long i = 0; i < n; i++) {
		uint8_t *p = alloc_fn(sizes[i % (sizeof sizes / sizeof sizes[0])]);

		if (p == NULL) {
			die("allocating a secret");
		}
		p[0] = (uint8_t)i;
		free_fn(p);
	}
	return cpu_ms() - t0;
}

/*
 * alloc_bench times |n| allocate-touch-free pairs of secrets, the sizes
 * one `halqa send` asked sodium_malloc for (strace and a counting
 * wrapper, 2026-12-07), with sodium_malloc and with secmem_alloc.
 */
static void alloc_bench(unsigned long n)
{
	struct secmem_stats st;
	double sodium = alloc_pairs(n, sodium_malloc, sodium_free);
	double arena = alloc_pairs(n, secmem_alloc, secmem_free);

	secmem_stats(&st);
	printf("secrets, %lu allocate+free pairs: sodium_malloc %.2f us CPU each, "
	       "secmem_alloc %.3f us CPU each (%zu from the arena, %zu fallbacks)\n",
	       n, sodium * 1e3 / (double)n, arena * 1e3 / (double)n, st.arena_allocs,
	       st.fallbacks);
}

static unsigned long arg_num(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		usage();
	}
	return v;
}

int main(int argc, char **argv)
{
	static struct prof m[NUM_MEMBERS];
	static uint64_t samples[MAX_SAMPLES];
	const char *names[NUM_MEMBERS - 1];
	int sync_level[NUM_MEMBERS - 1];
	unsigned long sends = SENDS_DEFAULT, catchup = CATCHUP_DEFAULT, rounds = 1, cli_n = 20;
	unsigned long alloc_n = 0;
	uint8_t circle_id[ENGINE_ID_LEN];
	char text[512];
	const char *base;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sends") == 0 && i + 1 < argc) {
			sends = arg_num(argv[++i], 1, MAX_SAMPLES);
		} else if (strcmp(argv[i], "--catchup") == 0 && i + 1 < argc) {
			catchup = arg_num(argv[++i], 0, 1000000);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = arg_num(argv[++i], 1, 16);
		} else if (strcmp(argv[i], "--halqa") == 0 && i + 1 < argc) {
			snprintf(g_halqa, sizeof g_halqa, "%s", argv[++i]);
		} else if (strcmp(argv[i], "--cli-sends") == 0 && i + 1 < argc) {
			cli_n = arg_num(argv[++i], 1, MAX_SAMPLES);
		} else if (strcmp(argv[i], "--count-requests") == 0) {
			g_count_requests = true;
		} else if (strcmp(argv[i], "--cli-session") == 0) {
			g_cli_session = true;
		} else if (strcmp(argv[i], "--halqad") == 0 && i + 1 < argc) {
			snprintf(g_halqad, sizeof g_halqad, "%s", argv[++i]);
		} else if (strcmp(argv[i], "--alloc") == 0 && i + 1 < argc) {
			alloc_n = arg_num(argv[++i], 1, 100000000);
		} else {
			usage();
		}
	}
	if (sodium_init() < 0) {
		return 1;
	}
	if (alloc_n > 0) {
		bench_print_load("at start");
		alloc_bench(alloc_n);
		bench_print_load("at end");
		return 0;
	}
	if (g_halqad[0] == '\0') {
		ssize_t n = readlink("/proc/self/exe", g_halqad, sizeof g_halqad - 16);
		char *slash;

		if (n <= 0) {
			die("readlink");
		}
		g_halqad[n] = '\0';
		slash = strrchr(g_halqad, '/');
		snprintf(slash + 1, sizeof g_halqad - (size_t)(slash + 1 - g_halqad), "halqad");
	}
	base = getenv("TMPDIR");
	snprintf(g_tmpdir, sizeof g_tmpdir, "%s/bench_client.XXXXXX",
	         base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(g_tmpdir) == NULL) {
		die("mkdtemp");
	}
	bench_print_load("at start");
	start_relay();

	/* The circle: member 0 facilitates, everyone else joins from a Welcome. */
	for (unsigned i = 0; i < NUM_MEMBERS; i++) {
		prof_new(&m[i], i);
	}
	for (unsigned i = 1; i < NUM_MEMBERS; i++) {
		contact_add(&m[0], &m[i]);
		contact_add(&m[i], &m[0]);
		names[i - 1] = m[i].name;
	}
	if ((r = engine_circle_create(m[0].e, CIRCLE_NAME, circle_id)) != HALQA_OK) {
		die_engine(&m[0], "circle create", r);
	}
	if ((r = engine_circle_add(m[0].e, CIRCLE_NAME, names, NUM_MEMBERS - 1)) != HALQA_OK) {
		die_engine(&m[0], "circle add", r);
	}
	for (unsigned i = 1; i < NUM_MEMBERS; i++) {
		struct engine_sync_report rep;

		sync_or_die(&m[i], &rep);
		if (rep.joined != 1) {
			errno = 0;
			die("a member did not join from its Welcome");
		}
	}
	printf("bench_client: circle of %d on %s; a member's saved group state: %zu bytes\n",
	       NUM_MEMBERS, g_endpoint, state_len(&m[1], circle_id));

	for (unsigned long round = 0; round < rounds; round++) {
		struct engine_sync_report rep;
		struct wal_counts wal;
		double cpu, wall_s;
		uint64_t start, w0, c0, w1, c1;
		long log_at;

		/* Send: member 1, a warm connection, one chat message at a time. */
		sync_or_die(&m[1], NULL);
		cpu = cpu_now_s();
		proc_io(&w0, &c0);
		for (unsigned long i = 0; i < sends; i++) {
			make_text(text, sizeof text, (unsigned)i, 120);
			start = bench_now_ns();
			send_or_die(&m[1], text);
			samples[i] = bench_now_ns() - start;
		}
		cpu = cpu_now_s() - cpu;
		proc_io(&w1, &c1);
		printf(
		    "round %lu send: %lu sends, median %.2f ms, p99 %.2f ms; per send: process cpu"
		    " %.2f ms, %.0f write calls, %.0f KiB written\n",
		    round + 1, sends, bench_percentile_ms(samples, sends, 0.5),
		    bench_percentile_ms(samples, sends, 0.99), cpu * 1e3 / (double)sends,
		    (double)(c1 - c0) / (double)sends, (double)(w1 - w0) / 1024.0 / (double)sends);
		fflush(stdout);

		/*
		 * Catch-up: member 9's program exits, 0-8 send |catchup|
		 * messages, then it starts again and syncs: timed from the
		 * engine's creation, connection included.
		 */
		sync_or_die(&m[NUM_MEMBERS - 1], NULL);
		prof_stop(&m[NUM_MEMBERS - 1]);
		for (unsigned i = 0; i + 1 < NUM_MEMBERS; i++) {
			sync_level[i] = store_synchronous(&m[i], 0);
		}
		for (unsigned long i = 0; i < catchup; i++) {
			struct prof *sender = &m[i % (NUM_MEMBERS - 1)];

			make_text(text, sizeof text, (unsigned)i, 40 + i % 200);
			send_or_die(sender, text);
			/*
			 * engine_send no longer reads the circle first; a member
			 * syncs now and then, as every `halqa` command does, and
			 * its self-update comes due there (every 100 sends):
			 * the log holds those commits as a real one would.
			 */
			if ((i / (NUM_MEMBERS - 1)) % 100 == 99) {
				sync_or_die(sender, NULL);
			}
		}
		for (unsigned i = 0; i + 1 < NUM_MEMBERS; i++) {
			(void)store_synchronous(&m[i], sync_level[i]);
		}
		bench_print_load("before catch-up");
		memset(&wal, 0, sizeof wal);
		(void)sqlite3_wal_hook(store_db(m[NUM_MEMBERS - 1].store), wal_count, &wal);
		log_at = relay_log_size();
		cpu = cpu_now_s();
		proc_io(&w0, &c0);
		start = bench_now_ns();
		prof_start(&m[NUM_MEMBERS - 1]);
		sync_or_die(&m[NUM_MEMBERS - 1], &rep);
		wall_s = (double)(bench_now_ns() - start) / 1e9;
		cpu = cpu_now_s() - cpu;
		proc_io(&w1, &c1);
		(void)sqlite3_wal_autocheckpoint(store_db(m[NUM_MEMBERS - 1].store), 1000);
		if (rep.received < catchup) {
			fprintf(stderr,
			        "bench_client: catch-up received %zu of %lu (refused %zu)\n",
			        rep.received, catchup, rep.refused);
			stop_relay();
			return 1;
		}
		printf("round %lu catch-up: %zu messages (%zu commits) in %.2f s: %.0f msg/s"
		       " (process cpu %.2f s; per message %.1f write calls, %.1f KiB written)\n",
		       round + 1, rep.received, rep.commits, wall_s, (double)rep.received / wall_s,
		       cpu, (double)(c1 - c0) / (double)rep.received,
		       (double)(w1 - w0) / 1024.0 / (double)rep.received);
		printf("round %lu catch-up: %.0f msg per CPU-second; the reader's store: %lu WAL"
		       " commits, %lu checkpoints\n",
		       round + 1, (double)rep.received / cpu, wal.commits, wal.checkpoints);
		if (g_count_requests) {
			unsigned long all, fetch;

			usleep(200000); /* the relay's last log lines */
			relay_requests(log_at, &all, &fetch);
			printf("round %lu catch-up: %lu relay requests, %lu of them FETCH\n",
			       round + 1, all, fetch);
		}
		fflush(stdout);
		/* Everyone else catches up too, so the next round starts level. */
		for (unsigned i = 0; i + 1 < NUM_MEMBERS; i++) {
			sync_or_die(&m[i], NULL);
		}
	}
	if (g_halqa[0] != '\0') {
		static uint64_t cpu_samples[MAX_SAMPLES];
		double p50, p99, kdf, cpu50, help;

		cli_sends(cli_n, samples, cpu_samples);
		p50 = bench_percentile_ms(samples, cli_n, 0.5);
		p99 = bench_percentile_ms(samples, cli_n, 0.99);
		cpu50 = bench_percentile_ms(cpu_samples, cli_n, 0.5);
		kdf = kdf_test_ms(cli_n, samples);
		help = cli_help_ms(cli_n, samples);
		printf("halqa send (whole process, --kdf-profile test%s): %lu runs, median %.1f ms,"
		       " p99 %.1f ms, process cpu median %.1f ms; the test KDF alone %.2f ms:"
		       " median without it %.1f ms; halqa help, median %.1f ms\n",
		       g_cli_session ? ", a weekly session in the circle" : "", cli_n, p50, p99,
		       cpu50, kdf, p50 - kdf, help);
	}
	bench_print_load("at end");

	for (unsigned i = 0; i < NUM_MEMBERS; i++) {
		prof_free(&m[i]);
	}
	stop_relay();
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
		if (system(cmd) != 0) {
			fprintf(stderr, "bench_client: could not remove %s\n", g_tmpdir);
		}
	}
	return 0;
}
