/*
 * fuzz_sessions.c: sequences of session payloads applied to a real store
 * (sessions.h), from a facilitator, a member, or a facilitator of another
 * circle, with the session-only rule, listings and reminders run after
 * each. Whatever was accepted must load again (sessions_list refuses a
 * row that no longer passes recur_check), and nothing may crash or leak.
 *
 * Input: records of selector (u8: sender in the low two bits, days to
 * advance the clock in the rest), length (u16, big-endian), payload
 * (session.h encoding). Each input runs in a transaction rolled back at
 * the end, so inputs do not depend on each other.
 */
#include "halqa/agenda.h"
#include "halqa/sessions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct roster roster_a, roster_b;
static uint8_t fac[ROSTER_KEY_LEN], member[ROSTER_KEY_LEN], other[ROSTER_KEY_LEN];
static const uint8_t circle_a[STORE_ID_LEN] = {0xa1};
static const uint8_t circle_b[STORE_ID_LEN] = {0xb2};
static struct session_message msg;

static void setup(void)
{
	char dir[] = "/tmp/halqa-fuzz-sessions-XXXXXX", path[64];
	uint8_t key[STORE_KEY_LEN];
	struct store_circle c;

	if (sodium_init() < 0 || mkdtemp(dir) == NULL) {
		abort();
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	memset(key, 0x42, sizeof key);
	if (store_open(&store, path, key, STORE_CREATE) != HALQA_OK) {
		abort();
	}
	/* The file stays open for the life of the process; unlinking it now cleans up. */
	unlink(path);
	rmdir(dir);
	memset(&c, 0, sizeof c);
	memcpy(c.circle_id, circle_a, STORE_ID_LEN);
	strcpy(c.name, "a");
	if (store_circle_add(store, &c) != HALQA_OK) {
		abort();
	}
	memcpy(c.circle_id, circle_b, STORE_ID_LEN);
	strcpy(c.name, "b");
	if (store_circle_add(store, &c) != HALQA_OK || sessions_init(store) != HALQA_OK) {
		abort();
	}
	memset(fac, 0x10, sizeof fac);
	memset(member, 0x30, sizeof member);
	memset(other, 0x50, sizeof other);
	if (roster_add(&roster_a, fac) != HALQA_OK || roster_add(&roster_b, other) != HALQA_OK) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sessions_entry *list = NULL;
	struct sessions_occurrence *occ = NULL;
	struct agenda_item *items = NULL;
	struct store_message m;
	size_t pos = 0, n = 0;
	int64_t t = INT64_C(1711000000); /* 2024-03-21 */
	int state;
	char body[] = "x";

	if (store == NULL) {
		setup();
	}
	if (store_begin(store) != HALQA_OK) {
		abort();
	}
	while (size - pos >= 3) {
		uint8_t sel = data[pos];
		size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
		/* Low two bits: who sends (3 is the facilitator too); the rest: days later. */
		const uint8_t *sender = (sel & 3) == 1 ? member : (sel & 3) == 2 ? other : fac;
		const uint8_t *circle = (sel & 3) == 2 ? circle_b : circle_a;
		const struct roster *ro = (sel & 3) == 2 ? &roster_b : &roster_a;

		pos += 3;
		if (len > size - pos) {
			break;
		}
		t += (int64_t)(sel >> 2) * 3600 * 24;
		if (session_decode(&msg, data + pos, len) == HALQA_OK) {
			/* Refusals are expected; crashes and damage are not. */
			int r = sessions_apply(store, circle, sender, ro, t * 1000, &msg);

			(void)r;
		}
		pos += len;
		/* A message in the circle now, then the session-only rule at a later time. */
		memset(&m, 0, sizeof m);
		memcpy(m.circle_id, circle_a, STORE_ID_LEN);
		randombytes_buf(m.msg_id, sizeof m.msg_id);
		m.sent_at = t * 1000;
		m.body = body;
		/* Whatever the sessions, the rule itself must always run. */
		if (store_message_add(store, &m, NULL) != HALQA_OK ||
		    sessions_message_arrived(store, circle_a, t * 1000, (t + 7200) * 1000, &state) !=
			    HALQA_OK ||
		    sessions_retention_run(store, (t + 3600) * 1000, NULL) != HALQA_OK) {
			abort();
		}
		if (sessions_upcoming(store, NULL, member, t - 86400, t + 40 * 86400, 1000, &occ, &n) ==
		    HALQA_OK) {
			free(occ);
		}
		if (agenda_due(store, member, t, &items, &n) == HALQA_OK) {
			free(items);
		}
	}
	/* Everything accepted loads again. */
	if (sessions_list(store, NULL, &list, &n) != HALQA_OK) {
		abort();
	}
	free(list);
	(void)store_rollback(store);
	return 0;
}
