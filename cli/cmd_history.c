/*
 * cmd_history.c - 'lienwatch history VEHICLE': the fixes of a vehicle's
 * device in fix-time order as CSV, JSON, GeoJSON (RFC 7946), GPX 1.1 or
 * KML 2.2.
 *
 * VEHICLE is a device id, a plate or a VIN (see cli_target_resolve).
 * CSV, JSON, GPX and KML are streamed fix by fix, so a year of history costs
 * no memory: the JSON array's brackets and commas are written here, each
 * element is built and serialised by jansson; KML's gx:Track takes its
 * <when>/<gx:coord> pairs interleaved, as Google's own exports wrote them,
 * so one pass over one query's snapshot writes it. GeoJSON is built whole
 * by jansson (the line and the points go in one FeatureCollection); map
 * tools load it whole anyway. Coordinates are WGS-84 degrees, times ISO 8601
 * UTC. Text from the registry (device ids, plates, descriptions) is escaped
 * for XML, and in KML descriptions, which Google Earth renders as HTML, for
 * HTML as well.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/alertjson.h"
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
/* Room for a vehicle's label ("PLATE, DESCRIPTION (DEVICE)") and for its
 * line in descriptions ("device D, plate P, VIN V, DESCRIPTION"). */
#define LABEL_BUFLEN (LW_PLATE_MAX + LW_DESCRIPTION_MAX + LW_DEVICE_MAX + 8)
#define LINE_BUFLEN                                                            \
    (LW_DEVICE_MAX + LW_PLATE_MAX + LW_VIN_MAX + LW_DESCRIPTION_MAX + 32)
/* Code points XML 1.0 does not allow even as references (besides the C0
 * controls other than tab, newline and carriage return). */
#define XML_NONCHAR_FFFE 0xFFFEUL
#define XML_NONCHAR_FFFF 0xFFFFUL

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Prints the stored fixes of a vehicle's tracker in fix-time order\n"
    "    (the device's clock), whatever order they arrived in. Late uploads\n"
    "    appear in their place in time; duplicates were stored once. Every\n"
    "    format carries the same fixes, with the same coordinates (WGS-84\n"
    "    degrees) and times (ISO 8601 UTC).\n"
    "\n"
    CLI_HELP_VEHICLE
    "\n"
    "    The lookup is recorded in the audit trail (see 'lienwatch help\n"
    "    audit') with the device it resolved to, or with VEHICLE as typed\n"
    "    when it named none or several, before any fix is read.\n"
    "\n"
    "OPTIONS\n"
    CLI_HELP_VEHICLE_OPTIONS
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
    "            device, plate, vin, description, from, to, fixes; it needs\n"
    "            two fixes) and one Point per fix (properties fix_time,\n"
    "            speed_mps, course_deg, accuracy_m), for geojson.io, QGIS,\n"
    "            Leaflet...\n"
    "        gpx: GPX 1.1, one track with one segment, named after the\n"
    "            vehicle (plate, description and device, or the device id),\n"
    "            for GPS apps.\n"
    "        kml: KML 2.2 for Google Earth and recovery tools: a Placemark\n"
    "            named after the vehicle holding a gx:Track (one <when> and\n"
    "            one <gx:coord> per fix), then a Placemark on the last fix\n"
    "            with its time. Descriptions list device, plate, VIN and\n"
    "            vehicle.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up; stored in the audit trail.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also when no fix is in the range); 1 database missing or\n"
    "    unreadable, or output failed; 2 bad options, or VEHICLE names\n"
    "    several vehicles (they are listed on stderr); 3 no such device,\n"
    "    plate or VIN, or a registered vehicle whose tracker has not\n"
    "    reported yet.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch history alice/phone --from 6h\n"
    "    lienwatch history alice/phone --from 2026-11-01 --to 2026-11-07 \\\n"
    "        --format gpx --reason 'order 2291' > alice.gpx\n"
    "    lienwatch history 'B-LW 123' --from 2d --format kml > b-lw-123.kml\n"
    "    lienwatch history --vin 1HGCM82633A004352 --format geojson \\\n"
    "        > corolla.geojson\n";
/* clang-format on */

static int cmd_history(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_history = {
    .name = "history",
    .run = cmd_history,
    .synopsis = CLI_VEHICLE_SYNOPSIS
    "\n"
    "        [--from T] [--to T] [--format csv|json|geojson|gpx|kml]\n"
    "        [--reason TEXT]",
    .summary = "where a vehicle has been: csv, json, geojson, gpx, kml",
    .help = help,
};

enum format { FMT_CSV, FMT_JSON, FMT_GEOJSON, FMT_GPX, FMT_KML };

/* State of one output run, handed to the history callback. */
struct out {
    enum format fmt;                  /* what to write */
    const struct lw_vehicle_match *m; /* the vehicle asked for */
    int64_t n;                        /* fixes written so far */
    int64_t first_ms;                 /* fix time of the first fix written */
    struct lw_fix last;               /* the last fix written */
    json_t *line;   /* GeoJSON: the LineString's coordinates */
    json_t *points; /* GeoJSON: the Point features */
    bool failed;    /* output or memory failure: stop */
};

/*
 * Writes s escaped for XML text and attribute values. Bytes that are not
 * UTF-8 and characters XML 1.0 does not allow (C0 controls other than tab,
 * newline and carriage return; U+FFFE, U+FFFF) become '?', so the document
 * stays well-formed whatever the database holds. With html, the text is
 * escaped for HTML first (for KML descriptions, which viewers render as
 * HTML: "<b>" must show as "<b>", not turn text bold).
 */
static void xml_escape_as(FILE *f, const char *s, bool html)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t n;

    while (*p) {
        const char *rep = NULL;

        switch (*p) {
        case '&':
            rep = html ? "&amp;amp;" : "&amp;";
            break;
        case '<':
            rep = html ? "&amp;lt;" : "&lt;";
            break;
        case '>':
            rep = html ? "&amp;gt;" : "&gt;";
            break;
        case '"':
            rep = html ? "&amp;quot;" : "&quot;";
            break;
        case '\'':
            rep = html ? "&amp;#39;" : "&apos;";
            break;
        }
        if (rep) {
            fputs(rep, f);
            p++;
            continue;
        }
        n = cli_utf8_next(p, &cp);
        if (n == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
            cp == XML_NONCHAR_FFFE || cp == XML_NONCHAR_FFFF) {
            fputc('?', f);
            p += n ? n : 1;
            continue;
        }
        fwrite(p, 1, n, f);
        p += n;
    }
}

static void xml_escape(FILE *f, const char *s)
{
    xml_escape_as(f, s, false);
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

/* One <when>/<gx:coord> pair of the gx:Track: "lon lat alt", altitude 0
 * when unknown (the track is clamped to the ground, which ignores it). */
static bool write_kml(const struct lw_fix *f)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char el[CLI_NUM_BUFLEN];

    return printf("        <when>%s</when><gx:coord>%s %s %s</gx:coord>\n",
                  cli_time(f->fix_time_ms, t),
                  cli_num(f->lon_deg, COORD_DECIMALS, lo),
                  cli_num(f->lat_deg, COORD_DECIMALS, la),
                  lw_has(f->alt_m) ? cli_num(f->alt_m, ALT_DECIMALS, el)
                                   : "0") >= 0;
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
    case FMT_KML:
        ok = write_kml(f);
        break;
    }
    if (!ok || ferror(stdout)) {
        o->failed = true;
        return 1;
    }
    if (o->n == 0)
        o->first_ms = f->fix_time_ms;
    o->last = *f;
    o->n++;
    return 0;
}

/* One line on the vehicle for descriptions: "device alice/phone, plate
 * B-LW 123, VIN ..., white Toyota Corolla" with the parts that are known. */
static void vehicle_line(const struct lw_vehicle_match *m, char *buf,
                         size_t len)
{
    const struct lw_vehicle *v = &m->v;

    snprintf(buf, len, "device %s%s%s%s%s%s%s", v->device,
             v->plate[0] ? ", plate " : "", v->plate, v->vin[0] ? ", VIN " : "",
             v->vin, v->description[0] ? ", " : "", v->description);
}

static void gpx_head(const struct cli *c, const struct lw_vehicle_match *m)
{
    char t[LW_TIME_BUFLEN], label[LABEL_BUFLEN], desc[LINE_BUFLEN];

    cli_vehicle_label(m, label, sizeof(label));
    vehicle_line(m, desc, sizeof(desc));
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<gpx version=\"1.1\" creator=\"lienwatch %s\"\n"
           "     xmlns=\"http://www.topografix.com/GPX/1/1\"\n"
           "     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
           "     xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
           "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n"
           "  <metadata>\n    <name>",
           LW_VERSION);
    xml_escape(stdout, label);
    printf("</name>\n    <desc>");
    xml_escape(stdout, desc);
    printf("</desc>\n    <time>%s</time>\n  </metadata>\n  <trk>\n    <name>",
           cli_time(c->now_ms, t));
    xml_escape(stdout, label);
    printf("</name>\n    <desc>");
    xml_escape(stdout, desc);
    printf("</desc>\n    <trkseg>\n");
}

/* A KML <description>: the vehicle, as HTML (viewers render it so). */
static void kml_description(const struct lw_vehicle_match *m)
{
    const struct lw_vehicle *v = &m->v;
    static const struct {
        const char *label; /* what the value is */
        size_t off;        /* where it is in struct lw_vehicle */
    } rows[] = {
        {"Device", offsetof(struct lw_vehicle, device)},
        {"Plate", offsetof(struct lw_vehicle, plate)},
        {"VIN", offsetof(struct lw_vehicle, vin)},
        {"Vehicle", offsetof(struct lw_vehicle, description)},
        {"Account", offsetof(struct lw_vehicle, account)},
    };
    size_t i;
    bool first = true;

    printf("<description>");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *val = (const char *)v + rows[i].off;

        if (!val[0])
            continue;
        /* the markup is ours: escaped for XML once; the value twice */
        printf("%s%s: ", first ? "" : "&lt;br/&gt;", rows[i].label);
        xml_escape_as(stdout, val, true);
        first = false;
    }
    printf("</description>\n");
}

static void kml_head(const struct lw_vehicle_match *m)
{
    char label[LABEL_BUFLEN];

    cli_vehicle_label(m, label, sizeof(label));
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<kml xmlns=\"http://www.opengis.net/kml/2.2\"\n"
           "     xmlns:gx=\"http://www.google.com/kml/ext/2.2\">\n"
           "  <Document>\n    <name>");
    xml_escape(stdout, label);
    printf("</name>\n    ");
    kml_description(m);
    printf("    <Placemark>\n      <name>");
    xml_escape(stdout, label);
    printf("</name>\n      ");
    kml_description(m);
    printf("      <gx:Track>\n"
           "        <altitudeMode>clampToGround</altitudeMode>\n");
}

/* Closes the track and marks the last fix with a Placemark of its own. */
static void kml_tail(const struct out *o)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];

    printf("      </gx:Track>\n    </Placemark>\n");
    if (o->n > 0) {
        printf("    <Placemark>\n      <name>last fix: ");
        xml_escape(stdout, o->m->v.device);
        printf("</name>\n      <TimeStamp><when>%s</when></TimeStamp>\n"
               "      <Point><coordinates>%s,%s</coordinates></Point>\n"
               "    </Placemark>\n",
               cli_time(o->last.fix_time_ms, t),
               cli_num(o->last.lon_deg, COORD_DECIMALS, lo),
               cli_num(o->last.lat_deg, COORD_DECIMALS, la));
    }
    printf("  </Document>\n</kml>\n");
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
        const struct lw_vehicle *v = &o->m->v;
        json_t *line = json_pack(
            "{s:s, s:{s:s, s:O}, s:{s:s, s:o, s:o, s:o, s:o, s:o, s:I}}",
            "type", "Feature", "geometry", "type", "LineString", "coordinates",
            o->line, "properties", "device", v->device, "plate",
            lw_json_str_or_null(v->plate), "vin", lw_json_str_or_null(v->vin),
            "description", lw_json_str_or_null(v->description), "from",
            cli_json_time(o->first_ms), "to",
            cli_json_time(o->last.fix_time_ms), "fixes", (json_int_t)o->n);

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
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    static const char *const fmt_names[] = {
        [FMT_CSV] = "csv", [FMT_JSON] = "json", [FMT_GEOJSON] = "geojson",
        [FMT_GPX] = "gpx", [FMT_KML] = "kml",
    };
    const struct cli_command *me = &cli_cmd_history;
    struct lw_vehicle_match m;
    struct out o = {.fmt = FMT_CSV, .m = &m};
    struct cli_target target = {0};
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
                    me, "unknown format '%s' (csv, json, geojson, gpx or kml)",
                    optarg);
            o.fmt = (enum format)i;
            break;
        case 'r':
            reason = optarg[0] ? optarg : NULL;
            break;
        case CLI_OPT_DEVICE:
        case CLI_OPT_PLATE:
        case CLI_OPT_VIN:
            rc = cli_target_opt(me, &target, opt, optarg);
            if (rc != CLI_CONTINUE)
                return rc;
            rc = CLI_EXIT_OK;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
            rc = CLI_EXIT_OK;
        }
    }
    rc = cli_target_operands(me, &target, argc - optind, argv + optind);
    if (rc != CLI_CONTINUE)
        return rc;
    rc = CLI_EXIT_OK;
    if (from > to)
        return cli_usage_error(me, "--from is after --to");

    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    rc = cli_target_resolve(me, s, &target, &m);
    /* on the record before any fix is read (see locate) */
    cli_audit(c, me->name, rc == CLI_CONTINUE ? m.v.device : target.text,
              reason);
    if (rc != CLI_CONTINUE)
        return rc;
    rc = CLI_EXIT_OK;
    e = lw_store_device_get(s, m.v.device, &d);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "%s has not reported yet (registered, but its "
                         "tracker has never been heard)",
                         m.v.device);
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);

    switch (o.fmt) {
    case FMT_CSV:
        printf("fix_time,lat,lon,speed_mps,course_deg,accuracy_m\n");
        break;
    case FMT_GPX:
        gpx_head(c, &m);
        break;
    case FMT_KML:
        kml_head(&m);
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

    e = lw_store_history(s, m.v.device, from, to, on_fix, &o);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, s, e);
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
    case FMT_KML:
        kml_tail(&o);
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
