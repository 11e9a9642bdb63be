/*
 * cmd_token.c - 'lienwatch token create|revoke|list': bearer tokens for
 * machine clients of lienwatch-web (users.h).
 *
 * A token is printed once, by create, and stored only as its SHA-256: lost
 * means revoke and create another.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "lienwatch/access.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/users.h"

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    Bearer tokens let programs (loan servicing, a dashboard, an agent's\n"
    "    in-car tablet) use lienwatch-web's JSON API without a password or\n"
    "    a browser session: they send 'Authorization: Bearer TOKEN' with\n"
    "    each request. A token acts under its NAME (recorded in the audit\n"
    "    trail) with the roles it was given: ops, agent or both (never\n"
    "    admin). An agent token sees the vehicles of the cases opened for\n"
    "    NAME ('lienwatch case open DEVICE --agent NAME'). Users and tokens\n"
    "    share one set of names; a name has at most one valid token.\n"
    "\n"
    "    token create NAME --role ROLE[,ROLE...] [--expires WHEN]\n"
    "        Creates a token and prints it, alone on a line: it is shown\n"
    "        this once and stored only as its SHA-256 hash. It is lwt_\n"
    "        followed by 43 characters (256 random bits).\n"
    "    token revoke NAME\n"
    "        NAME's token stops working at once.\n"
    "    token list [--json]\n"
    "        Every token ever created (never the token itself): name,\n"
    "        roles, valid, revoked or expired, created, expires, last used\n"
    "        (to the minute).\n"
    "\n"
    "    Creating and revoking are recorded in the audit trail.\n"
    "\n"
    "OPTIONS\n"
    "    --role ROLE[,ROLE...]\n"
    "        ops or agent, or both separated by a comma.\n"
    "    --expires WHEN\n"
    "        The token stops working after a duration from now (90d, 12h)\n"
    "        or at an ISO 8601 time (2027-06-30T00:00:00Z). Default: never\n"
    "        (until revoked).\n"
    "    --json\n"
    "        (create) Print {\"name\", \"token\", \"roles\", \"expires\"};\n"
    "        (list) one JSON array of objects: name, roles, state (valid,\n"
    "        revoked, expired), created, expires, revoked, last_used (ISO\n"
    "        8601 UTC or null).\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, or the name\n"
    "    taken (by a user, or by a valid token: revoke it first); 2 bad\n"
    "    options or arguments; 3 (revoke) NAME has no valid token.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch token create servicing --role ops > servicing.token\n"
    "    curl -H \"Authorization: Bearer $(cat servicing.token)\" \\\n"
    "        https://lienwatch.example/api/v1/cases\n"
    "    lienwatch token create tablet-7 --role agent --expires 30d\n"
    "    lienwatch token revoke servicing\n";
/* clang-format on */

static int cmd_token(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_token = {
    .name = "token",
    .run = cmd_token,
    .synopsis = "create NAME --role ROLE[,ROLE...] [--expires WHEN] "
                "[--json]\n"
                "    lienwatch [--db PATH] [--as NAME] token revoke NAME\n"
                "    lienwatch [--db PATH] token list [--json]",
    .summary = "create, revoke or list API tokens for machine clients",
    .help = help,
};

static const struct cli_command cmd_create = {
    .name = "token create",
    .synopsis = "NAME --role ROLE[,ROLE...] [--expires WHEN] [--json]",
    .summary = "create a token (printed once)",
    .help = help,
};
static const struct cli_command cmd_revoke = {
    .name = "token revoke",
    .synopsis = "NAME",
    .summary = "revoke NAME's token",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "token list",
    .synopsis = "[--json]",
    .summary = "every token",
    .help = help,
};

/* Checks the NAME operand. */
static int take_name(const struct cli_command *me, int argc, char **argv,
                     const char **name)
{
    if (optind >= argc)
        return cli_usage_error(me, "NAME missing");
    if (optind + 1 < argc)
        return cli_usage_error(me, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!lw_user_name_valid(argv[optind]))
        return cli_usage_error(me,
                               "'%s' is not a token name: 1 to %d letters, "
                               "digits and . _ @ -, starting with a letter "
                               "or a digit",
                               argv[optind], LW_USER_NAME_MAX);
    *name = argv[optind];
    return CLI_CONTINUE;
}

/* Parses --expires: a duration from now or an ISO 8601 time. */
static bool parse_when(const struct cli *c, const char *s, int64_t *out)
{
    int64_t d;

    if (lw_duration_parse(s, &d) == LW_OK && d > 0) {
        *out = c->now_ms + d;
        return true;
    }
    return lw_time_parse(s, out) == LW_OK && *out > c->now_ms;
}

static int run_create(struct cli *c, int argc, char **argv)
{
    enum { OPT_ROLE = 0x200, OPT_EXPIRES, OPT_JSON };
    static const struct option opts[] = {
        {"role", required_argument, NULL, OPT_ROLE},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_create;
    char text[LW_TOKEN_TEXT_LEN + 1], rs[32], t[LW_TIME_BUFLEN];
    const char *name = NULL;
    struct lw_audit_rec by;
    struct lw_store *w;
    unsigned roles = 0, r;
    int64_t expires = 0;
    bool json = false;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_ROLE:
            if (lw_access_roles_parse(optarg, &r) != LW_OK ||
                (r & LW_ROLE_ADMIN))
                return cli_usage_error(me,
                                       "--role '%s': a token's roles are ops "
                                       "and agent",
                                       optarg);
            roles |= r;
            break;
        case OPT_EXPIRES:
            if (!parse_when(c, optarg, &expires))
                return cli_usage_error(me,
                                       "--expires '%s' is neither a duration "
                                       "(90d, 12h) nor a time to come (ISO "
                                       "8601)",
                                       optarg);
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
    rc = take_name(me, argc, argv, &name);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!roles)
        return cli_usage_error(me, "--role is required (ops, agent)");
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    cli_audit_rec(c, &by, NULL, NULL);
    e = lw_token_create(w, name, roles, expires, &by, c->now_ms, text, NULL);
    if (e != LW_OK) {
        rc = cli_db_error(me->name, w, e);
        goto out;
    }
    rc = CLI_EXIT_OK;
    lw_access_roles_format(roles, rs, sizeof(rs));
    if (json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:o}", "name", name, "token", text,
                      "roles", rs, "expires", cli_json_time(expires));

        if (!cli_json_print(me->name, j))
            rc = CLI_EXIT_FAIL;
        json_decref(j);
    } else {
        printf("%s\n", text);
        fflush(stdout);
        fprintf(stderr,
                "lienwatch token create: token for %s (roles %s, expires "
                "%s) printed above; it is not shown again\n",
                name, rs, expires ? cli_time(expires, t) : "never");
    }
    if (ferror(stdout))
        rc = cli_error(me->name, CLI_EXIT_FAIL,
                       "cannot write the output "
                       "(the token is created: revoke it)");
out:
    sodium_memzero(text, sizeof(text));
    lw_store_close(w);
    return rc;
}

static int run_revoke(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cmd_revoke;
    const char *name = NULL;
    struct lw_audit_rec by;
    struct lw_store *w;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    rc = take_name(me, argc, argv, &name);
    if (rc != CLI_CONTINUE)
        return rc;
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    cli_audit_rec(c, &by, NULL, NULL);
    e = lw_token_revoke(w, name, &by, c->now_ms);
    if (e == LW_ERR_NOTFOUND)
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND, "%s has no valid token",
                       name);
    else if (e != LW_OK)
        rc = cli_db_error(me->name, w, e);
    else {
        rc = CLI_EXIT_OK;
        printf("token of %s revoked\n", name);
    }
    lw_store_close(w);
    return rc;
}

struct listing {
    int w_name;     /* name column width */
    int64_t now_ms; /* for expired */
    int64_t n;      /* tokens written */
    bool failed;
};

static const char *state_of(const struct lw_token *t, int64_t now_ms)
{
    if (t->revoked_ms)
        return "revoked";
    if (t->expires_ms && t->expires_ms <= now_ms)
        return "expired";
    return "valid";
}

static int measure(void *ctx, const struct lw_token *t)
{
    struct listing *l = ctx;
    int w = (int)strlen(t->name);

    if (w > l->w_name)
        l->w_name = w;
    return 0;
}

static int print_row(void *ctx, const struct lw_token *t)
{
    struct listing *l = ctx;
    char rs[32], t1[LW_TIME_BUFLEN], t2[LW_TIME_BUFLEN], t3[LW_TIME_BUFLEN];

    printf("%-*s  %-9s  %-7s  %-24s  %-24s  %s\n", l->w_name, t->name,
           lw_access_roles_format(t->roles, rs, sizeof(rs)),
           state_of(t, l->now_ms), cli_time(t->created_ms, t1),
           t->expires_ms ? cli_time(t->expires_ms, t2) : "never",
           cli_time(t->last_used_ms, t3));
    return cli_row_done(&l->n, &l->failed);
}

static int print_json(void *ctx, const struct lw_token *t)
{
    struct listing *l = ctx;
    char rs[32];
    json_t *j;

    j = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "name", t->name,
                  "roles", lw_access_roles_format(t->roles, rs, sizeof(rs)),
                  "state", state_of(t, l->now_ms), "created",
                  cli_json_time(t->created_ms), "expires",
                  cli_json_time(t->expires_ms), "revoked",
                  cli_json_time(t->revoked_ms), "last_used",
                  cli_json_time(t->last_used_ms));
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static enum lw_err walk(struct lw_store *s, enum cli_walk how, void *ctx)
{
    return lw_token_list(s,
                         how == CLI_WALK_JSON      ? print_json
                         : how == CLI_WALK_MEASURE ? measure
                                                   : print_row,
                         ctx);
}

static void header(const void *ctx)
{
    const struct listing *l = ctx;

    printf("%-*s  %-9s  %-7s  %-24s  %-24s  %s\n", l->w_name, "NAME", "ROLES",
           "STATE", "CREATED", "EXPIRES", "LAST USED");
}

static int run_list(struct cli *c, int argc, char **argv)
{
    static const struct cli_listing ls = {walk, header, true};
    struct listing l = {.w_name = (int)strlen("NAME"), .now_ms = c->now_ms};

    return cli_list(c, &cmd_list, argc, argv, &ls, &l, &l.n, &l.failed);
}

static int cmd_token(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"create", run_create},
        {"revoke", run_revoke},
        {"list", run_list},
    };

    return cli_dispatch(c, &cli_cmd_token, subs, sizeof(subs) / sizeof(subs[0]),
                        argc, argv);
}
