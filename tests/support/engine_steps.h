/*
 * engine_steps.h: profiles for the engine tests (tests/test_engine_*.c):
 * a store in a temp directory, an identity, the relay set, an engine on a
 * loop of its own, registered; contact exchange between two profiles; a
 * chat message in one call. Steps report failures through the harness and
 * return the outcome.
 */
#ifndef HALQA_TESTS_ENGINE_STEPS_H
#define HALQA_TESTS_ENGINE_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "halqa/engine.h"
#include "halqa/identity.h"
#include "halqa/store.h"
#include "support/relay_client.h"

struct eprof {
	char name[64];
	char dir[256];
	char path[300];
	uint8_t key[STORE_KEY_LEN];
	struct store *store;
	struct identity *id;
	uv_loop_t loop;
	struct engine *e;
	int64_t now;        /* the injected clock, Unix ms */
	size_t events[9];   /* events seen, by type */
	/* Called on every event after counting (tests interleave profiles with it). */
	void (*on_event)(struct eprof *p, const struct engine_event *ev);
	void *hook_arg;
};

/*
 * eprof_new makes profile |name| on relay |t|, registers it (the relay
 * runs with --open), and returns it (NULL on failure, reported).
 */
struct eprof *eprof_new(struct relay_test *t, const char *name);

struct hostile_relay;

/*
 * eprof_new_behind starts a hostile relay (hostile_relay.h) in front of
 * |t| into |*out_h| and makes profile |name| talking to it, a contact of
 * |peer|: its card names the real relay, where |peer|'s circles live.
 * NULL on failure (reported); |*out_h| may then be set, to stop.
 */
struct eprof *eprof_new_behind(struct relay_test *t, struct eprof *peer, const char *name,
			       struct hostile_relay **out_h);

/* eprof_reopen closes the engine and store and opens them again (a restart). */
int eprof_reopen(struct eprof *p);

/* eprof_free closes everything and removes the directory. NULL is a no-op. */
void eprof_free(struct eprof *p);

/* eprof_meet makes |a| and |b| contacts of each other (under their names, verified). */
int eprof_meet(struct eprof *a, struct eprof *b);

/*
 * eprof_pair makes |b| a contact of |a| and |a| a contact of |b|, then
 * circle |name| of |a|'s with |b| in it, joined by |b|'s sync.
 */
int eprof_pair(struct eprof *a, struct eprof *b, const char *name);

/* eprof_say sends chat |text| to |circle|. */
int eprof_say(struct eprof *p, const char *circle, const char *text, bool *out_sent);

/*
 * eprof_say_with_sync syncs |p| with chat |text| for |circle| sent with it
 * (engine_send_with_sync, as `halqa send` does): the sync must succeed;
 * returns the message's outcome and whether it was sent, the sync's
 * report in |rep| (may be NULL).
 */
int eprof_say_with_sync(struct eprof *p, const char *circle, const char *text, bool *out_sent,
			struct engine_sync_report *rep);

/* eprof_sync syncs and returns the report in |rep| (may be NULL). */
int eprof_sync(struct eprof *p, struct engine_sync_report *rep);

/* eprof_last_text copies the body of the newest message of |circle| into |out|. */
int eprof_last_text(struct eprof *p, const char *circle, char *out, size_t out_len);

/* eprof_count returns how many messages |circle| holds (-1 on error). */
long eprof_count(struct eprof *p, const char *circle);

/* eprof_welcomes_waiting returns how many Welcomes |p| still has to post in |circle|. */
size_t eprof_welcomes_waiting(struct eprof *p, const char *circle);

/* eprof_has_text says whether |circle| holds a message with body |text|, and how many times. */
int eprof_has_text(struct eprof *p, const char *circle, const char *text);

/*
 * eprof_group loads |circle|'s MLS group from |p|'s store into |*out|
 * (free with mls_group_free), as a test looking inside.
 */
struct mls_group;
int eprof_group(struct eprof *p, const char *circle, struct mls_group **out);

/* eprof_same_epoch checks that |a| and |b| agree on |circle|'s epoch and its authenticator. */
int eprof_same_epoch(struct eprof *a, struct eprof *b, const char *circle, uint64_t *out_epoch);

/*
 * eprof_run_until runs |p|'s loop without blocking, a few ms apart, until
 * |*count| (one of p->events, say) reaches |want| or about |ms| have
 * passed: a bound for a broken run, not a measurement. Returns whether it
 * got there.
 */
int eprof_run_until(struct eprof *p, const size_t *count, size_t want, int ms);
#endif
