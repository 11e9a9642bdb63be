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

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "lienwatch/access.h"
#include "lienwatch/audit.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/text.h"

/* Exit codes, documented in lienwatch(1). */
#define CLI_EXIT_OK 0       /* success */
#define CLI_EXIT_FAIL 1     /* runtime failure (database error, ...) */
#define CLI_EXIT_USAGE 2    /* bad options or arguments */
#define CLI_EXIT_NOTFOUND 3 /* unknown device, alert, fence ... */
#define CLI_EXIT_DENIED                                                        \
    4 /* a position refused: the vehicle is not                                \
         watched and no --reason was given, or the                             \
         policy denies it */

struct cli {
    const char *db_path;    /* --db, or the default */
    struct lw_store *store; /* opened lazily by cli_store() */
    int64_t now_ms;         /* the clock, read once at start */
    /* Who is asking, for the audit trail (cli/main.c, cli_identify): */
    const char *who;       /* the operating-system account this process
                              runs as (effective uid's login name, or
                              "uid N"): never what the person typed */
    const char *os_detail; /* what else the OS says, unverified: a real
                              uid that differs, SUDO_USER; NULL when
                              nothing */
    const char *as_name;   /* --as NAME, recorded in addition; NULL */
};

/* Longest --as NAME, in bytes. */
#define CLI_AS_MAX 128

/*
 * Fills who and os_detail of c from the operating system (getpwuid of the
 * effective uid; the real uid when it differs; SUDO_USER); the strings are
 * kept in static storage of this function. Never reads $USER or $LOGNAME,
 * which anyone sets.
 */
void cli_identify(struct cli *c);

/*
 * Opens c->store read-only on first use. Prints an error and returns NULL when
 * the database is missing or unreadable.
 */
struct lw_store *cli_store(struct cli *c, const char *cmd);

/* ---- added with the commands (cli/cli.c, cli/main.c) ---- */

/* Milliseconds per second, for ages in seconds. */
#define CLI_MS_PER_S INT64_C(1000)

/* Where the database is when neither --db nor $LIENWATCH_DB says. */
#define CLI_DEFAULT_DB "/var/lib/lienwatch/lienwatch.db"

/* One command: each cli/cmd_<name>.c defines one, cli/main.c lists them. */
struct cli_command {
    const char *name;     /* as typed: "locate" */
    const char *synopsis; /* arguments after the name, for usage lines */
    const char *summary;  /* one line for 'lienwatch --help' */
    const char *help;     /* DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES */
    /* the command itself (cmd_<name>, see the top of this file) */
    int (*run)(struct cli *c, int argc, char **argv);
};

extern const struct cli_command cli_cmd_locate;
extern const struct cli_command cli_cmd_history;
extern const struct cli_command cli_cmd_devices;
extern const struct cli_command cli_cmd_stats;
extern const struct cli_command cli_cmd_audit;
extern const struct cli_command cli_cmd_init_db;
extern const struct cli_command cli_cmd_vehicle;
extern const struct cli_command cli_cmd_account;
extern const struct cli_command cli_cmd_geofence;
extern const struct cli_command cli_cmd_alerts;
extern const struct cli_command cli_cmd_outbox;
extern const struct cli_command cli_cmd_evidence;
extern const struct cli_command cli_cmd_user;
extern const struct cli_command cli_cmd_token;
extern const struct cli_command cli_cmd_case;
extern const struct cli_command cli_cmd_command;
extern const struct cli_command cli_cmd_places;

/* The command named name, or NULL (cli/main.c). */
const struct cli_command *cli_command_find(const char *name);

/* Prints cmd's manual page (NAME, SYNOPSIS, then cmd->help) to f. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/*
 * Options every command accepts besides its own; put CLI_COMMON_OPTIONS in
 * the command's struct option table and "h" in its short options, and hand
 * every getopt_long result the command does not know to cli_common_opt.
 */
#define CLI_OPT_DB 0x100 /* --db PATH */
#define CLI_OPT_AS 0x101 /* --as NAME */
/* clang-format off */
#define CLI_COMMON_OPTIONS                                                     \
    {"db", required_argument, NULL, CLI_OPT_DB},                               \
    {"as", required_argument, NULL, CLI_OPT_AS},                               \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/*
 * The last entries of the OPTIONS section of a command's help (string
 * literals to paste into it): the common options, for a command that only
 * reads, and for one that changes the registry (--as goes into the audit
 * trail).
 */
#define CLI_HELP_COMMON_OPTIONS                                                \
    "    --db PATH, --as NAME\n"                                               \
    "        As the global options.\n"                                         \
    "    -h, --help\n"                                                         \
    "        Print this help.\n"
#define CLI_HELP_CHANGE_OPTIONS                                                \
    "    --db PATH, --as NAME\n"                                               \
    "        As the global options. The audit trail records the change\n"      \
    "        under your operating-system account, and --as NAME beside it.\n"  \
    "    -h, --help\n"                                                         \
    "        Print this help.\n"

/* cli_common_opt's "handled, go on parsing". */
#define CLI_CONTINUE (-1)

/* Prepares getopt_long for a command's argv (GNU reset, own messages). */
void cli_getopt_reset(void);

/*
 * Handles --db, --as, -h/--help and getopt_long's error returns ('?', ':';
 * optstrings start with ':'). Returns CLI_CONTINUE when parsing goes on, or
 * the exit code to return now: CLI_EXIT_OK after printing help, otherwise
 * CLI_EXIT_USAGE after a usage message. cmd may be NULL (global options).
 */
int cli_common_opt(struct cli *c, const struct cli_command *cmd, int opt,
                   char **argv);

/* Prints "lienwatch CMD: MESSAGE", the usage line and a pointer to the help
 * to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "lienwatch CMD: MESSAGE" to stderr; returns code. */
int cli_error(const char *cmd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The audit record of an action of c on device (may be NULL) into *r: the
 * time (c->now_ms), who, os_detail, as_name and via "cli" filled in, every
 * other field NULL for the caller to set (reason, basis, case_id, detail).
 * r's strings are borrowed from c, action and device.
 */
void cli_audit_rec(const struct cli *c, struct lw_audit_rec *r,
                   const char *action, const char *device);

/*
 * Appends r (borrowed) to the audit trail through a second, short-lived
 * writable handle on c->db_path (LW_STORE_NOMIGRATE, so it never gets in
 * lienwatchd's way). *head (may be NULL) gets the new record's id and hash.
 * Returns LW_OK, or the error with why (whylen bytes) saying what failed
 * (the database missing, not writable for this user, locked, ...); prints
 * nothing.
 */
enum lw_err cli_audit_write(struct cli *c, const struct lw_audit_rec *r,
                            struct lw_audit_head *head, char *why,
                            size_t whylen);

/*
 * Records in the audit trail that c ran action on device (reason may be
 * NULL), with cli_audit_rec and cli_audit_write. When that fails (a
 * read-only database for this user, ...) it prints a warning to stderr and
 * returns false; the caller answers anyway.
 */
bool cli_audit(struct cli *c, const char *action, const char *device,
               const char *reason);

/* ISO 8601 UTC of ms into buf (LW_TIME_BUFLEN bytes); "-" when ms is 0. */
const char *cli_time(int64_t ms, char *buf);

/*
 * Parses a --from/--to value into *out: an ISO 8601 time (without a zone it
 * is UTC), a date (from midnight UTC; with upper, to the end of that day),
 * or a duration back from c->now_ms with its unit (90s, 15m, 6h, 2d).
 * False when s is none of these.
 */
bool cli_time_bound(const struct cli *c, const char *s, bool upper,
                    int64_t *out);

/* Human age of an event at ms, seen at now_ms: "3m12s ago", "just now",
 * "5s in the future". buf holds CLI_AGE_BUFLEN bytes. */
#define CLI_AGE_BUFLEN 48
const char *cli_age(int64_t now_ms, int64_t ms, char *buf);

/* v with at most 'decimals' decimals, trailing zeros removed ("12.5",
 * "3"); "" for NAN. buf holds CLI_NUM_BUFLEN bytes. */
#define CLI_NUM_BUFLEN 48
const char *cli_num(double v, int decimals, char *buf);

/* Flags for json_dumps/json_dumpf in every command: doubles with enough
 * significant digits for millimetres at any longitude, never 17 noisy ones. */
#define CLI_JSON_REAL JSON_REAL_PRECISION(12)

/* JSON helpers: a time as ISO 8601 (null when ms is 0), a double (null when
 * NAN). Return new references. */
json_t *cli_json_time(int64_t ms);
json_t *cli_json_real(double v);

/* Dumps j (indented) and a newline to stdout; false on failure (message
 * printed). Does not take the reference. */
bool cli_json_print(const char *cmd, const json_t *j);

/*
 * A JSON array streamed to stdout one compact object per row, so that a
 * listing never holds all its rows in memory. cli_json_item prints j after
 * "[\n  " when *n is 0 (the first item) or ",\n  " otherwise, adds one to
 * *n and drops the reference to j (owned by the callee); a NULL j (out of
 * memory) counts as a failure. Returns false when j is NULL or the output
 * failed. cli_json_end closes an array of n items: "\n]\n", or "[]\n"
 * when there were none.
 */
bool cli_json_item(json_t *j, int64_t *n);
void cli_json_end(int64_t n);

/*
 * For a listing callback after it printed one text row: adds one to *n and
 * sets *failed when stdout has an error. Returns *failed (non-zero stops the
 * listing).
 */
int cli_row_done(int64_t *n, bool *failed);

/* The end of a listing whose rows were written: CLI_EXIT_OK, or, when failed
 * (output or memory failure), CLI_EXIT_FAIL after "cannot write the
 * output". */
int cli_output_status(const char *cmd, bool failed);

/*
 * Parses the options of a command that has --json as its only own option
 * and takes no operands (getopt_long, CLI_COMMON_OPTIONS, short options
 * ":h"); sets *json when it was given. Returns CLI_CONTINUE when the command
 * goes on, otherwise the exit code to return now (help printed, or a usage
 * error).
 */
int cli_parse_json_only(struct cli *c, const struct cli_command *me, int argc,
                        char **argv, bool *json);

/* How a listing walks its rows: as JSON items, or as a table (a first walk
 * measures the columns, the second prints the rows). */
enum cli_walk { CLI_WALK_JSON, CLI_WALK_MEASURE, CLI_WALK_ROWS };

/*
 * A listing command with --json as its only option: `walk` goes over every
 * row once, calling the command's callback for `how` with ctx; `header`
 * prints the table's header between the measuring walk and the rows.
 * `registry` opens the database as the registry commands do
 * (cli_store_registry), otherwise as a reader (cli_store). The callbacks
 * count rows and failures in *n and *failed (cli_json_item, cli_row_done).
 */
struct cli_listing {
    enum lw_err (*walk)(struct lw_store *s, enum cli_walk how, void *ctx);
    void (*header)(const void *ctx);
    bool registry;
};

/* Parses the options, opens the database, writes the listing; returns the
 * exit code (help, usage error, database error, output failure, or OK). */
int cli_list(struct cli *c, const struct cli_command *me, int argc,
             char **argv, const struct cli_listing *ls, void *ctx, int64_t *n,
             bool *failed);

/* ---- registry commands: vehicle, account, geofence, alerts
 * (cli/cli_registry.c) ---- */

/*
 * cli_store, then checks that the database has the registry tables (schema
 * version 2 or later). Prints an error and returns NULL otherwise.
 */
struct lw_store *cli_store_registry(struct cli *c, const char *cmd);

/*
 * Opens a second, writable handle on c->db_path (LW_STORE_NOMIGRATE: never
 * creates or migrates, so it does not get in lienwatchd's way) for a change
 * to the registry, and checks the schema as cli_store_registry does. The
 * caller owns it (lw_store_close). Prints an error and returns NULL when the
 * database is missing, not writable for this user, or too old.
 */
struct lw_store *cli_store_rw(struct cli *c, const char *cmd);

/*
 * Appends the audit record of a change on w (in the caller's transaction,
 * so the record and the change commit together): c did action ("vehicle
 * set", ...) on device (NULL when none), with who, as_name and os_detail as
 * cli_audit_rec fills them; the printf-style detail says what changed and
 * goes into the record's detail field.
 */
enum lw_err cli_audit_change(struct cli *c, struct lw_store *w,
                             const char *action, const char *device,
                             const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prints the store's last error for e as "lienwatch CMD: ..."; returns
 * CLI_EXIT_FAIL. s may be NULL. */
int cli_db_error(const char *cmd, struct lw_store *s, enum lw_err e);

/* One subcommand of a command with several ("vehicle set", ...). */
struct cli_subcommand {
    const char *name; /* as typed: "set" */
    /* the subcommand, given argv from its own name on */
    int (*run)(struct cli *c, int argc, char **argv);
};

/*
 * Runs the subcommand of me named by argv[1] among subs (nsubs entries) with
 * argc - 1, argv + 1. "-h"/"--help" there prints me's help (CLI_EXIT_OK);
 * a missing or unknown name is a usage error that lists the names
 * ("set, import or list"). Returns the exit code.
 */
int cli_dispatch(struct cli *c, const struct cli_command *me,
                 const struct cli_subcommand *subs, size_t nsubs, int argc,
                 char **argv);


/* Terminal columns s takes (East Asian wide characters count 2). */
int cli_text_width(const char *s);

/* Prints s to stdout (f), padded with spaces to width columns. */
void cli_put_padded(const char *s, int width);
void cli_fput_padded(FILE *f, const char *s, int width);


/*
 * A command's words split into options and operands, so that operands such
 * as a latitude of -10.91 are not taken for options: argv (argc words,
 * argv[0] the command's name) holds argv[0] and the option words (with the
 * values of long options that take one) for getopt_long; pos (npos words)
 * holds the operands in order, and every word after "--".
 */
struct cli_args {
    int argc;    /* words in argv */
    char **argv; /* argv[0], then the options, NULL-terminated */
    int npos;    /* operands */
    char **pos;  /* the operands */
};

/* Splits argv by opts (the command's getopt_long table); false when out of
 * memory. The words are borrowed; free the arrays with cli_args_free. */
bool cli_args_split(int argc, char **argv, const struct option *opts,
                    struct cli_args *out);
void cli_args_free(struct cli_args *a);

/* ---- which vehicle a command means: locate, history
 * (cli/cli_registry.c) ---- */

/*
 * The options that name a vehicle; put CLI_VEHICLE_OPTIONS in the command's
 * struct option table and hand its getopt_long results (these and the
 * common ones) to cli_target_common_opt.
 */
#define CLI_OPT_DEVICE 0x110 /* --device ID */
#define CLI_OPT_PLATE 0x111  /* --plate P */
#define CLI_OPT_VIN 0x112    /* --vin V */
/* clang-format off */
#define CLI_VEHICLE_OPTIONS                                                    \
    {"device", required_argument, NULL, CLI_OPT_DEVICE},                       \
    {"plate", required_argument, NULL, CLI_OPT_PLATE},                         \
    {"vin", required_argument, NULL, CLI_OPT_VIN}
/* clang-format on */

/* The synopsis of the vehicle, for usage lines. */
#define CLI_VEHICLE_SYNOPSIS "{VEHICLE|--plate P|--vin V|--device ID}"

/* The help text's paragraph on naming a vehicle, and its options. */
/* clang-format off */
#define CLI_HELP_VEHICLE                                                       \
    "    VEHICLE is what you have in hand: the tracker's device id (as\n"      \
    "    'lienwatch devices' lists it, e.g. alice/phone), the number plate\n"   \
    "    or the VIN. It must name exactly one vehicle. Device ids are\n"       \
    "    compared exactly; plates and VINs without regard to the case of\n"    \
    "    a-z and ignoring spaces, hyphens and dots, so b-lw 123, BLW123 and\n"  \
    "    'B LW-123' all find the plate 'B-LW 123' (other characters, accented\n"\
    "    and non-Latin letters included, must be as registered). When\n"      \
    "    VEHICLE matches several vehicles (a plate that is also another\n"     \
    "    vehicle's device id, two plates that differ only in spacing), they\n" \
    "    are listed (device, plate, VIN, description, what matched) and\n"     \
    "    nothing is looked up: name one with --device.\n"
#define CLI_HELP_VEHICLE_OPTIONS                                               \
    "    --plate P, --vin V, --device ID\n"                                    \
    "        Name the vehicle by its plate only, its VIN only, or its\n"       \
    "        device id only (exactly), instead of VEHICLE.\n"
/* clang-format on */

/* What the user typed to name the vehicle. */
struct cli_target {
    enum lw_vehicle_key by; /* the option used; LW_VEHICLE_BY_ANY: operand */
    const char *text;       /* as typed (borrowed); NULL until given */
};

/*
 * For a command that names one vehicle: takes the getopt_long result opt,
 * --device, --plate or --vin (with optarg) into *t, or one of
 * CLI_COMMON_OPTIONS (cli_common_opt). Returns CLI_CONTINUE or the exit code
 * to return now (CLI_EXIT_USAGE after a message for an empty value or a
 * vehicle named twice).
 */
int cli_target_common_opt(struct cli *c, const struct cli_command *me,
                          struct cli_target *t, int opt, char **argv);

/*
 * Takes the command's operands (npos words) as VEHICLE when no option named
 * it. Returns CLI_CONTINUE, or CLI_EXIT_USAGE after a usage message (no
 * vehicle, or more than one).
 */
int cli_target_operands(const struct cli_command *me, struct cli_target *t,
                        int npos, char **pos);

/*
 * Finds the one device t names in s (lw_registry_vehicle_find) into *m.
 * Returns CLI_CONTINUE when exactly one matched; otherwise prints why to
 * stderr and returns the exit code: CLI_EXIT_NOTFOUND when nothing
 * matched, CLI_EXIT_USAGE when several did (listed: device, plate, VIN,
 * description, what matched), CLI_EXIT_FAIL on a database error.
 */
int cli_target_resolve(const struct cli_command *me, struct lw_store *s,
                       const struct cli_target *t, struct lw_vehicle_match *m);

/*
 * What a person calls the vehicle of m, for titles (KML, GPX): "PLATE,
 * DESCRIPTION (DEVICE)" with the parts that are known, or the device id
 * alone for an unregistered device. Into buf (len bytes); returns buf.
 */
const char *cli_vehicle_label(const struct lw_vehicle_match *m, char *buf,
                              size_t len);

/* ---- who may see a position (cli/cli_access.c) ---- */

/* lienwatchd's configuration file when --config does not name one: the one
 * its systemd unit passes with -c. */
#define CLI_DAEMON_CONF "/etc/lienwatch/lienwatchd.conf"
/* cli_watch_rule.from when lienwatchd recorded the settings. */
#define CLI_RULE_FROM_DB "lienwatchd, recorded in the database"
/* The audit basis of a refused look (beside access.h's granted ones). */
#define CLI_BASIS_REFUSED "refused"
#define CLI_RULE_FROM_LEN 512
#define CLI_RULE_NOTE_LEN 640

/* The settings that decide who may see a position, and where they came
 * from. */
struct cli_watch_rule {
    int days; /* [alerts] watch_days_past_due: watched at or over it */
    enum lw_unwatched_policy policy; /* [privacy] unwatched_access */
    char from[CLI_RULE_FROM_LEN];    /* CLI_RULE_FROM_DB, the file read, or
                                        "" for lienwatchd's defaults */
    char note[CLI_RULE_NOTE_LEN];    /* why the default file could not be
                                        read (defaults used); "" */
};

/*
 * Reads the rule into *r: from the file config (--config; must be readable
 * and valid) when not NULL; else what lienwatchd recorded in s at its start
 * or last SIGHUP (LW_META_* in lienwatch/access.h); else CLI_DAEMON_CONF
 * when it exists (when unreadable, the defaults, with r->note saying why);
 * else the defaults. Returns CLI_CONTINUE, or CLI_EXIT_FAIL after a message
 * (config unusable, out of memory).
 */
int cli_watch_rule_load(const char *cmd, struct lw_store *s, const char *config,
                        struct cli_watch_rule *r);

/* The decision about one vehicle. */
struct cli_access {
    struct cli_watch_rule rule;     /* the settings applied */
    bool has_account;               /* the vehicle's account is known */
    struct lw_account a;            /* that account */
    bool watched;                   /* lw_access_account_watched */
    const char *basis;              /* when granted: the audit basis (static) */
    char detail[CLI_RULE_NOTE_LEN]; /* what the decision rested on, for the
                                       audit record's detail */
};

/*
 * Decides whether c may see positions of vehicle m (borrowed; found in s)
 * through command cmd: lw_access_decide for operations staff (the command
 * runs with the database's file permissions) with the stated reason (NULL
 * for none), the rule of cli_watch_rule_load(config) and the account's
 * state now. Returns CLI_CONTINUE when granted (x->basis, x->detail set;
 * the caller writes the audit record with them, cli_access_record, before
 * it reads a position); CLI_EXIT_DENIED after printing why and recording
 * the refused attempt (basis CLI_BASIS_REFUSED); CLI_EXIT_FAIL on a
 * database error or an unusable config (message printed).
 */
int cli_access_check(struct cli *c, const char *cmd, struct lw_store *s,
                     const struct lw_vehicle_match *m, const char *reason,
                     const char *config, struct cli_access *x);

/*
 * Appends r (borrowed) with cli_audit_write; *head may be NULL. Returns
 * CLI_CONTINUE, or CLI_EXIT_FAIL after saying that the lookup is not
 * answered because it could not be recorded (read-only database, full
 * disk, ...).
 */
int cli_access_record(struct cli *c, const char *cmd,
                      const struct lw_audit_rec *r, struct lw_audit_head *head);

/*
 * cli_access_check, then the audit record of the granted look (action
 * cmd, device, reason, basis, detail) with cli_access_record. Returns
 * CLI_CONTINUE when the position may be shown now, or the exit code.
 */
int cli_access_lookup(struct cli *c, const char *cmd, struct lw_store *s,
                      const struct lw_vehicle_match *m, const char *reason,
                      const char *config, struct cli_access *x);

/*
 * For a lookup whose VEHICLE (typed, borrowed) named no vehicle or several
 * (rc, cli_target_resolve's exit code): records the attempt with what was
 * typed and returns rc, or CLI_EXIT_FAIL when it could not be recorded
 * (message printed).
 */
int cli_access_unresolved(struct cli *c, const char *cmd, const char *typed,
                          const char *reason, int rc);

/* ---- a vehicle with several trackers: locate, history (cli/cli_fleet.c) */

/* The install records come with this schema version. */
#define CLI_FLEET_SCHEMA 9

/* One tracker of the vehicle. */
struct cli_fleet_dev {
    struct lw_install rec;     /* its newest install record in the vehicle */
    struct lw_vehicle_match m; /* its registry row (m.registered) */
    struct cli_access acc;     /* the access decision about it */
};

/* A vehicle named by its VIN, and its trackers. */
struct cli_fleet {
    bool merged;                /* it has several trackers: show them all */
    int64_t id;                 /* fleet id */
    char vin[LW_VIN_MAX + 1];   /* its VIN (loose form), "" */
    char name[LW_VIN_MAX + 32]; /* the VIN, or "id:N" */
    struct cli_fleet_dev *dev;  /* its trackers, current ones first; owned */
    size_t n;                   /* entries in dev */
    size_t cap;                 /* room in dev */
};

/*
 * When t names a vehicle by its VIN (--vin, or a VEHICLE operand that
 * matches VINs only) that has several trackers (now, or with with_past ever
 * had), fills *f with them and sets f->merged; otherwise f->merged is false
 * and the caller goes on with cli_target_resolve. Returns CLI_CONTINUE, or
 * CLI_EXIT_FAIL after a database error (printed). Free with cli_fleet_free.
 */
int cli_fleet_resolve(const struct cli_command *me, struct lw_store *s,
                      const struct cli_target *t, bool with_past,
                      struct cli_fleet *f);
void cli_fleet_free(struct cli_fleet *f);

/*
 * cli_access_check for every tracker of f (a refusal of any is the
 * answer: recorded and printed, nothing shown), then one audit record per
 * tracker (action cmd, its device, the reason, its basis, the detail
 * naming the vehicle and all its trackers). Returns CLI_CONTINUE when the
 * positions may be shown now, or the exit code.
 */
int cli_fleet_access(struct cli *c, const char *cmd, struct lw_store *s,
                     struct cli_fleet *f, const char *reason,
                     const char *config);

/* ---- a vehicle's fixes as files: history, evidence (cli/trackout.c) ---- */

/* The formats of a history. Every format tags each fix with its device (a
 * vehicle's history merges the fixes of its trackers) and marks a fix
 * flagged suspect (suspect.h, "jump"). */
enum cli_track_format {
    CLI_TRACK_CSV,     /* fix_time,lat,lon,speed_mps,course_deg,accuracy_m,
                          device,suspect */
    CLI_TRACK_JSON,    /* an array of objects with those fields (suspect
                          only when flagged) */
    CLI_TRACK_GEOJSON, /* a FeatureCollection: one LineString, one Point
                          per fix (RFC 7946) */
    CLI_TRACK_GPX,     /* GPX 1.1, one track, one segment; <src> device,
                          <type> suspect:KIND */
    CLI_TRACK_KML,     /* KML 2.2: a gx:Track (device and suspect in its
                          ExtendedData arrays) and a last-fix Placemark */
};
#define CLI_TRACK_FORMATS 5

/* "csv", "json", "geojson", "gpx", "kml" (static). */
const char *cli_track_format_name(enum cli_track_format f);

/* The format named s into *f; false for an unknown name. */
bool cli_track_format_parse(const char *s, enum cli_track_format *f);

/* KML: the devices of the track, and each fix's device and flag, kept for
 * the gx:Track's ExtendedData written at its end. */
struct cli_track_kml {
    char (*names)[LW_DEVICE_MAX + 1]; /* devices seen, in order */
    size_t nnames;                    /* entries in names */
    unsigned char *dev;               /* per fix: index into names */
    unsigned char *sus;               /* per fix: 1 when flagged */
    size_t cap;                       /* room in dev and sus */
    size_t start;                     /* the open track's first fix */
};

/* One document being written. */
struct cli_track {
    FILE *f;                          /* where (borrowed) */
    enum cli_track_format fmt;        /* what */
    const struct lw_vehicle_match *m; /* the vehicle (borrowed) */
    int64_t n;                        /* fixes written so far */
    struct lw_fix last;               /* the last fix written */
    struct lw_fix newest;             /* the newest of them (by fix time) */
    json_t *line;                /* GeoJSON: each device's LineString
                                    coordinates and times (trackout.c) */
    json_t *points;              /* GeoJSON: the Point features */
    bool failed;                 /* output or memory failure: stop */
    struct cli_suspect *suspect; /* fixes flagged suspect, by time then
                                    device; owned */
    size_t nsuspect;             /* entries in suspect */
    size_t isuspect;             /* the next one not yet passed */
    struct cli_track_kml kml;    /* KML: per-fix data; owned */
};

/* A fix flagged suspect (suspect.h), as history shows it. */
struct cli_suspect {
    int64_t fix_time_ms;              /* which fix */
    char device[LW_DEVICE_MAX + 1];   /* of which device */
    char kind[16];                    /* "jump" */
};

/*
 * Starts a document of format fmt about vehicle m on f (the head: CSV
 * header, XML prologue and names; now_ms is the GPX metadata time). False
 * on a memory or output failure (t->failed).
 */
bool cli_track_begin(struct cli_track *t, FILE *f, enum cli_track_format fmt,
                     const struct lw_vehicle_match *m, int64_t now_ms);

/* Forgets the suspect flags loaded so far (before the next tracker's pass
 * of a history written a tracker at a time). */
void cli_track_suspects_clear(struct cli_track *t);

/*
 * Loads which of device's fixes between from_ms and to_ms are flagged
 * suspect, so that every format marks them ("suspect": "jump"); call once
 * per device of a merged history. Call after cli_track_begin. Returns
 * LW_OK, LW_ERR_NOMEM or a database error.
 */
enum lw_err cli_track_suspects(struct cli_track *t, struct lw_store *s,
                               const char *device, int64_t from_ms,
                               int64_t to_ms);

/* Writes one fix (an lw_fix_cb: ctx is the struct cli_track); returns
 * non-zero, and sets failed, on a memory or output failure. */
int cli_track_fix(void *ctx, const struct lw_fix *f);

/* Ends the document (the tail; GeoJSON is written whole here) and releases
 * its memory. False when anything failed. */
bool cli_track_end(struct cli_track *t);

/* Releases the memory of a document abandoned before its end. */
void cli_track_release(struct cli_track *t);

/*
 * Writes s escaped for XML text and attribute values. Bytes that are not
 * UTF-8 and characters XML 1.0 does not allow (C0 controls other than tab,
 * newline and carriage return; U+FFFE, U+FFFF) become '?', so the document
 * stays well-formed whatever the database holds. With html, the text is
 * escaped for HTML first (for KML descriptions, which viewers render as
 * HTML: "<b>" must show as "<b>", not turn text bold).
 */
void cli_xml_escape(FILE *f, const char *s, bool html);

/*
 * Writes s as HTML text (element content or a quoted attribute value): &,
 * <, >, " and ' as references; bytes that are not UTF-8, control
 * characters other than tab and newline, DEL, U+FFFE and U+FFFF as U+FFFD.
 */
void cli_html_escape(FILE *f, const char *s);

#endif
