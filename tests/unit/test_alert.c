/*
 * test_alert.c - unit tests for lib/alert.c, the alert state machine.
 *
 * Fences are built here, by hand: a keep_in square "home" of about
 * 2.2 km x 1.7 km around Porto (41.15 N, 8.61 W) and a keep_out circle
 * "port" of 300 m some 5 km north of it. Positions are placed by metres
 * from those (a local flat approximation, plenty at these distances), and
 * time is passed in: nothing here reads a clock.
 *
 * Each test gets a fresh engine (confirm 2 fixes, 50 m margin, 6 h offline,
 * watched from 1 day past due) with vehicle "v1" on overdue account "acc1",
 * and records every alert raised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "lienwatch/alert.h"
#include "lienwatch/fence.h"
#include "lienwatch/geo.h"

/* "Now" at the start of each test: 2026-11-23T12:00:00Z. */
#define T0 INT64_C(1795435200000)
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
/* Spacing of the fixes the tests send. */
#define STEP (10 * SEC)

/* Centre of the keep_in square "home" and its half size, degrees. */
#define HOME_LAT 41.15
#define HOME_LON (-8.61)
#define HOME_HALF_DEG 0.01
#define HOME_TAG 101
/* The keep_out circle "port": centre, radius, tag, dwell limit. */
#define PORT_LAT (HOME_LAT + 0.05)
#define PORT_LON HOME_LON
#define PORT_RADIUS_M 300.0
#define PORT_TAG 102
#define PORT_DWELL_MS (30 * MIN)

/* Engine settings of every test. */
#define CONFIRM 2
#define MARGIN_M 50.0
#define OFFLINE_MS (6 * HOUR)
#define WATCH_DPD 1
#define OVERDUE_DPD 30

/* A small LCG for repeatable jitter (Numerical Recipes constants): the
 * top 16 bits give 0..LCG_RANGE-1. */
#define LCG_A UINT32_C(1664525)
#define LCG_C UINT32_C(1013904223)
#define LCG_SHIFT 16
#define LCG_RANGE 65536.0

/* Alerts a test can record. */
#define MAX_ALERTS 64
/* Fleet size of the scale test. */
#define FLEET 100000
/* Room for a GeoJSON square. */
#define GEOJSON_MAX 512
/* Metres per degree of latitude on the lienwatch sphere. */
#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)

/* What a test works with. */
struct t {
    struct lw_fenceset *set;       /* home (id 0), port (id 1), maybe more */
    struct lw_engine *e;           /* the engine under test */
    struct lw_alert a[MAX_ALERTS]; /* alerts raised, in order */
    size_t n;                      /* alerts in a */
    bool count_only;               /* scale test: count, do not keep */
    int64_t dwell[8];              /* dwell limits by fence id */
    double jump_mps;               /* > 0: fixes are judged (jump_cfg) */
    struct {
        char device[LW_DEVICE_MAX + 1]; /* "" = free */
        struct lw_jump_state st;   /* its judge, as the ingester keeps it */
    } judges[4];                   /* stand in for the ingester */
};

/* lw_alert_cb: records the alert. */
static void on_alert(void *ctx, const struct lw_alert *a)
{
    struct t *t = ctx;

    if (t->count_only) {
        t->n++;
        return;
    }
    assert_true(t->n < MAX_ALERTS);
    t->a[t->n++] = *a;
}

/* Latitude d_m metres north of lat. */
static double north(double lat, double d_m)
{
    return lat + d_m / M_PER_DEG;
}

/* Longitude d_m metres east of lon at latitude lat. */
static double east(double lat, double lon, double d_m)
{
    return lon + d_m / (M_PER_DEG * cos(lat * M_PI / 180.0));
}

/* Latitude of home's north edge. */
#define HOME_NORTH (HOME_LAT + HOME_HALF_DEG)

/* Adds a square keep_in/out fence of half size half_deg; returns its id. */
static size_t add_square(struct lw_fenceset *set, const char *name, double lat,
                         double lon, double half_deg, enum lw_fence_kind kind,
                         int64_t tag)
{
    char js[GEOJSON_MAX];
    char err[128];
    size_t id = lw_fenceset_count(set);
    int len = snprintf(
        js, sizeof(js),
        "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[%.6f,%.6f],"
        "[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]]]}}",
        name, lon - half_deg, lat - half_deg, lon + half_deg, lat - half_deg,
        lon + half_deg, lat + half_deg, lon - half_deg, lat + half_deg,
        lon - half_deg, lat - half_deg);

    assert_true(len > 0 && (size_t)len < sizeof(js));
    assert_int_equal(lw_fenceset_add_geojson(set, js, (size_t)len, kind, NULL,
                                             err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_fence_set_tag(set, id, tag), LW_OK);
    return id;
}

/* Installs t's fences with links (may be NULL) and t->dwell. */
static void install(struct t *t, const struct lw_fence_link *links,
                    size_t nlinks)
{
    assert_int_equal(lw_fenceset_build_index(t->set), LW_OK);
    assert_int_equal(
        lw_engine_set_fences(t->e, t->set, links, nlinks, t->dwell), LW_OK);
}

/* Registers device on account at registered_ms with allowance (0 default). */
static void reg(struct t *t, const char *device, const char *account,
                int64_t offline_ms, int64_t registered_ms)
{
    struct lw_vehicle_reg r = {.offline_after_ms = offline_ms,
                               .registered_ms = registered_ms};

    snprintf(r.account, sizeof(r.account), "%s", account);
    assert_int_equal(lw_engine_set_vehicle(t->e, device, &r, registered_ms),
                     LW_OK);
}

/* A fix of device at (lat, lon), taken and received at time_ms. */
static struct lw_fix mkfix(const char *device, double lat, double lon,
                           int64_t time_ms, double accuracy_m)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", device);
    f.lat_deg = lat;
    f.lon_deg = lon;
    f.fix_time_ms = time_ms;
    f.recv_time_ms = time_ms;
    f.accuracy_m = accuracy_m;
    return f;
}

/*
 * Feeds a live fix f at now_ms. With t->jump_mps set, f is judged first
 * as the ingester judges it when it stores it (jump.h), and the engine gets
 * the verdict with the fix: the engine itself never judges.
 */
static void feed(struct t *t, const struct lw_fix *f, int64_t now_ms)
{
    struct lw_jump_ruling j = {0};
    size_t i;

    if (t->jump_mps > 0) {
        for (i = 0; i < sizeof(t->judges) / sizeof(t->judges[0]); i++) {
            if (!t->judges[i].device[0])
                snprintf(t->judges[i].device, sizeof(t->judges[i].device),
                         "%s", f->device);
            if (strcmp(t->judges[i].device, f->device) == 0)
                break;
        }
        assert_true(i < sizeof(t->judges) / sizeof(t->judges[0]));
        j.verdict = lw_jump_judge(&t->judges[i].st, f, t->jump_mps,
                                  LW_JUMP_MAX_ACCURACY_M, &j.info);
    }
    assert_int_equal(lw_engine_fix_judged(t->e, f, false, &j, now_ms), LW_OK);
}

/* Feeds a live fix taken and received at now_ms. */
static void fix_at(struct t *t, const char *device, double lat, double lon,
                   int64_t now_ms)
{
    struct lw_fix f = mkfix(device, lat, lon, now_ms, 10.0);

    feed(t, &f, now_ms);
}

/* Fresh fences and engine, "v1" registered at T0 on overdue "acc1". */
static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));
    struct lw_alert_cfg cfg = {CONFIRM, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};
    size_t id;
    char err[128];

    if (!t)
        return -1;
    t->set = lw_fenceset_new();
    assert_non_null(t->set);
    add_square(t->set, "home", HOME_LAT, HOME_LON, HOME_HALF_DEG,
               LW_FENCE_KEEP_IN, HOME_TAG);
    assert_int_equal(lw_fenceset_add_circle(t->set, "port", PORT_LAT, PORT_LON,
                                            PORT_RADIUS_M, LW_FENCE_KEEP_OUT,
                                            &id, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_fence_set_tag(t->set, id, PORT_TAG), LW_OK);
    t->dwell[id] = PORT_DWELL_MS;
    assert_int_equal(lw_engine_new(&t->e, &cfg, on_alert, t), LW_OK);
    install(t, NULL, 0);
    assert_int_equal(lw_engine_set_account(t->e, "acc1", OVERDUE_DPD, T0),
                     LW_OK);
    reg(t, "v1", "acc1", 0, T0);
    assert_true(lw_engine_watched(t->e, "v1"));
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    lw_engine_free(t->e);
    lw_fenceset_free(t->set);
    free(t);
    return 0;
}

/* Asserts alert i is of kind, about fence (NULL: none). */
static void expect(const struct t *t, size_t i, enum lw_alert_kind kind,
                   const char *fence)
{
    assert_true(i < t->n);
    assert_string_equal(lw_alert_kind_name(t->a[i].kind),
                        lw_alert_kind_name(kind));
    assert_string_equal(t->a[i].fence, fence ? fence : "");
}

/* ---- gps_jump: impossible jumps are kept aside --------------------- */

/* 300 km/h, as [ingest] max_speed_kmh's default. */
#define JUMP_MPS (300.0 / 3.6)
/* Where a spoofed fix puts the car: 100 km north, far outside home. */
#define SPOOF_LAT (HOME_LAT + 0.9)

/* Sets t's engine to confirm_fixes confirm, and its fixes judged at mps
 * (0: not judged). */
static void jump_cfg(struct t *t, int confirm, double mps)
{
    struct lw_alert_cfg cfg = {confirm, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};

    lw_engine_set_cfg(t->e, &cfg);
    t->jump_mps = mps;
}

/* Counts t's alerts of kind. */
static size_t count_kind(const struct t *t, enum lw_alert_kind kind)
{
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++)
        n += t->a[i].kind == kind;
    return n;
}

/* One spoofed fix, even with confirm_fixes 1, raises no geofence alert but
 * gps_jump with the suspect fix, the distance and the time; the car's
 * newest fix stays at home. Without the check the same fixes raise
 * geofence_exit (so the test can fail). */
static void test_jump_single_spoof(void **state)
{
    struct t *t = *state;
    int64_t now = T0;

    for (int pass = 0; pass < 2; pass++) {
        jump_cfg(t, 1, pass == 0 ? JUMP_MPS : 0);
        fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
        fix_at(t, "v1", SPOOF_LAT, HOME_LON, now += STEP);
        fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
        if (pass == 0) {
            assert_int_equal(t->n, 1);
            expect(t, 0, LW_ALERT_GPS_JUMP, NULL);
            assert_true(t->a[0].has_fix);
            assert_true(fabs(t->a[0].fix.lat_deg - SPOOF_LAT) < 1e-9);
            assert_true(fabs(t->a[0].moved_m - 0.9 * M_PER_DEG) < 1000);
            assert_int_equal(t->a[0].gap_ms, STEP);
        } else {
            /* the check off: the spoofed fix is a confirmed exit */
            assert_int_equal(count_kind(t, LW_ALERT_GEOFENCE_EXIT), 1);
        }
    }
}

/* At most one gps_jump per hour per vehicle; the next hour another. */
static void test_jump_hourly(void **state)
{
    struct t *t = *state;
    int64_t now = T0;

    jump_cfg(t, CONFIRM, JUMP_MPS);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    for (int i = 0; i < 5; i++) {
        fix_at(t, "v1", SPOOF_LAT, HOME_LON, now += STEP);
        fix_at(t, "v1", HOME_LAT, HOME_LON, now += 10 * MIN);
    }
    assert_int_equal(t->n, 1);
    now = T0 + HOUR + 2 * STEP;
    fix_at(t, "v1", SPOOF_LAT, HOME_LON, now);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GPS_JUMP, NULL);
    assert_int_equal(count_kind(t, LW_ALERT_GEOFENCE_EXIT), 0);
}

/* A jump confirmed by the next fix was real (a tow truck with the tracker
 * off): the suspect then counts, first, so the two fixes confirm the exit
 * with confirm_fixes 2. */
static void test_jump_confirmed(void **state)
{
    struct t *t = *state;
    int64_t now = T0;

    jump_cfg(t, CONFIRM, JUMP_MPS);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", SPOOF_LAT, HOME_LON, now += STEP);
    assert_int_equal(count_kind(t, LW_ALERT_GEOFENCE_EXIT), 0);
    fix_at(t, "v1", north(SPOOF_LAT, 200.0), HOME_LON, now += STEP);
    assert_int_equal(count_kind(t, LW_ALERT_GPS_JUMP), 1);
    assert_int_equal(count_kind(t, LW_ALERT_GEOFENCE_EXIT), 1);
    /* from there on the car is where the fixes say: no new jump */
    fix_at(t, "v1", north(SPOOF_LAT, 400.0), HOME_LON, now += STEP);
    assert_int_equal(count_kind(t, LW_ALERT_GPS_JUMP), 1);
}

/* Poor fixes (accuracy 100 m or worse, or unknown) are not judged; a
 * vehicle that is not watched gets no gps_jump, but its suspect fix is
 * kept aside all the same. */
static void test_jump_poor_or_unwatched(void **state)
{
    struct t *t = *state;
    int64_t now = T0;
    struct lw_fix f;

    jump_cfg(t, 1, JUMP_MPS);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    f = mkfix("v1", SPOOF_LAT, HOME_LON, now += STEP, 150.0);
    feed(t, &f, now);
    assert_int_equal(count_kind(t, LW_ALERT_GPS_JUMP), 0);
    assert_int_equal(count_kind(t, LW_ALERT_GEOFENCE_EXIT), 1);

    t->n = 0;
    reg(t, "v2", "", 0, T0);
    assert_false(lw_engine_watched(t->e, "v2"));
    fix_at(t, "v2", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v2", SPOOF_LAT, HOME_LON, now += STEP);
    assert_int_equal(t->n, 0);
    /* watched from now: the spoof is not the newest fix, so becoming
     * watched finds the car at home, inside: nothing to raise */
    reg(t, "v2", "acc1", 0, T0);
    assert_true(lw_engine_watched(t->e, "v2"));
    assert_int_equal(t->n, 0);
}

/* offline after fixes less accurate than 1 km for 10 min: jamming
 * suspected; for 9 min, or with a good fix last: not. */
static void test_offline_jamming(void **state)
{
    struct t *t = *state;
    int64_t now = T0;
    struct lw_fix f;

    for (int run = 0; run < 3; run++) {
        /* 9 min of degraded fixes (run 0), 10 min (run 1), 10 min then a
         * good one (run 2) */
        int minutes = run == 0 ? 9 : 10;

        t->n = 0;
        fix_at(t, "v1", HOME_LAT, HOME_LON, now += MIN);
        for (int i = 0; i <= minutes; i++) {
            f = mkfix("v1", HOME_LAT, HOME_LON, now += MIN, 2500.0);
            assert_int_equal(lw_engine_fix(t->e, &f, false, now), LW_OK);
        }
        if (run == 2)
            fix_at(t, "v1", HOME_LAT, HOME_LON, now += MIN);
        now += OFFLINE_MS + MIN;
        lw_engine_tick(t->e, NULL, now);
        assert_int_equal(count_kind(t, LW_ALERT_OFFLINE), 1);
        for (size_t i = 0; i < t->n; i++)
            if (t->a[i].kind == LW_ALERT_OFFLINE)
                assert_int_equal(t->a[i].jamming_suspected, run == 1);
        /* back online for the next run */
        fix_at(t, "v1", HOME_LAT, HOME_LON, now += MIN);
    }
}

/* parked_long: fixes within 200 m for 7 days raise it once; jitter and
 * a vague fix do not end the stay; a move starts a new one. */
static void test_parked_long(void **state)
{
    struct t *t = *state;
    struct lw_alert_cfg cfg = {CONFIRM,   MARGIN_M, 30 * 24 * HOUR,
                               WATCH_DPD, 0,        7 * 24 * HOUR};
    int64_t now = T0;
    struct lw_fix f;

    lw_engine_set_cfg(t->e, &cfg);
    /* a fix every 6 hours for 6 days 18 hours: not yet */
    for (int i = 0; i <= 27; i++)
        fix_at(t, "v1", north(HOME_LAT, i % 2 ? 150.0 : 0.0), HOME_LON,
               now = T0 + i * 6 * HOUR);
    f = mkfix("v1", north(HOME_LAT, 5000.0), HOME_LON, now += HOUR, 900.0);
    assert_int_equal(lw_engine_fix(t->e, &f, false, now), LW_OK);
    assert_int_equal(count_kind(t, LW_ALERT_PARKED_LONG), 0);
    /* 7 days after the first fix */
    fix_at(t, "v1", HOME_LAT, HOME_LON, now = T0 + 7 * 24 * HOUR);
    assert_int_equal(count_kind(t, LW_ALERT_PARKED_LONG), 1);
    expect(t, t->n - 1, LW_ALERT_PARKED_LONG, NULL);
    assert_int_equal(t->a[t->n - 1].gap_ms, 7 * 24 * HOUR);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += 24 * HOUR);
    assert_int_equal(count_kind(t, LW_ALERT_PARKED_LONG), 1);
    /* moved 1 km: a new stay, alerted again after 7 more days */
    fix_at(t, "v1", north(HOME_LAT, 1000.0), HOME_LON, now += HOUR);
    fix_at(t, "v1", north(HOME_LAT, 1000.0), HOME_LON,
           now += 7 * 24 * HOUR - MIN);
    assert_int_equal(count_kind(t, LW_ALERT_PARKED_LONG), 1);
    fix_at(t, "v1", north(HOME_LAT, 1000.0), HOME_LON, now += MIN);
    assert_int_equal(count_kind(t, LW_ALERT_PARKED_LONG), 2);
}

/* ---- geofence transitions -------------------------------------------- */

/* A car parked on home's north edge, GPS jitter +/-20 m, accuracy 10 m,
 * margin 50 m: every fix is ambiguous, nothing is raised. */
static void test_jitter_on_fence_line(void **state)
{
    struct t *t = *state;
    int64_t now = T0;

    for (int i = 0; i < 100; i++) {
        double lat = north(HOME_NORTH, i % 2 ? 20.0 : -20.0);

        now += STEP;
        fix_at(t, "v1", lat, HOME_LON, now);
        assert_int_equal(lw_engine_tick(t->e, NULL, now), now + OFFLINE_MS);
    }
    /* Noisier: a walk within 45 m of the line, often outside several fixes
     * in a row, each closer to the line than the 50 m margin. */
    for (uint32_t i = 0, r = 1; i < 100; i++) {
        double off_m;

        r = r * LCG_A + LCG_C;
        off_m = (double)(r >> LCG_SHIFT) / LCG_RANGE * 90.0 - 45.0;
        now += STEP;
        fix_at(t, "v1", north(HOME_NORTH, off_m), HOME_LON, now);
    }
    assert_int_equal(t->n, 0);
}

/* Two far-outside fixes confirm an exit: one alert, carrying the second
 * fix; staying outside raises nothing more. */
static void test_confirmed_exit_no_repeats(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);
    int64_t now = T0 + STEP;

    fix_at(t, "v1", HOME_LAT, HOME_LON, now);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 0);
    fix_at(t, "v1", out, east(out, HOME_LON, 30.0), now += STEP);
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_int_equal(t->a[0].fence_tag, HOME_TAG);
    assert_string_equal(t->a[0].device, "v1");
    assert_true(t->a[0].has_fix);
    assert_int_equal(t->a[0].fix.fix_time_ms, now);
    assert_int_equal(t->a[0].raised_ms, now);
    assert_false(t->a[0].late);
    for (int i = 0; i < 20; i++)
        fix_at(t, "v1", north(out, 10.0 * i), HOME_LON, now += STEP);
    assert_int_equal(t->n, 1);
}

/* One far-outside fix, then inside again: not confirmed, nothing. */
static void test_single_outside_fix(void **state)
{
    struct t *t = *state;
    int64_t now = T0;

    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", north(HOME_NORTH, 800.0), HOME_LON, now += STEP);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", north(HOME_NORTH, 800.0), HOME_LON, now += STEP);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    /* An ambiguous fix breaks a run too: far, near the line, far. */
    fix_at(t, "v1", north(HOME_NORTH, 800.0), HOME_LON, now += STEP);
    fix_at(t, "v1", north(HOME_NORTH, 30.0), HOME_LON, now += STEP);
    fix_at(t, "v1", north(HOME_NORTH, 800.0), HOME_LON, now += STEP);
    assert_int_equal(t->n, 0);
}

/* Exit, confirmed return, second exit: two alerts. A return of one fix
 * does not re-arm. */
static void test_return_rearms(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);
    int64_t now = T0;

    fix_at(t, "v1", out, HOME_LON, now += STEP);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 1);
    /* One fix back inside, then out again: still the same excursion. */
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 1);
    /* Confirmed return (two far-inside fixes), then out again. */
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    assert_int_equal(t->n, 1);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 1);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_int_equal(t->a[1].fix.fix_time_ms, now);
}

/* Entering the keep_out "port": one enter; dwell exactly max_dwell after
 * the first fix inside, by tick, once; leaving and coming back starts a
 * new stay. */
static void test_keep_out_enter_and_dwell(void **state)
{
    struct t *t = *state;
    int64_t now = T0;
    int64_t first;

    /* Outside home (exit alert), approaching the port. */
    fix_at(t, "v1", north(PORT_LAT, -1000.0), PORT_LON, now += STEP);
    fix_at(t, "v1", north(PORT_LAT, -1000.0), PORT_LON, now += STEP);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    first = now += STEP;
    fix_at(t, "v1", PORT_LAT, PORT_LON, first);
    fix_at(t, "v1", north(PORT_LAT, 50.0), PORT_LON, now += STEP);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GEOFENCE_ENTER, "port");
    assert_int_equal(t->a[1].fence_tag, PORT_TAG);
    assert_int_equal(lw_engine_deadline(t->e, "v1"), first + PORT_DWELL_MS);
    assert_int_equal(lw_engine_tick(t->e, NULL, first + PORT_DWELL_MS - 1),
                     first + PORT_DWELL_MS);
    assert_int_equal(t->n, 2);
    lw_engine_tick(t->e, NULL, first + PORT_DWELL_MS);
    assert_int_equal(t->n, 3);
    expect(t, 2, LW_ALERT_DWELL, "port");
    assert_int_equal(t->a[2].raised_ms, first + PORT_DWELL_MS);
    assert_true(t->a[2].has_fix);
    lw_engine_tick(t->e, NULL, first + PORT_DWELL_MS + MIN);
    fix_at(t, "v1", PORT_LAT, PORT_LON, first + PORT_DWELL_MS + 2 * MIN);
    assert_int_equal(t->n, 3);
    /* Leave (confirmed), come back: new enter, and a dwell raised by the
     * fix that finds the new stay over its limit. */
    now = first + PORT_DWELL_MS + 3 * MIN;
    fix_at(t, "v1", north(PORT_LAT, -1000.0), PORT_LON, now += STEP);
    fix_at(t, "v1", north(PORT_LAT, -1000.0), PORT_LON, now += STEP);
    first = now += STEP;
    fix_at(t, "v1", PORT_LAT, PORT_LON, first);
    fix_at(t, "v1", PORT_LAT, PORT_LON, now += STEP);
    assert_int_equal(t->n, 4);
    expect(t, 3, LW_ALERT_GEOFENCE_ENTER, "port");
    fix_at(t, "v1", PORT_LAT, PORT_LON, first + PORT_DWELL_MS);
    assert_int_equal(t->n, 5);
    expect(t, 4, LW_ALERT_DWELL, "port");
}

/* Late fixes never move state; a late excursion is reported once, with
 * late = true and its age. */
static void test_late_fixes(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);
    int64_t now = T0 + HOUR;
    struct lw_fix f;

    fix_at(t, "v1", HOME_LAT, HOME_LON, now);
    /* A backlog from half an hour ago: outside, four fixes. */
    for (int i = 0; i < 4; i++) {
        f = mkfix("v1", out, HOME_LON, T0 + 30 * MIN + i * STEP, 10.0);
        f.recv_time_ms = now + (i + 1) * SEC;
        assert_int_equal(lw_engine_fix(t->e, &f, true, f.recv_time_ms), LW_OK);
        assert_int_equal(t->n, i >= 1 ? 1 : 0);
    }
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_true(t->a[0].late);
    assert_int_equal(t->a[0].fix.fix_time_ms, T0 + 30 * MIN + STEP);
    assert_int_equal(t->a[0].age_ms, now + 2 * SEC - (T0 + 30 * MIN + STEP));
    /* The state did not move: one live fix outside does not confirm, and
     * a live fix inside is no return to report; two live outside do. */
    now += MIN;
    fix_at(t, "v1", out, HOME_LON, now);
    assert_int_equal(t->n, 1);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    fix_at(t, "v1", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_false(t->a[1].late);
    /* Late fixes while outside (confirmed) reveal nothing new. */
    f = mkfix("v1", out, HOME_LON, T0 + 40 * MIN, 10.0);
    assert_int_equal(lw_engine_fix(t->e, &f, true, now + SEC), LW_OK);
    f.fix_time_ms += STEP;
    assert_int_equal(lw_engine_fix(t->e, &f, true, now + 2 * SEC), LW_OK);
    assert_int_equal(t->n, 2);
}

/* A late fix never becomes the newest: the offline alert carries the
 * newest live fix; and a late fix counts as heard. */
static void test_late_fix_keeps_newest(void **state)
{
    struct t *t = *state;
    int64_t now = T0 + HOUR;
    struct lw_fix f;

    fix_at(t, "v1", HOME_LAT, HOME_LON, now);
    f = mkfix("v1", north(HOME_LAT, 100.0), HOME_LON, T0, 10.0);
    f.recv_time_ms = now + HOUR;
    /* Told "not late" by mistake: older than the newest, treated late. */
    assert_int_equal(lw_engine_fix(t->e, &f, false, now + HOUR), LW_OK);
    assert_int_equal(lw_engine_deadline(t->e, "v1"), now + HOUR + OFFLINE_MS);
    lw_engine_tick(t->e, NULL, now + HOUR + OFFLINE_MS);
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_OFFLINE, NULL);
    assert_int_equal(t->a[0].fix.fix_time_ms, now);
    assert_true(t->a[0].fix.lat_deg == HOME_LAT);
}

/* ---- offline and back online ----------------------------------------- */

/* Offline at exactly the deadline (not 1 ms before), once, with the last
 * fix; back_online with the gap and the distance moved. */
static void test_offline_and_back_online(void **state)
{
    struct t *t = *state;
    int64_t last = T0 + MIN;
    double moved_lat = north(HOME_LAT, 1000.0);

    fix_at(t, "v1", HOME_LAT, HOME_LON, T0 + 30 * SEC);
    fix_at(t, "v1", HOME_LAT, east(HOME_LAT, HOME_LON, 5.0), last);
    assert_int_equal(lw_engine_deadline(t->e, "v1"), last + OFFLINE_MS);
    assert_int_equal(lw_engine_tick(t->e, NULL, last + OFFLINE_MS - 1),
                     last + OFFLINE_MS);
    assert_int_equal(lw_engine_tick(t->e, "v1", last + OFFLINE_MS - 1),
                     last + OFFLINE_MS);
    assert_int_equal(t->n, 0);
    assert_int_equal(lw_engine_tick(t->e, NULL, last + OFFLINE_MS), INT64_MAX);
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_OFFLINE, NULL);
    assert_true(t->a[0].has_fix);
    assert_int_equal(t->a[0].fix.fix_time_ms, last);
    assert_string_equal(t->a[0].fix.device, "v1");
    assert_int_equal(t->a[0].gap_ms, OFFLINE_MS);
    assert_int_equal(t->a[0].raised_ms, last + OFFLINE_MS);
    lw_engine_tick(t->e, NULL, last + 2 * OFFLINE_MS);
    lw_engine_tick(t->e, "v1", last + 2 * OFFLINE_MS);
    assert_int_equal(t->n, 1);
    fix_at(t, "v1", moved_lat, HOME_LON, last + 8 * HOUR);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_BACK_ONLINE, NULL);
    assert_int_equal(t->a[1].gap_ms, 8 * HOUR);
    assert_true(fabs(t->a[1].moved_m - 1000.0) < 1.0);
    assert_true(t->a[1].has_fix);
    assert_true(t->a[1].fix.lat_deg == moved_lat);
    assert_false(t->a[1].late);
    fix_at(t, "v1", moved_lat, HOME_LON, last + 8 * HOUR + STEP);
    assert_int_equal(t->n, 2);
    assert_int_equal(lw_engine_deadline(t->e, "v1"),
                     last + 8 * HOUR + STEP + OFFLINE_MS);
}

/* A message without a position ends a silence too: no fix, no distance. */
static void test_back_online_by_message(void **state)
{
    struct t *t = *state;

    fix_at(t, "v1", HOME_LAT, HOME_LON, T0);
    lw_engine_tick(t->e, NULL, T0 + OFFLINE_MS);
    assert_int_equal(t->n, 1);
    assert_int_equal(lw_engine_heard(t->e, "v1", T0 + 7 * HOUR), LW_OK);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_BACK_ONLINE, NULL);
    assert_false(t->a[1].has_fix);
    assert_true(isnan(t->a[1].moved_m));
    assert_int_equal(t->a[1].gap_ms, 7 * HOUR);
    /* Heard moves the offline clock, not the newest fix. */
    assert_int_equal(lw_engine_deadline(t->e, "v1"), T0 + 13 * HOUR);
}

/* A message after the deadline, before the tick ran: offline, then
 * back_online. */
static void test_message_after_missed_tick(void **state)
{
    struct t *t = *state;

    fix_at(t, "v1", HOME_LAT, HOME_LON, T0);
    fix_at(t, "v1", HOME_LAT, HOME_LON, T0 + OFFLINE_MS + SEC);
    assert_int_equal(t->n, 2);
    expect(t, 0, LW_ALERT_OFFLINE, NULL);
    expect(t, 1, LW_ALERT_BACK_ONLINE, NULL);
}

/* Registered, never heard: offline measured from registration. */
static void test_never_heard(void **state)
{
    struct t *t = *state;
    int64_t reg_ms = T0 + HOUR;

    reg(t, "v3", "acc1", 0, reg_ms);
    assert_int_equal(lw_engine_deadline(t->e, "v3"), reg_ms + OFFLINE_MS);
    lw_engine_tick(t->e, NULL, reg_ms + OFFLINE_MS - 1);
    /* v1 (registered at T0, never heard either) went offline first. */
    assert_int_equal(t->n, 1);
    assert_string_equal(t->a[0].device, "v1");
    lw_engine_tick(t->e, NULL, reg_ms + OFFLINE_MS);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_OFFLINE, NULL);
    assert_string_equal(t->a[1].device, "v3");
    assert_false(t->a[1].has_fix);
    assert_int_equal(t->a[1].gap_ms, OFFLINE_MS);
}

/* A vehicle's own allowance overrides the default. */
static void test_vehicle_allowance(void **state)
{
    struct t *t = *state;

    reg(t, "v4", "acc1", 15 * MIN, T0);
    fix_at(t, "v4", HOME_LAT, HOME_LON, T0);
    fix_at(t, "v1", HOME_LAT, HOME_LON, T0);
    assert_int_equal(lw_engine_tick(t->e, NULL, T0 + 15 * MIN - 1),
                     T0 + 15 * MIN);
    assert_int_equal(lw_engine_tick(t->e, NULL, T0 + 15 * MIN),
                     T0 + OFFLINE_MS);
    assert_int_equal(t->n, 1);
    assert_string_equal(t->a[0].device, "v4");
    /* Changing it back to the default moves the deadline. */
    fix_at(t, "v4", HOME_LAT, HOME_LON, T0 + HOUR);
    reg(t, "v4", "acc1", 0, T0);
    assert_int_equal(lw_engine_deadline(t->e, "v4"), T0 + HOUR + OFFLINE_MS);
}

/* ---- watched or not --------------------------------------------------- */

/* Unwatched: state tracked, nothing raised. The account goes overdue while
 * the car is outside and silent: exit and offline, once, then; later only
 * what is new (back_online). */
static void test_watched_midway(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);
    int64_t now = T0;

    assert_int_equal(lw_engine_set_account(t->e, "acc2", 0, now), LW_OK);
    reg(t, "v2", "acc2", 0, now);
    assert_false(lw_engine_watched(t->e, "v2"));
    fix_at(t, "v2", HOME_LAT, HOME_LON, now += STEP);
    fix_at(t, "v2", out, HOME_LON, now += STEP);
    fix_at(t, "v2", out, HOME_LON, now += STEP);
    fix_at(t, "v2", out, HOME_LON, now += STEP);
    assert_int_equal(lw_engine_deadline(t->e, "v2"), INT64_MAX);
    fix_at(t, "v1", HOME_LAT, HOME_LON, now + 7 * HOUR);
    lw_engine_tick(t->e, NULL, now + 7 * HOUR);
    /* v1 was registered at T0 and first heard 7 h later: its silence. */
    assert_int_equal(t->n, 2);
    t->n = 0;
    now += 7 * HOUR;
    assert_int_equal(lw_engine_set_account(t->e, "acc2", 3, now), LW_OK);
    assert_true(lw_engine_watched(t->e, "v2"));
    assert_int_equal(t->n, 2);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_string_equal(t->a[0].device, "v2");
    assert_int_equal(t->a[0].raised_ms, now);
    assert_int_equal(t->a[0].fix.fix_time_ms, now - 7 * HOUR);
    expect(t, 1, LW_ALERT_OFFLINE, NULL);
    assert_int_equal(t->a[1].gap_ms, 7 * HOUR);
    /* Not again: another update, ticks, more fixes outside. */
    assert_int_equal(lw_engine_set_account(t->e, "acc2", 4, now), LW_OK);
    lw_engine_tick(t->e, NULL, now + MIN);
    assert_int_equal(t->n, 2);
    fix_at(t, "v2", out, HOME_LON, now += 2 * MIN);
    fix_at(t, "v2", out, HOME_LON, now += STEP);
    assert_int_equal(t->n, 3);
    expect(t, 2, LW_ALERT_BACK_ONLINE, NULL);
    /* Paid up, then overdue again while still outside: raised again. */
    assert_int_equal(lw_engine_set_account(t->e, "acc2", 0, now), LW_OK);
    assert_false(lw_engine_watched(t->e, "v2"));
    assert_int_equal(lw_engine_set_account(t->e, "acc2", 1, now), LW_OK);
    assert_int_equal(t->n, 4);
    expect(t, 3, LW_ALERT_GEOFENCE_EXIT, "home");
}

/* Registering a device makes it watched: same once-at-that-moment rule;
 * unknown accounts and unregistered devices are never watched. */
static void test_watched_by_registration(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);

    fix_at(t, "v5", out, HOME_LON, T0);
    fix_at(t, "v5", out, HOME_LON, T0 + STEP);
    reg(t, "v5", "nobody-knows", 0, T0 + MIN);
    assert_false(lw_engine_watched(t->e, "v5"));
    assert_int_equal(t->n, 0);
    reg(t, "v5", "acc1", 0, T0 + 2 * MIN);
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    lw_engine_unset_vehicle(t->e, "v5", T0 + 3 * MIN);
    assert_false(lw_engine_watched(t->e, "v5"));
    assert_int_equal(lw_engine_devices(t->e), 2);
}

/* Restored at start-up with an open offline alert: not raised again; the
 * next message is back_online. */
static void test_restore(void **state)
{
    struct t *t = *state;
    struct lw_fix f = mkfix("ignored", HOME_LAT, HOME_LON, T0 - HOUR, 5.0);
    struct lw_alert_cfg cfg = {CONFIRM, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};
    struct lw_engine *e2;

    assert_int_equal(lw_engine_new(&e2, &cfg, on_alert, t), LW_OK);
    assert_int_equal(lw_engine_restore(e2, "v9", T0 - HOUR, &f, true), LW_OK);
    assert_int_equal(lw_engine_set_account(e2, "acc9", 5, T0), LW_OK);
    {
        struct lw_vehicle_reg r = {.account = "acc9",
                                   .registered_ms = T0 - 2 * HOUR};

        assert_int_equal(lw_engine_set_vehicle(e2, "v9", &r, T0), LW_OK);
    }
    assert_true(lw_engine_watched(e2, "v9"));
    lw_engine_tick(e2, NULL, T0 + 10 * HOUR);
    assert_int_equal(t->n, 0);
    f = mkfix("v9", north(HOME_LAT, 200.0), HOME_LON, T0 + 11 * HOUR, 5.0);
    assert_int_equal(lw_engine_fix(e2, &f, false, T0 + 11 * HOUR), LW_OK);
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_BACK_ONLINE, NULL);
    assert_int_equal(t->a[0].gap_ms, 12 * HOUR);
    assert_true(fabs(t->a[0].moved_m - 200.0) < 0.5);
    /* Restored without an open alert: offline due from last heard. */
    assert_int_equal(lw_engine_restore(e2, "v8", T0, NULL, false), LW_OK);
    assert_int_equal(lw_engine_deadline(e2, "v8"), INT64_MAX);
    assert_int_equal(lw_engine_restore(e2, "", T0, NULL, false), LW_ERR_INVAL);
    lw_engine_free(e2);
}

/* An open geofence alert restored at start-up: the vehicle still outside
 * raises nothing new; a confirmed return re-arms as usual. */
static void test_restore_fence(void **state)
{
    struct t *t = *state;
    struct lw_alert_cfg cfg = {CONFIRM, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};
    struct lw_vehicle_reg r = {.account = "acc1", .registered_ms = T0};
    double out = north(HOME_NORTH, 500.0);
    struct lw_engine *e2;
    struct lw_fix f;
    int64_t now = T0 + HOUR;

    assert_int_equal(lw_engine_new(&e2, &cfg, on_alert, t), LW_OK);
    assert_int_equal(lw_engine_set_fences(e2, t->set, NULL, 0, t->dwell),
                     LW_OK);
    f = mkfix("v1", out, HOME_LON, T0, 10.0);
    assert_int_equal(lw_engine_restore(e2, "v1", T0, &f, false), LW_OK);
    assert_int_equal(lw_engine_restore_fence(e2, "v1", HOME_TAG, T0, false),
                     LW_OK);
    assert_int_equal(lw_engine_restore_fence(e2, "v1", 999, T0, false),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_engine_set_vehicle(e2, "v1", &r, now), LW_OK);
    assert_int_equal(lw_engine_set_account(e2, "acc1", OVERDUE_DPD, now),
                     LW_OK);
    for (int i = 0; i < 5; i++) {
        f = mkfix("v1", out, HOME_LON, now += STEP, 10.0);
        assert_int_equal(lw_engine_fix(e2, &f, false, now), LW_OK);
    }
    assert_int_equal(t->n, 0);
    for (int i = 0; i < 2; i++) {
        f = mkfix("v1", HOME_LAT, HOME_LON, now += STEP, 10.0);
        assert_int_equal(lw_engine_fix(e2, &f, false, now), LW_OK);
    }
    for (int i = 0; i < 2; i++) {
        f = mkfix("v1", out, HOME_LON, now += STEP, 10.0);
        assert_int_equal(lw_engine_fix(e2, &f, false, now), LW_OK);
    }
    assert_int_equal(t->n, 1);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    lw_engine_free(e2);
}

/* ---- triggers --------------------------------------------------------- */

/* power_cut / tow / low_battery: one per run of the same trigger. */
static void test_triggers(void **state)
{
    struct t *t = *state;
    const char seq[] = "eeepe!!9\0009e";
    static const enum lw_alert_kind want[] = {
        LW_ALERT_POWER_CUT,   LW_ALERT_POWER_CUT,   LW_ALERT_TOW,
        LW_ALERT_LOW_BATTERY, LW_ALERT_LOW_BATTERY, LW_ALERT_POWER_CUT};
    int64_t now = T0;

    for (size_t i = 0; i < sizeof(seq) - 1; i++) {
        struct lw_fix f = mkfix("v1", HOME_LAT, HOME_LON, now += STEP, 5.0);

        f.trigger = seq[i];
        assert_int_equal(lw_engine_fix(t->e, &f, false, now), LW_OK);
    }
    assert_int_equal(t->n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < t->n; i++) {
        expect(t, i, want[i], NULL);
        assert_true(t->a[i].has_fix);
    }
}

/* ---- fence links ------------------------------------------------------ */

/* A fence linked to device A does not apply to B; one linked to an account
 * applies to its vehicles only; one linked twice to a vehicle (by device
 * and by account) still counts each fix once. */
static void test_links(void **state)
{
    struct t *t = *state;
    double lat = HOME_LAT - 0.3, lon = HOME_LON; /* outside home too */
    struct lw_fence_link links[3] = {{.fence_tag = 201, .device = "vA"},
                                     {.fence_tag = 202, .account = "accB"},
                                     {.fence_tag = 201, .account = "acc1"}};

    /* Two keep_in squares far south of home, each linked to someone. */
    add_square(t->set, "yard-A", lat, lon, HOME_HALF_DEG, LW_FENCE_KEEP_IN,
               201);
    add_square(t->set, "yard-B", lat, lon, HOME_HALF_DEG, LW_FENCE_KEEP_IN,
               202);
    install(t, links, 3);
    assert_int_equal(lw_engine_set_account(t->e, "accB", 10, T0), LW_OK);
    reg(t, "vA", "acc1", 0, T0);
    reg(t, "vB", "accB", 0, T0);
    reg(t, "vC", "acc1", 0, T0);
    /* In the yards: only home is left (by all three). */
    for (int i = 1; i <= 2; i++) {
        fix_at(t, "vA", lat, lon, T0 + i * STEP);
        fix_at(t, "vB", lat, lon, T0 + i * STEP);
        fix_at(t, "vC", lat, lon, T0 + i * STEP);
    }
    assert_int_equal(t->n, 3);
    for (size_t i = 0; i < 3; i++)
        expect(t, i, LW_ALERT_GEOFENCE_EXIT, "home");
    /* Back home: each leaves its yard (vC through acc1); one fix is not
     * enough, though vA has yard-A twice. */
    t->n = 0;
    for (int i = 3; i <= 4; i++) {
        fix_at(t, "vA", HOME_LAT, HOME_LON, T0 + i * STEP);
        fix_at(t, "vB", HOME_LAT, HOME_LON, T0 + i * STEP);
        fix_at(t, "vC", HOME_LAT, HOME_LON, T0 + i * STEP);
        if (i == 3)
            assert_int_equal(t->n, 0);
    }
    assert_int_equal(t->n, 3);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "yard-A");
    assert_string_equal(t->a[0].device, "vA");
    expect(t, 1, LW_ALERT_GEOFENCE_EXIT, "yard-B");
    assert_string_equal(t->a[1].device, "vB");
    expect(t, 2, LW_ALERT_GEOFENCE_EXIT, "yard-A");
    assert_string_equal(t->a[2].device, "vC");
    /* Moving vB to another account drops its yard-B state: re-linking it
     * later starts from the good side, nothing stale is raised. */
    reg(t, "vB", "acc1", 0, T0 + HOUR);
    reg(t, "vB", "accB", 0, T0 + HOUR);
    assert_int_equal(t->n, 3);
}

/* A keep_out fence linked to an account: its vehicles alone are alerted
 * and timed; a vehicle moved to another account loses the fence, its stay
 * and the dwell deadline with it. */
static void test_links_keep_out(void **state)
{
    struct t *t = *state;
    double lat = HOME_LAT - 0.3, lon = HOME_LON;
    struct lw_fence_link link = {.fence_tag = 301, .account = "accB"};
    size_t id;

    assert_int_equal(lw_fenceset_add_circle(t->set, "depot", lat, lon,
                                            PORT_RADIUS_M, LW_FENCE_KEEP_OUT,
                                            &id, NULL, 0),
                     LW_OK);
    assert_int_equal(lw_fence_set_tag(t->set, id, 301), LW_OK);
    t->dwell[id] = PORT_DWELL_MS;
    install(t, &link, 1);
    assert_int_equal(lw_engine_set_account(t->e, "accB", 10, T0), LW_OK);
    reg(t, "vB", "accB", 0, T0);
    fix_at(t, "v1", lat, lon, T0 + STEP);
    fix_at(t, "vB", lat, lon, T0 + STEP);
    fix_at(t, "v1", lat, lon, T0 + 2 * STEP);
    fix_at(t, "vB", lat, lon, T0 + 2 * STEP);
    /* Both left home; only vB entered the depot (keep_out fences are
     * evaluated first). */
    assert_int_equal(t->n, 3);
    expect(t, 0, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_string_equal(t->a[0].device, "v1");
    expect(t, 1, LW_ALERT_GEOFENCE_ENTER, "depot");
    assert_string_equal(t->a[1].device, "vB");
    expect(t, 2, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_int_equal(lw_engine_deadline(t->e, "vB"), T0 + STEP + PORT_DWELL_MS);
    reg(t, "vB", "acc1", 0, T0 + MIN);
    assert_int_equal(lw_engine_deadline(t->e, "vB"),
                     T0 + 2 * STEP + OFFLINE_MS);
    lw_engine_tick(t->e, NULL, T0 + HOUR);
    assert_int_equal(t->n, 3);
}

/* Fence reloads: state survives when tags are kept; duplicate tags and bad
 * links are refused and the old fences stay. */
static void test_set_fences(void **state)
{
    struct t *t = *state;
    double out = north(HOME_NORTH, 500.0);
    struct lw_fence_link bad = {.fence_tag = HOME_TAG};

    fix_at(t, "v1", out, HOME_LON, T0);
    fix_at(t, "v1", out, HOME_LON, T0 + STEP);
    assert_int_equal(t->n, 1);
    install(t, NULL, 0);
    fix_at(t, "v1", out, HOME_LON, T0 + 2 * STEP);
    fix_at(t, "v1", out, HOME_LON, T0 + 3 * STEP);
    assert_int_equal(t->n, 1);
    assert_int_equal(lw_engine_set_fences(t->e, t->set, &bad, 1, NULL),
                     LW_ERR_INVAL);
    add_square(t->set, "dup", HOME_LAT, HOME_LON, 1.0, LW_FENCE_KEEP_IN,
               HOME_TAG);
    assert_int_equal(lw_engine_set_fences(t->e, t->set, NULL, 0, NULL),
                     LW_ERR_INVAL);
    fix_at(t, "v1", out, HOME_LON, T0 + 4 * STEP);
    assert_int_equal(t->n, 1);
    /* No fences: states go; fences back: the car is assumed home, and
     * being outside is confirmed (and alerted) again. */
    assert_int_equal(lw_engine_set_fences(t->e, NULL, NULL, 0, NULL), LW_OK);
    fix_at(t, "v1", out, HOME_LON, T0 + 5 * STEP);
    assert_int_equal(lw_fence_set_tag(t->set, 2, 999), LW_OK);
    install(t, NULL, 0);
    fix_at(t, "v1", out, HOME_LON, T0 + 6 * STEP);
    fix_at(t, "v1", out, HOME_LON, T0 + 7 * STEP);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GEOFENCE_EXIT, "home");
}

/* ---- settings --------------------------------------------------------- */

/* confirm_fixes 3 needs three fixes; a higher watch threshold unwatches at
 * once; lowering it again raises at the next tick. Bad settings are
 * ignored. */
static void test_cfg_change(void **state)
{
    struct t *t = *state;
    struct lw_alert_cfg cfg = {3, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};
    struct lw_alert_cfg bad = {0, MARGIN_M, OFFLINE_MS, WATCH_DPD, 0, 0};
    double out = north(HOME_NORTH, 500.0);

    lw_engine_set_cfg(t->e, &cfg);
    lw_engine_set_cfg(t->e, &bad);
    fix_at(t, "v1", out, HOME_LON, T0 + STEP);
    fix_at(t, "v1", out, HOME_LON, T0 + 2 * STEP);
    assert_int_equal(t->n, 0);
    fix_at(t, "v1", out, HOME_LON, T0 + 3 * STEP);
    assert_int_equal(t->n, 1);
    cfg.watch_days_past_due = 60;
    lw_engine_set_cfg(t->e, &cfg);
    assert_false(lw_engine_watched(t->e, "v1"));
    assert_int_equal(lw_engine_deadline(t->e, "v1"), INT64_MAX);
    /* The margin is now 600 m: 500 m out is ambiguous. */
    cfg.watch_days_past_due = WATCH_DPD;
    cfg.fence_margin_m = 600.0;
    lw_engine_set_cfg(t->e, &cfg);
    assert_true(lw_engine_watched(t->e, "v1"));
    assert_int_equal(lw_engine_deadline(t->e, "v1"), INT64_MIN);
    assert_int_equal(lw_engine_tick(t->e, NULL, T0 + HOUR),
                     T0 + 3 * STEP + OFFLINE_MS);
    assert_int_equal(t->n, 2);
    expect(t, 1, LW_ALERT_GEOFENCE_EXIT, "home");
    assert_int_equal(t->a[1].raised_ms, T0 + HOUR);
    for (int i = 0; i < 3; i++)
        fix_at(t, "v1", HOME_LAT, HOME_LON, T0 + HOUR + i * STEP);
    for (int i = 3; i < 6; i++)
        fix_at(t, "v1", out, HOME_LON, T0 + HOUR + i * STEP);
    assert_int_equal(t->n, 2);
}

/* ---- API edges -------------------------------------------------------- */

static void test_api_edges(void **state)
{
    struct t *t = *state;
    struct lw_alert_cfg cfg = {CONFIRM, MARGIN_M, 0, WATCH_DPD, 0, 0};
    struct lw_engine *e2 = NULL;
    struct lw_fix f = mkfix("v1", 91.0, 0.0, T0, 1.0);
    enum lw_alert_kind k;

    assert_int_equal(lw_engine_new(&e2, &cfg, on_alert, t), LW_ERR_INVAL);
    assert_null(e2);
    lw_engine_free(NULL);
    assert_int_equal(lw_engine_fix(t->e, &f, false, T0), LW_ERR_RANGE);
    f.lat_deg = 0.0;
    f.device[0] = '\0';
    assert_int_equal(lw_engine_fix(t->e, &f, false, T0), LW_ERR_INVAL);
    assert_int_equal(lw_engine_heard(t->e, NULL, T0), LW_ERR_INVAL);
    assert_int_equal(lw_engine_set_account(t->e, "", 1, T0), LW_ERR_INVAL);
    assert_int_equal(lw_engine_tick(t->e, "nobody", T0), INT64_MAX);
    assert_int_equal(lw_engine_deadline(t->e, "nobody"), INT64_MAX);
    assert_false(lw_engine_watched(t->e, "nobody"));
    lw_engine_unset_vehicle(t->e, "nobody", T0);
    for (int i = LW_ALERT_GEOFENCE_EXIT; i < LW_ALERT_KIND_COUNT_; i++) {
        assert_int_equal(
            lw_alert_kind_parse(lw_alert_kind_name((enum lw_alert_kind)i), &k),
            LW_OK);
        assert_int_equal(k, i);
    }
    assert_string_equal(lw_alert_kind_name(LW_ALERT_KIND_COUNT_), "unknown");
    assert_int_equal(lw_alert_kind_parse("dwelling", &k), LW_ERR_INVAL);
    assert_string_equal(lw_alert_kind_name(LW_ALERT_BACK_ONLINE),
                        "back_online");
}

/* ---- scale ------------------------------------------------------------ */

/* Bytes the allocator has handed out now (0 when it cannot say). */
static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    return mallinfo2().uordblks;
#else
    return 0;
#endif
}

/* 100,000 vehicles, each registered on its own account (one in ten
 * overdue) and sending a fix: all tracked. Memory per vehicle is printed
 * for information; nothing here is timed. */
static void test_fleet(void **state)
{
    struct t *t = *state;
    size_t before, after;
    char dev[32], acct[32];

    t->count_only = true;
    t->n = 0;
    before = heap_in_use();
    for (int i = 0; i < FLEET; i++) {
        struct lw_vehicle_reg r = {.registered_ms = T0};
        struct lw_fix f;

        snprintf(dev, sizeof(dev), "fleet/%06d", i);
        snprintf(acct, sizeof(acct), "L%06d", i);
        snprintf(r.account, sizeof(r.account), "%s", acct);
        assert_int_equal(
            lw_engine_set_account(t->e, acct, i % 10 == 0 ? 40 : 0, T0), LW_OK);
        assert_int_equal(lw_engine_set_vehicle(t->e, dev, &r, T0), LW_OK);
        f = mkfix(dev, north(HOME_LAT, (double)(i % 1000)),
                  east(HOME_LAT, HOME_LON, (double)(i % 700)), T0 + SEC, 8.0);
        assert_int_equal(lw_engine_fix(t->e, &f, false, T0 + SEC), LW_OK);
    }
    after = heap_in_use();
    assert_int_equal(lw_engine_devices(t->e), FLEET + 1);
    assert_int_equal(t->n, 0);
    assert_int_equal(lw_engine_tick(t->e, NULL, T0 + 2 * SEC), T0 + OFFLINE_MS);
    assert_int_equal(lw_engine_tick(t->e, NULL, T0 + SEC + OFFLINE_MS),
                     INT64_MAX);
    /* v1 (never heard) and the overdue tenth of the fleet. */
    assert_int_equal(t->n, 1 + FLEET / 10);
    if (after > before)
        print_message("test_alert: ~%zu bytes per vehicle (device, its "
                      "account, tables, heap; %d vehicles)\n",
                      (after - before) / FLEET, FLEET);
    else
        print_message("test_alert: heap use not measurable here\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jitter_on_fence_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_confirmed_exit_no_repeats, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jump_single_spoof, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jump_hourly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jump_confirmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jump_poor_or_unwatched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offline_jamming, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_parked_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_outside_fix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_return_rearms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_out_enter_and_dwell, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_late_fixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_fix_keeps_newest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offline_and_back_online, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_back_online_by_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_message_after_missed_tick, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_never_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vehicle_allowance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_watched_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watched_by_registration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_keep_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_fences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cfg_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
