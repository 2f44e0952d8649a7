/*
 * profile.h: a profile directory and the passphrase that opens it.
 *
 * A profile is a directory (mode 0700) holding
 *     store.db   the SQLCipher store (0600), see store.h
 *     store.kdf  the Argon2id salt and costs (0600), see storekey.h
 * The directory is --home DIR, else $HALQA_HOME, else $XDG_DATA_HOME/halqa,
 * else ~/.local/share/halqa.
 *
 * Changing the passphrase must survive a crash at any point, so it runs in
 * this order: new parameters to store.kdf.new (synced), rekey the store,
 * rename store.kdf.new over store.kdf. Opening tries store.kdf; if the key
 * it gives does not open the store and store.kdf.new exists, the crash came
 * after the rekey, so it tries store.kdf.new with the same passphrase and
 * finishes the rename. If store.kdf works, a store.kdf.new left over from a
 * crash before the rekey is removed.
 *
 * Damaged or cut files give an error and are never written over.
 */
#ifndef HALQA_PROFILE_H
#define HALQA_PROFILE_H

#include <stddef.h>

#include "halqa/err.h"
#include "halqa/store.h"
#include "halqa/storekey.h"

#define PROFILE_MAX_PATH 1024
#define PROFILE_MAX_PASSPHRASE 1024

/*
 * profile_dir_resolve writes the profile directory into |out| following
 * the order above, |home_opt| being --home (or NULL). HALQA_ERR_NOT_FOUND
 * if no rule applies (no HOME), HALQA_ERR_TOO_LARGE if the path is too long.
 */
HALQA_MUST_CHECK int profile_dir_resolve(char out[PROFILE_MAX_PATH], const char *home_opt);

/*
 * profile_create makes the directory (0700, parents too), writes fresh
 * parameters of |kdf| and creates the store keyed from |pass|, returned
 * open in |*out|. HALQA_ERR_EXISTS if the directory already holds a store
 * or parameters file: a profile is never overwritten.
 */
HALQA_MUST_CHECK int profile_create(struct store **out, const char *dir, const char *pass,
				    size_t pass_len, enum storekey_profile kdf);

/*
 * profile_open opens the profile in |dir| with |pass| (see above for the
 * recovery from an interrupted passwd). HALQA_ERR_NOT_FOUND if there is no
 * profile, HALQA_ERR_CRYPTO for a wrong passphrase (or a damaged store),
 * HALQA_ERR_MALFORMED / _UNSUPPORTED / _INVALID / _TRUNCATED for a damaged
 * parameters file or store.
 */
HALQA_MUST_CHECK int profile_open(struct store **out, const char *dir, const char *pass,
				  size_t pass_len);

/*
 * profile_passwd re-keys the open store |s| of |dir| under |pass| with new
 * parameters of the same cost profile as the current ones.
 */
HALQA_MUST_CHECK int profile_passwd(struct store *s, const char *dir, const char *pass,
				    size_t pass_len);

/*
 * profile_params_read reads and decodes parameters file |name| in |dir|;
 * profile_params_write writes it atomically (temp, fsync, rename, fsync of
 * the directory), mode 0600.
 */
HALQA_MUST_CHECK int profile_params_read(const char *dir, const char *name,
					 struct storekey_params *out);
HALQA_MUST_CHECK int profile_params_write(const char *dir, const char *name,
					  const struct storekey_params *p);

/*
 * profile_passphrase_get obtains a passphrase: from |file| if not NULL
 * (its first line; HALQA_ERR_DENIED if group or others may read it), else
 * from $|env_name| if set, else from the terminal without echo, prompted
 * with |prompt| and, if |confirm|, asked twice (HALQA_ERR_INVALID if the
 * two differ). The result is in sodium_malloc'd |*out| (NUL-terminated,
 * free with profile_passphrase_free). HALQA_ERR_ARG if empty,
 * HALQA_ERR_TOO_LARGE above PROFILE_MAX_PASSPHRASE, HALQA_ERR_IO if there is
 * no terminal.
 */
HALQA_MUST_CHECK int profile_passphrase_get(char **out, size_t *out_len, const char *file,
					    const char *env_name, const char *prompt,
					    int confirm);
void profile_passphrase_free(char *p, size_t len);

#endif
