/*
 * spool_ckpt.c: WAL checkpoints on a helper thread with a connection of
 * its own, off the acknowledgement path.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
 * past 1,000 pages: that COMMIT returns only after the checkpoint has
 * copied those pages into the database file and synced it, so the
 * replies of that turn wait for two more fsyncs and a few MiB of writes.
 * Measured with the automatic checkpoint switched off (bench/README.md),
 * the relay accepted about a third more sends.
 *
 * Here a wal_hook on the spool's connection replaces the automatic
 * checkpoint. After a COMMIT that leaves SPOOL_CKPT_PAGES or more in the
 * WAL it wakes the checkpoint thread, which runs a PASSIVE checkpoint on
 * its own connection: it copies what is committed, never blocks the
 * writer, and syncs the WAL before and the database file after copying,
 * as the automatic one does. What it copies is already durable in the WAL,
 * so acknowledgements never depend on it.
 *
 * A passive checkpoint that runs beside a steady stream of commits never
 * finds the WAL wholly copied, and SQLite rewinds the WAL to its start
 * only then. So when a COMMIT leaves SPOOL_CKPT_HARD_PAGES or more, the
 * hook checkpoints on the spool's own connection as the automatic one
 * did; with the helper having copied most frames already, that copies
 * only the rest, and the next write transaction starts the WAL afresh.
 */
#include <pthread.h>

#include "spool_int.h"

/* SQLite's own automatic checkpoint threshold. */
#define SPOOL_CKPT_PAGES 1000
/* The WAL's bound under steady load (32 MiB with 4 KiB pages). */
#define SPOOL_CKPT_HARD_PAGES 8000

struct spool_ckpt {
	pthread_t thread;
	pthread_mutex_t mu; /* guards want and quit */
	pthread_cond_t cv;
	int want;
	int quit;
	sqlite3 *db; /* the helper's connection, used by its thread only */
};

static void *ckpt_main(void *arg)
{
	struct spool_ckpt *ck = arg;
	int failing = 0; /* said once, until a checkpoint succeeds again */

	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while (!ck->want && !ck->quit) {
			pthread_cond_wait(&ck->cv, &ck->mu);
		}
		if (ck->quit) {
			break;
		}
		ck->want = 0;
		pthread_mutex_unlock(&ck->mu);
		{
			int src = sqlite3_wal_checkpoint_v2(ck->db, "main", SQLITE_CHECKPOINT_PASSIVE,
							    NULL, NULL);

			/*
			 * SQLITE_BUSY: the other connection is checkpointing.
			 * A failure that lasts (a full disk) is logged once,
			 * not after every COMMIT that wakes this thread.
			 */
			if (src != SQLITE_OK && src != SQLITE_BUSY) {
				if (!failing) {
					halqa_log(HALQA_LOG_WARN, "spool",
						  "checkpoint failed: %s (%d); the WAL grows "
						  "until one succeeds",
						  sqlite3_errmsg(ck->db), src);
				}
				failing = 1;
			} else if (src == SQLITE_OK && failing) {
				halqa_log(HALQA_LOG_INFO, "spool", "checkpoints succeed again");
				failing = 0;
			}
		}
		pthread_mutex_lock(&ck->mu);
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

/* wal_hook runs on the committing thread after each COMMIT, |num_frames| in the WAL. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int num_frames)
{
	struct spool_ckpt *ck = arg;

	if (num_frames >= SPOOL_CKPT_HARD_PAGES) {
		/* Busy (the helper is copying) is fine: the next COMMIT tries again. */
		(void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (num_frames >= SPOOL_CKPT_PAGES) {
		pthread_mutex_lock(&ck->mu);
		ck->want = 1;
		pthread_cond_signal(&ck->cv);
		pthread_mutex_unlock(&ck->mu);
	}
	return SQLITE_OK;
}

int spool_checkpoints_start(struct spool *sp, const char *path)
{
	struct spool_ckpt *ck;
	int src;

	if (sp == NULL || path == NULL || sp->ckpt != NULL) {
		return HALQA_ERR_ARG;
	}
	if ((ck = calloc(1, sizeof *ck)) == NULL) {
		return HALQA_ERR_NOMEM;
	}
	if (pthread_mutex_init(&ck->mu, NULL) != 0) {
		free(ck);
		return HALQA_ERR_IO;
	}
	if (pthread_cond_init(&ck->cv, NULL) != 0) {
		pthread_mutex_destroy(&ck->mu);
		free(ck);
		return HALQA_ERR_IO;
	}
	/* The file exists (spool_open made it): never create one here. */
	src = sqlite3_open_v2(path, &ck->db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
			      NULL);
	if (src != SQLITE_OK ||
	    sqlite3_exec(ck->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "cannot open the checkpoint connection: %s",
			  ck->db != NULL ? sqlite3_errmsg(ck->db) : "out of memory");
		goto fail;
	}
	if (pthread_create(&ck->thread, NULL, ckpt_main, ck) != 0) {
		goto fail;
	}
	sp->ckpt = ck;
	/* This replaces SQLite's automatic checkpoint on the spool's connection. */
	sqlite3_wal_hook(sp->db, wal_hook, ck);
	return HALQA_OK;
fail:
	sqlite3_close(ck->db);
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	free(ck);
	return HALQA_ERR_IO;
}

void spool_checkpoints_stop(struct spool *sp)
{
	struct spool_ckpt *ck;

	if (sp == NULL || (ck = sp->ckpt) == NULL) {
		return;
	}
	/* Back to SQLite's own checkpoints (and its checkpoint at close). */
	sqlite3_wal_autocheckpoint(sp->db, SPOOL_CKPT_PAGES);
	pthread_mutex_lock(&ck->mu);
	ck->quit = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->thread, NULL);
	if (sqlite3_close(ck->db) != SQLITE_OK) {
		halqa_log(HALQA_LOG_ERROR, "spool", "checkpoint connection close failed");
	}
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	free(ck);
	sp->ckpt = NULL;
}
