/*
 * policy.c - lw-gpsbridge's pure logic: which fixes are reported, and how a
 * fix is written as gpsd TPV JSON.
 *
 * No I/O, no clock: every time comes from the fix itself (the receiver's
 * clock), so a replayed log gives the same decisions at any replay speed.
 *
 * Reporting policy, per valid fix, in this order:
 *   1. same fix time as the previous valid fix: skipped (gpsd often sends
 *      two TPVs per epoch, e.g. after GGA and after RMC);
 *   2. the first fix: sent;
 *   3. the fix time is before the last sent one (receiver clock went back):
 *      sent, and the interval restarts from it;
 *   4. motion changed (parked -> moving: start; moving -> parked: stop): sent;
 *   5. moving and the course differs from the last sent fix's course by
 *      more than turn_deg: sent;
 *   6. min_interval (moving) or parked_interval (parked) has passed since
 *      the last sent fix: sent (an interval of 0 sends every fix);
 *   7. a report_now command asked for a fix since the last one sent:
 *      sent ("requested");
 *   8. otherwise skipped.
 * Motion has hysteresis: a parked vehicle moves when its speed reaches
 * moving_mps, a moving one parks when its speed falls below half of it.
 * When a TPV has no speed, the speed is derived from the distance to the
 * previous valid fix; when that is impossible the state is kept.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bridge.h"

/* Mean Earth radius (IUGG), metres. */
#define EARTH_RADIUS_M 6371008.8
#define DEG_TO_RAD (M_PI / 180.0)
#define MS_PER_S 1000
/* A moving vehicle parks below this fraction of moving_mps. */
#define PARK_HYSTERESIS 0.5

const char *gb_verdict_name(enum gb_verdict v)
{
    switch (v) {
    case GB_SKIP:
        return "skip";
    case GB_SKIP_SAME_TIME:
        return "same-time";
    case GB_SEND_FIRST:
        return "first";
    case GB_SEND_START:
        return "start";
    case GB_SEND_STOP:
        return "stop";
    case GB_SEND_TURN:
        return "turn";
    case GB_SEND_INTERVAL:
        return "interval";
    case GB_SEND_TIME_JUMP:
        return "time-jump";
    case GB_SEND_REQUESTED:
        return "requested";
    }
    return "?";
}

void gb_policy_init(struct gb_policy *p, const struct gb_policy_cfg *cfg)
{
    *p = (struct gb_policy){.cfg = *cfg};
    p->sent_track_deg = NAN;
    /* Until a speed says otherwise, assume moving: more reports, not fewer. */
    p->moving = true;
}

void gb_policy_set_cfg(struct gb_policy *p, const struct gb_policy_cfg *cfg)
{
    p->cfg = *cfg;
}

void gb_policy_request(struct gb_policy *p)
{
    p->requested = true;
}

bool gb_command_is_report_now(const void *payload, size_t len)
{
    json_t *j = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    const char *action = json_string_value(json_object_get(j, "action"));
    bool yes = json_is_object(j) && action && strcmp(action, "report_now") == 0;

    json_decref(j);
    return yes;
}

double gb_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG_TO_RAD, p2 = lat2 * DEG_TO_RAD;
    double dp = (lat2 - lat1) * DEG_TO_RAD, dl = (lon2 - lon1) * DEG_TO_RAD;
    double a = sin(dp / 2) * sin(dp / 2) +
               cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

    return 2 * EARTH_RADIUS_M * asin(fmin(1.0, sqrt(a)));
}

double gb_angle_diff_deg(double a, double b)
{
    double d = fmod(fabs(a - b), 360.0);

    return d > 180.0 ? 360.0 - d : d;
}

/* The speed to judge motion by: gpsd's, else derived, else NAN. */
static double judged_speed(const struct gb_policy *p, const struct gb_fix *f)
{
    if (isfinite(f->speed_mps))
        return f->speed_mps;
    if (p->have_prev && f->time_ms > p->prev_time_ms) {
        double d = gb_distance_m(p->prev_lat_deg, p->prev_lon_deg, f->lat_deg,
                                 f->lon_deg);
        return d * MS_PER_S / (double)(f->time_ms - p->prev_time_ms);
    }
    return NAN;
}

static enum gb_verdict decide(struct gb_policy *p, const struct gb_fix *f,
                              bool was_moving)
{
    int64_t since;

    if (!p->have_sent)
        return GB_SEND_FIRST;
    since = f->time_ms - p->sent_time_ms;
    if (since < 0)
        return GB_SEND_TIME_JUMP;
    if (!was_moving && p->moving)
        return GB_SEND_START;
    if (was_moving && !p->moving)
        return GB_SEND_STOP;
    if (p->moving && isfinite(f->track_deg) && isfinite(p->sent_track_deg) &&
        gb_angle_diff_deg(f->track_deg, p->sent_track_deg) > p->cfg.turn_deg)
        return GB_SEND_TURN;
    if (since >=
        (p->moving ? p->cfg.min_interval_ms : p->cfg.parked_interval_ms))
        return GB_SEND_INTERVAL;
    if (p->requested)
        return GB_SEND_REQUESTED;
    return GB_SKIP;
}

enum gb_verdict gb_policy_decide(struct gb_policy *p, const struct gb_fix *f)
{
    enum gb_verdict v;
    bool was_moving = p->moving;
    double speed;

    if (p->have_prev && f->time_ms == p->prev_time_ms)
        return GB_SKIP_SAME_TIME;

    speed = judged_speed(p, f);
    if (isfinite(speed)) {
        if (!p->moving && speed >= p->cfg.moving_mps)
            p->moving = true;
        else if (p->moving && speed < p->cfg.moving_mps * PARK_HYSTERESIS)
            p->moving = false;
    }
    /* The very first fix sets the state without counting as start/stop. */
    if (!p->have_prev)
        was_moving = p->moving;

    v = decide(p, f, was_moving);

    p->have_prev = true;
    p->prev_time_ms = f->time_ms;
    p->prev_lat_deg = f->lat_deg;
    p->prev_lon_deg = f->lon_deg;
    if (gb_verdict_sends(v)) {
        p->requested = false;
        p->have_sent = true;
        p->sent_time_ms = f->time_ms;
        p->sent_track_deg = f->track_deg;
    }
    return v;
}

char *gb_time_format(int64_t ms, char *buf, size_t len)
{
    int64_t sec = ms / MS_PER_S, frac = ms % MS_PER_S;
    time_t t;
    struct tm tm;

    if (frac < 0) { /* floor division for times before 1970 */
        frac += MS_PER_S;
        sec -= 1;
    }
    t = (time_t)sec;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "invalid");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)frac);
    return buf;
}

/* Appends to buf at *pos; false when it did not fit. */
static bool append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos >= len)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *pos)
        return false;
    *pos += (size_t)n;
    return true;
}

int gb_tpv_format(const struct gb_fix *f, char *buf, size_t len)
{
    char when[32];
    size_t pos = 0;
    bool ok;

    gb_time_format(f->time_ms, when, sizeof when);
    /* Precision as gpsd 3.22 prints it: lat/lon 9 decimals (~0.1 mm),
     * altitude and track 4, speed and errors 3. */
    ok = append(buf, len, &pos,
                "{\"class\":\"TPV\",\"mode\":%d,\"time\":\"%s\","
                "\"lat\":%.9f,\"lon\":%.9f",
                f->mode, when, f->lat_deg, f->lon_deg);
    if (ok && isfinite(f->alt_msl_m))
        ok = append(buf, len, &pos, ",\"altMSL\":%.4f", f->alt_msl_m);
    if (ok && isfinite(f->track_deg))
        ok = append(buf, len, &pos, ",\"track\":%.4f", f->track_deg);
    if (ok && isfinite(f->speed_mps))
        ok = append(buf, len, &pos, ",\"speed\":%.3f", f->speed_mps);
    if (ok && isfinite(f->eph_m))
        ok = append(buf, len, &pos, ",\"eph\":%.3f", f->eph_m);
    if (ok)
        ok = append(buf, len, &pos, "}");
    return ok ? (int)pos : -1;
}
