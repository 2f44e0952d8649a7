/*
 * roster.h: the facilitator roster of a circle, a GroupContext extension
 * of our own, and the role rules every client applies to every commit.
 *
 * The roster lives in the MLS GroupContext, so all members agree on it by
 * construction (it is in the transcript every epoch's keys derive from),
 * and it changes only through a commit. Every client checks every commit
 * against the roster of the epoch the commit was made in: a
 * non-facilitator's commit that adds or removes members or changes the
 * roster is refused by all clients, whatever the relay forwarded.
 *
 * Payload (extension_data): version (u8, 1), then an MLS opaque<V> of
 * 32-byte identity keys, sorted ascending, no duplicates, 1..30 of them.
 * Any other shape is refused: the roster must be one canonical byte string
 * so every member hashes the same GroupContext.
 */
#ifndef HALQA_ROSTER_H
#define HALQA_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include "halqa/err.h"

/*
 * The extension type: in RFC 9420's private-use range (section 17.3,
 * 0xF000-0xFFFF); the same value as MLS_GROUP_EXT_ROSTER in mls_group.h.
 */
#define ROSTER_EXT_TYPE 0xF0A1
#define ROSTER_VERSION 1
#define ROSTER_KEY_LEN 32
#define ROSTER_MAX 30

struct roster {
	uint8_t keys[ROSTER_MAX][ROSTER_KEY_LEN]; /* sorted ascending, unique */
	size_t num_keys;                          /* 1..ROSTER_MAX when valid */
};

/*
 * roster_decode parses an extension payload into |*out|. HALQA_ERR_UNSUPPORTED
 * for another version; HALQA_ERR_MALFORMED / _TRUNCATED for bad encoding
 * (length not a multiple of 32, trailing bytes); HALQA_ERR_TOO_LARGE for more
 * than 30 keys; HALQA_ERR_INVALID for none, unsorted or duplicate keys. On
 * error |*out| is empty.
 */
HALQA_MUST_CHECK int roster_decode(struct roster *out, const uint8_t *data, size_t len);

/*
 * roster_encode writes the payload of a valid |*r| to |*out| (free with
 * free()), |*out_len| bytes. HALQA_ERR_INVALID if |*r| breaks the rules above.
 */
HALQA_MUST_CHECK int roster_encode(uint8_t **out, size_t *out_len, const struct roster *r);

/* roster_has returns 1 if |key| is a facilitator in |r|. */
int roster_has(const struct roster *r, const uint8_t key[ROSTER_KEY_LEN]);

/*
 * roster_add inserts |key| keeping the order: HALQA_ERR_EXISTS if present,
 * HALQA_ERR_LIMIT if the roster is full.
 */
HALQA_MUST_CHECK int roster_add(struct roster *r, const uint8_t key[ROSTER_KEY_LEN]);

/*
 * roster_remove deletes |key|: HALQA_ERR_NOT_FOUND if absent, HALQA_ERR_DENIED
 * if it is the last facilitator (a circle always keeps one).
 */
HALQA_MUST_CHECK int roster_remove(struct roster *r, const uint8_t key[ROSTER_KEY_LEN]);

/*
 * roster_may_change_membership returns HALQA_OK if |sender| may commit adds
 * or removes, else HALQA_ERR_DENIED.
 */
HALQA_MUST_CHECK int roster_may_change_membership(const struct roster *r,
						  const uint8_t sender[ROSTER_KEY_LEN]);

/*
 * roster_may_schedule returns HALQA_OK if |sender| may schedule, edit or
 * cancel sessions and open check-in rounds, else HALQA_ERR_DENIED.
 */
HALQA_MUST_CHECK int roster_may_schedule(const struct roster *r,
					 const uint8_t sender[ROSTER_KEY_LEN]);

/*
 * roster_validate_change checks a commit replacing |old| by |new_roster|:
 * HALQA_ERR_DENIED unless |sender| is a facilitator in |old|; HALQA_ERR_INVALID
 * if |new_roster| is not a valid roster (empty, unsorted, too long). An
 * unchanged roster passes for anyone (the commit does not touch it).
 */
HALQA_MUST_CHECK int roster_validate_change(const struct roster *old, const struct roster *new_roster,
					    const uint8_t sender[ROSTER_KEY_LEN]);

/*
 * roster_validate_removals checks a commit that removes the members with
 * identity keys |removed| (|num_removed| of them) from the group, under the
 * roster |r| in force after the commit: HALQA_ERR_DENIED if no facilitator
 * of |r| would remain a member (the last facilitator cannot leave without
 * handing over first).
 */
HALQA_MUST_CHECK int roster_validate_removals(const struct roster *r,
					      const uint8_t (*removed)[ROSTER_KEY_LEN],
					      size_t num_removed);

#endif
