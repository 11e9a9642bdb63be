/*
 * lw-geowhich - which geofences contain each point.
 *
 *   lw-geowhich [--name-property P] [--no-index] FILE.geojson... < points
 *   lw-geowhich [--name-property P] [--no-index] --bench N [--seed S]
 *               [--bench-bbox MINLAT,MINLON,MAXLAT,MAXLON] FILE.geojson...
 *
 * Loads every file into one fence set (keep_in; the kind does not matter
 * here), builds the index, then reads "lat lon" lines (blank, comma or tab
 * separated) from stdin and prints, per line, one compact JSON array of the
 * names of the fences containing the point, in load order. An unreadable
 * line prints "null" (and a warning on stderr) so output lines stay aligned
 * with input lines.
 *
 * --bench N times N lookups of pseudo-random points (seeded, uniform in the
 * box of all loaded fences or in --bench-bbox) and prints one line of
 * figures, lookups/s among them. --no-index skips building the index, so
 * every lookup scans every fence: the baseline the index is measured against.
 *
 * This is the driver of tests/integration/test_geofence_oracle.sh (GEOS as
 * the oracle) and of the fence lookup benchmark.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lienwatch/fence.h"
#include "lienwatch/geo.h"

/* Room for one error message from the library. */
#define ERR_MAX 512

/* Default seed of the benchmark's point generator. */
#define DEFAULT_SEED 20240229u

/* Nanoseconds per second. */
#define NS_PER_S 1e9

/* splitmix64 constants (Steele, Lea, Flood 2014). */
#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull
#define SPLITMIX_MUL1 0xBF58476D1CE4E5B9ull
#define SPLITMIX_MUL2 0x94D049BB133111EBull

/* Bits of a double's mantissa: the top 53 random bits make a uniform [0,1). */
#define MANTISSA_BITS 53

/* Options from the command line. */
struct opts {
    const char *name_prop;   /* --name-property, NULL for the default */
    bool no_index;           /* --no-index: measure the linear scan */
    long long bench_n;       /* --bench N; 0 = read points from stdin */
    uint64_t seed;           /* --seed S */
    bool have_bbox;          /* --bench-bbox given */
    struct lw_geo_bbox bbox; /* --bench-bbox */
};

/* Fence ids gathered for one point. */
struct hits {
    size_t *ids; /* owned, n used, cap allocated */
    size_t n;    /* ids found */
    size_t cap;  /* room in ids */
    bool oom;    /* an append failed */
};

/* Prints usage to f. */
static void usage(FILE *f)
{
    fputs("usage: lw-geowhich [--name-property PROP] [--no-index] "
          "FILE.geojson... < points\n"
          "       lw-geowhich [--name-property PROP] [--no-index] --bench N "
          "[--seed S]\n"
          "                   [--bench-bbox MINLAT,MINLON,MAXLAT,MAXLON] "
          "FILE.geojson...\n"
          "Reads \"lat lon\" lines, prints a JSON array of the names of the "
          "fences\ncontaining each point. --bench N times N random lookups.\n",
          f);
}

/* lw_fence_cb: appends id to the struct hits in ctx. */
static int collect(void *ctx, size_t id)
{
    struct hits *h = ctx;

    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 8;
        size_t *p = realloc(h->ids, ncap * sizeof *p);

        if (!p) {
            h->oom = true;
            return 1;
        }
        h->ids = p;
        h->cap = ncap;
    }
    h->ids[h->n++] = id;
    return 0;
}

/* lw_fence_cb: counts hits in the size_t at ctx. */
static int count_hit(void *ctx, size_t id)
{
    (void)id;
    (*(size_t *)ctx)++;
    return 0;
}

/* qsort order for fence ids. */
static int cmp_id(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return (x > y) - (x < y);
}

/*
 * Reads the whole file at path into a malloc'd buffer (*out, caller frees)
 * of *len bytes. Returns 0, or -1 with errno set.
 */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return -1;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *p = realloc(buf, ncap);

            if (!p) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);

        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* Parses "lat lon" (blanks, commas or tabs between). False if malformed. */
static bool parse_point(const char *line, double *lat, double *lon)
{
    char *end;

    *lat = strtod(line, &end);
    if (end == line)
        return false;
    line = end + strspn(end, " \t,");
    *lon = strtod(line, &end);
    if (end == line)
        return false;
    return end[strspn(end, " \t\r\n")] == '\0';
}

/* Answers stdin point by point. Returns the exit status. */
static int run_stdin(const struct lw_fenceset *set)
{
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 0;
    struct hits h = {0};
    int status = 0;

    while (getline(&line, &linecap, stdin) >= 0) {
        double lat, lon;
        json_t *arr;
        char *text;

        lineno++;
        h.n = 0;
        if (!parse_point(line, &lat, &lon) ||
            lw_fenceset_which(set, lat, lon, collect, &h) != LW_OK) {
            fprintf(stderr,
                    "lw-geowhich: stdin line %ld: expected \"lat "
                    "lon\" in degrees\n",
                    lineno);
            puts("null");
            continue;
        }
        if (h.oom) {
            fputs("lw-geowhich: out of memory\n", stderr);
            status = 1;
            break;
        }
        /* ids is still NULL before the first hit: qsort forbids NULL. */
        if (h.n > 1)
            qsort(h.ids, h.n, sizeof *h.ids, cmp_id);
        arr = json_array();
        for (size_t i = 0; arr && i < h.n; i++) {
            const char *name = lw_fence_get_name(set, h.ids[i]);

            if (json_array_append_new(arr, json_string(name)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
        json_decref(arr);
        if (!text) {
            fputs("lw-geowhich: out of memory\n", stderr);
            status = 1;
            break;
        }
        puts(text);
        free(text);
    }
    free(h.ids);
    free(line);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

/* splitmix64: the next 64 random bits from *state. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX_GAMMA);

    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* A uniform double in [lo, hi). */
static double uniform(uint64_t *state, double lo, double hi)
{
    double u = (double)(next_rand(state) >> (64 - MANTISSA_BITS)) /
               (double)(UINT64_C(1) << MANTISSA_BITS);

    return lo + u * (hi - lo);
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_S;
}

/* Times o->bench_n lookups. Returns the exit status. */
static int run_bench(const struct lw_fenceset *set, const struct opts *o,
                     double build_s)
{
    struct lw_geo_bbox box = o->bbox;
    uint64_t state = o->seed;
    size_t hits = 0;
    double *pts, t0, secs;
    size_t n = (size_t)o->bench_n;

    if (!o->have_bbox) {
        for (size_t id = 0; id < lw_fenceset_count(set); id++) {
            struct lw_geo_bbox b;

            lw_fence_get_bbox(set, id, &b);
            box = id == 0 ? b : lw_geo_bbox_union(&box, &b);
        }
    }
    /* Points drawn before timing, so only lookups are measured. */
    pts = malloc(n * 2 * sizeof *pts);
    if (!pts) {
        fputs("lw-geowhich: out of memory\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        pts[2 * i] = uniform(&state, box.min_lat_deg, box.max_lat_deg);
        pts[2 * i + 1] = uniform(&state, box.min_lon_deg, box.max_lon_deg);
    }
    t0 = now_s();
    for (size_t i = 0; i < n; i++)
        lw_fenceset_which(set, pts[2 * i], pts[2 * i + 1], count_hit, &hits);
    secs = now_s() - t0;
    free(pts);
    printf("fences %zu  index %s (build %.3f ms)  box lat %.4f..%.4f lon "
           "%.4f..%.4f\n"
           "lookups %zu  hits %zu  seconds %.3f  lookups/s %.0f  "
           "us/lookup %.3f\n",
           lw_fenceset_count(set), o->no_index ? "off" : "on", build_s * 1e3,
           box.min_lat_deg, box.max_lat_deg, box.min_lon_deg, box.max_lon_deg,
           n, hits, secs, secs > 0 ? (double)n / secs : 0.0,
           n ? secs * 1e6 / (double)n : 0.0);
    return 0;
}

/* Parses argv into *o; returns the index of the first file, or -1. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"name-property", required_argument, NULL, 'p'},
        {"no-index", no_argument, NULL, 'x'},
        {"bench", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 's'},
        {"bench-bbox", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    *o = (struct opts){.seed = DEFAULT_SEED};
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->name_prop = optarg;
            break;
        case 'x':
            o->no_index = true;
            break;
        case 'b':
            o->bench_n = strtoll(optarg, &end, 10);
            if (*end || o->bench_n <= 0) {
                fprintf(stderr, "lw-geowhich: bad --bench %s\n", optarg);
                return -1;
            }
            break;
        case 's':
            o->seed = strtoull(optarg, &end, 10);
            if (*end) {
                fprintf(stderr, "lw-geowhich: bad --seed %s\n", optarg);
                return -1;
            }
            break;
        case 'B':
            if (sscanf(optarg, "%lf,%lf,%lf,%lf", &o->bbox.min_lat_deg,
                       &o->bbox.min_lon_deg, &o->bbox.max_lat_deg,
                       &o->bbox.max_lon_deg) != 4) {
                fprintf(stderr, "lw-geowhich: bad --bench-bbox %s\n", optarg);
                return -1;
            }
            o->have_bbox = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return -1;
    }
    return optind;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct lw_fenceset *set;
    char err[ERR_MAX];
    double t0, build_s = 0.0;
    int first, status = 1;

    first = parse_args(argc, argv, &o);
    if (first < 0)
        return 2;
    set = lw_fenceset_new();
    if (!set) {
        fputs("lw-geowhich: out of memory\n", stderr);
        return 1;
    }
    for (int i = first; i < argc; i++) {
        char *text;
        size_t len;
        enum lw_err rc;

        if (read_file(argv[i], &text, &len) != 0) {
            fprintf(stderr, "lw-geowhich: %s: %s\n", argv[i], strerror(errno));
            goto out_free_set;
        }
        rc = lw_fenceset_add_geojson(set, text, len, LW_FENCE_KEEP_IN,
                                     o.name_prop, err, sizeof err);
        free(text);
        if (rc != LW_OK) {
            fprintf(stderr, "lw-geowhich: %s: %s\n", argv[i], err);
            goto out_free_set;
        }
    }
    if (!o.no_index) {
        t0 = now_s();
        if (lw_fenceset_build_index(set) != LW_OK) {
            fputs("lw-geowhich: out of memory building the index\n", stderr);
            goto out_free_set;
        }
        build_s = now_s() - t0;
    }
    if (o.bench_n > 0)
        status = run_bench(set, &o, build_s);
    else
        status = run_stdin(set);
out_free_set:
    lw_fenceset_free(set);
    return status;
}
