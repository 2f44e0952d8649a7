/*
 * identity.c: generating, storing and wiping a profile's long-term keys.
 *
 * Generation uses libsodium's key pair functions directly. The stored form
 * keeps only secrets and ids; decoding derives the public halves again
 * (crypto_sign_seed_keypair, crypto_scalarmult_base), so what the client
 * signs with and what it shows as its identity cannot drift apart. Every
 * intermediate copy of a secret is wiped before returning.
 */
#include "halqa/identity.h"

#include <string.h>

#include <sodium.h>

static const uint8_t magic[4] = {'H', 'Q', 'I', 'D'};

static struct identity *identity_alloc(void)
{
	struct identity *id = sodium_malloc(sizeof *id);

	if (id != NULL) {
		sodium_memzero(id, sizeof *id);
	}
	return id;
}

int identity_new(struct identity **out)
{
	struct identity *id;

	*out = NULL;
	if ((id = identity_alloc()) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (crypto_sign_keypair(id->sign_pub, id->sign_sec) != 0 ||
	    crypto_box_keypair(id->curve_pub, id->curve_sec) != 0) {
		identity_free(id);
		return HALQA_ERR_INTERNAL;
	}
	randombytes_buf(id->mailbox_id, sizeof id->mailbox_id);
	randombytes_buf(id->kp_dir_id, sizeof id->kp_dir_id);
	*out = id;
	return HALQA_OK;
}

void identity_free(struct identity *id)
{
	if (id != NULL) {
		sodium_memzero(id, sizeof *id);
		sodium_free(id);
	}
}

int identity_encode(struct bytes_writer *w, const struct identity *id)
{
	bytes_put(w, magic, sizeof magic);
	bytes_put_u8(w, 1);
	/* The first 32 bytes of a libsodium Ed25519 secret key are its seed. */
	bytes_put(w, id->sign_sec, IDENTITY_SEED_LEN);
	bytes_put(w, id->curve_sec, sizeof id->curve_sec);
	bytes_put(w, id->mailbox_id, sizeof id->mailbox_id);
	return bytes_put(w, id->kp_dir_id, sizeof id->kp_dir_id);
}

int identity_decode(struct bytes_reader *r, struct identity **out)
{
	struct bytes_reader save = *r;
	struct identity *id = NULL;
	uint8_t got_magic[4], version, seed[IDENTITY_SEED_LEN];
	int rc;

	*out = NULL;
	if ((id = identity_alloc()) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if ((rc = bytes_get_copy(r, got_magic, sizeof got_magic)) != HALQA_OK) {
		goto out;
	}
	if (memcmp(got_magic, magic, sizeof magic) != 0) {
		rc = HALQA_ERR_MALFORMED;
		goto out;
	}
	if ((rc = bytes_get_u8(r, &version)) != HALQA_OK) {
		goto out;
	}
	if (version != 1) {
		rc = HALQA_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = bytes_get_copy(r, seed, sizeof seed)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, id->curve_sec, sizeof id->curve_sec)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, id->mailbox_id, sizeof id->mailbox_id)) != HALQA_OK ||
	    (rc = bytes_get_copy(r, id->kp_dir_id, sizeof id->kp_dir_id)) != HALQA_OK) {
		goto out;
	}
	if (crypto_sign_seed_keypair(id->sign_pub, id->sign_sec, seed) != 0 ||
	    crypto_scalarmult_base(id->curve_pub, id->curve_sec) != 0) {
		rc = HALQA_ERR_INVALID;
		goto out;
	}
	*out = id;
	id = NULL;
	rc = HALQA_OK;
out:
	sodium_memzero(seed, sizeof seed);
	identity_free(id);
	if (rc != HALQA_OK) {
		*r = save;
	}
	return rc;
}
