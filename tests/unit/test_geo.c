/*
 * test_geo.c - unit tests of lib/geo.c: haversine, the exact orientation
 * predicate, point-in-ring/polygon/multipolygon with the boundary rule,
 * distance to a boundary, circles.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lienwatch/geo.h"

/* Metres per degree of a great circle on the lienwatch sphere. */
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

/* Number of elements of a static array. */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Random near-collinear orientation cases checked against integer maths. */
#define ORIENT_CASES 100000

/* Orientation cases: coordinates in [1, 180) are integers times 2^-52. */
#define ORIENT_SHIFT 52

/* A ring from a static point array. */
#define RING(a) ((struct lw_geo_ring){(a), COUNT(a)})

/* Unit square 0..1 x 0..1, counter-clockwise (lon, lat). */
static const struct lw_geo_pt square_ccw[] = {
    {0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}};

/* The same square, clockwise. */
static const struct lw_geo_pt square_cw[] = {
    {0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}};

/* A "C" shape (concave) opening east, with vertices on the test rays. */
static const struct lw_geo_pt c_shape[] = {
    {0, 0}, {3, 0}, {3, 1}, {1, 1}, {1, 2}, {3, 2}, {3, 3}, {0, 3}, {0, 0}};

/* An outer square 0..10 with a hole 4..6 (lon and lat). */
static const struct lw_geo_pt outer10[] = {
    {0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}};
static const struct lw_geo_pt hole46[] = {
    {4, 4}, {4, 6}, {6, 6}, {6, 4}, {4, 4}};

/* Builds a polygon view over rings, with its box. */
static struct lw_geo_polygon make_poly(const struct lw_geo_ring *rings,
                                       size_t n)
{
    struct lw_geo_polygon p = {rings, n,
                               lw_geo_bbox_of(rings[0].pts, rings[0].n)};
    return p;
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(lw_geo_valid(0, 0));
    assert_true(lw_geo_valid(90, 180));
    assert_true(lw_geo_valid(-90, -180));
    assert_false(lw_geo_valid(90.0000001, 0));
    assert_false(lw_geo_valid(0, -180.0000001));
    assert_false(lw_geo_valid(NAN, 0));
    assert_false(lw_geo_valid(0, INFINITY));
}

static void test_haversine_known(void **state)
{
    (void)state;
    /* Porto (Aliados) to Lisbon (Baixa): ~274 km. */
    double porto_lisbon = lw_geo_distance_m(41.1496, -8.6110, 38.7223, -9.1393);
    assert_true(fabs(porto_lisbon - 273634.78) < 1.0);
    assert_true(porto_lisbon > 270e3 && porto_lisbon < 278e3);
    /* Berlin to Munich: ~504 km. */
    assert_true(fabs(lw_geo_distance_m(52.52, 13.405, 48.1374, 11.5755) -
                     504286.37) < 1.0);
    /* One degree along a meridian and along the equator. */
    assert_true(fabs(lw_geo_distance_m(10, 20, 11, 20) - M_PER_DEG) < 1e-6);
    assert_true(fabs(lw_geo_distance_m(0, 20, 0, 21) - M_PER_DEG) < 1e-6);
    /* 0.01 degree north at lat 45. */
    assert_true(fabs(lw_geo_distance_m(45.01, 10.5, 45, 10.5) - 1111.9508) <
                1e-3);
    /* Same point, symmetry, across the antimeridian, antipodes. */
    assert_true(lw_geo_distance_m(12.3, 45.6, 12.3, 45.6) == 0.0);
    assert_true(lw_geo_distance_m(1, 2, 3, 4) == lw_geo_distance_m(3, 4, 1, 2));
    assert_true(fabs(lw_geo_distance_m(0, 179.5, 0, -179.5) - M_PER_DEG) <
                1e-6);
    assert_true(fabs(lw_geo_distance_m(0, 0, 0, 180) -
                     M_PI * LW_GEO_EARTH_RADIUS_M) < 1e-3);
    assert_true(fabs(lw_geo_distance_m(90, 0, -90, 0) -
                     M_PI * LW_GEO_EARTH_RADIUS_M) < 1e-3);
    /* Tiny distances stay accurate: 1e-7 degree ~ 1.1 cm. */
    assert_true(fabs(lw_geo_distance_m(45, 10, 45 + 1e-7, 10) -
                     1e-7 * M_PER_DEG) < 1e-6);
}

static void test_orient_simple(void **state)
{
    const struct lw_geo_pt a = {0, 0}, b = {1, 0}, up = {0.5, 1},
                           down = {0.5, -1}, on = {0.5, 0}, beyond = {7, 0};

    (void)state;
    assert_int_equal(lw_geo_orient(&a, &b, &up), 1);
    assert_int_equal(lw_geo_orient(&a, &b, &down), -1);
    assert_int_equal(lw_geo_orient(&a, &b, &on), 0);
    assert_int_equal(lw_geo_orient(&a, &b, &beyond), 0);
    assert_int_equal(lw_geo_orient(&b, &a, &up), -1);
    assert_int_equal(lw_geo_orient(&a, &a, &up), 0);
}

/* Exact sign of the orientation determinant of integer points. */
static int orient_int(int64_t ax, int64_t ay, int64_t bx, int64_t by,
                      int64_t cx, int64_t cy)
{
    __int128 det =
        (__int128)(ax - cx) * (by - cy) - (__int128)(ay - cy) * (bx - cx);

    return det > 0 ? 1 : (det < 0 ? -1 : 0);
}

/* xorshift64: deterministic test randomness. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A uniform double in [lo, hi) from the test generator. */
static double rnd_range(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd(s) >> 11) * 0x1p-53;
}

/*
 * Near-collinear triples, where the naive determinant gets the sign wrong:
 * c is a + t (b - a) rounded to doubles, then nudged by up to two ulps, so
 * it sits within a few ulps of the line a-b. Every coordinate is in
 * [1, 180), hence an integer multiple of 2^-52 below 2^60 once scaled by
 * 2^52, and the determinant of those integers is exact in 128 bits.
 */
static void test_orient_exact_vs_integer(void **state)
{
    uint64_t s = 0x2545F4914F6CDD1Dull;
    int zeros = 0, naive_wrong = 0;

    (void)state;
    for (int i = 0; i < ORIENT_CASES; i++) {
        struct lw_geo_pt a = {rnd_range(&s, 1, 179), rnd_range(&s, 1, 89)};
        struct lw_geo_pt b = {rnd_range(&s, 1, 179), rnd_range(&s, 1, 89)};
        double t = rnd_range(&s, 0, 1);
        struct lw_geo_pt c = {a.lon_deg + t * (b.lon_deg - a.lon_deg),
                              a.lat_deg + t * (b.lat_deg - a.lat_deg)};
        int nudge = (int)(rnd(&s) % 5) - 2;
        int64_t ia[2], ib[2], ic[2];
        int want, naive_sign;
        double naive;

        for (; nudge > 0; nudge--)
            c.lat_deg = nextafter(c.lat_deg, 90);
        for (; nudge < 0; nudge++)
            c.lat_deg = nextafter(c.lat_deg, 0);
        if (i % 7 == 0) {
            /* Exactly collinear on a horizontal or vertical line too. */
            c.lat_deg = b.lat_deg = a.lat_deg;
        }
        ia[0] = (int64_t)ldexp(a.lon_deg, ORIENT_SHIFT);
        ia[1] = (int64_t)ldexp(a.lat_deg, ORIENT_SHIFT);
        ib[0] = (int64_t)ldexp(b.lon_deg, ORIENT_SHIFT);
        ib[1] = (int64_t)ldexp(b.lat_deg, ORIENT_SHIFT);
        ic[0] = (int64_t)ldexp(c.lon_deg, ORIENT_SHIFT);
        ic[1] = (int64_t)ldexp(c.lat_deg, ORIENT_SHIFT);
        want = orient_int(ia[0], ia[1], ib[0], ib[1], ic[0], ic[1]);
        naive = (b.lon_deg - a.lon_deg) * (c.lat_deg - a.lat_deg) -
                (b.lat_deg - a.lat_deg) * (c.lon_deg - a.lon_deg);
        naive_sign = naive > 0 ? 1 : (naive < 0 ? -1 : 0);
        assert_int_equal(lw_geo_orient(&a, &b, &c), want);
        zeros += want == 0;
        naive_wrong += naive_sign != want;
    }
    /* The cases really were hard ones. */
    print_message("orient: %d cases, %d collinear, naive sign wrong in %d\n",
                  ORIENT_CASES, zeros, naive_wrong);
    assert_true(zeros > 0);
    assert_true(naive_wrong > 0);
}

static void test_ring_square(void **state)
{
    const struct lw_geo_ring rings[] = {RING(square_ccw), RING(square_cw)};

    (void)state;
    for (size_t i = 0; i < COUNT(rings); i++) {
        const struct lw_geo_ring *r = &rings[i];

        assert_int_equal(lw_geo_ring_locate(r, 0.5, 0.5), LW_GEO_INSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 0.5, 1.5), LW_GEO_OUTSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 0.5, -0.5), LW_GEO_OUTSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 1.5, 0.5), LW_GEO_OUTSIDE);
        assert_int_equal(lw_geo_ring_locate(r, -1e-300, 0.5), LW_GEO_OUTSIDE);
        /* Edges (vertical and horizontal) and every vertex. */
        assert_int_equal(lw_geo_ring_locate(r, 0.5, 0), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 0.5, 1), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 0, 0.25), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 1, 0.75), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 0, 0), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 0, 1), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 1, 1), LW_GEO_BOUNDARY);
        assert_int_equal(lw_geo_ring_locate(r, 1, 0), LW_GEO_BOUNDARY);
        /* On the lines of the edges but beyond the corners. */
        assert_int_equal(lw_geo_ring_locate(r, 0, 1.5), LW_GEO_OUTSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 0, -0.5), LW_GEO_OUTSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 1.5, 1), LW_GEO_OUTSIDE);
        /* Just inside an edge by the smallest step at that magnitude. */
        assert_int_equal(lw_geo_ring_locate(r, 0.5, nextafter(1.0, 0)),
                         LW_GEO_INSIDE);
        assert_int_equal(lw_geo_ring_locate(r, 0.5, nextafter(1.0, 2)),
                         LW_GEO_OUTSIDE);
    }
}

static void test_ring_concave_vertex_rays(void **state)
{
    const struct lw_geo_ring r = RING(c_shape);

    (void)state;
    /* Rays eastward through the inner vertices (lat 1 and 2). */
    assert_int_equal(lw_geo_ring_locate(&r, 1, 0.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 2, 0.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 1, 2), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_ring_locate(&r, 1.5, 2), LW_GEO_OUTSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 1.5, 0.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 1.5, 1), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_ring_locate(&r, 0.5, 2), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 2.5, 2), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 3, 3), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_ring_locate(&r, 3, -1), LW_GEO_OUTSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 1, -1), LW_GEO_OUTSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, 1, 4), LW_GEO_OUTSIDE);
}

static void test_ring_diagonal_edge(void **state)
{
    /* A triangle with a long diagonal edge from (0,0) to (3,1) (lon,lat). */
    static const struct lw_geo_pt tri[] = {{0, 0}, {3, 1}, {0, 1}, {0, 0}};
    const struct lw_geo_ring r = RING(tri);

    (void)state;
    /* (lon 1.5, lat 0.5) is exactly on the diagonal. */
    assert_int_equal(lw_geo_ring_locate(&r, 0.5, 1.5), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_ring_locate(&r, nextafter(0.5, 1), 1.5),
                     LW_GEO_INSIDE);
    assert_int_equal(lw_geo_ring_locate(&r, nextafter(0.5, 0), 1.5),
                     LW_GEO_OUTSIDE);
}

static void test_polygon_hole(void **state)
{
    const struct lw_geo_ring rings[] = {RING(outer10), RING(hole46)};
    const struct lw_geo_polygon p = make_poly(rings, 2);

    (void)state;
    assert_int_equal(lw_geo_polygon_locate(&p, 2, 2), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_polygon_locate(&p, 5, 5), LW_GEO_OUTSIDE);
    assert_int_equal(lw_geo_polygon_locate(&p, 5, 4), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_polygon_locate(&p, 6, 6), LW_GEO_BOUNDARY);
    assert_int_equal(lw_geo_polygon_locate(&p, 5, 3.999), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_polygon_locate(&p, 11, 5), LW_GEO_OUTSIDE);
    assert_int_equal(lw_geo_polygon_locate(&p, 10, 5), LW_GEO_BOUNDARY);
    assert_false(lw_geo_polygons_contain(&p, 1, 5, 5));
    assert_true(lw_geo_polygons_contain(&p, 1, 5, 4));
    assert_true(lw_geo_polygons_contain(&p, 1, 1, 1));
}

static void test_multipolygon(void **state)
{
    static const struct lw_geo_pt west[] = {
        {0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}};
    static const struct lw_geo_pt east[] = {
        {1, 0}, {2, 0}, {2, 1}, {1, 1}, {1, 0}};
    static const struct lw_geo_pt far[] = {
        {5, 5}, {6, 5}, {6, 6}, {5, 6}, {5, 5}};
    const struct lw_geo_ring rw = RING(west), re = RING(east), rf = RING(far);
    const struct lw_geo_polygon mp[] = {make_poly(&rw, 1), make_poly(&re, 1),
                                        make_poly(&rf, 1)};

    (void)state;
    assert_int_equal(lw_geo_polygons_locate(mp, 3, 0.5, 0.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_polygons_locate(mp, 3, 0.5, 1.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_polygons_locate(mp, 3, 5.5, 5.5), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_polygons_locate(mp, 3, 3, 3), LW_GEO_OUTSIDE);
    /* The shared edge is boundary of both parts; the union holds it. */
    assert_int_equal(lw_geo_polygons_locate(mp, 3, 0.5, 1), LW_GEO_BOUNDARY);
    assert_true(lw_geo_polygons_contain(mp, 3, 0.5, 1));
    assert_true(lw_geo_polygons_contain(mp, 3, 6, 6));
    assert_false(lw_geo_polygons_contain(mp, 0, 0.5, 0.5));
}

/* Fiji-like fence split at the antimeridian: lon 170..180 and -180..-170. */
static const struct lw_geo_pt am_west[] = {
    {170, -20}, {180, -20}, {180, -10}, {170, -10}, {170, -20}};
static const struct lw_geo_pt am_east[] = {
    {-180, -20}, {-170, -20}, {-170, -10}, {-180, -10}, {-180, -20}};

static void test_antimeridian_split(void **state)
{
    const struct lw_geo_ring rw = RING(am_west), re = RING(am_east);
    const struct lw_geo_polygon mp[] = {make_poly(&rw, 1), make_poly(&re, 1)};
    double d;

    (void)state;
    assert_true(lw_geo_polygons_contain(mp, 2, -15, 179.5));
    assert_true(lw_geo_polygons_contain(mp, 2, -15, -179.5));
    assert_true(lw_geo_polygons_contain(mp, 2, -15, 180));
    assert_true(lw_geo_polygons_contain(mp, 2, -15, -180));
    assert_false(lw_geo_polygons_contain(mp, 2, -15, 0));
    assert_false(lw_geo_polygons_contain(mp, 2, -15, 169.9));
    assert_false(lw_geo_polygons_contain(mp, 2, -25, 180));
    /* The seam is not a boundary: from (-15, 179.9) the nearest real edge is
     * 5 degrees of latitude away (lat -10 or -20), not 0.1 degree east. */
    d = lw_geo_polygons_boundary_distance_m(mp, 2, -15, 179.9);
    assert_true(fabs(d - 5 * M_PER_DEG) < 1.0);
    /* Edges are brought across 180: from (-15, -169.9) outside the east part
     * the nearest edge is its east side, 0.1 degree away. */
    d = lw_geo_polygons_boundary_distance_m(mp, 2, -15, -169.9);
    assert_true(fabs(d - lw_geo_distance_m(-15, -169.9, -15, -170)) < 0.01);
    /* Shifting: a point at 179.95 outside a fence whose edge is at -179.95. */
    {
        static const struct lw_geo_pt e2[] = {
            {-179.95, 0}, {-170, 0}, {-170, 1}, {-179.95, 1}, {-179.95, 0}};
        const struct lw_geo_ring r2 = RING(e2);
        const struct lw_geo_polygon p2 = make_poly(&r2, 1);

        d = lw_geo_polygons_boundary_distance_m(&p2, 1, 0.5, 179.95);
        assert_true(fabs(d - lw_geo_distance_m(0.5, 179.95, 0.5, -179.95)) <
                    0.01);
    }
}

static void test_distance_to_edge(void **state)
{
    /* Square lon 10..11, lat 44..45. */
    static const struct lw_geo_pt sq[] = {
        {10, 44}, {11, 44}, {11, 45}, {10, 45}, {10, 44}};
    const struct lw_geo_ring r = RING(sq);
    const struct lw_geo_polygon p = make_poly(&r, 1);
    double d;

    (void)state;
    /* 0.01 degree north of the east-west edge at lat 45: ~1111.95 m. */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 45.01, 10.5);
    assert_true(fabs(d - 1111.9508) < 0.01);
    /* The same just inside. */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 44.99, 10.5);
    assert_true(fabs(d - 1111.9508) < 0.01);
    /* 0.01 degree east of the north-south edge at lat 44.5: ~793.1 m. */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 44.5, 11.01);
    assert_true(fabs(d - 793.0994) < 0.01);
    /* Nearest is a corner: 0.01 degree north and east of (45, 11). */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 45.01, 11.01);
    assert_true(fabs(d - lw_geo_distance_m(45.01, 11.01, 45, 11)) < 1e-6);
    /* On the edge: 0. */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 45, 10.25);
    assert_true(d < 1e-6);
    /* The centre: half a degree of latitude to the north/south edges vs
     * ~0.5 * cos(44.5) * 111 km = 39.6 km to east/west: the nearer wins. */
    d = lw_geo_polygons_boundary_distance_m(&p, 1, 44.5, 10.5);
    assert_true(fabs(d - lw_geo_distance_m(44.5, 10.5, 44.5, 10)) < 1.0);
    /* Holes count as boundary too. */
    {
        const struct lw_geo_ring rings[] = {RING(outer10), RING(hole46)};
        const struct lw_geo_polygon ph = make_poly(rings, 2);

        d = lw_geo_polygons_boundary_distance_m(&ph, 1, 5, 3.99);
        assert_true(fabs(d - lw_geo_distance_m(5, 3.99, 5, 4)) < 0.01);
    }
}

/*
 * The projected search against a brute force over fine samples of every
 * edge: the chosen point is the nearest to well within the 0.5 % claimed.
 */
static void test_distance_against_sampling(void **state)
{
    /* A slanted quadrilateral near Porto, about 10 km across. */
    static const struct lw_geo_pt quad[] = {{-8.70, 41.10},
                                            {-8.55, 41.12},
                                            {-8.58, 41.22},
                                            {-8.68, 41.19},
                                            {-8.70, 41.10}};
    const struct lw_geo_ring r = RING(quad);
    const struct lw_geo_polygon p = make_poly(&r, 1);
    const int samples = 4000;
    uint64_t s = 42;

    (void)state;
    for (int i = 0; i < 50; i++) {
        double lat = 41.0 + (double)(rnd(&s) % 30000) / 100000.0;
        double lon = -8.8 + (double)(rnd(&s) % 40000) / 100000.0;
        double best = INFINITY;
        double d = lw_geo_polygons_boundary_distance_m(&p, 1, lat, lon);

        for (size_t k = 0; k + 1 < COUNT(quad); k++) {
            for (int j = 0; j <= samples; j++) {
                double t = (double)j / samples;
                double qlon = quad[k].lon_deg +
                              t * (quad[k + 1].lon_deg - quad[k].lon_deg);
                double qlat = quad[k].lat_deg +
                              t * (quad[k + 1].lat_deg - quad[k].lat_deg);

                best = fmin(best, lw_geo_distance_m(lat, lon, qlat, qlon));
            }
        }
        /* Sampling overestimates by at most half a sample step (~2 m). */
        assert_true(d <= best + 0.01);
        assert_true(d >= best * 0.995 - 2.5);
    }
}

static void test_circle(void **state)
{
    const struct lw_geo_circle c = {41.15, -8.61, 1000.0};
    struct lw_geo_bbox b = lw_geo_circle_bbox(&c);
    double dlat_in = 999.0 / M_PER_DEG, dlat_out = 1001.0 / M_PER_DEG;
    double coslat = cos(41.15 * M_PI / 180.0);

    (void)state;
    assert_int_equal(lw_geo_circle_locate(&c, 41.15, -8.61), LW_GEO_INSIDE);
    assert_int_equal(lw_geo_circle_locate(&c, 41.15 + dlat_in, -8.61),
                     LW_GEO_INSIDE);
    assert_int_equal(lw_geo_circle_locate(&c, 41.15 - dlat_out, -8.61),
                     LW_GEO_OUTSIDE);
    assert_int_equal(
        lw_geo_circle_locate(&c, 41.15, -8.61 + dlat_in / coslat * 0.999),
        LW_GEO_INSIDE);
    assert_true(fabs(lw_geo_circle_boundary_distance_m(&c, 41.15, -8.61) -
                     1000.0) < 1e-9);
    assert_true(fabs(lw_geo_circle_boundary_distance_m(
                         &c, 41.15 + 1500.0 / M_PER_DEG, -8.61) -
                     500.0) < 1e-6);
    /* The box holds the circle's extreme points, and not much more. */
    assert_true(lw_geo_bbox_contains(&b, 41.15 + dlat_in, -8.61));
    assert_true(lw_geo_bbox_contains(&b, 41.15 - dlat_in, -8.61));
    assert_true(lw_geo_bbox_contains(&b, 41.15, -8.61 + dlat_in / coslat));
    assert_true(lw_geo_bbox_contains(&b, 41.15, -8.61 - dlat_in / coslat));
    assert_false(lw_geo_bbox_contains(&b, 41.15 + dlat_out, -8.61));
    assert_false(lw_geo_bbox_contains(&b, 41.15, -8.61 + dlat_out / coslat));
}

/* Every point of a circle's line, sampled, lies in its box. */
static void test_circle_bbox_holds_circle(void **state)
{
    static const struct lw_geo_circle cs[] = {
        {0, 0, 5000}, {60, 10, 20000}, {-75, 100, 150000}, {85, -40, 50000}};

    (void)state;
    for (size_t i = 0; i < COUNT(cs); i++) {
        struct lw_geo_bbox b = lw_geo_circle_bbox(&cs[i]);
        double ang = cs[i].radius_m / LW_GEO_EARTH_RADIUS_M;
        double phi = cs[i].lat_deg * M_PI / 180.0;

        for (int k = 0; k < 720; k++) {
            /* Destination point at bearing k/2 degrees (spherical). */
            double brg = k * M_PI / 360.0;
            double lat2 =
                asin(sin(phi) * cos(ang) + cos(phi) * sin(ang) * cos(brg));
            double lon2 = cs[i].lon_deg * M_PI / 180.0 +
                          atan2(sin(brg) * sin(ang) * cos(phi),
                                cos(ang) - sin(phi) * sin(lat2));

            assert_true(lw_geo_bbox_contains(&b, lat2 * 180.0 / M_PI,
                                             lon2 * 180.0 / M_PI));
        }
    }
}

static void test_circle_bbox_wide(void **state)
{
    const struct lw_geo_circle polar = {89.9, 0, 20000};
    const struct lw_geo_circle am = {0, 179.99, 5000};
    struct lw_geo_bbox b;

    (void)state;
    b = lw_geo_circle_bbox(&polar);
    assert_true(b.min_lon_deg == -180 && b.max_lon_deg == 180);
    assert_true(b.max_lat_deg == 90);
    assert_true(b.min_lat_deg < 89.9 - 0.17 && b.min_lat_deg > 89.9 - 0.19);
    b = lw_geo_circle_bbox(&am);
    assert_true(b.min_lon_deg == -180 && b.max_lon_deg == 180);
    assert_true(lw_geo_bbox_contains(&b, 0, -179.99));
}

static void test_bbox(void **state)
{
    struct lw_geo_bbox b = lw_geo_bbox_of(c_shape, COUNT(c_shape));
    struct lw_geo_bbox o = lw_geo_bbox_of(outer10, COUNT(outer10));
    struct lw_geo_bbox u = lw_geo_bbox_union(&b, &o);

    (void)state;
    assert_true(b.min_lon_deg == 0 && b.max_lon_deg == 3);
    assert_true(b.min_lat_deg == 0 && b.max_lat_deg == 3);
    assert_true(lw_geo_bbox_contains(&b, 3, 3));
    assert_false(lw_geo_bbox_contains(&b, 3.0001, 3));
    assert_true(u.max_lon_deg == 10 && u.max_lat_deg == 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_haversine_known),
        cmocka_unit_test(test_orient_simple),
        cmocka_unit_test(test_orient_exact_vs_integer),
        cmocka_unit_test(test_ring_square),
        cmocka_unit_test(test_ring_concave_vertex_rays),
        cmocka_unit_test(test_ring_diagonal_edge),
        cmocka_unit_test(test_polygon_hole),
        cmocka_unit_test(test_multipolygon),
        cmocka_unit_test(test_antimeridian_split),
        cmocka_unit_test(test_distance_to_edge),
        cmocka_unit_test(test_distance_against_sampling),
        cmocka_unit_test(test_circle),
        cmocka_unit_test(test_circle_bbox_holds_circle),
        cmocka_unit_test(test_circle_bbox_wide),
        cmocka_unit_test(test_bbox),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
