/*
 * engine.c: the circle engine (engine.h): MLS groups over the relay.
 *
 * Design. Every operation is blocking on a libuv loop of the engine's own,
 * which drives the relay connection (net.h): net_call runs that loop until
 * the answer comes. The caller's loop is only used by live mode
 * (engine_live.c), which watches our loop's backend descriptor from the
 * caller's loop, so `halqa chat` keeps one loop of its own and the engine
 * never runs a loop from inside one of that loop's callbacks.
 *
 * State lives in the store, never only in memory: a circle's MLS group is
 * loaded (mls_group_load), changed, and saved (mls_group_save) in the same
 * store transaction as what the change produced (a message, the relay
 * cursor, an outbox entry's ciphertext), so a crash can neither lose nor
 * repeat a message, nor reuse a ratchet key. Catching up, up to
 * ENGINE_BATCH_ITEMS items of the log, across FETCH replies and epochs,
 * share one transaction and one save of the group at its end (struct
 * batch): a group save and a commit per message cost a hundred times more
 * than decrypting it. Between two uses in one
 * engine a group may be kept in memory (struct engine_kept_group), but a
 * load hands it out only if the stored bytes are still the ones it
 * serialises to, so the store stays the only truth. A proposal or the commit
 * closing the epoch joins the batch inside a savepoint, so that a commit
 * the roster rules refuse is taken back alone.
 *
 * Epochs and capabilities (DESIGN.md): the capability of epoch K is
 * MLS-Exporter("halqa relay capability", circle_id, 32). A sync reads each
 * circle from its cursor epoch by epoch; the commit closing an epoch moves
 * the group on, which gives the next capability. Our own commits are sent
 * as pending commits with the hash of the next capability (computed on a
 * throw-away copy of the group with the commit applied); once the relay
 * accepts one, the engine reads the log up to it and the echo of its
 * exact bytes confirms it (mls_group_process), so epoch K's messages
 * before our commit are still read with epoch K's keys.
 *
 * Our own messages come back from the relay; we recognise them by a hash
 * of the MLS bytes we sent (store own_sent), recorded before sending.
 *
 * Roster rules (roster.h): a commit that changes membership or the roster
 * is refused unless its sender is a facilitator of the epoch it was made
 * in; the group then stays as it was before that commit and the circle is
 * marked blocked, since the relay has moved on to an epoch we refuse.
 */
#include "halqa/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "engine_internal.h"
#include "halqa/bytes.h"
#include "halqa/card.h"
#include "halqa/envelope.h"
#include "halqa/log.h"
#include "halqa/mls_codec_msg.h"
#include "halqa/mls_group.h"
#include "halqa/mls_keypackage.h"
#include "halqa/relayaddr.h"
#include "halqa/roster.h"
#include "halqa/secmem.h"
#include "halqa/zmq_lib.h"

#define ENGINE_TIMEOUT_MS 10000
#define ENGINE_CAP_LABEL "halqa relay capability"
#define ENGINE_NEWCOMER_LABEL "halqa newcomer cursor"
#define ENGINE_RETRIES 4           /* stale-epoch retries of one operation */
#define ENGINE_MAX_FETCH_ROUNDS 100000 /* FETCH calls in one circle sync, at most */
#define ENGINE_KP_LIFETIME_S (180LL * 24 * 3600)
#define ENGINE_KP_PRIV_LEN (2 * MLS_KEM_PRIV_LEN)
/*
 * A cursor that did not move is acknowledged again this often, to keep it
 * live (the relay's max age is 30 days by default); a KeyPackage count
 * within this long is not repeated by a sync that met no mailbox item.
 */
#define ENGINE_ACK_REFRESH_MS (3600LL * 1000)
#define ENGINE_KP_RECHECK_MS (3600LL * 1000)
/*
 * A newcomer's relay cursor not made within the relay's default max age
 * is given up: the messages it was to keep are gone by then.
 */
#define ENGINE_NEWCOMER_MAX_AGE_MS (30LL * 24 * 3600 * 1000)
_Static_assert(STORE_CAP_LEN == WIRE_CAP_LEN, "the store keeps relay capabilities");
_Static_assert(sizeof(((struct engine_kept_group *)0)->state_hash) == MLS_GROUP_STATE_DIGEST_LEN,
	       "a kept group's hash is a state digest");
#define SET_KP_COUNTED "kp.counted_at"
/*
 * e->fetch: fetch_circle's two FETCHes, a sync's KeyPackage count, the
 * SEND of a message sent with a sync (struct engine_sync_send), and a
 * sync's first mailbox fetch.
 */
#define ENGINE_KP_AHEAD 2
#define ENGINE_SEND_AHEAD 3
#define ENGINE_MAILBOX_AHEAD 4
#define ENGINE_NUM_AHEAD 5

#define SET_RELAY_ENDPOINT "relay.endpoint"
#define SET_RELAY_KEY "relay.key"
#define SET_RELAY_SOCKS "relay.socks"

/* ---- small helpers ---- */

int64_t engine_now(const struct engine *e)
{
	struct timespec ts;

	if (e->clock != NULL) {
		return e->clock(e->clock_arg);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int engine_seterr(struct engine *e, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof e->err, fmt, ap);
	va_end(ap);
	return rc;
}

int engine_emit(struct engine *e, const struct engine_event *ev)
{
	if (e->cb == NULL) {
		return HALQA_OK;
	}
	return e->cb(e->cb_arg, ev);
}

static void hash_bytes(uint8_t out[32], const uint8_t *data, size_t len)
{
	crypto_hash_sha256(out, data, len);
}

/*
 * A loaded circle: its row and its group. |e| and |state_hash| are set by
 * circle_load and circle_save: the hash of the stored bytes the group was
 * read from or last written as, so circle_cleanup can keep the group for
 * the next load (struct engine_kept_group) if it still serialises to them.
 */
struct circle {
	struct store_circle row;
	struct mls_group *g;
	struct engine *e;
	uint8_t state_hash[MLS_GROUP_STATE_DIGEST_LEN];
	bool have_hash;
};

static void kept_drop(struct engine_kept_group *k)
{
	mls_group_free(k->g);
	sodium_memzero(k, sizeof *k);
}

/* groups_drop frees every kept group. */
static void groups_drop(struct engine *e)
{
	for (size_t i = 0; i < ENGINE_GROUP_CACHE; i++) {
		kept_drop(&e->groups[i]);
	}
}

/*
 * group_take hands over the kept group of circle |id| if it equals the
 * stored bytes of hash |hash|; a kept group of |id| that does not is
 * dropped (the store moved on: its keys must not outlive the store's).
 */
static struct mls_group *group_take(struct engine *e, const uint8_t id[ENGINE_ID_LEN],
				    const uint8_t hash[32])
{
	struct mls_group *g;

	for (size_t i = 0; i < ENGINE_GROUP_CACHE; i++) {
		struct engine_kept_group *k = &e->groups[i];

		if (k->g == NULL || memcmp(k->circle_id, id, ENGINE_ID_LEN) != 0) {
			continue;
		}
		if (e->live || sodium_memcmp(k->state_hash, hash, sizeof k->state_hash) != 0) {
			kept_drop(k);
			return NULL;
		}
		g = k->g;
		k->g = NULL;
		kept_drop(k);
		return g;
	}
	return NULL;
}

/*
 * group_keep keeps |c|'s group for the next load if it still serialises
 * to the bytes it was loaded from or saved as; otherwise (it ran ahead of
 * the store, or the save is unknown) it is left to be freed. Live mode
 * keeps nothing: its engine lives long, and another process may move the
 * store on meanwhile, so a kept group could hold keys the store deleted.
 */
static void group_keep(struct circle *c)
{
	struct engine *e = c->e;
	struct engine_kept_group *slot = NULL;
	uint8_t hash[MLS_GROUP_STATE_DIGEST_LEN];

	if (e->live) {
		groups_drop(e);
		return;
	}
	if (mls_group_state_hash(c->g, hash) != HALQA_OK) {
		return;
	}
	if (sodium_memcmp(hash, c->state_hash, sizeof hash) != 0) {
		sodium_memzero(hash, sizeof hash);
		return;
	}
	for (size_t i = 0; i < ENGINE_GROUP_CACHE; i++) {
		struct engine_kept_group *k = &e->groups[i];

		if (k->g != NULL && memcmp(k->circle_id, c->row.circle_id, ENGINE_ID_LEN) == 0) {
			slot = k; /* an older copy of this circle (a nested load): replaced */
			break;
		}
		if (slot == NULL || (slot->g != NULL && (k->g == NULL || k->used < slot->used))) {
			slot = k;
		}
	}
	kept_drop(slot);
	slot->g = c->g;
	c->g = NULL;
	memcpy(slot->circle_id, c->row.circle_id, ENGINE_ID_LEN);
	memcpy(slot->state_hash, hash, sizeof hash);
	slot->used = ++e->group_tick;
	sodium_memzero(hash, sizeof hash);
}

static void circle_cleanup(struct circle *c)
{
	if (c->g != NULL && c->e != NULL && c->have_hash) {
		group_keep(c);
	}
	mls_group_free(c->g);
	c->g = NULL;
	c->have_hash = false;
	sodium_memzero(c->state_hash, sizeof c->state_hash);
}

/* circle_cap computes the capability of the group's current epoch. */
static int circle_cap(const struct circle *c, uint8_t cap[WIRE_CAP_LEN])
{
	return mls_group_export(c->g, ENGINE_CAP_LABEL, c->row.circle_id, ENGINE_ID_LEN, cap,
				WIRE_CAP_LEN);
}

/*
 * newcomer_cursor derives the relay cursor id of the member at |leaf| who
 * joined in |g|'s current epoch: MLS-Exporter("halqa newcomer cursor",
 * leaf as 4 bytes, 16). The member who added it and the newcomer both
 * know it from the epoch's secrets; the relay, without them, cannot tell
 * it from a random id or tie it to either device.
 */
static int newcomer_cursor(const struct mls_group *g, uint32_t leaf, uint8_t out[ENGINE_ID_LEN])
{
	uint8_t ctx[4];

	ctx[0] = (uint8_t)(leaf >> 24);
	ctx[1] = (uint8_t)(leaf >> 16);
	ctx[2] = (uint8_t)(leaf >> 8);
	ctx[3] = (uint8_t)leaf;
	return mls_group_export(g, ENGINE_NEWCOMER_LABEL, ctx, sizeof ctx, out, ENGINE_ID_LEN);
}

/* Every caller's bytes are our own save's, from the store or memory: no tree check. */
static int group_load_bytes(struct mls_group **out, const uint8_t *state, size_t len)
{
	return mls_group_load_own(out, state, len, NULL);
}

/*
 * circle_load reads circle |id| and its group from the store: the group
 * kept from an earlier use in this engine if the stored bytes are still
 * the ones it equals, else rebuilt from them.
 */
static int circle_load(struct engine *e, const uint8_t id[ENGINE_ID_LEN], struct circle *c)
{
	uint8_t *state = NULL;
	size_t state_len = 0;
	int r;

	c->g = NULL;
	c->e = NULL;
	c->have_hash = false;
	if ((r = store_circle_get_by_id(e->store, id, &c->row)) != HALQA_OK) {
		return r;
	}
	if ((r = store_circle_state_get(e->store, id, &state, &state_len)) != HALQA_OK) {
		return r;
	}
	mls_group_state_digest(c->state_hash, state, state_len);
	if ((c->g = group_take(e, id, c->state_hash)) != NULL) {
		e->group_reuses++;
		r = HALQA_OK;
	} else {
		e->group_loads++;
		r = group_load_bytes(&c->g, state, state_len);
	}
	store_secret_free(state, state_len);
	if (r != HALQA_OK) {
		sodium_memzero(c->state_hash, sizeof c->state_hash);
		halqa_log(HALQA_LOG_ERROR, "engine", "stored group state refused: %s",
			  halqa_strerror(r));
		return r;
	}
	c->e = e;
	c->have_hash = true;
	return HALQA_OK;
}

/* circle_save writes the group (inside the caller's transaction). */
static int circle_save(struct engine *e, struct circle *c)
{
	uint8_t *state = NULL;
	size_t state_len = 0;
	int r;

	c->have_hash = false;
	if ((r = mls_group_save(c->g, &state, &state_len)) != HALQA_OK) {
		return r;
	}
	r = store_circle_state_put(e->store, c->row.circle_id, state, state_len);
	if (r == HALQA_OK) {
		/* Kept later only if this transaction commits: else the stored hash differs. */
		mls_group_state_digest(c->state_hash, state, state_len);
		c->e = e;
		c->have_hash = true;
	}
	mls_group_state_free(state, state_len);
	return r;
}

/* circle_reload drops the in-memory group and reads the stored one again. */
static int circle_reload(struct engine *e, struct circle *c)
{
	uint8_t id[ENGINE_ID_LEN];

	memcpy(id, c->row.circle_id, sizeof id);
	circle_cleanup(c);
	return circle_load(e, id, c);
}

/* circle_find resolves a circle by name, or by its id in hex (32 digits). */
int engine_circle_find(struct engine *e, const char *circle, struct store_circle *out)
{
	uint8_t id[ENGINE_ID_LEN];
	size_t id_len = 0;
	int r;

	memset(out, 0, sizeof *out);
	if (circle == NULL) {
		return HALQA_ERR_ARG;
	}
	r = store_circle_get_by_name(e->store, circle, out);
	if (r == HALQA_ERR_NOT_FOUND && strlen(circle) == 2 * ENGINE_ID_LEN &&
	    sodium_hex2bin(id, sizeof id, circle, strlen(circle), NULL, &id_len, NULL) == 0 &&
	    id_len == sizeof id) {
		r = store_circle_get_by_id(e->store, id, out);
	}
	if (r == HALQA_ERR_NOT_FOUND) {
		engine_seterr(e, r, "no circle of that name");
	}
	return r;
}

/* roster_of reads the roster extension of the group (HALQA_ERR_NOT_FOUND if none). */
static int roster_of(const struct mls_group *g, struct roster *out)
{
	const struct mls_extension *ext =
		mls_extension_list_find(mls_group_extensions(g), ROSTER_EXT_TYPE);

	memset(out, 0, sizeof *out);
	if (ext == NULL) {
		return HALQA_ERR_NOT_FOUND;
	}
	return roster_decode(out, ext->data.data, ext->data.len);
}

/* leaf_identity finds the identity key of leaf |leaf| in |members|. */
static int leaf_identity(const struct mls_group_member *members, size_t num, uint32_t leaf,
			 uint8_t out[ENGINE_KEY_LEN])
{
	for (size_t i = 0; i < num; i++) {
		if (members[i].leaf == leaf) {
			if (!members[i].has_identity) {
				return HALQA_ERR_INVALID;
			}
			memcpy(out, members[i].identity, ENGINE_KEY_LEN);
			return HALQA_OK;
		}
	}
	return HALQA_ERR_NOT_FOUND;
}

/* ---- the relay connection ---- */

static void on_net_event(void *arg, enum net_event ev)
{
	struct engine *e = arg;

	if (ev == NET_EVENT_CONNECTED) {
		e->connected_event = true;
		e->relay_down = false;
	} else if (ev == NET_EVENT_DISCONNECTED) {
		e->disconnected_event = true;
		e->relay_down = true;
	}
}

bool engine_relay_down(const struct engine *e)
{
	return e->live && (e->net == NULL || (e->relay_down && !net_connected(e->net)));
}

static void on_net_push(void *arg, const struct wire_msg *push)
{
	struct engine *e = arg;
	struct engine_push *p;

	/* Only what tells us to look; the message itself is fetched with our capability. */
	if (!e->live || e->num_pushes >= 4096 || (p = calloc(1, sizeof *p)) == NULL) {
		return;
	}
	memcpy(p->circle_id, push->u.deliver.circle_id, ENGINE_ID_LEN);
	p->seq = push->u.deliver.seq;
	p->epoch = push->u.deliver.epoch;
	*e->pushes_tail = p;
	e->pushes_tail = &p->next;
	e->num_pushes++;
}

int engine_connect(struct engine *e)
{
	char endpoint[RELAYADDR_MAX_ENDPOINT + 1], hex[65], socks_text[RELAYADDR_MAX_PROXY + 1];
	char line[RELAYADDR_MAX_LINE];
	uint8_t key[RELAYADDR_KEY_LEN];
	struct relayaddr addr;
	struct relayaddr_hostport socks;
	size_t key_len = 0;
	bool has_socks = false;
	int r;

	if (e->net != NULL) {
		return HALQA_OK;
	}
	if ((r = store_setting_get(e->store, SET_RELAY_ENDPOINT, endpoint, sizeof endpoint)) !=
		    HALQA_OK ||
	    (r = store_setting_get(e->store, SET_RELAY_KEY, hex, sizeof hex)) != HALQA_OK) {
		return engine_seterr(e, r == HALQA_ERR_NOT_FOUND ? r : r,
				     "no relay set (halqa relay set ADDRESS)");
	}
	if (sodium_hex2bin(key, sizeof key, hex, strlen(hex), NULL, &key_len, NULL) != 0 ||
	    key_len != sizeof key) {
		return engine_seterr(e, HALQA_ERR_MALFORMED, "the stored relay key is damaged");
	}
	/* The one form relayaddr parses: the line halqad prints, key in lowercase hex. */
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	if ((size_t)snprintf(line, sizeof line, "%s%s#%s", RELAYADDR_PREFIX, endpoint, hex) >=
		    sizeof line ||
	    relayaddr_parse(&addr, line) != HALQA_OK) {
		return engine_seterr(e, HALQA_ERR_MALFORMED, "the stored relay address is damaged");
	}
	r = store_setting_get(e->store, SET_RELAY_SOCKS, socks_text, sizeof socks_text);
	if (r == HALQA_OK) {
		if (relayaddr_parse_proxy(&socks, socks_text) != HALQA_OK) {
			return engine_seterr(e, HALQA_ERR_MALFORMED,
					     "the stored SOCKS proxy is damaged");
		}
		has_socks = true;
	} else if (r != HALQA_ERR_NOT_FOUND) {
		return r;
	}
	if (e->zctx == NULL) {
		const struct zmq_lib *lib;

		if ((r = zmq_lib_get(&lib)) != HALQA_OK) {
			return engine_seterr(e, r, "cannot load ZeroMQ (%s)", ZMQ_LIB_SONAME);
		}
		if ((e->zctx = zmq_lib_ctx_new()) == NULL) {
			return engine_seterr(e, HALQA_ERR_NETWORK, "cannot start ZeroMQ");
		}
	}
	r = net_new(&e->net, &e->own_loop, e->zctx, &addr, e->id->curve_pub, e->id->curve_sec,
		    has_socks ? &socks : NULL);
	if (r != HALQA_OK) {
		return engine_seterr(e, r, "cannot open the relay connection");
	}
	net_set_event_cb(e->net, on_net_event, e);
	net_set_push_cb(e->net, on_net_push, e);
	/*
	 * net_new pumps once before it returns, with no callback set yet: a
	 * handshake it saw then was told to nobody. Unheard, live mode never
	 * said ONLINE, and so never said OFFLINE when the relay went away.
	 */
	if (net_connected(e->net)) {
		on_net_event(e, NET_EVENT_CONNECTED);
	}
	return HALQA_OK;
}

/*
 * call_timeout gives a request's timeout: the engine's, cut to what is
 * left of the current operation's deadline, if any. HALQA_ERR_NETWORK
 * once the deadline has passed.
 */
static int call_timeout(struct engine *e, unsigned *out)
{
	uint64_t now;

	*out = e->timeout_ms;
	if (e->deadline_ns != 0) {
		/* The operation as a whole may take the timeout, not each of its requests. */
		now = uv_hrtime();
		if (now >= e->deadline_ns) {
			return engine_seterr(e, HALQA_ERR_NETWORK, "%s",
					     net_fault_text(HALQA_ERR_NETWORK));
		}
		if ((e->deadline_ns - now) / 1000000 < *out) {
			*out = (unsigned)((e->deadline_ns - now) / 1000000) + 1;
		}
	}
	return HALQA_OK;
}

/*
 * call_failed records why request status |r| (not HALQA_OK) failed, with
 * |reply| the relay's answer if any: a relay ERR becomes its HALQA_ERR_*
 * with the relay's reason in engine_last_error. Returns |r|.
 */
static int call_failed(struct engine *e, int r, const struct wire_msg *reply)
{
	if (r == HALQA_ERR_NETWORK && !net_connected(e->net)) {
		e->relay_down = true;
	}
	e->relay_refused = reply->type == WIRE_ERR;
	if (reply->type == WIRE_ERR) {
		return engine_seterr(e, r, "the relay refused: %s", wire_err_name(reply->u.err.code));
	}
	return engine_seterr(e, r, "%s", net_fault_text(r));
}

/*
 * relay_unreachable says whether status |r| of the last request means the
 * relay cannot be reached (lost, or no answer in time), as opposed to the
 * relay answering with an error: `internal` maps to HALQA_ERR_NETWORK too
 * (retry later), but the relay is there, and other circles may work.
 */
static bool relay_unreachable(const struct engine *e, int r)
{
	return r == HALQA_ERR_NETWORK && !e->relay_refused;
}

/*
 * call sends |req| and waits for the answer in e->reply. A relay ERR
 * becomes its HALQA_ERR_* with the relay's reason in engine_last_error.
 */
static int call(struct engine *e, const struct wire_msg *req)
{
	unsigned timeout_ms;
	int r;

	e->relay_refused = false;
	if ((r = engine_connect(e)) != HALQA_OK) {
		return r;
	}
	wire_msg_cleanup(e->reply);
	if ((r = call_timeout(e, &timeout_ms)) != HALQA_OK) {
		return r;
	}
	r = net_call(e->net, req, e->reply, timeout_ms);
	return r == HALQA_OK ? r : call_failed(e, r, e->reply);
}

/* ---- engine object ---- */

static void fetch_free(struct engine *e);

int engine_new(struct engine **out, struct store *store, const struct identity *id,
	       uv_loop_t *loop)
{
	struct engine *e;

	*out = NULL;
	if (store == NULL || id == NULL || loop == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((e = calloc(1, sizeof *e)) == NULL || (e->reply = calloc(1, sizeof *e->reply)) == NULL ||
	    (e->fetch = calloc(ENGINE_NUM_AHEAD, sizeof *e->fetch)) == NULL) {
		fetch_free(e);
		free(e);
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < ENGINE_NUM_AHEAD; i++) {
		if ((e->fetch[i].msg = calloc(1, sizeof *e->fetch[i].msg)) == NULL) {
			fetch_free(e);
			free(e);
			return HALQA_ERR_NOMEM;
		}
	}
	if (uv_loop_init(&e->own_loop) != 0) {
		fetch_free(e);
		free(e);
		return HALQA_ERR_NOMEM;
	}
	e->own_loop_init = true;
	e->store = store;
	e->id = id;
	e->loop = loop;
	e->timeout_ms = ENGINE_TIMEOUT_MS;
	e->batch_items = ENGINE_BATCH_ITEMS;
	e->pushes_tail = &e->pushes;
	*out = e;
	return HALQA_OK;
}

/* engine_close frees |e|; with |retire|, ZeroMQ's context ends on a thread of its own. */
static void engine_close(struct engine *e, bool retire)
{
	struct engine_push *p;

	if (e == NULL) {
		return;
	}
	engine_live_close(e);
	if (retire && e->zctx != NULL) {
		net_close_retire(e->net, e->zctx);
		e->net = NULL;
		e->zctx = NULL;
	}
	if (e->net != NULL) {
		net_close(e->net);
		e->net = NULL;
	}
	if (e->own_loop_init) {
		while (uv_run(&e->own_loop, UV_RUN_DEFAULT) != 0) {
		}
		(void)uv_loop_close(&e->own_loop);
	}
	if (e->zctx != NULL) {
		zmq_lib_loaded()->zmq_ctx_term(e->zctx);
	}
	while ((p = e->pushes) != NULL) {
		e->pushes = p->next;
		free(p);
	}
	/* After net_close: it completed what was still out. */
	fetch_free(e);
	groups_drop(e);
	sodium_memzero(e, sizeof *e);
	free(e);
}

void engine_free(struct engine *e)
{
	engine_close(e, false);
}

void engine_end(struct engine *e)
{
	engine_close(e, true);
}

void engine_group_counts(const struct engine *e, unsigned long *out_loads,
			 unsigned long *out_reuses)
{
	*out_loads = e->group_loads;
	*out_reuses = e->group_reuses;
}

void engine_set_clock(struct engine *e, engine_clock_fn fn, void *arg)
{
	e->clock = fn;
	e->clock_arg = arg;
}

void engine_set_timeout(struct engine *e, unsigned timeout_ms)
{
	e->timeout_ms = timeout_ms > 0 ? timeout_ms : ENGINE_TIMEOUT_MS;
}

void engine_set_batch_items(struct engine *e, size_t num_items)
{
	e->batch_items = num_items > 0 ? num_items : ENGINE_BATCH_ITEMS;
}

const char *engine_last_error(const struct engine *e)
{
	return e->err;
}

void engine_set_event_cb(struct engine *e, engine_event_cb cb, void *arg)
{
	e->cb = cb;
	e->cb_arg = arg;
}

/* ---- KeyPackages ---- */

/* kp_make creates one KeyPackage, keeps its privates in the store, returns its encoding. */
static int kp_make(struct engine *e, bool last_resort, uint8_t **out, size_t *out_len)
{
	struct mls_key_package kp;
	struct mls_keypackage_private priv;
	uint8_t ref[MLS_HASH_LEN], privbuf[ENGINE_KP_PRIV_LEN];
	uint64_t now = (uint64_t)(engine_now(e) / 1000);
	int r;

	*out = NULL;
	*out_len = 0;
	memset(&kp, 0, sizeof kp);
	if ((r = mls_keypackage_create(&kp, &priv, e->id->sign_sec, now > 86400 ? now - 86400 : 0,
				       now + ENGINE_KP_LIFETIME_S, last_resort)) != HALQA_OK ||
	    (r = mls_keypackage_ref(&kp, ref)) != HALQA_OK ||
	    (r = mls_key_package_encode_bytes(&kp, out, out_len)) != HALQA_OK) {
		goto out;
	}
	memcpy(privbuf, priv.init_priv, MLS_KEM_PRIV_LEN);
	memcpy(privbuf + MLS_KEM_PRIV_LEN, priv.encryption_priv, MLS_KEM_PRIV_LEN);
	r = store_kp_put(e->store, ref, *out, *out_len, privbuf, sizeof privbuf, last_resort,
			 engine_now(e));
out:
	if (r != HALQA_OK) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	sodium_memzero(privbuf, sizeof privbuf);
	mls_keypackage_private_wipe(&priv);
	mls_key_package_cleanup(&kp);
	return r;
}

/* kp_count_req makes |req| the KP_COUNT of our KeyPackage directory. */
static void kp_count_req(const struct engine *e, struct wire_msg *req)
{
	wire_msg_init(req, WIRE_KP_COUNT, 0);
	memcpy(req->u.kp_dir.dir_id, e->id->kp_dir_id, WIRE_ID_LEN);
}

static int fetch_finish(struct engine *e, struct engine_fetch *f);

/*
 * kp_stock tops the directory up to ENGINE_KP_STOCK one-time packages when
 * fewer than half are left, and uploads a last-resort one if missing. The
 * privates are stored (committed) before the packages are published, so a
 * package the relay hands out always has its private half here. The count
 * is |counted|'s answer if the caller sent it ahead (engine_sync), else
 * asked here.
 */

static int kp_stock(struct engine *e, struct engine_fetch *counted)
{
	struct wire_msg *req = NULL;
	const struct wire_msg *reply = e->reply;
	uint8_t *pkgs[WIRE_MAX_KP_BATCH + 1];
	size_t lens[WIRE_MAX_KP_BATCH + 1], num = 0, want;
	uint32_t have;
	bool need_lr;
	int r;

	memset(pkgs, 0, sizeof pkgs);
	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (counted != NULL) {
		r = fetch_finish(e, counted);
		reply = counted->msg;
	} else {
		kp_count_req(e, req);
		r = call(e, req);
	}
	if (r == HALQA_ERR_NOT_FOUND) {
		/* The directory is made by its first upload. */
		have = 0;
		need_lr = true;
	} else if (r != HALQA_OK) {
		goto out;
	} else {
		have = reply->u.ok.u.kp_count.one_time;
		need_lr = !reply->u.ok.u.kp_count.has_last_resort;
	}
	if (have >= ENGINE_KP_STOCK / 2 && !need_lr) {
		goto out;
	}
	want = have >= ENGINE_KP_STOCK / 2 ? 0 : ENGINE_KP_STOCK - have;
	if (want > WIRE_MAX_KP_BATCH) {
		want = WIRE_MAX_KP_BATCH;
	}
	if ((r = store_begin(e->store)) != HALQA_OK) {
		goto out;
	}
	for (num = 0; num < want; num++) {
		if ((r = kp_make(e, false, &pkgs[num], &lens[num])) != HALQA_OK) {
			break;
		}
	}
	if (r == HALQA_OK && need_lr) {
		r = kp_make(e, true, &pkgs[num], &lens[num]);
	}
	if (r != HALQA_OK || (r = store_commit(e->store)) != HALQA_OK) {
		(void)store_rollback(e->store);
		goto out;
	}
	wire_msg_init(req, WIRE_KP_PUBLISH, 0);
	memcpy(req->u.kp_publish.dir_id, e->id->kp_dir_id, WIRE_ID_LEN);
	req->u.kp_publish.num_packages = (uint16_t)num;
	for (size_t i = 0; i < num; i++) {
		req->u.kp_publish.packages[i].data = pkgs[i];
		req->u.kp_publish.packages[i].len = lens[i];
	}
	if (need_lr) {
		req->u.kp_publish.has_last_resort = 1;
		req->u.kp_publish.last_resort.data = pkgs[num];
		req->u.kp_publish.last_resort.len = lens[num];
	}
	r = call(e, req);
out:
	for (size_t i = 0; i <= WIRE_MAX_KP_BATCH; i++) {
		free(pkgs[i]);
	}
	wire_msg_cleanup(req);
	free(req);
	return r;
}

int engine_register(struct engine *e, const char *invite)
{
	struct wire_msg *req;
	int r;

	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	wire_msg_init(req, WIRE_REGISTER, 0);
	if (invite != NULL) {
		if (strlen(invite) > WIRE_MAX_INVITE) {
			r = engine_seterr(e, HALQA_ERR_INVALID, "the invite code is too long");
			goto out;
		}
		snprintf(req->u.reg.invite, sizeof req->u.reg.invite, "%s", invite);
	}
	r = call(e, req);
	if (r != HALQA_OK && !(e->reply->type == WIRE_ERR &&
			       e->reply->u.err.code == WIRE_ERR_ALREADY_REGISTERED)) {
		goto out;
	}
	/* The relay creates our mailbox on its owner's first fetch: claim it now. */
	wire_msg_init(req, WIRE_MAILBOX_FETCH, 0);
	memcpy(req->u.mailbox_fetch.mailbox_id, e->id->mailbox_id, WIRE_ID_LEN);
	req->u.mailbox_fetch.max_count = 1;
	if ((r = call(e, req)) != HALQA_OK) {
		goto out;
	}
	r = kp_stock(e, NULL);
out:
	wire_msg_cleanup(req);
	free(req);
	return r;
}

/* ---- creating a circle ---- */

/* roster_extension builds a one-extension list holding |r| (free with mls_extension_list_cleanup). */
static int roster_extensions(const struct mls_extension_list *base, const struct roster *ro,
			     struct mls_extension_list *out)
{
	struct mls_extension *items;
	uint8_t *data = NULL;
	size_t data_len = 0, n = 0;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = roster_encode(&data, &data_len, ro)) != HALQA_OK) {
		return r;
	}
	n = base != NULL ? base->num : 0;
	if ((items = calloc(n + 1, sizeof *items)) == NULL) {
		free(data);
		return HALQA_ERR_NOMEM;
	}
	out->items = items;
	for (size_t i = 0; i < n; i++) {
		if (base->items[i].type == ROSTER_EXT_TYPE) {
			continue;
		}
		items[out->num].type = base->items[i].type;
		if (base->items[i].data.len > 0) {
			if ((items[out->num].data.data = malloc(base->items[i].data.len)) == NULL) {
				free(data);
				mls_extension_list_cleanup(out);
				return HALQA_ERR_NOMEM;
			}
			memcpy(items[out->num].data.data, base->items[i].data.data,
			       base->items[i].data.len);
			items[out->num].data.len = base->items[i].data.len;
		}
		out->num++;
	}
	items[out->num].type = ROSTER_EXT_TYPE;
	items[out->num].data.data = data;
	items[out->num].data.len = data_len;
	out->num++;
	return HALQA_OK;
}

/* unique_name makes |name| unique among circles: "Name", "Name (2)", ... */
static int unique_name(struct engine *e, const char *name, char out[STORE_MAX_NAME + 1])
{
	struct store_circle c;
	char suffix[16];
	size_t base;
	int r;

	snprintf(out, STORE_MAX_NAME + 1, "%s", name);
	r = store_circle_get_by_name(e->store, out, &c);
	for (unsigned n = 2; r == HALQA_OK && n < 1000; n++) {
		snprintf(suffix, sizeof suffix, " (%u)", n);
		base = strlen(name);
		if (base + strlen(suffix) > STORE_MAX_NAME) {
			base = STORE_MAX_NAME - strlen(suffix);
			/* Cut on a character boundary: never inside a UTF-8 sequence. */
			while (base > 0 && ((unsigned char)name[base] & 0xc0) == 0x80) {
				base--;
			}
		}
		snprintf(out, STORE_MAX_NAME + 1, "%.*s%s", (int)base, name, suffix);
		r = store_circle_get_by_name(e->store, out, &c);
	}
	if (r == HALQA_OK) {
		return HALQA_ERR_EXISTS;
	}
	return r == HALQA_ERR_NOT_FOUND ? HALQA_OK : r;
}

int engine_circle_create(struct engine *e, const char *name, uint8_t out_id[ENGINE_ID_LEN])
{
	struct circle c;
	struct store_circle existing;
	struct mls_key_package kp;
	struct mls_keypackage_private priv;
	struct mls_extension_list exts;
	struct roster ro;
	struct wire_msg *req = NULL;
	uint8_t cap[WIRE_CAP_LEN];
	uint64_t now = (uint64_t)(engine_now(e) / 1000);
	int r;

	memset(&c, 0, sizeof c);
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	memset(&exts, 0, sizeof exts);
	memset(&ro, 0, sizeof ro);
	if (out_id != NULL) {
		memset(out_id, 0, ENGINE_ID_LEN);
	}
	if (name == NULL || utf8_name_check(name) != HALQA_OK) {
		return engine_seterr(e, HALQA_ERR_INVALID,
				     "a circle name is 1 to %d bytes of text without control "
				     "characters",
				     STORE_MAX_NAME);
	}
	if (store_circle_get_by_name(e->store, name, &existing) == HALQA_OK) {
		return engine_seterr(e, HALQA_ERR_INVALID, "a circle of that name exists");
	}
	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	randombytes_buf(c.row.circle_id, sizeof c.row.circle_id);
	randombytes_buf(c.row.cursor_id, sizeof c.row.cursor_id);
	snprintf(c.row.name, sizeof c.row.name, "%s", name);
	c.row.created_at = engine_now(e);
	c.row.updated_at = c.row.created_at;
	ro.num_keys = 1;
	memcpy(ro.keys[0], e->id->sign_pub, ROSTER_KEY_LEN);
	if ((r = roster_extensions(NULL, &ro, &exts)) != HALQA_OK ||
	    (r = mls_keypackage_create(&kp, &priv, e->id->sign_sec, now > 86400 ? now - 86400 : 0,
				       now + ENGINE_KP_LIFETIME_S, false)) != HALQA_OK ||
	    (r = mls_group_create(&c.g, c.row.circle_id, ENGINE_ID_LEN, e->id->sign_sec, &kp,
				  &priv, &exts)) != HALQA_OK ||
	    (r = circle_cap(&c, cap)) != HALQA_OK) {
		engine_seterr(e, r, "cannot create the group");
		goto out;
	}
	wire_msg_init(req, WIRE_CIRCLE_CREATE, 0);
	memcpy(req->u.circle_create.circle_id, c.row.circle_id, WIRE_ID_LEN);
	if ((r = wire_cap_hash(req->u.circle_create.cap_hash, cap)) != HALQA_OK ||
	    (r = call(e, req)) != HALQA_OK) {
		goto out;
	}
	/* Keep epoch 0's messages for us: our cursor starts before the first. */
	wire_msg_init(req, WIRE_ACK, 0);
	memcpy(req->u.ack.circle_id, c.row.circle_id, WIRE_ID_LEN);
	memcpy(req->u.ack.cursor_id, c.row.cursor_id, WIRE_ID_LEN);
	memcpy(req->u.ack.cap, cap, WIRE_CAP_LEN);
	req->u.ack.seq = 0;
	if ((r = call(e, req)) != HALQA_OK) {
		goto out;
	}
	if ((r = store_begin(e->store)) != HALQA_OK) {
		goto out;
	}
	if ((r = store_circle_add(e->store, &c.row)) != HALQA_OK ||
	    (r = circle_save(e, &c)) != HALQA_OK || (r = store_commit(e->store)) != HALQA_OK) {
		(void)store_rollback(e->store);
		engine_seterr(e, r, "cannot store the circle");
		goto out;
	}
	if (out_id != NULL) {
		memcpy(out_id, c.row.circle_id, ENGINE_ID_LEN);
	}
out:
	sodium_memzero(cap, sizeof cap);
	mls_keypackage_private_wipe(&priv);
	mls_key_package_cleanup(&kp);
	mls_extension_list_cleanup(&exts);
	circle_cleanup(&c);
	if (req != NULL) {
		wire_msg_cleanup(req);
		free(req);
	}
	return r;
}

/* ---- commits of our own ---- */

/* next_cap_hash computes the hash of the capability of the epoch our pending commit makes. */
static int next_cap_hash(struct circle *c, uint8_t out[WIRE_CAP_LEN])
{
	struct circle copy;
	uint8_t *state = NULL, cap[WIRE_CAP_LEN];
	size_t state_len = 0;
	int r;

	memset(&copy, 0, sizeof copy);
	copy.row = c->row;
	if ((r = mls_group_save(c->g, &state, &state_len)) != HALQA_OK ||
	    (r = group_load_bytes(&copy.g, state, state_len)) != HALQA_OK ||
	    (r = mls_group_commit_confirm(copy.g)) != HALQA_OK ||
	    (r = circle_cap(&copy, cap)) != HALQA_OK) {
		goto out;
	}
	r = wire_cap_hash(out, cap);
out:
	sodium_memzero(cap, sizeof cap);
	mls_group_state_free(state, state_len);
	circle_cleanup(&copy);
	return r;
}

/*
 * post_welcomes sends the Welcomes whose commit is now accepted, deleting
 * each once posted. One the relay refuses (the new member's mailbox is
 * full, our daily bytes are used up, its storage failed) waits for the
 * next sync with a warning, and the rest of the sync goes on: anyone may
 * fill a mailbox, and that must not stop our messages in the circle.
 * Only an unreachable relay (HALQA_ERR_NETWORK) ends it.
 */
static int post_welcomes(struct engine *e, const uint8_t id[ENGINE_ID_LEN])
{
	struct store_welcome_out *items = NULL;
	struct wire_msg *req;
	size_t num = 0;
	int r;

	if ((r = store_welcome_out_list(e->store, id, &items, &num)) != HALQA_OK || num == 0) {
		return r;
	}
	if ((req = calloc(1, sizeof *req)) == NULL) {
		store_welcome_out_free(items, num);
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < num && r == HALQA_OK; i++) {
		wire_msg_init(req, WIRE_MAILBOX_PUT, 0);
		memcpy(req->u.mailbox_put.mailbox_id, items[i].mailbox_id, WIRE_ID_LEN);
		req->u.mailbox_put.payload.data = items[i].item;
		req->u.mailbox_put.payload.len = items[i].item_len;
		r = call(e, req);
		if (r == HALQA_ERR_NOT_FOUND) {
			/* No such mailbox: the contact never registered. Say so, drop it. */
			halqa_log(HALQA_LOG_WARN, "engine", "a Welcome's mailbox does not exist");
			r = HALQA_OK;
		} else if (r != HALQA_OK && !relay_unreachable(e, r)) {
			halqa_log(HALQA_LOG_WARN, "engine",
				  "a new member's Welcome waits for the next sync: %s", e->err);
			r = HALQA_OK;
			continue;
		}
		if (r == HALQA_OK) {
			r = store_welcome_out_delete(e->store, items[i].row);
		}
	}
	wire_msg_cleanup(req);
	free(req);
	store_welcome_out_free(items, num);
	return r;
}

/*
 * discard_pending drops our pending commit and what waited on it, its own
 * Welcomes (made in the group's epoch; those of an earlier commit the
 * relay accepted stay), inside no transaction.
 */
static int discard_pending(struct engine *e, struct circle *c, const uint8_t commit_hash[32])
{
	uint64_t epoch = mls_group_epoch(c->g);
	int r;

	mls_group_commit_discard(c->g);
	if ((r = store_begin(e->store)) != HALQA_OK) {
		return r;
	}
	if ((r = circle_save(e, c)) != HALQA_OK ||
	    (r = store_welcome_out_discard(e->store, c->row.circle_id, epoch)) != HALQA_OK ||
	    (commit_hash != NULL &&
	     (r = store_sent_take(e->store, c->row.circle_id, commit_hash)) != HALQA_OK &&
	     r != HALQA_ERR_NOT_FOUND) ||
	    (r = store_commit(e->store)) != HALQA_OK) {
		(void)store_rollback(e->store);
		return r;
	}
	return HALQA_OK;
}

struct welcome_to {
	uint8_t mailbox_id[ENGINE_ID_LEN];
	uint8_t identity[ENGINE_KEY_LEN]; /* the new member's identity key, to seal the item to */
};

/*
 * seal_item seals a Welcome mailbox item to one new member (libsodium's
 * sealed box to the X25519 form of its Ed25519 identity key). The item
 * names the circle; left readable, it would tell the relay which mailbox
 * joined which circle, the social graph the relay must never hold. The
 * Welcome inside is MLS-encrypted already; the seal hides the rest.
 * |*out| is malloc'd.
 */
static int seal_item(uint8_t **out, size_t *out_len, const uint8_t *item, size_t item_len,
		     const uint8_t identity[ENGINE_KEY_LEN])
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];

	*out = NULL;
	*out_len = 0;
	if (item_len > WIRE_MAX_PAYLOAD - crypto_box_SEALBYTES) {
		return HALQA_ERR_TOO_LARGE;
	}
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, identity) != 0) {
		return HALQA_ERR_INVALID;
	}
	if ((*out = malloc(item_len + crypto_box_SEALBYTES)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (crypto_box_seal(*out, item, item_len, xpk) != 0) {
		free(*out);
		*out = NULL;
		return HALQA_ERR_CRYPTO;
	}
	*out_len = item_len + crypto_box_SEALBYTES;
	return HALQA_OK;
}

/*
 * open_item opens a sealed Welcome item addressed to us into |*out|
 * (secmem_alloc'd; free with store_secret_free). HALQA_ERR_CRYPTO for
 * anything not sealed to our identity (garbage, or for someone else).
 */
static int open_item(const struct engine *e, const uint8_t *data, size_t len, uint8_t **out,
		     size_t *out_len)
{
	uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
	int r = HALQA_OK;

	*out = NULL;
	*out_len = 0;
	if (len <= crypto_box_SEALBYTES) {
		return HALQA_ERR_CRYPTO;
	}
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, e->id->sign_pub) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, e->id->sign_sec) != 0) {
		r = HALQA_ERR_CRYPTO;
		goto out;
	}
	if ((*out = secmem_alloc(len - crypto_box_SEALBYTES)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	if (crypto_box_seal_open(*out, data, len, xpk, xsk) != 0) {
		secmem_free(*out);
		*out = NULL;
		r = HALQA_ERR_CRYPTO;
		goto out;
	}
	*out_len = len - crypto_box_SEALBYTES;
out:
	sodium_memzero(xsk, sizeof xsk);
	return r;
}

/*
 * send_commit sends the pending commit |commit| of |c| (its Welcome, if
 * any, to each of |to|), then reads the log up to it so its echo
 * confirms it. HALQA_ERR_STALE if another commit came first (ours is
 * discarded and |c| synced: the caller rebuilds and retries).
 */
static int send_commit(struct engine *e, struct circle *c, const uint8_t *commit,
		       size_t commit_len, const uint8_t *welcome, size_t welcome_len,
		       const struct welcome_to *to, size_t num_to)
{
	struct engine_sync_report rep;
	struct envelope_welcome item;
	struct wire_msg *req = NULL;
	uint8_t hash[32], *item_bytes = NULL;
	size_t item_len = 0;
	uint64_t epoch = mls_group_epoch(c->g);
	int r;

	hash_bytes(hash, commit, commit_len);
	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	wire_msg_init(req, WIRE_SEND, 0);
	memcpy(req->u.send.circle_id, c->row.circle_id, WIRE_ID_LEN);
	req->u.send.epoch = epoch;
	req->u.send.kind = WIRE_KIND_COMMIT;
	randombytes_buf(req->u.send.client_msg_id, WIRE_ID_LEN);
	req->u.send.payload.data = commit;
	req->u.send.payload.len = commit_len;
	if ((r = circle_cap(c, req->u.send.cap)) != HALQA_OK ||
	    (r = next_cap_hash(c, req->u.send.next_cap_hash)) != HALQA_OK) {
		goto fail;
	}
	if (welcome != NULL) {
		memset(&item, 0, sizeof item);
		memcpy(item.circle_id, c->row.circle_id, ENGINE_ID_LEN);
		snprintf(item.name, sizeof item.name, "%s", c->row.name);
		item.welcome = welcome;
		item.welcome_len = welcome_len;
		if ((r = envelope_welcome_encode(&item_bytes, &item_len, &item)) != HALQA_OK) {
			goto fail;
		}
	}
	/* The pending commit, its hash and its Welcomes are on disk before the relay sees it. */
	if ((r = store_begin(e->store)) != HALQA_OK) {
		goto fail;
	}
	r = circle_save(e, c);
	if (r == HALQA_OK) {
		r = store_sent_add(e->store, c->row.circle_id, hash);
	}
	for (size_t i = 0; r == HALQA_OK && item_bytes != NULL && i < num_to; i++) {
		uint8_t *sealed = NULL;
		size_t sealed_len = 0;

		r = seal_item(&sealed, &sealed_len, item_bytes, item_len, to[i].identity);
		if (r == HALQA_OK) {
			r = store_welcome_out_add(e->store, c->row.circle_id, epoch,
						  to[i].mailbox_id, sealed, sealed_len);
		}
		free(sealed);
	}
	if (r != HALQA_OK || (r = store_commit(e->store)) != HALQA_OK) {
		(void)store_rollback(e->store);
		goto fail;
	}
	e->commit_depth++;
	r = call(e, req);
	if (r == HALQA_ERR_STALE) {
		/* Another commit won this epoch: drop ours, catch up, let the caller retry. */
		if ((r = discard_pending(e, c, hash)) == HALQA_OK) {
			memset(&rep, 0, sizeof rep);
			circle_cleanup(c);
			r = engine_sync_one(e, c->row.circle_id, &rep);
			if (r == HALQA_OK) {
				r = HALQA_ERR_STALE;
			}
		}
		goto out;
	}
	if (r != HALQA_OK) {
		/*
		 * No answer: the relay may or may not have it. The pending
		 * commit stays stored; the next sync finds it in the log (and
		 * confirms it) or finds the epoch still open (and drops it).
		 */
		goto out;
	}
	memset(&rep, 0, sizeof rep);
	circle_cleanup(c);
	r = engine_sync_one(e, c->row.circle_id, &rep);
	goto out;
fail:
	e->commit_depth++;
	mls_group_commit_discard(c->g);
out:
	e->commit_depth--;
	if (item_bytes != NULL) {
		/* The plain item names the circle: only its sealed copies may leave memory. */
		sodium_memzero(item_bytes, item_len);
	}
	free(item_bytes);
	if (req != NULL) {
		wire_msg_cleanup(req);
		free(req);
	}
	return r;
}

/* ready_circle loads circle |name| for a change: synced first, open, ours to change. */
static int ready_circle(struct engine *e, const char *name, struct circle *c, bool need_fac)
{
	struct store_circle row;
	struct engine_sync_report rep;
	struct roster ro;
	int r;

	memset(c, 0, sizeof *c);
	if ((r = engine_circle_find(e, name, &row)) != HALQA_OK) {
		return r;
	}
	memset(&rep, 0, sizeof rep);
	if ((r = engine_sync_one(e, row.circle_id, &rep)) != HALQA_OK) {
		return r;
	}
	if ((r = circle_load(e, row.circle_id, c)) != HALQA_OK) {
		return r;
	}
	if (c->row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_LEFT | STORE_CIRCLE_BLOCKED)) {
		circle_cleanup(c);
		return engine_seterr(e, HALQA_ERR_DENIED, "the circle is closed: %s",
				     c->row.reason[0] ? c->row.reason : "we left it");
	}
	if (need_fac && (roster_of(c->g, &ro) != HALQA_OK ||
			 !roster_has(&ro, e->id->sign_pub))) {
		circle_cleanup(c);
		return engine_seterr(e, HALQA_ERR_DENIED, "only a facilitator may do that");
	}
	return HALQA_OK;
}

/* contact_card loads contact |name| and its card; the card must be on our relay. */
static int contact_card(struct engine *e, const char *name, struct store_contact *ct,
			struct card *cd)
{
	char endpoint[RELAYADDR_MAX_ENDPOINT + 1];
	int r;

	if ((r = store_contact_get_by_name(e->store, name, ct)) != HALQA_OK) {
		return engine_seterr(e, r, "no contact of that name");
	}
	if ((r = card_decode(cd, ct->card)) != HALQA_OK) {
		return engine_seterr(e, r, "the contact's card is damaged");
	}
	if (sodium_memcmp(cd->identity_pub, ct->identity_pub, ENGINE_KEY_LEN) != 0) {
		return engine_seterr(e, HALQA_ERR_INVALID, "the contact's card is not theirs");
	}
	if ((r = store_setting_get(e->store, SET_RELAY_ENDPOINT, endpoint, sizeof endpoint)) !=
	    HALQA_OK) {
		return engine_seterr(e, r, "no relay set");
	}
	if (strcmp(endpoint, cd->endpoint) != 0) {
		return engine_seterr(e, HALQA_ERR_UNSUPPORTED,
				     "the contact uses another relay; circles span one relay");
	}
	return HALQA_OK;
}

int engine_circle_add(struct engine *e, const char *circle, const char *const *names,
		      size_t num_names)
{
	struct circle c;
	struct store_contact ct;
	struct card cd;
	struct mls_key_package *kps = NULL;
	struct welcome_to *to = NULL;
	struct mls_group_member *members = NULL;
	struct wire_msg *req = NULL;
	uint8_t *commit = NULL, *welcome = NULL, ident[ENGINE_KEY_LEN];
	size_t commit_len = 0, welcome_len = 0, num_members = 0, num_kps = 0;
	int r = HALQA_OK;

	memset(&c, 0, sizeof c);
	if (names == NULL || num_names == 0 || num_names > ROSTER_MAX * 10) {
		return engine_seterr(e, HALQA_ERR_ARG, "name at least one contact");
	}
	if ((kps = calloc(num_names, sizeof *kps)) == NULL ||
	    (to = calloc(num_names, sizeof *to)) == NULL || (req = calloc(1, sizeof *req)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (int attempt = 0; attempt < ENGINE_RETRIES; attempt++) {
		if ((r = ready_circle(e, circle, &c, true)) != HALQA_OK ||
		    (r = mls_group_members(c.g, &members, &num_members)) != HALQA_OK) {
			goto out;
		}
		/* Claim once: a retry after stale-epoch reuses the packages. */
		for (size_t i = num_kps; i < num_names; i++) {
			if ((r = contact_card(e, names[i], &ct, &cd)) != HALQA_OK) {
				goto out;
			}
			for (size_t m = 0; m < num_members; m++) {
				if (members[m].has_identity &&
				    sodium_memcmp(members[m].identity, ct.identity_pub,
						  ENGINE_KEY_LEN) == 0) {
					r = engine_seterr(e, HALQA_ERR_EXISTS,
							  "a contact is already a member");
					goto out;
				}
			}
			wire_msg_init(req, WIRE_KP_CLAIM, 0);
			memcpy(req->u.kp_dir.dir_id, cd.kp_dir_id, WIRE_ID_LEN);
			if ((r = call(e, req)) != HALQA_OK) {
				goto out;
			}
			r = mls_key_package_decode_bytes(e->reply->u.ok.u.kp_claim.package.data,
							 e->reply->u.ok.u.kp_claim.package.len,
							 &kps[i]);
			num_kps = i + 1;
			/*
			 * The relay hands out the package: it must be the
			 * contact's own (its credential is the verified key),
			 * or a relay could slip its own member in.
			 */
			if (r != HALQA_OK ||
			    (r = mls_keypackage_validate(&kps[i],
							 (uint64_t)(engine_now(e) / 1000))) !=
				    HALQA_OK ||
			    (r = mls_keypackage_leaf_identity(&kps[i].leaf_node, ident)) !=
				    HALQA_OK ||
			    sodium_memcmp(ident, ct.identity_pub, ENGINE_KEY_LEN) != 0) {
				r = engine_seterr(e, HALQA_ERR_INVALID,
						  "the relay gave a KeyPackage that is not the "
						  "contact's");
				goto out;
			}
			memcpy(to[i].mailbox_id, cd.mailbox_id, ENGINE_ID_LEN);
			memcpy(to[i].identity, cd.identity_pub, ENGINE_KEY_LEN);
		}
		free(members);
		members = NULL;
		if ((r = mls_group_commit_add(c.g, kps, num_kps, (uint64_t)(engine_now(e) / 1000),
					      &commit, &commit_len, &welcome, &welcome_len)) !=
		    HALQA_OK) {
			engine_seterr(e, r, "cannot build the commit");
			goto out;
		}
		r = send_commit(e, &c, commit, commit_len, welcome, welcome_len, to, num_kps);
		free(commit);
		free(welcome);
		commit = welcome = NULL;
		circle_cleanup(&c);
		if (r != HALQA_ERR_STALE) {
			break;
		}
	}
	if (r == HALQA_OK) {
		r = post_welcomes(e, c.row.circle_id);
	} else if (r == HALQA_ERR_STALE) {
		engine_seterr(e, r, "other members kept changing the circle; try again");
	}
out:
	free(members);
	free(commit);
	free(welcome);
	circle_cleanup(&c);
	for (size_t i = 0; kps != NULL && i < num_kps; i++) {
		mls_key_package_cleanup(&kps[i]);
	}
	free(kps);
	free(to);
	if (req != NULL) {
		wire_msg_cleanup(req);
		free(req);
	}
	return r;
}

int engine_circle_remove(struct engine *e, const char *circle, const char *const *names,
			 size_t num_names)
{
	struct circle c;
	struct store_contact ct;
	struct mls_group_member *members = NULL;
	struct roster ro;
	uint32_t *leaves = NULL;
	uint8_t(*keys)[ROSTER_KEY_LEN] = NULL;
	uint8_t *commit = NULL;
	size_t commit_len = 0, num_members = 0, n;
	int r = HALQA_OK;

	memset(&c, 0, sizeof c);
	if (names == NULL || num_names == 0 || num_names > 1000) {
		return engine_seterr(e, HALQA_ERR_ARG, "name at least one contact");
	}
	if ((leaves = calloc(num_names, sizeof *leaves)) == NULL ||
	    (keys = calloc(num_names, sizeof *keys)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (int attempt = 0; attempt < ENGINE_RETRIES; attempt++) {
		if ((r = ready_circle(e, circle, &c, true)) != HALQA_OK ||
		    (r = mls_group_members(c.g, &members, &num_members)) != HALQA_OK) {
			goto out;
		}
		for (size_t i = 0; i < num_names; i++) {
			if ((r = store_contact_get_by_name(e->store, names[i], &ct)) != HALQA_OK) {
				engine_seterr(e, r, "no contact of that name");
				goto out;
			}
			for (n = 0; n < num_members; n++) {
				if (members[n].has_identity &&
				    sodium_memcmp(members[n].identity, ct.identity_pub,
						  ENGINE_KEY_LEN) == 0) {
					break;
				}
			}
			if (n == num_members) {
				r = engine_seterr(e, HALQA_ERR_NOT_FOUND,
						  "a contact is not a member of the circle");
				goto out;
			}
			leaves[i] = members[n].leaf;
			memcpy(keys[i], ct.identity_pub, ROSTER_KEY_LEN);
		}
		free(members);
		members = NULL;
		/* A removed facilitator leaves the roster in the same breath (the last cannot go). */
		if ((r = roster_of(c.g, &ro)) != HALQA_OK ||
		    (r = roster_validate_removals(&ro, (const uint8_t(*)[ROSTER_KEY_LEN])keys,
						  num_names)) != HALQA_OK) {
			engine_seterr(e, HALQA_ERR_DENIED,
				      "the circle would be left without a facilitator");
			r = HALQA_ERR_DENIED;
			goto out;
		}
		if ((r = mls_group_commit_remove(c.g, leaves, num_names, &commit, &commit_len)) !=
		    HALQA_OK) {
			engine_seterr(e, r, "cannot build the commit");
			goto out;
		}
		r = send_commit(e, &c, commit, commit_len, NULL, 0, NULL, 0);
		free(commit);
		commit = NULL;
		circle_cleanup(&c);
		if (r != HALQA_ERR_STALE) {
			break;
		}
	}
	if (r == HALQA_ERR_STALE) {
		engine_seterr(e, r, "other members kept changing the circle; try again");
	}
out:
	free(members);
	free(commit);
	free(leaves);
	free(keys);
	circle_cleanup(&c);
	return r;
}

int engine_circle_set_facilitator(struct engine *e, const char *circle, const char *name,
				  bool on)
{
	struct circle c;
	struct store_contact ct;
	struct roster ro;
	struct mls_extension_list exts;
	struct mls_group_member *members = NULL;
	const uint8_t *key;
	uint8_t *commit = NULL;
	size_t commit_len = 0, num_members = 0;
	bool member = false;
	int r = HALQA_OK;

	memset(&c, 0, sizeof c);
	memset(&exts, 0, sizeof exts);
	for (int attempt = 0; attempt < ENGINE_RETRIES; attempt++) {
		if ((r = ready_circle(e, circle, &c, true)) != HALQA_OK ||
		    (r = roster_of(c.g, &ro)) != HALQA_OK) {
			goto out;
		}
		key = e->id->sign_pub;
		if (name == NULL) {
			/* Ourselves: a facilitator stepping down (roster_remove keeps the last). */
		} else if (store_contact_get_by_name(e->store, name, &ct) == HALQA_OK) {
			key = ct.identity_pub;
		} else {
			r = engine_seterr(e, HALQA_ERR_NOT_FOUND, "no contact of that name");
			goto out;
		}
		if ((r = mls_group_members(c.g, &members, &num_members)) != HALQA_OK) {
			goto out;
		}
		member = false;
		for (size_t i = 0; i < num_members; i++) {
			member |= members[i].has_identity &&
				  sodium_memcmp(members[i].identity, key, ENGINE_KEY_LEN) == 0;
		}
		free(members);
		members = NULL;
		if (on && !member) {
			r = engine_seterr(e, HALQA_ERR_NOT_FOUND, "the contact is not a member");
			goto out;
		}
		r = on ? roster_add(&ro, key) : roster_remove(&ro, key);
		if (r == HALQA_ERR_EXISTS || r == HALQA_ERR_NOT_FOUND) {
			/* Already so: nothing to commit. */
			r = HALQA_OK;
			goto out;
		}
		if (r != HALQA_OK) {
			engine_seterr(e, r, r == HALQA_ERR_DENIED
						    ? "the last facilitator cannot step down"
						    : "the roster is full");
			goto out;
		}
		if ((r = roster_extensions(mls_group_extensions(c.g), &ro, &exts)) != HALQA_OK ||
		    (r = mls_group_commit_extensions(c.g, &exts, &commit, &commit_len)) !=
			    HALQA_OK) {
			engine_seterr(e, r, "cannot build the commit");
			goto out;
		}
		mls_extension_list_cleanup(&exts);
		r = send_commit(e, &c, commit, commit_len, NULL, 0, NULL, 0);
		free(commit);
		commit = NULL;
		circle_cleanup(&c);
		if (r != HALQA_ERR_STALE) {
			break;
		}
	}
out:
	free(members);
	free(commit);
	mls_extension_list_cleanup(&exts);
	circle_cleanup(&c);
	return r;
}

int engine_circle_members(struct engine *e, const char *circle, struct engine_member **out,
			  size_t *out_num)
{
	struct store_circle row;
	struct circle c;
	struct mls_group_member *members = NULL;
	struct engine_member *list = NULL;
	struct store_contact ct;
	struct roster ro;
	size_t num = 0, n = 0;
	int r;

	*out = NULL;
	*out_num = 0;
	memset(&c, 0, sizeof c);
	if ((r = engine_circle_find(e, circle, &row)) != HALQA_OK ||
	    (r = circle_load(e, row.circle_id, &c)) != HALQA_OK ||
	    (r = mls_group_members(c.g, &members, &num)) != HALQA_OK) {
		goto out;
	}
	if (roster_of(c.g, &ro) != HALQA_OK) {
		memset(&ro, 0, sizeof ro);
	}
	if (num > 0 && (list = calloc(num, sizeof *list)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < num; i++) {
		if (!members[i].has_identity) {
			continue;
		}
		memcpy(list[n].identity, members[i].identity, ENGINE_KEY_LEN);
		list[n].self = sodium_memcmp(members[i].identity, e->id->sign_pub,
					     ENGINE_KEY_LEN) == 0;
		list[n].verified = list[n].self;
		list[n].facilitator = roster_has(&ro, members[i].identity) != 0;
		if (!list[n].self &&
		    store_contact_get_by_key(e->store, members[i].identity, &ct) == HALQA_OK) {
			snprintf(list[n].name, sizeof list[n].name, "%s", ct.name);
			list[n].verified = ct.verified != 0;
		}
		n++;
	}
	*out = list;
	*out_num = n;
	list = NULL;
out:
	free(list);
	free(members);
	circle_cleanup(&c);
	return r;
}

/* ---- joining from Welcomes ---- */

/*
 * join_one joins the circle a Welcome item offers, if one of our
 * KeyPackages is its target. HALQA_ERR_NOT_FOUND: not for any package of
 * ours. Any error leaves the store as it was.
 */
static int join_one(struct engine *e, const uint8_t *data, size_t len, uint8_t out_id[16])
{
	struct envelope_welcome item;
	struct mls_message msg;
	struct mls_key_package kp;
	struct mls_keypackage_private priv;
	struct circle c;
	struct store_circle existing;
	struct roster ro;
	uint8_t *kp_bytes = NULL, *priv_bytes = NULL, *plain = NULL, ref[MLS_HASH_LEN];
	const uint8_t *gid = NULL;
	size_t kp_len = 0, priv_len = 0, plain_len = 0, gid_len = 0;
	int r, last_resort = 0;
	bool found = false;

	memset(&msg, 0, sizeof msg);
	memset(&kp, 0, sizeof kp);
	memset(&priv, 0, sizeof priv);
	memset(&c, 0, sizeof c);
	if ((r = open_item(e, data, len, &plain, &plain_len)) != HALQA_OK ||
	    (r = envelope_welcome_decode(&item, plain, plain_len)) != HALQA_OK ||
	    (r = mls_message_decode_bytes(item.welcome, item.welcome_len, &msg)) != HALQA_OK) {
		goto out;
	}
	if (msg.wire_format != MLS_WIRE_WELCOME) {
		r = HALQA_ERR_INVALID;
		goto out;
	}
	if (store_circle_get_by_id(e->store, item.circle_id, &existing) == HALQA_OK) {
		/* A second Welcome to a circle we are in (a replay): nothing to do. */
		r = HALQA_ERR_EXISTS;
		goto out;
	}
	for (size_t i = 0; i < msg.welcome.num_secrets && !found; i++) {
		if (msg.welcome.secrets[i].new_member.len != MLS_HASH_LEN) {
			continue;
		}
		memcpy(ref, msg.welcome.secrets[i].new_member.data, MLS_HASH_LEN);
		r = store_kp_get(e->store, ref, &kp_bytes, &kp_len, &priv_bytes, &priv_len,
				 &last_resort);
		if (r == HALQA_OK) {
			found = true;
		} else if (r != HALQA_ERR_NOT_FOUND) {
			goto out;
		}
	}
	if (!found) {
		r = HALQA_ERR_NOT_FOUND;
		goto out;
	}
	if (priv_len != ENGINE_KP_PRIV_LEN) {
		r = HALQA_ERR_MALFORMED;
		goto out;
	}
	memcpy(priv.init_priv, priv_bytes, MLS_KEM_PRIV_LEN);
	memcpy(priv.encryption_priv, priv_bytes + MLS_KEM_PRIV_LEN, MLS_KEM_PRIV_LEN);
	if ((r = mls_key_package_decode_bytes(kp_bytes, kp_len, &kp)) != HALQA_OK ||
	    (r = mls_group_join(&c.g, item.welcome, item.welcome_len, NULL, 0, e->id->sign_sec,
				&kp, &priv, NULL)) != HALQA_OK) {
		goto out;
	}
	/*
	 * The item's circle id names the log we will read and the group we
	 * store: it must be the group's own id, or an item could make us
	 * follow (and file the group under) another circle's id.
	 */
	mls_group_id(c.g, &gid, &gid_len);
	if (gid_len != ENGINE_ID_LEN || sodium_memcmp(gid, item.circle_id, ENGINE_ID_LEN) != 0) {
		halqa_log(HALQA_LOG_WARN, "engine", "a Welcome names another circle than its group");
		r = HALQA_ERR_INVALID;
		goto out;
	}
	/* A circle without a valid roster has no facilitator to follow: refused. */
	if ((r = roster_of(c.g, &ro)) != HALQA_OK) {
		r = HALQA_ERR_INVALID;
		goto out;
	}
	memcpy(c.row.circle_id, item.circle_id, ENGINE_ID_LEN);
	/* The cursor the member who added us made for us at the commit (newcomer_acks). */
	if ((r = newcomer_cursor(c.g, mls_group_own_leaf(c.g), c.row.cursor_id)) != HALQA_OK) {
		goto out;
	}
	c.row.created_at = engine_now(e);
	c.row.updated_at = c.row.created_at;
	if ((r = unique_name(e, item.name, c.row.name)) != HALQA_OK) {
		goto out;
	}
	if ((r = store_begin(e->store)) != HALQA_OK) {
		goto out;
	}
	if ((r = store_circle_add(e->store, &c.row)) != HALQA_OK ||
	    (r = circle_save(e, &c)) != HALQA_OK ||
	    (!last_resort && (r = store_kp_delete(e->store, ref)) != HALQA_OK) ||
	    (r = store_commit(e->store)) != HALQA_OK) {
		(void)store_rollback(e->store);
		goto out;
	}
	memcpy(out_id, item.circle_id, ENGINE_ID_LEN);
out:
	mls_keypackage_private_wipe(&priv);
	mls_key_package_cleanup(&kp);
	mls_message_cleanup(&msg);
	free(kp_bytes);
	store_secret_free(priv_bytes, priv_len);
	circle_cleanup(&c);
	store_secret_free(plain, plain_len);
	return r;
}

/* mailbox_fetch_req makes |req| the MAILBOX_FETCH of our mailbox. */
static void mailbox_fetch_req(const struct engine *e, struct wire_msg *req)
{
	wire_msg_init(req, WIRE_MAILBOX_FETCH, 0);
	memcpy(req->u.mailbox_fetch.mailbox_id, e->id->mailbox_id, WIRE_ID_LEN);
	req->u.mailbox_fetch.max_count = WIRE_MAX_MAILBOX_FETCH;
}

/*
 * sync_mailbox joins circles from the Welcomes in our mailbox and empties
 * it. Its first fetch's answer is e->fetch[ENGINE_MAILBOX_AHEAD]'s if the
 * sync sent it ahead.
 */
static int sync_mailbox(struct engine *e, struct engine_sync_report *rep)
{
	struct engine_fetch *ahead = &e->fetch[ENGINE_MAILBOX_AHEAD];
	const struct wire_msg *reply;
	struct wire_msg *req = NULL;
	struct engine_event ev;
	uint8_t **items = NULL, id[ENGINE_ID_LEN] = {0};
	size_t *lens = NULL, num = 0;
	uint64_t ids[WIRE_MAX_MAILBOX_FETCH];
	int r;

	if ((req = calloc(1, sizeof *req)) == NULL ||
	    (items = calloc(WIRE_MAX_MAILBOX_FETCH, sizeof *items)) == NULL ||
	    (lens = calloc(WIRE_MAX_MAILBOX_FETCH, sizeof *lens)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (int round = 0; round < 64; round++) {
		if (round == 0 && ahead->p.started) {
			r = fetch_finish(e, ahead);
			reply = ahead->msg;
		} else {
			mailbox_fetch_req(e, req);
			r = call(e, req);
			reply = e->reply;
		}
		if (r != HALQA_OK) {
			goto out;
		}
		num = reply->u.ok.u.mailbox_fetch.num_items;
		if (num == 0 || num > WIRE_MAX_MAILBOX_FETCH) {
			break;
		}
		/* Copy out: every later call reuses the reply's buffer. */
		for (size_t i = 0; i < num; i++) {
			const struct wire_mailbox_item *it = &reply->u.ok.u.mailbox_fetch.items[i];

			ids[i] = it->id;
			if ((items[i] = malloc(it->payload.len)) == NULL) {
				r = HALQA_ERR_NOMEM;
				goto out;
			}
			memcpy(items[i], it->payload.data, it->payload.len);
			lens[i] = it->payload.len;
		}
		for (size_t i = 0; i < num; i++) {
			r = join_one(e, items[i], lens[i], id);
			if (r == HALQA_OK) {
				rep->joined++;
				memset(&ev, 0, sizeof ev);
				ev.type = ENGINE_EVENT_JOINED;
				memcpy(ev.circle_id, id, ENGINE_ID_LEN);
				(void)engine_emit(e, &ev);
			} else if (r != HALQA_ERR_EXISTS) {
				/* Refused or not ours: logged and deleted, so it cannot wedge the box. */
				halqa_log(HALQA_LOG_WARN, "engine", "mailbox item refused: %s",
					  halqa_strerror(r));
				rep->refused++;
			}
		}
		wire_msg_init(req, WIRE_MAILBOX_DELETE, 0);
		memcpy(req->u.mailbox_delete.mailbox_id, e->id->mailbox_id, WIRE_ID_LEN);
		req->u.mailbox_delete.num_ids = (uint16_t)num;
		memcpy(req->u.mailbox_delete.ids, ids, num * sizeof ids[0]);
		if ((r = call(e, req)) != HALQA_OK) {
			goto out;
		}
		for (size_t i = 0; i < num; i++) {
			free(items[i]);
			items[i] = NULL;
		}
		if (num < WIRE_MAX_MAILBOX_FETCH) {
			break;
		}
	}
	r = HALQA_OK;
out:
	for (size_t i = 0; items != NULL && i < WIRE_MAX_MAILBOX_FETCH; i++) {
		free(items[i]);
	}
	free(items);
	free(lens);
	if (req != NULL) {
		wire_msg_cleanup(req);
		free(req);
	}
	return r;
}

/* ---- reading a circle ---- */

/* What one sync of a circle carries between its messages. */
struct sync_ctx {
	struct engine_sync_report *rep;
	bool confirmed_own;  /* our pending commit was confirmed: post its Welcomes */
	bool epoch_changed;
};


/* block_circle marks |c| blocked with |reason| (its own transaction). */
static int close_circle(struct engine *e, struct circle *c, uint32_t flag, const char *reason)
{
	int r;

	c->row.flags |= flag;
	snprintf(c->row.reason, sizeof c->row.reason, "%s", reason);
	r = store_circle_update(e->store, &c->row);
	if (r == HALQA_OK) {
		/* A closed circle is not synced again: the cursors it owes are given up. */
		r = store_newcomer_ack_clear(e->store, c->row.circle_id);
	}
	char fp[9];

	halqa_log_fp(fp, c->row.circle_id, ENGINE_ID_LEN);
	halqa_log(HALQA_LOG_WARN, "engine", "circle %s: %s", fp, reason);
	return r;
}

/* outbox_echo removes the outbox entry whose last ciphertext hashes to |hash|, if any. */
static int outbox_echo(struct engine *e, const uint8_t id[ENGINE_ID_LEN], const uint8_t hash[32],
		       uint8_t out_msg_id[ENGINE_ID_LEN], bool *found)
{
	struct store_outbox *items = NULL;
	size_t num = 0;
	uint8_t h[32];
	int r;

	*found = false;
	if ((r = store_outbox_list(e->store, id, &items, &num)) != HALQA_OK) {
		return r;
	}
	for (size_t i = 0; i < num; i++) {
		if (items[i].wire == NULL) {
			continue;
		}
		hash_bytes(h, items[i].wire, items[i].wire_len);
		if (sodium_memcmp(h, hash, 32) == 0) {
			memcpy(out_msg_id, items[i].client_msg_id, ENGINE_ID_LEN);
			*found = true;
			r = store_outbox_remove(e->store, items[i].client_msg_id);
			break;
		}
	}
	store_outbox_list_free(items, num);
	return r;
}

/* member_in says whether |m|'s identity is among |list|. */
static bool member_in(const struct mls_group_member *m, const struct mls_group_member *list,
		      size_t num)
{
	for (size_t i = 0; i < num; i++) {
		if (list[i].has_identity == m->has_identity &&
		    (!m->has_identity ||
		     sodium_memcmp(list[i].identity, m->identity, ENGINE_KEY_LEN) == 0) &&
		    (m->has_identity || list[i].leaf == m->leaf)) {
			return true;
		}
	}
	return false;
}

/*
 * check_commit applies the roster rules to a commit just applied to |g|
 * by |sender| (identity), given the roster and members before it (the
 * membership change is what the member lists before and after differ by,
 * whatever proposals made it). Returns HALQA_OK, or HALQA_ERR_DENIED with
 * a reason in |why|; |*changed| says whether membership changed.
 */
static int check_commit(const struct mls_group *g, const struct roster *old_ro,
			const struct mls_group_member *old_members, size_t num_old,
			const uint8_t sender[ENGINE_KEY_LEN], bool *changed, const char **why)
{
	struct roster new_ro;
	struct mls_group_member *now = NULL;
	uint8_t(*removed)[ROSTER_KEY_LEN] = NULL;
	size_t num_now = 0, num_removed = 0, num_added = 0;
	int r;

	*changed = false;
	if (roster_of(g, &new_ro) != HALQA_OK) {
		*why = "a commit dropped the facilitator roster";
		return HALQA_ERR_DENIED;
	}
	if (roster_validate_change(old_ro, &new_ro, sender) != HALQA_OK) {
		*why = "a member who is not a facilitator changed the roster";
		return HALQA_ERR_DENIED;
	}
	if ((r = mls_group_members(g, &now, &num_now)) != HALQA_OK) {
		*why = "the member list cannot be read";
		return r;
	}
	if ((removed = calloc(num_old + 1, sizeof *removed)) == NULL) {
		free(now);
		*why = "out of memory";
		return HALQA_ERR_NOMEM;
	}
	for (size_t i = 0; i < num_old; i++) {
		if (!member_in(&old_members[i], now, num_now)) {
			memcpy(removed[num_removed++], old_members[i].identity, ROSTER_KEY_LEN);
		}
	}
	for (size_t i = 0; i < num_now; i++) {
		num_added += !member_in(&now[i], old_members, num_old);
	}
	free(now);
	*changed = num_added > 0 || num_removed > 0;
	r = HALQA_OK;
	if (*changed && roster_may_change_membership(old_ro, sender) != HALQA_OK) {
		*why = "a member who is not a facilitator changed the membership";
		r = HALQA_ERR_DENIED;
	} else if (num_removed > 0 &&
		   roster_validate_removals(&new_ro, (const uint8_t(*)[ROSTER_KEY_LEN])removed,
					    num_removed) != HALQA_OK) {
		*why = "a commit removed the last facilitator";
		r = HALQA_ERR_DENIED;
	}
	free(removed);
	return r;
}

/*
 * The senders' last envelope counters during a batch: read from the store
 * on a sender's first message, kept here, and written once each when the
 * batch commits (counters_flush), inside its transaction. A REPLACE per
 * message cost more than storing the message itself (bench/README.md).
 */
#define COUNTERS_MAX 64

struct counters {
	struct {
		uint8_t sender[ENGINE_KEY_LEN];
		uint64_t last;
		bool dirty;
	} v[COUNTERS_MAX];
	size_t num;
};

/*
 * counter_slot finds |sender| in |cc|, reading its counter from the store
 * on first use; NULL in |*out| when |cc| is full (the caller goes to the
 * store directly).
 */
static int counter_slot(struct engine *e, struct circle *c, struct counters *cc,
			const uint8_t sender[ENGINE_KEY_LEN], size_t *out)
{
	int r;

	for (size_t i = 0; i < cc->num; i++) {
		if (memcmp(cc->v[i].sender, sender, ENGINE_KEY_LEN) == 0) {
			*out = i;
			return HALQA_OK;
		}
	}
	*out = SIZE_MAX;
	if (cc->num == COUNTERS_MAX) {
		return HALQA_OK;
	}
	if ((r = store_counter_get(e->store, c->row.circle_id, sender, &cc->v[cc->num].last)) !=
	    HALQA_OK) {
		return r;
	}
	memcpy(cc->v[cc->num].sender, sender, ENGINE_KEY_LEN);
	cc->v[cc->num].dirty = false;
	*out = cc->num++;
	return HALQA_OK;
}

/* counters_flush writes the counters |cc| moved on and empties it. */
static int counters_flush(struct engine *e, struct circle *c, struct counters *cc)
{
	int r = HALQA_OK;

	for (size_t i = 0; i < cc->num && r == HALQA_OK; i++) {
		if (cc->v[i].dirty) {
			r = store_counter_set(e->store, c->row.circle_id, cc->v[i].sender,
					      cc->v[i].last);
		}
	}
	cc->num = 0;
	return r;
}

/*
 * store_application stores (or hands over) one decrypted envelope, inside
 * the transaction. With |cc| (a batch) the sender's counter is read and
 * moved on there; without it, in the store.
 */
static int store_application(struct engine *e, struct circle *c, const uint8_t *pt, size_t pt_len,
			     const uint8_t sender[ENGINE_KEY_LEN], struct counters *cc,
			     struct engine_event *ev, bool *stored, bool *refused)
{
	struct envelope env;
	struct session_message *msg = NULL;
	struct store_message m;
	uint64_t last = 0;
	size_t slot = SIZE_MAX;
	int r;

	*stored = false;
	*refused = false;
	if (envelope_decode(&env, pt, pt_len) != HALQA_OK ||
	    (msg = calloc(1, sizeof *msg)) == NULL ||
	    session_decode(msg, env.payload, env.payload_len) != HALQA_OK) {
		*refused = true;
		r = HALQA_OK;
		goto out;
	}
	r = store_seen_add(e->store, c->row.circle_id, env.msg_id);
	if (r == HALQA_ERR_EXISTS) {
		/* A duplicate (a resend re-encrypted for a newer epoch): dropped. */
		r = HALQA_OK;
		goto out;
	}
	if (r != HALQA_OK ||
	    (cc != NULL && (r = counter_slot(e, c, cc, sender, &slot)) != HALQA_OK)) {
		goto out;
	}
	if (slot != SIZE_MAX) {
		last = cc->v[slot].last;
	} else if ((r = store_counter_get(e->store, c->row.circle_id, sender, &last)) != HALQA_OK) {
		goto out;
	}
	if (env.counter > last + 1 && last != 0) {
		c->row.gaps += env.counter - last - 1;
		char fp[9];

		halqa_log_fp(fp, c->row.circle_id, ENGINE_ID_LEN);
		halqa_log(HALQA_LOG_WARN, "engine", "circle %s: %llu message(s) of a sender missing",
			  fp, (unsigned long long)(env.counter - last - 1));
		if ((r = store_circle_update(e->store, &c->row)) != HALQA_OK) {
			goto out;
		}
	}
	if (env.counter > last && slot != SIZE_MAX) {
		cc->v[slot].last = env.counter;
		cc->v[slot].dirty = true;
	} else if (env.counter > last &&
		   (r = store_counter_set(e->store, c->row.circle_id, sender, env.counter)) !=
			   HALQA_OK) {
		goto out;
	}
	memset(ev, 0, sizeof *ev);
	memcpy(ev->circle_id, c->row.circle_id, ENGINE_ID_LEN);
	memcpy(ev->sender, sender, ENGINE_KEY_LEN);
	memcpy(ev->msg_id, env.msg_id, ENGINE_ID_LEN);
	ev->sent_at = env.sent_at;
	if (msg->kind == SESSION_KIND_CHAT) {
		memset(&m, 0, sizeof m);
		memcpy(m.circle_id, c->row.circle_id, ENGINE_ID_LEN);
		memcpy(m.msg_id, env.msg_id, ENGINE_ID_LEN);
		memcpy(m.sender, sender, ENGINE_KEY_LEN);
		m.sent_at = env.sent_at;
		m.received_at = engine_now(e);
		m.body = msg->u.chat.text;
		/* A duplicate id was dropped above (seen_ids); messages holds no unique index. */
		if ((r = store_message_add(e->store, &m, &ev->seq)) != HALQA_OK) {
			goto out;
		}
		ev->type = ENGINE_EVENT_MESSAGE;
		ev->in_round = msg->u.chat.in_round != 0;
		memcpy(ev->round_id, msg->u.chat.round_id, SESSION_ROUND_ID_LEN);
		*stored = true;
		goto out;
	}
	/* Session payloads go to their handler, whose rows join this transaction. */
	ev->type = ENGINE_EVENT_PAYLOAD;
	ev->payload = msg;
	if ((r = sqlite3_exec(store_db(e->store), "SAVEPOINT engine_payload", NULL, NULL, NULL)) !=
	    SQLITE_OK) {
		r = HALQA_ERR_IO;
		goto out;
	}
	if (engine_emit(e, ev) != HALQA_OK) {
		(void)sqlite3_exec(store_db(e->store),
				   "ROLLBACK TO engine_payload; RELEASE engine_payload", NULL, NULL,
				   NULL);
		*refused = true;
	} else if (sqlite3_exec(store_db(e->store), "RELEASE engine_payload", NULL, NULL, NULL) !=
		   SQLITE_OK) {
		r = HALQA_ERR_IO;
		goto out;
	}
	ev->payload = NULL;
	ev->type = 0;
	r = HALQA_OK;
out:
	if (msg != NULL) {
		sodium_memzero(msg, sizeof *msg);
		free(msg);
	}
	return r;
}

/*
 * note_added records in the store, inside the transaction that confirms
 * our commit at |seq| (|c|'s group has just moved on by it), the relay
 * cursor owed to each member that commit added (those not in |old|):
 * its cursor id and the new epoch's capability, which the group forgets
 * once it moves on. A crash after the confirmation keeps them; until the
 * relay has every one, ack_cursor holds our own cursor at the commit.
 */
static int note_added(struct engine *e, const struct circle *c,
		      const struct mls_group_member *old, size_t num_old, uint64_t seq)
{
	struct mls_group_member *now = NULL;
	uint8_t cursor_id[ENGINE_ID_LEN], cap[WIRE_CAP_LEN];
	size_t num_now = 0;
	int r;

	if ((r = mls_group_members(c->g, &now, &num_now)) != HALQA_OK) {
		return r;
	}
	for (size_t i = 0; i < num_now && r == HALQA_OK; i++) {
		if (member_in(&now[i], old, num_old)) {
			continue;
		}
		if ((r = newcomer_cursor(c->g, now[i].leaf, cursor_id)) == HALQA_OK &&
		    (r = circle_cap(c, cap)) == HALQA_OK) {
			r = store_newcomer_ack_add(e->store, c->row.circle_id, cursor_id, seq, cap,
						   engine_now(e));
		}
	}
	sodium_memzero(cap, sizeof cap);
	free(now);
	return r;
}

/*
 * newcomer_acks makes at the relay the cursors note_added recorded for
 * circle |c| (each at its commit's place in the log, with the epoch's
 * capability). Without them the relay could delete an epoch's first
 * messages before a newcomer's first sync: it keeps a message only while
 * some live cursor has not read it, and the newcomer has none yet; our
 * own cursor stands in for it meanwhile (ack_cursor). A row goes once
 * the relay has it, or with a log line once the relay refuses it for
 * good (`denied`: the epoch is gone, say) or it is older than the relay's
 * default max age (the messages it kept are gone by then): neither loops
 * nor holds our cursor forever. An unreachable or busy relay keeps the
 * rows for the next sync. |out_oldest|, if not NULL, gets the row left
 * with the lowest seq (row 0 if none; wipe it after use).
 */
static int newcomer_acks(struct engine *e, struct circle *c,
			 struct store_newcomer_ack *out_oldest)
{
	struct store_newcomer_ack *owed = NULL;
	struct wire_msg *req = NULL;
	int64_t now = engine_now(e);
	size_t num = 0;
	bool kept = false;
	int r, ar = HALQA_OK;

	if (out_oldest != NULL) {
		memset(out_oldest, 0, sizeof *out_oldest);
	}
	if ((r = store_newcomer_ack_list(e->store, c->row.circle_id, &owed, &num)) != HALQA_OK ||
	    num == 0) {
		goto out;
	}
	if ((req = calloc(1, sizeof *req)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < num && r == HALQA_OK; i++) {
		const char *why = NULL;

		if (now - owed[i].created_at > ENGINE_NEWCOMER_MAX_AGE_MS) {
			why = "older than the relay keeps messages";
		} else if (ar == HALQA_ERR_NETWORK || ar == HALQA_ERR_LIMIT) {
			/* The relay is gone or busy: the rest waits with this one. */
		} else {
			wire_msg_init(req, WIRE_ACK, 0);
			memcpy(req->u.ack.circle_id, c->row.circle_id, WIRE_ID_LEN);
			memcpy(req->u.ack.cursor_id, owed[i].cursor_id, WIRE_ID_LEN);
			memcpy(req->u.ack.cap, owed[i].cap, WIRE_CAP_LEN);
			req->u.ack.seq = owed[i].seq;
			ar = call(e, req);
			sodium_memzero(req->u.ack.cap, WIRE_CAP_LEN);
			if (ar != HALQA_OK && ar != HALQA_ERR_NETWORK && ar != HALQA_ERR_LIMIT) {
				why = halqa_strerror(ar);
			}
		}
		if (ar == HALQA_OK || why != NULL) {
			if (why != NULL) {
				halqa_log(HALQA_LOG_WARN, "engine",
					  "a newcomer's relay cursor was given up: %s", why);
			}
			r = store_newcomer_ack_delete(e->store, owed[i].row);
		} else if (!kept) {
			kept = true;
			if (out_oldest != NULL) {
				*out_oldest = owed[i];
			}
		}
	}
	if (r == HALQA_OK && ar == HALQA_ERR_NETWORK) {
		r = ar;
	}
out:
	if (req != NULL) {
		wire_msg_cleanup(req);
		free(req);
	}
	store_newcomer_ack_free(owed, num);
	return r;
}

/*
 * A batch: what FETCH replies bring, up to ENGINE_BATCH_ITEMS items and
 * across epochs, read in one store transaction that ends with the cursor
 * and one save of the group, so the messages and the ratchet state that
 * decrypted them commit together (a crash keeps both or neither; a relay
 * that fails mid-way leaves what was read written). Application messages
 * are read in it by batch_item; a proposal or the commit closing the epoch
 * joins it too (process_item); a confirmed commit of ours ends it. Such an
 * item is read inside a savepoint, with a copy of the group and the row
 * from just before it: a commit the roster rules refuse is taken back to
 * that point alone, and the messages before it stay.
 *
 * A batch that holds nothing but our own messages echoed (the usual sync
 * before a send: the last send's echo) is relaxed: it changes no key and
 * brings no message, so it neither saves the group (unchanged) nor waits
 * for the disk (store_sync_relax); if a crash undoes it, the next sync
 * reads the echoes again, or skips them if the relay has dropped them.
 * It becomes durable with the next durable commit (a send's) or the
 * close. The first item that is not such an echo commits it and goes on
 * in a durable batch.
 */
struct batch {
	bool open;                        /* a store transaction is open */
	struct engine_sync_report at_open; /* the report when it opened, for an abort */
	struct engine_event *events;      /* events, given out after the commit */
	size_t num_events;
	size_t max_events;
	struct mls_group_member *members; /* the epoch's members (an epoch's batch never changes them) */
	size_t num_members;
	bool have_members;
	struct counters counters; /* the senders' counters, written at the commit */
	size_t num_items;         /* log items read in it */
	bool must_commit;         /* a commit of ours was confirmed in it */
	bool relaxed;             /* echoes of ours only: committed without waiting for the disk */
	int saved_sync;           /* the store's durability to restore after a relaxed batch */
};

static int batch_commit(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b);
static int batch_abort(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b);

/*
 * batch_closed restores the store's durability after the batch's
 * transaction ended. A failure is returned: the store then refuses every
 * write (store_sync_restore).
 */
static int batch_closed(struct engine *e, struct batch *b)
{
	int r = store_sync_restore(e->store, b->saved_sync);

	b->open = false;
	b->relaxed = false;
	b->saved_sync = -1;
	return r != HALQA_OK ? engine_seterr(e, r, "the profile cannot make its writes durable again")
			     : HALQA_OK;
}

/*
 * batch_open starts the batch's transaction if it has none yet: relaxed
 * if |echo| (the caller reads an item that may be an echo of ours, and
 * says so with batch_harden if it is not). An item that is not an echo
 * (|echo| false) ends a relaxed batch first and opens a durable one.
 */
static int batch_open(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b,
		      bool echo)
{
	int r;

	if (b->open && (echo || !b->relaxed)) {
		return HALQA_OK;
	}
	if (b->open && b->num_items == 0) {
		/* Nothing read in it yet (a lookup only): ended with nothing written. */
		if ((r = store_commit(e->store)) != HALQA_OK) {
			(void)batch_abort(e, c, sx, b);
			return r;
		}
		if ((r = batch_closed(e, b)) != HALQA_OK) {
			return r;
		}
	} else if (b->open && (r = batch_commit(e, c, sx, b)) != HALQA_OK) {
		return r;
	}
	b->saved_sync = -1;
	/*
	 * The level cannot change inside a transaction: set before it starts.
	 * Should that fail, the batch is durable, which is safe.
	 */
	if (echo) {
		(void)store_sync_relax(e->store, &b->saved_sync);
	}
	if ((r = store_begin(e->store)) != HALQA_OK) {
		(void)batch_closed(e, b);
		return r;
	}
	b->open = true;
	b->relaxed = echo;
	b->at_open = *sx->rep;
	return HALQA_OK;
}

/* batch_harden makes sure the item being read goes into a durable batch. */
static int batch_harden(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b)
{
	return batch_open(e, c, sx, b, false);
}

/* batch_event keeps |ev| to be given out once the batch is committed. */
static void batch_event(struct batch *b, const struct engine_event *ev)
{
	if (ev->type != 0 && b->num_events < b->max_events) {
		b->events[b->num_events++] = *ev;
	}
}

/* batch_abort rolls the batch back: the store, the group and the row as they were before it. */
static int batch_abort(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b)
{
	int r, rr;

	if (!b->open) {
		return HALQA_OK;
	}
	(void)store_rollback(e->store);
	rr = batch_closed(e, b);
	*sx->rep = b->at_open;
	sodium_memzero(b->events, b->num_events * sizeof *b->events);
	b->num_events = 0;
	b->num_items = 0;
	b->must_commit = false;
	b->counters.num = 0;
	free(b->members);
	b->members = NULL;
	b->have_members = false;
	/* The in-memory group ran ahead of the store: read both back. */
	r = circle_reload(e, c);
	return r != HALQA_OK ? r : rr;
}

/* batch_commit ends the batch: the cursor and the group with its messages, then their events. */
static int batch_commit(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b)
{
	int r, rr;

	free(b->members);
	b->members = NULL;
	b->have_members = false;
	if (!b->open) {
		return HALQA_OK;
	}
	/* A relaxed batch read echoes only: the group is as stored. */
	if ((r = counters_flush(e, c, &b->counters)) != HALQA_OK ||
	    (r = store_circle_set_cursor(e->store, c->row.circle_id, c->row.relay_seq)) !=
		    HALQA_OK ||
	    (!b->relaxed && (r = circle_save(e, c)) != HALQA_OK) ||
	    (r = store_commit(e->store)) != HALQA_OK) {
		(void)batch_abort(e, c, sx, b);
		return r;
	}
	/* Committed either way; should durability not come back, the store refuses writes. */
	rr = batch_closed(e, b);
	b->num_items = 0;
	b->must_commit = false;
	for (size_t i = 0; i < b->num_events; i++) {
		(void)engine_emit(e, &b->events[i]);
	}
	/* Only what was used is wiped: the buffer is sized for the largest batch. */
	sodium_memzero(b->events, b->num_events * sizeof *b->events);
	b->num_events = 0;
	return rr;
}

static int db_exec(struct engine *e, const char *sql)
{
	return sqlite3_exec(store_db(e->store), sql, NULL, NULL, NULL) == SQLITE_OK ? HALQA_OK
										    : HALQA_ERR_IO;
}

/*
 * process_item handles message |seq| of the circle's log, a proposal or
 * a commit, inside batch |b| (opening it if needed): ours (skipped, or
 * our pending commit confirmed), or another member's (decrypted,
 * checked). It is written with the batch: the group, the cursor and what
 * the message produced commit together. A message that does not pass is
 * counted as refused and skipped, so a bad message cannot wedge the
 * circle; a commit the roster rules refuse leaves the group as it was
 * before it and blocks the circle. A store failure rolls the whole batch
 * back (group and row included) and is returned.
 */
static int process_item(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b,
			uint64_t seq, uint8_t kind, const uint8_t *payload, size_t len)
{
	struct mls_group_event ev;
	struct mls_group_member *members = NULL;
	struct engine_event mem_ev;
	struct roster old_ro;
	struct store_circle old_row;
	uint8_t hash[32], sender[ENGINE_KEY_LEN], msg_id[ENGINE_ID_LEN];
	uint8_t *old_state = NULL;
	size_t num_members = 0, old_state_len = 0;
	const char *why = NULL;
	bool ours = false, found = false, in_sp = false, changed = false, had_pending;
	uint64_t epoch;
	int r, pr;

	memset(&ev, 0, sizeof ev);
	memset(&mem_ev, 0, sizeof mem_ev);
	hash_bytes(hash, payload, len);
	had_pending = mls_group_has_pending(c->g);
	epoch = mls_group_epoch(c->g);
	if ((r = batch_open(e, c, sx, b, false)) != HALQA_OK) {
		return r;
	}
	/*
	 * The point a refused commit goes back to: the group and the row in
	 * memory (the batch's progress is not in the store yet), the store
	 * by the savepoint.
	 */
	old_row = c->row;
	if ((r = mls_group_save(c->g, &old_state, &old_state_len)) != HALQA_OK ||
	    (r = db_exec(e, "SAVEPOINT engine_item")) != HALQA_OK) {
		goto out;
	}
	in_sp = true;
	r = store_sent_take(e->store, c->row.circle_id, hash);
	if (r == HALQA_OK) {
		ours = true;
	} else if (r != HALQA_ERR_NOT_FOUND) {
		goto out;
	}
	if (ours && !(kind == WIRE_KIND_COMMIT && mls_group_has_pending(c->g))) {
		/* Our own message or proposal, echoed: done; its outbox entry too. */
		if ((r = outbox_echo(e, c->row.circle_id, hash, msg_id, &found)) != HALQA_OK) {
			goto out;
		}
		goto advance;
	}
	if (roster_of(c->g, &old_ro) != HALQA_OK) {
		memset(&old_ro, 0, sizeof old_ro);
	}
	if ((r = mls_group_members(c->g, &members, &num_members)) != HALQA_OK) {
		goto out;
	}
	pr = mls_group_process(c->g, payload, len, &ev);
	if (pr != HALQA_OK && ours) {
		/* Our pending commit, accepted by the relay: apply it as accepted. */
		pr = mls_group_commit_confirm(c->g);
		ev.type = MLS_GROUP_EVENT_COMMIT;
		ev.sender = mls_group_own_leaf(c->g);
	}
	if (pr != HALQA_OK) {
		char fp[9];

		halqa_log_fp(fp, c->row.circle_id, ENGINE_ID_LEN);
		halqa_log(HALQA_LOG_WARN, "engine", "circle %s: message %llu refused: %s", fp,
			  (unsigned long long)seq, halqa_strerror(pr));
		sx->rep->refused++;
		goto advance;
	}
	if (ev.sender == UINT32_MAX ||
	    leaf_identity(members, num_members, ev.sender, sender) != HALQA_OK) {
		/* Not from a Halqa member we know (external senders are not ours to accept). */
		if (ev.type == MLS_GROUP_EVENT_COMMIT) {
			why = "a commit from an unknown sender";
			goto refuse_commit;
		}
		sx->rep->refused++;
		goto advance;
	}
	switch (ev.type) {
	case MLS_GROUP_EVENT_PROPOSAL:
		/*
		 * A member may ask to leave (a Remove of its own leaf); anything
		 * else must come from a facilitator, or we do not commit it.
		 */
		if (!((ev.proposal_type == MLS_PROPOSAL_REMOVE ||
		       ev.proposal_type == MLS_PROPOSAL_UPDATE) &&
		      ev.proposal_leaf == ev.sender) &&
		    roster_may_change_membership(&old_ro, sender) != HALQA_OK &&
		    !(c->row.flags & STORE_CIRCLE_BAD_PROPOSAL)) {
			/* Remembered with the group, until the next commit clears the cache. */
			c->row.flags |= STORE_CIRCLE_BAD_PROPOSAL;
			if ((r = store_circle_update(e->store, &c->row)) != HALQA_OK) {
				goto out;
			}
		}
		break;
	case MLS_GROUP_EVENT_COMMIT:
		if (check_commit(c->g, &old_ro, members, num_members, sender, &changed, &why) !=
			    HALQA_OK &&
		    !ours) {
			goto refuse_commit;
		}
		sx->rep->commits++;
		sx->epoch_changed = true;
		/* The new epoch's members are not the batch's any more. */
		free(b->members);
		b->members = NULL;
		b->have_members = false;
		if (c->row.flags & STORE_CIRCLE_BAD_PROPOSAL) {
			c->row.flags &= ~STORE_CIRCLE_BAD_PROPOSAL;
			if ((r = store_circle_update(e->store, &c->row)) != HALQA_OK) {
				goto out;
			}
		}
		if (ours) {
			sx->confirmed_own = true;
			b->must_commit = true;
			if ((r = note_added(e, c, members, num_members, seq)) != HALQA_OK) {
				goto out;
			}
		} else if (had_pending && (r = store_welcome_out_discard(e->store, c->row.circle_id,
									 epoch)) != HALQA_OK) {
			/*
			 * Another's commit discarded our pending one, made in this
			 * epoch: its Welcomes will never be valid. What else waits
			 * belongs to an earlier commit of ours the relay accepted
			 * (posting failed then): still valid, posted at the end of
			 * this sync.
			 */
			goto out;
		}
		if (changed) {
			mem_ev.type = ENGINE_EVENT_MEMBERS;
			memcpy(mem_ev.circle_id, c->row.circle_id, ENGINE_ID_LEN);
			batch_event(b, &mem_ev);
		}
		if (ev.removed || mls_group_is_removed(c->g)) {
			c->row.flags |= STORE_CIRCLE_REMOVED;
			snprintf(c->row.reason, sizeof c->row.reason, "%s",
				 "we were removed from the circle");
			/*
			 * Not read again; what an earlier commit of ours owes its
			 * newcomers is still settled (owed_after_closing).
			 */
			if ((r = store_circle_update(e->store, &c->row)) != HALQA_OK) {
				goto out;
			}
			memset(&mem_ev, 0, sizeof mem_ev);
			mem_ev.type = ENGINE_EVENT_REMOVED;
			memcpy(mem_ev.circle_id, c->row.circle_id, ENGINE_ID_LEN);
			batch_event(b, &mem_ev);
		}
		break;
	default:
		/* An application message in a proposal or commit slot: not read there. */
		sx->rep->refused++;
		break;
	}
advance:
	/* The cursor and the group are written when the batch commits. */
	if ((r = db_exec(e, "RELEASE engine_item")) != HALQA_OK) {
		goto out;
	}
	in_sp = false;
	c->row.relay_seq = seq;
	b->num_items++;
	r = HALQA_OK;
	goto out;
refuse_commit:
	/*
	 * The roster rules refuse it: every honest member does the same, so
	 * the group keeps the state from before this commit, and the circle
	 * cannot follow the relay past it.
	 */
	sx->rep->refused++;
	mls_group_event_cleanup(&ev);
	if ((r = db_exec(e, "ROLLBACK TO engine_item; RELEASE engine_item")) != HALQA_OK) {
		goto out;
	}
	in_sp = false;
	mls_group_free(c->g);
	c->g = NULL;
	c->row = old_row;
	if ((r = group_load_bytes(&c->g, old_state, old_state_len)) == HALQA_OK) {
		r = close_circle(e, c, STORE_CIRCLE_BLOCKED, why);
	}
out:
	if (in_sp) {
		(void)db_exec(e, "ROLLBACK TO engine_item; RELEASE engine_item");
	}
	if (r != HALQA_OK) {
		(void)batch_abort(e, c, sx, b);
	}
	mls_group_state_free(old_state, old_state_len);
	mls_group_event_cleanup(&ev);
	free(members);
	return r;
}

/*
 * private_application says whether |msg| is framed as an application
 * PrivateMessage (RFC 9420 6.3: version, wire format, group id, epoch,
 * then the content type, which PrivateContentAAD authenticates). Only
 * such a message may sit in an application slot of the log: anything
 * else (a commit above all) would change the group in the middle of a
 * batch, where it cannot be taken back.
 */
static bool private_application(const uint8_t *msg, size_t len)
{
	struct bytes_reader rd, group_id;
	uint16_t version, wire_format;
	uint64_t epoch;
	uint8_t content_type;

	bytes_reader_init(&rd, msg, len);
	return bytes_get_u16(&rd, &version) == HALQA_OK && version == MLS_VERSION_MLS10 &&
	       bytes_get_u16(&rd, &wire_format) == HALQA_OK &&
	       wire_format == MLS_WIRE_PRIVATE_MESSAGE &&
	       bytes_get_vec(&rd, &group_id, MLS_MAX_GROUP_ID) == HALQA_OK &&
	       bytes_get_u64(&rd, &epoch) == HALQA_OK &&
	       bytes_get_u8(&rd, &content_type) == HALQA_OK &&
	       content_type == MLS_CONTENT_APPLICATION;
}

/* refused_item counts and logs message |seq| of |c| as refused (not stored). */
static void refused_item(struct circle *c, struct sync_ctx *sx, uint64_t seq, int why)
{
	char fp[9];

	halqa_log_fp(fp, c->row.circle_id, ENGINE_ID_LEN);
	halqa_log(HALQA_LOG_WARN, "engine", "circle %s: message %llu refused: %s", fp,
		  (unsigned long long)seq, halqa_strerror(why));
	sx->rep->refused++;
}

/*
 * batch_item handles application message |seq| inside batch |b| (opening
 * it if needed): ours (echoed: its outbox entry goes), or another
 * member's (decrypted, stored). A message that does not pass is refused
 * alone, the batch goes on. A store failure rolls the whole batch back
 * (group and row included) and is returned.
 */
static int batch_item(struct engine *e, struct circle *c, struct sync_ctx *sx, struct batch *b,
		      uint64_t seq, const uint8_t *payload, size_t len)
{
	struct mls_group_event ev;
	struct engine_event out_ev;
	uint8_t hash[32], sender[ENGINE_KEY_LEN], msg_id[ENGINE_ID_LEN];
	bool found = false, stored = false, refused = false;
	int r, pr;

	memset(&ev, 0, sizeof ev);
	memset(&out_ev, 0, sizeof out_ev);
	if ((r = batch_open(e, c, sx, b, true)) != HALQA_OK) {
		return r;
	}
	hash_bytes(hash, payload, len);
	r = store_sent_take(e->store, c->row.circle_id, hash);
	if (r == HALQA_OK) {
		/* Our own message, echoed: done, and its outbox entry with it. */
		if ((r = outbox_echo(e, c->row.circle_id, hash, msg_id, &found)) != HALQA_OK) {
			goto fail;
		}
		if (found && b->relaxed) {
			e->outbox_unsynced = true;
		}
		goto advance;
	}
	if (r != HALQA_ERR_NOT_FOUND) {
		goto fail;
	}
	/* Not an echo (the lookup wrote nothing): read in a durable batch. */
	if ((r = batch_harden(e, c, sx, b)) != HALQA_OK) {
		return r;
	}
	if (!private_application(payload, len)) {
		refused_item(c, sx, seq, HALQA_ERR_INVALID);
		goto advance;
	}
	if (!b->have_members) {
		if ((r = mls_group_members(c->g, &b->members, &b->num_members)) != HALQA_OK) {
			goto fail;
		}
		b->have_members = true;
	}
	pr = mls_group_process(c->g, payload, len, &ev);
	if (pr != HALQA_OK) {
		refused_item(c, sx, seq, pr);
		goto advance;
	}
	if (ev.type != MLS_GROUP_EVENT_APPLICATION) {
		/* The content type is authenticated: an application frame holds application data. */
		r = HALQA_ERR_INTERNAL;
		goto fail;
	}
	if (ev.sender == UINT32_MAX ||
	    leaf_identity(b->members, b->num_members, ev.sender, sender) != HALQA_OK) {
		/* Not from a Halqa member we know. */
		refused_item(c, sx, seq, HALQA_ERR_DENIED);
		goto advance;
	}
	if ((r = store_application(e, c, ev.data, ev.data_len, sender, &b->counters, &out_ev,
				   &stored, &refused)) != HALQA_OK) {
		goto fail;
	}
	if (stored) {
		sx->rep->received++;
	}
	if (refused) {
		sx->rep->refused++;
	}
	batch_event(b, &out_ev);
advance:
	c->row.relay_seq = seq;
	b->num_items++;
	mls_group_event_cleanup(&ev);
	return HALQA_OK;
fail:
	mls_group_event_cleanup(&ev);
	(void)batch_abort(e, c, sx, b);
	return r;
}

/*
 * ack_cursor tells the relay we have read up to our cursor (keeps it
 * live). The cursors a commit of ours still owes its newcomers go first
 * (newcomer_acks); while one is left, our own cursor is acknowledged no
 * further than that commit, with the capability kept for it, so the
 * relay keeps the epoch's messages for the newcomer (and our cursor stays
 * live). Skipped when the relay already has this position from an ACK of
 * ours less than ENGINE_ACK_REFRESH_MS ago.
 */
static int ack_cursor(struct engine *e, struct circle *c)
{
	struct store_newcomer_ack held;
	struct wire_msg *req = NULL;
	uint64_t seq = c->row.relay_seq;
	int64_t now = engine_now(e);
	int r, rr, saved = -1;

	if ((r = newcomer_acks(e, c, &held)) != HALQA_OK) {
		goto out;
	}
	if (held.row != 0 && held.seq < seq) {
		seq = held.seq;
	}
	if (c->row.acked_at != 0 && c->row.acked_seq == seq && now >= c->row.acked_at &&
	    now - c->row.acked_at < ENGINE_ACK_REFRESH_MS) {
		goto out;
	}
	if ((req = calloc(1, sizeof *req)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	wire_msg_init(req, WIRE_ACK, 0);
	memcpy(req->u.ack.circle_id, c->row.circle_id, WIRE_ID_LEN);
	memcpy(req->u.ack.cursor_id, c->row.cursor_id, WIRE_ID_LEN);
	req->u.ack.seq = seq;
	if (seq != c->row.relay_seq) {
		memcpy(req->u.ack.cap, held.cap, WIRE_CAP_LEN);
	} else if ((r = circle_cap(c, req->u.ack.cap)) != HALQA_OK) {
		goto out;
	}
	/*
	 * Past this ACK the relay may forget what we read, and with it the
	 * client message ids of our own messages there. Should a power cut
	 * bring back an outbox entry whose removal did not wait for the disk,
	 * its message would then be taken again as a new one and reach every
	 * member twice: such removals are made durable first (rewriting the
	 * ACK's record as it stands, in a commit that waits for the disk).
	 */
	if (e->outbox_unsynced && seq > c->row.acked_seq) {
		if ((r = store_circle_set_acked(e->store, c->row.circle_id, c->row.acked_seq,
						c->row.acked_at)) != HALQA_OK) {
			goto out;
		}
		e->outbox_unsynced = false;
	}
	if ((r = call(e, req)) != HALQA_OK) {
		goto out;
	}
	/*
	 * The record only saves repeating the ACK: a crash that undoes it
	 * costs one more ACK, so it does not wait for the disk.
	 */
	(void)store_sync_relax(e->store, &saved);
	r = store_circle_set_acked(e->store, c->row.circle_id, seq, now);
	if ((rr = store_sync_restore(e->store, saved)) != HALQA_OK) {
		r = engine_seterr(e, rr, "the profile cannot make its writes durable again");
		goto out;
	}
	if (r == HALQA_OK) {
		c->row.acked_seq = seq;
		c->row.acked_at = now;
	}
out:
	sodium_memzero(&held, sizeof held);
	if (req != NULL) {
		sodium_memzero(req->u.ack.cap, WIRE_CAP_LEN);
		wire_msg_cleanup(req);
		free(req);
	}
	return r;
}

/* sort_items sorts |order| (indices into |items|) by sequence number: insertion sort, n <= 256. */
static void sort_items(uint16_t *order, uint16_t n, const struct wire_fetch_item *items)
{
	for (uint16_t i = 1; i < n; i++) {
		uint16_t v = order[i], j = i;

		while (j > 0 && items[order[j - 1]].seq > items[v].seq) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
}

/*
 * ahead_start sends |req| with its answer going to |f| (read with
 * fetch_finish), and out at once: the caller works without running the
 * loop until it needs the answer.
 */
static int ahead_start(struct engine *e, struct engine_fetch *f, const struct wire_msg *req)
{
	unsigned timeout_ms;
	int r;

	e->relay_refused = false;
	if ((r = engine_connect(e)) != HALQA_OK || (r = call_timeout(e, &timeout_ms)) != HALQA_OK) {
		return r;
	}
	if ((r = net_start(e->net, req, &f->p, timeout_ms)) != HALQA_OK) {
		return engine_seterr(e, r, "%s", net_fault_text(r));
	}
	net_flush(e->net);
	return HALQA_OK;
}

/* fetch_start sends a FETCH of |c| at its group's epoch from |from_seq|, answered into |f|. */
static int fetch_start(struct engine *e, struct circle *c, struct engine_fetch *f,
		       uint64_t from_seq)
{
	struct wire_msg *req;
	int r;

	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	wire_msg_init(req, WIRE_FETCH, 0);
	memcpy(req->u.fetch.circle_id, c->row.circle_id, WIRE_ID_LEN);
	req->u.fetch.from_seq = from_seq;
	req->u.fetch.max_count = WIRE_MAX_FETCH_COUNT;
	if ((r = circle_cap(c, req->u.fetch.cap)) == HALQA_OK &&
	    (r = ahead_start(e, f, req)) == HALQA_OK) {
		memcpy(f->circle_id, c->row.circle_id, ENGINE_ID_LEN);
		f->epoch = mls_group_epoch(c->g);
		f->from_seq = from_seq;
	}
	wire_msg_cleanup(req);
	free(req);
	return r;
}

/* fetch_finish waits for |f|'s answer (in f->msg); a failure is recorded as call's are. */
static int fetch_finish(struct engine *e, struct engine_fetch *f)
{
	int r;

	wire_msg_cleanup(f->msg);
	r = net_finish(&f->p, f->msg);
	return r == HALQA_OK ? r : call_failed(e, r, f->msg);
}

/* fetch_drop waits out |f|'s request, if any, and forgets its answer. */
static void fetch_drop(struct engine_fetch *f)
{
	if (f->p.started && net_finish(&f->p, f->msg) != HALQA_OK) {
		/* Its failure is nobody's: the answer was not going to be read. */
	}
	wire_msg_cleanup(f->msg);
	net_pending_cleanup(&f->p);
}

/* fetch_is says whether |f| is out for circle |c| at its current epoch from |from_seq|. */
static bool fetch_is(const struct engine_fetch *f, const struct circle *c, uint64_t from_seq)
{
	return f->p.started && memcmp(f->circle_id, c->row.circle_id, ENGINE_ID_LEN) == 0 &&
	       f->epoch == mls_group_epoch(c->g) && f->from_seq == from_seq;
}

/* fetch_free frees what engine_new allocated beside the engine (the reply, the FETCHes). */
static void fetch_free(struct engine *e)
{
	if (e == NULL) {
		return;
	}
	for (size_t i = 0; e->fetch != NULL && i < ENGINE_NUM_AHEAD; i++) {
		net_pending_cleanup(&e->fetch[i].p);
		if (e->fetch[i].msg != NULL) {
			wire_msg_cleanup(e->fetch[i].msg);
			free(e->fetch[i].msg);
		}
	}
	free(e->fetch);
	e->fetch = NULL;
	if (e->reply != NULL) {
		wire_msg_cleanup(e->reply);
		free(e->reply);
		e->reply = NULL;
	}
}

/*
 * fetch_circle reads the circle's log from its cursor, epoch by epoch,
 * until the end, with the next FETCH in flight while a reply is read
 * (struct engine_fetch). The group stays loaded in |c|.
 */
static int fetch_circle(struct engine *e, struct circle *c, struct sync_ctx *sx)
{
	struct engine_fetch *cur = &e->fetch[0], *ahead = &e->fetch[1], *t;
	struct batch b;
	uint64_t epoch, first, last, prev_seq, top;
	uint16_t order[WIRE_MAX_FETCH_COUNT];
	bool closed, relay_failed = false;
	int r = HALQA_OK;

	memset(&b, 0, sizeof b);
	b.saved_sync = -1;
	/*
	 * A reply gives an event per message, and two for a commit: members,
	 * removed; a batch ends after the reply that filled it. At 4,096
	 * items, about half a MiB, wiped only as far as it was used.
	 */
	b.max_events = e->batch_items + WIRE_MAX_FETCH_COUNT + 2;
	if ((b.events = calloc(b.max_events, sizeof *b.events)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (unsigned round = 0; round < ENGINE_MAX_FETCH_ROUNDS; round++) {
		if (c->row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
			break;
		}
		epoch = mls_group_epoch(c->g);
		if (fetch_is(ahead, c, c->row.relay_seq + 1)) {
			t = cur;
			cur = ahead;
			ahead = t;
		} else {
			fetch_drop(ahead);
			if ((r = fetch_start(e, c, cur, c->row.relay_seq + 1)) != HALQA_OK) {
				relay_failed = true;
				break;
			}
		}
		if ((r = fetch_finish(e, cur)) != HALQA_OK) {
			relay_failed = true;
			break;
		}
		const struct wire_fetch_ok *f = &cur->msg->u.ok.u.fetch;

		closed = f->closed != 0;
		first = f->first_seq;
		last = f->last_seq;
		if (f->epoch != epoch || first == 0 || last + 1 < first) {
			/* Not an answer to what we asked: a relay bug or a hostile relay. */
			r = engine_seterr(e, HALQA_ERR_MALFORMED, "the relay answered out of turn");
			relay_failed = true;
			break;
		}
		if (c->row.relay_seq + 1 < first) {
			/* Nothing before our epoch is ours to read (a joiner starts here). */
			if ((r = store_circle_set_cursor(e->store, c->row.circle_id, first - 1)) !=
			    HALQA_OK) {
				break;
			}
			c->row.relay_seq = first - 1;
		}
		prev_seq = c->row.relay_seq;
		/*
		 * In sequence order whatever order the relay used, within the
		 * epoch, each once: anything else (a replay, a message of
		 * another epoch) is dropped.
		 */
		top = 0;
		for (uint16_t i = 0; i < f->num_msgs; i++) {
			order[i] = i;
			if (f->msgs[i].seq > c->row.relay_seq && f->msgs[i].seq <= last &&
			    f->msgs[i].seq > top) {
				top = f->msgs[i].seq;
			}
		}
		sort_items(order, f->num_msgs, f->msgs);
		/* The reply stopped short of the epoch's end: ask for the rest while reading it. */
		if (top != 0 && top < last && (r = fetch_start(e, c, ahead, top + 1)) != HALQA_OK) {
			relay_failed = true;
			break;
		}
		for (uint16_t k = 0; k < f->num_msgs && r == HALQA_OK; k++) {
			const struct wire_fetch_item *it = &f->msgs[order[k]];

			if (it->seq <= c->row.relay_seq || it->seq < first || it->seq > last) {
				sx->rep->refused++;
				continue;
			}
			if (it->kind == WIRE_KIND_APPLICATION) {
				r = batch_item(e, c, sx, &b, it->seq, it->payload.data,
					       it->payload.len);
			} else {
				r = process_item(e, c, sx, &b, it->seq, it->kind, it->payload.data,
						 it->payload.len);
			}
			if (r != HALQA_OK || mls_group_epoch(c->g) != epoch ||
			    (c->row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
				break;
			}
		}
		/*
		 * A commit moved us on: the next epoch's FETCH goes out before
		 * the batch is written. Should the batch fail, the group goes
		 * back to this epoch and the answer is dropped unread.
		 */
		if (r == HALQA_OK && mls_group_epoch(c->g) != epoch &&
		    !(c->row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
			/*
			 * The batch goes on into the new epoch, whose session
			 * payloads are checked against the roster event handlers
			 * read from the store (engine_circle_members): the
			 * batch's transaction holds the new epoch's group from
			 * here on, as a commit of the batch at each epoch did.
			 */
			if (b.open && (r = circle_save(e, c)) != HALQA_OK) {
				break;
			}
			fetch_drop(ahead);
			relay_failed = (r = fetch_start(e, c, ahead, c->row.relay_seq + 1)) != HALQA_OK;
		}
		/*
		 * The batch goes on into the next reply, whose FETCH is out,
		 * until it holds e->batch_items items or a commit of ours
		 * was confirmed in it (its newcomers' cursors are made from
		 * what it stored): fewer WAL commits, each still all or nothing.
		 */
		if (r == HALQA_OK && (b.must_commit || b.num_items >= e->batch_items)) {
			r = batch_commit(e, c, sx, &b);
		}
		if (r != HALQA_OK) {
			break;
		}
		if (mls_group_epoch(c->g) != epoch) {
			/* Our commit's newcomers get their cursors now (what fails waits: ack_cursor). */
			(void)newcomer_acks(e, c, NULL);
			continue; /* a commit moved us on: read the next epoch */
		}
		if (c->row.relay_seq >= last) {
			if ((r = batch_commit(e, c, sx, &b)) != HALQA_OK) {
				break;
			}
			if (closed && !(c->row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
				/* The closing commit did not apply: we cannot follow. */
				r = close_circle(e, c, STORE_CIRCLE_BLOCKED,
						 "a commit of this circle could not be processed");
			} else if (mls_group_has_pending(c->g)) {
				/* The epoch is open and ours is not in it: the relay never took it. */
				r = discard_pending(e, c, NULL);
			}
			break;
		}
		if (c->row.relay_seq == prev_seq) {
			break; /* no progress (deleted messages, or junk): as far as we can */
		}
	}
	/*
	 * What the batch read stands when the relay fails us (a FETCH lost,
	 * unanswered or out of turn): it is written, and the failure returned.
	 */
	if (r == HALQA_OK || relay_failed) {
		int cr = batch_commit(e, c, sx, &b);

		r = r == HALQA_OK ? cr : r;
	}
	(void)batch_abort(e, c, sx, &b); /* only after a failure: a batch in flight is rolled back */
	/* A FETCH asked ahead and not read (a failure, a blocked circle): waited out, dropped. */
	fetch_drop(ahead);
	fetch_drop(cur);
	free(b.members);
	sodium_memzero(b.events, b.num_events * sizeof *b.events);
	free(b.events);
	return r;
}

/* ---- sending ---- */

/* Sending with a sync (engine_send_with_sync): defined after engine_send. */
static bool ss_begin(struct engine *e);
static void ss_start(struct engine *e);
static bool ss_in_flight(const struct engine *e, const uint8_t id[ENGINE_ID_LEN]);
static bool ss_holds(const struct engine *e, const struct store_outbox *o);
static int ss_settle(struct engine *e);
static void ss_after_circle(struct engine *e, bool circle_synced, struct engine_sync_report *rep);
static void ss_complete(struct engine *e);
static bool outbox_holds(struct engine *e, const uint8_t id[ENGINE_ID_LEN],
			 const uint8_t client_msg_id[ENGINE_ID_LEN]);
static int circle_fresh(struct engine *e, struct circle *c);

/*
 * outbox_remove_relaxed removes outbox entry |client_msg_id| with a commit
 * that does not wait for the disk (see send_wire). A failure to make
 * commits wait again is returned above the removal's own result: the
 * store then refuses every write (store_sync_restore).
 */
static int outbox_remove_relaxed(struct engine *e, const uint8_t client_msg_id[ENGINE_ID_LEN])
{
	int r, rr, saved = -1;

	(void)store_sync_relax(e->store, &saved);
	r = store_outbox_remove(e->store, client_msg_id);
	if (r == HALQA_OK && saved >= 0) {
		e->outbox_unsynced = true;
	}
	if ((rr = store_sync_restore(e->store, saved)) != HALQA_OK) {
		return engine_seterr(e, rr, "the profile cannot make its writes durable again");
	}
	return r;
}

/* send_req makes |req| the SEND of entry |client_msg_id|'s ciphertext |wire| for |epoch|. */
static int send_req(struct circle *c, struct wire_msg *req,
		    const uint8_t client_msg_id[ENGINE_ID_LEN], const uint8_t *wire, size_t wire_len,
		    uint64_t epoch)
{
	wire_msg_init(req, WIRE_SEND, 0);
	memcpy(req->u.send.circle_id, c->row.circle_id, WIRE_ID_LEN);
	req->u.send.epoch = epoch;
	req->u.send.kind = WIRE_KIND_APPLICATION;
	memcpy(req->u.send.client_msg_id, client_msg_id, WIRE_ID_LEN);
	req->u.send.payload.data = wire;
	req->u.send.payload.len = wire_len;
	return circle_cap(c, req->u.send.cap);
}

/*
 * send_settle settles outbox entry |client_msg_id| of circle |circle_id|
 * (message |msg_id|, written at |sent_at|) by its SEND's status |r|:
 * removed once the relay has it, with an ENGINE_EVENT_OUTBOX; counted as
 * an attempt otherwise. Returns |r|, or the removal's failure.
 */
static int send_settle(struct engine *e, const uint8_t circle_id[ENGINE_ID_LEN],
		       const uint8_t client_msg_id[ENGINE_ID_LEN],
		       const uint8_t msg_id[ENGINE_ID_LEN], int64_t sent_at, int r,
		       bool resent_elsewhere, struct engine_sync_report *rep)
{
	struct engine_event ev;

	if (r == HALQA_ERR_DENIED && resent_elsewhere) {
		/*
		 * The relay holds this client message id under another epoch's
		 * capability: an earlier attempt was stored after all (its
		 * answer was lost) and read back before this one. Done.
		 */
		halqa_log(HALQA_LOG_INFO, "engine", "an outbox entry was already delivered");
		return outbox_remove_relaxed(e, client_msg_id);
	}
	if (r != HALQA_OK) {
		if (store_outbox_bump(e->store, client_msg_id) != HALQA_OK) {
			halqa_log(HALQA_LOG_DEBUG, "engine", "outbox attempt not counted");
		}
		return r;
	}
	/* Its echo may have been read first (a FETCH sent after it): NOT_FOUND. */
	r = outbox_remove_relaxed(e, client_msg_id);
	if (r != HALQA_OK && r != HALQA_ERR_NOT_FOUND) {
		return r;
	}
	rep->sent++;
	memset(&ev, 0, sizeof ev);
	ev.type = ENGINE_EVENT_OUTBOX;
	memcpy(ev.circle_id, circle_id, ENGINE_ID_LEN);
	memcpy(ev.msg_id, msg_id, ENGINE_ID_LEN);
	ev.sent_at = sent_at;
	(void)engine_emit(e, &ev);
	return HALQA_OK;
}

/*
 * send_wire sends |wire|, outbox entry |o|'s ciphertext for |epoch|
 * (already stored with the group), and settles the entry by the answer:
 * removed once the relay has it; counted as an attempt otherwise.
 * |resent_elsewhere|: an earlier ciphertext of the entry went out under
 * another epoch.
 *
 * The removal does not wait for the disk (store_sync_relax): if a crash
 * undoes it, the entry is still there with its ciphertext, and the next
 * sync sends it again: the same bytes under the same epoch, which the
 * relay recognises by the client message id, or, after a commit, a new
 * ciphertext that the relay refuses as already held (the DENIED case
 * below), so it is never delivered twice or under another id. Its
 * durability comes with the next durable commit or the close.
 */
static int send_wire(struct engine *e, struct circle *c, const struct store_outbox *o,
		     const uint8_t *wire, size_t wire_len, uint64_t epoch, bool resent_elsewhere,
		     struct engine_sync_report *rep)
{
	struct wire_msg *req = NULL;
	struct envelope env;
	int r;

	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((r = send_req(c, req, o->client_msg_id, wire, wire_len, epoch)) != HALQA_OK) {
		goto out;
	}
	r = call(e, req);
	if (envelope_decode(&env, o->payload, o->payload_len) != HALQA_OK) {
		memset(&env, 0, sizeof env);
	}
	r = send_settle(e, c->row.circle_id, o->client_msg_id, env.msg_id, env.sent_at, r,
			resent_elsewhere, rep);
out:
	wire_msg_cleanup(req);
	free(req);
	return r;
}

/*
 * protect_entry encrypts outbox entry |o| for the group's epoch and
 * writes what that changed (the group, the entry's ciphertext, the hash
 * we will know its echo by) inside the caller's transaction. |*out| is
 * malloc'd.
 */
static int protect_entry(struct engine *e, struct circle *c, const struct store_outbox *o,
			 uint8_t **out, size_t *out_len)
{
	uint8_t hash[32];
	int r;

	if ((r = mls_group_protect(c->g, o->payload, o->payload_len, out, out_len)) != HALQA_OK) {
		return engine_seterr(e, r, "cannot encrypt the message");
	}
	hash_bytes(hash, *out, *out_len);
	if ((r = circle_save(e, c)) != HALQA_OK ||
	    (r = store_outbox_set_wire(e->store, o->client_msg_id, *out, *out_len,
				       mls_group_epoch(c->g))) != HALQA_OK ||
	    (r = store_sent_add(e->store, c->row.circle_id, hash)) != HALQA_OK) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	return r;
}

/*
 * send_entry sends one outbox entry: the ciphertext already built for
 * this epoch (byte for byte, so the relay's idempotent SEND sees a retry),
 * or a new one, stored with the group before it leaves.
 */
static int send_entry(struct engine *e, struct circle *c, struct store_outbox *o,
		      struct engine_sync_report *rep)
{
	uint8_t *wire = NULL;
	size_t wire_len = 0;
	uint64_t epoch = mls_group_epoch(c->g);
	bool resent_elsewhere, gone;
	int r;

	if (o->payload == NULL) {
		/* An entry from before schema 2 cannot be sent: drop it, say so. */
		halqa_log(HALQA_LOG_WARN, "engine", "an outbox entry without payload was dropped");
		return store_outbox_remove(e->store, o->client_msg_id);
	}
	resent_elsewhere = o->wire != NULL && o->wire_epoch != epoch;
	if (o->wire != NULL && o->wire_epoch == epoch) {
		wire = o->wire;
		wire_len = o->wire_len;
		o->wire = NULL;
	} else {
		if ((r = store_begin(e->store)) != HALQA_OK) {
			return r;
		}
		/*
		 * Inside the write lock, the group as stored now: another halqa
		 * process on the profile may have sent since it was read
		 * (circle_fresh). An entry it sent meanwhile is gone: done
		 * (looked up only then, not for every entry of a long outbox).
		 */
		if ((r = circle_fresh(e, c)) == HALQA_OK) {
			epoch = mls_group_epoch(c->g);
			resent_elsewhere = o->wire != NULL && o->wire_epoch != epoch;
			r = protect_entry(e, c, o, &wire, &wire_len);
		}
		gone = r == HALQA_ERR_NOT_FOUND && !outbox_holds(e, c->row.circle_id, o->client_msg_id);
		if (r != HALQA_OK || (r = store_commit(e->store)) != HALQA_OK) {
			(void)store_rollback(e->store);
			/* The ratchet moved in memory only: read the stored group back. */
			(void)circle_reload(e, c);
			if (gone) {
				r = HALQA_OK;
			}
			goto out;
		}
	}
	r = send_wire(e, c, o, wire, wire_len, epoch, resent_elsewhere, rep);
out:
	free(wire);
	return r;
}

/* flush_outbox sends a circle's outbox in order; stops at the first failure. */
static int flush_outbox(struct engine *e, struct circle *c, struct engine_sync_report *rep)
{
	struct store_outbox *items = NULL;
	size_t num = 0;
	int r;

	if ((r = store_outbox_list(e->store, c->row.circle_id, &items, &num)) != HALQA_OK) {
		return r;
	}
	for (size_t i = 0; i < num; i++) {
		/* Its SEND is out (engine_send_with_sync): its answer settles it, not a second one. */
		if (ss_holds(e, &items[i])) {
			continue;
		}
		if ((r = send_entry(e, c, &items[i], rep)) != HALQA_OK) {
			break;
		}
	}
	store_outbox_list_free(items, num);
	return r;
}

/* self_update_due says whether the circle's post-compromise healing is due. */
static bool self_update_due(struct engine *e, const struct store_circle *row)
{
	return row->sends_since_update >= ENGINE_SELF_UPDATE_SENDS ||
	       engine_now(e) - row->updated_at >= ENGINE_SELF_UPDATE_MS;
}

/* self_update builds and sends an empty commit with a fresh path (post-compromise healing). */
static int self_update(struct engine *e, struct circle *c)
{
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	int r;

	if ((r = mls_group_commit_update(c->g, &commit, &commit_len)) != HALQA_OK) {
		return r;
	}
	r = send_commit(e, c, commit, commit_len, NULL, 0, NULL, 0);
	free(commit);
	return r;
}

/* commit_proposals commits the proposals members sent this epoch (requests to leave). */
static int commit_proposals(struct engine *e, struct circle *c)
{
	uint8_t *commit = NULL;
	size_t commit_len = 0;
	int r;

	if ((r = mls_group_commit_proposals(c->g, &commit, &commit_len)) != HALQA_OK) {
		return r;
	}
	r = send_commit(e, c, commit, commit_len, NULL, 0, NULL, 0);
	free(commit);
	return r;
}

/*
 * owed_after_closing settles, in a circle we were removed from, what a
 * commit of ours that the relay accepted before the removal still owes
 * the members it added: their Welcomes and relay cursors (the removal
 * may be read in the very sync that would have posted them, or come
 * before it). The relay takes both from us still: a MAILBOX_PUT needs no
 * capability, and a newcomer's ACK carries the capability of the epoch
 * our commit opened, kept with it. So the newcomer joins at that epoch
 * and reads on to our removal, like the other members. What fails waits
 * for the next sync, which comes back here; a newcomer's cursor is given
 * up by the rules of newcomer_acks. A circle we left posts its waiting
 * Welcomes the same way (leaving gave the cursors up: close_circle).
 */
static int owed_after_closing(struct engine *e, struct circle *c)
{
	int r;

	if ((r = post_welcomes(e, c->row.circle_id)) != HALQA_OK) {
		return r;
	}
	return newcomer_acks(e, c, NULL);
}

int engine_sync_one(struct engine *e, const uint8_t id[ENGINE_ID_LEN],
		    struct engine_sync_report *rep)
{
	struct circle c;
	struct sync_ctx sx;
	struct roster ro;
	int r = HALQA_OK;

	memset(&c, 0, sizeof c);
	memset(&sx, 0, sizeof sx);
	sx.rep = rep;
	if ((r = circle_load(e, id, &c)) != HALQA_OK) {
		return r;
	}
	for (int attempt = 0; attempt < ENGINE_RETRIES; attempt++) {
		if (c.row.flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
			goto closed;
		}
		if ((r = fetch_circle(e, &c, &sx)) != HALQA_OK) {
			goto out;
		}
		if (c.row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
			goto closed;
		}
		/*
		 * The Welcomes of a commit of ours go once the relay has it (no
		 * longer pending): at its confirmation, or at a later sync if
		 * posting failed then (they wait in welcome_out until posted).
		 */
		sx.confirmed_own = false;
		if (!mls_group_has_pending(c.g) && (r = post_welcomes(e, id)) != HALQA_OK) {
			goto out;
		}
		r = flush_outbox(e, &c, rep);
		/*
		 * A commit of ours may follow: the SEND still out goes first on
		 * the wire, but its answer is read before, so a stale one is
		 * sent again here, for the epoch the sync reached. An unanswered
		 * one ends the sync offline, as any unanswered request does: a
		 * commit after it would wait out a second timeout.
		 */
		if (r == HALQA_OK && ss_in_flight(e, id) && e->commit_depth == 0 &&
		    (mls_group_num_proposals(c.g) > 0 || self_update_due(e, &c.row))) {
			int sr = ss_settle(e);

			if (sr == HALQA_ERR_STALE || relay_unreachable(e, sr)) {
				r = sr;
			}
		}
		if (r != HALQA_ERR_STALE) {
			break;
		}
	}
	if (r != HALQA_OK) {
		goto out;
	}
	/* A facilitator commits what members asked for (leaving), if the rules allow it. */
	/*
	 * A facilitator commits what members asked for (to leave), unless a
	 * proposal this epoch breaks the roster rules: then none is committed.
	 * The sync inside one of our commits makes no commits of its own.
	 */
	if (e->commit_depth == 0 && !(c.row.flags & STORE_CIRCLE_BAD_PROPOSAL) &&
	    mls_group_num_proposals(c.g) > 0 && !mls_group_has_pending(c.g) &&
	    roster_of(c.g, &ro) == HALQA_OK && roster_has(&ro, e->id->sign_pub)) {
		int pr = commit_proposals(e, &c);

		if (pr == HALQA_OK) {
			rep->commits++;
		}
		circle_cleanup(&c);
		if (pr != HALQA_OK && pr != HALQA_ERR_STALE && pr != HALQA_ERR_NOT_FOUND) {
			r = pr;
			goto out;
		}
		if ((r = circle_load(e, id, &c)) != HALQA_OK) {
			goto out;
		}
	}
	if (e->commit_depth == 0 && self_update_due(e, &c.row) && !mls_group_has_pending(c.g) &&
	    !(c.row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
		int ur = self_update(e, &c);

		circle_cleanup(&c);
		if (ur != HALQA_OK && ur != HALQA_ERR_STALE) {
			r = ur;
			goto out;
		}
		if ((r = circle_load(e, id, &c)) != HALQA_OK) {
			goto out;
		}
		if (ur == HALQA_OK) {
			rep->commits++;
			c.row.updated_at = engine_now(e);
			c.row.sends_since_update = 0;
			if ((r = store_circle_update(e->store, &c.row)) != HALQA_OK) {
				goto out;
			}
		}
	}
	if (!(c.row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
		/*
		 * The ACK only lets the relay delete what we read: a refusal
		 * (a relay that numbered messages it does not have) is logged,
		 * not an error of the sync; an unreachable relay is.
		 */
		r = ack_cursor(e, &c);
		if (r != HALQA_OK && r != HALQA_ERR_NETWORK) {
			halqa_log(HALQA_LOG_WARN, "engine", "the relay refused our cursor: %s",
				  halqa_strerror(r));
			r = HALQA_OK;
		}
	}
	goto out;
closed:
	if (c.row.flags & (STORE_CIRCLE_REMOVED | STORE_CIRCLE_LEFT)) {
		r = owed_after_closing(e, &c);
	}
out:
	circle_cleanup(&c);
	return r;
}

/*
 * kp_stock_due says whether this sync counts our KeyPackages: always after
 * mailbox items (a Welcome means a package of ours was claimed; a refused
 * item may have cost one too), else once per ENGINE_KP_RECHECK_MS. With
 * |rep| NULL (before the mailbox is read): by time alone.
 */
static bool kp_stock_due(struct engine *e, const struct engine_sync_report *rep)
{
	char text[32], *end;
	long long at;
	int64_t now = engine_now(e);

	if ((rep != NULL && (rep->joined > 0 || rep->refused > 0)) ||
	    store_setting_get(e->store, SET_KP_COUNTED, text, sizeof text) != HALQA_OK) {
		return true;
	}
	at = strtoll(text, &end, 10);
	return *end != '\0' || end == text || now < at || now - at >= ENGINE_KP_RECHECK_MS;
}

/* kp_stock_done records the time of a successful count (best effort: at worst we count again). */
static void kp_stock_done(struct engine *e)
{
	char text[32];

	snprintf(text, sizeof text, "%lld", (long long)engine_now(e));
	if (store_setting_set(e->store, SET_KP_COUNTED, text) != HALQA_OK) {
		halqa_log(HALQA_LOG_DEBUG, "engine", "the KeyPackage count time was not kept");
	}
}

/*
 * sync_ahead sends, before the mailbox is read, what the sync will ask
 * anyway and does not depend on the mailbox: the first FETCH of the first
 * circle it reads, and the KeyPackage count if it is due by time (after
 * mailbox items it is due anyway, and asked at the end). So the three go
 * out together instead of one after another. Best effort: what could not
 * be sent is asked in turn later. Returns whether the count went out.
 */
static bool sync_ahead(struct engine *e, const struct store_circle *circles, size_t num)
{
	struct wire_msg *req;
	struct circle c;
	bool counting = false;

	memset(&c, 0, sizeof c);
	for (size_t i = 0; i < num; i++) {
		if (circles[i].flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
			continue;
		}
		/* engine_sync_one reads this circle first; fetch_circle takes the answer. */
		if (circle_load(e, circles[i].circle_id, &c) == HALQA_OK &&
		    fetch_start(e, &c, &e->fetch[1], c.row.relay_seq + 1) != HALQA_OK) {
			fetch_drop(&e->fetch[1]);
		}
		circle_cleanup(&c);
		break;
	}
	if (kp_stock_due(e, NULL) && (req = calloc(1, sizeof *req)) != NULL) {
		kp_count_req(e, req);
		counting = ahead_start(e, &e->fetch[ENGINE_KP_AHEAD], req) == HALQA_OK;
		wire_msg_cleanup(req);
		free(req);
	}
	return counting;
}

/*
 * sync_failed keeps the first failure of a sync, |r| (its reason prefixed
 * with |circle|'s name if not NULL), in |*first| and |first_err|.
 */
static void sync_failed(struct engine *e, int r, const struct store_circle *circle, int *first,
			char first_err[sizeof e->err])
{
	if (r == HALQA_OK || *first != HALQA_OK) {
		return;
	}
	const char *why = e->err[0] ? e->err : halqa_strerror(r);
	size_t n = 0;

	*first = r;
	first_err[0] = '\0';
	if (circle != NULL) {
		/* A circle name is at most STORE_MAX_NAME bytes: the prefix always fits. */
		n = (size_t)snprintf(first_err, sizeof e->err, "circle \"%s\": ", circle->name);
	}
	if (n < sizeof e->err) {
		(void)snprintf(first_err + n, sizeof e->err - n, "%.*s", (int)(sizeof e->err - n - 1),
			       why);
	}
}

/* circle_first moves circle |id| to the front of |circles|, the others keeping their order. */
static void circle_first(struct store_circle *circles, size_t num, const uint8_t id[ENGINE_ID_LEN])
{
	struct store_circle t;

	for (size_t i = 1; i < num; i++) {
		if (memcmp(circles[i].circle_id, id, ENGINE_ID_LEN) == 0) {
			t = circles[i];
			memmove(&circles[1], &circles[0], i * sizeof *circles);
			circles[0] = t;
			return;
		}
	}
}

/*
 * sync_run is engine_sync. With a message to send (e->ss), its circle is
 * read first and the message goes out with the first requests when it
 * can (ss_begin, ss_start); engine_sync settles the rest (ss_complete).
 */
static int sync_run(struct engine *e, struct engine_sync_report *rep)
{
	struct store_circle *circles = NULL;
	struct store_outbox *items = NULL;
	struct wire_msg *req;
	size_t num = 0, num_items = 0;
	char first_err[sizeof e->err];
	bool counting, listed = true, pipelined, ss_synced = false;
	int r, first = HALQA_OK;

	memset(rep, 0, sizeof *rep);
	e->err[0] = '\0';
	e->sync_offline = false;
	first_err[0] = '\0';
	if ((r = engine_connect(e)) != HALQA_OK) {
		return r;
	}
	/* The mailbox fetch goes first, while the circles are listed and a group loads. */
	if ((req = calloc(1, sizeof *req)) != NULL) {
		mailbox_fetch_req(e, req);
		if (ahead_start(e, &e->fetch[ENGINE_MAILBOX_AHEAD], req) != HALQA_OK) {
			fetch_drop(&e->fetch[ENGINE_MAILBOX_AHEAD]); /* asked in turn, by sync_mailbox */
		}
		wire_msg_cleanup(req);
		free(req);
	}
	/*
	 * The circles are listed once, before the mailbox is read, and again
	 * only if it joined us to new ones.
	 */
	if (store_circle_list(e->store, &circles, &num) != HALQA_OK) {
		circles = NULL;
		num = 0;
		listed = false;
	}
	if ((pipelined = ss_begin(e))) {
		circle_first(circles, num, e->ss.circle_id);
	}
	counting = sync_ahead(e, circles, num);
	if (pipelined) {
		ss_start(e);
	}
	/*
	 * Only an unreachable relay makes the sync offline and ends it. An
	 * error the relay answers with (`internal` for one circle's log, say)
	 * is one circle's or one step's: the others go on, and the first
	 * such error is what the sync returns, with its reason.
	 */
	r = sync_mailbox(e, rep);
	if (relay_unreachable(e, r)) {
		rep->offline = true;
		goto count;
	}
	sync_failed(e, r, NULL, &first, first_err);
	if (!listed || rep->joined > 0) {
		free(circles);
		circles = NULL;
		num = 0;
		if ((r = store_circle_list(e->store, &circles, &num)) != HALQA_OK) {
			goto out;
		}
		if (pipelined) {
			circle_first(circles, num, e->ss.circle_id);
		}
	}
	for (size_t i = 0; i < num; i++) {
		e->err[0] = '\0';
		r = engine_sync_one(e, circles[i].circle_id, rep);
		if (relay_unreachable(e, r)) {
			rep->offline = true;
			goto count;
		}
		sync_failed(e, r, &circles[i], &first, first_err);
		if (ss_in_flight(e, circles[i].circle_id)) {
			ss_synced = r == HALQA_OK;
		}
	}
	/*
	 * The SEND's answer is read after every circle's ACK: its entry's
	 * removal does not wait for the disk, and an ACK after it would
	 * (ack_cursor). Here it has long arrived.
	 */
	if (e->ss.in_flight) {
		ss_after_circle(e, ss_synced, rep);
	}
	r = HALQA_OK;
	e->err[0] = '\0';
	if (counting || kp_stock_due(e, rep)) {
		r = kp_stock(e, counting ? &e->fetch[ENGINE_KP_AHEAD] : NULL);
		if (r == HALQA_OK) {
			kp_stock_done(e);
		}
	}
	if (relay_unreachable(e, r)) {
		rep->offline = true;
	} else {
		sync_failed(e, r, NULL, &first, first_err);
	}
count:
	e->sync_offline = rep->offline;
	if (store_outbox_list(e->store, NULL, &items, &num_items) == HALQA_OK) {
		rep->waiting = num_items;
	}
	r = first;
	if (r != HALQA_OK) {
		memcpy(e->err, first_err, sizeof e->err);
	}
out:
	/* What was sent ahead and not read (offline, a failure): waited out, dropped. */
	fetch_drop(&e->fetch[ENGINE_MAILBOX_AHEAD]);
	fetch_drop(&e->fetch[1]);
	fetch_drop(&e->fetch[ENGINE_KP_AHEAD]);
	store_outbox_list_free(items, num_items);
	free(circles);
	return r;
}

int engine_sync(struct engine *e, struct engine_sync_report *rep)
{
	char err[sizeof e->err];
	int r;

	r = sync_run(e, rep);
	if (e->ss.msg == NULL) {
		return r;
	}
	/* The message's outcome keeps its own reason; the sync's stays engine_last_error. */
	memcpy(err, e->err, sizeof err);
	ss_complete(e);
	memcpy(e->err, err, sizeof err);
	e->ss.circle = NULL;
	e->ss.msg = NULL;
	return r;
}

/*
 * relay_known_down says whether a send should only queue: live mode knows
 * the relay is down, or this engine's last sync found it unreachable and
 * no handshake completed since. A relay that takes the connection and
 * never answers costs the sync its whole timeout; the send right after
 * it (halqa send) would wait as long again for the same silence.
 */
static bool relay_known_down(const struct engine *e)
{
	return engine_relay_down(e) ||
	       (e->sync_offline && (e->net == NULL || !net_connected(e->net)));
}

/*
 * circle_fresh makes |c| the circle as stored now, inside the caller's
 * transaction: its row read again, its group too if the stored one is no
 * longer the one |c| holds. Another halqa process on this profile (a
 * `halqa send` beside `halqa chat`) may have sent or read in this circle
 * since |c| was loaded; until the transaction began, nothing kept it out.
 */
static int circle_fresh(struct engine *e, struct circle *c)
{
	uint8_t digest[MLS_GROUP_STATE_DIGEST_LEN], *state = NULL;
	size_t state_len = 0;
	bool same;
	int r;

	if ((r = store_circle_state_get(e->store, c->row.circle_id, &state, &state_len)) !=
	    HALQA_OK) {
		return r;
	}
	mls_group_state_digest(digest, state, state_len);
	store_secret_free(state, state_len);
	same = c->g != NULL && c->have_hash &&
	       sodium_memcmp(digest, c->state_hash, sizeof digest) == 0;
	sodium_memzero(digest, sizeof digest);
	if (!same) {
		return circle_reload(e, c);
	}
	return store_circle_get_by_id(e->store, c->row.circle_id, &c->row);
}

/*
 * queue_message queues |msg| for circle |row| in one transaction that waits
 * for the disk: the outbox entry (a fresh client message id; |*o|), the
 * circle's counters (|row| is read again inside the transaction and
 * updated), the message id as seen, a chat message in our own history,
 * and, with |c| not NULL, the ciphertext for c's epoch with the group
 * that made it (|*out_wire|, malloc'd): stored before it can leave, so a
 * ratchet key is never used twice. The group and the row are the ones
 * stored when the transaction began (circle_fresh), not the caller's
 * copies: another process on the profile may have moved them on. A
 * circle closed meanwhile is HALQA_ERR_DENIED. o->payload (the envelope)
 * is malloc'd for the caller, o->body borrows |msg|. On failure nothing
 * is stored and both are NULL.
 */
static int queue_message(struct engine *e, struct store_circle *row,
			 const struct session_message *msg, struct circle *c, struct store_outbox *o,
			 uint8_t out_msg_id[ENGINE_ID_LEN], uint8_t **out_wire, size_t *out_wire_len)
{
	struct store_message m;
	struct envelope env;
	uint8_t *payload = NULL, *env_bytes = NULL;
	size_t payload_len = 0, env_len = 0;
	uint64_t counter = row->send_counter;
	bool counted = false;
	int r;

	memset(o, 0, sizeof *o);
	*out_wire = NULL;
	*out_wire_len = 0;
	if ((r = session_encode(&payload, &payload_len, msg)) != HALQA_OK) {
		return engine_seterr(e, HALQA_ERR_INVALID, "the message is not valid");
	}
	memset(&env, 0, sizeof env);
	randombytes_buf(env.msg_id, sizeof env.msg_id);
	env.sent_at = engine_now(e);
	env.counter = counter + 1;
	env.payload = payload;
	env.payload_len = payload_len;
	if ((r = envelope_encode(&env_bytes, &env_len, &env)) != HALQA_OK) {
		r = engine_seterr(e, HALQA_ERR_INVALID, "the message is too long");
		goto out;
	}
	memcpy(o->circle_id, row->circle_id, ENGINE_ID_LEN);
	randombytes_buf(o->client_msg_id, sizeof o->client_msg_id);
	o->created_at = env.sent_at;
	o->body = msg->kind == SESSION_KIND_CHAT ? (char *)msg->u.chat.text : (char *)"";
	if ((r = store_begin(e->store)) != HALQA_OK) {
		goto out;
	}
	if ((c != NULL && (r = circle_fresh(e, c)) != HALQA_OK) ||
	    (r = store_circle_get_by_id(e->store, o->circle_id, row)) != HALQA_OK) {
		goto rollback;
	}
	if (row->flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
		(void)store_rollback(e->store);
		r = engine_seterr(e, HALQA_ERR_DENIED, "the circle is closed: %s",
				  row->reason[0] ? row->reason : "we left it");
		goto out;
	}
	if (row->send_counter != counter) {
		/* Another process sent meanwhile: the envelope takes the next counter. */
		env.counter = row->send_counter + 1;
		free(env_bytes);
		env_bytes = NULL;
		if ((r = envelope_encode(&env_bytes, &env_len, &env)) != HALQA_OK) {
			goto rollback;
		}
	}
	o->payload = env_bytes;
	o->payload_len = env_len;
	row->send_counter++;
	row->sends_since_update++;
	counted = true;
	if (c != NULL) {
		c->row = *row;
	}
	if ((r = store_outbox_add(e->store, o)) != HALQA_OK ||
	    (r = store_circle_update(e->store, row)) != HALQA_OK ||
	    (r = store_seen_add(e->store, row->circle_id, env.msg_id)) != HALQA_OK) {
		goto rollback;
	}
	if (msg->kind == SESSION_KIND_CHAT) {
		memset(&m, 0, sizeof m);
		memcpy(m.circle_id, row->circle_id, ENGINE_ID_LEN);
		memcpy(m.msg_id, env.msg_id, ENGINE_ID_LEN);
		memcpy(m.sender, e->id->sign_pub, ENGINE_KEY_LEN);
		m.sent_at = env.sent_at;
		m.received_at = env.sent_at;
		m.body = (char *)msg->u.chat.text;
		if ((r = store_message_add(e->store, &m, NULL)) != HALQA_OK) {
			goto rollback;
		}
	}
	if (c != NULL && (r = protect_entry(e, c, o, out_wire, out_wire_len)) != HALQA_OK) {
		goto rollback;
	}
	if ((r = store_commit(e->store)) != HALQA_OK) {
		goto rollback;
	}
	memcpy(out_msg_id, env.msg_id, ENGINE_ID_LEN);
	env_bytes = NULL; /* o->payload, the caller's */
	goto out;
rollback:
	(void)store_rollback(e->store);
	engine_seterr(e, r, "cannot queue the message");
	if (counted) {
		row->send_counter--;
		row->sends_since_update--;
		if (c != NULL) {
			c->row = *row;
		}
	}
	free(*out_wire);
	*out_wire = NULL;
	*out_wire_len = 0;
out:
	if (env_bytes != NULL) {
		o->payload = NULL;
		o->payload_len = 0;
	}
	free(env_bytes);
	free(payload);
	return r;
}

int engine_send(struct engine *e, const char *circle, const struct session_message *msg,
		uint8_t out_msg_id[ENGINE_ID_LEN], bool *out_sent)
{
	struct store_circle row;
	struct store_outbox o;
	struct engine_sync_report rep;
	struct store_outbox *items = NULL;
	struct circle c;
	uint8_t *wire = NULL, msg_id[ENGINE_ID_LEN];
	size_t num = 0, wire_len = 0;
	uint64_t outer_deadline, epoch = 0;
	bool fast = false;
	int r;

	memset(&c, 0, sizeof c);
	memset(&o, 0, sizeof o);
	if (out_msg_id != NULL) {
		memset(out_msg_id, 0, ENGINE_ID_LEN);
	}
	if (out_sent != NULL) {
		*out_sent = false;
	}
	if (msg == NULL) {
		return HALQA_ERR_ARG;
	}
	if ((r = engine_circle_find(e, circle, &row)) != HALQA_OK) {
		return r;
	}
	if (row.flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
		return engine_seterr(e, HALQA_ERR_DENIED, "the circle is closed: %s",
				     row.reason[0] ? row.reason : "we left it");
	}
	/*
	 * The fast way, when nothing older waits in this circle's outbox:
	 * encrypt now, in the transaction that queues the message, and send
	 * without reading the circle first. The SEND names our epoch; if a
	 * commit closed it, the relay says stale and the slow way (read the
	 * circle, then send again for the new epoch) follows. Reading what
	 * others wrote is the next sync's work, or live mode's on the push.
	 */
	if (!relay_known_down(e) &&
	    store_outbox_list(e->store, row.circle_id, &items, &num) == HALQA_OK && num == 0 &&
	    circle_load(e, row.circle_id, &c) == HALQA_OK) {
		fast = true;
	}
	store_outbox_list_free(items, num);
	items = NULL;
	num = 0;
	if ((r = queue_message(e, &row, msg, fast ? &c : NULL, &o, msg_id, &wire, &wire_len)) !=
	    HALQA_OK) {
		goto out;
	}
	if (fast) {
		/* The epoch the message was encrypted in (queue_message read the group again). */
		epoch = mls_group_epoch(c.g);
	}
	if (out_msg_id != NULL) {
		memcpy(out_msg_id, msg_id, ENGINE_ID_LEN);
	}
	/* Queued: from here on, failing to reach the relay is not an error. */
	if (relay_known_down(e)) {
		/*
		 * The relay is known to be down: trying would only wait out
		 * the timeout again with the user's terminal stuck. Live mode's
		 * reconnect flushes the outbox (engine_live.c); else the next
		 * sync does.
		 */
		r = HALQA_OK;
		goto out;
	}
	memset(&rep, 0, sizeof rep);
	/* The whole attempt (sync, send) within one timeout, however many requests it takes. */
	outer_deadline = e->deadline_ns;
	if (outer_deadline == 0) {
		e->deadline_ns = uv_hrtime() + (uint64_t)e->timeout_ms * 1000000;
	}
	r = HALQA_ERR_STALE;
	if (fast) {
		r = send_wire(e, &c, &o, wire, wire_len, epoch, false, &rep);
	}
	if (r == HALQA_ERR_STALE) {
		circle_cleanup(&c);
		r = engine_sync_one(e, row.circle_id, &rep);
	}
	e->deadline_ns = outer_deadline;
	if (r != HALQA_OK) {
		halqa_log(HALQA_LOG_INFO, "engine", "message queued: %s", halqa_strerror(r));
	}
	r = HALQA_OK;
	if (out_sent != NULL) {
		*out_sent = !outbox_holds(e, row.circle_id, o.client_msg_id);
	}
out:
	circle_cleanup(&c);
	free(wire);
	free(o.payload);
	return r;
}

/* ---- sending with a sync (engine_send_with_sync) ---- */

int engine_send_with_sync(struct engine *e, const char *circle, const struct session_message *msg)
{
	if (e == NULL || circle == NULL || msg == NULL || e->live) {
		return HALQA_ERR_ARG;
	}
	memset(&e->ss, 0, sizeof e->ss);
	e->ss.circle = circle;
	e->ss.msg = msg;
	return HALQA_OK;
}

int engine_send_outcome(struct engine *e, uint8_t out_msg_id[ENGINE_ID_LEN], bool *out_sent)
{
	if (out_msg_id != NULL) {
		memset(out_msg_id, 0, ENGINE_ID_LEN);
	}
	if (out_sent != NULL) {
		*out_sent = false;
	}
	if (!e->ss.done) {
		return HALQA_ERR_ARG;
	}
	if (out_msg_id != NULL) {
		memcpy(out_msg_id, e->ss.msg_id, ENGINE_ID_LEN);
	}
	if (out_sent != NULL) {
		*out_sent = e->ss.sent;
	}
	if (e->ss.result != HALQA_OK) {
		memcpy(e->err, e->ss.err, sizeof e->err);
	}
	return e->ss.result;
}

/* ss_done records the message's outcome |r| (its reason from e->err) and |sent|. */
static void ss_done(struct engine *e, int r, bool sent)
{
	e->ss.done = true;
	e->ss.result = r;
	e->ss.sent = r == HALQA_OK && sent;
	snprintf(e->ss.err, sizeof e->ss.err, "%s", r == HALQA_OK ? "" : e->err);
}

/*
 * outbox_holds says whether outbox entry |client_msg_id| is still queued
 * (also when the outbox cannot be read: then it is not known to be sent).
 */
static bool outbox_holds(struct engine *e, const uint8_t id[ENGINE_ID_LEN],
			 const uint8_t client_msg_id[ENGINE_ID_LEN])
{
	struct store_outbox *items = NULL;
	size_t num = 0;
	bool held = false;

	if (store_outbox_list(e->store, id, &items, &num) != HALQA_OK) {
		return true;
	}
	for (size_t i = 0; i < num; i++) {
		if (sodium_memcmp(items[i].client_msg_id, client_msg_id, ENGINE_ID_LEN) == 0) {
			held = true;
		}
	}
	store_outbox_list_free(items, num);
	return held;
}

/*
 * ss_begin says whether the message can go out with the sync's first
 * requests: engine_send's fast way (the circle known and open, nothing
 * older in its outbox, the relay not known to be down). Its circle's id
 * goes to e->ss.circle_id. Otherwise it is sent after the sync
 * (ss_complete), where a circle the mailbox joins us to is known too.
 */
static bool ss_begin(struct engine *e)
{
	struct engine_sync_send *ss = &e->ss;
	struct store_circle row;
	struct store_outbox *items = NULL;
	size_t num = 0;

	if (ss->msg == NULL || relay_known_down(e) ||
	    engine_circle_find(e, ss->circle, &row) != HALQA_OK ||
	    (row.flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) ||
	    store_outbox_list(e->store, row.circle_id, &items, &num) != HALQA_OK) {
		e->err[0] = '\0';
		return false;
	}
	store_outbox_list_free(items, num);
	if (num != 0) {
		return false;
	}
	memcpy(ss->circle_id, row.circle_id, ENGINE_ID_LEN);
	ss->pipelined = true;
	return true;
}

/*
 * ss_start queues and encrypts the message (queue_message: durable before
 * any ciphertext leaves) and sends its SEND after the sync's first
 * requests, its answer to be read by ss_settle. A SEND that cannot start
 * leaves the message queued; a message that cannot be queued is the
 * outcome; a group that cannot be loaded leaves it to engine_send after
 * the sync (ss_complete), as before.
 */
static void ss_start(struct engine *e)
{
	struct engine_sync_send *ss = &e->ss;
	struct engine_sync_report scratch;
	struct store_outbox o;
	struct wire_msg *req = NULL;
	struct circle c;
	uint8_t *wire = NULL;
	size_t wire_len = 0;
	int r;

	memset(&c, 0, sizeof c);
	memset(&o, 0, sizeof o);
	if (circle_load(e, ss->circle_id, &c) != HALQA_OK) {
		/* As engine_send without its fast way: queued after the sync, and sent if it can be. */
		ss->pipelined = false;
		goto out;
	}
	if ((r = queue_message(e, &c.row, ss->msg, &c, &o, ss->msg_id, &wire, &wire_len)) !=
	    HALQA_OK) {
		ss_done(e, r, false);
		goto out;
	}
	memcpy(ss->client_msg_id, o.client_msg_id, ENGINE_ID_LEN);
	ss->sent_at = o.created_at;
	ss->epoch = mls_group_epoch(c.g);
	if ((req = calloc(1, sizeof *req)) == NULL) {
		r = HALQA_ERR_NOMEM;
	} else if ((r = send_req(&c, req, o.client_msg_id, wire, wire_len, ss->epoch)) ==
		   HALQA_OK) {
		r = ahead_start(e, &e->fetch[ENGINE_SEND_AHEAD], req);
	}
	if (r == HALQA_OK) {
		ss->in_flight = true;
	} else {
		/* Queued: the sync's flush or the next sync sends it. */
		memset(&scratch, 0, sizeof scratch);
		fetch_drop(&e->fetch[ENGINE_SEND_AHEAD]);
		(void)send_settle(e, ss->circle_id, ss->client_msg_id, ss->msg_id, ss->sent_at, r,
				  false, &scratch);
	}
out:
	e->err[0] = '\0';
	if (req != NULL) {
		sodium_memzero(req->u.send.cap, WIRE_CAP_LEN);
		wire_msg_cleanup(req);
		free(req);
	}
	circle_cleanup(&c);
	free(wire);
	free(o.payload);
}

/* ss_in_flight says whether the message's SEND is out in circle |id|, its answer not read. */
static bool ss_in_flight(const struct engine *e, const uint8_t id[ENGINE_ID_LEN])
{
	return e->ss.in_flight && memcmp(e->ss.circle_id, id, ENGINE_ID_LEN) == 0;
}

/* ss_holds says whether outbox entry |o| is the message whose SEND is out. */
static bool ss_holds(const struct engine *e, const struct store_outbox *o)
{
	return e->ss.in_flight &&
	       memcmp(e->ss.client_msg_id, o->client_msg_id, ENGINE_ID_LEN) == 0;
}

/*
 * ss_settle reads the answer to the message's SEND, if it is out, and
 * settles its outbox entry as send_wire does. Returns the SEND's status
 * (HALQA_ERR_STALE: a commit closed the epoch first; the entry waits for
 * a flush in the new epoch).
 */
static int ss_settle(struct engine *e)
{
	struct engine_sync_send *ss = &e->ss;
	struct engine_sync_report scratch;
	int r;

	if (!ss->in_flight) {
		return HALQA_OK;
	}
	ss->in_flight = false;
	memset(&scratch, 0, sizeof scratch);
	r = fetch_finish(e, &e->fetch[ENGINE_SEND_AHEAD]);
	return send_settle(e, ss->circle_id, ss->client_msg_id, ss->msg_id, ss->sent_at, r, false,
			   &scratch);
}

/*
 * ss_after_circle runs once the sync has read its circles (the message's
 * without a failure: |circle_synced|): the SEND's answer is read, and a
 * stale one makes the circle read again and the message sent for the
 * epoch it reached (engine_sync_one: its retries, its flush), within one
 * timeout as engine_send's attempt.
 */
static void ss_after_circle(struct engine *e, bool circle_synced, struct engine_sync_report *rep)
{
	uint64_t outer_deadline = e->deadline_ns;
	int r;

	if (ss_settle(e) != HALQA_ERR_STALE || !circle_synced) {
		return;
	}
	if (outer_deadline == 0) {
		e->deadline_ns = uv_hrtime() + (uint64_t)e->timeout_ms * 1000000;
	}
	r = engine_sync_one(e, e->ss.circle_id, rep);
	e->deadline_ns = outer_deadline;
	if (r != HALQA_OK) {
		halqa_log(HALQA_LOG_INFO, "engine", "message queued: %s", halqa_strerror(r));
	}
}

/*
 * ss_complete settles the message after the sync: sent with engine_send
 * if it could not go with the sync; else its SEND's answer read if the
 * sync did not get to it (offline, a failure). A message the relay did
 * not take in a circle the sync found closed (we were removed) never
 * goes out: it leaves the outbox, and the outcome says the circle is closed.
 */
static void ss_complete(struct engine *e)
{
	struct engine_sync_send *ss = &e->ss;
	struct store_circle row;
	bool sent = false;
	int r;

	if (ss->done) {
		return;
	}
	e->err[0] = '\0';
	if (!ss->pipelined) {
		r = engine_send(e, ss->circle, ss->msg, ss->msg_id, &sent);
		ss_done(e, r, sent);
		return;
	}
	(void)ss_settle(e);
	e->err[0] = '\0';
	r = HALQA_OK;
	sent = !outbox_holds(e, ss->circle_id, ss->client_msg_id);
	if (!sent && store_circle_get_by_id(e->store, ss->circle_id, &row) == HALQA_OK &&
	    (row.flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED))) {
		if (store_outbox_remove(e->store, ss->client_msg_id) != HALQA_OK) {
			halqa_log(HALQA_LOG_DEBUG, "engine", "an unsendable entry stays queued");
		}
		r = engine_seterr(e, HALQA_ERR_DENIED, "the circle is closed: %s",
				  row.reason[0] ? row.reason : "we left it");
	}
	ss_done(e, r, sent);
}

/* ---- leaving ---- */

int engine_circle_leave(struct engine *e, const char *circle)
{
	struct circle c;
	struct roster ro;
	struct wire_msg *req = NULL;
	uint8_t *msg = NULL, hash[32];
	size_t msg_len = 0;
	int r = HALQA_OK;

	memset(&c, 0, sizeof c);
	if ((req = calloc(1, sizeof *req)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	for (int attempt = 0; attempt < ENGINE_RETRIES; attempt++) {
		if ((r = ready_circle(e, circle, &c, false)) != HALQA_OK) {
			goto out;
		}
		if (roster_of(c.g, &ro) == HALQA_OK && roster_has(&ro, e->id->sign_pub) &&
		    ro.num_keys == 1) {
			r = engine_seterr(e, HALQA_ERR_DENIED,
					  "the last facilitator cannot leave: name another first");
			goto out;
		}
		if ((r = mls_group_propose_remove(c.g, mls_group_own_leaf(c.g), &msg, &msg_len)) !=
		    HALQA_OK) {
			engine_seterr(e, r, "cannot build the request to leave");
			goto out;
		}
		hash_bytes(hash, msg, msg_len);
		if ((r = store_begin(e->store)) != HALQA_OK) {
			goto out;
		}
		if ((r = circle_save(e, &c)) != HALQA_OK ||
		    (r = store_sent_add(e->store, c.row.circle_id, hash)) != HALQA_OK ||
		    (r = store_commit(e->store)) != HALQA_OK) {
			(void)store_rollback(e->store);
			goto out;
		}
		wire_msg_init(req, WIRE_SEND, 0);
		memcpy(req->u.send.circle_id, c.row.circle_id, WIRE_ID_LEN);
		req->u.send.epoch = mls_group_epoch(c.g);
		req->u.send.kind = WIRE_KIND_PROPOSAL;
		randombytes_buf(req->u.send.client_msg_id, WIRE_ID_LEN);
		req->u.send.payload.data = msg;
		req->u.send.payload.len = msg_len;
		if ((r = circle_cap(&c, req->u.send.cap)) != HALQA_OK) {
			goto out;
		}
		r = call(e, req);
		free(msg);
		msg = NULL;
		if (r != HALQA_ERR_STALE) {
			break;
		}
		circle_cleanup(&c);
	}
	if (r != HALQA_OK) {
		goto out;
	}
	r = close_circle(e, &c, STORE_CIRCLE_LEFT, "we left the circle");
out:
	free(msg);
	circle_cleanup(&c);
	wire_msg_cleanup(req);
	free(req);
	return r;
}
