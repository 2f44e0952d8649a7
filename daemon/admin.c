/*
 * admin.c: the admin socket of admin.h, served by libuv on the relay's loop.
 *
 * Each client gets a small struct with a fixed line buffer; a line longer
 * than ADMIN_LINE_MAX, or a client that sends nothing within a few seconds,
 * is simply closed. The socket is created under umask 077 and then chmod
 * 0600, so there is no window in which another user could connect; the data
 * directory's 0700 mode is the second fence.
 */
#include "halqa/admin.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "halqa/log.h"

struct admin_client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct admin_server *server;
	struct admin_client *next;
	char line[ADMIN_LINE_MAX + 1];
	size_t len;
	char reply[ADMIN_REPLY_MAX];
	uv_write_t wreq;
	int closing;
	int handles_open;
};

struct admin_server {
	uv_pipe_t listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	admin_command_fn fn;
	void *ctx;
	struct admin_client *clients;
	int closing;
};

static void client_unlink(struct admin_client *c)
{
	struct admin_client **p = &c->server->clients;

	while (*p != NULL) {
		if (*p == c) {
			*p = c->next;
			return;
		}
		p = &(*p)->next;
	}
}

static void client_closed(uv_handle_t *h)
{
	struct admin_client *c = h->data;

	if (--c->handles_open == 0) {
		free(c);
	}
}

static void client_close(struct admin_client *c)
{
	if (c->closing) {
		return;
	}
	c->closing = 1;
	client_unlink(c);
	uv_close((uv_handle_t *)&c->pipe, client_closed);
	uv_close((uv_handle_t *)&c->timer, client_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct admin_client *c = req->data;

	(void)status;
	client_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct admin_client *c = h->data;

	(void)suggested;
	buf->base = c->line + c->len;
	buf->len = ADMIN_LINE_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct admin_client *c = s->data;
	char *nl;
	uv_buf_t out;

	(void)buf;
	if (c->closing) {
		return;
	}
	if (n < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = '\0';
	nl = memchr(c->line, '\n', c->len);
	if (nl == NULL) {
		if (c->len >= ADMIN_LINE_MAX) {
			client_close(c);
		}
		return;
	}
	*nl = '\0';
	uv_read_stop(s);
	c->reply[0] = '\0';
	c->server->fn(c->server->ctx, c->line, c->reply, sizeof c->reply);
	out = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
	c->wreq.data = c;
	if (uv_write(&c->wreq, s, &out, 1, on_written) != 0) {
		client_close(c);
	}
}

static void on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct admin_server *s = listener->data;
	struct admin_client *c;

	if (status < 0 || s->closing) {
		return;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		return;
	}
	c->server = s;
	if (uv_pipe_init(listener->loop, &c->pipe, 0) != 0) {
		free(c);
		return;
	}
	c->pipe.data = c;
	c->handles_open = 1;
	if (uv_timer_init(listener->loop, &c->timer) != 0) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->pipe, client_closed);
		return;
	}
	c->timer.data = c;
	c->handles_open = 2;
	c->next = s->clients;
	s->clients = c;
	if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0 ||
	    uv_timer_start(&c->timer, on_timeout, 5000, 0) != 0) {
		client_close(c);
	}
}

int admin_server_start(struct admin_server **out, uv_loop_t *loop, const char *path,
		       admin_command_fn fn, void *ctx)
{
	struct admin_server *s;
	mode_t old_mask;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof s->path) {
		return HALQA_ERR_TOO_LARGE;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		return HALQA_ERR_NOMEM;
	}
	memcpy(s->path, path, strlen(path) + 1);
	s->fn = fn;
	s->ctx = ctx;
	if (uv_pipe_init(loop, &s->listener, 0) != 0) {
		free(s);
		return HALQA_ERR_IO;
	}
	s->listener.data = s;
	(void)unlink(path);
	old_mask = umask(077);
	rc = uv_pipe_bind(&s->listener, path);
	umask(old_mask);
	if (rc == 0 && chmod(path, 0600) != 0) {
		rc = -1;
	}
	if (rc == 0) {
		rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
	}
	if (rc != 0) {
		halqa_log(HALQA_LOG_ERROR, "admin", "cannot listen on the admin socket: %s",
			  rc < 0 && rc != -1 ? uv_strerror(rc) : "chmod failed");
		s->closing = 1;
		s->path[0] = '\0';
		admin_server_close(s);
		return HALQA_ERR_IO;
	}
	*out = s;
	return HALQA_OK;
}

static void listener_closed(uv_handle_t *h)
{
	free(h->data);
}

void admin_server_close(struct admin_server *s)
{
	if (s == NULL) {
		return;
	}
	s->closing = 1;
	while (s->clients != NULL) {
		client_close(s->clients);
	}
	if (s->path[0] != '\0') {
		(void)unlink(s->path);
	}
	uv_close((uv_handle_t *)&s->listener, listener_closed);
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

int admin_query(const char *path, const char *command, char *out, size_t out_len, int timeout_ms)
{
	struct sockaddr_un addr;
	struct timespec deadline;
	size_t len = 0, sent = 0, cmd_len;
	char line[ADMIN_LINE_MAX + 1];
	int fd, rc = HALQA_ERR_NETWORK;

	if (out_len == 0) {
		return HALQA_ERR_ARG;
	}
	out[0] = '\0';
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof addr.sun_path) {
		return HALQA_ERR_TOO_LARGE;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	cmd_len = strlen(command);
	if (cmd_len + 1 > ADMIN_LINE_MAX) {
		return HALQA_ERR_ARG;
	}
	memcpy(line, command, cmd_len);
	line[cmd_len++] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return HALQA_ERR_IO;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		rc = (errno == ENOENT || errno == ECONNREFUSED) ? HALQA_ERR_NOT_FOUND
								: HALQA_ERR_NETWORK;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (sent < cmd_len) {
		ssize_t n = send(fd, line + sent, cmd_len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			goto out;
		}
		sent += (size_t)n;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long left = ms_left(&deadline);
		ssize_t n;

		if (left <= 0) {
			goto out;
		}
		int pr = poll(&p, 1, (int)left);

		if (pr < 0 && errno == EINTR) {
			continue;
		}
		if (pr <= 0) {
			goto out;
		}
		if (len + 1 >= out_len) {
			rc = HALQA_ERR_TOO_LARGE;
			goto out;
		}
		n = recv(fd, out + len, out_len - 1 - len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	out[len] = '\0';
	rc = HALQA_OK;
out:
	close(fd);
	return rc;
}
