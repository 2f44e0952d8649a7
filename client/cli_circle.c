/*
 * cli_circle.c: the commands that shape circles: register with the relay,
 * circle create, add, remove, leave, list, members, and sync.
 *
 * Each runs in the frame of cli_engine.c (profile, engine, a sync first)
 * and leaves the work to the engine; what is here is argument checking
 * done before any passphrase is asked for, and output: human text that
 * passes every name through term_sanitize (circle names come from the
 * facilitator who made the circle, so from another person), or --json
 * through cli_json_string. Names are padded by their display width, so
 * Arabic, Hebrew and wide characters line up.
 */
#include "halqa/cli_engine.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/term.h"
#include "halqa/utf8.h"

/* Bounds on what a command line may name at once. */
#define MAX_NAMES  64
#define MAX_INVITE 256

static int name_ok(const char *name, const char *what)
{
	if (utf8_name_check(name) != HALQA_OK) {
		return cli_fail("a %s name is 1 to %d bytes of UTF-8 text without control "
		                "characters",
		                what, UTF8_MAX_NAME);
	}
	return 1;
}

/* put_padded prints |s| sanitized, then spaces up to |width| display columns. */
static void put_padded(FILE *f, const char *s, size_t width)
{
	char *safe = NULL;
	size_t len = 0, w = 0;

	if (term_sanitize(&safe, &len, s, strlen(s), 0) == HALQA_OK) {
		fwrite(safe, 1, len, f);
		w = term_width(safe, len);
	}
	free(safe);
	for (; w < width; w++) {
		fputc(' ', f);
	}
}

static size_t display_width(const char *s)
{
	char *safe = NULL;
	size_t len = 0, w = 0;

	if (term_sanitize(&safe, &len, s, strlen(s), 0) == HALQA_OK) {
		w = term_width(safe, len);
	}
	free(safe);
	return w;
}

/* put_list prints "a", "a and b", "a, b and c" with every name sanitized. */
static void put_list(FILE *f, const char *const *names, size_t num)
{
	for (size_t i = 0; i < num; i++) {
		if (i > 0) {
			fputs(i + 1 == num ? " and " : ", ", f);
		}
		cli_put_text(f, names[i]);
	}
}

int cli_cmd_register(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	const char *invite = NULL;
	int r, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--invite") == 0 && i + 1 < argc && invite == NULL) {
			invite = argv[++i];
		} else {
			return cli_usage();
		}
	}
	if (invite != NULL && (invite[0] == '\0' || strlen(invite) > MAX_INVITE ||
	                       !utf8_valid((const uint8_t *)invite, strlen(invite)))) {
		return cli_fail("that is not an invite code (halqad invite prints one)");
	}
	if ((rc = cli_engine_open(c, &ce, 0)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	r = engine_register(ce.e, invite);
	if (r != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot register with the relay", r);
	} else {
		printf("Registered with the relay; your KeyPackages are published, so contacts "
		       "can add you to circles.\nGive them your card: halqa whoami\n");
	}
	cli_engine_close(&ce);
	return rc;
}

int cli_cmd_circle_create(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	uint8_t id[ENGINE_ID_LEN];
	const char *q;
	int r, rc;

	if (argc != 1 || argv[0][0] == '-') {
		return cli_usage();
	}
	q = strchr(argv[0], ' ') != NULL ? "\"" : "";
	if (name_ok(argv[0], "circle") != 1) {
		return 1;
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	r = engine_circle_create(ce.e, argv[0], id);
	if (r != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot create the circle", r);
	} else {
		printf("Created the circle ");
		cli_put_text(stdout, argv[0]);
		printf("; you are its facilitator.\nAdd members: halqa circle add %s", q);
		cli_put_text(stdout, argv[0]);
		printf("%s CONTACT...\n", q);
	}
	cli_engine_close(&ce);
	return rc;
}

/*
 * check_contacts makes sure every name is a distinct contact before the
 * engine claims KeyPackages or commits: a typo must not cost an epoch.
 */
static int check_contacts(struct cli_ctx *c, char **names, size_t num)
{
	struct store_contact sc;
	int r;

	for (size_t i = 0; i < num; i++) {
		for (size_t k = 0; k < i; k++) {
			if (strcmp(names[i], names[k]) == 0) {
				return cli_fail("a contact is named twice");
			}
		}
		r = store_contact_get_by_name(c->store, names[i], &sc);
		if (r == HALQA_ERR_NOT_FOUND) {
			fputs("halqa: no contact named ", stderr);
			cli_put_text(stderr, names[i]);
			fputs(" (see halqa contact list)\n", stderr);
			return 1;
		}
		if (r != HALQA_OK) {
			return cli_fail("cannot read the contacts: %s", halqa_strerror(r));
		}
	}
	return 0;
}

/*
 * is_facilitator sets |*out| to whether the member of |circle| with
 * identity |key| (NULL: ourselves) is in its roster.
 */
static int is_facilitator(struct cli_engine *ce, const char *circle, const uint8_t *key, bool *out)
{
	struct engine_member *m = NULL;
	size_t num = 0;
	int r;

	*out = false;
	if ((r = engine_circle_members(ce->e, circle, &m, &num)) != HALQA_OK) {
		return r;
	}
	for (size_t i = 0; i < num; i++) {
		if (key == NULL ? m[i].self
		                : sodium_memcmp(m[i].identity, key, ENGINE_KEY_LEN) == 0) {
			*out = m[i].facilitator;
		}
	}
	free(m);
	return HALQA_OK;
}

/*
 * demote_leaving takes the facilitators among the contacts |names| out of
 * the roster of |circle| before they are removed, so no one outside the
 * circle stays listed as its facilitator (were they added again, they
 * would come back with the role). The group API commits a removal and a
 * roster change separately, so this is a commit of its own, made first:
 * if the removal then fails, they are demoted members, never facilitators
 * outside the circle.
 */
static int demote_leaving(struct cli_engine *ce, const char *circle, char **names, size_t num)
{
	struct store_contact sc;
	bool fac;
	int r;

	for (size_t i = 0; i < num; i++) {
		if ((r = store_contact_get_by_name(ce->store, names[i], &sc)) != HALQA_OK ||
		    (r = is_facilitator(ce, circle, sc.identity_pub, &fac)) != HALQA_OK) {
			return r;
		}
		if (fac && (r = engine_circle_set_facilitator(ce->e, circle, names[i], false)) !=
		               HALQA_OK) {
			return r;
		}
	}
	return HALQA_OK;
}

/* add_or_remove runs circle add (|add|) or circle remove. */
static int add_or_remove(struct cli_ctx *c, int argc, char **argv, int add)
{
	struct store_circle sc;
	struct cli_engine ce;
	size_t num;
	int r, rc;

	if (argc < 2 || (size_t)argc - 1 > MAX_NAMES) {
		return cli_usage();
	}
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '-') {
			return cli_usage();
		}
	}
	num = (size_t)argc - 1;
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if ((rc = check_contacts(c, argv + 1, num)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if (add) {
		r = engine_circle_add(ce.e, argv[0], (const char *const *)(argv + 1), num);
	} else if ((r = demote_leaving(&ce, argv[0], argv + 1, num)) == HALQA_OK) {
		r = engine_circle_remove(ce.e, argv[0], (const char *const *)(argv + 1), num);
	}
	if (r != HALQA_OK) {
		rc = cli_engine_fail(
		    &ce, add ? "cannot add to the circle" : "cannot remove from the circle", r);
		cli_engine_close(&ce);
		return rc;
	}
	if (add) {
		struct store_welcome_out *waiting = NULL;
		size_t num_waiting = 0;
		bool found = engine_circle_find(ce.e, argv[0], &sc) == HALQA_OK;

		/* The newcomers get the circle's sessions on their first sync. */
		if (found) {
			cli_engine_catch_up(&ce, sc.circle_id);
		}
		/* A Welcome the relay would not take yet (a full mailbox) is retried by each sync. */
		if (found && store_welcome_out_list(c->store, sc.circle_id, &waiting, &num_waiting) !=
				     HALQA_OK) {
			num_waiting = 0;
		}
		store_welcome_out_free(waiting, num_waiting);
		printf("Added ");
		put_list(stdout, (const char *const *)(argv + 1), num);
		printf(" to ");
		cli_put_text(stdout, argv[0]);
		if (num_waiting > 0) {
			printf(". The relay did not take %zu Welcome%s yet (a full mailbox, say): "
			       "each sync of yours tries again, and a new member sees the circle "
			       "after its next sync once its Welcome is in.\n",
			       num_waiting, num_waiting == 1 ? "" : "s");
		} else {
			printf(". %s the circle after %s next sync.\n",
			       num == 1 ? "It sees" : "They see", num == 1 ? "its" : "their");
		}
		cli_engine_warn_unverified(c, &ce, argv[0]);
	} else {
		printf("Removed ");
		put_list(stdout, (const char *const *)(argv + 1), num);
		printf(" from ");
		cli_put_text(stdout, argv[0]);
		printf(": nothing sent from now on can be read by %s.\n",
		       num == 1 ? "that member" : "them");
	}
	cli_engine_close(&ce);
	return 0;
}

int cli_cmd_circle_add(struct cli_ctx *c, int argc, char **argv)
{
	return add_or_remove(c, argc, argv, 1);
}

int cli_cmd_circle_remove(struct cli_ctx *c, int argc, char **argv)
{
	return add_or_remove(c, argc, argv, 0);
}

int cli_cmd_circle_leave(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	bool fac = false;
	int r, rc;

	if (argc != 1 || argv[0][0] == '-') {
		return cli_usage();
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	/*
	 * A facilitator who leaves steps down first (a roster commit), so the
	 * roster never names someone outside the circle; the last one cannot
	 * (roster_remove), and engine_circle_leave says why.
	 */
	r = HALQA_OK;
	if (is_facilitator(&ce, argv[0], NULL, &fac) == HALQA_OK && fac) {
		r = engine_circle_set_facilitator(ce.e, argv[0], NULL, false);
		if (r == HALQA_ERR_DENIED) {
			r = HALQA_OK; /* the last facilitator: engine_circle_leave refuses with why */
		}
	}
	if (r == HALQA_OK) {
		r = engine_circle_leave(ce.e, argv[0]);
	}
	if (r != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot leave the circle", r);
	} else {
		printf("You left ");
		cli_put_text(stdout, argv[0]);
		printf(". Its history stays on this device; a facilitator's client completes the "
		       "removal.\n");
	}
	cli_engine_close(&ce);
	return rc;
}

int cli_cmd_circle_list(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct store_circle *list = NULL;
	uint64_t *unread = NULL;
	char hex[2 * ENGINE_ID_LEN + 1];
	size_t num = 0, width = 0;
	int json = cli_has_flag(argc, argv, "--json"), r, rc;

	if (argc > (json ? 1 : 0)) {
		return cli_usage();
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if ((r = store_circle_list(c->store, &list, &num)) != HALQA_OK ||
	    (num > 0 && (unread = calloc(num, sizeof *unread)) == NULL)) {
		free(list);
		cli_engine_close(&ce);
		return cli_fail("cannot list the circles: %s",
				halqa_strerror(r != HALQA_OK ? r : HALQA_ERR_NOMEM));
	}
	for (size_t i = 0; i < num; i++) {
		if ((r = store_circle_unread(c->store, list[i].circle_id, &unread[i])) != HALQA_OK) {
			free(unread);
			free(list);
			cli_engine_close(&ce);
			return cli_fail("cannot count the unread messages: %s", halqa_strerror(r));
		}
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < num; i++) {
			cli_engine_hex(hex, list[i].circle_id, ENGINE_ID_LEN);
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(stdout, list[i].name);
			printf(",\"id\":\"%s\",\"unread\":%llu,\"state\":\"%s\"}", hex,
			       (unsigned long long)unread[i],
			       cli_engine_state(&list[i])[0] ? cli_engine_state(&list[i])
							      : "active");
		}
		printf("]\n");
	} else if (num == 0) {
		printf("No circles yet. Create one with halqa circle create NAME, or wait for "
		       "someone to add you (then halqa sync).\n");
	} else {
		for (size_t i = 0; i < num; i++) {
			size_t w = display_width(list[i].name);
			width = w > width ? w : width;
		}
		for (size_t i = 0; i < num; i++) {
			printf("  ");
			put_padded(stdout, list[i].name, width + 2);
			if (unread[i] > 0) {
				printf("%llu unread", (unsigned long long)unread[i]);
			} else {
				printf("-");
			}
			if (cli_engine_state(&list[i])[0] != '\0') {
				printf("  (%s)", cli_engine_state(&list[i]));
			}
			printf("\n");
		}
	}
	free(unread);
	free(list);
	cli_engine_close(&ce);
	return 0;
}

int cli_cmd_circle_members(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct engine_member *m = NULL;
	char fp[SAFETY_FP_STR_LEN], label[CLI_ENGINE_LABEL_LEN + 8];
	const char *circle = NULL;
	size_t num = 0, width = 0;
	int json = 0, r, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && !json) {
			json = 1;
		} else if (circle == NULL && argv[i][0] != '-') {
			circle = argv[i];
		} else {
			return cli_usage();
		}
	}
	if (circle == NULL) {
		return cli_usage();
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if ((r = engine_circle_members(ce.e, circle, &m, &num)) != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot list the members", r);
		cli_engine_close(&ce);
		return rc;
	}
	if (json) {
		printf("[");
	} else {
		for (size_t i = 0; i < num; i++) {
			size_t w = m[i].self ? display_width(c->name) + 6
			                     : (m[i].name[0] ? display_width(m[i].name) : 12);
			width = w > width ? w : width;
		}
		printf("Members of ");
		cli_put_text(stdout, circle);
		printf(" (%zu):\n", num);
	}
	for (size_t i = 0; i < num; i++) {
		safety_fingerprint(fp, m[i].identity);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			if (m[i].self) {
				cli_json_string(stdout, c->name);
			} else if (m[i].name[0] != '\0') {
				cli_json_string(stdout, m[i].name);
			} else {
				printf("null");
			}
			printf(",\"fingerprint\":\"%s\",\"self\":%s,\"contact\":%s,\"verified\":%s,"
			       "\"facilitator\":%s}",
			       fp, m[i].self ? "true" : "false",
			       (m[i].self || m[i].name[0]) ? "true" : "false",
			       m[i].verified ? "true" : "false",
			       m[i].facilitator ? "true" : "false");
			continue;
		}
		printf("  ");
		if (m[i].self) {
			snprintf(label, sizeof label, "%s (you)", c->name);
		} else if (m[i].name[0] != '\0') {
			snprintf(label, sizeof label, "%s", m[i].name);
		} else {
			(void)cli_engine_label(c, label, m[i].identity);
		}
		put_padded(stdout, label, width + 2);
		printf("%-13s%-15s%s\n", m[i].facilitator ? "facilitator" : "",
		       m[i].self ? ""
		                 : (m[i].name[0] == '\0' ? "not a contact"
		                    : m[i].verified      ? "verified"
		                                         : "NOT verified"),
		       fp);
	}
	if (json) {
		printf("]\n");
	}
	free(m);
	cli_engine_warn_unverified(c, &ce, circle);
	cli_engine_close(&ce);
	return 0;
}

/* count prints "N thing" or "N things", comma-separated after the first. */
static void count(FILE *f, size_t n, const char *one, const char *many, int *first)
{
	fprintf(f, "%s%zu %s", *first ? "" : ", ", n, n == 1 ? one : many);
	*first = 0;
}

int cli_cmd_sync(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct engine_sync_report rep;
	int json = cli_has_flag(argc, argv, "--json"), first = 1, r, rc;

	if (argc > (json ? 1 : 0)) {
		return cli_usage();
	}
	if ((rc = cli_engine_open(c, &ce, 0)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	r = cli_engine_sync(&ce, &rep);
	if (r != HALQA_OK) {
		rc = cli_engine_fail(&ce, "sync failed", r);
		cli_engine_close(&ce);
		return rc;
	}
	if (json) {
		printf("{\"offline\":%s,\"joined\":%zu,\"received\":%zu,\"commits\":%zu,"
		       "\"sent\":%zu,\"waiting\":%zu,\"refused\":%zu}\n",
		       rep.offline ? "true" : "false", rep.joined, rep.received, rep.commits,
		       rep.sent, rep.waiting, rep.refused);
	} else if (rep.offline) {
		fprintf(stderr, "halqa: offline: the relay cannot be reached");
		if (rep.waiting > 0) {
			fprintf(stderr, "; %zu message%s wait%s in the outbox", rep.waiting,
			        rep.waiting == 1 ? "" : "s", rep.waiting == 1 ? "s" : "");
		}
		fprintf(stderr, "\n");
	} else {
		printf("Synced: ");
		count(stdout, rep.received, "new message", "new messages", &first);
		count(stdout, rep.joined, "circle joined", "circles joined", &first);
		count(stdout, rep.commits, "change applied", "changes applied", &first);
		count(stdout, rep.sent, "sent from the outbox", "sent from the outbox", &first);
		count(stdout, rep.waiting, "waiting", "waiting", &first);
		if (rep.refused > 0) {
			count(stdout, rep.refused, "refused as invalid", "refused as invalid",
			      &first);
		}
		printf(".\n");
	}
	cli_engine_close(&ce);
	/* The one thing asked for did not happen: a script must be able to tell. */
	return rep.offline ? 1 : 0;
}
