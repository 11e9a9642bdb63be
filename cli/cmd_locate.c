/*
 * cmd_locate.c - 'lienwatch locate VEHICLE': where a vehicle is now, and
 * what an agent needs beside it.
 *
 * VEHICLE is a device id, a plate or a VIN (see cli_target_resolve). Prints
 * the vehicle (plate, VIN, description), its loan account with the days past
 * due and whether lienwatchd watches it, the last-known fix (the newest by
 * the device's clock; late uploads never replace it), its age against our
 * clock, speed, course, accuracy, an OpenStreetMap link and a geo: URI
 * (RFC 5870), when the device was last heard at all, and the vehicle's open
 * alerts. A vehicle that is not watched is shown only with a stated reason
 * (or as [privacy] unwatched_access says): cli_access_lookup decides and
 * writes the audit record before the position is read; no record, no
 * answer.
 *
 * "Watched" is the core's rule (lw_access_account_watched): a registered
 * vehicle whose account is known, at least [alerts] watch_days_past_due days
 * past due and not paid off or closed. The settings are lienwatchd's, read
 * from what it recorded in the database, else its configuration file
 * (cli_watch_rule_load).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/alertjson.h"
#include "lienwatch/config.h"
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
    "    Shows where a vehicle is now and what a field agent needs beside\n"
    "    it:\n"
    "\n"
    "    - the vehicle: device id, plate, VIN and description (or that the\n"
    "      device is not registered; see 'lienwatch help vehicle');\n"
    "    - its loan account, how many days past due it is, and whether\n"
    "      lienwatchd watches the vehicle (raises alerts for it): a vehicle\n"
    "      is watched while its account is at least [alerts]\n"
    "      watch_days_past_due days past due in lienwatchd's configuration\n"
    "      and not paid_off or closed;\n"
    "    - the last-known position: the newest fix by the device's own\n"
    "      clock (a late upload of older fixes never moves it back), how old\n"
    "      it is, speed, course, accuracy, altitude and battery when the\n"
    "      tracker reported them, an OpenStreetMap link and a geo: URI that\n"
    "      phone map apps open; 'last heard' is the last message of any\n"
    "      kind (a tracker can be heard without a position: no GPS lock);\n"
    "    - its open alerts (open or acknowledged, not closed), oldest\n"
    "      first; 'lienwatch alerts' shows them in full.\n"
    "\n"
    "    A VIN names the vehicle: when several trackers are in it now\n"
    "    ('lienwatch help vehicle', attach), each one's last-known fix is\n"
    "    shown, newest first, with its role (wired, hidden) and install\n"
    "    time, and beside it what is shown for one tracker. Each tracker is\n"
    "    gated as below and has its own audit record, naming the vehicle\n"
    "    and all its trackers; one refused, nothing is shown.\n"
    "\n"
    CLI_HELP_VEHICLE
    "\n"
    "    A borrower who pays on time is tracked but not watched: the\n"
    "    position of a vehicle that is not watched (its account current,\n"
    "    paid off or closed, unknown, or no account at all) is shown only\n"
    "    with --reason TEXT, recorded as an override; without one the\n"
    "    command says why and exits 4. [privacy] unwatched_access in\n"
    "    lienwatchd's configuration changes that: 'deny' refuses such\n"
    "    lookups whatever the reason, 'allow' answers them (recorded).\n"
    "    lienwatchd records watch_days_past_due and unwatched_access in\n"
    "    the database at start and on SIGHUP; locate uses those, else\n"
    "    lienwatchd's configuration file, else the defaults.\n"
    "\n"
    "    The lookup is recorded in the audit trail (see 'lienwatch help\n"
    "    audit') before the position is read: who (your operating-system\n"
    "    account, and --as NAME beside it), the device it resolved to (or\n"
    "    VEHICLE as typed when it named none or several), the reason, the\n"
    "    basis (watched, override, unwatched_allowed; refused for a\n"
    "    refused attempt, which is recorded too) and what the decision\n"
    "    rested on. A lookup that cannot be recorded (the database\n"
    "    read-only for you, a full disk) is not answered.\n"
    "\n"
    "OPTIONS\n"
    CLI_HELP_VEHICLE_OPTIONS
    "    --json\n"
    "        Print one JSON object: device, lat, lon (WGS-84 degrees),\n"
    "        fix_time, received_time, last_heard (ISO 8601 UTC), age_s,\n"
    "        last_heard_age_s (seconds), speed_mps, speed_kmh, course_deg,\n"
    "        accuracy_m, alt_m, battery_pct (null when unknown), osm_url,\n"
    "        geo_uri; registered (true or false), vin, plate, description,\n"
    "        account, days_past_due, account_status (null when unknown),\n"
    "        watched (true or false), watch_days_past_due (the setting\n"
    "        used), watch_setting_from (the configuration file it came\n"
    "        from, null for lienwatchd's default), open_alerts (an array of\n"
    "        {id, kind, state, opened_at, geofence, late}, as in the state\n"
    "        topic). For a vehicle with several trackers: one object\n"
    "        {vehicle, vehicle_id, vin, trackers}, trackers an array of\n"
    "        those objects, newest fix first, each with role and installed\n"
    "        (null when not recorded); a tracker without a position has\n"
    "        fix_time null and no position fields.\n"
    "    --config FILE\n"
    "        lienwatchd's configuration file, for watch_days_past_due and\n"
    "        unwatched_access, instead of what lienwatchd recorded.\n"
    "        Default: " CLI_DAEMON_CONF ", or lienwatchd's\n"
    "        default (1) when that file does not exist (watch_setting_from\n"
    "        is then null); when it exists but cannot be read (it is\n"
    "        readable by root and the lienwatch group only) or is invalid,\n"
    "        the default is used and the text output says why. A FILE given\n"
    "        here must be readable and valid.\n"
    "    -r, --reason TEXT\n"
    "        Why you look this vehicle up (case or order number); stored in\n"
    "        the audit trail. Needed for a vehicle that is not watched.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 found; 1 database missing or unreadable, the lookup could not\n"
    "    be recorded in the audit trail, or --config FILE unreadable or\n"
    "    invalid; 2 bad options, or VEHICLE names several vehicles (they\n"
    "    are listed on stderr); 3 no such device, plate or VIN, or no\n"
    "    position for it yet (for a vehicle: for none of its trackers);\n"
    "    4 refused: the vehicle is not watched and no\n"
    "    --reason was given, or unwatched_access is 'deny'.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch locate alice/phone --reason 'order 2291'\n"
    "    lienwatch locate 'b-lw 123'\n"
    "    lienwatch locate --vin 1HGCM82633A004352 --json | jq -r .osm_url\n";
/* clang-format on */

static int cmd_locate(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_locate = {
    .name = "locate",
    .run = cmd_locate,
    .synopsis =
        CLI_VEHICLE_SYNOPSIS "\n"
                             "        [--json] [--reason TEXT] [--config FILE]",
    .summary = "where a vehicle is now, its account and open alerts",
    .help = help,
};

/* One open alert of the vehicle. */
struct open_alert {
    int64_t id;                         /* alert id */
    enum lw_alert_kind kind;            /* what happened */
    enum lw_alert_state state;          /* open or acknowledged */
    int64_t opened_ms;                  /* raised, the daemon's clock */
    char fence[LW_ALERT_FENCE_MAX + 1]; /* fence name, "" when none */
    bool late;                          /* revealed by a late fix */
};

/* What locate shows besides the fix. */
struct facts {
    struct lw_vehicle_match m; /* the vehicle (m.registered) */
    struct cli_access acc;     /* account, watched, the settings used */
    struct open_alert *alerts; /* open alerts, oldest first */
    size_t nalerts;            /* entries in alerts */
    size_t cap;                /* room in alerts */
    bool oom;                  /* out of memory collecting them */
};

static int collect_alert(void *ctx, const struct lw_alert_row *r)
{
    struct facts *f = ctx;
    struct open_alert *a;

    if (f->nalerts == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 4;
        struct open_alert *n = realloc(f->alerts, ncap * sizeof(*n));

        if (!n) {
            f->oom = true;
            return 1;
        }
        f->alerts = n;
        f->cap = ncap;
    }
    a = &f->alerts[f->nalerts++];
    a->id = r->id;
    a->kind = r->a.kind;
    a->state = r->state;
    a->opened_ms = r->a.raised_ms;
    snprintf(a->fence, sizeof(a->fence), "%s", r->a.fence);
    a->late = r->a.late;
    return 0;
}

/* The open alerts of f->m's vehicle. */
static enum lw_err read_facts(struct lw_store *s, struct facts *f)
{
    struct lw_alert_filter af = {.device = f->m.v.device, .open_only = true};
    enum lw_err e;

    e = lw_registry_alerts(s, &af, collect_alert, f);
    if (e == LW_OK && f->oom)
        e = LW_ERR_NOMEM;
    return e;
}

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

/* The vehicle and account part of the JSON object, into o. False when out
 * of memory. */
static bool facts_json(json_t *o, const struct facts *x)
{
    const struct lw_vehicle *v = &x->m.v;
    char t[LW_TIME_BUFLEN];
    json_t *arr = json_array();
    bool ok = arr != NULL;
    size_t i;

    for (i = 0; ok && i < x->nalerts; i++) {
        const struct open_alert *a = &x->alerts[i];

        ok = json_array_append_new(
                 arr, json_pack("{s:I, s:s, s:s, s:s, s:o, s:b}", "id",
                                (json_int_t)a->id, "kind",
                                lw_alert_kind_name(a->kind), "state",
                                lw_alert_state_name(a->state), "opened_at",
                                cli_time(a->opened_ms, t), "geofence",
                                lw_json_str_or_null(a->fence), "late",
                                a->late)) == 0;
    }
    /* the state topic's keys, so a dashboard and an agent read one shape */
    ok = ok &&
         json_object_set_new(o, "registered", json_boolean(x->m.registered)) ==
             0 &&
         json_object_set_new(o, "vin", lw_json_str_or_null(v->vin)) == 0 &&
         json_object_set_new(o, "plate", lw_json_str_or_null(v->plate)) == 0 &&
         json_object_set_new(o, "description",
                             lw_json_str_or_null(v->description)) == 0 &&
         json_object_set_new(o, "account", lw_json_str_or_null(v->account)) ==
             0 &&
         json_object_set_new(o, "days_past_due",
                             x->acc.has_account
                                 ? json_integer(x->acc.a.days_past_due)
                                 : json_null()) == 0 &&
         json_object_set_new(o, "account_status",
                             x->acc.has_account ? json_string(x->acc.a.status)
                                                : json_null()) == 0 &&
         json_object_set_new(o, "watched", json_boolean(x->acc.watched)) == 0 &&
         json_object_set_new(o, "watch_days_past_due",
                             json_integer(x->acc.rule.days)) == 0 &&
         json_object_set_new(o, "watch_setting_from",
                             lw_json_str_or_null(x->acc.rule.from)) == 0;
    if (ok) {
        ok = json_object_set_new(o, "open_alerts", arr) == 0;
        arr = NULL; /* taken, even on failure */
    }
    json_decref(arr);
    return ok;
}

/* The JSON object of one device's position and facts (new reference), or
 * NULL when out of memory. */
static json_t *locate_json(const struct cli *c, const struct lw_fix *f,
                           const struct lw_device_info *d,
                           const struct facts *x, const char *url,
                           const char *geo)
{
    json_t *o;

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
    if (o && !facts_json(o, x)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static int print_json(const struct cli *c, const struct lw_fix *f,
                      const struct lw_device_info *d, const struct facts *x,
                      const char *url, const char *geo)
{
    json_t *o = locate_json(c, f, d, x, url, geo);
    bool ok;

    if (!o)
        return cli_error("locate", CLI_EXIT_FAIL,
                         "cannot build JSON (out of memory, or text that is "
                         "not UTF-8)");
    ok = cli_json_print("locate", o);
    json_decref(o);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static const char *known(const char *s)
{
    return s[0] ? s : "unknown";
}

/* "day" or "days". */
static const char *days_word(int n)
{
    return n == 1 ? "day" : "days";
}

/* The vehicle, account and watch lines of the text output. */
static void print_vehicle(const struct facts *x)
{
    const struct lw_vehicle *v = &x->m.v;
    int n = x->acc.rule.days;

    if (!x->m.registered) {
        printf("vehicle     not registered\n");
        printf("account     none\n");
        printf("watched     no: not registered\n");
        return;
    }
    printf("plate       %s\n", known(v->plate));
    printf("vin         %s\n", known(v->vin));
    printf("vehicle     %s\n", known(v->description));
    if (!v->account[0]) {
        printf("account     none\n");
        printf("watched     no: no account\n");
        return;
    }
    if (!x->acc.has_account) {
        printf("account     %s, not known yet\n", v->account);
        printf("watched     no: account not known yet\n");
        return;
    }
    printf("account     %s, %d %s past due%s%s\n", v->account,
           x->acc.a.days_past_due, days_word(x->acc.a.days_past_due),
           x->acc.a.status[0] ? ", " : "", x->acc.a.status);
    printf("watched     %s: lienwatchd watches from %d %s past due\n",
           x->acc.watched ? "yes" : "no", n, days_word(n));
    if (x->acc.rule.note[0])
        printf("            (its default: %s)\n", x->acc.rule.note);
}

/* The open alerts of the text output. */
static void print_alerts(const struct cli *c, const struct facts *x)
{
    char t[LW_TIME_BUFLEN], age[CLI_AGE_BUFLEN];
    size_t i;

    if (x->nalerts == 0) {
        printf("alerts      none open\n");
        return;
    }
    printf("alerts      %zu open (lienwatch alerts --device %s)\n", x->nalerts,
           x->m.v.device);
    for (i = 0; i < x->nalerts; i++) {
        const struct open_alert *a = &x->alerts[i];

        printf("  %6lld  %s", (long long)a->id, lw_alert_kind_name(a->kind));
        if (a->fence[0])
            printf(" '%s'", a->fence);
        printf(" opened %s (%s), %s%s\n", cli_time(a->opened_ms, t),
               cli_age(c->now_ms, a->opened_ms, age),
               lw_alert_state_name(a->state), a->late ? ", late" : "");
    }
}

static void print_text(const struct cli *c, const struct lw_fix *f,
                       const struct lw_device_info *d, const struct facts *x,
                       const char *url, const char *geo)
{
    char t[LW_TIME_BUFLEN], age[CLI_AGE_BUFLEN];
    char a[CLI_NUM_BUFLEN], b[CLI_NUM_BUFLEN];

    printf("device      %s\n", f->device);
    print_vehicle(x);
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
    print_alerts(c, x);
}

/* The vehicle of m as a person knows it, for messages: "bob/car (plate SP
 * 4411)" or the device alone. */
static const char *who_is(const struct lw_vehicle_match *m, char *buf,
                          size_t len)
{
    if (m->registered && m->v.plate[0])
        snprintf(buf, len, "%s (plate %s)", m->v.device, m->v.plate);
    else
        snprintf(buf, len, "%s", m->v.device);
    return buf;
}

/* ---- a vehicle with several trackers ------------------------------------- */

/* One tracker's answer. */
struct tracker {
    struct cli_fleet_dev *fd;  /* its record, registry row and access */
    struct facts x;            /* its open alerts */
    struct lw_device_info d;   /* heard */
    bool heard;                /* d is set */
    struct lw_fix f;           /* its last-known fix */
    bool has_fix;              /* f is set */
};

/* Newest fix first; trackers without one last, by device. */
static int tracker_cmp(const void *a, const void *b)
{
    const struct tracker *x = a, *y = b;

    if (x->has_fix != y->has_fix)
        return x->has_fix ? -1 : 1;
    if (x->has_fix && x->f.fix_time_ms != y->f.fix_time_ms)
        return x->f.fix_time_ms > y->f.fix_time_ms ? -1 : 1;
    return strcmp(x->fd->rec.device, y->fd->rec.device);
}

/* "hidden, installed 2026-11-02T00:00:00Z" for the tracker line. */
static void record_words(const struct lw_install *r, char *buf, size_t len)
{
    char t[LW_TIME_BUFLEN];

    snprintf(buf, len, "%s%s%s", r->role[0] ? r->role : "role not recorded",
             r->installed_ms ? ", installed " : "",
             r->installed_ms ? cli_time(r->installed_ms, t) : "");
}

/* The JSON of a tracker without a position. */
static json_t *silent_json(const struct cli *c, const struct tracker *t)
{
    json_t *o = json_pack("{s:s, s:n, s:o, s:o}", "device",
                          t->fd->rec.device, "fix_time", "last_heard",
                          t->heard ? cli_json_time(t->d.last_heard_ms)
                                   : json_null(),
                          "last_heard_age_s",
                          t->heard ? age_json(c->now_ms, t->d.last_heard_ms)
                                   : json_null());

    if (o && !facts_json(o, &t->x)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static int vehicle_json(const struct cli *c, const struct cli_fleet *fl,
                        struct tracker *tr)
{
    json_t *arr = json_array(), *o = NULL;
    char url[256], geo[128], t[LW_TIME_BUFLEN];
    bool ok = arr != NULL;
    size_t i;

    for (i = 0; ok && i < fl->n; i++) {
        const struct lw_install *r = &tr[i].fd->rec;
        json_t *j;

        if (tr[i].has_fix) {
            osm_url(&tr[i].f, url, sizeof(url));
            geo_uri(&tr[i].f, geo, sizeof(geo));
            j = locate_json(c, &tr[i].f, &tr[i].d, &tr[i].x, url, geo);
        } else {
            j = silent_json(c, &tr[i]);
        }
        ok = j && json_object_set_new(j, "role",
                                      lw_json_str_or_null(r->role)) == 0 &&
             json_object_set_new(j, "installed",
                                 r->installed_ms
                                     ? json_string(cli_time(r->installed_ms, t))
                                     : json_null()) == 0;
        if (json_array_append_new(arr, j) != 0)
            ok = false;
    }
    if (ok) {
        o = json_pack("{s:s, s:I, s:o, s:O}", "vehicle", fl->name,
                      "vehicle_id", (json_int_t)fl->id, "vin",
                      lw_json_str_or_null(fl->vin), "trackers", arr);
        ok = o && cli_json_print("locate", o);
    } else {
        cli_error("locate", CLI_EXIT_FAIL,
                  "cannot build JSON (out of memory, or text that is not "
                  "UTF-8)");
    }
    json_decref(o);
    json_decref(arr);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void vehicle_text(const struct cli *c, const struct cli_fleet *fl,
                         struct tracker *tr)
{
    char url[256], geo[128], words[128], t[LW_TIME_BUFLEN];
    char age[CLI_AGE_BUFLEN];
    size_t i;

    printf("vehicle     %s: %zu trackers, newest fix first\n", fl->name,
           fl->n);
    for (i = 0; i < fl->n; i++) {
        record_words(&tr[i].fd->rec, words, sizeof(words));
        printf("\ntracker     %s (%s)\n", tr[i].fd->rec.device, words);
        if (tr[i].has_fix) {
            osm_url(&tr[i].f, url, sizeof(url));
            geo_uri(&tr[i].f, geo, sizeof(geo));
            print_text(c, &tr[i].f, &tr[i].d, &tr[i].x, url, geo);
        } else if (tr[i].heard) {
            printf("position    none yet (last heard %s, %s)\n",
                   cli_time(tr[i].d.last_heard_ms, t),
                   cli_age(c->now_ms, tr[i].d.last_heard_ms, age));
        } else {
            printf("position    none: its tracker has not reported yet\n");
        }
    }
}

/*
 * locate for a vehicle with several trackers (fl, freed here): each
 * tracker's last-known fix, newest first, with its role; gated and
 * recorded per tracker. Exit 3 when none has a position.
 */
static int locate_vehicle(struct cli *c, const struct cli_command *me,
                          struct lw_store *s, struct cli_fleet *fl,
                          bool json, const char *reason, const char *config)
{
    struct tracker *tr = calloc(fl->n, sizeof(*tr));
    size_t i, with_fix = 0;
    enum lw_err e = LW_OK;
    int rc;

    if (!tr) {
        cli_fleet_free(fl);
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    }
    rc = cli_fleet_access(c, me->name, s, fl, reason, config);
    if (rc != CLI_CONTINUE)
        goto out;
    for (i = 0; e == LW_OK && i < fl->n; i++) {
        struct tracker *t = &tr[i];

        t->fd = &fl->dev[i];
        t->x.m = t->fd->m;
        t->x.acc = t->fd->acc;
        e = lw_store_device_get(s, t->fd->rec.device, &t->d);
        t->heard = e == LW_OK;
        if (e == LW_OK)
            e = lw_store_last_fix(s, t->fd->rec.device, &t->f);
        t->has_fix = e == LW_OK;
        with_fix += t->has_fix;
        if (e == LW_ERR_NOTFOUND)
            e = LW_OK;
        if (e == LW_OK)
            e = read_facts(s, &t->x);
    }
    if (e != LW_OK) {
        rc = cli_db_error(me->name, s, e);
        goto out;
    }
    qsort(tr, fl->n, sizeof(*tr), tracker_cmp);
    if (json) {
        rc = vehicle_json(c, fl, tr);
    } else {
        vehicle_text(c, fl, tr);
        rc = CLI_EXIT_OK;
    }
    if (rc == CLI_EXIT_OK && with_fix == 0)
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "vehicle %s: none of its %zu trackers has a position "
                       "yet",
                       fl->name, fl->n);
out:
    for (i = 0; i < fl->n; i++)
        free(tr[i].x.alerts);
    free(tr);
    cli_fleet_free(fl);
    return rc;
}

static int cmd_locate(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200, OPT_CONFIG };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"reason", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, OPT_CONFIG},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_locate;
    const char *reason = NULL, *config = NULL;
    struct cli_target target = {0};
    struct facts x = {0};
    struct cli_fleet fleet;
    struct lw_device_info d;
    struct lw_store *s;
    struct lw_fix f;
    char url[256], geo[128], t[LW_TIME_BUFLEN], age[CLI_AGE_BUFLEN];
    char name[LW_DEVICE_MAX + LW_PLATE_MAX + 16];
    bool json = false;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON:
            json = true;
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
    if (config) { /* a --config that cannot be used fails first */
        rc = cli_watch_rule_load(me->name, NULL, config, &x.acc.rule);
        if (rc != CLI_CONTINUE)
            return rc;
    }

    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    rc = cli_fleet_resolve(me, s, &target, false, &fleet);
    if (rc != CLI_CONTINUE)
        return rc;
    if (fleet.merged)
        return locate_vehicle(c, me, s, &fleet, json, reason, config);
    rc = cli_target_resolve(me, s, &target, &x.m);
    /* on the record before any position is read: the device it named, or
     * what was typed when it named none or several; a vehicle that is not
     * watched only with a reason, and nothing when the record fails */
    if (rc != CLI_CONTINUE)
        return cli_access_unresolved(c, me->name, target.text, reason, rc);
    rc = cli_access_lookup(c, me->name, s, &x.m, reason, config, &x.acc);
    if (rc != CLI_CONTINUE)
        return rc;

    e = lw_store_device_get(s, x.m.v.device, &d);
    if (e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "%s has not reported yet (registered, but its tracker "
                       "has never been heard)",
                       who_is(&x.m, name, sizeof(name)));
        goto out;
    }
    if (e != LW_OK) {
        rc = cli_db_error(me->name, s, e);
        goto out;
    }
    e = lw_store_last_fix(s, x.m.v.device, &f);
    if (e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "%s has no position yet (last heard %s, %s)",
                       who_is(&x.m, name, sizeof(name)),
                       cli_time(d.last_heard_ms, t),
                       cli_age(c->now_ms, d.last_heard_ms, age));
        goto out;
    }
    if (e == LW_OK)
        e = read_facts(s, &x);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, s, e);
        goto out;
    }

    osm_url(&f, url, sizeof(url));
    geo_uri(&f, geo, sizeof(geo));
    if (json) {
        rc = print_json(c, &f, &d, &x, url, geo);
    } else {
        print_text(c, &f, &d, &x, url, geo);
        rc = CLI_EXIT_OK;
    }
out:
    free(x.alerts);
    return rc;
}
