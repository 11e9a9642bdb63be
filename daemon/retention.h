/*
 * retention.h - thinning history older than store.thin_after
 * (lw_store_thin_step), then deleting history older than store.retention
 * (lw_store_prune_step), [store] retention_delay after start and then
 * hourly, in bounded steps so that ingest and alerts go on between them.
 *
 * Watchers, embedded here: timer (starts a pass) and step_timer (the next
 * step of the pass under way). A step waits while commits fail.
 *
 * The end of a loan, the same way: purge_timer looks every few seconds for
 * devices whose purge is due (lw_store_purge_step: paid off or closed at
 * least [privacy] purge_after_payoff ago, or removed with --purge) and
 * deletes their positions in bounded steps, each purge finished with its
 * audit record ("purge", by lienwatchd) in the same transaction.
 */
#ifndef LW_DAEMON_RETENTION_H
#define LW_DAEMON_RETENTION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "commit.h"
#include "lienwatch/config.h"
#include "lienwatch/fix.h"
#include "lienwatch/store.h"

struct lwd_retention {
    struct ev_loop *loop;            /* borrowed; NULL before init */
    struct lw_store *store;          /* borrowed */
    const struct lw_config *cfg;     /* borrowed; re-read after SIGHUP */
    const struct lwd_commit *commit; /* borrowed: steps wait while failing */
    ev_timer timer;                  /* a pass: retention_delay, then hourly */
    ev_timer step_timer;             /* the next step of a pass */
    bool pruning;                    /* a pass is under way */
    bool thinning;                   /* ... in its thinning phase */
    int64_t thinned;                 /* fixes thinning deleted so far */
    char cursor[LW_DEVICE_MAX + 1];  /* where its next step goes on */
    int64_t before_ms;               /* its cut: fixes older than this go */
    int64_t deleted;                 /* fixes it deleted so far */
    int steps;                       /* steps it took so far */
    double started;                  /* when it started (ev_time) */
    /* the end of a loan: purges ([privacy] purge_after_payoff) */
    ev_timer purge_timer; /* the next look for, or step of, a purge */
    /* told when a device's positions are gone (the state topic forgets
     * its fix); NULL for none */
    void (*purged)(void *ctx, const char *device);
    void *purged_ctx; /* for purged */
};

/* Starts the hourly passes. */
void lwd_retention_init(struct lwd_retention *r, struct ev_loop *loop,
                        struct lw_store *store, const struct lw_config *cfg,
                        const struct lwd_commit *commit);

/* Stops the timers (a pass under way is abandoned; the next start goes
 * through it again). */
void lwd_retention_release(struct lwd_retention *r);

#endif
