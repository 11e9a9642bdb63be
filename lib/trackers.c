/*
 * trackers.c - see trackers.h.
 *
 * The devices of vehicles with several trackers sit in one array, grouped
 * by vehicle (each group's devices contiguous, at most
 * LW_TRACKERS_MAX_PER_VEHICLE), found by an open-addressing hash of their
 * ids. Each group keeps, per pair of its devices, how many separated pairs
 * of fixes came in a row and whether the separation was raised.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/geo.h"
#include "lienwatch/registry.h"
#include "lienwatch/trackers.h"

/* One device of a vehicle with several. */
struct tdev {
    char device[LW_DEVICE_MAX + 1]; /* its id */
    int64_t vehicle_id;             /* its vehicle */
    size_t group;                   /* index into groups */
    size_t slot;                    /* its place in the group */
    int64_t allowance_ms;           /* silence allowance, > 0 */
    bool has_fix;                   /* last is set */
    struct lw_fix last;             /* its newest accepted fix */
    int64_t heard_ms;               /* last heard, 0 = never */
    bool lost;                      /* tracker_lost raised, not heard since */
    bool fresh;                     /* new in this grouping (lw_trackers_load
                                       restores it) */
};

/* One vehicle. */
struct tgroup {
    int64_t vehicle_id; /* fleet id */
    size_t first;       /* its first device */
    size_t n;           /* its devices (2 .. MAX_PER_VEHICLE) */
    unsigned char count[LW_TRACKERS_MAX_PER_VEHICLE]
                       [LW_TRACKERS_MAX_PER_VEHICLE]; /* separated pairs in a
                                                         row, [lo][hi] slot */
    bool apart[LW_TRACKERS_MAX_PER_VEHICLE]
              [LW_TRACKERS_MAX_PER_VEHICLE]; /* separation raised */
    int64_t seen[LW_TRACKERS_MAX_PER_VEHICLE][LW_TRACKERS_MAX_PER_VEHICLE]
                [2]; /* fix times (lo, hi) of the last pair counted apart */
};

/* A device given to lw_trackers_group_add, before the grouping ends. */
struct pending {
    int64_t vehicle_id;             /* its vehicle */
    char device[LW_DEVICE_MAX + 1]; /* its id */
    int64_t allowance_ms;           /* its allowance */
};

/* One grouping: devices, groups and the hash over the devices. */
struct grouping {
    struct tdev *dev;   /* devices, by group */
    size_t ndev;        /* entries in dev */
    struct tgroup *grp; /* groups */
    size_t ngrp;        /* entries in grp */
    size_t *hash;       /* device index + 1, 0 = empty */
    size_t hcap;        /* slots in hash (a power of two), 0 = none */
};

struct lw_trackers {
    struct grouping g;    /* the current one */
    struct pending *pend; /* the one being built */
    size_t npend, cappend;
    bool building; /* between begin and end */
};

/* FNV-1a of s. */
static size_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return (size_t)h;
}

static struct tdev *find(const struct grouping *g, const char *device)
{
    size_t i;

    if (!g->hcap || !device)
        return NULL;
    for (i = hash_str(device) & (g->hcap - 1); g->hash[i];
         i = (i + 1) & (g->hcap - 1)) {
        struct tdev *d = &g->dev[g->hash[i] - 1];

        if (strcmp(d->device, device) == 0)
            return d;
    }
    return NULL;
}

static void grouping_free(struct grouping *g)
{
    free(g->dev);
    free(g->grp);
    free(g->hash);
    memset(g, 0, sizeof(*g));
}

enum lw_err lw_trackers_new(struct lw_trackers **out)
{
    if (!out)
        return LW_ERR_INVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? LW_OK : LW_ERR_NOMEM;
}

void lw_trackers_free(struct lw_trackers *t)
{
    if (!t)
        return;
    grouping_free(&t->g);
    free(t->pend);
    free(t);
}

enum lw_err lw_trackers_group_begin(struct lw_trackers *t)
{
    if (!t)
        return LW_ERR_INVAL;
    t->npend = 0;
    t->building = true;
    return LW_OK;
}

enum lw_err lw_trackers_group_add(struct lw_trackers *t, int64_t vehicle_id,
                                  const char *device, int64_t allowance_ms)
{
    struct pending *p;

    if (!t || !t->building || !device || !device[0] ||
        strlen(device) > LW_DEVICE_MAX || allowance_ms <= 0)
        return LW_ERR_INVAL;
    if (t->npend == t->cappend) {
        size_t ncap = t->cappend ? t->cappend * 2 : 16;
        struct pending *n = realloc(t->pend, ncap * sizeof(*n));

        if (!n)
            return LW_ERR_NOMEM;
        t->pend = n;
        t->cappend = ncap;
    }
    p = &t->pend[t->npend++];
    p->vehicle_id = vehicle_id;
    snprintf(p->device, sizeof(p->device), "%s", device);
    p->allowance_ms = allowance_ms;
    return LW_OK;
}

static int pending_cmp(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;

    if (x->vehicle_id != y->vehicle_id)
        return x->vehicle_id < y->vehicle_id ? -1 : 1;
    return strcmp(x->device, y->device);
}

/* Copies the pair states of the new group ng from the old grouping where
 * both devices were in one old group. */
static void carry_pairs(const struct grouping *old, struct grouping *ng,
                        struct tgroup *gr)
{
    for (size_t i = 0; i < gr->n; i++)
        for (size_t j = i + 1; j < gr->n; j++) {
            const struct tdev *a = find(old, ng->dev[gr->first + i].device);
            const struct tdev *b = find(old, ng->dev[gr->first + j].device);
            size_t lo, hi;

            if (!a || !b || a->group != b->group ||
                a->vehicle_id != gr->vehicle_id)
                continue;
            lo = a->slot < b->slot ? a->slot : b->slot;
            hi = a->slot < b->slot ? b->slot : a->slot;
            gr->count[i][j] = old->grp[a->group].count[lo][hi];
            gr->apart[i][j] = old->grp[a->group].apart[lo][hi];
            /* slots in the new group follow device order, as in the old */
            gr->seen[i][j][0] = old->grp[a->group].seen[lo][hi][0];
            gr->seen[i][j][1] = old->grp[a->group].seen[lo][hi][1];
        }
}

enum lw_err lw_trackers_group_end(struct lw_trackers *t)
{
    struct grouping ng = {0};
    size_t i, j, n;

    if (!t || !t->building)
        return LW_ERR_INVAL;
    if (t->npend > 1)
        qsort(t->pend, t->npend, sizeof(*t->pend), pending_cmp);
    ng.dev = calloc(t->npend ? t->npend : 1, sizeof(*ng.dev));
    ng.grp = calloc(t->npend ? t->npend : 1, sizeof(*ng.grp));
    for (ng.hcap = 16; ng.hcap < 2 * t->npend; ng.hcap *= 2)
        ;
    ng.hash = calloc(ng.hcap, sizeof(*ng.hash));
    if (!ng.dev || !ng.grp || !ng.hash) {
        grouping_free(&ng);
        return LW_ERR_NOMEM;
    }
    for (i = 0; i < t->npend; i = j) {
        struct tgroup *gr;

        for (j = i + 1;
             j < t->npend && t->pend[j].vehicle_id == t->pend[i].vehicle_id;
             j++)
            ;
        n = j - i;
        if (n < 2)
            continue; /* one tracker: nothing to compare */
        if (n > LW_TRACKERS_MAX_PER_VEHICLE)
            n = LW_TRACKERS_MAX_PER_VEHICLE;
        gr = &ng.grp[ng.ngrp];
        gr->vehicle_id = t->pend[i].vehicle_id;
        gr->first = ng.ndev;
        gr->n = n;
        for (size_t k = 0; k < n; k++) {
            const struct pending *p = &t->pend[i + k];
            const struct tdev *o = find(&t->g, p->device);
            struct tdev *d = &ng.dev[ng.ndev];
            size_t h;

            if (find(&ng, p->device))
                continue; /* the registry allows no such thing; be safe */
            if (o && o->vehicle_id == p->vehicle_id) {
                *d = *o; /* what it knew */
                d->fresh = false;
            } else {
                memset(d, 0, sizeof(*d));
                snprintf(d->device, sizeof(d->device), "%s", p->device);
                d->fresh = true;
            }
            d->vehicle_id = p->vehicle_id;
            d->group = ng.ngrp;
            d->slot = ng.ndev - gr->first;
            d->allowance_ms = p->allowance_ms;
            for (h = hash_str(d->device) & (ng.hcap - 1); ng.hash[h];
                 h = (h + 1) & (ng.hcap - 1))
                ;
            ng.hash[h] = ng.ndev + 1;
            ng.ndev++;
        }
        gr->n = ng.ndev - gr->first;
        carry_pairs(&t->g, &ng, gr);
        ng.ngrp++;
    }
    grouping_free(&t->g);
    t->g = ng;
    t->building = false;
    return LW_OK;
}

bool lw_trackers_grouped(const struct lw_trackers *t, const char *device)
{
    return t && find(&t->g, device) != NULL;
}

void lw_trackers_restore(struct lw_trackers *t, const char *device,
                         const struct lw_fix *newest, int64_t heard_ms,
                         bool lost)
{
    struct tdev *d = t ? find(&t->g, device) : NULL;

    if (!d)
        return;
    if (newest && (!d->has_fix || newest->fix_time_ms > d->last.fix_time_ms)) {
        d->last = *newest;
        d->has_fix = true;
    }
    if (heard_ms > d->heard_ms)
        d->heard_ms = heard_ms;
    d->lost = d->lost || lost;
}

/* The pair state of devices a and b (one group): [lo][hi] slot; seen (may
 * be NULL) the fix times of the last pair counted, lo's first. */
static void pair_of(struct lw_trackers *t, const struct tdev *a,
                    const struct tdev *b, unsigned char **count, bool **apart,
                    int64_t **seen)
{
    struct tgroup *g = &t->g.grp[a->group];
    size_t lo = a->slot < b->slot ? a->slot : b->slot;
    size_t hi = a->slot < b->slot ? b->slot : a->slot;

    *count = &g->count[lo][hi];
    *apart = &g->apart[lo][hi];
    if (seen)
        *seen = g->seen[lo][hi];
}

void lw_trackers_restore_apart(struct lw_trackers *t, const char *device,
                               const char *other)
{
    struct tdev *a = t ? find(&t->g, device) : NULL;
    struct tdev *b = t ? find(&t->g, other) : NULL;
    unsigned char *count;
    bool *apart;

    if (!a || !b || a == b || a->group != b->group)
        return;
    pair_of(t, a, b, &count, &apart, NULL);
    *apart = true;
    *count = LW_TRACKERS_PAIRS;
}

/* An accuracy in metres, 0 when unknown. */
static double acc_m(const struct lw_fix *f)
{
    return isfinite(f->accuracy_m) && f->accuracy_m > 0 ? f->accuracy_m : 0.0;
}

static double dist_m(const struct lw_fix *a, const struct lw_fix *b)
{
    return lw_geo_distance_m(a->lat_deg, a->lon_deg, b->lat_deg, b->lon_deg);
}

static bool watched(const struct lw_trackers_hooks *h, const struct tdev *a,
                    const struct tdev *b)
{
    return h && h->watched &&
           (h->watched(h->ctx, a->device) || h->watched(h->ctx, b->device));
}

/* Raises kind about device d (its fix) with o (its fix) as the other. */
static void raise_alert(const struct lw_trackers_hooks *h,
                        enum lw_alert_kind kind, const struct tdev *d,
                        const struct lw_fix *fix, const struct tdev *o,
                        double distance_m, int64_t now_ms)
{
    struct lw_alert a;

    if (!h || !h->alert)
        return;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    snprintf(a.device, sizeof(a.device), "%s", d->device);
    a.raised_ms = now_ms;
    a.has_fix = true;
    a.fix = *fix;
    a.moved_m = NAN;
    if (kind == LW_ALERT_TRACKER_LOST)
        a.gap_ms = now_ms - d->heard_ms;
    snprintf(a.other.device, sizeof(a.other.device), "%s", o->device);
    a.other.has_fix = true;
    a.other.fix = o->last;
    a.other.distance_m = distance_m;
    h->alert(h->ctx, &a);
}

/* Silent device b, reporting device a, at now_ms: tracker_lost when due. */
static int check_lost(struct tdev *b, const struct tdev *a, int64_t now_ms,
                      const struct lw_trackers_hooks *h)
{
    double d;

    if (b->lost || !b->heard_ms || !b->has_fix ||
        now_ms - b->heard_ms <= b->allowance_ms / 2)
        return 0; /* not silent past half its allowance */
    if (!a->has_fix || now_ms - a->heard_ms > a->allowance_ms / 2 ||
        a->last.fix_time_ms <= b->last.fix_time_ms)
        return 0; /* the other does not keep reporting */
    d = dist_m(&a->last, &b->last);
    if (d <= fmax(LW_TRACKERS_MOVED_M, acc_m(&a->last) + acc_m(&b->last)))
        return 0; /* it did not move away from where b went quiet */
    if (!watched(h, a, b))
        return 0;
    b->lost = true;
    raise_alert(h, LW_ALERT_TRACKER_LOST, b, &b->last, a, d, now_ms);
    return 1;
}

int lw_trackers_fix(struct lw_trackers *t, const struct lw_fix *f,
                    int64_t now_ms, const struct lw_trackers_hooks *h)
{
    struct tdev *d = t && f ? find(&t->g, f->device) : NULL;
    struct tgroup *g;
    int raised = 0;

    if (!d)
        return 0;
    if (now_ms > d->heard_ms)
        d->heard_ms = now_ms;
    d->lost = false;
    if (d->has_fix && f->fix_time_ms <= d->last.fix_time_ms)
        return 0; /* not newer: no new pair */
    d->last = *f;
    d->has_fix = true;
    g = &t->g.grp[d->group];
    for (size_t i = 0; i < g->n; i++) {
        struct tdev *o = &t->g.dev[g->first + i];
        unsigned char *count;
        bool *apart, d_lo;
        int64_t dt, *seen;
        double dist;

        if (o == d || !o->has_fix)
            continue;
        raised += check_lost(o, d, now_ms, h);
        dt = f->fix_time_ms - o->last.fix_time_ms;
        if (dt > LW_TRACKERS_PAIR_MS || dt < -LW_TRACKERS_PAIR_MS)
            continue; /* not a pair */
        pair_of(t, d, o, &count, &apart, &seen);
        dist = dist_m(f, &o->last);
        if (dist <=
            fmax(LW_TRACKERS_SEPARATION_M, acc_m(f) + acc_m(&o->last))) {
            *count = 0; /* together: re-armed */
            *apart = false;
            continue;
        }
        /* the next pair in a row is two new fixes: a tracker that went
         * quiet does not make pairs with its one old fix */
        d_lo = d->slot < o->slot;
        if (*count > 0 && (seen[d_lo ? 0 : 1] == f->fix_time_ms ||
                           seen[d_lo ? 1 : 0] == o->last.fix_time_ms))
            continue;
        seen[d_lo ? 0 : 1] = f->fix_time_ms;
        seen[d_lo ? 1 : 0] = o->last.fix_time_ms;
        if (*count < UINT8_MAX)
            (*count)++;
        if (*count >= LW_TRACKERS_PAIRS && !*apart && watched(h, d, o)) {
            *apart = true;
            raise_alert(h, LW_ALERT_TRACKER_SEPARATION, d, f, o, dist, now_ms);
            raised++;
        }
    }
    return raised;
}

void lw_trackers_heard(struct lw_trackers *t, const char *device,
                       int64_t now_ms)
{
    struct tdev *d = t ? find(&t->g, device) : NULL;

    if (!d)
        return;
    if (now_ms > d->heard_ms)
        d->heard_ms = now_ms;
    d->lost = false;
}

int64_t lw_trackers_tick(struct lw_trackers *t, int64_t now_ms,
                         const struct lw_trackers_hooks *h)
{
    int64_t next = INT64_MAX;

    for (size_t k = 0; t && k < t->g.ngrp; k++) {
        struct tgroup *g = &t->g.grp[k];

        for (size_t i = 0; i < g->n; i++) {
            struct tdev *b = &t->g.dev[g->first + i];
            int64_t due;

            if (b->lost || !b->heard_ms || !b->has_fix)
                continue;
            due = b->heard_ms + b->allowance_ms / 2;
            if (now_ms <= due) {
                if (due + 1 < next)
                    next = due + 1;
                continue;
            }
            for (size_t j = 0; j < g->n && !b->lost; j++)
                if (j != i)
                    check_lost(b, &t->g.dev[g->first + j], now_ms, h);
        }
    }
    return next;
}

int64_t lw_trackers_deadline(const struct lw_trackers *t, const char *device)
{
    const struct tdev *d = t ? find(&t->g, device) : NULL;
    const struct tgroup *g;
    int64_t next = INT64_MAX;

    if (!d)
        return next;
    g = &t->g.grp[d->group];
    for (size_t i = 0; i < g->n; i++) {
        const struct tdev *b = &t->g.dev[g->first + i];
        int64_t due = b->heard_ms + b->allowance_ms / 2 + 1;

        if (!b->lost && b->heard_ms && b->has_fix && due < next)
            next = due;
    }
    return next;
}

/* ---- loading from the store --------------------------------------------- */

struct load {
    struct lw_trackers *t; /* being loaded */
    struct lw_store *s;    /* from */
    int64_t default_ms;    /* the daemon's allowance */
    enum lw_err e;         /* the first failure */
};

static int load_attached(void *ctx, const struct lw_install *r)
{
    struct load *l = ctx;
    struct lw_vehicle v;
    int64_t allow = l->default_ms;

    if (lw_registry_vehicle_get(l->s, r->device, &v) == LW_OK &&
        v.offline_after_ms > 0)
        allow = v.offline_after_ms;
    l->e = lw_trackers_group_add(l->t, r->vehicle_id, r->device, allow);
    return l->e != LW_OK;
}

static int load_open(void *ctx, const struct lw_alert_row *r)
{
    struct load *l = ctx;
    struct tdev *d = find(&l->t->g, r->a.device);

    if (!d || !d->fresh)
        return 0;
    if (r->a.kind == LW_ALERT_TRACKER_LOST)
        d->lost = true;
    else if (r->a.kind == LW_ALERT_TRACKER_SEPARATION)
        lw_trackers_restore_apart(l->t, r->a.device, r->a.other.device);
    return 0;
}

enum lw_err lw_trackers_load(struct lw_trackers *t, struct lw_store *s,
                             int64_t default_allowance_ms)
{
    struct load l = {t, s, default_allowance_ms, LW_OK};
    struct lw_alert_filter af = {.open_only = true};
    enum lw_err e;

    if (!t || !s || default_allowance_ms <= 0)
        return LW_ERR_INVAL;
    if ((e = lw_trackers_group_begin(t)) != LW_OK)
        return e;
    e = lw_registry_attached(s, load_attached, &l);
    if (e == LW_OK)
        e = l.e;
    if (e != LW_OK) {
        t->building = false;
        return e;
    }
    if ((e = lw_trackers_group_end(t)) != LW_OK)
        return e;
    /* what devices new to the grouping did before */
    for (size_t i = 0; i < t->g.ndev; i++) {
        struct tdev *d = &t->g.dev[i];
        struct lw_device_info di;
        struct lw_fix f;

        if (!d->fresh)
            continue;
        if (lw_store_device_get(s, d->device, &di) == LW_OK)
            lw_trackers_restore(
                t, d->device,
                lw_store_last_fix(s, d->device, &f) == LW_OK ? &f : NULL,
                di.last_heard_ms, false);
    }
    if (t->g.ndev)
        e = lw_registry_alerts(s, &af, load_open, &l);
    for (size_t i = 0; i < t->g.ndev; i++)
        t->g.dev[i].fresh = false;
    return e;
}
