/*
 * test_tz.c - unit tests for lib/tz.c (TZif and POSIX TZ rules, offsets,
 * local civil time, local-to-UTC conversion).
 *
 * Expected instants are written out as literals, computed independently
 * (Python's zoneinfo and calendar.timegm), so the tests do not trust the
 * code's own calendar. Where the system's zone files are installed, every
 * offset is also compared with glibc's localtime_r for a span of years:
 * glibc reads the same files through its own parser. That comparison sets
 * TZ in this test process, which only a test may do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lienwatch/tz.h"

#define HOUR 3600
#define DAY 86400

static bool have_zone(const char *zone)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", LW_TZ_DIR, zone);
    return access(path, R_OK) == 0;
}

/* Loads zone or skips the test when the system has no zone files. */
static struct lw_tz *load_or_skip(const char *zone)
{
    struct lw_tz *tz = NULL;
    char err[256] = "";

    if (!have_zone(zone)) {
        printf("skipped: %s/%s is not installed (tzdata)\n", LW_TZ_DIR, zone);
        skip();
    }
    if (lw_tz_load(zone, &tz, err, sizeof(err)) != LW_OK)
        fail_msg("lw_tz_load(%s): %s", zone, err);
    return tz;
}

static struct lw_tz *posix(const char *spec)
{
    struct lw_tz *tz = NULL;
    char err[256] = "";

    if (lw_tz_from_posix(spec, &tz, err, sizeof(err)) != LW_OK)
        fail_msg("lw_tz_from_posix(%s): %s", spec, err);
    return tz;
}

/* Asserts the offset just before and at a transition instant. */
static void expect_transition(const struct lw_tz *tz, int64_t t, int32_t before,
                              int32_t after)
{
    if (lw_tz_offset_s(tz, t - 1) != before || lw_tz_offset_s(tz, t) != after)
        fail_msg("%s at %lld: offsets %d / %d, want %d / %d", lw_tz_name(tz),
                 (long long)t, lw_tz_offset_s(tz, t - 1), lw_tz_offset_s(tz, t),
                 before, after);
}

/* The same transitions, whether from the zone file or the POSIX rule. */
static void check_lisbon(const struct lw_tz *tz)
{
    /* 2024-03-31T01:00:00Z: 01:00 WET -> 02:00 WEST. */
    expect_transition(tz, 1711846800, 0, HOUR);
    /* 2024-10-27T01:00:00Z: 02:00 WEST -> 01:00 WET. */
    expect_transition(tz, 1729990800, HOUR, 0);
    assert_true(lw_tz_isdst(tz, 1711846800));
    assert_false(lw_tz_isdst(tz, 1711846799));
    /* 2025-03-30T01:00:00Z and 2025-10-26T01:00:00Z. */
    expect_transition(tz, 1743296400, 0, HOUR);
    expect_transition(tz, 1761440400, HOUR, 0);
}

static void check_new_york(const struct lw_tz *tz)
{
    /* 2024-03-10T07:00:00Z: 02:00 EST -> 03:00 EDT. */
    expect_transition(tz, 1710054000, -5 * HOUR, -4 * HOUR);
    /* 2024-11-03T06:00:00Z: 02:00 EDT -> 01:00 EST. */
    expect_transition(tz, 1730613600, -4 * HOUR, -5 * HOUR);
}

static void test_lisbon_file(void **state)
{
    struct lw_tz *tz = load_or_skip("Europe/Lisbon");

    (void)state;
    assert_string_equal(lw_tz_name(tz), "Europe/Lisbon");
    check_lisbon(tz);
    /* Far future: the footer rule, 2100-03-28T01:00:00Z. */
    expect_transition(tz, 4109878800, 0, HOUR);
    /* 1992-1996 Lisbon was on CET/CEST: 1993-07-01T12:00:00Z is +2 h. */
    assert_int_equal(lw_tz_offset_s(tz, 741528000), 2 * HOUR);
    lw_tz_free(tz);
}

static void test_posix_rules(void **state)
{
    struct lw_tz *lis = posix("WET0WEST,M3.5.0/1,M10.5.0");
    struct lw_tz *ny = posix("EST5EDT,M3.2.0,M11.1.0");
    struct lw_tz *ny_default = posix("EST5EDT");
    /* Sao Paulo's last rule before DST was abolished in 2019 (southern). */
    struct lw_tz *sp = posix("<-03>3<-02>,M11.1.0/0,M2.3.0/0");
    /* Lord Howe: half an hour of DST, +10:30 / +11. */
    struct lw_tz *lh = posix("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
    /* Permanent DST: "DST" from 1 January 00:00 to 31 December 25:00. */
    struct lw_tz *perm = posix("EST5EDT,0/0,J365/25");
    /* Julian day 60 is 1 March also in leap years; zero-based 59 is not. */
    struct lw_tz *jul = posix("AAA0BBB,J60/0,J300/0");
    struct lw_tz *zb = posix("AAA0BBB,59/0,299/0");

    (void)state;
    check_lisbon(lis);
    check_new_york(ny);
    check_new_york(ny_default);
    /* 2018-11-04T03:00:00Z: 00:00 -> 01:00; 2019-02-17T02:00:00Z back. */
    expect_transition(sp, 1541300400, -3 * HOUR, -2 * HOUR);
    expect_transition(sp, 1550368800, -2 * HOUR, -3 * HOUR);
    assert_true(lw_tz_isdst(sp, 1546300800)); /* 2019-01-01T00:00:00Z */
    /* 2024-04-06T15:00:00Z: 02:00 +11 -> 01:30 +1030. */
    expect_transition(lh, 1712415600, 11 * HOUR, 10 * HOUR + 1800);
    assert_true(lw_tz_isdst(perm, 1719792000)); /* 2024-07-01 */
    assert_true(lw_tz_isdst(perm, 1704067200)); /* 2024-01-01T00:00Z */
    assert_int_equal(lw_tz_offset_s(perm, 1735689599), -4 * HOUR);
    /* 2024 is a leap year: J60 = 1 March (1709251200), n=59 = 29 Feb. */
    expect_transition(jul, 1709251200, 0, HOUR);
    expect_transition(zb, 1709164800, 0, HOUR);
    /* 2023: both on 1 March (1677628800). */
    expect_transition(jul, 1677628800, 0, HOUR);
    expect_transition(zb, 1677628800, 0, HOUR);
    lw_tz_free(lis);
    lw_tz_free(ny);
    lw_tz_free(ny_default);
    lw_tz_free(sp);
    lw_tz_free(lh);
    lw_tz_free(perm);
    lw_tz_free(jul);
    lw_tz_free(zb);
}

static void test_bad_posix(void **state)
{
    static const char *const bad[] = {
        "",
        "U",
        "UTC",
        "UT0",
        "UTC0X",
        "EST5EDT,M3.2.0",
        "EST5EDT,M13.2.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J100",
        "EST5EDT,J366,J100",
        "EST25",
        "<AB>3",
        "<A B>3",
        "EST5EDT,M3.2.0/200,M11.1.0",
        "EST5EDT,M3.2.0,M11.1.0,",
        "EST5:60",
        "EST-",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lw_tz *tz = NULL;
        char err[128] = "";

        if (lw_tz_from_posix(bad[i], &tz, err, sizeof(err)) != LW_ERR_INVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_null(tz);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(lw_tz_from_posix(NULL, NULL, NULL, 0), LW_ERR_INVAL);
}

static void test_localtime_and_mktime(void **state)
{
    struct lw_tz *ny = posix("EST5EDT,M3.2.0,M11.1.0");
    struct lw_tz_local l;

    (void)state;
    /* 2024-03-10T06:59:59Z is 01:59:59 EST, 07:00:00Z is 03:00:00 EDT. */
    lw_tz_localtime(ny, 1710053999000, &l);
    assert_int_equal(l.hour, 1);
    assert_int_equal(l.min, 59);
    assert_false(l.isdst);
    lw_tz_localtime(ny, 1710054000000, &l);
    assert_int_equal(l.year, 2024);
    assert_int_equal(l.month, 3);
    assert_int_equal(l.day, 10);
    assert_int_equal(l.hour, 3);
    assert_int_equal(l.wday, 0);
    assert_int_equal(l.yday, 69);
    assert_int_equal(l.utoff_s, -4 * HOUR);
    assert_true(l.isdst);
    /* Negative instants floor: -1 ms is 1969-12-31 18:59:59 EST. */
    lw_tz_localtime(ny, -1, &l);
    assert_int_equal(l.year, 1969);
    assert_int_equal(l.hour, 18);
    assert_int_equal(l.sec, 59);
    assert_int_equal(l.wday, 3);

    /* Plain times. */
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 7, 1, 3, 0, 0), 1719817200);
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 1, 15, 3, 0, 0), 1705305600);
    /* Skipped 02:30 on 2024-03-10: the instant of the jump, 07:00Z. */
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 3, 10, 2, 30, 0), 1710054000);
    /* Repeated 01:30 on 2024-11-03: the first (EDT) one, 05:30Z. */
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 11, 3, 1, 30, 0), 1730611800);
    /* Normalisation: 32 January = 1 February; month 13 = next January. */
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 1, 32, 0, 0, 0),
                     lw_tz_mktime_s(ny, 2024, 2, 1, 0, 0, 0));
    assert_int_equal(lw_tz_mktime_s(ny, 2023, 13, 1, 0, 0, 0),
                     lw_tz_mktime_s(ny, 2024, 1, 1, 0, 0, 0));
    assert_int_equal(lw_tz_mktime_s(ny, 2024, 0, 1, 0, 0, 0),
                     lw_tz_mktime_s(ny, 2023, 12, 1, 0, 0, 0));
    /* NULL is UTC. */
    assert_int_equal(lw_tz_mktime_s(NULL, 2024, 7, 1, 3, 0, 0), 1719802800);
    assert_int_equal(lw_tz_offset_s(NULL, 0), 0);
    assert_string_equal(lw_tz_name(NULL), "UTC");
    lw_tz_free(ny);
}

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(lw_tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(lw_tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(lw_tz_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(lw_tz_days_from_civil(1600, 2, 29), -135081);
    assert_int_equal(lw_tz_weekday(0), 4);
    assert_int_equal(lw_tz_weekday(-1), 3);
    assert_int_equal(lw_tz_weekday(-135081), 2);
}

/* Compares every offset of zone with glibc's, every ~5 hours 1970..2060. */
static void compare_with_glibc(const char *zone)
{
    struct lw_tz *tz = load_or_skip(zone);
    int64_t t;

    setenv("TZ", zone, 1);
    tzset();
    for (t = 0; t < 2840140800LL; t += 5 * HOUR + 13) {
        time_t tt = (time_t)t;
        struct tm tm;
        struct lw_tz_local l;

        localtime_r(&tt, &tm);
        lw_tz_localtime(tz, t * 1000, &l);
        if (l.utoff_s != tm.tm_gmtoff || l.isdst != (tm.tm_isdst > 0) ||
            l.hour != tm.tm_hour || l.day != tm.tm_mday ||
            l.wday != tm.tm_wday || l.yday != tm.tm_yday)
            fail_msg("%s at %lld: %+d/%d vs glibc %+ld/%d", zone, (long long)t,
                     l.utoff_s, l.isdst, tm.tm_gmtoff, tm.tm_isdst);
    }
    unsetenv("TZ");
    tzset();
    lw_tz_free(tz);
}

static void test_against_glibc(void **state)
{
    static const char *const zones[] = {
        "Europe/Lisbon",    "America/New_York", "America/Sao_Paulo",
        "America/Chicago",  "America/Maceio",   "Australia/Lord_Howe",
        "Asia/Kathmandu",   "Pacific/Apia",     "Africa/Casablanca",
        "America/Santiago", "Europe/Dublin",    "Asia/Tehran",
        "Antarctica/Troll", "America/Godthab",  "UTC",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        compare_with_glibc(zones[i]);
}

static void test_load_names(void **state)
{
    static const char *const bad[] = {
        "/etc/passwd",
        "../etc/passwd",
        "Europe/../../etc/passwd",
        "Europe//Lisbon",
        "Europe/",
        "./UTC",
        "Europe/Lis bon",
        "Europe/Lisbon\n",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };
    struct lw_tz *tz = NULL;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lw_tz_load(bad[i], &tz, err, sizeof(err)) != LW_ERR_INVAL)
            fail_msg("accepted zone name '%s'", bad[i]);
        assert_null(tz);
    }
    assert_int_equal(lw_tz_load("Nowhere/Atlantis", &tz, err, sizeof(err)),
                     LW_ERR_NOTFOUND);
    assert_non_null(strstr(err, "unknown time zone"));
    /* A directory is not a zone. */
    if (have_zone("Europe"))
        assert_int_equal(lw_tz_load("Europe", &tz, err, sizeof(err)),
                         LW_ERR_INVAL);
    /* UTC needs no files. */
    assert_int_equal(
        lw_tz_load_dir("/nonexistent", "UTC", &tz, err, sizeof(err)), LW_OK);
    assert_string_equal(lw_tz_name(tz), "UTC");
    assert_int_equal(lw_tz_offset_s(tz, 1719792000), 0);
    lw_tz_free(tz);
    lw_tz_free(NULL);
}

/* Reads a whole zone file. */
static unsigned char *slurp(const char *zone, size_t *len)
{
    char path[256];
    FILE *f;
    unsigned char *b = malloc(LW_TZ_FILE_MAX);

    snprintf(path, sizeof(path), "%s/%s", LW_TZ_DIR, zone);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_non_null(b);
    *len = fread(b, 1, LW_TZ_FILE_MAX, f);
    fclose(f);
    return b;
}

/* Truncations and byte flips of a real file: rejected or read, never a
 * crash or an out-of-bounds read (run under ASan and valgrind). */
static void test_damaged_files(void **state)
{
    struct lw_tz *tz;
    unsigned char *orig, *b;
    size_t len, i;
    unsigned seed = 12345;
    char err[256];
    unsigned accepted = 0;

    (void)state;
    if (!have_zone("America/Sao_Paulo"))
        skip();
    orig = slurp("America/Sao_Paulo", &len);
    for (i = 0; i < len; i++) {
        b = malloc(i ? i : 1); /* exact size, so ASan sees any overread */
        memcpy(b, orig, i);
        tz = NULL;
        if (lw_tz_from_tzif(b, i, "x", &tz, err, sizeof(err)) == LW_OK) {
            accepted++;
            (void)lw_tz_offset_s(tz, 1550368800);
            lw_tz_free(tz);
        } else {
            assert_null(tz);
        }
        free(b);
    }
    /* A prefix that ends at the 32-bit block cannot be v2-valid. */
    assert_true(accepted < len / 2);
    for (i = 0; i < 3000; i++) {
        size_t k;

        b = malloc(len);
        memcpy(b, orig, len);
        for (k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            b[(seed >> 8) % len] ^= (unsigned char)(1u << ((seed >> 4) & 7));
        }
        tz = NULL;
        if (lw_tz_from_tzif(b, len, "x", &tz, err, sizeof(err)) == LW_OK) {
            struct lw_tz_local l;

            lw_tz_localtime(tz, 1550368800000, &l);
            (void)lw_tz_mktime_s(tz, 2019, 2, 16, 23, 30, 0);
            lw_tz_free(tz);
        }
        free(b);
    }
    free(orig);
    assert_int_equal(lw_tz_from_tzif("TZif", 4, NULL, &tz, err, sizeof(err)),
                     LW_ERR_INVAL);
}

/* A refused rule or name is quoted only when it is printable: a newline
 * or escape in it must not reach the operator's terminal or the log. */
static void test_messages_printable(void **state)
{
    struct lw_tz *tz = NULL;
    char err[256];

    (void)state;
    assert_int_equal(lw_tz_from_posix("<ST\n", &tz, err, sizeof(err)),
                     LW_ERR_INVAL);
    assert_null(tz);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "not printable"));
    assert_int_equal(lw_tz_from_posix("XYZ", &tz, err, sizeof(err)),
                     LW_ERR_INVAL);
    assert_non_null(strstr(err, "'XYZ'"));
    assert_int_equal(lw_tz_load("Europe/\x1b[31mLisbon", &tz, err,
                                sizeof(err)),
                     LW_ERR_INVAL);
    assert_null(tz);
    assert_null(strchr(err, '\x1b'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lisbon_file),
        cmocka_unit_test(test_posix_rules),
        cmocka_unit_test(test_bad_posix),
        cmocka_unit_test(test_localtime_and_mktime),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_against_glibc),
        cmocka_unit_test(test_load_names),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_messages_printable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
