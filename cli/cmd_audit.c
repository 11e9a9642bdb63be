/*
 * cmd_audit.c - 'lienwatch audit': the trail of who looked up which device.
 *
 * Text is written in two passes (the first measures the who and device
 * columns), JSON is streamed element by element; the trail can grow long.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/audit.h"
#include "lienwatch/timeutil.h"

/* Widest who / action / device column, in bytes. */
#define COL_MAX 40

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Lists the audit trail, oldest first: when (our clock, ISO 8601 UTC),\n"
    "    who (--as NAME or the login name), what (locate, history), which\n"
    "    device and the reason given with --reason. 'lienwatch locate' and\n"
    "    'lienwatch history' append to it before they answer; when the\n"
    "    database is not writable for the person asking, the lookup is\n"
    "    answered with a warning on stderr and is missing here.\n"
    "\n"
    "    Records are only ever appended; nothing in lienwatch deletes them.\n"
    "\n"
    "OPTIONS\n"
    "    -d, --device DEVICE\n"
    "        Only lookups of DEVICE.\n"
    "    --json\n"
    "        Print one JSON array of objects: id, time, who, action, device,\n"
    "        reason (null when not given).\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also with an empty trail); 1 database missing or\n"
    "    unreadable; 2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch audit\n"
    "    lienwatch audit --device alice/phone --json\n";
/* clang-format on */

static int cmd_audit(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_audit = {
    .name = "audit",
    .run = cmd_audit,
    .synopsis = "[--device DEVICE] [--json]",
    .summary = "who looked up which device, when and why",
    .help = help,
};

/* State of one listing. */
struct listing {
    int who_w, action_w, device_w; /* column widths */
    int64_t n;                     /* records written */
    bool failed;                   /* output or memory failure */
};

static void widen(int *w, const char *s)
{
    int n = s ? (int)strlen(s) : 1;

    if (n > *w)
        *w = n > COL_MAX ? COL_MAX : n;
}

static int measure(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;

    widen(&l->who_w, a->who);
    widen(&l->action_w, a->action);
    widen(&l->device_w, a->device);
    return 0;
}

static int print_row(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;
    char t[LW_TIME_BUFLEN];

    printf("%-24s  %-*s  %-*s  %-*s  %s\n", cli_time(a->at_ms, t), l->who_w,
           a->who, l->action_w, a->action, l->device_w,
           a->device ? a->device : "-", a->reason ? a->reason : "-");
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack("{s:I, s:o, s:s, s:s, s:s?, s:s?}", "id", (json_int_t)a->id,
                  "time", cli_json_time(a->at_ms), "who", a->who, "action",
                  a->action, "device", a->device, "reason", a->reason);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int cmd_audit(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200 };
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_audit;
    struct listing l = {.who_w = (int)strlen("WHO"),
                        .action_w = (int)strlen("ACTION"),
                        .device_w = (int)strlen("DEVICE")};
    const char *device = NULL;
    struct lw_store *s;
    bool json = false;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":d:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            device = optarg;
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
    if (optind != argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);
    s = cli_store(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;

    if (json) {
        e = lw_audit_list(s, device, print_json, &l);
        if (e == LW_OK && !l.failed)
            cli_json_end(l.n);
    } else {
        e = lw_audit_list(s, device, measure, &l);
        if (e == LW_OK) {
            printf("%-24s  %-*s  %-*s  %-*s  %s\n", "TIME", l.who_w, "WHO",
                   l.action_w, "ACTION", l.device_w, "DEVICE", "REASON");
            e = lw_audit_list(s, device, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));
    return cli_output_status(me->name, l.failed);
}
