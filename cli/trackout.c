/*
 * trackout.c - a vehicle's fixes as CSV, JSON, GeoJSON (RFC 7946), GPX 1.1
 * or KML 2.2, written to any stream: 'lienwatch history' writes one to
 * stdout, 'lienwatch evidence' all of them to files in one pass.
 *
 * CSV, JSON, GPX and KML are streamed fix by fix, so a year of history
 * costs no memory: the JSON array's brackets and commas are written here,
 * each element is built and serialised by jansson; KML's gx:Track takes its
 * <when>/<gx:coord> pairs interleaved, as Google's own exports wrote them,
 * so one pass over one query's snapshot writes it. GeoJSON is built whole
 * by jansson (the line and the points go in one FeatureCollection); map
 * tools load it whole anyway. Coordinates are WGS-84 degrees, times ISO 8601
 * UTC. Text from the registry (device ids, plates, descriptions) is escaped
 * for XML, and in KML descriptions, which Google Earth renders as HTML, for
 * HTML as well.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/alertjson.h"
#include "lienwatch/suspect.h"
#include "lienwatch/timeutil.h"

#ifndef LW_VERSION
#define LW_VERSION "unknown"
#endif

/* Decimals in CSV and GPX: 1e-7 degree is about 1 cm; speed to cm/s. */
#define COORD_DECIMALS 7
#define SPEED_DECIMALS 2
#define COURSE_DECIMALS 1
#define ACCURACY_DECIMALS 1
#define ALT_DECIMALS 1
/* Room for a vehicle's label ("PLATE, DESCRIPTION (DEVICE)") and for its
 * line in descriptions ("device D, plate P, VIN V, DESCRIPTION"). */
#define LABEL_BUFLEN (LW_PLATE_MAX + LW_DESCRIPTION_MAX + LW_DEVICE_MAX + 8)
#define LINE_BUFLEN                                                            \
    (LW_DEVICE_MAX + LW_PLATE_MAX + LW_VIN_MAX + LW_DESCRIPTION_MAX + 32)
/* Code points XML 1.0 does not allow even as references (besides the C0
 * controls other than tab, newline and carriage return). */
#define XML_NONCHAR_FFFE 0xFFFEUL
#define XML_NONCHAR_FFFF 0xFFFFUL
/* C0 controls end here; DEL. */
#define FIRST_PRINTABLE 0x20UL
#define DEL 0x7FUL

static const char *const format_names[] = {
    [CLI_TRACK_CSV] = "csv",         [CLI_TRACK_JSON] = "json",
    [CLI_TRACK_GEOJSON] = "geojson", [CLI_TRACK_GPX] = "gpx",
    [CLI_TRACK_KML] = "kml",
};

const char *cli_track_format_name(enum cli_track_format f)
{
    return (unsigned)f < CLI_TRACK_FORMATS ? format_names[f] : "unknown";
}

bool cli_track_format_parse(const char *s, enum cli_track_format *f)
{
    size_t i;

    for (i = 0; i < CLI_TRACK_FORMATS; i++)
        if (strcmp(s, format_names[i]) == 0) {
            *f = (enum cli_track_format)i;
            return true;
        }
    return false;
}

void cli_xml_escape(FILE *f, const char *s, bool html)
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
        n = lw_utf8_next(p, &cp);
        if (n == 0 ||
            (cp < FIRST_PRINTABLE && cp != '\t' && cp != '\n' && cp != '\r') ||
            cp == XML_NONCHAR_FFFE || cp == XML_NONCHAR_FFFF) {
            fputc('?', f);
            p += n ? n : 1;
            continue;
        }
        fwrite(p, 1, n, f);
        p += n;
    }
}

void cli_html_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t n;

    while (*p) {
        const char *rep = NULL;

        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        }
        if (rep) {
            fputs(rep, f);
            p++;
            continue;
        }
        n = lw_utf8_next(p, &cp);
        /* what is not UTF-8, controls (but tab and newline), DEL and the
         * XML non-characters: U+FFFD, the replacement character */
        if (n == 0 || (cp < FIRST_PRINTABLE && cp != '\t' && cp != '\n') ||
            cp == DEL || cp == XML_NONCHAR_FFFE || cp == XML_NONCHAR_FFFF) {
            fputs("\xEF\xBF\xBD", f);
            p += n ? n : 1;
            continue;
        }
        fwrite(p, 1, n, f);
        p += n;
    }
}

static void xml_escape(FILE *f, const char *s)
{
    cli_xml_escape(f, s, false);
}

/* The fields of the CSV, as a JSON object (new reference or NULL). */
static json_t *fix_object(const struct lw_fix *f)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "fix_time",
                     cli_json_time(f->fix_time_ms), "lat",
                     json_real(f->lat_deg), "lon", json_real(f->lon_deg),
                     "speed_mps", cli_json_real(f->speed_mps), "course_deg",
                     cli_json_real(f->course_deg), "accuracy_m",
                     cli_json_real(f->accuracy_m), "device", f->device);
}

/* Writes s as one CSV field (RFC 4180: quoted when it holds a comma, a
 * quote or a line break). */
static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static bool write_csv(FILE *out, const struct lw_fix *f, const char *sus)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char sp[CLI_NUM_BUFLEN], co[CLI_NUM_BUFLEN], ac[CLI_NUM_BUFLEN];

    fprintf(out, "%s,%s,%s,%s,%s,%s,", cli_time(f->fix_time_ms, t),
            cli_num(f->lat_deg, COORD_DECIMALS, la),
            cli_num(f->lon_deg, COORD_DECIMALS, lo),
            cli_num(f->speed_mps, SPEED_DECIMALS, sp),
            cli_num(f->course_deg, COURSE_DECIMALS, co),
            cli_num(f->accuracy_m, ACCURACY_DECIMALS, ac));
    csv_field(out, f->device);
    return fprintf(out, ",%s\n", sus ? sus : "") >= 0;
}

/* Orders suspects by time, then device: the order of a merged history. */
static int suspect_cmp(const struct cli_suspect *a, int64_t t, const char *dev)
{
    if (a->fix_time_ms != t)
        return a->fix_time_ms < t ? -1 : 1;
    return strcmp(a->device, dev);
}

/* The suspect kind of f ("jump"), or NULL; fixes come in time order, then
 * device order. */
static const char *suspect_of(struct cli_track *o, const struct lw_fix *f)
{
    while (o->isuspect < o->nsuspect &&
           suspect_cmp(&o->suspect[o->isuspect], f->fix_time_ms, f->device) <
               0)
        o->isuspect++;
    if (o->isuspect < o->nsuspect &&
        suspect_cmp(&o->suspect[o->isuspect], f->fix_time_ms, f->device) == 0)
        return o->suspect[o->isuspect].kind;
    return NULL;
}

static bool write_json(struct cli_track *o, const struct lw_fix *f,
                       const char *sus)
{
    json_t *j = fix_object(f);
    char *text;

    if (j && sus && json_object_set_new(j, "suspect", json_string(sus))) {
        json_decref(j);
        j = NULL;
    }
    text = j ? json_dumps(j, CLI_JSON_REAL) : NULL;
    bool ok = text && fprintf(o->f, "%s  %s", o->n ? ",\n" : "[\n", text) >= 0;

    free(text);
    json_decref(j);
    return ok;
}

static bool write_gpx(FILE *out, const struct lw_fix *f, const char *sus)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char el[CLI_NUM_BUFLEN];

    fprintf(out, "      <trkpt lat=\"%s\" lon=\"%s\">",
            cli_num(f->lat_deg, COORD_DECIMALS, la),
            cli_num(f->lon_deg, COORD_DECIMALS, lo));
    /* GPX 1.1 order: ele, time, ..., src (the source of the data: the
     * device), ..., type (its classification: a suspect fix) */
    if (lw_has(f->alt_m))
        fprintf(out, "<ele>%s</ele>", cli_num(f->alt_m, ALT_DECIMALS, el));
    fprintf(out, "<time>%s</time><src>", cli_time(f->fix_time_ms, t));
    xml_escape(out, f->device);
    fputs("</src>", out);
    if (sus) {
        fputs("<type>suspect:", out);
        xml_escape(out, sus);
        fputs("</type>", out);
    }
    return fputs("</trkpt>\n", out) >= 0;
}

/* KML: remembers f's device and flag for the track's ExtendedData. */
static bool kml_keep(struct cli_track_kml *k, size_t n, const struct lw_fix *f,
                     const char *sus)
{
    size_t i;

    for (i = 0; i < k->nnames; i++)
        if (strcmp(k->names[i], f->device) == 0)
            break;
    if (i == k->nnames) {
        void *nn;

        if (k->nnames == UCHAR_MAX) /* 255 devices: the rest as the last */
            i = k->nnames - 1;
        else if (!(nn = realloc(k->names, (k->nnames + 1) *
                                              sizeof(*k->names))))
            return false;
        else {
            k->names = nn;
            snprintf(k->names[k->nnames++], sizeof(k->names[0]), "%s",
                     f->device);
        }
    }
    if (n >= k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 1024;
        unsigned char *d = realloc(k->dev, ncap), *u;

        if (!d)
            return false;
        k->dev = d;
        if (!(u = realloc(k->sus, ncap)))
            return false;
        k->sus = u;
        k->cap = ncap;
    }
    k->dev[n] = (unsigned char)i;
    k->sus[n] = sus != NULL;
    return true;
}

/* One <when>/<gx:coord> pair of the gx:Track: "lon lat alt", altitude 0
 * when unknown (the track is clamped to the ground, which ignores it). */
static bool write_kml(FILE *out, const struct lw_fix *f)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];
    char el[CLI_NUM_BUFLEN];

    return fprintf(out,
                   "        <when>%s</when><gx:coord>%s %s %s</gx:coord>\n",
                   cli_time(f->fix_time_ms, t),
                   cli_num(f->lon_deg, COORD_DECIMALS, lo),
                   cli_num(f->lat_deg, COORD_DECIMALS, la),
                   lw_has(f->alt_m) ? cli_num(f->alt_m, ALT_DECIMALS, el)
                                    : "0") >= 0;
}

/*
 * GeoJSON: appends pos (a new reference, taken even on failure) to the line
 * of f's device in lines (an object: device -> {"c": coordinates, "from",
 * "to": fix times in ms}), so that a vehicle's trackers each get their own
 * LineString instead of one that zigzags between them.
 */
static bool line_add(json_t *lines, const struct lw_fix *f, json_t *pos)
{
    json_t *l = json_object_get(lines, f->device);

    if (!l) {
        l = json_pack("{s:[], s:I}", "c", "from", (json_int_t)f->fix_time_ms);
        if (!l || json_object_set_new(lines, f->device, l) != 0) {
            json_decref(pos);
            return false;
        }
    }
    if (json_object_set_new(l, "to", json_integer(f->fix_time_ms)) != 0) {
        json_decref(pos);
        return false;
    }
    /* append_new takes the reference even when it fails */
    return json_array_append_new(json_object_get(l, "c"), pos) == 0;
}

static bool add_geojson(struct cli_track *o, const struct lw_fix *f,
                        const char *sus)
{
    json_t *pos =
        json_pack("[o, o]", json_real(f->lon_deg), json_real(f->lat_deg));
    json_t *pt = json_pack(
        "{s:s, s:{s:s, s:[o, o]}, s:{s:o, s:o, s:o, s:o, s:s}}", "type",
        "Feature", "geometry", "type", "Point", "coordinates",
        json_real(f->lon_deg), json_real(f->lat_deg), "properties",
        "fix_time", cli_json_time(f->fix_time_ms), "speed_mps",
        cli_json_real(f->speed_mps), "course_deg", cli_json_real(f->course_deg),
        "accuracy_m", cli_json_real(f->accuracy_m), "device", f->device);

    if (!pos || !pt ||
        (sus && json_object_set_new(json_object_get(pt, "properties"),
                                    "suspect", json_string(sus)))) {
        json_decref(pos);
        json_decref(pt);
        return false;
    }
    if (!line_add(o->line, f, pos)) {
        json_decref(pt);
        return false;
    }
    return json_array_append_new(o->points, pt) == 0;
}

static void vehicle_line(const struct lw_vehicle_match *m, char *buf,
                         size_t len);
static void kml_open_track(FILE *out, const struct lw_vehicle_match *m);
static void kml_close_track(struct cli_track *o);

/*
 * The fixes went on with another device: in GPX and KML a vehicle's trackers
 * each get a track of their own (the caller passes them one tracker at a
 * time: cmd_history.c), so a map does not draw a line zigzagging between
 * two trackers that are apart. The other formats stay one sequence.
 */
static bool next_track(struct cli_track *o)
{
    char label[LABEL_BUFLEN], desc[LINE_BUFLEN];

    switch (o->fmt) {
    case CLI_TRACK_GPX:
        cli_vehicle_label(o->m, label, sizeof(label));
        vehicle_line(o->m, desc, sizeof(desc));
        fprintf(o->f, "    </trkseg>\n  </trk>\n  <trk>\n    <name>");
        xml_escape(o->f, label);
        fprintf(o->f, "</name>\n    <desc>");
        xml_escape(o->f, desc);
        fprintf(o->f, "</desc>\n    <trkseg>\n");
        break;
    case CLI_TRACK_KML:
        kml_close_track(o);
        kml_open_track(o->f, o->m);
        break;
    case CLI_TRACK_CSV:
    case CLI_TRACK_JSON:
    case CLI_TRACK_GEOJSON:
        break;
    }
    return !ferror(o->f);
}

int cli_track_fix(void *ctx, const struct lw_fix *f)
{
    struct cli_track *o = ctx;
    const char *sus;
    bool ok = false;

    if (o->failed)
        return 1;
    sus = suspect_of(o, f);
    if (o->n > 0 && strcmp(o->last.device, f->device) != 0 &&
        !next_track(o))
        goto fail;
    switch (o->fmt) {
    case CLI_TRACK_CSV:
        ok = write_csv(o->f, f, sus);
        break;
    case CLI_TRACK_JSON:
        ok = write_json(o, f, sus);
        break;
    case CLI_TRACK_GPX:
        ok = write_gpx(o->f, f, sus);
        break;
    case CLI_TRACK_GEOJSON:
        ok = add_geojson(o, f, sus);
        break;
    case CLI_TRACK_KML:
        ok = kml_keep(&o->kml, (size_t)o->n, f, sus) && write_kml(o->f, f);
        break;
    }
    if (!ok || ferror(o->f))
        goto fail;
    if (o->n == 0 || f->fix_time_ms >= o->newest.fix_time_ms)
        o->newest = *f;
    o->last = *f;
    o->n++;
    return 0;
fail:
    o->failed = true;
    return 1;
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

static void gpx_head(FILE *out, int64_t now_ms,
                     const struct lw_vehicle_match *m)
{
    char t[LW_TIME_BUFLEN], label[LABEL_BUFLEN], desc[LINE_BUFLEN];

    cli_vehicle_label(m, label, sizeof(label));
    vehicle_line(m, desc, sizeof(desc));
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<gpx version=\"1.1\" creator=\"lienwatch %s\"\n"
            "     xmlns=\"http://www.topografix.com/GPX/1/1\"\n"
            "     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
            "     xsi:schemaLocation=\"http://www.topografix.com/GPX/1/1 "
            "http://www.topografix.com/GPX/1/1/gpx.xsd\">\n"
            "  <metadata>\n    <name>",
            LW_VERSION);
    xml_escape(out, label);
    fprintf(out, "</name>\n    <desc>");
    xml_escape(out, desc);
    fprintf(out,
            "</desc>\n    <time>%s</time>\n  </metadata>\n  <trk>\n    <name>",
            cli_time(now_ms, t));
    xml_escape(out, label);
    fprintf(out, "</name>\n    <desc>");
    xml_escape(out, desc);
    fprintf(out, "</desc>\n    <trkseg>\n");
}

/* A KML <description>: the vehicle, as HTML (viewers render it so). */
static void kml_description(FILE *out, const struct lw_vehicle_match *m)
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

    fprintf(out, "<description>");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *val = (const char *)v + rows[i].off;

        if (!val[0])
            continue;
        /* the markup is ours: escaped for XML once; the value twice */
        fprintf(out, "%s%s: ", first ? "" : "&lt;br/&gt;", rows[i].label);
        cli_xml_escape(out, val, true);
        first = false;
    }
    fprintf(out, "</description>\n");
}

/* Opens a Placemark with its gx:Track (one per tracker of a vehicle). */
static void kml_open_track(FILE *out, const struct lw_vehicle_match *m)
{
    char label[LABEL_BUFLEN];

    cli_vehicle_label(m, label, sizeof(label));
    fprintf(out, "    <Placemark>\n      <name>");
    xml_escape(out, label);
    fprintf(out, "</name>\n      ");
    kml_description(out, m);
    fprintf(out, "      <gx:Track>\n"
                 "        <altitudeMode>clampToGround</altitudeMode>\n");
}

static void kml_head(FILE *out, const struct lw_vehicle_match *m)
{
    char label[LABEL_BUFLEN];

    cli_vehicle_label(m, label, sizeof(label));
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<kml xmlns=\"http://www.opengis.net/kml/2.2\"\n"
                 "     xmlns:gx=\"http://www.google.com/kml/ext/2.2\">\n"
                 "  <Document>\n    <name>");
    xml_escape(out, label);
    fprintf(out, "</name>\n    ");
    kml_description(out, m);
    /* per-fix data of the gx:Track: its device, and a suspect flag */
    fprintf(out, "    <Schema id=\"fix\">\n"
                 "      <gx:SimpleArrayField name=\"device\" type=\"string\">"
                 "<displayName>device</displayName></gx:SimpleArrayField>\n"
                 "      <gx:SimpleArrayField name=\"suspect\" "
                 "type=\"string\"><displayName>suspect</displayName>"
                 "</gx:SimpleArrayField>\n"
                 "    </Schema>\n");
    kml_open_track(out, m);
}

/* Writes the per-fix data of the open track (its fixes since kml.start)
 * and closes it. */
static void kml_close_track(struct cli_track *o)
{
    int64_t i, start = (int64_t)o->kml.start;

    if (o->n > start) {
        /* one value per <when>, in order (KML 2.2, gx:SimpleArrayData) */
        fprintf(o->f, "        <ExtendedData><SchemaData schemaUrl=\"#fix\">\n"
                      "          <gx:SimpleArrayData name=\"device\">");
        for (i = start; i < o->n; i++) {
            fputs("<gx:value>", o->f);
            xml_escape(o->f, o->kml.names[o->kml.dev[i]]);
            fputs("</gx:value>", o->f);
        }
        fprintf(o->f, "</gx:SimpleArrayData>\n"
                      "          <gx:SimpleArrayData name=\"suspect\">");
        for (i = start; i < o->n; i++)
            fputs(o->kml.sus[i] ? "<gx:value>jump</gx:value>"
                                : "<gx:value></gx:value>",
                  o->f);
        fprintf(o->f, "</gx:SimpleArrayData>\n"
                      "        </SchemaData></ExtendedData>\n");
    }
    fprintf(o->f, "      </gx:Track>\n    </Placemark>\n");
    o->kml.start = (size_t)o->n;
}

/* Closes the track and marks the newest fix with a Placemark of its own. */
static void kml_tail(struct cli_track *o)
{
    char t[LW_TIME_BUFLEN], la[CLI_NUM_BUFLEN], lo[CLI_NUM_BUFLEN];

    kml_close_track(o);
    if (o->n > 0) {
        fprintf(o->f, "    <Placemark>\n      <name>last fix: ");
        xml_escape(o->f, o->newest.device);
        fprintf(o->f,
                "</name>\n      <TimeStamp><when>%s</when></TimeStamp>\n"
                "      <Point><coordinates>%s,%s</coordinates></Point>\n"
                "    </Placemark>\n",
                cli_time(o->newest.fix_time_ms, t),
                cli_num(o->newest.lon_deg, COORD_DECIMALS, lo),
                cli_num(o->newest.lat_deg, COORD_DECIMALS, la));
    }
    fprintf(o->f, "  </Document>\n</kml>\n");
}

/* Writes the whole GeoJSON document: a LineString per tracker (left out
 * below two positions: RFC 7946 requires two), then the points. */
static bool geojson_write(struct cli_track *o)
{
    json_t *features = json_array(), *doc = NULL, *l;
    const struct lw_vehicle *v = &o->m->v;
    const char *device;
    bool ok = false;

    if (!features)
        goto out;
    json_object_foreach(o->line, device, l) {
        json_t *c = json_object_get(l, "c"), *line;

        if (json_array_size(c) < 2)
            continue;
        line = json_pack(
            "{s:s, s:{s:s, s:O}, s:{s:s, s:o, s:o, s:o, s:o, s:o, s:I}}",
            "type", "Feature", "geometry", "type", "LineString", "coordinates",
            c, "properties", "device", device, "plate",
            lw_json_str_or_null(v->plate), "vin", lw_json_str_or_null(v->vin),
            "description", lw_json_str_or_null(v->description), "from",
            cli_json_time(json_integer_value(json_object_get(l, "from"))),
            "to", cli_json_time(json_integer_value(json_object_get(l, "to"))),
            "fixes", (json_int_t)json_array_size(c));
        if (!line || json_array_append_new(features, line) != 0)
            goto out;
    }
    if (json_array_extend(features, o->points) != 0)
        goto out;
    doc = json_pack("{s:s, s:o}", "type", "FeatureCollection", "features",
                    features);
    features = NULL; /* stolen by json_pack, even on failure */
    /* not indented: one number per line would triple the size */
    ok = doc && json_dumpf(doc, o->f, CLI_JSON_REAL) == 0 &&
         fputc('\n', o->f) != EOF;
out:
    json_decref(features);
    json_decref(doc);
    return ok;
}

bool cli_track_begin(struct cli_track *t, FILE *f, enum cli_track_format fmt,
                     const struct lw_vehicle_match *m, int64_t now_ms)
{
    memset(t, 0, sizeof(*t));
    t->f = f;
    t->fmt = fmt;
    t->m = m;
    switch (fmt) {
    case CLI_TRACK_CSV:
        fprintf(f, "fix_time,lat,lon,speed_mps,course_deg,accuracy_m,device,"
                   "suspect\n");
        break;
    case CLI_TRACK_GPX:
        gpx_head(f, now_ms, m);
        break;
    case CLI_TRACK_KML:
        kml_head(f, m);
        break;
    case CLI_TRACK_GEOJSON:
        t->line = json_object();
        t->points = json_array();
        if (!t->line || !t->points) {
            cli_track_release(t);
            t->failed = true;
            return false;
        }
        break;
    case CLI_TRACK_JSON:
        break;
    }
    if (ferror(f))
        t->failed = true;
    return !t->failed;
}

bool cli_track_end(struct cli_track *t)
{
    bool ok = !t->failed;

    if (ok) {
        switch (t->fmt) {
        case CLI_TRACK_CSV:
            break;
        case CLI_TRACK_JSON:
            fprintf(t->f, t->n ? "\n]\n" : "[]\n");
            break;
        case CLI_TRACK_GPX:
            fprintf(t->f, "    </trkseg>\n  </trk>\n</gpx>\n");
            break;
        case CLI_TRACK_KML:
            kml_tail(t);
            break;
        case CLI_TRACK_GEOJSON:
            ok = geojson_write(t);
            break;
        }
    }
    cli_track_release(t);
    return ok && !ferror(t->f);
}

void cli_track_release(struct cli_track *t)
{
    json_decref(t->line);
    json_decref(t->points);
    t->line = t->points = NULL;
    cli_track_suspects_clear(t);
    free(t->kml.names);
    free(t->kml.dev);
    free(t->kml.sus);
    memset(&t->kml, 0, sizeof(t->kml));
}

/* Where add_suspect puts what it is given. */
struct suspect_load {
    struct cli_track *t; /* the track */
    const char *device;  /* whose flags */
};

/* lw_suspect_cb: one more flagged fix into the track's list. */
static int add_suspect(void *ctx, int64_t fix_time_ms, const char *kind)
{
    struct suspect_load *l = ctx;
    struct cli_track *t = l->t;
    struct cli_suspect *n;

    if ((t->nsuspect & (t->nsuspect - 1)) == 0) { /* 0, 1, 2, 4 ...: grow */
        n = realloc(t->suspect,
                    (t->nsuspect ? t->nsuspect * 2 : 1) * sizeof(*n));
        if (!n) {
            t->failed = true;
            return 1;
        }
        t->suspect = n;
    }
    t->suspect[t->nsuspect].fix_time_ms = fix_time_ms;
    snprintf(t->suspect[t->nsuspect].device, sizeof(t->suspect->device), "%s",
             l->device);
    snprintf(t->suspect[t->nsuspect].kind, sizeof(t->suspect->kind), "%s",
             kind ? kind : "");
    t->nsuspect++;
    return 0;
}

static int suspect_sort(const void *a, const void *b)
{
    const struct cli_suspect *y = b;

    return suspect_cmp(a, y->fix_time_ms, y->device);
}

void cli_track_suspects_clear(struct cli_track *t)
{
    free(t->suspect);
    t->suspect = NULL;
    t->nsuspect = t->isuspect = 0;
}

enum lw_err cli_track_suspects(struct cli_track *t, struct lw_store *s,
                               const char *device, int64_t from_ms,
                               int64_t to_ms)
{
    struct suspect_load l = {t, device};
    enum lw_err e;

    e = lw_suspect_each(s, device, from_ms, to_ms, add_suspect, &l);
    if (e == LW_OK && t->failed)
        e = LW_ERR_NOMEM;
    if (e == LW_OK && t->nsuspect > 1) /* merged: by time, then device */
        qsort(t->suspect, t->nsuspect, sizeof(*t->suspect), suspect_sort);
    return e;
}
