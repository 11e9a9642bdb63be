/*
 * cmd_vehicle.c - 'lienwatch vehicle set|list': what an agent looks for on
 * the street (VIN, plate, description), which loan account the vehicle
 * belongs to and how long its tracker may stay silent.
 *
 * A vehicle is keyed by its tracker's device id and may be registered
 * before the device has ever reported. Changes go through a writable handle
 * in one transaction with their audit record; lienwatchd sees them within
 * about a second (registry_version, see registry.h).
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
    "    --json\n"
    "        (list) Print one JSON array of objects: device, vin, plate,\n"
    "        description, account (null when none), days_past_due and\n"
    "        account_status (null when the account is not known),\n"
    "        offline_after_s (null: the daemon's default), registered,\n"
    "        updated, last_heard and last_fix (ISO 8601 UTC, null when "
    "never).\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken; 2 bad\n"
    "    options or arguments.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch vehicle set alice/phone --vin 1HGCM82633A004352 \\\n"
    "        --plate 'B-LW 123' --description 'white Toyota Corolla' \\\n"
    "        --account ACC-1001 --offline-after 6h\n"
    "    lienwatch vehicle set bob/car --description '白色丰田卡罗拉'\n"
    "    lienwatch vehicle list\n"
    "    lienwatch vehicle remove bob/car --purge\n"
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
                "[--purge]",
    .summary = "register a vehicle (VIN, plate, account), list, remove a "
               "tracker",
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

static int cmd_vehicle(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"set", run_set},
        {"list", run_list},
        {"remove", run_remove},
    };

    return cli_dispatch(c, &cli_cmd_vehicle, subs,
                        sizeof(subs) / sizeof(subs[0]), argc, argv);
}
