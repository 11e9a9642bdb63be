/*
 * lw-watchbench - how long the daemon's loop waits on the alert pipeline's
 * places checks: every watched vehicle of a database (tools/
 * make_places_db.py) sends its first fix after local 03:00, in one batch,
 * as lienwatchd hands committed fixes to the watch; then they all go
 * silent and their offline alerts are stored with their mail.
 *
 *   lw-watchbench DB [--at MS] [--step-fixes N]
 *
 * --at is the time of the 03:00 fix (default 2026-11-30T03:00:30Z, what
 * make_places_db.py builds towards). Prints, in wall milliseconds: the
 * longest single lw_watch_fix and the whole batch's (lienwatchd runs a
 * batch's callbacks in one go: that is how long its loop waits); with the
 * places checks in slices (lw_watch_places_step, step-fixes a slice), the
 * slices the start queues and those the batch queues: their number, the
 * median, 99th percentile and longest, and the most CPU time one took;
 * the flush that stores the offline alerts with their mail. Timezone UTC.
 * Builds against a tree without lw_watch_places_step too (the old
 * figures). Exit status 0, or 1 on a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lienwatch/config.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/watch.h"

#define DEFAULT_AT_MS 1796007630000LL /* 2026-11-30T03:00:30Z */
#define MAX_DEVICES 100000
#define HOUR_MS (3600 * 1000LL)

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct devs {
    char (*id)[LW_DEVICE_MAX + 1];
    struct lw_fix *last;
    size_t n;
};

static int add_vehicle(void *ctx, const struct lw_vehicle *v)
{
    struct devs *d = ctx;

    if (d->n < MAX_DEVICES)
        snprintf(d->id[d->n++], LW_DEVICE_MAX + 1, "%s", v->device);
    return 0;
}

static int nalerts;

static void on_stored(void *ctx, const struct lw_alert_row *r,
                      enum lw_err mail_err)
{
    (void)ctx;
    (void)r;
    (void)mail_err;
    nalerts++;
}

static void flush(struct lw_watch *w, double *ms)
{
    char err[256];
    double t = mono_ms();

    if (lw_watch_flush(w, err, sizeof(err)) != LW_OK) {
        fprintf(stderr, "lw-watchbench: flush: %s\n", err);
        exit(1);
    }
    if (ms)
        *ms = mono_ms() - t;
}

#ifdef LW_WATCH_PLACES_STEP_FIXES

/* Runs the queued places checks a slice at a time; prints the times. */
static void slices(struct lw_watch *w, int64_t now, size_t step_fixes,
                   const char *what)
{
    size_t steps = 0, cap = 1024;
    double total = 0, t, c, ms, cpu_max = 0, *all = malloc(cap * sizeof(*all));
    size_t cpu_max_at = 0;

    if (!step_fixes)
        step_fixes = LW_WATCH_PLACES_STEP_FIXES;
    while (all && lw_watch_places_pending(w) > 0) {
        t = mono_ms();
        c = cpu_ms();
        lw_watch_places_step(w, now, step_fixes);
        flush(w, NULL);
        ms = mono_ms() - t;
        if (cpu_ms() - c > cpu_max) {
            cpu_max = cpu_ms() - c;
            cpu_max_at = steps;
        }
        total += ms;
        if (steps == cap) {
            double *n = realloc(all, 2 * cap * sizeof(*all));
            if (!n)
                exit(1);
            all = n;
            cap *= 2;
        }
        all[steps++] = ms;
    }
    qsort(all, steps, sizeof(*all), cmp_double);
    printf("%s: %zu of at most %zu fixes: median %.1f ms, 99th percentile "
           "%.1f ms, longest %.1f ms (most CPU: %.1f ms, slice %zu), total "
           "%.1f ms\n",
           what, steps, step_fixes, steps ? all[steps / 2] : 0.0,
           steps ? all[steps * 99 / 100] : 0.0, steps ? all[steps - 1] : 0.0,
           cpu_max, cpu_max_at, total);
    free(all);
}
#endif

int main(int argc, char **argv)
{
    struct lw_watch_handlers h = {.stored = on_stored};
    struct devs d = {0};
    struct lw_config cfg;
    struct lw_store *s;
    struct lw_watch *w;
    int64_t at = DEFAULT_AT_MS;
    size_t step_fixes = 0;
    double worst = 0, batch = 0, t, ms;
    char err[256];

    if (argc < 2) {
        fprintf(stderr, "usage: lw-watchbench DB [--at MS] [--step-fixes N]\n");
        return 1;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--at") == 0)
            at = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--step-fixes") == 0)
            step_fixes = (size_t)strtoull(argv[i + 1], NULL, 10);
    }
    (void)step_fixes;
    lw_config_defaults(&cfg);
    snprintf(cfg.places_timezone, sizeof(cfg.places_timezone), "UTC");
    snprintf(cfg.smtp_to, sizeof(cfg.smtp_to), "ops@example.com");
    snprintf(cfg.smtp_url, sizeof(cfg.smtp_url), "smtp://127.0.0.1:1");
    cfg.offline_after_ms = 6 * HOUR_MS;
    if (lw_store_open(&s, argv[1], 0, err, sizeof(err)) != LW_OK ||
        lw_watch_new(&w, s, &cfg, &h, NULL, err, sizeof(err)) != LW_OK) {
        fprintf(stderr, "lw-watchbench: %s\n", err);
        return 1;
    }
    t = mono_ms();
    if (lw_watch_restore(w, at, err, sizeof(err)) != LW_OK) {
        fprintf(stderr, "lw-watchbench: %s\n", err);
        return 1;
    }
    printf("restore: %.1f ms\n", mono_ms() - t);
    lw_watch_tick(w, at);
    flush(w, NULL);
#ifdef LW_WATCH_PLACES_STEP_FIXES
    /* the restore queues a check of every watched vehicle */
    slices(w, at, step_fixes, "places slices after the start");
#endif
    d.id = calloc(MAX_DEVICES, sizeof(*d.id));
    if (!d.id || lw_registry_vehicles(s, add_vehicle, &d) != LW_OK)
        return 1;
    /* one batch: every vehicle's first fix after 03:00, at home */
    for (size_t i = 0; i < d.n; i++) {
        struct lw_fix f, last;
        enum lw_put_result r;

        if (lw_store_last_fix(s, d.id[i], &last) != LW_OK)
            continue;
        f = last;
        f.fix_time_ms = at;
        f.recv_time_ms = at + 1000;
        if (lw_store_begin(s) != LW_OK || lw_store_put_fix(s, &f, &r) != LW_OK ||
            lw_store_commit(s) != LW_OK)
            return 1;
        t = mono_ms();
        lw_watch_fix(w, &f, r == LW_PUT_LATE, f.recv_time_ms);
        ms = mono_ms() - t;
        batch += ms;
        if (ms > worst)
            worst = ms;
    }
    printf("vehicles: %zu\n", d.n);
    printf("03:00 batch: longest lw_watch_fix %.1f ms, the batch %.1f ms\n",
           worst, batch);
#ifdef LW_WATCH_PLACES_STEP_FIXES
    slices(w, at + 2000, step_fixes, "places slices after the batch");
#endif
    flush(w, NULL);
    printf("alerts after the 03:00 batch: %d\n", nalerts);
    /* all silent: offline alerts, stored with their mail in one flush */
    nalerts = 0;
    lw_watch_tick(w, at + 7 * HOUR_MS);
    flush(w, &ms);
    printf("offline: %d alerts stored with their mail in %.1f ms (one flush)\n",
           nalerts, ms);
    lw_watch_free(w);
    lw_store_close(s);
    free(d.id);
    return 0;
}
