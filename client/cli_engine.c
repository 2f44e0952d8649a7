/*
 * cli_engine.c: the frame every circle and message command runs in: the
 * profile, an engine on a libuv loop of the command's own (the engine runs
 * it while it waits for the relay), and the sync that comes first.
 *
 * Reaching the relay is best effort: a command that shows local data goes
 * on without it and says so, because an advocate must be able to reread a
 * circle offline. Whatever the engine says went wrong is sanitized before
 * it is printed: its reasons may quote names other members chose.
 */
#include "halqa/cli_engine.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "halqa/term.h"

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

void cli_engine_close(struct cli_engine *ce)
{
	if (ce->e != NULL) {
		engine_free(ce->e);
		ce->e = NULL;
	}
	if (ce->loop_ready) {
		/* engine_free closed its handles; anything left is closed here. */
		(void)uv_run(&ce->loop, UV_RUN_NOWAIT);
		if (uv_loop_close(&ce->loop) == UV_EBUSY) {
			uv_walk(&ce->loop, close_walk_cb, NULL);
			(void)uv_run(&ce->loop, UV_RUN_DEFAULT);
			(void)uv_loop_close(&ce->loop);
		}
		ce->loop_ready = false;
	}
}

/* reason returns a one-line, sanitized reason for |r| in |out|. */
static void reason(const struct cli_engine *ce, int r, char *out, size_t out_len)
{
	const char *why = ce->e != NULL ? engine_last_error(ce->e) : "";
	char *safe = NULL;
	size_t safe_len = 0;

	if (why[0] == '\0') {
		why = halqa_strerror(r);
	}
	if (term_sanitize(&safe, &safe_len, why, strlen(why), 0) == HALQA_OK) {
		snprintf(out, out_len, "%s", safe);
	} else {
		snprintf(out, out_len, "%s", halqa_strerror(r));
	}
	free(safe);
}

int cli_engine_fail(const struct cli_engine *ce, const char *what, int r)
{
	char why[512];

	reason(ce, r, why, sizeof why);
	return cli_fail("%s: %s", what, why);
}

/* event_cb only records: it runs inside the engine's sync, where printing names would need the
 * store. */
static int event_cb(void *arg, const struct engine_event *ev)
{
	struct cli_engine *ce = arg;

	if (ev->type != ENGINE_EVENT_JOINED && ev->type != ENGINE_EVENT_REMOVED) {
		return HALQA_OK;
	}
	if (ce->num_notices < CLI_ENGINE_MAX_NOTICES) {
		ce->notices[ce->num_notices].type = ev->type;
		memcpy(ce->notices[ce->num_notices].circle_id, ev->circle_id, ENGINE_ID_LEN);
	}
	ce->num_notices++;
	return HALQA_OK;
}

void cli_engine_notices(struct cli_ctx *c, struct cli_engine *ce)
{
	struct store_circle sc;
	size_t shown =
	    ce->num_notices < CLI_ENGINE_MAX_NOTICES ? ce->num_notices : CLI_ENGINE_MAX_NOTICES;

	for (size_t i = 0; i < shown; i++) {
		if (store_circle_get_by_id(c->store, ce->notices[i].circle_id, &sc) != HALQA_OK) {
			snprintf(sc.name, sizeof sc.name, "(a circle no longer stored)");
		}
		if (ce->notices[i].type == ENGINE_EVENT_REMOVED &&
		    ce->num_told < CLI_ENGINE_MAX_NOTICES) {
			memcpy(ce->told[ce->num_told++], ce->notices[i].circle_id, ENGINE_ID_LEN);
		}
		fputs(ce->notices[i].type == ENGINE_EVENT_JOINED ? "halqa: you joined the circle "
		                                                 : "halqa: you were removed from ",
		      stderr);
		cli_put_text(stderr, sc.name);
		fputs(ce->notices[i].type == ENGINE_EVENT_JOINED ? "\n"
		                                                 : " (its history stays here)\n",
		      stderr);
	}
	if (ce->num_notices > shown) {
		fprintf(stderr, "halqa: and %zu more circles joined or left (halqa circle list)\n",
		        ce->num_notices - shown);
	}
	ce->num_notices = 0;
}

int cli_engine_open(struct cli_ctx *c, struct cli_engine *ce, unsigned flags)
{
	char why[512], *end;
	const char *env;
	unsigned long timeout;
	int r;

	memset(ce, 0, sizeof *ce);
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	if (uv_loop_init(&ce->loop) != 0) {
		return cli_fail("cannot start the event loop");
	}
	ce->loop_ready = true;
	if ((r = engine_new(&ce->e, c->store, c->id, &ce->loop)) != HALQA_OK) {
		return cli_fail("cannot start the circle engine: %s", halqa_strerror(r));
	}
	engine_set_event_cb(ce->e, event_cb, ce);
	/* How long to wait for the relay before calling it offline (scripts, tests). */
	if ((env = getenv("HALQA_RELAY_TIMEOUT_MS")) != NULL) {
		timeout = strtoul(env, &end, 10);
		if (env[0] >= '1' && env[0] <= '9' && *end == '\0' && timeout <= 600000) {
			engine_set_timeout(ce->e, (unsigned)timeout);
		}
	}
	if ((flags & CLI_ENGINE_SYNC) == 0) {
		return 0;
	}
	r = engine_sync(ce->e, &ce->rep);
	cli_engine_notices(c, ce);
	if (r == HALQA_OK && !ce->rep.offline) {
		ce->synced = true;
		return 0;
	}
	if (r == HALQA_OK) {
		fprintf(stderr, "halqa: offline: %s\n",
		        (flags & CLI_ENGINE_LOCAL) ? "showing local history"
		                                   : "the relay cannot be reached");
		return 0;
	}
	reason(ce, r, why, sizeof why);
	fprintf(stderr, "halqa: sync failed (%s)%s\n", why,
	        (flags & CLI_ENGINE_LOCAL) ? ": showing local history" : "");
	memset(&ce->rep, 0, sizeof ce->rep);
	return 0;
}

void cli_engine_hex(char *out, const uint8_t *in, size_t len)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

int cli_engine_label(struct cli_ctx *c, char out[CLI_ENGINE_LABEL_LEN],
                     const uint8_t key[ENGINE_KEY_LEN])
{
	struct store_contact sc;
	char fp[SAFETY_FP_STR_LEN];

	if (sodium_memcmp(key, c->id->sign_pub, ENGINE_KEY_LEN) == 0) {
		snprintf(out, CLI_ENGINE_LABEL_LEN, "you");
		return 1;
	}
	if (store_contact_get_by_key(c->store, key, &sc) == HALQA_OK) {
		snprintf(out, CLI_ENGINE_LABEL_LEN, "%s", sc.name);
		return 1;
	}
	/* Two groups of five digits: enough to tell strangers apart on screen. */
	safety_fingerprint(fp, key);
	snprintf(out, CLI_ENGINE_LABEL_LEN, "~%.11s", fp);
	return 0;
}

void cli_engine_warn_unverified(struct cli_ctx *c, struct cli_engine *ce, const char *circle)
{
	struct engine_member *m = NULL;
	char label[CLI_ENGINE_LABEL_LEN];
	size_t num = 0, shown = 0;
	bool strangers = false;

	if (engine_circle_members(ce->e, circle, &m, &num) != HALQA_OK) {
		return;
	}
	for (size_t i = 0; i < num; i++) {
		if (m[i].self || m[i].verified) {
			continue;
		}
		if (shown == 0) {
			fputs("halqa: warning: not verified in ", stderr);
			cli_put_text(stderr, circle);
			fputs(":", stderr);
		}
		if (m[i].name[0] != '\0') {
			snprintf(label, sizeof label, "%s", m[i].name);
		} else {
			(void)cli_engine_label(c, label, m[i].identity);
			strangers = true;
		}
		fputs(shown ? ", " : " ", stderr);
		cli_put_text(stderr, label);
		shown++;
	}
	if (shown > 0) {
		fputs(strangers ? " (~: not your contact; compare safety numbers with halqa contact "
				  "verify)\n"
				: " (compare safety numbers: halqa contact verify NAME)\n",
		      stderr);
	}
	free(m);
}

const char *cli_engine_state(const struct store_circle *sc)
{
	if (sc->flags & STORE_CIRCLE_BLOCKED) {
		return "blocked";
	}
	if (sc->flags & STORE_CIRCLE_REMOVED) {
		return "removed";
	}
	if (sc->flags & STORE_CIRCLE_LEFT) {
		return "left";
	}
	return "";
}

void cli_engine_note_state(struct cli_engine *ce, const struct store_circle *sc)
{
	const char *state = cli_engine_state(sc);

	if (state[0] == '\0') {
		return;
	}
	for (size_t i = 0; i < ce->num_told; i++) {
		if (memcmp(ce->told[i], sc->circle_id, ENGINE_ID_LEN) == 0) {
			return;
		}
	}
	fputs("halqa: ", stderr);
	cli_put_text(stderr, sc->name);
	if (strcmp(state, "left") == 0) {
		fputs(": you left it; this is the history kept on this device", stderr);
	} else if (strcmp(state, "removed") == 0) {
		fputs(": you were removed; this is the history kept on this device", stderr);
	} else {
		fputs(": blocked (", stderr);
		cli_put_text(stderr, sc->reason[0] ? sc->reason : "a change was refused");
		fputs("); nothing new can be sent or received", stderr);
	}
	fputc('\n', stderr);
}
