/*
 * cmd_locate.c - 'lienwatch locate DEVICE': where a device is now.
 *
 * Prints the last-known fix (the newest by the device's clock; late uploads
 * never replace it), its age against our clock, speed, course, accuracy, an
 * OpenStreetMap link and a geo: URI (RFC 5870), plus when the device was last
 * heard at all. Records the lookup in the audit trail first.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/timeutil.h"

/* OpenStreetMap zoom level of the link: a street with its buildings. */
#define OSM_ZOOM 17
/* Decimals of coordinates in links: 1e-6 degree is about 0.1 m. */
#define LINK_DECIMALS 6
#define KMH_PER_MPS 3.6
/* Points of the compass in 'course': N, NNE, ... 16 of 22.5 degrees. */
#define COMPASS_POINTS 16
#define DEG_PER_TURN 360.0

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Shows the last-known position of DEVICE: the newest fix by the\n"
    "    device's own clock (a late upload of older fixes never moves it\n"
    "    back), how old it is, speed, course, accuracy, altitude and battery\n"
    "    when the tracker reported them, an OpenStreetMap link and a geo: URI\n"
    "    that phone map apps open. 'last heard' is the last message of any\n"
    "    kind: a tracker can be heard without a position (no GPS lock).\n"
    "\n"
    "    DEVICE is the tracker id as 'lienwatch devices' lists it, e.g.\n"
    "    alice/phone for the OwnTracks topic owntracks/alice/phone.\n"
    "\n"
    "    The lookup is recorded in the audit trail (see 'lienwatch help\n"
    "    audit').\n"
    "\n"
    "OPTIONS\n"
    "    --json\n"
    "        Print one JSON object: device, lat, lon (WGS-84 degrees),\n"
    "        fix_time, received_time, last_heard (ISO 8601 UTC), age_s,\n"
    "        last_heard_age_s (seconds), speed_mps, speed_kmh, course_deg,\n"
    "        accuracy_m, alt_m, battery_pct (null when unknown), osm_url,\n"
    "        geo_uri.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up (case or order number); stored in\n"
    "        the audit trail.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 found; 1 database missing or unreadable; 2 bad options;\n"
    "    3 no such device, or no position for it yet.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch locate alice/phone --reason 'order 2291'\n"
    "    lienwatch locate alice/phone --json | jq -r .osm_url\n";
/* clang-format on */

static int cmd_locate(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_locate = {
    .name = "locate",
    .run = cmd_locate,
    .synopsis = "DEVICE [--json] [--reason TEXT]",
    .summary = "where a device is now: last fix, age, speed, map link",
    .help = help,
};

/* "SW" for 225 degrees. */
static const char *compass(double deg)
{
    static const char *const names[COMPASS_POINTS] = {
        "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
        "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"};
    double sector = DEG_PER_TURN / COMPASS_POINTS;
    int i = (int)floor(fmod(fmod(deg, DEG_PER_TURN) + DEG_PER_TURN + sector / 2,
                            DEG_PER_TURN) /
                       sector);

    return names[i % COMPASS_POINTS];
}

static void osm_url(const struct lw_fix *f, char *buf, size_t len)
{
    snprintf(buf, len,
             "https://www.openstreetmap.org/?mlat=%.*f&mlon=%.*f#map=%d/%.*f/"
             "%.*f",
             LINK_DECIMALS, f->lat_deg, LINK_DECIMALS, f->lon_deg, OSM_ZOOM,
             LINK_DECIMALS, f->lat_deg, LINK_DECIMALS, f->lon_deg);
}

/* RFC 5870: geo:LAT,LON[;u=UNCERTAINTY_M]. */
static void geo_uri(const struct lw_fix *f, char *buf, size_t len)
{
    char u[CLI_NUM_BUFLEN];

    if (lw_has(f->accuracy_m) && f->accuracy_m >= 0)
        snprintf(buf, len, "geo:%.*f,%.*f;u=%s", LINK_DECIMALS, f->lat_deg,
                 LINK_DECIMALS, f->lon_deg, cli_num(f->accuracy_m, 1, u));
    else
        snprintf(buf, len, "geo:%.*f,%.*f", LINK_DECIMALS, f->lat_deg,
                 LINK_DECIMALS, f->lon_deg);
}

static json_t *age_json(int64_t now_ms, int64_t ms)
{
    /* whole seconds, floor: a fix 0.9 s old is 0 s old */
    int64_t d = now_ms - ms;

    if (ms == 0)
        return json_null();
    return json_integer(d >= 0 ? d / CLI_MS_PER_S
                               : -((-d + CLI_MS_PER_S - 1) / CLI_MS_PER_S));
}

static int print_json(const struct cli *c, const struct lw_fix *f,
                      const struct lw_device_info *d, const char *url,
                      const char *geo)
{
    json_t *o;
    bool ok;

    o = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o, s:o, s:s, s:s}",
        "device", f->device, "lat", json_real(f->lat_deg), "lon",
        json_real(f->lon_deg), "fix_time", cli_json_time(f->fix_time_ms),
        "received_time", cli_json_time(f->recv_time_ms), "age_s",
        age_json(c->now_ms, f->fix_time_ms), "last_heard",
        cli_json_time(d->last_heard_ms), "last_heard_age_s",
        age_json(c->now_ms, d->last_heard_ms), "speed_mps",
        cli_json_real(f->speed_mps), "speed_kmh",
        cli_json_real(f->speed_mps * KMH_PER_MPS), "course_deg",
        cli_json_real(f->course_deg), "accuracy_m",
        cli_json_real(f->accuracy_m), "alt_m", cli_json_real(f->alt_m),
        "battery_pct",
        f->battery_pct >= 0 ? json_integer(f->battery_pct) : json_null(),
        "osm_url", url, "geo_uri", geo);
    if (!o)
        return cli_error("locate", CLI_EXIT_FAIL,
                         "cannot build JSON (out of memory, or text that is "
                         "not UTF-8)");
    ok = cli_json_print("locate", o);
    json_decref(o);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void print_text(const struct cli *c, const struct lw_fix *f,
                       const struct lw_device_info *d, const char *url,
                       const char *geo)
{
    char t[LW_TIME_BUFLEN], age[CLI_AGE_BUFLEN];
    char a[CLI_NUM_BUFLEN], b[CLI_NUM_BUFLEN];

    printf("device      %s\n", f->device);
    printf("position    %.6f, %.6f\n", f->lat_deg, f->lon_deg);
    printf("fix time    %s (%s)\n", cli_time(f->fix_time_ms, t),
           cli_age(c->now_ms, f->fix_time_ms, age));
    printf("received    %s\n", cli_time(f->recv_time_ms, t));
    printf("last heard  %s (%s)\n", cli_time(d->last_heard_ms, t),
           cli_age(c->now_ms, d->last_heard_ms, age));
    if (lw_has(f->speed_mps))
        printf("speed       %s km/h (%s m/s)\n",
               cli_num(f->speed_mps * KMH_PER_MPS, 1, a),
               cli_num(f->speed_mps, 2, b));
    else
        printf("speed       unknown\n");
    if (lw_has(f->course_deg))
        printf("course      %s deg (%s)\n", cli_num(f->course_deg, 0, a),
               compass(f->course_deg));
    else
        printf("course      unknown\n");
    if (lw_has(f->accuracy_m))
        printf("accuracy    %s m\n", cli_num(f->accuracy_m, 1, a));
    else
        printf("accuracy    unknown\n");
    if (lw_has(f->alt_m))
        printf("altitude    %s m\n", cli_num(f->alt_m, 0, a));
    if (f->battery_pct >= 0)
        printf("battery     %d%%\n", f->battery_pct);
    printf("map         %s\n", url);
    printf("geo         %s\n", geo);
}

static int cmd_locate(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"reason", required_argument, NULL, 'r'},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_locate;
    const char *reason = NULL, *device;
    struct lw_device_info d;
    struct lw_store *s;
    struct lw_fix f;
    char url[256], geo[128], t[LW_TIME_BUFLEN], age[CLI_AGE_BUFLEN];
    bool json = false;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON:
            json = true;
            break;
        case 'r':
            reason = optarg[0] ? optarg : NULL;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(me, argc - optind < 1 ? "which device?"
                                                     : "one device at a time");
    device = argv[optind];

    s = cli_store(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    cli_audit(c, me->name, device, reason);

    e = lw_store_device_get(s, device, &d);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "no such device '%s' (see 'lienwatch devices')",
                         device);
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));
    e = lw_store_last_fix(s, device, &f);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "device '%s' has no position yet (last heard %s, "
                         "%s)",
                         device, cli_time(d.last_heard_ms, t),
                         cli_age(c->now_ms, d.last_heard_ms, age));
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));

    osm_url(&f, url, sizeof(url));
    geo_uri(&f, geo, sizeof(geo));
    if (json)
        return print_json(c, &f, &d, url, geo);
    print_text(c, &f, &d, url, geo);
    return CLI_EXIT_OK;
}
