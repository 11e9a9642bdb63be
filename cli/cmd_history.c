/*
 * cmd_history.c - 'lienwatch history VEHICLE': the fixes of a vehicle's
 * device in fix-time order as CSV, JSON, GeoJSON (RFC 7946), GPX 1.1 or
 * KML 2.2.
 *
 * VEHICLE is a device id, a plate or a VIN (see cli_target_resolve); a
 * VIN of a vehicle with several trackers merges their fixes (cli_fleet.c,
 * lw_registry_vehicle_history). The formats are written by cli/trackout.c
 * (cli_track_*), which the evidence bundle shares.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lienwatch/timeutil.h"

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
    "    A VIN names the vehicle: when trackers were attached to it ('lienwatch\n"
    "    help vehicle': a wired one and a hidden one), the history merges\n"
    "    the fixes of every tracker that was in it, each only while it was\n"
    "    in it (from its install time when recorded, to its detach time),\n"
    "    in fix-time order, each fix tagged with its device.\n"
    "\n"
    "    As for locate: the history of a vehicle that is not watched (see\n"
    "    'lienwatch help locate') is given only with --reason TEXT, recorded\n"
    "    as an override, or as [privacy] unwatched_access says; without\n"
    "    one the command says why and exits 4. The lookup is recorded in\n"
    "    the audit trail (see 'lienwatch help audit') with the device it\n"
    "    resolved to (or VEHICLE as typed when it named none or several),\n"
    "    the reason and the basis, before any fix is read; a lookup that\n"
    "    cannot be recorded is not answered.\n"
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
    "        Every format tags each fix with its device and marks a fix\n"
    "        flagged suspect: a jump too fast to have been driven, ignored\n"
    "        by alerts and by the last-known position until a following fix\n"
    "        confirms it.\n"
    "        csv (default): header fix_time,lat,lon,speed_mps,course_deg,\n"
    "            accuracy_m,device,suspect, one line per fix, empty fields\n"
    "            when unknown; suspect is jump or empty.\n"
    "        json: one array of objects with the fields fix_time, lat, lon,\n"
    "            speed_mps, course_deg, accuracy_m (null when unknown),\n"
    "            device, and \"suspect\": \"jump\" on a suspect fix.\n"
    "        geojson: a FeatureCollection with one LineString (properties\n"
    "            device (the VIN for a vehicle's merged history), plate,\n"
    "            vin, description, from, to, fixes; it needs two fixes) and\n"
    "            one Point per fix (properties fix_time, speed_mps,\n"
    "            course_deg, accuracy_m, device, suspect when flagged), for\n"
    "            geojson.io, QGIS, Leaflet...\n"
    "        gpx: GPX 1.1, one track with one segment, named after the\n"
    "            vehicle (plate, description and device, or the device id),\n"
    "            for GPS apps; each point's <src> is its device, a suspect\n"
    "            one has <type>suspect:jump</type>.\n"
    "        kml: KML 2.2 for Google Earth and recovery tools: a Placemark\n"
    "            named after the vehicle holding a gx:Track (one <when> and\n"
    "            one <gx:coord> per fix; its ExtendedData arrays device and\n"
    "            suspect hold one value per fix), then a Placemark on the\n"
    "            last fix with its time and device. Descriptions list\n"
    "            device, plate, VIN and vehicle.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up; stored in the audit trail.\n"
    "        Needed for a vehicle that is not watched.\n"
    "    --config FILE\n"
    "        lienwatchd's configuration file, for watch_days_past_due and\n"
    "        unwatched_access, instead of what lienwatchd recorded.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also when no fix is in the range); 1 database missing or\n"
    "    unreadable, the lookup could not be recorded, or output failed;\n"
    "    2 bad options, or VEHICLE names several vehicles (they are listed\n"
    "    on stderr); 3 no such device, plate or VIN, or a registered\n"
    "    vehicle whose tracker has not reported yet; 4 refused: not\n"
    "    watched and no --reason, or unwatched_access is 'deny'.\n"
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
    "        [--reason TEXT] [--config FILE]",
    .summary = "where a vehicle has been: csv, json, geojson, gpx, kml",
    .help = help,
};

/*
 * The history of a vehicle with several trackers (f, freed here): every
 * tracker's fixes while it was in the vehicle, merged by time, each tagged
 * with its device (GPX and KML: a track per tracker); gated and recorded
 * per tracker (cli_fleet_access).
 */
static int history_vehicle(struct cli *c, const struct cli_command *me,
                           struct lw_store *s, struct cli_fleet *f,
                           enum cli_track_format fmt, int64_t from, int64_t to,
                           const char *reason, const char *config)
{
    struct lw_vehicle_match m;
    struct cli_track o;
    enum lw_err e = LW_OK;
    size_t i;
    int rc;

    rc = cli_fleet_access(c, me->name, s, f, reason, config);
    if (rc != CLI_CONTINUE)
        goto out;
    /* the document is about the vehicle: the registry row of its first
     * tracker (plate, description), named by the vehicle */
    m = f->dev[0].m;
    snprintf(m.v.device, sizeof(m.v.device), "%s", f->name);
    if (!cli_track_begin(&o, stdout, fmt, &m, c->now_ms)) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out;
    }
    if (fmt == CLI_TRACK_GPX || fmt == CLI_TRACK_KML) {
        /* a track per tracker: one pass each, in time order */
        for (i = 0; e == LW_OK && i < f->n; i++) {
            cli_track_suspects_clear(&o);
            e = cli_track_suspects(&o, s, f->dev[i].rec.device, from, to);
            if (e == LW_OK)
                e = lw_registry_vehicle_track(s, f->id, f->dev[i].rec.device,
                                              from, to, cli_track_fix, &o);
        }
    } else {
        for (i = 0; e == LW_OK && i < f->n; i++)
            e = cli_track_suspects(&o, s, f->dev[i].rec.device, from, to);
        if (e == LW_OK)
            e = lw_registry_vehicle_history(s, f->id, from, to, cli_track_fix,
                                            &o);
    }
    if (e != LW_OK) {
        cli_track_release(&o);
        rc = cli_db_error(me->name, s, e);
        goto out;
    }
    if (!cli_track_end(&o))
        rc = cli_error(me->name, CLI_EXIT_FAIL,
                       fmt == CLI_TRACK_GEOJSON
                           ? "cannot build the GeoJSON output"
                           : "cannot write the output");
    else
        rc = CLI_EXIT_OK;
out:
    cli_fleet_free(f);
    return rc;
}

static int cmd_history(struct cli *c, int argc, char **argv)
{
    enum { OPT_FROM = 0x200, OPT_TO, OPT_CONFIG };
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"to", required_argument, NULL, OPT_TO},
        {"format", required_argument, NULL, 'f'},
        {"reason", required_argument, NULL, 'r'},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_history;
    enum cli_track_format fmt = CLI_TRACK_CSV;
    struct lw_vehicle_match m;
    struct cli_track o;
    struct cli_target target = {0};
    int64_t from = INT64_MIN, to = INT64_MAX;
    const char *reason = NULL, *config = NULL;
    struct cli_access acc;
    struct cli_fleet fleet;
    struct lw_device_info d;
    struct lw_store *s;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":f:r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_FROM:
            if (!cli_time_bound(c, optarg, false, &from))
                return cli_usage_error(me, "--from '%s' is not a time", optarg);
            break;
        case OPT_TO:
            if (!cli_time_bound(c, optarg, true, &to))
                return cli_usage_error(me, "--to '%s' is not a time", optarg);
            break;
        case 'f':
            if (!cli_track_format_parse(optarg, &fmt))
                return cli_usage_error(
                    me, "unknown format '%s' (csv, json, geojson, gpx or kml)",
                    optarg);
            break;
        case 'r':
            reason = optarg[0] ? optarg : NULL;
            break;
        case OPT_CONFIG:
            if (!optarg[0])
                return cli_usage_error(me, "--config needs a file");
            config = optarg;
            break;
        default:
            rc = cli_target_common_opt(c, me, &target, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    rc = cli_target_operands(me, &target, argc - optind, argv + optind);
    if (rc != CLI_CONTINUE)
        return rc;
    if (from > to)
        return cli_usage_error(me, "--from is after --to");

    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    rc = cli_fleet_resolve(me, s, &target, true, &fleet);
    if (rc != CLI_CONTINUE)
        return rc;
    if (fleet.merged)
        return history_vehicle(c, me, s, &fleet, fmt, from, to, reason,
                               config);
    rc = cli_target_resolve(me, s, &target, &m);
    /* on the record before any fix is read; gated as locate is */
    if (rc != CLI_CONTINUE)
        return cli_access_unresolved(c, me->name, target.text, reason, rc);
    rc = cli_access_lookup(c, me->name, s, &m, reason, config, &acc);
    if (rc != CLI_CONTINUE)
        return rc;
    e = lw_store_device_get(s, m.v.device, &d);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "%s has not reported yet (registered, but its "
                         "tracker has never been heard)",
                         m.v.device);
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);

    if (!cli_track_begin(&o, stdout, fmt, &m, c->now_ms))
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    e = cli_track_suspects(&o, s, m.v.device, from, to);
    if (e == LW_OK)
        e = lw_store_history(s, m.v.device, from, to, cli_track_fix, &o);
    if (e != LW_OK) {
        cli_track_release(&o);
        return cli_db_error(me->name, s, e);
    }
    if (!cli_track_end(&o))
        return cli_error(me->name, CLI_EXIT_FAIL,
                         fmt == CLI_TRACK_GEOJSON
                             ? "cannot build the GeoJSON output"
                             : "cannot write the output");
    return CLI_EXIT_OK;
}
