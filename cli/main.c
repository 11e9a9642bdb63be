/*
 * main.c - lienwatch, the command-line tool for field agents and operations.
 *
 * Parses the global options (up to the command name), reads the clock once,
 * works out who is asking (for the audit trail) and runs one command from
 * the table below. Every command opens the database read-only; locate and
 * history also append one audit record through a short-lived writable handle.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef LW_VERSION
#define LW_VERSION "unknown"
#endif

#define NS_PER_MS 1000000

/* Longest login name kept for the audit trail, without the NUL. */
#define WHO_MAX 64
/* Room for what else the operating system says of the user. */
#define DETAIL_MAX 256

static const struct cli_command *const commands[] = {
    &cli_cmd_locate,   &cli_cmd_history, &cli_cmd_devices, &cli_cmd_stats,
    &cli_cmd_audit,    &cli_cmd_init_db, &cli_cmd_vehicle, &cli_cmd_account,
    &cli_cmd_geofence, &cli_cmd_alerts,  &cli_cmd_outbox,  &cli_cmd_evidence,
    &cli_cmd_user,     &cli_cmd_token,   &cli_cmd_case,    &cli_cmd_command,
    &cli_cmd_places,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/*
 * 'lienwatch --help', around the list of commands. It is also the frame of
 * the lienwatch(1) manual, which build-aux/gen-cli-man.py writes from it and
 * from each command's help: sections at column 0, text indented by 4, terms
 * on a line of their own with their text 4 deeper, "term   text" lists.
 */
static const char tool_help_head[] =
    "NAME\n"
    "    lienwatch - find financed vehicles in the lienwatch database\n"
    "\n"
    "SYNOPSIS\n"
    "    lienwatch [--db PATH] [--as NAME] COMMAND [OPTIONS] [ARGS]\n"
    "    lienwatch help [COMMAND]\n"
    "    lienwatch --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    lienwatch answers questions from the database that lienwatchd fills\n"
    "    with the reports of GPS trackers in financed vehicles: where is a\n"
    "    vehicle now, where has it been, which trackers are reporting, and\n"
    "    what the daemon has received. It opens the database read-only and\n"
    "    never holds up the daemon.\n"
    "\n"
    "    Operations staff keep the registry with it: vehicles, loan accounts\n"
    "    and how overdue they are, geofences, and the lifecycle of the alerts\n"
    "    the daemon raises. Those changes are short write transactions,\n"
    "    recorded in the audit trail (who changed what), that a running\n"
    "    lienwatchd picks up within about a second. They need write access\n"
    "    to the database, which they never create or migrate.\n"
    "\n"
    "    Borrowers' locations are personal data: every locate and history\n"
    "    lookup is recorded in the audit trail (who, which device, when and\n"
    "    the stated --reason). When the database is not writable for you the\n"
    "    lookup is still answered and a warning says it was not recorded.\n"
    "    The trail is tamper-evident: each record is chained to the one\n"
    "    before by SHA-256 ('lienwatch audit verify'), and evidence bundles\n"
    "    are signed ('lienwatch evidence').\n"
    "\n"
    "    The database and its directory belong to the daemon's user,\n"
    "    lienwatch (mode 0700). Run lienwatch as that user, so that lookups\n"
    "    are recorded, or as root:\n"
    "        sudo -u lienwatch lienwatch --as \"$USER\" locate alice/phone\n"
    "\n"
    "    A DEVICE is a tracker id as 'lienwatch devices' lists it:\n"
    "    alice/phone for the OwnTracks topic owntracks/alice/phone, truck7\n"
    "    for lienwatch/v1/fix/truck7 (lw-gpsbridge). Times are printed in\n"
    "    ISO 8601 UTC (2026-11-23T16:43:46Z).\n"
    "\n"
    "COMMANDS\n";

static const char tool_help_tail[] =
    "    help [COMMAND]    the list of commands, or the manual of COMMAND\n"
    "\n"
    "    'lienwatch help COMMAND' or 'lienwatch COMMAND --help' shows the\n"
    "    manual of one command ('lienwatch help vehicle set' the manual of\n"
    "    vehicle).\n"
    "\n"
    "GLOBAL OPTIONS\n"
    "    --db PATH\n"
    "        The database file. Default: $LIENWATCH_DB when set, otherwise\n"
    "        " CLI_DEFAULT_DB ". Also accepted after the command.\n"
    "    --as NAME\n"
    "        A name for the audit trail, recorded beside (never instead of)\n"
    "        the operating-system account lienwatch runs as, which is always\n"
    "        recorded: an operator sharing a service account says who they\n"
    "        are. Also accepted after the command.\n"
    "    -h, --help\n"
    "        Print this help and exit.\n"
    "    -V, --version\n"
    "        Print the version and exit.\n"
    "\n"
    "ENVIRONMENT\n"
    "    LIENWATCH_DB    database file used when --db is not given\n"
    "    SUDO_USER       recorded in the audit trail beside the account (as\n"
    "                    sudo sets it; not trusted alone)\n"
    "\n"
    "FILES\n"
    "    " CLI_DEFAULT_DB "\n"
    "        the database written by lienwatchd (mode 0600)\n"
    "\n"
    "EXIT STATUS\n"
    "    0   success (also for an empty list or range)\n"
    "    1   runtime failure: the database is missing, unreadable, broken,\n"
    "        newer than this program or not writable for a change; an input\n"
    "        file cannot be read; the alert to acknowledge is closed; the\n"
    "        output failed\n"
    "    2   bad command, options or arguments; an import file with errors\n"
    "        (nothing imported); a 'geofence which --stdin' line that is not\n"
    "        a point\n"
    "    3   no such device (or no position for it yet), alert or geofence\n"
    "    4   refused by the access rules: an unwatched vehicle's positions\n"
    "        without --reason ('places')\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch devices\n"
    "    lienwatch locate alice/phone --reason 'repossession order 2291'\n"
    "    lienwatch history alice/phone --from 2026-11-01 --format gpx "
    "> track.gpx\n"
    "    lienwatch --db ./test.db stats --json\n"
    "    lienwatch account set ACC-1001 --days-past-due 45 --status overdue\n"
    "    lienwatch alerts --open\n"
    "\n"
    "SEE ALSO\n"
    "    lienwatchd(8), lienwatchd.conf(5), lw-gpsbridge(8)\n";

const struct cli_command *cli_command_find(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
    fprintf(f,
            "NAME\n    lienwatch %s - %s\n\n"
            "SYNOPSIS\n    lienwatch [--db PATH] [--as NAME] %s %s\n\n%s",
            cmd->name, cmd->summary, cmd->name, cmd->synopsis, cmd->help);
}

static void print_tool_help(FILE *f)
{
    size_t i;

    fputs(tool_help_head, f);
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(f, "    %-17s %s\n", commands[i]->name, commands[i]->summary);
    fputs(tool_help_tail, f);
}

/* 'lienwatch help [COMMAND]'. */
static int run_help(int argc, char **argv)
{
    const struct cli_command *cmd;

    if (argc < 2) {
        print_tool_help(stdout);
        return CLI_EXIT_OK;
    }
    /* 'help vehicle set': a subcommand's manual is its command's */
    if (argc > 3 || (argc == 3 && !cli_command_find(argv[1])))
        return cli_usage_error(NULL, "help takes one command name");
    cmd = cli_command_find(argv[1]);
    if (!cmd)
        return cli_usage_error(NULL, "no command '%s'", argv[1]);
    cli_print_help(cmd, stdout);
    return CLI_EXIT_OK;
}

/* The login name of uid into buf, or "uid N" when it has none. */
static void uid_name(uid_t uid, char *buf, size_t len)
{
    const struct passwd *pw = getpwuid(uid);

    if (pw && pw->pw_name && pw->pw_name[0])
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "uid %lu", (unsigned long)uid);
}

void cli_identify(struct cli *c)
{
    static char who[WHO_MAX + 1], detail[DETAIL_MAX];
    char real[WHO_MAX + 1];
    const char *sudo = getenv("SUDO_USER");
    size_t n = 0;

    /* the account whose rights this process uses: what the operating
     * system vouches for */
    uid_name(geteuid(), who, sizeof(who));
    c->who = who;
    detail[0] = '\0';
    if (getuid() != geteuid()) {
        uid_name(getuid(), real, sizeof(real));
        n += (size_t)snprintf(detail, sizeof(detail), "real uid %lu (%s)",
                              (unsigned long)getuid(), real);
    }
    /* set by sudo (and by anyone): a hint beside who, never instead */
    if (sudo && sudo[0] && n < sizeof(detail))
        snprintf(detail + n, sizeof(detail) - n, "%sSUDO_USER=%.*s",
                 n ? "; " : "", WHO_MAX, sudo);
    c->os_detail = detail[0] ? detail : NULL;
}

static int64_t wall_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CLI_MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* Flushes stdout and reports a failed write (full disk, closed pipe...). */
static int finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("lienwatch: error writing output");
        return rc == CLI_EXIT_OK ? CLI_EXIT_FAIL : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"version", no_argument, NULL, 'V'},
        CLI_COMMON_OPTIONS,
        {0},
    };
    struct cli c = {0};
    const struct cli_command *cmd;
    const char *env = getenv("LIENWATCH_DB");
    int opt, rc;

    cli_identify(&c);
    c.db_path = env && env[0] ? env : CLI_DEFAULT_DB;
    c.now_ms = wall_clock_ms();

    /* '+': stop at the command name; its options are its own */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'V':
            printf("lienwatch %s\n", LW_VERSION);
            return finish_output(CLI_EXIT_OK);
        case 'h':
            print_tool_help(stdout);
            return finish_output(CLI_EXIT_OK);
        default:
            rc = cli_common_opt(&c, NULL, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(NULL, "no command given");
    if (strcmp(argv[optind], "help") == 0)
        return finish_output(run_help(argc - optind, argv + optind));
    cmd = cli_command_find(argv[optind]);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);

    rc = cmd->run(&c, argc - optind, argv + optind);
    lw_store_close(c.store);
    return finish_output(rc);
}
