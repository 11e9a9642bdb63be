/*
 * test_fencecheck.c - unit tests of lib/fencecheck.c: GEOS's verdict and
 * location for hand-made invalid polygons (bow-tie, zero area, collapsed
 * ring, spike, hole outside its shell, overlapping parts, crossing holes),
 * the repairs and what they report, circle radii, the vertex limit, that a
 * repaired set keeps names, kinds, order and the untouched fences bit for
 * bit, that a repair is itself valid, and the real boundaries of
 * ../shared/data/geofences (skipped when absent; LW_DATA_DIR overrides):
 * every one valid except Natural Earth's Sudan, which GEOS finds
 * self-intersecting and repairs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/fencecheck.h"

/* Room for error detail. */
#define ERR_MAX 512
/* Longest path to a data file. */
#define PATH_MAX_LEN 4096
/* Reports kept by one check in these tests. */
#define MAX_REPORTS 8
/* Square metres of one square degree at the equator, roughly: for bounds. */
#define M2_PER_DEG2 1.2364e10

/* The reports of one check, copied. */
struct reports {
    struct lw_fencecheck_report r[MAX_REPORTS]; /* in callback order */
    char names[MAX_REPORTS][64];                /* copies of r[i].name */
    size_t n;                                   /* how many */
};

static void keep(void *ctx, const struct lw_fencecheck_report *r)
{
    struct reports *rs = ctx;

    assert_true(rs->n < MAX_REPORTS);
    assert_non_null(r->name);
    rs->r[rs->n] = *r;
    snprintf(rs->names[rs->n], sizeof rs->names[0], "%s", r->name);
    rs->r[rs->n].name = rs->names[rs->n];
    rs->n++;
}

/* A set from GeoJSON text (must load). */
static struct lw_fenceset *load(const char *json, enum lw_fence_kind kind)
{
    struct lw_fenceset *set = lw_fenceset_new();
    char err[ERR_MAX] = "";

    assert_non_null(set);
    if (lw_fenceset_add_geojson(set, json, strlen(json), kind, NULL, err,
                                sizeof err) != LW_OK)
        fail_msg("test fence does not load: %s", err);
    return set;
}

/* One feature named name with a geometry whose coordinates are given as
 * text. A static buffer: the next call overwrites it. */
static char *feature(const char *name, const char *type, const char *coords)
{
    static char buf[4096];

    snprintf(buf, sizeof buf,
             "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\"},"
             "\"geometry\":{\"type\":\"%s\",\"coordinates\":%s}}",
             name, type, coords);
    return buf;
}

/* Checks the one-fence set of json; fills rs; returns the repaired set
 * (make_valid) or NULL. */
static struct lw_fenceset *check_one(const char *json, bool make_valid,
                                     struct reports *rs, size_t *refused,
                                     size_t *repaired)
{
    struct lw_fencecheck *fc = lw_fencecheck_new();
    struct lw_fenceset *set = load(json, LW_FENCE_KEEP_IN);
    struct lw_fenceset *out = NULL;
    char err[ERR_MAX] = "";

    assert_non_null(fc);
    memset(rs, 0, sizeof *rs);
    assert_int_equal(lw_fencecheck_set(fc, set, make_valid,
                                       make_valid ? &out : NULL, keep, rs,
                                       refused, repaired, err, sizeof err),
                     LW_OK);
    lw_fenceset_free(set);
    lw_fencecheck_free(fc);
    return out;
}

/* Asserts that the set passes the check untouched. */
static void assert_all_valid(const struct lw_fenceset *set)
{
    struct lw_fencecheck *fc = lw_fencecheck_new();
    struct lw_fenceset *out = NULL;
    struct reports rs = {0};
    size_t refused = 9, repaired = 9;

    assert_non_null(fc);
    assert_int_equal(lw_fencecheck_set(fc, set, true, &out, keep, &rs, &refused,
                                       &repaired, NULL, 0),
                     LW_OK);
    if (rs.n)
        fail_msg("fence %zu (%s): %s", rs.r[0].id, rs.r[0].name,
                 rs.r[0].reason);
    assert_int_equal(refused, 0);
    assert_int_equal(repaired, 0);
    assert_null(out);
    lw_fencecheck_free(fc);
}

static void test_valid_untouched(void **state)
{
    struct reports rs;
    size_t refused = 9, repaired = 9;
    struct lw_fenceset *out;

    (void)state;
    /* a square with a hole, and a triangle, both counter-clockwise */
    out = check_one(feature("ok", "MultiPolygon",
                            "[[[[0,0],[4,0],[4,4],[0,4],[0,0]],"
                            "[[1,1],[1,2],[2,2],[2,1],[1,1]]],"
                            "[[[10,10],[11,10],[10,11],[10,10]]]]"),
                    true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(rs.n, 0);
    assert_int_equal(refused, 0);
    assert_int_equal(repaired, 0);
}

static void test_bow_tie(void **state)
{
    const char *bow =
        feature("bow", "Polygon", "[[[0,0],[2,2],[2,0],[0,2],[0,0]]]");
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;
    const struct lw_geo_polygon *polys;
    size_t n;

    (void)state;
    out = check_one(bow, false, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_int_equal(repaired, 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REFUSED);
    assert_int_equal(rs.r[0].id, 0);
    assert_string_equal(rs.r[0].name, "bow");
    assert_string_equal(rs.r[0].reason, "Self-intersection");
    assert_true(rs.r[0].has_location);
    assert_true(rs.r[0].lat_deg == 1.0 && rs.r[0].lon_deg == 1.0);
    /* as drawn, the two lobes cancel: GEOS's area is 0 */
    assert_true(fabs(rs.r[0].before.area_m2) < 1.0);
    assert_int_equal(rs.r[0].before.parts, 1);
    assert_int_equal(rs.r[0].before.vertices, 5);

    out = check_one(bow, true, &rs, &refused, &repaired);
    assert_non_null(out);
    assert_int_equal(refused, 0);
    assert_int_equal(repaired, 1);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REPAIRED);
    assert_string_equal(rs.r[0].reason, "Self-intersection");
    assert_int_equal(rs.r[0].after.parts, 2);
    assert_int_equal(rs.r[0].after.holes, 0);
    assert_int_equal(rs.r[0].after.vertices, 8);
    /* two triangles of 1 square degree each, near the equator */
    assert_true(rs.r[0].after.area_m2 > 1.9 * M2_PER_DEG2 &&
                rs.r[0].after.area_m2 < 2.1 * M2_PER_DEG2);
    assert_int_equal(lw_fenceset_count(out), 1);
    assert_string_equal(lw_fence_get_name(out, 0), "bow");
    assert_int_equal(lw_fence_get_kind(out, 0), LW_FENCE_KEEP_IN);
    assert_int_equal(lw_fence_get_polygons(out, 0, &polys, &n), LW_OK);
    assert_int_equal(n, 2);
    /* both lobes inside, the gaps between them outside */
    assert_true(lw_fence_contains(out, 0, 1.0, 0.5));
    assert_true(lw_fence_contains(out, 0, 1.0, 1.5));
    assert_false(lw_fence_contains(out, 0, 0.5, 1.0));
    assert_false(lw_fence_contains(out, 0, 1.5, 1.0));
    assert_all_valid(out);
    lw_fenceset_free(out);
}

static void test_zero_area(void **state)
{
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    /* collinear: out along a line and back */
    out = check_one(feature("line", "Polygon", "[[[0,0],[1,1],[2,2],[0,0]]]"),
                    true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_int_equal(repaired, 0);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REFUSED);
    assert_string_equal(rs.r[0].reason, "Self-intersection");
    assert_non_null(strstr(rs.r[0].note, "leaves no area"));
    /* a ring of one repeated point */
    check_one(feature("dot", "Polygon", "[[[5,5],[5,5],[5,5],[5,5]]]"), false,
              &rs, &refused, &repaired);
    assert_int_equal(refused, 1);
    assert_string_equal(rs.r[0].reason, "Too few points in geometry component");
    assert_true(rs.r[0].has_location);
    assert_true(rs.r[0].lat_deg == 5.0 && rs.r[0].lon_deg == 5.0);
}

/* A valid polygon of a speck's size (here about 0.1 m², the tenth decimal
 * of a degree) is refused, and so is a bow-tie whose repair leaves a
 * speck; a square of 3 m x 3 m is kept. */
static void test_speck(void **state)
{
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    out = check_one(feature("speck", "Polygon",
                            "[[[10,10],[10.000003,10],[10.000003,10.000003],"
                            "[10,10.000003],[10,10]]]"),
                    true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REFUSED);
    assert_non_null(strstr(rs.r[0].reason, "less than the 1 m"));
    assert_false(rs.r[0].can_repair);
    /* a bow-tie of the same size: GEOS repairs it into two specks */
    out = check_one(feature("tie", "Polygon",
                            "[[[10,10],[10.000003,10.000003],[10.000003,10],"
                            "[10,10.000003],[10,10]]]"),
                    true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_string_equal(rs.r[0].reason, "Self-intersection");
    assert_non_null(strstr(rs.r[0].note, "less than the 1 m"));
    /* 0.00003 degrees: about 3.3 m x 3.3 m at 10 degrees north */
    out = check_one(feature("pad", "Polygon",
                            "[[[10,10],[10.00003,10],[10.00003,10.00003],"
                            "[10,10.00003],[10,10]]]"),
                    true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 0);
    assert_int_equal(rs.n, 0);
}

static void test_spike(void **state)
{
    const char *spike =
        feature("spike", "Polygon",
                "[[[0,0],[2,0],[2,1],[3,1],[2,1],[2,2],[0,2],[0,0]]]");
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    out = check_one(spike, false, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_true(rs.r[0].has_location);
    assert_true(rs.r[0].lon_deg == 3.0 && rs.r[0].lat_deg == 1.0);
    out = check_one(spike, true, &rs, &refused, &repaired);
    assert_non_null(out);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REPAIRED);
    /* the spike goes, the square stays: same area, fewer vertices */
    assert_int_equal(rs.r[0].after.parts, 1);
    assert_true(rs.r[0].after.vertices < rs.r[0].before.vertices);
    assert_true(fabs(rs.r[0].after.area_m2 - rs.r[0].before.area_m2) <
                1e-9 * rs.r[0].before.area_m2);
    assert_true(lw_fence_contains(out, 0, 1.0, 1.0));
    assert_false(lw_fence_contains(out, 0, 1.0, 2.5));
    assert_all_valid(out);
    lw_fenceset_free(out);
}

static void test_hole_outside(void **state)
{
    const char *holed = feature("holed", "Polygon",
                                "[[[0,0],[1,0],[1,1],[0,1],[0,0]],"
                                "[[5,5],[6,5],[6,6],[5,6],[5,5]]]");
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    out = check_one(holed, true, &rs, &refused, &repaired);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.r[0].reason, "Hole lies outside shell");
    assert_true(rs.r[0].lon_deg == 5.0 && rs.r[0].lat_deg == 5.0);
    assert_int_equal(rs.r[0].before.holes, 1);
    /* GEOS 3.11 makes the stray hole an island: the report must say so
     * (one part -> two, the area grows), whatever the operator then does */
    assert_non_null(out);
    assert_int_equal(rs.r[0].after.holes, 0);
    assert_int_equal(rs.r[0].after.parts, 2);
    assert_true(rs.r[0].after.area_m2 > rs.r[0].before.area_m2);
    assert_all_valid(out);
    lw_fenceset_free(out);
}

static void test_overlapping_parts(void **state)
{
    char *two = strdup(feature("two", "MultiPolygon",
                               "[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],"
                               "[[[1,1],[3,1],[3,3],[1,3],[1,1]]]]"));
    char *holes = strdup(feature("holes", "Polygon",
                                 "[[[0,0],[4,0],[4,4],[0,4],[0,0]],"
                                 "[[1,1],[3,1],[3,3],[1,3],[1,1]],"
                                 "[[2,2],[3.5,2],[3.5,3.5],[2,3.5],[2,2]]]"));
    struct lw_fenceset *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    /* overlapping parts: unioned (7 square degrees), not XOR-ed (6) */
    out = check_one(two, true, &rs, &refused, &repaired);
    assert_non_null(out);
    assert_string_equal(rs.r[0].reason, "Self-intersection");
    assert_int_equal(rs.r[0].before.parts, 2);
    assert_int_equal(rs.r[0].after.parts, 1);
    assert_true(rs.r[0].after.area_m2 > 6.8 * M2_PER_DEG2 &&
                rs.r[0].after.area_m2 < 7.05 * M2_PER_DEG2);
    assert_true(lw_fence_contains(out, 0, 1.5, 1.5)); /* the overlap */
    assert_all_valid(out);
    lw_fenceset_free(out);
    /* crossing holes: one hole, their union */
    out = check_one(holes, true, &rs, &refused, &repaired);
    assert_non_null(out);
    assert_int_equal(rs.r[0].before.holes, 2);
    assert_int_equal(rs.r[0].after.holes, 1);
    assert_int_equal(rs.r[0].after.parts, 1);
    assert_false(lw_fence_contains(out, 0, 2.5, 2.5));
    assert_false(lw_fence_contains(out, 0, 3.2, 3.2));
    assert_true(lw_fence_contains(out, 0, 0.5, 0.5));
    assert_all_valid(out);
    lw_fenceset_free(out);
    free(two);
    free(holes);
}

static void test_radius(void **state)
{
    char err[ERR_MAX];
    struct lw_fenceset *set = lw_fenceset_new();
    struct lw_fencecheck *fc = lw_fencecheck_new();
    struct lw_fenceset *out = (struct lw_fenceset *)&out;
    struct reports rs = {0};
    size_t refused = 0, repaired = 0;

    (void)state;
    assert_int_equal(lw_fencecheck_radius(1.0, err, sizeof err), LW_OK);
    assert_int_equal(lw_fencecheck_radius(1e6, err, sizeof err), LW_OK);
    assert_int_equal(lw_fencecheck_radius(500.0, NULL, 0), LW_OK);
    assert_int_equal(lw_fencecheck_radius(0.999, err, sizeof err),
                     LW_ERR_RANGE);
    assert_non_null(strstr(err, "less than 1 m"));
    assert_int_equal(lw_fencecheck_radius(1e12, err, sizeof err), LW_ERR_RANGE);
    assert_string_equal(err, "radius 1e+12 m is more than 1000 km (circles "
                             "are 1 m to 1000 km; import a polygon for a "
                             "larger area)");
    assert_int_equal(lw_fencecheck_radius(1000000.001, err, sizeof err),
                     LW_ERR_RANGE);
    assert_int_equal(lw_fencecheck_radius(NAN, err, sizeof err), LW_ERR_RANGE);
    assert_int_equal(lw_fencecheck_radius(INFINITY, err, sizeof err),
                     LW_ERR_RANGE);
    assert_int_equal(lw_fencecheck_radius(-5, err, sizeof err), LW_ERR_RANGE);

    /* circles in a set: checked, never repaired */
    assert_non_null(set);
    assert_non_null(fc);
    assert_int_equal(lw_fenceset_add_circle(set, "ok", 10, 20, 3000,
                                            LW_FENCE_KEEP_OUT, NULL, NULL, 0),
                     LW_OK);
    assert_int_equal(lw_fenceset_add_circle(set, "huge", 10, 20, 1e12,
                                            LW_FENCE_KEEP_OUT, NULL, NULL, 0),
                     LW_OK);
    assert_int_equal(lw_fencecheck_set(fc, set, true, &out, keep, &rs, &refused,
                                       &repaired, err, sizeof err),
                     LW_OK);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_int_equal(repaired, 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].id, 1);
    assert_true(rs.r[0].is_circle);
    assert_string_equal(rs.r[0].name, "huge");
    assert_non_null(strstr(rs.r[0].reason, "more than 1000 km"));
    lw_fenceset_free(set);
    lw_fencecheck_free(fc);
}

/* A valid ragged polygon of n vertices (closing one included) as GeoJSON. */
static char *ragged(size_t n)
{
    size_t cap = 64 + n * 48, len = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"type\":\"Feature\",\"properties\":{\"name\":"
                            "\"big\"},\"geometry\":{\"type\":\"Polygon\","
                            "\"coordinates\":[[");
    for (size_t i = 0; i < n; i++) {
        size_t k = i == n - 1 ? 0 : i;
        double a = 2.0 * M_PI * (double)k / (double)(n - 1);
        double r = 1.0 + 0.01 * (double)(k % 2);

        len += (size_t)snprintf(s + len, cap - len, "%s[%.10f,%.10f]",
                                i ? "," : "", r * cos(a), r * sin(a));
    }
    snprintf(s + len, cap - len, "]]}}");
    return s;
}

static void test_vertex_limit(void **state)
{
    char *at = ragged(LW_FENCECHECK_MAX_VERTICES);
    char *over = ragged(LW_FENCECHECK_MAX_VERTICES + 1);
    struct lw_fenceset *set = load(at, LW_FENCE_KEEP_IN), *out;
    struct reports rs;
    size_t refused, repaired;

    (void)state;
    assert_all_valid(set);
    lw_fenceset_free(set);
    out = check_one(over, true, &rs, &refused, &repaired);
    assert_null(out);
    assert_int_equal(refused, 1);
    assert_int_equal(rs.r[0].before.vertices, LW_FENCECHECK_MAX_VERTICES + 1);
    assert_non_null(strstr(rs.r[0].reason, "100001 vertices, more than the "
                                           "100000 a fence may have"));
    free(at);
    free(over);
}

static void test_repaired_set_keeps_the_rest(void **state)
{
    static const char json[] =
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"name\":\"a\"},\"geometry\":"
        "{\"type\":\"Polygon\",\"coordinates\":"
        "[[[0.1,0.1],[1.3,0.1],[1.3,1.7],[0.1,0.1]]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"name\":\"b\"},\"geometry\":"
        "{\"type\":\"Polygon\",\"coordinates\":"
        "[[[0,0],[2,2],[2,0],[0,2],[0,0]]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"name\":\"c\",\"radius_m\":"
        "250},\"geometry\":{\"type\":\"Point\",\"coordinates\":[8.5,47.3]}}"
        "]}";
    struct lw_fenceset *set = load(json, LW_FENCE_KEEP_OUT), *out = NULL;
    struct lw_fencecheck *fc = lw_fencecheck_new();
    struct reports rs = {0};
    size_t refused, repaired;
    char *t1, *t2;

    (void)state;
    assert_int_equal(lw_fencecheck_set(fc, set, true, &out, keep, &rs, &refused,
                                       &repaired, NULL, 0),
                     LW_OK);
    assert_non_null(out);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].id, 1);
    assert_int_equal(lw_fenceset_count(out), 3);
    for (size_t id = 0; id < 3; id++) {
        assert_string_equal(lw_fence_get_name(out, id),
                            lw_fence_get_name(set, id));
        assert_int_equal(lw_fence_get_kind(out, id), LW_FENCE_KEEP_OUT);
        if (id == 1)
            continue;
        assert_int_equal(lw_fence_to_geojson(set, id, &t1), LW_OK);
        assert_int_equal(lw_fence_to_geojson(out, id, &t2), LW_OK);
        assert_string_equal(t1, t2);
        free(t1);
        free(t2);
    }
    assert_true(lw_fence_is_circle(out, 2));
    assert_all_valid(out);
    lw_fenceset_free(out);
    /* without make_valid: refused, and no set */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(lw_fencecheck_set(fc, set, false, NULL, keep, &rs,
                                       &refused, &repaired, NULL, 0),
                     LW_OK);
    assert_int_equal(refused, 1);
    assert_int_equal(rs.r[0].verdict, LW_FENCECHECK_REFUSED);
    lw_fenceset_free(set);
    lw_fencecheck_free(fc);
}

static void test_accessors_and_args(void **state)
{
    struct lw_fenceset *set =
        load(feature("sq", "Polygon", "[[[0,0],[1,0],[1,1],[0,0]]]"),
             LW_FENCE_KEEP_IN);
    struct lw_fencecheck *fc = lw_fencecheck_new();
    const struct lw_geo_polygon *polys;
    struct lw_geo_circle c;
    size_t n;
    char err[ERR_MAX] = "";

    (void)state;
    assert_int_equal(lw_fence_get_polygons(set, 0, &polys, &n), LW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(polys[0].nrings, 1);
    assert_int_equal(polys[0].rings[0].n, 4);
    assert_int_equal(lw_fence_get_polygons(set, 1, &polys, &n),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_fence_get_polygons(NULL, 0, &polys, &n), LW_ERR_INVAL);
    assert_int_equal(lw_fence_get_circle(set, 0, &c), LW_ERR_INVAL);
    assert_int_equal(lw_fence_get_circle(set, 3, &c), LW_ERR_NOTFOUND);
    assert_int_equal(lw_fencecheck_set(fc, set, true, NULL, NULL, NULL, NULL,
                                       NULL, err, sizeof err),
                     LW_ERR_INVAL);
    assert_string_equal(err, "invalid argument");
    assert_int_equal(lw_fencecheck_set(NULL, set, false, NULL, NULL, NULL, NULL,
                                       NULL, NULL, 0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_fencecheck_set(fc, NULL, false, NULL, NULL, NULL, NULL,
                                       NULL, NULL, 0),
                     LW_ERR_INVAL);
    lw_fencecheck_free(NULL);
    lw_fenceset_free(set);
    lw_fencecheck_free(fc);
}

/* Loads a real data file into a new set, or skips the test. */
static struct lw_fenceset *load_real(const char *rel, const char *name_prop)
{
    const char *dir = getenv("LW_DATA_DIR");
    char path[PATH_MAX_LEN], err[ERR_MAX] = "";
    struct lw_fenceset *set;
    char *text;
    long len;
    FILE *f;

    snprintf(path, sizeof path, "%s/geofences/%s", dir ? dir : "../shared/data",
             rel);
    f = fopen(path, "rb");
    if (!f) {
        print_message("SKIP: %s not found (set LW_DATA_DIR to the shared "
                      "data directory)\n",
                      path);
        skip();
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    text = malloc((size_t)len);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    set = lw_fenceset_new();
    assert_non_null(set);
    if (lw_fenceset_add_geojson(set, text, (size_t)len, LW_FENCE_KEEP_IN,
                                name_prop, err, sizeof err) != LW_OK)
        fail_msg("%s: %s", path, err);
    free(text);
    return set;
}

static void test_real_valid(void **state)
{
    static const char *const files[] = {
        "brazil_ibge/geojs-28-mun.json",
        "germany/bundeslaender_3_mittel.geo.json",
        "natural_earth/ne_110m_admin_1_states_provinces.json",
        "natural_earth/ne_50m_urban_areas.json",
    };

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct lw_fenceset *set = load_real(files[i], "name");

        assert_all_valid(set);
        lw_fenceset_free(set);
    }
}

static void test_real_countries(void **state)
{
    struct lw_fenceset *set =
        load_real("natural_earth/ne_110m_admin_0_countries.json", "ADMIN");
    struct lw_fencecheck *fc = lw_fencecheck_new();
    struct lw_fenceset *out = NULL;
    struct reports rs = {0};
    size_t refused, repaired;
    const struct lw_fencecheck_report *r;

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 177);
    /* one of 177 is invalid: Sudan's ring crosses itself */
    assert_int_equal(lw_fencecheck_set(fc, set, false, NULL, keep, &rs,
                                       &refused, &repaired, NULL, 0),
                     LW_OK);
    assert_int_equal(refused, 1);
    assert_int_equal(rs.n, 1);
    r = &rs.r[0];
    assert_string_equal(r->name, "Sudan");
    assert_string_equal(r->reason, "Self-intersection");
    assert_true(r->has_location);
    assert_true(fabs(r->lat_deg - 9.4643) < 1e-3 &&
                fabs(r->lon_deg - 33.9634) < 1e-3);
    /* repaired, the area hardly changes (~1.9 million km2) */
    memset(&rs, 0, sizeof rs);
    assert_int_equal(lw_fencecheck_set(fc, set, true, &out, keep, &rs, &refused,
                                       &repaired, NULL, 0),
                     LW_OK);
    assert_int_equal(repaired, 1);
    assert_non_null(out);
    r = &rs.r[0];
    assert_true(r->after.area_m2 > 1.7e12 && r->after.area_m2 < 2.0e12);
    assert_true(fabs(r->after.area_m2 - r->before.area_m2) <
                0.01 * r->after.area_m2);
    assert_int_equal(lw_fenceset_count(out), 177);
    assert_true(lw_fence_contains(out, r->id, 15.5, 32.5)); /* Khartoum */
    assert_all_valid(out);
    lw_fenceset_free(out);
    lw_fenceset_free(set);
    lw_fencecheck_free(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_untouched),
        cmocka_unit_test(test_bow_tie),
        cmocka_unit_test(test_zero_area),
        cmocka_unit_test(test_speck),
        cmocka_unit_test(test_spike),
        cmocka_unit_test(test_hole_outside),
        cmocka_unit_test(test_overlapping_parts),
        cmocka_unit_test(test_radius),
        cmocka_unit_test(test_vertex_limit),
        cmocka_unit_test(test_repaired_set_keeps_the_rest),
        cmocka_unit_test(test_accessors_and_args),
        cmocka_unit_test(test_real_valid),
        cmocka_unit_test(test_real_countries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
