/*
 * test_timeutil.c - unit tests for lib/timeutil.c (ISO 8601 and durations).
 *
 * Expected epoch values were computed independently (Python's
 * calendar.timegm) and are written out as literals, so these tests do not
 * trust the code's own calendar arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/timeutil.h"

#define MS(s) ((int64_t)(s)*1000)

/* Asserts that s parses to want_ms. */
static void expect_time(const char *s, int64_t want_ms)
{
    int64_t got = -1;

    if (lw_time_parse(s, &got) != LW_OK)
        fail_msg("lw_time_parse(\"%s\") failed", s);
    if (got != want_ms)
        fail_msg("lw_time_parse(\"%s\") = %lld, want %lld", s, (long long)got,
                 (long long)want_ms);
}

/* Asserts that s is rejected and *out_ms is left alone. */
static void expect_bad_time(const char *s)
{
    int64_t got = 42;

    if (lw_time_parse(s, &got) != LW_ERR_INVAL)
        fail_msg("lw_time_parse(\"%s\") accepted: %lld", s ? s : "(null)",
                 (long long)got);
    assert_int_equal(got, 42);
}

static void test_parse_known_instants(void **state)
{
    (void)state;
    expect_time("1970-01-01T00:00:00Z", 0);
    expect_time("2026-11-23T16:43:46Z", MS(1795452226));
    expect_time("2000-01-01T00:00:00Z", MS(946684800));
    expect_time("2038-01-19T03:14:07Z", MS(2147483647));
    expect_time("2100-01-01T00:00:00Z", MS(4102444800));
    expect_time("1999-08-22T00:02:31.420Z", MS(935280151) + 420);
    expect_time("1969-12-31T23:59:59Z", MS(-1));
    expect_time("1900-03-01T00:00:00Z", MS(-2203891200));
    expect_time("0001-01-01T00:00:00Z", MS(-62135596800));
    expect_time("9999-12-31T23:59:59Z", MS(253402300799));
}

static void test_parse_forms(void **state)
{
    (void)state;
    /* space or lower-case t, no zone (UTC), lower-case z */
    expect_time("2026-11-23 16:43:46", MS(1795452226));
    expect_time("2026-11-23t16:43:46z", MS(1795452226));
    expect_time("2026-11-23T16:43:46", MS(1795452226));
    /* bare date: midnight UTC */
    expect_time("2026-11-23", MS(1795392000));
}

static void test_parse_fraction(void **state)
{
    (void)state;
    expect_time("2026-11-23T16:43:46.123Z", MS(1795452226) + 123);
    expect_time("2026-11-23T16:43:46.1Z", MS(1795452226) + 100);
    expect_time("2026-11-23T16:43:46.12Z", MS(1795452226) + 120);
    expect_time("2026-11-23T16:43:46,5Z", MS(1795452226) + 500);
    /* digits past the millisecond are truncated, never rounded up */
    expect_time("2026-11-23T16:43:46.999999999Z", MS(1795452226) + 999);
    expect_time("2026-11-23T16:43:46.000Z", MS(1795452226));
    /* before the epoch the fraction still counts forward */
    expect_time("1969-12-31T23:59:59.250Z", -750);
}

static void test_parse_offsets(void **state)
{
    (void)state;
    expect_time("2026-11-23T18:43:46+02:00", MS(1795452226));
    expect_time("2026-11-23T18:43:46+0200", MS(1795452226));
    expect_time("2026-11-23T18:43:46+02", MS(1795452226));
    expect_time("2026-11-23T11:13:46-05:30", MS(1795452226));
    expect_time("2026-11-23T16:43:46+00:00", MS(1795452226));
    expect_time("2026-11-23T16:43:46-00:00", MS(1795452226));
    expect_time("2026-11-23T18:43:46.500+02:00", MS(1795452226) + 500);
    /* an offset that moves the instant across midnight and a year end */
    expect_time("2027-01-01T01:00:00+02:00", MS(1798758000));
    expect_time("2026-12-31T23:00:00-02:00", MS(1798765200));
}

static void test_parse_leap_years(void **state)
{
    (void)state;
    expect_time("2000-02-29T00:00:00Z", MS(951782400));
    expect_time("2024-02-29T12:34:56Z", MS(1709210096));
    expect_time("2024-03-01T00:00:00Z", MS(1709251200));
    expect_bad_time("2023-02-29T00:00:00Z");
    expect_bad_time("1900-02-29T00:00:00Z"); /* divisible by 100 */
    expect_bad_time("2100-02-29T00:00:00Z");
    expect_bad_time("2024-02-30T00:00:00Z");
    /* a leap second is folded into the next second */
    expect_time("2016-12-31T23:59:60Z", MS(1483228800));
}

static void test_parse_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        " 2026-11-23T16:43:46Z",
        "2026-11-23T16:43:46Z ",
        "2026-11-23T16:43:46Zjunk",
        "2026-11-23T16:43Z", /* no seconds */
        "2026-11-23T16:43:46.Z",
        "2026-11-23T16:43:46.",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T16:60:00Z",
        "2026-11-23T16:43:61Z",
        "2026-11-23T16:43:46+24:00",
        "2026-11-23T16:43:46+02:60",
        "2026-11-23T16:43:46+02:",
        "2026-11-23T16:43:46+2",
        "2026-11-23T16:43:46+02:000",
        "2026-11-23T16:43:46UTC",
        "2026-11-23X16:43:46Z",
        "26-11-23",
        "2026-1-5",
        "2026/11/23",
        "20261123T164346Z",
        "+2026-11-23",
        "-001-01-01",
        "1795452226",
        "2026-11-23T",
        "2026-11-23T16",
        "2026-11-2",
        "now",
        "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-11-23", /* fullwidth
                                                                   */
    };
    int64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_time(bad[i]);
    expect_bad_time(NULL);
    assert_int_equal(lw_time_parse("2026-11-23", NULL), LW_ERR_INVAL);
    assert_int_equal(lw_time_parse("2026-11-23", &ms), LW_OK);
}

/* Asserts that ms formats as want. */
static void expect_format(int64_t ms, const char *want)
{
    char buf[LW_TIME_BUFLEN];

    assert_ptr_equal(lw_time_format(ms, buf, sizeof(buf)), buf);
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    (void)state;
    expect_format(0, "1970-01-01T00:00:00Z");
    expect_format(MS(1795452226), "2026-11-23T16:43:46Z");
    expect_format(MS(1795452226) + 123, "2026-11-23T16:43:46.123Z");
    expect_format(MS(1795452226) + 5, "2026-11-23T16:43:46.005Z");
    expect_format(-1, "1969-12-31T23:59:59.999Z");
    expect_format(MS(-2203891200), "1900-03-01T00:00:00Z");
    expect_format(MS(951782400), "2000-02-29T00:00:00Z");
    expect_format(MS(253402300799), "9999-12-31T23:59:59Z");
    expect_format(MS(-62135596800), "0001-01-01T00:00:00Z");
}

static void test_format_extremes_and_small_buffers(void **state)
{
    char buf[LW_TIME_BUFLEN];
    char tiny[5];

    (void)state;
    /* the extremes of int64 must fit the documented buffer */
    lw_time_format(INT64_MAX, buf, sizeof(buf));
    assert_true(strlen(buf) < sizeof(buf));
    assert_non_null(strstr(buf, "Z"));
    lw_time_format(INT64_MIN, buf, sizeof(buf));
    assert_true(strlen(buf) < sizeof(buf));
    assert_non_null(strstr(buf, "Z"));
    /* a short buffer is truncated and still terminated */
    memset(tiny, 'x', sizeof(tiny));
    lw_time_format(0, tiny, sizeof(tiny));
    assert_string_equal(tiny, "1970");
    assert_null(lw_time_format(0, NULL, 0));
    assert_ptr_equal(lw_time_format(0, tiny, 0), tiny);
}

static void test_round_trip(void **state)
{
    char buf[LW_TIME_BUFLEN];
    const int64_t lo = MS(-62135596800), hi = MS(253402300799);
    /* a step that is prime and not a whole number of seconds, so the walk
     * visits odd milliseconds, every month and both sides of the epoch */
    const int64_t step = INT64_C(7777777777) + 777;
    int n = 0;

    (void)state;
    for (int64_t ms = lo; ms <= hi; ms += step, n++) {
        int64_t back = 0;

        lw_time_format(ms, buf, sizeof(buf));
        if (lw_time_parse(buf, &back) != LW_OK || back != ms)
            fail_msg("round trip of %lld via \"%s\" gave %lld", (long long)ms,
                     buf, (long long)back);
    }
    assert_true(n > 30000);
    /* and every day of a leap year */
    for (int64_t ms = MS(1704067200); ms < MS(1735689600); ms += MS(86400)) {
        int64_t back = 0;

        lw_time_format(ms + 999, buf, sizeof(buf));
        assert_int_equal(lw_time_parse(buf, &back), LW_OK);
        assert_int_equal(back, ms + 999);
    }
}

/* Asserts that s parses as a duration of want_ms. */
static void expect_duration(const char *s, int64_t want_ms)
{
    int64_t got = -1;

    if (lw_duration_parse(s, &got) != LW_OK)
        fail_msg("lw_duration_parse(\"%s\") failed", s);
    if (got != want_ms)
        fail_msg("lw_duration_parse(\"%s\") = %lld, want %lld", s,
                 (long long)got, (long long)want_ms);
}

static void test_duration_parse(void **state)
{
    (void)state;
    expect_duration("90", MS(90));
    expect_duration("0", 0);
    expect_duration("90s", MS(90));
    expect_duration("15m", MS(15 * 60));
    expect_duration("6h", MS(6 * 3600));
    expect_duration("2d", MS(2 * 86400));
    expect_duration("2d3h", MS(2 * 86400 + 3 * 3600));
    expect_duration("1h30m", MS(5400));
    expect_duration("1d2h3m4s5ms", MS(86400 + 7200 + 180 + 4) + 5);
    expect_duration("1500ms", 1500);
    expect_duration("007s", MS(7));
    /* the largest whole-second value that fits */
    expect_duration("9223372036854775s", MS(9223372036854775));
}

static void test_duration_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "-5",
        "+5",
        "5x",
        "s",
        "5 m",
        " 5",
        "5 ",
        "5.5s",
        "1h2d",
        "1h1h",
        "1m1ms1s",
        "2d3",
        "m5",
        "5mm",
        "5S",
        "5M",
        "1e3",
        "0x10",
        "5sec",
        "9223372036854775808", /* beyond int64 as a number */
        "9223372036854776s",   /* fits as seconds, not as ms */
        "106751991168d",       /* days overflow */
        "106751991167d86400s", /* the sum overflows */
        "99999999999999999999999999999d",
    };
    int64_t ms = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lw_duration_parse(bad[i], &ms) != LW_ERR_INVAL)
            fail_msg("lw_duration_parse(\"%s\") accepted: %lld", bad[i],
                     (long long)ms);
        assert_int_equal(ms, 42);
    }
    assert_int_equal(lw_duration_parse(NULL, &ms), LW_ERR_INVAL);
    assert_int_equal(lw_duration_parse("5s", NULL), LW_ERR_INVAL);
}

/* Asserts that ms formats as want and parses back (when not negative). */
static void expect_duration_format(int64_t ms, const char *want)
{
    char buf[64];
    int64_t back = -1;

    assert_ptr_equal(lw_duration_format(ms, buf, sizeof(buf)), buf);
    assert_string_equal(buf, want);
    if (ms >= 0) {
        assert_int_equal(lw_duration_parse(buf, &back), LW_OK);
        assert_int_equal(back, ms);
    }
}

static void test_duration_format(void **state)
{
    char tiny[4];

    (void)state;
    expect_duration_format(0, "0s");
    expect_duration_format(MS(42), "42s");
    expect_duration_format(MS(90), "1m30s");
    expect_duration_format(MS(15 * 60), "15m");
    expect_duration_format(MS(6 * 3600), "6h");
    expect_duration_format(MS(2 * 86400 + 3 * 3600), "2d3h");
    expect_duration_format(1500, "1s500ms");
    expect_duration_format(7, "7ms");
    expect_duration_format(MS(-15 * 60), "-15m");
    expect_duration_format(INT64_MAX, "106751991167d7h12m55s807ms");
    expect_duration_format(INT64_MIN, "-106751991167d7h12m55s808ms");
    memset(tiny, 'x', sizeof(tiny));
    lw_duration_format(MS(2 * 86400 + 3 * 3600), tiny, sizeof(tiny));
    assert_string_equal(tiny, "2d3");
    assert_null(lw_duration_format(1, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_known_instants),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_leap_years),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_extremes_and_small_buffers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_duration_format),
    };

    return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
