/*
 * chat.c: the interactive mode, `halqa chat CIRCLE`.
 *
 * One libuv loop owns everything: the input (a raw tty fed to lineedit,
 * or a pipe or file read line by line), the engine in live mode (its
 * events are shown as they come), signal handles (SIGINT, SIGTERM, SIGHUP,
 * SIGWINCH) and a one-second timer (check-in turn timeouts, reminders
 * and session-only retention every few seconds). The engine runs its
 * relay requests on a loop of its own, so an engine call that talks to
 * the relay blocks this loop until the relay answers or the engine's
 * timeout passes. Sends are the calls the user makes all the time, so
 * they must not wait on a relay that is away: between the engine's
 * OFFLINE and ONLINE events engine_send only stores the line in the
 * outbox and returns; we show it marked as queued, remember its id, and
 * say so when ENGINE_EVENT_OUTBOX reports it sent after the reconnect.
 *
 * Display: every line shown goes through show(), which in tty mode prints
 * above the line being typed (lineedit_print_above) and otherwise writes a
 * plain line; both sanitize, so text from another member (message bodies,
 * check-in questions) can never drive the terminal. A message's extra
 * lines are indented so that a body cannot fake a line from someone else.
 *
 * Engine events go first through the session handler (sessions_event.h),
 * as in every command that syncs: it applies session payloads under the
 * roster, runs the session-only rule on each stored message and logs
 * check-in rounds and answers for `halqa read`; then on_event here shows
 * what is left. What we send ourselves the engine does not hand back, so
 * send_payload records our own round OPEN and answers the same way
 * (sessions_event_checkin_sent).
 *
 * Check-in rounds run on checkin.h: our /checkin opens one and makes this
 * client its driver; steps from others go through checkin_on_step, which
 * refuses forgeries (the engine then counts the message as refused). A
 * line typed while it is our turn is our answer, sent tagged with the
 * round. A driver takes a message tagged with the round as its sender's
 * answer, and an untagged one from the member whose turn it is too (sent
 * with `halqa send`, say: it moves the round on, but is not grouped).
 * Steps the machine asks for inside an engine callback are sent on the
 * next loop turn: the engine may be inside its store transaction there.
 */
#include "halqa/chat.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "halqa/agenda.h"
#include "halqa/checkin.h"
#include "halqa/engine.h"
#include "halqa/lineedit.h"
#include "halqa/log.h"
#include "halqa/session.h"
#include "halqa/sessions.h"
#include "halqa/sessions_event.h"
#include "halqa/term.h"

/* A second ^C within this window quits. */
#define CTRL_C_WINDOW_MS 2000
/* Longest line read from a pipe; longer lines are refused whole. */
#define PIPE_LINE_MAX LINEEDIT_MAX_LINE
/* Check-in outputs queued from engine callbacks before they are sent. */
#define CHAT_DEFERRED 16
/* Reminders and session-only retention are checked this often (seconds). */
#define AGENDA_EVERY_S 5
/* Room for one shown line: a long message plus its sender and time. */
#define SHOW_MAX (LINEEDIT_MAX_LINE * 2 + 512)
/* Columns every row after a shown line's first is indented by (term_wrap). */
#define SHOW_INDENT 4
/* Lines sent to the outbox whose delivery we report one by one. */
#define CHAT_MAX_QUEUED 64

enum input_kind {
	INPUT_TTY = 1,
	INPUT_PIPE = 2,
	INPUT_FILE = 3,
};

struct chat_queued {
	uint8_t msg_id[ENGINE_ID_LEN];
	int64_t at; /* when it was typed, ms */
	bool step;  /* a check-in step, not a typed line */
};

struct chat {
	uv_loop_t loop;
	struct store *store;
	const struct identity *id;
	struct engine *engine;
	struct sessions_event se; /* the session handler, first in the engine's event chain */
	struct store_circle circle;
	uint8_t self[ENGINE_KEY_LEN];

	int input;
	uv_tty_t tty;
	uv_pipe_t pipe;
	uv_fs_t fs_req;
	char fs_buf[4096];
	int64_t fs_offset;
	bool input_open;
	struct lineedit *le;
	char *pipe_line; /* PIPE_LINE_MAX + 1 bytes */
	size_t pipe_len;
	bool pipe_overflow;

	uv_signal_t sig_int, sig_term, sig_hup, sig_winch;
	uv_timer_t tick;
	uv_timer_t defer; /* sends asked for inside an engine callback run after it */
	struct checkin_out deferred[CHAT_DEFERRED];
	size_t num_deferred;
	bool live;

	struct engine_member *members;
	size_t num_members;
	struct checkin ck;
	uint16_t checkin_timeout_s;
	unsigned ticks;

	int64_t last_interrupt_ms;
	bool offline_shown;
	unsigned cols; /* the terminal's width for term_wrap; 0 if output is no terminal */
	/* What went to the outbox instead of the relay, until ENGINE_EVENT_OUTBOX says it went. */
	struct chat_queued queued[CHAT_MAX_QUEUED];
	size_t num_queued;
	bool in_send; /* inside engine_send: its own OUTBOX events are not news */
	/* The check-in clock stands still while we are offline (round_ms). */
	int64_t offline_since_ms;
	int64_t offline_total_ms;
	bool quitting;
	bool catching_up; /* the first sync: messages are shown from the store after it */
	int rc;
	char *why;
	size_t why_len;

	struct session_message msg; /* scratch for sends: big, so not on the stack */
	char show_buf[SHOW_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * round_ms is the clock the check-in machine runs on: monotonic, and
 * standing still while we are offline. A driver cut off from the relay
 * cannot see the answers being sent, so it must not skip the members who
 * give them; their turn goes on when we are back and the answers arrive.
 */
static int64_t round_ms(const struct chat *c)
{
	int64_t now = mono_ms();
	int64_t off = c->offline_total_ms + (c->offline_since_ms != 0 ? now - c->offline_since_ms : 0);

	return now - off;
}

static void set_offline(struct chat *c, bool offline)
{
	int64_t now = mono_ms();

	if (offline && c->offline_since_ms == 0) {
		c->offline_since_ms = now;
	} else if (!offline && c->offline_since_ms != 0) {
		c->offline_total_ms += now - c->offline_since_ms;
		c->offline_since_ms = 0;
	}
}

/* write_all writes to standard output, waiting out a non-blocking descriptor. */
static void write_all(const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
				(void)poll(&pfd, 1, 1000);
				continue;
			}
			return; /* the terminal is gone: nothing more to show */
		}
		p += n;
		len -= (size_t)n;
	}
}

static void flush_editor(struct chat *c)
{
	size_t len;
	const uint8_t *o;

	if (c->le == NULL) {
		return;
	}
	o = lineedit_output(c->le, &len);
	if (len > 0) {
		write_all(o, len);
	}
	lineedit_output_clear(c->le);
}

/*
 * show_text shows one (possibly multi-line) text, made safe for the
 * terminal and wrapped to its width by term_wrap, which indents every row
 * after the first: a row the terminal's own wrap would start at the left
 * edge (a body padded to the width) cannot pass for a line of its own.
 */
static void show_text(struct chat *c, const char *text, size_t len)
{
	static const char cut[] = " [cut]";
	char *safe = NULL;
	size_t safe_len = 0;

	if (term_wrap(&safe, &safe_len, text, len, c->cols, SHOW_INDENT) != HALQA_OK) {
		return;
	}
	if (c->le != NULL) {
		if (safe_len > LINEEDIT_MAX_ABOVE) {
			/* Newline-heavy text grows in the wrap: show what fits, cut on a character. */
			size_t end = LINEEDIT_MAX_ABOVE - sizeof cut;
			while (end > 0 && ((uint8_t)safe[end] & 0xc0u) == 0x80u) {
				end--;
			}
			memcpy(safe + end, cut, sizeof cut);
			sodium_memzero(safe + end + sizeof cut - 1, safe_len - (end + sizeof cut - 1));
			safe_len = end + sizeof cut - 1;
		}
		if (lineedit_print_above(c->le, safe, safe_len) == HALQA_OK) {
			flush_editor(c);
		}
	} else {
		write_all((const uint8_t *)safe, safe_len);
		write_all((const uint8_t *)"\n", 1);
	}
	sodium_memzero(safe, safe_len);
	free(safe);
}

static void show(struct chat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void show(struct chat *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->show_buf, sizeof c->show_buf, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	if ((size_t)n >= sizeof c->show_buf) {
		n = (int)sizeof c->show_buf - 1;
	}
	show_text(c, c->show_buf, (size_t)n);
	sodium_memzero(c->show_buf, (size_t)n);
}

static void fingerprint(char out[17], const uint8_t key[ENGINE_KEY_LEN])
{
	sodium_bin2hex(out, 17, key, 8);
}

/* member_name names |key| for display: "you", a contact name, or a short fingerprint. */
static void member_name(struct chat *c, const uint8_t key[ENGINE_KEY_LEN], char *out,
                        size_t out_len)
{
	struct store_contact ct;
	char fp[17];

	if (memcmp(key, c->self, ENGINE_KEY_LEN) == 0) {
		snprintf(out, out_len, "you");
		return;
	}
	for (size_t i = 0; i < c->num_members; i++) {
		if (memcmp(c->members[i].identity, key, ENGINE_KEY_LEN) == 0 &&
		    c->members[i].name[0] != '\0') {
			snprintf(out, out_len, "%s", c->members[i].name);
			return;
		}
	}
	if (store_contact_get_by_key(c->store, key, &ct) == HALQA_OK) {
		snprintf(out, out_len, "%s", ct.name);
		return;
	}
	fingerprint(fp, key);
	snprintf(out, out_len, "member %s", fp);
}

static void format_time(char out[32], int64_t ms)
{
	time_t t = (time_t)(ms / 1000), now = time(NULL);
	struct tm tm, today;

	if (localtime_r(&t, &tm) == NULL || localtime_r(&now, &today) == NULL) {
		snprintf(out, 32, "--:--");
		return;
	}
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday) {
		strftime(out, 32, "%H:%M", &tm);
	} else {
		strftime(out, 32, "%Y-%m-%d %H:%M", &tm);
	}
}

/*
 * show_message shows a stored message as "HH:MM name: text"; the body's
 * own line breaks, like every row after the first, are indented
 * (show_text), so a body cannot pass for another line.
 */
static void show_message(struct chat *c, const struct store_message *m, const char *suffix)
{
	char name[STORE_MAX_NAME + 32], when[32];

	member_name(c, m->sender, name, sizeof name);
	format_time(when, m->sent_at);
	show(c, "%s %s: %s%s", when, name, m->body != NULL ? m->body : "", suffix);
}

static void show_list(struct chat *c, const struct store_message_list *l)
{
	for (size_t i = 0; i < l->num; i++) {
		show_message(c, &l->items[i], "");
	}
}

/* mark_read moves the read marker; a failure only means the message shows as unread later. */
static void mark_read(struct chat *c, int64_t seq)
{
	if (store_message_mark_read(c->store, c->circle.circle_id, seq) != HALQA_OK) {
		halqa_log(HALQA_LOG_WARN, "chat", "cannot move the read marker");
	}
}

/* refresh_members reloads the member list and the roster the check-in machine checks with. */
static int refresh_members(struct chat *c)
{
	struct engine_member *m = NULL;
	size_t n = 0;
	struct roster r;
	int rc;

	if ((rc = engine_circle_members(c->engine, c->circle.name, &m, &n)) != HALQA_OK) {
		return rc;
	}
	free(c->members);
	c->members = m;
	c->num_members = n;
	memset(&r, 0, sizeof r);
	for (size_t i = 0; i < n; i++) {
		if (m[i].facilitator && roster_add(&r, m[i].identity) != HALQA_OK) {
			break; /* a full roster: the rest cannot be facilitators anyway */
		}
	}
	checkin_set_roster(&c->ck, &r);
	return HALQA_OK;
}

static void warn_unverified(struct chat *c)
{
	size_t unverified = 0;

	for (size_t i = 0; i < c->num_members; i++) {
		unverified += !c->members[i].verified;
	}
	if (unverified > 0) {
		show(c,
		     "Warning: %zu member%s of this circle %s not verified: compare safety numbers "
		     "with halqa contact verify NAME.",
		     unverified, unverified == 1 ? "" : "s", unverified == 1 ? "is" : "are");
	}
}

/*
 * record_sent logs our own round OPEN or answer in c->msg (message
 * |msg_id|) for `halqa read`, as the session handler logs those of others.
 * A failure only means the round shows ungrouped there.
 */
static void record_sent(struct chat *c, const uint8_t msg_id[ENGINE_ID_LEN])
{
	int rc;

	if (!(c->msg.kind == SESSION_KIND_CHAT && c->msg.u.chat.in_round) &&
	    !(c->msg.kind == SESSION_KIND_CHECKIN && c->msg.u.checkin.step == SESSION_STEP_OPEN)) {
		return;
	}
	rc = sessions_event_checkin_sent(&c->se, c->circle.circle_id, c->self, msg_id, now_ms(),
	                                 &c->msg);
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_WARN, "chat", "our check-in %s is not logged: %s",
		          c->msg.kind == SESSION_KIND_CHAT ? "answer" : "round",
		          halqa_strerror(rc));
	}
}

/*
 * send_payload sends c->msg to the circle. While the relay is away the
 * engine keeps it in the outbox and returns at once (*out_sent false); we
 * then remember its id, to say when ENGINE_EVENT_OUTBOX reports it sent.
 */
static int send_payload(struct chat *c, bool *out_sent)
{
	uint8_t msg_id[ENGINE_ID_LEN];
	bool sent = false;
	int rc;

	c->in_send = true;
	rc = engine_send(c->engine, c->circle.name, &c->msg, msg_id, &sent);
	c->in_send = false;
	if (rc == HALQA_ERR_NETWORK) {
		rc = HALQA_OK; /* kept in the outbox: goes out on reconnect */
		sent = false;
	}
	/* Queued or sent, it is ours now: an id of zeros means it never got one. */
	if (rc == HALQA_OK && !sodium_is_zero(msg_id, ENGINE_ID_LEN)) {
		record_sent(c, msg_id);
	}
	if (rc == HALQA_OK && !sent && c->num_queued < CHAT_MAX_QUEUED) {
		struct chat_queued *q = &c->queued[c->num_queued++];
		memcpy(q->msg_id, msg_id, ENGINE_ID_LEN);
		q->at = now_ms();
		q->step = c->msg.kind != SESSION_KIND_CHAT;
	}
	if (out_sent != NULL) {
		*out_sent = sent;
	}
	return rc;
}

/* on_outbox_sent says which line that waited in the outbox has now gone out. */
static void on_outbox_sent(struct chat *c, const struct engine_event *ev)
{
	char when[32];

	for (size_t i = 0; i < c->num_queued; i++) {
		struct chat_queued q = c->queued[i];
		if (memcmp(q.msg_id, ev->msg_id, ENGINE_ID_LEN) != 0) {
			continue;
		}
		c->queued[i] = c->queued[--c->num_queued];
		if (q.step) {
			show(c, "-- Sent from the outbox: a check-in step.");
		} else {
			format_time(when, q.at);
			show(c, "-- Sent from the outbox: your message of %s.", when);
		}
		return;
	}
	/*
	 * Not one we queued in this chat: an older one (queued by halqa send,
	 * or before the chat opened), unless engine_send is flushing ours.
	 */
	if (!c->in_send) {
		show(c, "-- Sent from the outbox: an earlier message.");
	}
}

static void show_step(struct chat *c, const uint8_t sender[ENGINE_KEY_LEN],
                      const struct session_checkin *st)
{
	char name[STORE_MAX_NAME + 32], who[STORE_MAX_NAME + 32];

	member_name(c, sender, name, sizeof name);
	switch (st->step) {
	case SESSION_STEP_OPEN:
		show(c,
		     "-- Check-in round opened by %s%s%s%s. Answer when it is your turn, or /pass.",
		     name, st->question[0] != '\0' ? ": \"" : "", st->question,
		     st->question[0] != '\0' ? "\"" : "");
		if (st->turn_timeout_s > 0) {
			show(c, "-- A turn is skipped after %u seconds without an answer.",
			     (unsigned)st->turn_timeout_s);
		}
		break;
	case SESSION_STEP_TURN:
		if (memcmp(st->member, c->self, ENGINE_KEY_LEN) == 0) {
			show(c, "-- It is your turn: type your answer, or /pass.");
		} else {
			member_name(c, st->member, who, sizeof who);
			show(c, "-- It is %s's turn.", who);
		}
		break;
	case SESSION_STEP_PASS:
		show(c, "-- %s passed.", name);
		break;
	case SESSION_STEP_END:
		show(c, "-- The check-in round is closed.");
		break;
	default:
		break;
	}
}

/* send_steps sends and shows what the check-in machine asked for. */
static void send_steps(struct chat *c, const struct checkin_out *out)
{
	char who[STORE_MAX_NAME + 32];
	int rc;

	if (out->skipped) {
		member_name(c, out->skipped_key, who, sizeof who);
		show(c, "-- No answer from %s in time: their turn is skipped.", who);
	}
	for (size_t i = 0; i < out->num_steps; i++) {
		bool sent = false;

		memset(&c->msg, 0, sizeof c->msg);
		c->msg.kind = SESSION_KIND_CHECKIN;
		c->msg.u.checkin = out->steps[i];
		if ((rc = send_payload(c, &sent)) != HALQA_OK) {
			show(c, "Could not send the check-in step: %s",
			     engine_last_error(c->engine));
			continue;
		}
		show_step(c, c->self, &out->steps[i]);
		if (!sent) {
			show(c, "-- (waiting in the outbox until the relay is back)");
		}
	}
}

static void on_defer(uv_timer_t *t)
{
	struct chat *c = t->data;
	size_t n = c->num_deferred;

	c->num_deferred = 0;
	for (size_t i = 0; i < n && !c->quitting; i++) {
		send_steps(c, &c->deferred[i]);
	}
}

/*
 * queue_steps is send_steps for engine callbacks: the engine may be inside
 * its own store transaction there, so the sends wait for the next turn.
 */
static void queue_steps(struct chat *c, const struct checkin_out *out)
{
	if (out->num_steps == 0 && !out->skipped) {
		return;
	}
	if (c->num_deferred == CHAT_DEFERRED || c->defer.loop == NULL) {
		halqa_log(HALQA_LOG_WARN, "chat", "check-in steps dropped: too many at once");
		return;
	}
	c->deferred[c->num_deferred++] = *out;
	(void)uv_timer_start(&c->defer, on_defer, 0, 0);
}

static void begin_quit(struct chat *c);

static void show_help(struct chat *c)
{
	/* One row each: show_text indents the rows after a text's first. */
	static const char *const help[] = {
	    "Type a line to send it to the circle. Commands:",
	    "  /members              who is in the circle (facilitators, verified)",
	    "  /read [N]             the last N messages (default 20)",
	    "  /search TEXT          search this circle's history",
	    "  /checkin [--timeout S] [QUESTION]",
	    "                        open a check-in round (facilitators)",
	    "  /checkin-timeout S    default seconds before a silent turn is skipped",
	    "  /pass                 pass your turn in a check-in round",
	    "  /turn                 whose turn it is",
	    "  /endround             close the check-in round (facilitators)",
	    "  /quit                 leave (also Ctrl-D, or Ctrl-C twice)",
	    "A line starting with // sends the text after the first /.",
	    "While the relay is away, what you send waits in the outbox and goes out when it is back.",
	};

	for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
		show(c, "%s", help[i]);
	}
}

static void cmd_members(struct chat *c)
{
	if (refresh_members(c) != HALQA_OK) {
		show(c, "Cannot list the members: %s", engine_last_error(c->engine));
		return;
	}
	show(c, "%zu member%s:", c->num_members, c->num_members == 1 ? "" : "s");
	for (size_t i = 0; i < c->num_members; i++) {
		char name[STORE_MAX_NAME + 32];
		member_name(c, c->members[i].identity, name, sizeof name);
		show(c, "  %s%s%s", name, c->members[i].facilitator ? "  [facilitator]" : "",
		     c->members[i].self       ? ""
		     : c->members[i].verified ? "  verified"
		                              : "  NOT VERIFIED");
	}
}

/* parse_count reads a decimal in 1..max, or returns 0. */
static unsigned long parse_count(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9') {
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return 0;
	}
	return v;
}

static void cmd_read(struct chat *c, const char *arg)
{
	struct store_message_list l = {0};
	unsigned long n = 20;

	if (*arg != '\0' && (n = parse_count(arg, CHAT_MAX_LIST)) == 0) {
		show(c, "usage: /read [N], N from 1 to %d", CHAT_MAX_LIST);
		return;
	}
	if (store_message_list_after(c->store, c->circle.circle_id, 0, n, 1, &l) != HALQA_OK) {
		show(c, "Cannot read the history.");
		return;
	}
	if (l.num == 0) {
		show(c, "No messages yet.");
	}
	show_list(c, &l);
	store_message_list_free(&l);
}

static void cmd_search(struct chat *c, const char *query)
{
	struct store_message_list l = {0};
	int rc;

	if (*query == '\0') {
		show(c, "usage: /search TEXT");
		return;
	}
	rc = store_message_search(c->store, query, c->circle.circle_id, CHAT_MAX_LIST, &l);
	if (rc == HALQA_ERR_ARG || rc == HALQA_ERR_TOO_LARGE) {
		show(c, "Search for one or more words (at most %d bytes).", STORE_MAX_QUERY);
		return;
	}
	if (rc != HALQA_OK) {
		show(c, "Search failed: %s", halqa_strerror(rc));
		return;
	}
	show(c, "%zu message%s found (newest first):", l.num, l.num == 1 ? "" : "s");
	show_list(c, &l);
	store_message_list_free(&l);
}

static void cmd_checkin(struct chat *c, const char *arg)
{
	struct checkin_out out;
	uint8_t round_id[CHECKIN_ROUND_ID_LEN];
	uint8_t(*keys)[CHECKIN_KEY_LEN] = NULL;
	unsigned long timeout = c->checkin_timeout_s;
	int rc;

	if (strncmp(arg, "--timeout", 9) == 0 && (arg[9] == ' ' || arg[9] == '\0')) {
		char num[16];
		size_t k = 0;
		arg += 9;
		while (*arg == ' ') {
			arg++;
		}
		while (*arg != '\0' && *arg != ' ' && k + 1 < sizeof num) {
			num[k++] = *arg++;
		}
		num[k] = '\0';
		if (strcmp(num, "0") == 0) {
			timeout = 0;
		} else if ((timeout = parse_count(num, SESSION_TURN_TIMEOUT_MAX)) == 0) {
			show(c,
			     "usage: /checkin [--timeout SECONDS] [QUESTION], SECONDS from 0 to %d",
			     SESSION_TURN_TIMEOUT_MAX);
			return;
		}
		while (*arg == ' ') {
			arg++;
		}
	}
	if (refresh_members(c) != HALQA_OK) {
		show(c, "Cannot list the members: %s", engine_last_error(c->engine));
		return;
	}
	if (c->num_members == 0 || (keys = calloc(c->num_members, CHECKIN_KEY_LEN)) == NULL) {
		show(c, "Cannot open a round: no members.");
		return;
	}
	for (size_t i = 0; i < c->num_members; i++) {
		memcpy(keys[i], c->members[i].identity, CHECKIN_KEY_LEN);
	}
	randombytes_buf(round_id, sizeof round_id);
	rc = checkin_open(&c->ck, &out, c->self, round_id, arg, (uint16_t)timeout,
	                  (const uint8_t(*)[CHECKIN_KEY_LEN])keys, c->num_members, round_ms(c));
	free(keys);
	if (rc == HALQA_ERR_DENIED) {
		show(c, "Only a facilitator of this circle can open a check-in round.");
		return;
	}
	if (rc != HALQA_OK) {
		show(c, "Cannot open a round: the question must be at most %d bytes of plain text.",
		     SESSION_QUESTION_MAX);
		return;
	}
	send_steps(c, &out);
}

static void cmd_checkin_timeout(struct chat *c, const char *arg)
{
	unsigned long v = 0;
	char num[24];

	if (strcmp(arg, "0") != 0 && (v = parse_count(arg, SESSION_TURN_TIMEOUT_MAX)) == 0) {
		show(c,
		     "Turns time out after %u seconds (0: never). usage: /checkin-timeout "
		     "SECONDS, 0 to %d",
		     (unsigned)c->checkin_timeout_s, SESSION_TURN_TIMEOUT_MAX);
		return;
	}
	c->checkin_timeout_s = (uint16_t)v;
	snprintf(num, sizeof num, "%lu", v);
	if (store_setting_set(c->store, CHAT_SETTING_TIMEOUT, num) != HALQA_OK) {
		show(c, "Set for this chat only: the setting could not be saved.");
		return;
	}
	show(c, "Check-in turns now time out after %lu seconds%s.", v, v == 0 ? " (never)" : "");
}

static void cmd_pass(struct chat *c)
{
	struct checkin_out out;
	int rc = checkin_pass(&c->ck, &out, c->self, round_ms(c));

	if (rc == HALQA_ERR_NOT_FOUND) {
		show(c, "No check-in round is open.");
	} else if (rc == HALQA_ERR_EXISTS) {
		show(c, "You have already answered or passed in this round.");
	} else if (rc == HALQA_OK) {
		send_steps(c, &out);
	}
}

static void cmd_endround(struct chat *c)
{
	struct checkin_out out;
	int rc = checkin_end(&c->ck, &out, c->self);

	if (rc == HALQA_ERR_NOT_FOUND) {
		show(c, "No check-in round is open.");
	} else if (rc == HALQA_ERR_DENIED) {
		show(c, "Only a facilitator can close the round.");
	} else if (rc == HALQA_OK) {
		send_steps(c, &out);
	}
}

static void cmd_turn(struct chat *c)
{
	uint8_t key[CHECKIN_KEY_LEN];
	char name[STORE_MAX_NAME + 32];

	if (!c->ck.active) {
		show(c, "No check-in round is open.");
	} else if (checkin_turn(&c->ck, key) != HALQA_OK) {
		show(c, "A check-in round is open; waiting for the next turn.");
	} else if (memcmp(key, c->self, CHECKIN_KEY_LEN) == 0) {
		show(c, "It is your turn: type your answer, or /pass.");
	} else {
		member_name(c, key, name, sizeof name);
		show(c, "It is %s's turn.", name);
	}
}

/* send_text sends a typed line as a chat message, our answer if it is our turn. */
static void send_text(struct chat *c, const char *text)
{
	struct store_message m;
	struct checkin_out out;
	bool sent = false, answer = checkin_is_turn(&c->ck, c->self);
	size_t len = strlen(text);
	int rc;

	memset(&c->msg, 0, sizeof c->msg);
	c->msg.kind = SESSION_KIND_CHAT;
	if (len > SESSION_CHAT_MAX) {
		show(c, "Not sent: a message is at most %d bytes.", SESSION_CHAT_MAX);
		return;
	}
	memcpy(c->msg.u.chat.text, text, len + 1);
	if (answer) {
		c->msg.u.chat.in_round = 1;
		memcpy(c->msg.u.chat.round_id, c->ck.round_id, CHECKIN_ROUND_ID_LEN);
	}
	/*
	 * While the relay is away the engine only stores the line in the
	 * outbox and returns, so the send never holds up this loop for the
	 * network; a line that went to the outbox is shown marked as queued.
	 */
	rc = send_payload(c, &sent);
	sodium_memzero(c->msg.u.chat.text, len);
	if (rc != HALQA_OK) {
		show(c, "-- Not sent: %s", engine_last_error(c->engine));
		return;
	}
	memset(&m, 0, sizeof m);
	memcpy(m.sender, c->self, ENGINE_KEY_LEN);
	m.sent_at = now_ms();
	m.body = (char *)text;
	show_message(c, &m, sent ? "" : "  [queued: goes out when the relay is back]");
	if (answer &&
	    checkin_on_answer(&c->ck, &out, c->self, c->ck.round_id, round_ms(c)) == HALQA_OK) {
		send_steps(c, &out);
	}
}

static void handle_line(struct chat *c, const char *line)
{
	const char *arg;
	size_t cmd_len;

	if (line[0] != '/' || line[1] == '/') {
		if (line[0] == '/') {
			line++;
		}
		if (line[0] != '\0') {
			send_text(c, line);
		}
		return;
	}
	cmd_len = strcspn(line, " ");
	arg = line + cmd_len;
	while (*arg == ' ') {
		arg++;
	}
#define IS(name) (cmd_len == sizeof(name) - 1 && strncmp(line, name, cmd_len) == 0)
	if (IS("/quit") || IS("/exit")) {
		begin_quit(c);
	} else if (IS("/help") || IS("/?")) {
		show_help(c);
	} else if (IS("/members")) {
		cmd_members(c);
	} else if (IS("/read")) {
		cmd_read(c, arg);
	} else if (IS("/search")) {
		cmd_search(c, arg);
	} else if (IS("/checkin")) {
		cmd_checkin(c, arg);
	} else if (IS("/checkin-timeout")) {
		cmd_checkin_timeout(c, arg);
	} else if (IS("/pass")) {
		cmd_pass(c);
	} else if (IS("/endround")) {
		cmd_endround(c);
	} else if (IS("/turn")) {
		cmd_turn(c);
	} else {
		show(c, "Unknown command; /help lists them.");
	}
#undef IS
}

/* Engine events. */

static void on_message_event(struct chat *c, const struct engine_event *ev)
{
	struct store_message_list l = {0};
	struct checkin_out out;

	/* A message deleted on arrival (session-only, its occurrence over) never gets here. */
	if (c->catching_up || memcmp(ev->circle_id, c->circle.circle_id, ENGINE_ID_LEN) != 0) {
		return;
	}
	if (memcmp(ev->sender, c->self, ENGINE_KEY_LEN) == 0) {
		return; /* our own, shown when we sent it */
	}
	if (store_message_list_after(c->store, c->circle.circle_id, ev->seq - 1, 1, 0, &l) !=
	        HALQA_OK ||
	    l.num != 1 || l.items[0].seq != ev->seq) {
		store_message_list_free(&l);
		return;
	}
	show_message(c, &l.items[0], "");
	mark_read(c, ev->seq);
	store_message_list_free(&l);
	/* An answer: a message tagged with the round; else one from the member whose turn it is. */
	if (ev->in_round) {
		if (checkin_on_answer(&c->ck, &out, ev->sender, ev->round_id, round_ms(c)) ==
		    HALQA_OK) {
			queue_steps(c, &out);
		}
	} else if (checkin_is_turn(&c->ck, ev->sender) &&
	           checkin_on_answer(&c->ck, &out, ev->sender, c->ck.round_id, round_ms(c)) ==
	               HALQA_OK) {
		queue_steps(c, &out);
	}
}

/*
 * on_session_payload says what a schedule, edit, cancellation or RSVP the
 * session handler applied changed. (A refused one is not news: the engine
 * counts it as refused.)
 */
static int on_session_payload(struct chat *c, const struct engine_event *ev)
{
	const struct session_message *p = ev->payload;
	char name[STORE_MAX_NAME + 32];

	if (c->se.verdict != HALQA_OK) {
		return HALQA_OK;
	}
	c->ticks = AGENDA_EVERY_S - 1; /* a reminder it makes due shows at the next tick */
	if (c->catching_up || memcmp(ev->circle_id, c->circle.circle_id, ENGINE_ID_LEN) != 0) {
		return HALQA_OK;
	}
	member_name(c, ev->sender, name, sizeof name);
	switch (p->kind) {
	case SESSION_KIND_SCHEDULE:
		show(c, "-- %s scheduled a session: \"%s\" (halqa sessions shows when).", name,
		     p->u.schedule.title);
		break;
	case SESSION_KIND_EDIT:
		show(c, "-- %s changed the session \"%s\".", name, p->u.schedule.title);
		break;
	case SESSION_KIND_CANCEL:
		show(c, "-- %s cancelled %s.", name,
		     p->u.cancel.whole_series ? "a session" : "an occurrence of a session");
		break;
	case SESSION_KIND_RSVP:
		show(c, "-- %s answered %s to a session.", name,
		     p->u.rsvp.answer == SESSION_ANSWER_YES  ? "yes"
		     : p->u.rsvp.answer == SESSION_ANSWER_NO ? "no"
		                                             : "maybe");
		break;
	default:
		break;
	}
	return HALQA_OK;
}

static int on_payload_event(struct chat *c, const struct engine_event *ev)
{
	struct checkin_out out;
	const struct session_message *p = ev->payload;
	char name[STORE_MAX_NAME + 32];
	int rc;

	if (p == NULL) {
		return HALQA_OK;
	}
	if (p->kind != SESSION_KIND_CHECKIN) {
		return on_session_payload(c, ev);
	}
	if (memcmp(ev->circle_id, c->circle.circle_id, ENGINE_ID_LEN) != 0) {
		return HALQA_OK; /* a round in another circle: not ours to show */
	}
	/*
	 * The session handler refuses an OPEN, TURN or END from a member who is
	 * not a facilitator; checkin_on_step also a TURN from one who did not
	 * open the round. Either way the engine counts the message as refused.
	 */
	if ((rc = c->se.verdict) == HALQA_OK) {
		(void)refresh_members(c); /* the roster in force now */
		rc = checkin_on_step(&c->ck, &out, ev->sender, &p->u.checkin, round_ms(c));
	}
	if (rc == HALQA_ERR_DENIED) {
		member_name(c, ev->sender, name, sizeof name);
		show(c, "-- Refused a check-in step from %s: only a facilitator may send it.",
		     name);
		return rc;
	}
	if (rc != HALQA_OK) {
		return HALQA_OK; /* a stale or repeated step: nothing to show */
	}
	if (!c->catching_up) {
		show_step(c, ev->sender, &p->u.checkin);
	}
	queue_steps(c, &out);
	return HALQA_OK;
}

static int on_event(void *arg, const struct engine_event *ev)
{
	struct chat *c = arg;
	bool ours = memcmp(ev->circle_id, c->circle.circle_id, ENGINE_ID_LEN) == 0;

	if (c->quitting) {
		return HALQA_OK;
	}
	if (c->catching_up && ev->type != ENGINE_EVENT_MESSAGE &&
	    ev->type != ENGINE_EVENT_PAYLOAD) {
		return HALQA_OK;
	}
	switch (ev->type) {
	case ENGINE_EVENT_MESSAGE:
		on_message_event(c, ev);
		break;
	case ENGINE_EVENT_PAYLOAD:
		return on_payload_event(c, ev);
	case ENGINE_EVENT_MEMBERS:
		if (ours && refresh_members(c) == HALQA_OK) {
			show(c, "-- The circle's members changed: %zu now (/members).",
			     c->num_members);
		}
		break;
	case ENGINE_EVENT_REMOVED:
		if (ours) {
			show(c, "-- You were removed from this circle.");
			snprintf(c->why, c->why_len, "removed from the circle");
			c->rc = HALQA_ERR_DENIED;
			begin_quit(c);
		}
		break;
	case ENGINE_EVENT_OFFLINE:
		set_offline(c, true);
		if (!c->offline_shown) {
			show(c, "-- Offline, reconnecting. What you type waits in the outbox.");
			c->offline_shown = true;
		}
		break;
	case ENGINE_EVENT_ONLINE:
		set_offline(c, false);
		if (c->offline_shown) {
			show(c, "-- Back online.");
			c->offline_shown = false;
		}
		break;
	case ENGINE_EVENT_OUTBOX:
		if (ours) {
			on_outbox_sent(c, ev);
		}
		break;
	default:
		break;
	}
	return HALQA_OK;
}

/* Input. */

static void on_editor_action(struct chat *c, int action)
{
	int64_t now = now_ms();

	switch (action) {
	case LINEEDIT_SUBMIT:
		handle_line(c, lineedit_submitted(c->le, NULL));
		break;
	case LINEEDIT_EOF:
		begin_quit(c);
		break;
	case LINEEDIT_INTERRUPT:
		if (c->last_interrupt_ms != 0 && now - c->last_interrupt_ms < CTRL_C_WINDOW_MS) {
			begin_quit(c);
		} else {
			c->last_interrupt_ms = now;
			show(c, "(Ctrl-C again to quit)");
		}
		break;
	default:
		break;
	}
}

static void feed_tty(struct chat *c, const uint8_t *p, size_t len)
{
	while (len > 0 && !c->quitting) {
		size_t used = 0;
		int action = LINEEDIT_NONE;

		if (lineedit_feed(c->le, p, len, &used, &action) != HALQA_OK || used == 0) {
			break;
		}
		flush_editor(c);
		p += used;
		len -= used;
		on_editor_action(c, action);
	}
}

/* feed_lines splits piped input into lines; a line over the bound is refused whole. */
static void feed_lines(struct chat *c, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len && !c->quitting; i++) {
		if (p[i] == '\n') {
			c->pipe_line[c->pipe_len] = '\0';
			if (c->pipe_len > 0 && c->pipe_line[c->pipe_len - 1] == '\r') {
				c->pipe_line[--c->pipe_len] = '\0';
			}
			if (c->pipe_overflow) {
				show(c, "Not sent: a line is at most %d bytes.", PIPE_LINE_MAX);
			} else if (!session_utf8_valid(c->pipe_line, c->pipe_len, 0)) {
				show(c, "Not sent: the line is not UTF-8 text without control "
				        "characters.");
			} else {
				handle_line(c, c->pipe_line);
			}
			sodium_memzero(c->pipe_line, c->pipe_len);
			c->pipe_len = 0;
			c->pipe_overflow = false;
		} else if (c->pipe_len < PIPE_LINE_MAX) {
			c->pipe_line[c->pipe_len++] = (char)p[i];
		} else {
			c->pipe_overflow = true;
		}
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	if (suggested > 65536) {
		suggested = 65536;
	}
	buf->base = malloc(suggested);
	buf->len = buf->base != NULL ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct chat *c = s->data;

	if (n > 0) {
		if (c->input == INPUT_TTY) {
			feed_tty(c, (const uint8_t *)buf->base, (size_t)n);
		} else {
			feed_lines(c, (const uint8_t *)buf->base, (size_t)n);
		}
	} else if (n < 0) {
		/* End of input (or a read error): a last unterminated line still counts. */
		if (c->input != INPUT_TTY && c->pipe_len > 0) {
			feed_lines(c, (const uint8_t *)"\n", 1);
		}
		begin_quit(c);
	}
	if (buf->base != NULL) {
		sodium_memzero(buf->base, buf->len);
		free(buf->base);
	}
}

static void on_fs_read(uv_fs_t *req)
{
	struct chat *c = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	if (n > 0 && !c->quitting) {
		feed_lines(c, (const uint8_t *)c->fs_buf, (size_t)n);
		c->fs_offset += n;
		sodium_memzero(c->fs_buf, (size_t)n);
		if (!c->quitting) {
			uv_buf_t b = uv_buf_init(c->fs_buf, sizeof c->fs_buf);
			if (uv_fs_read(&c->loop, &c->fs_req, STDIN_FILENO, &b, 1, c->fs_offset,
			               on_fs_read) == 0) {
				return;
			}
		}
	}
	c->input_open = false;
	if (c->pipe_len > 0 && !c->quitting) {
		feed_lines(c, (const uint8_t *)"\n", 1);
	}
	begin_quit(c);
}

/* Signals and the timer. */

static void on_signal(uv_signal_t *h, int signum)
{
	struct chat *c = h->data;
	int cols = 0, rows = 0;

	if (signum == SIGWINCH) {
		if (c->input == INPUT_TTY && uv_tty_get_winsize(&c->tty, &cols, &rows) == 0 &&
		    cols > 0) {
			lineedit_set_cols(c->le, (unsigned)cols);
			c->cols = (unsigned)cols;
			if (lineedit_redraw(c->le) == HALQA_OK) {
				flush_editor(c);
			}
		}
		return;
	}
	begin_quit(c);
}

/* show_agenda_item shows one reminder or announcement; false if it is not for this chat. */
static bool show_agenda_item(struct chat *c, const struct agenda_item *it)
{
	bool ours = memcmp(it->occ.circle_id, c->circle.circle_id, ENGINE_ID_LEN) == 0;
	struct store_circle sc;
	char when[32], where[STORE_MAX_NAME + 16] = "";

	if (it->kind == AGENDA_REMIND) {
		if (!ours && store_circle_get_by_id(c->store, it->occ.circle_id, &sc) == HALQA_OK) {
			snprintf(where, sizeof where, " in %s", sc.name);
		}
		format_time(when, it->occ.start_utc * 1000);
		show(c, "-- Reminder: \"%s\"%s starts at %s.", it->occ.title, where, when);
		return true;
	}
	if (!ours) {
		return false; /* starts and ends are announced in their own circle */
	}
	if (it->kind == AGENDA_START) {
		format_time(when, it->occ.end_utc * 1000);
		show(c, "-- The session \"%s\" has started (until %s)%s.", it->occ.title, when,
		     it->occ.session_only ? "; what is said during it is cleared when it ends"
		                          : "");
	} else {
		show(c, "-- The session \"%s\" has ended.", it->occ.title);
	}
	return true;
}

/* run_agenda clears ended session-only occurrences and shows what is due. */
static void run_agenda(struct chat *c)
{
	struct agenda_item *items = NULL;
	size_t n = 0, cleared = 0;
	int64_t now = now_ms();

	if (sessions_retention_run(c->store, now, &cleared) == HALQA_OK && cleared > 0) {
		show(c, "-- %s.", SESSIONS_NOTICE_TEXT);
	}
	if (agenda_due(c->store, c->self, now / 1000, &items, &n) != HALQA_OK) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (show_agenda_item(c, &items[i]) &&
		    agenda_mark_shown(c->store, &items[i], now / 1000) != HALQA_OK) {
			halqa_log(HALQA_LOG_WARN, "chat", "cannot record a reminder as shown");
		}
	}
	free(items);
}

static void on_tick(uv_timer_t *t)
{
	struct chat *c = t->data;
	struct checkin_out out;

	if (c->quitting) {
		return;
	}
	if (checkin_tick(&c->ck, &out, round_ms(c)) == HALQA_OK &&
	    (out.num_steps > 0 || out.skipped)) {
		send_steps(c, &out);
	}
	if (++c->ticks >= AGENDA_EVERY_S) {
		c->ticks = 0;
		run_agenda(c);
	}
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void close_handle(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h)) {
		uv_close(h, close_cb);
	}
}

static void begin_quit(struct chat *c)
{
	if (c->quitting) {
		return;
	}
	c->quitting = true;
	if (c->live) {
		engine_live_stop(c->engine);
		c->live = false;
	}
	/* Handles never initialised are still zero (calloc): close_handle skips them. */
	close_handle((uv_handle_t *)&c->tick);
	close_handle((uv_handle_t *)&c->defer);
	close_handle((uv_handle_t *)&c->sig_int);
	close_handle((uv_handle_t *)&c->sig_term);
	close_handle((uv_handle_t *)&c->sig_hup);
	close_handle((uv_handle_t *)&c->sig_winch);
	if (c->input == INPUT_TTY && c->tty.loop != NULL) {
		uv_read_stop((uv_stream_t *)&c->tty);
		if (c->le != NULL && lineedit_finish(c->le) == HALQA_OK) {
			flush_editor(c);
		}
		/* bracketed paste off, then the cooked mode back */
		write_all((const uint8_t *)"\x1b[?2004l", 8);
		(void)uv_tty_set_mode(&c->tty, UV_TTY_MODE_NORMAL);
		(void)uv_tty_reset_mode();
		close_handle((uv_handle_t *)&c->tty);
	} else if (c->input == INPUT_PIPE && c->pipe.loop != NULL) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		close_handle((uv_handle_t *)&c->pipe);
	} else if (c->input == INPUT_FILE && c->input_open) {
		(void)uv_cancel((uv_req_t *)&c->fs_req);
	}
	/*
	 * The engine's own handles (its connection, its reconnect timer) keep
	 * the loop alive: stop it here, engine_free then closes them.
	 */
	uv_stop(&c->loop);
}

static int setup_input(struct chat *c)
{
	uv_handle_type t = uv_guess_handle(STDIN_FILENO);
	struct winsize ws;
	int cols = 80, rows = 24;
	char prompt[STORE_MAX_NAME + 8];

	if (t == UV_TTY && isatty(STDOUT_FILENO)) {
		if (uv_tty_init(&c->loop, &c->tty, STDIN_FILENO, 1) != 0) {
			return HALQA_ERR_IO;
		}
		c->input = INPUT_TTY;
		c->tty.data = c;
		/*
		 * Informational log lines would land in the middle of the line
		 * being typed; the chat shows the same states (offline, back) itself.
		 */
		halqa_log_set_level(HALQA_LOG_WARN);
		if (uv_tty_get_winsize(&c->tty, &cols, &rows) != 0 || cols <= 0) {
			cols = 80;
		}
		c->cols = (unsigned)cols;
		snprintf(prompt, sizeof prompt, "%s> ", c->circle.name);
		if (lineedit_new(&c->le, prompt, (unsigned)cols) != HALQA_OK ||
		    uv_tty_set_mode(&c->tty, UV_TTY_MODE_RAW) != 0) {
			return HALQA_ERR_IO;
		}
		write_all((const uint8_t *)"\x1b[?2004h", 8);
		if (lineedit_redraw(c->le) == HALQA_OK) {
			flush_editor(c);
		}
		return uv_read_start((uv_stream_t *)&c->tty, on_alloc, on_read) == 0 ? HALQA_OK
		                                                                     : HALQA_ERR_IO;
	}
	if ((c->pipe_line = malloc(PIPE_LINE_MAX + 1)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	/* Input from a script, output to a terminal: still wrapped to its width. */
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		c->cols = ws.ws_col;
	}
	if (t == UV_NAMED_PIPE || t == UV_TCP || t == UV_TTY) {
		if (uv_pipe_init(&c->loop, &c->pipe, 0) != 0) {
			return HALQA_ERR_IO;
		}
		c->input = INPUT_PIPE;
		c->pipe.data = c;
		if (uv_pipe_open(&c->pipe, STDIN_FILENO) != 0 ||
		    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
			return HALQA_ERR_IO;
		}
		return HALQA_OK;
	}
	if (t == UV_FILE) {
		uv_buf_t b = uv_buf_init(c->fs_buf, sizeof c->fs_buf);
		c->input = INPUT_FILE;
		c->fs_req.data = c;
		if (uv_fs_read(&c->loop, &c->fs_req, STDIN_FILENO, &b, 1, 0, on_fs_read) != 0) {
			return HALQA_ERR_IO;
		}
		c->input_open = true;
		return HALQA_OK;
	}
	return HALQA_ERR_IO;
}

static int setup_handles(struct chat *c)
{
	if (uv_timer_init(&c->loop, &c->tick) != 0 || uv_timer_init(&c->loop, &c->defer) != 0 ||
	    uv_signal_init(&c->loop, &c->sig_int) != 0 ||
	    uv_signal_init(&c->loop, &c->sig_term) != 0 ||
	    uv_signal_init(&c->loop, &c->sig_hup) != 0 ||
	    uv_signal_init(&c->loop, &c->sig_winch) != 0) {
		return HALQA_ERR_IO;
	}
	c->defer.data = c->tick.data = c->sig_int.data = c->sig_term.data = c->sig_hup.data =
	    c->sig_winch.data = c;
	if (uv_signal_start(&c->sig_int, on_signal, SIGINT) != 0 ||
	    uv_signal_start(&c->sig_term, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&c->sig_hup, on_signal, SIGHUP) != 0 ||
	    uv_signal_start(&c->sig_winch, on_signal, SIGWINCH) != 0 ||
	    uv_timer_start(&c->tick, on_tick, 1000, 1000) != 0) {
		return HALQA_ERR_IO;
	}
	return HALQA_OK;
}

/*
 * load_relay_timeout applies HALQA_RELAY_TIMEOUT_MS, as the other commands
 * do (cli_engine.c): how long a relay request may take before the relay
 * counts as unreachable. Anything but 1..600000 is ignored.
 */
static void load_relay_timeout(struct chat *c)
{
	const char *env = getenv("HALQA_RELAY_TIMEOUT_MS");
	unsigned long t;

	if (env != NULL && (t = parse_count(env, 600000)) != 0) {
		engine_set_timeout(c->engine, (unsigned)t);
	}
}

static void load_timeout_setting(struct chat *c)
{
	char v[16];
	unsigned long t;

	c->checkin_timeout_s = CHECKIN_DEFAULT_TIMEOUT_S;
	if (store_setting_get(c->store, CHAT_SETTING_TIMEOUT, v, sizeof v) != HALQA_OK) {
		return;
	}
	if (strcmp(v, "0") == 0) {
		c->checkin_timeout_s = 0;
	} else if ((t = parse_count(v, SESSION_TURN_TIMEOUT_MAX)) != 0) {
		c->checkin_timeout_s = (uint16_t)t;
	}
}

static void show_opening(struct chat *c, const struct engine_sync_report *rep)
{
	struct store_message_list l = {0};

	show(c, "Circle %s: %zu member%s. /help lists the commands.", c->circle.name,
	     c->num_members, c->num_members == 1 ? "" : "s");
	warn_unverified(c);
	if (store_message_list_after(c->store, c->circle.circle_id, 0, CHAT_BACKLOG, 1, &l) ==
	    HALQA_OK) {
		show_list(c, &l);
		if (l.num > 0) {
			mark_read(c, l.items[l.num - 1].seq);
		}
	}
	store_message_list_free(&l);
	if (c->ck.active) {
		show(c, "-- A check-in round is open%s%s%s.",
		     c->ck.question[0] != '\0' ? ": \"" : "", c->ck.question,
		     c->ck.question[0] != '\0' ? "\"" : "");
		cmd_turn(c);
	}
	if (rep->offline) {
		show(c, "-- Offline, reconnecting. What you type waits in the outbox.");
		c->offline_shown = true;
		set_offline(c, true);
	}
}

static int fail(struct chat *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct chat *c, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, c->why_len, fmt, ap);
	va_end(ap);
	return rc;
}

int chat_run(struct store *store, const struct identity *id, const char *circle, char *why,
             size_t why_len)
{
	struct chat *c;
	struct engine_sync_report rep;
	int rc;

	if (why_len > 0) {
		why[0] = '\0';
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(why, why_len, "out of memory");
		return HALQA_ERR_NOMEM;
	}
	c->store = store;
	c->id = id;
	c->why = why;
	c->why_len = why_len;
	memcpy(c->self, id->sign_pub, ENGINE_KEY_LEN);
	checkin_init(&c->ck);
	load_timeout_setting(c);
	if (uv_loop_init(&c->loop) != 0) {
		free(c);
		snprintf(why, why_len, "cannot start the event loop");
		return HALQA_ERR_IO;
	}
	if ((rc = engine_new(&c->engine, store, id, &c->loop)) != HALQA_OK) {
		rc = fail(c, rc, "cannot start the engine: %s", halqa_strerror(rc));
		goto out;
	}
	load_relay_timeout(c);
	if ((rc = engine_circle_find(c->engine, circle, &c->circle)) != HALQA_OK) {
		rc = fail(c, rc, "no circle of that name (halqa circle list shows yours)");
		goto out;
	}
	/*
	 * Catch up first, quietly: the backlog is shown from the store below,
	 * but session payloads and check-in steps are applied as they come.
	 */
	memset(&rep, 0, sizeof rep);
	c->catching_up = true;
	/* The session handler first, as for every command that syncs; then ours. */
	sessions_event_attach(&c->se, store, c->engine);
	c->se.next = on_event;
	c->se.next_arg = c;
	rc = engine_sync(c->engine, &rep);
	c->catching_up = false;
	if (rc != HALQA_OK) {
		rc = fail(c, rc, "%s",
		          engine_last_error(c->engine)[0] != '\0' ? engine_last_error(c->engine)
		                                                  : halqa_strerror(rc));
		goto out;
	}
	if ((rc = refresh_members(c)) != HALQA_OK) {
		rc = fail(c, rc, "cannot read the circle: %s", halqa_strerror(rc));
		goto out;
	}
	show_opening(c, &rep);
	/* Reminders due now show with the opening, before anything typed is read. */
	run_agenda(c);
	if ((rc = setup_handles(c)) != HALQA_OK || (rc = setup_input(c)) != HALQA_OK) {
		rc = fail(c, rc, "cannot use standard input (a terminal, a pipe or a file)");
		begin_quit(c);
		(void)uv_run(&c->loop, UV_RUN_DEFAULT);
		goto out;
	}
	if ((rc = engine_live(c->engine, c->circle.name)) != HALQA_OK) {
		rc = fail(c, rc, "cannot listen to the relay: %s", engine_last_error(c->engine));
		begin_quit(c);
		(void)uv_run(&c->loop, UV_RUN_DEFAULT);
		goto out;
	}
	c->live = true;
	(void)uv_run(&c->loop, UV_RUN_DEFAULT);
	rc = c->rc;
out:
	if (!c->quitting) {
		begin_quit(c);
	}
	if (c->engine != NULL) {
		engine_set_event_cb(c->engine, NULL, NULL);
		engine_free(c->engine);
	}
	(void)uv_run(&c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&c->loop) != 0) {
		/* A handle still open is a bug of ours, not a reason to crash on exit. */
		(void)uv_run(&c->loop, UV_RUN_NOWAIT);
		(void)uv_loop_close(&c->loop);
	}
	lineedit_free(c->le);
	if (c->pipe_line != NULL) {
		sodium_memzero(c->pipe_line, PIPE_LINE_MAX + 1);
		free(c->pipe_line);
	}
	checkin_cleanup(&c->ck);
	free(c->members);
	sodium_memzero(c, sizeof *c);
	free(c);
	return rc;
}
