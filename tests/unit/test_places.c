/*
 * test_places.c - unit tests for lib/places.c: stops (jitter, spikes, gaps,
 * short stops, across midnight), clustering into places, nights across
 * daylight-saving changes, ranking by time of day, the new-overnight-place
 * decision, and bad input.
 *
 * Histories are made here: positions in metres east/north of a reference
 * point, local times through lib/tz.c. Zones come from POSIX rules (no
 * zone files needed) except where history matters (Sao Paulo 2018), which
 * skips without tzdata. Expected UTC instants are literals computed
 * independently (Python's zoneinfo).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lienwatch/geo.h"
#include "lienwatch/places.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

/* A history under construction around a reference point. */
struct gen {
    struct lw_places *pl;
    double lat0, lon0; /* reference point */
    uint32_t seed;     /* xorshift state */
};

static double urand(struct gen *g)
{
    g->seed ^= g->seed << 13;
    g->seed ^= g->seed >> 17;
    g->seed ^= g->seed << 5;
    return (g->seed >> 8) / 16777216.0;
}

static void gen_init(struct gen *g, double lat0, double lon0)
{
    char err[128];

    memset(g, 0, sizeof(*g));
    g->lat0 = lat0;
    g->lon0 = lon0;
    g->seed = 2463534242u;
    if (lw_places_new(NULL, &g->pl, err, sizeof(err)) != LW_OK)
        fail_msg("lw_places_new: %s", err);
}

static void to_latlon(const struct gen *g, double east_m, double north_m,
                      double *lat, double *lon)
{
    *lat = g->lat0 + north_m / M_PER_DEG;
    *lon = g->lon0 + east_m / (M_PER_DEG * cos(g->lat0 * M_PI / 180.0));
}

static void fix_at(struct gen *g, int64_t t, double east_m, double north_m,
                   double acc, double speed)
{
    double lat, lon;

    to_latlon(g, east_m, north_m, &lat, &lon);
    assert_int_equal(lw_places_add_pos(g->pl, t, lat, lon, acc, speed), LW_OK);
}

/* Parked at (e, n) from a to b (both included), a fix every step, each
 * displaced uniformly within a disc of radius jitter_m. */
static void park(struct gen *g, int64_t a, int64_t b, int64_t step, double e,
                 double n, double jitter_m)
{
    int64_t t;

    for (t = a; t <= b; t += step) {
        double r = jitter_m * sqrt(urand(g)), th = 2 * M_PI * urand(g);

        fix_at(g, t, e + r * cos(th), n + r * sin(th), 10, 0);
    }
}

/* Drives in a straight line from (e0, n0) at a to (e1, n1) at b, exclusive
 * of both ends. */
static void drive(struct gen *g, int64_t a, int64_t b, int64_t step, double e0,
                  double n0, double e1, double n1)
{
    double v = hypot(e1 - e0, n1 - n0) / ((double)(b - a) / SEC);
    int64_t t;

    for (t = a + step; t < b; t += step) {
        double f = (double)(t - a) / (double)(b - a);

        fix_at(g, t, e0 + f * (e1 - e0), n0 + f * (n1 - n0), 8, v);
    }
}

static void compute(struct gen *g, const struct lw_tz *tz, int64_t now)
{
    char err[128];

    if (lw_places_compute(g->pl, tz, now, err, sizeof(err)) != LW_OK)
        fail_msg("lw_places_compute: %s", err);
}

/* Distance of a stop or place centre from (e, n), metres. */
static double off_m(const struct gen *g, double lat, double lon, double e,
                    double n)
{
    double la, lo;

    to_latlon(g, e, n, &la, &lo);
    return lw_geo_distance_m(lat, lon, la, lo);
}

static struct lw_tz *posix(const char *spec)
{
    struct lw_tz *tz = NULL;

    assert_int_equal(lw_tz_from_posix(spec, &tz, NULL, 0), LW_OK);
    return tz;
}

/* 2024-06-03 (a Monday) 00:00:00 UTC. */
#define T0 1717372800000LL

static void test_params(void **state)
{
    struct lw_places_params p;
    struct lw_places *pl = NULL;
    char err[128] = "";

    (void)state;
    lw_places_params_init(&p);
    assert_true(p.stop_radius_m == 150.0);
    assert_int_equal(p.min_stop_ms, 15 * MIN);
    assert_int_equal(p.night_hour, 3);
    p.stop_radius_m = NAN;
    assert_int_equal(lw_places_new(&p, &pl, err, sizeof(err)), LW_ERR_RANGE);
    assert_null(pl);
    assert_non_null(strstr(err, "stop_radius_m"));
    lw_places_params_init(&p);
    p.night_hour = 24;
    assert_int_equal(lw_places_new(&p, &pl, err, sizeof(err)), LW_ERR_RANGE);
    lw_places_params_init(&p);
    p.half_life_ms = 0;
    assert_int_equal(lw_places_new(&p, &pl, err, sizeof(err)), LW_ERR_RANGE);
    assert_int_equal(lw_places_new(NULL, NULL, err, sizeof(err)), LW_ERR_INVAL);
    /* Nothing computed yet: nothing to see, ranking refused. */
    assert_int_equal(lw_places_new(NULL, &pl, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_places_count(pl), 0);
    assert_null(lw_places_get(pl, 0));
    assert_null(lw_places_current(pl));
    assert_int_equal(lw_places_rank(pl, NULL, T0, 0), LW_ERR_INVAL);
    /* Empty history computes to nothing. */
    assert_int_equal(lw_places_compute(pl, NULL, T0, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_places_count(pl), 0);
    assert_int_equal(lw_places_stop_count(pl), 0);
    assert_null(lw_places_current(pl));
    assert_null(lw_places_night_place(pl));
    assert_true(isnan(lw_places_night_distance_m(pl, 41, -8)));
    lw_places_free(pl);
    lw_places_free(NULL);
}

/* Parked an hour with 140 m of jitter (inside the 150 m radius), then
 * driven off: one stop, its centre near the true spot. */
static void test_jitter_stop(void **state)
{
    struct gen g;
    const struct lw_places_stop *s;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    drive(&g, T0, T0 + 10 * MIN, 30 * SEC, -5000, 0, 0, 0);
    park(&g, T0 + 10 * MIN, T0 + 70 * MIN, 30 * SEC, 0, 0, 140);
    drive(&g, T0 + 70 * MIN, T0 + 80 * MIN, 30 * SEC, 0, 0, 0, 6000);
    compute(&g, NULL, T0 + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    s = lw_places_stop(g.pl, 0);
    assert_true(off_m(&g, s->lat_deg, s->lon_deg, 0, 0) < 30);
    /* Arrival: the last approach fix within reach (<= 30 s early). */
    assert_true(s->start_ms >= T0 + 10 * MIN - 30 * SEC);
    assert_true(s->start_ms <= T0 + 10 * MIN);
    assert_true(s->end_ms >= T0 + 70 * MIN);
    assert_true(s->end_ms <= T0 + 70 * MIN + 30 * SEC);
    assert_true(s->next_ms > s->end_ms);
    assert_false(s->ongoing);
    assert_int_equal(s->nights, 0);
    assert_true(s->spread_m > 40 && s->spread_m < 140);
    assert_int_equal(lw_places_count(g.pl), 1);
    assert_int_equal(lw_places_get(g.pl, 0)->visits, 1);
    lw_places_free(g.pl);
}

/* Single and double spikes 600 m away do not end a stop; four in a row
 * (more than max_outliers) do. */
static void test_spikes(void **state)
{
    struct gen g;
    int64_t t;
    int i = 0;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    for (t = T0; t <= T0 + 2 * HOUR; t += 30 * SEC, i++) {
        if (i % 40 == 20)
            fix_at(&g, t, 600, 0, 10, 0); /* one spike */
        else if (i % 40 == 30 || i % 40 == 31)
            fix_at(&g, t, 0, -700, 10, 0); /* two */
        else
            fix_at(&g, t, 10 * urand(&g), 10 * urand(&g), 10, 0);
    }
    compute(&g, NULL, T0 + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_int_equal(lw_places_stop(g.pl, 0)->start_ms, T0);
    assert_int_equal(lw_places_stop(g.pl, 0)->end_ms, T0 + 2 * HOUR);
    assert_int_equal(lw_places_stats(g.pl)->spikes, 18);
    assert_true(lw_places_stop(g.pl, 0)->ongoing);
    lw_places_free(g.pl);

    /* Four out in a row: the car left (and came back: two stops). */
    gen_init(&g, 41.15, -8.61);
    park(&g, T0, T0 + HOUR, 30 * SEC, 0, 0, 10);
    for (i = 1; i <= 4; i++)
        fix_at(&g, T0 + HOUR + i * 30 * SEC, 800, 0, 10, 0);
    park(&g, T0 + HOUR + 150 * SEC, T0 + 2 * HOUR, 30 * SEC, 0, 0, 10);
    compute(&g, NULL, T0 + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 2);
    assert_int_equal(lw_places_stop(g.pl, 0)->end_ms, T0 + HOUR);
    assert_int_equal(lw_places_count(g.pl), 1);
    assert_int_equal(lw_places_get(g.pl, 0)->visits, 2);
    lw_places_free(g.pl);
}

/* Under 15 minutes is not a stop; 15 minutes from first to last fix is. */
static void test_short_stops(void **state)
{
    struct gen g;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    drive(&g, T0, T0 + 10 * MIN, 30 * SEC, 0, 0, 5000, 0);
    park(&g, T0 + 10 * MIN, T0 + 24 * MIN, 30 * SEC, 5000, 0, 20);
    drive(&g, T0 + 24 * MIN, T0 + 34 * MIN, 30 * SEC, 5000, 0, 10000, 0);
    park(&g, T0 + 34 * MIN, T0 + 49 * MIN, 60 * SEC, 10000, 0, 20);
    drive(&g, T0 + 49 * MIN, T0 + 60 * MIN, 30 * SEC, 10000, 0, 15000, 0);
    compute(&g, NULL, T0 + DAY);
    /* The 14-minute stop is gone; the second one spans 15:00 (plus the
     * last approach fix when it landed within the radius). */
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_true(off_m(&g, lw_places_stop(g.pl, 0)->lat_deg,
                      lw_places_stop(g.pl, 0)->lon_deg, 10000, 0) < 40);
    assert_true(lw_places_stop(g.pl, 0)->end_ms -
                    lw_places_stop(g.pl, 0)->start_ms >=
                15 * MIN);
    lw_places_free(g.pl);
}

/* A stop from 22:00 to 07:00 local (Lisbon summer, UTC+1) is one stop
 * covering one night at 03:00 local. */
static void test_stop_across_midnight(void **state)
{
    struct lw_tz *tz = posix("WET0WEST,M3.5.0/1,M10.5.0");
    struct gen g;
    const struct lw_places_stop *s;
    /* 2024-06-03 22:00 WEST = 21:00Z. */
    int64_t a = T0 + 21 * HOUR, b = a + 9 * HOUR;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    drive(&g, a - 20 * MIN, a, 30 * SEC, 8000, 0, 0, 0);
    park(&g, a, b, 30 * SEC, 0, 0, 25);
    drive(&g, b, b + 20 * MIN, 30 * SEC, 0, 0, 8000, 0);
    compute(&g, tz, b + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    s = lw_places_stop(g.pl, 0);
    assert_int_equal(s->nights, 1);
    /* 2024-06-04 03:00 WEST = 02:00Z. */
    assert_int_equal(s->night_ms, 1717466400000LL);
    assert_int_equal(s->last_night_ms, s->night_ms);
    assert_int_equal(lw_places_get(g.pl, 0)->nights, 1);
    assert_ptr_equal(lw_places_night_place(g.pl), lw_places_get(g.pl, 0));
    assert_true(lw_places_night_distance_m(g.pl, g.lat0, g.lon0) < 20);
    lw_places_free(g.pl);
    lw_tz_free(tz);
}

/* The tracker sleeps while parked: last fix 18:05, next one at 07:30 at
 * the same place. The night counts. */
static void test_gap_while_stopped(void **state)
{
    struct gen g;
    const struct lw_places_stop *s;
    int64_t a = T0 + 18 * HOUR;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    drive(&g, a - 20 * MIN, a, 30 * SEC, 9000, 0, 0, 0);
    park(&g, a, a + 5 * MIN, 30 * SEC, 0, 0, 15);
    fix_at(&g, a + 13 * HOUR + 30 * MIN, 40, -30, 12, 0);
    drive(&g, a + 13 * HOUR + 30 * MIN, a + 13 * HOUR + 40 * MIN, 30 * SEC, 0,
          0, 9000, 0);
    compute(&g, NULL, a + 2 * DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    s = lw_places_stop(g.pl, 0);
    assert_true(s->start_ms <= a);
    assert_int_equal(s->end_ms, a + 13 * HOUR + 30 * MIN);
    assert_int_equal(s->nights, 1);
    assert_int_equal(s->night_ms, T0 + DAY + 3 * HOUR);
    /* The gap inside the stop is known time. */
    assert_true(lw_places_stats(g.pl)->known_ms >= 13 * HOUR);
    lw_places_free(g.pl);
}

/* A gap while moving is not a stop, and a stop whose tracker woke up
 * elsewhere ends at its last fix (the night is not claimed). */
static void test_gap_while_moving(void **state)
{
    struct gen g;
    int64_t a = T0 + 20 * HOUR;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    drive(&g, a, a + 30 * MIN, 30 * SEC, 0, 0, 30000, 0);
    /* Nothing from 20:30 to 23:00, then fixes 60 km on. */
    drive(&g, a + 3 * HOUR, a + 3 * HOUR + 30 * MIN, 30 * SEC, 60000, 0, 90000,
          0);
    compute(&g, NULL, a + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 0);
    assert_int_equal(lw_places_count(g.pl), 0);
    /* The gap is unknown time: only the two drives are known. */
    assert_true(lw_places_stats(g.pl)->known_ms < 61 * MIN);
    lw_places_free(g.pl);

    gen_init(&g, 41.15, -8.61);
    park(&g, a, a + 2 * HOUR, 30 * SEC, 0, 0, 15);
    /* Silent from 22:00 to 08:00, then already 3 km away and moving. */
    drive(&g, a + 12 * HOUR, a + 12 * HOUR + 20 * MIN, 30 * SEC, 3000, 0, 9000,
          0);
    compute(&g, NULL, a + 2 * DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_int_equal(lw_places_stop(g.pl, 0)->end_ms, a + 2 * HOUR);
    assert_int_equal(lw_places_stop(g.pl, 0)->nights, 0);
    assert_true(lw_places_stop(g.pl, 0)->next_ms >= a + 12 * HOUR);
    lw_places_free(g.pl);
}

/* After a long gap: fixes elsewhere, then driving back past the last
 * point seen, is no stop there; a poor wake-up fix after a night asleep
 * followed by parked fixes keeps the night. */
static void test_gap_then_elsewhere(void **state)
{
    struct gen g;
    int64_t a = T0 + 8 * HOUR;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    /* Driving east at 14 m/s, last fix at (0, 0) at 08:00, then silent. */
    drive(&g, a - 10 * MIN, a + 30 * SEC, 30 * SEC, -8400, 0, 420, 0);
    /* 17:00 a wake-up fix at work 1.1 km on, then driving back past. */
    fix_at(&g, a + 9 * HOUR, 1100, 0, 10, 0);
    fix_at(&g, a + 9 * HOUR + 30 * SEC, 900, 0, 10, 14);
    fix_at(&g, a + 9 * HOUR + 60 * SEC, 480, 0, 10, 14);
    fix_at(&g, a + 9 * HOUR + 90 * SEC, 30, 0, 10, 14);
    drive(&g, a + 9 * HOUR + 90 * SEC, a + 9 * HOUR + 12 * MIN, 30 * SEC, 30, 0,
          -8800, 0);
    compute(&g, NULL, a + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 0);
    lw_places_free(g.pl);

    /* Two moving fixes at the same spot, 9 hours apart: no stop. */
    gen_init(&g, 41.15, -8.61);
    fix_at(&g, a, 0, 0, 10, 15);
    fix_at(&g, a + 9 * HOUR, 20, 0, 10, 15);
    compute(&g, NULL, a + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 0);
    lw_places_free(g.pl);

    /* Parked 20:00-20:05, asleep until 07:00, wakes with a fix 300 m off,
     * then parked fixes: one stop, the night kept. */
    gen_init(&g, 41.15, -8.61);
    a = T0 + 20 * HOUR;
    park(&g, a, a + 5 * MIN, 30 * SEC, 0, 0, 10);
    fix_at(&g, a + 11 * HOUR, 300, 0, 60, 0);
    park(&g, a + 11 * HOUR + 30 * SEC, a + 11 * HOUR + 3 * MIN, 30 * SEC, 0, 0,
         10);
    compute(&g, NULL, a + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_int_equal(lw_places_stop(g.pl, 0)->nights, 1);
    assert_int_equal(lw_places_stats(g.pl)->spikes, 1);
    lw_places_free(g.pl);
}

/* Stops within 150 m of each other form one place; 400 m away another. */
static void test_clustering(void **state)
{
    struct gen g;
    const struct lw_place *p0, *p1;
    int d;
    /* Parking spots around home (0, 0): up to 90 m apart; the shop at 400 m
     * east; each visited on a different day. */
    static const double spots[][2] = {
        {0, 0}, {60, 20}, {-30, 45}, {25, -60}, {-40, -20}};

    (void)state;
    gen_init(&g, 41.15, -8.61);
    for (d = 0; d < 5; d++) {
        int64_t day = T0 + d * DAY;

        park(&g, day + 8 * HOUR, day + 10 * HOUR, 30 * SEC, spots[d][0],
             spots[d][1], 15);
        drive(&g, day + 10 * HOUR, day + 10 * HOUR + MIN, 30 * SEC, spots[d][0],
              spots[d][1], 400, 0);
        park(&g, day + 10 * HOUR + MIN, day + 10 * HOUR + 40 * MIN, 30 * SEC,
             400, 0, 15);
        drive(&g, day + 10 * HOUR + 40 * MIN, day + 11 * HOUR, 30 * SEC, 400, 0,
              20000, 0);
    }
    compute(&g, NULL, T0 + 6 * DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 10);
    assert_int_equal(lw_places_count(g.pl), 2);
    p0 = lw_places_by_id(g.pl, lw_places_stop(g.pl, 0)->place);
    p1 = lw_places_by_id(g.pl, lw_places_stop(g.pl, 1)->place);
    assert_int_equal(p0->visits, 5);
    assert_int_equal(p1->visits, 5);
    assert_int_equal(p0->dwell_ms, 5 * 2 * HOUR);
    assert_int_equal(p0->first_seen_ms, T0 + 8 * HOUR);
    assert_int_equal(p0->last_seen_ms, T0 + 4 * DAY + 10 * HOUR);
    assert_true(off_m(&g, p0->lat_deg, p0->lon_deg, 3, -3) < 25);
    assert_true(off_m(&g, p1->lat_deg, p1->lon_deg, 400, 0) < 15);
    /* The radius holds every parking spot. */
    assert_true(p0->radius_m >= 60 && p0->radius_m < 150);
    assert_true(p1->radius_m < 40);
    /* Every stop of a place lies within the place radius of its centre. */
    for (d = 0; d < 10; d++) {
        const struct lw_places_stop *s = lw_places_stop(g.pl, (size_t)d);
        const struct lw_place *p = lw_places_by_id(g.pl, s->place);

        assert_true(lw_geo_distance_m(p->lat_deg, p->lon_deg, s->lat_deg,
                                      s->lon_deg) <= 150);
    }
    lw_places_free(g.pl);

    /* Two parking spots 200 m apart stay two places. */
    gen_init(&g, 41.15, -8.61);
    park(&g, T0, T0 + HOUR, 30 * SEC, 0, 0, 15);
    drive(&g, T0 + HOUR, T0 + HOUR + 3 * MIN, 30 * SEC, 0, 0, 200, 0);
    park(&g, T0 + HOUR + 3 * MIN, T0 + 2 * HOUR, 30 * SEC, 200, 0, 15);
    compute(&g, NULL, T0 + DAY);
    assert_int_equal(lw_places_stop_count(g.pl), 2);
    assert_int_equal(lw_places_count(g.pl), 2);
    lw_places_free(g.pl);
}

/* One stop per test: [a, b] parked, fixes every 10 minutes. */
static const struct lw_places_stop *
one_stop(struct gen *g, const struct lw_tz *tz, int64_t a, int64_t b)
{
    gen_init(g, -23.55, -46.63);
    park(g, a, b, 10 * MIN, 0, 0, 10);
    if ((b - a) % (10 * MIN))
        fix_at(g, b, 0, 0, 10, 0);
    compute(g, tz, b + HOUR);
    assert_int_equal(lw_places_stop_count(g->pl), 1);
    return lw_places_stop(g->pl, 0);
}

/* 03:00 local is found in the right UTC instant across DST changes. */
static void test_nights_dst(void **state)
{
    struct lw_tz *lis = posix("WET0WEST,M3.5.0/1,M10.5.0");
    struct lw_tz *ny = posix("EST5EDT,M3.2.0,M11.1.0");
    struct gen g;
    const struct lw_places_stop *s;
    int64_t first;

    (void)state;
    /* Lisbon, last Sunday of March 2024: clocks 01:00 -> 02:00 WEST, so
     * 03:00 local is 02:00Z (1711850400). A stop Saturday 20:00 to Sunday
     * 10:00 local covers it once. */
    s = one_stop(&g, lis, 1711828800000LL, 1711875600000LL);
    assert_int_equal(s->nights, 1);
    assert_int_equal(s->night_ms, 1711850400000LL);
    lw_places_free(g.pl);
    /* A stop that ends at 02:30Z (03:30 WEST) covers it; one that ends at
     * 01:59Z (02:59 WEST) does not, though 03:00 UTC+0 would say it did
     * not either way and a zone-blind 02:59 "local" would be wrong. */
    assert_int_equal(lw_places_nights_between(lis, 3, 1711843200000LL,
                                              1711852200000LL, &first),
                     1);
    assert_int_equal(first, 1711850400000LL);
    assert_int_equal(lw_places_nights_between(lis, 3, 1711843200000LL,
                                              1711850340000LL, &first),
                     0);
    assert_int_equal(first, 0);
    /* Last Sunday of October 2024: 02:00 WEST -> 01:00 WET; 03:00 WET is
     * 03:00Z (1729998000). */
    assert_int_equal(lw_places_nights_between(lis, 3, 1729980000000LL,
                                              1730001600000LL, &first),
                     1);
    assert_int_equal(first, 1729998000000LL);
    /* Friday 18:00 to Monday 08:00 across the October change: 3 nights. */
    s = one_stop(&g, lis, 1729875600000LL, 1730102400000LL);
    assert_int_equal(s->nights, 3);
    assert_int_equal(s->night_ms, 1729908000000LL);      /* Sat 03:00 WEST */
    assert_int_equal(s->last_night_ms, 1730084400000LL); /* Mon 03:00 WET */
    lw_places_free(g.pl);

    /* New York, second Sunday of March 2024: 02:00 EST -> 03:00 EDT at
     * 07:00Z, so 03:00 local is 07:00Z; 2024-11-03 03:00 EST is 08:00Z. */
    assert_int_equal(lw_places_nights_between(ny, 3, 1710050400000LL,
                                              1710054000000LL, &first),
                     1);
    assert_int_equal(first, 1710054000000LL);
    assert_int_equal(
        lw_places_nights_between(ny, 3, 1710050400000LL, 1710053999000LL, NULL),
        0);
    assert_int_equal(lw_places_nights_between(ny, 3, 1730610000000LL,
                                              1730620800000LL, &first),
                     1);
    assert_int_equal(first, 1730620800000LL);
    /* In UTC (NULL) the same span 05:00Z-08:00Z has 03:00 nowhere. */
    assert_int_equal(lw_places_nights_between(NULL, 3, 1730610000000LL,
                                              1730620800000LL, NULL),
                     0);
    /* A night hour that a change skips: 02:00 on 2024-03-10 does not
     * exist in New York; the jump (07:00Z) stands for it. */
    assert_int_equal(lw_places_nights_between(ny, 2, 1710050400000LL,
                                              1710057600000LL, &first),
                     1);
    assert_int_equal(first, 1710054000000LL);
    /* Wild spans are cut at 100 years (36525 days) instead of looping. */
    assert_int_equal(lw_places_nights_between(NULL, 3, 1, INT64_MAX, &first),
                     36525);
    assert_int_equal(first, 3 * HOUR);
    assert_int_equal(lw_places_nights_between(NULL, 3, 10, 5, &first), 0);
    assert_int_equal(lw_places_nights_between(NULL, 24, 0, DAY, NULL), 0);
    /* One that repeats: 01:00 on 2024-11-03 happens twice; counted once,
     * at the first (05:00Z). */
    assert_int_equal(lw_places_nights_between(ny, 1, 1730592000000LL,
                                              1730635200000LL, &first),
                     1);
    assert_int_equal(first, 1730610000000LL);
    lw_tz_free(lis);
    lw_tz_free(ny);
}

/* Sao Paulo from its zone file: DST began on 2018-11-04 at 00:00 local
 * (-03 -> -02), so 03:00 local that night was 05:00Z, not 06:00Z. */
static void test_nights_sao_paulo_file(void **state)
{
    struct lw_tz *tz = NULL;
    int64_t first;

    (void)state;
    if (access(LW_TZ_DIR "/America/Sao_Paulo", R_OK) != 0) {
        printf("skipped: no zone file for America/Sao_Paulo (tzdata)\n");
        skip();
    }
    assert_int_equal(lw_tz_load("America/Sao_Paulo", &tz, NULL, 0), LW_OK);
    assert_int_equal(lw_places_nights_between(tz, 3, 1541304000000LL,
                                              1541311200000LL, &first),
                     1);
    assert_int_equal(first, 1541307600000LL); /* 2018-11-04T05:00Z */
    /* The week before: 03:00 -03 = 06:00Z. */
    assert_int_equal(lw_places_nights_between(tz, 3, 1540699200000LL,
                                              1540706400000LL, &first),
                     1);
    assert_int_equal(first, 1540706400000LL); /* 2018-10-28T06:00Z */
    /* DST ended 2019-02-17 00:00 -02 -> 23:00 -03 on the 16th. */
    assert_int_equal(lw_places_nights_between(tz, 3, 1550368800000LL,
                                              1550383200000LL, &first),
                     1);
    assert_int_equal(first, 1550383200000LL); /* 2019-02-17T06:00Z */
    lw_tz_free(tz);
}

/*
 * Four weeks of a routine in New York time: home at night, work on
 * weekdays 09:00-17:00, gym on Tuesdays and Thursdays 18:00-19:30, the shop
 * on Saturdays 10:00-12:30. Crosses the March DST change.
 */
#define HOME_E 0.0
#define WORK_E 7000.0
#define GYM_E 2500.0
#define SHOP_E -3000.0

static void week_routine(struct gen *g, const struct lw_tz *tz, int y, int m,
                         int d0, int days, int64_t *end)
{
    int64_t t = lw_tz_mktime_s(tz, y, m, d0, 0, 0, 0) * SEC;
    double here = HOME_E;
    int i;

    for (i = 0; i < days; i++) {
        struct lw_tz_local l;
        /* (leave at hh:mm local, place, come back at hh:mm local) */
        int64_t day0 = lw_tz_mktime_s(tz, y, m, d0 + i, 0, 0, 0) * SEC;
        int64_t go = 0, back = 0;
        double where = HOME_E;

        lw_tz_localtime(tz, day0 + 12 * HOUR, &l);
        if (l.wday >= 1 && l.wday <= 5) {
            go = lw_tz_mktime_s(tz, y, m, d0 + i, 8, 30, 0) * SEC;
            back = lw_tz_mktime_s(tz, y, m, d0 + i, 17, 0, 0) * SEC;
            where = WORK_E;
        } else if (l.wday == 6) {
            go = lw_tz_mktime_s(tz, y, m, d0 + i, 9, 40, 0) * SEC;
            back = lw_tz_mktime_s(tz, y, m, d0 + i, 12, 30, 0) * SEC;
            where = SHOP_E;
        }
        if (go) {
            park(g, t, go, 60 * SEC, here, 0, 25);
            drive(g, go, go + 20 * MIN, 30 * SEC, here, 0, where, 0);
            park(g, go + 20 * MIN, back, 60 * SEC, where, 0, 25);
            drive(g, back, back + 20 * MIN, 30 * SEC, where, 0, HOME_E, 0);
            t = back + 20 * MIN;
        }
        if (l.wday == 2 || l.wday == 4) {
            int64_t gy = lw_tz_mktime_s(tz, y, m, d0 + i, 18, 0, 0) * SEC;

            park(g, t, gy - 10 * MIN, 60 * SEC, HOME_E, 0, 25);
            drive(g, gy - 10 * MIN, gy, 30 * SEC, HOME_E, 0, GYM_E, 0);
            park(g, gy, gy + 90 * MIN, 60 * SEC, GYM_E, 0, 25);
            drive(g, gy + 90 * MIN, gy + 100 * MIN, 30 * SEC, GYM_E, 0, HOME_E,
                  0);
            t = gy + 100 * MIN;
        }
        here = HOME_E;
    }
    /* Home until the end of the last day. */
    *end = lw_tz_mktime_s(tz, y, m, d0 + days, 0, 0, 0) * SEC - MIN;
    park(g, t, *end, 60 * SEC, HOME_E, 0, 25);
}

/* East offset (rounded to 100 m) of the place ranked first at local time
 * y-m-d h:mi, ranked with flags; its likely_now in *likely. */
static double top_at(struct gen *g, const struct lw_tz *tz, int y, int m, int d,
                     int h, int mi, unsigned flags, double *likely)
{
    const struct lw_place *p;

    assert_int_equal(lw_places_rank(g->pl, tz,
                                    lw_tz_mktime_s(tz, y, m, d, h, mi, 0) * SEC,
                                    flags),
                     LW_OK);
    p = lw_places_get(g->pl, 0);
    assert_non_null(p);
    if (likely)
        *likely = p->likely_now;
    /* Which of the four: by its east offset. */
    return round((p->lon_deg - g->lon0) * M_PER_DEG *
                 cos(g->lat0 * M_PI / 180.0) / 100.0) *
           100.0;
}

static void test_rank_time_of_day(void **state)
{
    struct lw_tz *tz = posix("EST5EDT,M3.2.0,M11.1.0");
    struct gen g;
    int64_t end;
    double lk, sum = 0;
    size_t i;
    const struct lw_place *home = NULL;

    (void)state;
    gen_init(&g, 40.71, -74.0);
    /* Monday 2024-02-26 .. Sunday 2024-03-24 (DST from 10 March). */
    week_routine(&g, tz, 2024, 2, 26, 28, &end);
    compute(&g, tz, end);
    assert_int_equal(lw_places_count(g.pl), 4);
    for (i = 0; i < 4; i++) {
        const struct lw_place *p = lw_places_get(g.pl, i);

        sum += p->likely_now;
        assert_true(p->likely_now >= 0 && p->likely_now <= 1);
        if (fabs(p->lon_deg - g.lon0) < 0.001)
            home = p;
    }
    assert_true(sum <= 1.0 + 1e-9);
    assert_non_null(home);
    assert_ptr_equal(lw_places_night_place(g.pl), home);
    assert_int_equal(home->nights, 28);
    /* Routine: the week after. Wednesday 27 March. */
    assert_true(top_at(&g, tz, 2024, 3, 27, 3, 0, LW_PLACES_RANK_ROUTINE,
                       &lk) == HOME_E);
    assert_true(lk > 0.9);
    assert_true(top_at(&g, tz, 2024, 3, 27, 14, 0, LW_PLACES_RANK_ROUTINE,
                       &lk) == WORK_E);
    assert_true(lk > 0.8);
    /* Tuesday 18:30 the gym, Wednesday 19:00 home. */
    assert_true(top_at(&g, tz, 2024, 3, 26, 18, 30, LW_PLACES_RANK_ROUTINE,
                       NULL) == GYM_E);
    assert_true(top_at(&g, tz, 2024, 3, 27, 19, 0, LW_PLACES_RANK_ROUTINE,
                       NULL) == HOME_E);
    /* Saturday 11:00 the shop; Sunday 11:00 home; Saturday 03:00 home. */
    assert_true(top_at(&g, tz, 2024, 3, 30, 11, 0, LW_PLACES_RANK_ROUTINE,
                       NULL) == SHOP_E);
    assert_true(top_at(&g, tz, 2024, 3, 31, 11, 0, LW_PLACES_RANK_ROUTINE,
                       NULL) == HOME_E);
    assert_true(top_at(&g, tz, 2024, 3, 30, 3, 0, LW_PLACES_RANK_ROUTINE,
                       NULL) == HOME_E);
    /* usual_hours: at work 12:00 on 20 of 28 days (some known time). */
    for (i = 0; i < 4; i++) {
        const struct lw_place *p = lw_places_get(g.pl, i);

        if (fabs(p->lon_deg - g.lon0) > 0.05) /* work, 7 km east */
            assert_true(fabs(p->usual_hours[12] - 20.0 / 28) < 0.02);
    }
    assert_true(home->usual_hours[3] > 0.99);
    lw_places_free(g.pl);
    lw_tz_free(tz);
}

/* The last fix weighs: seen at the shop at a time the car is usually home,
 * it is at the shop; days later, the routine is back. */
static void test_rank_last_fix(void **state)
{
    struct lw_tz *tz = posix("EST5EDT,M3.2.0,M11.1.0");
    struct gen g;
    int64_t end, t;
    double lk;

    (void)state;
    gen_init(&g, 40.71, -74.0);
    week_routine(&g, tz, 2024, 2, 26, 27, &end);
    /* Sunday 24 March evening: to the shop, seen there 19:00-19:40. */
    t = lw_tz_mktime_s(tz, 2024, 3, 24, 19, 0, 0) * SEC;
    park(&g, end, t - 10 * MIN, 60 * SEC, HOME_E, 0, 25);
    drive(&g, t - 10 * MIN, t, 30 * SEC, HOME_E, 0, SHOP_E, 0);
    park(&g, t, t + 40 * MIN, 60 * SEC, SHOP_E, 0, 25);
    compute(&g, tz, t + 40 * MIN);
    /* 21:00 the same evening, tracker silent: still at the shop, by the
     * last fix, though the routine says home. */
    assert_true(top_at(&g, tz, 2024, 3, 24, 21, 0, 0, &lk) == SHOP_E);
    assert_true(lw_places_get(g.pl, 0)->here_now);
    assert_true(top_at(&g, tz, 2024, 3, 24, 21, 0, LW_PLACES_RANK_ROUTINE,
                       NULL) == HOME_E);
    /* Wednesday afternoon, still silent: the shop stays lasted 2h30 at
     * most, so it is most likely at work by now. */
    assert_true(top_at(&g, tz, 2024, 3, 27, 14, 0, 0, NULL) == WORK_E);
    assert_true(lw_places_current(g.pl)->place >= 0);
    assert_true(lw_places_current(g.pl)->ongoing);
    lw_places_free(g.pl);
    lw_tz_free(tz);
}

/*
 * Seen at home at 04:00 on a Monday after a Sunday errand, silent since.
 * Stays at home that began on a Sunday afternoon lasted into Monday
 * morning (and the weekend ones longer), so stay durations alone keep the
 * car home; on the earlier weekdays at 04:00 and 10:30 it was home, then
 * at work, and that decides: at work by 10:30.
 */
static void test_rank_same_hours_earlier_days(void **state)
{
    struct lw_tz *tz = posix("EST5EDT,M3.2.0,M11.1.0");
    struct gen g;
    int64_t end, t, a, b;

    (void)state;
    gen_init(&g, 40.71, -74.0);
    week_routine(&g, tz, 2024, 2, 26, 20, &end); /* to Sat 16 March */
    /* Sunday 17 March: the shop 11:00-12:30, then home. */
    a = lw_tz_mktime_s(tz, 2024, 3, 17, 11, 0, 0) * SEC;
    b = lw_tz_mktime_s(tz, 2024, 3, 17, 12, 30, 0) * SEC;
    park(&g, end, a - 20 * MIN, 60 * SEC, HOME_E, 0, 25);
    drive(&g, a - 20 * MIN, a, 30 * SEC, HOME_E, 0, SHOP_E, 0);
    park(&g, a, b, 60 * SEC, SHOP_E, 0, 25);
    drive(&g, b, b + 20 * MIN, 30 * SEC, SHOP_E, 0, HOME_E, 0);
    /* Monday 18 March: home until 04:00, then the tracker is silent. */
    t = lw_tz_mktime_s(tz, 2024, 3, 18, 4, 0, 0) * SEC;
    park(&g, b + 20 * MIN, t, 60 * SEC, HOME_E, 0, 25);
    compute(&g, tz, t);
    assert_int_equal(lw_places_stats(g.pl)->future, 0);
    assert_int_equal(lw_places_stats(g.pl)->last_ms, t);
    assert_true(top_at(&g, tz, 2024, 3, 18, 5, 0, 0, NULL) == HOME_E);
    assert_true(top_at(&g, tz, 2024, 3, 18, 10, 30, 0, NULL) == WORK_E);
    assert_false(lw_places_get(g.pl, 0)->here_now);
    /* ... and clearly: stay durations alone gave home 0.46 here. */
    assert_true(lw_places_get(g.pl, 1)->here_now);
    assert_true(lw_places_get(g.pl, 1)->likely_now < 0.3);
    assert_true(lw_places_get(g.pl, 0)->likely_now > 0.7);
    assert_true(top_at(&g, tz, 2024, 3, 18, 20, 0, 0, NULL) == HOME_E);
    lw_places_free(g.pl);

    /* Friday 22 March at 04:00: Saturday morning 09:00 still home. */
    gen_init(&g, 40.71, -74.0);
    week_routine(&g, tz, 2024, 2, 26, 25, &end); /* to Thu 21 March */
    t = lw_tz_mktime_s(tz, 2024, 3, 22, 4, 0, 0) * SEC;
    park(&g, end, t, 60 * SEC, HOME_E, 0, 25);
    compute(&g, tz, t);
    assert_int_equal(lw_places_stats(g.pl)->last_ms, t);
    assert_true(top_at(&g, tz, 2024, 3, 22, 11, 0, 0, NULL) == WORK_E);
    assert_true(top_at(&g, tz, 2024, 3, 23, 9, 0, 0, NULL) == HOME_E);
    assert_true(lw_places_get(g.pl, 0)->here_now);
    lw_places_free(g.pl);
    lw_tz_free(tz);
}

/* A night somewhere new: 20 km away is new, 2 km is not, no baseline is
 * not, a place last slept at 70 days ago is new again. */
static void test_new_overnight(void **state)
{
    struct lw_tz *tz = posix("WET0WEST,M3.5.0/1,M10.5.0");
    struct lw_places_overnight o;
    struct gen g;
    const struct lw_places_stop *cur;
    int64_t t = T0;
    int d;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    /* 30 nights at home (0,0), days at 6 km. */
    for (d = 0; d < 30; d++, t += DAY) {
        park(&g, t, t + 8 * HOUR, 10 * MIN, 0, 0, 20);
        drive(&g, t + 8 * HOUR, t + 8 * HOUR + 15 * MIN, 30 * SEC, 0, 0, 6000,
              0);
        park(&g, t + 8 * HOUR + 15 * MIN, t + 17 * HOUR, 10 * MIN, 6000, 0, 20);
        drive(&g, t + 17 * HOUR, t + 17 * HOUR + 15 * MIN, 30 * SEC, 6000, 0, 0,
              0);
        park(&g, t + 17 * HOUR + 15 * MIN, t + DAY - MIN, 10 * MIN, 0, 0, 20);
    }
    /* Then evening drive to 20 km north, parked; at 03:30 local a fix. */
    drive(&g, t, t + 30 * MIN, 30 * SEC, 0, 0, 0, 20000);
    park(&g, t + 30 * MIN, t + 3 * HOUR, 20 * MIN, 0, 20000, 20);
    compute(&g, tz, t + 3 * HOUR);
    cur = lw_places_current(g.pl);
    assert_non_null(cur);
    assert_int_equal(cur->nights, 1);
    assert_int_equal(lw_places_overnight(g.pl, cur, 0, 0, &o), LW_OK);
    assert_true(o.night);
    assert_true(o.is_new);
    assert_true(o.baseline >= 29);
    assert_true(fabs(o.nearest_m - 20000) < 100);
    assert_true(fabs(o.usual_m - 20000) < 100);
    assert_int_equal(o.night_ms, cur->night_ms);
    /* 25 km threshold: not new. */
    assert_int_equal(lw_places_overnight(g.pl, cur, 25000, 0, &o), LW_OK);
    assert_false(o.is_new);
    /* The home nights are not new: judged against the nights before. */
    assert_int_equal(
        lw_places_overnight(g.pl, lw_places_stop(g.pl, 4), 0, 0, &o), LW_OK);
    assert_true(o.night);
    assert_false(o.is_new);
    assert_true(o.nearest_m < 50);
    /* The very first night has no baseline. */
    assert_int_equal(
        lw_places_overnight(g.pl, lw_places_stop(g.pl, 0), 0, 0, &o), LW_OK);
    assert_int_equal(o.baseline, 0);
    assert_false(o.is_new);
    /* A day stop (at work) is no night. */
    assert_int_equal(
        lw_places_overnight(g.pl, lw_places_stop(g.pl, 1), 0, 0, &o), LW_OK);
    assert_false(o.night);
    assert_false(o.is_new);
    /* Lookback of 1 hour: no baseline, nothing new. */
    assert_int_equal(lw_places_overnight(g.pl, cur, 0, HOUR, &o), LW_OK);
    assert_int_equal(o.baseline, 0);
    assert_false(o.is_new);
    assert_int_equal(lw_places_overnight(g.pl, NULL, 0, 0, &o), LW_ERR_INVAL);
    lw_places_free(g.pl);

    /* 2 km from home: not new. */
    gen_init(&g, 41.15, -8.61);
    t = T0;
    for (d = 0; d < 10; d++, t += DAY)
        park(&g, t, t + DAY - 20 * MIN, 20 * MIN, 0, 0, 20);
    drive(&g, t - 20 * MIN, t, 60 * SEC, 0, 0, 2000, 0);
    park(&g, t, t + 5 * HOUR, 20 * MIN, 2000, 0, 20);
    compute(&g, tz, t + 5 * HOUR);
    assert_int_equal(
        lw_places_overnight(g.pl, lw_places_current(g.pl), 0, 0, &o), LW_OK);
    assert_true(o.night);
    assert_false(o.is_new);
    assert_true(fabs(o.nearest_m - 2000) < 50);
    lw_places_free(g.pl);
    lw_tz_free(tz);
}

/* Bad fixes are counted and skipped; order and a second device do not
 * matter. */
static void test_bad_and_unordered_input(void **state)
{
    struct gen g;
    struct lw_places *sorted = NULL;
    struct lw_fix f;
    int64_t t;
    size_t i, n = 0;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    lw_fix_init(&f);
    f.fix_time_ms = T0;
    f.lat_deg = NAN;
    f.lon_deg = -8.61;
    assert_int_equal(lw_places_add(g.pl, &f), LW_OK);
    f.lat_deg = 91;
    assert_int_equal(lw_places_add(g.pl, &f), LW_OK);
    f.lat_deg = 41.15;
    f.fix_time_ms = 0;
    assert_int_equal(lw_places_add(g.pl, &f), LW_OK);
    f.fix_time_ms = T0 + 5 * MIN;
    f.accuracy_m = 1500; /* a cell-tower fix 3 km off */
    f.lat_deg = 41.18;
    assert_int_equal(lw_places_add(g.pl, &f), LW_OK);
    assert_int_equal(lw_places_add(g.pl, NULL), LW_ERR_INVAL);
    /* A negative accuracy is "none stated": the fix is used. */
    fix_at(&g, T0 + HOUR + 20 * SEC, 5, 5, -1, NAN);
    /* Two devices on one car, interleaved, reverse order. */
    for (t = T0 + HOUR; t >= T0; t -= 30 * SEC) {
        fix_at(&g, t, 10 * urand(&g), 10 * urand(&g), NAN, NAN);
        fix_at(&g, t + 7 * SEC, 20 * urand(&g), 10 * urand(&g), 30, 0);
        n++;
    }
    /* And two from next week (the future for now = T0 + 2h). */
    fix_at(&g, T0 + 7 * DAY, 0, 0, 10, 0);
    fix_at(&g, T0 + 7 * DAY + MIN, 0, 0, 10, 0);
    compute(&g, NULL, T0 + 2 * HOUR);
    assert_int_equal(lw_places_stats(g.pl)->invalid, 3);
    assert_int_equal(lw_places_stats(g.pl)->inaccurate, 1);
    assert_int_equal(lw_places_stats(g.pl)->future, 2);
    assert_int_equal(lw_places_stats(g.pl)->used, 2 * n + 1);
    assert_int_equal(lw_places_stats(g.pl)->first_ms, T0);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_int_equal(lw_places_stop(g.pl, 0)->start_ms, T0);
    assert_int_equal(lw_places_stop(g.pl, 0)->end_ms, T0 + HOUR + 20 * SEC);
    assert_int_equal(lw_places_stop(g.pl, 0)->fixes, 2 * n + 1);
    /* Computing again gives the same. */
    compute(&g, NULL, T0 + 2 * HOUR);
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    assert_int_equal(lw_places_stats(g.pl)->future, 2);
    /* Once the future has come, those two fixes count. */
    compute(&g, NULL, T0 + 8 * DAY);
    assert_int_equal(lw_places_stats(g.pl)->future, 0);
    lw_places_free(g.pl);
    /* lw_places_build with an array. */
    {
        struct lw_fix fx[40];

        for (i = 0; i < 40; i++) {
            lw_fix_init(&fx[i]);
            fx[i].fix_time_ms = T0 + (int64_t)i * MIN;
            fx[i].lat_deg = 41.15 + (i % 3) * 1e-5;
            fx[i].lon_deg = -8.61;
        }
        assert_int_equal(
            lw_places_build(fx, 40, NULL, NULL, T0 + DAY, &sorted, NULL, 0),
            LW_OK);
        assert_int_equal(lw_places_stop_count(sorted), 1);
        assert_int_equal(lw_places_count(sorted), 1);
        assert_true(lw_places_get(sorted, 0)->here_now);
        lw_places_free(sorted);
        assert_int_equal(
            lw_places_build(NULL, 3, NULL, NULL, T0, &sorted, NULL, 0),
            LW_ERR_INVAL);
    }
}

/* A car parked on the antimeridian (Fiji, Taveuni): one stop, its centre
 * on the line, not at longitude 0. */
static void test_antimeridian(void **state)
{
    struct lw_places *pl = NULL;
    int i;

    (void)state;
    assert_int_equal(lw_places_new(NULL, &pl, NULL, 0), LW_OK);
    for (i = 0; i < 60; i++)
        assert_int_equal(lw_places_add_pos(pl, T0 + i * MIN, -16.8,
                                           i % 2 ? 179.9999 : -179.9999, 10, 0),
                         LW_OK);
    assert_int_equal(lw_places_compute(pl, NULL, T0 + DAY, NULL, 0), LW_OK);
    assert_int_equal(lw_places_stop_count(pl), 1);
    assert_true(fabs(fabs(lw_places_stop(pl, 0)->lon_deg) - 180) < 1e-3);
    assert_true(lw_places_stop(pl, 0)->spread_m < 20);
    assert_int_equal(lw_places_count(pl), 1);
    assert_true(fabs(fabs(lw_places_get(pl, 0)->lon_deg) - 180) < 1e-3);
    lw_places_free(pl);
}

/* The run of the last fix: short or moving. */
static void test_current(void **state)
{
    struct gen g;
    const struct lw_places_stop *c;

    (void)state;
    gen_init(&g, 41.15, -8.61);
    park(&g, T0, T0 + 2 * HOUR, 60 * SEC, 0, 0, 20);
    drive(&g, T0 + 2 * HOUR, T0 + 2 * HOUR + 10 * MIN, 30 * SEC, 0, 0, 5000, 0);
    park(&g, T0 + 2 * HOUR + 10 * MIN, T0 + 2 * HOUR + 20 * MIN, 60 * SEC, 5000,
         0, 20);
    drive(&g, T0 + 2 * HOUR + 20 * MIN, T0 + 2 * HOUR + 30 * MIN, 30 * SEC,
          5000, 0, 0, 0);
    park(&g, T0 + 2 * HOUR + 30 * MIN, T0 + 2 * HOUR + 38 * MIN, 60 * SEC, 0, 0,
         20);
    compute(&g, NULL, T0 + 2 * HOUR + 40 * MIN);
    /* Back home 8 minutes: not yet a stop, but the car is home. */
    assert_int_equal(lw_places_stop_count(g.pl), 1);
    c = lw_places_current(g.pl);
    assert_true(c->ongoing);
    assert_int_equal(c->place, lw_places_stop(g.pl, 0)->place);
    assert_true(lw_places_get(g.pl, 0)->here_now);
    assert_true(lw_places_get(g.pl, 0)->likely_now > 0.9);
    lw_places_free(g.pl);

    /* Last fix driving past home at 15 m/s: not "at home now". */
    gen_init(&g, 41.15, -8.61);
    park(&g, T0, T0 + 2 * HOUR, 60 * SEC, 0, 0, 20);
    drive(&g, T0 + 2 * HOUR, T0 + 3 * HOUR, 30 * SEC, 0, 0, 54000, 0);
    drive(&g, T0 + 3 * HOUR, T0 + 4 * HOUR, 30 * SEC, 54000, 0, 0, 0);
    fix_at(&g, T0 + 4 * HOUR, 0, 0, 10, 15);
    compute(&g, NULL, T0 + 4 * HOUR);
    assert_false(lw_places_get(g.pl, 0)->here_now);
    assert_int_equal(lw_places_current(g.pl)->place, 0);
    lw_places_free(g.pl);
}

/* Random histories (jumps, duplicates, gaps, bad values): the results keep
 * their invariants whatever comes in. */
static void test_random_histories(void **state)
{
    struct lw_tz *tz = posix("EST5EDT,M3.2.0,M11.1.0");
    int round;
    size_t stops = 0, nights = 0;

    (void)state;
    for (round = 0; round < 40; round++) {
        struct gen g;
        int64_t t = T0, now;
        int i, n = 200 + round * 50;
        size_t k;
        double sum = 0;

        gen_init(&g, 40.71, -74.0);
        g.seed += (uint32_t)round * 7919u;
        for (i = 0; i < n; i++) {
            double u = urand(&g), e = 0, no = 0;
            int64_t step = (int64_t)(urand(&g) * urand(&g) * 6 * HOUR);

            if (u < 0.5) { /* one of three spots */
                e = 500.0 * (int)(urand(&g) * 3);
                no = 20 * urand(&g);
            } else if (u < 0.9) { /* anywhere within 5 km */
                e = 5000 * urand(&g);
                no = 5000 * urand(&g);
            } else if (u < 0.95) { /* the same instant again */
                step = 0;
            }
            t += step;
            fix_at(&g, t, e, no,
                   urand(&g) < 0.1   ? NAN
                   : urand(&g) < 0.1 ? -1
                                     : 300 * urand(&g),
                   urand(&g) < 0.3 ? NAN : 30 * urand(&g));
        }
        now = t - (int64_t)(urand(&g) * 2 * DAY) + DAY;
        compute(&g, tz, now);
        stops += lw_places_stop_count(g.pl);
        for (k = 0; k < lw_places_stop_count(g.pl); k++) {
            const struct lw_places_stop *s = lw_places_stop(g.pl, k);

            nights += s->nights;
            assert_true(s->end_ms - s->start_ms >= 15 * MIN);
            assert_true(s->end_ms <= now + LW_PLACES_FUTURE_SLACK_MS);
            if (k > 0)
                assert_true(s->start_ms >= lw_places_stop(g.pl, k - 1)->end_ms);
            assert_non_null(lw_places_by_id(g.pl, s->place));
            assert_true(s->nights == 0 || (s->night_ms >= s->start_ms &&
                                           s->last_night_ms <= s->end_ms &&
                                           s->last_night_ms >= s->night_ms));
            assert_true(lw_geo_valid(s->lat_deg, s->lon_deg));
        }
        for (k = 0; k < lw_places_count(g.pl); k++) {
            const struct lw_place *p = lw_places_get(g.pl, k);
            int h;

            assert_true(p->likely_now >= 0 && p->likely_now <= 1);
            assert_true(p->routine >= 0 && p->routine <= 1);
            assert_true(p->visits > 0 && p->radius_m >= 10);
            if (k > 0)
                assert_true(p->likely_now <=
                            lw_places_get(g.pl, k - 1)->likely_now);
            for (h = 0; h < 24; h++)
                assert_true(p->usual_hours[h] >= 0 && p->usual_hours[h] <= 1);
            sum += p->likely_now;
        }
        assert_true(sum <= 1 + 1e-9);
        if (lw_places_current(g.pl)) {
            struct lw_places_overnight o;

            assert_int_equal(
                lw_places_overnight(g.pl, lw_places_current(g.pl), 0, 0, &o),
                LW_OK);
            assert_true(!o.is_new || (o.night && o.baseline > 0));
        }
        assert_int_equal(
            lw_places_rank(g.pl, tz, now + 3 * DAY, LW_PLACES_RANK_ROUTINE),
            LW_OK);
        lw_places_free(g.pl);
    }
    /* The histories do have stops and nights to check. */
    printf("random histories: %zu stops, %zu nights\n", stops, nights);
    assert_true(stops > 100 && nights > 10);
    lw_tz_free(tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_jitter_stop),
        cmocka_unit_test(test_spikes),
        cmocka_unit_test(test_short_stops),
        cmocka_unit_test(test_stop_across_midnight),
        cmocka_unit_test(test_gap_while_stopped),
        cmocka_unit_test(test_gap_while_moving),
        cmocka_unit_test(test_gap_then_elsewhere),
        cmocka_unit_test(test_clustering),
        cmocka_unit_test(test_nights_dst),
        cmocka_unit_test(test_nights_sao_paulo_file),
        cmocka_unit_test(test_rank_time_of_day),
        cmocka_unit_test(test_rank_last_fix),
        cmocka_unit_test(test_rank_same_hours_earlier_days),
        cmocka_unit_test(test_new_overnight),
        cmocka_unit_test(test_bad_and_unordered_input),
        cmocka_unit_test(test_antimeridian),
        cmocka_unit_test(test_current),
        cmocka_unit_test(test_random_histories),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
