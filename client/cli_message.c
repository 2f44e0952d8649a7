/*
 * cli_message.c: send, read and search.
 *
 * What is sent is checked before the profile is even opened: strict UTF-8,
 * no control character but newline and tab, not empty, at most
 * SESSION_CHAT_MAX bytes; a refused message touches nothing. What is shown
 * came from other members, so every body and name goes through
 * term_sanitize: a member must never be able to drive another member's
 * terminal (move the cursor, rewrite earlier lines, set the title, write
 * the clipboard, reorder text with bidi overrides). Bodies keep their
 * newlines, each continuation line indented under its header. Arabic,
 * Hebrew and mixed text pass unchanged in logical order, for the terminal's
 * own bidi rendering; the header (time, sender) comes first on its line,
 * so a right-to-left body cannot pull it out of place.
 */
#include "halqa/cli_engine.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "halqa/checkin_log.h"
#include "halqa/session.h"
#include "halqa/sessions.h"
#include "halqa/term.h"

/* Messages fetched from the store per page while reading a long backlog. */
#define READ_PAGE    1000
#define MAX_LAST     1000000
#define SEARCH_LIMIT 100
/* 2100-01-01 in ms: a sender's clock beyond this is shown as unknown. */
#define MAX_SANE_MS INT64_C(4102444800000)

/* text_error says why |text| cannot be sent, or NULL if it can. */
static const char *text_error(const char *text, size_t len)
{
	if (len == 0) {
		return "an empty message; nothing was sent";
	}
	if (len > SESSION_CHAT_MAX) {
		return "the message is longer than 16000 bytes; nothing was sent";
	}
	if (memchr(text, '\0', len) != NULL || !session_utf8_valid(text, len, 1)) {
		return "the message is not UTF-8 text (or holds control characters); nothing was "
		       "sent";
	}
	return NULL;
}

/*
 * read_stdin reads the whole of standard input, at most SESSION_CHAT_MAX + 1
 * bytes, into |buf|; one trailing newline is dropped, as `echo` and
 * editors add it. Input that does not fit gives |*out_len| = SIZE_MAX.
 */
static int read_stdin(char *buf, size_t cap, size_t *out_len)
{
	size_t len = 0, n;

	*out_len = 0;
	char extra;

	while (len < cap && (n = fread(buf + len, 1, cap - len, stdin)) > 0) {
		len += n;
	}
	if (len == cap && fread(&extra, 1, 1, stdin) == 1) {
		*out_len = SIZE_MAX; /* more than fits: too long, whatever it ends with */
		return 0;
	}
	if (ferror(stdin)) {
		return cli_fail("cannot read the message from standard input");
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r') {
			len--;
		}
	}
	*out_len = len;
	return 0;
}

/*
 * keep_read moves the read marker past our own message |msg_id| just sent
 * when nothing before it was unread: what we wrote ourselves is not news
 * to us. Messages of others that the same command's sync stored after it
 * stay unread. Failing to is harmless (the message then counts as
 * unread), and so is losing it in a crash: the commit does not wait for
 * the disk, the close makes it durable.
 */
static void keep_read(struct cli_ctx *c, const uint8_t circle_id[ENGINE_ID_LEN],
		      const uint8_t msg_id[ENGINE_ID_LEN])
{
	struct store_message_list list;
	struct store_circle sc;
	int saved = -1;

	memset(&list, 0, sizeof list);
	if (store_circle_get_by_id(c->store, circle_id, &sc) == HALQA_OK &&
	    store_message_list_after(c->store, circle_id, sc.read_marker, 1, 0, &list) ==
		HALQA_OK &&
	    list.num == 1 && sodium_memcmp(list.items[0].msg_id, msg_id, ENGINE_ID_LEN) == 0) {
		(void)store_sync_relax(c->store, &saved);
		if (store_message_mark_read(c->store, circle_id, list.items[0].seq) != HALQA_OK) {
			/* Harmless: the message only stays counted as unread. */
		}
		if (store_sync_restore(c->store, saved) != HALQA_OK) {
			/* The store now refuses writes; the command fails at its end (cli.c). */
		}
	}
	store_message_list_free(&list);
}

/*
 * cli_cmd_send sends with the sync every command runs first, in one go
 * (engine_send_with_sync): the message is queued and its SEND on the wire
 * while the sync's first requests are answered, where sync then send took
 * three round trips one after another.
 */
int cli_cmd_send(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct session_message *msg = NULL;
	struct store_circle sc;
	uint8_t msg_id[ENGINE_ID_LEN];
	const char *why;
	bool found;
	size_t len = 0;
	bool sent = false;
	int r, rc = 1;

	if (argc < 1 || argv[0][0] == '-') {
		return cli_usage();
	}
	if ((msg = calloc(1, sizeof *msg)) == NULL) {
		return cli_fail("out of memory");
	}
	msg->kind = SESSION_KIND_CHAT;
	if (argc == 1 || (argc == 2 && strcmp(argv[1], "-") == 0)) {
		if (read_stdin(msg->u.chat.text, SESSION_CHAT_MAX + 1, &len) != 0) {
			goto out;
		}
	} else {
		/* Unquoted words are joined with single spaces, as they were typed. */
		for (int i = 1; i < argc; i++) {
			size_t n = strlen(argv[i]);
			if (len + n + (i > 1) > SESSION_CHAT_MAX) {
				len = SESSION_CHAT_MAX + 1;
				break;
			}
			if (i > 1) {
				msg->u.chat.text[len++] = ' ';
			}
			memcpy(msg->u.chat.text + len, argv[i], n);
			len += n;
		}
	}
	if ((why = text_error(msg->u.chat.text, len)) != NULL) {
		rc = cli_fail("%s", why);
		goto out;
	}
	msg->u.chat.text[len] = '\0';
	if ((rc = cli_engine_open(c, &ce, 0)) != 0) {
		cli_engine_close(&ce);
		goto out;
	}
	if ((r = engine_send_with_sync(ce.e, argv[0], msg)) != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot send", r);
		cli_engine_close(&ce);
		goto out;
	}
	(void)cli_engine_first_sync(&ce, 0);
	found = engine_circle_find(ce.e, argv[0], &sc) == HALQA_OK;
	if (found && cli_engine_state(&sc)[0] == '\0') {
		cli_engine_warn_unverified(c, &ce, argv[0]);
	}
	r = engine_send_outcome(ce.e, msg_id, &sent);
	if (r == HALQA_OK && found) {
		keep_read(c, sc.circle_id, msg_id);
	}
	if (r != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot send", r);
	} else if (sent) {
		printf("Sent to ");
		cli_put_text(stdout, argv[0]);
		printf(".\n");
	} else {
		printf("Queued for ");
		cli_put_text(stdout, argv[0]);
		printf(": the relay cannot be reached; the message waits in the outbox and goes "
		       "out, once, on the next sync.\n");
	}
	cli_engine_close(&ce);
out:
	if (msg != NULL) {
		sodium_memzero(msg, sizeof *msg);
		free(msg);
	}
	return rc;
}

/* format_time writes |ms| (Unix milliseconds) as local "YYYY-MM-DD HH:MM". */
static void format_time(char out[32], int64_t ms)
{
	struct tm tm;
	time_t t;

	if (ms < 0 || ms > MAX_SANE_MS) {
		snprintf(out, 32, "(unknown time)  ");
		return;
	}
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0) {
		snprintf(out, 32, "(unknown time)  ");
	}
}

/* put_body prints a sanitized body, continuation lines indented by |indent|. */
static void put_body(FILE *f, const char *body, int indent)
{
	char *safe = NULL;
	size_t len = 0;

	if (term_sanitize(&safe, &len, body, strlen(body), TERM_NEWLINES) != HALQA_OK) {
		fputs("(unprintable)", f);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		fputc(safe[i], f);
		if (safe[i] == '\n') {
			fprintf(f, "%*s", indent, "");
		}
	}
	free(safe);
}

struct show {
	struct cli_ctx *c;
	int json;
	int color;
	size_t shown;
	int64_t max_seq;
};

/*
 * is_notice: a line this client wrote itself (sessions.h: "the session's
 * messages were cleared"), told by its flag and all-zero sender; no member
 * can send one, as every received message has a member's key as sender.
 */
static int is_notice(const struct store_message *m)
{
	static const uint8_t zero[STORE_PUB_LEN];

	return (m->flags & SESSIONS_MSG_NOTICE) != 0 &&
	       sodium_memcmp(m->sender, zero, STORE_PUB_LEN) == 0;
}

/* show_notice prints a notice as a system line ("-- text --"), in JSON with "system":true. */
static void show_notice(struct show *s, const struct store_message *m, const char *circle)
{
	char when[32];

	if (s->json) {
		printf("%s{", s->shown ? "," : "");
		if (circle != NULL) {
			printf("\"circle\":");
			cli_json_string(stdout, circle);
			printf(",");
		}
		printf("\"seq\":%lld,\"system\":true,\"sender\":null,\"sent_at\":%lld,"
		       "\"received_at\":%lld,\"text\":",
		       (long long)m->seq, (long long)m->sent_at, (long long)m->received_at);
		cli_json_string(stdout, m->body);
		printf("}");
		s->shown++;
		return;
	}
	format_time(when, m->sent_at);
	printf("%s  ", when);
	if (circle != NULL) {
		cli_put_text(stdout, circle);
		printf(" | ");
	}
	printf("-- ");
	put_body(stdout, m->body, 4);
	printf(" --\n");
	s->shown++;
}

/*
 * show_message prints one message, with its circle's name if |circle| is
 * not NULL; |round| (NULL: none) is the check-in round it answers: the
 * line is indented under the round's heading, and --json gets "round".
 */
static void show_message(struct show *s, const struct store_message *m, const char *circle,
                         const struct checkin_log_round *round)
{
	char label[CLI_ENGINE_LABEL_LEN], when[32], hex[2 * ENGINE_ID_LEN + 1];
	char fp[SAFETY_FP_STR_LEN], rhex[2 * SESSION_ROUND_ID_LEN + 1];
	int known = cli_engine_label(s->c, label, m->sender);
	int self = strcmp(label, "you") == 0 && known;

	if (m->seq > s->max_seq) {
		s->max_seq = m->seq;
	}
	if (is_notice(m)) {
		show_notice(s, m, circle);
		return;
	}
	if (s->json) {
		cli_engine_hex(hex, m->msg_id, ENGINE_ID_LEN);
		safety_fingerprint(fp, m->sender);
		printf("%s{", s->shown ? "," : "");
		if (circle != NULL) {
			printf("\"circle\":");
			cli_json_string(stdout, circle);
			printf(",");
		}
		printf("\"seq\":%lld,\"id\":\"%s\",", (long long)m->seq, hex);
		if (round != NULL) {
			cli_engine_hex(rhex, round->round_id, SESSION_ROUND_ID_LEN);
			printf("\"round\":{\"id\":\"%s\",\"question\":", rhex);
			if (round->known) {
				cli_json_string(stdout, round->question);
			} else {
				printf("null");
			}
			printf("},");
		}
		printf("\"sender\":");
		if (known) {
			cli_json_string(stdout, self ? s->c->name : label);
		} else {
			printf("null");
		}
		printf(",\"fingerprint\":\"%s\",\"self\":%s,\"sent_at\":%lld,\"received_at\":%lld,"
		       "\"text\":",
		       fp, self ? "true" : "false", (long long)m->sent_at,
		       (long long)m->received_at);
		cli_json_string(stdout, m->body);
		printf("}");
		s->shown++;
		return;
	}
	format_time(when, m->sent_at);
	printf("%s%s  ", round != NULL ? "  " : "", when);
	if (circle != NULL) {
		cli_put_text(stdout, circle);
		printf(" | ");
	}
	if (s->color) {
		fputs(self ? "\033[1;32m" : known ? "\033[1m" : "\033[1;33m", stdout);
	}
	cli_put_text(stdout, label);
	if (s->color) {
		fputs("\033[0m", stdout);
	}
	printf(": ");
	put_body(stdout, m->body, round != NULL ? 6 : 4);
	printf("\n");
	s->shown++;
}

/* show_round_heading prints the line a round's answers are grouped under (not in --json). */
static void show_round_heading(struct show *s, const struct checkin_log_round *round)
{
	char label[CLI_ENGINE_LABEL_LEN];

	if (s->json) {
		return;
	}
	printf("-- check-in");
	if (round->known && round->question[0] != '\0') {
		printf(": ");
		put_body(stdout, round->question, 4);
	}
	if (round->known) {
		(void)cli_engine_label(s->c, label, round->opener);
		printf(" (asked by ");
		cli_put_text(stdout, label);
		printf(")");
	}
	printf(" --\n");
}

/*
 * show_page prints a page of circle |circle_id|'s history in order, except
 * that check-in answers are grouped: the first answer of a round brings
 * its heading and every later answer of that round on the page with it.
 * Without memory for the grouping the page is printed in plain order.
 */
static void show_page(struct show *s, const uint8_t circle_id[STORE_ID_LEN],
                      const struct store_message_list *list)
{
	struct checkin_log_round *rounds = NULL;
	bool *tagged = NULL, *done = NULL;
	size_t i, j;

	if (list->num > 0 && ((rounds = calloc(list->num, sizeof *rounds)) == NULL ||
	                      (tagged = calloc(list->num, sizeof *tagged)) == NULL ||
	                      (done = calloc(list->num, sizeof *done)) == NULL)) {
		for (i = 0; i < list->num; i++) {
			show_message(s, &list->items[i], NULL, NULL);
		}
		goto out;
	}
	for (i = 0; i < list->num; i++) {
		tagged[i] = checkin_log_get(s->c->store, circle_id, list->items[i].msg_id,
		                            &rounds[i]) == HALQA_OK;
	}
	for (i = 0; i < list->num; i++) {
		if (done[i]) {
			continue;
		}
		if (!tagged[i]) {
			show_message(s, &list->items[i], NULL, NULL);
			continue;
		}
		show_round_heading(s, &rounds[i]);
		for (j = i; j < list->num; j++) {
			if (tagged[j] && !done[j] &&
			    memcmp(rounds[j].round_id, rounds[i].round_id, SESSION_ROUND_ID_LEN) == 0) {
				show_message(s, &list->items[j], NULL, &rounds[j]);
				done[j] = true;
			}
		}
	}
out:
	free(rounds);
	free(tagged);
	free(done);
}

int cli_cmd_read(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct store_circle sc;
	struct store_message_list list;
	struct show s;
	const char *circle = NULL;
	unsigned long last = 0;
	int all = 0, r, rc = 0;
	int64_t after;
	char *end;

	memset(&s, 0, sizeof s);
	memset(&list, 0, sizeof list);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && !s.json) {
			s.json = 1;
		} else if (strcmp(argv[i], "--all") == 0 && !all) {
			all = 1;
		} else if (strcmp(argv[i], "--last") == 0 && i + 1 < argc && last == 0) {
			last = strtoul(argv[++i], &end, 10);
			if (argv[i][0] < '1' || argv[i][0] > '9' || *end != '\0' ||
			    last > MAX_LAST) {
				return cli_fail("--last wants a number from 1 to %d", MAX_LAST);
			}
		} else if (circle == NULL && argv[i][0] != '-') {
			circle = argv[i];
		} else {
			return cli_usage();
		}
	}
	if (circle == NULL || (all && last > 0)) {
		return cli_usage();
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if ((r = engine_circle_find(ce.e, circle, &sc)) != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot read the circle", r);
		cli_engine_close(&ce);
		return rc;
	}
	cli_engine_note_state(&ce, &sc);
	if (cli_engine_state(&sc)[0] == '\0') {
		cli_engine_warn_unverified(c, &ce, circle);
	}
	s.c = c;
	s.color = !s.json && term_color(STDOUT_FILENO);
	if (s.json) {
		printf("[");
	}
	if (last > 0) {
		r = store_message_list_after(c->store, sc.circle_id, 0, last, 1, &list);
		if (r == HALQA_OK) {
			show_page(&s, sc.circle_id, &list);
		}
		store_message_list_free(&list);
	} else {
		/* Page through a long backlog instead of loading it at once. */
		after = all ? 0 : sc.read_marker;
		do {
			r = store_message_list_after(c->store, sc.circle_id, after, READ_PAGE, 0,
			                             &list);
			if (r == HALQA_OK && list.num > 0) {
				show_page(&s, sc.circle_id, &list);
				after = list.items[list.num - 1].seq;
			}
			r = r == HALQA_OK && list.num == READ_PAGE ? 1 : r;
			store_message_list_free(&list);
		} while (r == 1);
	}
	if (s.json) {
		printf("]\n");
	}
	if (r != HALQA_OK) {
		rc = cli_fail("cannot read the history: %s", halqa_strerror(r));
	} else if (s.max_seq > 0 &&
	           (r = store_message_mark_read(c->store, sc.circle_id, s.max_seq)) != HALQA_OK) {
		rc = cli_fail("cannot mark the messages read: %s", halqa_strerror(r));
	} else if (!s.json && s.shown == 0) {
		printf("No %smessages in ", all || last ? "" : "new ");
		cli_put_text(stdout, sc.name);
		printf(".%s\n",
		       all || last ? "" : " (halqa read CIRCLE --last 20 shows earlier ones)");
	}
	cli_engine_close(&ce);
	return rc;
}

int cli_cmd_search(struct cli_ctx *c, int argc, char **argv)
{
	struct cli_engine ce;
	struct store_circle sc;
	struct store_message_list list;
	struct show s;
	const char *circle = NULL;
	char query[STORE_MAX_QUERY + 2];
	size_t qlen = 0;
	int r, rc;

	memset(&s, 0, sizeof s);
	memset(&list, 0, sizeof list);
	query[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && !s.json) {
			s.json = 1;
		} else if (strcmp(argv[i], "--circle") == 0 && i + 1 < argc && circle == NULL) {
			circle = argv[++i];
		} else if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
			size_t n = strlen(argv[i]);
			if (qlen + n + 1 > STORE_MAX_QUERY) {
				return cli_fail("the query is longer than %d bytes",
				                STORE_MAX_QUERY);
			}
			if (qlen > 0) {
				query[qlen++] = ' ';
			}
			memcpy(query + qlen, argv[i], n);
			qlen += n;
			query[qlen] = '\0';
		} else {
			return cli_usage();
		}
	}
	if (qlen == 0) {
		return cli_usage();
	}
	if (!session_utf8_valid(query, qlen, 0)) {
		return cli_fail("the query is not UTF-8 text");
	}
	if ((rc = cli_engine_open(c, &ce, CLI_ENGINE_SYNC | CLI_ENGINE_LOCAL)) != 0) {
		cli_engine_close(&ce);
		return rc;
	}
	if (circle != NULL && (r = engine_circle_find(ce.e, circle, &sc)) != HALQA_OK) {
		rc = cli_engine_fail(&ce, "cannot search the circle", r);
		cli_engine_close(&ce);
		return rc;
	}
	r = store_message_search(c->store, query, circle != NULL ? sc.circle_id : NULL,
	                         SEARCH_LIMIT, &list);
	if (r == HALQA_ERR_ARG) {
		cli_engine_close(&ce);
		return cli_fail("the query has no word to search for");
	}
	if (r != HALQA_OK) {
		cli_engine_close(&ce);
		return cli_fail("cannot search: %s", halqa_strerror(r));
	}
	s.c = c;
	s.color = !s.json && term_color(STDOUT_FILENO);
	if (s.json) {
		printf("[");
	}
	for (size_t i = 0; i < list.num; i++) {
		struct store_circle mc;
		if (store_circle_get_by_id(c->store, list.items[i].circle_id, &mc) != HALQA_OK) {
			snprintf(mc.name, sizeof mc.name, "?");
		}
		show_message(&s, &list.items[i], mc.name, NULL);
	}
	if (s.json) {
		printf("]\n");
	} else if (list.num == 0) {
		printf("Nothing found.\n");
	} else if (list.num == SEARCH_LIMIT) {
		printf("(the %d newest matches; narrow the search to see others)\n", SEARCH_LIMIT);
	}
	store_message_list_free(&list);
	cli_engine_close(&ce);
	return 0;
}
