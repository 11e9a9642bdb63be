/*
 * retention.c - see retention.h.
 */
#include <string.h>

#include <stdio.h>

#include "lienwatch/audit.h"
#include "lienwatch/timeutil.h"
#include "retention.h"
#include "runtime/clock.h"
#include "runtime/log.h"

/* Seconds between retention passes (the first: [store] retention_delay). */
#define PASS_INTERVAL_S 3600.0
/* Fixes one step deletes at most (~10 ms each on the development machine);
 * the loop gets at least as long as a step took, and STEP_GAP_S, before the
 * next. */
#define STEP_ROWS 10000
/* Fixes one thinning step reads at most: each chunk goes through stop
 * detection (lib/places.c), costlier per fix than a delete. */
#define THIN_ROWS 2000
#define STEP_GAP_S 0.02
/* Seconds a step waits while commits fail. */
#define STEP_WAIT_S 1.0
#define MS_PER_DAY 86400000

/* One step of the pass under way. */
static void step_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_retention *r = t->data;
    int64_t n = 0;
    bool finished = false;
    double t0, took;

    (void)revents;
    if (!r->pruning)
        return;
    if (r->commit->failing) { /* the database is in trouble: later */
        ev_timer_set(t, STEP_WAIT_S, 0.);
        ev_timer_start(loop, t);
        return;
    }
    t0 = ev_time();
    if (r->thinning) {
        if (lw_store_thin_step(r->store, lwrt_wall_ms() - r->cfg->thin_after_ms,
                               r->cfg->thin_interval_ms, r->cursor, THIN_ROWS,
                               &n, &finished) != LW_OK) {
            lwrt_log(LOG_ERR,
                     "store: thinning failed after %lld fixes: %s; retention "
                     "goes on",
                     (long long)r->thinned, lw_store_errmsg(r->store));
            finished = true;
        }
        r->thinned += n;
        if (finished) {
            if (r->thinned)
                lwrt_log(LOG_INFO,
                         "store: thinning deleted %lld fixes older than %lld "
                         "days (one per %llds kept, and each stop's ends)",
                         (long long)r->thinned,
                         (long long)(r->cfg->thin_after_ms / MS_PER_DAY),
                         (long long)(r->cfg->thin_interval_ms / 1000));
            r->thinning = false;
            r->cursor[0] = '\0';
            if (r->cfg->retention_ms <= 0) {
                r->pruning = false;
                return;
            }
        }
        took = ev_time() - t0;
        ev_timer_set(t, took > STEP_GAP_S ? took : STEP_GAP_S, 0.);
        ev_timer_start(loop, t);
        return;
    }
    if (lw_store_prune_step(r->store, r->before_ms, r->cursor, STEP_ROWS, &n,
                            &finished) != LW_OK) {
        lwrt_log(LOG_ERR, "store: retention pass failed after %lld fixes: %s",
                 (long long)r->deleted, lw_store_errmsg(r->store));
        r->pruning = false;
        return;
    }
    took = ev_time() - t0;
    r->deleted += n;
    r->steps++;
    if (finished) {
        r->pruning = false;
        if (r->deleted)
            lwrt_log(LOG_INFO,
                     "store: retention deleted %lld fixes older than %lld "
                     "days (%d steps, %.1f s)",
                     (long long)r->deleted,
                     (long long)(r->cfg->retention_ms / MS_PER_DAY), r->steps,
                     ev_time() - r->started);
        else
            lwrt_log(LOG_DEBUG,
                     "store: retention: nothing older than %lld days",
                     (long long)(r->cfg->retention_ms / MS_PER_DAY));
        return;
    }
    ev_timer_set(t, took > STEP_GAP_S ? took : STEP_GAP_S, 0.);
    ev_timer_start(loop, t);
}

/* Starts a pass, unless one is still under way. */
static void pass_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_retention *r = t->data;

    (void)revents;
    if ((r->cfg->retention_ms <= 0 && r->cfg->thin_after_ms <= 0) || r->pruning)
        return;
    r->pruning = true;
    r->thinning = r->cfg->thin_after_ms > 0;
    r->thinned = 0;
    r->cursor[0] = '\0';
    r->started = ev_time();
    r->before_ms = lwrt_wall_ms() - r->cfg->retention_ms;
    r->deleted = 0;
    r->steps = 0;
    ev_timer_set(&r->step_timer, 0., 0.);
    ev_timer_start(loop, &r->step_timer);
}

/* Seconds between looks for a purge that is due. */
#define PURGE_POLL_S 5.0
/* Room for a purge's audit detail. */
#define PURGE_DETAIL_MAX 512

/* Appends the audit record of p's finished purge (in the open
 * transaction). */
static enum lw_err purge_audit(struct lwd_retention *r,
                               const struct lw_purge_step *p, int64_t now_ms)
{
    struct lw_audit_rec a = {0};
    char detail[PURGE_DETAIL_MAX], t[LW_TIME_BUFLEN];

    lw_time_format(p->requested_ms, t, sizeof(t));
    if (strcmp(p->reason, "removed") == 0)
        snprintf(detail, sizeof(detail),
                 "positions purged: %lld history fixes, the last-known fix, "
                 "alert positions and mail; tracker removed at %s",
                 (long long)p->total, t);
    else
        snprintf(detail, sizeof(detail),
                 "positions purged: %lld history fixes, the last-known fix, "
                 "alert positions and mail; account %s %s at %s, "
                 "purge_after_payoff %llds",
                 (long long)p->total, p->account, p->reason, t,
                 (long long)(r->cfg->privacy_purge_after_payoff_ms / 1000));
    a.at_ms = now_ms;
    a.who = "lienwatchd";
    a.via = "daemon";
    a.action = "purge";
    a.device = p->device;
    a.reason = p->reason;
    a.detail = detail;
    return lw_audit_append(r->store, &a, NULL);
}

/* Looks for a purge that is due, or takes the next step of one. */
static void purge_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_retention *r = t->data;
    struct lw_purge_step p;
    int64_t now = lwrt_wall_ms();
    double t0 = ev_time(), took;
    enum lw_err e;

    (void)revents;
    if (r->commit->failing || lw_store_in_txn(r->store)) {
        ev_timer_set(t, STEP_WAIT_S, 0.);
        ev_timer_start(loop, t);
        return;
    }
    e = lw_store_begin(r->store);
    if (e == LW_OK)
        e = lw_store_purge_step(r->store, now,
                                r->cfg->privacy_purge_after_payoff_ms,
                                STEP_ROWS, &p);
    if (e == LW_OK && p.done)
        e = purge_audit(r, &p, now);
    if (e == LW_OK)
        e = lw_store_commit(r->store);
    if (e != LW_OK) {
        lwrt_log(LOG_ERR,
                 "store: purge step failed (tried again in %.0f s): %s",
                 PURGE_POLL_S, lw_store_errmsg(r->store));
        if (lw_store_in_txn(r->store))
            (void)lw_store_rollback(r->store);
        ev_timer_set(t, PURGE_POLL_S, 0.);
        ev_timer_start(loop, t);
        return;
    }
    took = ev_time() - t0;
    if (!p.device[0]) { /* nothing due */
        ev_timer_set(t, PURGE_POLL_S, 0.);
        ev_timer_start(loop, t);
        return;
    }
    if (p.done) {
        lwrt_log(LOG_INFO,
                 "store: purged the positions of %s (%s%s%s): %lld history "
                 "fixes and its last-known fix; registry and audit kept",
                 p.device, p.reason, p.account[0] ? ", account " : "",
                 p.account, (long long)p.total);
        if (r->purged)
            r->purged(r->purged_ctx, p.device);
    }
    ev_timer_set(t, took > STEP_GAP_S ? took : STEP_GAP_S, 0.);
    ev_timer_start(loop, t);
}

void lwd_retention_init(struct lwd_retention *r, struct ev_loop *loop,
                        struct lw_store *store, const struct lw_config *cfg,
                        const struct lwd_commit *commit)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->store = store;
    r->cfg = cfg;
    r->commit = commit;
    ev_timer_init(&r->timer, pass_cb, (double)cfg->retention_delay_ms / 1000.0,
                  PASS_INTERVAL_S);
    ev_init(&r->step_timer, step_cb);
    ev_timer_init(&r->purge_timer, purge_cb, 0., 0.);
    r->timer.data = r->step_timer.data = r->purge_timer.data = r;
    ev_timer_start(loop, &r->timer);
    ev_timer_start(loop, &r->purge_timer);
}

void lwd_retention_release(struct lwd_retention *r)
{
    if (!r->loop)
        return;
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_stop(r->loop, &r->step_timer);
    ev_timer_stop(r->loop, &r->purge_timer);
}
