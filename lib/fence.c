/*
 * fence.c - geofence sets: GeoJSON in (jansson), exact containment through
 * geo.c, a packed STR R-tree in front, GeoJSON out.
 *
 * Layout: every fence owns three flat arrays (polygons, rings, vertices) that
 * the geo.h views point into, so a fence is three allocations whatever its
 * shape. The index does not see fences but "parts": one per polygon of a
 * (multi)polygon, one per circle. Splitting multipolygons keeps the boxes
 * tight (a country with far-flung islands, or a fence split at the
 * antimeridian, would otherwise have a box spanning the map). A fence with
 * several parts is reported once: by the lowest-numbered part that contains
 * the point, which is found without any per-query memory.
 *
 * Invariants:
 *   - set->parts lists the parts of fence 0, then fence 1, ...; a fence's
 *     parts are contiguous from fence->first_part, in polygon order;
 *   - a part's box equals its polygon's box (outer ring) or its circle's
 *     box, so "box holds the point" is necessary for "part holds the point";
 *   - the tree covers parts [0, tree.nparts); later parts are scanned.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/fence.h"

/* Entries per R-tree node: 16 keeps a node's boxes in a few cache lines. */
#define RTREE_NODE_SIZE 16

/*
 * Most levels a tree can have: 16^17 > 2^64 entries, so 17 suffice; the
 * margin costs nothing.
 */
#define RTREE_MAX_LEVELS 24

/* Depth-first stack bound: at most NODE_SIZE pending nodes per level. */
#define RTREE_STACK_MAX (RTREE_NODE_SIZE * RTREE_MAX_LEVELS)

/* Fewest positions in a GeoJSON linear ring (RFC 7946 3.1.6). */
#define RING_MIN_POSITIONS 4

/* A position needs at least longitude and latitude. */
#define POSITION_MIN_DIMS 2

/* Room for a message part before "feature N: " is prefixed. */
#define MSG_MAX 256

/* Room for a numeric property rendered as a fence name. */
#define NUM_NAME_MAX 48

/* Significant digits that make every double print and read back exactly. */
#define ROUNDTRIP_DIGITS 17

/* Significant digits for a real-valued name property ("3.5", not 3.50000..). */
#define NAME_REAL_DIGITS 15

/* Initial capacity of the fence and part arrays. */
#define INITIAL_CAP 16

/* One fence. */
struct fence {
    char *name;                   /* owned, NUL-terminated */
    enum lw_fence_kind kind;      /* keep_in / keep_out */
    int64_t tag;                  /* caller's tag, 0 until set */
    bool is_circle;               /* circle (else polygons) */
    bool multi;                   /* loaded as a MultiPolygon (for output) */
    struct lw_geo_circle circle;  /* the circle, when is_circle */
    struct lw_geo_bbox bbox;      /* box of the whole fence */
    struct lw_geo_polygon *polys; /* owned, npolys views; NULL for a circle */
    size_t npolys;                /* number of polygons; 0 for a circle */
    struct lw_geo_ring *rings;    /* owned; every ring of every polygon */
    struct lw_geo_pt *pts;        /* owned; every vertex of every ring */
    size_t first_part;            /* this fence's first entry in set->parts */
};

/* One index entry: a polygon of a fence, or a circle. */
struct part {
    size_t fence;            /* fence id */
    size_t poly;             /* polygon index in the fence; 0 for a circle */
    struct lw_geo_bbox bbox; /* box of that polygon (or of the circle) */
};

/*
 * A static packed R-tree. Boxes of every level live in one array, leaves
 * first, the root last. A leaf's ref is a part index; an inner node's ref is
 * the position of its first child, its children being the next up to
 * RTREE_NODE_SIZE positions of the level below.
 */
struct rtree {
    struct lw_geo_bbox *boxes; /* owned, all nodes' boxes */
    size_t *refs;              /* owned, per node: part index or first child */
    /* one past the last node of each level, leaves (level 0) first */
    size_t level_end[RTREE_MAX_LEVELS];
    size_t nlevels; /* 0 for an empty tree */
    size_t nparts;  /* parts covered: set->parts[0 .. nparts) */
};

struct lw_fenceset {
    struct fence *fences; /* owned, nfences fences, id = position */
    size_t nfences;       /* fences in use */
    size_t cap_fences;    /* fences allocated */
    struct part *parts;   /* owned, nparts index entries */
    size_t nparts;        /* parts in use */
    size_t cap_parts;     /* parts allocated */
    struct rtree tree;    /* index over the first tree.nparts parts */
};

/* State of one lw_fenceset_add_geojson call, for messages. */
struct parse_ctx {
    const char *name_prop; /* property that names a feature */
    size_t feature;        /* index of the feature being parsed */
    char *err;             /* caller's detail buffer (may be NULL) */
    size_t errlen;         /* its size */
};

/* Sets the caller's detail to "feature N: <fmt...>" and returns code. */
__attribute__((format(printf, 3, 4))) static enum lw_err
fail(const struct parse_ctx *pc, enum lw_err code, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lw_seterr(pc->err, pc->errlen, "feature %zu: %s", pc->feature, msg);
    return code;
}

const char *lw_fence_kind_name(enum lw_fence_kind kind)
{
    switch (kind) {
    case LW_FENCE_KEEP_IN:
        return "keep_in";
    case LW_FENCE_KEEP_OUT:
        return "keep_out";
    }
    return "unknown";
}

enum lw_err lw_fence_kind_parse(const char *s, enum lw_fence_kind *out)
{
    if (!s || !out)
        return LW_ERR_INVAL;
    if (strcmp(s, "keep_in") == 0)
        *out = LW_FENCE_KEEP_IN;
    else if (strcmp(s, "keep_out") == 0)
        *out = LW_FENCE_KEEP_OUT;
    else
        return LW_ERR_INVAL;
    return LW_OK;
}

/* True for the two defined kinds. */
static bool kind_ok(enum lw_fence_kind kind)
{
    return kind == LW_FENCE_KEEP_IN || kind == LW_FENCE_KEEP_OUT;
}

/* Frees what fence f owns (not f itself). */
static void fence_release(struct fence *f)
{
    free(f->name);
    free(f->polys);
    free(f->rings);
    free(f->pts);
}

/* Number of index parts fence f contributes. */
static size_t fence_nparts(const struct fence *f)
{
    return f->is_circle ? 1 : f->npolys;
}

/* Frees the tree's arrays and empties it. */
static void rtree_release(struct rtree *t)
{
    free(t->boxes);
    free(t->refs);
    *t = (struct rtree){0};
}

struct lw_fenceset *lw_fenceset_new(void)
{
    return calloc(1, sizeof(struct lw_fenceset));
}

void lw_fenceset_free(struct lw_fenceset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nfences; i++)
        fence_release(&set->fences[i]);
    free(set->fences);
    free(set->parts);
    rtree_release(&set->tree);
    free(set);
}

size_t lw_fenceset_count(const struct lw_fenceset *set)
{
    return set ? set->nfences : 0;
}

/*
 * Makes room for need elements of size elem in *arr (capacity *cap),
 * doubling. On failure *arr and *cap are unchanged.
 */
static enum lw_err reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : INITIAL_CAP;
    void *p;

    if (need <= *cap)
        return LW_OK;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return LW_ERR_NOMEM;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem)
        return LW_ERR_NOMEM;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return LW_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return LW_OK;
}

/*
 * Appends the n fences of tmp (moved: the set now owns what they own) and
 * their parts. All or nothing: LW_ERR_NOMEM leaves the set's contents as
 * they were (only its capacity may have grown).
 */
static enum lw_err commit_fences(struct lw_fenceset *set, struct fence *tmp,
                                 size_t n)
{
    size_t nparts = 0;
    enum lw_err rc;

    for (size_t i = 0; i < n; i++)
        nparts += fence_nparts(&tmp[i]);
    rc = reserve((void **)&set->fences, &set->cap_fences, set->nfences + n,
                 sizeof *set->fences);
    if (rc == LW_OK)
        rc = reserve((void **)&set->parts, &set->cap_parts,
                     set->nparts + nparts, sizeof *set->parts);
    if (rc != LW_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct fence *f = &tmp[i];
        size_t id = set->nfences;

        f->first_part = set->nparts;
        if (f->is_circle) {
            set->parts[set->nparts++] = (struct part){id, 0, f->bbox};
        } else {
            for (size_t p = 0; p < f->npolys; p++)
                set->parts[set->nparts++] =
                    (struct part){id, p, f->polys[p].bbox};
        }
        set->fences[set->nfences++] = *f;
    }
    return LW_OK;
}

/*
 * The fence name for a feature: property pc->name_prop of props when it is
 * a non-empty string or a number, else the feature index. Returns an owned
 * string or NULL when out of memory.
 */
static char *make_name(const json_t *props, const struct parse_ctx *pc)
{
    char buf[NUM_NAME_MAX];
    const json_t *v =
        json_is_object(props) ? json_object_get(props, pc->name_prop) : NULL;

    if (json_is_string(v) && json_string_length(v) > 0)
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.*g", NAME_REAL_DIGITS, json_real_value(v));
    else
        snprintf(buf, sizeof buf, "%zu", pc->feature);
    return strdup(buf);
}

/*
 * Reads a GeoJSON position into *out, checking it: an array of at least two
 * finite numbers, longitude then latitude, within range. where describes
 * the position for messages.
 */
static enum lw_err parse_position(const json_t *pos, struct lw_geo_pt *out,
                                  const struct parse_ctx *pc, const char *where)
{
    const json_t *jlon, *jlat;
    double lon, lat;

    if (!json_is_array(pos) || json_array_size(pos) < POSITION_MIN_DIMS)
        return fail(pc, LW_ERR_INVAL,
                    "%s: a position must be an array [lon, lat]", where);
    jlon = json_array_get(pos, 0);
    jlat = json_array_get(pos, 1);
    if (!json_is_number(jlon) || !json_is_number(jlat))
        return fail(pc, LW_ERR_INVAL, "%s: coordinates must be numbers", where);
    lon = json_number_value(jlon);
    lat = json_number_value(jlat);
    /* jansson refuses NaN and infinities; kept as a defence in depth. */
    if (!isfinite(lon) || !isfinite(lat))
        return fail(pc, LW_ERR_RANGE, "%s: coordinates must be finite", where);
    if (fabs(lon) > LW_GEO_LON_MAX_DEG)
        return fail(pc, LW_ERR_RANGE,
                    "%s: longitude %.17g is outside [-180, 180]", where, lon);
    if (fabs(lat) > LW_GEO_LAT_MAX_DEG)
        return fail(pc, LW_ERR_RANGE, "%s: latitude %.17g is outside [-90, 90]",
                    where, lat);
    out->lon_deg = lon;
    out->lat_deg = lat;
    return LW_OK;
}

/*
 * First pass over the coordinates of npolys polygons (polys[i] is the JSON
 * rings array of polygon i): checks the nesting and ring sizes and counts
 * rings and vertices. multi says whether to name polygons in messages.
 */
static enum lw_err count_polygons(const json_t *const *polys, size_t npolys,
                                  bool multi, size_t *nrings, size_t *npts,
                                  const struct parse_ctx *pc)
{
    char where[MSG_MAX];

    *nrings = 0;
    *npts = 0;
    for (size_t p = 0; p < npolys; p++) {
        const json_t *rings = polys[p];

        if (multi)
            snprintf(where, sizeof where, "polygon %zu", p);
        else
            snprintf(where, sizeof where, "polygon");
        if (!json_is_array(rings) || json_array_size(rings) == 0)
            return fail(pc, LW_ERR_INVAL,
                        "%s: coordinates must be a non-empty array of rings",
                        where);
        for (size_t r = 0; r < json_array_size(rings); r++) {
            const json_t *ring = json_array_get(rings, r);

            if (!json_is_array(ring))
                return fail(pc, LW_ERR_INVAL,
                            "%s ring %zu: not an array of positions", where, r);
            if (json_array_size(ring) < RING_MIN_POSITIONS)
                return fail(pc, LW_ERR_INVAL,
                            "%s ring %zu: %zu positions, a ring needs at "
                            "least %d",
                            where, r, json_array_size(ring),
                            RING_MIN_POSITIONS);
            *npts += json_array_size(ring);
        }
        *nrings += json_array_size(rings);
    }
    return LW_OK;
}

/*
 * Second pass: reads and checks every position of the counted polygons into
 * f's arrays (already allocated) and sets the views and boxes.
 */
static enum lw_err fill_polygons(const json_t *const *polys, size_t npolys,
                                 bool multi, struct fence *f,
                                 const struct parse_ctx *pc)
{
    char where[MSG_MAX];
    size_t ri = 0, pi = 0;
    enum lw_err rc;

    for (size_t p = 0; p < npolys; p++) {
        const json_t *rings = polys[p];
        struct lw_geo_polygon *poly = &f->polys[p];

        poly->rings = &f->rings[ri];
        poly->nrings = json_array_size(rings);
        for (size_t r = 0; r < poly->nrings; r++) {
            const json_t *ring = json_array_get(rings, r);
            size_t n = json_array_size(ring);
            struct lw_geo_pt *pts = &f->pts[pi];

            for (size_t k = 0; k < n; k++) {
                if (multi)
                    snprintf(where, sizeof where,
                             "polygon %zu ring %zu position %zu", p, r, k);
                else
                    snprintf(where, sizeof where, "ring %zu position %zu", r,
                             k);
                rc =
                    parse_position(json_array_get(ring, k), &pts[k], pc, where);
                if (rc != LW_OK)
                    return rc;
            }
            if (pts[0].lon_deg != pts[n - 1].lon_deg ||
                pts[0].lat_deg != pts[n - 1].lat_deg) {
                if (multi)
                    snprintf(where, sizeof where, "polygon %zu ring %zu", p, r);
                else
                    snprintf(where, sizeof where, "ring %zu", r);
                return fail(pc, LW_ERR_INVAL,
                            "%s is not closed: its first position differs "
                            "from its last (RFC 7946 requires closed rings)",
                            where);
            }
            f->rings[ri] = (struct lw_geo_ring){pts, n};
            ri++;
            pi += n;
        }
        poly->bbox = lw_geo_bbox_of(poly->rings[0].pts, poly->rings[0].n);
        f->bbox =
            p == 0 ? poly->bbox : lw_geo_bbox_union(&f->bbox, &poly->bbox);
    }
    return LW_OK;
}

/*
 * Fills f from a Polygon (multi false: coords is its rings array) or a
 * MultiPolygon (coords is an array of rings arrays).
 */
static enum lw_err parse_polygons(const json_t *coords, bool multi,
                                  struct fence *f, const struct parse_ctx *pc)
{
    const json_t **polys = NULL;
    size_t npolys, nrings, npts;
    enum lw_err rc;

    if (!json_is_array(coords) || json_array_size(coords) == 0)
        return fail(pc, LW_ERR_INVAL,
                    "%s coordinates must be a non-empty array",
                    multi ? "MultiPolygon" : "Polygon");
    npolys = multi ? json_array_size(coords) : 1;
    polys = calloc(npolys, sizeof *polys);
    if (!polys)
        return LW_ERR_NOMEM;
    for (size_t p = 0; p < npolys; p++)
        polys[p] = multi ? json_array_get(coords, p) : coords;
    rc = count_polygons(polys, npolys, multi, &nrings, &npts, pc);
    if (rc != LW_OK)
        goto out_free_list;
    f->polys = calloc(npolys, sizeof *f->polys);
    f->rings = calloc(nrings, sizeof *f->rings);
    f->pts = calloc(npts, sizeof *f->pts);
    if (!f->polys || !f->rings || !f->pts) {
        rc = LW_ERR_NOMEM;
        goto out_free_list;
    }
    f->npolys = npolys;
    f->multi = multi;
    rc = fill_polygons(polys, npolys, multi, f, pc);
out_free_list:
    free(polys);
    return rc;
}

/* Fills f from a Point geometry and the radius_m of its feature's props. */
static enum lw_err parse_circle(const json_t *coords, const json_t *props,
                                struct fence *f, const struct parse_ctx *pc)
{
    const json_t *jr = json_is_object(props)
                           ? json_object_get(props, LW_FENCE_RADIUS_PROP)
                           : NULL;
    struct lw_geo_pt centre;
    double r;
    enum lw_err rc;

    if (!json_is_number(jr))
        return fail(pc, LW_ERR_INVAL,
                    "a Point is a circle fence only with a numeric \"%s\" "
                    "property",
                    LW_FENCE_RADIUS_PROP);
    r = json_number_value(jr);
    if (!isfinite(r) || r <= 0.0)
        return fail(pc, LW_ERR_RANGE, "\"%s\" must be > 0, not %.17g",
                    LW_FENCE_RADIUS_PROP, r);
    rc = parse_position(coords, &centre, pc, "Point");
    if (rc != LW_OK)
        return rc;
    f->is_circle = true;
    f->circle = (struct lw_geo_circle){centre.lat_deg, centre.lon_deg, r};
    f->bbox = lw_geo_circle_bbox(&f->circle);
    return LW_OK;
}

/* Fills f (name and kind already set) from geometry g of a feature. */
static enum lw_err parse_geometry(const json_t *g, const json_t *props,
                                  struct fence *f, const struct parse_ctx *pc)
{
    const char *type;
    const json_t *coords;

    if (!g || json_is_null(g))
        return fail(pc, LW_ERR_INVAL, "geometry is null");
    if (!json_is_object(g))
        return fail(pc, LW_ERR_INVAL, "geometry is not an object");
    type = json_string_value(json_object_get(g, "type"));
    coords = json_object_get(g, "coordinates");
    if (!type)
        return fail(pc, LW_ERR_INVAL, "geometry has no \"type\" string");
    if (strcmp(type, "Polygon") == 0)
        return parse_polygons(coords, false, f, pc);
    if (strcmp(type, "MultiPolygon") == 0)
        return parse_polygons(coords, true, f, pc);
    if (strcmp(type, "Point") == 0)
        return parse_circle(coords, props, f, pc);
    return fail(pc, LW_ERR_INVAL,
                "geometry type \"%s\" is not supported (Polygon, "
                "MultiPolygon, or Point with \"%s\")",
                type, LW_FENCE_RADIUS_PROP);
}

/*
 * Parses one feature (or, with is_feature false, a bare geometry) into f.
 * On error f may hold partial allocations: the caller releases it.
 */
static enum lw_err parse_feature(const json_t *obj, bool is_feature,
                                 enum lw_fence_kind kind, struct fence *f,
                                 const struct parse_ctx *pc)
{
    const json_t *props = NULL;
    const json_t *geom = obj;

    if (is_feature) {
        const char *type = json_string_value(json_object_get(obj, "type"));

        if (!json_is_object(obj) || !type || strcmp(type, "Feature") != 0)
            return fail(pc, LW_ERR_INVAL, "not a GeoJSON Feature object");
        props = json_object_get(obj, "properties");
        if (props && !json_is_object(props) && !json_is_null(props))
            return fail(pc, LW_ERR_INVAL, "\"properties\" is not an object");
        geom = json_object_get(obj, "geometry");
    }
    f->kind = kind;
    f->name = make_name(props, pc);
    if (!f->name)
        return LW_ERR_NOMEM;
    return parse_geometry(geom, props, f, pc);
}

/*
 * Replaces control characters in the detail err (errlen bytes, may be NULL)
 * by '?': it quotes the input (jansson's "near '...'", a type name), and
 * goes to a terminal or a log, where an escape sequence must not arrive.
 */
static void scrub_controls(char *err, size_t errlen)
{
    for (size_t i = 0; err && i < errlen && err[i]; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            err[i] = '?';
}

enum lw_err lw_fenceset_add_geojson(struct lw_fenceset *set,
                                    const char *json_text, size_t len,
                                    enum lw_fence_kind kind,
                                    const char *name_prop, char *err,
                                    size_t errlen)
{
    struct parse_ctx pc = {name_prop ? name_prop : LW_FENCE_DEFAULT_NAME_PROP,
                           0, err, errlen};
    json_error_t jerr;
    json_t *root;
    const json_t *features = NULL;
    const char *type;
    struct fence *tmp = NULL;
    size_t n = 0;
    enum lw_err rc = LW_OK;

    if (!set || !json_text || !kind_ok(kind)) {
        lw_seterr(err, errlen, "invalid argument");
        return LW_ERR_INVAL;
    }
    root = json_loadb(json_text, len, 0, &jerr);
    if (!root) {
        lw_seterr(err, errlen, "line %d column %d: %s", jerr.line, jerr.column,
                  jerr.text);
        scrub_controls(err, errlen);
        return LW_ERR_INVAL;
    }
    type = json_string_value(json_object_get(root, "type"));
    if (!type) {
        lw_seterr(err, errlen, "not GeoJSON: no top-level \"type\" string");
        rc = LW_ERR_INVAL;
        goto out_free_json;
    }
    if (strcmp(type, "FeatureCollection") == 0) {
        features = json_object_get(root, "features");
        if (!json_is_array(features)) {
            lw_seterr(err, errlen,
                      "FeatureCollection has no \"features\" array");
            rc = LW_ERR_INVAL;
            goto out_free_json;
        }
        n = json_array_size(features);
    } else if (strcmp(type, "Feature") == 0 || strcmp(type, "Polygon") == 0 ||
               strcmp(type, "MultiPolygon") == 0) {
        n = 1;
    } else {
        lw_seterr(err, errlen,
                  "GeoJSON type \"%s\" is not supported (FeatureCollection, "
                  "Feature, Polygon or MultiPolygon)",
                  type);
        rc = LW_ERR_INVAL;
        goto out_free_json;
    }
    if (n == 0)
        goto out_free_json;
    tmp = calloc(n, sizeof *tmp);
    if (!tmp) {
        rc = LW_ERR_NOMEM;
        goto out_free_json;
    }
    for (size_t i = 0; i < n; i++) {
        pc.feature = i;
        if (features)
            rc = parse_feature(json_array_get(features, i), true, kind, &tmp[i],
                               &pc);
        else
            rc = parse_feature(root, strcmp(type, "Feature") == 0, kind,
                               &tmp[i], &pc);
        if (rc != LW_OK)
            goto out_free_tmp;
    }
    rc = commit_fences(set, tmp, n);
    if (rc == LW_OK) {
        /* The set owns the fences' arrays now: free only the carrier. */
        free(tmp);
        tmp = NULL;
    }
out_free_tmp:
    if (tmp) {
        for (size_t i = 0; i < n; i++)
            fence_release(&tmp[i]);
        free(tmp);
    }
    if (rc == LW_ERR_NOMEM)
        lw_seterr(err, errlen, "out of memory");
out_free_json:
    json_decref(root);
    if (rc != LW_OK)
        scrub_controls(err, errlen);
    return rc;
}

enum lw_err lw_fenceset_add_circle(struct lw_fenceset *set, const char *name,
                                   double lat_deg, double lon_deg,
                                   double radius_m, enum lw_fence_kind kind,
                                   size_t *id, char *err, size_t errlen)
{
    struct fence f = {0};
    json_t *probe;
    enum lw_err rc;

    if (!set || !name || !kind_ok(kind)) {
        lw_seterr(err, errlen, "invalid argument");
        return LW_ERR_INVAL;
    }
    if (!lw_geo_valid(lat_deg, lon_deg)) {
        lw_seterr(err, errlen,
                  "circle centre %.17g %.17g is not a valid "
                  "latitude/longitude",
                  lat_deg, lon_deg);
        return LW_ERR_RANGE;
    }
    if (!isfinite(radius_m) || radius_m <= 0.0) {
        lw_seterr(err, errlen, "circle radius must be > 0 m, not %.17g",
                  radius_m);
        return LW_ERR_RANGE;
    }
    /* Names go out as JSON strings (lw_fence_to_geojson): UTF-8 only. */
    probe = json_string(name);
    if (!probe) {
        lw_seterr(err, errlen, "circle name is not valid UTF-8");
        return LW_ERR_INVAL;
    }
    json_decref(probe);
    f.name = strdup(name);
    if (!f.name) {
        lw_seterr(err, errlen, "out of memory");
        return LW_ERR_NOMEM;
    }
    f.kind = kind;
    f.is_circle = true;
    f.circle = (struct lw_geo_circle){lat_deg, lon_deg, radius_m};
    f.bbox = lw_geo_circle_bbox(&f.circle);
    rc = commit_fences(set, &f, 1);
    if (rc != LW_OK) {
        fence_release(&f);
        lw_seterr(err, errlen, "out of memory");
        return rc;
    }
    if (id)
        *id = set->nfences - 1;
    return LW_OK;
}

/* An entry being packed into the tree: a box and what it refers to. */
struct pack {
    struct lw_geo_bbox box; /* the entry's box */
    size_t ref;             /* part index (leaves) or first child (inner) */
    double cx;              /* box centre, longitude */
    double cy;              /* box centre, latitude */
};

/* qsort order by centre longitude, ties by ref so the build is repeatable. */
static int cmp_cx(const void *a, const void *b)
{
    const struct pack *p = a, *q = b;

    if (p->cx != q->cx)
        return p->cx < q->cx ? -1 : 1;
    return (p->ref > q->ref) - (p->ref < q->ref);
}

/* qsort order by centre latitude, ties by ref. */
static int cmp_cy(const void *a, const void *b)
{
    const struct pack *p = a, *q = b;

    if (p->cy != q->cy)
        return p->cy < q->cy ? -1 : 1;
    return (p->ref > q->ref) - (p->ref < q->ref);
}

/* Fills in an entry's centre from its box. */
static void pack_centre(struct pack *e)
{
    e->cx = (e->box.min_lon_deg + e->box.max_lon_deg) / 2.0;
    e->cy = (e->box.min_lat_deg + e->box.max_lat_deg) / 2.0;
}

/*
 * Sort-Tile-Recursive order (Leutenegger et al. 1997): sort by x, cut into
 * ceil(sqrt(nodes)) vertical slices of whole nodes, sort each slice by y.
 * Consecutive runs of RTREE_NODE_SIZE then make compact nodes.
 */
static void str_sort(struct pack *e, size_t n)
{
    size_t nodes = (n + RTREE_NODE_SIZE - 1) / RTREE_NODE_SIZE;
    size_t slices = (size_t)ceil(sqrt((double)nodes));
    size_t per_slice = slices * RTREE_NODE_SIZE;

    qsort(e, n, sizeof *e, cmp_cx);
    for (size_t s = 0; s < n; s += per_slice)
        qsort(e + s, n - s < per_slice ? n - s : per_slice, sizeof *e, cmp_cy);
}

enum lw_err lw_fenceset_build_index(struct lw_fenceset *set)
{
    struct rtree t = {0};
    struct pack *work = NULL;
    size_t n, total, level_n, level_start, pos;
    enum lw_err rc = LW_OK;

    if (!set)
        return LW_ERR_INVAL;
    n = set->nparts;
    if (n == 0) {
        rtree_release(&set->tree);
        return LW_OK;
    }
    /* Count every level's nodes to allocate once. */
    total = 0;
    for (level_n = n;;
         level_n = (level_n + RTREE_NODE_SIZE - 1) / RTREE_NODE_SIZE) {
        total += level_n;
        if (level_n == 1)
            break;
    }
    t.boxes = malloc(total * sizeof *t.boxes);
    t.refs = malloc(total * sizeof *t.refs);
    work = malloc(n * sizeof *work);
    if (!t.boxes || !t.refs || !work) {
        rc = LW_ERR_NOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        work[i] = (struct pack){set->parts[i].bbox, i, 0.0, 0.0};
        pack_centre(&work[i]);
    }
    level_n = n;
    pos = 0;
    for (;;) {
        str_sort(work, level_n);
        for (size_t i = 0; i < level_n; i++) {
            t.boxes[pos + i] = work[i].box;
            t.refs[pos + i] = work[i].ref;
        }
        level_start = pos;
        pos += level_n;
        t.level_end[t.nlevels++] = pos;
        if (level_n == 1)
            break;
        /* Parents: one per run of NODE_SIZE consecutive nodes. */
        size_t parents = (level_n + RTREE_NODE_SIZE - 1) / RTREE_NODE_SIZE;

        for (size_t g = 0; g < parents; g++) {
            size_t first = level_start + g * RTREE_NODE_SIZE;
            size_t end = first + RTREE_NODE_SIZE;
            struct lw_geo_bbox box = t.boxes[first];

            if (end > pos)
                end = pos;
            for (size_t c = first + 1; c < end; c++)
                box = lw_geo_bbox_union(&box, &t.boxes[c]);
            work[g] = (struct pack){box, first, 0.0, 0.0};
            pack_centre(&work[g]);
        }
        level_n = parents;
    }
    t.nparts = n;
    rtree_release(&set->tree);
    set->tree = t;
    t = (struct rtree){0};
out_free:
    rtree_release(&t);
    free(work);
    return rc;
}

/* True when part pt holds (lat, lon), boundary included. */
static bool part_contains(const struct lw_fenceset *set, const struct part *pt,
                          double lat_deg, double lon_deg)
{
    const struct fence *f = &set->fences[pt->fence];

    if (f->is_circle)
        return lw_geo_circle_locate(&f->circle, lat_deg, lon_deg) !=
               LW_GEO_OUTSIDE;
    return lw_geo_polygon_locate(&f->polys[pt->poly], lat_deg, lon_deg) !=
           LW_GEO_OUTSIDE;
}

/*
 * Exact test of part index pi, whose box is known to hold the point. Calls
 * cb when the part holds the point and no lower-numbered part of the same
 * fence does (that one reports instead), so each fence is reported once.
 * Returns cb's result, or 0.
 */
static int visit_part(const struct lw_fenceset *set, size_t pi, double lat_deg,
                      double lon_deg, lw_fence_cb cb, void *ctx)
{
    const struct part *pt = &set->parts[pi];
    const struct fence *f = &set->fences[pt->fence];

    if (!part_contains(set, pt, lat_deg, lon_deg))
        return 0;
    for (size_t q = 0; q < pt->poly; q++) {
        if (lw_geo_polygon_locate(&f->polys[q], lat_deg, lon_deg) !=
            LW_GEO_OUTSIDE)
            return 0;
    }
    return cb(ctx, pt->fence);
}

/* Walks the tree depth first; returns non-zero when cb asked to stop. */
static int tree_query(const struct lw_fenceset *set, double lat_deg,
                      double lon_deg, lw_fence_cb cb, void *ctx)
{
    const struct rtree *t = &set->tree;
    size_t stack_node[RTREE_STACK_MAX];
    size_t stack_level[RTREE_STACK_MAX];
    size_t sp = 0;
    size_t root;

    if (t->nlevels == 0)
        return 0;
    root = t->level_end[t->nlevels - 1] - 1;
    if (!lw_geo_bbox_contains(&t->boxes[root], lat_deg, lon_deg))
        return 0;
    if (t->nlevels == 1)
        return visit_part(set, t->refs[root], lat_deg, lon_deg, cb, ctx);
    stack_node[sp] = root;
    stack_level[sp++] = t->nlevels - 1;
    while (sp > 0) {
        size_t node = stack_node[--sp];
        size_t level = stack_level[sp];
        size_t first = t->refs[node];
        size_t end = first + RTREE_NODE_SIZE;

        if (end > t->level_end[level - 1])
            end = t->level_end[level - 1];
        for (size_t c = first; c < end; c++) {
            int stop;

            if (!lw_geo_bbox_contains(&t->boxes[c], lat_deg, lon_deg))
                continue;
            if (level - 1 > 0) {
                /* Bounded: each level adds at most NODE_SIZE entries. */
                stack_node[sp] = c;
                stack_level[sp++] = level - 1;
                continue;
            }
            stop = visit_part(set, t->refs[c], lat_deg, lon_deg, cb, ctx);
            if (stop)
                return stop;
        }
    }
    return 0;
}

enum lw_err lw_fenceset_which(const struct lw_fenceset *set, double lat_deg,
                              double lon_deg, lw_fence_cb cb, void *ctx)
{
    if (!set || !cb)
        return LW_ERR_INVAL;
    if (!lw_geo_valid(lat_deg, lon_deg))
        return LW_ERR_RANGE;
    if (tree_query(set, lat_deg, lon_deg, cb, ctx))
        return LW_OK;
    /* Parts added since the last build: scanned, boxes first. */
    for (size_t i = set->tree.nparts; i < set->nparts; i++) {
        if (!lw_geo_bbox_contains(&set->parts[i].bbox, lat_deg, lon_deg))
            continue;
        if (visit_part(set, i, lat_deg, lon_deg, cb, ctx))
            break;
    }
    return LW_OK;
}

/* Fence id of set, or NULL when set is NULL or id unknown. */
static const struct fence *get_fence(const struct lw_fenceset *set, size_t id)
{
    if (!set || id >= set->nfences)
        return NULL;
    return &set->fences[id];
}

bool lw_fence_contains(const struct lw_fenceset *set, size_t id, double lat_deg,
                       double lon_deg)
{
    const struct fence *f = get_fence(set, id);

    if (!f || !lw_geo_valid(lat_deg, lon_deg))
        return false;
    if (f->is_circle)
        return lw_geo_circle_locate(&f->circle, lat_deg, lon_deg) !=
               LW_GEO_OUTSIDE;
    return lw_geo_polygons_contain(f->polys, f->npolys, lat_deg, lon_deg);
}

double lw_fence_distance_m(const struct lw_fenceset *set, size_t id,
                           double lat_deg, double lon_deg)
{
    const struct fence *f = get_fence(set, id);

    if (!f || !lw_geo_valid(lat_deg, lon_deg))
        return NAN;
    if (f->is_circle)
        return lw_geo_circle_boundary_distance_m(&f->circle, lat_deg, lon_deg);
    return lw_geo_polygons_boundary_distance_m(f->polys, f->npolys, lat_deg,
                                               lon_deg);
}

const char *lw_fence_get_name(const struct lw_fenceset *set, size_t id)
{
    const struct fence *f = get_fence(set, id);

    return f ? f->name : NULL;
}

enum lw_fence_kind lw_fence_get_kind(const struct lw_fenceset *set, size_t id)
{
    const struct fence *f = get_fence(set, id);

    return f ? f->kind : (enum lw_fence_kind)0;
}

enum lw_err lw_fence_get_bbox(const struct lw_fenceset *set, size_t id,
                              struct lw_geo_bbox *out)
{
    const struct fence *f;

    if (!set || !out)
        return LW_ERR_INVAL;
    f = get_fence(set, id);
    if (!f)
        return LW_ERR_NOTFOUND;
    *out = f->bbox;
    return LW_OK;
}

bool lw_fence_is_circle(const struct lw_fenceset *set, size_t id)
{
    const struct fence *f = get_fence(set, id);

    return f && f->is_circle;
}

enum lw_err lw_fence_get_polygons(const struct lw_fenceset *set, size_t id,
                                  const struct lw_geo_polygon **polys,
                                  size_t *npolys)
{
    const struct fence *f;

    if (!set || !polys || !npolys)
        return LW_ERR_INVAL;
    f = get_fence(set, id);
    if (!f)
        return LW_ERR_NOTFOUND;
    *polys = f->is_circle ? NULL : f->polys;
    *npolys = f->is_circle ? 0 : f->npolys;
    return LW_OK;
}

enum lw_err lw_fence_get_circle(const struct lw_fenceset *set, size_t id,
                                struct lw_geo_circle *out)
{
    const struct fence *f;

    if (!set || !out)
        return LW_ERR_INVAL;
    f = get_fence(set, id);
    if (!f)
        return LW_ERR_NOTFOUND;
    if (!f->is_circle)
        return LW_ERR_INVAL;
    *out = f->circle;
    return LW_OK;
}

int64_t lw_fence_get_tag(const struct lw_fenceset *set, size_t id)
{
    const struct fence *f = get_fence(set, id);

    return f ? f->tag : 0;
}

enum lw_err lw_fence_set_tag(struct lw_fenceset *set, size_t id, int64_t tag)
{
    if (!set)
        return LW_ERR_INVAL;
    if (id >= set->nfences)
        return LW_ERR_NOTFOUND;
    set->fences[id].tag = tag;
    return LW_OK;
}

/*
 * Sets obj[key] = value, taking value's reference (also on failure, as
 * json_object_set_new does). False when value is NULL or out of memory.
 */
static bool put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) == 0;
}

/* Appends [lon, lat] of pt to the JSON array arr; false when out of memory. */
static bool append_position(json_t *arr, const struct lw_geo_pt *pt)
{
    json_t *pos = json_array();

    if (!pos)
        return false;
    if (json_array_append_new(pos, json_real(pt->lon_deg)) != 0 ||
        json_array_append_new(pos, json_real(pt->lat_deg)) != 0) {
        json_decref(pos);
        return false;
    }
    /* append_new takes pos's reference even when it fails. */
    return json_array_append_new(arr, pos) == 0;
}

/* The rings array of polygon p as JSON; NULL when out of memory. */
static json_t *polygon_json(const struct lw_geo_polygon *p)
{
    json_t *rings = json_array();

    if (!rings)
        return NULL;
    for (size_t r = 0; r < p->nrings; r++) {
        json_t *ring = json_array();

        /* rings owns ring from here, even when the append fails. */
        if (json_array_append_new(rings, ring) != 0)
            goto out_fail;
        for (size_t k = 0; k < p->rings[r].n; k++) {
            if (!append_position(ring, &p->rings[r].pts[k]))
                goto out_fail;
        }
    }
    return rings;
out_fail:
    json_decref(rings);
    return NULL;
}

/* The coordinates member of fence f's geometry; NULL when out of memory. */
static json_t *coordinates_json(const struct fence *f)
{
    json_t *coords;

    if (f->is_circle) {
        struct lw_geo_pt c = {f->circle.lon_deg, f->circle.lat_deg};

        coords = json_array();
        if (coords && (json_array_append_new(coords, json_real(c.lon_deg)) ||
                       json_array_append_new(coords, json_real(c.lat_deg))))
            goto out_fail;
        return coords;
    }
    if (!f->multi)
        return polygon_json(&f->polys[0]);
    coords = json_array();
    for (size_t p = 0; coords && p < f->npolys; p++) {
        if (json_array_append_new(coords, polygon_json(&f->polys[p])) != 0)
            goto out_fail;
    }
    return coords;
out_fail:
    json_decref(coords);
    return NULL;
}

/* The GeoJSON Feature object of fence f; NULL when out of memory. */
static json_t *feature_json(const struct fence *f)
{
    json_t *feature = json_object();
    json_t *props = json_object();
    json_t *geom = json_object();
    const char *type = f->is_circle ? "Point"
                       : f->multi   ? "MultiPolygon"
                                    : "Polygon";
    bool ok = feature && props && geom;

    /* Attach first so that one decref of feature frees everything. */
    if (ok) {
        ok = put(feature, "type", json_string("Feature")) &&
             put(feature, "properties", json_incref(props)) &&
             put(feature, "geometry", json_incref(geom));
    }
    ok = ok && put(props, "name", json_string(f->name)) &&
         put(props, "kind", json_string(lw_fence_kind_name(f->kind)));
    if (ok && f->is_circle)
        ok = put(props, LW_FENCE_RADIUS_PROP, json_real(f->circle.radius_m));
    ok = ok && put(geom, "type", json_string(type)) &&
         put(geom, "coordinates", coordinates_json(f));
    json_decref(props);
    json_decref(geom);
    if (!ok) {
        json_decref(feature);
        return NULL;
    }
    return feature;
}

enum lw_err lw_fence_to_geojson(const struct lw_fenceset *set, size_t id,
                                char **out)
{
    const struct fence *f;
    json_t *feature;

    if (!set || !out)
        return LW_ERR_INVAL;
    *out = NULL;
    f = get_fence(set, id);
    if (!f)
        return LW_ERR_NOTFOUND;
    feature = feature_json(f);
    if (!feature)
        return LW_ERR_NOMEM;
    *out = json_dumps(feature,
                      JSON_COMPACT | JSON_REAL_PRECISION(ROUNDTRIP_DIGITS));
    json_decref(feature);
    return *out ? LW_OK : LW_ERR_NOMEM;
}
