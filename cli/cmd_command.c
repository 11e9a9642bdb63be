/*
 * cmd_command.c - 'lienwatch command send|show': ask a tracker for a fresh
 * fix ("locate now") from the database host, and follow the request
 * (commands.h: queued by this command, published by lienwatchd, answered
 * by the device's next fix).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/commands.h"
#include "lienwatch/timeutil.h"

/* How often --wait looks at the command's state, ms. */
#define WAIT_POLL_MS 100
/* Longest --wait. */
#define WAIT_MAX_MS (10LL * 60 * 1000)
/* Exit status when --wait ran out before the answer. */
#define EXIT_TIMEOUT 5
/* Room for a validation message. */
#define WHY_MAX 160

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Asks a vehicle's tracker for a fresh position now, as the \"Locate\n"
    "    now\" button of lienwatch-web does. The request is queued in the\n"
    "    database; lienwatchd publishes it within about a second (at QoS 1):\n"
    "    {\"_type\":\"cmd\",\"action\":\"reportLocation\"} on\n"
    "    owntracks/USER/DEVICE/cmd for an OwnTracks device, or\n"
    "    {\"action\":\"report_now\"} on lienwatch/v1/cmd/DEVICE (the\n"
    "    daemon's topic_prefix) for an lw-gpsbridge device. A request is\n"
    "    queued, then sent, then answered once a fix newer than the request\n"
    "    (by the fix's own time) is stored; failed when the device has no\n"
    "    command topic, when lienwatchd could not send it within 10\n"
    "    minutes, or when no fix came within a day of sending.\n"
    "    Asking again while a request for the device is still queued gives\n"
    "    that request's id.\n"
    "\n"
    "    command send VEHICLE [--reason TEXT] [--wait DURATION] [--json]\n"
    "        Queues the request and prints its id alone on a line. With\n"
    "        --wait, then prints each state as it changes until the request\n"
    "        is answered, has failed, or DURATION passed.\n"
    "    command show ID [--json]\n"
    "        Prints the request's state and times.\n"
    "\n"
    CLI_HELP_VEHICLE
    "\n"
    "    The request is recorded in the audit trail (action \"command\n"
    "    report_now\", with the device and the reason); the position that\n"
    "    answers it is shown by 'lienwatch locate', which records that look.\n"
    "\n"
    "OPTIONS\n"
    "    -r, --reason TEXT\n"
    "        Why (case or order number); stored in the audit trail.\n"
    "    --wait DURATION\n"
    "        (send) Wait for the answer up to DURATION (30s, 2m; at most\n"
    "        10m).\n"
    "    --json\n"
    "        (send) Print {\"command_id\": N}, and with --wait the final\n"
    "        state as show does; (show) print {\"command_id\", \"device\",\n"
    "        \"action\", \"state\", \"requested_by\", \"created\", \"sent\",\n"
    "        \"answered\", \"answer_fix_time\", \"error\"} (times ISO 8601 UTC,\n"
    "        null when not yet).\n"
    CLI_HELP_VEHICLE_OPTIONS
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 queued (send), answered (send --wait), shown (show); 1 database\n"
    "    missing, not writable or broken, or the request failed; 2 bad\n"
    "    options or arguments, or VEHICLE naming several vehicles; 3 no such\n"
    "    vehicle (or one never heard of), or no such request; 5 --wait ran\n"
    "    out before the answer.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch command send van7 --reason 'case 12' --wait 1m\n"
    "    lienwatch command show 41 --json\n";
/* clang-format on */

static int cmd_command(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_command = {
    .name = "command",
    .run = cmd_command,
    .synopsis = "send " CLI_VEHICLE_SYNOPSIS " [--reason TEXT]\n"
                "        [--wait DURATION] [--json]\n"
                "    lienwatch [--db PATH] command show ID [--json]",
    .summary = "ask a tracker for a fresh fix now (locate now), follow it",
    .help = help,
};

static const struct cli_command cmd_send = {
    .name = "command send",
    .synopsis = CLI_VEHICLE_SYNOPSIS " [--reason TEXT] [--wait DURATION] "
                                     "[--json]",
    .summary = "queue a report_now request",
    .help = help,
};
static const struct cli_command cmd_show = {
    .name = "command show",
    .synopsis = "ID [--json]",
    .summary = "a request's state",
    .help = help,
};

static json_t *cmd_json(const struct lw_cmd *k)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s?}",
                     "command_id", (json_int_t)k->id, "device", k->device,
                     "action", lw_cmd_action_name(k->action), "state",
                     lw_cmd_state_name(k->state), "requested_by",
                     k->requested_by, "created", cli_json_time(k->created_ms),
                     "sent", cli_json_time(k->sent_ms), "answered",
                     cli_json_time(k->answered_ms), "answer_fix_time",
                     cli_json_time(k->answer_fix_ms), "error",
                     k->error[0] ? k->error : NULL);
}

/* One line: "command N: STATE ..." */
static void print_state(const struct lw_cmd *k)
{
    char t[LW_TIME_BUFLEN], f[LW_TIME_BUFLEN];

    printf("command %lld: %s", (long long)k->id, lw_cmd_state_name(k->state));
    switch (k->state) {
    case LW_CMD_QUEUED:
        printf(" since %s", cli_time(k->created_ms, t));
        break;
    case LW_CMD_SENT:
        printf(" at %s", cli_time(k->sent_ms, t));
        break;
    case LW_CMD_ANSWERED:
        printf(" at %s by the fix of %s", cli_time(k->answered_ms, t),
               cli_time(k->answer_fix_ms, f));
        break;
    case LW_CMD_FAILED:
        printf(": %s", k->error);
        break;
    }
    printf("\n");
    fflush(stdout);
}

/* The wall clock, ms (the CLI reads it once at start; --wait needs more). */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Follows command id on s until it ends or wait_ms passes. */
static int follow(const struct cli_command *me, struct lw_store *s, int64_t id,
                  int64_t wait_ms, bool json)
{
    struct timespec nap = {0, WAIT_POLL_MS * 1000000L};
    int64_t until = wall_ms() + wait_ms;
    int last = -1, rc;
    struct lw_cmd k;
    enum lw_err e;

    for (;;) {
        e = lw_cmd_get(s, id, &k);
        if (e != LW_OK)
            return cli_db_error(me->name, s, e);
        if (!json && (int)k.state != last)
            print_state(&k);
        last = (int)k.state;
        if (k.state == LW_CMD_ANSWERED || k.state == LW_CMD_FAILED ||
            wall_ms() >= until)
            break;
        nanosleep(&nap, NULL);
    }
    rc = k.state == LW_CMD_ANSWERED ? CLI_EXIT_OK
         : k.state == LW_CMD_FAILED ? CLI_EXIT_FAIL
                                    : EXIT_TIMEOUT;
    if (json) {
        json_t *j = cmd_json(&k);

        if (!cli_json_print(me->name, j))
            rc = CLI_EXIT_FAIL;
        json_decref(j);
    }
    if (rc == EXIT_TIMEOUT)
        fprintf(stderr,
                "lienwatch %s: no answer yet (%s); 'lienwatch "
                "command show %lld' follows it later\n",
                me->name, lw_cmd_state_name(k.state), (long long)id);
    return rc;
}

static int run_send(struct cli *c, int argc, char **argv)
{
    enum { OPT_WAIT = 0x200, OPT_JSON };
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"wait", required_argument, NULL, OPT_WAIT},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_VEHICLE_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_send;
    struct cli_target target = {0};
    struct lw_vehicle_match m;
    struct lw_audit_rec by;
    const char *reason = NULL;
    char why[WHY_MAX];
    struct lw_store *w;
    int64_t wait_ms = -1, id = 0;
    bool json = false;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            if (!lw_text_ok(optarg, LW_AUDIT_TEXT_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--reason %s", why);
            reason = optarg[0] ? optarg : NULL;
            break;
        case OPT_WAIT:
            if (lw_duration_parse(optarg, &wait_ms) != LW_OK || wait_ms < 0 ||
                wait_ms > WAIT_MAX_MS)
                return cli_usage_error(me,
                                       "--wait '%s' is not a duration "
                                       "of at most 10m",
                                       optarg);
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
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    rc = cli_target_resolve(me, w, &target, &m);
    if (rc != CLI_CONTINUE)
        goto out;
    cli_audit_rec(c, &by, NULL, NULL);
    by.reason = reason;
    e = lw_cmd_queue(w, m.v.device, LW_CMD_REPORT_NOW, &by, 0, c->now_ms, &id);
    if (e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND,
                       "%s has never reported: there is no tracker to ask",
                       m.v.device);
        goto out;
    }
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (json && wait_ms < 0) {
        json_t *j = json_pack("{s:I}", "command_id", (json_int_t)id);

        if (!cli_json_print(me->name, j))
            rc = CLI_EXIT_FAIL;
        json_decref(j);
    } else if (!json) {
        printf("%lld\n", (long long)id);
        fflush(stdout);
    }
    if (rc == CLI_EXIT_OK && wait_ms >= 0)
        rc = follow(me, w, id, wait_ms, json);
out:
    lw_store_close(w);
    return rc;
}

static int run_show(struct cli *c, int argc, char **argv)
{
    const struct cli_command *me = &cmd_show;
    enum { OPT_JSON = 0x200 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    struct lw_store *s;
    struct lw_cmd k;
    bool json = false;
    long long id;
    char *end;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_JSON) {
            json = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
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
        return cli_usage_error(me, "ID '%s' is not a request id", argv[optind]);
    s = cli_store_registry(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    e = lw_cmd_get(s, (int64_t)id, &k);
    if (e == LW_ERR_NOTFOUND)
        return cli_error(me->name, CLI_EXIT_NOTFOUND, "no request %lld", id);
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    if (json) {
        json_t *j = cmd_json(&k);

        rc = cli_json_print(me->name, j) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        json_decref(j);
        return rc;
    }
    print_state(&k);
    return cli_output_status(me->name, ferror(stdout) != 0);
}

static int cmd_command(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"send", run_send},
        {"show", run_show},
    };

    return cli_dispatch(c, &cli_cmd_command, subs,
                        sizeof(subs) / sizeof(subs[0]), argc, argv);
}
