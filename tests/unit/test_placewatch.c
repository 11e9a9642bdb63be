/*
 * test_placewatch.c - new_overnight_place and long_move decisions
 * (lib/placewatch.c) on synthetic histories: ten nights at home (the
 * baseline, before watching), then a night 20 km away, then a trip of
 * 150 km and back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "lienwatch/geo.h"
#include "lienwatch/placewatch.h"

#define DAY INT64_C(86400000)
#define HOUR INT64_C(3600000)
#define MIN INT64_C(60000)
/* 2026-11-01T00:00:00Z */
#define T0 INT64_C(1793491200000)
#define HOME_LAT 41.15
#define HOME_LON (-8.61)
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

/* Parked at (north_m of home) from t0 to t1, a fix every 10 minutes. */
static void park(struct lw_places *pl, double north_m, int64_t t0, int64_t t1)
{
    for (int64_t t = t0; t <= t1; t += 10 * MIN)
        assert_int_equal(lw_places_add_pos(pl, t,
                                           HOME_LAT + north_m / M_PER_DEG,
                                           HOME_LON, 10.0, 0.0),
                         LW_OK);
}

static void judge(struct lw_places *pl, int64_t now,
                  struct lw_placewatch_state *st, struct lw_placewatch_out *o)
{
    struct lw_placewatch_cfg c = {LW_PLACEWATCH_NEW_PLACE_M,
                                  LW_PLACEWATCH_LONG_MOVE_M};
    char err[64];

    assert_int_equal(lw_places_compute(pl, NULL, now, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_placewatch_judge(pl, &c, st, o), LW_OK);
}

static void test_new_night_and_long_move(void **state)
{
    struct lw_placewatch_state st = {0};
    struct lw_placewatch_out o;
    struct lw_places *pl;
    char err[64];
    int64_t t;
    (void)state;

    assert_int_equal(lw_places_new(NULL, &pl, err, sizeof(err)), LW_OK);
    /* ten nights at home, 20:00 to 07:00 UTC, days elsewhere close by */
    for (int d = 0; d < 10; d++) {
        park(pl, 0, T0 + d * DAY - 4 * HOUR, T0 + d * DAY + 7 * HOUR);
        park(pl, 2000, T0 + d * DAY + 8 * HOUR, T0 + d * DAY + 19 * HOUR);
    }
    t = T0 + 9 * DAY + 19 * HOUR;
    /* not watched yet: nothing, whatever the history */
    judge(pl, t, &st, &o);
    assert_false(o.new_night);
    assert_false(o.long_move);
    /* watched from the evening of day 9: a night 20 km away */
    st.watched_from_ms = t;
    park(pl, 20000, T0 + 10 * DAY - 3 * HOUR, T0 + 10 * DAY + 2 * HOUR);
    judge(pl, T0 + 10 * DAY + 2 * HOUR, &st, &o);
    assert_false(o.new_night); /* 03:00 not reached yet */
    park(pl, 20000, T0 + 10 * DAY + 2 * HOUR + 10 * MIN,
         T0 + 10 * DAY + 3 * HOUR + 10 * MIN);
    judge(pl, T0 + 10 * DAY + 3 * HOUR + 10 * MIN, &st, &o);
    assert_true(o.new_night);
    assert_int_equal(o.night_ms, T0 + 10 * DAY + 3 * HOUR);
    assert_true(fabs(o.from_usual_m - 20000) < 200);
    assert_false(o.long_move); /* 20 km is not a long move */
    /* the same stay: not again */
    park(pl, 20000, T0 + 10 * DAY + 3 * HOUR + 20 * MIN,
         T0 + 10 * DAY + 5 * HOUR);
    judge(pl, T0 + 10 * DAY + 5 * HOUR, &st, &o);
    assert_false(o.new_night);
    /* 150 km away: long_move, once per trip */
    park(pl, 150000, T0 + 10 * DAY + 8 * HOUR, T0 + 10 * DAY + 9 * HOUR);
    judge(pl, T0 + 10 * DAY + 9 * HOUR, &st, &o);
    assert_true(o.long_move);
    assert_true(fabs(o.move_m - 150000) < 1000);
    park(pl, 150100, T0 + 10 * DAY + 10 * HOUR, T0 + 10 * DAY + 11 * HOUR);
    judge(pl, T0 + 10 * DAY + 11 * HOUR, &st, &o);
    assert_false(o.long_move);
    /* home again, then away again: a new trip */
    park(pl, 0, T0 + 10 * DAY + 14 * HOUR, T0 + 10 * DAY + 15 * HOUR);
    judge(pl, T0 + 10 * DAY + 15 * HOUR, &st, &o);
    assert_false(o.long_move);
    park(pl, 150000, T0 + 10 * DAY + 18 * HOUR, T0 + 10 * DAY + 19 * HOUR);
    judge(pl, T0 + 10 * DAY + 19 * HOUR, &st, &o);
    assert_true(o.long_move);
    /* between computations: fixes against the kept night place */
    assert_true(st.has_night_place);
    assert_true(fabs(st.night_lat_deg - HOME_LAT) < 1e-4);
    {
        double d;

        assert_false(lw_placewatch_move(&st, HOME_LAT + 1.5, HOME_LON, 1e5,
                                        &d)); /* still away */
        assert_true(d > 1e5);
        assert_false(lw_placewatch_move(&st, HOME_LAT, HOME_LON, 1e5, &d));
        assert_true(d < 100);
        assert_true(
            lw_placewatch_move(&st, HOME_LAT + 1.5, HOME_LON, 1e5, NULL));
        assert_false(lw_placewatch_move(&st, HOME_LAT + 1.5, HOME_LON, 0,
                                        NULL)); /* off */
    }
    lw_places_free(pl);
}

/* A new place whose first night came before watching is the baseline. */
static void test_baseline_before_watching(void **state)
{
    struct lw_placewatch_state st = {0};
    struct lw_placewatch_out o;
    struct lw_places *pl;
    char err[64];
    (void)state;

    assert_int_equal(lw_places_new(NULL, &pl, err, sizeof(err)), LW_OK);
    for (int d = 0; d < 5; d++)
        park(pl, 0, T0 + d * DAY - 4 * HOUR, T0 + d * DAY + 7 * HOUR);
    /* from day 5 20:00 at a new place, watched from day 6 10:00 */
    park(pl, 30000, T0 + 5 * DAY - 4 * HOUR, T0 + 6 * DAY + 10 * HOUR);
    st.watched_from_ms = T0 + 6 * DAY + 10 * HOUR;
    judge(pl, T0 + 6 * DAY + 10 * HOUR, &st, &o);
    assert_false(o.new_night);
    lw_places_free(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_night_and_long_move),
        cmocka_unit_test(test_baseline_before_watching),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
