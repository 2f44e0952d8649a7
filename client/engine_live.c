/*
 * engine_live.c: live mode (engine_live) on the caller's loop.
 *
 * The relay connection runs on the engine's own loop, so every engine
 * operation can block on net_call without running the caller's loop from
 * inside one of its callbacks. Live mode embeds our loop in the caller's:
 * a uv_poll_t watches our loop's backend descriptor (readable when any of
 * our handles has an event) and a uv_timer_t wakes up for our loop's next
 * timeout; each wake-up runs our loop once without blocking, then acts on
 * what it brought: a DELIVER push makes us read that circle from our
 * cursor (the push is only a hint; the message is fetched with our
 * capability and processed in order, so a relay cannot slip a message in
 * out of turn); a reconnect makes us LISTEN again and flush the outbox;
 * an epoch change (a commit) makes us LISTEN with the new capability,
 * since the relay drops a closed epoch's listeners. Failures are retried
 * with an exponential backoff.
 *
 * A relay outage must never freeze the caller's loop. Once the net has
 * reported the drop (engine_relay_down), a turn tries nothing: pushes
 * that were waiting are let go (the reconnect reads every live circle
 * anyway), and engine_send only queues in the outbox, which the reconnect
 * flushes. A drop in the middle of a turn's request does not wait out the
 * request's timeout either: the net fails what is in flight at once
 * (net.h), and the rest of the turn tries nothing.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "engine_internal.h"
#include "halqa/log.h"
#include "halqa/mls_group.h"

#define LIVE_BACKOFF_MIN_MS 250
#define LIVE_BACKOFF_MAX_MS 30000
#define LIVE_MAX_PUSH_ROUNDS 64

/* mono_ms is a monotonic clock in ms for the backoff (a test's injected clock may stand still). */
static int64_t mono_ms(void)
{
	return (int64_t)(uv_hrtime() / 1000000);
}

static bool live_wants(const struct engine *e, const uint8_t id[ENGINE_ID_LEN])
{
	return e->live_all || sodium_memcmp(e->live_circle, id, ENGINE_ID_LEN) == 0;
}

/*
 * listen_one sends LISTEN for circle |row| with its current capability,
 * from the group our own save put in the store (mls_group_load_own).
 */
static int listen_one(struct engine *e, const struct store_circle *row)
{
	struct wire_msg *req;
	uint8_t *state = NULL;
	size_t state_len = 0;
	struct mls_group *g = NULL;
	int r;

	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	wire_msg_init(req, WIRE_LISTEN, 0);
	memcpy(req->u.listen.circle_id, row->circle_id, WIRE_ID_LEN);
	if ((r = store_circle_state_get(e->store, row->circle_id, &state, &state_len)) !=
		    HALQA_OK ||
	    (r = mls_group_load_own(&g, state, state_len, NULL)) != HALQA_OK ||
	    (r = mls_group_export(g, "halqa relay capability", row->circle_id, ENGINE_ID_LEN,
				  req->u.listen.cap, WIRE_CAP_LEN)) != HALQA_OK) {
		goto out;
	}
	if ((r = engine_connect(e)) == HALQA_OK) {
		wire_msg_cleanup(e->reply);
		r = net_call(e->net, req, e->reply, e->timeout_ms);
		e->relay_refused = r != HALQA_OK && e->reply->type == WIRE_ERR;
	}
	/* A closed epoch (stale) means a commit is waiting for us: read it, then listen again. */
out:
	mls_group_free(g);
	store_secret_free(state, state_len);
	wire_msg_cleanup(req);
	free(req);
	return r;
}

int engine_listen_all(struct engine *e)
{
	struct store_circle *circles = NULL;
	struct engine_sync_report rep;
	size_t num = 0;
	int r, first = HALQA_OK;

	if ((r = store_circle_list(e->store, &circles, &num)) != HALQA_OK) {
		return r;
	}
	/*
	 * An error the relay answers for one circle (`not-found`, `internal`)
	 * does not keep the others from being listened to; an unreachable
	 * relay ends the round (the rest would only wait out the timeout).
	 * The first failure is returned, so the round is tried again.
	 */
	for (size_t i = 0; i < num; i++) {
		if (!live_wants(e, circles[i].circle_id) ||
		    (circles[i].flags &
		     (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
			continue;
		}
		/* LISTEN first, then read: nothing sent in between is missed. */
		r = listen_one(e, &circles[i]);
		memset(&rep, 0, sizeof rep);
		if (r == HALQA_OK || r == HALQA_ERR_STALE) {
			int sr = engine_sync_one(e, circles[i].circle_id, &rep);

			if (r == HALQA_ERR_STALE && sr == HALQA_OK) {
				r = listen_one(e, &circles[i]);
			} else {
				r = sr;
			}
		}
		if (r != HALQA_OK && first == HALQA_OK) {
			first = r;
		}
		if (r == HALQA_ERR_NETWORK && !e->relay_refused) {
			break;
		}
	}
	free(circles);
	return first;
}

static void live_schedule(struct engine *e, int64_t ms);

/*
 * live_connection turns what the net reported (on our loop, possibly
 * inside a request of this turn) into ONLINE and OFFLINE events.
 */
static void live_connection(struct engine *e)
{
	struct engine_event ev;

	if (e->disconnected_event) {
		e->disconnected_event = false;
		if (e->online_shown) {
			e->online_shown = false;
			memset(&ev, 0, sizeof ev);
			ev.type = ENGINE_EVENT_OFFLINE;
			(void)engine_emit(e, &ev);
		}
	}
	if (e->connected_event) {
		e->connected_event = false;
		e->live_dirty = true;
		/* Back and gone again within one run of our loop: still offline. */
		if (!e->online_shown && !engine_relay_down(e)) {
			e->online_shown = true;
			memset(&ev, 0, sizeof ev);
			ev.type = ENGINE_EVENT_ONLINE;
			(void)engine_emit(e, &ev);
		}
	}
}

/* live_turn runs our loop once and acts on what it brought. */
static void live_turn(struct engine *e)
{
	struct engine_push *p, *next;
	struct engine_sync_report rep;
	struct store_circle row;
	int r = HALQA_OK;

	if (e->in_live_turn || !e->live) {
		return;
	}
	e->in_live_turn = true;
	uv_run(&e->own_loop, UV_RUN_NOWAIT);
	live_connection(e);
	/*
	 * While the relay is known to be down, nothing is tried: every
	 * request would block the caller's loop for the whole timeout. The
	 * handshake that brings it back makes the turn that LISTENs and
	 * flushes.
	 */
	if (e->live_dirty && !engine_relay_down(e) && mono_ms() >= e->live_retry_at) {
		r = engine_listen_all(e);
		if (r == HALQA_OK) {
			e->live_dirty = false;
			e->live_backoff_ms = 0;
		} else {
			e->live_backoff_ms = e->live_backoff_ms == 0 ? LIVE_BACKOFF_MIN_MS
								     : e->live_backoff_ms * 2;
			if (e->live_backoff_ms > LIVE_BACKOFF_MAX_MS) {
				e->live_backoff_ms = LIVE_BACKOFF_MAX_MS;
			}
			e->live_retry_at = mono_ms() + e->live_backoff_ms;
			halqa_log(HALQA_LOG_INFO, "engine", "live: %s; retrying",
				  halqa_strerror(r));
		}
	}
	for (int round = 0; round < LIVE_MAX_PUSH_ROUNDS && e->pushes != NULL; round++) {
		p = e->pushes;
		e->pushes = NULL;
		e->pushes_tail = &e->pushes;
		e->num_pushes = 0;
		for (; p != NULL; p = next) {
			next = p->next;
			/*
			 * A push that came before the connection dropped (or
			 * that we learned of while reading the previous one)
			 * is not read now: the read would only fail. The
			 * reconnect reads every live circle (live_dirty).
			 */
			if (engine_relay_down(e)) {
				e->live_dirty = true;
				free(p);
				continue;
			}
			/* Pushes of one circle in a row need one read. */
			if (live_wants(e, p->circle_id) &&
			    store_circle_get_by_id(e->store, p->circle_id, &row) == HALQA_OK &&
			    (next == NULL ||
			     sodium_memcmp(next->circle_id, p->circle_id, ENGINE_ID_LEN) != 0)) {
				memset(&rep, 0, sizeof rep);
				r = engine_sync_one(e, p->circle_id, &rep);
				if (r == HALQA_OK &&
				    store_circle_get_by_id(e->store, p->circle_id, &row) == HALQA_OK &&
				    !(row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED |
						   STORE_CIRCLE_LEFT))) {
					/* A commit closed the pushed epoch: listen on the new one. */
					r = listen_one(e, &row);
					if (r == HALQA_ERR_STALE) {
						e->live_dirty = true;
					}
				}
				if (r == HALQA_ERR_NETWORK) {
					e->live_dirty = true;
				}
			}
			free(p);
		}
		uv_run(&e->own_loop, UV_RUN_NOWAIT);
	}
	/* A drop noticed inside this turn's requests is shown now, not at the next wake-up. */
	live_connection(e);
	e->in_live_turn = false;
	live_schedule(e, e->live_dirty && !engine_relay_down(e) ? (int64_t)e->live_backoff_ms : -1);
}

static void on_live_poll(uv_poll_t *h, int status, int events)
{
	struct engine_live_handles *lh = h->data;

	(void)status;
	(void)events;
	if (lh->e != NULL) {
		live_turn(lh->e);
	}
}

static void on_live_timer(uv_timer_t *h)
{
	struct engine_live_handles *lh = h->data;

	if (lh->e != NULL) {
		live_turn(lh->e);
	}
}

/* live_schedule arms the timer for our loop's next timeout, or |ms| if sooner. */
static void live_schedule(struct engine *e, int64_t ms)
{
	int t = uv_backend_timeout(&e->own_loop);
	int64_t when = t < 0 ? -1 : t;

	if (e->lh == NULL) {
		return;
	}
	if (ms >= 0 && (when < 0 || ms < when)) {
		when = ms;
	}
	if (when < 0) {
		/* Nothing timed in our loop: still look now and then (pushes ride on the fd). */
		when = 1000;
	}
	uv_timer_start(&e->lh->timer, on_live_timer, (uint64_t)when, 0);
}

static void on_live_close(uv_handle_t *h)
{
	struct engine_live_handles *lh = h->data;

	if (--lh->open == 0) {
		free(lh);
	}
}

int engine_live(struct engine *e, const char *circle)
{
	struct store_circle row;
	struct engine_live_handles *lh;
	int r;

	if (e->live) {
		engine_live_stop(e);
	}
	if (circle != NULL) {
		if ((r = engine_circle_find(e, circle, &row)) != HALQA_OK) {
			return r;
		}
		memcpy(e->live_circle, row.circle_id, ENGINE_ID_LEN);
		e->live_all = false;
	} else {
		e->live_all = true;
	}
	if ((r = engine_connect(e)) != HALQA_OK) {
		return r;
	}
	if (e->lh == NULL) {
		if ((lh = calloc(1, sizeof *lh)) == NULL) {
			return HALQA_ERR_NOMEM;
		}
		if (uv_timer_init(e->loop, &lh->timer) != 0) {
			free(lh);
			return HALQA_ERR_NOMEM;
		}
		lh->timer.data = lh;
		lh->open = 1;
		if (uv_poll_init(e->loop, &lh->poll, uv_backend_fd(&e->own_loop)) != 0) {
			uv_close((uv_handle_t *)&lh->timer, on_live_close);
			return engine_seterr(e, HALQA_ERR_INTERNAL, "cannot watch the connection");
		}
		lh->poll.data = lh;
		lh->open = 2;
		lh->e = e;
		e->lh = lh;
	}
	e->live = true;
	/* Until the first handshake, the relay counts as down (engine_relay_down). */
	e->relay_down = !net_connected(e->net);
	e->live_dirty = true;
	e->live_retry_at = 0;
	e->live_backoff_ms = 0;
	if (uv_poll_start(&e->lh->poll, UV_READABLE, on_live_poll) != 0) {
		e->live = false;
		return engine_seterr(e, HALQA_ERR_INTERNAL, "cannot watch the connection");
	}
	/* The first turn comes from the caller's loop, never from inside this call. */
	live_schedule(e, 0);
	return HALQA_OK;
}

void engine_live_stop(struct engine *e)
{
	struct engine_push *p;

	e->live = false;
	if (e->lh != NULL) {
		uv_poll_stop(&e->lh->poll);
		uv_timer_stop(&e->lh->timer);
	}
	while ((p = e->pushes) != NULL) {
		e->pushes = p->next;
		free(p);
	}
	e->pushes_tail = &e->pushes;
	e->num_pushes = 0;
}

void engine_live_close(struct engine *e)
{
	struct engine_live_handles *lh = e->lh;

	engine_live_stop(e);
	if (lh == NULL) {
		return;
	}
	lh->e = NULL;
	e->lh = NULL;
	uv_close((uv_handle_t *)&lh->poll, on_live_close);
	uv_close((uv_handle_t *)&lh->timer, on_live_close);
}
