/*
 * cmd_devices.c - 'lienwatch devices': every device the daemon has heard of.
 *
 * The text table is written in two passes over the devices (the first only
 * measures the id column), the JSON array is streamed element by element:
 * neither holds a national fleet in memory.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/timeutil.h"

/* The id column is at least as wide as its heading, at most this wide. */
#define ID_WIDTH_MAX 40

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Lists every device (tracker) in the database, ordered by id, with\n"
    "    when it was first and last heard (any message, our clock), the time\n"
    "    of its last-known fix (the device's clock) and its age, and how many\n"
    "    fixes its history holds. A device that was heard but never sent a\n"
    "    valid position shows '-' as its last fix.\n"
    "\n"
    "OPTIONS\n"
    "    --json\n"
    "        Print one JSON array of objects: device, first_heard,\n"
    "        last_heard, last_fix (ISO 8601 UTC, null when none),\n"
    "        last_fix_age_s (null when none) and fixes.\n"
    CLI_HELP_COMMON_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success (also with no devices); 1 database missing or unreadable;\n"
    "    2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch devices\n"
    "    lienwatch devices --json | jq -r '.[] | select(.last_fix_age_s > "
    "21600) | .device'\n";
/* clang-format on */

static int cmd_devices(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_devices = {
    .name = "devices",
    .run = cmd_devices,
    .synopsis = "[--json]",
    .summary = "every device with first/last heard, last fix and fix count",
    .help = help,
};

/* State of one listing. */
struct listing {
    const struct cli *c; /* for the clock */
    int id_width;        /* width of the id column */
    int64_t n;           /* devices written */
    bool failed;         /* output or memory failure */
};

static int measure(void *ctx, const struct lw_device_info *d)
{
    struct listing *l = ctx;
    int w = (int)strlen(d->device);

    if (w > l->id_width)
        l->id_width = w > ID_WIDTH_MAX ? ID_WIDTH_MAX : w;
    return 0;
}

static int print_row(void *ctx, const struct lw_device_info *d)
{
    struct listing *l = ctx;
    char first[LW_TIME_BUFLEN], last[LW_TIME_BUFLEN], fix[LW_TIME_BUFLEN];
    char age[CLI_AGE_BUFLEN];

    printf("%-*s  %-24s  %-24s  %-24s  %-18s  %lld\n", l->id_width, d->device,
           cli_time(d->first_heard_ms, first), cli_time(d->last_heard_ms, last),
           cli_time(d->last_fix_ms, fix),
           d->last_fix_ms ? cli_age(l->c->now_ms, d->last_fix_ms, age) : "-",
           (long long)d->fixes);
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_device_info *d)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:I}", "device", d->device, "first_heard",
        cli_json_time(d->first_heard_ms), "last_heard",
        cli_json_time(d->last_heard_ms), "last_fix",
        cli_json_time(d->last_fix_ms), "last_fix_age_s",
        d->last_fix_ms
            ? json_integer((l->c->now_ms - d->last_fix_ms) / CLI_MS_PER_S)
            : json_null(),
        "fixes", (json_int_t)d->fixes);
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static enum lw_err walk(struct lw_store *s, enum cli_walk how, void *ctx)
{
    return lw_store_devices(s,
                            how == CLI_WALK_JSON      ? print_json
                            : how == CLI_WALK_MEASURE ? measure
                                                      : print_row,
                            ctx);
}

static void header(const void *ctx)
{
    const struct listing *l = ctx;

    printf("%-*s  %-24s  %-24s  %-24s  %-18s  %s\n", l->id_width, "DEVICE",
           "FIRST HEARD", "LAST HEARD", "LAST FIX", "FIX AGE", "FIXES");
}

static int cmd_devices(struct cli *c, int argc, char **argv)
{
    static const struct cli_listing ls = {walk, header, false};
    struct listing l = {.c = c, .id_width = (int)strlen("DEVICE")};

    return cli_list(c, &cli_cmd_devices, argc, argv, &ls, &l, &l.n, &l.failed);
}
