/*
 * gpslink.c - gpsd through libgps, driven by a libev ev_io.
 *
 * gps_open + gps_stream(WATCH_ENABLE | WATCH_JSON), then gps_read whenever
 * the socket is readable. The socket is made non-blocking, so gps_read
 * returns 0 once no complete line is buffered. libgps keeps partial lines
 * in its own buffer, so each wake-up reads until gps_read says 0 (poll
 * cannot see what libgps already holds).
 *
 * A fix is accepted only when gpsd says it is one: the TPV's set bits carry
 * MODE_SET, TIME_SET and LATLON_SET, mode >= 2 (2D or 3D), the time is
 * after the epoch and latitude and longitude are finite and in range.
 * Optional values (speed, track, eph, altMSL) are kept only when finite.
 *
 * gpsd going away (restart, crash), a receiver with no fix, a receiver
 * unplugged: logged, and the link reconnects with exponential back-off
 * (1 s doubling to 30 s, with jitter). A connection silent for
 * gpsd_timeout is closed and reopened.
 */
#include <errno.h>
#include <fcntl.h>
#include <gps.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "bridge.h"

#if GPSD_API_MAJOR_VERSION < 9
#error "lw-gpsbridge needs libgps API 9 or later (gpsd >= 3.20)"
#endif

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* gpsd's longest JSON report is a few kB; libgps buffers up to 4 kB. */
#define LINE_MAX_BYTES 8192

struct gb_gpslink {
    struct ev_loop *loop;          /* borrowed */
    const struct gb_settings *cfg; /* borrowed */
    gb_fix_cb *cb;                 /* called per valid fix */
    void *ctx;                     /* for cb */
    struct gps_data_t gd;          /* libgps state; valid while open */
    bool open;                     /* gd is connected */
    bool ever_connected;           /* for "connected again" */
    ev_io io;                      /* readable gpsd socket */
    ev_timer retry;                /* next connection attempt */
    int64_t backoff_ms;            /* delay before the next attempt */
    int failures;                  /* consecutive failed attempts */
    int64_t last_data_mono;        /* last byte from gpsd */
    int64_t last_fix_mono;         /* last valid fix */
    bool nofix_warned;             /* "no valid fix" said for this gap */
    bool silence_warned;           /* "gpsd silent" said for this outage */
    uint64_t tpv_seen;             /* TPV reports read */
    uint64_t fixes_valid;          /* of which valid */
};

/* ms of a timespec, rounded to the millisecond. */
static int64_t ts_ms(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + (ts->tv_nsec + 500000) / 1000000;
}

static double opt(gps_mask_t set, gps_mask_t bit, double v)
{
    return (set & bit) && isfinite(v) ? v : NAN;
}

/* Converts the TPV gpsd just sent into *out; false when it is no fix. */
static bool fix_from_tpv(const struct gps_data_t *gd, struct gb_fix *out)
{
    const struct gps_fix_t *fx = &gd->fix;
    gps_mask_t set = gd->set;

    if (!(set & MODE_SET) || fx->mode < MODE_2D)
        return false;
    if (!(set & TIME_SET) || fx->time.tv_sec <= 0)
        return false;
    if (!(set & LATLON_SET) || !isfinite(fx->latitude) ||
        !isfinite(fx->longitude) || fabs(fx->latitude) > 90.0 ||
        fabs(fx->longitude) > 180.0)
        return false;
    out->time_ms = ts_ms(&fx->time);
    out->mode = fx->mode;
    out->lat_deg = fx->latitude;
    out->lon_deg = fx->longitude;
    out->speed_mps = opt(set, SPEED_SET, fx->speed);
    out->track_deg = opt(set, TRACK_SET, fx->track);
    /* eph is not flagged by its own bit in API 11; isfinite is the test */
    out->eph_m = isfinite(fx->eph) ? fx->eph : NAN;
    out->alt_msl_m = opt(set, ALTITUDE_SET, fx->altMSL);
    return true;
}

/* True when the JSON line's class is cls ("TPV", "DEVICE"...). */
static bool is_class(const char *line, const char *cls)
{
    char tag[32];

    snprintf(tag, sizeof tag, "\"class\":\"%s\"", cls);
    return strstr(line, tag) != NULL;
}

/* Handles one report that libgps has just unpacked into g->gd. */
static void on_report(struct gb_gpslink *g, const char *line)
{
    struct gb_fix fix;

    if (is_class(line, "TPV")) {
        g->tpv_seen++;
        if (!fix_from_tpv(&g->gd, &fix))
            return;
        g->fixes_valid++;
        if (g->nofix_warned)
            lwrt_log(LOG_NOTICE, "gpsd: valid fix again after %lld s",
                   (long long)((lwrt_mono_ms() - g->last_fix_mono) / 1000));
        g->nofix_warned = false;
        g->last_fix_mono = lwrt_mono_ms();
        g->cb(g->ctx, &fix);
    } else if (is_class(line, "DEVICES")) {
        if (g->gd.devices.ndevices == 0)
            lwrt_log(LOG_WARNING, "gpsd: no receiver attached");
    } else if (is_class(line, "DEVICE")) {
        if (g->gd.dev.activated.tv_sec == 0)
            lwrt_log(LOG_WARNING, "gpsd: receiver %s went away", g->gd.dev.path);
        else
            lwrt_log(LOG_INFO, "gpsd: receiver %s active (%s)", g->gd.dev.path,
                   *g->gd.dev.driver ? g->gd.dev.driver : "driver unknown");
    } else if (is_class(line, "ERROR")) {
        lwrt_log(LOG_WARNING, "gpsd: error report: %s", g->gd.error);
    } else if (is_class(line, "VERSION")) {
        lwrt_log(LOG_INFO, "gpsd: version %s, protocol %d.%d",
               g->gd.version.release, g->gd.version.proto_major,
               g->gd.version.proto_minor);
    }
}

static void schedule_retry(struct gb_gpslink *g)
{
    int64_t delay = g->backoff_ms;

    /* +-20 % jitter so that a fleet does not reconnect in step */
    delay += (int64_t)(delay * ((double)random() / RAND_MAX - 0.5) * 0.4);
    ev_timer_set(&g->retry, (double)delay / 1000.0, 0.0);
    ev_timer_start(g->loop, &g->retry);
    lwrt_log(g->failures > 1 ? LOG_DEBUG : LOG_INFO,
           "gpsd: next connection attempt in %.1f s", (double)delay / 1000.0);
    g->backoff_ms *= 2;
    if (g->backoff_ms > BACKOFF_MAX_MS)
        g->backoff_ms = BACKOFF_MAX_MS;
}

static void close_link(struct gb_gpslink *g)
{
    if (!g->open)
        return;
    ev_io_stop(g->loop, &g->io);
    gps_close(&g->gd);
    g->open = false;
}

static void lost(struct gb_gpslink *g, const char *why)
{
    lwrt_log(LOG_WARNING, "gpsd %s:%s: %s", g->cfg->gpsd_host, g->cfg->gpsd_port,
           why);
    close_link(g);
    g->failures = 1;
    schedule_retry(g);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gb_gpslink *g = w->data;
    char line[LINE_MAX_BYTES];
    char c;
    ssize_t n;

    (void)loop;
    (void)revents;
    for (;;) {
        int r;

        line[0] = '\0';
        errno = 0;
        r = gps_read(&g->gd, line, (int)sizeof line);
        if (r == 0)
            break; /* no complete line buffered */
        if (r < 0 && line[0] == '\0') {
            lost(g, errno ? strerror(errno) : "connection closed by gpsd");
            return;
        }
        g->last_data_mono = lwrt_mono_ms();
        g->silence_warned = false;
        if (r < 0) {
            lwrt_log(LOG_DEBUG, "gpsd: unparsed report: %.200s", line);
            continue;
        }
        on_report(g, line);
    }
    /* gps_read cannot tell "nothing yet" from "peer closed" while a partial
     * line is buffered; ask the socket. */
    n = recv(g->gd.gps_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        lost(g, "connection closed by gpsd");
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        lost(g, strerror(errno));
}

static void try_connect(struct gb_gpslink *g)
{
    int flags;

    if (gps_open(g->cfg->gpsd_host, g->cfg->gpsd_port, &g->gd) != 0) {
        if (g->failures++ == 0)
            lwrt_log(LOG_WARNING, "gpsd %s:%s: cannot connect: %s",
                   g->cfg->gpsd_host, g->cfg->gpsd_port, gps_errstr(errno));
        else
            lwrt_log(LOG_DEBUG, "gpsd %s:%s: cannot connect: %s",
                   g->cfg->gpsd_host, g->cfg->gpsd_port, gps_errstr(errno));
        schedule_retry(g);
        return;
    }
    g->open = true;
    if (gps_stream(&g->gd, WATCH_ENABLE | WATCH_JSON, NULL) != 0) {
        lost(g, "WATCH request failed");
        return;
    }
    flags = fcntl(g->gd.gps_fd, F_GETFL);
    if (flags < 0 || fcntl(g->gd.gps_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        lost(g, "cannot make the socket non-blocking");
        return;
    }
    if (g->failures)
        lwrt_log(LOG_NOTICE, "gpsd %s:%s: connected%s after %d failed attempt%s",
               g->cfg->gpsd_host, g->cfg->gpsd_port,
               g->ever_connected ? " again" : "", g->failures,
               g->failures == 1 ? "" : "s");
    else
        lwrt_log(LOG_NOTICE, "gpsd %s:%s: connected%s", g->cfg->gpsd_host,
               g->cfg->gpsd_port, g->ever_connected ? " again" : "");
    g->ever_connected = true;
    g->failures = 0;
    g->backoff_ms = BACKOFF_MIN_MS;
    /* the no-fix clock keeps running across reconnections: it is about
     * the receiver, not the connection */
    g->last_data_mono = lwrt_mono_ms();
    ev_io_init(&g->io, on_readable, g->gd.gps_fd, EV_READ);
    g->io.data = g;
    ev_io_start(g->loop, &g->io);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    try_connect(w->data);
}

struct gb_gpslink *gb_gpslink_new(struct ev_loop *loop,
                                  const struct gb_settings *s, gb_fix_cb *cb,
                                  void *ctx)
{
    struct gb_gpslink *g = calloc(1, sizeof *g);

    if (!g)
        return NULL;
    g->loop = loop;
    g->cfg = s;
    g->cb = cb;
    g->ctx = ctx;
    g->backoff_ms = BACKOFF_MIN_MS;
    g->last_fix_mono = lwrt_mono_ms();
    ev_timer_init(&g->retry, on_retry, 0.0, 0.0);
    g->retry.data = g;
    try_connect(g);
    return g;
}

void gb_gpslink_tick(struct gb_gpslink *g)
{
    int64_t now = lwrt_mono_ms();

    if (!g->open)
        return;
    if (now - g->last_fix_mono >= g->cfg->gpsd_timeout_ms && !g->nofix_warned) {
        lwrt_log(LOG_WARNING,
               "gpsd: no valid fix for %lld s (receiver without a fix, or "
               "gone)",
               (long long)((now - g->last_fix_mono) / 1000));
        g->nofix_warned = true;
    }
    if (now - g->last_data_mono >= g->cfg->gpsd_timeout_ms) {
        /* gpsd sends nothing while no receiver is attached; reconnecting
         * is cheap and also clears a half-open connection. */
        if (!g->silence_warned)
            lwrt_log(LOG_WARNING,
                   "gpsd: nothing received for %lld s; "
                   "reconnecting",
                   (long long)((now - g->last_data_mono) / 1000));
        else
            lwrt_log(LOG_DEBUG, "gpsd: still silent; reconnecting");
        g->silence_warned = true;
        close_link(g);
        g->backoff_ms = BACKOFF_MIN_MS;
        try_connect(g);
    }
}

bool gb_gpslink_connected(const struct gb_gpslink *g)
{
    return g->open;
}

void gb_gpslink_free(struct gb_gpslink *g)
{
    if (!g)
        return;
    ev_timer_stop(g->loop, &g->retry);
    if (g->open) {
        gps_stream(&g->gd, WATCH_DISABLE, NULL);
        close_link(g);
    }
    lwrt_log(LOG_INFO, "gpsd: %llu TPV reports, %llu valid fixes",
           (unsigned long long)g->tpv_seen, (unsigned long long)g->fixes_valid);
    free(g);
}

long gb_gps_replay_file(void *stdio_file, gb_fix_cb *cb, void *ctx)
{
    FILE *f = stdio_file;
    struct gps_data_t gd;
    struct gb_fix fix;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long tpvs = 0;

    memset(&gd, 0, sizeof gd);
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (line[0] != '{' || !is_class(line, "TPV"))
            continue;
        tpvs++;
        if (gps_unpack(line, &gd) != 0)
            continue;
        if (fix_from_tpv(&gd, &fix))
            cb(ctx, &fix);
    }
    free(line);
    return tpvs;
}
