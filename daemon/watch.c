/*
 * watch.c - see watch.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lienwatch/alertjson.h"
#include "lienwatch/outbox.h"
#include "lienwatch/timeutil.h"
#include "log.h"
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

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void alert_cfg(const struct lw_config *c, struct lw_alert_cfg *a)
{
    a->confirm_fixes = c->confirm_fixes;
    a->fence_margin_m = c->fence_margin_m;
    a->offline_after_ms = c->offline_after_ms;
    a->watch_days_past_due = c->watch_days_past_due;
}

/* Engine callback: collect; process_raised stores and publishes them. */
static void on_alert(void *ctx, const struct lw_alert *a)
{
    struct watch *w = ctx;

    if (w->nraised == w->capraised) {
        size_t ncap = w->capraised ? w->capraised * 2 : 16;
        struct lw_alert *n = realloc(w->raised, ncap * sizeof(*n));
        if (!n) {
            w->alerts_failed++;
            log_err("alert: out of memory; %s alert of %s lost",
                    lw_alert_kind_name(a->kind), a->device);
            return;
        }
        w->raised = n;
        w->capraised = ncap;
    }
    w->raised[w->nraised++] = *a;
}

/* ---- state topic ------------------------------------------------------- */

static struct dstate *dev(struct watch *w, const char *device)
{
    return devmap_get(&w->devices, device, true);
}

/* The state of d must be published again (urgent: at the next sweep,
 * whatever its interval). */
static void mark_dirty(struct dstate *d, bool urgent)
{
    d->dirty = true;
    if (urgent)
        d->urgent = true;
}

/* What the database says of d (vehicle, account, open alerts) changed:
 * rebuild that part of its state and publish it again. */
static void invalidate(struct dstate *d, bool urgent)
{
    dextras_free(d->extras);
    d->extras = NULL;
    mark_dirty(d, urgent);
}

/* strdup of a stored string, NULL for "" (and when out of memory: *oom) */
static char *opt_dup(const char *s, bool *oom)
{
    char *c;

    if (!s[0])
        return NULL;
    c = strdup(s);
    if (!c)
        *oom = true;
    return c;
}

struct alerts_ctx {
    struct dextras *x; /* where the open alerts go */
    size_t cap;        /* allocated x->alerts */
    bool oom;          /* out of memory */
};

static int collect_open(void *ctx, const struct lw_alert_row *r)
{
    struct alerts_ctx *c = ctx;
    struct dalert *a;

    if (c->x->nalerts == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 2;
        struct dalert *n = realloc(c->x->alerts, ncap * sizeof(*n));

        if (!n) {
            c->oom = true;
            return 1;
        }
        c->x->alerts = n;
        c->cap = ncap;
    }
    a = &c->x->alerts[c->x->nalerts];
    a->id = r->id;
    a->kind = r->a.kind;
    a->state = r->state;
    a->opened_ms = r->a.raised_ms;
    a->fence = opt_dup(r->a.fence, &c->oom);
    c->x->nalerts++;
    return c->oom;
}

/* The database part of a device's state: vehicle, account, open alerts;
 * NULL when out of memory. */
static struct dextras *build_extras(struct watch *w, const char *device)
{
    struct lw_vehicle v;
    struct lw_account a;
    struct lw_alert_filter f = {.device = device, .open_only = true};
    struct alerts_ctx ac = {.x = calloc(1, sizeof(struct dextras))};
    struct dextras *x = ac.x;
    bool has_v, has_a;

    if (!x)
        return NULL;
    has_v = lw_registry_vehicle_get(w->store, device, &v) == LW_OK;
    has_a = has_v && v.account[0] &&
            lw_registry_account_get(w->store, v.account, &a) == LW_OK;
    if (has_v) {
        x->vin = opt_dup(v.vin, &ac.oom);
        x->plate = opt_dup(v.plate, &ac.oom);
        x->description = opt_dup(v.description, &ac.oom);
        x->account = opt_dup(v.account, &ac.oom);
    }
    x->has_days_past_due = has_a;
    x->days_past_due = has_a ? a.days_past_due : 0;
    /* alerts are raised for registered vehicles only: no query otherwise */
    if (has_v && !ac.oom &&
        lw_registry_alerts(w->store, &f, collect_open, &ac) != LW_OK)
        log_warn("state: cannot read open alerts of %s: %s", device,
                 lw_store_errmsg(w->store));
    if (ac.oom) {
        dextras_free(x);
        return NULL;
    }
    return x;
}

/* The JSON object of x, in the state topic's key order. */
static json_t *extras_json(const struct dextras *x)
{
    json_t *o = json_object();
    json_t *arr = json_array();
    char tbuf[LW_TIME_BUFLEN];

    json_object_set_new(o, "vin", lw_json_str_or_null(x->vin));
    json_object_set_new(o, "plate", lw_json_str_or_null(x->plate));
    json_object_set_new(o, "description", lw_json_str_or_null(x->description));
    json_object_set_new(o, "account", lw_json_str_or_null(x->account));
    json_object_set_new(o, "days_past_due",
                        x->has_days_past_due ? json_integer(x->days_past_due)
                                             : json_null());
    for (size_t i = 0; i < x->nalerts; i++) {
        const struct dalert *a = &x->alerts[i];
        json_t *e = json_object();

        json_object_set_new(e, "id", json_integer(a->id));
        json_object_set_new(e, "kind", json_string(lw_alert_kind_name(a->kind)));
        json_object_set_new(e, "state",
                            json_string(lw_alert_state_name(a->state)));
        json_object_set_new(e, "opened_at",
                            json_string(lw_time_format(a->opened_ms, tbuf,
                                                       sizeof(tbuf))));
        if (a->fence)
            json_object_set_new(e, "geofence", json_string(a->fence));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "open_alerts", arr);
    return o;
}

static void publish_state(struct watch *w, struct dstate *d, int64_t now)
{
    char topic[TOPIC_MAX];
    char tbuf[LW_TIME_BUFLEN];
    json_t *o;
    char *s;

    if (!w->link->connected)
        return; /* retained: the next change after reconnection republishes */
    if (!d->extras)
        d->extras = build_extras(w, d->device);
    if (!d->extras)
        return; /* out of memory: still dirty, the next sweep tries again */
    o = extras_json(d->extras);
    json_object_set_new(o, "device", json_string(d->device));
    json_object_set_new(o, "watched",
                        json_boolean(lw_engine_watched(w->engine, d->device)));
    json_object_set_new(o, "last_heard",
                        d->last_heard_ms
                            ? json_string(lw_time_format(d->last_heard_ms,
                                                         tbuf, sizeof(tbuf)))
                            : json_null());
    if (d->has_fix) {
        json_t *f = json_object();
        json_object_set_new(f, "lat", json_real(d->lat_deg));
        json_object_set_new(f, "lon", json_real(d->lon_deg));
        json_object_set_new(f, "fix_time",
                            json_string(lw_time_format(d->fix_time_ms, tbuf,
                                                       sizeof(tbuf))));
        json_object_set_new(f, "age_s",
                            json_real((double)(now - d->fix_time_ms) / 1e3));
        json_object_set_new(f, "speed_mps", lw_json_num_or_null(d->speed_mps));
        json_object_set_new(f, "course_deg",
                            lw_json_num_or_null(d->course_deg));
        json_object_set_new(f, "accuracy_m",
                            lw_json_num_or_null(d->accuracy_m));
        json_object_set_new(o, "last_fix", f);
    } else {
        json_object_set_new(o, "last_fix", json_null());
    }
    json_object_set_new(o, "at",
                        json_string(lw_time_format(now, tbuf, sizeof(tbuf))));
    s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(o);
    if (!s)
        return;
    snprintf(topic, sizeof(topic), "%s/state/%s", w->cfg->topic_prefix,
             d->device);
    if (mqtt_link_publish(w->link, topic, s, strlen(s), STATE_QOS, true,
                          NULL) == 0) {
        d->last_pub_ms = now;
        d->dirty = d->urgent = false;
    }
    free(s);
}

struct sweep_ctx {
    struct watch *w; /* the watch */
    int64_t now;     /* sweep time */
    int budget;      /* publications left in this sweep */
};

static void sweep_one(void *ctx, struct dstate *d)
{
    struct sweep_ctx *c = ctx;

    if (!d->dirty || c->budget <= 0)
        return;
    if (d->urgent || c->now - d->last_pub_ms >= c->w->cfg->state_interval_ms) {
        publish_state(c->w, d, c->now);
        c->budget--;
    }
}

static void state_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct sweep_ctx c = {t->data, wall_ms(), STATE_SWEEP_MAX};
    struct devmap *m = &c.w->devices;

    (void)loop;
    (void)revents;
    /* round robin from where the last sweep stopped, so no device starves
     * while more than a sweep's budget are dirty */
    for (size_t n = 0; n < m->cap && c.budget > 0; n++) {
        size_t i = (c.w->sweep_pos + n) & (m->cap - 1);
        if (m->slots[i])
            sweep_one(&c, m->slots[i]);
        if (c.budget == 0)
            c.w->sweep_pos = i + 1;
    }
}

/* ---- alerts out ---------------------------------------------------------- */

static void publish_alert(struct watch *w, const struct lw_alert_row *r)
{
    struct lw_vehicle v;
    struct lw_account a;
    char topic[TOPIC_MAX];
    bool has_v, has_a;
    json_t *o;
    char *s;
    int mid = 0;

    if (!w->link->connected)
        return; /* sent from the database on reconnection */
    has_v = lw_registry_vehicle_get(w->store, r->a.device, &v) == LW_OK;
    has_a = has_v && v.account[0] &&
            lw_registry_account_get(w->store, v.account, &a) == LW_OK;
    o = lw_alert_to_json(r, has_v ? &v : NULL, has_a ? &a : NULL);
    s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(o);
    if (!s)
        return;
    snprintf(topic, sizeof(topic), "%s/alert/%s", w->cfg->topic_prefix,
             r->a.device);
    if (mqtt_link_publish(w->link, topic, s, strlen(s), 1, false, &mid) ==
        0) {
        if (w->npubs == w->cappubs) {
            size_t ncap = w->cappubs ? w->cappubs * 2 : 16;
            struct pending_pub *n = realloc(w->pubs, ncap * sizeof(*n));
            if (n) {
                w->pubs = n;
                w->cappubs = ncap;
            }
        }
        if (w->npubs < w->cappubs)
            w->pubs[w->npubs++] = (struct pending_pub){mid, r->id};
    }
    free(s);
}

/* Stores, logs and publishes what the last engine call raised. */
static void process_raised(struct watch *w)
{
    size_t n = w->nraised;
    struct lw_outbox_opts opts;
    int64_t *ids;

    if (n == 0)
        return;
    w->nraised = 0;
    lw_outbox_opts_from_config(&opts, w->cfg);
    ids = calloc(n, sizeof(*ids));
    if (!ids || lw_store_begin(w->store) != LW_OK) {
        log_err("alert: cannot store %zu alerts: %s", n,
                ids ? lw_store_errmsg(w->store) : "out of memory");
        w->alerts_failed += n;
        free(ids);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        /* the mail goes in the same transaction as its alert */
        if (lw_registry_alert_add(w->store, &w->raised[i], &ids[i]) !=
                LW_OK ||
            lw_outbox_enqueue(w->store, &opts, ids[i], &w->raised[i],
                              w->raised[i].raised_ms, NULL) != LW_OK) {
            log_err("alert: cannot store %s of %s: %s",
                    lw_alert_kind_name(w->raised[i].kind),
                    w->raised[i].device, lw_store_errmsg(w->store));
            lw_store_rollback(w->store);
            w->alerts_failed += n;
            free(ids);
            return;
        }
    }
    if (lw_store_commit(w->store) != LW_OK) {
        log_err("alert: cannot commit %zu alerts: %s", n,
                lw_store_errmsg(w->store));
        lw_store_rollback(w->store);
        w->alerts_failed += n;
        free(ids);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct lw_alert *a = &w->raised[i];
        struct lw_alert_row r = {.id = ids[i], .a = *a,
                                 .state = LW_ALERT_OPEN};
        struct dstate *d = dev(w, a->device);
        w->alerts_raised++;
        log_warn("ALERT #%lld %s: device %s%s%s%s%s", (long long)ids[i],
                 lw_alert_kind_name(a->kind), a->device,
                 a->fence[0] ? ", fence " : "", a->fence,
                 a->late ? " (late fix)" : "",
                 a->has_fix ? "" : ", no fix known");
        publish_alert(w, &r);
        if (d) {
            invalidate(d, true);
            publish_state(w, d, a->raised_ms);
        }
    }
    free(ids);
}

/* ---- deadlines ---------------------------------------------------------- */

static void arm_deadline(struct watch *w, int64_t at_ms)
{
    int64_t now = wall_ms();

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

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct watch *w = t->data;
    int64_t next;

    (void)loop;
    (void)revents;
    w->armed_ms = INT64_MAX;
    next = lw_engine_tick(w->engine, NULL, wall_ms());
    process_raised(w);
    arm_deadline(w, next);
}

static void after_event(struct watch *w, const char *device)
{
    process_raised(w);
    arm_deadline(w, lw_engine_deadline(w->engine, device));
}

/* ---- registry ------------------------------------------------------------ */

struct fence_load {
    struct watch *w;               /* the watch */
    struct lw_fenceset *set;       /* set being built */
    struct lw_fence_link *links;   /* links being built */
    size_t nlinks, caplinks;       /* used / allocated */
    int64_t *dwell;                /* per fence id */
    size_t capdwell;               /* allocated */
    size_t bad;                    /* fences that did not load */
};

static int load_fence(void *ctx, const struct lw_geofence *g)
{
    struct fence_load *fl = ctx;
    size_t id = lw_fenceset_count(fl->set);
    char err[256];

    if (lw_fenceset_add_geojson(fl->set, g->geojson, strlen(g->geojson),
                                g->kind, NULL, err, sizeof(err)) != LW_OK ||
        lw_fenceset_count(fl->set) != id + 1) {
        log_err("geofence '%s' cannot be loaded: %s", g->name, err);
        fl->bad++;
        return 0;
    }
    lw_fence_set_tag(fl->set, id, g->id);
    if (id >= fl->capdwell) {
        size_t ncap = fl->capdwell ? fl->capdwell * 2 : 64;
        int64_t *n = realloc(fl->dwell, ncap * sizeof(*n));
        if (!n)
            return 1;
        fl->dwell = n;
        fl->capdwell = ncap;
    }
    fl->dwell[id] = g->max_dwell_ms;
    if (g->link_device[0] || g->link_account[0]) {
        if (fl->nlinks == fl->caplinks) {
            size_t ncap = fl->caplinks ? fl->caplinks * 2 : 16;
            struct lw_fence_link *n =
                realloc(fl->links, ncap * sizeof(*n));
            if (!n)
                return 1;
            fl->links = n;
            fl->caplinks = ncap;
        }
        struct lw_fence_link *l = &fl->links[fl->nlinks++];
        memset(l, 0, sizeof(*l));
        l->fence_tag = g->id;
        snprintf(l->device, sizeof(l->device), "%s", g->link_device);
        snprintf(l->account, sizeof(l->account), "%s", g->link_account);
    }
    return 0;
}

static int load_vehicle(void *ctx, const struct lw_vehicle *v)
{
    struct watch *w = ctx;
    struct lw_vehicle_reg reg = {0};

    snprintf(reg.account, sizeof(reg.account), "%s", v->account);
    reg.offline_after_ms = v->offline_after_ms > 0 ? v->offline_after_ms : 0;
    reg.registered_ms = v->registered_ms;
    lw_engine_set_vehicle(w->engine, v->device, &reg, wall_ms());
    w->nvehicles++;
    struct dstate *d = dev(w, v->device);
    if (d)
        invalidate(d, false);
    return 0;
}

static int load_account(void *ctx, const struct lw_account *a)
{
    struct watch *w = ctx;

    lw_engine_set_account(w->engine, a->account, a->days_past_due,
                          wall_ms());
    return 0;
}

/* (Re)reads the fences into the engine. 0 or -1. */
static int load_fences(struct watch *w)
{
    struct fence_load fl = {.w = w, .set = lw_fenceset_new()};
    int rc = -1;

    if (!fl.set)
        return -1;
    if (lw_registry_fences(w->store, load_fence, &fl) != LW_OK) {
        log_err("registry: cannot read geofences: %s",
                lw_store_errmsg(w->store));
        goto out_free;
    }
    lw_fenceset_build_index(fl.set);
    if (lw_engine_set_fences(w->engine, fl.set, fl.links, fl.nlinks,
                             fl.dwell) != LW_OK) {
        log_err("registry: cannot apply geofences");
        goto out_free;
    }
    lw_fenceset_free(w->fences);
    w->fences = fl.set;
    fl.set = NULL;
    w->nfences = lw_fenceset_count(w->fences);
    if (fl.bad)
        log_err("registry: %zu geofences could not be loaded", fl.bad);
    rc = 0;
out_free:
    lw_fenceset_free(fl.set);
    free(fl.links);
    free(fl.dwell);
    return rc;
}

/* (Re)reads vehicles, then accounts (which may raise alerts). 0 or -1. */
static int load_vehicles_accounts(struct watch *w)
{
    w->nvehicles = 0;
    if (lw_registry_vehicles(w->store, load_vehicle, w) != LW_OK ||
        lw_registry_accounts(w->store, load_account, w) != LW_OK) {
        log_err("registry: cannot read vehicles/accounts: %s",
                lw_store_errmsg(w->store));
        return -1;
    }
    lw_registry_version(w->store, &w->registry_version, &w->alerts_version);
    log_info("registry: %zu geofences, %zu vehicles", w->nfences,
             w->nvehicles);
    return 0;
}

static int load_registry(struct watch *w)
{
    if (load_fences(w) != 0)
        return -1;
    return load_vehicles_accounts(w);
}

/* Republish states of devices whose alerts changed outside the daemon. */
static int alert_changed(void *ctx, const struct lw_alert_row *r)
{
    struct watch *w = ctx;
    struct dstate *d = dev(w, r->a.device);

    if (d)
        invalidate(d, true);
    return 0;
}

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct watch *w = t->data;
    int64_t dv = 0, rv = 0, av = 0;
    int64_t now = wall_ms();

    (void)loop;
    (void)revents;
    if (lw_store_data_version(w->store, &dv) != LW_OK ||
        dv == w->data_version)
        return;
    w->data_version = dv;
    if (lw_registry_version(w->store, &rv, &av) != LW_OK)
        return;
    if (rv != w->registry_version) {
        log_info("registry changed (version %lld): reloading",
                 (long long)rv);
        load_registry(w);
        process_raised(w);
        arm_deadline(w, lw_engine_tick(w->engine, NULL, now));
        process_raised(w);
    }
    if (av != w->alerts_version) {
        struct lw_alert_filter f = {.changed_since_ms = w->alerts_checked_ms};
        w->alerts_version = av;
        lw_registry_alerts(w->store, &f, alert_changed, w);
        w->alerts_checked_ms = now - 1000 * (int64_t)POLL_INTERVAL_S;
    }
}

/* ---- restore ------------------------------------------------------------- */

struct restore_ctx {
    struct watch *w;         /* the watch */
    struct devmap offline;   /* devices with an open offline alert */
};

/* A device whose latest offline/back_online alert is "offline" is still
 * silent and alerted: restored so a restart does not raise it again. In the
 * scratch map (alerts come oldest first) urgent means "silent". */
static int note_silence(void *ctx, const struct lw_alert_row *r)
{
    struct restore_ctx *rc = ctx;
    struct dstate *o;

    if (r->a.kind != LW_ALERT_OFFLINE && r->a.kind != LW_ALERT_BACK_ONLINE)
        return 0;
    o = devmap_get(&rc->offline, r->a.device, true);
    if (o)
        o->urgent = r->a.kind == LW_ALERT_OFFLINE;
    return 0;
}

/* Every silent device, heard or not (a registered vehicle never heard from
 * goes offline from its registration and is not in the device table); the
 * device pass then adds what the heard ones last did. */
static void restore_silent(void *ctx, struct dstate *o)
{
    struct watch *w = ctx;

    if (o->urgent)
        lw_engine_restore(w->engine, o->device, 0, NULL, true);
}

/* Keeps f as d's newest fix for the state topic. */
static void set_fix(struct dstate *d, const struct lw_fix *f)
{
    d->has_fix = true;
    d->lat_deg = f->lat_deg;
    d->lon_deg = f->lon_deg;
    d->speed_mps = f->speed_mps;
    d->course_deg = f->course_deg;
    d->accuracy_m = f->accuracy_m;
    d->fix_time_ms = f->fix_time_ms;
    d->recv_time_ms = f->recv_time_ms;
}

static int restore_fence_state(void *ctx, const struct lw_alert_row *r)
{
    struct watch *w = ctx;
    bool dwell = r->a.kind == LW_ALERT_DWELL;

    if (r->a.kind != LW_ALERT_GEOFENCE_EXIT &&
        r->a.kind != LW_ALERT_GEOFENCE_ENTER && !dwell)
        return 0;
    /* a fence removed since then is simply not restored */
    lw_engine_restore_fence(w->engine, r->a.device, r->a.fence_tag,
                            r->a.has_fix ? r->a.fix.fix_time_ms : 0, dwell);
    return 0;
}

static int restore_device(void *ctx, const struct lw_device_info *di)
{
    struct restore_ctx *rc = ctx;
    struct watch *w = rc->w;
    struct lw_fix f;
    bool has = di->last_fix_ms &&
               lw_store_last_fix(w->store, di->device, &f) == LW_OK;
    struct dstate *o = devmap_get(&rc->offline, di->device, false);
    struct dstate *d = dev(w, di->device);

    lw_engine_restore(w->engine, di->device, di->last_heard_ms,
                      has ? &f : NULL, o && o->urgent);
    if (d) {
        d->last_heard_ms = di->last_heard_ms;
        if (has)
            set_fix(d, &f);
    }
    return 0;
}

int watch_init(struct watch *w, struct ev_loop *loop, struct lw_store *store,
               struct mqtt_link *link, const struct lw_config *cfg)
{
    struct lw_alert_cfg ac;
    struct restore_ctx rc = {.w = w};
    struct lw_alert_filter open = {.open_only = true};
    int64_t now = wall_ms();

    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->store = store;
    w->link = link;
    w->cfg = cfg;
    w->armed_ms = INT64_MAX;
    w->alerts_checked_ms = now;
    ev_init(&w->deadline_timer, deadline_cb);
    ev_timer_init(&w->poll_timer, poll_cb, POLL_INTERVAL_S, POLL_INTERVAL_S);
    ev_timer_init(&w->state_timer, state_cb, STATE_SWEEP_S, STATE_SWEEP_S);
    w->deadline_timer.data = w->poll_timer.data = w->state_timer.data = w;
    alert_cfg(cfg, &ac);
    if (lw_engine_new(&w->engine, &ac, on_alert, w) != LW_OK) {
        log_err("alert: cannot create the alert engine");
        return -1;
    }
    lw_store_data_version(store, &w->data_version);
    /* fences first, then what each device last did and which conditions
     * already have open alerts, then vehicles and accounts: a vehicle
     * watched at start that went silent while we were down gets its offline
     * alert now, unless one is already open */
    if (load_fences(w) != 0)
        return -1;
    if (lw_registry_alerts(store, NULL, note_silence, &rc) != LW_OK) {
        log_err("alert: cannot read past alerts: %s", lw_store_errmsg(store));
        devmap_release(&rc.offline);
        return -1;
    }
    devmap_each(&rc.offline, restore_silent, w);
    if (lw_store_devices(store, restore_device, &rc) != LW_OK ||
        lw_registry_alerts(store, &open, restore_fence_state, w) != LW_OK) {
        log_err("alert: cannot restore device state: %s",
                lw_store_errmsg(store));
        devmap_release(&rc.offline);
        return -1;
    }
    devmap_release(&rc.offline);
    if (load_vehicles_accounts(w) != 0)
        return -1;
    process_raised(w);
    arm_deadline(w, lw_engine_tick(w->engine, NULL, now));
    process_raised(w);
    ev_timer_start(loop, &w->poll_timer);
    ev_timer_start(loop, &w->state_timer);
    log_info("alert: watching %zu devices", lw_engine_devices(w->engine));
    return 0;
}

void watch_release(struct watch *w)
{
    if (w->loop) {
        ev_timer_stop(w->loop, &w->deadline_timer);
        ev_timer_stop(w->loop, &w->poll_timer);
        ev_timer_stop(w->loop, &w->state_timer);
    }
    lw_engine_free(w->engine);
    lw_fenceset_free(w->fences);
    devmap_release(&w->devices);
    free(w->pubs);
    free(w->raised);
    w->engine = NULL;
    w->fences = NULL;
    w->pubs = NULL;
    w->raised = NULL;
}

void watch_reconfigure(struct watch *w)
{
    struct lw_alert_cfg ac;

    alert_cfg(w->cfg, &ac);
    lw_engine_set_cfg(w->engine, &ac);
    arm_deadline(w, lw_engine_tick(w->engine, NULL, wall_ms()));
    process_raised(w);
}

/* ---- events ---------------------------------------------------------------- */

void watch_fix(struct watch *w, const struct lw_fix *f, bool late,
               int64_t now_ms)
{
    struct dstate *d = dev(w, f->device);

    if (d) {
        if (f->recv_time_ms > d->last_heard_ms)
            d->last_heard_ms = f->recv_time_ms;
        if (!late && (!d->has_fix || f->fix_time_ms > d->fix_time_ms)) {
            set_fix(d, f);
            mark_dirty(d, false);
        }
    }
    lw_engine_fix(w->engine, f, late, now_ms);
    after_event(w, f->device);
}

void watch_heard(struct watch *w, const char *device, int64_t now_ms)
{
    struct dstate *d = dev(w, device);

    if (d && now_ms > d->last_heard_ms) {
        d->last_heard_ms = now_ms;
        mark_dirty(d, false);
    }
    lw_engine_heard(w->engine, device, now_ms);
    after_event(w, device);
}

/* lw_vehicle_cb: the account of this vehicle changed. */
static int account_vehicle(void *ctx, const struct lw_vehicle *v)
{
    struct watch *w = ctx;
    struct dstate *d = devmap_get(&w->devices, v->device, false);

    if (d)
        invalidate(d, true);
    return 0;
}

bool watch_account(struct watch *w, const struct lw_account_update *u,
                   int64_t now_ms)
{
    struct lw_account a = {0}, old;
    int64_t rv = 0, av = 0;

    /* loan servicing's messages are retained, so every reconnection brings
     * all of them again: an unchanged one changes nothing */
    if (lw_registry_account_get(w->store, u->account, &old) == LW_OK &&
        old.days_past_due == u->days_past_due &&
        strcmp(old.status, u->status) == 0)
        return false;
    lw_copy(a.account, sizeof(a.account), u->account);
    lw_copy(a.status, sizeof(a.status), u->status);
    lw_copy(a.source, sizeof(a.source), "mqtt");
    a.days_past_due = u->days_past_due;
    a.updated_ms = now_ms;
    if (lw_registry_account_set(w->store, &a) != LW_OK)
        log_err("account %s: cannot store status: %s", u->account,
                lw_store_errmsg(w->store));
    /* our own write: do not reload for it */
    if (lw_registry_version(w->store, &rv, &av) == LW_OK)
        w->registry_version = rv;
    lw_engine_set_account(w->engine, u->account, u->days_past_due, now_ms);
    process_raised(w);
    arm_deadline(w, lw_engine_tick(w->engine, NULL, now_ms));
    process_raised(w);
    /* its vehicles change "watched" and days past due in their state */
    if (lw_registry_account_vehicles(w->store, u->account, account_vehicle,
                                     w) != LW_OK)
        log_warn("account %s: cannot list its vehicles: %s", u->account,
                 lw_store_errmsg(w->store));
    return true;
}

/* ---- MQTT -------------------------------------------------------------------- */

static int republish(void *ctx, const struct lw_alert_row *r)
{
    publish_alert(ctx, r);
    return 0;
}

void watch_connected(struct watch *w)
{
    struct lw_alert_filter f = {.unpublished_only = true};

    w->npubs = 0; /* message ids of the old connection mean nothing now */
    if (lw_registry_alerts(w->store, &f, republish, w) != LW_OK)
        log_err("alert: cannot read unpublished alerts: %s",
                lw_store_errmsg(w->store));
    if (w->npubs)
        log_info("alert: %zu alerts raised while unpublished sent now",
                 w->npubs);
}

void watch_published(struct watch *w, int mid)
{
    for (size_t i = 0; i < w->npubs; i++) {
        if (w->pubs[i].mid != mid)
            continue;
        if (lw_registry_alert_published(w->store, w->pubs[i].alert_id) !=
            LW_OK)
            log_warn("alert #%lld: cannot mark as published: %s",
                     (long long)w->pubs[i].alert_id,
                     lw_store_errmsg(w->store));
        w->pubs[i] = w->pubs[--w->npubs];
        return;
    }
}
