/*
 * cli.c: the halqa command line: global options, a command table, opening
 * the profile, and the profile, relay and contact commands.
 *
 * Every command opens the profile itself (so a command that needs no
 * passphrase, like help, never asks for one), runs, and closes it; failures
 * become one line on stderr chosen from the error code, never from a
 * message body or key. Everything printed that came from outside (names on
 * cards, a relay endpoint) goes through term_sanitize; --json output is
 * escaped by cli_json_string and stays valid JSON whatever the bytes.
 */
#include "halqa/cli.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "halqa/card.h"
#include "halqa/chat.h"
#include "halqa/cli_engine.h"
#include "halqa/cmd_session.h"
#include "halqa/identity.h"
#include "halqa/profile.h"
#include "halqa/relayaddr.h"
#include "halqa/safety.h"
#include "halqa/store.h"
#include "halqa/term.h"
#include "halqa/utf8.h"
#include "halqa/zmq_lib.h"

#define SET_RELAY_ENDPOINT "relay.endpoint"
#define SET_RELAY_KEY "relay.key"
#define SET_RELAY_SOCKS "relay.socks"

struct command {
	const char *name;
	const char *sub;
	int (*run)(struct cli_ctx *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("halqa: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

void cli_put_text(FILE *f, const char *s)
{
	char *safe = NULL;
	size_t len = 0;

	if (term_sanitize(&safe, &len, s, strlen(s), 0) == HALQA_OK) {
		fwrite(safe, 1, len, f);
	}
	free(safe);
}

void cli_json_string(FILE *f, const char *s)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t len = strlen(s), pos = 0, start;
	uint32_t cp;

	fputc('"', f);
	while (pos < len) {
		start = pos;
		if (utf8_decode(u, len, &pos, &cp) != HALQA_OK) {
			fputs("\\ufffd", f);
			pos = start + 1;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			fputc('\\', f);
			fputc((int)cp, f);
		} else if (cp < 0x20u || cp == 0x7fu) {
			fprintf(f, "\\u%04x", (unsigned)cp);
		} else {
			fwrite(u + start, 1, pos - start, f);
		}
	}
	fputc('"', f);
}

int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* open_error says in one line why the profile did not open. */
static int open_error(const struct cli_ctx *c, int r)
{
	switch (r) {
	case HALQA_ERR_NOT_FOUND:
		return cli_fail("no profile in %s (create one with: halqa init --name NAME)", c->dir);
	case HALQA_ERR_CRYPTO:
		return cli_fail("wrong passphrase (or store.db is damaged); nothing was changed");
	case HALQA_ERR_UNSUPPORTED:
		return cli_fail("store.db or store.kdf is from a newer halqa, or this halqa is not built "
			    "on SQLCipher; nothing was changed");
	case HALQA_ERR_MALFORMED:
	case HALQA_ERR_TRUNCATED:
	case HALQA_ERR_INVALID:
	case HALQA_ERR_TOO_LARGE:
		return cli_fail("the profile in %s is damaged (store.kdf or store.db); nothing was "
			    "changed",
			    c->dir);
	default:
		return cli_fail("cannot open the profile in %s: %s", c->dir, halqa_strerror(r));
	}
}

static int pass_error(int r, const char *file)
{
	switch (r) {
	case HALQA_ERR_DENIED:
		return cli_fail("passphrase file %s is readable by others; chmod 600 it", file);
	case HALQA_ERR_NOT_FOUND:
		return cli_fail("passphrase file %s does not exist", file);
	case HALQA_ERR_ARG:
		return cli_fail("empty passphrase");
	case HALQA_ERR_TOO_LARGE:
		return cli_fail("passphrase longer than %d bytes", PROFILE_MAX_PASSPHRASE);
	case HALQA_ERR_INVALID:
		return cli_fail("the two passphrases differ");
	case HALQA_ERR_IO:
		return cli_fail("no terminal to ask for the passphrase (use HALQA_PASSPHRASE or "
			    "--passphrase-file)");
	default:
		return cli_fail("cannot read the passphrase: %s", halqa_strerror(r));
	}
}

static int resolve_dir(struct cli_ctx *c)
{
	int r = profile_dir_resolve(c->dir, c->home);

	if (r != HALQA_OK) {
		return cli_fail("no profile directory: give --home DIR or set HALQA_HOME");
	}
	return 0;
}

int cli_open_profile(struct cli_ctx *c)
{
	char *pass = NULL, prompt[PROFILE_MAX_PATH + 32];
	size_t pass_len = 0;
	uint8_t *blob = NULL;
	size_t blob_len = 0;
	struct bytes_reader rd;
	int r;

	if (resolve_dir(c) != 0) {
		return 1;
	}
	snprintf(prompt, sizeof prompt, "Passphrase for %s: ", c->dir);
	if ((r = profile_passphrase_get(&pass, &pass_len, c->passfile, "HALQA_PASSPHRASE", prompt,
					0)) != HALQA_OK) {
		return pass_error(r, c->passfile);
	}
	r = profile_open(&c->store, c->dir, pass, pass_len);
	profile_passphrase_free(pass, pass_len);
	if (r != HALQA_OK) {
		return open_error(c, r);
	}
	if ((r = store_identity_get(c->store, c->name, &blob, &blob_len)) != HALQA_OK) {
		return cli_fail("the profile has no identity: %s", halqa_strerror(r));
	}
	bytes_reader_init(&rd, blob, blob_len);
	if ((r = identity_decode(&rd, &c->id)) == HALQA_OK) {
		r = bytes_expect_end(&rd);
	}
	store_secret_free(blob, blob_len);
	if (r != HALQA_OK) {
		return cli_fail("the stored identity is damaged: %s", halqa_strerror(r));
	}
	return 0;
}

int cli_has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], flag) == 0) {
			return 1;
		}
	}
	return 0;
}

static const struct command *current;

int cli_usage(void)
{
	fprintf(stderr, "usage: halqa %s\n", current->usage);
	return 2;
}

static int cmd_init(struct cli_ctx *c, int argc, char **argv)
{
	const char *name = NULL;
	enum storekey_profile kdf = STOREKEY_PROFILE_DEFAULT;
	char *pass = NULL, fp[SAFETY_FP_STR_LEN], path[PROFILE_MAX_PATH + 16];
	size_t pass_len = 0;
	struct identity *id = NULL;
	struct bytes_writer w;
	int r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--kdf-profile") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "test") == 0) {
				kdf = STOREKEY_PROFILE_TEST;
			} else if (strcmp(argv[i], "default") != 0) {
				return cli_usage();
			}
		} else {
			return cli_usage();
		}
	}
	if (name == NULL) {
		return cli_usage();
	}
	if (utf8_name_check(name) != HALQA_OK) {
		return cli_fail("a name is 1 to %d bytes of UTF-8 text without control characters",
			    UTF8_MAX_NAME);
	}
	if (resolve_dir(c) != 0) {
		return 1;
	}
	if ((r = profile_passphrase_get(&pass, &pass_len, c->passfile, "HALQA_PASSPHRASE",
					"New passphrase: ", 1)) != HALQA_OK) {
		return pass_error(r, c->passfile);
	}
	r = profile_create(&c->store, c->dir, pass, pass_len, kdf);
	profile_passphrase_free(pass, pass_len);
	if (r == HALQA_ERR_EXISTS) {
		return cli_fail("%s already holds a profile; nothing was changed", c->dir);
	}
	if (r != HALQA_OK) {
		return cli_fail("cannot create the profile in %s: %s", c->dir, halqa_strerror(r));
	}
	bytes_writer_init(&w, IDENTITY_ENCODED_LEN, BYTES_WIPE);
	if ((r = identity_new(&id)) == HALQA_OK && (r = identity_encode(&w, id)) == HALQA_OK) {
		r = store_identity_put(c->store, name, bytes_writer_data(&w), bytes_writer_len(&w));
	}
	bytes_writer_cleanup(&w);
	if (r != HALQA_OK) {
		identity_free(id);
		store_close(c->store);
		c->store = NULL;
		/* Do not leave a profile without an identity behind. */
		snprintf(path, sizeof path, "%s/store.db", c->dir);
		unlink(path);
		snprintf(path, sizeof path, "%s/store.kdf", c->dir);
		unlink(path);
		return cli_fail("cannot create the identity: %s", halqa_strerror(r));
	}
	safety_fingerprint(fp, id->sign_pub);
	identity_free(id);
	printf("Created profile ");
	cli_put_text(stdout, name);
	printf(" in ");
	cli_put_text(stdout, c->dir);
	printf("\nYour fingerprint: %s\nNext: halqa relay set ADDRESS (the line halqad init "
	       "printed)\n",
	       fp);
	if (kdf == STOREKEY_PROFILE_TEST) {
		fprintf(stderr, "halqa: warning: test KDF profile: this passphrase is cheap to "
				"guess; for tests and demos only\n");
	}
	return 0;
}

/* own_card builds this profile's card; HALQA_ERR_NOT_FOUND until a relay is set. */
static int own_card(struct cli_ctx *c, char out[CARD_MAX_TEXT])
{
	struct card cd;
	char hex[65];
	size_t key_len = 0;
	int r;

	memset(&cd, 0, sizeof cd);
	if ((r = store_setting_get(c->store, SET_RELAY_ENDPOINT, cd.endpoint,
				   sizeof cd.endpoint)) != HALQA_OK ||
	    (r = store_setting_get(c->store, SET_RELAY_KEY, hex, sizeof hex)) != HALQA_OK) {
		return r;
	}
	if (sodium_hex2bin(cd.relay_pub, sizeof cd.relay_pub, hex, strlen(hex), NULL, &key_len,
			   NULL) != 0 ||
	    key_len != sizeof cd.relay_pub) {
		return HALQA_ERR_MALFORMED;
	}
	memcpy(cd.identity_pub, c->id->sign_pub, sizeof cd.identity_pub);
	memcpy(cd.mailbox_id, c->id->mailbox_id, sizeof cd.mailbox_id);
	memcpy(cd.kp_dir_id, c->id->kp_dir_id, sizeof cd.kp_dir_id);
	return card_encode(out, &cd);
}

static int cmd_whoami(struct cli_ctx *c, int argc, char **argv)
{
	char fp[SAFETY_FP_STR_LEN], card[CARD_MAX_TEXT];
	int json = cli_has_flag(argc, argv, "--json"), r;

	if (argc > (json ? 1 : 0)) {
		return cli_usage();
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	safety_fingerprint(fp, c->id->sign_pub);
	r = own_card(c, card);
	if (r != HALQA_OK && r != HALQA_ERR_NOT_FOUND) {
		return cli_fail("cannot build the contact card: %s", halqa_strerror(r));
	}
	if (json) {
		printf("{\"name\":");
		cli_json_string(stdout, c->name);
		printf(",\"fingerprint\":\"%s\",\"card\":", fp);
		if (r == HALQA_OK) {
			cli_json_string(stdout, card);
		} else {
			printf("null");
		}
		printf("}\n");
		return 0;
	}
	printf("Name:        ");
	cli_put_text(stdout, c->name);
	printf("\nFingerprint: %s\n", fp);
	if (r == HALQA_OK) {
		printf("Card:        %s\n", card);
	} else {
		printf("Card:        none yet: set the relay first (halqa relay set ADDRESS)\n");
	}
	return 0;
}

/* socks_valid accepts HOST:PORT with a printable host and a port 1..65535. */
static int socks_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s || strlen(s) > 255) {
		return 0;
	}
	for (const char *p = s; p < colon; p++) {
		if (*p <= ' ' || *p >= 0x7f) {
			return 0;
		}
	}
	port = strtol(colon + 1, &end, 10);
	return colon[1] != '\0' && *end == '\0' && port >= 1 && port <= 65535;
}

static int cmd_relay_set(struct cli_ctx *c, int argc, char **argv)
{
	char endpoint[RELAYADDR_MAX_ENDPOINT + 1], hex[2 * RELAYADDR_KEY_LEN + 1];
	struct relayaddr addr;
	const char *address = NULL, *socks = NULL;
	int r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--socks") == 0 && i + 1 < argc) {
			socks = argv[++i];
		} else if (address == NULL && argv[i][0] != '-') {
			address = argv[i];
		} else {
			return cli_usage();
		}
	}
	if (address == NULL) {
		return cli_usage();
	}
	if (relayaddr_parse(&addr, address) != HALQA_OK ||
	    relayaddr_endpoint(endpoint, sizeof endpoint, &addr) != HALQA_OK ||
	    !card_endpoint_valid(endpoint)) {
		return cli_fail("not a relay address: expected halqa-relay:tcp://HOST:PORT#KEY, as "
			    "halqad init prints it");
	}
	if (socks != NULL && !socks_valid(socks)) {
		return cli_fail("--socks wants HOST:PORT, e.g. 127.0.0.1:9050");
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	sodium_bin2hex(hex, sizeof hex, addr.server_key, sizeof addr.server_key);
	if ((r = store_begin(c->store)) != HALQA_OK ||
	    (r = store_setting_set(c->store, SET_RELAY_ENDPOINT, endpoint)) != HALQA_OK ||
	    (r = store_setting_set(c->store, SET_RELAY_KEY, hex)) != HALQA_OK ||
	    (r = socks != NULL ? store_setting_set(c->store, SET_RELAY_SOCKS, socks)
			       : store_setting_delete(c->store, SET_RELAY_SOCKS)) != HALQA_OK ||
	    (r = store_commit(c->store)) != HALQA_OK) {
		(void)store_rollback(c->store);
		return cli_fail("cannot save the relay: %s", halqa_strerror(r));
	}
	printf("Relay set: ");
	cli_put_text(stdout, endpoint);
	if (socks != NULL) {
		printf(" via SOCKS5 ");
		cli_put_text(stdout, socks);
	}
	printf("\n");
	return 0;
}

static int check_name(const char *name)
{
	if (utf8_name_check(name) != HALQA_OK) {
		return cli_fail("a name is 1 to %d bytes of UTF-8 text without control characters",
			    UTF8_MAX_NAME);
	}
	return 0;
}

static int cmd_contact_add(struct cli_ctx *c, int argc, char **argv)
{
	struct store_contact sc;
	struct card cd;
	char text[CARD_MAX_TEXT * 2];
	size_t used = 0;
	int r;

	if (argc < 2) {
		return cli_usage();
	}
	if (check_name(argv[0]) != 0) {
		return 1;
	}
	if (strcmp(argv[0], "me") == 0) {
		/* Circle commands read "me" as yourself (circle demote CIRCLE me). */
		return cli_fail("\"me\" stands for yourself in circle commands; give the contact "
			    "another name");
	}
	/* A card wrapped by a mail client may arrive as several words. */
	text[0] = '\0';
	for (int i = 1; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (used + n + 2 > sizeof text) {
			return cli_fail("that is too long to be a contact card");
		}
		memcpy(text + used, argv[i], n);
		used += n;
		text[used++] = ' ';
		text[used] = '\0';
	}
	switch (card_decode(&cd, text)) {
	case HALQA_OK:
		break;
	case HALQA_ERR_INVALID:
		return cli_fail("the card's checksum does not match: it was mistyped or damaged; ask "
			    "for it again");
	case HALQA_ERR_UNSUPPORTED:
		return cli_fail("the card is from a newer halqa");
	default:
		return cli_fail("that is not a contact card (it starts with halqa-card:)");
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if (sodium_memcmp(cd.identity_pub, c->id->sign_pub, sizeof cd.identity_pub) == 0) {
		return cli_fail("that is your own card");
	}
	memset(&sc, 0, sizeof sc);
	snprintf(sc.name, sizeof sc.name, "%s", argv[0]);
	memcpy(sc.identity_pub, cd.identity_pub, sizeof sc.identity_pub);
	if ((r = card_encode(sc.card, &cd)) != HALQA_OK) {
		return cli_fail("cannot store the card: %s", halqa_strerror(r));
	}
	sc.added_at = cli_now_ms();
	r = store_contact_add(c->store, &sc);
	if (r == HALQA_ERR_EXISTS) {
		return cli_fail("a contact with that name or that identity already exists");
	}
	if (r != HALQA_OK) {
		return cli_fail("cannot add the contact: %s", halqa_strerror(r));
	}
	printf("Added ");
	cli_put_text(stdout, sc.name);
	printf(" (not verified yet: compare safety numbers with halqa contact verify ");
	cli_put_text(stdout, sc.name);
	printf(")\n");
	return 0;
}

static int cmd_contact_list(struct cli_ctx *c, int argc, char **argv)
{
	struct store_contact *list = NULL;
	char fp[SAFETY_FP_STR_LEN];
	size_t num = 0;
	int json = cli_has_flag(argc, argv, "--json"), r;

	if (argc > (json ? 1 : 0)) {
		return cli_usage();
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if ((r = store_contact_list(c->store, &list, &num)) != HALQA_OK) {
		return cli_fail("cannot list contacts: %s", halqa_strerror(r));
	}
	if (json) {
		printf("[");
	} else if (num == 0) {
		printf("No contacts yet (add one with: halqa contact add NAME CARD)\n");
	}
	for (size_t i = 0; i < num; i++) {
		safety_fingerprint(fp, list[i].identity_pub);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(stdout, list[i].name);
			printf(",\"verified\":%s,\"fingerprint\":\"%s\",\"card\":",
			       list[i].verified ? "true" : "false", fp);
			cli_json_string(stdout, list[i].card);
			printf("}");
		} else {
			cli_put_text(stdout, list[i].name);
			printf("  %s  %s\n", list[i].verified ? "verified  " : "unverified", fp);
		}
	}
	if (json) {
		printf("]\n");
	}
	free(list);
	return 0;
}

static int cmd_contact_verify(struct cli_ctx *c, int argc, char **argv)
{
	struct store_contact sc;
	char mine[SAFETY_FP_STR_LEN], theirs[SAFETY_FP_STR_LEN], pair[SAFETY_NUMBER_STR_LEN];
	int yes = cli_has_flag(argc, argv, "--yes"), r;

	if (argc != (yes ? 2 : 1) || (yes && strcmp(argv[0], "--yes") == 0)) {
		return cli_usage();
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if ((r = store_contact_get_by_name(c->store, argv[0], &sc)) != HALQA_OK) {
		return r == HALQA_ERR_NOT_FOUND ? cli_fail("no such contact") : cli_fail("%s",
										 halqa_strerror(r));
	}
	safety_fingerprint(mine, c->id->sign_pub);
	safety_fingerprint(theirs, sc.identity_pub);
	if (safety_number(pair, c->id->sign_pub, sc.identity_pub) != HALQA_OK) {
		return cli_fail("this contact has your own identity key");
	}
	printf("Your fingerprint:      %s\n", mine);
	cli_put_text(stdout, sc.name);
	printf("'s fingerprint: %s\n", theirs);
	printf("Safety number (the same on both sides):\n  %.*s\n  %s\n",
	       SAFETY_FP_STR_LEN - 1, pair, pair + SAFETY_FP_STR_LEN);
	if (!yes) {
		printf("Compare it with ");
		cli_put_text(stdout, sc.name);
		printf(" in person or on a call you trust. If every digit matches, run:\n"
		       "  halqa contact verify ");
		cli_put_text(stdout, sc.name);
		printf(" --yes\n");
		return 0;
	}
	if ((r = store_contact_set_verified(c->store, sc.name, 1)) != HALQA_OK) {
		return cli_fail("cannot mark the contact verified: %s", halqa_strerror(r));
	}
	cli_put_text(stdout, sc.name);
	printf(" is now verified.\n");
	return 0;
}

static int cmd_contact_remove(struct cli_ctx *c, int argc, char **argv)
{
	int r;

	if (argc != 1) {
		return cli_usage();
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	r = store_contact_remove(c->store, argv[0]);
	if (r == HALQA_ERR_NOT_FOUND) {
		return cli_fail("no such contact");
	}
	if (r != HALQA_OK) {
		return cli_fail("cannot remove the contact: %s", halqa_strerror(r));
	}
	printf("Removed ");
	cli_put_text(stdout, argv[0]);
	printf("\n");
	return 0;
}

static int cmd_passwd(struct cli_ctx *c, int argc, char **argv)
{
	const char *newfile = NULL;
	char *pass = NULL;
	size_t pass_len = 0;
	int r;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--new-passphrase-file") == 0 && i + 1 < argc) {
			newfile = argv[++i];
		} else {
			return cli_usage();
		}
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if ((r = profile_passphrase_get(&pass, &pass_len, newfile, "HALQA_NEW_PASSPHRASE",
					"New passphrase: ", 1)) != HALQA_OK) {
		return pass_error(r, newfile);
	}
	r = profile_passwd(c->store, c->dir, pass, pass_len);
	profile_passphrase_free(pass, pass_len);
	if (r != HALQA_OK) {
		return cli_fail("cannot change the passphrase: %s", halqa_strerror(r));
	}
	printf("Passphrase changed.\n");
	return 0;
}

static int cmd_chat(struct cli_ctx *c, int argc, char **argv)
{
	char why[256];
	int r;

	if (argc != 1) {
		return cli_usage();
	}
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if ((r = chat_run(c->store, c->id, argv[0], why, sizeof why)) != HALQA_OK) {
		return cli_fail("%s", why[0] != '\0' ? why : halqa_strerror(r));
	}
	return 0;
}

static int cmd_help(struct cli_ctx *c, int argc, char **argv);

/* The session commands live in cmd_session.c; they run on the open profile. */
static int cmd_session(struct cli_ctx *c, int argc, char **argv)
{
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	return cmd_session_main(c->store, c->id, current->name, current->sub, current->usage, argc,
				argv);
}

static const struct command commands[] = {
	{"init", NULL, cmd_init, "init --name NAME [--kdf-profile default|test]",
	 "Create a profile: identity keys and an encrypted store. Refuses an existing "
	 "profile.\n--kdf-profile test is cheap to guess: for tests and demos only."},
	{"whoami", NULL, cmd_whoami, "whoami [--json]",
	 "Show your name, fingerprint and contact card (once a relay is set)."},
	{"relay", "set", cmd_relay_set, "relay set ADDRESS [--socks HOST:PORT]",
	 "Set the relay: ADDRESS is the line halqad init printed\n"
	 "(halqa-relay:tcp://HOST:PORT#KEY). --socks goes through a SOCKS5 proxy such as Tor."},
	{"contact", "add", cmd_contact_add, "contact add NAME CARD",
	 "Add a contact from their card (halqa-card:...). A mistyped card is refused."},
	{"contact", "list", cmd_contact_list, "contact list [--json]",
	 "List contacts with their fingerprints and whether you verified them."},
	{"contact", "verify", cmd_contact_verify, "contact verify NAME [--yes]",
	 "Show the safety number to compare with NAME out of band; --yes marks NAME verified\n"
	 "once every digit matched."},
	{"contact", "remove", cmd_contact_remove, "contact remove NAME", "Remove a contact."},
	{"register", NULL, cli_cmd_register, "register [--invite CODE]",
	 "Register this device with the relay (with an invite code from its operator) and\n"
	 "publish the KeyPackages others need to add you to circles."},
	{"circle", "create", cli_cmd_circle_create, "circle create NAME",
	 "Create a circle; you become its facilitator."},
	{"circle", "add", cli_cmd_circle_add, "circle add CIRCLE CONTACT...",
	 "Add contacts to a circle (facilitators). They see it after their next sync."},
	{"circle", "remove", cli_cmd_circle_remove, "circle remove CIRCLE CONTACT...",
	 "Remove members (facilitators). They cannot read anything sent afterwards."},
	{"circle", "leave", cli_cmd_circle_leave, "circle leave CIRCLE",
	 "Leave a circle. Its history stays on this device."},
	{"circle", "list", cli_cmd_circle_list, "circle list [--json]",
	 "List your circles with their unread counts."},
	{"circle", "members", cli_cmd_circle_members, "circle members CIRCLE [--json]",
	 "List a circle's members: facilitators, verified or not, fingerprints.\n"
	 "A member who is not your contact is shown by fingerprint (~12345 67890)."},
	{"send", NULL, cli_cmd_send, "send CIRCLE [TEXT | -]",
	 "Send a message (UTF-8, at most 16000 bytes). Without TEXT, or with -, the message\n"
	 "is read from standard input. Offline, it waits in the outbox for the next sync."},
	{"read", NULL, cli_cmd_read, "read CIRCLE [--last N | --all] [--json]",
	 "Show the messages you have not read yet and mark them read; --last N shows the\n"
	 "last N, --all the whole history."},
	{"sync", NULL, cli_cmd_sync, "sync [--json]",
	 "Fetch new messages and circles, send what waits in the outbox. Every circle or\n"
	 "message command syncs first; this one only syncs (exit 1 if the relay is offline)."},
	{"search", NULL, cli_cmd_search, "search QUERY [--circle CIRCLE] [--json]",
	 "Search your history for messages holding every word of QUERY (newest first)."},
	{"chat", NULL, cmd_chat, "chat CIRCLE",
	 "Talk in CIRCLE interactively: messages appear as they arrive, what you type is sent\n"
	 "(or waits in the outbox while the relay is away). /help inside lists the commands,\n"
	 "check-in rounds included. Leave with /quit, Ctrl-D or Ctrl-C twice."},
	{"passwd", NULL, cmd_passwd, "passwd [--new-passphrase-file F]",
	 "Change the passphrase (re-keys the store). For scripts the new one may come from\n"
	 "--new-passphrase-file or HALQA_NEW_PASSPHRASE."},
	{"circle", "promote", cmd_session, "circle promote CIRCLE CONTACT",
	 "Make CONTACT a facilitator of CIRCLE (facilitators only)."},
	{"circle", "demote", cmd_session, "circle demote CIRCLE CONTACT|me",
	 "Make CONTACT an ordinary member again; \"me\" steps down yourself. A circle keeps\n"
	 "at least one facilitator."},
	{"session", "schedule", cmd_session,
	 "session schedule CIRCLE --title TEXT --at \"YYYY-MM-DD HH:MM\" [--tz Area/City]\n"
	 "      --duration 90m [--every 1w|2w|4w|monthly] [--until DATE | --count N]\n"
	 "      [--agenda TEXT] [--session-only]",
	 "Schedule a session (facilitators only). Without --tz the time is in your zone.\n"
	 "--session-only: messages sent while it runs are deleted everywhere when it ends."},
	{"session", "edit", cmd_session,
	 "session edit ID [--title T] [--at ...] [--tz Z] [--duration D] [--every E|none]\n"
	 "      [--until DATE | --count N] [--agenda TEXT] [--session-only|--no-session-only]",
	 "Change a session (facilitators only); ID is any unique prefix of its id."},
	{"session", "cancel", cmd_session, "session cancel ID [--occurrence DATE]",
	 "Cancel one occurrence (its date in the session's zone) or the whole series."},
	{"session", "rsvp", cmd_session,
	 "session rsvp ID yes|no|maybe [--occurrence DATE] [--note TEXT]",
	 "Answer for the series or one occurrence; your latest answer counts."},
	{"session", "show", cmd_session, "session show ID [--json]",
	 "Show a session, its next occurrences and who answered what."},
	{"session", "export", cmd_session, "session export ID|CIRCLE --ics FILE [--with-agenda]",
	 "Write an iCalendar (RFC 5545) file (- for standard output). The agenda goes in\n"
	 "only with --with-agenda."},
	{"sessions", NULL, cmd_session, "sessions [CIRCLE] [--days N] [--json]",
	 "List upcoming occurrences (default: 30 days) in your local time, with your RSVP."},
	{"agenda", NULL, cmd_session, "agenda [--remind] [--json]",
	 "Today and the next 7 days. --remind prints the reminders due now, once each\n"
	 "(for cron or a systemd timer: see docs/USER.md)."},
	{"help", NULL, cmd_help, "help [COMMAND]", "Show help."},
};

#define NUM_COMMANDS (sizeof commands / sizeof commands[0])

static void print_overview(FILE *f)
{
	fprintf(f, "usage: halqa [--home DIR] [--passphrase-file F] COMMAND [ARGS]\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < NUM_COMMANDS; i++) {
		fprintf(f, "  %s\n", commands[i].usage);
	}
	fprintf(f, "\nThe profile is --home DIR, else $HALQA_HOME, else $XDG_DATA_HOME/halqa, else\n"
		   "~/.local/share/halqa. The passphrase comes from --passphrase-file F (mode "
		   "600),\nelse $HALQA_PASSPHRASE, else the terminal.\n"
		   "Run halqa COMMAND --help for more.\n");
}

static void print_command_help(const char *name)
{
	for (size_t i = 0; i < NUM_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			printf("usage: halqa %s\n%s\n\n", commands[i].usage, commands[i].help);
		}
	}
}

static int known_command(const char *name)
{
	for (size_t i = 0; i < NUM_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			return 1;
		}
	}
	return 0;
}

static int cmd_help(struct cli_ctx *c, int argc, char **argv)
{
	(void)c;
	if (argc == 0) {
		print_overview(stdout);
		return 0;
	}
	if (!known_command(argv[0])) {
		return cli_fail("no such command: try halqa help");
	}
	print_command_help(argv[0]);
	return 0;
}

int cli_main(int argc, char **argv)
{
	struct cli_ctx c;
	const struct command *cmd = NULL;
	int i = 1, rc;

	memset(&c, 0, sizeof c);
	umask(077);
	if (sodium_init() < 0) {
		return cli_fail("libsodium failed to start");
	}
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			c.home = argv[++i];
		} else if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
			c.passfile = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_overview(stdout);
			return 0;
		} else {
			print_overview(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		print_overview(stderr);
		return 2;
	}
	if (!known_command(argv[i])) {
		cli_fail("no such command: %s (try halqa help)", argv[i][0] ? "given" : "empty");
		return 2;
	}
	if (cli_has_flag(argc - i - 1, argv + i + 1, "--help")) {
		print_command_help(argv[i]);
		return 0;
	}
	for (size_t k = 0; k < NUM_COMMANDS; k++) {
		if (strcmp(commands[k].name, argv[i]) != 0) {
			continue;
		}
		if (commands[k].sub == NULL) {
			cmd = &commands[k];
			i += 1;
			break;
		}
		if (i + 1 < argc && strcmp(commands[k].sub, argv[i + 1]) == 0) {
			cmd = &commands[k];
			i += 2;
			break;
		}
	}
	if (cmd == NULL) {
		fprintf(stderr, "halqa: %s needs a subcommand:\n", argv[i]);
		for (size_t k = 0; k < NUM_COMMANDS; k++) {
			if (strcmp(commands[k].name, argv[i]) == 0) {
				fprintf(stderr, "  halqa %s\n", commands[k].usage);
			}
		}
		return 2;
	}
	current = cmd;
	rc = cmd->run(&c, argc - i, argv + i);
	if (store_writes_refused(c.store) && rc == 0) {
		/* What the command did after that was not written: it must not look done. */
		rc = cli_fail("the profile could not make its writes durable again, so the "
			      "later ones were refused; run the command again");
	}
	identity_free(c.id);
	store_close(c.store);
	/*
	 * No exit while libzmq's loading thread, or the one ending the
	 * command's ZeroMQ context (engine_end), may still run. The store
	 * closed meanwhile.
	 */
	zmq_lib_settle();
	if (fflush(stdout) != 0 && rc == 0) {
		rc = cli_fail("cannot write the output");
	}
	return rc;
}
