/*
 * cmd_case.c - 'lienwatch case open|list|close': cases, each handing one
 * vehicle to one field agent for a limited time (cases.h). An agent sees a
 * vehicle in lienwatch-web only while one of their cases for it is open and
 * its account is watched.
 *
 * Whether an account is watched depends on lienwatchd's [alerts]
 * watch_days_past_due, read from its configuration file as 'lienwatch
 * locate' does.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/cases.h"
#include "lienwatch/config.h"
#include "lienwatch/timeutil.h"

/* lienwatchd's configuration file as packaged. */
#define DAEMON_CONF "/etc/lienwatch/lienwatchd.conf"
/* Room for a configuration error. */
#define NOTE_BUFLEN 512
/* Room for a validation message. */
#define WHY_MAX 160
/* Widest reason shown in the text listing (longer ones are cut, "..."). */
#define REASON_COL 40

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    A case hands one vehicle to one field recovery agent for a limited\n"
    "    time, for a stated reason. While it is open, and while the\n"
    "    vehicle's account is watched (at or over lienwatchd's [alerts]\n"
    "    watch_days_past_due days past due, not paid off or closed), the\n"
    "    agent sees the vehicle in lienwatch-web: its position, trail and\n"
    "    alerts, and can ask its tracker for a fresh fix. Outside their\n"
    "    cases an agent sees nothing, not even that the vehicle exists.\n"
    "\n"
    "    A case ends at the first of: its expiry; 'case close'; the account\n"
    "    no longer being watched (paid up). Access ends with it at once.\n"
    "    lienwatchd records the ends that come by themselves (outcome\n"
    "    expired or unwatched); an ended case never reopens: open a new one.\n"
    "\n"
    "    case open VEHICLE --agent NAME --expires WHEN --reason TEXT\n"
    "        Opens a case and prints its id alone on a line. VEHICLE is the\n"
    "        tracker's device id, the plate or the VIN of a registered\n"
    "        vehicle whose account is watched. NAME is a user (or token)\n"
    "        holding the agent role ('lienwatch user add NAME --role\n"
    "        agent'). An agent has at most one open case per vehicle;\n"
    "        several agents may each have one.\n"
    "    case list [--all] [--agent NAME] [--device ID] [--json]\n"
    "        The open cases (with --all, every case ever opened), by id:\n"
    "        device, agent, state, expiry, reason.\n"
    "    case close ID --outcome recovered|cancelled [--note TEXT]\n"
    "        Closes a case: the vehicle was recovered, or the case is\n"
    "        called off.\n"
    "\n"
    "    Opening, closing and each end are recorded in the audit trail\n"
    "    with the case id, which every later look at the vehicle under the\n"
    "    case also carries.\n"
    "\n"
    "OPTIONS\n"
    "    --agent NAME\n"
    "        (open) The agent the case is for; (list) only their cases.\n"
    "    --expires WHEN\n"
    "        A duration from now (72h, 3d, 90m) or an ISO 8601 time; at most\n"
    "        90 days ahead.\n"
    "    -r, --reason TEXT\n"
    "        Why (repossession order, case number), up to 512 bytes of\n"
    "        UTF-8 text.\n"
    CLI_HELP_VEHICLE_OPTIONS
    "        (list --device: only that device's cases.)\n"
    "    --config FILE\n"
    "        lienwatchd's configuration file, for watch_days_past_due.\n"
    "        Default: " DAEMON_CONF ", or lienwatchd's default (1) when that\n"
    "        file does not exist or cannot be read.\n"
    "    --outcome recovered|cancelled\n"
    "        (close) How the case ended.\n"
    "    --note TEXT\n"
    "        (close) A closing note, up to 512 bytes; recorded as the\n"
    "        audit record's reason.\n"
    "    --all\n"
    "        (list) Ended cases too.\n"
    "    --json\n"
    "        (open) Print {\"case_id\": N}; (list) one JSON array of objects:\n"
    "        case_id, device, agent, state (open, expired, recovered,\n"
    "        cancelled, unwatched), reason, opened_by, opened, expires,\n"
    "        closed (ISO 8601 UTC, null while open), closed_by, note.\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, or the case\n"
    "    refused (account not watched, NAME not an agent or disabled, an\n"
    "    open case of NAME for the vehicle already, a case already ended);\n"
    "    2 bad options or arguments, or VEHICLE naming several vehicles;\n"
    "    3 no such vehicle, agent or case.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch case open van7 --agent maria --expires 72h \\\n"
    "        --reason 'repossession order 2026-113'\n"
    "    lienwatch case list --agent maria\n"
    "    lienwatch case close 12 --outcome recovered --note 'towed to lot 4'\n";
/* clang-format on */

static int cmd_case(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_case = {
    .name = "case",
    .run = cmd_case,
    .synopsis = "open " CLI_VEHICLE_SYNOPSIS " --agent NAME\n"
                "        --expires WHEN --reason TEXT [--config FILE] "
                "[--json]\n"
                "    lienwatch [--db PATH] case list [--all] [--agent NAME] "
                "[--device ID] [--json]\n"
                "    lienwatch [--db PATH] [--as NAME] case close ID "
                "--outcome recovered|cancelled\n"
                "        [--note TEXT]",
    .summary = "open, list or close cases (a vehicle handed to an agent)",
    .help = help,
};

static const struct cli_command cmd_open = {
    .name = "case open",
    .synopsis = CLI_VEHICLE_SYNOPSIS " --agent NAME --expires WHEN "
                                     "--reason TEXT [--config FILE] [--json]",
    .summary = "open a case",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "case list",
    .synopsis = "[--all] [--agent NAME] [--device ID] [--json]",
    .summary = "the open cases",
    .help = help,
};
static const struct cli_command cmd_close = {
    .name = "case close",
    .synopsis = "ID --outcome recovered|cancelled [--note TEXT]",
    .summary = "close a case",
    .help = help,
};

/*
 * lienwatchd's watch_days_past_due from path (--config: must be usable) or
 * DAEMON_CONF when readable, else its default. Returns CLI_CONTINUE or
 * CLI_EXIT_FAIL after a message.
 */
static int watch_threshold(const char *cmd, const char *path, int *days)
{
    struct lw_config *cfg = malloc(sizeof(*cfg));
    char err[NOTE_BUFLEN] = "";
    const char *file = path ? path : DAEMON_CONF;
    int rc = CLI_CONTINUE;
    enum lw_err e;

    if (!cfg)
        return cli_error(cmd, CLI_EXIT_FAIL, "out of memory");
    lw_config_defaults(cfg);
    *days = cfg->watch_days_past_due;
    if (!path && access(file, R_OK) != 0)
        goto out; /* none, or not ours to read: the default */
    e = lw_config_load(cfg, file, err, sizeof(err));
    if (e == LW_OK)
        *days = cfg->watch_days_past_due;
    else if (path)
        rc = cli_error(cmd, CLI_EXIT_FAIL, "%s", err[0] ? err : lw_strerror(e));
    else
        fprintf(stderr,
                "lienwatch %s: warning: %s; using watch_days_past_due %d\n",
                cmd, err[0] ? err : lw_strerror(e), *days);
out:
    free(cfg);
    return rc;
}

/* Parses --expires: a duration from now or an ISO 8601 time. */
static bool parse_when(const struct cli *c, const char *s, int64_t *out)
{
    int64_t d;

    if (lw_duration_parse(s, &d) == LW_OK) {
        *out = c->now_ms + d;
        return d > 0;
    }
    return lw_time_parse(s, out) == LW_OK;
}

/* The exit status of a refused change, after its message. */
static int change_failed(const char *cmd, struct lw_store *w, enum lw_err e)
{
    if (e == LW_ERR_NOTFOUND)
        return cli_error(cmd, CLI_EXIT_NOTFOUND, "%s", lw_store_errmsg(w));
    return cli_db_error(cmd, w, e);
}

static int run_open(struct cli *c, int argc, char **argv)
{
    enum { OPT_AGENT = 0x200, OPT_EXPIRES, OPT_CONFIG, OPT_JSON };
    static const struct option opts[] = {
        {"agent", required_argument, NULL, OPT_AGENT},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"reason", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_open;
    struct lw_case_new nc = {0};
    struct cli_target target = {0};
    struct lw_vehicle_match m;
    struct lw_audit_rec by;
    const char *config = NULL;
    char why[WHY_MAX];
    struct lw_store *w;
    bool json = false, have_expiry = false;
    int opt, rc, days = 1;
    int64_t id = 0;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_AGENT:
            nc.agent = optarg;
            break;
        case OPT_EXPIRES:
            if (!parse_when(c, optarg, &nc.expires_ms))
                return cli_usage_error(me,
                                       "--expires '%s' is neither a duration "
                                       "(72h, 3d) nor an ISO 8601 time",
                                       optarg);
            have_expiry = true;
            break;
        case 'r':
            if (!lw_text_ok(optarg, LW_CASE_REASON_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--reason %s", why);
            nc.reason = optarg;
            break;
        case OPT_CONFIG:
            config = optarg;
            break;
        case OPT_JSON:
            json = true;
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
    if (!nc.agent)
        return cli_usage_error(me, "--agent NAME is required");
    if (!lw_user_name_valid(nc.agent))
        return cli_usage_error(me, "--agent '%s' is not a user name", nc.agent);
    if (!have_expiry)
        return cli_usage_error(me, "--expires WHEN is required (72h, 3d, or "
                                   "an ISO 8601 time)");
    if (nc.expires_ms <= c->now_ms)
        return cli_usage_error(me, "--expires is in the past");
    if (nc.expires_ms - c->now_ms > LW_CASE_EXPIRY_MAX_MS)
        return cli_usage_error(me, "--expires is more than %lld days ahead",
                               (long long)(LW_CASE_EXPIRY_MAX_MS / 86400000));
    if (!nc.reason || !nc.reason[0])
        return cli_usage_error(me, "--reason TEXT is required");
    rc = watch_threshold(me->name, config, &days);
    if (rc != CLI_CONTINUE)
        return rc;

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    rc = cli_target_resolve(me, w, &target, &m);
    if (rc != CLI_CONTINUE)
        goto out;
    nc.device = m.v.device;
    cli_audit_rec(c, &by, NULL, NULL);
    e = lw_case_open(w, &nc, days, &by, c->now_ms, &id);
    if (e != LW_OK) {
        rc = change_failed(me->name, w, e);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (json) {
        json_t *j = json_pack("{s:I}", "case_id", (json_int_t)id);

        if (!cli_json_print(me->name, j))
            rc = CLI_EXIT_FAIL;
        json_decref(j);
    } else {
        printf("%lld\n", (long long)id);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = cli_error(me->name, CLI_EXIT_FAIL,
                       "cannot write the output (case %lld is open)",
                       (long long)id);
out:
    lw_store_close(w);
    return rc;
}

/* ---- list ---------------------------------------------------------------- */

struct listing {
    int64_t now_ms;     /* for the state */
    int w_dev, w_agent; /* column widths */
    int64_t n;          /* cases written */
    bool failed;
};

/* The state of c now: its outcome, or "expired" for an open one past its
 * expiry. */
static const char *state_of(const struct lw_case *c, int64_t now_ms)
{
    if (c->outcome == LW_CASE_OPEN && !lw_case_is_open(c, now_ms))
        return lw_case_outcome_name(LW_CASE_EXPIRED);
    return lw_case_outcome_name(c->outcome);
}

static int measure(void *ctx, const struct lw_case *c)
{
    struct listing *l = ctx;
    int w = cli_text_width(c->device);

    if (w > l->w_dev)
        l->w_dev = w;
    w = cli_text_width(c->agent);
    if (w > l->w_agent)
        l->w_agent = w;
    return 0;
}

static int print_row(void *ctx, const struct lw_case *c)
{
    struct listing *l = ctx;
    char t[LW_TIME_BUFLEN], reason[REASON_COL + 4];

    if (strlen(c->reason) > REASON_COL) {
        /* cut at a character boundary */
        size_t cut = REASON_COL;

        while (cut > 0 && ((unsigned char)c->reason[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(reason, c->reason, cut);
        memcpy(reason + cut, "...", 4);
    } else {
        memcpy(reason, c->reason, strlen(c->reason) + 1);
    }
    printf("%6lld  ", (long long)c->id);
    cli_put_padded(c->device, l->w_dev);
    printf("  ");
    cli_put_padded(c->agent, l->w_agent);
    printf("  %-9s  %-24s  %s\n", state_of(c, l->now_ms),
           cli_time(c->expires_ms, t), reason);
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_case *c)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s}", "case_id",
        (json_int_t)c->id, "device", c->device, "agent", c->agent, "state",
        state_of(c, l->now_ms), "reason", c->reason, "opened_by", c->opened_by,
        "opened", cli_json_time(c->opened_ms), "expires",
        cli_json_time(c->expires_ms), "closed", cli_json_time(c->closed_ms),
        "closed_by", c->closed_by, "note", c->note);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int run_list(struct cli *c, int argc, char **argv)
{
    enum { OPT_ALL = 0x200, OPT_AGENT, OPT_JSON };
    static const struct option opts[] = {
        {"all", no_argument, NULL, OPT_ALL},
        {"agent", required_argument, NULL, OPT_AGENT},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_list;
    struct listing l = {.now_ms = c->now_ms,
                        .w_dev = (int)strlen("DEVICE"),
                        .w_agent = (int)strlen("AGENT")};
    struct lw_case_filter f = {.open_only = true, .now_ms = c->now_ms};
    struct lw_store *s;
    bool json = false;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_ALL:
            f.open_only = false;
            break;
        case OPT_AGENT:
            f.agent = optarg;
            break;
        case CLI_OPT_DEVICE:
            f.device = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);
    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    if (json) {
        e = lw_case_list(s, &f, print_json, &l);
        if (e == LW_OK && !l.failed)
            cli_json_end(l.n);
    } else {
        e = lw_case_list(s, &f, measure, &l);
        if (e == LW_OK) {
            printf("%6s  ", "ID");
            cli_put_padded("DEVICE", l.w_dev);
            printf("  ");
            cli_put_padded("AGENT", l.w_agent);
            printf("  %-9s  %-24s  %s\n", "STATE", "EXPIRES", "REASON");
            e = lw_case_list(s, &f, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    return cli_output_status(me->name, l.failed);
}

/* ---- close --------------------------------------------------------------- */

static int run_close(struct cli *c, int argc, char **argv)
{
    enum { OPT_OUTCOME = 0x200, OPT_NOTE };
    static const struct option opts[] = {
        {"outcome", required_argument, NULL, OPT_OUTCOME},
        {"note", required_argument, NULL, OPT_NOTE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_close;
    enum lw_case_outcome outcome = LW_CASE_OPEN;
    const char *note = NULL;
    struct lw_audit_rec by;
    struct lw_store *w;
    char why[WHY_MAX], *end;
    long long id;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_OUTCOME:
            if (lw_case_outcome_parse(optarg, &outcome) != LW_OK ||
                (outcome != LW_CASE_RECOVERED && outcome != LW_CASE_CANCELLED))
                return cli_usage_error(me,
                                       "--outcome '%s': recovered or "
                                       "cancelled",
                                       optarg);
            break;
        case OPT_NOTE:
            if (!lw_text_ok(optarg, LW_CASE_REASON_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--note %s", why);
            note = optarg;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(me, "ID missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    errno = 0;
    id = strtoll(argv[optind], &end, 10);
    if (errno || *end || end == argv[optind] || id < 1 ||
        argv[optind][0] == '+' || argv[optind][0] == ' ')
        return cli_usage_error(me,
                               "ID '%s' is not a case id (a number from "
                               "'lienwatch case list')",
                               argv[optind]);
    if (outcome == LW_CASE_OPEN)
        return cli_usage_error(me, "--outcome recovered|cancelled is "
                                   "required");
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    cli_audit_rec(c, &by, NULL, NULL);
    e = lw_case_close(w, (int64_t)id, outcome, note, &by, c->now_ms);
    if (e != LW_OK) {
        rc = change_failed(me->name, w, e);
    } else {
        rc = CLI_EXIT_OK;
        printf("case %lld closed: %s\n", id, lw_case_outcome_name(outcome));
    }
    lw_store_close(w);
    return rc;
}

static int cmd_case(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"open", run_open},
        {"list", run_list},
        {"close", run_close},
    };

    return cli_dispatch(c, &cli_cmd_case, subs, sizeof(subs) / sizeof(subs[0]),
                        argc, argv);
}
