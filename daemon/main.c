/*
 * main.c: the halqad command line.
 *
 *   halqad init    [--data DIR] [--listen EP] [--public EP] [--open]
 *   halqad run     [--data DIR] [--listen EP] [--open] [--log-level L] [--test-clock]
 *                  [--test-no-safety-net]
 *   halqad status  [--data DIR]
 *   halqad invite  [--data DIR] [--uses N] [--expires DURATION]
 *   halqad address [--data DIR]
 *   halqad ban KEY [--data DIR]    and    halqad unban KEY [--data DIR]
 *   halqad admin LINE... [--data DIR]   (one raw admin-socket command)
 *
 * Settings: defaults, then DIR/halqad.conf, then flags. `run` stays in the
 * foreground and logs to stderr (systemd collects it). `invite` writes
 * straight to the spool, which works whether the daemon runs or not: the
 * spool is SQLite in WAL mode and the daemon's transactions last one loop
 * turn, so the invite's short transaction waits at most a moment. `status`
 * asks the running daemon through its admin socket. Exit codes: 0 success,
 * 1 failure, 2 usage error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "halqa/admin.h"
#include "halqa/log.h"
#include "halqa/relay.h"
#include "halqa/relay_config.h"
#include "halqa/spool.h"

#define EXIT_USAGE 2

/* 15 random bytes = 120 bits, as 24 base32 letters in six groups of four. */
#define INVITE_RANDOM_BYTES 15
#define INVITE_CHARS 24

struct args {
	const char *data;
	const char *listen;
	const char *public_ep;
	const char *log_level;
	const char *expires;
	const char *key;
	unsigned long uses;
	int open;
	int test_clock;
	int test_no_safety_net;
	int test_faults;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: halqad COMMAND [options]\n"
		"  init    [--data DIR] [--listen EP] [--public EP] [--open]\n"
		"          create the data directory, server key and config; print the address line\n"
		"  run     [--data DIR] [--listen EP] [--open] [--log-level L] [--test-clock]\n"
		"          [--test-no-safety-net] [--test-faults]\n"
		"          run the relay in the foreground (logs on stderr)\n"
		"  status  [--data DIR]            live figures of the running relay\n"
		"  invite  [--data DIR] [--uses N] [--expires DURATION]\n"
		"          print a new invite code (default: 1 use, expires in 7d)\n"
		"  address [--data DIR]            print the relay address line again\n"
		"  ban KEY [--data DIR]            refuse the device KEY (64 hex digits; Z85 also taken)\n"
		"  unban KEY [--data DIR]          lift that ban\n"
		"  admin LINE... [--data DIR]      send one admin-socket line (status, sweep;\n"
		"                                  clock advance DURATION with run --test-clock;\n"
		"                                  fail commits N, delay commit MS with\n"
		"                                  run --test-faults)\n"
		"DIR defaults to $HALQAD_DATA, else /var/lib/halqad for root, else\n"
		"$XDG_DATA_HOME/halqad or ~/.local/share/halqad.\n");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int first = 2;

	memset(a, 0, sizeof *a);
	a->uses = 1;
	if (strcmp(argv[1], "admin") == 0) {
		/* Everything up to the first option is the command line. */
		static char line[ADMIN_LINE_MAX];
		size_t n = 0;
		while (first < argc && strncmp(argv[first], "--", 2) != 0) {
			int w = snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "", argv[first]);
			if (w < 0 || (size_t)w >= sizeof line - n) {
				fprintf(stderr, "halqad: admin command too long\n");
				return HALQA_ERR_ARG;
			}
			n += (size_t)w;
			first++;
		}
		a->key = line;
	}
	if (strcmp(argv[1], "ban") == 0 || strcmp(argv[1], "unban") == 0) {
		if (argc < 3) {
			fprintf(stderr, "halqad: %s needs a device key\n", argv[1]);
			return HALQA_ERR_ARG;
		}
		a->key = argv[2];
		first = 3;
	}
	for (int i = first; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "--open") == 0) {
			a->open = 1;
			continue;
		}
		if (strcmp(o, "--test-clock") == 0) {
			a->test_clock = 1;
			continue;
		}
		if (strcmp(o, "--test-no-safety-net") == 0) {
			a->test_no_safety_net = 1;
			continue;
		}
		if (strcmp(o, "--test-faults") == 0) {
			a->test_faults = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "halqad: %s needs a value\n", o);
			return HALQA_ERR_ARG;
		}
		if (strcmp(o, "--data") == 0) {
			a->data = v;
		} else if (strcmp(o, "--listen") == 0) {
			a->listen = v;
		} else if (strcmp(o, "--public") == 0) {
			a->public_ep = v;
		} else if (strcmp(o, "--log-level") == 0) {
			a->log_level = v;
		} else if (strcmp(o, "--expires") == 0) {
			a->expires = v;
		} else if (strcmp(o, "--uses") == 0) {
			char *end = NULL;
			errno = 0;
			a->uses = strtoul(v, &end, 10);
			if (errno != 0 || *end != '\0' || a->uses == 0 || a->uses > 100000) {
				fprintf(stderr, "halqad: --uses takes 1..100000\n");
				return HALQA_ERR_ARG;
			}
		} else {
			fprintf(stderr, "halqad: unknown option %s\n", o);
			return HALQA_ERR_ARG;
		}
		i++;
	}
	return HALQA_OK;
}

static int data_dir(const struct args *a, char *out, size_t out_len)
{
	int rc;

	if (a->data != NULL) {
		if (strlen(a->data) >= out_len || a->data[0] == '\0') {
			return HALQA_ERR_TOO_LARGE;
		}
		memcpy(out, a->data, strlen(a->data) + 1);
		return HALQA_OK;
	}
	rc = relay_config_default_dir(out, out_len);
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: no default data directory; give --data DIR\n");
	}
	return rc;
}

/* load_config: defaults, then the file if present. */
static int load_config(const char *dir, struct relay_config *cfg, char *path, size_t path_len)
{
	int rc;

	relay_config_defaults(cfg);
	if ((rc = relay_config_path(path, path_len, dir, "halqad.conf")) != HALQA_OK) {
		return rc;
	}
	rc = relay_config_load(cfg, path);
	if (rc == HALQA_ERR_NOT_FOUND) {
		return HALQA_OK;
	}
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: %s is not valid (see the log line above)\n", path);
	}
	return rc;
}

static int check_endpoint(const char *ep)
{
	if (strlen(ep) >= RELAY_CONFIG_ENDPOINT_MAX || strpbrk(ep, " \t#") != NULL ||
	    ep[0] == '\0') {
		fprintf(stderr, "halqad: bad endpoint\n");
		return HALQA_ERR_ARG;
	}
	return HALQA_OK;
}

static int print_address(const char *dir, const struct relay_config *cfg)
{
	char path[RELAY_CONFIG_PATH_MAX];
	char line[512];
	uint8_t sec[32], pub[32];
	int rc;

	if ((rc = relay_config_path(path, sizeof path, dir, "server.key")) != HALQA_OK) {
		return rc;
	}
	rc = relay_keys_load(path, sec, pub);
	sodium_memzero(sec, sizeof sec);
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: cannot read %s: %s\n", path, halqa_strerror(rc));
		return rc;
	}
	rc = relay_keys_address_line(line, sizeof line, cfg->public_endpoint, pub);
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: bad public endpoint in the config\n");
		return rc;
	}
	printf("%s\n", line);
	return HALQA_OK;
}

static int cmd_init(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], path[RELAY_CONFIG_PATH_MAX];
	struct relay_config cfg;
	struct spool *sp = NULL;
	uint8_t pub[32];
	struct stat st;
	int rc;

	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK) {
		return rc;
	}
	if (mkdir(dir, 0700) != 0) {
		if (errno != EEXIST) {
			fprintf(stderr, "halqad: cannot create %s: %s\n", dir, strerror(errno));
			return HALQA_ERR_IO;
		}
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "halqad: %s is not a directory\n", dir);
			return HALQA_ERR_IO;
		}
	}
	/* An existing directory is tightened: it will hold the server key. */
	if (chmod(dir, 0700) != 0) {
		fprintf(stderr, "halqad: cannot set %s to mode 0700: %s\n", dir, strerror(errno));
		return HALQA_ERR_IO;
	}
	if ((rc = relay_config_path(path, sizeof path, dir, "server.key")) != HALQA_OK) {
		return rc;
	}
	rc = relay_keys_create(path, pub);
	if (rc == HALQA_ERR_EXISTS) {
		fprintf(stderr, "halqad: %s already holds a relay key; refusing to replace it "
				"(clients pin it). `halqad address` prints its address line.\n",
			dir);
		return rc;
	}
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: cannot write %s: %s\n", path, halqa_strerror(rc));
		return rc;
	}
	relay_config_defaults(&cfg);
	if (a->listen != NULL) {
		if ((rc = check_endpoint(a->listen)) != HALQA_OK) {
			return rc;
		}
		snprintf(cfg.listen, sizeof cfg.listen, "%s", a->listen);
		snprintf(cfg.public_endpoint, sizeof cfg.public_endpoint, "%s", a->listen);
	}
	if (a->public_ep != NULL) {
		if ((rc = check_endpoint(a->public_ep)) != HALQA_OK) {
			return rc;
		}
		snprintf(cfg.public_endpoint, sizeof cfg.public_endpoint, "%s", a->public_ep);
	}
	if (a->open) {
		cfg.mode = RELAY_MODE_OPEN;
	}
	if ((rc = relay_config_path(path, sizeof path, dir, "halqad.conf")) != HALQA_OK) {
		return rc;
	}
	rc = relay_config_write_default(&cfg, path);
	if (rc == HALQA_ERR_EXISTS) {
		/* Keep the operator's file; its endpoint is the one that counts. */
		rc = load_config(dir, &cfg, path, sizeof path);
	}
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: cannot write %s: %s\n", path, halqa_strerror(rc));
		return rc;
	}
	/* Create the spool now, so `halqad invite` works before the first run. */
	if ((rc = relay_config_path(path, sizeof path, dir, "relay.db")) != HALQA_OK ||
	    (rc = spool_open(&sp, path, NULL)) != HALQA_OK) {
		fprintf(stderr, "halqad: cannot create the spool: %s\n", halqa_strerror(rc));
		return rc;
	}
	spool_close(sp);
	fprintf(stderr, "halqad: relay created in %s; give clients this address line:\n", dir);
	return print_address(dir, &cfg);
}

static int cmd_run(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], conf[RELAY_CONFIG_PATH_MAX];
	struct relay_options opt;
	struct relay *r = NULL;
	int rc;

	memset(&opt, 0, sizeof opt);
	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK ||
	    (rc = load_config(dir, &opt.config, conf, sizeof conf)) != HALQA_OK) {
		return rc;
	}
	if (a->listen != NULL) {
		if ((rc = check_endpoint(a->listen)) != HALQA_OK) {
			return rc;
		}
		snprintf(opt.config.listen, sizeof opt.config.listen, "%s", a->listen);
	}
	if (a->open) {
		opt.config.mode = RELAY_MODE_OPEN;
		opt.mode_forced = 1;
	}
	if (a->log_level != NULL) {
		if (halqa_log_parse_level(a->log_level, &opt.config.log_level) != HALQA_OK) {
			fprintf(stderr, "halqad: --log-level takes error, warn, info or debug\n");
			return HALQA_ERR_ARG;
		}
		opt.log_level_forced = 1;
	}
	halqa_log_set_level(opt.config.log_level);
	{
		char key[RELAY_CONFIG_PATH_MAX];
		struct stat st;
		if ((rc = relay_config_path(key, sizeof key, dir, "server.key")) != HALQA_OK) {
			return rc;
		}
		if (stat(key, &st) != 0) {
			fprintf(stderr, "halqad: no relay in %s; run `halqad init --data %s` first\n",
				dir, dir);
			return HALQA_ERR_NOT_FOUND;
		}
	}
	opt.data_dir = dir;
	opt.config_path = conf;
	opt.test_clock = a->test_clock;
	opt.test_no_safety_net = a->test_no_safety_net;
	opt.test_faults = a->test_faults;
	if (a->test_faults) {
		halqa_log(HALQA_LOG_WARN, "relay", "--test-faults: the admin socket can make commits "
			  "fail; for tests only");
	}
	if (a->test_no_safety_net) {
		halqa_log(HALQA_LOG_WARN, "relay", "--test-no-safety-net: a stranded socket stays "
			  "stranded; for tests only");
	}
	if (a->test_clock) {
		halqa_log(HALQA_LOG_WARN, "relay", "--test-clock: the admin socket can move time; "
			  "for tests only");
	}
	/* A peer closing mid-write must not kill the relay. */
	signal(SIGPIPE, SIG_IGN);
	rc = relay_new(&r, &opt);
	if (rc != HALQA_OK) {
		if (rc == HALQA_ERR_NOT_FOUND) {
			fprintf(stderr, "halqad: no relay in %s; run `halqad init` first\n", dir);
		}
		return rc;
	}
	rc = relay_run(r);
	relay_free(r);
	return rc;
}

static int cmd_status(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], path[RELAY_CONFIG_PATH_MAX];
	char out[ADMIN_REPLY_MAX];
	int rc;

	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK ||
	    (rc = relay_config_path(path, sizeof path, dir, ADMIN_SOCKET_NAME)) != HALQA_OK) {
		return rc;
	}
	rc = admin_query(path, "status", out, sizeof out, 5000);
	if (rc == HALQA_ERR_NOT_FOUND) {
		fprintf(stderr, "halqad: no relay is running on %s\n", dir);
		return rc;
	}
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: status: %s\n", halqa_strerror(rc));
		return rc;
	}
	if (strncmp(out, "error", 5) == 0) {
		fprintf(stderr, "halqad: %s", out);
		return HALQA_ERR_IO;
	}
	fputs(out, stdout);
	return HALQA_OK;
}

/* invite_code writes a random code as "abcd-efgh-..." and its normalised form. */
static void invite_code(char display[INVITE_CHARS + INVITE_CHARS / 4],
			char norm[INVITE_CHARS + 1])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t raw[INVITE_RANDOM_BYTES];
	size_t d = 0;

	randombytes_buf(raw, sizeof raw);
	for (size_t i = 0; i < INVITE_CHARS; i++) {
		size_t bit = i * 5;
		unsigned v = ((unsigned)raw[bit / 8] << 8 |
			      (bit / 8 + 1 < sizeof raw ? raw[bit / 8 + 1] : 0)) >>
			     (11 - bit % 8);
		norm[i] = alphabet[v & 31];
		if (i > 0 && i % 4 == 0) {
			display[d++] = '-';
		}
		display[d++] = norm[i];
	}
	norm[INVITE_CHARS] = '\0';
	display[d] = '\0';
	sodium_memzero(raw, sizeof raw);
}

static int cmd_invite(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], path[RELAY_CONFIG_PATH_MAX];
	char display[INVITE_CHARS + INVITE_CHARS / 4], norm[INVITE_CHARS + 1];
	uint64_t expires = 7 * 86400, now = (uint64_t)time(NULL);
	struct spool *sp = NULL;
	struct stat st;
	int rc;

	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK) {
		return rc;
	}
	if (a->expires != NULL &&
	    (relay_config_parse_duration(a->expires, &expires) != HALQA_OK || expires == 0 ||
	     expires > 3650ull * 86400)) {
		fprintf(stderr, "halqad: --expires takes a duration like 90m, 12h, 7d, 2w\n");
		return HALQA_ERR_ARG;
	}
	if ((rc = relay_config_path(path, sizeof path, dir, "relay.db")) != HALQA_OK) {
		return rc;
	}
	if (stat(path, &st) != 0) {
		fprintf(stderr, "halqad: no relay in %s; run `halqad init` first\n", dir);
		return HALQA_ERR_NOT_FOUND;
	}
	if ((rc = spool_open(&sp, path, NULL)) != HALQA_OK) {
		fprintf(stderr, "halqad: cannot open the spool: %s\n", halqa_strerror(rc));
		return rc;
	}
	invite_code(display, norm);
	rc = spool_invite_create(sp, NULL, (const uint8_t *)norm, strlen(norm), (uint32_t)a->uses,
				 now + expires, now);
	if (rc == HALQA_OK) {
		rc = spool_commit_turn(sp);
	}
	spool_close(sp);
	sodium_memzero(norm, sizeof norm);
	if (rc != HALQA_OK) {
		sodium_memzero(display, sizeof display);
		fprintf(stderr, "halqad: cannot store the invite: %s\n", halqa_strerror(rc));
		return rc;
	}
	printf("%s\n", display);
	sodium_memzero(display, sizeof display);
	fprintf(stderr, "halqad: invite for %lu registration%s, valid for %llus\n", a->uses,
		a->uses == 1 ? "" : "s", (unsigned long long)expires);
	return HALQA_OK;
}

/* cmd_admin sends one raw admin line (see admin.h) and prints the answer. */
static int cmd_admin(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], path[RELAY_CONFIG_PATH_MAX];
	char out[ADMIN_REPLY_MAX];
	int rc;

	if (a->key == NULL || a->key[0] == '\0') {
		fprintf(stderr, "halqad: admin needs a command\n");
		return HALQA_ERR_ARG;
	}
	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK ||
	    (rc = relay_config_path(path, sizeof path, dir, ADMIN_SOCKET_NAME)) != HALQA_OK) {
		return rc;
	}
	rc = admin_query(path, a->key, out, sizeof out, 30000);
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: %s\n", rc == HALQA_ERR_NOT_FOUND ? "no relay is running"
									 : halqa_strerror(rc));
		return rc;
	}
	fputs(out, stdout);
	return strncmp(out, "error", 5) == 0 ? HALQA_ERR_INVALID : HALQA_OK;
}

/*
 * cmd_ban goes through the running relay when there is one (so it also
 * drops the device's open connections) and straight to the spool when not.
 */
static int cmd_ban(const struct args *a, int ban)
{
	char dir[RELAY_CONFIG_PATH_MAX], path[RELAY_CONFIG_PATH_MAX];
	char line[ADMIN_LINE_MAX], out[ADMIN_REPLY_MAX];
	char hex[2 * 32 + 1];
	struct spool *sp = NULL;
	uint8_t key[32];
	int rc;

	if (relay_keys_parse_device(a->key, key) != HALQA_OK) {
		fprintf(stderr, "halqad: a device key is 64 hex digits (or 40 characters of Z85)\n");
		return HALQA_ERR_ARG;
	}
	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK ||
	    (rc = relay_config_path(path, sizeof path, dir, ADMIN_SOCKET_NAME)) != HALQA_OK) {
		return rc;
	}
	/* The admin line carries the canonical form, whichever the operator typed. */
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	snprintf(line, sizeof line, "%s %s", ban ? "ban" : "unban", hex);
	rc = admin_query(path, line, out, sizeof out, 5000);
	if (rc == HALQA_OK) {
		if (strncmp(out, "ok", 2) != 0) {
			fprintf(stderr, "halqad: %s", out);
			return HALQA_ERR_IO;
		}
		return HALQA_OK;
	}
	if (rc != HALQA_ERR_NOT_FOUND) {
		fprintf(stderr, "halqad: the relay did not answer: %s\n", halqa_strerror(rc));
		return rc;
	}
	if ((rc = relay_config_path(path, sizeof path, dir, "relay.db")) != HALQA_OK ||
	    (rc = spool_open(&sp, path, NULL)) != HALQA_OK) {
		fprintf(stderr, "halqad: cannot open the spool: %s\n", halqa_strerror(rc));
		return rc;
	}
	rc = spool_device_ban(sp, key, ban, (uint64_t)time(NULL));
	if (rc == HALQA_OK) {
		rc = spool_commit_turn(sp);
	}
	spool_close(sp);
	if (rc != HALQA_OK) {
		fprintf(stderr, "halqad: %s failed: %s\n", ban ? "ban" : "unban", halqa_strerror(rc));
	}
	return rc;
}

static int cmd_address(const struct args *a)
{
	char dir[RELAY_CONFIG_PATH_MAX], conf[RELAY_CONFIG_PATH_MAX];
	struct relay_config cfg;
	int rc;

	if ((rc = data_dir(a, dir, sizeof dir)) != HALQA_OK ||
	    (rc = load_config(dir, &cfg, conf, sizeof conf)) != HALQA_OK) {
		return rc;
	}
	return print_address(dir, &cfg);
}

int main(int argc, char **argv)
{
	struct args a;
	const char *cmd;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "run") == 0) {
		/*
		 * Until relay_run has its handlers in place, a stop signal would
		 * kill us with the default action, possibly while the spool is
		 * being opened or recovered. Blocked, it stays pending and
		 * relay_run takes it as soon as it can stop cleanly. Threads
		 * started from here on (libzmq's, libuv's) inherit the mask, so
		 * the signal cannot be handed to one of them instead.
		 */
		sigset_t stop;

		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGHUP);
		if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) {
			fprintf(stderr, "halqad: cannot block the stop signals\n");
			return 1;
		}
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "halqad: libsodium failed to initialise\n");
		return 1;
	}
	if (parse_args(argc, argv, &a) != HALQA_OK) {
		usage(stderr);
		return EXIT_USAGE;
	}
	umask(077);
	if (strcmp(cmd, "init") == 0) {
		rc = cmd_init(&a);
	} else if (strcmp(cmd, "run") == 0) {
		rc = cmd_run(&a);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(&a);
	} else if (strcmp(cmd, "invite") == 0) {
		rc = cmd_invite(&a);
	} else if (strcmp(cmd, "admin") == 0) {
		rc = cmd_admin(&a);
	} else if (strcmp(cmd, "ban") == 0 || strcmp(cmd, "unban") == 0) {
		rc = cmd_ban(&a, cmd[0] == 'b');
	} else if (strcmp(cmd, "address") == 0) {
		rc = cmd_address(&a);
	} else {
		fprintf(stderr, "halqad: unknown command %s\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	return rc == HALQA_OK ? 0 : 1;
}
