/*
 * cli_import.h - what the import commands (geofence import, account import)
 * share: how much of a file they read, and reading it.
 *
 * An import reads its whole file into memory before checking it, so the
 * file's size is bounded: [store] import_max_bytes of lienwatchd's
 * configuration (default 64 MiB), read from the file named by --config, or
 * --max-bytes (which wins). A regular file over the limit is refused unread;
 * a pipe, a device (/dev/zero) or stdin is read up to one byte past it and
 * then refused, so nothing reads without bound.
 */
#ifndef LIENWATCH_CLI_IMPORT_H
#define LIENWATCH_CLI_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

/* getopt_long codes of the shared options (distinct from commands' own). */
#define CLI_OPT_CONFIG 0x180    /* --config FILE */
#define CLI_OPT_MAX_BYTES 0x181 /* --max-bytes N */
/* clang-format off */
#define CLI_IMPORT_OPTIONS                                                     \
    {"config", required_argument, NULL, CLI_OPT_CONFIG},                       \
    {"max-bytes", required_argument, NULL, CLI_OPT_MAX_BYTES}
/* clang-format on */

/* Their help text, for the OPTIONS section. */
#define CLI_IMPORT_HELP_OPTIONS                                                \
    "    --config FILE\n"                                                      \
    "        (import) Take the size limit from lienwatchd's configuration\n"   \
    "        FILE: [store] import_max_bytes (default 67108864, 64 MiB).\n"     \
    "    --max-bytes N\n"                                                      \
    "        (import) Read at most N bytes (1024 to 1073741824); over-\n"      \
    "        rides --config. A larger FILE is refused, nothing imported.\n"

/* The size limit of one import. */
struct cli_import_limit {
    size_t max_bytes; /* largest file read */
    bool from_option; /* set by --max-bytes (a later --config keeps it) */
};

/* The default limit (the configuration table's default). */
void cli_import_limit_init(struct cli_import_limit *l);

/*
 * Handles CLI_OPT_CONFIG (loads the configuration file optarg, prints its
 * error) or CLI_OPT_MAX_BYTES (checked like the configuration key).
 * Returns CLI_CONTINUE, or CLI_EXIT_USAGE after a message.
 */
int cli_import_opt(const struct cli_command *me, int opt,
                   struct cli_import_limit *l);

/*
 * Reads all of path ("-": stdin) into *text (NUL-terminated, owned by the
 * caller, free()) and its length into *len, refusing more than l->max_bytes.
 * Returns CLI_CONTINUE; CLI_EXIT_FAIL after a message when the file cannot
 * be opened or read (or memory runs out); CLI_EXIT_USAGE after a message
 * when it is a directory or too large. cmd names the command in messages.
 */
int cli_import_read(const char *cmd, const char *path,
                    const struct cli_import_limit *l, char **text, size_t *len);

#endif
