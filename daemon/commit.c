/*
 * commit.c - see commit.h.
 */
#include <string.h>

#include "commit.h"
#include "runtime/clock.h"

/* Seconds between retries of a failed commit. */
#define RETRY_INTERVAL_S 1.0
/* Commit failure log lines: at most one per this many ms. */
#define FAIL_LOG_INTERVAL_MS 10000
/* Length of an error detail. */
#define ERR_MAX 300

/* Commits the batch of fixes (its alerts reach the watch's queue). */
static enum lw_err commit_fixes(struct lwd_commit *c, char *err, size_t errlen)
{
    int64_t oldest = c->batch_first_ms;
    enum lw_err e;

    if (!lw_ingest_dirty(c->ingest))
        return LW_OK;
    e = lw_ingest_flush(c->ingest, err, errlen);
    if (e != LW_OK)
        return e;
    if (oldest && lwrt_wall_ms() - oldest > c->max_wait_ms)
        c->max_wait_ms = lwrt_wall_ms() - oldest;
    c->batch_first_ms = 0;
    return LW_OK;
}

/* Everything that waits, in the order it happened. */
static enum lw_err commit_all(struct lwd_commit *c, char *err, size_t errlen)
{
    enum lw_err e;

    /* alerts raised before the fixes now waiting go first */
    e = c->watch ? lw_watch_flush(c->watch, err, errlen) : LW_OK;
    if (e == LW_OK)
        e = commit_fixes(c, err, errlen);
    /* then what that batch raised */
    if (e == LW_OK && c->watch)
        e = lw_watch_flush(c->watch, err, errlen);
    return e;
}

/* A commit failed: keep everything, stop reading, retry every second. */
static void failed(struct lwd_commit *c, const char *err)
{
    struct lw_watch_stats st;
    struct lwrt_limit_note note;

    lw_watch_stats(c->watch, &st);
    if (lwrt_limit_allow(&c->fail_limit, lwrt_wall_ms(), FAIL_LOG_INTERVAL_MS,
                         &note))
        lwrt_log(LOG_ERR,
                 "store: %s; %zu fixes, %zu alerts and %zu account statuses "
                 "kept in memory, reading paused until a commit succeeds "
                 "(%llu similar errors suppressed)",
                 err, lw_ingest_pending(c->ingest), st.pending_alerts,
                 st.pending_accounts, (unsigned long long)note.suppressed);
    if (!c->failing) {
        c->failing = true;
        lwd_mqtt_pause(c->link, true);
        ev_timer_start(c->loop, &c->retry_timer);
    }
}

static void succeeded(struct lwd_commit *c)
{
    if (!c->failing)
        return;
    c->failing = false;
    ev_timer_stop(c->loop, &c->retry_timer);
    lwd_mqtt_pause(c->link, false);
    lwrt_log(LOG_INFO, "store: commits work again; reading resumed");
}

void lwd_commit_flush(struct lwd_commit *c)
{
    char err[ERR_MAX];

    ev_timer_stop(c->loop, &c->flush_timer);
    if (commit_all(c, err, sizeof(err)) != LW_OK) {
        failed(c, err);
        return;
    }
    succeeded(c);
}

void lwd_commit_alerts(struct lwd_commit *c)
{
    char err[ERR_MAX];

    if (c->failing || !lw_watch_pending(c->watch))
        return;
    if (lw_watch_flush(c->watch, err, sizeof(err)) != LW_OK)
        failed(c, err);
}

void lwd_commit_received(struct lwd_commit *c, int64_t t_ms, bool flush_now)
{
    if (!c->batch_first_ms && lw_ingest_pending(c->ingest))
        c->batch_first_ms = t_ms;
    if (c->failing)
        return; /* the retry timer commits */
    if (flush_now || c->cfg->commit_interval_ms == 0) {
        lwd_commit_flush(c);
    } else if (!ev_is_active(&c->flush_timer) && lw_ingest_dirty(c->ingest)) {
        ev_timer_set(&c->flush_timer,
                     (double)c->cfg->commit_interval_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->flush_timer);
    }
}

static void flush_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    lwd_commit_flush(t->data);
}

static void retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_commit *c = t->data;

    (void)loop;
    (void)revents;
    lwd_commit_flush(c);
    if (c->failing)
        ev_timer_again(c->loop, &c->retry_timer);
}

void lwd_commit_init(struct lwd_commit *c, struct ev_loop *loop,
                     struct lw_ingest *ingest, struct lwd_mqtt *link,
                     const struct lw_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->ingest = ingest;
    c->link = link;
    c->cfg = cfg;
    ev_init(&c->flush_timer, flush_cb);
    ev_timer_init(&c->retry_timer, retry_cb, RETRY_INTERVAL_S,
                  RETRY_INTERVAL_S);
    c->flush_timer.data = c->retry_timer.data = c;
}

void lwd_commit_attach(struct lwd_commit *c, struct lw_watch *watch)
{
    c->watch = watch;
}

void lwd_commit_stop(struct lwd_commit *c, int tries)
{
    struct lw_watch_stats st;
    size_t fixes;

    if (!c->ingest)
        return; /* never started */
    for (int i = 0; i < tries; i++) {
        c->failing = false;
        lwd_commit_flush(c);
        if (!c->failing)
            break;
        if (i + 1 < tries)
            ev_sleep(RETRY_INTERVAL_S);
    }
    fixes = lw_ingest_pending(c->ingest);
    lw_watch_stats(c->watch, &st);
    if (fixes)
        lwrt_log(LOG_ERR,
                 "store: %zu received fixes could not be committed at "
                 "shutdown and are lost",
                 fixes);
    if (st.pending_alerts || st.pending_accounts)
        lwrt_log(LOG_ERR,
                 "alert: %zu raised alerts and %zu account statuses could "
                 "not be stored at shutdown and are lost",
                 st.pending_alerts, st.pending_accounts);
}

void lwd_commit_release(struct lwd_commit *c)
{
    if (!c->loop)
        return;
    ev_timer_stop(c->loop, &c->flush_timer);
    ev_timer_stop(c->loop, &c->retry_timer);
}
