/*
 * cmd_outbox.c - 'lienwatch outbox': alert e-mail waiting, sent and failed.
 *
 * Reads the outbox table (one row per mail and recipient, lib/outbox.c) and
 * the alerts held back for a storm digest. The text listing is one line per
 * row plus its last error when it has one; --json gives one object with
 * the rows, the held alerts and the counts.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/outbox.h"
#include "lienwatch/timeutil.h"

/* The outbox came with this schema version. */
#define OUTBOX_SCHEMA 3
/* Width of the recipient column (longer ones push the line). */
#define RCPT_WIDTH 28

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Lists the alert e-mail of the outbox that lienwatchd sends over "
    "SMTP:\n"
    "    one line per mail and recipient, oldest first, with its state\n"
    "        pending  waiting for its first or next try (NEXT says when)\n"
    "        sent     accepted by the mail server (DONE says when)\n"
    "        failed   refused for good (a 5xx reply) or not delivered "
    "within\n"
    "                 [smtp] max_age; kept, and reported on MQTT as\n"
    "                 delivery_failed\n"
    "    the number of tries, what the mail is about (an alert, or a storm\n"
    "    digest of many) and, indented below, the last error. Alerts held\n"
    "    back for a storm digest that is not written yet are listed after\n"
    "    the mail, with the time the digest is due.\n"
    "\n"
    "OPTIONS\n"
    "    --state pending|sent|failed\n"
    "        Only mail in this state.\n"
    "    --limit N\n"
    "        Only the newest N mails (still oldest first).\n"
    "    --json\n"
    "        Print one JSON object: \"mail\", an array of objects (id, "
    "state,\n"
    "        kind, digest, alert_id, alert_ids, device, recipient, "
    "message_id,\n"
    "        subject, attempts, created_at, next_try_at, sent_at, "
    "failed_at,\n"
    "        last_error, failure_published); \"held\", an array of objects\n"
    "        (alert_id, kind, device, held_at, digest_due_at); \"counts\"\n"
    "        (pending, sent, failed, held). Times are ISO 8601 UTC or "
    "null.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also with an empty outbox); 1 database missing, "
    "unreadable\n"
    "    or older than the outbox; 2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch outbox\n"
    "    lienwatch outbox --state failed\n"
    "    lienwatch outbox --json | jq '.counts'\n";
/* clang-format on */

static int cmd_outbox(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_outbox = {
    .name = "outbox",
    .run = cmd_outbox,
    .synopsis = "[--state STATE] [--limit N] [--json]",
    .summary = "alert e-mail: pending, sent and failed, with tries and errors",
    .help = help,
};

/* State of one listing. */
struct listing {
    json_t *mail;  /* --json: the rows */
    json_t *held;  /* --json: the held alerts */
    int64_t n;     /* rows written */
    int64_t nheld; /* held alerts written */
    bool failed;   /* output or memory failure */
};

/* "alert #5 offline alice/car" or "digest of 280 offline alerts". */
static void about(const struct lw_outbox_row *r, char *buf, size_t len)
{
    if (r->digest)
        snprintf(buf, len, "digest of %d %s alerts (#%" PRId64 "...)",
                 r->nalerts, r->kind, r->alert_id);
    else
        snprintf(buf, len, "alert #%" PRId64 " %s %s", r->alert_id, r->kind,
                 r->device);
}

/* The time of the row's next step or last event. */
static int64_t when(const struct lw_outbox_row *r)
{
    switch (r->state) {
    case LW_OUTBOX_SENT:
        return r->sent_ms;
    case LW_OUTBOX_FAILED:
        return r->failed_ms;
    default:
        return r->next_try_ms;
    }
}

static int print_row(void *ctx, const struct lw_outbox_row *r)
{
    struct listing *l = ctx;
    char created[LW_TIME_BUFLEN], next[LW_TIME_BUFLEN], what[300];

    about(r, what, sizeof(what));
    printf("%-6" PRId64 "  %-7s  %5d  %-24s  %-24s  %-*s  %s\n", r->id,
           lw_outbox_state_name(r->state), r->attempts,
           cli_time(r->created_ms, created), cli_time(when(r), next),
           RCPT_WIDTH, r->recipient, what);
    if (r->last_error[0])
        printf("        error: %s\n", r->last_error);
    return cli_row_done(&l->n, &l->failed);
}

/* "12,13" as a JSON array of integers. */
static json_t *id_array(const struct lw_outbox_row *r)
{
    json_t *a = json_array();

    if (!a)
        return NULL;
    if (!r->digest) {
        json_array_append_new(a, json_integer(r->alert_id));
        return a;
    }
    for (const char *p = r->alert_ids; p && *p;) {
        json_array_append_new(a, json_integer(strtoll(p, NULL, 10)));
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return a;
}

static int json_row(void *ctx, const struct lw_outbox_row *r)
{
    struct listing *l = ctx;
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:b, s:I, s:o, s:o, s:s, s:s, s:s, s:i, s:o, s:o, "
        "s:o, s:o, s:o, s:b}",
        "id", (json_int_t)r->id, "state", lw_outbox_state_name(r->state),
        "kind", r->kind, "digest", r->digest, "alert_id",
        (json_int_t)r->alert_id, "alert_ids", id_array(r), "device",
        r->device[0] ? json_string(r->device) : json_null(), "recipient",
        r->recipient, "message_id", r->message_id, "subject", r->subject,
        "attempts", r->attempts, "created_at", cli_json_time(r->created_ms),
        "next_try_at",
        r->state == LW_OUTBOX_PENDING ? cli_json_time(r->next_try_ms)
                                      : json_null(),
        "sent_at", cli_json_time(r->sent_ms), "failed_at",
        cli_json_time(r->failed_ms), "last_error",
        r->last_error[0] ? json_string(r->last_error) : json_null(),
        "failure_published", r->notified);

    if (!o || json_array_append_new(l->mail, o) != 0)
        l->failed = true;
    l->n++;
    return l->failed;
}

static int print_held(void *ctx, const struct lw_outbox_held *h)
{
    struct listing *l = ctx;
    char held[LW_TIME_BUFLEN], due[LW_TIME_BUFLEN];

    if (l->nheld++ == 0)
        printf("\nHeld for a storm digest:\nALERT   KIND            HELD AT"
               "                   DIGEST DUE                DEVICE\n");
    printf("%-6" PRId64 "  %-14s  %-24s  %-24s  %s\n", h->alert_id, h->kind,
           cli_time(h->held_ms, held), cli_time(h->due_ms, due), h->device);
    if (ferror(stdout))
        l->failed = true;
    return l->failed;
}

static int json_held(void *ctx, const struct lw_outbox_held *h)
{
    struct listing *l = ctx;
    json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:o}", "alert_id",
                          (json_int_t)h->alert_id, "kind", h->kind, "device",
                          h->device, "held_at", cli_json_time(h->held_ms),
                          "digest_due_at", cli_json_time(h->due_ms));

    if (!o || json_array_append_new(l->held, o) != 0)
        l->failed = true;
    l->nheld++;
    return l->failed;
}

static int cmd_outbox(struct cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x200, OPT_STATE, OPT_LIMIT };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"state", required_argument, NULL, OPT_STATE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_outbox;
    struct lw_outbox_filter f = {0};
    struct listing l = {0};
    struct lw_store *s;
    int64_t counts[4] = {0};
    bool json = false;
    enum lw_err e;
    json_t *root = NULL;
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        enum lw_outbox_state st;
        char *end;
        long n;

        switch (opt) {
        case OPT_JSON:
            json = true;
            continue;
        case OPT_STATE:
            if (lw_outbox_state_parse(optarg, &st) != LW_OK)
                return cli_usage_error(me,
                                       "--state: '%s' is not pending, sent "
                                       "or failed",
                                       optarg);
            f.state = (int)st;
            continue;
        case OPT_LIMIT:
            n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > INT32_MAX)
                return cli_usage_error(me,
                                       "--limit: '%s' is not a positive "
                                       "whole number",
                                       optarg);
            f.limit = (int)n;
            continue;
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
    if (lw_store_schema_version(s) < OUTBOX_SCHEMA)
        return cli_error(me->name, CLI_EXIT_FAIL,
                         "%s has no outbox yet (schema version %d; start "
                         "this version of lienwatchd once to upgrade it)",
                         c->db_path, lw_store_schema_version(s));

    e = lw_outbox_counts(s, &counts[0], &counts[1], &counts[2], &counts[3]);
    if (json) {
        l.mail = json_array();
        l.held = json_array();
        if (!l.mail || !l.held) {
            json_decref(l.mail);
            json_decref(l.held);
            return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
        }
        if (e == LW_OK)
            e = lw_outbox_list(s, &f, json_row, &l);
        if (e == LW_OK && !l.failed)
            e = lw_outbox_held_list(s, json_held, &l);
        root = json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "mail", l.mail,
                         "held", l.held, "counts", "pending",
                         (json_int_t)counts[0], "sent", (json_int_t)counts[1],
                         "failed", (json_int_t)counts[2], "held",
                         (json_int_t)counts[3]);
        if (e == LW_OK && !l.failed &&
            (!root || !cli_json_print(me->name, root)))
            l.failed = true;
        json_decref(root);
    } else {
        printf("%-6s  %-7s  %5s  %-24s  %-24s  %-*s  %s\n", "ID", "STATE",
               "TRIES", "CREATED", "NEXT TRY / DONE", RCPT_WIDTH, "RECIPIENT",
               "ABOUT");
        if (e == LW_OK)
            e = lw_outbox_list(s, &f, print_row, &l);
        if (e == LW_OK && !l.failed && !f.state)
            e = lw_outbox_held_list(s, print_held, &l);
        if (e == LW_OK && !l.failed)
            printf("\n%" PRId64 " pending, %" PRId64 " sent, %" PRId64
                   " failed, %" PRId64 " alerts held for a digest\n",
                   counts[0], counts[1], counts[2], counts[3]);
    }
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s", lw_store_errmsg(s));
    return cli_output_status(me->name, l.failed);
}
