/*
 * fuzz_tz.c - libFuzzer target: the time-zone reader (lib/tz.c), through
 * lw_tz_from_tzif (a TZif file, as the system's zone files or one given
 * with --tz could hold) and lw_tz_from_posix (a TZ rule string, also the
 * footer of a TZif file).
 *
 * The first byte chooses the parser (even: TZif, odd: POSIX rule); the
 * rest is its input.
 *
 * Invariants (a violation aborts):
 *   - a refusal is LW_ERR_INVAL (or LW_ERR_NOMEM) with a one-line message
 *     and no zone;
 *   - an accepted zone gives, at instants across the whole range a vehicle
 *     history can have (and far outside it), offsets within 26 hours, a
 *     local time with every field in range, the same offset and DST flag
 *     from lw_tz_localtime as from lw_tz_offset_s and lw_tz_isdst, a local
 *     time that differs from UTC by exactly that offset, and
 *     lw_tz_mktime_s mapping the local reading back to the instant unless
 *     the reading is one of a repeated hour (then to an earlier instant
 *     with the same reading).
 * Seeds: the system's zone files (tests/fuzz/run.sh copies a few from
 * /usr/share/zoneinfo when present) and POSIX rules written by run.sh.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OFF_S (26 * 3600)

/* Instants to probe: around 1900, the epoch, today's range, 2038, 2100,
 * and the end of 9999 (years of five digits are out of the reader's range). */
static const int64_t probes_s[] = {
    -2208988800LL, -1LL,       0LL,         954032400LL,  1711846799LL,
    1711846800LL,  1711850400LL, 1729990800LL, 1729994400LL, 1798761599LL,
    2147483647LL,  2147483648LL, 4102444800LL, 253402041600LL,
};

/* How often the offset changes within two days either side of t. */
static int changes_near(const struct lw_tz *tz, int64_t t)
{
    int n = 0;
    int64_t u;
    int32_t prev = lw_tz_offset_s(tz, t - 2 * 86400);

    for (u = t - 2 * 86400 + 600; u <= t + 2 * 86400; u += 600) {
        int32_t o = lw_tz_offset_s(tz, u);

        n += o != prev;
        prev = o;
    }
    return n;
}

static void check_zone(const struct lw_tz *tz)
{
    size_t i;

    FUZZ_REQUIRE(lw_tz_name(tz) != NULL);
    for (i = 0; i < sizeof(probes_s) / sizeof(probes_s[0]); i++) {
        int64_t t = probes_s[i];
        int32_t off = lw_tz_offset_s(tz, t);
        bool dst = lw_tz_isdst(tz, t);
        struct lw_tz_local l;
        int64_t days, back, wall;

        FUZZ_REQUIRE(off >= -MAX_OFF_S && off <= MAX_OFF_S);
        lw_tz_localtime(tz, t * 1000, &l);
        FUZZ_REQUIRE(l.utoff_s == off);
        FUZZ_REQUIRE(l.isdst == dst);
        FUZZ_REQUIRE(l.month >= 1 && l.month <= 12);
        FUZZ_REQUIRE(l.day >= 1 && l.day <= 31);
        FUZZ_REQUIRE(l.hour >= 0 && l.hour <= 23);
        FUZZ_REQUIRE(l.min >= 0 && l.min <= 59);
        FUZZ_REQUIRE(l.sec >= 0 && l.sec <= 59);
        FUZZ_REQUIRE(l.wday >= 0 && l.wday <= 6);
        FUZZ_REQUIRE(l.yday >= 0 && l.yday <= 365);
        /* the local reading is UTC moved by the offset */
        days = lw_tz_days_from_civil(l.year, l.month, l.day);
        FUZZ_REQUIRE(lw_tz_weekday(days) == l.wday);
        wall = days * 86400 + l.hour * 3600 + l.min * 60 + l.sec;
        FUZZ_REQUIRE(wall - t == off);
        /* and back: the same instant, or an earlier one reading the same.
         * lw_tz_mktime_s assumes what every real zone has: transitions
         * more than a day apart; rules that change twice within two days
         * (possible in a POSIX rule, e.g. DST from 1 to 2 January) are
         * checked above only. */
        if (changes_near(tz, t) > 1)
            continue;
        back = lw_tz_mktime_s(tz, (int)l.year, l.month, l.day, l.hour, l.min,
                              l.sec);
        FUZZ_REQUIRE(back <= t);
        if (back != t) {
            struct lw_tz_local e;

            lw_tz_localtime(tz, back * 1000, &e);
            FUZZ_REQUIRE(e.year == l.year && e.month == l.month &&
                        e.day == l.day && e.hour == l.hour &&
                        e.min == l.min && e.sec == l.sec);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_tz *tz = NULL;
    char err[256];
    enum lw_err e;

    if (size < 1)
        return 0;
    err[0] = '\0';
    if ((data[0] & 1) == 0) {
        e = lw_tz_from_tzif(data + 1, size - 1, "fuzz", &tz, err,
                            sizeof(err));
    } else {
        char *spec = malloc(size);

        if (spec == NULL)
            return 0;
        memcpy(spec, data + 1, size - 1);
        spec[size - 1] = '\0';
        e = lw_tz_from_posix(spec, &tz, err, sizeof(err));
        free(spec);
    }
    if (e != LW_OK) {
        FUZZ_REQUIRE(e == LW_ERR_INVAL || e == LW_ERR_NOMEM);
        FUZZ_REQUIRE(tz == NULL);
        FUZZ_REQUIRE(err[0] != '\0' && strchr(err, '\n') == NULL);
        return 0;
    }
    FUZZ_REQUIRE(tz != NULL);
    check_zone(tz);
    lw_tz_free(tz);
    return 0;
}
