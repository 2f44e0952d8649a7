/*
 * cli_engine.c: the frame every circle and message command runs in: the
 * profile, an engine on a libuv loop of the command's own (the engine runs
 * it while it waits for the relay), and the sync that comes first.
 *
 * Reaching the relay is best effort: a command that shows local data goes
 * on without it and says so, because an advocate must be able to reread a
 * circle offline. Every sync runs with the session handler first in the
 * engine's event chain (it applies schedules, edits, cancellations and
 * RSVPs, and the session-only rule on each message, then hands every event
 * on to ours), so `halqa sync`, `read` or `send` apply what facilitators
 * sent just as the session commands do. Whatever the engine says went wrong is sanitized before
 * it is printed: its reasons may quote names other members chose.
 */
#include "halqa/cli_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "halqa/sessions.h"
#include "halqa/term.h"
#include "halqa/zmq_lib.h"

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
		/* ZeroMQ ends on a thread while the command closes its store; cli_main waits for it. */
		engine_end(ce->e);
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
 * store. It is the next link after the session handler (sessions_event.h). */
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

void cli_engine_notices(struct cli_engine *ce)
{
	struct store_circle sc;
	size_t shown =
	    ce->num_notices < CLI_ENGINE_MAX_NOTICES ? ce->num_notices : CLI_ENGINE_MAX_NOTICES;

	for (size_t i = 0; i < shown; i++) {
		if (store_circle_get_by_id(ce->store, ce->notices[i].circle_id, &sc) != HALQA_OK) {
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

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The test clock runs on from the injected instant, so waits still end. */
int64_t cli_engine_now_ms(const struct cli_engine *ce)
{
	if (ce->test_now != 0) {
		return ce->test_now + (real_ms() - ce->test_base);
	}
	return real_ms();
}

static int64_t clock_cb(void *arg)
{
	return cli_engine_now_ms(arg);
}

/* test_clock reads $HALQA_TEST_NOW_MS; refused unless HALQA_TESTING=1. */
static int test_clock(struct cli_engine *ce)
{
	const char *v = getenv("HALQA_TEST_NOW_MS"), *t = getenv("HALQA_TESTING");
	char *end = NULL;
	long long ms;

	if (v == NULL || v[0] == '\0') {
		return 0;
	}
	if (t == NULL || strcmp(t, "1") != 0) {
		return cli_fail("HALQA_TEST_NOW_MS is for tests only and needs HALQA_TESTING=1");
	}
	errno = 0;
	ms = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || ms < SESSION_UTC_MIN * 1000 ||
	    ms > SESSION_UTC_MAX * 1000) {
		return cli_fail("HALQA_TEST_NOW_MS is not a time in Unix milliseconds");
	}
	ce->test_now = ms;
	ce->test_base = real_ms();
	return 0;
}

int cli_engine_sync(struct cli_engine *ce, struct engine_sync_report *rep)
{
	size_t refused = ce->events.refused, cleared = 0;
	int r, sr;

	memset(rep, 0, sizeof *rep);
	r = engine_sync(ce->e, rep);
	cli_engine_notices(ce);
	if (ce->events.refused > refused) {
		fprintf(stderr, "halqa: refused %zu session message(s) that broke the rules\n",
		        ce->events.refused - refused);
	}
	if ((sr = sessions_retention_run(ce->store, cli_engine_now_ms(ce), &cleared)) != HALQA_OK) {
		fprintf(stderr, "halqa: warning: cannot clear session-only messages: %s\n",
		        halqa_strerror(sr));
	}
	if (r != HALQA_OK || rep->offline) {
		return r;
	}
	cli_engine_catch_up(ce, NULL);
	return r;
}

void cli_engine_catch_up(struct cli_engine *ce, const uint8_t *circle_id)
{
	struct store_circle *circles = NULL, one;
	size_t num = 0, sent = 0;
	int r;

	if (circle_id != NULL) {
		if (store_circle_get_by_id(ce->store, circle_id, &one) != HALQA_OK) {
			return;
		}
		circles = &one;
		num = 1;
	} else if (store_circle_list(ce->store, &circles, &num) != HALQA_OK) {
		return;
	}
	for (size_t i = 0; i < num; i++) {
		r = sessions_event_catch_up(&ce->events, circles[i].circle_id,
		                            cli_engine_now_ms(ce), &sent);
		if (r != HALQA_OK) {
			fputs("halqa: warning: could not send the sessions of ", stderr);
			cli_put_text(stderr, circles[i].name);
			fprintf(stderr, " to new members (%s); the next command tries again\n",
			        halqa_strerror(r));
		} else if (sent > 0) {
			fprintf(stderr, "halqa: sent %zu session(s) of ", sent);
			cli_put_text(stderr, circles[i].name);
			fputs(" again for members who joined since\n", stderr);
		}
	}
	if (circles != &one) {
		free(circles);
	}
}

int cli_engine_start(struct cli_engine *ce, struct store *store, const struct identity *id,
                     unsigned flags)
{
	char *end;
	const char *env;
	unsigned long timeout;
	int r;

	memset(ce, 0, sizeof *ce);
	ce->store = store;
	ce->id = id;
	if (test_clock(ce) != 0) {
		return 1;
	}
	if ((r = sessions_init(store)) != HALQA_OK) {
		return cli_fail("cannot open the session tables: %s", halqa_strerror(r));
	}
	if (uv_loop_init(&ce->loop) != 0) {
		return cli_fail("cannot start the event loop");
	}
	ce->loop_ready = true;
	if ((r = engine_new(&ce->e, store, id, &ce->loop)) != HALQA_OK) {
		return cli_fail("cannot start the circle engine: %s", halqa_strerror(r));
	}
	if (ce->test_now != 0) {
		engine_set_clock(ce->e, clock_cb, ce);
	}
	/* Session payloads first; the rest of the events go on to event_cb. */
	sessions_event_attach(&ce->events, store, ce->e);
	ce->events.clock = clock_cb;
	ce->events.clock_arg = ce;
	ce->events.next = event_cb;
	ce->events.next_arg = ce;
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
	return cli_engine_first_sync(ce, flags);
}

int cli_engine_first_sync(struct cli_engine *ce, unsigned flags)
{
	char why[512];
	int r;

	r = cli_engine_sync(ce, &ce->rep);
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

int cli_engine_open(struct cli_ctx *c, struct cli_engine *ce, unsigned flags)
{
	memset(ce, 0, sizeof *ce);
	/*
	 * libzmq loads on a thread of its own while the profile opens
	 * (zmq_lib.h); libcrypto starts first, since it takes the loader's
	 * lock that the load holds.
	 */
	store_library_init();
	zmq_lib_preload();
	if (cli_open_profile(c) != 0) {
		return 1;
	}
	return cli_engine_start(ce, c->store, c->id, flags);
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
