/*
 * cmd_user.c - 'lienwatch user add|passwd|disable|enable|roles|list': the
 * people who sign in to lienwatch-web (users.h).
 *
 * A password never comes on the command line (where ps and the shell's
 * history would show it): it is read from --password-file, or asked on the
 * terminal (/dev/tty) twice with echo off. Every change is one write
 * transaction with its audit record (users.c writes both).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "lienwatch/access.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/users.h"

/* Room for a password and its line end, with the NUL. */
#define PW_BUF (LW_USER_PASSWORD_MAX + 3)
/* Exit status after an interrupted prompt (128 + SIGINT). */
#define EXIT_INTERRUPTED 130

/* the help text is laid out as it prints */
/* clang-format off */
static const char help[] =
    "DESCRIPTION\n"
    "    The people who sign in to lienwatch-web, each with one or more\n"
    "    roles:\n"
    "      agent  a field recovery agent: sees a vehicle only while one of\n"
    "             their cases for it is open ('lienwatch case open') and its\n"
    "             account is watched;\n"
    "      ops    operations staff: see every watched vehicle (one that is\n"
    "             not watched only with a recorded reason), open and close\n"
    "             cases, acknowledge alerts;\n"
    "      admin  manages users and tokens; sees no locations unless also\n"
    "             given agent or ops.\n"
    "    A user name has 1 to 64 letters, digits and . _ @ -, and starts\n"
    "    with a letter or a digit; it is the name the audit trail records.\n"
    "    Users and tokens ('lienwatch token') share one set of names.\n"
    "\n"
    "    Passwords have 8 to 1024 bytes and are stored only as an argon2id\n"
    "    hash (libsodium). They are never taken on the command line: give\n"
    "    --password-file FILE, or type them when asked (twice, not echoed;\n"
    "    the question goes to the terminal, /dev/tty, so it works with\n"
    "    standard output redirected).\n"
    "\n"
    "    user add NAME --role ROLE[,ROLE...] [--password-file FILE]\n"
    "        Creates a user with a password.\n"
    "    user passwd NAME [--password-file FILE]\n"
    "        Sets a new password (lienwatch-web ends the user's sessions).\n"
    "    user disable NAME\n"
    "        The user can no longer sign in; their sessions end. Their\n"
    "        cases stay as they are (close them with 'lienwatch case close').\n"
    "    user enable NAME\n"
    "        Undoes disable.\n"
    "    user roles NAME --role ROLE[,ROLE...]\n"
    "        Replaces the user's roles.\n"
    "    user list [--json]\n"
    "        Every user by name: roles, enabled or disabled, whether a\n"
    "        password is set, when created, when last changed.\n"
    "\n"
    "    Every change is recorded in the audit trail (never the password);\n"
    "    changing something to what it already is records nothing.\n"
    "\n"
    "OPTIONS\n"
    "    --role ROLE[,ROLE...]\n"
    "        agent, ops or admin; several separated by commas, or --role\n"
    "        given several times.\n"
    "    --password-file FILE\n"
    "        Read the password from the first line of FILE ('-': standard\n"
    "        input); the line end is not part of it. Keep FILE readable by\n"
    "        you alone, and remove it afterwards.\n"
    "    --json\n"
    "        (list) Print one JSON array of objects: name, roles (an array\n"
    "        of names), disabled (true or false), has_password, created,\n"
    "        updated and password_changed (ISO 8601 UTC, null for never).\n"
    CLI_HELP_CHANGE_OPTIONS
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 database missing, not writable or broken, a name\n"
    "    taken, a password that is too short or too long, no terminal to\n"
    "    ask on; 2 bad options or arguments; 3 no such user; 130 the\n"
    "    password prompt was interrupted.\n"
    "\n"
    "EXAMPLES\n"
    "    lienwatch user add maria --role agent\n"
    "    lienwatch user add ops-desk --role ops,admin --password-file pw.txt\n"
    "    lienwatch user disable maria\n"
    "    lienwatch user list --json | jq -r '.[] | select(.disabled) | .name'\n";
/* clang-format on */

static int cmd_user(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_user = {
    .name = "user",
    .run = cmd_user,
    .synopsis = "add NAME --role ROLE[,ROLE...] [--password-file FILE]\n"
                "    lienwatch [--db PATH] [--as NAME] user passwd NAME "
                "[--password-file FILE]\n"
                "    lienwatch [--db PATH] [--as NAME] user "
                "{disable|enable} NAME\n"
                "    lienwatch [--db PATH] [--as NAME] user roles NAME "
                "--role ROLE[,ROLE...]\n"
                "    lienwatch [--db PATH] user list [--json]",
    .summary = "add, change, disable or list the users of lienwatch-web",
    .help = help,
};

static const struct cli_command cmd_add = {
    .name = "user add",
    .synopsis = "NAME --role ROLE[,ROLE...] [--password-file FILE]",
    .summary = "create a user",
    .help = help,
};
static const struct cli_command cmd_passwd = {
    .name = "user passwd",
    .synopsis = "NAME [--password-file FILE]",
    .summary = "set a user's password",
    .help = help,
};
static const struct cli_command cmd_disable = {
    .name = "user disable",
    .synopsis = "NAME",
    .summary = "stop a user signing in",
    .help = help,
};
static const struct cli_command cmd_enable = {
    .name = "user enable",
    .synopsis = "NAME",
    .summary = "let a disabled user sign in again",
    .help = help,
};
static const struct cli_command cmd_roles = {
    .name = "user roles",
    .synopsis = "NAME --role ROLE[,ROLE...]",
    .summary = "replace a user's roles",
    .help = help,
};
static const struct cli_command cmd_list = {
    .name = "user list",
    .synopsis = "[--json]",
    .summary = "every user",
    .help = help,
};

/* ---- passwords ----------------------------------------------------------- */

/* Set by the signal handler while the terminal does not echo. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Reads the first line of file ('-': standard input) into buf. */
static int read_file(const char *cmd, const char *file, char *buf)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    size_t n;

    if (!f)
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot read %s: %s", file,
                         strerror(errno));
    n = fread(buf, 1, PW_BUF - 1, f);
    buf[n] = '\0';
    if (ferror(f)) {
        if (f != stdin)
            fclose(f);
        return cli_error(cmd, CLI_EXIT_FAIL, "cannot read %s", file);
    }
    if (f != stdin)
        fclose(f);
    if (strlen(buf) != n)
        return cli_error(cmd, CLI_EXIT_FAIL, "%s holds a NUL byte", file);
    /* the first line only; more than the longest password is refused */
    buf[strcspn(buf, "\n")] = '\0';
    n = strlen(buf);
    if (n && buf[n - 1] == '\r')
        buf[n - 1] = '\0';
    if (strlen(buf) > LW_USER_PASSWORD_MAX)
        return cli_error(cmd, CLI_EXIT_FAIL,
                         "the password in %s is longer than %d bytes", file,
                         LW_USER_PASSWORD_MAX);
    return CLI_CONTINUE;
}

/* Asks prompt on the terminal fd with echo off into buf. */
static int ask(const char *cmd, int fd, const char *prompt, char *buf)
{
    struct termios old, quiet;
    struct sigaction sa, oldint, oldterm, oldquit;
    size_t n = 0;
    int rc = CLI_CONTINUE;

    if (tcgetattr(fd, &old) != 0)
        return cli_error(cmd, CLI_EXIT_FAIL,
                         "cannot switch the terminal's echo off: %s",
                         strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: read returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &oldint);
    sigaction(SIGTERM, &sa, &oldterm);
    sigaction(SIGQUIT, &sa, &oldquit);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        rc = cli_error(cmd, CLI_EXIT_FAIL,
                       "cannot switch the terminal's echo off: %s",
                       strerror(errno));
        goto out_signals;
    }
    if (write(fd, prompt, strlen(prompt)) < 0)
        rc = cli_error(cmd, CLI_EXIT_FAIL, "cannot write to the terminal");
    while (rc == CLI_CONTINUE && n < PW_BUF - 1) {
        ssize_t r = read(fd, buf + n, 1);

        if (r < 0 && errno == EINTR && !interrupted)
            continue;
        if (r <= 0 || interrupted) {
            rc = interrupted ? EXIT_INTERRUPTED
                             : cli_error(cmd, CLI_EXIT_FAIL,
                                         "no password read from the terminal");
            break;
        }
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    if (rc == CLI_CONTINUE && n >= PW_BUF - 1)
        rc = cli_error(cmd, CLI_EXIT_FAIL,
                       "the password is longer than %d "
                       "bytes",
                       LW_USER_PASSWORD_MAX);
    tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* the line end is cosmetic */
    }
out_signals:
    sigaction(SIGINT, &oldint, NULL);
    sigaction(SIGTERM, &oldterm, NULL);
    sigaction(SIGQUIT, &oldquit, NULL);
    if (rc == EXIT_INTERRUPTED)
        fprintf(stderr, "lienwatch %s: interrupted; nothing changed\n", cmd);
    return rc;
}

/*
 * The password for name into pw (PW_BUF bytes): from file when given, else
 * asked twice on the terminal. Returns CLI_CONTINUE or the exit code after
 * a message.
 */
static int get_password(const char *cmd, const char *name, const char *file,
                        char *pw)
{
    char again[PW_BUF], prompt[LW_USER_NAME_MAX + 40];
    int fd, rc;

    if (file) {
        rc = read_file(cmd, file, pw);
    } else {
        fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
            return cli_error(cmd, CLI_EXIT_FAIL,
                             "no terminal to ask for the password on (%s): "
                             "give --password-file FILE",
                             strerror(errno));
        snprintf(prompt, sizeof(prompt), "New password for %s: ", name);
        rc = ask(cmd, fd, prompt, pw);
        if (rc == CLI_CONTINUE)
            rc = ask(cmd, fd, "Again: ", again);
        if (rc == CLI_CONTINUE && strcmp(pw, again) != 0)
            rc = cli_error(cmd, CLI_EXIT_FAIL,
                           "the two passwords differ; nothing changed");
        sodium_memzero(again, sizeof(again));
        close(fd);
    }
    if (rc == CLI_CONTINUE && strlen(pw) < LW_USER_PASSWORD_MIN)
        rc = cli_error(cmd, CLI_EXIT_FAIL,
                       "a password has at least %d bytes (this one has %zu)",
                       LW_USER_PASSWORD_MIN, strlen(pw));
    return rc;
}

/* ---- shared -------------------------------------------------------------- */

/* Adds the roles of a --role value to *roles. */
static int take_roles(const struct cli_command *me, const char *arg,
                      unsigned *roles)
{
    unsigned r;

    if (lw_access_roles_parse(arg, &r) != LW_OK)
        return cli_usage_error(me,
                               "--role '%s': roles are agent, ops and admin, "
                               "separated by commas",
                               arg);
    *roles |= r;
    return CLI_CONTINUE;
}

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
                               "'%s' is not a user name: 1 to %d letters, "
                               "digits and . _ @ -, starting with a letter "
                               "or a digit",
                               argv[optind], LW_USER_NAME_MAX);
    *name = argv[optind];
    return CLI_CONTINUE;
}

/* The exit status for a failed change, after its message. */
static int change_failed(const char *cmd, struct lw_store *w, enum lw_err e)
{
    if (e == LW_ERR_NOTFOUND)
        return cli_error(cmd, CLI_EXIT_NOTFOUND, "%s", lw_store_errmsg(w));
    return cli_db_error(cmd, w, e);
}

/* ---- add, passwd --------------------------------------------------------- */

static int run_add_passwd(struct cli *c, int argc, char **argv, bool add)
{
    enum { OPT_ROLE = 0x200, OPT_PWFILE };
    static const struct option opts[] = {
        {"role", required_argument, NULL, OPT_ROLE},
        {"password-file", required_argument, NULL, OPT_PWFILE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = add ? &cmd_add : &cmd_passwd;
    const char *name = NULL, *file = NULL;
    char pw[PW_BUF], rs[32];
    struct lw_audit_rec by;
    struct lw_store *w;
    struct lw_user u;
    unsigned roles = 0;
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_ROLE:
            if (!add)
                return cli_usage_error(me, "--role belongs to 'user add' "
                                           "and 'user roles'");
            rc = take_roles(me, optarg, &roles);
            break;
        case OPT_PWFILE:
            file = optarg;
            rc = CLI_CONTINUE;
            break;
        default:
            rc = cli_common_opt(c, me, opt, argv);
        }
        if (rc != CLI_CONTINUE)
            return rc;
    }
    rc = take_name(me, argc, argv, &name);
    if (rc != CLI_CONTINUE)
        return rc;
    if (add && !roles)
        return cli_usage_error(me, "--role is required (agent, ops, admin)");

    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    /* say what is wrong before asking for a password */
    e = lw_user_get(w, name, &u);
    if (add && e == LW_OK) {
        rc = cli_error(me->name, CLI_EXIT_FAIL, "user %s exists already", name);
        goto out_close;
    }
    if (!add && e == LW_ERR_NOTFOUND) {
        rc = cli_error(me->name, CLI_EXIT_NOTFOUND, "no user %s", name);
        goto out_close;
    }
    if (e != LW_OK && e != LW_ERR_NOTFOUND) {
        rc = cli_db_error(me->name, w, e);
        goto out_close;
    }
    rc = get_password(me->name, name, file, pw);
    if (rc != CLI_CONTINUE)
        goto out_wipe;
    cli_audit_rec(c, &by, NULL, NULL);
    if (add)
        e = lw_user_add(w, name, roles, pw, &by, c->now_ms, NULL);
    else
        e = lw_user_passwd(w, name, pw, &by, c->now_ms);
    if (e != LW_OK) {
        rc = change_failed(me->name, w, e);
        goto out_wipe;
    }
    rc = CLI_EXIT_OK;
    if (add)
        printf("user %s added, roles %s\n", name,
               lw_access_roles_format(roles, rs, sizeof(rs)));
    else
        printf("password of %s changed\n", name);
out_wipe:
    sodium_memzero(pw, sizeof(pw));
out_close:
    lw_store_close(w);
    return rc;
}

static int run_add(struct cli *c, int argc, char **argv)
{
    return run_add_passwd(c, argc, argv, true);
}

static int run_passwd(struct cli *c, int argc, char **argv)
{
    return run_add_passwd(c, argc, argv, false);
}

/* ---- disable, enable, roles ---------------------------------------------- */

static int run_change(struct cli *c, const struct cli_command *me, int argc,
                      char **argv)
{
    enum { OPT_ROLE = 0x200 };
    static const struct option opts[] = {
        {"role", required_argument, NULL, OPT_ROLE},
        CLI_COMMON_OPTIONS,
        {0},
    };
    bool roles_cmd = me == &cmd_roles;
    const char *name = NULL;
    struct lw_audit_rec by;
    struct lw_store *w;
    struct lw_user before, after;
    unsigned roles = 0;
    char rs[32], was[32];
    int opt, rc;
    enum lw_err e;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == OPT_ROLE && roles_cmd)
            rc = take_roles(me, optarg, &roles);
        else if (opt == OPT_ROLE)
            rc = cli_usage_error(me, "--role belongs to 'user add' and "
                                     "'user roles'");
        else
            rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    rc = take_name(me, argc, argv, &name);
    if (rc != CLI_CONTINUE)
        return rc;
    if (roles_cmd && !roles)
        return cli_usage_error(me, "--role is required (agent, ops, admin)");
    w = cli_store_rw(c, me->name);
    if (!w)
        return CLI_EXIT_FAIL;
    cli_audit_rec(c, &by, NULL, NULL);
    e = lw_user_get(w, name, &before);
    if (e == LW_OK && roles_cmd)
        e = lw_user_set_roles(w, name, roles, &by, c->now_ms);
    else if (e == LW_OK)
        e = lw_user_set_disabled(w, name, me == &cmd_disable, &by, c->now_ms);
    if (e == LW_OK)
        e = lw_user_get(w, name, &after);
    if (e != LW_OK) {
        rc = change_failed(me->name, w, e);
    } else {
        rc = CLI_EXIT_OK;
        if (roles_cmd && before.roles == after.roles)
            printf("user %s: roles %s (unchanged)\n", name,
                   lw_access_roles_format(after.roles, rs, sizeof(rs)));
        else if (roles_cmd)
            printf("user %s: roles %s (was %s)\n", name,
                   lw_access_roles_format(after.roles, rs, sizeof(rs)),
                   lw_access_roles_format(before.roles, was, sizeof(was)));
        else
            printf("user %s %s%s\n", name,
                   after.disabled ? "disabled" : "enabled",
                   before.disabled == after.disabled ? " (unchanged)" : "");
    }
    lw_store_close(w);
    return rc;
}

static int run_disable(struct cli *c, int argc, char **argv)
{
    return run_change(c, &cmd_disable, argc, argv);
}

static int run_enable(struct cli *c, int argc, char **argv)
{
    return run_change(c, &cmd_enable, argc, argv);
}

static int run_roles(struct cli *c, int argc, char **argv)
{
    return run_change(c, &cmd_roles, argc, argv);
}

/* ---- list ---------------------------------------------------------------- */

struct listing {
    int w_name; /* name column width */
    int64_t n;  /* users written */
    bool failed;
};

static int measure(void *ctx, const struct lw_user *u)
{
    struct listing *l = ctx;
    int w = (int)strlen(u->name);

    if (w > l->w_name)
        l->w_name = w;
    return 0;
}

static int print_row(void *ctx, const struct lw_user *u)
{
    struct listing *l = ctx;
    char rs[32], t1[LW_TIME_BUFLEN], t2[LW_TIME_BUFLEN];

    printf("%-*s  %-16s  %-8s  %-8s  %-24s  %s\n", l->w_name, u->name,
           lw_access_roles_format(u->roles, rs, sizeof(rs)),
           u->disabled ? "disabled" : "enabled",
           u->has_password ? "set" : "none", cli_time(u->created_ms, t1),
           cli_time(u->updated_ms, t2));
    return cli_row_done(&l->n, &l->failed);
}

/* The roles as a JSON array of names. */
static json_t *roles_json(unsigned roles)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{LW_ROLE_AGENT, "agent"},
                 {LW_ROLE_OPS, "ops"},
                 {LW_ROLE_ADMIN, "admin"}};
    json_t *a = json_array();

    for (size_t i = 0; a && i < sizeof(names) / sizeof(names[0]); i++)
        if (roles & names[i].bit)
            json_array_append_new(a, json_string(names[i].name));
    return a;
}

static int print_json(void *ctx, const struct lw_user *u)
{
    struct listing *l = ctx;
    json_t *j;

    j = json_pack("{s:s, s:o, s:b, s:b, s:o, s:o, s:o}", "name", u->name,
                  "roles", roles_json(u->roles), "disabled", u->disabled,
                  "has_password", u->has_password, "created",
                  cli_json_time(u->created_ms), "updated",
                  cli_json_time(u->updated_ms), "password_changed",
                  cli_json_time(u->password_ms));
    if (!cli_json_item(j, &l->n))
        l->failed = true;
    return l->failed;
}

static enum lw_err walk(struct lw_store *s, enum cli_walk how, void *ctx)
{
    return lw_user_list(s,
                        how == CLI_WALK_JSON      ? print_json
                        : how == CLI_WALK_MEASURE ? measure
                                                  : print_row,
                        ctx);
}

static void header(const void *ctx)
{
    const struct listing *l = ctx;

    printf("%-*s  %-16s  %-8s  %-8s  %-24s  %s\n", l->w_name, "NAME", "ROLES",
           "STATE", "PASSWORD", "CREATED", "UPDATED");
}

static int run_list(struct cli *c, int argc, char **argv)
{
    static const struct cli_listing ls = {walk, header, true};
    struct listing l = {.w_name = (int)strlen("NAME")};

    return cli_list(c, &cmd_list, argc, argv, &ls, &l, &l.n, &l.failed);
}

static int cmd_user(struct cli *c, int argc, char **argv)
{
    static const struct cli_subcommand subs[] = {
        {"add", run_add},         {"passwd", run_passwd},
        {"disable", run_disable}, {"enable", run_enable},
        {"roles", run_roles},     {"list", run_list},
    };

    return cli_dispatch(c, &cli_cmd_user, subs, sizeof(subs) / sizeof(subs[0]),
                        argc, argv);
}
