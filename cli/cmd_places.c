/*
 * cmd_places.c - 'lienwatch places VEHICLE': where a vehicle usually parks,
 * most likely first.
 *
 * Reads the vehicle's fixes of the last --days days, hands them to the
 * places core (lib/places.c: stops of 15 min within 150 m, clustered into
 * places, ranked by how likely the car is there now) with local time in
 * --tz, else [places] timezone of lienwatchd's configuration, else the
 * system's zone, and prints the places.
 *
 * A place is a position: the same gate as locate applies (lib/access.c,
 * lw_access_decide, the CLI acting as operations staff). The lookup is
 * recorded in the audit trail, with the basis of the grant or why it was
 * refused, before any fix is read; when the record cannot be written
 * nothing is shown.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/access.h"
#include "lienwatch/config.h"
#include "lienwatch/places.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/tz.h"

/* Refused by the access rules (documented in lienwatch(1)). */
#ifndef CLI_EXIT_DENIED
#define CLI_EXIT_DENIED 4
#endif

/* lienwatchd's configuration file when --config does not name one. */
#define DAEMON_CONF "/etc/lienwatch/lienwatchd.conf"
#define PATH_BUFLEN 512
#define NOTE_BUFLEN 640
#define DEFAULT_DAYS 30
/* Longest window: retention is at most a year by default; ten years is
 * past any sensible question and keeps days * ms far from overflow. */
#define MAX_DAYS 3660
#define MS_PER_DAY INT64_C(86400000)
#define HOURS_PER_DAY 24
/* An hour counts as "usual" at a place when the car was there at least
 * this share of the known time in that hour. */
#define USUAL_SHARE 0.5
/* Decimals kept in the JSON's shares (usual_hours, likely_now). */
#define SHARE_SCALE 1000.0
#define LINK_DECIMALS 6
#define OSM_ZOOM 17
#define PERCENT 100.0

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Lists the places where a vehicle stops, most likely first: where\n"
    "    the borrower sleeps, works and shops, and how likely the car is at\n"
    "    each now. Read from the vehicle's stored fixes of the last --days\n"
    "    days:\n"
    "\n"
    "    - a stop: the car stayed within 150 m of one point for at least 15\n"
    "      minutes; a gap in reporting while stopped counts as staying when\n"
    "      the next fix is at the same place (trackers sleep while parked);\n"
    "      fixes less accurate than 200 m are not used;\n"
    "    - a place: stops within 150 m of each other;\n"
    "    - nights: the stops covering 03:00 local time (a weekend at home\n"
    "      is three nights);\n"
    "    - usual hours: for each local hour of the day, the share of the\n"
    "      time the car was known to be somewhere that it spent here;\n"
    "    - likely now (0..1): where it was last seen, weighed by how long\n"
    "      stays there usually last, and what it usually does at this hour\n"
    "      of the week. The shares of all places add up to at most 1: the\n"
    "      rest is driving or somewhere that is not a place.\n"
    "\n"
    "    Local time is that of --tz, else [places] timezone in lienwatchd's\n"
    "    configuration, else the system's zone; daylight-saving changes are\n"
    "    followed.\n"
    "\n"
    CLI_HELP_VEHICLE
    "\n"
    "    A place is a position, so the same rules as 'lienwatch locate'\n"
    "    apply: a watched vehicle (its account at least [alerts]\n"
    "    watch_days_past_due days past due) is shown; an unwatched one only\n"
    "    with --reason, recorded as an override, or as [privacy]\n"
    "    unwatched_access says (deny: never; allow: recorded). The settings\n"
    "    are the ones lienwatchd recorded in the database, or --config's.\n"
    "    The lookup is recorded in\n"
    "    the audit trail (see 'lienwatch help audit') before any fix is\n"
    "    read, refused ones included; when it cannot be recorded nothing is\n"
    "    shown.\n"
    "\n"
    "    A VIN of a vehicle with several trackers in it ('lienwatch help\n"
    "    vehicle', attach) takes the fixes of all of them (each while it was\n"
    "    in the vehicle); each tracker is gated and recorded as above.\n"
    "\n"
    "OPTIONS\n"
    CLI_HELP_VEHICLE_OPTIONS
    "    --days N\n"
    "        Use the fixes of the last N days (1 to 3660). Default: 30.\n"
    "    --tz ZONE\n"
    "        Local time zone, an IANA name such as Europe/Berlin or\n"
    "        America/Sao_Paulo (or UTC).\n"
    "    --json\n"
    "        Print one JSON array, most likely place first, of objects\n"
    "        {lat, lon (WGS-84 degrees), radius_m, visits, nights, dwell_s\n"
    "        (total time there), first_seen, last_seen (ISO 8601 UTC),\n"
    "        usual_hours (24 shares 0..1, local hours 0 to 23), likely_now\n"
    "        (0..1)}; [] when the fixes show no stop.\n"
    "    --config FILE\n"
    "        lienwatchd's configuration file, for [places] timezone and\n"
    "        [alerts] watch_days_past_due. Default: " DAEMON_CONF "\n"
    "        when it exists and can be read.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up (case or order number); stored in\n"
    "        the audit trail. Needed for a vehicle that is not watched.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 listed (maybe no place); 1 database missing or unreadable, the\n"
    "    lookup could not be recorded, or --config FILE unreadable or\n"
    "    invalid; 2 bad options, an unknown --tz zone, or VEHICLE names\n"
    "    several vehicles; 3 no such device, plate or VIN, or no fix in the\n"
    "    window; 4 refused: the vehicle is not watched and no --reason was\n"
    "    given.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch places 'b-lw 123'\n"
    "    lienwatch places --vin 1HGCM82633A004352 --days 60 --tz Europe/Berlin\n"
    "    lienwatch places bob/car --reason 'order 2291' --json | jq '.[0]'\n";
/* clang-format on */

static int cmd_places(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_places = {
    .name = "places",
    .run = cmd_places,
    .synopsis = CLI_VEHICLE_SYNOPSIS
    "\n"
    "        [--days N] [--tz ZONE] [--json] [--reason TEXT] [--config FILE]",
    .summary = "where a vehicle usually parks, most likely first",
    .help = help,
};

/* What lienwatchd's configuration says that places needs. */
struct settings {
    int watch_days;                   /* [alerts] watch_days_past_due */
    char zone[LW_CONFIG_STR_MAX + 1]; /* [places] timezone; "" system's */
    char from[PATH_BUFLEN];           /* the file read; "" for defaults */
    char note[NOTE_BUFLEN];           /* why the default file was not read */
};

/*
 * Reads *st from path (--config, must be readable and valid) or, when path
 * is NULL, from DAEMON_CONF when it exists (a problem there leaves the
 * defaults and a note). Returns CLI_CONTINUE or CLI_EXIT_FAIL after a
 * message.
 */
static int load_settings(const char *path, struct settings *st)
{
    struct lw_config *cfg = malloc(sizeof(*cfg));
    const char *file = path ? path : DAEMON_CONF;
    char err[NOTE_BUFLEN] = "";
    int rc = CLI_CONTINUE;
    enum lw_err e;

    if (!cfg)
        return cli_error("places", CLI_EXIT_FAIL, "out of memory");
    lw_config_defaults(cfg);
    st->from[0] = st->note[0] = '\0';
    if (!path && access(file, F_OK) != 0 && errno == ENOENT)
        goto out;
    e = lw_config_load(cfg, file, err, sizeof(err));
    if (e == LW_OK)
        e = lw_config_validate(cfg, err, sizeof(err));
    if (e == LW_OK) {
        snprintf(st->from, sizeof(st->from), "%s", file);
    } else if (path) {
        rc = cli_error("places", CLI_EXIT_FAIL, "%s",
                       err[0] ? err : lw_strerror(e));
    } else {
        snprintf(st->note, sizeof(st->note), "%s", err[0] ? err : file);
        lw_config_defaults(cfg);
    }
out:
    st->watch_days = cfg->watch_days_past_due;
    snprintf(st->zone, sizeof(st->zone), "%s", cfg->places_timezone);
    free(cfg);
    return rc;
}

/* The fixes being read into the places history. */
struct reading {
    struct lw_places *pl; /* where they go (borrowed) */
    bool oom;             /* out of memory: stopped */
};

/* Adds one stored fix to the places history (an lw_fix_cb). */
static int add_fix(void *ctx, const struct lw_fix *f)
{
    struct reading *rd = ctx;

    rd->oom = lw_places_add(rd->pl, f) != LW_OK;
    return rd->oom;
}

/* "3d4h", "5h12m", "40m". */
static const char *span(int64_t ms, char *buf, size_t len)
{
    int64_t m = ms / 60000, h = m / 60, d = h / 24;

    if (d > 0)
        snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", d, h % 24);
    else if (h > 0)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", h, m % 60);
    else
        snprintf(buf, len, "%" PRId64 "m", m);
    return buf;
}

/*
 * The local hours when the car is usually at p, as ranges of whole hours
 * ("19-07" = from 19:00 to 07:59, across midnight), comma-separated; "-"
 * when no hour reaches USUAL_SHARE.
 */
static const char *usual(const struct lw_place *p, char *buf, size_t len)
{
    bool on[HOURS_PER_DAY];
    size_t used = 0;
    int h, start = -1, all = 1;

    for (h = 0; h < HOURS_PER_DAY; h++) {
        on[h] = p->usual_hours[h] >= USUAL_SHARE;
        all &= on[h];
    }
    buf[0] = '\0';
    if (all) {
        snprintf(buf, len, "all day");
        return buf;
    }
    /* start scanning just after an hour that is off, so a range across
     * midnight comes out whole */
    for (h = 0; on[h]; h++)
        ;
    for (int i = 1; i <= HOURS_PER_DAY; i++) {
        int k = (h + i) % HOURS_PER_DAY;

        if (on[k] && start < 0)
            start = k;
        if (!on[k] && start >= 0) {
            int last = (k + HOURS_PER_DAY - 1) % HOURS_PER_DAY;
            int n = snprintf(buf + used, len - used, "%s%02d-%02d",
                             used ? "," : "", start, last);

            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
            start = -1;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "-");
    return buf;
}

static double share(double v)
{
    return round(v * SHARE_SCALE) / SHARE_SCALE;
}

static json_t *place_json(const struct lw_place *p)
{
    json_t *hours = json_array(), *o;

    for (int h = 0; hours && h < HOURS_PER_DAY; h++)
        if (json_array_append_new(hours, json_real(share(p->usual_hours[h]))))
            goto fail;
    o = json_pack("{s:f, s:f, s:f, s:I, s:I, s:I, s:o, s:o, s:o, s:f}", "lat",
                  p->lat_deg, "lon", p->lon_deg, "radius_m",
                  round(p->radius_m * 10) / 10, "visits", (json_int_t)p->visits,
                  "nights", (json_int_t)p->nights, "dwell_s",
                  (json_int_t)(p->dwell_ms / CLI_MS_PER_S), "first_seen",
                  cli_json_time(p->first_seen_ms), "last_seen",
                  cli_json_time(p->last_seen_ms), "usual_hours", hours,
                  "likely_now", share(p->likely_now));
    return o; /* json_pack took hours, even on failure */
fail:
    json_decref(hours);
    return NULL;
}

static int print_json(const struct lw_places *pl)
{
    json_t *arr = json_array();
    bool ok = arr != NULL;
    size_t i, n = lw_places_count(pl);

    for (i = 0; ok && i < n; i++) {
        json_t *o = place_json(lw_places_get(pl, i));

        ok = o && json_array_append_new(arr, o) == 0;
    }
    ok = ok && cli_json_print("places", arr);
    json_decref(arr);
    if (!ok)
        return cli_error("places", CLI_EXIT_FAIL,
                         "cannot build or write the JSON output");
    return CLI_EXIT_OK;
}

static int print_text(const struct cli *c, const struct lw_vehicle_match *m,
                      const struct lw_places *pl, const struct lw_tz *tz,
                      int days, const struct settings *st)
{
    const struct lw_places_stats *ps = lw_places_stats(pl);
    char label[LW_DEVICE_MAX + LW_PLATE_MAX + LW_DESCRIPTION_MAX + 16];
    char t1[LW_TIME_BUFLEN], t2[LW_TIME_BUFLEN], d[32], hrs[128];
    size_t i, n = lw_places_count(pl);

    printf("vehicle     %s\n", cli_vehicle_label(m, label, sizeof(label)));
    printf("fixes       %zu used of %zu in the last %d %s (%s to %s)\n",
           ps->used, ps->fixes_in, days, days == 1 ? "day" : "days",
           cli_time(ps->first_ms, t1), cli_time(ps->last_ms, t2));
    if (ps->inaccurate)
        printf("            %zu less accurate than 200 m not used\n",
               ps->inaccurate);
    printf("time zone   %s\n", lw_tz_name(tz));
    if (st->note[0])
        printf("            (lienwatchd's configuration not read: %s)\n",
               st->note);
    printf("now         %s\n", cli_time(c->now_ms, t1));
    if (n == 0) {
        printf("places      none: no stop of 15 minutes or more\n");
        return CLI_EXIT_OK;
    }
    printf("places      %zu, most likely first\n\n", n);
    printf(" #  likely  position               radius  visits  nights  "
           "dwell   last seen             usual hours\n");
    for (i = 0; i < n; i++) {
        const struct lw_place *p = lw_places_get(pl, i);

        printf("%2zu  %5.1f%%  %9.6f, %10.6f  %4.0f m  %6u  %6u  %-6s  %-20s  "
               "%s\n",
               i + 1, p->likely_now * PERCENT, p->lat_deg, p->lon_deg,
               p->radius_m, (unsigned)p->visits, (unsigned)p->nights,
               span(p->dwell_ms, d, sizeof(d)), cli_time(p->last_seen_ms, t1),
               usual(p, hrs, sizeof(hrs)));
        printf("    https://www.openstreetmap.org/?mlat=%.*f&mlon=%.*f"
               "#map=%d/%.*f/%.*f%s\n",
               LINK_DECIMALS, p->lat_deg, LINK_DECIMALS, p->lon_deg, OSM_ZOOM,
               LINK_DECIMALS, p->lat_deg, LINK_DECIMALS, p->lon_deg,
               p->here_now ? "  (last fix here)" : "");
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_error("places", CLI_EXIT_FAIL, "cannot write the output");
    return CLI_EXIT_OK;
}

/* Whether the vehicle of m is watched under lienwatchd's rule. */
static enum lw_err watched(struct lw_store *s, const struct lw_vehicle_match *m,
                           int threshold, bool *out)
{
    struct lw_account a;
    enum lw_err e;

    *out = false;
    if (!m->registered || !m->v.account[0])
        return LW_OK;
    e = lw_registry_account_get(s, m->v.account, &a);
    if (e == LW_ERR_NOTFOUND)
        return LW_OK;
    if (e != LW_OK)
        return e;
    *out = lw_access_account_watched(a.days_past_due, a.status, threshold);
    return LW_OK;
}

/*
 * Decides whether the lookup may go on and records it (granted or not) in
 * the audit trail. Returns CLI_CONTINUE when granted and recorded, else the
 * exit code after a message.
 */
static int gate(struct cli *c, struct lw_store *s,
                const struct lw_vehicle_match *m, const char *reason,
                const char *detail, const char *config)
{
    struct lw_access_req req = {
        .roles = LW_ROLE_OPS,
        .reason = reason,
    };
    struct lw_access_decision d;
    struct lw_audit_rec r;
    struct cli_watch_rule rule;
    char why[NOTE_BUFLEN] = "", full[NOTE_BUFLEN + 64];
    enum lw_err e;
    int rc;

    /* the rule locate follows: --config, else what lienwatchd recorded,
     * else its configuration file, else the defaults */
    rc = cli_watch_rule_load("places", s, config, &rule);
    if (rc != CLI_CONTINUE)
        return rc;
    req.unwatched = rule.policy;
    e = watched(s, m, rule.days, &req.watched);
    if (e != LW_OK)
        return cli_db_error("places", s, e);
    lw_access_decide(&req, &d);
    cli_audit_rec(c, &r, "places", m->v.device);
    r.reason = reason;
    r.role = "ops";
    r.basis = d.basis;
    if (d.verdict == LW_ACCESS_GRANTED) {
        r.detail = detail;
    } else {
        snprintf(full, sizeof(full), "refused: %s", d.why);
        r.detail = full;
    }
    e = cli_audit_write(c, &r, NULL, why, sizeof(why));
    if (d.verdict != LW_ACCESS_GRANTED) {
        if (e != LW_OK)
            fprintf(stderr,
                    "lienwatch places: warning: this refusal could not be "
                    "recorded in the audit trail: %s\n",
                    why);
        return cli_error("places", CLI_EXIT_DENIED, "%s%s", d.why,
                         d.verdict == LW_ACCESS_NEED_REASON
                             ? " (give one with --reason)"
                             : "");
    }
    if (e != LW_OK)
        return cli_error("places", CLI_EXIT_FAIL,
                         "not shown: the lookup could not be recorded in the "
                         "audit trail: %s",
                         why);
    return CLI_CONTINUE;
}

/* The zone named by --tz, else the configuration's, else the system's, into
 * *tz. Returns CLI_CONTINUE or an exit code after a message. */
static int load_zone(const struct cli_command *me, const char *opt,
                     const struct settings *st, struct lw_tz **tz)
{
    char err[NOTE_BUFLEN] = "";
    const char *zone = opt ? opt : st->zone;
    enum lw_err e = lw_tz_load(zone, tz, err, sizeof(err));

    if (e == LW_OK)
        return CLI_CONTINUE;
    if (opt)
        return cli_usage_error(me, "--tz %s: %s", opt,
                               err[0] ? err : lw_strerror(e));
    if (zone[0])
        return cli_error(me->name, CLI_EXIT_FAIL, "[places] timezone in %s: %s",
                         st->from[0] ? st->from : "the configuration",
                         err[0] ? err : lw_strerror(e));
    /* no configured zone and the system's is unreadable: say so, use UTC */
    fprintf(stderr,
            "lienwatch places: warning: the system's time zone cannot be "
            "read (%s); local time is UTC (use --tz ZONE)\n",
            err[0] ? err : lw_strerror(e));
    return lw_tz_load("UTC", tz, err, sizeof(err)) == LW_OK
               ? CLI_CONTINUE
               : cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
}

static int cmd_places(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200, OPT_CONFIG, OPT_DAYS, OPT_TZ };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"days", required_argument, NULL, OPT_DAYS},
        {"tz", required_argument, NULL, OPT_TZ},
        {"reason", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, OPT_CONFIG},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_places;
    const char *reason = NULL, *config = NULL, *zone = NULL;
    struct cli_fleet fleet = {0};
    struct cli_target target = {0};
    struct lw_vehicle_match m;
    struct settings *st = NULL;
    struct lw_places *pl = NULL;
    struct lw_tz *tz = NULL;
    struct lw_store *s;
    char err[NOTE_BUFLEN] = "", detail[NOTE_BUFLEN], *end;
    bool json = false;
    long days = DEFAULT_DAYS;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON:
            json = true;
            break;
        case OPT_DAYS:
            errno = 0;
            days = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || days < 1 || days > MAX_DAYS)
                return cli_usage_error(me,
                                       "--days needs a number of days "
                                       "from 1 to %d",
                                       MAX_DAYS);
            break;
        case OPT_TZ:
            if (!optarg[0])
                return cli_usage_error(me, "--tz needs a zone name");
            zone = optarg;
            break;
        case OPT_CONFIG:
            if (!optarg[0])
                return cli_usage_error(me, "--config needs a file");
            config = optarg;
            break;
        case 'r':
            reason = optarg[0] ? optarg : NULL;
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
    st = malloc(sizeof(*st));
    if (!st)
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    rc = load_settings(config, st);
    if (rc == CLI_CONTINUE)
        rc = load_zone(me, zone, st, &tz);
    if (rc != CLI_CONTINUE)
        goto out;

    s = cli_store_registry(c, me->name);
    if (!s) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    snprintf(detail, sizeof(detail), "days=%ld tz=%s", days, lw_tz_name(tz));
    /* a VIN of a vehicle with several trackers: their fixes together, each
     * tracker gated and recorded */
    rc = cli_fleet_resolve(me, s, &target, false, &fleet);
    if (rc != CLI_CONTINUE)
        goto out;
    for (size_t i = 0; i < fleet.n && rc == CLI_CONTINUE; i++)
        rc = gate(c, s, &fleet.dev[i].m, reason, detail, config);
    if (rc != CLI_CONTINUE)
        goto out;
    if (fleet.merged) {
        m = fleet.dev[0].m; /* plate and description, named by the VIN */
        snprintf(m.v.device, sizeof(m.v.device), "%s", fleet.name);
    } else {
        rc = cli_target_resolve(me, s, &target, &m);
        if (rc != CLI_CONTINUE) {
            /* on the record too: what was typed, when it named none or
             * several */
            rc = cli_access_unresolved(c, me->name, target.text, reason, rc);
            goto out;
        }
        rc = gate(c, s, &m, reason, detail, config);
        if (rc != CLI_CONTINUE)
            goto out;
    }

    e = lw_places_new(NULL, &pl, err, sizeof(err));
    if (e == LW_OK) {
        struct reading rd = {.pl = pl};

        e = fleet.merged
                ? lw_registry_vehicle_history(s, fleet.id,
                                              c->now_ms - days * MS_PER_DAY,
                                              INT64_MAX, add_fix, &rd)
                : lw_store_history(s, m.v.device,
                                   c->now_ms - days * MS_PER_DAY, INT64_MAX,
                                   add_fix, &rd);
        if (e == LW_OK && rd.oom)
            e = LW_ERR_NOMEM;
    }
    if (e == LW_OK && lw_places_stats(pl)->fixes_in == 0) {
        char label[LW_DEVICE_MAX + LW_PLATE_MAX + LW_DESCRIPTION_MAX + 16];

        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "%s has no fix in the last %ld %s",
                       cli_vehicle_label(&m, label, sizeof(label)), days,
                       days == 1 ? "day" : "days");
        goto out;
    }
    if (e == LW_OK)
        e = lw_places_compute(pl, tz, c->now_ms, err, sizeof(err));
    if (e != LW_OK) {
        rc = cli_db_error(me->name, s, e);
        goto out;
    }
    rc = json ? print_json(pl) : print_text(c, &m, pl, tz, (int)days, st);
out:
    cli_fleet_free(&fleet);
    lw_places_free(pl);
    lw_tz_free(tz);
    free(st);
    return rc;
}
