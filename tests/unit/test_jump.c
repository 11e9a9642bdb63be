/*
 * test_jump.c - the jump judge (lib/jump.c): what is a jump, spikes,
 * confirmation, replacement, late fixes, poor accuracy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "lienwatch/geo.h"
#include "lienwatch/jump.h"

#define T0 INT64_C(1795435200000)
#define SEC INT64_C(1000)
#define LAT 52.52
#define LON 13.40
/* 300 km/h */
#define MAX_MPS (300.0 / 3.6)
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

static struct lw_fix fx(double north_m, int64_t t_ms, double acc_m)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "v");
    f.lat_deg = LAT + north_m / M_PER_DEG;
    f.lon_deg = LON;
    f.fix_time_ms = t_ms;
    f.accuracy_m = acc_m;
    return f;
}

static enum lw_jump_verdict judge(struct lw_jump_state *st, double north_m,
                                  int64_t t_ms, double acc_m,
                                  struct lw_jump_info *ji)
{
    struct lw_fix f = fx(north_m, t_ms, acc_m);

    return lw_jump_judge(st, &f, MAX_MPS, LW_JUMP_MAX_ACCURACY_M, ji);
}

/* The threshold: the distance less both accuracies, over the time. */
static void test_threshold(void **state)
{
    struct lw_jump_state st = {0};
    struct lw_jump_info ji;
    (void)state;

    assert_int_equal(judge(&st, 0, T0, 10, &ji), LW_JUMP_OK);
    assert_true(isnan(ji.speed_mps));
    /* 60 s at 300 km/h is 5000 m; + 20 m of accuracies: 5010 m is not */
    assert_int_equal(judge(&st, 5010, T0 + 60 * SEC, 10, &ji), LW_JUMP_OK);
    assert_true(ji.speed_mps < MAX_MPS);
    assert_int_equal(ji.dt_ms, 60 * SEC);
    /* from there, 5100 m in 60 s is */
    assert_int_equal(judge(&st, 10110, T0 + 120 * SEC, 10, &ji),
                     LW_JUMP_SUSPECT);
    assert_true(ji.speed_mps > MAX_MPS);
    assert_true(fabs(ji.distance_m - 5100) < 1);
    /* within the accuracies the speed is 0, even at the same instant */
    st = (struct lw_jump_state){0};
    judge(&st, 0, T0, 30, NULL);
    assert_int_equal(judge(&st, 50, T0, 30, &ji), LW_JUMP_OK);
    assert_true(ji.speed_mps == 0);
}

/* A spike: the next fix is back where the car was. */
static void test_spike_and_confirm(void **state)
{
    struct lw_jump_state st = {0};
    struct lw_jump_info ji;
    (void)state;

    judge(&st, 0, T0, 10, NULL);
    assert_int_equal(judge(&st, 100000, T0 + 10 * SEC, 10, NULL),
                     LW_JUMP_SUSPECT);
    assert_true(st.has_suspect);
    assert_int_equal(judge(&st, 20, T0 + 20 * SEC, 10, NULL), LW_JUMP_OK);
    assert_false(st.has_suspect);
    /* a jump, then a fix near it: confirmed, the suspect handed back */
    assert_int_equal(judge(&st, 100000, T0 + 30 * SEC, 10, NULL),
                     LW_JUMP_SUSPECT);
    assert_int_equal(judge(&st, 100300, T0 + 40 * SEC, 10, &ji),
                     LW_JUMP_CONFIRMS);
    assert_int_equal(ji.confirmed.fix_time_ms, T0 + 30 * SEC);
    assert_false(st.has_suspect);
    assert_int_equal(st.accepted.fix_time_ms, T0 + 40 * SEC);
    /* a jump from both: the newer one is the suspect now */
    judge(&st, 0, T0 + 50 * SEC, 10, NULL);
    assert_int_equal(st.suspect.fix_time_ms, T0 + 50 * SEC);
    assert_int_equal(judge(&st, -200000, T0 + 60 * SEC, 10, NULL),
                     LW_JUMP_SUSPECT);
    assert_int_equal(st.suspect.fix_time_ms, T0 + 60 * SEC);
    assert_int_equal(st.accepted.fix_time_ms, T0 + 40 * SEC);
}

/* Poor or unknown accuracy, late fixes and a zero limit are not judged. */
static void test_not_judged(void **state)
{
    struct lw_jump_state st = {0};
    struct lw_fix f;
    (void)state;

    judge(&st, 0, T0, 10, NULL);
    assert_int_equal(judge(&st, 100000, T0 + SEC, 100, NULL), LW_JUMP_OK);
    assert_int_equal(judge(&st, 0, T0 + 2 * SEC, NAN, NULL), LW_JUMP_OK);
    /* late: older than the accepted fix, however far */
    assert_int_equal(judge(&st, 500000, T0 - SEC, 5, NULL), LW_JUMP_OK);
    assert_int_equal(st.accepted.fix_time_ms, T0 + 2 * SEC);
    f = fx(900000, T0 + 3 * SEC, 5);
    assert_int_equal(lw_jump_judge(&st, &f, 0, LW_JUMP_MAX_ACCURACY_M, NULL),
                     LW_JUMP_OK);
    /* seeding: the store's last-known fix after a restart */
    f = fx(0, T0, 5);
    lw_jump_seed(&st, &f);
    assert_int_equal(judge(&st, 100000, T0 + SEC, 5, NULL), LW_JUMP_SUSPECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_spike_and_confirm),
        cmocka_unit_test(test_not_judged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
