/*
 * relay_config.h: the relay's settings, its data directory and its keys.
 *
 * Settings come from three places, later ones winning: built-in defaults
 * (relay_config_defaults), the INI file DIR/halqad.conf (read with inih),
 * and command-line flags (applied by main.c). SIGHUP re-reads the file and
 * applies what can change at run time (limits, log level, retention); the
 * listen endpoint and the mode take effect at the next start.
 *
 * The data directory (mode 0700) holds:
 *   halqad.conf   the INI settings (relay_config_write_default writes one)
 *   server.key    the CURVE server secret key, 32 raw bytes, mode 0600
 *   relay.db      the spool (SQLite/SQLCipher, WAL) and its -wal/-shm files
 *   admin.sock    the admin socket while the daemon runs (mode 0600)
 * Its default is relay_config_default_dir: $HALQAD_DATA if set, else
 * /var/lib/halqad for root, else $XDG_DATA_HOME/halqad, else
 * $HOME/.local/share/halqad.
 */
#ifndef HALQA_RELAY_CONFIG_H
#define HALQA_RELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"
#include "halqa/log.h"

#define RELAY_CONFIG_ENDPOINT_MAX 256
#define RELAY_CONFIG_PATH_MAX 4096

/* The default endpoint: loopback, so a fresh `init && run` exposes nothing. */
#define RELAY_CONFIG_DEFAULT_LISTEN "tcp://127.0.0.1:7400"

enum relay_mode {
	RELAY_MODE_INVITE = 0, /* REGISTER needs a valid invite code */
	RELAY_MODE_OPEN = 1,   /* REGISTER needs no invite (testing, closed networks) */
};

struct relay_limits {
	uint32_t max_frame;          /* largest request accepted, bytes */
	uint32_t max_payload;        /* largest message / package payload, bytes */
	double requests_per_sec;     /* token bucket refill per device */
	double requests_burst;       /* token bucket depth per device */
	double bytes_per_sec;        /* byte bucket refill per device */
	double bytes_burst;          /* byte bucket depth per device */
	double claims_per_min;       /* KeyPackage claims per claiming device */
	double claims_burst;         /* claim bucket depth */
	uint32_t max_circles;        /* circles one device may create */
	uint64_t daily_bytes;        /* bytes one device may store per day */
	uint32_t queue_messages;     /* outgoing messages queued per connection */
	uint64_t queue_bytes;        /* outgoing bytes queued per connection */
	uint32_t malformed_ban;      /* malformed requests before a temporary ban */
	uint32_t ban_seconds;        /* length of that ban */
	uint32_t max_listens;        /* circles one connection may listen to */
	uint32_t max_fetch;          /* messages one FETCH may return */
	uint32_t mailbox_max_items;  /* messages one mailbox holds */
	uint32_t kp_max_items;       /* one-time KeyPackages one directory holds */
};

struct relay_retention {
	uint64_t max_age_sec;        /* messages older than this are deleted */
	uint32_t sweep_interval_ms;  /* how often the retention sweep runs */
	uint32_t sweep_batch;        /* rows deleted at most per sweep tick */
};

struct relay_config {
	char listen[RELAY_CONFIG_ENDPOINT_MAX];  /* ZeroMQ endpoint to bind */
	char public_endpoint[RELAY_CONFIG_ENDPOINT_MAX]; /* endpoint put in the address line */
	enum relay_mode mode;
	enum halqa_log_level log_level;
	struct relay_limits limits;
	struct relay_retention retention;
};

/* relay_config_defaults fills |cfg| with the built-in defaults. Cannot fail. */
void relay_config_defaults(struct relay_config *cfg);

/*
 * relay_config_load reads the INI file |path| over |cfg| (which should hold
 * defaults). Unknown sections or keys and bad values are errors: a typo in
 * a limit must not silently leave the default in place. A missing file is
 * HALQA_ERR_NOT_FOUND (cfg unchanged); other failures are HALQA_ERR_INVALID
 * with the line logged, and leave |cfg| unchanged.
 */
HALQA_MUST_CHECK int relay_config_load(struct relay_config *cfg, const char *path);

/*
 * relay_config_write_default writes |cfg| as a commented INI file at |path|
 * (mode 0600), refusing to replace an existing file (HALQA_ERR_EXISTS).
 * HALQA_ERR_IO on other file errors.
 */
HALQA_MUST_CHECK int relay_config_write_default(const struct relay_config *cfg, const char *path);

/*
 * relay_config_default_dir writes the default data directory (see above)
 * into |out|. HALQA_ERR_TOO_LARGE if it does not fit, HALQA_ERR_NOT_FOUND if
 * no rule applies (no HOME).
 */
HALQA_MUST_CHECK int relay_config_default_dir(char *out, size_t out_len);

/*
 * relay_config_path joins |dir| and |name| into |out|. HALQA_ERR_TOO_LARGE
 * if it does not fit.
 */
HALQA_MUST_CHECK int relay_config_path(char *out, size_t out_len, const char *dir,
				       const char *name);

/*
 * relay_config_parse_duration parses "90", "90s", "15m", "12h", "30d" or
 * "2w" into seconds. HALQA_ERR_ARG for anything else or for overflow.
 */
HALQA_MUST_CHECK int relay_config_parse_duration(const char *text, uint64_t *out_sec);

/*
 * relay_config_parse_size parses "4096", "64k", "8M" or "1G" (powers of
 * 1024) into bytes. HALQA_ERR_ARG for anything else or for overflow.
 */
HALQA_MUST_CHECK int relay_config_parse_size(const char *text, uint64_t *out_bytes);

/*
 * relay_keys_create makes a new CURVE key pair, writes the secret key to
 * |path| (created exclusively, mode 0600) and returns the public key in
 * |pub|. HALQA_ERR_EXISTS if |path| exists (a relay's key is never
 * replaced by accident: clients pin it), HALQA_ERR_IO otherwise. The secret
 * is wiped from memory before returning.
 */
HALQA_MUST_CHECK int relay_keys_create(const char *path, uint8_t pub[32]);

/*
 * relay_keys_load reads the secret key at |path| into |sec| and derives
 * |pub|. HALQA_ERR_NOT_FOUND if missing, HALQA_ERR_DENIED if the file is
 * readable by group or others, HALQA_ERR_INVALID if it is not 32 bytes,
 * HALQA_ERR_IO otherwise. On failure |sec| is zeroed. The caller wipes |sec|.
 */
HALQA_MUST_CHECK int relay_keys_load(const char *path, uint8_t sec[32], uint8_t pub[32]);

/*
 * relay_keys_address_line writes "halqa-relay:<endpoint>#<public key in 64
 * lowercase hex digits>" into |out|: what a client needs to reach and pin
 * this relay (the format of include/halqa/relayaddr.h).
 * HALQA_ERR_TOO_LARGE if it does not fit, HALQA_ERR_ARG for an endpoint
 * holding '#' or whitespace.
 */
HALQA_MUST_CHECK int relay_keys_address_line(char *out, size_t out_len, const char *endpoint,
					     const uint8_t pub[32]);

/*
 * relay_keys_parse_device reads a device's CURVE public key as an operator
 * types it: 64 hex digits (the spelling of the relay address line; either
 * case), or 40 characters of Z85 (ZeroMQ's own spelling). The two cannot
 * be confused: they differ in length. Surrounding text is not trimmed.
 * HALQA_ERR_MALFORMED for anything else; |key| is then zeroed.
 */
HALQA_MUST_CHECK int relay_keys_parse_device(const char *text, uint8_t key[32]);

#endif
