/*
 * test_spill.c - unit tests for lib/spill.c: records read back bit for
 * bit, in order; the file is 0600 and appears whole or not at all; damaged,
 * truncated and foreign files are refused with their line, before any
 * record is handed out.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lienwatch/spill.h"
#include "lienwatch/text.h"

struct fx {
    char dir[64];   /* temporary directory */
    char path[128]; /* the spill file in it */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/lw-spill.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/db.spill", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char tmp[160];

    unlink(f->path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    unlink(tmp);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The records every round trip writes: each kind, known and unknown
 * optional fields, values that need all 17 digits. */
static void sample(struct lw_spill_rec r[4])
{
    memset(r, 0, 4 * sizeof(*r));
    r[0].kind = LW_SPILL_ALERT;
    r[0].alert.kind = LW_ALERT_GEOFENCE_EXIT;
    lw_copy(r[0].alert.device, sizeof(r[0].alert.device), "alice/phone");
    lw_copy(r[0].alert.fence, sizeof(r[0].alert.fence), "home \"yard\"");
    r[0].alert.fence_tag = 7;
    r[0].alert.raised_ms = 1700000000123;
    r[0].alert.late = true;
    r[0].alert.age_ms = 5000;
    r[0].alert.gap_ms = 0;
    r[0].alert.moved_m = NAN;
    r[0].alert.has_fix = true;
    lw_fix_init(&r[0].alert.fix);
    lw_copy(r[0].alert.fix.device, sizeof(r[0].alert.fix.device),
            "alice/phone");
    r[0].alert.fix.fix_time_ms = 1700000000000;
    r[0].alert.fix.recv_time_ms = 1700000000100;
    r[0].alert.fix.lat_deg = 41.123456789012345;
    r[0].alert.fix.lon_deg = -8.6109876543210987;
    r[1].kind = LW_SPILL_ACCOUNT;
    lw_copy(r[1].account.account, sizeof(r[1].account.account), "L-1");
    lw_copy(r[1].account.status, sizeof(r[1].account.status), "overdue");
    r[1].account.days_past_due = 45;
    r[1].updated_ms = 1700000000200;
    r[2].kind = LW_SPILL_FIX;
    lw_fix_init(&r[2].fix);
    lw_copy(r[2].fix.device, sizeof(r[2].fix.device), "truck7");
    r[2].fix.fix_time_ms = 1700000001000;
    r[2].fix.recv_time_ms = 1700000001050;
    r[2].fix.lat_deg = 0.1 + 0.2;
    r[2].fix.lon_deg = -179.99999999999997;
    r[2].fix.speed_mps = 13.37;
    r[2].fix.course_deg = 359.9;
    r[2].fix.accuracy_m = 4.5;
    r[2].fix.alt_m = -12.25;
    r[2].fix.battery_pct = 0;
    r[2].fix.trigger = 'p';
    r[3].kind = LW_SPILL_HEARD;
    lw_fix_init(&r[3].fix);
    lw_copy(r[3].fix.device, sizeof(r[3].fix.device), "truck7");
    r[3].fix.recv_time_ms = 1700000002000;
}

static void write_all(const char *path, const struct lw_spill_rec *r, size_t n)
{
    struct lw_spill *sp;
    char err[256] = "";

    assert_int_equal(lw_spill_create(&sp, path, err, sizeof(err)), LW_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lw_spill_add(sp, &r[i]), LW_OK);
    assert_int_equal(lw_spill_commit(sp, err, sizeof(err)), LW_OK);
}

struct got {
    struct lw_spill_rec r[8]; /* records read */
    size_t n;                 /* how many */
};

static int take(void *ctx, const struct lw_spill_rec *r)
{
    struct got *g = ctx;

    assert_true(g->n < 8);
    g->r[g->n++] = *r;
    return 0;
}

/* NAN == NAN for the comparison of unknown fields. */
static void same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        assert_true(isnan(a) && isnan(b));
    else
        assert_memory_equal(&a, &b, sizeof(a));
}

static void same_fix(const struct lw_fix *a, const struct lw_fix *b)
{
    assert_string_equal(a->device, b->device);
    assert_int_equal(a->fix_time_ms, b->fix_time_ms);
    assert_int_equal(a->recv_time_ms, b->recv_time_ms);
    same_double(a->lat_deg, b->lat_deg);
    same_double(a->lon_deg, b->lon_deg);
    same_double(a->speed_mps, b->speed_mps);
    same_double(a->course_deg, b->course_deg);
    same_double(a->accuracy_m, b->accuracy_m);
    same_double(a->alt_m, b->alt_m);
    assert_int_equal(a->battery_pct, b->battery_pct);
    assert_int_equal(a->trigger, b->trigger);
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct lw_spill_rec r[4];
    struct got g = {0};
    struct stat sb;
    char err[256] = "";

    sample(r);
    write_all(f->path, r, 4);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(lw_spill_read(f->path, take, &g, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(g.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(g.r[i].kind, r[i].kind);
    assert_int_equal(g.r[0].alert.kind, LW_ALERT_GEOFENCE_EXIT);
    assert_string_equal(g.r[0].alert.device, "alice/phone");
    assert_string_equal(g.r[0].alert.fence, "home \"yard\"");
    assert_int_equal(g.r[0].alert.fence_tag, 7);
    assert_int_equal(g.r[0].alert.raised_ms, 1700000000123);
    assert_true(g.r[0].alert.late);
    assert_int_equal(g.r[0].alert.age_ms, 5000);
    same_double(g.r[0].alert.moved_m, NAN);
    assert_true(g.r[0].alert.has_fix);
    same_fix(&g.r[0].alert.fix, &r[0].alert.fix);
    assert_string_equal(g.r[1].account.account, "L-1");
    assert_string_equal(g.r[1].account.status, "overdue");
    assert_int_equal(g.r[1].account.days_past_due, 45);
    assert_int_equal(g.r[1].updated_ms, 1700000000200);
    same_fix(&g.r[2].fix, &r[2].fix);
    assert_string_equal(g.r[3].fix.device, "truck7");
    assert_int_equal(g.r[3].fix.recv_time_ms, 1700000002000);
}

/* A tracker_separation keeps the vehicle's other tracker and its fix. */
static void test_other_tracker(void **state)
{
    struct fx *f = *state;
    struct lw_spill_rec r[4];
    struct got g = {0};
    char err[256] = "";

    sample(r); /* the alert only is written */
    r[0].alert.kind = LW_ALERT_TRACKER_SEPARATION;
    lw_copy(r[0].alert.other.device, sizeof(r[0].alert.other.device),
            "alice/hidden");
    r[0].alert.other.has_fix = true;
    lw_fix_init(&r[0].alert.other.fix);
    lw_copy(r[0].alert.other.fix.device, sizeof(r[0].alert.other.fix.device),
            "alice/hidden");
    r[0].alert.other.fix.fix_time_ms = 1700000000050;
    r[0].alert.other.fix.lat_deg = 41.2;
    r[0].alert.other.fix.lon_deg = -8.6;
    r[0].alert.other.fix.accuracy_m = 12.5;
    r[0].alert.other.distance_m = 1234.5;
    write_all(f->path, r, 1);
    assert_int_equal(lw_spill_read(f->path, take, &g, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.r[0].alert.kind, LW_ALERT_TRACKER_SEPARATION);
    assert_string_equal(g.r[0].alert.other.device, "alice/hidden");
    assert_true(g.r[0].alert.other.has_fix);
    same_fix(&g.r[0].alert.other.fix, &r[0].alert.other.fix);
    same_double(g.r[0].alert.other.distance_m, 1234.5);
}

static void test_missing(void **state)
{
    struct fx *f = *state;
    struct got g = {0};
    char err[256] = "";

    assert_int_equal(lw_spill_read(f->path, take, &g, err, sizeof(err)),
                     LW_ERR_NOTFOUND);
    assert_int_equal(g.n, 0);
}

/* A spill being written is not at the final path; an aborted one leaves
 * the previous file as it was. */
static void test_atomic(void **state)
{
    struct fx *f = *state;
    struct lw_spill_rec r[4];
    struct lw_spill *sp;
    struct got g = {0};
    char err[256] = "", tmp[160];

    sample(r);
    write_all(f->path, r, 1);
    assert_int_equal(lw_spill_create(&sp, f->path, err, sizeof(err)), LW_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(lw_spill_add(sp, &r[i]), LW_OK);
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    assert_int_equal(access(tmp, F_OK), 0);
    lw_spill_abort(sp);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(lw_spill_read(f->path, take, &g, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(g.n, 1);
}

/* Writes text as the spill file and expects it refused, with nothing
 * handed out and err naming want. */
static void expect_refused(const char *path, const char *text,
                           const char *want)
{
    FILE *fp = fopen(path, "w");
    struct got g = {0};
    char err[256] = "";

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(lw_spill_read(path, take, &g, err, sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(g.n, 0);
    if (!strstr(err, want))
        fail_msg("error '%s' does not say '%s'", err, want);
}

static void test_refused(void **state)
{
    struct fx *f = *state;
    const char *fix = "{\"t\":\"fix\",\"device\":\"d\",\"fix_ms\":1,"
                      "\"recv_ms\":2,\"lat\":1.5,\"lon\":2.5}\n";
    char text[1024];

    /* truncated: no end line, or one that counts otherwise */
    snprintf(text, sizeof(text), "{\"lienwatch_spill\":1}\n%s%s", fix, fix);
    expect_refused(f->path, text, "truncated");
    snprintf(text, sizeof(text), "{\"lienwatch_spill\":1}\n%s%s{\"end\":3}\n",
             fix, fix);
    expect_refused(f->path, text, "line 4");
    /* another version, or not a spill at all */
    expect_refused(f->path, "{\"lienwatch_spill\":2}\n{\"end\":0}\n",
                   "spill header");
    expect_refused(f->path, "SQLite format 3\n", "line 1");
    /* a bad record: the good one before it is not handed out either */
    snprintf(text, sizeof(text),
             "{\"lienwatch_spill\":1}\n%s{\"t\":\"fix\",\"device\":\"d\","
             "\"fix_ms\":\"soon\",\"recv_ms\":2,\"lat\":1,\"lon\":2}\n"
             "{\"end\":2}\n",
             fix);
    expect_refused(f->path, text, "line 3");
    snprintf(text, sizeof(text),
             "{\"lienwatch_spill\":1}\n{\"t\":\"alert\",\"kind\":\"nonsense\","
             "\"device\":\"d\",\"raised_ms\":1}\n{\"end\":1}\n");
    expect_refused(f->path, text, "line 2");
    snprintf(text, sizeof(text),
             "{\"lienwatch_spill\":1}\n{\"t\":\"fix\",\"device\":\"d\","
             "\"fix_ms\":1,\"recv_ms\":2,\"lat\":1,\"lon\":2,\"batt\":101}\n"
             "{\"end\":1}\n");
    expect_refused(f->path, text, "line 2");
    /* a line after the end */
    snprintf(text, sizeof(text), "{\"lienwatch_spill\":1}\n{\"end\":0}\n%s",
             fix);
    expect_refused(f->path, text, "line 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_tracker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
