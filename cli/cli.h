/*
 * cli.h - shared pieces of the lienwatch command-line tool.
 *
 * cli/main.c parses global options and dispatches to one function per
 * command, each in its own file (cli/cmd_<name>.c):
 *     int cmd_<name>(struct cli *c, int argc, char **argv);
 * argv[0] is the command name; the function returns the process exit code
 * (see CLI_EXIT_*), printing errors as "lienwatch <cmd>: <what>" to stderr.
 */
#ifndef LIENWATCH_CLI_H
#define LIENWATCH_CLI_H

#include <stdint.h>

#include "lienwatch/store.h"

/* Exit codes, documented in lienwatch(1). */
#define CLI_EXIT_OK 0       /* success */
#define CLI_EXIT_FAIL 1     /* runtime failure (database error, ...) */
#define CLI_EXIT_USAGE 2    /* bad options or arguments */
#define CLI_EXIT_NOTFOUND 3 /* unknown device, alert, fence ... */

struct cli {
    const char *db_path;   /* --db, or the default */
    struct lw_store *store; /* opened lazily by cli_store() */
    int64_t now_ms;        /* the clock, read once at start */
    const char *who;       /* --as NAME or $USER, for the audit trail */
};

/*
 * Opens c->store read-only on first use. Prints an error and returns NULL when
 * the database is missing or unreadable.
 */
struct lw_store *cli_store(struct cli *c, const char *cmd);

#endif
