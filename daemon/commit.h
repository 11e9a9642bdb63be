/*
 * commit.h - the daemon's one path into the database for what arrives:
 * when to commit the ingest batch, in what order, what to do when a commit
 * fails, and how a stop keeps what could not be committed.
 *
 * Order: alerts (and account statuses) that wait in the watch are stored
 * before the fixes received after them, then the batch of fixes, then the
 * alerts that batch raised (the engine sees fixes only after their commit).
 *
 * Back-pressure instead of loss: when anything cannot be stored (a locked
 * or full database), everything stays in memory (lw_ingest keeps its batch,
 * lw_watch its queue), reading from the broker is paused (the broker holds
 * the backlog; the connection stays up, see runtime/mqtt.h) and
 * retry_timer tries again every RETRY_INTERVAL_S, alerts first; when a
 * commit works again reading resumes. The pause is a state: on_state tells
 * the owner (the daemon topic says {"state":"paused","reason":...}).
 *
 * Never blocking the loop: the store's busy timeout is LWD_BUSY_TIMEOUT_MS
 * (not SQLite's seconds), so a locked database costs one short wait per
 * try and a signal is handled within a second in every state.
 *
 * Stopping (lwd_commit_begin_stop): reading stops, and the commit is tried
 * every STOP_RETRY_S for [store] stop_timeout; what still cannot be
 * committed then is written to the spill file DB.spill (mode 0600,
 * fsync'd; lienwatch/spill.h) and the stop goes on. At the next start the
 * spill is merged before the broker is read: its alerts and account
 * statuses are stored before the alert state is restored
 * (lwd_commit_merge_early), its fixes go through the normal path after
 * it (lwd_commit_merge_late); the file is removed only when all of it is
 * committed. A spill that cannot be merged stops the start (exit 1), the
 * file kept.
 *
 * Reserve: a file DB.reserve of [store] reserve bytes. When a commit fails
 * for lack of space it is released (cut to RESERVE_KEEP bytes, kept for
 * the spill) and the commit tried again at once; it is made again once the
 * file system has twice its size free. Both are logged and reported to
 * on_state.
 *
 * Watchers, embedded here: flush_timer (commits the batch
 * commit_interval_ms after the receipt of its oldest record), retry_timer,
 * stop_timer and reserve_timer.
 */
#ifndef LW_DAEMON_COMMIT_H
#define LW_DAEMON_COMMIT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "lienwatch/ingest.h"
#include "lienwatch/spill.h"
#include "lienwatch/watch.h"
#include "mqtt.h"
#include "runtime/log.h"

/* The store's busy timeout in the daemon, ms. */
#define LWD_BUSY_TIMEOUT_MS 100
/* Longest reason kept for the paused state. */
#define LWD_COMMIT_REASON_MAX 1024
/* Longest path of the spill and reserve files. */
#define LWD_COMMIT_PATH_MAX (LW_CONFIG_STR_MAX + 16)

/* Spill records read at start, waiting for their merge step. */
struct lwd_spill_buf {
    struct lw_spill_rec *recs; /* owned */
    size_t n, cap;             /* used / allocated */
    size_t fixes, heard;       /* by kind, for the log */
    size_t alerts, accounts;
    bool oom;                  /* reading stopped: out of memory */
};

struct lwd_commit {
    struct ev_loop *loop;         /* borrowed */
    struct lw_store *store;       /* borrowed: busy timeout */
    struct lw_ingest *ingest;     /* borrowed: the batch of fixes */
    struct lw_watch *watch;       /* borrowed: queued alerts; NULL before
                                     lwd_commit_attach */
    struct lwd_mqtt *link;        /* borrowed: paused while failing */
    const struct lw_config *cfg;  /* borrowed; re-read after SIGHUP */
    ev_timer flush_timer;         /* commit the pending batch */
    ev_timer retry_timer;         /* retry after a failure */
    ev_timer stop_timer;          /* retries while stopping */
    ev_timer reserve_timer;       /* remake a released reserve */
    bool failing;                 /* reading paused until a commit works */
    enum lw_err fail_class;       /* the class of the failure */
    char reason[LWD_COMMIT_REASON_MAX]; /* why, while failing */
    struct lwrt_limit fail_limit; /* commit failure log limit */
    int64_t batch_first_ms;       /* receive time of the oldest pending fix */
    int64_t max_wait_ms;          /* longest a fix waited for its commit */
    /* stopping */
    bool stopping;                /* lwd_commit_begin_stop was called */
    int64_t stop_deadline_ms;     /* spill after this (wall clock) */
    void (*stopped)(void *ctx);   /* everything is safe: end the loop */
    void *stopped_ctx;            /* its context */
    /* the state's observer */
    void (*on_state)(void *ctx);  /* failing or reserve changed */
    void *state_ctx;              /* its context */
    /* spill and reserve */
    char spill_path[LWD_COMMIT_PATH_MAX];   /* DB.spill */
    char reserve_path[LWD_COMMIT_PATH_MAX]; /* DB.reserve */
    bool spill_pending;           /* a merged spill awaits its last commit */
    struct lwd_spill_buf merge;   /* spill read at start */
    int64_t reserve_bytes;        /* configured size, 0 = none */
    bool reserve_held;            /* the reserve file has its full size */
    uint64_t reserve_releases;    /* times released since start */
    uint64_t spilled;             /* records written to a spill at stop */
};

/* Prepares c (no timer runs yet); every pointer is borrowed. Sets the
 * store's busy timeout to LWD_BUSY_TIMEOUT_MS. */
void lwd_commit_init(struct lwd_commit *c, struct ev_loop *loop,
                     struct lw_store *store, struct lw_ingest *ingest,
                     struct lwd_mqtt *link, const struct lw_config *cfg);

/* The observer of the paused state and the reserve (may be NULL). */
void lwd_commit_set_observer(struct lwd_commit *c, void (*on_state)(void *),
                             void *ctx);

/* The alert queue to store before the fixes (once the watch exists). */
void lwd_commit_attach(struct lwd_commit *c, struct lw_watch *watch);

/*
 * Start, before the watch: makes the reserve file, and reads the spill
 * file left by the previous stop (if any) into c. Returns 0, or -1 (logged)
 * when a spill exists that cannot be read.
 */
int lwd_commit_open(struct lwd_commit *c);

/*
 * Start, with the watch attached and before lw_watch_restore: stores the
 * spilled alerts and account statuses. Returns 0, or -1 (logged; the spill
 * file is kept).
 */
int lwd_commit_merge_early(struct lwd_commit *c);

/*
 * Start, after the restore and before the broker is read: commits the
 * spilled fixes (the alert engine sees them as if just received) and
 * removes the spill file. Returns 0, or -1 (logged; the spill file then
 * holds what is left).
 */
int lwd_commit_merge_late(struct lwd_commit *c);

/*
 * A message was handed to lw_ingest at t_ms (its receive time); flush_now
 * is the ingest's advice (batch full). Commits now, or arms flush_timer,
 * or does nothing while failing (the retry timer commits).
 */
void lwd_commit_received(struct lwd_commit *c, int64_t t_ms, bool flush_now);

/* Alerts were raised outside a batch (a tick, a heard mark, an account
 * change, a registry reload): stores them now unless failing. */
void lwd_commit_alerts(struct lwd_commit *c);

/* Commits everything that waits, in order; on failure starts failing. */
void lwd_commit_flush(struct lwd_commit *c);

/*
 * A stop was asked for: stops reading, and calls stopped(ctx) once
 * everything is committed, or after [store] stop_timeout with what is
 * left written to the spill file. Calling it again (a second signal)
 * spills at once.
 */
void lwd_commit_begin_stop(struct lwd_commit *c, void (*stopped)(void *),
                           void *ctx);

/*
 * At shutdown, after the loop: one last commit; what is still not
 * committed is written to the spill file (logged either way).
 */
void lwd_commit_stop(struct lwd_commit *c);

/* Stops the timers and frees what c holds. */
void lwd_commit_release(struct lwd_commit *c);

#endif
