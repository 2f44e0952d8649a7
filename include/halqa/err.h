/*
 * err.h: the one error vocabulary of Halqa.
 *
 * Every fallible function returns an int: HALQA_OK (0) on success, otherwise
 * one of the negative codes below. Results travel through out-parameters, so
 * a return value is never both a count and an error. The set is small on
 * purpose: each code is one a caller would act on differently (retry, tell
 * the user, drop the peer, abort the operation). Detail for humans goes to
 * the log, never to the peer.
 */
#ifndef HALQA_ERR_H
#define HALQA_ERR_H

#if defined(__GNUC__)
#define HALQA_MUST_CHECK __attribute__((warn_unused_result))
#else
#define HALQA_MUST_CHECK
#endif

enum halqa_err {
	HALQA_OK = 0,
	HALQA_ERR_NOMEM = -1,       /* an allocation failed */
	HALQA_ERR_TRUNCATED = -2,   /* input ended before the structure did */
	HALQA_ERR_MALFORMED = -3,   /* input is not valid encoding */
	HALQA_ERR_TOO_LARGE = -4,   /* a length or count exceeds our bound */
	HALQA_ERR_UNSUPPORTED = -5, /* unknown version, type or suite */
	HALQA_ERR_CRYPTO = -6,      /* authentication, decryption or signature failed */
	HALQA_ERR_INVALID = -7,     /* well-formed but violates a rule */
	HALQA_ERR_NOT_FOUND = -8,   /* no such object */
	HALQA_ERR_EXISTS = -9,      /* object already exists */
	HALQA_ERR_DENIED = -10,     /* not allowed (capability, role, key) */
	HALQA_ERR_STALE = -11,      /* built on an old state (epoch); sync and retry */
	HALQA_ERR_LIMIT = -12,      /* quota or rate limit reached; try later */
	HALQA_ERR_IO = -13,         /* file system or storage failed */
	HALQA_ERR_NETWORK = -14,    /* peer unreachable or timed out */
	HALQA_ERR_ARG = -15,        /* caller passed an invalid argument */
	HALQA_ERR_INTERNAL = -16,   /* a bug or an impossible state */
};

/* HALQA_ERR_COUNT is one past the most negative code, for table sizing. */
#define HALQA_ERR_COUNT 17

/*
 * halqa_strerror returns a short static description of |err|, suitable for
 * a user or a log line. Never NULL; unknown codes give "unknown error".
 */
const char *halqa_strerror(int err);

/* halqa_errname returns the symbolic name ("HALQA_ERR_NOMEM") of |err|. */
const char *halqa_errname(int err);

#endif
