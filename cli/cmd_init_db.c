/*
 * cmd_init_db.c - 'lienwatch init-db': create or migrate a database.
 *
 * The only command that opens the database writable with migrations (the
 * daemon does the same on start). For administrators preparing a host and for
 * tests; idempotent.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

/* Room for lw_store_open's detail sentences. */
#define ERRBUF 512

static const char help[] =
    "DESCRIPTION\n"
    "    Creates the database file (mode 0600: it holds borrowers'\n"
    "    locations) when it does not exist, and applies every schema\n"
    "    migration this version of lienwatch knows that the database does not\n"
    "    have yet. Running it again changes nothing. lienwatchd does the same\n"
    "    when it starts; use init-db to prepare a host or a test database.\n"
    "    A database written by a newer lienwatch is refused, never changed.\n"
    "\n"
    "    The directory must exist and be writable; run it as the user\n"
    "    lienwatchd runs as, so the daemon can write the file.\n"
    "\n"
    "OPTIONS\n"
    "    --db PATH\n"
    "        As the global option.\n"
    "    -h, --help\n"
    "        Print this help.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 the database is at the current schema version; 1 it could not be\n"
    "    created or migrated (or is newer than this program); 2 bad options.\n"
    "\n"
    "EXAMPLES\n"
    "    sudo -u lienwatch lienwatch init-db\n"
    "    lienwatch init-db --db /tmp/test.db\n";

static int cmd_init_db(struct cli *c, int argc, char **argv);

const struct cli_command cli_cmd_init_db = {
    .name = "init-db",
    .run = cmd_init_db,
    .synopsis = "[--db PATH]",
    .summary = "create or migrate a database (administrators, tests)",
    .help = help,
};

static int cmd_init_db(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {0},
    };
    const struct cli_command *me = &cli_cmd_init_db;
    struct lw_store *w = NULL;
    char err[ERRBUF] = "";
    enum lw_err e;
    int opt, rc, v;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        rc = cli_common_opt(c, me, opt, argv);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind != argc)
        return cli_usage_error(me, "unexpected argument '%s'", argv[optind]);

    e = lw_store_open(&w, c->db_path, 0, err, sizeof(err));
    if (e != LW_OK)
        return cli_error(me->name, CLI_EXIT_FAIL, "%s",
                         err[0] ? err : lw_strerror(e));
    v = lw_store_schema_version(w);
    lw_store_close(w);
    printf("%s: schema version %d\n", c->db_path, v);
    return CLI_EXIT_OK;
}
