/*
 * test_fence.c - unit tests of lib/fence.c: GeoJSON loading and its errors,
 * names, circles, the index against a brute-force scan, distances, tags,
 * GeoJSON round trips, and the real polygons of ../shared/data/geofences
 * (skipped when that directory is absent; LW_DATA_DIR overrides it).
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/fence.h"

/* Metres per degree of a great circle on the lienwatch sphere. */
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

/* Room for error detail. */
#define ERR_MAX 512

/* Longest path to a data file. */
#define PATH_MAX_LEN 4096

/* Most fences one lookup is expected to return in these tests. */
#define MAX_HITS 64

/* Random points compared between the index and a brute-force scan. */
#define INDEX_CHECK_POINTS 3000

/* Fences ids found for one point. */
struct hits {
    size_t ids[MAX_HITS]; /* ids in callback order */
    size_t n;             /* how many */
    size_t stop_after;    /* stop the lookup after this many; 0 = never */
};

/* lw_fence_cb appending to struct hits. */
static int collect(void *ctx, size_t id)
{
    struct hits *h = ctx;

    assert_true(h->n < MAX_HITS);
    h->ids[h->n++] = id;
    return h->stop_after && h->n >= h->stop_after;
}

/* qsort order for ids. */
static int cmp_id(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return (x > y) - (x < y);
}

/* Ids of the fences holding (lat, lon), sorted. */
static struct hits which(const struct lw_fenceset *set, double lat, double lon)
{
    struct hits h = {0};

    assert_int_equal(lw_fenceset_which(set, lat, lon, collect, &h), LW_OK);
    qsort(h.ids, h.n, sizeof h.ids[0], cmp_id);
    return h;
}

/* True when the fence named name holds (lat, lon) according to which(). */
static bool in_named(const struct lw_fenceset *set, const char *name,
                     double lat, double lon)
{
    struct hits h = which(set, lat, lon);

    for (size_t i = 0; i < h.n; i++) {
        if (strcmp(lw_fence_get_name(set, h.ids[i]), name) == 0)
            return true;
    }
    return false;
}

/* Loads text into set, expecting success. */
static void load_ok(struct lw_fenceset *set, const char *text,
                    enum lw_fence_kind kind, const char *name_prop)
{
    char err[ERR_MAX] = "";
    enum lw_err rc = lw_fenceset_add_geojson(set, text, strlen(text), kind,
                                             name_prop, err, sizeof err);

    if (rc != LW_OK)
        fail_msg("load failed: %s (%s)", lw_strerror(rc), err);
}

/*
 * Loads text into a fresh set, expecting failure with code and a message
 * containing want (and leaving the set empty).
 */
static void load_bad(const char *text, enum lw_err code, const char *want)
{
    struct lw_fenceset *set = lw_fenceset_new();
    char err[ERR_MAX] = "";
    enum lw_err rc;

    assert_non_null(set);
    rc = lw_fenceset_add_geojson(set, text, strlen(text), LW_FENCE_KEEP_IN,
                                 NULL, err, sizeof err);
    if (rc != code || !strstr(err, want))
        fail_msg("for %s: got %s \"%s\", want %s containing \"%s\"", text,
                 lw_strerror(rc), err, lw_strerror(code), want);
    assert_int_equal(lw_fenceset_count(set), 0);
    lw_fenceset_free(set);
}

/* Two squares and a square with a hole, as one FeatureCollection. */
static const char *const three_fences =
    "{\"type\":\"FeatureCollection\",\"features\":["
    "{\"type\":\"Feature\",\"properties\":{\"name\":\"west\",\"code\":7},"
    " \"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "  [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},"
    "{\"type\":\"Feature\",\"properties\":{\"name\":\"east\",\"code\":2.5},"
    " \"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "  [[[1,0],[2,0],[2,1],[1,1],[1,0]]]}},"
    "{\"type\":\"Feature\",\"properties\":null,"
    " \"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "  [[[0,0,12.5],[10,0,12.5],[10,10,1],[0,10,1],[0,0,12.5]],"
    "   [[4,4],[4,6],[6,6],[6,4],[4,4]]]}}]}";

static void test_load_and_which(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    struct hits h;
    struct lw_geo_bbox b;

    (void)state;
    load_ok(set, three_fences, LW_FENCE_KEEP_OUT, NULL);
    assert_int_equal(lw_fenceset_count(set), 3);
    assert_string_equal(lw_fence_get_name(set, 0), "west");
    assert_string_equal(lw_fence_get_name(set, 1), "east");
    /* No properties: named by feature index. */
    assert_string_equal(lw_fence_get_name(set, 2), "2");
    assert_null(lw_fence_get_name(set, 3));
    assert_int_equal(lw_fence_get_kind(set, 1), LW_FENCE_KEEP_OUT);
    assert_int_equal(lw_fence_get_kind(set, 9), 0);
    assert_false(lw_fence_is_circle(set, 0));
    assert_int_equal(lw_fence_get_bbox(set, 2, &b), LW_OK);
    assert_true(b.min_lon_deg == 0 && b.max_lon_deg == 10 &&
                b.min_lat_deg == 0 && b.max_lat_deg == 10);
    assert_int_equal(lw_fence_get_bbox(set, 3, &b), LW_ERR_NOTFOUND);

    /* Before and after building the index: the same answers. */
    for (int pass = 0; pass < 2; pass++) {
        h = which(set, 0.5, 0.5);
        assert_int_equal(h.n, 2);
        assert_int_equal(h.ids[0], 0);
        assert_int_equal(h.ids[1], 2);
        /* The shared edge of west and east: both, and the big square. */
        h = which(set, 0.5, 1.0);
        assert_int_equal(h.n, 3);
        /* In the hole: nothing; on the hole's edge: the big square. */
        h = which(set, 5, 5);
        assert_int_equal(h.n, 0);
        h = which(set, 5, 4);
        assert_int_equal(h.n, 1);
        assert_int_equal(h.ids[0], 2);
        h = which(set, 20, 20);
        assert_int_equal(h.n, 0);
        assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    }
    assert_true(lw_fence_contains(set, 2, 3, 3));
    assert_false(lw_fence_contains(set, 2, 5, 5));
    assert_false(lw_fence_contains(set, 7, 3, 3));
    assert_false(lw_fence_contains(set, 2, 91, 3));
    assert_int_equal(lw_fenceset_which(set, 91, 0, collect, &h), LW_ERR_RANGE);
    assert_int_equal(lw_fenceset_which(set, NAN, 0, collect, &h), LW_ERR_RANGE);
    assert_int_equal(lw_fenceset_which(NULL, 0, 0, collect, &h), LW_ERR_INVAL);
    assert_int_equal(lw_fenceset_which(set, 0, 0, NULL, NULL), LW_ERR_INVAL);
    lw_fenceset_free(set);
}

static void test_which_stops_early(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    struct hits h = {.stop_after = 1};

    (void)state;
    load_ok(set, three_fences, LW_FENCE_KEEP_IN, NULL);
    assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    assert_int_equal(lw_fenceset_which(set, 0.5, 1.0, collect, &h), LW_OK);
    assert_int_equal(h.n, 1);
    lw_fenceset_free(set);
}

static void test_names(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();

    (void)state;
    /* A numeric property names the fence by its decimal text. */
    load_ok(set, three_fences, LW_FENCE_KEEP_IN, "code");
    assert_string_equal(lw_fence_get_name(set, 0), "7");
    assert_string_equal(lw_fence_get_name(set, 1), "2.5");
    assert_string_equal(lw_fence_get_name(set, 2), "2");
    /* A missing property falls back to the feature index. */
    load_ok(set, three_fences, LW_FENCE_KEEP_IN, "nope");
    assert_string_equal(lw_fence_get_name(set, 3), "0");
    assert_string_equal(lw_fence_get_name(set, 5), "2");
    /* A single Feature and a bare geometry are feature 0. */
    load_ok(set,
            "{\"type\":\"Feature\",\"properties\":{\"name\":\"\"},"
            "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
            "[[[0,0],[1,0],[1,1],[0,0]]]}}",
            LW_FENCE_KEEP_IN, NULL);
    assert_string_equal(lw_fence_get_name(set, 6), "0");
    load_ok(set,
            "{\"type\":\"MultiPolygon\",\"coordinates\":"
            "[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}",
            LW_FENCE_KEEP_IN, NULL);
    assert_string_equal(lw_fence_get_name(set, 7), "0");
    assert_true(lw_fence_contains(set, 7, 5.5, 5.9));
    assert_int_equal(lw_fenceset_count(set), 8);
    lw_fenceset_free(set);
}

/* A Point feature with radius_m, and the add_circle call. */
static void test_circles(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    char err[ERR_MAX];
    size_t id = 99;
    struct hits h;
    double d;

    (void)state;
    load_ok(set,
            "{\"type\":\"Feature\",\"properties\":{\"name\":\"depot\","
            "\"radius_m\":500},\"geometry\":{\"type\":\"Point\","
            "\"coordinates\":[-8.61,41.15]}}",
            LW_FENCE_KEEP_OUT, NULL);
    assert_true(lw_fence_is_circle(set, 0));
    /* 838 m east of the depot's centre, so it holds that centre too. */
    assert_int_equal(lw_fenceset_add_circle(set, "yard", 41.15, -8.60, 900,
                                            LW_FENCE_KEEP_IN, &id, err,
                                            sizeof err),
                     LW_OK);
    assert_int_equal(id, 1);
    assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    h = which(set, 41.15, -8.61);
    assert_int_equal(h.n, 2);
    h = which(set, 41.15 + 499.0 / M_PER_DEG, -8.61);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.ids[0], 0);
    h = which(set, 41.15 + 501.0 / M_PER_DEG, -8.61);
    assert_int_equal(h.n, 0);
    d = lw_fence_distance_m(set, 0, 41.15 + 800.0 / M_PER_DEG, -8.61);
    assert_true(fabs(d - 300.0) < 1e-6);
    /* Bad circles leave the set as it was. */
    assert_int_equal(lw_fenceset_add_circle(set, "x", 91, 0, 10,
                                            LW_FENCE_KEEP_IN, NULL, err,
                                            sizeof err),
                     LW_ERR_RANGE);
    assert_int_equal(lw_fenceset_add_circle(set, "x", 0, 0, 0, LW_FENCE_KEEP_IN,
                                            NULL, err, sizeof err),
                     LW_ERR_RANGE);
    assert_int_equal(lw_fenceset_add_circle(set, "x", 0, 0, NAN,
                                            LW_FENCE_KEEP_IN, NULL, NULL, 0),
                     LW_ERR_RANGE);
    assert_int_equal(lw_fenceset_add_circle(set, "x", 0, 0, 5,
                                            (enum lw_fence_kind)7, NULL, NULL,
                                            0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_fenceset_add_circle(set, "bad \xff utf8", 0, 0, 5,
                                            LW_FENCE_KEEP_IN, NULL, err,
                                            sizeof err),
                     LW_ERR_INVAL);
    assert_int_equal(lw_fenceset_add_circle(set, NULL, 0, 0, 5,
                                            LW_FENCE_KEEP_IN, NULL, NULL, 0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_fenceset_count(set), 2);
    lw_fenceset_free(set);
}

/* Fences added after build_index are found by the scan. */
static void test_added_after_index(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    struct hits h;

    (void)state;
    load_ok(set, three_fences, LW_FENCE_KEEP_IN, NULL);
    assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    assert_int_equal(lw_fenceset_add_circle(set, "late", 0.5, 0.5, 100,
                                            LW_FENCE_KEEP_IN, NULL, NULL, 0),
                     LW_OK);
    h = which(set, 0.5, 0.5);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.ids[2], 3);
    lw_fenceset_free(set);
}

static void test_distance_and_tags(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    double d;

    (void)state;
    load_ok(set,
            "{\"type\":\"Polygon\",\"coordinates\":"
            "[[[10,44],[11,44],[11,45],[10,45],[10,44]]]}",
            LW_FENCE_KEEP_IN, NULL);
    /* A point 0.01 degree north of the east-west edge at lat 45. */
    d = lw_fence_distance_m(set, 0, 45.01, 10.5);
    assert_true(fabs(d - 1111.95) < 0.01);
    assert_true(isnan(lw_fence_distance_m(set, 1, 45.01, 10.5)));
    assert_true(isnan(lw_fence_distance_m(set, 0, 95, 10.5)));
    assert_int_equal(lw_fence_get_tag(set, 0), 0);
    assert_int_equal(lw_fence_set_tag(set, 0, INT64_C(-1234567890123)), LW_OK);
    assert_true(lw_fence_get_tag(set, 0) == INT64_C(-1234567890123));
    assert_int_equal(lw_fence_set_tag(set, 1, 5), LW_ERR_NOTFOUND);
    assert_int_equal(lw_fence_set_tag(NULL, 0, 5), LW_ERR_INVAL);
    assert_int_equal(lw_fence_get_tag(set, 1), 0);
    lw_fenceset_free(set);
}

static void test_bad_geojson(void **state)
{
    (void)state;
    load_bad("{\"type\":", LW_ERR_INVAL, "line 1 column");
    /* input quoted in the detail loses its control characters (an escape
     * sequence must not reach the operator's terminal) */
    load_bad("[1,\x1b[31m]", LW_ERR_INVAL, "near '?'");
    load_bad("{\"type\":\"\\u001b[2J\"}", LW_ERR_INVAL,
             "\"?[2J\" is not supported");
    load_bad("[1,2]", LW_ERR_INVAL, "no top-level \"type\"");
    load_bad("{\"type\":\"Topology\"}", LW_ERR_INVAL, "not supported");
    load_bad("{\"type\":\"FeatureCollection\"}", LW_ERR_INVAL,
             "no \"features\" array");
    load_bad("{\"type\":\"FeatureCollection\",\"features\":[1]}", LW_ERR_INVAL,
             "feature 0: not a GeoJSON Feature");
    load_bad("{\"type\":\"FeatureCollection\",\"features\":["
             "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
             "\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}},"
             "{\"type\":\"Feature\",\"geometry\":null}]}",
             LW_ERR_INVAL, "feature 1: geometry is null");
    load_bad("{\"type\":\"Feature\",\"properties\":[],\"geometry\":null}",
             LW_ERR_INVAL, "\"properties\" is not an object");
    load_bad("{\"type\":\"Feature\",\"geometry\":{\"type\":\"LineString\","
             "\"coordinates\":[[0,0],[1,1]]}}",
             LW_ERR_INVAL, "\"LineString\" is not supported");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[0,0]]]}",
             LW_ERR_INVAL, "feature 0: polygon ring 0: 3 positions");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":[]}", LW_ERR_INVAL,
             "non-empty");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1,0],[1,1],[0,1]]]}",
             LW_ERR_INVAL, "ring 0 is not closed");
    load_bad("{\"type\":\"MultiPolygon\",\"coordinates\":"
             "[[[[0,0],[1,0],[1,1],[0,0]]],"
             "[[[0,0],[1,0],[1,1],[0,0]],[[0,0],[1,0],[1,1],[0,1]]]]}",
             LW_ERR_INVAL, "polygon 1 ring 1 is not closed");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[181,0],[1,1],[0,0]]]}",
             LW_ERR_RANGE, "ring 0 position 1: longitude 181 is outside");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1,-90.5],[1,1],[0,0]]]}",
             LW_ERR_RANGE, "latitude -90.5 is outside");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1,\"0\"],[1,1],[0,0]]]}",
             LW_ERR_INVAL, "coordinates must be numbers");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1],[1,1],[0,0]]]}",
             LW_ERR_INVAL, "position 1: a position must be an array");
    /* Non-finite numbers never get past the JSON parser. */
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1,1e999],[1,1],[0,0]]]}",
             LW_ERR_INVAL, "line 1");
    load_bad("{\"type\":\"Polygon\",\"coordinates\":"
             "[[[0,0],[1,NaN],[1,1],[0,0]]]}",
             LW_ERR_INVAL, "line 1");
    load_bad("{\"type\":\"Feature\",\"properties\":{},\"geometry\":"
             "{\"type\":\"Point\",\"coordinates\":[1,2]}}",
             LW_ERR_INVAL, "numeric \"radius_m\"");
    load_bad("{\"type\":\"Feature\",\"properties\":{\"radius_m\":-5},"
             "\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}",
             LW_ERR_RANGE, "must be > 0");
    load_bad("{\"type\":\"Feature\",\"properties\":{\"radius_m\":5},"
             "\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,200]}}",
             LW_ERR_RANGE, "latitude 200 is outside");
    load_bad("{\"type\":\"Point\",\"coordinates\":[1,2]}", LW_ERR_INVAL,
             "not supported");
}

/* A bad document after good ones leaves the set exactly as it was. */
static void test_all_or_nothing(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    char err[ERR_MAX];
    const char *bad = "{\"type\":\"FeatureCollection\",\"features\":["
                      "{\"type\":\"Feature\",\"geometry\":{\"type\":"
                      "\"Polygon\",\"coordinates\":[[[5,5],[6,5],[6,6],"
                      "[5,5]]]}},"
                      "{\"type\":\"Feature\",\"geometry\":{\"type\":"
                      "\"Polygon\",\"coordinates\":[[[5,5],[6,5],[6,6]]]}}]}";

    (void)state;
    load_ok(set, three_fences, LW_FENCE_KEEP_IN, NULL);
    assert_int_equal(lw_fenceset_add_geojson(set, bad, strlen(bad),
                                             LW_FENCE_KEEP_IN, NULL, err,
                                             sizeof err),
                     LW_ERR_INVAL);
    assert_non_null(strstr(err, "feature 1: polygon ring 0: 3 positions"));
    assert_int_equal(lw_fenceset_count(set), 3);
    assert_int_equal(which(set, 5.5, 5.2).n, 0);
    assert_int_equal(
        lw_fenceset_add_geojson(set, three_fences, strlen(three_fences),
                                (enum lw_fence_kind)0, NULL, err, sizeof err),
        LW_ERR_INVAL);
    assert_int_equal(lw_fenceset_add_geojson(NULL, three_fences, 3,
                                             LW_FENCE_KEEP_IN, NULL, NULL, 0),
                     LW_ERR_INVAL);
    /* An empty collection adds nothing, and is no error. */
    load_ok(set, "{\"type\":\"FeatureCollection\",\"features\":[]}",
            LW_FENCE_KEEP_IN, NULL);
    assert_int_equal(lw_fenceset_count(set), 3);
    lw_fenceset_free(set);
    lw_fenceset_free(NULL);
}

/* Serialise every fence, load the text back, compare; twice is stable. */
static void test_geojson_round_trip(void **state)
{
    struct lw_fenceset *a = lw_fenceset_new();
    struct lw_fenceset *b = lw_fenceset_new();
    const char *multi = "{\"type\":\"Feature\",\"properties\":{\"name\":"
                        "\"Fidschi \\u00e9\"},\"geometry\":{\"type\":"
                        "\"MultiPolygon\",\"coordinates\":["
                        "[[[170,-20],[180,-20],[180,-10],[170,-10],"
                        "[170,-20]]],"
                        "[[[-180,-20],[-170,-20],[-170,-10],[-180,-10],"
                        "[-180,-20]]]]}}";

    (void)state;
    load_ok(a, three_fences, LW_FENCE_KEEP_OUT, NULL);
    load_ok(a, multi, LW_FENCE_KEEP_OUT, NULL);
    assert_int_equal(lw_fenceset_add_circle(a, "c", 0.1234567890123, 1e-7,
                                            123.456, LW_FENCE_KEEP_OUT, NULL,
                                            NULL, 0),
                     LW_OK);
    for (size_t id = 0; id < lw_fenceset_count(a); id++) {
        char *text = NULL, *again = NULL;

        assert_int_equal(lw_fence_to_geojson(a, id, &text), LW_OK);
        load_ok(b, text, LW_FENCE_KEEP_OUT, NULL);
        assert_string_equal(lw_fence_get_name(b, id), lw_fence_get_name(a, id));
        assert_int_equal(lw_fence_is_circle(b, id), lw_fence_is_circle(a, id));
        assert_int_equal(lw_fence_to_geojson(b, id, &again), LW_OK);
        assert_string_equal(text, again);
        free(text);
        free(again);
    }
    {
        char *text = NULL;

        assert_int_equal(lw_fence_to_geojson(a, 3, &text), LW_OK);
        assert_non_null(strstr(text, "\"type\":\"MultiPolygon\""));
        assert_non_null(strstr(text, "\"kind\":\"keep_out\""));
        free(text);
        assert_int_equal(lw_fence_to_geojson(a, 4, &text), LW_OK);
        assert_non_null(strstr(text, "\"radius_m\":123.456"));
        assert_non_null(strstr(text, "0.1234567890123"));
        free(text);
        assert_int_equal(lw_fence_to_geojson(a, 2, &text), LW_OK);
        assert_non_null(strstr(text, "\"type\":\"Polygon\""));
        free(text);
        assert_int_equal(lw_fence_to_geojson(a, 99, &text), LW_ERR_NOTFOUND);
        assert_null(text);
    }
    assert_true(lw_fence_contains(b, 3, -15, 180));
    assert_true(lw_fence_contains(b, 3, -15, -175));
    assert_false(lw_fence_contains(b, 2, 5, 5));
    lw_fenceset_free(a);
    lw_fenceset_free(b);
}

static void test_kind_names(void **state)
{
    enum lw_fence_kind k;

    (void)state;
    assert_string_equal(lw_fence_kind_name(LW_FENCE_KEEP_IN), "keep_in");
    assert_string_equal(lw_fence_kind_name(LW_FENCE_KEEP_OUT), "keep_out");
    assert_string_equal(lw_fence_kind_name((enum lw_fence_kind)0), "unknown");
    assert_int_equal(lw_fence_kind_parse("keep_out", &k), LW_OK);
    assert_int_equal(k, LW_FENCE_KEEP_OUT);
    assert_int_equal(lw_fence_kind_parse("keep-in", &k), LW_ERR_INVAL);
    assert_int_equal(lw_fence_kind_parse(NULL, &k), LW_ERR_INVAL);
}

/* xorshift64: deterministic test randomness. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A uniform double in [lo, hi). */
static double rnd_range(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd(s) >> 11) * 0x1p-53;
}

/*
 * Many random circles and squares: the index gives exactly the fences a
 * brute-force lw_fence_contains scan gives.
 */
static void test_index_matches_scan(void **state)
{
    struct lw_fenceset *set = lw_fenceset_new();
    uint64_t s = 7;
    const int nfences = 2000;

    (void)state;
    for (int i = 0; i < nfences; i++) {
        double lat = rnd_range(&s, -60, 60), lon = rnd_range(&s, -180, 180);
        char name[32];

        snprintf(name, sizeof name, "f%d", i);
        if (i % 2) {
            assert_int_equal(lw_fenceset_add_circle(
                                 set, name, lat, lon, rnd_range(&s, 1e3, 5e5),
                                 LW_FENCE_KEEP_IN, NULL, NULL, 0),
                             LW_OK);
        } else {
            char text[512];
            double w = rnd_range(&s, 0.01, 5);
            double e = fmin(lon + w, 180), n = fmin(lat + w, 90);

            snprintf(text, sizeof text,
                     "{\"type\":\"Polygon\",\"coordinates\":[[[%.17g,%.17g],"
                     "[%.17g,%.17g],[%.17g,%.17g],[%.17g,%.17g],[%.17g,%.17g]"
                     "]]}",
                     lon, lat, e, lat, e, n, lon, n, lon, lat);
            load_ok(set, text, LW_FENCE_KEEP_IN, NULL);
        }
    }
    assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    for (int k = 0; k < INDEX_CHECK_POINTS; k++) {
        double lat = rnd_range(&s, -62, 62), lon = rnd_range(&s, -180, 180);
        struct hits h = which(set, lat, lon);
        size_t n = 0;

        for (size_t id = 0; id < lw_fenceset_count(set); id++) {
            if (lw_fence_contains(set, id, lat, lon)) {
                assert_true(n < h.n);
                assert_int_equal(h.ids[n], id);
                n++;
            }
        }
        assert_int_equal(n, h.n);
    }
    lw_fenceset_free(set);
}

/* Fills path with $LW_DATA_DIR/geofences/rel; false (and skip) if absent. */
static bool data_path(char *path, size_t len, const char *rel)
{
    const char *dir = getenv("LW_DATA_DIR");
    FILE *f;

    snprintf(path, len, "%s/geofences/%s", dir ? dir : "../shared/data", rel);
    f = fopen(path, "rb");
    if (!f)
        return false;
    fclose(f);
    return true;
}

/* Loads a real data file into a new set (index built), or skips the test. */
static struct lw_fenceset *load_real(const char *rel, const char *name_prop)
{
    char path[PATH_MAX_LEN];
    char err[ERR_MAX] = "";
    struct lw_fenceset *set;
    char *text;
    long len;
    FILE *f;

    if (!data_path(path, sizeof path, rel)) {
        print_message("SKIP: %s not found (set LW_DATA_DIR to the shared "
                      "data directory)\n",
                      path);
        skip();
    }
    f = fopen(path, "rb");
    assert_non_null(f);
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
    assert_int_equal(lw_fenceset_build_index(set), LW_OK);
    return set;
}

/*
 * Counts the holes of every fence through its GeoJSON text (exercising the
 * serialiser on real data too).
 */
static size_t count_holes(const struct lw_fenceset *set)
{
    size_t holes = 0;

    for (size_t id = 0; id < lw_fenceset_count(set); id++) {
        char *text = NULL;
        json_t *root, *geom, *coords;
        json_error_t jerr;

        assert_int_equal(lw_fence_to_geojson(set, id, &text), LW_OK);
        root = json_loads(text, 0, &jerr);
        assert_non_null(root);
        geom = json_object_get(root, "geometry");
        coords = json_object_get(geom, "coordinates");
        if (strcmp(json_string_value(json_object_get(geom, "type")),
                   "Polygon") == 0) {
            holes += json_array_size(coords) - 1;
        } else {
            for (size_t p = 0; p < json_array_size(coords); p++)
                holes += json_array_size(json_array_get(coords, p)) - 1;
        }
        json_decref(root);
        free(text);
    }
    return holes;
}

/* Index of the fence named name; fails the test when there is none. */
static size_t find_named(const struct lw_fenceset *set, const char *name)
{
    for (size_t id = 0; id < lw_fenceset_count(set); id++) {
        if (strcmp(lw_fence_get_name(set, id), name) == 0)
            return id;
    }
    fail_msg("no fence named %s", name);
    return 0;
}

static void test_real_countries(void **state)
{
    struct lw_fenceset *set =
        load_real("natural_earth/ne_110m_admin_0_countries.json", "NAME");
    double d;

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 177);
    assert_int_equal(count_holes(set), 1);
    /* Maseru: in Lesotho, which is a hole of South Africa. */
    assert_true(in_named(set, "Lesotho", -29.31, 27.48));
    assert_false(in_named(set, "South Africa", -29.31, 27.48));
    assert_int_equal(which(set, -29.31, 27.48).n, 1);
    assert_true(in_named(set, "South Africa", -26.20, 28.04));
    assert_true(in_named(set, "Portugal", 39.5, -8.0));
    assert_true(in_named(set, "Germany", 52.52, 13.405));
    /* Both sides of the antimeridian in Russia and Fiji. */
    assert_true(in_named(set, "Russia", 66.0, 175.0));
    assert_true(in_named(set, "Russia", 66.0, -175.0));
    assert_true(in_named(set, "Fiji", -17.8, 178.0));
    assert_int_equal(which(set, 0, -30).n, 0);
    /* Maseru lies on the Caledon, a few hundred metres from the (coarse)
     * border; the middle of Lesotho is some 60 km from it. */
    d = lw_fence_distance_m(set, find_named(set, "Lesotho"), -29.31, 27.48);
    assert_true(d > 100 && d < 1000);
    d = lw_fence_distance_m(set, find_named(set, "Lesotho"), -29.6, 28.2);
    assert_true(d > 40e3 && d < 80e3);
    lw_fenceset_free(set);
}

static void test_real_germany(void **state)
{
    struct lw_fenceset *set =
        load_real("germany/bundeslaender_3_mittel.geo.json", NULL);
    size_t brandenburg;
    double d;

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 16);
    assert_int_equal(count_holes(set), 5);
    /* Berlin is in Berlin and not in Brandenburg (Berlin is its hole). */
    assert_true(in_named(set, "Berlin", 52.52, 13.405));
    assert_false(in_named(set, "Brandenburg", 52.52, 13.405));
    assert_int_equal(which(set, 52.52, 13.405).n, 1);
    assert_true(in_named(set, "Brandenburg", 52.39, 13.06)); /* Potsdam */
    assert_true(in_named(set, "Bayern", 48.1374, 11.5755));  /* Munich */
    assert_true(in_named(set, "Bremen", 53.0793, 8.8017));
    assert_false(in_named(set, "Niedersachsen", 53.0793, 8.8017));
    assert_true(in_named(set, "Baden-Württemberg", 48.7758, 9.1829));
    /* Berlin's centre is > 10 km from Brandenburg's inner boundary. */
    brandenburg = find_named(set, "Brandenburg");
    d = lw_fence_distance_m(set, brandenburg, 52.52, 13.405);
    assert_true(d > 10e3 && d < 30e3);
    lw_fenceset_free(set);
}

static void test_real_sergipe(void **state)
{
    struct lw_fenceset *set = load_real("brazil_ibge/geojs-28-mun.json", NULL);

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 75);
    assert_int_equal(count_holes(set), 0);
    assert_true(in_named(set, "Aracaju", -10.91, -37.07));
    assert_int_equal(which(set, -10.91, -37.07).n, 1);
    assert_false(in_named(set, "Aracaju", -10.6, -37.5));
    lw_fenceset_free(set);
}

static void test_real_urban_areas(void **state)
{
    struct lw_fenceset *set =
        load_real("natural_earth/ne_50m_urban_areas.json", NULL);
    uint64_t s = 99;

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 2143);
    assert_int_equal(count_holes(set), 13);
    /* Porto, Aracaju, Austin, Munich are urban; mid-Atlantic is not. */
    assert_int_equal(which(set, 41.1496, -8.6110).n, 1);
    assert_int_equal(which(set, -10.91, -37.07).n, 1);
    assert_int_equal(which(set, 30.2672, -97.7431).n, 1);
    assert_int_equal(which(set, 48.1374, 11.5755).n, 1);
    assert_int_equal(which(set, 30, -40).n, 0);
    /* Index against brute force on points near real cities' boxes. */
    for (int k = 0; k < INDEX_CHECK_POINTS / 3; k++) {
        size_t id0 = rnd(&s) % lw_fenceset_count(set);
        struct lw_geo_bbox b;
        double lat, lon;
        struct hits h;
        size_t n = 0;

        assert_int_equal(lw_fence_get_bbox(set, id0, &b), LW_OK);
        lat = rnd_range(&s, b.min_lat_deg - 0.1, b.max_lat_deg + 0.1);
        lon = rnd_range(&s, b.min_lon_deg - 0.1, b.max_lon_deg + 0.1);
        h = which(set, lat, lon);
        for (size_t id = 0; id < lw_fenceset_count(set); id++) {
            if (lw_fence_contains(set, id, lat, lon)) {
                assert_true(n < h.n);
                assert_int_equal(h.ids[n++], id);
            }
        }
        assert_int_equal(n, h.n);
    }
    lw_fenceset_free(set);
}

static void test_real_us_states(void **state)
{
    struct lw_fenceset *set =
        load_real("natural_earth/ne_110m_admin_1_states_provinces.json", NULL);

    (void)state;
    assert_int_equal(lw_fenceset_count(set), 51);
    assert_true(in_named(set, "Texas", 30.2672, -97.7431));
    assert_true(in_named(set, "Minnesota", 44.98, -93.27));
    lw_fenceset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_which),
        cmocka_unit_test(test_which_stops_early),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_circles),
        cmocka_unit_test(test_added_after_index),
        cmocka_unit_test(test_distance_and_tags),
        cmocka_unit_test(test_bad_geojson),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_geojson_round_trip),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_index_matches_scan),
        cmocka_unit_test(test_real_countries),
        cmocka_unit_test(test_real_germany),
        cmocka_unit_test(test_real_sergipe),
        cmocka_unit_test(test_real_urban_areas),
        cmocka_unit_test(test_real_us_states),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
