/*
 * main.c - lw-storebench: the store's per-fix write path on its own, for
 * instruction counts (valgrind --tool=callgrind) and quick timings.
 *
 * Writes --fixes fixes of --devices devices into a new database file, in
 * transactions of --batch fixes (lw_store_begin, lw_store_put_fix per fix,
 * lw_store_commit), as the daemon's ingest does. Every device reports in
 * turn, one fix a second, so nearly every fix is its device's newest (the
 * common case); every --dup-every'th fix is sent twice (a QoS 1
 * redelivery) and every --late-every'th is followed by a late fix of half
 * a second before it, so the duplicate and late paths (history lookups,
 * inbox merges) are in the workload too. The work is the same for every build:
 * compare builds by running the same arguments.
 *
 * Output: one key=value line on stdout:
 *   fixes=N newest=N late=N duplicate=N seconds=S us_per_fix=U
 * Exit status 0, 1 when the store fails, 2 for bad options.
 *
 * Usage: lw-storebench [--fixes N] [--devices N] [--batch N]
 *                      [--dup-every N] [--late-every N] [--db PATH]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lienwatch/store.h"

#define PROG "lw-storebench"
/* 2026-11-23T00:00:00Z: the first fix time. */
#define T0_MS INT64_C(1795392000000)
#define MS_PER_S INT64_C(1000)
/* A fix arrives this long after it was taken. */
#define RECV_DELAY_MS 1500
/* Room for a database path. */
#define PATH_LEN 512

struct opts {
    long fixes;      /* fixes to write */
    long devices;    /* distinct devices */
    long batch;      /* fixes per transaction */
    long dup_every;  /* every n-th fix is sent twice; 0 = never */
    long late_every; /* every n-th fix is a late one; 0 = never */
    const char *db;  /* database file; NULL = a temporary one */
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [--fixes N] [--devices N] [--batch N] "
            "[--dup-every N] [--late-every N] [--db PATH]\n"
            "Writes N fixes into a new store in transactions of --batch "
            "(defaults: 100000 fixes,\n1000 devices, batches of 1000, a "
            "duplicate every 50, a late fix every 100).\n",
            PROG);
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"fixes", required_argument, NULL, 'n'},
        {"devices", required_argument, NULL, 'd'},
        {"batch", required_argument, NULL, 'b'},
        {"dup-every", required_argument, NULL, 'u'},
        {"late-every", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct opts){100000, 1000, 1000, 50, 100, NULL};
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        long v = 0;

        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (c == 'f') {
            o->db = optarg;
            continue;
        }
        if (c == '?')
            return -1;
        v = strtol(optarg, &end, 10);
        if (!end || *end || v < 0) {
            fprintf(stderr, "%s: bad number '%s'\n", PROG, optarg);
            return -1;
        }
        switch (c) {
        case 'n':
            o->fixes = v;
            break;
        case 'd':
            o->devices = v;
            break;
        case 'b':
            o->batch = v;
            break;
        case 'u':
            o->dup_every = v;
            break;
        case 'l':
            o->late_every = v;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || o->devices < 1 || o->batch < 1) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The i-th fix of the workload: device i % devices, at second i / devices
 * (its late fix: half a second before that). */
static void make_fix(const struct opts *o, long i, bool late, struct lw_fix *f)
{
    long dev = i % o->devices;
    int64_t t = T0_MS + (int64_t)(i / o->devices) * MS_PER_S;

    lw_fix_init(f);
    snprintf(f->device, sizeof(f->device), "veh%06ld", dev);
    f->fix_time_ms = late ? t - MS_PER_S / 2 : t;
    f->recv_time_ms = t + RECV_DELAY_MS;
    f->lat_deg = 45.0 + (double)dev * 1e-4 + (double)(i % 97) * 1e-6;
    f->lon_deg = 7.0 + (double)dev * 1e-4 - (double)(i % 89) * 1e-6;
    f->speed_mps = (double)(i % 30);
    f->accuracy_m = 5.0;
    f->battery_pct = (int)(i % 101);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Puts one fix; counts its outcome. Returns 0 or -1. */
static int put(struct lw_store *s, const struct lw_fix *f, long counts[4])
{
    enum lw_put_result r = 0;
    enum lw_err e = lw_store_put_fix(s, f, &r);

    if (e != LW_OK) {
        fprintf(stderr, "%s: put_fix: %s: %s\n", PROG, lw_strerror(e),
                lw_store_errmsg(s));
        return -1;
    }
    counts[r >= 1 && r <= 3 ? r : 0]++;
    return 0;
}

int main(int argc, char **argv)
{
    char tmpdir[] = "/tmp/lw-storebench-XXXXXX";
    char path[PATH_LEN], err[512] = "";
    long counts[4] = {0}, i, written = 0;
    struct lw_store *s = NULL;
    struct opts o;
    struct lw_fix f;
    double t0, t1;
    enum lw_err e;
    int rc = 1;

    if (parse(argc, argv, &o) != 0)
        return 2;
    if (o.db) {
        snprintf(path, sizeof(path), "%s", o.db);
    } else {
        if (!mkdtemp(tmpdir)) {
            perror(PROG ": mkdtemp");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/bench.db", tmpdir);
    }
    e = lw_store_open(&s, path, 0, err, sizeof(err));
    if (e != LW_OK) {
        fprintf(stderr, "%s: %s: %s\n", PROG, lw_strerror(e), err);
        goto out;
    }
    t0 = now_s();
    for (i = 0; i < o.fixes;) {
        long end = i + o.batch < o.fixes ? i + o.batch : o.fixes;

        if ((e = lw_store_begin(s)) != LW_OK) {
            fprintf(stderr, "%s: begin: %s\n", PROG, lw_store_errmsg(s));
            goto out;
        }
        for (; i < end; i++) {
            make_fix(&o, i, false, &f);
            if (put(s, &f, counts) != 0)
                goto out;
            written++;
            if (o.dup_every && i % o.dup_every == 0) {
                if (put(s, &f, counts) != 0)
                    goto out;
                written++;
            }
            if (o.late_every && i >= o.devices &&
                i % o.late_every == o.late_every - 1) {
                make_fix(&o, i, true, &f);
                if (put(s, &f, counts) != 0)
                    goto out;
                written++;
            }
        }
        if ((e = lw_store_commit(s)) != LW_OK) {
            fprintf(stderr, "%s: commit: %s\n", PROG, lw_store_errmsg(s));
            goto out;
        }
    }
    t1 = now_s();
    printf("fixes=%ld newest=%ld late=%ld duplicate=%ld seconds=%.3f "
           "us_per_fix=%.2f\n",
           written, counts[LW_PUT_NEWEST], counts[LW_PUT_LATE],
           counts[LW_PUT_DUPLICATE], t1 - t0,
           written ? (t1 - t0) * 1e6 / (double)written : 0.0);
    rc = 0;
out:
    lw_store_close(s);
    if (!o.db) {
        static const char *const suffixes[] = {"", "-wal", "-shm"};

        for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
            char p[PATH_LEN + 8];

            snprintf(p, sizeof(p), "%s%s", path, suffixes[k]);
            unlink(p);
        }
        rmdir(tmpdir);
    }
    return rc;
}
