/*
 * commit.h - the daemon's one path into the database for what arrives:
 * when to commit the ingest batch, in what order, and what to do when a
 * commit fails.
 *
 * Order: alerts (and account statuses) that wait in the watch are stored
 * before the fixes received after them, then the batch of fixes, then the
 * alerts that batch raised (the engine sees fixes only after their commit).
 *
 * Back-pressure instead of loss: when anything cannot be stored (a locked
 * or full database), everything stays in memory (lw_ingest keeps its batch,
 * lw_watch its queue), reading from the broker is paused (the broker holds
 * the backlog) and retry_timer tries again every second, alerts first;
 * when a commit works again reading resumes.
 *
 * Watchers, embedded here: flush_timer (commits the batch
 * commit_interval_ms after its first record arrived) and retry_timer.
 */
#ifndef LW_DAEMON_COMMIT_H
#define LW_DAEMON_COMMIT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "lienwatch/ingest.h"
#include "lienwatch/watch.h"
#include "mqtt.h"
#include "runtime/log.h"

struct lwd_commit {
    struct ev_loop *loop;         /* borrowed */
    struct lw_ingest *ingest;     /* borrowed: the batch of fixes */
    struct lw_watch *watch;       /* borrowed: queued alerts; NULL before
                                     lwd_commit_attach */
    struct lwd_mqtt *link;        /* borrowed: paused while failing */
    const struct lw_config *cfg;  /* borrowed; re-read after SIGHUP */
    ev_timer flush_timer;         /* commit the pending batch */
    ev_timer retry_timer;         /* retry after a failure */
    bool failing;                 /* reading paused until a commit works */
    struct lwrt_limit fail_limit; /* commit failure log limit */
    int64_t batch_first_ms;       /* receive time of the oldest pending fix */
    int64_t max_wait_ms;          /* longest a fix waited for its commit */
};

/* Prepares c (no timer runs yet); every pointer is borrowed. */
void lwd_commit_init(struct lwd_commit *c, struct ev_loop *loop,
                     struct lw_ingest *ingest, struct lwd_mqtt *link,
                     const struct lw_config *cfg);

/* The alert queue to store before the fixes (once the watch exists). */
void lwd_commit_attach(struct lwd_commit *c, struct lw_watch *watch);

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
 * At shutdown: commits what waits, trying tries times a second apart, and
 * logs what could not be committed and is lost.
 */
void lwd_commit_stop(struct lwd_commit *c, int tries);

/* Stops the timers. */
void lwd_commit_release(struct lwd_commit *c);

#endif
