/*
 * timeutil.c - ISO 8601 UTC times and human durations, without a clock.
 *
 * Times are int64_t milliseconds since the Unix epoch, UTC, on the proleptic
 * Gregorian calendar. Nothing here reads the clock or the process time zone
 * (no mktime, no localtime, no TZ): calendar dates are converted with Howard
 * Hinnant's days_from_civil / civil_from_days arithmetic, which is exact for
 * every int64 day count we can reach.
 *
 * What lw_time_parse accepts, and why it is strict (the strings come from
 * devices and from the command line, and a lenient parser turns typos into
 * wrong positions on a map):
 *   - "YYYY-MM-DD" (midnight UTC), or
 *   - "YYYY-MM-DD" then 'T', 't' or ' ', then "HH:MM:SS", an optional
 *     fraction ".f..." (any number of digits; the first three are kept,
 *     the rest truncated, so no rounding can carry into the next second),
 *     then an optional zone: 'Z', 'z', "+hh:mm", "-hh:mm", "+hhmm" or "+hh".
 *     No zone means UTC, as the header promises.
 *   - Exactly four year digits (0000-9999); fields exactly two digits; the
 *     day must exist in that month (leap years included); hour 00-23, minute
 *     00-59, second 00-60. A leap second (60) is folded into the following
 *     second, as POSIX time has no leap seconds (timegm does the same).
 *   - Nothing before or after: no surrounding white space, no "HH:MM" without
 *     seconds, no week or ordinal dates.
 *
 * Durations are "<n><unit>" groups with units d, h, m, s and ms in that
 * (strictly decreasing) order, e.g. "2d3h", "15m", "1s500ms", or one bare
 * number meaning seconds ("90"). lw_duration_format writes the same grammar,
 * so format and parse round-trip. "ms" is accepted on top of the header's
 * d/h/m/s so that sub-second durations round-trip too.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lienwatch/timeutil.h"

#define MS_PER_S INT64_C(1000)
#define S_PER_MIN INT64_C(60)
#define S_PER_HOUR INT64_C(3600)
#define S_PER_DAY INT64_C(86400)
#define MS_PER_MIN (MS_PER_S * S_PER_MIN)
#define MS_PER_HOUR (MS_PER_S * S_PER_HOUR)
#define MS_PER_DAY (MS_PER_S * S_PER_DAY)

#define YEAR_DIGITS 4
#define FIELD_DIGITS 2 /* month, day, hour, minute, second, zone hh/mm */
#define FRACTION_DIGITS_KEPT 3 /* milliseconds */
#define MONTHS_PER_YEAR 12
#define HOUR_MAX 23
#define MINUTE_MAX 59
#define SECOND_MAX 60 /* 60 only for a leap second */
#define ZONE_HOUR_MAX 23
#define ZONE_MINUTE_MAX 59

/* Days per 400-year Gregorian era, and the civil offset of 1970-01-01 from
 * 0000-03-01 (the era arithmetic starts its years in March so that the leap
 * day is the last day of the year). */
#define DAYS_PER_ERA INT64_C(146097)
#define YEARS_PER_ERA INT64_C(400)
#define DAYS_0000_03_01_TO_EPOCH INT64_C(719468)

/* True when 'year' is a Gregorian leap year. */
static bool is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Number of days in 'month' (1-12) of 'year'. */
static int days_in_month(int64_t year, int month)
{
    static const int days[MONTHS_PER_YEAR] = {31, 28, 31, 30, 31, 30,
                                              31, 31, 30, 31, 30, 31};

    if (month == 2 && is_leap(year))
        return 29;
    return days[month - 1];
}

/* Floor division for a possibly negative numerator and positive d. */
static int64_t floor_div(int64_t n, int64_t d)
{
    int64_t q = n / d;

    if ((n % d) != 0 && n < 0)
        q--;
    return q;
}

/*
 * Returns the number of days from 1970-01-01 to the civil date y-m-d
 * (proleptic Gregorian; m 1-12, d 1-31). Exact for any year a 4-digit
 * string can carry and far beyond.
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, YEARS_PER_ERA);
    yoe = y - era * YEARS_PER_ERA;                         /* [0, 399] */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * DAYS_PER_ERA + doe - DAYS_0000_03_01_TO_EPOCH;
}

/* The inverse of days_from_civil: writes the civil date of day z. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += DAYS_0000_03_01_TO_EPOCH;
    era = floor_div(z, DAYS_PER_ERA);
    doe = z - era * DAYS_PER_ERA; /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = era * YEARS_PER_ERA + yoe + (*m <= 2);
}

/*
 * Reads exactly n ASCII digits at *p into *out and advances *p. Returns false
 * (and leaves *p alone) when any of the n characters is not a digit; the
 * locale plays no part, unlike isdigit().
 */
static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* True when c is an ASCII digit. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Parses the zone designator at p (the rest of the string) into an offset
 * east of UTC in seconds. An empty rest means UTC. Returns false on anything
 * else than the forms listed in the file comment.
 */
static bool parse_zone(const char *p, int64_t *offset_s)
{
    int sign, hh, mm = 0;

    *offset_s = 0;
    if (*p == '\0')
        return true;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    if (*p != '+' && *p != '-')
        return false;
    sign = *p == '-' ? -1 : 1;
    p++;
    if (!read_digits(&p, FIELD_DIGITS, &hh) || hh > ZONE_HOUR_MAX)
        return false;
    if (*p == ':')
        p++;
    if (*p != '\0') {
        if (!read_digits(&p, FIELD_DIGITS, &mm) || mm > ZONE_MINUTE_MAX)
            return false;
    } else if (p[-1] == ':') {
        return false; /* "+02:" */
    }
    if (*p != '\0')
        return false;
    *offset_s = sign * (hh * S_PER_HOUR + mm * S_PER_MIN);
    return true;
}

enum lw_err lw_time_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int year, month, day, hour = 0, minute = 0, second = 0, frac_ms = 0;
    int64_t days, secs, offset_s = 0;

    if (!s || !out_ms)
        return LW_ERR_INVAL;
    if (!read_digits(&p, YEAR_DIGITS, &year) || *p++ != '-' ||
        !read_digits(&p, FIELD_DIGITS, &month) || *p++ != '-' ||
        !read_digits(&p, FIELD_DIGITS, &day))
        return LW_ERR_INVAL;
    if (month < 1 || month > MONTHS_PER_YEAR || day < 1 ||
        day > days_in_month(year, month))
        return LW_ERR_INVAL;

    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return LW_ERR_INVAL;
        p++;
        if (!read_digits(&p, FIELD_DIGITS, &hour) || *p++ != ':' ||
            !read_digits(&p, FIELD_DIGITS, &minute) || *p++ != ':' ||
            !read_digits(&p, FIELD_DIGITS, &second))
            return LW_ERR_INVAL;
        if (hour > HOUR_MAX || minute > MINUTE_MAX || second > SECOND_MAX)
            return LW_ERR_INVAL;
        if (*p == '.' || *p == ',') { /* ISO 8601 allows a decimal comma */
            int kept = 0;

            p++;
            if (!is_digit(*p))
                return LW_ERR_INVAL;
            for (; is_digit(*p); p++) {
                if (kept < FRACTION_DIGITS_KEPT) {
                    frac_ms = frac_ms * 10 + (*p - '0');
                    kept++;
                }
            }
            for (; kept < FRACTION_DIGITS_KEPT; kept++)
                frac_ms *= 10;
        }
        if (!parse_zone(p, &offset_s))
            return LW_ERR_INVAL;
    }

    days = days_from_civil(year, month, day);
    secs = days * S_PER_DAY + hour * S_PER_HOUR + minute * S_PER_MIN + second -
           offset_s;
    *out_ms = secs * MS_PER_S + frac_ms;
    return LW_OK;
}

char *lw_time_format(int64_t ms, char *buf, size_t buflen)
{
    int64_t secs, days, sod, year;
    int month, day, frac;

    if (!buf || buflen == 0)
        return buf;
    /* floor division by remainders: "ms - secs * 1000" would overflow for
     * INT64_MIN */
    secs = ms / MS_PER_S;
    frac = (int)(ms % MS_PER_S);
    if (frac < 0) {
        frac += MS_PER_S;
        secs--;
    }
    days = secs / S_PER_DAY;
    sod = secs % S_PER_DAY;
    if (sod < 0) {
        sod += S_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    if (frac)
        snprintf(buf, buflen, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 (long long)year, month, day, (int)(sod / S_PER_HOUR),
                 (int)(sod % S_PER_HOUR / S_PER_MIN), (int)(sod % S_PER_MIN),
                 frac);
    else
        snprintf(buf, buflen, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
                 (long long)year, month, day, (int)(sod / S_PER_HOUR),
                 (int)(sod % S_PER_HOUR / S_PER_MIN), (int)(sod % S_PER_MIN));
    return buf;
}

/* One duration unit: its suffix and its length in milliseconds. The table
 * runs from the largest unit down; a duration string must follow it. */
struct duration_unit {
    const char *suffix;
    int64_t ms;
};

static const struct duration_unit units[] = {
    {"d", MS_PER_DAY}, {"h", MS_PER_HOUR}, {"m", MS_PER_MIN},
    {"s", MS_PER_S},   {"ms", 1},
};
#define UNIT_COUNT (sizeof(units) / sizeof(units[0]))
#define UNIT_SECONDS 3 /* index of "s": what a bare number means */

/*
 * Returns the index in units[] of the longest suffix starting at p ("ms"
 * wins over "m"), or UNIT_COUNT when none does.
 */
static size_t match_unit(const char *p)
{
    size_t best = UNIT_COUNT, best_len = 0;

    for (size_t i = 0; i < UNIT_COUNT; i++) {
        size_t n = strlen(units[i].suffix);

        if (n > best_len && strncmp(p, units[i].suffix, n) == 0) {
            best = i;
            best_len = n;
        }
    }
    return best;
}

enum lw_err lw_duration_parse(const char *s, int64_t *out_ms)
{
    const char *p = s;
    int64_t total = 0;
    size_t next_unit = 0; /* the smallest table index still allowed */

    if (!s || !out_ms || !is_digit(*s))
        return LW_ERR_INVAL; /* empty, sign, space or unit first */
    while (*p != '\0') {
        int64_t n = 0;
        size_t u;

        if (!is_digit(*p))
            return LW_ERR_INVAL;
        for (; is_digit(*p); p++) {
            if (n > (INT64_MAX - (*p - '0')) / 10)
                return LW_ERR_INVAL; /* overflow */
            n = n * 10 + (*p - '0');
        }
        if (*p == '\0' && next_unit == 0) {
            u = UNIT_SECONDS; /* the whole string is one bare number */
        } else {
            u = match_unit(p);
            if (u == UNIT_COUNT || u < next_unit)
                return LW_ERR_INVAL; /* unknown, repeated or out of order */
            p += strlen(units[u].suffix);
        }
        if (n > INT64_MAX / units[u].ms || total > INT64_MAX - n * units[u].ms)
            return LW_ERR_INVAL; /* overflow */
        total += n * units[u].ms;
        next_unit = u + 1;
    }
    *out_ms = total;
    return LW_OK;
}

char *lw_duration_format(int64_t ms, char *buf, size_t buflen)
{
    /* The magnitude as unsigned, so INT64_MIN has one too. */
    uint64_t rest = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    size_t used = 0;
    int n;

    if (!buf || buflen == 0)
        return buf;
    if (rest == 0) {
        snprintf(buf, buflen, "0s");
        return buf;
    }
    buf[0] = '\0';
    if (ms < 0)
        used = (size_t)snprintf(buf, buflen, "-");
    for (size_t i = 0; i < UNIT_COUNT; i++) {
        uint64_t q = rest / (uint64_t)units[i].ms;

        rest %= (uint64_t)units[i].ms;
        if (q == 0 || used >= buflen)
            continue; /* nothing of this unit, or already truncated */
        n = snprintf(buf + used, buflen - used, "%llu%s", (unsigned long long)q,
                     units[i].suffix);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}
