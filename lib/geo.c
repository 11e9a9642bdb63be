/*
 * geo.c - haversine distance, exact point-in-polygon on the lon/lat plane,
 * distance to a fence boundary, circles. See geo.h for the model and rules.
 *
 * Exactness: the only decision that can flip with rounding is "which side of
 * an edge is the point on" (including "on it"). lw_geo_orient answers that
 * exactly, following Shewchuk's adaptive orient2d: a cheap floating-point
 * determinant with a proven error bound, and, only when the result is within
 * that bound, an exact evaluation as a sum of error-free terms. Everything
 * else in the even-odd test is comparisons of input coordinates, which are
 * exact. This needs IEEE double arithmetic without extended precision and
 * without fused multiply-add contraction; both are checked or switched off
 * below.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "lienwatch/geo.h"

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "geo.c needs FLT_EVAL_METHOD 0 (no extended-precision temporaries)"
#endif
#ifdef __clang__
/* clang may fuse a*b+c into one FMA by default; error-free terms forbid it. */
#pragma STDC FP_CONTRACT OFF
#endif

/* Degrees to radians. */
#define DEG_TO_RAD (M_PI / 180.0)

/* Half an ulp of 1.0: the unit roundoff of IEEE double (Shewchuk's eps). */
#define UNIT_ROUNDOFF (DBL_EPSILON / 2.0)

/*
 * Relative error bound of the fast determinant in lw_geo_orient, from
 * Shewchuk, "Adaptive Precision Floating-Point Arithmetic and Fast Robust
 * Geometric Predicates" (1997), ccwerrboundA = (3 + 16 eps) eps.
 */
#define ORIENT_ERRBOUND ((3.0 + 16.0 * UNIT_ROUNDOFF) * UNIT_ROUNDOFF)

/* Dekker's splitter 2^ceil(53/2) + 1: splits a double into 26-bit halves. */
#define DEKKER_SPLITTER 134217729.0

/* Terms of the exact orientation determinant: 2 products x 4 x 2 parts. */
#define ORIENT_EXACT_TERMS 16

/* Full circle of longitude, degrees; used to shift edges across 180. */
#define LON_PERIOD_DEG 360.0

/*
 * Slack added around a circle's box, degrees (~0.1 mm): the haversine test
 * and the box formula round differently, and the box must never be smaller.
 */
#define CIRCLE_BBOX_SLACK_DEG 1e-9

bool lw_geo_valid(double lat_deg, double lon_deg)
{
    return isfinite(lat_deg) && isfinite(lon_deg) &&
           fabs(lat_deg) <= LW_GEO_LAT_MAX_DEG &&
           fabs(lon_deg) <= LW_GEO_LON_MAX_DEG;
}

double lw_geo_distance_m(double lat1_deg, double lon1_deg, double lat2_deg,
                         double lon2_deg)
{
    double phi1 = lat1_deg * DEG_TO_RAD;
    double phi2 = lat2_deg * DEG_TO_RAD;
    double sdphi = sin((phi2 - phi1) / 2.0);
    double sdlam = sin((lon2_deg - lon1_deg) * DEG_TO_RAD / 2.0);
    double h = sdphi * sdphi + cos(phi1) * cos(phi2) * sdlam * sdlam;

    /* Rounding can push h a hair past 1 for antipodal points. */
    if (h > 1.0)
        h = 1.0;
    /* atan2 form: well conditioned near 0 and near the antipode alike. */
    return 2.0 * LW_GEO_EARTH_RADIUS_M * atan2(sqrt(h), sqrt(1.0 - h));
}

/* s + e == a + b exactly (Knuth's TwoSum; any magnitudes). */
static void two_sum(double a, double b, double *s, double *e)
{
    double sum = a + b;
    double bv = sum - a;
    double av = sum - bv;

    *s = sum;
    *e = (a - av) + (b - bv);
}

/* hi + lo == a exactly, each with at most 26 significant bits (Dekker). */
static void split(double a, double *hi, double *lo)
{
    double c = DEKKER_SPLITTER * a;
    double big = c - a;

    *hi = c - big;
    *lo = a - *hi;
}

/* p + e == a * b exactly, barring underflow (Dekker's TwoProduct). */
static void two_product(double a, double b, double *p, double *e)
{
    double ahi, alo, bhi, blo;
    double prod = a * b;

    split(a, &ahi, &alo);
    split(b, &bhi, &blo);
    *p = prod;
    *e = alo * blo - (((prod - ahi * bhi) - alo * bhi) - ahi * blo);
}

/*
 * Sign of the exact sum of the n doubles in terms. Builds a non-overlapping
 * expansion with Shewchuk's Grow-Expansion (zero elimination); its largest
 * component, the last, carries the sign of the whole sum.
 */
static int exact_sum_sign(const double *terms, size_t n)
{
    double exp_[ORIENT_EXACT_TERMS];
    size_t len = 0;

    for (size_t t = 0; t < n; t++) {
        double q = terms[t];
        size_t k = 0;

        for (size_t i = 0; i < len; i++) {
            double h;

            two_sum(q, exp_[i], &q, &h);
            if (h != 0.0)
                exp_[k++] = h;
        }
        if (q != 0.0 || k == 0)
            exp_[k++] = q;
        len = k;
    }
    if (len == 0 || exp_[len - 1] == 0.0)
        return 0;
    return exp_[len - 1] > 0.0 ? 1 : -1;
}

/* Exact orientation once the filter could not decide. */
static int orient_exact(const struct lw_geo_pt *a, const struct lw_geo_pt *b,
                        const struct lw_geo_pt *c)
{
    /* (ax - cx)(by - cy) - (ay - cy)(bx - cx), each difference as hi + lo. */
    double d[4][2];
    double terms[ORIENT_EXACT_TERMS];
    size_t n = 0;

    two_sum(a->lon_deg, -c->lon_deg, &d[0][0], &d[0][1]);
    two_sum(b->lat_deg, -c->lat_deg, &d[1][0], &d[1][1]);
    two_sum(a->lat_deg, -c->lat_deg, &d[2][0], &d[2][1]);
    two_sum(b->lon_deg, -c->lon_deg, &d[3][0], &d[3][1]);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            double p, e;

            two_product(d[0][i], d[1][j], &p, &e);
            terms[n++] = p;
            terms[n++] = e;
            two_product(d[2][i], d[3][j], &p, &e);
            terms[n++] = -p;
            terms[n++] = -e;
        }
    }
    return exact_sum_sign(terms, n);
}

int lw_geo_orient(const struct lw_geo_pt *a, const struct lw_geo_pt *b,
                  const struct lw_geo_pt *c)
{
    double detleft = (a->lon_deg - c->lon_deg) * (b->lat_deg - c->lat_deg);
    double detright = (a->lat_deg - c->lat_deg) * (b->lon_deg - c->lon_deg);
    double det = detleft - detright;
    double detsum;

    /* Terms of opposite sign (or a zero) cannot cancel: det's sign is right. */
    if (detleft > 0.0) {
        if (detright <= 0.0)
            return det > 0.0 ? 1 : (det < 0.0 ? -1 : 0);
        detsum = detleft + detright;
    } else if (detleft < 0.0) {
        if (detright >= 0.0)
            return det > 0.0 ? 1 : (det < 0.0 ? -1 : 0);
        detsum = -detleft - detright;
    } else {
        return det > 0.0 ? 1 : (det < 0.0 ? -1 : 0);
    }
    if (fabs(det) >= ORIENT_ERRBOUND * detsum)
        return det > 0.0 ? 1 : -1;
    return orient_exact(a, b, c);
}

bool lw_geo_bbox_contains(const struct lw_geo_bbox *b, double lat_deg,
                          double lon_deg)
{
    return lon_deg >= b->min_lon_deg && lon_deg <= b->max_lon_deg &&
           lat_deg >= b->min_lat_deg && lat_deg <= b->max_lat_deg;
}

struct lw_geo_bbox lw_geo_bbox_of(const struct lw_geo_pt *pts, size_t n)
{
    struct lw_geo_bbox b = {pts[0].lon_deg, pts[0].lat_deg, pts[0].lon_deg,
                            pts[0].lat_deg};

    for (size_t i = 1; i < n; i++) {
        b.min_lon_deg = fmin(b.min_lon_deg, pts[i].lon_deg);
        b.max_lon_deg = fmax(b.max_lon_deg, pts[i].lon_deg);
        b.min_lat_deg = fmin(b.min_lat_deg, pts[i].lat_deg);
        b.max_lat_deg = fmax(b.max_lat_deg, pts[i].lat_deg);
    }
    return b;
}

struct lw_geo_bbox lw_geo_bbox_union(const struct lw_geo_bbox *a,
                                     const struct lw_geo_bbox *b)
{
    struct lw_geo_bbox u = {
        fmin(a->min_lon_deg, b->min_lon_deg),
        fmin(a->min_lat_deg, b->min_lat_deg),
        fmax(a->max_lon_deg, b->max_lon_deg),
        fmax(a->max_lat_deg, b->max_lat_deg),
    };
    return u;
}

enum lw_geo_where lw_geo_ring_locate(const struct lw_geo_ring *r,
                                     double lat_deg, double lon_deg)
{
    const struct lw_geo_pt p = {lon_deg, lat_deg};
    unsigned crossings = 0;

    /*
     * Ray casting towards +lon with the half-open rule (an edge counts when
     * exactly one end is strictly north of the point), as GEOS's
     * RayCrossingCounter does: vertices on the ray are counted once, and
     * horizontal edges never. Being on the boundary is detected on the way.
     */
    for (size_t i = 0; i + 1 < r->n; i++) {
        const struct lw_geo_pt *a = &r->pts[i];
        const struct lw_geo_pt *b = &r->pts[i + 1];
        int o;

        if (a->lon_deg == p.lon_deg && a->lat_deg == p.lat_deg)
            return LW_GEO_BOUNDARY;
        if (a->lat_deg == b->lat_deg) {
            if (a->lat_deg == p.lat_deg &&
                p.lon_deg >= fmin(a->lon_deg, b->lon_deg) &&
                p.lon_deg <= fmax(a->lon_deg, b->lon_deg))
                return LW_GEO_BOUNDARY;
            continue;
        }
        if ((a->lat_deg > p.lat_deg) == (b->lat_deg > p.lat_deg))
            continue;
        /* Wholly west: neither crossed eastwards nor touched. */
        if (a->lon_deg < p.lon_deg && b->lon_deg < p.lon_deg)
            continue;
        /* Wholly east: crossed, and the point cannot be on it. */
        if (a->lon_deg > p.lon_deg && b->lon_deg > p.lon_deg) {
            crossings++;
            continue;
        }
        o = lw_geo_orient(a, b, &p);
        if (o == 0)
            return LW_GEO_BOUNDARY;
        /* East of the point means: left of a northbound edge, right of a
         * southbound one. */
        if ((o > 0) == (b->lat_deg > a->lat_deg))
            crossings++;
    }
    return (crossings & 1u) ? LW_GEO_INSIDE : LW_GEO_OUTSIDE;
}

enum lw_geo_where lw_geo_polygon_locate(const struct lw_geo_polygon *p,
                                        double lat_deg, double lon_deg)
{
    enum lw_geo_where w;

    if (!lw_geo_bbox_contains(&p->bbox, lat_deg, lon_deg))
        return LW_GEO_OUTSIDE;
    w = lw_geo_ring_locate(&p->rings[0], lat_deg, lon_deg);
    if (w != LW_GEO_INSIDE)
        return w;
    for (size_t h = 1; h < p->nrings; h++) {
        switch (lw_geo_ring_locate(&p->rings[h], lat_deg, lon_deg)) {
        case LW_GEO_INSIDE:
            return LW_GEO_OUTSIDE;
        case LW_GEO_BOUNDARY:
            return LW_GEO_BOUNDARY;
        case LW_GEO_OUTSIDE:
            break;
        }
    }
    return LW_GEO_INSIDE;
}

enum lw_geo_where lw_geo_polygons_locate(const struct lw_geo_polygon *polys,
                                         size_t n, double lat_deg,
                                         double lon_deg)
{
    enum lw_geo_where best = LW_GEO_OUTSIDE;

    for (size_t i = 0; i < n; i++) {
        enum lw_geo_where w =
            lw_geo_polygon_locate(&polys[i], lat_deg, lon_deg);

        if (w == LW_GEO_INSIDE)
            return w;
        if (w == LW_GEO_BOUNDARY)
            best = w;
    }
    return best;
}

bool lw_geo_polygons_contain(const struct lw_geo_polygon *polys, size_t n,
                             double lat_deg, double lon_deg)
{
    return lw_geo_polygons_locate(polys, n, lat_deg, lon_deg) != LW_GEO_OUTSIDE;
}

/* Nearest boundary point found so far by the distance search. */
struct nearest {
    double d2;      /* squared distance in the local plane (scaled degrees) */
    double lon_deg; /* the nearest point, unshifted longitude */
    double lat_deg; /* the nearest point, latitude */
};

/*
 * Updates *best with segment a-b, in the equirectangular plane centred on
 * (lat, lon) whose x unit is cos(lat) degrees of longitude and y unit one
 * degree of latitude (the common factor R * pi / 180 does not change which
 * point is nearest).
 */
static void nearest_on_segment(const struct lw_geo_pt *a,
                               const struct lw_geo_pt *b, double lat_deg,
                               double lon_deg, double coslat,
                               struct nearest *best)
{
    /* Bring the edge to the point's side of the antimeridian as a whole,
     * so the straight edge stays the same straight edge. */
    double mid = (a->lon_deg + b->lon_deg) / 2.0;
    double shift = LON_PERIOD_DEG * nearbyint((mid - lon_deg) / LON_PERIOD_DEG);
    double ax = (a->lon_deg - shift - lon_deg) * coslat;
    double ay = a->lat_deg - lat_deg;
    double dx = (b->lon_deg - a->lon_deg) * coslat;
    double dy = b->lat_deg - a->lat_deg;
    double len2 = dx * dx + dy * dy;
    double t = 0.0;
    double qx, qy, d2;

    if (len2 > 0.0) {
        t = -(ax * dx + ay * dy) / len2;
        t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
    }
    qx = ax + t * dx;
    qy = ay + t * dy;
    d2 = qx * qx + qy * qy;
    if (d2 < best->d2) {
        best->d2 = d2;
        best->lon_deg = a->lon_deg + t * (b->lon_deg - a->lon_deg);
        best->lat_deg = a->lat_deg + t * (b->lat_deg - a->lat_deg);
    }
}

/* True for an edge along the antimeridian: the seam of a split fence. */
static bool is_seam(const struct lw_geo_pt *a, const struct lw_geo_pt *b)
{
    return a->lon_deg == b->lon_deg && fabs(a->lon_deg) == LW_GEO_LON_MAX_DEG;
}

double lw_geo_polygons_boundary_distance_m(const struct lw_geo_polygon *polys,
                                           size_t n, double lat_deg,
                                           double lon_deg)
{
    struct nearest best = {INFINITY, 0.0, 0.0};
    double coslat = cos(lat_deg * DEG_TO_RAD);

    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < polys[i].nrings; r++) {
            const struct lw_geo_ring *ring = &polys[i].rings[r];

            for (size_t k = 0; k + 1 < ring->n; k++) {
                if (is_seam(&ring->pts[k], &ring->pts[k + 1]))
                    continue;
                nearest_on_segment(&ring->pts[k], &ring->pts[k + 1], lat_deg,
                                   lon_deg, coslat, &best);
            }
        }
    }
    if (isinf(best.d2))
        return INFINITY;
    return lw_geo_distance_m(lat_deg, lon_deg, best.lat_deg, best.lon_deg);
}

enum lw_geo_where lw_geo_circle_locate(const struct lw_geo_circle *c,
                                       double lat_deg, double lon_deg)
{
    double d = lw_geo_distance_m(c->lat_deg, c->lon_deg, lat_deg, lon_deg);

    if (d < c->radius_m)
        return LW_GEO_INSIDE;
    return d == c->radius_m ? LW_GEO_BOUNDARY : LW_GEO_OUTSIDE;
}

double lw_geo_circle_boundary_distance_m(const struct lw_geo_circle *c,
                                         double lat_deg, double lon_deg)
{
    double d = lw_geo_distance_m(c->lat_deg, c->lon_deg, lat_deg, lon_deg);

    return fabs(d - c->radius_m);
}

struct lw_geo_bbox lw_geo_circle_bbox(const struct lw_geo_circle *c)
{
    const struct lw_geo_bbox world = {-LW_GEO_LON_MAX_DEG, -LW_GEO_LAT_MAX_DEG,
                                      LW_GEO_LON_MAX_DEG, LW_GEO_LAT_MAX_DEG};
    double ang = c->radius_m / LW_GEO_EARTH_RADIUS_M; /* radians */
    double ang_deg = ang / DEG_TO_RAD + CIRCLE_BBOX_SLACK_DEG;
    struct lw_geo_bbox b = world;
    double s, dlon_deg;

    if (ang >= M_PI)
        return world;
    b.min_lat_deg = c->lat_deg - ang_deg;
    b.max_lat_deg = c->lat_deg + ang_deg;
    /* A cap over a pole holds every longitude. */
    if (b.max_lat_deg >= LW_GEO_LAT_MAX_DEG ||
        b.min_lat_deg <= -LW_GEO_LAT_MAX_DEG) {
        b.min_lat_deg = fmax(b.min_lat_deg, -LW_GEO_LAT_MAX_DEG);
        b.max_lat_deg = fmin(b.max_lat_deg, LW_GEO_LAT_MAX_DEG);
        return b;
    }
    /* Widest longitude reach of a spherical cap: asin(sin a / cos lat). */
    s = sin(fmin(ang, M_PI / 2.0)) / cos(c->lat_deg * DEG_TO_RAD);
    if (ang >= M_PI / 2.0 || s >= 1.0)
        return b;
    dlon_deg = asin(s) / DEG_TO_RAD + CIRCLE_BBOX_SLACK_DEG;
    if (c->lon_deg - dlon_deg < -LW_GEO_LON_MAX_DEG ||
        c->lon_deg + dlon_deg > LW_GEO_LON_MAX_DEG)
        return b;
    b.min_lon_deg = c->lon_deg - dlon_deg;
    b.max_lon_deg = c->lon_deg + dlon_deg;
    return b;
}

/* ---- links to a position ------------------------------------------------ */

char *lw_osm_url(double lat_deg, double lon_deg, char *buf, size_t len)
{
    snprintf(buf, len,
             "https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f#map=17/%.6f/"
             "%.6f",
             lat_deg, lon_deg, lat_deg, lon_deg);
    return buf;
}

char *lw_geo_uri(double lat_deg, double lon_deg, double accuracy_m, char *buf,
                 size_t len)
{
    if (isfinite(accuracy_m) && accuracy_m > 0)
        snprintf(buf, len, "geo:%.6f,%.6f;u=%.0f", lat_deg, lon_deg,
                 accuracy_m);
    else
        snprintf(buf, len, "geo:%.6f,%.6f", lat_deg, lon_deg);
    return buf;
}
