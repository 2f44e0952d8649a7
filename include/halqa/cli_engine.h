/*
 * cli_engine.h: what the circle and message commands share around the
 * circle engine (engine.h): opening the profile with an engine on a loop
 * of the command's own, the sync every such command runs first, one-line
 * failures, how a member is named on screen, and the warning about
 * unverified members.
 *
 * A one-shot command runs
 *
 *     struct cli_engine ce;
 *     if (cli_engine_open(c, &ce, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL) != 0) ...
 *     ... engine calls ...
 *     cli_engine_close(&ce);
 *
 * A sync that cannot reach the relay is not a failure: the command goes on
 * with the local store and says so on stderr ("offline: showing local
 * history"), so reading and searching work on a train. The relay counts
 * as unreachable after the engine's timeout (10 s), or after
 * $HALQA_RELAY_TIMEOUT_MS milliseconds (1..600000) if set.
 */
#ifndef HALQA_CLI_ENGINE_H
#define HALQA_CLI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "halqa/cli.h"
#include "halqa/engine.h"
#include "halqa/safety.h"
#include "halqa/sessions_event.h"

/* cli_engine_open flags. */
#define CLI_ENGINE_SYNC  0x1u /* run engine_sync before the command */
#define CLI_ENGINE_LOCAL 0x2u /* the command shows local data: say "showing local history" */

/* Circles joined or lost during a command's syncs that it reports (more are counted). */
#define CLI_ENGINE_MAX_NOTICES 16

/* A label for a member: a contact name, or "~" and the first two fingerprint groups. */
#define CLI_ENGINE_LABEL_LEN (STORE_MAX_NAME + 1)

struct cli_engine {
	uv_loop_t loop;
	bool loop_ready;
	struct engine *e;
	struct store *store;          /* borrowed from the profile */
	const struct identity *id;    /* borrowed */
	struct sessions_event events; /* the session handler, first in the event chain */
	int64_t test_now;             /* $HALQA_TEST_NOW_MS (tests), or 0 */
	int64_t test_base;            /* the real clock when test_now was read */
	struct engine_sync_report rep; /* the first sync's report (zeroed if none ran) */
	bool synced;                   /* the sync ran and reached the relay */
	/* Circles joined (JOINED) or lost (REMOVED) during syncs, told on stderr. */
	struct {
		int type;
		uint8_t circle_id[ENGINE_ID_LEN];
	} notices[CLI_ENGINE_MAX_NOTICES];
	size_t num_notices;
	/* Circles whose loss was told this run, so it is not told twice. */
	uint8_t told[CLI_ENGINE_MAX_NOTICES][ENGINE_ID_LEN];
	size_t num_told;
};

/*
 * cli_engine_open opens the profile of |c| (cli_open_profile), makes an
 * engine on a loop of |ce|'s own and, with CLI_ENGINE_SYNC, syncs. A sync
 * that fails or finds the relay unreachable prints one line on stderr and
 * is not an error. Every sync runs through cli_engine_sync, with the
 * session handler (sessions_event.h) registered, so what members
 * scheduled or answered is applied by any command that syncs. Circles the sync joined or lost are told on stderr
 * ("you joined the circle X", "you were removed from X"). Returns 0, or 1 after printing why (the
 * command's exit status); |ce| must be closed with cli_engine_close in both cases.
 */
int cli_engine_open(struct cli_ctx *c, struct cli_engine *ce, unsigned flags);

/*
 * cli_engine_start is cli_engine_open on a profile the caller opened:
 * |store| and |id| are borrowed and must outlive |ce|. Returns 0, or 1
 * after printing why.
 */
int cli_engine_start(struct cli_engine *ce, struct store *store, const struct identity *id,
                     unsigned flags);

/*
 * cli_engine_first_sync is the sync cli_engine_open runs with
 * CLI_ENGINE_SYNC (|flags| as there), for a command that sets the engine
 * up before it (engine_send_with_sync): the report goes to ce->rep,
 * ce->synced says whether it reached the relay, and an offline relay or a
 * failure is told in one line on stderr, not an error. Returns 0.
 */
int cli_engine_first_sync(struct cli_engine *ce, unsigned flags);

/*
 * cli_engine_sync runs engine_sync into |rep| and what follows every sync:
 * the circles joined or lost are told, the session payloads that were
 * refused are counted on stderr, the session-only retention runs, and the
 * sessions of circles we facilitate are sent again to members who joined
 * since they were sent (sessions_event_catch_up). Returns engine_sync's
 * result; what follows it only warns.
 */
HALQA_MUST_CHECK int cli_engine_sync(struct cli_engine *ce, struct engine_sync_report *rep);

/*
 * cli_engine_catch_up runs sessions_event_catch_up for circle |circle_id|
 * (NULL: every circle) and says on stderr, per circle, how many sessions
 * were sent again, or why they could not be (a warning: the next command
 * that syncs tries again).
 */
void cli_engine_catch_up(struct cli_engine *ce, const uint8_t *circle_id);

/*
 * cli_engine_now_ms is the command's clock in Unix milliseconds: the real
 * one, or, with HALQA_TESTING=1 and HALQA_TEST_NOW_MS set, a clock that
 * runs on from that instant (the engine and the session handler use it).
 */
int64_t cli_engine_now_ms(const struct cli_engine *ce);

/*
 * cli_engine_notices prints on stderr, once, the circles joined or lost
 * since the last call (cli_engine_open calls it after its sync).
 */
void cli_engine_notices(struct cli_engine *ce);

/* cli_engine_close frees the engine and closes the loop; safe on a zeroed or failed |ce|. */
void cli_engine_close(struct cli_engine *ce);

/*
 * cli_engine_fail prints "halqa: |what|: <reason>" as one line, the reason
 * being the engine's last error (sanitized: never more than one line, no
 * control characters) or the text of |r|. Returns 1.
 */
int cli_engine_fail(const struct cli_engine *ce, const char *what, int r);

/*
 * cli_engine_label writes how |key| is shown: "you" for |self_pub|, the
 * contact's name, else "~" and the first ten digits of its fingerprint.
 * Returns 1 if |key| is a contact (or us), 0 otherwise.
 */
int cli_engine_label(struct cli_ctx *c, char out[CLI_ENGINE_LABEL_LEN],
                     const uint8_t key[ENGINE_KEY_LEN]);

/*
 * cli_engine_warn_unverified prints one warning line on stderr naming the
 * members of |circle| that are not verified contacts (members who are no
 * contact at all by fingerprint), and nothing if every member is verified
 * or the members cannot be read.
 */
void cli_engine_warn_unverified(struct cli_ctx *c, struct cli_engine *ce, const char *circle);

/*
 * cli_engine_state returns how a circle's state is shown: "" for an active
 * circle, else "left", "removed" or "blocked" (from its store flags).
 */
const char *cli_engine_state(const struct store_circle *sc);

/*
 * cli_engine_note_state prints one line on stderr if |sc| is not active
 * (we left, were removed, or the circle is blocked, with the engine's
 * reason): what is shown is then only the history kept on this device.
 * Nothing if this run's sync already told that we were removed from it.
 */
void cli_engine_note_state(struct cli_engine *ce, const struct store_circle *sc);

/* cli_engine_hex writes |len| bytes of |in| as lowercase hex into |out| (2 * len + 1 bytes). */
void cli_engine_hex(char *out, const uint8_t *in, size_t len);

/*
 * The commands built on the engine, for cli.c's table (argv holds the
 * arguments after the command's words; each returns the exit status).
 * client/cli_circle.c: register, circle create|add|remove|leave|list|members,
 * sync. client/cli_message.c: send, read, search.
 */
int cli_cmd_register(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_create(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_add(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_remove(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_leave(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_list(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_circle_members(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_sync(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_send(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_read(struct cli_ctx *c, int argc, char **argv);
int cli_cmd_search(struct cli_ctx *c, int argc, char **argv);

#endif
