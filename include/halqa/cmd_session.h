/*
 * cmd_session.h: the session commands of halqa (the command table in
 * cli.c calls these once the profile is open):
 *
 *     halqa circle promote|demote CIRCLE CONTACT
 *     halqa session schedule|edit|cancel|rsvp|show|export ...
 *     halqa sessions [CIRCLE] [--days N] [--json]
 *     halqa agenda [--remind] [--json]
 *
 * docs/SESSIONS.md describes each. Every one syncs first through the
 * circle engine (with sessions_event_handle registered, so schedules and
 * RSVPs that arrive are applied), runs the session-only retention, and
 * still works offline on the local state.
 *
 * Times are shown in the viewer's zone: $TZ, else /etc/localtime, else
 * UTC. For tests only, HALQA_TEST_NOW_MS=<Unix ms> replaces the clock of
 * the command and of its engine; it is refused unless HALQA_TESTING=1 is
 * set as well, so it cannot be left on by accident.
 */
#ifndef HALQA_CMD_SESSION_H
#define HALQA_CMD_SESSION_H

#include "halqa/identity.h"
#include "halqa/store.h"

/*
 * cmd_session_main runs `halqa |name| [|sub|] ARGS` on the open profile
 * (|store|, |id|, both borrowed); |usage| is the command's usage line.
 * Returns the exit status: 0 success, 1 failure (one line on stderr), 2
 * usage error.
 */
int cmd_session_main(struct store *store, const struct identity *id, const char *name,
		     const char *sub, const char *usage, int argc, char **argv);

#endif
