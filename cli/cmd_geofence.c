/*
 * cmd_geofence.c - 'lienwatch geofence import|add-circle|list|remove|which':
 * the areas a vehicle must stay in (keep_in) or out of (keep_out).
 *
 * Import reads the file (at most the configured size, cli_import.h), parses
 * it into a temporary fence set (so the database only ever holds fences the
 * daemon can load), has the core check every fence (fencecheck.h: GEOS
 * validity, radius and size bounds; --make-valid repairs), then stores each
 * fence as the compact GeoJSON Feature lw_fence_to_geojson writes, with its
 * bounding box for the R*Tree, all in one transaction. 'which' loads every
 * stored fence into a fence set, as lienwatchd does, and answers with the
 * same exact point-in-polygon test behind a bounding-box index.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_import.h"
#include "lienwatch/fence.h"
#include "lienwatch/fencecheck.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/watch.h"

/* Room for a library or validation message. */
#define ERR_MAX 512
/* Room for a formatted duration. */
#define DUR_BUFLEN 32
/* Room for "vehicle <device>" / "account <account>". */
#define APPLIES_MAX (LW_DEVICE_MAX + 16)
/* Text columns are at least as wide as their heading, at most this wide. */
#define COL_MAX 40
/* Problems of one import reported one by one; the rest are counted. */
#define REPORT_MAX 20
/* Square metres per square kilometre, for messages. */
#define M2_PER_KM2 1e6
/* Areas from this many km2 up are printed without decimals. */
#define KM2_WHOLE 100.0

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    A geofence is an area on the map: keep_in fences are where a\n"
    "    vehicle belongs (leaving one raises geofence_exit), keep_out fences\n"
    "    are where it must not be (entering one raises geofence_enter; "
    "staying\n"
    "    longer than --max-dwell raises dwell). A fence applies to one\n"
    "    vehicle (--vehicle), to every vehicle of one account (--account), or\n"
    "    to every vehicle when neither is given. Alerts are raised only for\n"
    "    watched (overdue) vehicles, and a crossing counts only when\n"
    "    confirmed (see lienwatchd(8)).\n"
    "\n"
    "    Fences are Polygons and MultiPolygons (with holes) in WGS-84\n"
    "    longitude/latitude, edges straight in that plane as in GeoJSON\n"
    "    (RFC 7946) and GEOS; a point on the boundary is inside. A fence that\n"
    "    crosses the antimeridian must come split into a MultiPolygon. A\n"
    "    circle is a GeoJSON Point feature with a radius_m property (metres,\n"
    "    measured on the ground) or made with add-circle.\n"
    "\n"
    "    Names are unique: adding a fence under a name that exists replaces\n"
    "    that fence (geometry, kind, link, dwell limit) and keeps its\n"
    "    identity, so re-importing an unchanged file changes nothing for the\n"
    "    daemon and its open alerts. Every change is recorded in the audit\n"
    "    trail and reaches a running lienwatchd within about a second.\n"
    "\n"
    "    geofence import FILE.geojson --kind keep_in|keep_out\n"
    "        Stores every feature of FILE (a FeatureCollection, or one\n"
    "        Feature; '-' reads standard input) as one fence of the given\n"
    "        kind, named by the feature property --name-property (default\n"
    "        'name'; a non-empty string or a number). The whole file is\n"
    "        checked first and nothing is stored when anything is wrong:\n"
    "        invalid JSON or GeoJSON (reported as FILE: feature N: what, N\n"
    "        counted from 0), a feature without a usable name, two features\n"
    "        with the same name, a name longer than 128 bytes, a FILE larger\n"
    "        than the import limit (64 MiB, see --max-bytes), or an invalid\n"
    "        fence. Otherwise every fence is stored in one transaction.\n"
    "        Properties other than the name are not kept.\n"
    "\n"
    "        A fence is invalid when GEOS finds its polygon invalid (a ring\n"
    "        that crosses or touches itself, as a bow-tie or a spike does;\n"
    "        a hole outside its shell; parts that overlap; a ring of fewer\n"
    "        than 3 distinct points), when it encloses no area, when it has\n"
    "        more than 100000 vertices (simplify it), or when it is a circle\n"
    "        whose radius is not 1 m to 1000 km. Each is reported with its\n"
    "        feature number, GEOS's reason and where (lat, lon). With\n"
    "        --make-valid, invalid polygons are repaired instead (GEOS\n"
    "        MakeValid: shells united, holes subtracted, parts that collapse\n"
    "        to lines dropped) and each repair says what changed: parts,\n"
    "        holes, vertices, area. A repair may change what is inside: read\n"
    "        what it says. A polygon that has no area left is refused.\n"
    "    geofence add-circle NAME LAT LON RADIUS_M --kind keep_in|keep_out\n"
    "        Stores a circle of RADIUS_M metres (1 to 1000000) around LAT\n"
    "        LON (degrees).\n"
    "    geofence list\n"
    "        Every fence, by name: kind, shape, what it applies to, dwell\n"
    "        limit, bounding box.\n"
    "    geofence remove NAME\n"
    "        Removes the fence NAME.\n"
    "    geofence which LAT LON\n"
    "        The fences that contain the point, by name, one per line with\n"
    "        their kind and what they apply to (nothing when none; a note\n"
    "        says so on stderr). Every fence counts, whatever it applies to.\n"
    "    geofence which --stdin\n"
    "        Reads one point per line, 'LAT LON' in degrees (separated by\n"
    "        blanks, a comma or a tab), and prints for each line, in the same\n"
    "        order, one JSON array of the names of the fences containing it,\n"
    "        sorted by name: [] for none. A line that is not a valid point\n"
    "        prints null (so output lines stay aligned with input lines) and\n"
    "        a warning naming the line on stderr; the exit status is then 2.\n"
    "\n"
    "OPTIONS\n"
    "    --kind keep_in|keep_out\n"
    "        (import, add-circle; required) What the fences mean.\n"
    "    --name-property PROP\n"
    "        (import) The feature property that names each fence.\n"
    "    --make-valid\n"
    "        (import) Repair invalid polygons instead of refusing the file\n"
    "        (see above); the repaired fences are the ones stored.\n"
    CLI_IMPORT_HELP_OPTIONS
    "    --vehicle DEVICE\n"
    "        (import, add-circle) The fences apply to this vehicle only.\n"
    "    --account ACCOUNT\n"
    "        (import, add-circle) The fences apply to the vehicles of this\n"
    "        account only. Not together with --vehicle.\n"
    "    --max-dwell DURATION\n"
    "        (import, add-circle; keep_out only) Raise a dwell alert when a\n"
    "        watched vehicle stays inside longer: 90s, 15m, 6h, 2d.\n"
    "    --json\n"
    "        (list) One JSON array of objects: id, name, kind, shape\n"
    "        (polygon, multipolygon or circle), radius_m (circles, else\n"
    "        null), vehicle and account (null when not linked), max_dwell_s\n"
    "        (null when none), bbox [west, south, east, north].\n"
    "        (which LAT LON) One JSON array of names, as --stdin prints.\n"
    "    --geojson\n"
    "        (list) Every fence as one GeoJSON FeatureCollection, as stored\n"
    "        (properties name and kind, radius_m for circles).\n"
    "    --stdin\n"
    "        (which) Read points from standard input.\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "    A negative LAT or LON is an operand, not an option: -10.91 -37.07\n"
    "    works as it is.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, or FILE\n"
    "    unreadable; 2 bad options or arguments (a radius out of range\n"
    "    too), an invalid or too large FILE or an invalid fence in it\n"
    "    (nothing stored), or (which --stdin) at least one bad input line;\n"
    "    3 no geofence NAME (remove).\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch geofence import sergipe.geojson --kind keep_in \\\n"
    "        --account ACC-1001\n"
    "    lienwatch geofence import ports.geojson --kind keep_out "
    "--max-dwell 30m\n"
    "    lienwatch geofence import drawn.geojson --kind keep_in "
    "--make-valid\n"
    "    lienwatch geofence add-circle 'Santos port' -23.96 -46.30 3000 "
    "--kind keep_out\n"
    "    lienwatch geofence which -10.91 -37.07\n"
    "    printf '%s\\n' '-10.91 -37.07' '52.52,13.40' | lienwatch geofence "
    "which --stdin\n"
    "    lienwatch geofence remove 'Santos port'\n";
/* clang-format on */

static int cmd_geofence(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_geofence = {
    .name = "geofence",
    .run = cmd_geofence,
    .synopsis =
        "import FILE.geojson --kind keep_in|keep_out\n"
        "        [--name-property PROP] [--vehicle DEVICE | --account "
        "ACCOUNT]\n"
        "        [--max-dwell DURATION] [--make-valid] [--config FILE]\n"
        "        [--max-bytes N]\n"
        "    lienwatch [--db PATH] [--as NAME] geofence add-circle NAME LAT "
        "LON RADIUS_M\n"
        "        --kind keep_in|keep_out [--vehicle DEVICE | --account "
        "ACCOUNT]\n"
        "        [--max-dwell DURATION]\n"
        "    lienwatch [--db PATH] [--as NAME] geofence list [--json | "
        "--geojson]\n"
        "    lienwatch [--db PATH] [--as NAME] geofence remove NAME\n"
        "    lienwatch [--db PATH] [--as NAME] geofence which LAT LON "
        "[--json]\n"
        "    lienwatch [--db PATH] [--as NAME] geofence which --stdin",
    .summary = "import, add, list, remove geofences; which contain a point",
    .help = help,
};

static const struct cli_command cmd_import = {
    .name = "geofence import",
    .synopsis = "FILE.geojson --kind keep_in|keep_out [--name-property PROP] "
                "[--vehicle DEVICE | --account ACCOUNT] [--max-dwell "
                "DURATION] [--make-valid] [--config FILE] [--max-bytes N]",
    .summary = "import fences from GeoJSON",
    .help = help,
};
static const struct cli_command cmd_circle = {
    .name = "geofence add-circle",
    .synopsis = "NAME LAT LON RADIUS_M --kind keep_in|keep_out "
                "[--vehicle DEVICE | --account ACCOUNT] [--max-dwell "
                "DURATION]",
    .summary = "add a circle fence",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "geofence list",
    .synopsis = "[--json | --geojson]",
    .summary = "every fence",
    .help = help,
};
static const struct cli_command cmd_remove = {
    .name = "geofence remove",
    .synopsis = "NAME",
    .summary = "remove a fence",
    .help = help,
};
static const struct cli_command cmd_which = {
    .name = "geofence which",
    .synopsis = "LAT LON [--json] | --stdin",
    .summary = "fences containing a point",
    .help = help,
};

/* ---- shared by import and add-circle --------------------------------------
 */

/* What import and add-circle store besides the geometry. */
struct fence_opts {
    bool have_kind;          /* --kind given */
    enum lw_fence_kind kind; /* --kind */
    const char *name_prop;   /* --name-property, NULL = "name" */
    const char *vehicle;     /* --vehicle, NULL */
    const char *account;     /* --account, NULL */
    int64_t max_dwell_ms;    /* --max-dwell, 0 = none */
};

enum {
    OPT_KIND = 0x200,
    OPT_NAME_PROP,
    OPT_VEHICLE,
    OPT_ACCOUNT,
    OPT_MAX_DWELL,
    OPT_JSON,
    OPT_GEOJSON,
    OPT_STDIN,
    OPT_MAKE_VALID,
};

/* Handles one option of import/add-circle; exit code or CLI_CONTINUE. */
static int fence_opt(const struct cli_command *me, int opt,
                     struct fence_opts *fo)
{
    char why[ERR_MAX];

    switch (opt) {
    case OPT_KIND:
        if (lw_fence_kind_parse(optarg, &fo->kind) != LW_OK)
            return cli_usage_error(
                me, "--kind '%s': keep_in or keep_out, please", optarg);
        fo->have_kind = true;
        return CLI_CONTINUE;
    case OPT_NAME_PROP:
        if (!optarg[0])
            return cli_usage_error(me, "--name-property needs a name");
        fo->name_prop = optarg;
        return CLI_CONTINUE;
    case OPT_VEHICLE:
        if (!optarg[0] || !lw_text_ok(optarg, LW_DEVICE_MAX, why, sizeof(why)))
            return cli_usage_error(me, "--vehicle %s",
                                   optarg[0] ? why : "needs a device");
        fo->vehicle = optarg;
        return CLI_CONTINUE;
    case OPT_ACCOUNT:
        if (!optarg[0] ||
            !lw_text_ok(optarg, LW_ACCOUNT_MAX, why, sizeof(why)))
            return cli_usage_error(me, "--account %s",
                                   optarg[0] ? why : "needs an account");
        fo->account = optarg;
        return CLI_CONTINUE;
    case OPT_MAX_DWELL:
        if (lw_duration_parse(optarg, &fo->max_dwell_ms) != LW_OK ||
            fo->max_dwell_ms <= 0)
            return cli_usage_error(me,
                                   "--max-dwell '%s' is not a duration > 0 "
                                   "(90s, 15m, 6h, 2d)",
                                   optarg);
        return CLI_CONTINUE;
    default:
        return cli_usage_error(me, "unhandled option");
    }
}

/* Checks the options together; exit code or CLI_CONTINUE. */
static int fence_opts_check(const struct cli_command *me,
                            const struct fence_opts *fo)
{
    if (!fo->have_kind)
        return cli_usage_error(me, "--kind keep_in|keep_out is required");
    if (fo->vehicle && fo->account)
        return cli_usage_error(me, "--vehicle and --account exclude each "
                                   "other: a fence has at most one link");
    if (fo->max_dwell_ms && fo->kind != LW_FENCE_KEEP_OUT)
        return cli_usage_error(me, "--max-dwell applies to keep_out fences "
                                   "only");
    return CLI_CONTINUE;
}

/* "every vehicle", "vehicle D" or "account A" into buf. */
static const char *applies_to(const char *device, const char *account,
                              char *buf, size_t len)
{
    if (device && device[0])
        snprintf(buf, len, "vehicle %s", device);
    else if (account && account[0])
        snprintf(buf, len, "account %s", account);
    else
        snprintf(buf, len, "every vehicle");
    return buf;
}

/* Warns when the linked vehicle or account is not (yet) registered. */
static void warn_unknown_link(struct lw_store *w, const char *cmd,
                              const struct fence_opts *fo)
{
    struct lw_vehicle v;
    struct lw_account a;

    if (fo->vehicle &&
        lw_registry_vehicle_get(w, fo->vehicle, &v) == LW_ERR_NOTFOUND)
        fprintf(stderr,
                "lienwatch %s: warning: vehicle %s is not registered yet "
                "(lienwatch vehicle set)\n",
                cmd, fo->vehicle);
    if (fo->account &&
        lw_registry_account_get(w, fo->account, &a) == LW_ERR_NOTFOUND)
        fprintf(stderr,
                "lienwatch %s: warning: account %s is not known yet "
                "(lienwatch account set)\n",
                cmd, fo->account);
}

/* Sorted names of the stored fences, to tell additions from replacements. */
struct names {
    char **v;      /* strdup'ed names */
    size_t n, cap; /* used / allocated */
    bool oom;      /* out of memory */
};

static int collect_name(void *ctx, const struct lw_geofence *g)
{
    struct names *nm = ctx;

    if (nm->n == nm->cap) {
        size_t ncap = nm->cap ? nm->cap * 2 : 64;
        char **nv = realloc(nm->v, ncap * sizeof(*nv));

        if (!nv) {
            nm->oom = true;
            return 1;
        }
        nm->v = nv;
        nm->cap = ncap;
    }
    nm->v[nm->n] = strdup(g->name);
    if (!nm->v[nm->n]) {
        nm->oom = true;
        return 1;
    }
    nm->n++;
    return 0;
}

static void names_free(struct names *nm)
{
    size_t i;

    for (i = 0; i < nm->n; i++)
        free(nm->v[i]);
    free(nm->v);
    memset(nm, 0, sizeof(*nm));
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether name is among the (sorted) names. */
static bool names_has(const struct names *nm, const char *name)
{
    return nm->n && bsearch(&name, nm->v, nm->n, sizeof(*nm->v), strp_cmp);
}

/*
 * Stores fences 0 .. count-1 of set with the options fo on w, in one
 * transaction, with one audit record (action, detail). *replaced gets how
 * many replaced a stored fence. Returns LW_OK or the error (rolled back).
 */
static enum lw_err store_fences(struct cli *c, struct lw_store *w,
                                const struct lw_fenceset *set,
                                const struct fence_opts *fo, const char *action,
                                const char *what, size_t repaired,
                                size_t *replaced)
{
    struct names old = {0};
    size_t i, count = lw_fenceset_count(set);
    char applies[APPLIES_MAX], repaired_text[64] = "";
    enum lw_err e;

    *replaced = 0;
    if (repaired)
        snprintf(repaired_text, sizeof(repaired_text),
                 ", %zu repaired with --make-valid", repaired);
    e = lw_store_begin(w);
    if (e != LW_OK)
        return e;
    e = lw_registry_fences(w, collect_name, &old);
    if (e == LW_OK && old.oom)
        e = LW_ERR_NOMEM;
    if (e == LW_OK && old.n)
        qsort(old.v, old.n, sizeof(*old.v), strp_cmp);
    for (i = 0; e == LW_OK && i < count; i++) {
        struct lw_geofence g;
        struct lw_geo_bbox box;
        char *json = NULL;

        memset(&g, 0, sizeof(g));
        snprintf(g.name, sizeof(g.name), "%s", lw_fence_get_name(set, i));
        g.kind = fo->kind;
        g.max_dwell_ms = fo->max_dwell_ms;
        snprintf(g.link_device, sizeof(g.link_device), "%s",
                 fo->vehicle ? fo->vehicle : "");
        snprintf(g.link_account, sizeof(g.link_account), "%s",
                 fo->account ? fo->account : "");
        e = lw_fence_get_bbox(set, i, &box);
        if (e == LW_OK)
            e = lw_fence_to_geojson(set, i, &json);
        if (e == LW_OK) {
            g.geojson = json;
            g.min_lat = box.min_lat_deg;
            g.min_lon = box.min_lon_deg;
            g.max_lat = box.max_lat_deg;
            g.max_lon = box.max_lon_deg;
            if (names_has(&old, g.name))
                (*replaced)++;
            e = lw_registry_fence_add(w, &g, c->now_ms, NULL);
        }
        free(json);
    }
    if (e == LW_OK)
        e = cli_audit_change(
            c, w, action, fo->vehicle,
            "%s: %zu %s fence%s (%zu replaced%s), "
            "applying to %s%s",
            what, count, lw_fence_kind_name(fo->kind), count == 1 ? "" : "s",
            *replaced, repaired_text,
            applies_to(fo->vehicle, fo->account, applies, sizeof(applies)),
            fo->max_dwell_ms ? ", with a dwell limit" : "");
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK && lw_store_in_txn(w))
        lw_store_rollback(w);
    names_free(&old);
    return e;
}

/* ---- import -------------------------------------------------------------- */

/*
 * Checks that every feature of the (already valid) GeoJSON text names its
 * fence with property prop: a non-empty string or a number. The fence set
 * would otherwise name it by its index, which would clash with the next
 * file's. Returns the number of problems (reported).
 */
static long check_name_props(const char *file, const char *text, size_t len,
                             const char *prop)
{
    json_t *root = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(root, "type"));
    json_t *features = NULL;
    size_t i, n;
    long bad = 0;

    if (!root)
        return 0; /* already parsed by lw_fenceset_add_geojson */
    if (type && strcmp(type, "FeatureCollection") == 0) {
        features = json_object_get(root, "features");
        n = json_array_size(features);
    } else {
        n = 1;
    }
    for (i = 0; i < n; i++) {
        json_t *f = features ? json_array_get(features, i) : root;
        const char *ftype = json_string_value(json_object_get(f, "type"));
        json_t *v = json_object_get(json_object_get(f, "properties"), prop);

        if (ftype && strcmp(ftype, "Feature") != 0) {
            fprintf(stderr,
                    "lienwatch geofence import: %s: a bare %s geometry has no "
                    "name: wrap it in a Feature with a '%s' property\n",
                    file, ftype, prop);
            bad++;
            continue;
        }
        if ((json_is_string(v) && json_string_length(v) > 0) ||
            json_is_number(v))
            continue;
        if (bad++ < REPORT_MAX)
            fprintf(stderr,
                    "lienwatch geofence import: %s: feature %zu has no "
                    "usable '%s' property (a non-empty string or a number "
                    "names each fence; choose one with --name-property)\n",
                    file, i, prop);
    }
    json_decref(root);
    return bad;
}

/* An id of the set, sortable by name. */
struct named {
    const char *name; /* borrowed from the set */
    size_t id;        /* fence id = feature index */
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->id < y->id ? -1 : x->id > y->id);
}

/* Checks the names of the set: valid, short enough, unique. Returns the
 * number of problems (reported), or -1 when out of memory. */
static long check_names(const char *file, const struct lw_fenceset *set)
{
    size_t i, n = lw_fenceset_count(set);
    struct named *v = calloc(n ? n : 1, sizeof(*v));
    char why[ERR_MAX];
    long bad = 0;

    if (!v)
        return -1;
    for (i = 0; i < n; i++) {
        v[i].name = lw_fence_get_name(set, i);
        v[i].id = i;
        if (!lw_text_ok(v[i].name, LW_FENCE_NAME_MAX, why, sizeof(why)) &&
            bad++ < REPORT_MAX)
            fprintf(stderr,
                    "lienwatch geofence import: %s: feature %zu: its name "
                    "%s\n",
                    file, i, why);
    }
    qsort(v, n, sizeof(*v), named_cmp);
    for (i = 1; i < n; i++) {
        /* a bad name was reported above, and is not printed as it is */
        if (strcmp(v[i].name, v[i - 1].name) == 0 &&
            lw_text_ok(v[i].name, LW_FENCE_NAME_MAX, why, sizeof(why)) &&
            bad++ < REPORT_MAX)
            fprintf(stderr,
                    "lienwatch geofence import: %s: features %zu and %zu "
                    "are both named '%s': names must be unique (choose "
                    "another --name-property)\n",
                    file, v[i - 1].id, v[i].id, v[i].name);
    }
    free(v);
    return bad;
}

/* "12.5 km²", "3 km²" (whole from KM2_WHOLE up) or "870 m²" into buf. */
static const char *area_text(double m2, char *buf, size_t len)
{
    char num[CLI_NUM_BUFLEN];
    double km2 = m2 / M2_PER_KM2;

    if (fabs(km2) >= KM2_WHOLE)
        snprintf(buf, len, "%.0f km\u00b2", km2);
    else if (fabs(km2) >= 1.0)
        snprintf(buf, len, "%s km\u00b2", cli_num(km2, 2, num));
    else
        snprintf(buf, len, "%.0f m\u00b2", m2);
    return buf;
}

/* What the fence check of one import found. */
struct check_ctx {
    const char *file;  /* for messages */
    size_t refused;    /* refusals reported so far */
    size_t repairable; /* of them, polygons --make-valid would try */
    char **repairs;    /* what each repair changed, printed when the
                          import goes ahead (first REPORT_MAX); owned */
    size_t nrepairs;   /* repairs seen */
    bool oom;          /* out of memory keeping them */
};

/* Reports one fence the check refused (stderr) or repaired (stdout). */
static void report_fence(void *ctx, const struct lw_fencecheck_report *r)
{
    struct check_ctx *cc = ctx;
    char where[96] = "", b[4][CLI_NUM_BUFLEN], a0[48], a1[48];

    if (r->has_location)
        snprintf(where, sizeof(where), " %s %s, %s",
                 r->is_circle ? "(centre" : "at", cli_num(r->lat_deg, 6, b[0]),
                 cli_num(r->lon_deg, 6, b[1]));
    if (r->has_location && r->is_circle)
        strcat(where, ")");
    if (r->verdict == LW_FENCECHECK_REFUSED) {
        if (r->can_repair)
            cc->repairable++;
        if (cc->refused++ < REPORT_MAX)
            fprintf(stderr,
                    "lienwatch geofence import: %s: feature %zu ('%s'): "
                    "%s%s%s%s\n",
                    cc->file, r->id, r->name, r->reason, where,
                    r->note[0] ? "; " : "", r->note);
        return;
    }
    if (cc->nrepairs++ >= REPORT_MAX)
        return;
    if (!cc->repairs) {
        cc->repairs = calloc(REPORT_MAX, sizeof(*cc->repairs));
        if (!cc->repairs) {
            cc->oom = true;
            return;
        }
    }
    if (asprintf(&cc->repairs[cc->nrepairs - 1],
                 "repaired feature %zu ('%s'): %s%s; now %zu part%s (was "
                 "%zu), %zu hole%s (was %zu), %zu vertices (was %zu), area "
                 "%s (was %s)",
                 r->id, r->name, r->reason, where, r->after.parts,
                 r->after.parts == 1 ? "" : "s", r->before.parts,
                 r->after.holes, r->after.holes == 1 ? "" : "s",
                 r->before.holes, r->after.vertices, r->before.vertices,
                 area_text(r->after.area_m2, a0, sizeof(a0)),
                 area_text(r->before.area_m2, a1, sizeof(a1))) < 0) {
        cc->repairs[cc->nrepairs - 1] = NULL;
        cc->oom = true;
    }
}

/* Prints the repairs kept in cc (stdout) and frees them. */
static void print_repairs(struct check_ctx *cc, bool print)
{
    size_t i, kept = cc->nrepairs < REPORT_MAX ? cc->nrepairs : REPORT_MAX;

    for (i = 0; cc->repairs && i < kept; i++) {
        if (print && cc->repairs[i])
            printf("%s\n", cc->repairs[i]);
        free(cc->repairs[i]);
    }
    if (print && cc->nrepairs > REPORT_MAX)
        printf("... and %zu more repaired\n", cc->nrepairs - REPORT_MAX);
    free(cc->repairs);
    cc->repairs = NULL;
}

static int run_import(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        {"name-property", required_argument, NULL, OPT_NAME_PROP},
        {"vehicle", required_argument, NULL, OPT_VEHICLE},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"max-dwell", required_argument, NULL, OPT_MAX_DWELL},
        {"make-valid", no_argument, NULL, OPT_MAKE_VALID},
        CLI_IMPORT_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_import;
    struct fence_opts fo = {0};
    struct cli_import_limit limit;
    struct lw_fenceset *set = NULL, *fixed = NULL;
    struct lw_fencecheck *fc = NULL;
    struct check_ctx cc = {0};
    struct lw_store *w = NULL;
    const char *file;
    char *text = NULL, err[ERR_MAX] = "", applies[APPLIES_MAX];
    size_t len = 0, replaced = 0, n, refused = 0, repaired = 0;
    bool make_valid = false;
    long bad;
    enum lw_err e;
    int opt, rc;

    cli_import_limit_init(&limit);
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = CLI_CONTINUE;
        if (opt >= OPT_KIND && opt <= OPT_MAX_DWELL)
            rc = fence_opt(me, opt, &fo);
        else if (opt == OPT_MAKE_VALID)
            make_valid = true;
        else if (opt == CLI_OPT_CONFIG || opt == CLI_OPT_MAX_BYTES)
            rc = cli_import_opt(me, opt, &limit);
        else
            rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(me, "FILE missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    rc = fence_opts_check(me, &fo);
    if (rc != CLI_CONTINUE)
        return rc;
    file = argv[optind];
    if (!fo.name_prop)
        fo.name_prop = LW_FENCE_DEFAULT_NAME_PROP;

    rc = cli_import_read(me->name, file, &limit, &text, &len);
    if (rc != CLI_CONTINUE)
        return rc;
    set = lw_fenceset_new();
    if (!set) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_free;
    }
    e = lw_fenceset_add_geojson(set, text, len, fo.kind, fo.name_prop, err,
                                sizeof(err));
    if (e == LW_ERR_NOMEM) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_free;
    }
    if (e != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_USAGE, "%s: %s; nothing imported",
                       file, err[0] ? err : lw_strerror(e));
        goto out_free;
    }
    n = lw_fenceset_count(set);
    if (n == 0) {
        rc = cli_error(me->name, CLI_EXIT_USAGE,
                       "%s: no features; nothing imported", file);
        goto out_free;
    }
    bad = check_name_props(file, text, len, fo.name_prop);
    if (bad == 0)
        bad = check_names(file, set);
    if (bad < 0) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_free;
    }
    if (bad > 0) {
        if (bad > REPORT_MAX)
            fprintf(stderr, "lienwatch geofence import: ... and %ld more\n",
                    bad - REPORT_MAX);
        rc = cli_error(me->name, CLI_EXIT_USAGE, "%s: nothing imported", file);
        goto out_free;
    }
    /* the text is not needed any more; a large file's memory goes now */
    free(text);
    text = NULL;

    fc = lw_fencecheck_new();
    if (!fc) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_free;
    }
    cc.file = file;
    e = lw_fencecheck_set(fc, set, make_valid, make_valid ? &fixed : NULL,
                          report_fence, &cc, &refused, &repaired, err,
                          sizeof(err));
    if (e == LW_OK && cc.oom)
        e = LW_ERR_NOMEM;
    if (e != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "checking the fences: %s",
                       err[0] ? err : lw_strerror(e));
        goto out_free;
    }
    if (refused) {
        if (refused > REPORT_MAX)
            fprintf(stderr, "lienwatch geofence import: ... and %zu more\n",
                    refused - REPORT_MAX);
        rc = cli_error(me->name, CLI_EXIT_USAGE,
                       "%s: %zu of %zu fence%s %s invalid; nothing "
                       "imported%s",
                       file, refused, n, n == 1 ? "" : "s",
                       refused == 1 ? "is" : "are",
                       cc.repairable ? " (correct them, or let GEOS repair "
                                       "the polygons with --make-valid)"
                                     : "");
        goto out_free;
    }

    w = cli_store_rw(c, me->name);
    if (!w) {
        rc = CLI_EXIT_FAIL;
        goto out_free;
    }
    e = store_fences(c, w, fixed ? fixed : set, &fo, "geofence import", file,
                     repaired, &replaced);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        fprintf(stderr, "lienwatch geofence import: nothing imported\n");
        goto out_free;
    }
    print_repairs(&cc, true);
    printf("imported %zu %s geofence%s from %s (%zu replaced", n,
           lw_fence_kind_name(fo.kind), n == 1 ? "" : "s", file, replaced);
    if (repaired)
        printf(", %zu repaired", repaired);
    printf("), applying to %s\n",
           applies_to(fo.vehicle, fo.account, applies, sizeof(applies)));
    warn_unknown_link(w, me->name, &fo);
    rc = CLI_EXIT_OK;
out_free:
    print_repairs(&cc, false);
    lw_store_close(w);
    lw_fencecheck_free(fc);
    lw_fenceset_free(fixed);
    lw_fenceset_free(set);
    free(text);
    return rc;
}

/* ---- add-circle ---------------------------------------------------------- */

/* Parses a finite decimal number (the whole word); false otherwise. */
static bool parse_num(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*out);
}

static int run_circle(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        {"vehicle", required_argument, NULL, OPT_VEHICLE},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"max-dwell", required_argument, NULL, OPT_MAX_DWELL},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_circle;
    struct fence_opts fo = {0};
    struct lw_fenceset *set = NULL;
    struct lw_store *w = NULL;
    struct cli_args a;
    char err[ERR_MAX] = "", why[ERR_MAX], applies[APPLIES_MAX];
    double lat, lon, radius;
    size_t replaced = 0;
    const char *name;
    enum lw_err e;
    int opt, rc;

    if (!cli_args_split(argc, argv, opts, &a))
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    cli_getopt_reset();
    while ((opt = getopt_long(a.argc, a.argv, ":h", opts, NULL)) != -1) {
        if (opt >= OPT_KIND && opt <= OPT_MAX_DWELL)
            rc = fence_opt(me, opt, &fo);
        else
            rc = cli_common_opt(c, me, opt, a.argv);
        if (rc != CLI_CONTINUE)
            goto out_args;
    }
    if (optind < a.argc) { /* an operand getopt kept: none expected */
        rc = cli_usage_error(me, "unexpected argument '%s'", a.argv[optind]);
        goto out_args;
    }
    if (a.npos != 4) {
        rc = cli_usage_error(me, "%s",
                             a.npos < 4 ? "NAME LAT LON RADIUS_M expected"
                                        : "too many arguments");
        goto out_args;
    }
    rc = fence_opts_check(me, &fo);
    if (rc != CLI_CONTINUE)
        goto out_args;
    name = a.pos[0];
    if (!name[0] || !lw_text_ok(name, LW_FENCE_NAME_MAX, why, sizeof(why))) {
        rc = cli_usage_error(me, "NAME %s", name[0] ? why : "is empty");
        goto out_args;
    }
    if (!parse_num(a.pos[1], &lat) || !parse_num(a.pos[2], &lon) ||
        !parse_num(a.pos[3], &radius)) {
        rc = cli_usage_error(me, "LAT LON RADIUS_M must be numbers "
                                 "(degrees, degrees, metres)");
        goto out_args;
    }
    if (lw_fencecheck_radius(radius, err, sizeof(err)) != LW_OK) {
        rc = cli_usage_error(me, "RADIUS_M: %s", err);
        goto out_args;
    }
    set = lw_fenceset_new();
    if (!set) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_args;
    }
    e = lw_fenceset_add_circle(set, name, lat, lon, radius, fo.kind, NULL, err,
                               sizeof(err));
    if (e == LW_ERR_NOMEM) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_args;
    }
    if (e != LW_OK) {
        rc = cli_usage_error(me, "%s", err[0] ? err : lw_strerror(e));
        goto out_args;
    }
    w = cli_store_rw(c, me->name);
    if (!w) {
        rc = CLI_EXIT_FAIL;
        goto out_args;
    }
    e = store_fences(c, w, set, &fo, "geofence add-circle", name, 0,
                     &replaced);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        goto out_args;
    }
    printf("geofence %s %s: %s circle of %s m, applying to %s\n", name,
           replaced ? "replaced" : "added", lw_fence_kind_name(fo.kind),
           a.pos[3],
           applies_to(fo.vehicle, fo.account, applies, sizeof(applies)));
    warn_unknown_link(w, me->name, &fo);
    rc = CLI_EXIT_OK;
out_args:
    lw_store_close(w);
    lw_fenceset_free(set);
    cli_args_free(&a);
    return rc;
}

/* ---- list ---------------------------------------------------------------- */

/* Shape of a stored fence: "polygon", "multipolygon", "circle"; *radius_m
 * gets a circle's radius (NAN otherwise). */
static const char *shape_of(const char *geojson, double *radius_m)
{
    json_t *root = json_loads(geojson, 0, NULL);
    json_t *geom = json_object_get(root, "geometry");
    const char *t =
        json_string_value(json_object_get(geom ? geom : root, "type"));
    const char *shape = "unknown";

    *radius_m = NAN;
    if (t && strcmp(t, "Polygon") == 0) {
        shape = "polygon";
    } else if (t && strcmp(t, "MultiPolygon") == 0) {
        shape = "multipolygon";
    } else if (t && strcmp(t, "Point") == 0) {
        shape = "circle";
        *radius_m = json_number_value(json_object_get(
            json_object_get(root, "properties"), LW_FENCE_RADIUS_PROP));
    }
    json_decref(root);
    return shape;
}

/* State of one listing. */
struct listing {
    int w_name, w_applies; /* column widths */
    int64_t n;             /* fences written */
    bool failed;           /* output or memory failure */
};

static int measure(void *ctx, const struct lw_geofence *g)
{
    struct listing *l = ctx;
    char applies[APPLIES_MAX];
    int w = cli_text_width(g->name);

    if (w > l->w_name)
        l->w_name = w > COL_MAX ? COL_MAX : w;
    w = cli_text_width(
        applies_to(g->link_device, g->link_account, applies, sizeof(applies)));
    if (w > l->w_applies)
        l->w_applies = w > COL_MAX ? COL_MAX : w;
    return 0;
}

static int print_row(void *ctx, const struct lw_geofence *g)
{
    struct listing *l = ctx;
    char applies[APPLIES_MAX], dur[DUR_BUFLEN], shape[64], num[CLI_NUM_BUFLEN];
    char b[4][CLI_NUM_BUFLEN];
    double r;
    const char *s = shape_of(g->geojson, &r);

    if (strcmp(s, "circle") == 0)
        snprintf(shape, sizeof(shape), "circle %s m", cli_num(r, 1, num));
    else
        snprintf(shape, sizeof(shape), "%s", s);
    cli_put_padded(g->name, l->w_name);
    printf("  %-8s  %-16s  ", lw_fence_kind_name(g->kind), shape);
    cli_put_padded(
        applies_to(g->link_device, g->link_account, applies, sizeof(applies)),
        l->w_applies);
    printf("  %-9s  %s,%s,%s,%s\n",
           g->max_dwell_ms
               ? lw_duration_format(g->max_dwell_ms, dur, sizeof(dur))
               : "-",
           cli_num(g->min_lon, 5, b[0]), cli_num(g->min_lat, 5, b[1]),
           cli_num(g->max_lon, 5, b[2]), cli_num(g->max_lat, 5, b[3]));
    return cli_row_done(&l->n, &l->failed);
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static int print_json(void *ctx, const struct lw_geofence *g)
{
    struct listing *l = ctx;
    double r;
    const char *shape = shape_of(g->geojson, &r);
    json_t *j;

    j = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:[f,f,f,f]}", "id",
                  (json_int_t)g->id, "name", g->name, "kind",
                  lw_fence_kind_name(g->kind), "shape", shape, "radius_m",
                  cli_json_real(r), "vehicle", str_or_null(g->link_device),
                  "account", str_or_null(g->link_account), "max_dwell_s",
                  g->max_dwell_ms ? json_integer(g->max_dwell_ms / CLI_MS_PER_S)
                                  : json_null(),
                  "bbox", g->min_lon, g->min_lat, g->max_lon, g->max_lat);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int print_geojson(void *ctx, const struct lw_geofence *g)
{
    struct listing *l = ctx;

    if (printf("%s%s", l->n ? ",\n" : "", g->geojson) < 0 || ferror(stdout))
        l->failed = true;
    l->n++;
    return l->failed;
}

static int run_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"geojson", no_argument, NULL, OPT_GEOJSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_list;
    struct listing l = {.w_name = (int)strlen("NAME"),
                        .w_applies = (int)strlen("APPLIES TO")};
    struct lw_store *s;
    int opt, rc, format = 0;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_JSON || opt == OPT_GEOJSON) {
            if (format && format != opt)
                return cli_usage_error(me, "--json or --geojson, not both");
            format = opt;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind != argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);
    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    if (format == OPT_JSON) {
        e = lw_registry_fences(s, print_json, &l);
        if (e == LW_OK && !l.failed)
            cli_json_end(l.n);
    } else if (format == OPT_GEOJSON) {
        printf("{\"type\":\"FeatureCollection\",\"features\":[\n");
        e = lw_registry_fences(s, print_geojson, &l);
        if (e == LW_OK && !l.failed)
            printf("%s]}\n", l.n ? "\n" : "");
    } else {
        e = lw_registry_fences(s, measure, &l);
        if (e == LW_OK) {
            cli_put_padded("NAME", l.w_name);
            printf("  %-8s  %-16s  ", "KIND", "SHAPE");
            cli_put_padded("APPLIES TO", l.w_applies);
            printf("  %-9s  %s\n", "MAX DWELL", "BBOX (W,S,E,N)");
            e = lw_registry_fences(s, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    return cli_output_status(me->name, l.failed);
}

/* ---- remove -------------------------------------------------------------- */

static int run_remove(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_remove;
    struct lw_store *w;
    const char *name;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(me, "NAME missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    name = argv[optind];
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_fence_remove(w, name);
    if (e == LW_OK)
        e = cli_audit_change(c, w, "geofence remove", NULL, "%s", name);
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e == LW_OK) {
        printf("geofence %s removed\n", name);
        rc = CLI_EXIT_OK;
    } else if (e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "no geofence named '%s' (see lienwatch geofence list)",
                       name);
    } else {
        rc = cli_db_error(me->name, w, e);
    }
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/* ---- which --------------------------------------------------------------- */

/* Every stored fence, loaded as lienwatchd loads them, with what each
 * applies to. */
struct loaded {
    struct lw_watch_fences f; /* fence id = position; rows[id].name */
    char **applies;           /* per id: what it applies to */
};

/* lw_watch_skip_cb: lienwatchd leaves it out as well: say so, go on */
static void skip_fence(void *ctx, const struct lw_geofence *g, const char *why)
{
    (void)ctx;
    fprintf(stderr,
            "lienwatch geofence which: warning: geofence '%s' in the "
            "database cannot be loaded (%s); it is left out\n",
            g->name, why);
}

/* Reads the fences of s into *ld (loaded_free in any case). */
static enum lw_err load_fences(struct lw_store *s, struct loaded *ld)
{
    char applies[APPLIES_MAX];
    enum lw_err e;

    e = lw_watch_fences_load(s, skip_fence, NULL, &ld->f, NULL, 0);
    if (e != LW_OK)
        return e;
    ld->applies = calloc(ld->f.count + 1, sizeof(*ld->applies));
    if (!ld->applies)
        return LW_ERR_NOMEM;
    for (size_t i = 0; i < ld->f.count; i++) {
        const struct lw_geofence *g = &ld->f.rows[i];

        ld->applies[i] = strdup(applies_to(g->link_device, g->link_account,
                                           applies, sizeof(applies)));
        if (!ld->applies[i])
            return LW_ERR_NOMEM;
    }
    return LW_OK;
}

static void loaded_free(struct loaded *ld)
{
    for (size_t i = 0; ld->applies && i < ld->f.count; i++)
        free(ld->applies[i]);
    free(ld->applies);
    lw_watch_fences_release(&ld->f);
}

/* Fence ids found for one point. */
struct hits {
    size_t *ids;   /* found */
    size_t n, cap; /* used / allocated */
    bool oom;      /* out of memory */
};

static int collect(void *ctx, size_t id)
{
    struct hits *h = ctx;

    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        size_t *n = realloc(h->ids, ncap * sizeof(*n));

        if (!n) {
            h->oom = true;
            return 1;
        }
        h->ids = n;
        h->cap = ncap;
    }
    h->ids[h->n++] = id;
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* Looks up one point; ids sorted, which is name order (the fences were
 * loaded by name). LW_OK, LW_ERR_RANGE or LW_ERR_NOMEM. */
static enum lw_err lookup(const struct loaded *ld, double lat, double lon,
                          struct hits *h)
{
    enum lw_err e;

    h->n = 0;
    e = lw_fenceset_which(ld->f.set, lat, lon, collect, h);
    if (e != LW_OK)
        return e;
    if (h->oom)
        return LW_ERR_NOMEM;
    if (h->n > 1)
        qsort(h->ids, h->n, sizeof(*h->ids), id_cmp);
    return LW_OK;
}

/* Prints the names of h as one compact JSON array line. false: failure. */
static bool print_names(const struct loaded *ld, const struct hits *h)
{
    json_t *arr = json_array();
    char *text;
    size_t i;
    bool ok;

    for (i = 0; arr && i < h->n; i++) {
        if (json_array_append_new(arr,
                                  json_string(ld->f.rows[h->ids[i]].name))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    text = arr ? json_dumps(arr, JSON_COMPACT | CLI_JSON_REAL) : NULL;
    json_decref(arr);
    ok = text && puts(text) >= 0;
    free(text);
    return ok;
}

/* Parses "lat lon" (blanks, a comma or a tab between). */
static bool parse_point(const char *line, double *lat, double *lon)
{
    char *end;

    line += strspn(line, " \t");
    errno = 0;
    *lat = strtod(line, &end);
    if (end == line || errno)
        return false;
    line = end + strspn(end, " \t");
    if (*line == ',')
        line++;
    line += strspn(line, " \t");
    *lon = strtod(line, &end);
    if (end == line || errno)
        return false;
    return end[strspn(end, " \t\r\n")] == '\0' && isfinite(*lat) &&
           isfinite(*lon);
}

/* Answers stdin line by line. Exit code. */
static int which_stdin(const struct loaded *ld)
{
    struct hits h = {0};
    char *line = NULL;
    size_t cap = 0;
    long no = 0, bad = 0;
    int rc = CLI_EXIT_OK;
    enum lw_err e;

    while (getline(&line, &cap, stdin) >= 0) {
        double lat, lon;

        no++;
        e = parse_point(line, &lat, &lon) ? lookup(ld, lat, lon, &h)
                                          : LW_ERR_INVAL;
        if (e == LW_ERR_NOMEM) {
            rc = cli_error(cmd_which.name, CLI_EXIT_FAIL, "out of memory");
            break;
        }
        if (e != LW_OK) {
            line[strcspn(line, "\r\n")] = '\0';
            fprintf(stderr,
                    "lienwatch geofence which: stdin line %ld: '%.60s' is "
                    "not 'LAT LON' in degrees (lat -90..90, lon "
                    "-180..180)\n",
                    no, line);
            bad++;
            if (puts("null") < 0)
                break;
            continue;
        }
        if (!print_names(ld, &h)) {
            rc = cli_error(cmd_which.name, CLI_EXIT_FAIL,
                           "cannot write the output");
            break;
        }
    }
    if (rc == CLI_EXIT_OK && ferror(stdin))
        rc = cli_error(cmd_which.name, CLI_EXIT_FAIL, "reading stdin: %s",
                       strerror(errno));
    if (rc == CLI_EXIT_OK && bad)
        rc = cli_error(cmd_which.name, CLI_EXIT_USAGE,
                       "%ld of %ld input lines were not points (printed as "
                       "null)",
                       bad, no);
    free(line);
    free(h.ids);
    return rc;
}

static int run_which(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"stdin", no_argument, NULL, OPT_STDIN},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_which;
    struct loaded ld = {0};
    struct hits h = {0};
    struct lw_store *s;
    struct cli_args a;
    bool json = false, from_stdin = false;
    double lat = 0, lon = 0;
    enum lw_err e;
    int opt, rc;
    size_t i;

    if (!cli_args_split(argc, argv, opts, &a))
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    cli_getopt_reset();
    while ((opt = getopt_long(a.argc, a.argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_JSON) {
            json = true;
            continue;
        }
        if (opt == OPT_STDIN) {
            from_stdin = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, a.argv);
        if (rc != CLI_CONTINUE)
            goto out_args;
    }
    if (optind < a.argc) {
        rc = cli_usage_error(me, "unexpected argument '%s'", a.argv[optind]);
        goto out_args;
    }
    if (from_stdin && a.npos) {
        rc = cli_usage_error(me, "--stdin reads the points: no LAT LON");
        goto out_args;
    }
    if (!from_stdin && a.npos != 2) {
        rc = cli_usage_error(me, "LAT LON (or --stdin) expected");
        goto out_args;
    }
    if (!from_stdin &&
        (!parse_num(a.pos[0], &lat) || !parse_num(a.pos[1], &lon) ||
         lat < -90.0 || lat > 90.0 || lon < -180.0 || lon > 180.0)) {
        rc = cli_usage_error(me,
                             "'%s %s' is not LAT LON in degrees (lat "
                             "-90..90, lon -180..180)",
                             a.pos[0], a.pos[1]);
        goto out_args;
    }
    s = cli_store_registry(c, me->name);
    if (!s) {
        rc = CLI_EXIT_FAIL;
        goto out_args;
    }
    e = load_fences(s, &ld);
    if (e != LW_OK) {
        rc = e == LW_ERR_NOMEM
                 ? cli_error(me->name, CLI_EXIT_FAIL, "out of memory")
                 : cli_db_error(me->name, s, e);
        goto out_free;
    }
    if (from_stdin) {
        rc = which_stdin(&ld);
        goto out_free;
    }
    e = lookup(&ld, lat, lon, &h);
    if (e != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_strerror(e));
        goto out_free;
    }
    if (json) {
        rc = print_names(&ld, &h) ? CLI_EXIT_OK
                                  : cli_error(me->name, CLI_EXIT_FAIL,
                                              "cannot write the output");
        goto out_free;
    }
    {
        int wn = 0;

        for (i = 0; i < h.n; i++) {
            int w = cli_text_width(ld.f.rows[h.ids[i]].name);
            wn = w > wn ? w : wn;
        }
        for (i = 0; i < h.n; i++) {
            cli_put_padded(ld.f.rows[h.ids[i]].name, wn);
            printf("  %-8s  %s\n",
                   lw_fence_kind_name(lw_fence_get_kind(ld.f.set, h.ids[i])),
                   ld.applies[h.ids[i]]);
        }
    }
    if (h.n == 0)
        fprintf(stderr,
                "lienwatch geofence which: no geofence contains %s, %s\n",
                a.pos[0], a.pos[1]);
    rc = CLI_EXIT_OK;
out_free:
    free(h.ids);
    loaded_free(&ld);
out_args:
    cli_args_free(&a);
    return rc;
}

static int cmd_geofence(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"import", run_import}, {"add-circle", run_circle}, {"list", run_list},
        {"remove", run_remove}, {"which", run_which},
    };

    return cli_dispatch(c, &cli_cmd_geofence, subs,
                        sizeof(subs) / sizeof(subs[0]), argc, argv);
}
