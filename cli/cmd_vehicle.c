/*
 * cmd_vehicle.c - 'lienwatch vehicle set|list': what an agent looks for on
 * the street (VIN, plate, description), which loan account the vehicle
 * belongs to and how long its tracker may stay silent.
 *
 * A vehicle is keyed by its tracker's device id and may be registered
 * before the device has ever reported. Changes go through a writable handle
 * in one transaction with their audit record; lienwatchd sees them within
 * about a second (registry_version, see registry.h).
 *
 * 'vehicle attach|detach|show': a vehicle with several trackers (a wired
 * one and a hidden one) and the install records of which tracker was in
 * which vehicle, and when (registry.h, lw_registry_attach).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"

/* Text columns are at least as wide as their heading, at most this wide. */
#define COL_MAX 40
/* Room for a validation message. */
#define WHY_MAX 160
/* Room for the audit detail of a change. */
#define DETAIL_MAX 512
/* Room for a formatted duration. */
#define DUR_BUFLEN 32

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    A vehicle is what a field agent looks for: its VIN, number plate\n"
    "    and a description (make, model, colour), keyed by the id of the\n"
    "    tracker fitted to it (DEVICE, as 'lienwatch devices' lists it, e.g.\n"
    "    alice/phone). It belongs to a loan ACCOUNT (see 'lienwatch help\n"
    "    account'): the vehicle is watched, and alerts are raised for it,\n"
    "    while that account is overdue.\n"
    "\n"
    "    vehicle set DEVICE\n"
    "        Registers the vehicle, or updates it: only the fields given\n"
    "        change, the others keep their stored values. A vehicle may be\n"
    "        registered before its tracker has ever reported. A field cannot\n"
    "        be emptied once set (give a new value instead). The change is\n"
    "        recorded in the audit trail and reaches a running lienwatchd\n"
    "        within about a second.\n"
    "    vehicle remove DEVICE [--purge]\n"
    "        A tracker taken out of its vehicle: its reports are no longer\n"
    "        stored (counted as ignored.paid_off), its vehicle is not\n"
    "        watched and its open alerts are closed. The vehicle record\n"
    "        stays (which trackers it had). With --purge, lienwatchd deletes\n"
    "        its positions (history, last-known fix, the positions in its\n"
    "        alerts and their mail) within seconds, and records the purge\n"
    "        in the audit trail; without, they stay until [store] retention\n"
    "        deletes them. Recorded in the audit trail.\n"
    "    vehicle attach VIN DEVICE [--role wired|hidden] [--installed-at T]\n"
    "            [--installer NAME] [--disclosure-signed DATE]\n"
    "        Records that tracker DEVICE was fitted to the vehicle VIN (a\n"
    "        car may carry several: a wired one and a hidden battery one).\n"
    "        The vehicle is created when its VIN is new; a vehicle whose VIN\n"
    "        is not known is named id:N (as 'vehicle show' prints it). VINs\n"
    "        are compared as plates are (case of a-z, spaces, hyphens and\n"
    "        dots do not matter). A device is in one vehicle at a time:\n"
    "        detach it first. The device is registered when it was not;\n"
    "        its empty plate, description and account are taken from a\n"
    "        tracker already in the vehicle, so both are watched together.\n"
    "        locate --vin and history --vin then show every tracker of the\n"
    "        vehicle, and lienwatchd compares them (tracker_separation,\n"
    "        tracker_lost). Recorded in the audit trail.\n"
    "    vehicle detach VIN DEVICE [--at T]\n"
    "        Records that DEVICE was taken out of the vehicle (at T, default\n"
    "        now). The install record is kept: a lender keeps them for\n"
    "        years. The device stays registered and its reports are still\n"
    "        stored ('vehicle remove' stops that). Recorded in the audit\n"
    "        trail.\n"
    "    vehicle show VIN [--json]\n"
    "        The vehicle's install records: its trackers now, then those it\n"
    "        had (role, installed, installer, disclosure signed, attached\n"
    "        and detached times).\n"
    "    vehicle list\n"
    "        Every registered vehicle, ordered by device: VIN, plate, account\n"
    "        and its days past due, silence allowance, when the tracker was\n"
    "        last heard (\"never\" when it has not reported yet), "
    "description.\n"
    "\n"
    "OPTIONS\n"
    "    --vin V\n"
    "        Vehicle identification number, at most 32 bytes.\n"
    "    --plate P\n"
    "        Number plate, at most 32 bytes (UTF-8).\n"
    "    --description TEXT\n"
    "        Make, model, colour, anything an agent needs to recognise it;\n"
    "        UTF-8 (any script), at most 256 bytes, no control characters.\n"
    "    --account ACCOUNT\n"
    "        The loan account, at most 64 bytes. An account not known yet is\n"
    "        accepted with a warning: the vehicle is not watched until the\n"
    "        account arrives ('lienwatch account set', an import, or loan\n"
    "        servicing over MQTT).\n"
    "    --offline-after DURATION\n"
    "        How long the tracker may stay silent before an 'offline' alert:\n"
    "        90s, 15m, 6h, 2d (a bare number is seconds). 0 means the\n"
    "        daemon's default ([alerts] offline_after, 6h).\n"
    "    --role wired|hidden\n"
    "        (attach) How the tracker is fitted: wired (to the vehicle's\n"
    "        power) or hidden (a battery unit). Default: not recorded.\n"
    "    --installed-at T, --at T\n"
    "        (attach, detach) When it was fitted or taken out: an ISO 8601\n"
    "        time (without a zone UTC), a date, or a duration back from now\n"
    "        (2d). Default: not recorded (attach), now (detach).\n"
    "    --installer NAME\n"
    "        (attach) Who fitted it, at most 64 bytes.\n"
    "    --disclosure-signed DATE\n"
    "        (attach) The date (YYYY-MM-DD) the borrower signed the\n"
    "        tracker disclosure.\n"
    "    --json\n"
    "        (show) One JSON object: vehicle (VIN or id:N), vehicle_id, vin\n"
    "        (null when unknown), devices (an array of {device, role,\n"
    "        installed, installer, disclosure_signed, attached, detached,\n"
    "        attached_now}; times ISO 8601 UTC, null when not recorded).\n"
    "        (list) Print one JSON array of objects: device, vin, plate,\n"
    "        description, account (null when none), days_past_due and\n"
    "        account_status (null when the account is not known),\n"
    "        offline_after_s (null: the daemon's default), registered,\n"
    "        updated, last_heard and last_fix (ISO 8601 UTC, null when "
    "never).\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, or (attach)\n"
    "    the device is in a vehicle already; 2 bad options or arguments;\n"
    "    3 (attach, detach, show) no such vehicle, or (detach) the device\n"
    "    is not in it.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch vehicle set alice/phone --vin 1HGCM82633A004352 \\\n"
    "        --plate 'B-LW 123' --description 'white Toyota Corolla' \\\n"
    "        --account ACC-1001 --offline-after 6h\n"
    "    lienwatch vehicle set bob/car --description '白色丰田卡罗拉'\n"
    "    lienwatch vehicle list\n"
    "    lienwatch vehicle remove bob/car --purge\n"
    "    lienwatch vehicle attach 1HGCM82633A004352 alice/hidden --role \\\n"
    "        hidden --installed-at 2026-11-02 --installer 'Garage Nord' \\\n"
    "        --disclosure-signed 2026-11-01\n"
    "    lienwatch vehicle detach 1HGCM82633A004352 alice/hidden --at 1h\n"
    "    lienwatch vehicle show 1HGCM82633A004352 --json\n"
    "    lienwatch vehicle list --json | jq -r '.[] | select(.last_heard == "
    "null) | .device'\n";
/* clang-format on */

static int cmd_vehicle(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_vehicle = {
    .name = "vehicle",
    .run = cmd_vehicle,
    .synopsis = "set DEVICE [--vin V] [--plate P] [--description TEXT]\n"
                "        [--account ACCOUNT] [--offline-after DURATION]\n"
                "    lienwatch [--db PATH] [--as NAME] vehicle list [--json]\n"
                "    lienwatch [--db PATH] [--as NAME] vehicle remove DEVICE "
                "[--purge]\n"
                "    lienwatch [--db PATH] [--as NAME] vehicle attach VIN DEVICE "
                "[--role wired|hidden]\n"
                "        [--installed-at T] [--installer NAME] "
                "[--disclosure-signed DATE]\n"
                "    lienwatch [--db PATH] [--as NAME] vehicle detach VIN DEVICE "
                "[--at T]\n"
                "    lienwatch [--db PATH] [--as NAME] vehicle show VIN [--json]",
    .summary = "register a vehicle (VIN, plate, account), list, remove a "
               "tracker, attach and detach trackers",
    .help = help,
};

/* The subcommands, for their own usage lines. */
static const struct cli_command cmd_set = {
    .name = "vehicle set",
    .synopsis = "DEVICE [--vin V] [--plate P] [--description TEXT] "
                "[--account ACCOUNT] [--offline-after DURATION]",
    .summary = "register or update a vehicle",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "vehicle list",
    .synopsis = "[--json]",
    .summary = "every registered vehicle",
    .help = help,
};

/* Copies the value of option name into dst (dstlen bytes) after checking
 * it; a usage error (exit code) or CLI_CONTINUE. */
static int take_text(const char *name, const char *val, char *dst,
                     size_t dstlen)
{
    char why[WHY_MAX];

    if (!val[0])
        return cli_usage_error(
            &cmd_set, "%s needs a value (a field cannot be emptied)", name);
    if (!lw_text_ok(val, dstlen - 1, why, sizeof(why)))
        return cli_usage_error(&cmd_set, "%s %s", name, why);
    snprintf(dst, dstlen, "%s", val);
    return CLI_CONTINUE;
}

/* Appends " key=value" to the audit detail d when value is set. */
static void detail_add(char *d, size_t len, const char *key, const char *val)
{
    size_t n = strlen(d);

    if (val[0] && n < len)
        snprintf(d + n, len - n, "%s%s=%s", n ? " " : "", key, val);
}

static int run_set(struct cli *c, int argc, char **argv)
{
    enum { OPT_VIN = 0x200, OPT_PLATE, OPT_DESC, OPT_ACCOUNT, OPT_OFFLINE };
    static const struct option opts[] = {
        {"vin", required_argument, NULL, OPT_VIN},
        {"plate", required_argument, NULL, OPT_PLATE},
        {"description", required_argument, NULL, OPT_DESC},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"offline-after", required_argument, NULL, OPT_OFFLINE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_set;
    struct lw_vehicle v, old;
    struct lw_account acct;
    struct lw_store *w = NULL;
    char why[WHY_MAX], detail[DETAIL_MAX] = "", dur[DUR_BUFLEN];
    bool exists, given = false;
    enum lw_err e;
    int opt, rc = CLI_EXIT_OK;

    memset(&v, 0, sizeof(v));
    v.offline_after_ms = -1; /* keep */
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = CLI_CONTINUE;
        switch (opt) {
        case OPT_VIN:
            rc = take_text("--vin", optarg, v.vin, sizeof(v.vin));
            break;
        case OPT_PLATE:
            rc = take_text("--plate", optarg, v.plate, sizeof(v.plate));
            break;
        case OPT_DESC:
            rc = take_text("--description", optarg, v.description,
                           sizeof(v.description));
            break;
        case OPT_ACCOUNT:
            rc = take_text("--account", optarg, v.account, sizeof(v.account));
            break;
        case OPT_OFFLINE:
            if (lw_duration_parse(optarg, &v.offline_after_ms) != LW_OK)
                return cli_usage_error(me,
                                       "--offline-after '%s' is not a "
                                       "duration (90s, 15m, 6h, 2d)",
                                       optarg);
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
        }
        if (rc != CLI_CONTINUE)
            return rc;
        given |= opt >= OPT_VIN && opt <= OPT_OFFLINE;
    }
    if (optind >= argc)
        return cli_usage_error(me, "DEVICE missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!argv[optind][0])
        return cli_usage_error(me, "DEVICE is empty");
    if (!lw_text_ok(argv[optind], LW_DEVICE_MAX, why, sizeof(why)))
        return cli_usage_error(me, "DEVICE %s", why);
    snprintf(v.device, sizeof(v.device), "%s", argv[optind]);

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_vehicle_get(w, v.device, &old);
    exists = e == LW_OK;
    if (e == LW_ERR_NOTFOUND)
        e = LW_OK;
    if (e == LW_OK && exists && !given) {
        printf("vehicle %s: nothing to change\n", v.device);
        goto out_close;
    }
    detail_add(detail, sizeof(detail), "vin", v.vin);
    detail_add(detail, sizeof(detail), "plate", v.plate);
    detail_add(detail, sizeof(detail), "description", v.description);
    detail_add(detail, sizeof(detail), "account", v.account);
    if (v.offline_after_ms >= 0)
        detail_add(detail, sizeof(detail), "offline_after",
                   v.offline_after_ms ? lw_duration_format(v.offline_after_ms,
                                                           dur, sizeof(dur))
                                      : "default");
    if (e == LW_OK)
        e = lw_registry_vehicle_set(w, &v, c->now_ms);
    if (e == LW_OK)
        e = cli_audit_change(c, w, "vehicle set", v.device, "%s%s",
                             exists ? "" : "registered ", detail);
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        goto out_close;
    }
    printf("vehicle %s %s\n", v.device, exists ? "updated" : "registered");
    if (v.account[0] &&
        lw_registry_account_get(w, v.account, &acct) == LW_ERR_NOTFOUND)
        fprintf(stderr,
                "lienwatch vehicle set: warning: account %s is not known "
                "yet; the vehicle is not watched until it is (lienwatch "
                "account set)\n",
                v.account);
    rc = CLI_EXIT_OK;
out_close:
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

static const struct cli_command cmd_remove = {
    .name = "vehicle remove",
    .synopsis = "DEVICE [--purge]",
    .summary = "a tracker taken out",
    .help = help,
};

/* 'vehicle remove DEVICE [--purge]'. */
static int run_remove(struct cli *c, int argc, char **argv)
{
    enum { OPT_PURGE = 0x200 };
    static const struct option opts[] = {
        {"purge", no_argument, NULL, OPT_PURGE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_remove;
    char why[WHY_MAX];
    const char *device;
    bool purge = false, registered = false;
    struct lw_store *w;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_PURGE) {
            purge = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(me, "DEVICE missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    device = argv[optind];
    if (!device[0])
        return cli_usage_error(me, "DEVICE is empty");
    if (!lw_text_ok(device, LW_DEVICE_MAX, why, sizeof(why)))
        return cli_usage_error(me, "DEVICE %s", why);

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_vehicle_remove(w, device, purge, c->now_ms,
                                       &registered);
    if (e == LW_OK)
        e = cli_audit_change(
            c, w, "vehicle remove", device, "tracker removed%s; %s",
            registered ? "" : " (no vehicle registered with it)",
            purge ? "its positions to be purged at once"
                  : "its positions kept until retention");
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        goto out_close;
    }
    printf("tracker %s removed: its reports are no longer stored%s, its "
           "open alerts closed; %s\n",
           device, registered ? " and its vehicle is not watched" : "",
           purge ? "lienwatchd deletes its positions within seconds (an "
                   "audit record says when)"
                 : "its stored positions stay until retention deletes them "
                   "(--purge deletes them now)");
    rc = CLI_EXIT_OK;
out_close:
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/* State of one listing. */
struct listing {
    struct cli *c;                     /* clock */
    struct lw_store *s;                /* for the account and device lookups */
    int w_dev, w_vin, w_plate, w_acct; /* column widths */
    int64_t n;                         /* vehicles written */
    bool failed;                       /* output or memory failure */
};

static void widen(int *w, const char *s)
{
    int n = cli_text_width(s);

    if (n > *w)
        *w = n > COL_MAX ? COL_MAX : n;
}

static int measure(void *ctx, const struct lw_vehicle *v)
{
    struct listing *l = ctx;

    widen(&l->w_dev, v->device);
    widen(&l->w_vin, v->vin);
    widen(&l->w_plate, v->plate);
    widen(&l->w_acct, v->account);
    return 0;
}

/* The account of v into *a; false when none or unknown. */
static bool account_of(struct listing *l, const struct lw_vehicle *v,
                       struct lw_account *a)
{
    return v->account[0] &&
           lw_registry_account_get(l->s, v->account, a) == LW_OK;
}

/* When the device was last heard (0: never) and its last fix time. */
static void heard_of(struct listing *l, const char *device, int64_t *heard,
                     int64_t *fix)
{
    struct lw_device_info d;

    *heard = *fix = 0;
    if (lw_store_device_get(l->s, device, &d) == LW_OK) {
        *heard = d.last_heard_ms;
        *fix = d.last_fix_ms;
    }
}

static int print_row(void *ctx, const struct lw_vehicle *v)
{
    struct listing *l = ctx;
    struct lw_account a;
    char dpd[16], dur[DUR_BUFLEN], age[CLI_AGE_BUFLEN];
    int64_t heard, fix;
    bool has_a = account_of(l, v, &a);

    heard_of(l, v->device, &heard, &fix);
    if (has_a)
        snprintf(dpd, sizeof(dpd), "%d", a.days_past_due);
    else
        snprintf(dpd, sizeof(dpd), "%s", v->account[0] ? "?" : "-");
    cli_put_padded(v->device, l->w_dev);
    fputs("  ", stdout);
    cli_put_padded(v->vin[0] ? v->vin : "-", l->w_vin);
    fputs("  ", stdout);
    cli_put_padded(v->plate[0] ? v->plate : "-", l->w_plate);
    fputs("  ", stdout);
    cli_put_padded(v->account[0] ? v->account : "-", l->w_acct);
    printf("  %4s  %-7s  %-14s  %s\n", dpd,
           v->offline_after_ms > 0
               ? lw_duration_format(v->offline_after_ms, dur, sizeof(dur))
               : "default",
           cli_age(l->c->now_ms, heard, age),
           v->description[0] ? v->description : "-");
    return cli_row_done(&l->n, &l->failed);
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static int print_json(void *ctx, const struct lw_vehicle *v)
{
    struct listing *l = ctx;
    struct lw_account a;
    bool has_a = account_of(l, v, &a);
    int64_t heard, fix;
    json_t *j;

    heard_of(l, v->device, &heard, &fix);
    j = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "device", v->device, "vin", str_or_null(v->vin), "plate",
        str_or_null(v->plate), "description", str_or_null(v->description),
        "account", str_or_null(v->account), "days_past_due",
        has_a ? json_integer(a.days_past_due) : json_null(), "account_status",
        has_a ? json_string(a.status) : json_null(), "offline_after_s",
        v->offline_after_ms > 0
            ? json_integer(v->offline_after_ms / CLI_MS_PER_S)
            : json_null(),
        "registered", cli_json_time(v->registered_ms), "updated",
        cli_json_time(v->updated_ms), "last_heard", cli_json_time(heard),
        "last_fix", cli_json_time(fix));
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int run_list(struct cli *c, int argc, char **argv)
{
    const struct cli_command *me = &cmd_list;
    struct listing l = {
        .c = c,
        .w_dev = (int)strlen("DEVICE"),
        .w_vin = (int)strlen("VIN"),
        .w_plate = (int)strlen("PLATE"),
        .w_acct = (int)strlen("ACCOUNT"),
    };
    bool json = false;
    enum lw_err e;
    int rc;

    rc = cli_parse_json_only(c, me, argc, argv, &json);
    if (rc != CLI_CONTINUE)
        return rc;
    l.s = cli_store_registry(c, me->name);
    if (!l.s)
        return CLI_EXIT_FAIL;
    if (json) {
        e = lw_registry_vehicles(l.s, print_json, &l);
        if (e == LW_OK && !l.failed)
            cli_json_end(l.n);
    } else {
        e = lw_registry_vehicles(l.s, measure, &l);
        if (e == LW_OK) {
            cli_put_padded("DEVICE", l.w_dev);
            fputs("  ", stdout);
            cli_put_padded("VIN", l.w_vin);
            fputs("  ", stdout);
            cli_put_padded("PLATE", l.w_plate);
            fputs("  ", stdout);
            cli_put_padded("ACCOUNT", l.w_acct);
            printf("  %4s  %-7s  %-14s  %s\n", "DPD", "OFFLINE", "LAST HEARD",
                   "DESCRIPTION");
            e = lw_registry_vehicles(l.s, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_db_error(me->name, l.s, e);
    return cli_output_status(me->name, l.failed);
}

/* ---- attach, detach, show ------------------------------------------------ */

static const struct cli_command cmd_attach = {
    .name = "vehicle attach",
    .synopsis = "VIN DEVICE [--role wired|hidden] [--installed-at T] "
                "[--installer NAME] [--disclosure-signed DATE]",
    .summary = "a tracker fitted to a vehicle",
    .help = help,
};
static const struct cli_command cmd_detach = {
    .name = "vehicle detach",
    .synopsis = "VIN DEVICE [--at T]",
    .summary = "a tracker taken out of a vehicle",
    .help = help,
};
static const struct cli_command cmd_show = {
    .name = "vehicle show",
    .synopsis = "VIN [--json]",
    .summary = "a vehicle's install records",
    .help = help,
};

/* Checks the VIN and DEVICE operands of attach and detach (argv from
 * optind); a usage error (exit code) or CLI_CONTINUE. */
static int vin_device_args(const struct cli_command *me, int argc, char **argv,
                           int first)
{
    char why[WHY_MAX];

    if (first >= argc)
        return cli_usage_error(me, "VIN missing");
    if (first + 1 >= argc)
        return cli_usage_error(me, "DEVICE missing");
    if (first + 2 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[first + 2]);
    if (!argv[first][0])
        return cli_usage_error(me, "VIN is empty");
    if (!lw_text_ok(argv[first], LW_VIN_MAX, why, sizeof(why)))
        return cli_usage_error(me, "VIN %s", why);
    if (!argv[first + 1][0])
        return cli_usage_error(me, "DEVICE is empty");
    if (!lw_text_ok(argv[first + 1], LW_DEVICE_MAX, why, sizeof(why)))
        return cli_usage_error(me, "DEVICE %s", why);
    return CLI_CONTINUE;
}

/* The exit code of a failed attach/detach/show: 3 for what is not there. */
static int install_error(const char *cmd, struct lw_store *s, enum lw_err e)
{
    if (e == LW_ERR_NOTFOUND || e == LW_ERR_RANGE || e == LW_ERR_EXISTS)
        return cli_error(cmd, e == LW_ERR_NOTFOUND ? CLI_EXIT_NOTFOUND
                         : e == LW_ERR_RANGE       ? CLI_EXIT_USAGE
                                                   : CLI_EXIT_FAIL,
                         "%s", lw_store_errmsg(s));
    return cli_db_error(cmd, s, e);
}

/* 'vehicle attach VIN DEVICE [...]'. */
static int run_attach(struct cli *c, int argc, char **argv)
{
    enum { OPT_ROLE = 0x200, OPT_INSTALLED, OPT_INSTALLER, OPT_DISCLOSURE };
    static const struct option opts[] = {
        {"role", required_argument, NULL, OPT_ROLE},
        {"installed-at", required_argument, NULL, OPT_INSTALLED},
        {"installer", required_argument, NULL, OPT_INSTALLER},
        {"disclosure-signed", required_argument, NULL, OPT_DISCLOSURE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_attach;
    char why[WHY_MAX], t[LW_TIME_BUFLEN], name[LW_VIN_MAX + 32];
    struct lw_install in, out;
    struct lw_store *w;
    enum lw_err e;
    int opt, rc;

    memset(&in, 0, sizeof(in));
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_ROLE:
            if (!optarg[0] || !lw_registry_role_ok(optarg))
                return cli_usage_error(me,
                                       "--role '%s' is neither wired nor "
                                       "hidden",
                                       optarg);
            snprintf(in.role, sizeof(in.role), "%s", optarg);
            break;
        case OPT_INSTALLED:
            if (!cli_time_bound(c, optarg, false, &in.installed_ms) ||
                in.installed_ms <= 0)
                return cli_usage_error(me, "--installed-at '%s' is not a time",
                                       optarg);
            if (in.installed_ms > c->now_ms)
                return cli_usage_error(me,
                                       "--installed-at '%s' is in the future",
                                       optarg);
            break;
        case OPT_INSTALLER:
            if (!optarg[0])
                return cli_usage_error(me, "--installer needs a value");
            if (!lw_text_ok(optarg, LW_INSTALLER_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--installer %s", why);
            snprintf(in.installer, sizeof(in.installer), "%s", optarg);
            break;
        case OPT_DISCLOSURE:
            if (!lw_registry_date_ok(optarg))
                return cli_usage_error(me,
                                       "--disclosure-signed '%s' is not a "
                                       "date (YYYY-MM-DD)",
                                       optarg);
            snprintf(in.disclosure_signed, sizeof(in.disclosure_signed), "%s",
                     optarg);
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    rc = vin_device_args(me, argc, argv, optind);
    if (rc != CLI_CONTINUE)
        return rc;
    snprintf(in.device, sizeof(in.device), "%s", argv[optind + 1]);

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_attach(w, argv[optind], &in, c->now_ms, &out);
    if (e == LW_ERR_INVAL) {
        rc = cli_usage_error(me, "VIN '%s' has no letters or digits",
                             argv[optind]);
        goto out_close;
    }
    if (e == LW_OK)
        e = cli_audit_change(
            c, w, "vehicle attach", in.device,
            "attached to vehicle %s (id:%lld) role=%s installed=%s "
            "installer=%s disclosure_signed=%s",
            out.vin[0] ? out.vin : "(no VIN)", (long long)out.vehicle_id,
            out.role[0] ? out.role : "-",
            out.installed_ms ? cli_time(out.installed_ms, t) : "-",
            out.installer[0] ? out.installer : "-",
            out.disclosure_signed[0] ? out.disclosure_signed : "-");
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = install_error(me->name, w, e);
        goto out_close;
    }
    if (out.vin[0])
        snprintf(name, sizeof(name), "%s", out.vin);
    else
        snprintf(name, sizeof(name), LW_FLEET_ID_PREFIX "%lld",
                 (long long)out.vehicle_id);
    printf("tracker %s attached to vehicle %s%s%s\n", out.device, name,
           out.role[0] ? " as " : "", out.role);
    rc = CLI_EXIT_OK;
out_close:
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/* 'vehicle detach VIN DEVICE [--at T]'. */
static int run_detach(struct cli *c, int argc, char **argv)
{
    enum { OPT_AT = 0x200 };
    static const struct option opts[] = {
        {"at", required_argument, NULL, OPT_AT},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_detach;
    char t[LW_TIME_BUFLEN];
    struct lw_install out;
    int64_t at = 0;
    bool at_given = false;
    struct lw_store *w;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_AT) {
            if (!cli_time_bound(c, optarg, false, &at) || at <= 0)
                return cli_usage_error(me, "--at '%s' is not a time", optarg);
            if (at > c->now_ms)
                return cli_usage_error(me, "--at '%s' is in the future",
                                       optarg);
            at_given = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    rc = vin_device_args(me, argc, argv, optind);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!at_given)
        at = c->now_ms;

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK)
        e = lw_registry_detach(w, argv[optind], argv[optind + 1], at,
                               c->now_ms, &out);
    if (e == LW_ERR_INVAL) {
        rc = cli_usage_error(me, "VIN '%s' has no letters or digits",
                             argv[optind]);
        goto out_close;
    }
    if (e == LW_OK)
        e = cli_audit_change(c, w, "vehicle detach", out.device,
                             "detached from vehicle %s (id:%lld) at %s",
                             out.vin[0] ? out.vin : "(no VIN)",
                             (long long)out.vehicle_id, cli_time(at, t));
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = install_error(me->name, w, e);
        goto out_close;
    }
    printf("tracker %s detached from vehicle %s at %s (the install record is "
           "kept)\n",
           out.device, argv[optind], cli_time(at, t));
    rc = CLI_EXIT_OK;
out_close:
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/* State of 'vehicle show'. */
struct shown {
    bool json;   /* --json */
    json_t *arr; /* JSON: the devices */
    int64_t n;   /* records */
    bool failed; /* memory or output failure */
};

static json_t *time_or_null(int64_t ms)
{
    return ms ? cli_json_time(ms) : json_null();
}

static int show_install(void *ctx, const struct lw_install *r)
{
    struct shown *sh = ctx;
    char a[LW_TIME_BUFLEN], b[LW_TIME_BUFLEN], d[LW_TIME_BUFLEN];

    if (sh->json) {
        sh->n++;
        json_t *o = json_pack(
            "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "device", r->device,
            "role", str_or_null(r->role), "installed",
            time_or_null(r->installed_ms), "installer",
            str_or_null(r->installer), "disclosure_signed",
            str_or_null(r->disclosure_signed), "attached",
            time_or_null(r->attached_ms), "detached",
            time_or_null(r->detached_ms), "attached_now", r->detached_ms == 0);

        if (!o || json_array_append_new(sh->arr, o) != 0)
            sh->failed = true;
        return sh->failed;
    }
    printf("%-7s  ", r->detached_ms ? "past" : "now");
    cli_put_padded(r->device, 24);
    printf("  %-6s  %-24s  %-24s  %-24s  %-10s  %s\n",
           r->role[0] ? r->role : "-",
           r->installed_ms ? cli_time(r->installed_ms, a) : "-",
           cli_time(r->attached_ms, b),
           r->detached_ms ? cli_time(r->detached_ms, d) : "-",
           r->disclosure_signed[0] ? r->disclosure_signed : "-",
           r->installer[0] ? r->installer : "-");
    return cli_row_done(&sh->n, &sh->failed);
}

/* 'vehicle show VIN [--json]'. */
static int run_show(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_show;
    struct shown sh = {0};
    char vin[LW_VIN_MAX + 1], name[LW_VIN_MAX + 32];
    int64_t vid = 0;
    struct lw_store *s;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_JSON) {
            sh.json = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(me, "VIN missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!argv[optind][0])
        return cli_usage_error(me, "VIN is empty");
    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    e = lw_registry_fleet_find(s, argv[optind], &vid, vin);
    if (e == LW_ERR_INVAL)
        return cli_usage_error(me, "VIN '%s' is not a VIN", argv[optind]);
    if (e != LW_OK)
        return install_error(me->name, s, e);
    if (vin[0])
        snprintf(name, sizeof(name), "%s", vin);
    else
        snprintf(name, sizeof(name), LW_FLEET_ID_PREFIX "%lld",
                 (long long)vid);
    if (sh.json) {
        json_t *o;

        sh.arr = json_array();
        if (!sh.arr)
            return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        e = lw_registry_installs(s, vid, false, show_install, &sh);
        if (e != LW_OK) {
            json_decref(sh.arr);
            return cli_db_error(me->name, s, e);
        }
        o = json_pack("{s:s, s:I, s:o, s:o}", "vehicle", name, "vehicle_id",
                      (json_int_t)vid, "vin", str_or_null(vin), "devices",
                      sh.arr);
        if (!o || sh.failed) {
            json_decref(o);
            return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        }
        rc = cli_json_print(me->name, o) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        json_decref(o);
        return rc;
    }
    printf("vehicle %s (id:%lld)\n", name, (long long)vid);
    printf("%-7s  ", "TRACKER");
    cli_put_padded("DEVICE", 24);
    printf("  %-6s  %-24s  %-24s  %-24s  %-10s  %s\n", "ROLE", "INSTALLED",
           "ATTACHED", "DETACHED", "DISCLOSURE", "INSTALLER");
    e = lw_registry_installs(s, vid, false, show_install, &sh);
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    return cli_output_status(me->name, sh.failed);
}

static int cmd_vehicle(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"set", run_set},
        {"list", run_list},
        {"remove", run_remove},
        {"attach", run_attach},
        {"detach", run_detach},
        {"show", run_show},
    };

    return cli_dispatch(c, &cli_cmd_vehicle, subs,
                        sizeof(subs) / sizeof(subs[0]), argc, argv);
}
