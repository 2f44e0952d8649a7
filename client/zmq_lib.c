/*
 * zmq_lib.c: libzmq loaded with dlopen, on a thread beside the store's
 * opening (see zmq_lib.h for why).
 *
 * RTLD_LAZY leaves libzmq's and its libraries' calls to be bound at their
 * first use, as for any program linked without -z now: binding them all
 * at load took twice as long (5-9 ms against 10-27 ms here, most of it
 * for libstdc++ and Kerberos functions never called). Every function of
 * the table is still looked up here, so a libzmq without one of them
 * fails at load, with one clear line. RTLD_LOCAL keeps its symbols out of
 * the global namespace: only this table reaches them. Each
 * symbol goes from dlsym's void * to its function pointer through memcpy,
 * the conversion POSIX guarantees and ISO C does not spell.
 *
 * The preload thread only writes the table, its result and the spare
 * context; the thread that joins it reads them after pthread_join, which
 * orders the two. It logs nothing: a failure's reason waits in g_why for
 * zmq_lib_get to log, once, on the thread that asked.
 */
#include "halqa/zmq_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halqa/dl_table.h"
#include "halqa/log.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static enum { UNTRIED, LOADED, FAILED } g_state = UNTRIED; /* under g_lock */
static bool g_thread_started;                               /* under g_lock */
static pthread_t g_thread;
static int g_thread_result;
static struct zmq_lib g_lib;
static void *g_spare_ctx; /* made by the preload thread, not yet handed out */
static char g_why[256];   /* why the load failed, logged by zmq_lib_get */
static _Atomic(const struct zmq_lib *) g_loaded;

/* A retirement (zmq_lib_retire): under g_lock until the thread starts, then its own. */
struct retiree {
	void *ctx, *sock, *mon;
};
static struct retiree g_retiree;
static pthread_t g_retire_thread;
static bool g_retire_started; /* under g_lock */

static int load(void)
{
	static const char *const names[] = {
#define ZMQ_LIB_NAME(name) #name,
		ZMQ_LIB_FUNCS(ZMQ_LIB_NAME)
#undef ZMQ_LIB_NAME
	};
	void *syms[sizeof names / sizeof names[0]];
	const char *v = getenv("HALQA_TEST_NO_ZMQ");
	size_t i = 0;
	int r;

	if (v != NULL && strcmp(v, "1") == 0) {
		snprintf(g_why, sizeof g_why, "disabled by HALQA_TEST_NO_ZMQ");
		return HALQA_ERR_UNSUPPORTED;
	}
	if ((r = dl_table_load(ZMQ_LIB_SONAME, RTLD_LAZY | RTLD_LOCAL, names, syms,
			       sizeof names / sizeof names[0], g_why, sizeof g_why)) != HALQA_OK) {
		return r;
	}
#define ZMQ_LIB_SET(name) memcpy(&g_lib.name, &syms[i++], sizeof syms[0]);
	ZMQ_LIB_FUNCS(ZMQ_LIB_SET)
#undef ZMQ_LIB_SET
	return HALQA_OK;
}

static void *preload_main(void *arg)
{
	(void)arg;
	if ((g_thread_result = load()) == HALQA_OK) {
		/* The first context runs OpenPGM's set-up: here, off the main thread. */
		g_spare_ctx = g_lib.zmq_ctx_new();
	}
	return NULL;
}

void zmq_lib_preload(void)
{
	sigset_t all, old;

	pthread_mutex_lock(&g_lock);
	if (g_state == UNTRIED && !g_thread_started) {
		/* The thread takes no signal: the main thread's handlers stay its own. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		g_thread_started = pthread_create(&g_thread, NULL, preload_main, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_unlock(&g_lock);
}

/* settle_locked ends the preload thread's work, if any, into g_state (g_lock held). */
static void settle_locked(void)
{
	int r;

	if (g_thread_started) {
		pthread_join(g_thread, NULL);
		g_thread_started = false;
		r = g_thread_result;
	} else if (g_state == UNTRIED) {
		r = load();
	} else {
		return;
	}
	g_state = r == HALQA_OK ? LOADED : FAILED;
	if (g_state == LOADED) {
		atomic_store_explicit(&g_loaded, &g_lib, memory_order_release);
	} else {
		halqa_log(HALQA_LOG_ERROR, "net", "cannot load %s (needed to reach the relay): %s",
			  ZMQ_LIB_SONAME, g_why);
	}
}

int zmq_lib_get(const struct zmq_lib **out)
{
	_Static_assert(sizeof(void *) == sizeof(g_lib.zmq_ctx_new),
		       "function pointers are as wide as object pointers (POSIX)");
	int r;

	pthread_mutex_lock(&g_lock);
	settle_locked();
	r = g_state == LOADED ? HALQA_OK : HALQA_ERR_UNSUPPORTED;
	pthread_mutex_unlock(&g_lock);
	*out = r == HALQA_OK ? &g_lib : NULL;
	return r;
}

const struct zmq_lib *zmq_lib_loaded(void)
{
	const struct zmq_lib *lib = atomic_load_explicit(&g_loaded, memory_order_acquire);

	if (lib == NULL) {
		halqa_log(HALQA_LOG_ERROR, "net", "ZeroMQ used before it was loaded");
		abort();
	}
	return lib;
}

void *zmq_lib_ctx_new(void)
{
	void *ctx = NULL;

	pthread_mutex_lock(&g_lock);
	settle_locked();
	if (g_state == LOADED) {
		ctx = g_spare_ctx != NULL ? g_spare_ctx : g_lib.zmq_ctx_new();
		g_spare_ctx = NULL;
	}
	pthread_mutex_unlock(&g_lock);
	return ctx;
}

/* retire_run closes a retiree's sockets (the monitor stopped first) and ends its context. */
static void retire_run(const struct retiree *r)
{
	if (r->sock != NULL && r->mon != NULL) {
		(void)g_lib.zmq_socket_monitor(r->sock, NULL, 0);
	}
	if (r->mon != NULL) {
		g_lib.zmq_close(r->mon);
	}
	if (r->sock != NULL) {
		g_lib.zmq_close(r->sock);
	}
	if (r->ctx != NULL) {
		g_lib.zmq_ctx_term(r->ctx);
	}
}

static void *retire_main(void *arg)
{
	retire_run(arg);
	return NULL;
}

/* retire_join_locked waits for the retirement thread, if one runs (g_lock held). */
static void retire_join_locked(void)
{
	if (g_retire_started) {
		pthread_join(g_retire_thread, NULL);
		g_retire_started = false;
	}
}

void zmq_lib_retire(void *ctx, void *sock, void *mon)
{
	sigset_t all, old;

	if (ctx == NULL && sock == NULL && mon == NULL) {
		return;
	}
	/* Only what a loaded table made can be handed over. */
	(void)zmq_lib_loaded();
	pthread_mutex_lock(&g_lock);
	retire_join_locked();
	g_retiree = (struct retiree){ .ctx = ctx, .sock = sock, .mon = mon };
	/* As the preload thread: no signal goes to it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	g_retire_started =
		pthread_create(&g_retire_thread, NULL, retire_main, &g_retiree) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!g_retire_started) {
		retire_run(&g_retiree);
	}
	pthread_mutex_unlock(&g_lock);
}

void zmq_lib_settle(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_thread_started) {
		settle_locked();
	}
	if (g_spare_ctx != NULL) {
		g_lib.zmq_ctx_term(g_spare_ctx);
		g_spare_ctx = NULL;
	}
	retire_join_locked();
	pthread_mutex_unlock(&g_lock);
}
