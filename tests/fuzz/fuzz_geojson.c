/*
 * fuzz_geojson.c - libFuzzer target: a GeoJSON fence file as 'lienwatch
 * geofence import' takes it: lw_fenceset_add_geojson, then the fence check
 * with repair (lw_fencecheck_set, GEOS), then what is stored and loaded
 * again (lw_fence_to_geojson, read back as lienwatchd reads the registry).
 *
 * Invariants (a violation aborts):
 *   - a refused file leaves the set empty and says why, in one line with no
 *     control characters (it goes to the operator's terminal);
 *   - a loaded fence has a name, a kind, a box inside the coordinate ranges,
 *     and its GeoJSON reads back into the same fence: same name, box, shape
 *     and the same answer to "contains" at probe points;
 *   - the index answers exactly as the direct test does;
 *   - every report of the check has a reason; a repaired set has the same
 *     fences in the same order, and checking it again finds nothing to
 *     refuse or repair (a repair is valid, and stays valid through the
 *     GeoJSON it is stored as).
 * Seeds are written by tests/fuzz/run.sh: one feature per file from the
 * real boundaries of the shared data, and hand-made invalid shapes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/fence.h"
#include "lienwatch/fencecheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One checker for the whole run: a GEOS context costs a few allocations. */
static struct lw_fencecheck *checker;

/* True when s has no byte below 0x20 and no DEL (UTF-8 is fine). */
static int no_controls(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

static int box_ok(const struct lw_geo_bbox *b)
{
    return b->min_lat_deg <= b->max_lat_deg &&
           b->min_lon_deg <= b->max_lon_deg && b->min_lat_deg >= -90 &&
           b->max_lat_deg <= 90 && b->min_lon_deg >= -180 &&
           b->max_lon_deg <= 180;
}

static int same_box(const struct lw_geo_bbox *a, const struct lw_geo_bbox *b)
{
    return a->min_lat_deg == b->min_lat_deg &&
           a->max_lat_deg == b->max_lat_deg &&
           a->min_lon_deg == b->min_lon_deg && a->max_lon_deg == b->max_lon_deg;
}

/* Counts the fences containing the point, and whether id is among them. */
struct probe {
    size_t id; /* the fence asked about */
    int found; /* it was reported */
    size_t n;  /* reports in all */
};

static int on_hit(void *ctx, size_t id)
{
    struct probe *p = ctx;

    p->n++;
    if (id == p->id)
        p->found++;
    return 0;
}

static void on_report(void *ctx, const struct lw_fencecheck_report *r)
{
    size_t *n = ctx;

    (*n)++;
    FUZZ_REQUIRE(r->verdict == LW_FENCECHECK_REPAIRED ||
                 r->verdict == LW_FENCECHECK_REFUSED);
    FUZZ_REQUIRE(r->name != NULL);
    FUZZ_REQUIRE(fuzz_terminated(r->reason, sizeof(r->reason)));
    FUZZ_REQUIRE(fuzz_terminated(r->note, sizeof(r->note)));
    FUZZ_REQUIRE(r->reason[0] != '\0');
    FUZZ_REQUIRE(strchr(r->reason, '\n') == NULL);
    if (r->verdict == LW_FENCECHECK_REPAIRED) {
        FUZZ_REQUIRE(!r->is_circle);
        FUZZ_REQUIRE(r->after.parts >= 1);
        FUZZ_REQUIRE(r->after.area_m2 >= LW_FENCECHECK_MIN_AREA_M2);
        FUZZ_REQUIRE(r->after.vertices <= LW_FENCECHECK_MAX_VERTICES);
    }
}

/* Probe points of a fence: its box's corners, centre and edge midpoints. */
static void probes(const struct lw_geo_bbox *b, double lat[9], double lon[9])
{
    double la[3] = {b->min_lat_deg, (b->min_lat_deg + b->max_lat_deg) / 2,
                    b->max_lat_deg};
    double lo[3] = {b->min_lon_deg, (b->min_lon_deg + b->max_lon_deg) / 2,
                    b->max_lon_deg};

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            lat[i * 3 + j] = la[i];
            lon[i * 3 + j] = lo[j];
        }
}

/* Checks fence id of set against its GeoJSON read back. */
static void check_round_trip(const struct lw_fenceset *set, size_t id)
{
    struct lw_fenceset *again = lw_fenceset_new();
    struct lw_geo_bbox b1, b2;
    const struct lw_geo_polygon *p1, *p2;
    size_t n1, n2;
    char *text = NULL, err[FUZZ_ERRLEN];
    double lat[9], lon[9];

    FUZZ_REQUIRE(again != NULL);
    FUZZ_REQUIRE(lw_fence_to_geojson(set, id, &text) == LW_OK);
    FUZZ_REQUIRE(lw_fenceset_add_geojson(again, text, strlen(text),
                                         lw_fence_get_kind(set, id), NULL, err,
                                         sizeof(err)) == LW_OK);
    FUZZ_REQUIRE(lw_fenceset_count(again) == 1);
    FUZZ_REQUIRE(
        strcmp(lw_fence_get_name(again, 0), lw_fence_get_name(set, id)) == 0);
    FUZZ_REQUIRE(lw_fence_get_bbox(set, id, &b1) == LW_OK);
    FUZZ_REQUIRE(lw_fence_get_bbox(again, 0, &b2) == LW_OK);
    FUZZ_REQUIRE(box_ok(&b1));
    FUZZ_REQUIRE(same_box(&b1, &b2));
    FUZZ_REQUIRE(lw_fence_is_circle(set, id) == lw_fence_is_circle(again, 0));
    FUZZ_REQUIRE(lw_fence_get_polygons(set, id, &p1, &n1) == LW_OK);
    FUZZ_REQUIRE(lw_fence_get_polygons(again, 0, &p2, &n2) == LW_OK);
    FUZZ_REQUIRE(n1 == n2);
    probes(&b1, lat, lon);
    for (int i = 0; i < 9; i++)
        FUZZ_REQUIRE(lw_fence_contains(set, id, lat[i], lon[i]) ==
                     lw_fence_contains(again, 0, lat[i], lon[i]));
    lw_fenceset_free(again);
    free(text);
}

/* The index (built) agrees with the direct test at fence id's probes. */
static void check_index(const struct lw_fenceset *set, size_t id)
{
    struct lw_geo_bbox b;
    double lat[9], lon[9];

    FUZZ_REQUIRE(lw_fence_get_bbox(set, id, &b) == LW_OK);
    probes(&b, lat, lon);
    for (int i = 0; i < 9; i++) {
        struct probe p = {id, 0, 0};

        FUZZ_REQUIRE(lw_fenceset_which(set, lat[i], lon[i], on_hit, &p) ==
                     LW_OK);
        FUZZ_REQUIRE(p.found <= 1);
        FUZZ_REQUIRE(p.found ==
                     (int)lw_fence_contains(set, id, lat[i], lon[i]));
        FUZZ_REQUIRE(p.n <= lw_fenceset_count(set));
    }
}

/* The fence check with repair; a repaired set must check clean. */
static void check_validity(const struct lw_fenceset *set)
{
    struct lw_fenceset *fixed = NULL, *again = NULL;
    size_t refused = 0, repaired = 0, reports = 0, n = 0;
    char err[FUZZ_ERRLEN];

    FUZZ_REQUIRE(lw_fencecheck_set(checker, set, true, &fixed, on_report,
                                   &reports, &refused, &repaired, err,
                                   sizeof(err)) == LW_OK);
    FUZZ_REQUIRE(reports == refused + repaired);
    FUZZ_REQUIRE((fixed != NULL) == (repaired > 0 && refused == 0));
    if (!fixed)
        return;
    FUZZ_REQUIRE(lw_fenceset_count(fixed) == lw_fenceset_count(set));
    for (size_t id = 0; id < lw_fenceset_count(set); id++) {
        FUZZ_REQUIRE(strcmp(lw_fence_get_name(fixed, id),
                            lw_fence_get_name(set, id)) == 0);
        FUZZ_REQUIRE(lw_fence_get_kind(fixed, id) ==
                     lw_fence_get_kind(set, id));
        check_round_trip(fixed, id);
    }
    FUZZ_REQUIRE(lw_fencecheck_set(checker, fixed, true, &again, on_report, &n,
                                   &refused, &repaired, err,
                                   sizeof(err)) == LW_OK);
    FUZZ_REQUIRE(n == 0 && refused == 0 && repaired == 0 && again == NULL);
    lw_fenceset_free(fixed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_fenceset *set = lw_fenceset_new();
    char err[FUZZ_ERRLEN] = "";
    enum lw_err e;
    size_t n;

    if (!checker)
        checker = lw_fencecheck_new();
    FUZZ_REQUIRE(set != NULL && checker != NULL);
    e = lw_fenceset_add_geojson(set, (const char *)data, size, LW_FENCE_KEEP_IN,
                                NULL, err, sizeof(err));
    FUZZ_REQUIRE(fuzz_terminated(err, sizeof(err)));
    n = lw_fenceset_count(set);
    if (e != LW_OK) {
        FUZZ_REQUIRE(e == LW_ERR_INVAL || e == LW_ERR_RANGE ||
                     e == LW_ERR_NOMEM);
        FUZZ_REQUIRE(n == 0);
        FUZZ_REQUIRE(err[0] != '\0');
        FUZZ_REQUIRE(no_controls(err));
        lw_fenceset_free(set);
        return 0;
    }
    FUZZ_REQUIRE(lw_fenceset_build_index(set) == LW_OK);
    for (size_t id = 0; id < n; id++) {
        const char *name = lw_fence_get_name(set, id);

        FUZZ_REQUIRE(name != NULL);
        FUZZ_REQUIRE(lw_fence_get_kind(set, id) == LW_FENCE_KEEP_IN);
        check_round_trip(set, id);
        check_index(set, id);
    }
    check_validity(set);
    lw_fenceset_free(set);
    return 0;
}
