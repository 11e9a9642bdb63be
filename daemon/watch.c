/*
 * watch.c - see watch.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/registry.h"
#include "runtime/clock.h"
#include "watch.h"

/* Seconds between registry change checks (CLI changes reach us in < 2 s). */
#define POLL_INTERVAL_S 1.0
/* Seconds between sweeps of devices whose state waits for its interval. */
#define STATE_SWEEP_S 0.25
/*
 * Most state messages one sweep publishes (20,000/s at 4 sweeps/s): a burst
 * of new devices (a restart, a fleet coming online) is spread over time
 * instead of blocking the loop; the rest stay dirty for the next sweep.
 */
#define STATE_SWEEP_MAX 5000
/*
 * State messages are retained with QoS 0: the broker keeps the latest for
 * dashboards, a lost one is superseded by the next, and QoS 1 would put
 * every one of them in libmosquitto's in-flight list, which it walks on
 * each PUBACK (quadratic at 100,000 devices). Alerts stay QoS 1.
 */
#define STATE_QOS 0
/* Longest topic we build. */
#define TOPIC_MAX (LW_CONFIG_STR_MAX + LW_DEVICE_MAX + 16)
/* Seconds between two slices of places checks (the loop serves other
 * events in between), and fixes read per slice at most (about 10 ms). */
#define PLACES_STEP_S 0.005
#define PLACES_STEP_FIXES LW_WATCH_PLACES_STEP_FIXES
/* Registry read failures: at most one log line per this many ms. */
#define POLL_LOG_INTERVAL_MS 60000
/* Length of an error detail. */
#define ERR_MAX 300

/* ---- state topic ------------------------------------------------------- */

/* lw_watch_state_cb: one retained state out. */
static int publish_state(void *ctx, const char *device, const char *json,
                         size_t len)
{
    struct lwd_watch *w = ctx;
    char topic[TOPIC_MAX];

    if (!w->link->connected)
        return 1; /* retained: published after reconnection */
    snprintf(topic, sizeof(topic), "%s/state/%s", w->cfg->topic_prefix, device);
    return lwd_mqtt_publish(w->link, topic, json, len, STATE_QOS, true, NULL) ==
                   0
               ? 0
               : 1;
}

static void state_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_watch *w = t->data;

    (void)loop;
    (void)revents;
    if (w->link->connected)
        lw_watch_state_sweep(w->core, lwrt_wall_ms(), STATE_SWEEP_MAX,
                             publish_state, w);
}

/* ---- alerts out ---------------------------------------------------------- */

static void publish_alert(struct lwd_watch *w, const struct lw_alert_row *r)
{
    char topic[TOPIC_MAX];
    char *s;
    int mid = 0;

    if (!w->link->connected)
        return; /* sent from the database on reconnection */
    s = lw_watch_alert_json(w->core, r);
    if (!s)
        return;
    snprintf(topic, sizeof(topic), "%s/alert/%s", w->cfg->topic_prefix,
             r->a.device);
    if (lwd_mqtt_publish(w->link, topic, s, strlen(s), 1, false, &mid) == 0) {
        if (w->npubs == w->cappubs) {
            size_t ncap = w->cappubs ? w->cappubs * 2 : 16;
            struct pending_pub *n = realloc(w->pubs, ncap * sizeof(*n));
            if (!n) {
                free(s);
                return; /* stays unpublished: resent on reconnection */
            }
            w->pubs = n;
            w->cappubs = ncap;
        }
        w->pubs[w->npubs].mid = mid;
        w->pubs[w->npubs].alert_id = r->id;
        w->npubs++;
    }
    free(s);
}

static void arm_places(struct lwd_watch *w);

/* lw_watch handler: an alert was committed with its mail. */
static void on_stored(void *ctx, const struct lw_alert_row *r,
                      enum lw_err mail_err)
{
    struct lwd_watch *w = ctx;
    const struct lw_alert *a = &r->a;

    lwrt_log(LOG_WARNING, "ALERT #%lld %s: device %s%s%s%s%s", (long long)r->id,
             lw_alert_kind_name(a->kind), a->device,
             a->fence[0] ? ", fence " : "", a->fence,
             a->late ? " (late fix)" : "", a->has_fix ? "" : ", no fix known");
    if (mail_err != LW_OK)
        lwrt_log(LOG_ERR, "alert #%lld: stored without its e-mail: %s",
                 (long long)r->id, lw_strerror(mail_err));
    publish_alert(w, r);
    lw_watch_state_emit(w->core, a->device, lwrt_wall_ms(), publish_state, w);
    /* the flush may have queued places checks for offline mails */
    arm_places(w);
}

/* lw_watch handler: a registry fence that does not load. */
static void on_fence_skipped(void *ctx, const struct lw_geofence *g,
                             const char *why)
{
    (void)ctx;
    lwrt_log(LOG_ERR, "geofence '%s' cannot be loaded: %s", g->name, why);
}

/* ---- deadlines ---------------------------------------------------------- */

static void arm_deadline(struct lwd_watch *w, int64_t at_ms)
{
    int64_t now = lwrt_wall_ms();

    if (at_ms == INT64_MAX)
        return;
    if (ev_is_active(&w->deadline_timer) && w->armed_ms <= at_ms)
        return;
    ev_timer_stop(w->loop, &w->deadline_timer);
    w->armed_ms = at_ms;
    ev_timer_set(&w->deadline_timer,
                 at_ms > now ? (double)(at_ms - now) / 1000.0 : 0., 0.);
    ev_timer_start(w->loop, &w->deadline_timer);
}

/* Stores what was raised, ticks the engine at now and stores what that
 * raised (vehicles that became watched, deadlines passed), re-arms. */
static void tick(struct lwd_watch *w, int64_t now)
{
    int64_t next;

    lwd_commit_alerts(w->commit);
    next = lw_watch_tick(w->core, now);
    lwd_commit_alerts(w->commit);
    arm_deadline(w, next);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_watch *w = t->data;

    (void)loop;
    (void)revents;
    w->armed_ms = INT64_MAX;
    tick(w, lwrt_wall_ms());
}

/* ---- places checks ------------------------------------------------------ */

static void places_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_watch *w = t->data;

    (void)revents;
    if (lw_watch_places_step(w->core, lwrt_wall_ms(), PLACES_STEP_FIXES) == 0)
        ev_timer_stop(loop, t);
    lwd_commit_alerts(w->commit);
}

const char *lwd_watch_places_of(void *ctx, const char *device)
{
    struct lwd_watch *w = ctx;

    return w->core ? lw_watch_places_of(w->core, device) : NULL;
}

/* Starts the slices when a places check was queued. */
static void arm_places(struct lwd_watch *w)
{
    if (lw_watch_places_pending(w->core) > 0 && !ev_is_active(&w->places_timer))
        ev_timer_start(w->loop, &w->places_timer);
}

/* ---- registry ------------------------------------------------------------ */

static void log_registry(struct lwd_watch *w)
{
    struct lw_watch_stats st;

    lw_watch_stats(w->core, &st);
    if (st.fences_skipped)
        lwrt_log(LOG_ERR, "registry: %zu geofences could not be loaded",
                 st.fences_skipped);
    lwrt_log(LOG_INFO, "registry: %zu geofences, %zu vehicles", st.fences,
             st.vehicles);
}

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_watch *w = t->data;
    char err[ERR_MAX];
    unsigned what = 0;
    struct lwrt_limit_note note;
    int64_t now = lwrt_wall_ms();

    (void)loop;
    (void)revents;
    if (lw_watch_poll(w->core, now, &what, err, sizeof(err)) != LW_OK) {
        if (lwrt_limit_allow(&w->poll_limit, now, POLL_LOG_INTERVAL_MS, &note))
            lwrt_log(LOG_ERR,
                     "registry: %s; tried again every second (%llu similar "
                     "errors suppressed)",
                     err, (unsigned long long)note.suppressed);
        return;
    }
    if (what & LW_WATCH_RELOADED) {
        struct lw_watch_stats st;

        lw_watch_stats(w->core, &st);
        lwrt_log(LOG_INFO, "registry changed (version %lld): reloaded",
                 (long long)st.registry_version);
        log_registry(w);
        tick(w, now);
    }
}

/* ---- start and stop -------------------------------------------------------
 */

int lwd_watch_init(struct lwd_watch *w, struct ev_loop *loop,
                   struct lw_store *store, struct lwd_mqtt *link,
                   const struct lw_config *cfg, struct lwd_commit *commit)
{
    static const struct lw_watch_handlers h = {
        .stored = on_stored,
        .fence_skipped = on_fence_skipped,
    };
    char err[ERR_MAX];
    int64_t now = lwrt_wall_ms();

    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->store = store;
    w->link = link;
    w->cfg = cfg;
    w->commit = commit;
    w->armed_ms = INT64_MAX;
    ev_init(&w->deadline_timer, deadline_cb);
    ev_timer_init(&w->poll_timer, poll_cb, POLL_INTERVAL_S, POLL_INTERVAL_S);
    ev_timer_init(&w->state_timer, state_cb, STATE_SWEEP_S, STATE_SWEEP_S);
    ev_timer_init(&w->places_timer, places_cb, PLACES_STEP_S, PLACES_STEP_S);
    w->deadline_timer.data = w->poll_timer.data = w->state_timer.data = w;
    w->places_timer.data = w;
    if (lw_watch_new(&w->core, store, cfg, &h, w, err, sizeof(err)) != LW_OK) {
        lwrt_log(LOG_ERR, "alert: %s", err);
        return -1;
    }
    lwd_commit_attach(commit, w->core);
    /* alerts a previous stop spilled are stored before the restore, so
     * that it finds them open */
    if (lwd_commit_merge_early(commit) != 0)
        return -1;
    if (lw_watch_restore(w->core, now, err, sizeof(err)) != LW_OK) {
        lwrt_log(LOG_ERR, "alert: cannot restore the alert state: %s", err);
        return -1;
    }
    log_registry(w);
    tick(w, now);
    arm_places(w); /* the restore queued the watched vehicles' places */
    ev_timer_start(loop, &w->poll_timer);
    ev_timer_start(loop, &w->state_timer);
    {
        struct lw_watch_stats st;

        lw_watch_stats(w->core, &st);
        lwrt_log(LOG_INFO, "alert: watching %zu devices", st.devices);
    }
    return 0;
}

void lwd_watch_release(struct lwd_watch *w)
{
    if (w->loop) {
        ev_timer_stop(w->loop, &w->deadline_timer);
        ev_timer_stop(w->loop, &w->poll_timer);
        ev_timer_stop(w->loop, &w->state_timer);
        ev_timer_stop(w->loop, &w->places_timer);
    }
    if (w->commit)
        lwd_commit_attach(w->commit, NULL);
    lw_watch_free(w->core);
    free(w->pubs);
    w->core = NULL;
    w->pubs = NULL;
}

void lwd_watch_reconfigure(struct lwd_watch *w)
{
    lw_watch_set_cfg(w->core, w->cfg);
    tick(w, lwrt_wall_ms());
}

/* ---- events ----------------------------------------------------------------
 */

void lwd_watch_fix(struct lwd_watch *w, const struct lw_fix *f, bool late,
                   const struct lw_jump_ruling *j, int64_t now_ms)
{
    lw_watch_fix_judged(w->core, f, late, j, now_ms);
    arm_deadline(w, lw_watch_deadline(w->core, f->device));
    arm_places(w);
}

void lwd_watch_heard(struct lwd_watch *w, const char *device, int64_t now_ms)
{
    lw_watch_heard(w->core, device, now_ms);
    lwd_commit_alerts(w->commit);
    arm_deadline(w, lw_watch_deadline(w->core, device));
}

bool lwd_watch_account(struct lwd_watch *w, const struct lw_account_update *u,
                       int64_t now_ms)
{
    bool changed = false;
    enum lw_err e = lw_watch_account(w->core, u, now_ms, &changed);

    if (!changed)
        return false;
    if (e != LW_OK)
        lwrt_log(
            LOG_WARNING, "account %s: the state of its vehicles may lag: %s",
            u->account,
            e == LW_ERR_NOMEM ? lw_strerror(e) : lw_store_errmsg(w->store));
    tick(w, now_ms);
    return true;
}

/* ---- MQTT
 * -------------------------------------------------------------------- */

static int republish(void *ctx, const struct lw_alert_row *r)
{
    publish_alert(ctx, r);
    return 0;
}

void lwd_watch_connected(struct lwd_watch *w)
{
    struct lw_alert_filter f = {.unpublished_only = true};

    w->npubs = 0; /* message ids of the old connection mean nothing now */
    if (lw_registry_alerts(w->store, &f, republish, w) != LW_OK)
        lwrt_log(LOG_ERR, "alert: cannot read unpublished alerts: %s",
                 lw_store_errmsg(w->store));
    if (w->npubs)
        lwrt_log(LOG_INFO,
                 "alert: %zu alerts raised while unpublished sent now",
                 w->npubs);
}

void lwd_watch_published(struct lwd_watch *w, int mid)
{
    for (size_t i = 0; i < w->npubs; i++) {
        if (w->pubs[i].mid != mid)
            continue;
        if (lw_registry_alert_published(w->store, w->pubs[i].alert_id) != LW_OK)
            lwrt_log(LOG_WARNING, "alert #%lld: cannot mark as published: %s",
                     (long long)w->pubs[i].alert_id, lw_store_errmsg(w->store));
        w->pubs[i] = w->pubs[--w->npubs];
        return;
    }
}

void lwd_watch_forget_fix(struct lwd_watch *w, const char *device)
{
    lw_watch_forget_fix(w->core, device);
}
