/*
 * test_relay_mailbox.c: mailboxes and the KeyPackage directory on the real
 * halqad: a mailbox is created by its owner's first fetch, anyone
 * registered may put, only the owner fetches and deletes, and it is
 * bounded; one-time KeyPackages are handed out once each, then the last
 * resort (kept); only the owner publishes and counts; claims are rate
 * limited per claiming device.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support/relay_client.h"
#include "support/relay_steps.h"

static struct wire_msg req, rep;

static void mb_fetch(struct wire_msg *m, const uint8_t id[WIRE_ID_LEN], uint16_t max)
{
	wire_msg_init(m, WIRE_MAILBOX_FETCH, 1);
	memcpy(m->u.mailbox_fetch.mailbox_id, id, WIRE_ID_LEN);
	m->u.mailbox_fetch.max_count = max;
}

static void mb_put(struct wire_msg *m, const uint8_t id[WIRE_ID_LEN], const char *text)
{
	wire_msg_init(m, WIRE_MAILBOX_PUT, 1);
	memcpy(m->u.mailbox_put.mailbox_id, id, WIRE_ID_LEN);
	m->u.mailbox_put.payload.data = (const uint8_t *)text;
	m->u.mailbox_put.payload.len = strlen(text);
}

static void test_mailbox(void)
{
	struct relay_test t = {0};
	struct relay_client *owner = NULL, *other = NULL;
	uint8_t box[WIRE_ID_LEN], unknown[WIRE_ID_LEN];
	uint64_t first_id = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &owner) != HALQA_OK || steps_device(&t, &other) != HALQA_OK) {
		goto out;
	}
	randombytes_buf(box, sizeof box);
	randombytes_buf(unknown, sizeof unknown);

	/* Before its owner's first fetch, the mailbox does not exist. */
	mb_put(&req, box, "too early");
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_NOT_FOUND);
	mb_fetch(&req, box, 10);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_fetch.num_items, 0);

	mb_put(&req, box, "welcome one");
	CHECK_OK(steps_call(other, &req, NULL));
	mb_put(&req, box, "welcome two");
	CHECK_OK(steps_call(owner, &req, NULL));
	mb_put(&req, unknown, "nobody");
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_NOT_FOUND);

	mb_fetch(&req, box, 10);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_fetch.num_items, 2);
	if (rep.u.ok.u.mailbox_fetch.num_items == 2) {
		CHECK_MEM_EQ(rep.u.ok.u.mailbox_fetch.items[0].payload.data,
			     rep.u.ok.u.mailbox_fetch.items[0].payload.len,
			     (const uint8_t *)"welcome one", 11);
		CHECK_MEM_EQ(rep.u.ok.u.mailbox_fetch.items[1].payload.data,
			     rep.u.ok.u.mailbox_fetch.items[1].payload.len,
			     (const uint8_t *)"welcome two", 11);
		first_id = rep.u.ok.u.mailbox_fetch.items[0].id;
		CHECK(rep.u.ok.u.mailbox_fetch.items[1].id > first_id);
	}
	mb_fetch(&req, box, 1);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_fetch.num_items, 1);

	/* Only the owner reads or deletes; another device fetching it is
	 * refused rather than handed a second mailbox of the same id. */
	mb_fetch(&req, box, 10);
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_DENIED);
	wire_msg_init(&req, WIRE_MAILBOX_DELETE, 1);
	memcpy(req.u.mailbox_delete.mailbox_id, box, WIRE_ID_LEN);
	req.u.mailbox_delete.num_ids = 1;
	req.u.mailbox_delete.ids[0] = first_id;
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_DENIED);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_delete.deleted, 1);
	/* A retried delete is harmless. */
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_delete.deleted, 0);
	mb_fetch(&req, box, 10);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.mailbox_fetch.num_items, 1);

	/* Bounded: with room for 3 items, the 4th put is refused. */
	CHECK_OK(steps_reconfigure(&t, owner, "[limits]\nmailbox_max_items = 3\n"
					      "requests_per_second = 77\n",
				   77));
	mb_put(&req, box, "three");
	CHECK_OK(steps_call(other, &req, NULL));
	mb_put(&req, box, "four");
	CHECK_OK(steps_call(other, &req, NULL));
	mb_put(&req, box, "five");
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_QUOTA_EXCEEDED);
out:
	relay_client_free(owner);
	relay_client_free(other);
	steps_stop(&t);
}

static void kp_publish(struct wire_msg *m, const uint8_t dir[WIRE_ID_LEN], unsigned n,
		       const char *prefix, int last_resort)
{
	static char texts[8][32];
	static char last[32];

	wire_msg_init(m, WIRE_KP_PUBLISH, 1);
	memcpy(m->u.kp_publish.dir_id, dir, WIRE_ID_LEN);
	for (unsigned i = 0; i < n && i < 8; i++) {
		snprintf(texts[i], sizeof texts[i], "%s-kp-%u", prefix, i);
		m->u.kp_publish.packages[i].data = (const uint8_t *)texts[i];
		m->u.kp_publish.packages[i].len = strlen(texts[i]);
	}
	m->u.kp_publish.num_packages = (uint16_t)n;
	if (last_resort) {
		snprintf(last, sizeof last, "%s-last-resort", prefix);
		m->u.kp_publish.has_last_resort = 1;
		m->u.kp_publish.last_resort.data = (const uint8_t *)last;
		m->u.kp_publish.last_resort.len = strlen(last);
	}
}

static void kp_dir(struct wire_msg *m, uint8_t type, const uint8_t dir[WIRE_ID_LEN])
{
	wire_msg_init(m, type, 1);
	memcpy(m->u.kp_dir.dir_id, dir, WIRE_ID_LEN);
}

static void test_keypackages(void)
{
	struct relay_test t = {0};
	struct relay_client *owner = NULL, *other = NULL;
	uint8_t dir[WIRE_ID_LEN], unknown[WIRE_ID_LEN];
	char seen[3][32], got[32];
	int rate_limited = 0;

	if (relay_test_start(&t, NULL) != HALQA_OK) {
		CHECK(0);
		return;
	}
	if (steps_device(&t, &owner) != HALQA_OK || steps_device(&t, &other) != HALQA_OK) {
		goto out;
	}
	randombytes_buf(dir, sizeof dir);
	randombytes_buf(unknown, sizeof unknown);

	kp_dir(&req, WIRE_KP_CLAIM, dir);
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_NOT_FOUND);
	kp_publish(&req, dir, 3, "owner", 1);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.kp_publish.one_time, 3);
	/* The directory is the first publisher's. */
	kp_publish(&req, dir, 1, "thief", 1);
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_DENIED);

	kp_dir(&req, WIRE_KP_COUNT, dir);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.kp_count.one_time, 3);
	CHECK_INT_EQ(rep.u.ok.u.kp_count.has_last_resort, 1);
	CHECK_INT_EQ(steps_call(other, &req, NULL), WIRE_ERR_DENIED);

	/* Each one-time package exactly once, then the last resort, kept. */
	for (int i = 0; i < 3; i++) {
		kp_dir(&req, WIRE_KP_CLAIM, dir);
		CHECK_OK(steps_call(other, &req, &rep));
		CHECK_INT_EQ(rep.u.ok.u.kp_claim.last_resort, 0);
		snprintf(seen[i], sizeof seen[i], "%.*s", (int)rep.u.ok.u.kp_claim.package.len,
			 (const char *)rep.u.ok.u.kp_claim.package.data);
		CHECK(strncmp(seen[i], "owner-kp-", 9) == 0);
		for (int j = 0; j < i; j++) {
			CHECK(strcmp(seen[i], seen[j]) != 0);
		}
	}
	for (int i = 0; i < 2; i++) {
		kp_dir(&req, WIRE_KP_CLAIM, dir);
		CHECK_OK(steps_call(other, &req, &rep));
		CHECK_INT_EQ(rep.u.ok.u.kp_claim.last_resort, 1);
		snprintf(got, sizeof got, "%.*s", (int)rep.u.ok.u.kp_claim.package.len,
			 (const char *)rep.u.ok.u.kp_claim.package.data);
		CHECK(strcmp(got, "owner-last-resort") == 0);
	}
	kp_dir(&req, WIRE_KP_COUNT, dir);
	CHECK_OK(steps_call(owner, &req, &rep));
	CHECK_INT_EQ(rep.u.ok.u.kp_count.one_time, 0);
	CHECK_INT_EQ(rep.u.ok.u.kp_count.has_last_resort, 1);
	kp_dir(&req, WIRE_KP_COUNT, unknown);
	CHECK_INT_EQ(steps_call(owner, &req, NULL), WIRE_ERR_NOT_FOUND);

	/* Claims are limited per claiming device: a burst of 3, slow refill. */
	CHECK_OK(steps_reconfigure(&t, owner, "[limits]\nclaims_burst = 3\n"
					      "claims_per_minute = 1\n"
					      "requests_per_second = 78\n",
				   78));
	for (int i = 0; i < 6; i++) {
		kp_dir(&req, WIRE_KP_CLAIM, dir);
		if (steps_call(other, &req, NULL) == WIRE_ERR_RATE_LIMITED) {
			rate_limited++;
		}
	}
	CHECK(rate_limited >= 2);
	/* Another claimer has its own allowance. */
	kp_dir(&req, WIRE_KP_CLAIM, dir);
	CHECK_OK(steps_call(owner, &req, NULL));
out:
	relay_client_free(owner);
	relay_client_free(other);
	steps_stop(&t);
}

int main(void)
{
	if (sodium_init() < 0) {
		return 1;
	}
	RUN(test_mailbox);
	RUN(test_keypackages);
	return harness_report();
}
