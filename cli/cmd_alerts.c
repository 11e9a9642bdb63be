/*
 * cmd_alerts.c - 'lienwatch alerts [list] | ack | close': the alerts
 * lienwatchd raised, and their lifecycle (open, acknowledged, closed).
 *
 * The JSON form is the one shape of an alert (lw_alert_to_json), the same
 * as on the MQTT alert topic. Acknowledging or closing bumps alerts_version,
 * so a running daemon republishes the vehicle's retained state within about
 * a second.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/alertjson.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"

/* Room for a validation message. */
#define WHY_MAX 160
/* Text columns are at least as wide as their heading, at most this wide. */
#define COL_MAX 40
/* Longest name and note stored with an acknowledgement (registry.h). */
#define ACK_BY_MAX (sizeof(((struct lw_alert_row *)0)->ack_by) - 1)
#define ACK_NOTE_MAX (sizeof(((struct lw_alert_row *)0)->ack_note) - 1)

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    The alerts lienwatchd raised for watched (overdue) vehicles:\n"
    "    geofence_exit, geofence_enter, dwell, offline, back_online,\n"
    "    power_cut, tow, low_battery, gps_jump, parked_long,\n"
    "    new_overnight_place, long_move, tracker_separation, tracker_lost\n"
    "    (the last two compare the trackers of one vehicle). Each is open\n"
    "    until someone acknowledges it (takes it on) and then closes it\n"
    "    (dealt with). A closed alert stays closed.\n"
    "\n"
    "    alerts [list]\n"
    "        The alerts, oldest first: id, when it was raised (the daemon's\n"
    "        clock, UTC), kind, device, plate, the fence (or, for the\n"
    "        tracker alerts, the vehicle's other tracker and how far apart\n"
    "        they were) and state.\n"
    "    alerts ack ID --by NAME [--note TEXT]\n"
    "        Acknowledges alert ID: NAME has taken it on. Acknowledging again\n"
    "        (someone else takes over) replaces the name and note.\n"
    "    alerts close ID\n"
    "        Closes alert ID, acknowledged or not.\n"
    "\n"
    "    ack and close are recorded in the audit trail and show in the\n"
    "    vehicle's retained MQTT state within about a second (they are not\n"
    "    published as new alerts). A --json listing carries the positions of\n"
    "    the vehicles, so it is recorded in the audit trail like a locate\n"
    "    (before anything is shown; when it cannot be recorded nothing is).\n"
    "    As with locate, the position of a vehicle that is not watched (its\n"
    "    account paid up, or under the watch threshold) is shown only with\n"
    "    --reason; otherwise its alert has fix, osm_url and geo_uri null and\n"
    "    position_withheld saying why.\n"
    "\n"
    "OPTIONS\n"
    "    --open\n"
    "        (list) Only alerts not closed (open or acknowledged).\n"
    "    --device D\n"
    "        (list) Only the alerts of device D.\n"
    "    --json\n"
    "        (list) Print one JSON array of alert objects, as published on\n"
    "        lienwatch/v1/alert/DEVICE: id, kind, state, device, vin, plate,\n"
    "        description, account, days_past_due, geofence (null when none),\n"
    "        opened_at (ISO 8601 UTC), fix {lat, lon, fix_time, accuracy_m,\n"
    "        speed_mps, course_deg} (null when none), late, age_s (late\n"
    "        only), gap_s and moved_m (offline, back_online),\n"
    "        acknowledged_by, acknowledged_at, note, closed_at, osm_url,\n"
    "        geo_uri.\n"
    "    -r, --reason TEXT\n"
    "        (list --json) Why you look, for the audit trail.\n"
    "    --by NAME\n"
    "        (ack; required) Who takes the alert on, at most 63 bytes.\n"
    "    --note TEXT\n"
    "        (ack) A note, at most 255 bytes.\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also when no alert matches); 1 database missing, not\n"
    "    writable or broken, or the alert is closed; 2 bad options or\n"
    "    arguments; 3 no alert ID.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch alerts --open\n"
    "    lienwatch alerts --device alice/phone --json --reason 'order 2291'\n"
    "    lienwatch alerts ack 42 --by agent7 --note 'on my way'\n"
    "    lienwatch alerts close 42\n";
/* clang-format on */

static int cmd_alerts(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_alerts = {
    .name = "alerts",
    .run = cmd_alerts,
    .synopsis = "[list] [--open] [--device D] [--json [--reason TEXT]]\n"
                "    lienwatch [--db PATH] [--as NAME] alerts ack ID --by NAME "
                "[--note TEXT]\n"
                "    lienwatch [--db PATH] [--as NAME] alerts close ID",
    .summary = "alerts raised by the daemon; acknowledge or close them",
    .help = help,
};

static const struct cli_command cmd_ack = {
    .name = "alerts ack",
    .synopsis = "ID --by NAME [--note TEXT]",
    .summary = "acknowledge an alert",
    .help = help,
};
static const struct cli_command cmd_close = {
    .name = "alerts close",
    .synopsis = "ID",
    .summary = "close an alert",
    .help = help,
};

/* ---- list ---------------------------------------------------------------- */

/* State of one listing. */
struct listing {
    struct lw_store *s;          /* for vehicle and account lookups */
    int w_dev, w_plate, w_fence; /* column widths */
    int64_t max_id;              /* rows measured: later ones skipped */
    int64_t n;                   /* alerts written */
    bool failed;                 /* output or memory failure */
    /* --json: who may see the positions (lib/access.c, as locate) */
    struct cli_watch_rule rule; /* watch threshold and unwatched policy */
    const char *reason;         /* --reason, NULL when none */
    int64_t withheld;           /* alerts whose position was withheld */
    int64_t overridden;         /* unwatched ones shown for the reason */
};

/* The vehicle of device into *v; false when not registered. */
static bool vehicle_of(struct listing *l, const char *device,
                       struct lw_vehicle *v)
{
    return lw_registry_vehicle_get(l->s, device, v) == LW_OK;
}

/* The FENCE/OTHER column: the fence of a fence alert, "with DEVICE (N m)"
 * for a tracker_separation or tracker_lost (the vehicle's other tracker),
 * "-" otherwise. */
static const char *where_of(const struct lw_alert_row *r, char *buf,
                            size_t len)
{
    if (r->a.fence[0])
        return r->a.fence;
    if (!r->a.other.device[0])
        return "-";
    if (r->a.other.has_fix && isfinite(r->a.other.distance_m))
        snprintf(buf, len, "with %s (%.0f m)", r->a.other.device,
                 r->a.other.distance_m);
    else
        snprintf(buf, len, "with %s", r->a.other.device);
    return buf;
}

static void widen(int *w, const char *s)
{
    int n = cli_text_width(s);

    if (n > *w)
        *w = n > COL_MAX ? COL_MAX : n;
}

static int measure(void *ctx, const struct lw_alert_row *r)
{
    struct listing *l = ctx;
    struct lw_vehicle v;
    char where[LW_DEVICE_MAX + 32];

    widen(&l->w_dev, r->a.device);
    if (vehicle_of(l, r->a.device, &v))
        widen(&l->w_plate, v.plate);
    widen(&l->w_fence, where_of(r, where, sizeof(where)));
    l->max_id = r->id;
    return 0;
}

static int print_row(void *ctx, const struct lw_alert_row *r)
{
    struct listing *l = ctx;
    struct lw_vehicle v;
    char t[LW_TIME_BUFLEN], where[LW_DEVICE_MAX + 32];

    if (r->id > l->max_id)
        return 1; /* raised after the measuring pass */
    printf("%6lld  %-24s  %-19s  ", (long long)r->id,
           cli_time(r->a.raised_ms, t), lw_alert_kind_name(r->a.kind));
    cli_put_padded(r->a.device, l->w_dev);
    fputs("  ", stdout);
    cli_put_padded(vehicle_of(l, r->a.device, &v) && v.plate[0] ? v.plate : "-",
                   l->w_plate);
    fputs("  ", stdout);
    cli_put_padded(where_of(r, where, sizeof(where)), l->w_fence);
    printf("  %s%s\n", lw_alert_state_name(r->state),
           r->a.late ? " (late)" : "");
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_alert_row *r)
{
    struct listing *l = ctx;
    struct lw_vehicle v;
    struct lw_account a;
    bool has_v = vehicle_of(l, r->a.device, &v);
    bool has_a = has_v && v.account[0] &&
                 lw_registry_account_get(l->s, v.account, &a) == LW_OK;
    json_t *j;

    j = lw_alert_to_json(r, has_v ? &v : NULL, has_a ? &a : NULL);
    if (j) {
        /* a position is shown as locate shows it: a watched vehicle's, or
         * another's for a stated reason (as [privacy] unwatched_access
         * says); otherwise the alert without where it happened */
        struct lw_access_req q = {
            .roles = LW_ROLE_OPS,
            .watched = has_a && lw_access_account_watched(
                                    a.days_past_due, a.status, l->rule.days),
            .reason = l->reason,
            .unwatched = l->rule.policy,
        };
        struct lw_access_decision d;

        lw_access_decide(&q, &d);
        if (d.verdict != LW_ACCESS_GRANTED) {
            json_object_set_new(j, "fix", json_null());
            json_object_set_new(j, "osm_url", json_null());
            json_object_set_new(j, "geo_uri", json_null());
            json_object_set_new(j, "position_withheld", json_string(d.why));
            l->withheld++;
        } else if (!q.watched) {
            l->overridden++;
        }
    }
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int run_list(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200, OPT_OPEN, OPT_DEVICE };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"open", no_argument, NULL, OPT_OPEN},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"reason", required_argument, NULL, 'r'},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_alerts;
    struct lw_alert_filter f = {0};
    struct listing l = {.w_dev = (int)strlen("DEVICE"),
                        .w_plate = (int)strlen("PLATE"),
                        .w_fence = (int)strlen("FENCE/OTHER")};
    const char *reason = NULL;
    bool json = false;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":hr:", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON:
            json = true;
            break;
        case OPT_OPEN:
            f.open_only = true;
            break;
        case OPT_DEVICE:
            if (!optarg[0])
                return cli_usage_error(me, "--device needs a device");
            f.device = optarg;
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
    if (optind != argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);
    if (reason && !json)
        return cli_usage_error(me, "--reason goes with --json (the table "
                                   "shows no positions)");
    l.s = cli_store_registry(c, me->name);
    if (!l.s)
        return CLI_EXIT_FAIL;
    if (json) {
        /* the JSON carries positions: a location lookup, recorded before
         * anything is shown, and not answered when it cannot be */
        struct lw_audit_rec ar;

        rc = cli_watch_rule_load(me->name, l.s, NULL, &l.rule);
        if (rc != CLI_CONTINUE)
            return rc;
        l.reason = reason;
        cli_audit_rec(c, &ar, "alerts", f.device);
        ar.reason = reason;
        ar.role = "ops";
        ar.basis = reason ? "override" : "watched";
        ar.detail = "alert list with the positions of watched vehicles"
                    "; others' only for the stated reason";
        rc = cli_access_record(c, me->name, &ar, NULL);
        if (rc != CLI_CONTINUE)
            return rc;
        e = lw_registry_alerts(l.s, &f, print_json, &l);
        if (e == LW_OK && !l.failed)
            cli_json_end(l.n);
        if (e == LW_OK && l.withheld)
            fprintf(stderr,
                    "lienwatch alerts: the positions of %lld alert%s of "
                    "vehicles that are not watched are withheld (%s)\n",
                    (long long)l.withheld, l.withheld == 1 ? "" : "s",
                    l.rule.policy == LW_UNWATCHED_DENY
                        ? "[privacy] unwatched_access = deny"
                        : "give --reason to see them; it is recorded");
    } else {
        e = lw_registry_alerts(l.s, &f, measure, &l);
        if (e == LW_OK) {
            printf("%6s  %-24s  %-19s  ", "ID", "OPENED", "KIND");
            cli_put_padded("DEVICE", l.w_dev);
            fputs("  ", stdout);
            cli_put_padded("PLATE", l.w_plate);
            fputs("  ", stdout);
            cli_put_padded("FENCE/OTHER", l.w_fence);
            printf("  %s\n", "STATE");
            e = lw_registry_alerts(l.s, &f, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_db_error(me->name, l.s, e);
    return cli_output_status(me->name, l.failed);
}

/* ---- ack, close ---------------------------------------------------------- */

/* Parses an alert id (a whole number > 0); false otherwise. */
static bool parse_id(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!s[0] || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return false;
    *out = v;
    return true;
}

/*
 * Acknowledges (by != NULL) or closes alert id through a writable handle,
 * with its audit record, in one transaction. Returns the exit code.
 */
static int change(struct cli *c, const struct cli_command *me, int64_t id,
                  const char *by, const char *note)
{
    struct lw_alert_row r;
    struct lw_store *w = cli_store_rw(c, me->name);
    enum lw_err e;
    int rc;

    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_alert_get(w, id, &r);
    if (e == LW_OK && by)
        e = lw_registry_alert_ack(w, id, by, note, c->now_ms);
    else if (e == LW_OK)
        e = lw_registry_alert_close(w, id, c->now_ms);
    if (e == LW_OK && by)
        e = cli_audit_change(c, w, "alert ack", r.a.device,
                             "alert %lld (%s): by %s%s%s", (long long)id,
                             lw_alert_kind_name(r.a.kind), by,
                             note && note[0] ? ": " : "", note ? note : "");
    else if (e == LW_OK)
        e = cli_audit_change(c, w, "alert close", r.a.device, "alert %lld (%s)",
                             (long long)id, lw_alert_kind_name(r.a.kind));
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e == LW_OK) {
        if (by)
            printf("alert %lld acknowledged by %s\n", (long long)id, by);
        else
            printf("alert %lld closed\n", (long long)id);
        rc = CLI_EXIT_OK;
    } else if (e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "no alert %lld (see lienwatch alerts)", (long long)id);
    } else if (e == LW_ERR_INVAL) {
        rc = cli_error(me->name, CLI_EXIT_FAIL,
                       by ? "alert %lld is closed: a closed alert cannot be "
                            "acknowledged"
                          : "alert %lld is already closed",
                       (long long)id);
    } else {
        rc = cli_db_error(me->name, w, e);
    }
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/*
 * Reads the one operand of ack and close, left at argv[optind] by
 * getopt_long, as an alert id into *id. Returns CLI_CONTINUE, or
 * CLI_EXIT_USAGE after a message.
 */
static int id_operand(const struct cli_command *me, int argc, char **argv,
                      int64_t *id)
{
    if (optind >= argc)
        return cli_usage_error(me, "ID missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!parse_id(argv[optind], id))
        return cli_usage_error(me,
                               "ID '%s' is not an alert id (a number "
                               "> 0, see lienwatch alerts)",
                               argv[optind]);
    return CLI_CONTINUE;
}

static int run_ack(struct cli *c, int argc, char **argv)
{
    enum { OPT_BY = 0x200, OPT_NOTE };
    static const struct option opts[] = {
        {"by", required_argument, NULL, OPT_BY},
        {"note", required_argument, NULL, OPT_NOTE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_ack;
    const char *by = NULL, *note = NULL;
    char why[WHY_MAX];
    int64_t id;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_BY:
            if (!optarg[0] ||
                !lw_text_ok(optarg, ACK_BY_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--by %s",
                                       optarg[0] ? why : "needs a name");
            by = optarg;
            break;
        case OPT_NOTE:
            if (!lw_text_ok(optarg, ACK_NOTE_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--note %s", why);
            note = optarg;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    rc = id_operand(me, argc, argv, &id);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!by)
        return cli_usage_error(me, "--by NAME is required: who takes the "
                                   "alert on?");
    return change(c, me, id, by, note);
}

static int run_close(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_close;
    int64_t id;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    rc = id_operand(me, argc, argv, &id);
    if (rc != CLI_CONTINUE)
        return rc;
    return change(c, me, id, NULL, NULL);
}

static int cmd_alerts(struct cli *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "ack") == 0)
        return run_ack(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "close") == 0)
        return run_close(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return run_list(c, argc - 1, argv + 1);
    return run_list(c, argc, argv);
}
