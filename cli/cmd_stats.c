/*
 * cmd_stats.c - 'lienwatch stats': the daemon's persistent counters.
 *
 * Counters live in the counters table under flat names; a dotted name
 * "group.key" (e.g. "rejected.not_json", "ignored.lwt") is shown as key
 * inside the object group. received, stored, duplicates and rejected are
 * always present, first, so scripts can rely on them.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* Indent of a group's members in the text table. */
#define MEMBER_INDENT 2

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Prints the counters lienwatchd keeps in the database (current within\n"
    "    about a second while it runs):\n"
    "        received     messages received on the subscribed topics\n"
    "        stored       distinct fixes committed to history\n"
    "        duplicates   fixes already stored (QoS 1 redelivery, retries)\n"
    "        rejected     bad messages, by reason (not_json, wrong_type,\n"
    "                     missing_field, not_finite, out_of_range,\n"
    "                     null_island, future, too_old, too_large,\n"
    "                     unknown_topic, bad_device)\n"
    "    and any other counter the daemon keeps (late fixes, ignored message\n"
    "    types, ...). A counter named group.key is shown inside group.\n"
    "\n"
    "OPTIONS\n"
    "    --json\n"
    "        Print one JSON object: the counters as top-level keys, groups\n"
    "        (rejected, ignored, ...) as objects of key -> count.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing or unreadable; 2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch stats\n"
    "    lienwatch stats --json | jq .rejected\n";
/* clang-format on */

static int cmd_stats(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_stats = {
    .name = "stats",
    .run = cmd_stats,
    .synopsis = "[--json]",
    .summary = "the daemon's counters: received, stored, duplicates, rejected",
    .help = help,
};

/* Collects the counters. */
struct collect {
    json_t *root; /* the stats object */
    bool failed;  /* out of memory: stopped early */
};

/* Adds one counter to root; non-zero on failure (out of memory). */
static int add_to(json_t *root, const char *name, int64_t value)
{
    json_t *group;
    const char *dot = strchr(name, '.');
    char prefix[128];

    if (dot && dot != name && dot[1] && (size_t)(dot - name) < sizeof(prefix)) {
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(dot - name), name);
        group = json_object_get(root, prefix);
        if (!group) {
            group = json_object();
            if (json_object_set_new(root, prefix, group) != 0)
                return 1;
        }
        if (json_is_object(group))
            return json_object_set_new(group, dot + 1, json_integer(value));
        /* a plain counter already has the group's name: keep both flat */
    }
    group = json_object_get(root, name);
    if (json_is_object(group)) /* "rejected" next to "rejected.x" */
        return json_object_set_new(group, "total", json_integer(value));
    return json_object_set_new(root, name, json_integer(value));
}

static int add_counter(void *ctx, const char *name, int64_t value)
{
    struct collect *col = ctx;

    if (add_to(col->root, name, value) != 0)
        col->failed = true;
    return col->failed;
}

/* Width of the name column and of the value column of the text table. */
static void measure(const json_t *root, int *name_w, int *val_w)
{
    char num[32];
    const char *k, *k2;
    json_t *v, *v2;

    json_object_foreach((json_t *)root, k, v)
    {
        int64_t sum = 0;

        if ((int)strlen(k) > *name_w)
            *name_w = (int)strlen(k);
        if (json_is_object(v)) {
            json_object_foreach(v, k2, v2)
            {
                if ((int)strlen(k2) + MEMBER_INDENT > *name_w)
                    *name_w = (int)strlen(k2) + MEMBER_INDENT;
                snprintf(num, sizeof(num), "%lld",
                         (long long)json_integer_value(v2));
                if ((int)strlen(num) > *val_w)
                    *val_w = (int)strlen(num);
                sum += json_integer_value(v2);
            }
        } else {
            sum = json_integer_value(v);
        }
        snprintf(num, sizeof(num), "%lld", (long long)sum);
        if ((int)strlen(num) > *val_w)
            *val_w = (int)strlen(num);
    }
}

/* A group prints its total, then its members indented. */
static void print_text(const json_t *root)
{
    int name_w = 0, val_w = 1;
    const char *k, *k2;
    json_t *v, *v2;

    measure(root, &name_w, &val_w);
    json_object_foreach((json_t *)root, k, v)
    {
        int64_t sum = 0;

        if (!json_is_object(v)) {
            printf("%-*s  %*lld\n", name_w, k, val_w,
                   (long long)json_integer_value(v));
            continue;
        }
        json_object_foreach(v, k2, v2)
        {
            if (strcmp(k2, "total") != 0)
                sum += json_integer_value(v2);
        }
        printf("%-*s  %*lld\n", name_w, k, val_w, (long long)sum);
        json_object_foreach(v, k2, v2)
        {
            printf("%*s%-*s  %*lld\n", MEMBER_INDENT, "",
                   name_w - MEMBER_INDENT, k2, val_w,
                   (long long)json_integer_value(v2));
        }
    }
}

static int cmd_stats(struct cli *c, int argc, char **argv)
{
    const struct cli_command *me = &cli_cmd_stats;
    struct collect col = {0};
    struct lw_store *s;
    bool json = false;
    enum lw_err e;
    int rc;

    rc = cli_parse_json_only(c, me, argc, argv, &json);
    if (rc != CLI_CONTINUE)
        return rc;
    s = cli_store(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;

    /* the keys scripts rely on, first and always present */
    col.root =
        json_pack("{s:I, s:I, s:I, s:{}}", "received", (json_int_t)0, "stored",
                  (json_int_t)0, "duplicates", (json_int_t)0, "rejected");
    if (!col.root)
        return cli_error(me->name, CLI_EXIT_FAIL, "out of memory");
    e = lw_store_counters(s, add_counter, &col);
    if (e != LW_OK || col.failed) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "%s",
                       col.failed ? "out of memory" : lw_store_errmsg(s));
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (json) {
        if (!cli_json_print(me->name, col.root))
            rc = CLI_EXIT_FAIL;
    } else {
        print_text(col.root);
    }
out:
    json_decref(col.root);
    return rc;
}
