/*
 * places.c - stops, places and the likelihood of each place at a time.
 * See places.h for the rules and the model; this file says how.
 *
 * Pipeline of lw_places_compute:
 *   1. sort the kept fixes by time (skipped when they came in order) and
 *      drop those later than now + slack;
 *   2. one pass of a small state machine finds the runs of fixes that stay
 *      within the stop radius of their running centre (spikes set aside,
 *      departures re-scanned as the start of the next run); runs long
 *      enough are stops;
 *   3. known time: stops, and gaps between fixes up to moving_gap_ms;
 *   4. stops clustered into places (longest first, then one re-assignment);
 *   5. per place and for the known time, milliseconds per (weekday, local
 *      hour) slot, recency-weighted, and per local hour unweighted;
 *   6. ranking at now (lw_places_rank, also callable alone).
 *
 * Distances inside the hot loop use a local equirectangular approximation
 * (relative error below 1e-4 at a few hundred metres); sums of positions
 * are kept relative to a reference point, wrapped at the antimeridian.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/geo.h"
#include "lienwatch/places.h"

#define MS_PER_HOUR (3600 * 1000LL)
#define MS_PER_DAY (24 * MS_PER_HOUR)
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)
/* Accuracy used when a fix states none, and the range weights use. */
#define ACC_UNKNOWN_M 20.0
#define ACC_MIN_M 10.0
#define ACC_MAX_M 200.0
/* At most this much of a fix's accuracy widens the stop radius for it. */
#define ACC_SLACK_MAX_M 50.0
/* Faster than this, a fix is moving: low weight, and not "parked now". */
#define MOVING_MPS 2.0
#define MOVING_WEIGHT 0.1
/* Smallest radius reported for a place. */
#define MIN_PLACE_RADIUS_M 10.0
/* Routine smoothing: triangular kernel half-width (hours), weight of the
 * other day type, the least known time (ms) a day-type estimate needs, and
 * the prior weight (ms of known time) of the day-type estimate in the
 * hour-of-week one. */
#define KERNEL_HALF_WIDTH_H 1.5
#define OTHER_DAYTYPE_WEIGHT 0.25
#define MIN_SLOT_KNOWN_MS (60 * 1000.0)
#define WEEK_PRIOR_MS (2 * 3600 * 1000.0)
/* Longest span lw_places_nights_between walks: 100 years. */
#define NIGHTS_MAX_SPAN_MS (36525 * MS_PER_DAY)
/* Parameter sanity limits. */
#define MAX_RADIUS_M 10000.0
#define MAX_DURATION_MS (366 * MS_PER_DAY)

/* A kept fix: 32 bytes. */
struct pt {
    int64_t t;   /* fix time, UTC ms */
    double lat;  /* degrees */
    double lon;  /* degrees */
    float acc;   /* accuracy m, clipped; ACC_UNKNOWN_M when unknown */
    float speed; /* m/s, NAN when unknown */
};

/* A closed time interval, UTC ms. */
struct ival {
    int64_t a, b;
};

/* Per-place working sums (not public). */
struct place_acc {
    double ref_lat, ref_lon; /* reference for the relative sums */
    double sw, slat, slon;   /* weighted sums of stop centres */
    double slot[7][24];      /* recency-weighted ms per weekday, hour */
    double hour[24];         /* unweighted ms per local hour */
    double total;            /* recency-weighted ms in all slots */
};

struct lw_places {
    struct lw_places_params p;    /* tunables */
    struct pt *pts;               /* kept fixes */
    size_t npts, cap;             /* count, allocated */
    bool sorted;                  /* pts are in time order */
    struct lw_places_stats st;    /* input accounting */
    bool computed;                /* compute has run since the last add */
    int64_t now_ms;               /* compute's now */
    size_t nused;                 /* pts[0..nused) not in the future */
    struct lw_places_stop *stops; /* time order */
    size_t nstops, stops_cap;     /* count, allocated */
    struct lw_places_stop cur;    /* the run of the last fix */
    bool has_cur;                 /* there is a last fix */
    bool cur_moving;              /* ... and it is moving */
    struct lw_place *places;      /* by id */
    struct place_acc *acc;        /* by id */
    size_t nplaces;               /* count */
    size_t *order;                /* order[rank] = id */
    struct ival *known;           /* known time, merged intervals */
    size_t nknown, known_cap;     /* count, allocated */
    double known_slot[7][24];     /* recency-weighted known ms */
    double known_hour[24];        /* unweighted known ms per local hour */
    double known_total;           /* recency-weighted known ms */
    int32_t night_place;          /* usual night place id, -1 */
};

void lw_places_params_init(struct lw_places_params *p)
{
    p->stop_radius_m = LW_PLACES_STOP_RADIUS_M;
    p->min_stop_ms = LW_PLACES_MIN_STOP_MS;
    p->place_radius_m = LW_PLACES_PLACE_RADIUS_M;
    p->max_accuracy_m = LW_PLACES_MAX_ACCURACY_M;
    p->max_outliers = LW_PLACES_MAX_OUTLIERS;
    p->outlier_window_ms = LW_PLACES_OUTLIER_WINDOW_MS;
    p->moving_gap_ms = LW_PLACES_MOVING_GAP_MS;
    p->night_hour = LW_PLACES_NIGHT_HOUR;
    p->half_life_ms = LW_PLACES_HALF_LIFE_MS;
    p->silence_half_life_ms = LW_PLACES_SILENCE_HALF_LIFE_MS;
    p->weekend_mask = LW_PLACES_WEEKEND_MASK;
}

static bool radius_ok(double r)
{
    return isfinite(r) && r > 0 && r <= MAX_RADIUS_M;
}

static bool duration_ok(int64_t ms, bool zero_ok)
{
    return (zero_ok ? ms >= 0 : ms > 0) && ms <= MAX_DURATION_MS;
}

/* Returns the name of the first bad parameter, NULL when all are fine. */
static const char *params_bad(const struct lw_places_params *p)
{
    if (!radius_ok(p->stop_radius_m))
        return "stop_radius_m";
    if (!duration_ok(p->min_stop_ms, true))
        return "min_stop_ms";
    if (!radius_ok(p->place_radius_m))
        return "place_radius_m";
    if (!(p->max_accuracy_m > 0)) /* also catches NAN */
        return "max_accuracy_m";
    if (p->max_outliers < 0 || p->max_outliers > 100)
        return "max_outliers";
    if (!duration_ok(p->outlier_window_ms, true))
        return "outlier_window_ms";
    if (!duration_ok(p->moving_gap_ms, true))
        return "moving_gap_ms";
    if (p->night_hour < 0 || p->night_hour > 23)
        return "night_hour";
    if (!duration_ok(p->half_life_ms, false))
        return "half_life_ms";
    if (!duration_ok(p->silence_half_life_ms, false))
        return "silence_half_life_ms";
    if (p->weekend_mask > 0x7f)
        return "weekend_mask";
    return NULL;
}

enum lw_err lw_places_new(const struct lw_places_params *params,
                          struct lw_places **out, char *err, size_t errlen)
{
    struct lw_places *pl;
    const char *bad;

    if (!out) {
        lw_seterr(err, errlen, "no result pointer");
        return LW_ERR_INVAL;
    }
    pl = calloc(1, sizeof(*pl));
    if (!pl) {
        lw_seterr(err, errlen, "out of memory");
        return LW_ERR_NOMEM;
    }
    if (params)
        pl->p = *params;
    else
        lw_places_params_init(&pl->p);
    bad = params_bad(&pl->p);
    if (bad) {
        lw_seterr(err, errlen, "places parameter %s is out of range", bad);
        free(pl);
        return LW_ERR_RANGE;
    }
    pl->sorted = true;
    pl->night_place = -1;
    *out = pl;
    return LW_OK;
}

static void free_results(struct lw_places *pl)
{
    free(pl->known);
    pl->known = NULL;
    pl->nknown = pl->known_cap = 0;
    free(pl->stops);
    free(pl->places);
    free(pl->acc);
    free(pl->order);
    pl->stops = NULL;
    pl->places = NULL;
    pl->acc = NULL;
    pl->order = NULL;
    pl->nstops = pl->stops_cap = pl->nplaces = 0;
    pl->has_cur = false;
    pl->computed = false;
    pl->night_place = -1;
}

void lw_places_free(struct lw_places *pl)
{
    if (!pl)
        return;
    free_results(pl);
    free(pl->pts);
    free(pl);
}

enum lw_err lw_places_add_pos(struct lw_places *pl, int64_t fix_time_ms,
                              double lat_deg, double lon_deg, double accuracy_m,
                              double speed_mps)
{
    struct pt *q;

    if (!pl)
        return LW_ERR_INVAL;
    pl->st.fixes_in++;
    pl->computed = false;
    if (fix_time_ms <= 0 || !lw_geo_valid(lat_deg, lon_deg)) {
        pl->st.invalid++;
        return LW_OK;
    }
    /* A negative accuracy means none stated (as in the alert rules). */
    if (lw_has(accuracy_m) && accuracy_m > pl->p.max_accuracy_m) {
        pl->st.inaccurate++;
        return LW_OK;
    }
    if (pl->npts == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 1024;
        struct pt *n = realloc(pl->pts, cap * sizeof(*n));

        if (!n) {
            pl->st.fixes_in--;
            return LW_ERR_NOMEM;
        }
        pl->pts = n;
        pl->cap = cap;
    }
    if (pl->npts && fix_time_ms < pl->pts[pl->npts - 1].t)
        pl->sorted = false;
    q = &pl->pts[pl->npts++];
    q->t = fix_time_ms;
    q->lat = lat_deg;
    q->lon = lon_deg;
    q->acc = (float)(lw_has(accuracy_m) && accuracy_m >= 0
                         ? fmin(fmax(accuracy_m, ACC_MIN_M), ACC_MAX_M)
                         : ACC_UNKNOWN_M);
    q->speed = (float)(lw_has(speed_mps) && speed_mps >= 0 ? speed_mps : NAN);
    return LW_OK;
}

enum lw_err lw_places_add(struct lw_places *pl, const struct lw_fix *f)
{
    if (!pl || !f)
        return LW_ERR_INVAL;
    return lw_places_add_pos(pl, f->fix_time_ms, f->lat_deg, f->lon_deg,
                             f->accuracy_m, f->speed_mps);
}

/* ---- geometry -------------------------------------------------------- */

/* lon difference b - a wrapped into [-180, 180]. */
static double dlon_deg(double a, double b)
{
    double d = b - a;

    if (d > 180.0)
        d -= 360.0;
    else if (d < -180.0)
        d += 360.0;
    return d;
}

static double wrap_lon(double lon)
{
    if (lon > 180.0)
        lon -= 360.0;
    else if (lon < -180.0)
        lon += 360.0;
    return lon;
}

/* Squared local-plane distance, m^2; coslat of the area. */
static double dist2_m(double lat1, double lon1, double lat2, double lon2,
                      double coslat)
{
    double dy = (lat2 - lat1) * M_PER_DEG;
    double dx = dlon_deg(lon1, lon2) * M_PER_DEG * coslat;

    return dx * dx + dy * dy;
}

/* ---- sorting --------------------------------------------------------- */

static int cmp_pt(const void *a, const void *b)
{
    const struct pt *x = a, *y = b;

    return (x->t > y->t) - (x->t < y->t);
}

/* ---- stop detection -------------------------------------------------- */

/* The run of fixes being grown. */
struct run {
    size_t i0;      /* first fix */
    size_t last_in; /* last fix inside */
    size_t n_in;    /* fixes inside */
    size_t n_still; /* ... of them not moving (or speed unknown) */
    double ref_lat; /* reference point of the sums: the first fix */
    double ref_lon;
    double sw;         /* sum of weights */
    double slat, slon; /* weighted sums of offsets from the reference */
    double clat, clon; /* centre */
    double coslat;     /* cos of the reference latitude */
    size_t pend_first; /* first pending (outside) fix */
    int npend;         /* pending fixes since the last inside one */
};

static bool moving(const struct pt *q)
{
    return !isnan(q->speed) && q->speed > MOVING_MPS;
}

static double fix_weight(const struct pt *q)
{
    double w = 1.0 / ((double)q->acc * q->acc);

    if (moving(q))
        w *= MOVING_WEIGHT;
    return w;
}

static void run_add(struct run *r, const struct pt *q, size_t i)
{
    double w = fix_weight(q);

    r->sw += w;
    r->slat += w * (q->lat - r->ref_lat);
    r->slon += w * dlon_deg(r->ref_lon, q->lon);
    r->clat = r->ref_lat + r->slat / r->sw;
    r->clon = wrap_lon(r->ref_lon + r->slon / r->sw);
    if (i > r->last_in)
        r->last_in = i;
    r->n_in++;
    r->n_still += !moving(q);
}

static void run_start(struct run *r, const struct pt *pts, size_t i)
{
    memset(r, 0, sizeof(*r));
    r->i0 = i;
    r->ref_lat = pts[i].lat;
    r->ref_lon = pts[i].lon;
    r->coslat = cos(pts[i].lat * M_PI / 180.0);
    run_add(r, &pts[i], i);
}

/* True when fix q is inside run r (radius plus part of its accuracy). */
static bool run_inside(const struct run *r, const struct pt *q, double radius)
{
    double lim = radius + fmin(q->acc, ACC_SLACK_MAX_M);

    return dist2_m(r->clat, r->clon, q->lat, q->lon, r->coslat) <= lim * lim;
}

/* The run shaped as a stop (without nights and place). */
static struct lw_places_stop run_stop(const struct lw_places *pl,
                                      const struct run *r)
{
    const struct pt *pts = pl->pts;
    struct lw_places_stop s = {0};
    double ss = 0;
    size_t i, n = 0;

    s.lat_deg = r->clat;
    s.lon_deg = r->clon;
    s.start_ms = pts[r->i0].t;
    s.end_ms = pts[r->last_in].t;
    s.next_ms = r->last_in + 1 < pl->nused ? pts[r->last_in + 1].t : 0;
    s.fixes = (uint32_t)r->n_in;
    s.place = -1;
    for (i = r->i0; i <= r->last_in; i++) {
        if (!run_inside(r, &pts[i], pl->p.stop_radius_m))
            continue;
        ss += dist2_m(r->clat, r->clon, pts[i].lat, pts[i].lon, r->coslat);
        n++;
    }
    s.spread_m = n ? sqrt(ss / (double)n) : 0;
    return s;
}

static enum lw_err push_stop(struct lw_places *pl,
                             const struct lw_places_stop *s)
{
    if (pl->nstops == pl->stops_cap) {
        size_t cap = pl->stops_cap ? pl->stops_cap * 2 : 64;
        struct lw_places_stop *n = realloc(pl->stops, cap * sizeof(*n));

        if (!n)
            return LW_ERR_NOMEM;
        pl->stops = n;
        pl->stops_cap = cap;
    }
    pl->stops[pl->nstops++] = *s;
    return LW_OK;
}

/* True when run r is a stop: long enough, and not all fixes moving. */
static bool run_is_stop(const struct lw_places *pl, const struct run *r)
{
    return pl->pts[r->last_in].t - pl->pts[r->i0].t >= pl->p.min_stop_ms &&
           r->n_still > 0;
}

/* Closes run r: a stop when it is one. */
static enum lw_err run_close(struct lw_places *pl, const struct run *r)
{
    struct lw_places_stop s;

    if (!run_is_stop(pl, r))
        return LW_OK;
    s = run_stop(pl, r);
    return push_stop(pl, &s);
}

static enum lw_err find_stops(struct lw_places *pl)
{
    const struct pt *pts = pl->pts;
    const struct lw_places_params *p = &pl->p;
    struct run r;
    size_t j;
    enum lw_err rc;

    if (pl->nused == 0)
        return LW_OK;
    run_start(&r, pts, 0);
    for (j = 1;; j++) {
        bool depart = false;

        if (j == pl->nused) {
            if (r.npend == 0)
                break;
            /* The last fixes left the run: a departure (or a spike that
             * nothing has confirmed yet). */
            depart = true;
        } else if (run_inside(&r, &pts[j], p->stop_radius_m)) {
            /* Pending fixes are spikes only when the fix back comes soon
             * after them, and, when they followed a gap in reporting, is
             * not just passing through: a car unseen for hours, then seen
             * elsewhere, then driving by, left during the gap. */
            bool late = r.npend &&
                        pts[j].t - pts[r.pend_first].t > p->outlier_window_ms;
            bool passing =
                r.npend &&
                pts[r.pend_first].t - pts[r.last_in].t > p->outlier_window_ms &&
                moving(&pts[j]);

            if (late || passing) {
                depart = true;
            } else {
                size_t q;

                /* Back inside: the pending fixes were jitter around a
                 * centre not yet settled (kept if inside now) or spikes. */
                run_add(&r, &pts[j], j);
                for (q = r.pend_first; r.npend && q < j; q++) {
                    if (run_inside(&r, &pts[q], p->stop_radius_m))
                        run_add(&r, &pts[q], q);
                    else
                        pl->st.spikes++;
                }
                r.npend = 0;
                continue;
            }
        } else {
            if (r.npend++ == 0)
                r.pend_first = j;
            depart = r.npend > p->max_outliers ||
                     pts[j].t - pts[r.pend_first].t > p->outlier_window_ms;
        }
        if (!depart)
            continue;
        rc = run_close(pl, &r);
        if (rc != LW_OK)
            return rc;
        /* The fixes that left start the next run: scan them again. */
        j = r.pend_first;
        run_start(&r, pts, j);
    }
    /* The run of the last fix: ongoing. */
    pl->cur = run_stop(pl, &r);
    pl->cur.ongoing = true;
    pl->has_cur = true;
    pl->cur_moving = pl->cur.end_ms - pl->cur.start_ms < p->min_stop_ms &&
                     !isnan(pts[pl->nused - 1].speed) &&
                     pts[pl->nused - 1].speed > MOVING_MPS;
    if (run_is_stop(pl, &r))
        return push_stop(pl, &pl->cur);
    return LW_OK;
}

/* ---- nights ---------------------------------------------------------- */

unsigned lw_places_nights_between(const struct lw_tz *tz, int night_hour,
                                  int64_t start_ms, int64_t end_ms,
                                  int64_t *first_ms)
{
    struct lw_tz_local l;
    unsigned n = 0;
    int64_t t;
    int day;

    if (first_ms)
        *first_ms = 0;
    if (end_ms < start_ms || night_hour < 0 || night_hour > 23)
        return 0;
    /* No stop lasts longer; keeps the loop short on wild input. */
    if (end_ms - start_ms > NIGHTS_MAX_SPAN_MS)
        end_ms = start_ms + NIGHTS_MAX_SPAN_MS;
    lw_tz_localtime(tz, start_ms, &l);
    /* The night_hour:00 of start's local day, then of each following day;
     * lw_tz_mktime_s normalises day overflow into the next month. */
    for (day = l.day;; day++) {
        t = lw_tz_mktime_s(tz, l.year, l.month, day, night_hour, 0, 0) * 1000;
        if (t < start_ms)
            continue;
        if (t > end_ms)
            break;
        if (n == 0 && first_ms)
            *first_ms = t;
        n++;
    }
    return n;
}

/* The last night instant of a stop with nights > 0. */
static int64_t last_night(const struct lw_tz *tz, int hour,
                          const struct lw_places_stop *s)
{
    int64_t t = 0;
    struct lw_tz_local l;

    lw_tz_localtime(tz, s->end_ms, &l);
    t = lw_tz_mktime_s(tz, l.year, l.month, l.day, hour, 0, 0) * 1000;
    if (t > s->end_ms)
        t = lw_tz_mktime_s(tz, l.year, l.month, l.day - 1, hour, 0, 0) * 1000;
    return t;
}

static void set_nights(const struct lw_places *pl, const struct lw_tz *tz,
                       struct lw_places_stop *s)
{
    s->nights = lw_places_nights_between(tz, pl->p.night_hour, s->start_ms,
                                         s->end_ms, &s->night_ms);
    s->last_night_ms = s->nights ? last_night(tz, pl->p.night_hour, s) : 0;
}

/* ---- time slots ------------------------------------------------------ */

static double recency(const struct lw_places *pl, int64_t t)
{
    if (t >= pl->now_ms)
        return 1.0;
    return exp2(-(double)(pl->now_ms - t) / (double)pl->p.half_life_ms);
}

static int daytype(const struct lw_places *pl, int wday)
{
    return (pl->p.weekend_mask >> wday) & 1u;
}

/*
 * Spreads [a, b) over local-hour slots: slot[weekday][hour] gets the
 * recency-weighted milliseconds, hour[h] the plain ones, *total the
 * weighted sum. A slot ends at the next local hour boundary under the
 * offset in force at its start, so only the hour of a DST change is
 * approximate.
 */
static void walk_slots(const struct lw_places *pl, const struct lw_tz *tz,
                       int64_t a, int64_t b, double slot[7][24],
                       double hour[24], double *total)
{
    while (a < b) {
        int64_t off = (int64_t)lw_tz_offset_s(tz, a / 1000) * 1000;
        int64_t local = a + off;
        int64_t hstart =
            local - (((local % MS_PER_HOUR) + MS_PER_HOUR) % MS_PER_HOUR);
        int64_t next = hstart + MS_PER_HOUR - off;
        int64_t end = next < b ? next : b;
        int64_t day =
            (hstart >= 0 ? hstart : hstart - MS_PER_DAY + 1) / MS_PER_DAY;
        int h = (int)((hstart - day * MS_PER_DAY) / MS_PER_HOUR);
        double ms = (double)(end - a);
        double w = ms * recency(pl, a + (end - a) / 2);

        slot[lw_tz_weekday(day)][h] += w;
        hour[h] += ms;
        *total += w;
        a = end;
    }
}

/* Records known interval [a, b] and spreads it over the slots. */
static enum lw_err known_add(struct lw_places *pl, const struct lw_tz *tz,
                             int64_t a, int64_t b)
{
    if (pl->nknown == pl->known_cap) {
        size_t cap = pl->known_cap ? pl->known_cap * 2 : 64;
        struct ival *n = realloc(pl->known, cap * sizeof(*n));

        if (!n)
            return LW_ERR_NOMEM;
        pl->known = n;
        pl->known_cap = cap;
    }
    pl->known[pl->nknown].a = a;
    pl->known[pl->nknown].b = b;
    pl->nknown++;
    walk_slots(pl, tz, a, b, pl->known_slot, pl->known_hour, &pl->known_total);
    pl->st.known_ms += b - a;
    return LW_OK;
}

/* Known time: stops, and gaps between fixes up to moving_gap_ms. */
static enum lw_err known_time(struct lw_places *pl, const struct lw_tz *tz)
{
    const struct pt *pts = pl->pts;
    size_t i, k = 0;
    int64_t ka, kb;

    memset(pl->known_slot, 0, sizeof(pl->known_slot));
    memset(pl->known_hour, 0, sizeof(pl->known_hour));
    pl->known_total = 0;
    pl->st.known_ms = 0;
    if (pl->nused == 0)
        return LW_OK;
    ka = kb = pts[0].t;
    for (i = 0; i + 1 < pl->nused; i++) {
        int64_t t0 = pts[i].t, t1 = pts[i + 1].t;
        bool known = t1 - t0 <= pl->p.moving_gap_ms;

        while (k < pl->nstops && pl->stops[k].end_ms < t1)
            k++;
        if (!known && k < pl->nstops && pl->stops[k].start_ms <= t0)
            known = true; /* both fixes in stop k */
        if (known) {
            kb = t1;
            continue;
        }
        if (known_add(pl, tz, ka, kb) != LW_OK)
            return LW_ERR_NOMEM;
        ka = kb = t1;
    }
    return known_add(pl, tz, ka, kb);
}

/* ---- clustering ------------------------------------------------------ */

struct by_dwell {
    int64_t dwell; /* stop duration */
    size_t i;      /* stop index */
};

static int cmp_dwell_desc(const void *a, const void *b)
{
    const struct by_dwell *x = a, *y = b;

    if (x->dwell != y->dwell)
        return (x->dwell < y->dwell) - (x->dwell > y->dwell);
    return (x->i > y->i) - (x->i < y->i);
}

/* Weight of a stop in its place's centre: its minutes, at least one. */
static double stop_weight(const struct lw_places_stop *s)
{
    return 1.0 + (double)(s->end_ms - s->start_ms) / 60000.0;
}

static void acc_add(struct place_acc *a, struct lw_place *pc,
                    const struct lw_places_stop *s)
{
    double w = stop_weight(s);

    if (a->sw == 0) {
        a->ref_lat = s->lat_deg;
        a->ref_lon = s->lon_deg;
    }
    a->sw += w;
    a->slat += w * (s->lat_deg - a->ref_lat);
    a->slon += w * dlon_deg(a->ref_lon, s->lon_deg);
    pc->lat_deg = a->ref_lat + a->slat / a->sw;
    pc->lon_deg = wrap_lon(a->ref_lon + a->slon / a->sw);
}

/* Index of the place nearest (lat, lon) within limit_m, or -1. */
static int32_t nearest_place(const struct lw_places *pl, double lat, double lon,
                             double limit_m)
{
    double best = limit_m * limit_m, coslat = cos(lat * M_PI / 180.0);
    double dlat_max = limit_m / M_PER_DEG;
    int32_t id = -1;
    size_t i;

    for (i = 0; i < pl->nplaces; i++) {
        const struct lw_place *pc = &pl->places[i];
        double d;

        if (fabs(pc->lat_deg - lat) > dlat_max)
            continue;
        d = dist2_m(lat, lon, pc->lat_deg, pc->lon_deg, coslat);
        if (d <= best) {
            best = d;
            id = (int32_t)i;
        }
    }
    return id;
}

static enum lw_err new_place(struct lw_places *pl, size_t *cap)
{
    if (pl->nplaces == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct lw_place *np = realloc(pl->places, c * sizeof(*np));
        struct place_acc *na;

        if (!np)
            return LW_ERR_NOMEM;
        pl->places = np;
        na = realloc(pl->acc, c * sizeof(*na));
        if (!na)
            return LW_ERR_NOMEM;
        pl->acc = na;
        *cap = c;
    }
    memset(&pl->places[pl->nplaces], 0, sizeof(pl->places[0]));
    memset(&pl->acc[pl->nplaces], 0, sizeof(pl->acc[0]));
    pl->places[pl->nplaces].id = (int32_t)pl->nplaces;
    pl->nplaces++;
    return LW_OK;
}

static enum lw_err cluster(struct lw_places *pl)
{
    struct by_dwell *ord = NULL;
    struct lw_place *old = NULL;
    size_t i, cap = 0, nold;
    enum lw_err rc = LW_OK;
    double lim = pl->p.place_radius_m;

    if (pl->nstops == 0)
        return LW_OK;
    ord = malloc(pl->nstops * sizeof(*ord));
    if (!ord)
        return LW_ERR_NOMEM;
    for (i = 0; i < pl->nstops; i++) {
        ord[i].dwell = pl->stops[i].end_ms - pl->stops[i].start_ms;
        ord[i].i = i;
    }
    qsort(ord, pl->nstops, sizeof(*ord), cmp_dwell_desc);
    /* Pass 1: longest first, join the nearest centre within the limit. */
    for (i = 0; i < pl->nstops; i++) {
        struct lw_places_stop *s = &pl->stops[ord[i].i];
        int32_t id = nearest_place(pl, s->lat_deg, s->lon_deg, lim);

        if (id < 0) {
            rc = new_place(pl, &cap);
            if (rc != LW_OK)
                goto out_free;
            id = (int32_t)pl->nplaces - 1;
        }
        s->place = id;
        acc_add(&pl->acc[id], &pl->places[id], s);
    }
    /* Pass 2: every stop to the nearest final centre (a new place when
     * none is within the limit any more), centres recomputed, empty places
     * dropped. */
    nold = pl->nplaces;
    old = malloc(nold * sizeof(*old));
    if (!old) {
        rc = LW_ERR_NOMEM;
        goto out_free;
    }
    memcpy(old, pl->places, nold * sizeof(*old));
    pl->nplaces = 0;
    for (i = 0; i < pl->nstops; i++) {
        struct lw_places_stop *s = &pl->stops[ord[i].i];
        double coslat = cos(s->lat_deg * M_PI / 180.0);
        double best = lim * lim;
        int32_t k, pick = -1;

        for (k = 0; k < (int32_t)nold; k++) {
            double d = dist2_m(s->lat_deg, s->lon_deg, old[k].lat_deg,
                               old[k].lon_deg, coslat);
            if (d <= best) {
                best = d;
                pick = k;
            }
        }
        /* Map old centre -> new id through the 'visits' field of old as a
         * scratch slot: 0 = not yet created, else new id + 1. */
        if (pick >= 0 && old[pick].visits) {
            s->place = (int32_t)old[pick].visits - 1;
        } else {
            rc = new_place(pl, &cap);
            if (rc != LW_OK)
                goto out_free;
            s->place = (int32_t)pl->nplaces - 1;
            if (pick >= 0)
                old[pick].visits = (uint32_t)pl->nplaces;
        }
        acc_add(&pl->acc[s->place], &pl->places[s->place], s);
    }
out_free:
    free(old);
    free(ord);
    return rc;
}

/* Per place: visits, nights, dwell, times, radius, usual hours, slots. */
static void place_stats(struct lw_places *pl, const struct lw_tz *tz)
{
    size_t i;
    int h;

    for (i = 0; i < pl->nplaces; i++) {
        struct lw_place *pc = &pl->places[i];

        pc->radius_m = MIN_PLACE_RADIUS_M;
        memset(pl->acc[i].slot, 0, sizeof(pl->acc[i].slot));
        memset(pl->acc[i].hour, 0, sizeof(pl->acc[i].hour));
        pl->acc[i].total = 0;
    }
    for (i = 0; i < pl->nstops; i++) {
        const struct lw_places_stop *s = &pl->stops[i];
        struct lw_place *pc = &pl->places[s->place];
        struct place_acc *a = &pl->acc[s->place];
        double d = lw_geo_distance_m(pc->lat_deg, pc->lon_deg, s->lat_deg,
                                     s->lon_deg) +
                   s->spread_m;

        if (pc->visits == 0 || s->start_ms < pc->first_seen_ms)
            pc->first_seen_ms = s->start_ms;
        if (s->end_ms > pc->last_seen_ms)
            pc->last_seen_ms = s->end_ms;
        if (s->last_night_ms > pc->last_night_ms)
            pc->last_night_ms = s->last_night_ms;
        pc->visits++;
        pc->nights += s->nights;
        pc->dwell_ms += s->end_ms - s->start_ms;
        if (d > pc->radius_m)
            pc->radius_m = d;
        walk_slots(pl, tz, s->start_ms, s->end_ms, a->slot, a->hour, &a->total);
    }
    for (i = 0; i < pl->nplaces; i++)
        for (h = 0; h < 24; h++) {
            double u = pl->known_hour[h] > 0
                           ? pl->acc[i].hour[h] / pl->known_hour[h]
                           : 0;
            pl->places[i].usual_hours[h] = (float)(u > 1 ? 1 : u);
        }
}

static void pick_night_place(struct lw_places *pl)
{
    size_t i;

    pl->night_place = -1;
    for (i = 0; i < pl->nplaces; i++) {
        const struct lw_place *pc = &pl->places[i], *best;

        if (pc->nights == 0)
            continue;
        best = pl->night_place < 0 ? NULL : &pl->places[pl->night_place];
        if (!best || pc->nights > best->nights ||
            (pc->nights == best->nights &&
             pc->last_night_ms > best->last_night_ms))
            pl->night_place = pc->id;
    }
}

enum lw_err lw_places_compute(struct lw_places *pl, const struct lw_tz *tz,
                              int64_t now_ms, char *err, size_t errlen)
{
    enum lw_err rc;
    size_t i;

    if (!pl) {
        lw_seterr(err, errlen, "no places given");
        return LW_ERR_INVAL;
    }
    free_results(pl);
    pl->now_ms = now_ms;
    if (!pl->sorted) {
        qsort(pl->pts, pl->npts, sizeof(*pl->pts), cmp_pt);
        pl->sorted = true;
    }
    /* Fixes from the future are at the end now. */
    pl->nused = pl->npts;
    while (pl->nused > 0 &&
           pl->pts[pl->nused - 1].t > now_ms + LW_PLACES_FUTURE_SLACK_MS)
        pl->nused--;
    pl->st.future = pl->npts - pl->nused;
    pl->st.used = pl->nused;
    pl->st.spikes = 0;
    pl->st.first_ms = pl->nused ? pl->pts[0].t : 0;
    pl->st.last_ms = pl->nused ? pl->pts[pl->nused - 1].t : 0;
    rc = find_stops(pl);
    if (rc != LW_OK)
        goto out_nomem;
    for (i = 0; i < pl->nstops; i++)
        set_nights(pl, tz, &pl->stops[i]);
    if (pl->has_cur)
        set_nights(pl, tz, &pl->cur);
    rc = known_time(pl, tz);
    if (rc != LW_OK)
        goto out_nomem;
    rc = cluster(pl);
    if (rc != LW_OK)
        goto out_nomem;
    pl->order = malloc((pl->nplaces ? pl->nplaces : 1) * sizeof(*pl->order));
    if (!pl->order)
        goto out_nomem;
    place_stats(pl, tz);
    pick_night_place(pl);
    /* The current run: its stop's place, else the place it lies in. */
    if (pl->has_cur) {
        if (pl->nstops && pl->stops[pl->nstops - 1].ongoing)
            pl->cur.place = pl->stops[pl->nstops - 1].place;
        else
            pl->cur.place = nearest_place(pl, pl->cur.lat_deg, pl->cur.lon_deg,
                                          pl->p.place_radius_m);
    }
    pl->computed = true;
    return lw_places_rank(pl, tz, now_ms, 0);

out_nomem:
    free_results(pl);
    lw_seterr(err, errlen, "out of memory");
    return LW_ERR_NOMEM;
}

/* ---- ranking --------------------------------------------------------- */

/* Sum of slot[wd][h] over the weekdays of day type dt. */
static double daytype_sum(const struct lw_places *pl, const double slot[7][24],
                          int dt, int h)
{
    double v = 0;
    int wd;

    for (wd = 0; wd < 7; wd++)
        if (daytype(pl, wd) == dt)
            v += slot[wd][h];
    return v;
}

/*
 * R(p, T) for every place into places[].routine. Two levels, each summed
 * over the three hour slots around T with the kernel weights:
 *   day type: (A_dt + 0.25 A_other) / (E_dt + 0.25 E_other), or p's share
 *             of all known time when almost nothing is known there;
 *   hour of week: (A_wd + WEEK_PRIOR_MS * day type) / (E_wd + WEEK_PRIOR_MS)
 * where A is p's recency-weighted time and E the known time.
 */
static void routine(struct lw_places *pl, const struct lw_tz *tz, int64_t at_ms)
{
    struct lw_tz_local l;
    double x, kw[3], ek_dt = 0, ek_wd = 0;
    int kh[3], kd[3], kwd[3], k;
    size_t i;

    lw_tz_localtime(tz, at_ms, &l);
    x = (l.min * 60.0 + l.sec) / 3600.0; /* position in the hour, 0..1 */
    for (k = 0; k < 3; k++) {
        struct lw_tz_local lk;
        double c = fabs((double)(k - 1) + 0.5 - x);

        lw_tz_localtime(tz, at_ms + (int64_t)(k - 1) * MS_PER_HOUR, &lk);
        kw[k] = c < KERNEL_HALF_WIDTH_H ? 1.0 - c / KERNEL_HALF_WIDTH_H : 0;
        kh[k] = lk.hour;
        kwd[k] = lk.wday;
        kd[k] = daytype(pl, lk.wday);
        ek_dt += kw[k] * (daytype_sum(pl, pl->known_slot, kd[k], kh[k]) +
                          OTHER_DAYTYPE_WEIGHT *
                              daytype_sum(pl, pl->known_slot, !kd[k], kh[k]));
        ek_wd += kw[k] * pl->known_slot[kwd[k]][kh[k]];
    }
    for (i = 0; i < pl->nplaces; i++) {
        const struct place_acc *a = &pl->acc[i];
        double a_dt = 0, a_wd = 0, r_dt, r;

        for (k = 0; k < 3; k++) {
            a_dt += kw[k] * (daytype_sum(pl, a->slot, kd[k], kh[k]) +
                             OTHER_DAYTYPE_WEIGHT *
                                 daytype_sum(pl, a->slot, !kd[k], kh[k]));
            a_wd += kw[k] * a->slot[kwd[k]][kh[k]];
        }
        if (ek_dt >= MIN_SLOT_KNOWN_MS)
            r_dt = a_dt / ek_dt;
        else if (pl->known_total > 0)
            r_dt = a->total / pl->known_total;
        else
            r_dt = 0;
        r = (a_wd + WEEK_PRIOR_MS * r_dt) / (ek_wd + WEEK_PRIOR_MS);
        pl->places[i].routine = r > 1 ? 1 : r;
    }
}

/*
 * Where the car was at t: the id of the place of a stop covering t, -1
 * when its whereabouts were known but at no stop (driving, a short halt),
 * -2 when unknown.
 */
static int32_t place_at(const struct lw_places *pl, int64_t t)
{
    size_t lo = 0, hi = pl->nstops;

    /* Last stop starting at or before t. */
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;

        if (pl->stops[mid].start_ms <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && t <= pl->stops[lo - 1].end_ms)
        return pl->stops[lo - 1].place;
    lo = 0;
    hi = pl->nknown;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;

        if (pl->known[mid].a <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && t <= pl->known[lo - 1].b ? -1 : -2;
}

/*
 * S: the car is still at the place of the last fix at at_ms. Two sources:
 *   - stay durations: P(a stay here lasts >= at - arrival | it lasted >=
 *     last fix - arrival), over the earlier stops here (recency-weighted),
 *     plus a pseudo-stay that never ends;
 *   - the same times on earlier days: on each day k before, was the car
 *     here at (last fix - k days), and if so still here at (at - k days)?
 *     Weighted by recency and by how alike the days are: the same weekday
 *     1, the same day type ANALOG_SAME_TYPE, else ANALOG_OTHER. Days whose
 *     later instant is not known are skipped.
 * The first counts as one observation beside the days of the second:
 *     S = (S_dur + sum w [still]) / (1 + sum w [was here]) * silence.
 */
#define ANALOG_SAME_TYPE 0.5
#define ANALOG_OTHER 0.2
#define ANALOG_MAX_DAYS 400

static double still_there(const struct lw_places *pl, const struct lw_tz *tz,
                          int64_t at_ms)
{
    const struct lw_places_stop *c = &pl->cur;
    int64_t seen = c->end_ms - c->start_ms;
    int64_t el = at_ms - c->start_ms;
    double num = 1, den = 1, silence, s_dur, w_was = 0, w_still = 0;
    struct lw_tz_local l;
    int at_type, at_wday, k;
    size_t i;

    if (el < seen)
        el = seen;
    for (i = 0; i < pl->nstops; i++) {
        const struct lw_places_stop *s = &pl->stops[i];
        int64_t d = s->end_ms - s->start_ms;
        double w;

        if (s->place != c->place || s->ongoing)
            continue;
        w = recency(pl, s->end_ms);
        if (d >= seen)
            den += w;
        if (d >= el)
            num += w;
    }
    s_dur = num / den;
    lw_tz_localtime(tz, at_ms, &l);
    at_type = daytype(pl, l.wday);
    at_wday = l.wday;
    for (k = 1; k <= ANALOG_MAX_DAYS; k++) {
        int64_t ta = c->end_ms - (int64_t)k * MS_PER_DAY;
        int64_t tb = at_ms - (int64_t)k * MS_PER_DAY;
        int32_t pb;
        double w;

        if (ta < pl->st.first_ms)
            break;
        if (tb > c->end_ms || place_at(pl, ta) != c->place)
            continue;
        pb = place_at(pl, tb);
        if (pb == -2)
            continue;
        lw_tz_localtime(tz, tb, &l);
        w = recency(pl, ta) * (l.wday == at_wday ? 1.0
                               : daytype(pl, l.wday) == at_type
                                   ? ANALOG_SAME_TYPE
                                   : ANALOG_OTHER);
        w_was += w;
        if (pb == c->place)
            w_still += w;
    }
    silence = at_ms > c->end_ms ? exp2(-(double)(at_ms - c->end_ms) /
                                       (double)pl->p.silence_half_life_ms)
                                : 1.0;
    return (s_dur + w_still) / (1 + w_was) * silence;
}

/* Ranking order, most likely first. */
static int rank_before(const struct lw_place *x, const struct lw_place *y)
{
    if (x->likely_now != y->likely_now)
        return x->likely_now > y->likely_now;
    if (x->nights != y->nights)
        return x->nights > y->nights;
    if (x->dwell_ms != y->dwell_ms)
        return x->dwell_ms > y->dwell_ms;
    return x->id < y->id;
}

enum lw_err lw_places_rank(struct lw_places *pl, const struct lw_tz *tz,
                           int64_t at_ms, unsigned flags)
{
    double s = 0;
    int32_t here = -1;
    size_t i, j;

    if (!pl || !pl->computed)
        return LW_ERR_INVAL;
    routine(pl, tz, at_ms);
    if (pl->has_cur && pl->cur.place >= 0 && !pl->cur_moving) {
        here = pl->cur.place;
        if (!(flags & LW_PLACES_RANK_ROUTINE))
            s = still_there(pl, tz, at_ms);
    }
    for (i = 0; i < pl->nplaces; i++) {
        struct lw_place *pc = &pl->places[i];

        pc->here_now = pc->id == here;
        pc->likely_now = (pc->here_now ? s : 0) + (1 - s) * pc->routine;
        if (pc->likely_now > 1)
            pc->likely_now = 1;
    }
    /* Insertion sort: a few hundred places at most, and stable. */
    for (i = 0; i < pl->nplaces; i++) {
        size_t id = i;

        for (j = i; j > 0 &&
                    rank_before(&pl->places[id], &pl->places[pl->order[j - 1]]);
             j--)
            pl->order[j] = pl->order[j - 1];
        pl->order[j] = id;
    }
    return LW_OK;
}

enum lw_err lw_places_build(const struct lw_fix *fixes, size_t n,
                            const struct lw_places_params *params,
                            const struct lw_tz *tz, int64_t now_ms,
                            struct lw_places **out, char *err, size_t errlen)
{
    struct lw_places *pl = NULL;
    enum lw_err rc;
    size_t i;

    if (!out || (!fixes && n)) {
        lw_seterr(err, errlen, "no fixes given");
        return LW_ERR_INVAL;
    }
    rc = lw_places_new(params, &pl, err, errlen);
    if (rc != LW_OK)
        return rc;
    for (i = 0; i < n; i++) {
        rc = lw_places_add(pl, &fixes[i]);
        if (rc != LW_OK) {
            lw_seterr(err, errlen, "out of memory");
            goto out_free;
        }
    }
    rc = lw_places_compute(pl, tz, now_ms, err, errlen);
    if (rc != LW_OK)
        goto out_free;
    *out = pl;
    return LW_OK;

out_free:
    lw_places_free(pl);
    return rc;
}

/* ---- accessors ------------------------------------------------------- */

size_t lw_places_count(const struct lw_places *pl)
{
    return pl && pl->computed ? pl->nplaces : 0;
}

const struct lw_place *lw_places_get(const struct lw_places *pl, size_t rank)
{
    if (!pl || !pl->computed || rank >= pl->nplaces)
        return NULL;
    return &pl->places[pl->order[rank]];
}

const struct lw_place *lw_places_by_id(const struct lw_places *pl, int32_t id)
{
    if (!pl || !pl->computed || id < 0 || (size_t)id >= pl->nplaces)
        return NULL;
    return &pl->places[id];
}

size_t lw_places_stop_count(const struct lw_places *pl)
{
    return pl && pl->computed ? pl->nstops : 0;
}

const struct lw_places_stop *lw_places_stop(const struct lw_places *pl,
                                            size_t i)
{
    if (!pl || !pl->computed || i >= pl->nstops)
        return NULL;
    return &pl->stops[i];
}

const struct lw_places_stop *lw_places_current(const struct lw_places *pl)
{
    if (!pl || !pl->computed || !pl->has_cur)
        return NULL;
    return &pl->cur;
}

const struct lw_places_stats *lw_places_stats(const struct lw_places *pl)
{
    return pl ? &pl->st : NULL;
}

const struct lw_place *lw_places_night_place(const struct lw_places *pl)
{
    if (!pl || !pl->computed || pl->night_place < 0)
        return NULL;
    return &pl->places[pl->night_place];
}

double lw_places_night_distance_m(const struct lw_places *pl, double lat_deg,
                                  double lon_deg)
{
    const struct lw_place *np = lw_places_night_place(pl);

    if (!np || !lw_geo_valid(lat_deg, lon_deg))
        return NAN;
    return lw_geo_distance_m(np->lat_deg, np->lon_deg, lat_deg, lon_deg);
}

/* ---- new overnight place --------------------------------------------- */

enum lw_err lw_places_overnight(const struct lw_places *pl,
                                const struct lw_places_stop *stop,
                                double new_place_m, int64_t lookback_ms,
                                struct lw_places_overnight *out)
{
    uint32_t *nights = NULL;
    int64_t *lastn = NULL;
    size_t i;

    if (!pl || !pl->computed || !stop || !out)
        return LW_ERR_INVAL;
    if (!(new_place_m > 0))
        new_place_m = LW_PLACES_NEW_PLACE_M;
    if (lookback_ms <= 0)
        lookback_ms = LW_PLACES_NIGHT_LOOKBACK_MS;
    memset(out, 0, sizeof(*out));
    out->nearest_m = INFINITY;
    out->usual_place = -1;
    out->usual_m = NAN;
    out->night =
        stop->nights > 0 && stop->end_ms - stop->start_ms >= pl->p.min_stop_ms;
    out->night_ms = stop->night_ms;
    if (pl->nplaces) {
        nights = calloc(pl->nplaces, sizeof(*nights));
        lastn = calloc(pl->nplaces, sizeof(*lastn));
        if (!nights || !lastn) {
            free(nights);
            free(lastn);
            return LW_ERR_NOMEM;
        }
    }
    for (i = 0; i < pl->nstops; i++) {
        const struct lw_places_stop *o = &pl->stops[i];
        bool in_window;

        if (o->start_ms == stop->start_ms || o->nights == 0)
            continue;
        if (o->place >= 0 && nights && lastn) {
            nights[o->place] += o->nights;
            if (o->last_night_ms > lastn[o->place])
                lastn[o->place] = o->last_night_ms;
        }
        if (!out->night)
            continue;
        /* A night of o in [night - lookback, night): its nights are
         * consecutive days from night_ms to last_night_ms. */
        in_window = o->night_ms < out->night_ms &&
                    o->last_night_ms >= out->night_ms - lookback_ms;
        if (in_window) {
            double d = lw_geo_distance_m(stop->lat_deg, stop->lon_deg,
                                         o->lat_deg, o->lon_deg);
            out->baseline++;
            if (d < out->nearest_m)
                out->nearest_m = d;
        }
    }
    for (i = 0; i < pl->nplaces; i++) {
        int32_t u = out->usual_place;

        if (nights[i] == 0)
            continue;
        if (u < 0 || nights[i] > nights[u] ||
            (nights[i] == nights[u] && lastn[i] > lastn[u]))
            out->usual_place = (int32_t)i;
    }
    if (out->usual_place >= 0) {
        const struct lw_place *u = &pl->places[out->usual_place];

        out->usual_m = lw_geo_distance_m(u->lat_deg, u->lon_deg, stop->lat_deg,
                                         stop->lon_deg);
    }
    out->is_new =
        out->night && out->baseline > 0 && out->nearest_m > new_place_m;
    free(nights);
    free(lastn);
    return LW_OK;
}
