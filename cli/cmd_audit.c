/*
 * cmd_audit.c - 'lienwatch audit': the trail of who looked up or changed
 * what, and 'lienwatch audit verify': whether it is intact (audit.h, "The
 * chain").
 *
 * Text is written in two passes (the first measures the who and device
 * columns), JSON is streamed element by element; the trail can grow long.
 * Text from the database is printed with control characters replaced, so a
 * record written by hand cannot drive the terminal.
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
/* Exit status of a verification that found the trail altered. */
#define EXIT_ALTERED CLI_EXIT_FAIL
/* Code points below this are control characters (and DEL). */
#define FIRST_PRINTABLE 0x20
#define DEL 0x7f

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Lists the audit trail, oldest first: record id, when (our clock,\n"
    "    ISO 8601 UTC), who (the operating-system account of the CLI, the\n"
    "    signed-in user of the web service, lienwatchd), the name given with\n"
    "    --as beside it, what (locate, history, evidence, vehicle set, alert\n"
    "    ack, ...), which device, and what was stated or changed: the\n"
    "    --reason, the grounds of access, the case, the change itself.\n"
    "    Lookups of a position append to it before they answer; when the\n"
    "    database is not writable for the person asking, the lookup is\n"
    "    answered with a warning on stderr and is missing here.\n"
    "\n"
    "    Records are only ever appended. The database refuses to change or\n"
    "    delete them (triggers), and each record carries the SHA-256 of its\n"
    "    content chained to the record before it, so that a record changed,\n"
    "    removed, inserted or moved by someone who holds the file shows.\n"
    "\n"
    "    audit verify walks the whole chain. When it is intact it prints\n"
    "    the head (the last record's id and hash) and exits 0. Otherwise it\n"
    "    names the first record that does not chain and what happened to it\n"
    "    (changed, removed, inserted, reordered, without a hash) and exits\n"
    "    1. Records removed from the end leave a shorter chain that is\n"
    "    still consistent, and whoever holds the file can recompute every\n"
    "    hash after a change: both show only against a head copied out\n"
    "    before, which --head checks. lienwatchd publishes the head retained\n"
    "    on <topic_prefix>/audit/head and logs it hourly; evidence bundles\n"
    "    carry the head at export. Keep such copies where the database's\n"
    "    administrators cannot change them.\n"
    "\n"
    "OPTIONS\n"
    "    -d, --device DEVICE\n"
    "        (list) Only records about DEVICE.\n"
    "    --head HEAD\n"
    "        (verify) A head published or printed earlier: ID:HASH (as\n"
    "        verify prints it, 'ID HASH' too), the HASH alone, or the JSON\n"
    "        lienwatchd publishes. The record ID must be in the chain with\n"
    "        exactly that HASH.\n"
    "    --json\n"
    "        list: one JSON array of objects: id, time, who, as, os_detail,\n"
    "        via, role, client, action, device, case_id, basis, reason,\n"
    "        detail (null when not recorded), hash and prev_hash (the hash\n"
    "        the record chains to: with them a record can be checked\n"
    "        alone). verify: one object: intact, problem, bad_id, from_id,\n"
    "        to_id, records, head {id, hash}, head_found, guarded, detail.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also with an empty trail), or the trail verified intact;\n"
    "    1 database missing or unreadable, or the trail is not intact;\n"
    "    2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch audit\n"
    "    lienwatch audit --device alice/phone --json\n"
    "    lienwatch audit verify\n"
    "    lienwatch audit verify --head \"$(mosquitto_sub -C 1 \\\n"
    "        -t lienwatch/v1/audit/head)\"\n"
    "    lienwatch audit verify --head 1042:9f86d081884c7d659a2feaa0c55ad015\\\n"
    "a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
/* clang-format on */

static int cmd_audit(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_audit = {
    .name = "audit",
    .run = cmd_audit,
    .synopsis = "[list] [--device DEVICE] [--json]\n"
                "    lienwatch [--db PATH] audit verify [--head HEAD] [--json]",
    .summary = "who looked up or changed what; verify the chain",
    .help = help,
};

/* State of one listing. */
struct listing {
    int who_w, action_w, device_w; /* column widths */
    int64_t n;                     /* records written */
    bool failed;                   /* output or memory failure */
};

/* Prints s with control characters as '?'. */
static void put_clean(const char *s)
{
    for (; *s; s++)
        putchar((unsigned char)*s < FIRST_PRINTABLE || *s == DEL ? '?' : *s);
}

/* Prints s padded to w bytes, cleaned. */
static void put_col(const char *s, int w)
{
    int n = (int)strlen(s);

    put_clean(s);
    for (; n < w; n++)
        putchar(' ');
}

/* "who" or "who (as NAME)" into buf. */
static const char *who_text(const struct lw_audit_entry *a, char *buf,
                            size_t len)
{
    if (a->as_name)
        snprintf(buf, len, "%s (as %s)", a->who, a->as_name);
    else
        snprintf(buf, len, "%s", a->who);
    return buf;
}

static void widen(int *w, const char *s)
{
    int n = s ? (int)strlen(s) : 1;

    if (n > *w)
        *w = n > COL_MAX ? COL_MAX : n;
}

static int measure(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;
    char who[2 * CLI_AS_MAX];

    widen(&l->who_w, who_text(a, who, sizeof(who)));
    widen(&l->action_w, a->action);
    widen(&l->device_w, a->device);
    return 0;
}

/* The last column: detail, reason, basis, case, client, role, the OS's
 * word, separated by "; ". */
static void put_what(const struct lw_audit_entry *a)
{
    const struct {
        const char *label; /* what it is, "" for none */
        const char *v;     /* its value or NULL */
    } parts[] = {
        {"", a->detail},       {"reason: ", a->reason},
        {"basis: ", a->basis}, {"case: ", a->case_id},
        {"role: ", a->role},   {"client: ", a->client},
        {"via: ", a->via},     {"os: ", a->os_detail},
    };
    bool first = true;
    size_t i;

    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!parts[i].v || (parts[i].v == a->via && !strcmp(a->via, "cli")))
            continue;
        fputs(first ? "" : "; ", stdout);
        fputs(parts[i].label, stdout);
        put_clean(parts[i].v);
        first = false;
    }
    if (first)
        putchar('-');
}

static int print_row(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;
    char t[LW_TIME_BUFLEN], who[2 * CLI_AS_MAX];

    printf("%6lld  %-24s  ", (long long)a->id, cli_time(a->at_ms, t));
    put_col(who_text(a, who, sizeof(who)), l->who_w);
    fputs("  ", stdout);
    put_col(a->action, l->action_w);
    fputs("  ", stdout);
    put_col(a->device ? a->device : "-", l->device_w);
    fputs("  ", stdout);
    put_what(a);
    putchar('\n');
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_audit_entry *a)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack("{s:I, s:o, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s?, "
                  "s:s?, s:s?, s:s?, s:s?, s:s?, s:s}",
                  "id", (json_int_t)a->id, "time", cli_json_time(a->at_ms),
                  "who", a->who, "as", a->as_name, "os_detail", a->os_detail,
                  "via", a->via, "role", a->role, "client", a->client, "action",
                  a->action, "device", a->device, "case_id", a->case_id,
                  "basis", a->basis, "reason", a->reason, "detail", a->detail,
                  "hash", a->hash, "prev_hash", a->prev_hash);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static int run_list(struct cli *c, int argc, char **argv)
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
            printf("%6s  %-24s  ", "ID", "TIME");
            put_col("WHO", l.who_w);
            fputs("  ", stdout);
            put_col("ACTION", l.action_w);
            fputs("  ", stdout);
            put_col("DEVICE", l.device_w);
            fputs("  WHAT\n", stdout);
            e = lw_audit_list(s, device, print_row, &l);
        }
    }
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));
    return cli_output_status(me->name, l.failed);
}

/* The verdict as JSON on stdout. */
static bool verdict_json(const struct lw_audit_verdict *v,
                         const struct lw_audit_head *expect)
{
    json_t *j = json_pack(
        "{s:b, s:s, s:I, s:I, s:I, s:I, s:{s:I, s:s}, s:b, s:b, s:s}", "intact",
        v->problem == LW_AUDIT_INTACT, "problem",
        lw_audit_problem_name(v->problem), "bad_id", (json_int_t)v->bad_id,
        "from_id", (json_int_t)v->from_id, "to_id", (json_int_t)v->to_id,
        "records", (json_int_t)v->rows, "head", "id", (json_int_t)v->head.id,
        "hash", v->head.hash, "head_found", expect ? v->head_found : false,
        "guarded", v->guarded, "detail", v->detail);
    bool ok = cli_json_print("audit verify", j);

    json_decref(j);
    return ok;
}

static int run_verify(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200, OPT_HEAD };
    static const struct option opts[] = {
        {"head", required_argument, NULL, OPT_HEAD},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_audit;
    struct lw_audit_head expect;
    struct lw_audit_verdict v;
    bool json = false, have_head = false;
    struct lw_store *s;
    enum lw_err e;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_HEAD:
            if (lw_audit_head_parse(optarg, &expect) != LW_OK)
                return cli_usage_error(
                    me,
                    "--head '%s' is not a head: ID:HASH, the HASH alone (64 "
                    "hexadecimal digits) or the JSON lienwatchd publishes",
                    optarg);
            have_head = true;
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
    s = cli_store(c, "audit verify");
    if (!s)
        return CLI_EXIT_FAIL;
    e = lw_audit_verify(s, have_head ? &expect : NULL, &v);
    if (e != LW_OK)
        return cli_error("audit verify", CLI_EXIT_FAIL,
                         "cannot read the audit trail: %s", lw_store_errmsg(s));
    if (!v.guarded)
        fprintf(stderr,
                "lienwatch audit verify: warning: the triggers that refuse "
                "changing or deleting audit records are missing from %s: "
                "someone who can write the file dropped them\n",
                c->db_path);
    if (json) {
        if (!verdict_json(&v, have_head ? &expect : NULL))
            return CLI_EXIT_FAIL;
        return v.problem == LW_AUDIT_INTACT ? CLI_EXIT_OK : EXIT_ALTERED;
    }
    if (v.problem == LW_AUDIT_INTACT) {
        printf("audit trail intact: %lld record%s\n", (long long)v.rows,
               v.rows == 1 ? "" : "s");
        if (have_head)
            printf("the given head is in the chain%s\n",
                   expect.id < 0 ? " (found by its hash)" : "");
        printf("head: %lld:%s\n", (long long)v.head.id, v.head.hash);
        return CLI_EXIT_OK;
    }
    printf("audit trail NOT intact: %s\n", v.detail);
    if (v.bad_id)
        printf("first bad record: %lld (%s)\n", (long long)v.bad_id,
               lw_audit_problem_name(v.problem));
    else
        printf("problem: %s\n", lw_audit_problem_name(v.problem));
    if (v.bad_id)
        printf("%lld record%s chain before it; the last of them: %lld:%s\n",
               (long long)v.rows, v.rows == 1 ? "" : "s", (long long)v.head.id,
               v.head.hash);
    else
        printf("the chain itself holds %lld record%s; its head: %lld:%s\n",
               (long long)v.rows, v.rows == 1 ? "" : "s", (long long)v.head.id,
               v.head.hash);
    return EXIT_ALTERED;
}

static int cmd_audit(struct cli *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return run_verify(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return run_list(c, argc - 1, argv + 1);
    return run_list(c, argc, argv);
}
