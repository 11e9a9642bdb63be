/*
 * lw-placesbench - how long lw_places takes for one vehicle's history.
 *
 * Makes a synthetic month (by default 30 days of a fix every 30 s, parked
 * or driving, 86,400 fixes) of a car that sleeps at home, works on
 * weekdays, shops and visits, with GPS jitter and a few spikes, then times
 * the whole computation (new + add every fix + compute + rank) and a
 * re-ranking alone, several runs, and prints the median and the worst, in
 * CPU time of the thread (what it costs) and in wall time (what a caller
 * waits on a loaded machine).
 *
 *   lw-placesbench [--days N] [--step-s S] [--runs R] [--tz ZONE]
 *
 * Exit status 0, or 1 on bad arguments or a failed computation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lienwatch/geo.h"
#include "lienwatch/places.h"

#define M_PER_DEG (LW_GEO_EARTH_RADIUS_M * M_PI / 180.0)
#define MS_PER_S 1000LL
#define MS_PER_DAY (86400 * MS_PER_S)
/* 2024-03-04 00:00:00Z, a Monday. */
#define START_MS 1709510400000LL
#define MAX_RUNS 1000

struct pos {
    double e, n; /* metres east and north of home */
};

static const struct pos places_m[] = {
    {0, 0},        /* home */
    {8200, 3100},  /* work */
    {-1500, 900},  /* shop */
    {2300, -4100}, /* friends */
    {400, 2600},   /* gym */
};

static uint32_t seed = 2463534242u;

static double urand(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return (seed >> 8) / 16777216.0;
}

static double gauss(void)
{
    double u = urand() + 1e-12, v = urand();

    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct sample {
    int64_t t;
    double lat, lon, acc, speed;
};

/* The place the car is at during minute-of-week m, or -1 when driving. */
static int where(int day, int minute)
{
    int wd = day % 7; /* 0 = Monday */

    if (wd < 5) {
        if (minute < 8 * 60 || minute >= 18 * 60 + 30)
            return minute >= 18 * 60 + 30 && wd == 2 && minute < 20 * 60 ? 4
                                                                         : 0;
        if (minute < 8 * 60 + 25)
            return -1;
        if (minute < 17 * 60)
            return 1;
        if (minute < 17 * 60 + 20)
            return -1;
        if (minute < 18 * 60)
            return 2;
        return -1;
    }
    if (minute >= 10 * 60 && minute < 10 * 60 + 15)
        return -1;
    if (minute >= 10 * 60 + 15 && minute < 12 * 60)
        return wd == 5 ? 2 : 3;
    if (minute >= 12 * 60 && minute < 12 * 60 + 15)
        return -1;
    return 0;
}

static size_t make_month(struct sample *out, int days, int step_s, double lat0,
                         double lon0)
{
    size_t n = 0;
    int64_t t, end = START_MS + (int64_t)days * MS_PER_DAY;
    double cosl = cos(lat0 * M_PI / 180.0);
    struct pos cur = places_m[0];

    for (t = START_MS; t < end; t += step_s * MS_PER_S) {
        int day = (int)((t - START_MS) / MS_PER_DAY);
        int minute = (int)((t - START_MS) % MS_PER_DAY / 60000);
        int w = where(day, minute);
        struct pos p;
        double sigma = 8, speed = 0;

        if (w >= 0) {
            cur = places_m[w];
            p = cur;
        } else {
            /* Driving: towards the next place, about 11 m/s. */
            int m2 = minute, nx = -1;

            while (nx < 0 && m2 < 24 * 60)
                nx = where(day, ++m2);
            if (nx < 0)
                nx = 0;
            speed = 11;
            p.e = cur.e + (places_m[nx].e - cur.e) * urand();
            p.n = cur.n + (places_m[nx].n - cur.n) * urand();
        }
        if (urand() < 0.002)
            sigma = 400; /* a spike */
        p.e += sigma * gauss();
        p.n += sigma * gauss();
        out[n].t = t;
        out[n].lat = lat0 + p.n / M_PER_DEG;
        out[n].lon = lon0 + p.e / (M_PER_DEG * cosl);
        out[n].acc = 5 + 20 * urand();
        out[n].speed = speed;
        n++;
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lw-placesbench [--days N] [--step-s S] [--runs R] "
               "[--tz ZONE]\n"
               "Times lw_places on a synthetic history of one vehicle "
               "(default: 30 days,\na fix every 30 s, 21 runs, "
               "Europe/Lisbon).\n");
}

int main(int argc, char **argv)
{
    int days = 30, step_s = 30, runs = 21, i;
    const char *zone = "Europe/Lisbon";
    struct lw_tz *tz = NULL;
    struct sample *s;
    size_t n, k;
    double full[MAX_RUNS], wall[MAX_RUNS], rank[MAX_RUNS];
    char err[256];
    int64_t now;
    size_t nplaces = 0, nstops = 0;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 1;
        }
        if (!strcmp(argv[i], "--days"))
            days = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--step-s"))
            step_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tz"))
            zone = argv[++i];
        else {
            usage(stderr);
            return 1;
        }
    }
    if (days < 1 || days > 3660 || step_s < 1 || runs < 1 || runs > MAX_RUNS) {
        usage(stderr);
        return 1;
    }
    if (lw_tz_load(zone, &tz, err, sizeof(err)) != LW_OK) {
        fprintf(stderr, "lw-placesbench: %s\n", err);
        return 1;
    }
    s = malloc(((size_t)days * 86400 / (size_t)step_s + 1) * sizeof(*s));
    if (!s)
        return 1;
    n = make_month(s, days, step_s, 41.1579, -8.6291);
    now = s[n - 1].t + 60 * MS_PER_S;
    for (i = 0; i < runs; i++) {
        struct lw_places *pl = NULL;
        double w0 = clock_s(CLOCK_MONOTONIC);
        double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t1, t2;

        if (lw_places_new(NULL, &pl, err, sizeof(err)) != LW_OK)
            goto out_fail;
        for (k = 0; k < n; k++)
            if (lw_places_add_pos(pl, s[k].t, s[k].lat, s[k].lon, s[k].acc,
                                  s[k].speed) != LW_OK)
                goto out_fail;
        if (lw_places_compute(pl, tz, now, err, sizeof(err)) != LW_OK)
            goto out_fail;
        t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        wall[i] = (clock_s(CLOCK_MONOTONIC) - w0) * 1e3;
        lw_places_rank(pl, tz, now + 3600 * MS_PER_S, 0);
        t2 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        full[i] = (t1 - t0) * 1e3;
        rank[i] = (t2 - t1) * 1e3;
        nplaces = lw_places_count(pl);
        nstops = lw_places_stop_count(pl);
        lw_places_free(pl);
    }
    qsort(full, (size_t)runs, sizeof(double), cmp_double);
    qsort(wall, (size_t)runs, sizeof(double), cmp_double);
    qsort(rank, (size_t)runs, sizeof(double), cmp_double);
    printf("places: %zu fixes (%d days, every %d s, %s): %zu stops, %zu "
           "places\n",
           n, days, step_s, zone, nstops, nplaces);
    printf("places: add+compute+rank CPU median %.2f ms, max %.2f ms; wall "
           "median %.2f ms, max %.2f ms; %d runs (target < 50 ms)\n",
           full[runs / 2], full[runs - 1], wall[runs / 2], wall[runs - 1],
           runs);
    printf("places: re-rank alone CPU median %.4f ms\n", rank[runs / 2]);
    free(s);
    lw_tz_free(tz);
    return 0;

out_fail:
    fprintf(stderr, "lw-placesbench: %s\n", err);
    free(s);
    lw_tz_free(tz);
    return 1;
}
