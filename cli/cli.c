/*
 * cli.c - helpers shared by the lienwatch commands: the read-only store, the
 * audit side write, option and error handling, time/number/JSON output.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lienwatch/audit.h"
#include "lienwatch/timeutil.h"

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_HOUR (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_HOUR)
/* Length of a bare date "YYYY-MM-DD". */
#define DATE_LEN 10
/* Below this an age reads "just now". */
#define JUST_NOW_MS MS_PER_S
/* Room for lw_store_open's detail sentences. */
#define ERRBUF 512

struct lw_store *cli_store(struct cli *c, const char *cmd)
{
    char err[ERRBUF] = "";
    enum lw_err e;

    if (c->store)
        return c->store;
    e = lw_store_open(&c->store, c->db_path, LW_STORE_RDONLY, err, sizeof(err));
    if (e == LW_ERR_NOTFOUND) {
        fprintf(stderr,
                "lienwatch: database %s not found (is lienwatchd running? "
                "use --db)\n",
                c->db_path);
        return NULL;
    }
    if (e != LW_OK) {
        cli_error(cmd, CLI_EXIT_FAIL, "%s", err[0] ? err : lw_strerror(e));
        return NULL;
    }
    return c->store;
}

void cli_audit_rec(const struct cli *c, struct lw_audit_rec *r,
                   const char *action, const char *device)
{
    memset(r, 0, sizeof(*r));
    r->at_ms = c->now_ms;
    r->who = c->who;
    r->os_detail = c->os_detail;
    r->as_name = c->as_name;
    r->via = "cli";
    r->action = action;
    r->device = device;
}

enum lw_err cli_audit_write(struct cli *c, const struct lw_audit_rec *r,
                            struct lw_audit_head *head, char *why,
                            size_t whylen)
{
    struct lw_store *w = NULL;
    char err[ERRBUF] = "";
    enum lw_err e;

    e = lw_store_open(&w, c->db_path, LW_STORE_NOMIGRATE, err, sizeof(err));
    if (e == LW_OK) {
        e = lw_audit_append(w, r, head);
        if (e != LW_OK)
            snprintf(err, sizeof(err), "%s", lw_store_errmsg(w));
    }
    lw_store_close(w);
    if (e != LW_OK && why && whylen)
        snprintf(why, whylen, "%s", err[0] ? err : lw_strerror(e));
    return e;
}

bool cli_audit(struct cli *c, const char *action, const char *device,
               const char *reason)
{
    struct lw_audit_rec r;
    char err[ERRBUF] = "";

    cli_audit_rec(c, &r, action, device);
    r.reason = reason;
    if (cli_audit_write(c, &r, NULL, err, sizeof(err)) != LW_OK) {
        fprintf(stderr,
                "lienwatch %s: warning: this lookup could not be recorded in "
                "the audit trail: %s\n",
                action, err);
        return false;
    }
    return true;
}

void cli_getopt_reset(void)
{
    optind = 0; /* GNU: reinitialise, start at argv[1] */
    opterr = 0; /* we print our own messages */
}

int cli_common_opt(struct cli *c, const struct cli_command *cmd, int opt,
                   char **argv)
{
    const char *arg = argv[optind - 1];

    switch (opt) {
    case CLI_OPT_DB:
        if (!optarg[0])
            return cli_usage_error(cmd, "--db needs a file name");
        c->db_path = optarg;
        return CLI_CONTINUE;
    case CLI_OPT_AS: {
        char why[CLI_AS_MAX];

        if (!optarg[0])
            return cli_usage_error(cmd, "--as needs a name");
        if (!lw_text_ok(optarg, CLI_AS_MAX, why, sizeof(why)))
            return cli_usage_error(cmd, "--as NAME %s", why);
        c->as_name = optarg;
        return CLI_CONTINUE;
    }
    case 'h':
        if (cmd)
            cli_print_help(cmd, stdout);
        return CLI_EXIT_OK;
    case ':':
        return cli_usage_error(cmd, "option '%s' needs a value", arg);
    case '?':
        /* getopt_long sets optopt for a known long option given a value
         * it does not take ("--json=1"), 0 for an unknown one */
        if (strncmp(arg, "--", 2) == 0 && optopt && strchr(arg, '='))
            return cli_usage_error(cmd, "option '%.*s' takes no value",
                                   (int)(strchr(arg, '=') - arg), arg);
        if (strncmp(arg, "--", 2) == 0)
            return cli_usage_error(cmd, "unknown option '%s'", arg);
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    default:
        return cli_usage_error(cmd, "unhandled option");
    }
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "lienwatch%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr,
                "\nusage: lienwatch %s %s\n"
                "Try 'lienwatch help %s' for more information.\n",
                cmd->name, cmd->synopsis, cmd->name);
    else
        fprintf(stderr, "\nusage: lienwatch [--db PATH] [--as NAME] COMMAND "
                        "[ARGS...]\n"
                        "Try 'lienwatch --help' for more information.\n");
    return CLI_EXIT_USAGE;
}

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "lienwatch%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

const char *cli_time(int64_t ms, char *buf)
{
    if (ms == 0) {
        snprintf(buf, LW_TIME_BUFLEN, "-");
        return buf;
    }
    return lw_time_format(ms, buf, LW_TIME_BUFLEN);
}

/* Rounds an age to what a person reads: seconds under an hour, minutes under
 * a day, hours beyond. */
static int64_t round_age(int64_t ms)
{
    int64_t unit = ms >= MS_PER_DAY    ? MS_PER_HOUR
                   : ms >= MS_PER_HOUR ? MS_PER_MIN
                                       : MS_PER_S;

    return ms / unit * unit;
}

const char *cli_age(int64_t now_ms, int64_t ms, char *buf)
{
    /* room for the suffix: a duration is at most "-106751991167d7h" */
    char d[CLI_AGE_BUFLEN - sizeof(" in the future")];
    int64_t age = now_ms - ms;

    if (ms == 0) {
        snprintf(buf, CLI_AGE_BUFLEN, "never");
    } else if (age > -JUST_NOW_MS && age < JUST_NOW_MS) {
        snprintf(buf, CLI_AGE_BUFLEN, "just now");
    } else if (age > 0) {
        lw_duration_format(round_age(age), d, sizeof(d));
        snprintf(buf, CLI_AGE_BUFLEN, "%s ago", d);
    } else {
        /* the device's clock runs ahead of ours (within tolerance) */
        lw_duration_format(round_age(-age), d, sizeof(d));
        snprintf(buf, CLI_AGE_BUFLEN, "%s in the future", d);
    }
    return buf;
}

const char *cli_num(double v, int decimals, char *buf)
{
    char *p;

    if (!isfinite(v)) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, CLI_NUM_BUFLEN, "%.*f", decimals, v);
    if (strchr(buf, '.')) {
        p = buf + strlen(buf) - 1;
        while (*p == '0')
            *p-- = '\0';
        if (*p == '.')
            *p = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, CLI_NUM_BUFLEN, "0");
    return buf;
}

bool cli_time_bound(const struct cli *c, const char *s, bool upper,
                    int64_t *out)
{
    size_t n = strlen(s);
    int64_t d;

    if (lw_time_parse(s, out) == LW_OK) {
        if (upper && n == DATE_LEN)
            *out += MS_PER_DAY - 1; /* the whole day */
        return true;
    }
    /* a duration back from now, with an explicit unit */
    if (n > 1 && strchr("smhd", s[n - 1]) &&
        lw_duration_parse(s, &d) == LW_OK) {
        *out = c->now_ms - d;
        return true;
    }
    return false;
}

json_t *cli_json_time(int64_t ms)
{
    char buf[LW_TIME_BUFLEN];

    if (ms == 0)
        return json_null();
    return json_string(lw_time_format(ms, buf, sizeof(buf)));
}

json_t *cli_json_real(double v)
{
    return lw_has(v) && isfinite(v) ? json_real(v) : json_null();
}

bool cli_json_print(const char *cmd, const json_t *j)
{
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | CLI_JSON_REAL) != 0 ||
        fputc('\n', stdout) == EOF) {
        cli_error(cmd, CLI_EXIT_FAIL, "cannot write JSON output");
        return false;
    }
    return true;
}

bool cli_json_item(json_t *j, int64_t *n)
{
    char *text = j ? json_dumps(j, CLI_JSON_REAL) : NULL;
    bool ok = text && printf("%s  %s", *n ? ",\n" : "[\n", text) >= 0 &&
              !ferror(stdout);

    free(text);
    json_decref(j);
    (*n)++;
    return ok;
}

void cli_json_end(int64_t n)
{
    printf(n ? "\n]\n" : "[]\n");
}

int cli_row_done(int64_t *n, bool *failed)
{
    (*n)++;
    if (ferror(stdout))
        *failed = true;
    return *failed;
}

int cli_output_status(const char *cmd, bool failed)
{
    if (failed)
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot write the output");
    return CLI_EXIT_OK;
}

int cli_parse_json_only(struct cli *c, const struct cli_command *me, int argc,
                        char **argv, bool *json)
{
    enum { OPT_JSON = 0x200 };
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    int opt, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_JSON) {
            *json = true;
            continue;
        }
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind != argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);
    return CLI_CONTINUE;
}
