/*
 * zmq_lib.h: libzmq, loaded beside the store's opening.
 *
 * Every halqa command that talks to the relay opens its encrypted store
 * first (the passphrase's Argon2id, SQLCipher and OpenSSL starting), and
 * only then connects. Linking libzmq would make the dynamic loader map and
 * relocate it and what it brings (libstdc++, Kerberos, OpenPGM, NORM)
 * before main, on the one thread there is: about 7 ms of CPU and more of
 * wall time on every command, most of what separates an empty program
 * from one linked with our four libraries. So halqa does not link it:
 * zmq_lib_preload starts a thread that loads it with dlopen and makes the
 * first ZeroMQ context (OpenPGM's set-up runs there), while the main
 * thread opens the store; zmq_lib_get waits for that thread, or loads on
 * the spot if none was started. net.c and the engine call ZeroMQ through
 * the table below; libzmq's header still gives the types and prototypes,
 * so the table's members are checked against them by the compiler.
 *
 * The table is filled once and never changes: any thread may read it
 * after zmq_lib_get succeeded.
 */
#ifndef HALQA_ZMQ_LIB_H
#define HALQA_ZMQ_LIB_H

#include <zmq.h>

#include "halqa/err.h"

/* The soname of libzmq 5 (ZeroMQ 4.x), as the package's dependency names it. */
#define ZMQ_LIB_SONAME "libzmq.so.5"

/* ZMQ_LIB_FUNCS(X) lists every libzmq function the client calls, once. */
#define ZMQ_LIB_FUNCS(X)                                                                           \
	X(zmq_close)                                                                               \
	X(zmq_connect)                                                                             \
	X(zmq_ctx_new)                                                                             \
	X(zmq_ctx_term)                                                                            \
	X(zmq_disconnect)                                                                          \
	X(zmq_getsockopt)                                                                          \
	X(zmq_msg_close)                                                                           \
	X(zmq_msg_data)                                                                            \
	X(zmq_msg_init)                                                                            \
	X(zmq_msg_recv)                                                                            \
	X(zmq_msg_size)                                                                            \
	X(zmq_send)                                                                                \
	X(zmq_setsockopt)                                                                          \
	X(zmq_socket)                                                                              \
	X(zmq_socket_monitor)                                                                      \
	X(zmq_strerror)

/* struct zmq_lib: one pointer per function, named and typed as libzmq's. */
struct zmq_lib {
#define ZMQ_LIB_MEMBER(name) __typeof__(name) *name;
	ZMQ_LIB_FUNCS(ZMQ_LIB_MEMBER)
#undef ZMQ_LIB_MEMBER
};

/*
 * zmq_lib_preload starts loading libzmq on a thread of its own, which
 * also makes one ZeroMQ context for zmq_lib_ctx_new to hand out. Call it
 * early in a command that will connect; calling it again, or after a
 * load, does nothing. If the thread cannot start, zmq_lib_get loads later.
 */
void zmq_lib_preload(void);

/*
 * zmq_lib_get sets |*out| to the loaded table: it waits for the preload
 * thread, or loads libzmq now if none was started. If libzmq cannot be
 * loaded (not installed, or a function missing), it logs one error line
 * naming the library and the reason, sets |*out| to NULL and returns
 * HALQA_ERR_UNSUPPORTED, now and on every later call. libzmq is never
 * unloaded.
 *
 * For tests, the environment variable HALQA_TEST_NO_ZMQ=1 makes the load
 * fail as if libzmq were not installed.
 */
HALQA_MUST_CHECK int zmq_lib_get(const struct zmq_lib **out);

/*
 * zmq_lib_loaded returns the table once zmq_lib_get has succeeded (net.c
 * only runs on a socket made after that). Calling it earlier is a bug:
 * it aborts.
 */
const struct zmq_lib *zmq_lib_loaded(void);

/*
 * zmq_lib_ctx_new returns a new ZeroMQ context (free it with the table's
 * zmq_ctx_term): the one the preload thread made, the first time, else a
 * fresh one. NULL if libzmq is not loaded or the context cannot be made.
 */
void *zmq_lib_ctx_new(void);

/*
 * zmq_lib_retire ends |ctx| on a thread of its own: it stops |sock|'s
 * monitor, closes |mon| and |sock| (either may be NULL) and then calls
 * zmq_ctx_term. It is for a command about to end. Ending a context waits
 * for its I/O and reaper threads (1-2 ms here), and the main thread can
 * close the store in that time instead. The caller hands all three over
 * and never uses them again; the libuv handles polling the sockets' fds
 * must be closed already. zmq_lib_settle waits for the thread. If a
 * retirement is still running it is waited for first; if no thread can
 * start, the work is done before zmq_lib_retire returns.
 */
void zmq_lib_retire(void *ctx, void *sock, void *mon);

/*
 * zmq_lib_settle waits for the preload thread if it still runs, ends the
 * context it made if nobody took it, and waits for a retirement
 * (zmq_lib_retire). A command calls it before it ends, so that the
 * process never exits while a thread is in the middle of dlopen or
 * of ending a context.
 */
void zmq_lib_settle(void);

#endif
