/*
 * cmd_account.c - 'lienwatch account set|import|list': loan accounts and how
 * many days past due they are, which decides whether their vehicles are
 * watched.
 *
 * An import is all or nothing: the whole CSV file is read (at most the
 * configured size, cli_import.h) and checked by the core (accountcsv.h:
 * every bad row reported with its line number), then written in one
 * transaction with one audit record.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_import.h"
#include "lienwatch/access.h"
#include "lienwatch/accountcsv.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"

/* The one header an import file may have. */
#define CSV_HEADER LW_ACCOUNTCSV_HEADER
/* Bad rows reported one by one; the rest are counted. */
#define REPORT_MAX 20
/* Room for a validation message. */
#define WHY_MAX 160
/* Room for the status in an audit detail, quoted. */
#define DETAIL_MAX 512
/* Text columns are at least as wide as their heading, at most this wide. */
#define COL_MAX 40

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    A loan account, as the loan servicing system knows it: how many days\n"
    "    past due it is and a free-text status. The vehicles linked to an\n"
    "    account ('lienwatch vehicle set DEVICE --account ACCOUNT') are\n"
    "    watched while it is at or over lienwatchd's [alerts]\n"
    "    watch_days_past_due (default 1). Loan servicing can also publish an\n"
    "    account's status over MQTT; the latest value wins, whoever wrote it.\n"
    "\n"
    "    account set ACCOUNT --days-past-due N [--status TEXT]\n"
    "        Creates or updates one account. Without --status the stored\n"
    "        status is kept (empty for a new account).\n"
    "    account import FILE.csv\n"
    "        Creates or updates many accounts from a CSV file ('-' reads\n"
    "        standard input; at most 64 MiB, see --max-bytes; RFC 4180:\n"
    "        fields may be \"quoted\", with \"\" for a quote inside) whose\n"
    "        first line is exactly\n"
    "            " CSV_HEADER "\n"
    "        then one account per line; blank lines are skipped, CRLF line\n"
    "        ends and a UTF-8 byte order mark are accepted. The whole file is\n"
    "        checked first: every bad row is reported as FILE:LINE: what is\n"
    "        wrong (an empty or repeated account, days past due that are not\n"
    "        a whole number >= 0, a field too long or not UTF-8, a wrong\n"
    "        number of fields) and then nothing at all is imported. A good\n"
    "        file is written in one transaction.\n"
    "    account list\n"
    "        Every account, ordered by id: days past due, status, when it\n"
    "        last changed and who changed it last (cli, import or mqtt).\n"
    "\n"
    "    Every set and import is recorded in the audit trail; a running\n"
    "    lienwatchd applies it within about a second. Setting the same\n"
    "    values again changes nothing (and raises nothing).\n"
    "\n"
    "OPTIONS\n"
    "    --days-past-due N\n"
    "        Whole days the account is past due, 0 when current.\n"
    "    --status TEXT\n"
    "        Free text such as overdue or current, at most 32 bytes.\n"
    "        paid_off and closed end the loan (whatever the days past due):\n"
    "        its vehicles are no longer watched, their open alerts are\n"
    "        closed, their reports no longer stored, and lienwatchd deletes\n"
    "        their positions (history, last-known fix, the positions in\n"
    "        alerts and mail) [privacy] purge_after_payoff later (default\n"
    "        30d; 0: at once), each purge an audit record. The vehicle and\n"
    "        account records and the audit trail are kept. Another status\n"
    "        set before the purge calls it off. Loan servicing's MQTT\n"
    "        message does the same.\n"
    "    --json\n"
    "        (list) Print one JSON array of objects: account, days_past_due,\n"
    "        status, updated (ISO 8601 UTC) and source.\n"
    CLI_IMPORT_HELP_OPTIONS
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, or FILE\n"
    "    unreadable; 2 bad options or arguments, or an import file that is\n"
    "    too large or has bad rows (nothing imported).\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch account set ACC-1001 --days-past-due 45 --status overdue\n"
    "    lienwatch account import accounts-2026-11-23.csv\n"
    "    lienwatch account list --json | jq -r '.[] | select(.days_past_due "
    ">= 30) | .account'\n";
/* clang-format on */

static int cmd_account(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_account = {
    .name = "account",
    .run = cmd_account,
    .synopsis = "set ACCOUNT --days-past-due N [--status TEXT]\n"
                "    lienwatch [--db PATH] [--as NAME] account import "
                "FILE.csv\n"
                "        [--config FILE] [--max-bytes N]\n"
                "    lienwatch [--db PATH] [--as NAME] account list [--json]",
    .summary = "set, import (CSV) or list loan accounts and days past due",
    .help = help,
};

static const struct cli_command cmd_set = {
    .name = "account set",
    .synopsis = "ACCOUNT --days-past-due N [--status TEXT]",
    .summary = "create or update an account",
    .help = help,
};
static const struct cli_command cmd_import = {
    .name = "account import",
    .synopsis = "FILE.csv [--config FILE] [--max-bytes N]",
    .summary = "import accounts from CSV",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "account list",
    .synopsis = "[--json]",
    .summary = "every account",
    .help = help,
};

/* Parses a whole number of days >= 0 (digits only); false otherwise. */
static bool parse_days(const char *s, int *out)
{
    char *end;
    long v;

    if (!s[0] || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* Checks an account id; why gets the reason. */
static bool account_ok(const char *a, char *why, size_t whylen)
{
    if (!a[0]) {
        snprintf(why, whylen, "is empty");
        return false;
    }
    return lw_text_ok(a, LW_ACCOUNT_MAX, why, whylen);
}

/* Writes one account on w (in the caller's transaction). *change gets 0
 * (unchanged), 1 (new) or 2 (changed); *old the previous values. */
static enum lw_err put_account(struct lw_store *w, const struct lw_account *a,
                               int *change, struct lw_account *old)
{
    enum lw_err e = lw_registry_account_get(w, a->account, old);

    if (e == LW_ERR_NOTFOUND)
        *change = 1;
    else if (e != LW_OK)
        return e;
    else
        *change = old->days_past_due != a->days_past_due ||
                          strcmp(old->status, a->status) != 0
                      ? 2
                      : 0;
    return lw_registry_account_set(w, a);
}

static int run_set(struct cli *c, int argc, char **argv)
{
    enum { OPT_DAYS = 0x200, OPT_STATUS };
    static const struct option opts[] = {
        {"days-past-due", required_argument, NULL, OPT_DAYS},
        {"status", required_argument, NULL, OPT_STATUS},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_set;
    struct lw_account a, old;
    struct lw_store *w;
    const char *status = NULL;
    char why[WHY_MAX];
    bool have_days = false;
    int opt, rc, change = 0;
    enum lw_err e;

    memset(&a, 0, sizeof(a));
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_DAYS:
            if (!parse_days(optarg, &a.days_past_due))
                return cli_usage_error(me,
                                       "--days-past-due '%s' is not a whole "
                                       "number >= 0",
                                       optarg);
            have_days = true;
            break;
        case OPT_STATUS:
            if (!lw_text_ok(optarg, LW_STATUS_MAX, why, sizeof(why)))
                return cli_usage_error(me, "--status %s", why);
            status = optarg;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (optind >= argc)
        return cli_usage_error(me, "ACCOUNT missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!account_ok(argv[optind], why, sizeof(why)))
        return cli_usage_error(me, "ACCOUNT %s", why);
    if (!have_days)
        return cli_usage_error(me, "--days-past-due N is required");
    snprintf(a.account, sizeof(a.account), "%s", argv[optind]);
    a.updated_ms = c->now_ms;
    snprintf(a.source, sizeof(a.source), "cli");

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    e = lw_store_begin(w);
    if (e == LW_OK && !status) {
        /* keep the stored status */
        e = lw_registry_account_get(w, a.account, &old);
        if (e == LW_OK)
            snprintf(a.status, sizeof(a.status), "%s", old.status);
        else if (e == LW_ERR_NOTFOUND)
            e = LW_OK;
    } else if (status) {
        snprintf(a.status, sizeof(a.status), "%s", status);
    }
    if (e == LW_OK)
        e = put_account(w, &a, &change, &old);
    if (e == LW_OK && change == 1)
        e = cli_audit_change(c, w, "account set", NULL,
                             "account %s: new, days_past_due %d, status '%s'",
                             a.account, a.days_past_due, a.status);
    else if (e == LW_OK && change == 2)
        e = cli_audit_change(c, w, "account set", NULL,
                             "account %s: days_past_due %d -> %d, status "
                             "'%s' -> '%s'",
                             a.account, old.days_past_due, a.days_past_due,
                             old.status, a.status);
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
    } else {
        rc = CLI_EXIT_OK;
        if (change == 0)
            printf("account %s unchanged: %d days past due, status '%s'\n",
                   a.account, a.days_past_due, a.status);
        else if (change == 1)
            printf("account %s created: %d days past due, status '%s'\n",
                   a.account, a.days_past_due, a.status);
        else
            printf("account %s updated: %d days past due (was %d), status "
                   "'%s' (was '%s')\n",
                   a.account, a.days_past_due, old.days_past_due, a.status,
                   old.status);
        if (change && lw_access_account_ended(a.status))
            printf("the loan has ended: its vehicles are no longer watched, "
                   "their open alerts are closed, their reports are no "
                   "longer stored, and lienwatchd deletes their positions "
                   "[privacy] purge_after_payoff after now (default 30d); "
                   "a status that is not paid_off or closed before then "
                   "calls that off\n");
    }
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
    return rc;
}

/* ---- import -------------------------------------------------------------- */

/* An import being checked. */
struct import {
    const char *file; /* its name, for messages */
    long reported;    /* bad rows reported so far */
};

/* Reports a bad row (the first REPORT_MAX of them). */
static void bad_row(void *ctx, long line, const char *why)
{
    struct import *im = ctx;

    if (im->reported++ < REPORT_MAX)
        fprintf(stderr, "lienwatch account import: %s:%ld: %s\n", im->file,
                line, why);
}

static int run_import(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_IMPORT_OPTIONS,
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_import;
    struct cli_import_limit limit;
    struct lw_accountcsv csv = {0};
    struct import im = {0};
    struct lw_store *w = NULL;
    struct lw_account a, old;
    size_t i, len, counts[3] = {0, 0, 0};
    char *text = NULL, err[WHY_MAX] = "";
    enum lw_err e;
    int opt, rc, change;

    cli_import_limit_init(&limit);
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == CLI_OPT_CONFIG || opt == CLI_OPT_MAX_BYTES)
            rc = cli_import_opt(me, opt, &limit);
        else
            rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return cli_usage_error(me, "FILE missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    im.file = argv[optind];
    rc = cli_import_read(me->name, im.file, &limit, &text, &len);
    if (rc != CLI_CONTINUE)
        return rc;
    e = lw_accountcsv_parse(text, len, &csv, bad_row, &im, err, sizeof(err));
    free(text);
    if (e == LW_ERR_NOMEM) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        goto out_free;
    }
    if (e != LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_USAGE, "%s: %s", im.file,
                       err[0] ? err : lw_strerror(e));
        goto out_free;
    }
    if (csv.bad) {
        if (csv.bad > REPORT_MAX)
            fprintf(stderr, "lienwatch account import: ... and %ld more\n",
                    csv.bad - REPORT_MAX);
        rc = cli_error(me->name, CLI_EXIT_USAGE,
                       "%s: %ld bad row%s; nothing imported", im.file,
                       csv.bad, csv.bad == 1 ? "" : "s");
        goto out_free;
    }

    w = cli_store_rw(c, me->name);
    if (!w) {
        rc = CLI_EXIT_FAIL;
        goto out_free;
    }
    e = lw_store_begin(w);
    for (i = 0; e == LW_OK && i < csv.n; i++) {
        const struct lw_account_update *u = &csv.rows[i].a;

        memset(&a, 0, sizeof(a));
        snprintf(a.account, sizeof(a.account), "%s", u->account);
        a.days_past_due = u->days_past_due;
        snprintf(a.status, sizeof(a.status), "%s", u->status);
        snprintf(a.source, sizeof(a.source), "import");
        a.updated_ms = c->now_ms;
        e = put_account(w, &a, &change, &old);
        if (e == LW_OK)
            counts[change]++;
    }
    if (e == LW_OK)
        e = cli_audit_change(c, w, "account import", NULL,
                             "%s: %zu accounts, %zu new, %zu changed, %zu "
                             "unchanged",
                             im.file, csv.n, counts[1], counts[2], counts[0]);
    if (e == LW_OK)
        e = lw_store_commit(w);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        fprintf(stderr, "lienwatch account import: nothing imported\n");
    } else {
        rc = CLI_EXIT_OK;
        printf("imported %zu accounts from %s: %zu new, %zu changed, %zu "
               "unchanged\n",
               csv.n, im.file, counts[1], counts[2], counts[0]);
    }
    if (lw_store_in_txn(w))
        lw_store_rollback(w);
    lw_store_close(w);
out_free:
    lw_accountcsv_release(&csv);
    return rc;
}

/* ---- list ---------------------------------------------------------------- */

/* State of one listing. */
struct listing {
    int w_acct, w_status; /* column widths */
    int64_t n;            /* accounts written */
    bool failed;          /* output or memory failure */
};

static int measure(void *ctx, const struct lw_account *a)
{
    struct listing *l = ctx;
    int w = cli_text_width(a->account);

    if (w > l->w_acct)
        l->w_acct = w > COL_MAX ? COL_MAX : w;
    w = cli_text_width(a->status);
    if (w > l->w_status)
        l->w_status = w > COL_MAX ? COL_MAX : w;
    return 0;
}

static int print_row(void *ctx, const struct lw_account *a)
{
    struct listing *l = ctx;
    char t[LW_TIME_BUFLEN];

    cli_put_padded(a->account, l->w_acct);
    printf("  %13d  ", a->days_past_due);
    cli_put_padded(a->status[0] ? a->status : "-", l->w_status);
    printf("  %-24s  %s\n", cli_time(a->updated_ms, t),
           a->source[0] ? a->source : "-");
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_account *a)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack("{s:s, s:i, s:s, s:o, s:s}", "account", a->account,
                  "days_past_due", a->days_past_due, "status", a->status,
                  "updated", cli_json_time(a->updated_ms), "source", a->source);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static enum lw_err walk(struct lw_store *s, enum cli_walk how, void *ctx)
{
    return lw_registry_accounts(s,
                                how == CLI_WALK_JSON      ? print_json
                                : how == CLI_WALK_MEASURE ? measure
                                                          : print_row,
                                ctx);
}

static void header(const void *ctx)
{
    const struct listing *l = ctx;

    cli_put_padded("ACCOUNT", l->w_acct);
    printf("  %13s  ", "DAYS PAST DUE");
    cli_put_padded("STATUS", l->w_status);
    printf("  %-24s  %s\n", "UPDATED", "SOURCE");
}

static int run_list(struct cli *c, int argc, char **argv)
{
    static const struct cli_listing ls = {walk, header, true};
    struct listing l = {.w_acct = (int)strlen("ACCOUNT"),
                        .w_status = (int)strlen("STATUS")};

    return cli_list(c, &cmd_list, argc, argv, &ls, &l, &l.n, &l.failed);
}

static int cmd_account(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"set", run_set},
        {"import", run_import},
        {"list", run_list},
    };

    return cli_dispatch(c, &cli_cmd_account, subs,
                        sizeof(subs) / sizeof(subs[0]), argc, argv);
}
