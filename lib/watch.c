/*
 * watch.c - see watch.h.
 *
 * The queue holds, in the order they happened, the alerts the engine raised
 * (its callback appends them) and the account statuses lw_watch_account
 * took; lw_watch_flush writes all of them in one transaction or none. The
 * per-device state cache is lib/devmap.c's table.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmap.h"
#include "lienwatch/access.h"
#include "lienwatch/alertjson.h"
#include "lienwatch/outbox.h"
#include "lienwatch/places.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/trackers.h"
#include "lienwatch/tz.h"
#include "lienwatch/watch.h"

/*
 * Which alerts another connection changed is asked with "changed at or after
 * the last check"; the other writer stamps them with its own clock, so the
 * next check starts this much before this one.
 */
#define ALERTS_CHANGED_SLACK_MS 1000
/* First sizes of growable arrays. */
#define QUEUE_INITIAL 16
#define FENCES_INITIAL 64
#define LINKS_INITIAL 16
/* km/h in one m/s */
#define KMH_PER_MPS 3.6
/* JSON text of published documents: compact, doubles to 12 digits. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

enum entry_kind {
    ENTRY_ALERT = 1, /* an alert the engine raised */
    ENTRY_ACCOUNT,   /* an account status from MQTT */
};

/* One thing waiting to be stored. */
struct entry {
    enum entry_kind kind; /* which member of u */
    bool places_ready;    /* an offline alert: places is its mail's text */
    char *places;         /* ... (owned; NULL: none known) */
    union {
        struct lw_alert alert;     /* ENTRY_ALERT */
        struct lw_account account; /* ENTRY_ACCOUNT */
    } u;
};

/*
 * A places computation (check_places) waiting for lw_watch_places_step: its
 * vehicle's history is read a slice at a time, then computed and judged.
 */
struct place_job {
    struct lw_dstate *d;  /* the vehicle (devmap entries never move) */
    struct lw_fix fix;    /* the fix that asked: history up to it */
    int64_t next_ms;      /* the history is read from here on */
    struct lw_places *pl; /* being filled; NULL before the first slice */
    bool forgotten;       /* its positions were purged: drop it */
};

struct lw_watch {
    struct lw_store *store;      /* borrowed */
    const struct lw_config *cfg; /* borrowed; replaced by set_cfg */
    struct lw_watch_handlers h;  /* the owner's handlers */
    void *ctx;                   /* their context */
    struct lw_engine *engine;    /* owned */
    struct lw_fenceset *fences;  /* owned; the engine borrows it */
    size_t nfences;              /* fences loaded */
    size_t fences_skipped;       /* registry fences that did not load */
    size_t nvehicles;            /* vehicles at the last load */
    struct entry *queue;         /* waiting for lw_watch_flush, in order */
    size_t nqueue, capqueue;     /* used / allocated */
    size_t queued_accounts;      /* ENTRY_ACCOUNT entries in queue */
    uint64_t stored;             /* alerts stored */
    uint64_t lost;               /* alerts that could not be queued */
    struct lw_devmap devices;    /* per-device state cache */
    size_t sweep_pos;            /* where the next state sweep starts */
    int64_t data_version;        /* PRAGMA data_version last handled */
    int64_t registry_version;    /* meta registry_version last loaded */
    int64_t alerts_version;      /* meta alerts_version last handled */
    int64_t alerts_checked_ms;   /* alerts changed since this: handled */
    struct lw_tz *tz;            /* [places] timezone, loaded on first use */
    char tz_zone[LW_CONFIG_STR_MAX + 1]; /* the name it was loaded for */
    bool tz_loaded;                      /* tz is for tz_zone (NULL: UTC) */
    struct place_job *jobs;              /* places computations waiting, FIFO */
    size_t jobs_head;                    /* the first one waiting */
    size_t njobs, capjobs;               /* used (from 0) / allocated */
    struct lw_trackers *trackers; /* vehicles with several trackers
                                     (trackers.h); made at the first load */
    struct lw_trackers_hooks trackers_hooks; /* its hooks */
};

/* A watched vehicle's places are computed again (placewatch.h) at its
 * first fix after each local night_hour:00 (03:00), and at least once per
 * this much fix time; between, long_move compares each fix with the usual
 * night place kept from the last computation. */
#define PLACES_CHECK_MS (24 * 3600 * 1000LL)
/* A restart looks for the start of a stay this many parked_alert_after
 * back (further: the stay is at least that long already). */
#define STAY_LOOKBACK 2
/* Offline mails of one flush whose places are read from history (their
 * vehicle's places check not done yet), at most; the others say: */
#define MAIL_PLACES_READS 2
#define MAIL_PLACES_LATER                                                      \
    "  Not looked up for this mail (many vehicles went silent at once):\n"     \
    "  see `lienwatch places` above.\n"
/* night_at_or_before looks this far back (a day and a clock change). */
#define NIGHT_SEARCH_MS (26 * 3600 * 1000LL)
#define M_PER_KM 1000.0

/* ---- registry fences ------------------------------------------------- */

struct fence_load {
    struct lw_watch_fences *f; /* being built */
    size_t caprows, capdwell;  /* allocated rows / max_dwell_ms */
    size_t caplinks;           /* allocated links */
    lw_watch_skip_cb skip;     /* told of fences left out */
    void *ctx;                 /* its context */
    const int64_t *excluded;   /* rows to leave out (see below) */
    size_t nexcluded;          /* entries in excluded */
    size_t row;                /* rows seen in this pass */
    size_t quiet;              /* rows before this were reported already */
    int64_t restart_id;        /* a row that added != 1 fence: redo without */
    bool oom;                  /* out of memory */
};

static bool is_excluded(const struct fence_load *fl, int64_t id)
{
    for (size_t i = 0; i < fl->nexcluded; i++) {
        if (fl->excluded[i] == id)
            return true;
    }
    return false;
}

static bool grow(void **p, size_t *cap, size_t want, size_t initial,
                 size_t size)
{
    size_t ncap;
    void *n;

    if (want <= *cap)
        return true;
    ncap = *cap ? *cap * 2 : initial;
    while (ncap < want)
        ncap *= 2;
    n = realloc(*p, ncap * size);
    if (!n)
        return false;
    *p = n;
    *cap = ncap;
    return true;
}

static void skipped(struct fence_load *fl, const struct lw_geofence *g,
                    const char *why)
{
    if (fl->skip && fl->row > fl->quiet)
        fl->skip(fl->ctx, g, why);
}

static int load_fence(void *ctx, const struct lw_geofence *g)
{
    struct fence_load *fl = ctx;
    struct lw_watch_fences *f = fl->f;
    size_t id = f->count, added;
    char why[256] = "";
    enum lw_err e;

    fl->row++;
    if (is_excluded(fl, g->id))
        return 0;
    e = lw_fenceset_add_geojson(f->set, g->geojson, strlen(g->geojson), g->kind,
                                NULL, why, sizeof(why));
    if (e == LW_ERR_NOMEM) {
        fl->oom = true;
        return 1;
    }
    added = lw_fenceset_count(f->set) - id;
    if (e == LW_OK && added != 1) {
        /* the set cannot give back what this row added: the caller
         * starts again without it */
        snprintf(why, sizeof(why), "it holds %zu fences, not one", added);
        skipped(fl, g, why);
        fl->restart_id = g->id;
        return 1;
    }
    if (e != LW_OK) {
        skipped(fl, g, why[0] ? why : lw_strerror(e));
        f->skipped++;
        return 0;
    }
    if (!grow((void **)&f->rows, &fl->caprows, id + 1, FENCES_INITIAL,
              sizeof(*f->rows)) ||
        !grow((void **)&f->max_dwell_ms, &fl->capdwell, id + 1, FENCES_INITIAL,
              sizeof(*f->max_dwell_ms))) {
        fl->oom = true;
        return 1;
    }
    lw_fence_set_tag(f->set, id, g->id);
    f->rows[id] = *g;
    f->rows[id].geojson = NULL;
    f->max_dwell_ms[id] = g->max_dwell_ms;
    f->count++;
    if (g->link_device[0] || g->link_account[0]) {
        struct lw_fence_link *l;

        if (!grow((void **)&f->links, &fl->caplinks, f->nlinks + 1,
                  LINKS_INITIAL, sizeof(*f->links))) {
            fl->oom = true;
            return 1;
        }
        l = &f->links[f->nlinks++];
        memset(l, 0, sizeof(*l));
        l->fence_tag = g->id;
        lw_copy(l->device, sizeof(l->device), g->link_device);
        lw_copy(l->account, sizeof(l->account), g->link_account);
    }
    return 0;
}

void lw_watch_fences_release(struct lw_watch_fences *f)
{
    if (!f)
        return;
    lw_fenceset_free(f->set);
    free(f->rows);
    free(f->max_dwell_ms);
    free(f->links);
    memset(f, 0, sizeof(*f));
}

enum lw_err lw_watch_fences_load(struct lw_store *s, lw_watch_skip_cb skip,
                                 void *ctx, struct lw_watch_fences *out,
                                 char *err, size_t errlen)
{
    int64_t *excluded = NULL;
    size_t nexcluded = 0, quiet = 0;
    enum lw_err e;

    if (!out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!s) {
        lw_seterr(err, errlen, "lw_watch_fences_load: no store");
        return LW_ERR_INVAL;
    }
    for (;;) {
        struct fence_load fl = {.f = out,
                                .skip = skip,
                                .ctx = ctx,
                                .excluded = excluded,
                                .nexcluded = nexcluded,
                                .quiet = quiet};
        int64_t *n;

        out->set = lw_fenceset_new();
        if (!out->set) {
            e = LW_ERR_NOMEM;
            break;
        }
        e = lw_registry_fences(s, load_fence, &fl);
        if (e != LW_OK) {
            lw_seterr(err, errlen, "cannot read the geofences: %s",
                      lw_store_errmsg(s));
            goto out_fail;
        }
        if (fl.oom) {
            e = LW_ERR_NOMEM;
            break;
        }
        if (!fl.restart_id) {
            out->skipped += nexcluded;
            e = lw_fenceset_build_index(out->set);
            break;
        }
        /* rows up to the one left out were reported: not again */
        quiet = fl.row > quiet ? fl.row : quiet;
        n = realloc(excluded, (nexcluded + 1) * sizeof(*n));
        if (!n) {
            e = LW_ERR_NOMEM;
            break;
        }
        excluded = n;
        excluded[nexcluded++] = fl.restart_id;
        lw_watch_fences_release(out);
    }
    if (e == LW_ERR_NOMEM)
        lw_seterr(err, errlen, "out of memory loading the geofences");
    if (e != LW_OK)
        goto out_fail;
    free(excluded);
    return LW_OK;

out_fail:
    lw_watch_fences_release(out);
    free(excluded);
    return e;
}

/* ---- the watch --------------------------------------------------------- */

static void alert_cfg(const struct lw_config *c, struct lw_alert_cfg *a)
{
    a->confirm_fixes = c->confirm_fixes;
    a->fence_margin_m = c->fence_margin_m;
    a->offline_after_ms = c->offline_after_ms;
    a->watch_days_past_due = c->watch_days_past_due;
    a->max_speed_mps = c->max_speed_kmh / KMH_PER_MPS;
    a->parked_after_ms = c->parked_alert_after_ms;
}

/* Appends an entry to the queue; NULL when out of memory. */
static struct entry *queue_push(struct lw_watch *w, enum entry_kind kind)
{
    struct entry *q;

    if (!grow((void **)&w->queue, &w->capqueue, w->nqueue + 1, QUEUE_INITIAL,
              sizeof(*w->queue)))
        return NULL;
    q = &w->queue[w->nqueue++];
    q->kind = kind;
    q->places_ready = false;
    q->places = NULL;
    if (kind == ENTRY_ACCOUNT)
        w->queued_accounts++;
    return q;
}

void lw_watch_each_queued(const struct lw_watch *w, lw_watch_queued_cb cb,
                          void *ctx)
{
    for (size_t i = 0; w && i < w->nqueue; i++) {
        const struct entry *q = &w->queue[i];

        if (q->kind == ENTRY_ALERT)
            cb(ctx, &q->u.alert, NULL);
        else
            cb(ctx, NULL, &q->u.account);
    }
}

enum lw_err lw_watch_requeue_alert(struct lw_watch *w,
                                   const struct lw_alert *a)
{
    struct entry *q;

    if (!w || !a || !a->device[0])
        return LW_ERR_INVAL;
    q = queue_push(w, ENTRY_ALERT);
    if (!q)
        return LW_ERR_NOMEM;
    q->u.alert = *a;
    return LW_OK;
}

/* Engine callback: every alert raised waits in the queue for its flush. */
static void on_alert(void *ctx, const struct lw_alert *a)
{
    struct lw_watch *w = ctx;
    struct entry *q = queue_push(w, ENTRY_ALERT);

    if (!q) {
        w->lost++;
        return;
    }
    q->u.alert = *a;
}

/* ---- vehicles with several trackers (trackers.h) ---- */

static bool trackers_watched(void *ctx, const char *device)
{
    return lw_engine_watched(((struct lw_watch *)ctx)->engine, device);
}

/* The devices grouped by vehicle, from the install records. */
static enum lw_err trackers_load(struct lw_watch *w, char *err, size_t errlen)
{
    enum lw_err e = w->trackers ? LW_OK : lw_trackers_new(&w->trackers);

    /* the engine says watched; alerts are queued as the engine's are */
    w->trackers_hooks =
        (struct lw_trackers_hooks){trackers_watched, on_alert, w};
    if (e == LW_OK)
        e = lw_trackers_load(w->trackers, w->store, w->cfg->offline_after_ms);
    if (e != LW_OK)
        lw_seterr(err, errlen, "cannot group the trackers by vehicle: %s",
                  e == LW_ERR_NOMEM ? lw_strerror(e)
                                    : lw_store_errmsg(w->store));
    return e;
}

enum lw_err lw_watch_new(struct lw_watch **out, struct lw_store *store,
                         const struct lw_config *cfg,
                         const struct lw_watch_handlers *h, void *ctx,
                         char *err, size_t errlen)
{
    struct lw_alert_cfg ac;
    struct lw_watch *w;
    enum lw_err e;

    if (!out || !store || !cfg) {
        lw_seterr(err, errlen, "lw_watch_new: missing argument");
        return LW_ERR_INVAL;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        lw_seterr(err, errlen, "out of memory");
        return LW_ERR_NOMEM;
    }
    w->store = store;
    w->cfg = cfg;
    if (h)
        w->h = *h;
    w->ctx = ctx;
    alert_cfg(cfg, &ac);
    e = lw_engine_new(&w->engine, &ac, on_alert, w);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot create the alert engine: %s",
                  lw_strerror(e));
        free(w);
        return e;
    }
    *out = w;
    return LW_OK;
}

void lw_watch_free(struct lw_watch *w)
{
    if (!w)
        return;
    lw_engine_free(w->engine); /* before the fences it borrows */
    lw_fenceset_free(w->fences);
    for (size_t i = w->jobs_head; i < w->njobs; i++)
        lw_places_free(w->jobs[i].pl);
    free(w->jobs);
    for (size_t i = 0; i < w->nqueue; i++)
        free(w->queue[i].places);
    lw_devmap_release(&w->devices);
    lw_tz_free(w->tz);
    lw_trackers_free(w->trackers);
    free(w->queue);
    free(w);
}

void lw_watch_set_cfg(struct lw_watch *w, const struct lw_config *cfg)
{
    struct lw_alert_cfg ac;

    if (!w || !cfg)
        return;
    w->cfg = cfg;
    alert_cfg(cfg, &ac);
    lw_engine_set_cfg(w->engine, &ac);
}

/* ---- the device states ------------------------------------------------ */

static struct lw_dstate *dev(struct lw_watch *w, const char *device)
{
    return lw_devmap_get(&w->devices, device, true);
}

/* d's state must be handed out again (urgent: at the next sweep, whatever
 * its interval). */
static void mark_dirty(struct lw_dstate *d, bool urgent)
{
    d->dirty = true;
    if (urgent)
        d->urgent = true;
}

/* What the database says of d (vehicle, account, open alerts) changed:
 * read that part again when its state is next built. */
static void invalidate(struct lw_dstate *d, bool urgent)
{
    lw_dextras_free(d->extras);
    d->extras = NULL;
    mark_dirty(d, urgent);
}

/* Keeps f as d's newest fix. */
static void set_fix(struct lw_dstate *d, const struct lw_fix *f)
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
    struct lw_dextras *x; /* where the open alerts go */
    size_t cap;           /* allocated x->alerts */
    bool oom;             /* out of memory */
};

static int collect_open(void *ctx, const struct lw_alert_row *r)
{
    struct alerts_ctx *c = ctx;
    struct lw_dalert *a;

    if (!grow((void **)&c->x->alerts, &c->cap, c->x->nalerts + 1, 2,
              sizeof(*c->x->alerts))) {
        c->oom = true;
        return 1;
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
 * NULL when out of memory or when the store cannot be read (the state
 * stays due and is tried again). */
/* lw_install_cb: one more tracker of the device's vehicle into x. */
static int collect_tracker(void *ctx, const struct lw_install *r)
{
    struct alerts_ctx *ac = ctx;
    struct lw_dextras *x = ac->x;
    char **n = realloc(x->trackers, (x->ntrackers + 1) * sizeof(*n));

    if (!n || !(n[x->ntrackers] = strdup(r->device))) {
        if (n)
            x->trackers = n;
        ac->oom = true;
        return 1;
    }
    x->trackers = n;
    x->ntrackers++;
    return 0;
}

/* The vehicle of device when it has other trackers now: false on a
 * database error. */
static bool vehicle_extras(struct lw_watch *w, const char *device,
                           struct alerts_ctx *ac)
{
    struct lw_install r;
    char name[LW_VIN_MAX + 32];
    enum lw_err e = lw_registry_vehicle_of(w->store, device, &r);

    if (e == LW_ERR_NOTFOUND)
        return true;
    if (e == LW_OK)
        e = lw_registry_installs(w->store, r.vehicle_id, true,
                                 collect_tracker, ac);
    if (e != LW_OK)
        return ac->oom;
    if (ac->x->ntrackers < 2)
        return true; /* alone: the device is the vehicle */
    if (r.vin[0])
        snprintf(name, sizeof(name), "%s", r.vin);
    else
        snprintf(name, sizeof(name), LW_FLEET_ID_PREFIX "%lld",
                 (long long)r.vehicle_id);
    ac->x->fleet = opt_dup(name, &ac->oom);
    ac->x->role = opt_dup(r.role, &ac->oom);
    return true;
}

static struct lw_dextras *build_extras(struct lw_watch *w, const char *device)
{
    struct lw_vehicle v;
    struct lw_account a;
    struct lw_alert_filter f = {.device = device, .open_only = true};
    struct alerts_ctx ac = {.x = calloc(1, sizeof(struct lw_dextras))};
    struct lw_dextras *x = ac.x;
    enum lw_err ev, ea = LW_ERR_NOTFOUND;
    bool failed = false;

    if (!x)
        return NULL;
    ev = lw_registry_vehicle_get(w->store, device, &v);
    if (ev == LW_OK && v.account[0])
        ea = lw_registry_account_get(w->store, v.account, &a);
    failed = (ev != LW_OK && ev != LW_ERR_NOTFOUND) ||
             (ea != LW_OK && ea != LW_ERR_NOTFOUND);
    if (ev == LW_OK) {
        x->vin = opt_dup(v.vin, &ac.oom);
        x->plate = opt_dup(v.plate, &ac.oom);
        x->description = opt_dup(v.description, &ac.oom);
        x->account = opt_dup(v.account, &ac.oom);
    }
    x->has_days_past_due = ea == LW_OK;
    x->days_past_due = ea == LW_OK ? a.days_past_due : 0;
    /* alerts are raised for registered vehicles only: no query otherwise */
    if (ev == LW_OK && !ac.oom && !failed &&
        lw_registry_alerts(w->store, &f, collect_open, &ac) != LW_OK && !ac.oom)
        failed = true;
    if (ev == LW_OK && !ac.oom && !failed && !vehicle_extras(w, device, &ac))
        failed = true;
    if (ac.oom || failed) {
        lw_dextras_free(x);
        return NULL;
    }
    return x;
}

/* The JSON object of x, in the state topic's key order. */
static json_t *extras_json(const struct lw_dextras *x)
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
        const struct lw_dalert *a = &x->alerts[i];
        json_t *e = json_object();

        json_object_set_new(e, "id", json_integer(a->id));
        json_object_set_new(e, "kind",
                            json_string(lw_alert_kind_name(a->kind)));
        json_object_set_new(e, "state",
                            json_string(lw_alert_state_name(a->state)));
        json_object_set_new(
            e, "opened_at",
            json_string(lw_time_format(a->opened_ms, tbuf, sizeof(tbuf))));
        if (a->fence)
            json_object_set_new(e, "geofence", json_string(a->fence));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "open_alerts", arr);
    if (x->fleet) { /* a vehicle with several trackers */
        json_t *t = json_array();

        for (size_t i = 0; i < x->ntrackers; i++)
            json_array_append_new(t, json_string(x->trackers[i]));
        json_object_set_new(o, "vehicle",
                            json_pack("{s:s, s:o, s:o}", "vehicle", x->fleet,
                                      "role", lw_json_str_or_null(x->role),
                                      "trackers", t));
    }
    return o;
}

/* The last_fix member of a state. */
static json_t *fix_json(const struct lw_dstate *d, int64_t now_ms)
{
    char tbuf[LW_TIME_BUFLEN];
    json_t *f;

    if (!d->has_fix)
        return json_null();
    f = json_object();
    json_object_set_new(f, "lat", json_real(d->lat_deg));
    json_object_set_new(f, "lon", json_real(d->lon_deg));
    json_object_set_new(
        f, "fix_time",
        json_string(lw_time_format(d->fix_time_ms, tbuf, sizeof(tbuf))));
    json_object_set_new(f, "age_s",
                        json_real((double)(now_ms - d->fix_time_ms) / 1e3));
    json_object_set_new(f, "speed_mps", lw_json_num_or_null(d->speed_mps));
    json_object_set_new(f, "course_deg", lw_json_num_or_null(d->course_deg));
    json_object_set_new(f, "accuracy_m", lw_json_num_or_null(d->accuracy_m));
    return f;
}

/* d's retained state as JSON text (free()); NULL when out of memory or
 * when its database part cannot be read now. */
static char *state_text(struct lw_watch *w, struct lw_dstate *d, int64_t now_ms)
{
    char tbuf[LW_TIME_BUFLEN];
    bool watched;
    json_t *o;
    char *s;

    if (!d->extras)
        d->extras = build_extras(w, d->device);
    if (!d->extras)
        return NULL;
    o = extras_json(d->extras);
    watched = lw_engine_watched(w->engine, d->device);
    json_object_set_new(o, "device", json_string(d->device));
    json_object_set_new(o, "watched", json_boolean(watched));
    json_object_set_new(
        o, "last_heard",
        d->last_heard_ms
            ? json_string(lw_time_format(d->last_heard_ms, tbuf, sizeof(tbuf)))
            : json_null());
    /* a borrower who pays is nobody's business: no position unless the
     * vehicle is watched or the operator opted in ([privacy]
     * publish_unwatched) */
    json_object_set_new(
        o, "last_fix",
        watched || strcmp(w->cfg->privacy_publish_unwatched, "yes") == 0
            ? fix_json(d, now_ms)
            : json_null());
    json_object_set_new(
        o, "at", json_string(lw_time_format(now_ms, tbuf, sizeof(tbuf))));
    s = json_dumps(o, JSON_FLAGS);
    json_decref(o);
    return s;
}

/* Hands d's state to cb; LW_OK when cb took it (d is clean then). */
static enum lw_err emit(struct lw_watch *w, struct lw_dstate *d, int64_t now_ms,
                        lw_watch_state_cb cb, void *ctx)
{
    char *s = state_text(w, d, now_ms);
    int rc;

    if (!s)
        return LW_ERR_NOMEM;
    rc = cb(ctx, d->device, s, strlen(s));
    free(s);
    if (rc != 0)
        return LW_ERR_IO;
    d->last_pub_ms = now_ms;
    d->dirty = d->urgent = false;
    return LW_OK;
}

enum lw_err lw_watch_state_emit(struct lw_watch *w, const char *device,
                                int64_t now_ms, lw_watch_state_cb cb, void *ctx)
{
    struct lw_dstate *d;

    if (!w || !device || !cb)
        return LW_ERR_INVAL;
    d = lw_devmap_get(&w->devices, device, false);
    if (!d)
        return LW_ERR_NOTFOUND;
    return emit(w, d, now_ms, cb, ctx);
}

size_t lw_watch_state_sweep(struct lw_watch *w, int64_t now_ms, size_t budget,
                            lw_watch_state_cb cb, void *ctx)
{
    struct lw_devmap *m = &w->devices;
    size_t handed = 0;

    for (size_t n = 0; n < m->cap && handed < budget; n++) {
        size_t i = (w->sweep_pos + n) & (m->cap - 1);
        struct lw_dstate *d = m->slots[i];

        if (d && d->dirty &&
            (d->urgent ||
             now_ms - d->last_pub_ms >= w->cfg->state_interval_ms)) {
            (void)emit(w, d, now_ms, cb, ctx); /* a refused one stays due */
            handed++;
        }
        if (handed == budget)
            w->sweep_pos = i + 1;
    }
    return handed;
}

/* ---- registry ---------------------------------------------------------- */

/* Context of the registry callbacks. */
struct load_ctx {
    struct lw_watch *w; /* the watch */
    int64_t now_ms;     /* the load's time */
};

static int load_vehicle(void *ctx, const struct lw_vehicle *v)
{
    struct load_ctx *l = ctx;
    struct lw_vehicle_reg reg = {0};
    struct lw_dstate *d;

    lw_copy(reg.account, sizeof(reg.account), v->account);
    reg.offline_after_ms = v->offline_after_ms > 0 ? v->offline_after_ms : 0;
    reg.registered_ms = v->registered_ms;
    lw_engine_set_vehicle(l->w->engine, v->device, &reg, l->now_ms);
    l->w->nvehicles++;
    d = dev(l->w, v->device);
    if (d)
        invalidate(d, false);
    return 0;
}

/* The newest queued status of account, NULL when none is queued. */
static const struct lw_account *queued_account(const struct lw_watch *w,
                                               const char *account)
{
    for (size_t i = w->nqueue; i > 0 && w->queued_accounts; i--) {
        const struct entry *q = &w->queue[i - 1];
        if (q->kind == ENTRY_ACCOUNT &&
            strcmp(q->u.account.account, account) == 0)
            return &q->u.account;
    }
    return NULL;
}

/* The days past due the engine watches by: an account paid off or closed
 * is never watched, whatever days past due it still carries
 * (lw_access_account_watched), so it goes in as current. */
static int engine_days(int days_past_due, const char *status)
{
    return lw_access_account_ended(status) ? 0 : days_past_due;
}

/* A status still queued is newer than the stored one: it wins (the engine
 * must not see the account go back and forth, which would forget and then
 * raise again what was already raised). */
static int load_account(void *ctx, const struct lw_account *a)
{
    struct load_ctx *l = ctx;
    const struct lw_account *q = queued_account(l->w, a->account);

    lw_engine_set_account(l->w->engine, a->account,
                          q ? engine_days(q->days_past_due, q->status)
                            : engine_days(a->days_past_due, a->status),
                          l->now_ms);
    return 0;
}

/* (Re)reads the fences into the engine. */
static enum lw_err load_fences(struct lw_watch *w, char *err, size_t errlen)
{
    struct lw_watch_fences f;
    enum lw_err e;

    e = lw_watch_fences_load(w->store, w->h.fence_skipped, w->ctx, &f, err,
                             errlen);
    if (e != LW_OK)
        return e;
    e = lw_engine_set_fences(w->engine, f.set, f.links, f.nlinks,
                             f.max_dwell_ms);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot apply the geofences: %s",
                  lw_strerror(e));
        lw_watch_fences_release(&f);
        return e;
    }
    lw_fenceset_free(w->fences);
    w->fences = f.set;
    f.set = NULL;
    w->nfences = f.count;
    w->fences_skipped = f.skipped;
    lw_watch_fences_release(&f);
    return LW_OK;
}

/* A removed tracker: its vehicle is on no account for the engine (never
 * watched). */
static int load_removed(void *ctx, const char *device)
{
    struct load_ctx *l = ctx;
    struct lw_vehicle_reg reg = {0};
    struct lw_vehicle v;

    if (lw_registry_vehicle_get(l->w->store, device, &v) != LW_OK)
        return 0; /* not registered: nothing to unwatch */
    reg.registered_ms = v.registered_ms;
    lw_engine_set_vehicle(l->w->engine, device, &reg, l->now_ms);
    return 0;
}

/* (Re)reads vehicles, then accounts (which may raise alerts). */
static enum lw_err load_vehicles_accounts(struct lw_watch *w, int64_t now_ms,
                                          char *err, size_t errlen)
{
    struct load_ctx l = {w, now_ms};
    int64_t rv = 0;

    w->nvehicles = 0;
    if (lw_registry_version(w->store, &rv, NULL) != LW_OK ||
        lw_registry_vehicles(w->store, load_vehicle, &l) != LW_OK ||
        lw_registry_removed(w->store, load_removed, &l) != LW_OK ||
        lw_registry_accounts(w->store, load_account, &l) != LW_OK) {
        lw_seterr(err, errlen, "cannot read vehicles and accounts: %s",
                  lw_store_errmsg(w->store));
        return LW_ERR_DB;
    }
    w->registry_version = rv;
    return trackers_load(w, err, errlen);
}

/* Marks the state of a device whose alert another connection changed. */
static int alert_changed(void *ctx, const struct lw_alert_row *r)
{
    struct lw_watch *w = ctx;
    struct lw_dstate *d = dev(w, r->a.device);

    if (d)
        invalidate(d, true);
    return 0;
}

enum lw_err lw_watch_poll(struct lw_watch *w, int64_t now_ms, unsigned *what,
                          char *err, size_t errlen)
{
    int64_t dv = 0, rv = 0, av = 0;
    enum lw_err e;

    if (what)
        *what = 0;
    e = lw_store_data_version(w->store, &dv);
    if (e == LW_OK && dv == w->data_version)
        return LW_OK;
    if (e == LW_OK)
        e = lw_registry_version(w->store, &rv, &av);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot read the registry versions: %s",
                  lw_store_errmsg(w->store));
        return e;
    }
    if (rv != w->registry_version) {
        e = load_fences(w, err, errlen);
        if (e == LW_OK)
            e = load_vehicles_accounts(w, now_ms, err, errlen);
        if (e != LW_OK)
            return e; /* data_version kept: tried again next time */
        if (what)
            *what |= LW_WATCH_RELOADED;
    }
    if (av != w->alerts_version) {
        struct lw_alert_filter f = {.changed_since_ms = w->alerts_checked_ms};

        e = lw_registry_alerts(w->store, &f, alert_changed, w);
        if (e != LW_OK) {
            lw_seterr(err, errlen, "cannot read changed alerts: %s",
                      lw_store_errmsg(w->store));
            return e;
        }
        w->alerts_version = av;
        w->alerts_checked_ms = now_ms - ALERTS_CHANGED_SLACK_MS;
        if (what)
            *what |= LW_WATCH_ALERTS_CHANGED;
    }
    w->data_version = dv;
    return LW_OK;
}

/* ---- restore ------------------------------------------------------------- */

/*
 * What the past alerts say of each device, in a scratch map of struct
 * lw_dstate whose fields mean here:
 *   urgent                 silent: the latest offline/back_online alert is
 *                          "offline";
 *   pw_fix_ms              fix time of the latest parked_long alert, 0;
 *   pw.last_new_night_ms   fix time of the latest new_overnight_place, 0;
 *   pw.away                a long_move alert is not closed.
 */
struct restore_ctx {
    struct lw_watch *w;       /* the watch */
    struct lw_devmap silence; /* per device: see above */
};

/* A device whose latest offline/back_online alert is "offline" is still
 * silent and alerted: restored so a restart does not raise it again. The
 * alerts come oldest first. The latest parked_long and new_overnight_place
 * and an open long_move are noted for resume_places. */
static int note_silence(void *ctx, const struct lw_alert_row *r)
{
    struct restore_ctx *rc = ctx;
    struct lw_dstate *o;
    int64_t t = r->a.has_fix ? r->a.fix.fix_time_ms : r->a.raised_ms;

    if (r->a.kind != LW_ALERT_OFFLINE && r->a.kind != LW_ALERT_BACK_ONLINE &&
        r->a.kind != LW_ALERT_PARKED_LONG &&
        r->a.kind != LW_ALERT_NEW_OVERNIGHT_PLACE &&
        r->a.kind != LW_ALERT_LONG_MOVE)
        return 0;
    o = lw_devmap_get(&rc->silence, r->a.device, true);
    if (!o)
        return 1;
    switch (r->a.kind) {
    case LW_ALERT_PARKED_LONG:
        if (t > o->pw_fix_ms)
            o->pw_fix_ms = t;
        break;
    case LW_ALERT_NEW_OVERNIGHT_PLACE:
        if (t > o->pw.last_new_night_ms)
            o->pw.last_new_night_ms = t;
        break;
    case LW_ALERT_LONG_MOVE:
        o->pw.away = o->pw.away || r->state != LW_ALERT_CLOSED;
        break;
    default:
        o->urgent = r->a.kind == LW_ALERT_OFFLINE;
    }
    return 0;
}

/* Every silent device, heard or not (a registered vehicle never heard from
 * goes offline from its registration and is not in the device table); the
 * device pass then adds what the heard ones last did. */
static void restore_silent(void *ctx, struct lw_dstate *o)
{
    struct lw_watch *w = ctx;

    if (o->urgent)
        lw_engine_restore(w->engine, o->device, 0, NULL, true);
}

static int restore_device(void *ctx, const struct lw_device_info *di)
{
    struct restore_ctx *rc = ctx;
    struct lw_watch *w = rc->w;
    struct lw_fix f;
    bool has =
        di->last_fix_ms && lw_store_last_fix(w->store, di->device, &f) == LW_OK;
    struct lw_dstate *o = lw_devmap_get(&rc->silence, di->device, false);
    struct lw_dstate *d = dev(w, di->device);

    lw_engine_restore(w->engine, di->device, di->last_heard_ms, has ? &f : NULL,
                      o && o->urgent);
    if (d) {
        d->last_heard_ms = di->last_heard_ms;
        if (has)
            set_fix(d, &f);
    }
    return 0;
}

static int restore_fence_state(void *ctx, const struct lw_alert_row *r)
{
    struct lw_watch *w = ctx;
    bool dwell = r->a.kind == LW_ALERT_DWELL;

    if (r->a.kind != LW_ALERT_GEOFENCE_EXIT &&
        r->a.kind != LW_ALERT_GEOFENCE_ENTER && !dwell)
        return 0;
    /* a fence removed since then is simply not restored */
    lw_engine_restore_fence(w->engine, r->a.device, r->a.fence_tag,
                            r->a.has_fix ? r->a.fix.fix_time_ms : 0, dwell);
    return 0;
}

static const struct lw_tz *places_tz(struct lw_watch *w);
static void queue_places(struct lw_watch *w, struct lw_dstate *d,
                         const struct lw_fix *f);

/* The last local night_hour:00 at or before t_ms in tz; 0 when none could
 * be found (then t_ms itself serves). */
static int64_t night_at_or_before(const struct lw_tz *tz, int64_t t_ms)
{
    int64_t from = t_ms - NIGHT_SEARCH_MS, first = 0;

    /* a day holds one such instant, two around a change of offset */
    while (lw_places_nights_between(tz, LW_PLACES_NIGHT_HOUR, from, t_ms,
                                    &first) > 1)
        from = first + 1;
    return first;
}

/*
 * After a restart, what a watched vehicle (d, with its newest fix) was
 * doing: the stay parked_long measures (from the stored history, so that a
 * car parked six days before the restart raises it at seven, and one
 * already alerted is not alerted again for the same stay), and its night
 * baseline (placewatch.h): watched since the night of its newest fix at
 * the latest (nights after that are judged), the night of its latest
 * new_overnight_place already alerted, a long_move trip not over. The
 * baseline itself (the usual night place) is computed again at its next
 * fix.
 */
struct resume_ctx {
    struct lw_watch *w;      /* the watch */
    struct lw_devmap *notes; /* note_silence's scratch map */
};

/*
 * The parked_long stay of d (with its newest fix) as the stored history
 * shows it, to the engine; alerted_ms is the fix time of its latest
 * parked_long alert (0: none), which raised that stay's alert when it lies
 * in it.
 */
static void resume_stay(struct lw_watch *w, struct lw_dstate *d,
                        int64_t alerted_ms)
{
    int64_t parked_after = w->cfg->parked_alert_after_ms;
    struct lw_fix n, first;
    int64_t from;

    d->stay_checked = true;
    if (parked_after <= 0 || !d->has_fix)
        return;
    from = d->fix_time_ms - STAY_LOOKBACK * parked_after;
    lw_fix_init(&n);
    lw_copy(n.device, sizeof(n.device), d->device);
    n.fix_time_ms = d->fix_time_ms;
    n.lat_deg = d->lat_deg;
    n.lon_deg = d->lon_deg;
    n.accuracy_m = d->accuracy_m;
    if (alerted_ms && alerted_ms < from)
        from = alerted_ms;
    if (lw_store_stay_start(w->store, &n, LW_ALERT_PARKED_RADIUS_M,
                            LW_ALERT_PARKED_RADIUS_M, from, &first) == LW_OK)
        lw_engine_restore_stay(w->engine, d->device, first.lat_deg,
                               first.lon_deg, first.fix_time_ms,
                               alerted_ms >= first.fix_time_ms);
}

static void resume_places(void *ctx, struct lw_dstate *d)
{
    struct resume_ctx *rc = ctx;
    struct lw_watch *w = rc->w;
    const struct lw_dstate *o = lw_devmap_get(rc->notes, d->device, false);
    const struct lw_tz *tz = places_tz(w);
    int64_t night;

    if (!d->has_fix || !lw_engine_watched(w->engine, d->device))
        return;
    resume_stay(w, d, o ? o->pw_fix_ms : 0);
    night = night_at_or_before(tz, d->fix_time_ms);
    d->pw.watched_from_ms = night ? night : d->fix_time_ms;
    if (o && o->pw.last_new_night_ms)
        d->pw.last_new_night_ms =
            night_at_or_before(tz, o->pw.last_new_night_ms);
    d->pw.away = o && o->pw.away;
    /* its places are computed again in the background from its newest
     * fix: the usual night place, a night not judged before the stop, and
     * the top places its offline mail names */
    {
        struct lw_fix n;

        lw_fix_init(&n);
        lw_copy(n.device, sizeof(n.device), d->device);
        n.fix_time_ms = d->fix_time_ms;
        n.recv_time_ms = d->recv_time_ms;
        n.lat_deg = d->lat_deg;
        n.lon_deg = d->lon_deg;
        n.speed_mps = d->speed_mps;
        n.course_deg = d->course_deg;
        n.accuracy_m = d->accuracy_m;
        d->pw_fix_ms = n.fix_time_ms;
        queue_places(w, d, &n);
    }
}

enum lw_err lw_watch_restore(struct lw_watch *w, int64_t now_ms, char *err,
                             size_t errlen)
{
    struct restore_ctx rc = {.w = w};
    struct lw_alert_filter open = {.open_only = true};
    enum lw_err e;

    if (!w)
        return LW_ERR_INVAL;
    w->alerts_checked_ms = now_ms;
    e = lw_store_data_version(w->store, &w->data_version);
    if (e == LW_OK)
        e = lw_registry_version(w->store, NULL, &w->alerts_version);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot read the registry versions: %s",
                  lw_store_errmsg(w->store));
        return e;
    }
    /* fences first, then what each device last did and which conditions
     * already have open alerts, then vehicles and accounts: a vehicle
     * watched at start that went silent while we were down gets its
     * offline alert now, unless one is already open */
    e = load_fences(w, err, errlen);
    if (e != LW_OK)
        return e;
    e = lw_registry_alerts(w->store, NULL, note_silence, &rc);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot read past alerts: %s",
                  lw_store_errmsg(w->store));
        goto out_release;
    }
    lw_devmap_each(&rc.silence, restore_silent, w);
    e = lw_store_devices(w->store, restore_device, &rc);
    if (e == LW_OK)
        e = lw_registry_alerts(w->store, &open, restore_fence_state, w);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot restore device state: %s",
                  lw_store_errmsg(w->store));
        goto out_release;
    }
    e = load_vehicles_accounts(w, now_ms, err, errlen);
    if (e == LW_OK) {
        struct resume_ctx xc = {w, &rc.silence};

        lw_devmap_each(&w->devices, resume_places, &xc);
    }
out_release:
    lw_devmap_release(&rc.silence);
    return e;
}

/* ---- events ---------------------------------------------------------- */

/* [places] timezone, loaded again when it changed; NULL (UTC) when it
 * cannot be read. */
static const struct lw_tz *places_tz(struct lw_watch *w)
{
    char err[128];

    if (w->tz_loaded && strcmp(w->tz_zone, w->cfg->places_timezone) == 0)
        return w->tz;
    lw_tz_free(w->tz);
    w->tz = NULL;
    if (lw_tz_load(w->cfg->places_timezone, &w->tz, err, sizeof(err)) != LW_OK)
        w->tz = NULL;
    snprintf(w->tz_zone, sizeof(w->tz_zone), "%s", w->cfg->places_timezone);
    w->tz_loaded = true;
    return w->tz;
}

/* lw_alert_row_cb: an open long_move means the trip goes on (a restart
 * does not raise it again). */
static int open_long_move(void *ctx, const struct lw_alert_row *r)
{
    if (r->a.kind == LW_ALERT_LONG_MOVE)
        *(bool *)ctx = true;
    return 0;
}

/* Queues an alert of kind about f (the fix that showed it), with moved_m. */
static void place_alert(struct lw_watch *w, enum lw_alert_kind kind,
                        const struct lw_fix *f, double moved_m, int64_t now_ms)
{
    struct lw_alert a;

    memset(&a, 0, sizeof(a));
    a.kind = kind;
    snprintf(a.device, sizeof(a.device), "%s", f->device);
    a.raised_ms = now_ms;
    a.has_fix = true;
    a.fix = *f;
    a.moved_m = moved_m;
    on_alert(w, &a);
}

/* The queued places computation of d, NULL when none. */
static struct place_job *job_of(struct lw_watch *w, const struct lw_dstate *d)
{
    for (size_t i = w->jobs_head; i < w->njobs; i++) {
        if (w->jobs[i].d == d)
            return &w->jobs[i];
    }
    return NULL;
}

/* Queues a places computation of d up to f (or moves its end to f when one
 * is queued). Out of memory: not queued (the next fix asks again). */
static void queue_places(struct lw_watch *w, struct lw_dstate *d,
                         const struct lw_fix *f)
{
    struct place_job *j;

    if (d->pw_queued && (j = job_of(w, d)) != NULL) {
        j->fix = *f;
        return;
    }
    if (w->jobs_head > 0 && w->jobs_head == w->njobs)
        w->jobs_head = w->njobs = 0;
    if (!grow((void **)&w->jobs, &w->capjobs, w->njobs + 1, QUEUE_INITIAL,
              sizeof(*w->jobs)))
        return;
    j = &w->jobs[w->njobs++];
    memset(j, 0, sizeof(*j));
    j->d = d;
    j->fix = *f;
    j->next_ms = f->fix_time_ms - LW_PLACEWATCH_HISTORY_MS;
    d->pw_queued = true;
}

/*
 * new_overnight_place and long_move for f, an accepted live fix of a
 * watched vehicle (d its state). The places of its last
 * LW_PLACEWATCH_HISTORY_MS of history are computed again at its first fix
 * after a local 03:00 (a night it may have spent somewhere new) or after
 * PLACES_CHECK_MS: that reads up to 61 days of history (about 0.3 s for 30 s
 * fixes), so it is only queued here and done in slices by
 * lw_watch_places_step. Other fixes only measure their distance from the
 * usual night place (long_move).
 */
static void check_places(struct lw_watch *w, struct lw_dstate *d,
                         const struct lw_fix *f, int64_t now_ms)
{
    const struct lw_tz *tz = places_tz(w);
    double long_move_m = w->cfg->places_long_move_km * M_PER_KM;

    if (!lw_engine_watched(w->engine, f->device)) {
        d->pw.watched_from_ms = 0; /* watched again: a new baseline */
        return;
    }
    if (!d->pw.watched_from_ms) {
        struct lw_alert_filter af = {.device = f->device, .open_only = true};

        d->pw.watched_from_ms = f->fix_time_ms;
        d->pw.away = false;
        if (lw_registry_alerts(w->store, &af, open_long_move, &d->pw.away) !=
            LW_OK)
            d->pw.away = false;
    }
    if (d->pw_fix_ms && f->fix_time_ms - d->pw_fix_ms < PLACES_CHECK_MS &&
        lw_places_nights_between(tz, LW_PLACES_NIGHT_HOUR, d->pw_fix_ms + 1,
                                 f->fix_time_ms, NULL) == 0) {
        double dist;

        if (lw_placewatch_move(&d->pw, f->lat_deg, f->lon_deg, long_move_m,
                               &dist))
            place_alert(w, LW_ALERT_LONG_MOVE, f, dist, now_ms);
        return;
    }
    d->pw_fix_ms = f->fix_time_ms;
    queue_places(w, d, f);
}

/* Slice reader: adds fixes to the job's places until the budget is spent
 * (then stops the read: the next slice goes on from there). */
struct slice {
    struct place_job *j; /* the job */
    size_t left;         /* fixes this slice may still read */
    bool oom;            /* out of memory */
};

static int slice_add(void *ctx, const struct lw_fix *f)
{
    struct slice *sl = ctx;

    if (lw_places_add(sl->j->pl, f) != LW_OK) {
        sl->oom = true;
        return 1;
    }
    sl->j->next_ms = f->fix_time_ms + 1;
    return --sl->left == 0;
}

/* Ends the first job: frees what it holds and pops it. */
static void job_done(struct lw_watch *w)
{
    struct place_job *j = &w->jobs[w->jobs_head++];

    lw_places_free(j->pl);
    j->pl = NULL;
    j->d->pw_queued = false;
    if (w->jobs_head == w->njobs)
        w->jobs_head = w->njobs = 0;
}

/* lw_alert_row_cb: the latest parked_long's fix time into *ctx. */
static int latest_parked(void *ctx, const struct lw_alert_row *r)
{
    int64_t t = r->a.has_fix ? r->a.fix.fix_time_ms : r->a.raised_ms;

    if (r->a.kind == LW_ALERT_PARKED_LONG && t > *(int64_t *)ctx)
        *(int64_t *)ctx = t;
    return 0;
}

/* The first job's history is read: its places, what they show, and the
 * top places kept for the vehicle's offline mail. A vehicle that became
 * watched after the start gets its parked_long stay from the history here
 * (its stay began maybe before the start), off the path of its fixes. */
static void job_judge(struct lw_watch *w, struct place_job *j, int64_t now_ms)
{
    struct lw_placewatch_cfg pc = {
        .new_place_m = w->cfg->places_new_place_km * M_PER_KM,
        .long_move_m = w->cfg->places_long_move_km * M_PER_KM,
    };
    const struct lw_tz *tz = places_tz(w);
    struct lw_placewatch_out out;
    struct lw_dstate *d = j->d;
    const struct lw_fix *f = &j->fix;
    char err[128];

    if (lw_places_compute(j->pl, tz, f->fix_time_ms, err, sizeof(err)) != LW_OK)
        return;
    free(d->places_text);
    d->places_text = lw_outbox_places_format(j->pl, tz, f->fix_time_ms, false);
    /* no longer watched meanwhile: its next watched fix starts over */
    if (!lw_engine_watched(w->engine, f->device) || !d->pw.watched_from_ms)
        return;
    if (!d->stay_checked) {
        struct lw_alert_filter af = {.device = f->device};
        int64_t alerted_ms = 0;

        /* stored, or raised and not stored yet */
        for (size_t i = 0; i < w->nqueue; i++) {
            struct lw_alert_row r = {.a = w->queue[i].u.alert};

            if (w->queue[i].kind == ENTRY_ALERT &&
                strcmp(r.a.device, f->device) == 0)
                latest_parked(&alerted_ms, &r);
        }
        if (lw_registry_alerts(w->store, &af, latest_parked, &alerted_ms) ==
            LW_OK)
            resume_stay(w, d, alerted_ms);
    }
    if (lw_placewatch_judge(j->pl, &pc, &d->pw, &out) != LW_OK)
        return;
    if (out.new_night)
        place_alert(w, LW_ALERT_NEW_OVERNIGHT_PLACE, f, out.from_usual_m,
                    now_ms);
    if (out.long_move)
        place_alert(w, LW_ALERT_LONG_MOVE, f, out.move_m, now_ms);
}

size_t lw_watch_places_step(struct lw_watch *w, int64_t now_ms,
                            size_t max_fixes)
{
    struct place_job *j;
    struct slice sl;
    char err[128];

    if (!w || w->jobs_head == w->njobs)
        return 0;
    j = &w->jobs[w->jobs_head];
    if (j->forgotten) {
        job_done(w);
        goto out;
    }
    if (!j->pl && lw_places_new(NULL, &j->pl, err, sizeof(err)) != LW_OK) {
        job_done(w); /* out of memory: the next check tries again */
        goto out;
    }
    sl = (struct slice){.j = j, .left = max_fixes ? max_fixes : 1};
    /* a failed read is not retried in a loop: the job ends, the vehicle's
     * next check (its next night) tries again */
    if (lw_store_history(w->store, j->fix.device, j->next_ms,
                         j->fix.fix_time_ms, slice_add, &sl) != LW_OK ||
        sl.oom) {
        job_done(w);
        goto out;
    }
    if (sl.left == 0)
        goto out; /* more to read: the next slice */
    job_judge(w, j, now_ms);
    job_done(w);
out:
    return w->njobs - w->jobs_head;
}

size_t lw_watch_places_pending(const struct lw_watch *w)
{
    return w ? w->njobs - w->jobs_head : 0;
}

const char *lw_watch_places_of(struct lw_watch *w, const char *device)
{
    const struct lw_dstate *d;

    if (!w || !device)
        return NULL;
    d = lw_devmap_get(&w->devices, device, false);
    return d ? d->places_text : NULL;
}

enum lw_err lw_watch_fix(struct lw_watch *w, const struct lw_fix *f, bool late,
                         int64_t now_ms)
{
    return lw_watch_fix_judged(w, f, late, NULL, now_ms);
}

enum lw_err lw_watch_fix_judged(struct lw_watch *w, const struct lw_fix *f,
                                bool late, const struct lw_jump_ruling *j,
                                int64_t now_ms)
{
    struct lw_dstate *d;
    enum lw_err e;

    if (!w || !f)
        return LW_ERR_INVAL;
    e = lw_engine_fix_judged(w->engine, f, late, j, now_ms);
    d = dev(w, f->device);
    if (d) {
        if (f->recv_time_ms > d->last_heard_ms)
            d->last_heard_ms = f->recv_time_ms;
        /* a suspect jump (the engine kept it aside) is not the position
         * the state topic shows */
        if (!late && (!d->has_fix || f->fix_time_ms > d->fix_time_ms) &&
            lw_engine_newest_ms(w->engine, f->device) == f->fix_time_ms) {
            set_fix(d, f);
            mark_dirty(d, false);
            check_places(w, d, f, now_ms);
            lw_trackers_fix(w->trackers, f, now_ms, &w->trackers_hooks);
        }
    }
    return e;
}

void lw_watch_forget_fix(struct lw_watch *w, const char *device)
{
    struct lw_dstate *d;

    if (!w || !device)
        return;
    d = lw_devmap_get(&w->devices, device, false);
    if (!d)
        return;
    d->has_fix = false;
    /* nothing of where it was stays: its places, and a check under way */
    free(d->places_text);
    d->places_text = NULL;
    if (d->pw_queued) {
        struct place_job *j = job_of(w, d);

        if (j) {
            lw_places_free(j->pl);
            j->pl = NULL;
            j->forgotten = true;
        }
    }
    invalidate(d, true);
}

enum lw_err lw_watch_heard(struct lw_watch *w, const char *device,
                           int64_t now_ms)
{
    struct lw_dstate *d;

    if (!w || !device)
        return LW_ERR_INVAL;
    d = dev(w, device);
    if (d && now_ms > d->last_heard_ms) {
        d->last_heard_ms = now_ms;
        mark_dirty(d, false);
    }
    lw_trackers_heard(w->trackers, device, now_ms);
    return lw_engine_heard(w->engine, device, now_ms);
}

/* lw_vehicle_cb: the account of this vehicle changed. */
static int account_vehicle(void *ctx, const struct lw_vehicle *v)
{
    struct lw_watch *w = ctx;
    struct lw_dstate *d = lw_devmap_get(&w->devices, v->device, false);

    if (d)
        invalidate(d, true);
    return 0;
}

enum lw_err lw_watch_account(struct lw_watch *w,
                             const struct lw_account_update *u, int64_t now_ms,
                             bool *changed)
{
    const struct lw_account *known;
    struct lw_account stored;
    struct entry *q;
    enum lw_err e = LW_OK;

    if (changed)
        *changed = false;
    if (!w || !u || !u->account[0])
        return LW_ERR_INVAL;
    /* loan servicing's messages are retained, so every reconnection brings
     * all of them again: an unchanged one changes nothing */
    known = queued_account(w, u->account);
    if (!known &&
        lw_registry_account_get(w->store, u->account, &stored) == LW_OK)
        known = &stored;
    if (known && known->days_past_due == u->days_past_due &&
        strcmp(known->status, u->status) == 0)
        return LW_OK;
    if (changed)
        *changed = true;
    q = queue_push(w, ENTRY_ACCOUNT);
    if (q) {
        struct lw_account *a = &q->u.account;

        memset(a, 0, sizeof(*a));
        lw_copy(a->account, sizeof(a->account), u->account);
        lw_copy(a->status, sizeof(a->status), u->status);
        lw_copy(a->source, sizeof(a->source), "mqtt");
        a->days_past_due = u->days_past_due;
        a->updated_ms = now_ms;
    } else {
        e = LW_ERR_NOMEM; /* the engine is told all the same */
    }
    lw_engine_set_account(w->engine, u->account,
                          engine_days(u->days_past_due, u->status), now_ms);
    /* its vehicles change "watched" and days past due in their state */
    if (lw_registry_account_vehicles(w->store, u->account, account_vehicle,
                                     w) != LW_OK &&
        e == LW_OK)
        e = LW_ERR_DB;
    return e;
}

int64_t lw_watch_tick(struct lw_watch *w, int64_t now_ms)
{
    int64_t next = lw_engine_tick(w->engine, NULL, now_ms);
    int64_t tr = lw_trackers_tick(w->trackers, now_ms, &w->trackers_hooks);

    return tr < next ? tr : next;
}

int64_t lw_watch_deadline(const struct lw_watch *w, const char *device)
{
    int64_t next = lw_engine_deadline(w->engine, device);
    int64_t tr = lw_trackers_deadline(w->trackers, device);

    return tr < next ? tr : next;
}

/* ---- storing ---------------------------------------------------------- */

/* Whether a later try may succeed where this one failed: what the database
 * or memory says may change (a lock, a full disk, permissions); a mail that
 * cannot be composed from this alert and these settings will not. */
static bool curable(enum lw_err e)
{
    return e != LW_ERR_CONFIG && e != LW_ERR_INVAL && e != LW_ERR_RANGE;
}

/* Writes entry q (index i) in the open transaction; *mail_err gets why an
 * alert's mail could not be queued when no retry can cure that. */
static enum lw_err store_entry(struct lw_watch *w, const struct entry *q,
                               int64_t *id, enum lw_err *mail_err, char *err,
                               size_t errlen)
{
    const struct lw_alert *a = &q->u.alert;
    struct lw_outbox_opts mail;
    enum lw_err e;

    if (q->kind == ENTRY_ACCOUNT) {
        e = lw_registry_account_set(w->store, &q->u.account);
        if (e != LW_OK)
            lw_seterr(err, errlen, "cannot store the status of account %s: %s",
                      q->u.account.account, lw_store_errmsg(w->store));
        return e;
    }
    e = lw_registry_alert_add(w->store, a, id);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot store the %s alert of %s: %s",
                  lw_alert_kind_name(a->kind), a->device,
                  lw_store_errmsg(w->store));
        return e;
    }
    /* the mail goes in the same transaction as its alert; an offline
     * mail's places were found before it (mail_places) */
    lw_outbox_opts_from_config(&mail, w->cfg);
    e = lw_outbox_enqueue_places(w->store, &mail, *id, a, q->places,
                                 a->raised_ms, NULL);
    if (e != LW_OK && curable(e)) {
        lw_seterr(
            err, errlen, "cannot queue the mail of the %s alert of %s: %s",
            lw_alert_kind_name(a->kind), a->device,
            e == LW_ERR_NOMEM ? lw_strerror(e) : lw_store_errmsg(w->store));
        return e;
    }
    *mail_err = e;
    return LW_OK;
}

/* What became of one queued entry in a flush. */
struct stored {
    int64_t id;       /* an alert's database id */
    enum lw_err mail; /* why its mail is missing, LW_OK */
};

/* meta registry_version into *v, in the flush's transaction. */
static enum lw_err registry_version(struct lw_watch *w, int64_t *v, char *err,
                                    size_t errlen)
{
    enum lw_err e = lw_registry_version(w->store, v, NULL);

    if (e != LW_OK)
        lw_seterr(err, errlen, "cannot read the registry version: %s",
                  lw_store_errmsg(w->store));
    return e;
}

/* Writes the whole queue in one transaction; done[i] gets what became of
 * entry i. Nothing is written unless LW_OK. */
static enum lw_err store_queue(struct lw_watch *w, struct stored *done,
                               char *err, size_t errlen)
{
    int64_t before = 0, after = 0;
    enum lw_err e;

    e = lw_store_begin(w->store);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "cannot begin a transaction: %s",
                  lw_store_errmsg(w->store));
        return e;
    }
    /* the registry version before and after our own account writes: only
     * when nobody else moved it first is the new one ours (we hold the
     * write lock in between) */
    if (w->queued_accounts)
        e = registry_version(w, &before, err, errlen);
    for (size_t i = 0; e == LW_OK && i < w->nqueue; i++)
        e = store_entry(w, &w->queue[i], &done[i].id, &done[i].mail, err,
                        errlen);
    if (e == LW_OK && w->queued_accounts)
        e = registry_version(w, &after, err, errlen);
    if (e == LW_OK) {
        e = lw_store_commit(w->store);
        if (e != LW_OK)
            lw_seterr(err, errlen, "commit failed: %s",
                      lw_store_errmsg(w->store));
    }
    if (e != LW_OK) {
        (void)lw_store_rollback(w->store);
        return e;
    }
    if (w->queued_accounts && before == w->registry_version)
        w->registry_version = after;
    return LW_OK;
}

/*
 * The places each queued offline alert's mail names, found before the
 * transaction that stores it: those kept from the vehicle's last places
 * check (lw_watch_places_step). For a vehicle without one (watched since
 * the start, its check not done yet), read from its history now, outside
 * the transaction, for at most MAIL_PLACES_READS of them per flush (about
 * 40-150 ms each for 30 days of 30 s fixes); the mails of the others say
 * the places were not looked up, and a places check of their vehicles is
 * queued for the mails and digests that follow.
 */
static void mail_places(struct lw_watch *w)
{
    int reads = 0;

    if (!w->cfg->smtp_url[0])
        return; /* no mail */
    for (size_t i = 0; i < w->nqueue; i++) {
        struct entry *q = &w->queue[i];
        struct lw_dstate *d;

        if (q->kind != ENTRY_ALERT || q->u.alert.kind != LW_ALERT_OFFLINE ||
            q->places_ready)
            continue;
        q->places_ready = true; /* NULL: none known (or no memory) */
        d = lw_devmap_get(&w->devices, q->u.alert.device, false);
        if (d && d->places_text) {
            q->places = strdup(d->places_text);
        } else if (!d || !d->has_fix) {
            continue; /* no position stored: no place */
        } else if (reads < MAIL_PLACES_READS) {
            reads++;
            q->places = lw_outbox_places_text(w->store, q->u.alert.device,
                                              w->cfg->places_timezone,
                                              q->u.alert.raised_ms);
        } else {
            struct lw_fix n;

            q->places = strdup(MAIL_PLACES_LATER);
            if (d->pw_queued)
                continue;
            lw_fix_init(&n);
            lw_copy(n.device, sizeof(n.device), d->device);
            n.fix_time_ms = d->fix_time_ms;
            n.recv_time_ms = d->recv_time_ms;
            n.lat_deg = d->lat_deg;
            n.lon_deg = d->lon_deg;
            n.accuracy_m = d->accuracy_m;
            queue_places(w, d, &n);
        }
    }
}

enum lw_err lw_watch_flush(struct lw_watch *w, char *err, size_t errlen)
{
    struct stored *done;
    size_t n;
    enum lw_err e;

    if (!w)
        return LW_ERR_INVAL;
    n = w->nqueue;
    if (n == 0)
        return LW_OK;
    done = calloc(n, sizeof(*done));
    if (!done) {
        lw_seterr(err, errlen, "out of memory");
        return LW_ERR_NOMEM;
    }
    mail_places(w);
    e = store_queue(w, done, err, errlen);
    if (e != LW_OK)
        goto out_free;
    /* stored: the queue is empty before anyone hears of it (the handler
     * must not feed the engine, so nothing is appended meanwhile) */
    w->nqueue = 0;
    w->queued_accounts = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *q = &w->queue[i];
        struct lw_alert_row r;
        struct lw_dstate *d;

        free(q->places);
        if (q->kind != ENTRY_ALERT)
            continue;
        memset(&r, 0, sizeof(r));
        r.id = done[i].id;
        r.a = q->u.alert;
        r.state = LW_ALERT_OPEN;
        w->stored++;
        d = dev(w, r.a.device);
        if (d)
            invalidate(d, true);
        if (w->h.stored)
            w->h.stored(w->ctx, &r, done[i].mail);
    }
out_free:
    free(done);
    return e;
}

size_t lw_watch_pending(const struct lw_watch *w)
{
    return w ? w->nqueue : 0;
}

/* ---- publishing ------------------------------------------------------ */

char *lw_watch_alert_json(struct lw_watch *w, const struct lw_alert_row *r)
{
    struct lw_vehicle v;
    struct lw_account a;
    bool has_v, has_a;
    json_t *o;
    char *s;

    if (!w || !r)
        return NULL;
    has_v = lw_registry_vehicle_get(w->store, r->a.device, &v) == LW_OK;
    has_a = has_v && v.account[0] &&
            lw_registry_account_get(w->store, v.account, &a) == LW_OK;
    o = lw_alert_to_json(r, has_v ? &v : NULL, has_a ? &a : NULL);
    s = o ? json_dumps(o, JSON_FLAGS) : NULL;
    json_decref(o);
    return s;
}

void lw_watch_stats(const struct lw_watch *w, struct lw_watch_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!w)
        return;
    out->fences = w->nfences;
    out->fences_skipped = w->fences_skipped;
    out->vehicles = w->nvehicles;
    out->devices = lw_engine_devices(w->engine);
    out->pending_accounts = w->queued_accounts;
    out->pending_alerts = w->nqueue - w->queued_accounts;
    out->stored = w->stored;
    out->lost = w->lost;
    out->registry_version = w->registry_version;
}
