/*
 * commit.c - see commit.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "commit.h"
#include "runtime/clock.h"

/* Seconds between retries of a failed commit. */
#define RETRY_INTERVAL_S 0.5
/* Seconds between commit tries while stopping. */
#define STOP_RETRY_S 0.2
/* Seconds between checks whether a released reserve can be made again. */
#define RESERVE_CHECK_S 10.0
/* Most bytes of a released reserve kept for the spill file at a stop. */
#define RESERVE_KEEP (1024 * 1024)
/* Commit failure log lines: at most one per this many ms. */
#define FAIL_LOG_INTERVAL_MS 10000
/* Length of an error detail. */
#define ERR_MAX 1024

static void notify(struct lwd_commit *c)
{
    if (c->on_state)
        c->on_state(c->state_ctx);
}

/* ---- reserve ------------------------------------------------------------ */

/* Makes the reserve file its full size. true when it has it. */
static bool make_reserve(struct lwd_commit *c, char *err, size_t errlen)
{
    int fd, e;

    fd = open(c->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", c->reserve_path,
                 strerror(errno));
        return false;
    }
    e = posix_fallocate(fd, 0, (off_t)c->reserve_bytes);
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    close(fd);
    if (e != 0) {
        snprintf(err, errlen, "cannot give %s %lld bytes: %s",
                 c->reserve_path, (long long)c->reserve_bytes, strerror(e));
        /* what was allocated is no reserve: give it back to the database */
        (void)truncate(c->reserve_path, 0);
        return false;
    }
    return true;
}

/* What a released reserve keeps for the spill file: an eighth of it, at
 * most RESERVE_KEEP. */
static int64_t reserve_keep(const struct lwd_commit *c)
{
    int64_t k = c->reserve_bytes / 8;

    return k < RESERVE_KEEP ? k : RESERVE_KEEP;
}

/* The database ran out of space: the reserve gives it room, keeping
 * reserve_keep bytes for a spill file. true when something was freed. */
static bool release_reserve(struct lwd_commit *c)
{
    if (!c->reserve_held)
        return false;
    if (truncate(c->reserve_path, reserve_keep(c)) != 0 &&
        unlink(c->reserve_path) != 0) {
        lwrt_log(LOG_ERR, "store: cannot release the reserve %s: %s",
                 c->reserve_path, strerror(errno));
        return false;
    }
    c->reserve_held = false;
    c->reserve_releases++;
    lwrt_log(LOG_WARNING,
             "store: the disk of the database is full: reserve %s released "
             "(%lld bytes) so that what is in memory can be committed; free "
             "space on it, the reserve is made again once %lld bytes are free",
             c->reserve_path, (long long)(c->reserve_bytes - reserve_keep(c)),
             (long long)(2 * c->reserve_bytes));
    ev_timer_again(c->loop, &c->reserve_timer);
    notify(c);
    return true;
}

static void reserve_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_commit *c = t->data;
    struct statvfs sv;
    char dir[LWD_COMMIT_PATH_MAX], err[ERR_MAX];
    char *slash;

    (void)loop;
    (void)revents;
    if (c->reserve_held || c->reserve_bytes == 0) {
        ev_timer_stop(c->loop, &c->reserve_timer);
        return;
    }
    if (c->failing || c->stopping)
        return;
    snprintf(dir, sizeof(dir), "%s", c->reserve_path);
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (statvfs(dir, &sv) != 0 ||
        (double)sv.f_bavail * (double)sv.f_frsize <
            2.0 * (double)c->reserve_bytes)
        return;
    if (!make_reserve(c, err, sizeof(err))) {
        lwrt_log(LOG_WARNING, "store: reserve: %s", err);
        return;
    }
    c->reserve_held = true;
    ev_timer_stop(c->loop, &c->reserve_timer);
    lwrt_log(LOG_NOTICE, "store: space is back: reserve %s made again (%lld "
                         "bytes)",
             c->reserve_path, (long long)c->reserve_bytes);
    notify(c);
}

/* ---- committing ----------------------------------------------------------- */

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

/* commit_all, and once more at once when the reserve could make room. */
static enum lw_err commit_with_reserve(struct lwd_commit *c, char *err,
                                       size_t errlen)
{
    enum lw_err e = commit_all(c, err, errlen);

    if (e == LW_ERR_FULL && release_reserve(c))
        e = commit_all(c, err, errlen);
    return e;
}

static bool nothing_waits(const struct lwd_commit *c)
{
    return !lw_ingest_dirty(c->ingest) &&
           (!c->watch || !lw_watch_pending(c->watch));
}

/* A commit failed: keep everything, stop reading, retry. */
static void failed(struct lwd_commit *c, enum lw_err e, const char *err)
{
    struct lw_watch_stats st = {0};
    struct lwrt_limit_note note;
    bool changed = !c->failing || c->fail_class != e;

    if (c->watch)
        lw_watch_stats(c->watch, &st);
    if (lwrt_limit_allow(&c->fail_limit, lwrt_wall_ms(), FAIL_LOG_INTERVAL_MS,
                         &note))
        lwrt_log(LOG_ERR,
                 "store: %s; %zu fixes, %zu alerts and %zu account statuses "
                 "kept in memory, reading paused until a commit succeeds "
                 "(%llu similar errors suppressed)",
                 err, lw_ingest_pending(c->ingest), st.pending_alerts,
                 st.pending_accounts, (unsigned long long)note.suppressed);
    c->fail_class = e;
    snprintf(c->reason, sizeof(c->reason), "%s", err);
    if (!c->failing) {
        c->failing = true;
        lwd_mqtt_pause(c->link, true);
        if (!c->stopping)
            ev_timer_start(c->loop, &c->retry_timer);
    }
    if (changed)
        notify(c);
}

static void succeeded(struct lwd_commit *c)
{
    if (c->spill_pending && nothing_waits(c)) {
        c->spill_pending = false;
        if (unlink(c->spill_path) == 0)
            lwrt_log(LOG_NOTICE, "store: the spill file %s is merged and "
                                 "removed",
                     c->spill_path);
    }
    if (!c->failing)
        return;
    c->failing = false;
    c->reason[0] = '\0';
    ev_timer_stop(c->loop, &c->retry_timer);
    if (!c->stopping) {
        lwd_mqtt_pause(c->link, false);
        lwrt_log(LOG_INFO, "store: commits work again; reading resumed");
    } else {
        lwrt_log(LOG_INFO, "store: commits work again");
    }
    notify(c);
}

void lwd_commit_flush(struct lwd_commit *c)
{
    char err[ERR_MAX];
    enum lw_err e;

    ev_timer_stop(c->loop, &c->flush_timer);
    e = commit_with_reserve(c, err, sizeof(err));
    if (e != LW_OK) {
        failed(c, e, err);
        return;
    }
    succeeded(c);
}

void lwd_commit_alerts(struct lwd_commit *c)
{
    char err[ERR_MAX];
    enum lw_err e;

    if (c->failing || !c->watch || !lw_watch_pending(c->watch))
        return;
    e = lw_watch_flush(c->watch, err, sizeof(err));
    if (e == LW_ERR_FULL && release_reserve(c))
        e = lw_watch_flush(c->watch, err, sizeof(err));
    if (e != LW_OK)
        failed(c, e, err);
}

void lwd_commit_received(struct lwd_commit *c, int64_t t_ms, bool flush_now)
{
    int64_t due_ms;

    if (!c->batch_first_ms && lw_ingest_pending(c->ingest))
        c->batch_first_ms = t_ms;
    if (c->failing || c->stopping)
        return; /* the retry or stop timer commits */
    /* the oldest waiting record reached the interval: commit now, even in
     * the middle of a burst of reads (the timer would fire only after it) */
    if (flush_now || c->cfg->commit_interval_ms == 0 ||
        (c->batch_first_ms &&
         t_ms - c->batch_first_ms >= c->cfg->commit_interval_ms)) {
        lwd_commit_flush(c);
        return;
    }
    if (ev_is_active(&c->flush_timer) || !lw_ingest_dirty(c->ingest))
        return;
    /* due commit_interval_ms after the oldest waiting record's receipt,
     * not after this call (the loop may be late) */
    due_ms = (c->batch_first_ms ? c->batch_first_ms : t_ms) +
             c->cfg->commit_interval_ms;
    due_ms -= lwrt_wall_ms();
    if (due_ms <= 0) {
        lwd_commit_flush(c);
        return;
    }
    ev_timer_set(&c->flush_timer, (double)due_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->flush_timer);
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
}

/* ---- stopping ------------------------------------------------------------ */

static void stop_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_commit *c = t->data;

    (void)loop;
    (void)revents;
    if (!nothing_waits(c))
        lwd_commit_flush(c);
    if (nothing_waits(c)) {
        lwrt_log(LOG_INFO, "store: everything received is committed");
    } else if (lwrt_wall_ms() >= c->stop_deadline_ms) {
        lwrt_log(LOG_WARNING,
                 "store: still failing after stop_timeout (%lld ms): %s",
                 (long long)c->cfg->stop_timeout_ms, c->reason);
    } else {
        return;
    }
    ev_timer_stop(c->loop, &c->stop_timer);
    if (c->stopped)
        c->stopped(c->stopped_ctx);
}

void lwd_commit_begin_stop(struct lwd_commit *c, void (*stopped)(void *),
                           void *ctx)
{
    struct lw_watch_stats st = {0};

    if (c->stopping) {
        lwrt_log(LOG_WARNING, "store: stop asked again: not waiting for the "
                              "database any longer");
        ev_timer_stop(c->loop, &c->stop_timer);
        if (c->stopped)
            c->stopped(c->stopped_ctx);
        return;
    }
    c->stopping = true;
    c->stopped = stopped;
    c->stopped_ctx = ctx;
    c->stop_deadline_ms = lwrt_wall_ms() + c->cfg->stop_timeout_ms;
    lwd_mqtt_pause(c->link, true);
    ev_timer_stop(c->loop, &c->retry_timer);
    ev_timer_stop(c->loop, &c->flush_timer);
    if (!nothing_waits(c)) {
        if (c->watch)
            lw_watch_stats(c->watch, &st);
        lwrt_log(LOG_INFO,
                 "store: committing %zu fixes, %zu alerts and %zu account "
                 "statuses before stopping (for up to %lld ms, then to the "
                 "spill file)",
                 lw_ingest_pending(c->ingest), st.pending_alerts,
                 st.pending_accounts, (long long)c->cfg->stop_timeout_ms);
    }
    ev_timer_set(&c->stop_timer, 0., STOP_RETRY_S);
    ev_timer_start(c->loop, &c->stop_timer);
}

/* Spill writing: the records of the watch's queue, then the batch. */
struct spill_ctx {
    struct lw_spill *sp; /* being written */
    enum lw_err e;       /* first failure */
    size_t fixes, heard, alerts, accounts; /* written, by kind */
};

static void spill_queued(void *ctx, const struct lw_alert *a,
                         const struct lw_account *acc)
{
    struct spill_ctx *x = ctx;
    struct lw_spill_rec r;

    memset(&r, 0, sizeof(r));
    if (a) {
        r.kind = LW_SPILL_ALERT;
        r.alert = *a;
        x->alerts++;
    } else {
        r.kind = LW_SPILL_ACCOUNT;
        lw_copy(r.account.account, sizeof(r.account.account), acc->account);
        lw_copy(r.account.status, sizeof(r.account.status), acc->status);
        r.account.days_past_due = acc->days_past_due;
        r.updated_ms = acc->updated_ms;
        x->accounts++;
    }
    if (x->e == LW_OK)
        x->e = lw_spill_add(x->sp, &r);
}

static void spill_pending(void *ctx, const struct lw_fix *f, bool heard)
{
    struct spill_ctx *x = ctx;
    struct lw_spill_rec r;

    memset(&r, 0, sizeof(r));
    r.kind = heard ? LW_SPILL_HEARD : LW_SPILL_FIX;
    r.fix = *f;
    if (heard)
        x->heard++;
    else
        x->fixes++;
    if (x->e == LW_OK)
        x->e = lw_spill_add(x->sp, &r);
}

/* Writes everything still waiting to the spill file. 0 or -1 (logged). */
static int write_spill(struct lwd_commit *c, bool queued, bool batch)
{
    struct spill_ctx x = {0};
    struct lw_watch_stats st = {0};
    char err[ERR_MAX] = "";
    enum lw_err e;

    if (c->watch)
        lw_watch_stats(c->watch, &st);

    /* a released reserve kept its last part for this */
    if (!c->reserve_held && c->reserve_bytes)
        (void)unlink(c->reserve_path);
    e = lw_spill_create(&x.sp, c->spill_path, err, sizeof(err));
    if (e == LW_OK) {
        if (queued && c->watch)
            lw_watch_each_queued(c->watch, spill_queued, &x);
        if (batch)
            lw_ingest_each_pending(c->ingest, spill_pending, &x);
        if (x.e != LW_OK) {
            lw_spill_abort(x.sp);
            e = x.e;
            snprintf(err, sizeof(err), "cannot write %s.tmp: %s",
                     c->spill_path, lw_strerror(e));
        } else {
            e = lw_spill_commit(x.sp, err, sizeof(err));
        }
    }
    if (e != LW_OK) {
        lwrt_log(LOG_CRIT,
                 "store: %s; %zu received fixes, %zu alerts and %zu account "
                 "statuses are lost",
                 err, batch ? lw_ingest_pending(c->ingest) : 0,
                 queued ? st.pending_alerts : 0,
                 queued ? st.pending_accounts : 0);
        return -1;
    }
    c->spilled += x.fixes + x.heard + x.alerts + x.accounts;
    lwrt_log(LOG_WARNING,
             "store: %zu fixes, %zu heard marks, %zu alerts and %zu account "
             "statuses could not be committed; written to %s (fsync'd), "
             "merged at the next start",
             x.fixes, x.heard, x.alerts, x.accounts, c->spill_path);
    return 0;
}

void lwd_commit_stop(struct lwd_commit *c)
{
    char err[ERR_MAX];

    if (!c->ingest)
        return; /* never started */
    ev_timer_stop(c->loop, &c->stop_timer);
    if (nothing_waits(c)) {
        if (c->spill_pending)
            succeeded(c);
        return;
    }
    if (commit_with_reserve(c, err, sizeof(err)) == LW_OK &&
        nothing_waits(c)) {
        succeeded(c);
        return;
    }
    (void)write_spill(c, true, true);
}

/* ---- start: reserve and spill ------------------------------------------- */

static int keep_rec(void *ctx, const struct lw_spill_rec *r)
{
    struct lwd_spill_buf *b = ctx;

    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        struct lw_spill_rec *n = realloc(b->recs, nc * sizeof(*n));
        if (!n) {
            b->oom = true;
            return 1;
        }
        b->recs = n;
        b->cap = nc;
    }
    b->recs[b->n++] = *r;
    b->fixes += r->kind == LW_SPILL_FIX;
    b->heard += r->kind == LW_SPILL_HEARD;
    b->alerts += r->kind == LW_SPILL_ALERT;
    b->accounts += r->kind == LW_SPILL_ACCOUNT;
    return 0;
}

int lwd_commit_open(struct lwd_commit *c)
{
    char err[ERR_MAX], tmp[LWD_COMMIT_PATH_MAX + 8], bad[LWD_COMMIT_PATH_MAX + 8];
    struct stat sb;
    enum lw_err e;

    c->reserve_bytes = c->cfg->reserve_bytes;
    if (c->reserve_bytes > 0) {
        if (stat(c->reserve_path, &sb) == 0 && sb.st_size >= c->reserve_bytes) {
            c->reserve_held = true;
        } else if (make_reserve(c, err, sizeof(err))) {
            c->reserve_held = true;
            lwrt_log(LOG_INFO, "store: reserve %s made (%lld bytes)",
                     c->reserve_path, (long long)c->reserve_bytes);
        } else {
            lwrt_log(LOG_WARNING,
                     "store: reserve: %s; tried again every %.0f s",
                     err, RESERVE_CHECK_S);
            ev_timer_again(c->loop, &c->reserve_timer);
        }
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", c->spill_path);
    if (unlink(tmp) == 0)
        lwrt_log(LOG_ERR,
                 "store: removed %s, a spill file whose writing did not "
                 "finish (the process was killed while stopping)",
                 tmp);
    e = lw_spill_read(c->spill_path, keep_rec, &c->merge, err, sizeof(err));
    if (e == LW_ERR_NOTFOUND)
        return 0;
    if (e == LW_OK && c->merge.oom) {
        lwrt_log(LOG_ERR, "store: out of memory reading %s; not starting",
                 c->spill_path);
        return -1;
    }
    if (e != LW_OK) {
        snprintf(bad, sizeof(bad), "%s.bad", c->spill_path);
        lwrt_log(LOG_CRIT,
                 "store: %s; the file is moved to %s and NOT merged: look "
                 "at it (one JSON record a line)",
                 err, bad);
        if (rename(c->spill_path, bad) != 0) {
            lwrt_log(LOG_ERR, "store: cannot move %s: %s", c->spill_path,
                     strerror(errno));
            return -1;
        }
        free(c->merge.recs);
        memset(&c->merge, 0, sizeof(c->merge));
        return 0;
    }
    c->spill_pending = true;
    lwrt_log(LOG_NOTICE,
             "store: merging the spill file %s (%zu fixes, %zu heard marks, "
             "%zu alerts, %zu account statuses) before reading from the broker",
             c->spill_path, c->merge.fixes, c->merge.heard, c->merge.alerts,
             c->merge.accounts);
    return 0;
}

/* Commits what waits with the store's long busy timeout (start: no loop
 * runs yet, and a signal still ends the process with nothing acked). */
static enum lw_err commit_blocking(struct lwd_commit *c, char *err,
                                   size_t errlen)
{
    enum lw_err e;

    (void)lw_store_set_busy_timeout(c->store, LW_STORE_BUSY_TIMEOUT_MS);
    e = commit_with_reserve(c, err, errlen);
    (void)lw_store_set_busy_timeout(c->store, LWD_BUSY_TIMEOUT_MS);
    return e;
}

int lwd_commit_merge_early(struct lwd_commit *c)
{
    struct lwd_spill_buf *b = &c->merge;
    char err[ERR_MAX];
    enum lw_err e = LW_OK;

    if (!c->spill_pending)
        return 0;
    for (size_t i = 0; i < b->n && e == LW_OK; i++) {
        const struct lw_spill_rec *r = &b->recs[i];

        if (r->kind == LW_SPILL_ALERT)
            e = lw_watch_requeue_alert(c->watch, &r->alert);
        else if (r->kind == LW_SPILL_ACCOUNT)
            e = lw_watch_account(c->watch, &r->account, r->updated_ms, NULL);
    }
    if (e == LW_OK)
        e = commit_blocking(c, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "%s", lw_strerror(e));
    if (e != LW_OK) {
        lwrt_log(LOG_ERR,
                 "store: cannot store the spilled alerts and account "
                 "statuses: %s; %s kept, not starting",
                 err, c->spill_path);
        return -1;
    }
    if (b->alerts + b->accounts)
        lwrt_log(LOG_INFO,
                 "store: spill: %zu alerts and %zu account statuses stored",
                 b->alerts, b->accounts);
    /* the fixes wait in the batch for the restore; the spill keeps them
     * alone, so that a failure from here on stores no alert twice */
    for (size_t i = 0; i < b->n && e == LW_OK; i++) {
        const struct lw_spill_rec *r = &b->recs[i];

        if (r->kind == LW_SPILL_FIX || r->kind == LW_SPILL_HEARD)
            e = lw_ingest_requeue(c->ingest, &r->fix,
                                  r->kind == LW_SPILL_HEARD);
    }
    if (e != LW_OK) {
        lwrt_log(LOG_ERR, "store: spill: %s; not starting", lw_strerror(e));
        return -1;
    }
    if (b->alerts + b->accounts && (b->fixes + b->heard) &&
        write_spill(c, false, true) != 0)
        return -1;
    free(b->recs);
    memset(b, 0, sizeof(*b));
    return 0;
}

int lwd_commit_merge_late(struct lwd_commit *c)
{
    char err[ERR_MAX];
    enum lw_err e;

    if (!c->spill_pending)
        return 0;
    e = commit_blocking(c, err, sizeof(err));
    if (e != LW_OK) {
        lwrt_log(LOG_ERR, "store: cannot commit the spilled fixes: %s; not "
                          "starting",
                 err);
        return -1; /* the spill holds the fixes still */
    }
    succeeded(c);
    return 0;
}

/* ---- set-up ---------------------------------------------------------------- */

void lwd_commit_init(struct lwd_commit *c, struct ev_loop *loop,
                     struct lw_store *store, struct lw_ingest *ingest,
                     struct lwd_mqtt *link, const struct lw_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->store = store;
    c->ingest = ingest;
    c->link = link;
    c->cfg = cfg;
    snprintf(c->spill_path, sizeof(c->spill_path), "%s.spill", cfg->db_path);
    snprintf(c->reserve_path, sizeof(c->reserve_path), "%s.reserve",
             cfg->db_path);
    ev_init(&c->flush_timer, flush_cb);
    ev_timer_init(&c->retry_timer, retry_cb, RETRY_INTERVAL_S,
                  RETRY_INTERVAL_S);
    ev_init(&c->stop_timer, stop_cb);
    ev_init(&c->reserve_timer, reserve_cb);
    c->reserve_timer.repeat = RESERVE_CHECK_S;
    c->flush_timer.data = c->retry_timer.data = c;
    c->stop_timer.data = c->reserve_timer.data = c;
    (void)lw_store_set_busy_timeout(store, LWD_BUSY_TIMEOUT_MS);
}

void lwd_commit_set_observer(struct lwd_commit *c, void (*on_state)(void *),
                             void *ctx)
{
    c->on_state = on_state;
    c->state_ctx = ctx;
}

void lwd_commit_attach(struct lwd_commit *c, struct lw_watch *watch)
{
    c->watch = watch;
}

void lwd_commit_release(struct lwd_commit *c)
{
    if (!c->loop)
        return;
    ev_timer_stop(c->loop, &c->flush_timer);
    ev_timer_stop(c->loop, &c->retry_timer);
    ev_timer_stop(c->loop, &c->stop_timer);
    ev_timer_stop(c->loop, &c->reserve_timer);
    free(c->merge.recs);
    memset(&c->merge, 0, sizeof(c->merge));
}
