/*
 * chat.h: `halqa chat CIRCLE`, the interactive mode.
 *
 * One libuv loop runs the terminal, the engine's relay connection (live
 * mode: pushes arrive as engine events) and the timers. On a terminal the
 * input is a raw-mode tty edited with lineedit, and incoming messages are
 * printed above the line being typed; otherwise (a pipe or a file, as in
 * tests and scripts) input is read line by line and output is plain
 * lines. Everything another member wrote goes through term_sanitize
 * before it is shown. The terminal mode is restored on every way out:
 * /quit, ^D, ^C twice, SIGTERM, SIGHUP, errors.
 *
 * The engine's events pass the session handler (sessions_event.h) first,
 * as in every command that syncs: session payloads, the session-only
 * rule and the check-in log work the same here. Our own round OPENs and
 * answers are logged as they are sent, so `halqa read` groups them too.
 *
 * Commands: /help, /members, /search TEXT, /read [N], /quit, and for
 * check-in rounds (checkin.h) /checkin [--timeout S] [QUESTION],
 * /checkin-timeout S, /pass, /endround, /turn. Any other line is a message
 * to the circle ("//" at the start sends a line beginning with "/").
 */
#ifndef HALQA_CHAT_H
#define HALQA_CHAT_H

#include <stddef.h>

#include "halqa/err.h"
#include "halqa/identity.h"
#include "halqa/store.h"

/* Messages shown when the chat opens. */
#define CHAT_BACKLOG 10
/* Most messages /read and /search show. */
#define CHAT_MAX_LIST 200
/* Setting holding the default check-in turn timeout, in seconds. */
#define CHAT_SETTING_TIMEOUT "chat.checkin_timeout"

/*
 * chat_run runs the interactive mode for circle |circle| (its name, as
 * engine_circle_find takes it) on the open profile |store| with identity
 * |id| (both borrowed), reading standard input and writing standard
 * output, until the user quits. Returns HALQA_OK on a normal end; on failure an error code and a
 * one-line reason for the user in |why| (|why_len| bytes, never holding
 * message text): HALQA_ERR_NOT_FOUND for an unknown circle or no relay
 * set, HALQA_ERR_DENIED if we are no longer a member, HALQA_ERR_IO if the
 * terminal cannot be used, the engine's errors otherwise.
 */
HALQA_MUST_CHECK int chat_run(struct store *store, const struct identity *id, const char *circle,
                              char *why, size_t why_len);

#endif
