/*
 * relay_config.c: defaults, the INI file, the data directory and the server
 * key of relay_config.h.
 *
 * The INI file is parsed with inih into a scratch copy; only a file that
 * parses completely is copied over the caller's settings, so a SIGHUP with
 * a broken file keeps the running configuration. Every value is range
 * checked: a limit of 0 or a negative rate would turn the relay into a
 * stalled or unbounded one, which is exactly what limits exist to prevent.
 *
 * The server secret key is 32 raw bytes in a file created with O_EXCL and
 * mode 0600; loading refuses a file that group or others may read, as ssh
 * does for its host keys, because a leaked server key lets anyone
 * impersonate the relay to every pinned client.
 */
#include "halqa/relay_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "halqa/log.h"
#include "halqa/wire.h"

void relay_config_defaults(struct relay_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	snprintf(cfg->listen, sizeof cfg->listen, "%s", RELAY_CONFIG_DEFAULT_LISTEN);
	snprintf(cfg->public_endpoint, sizeof cfg->public_endpoint, "%s",
		 RELAY_CONFIG_DEFAULT_LISTEN);
	cfg->mode = RELAY_MODE_INVITE;
	cfg->log_level = HALQA_LOG_INFO;
	/* A frame holds a full KeyPackage batch; a payload is the protocol's max. */
	cfg->limits.max_frame = 1024 * 1024;
	cfg->limits.max_payload = WIRE_MAX_PAYLOAD;
	cfg->limits.requests_per_sec = 200;
	cfg->limits.requests_burst = 400;
	cfg->limits.bytes_per_sec = 2.0 * 1024 * 1024;
	cfg->limits.bytes_burst = 4.0 * 1024 * 1024;
	cfg->limits.claims_per_min = 60;
	cfg->limits.claims_burst = 30;
	cfg->limits.max_circles = 200;
	cfg->limits.daily_bytes = 256ull * 1024 * 1024;
	cfg->limits.queue_messages = 2000;
	cfg->limits.queue_bytes = 8ull * 1024 * 1024;
	cfg->limits.malformed_ban = 32;
	cfg->limits.ban_seconds = 600;
	cfg->limits.max_listens = 256;
	cfg->limits.max_fetch = 256;
	cfg->limits.mailbox_max_items = 256;
	cfg->limits.kp_max_items = 256;
	cfg->retention.max_age_sec = 30ull * 24 * 3600;
	cfg->retention.sweep_interval_ms = 5000;
	cfg->retention.sweep_batch = 2000;
}

int relay_config_parse_duration(const char *text, uint64_t *out_sec)
{
	char *end = NULL;
	unsigned long long v;
	uint64_t mul = 1;

	if (text == NULL || text[0] < '0' || text[0] > '9') {
		return HALQA_ERR_ARG;
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0) {
		return HALQA_ERR_ARG;
	}
	if (*end != '\0') {
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		case 'w':
			mul = 7 * 86400;
			break;
		default:
			return HALQA_ERR_ARG;
		}
		if (end[1] != '\0') {
			return HALQA_ERR_ARG;
		}
	}
	if (v > UINT64_MAX / mul) {
		return HALQA_ERR_ARG;
	}
	*out_sec = (uint64_t)v * mul;
	return HALQA_OK;
}

int relay_config_parse_size(const char *text, uint64_t *out_bytes)
{
	char *end = NULL;
	unsigned long long v;
	uint64_t mul = 1;

	if (text == NULL || text[0] < '0' || text[0] > '9') {
		return HALQA_ERR_ARG;
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0) {
		return HALQA_ERR_ARG;
	}
	if (*end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mul = 1024;
			break;
		case 'm':
		case 'M':
			mul = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mul = 1024 * 1024 * 1024;
			break;
		default:
			return HALQA_ERR_ARG;
		}
		if (end[1] != '\0') {
			return HALQA_ERR_ARG;
		}
	}
	if (v > UINT64_MAX / mul) {
		return HALQA_ERR_ARG;
	}
	*out_bytes = (uint64_t)v * mul;
	return HALQA_OK;
}

/* parse_u32 accepts a size in [lo, hi]. */
static int parse_u32(const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (relay_config_parse_size(text, &v) != HALQA_OK || v < lo || v > hi) {
		return HALQA_ERR_ARG;
	}
	*out = (uint32_t)v;
	return HALQA_OK;
}

/* parse_rate accepts a finite decimal in (0, hi]. */
static int parse_rate(const char *text, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v <= 0 || v > hi) {
		return HALQA_ERR_ARG;
	}
	*out = v;
	return HALQA_OK;
}

static int parse_endpoint(const char *text, char out[RELAY_CONFIG_ENDPOINT_MAX])
{
	size_t n = strlen(text);

	if (n == 0 || n >= RELAY_CONFIG_ENDPOINT_MAX || strpbrk(text, " \t#") != NULL) {
		return HALQA_ERR_ARG;
	}
	memcpy(out, text, n + 1);
	return HALQA_OK;
}

struct load_state {
	struct relay_config cfg;
	int public_set;
	int failed;
};

static int set_relay(struct load_state *st, const char *name, const char *value)
{
	struct relay_config *cfg = &st->cfg;

	if (strcmp(name, "listen") == 0) {
		return parse_endpoint(value, cfg->listen);
	}
	if (strcmp(name, "public") == 0) {
		st->public_set = 1;
		return parse_endpoint(value, cfg->public_endpoint);
	}
	if (strcmp(name, "mode") == 0) {
		if (strcmp(value, "invite") == 0) {
			cfg->mode = RELAY_MODE_INVITE;
		} else if (strcmp(value, "open") == 0) {
			cfg->mode = RELAY_MODE_OPEN;
		} else {
			return HALQA_ERR_ARG;
		}
		return HALQA_OK;
	}
	if (strcmp(name, "log_level") == 0) {
		return halqa_log_parse_level(value, &cfg->log_level);
	}
	return HALQA_ERR_ARG;
}

static int set_limit(struct relay_limits *l, const char *name, const char *value)
{
	uint64_t v;

	if (strcmp(name, "max_frame") == 0) {
		return parse_u32(value, 4096, WIRE_MAX_FRAME, &l->max_frame);
	}
	if (strcmp(name, "max_payload") == 0) {
		return parse_u32(value, 256, WIRE_MAX_PAYLOAD, &l->max_payload);
	}
	if (strcmp(name, "requests_per_second") == 0) {
		return parse_rate(value, 1e7, &l->requests_per_sec);
	}
	if (strcmp(name, "requests_burst") == 0) {
		return parse_rate(value, 1e7, &l->requests_burst);
	}
	if (strcmp(name, "bytes_per_second") == 0 || strcmp(name, "bytes_burst") == 0) {
		if (relay_config_parse_size(value, &v) != HALQA_OK || v == 0 ||
		    v > (1ull << 40)) {
			return HALQA_ERR_ARG;
		}
		if (name[6] == 'p') {
			l->bytes_per_sec = (double)v;
		} else {
			l->bytes_burst = (double)v;
		}
		return HALQA_OK;
	}
	if (strcmp(name, "claims_per_minute") == 0) {
		return parse_rate(value, 1e6, &l->claims_per_min);
	}
	if (strcmp(name, "claims_burst") == 0) {
		return parse_rate(value, 1e6, &l->claims_burst);
	}
	if (strcmp(name, "max_circles_per_device") == 0) {
		return parse_u32(value, 1, 1u << 30, &l->max_circles);
	}
	if (strcmp(name, "daily_bytes_per_device") == 0) {
		if (relay_config_parse_size(value, &v) != HALQA_OK || v < 1024) {
			return HALQA_ERR_ARG;
		}
		l->daily_bytes = v;
		return HALQA_OK;
	}
	if (strcmp(name, "queue_messages") == 0) {
		return parse_u32(value, 16, 1u << 24, &l->queue_messages);
	}
	if (strcmp(name, "queue_bytes") == 0) {
		if (relay_config_parse_size(value, &v) != HALQA_OK || v < 65536 ||
		    v > (1ull << 34)) {
			return HALQA_ERR_ARG;
		}
		l->queue_bytes = v;
		return HALQA_OK;
	}
	if (strcmp(name, "malformed_before_ban") == 0) {
		return parse_u32(value, 1, 1u << 20, &l->malformed_ban);
	}
	if (strcmp(name, "ban") == 0) {
		if (relay_config_parse_duration(value, &v) != HALQA_OK || v == 0 ||
		    v > 30ull * 86400) {
			return HALQA_ERR_ARG;
		}
		l->ban_seconds = (uint32_t)v;
		return HALQA_OK;
	}
	if (strcmp(name, "max_listens_per_connection") == 0) {
		return parse_u32(value, 1, 1u << 16, &l->max_listens);
	}
	if (strcmp(name, "max_fetch") == 0) {
		return parse_u32(value, 1, WIRE_MAX_FETCH_COUNT, &l->max_fetch);
	}
	if (strcmp(name, "mailbox_max_items") == 0) {
		return parse_u32(value, 1, 1u << 16, &l->mailbox_max_items);
	}
	if (strcmp(name, "keypackages_max_items") == 0) {
		return parse_u32(value, 1, 1u << 16, &l->kp_max_items);
	}
	return HALQA_ERR_ARG;
}

static int set_retention(struct relay_retention *rt, const char *name, const char *value)
{
	uint64_t v;
	uint32_t u;

	if (strcmp(name, "max_age") == 0) {
		/* A cursor's liveness follows the same age (spool.h). */
		if (relay_config_parse_duration(value, &v) != HALQA_OK || v == 0 ||
		    v > 3650ull * 86400) {
			return HALQA_ERR_ARG;
		}
		rt->max_age_sec = v;
		return HALQA_OK;
	}
	if (strcmp(name, "sweep_interval") == 0) {
		if (relay_config_parse_duration(value, &v) != HALQA_OK || v == 0 || v > 86400) {
			return HALQA_ERR_ARG;
		}
		rt->sweep_interval_ms = (uint32_t)(v * 1000);
		return HALQA_OK;
	}
	if (strcmp(name, "sweep_batch") == 0) {
		if (parse_u32(value, 1, 1u << 20, &u) != HALQA_OK) {
			return HALQA_ERR_ARG;
		}
		rt->sweep_batch = u;
		return HALQA_OK;
	}
	return HALQA_ERR_ARG;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	int r;

	if (strcmp(section, "relay") == 0) {
		r = set_relay(st, name, value);
	} else if (strcmp(section, "limits") == 0) {
		r = set_limit(&st->cfg.limits, name, value);
	} else if (strcmp(section, "retention") == 0) {
		r = set_retention(&st->cfg.retention, name, value);
	} else {
		r = HALQA_ERR_ARG;
	}
	if (r != HALQA_OK) {
		/* The value is the operator's own text, but stays out of the log
		 * anyway: a misplaced secret in a config file should not spread. */
		halqa_log(HALQA_LOG_ERROR, "config", "bad setting [%s] %s", section, name);
		st->failed = 1;
		return 0;
	}
	return 1;
}

int relay_config_load(struct relay_config *cfg, const char *path)
{
	struct load_state *st;
	FILE *f;
	int r;

	f = fopen(path, "r");
	if (f == NULL) {
		return errno == ENOENT ? HALQA_ERR_NOT_FOUND : HALQA_ERR_IO;
	}
	st = calloc(1, sizeof *st);
	if (st == NULL) {
		fclose(f);
		return HALQA_ERR_NOMEM;
	}
	st->cfg = *cfg;
	r = ini_parse_file(f, ini_cb, st);
	fclose(f);
	if (r != 0 || st->failed) {
		if (r > 0 && !st->failed) {
			halqa_log(HALQA_LOG_ERROR, "config", "syntax error at line %d", r);
		}
		r = HALQA_ERR_INVALID;
		goto out;
	}
	if (st->cfg.limits.max_payload + 1024 > st->cfg.limits.max_frame) {
		halqa_log(HALQA_LOG_ERROR, "config", "max_payload must be 1 KiB below max_frame");
		r = HALQA_ERR_INVALID;
		goto out;
	}
	/* A frame the byte bucket can never hold would be refused for ever. */
	if (st->cfg.limits.bytes_burst < (double)st->cfg.limits.max_frame ||
	    st->cfg.limits.queue_bytes < (uint64_t)st->cfg.limits.max_frame) {
		halqa_log(HALQA_LOG_ERROR, "config",
			  "bytes_burst and queue_bytes must be at least max_frame");
		r = HALQA_ERR_INVALID;
		goto out;
	}
	if (!st->public_set && strcmp(st->cfg.listen, cfg->listen) != 0) {
		memcpy(st->cfg.public_endpoint, st->cfg.listen, sizeof st->cfg.public_endpoint);
	}
	*cfg = st->cfg;
	r = HALQA_OK;
out:
	free(st);
	return r;
}

static const char *mode_name(enum relay_mode m)
{
	return m == RELAY_MODE_OPEN ? "open" : "invite";
}

static const char *level_name(enum halqa_log_level l)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	return (unsigned)l < 4 ? names[l] : "info";
}

int relay_config_write_default(const struct relay_config *cfg, const char *path)
{
	const struct relay_limits *l = &cfg->limits;
	const struct relay_retention *rt = &cfg->retention;
	FILE *f;
	int fd, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return errno == EEXIST ? HALQA_ERR_EXISTS : HALQA_ERR_IO;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return HALQA_ERR_IO;
	}
	fprintf(f,
		"; halqad.conf: settings of the Halqa relay (see docs/OPERATOR.md).\n"
		"; Command-line flags override these; SIGHUP reloads [limits],\n"
		"; [retention] and log_level; listen and mode apply at the next start.\n"
		"\n[relay]\n"
		"; ZeroMQ endpoint to bind; tcp://0.0.0.0:7400 for every interface.\n"
		"listen = %s\n"
		"; endpoint clients dial, as written in the address line\n"
		"public = %s\n"
		"; invite: registration needs a code from `halqad invite`; open: anyone\n"
		"mode = %s\n"
		"; error, warn, info or debug\n"
		"log_level = %s\n",
		cfg->listen, cfg->public_endpoint, mode_name(cfg->mode), level_name(cfg->log_level));
	fprintf(f,
		"\n[limits]\n"
		"max_frame = %u\n"
		"max_payload = %u\n"
		"requests_per_second = %g\n"
		"requests_burst = %g\n"
		"bytes_per_second = %llu\n"
		"bytes_burst = %llu\n"
		"claims_per_minute = %g\n"
		"claims_burst = %g\n"
		"max_circles_per_device = %u\n"
		"daily_bytes_per_device = %llu\n"
		"queue_messages = %u\n"
		"queue_bytes = %llu\n"
		"malformed_before_ban = %u\n"
		"ban = %us\n"
		"max_listens_per_connection = %u\n"
		"max_fetch = %u\n"
		"mailbox_max_items = %u\n"
		"keypackages_max_items = %u\n",
		l->max_frame, l->max_payload, l->requests_per_sec, l->requests_burst,
		(unsigned long long)l->bytes_per_sec, (unsigned long long)l->bytes_burst,
		l->claims_per_min, l->claims_burst, l->max_circles,
		(unsigned long long)l->daily_bytes, l->queue_messages,
		(unsigned long long)l->queue_bytes, l->malformed_ban, l->ban_seconds,
		l->max_listens, l->max_fetch, l->mailbox_max_items, l->kp_max_items);
	fprintf(f,
		"\n[retention]\n"
		"; a message older than this is deleted even if not everyone read it;\n"
		"; a cursor not acknowledged for this long no longer holds messages back\n"
		"max_age = %llus\n"
		"sweep_interval = %us\n"
		"sweep_batch = %u\n",
		(unsigned long long)rt->max_age_sec, rt->sweep_interval_ms / 1000, rt->sweep_batch);
	ok = !ferror(f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		ok = 0;
	}
	if (fclose(f) != 0) {
		ok = 0;
	}
	return ok ? HALQA_OK : HALQA_ERR_IO;
}

int relay_config_path(char *out, size_t out_len, const char *dir, const char *name)
{
	int n = snprintf(out, out_len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int relay_config_default_dir(char *out, size_t out_len)
{
	const char *env = getenv("HALQAD_DATA");
	int n;

	if (env != NULL && env[0] != '\0') {
		n = snprintf(out, out_len, "%s", env);
	} else if (geteuid() == 0) {
		n = snprintf(out, out_len, "/var/lib/halqad");
	} else if ((env = getenv("XDG_DATA_HOME")) != NULL && env[0] == '/') {
		n = snprintf(out, out_len, "%s/halqad", env);
	} else if ((env = getenv("HOME")) != NULL && env[0] == '/') {
		n = snprintf(out, out_len, "%s/.local/share/halqad", env);
	} else {
		return HALQA_ERR_NOT_FOUND;
	}
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int relay_keys_create(const char *path, uint8_t pub[32])
{
	uint8_t sec[crypto_box_SECRETKEYBYTES];
	size_t off = 0;
	int fd, r = HALQA_ERR_IO;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return errno == EEXIST ? HALQA_ERR_EXISTS : HALQA_ERR_IO;
	}
	crypto_box_keypair(pub, sec);
	while (off < sizeof sec) {
		ssize_t w = write(fd, sec + off, sizeof sec - off);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		goto out;
	}
	r = HALQA_OK;
out:
	sodium_memzero(sec, sizeof sec);
	if (close(fd) != 0) {
		r = HALQA_ERR_IO;
	}
	if (r != HALQA_OK) {
		/* A half-written key must not be mistaken for a good one later. */
		unlink(path);
		sodium_memzero(pub, 32);
	}
	return r;
}

int relay_keys_load(const char *path, uint8_t sec[32], uint8_t pub[32])
{
	uint8_t extra;
	struct stat st;
	size_t off = 0;
	int fd, r = HALQA_ERR_IO;

	sodium_memzero(sec, 32);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return errno == ENOENT ? HALQA_ERR_NOT_FOUND : HALQA_ERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		r = HALQA_ERR_DENIED;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != 32) {
		r = HALQA_ERR_INVALID;
		goto out;
	}
	while (off < 32) {
		ssize_t n = read(fd, sec + off, 32 - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			r = n == 0 ? HALQA_ERR_INVALID : HALQA_ERR_IO;
			goto out;
		}
		off += (size_t)n;
	}
	if (read(fd, &extra, 1) != 0) {
		r = HALQA_ERR_INVALID;
		goto out;
	}
	if (crypto_scalarmult_base(pub, sec) != 0) {
		r = HALQA_ERR_INVALID;
		goto out;
	}
	r = HALQA_OK;
out:
	if (r != HALQA_OK) {
		sodium_memzero(sec, 32);
	}
	close(fd);
	return r;
}

int relay_keys_address_line(char *out, size_t out_len, const char *endpoint, const uint8_t pub[32])
{
	char hex[2 * 32 + 1];
	int n;

	if (endpoint[0] == '\0' || strpbrk(endpoint, " \t\r\n#") != NULL) {
		return HALQA_ERR_ARG;
	}
	/* Lowercase hex, the one spelling relayaddr_parse accepts (shell-safe, unlike Z85). */
	sodium_bin2hex(hex, sizeof hex, pub, 32);
	n = snprintf(out, out_len, "halqa-relay:%s#%s", endpoint, hex);
	if (n < 0 || (size_t)n >= out_len) {
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

int relay_keys_parse_device(const char *text, uint8_t key[32])
{
	size_t len = strnlen(text, 65), bin_len = 0;

	sodium_memzero(key, 32);
	if (len == 64) {
		/* sodium_hex2bin stops at the first non-hex digit: all 64 must be used. */
		if (sodium_hex2bin(key, 32, text, len, NULL, &bin_len, NULL) == 0 &&
		    bin_len == 32) {
			return HALQA_OK;
		}
	} else if (len == 40 && zmq_z85_decode(key, text) != NULL) {
		return HALQA_OK;
	}
	sodium_memzero(key, 32);
	return HALQA_ERR_MALFORMED;
}
