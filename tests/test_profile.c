/*
 * test_profile.c: profile directory resolution, creation modes and
 * refusal to overwrite, opening with right and wrong passphrases, damaged
 * parameters files, passphrase sources, and passwd with the process dying
 * at each point between its steps (rebuilt by hand: new parameters written
 * but store not rekeyed; store rekeyed but parameters not renamed).
 */
#include "halqa/profile.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char tmp[256];

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void test_resolve(void)
{
	char out[PROFILE_MAX_PATH];

	setenv("HALQA_HOME", "/h/env", 1);
	setenv("XDG_DATA_HOME", "/x/data", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_OK(profile_dir_resolve(out, "/opt/p"));
	CHECK(strcmp(out, "/opt/p") == 0);
	CHECK_OK(profile_dir_resolve(out, NULL));
	CHECK(strcmp(out, "/h/env") == 0);
	unsetenv("HALQA_HOME");
	CHECK_OK(profile_dir_resolve(out, NULL));
	CHECK(strcmp(out, "/x/data/halqa") == 0);
	setenv("XDG_DATA_HOME", "relative", 1);
	CHECK_OK(profile_dir_resolve(out, NULL));
	CHECK(strcmp(out, "/home/u/.local/share/halqa") == 0);
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	CHECK_RC(profile_dir_resolve(out, NULL), HALQA_ERR_NOT_FOUND);
}

static void test_create_open(void)
{
	char dir[300], p[400];
	struct store *s = NULL;
	struct stat sb;
	char v[16];

	snprintf(dir, sizeof dir, "%s/one/two", tmp);
	CHECK_OK(profile_create(&s, dir, "pw", 2, STOREKEY_PROFILE_TEST));
	CHECK_OK(store_setting_set(s, "k", "v"));
	store_close(s);
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	path_in(p, sizeof p, dir, "store.db");
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	path_in(p, sizeof p, dir, "store.kdf");
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600 &&
	      sb.st_size == STOREKEY_ENCODED_LEN);
	CHECK_RC(profile_create(&s, dir, "pw", 2, STOREKEY_PROFILE_TEST), HALQA_ERR_EXISTS);
	CHECK_RC(profile_open(&s, dir, "px", 2), HALQA_ERR_CRYPTO);
	CHECK_OK(profile_open(&s, dir, "pw", 2));
	CHECK_OK(store_setting_get(s, "k", v, sizeof v));
	store_close(s);
	snprintf(dir, sizeof dir, "%s/none", tmp);
	CHECK_RC(profile_open(&s, dir, "pw", 2), HALQA_ERR_NOT_FOUND);
}

static void test_damaged_params(void)
{
	char dir[300], p[400];
	struct store *s = NULL;
	struct storekey_params params;
	uint8_t big[STOREKEY_ENCODED_LEN + 1];
	FILE *f;

	snprintf(dir, sizeof dir, "%s/damaged", tmp);
	CHECK_OK(profile_create(&s, dir, "pw", 2, STOREKEY_PROFILE_TEST));
	store_close(s);
	CHECK_OK(profile_params_read(dir, "store.kdf", &params));
	path_in(p, sizeof p, dir, "store.kdf");
	CHECK(truncate(p, 10) == 0);
	CHECK_RC(profile_open(&s, dir, "pw", 2), HALQA_ERR_TRUNCATED);
	memset(big, 0, sizeof big);
	f = fopen(p, "wb");
	CHECK(f != NULL && fwrite(big, 1, sizeof big, f) == sizeof big);
	fclose(f);
	CHECK_RC(profile_open(&s, dir, "pw", 2), HALQA_ERR_MALFORMED);
	/* Right contents, one trailing byte. */
	CHECK_OK(profile_params_write(dir, "store.kdf", &params));
	f = fopen(p, "ab");
	CHECK(f != NULL && fputc('x', f) == 'x');
	fclose(f);
	CHECK_RC(profile_open(&s, dir, "pw", 2), HALQA_ERR_MALFORMED);
	unlink(p);
	CHECK_RC(profile_open(&s, dir, "pw", 2), HALQA_ERR_NOT_FOUND);
	CHECK_OK(profile_params_write(dir, "store.kdf", &params));
	CHECK_OK(profile_open(&s, dir, "pw", 2));
	store_close(s);
}

static void test_passwd_and_crash_points(void)
{
	char dir[300], p[400];
	struct store *s = NULL;
	struct storekey_params np;
	uint8_t key[STOREKEY_KEY_LEN];
	struct stat sb;

	snprintf(dir, sizeof dir, "%s/pw", tmp);
	CHECK_OK(profile_create(&s, dir, "old", 3, STOREKEY_PROFILE_TEST));
	CHECK_OK(store_setting_set(s, "k", "kept"));
	CHECK_OK(profile_passwd(s, dir, "new", 3));
	store_close(s);
	CHECK_RC(profile_open(&s, dir, "old", 3), HALQA_ERR_CRYPTO);
	CHECK_OK(profile_open(&s, dir, "new", 3));
	path_in(p, sizeof p, dir, "store.kdf.new");
	CHECK(stat(p, &sb) != 0);

	/* Crash 1: store.kdf.new written, store not yet rekeyed. */
	CHECK_OK(storekey_params_new(&np, STOREKEY_PROFILE_TEST));
	CHECK_OK(profile_params_write(dir, "store.kdf.new", &np));
	store_close(s);
	CHECK_RC(profile_open(&s, dir, "newer", 5), HALQA_ERR_CRYPTO);
	CHECK_OK(profile_open(&s, dir, "new", 3));
	CHECK(stat(p, &sb) != 0); /* the unused new parameters are gone */

	/* Crash 2: store rekeyed under store.kdf.new, not yet renamed. */
	CHECK_OK(storekey_params_new(&np, STOREKEY_PROFILE_TEST));
	CHECK_OK(profile_params_write(dir, "store.kdf.new", &np));
	CHECK_OK(storekey_derive(key, &np, "newer", 5));
	CHECK_OK(store_rekey(s, key));
	sodium_memzero(key, sizeof key);
	store_close(s);
	CHECK_RC(profile_open(&s, dir, "new", 3), HALQA_ERR_CRYPTO);
	CHECK(stat(p, &sb) == 0); /* a wrong passphrase finishes nothing */
	CHECK_OK(profile_open(&s, dir, "newer", 5));
	CHECK(stat(p, &sb) != 0);
	store_close(s);
	CHECK_OK(profile_open(&s, dir, "newer", 5));
	{
		char v[16];
		CHECK_OK(store_setting_get(s, "k", v, sizeof v));
		CHECK(strcmp(v, "kept") == 0);
	}
	store_close(s);
}

static void test_passphrase_sources(void)
{
	char f[300], *pw = NULL;
	size_t len = 0;
	FILE *fp;
	char longpw[PROFILE_MAX_PASSPHRASE + 2];

	snprintf(f, sizeof f, "%s/pass", tmp);
	fp = fopen(f, "wb");
	fputs("first line\r\nsecond\n", fp);
	fclose(fp);
	chmod(f, 0640);
	CHECK_RC(profile_passphrase_get(&pw, &len, f, NULL, "", 0), HALQA_ERR_DENIED);
	chmod(f, 0600);
	CHECK_OK(profile_passphrase_get(&pw, &len, f, NULL, "", 0));
	CHECK(pw != NULL && len == 10 && strcmp(pw, "first line") == 0);
	profile_passphrase_free(pw, len);
	fp = fopen(f, "wb");
	fputs("\nx\n", fp);
	fclose(fp);
	CHECK_RC(profile_passphrase_get(&pw, &len, f, NULL, "", 0), HALQA_ERR_ARG);
	CHECK_RC(profile_passphrase_get(&pw, &len, "/nonexistent/x", NULL, "", 0),
		 HALQA_ERR_NOT_FOUND);

	setenv("HALQA_TEST_PW", "from env", 1);
	CHECK_OK(profile_passphrase_get(&pw, &len, NULL, "HALQA_TEST_PW", "", 0));
	CHECK(pw != NULL && strcmp(pw, "from env") == 0);
	profile_passphrase_free(pw, len);
	setenv("HALQA_TEST_PW", "", 1);
	CHECK_RC(profile_passphrase_get(&pw, &len, NULL, "HALQA_TEST_PW", "", 0), HALQA_ERR_ARG);
	memset(longpw, 'p', sizeof longpw - 1);
	longpw[sizeof longpw - 1] = '\0';
	setenv("HALQA_TEST_PW", longpw, 1);
	CHECK_RC(profile_passphrase_get(&pw, &len, NULL, "HALQA_TEST_PW", "", 0),
		 HALQA_ERR_TOO_LARGE);
	fp = fopen(f, "wb");
	fputs(longpw, fp);
	fclose(fp);
	CHECK_RC(profile_passphrase_get(&pw, &len, f, NULL, "", 0), HALQA_ERR_TOO_LARGE);
	unsetenv("HALQA_TEST_PW");
	CHECK(pw == NULL);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char cmd[400];
	int rc;

	if (sodium_init() < 0) {
		return 1;
	}
	umask(077);
	snprintf(tmp, sizeof tmp, "%s/halqa-profile-XXXXXX", t ? t : "/tmp");
	if (mkdtemp(tmp) == NULL) {
		return 1;
	}
	RUN(test_resolve);
	RUN(test_create_open);
	RUN(test_damaged_params);
	RUN(test_passwd_and_crash_points);
	RUN(test_passphrase_sources);
	rc = harness_report();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0) {
		return 1;
	}
	return rc;
}
