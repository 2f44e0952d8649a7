/*
 * profile.c: profile directories, the parameters file, opening with a
 * passphrase, changing it crash-safely, and reading passphrases.
 *
 * The derived store key lives on the stack only between storekey_derive and
 * store_open/store_rekey and is wiped on every path. Passphrases live in
 * sodium_malloc'd buffers. Parameters files are small and decoded through
 * the codec with their exact length, so a hostile or cut file is refused
 * with storekey's bounds before any Argon2id work is sized from it.
 */
#include "halqa/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

static const char kdf_name[] = "store.kdf";
static const char kdf_new_name[] = "store.kdf.new";
static const char db_name[] = "store.db";

static int join(char out[PROFILE_MAX_PATH], const char *dir, const char *name)
{
	int n = snprintf(out, PROFILE_MAX_PATH, "%s/%s", dir, name);

	return n < 0 || n >= PROFILE_MAX_PATH ? HALQA_ERR_TOO_LARGE : HALQA_OK;
}

int profile_dir_resolve(char out[PROFILE_MAX_PATH], const char *home_opt)
{
	const char *v;
	int n;

	out[0] = '\0';
	if (home_opt != NULL && home_opt[0] != '\0') {
		n = snprintf(out, PROFILE_MAX_PATH, "%s", home_opt);
	} else if ((v = getenv("HALQA_HOME")) != NULL && v[0] != '\0') {
		n = snprintf(out, PROFILE_MAX_PATH, "%s", v);
	} else if ((v = getenv("XDG_DATA_HOME")) != NULL && v[0] == '/') {
		/* The XDG spec says relative values are to be ignored. */
		n = snprintf(out, PROFILE_MAX_PATH, "%s/halqa", v);
	} else if ((v = getenv("HOME")) != NULL && v[0] != '\0') {
		n = snprintf(out, PROFILE_MAX_PATH, "%s/.local/share/halqa", v);
	} else {
		return HALQA_ERR_NOT_FOUND;
	}
	if (n < 0 || n >= PROFILE_MAX_PATH) {
		out[0] = '\0';
		return HALQA_ERR_TOO_LARGE;
	}
	return HALQA_OK;
}

/* mkdir_p creates |dir| and missing parents with mode 0700. */
static int mkdir_p(const char *dir)
{
	char tmp[PROFILE_MAX_PATH];
	size_t len = strnlen(dir, PROFILE_MAX_PATH);

	if (len == 0 || len >= PROFILE_MAX_PATH) {
		return HALQA_ERR_ARG;
	}
	memcpy(tmp, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0') {
			continue;
		}
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			return HALQA_ERR_IO;
		}
		tmp[i] = c;
	}
	return HALQA_OK;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = HALQA_OK;

	if (fd < 0) {
		return HALQA_ERR_IO;
	}
	if (fsync(fd) != 0) {
		r = HALQA_ERR_IO;
	}
	close(fd);
	return r;
}

int profile_params_read(const char *dir, const char *name, struct storekey_params *out)
{
	char path[PROFILE_MAX_PATH];
	uint8_t buf[STOREKEY_ENCODED_LEN + 1];
	struct bytes_reader rd;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	if ((r = join(path, dir, name)) != HALQA_OK) {
		return r;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		return errno == ENOENT ? HALQA_ERR_NOT_FOUND : HALQA_ERR_IO;
	}
	/* Read one byte more than a valid file has, to see a long one. */
	while (got < sizeof buf) {
		n = read(fd, buf + got, sizeof buf - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			close(fd);
			return HALQA_ERR_IO;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	bytes_reader_init(&rd, buf, got);
	if ((r = storekey_params_decode(&rd, out)) != HALQA_OK) {
		return r;
	}
	return bytes_expect_end(&rd);
}

int profile_params_write(const char *dir, const char *name, const struct storekey_params *p)
{
	char path[PROFILE_MAX_PATH], tmp[PROFILE_MAX_PATH];
	struct bytes_writer w;
	const uint8_t *data;
	size_t len, off = 0;
	ssize_t n;
	int fd = -1, r;

	bytes_writer_init(&w, STOREKEY_ENCODED_LEN, 0);
	if ((r = join(path, dir, name)) != HALQA_OK ||
	    (r = snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp
			 ? HALQA_ERR_TOO_LARGE
			 : HALQA_OK) != HALQA_OK ||
	    (r = storekey_params_encode(&w, p)) != HALQA_OK) {
		goto out;
	}
	data = bytes_writer_data(&w);
	len = bytes_writer_len(&w);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = HALQA_ERR_IO;
		goto out;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			r = HALQA_ERR_IO;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		r = HALQA_ERR_IO;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		r = HALQA_ERR_IO;
		goto out;
	}
	r = fsync_dir(dir);
out:
	if (fd >= 0) {
		close(fd);
	}
	if (r != HALQA_OK) {
		unlink(tmp);
	}
	bytes_writer_cleanup(&w);
	return r;
}

static int exists(const char *dir, const char *name)
{
	char path[PROFILE_MAX_PATH];
	struct stat sb;

	return join(path, dir, name) == HALQA_OK && lstat(path, &sb) == 0;
}

int profile_create(struct store **out, const char *dir, const char *pass, size_t pass_len,
		   enum storekey_profile kdf)
{
	struct storekey_params p;
	uint8_t key[STOREKEY_KEY_LEN];
	char path[PROFILE_MAX_PATH];
	int r;

	*out = NULL;
	if ((r = mkdir_p(dir)) != HALQA_OK) {
		return r;
	}
	if (exists(dir, db_name) || exists(dir, kdf_name) || exists(dir, kdf_new_name)) {
		return HALQA_ERR_EXISTS;
	}
	if ((r = join(path, dir, db_name)) != HALQA_OK ||
	    (r = storekey_params_new(&p, kdf)) != HALQA_OK ||
	    (r = storekey_derive(key, &p, pass, pass_len)) != HALQA_OK) {
		goto out;
	}
	/* The store first: if writing the parameters fails, remove it again. */
	if ((r = store_open(out, path, key, STORE_CREATE)) != HALQA_OK) {
		goto out;
	}
	if ((r = profile_params_write(dir, kdf_name, &p)) != HALQA_OK) {
		store_close(*out);
		*out = NULL;
		unlink(path);
	}
out:
	sodium_memzero(key, sizeof key);
	return r;
}

/* open_with derives the key from |p| and opens the store. */
static int open_with(struct store **out, const char *dbpath, const struct storekey_params *p,
		     const char *pass, size_t pass_len)
{
	uint8_t key[STOREKEY_KEY_LEN];
	int r;

	if ((r = storekey_derive(key, p, pass, pass_len)) == HALQA_OK) {
		r = store_open(out, dbpath, key, 0);
	}
	sodium_memzero(key, sizeof key);
	return r;
}

int profile_open(struct store **out, const char *dir, const char *pass, size_t pass_len)
{
	struct storekey_params p, pnew;
	char dbpath[PROFILE_MAX_PATH], path[PROFILE_MAX_PATH], newpath[PROFILE_MAX_PATH];
	int r, rnew;

	*out = NULL;
	if ((r = join(dbpath, dir, db_name)) != HALQA_OK ||
	    (r = join(path, dir, kdf_name)) != HALQA_OK ||
	    (r = join(newpath, dir, kdf_new_name)) != HALQA_OK) {
		return r;
	}
	if (!exists(dir, db_name)) {
		return HALQA_ERR_NOT_FOUND;
	}
	r = profile_params_read(dir, kdf_name, &p);
	if (r == HALQA_OK) {
		r = open_with(out, dbpath, &p, pass, pass_len);
		if (r == HALQA_OK) {
			/* A crash before the rekey left new parameters unused. */
			if (exists(dir, kdf_new_name)) {
				unlink(newpath);
			}
			return r;
		}
	}
	if (r != HALQA_ERR_CRYPTO || !exists(dir, kdf_new_name)) {
		return r;
	}
	/* A crash after the rekey: the new parameters hold the key. */
	if ((rnew = profile_params_read(dir, kdf_new_name, &pnew)) != HALQA_OK ||
	    (rnew = open_with(out, dbpath, &pnew, pass, pass_len)) != HALQA_OK) {
		return r;
	}
	if (rename(newpath, path) != 0 || fsync_dir(dir) != HALQA_OK) {
		store_close(*out);
		*out = NULL;
		return HALQA_ERR_IO;
	}
	return HALQA_OK;
}

int profile_passwd(struct store *s, const char *dir, const char *pass, size_t pass_len)
{
	struct storekey_params cur, p;
	uint8_t key[STOREKEY_KEY_LEN];
	char path[PROFILE_MAX_PATH], newpath[PROFILE_MAX_PATH];
	int r;

	if ((r = join(path, dir, kdf_name)) != HALQA_OK ||
	    (r = join(newpath, dir, kdf_new_name)) != HALQA_OK ||
	    (r = profile_params_read(dir, kdf_name, &cur)) != HALQA_OK ||
	    (r = storekey_params_new(&p, storekey_params_is_test(&cur) ? STOREKEY_PROFILE_TEST
								       : STOREKEY_PROFILE_DEFAULT)) !=
		    HALQA_OK ||
	    (r = storekey_derive(key, &p, pass, pass_len)) != HALQA_OK) {
		goto out;
	}
	if ((r = profile_params_write(dir, kdf_new_name, &p)) != HALQA_OK) {
		goto out;
	}
	if ((r = store_rekey(s, key)) != HALQA_OK) {
		unlink(newpath);
		goto out;
	}
	if (rename(newpath, path) != 0) {
		/* The next open finds store.kdf.new and finishes this. */
		r = HALQA_ERR_IO;
		goto out;
	}
	r = fsync_dir(dir);
out:
	sodium_memzero(key, sizeof key);
	return r;
}

void profile_passphrase_free(char *p, size_t len)
{
	if (p != NULL) {
		sodium_memzero(p, len + 1);
		sodium_free(p);
	}
}

/* read_line reads up to the first newline of |fd| into |buf| (NUL-terminated). */
static int read_line(int fd, char *buf, size_t cap, size_t *out_len)
{
	size_t len = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return HALQA_ERR_IO;
		}
		if (n == 0 || c == '\n') {
			break;
		}
		if (len + 1 >= cap) {
			sodium_memzero(buf, cap);
			return HALQA_ERR_TOO_LARGE;
		}
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r') {
		len--;
	}
	buf[len] = '\0';
	*out_len = len;
	c = 0;
	return len == 0 ? HALQA_ERR_ARG : HALQA_OK;
}

static int read_tty(int tty, const char *prompt, char *buf, size_t cap, size_t *out_len)
{
	struct termios old, quiet;
	int r, restore = 0;

	if (write(tty, prompt, strlen(prompt)) < 0) {
		return HALQA_ERR_IO;
	}
	if (tcgetattr(tty, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(tty, TCSAFLUSH, &quiet) == 0;
	}
	r = read_line(tty, buf, cap, out_len);
	if (restore) {
		(void)tcsetattr(tty, TCSAFLUSH, &old);
	}
	if (write(tty, "\n", 1) < 0) {
		/* Only cosmetic. */
	}
	return r;
}

int profile_passphrase_get(char **out, size_t *out_len, const char *file, const char *env_name,
			   const char *prompt, int confirm)
{
	const size_t cap = PROFILE_MAX_PASSPHRASE + 2;
	char *buf = NULL, *again = NULL;
	const char *env;
	struct stat sb;
	size_t len = 0, len2 = 0;
	int fd = -1, r;

	*out = NULL;
	*out_len = 0;
	if ((buf = sodium_malloc(cap)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (file != NULL) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
			r = errno == ENOENT ? HALQA_ERR_NOT_FOUND : HALQA_ERR_IO;
			goto out;
		}
		if (fstat(fd, &sb) != 0) {
			r = HALQA_ERR_IO;
			goto out;
		}
		/* Like ssh with a private key: a readable secret is refused. */
		if ((sb.st_mode & 077) != 0) {
			r = HALQA_ERR_DENIED;
			goto out;
		}
		r = read_line(fd, buf, cap, &len);
	} else if (env_name != NULL && (env = getenv(env_name)) != NULL) {
		len = strlen(env);
		if (len == 0) {
			r = HALQA_ERR_ARG;
		} else if (len > PROFILE_MAX_PASSPHRASE) {
			r = HALQA_ERR_TOO_LARGE;
		} else {
			memcpy(buf, env, len + 1);
			r = HALQA_OK;
		}
	} else {
		if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0) {
			r = HALQA_ERR_IO;
			goto out;
		}
		r = read_tty(fd, prompt, buf, cap, &len);
		if (r == HALQA_OK && confirm) {
			if ((again = sodium_malloc(cap)) == NULL) {
				r = HALQA_ERR_NOMEM;
				goto out;
			}
			r = read_tty(fd, "Repeat the passphrase: ", again, cap, &len2);
			if (r == HALQA_OK && (len2 != len || sodium_memcmp(buf, again, len) != 0)) {
				r = HALQA_ERR_INVALID;
			}
		}
	}
	if (r == HALQA_OK && len > PROFILE_MAX_PASSPHRASE) {
		r = HALQA_ERR_TOO_LARGE;
	}
	if (r != HALQA_OK) {
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL;
out:
	if (fd >= 0) {
		close(fd);
	}
	if (buf != NULL) {
		sodium_memzero(buf, cap);
		sodium_free(buf);
	}
	if (again != NULL) {
		sodium_memzero(again, cap);
		sodium_free(again);
	}
	return r;
}
