/*
 * admin.h: the relay's local admin socket.
 *
 * A Unix stream socket DIR/admin.sock, mode 0600 inside the 0700 data
 * directory, so only the relay's own user can open it. The protocol is one
 * command line in ("status\n"), a text answer out, then the relay closes
 * the connection. Lines of the answer are "name value". Commands:
 *   status                 live figures (see docs/OPERATOR.md)
 *   clock advance SECONDS  only when halqad runs with --test-clock
 * Input is bounded (ADMIN_LINE_MAX) and anything else gets "error ...".
 */
#ifndef HALQA_ADMIN_H
#define HALQA_ADMIN_H

#include <stddef.h>
#include <uv.h>

#include "halqa/err.h"

#define ADMIN_LINE_MAX 256
#define ADMIN_REPLY_MAX 4096
#define ADMIN_SOCKET_NAME "admin.sock"

struct admin_server;

/*
 * admin_command_fn answers the command |line| (NUL-terminated, no newline)
 * by writing a NUL-terminated text into |out| (|out_len| bytes).
 */
typedef void (*admin_command_fn)(void *ctx, const char *line, char *out, size_t out_len);

/*
 * admin_server_start listens on the Unix socket |path| in |loop|, removing a
 * stale socket file first (the caller holds the data directory's lock, so
 * no other relay uses it). Returns HALQA_ERR_IO if it cannot bind,
 * HALQA_ERR_TOO_LARGE if |path| is too long for a socket address,
 * HALQA_ERR_NOMEM. The caller owns *out (admin_server_close).
 */
HALQA_MUST_CHECK int admin_server_start(struct admin_server **out, uv_loop_t *loop,
					const char *path, admin_command_fn fn, void *ctx);

/*
 * admin_server_close closes the listener and any client connections, and
 * removes the socket file; the memory is freed from the close callbacks,
 * so the loop must run once more. NULL is a no-op.
 */
void admin_server_close(struct admin_server *s);

/*
 * admin_query connects to |path|, sends |command|, and reads the answer
 * into |out| (NUL-terminated, at most |out_len| - 1 bytes), waiting at most
 * |timeout_ms|. Blocking; for the command-line tools. Returns
 * HALQA_ERR_NOT_FOUND if no relay listens there, HALQA_ERR_NETWORK on a
 * timeout or a broken connection, HALQA_ERR_TOO_LARGE for a long path.
 */
HALQA_MUST_CHECK int admin_query(const char *path, const char *command, char *out,
				 size_t out_len, int timeout_ms);

#endif
