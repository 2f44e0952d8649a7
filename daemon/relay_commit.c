/*
 * relay_commit.c: the commit thread, which overlaps a turn's COMMIT (and
 * its fsync) with the loop's sending.
 *
 * Before, the loop thread ran each turn's COMMIT itself, and the turn's
 * replies and pushes could only go out after it. Now the loop hands the
 * COMMIT to one helper thread and, when the thread reports (uv_async_t):
 *   1. receives and handles the requests that arrived meanwhile (their
 *      writes open the next turn);
 *   2. hands that next turn's COMMIT to the thread at once;
 *   3. only then releases the finished turn's output, so its sends (most
 *      of a turn's system calls: ten pushes per message) run beside the
 *      next fsync instead of between two.
 * While a COMMIT runs, the loop stops polling the router: new requests
 * wait inside libzmq (bounded per peer by ZMQ_RCVHWM) and are all taken
 * in step 1, with no wake-up per arriving message; the router is still
 * written to. ZAP requests wait too (they read the spool); they are served
 * right after the COMMIT returned, before the next turn is received, so
 * that handshakes are not starved by a relay that is never idle.
 *
 * What does not change: a reply or push leaves only after the COMMIT of
 * its turn returned (synchronous=FULL, so after the WAL was synced), and
 * a failed COMMIT turns the turn's replies into `internal` errors. Turns
 * still commit one at a time and in order.
 *
 * One connection, one user at a time (the spool's connection is opened
 * SQLITE_OPEN_NOMUTEX). While a COMMIT is with the thread (cm_busy) the
 * loop touches neither the SQLite connection nor the spool structure; the
 * few loop paths that need the spool at once (admin commands, the
 * retention sweep, reload, stop) first wait for the COMMIT with
 * relay_commit_wait. The mutex hand-over orders the thread's writes to the
 * spool before the loop's next use.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/log.h"
#include "relay_int.h"

void relay_turn_flush_charges(struct relay *r)
{
	int rc;

	if (r->dirty == NULL) {
		return;
	}
	/* One counter update per device per turn, inside the turn. A storage
	 * error here fails the turn's commit (spool.h). */
	rc = relay_devices_flush_charges(r, 0);
	if (rc != HALQA_OK) {
		halqa_log(HALQA_LOG_ERROR, "relay", "byte charges of a turn were not stored: %s",
			  halqa_strerror(rc));
	}
}

void relay_commit_failed(struct relay *r, int rc, size_t num_output)
{
	halqa_log(HALQA_LOG_ERROR, "relay",
		  "commit failed (%s): the turn's %zu replies and pushes become errors or fetch "
		  "notices",
		  halqa_strerror(rc), num_output);
	/* Cached quotas counted charges that were rolled back. */
	relay_devices_apply_limits(r);
}

static void *commit_main(void *arg)
{
	struct relay *r = arg;

	pthread_mutex_lock(&r->cm_mu);
	for (;;) {
		while (!r->cm_go && !r->cm_quit) {
			pthread_cond_wait(&r->cm_cv, &r->cm_mu);
		}
		if (!r->cm_go) {
			break;
		}
		r->cm_go = 0;
		pthread_mutex_unlock(&r->cm_mu);
		{
			int rc = spool_commit_turn(r->spool);

			pthread_mutex_lock(&r->cm_mu);
			r->cm_rc = rc;
		}
		r->cm_done = 1;
		pthread_cond_broadcast(&r->cm_cv);
		uv_async_send(&r->cm_async);
	}
	pthread_mutex_unlock(&r->cm_mu);
	return NULL;
}

/*
 * commit_collect takes the finished COMMIT's result (waiting for it if
 * |wait|): returns 1 and sets *out_rc and *out_list (the turn's output, to
 * release) if there was one, 0 if not.
 */
static int commit_collect(struct relay *r, int wait, int *out_rc, struct relay_out **out_list)
{
	int done;

	*out_list = NULL;
	if (!r->cm_busy) {
		return 0;
	}
	pthread_mutex_lock(&r->cm_mu);
	while (wait && !r->cm_done) {
		pthread_cond_wait(&r->cm_cv, &r->cm_mu);
	}
	done = r->cm_done;
	r->cm_done = 0;
	*out_rc = r->cm_rc;
	pthread_mutex_unlock(&r->cm_mu);
	if (!done) {
		return 0;
	}
	r->cm_busy = 0;
	relay_router_hold(r, 0);
	if (*out_rc != HALQA_OK) {
		relay_commit_failed(r, *out_rc, r->num_flight);
	}
	*out_list = r->flight_head;
	r->flight_head = NULL;
	r->num_flight = 0;
	return 1;
}

static int turn_handoff(struct relay *r);

static void on_committed(uv_async_t *h)
{
	struct relay *r = h->data;
	struct relay_out *list;
	int rc, handed;

	if (!commit_collect(r, 0, &rc, &list)) {
		return; /* relay_commit_wait took it already */
	}
	/* Handshakes that waited for the COMMIT, now, while no COMMIT runs and
	 * no turn is open: once the next turn is handed over below, ZAP waits
	 * again, and under unbroken load only a COMMIT during which no request
	 * arrived would let it through. */
	relay_zap_kick(r);
	/* Next turn first, so its fsync runs while this one's output goes out;
	 * replies of a next turn that wrote nothing follow this one's. */
	relay_kick(r);
	handed = turn_handoff(r);
	relay_release_list(r, list, rc != HALQA_OK);
	if (!handed && r->num_pending > 0) {
		relay_release_pending(r, 0);
	}
	relay_loop_resume(r);
}

void relay_commit_wait(struct relay *r)
{
	struct relay_out *list;
	int rc;

	if (commit_collect(r, 1, &rc, &list)) {
		relay_release_list(r, list, rc != HALQA_OK);
		/* ZAP requests that arrived during the COMMIT have used up the ZAP
		 * socket's edge already, and on_committed, which would serve
		 * them, finds nothing to do: serve them here. */
		relay_zap_kick(r);
		/* The router's poll restarted: pump once (PLATFORM.md rule 4). */
		relay_kick(r);
	}
}

/*
 * turn_handoff gives the open turn's COMMIT to the thread, with its output
 * as the flight list: returns 1 if it did, 0 if no turn was open (or one
 * is in flight already).
 */
static int turn_handoff(struct relay *r)
{
	if (r->cm_busy) {
		return 0;
	}
	relay_turn_flush_charges(r);
	if (!spool_turn_open(r->spool)) {
		return 0;
	}
	r->commits_total++;
	r->flight_head = r->pend_head;
	r->num_flight = r->num_pending;
	r->pend_head = r->pend_tail = NULL;
	r->num_pending = 0;
	r->cm_busy = 1;
	relay_router_hold(r, 1);
	pthread_mutex_lock(&r->cm_mu);
	r->cm_go = 1;
	pthread_cond_signal(&r->cm_cv);
	pthread_mutex_unlock(&r->cm_mu);
	return 1;
}

void relay_turn_close(struct relay *r)
{
	if (r->cm_busy || turn_handoff(r)) {
		return;
	}
	/* Read-only requests: what they read is durable already. */
	if (r->num_pending > 0) {
		relay_release_pending(r, 0);
		relay_kick(r);
	}
}

int relay_commit_start(struct relay *r)
{
	if (pthread_mutex_init(&r->cm_mu, NULL) != 0) {
		return HALQA_ERR_IO;
	}
	if (pthread_cond_init(&r->cm_cv, NULL) != 0) {
		pthread_mutex_destroy(&r->cm_mu);
		return HALQA_ERR_IO;
	}
	r->cm_sync_inited = 1;
	if (uv_async_init(&r->loop, &r->cm_async, on_committed) != 0) {
		return HALQA_ERR_IO;
	}
	r->cm_async.data = r;
	r->cm_async_inited = 1;
	/* The thread inherits the stop signals blocked (main.c), as it should. */
	if (pthread_create(&r->cm_thread, NULL, commit_main, r) != 0) {
		return HALQA_ERR_IO;
	}
	r->cm_started = 1;
	return HALQA_OK;
}

void relay_commit_stop(struct relay *r)
{
	if (r->cm_started) {
		relay_commit_wait(r);
		pthread_mutex_lock(&r->cm_mu);
		r->cm_quit = 1;
		pthread_cond_signal(&r->cm_cv);
		pthread_mutex_unlock(&r->cm_mu);
		pthread_join(r->cm_thread, NULL);
		r->cm_started = 0;
	}
}

void relay_commit_cleanup(struct relay *r)
{
	if (r->cm_sync_inited) {
		pthread_cond_destroy(&r->cm_cv);
		pthread_mutex_destroy(&r->cm_mu);
		r->cm_sync_inited = 0;
	}
}
