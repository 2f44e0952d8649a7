/*
 * storekey.c: Argon2id store keys and their parameter encoding (storekey.h).
 *
 * The default profile is chosen by measurement (bench/README.md figures for
 * crypto_pwhash on the development machine): 4 passes over 256 MiB take
 * about half a second, which an advocate pays once per command and an
 * attacker pays per guess. The salt is random per profile, so one
 * passphrase used twice gives two unrelated keys.
 */
#include "halqa/storekey.h"

#include <sodium.h>
#include <string.h>

static const uint8_t storekey_magic[4] = {'H', 'Q', 'K', 'D'};

#define STOREKEY_VERSION 1
#define STOREKEY_ALG_ARGON2ID13 2 /* libsodium's crypto_pwhash_ALG_ARGON2ID13 */

#define DEFAULT_OPSLIMIT 4
#define DEFAULT_MEMLIMIT (256ull * 1024 * 1024)

int storekey_params_new(struct storekey_params *out, enum storekey_profile profile)
{
	switch (profile) {
	case STOREKEY_PROFILE_DEFAULT:
		out->opslimit = DEFAULT_OPSLIMIT;
		out->memlimit = DEFAULT_MEMLIMIT;
		break;
	case STOREKEY_PROFILE_TEST:
		out->opslimit = crypto_pwhash_OPSLIMIT_MIN;
		out->memlimit = crypto_pwhash_MEMLIMIT_MIN;
		break;
	default:
		return HALQA_ERR_ARG;
	}
	randombytes_buf(out->salt, sizeof out->salt);
	return HALQA_OK;
}

int storekey_params_is_test(const struct storekey_params *p)
{
	return p->opslimit < DEFAULT_OPSLIMIT || p->memlimit < DEFAULT_MEMLIMIT;
}

int storekey_params_encode(struct bytes_writer *w, const struct storekey_params *p)
{
	bytes_put(w, storekey_magic, sizeof storekey_magic);
	bytes_put_u8(w, STOREKEY_VERSION);
	bytes_put_u8(w, STOREKEY_ALG_ARGON2ID13);
	bytes_put_u64(w, p->opslimit);
	bytes_put_u64(w, p->memlimit);
	return bytes_put(w, p->salt, sizeof p->salt);
}

int storekey_params_decode(struct bytes_reader *r, struct storekey_params *out)
{
	struct bytes_reader tmp = *r;
	struct storekey_params p;
	uint8_t magic[4], version, alg;
	int rc;

	if ((rc = bytes_get_copy(&tmp, magic, sizeof magic)) != 0 ||
	    (rc = bytes_get_u8(&tmp, &version)) != 0 || (rc = bytes_get_u8(&tmp, &alg)) != 0 ||
	    (rc = bytes_get_u64(&tmp, &p.opslimit)) != 0 ||
	    (rc = bytes_get_u64(&tmp, &p.memlimit)) != 0 ||
	    (rc = bytes_get_copy(&tmp, p.salt, sizeof p.salt)) != 0) {
		return rc;
	}
	if (memcmp(magic, storekey_magic, sizeof magic) != 0) {
		return HALQA_ERR_MALFORMED;
	}
	if (version != STOREKEY_VERSION || alg != STOREKEY_ALG_ARGON2ID13) {
		return HALQA_ERR_UNSUPPORTED;
	}
	if (p.opslimit < crypto_pwhash_OPSLIMIT_MIN || p.opslimit > STOREKEY_MAX_OPSLIMIT ||
	    p.memlimit < crypto_pwhash_MEMLIMIT_MIN || p.memlimit > STOREKEY_MAX_MEMLIMIT) {
		return HALQA_ERR_INVALID;
	}
	*out = p;
	*r = tmp;
	return HALQA_OK;
}

int storekey_derive(uint8_t out[STOREKEY_KEY_LEN], const struct storekey_params *p,
		    const char *passphrase, size_t passphrase_len)
{
	if (passphrase == NULL && passphrase_len != 0) {
		return HALQA_ERR_ARG;
	}
	if (crypto_pwhash(out, STOREKEY_KEY_LEN, passphrase != NULL ? passphrase : "",
			  passphrase_len, p->salt, p->opslimit, (size_t)p->memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(out, STOREKEY_KEY_LEN);
		return HALQA_ERR_NOMEM;
	}
	return HALQA_OK;
}
