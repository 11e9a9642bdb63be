/*
 * test_trackers.c - cmocka tests of lib/trackers.c: tracker_separation
 * (the 300 m floor and the accuracy sum, pairs within 5 minutes, two
 * consecutive pairs, once per transition, re-armed together, only watched)
 * and tracker_lost (past half the allowance, the other reporting and
 * moving, from a fix or from the tick, once until heard again), and a
 * reload of the grouping keeping what was raised.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/registry.h"
#include "lienwatch/trackers.h"

/* 2026-11-23T00:00:00Z */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
/* Metres per degree of latitude, near enough for building test fixes. */
#define M_PER_DEG_LAT 111195.0
#define LAT0 45.0
#define LON0 7.0

/* What the hooks saw. */
struct seen {
    int n;                /* alerts */
    struct lw_alert a[8]; /* the first 8 */
    bool watched;         /* what the watched hook answers */
};

static bool watched_cb(void *ctx, const char *device)
{
    (void)device;
    return ((struct seen *)ctx)->watched;
}

static void alert_cb(void *ctx, const struct lw_alert *a)
{
    struct seen *s = ctx;

    if (s->n < 8)
        s->a[s->n] = *a;
    s->n++;
}

/* A fix of dev at t, north_m north of (LAT0, LON0), accuracy acc_m. */
static struct lw_fix fx(const char *dev, int64_t t, double north_m,
                        double acc_m)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", dev);
    f.fix_time_ms = t;
    f.recv_time_ms = t;
    f.lat_deg = LAT0 + north_m / M_PER_DEG_LAT;
    f.lon_deg = LON0;
    f.accuracy_m = acc_m;
    return f;
}

/* A state with vehicle 1 = {car/w, car/h} (allowance 2 h) and vehicle 2 =
 * {solo/1} alone. */
static struct lw_trackers *two(void)
{
    struct lw_trackers *t = NULL;

    assert_int_equal(lw_trackers_new(&t), LW_OK);
    assert_int_equal(lw_trackers_group_begin(t), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "car/w", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 2, "solo/1", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "car/h", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_end(t), LW_OK);
    return t;
}

/* Feeds f at its own time. */
static int feed(struct lw_trackers *t, const struct lw_fix f,
                const struct lw_trackers_hooks *h)
{
    return lw_trackers_fix(t, &f, f.fix_time_ms, h);
}

static void test_grouping(void **state)
{
    struct lw_trackers *t = two();

    (void)state;
    assert_true(lw_trackers_grouped(t, "car/w"));
    assert_true(lw_trackers_grouped(t, "car/h"));
    assert_false(lw_trackers_grouped(t, "solo/1")); /* one tracker */
    assert_false(lw_trackers_grouped(t, "nobody"));
    assert_int_equal(lw_trackers_group_add(t, 1, "x", HOUR), LW_ERR_INVAL);
    assert_int_equal(lw_trackers_group_begin(t), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "x", 0), LW_ERR_INVAL);
    assert_int_equal(lw_trackers_group_add(t, 1, "", HOUR), LW_ERR_INVAL);
    lw_trackers_free(t);
    lw_trackers_free(NULL);
}

/* 300 m is the floor: 250 m apart never separates; 400 m apart does, at
 * the second pair, once, carrying both positions. */
static void test_separation_floor_and_twice(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    for (int i = 0; i < 5; i++) {
        feed(t, fx("car/w", T0 + i * MIN, 0, 10), &h);
        feed(t, fx("car/h", T0 + i * MIN + 10 * SEC, 250, 10), &h);
    }
    assert_int_equal(s.n, 0);
    /* apart: the first pair counts, the second raises; a new fix of one
     * with the other's same old fix is no second pair */
    assert_int_equal(feed(t, fx("car/w", T0 + 10 * MIN, 0, 10), &h), 0);
    assert_int_equal(feed(t, fx("car/h", T0 + 10 * MIN + 5 * SEC, 400, 10), &h),
                     0);
    assert_int_equal(feed(t, fx("car/w", T0 + 11 * MIN, 0, 10), &h), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(feed(t, fx("car/h", T0 + 11 * MIN + 5 * SEC, 400, 10), &h),
                     1);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].kind, LW_ALERT_TRACKER_SEPARATION);
    assert_string_equal(s.a[0].device, "car/h");
    assert_true(s.a[0].has_fix);
    assert_int_equal(s.a[0].fix.fix_time_ms, T0 + 11 * MIN + 5 * SEC);
    assert_string_equal(s.a[0].other.device, "car/w");
    assert_true(s.a[0].other.has_fix);
    assert_int_equal(s.a[0].other.fix.fix_time_ms, T0 + 11 * MIN);
    assert_true(fabs(s.a[0].other.distance_m - 400.0) < 2.0);
    assert_int_equal(s.a[0].raised_ms, T0 + 11 * MIN + 5 * SEC);
    /* still apart: no second alert */
    for (int i = 0; i < 4; i++) {
        feed(t, fx("car/h", T0 + (12 + i) * MIN, 400, 10), &h);
        feed(t, fx("car/w", T0 + (12 + i) * MIN + SEC, 0, 10), &h);
    }
    assert_int_equal(s.n, 1);
    /* together again re-arms; apart twice more raises again */
    feed(t, fx("car/h", T0 + 20 * MIN, 10, 10), &h);
    feed(t, fx("car/w", T0 + 20 * MIN + 30 * SEC, 0, 10), &h);
    feed(t, fx("car/h", T0 + 21 * MIN, 500, 10), &h);
    assert_int_equal(s.n, 1);
    feed(t, fx("car/w", T0 + 21 * MIN + SEC, 0, 10), &h);
    assert_int_equal(s.n, 1);
    feed(t, fx("car/h", T0 + 21 * MIN + 30 * SEC, 500, 10), &h);
    assert_int_equal(s.n, 2);
    lw_trackers_free(t);
}

/* The accuracy sum wins over 300 m when larger. */
static void test_separation_accuracy_sum(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    /* 450 m apart, accuracies 250 + 250 = 500: within */
    for (int i = 0; i < 4; i++) {
        feed(t, fx("car/w", T0 + i * MIN, 0, 250), &h);
        feed(t, fx("car/h", T0 + i * MIN + SEC, 450, 250), &h);
    }
    assert_int_equal(s.n, 0);
    /* 600 m apart with the same accuracies: beyond */
    feed(t, fx("car/w", T0 + 10 * MIN, 0, 250), &h);
    feed(t, fx("car/h", T0 + 10 * MIN + SEC, 600, 250), &h);
    feed(t, fx("car/w", T0 + 11 * MIN, 0, 250), &h);
    feed(t, fx("car/h", T0 + 11 * MIN + SEC, 600, 250), &h);
    assert_int_equal(s.n, 1);
    lw_trackers_free(t);
}

/* Fixes more than 5 minutes apart are no pair, however far apart. */
static void test_separation_pair_window(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + 6 * MIN, 5000, 10), &h);
    feed(t, fx("car/w", T0 + 12 * MIN, 0, 10), &h);
    feed(t, fx("car/h", T0 + 18 * MIN, 5000, 10), &h);
    assert_int_equal(s.n, 0);
    /* within 5 minutes (exactly): a pair */
    feed(t, fx("car/w", T0 + 23 * MIN, 0, 10), &h);
    assert_int_equal(s.n, 0); /* one pair */
    feed(t, fx("car/h", T0 + 24 * MIN, 5000, 10), &h);
    assert_int_equal(s.n, 0); /* w's fix again */
    feed(t, fx("car/w", T0 + 24 * MIN + 30 * SEC, 0, 10), &h);
    assert_int_equal(s.n, 1); /* two in a row */
    lw_trackers_free(t);
}

/* Two consecutive pairs: apart, together, apart is no separation. */
static void test_separation_consecutive(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + SEC, 1000, 10), &h);     /* apart */
    feed(t, fx("car/w", T0 + MIN, 990, 10), &h);      /* together */
    feed(t, fx("car/h", T0 + 2 * MIN, 2000, 10), &h); /* apart */
    feed(t, fx("car/h", T0 + 2 * MIN, 5000, 10), &h); /* not newer: nothing */
    assert_int_equal(s.n, 0);
    feed(t, fx("car/w", T0 + 3 * MIN, 0, 10), &h); /* h's fix again: not
                                                      a second pair */
    assert_int_equal(s.n, 0);
    feed(t, fx("car/h", T0 + 3 * MIN + 30 * SEC, 2000, 10), &h); /* apart */
    assert_int_equal(s.n, 1);
    lw_trackers_free(t);
}

/* One tracker goes quiet 1 km away: the other's new fixes pair with its one
 * last fix, which is no second pair in a row. */
static void test_separation_quiet_one(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    feed(t, fx("car/h", T0, 1000, 10), &h);
    for (int i = 0; i < 5; i++)
        feed(t, fx("car/w", T0 + (i + 1) * 30 * SEC, 0, 10), &h);
    assert_int_equal(s.n, 0);
    lw_trackers_free(t);
}

/* Not watched: nothing, and nothing counted as raised (raised once it is
 * watched). */
static void test_separation_unwatched(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = false};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    for (int i = 0; i < 4; i++) {
        feed(t, fx("car/w", T0 + i * MIN, 0, 10), &h);
        feed(t, fx("car/h", T0 + i * MIN + SEC, 3000, 10), &h);
    }
    assert_int_equal(s.n, 0);
    s.watched = true;
    feed(t, fx("car/w", T0 + 4 * MIN, 0, 10), &h);
    feed(t, fx("car/h", T0 + 4 * MIN + SEC, 3000, 10), &h);
    assert_int_equal(s.n, 1);
    lw_trackers_free(t);
}

/* tracker_lost: silent past half its allowance (2 h: 1 h) while the other
 * reports and moves; once; re-armed when heard. */
static void test_lost_from_fix(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};

    (void)state;
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + 10 * SEC, 20, 10), &h);
    /* the wired one moves away 1 km, before the hidden one is half
     * silent: nothing */
    feed(t, fx("car/w", T0 + 50 * MIN, 1000, 10), &h);
    assert_int_equal(s.n, 0);
    /* past half: the next moving fix raises it */
    assert_int_equal(feed(t, fx("car/w", T0 + 61 * MIN, 1500, 10), &h), 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.a[0].kind, LW_ALERT_TRACKER_LOST);
    assert_string_equal(s.a[0].device, "car/h"); /* the silent one */
    assert_int_equal(s.a[0].fix.fix_time_ms, T0 + 10 * SEC);
    assert_string_equal(s.a[0].other.device, "car/w");
    assert_int_equal(s.a[0].other.fix.fix_time_ms, T0 + 61 * MIN);
    assert_true(fabs(s.a[0].other.distance_m - 1480.0) < 5.0);
    assert_int_equal(s.a[0].gap_ms, 61 * MIN - 10 * SEC);
    /* once */
    feed(t, fx("car/w", T0 + 70 * MIN, 3000, 10), &h);
    /* the next deadline: the wired one's half allowance */
    assert_int_equal(lw_trackers_tick(t, T0 + 71 * MIN, &h),
                     T0 + 70 * MIN + HOUR + 1);
    assert_int_equal(s.n, 1);
    /* heard again: re-armed */
    lw_trackers_heard(t, "car/h", T0 + 80 * MIN);
    assert_int_equal(lw_trackers_tick(t, T0 + 81 * MIN, &h),
                     T0 + 70 * MIN + HOUR + 1);
    assert_int_equal(s.n, 1);
    feed(t, fx("car/w", T0 + 141 * MIN, 4000, 10), &h);
    assert_int_equal(s.n, 2);
    lw_trackers_free(t);
}

/* From the tick; not while the other stays where the silent one was; not
 * when the other is silent too. */
static void test_lost_from_tick(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};
    int64_t next;

    (void)state;
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + 10 * SEC, 0, 10), &h);
    /* the wired one stays within 200 m: parked, not moving */
    feed(t, fx("car/w", T0 + 40 * MIN, 150, 10), &h);
    next = lw_trackers_tick(t, T0 + 45 * MIN, &h);
    assert_int_equal(next, T0 + 10 * SEC + HOUR + 1);
    assert_int_equal(lw_trackers_deadline(t, "car/w"), next);
    assert_int_equal(lw_trackers_deadline(t, "solo/1"), INT64_MAX);
    assert_int_equal(lw_trackers_tick(t, T0 + 62 * MIN, &h),
                     T0 + 40 * MIN + HOUR + 1);
    assert_int_equal(s.n, 0);
    /* it moved (at 50 min); at the tick after half: raised */
    feed(t, fx("car/w", T0 + 63 * MIN, 900, 10), &h);
    assert_int_equal(s.n, 1); /* from that fix already */
    lw_trackers_free(t);

    t = two();
    s = (struct seen){.watched = true};
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + 10 * SEC, 0, 10), &h);
    feed(t, fx("car/w", T0 + 30 * MIN, 900, 10), &h); /* moved early */
    assert_int_equal(s.n, 0);
    lw_trackers_tick(t, T0 + 62 * MIN, &h); /* h past half, w heard at 30 */
    assert_int_equal(s.n, 1);
    assert_string_equal(s.a[0].device, "car/h");
    lw_trackers_free(t);

    /* both silent: the other does not keep reporting */
    t = two();
    s = (struct seen){.watched = true};
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + 10 * SEC, 0, 10), &h);
    feed(t, fx("car/w", T0 + MIN, 900, 10), &h);
    lw_trackers_tick(t, T0 + 3 * HOUR, &h);
    assert_int_equal(s.n, 0);
    /* not watched: nothing */
    s.watched = false;
    feed(t, fx("car/w", T0 + 3 * HOUR, 2000, 10), &h);
    assert_int_equal(s.n, 0);
    lw_trackers_free(t);
}

/* A reload of the same grouping keeps what was raised; restored state
 * counts as raised; a device moved to another vehicle starts afresh. */
static void test_reload_and_restore(void **state)
{
    struct lw_trackers *t = two();
    struct seen s = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &s};
    struct lw_fix f;

    (void)state;
    feed(t, fx("car/w", T0, 0, 10), &h);
    feed(t, fx("car/h", T0 + SEC, 1000, 10), &h);
    feed(t, fx("car/w", T0 + MIN, 0, 10), &h);
    feed(t, fx("car/h", T0 + MIN + SEC, 1000, 10), &h);
    assert_int_equal(s.n, 1);
    assert_int_equal(lw_trackers_group_begin(t), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "car/h", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "car/w", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_add(t, 1, "car/x", 2 * HOUR), LW_OK);
    assert_int_equal(lw_trackers_group_end(t), LW_OK);
    feed(t, fx("car/h", T0 + 2 * MIN, 1000, 10), &h);
    feed(t, fx("car/w", T0 + 3 * MIN, 0, 10), &h);
    assert_int_equal(s.n, 1); /* kept: still apart, not again */

    /* a restart: restored fixes and an open separation raise nothing */
    lw_trackers_free(t);
    t = two();
    s.n = 0;
    f = fx("car/w", T0 + 3 * MIN, 0, 10);
    lw_trackers_restore(t, "car/w", &f, T0 + 3 * MIN, false);
    f = fx("car/h", T0 + 2 * MIN, 1000, 10);
    lw_trackers_restore(t, "car/h", &f, T0 + 2 * MIN, false);
    lw_trackers_restore_apart(t, "car/h", "car/w");
    feed(t, fx("car/h", T0 + 4 * MIN, 1000, 10), &h);
    feed(t, fx("car/w", T0 + 5 * MIN, 0, 10), &h);
    assert_int_equal(s.n, 0);
    lw_trackers_free(t);
}

/* Loading from a store: the grouping from the install records, each
 * device's newest fix, and an open separation (a restart raises nothing
 * again). */
static void test_load_from_store(void **state)
{
    struct lw_store *s = NULL;
    struct lw_trackers *t = NULL;
    struct seen sn = {.watched = true};
    struct lw_trackers_hooks h = {watched_cb, alert_cb, &sn};
    struct lw_install in;
    struct lw_alert a;
    enum lw_put_result r;
    struct lw_fix f;
    char err[256];

    (void)state;
    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    memset(&in, 0, sizeof(in));
    snprintf(in.device, sizeof(in.device), "car/w");
    assert_int_equal(lw_registry_attach(s, "VIN1", &in, T0, NULL), LW_OK);
    snprintf(in.device, sizeof(in.device), "car/h");
    assert_int_equal(lw_registry_attach(s, "VIN1", &in, T0, NULL), LW_OK);
    f = fx("car/w", T0 + MIN, 0, 10);
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    f = fx("car/h", T0 + MIN + SEC, 1000, 10);
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    memset(&a, 0, sizeof(a));
    a.kind = LW_ALERT_TRACKER_SEPARATION;
    snprintf(a.device, sizeof(a.device), "car/w");
    a.raised_ms = T0 + MIN;
    a.moved_m = NAN;
    lw_fix_init(&a.fix);
    snprintf(a.other.device, sizeof(a.other.device), "car/h");
    assert_int_equal(lw_registry_alert_add(s, &a, NULL), LW_OK);

    assert_int_equal(lw_trackers_new(&t), LW_OK);
    assert_int_equal(lw_trackers_load(t, s, 2 * HOUR), LW_OK);
    assert_true(lw_trackers_grouped(t, "car/w"));
    /* restored: the next pair apart is not new, nothing raised */
    feed(t, fx("car/w", T0 + 2 * MIN, 0, 10), &h);
    feed(t, fx("car/h", T0 + 2 * MIN + SEC, 1000, 10), &h);
    assert_int_equal(sn.n, 0);
    /* a reload keeps it too */
    assert_int_equal(lw_trackers_load(t, s, 2 * HOUR), LW_OK);
    feed(t, fx("car/w", T0 + 3 * MIN, 0, 10), &h);
    assert_int_equal(sn.n, 0);
    lw_trackers_free(t);
    lw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouping),
        cmocka_unit_test(test_separation_floor_and_twice),
        cmocka_unit_test(test_separation_accuracy_sum),
        cmocka_unit_test(test_separation_pair_window),
        cmocka_unit_test(test_separation_consecutive),
        cmocka_unit_test(test_separation_quiet_one),
        cmocka_unit_test(test_separation_unwatched),
        cmocka_unit_test(test_lost_from_fix),
        cmocka_unit_test(test_lost_from_tick),
        cmocka_unit_test(test_reload_and_restore),
        cmocka_unit_test(test_load_from_store),
    };

    return cmocka_run_group_tests_name("trackers", tests, NULL, NULL);
}
