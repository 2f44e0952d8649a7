/*
 * sessions_event.c: the bridge from the circle engine's events to the
 * session state (sessions.h). The engine authenticated the sender (an MLS
 * member of the circle) and decoded the payload strictly; here the roster
 * decides what that member may do, and the session-only rule runs on each
 * stored message. See sessions_event.h for the contract with the engine.
 */
#include "halqa/sessions_event.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halqa/checkin_log.h"
#include "halqa/log.h"
#include "halqa/recur.h"

static int64_t real_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sessions_event_roster(struct engine *e, struct store *s, const uint8_t circle_id[STORE_ID_LEN],
			  struct roster *out)
{
	struct store_circle c;
	struct engine_member *members = NULL;
	size_t num = 0, i;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = store_circle_get_by_id(s, circle_id, &c)) != HALQA_OK ||
	    (r = engine_circle_members(e, c.name, &members, &num)) != HALQA_OK) {
		return r;
	}
	for (i = 0; i < num; i++) {
		if (members[i].facilitator &&
		    (r = roster_add(out, members[i].identity)) != HALQA_OK && r != HALQA_ERR_EXISTS) {
			goto out;
		}
	}
	r = out->num_keys > 0 ? HALQA_OK : HALQA_ERR_INVALID;
out:
	free(members);
	if (r != HALQA_OK) {
		memset(out, 0, sizeof *out);
	}
	return r;
}

int sessions_event_record_members(struct engine *e, struct store *s,
				  const uint8_t circle_id[STORE_ID_LEN])
{
	struct store_circle c;
	struct engine_member *members = NULL;
	uint8_t(*keys)[ROSTER_KEY_LEN] = NULL;
	size_t num = 0, i;
	int r;

	if ((r = store_circle_get_by_id(s, circle_id, &c)) != HALQA_OK ||
	    (r = engine_circle_members(e, c.name, &members, &num)) != HALQA_OK) {
		return r;
	}
	if (num > 0 && (keys = calloc(num, sizeof *keys)) == NULL) {
		free(members);
		return HALQA_ERR_NOMEM;
	}
	for (i = 0; i < num; i++) {
		memcpy(keys[i], members[i].identity, ROSTER_KEY_LEN);
	}
	r = sessions_members_record(s, circle_id, (const uint8_t(*)[ROSTER_KEY_LEN])keys, num);
	free(keys);
	free(members);
	return r;
}

/*
 * on_checkin_step checks check-in step |st| from |sender| in |circle_id|
 * against the roster (only a facilitator runs a round: roster_may_schedule)
 * and logs an OPEN's round. A step that passed is valid even if the log
 * fails: losing the question only loses a heading, so that only warns.
 */
static int on_checkin_step(struct sessions_event *se, const uint8_t circle_id[STORE_ID_LEN],
			   const uint8_t sender[SESSION_MEMBER_KEY_LEN],
			   const struct session_checkin *st, int64_t sent_at)
{
	struct roster roster;
	int r;

	if (st->step == SESSION_STEP_PASS) {
		return HALQA_OK;
	}
	if ((r = sessions_event_roster(se->engine, se->store, circle_id, &roster)) != HALQA_OK ||
	    (r = roster_may_schedule(&roster, sender)) != HALQA_OK) {
		return r;
	}
	if (st->step == SESSION_STEP_OPEN &&
	    (r = checkin_log_round(se->store, circle_id, st->round_id, sender, st->question,
				   sent_at)) != HALQA_OK) {
		halqa_log(HALQA_LOG_WARN, "sessions", "could not log a check-in round: %s",
			  halqa_strerror(r));
	}
	return HALQA_OK;
}

/* log_answer logs message |msg_id| as an answer in round |round_id|; a failure is only warned. */
static int log_answer(struct sessions_event *se, const uint8_t circle_id[STORE_ID_LEN],
		      const uint8_t msg_id[STORE_ID_LEN],
		      const uint8_t round_id[SESSION_ROUND_ID_LEN])
{
	int r = checkin_log_answer(se->store, circle_id, msg_id, round_id);

	if (r != HALQA_OK) {
		/* The message is stored; it is shown, only not grouped. */
		halqa_log(HALQA_LOG_WARN, "sessions", "could not log a check-in answer: %s",
			  halqa_strerror(r));
	}
	return r;
}

int sessions_event_checkin_sent(struct sessions_event *se, const uint8_t circle_id[STORE_ID_LEN],
				const uint8_t self[SESSION_MEMBER_KEY_LEN],
				const uint8_t msg_id[STORE_ID_LEN], int64_t sent_at,
				const struct session_message *m)
{
	if (m == NULL) {
		return HALQA_ERR_ARG;
	}
	if (m->kind == SESSION_KIND_CHECKIN) {
		return on_checkin_step(se, circle_id, self, &m->u.checkin, sent_at);
	}
	if (m->kind == SESSION_KIND_CHAT && m->u.chat.in_round && msg_id != NULL) {
		return log_answer(se, circle_id, msg_id, m->u.chat.round_id);
	}
	return HALQA_ERR_ARG;
}

static int on_payload(struct sessions_event *se, const struct engine_event *ev)
{
	const struct session_message *m = ev->payload;
	struct roster roster;
	int r;

	if (m == NULL) {
		return HALQA_ERR_ARG;
	}
	switch (m->kind) {
	case SESSION_KIND_SCHEDULE:
	case SESSION_KIND_EDIT:
	case SESSION_KIND_CANCEL:
	case SESSION_KIND_RSVP:
		break;
	case SESSION_KIND_CHECKIN:
		return on_checkin_step(se, ev->circle_id, ev->sender, &m->u.checkin, ev->sent_at);
	default:
		return HALQA_OK;
	}
	if ((r = sessions_event_roster(se->engine, se->store, ev->circle_id, &roster)) == HALQA_OK) {
		r = sessions_apply(se->store, ev->circle_id, ev->sender, &roster, ev->sent_at, m);
	}
	if (r == HALQA_OK) {
		se->applied++;
		/* Those here now have it; whoever joins later is sent it again. */
		if (m->kind == SESSION_KIND_SCHEDULE &&
		    sessions_event_record_members(se->engine, se->store, ev->circle_id) != HALQA_OK) {
			halqa_log(HALQA_LOG_WARN, "sessions", "could not record the circle's members");
		}
	} else {
		se->refused++;
		halqa_log(HALQA_LOG_INFO, "sessions", "refused a session payload (kind %u): %s",
			  (unsigned)m->kind, halqa_strerror(r));
	}
	return r;
}

void sessions_event_attach(struct sessions_event *se, struct store *store, struct engine *engine)
{
	memset(se, 0, sizeof *se);
	se->store = store;
	se->engine = engine;
	engine_set_event_cb(engine, sessions_event_handle, se);
}

int sessions_event_handle(void *arg, const struct engine_event *ev)
{
	struct sessions_event *se = arg;
	int64_t now;
	int r = HALQA_OK, state = SESSIONS_MSG_NORMAL;

	se->verdict = HALQA_OK;
	if (ev->type == ENGINE_EVENT_PAYLOAD) {
		if ((r = on_payload(se, ev)) != HALQA_OK) {
			/* |next| hears of it (to say so), but cannot overrule the refusal. */
			se->verdict = r;
			if (se->next != NULL) {
				(void)se->next(se->next_arg, ev);
			}
			se->verdict = HALQA_OK;
			return r;
		}
	} else if (ev->type == ENGINE_EVENT_MESSAGE) {
		now = se->clock != NULL ? se->clock(se->clock_arg) : real_now_ms();
		r = sessions_message_arrived(se->store, ev->circle_id, ev->sent_at, now, &state);
		if (r != HALQA_OK) {
			/* The message is stored; the next retention run retries the rule. */
			halqa_log(HALQA_LOG_WARN, "sessions", "session-only check failed: %s",
				  halqa_strerror(r));
			r = HALQA_OK;
		}
		if (state == SESSIONS_MSG_DELETED) {
			se->deleted++;
			return HALQA_OK;
		}
		if (ev->in_round) {
			(void)log_answer(se, ev->circle_id, ev->msg_id, ev->round_id);
		}
	}
	if (se->next != NULL) {
		return se->next(se->next_arg, ev);
	}
	return r;
}

/* live says whether |e| still has an occurrence ending after |now| (UTC seconds). */
static int live(const struct sessions_entry *e, int64_t now)
{
	struct recur_occurrence occ[1];
	size_t n = 0;
	int r;

	if (e->cancelled) {
		return 0;
	}
	r = recur_expand(occ, 1, &n, &e->sched, e->cancelled_dates, e->num_cancelled, now,
			 SESSION_UTC_MAX);
	return (r == HALQA_OK || r == HALQA_ERR_LIMIT) && n > 0;
}

/*
 * resend_circle sends circle |c|'s live sessions again: each as a schedule
 * (sequence 0, as a schedule must be, with the fields as edited), then its
 * cancelled occurrences. Members who have it ignore the repeat.
 */
static int resend_circle(struct sessions_event *se, const struct store_circle *c,
			 const struct sessions_entry *list, size_t num, int64_t now_ms,
			 size_t *out_sent)
{
	struct session_message m;
	size_t i, k;
	int r;

	*out_sent = 0;
	for (i = 0; i < num; i++) {
		if (!live(&list[i], now_ms / 1000)) {
			continue;
		}
		memset(&m, 0, sizeof m);
		m.kind = SESSION_KIND_SCHEDULE;
		m.u.schedule = list[i].sched;
		m.u.schedule.sequence = 0;
		if ((r = engine_send(se->engine, c->name, &m, NULL, NULL)) != HALQA_OK) {
			return r;
		}
		for (k = 0; k < list[i].num_cancelled; k++) {
			memset(&m, 0, sizeof m);
			m.kind = SESSION_KIND_CANCEL;
			memcpy(m.u.cancel.id, list[i].sched.id, SESSION_ID_LEN);
			m.u.cancel.sequence = list[i].sched.sequence;
			m.u.cancel.occurrence = list[i].cancelled_dates[k];
			if ((r = engine_send(se->engine, c->name, &m, NULL, NULL)) != HALQA_OK) {
				return r;
			}
		}
		(*out_sent)++;
	}
	return HALQA_OK;
}

/* catch_up_one handles circle |c| for sessions_event_catch_up. */
static int catch_up_one(struct sessions_event *se, const struct store_circle *c, int64_t now_ms,
			size_t *out_sent)
{
	struct sessions_entry *list = NULL;
	struct engine_member *members = NULL;
	uint8_t(*keys)[ROSTER_KEY_LEN] = NULL;
	size_t num_list = 0, num_members = 0, fresh = 0, k;
	bool me_fac = false;
	int r;

	*out_sent = 0;
	if (c->flags & (STORE_CIRCLE_LEFT | STORE_CIRCLE_REMOVED | STORE_CIRCLE_BLOCKED)) {
		return HALQA_OK;
	}
	if ((r = sessions_list(se->store, c->circle_id, &list, &num_list)) != HALQA_OK ||
	    num_list == 0) {
		goto out;
	}
	if ((r = engine_circle_members(se->engine, c->name, &members, &num_members)) != HALQA_OK) {
		goto out;
	}
	if (num_members == 0) {
		goto out;
	}
	if ((keys = calloc(num_members, sizeof *keys)) == NULL) {
		r = HALQA_ERR_NOMEM;
		goto out;
	}
	for (k = 0; k < num_members; k++) {
		memcpy(keys[k], members[k].identity, ROSTER_KEY_LEN);
		me_fac |= members[k].self && members[k].facilitator;
	}
	if (!me_fac) {
		goto out;
	}
	if ((r = sessions_members_newcomers(se->store, c->circle_id,
					    (const uint8_t(*)[ROSTER_KEY_LEN])keys, num_members,
					    &fresh)) != HALQA_OK ||
	    fresh == 0) {
		goto out;
	}
	if ((r = resend_circle(se, c, list, num_list, now_ms, out_sent)) != HALQA_OK) {
		goto out;
	}
	r = sessions_members_record(se->store, c->circle_id,
				    (const uint8_t(*)[ROSTER_KEY_LEN])keys, num_members);
out:
	free(list);
	free(members);
	free(keys);
	return r;
}

int sessions_event_catch_up(struct sessions_event *se, const uint8_t circle_id[STORE_ID_LEN],
			    int64_t now_ms, size_t *out_sent)
{
	struct store_circle c;
	size_t sent = 0;
	int r;

	if (out_sent != NULL) {
		*out_sent = 0;
	}
	if ((r = store_circle_get_by_id(se->store, circle_id, &c)) != HALQA_OK) {
		return r;
	}
	r = catch_up_one(se, &c, now_ms, &sent);
	if (out_sent != NULL) {
		*out_sent = sent;
	}
	return r;
}
