/*
 * payload.c - the JSON text lw-sim publishes.
 *
 * Good reports are OwnTracks "location" objects written with snprintf of
 * numbers only (no JSON library needed for output this regular). Bad ones
 * are the mistakes real trackers and broken firmware make, one per kind,
 * so that a robustness test can check that each is counted and dropped.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* Latitude just outside the valid range. */
#define BAD_LAT_DEG 91.0
/* How far ahead a "future" report is: well past the daemon's 5 min. */
#define FUTURE_AHEAD_S 3600
/* Length of a garbage payload, bytes. */
#define GARBAGE_MIN 8
#define GARBAGE_MAX 64
/* Bytes of each random value: 0..255. */
#define BYTE_VALUES 256

static const char *const bad_names[SIM_BAD_COUNT_] = {
    [SIM_BAD_NOT_JSON] = "not_json",     [SIM_BAD_TRUNCATED] = "truncated",
    [SIM_BAD_STRING_LAT] = "string_lat", [SIM_BAD_LAT_RANGE] = "lat_range",
    [SIM_BAD_ZERO] = "zero_zero",        [SIM_BAD_FUTURE] = "future",
    [SIM_BAD_OVERSIZE] = "oversize",
};

const char *sim_bad_name(enum sim_bad kind)
{
    if ((unsigned)kind >= SIM_BAD_COUNT_)
        return "unknown";
    return bad_names[kind];
}

/*
 * Writes a location object with the given latitude text (a number, or a
 * quoted string for SIM_BAD_STRING_LAT), longitude and fix time, and an
 * optional padding member. Returns the length or -1 if buf is too small.
 */
static int format_location(char *buf, size_t buflen, const char *lat_text,
                           double lon_deg, long long tst_s,
                           const struct sim_report *r, const char *tid,
                           size_t pad)
{
    int n, m;

    n = snprintf(buf, buflen,
                 "{\"_type\":\"location\",\"tid\":\"%s\",\"lat\":%s,"
                 "\"lon\":%.6f,\"tst\":%lld,\"acc\":%.0f,\"vel\":%.0f,"
                 "\"cog\":%.0f,\"batt\":%d,\"t\":\"%c\"",
                 tid, lat_text, lon_deg, tst_s, r->acc_m, r->vel_kmh,
                 r->cog_deg, r->batt_pct, r->trigger);
    if (n < 0 || (size_t)n >= buflen)
        return -1;
    if (pad > 0) {
        m = snprintf(buf + n, buflen - (size_t)n, ",\"pad\":\"");
        if (m < 0 || (size_t)(n + m) + pad + 2 >= buflen)
            return -1;
        n += m;
        memset(buf + n, 'x', pad);
        n += (int)pad;
        buf[n++] = '"';
        buf[n] = '\0';
    }
    if ((size_t)n + 2 > buflen)
        return -1;
    buf[n++] = '}';
    buf[n] = '\0';
    return n;
}

int sim_payload_good(char *buf, size_t buflen, const struct sim_report *r,
                     const char *tid)
{
    char lat[32];

    snprintf(lat, sizeof lat, "%.6f", r->lat_deg);
    return format_location(buf, buflen, lat, r->lon_deg, (long long)r->tst_s, r,
                           tid, 0);
}

int sim_payload_bad(char *buf, size_t buflen, enum sim_bad kind,
                    const struct sim_report *r, const char *tid, int64_t now_s,
                    struct sim_rng *rng)
{
    char lat[32];
    int n;
    size_t len;

    snprintf(lat, sizeof lat, "%.6f", r->lat_deg);
    switch (kind) {
    case SIM_BAD_NOT_JSON:
        len = GARBAGE_MIN + sim_rng_below(rng, GARBAGE_MAX - GARBAGE_MIN);
        if (len > buflen)
            return -1;
        /* Starts with a byte that cannot begin JSON, so no parser can take
         * even a prefix of it for a value. */
        buf[0] = '#';
        for (size_t i = 1; i < len; i++)
            buf[i] = (char)sim_rng_below(rng, BYTE_VALUES);
        return (int)len;
    case SIM_BAD_TRUNCATED:
        n = format_location(buf, buflen, lat, r->lon_deg, (long long)r->tst_s,
                            r, tid, 0);
        if (n < 0)
            return -1;
        n /= 2;
        buf[n] = '\0';
        return n;
    case SIM_BAD_STRING_LAT: {
        char quoted[40];

        snprintf(quoted, sizeof quoted, "\"%s\"", lat);
        return format_location(buf, buflen, quoted, r->lon_deg,
                               (long long)r->tst_s, r, tid, 0);
    }
    case SIM_BAD_LAT_RANGE:
        snprintf(lat, sizeof lat, "%.6f", BAD_LAT_DEG);
        return format_location(buf, buflen, lat, r->lon_deg,
                               (long long)r->tst_s, r, tid, 0);
    case SIM_BAD_ZERO:
        return format_location(buf, buflen, "0.0", 0.0, (long long)r->tst_s, r,
                               tid, 0);
    case SIM_BAD_FUTURE:
        return format_location(buf, buflen, lat, r->lon_deg,
                               (long long)(now_s + FUTURE_AHEAD_S), r, tid, 0);
    case SIM_BAD_OVERSIZE:
        /* Valid JSON and a valid fix: only the size is wrong. */
        n = format_location(buf, buflen, lat, r->lon_deg, (long long)r->tst_s,
                            r, tid, 0);
        if (n < 0)
            return -1;
        return format_location(buf, buflen, lat, r->lon_deg,
                               (long long)r->tst_s, r, tid,
                               SIM_OVERSIZE_BYTES - (size_t)n);
    case SIM_BAD_COUNT_:
        break;
    }
    return -1;
}
