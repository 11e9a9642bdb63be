/*
 * cmd_history.c - 'lienwatch history DEVICE': the fixes of a device in
 * fix-time order as CSV, JSON, GeoJSON (RFC 7946) or GPX 1.1.
 *
 * CSV, JSON and GPX are streamed fix by fix, so a year of history costs no
 * memory: the JSON array's brackets and commas are written here, each element
 * is built and serialised by jansson. GeoJSON is built whole by jansson (the
 * line and the points go in one FeatureCollection); map tools load it whole
 * anyway. Coordinates are WGS-84 degrees, times ISO 8601 UTC.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/timeutil.h"

#ifndef LW_VERSION
#define LW_VERSION "unknown"
#endif

#define MS_PER_DAY INT64_C(86400000)
/* Decimals in CSV and GPX: 1e-7 degree is about 1 cm; speed to cm/s. */
#define COORD_DECIMALS 7
#define SPEED_DECIMALS 2
#define COURSE_DECIMALS 1
#define ACCURACY_DECIMALS 1
#define ALT_DECIMALS 1
/* Length of a bare date "YYYY-MM-DD". */
#define DATE_LEN 10

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Prints the stored fixes of DEVICE in fix-time order (the device's\n"
    "    clock), whatever order they arrived in. Late uploads appear in their\n"
    "    place in time; duplicates were stored once.\n"
    "\n"
    "    The lookup is recorded in the audit trail (see 'lienwatch help\n"
    "    audit').\n"
    "\n"
    "OPTIONS\n"
    "    --from T, --to T\n"
    "        Only fixes with from <= fix time <= to. T is an ISO 8601 time\n"
    "        (2026-11-23T16:43:46Z; without a zone it is UTC), a date\n"
    "        (2026-11-23: from midnight UTC; as --to, to the end of that\n"
    "        day), or a duration back from now with its unit (90s, 15m, 6h,\n"
    "        2d). Default: all of history.\n"
    "    -f, --format FORMAT\n"
    "        csv (default): header fix_time,lat,lon,speed_mps,course_deg,\n"
    "            accuracy_m, one line per fix, empty fields when unknown.\n"
    "        json: one array of objects with those six fields (null when\n"
    "            unknown).\n"
    "        geojson: a FeatureCollection with one LineString (properties\n"
    "            device, from, to, fixes) and one Point per fix (properties\n"
    "            fix_time, speed_mps, course_deg, accuracy_m), for "
    "geojson.io,\n"
    "            QGIS, Leaflet...\n"
    "        gpx: GPX 1.1, one track with one segment, for GPS apps and\n"
    "            Google Earth.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up; stored in the audit trail.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also when no fix is in the range); 1 database missing or\n"
    "    unreadable, or output failed; 2 bad options; 3 no such device.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch history alice/phone --from 6h\n"
    "    lienwatch history alice/phone --from 2026-11-01 --to 2026-11-07 \\\n"
    "        --format gpx --reason 'order 2291' > alice.gpx\n"
    "    lienwatch history alice/phone --format geojson > alice.geojson\n";
/* clang-format on */

static int cmd_history(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_history = {
    .name = "history",
    .run = cmd_history,
    .synopsis = "DEVICE [--from T] [--to T] [--format csv|json|geojson|gpx] "
                "[--reason TEXT]",
    .summary = "the fixes of a device in time order (csv, json, geojson, gpx)",
    .help = help,
};

enum format { FMT_CSV, FMT_JSON, FMT_GEOJSON, FMT_GPX };

/* State of one output run, handed to the history callback. */
struct out {
    enum format fmt;    /* what to write */
    const char *device; /* the device asked for */
    int64_t n;          /* fixes written so far */
    int64_t first_ms;   /* fix time of the first fix written */
    int64_t last_ms;    /* fix time of the last fix written */
    json_t *line;       /* GeoJSON: the LineString's coordinates */
    json_t *points;     /* GeoJSON: the Point features */
    bool failed;        /* output or memory failure: stop */
};

/* Writes s escaped for XML text and attribute values; characters XML 1.0
 * does not allow become '?'. */
static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        switch (ch) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r' ? '?'
                                                                      : ch,
                  f);
        }
    }
}

/* The six fields of the CSV, as a JSON object (new reference or NULL). */
static json_t *fix_object(const struct lw_fix *f)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "fix_time",
                     cli_json_time(f->fix_time_ms), "lat",
                     json_real(f->lat_deg), "lon", json_real(f->lon_deg),
                     "speed_mps", cli_json_real(f->speed_mps), "course_deg",
                     cli_json_real(f->course_deg), "accuracy_m",
                     cli_json_real(f->accuracy_m));
}

static bool write_csv(const struct lw_fix *f)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char sp[CLI_NUM_BUFLEN], co[CLI_NUM_BUFLEN], ac[CLI_NUM_BUFLEN];

    return printf("%s,%s,%s,%s,%s,%s\n", cli_time(f->fix_time_ms, t),
                  cli_num(f->lat_deg, COORD_DECIMALS, la),
                  cli_num(f->lon_deg, COORD_DECIMALS, lo),
                  cli_num(f->speed_mps, SPEED_DECIMALS, sp),
                  cli_num(f->course_deg, COURSE_DECIMALS, co),
                  cli_num(f->accuracy_m, ACCURACY_DECIMALS, ac)) >= 0;
}

static bool write_json(const struct out *o, const struct lw_fix *f)
{
    json_t *j = fix_object(f);
    char *text = j ? json_dumps(j, CLI_JSON_REAL) : NULL;
    bool ok = text && printf("%s  %s", o->n ? ",\n" : "[\n", text) >= 0;

    free(text);
    json_decref(j);
    return ok;
}

static bool write_gpx(const struct lw_fix *f)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char el[CLI_NUM_BUFLEN];

    printf("      <trkpt lat=\"%s\" lon=\"%s\">",
           cli_num(f->lat_deg, COORD_DECIMALS, la),
           cli_num(f->lon_deg, COORD_DECIMALS, lo));
    /* GPX 1.1 order: ele before time */
    if (lw_has(f->alt_m))
        printf("<ele>%s</ele>", cli_num(f->alt_m, ALT_DECIMALS, el));
    return printf("<time>%s</time></trkpt>\n", cli_time(f->fix_time_ms, t)) >=
           0;
}

static bool add_geojson(struct out *o, const struct lw_fix *f)
{
    json_t *pos =
        json_pack("[o, o]", json_real(f->lon_deg), json_real(f->lat_deg));
    json_t *pt = json_pack(
        "{s:s, s:{s:s, s:[o, o]}, s:{s:o, s:o, s:o, s:o}}", "type", "Feature",
        "geometry", "type", "Point", "coordinates", json_real(f->lon_deg),
        json_real(f->lat_deg), "properties", "fix_time",
        cli_json_time(f->fix_time_ms), "speed_mps", cli_json_real(f->speed_mps),
        "course_deg", cli_json_real(f->course_deg), "accuracy_m",
        cli_json_real(f->accuracy_m));

    if (!pos || !pt) {
        json_decref(pos);
        json_decref(pt);
        return false;
    }
    /* append_new takes the reference even when it fails */
    if (json_array_append_new(o->line, pos) != 0) {
        json_decref(pt);
        return false;
    }
    return json_array_append_new(o->points, pt) == 0;
}

static int on_fix(void *ctx, const struct lw_fix *f)
{
    struct out *o = ctx;
    bool ok = false;

    switch (o->fmt) {
    case FMT_CSV:
        ok = write_csv(f);
        break;
    case FMT_JSON:
        ok = write_json(o, f);
        break;
    case FMT_GPX:
        ok = write_gpx(f);
        break;
    case FMT_GEOJSON:
        ok = add_geojson(o, f);
        break;
    }
    if (!ok || ferror(stdout)) {
        o->failed = true;
        return 1;
    }
    if (o->n == 0)
        o->first_ms = f->fix_time_ms;
    o->last_ms = f->fix_time_ms;
    o->n++;
    return 0;
}

static void gpx_head(const struct cli *c, const char *device)
{
    char t[LW_TIME_BUFLEN];

    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<gpx version=\"1.1\" creator=\"lienwatch %s\"\n"
           "     xmlns=\"http://www.topografix.com/GPX/1/1\"\n"
           "     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
           "     xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
           "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n"
           "  <metadata>\n    <name>",
           LW_VERSION);
    xml_escape(stdout, device);
    printf("</name>\n    <time>%s</time>\n  </metadata>\n  <trk>\n    <name>",
           cli_time(c->now_ms, t));
    xml_escape(stdout, device);
    printf("</name>\n    <trkseg>\n");
}

/* Writes the whole GeoJSON document. The LineString is left out below two
 * positions (RFC 7946 requires two). */
static bool geojson_write(struct out *o)
{
    json_t *features = json_array(), *doc = NULL;
    bool ok = false;

    if (!features)
        goto out;
    if (o->n >= 2) {
        json_t *line =
            json_pack("{s:s, s:{s:s, s:O}, s:{s:s, s:o, s:o, s:I}}", "type",
                      "Feature", "geometry", "type", "LineString",
                      "coordinates", o->line, "properties", "device", o->device,
                      "from", cli_json_time(o->first_ms), "to",
                      cli_json_time(o->last_ms), "fixes", (json_int_t)o->n);

        if (!line || json_array_append_new(features, line) != 0)
            goto out;
    }
    if (json_array_extend(features, o->points) != 0)
        goto out;
    doc = json_pack("{s:s, s:o}", "type", "FeatureCollection", "features",
                    features);
    features = NULL; /* stolen by json_pack, even on failure */
    /* not indented: one number per line would triple the size */
    ok = doc && json_dumpf(doc, stdout, CLI_JSON_REAL) == 0 &&
         fputc('\n', stdout) != EOF;
out:
    json_decref(features);
    json_decref(doc);
    return ok;
}

/* Parses a --from/--to value; see the help text. */
static bool parse_bound(const struct cli *c, const char *s, bool upper,
                        int64_t *out)
{
    size_t n = strlen(s);
    int64_t d;

    if (lw_time_parse(s, out) == LW_OK) {
        if (upper && n == DATE_LEN)
            *out += MS_PER_DAY - 1; /* the whole day */
        return true;
    }
    /* a duration back from now, with an explicit unit */
    if (n > 1 && strchr("smhd", s[n - 1]) &&
        lw_duration_parse(s, &d) == LW_OK) {
        *out = c->now_ms - d;
        return true;
    }
    return false;
}

static int cmd_history(struct cli *c, int argc, char **argv)
{
    enum { OPT_FROM = 0x200, OPT_TO };
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"format", required_argument, NULL, 'f'},
        {"reason", required_argument, NULL, 'r'},
        CLI_COMMON_OPTIONS,
        {0},
    };
    static const char *const fmt_names[] = {
        [FMT_CSV] = "csv",
        [FMT_JSON] = "json",
        [FMT_GEOJSON] = "geojson",
        [FMT_GPX] = "gpx",
    };
    const struct cli_command *me = &cli_cmd_history;
    struct out o = {.fmt = FMT_CSV};
    int64_t from = INT64_MIN, to = INT64_MAX;
    const char *reason = NULL;
    struct lw_device_info d;
    struct lw_store *s;
    enum lw_err e;
    int opt, rc = CLI_EXIT_OK;
    size_t i;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":f:r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_FROM:
            if (!parse_bound(c, optarg, false, &from))
                return cli_usage_error(me, "--from '%s' is not a time", optarg);
            break;
        case OPT_TO:
            if (!parse_bound(c, optarg, true, &to))
                return cli_usage_error(me, "--to '%s' is not a time", optarg);
            break;
        case 'f':
            for (i = 0; i < sizeof(fmt_names) / sizeof(fmt_names[0]); i++)
                if (strcmp(optarg, fmt_names[i]) == 0)
                    break;
            if (i == sizeof(fmt_names) / sizeof(fmt_names[0]))
                return cli_usage_error(
                    me, "unknown format '%s' (csv, json, geojson or gpx)",
                    optarg);
            o.fmt = (enum format)i;
            break;
        case 'r':
            reason = optarg[0] ? optarg : NULL;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
            rc = CLI_EXIT_OK;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(me, argc - optind < 1 ? "which device?"
                                                     : "one device at a time");
    if (from > to)
        return cli_usage_error(me, "--from is after --to");
    o.device = argv[optind];

    s = cli_store(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    cli_audit(c, me->name, o.device, reason);
    e = lw_store_device_get(s, o.device, &d);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "no such device '%s' (see 'lienwatch devices')",
                         o.device);
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));

    switch (o.fmt) {
    case FMT_CSV:
        printf("fix_time,lat,lon,speed_mps,course_deg,accuracy_m\n");
        break;
    case FMT_GPX:
        gpx_head(c, o.device);
        break;
    case FMT_GEOJSON:
        o.line = json_array();
        o.points = json_array();
        if (!o.line || !o.points) {
            rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
            goto out;
        }
        break;
    case FMT_JSON:
        break;
    }

    e = lw_store_history(s, o.device, from, to, on_fix, &o);
    if (e != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));
        goto out;
    }
    if (o.failed) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "cannot write the output");
        goto out;
    }

    switch (o.fmt) {
    case FMT_CSV:
        break;
    case FMT_JSON:
        printf(o.n ? "\n]\n" : "[]\n");
        break;
    case FMT_GPX:
        printf("    </trkseg>\n  </trk>\n</gpx>\n");
        break;
    case FMT_GEOJSON:
        if (!geojson_write(&o))
            rc = cli_error(me->name, CLI_EXIT_FAIL,
                           "cannot build the GeoJSON output");
        break;
    }
out:
    json_decref(o.line);
    json_decref(o.points);
    return rc;
}
