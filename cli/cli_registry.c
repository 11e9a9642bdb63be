/*
 * cli_registry.c - helpers of the commands that change the registry
 * (vehicle, account, geofence, alerts): the writable handle, the schema
 * check, the audit record of a change, text validation and display width,
 * and an argument split that lets negative numbers through as operands;
 * and of the commands that look a vehicle up (locate, history): which
 * vehicle the words typed name. The decision itself is the core's
 * (lw_registry_vehicle_find); here are the options, the messages and the
 * listing of an ambiguous name.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lienwatch/audit.h"

/* Room for lw_store_open's detail sentences. */
#define ERRBUF 512
/* Room for one audit detail sentence. */
#define AUDIT_DETAIL_MAX 512

/* The registry tables come with this schema version (lib/store.c). */
#define REGISTRY_SCHEMA 2

/* Says how to get a database with the registry; false when s lacks it. */
static bool registry_ready(struct cli *c, struct lw_store *s, const char *cmd)
{
    int v = lw_store_schema_version(s);

    if (v >= REGISTRY_SCHEMA)
        return true;
    if (v < 0)
        cli_error(cmd, CLI_EXIT_FAIL, "%s: cannot read the schema version: %s",
                  c->db_path, lw_store_errmsg(s));
    else
        cli_error(cmd, CLI_EXIT_FAIL,
                  "%s has schema version %d, the registry needs version %d: "
                  "upgrade it with 'lienwatch init-db --db %s' (or restart "
                  "lienwatchd)",
                  c->db_path, v, REGISTRY_SCHEMA, c->db_path);
    return false;
}

struct lw_store *cli_store_registry(struct cli *c, const char *cmd)
{
    struct lw_store *s = cli_store(c, cmd);

    return s && registry_ready(c, s, cmd) ? s : NULL;
}

struct lw_store *cli_store_rw(struct cli *c, const char *cmd)
{
    struct lw_store *w = NULL;
    char err[ERRBUF] = "";
    enum lw_err e;

    e = lw_store_open(&w, c->db_path, LW_STORE_NOMIGRATE, err, sizeof(err));
    if (e == LW_ERR_NOTFOUND) {
        cli_error(cmd, CLI_EXIT_FAIL,
                  "database %s not found (create it with 'lienwatch init-db' "
                  "or start lienwatchd; use --db)",
                  c->db_path);
        return NULL;
    }
    if (e == LW_ERR_READONLY) {
        cli_error(cmd, CLI_EXIT_FAIL,
                  "cannot write %s: %s (changes need write access to the "
                  "database: run as the lienwatch user or with --db)",
                  c->db_path, err[0] ? err : lw_strerror(e));
        return NULL;
    }
    if (e != LW_OK) {
        cli_error(cmd, CLI_EXIT_FAIL, "%s", err[0] ? err : lw_strerror(e));
        return NULL;
    }
    if (!registry_ready(c, w, cmd)) {
        lw_store_close(w);
        return NULL;
    }
    return w;
}

enum lw_err cli_audit_change(struct cli *c, struct lw_store *w,
                             const char *action, const char *device,
                             const char *fmt, ...)
{
    char detail[AUDIT_DETAIL_MAX];
    struct lw_audit_rec r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cli_audit_rec(c, &r, action, device);
    r.detail = detail;
    return lw_audit_append(w, &r, NULL);
}

int cli_db_error(const char *cmd, struct lw_store *s, enum lw_err e)
{
    const char *msg = s ? lw_store_errmsg(s) : NULL;

    if (e == LW_ERR_BUSY)
        return cli_error(cmd, CLI_EXIT_FAIL,
                         "the database stayed locked (is something holding a "
                         "long write transaction?): %s",
                         msg && msg[0] ? msg : lw_strerror(e));
    return cli_error(cmd, CLI_EXIT_FAIL, "%s",
                     msg && msg[0] ? msg : lw_strerror(e));
}

int cli_list(struct cli *c, const struct cli_command *me, int argc,
             char **argv, const struct cli_listing *ls, void *ctx, int64_t *n,
             bool *failed)
{
    struct lw_store *s;
    bool json = false;
    enum lw_err e;
    int rc;

    rc = cli_parse_json_only(c, me, argc, argv, &json);
    if (rc != CLI_CONTINUE)
        return rc;
    s = ls->registry ? cli_store_registry(c, me->name) : cli_store(c, me->name);
    if (!s)
        return CLI_EXIT_FAIL;
    if (json) {
        e = ls->walk(s, CLI_WALK_JSON, ctx);
        if (e == LW_OK && !*failed)
            cli_json_end(*n);
    } else {
        e = ls->walk(s, CLI_WALK_MEASURE, ctx);
        if (e == LW_OK) {
            ls->header(ctx);
            e = ls->walk(s, CLI_WALK_ROWS, ctx);
        }
    }
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    return cli_output_status(me->name, *failed);
}

/* Room for the list of a command's subcommand names. */
#define SUBNAMES_MAX 256

int cli_dispatch(struct cli *c, const struct cli_command *me,
                 const struct cli_subcommand *subs, size_t nsubs, int argc,
                 char **argv)
{
    char names[SUBNAMES_MAX] = "";
    size_t i, len = 0;

    for (i = 0; i < nsubs; i++) {
        if (argc >= 2 && strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(c, argc - 1, argv + 1);
    }
    if (argc >= 2 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        cli_print_help(me, stdout);
        return CLI_EXIT_OK;
    }
    /* "set, import or list" */
    for (i = 0; i < nsubs && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                i == 0           ? ""
                                : i + 1 == nsubs ? " or "
                                                 : ", ",
                                subs[i].name);
    if (argc < 2)
        return cli_usage_error(me, "which one: %s?", names);
    return cli_usage_error(me, "unknown subcommand '%s' (%s)", argv[1], names);
}

/* ---- text ---------------------------------------------------------------- */

/* Columns taken by code point cp on a terminal: 0, 1 or 2 (East Asian wide
 * and fullwidth forms, emoji). An approximation of wcwidth() that needs no
 * locale. */
static int cp_width(unsigned long cp)
{
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
        (cp >= 0xFE00 && cp <= 0xFE0F))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
        (cp >= 0x3041 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) ||
        (cp >= 0x1F300 && cp <= 0x1F64F) || (cp >= 0x1F900 && cp <= 0x1F9FF) ||
        (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

int cli_text_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t n;
    int w = 0;

    while (*p) {
        n = lw_utf8_next(p, &cp);
        if (n == 0) { /* not UTF-8: one column per byte */
            w++;
            p++;
            continue;
        }
        w += cp_width(cp);
        p += n;
    }
    return w;
}

void cli_fput_padded(FILE *f, const char *s, int width)
{
    int pad = width - cli_text_width(s);

    fputs(s, f);
    while (pad-- > 0)
        fputc(' ', f);
}

void cli_put_padded(const char *s, int width)
{
    cli_fput_padded(stdout, s, width);
}

/* ---- arguments ----------------------------------------------------------- */

/* True for "-12", "-0.5", "-.5": a negative number, never an option here. */
static bool negative_number(const char *a)
{
    return a[0] == '-' && (isdigit((unsigned char)a[1]) ||
                           (a[1] == '.' && isdigit((unsigned char)a[2])));
}

/* True when a (an option word) is a long option of opts taking a value in
 * the next word. */
static bool takes_next(const char *a, const struct option *opts)
{
    size_t len;
    const struct option *o;

    if (strncmp(a, "--", 2) != 0 || strchr(a, '='))
        return false;
    len = strlen(a + 2);
    for (o = opts; o->name; o++) {
        /* getopt_long accepts unambiguous prefixes: so do we */
        if (strncmp(o->name, a + 2, len) == 0 &&
            o->has_arg == required_argument)
            return true;
    }
    return false;
}

bool cli_args_split(int argc, char **argv, const struct option *opts,
                    struct cli_args *out)
{
    int i;
    bool rest = false;

    memset(out, 0, sizeof(*out));
    out->argv = calloc((size_t)argc + 1, sizeof(*out->argv));
    out->pos = calloc((size_t)argc + 1, sizeof(*out->pos));
    if (!out->argv || !out->pos) {
        cli_args_free(out);
        return false;
    }
    out->argv[out->argc++] = argv[0];
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (rest || a[0] != '-' || a[1] == '\0' || negative_number(a)) {
            out->pos[out->npos++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            rest = true;
        } else {
            out->argv[out->argc++] = argv[i];
            if (takes_next(a, opts) && i + 1 < argc)
                out->argv[out->argc++] = argv[++i];
        }
    }
    return true;
}

void cli_args_free(struct cli_args *a)
{
    free(a->argv);
    free(a->pos);
    a->argv = a->pos = NULL;
    a->argc = a->npos = 0;
}

/* ---- which vehicle a command means --------------------------------------- */

/* Matches of an ambiguous name listed; the rest are counted. */
#define AMBIGUOUS_LIST_MAX 20
/* Columns of that listing are at most this wide. */
#define TARGET_COL_MAX 32

static const char *key_option(enum lw_vehicle_key by)
{
    switch (by) {
    case LW_VEHICLE_BY_DEVICE:
        return "--device";
    case LW_VEHICLE_BY_PLATE:
        return "--plate";
    case LW_VEHICLE_BY_VIN:
        return "--vin";
    case LW_VEHICLE_BY_ANY:
        break;
    }
    return "VEHICLE";
}

/* Takes --device, --plate or --vin (opt, with arg) into *t. */
static int target_opt(const struct cli_command *me, struct cli_target *t,
                      int opt, const char *arg)
{
    enum lw_vehicle_key by = opt == CLI_OPT_DEVICE  ? LW_VEHICLE_BY_DEVICE
                             : opt == CLI_OPT_PLATE ? LW_VEHICLE_BY_PLATE
                                                    : LW_VEHICLE_BY_VIN;

    if (!arg[0])
        return cli_usage_error(me, "%s needs a value", key_option(by));
    if (t->text)
        return cli_usage_error(me, "one vehicle at a time (%s and %s)",
                               key_option(t->by), key_option(by));
    t->by = by;
    t->text = arg;
    return CLI_CONTINUE;
}

int cli_target_common_opt(struct cli *c, const struct cli_command *me,
                          struct cli_target *t, int opt, char **argv)
{
    if (opt == CLI_OPT_DEVICE || opt == CLI_OPT_PLATE || opt == CLI_OPT_VIN)
        return target_opt(me, t, opt, optarg);
    return cli_common_opt(c, me, opt, argv);
}

int cli_target_operands(const struct cli_command *me, struct cli_target *t,
                        int npos, char **pos)
{
    if (npos == 0 && !t->text)
        return cli_usage_error(me, "which vehicle? (a device id, plate or "
                                   "VIN)");
    if (npos > 1 || (npos == 1 && t->text))
        return cli_usage_error(me, "one vehicle at a time");
    if (npos == 1) {
        if (!pos[0][0])
            return cli_usage_error(me, "VEHICLE is empty");
        t->by = LW_VEHICLE_BY_ANY;
        t->text = pos[0];
    }
    return CLI_CONTINUE;
}

/* "plate", "device id and plate", ...: what matched. */
static void matched_by(const struct lw_vehicle_match *m, char *buf, size_t len)
{
    const char *w[3];
    size_t n = 0;

    if (m->by_device)
        w[n++] = "device id";
    if (m->by_plate)
        w[n++] = "plate";
    if (m->by_vin)
        w[n++] = "VIN";
    snprintf(buf, len, "%s%s%s%s%s", n > 0 ? w[0] : "",
             n > 2   ? ", "
             : n > 1 ? " and "
                     : "",
             n > 1 ? w[1] : "", n > 2 ? " and " : "", n > 2 ? w[2] : "");
}

static void widen_to(int *w, const char *s)
{
    int n = cli_text_width(s);

    if (n > *w)
        *w = n > TARGET_COL_MAX ? TARGET_COL_MAX : n;
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

/* Lists the matches of an ambiguous name to stderr. */
static void list_matches(const struct lw_vehicle_match *m, size_t shown,
                         size_t n)
{
    int wd = (int)strlen("DEVICE"), wp = (int)strlen("PLATE");
    int wv = (int)strlen("VIN"), wm = (int)strlen("MATCHED");
    char by[64];
    size_t i;

    for (i = 0; i < shown; i++) {
        widen_to(&wd, m[i].v.device);
        widen_to(&wp, m[i].v.plate);
        widen_to(&wv, m[i].v.vin);
        matched_by(&m[i], by, sizeof(by));
        widen_to(&wm, by);
    }
    fputs("    ", stderr);
    cli_fput_padded(stderr, "DEVICE", wd + 2);
    cli_fput_padded(stderr, "PLATE", wp + 2);
    cli_fput_padded(stderr, "VIN", wv + 2);
    cli_fput_padded(stderr, "MATCHED", wm + 2);
    fputs("DESCRIPTION\n", stderr);
    for (i = 0; i < shown; i++) {
        matched_by(&m[i], by, sizeof(by));
        fputs("    ", stderr);
        cli_fput_padded(stderr, m[i].v.device, wd + 2);
        cli_fput_padded(stderr, or_dash(m[i].v.plate), wp + 2);
        cli_fput_padded(stderr, or_dash(m[i].v.vin), wv + 2);
        cli_fput_padded(stderr, by, wm + 2);
        fprintf(stderr, "%s\n",
                m[i].registered ? or_dash(m[i].v.description)
                                : "(not registered)");
    }
    if (n > shown)
        fprintf(stderr, "    ... and %zu more\n", n - shown);
}

int cli_target_resolve(const struct cli_command *me, struct lw_store *s,
                       const struct cli_target *t, struct lw_vehicle_match *m)
{
    struct lw_vehicle_match found[AMBIGUOUS_LIST_MAX];
    size_t n = 0;
    enum lw_err e;

    e = lw_registry_vehicle_find(s, t->by, t->text, found, AMBIGUOUS_LIST_MAX,
                                 &n);
    if (e != LW_OK)
        return cli_db_error(me->name, s, e);
    if (n == 1) {
        *m = found[0];
        return CLI_CONTINUE;
    }
    if (n > 1) {
        cli_error(
            me->name, CLI_EXIT_USAGE,
            "'%s' names %zu vehicles; name one with --device ID:", t->text, n);
        list_matches(found, n < AMBIGUOUS_LIST_MAX ? n : AMBIGUOUS_LIST_MAX, n);
        return CLI_EXIT_USAGE;
    }
    switch (t->by) {
    case LW_VEHICLE_BY_DEVICE:
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "no such device '%s' (see 'lienwatch devices')",
                         t->text);
    case LW_VEHICLE_BY_PLATE:
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "no vehicle with the plate '%s' (see 'lienwatch "
                         "vehicle list')",
                         t->text);
    case LW_VEHICLE_BY_VIN:
        return cli_error(me->name, CLI_EXIT_NOTFOUND,
                         "no vehicle with the VIN '%s' (see 'lienwatch "
                         "vehicle list')",
                         t->text);
    case LW_VEHICLE_BY_ANY:
        break;
    }
    return cli_error(me->name, CLI_EXIT_NOTFOUND,
                     "no device, plate or VIN '%s' (see 'lienwatch devices' "
                     "and 'lienwatch vehicle list')",
                     t->text);
}

const char *cli_vehicle_label(const struct lw_vehicle_match *m, char *buf,
                              size_t len)
{
    const struct lw_vehicle *v = &m->v;

    if (!m->registered || (!v->plate[0] && !v->description[0]))
        snprintf(buf, len, "%s", v->device);
    else
        snprintf(buf, len, "%s%s%s (%s)", v->plate,
                 v->plate[0] && v->description[0] ? ", " : "", v->description,
                 v->device);
    return buf;
}
