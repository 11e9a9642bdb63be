/*
 * fencecheck.c - validity of geofences before they are stored: GEOS for
 * polygons (reentrant C API, one context per checker), bounds for circles
 * and sizes, and GEOS MakeValid ("structure") for repairs.
 *
 * A fence's polygons (fence.h's arrays) are copied into a GEOS Polygon or
 * MultiPolygon, checked with GEOSisValidDetail_r and GEOSArea_r, and, when
 * a repair is asked for, rebuilt with GEOSMakeValidWithParams_r. The
 * polygons of the result (lower-dimensional leftovers dropped) are checked
 * again and written out as a GeoJSON Feature, which fence.h loads like any
 * other, so a repaired fence goes through exactly the same parser and
 * checks as an imported one.
 *
 * GEOS reports exceptions through the context's error handler; the message
 * is kept in the checker and becomes the reason of the fence it concerned.
 */
#include <geos_c.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/fencecheck.h"

/* Significant digits that make every double print and read back exactly. */
#define ROUNDTRIP_DIGITS 17

/* Room for GEOS's last error message. */
#define GEOS_MSG_MAX 256

/* Degrees to radians. */
#define RAD_PER_DEG (M_PI / 180.0)

/* Square metres per square kilometre, for messages. */
#define M2_PER_KM2 1e6

struct lw_fencecheck {
    GEOSContextHandle_t h;       /* owned GEOS context */
    GEOSMakeValidParams *mvp;    /* owned: structure method, no collapsed */
    char geos_msg[GEOS_MSG_MAX]; /* GEOS's last error, "" when none */
    double *buf;                 /* owned coordinate buffer, x y x y ... */
    size_t cap;                  /* doubles allocated in buf */
};

/* GEOS error handler: keeps the message for the report. */
static void on_geos_error(const char *msg, void *userdata)
{
    struct lw_fencecheck *fc = userdata;

    lw_copy(fc->geos_msg, sizeof fc->geos_msg, msg ? msg : "unknown error");
    /* GEOS messages may end in a newline: one line for reports */
    fc->geos_msg[strcspn(fc->geos_msg, "\r\n")] = '\0';
}

/* GEOS notices (warnings) say nothing the verdict needs. */
static void on_geos_notice(const char *msg, void *userdata)
{
    (void)msg;
    (void)userdata;
}

struct lw_fencecheck *lw_fencecheck_new(void)
{
    struct lw_fencecheck *fc = calloc(1, sizeof *fc);

    if (!fc)
        return NULL;
    fc->h = GEOS_init_r();
    if (!fc->h)
        goto out_free;
    GEOSContext_setErrorMessageHandler_r(fc->h, on_geos_error, fc);
    GEOSContext_setNoticeMessageHandler_r(fc->h, on_geos_notice, fc);
    fc->mvp = GEOSMakeValidParams_create_r(fc->h);
    if (!fc->mvp ||
        !GEOSMakeValidParams_setMethod_r(fc->h, fc->mvp,
                                         GEOS_MAKE_VALID_STRUCTURE) ||
        !GEOSMakeValidParams_setKeepCollapsed_r(fc->h, fc->mvp, 0))
        goto out_finish;
    return fc;
out_finish:
    if (fc->mvp)
        GEOSMakeValidParams_destroy_r(fc->h, fc->mvp);
    GEOS_finish_r(fc->h);
out_free:
    free(fc);
    return NULL;
}

void lw_fencecheck_free(struct lw_fencecheck *fc)
{
    if (!fc)
        return;
    GEOSMakeValidParams_destroy_r(fc->h, fc->mvp);
    GEOS_finish_r(fc->h);
    free(fc->buf);
    free(fc);
}

enum lw_err lw_fencecheck_radius(double radius_m, char *err, size_t errlen)
{
    if (!isfinite(radius_m) || radius_m < LW_FENCECHECK_RADIUS_MIN_M) {
        lw_seterr(err, errlen,
                  "radius %.6g m is less than %g m (circles are %g m to "
                  "%g km)",
                  radius_m, LW_FENCECHECK_RADIUS_MIN_M,
                  LW_FENCECHECK_RADIUS_MIN_M,
                  LW_FENCECHECK_RADIUS_MAX_M / 1000.0);
        /* NaN compares false: also said "less than", which is as good */
        return LW_ERR_RANGE;
    }
    if (radius_m > LW_FENCECHECK_RADIUS_MAX_M) {
        lw_seterr(err, errlen,
                  "radius %.6g m is more than %g km (circles are %g m to "
                  "%g km; import a polygon for a larger area)",
                  radius_m, LW_FENCECHECK_RADIUS_MAX_M / 1000.0,
                  LW_FENCECHECK_RADIUS_MIN_M,
                  LW_FENCECHECK_RADIUS_MAX_M / 1000.0);
        return LW_ERR_RANGE;
    }
    return LW_OK;
}

/* Sets r's reason (one line). */
__attribute__((format(printf, 2, 3))) static void
set_reason(struct lw_fencecheck_report *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

/* Sets r's note (one line). */
__attribute__((format(printf, 2, 3))) static void
set_note(struct lw_fencecheck_report *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->note, sizeof r->note, fmt, ap);
    va_end(ap);
}

/*
 * Signed area in square metres of the closed ring of n points xy (x y x y
 * ..., lon/lat degrees) on the sphere: Chamberlain and Duquette, "Some
 * algorithms for polygons on a sphere" (JPL 2007), the formula for edges
 * that are straight in lon/lat. Positive when counter-clockwise.
 */
static double ring_area_m2(const double *xy, size_t n)
{
    size_t m = n - 1; /* distinct vertices of a closed ring */
    double sum = 0.0;

    if (n < 4)
        return 0.0;
    for (size_t i = 0; i < m; i++) {
        size_t prev = i == 0 ? m - 1 : i - 1;
        size_t next = i + 1 == m ? 0 : i + 1;

        sum += (xy[2 * next] - xy[2 * prev]) * RAD_PER_DEG *
               sin(xy[2 * i + 1] * RAD_PER_DEG);
    }
    return sum * LW_GEO_EARTH_RADIUS_M * LW_GEO_EARTH_RADIUS_M / 2.0;
}

/* Makes room for n points in fc->buf. */
static enum lw_err reserve_points(struct lw_fencecheck *fc, size_t n)
{
    double *nb;

    if (n <= fc->cap / 2)
        return LW_OK;
    if (n > SIZE_MAX / (2 * sizeof *nb))
        return LW_ERR_NOMEM;
    nb = realloc(fc->buf, 2 * n * sizeof *nb);
    if (!nb)
        return LW_ERR_NOMEM;
    fc->buf = nb;
    fc->cap = 2 * n;
    return LW_OK;
}

/* Copies ring r into fc->buf as x y pairs. */
static enum lw_err ring_to_buf(struct lw_fencecheck *fc,
                               const struct lw_geo_ring *r)
{
    enum lw_err e = reserve_points(fc, r->n);

    if (e != LW_OK)
        return e;
    for (size_t i = 0; i < r->n; i++) {
        fc->buf[2 * i] = r->pts[i].lon_deg;
        fc->buf[2 * i + 1] = r->pts[i].lat_deg;
    }
    return LW_OK;
}

/* The shape of the fence's polygons as given (GEOS's area convention:
 * |shell| minus |holes| per polygon, so the lobes of a bow-tie cancel). */
static enum lw_err shape_of_polygons(struct lw_fencecheck *fc,
                                     const struct lw_geo_polygon *polys,
                                     size_t n, struct lw_fencecheck_shape *s)
{
    enum lw_err e;

    *s = (struct lw_fencecheck_shape){.parts = n};
    for (size_t p = 0; p < n; p++) {
        s->holes += polys[p].nrings - 1;
        for (size_t r = 0; r < polys[p].nrings; r++) {
            const struct lw_geo_ring *ring = &polys[p].rings[r];
            double a;

            s->vertices += ring->n;
            e = ring_to_buf(fc, ring);
            if (e != LW_OK)
                return e;
            a = fabs(ring_area_m2(fc->buf, ring->n));
            s->area_m2 += r == 0 ? a : -a;
        }
    }
    return LW_OK;
}

/* A GEOS LinearRing of r; NULL on failure (fc->geos_msg may say why). */
static GEOSGeometry *ring_geom(struct lw_fencecheck *fc,
                               const struct lw_geo_ring *r)
{
    GEOSCoordSequence *seq;

    if (ring_to_buf(fc, r) != LW_OK)
        return NULL;
    seq = GEOSCoordSeq_copyFromBuffer_r(fc->h, fc->buf, (unsigned)r->n, 0, 0);
    if (!seq)
        return NULL;
    /* takes seq, also when it fails */
    return GEOSGeom_createLinearRing_r(fc->h, seq);
}

/* A GEOS Polygon of p; NULL on failure. */
static GEOSGeometry *polygon_geom(struct lw_fencecheck *fc,
                                  const struct lw_geo_polygon *p)
{
    GEOSGeometry *shell = ring_geom(fc, &p->rings[0]);
    GEOSGeometry **holes = NULL;
    GEOSGeometry *poly = NULL;
    size_t nholes = p->nrings - 1, made = 0;

    if (!shell)
        return NULL;
    if (nholes) {
        holes = calloc(nholes, sizeof *holes);
        if (!holes)
            goto out_free;
    }
    for (made = 0; made < nholes; made++) {
        holes[made] = ring_geom(fc, &p->rings[made + 1]);
        if (!holes[made])
            goto out_free;
    }
    /* takes shell and the holes (not the array) */
    poly = GEOSGeom_createPolygon_r(fc->h, shell, holes, (unsigned)nholes);
    free(holes);
    return poly;
out_free:
    for (size_t i = 0; i < made; i++)
        GEOSGeom_destroy_r(fc->h, holes[i]);
    free(holes);
    GEOSGeom_destroy_r(fc->h, shell);
    return NULL;
}

/* A GEOS Polygon (n == 1) or MultiPolygon of polys; NULL on failure. */
static GEOSGeometry *fence_geom(struct lw_fencecheck *fc,
                                const struct lw_geo_polygon *polys, size_t n)
{
    GEOSGeometry **parts, *g = NULL;
    size_t made;

    if (n == 1)
        return polygon_geom(fc, &polys[0]);
    parts = calloc(n, sizeof *parts);
    if (!parts)
        return NULL;
    for (made = 0; made < n; made++) {
        parts[made] = polygon_geom(fc, &polys[made]);
        if (!parts[made])
            break;
    }
    if (made == n)
        /* takes the parts (not the array) */
        g = GEOSGeom_createCollection_r(fc->h, GEOS_MULTIPOLYGON, parts,
                                        (unsigned)n);
    else
        for (size_t i = 0; i < made; i++)
            GEOSGeom_destroy_r(fc->h, parts[i]);
    free(parts);
    return g;
}

/* Polygons collected from a GEOS result. */
struct polys {
    GEOSGeometry **v; /* owned clones */
    size_t n, cap;    /* used / allocated */
    size_t dropped;   /* non-polygonal or empty components left out */
};

/* Appends clones of every non-empty polygon of g to pl (recursively). */
static enum lw_err collect_polygons(struct lw_fencecheck *fc,
                                    const GEOSGeometry *g, struct polys *pl)
{
    int type = GEOSGeomTypeId_r(fc->h, g);
    int n;

    if (type == GEOS_MULTIPOLYGON || type == GEOS_GEOMETRYCOLLECTION) {
        n = GEOSGetNumGeometries_r(fc->h, g);
        for (int i = 0; i < n; i++) {
            const GEOSGeometry *sub = GEOSGetGeometryN_r(fc->h, g, i);
            enum lw_err e = sub ? collect_polygons(fc, sub, pl) : LW_ERR_NOMEM;

            if (e != LW_OK)
                return e;
        }
        return LW_OK;
    }
    if (type != GEOS_POLYGON || GEOSisEmpty_r(fc->h, g) != 0) {
        pl->dropped++;
        return LW_OK;
    }
    if (pl->n == pl->cap) {
        size_t ncap = pl->cap ? pl->cap * 2 : 8;
        GEOSGeometry **nv = realloc(pl->v, ncap * sizeof *nv);

        if (!nv)
            return LW_ERR_NOMEM;
        pl->v = nv;
        pl->cap = ncap;
    }
    pl->v[pl->n] = GEOSGeom_clone_r(fc->h, g);
    if (!pl->v[pl->n])
        return LW_ERR_NOMEM;
    pl->n++;
    return LW_OK;
}

/* Copies the coordinates of GEOS ring g into fc->buf; *n gets the count. */
static enum lw_err geos_ring_to_buf(struct lw_fencecheck *fc,
                                    const GEOSGeometry *g, size_t *n)
{
    const GEOSCoordSequence *seq = GEOSGeom_getCoordSeq_r(fc->h, g);
    unsigned size;
    enum lw_err e;

    if (!seq || !GEOSCoordSeq_getSize_r(fc->h, seq, &size))
        return LW_ERR_NOMEM;
    e = reserve_points(fc, size);
    if (e != LW_OK)
        return e;
    if (size && !GEOSCoordSeq_copyToBuffer_r(fc->h, seq, fc->buf, 0, 0))
        return LW_ERR_NOMEM;
    *n = size;
    return LW_OK;
}

/* The rings of GEOS polygon g as a GeoJSON rings array (adds to s); NULL
 * when out of memory. */
static json_t *geos_polygon_json(struct lw_fencecheck *fc,
                                 const GEOSGeometry *g,
                                 struct lw_fencecheck_shape *s)
{
    json_t *rings = json_array();
    int nholes = GEOSGetNumInteriorRings_r(fc->h, g);

    if (!rings || nholes < 0)
        goto out_fail;
    for (int r = -1; r < nholes; r++) {
        const GEOSGeometry *ring = r < 0 ? GEOSGetExteriorRing_r(fc->h, g)
                                         : GEOSGetInteriorRingN_r(fc->h, g, r);
        json_t *jr = json_array();
        size_t n;
        double a;

        /* rings owns jr from here, even when the append fails */
        if (!ring || json_array_append_new(rings, jr) != 0 ||
            geos_ring_to_buf(fc, ring, &n) != LW_OK)
            goto out_fail;
        for (size_t i = 0; i < n; i++) {
            json_t *pos =
                json_pack("[f,f]", fc->buf[2 * i], fc->buf[2 * i + 1]);

            if (json_array_append_new(jr, pos) != 0)
                goto out_fail;
        }
        a = fabs(ring_area_m2(fc->buf, n));
        s->area_m2 += r < 0 ? a : -a;
        s->vertices += n;
    }
    s->holes += (size_t)nholes;
    s->parts++;
    return rings;
out_fail:
    json_decref(rings);
    return NULL;
}

/*
 * The GeoJSON Feature text of the repaired MultiPolygon multi named name (a
 * Polygon when it has one part); s gets its shape. NULL when out of memory.
 * Caller frees.
 */
static char *repaired_geojson(struct lw_fencecheck *fc,
                              const GEOSGeometry *multi, const char *name,
                              struct lw_fencecheck_shape *s)
{
    int n = GEOSGetNumGeometries_r(fc->h, multi);
    json_t *coords = NULL, *feature;
    char *text = NULL;

    *s = (struct lw_fencecheck_shape){0};
    if (n < 1)
        return NULL;
    if (n == 1) {
        coords = geos_polygon_json(fc, GEOSGetGeometryN_r(fc->h, multi, 0), s);
    } else {
        coords = json_array();
        for (int i = 0; coords && i < n; i++) {
            const GEOSGeometry *part = GEOSGetGeometryN_r(fc->h, multi, i);

            /* append_new takes the part's JSON, also NULL (then fails) */
            if (!part || json_array_append_new(
                             coords, geos_polygon_json(fc, part, s)) != 0) {
                json_decref(coords);
                coords = NULL;
            }
        }
    }
    if (!coords)
        return NULL;
    /* "o" takes coords, also when the pack fails */
    feature =
        json_pack("{s:s, s:{s:s}, s:{s:s, s:o}}", "type", "Feature",
                  "properties", "name", name, "geometry", "type",
                  n == 1 ? "Polygon" : "MultiPolygon", "coordinates", coords);
    if (feature)
        text = json_dumps(feature,
                          JSON_COMPACT | JSON_REAL_PRECISION(ROUNDTRIP_DIGITS));
    json_decref(feature);
    return text;
}

/* Frees the clones of pl. */
static void polys_release(struct lw_fencecheck *fc, struct polys *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        GEOSGeom_destroy_r(fc->h, pl->v[i]);
    free(pl->v);
    *pl = (struct polys){0};
}

/*
 * Repairs g (invalid) for fence r->name: fills r->after and *text (the
 * repaired Feature, caller frees) and sets REPAIRED, or leaves it REFUSED
 * with r->note saying why. LW_OK or LW_ERR_NOMEM.
 */
static enum lw_err repair(struct lw_fencecheck *fc, const GEOSGeometry *g,
                          struct lw_fencecheck_report *r, char **text)
{
    struct polys pl = {0};
    GEOSGeometry *fixed, *multi = NULL;
    enum lw_err e = LW_OK;
    double area = 0.0;
    char valid;

    fc->geos_msg[0] = '\0';
    fixed = GEOSMakeValidWithParams_r(fc->h, g, fc->mvp);
    if (!fixed) {
        set_note(r, "GEOS could not repair it: %s",
                 fc->geos_msg[0] ? fc->geos_msg : "no result");
        return LW_OK;
    }
    e = collect_polygons(fc, fixed, &pl);
    GEOSGeom_destroy_r(fc->h, fixed);
    if (e != LW_OK)
        goto out_release;
    if (pl.n == 0) {
        set_note(r, "repairing it leaves no area (it collapses to lines or "
                    "points)");
        goto out_release;
    }
    /* the parts together must be valid too: check the whole. The
     * collection takes the parts (also when it fails), and the array is
     * ours to free. */
    multi = GEOSGeom_createCollection_r(fc->h, GEOS_MULTIPOLYGON, pl.v,
                                        (unsigned)pl.n);
    free(pl.v);
    pl = (struct polys){0};
    if (!multi)
        return LW_ERR_NOMEM;
    valid = GEOSisValid_r(fc->h, multi);
    if (valid != 1 || !GEOSArea_r(fc->h, multi, &area) || !(area > 0.0)) {
        set_note(r, "GEOS's repair is not a valid area either");
        goto out_destroy;
    }
    *text = repaired_geojson(fc, multi, r->name, &r->after);
    if (!*text) {
        e = LW_ERR_NOMEM;
        goto out_destroy;
    }
    if (!(r->after.area_m2 >= LW_FENCECHECK_MIN_AREA_M2)) {
        free(*text);
        *text = NULL;
        set_note(r,
                 "repairing it leaves an area of %.3g m² on the ground, less "
                 "than the %g m² a fence must enclose",
                 r->after.area_m2, LW_FENCECHECK_MIN_AREA_M2);
        goto out_destroy;
    }
    if (r->after.vertices > LW_FENCECHECK_MAX_VERTICES) {
        free(*text);
        *text = NULL;
        set_note(r,
                 "the repaired fence has %zu vertices, more than the %d a "
                 "fence may have",
                 r->after.vertices, LW_FENCECHECK_MAX_VERTICES);
        goto out_destroy;
    }
    r->verdict = LW_FENCECHECK_REPAIRED;
out_destroy:
    GEOSGeom_destroy_r(fc->h, multi);
    return e;
out_release:
    polys_release(fc, &pl);
    return e;
}

/*
 * Checks polygon fence id of set into r (verdict VALID, REPAIRED with *text
 * set, or REFUSED). LW_OK or LW_ERR_NOMEM.
 */
static enum lw_err check_polygons(struct lw_fencecheck *fc,
                                  const struct lw_fenceset *set, size_t id,
                                  bool make_valid,
                                  struct lw_fencecheck_report *r, char **text)
{
    const struct lw_geo_polygon *polys;
    GEOSGeometry *g, *loc = NULL;
    char *reason = NULL;
    size_t n;
    double area = 0.0;
    enum lw_err e;
    char valid;

    e = lw_fence_get_polygons(set, id, &polys, &n);
    if (e == LW_OK)
        e = shape_of_polygons(fc, polys, n, &r->before);
    if (e != LW_OK)
        return e;
    if (r->before.vertices > LW_FENCECHECK_MAX_VERTICES) {
        r->verdict = LW_FENCECHECK_REFUSED;
        set_reason(r,
                   "%zu vertices, more than the %d a fence may have "
                   "(simplify it)",
                   r->before.vertices, LW_FENCECHECK_MAX_VERTICES);
        return LW_OK;
    }
    fc->geos_msg[0] = '\0';
    g = fence_geom(fc, polys, n);
    if (!g) {
        if (!fc->geos_msg[0])
            return LW_ERR_NOMEM;
        r->verdict = LW_FENCECHECK_REFUSED;
        set_reason(r, "GEOS cannot read it: %s", fc->geos_msg);
        return LW_OK;
    }
    valid = GEOSisValidDetail_r(fc->h, g, 0, &reason, &loc);
    if (valid == 1 && GEOSArea_r(fc->h, g, &area) && area > 0.0 &&
        r->before.area_m2 >= LW_FENCECHECK_MIN_AREA_M2)
        goto out_free; /* VALID */
    r->verdict = LW_FENCECHECK_REFUSED;
    if (valid == 1 && area > 0.0) {
        /* valid, but a speck: as a keep-in fence it puts every vehicle
         * outside, and no repair makes it larger */
        set_reason(r,
                   "an area of %.3g m² on the ground, less than the %g m² a "
                   "fence must enclose",
                   r->before.area_m2, LW_FENCECHECK_MIN_AREA_M2);
        goto out_free;
    } else if (valid == 1) {
        set_reason(r, "zero area (its rings enclose nothing)");
    } else if (valid == 0) {
        set_reason(r, "%s", reason ? reason : "invalid");
        if (loc && GEOSGeomGetX_r(fc->h, loc, &r->lon_deg) &&
            GEOSGeomGetY_r(fc->h, loc, &r->lat_deg))
            r->has_location = true;
    } else {
        set_reason(r, "GEOS could not check it: %s",
                   fc->geos_msg[0] ? fc->geos_msg : "unknown error");
        goto out_free;
    }
    if (make_valid)
        e = repair(fc, g, r, text);
    else
        r->can_repair = true;
out_free:
    GEOSFree_r(fc->h, reason);
    if (loc)
        GEOSGeom_destroy_r(fc->h, loc);
    GEOSGeom_destroy_r(fc->h, g);
    return e;
}

/* Checks circle fence id of set into r. */
static enum lw_err check_circle(const struct lw_fenceset *set, size_t id,
                                struct lw_fencecheck_report *r)
{
    struct lw_geo_circle c;
    enum lw_err e = lw_fence_get_circle(set, id, &c);

    if (e != LW_OK)
        return e;
    r->is_circle = true;
    if (lw_fencecheck_radius(c.radius_m, r->reason, sizeof r->reason) !=
        LW_OK) {
        r->verdict = LW_FENCECHECK_REFUSED;
        r->has_location = true;
        r->lat_deg = c.lat_deg;
        r->lon_deg = c.lon_deg;
    }
    return LW_OK;
}

/*
 * A new set holding every fence of set in order, texts[id] (when not NULL)
 * in place of fence id. LW_OK, LW_ERR_NOMEM or LW_ERR_INVAL (a text that
 * does not load: err says why).
 */
static enum lw_err rebuild(const struct lw_fenceset *set, char **texts,
                           struct lw_fenceset **out, char *err, size_t errlen)
{
    size_t n = lw_fenceset_count(set);
    struct lw_fenceset *ns = lw_fenceset_new();
    char detail[LW_FENCECHECK_REASON_MAX] = "";
    enum lw_err e = ns ? LW_OK : LW_ERR_NOMEM;

    for (size_t id = 0; e == LW_OK && id < n; id++) {
        char *copy = NULL;
        const char *text = texts[id];

        if (!text) {
            e = lw_fence_to_geojson(set, id, &copy);
            text = copy;
        }
        if (e == LW_OK)
            e = lw_fenceset_add_geojson(
                ns, text, strlen(text), lw_fence_get_kind(set, id),
                LW_FENCE_DEFAULT_NAME_PROP, detail, sizeof detail);
        if (e != LW_OK && e != LW_ERR_NOMEM)
            lw_seterr(err, errlen,
                      "fence %zu: the repaired fence does not "
                      "load: %s",
                      id, detail);
        free(copy);
    }
    if (e != LW_OK) {
        lw_fenceset_free(ns);
        return e;
    }
    *out = ns;
    return LW_OK;
}

enum lw_err lw_fencecheck_set(struct lw_fencecheck *fc,
                              const struct lw_fenceset *set, bool make_valid,
                              struct lw_fenceset **out, lw_fencecheck_cb cb,
                              void *ctx, size_t *refused, size_t *repaired,
                              char *err, size_t errlen)
{
    size_t n = lw_fenceset_count(set), nrefused = 0, nrepaired = 0;
    char **texts = NULL;
    enum lw_err e = LW_OK;

    if (out)
        *out = NULL;
    if (refused)
        *refused = 0;
    if (repaired)
        *repaired = 0;
    if (!fc || !set || (make_valid && !out)) {
        lw_seterr(err, errlen, "invalid argument");
        return LW_ERR_INVAL;
    }
    if (make_valid && n) {
        texts = calloc(n, sizeof *texts);
        if (!texts) {
            e = LW_ERR_NOMEM;
            goto out_free;
        }
    }
    for (size_t id = 0; e == LW_OK && id < n; id++) {
        struct lw_fencecheck_report r = {
            .id = id,
            .name = lw_fence_get_name(set, id),
            .verdict = LW_FENCECHECK_VALID,
        };
        char *text = NULL;

        if (lw_fence_is_circle(set, id))
            e = check_circle(set, id, &r);
        else
            e = check_polygons(fc, set, id, make_valid, &r, &text);
        if (e != LW_OK)
            break;
        if (r.verdict == LW_FENCECHECK_VALID)
            continue;
        if (r.verdict == LW_FENCECHECK_REPAIRED) {
            texts[id] = text;
            nrepaired++;
        } else {
            free(text);
            nrefused++;
        }
        if (cb)
            cb(ctx, &r);
    }
    if (e == LW_OK && make_valid && nrepaired && !nrefused)
        e = rebuild(set, texts, out, err, errlen);
    else if (e == LW_ERR_NOMEM)
        lw_seterr(err, errlen, "out of memory");
out_free:
    for (size_t id = 0; texts && id < n; id++)
        free(texts[id]);
    free(texts);
    if (refused)
        *refused = nrefused;
    if (repaired)
        *repaired = nrepaired;
    return e;
}
