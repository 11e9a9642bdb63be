/*
 * fix.h - the normalised position report every decoder produces.
 *
 * Units: WGS-84 degrees (lat in [-90, 90], lon in [-180, 180]), speed in
 * metres per second, course in degrees clockwise from true north [0, 360),
 * accuracy (horizontal, 1-sigma-ish as the device states it) and altitude in
 * metres. Times are milliseconds since the Unix epoch, UTC.
 *
 * An optional field the payload did not carry is NAN (doubles) or 0 / '\0'
 * (integers and characters, see each field). Use lw_has() to test a double.
 */
#ifndef LIENWATCH_FIX_H
#define LIENWATCH_FIX_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Longest device id, without the NUL; longer ids are rejected. */
#define LW_DEVICE_MAX 128

struct lw_fix {
    char device[LW_DEVICE_MAX + 1]; /* device id, e.g. "alice/phone" */
    int64_t fix_time_ms;  /* the device's time of the fix (UTC ms) */
    int64_t recv_time_ms; /* our clock when the message arrived (UTC ms) */
    double lat_deg;       /* latitude, WGS-84 degrees, required */
    double lon_deg;       /* longitude, WGS-84 degrees, required */
    double speed_mps;     /* ground speed m/s, NAN if unknown */
    double course_deg;    /* course over ground, degrees, NAN if unknown */
    double accuracy_m;    /* horizontal accuracy m, NAN if unknown */
    double alt_m;         /* altitude (MSL when known) m, NAN if unknown */
    int battery_pct;      /* battery 0..100, -1 if unknown */
    char trigger;         /* OwnTracks 't' (e.g. 'p','u','e','!','9'), or 0 */
};

/* True when an optional double field was present. */
static inline bool lw_has(double v) { return !isnan(v); }

/* Sets every optional field of f to "unknown" and zeroes the rest. */
void lw_fix_init(struct lw_fix *f);

#endif
