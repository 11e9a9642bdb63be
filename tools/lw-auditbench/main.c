/*
 * main.c - lw-auditbench: what appending to the audit trail costs, and a
 * quick way to fill a trail for tests.
 *
 * Bench (the default): a database with --rows records already in the trail
 * (mixed kinds, written in transactions of 1,000), then --appends records
 * appended one at a time, each in its own transaction, as a lookup records
 * itself (lw_audit_append: BEGIN IMMEDIATE, the head, one SHA-256, INSERT,
 * COMMIT), timed one by one: on a side handle kept open (LW_STORE_NOMIGRATE,
 * which never checkpoints the WAL), then on the writer's handle (whose
 * commits checkpoint now and then, with an fsync); then through a fresh
 * side handle each time (open, append, close), which is what one 'lienwatch
 * locate' pays in all; then one full lw_audit_verify.
 * Prints one line per measure:
 *   append        n=2000 median_us=... p99_us=... max_us=... cpu_us=...
 *   append(w)     n=2000 median_us=... p99_us=... max_us=... cpu_us=...
 *   open+append   n=2000 median_us=... p99_us=... max_us=... cpu_us=...
 * (wall times of each, and the mean CPU time of one, which other load on
 * the machine does not inflate)
 *   verify        records=... seconds=... us_per_record=...
 *
 * Fill (--fill N): appends N mixed records (every kind, devices, reasons
 * with quotes and non-ASCII text, NULL and empty fields, --as names) to the
 * existing database --db in transactions of 1,000 and prints the head as
 * "ID:HASH". The records go through lw_audit_append, so they chain exactly
 * as the programs' do.
 *
 * Exit status 0, 1 when the store fails, 2 for bad options.
 *
 * Usage: lw-auditbench [--rows N] [--appends N] [--db PATH]
 *        lw-auditbench --fill N --db PATH
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lienwatch/audit.h"
#include "lienwatch/store.h"

#define PROG "lw-auditbench"
/* 2026-11-23T00:00:00Z: the first record's time. */
#define T0_MS INT64_C(1795392000000)
#define NS_PER_US 1000
#define US_PER_S 1000000
#define NS_PER_S INT64_C(1000000000)
/* Records per transaction when filling. */
#define FILL_BATCH 1000
/* Room for a database path, a device id, a sentence. */
#define PATH_LEN 512
#define TEXT_LEN 128
/* Percentile of the tail reported. */
#define TAIL_PCT 99

struct opts {
    long rows;      /* records before the timed appends */
    long appends;   /* timed appends */
    long fill;      /* --fill N: only fill */
    const char *db; /* database file; NULL = a temporary one */
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [--rows N] [--appends N] [--db PATH]\n"
            "       %s --fill N --db PATH\n"
            "Times appends to an audit trail of --rows records (defaults: "
            "100000 rows, 2000\nappends); --fill appends N mixed records to "
            "an existing database.\n",
            PROG, PROG);
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Record i of a mixed trail (texts into the caller's buffers). */
static void mixed(long i, struct lw_audit_rec *r, char *dev, char *why,
                  char *detail)
{
    static const char *const actions[] = {
        "locate",      "history",     "alerts",          "evidence",
        "vehicle set", "account set", "geofence import", "alert ack",
        "alert close", "purge",
    };
    static const char *const whos[] = {"ops1", "agent7", "root", "lienwatchd",
                                       "compliance"};
    static const char *const bases[] = {"watched", "override", "case"};

    memset(r, 0, sizeof(*r));
    r->at_ms = T0_MS + i * 250;
    r->who = whos[i % 5];
    r->action = actions[i % 10];
    snprintf(dev, TEXT_LEN, "owntracks/fleet%ld/car%ld", i % 7, i % 997);
    r->device = i % 11 ? dev : NULL;
    if (i % 3 == 0) {
        snprintf(why, TEXT_LEN,
                 "court order %ld: \"urgent\"; it's S\xc3\xa3o "
                 "Paulo's",
                 i);
        r->reason = why;
    } else if (i % 3 == 1) {
        r->reason = "";
    }
    r->via = i % 5 == 3 ? "daemon" : i % 13 ? "cli" : "web";
    r->as_name = i % 17 == 0 ? "Agent Seven" : NULL;
    r->os_detail = i % 23 == 0 ? "SUDO_USER=alice" : NULL;
    r->client = i % 13 == 0 ? "2001:db8::17" : NULL;
    r->role = i % 13 == 0 ? "agent" : NULL;
    r->case_id = i % 13 == 0 ? "CASE-42" : NULL;
    r->basis = i % 10 < 3 ? bases[i % 3] : NULL;
    if (i % 10 >= 4) {
        snprintf(detail, TEXT_LEN, "change %ld <b>&amp;</b>", i);
        r->detail = detail;
    }
}

/* Appends n mixed records from number first on, FILL_BATCH per
 * transaction. Returns 0, or 1 after a message. */
static int fill(struct lw_store *s, long first, long n)
{
    char dev[TEXT_LEN], why[TEXT_LEN], detail[TEXT_LEN];
    struct lw_audit_rec r;
    enum lw_err e = LW_OK;
    long i;

    for (i = 0; i < n && e == LW_OK; i++) {
        if (i % FILL_BATCH == 0)
            e = lw_store_begin(s);
        mixed(first + i, &r, dev, why, detail);
        if (e == LW_OK)
            e = lw_audit_append(s, &r, NULL);
        if (e == LW_OK && (i % FILL_BATCH == FILL_BATCH - 1 || i == n - 1))
            e = lw_store_commit(s);
    }
    if (e != LW_OK) {
        fprintf(stderr, "%s: %s\n", PROG, lw_store_errmsg(s));
        return 1;
    }
    return 0;
}

/* CPU time (user + system) of the process so far, ns: unlike wall time,
 * it does not count the time other processes had the CPU. */
static int64_t cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS_PER_S +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * NS_PER_US;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Prints the median, TAIL_PCT percentile and maximum of n wall times (ns)
 * and the mean CPU time of one (cpu: the process's CPU ns for all n). */
static void report(const char *what, int64_t *ns, long n, int64_t cpu)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    printf("%-12s  n=%ld median_us=%.1f p%d_us=%.1f max_us=%.1f "
           "cpu_us=%.1f\n",
           what, n, (double)ns[n / 2] / NS_PER_US, TAIL_PCT,
           (double)ns[n * TAIL_PCT / 100] / NS_PER_US,
           (double)ns[n - 1] / NS_PER_US, (double)cpu / NS_PER_US / (double)n);
}

static int bench(const struct opts *o, const char *path)
{
    char dev[TEXT_LEN], why[TEXT_LEN], detail[TEXT_LEN], err[PATH_LEN];
    int64_t *ns = calloc((size_t)o->appends, sizeof(*ns));
    struct lw_audit_verdict v;
    struct lw_audit_rec r;
    struct lw_store *s = NULL, *side = NULL;
    int64_t t0, c0;
    long i;
    int rc = 1;

    if (!ns) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 1;
    }
    if (lw_store_open(&s, path, 0, err, sizeof(err)) != LW_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        goto out;
    }
    if (fill(s, 0, o->rows))
        goto out;
    /* one lookup's record at a time, on a side handle kept open (as the
     * web service would: side handles never checkpoint) and on the
     * writer's handle (whose commits checkpoint the WAL now and then) */
    if (lw_store_open(&side, path, LW_STORE_NOMIGRATE, err, sizeof(err)) !=
        LW_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        struct lw_store *h = pass ? s : side;

        c0 = cpu_ns();
        for (i = 0; i < o->appends; i++) {
            mixed(o->rows + i, &r, dev, why, detail);
            r.action = "locate";
            t0 = mono_ns();
            if (lw_audit_append(h, &r, NULL) != LW_OK) {
                fprintf(stderr, "%s: %s\n", PROG, lw_store_errmsg(h));
                goto out;
            }
            ns[i] = mono_ns() - t0;
        }
        report(pass ? "append(w)" : "append", ns, o->appends, cpu_ns() - c0);
    }
    /* the same through a side handle opened for it, as the CLI does */
    c0 = cpu_ns();
    for (i = 0; i < o->appends; i++) {
        struct lw_store *w = NULL;
        enum lw_err e;

        mixed(o->rows + o->appends + i, &r, dev, why, detail);
        r.action = "locate";
        t0 = mono_ns();
        e = lw_store_open(&w, path, LW_STORE_NOMIGRATE, err, sizeof(err));
        if (e == LW_OK)
            e = lw_audit_append(w, &r, NULL);
        lw_store_close(w);
        ns[i] = mono_ns() - t0;
        if (e != LW_OK) {
            fprintf(stderr, "%s: side append failed: %s\n", PROG,
                    lw_strerror(e));
            goto out;
        }
    }
    report("open+append", ns, o->appends, cpu_ns() - c0);
    t0 = mono_ns();
    if (lw_audit_verify(s, NULL, &v) != LW_OK || v.problem != LW_AUDIT_INTACT) {
        fprintf(stderr, "%s: verify: %s %s\n", PROG, lw_store_errmsg(s),
                v.detail);
        goto out;
    }
    t0 = mono_ns() - t0;
    printf("%-12s  records=%" PRId64 " seconds=%.3f us_per_record=%.2f\n",
           "verify", v.rows, (double)t0 / NS_PER_S,
           (double)t0 / NS_PER_US / (double)v.rows);
    rc = 0;
out:
    lw_store_close(side);
    lw_store_close(s);
    free(ns);
    return rc;
}

static int do_fill(const struct opts *o)
{
    struct lw_audit_head h;
    struct lw_store *s = NULL;
    char err[PATH_LEN];
    int rc = 1;

    if (lw_store_open(&s, o->db, LW_STORE_NOMIGRATE, err, sizeof(err)) !=
        LW_OK) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 1;
    }
    if (lw_audit_head(s, &h) != LW_OK || fill(s, h.id, o->fill))
        goto out;
    if (lw_audit_head(s, &h) != LW_OK)
        goto out;
    printf("%" PRId64 ":%s\n", h.id, h.hash);
    rc = 0;
out:
    lw_store_close(s);
    return rc;
}

/* A positive number, or -1. */
static long positive(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return *s && !*end && v > 0 ? v : -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rows", required_argument, NULL, 'r'},
        {"appends", required_argument, NULL, 'a'},
        {"fill", required_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct opts o = {.rows = 100000, .appends = 2000};
    char tmpl[PATH_LEN], path[PATH_LEN + 8];
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            o.rows = positive(optarg);
            break;
        case 'a':
            o.appends = positive(optarg);
            break;
        case 'f':
            o.fill = positive(optarg);
            break;
        case 'd':
            o.db = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || o.rows < 0 || o.appends < 0 || o.fill < 0 ||
        (o.fill && !o.db)) {
        usage(stderr);
        return 2;
    }
    if (o.fill)
        return do_fill(&o);
    if (o.db)
        return bench(&o, o.db);
    snprintf(tmpl, sizeof(tmpl), "%s/lw-auditbench-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror(PROG);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/lw.db", tmpl);
    rc = bench(&o, path);
    {
        static const char *const sfx[] = {"", "-wal", "-shm"};
        char p[PATH_LEN + 16];

        for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
            snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
            unlink(p);
        }
    }
    rmdir(tmpl);
    return rc;
}
