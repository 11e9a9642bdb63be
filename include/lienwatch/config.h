/*
 * config.h - lienwatchd configuration: one table of settings, INI files.
 *
 * Every setting is declared once, in lib/config.c's table, with its section,
 * key, type, default, how a running daemon takes a new value (its reload
 * class) and one line of documentation. The same table parses files (inih),
 * applies defaults, checks values, compares two configurations for SIGHUP,
 * prints the documented example file (lienwatchd --dump-config) and through
 * it the lienwatchd.conf(5) page, so a key cannot exist undocumented.
 *
 * Durations are written "90s", "15m", "6h", "2d" and stored in ms.
 *
 * Error texts: functions that can find several problems (lw_config_load,
 * lw_config_validate, lw_config_check) write one problem per line into the
 * caller's buffer, lines separated by '\n' (no trailing newline); when the
 * buffer is too small for all of them the last line says how many more there
 * were. Size the buffer LW_CONFIG_ERR_MAX to keep about 15 of them.
 */
#ifndef LIENWATCH_CONFIG_H
#define LIENWATCH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lienwatch/err.h"

/* Longest string setting, without the NUL. */
#define LW_CONFIG_STR_MAX 512
/* A good size for an error buffer of lw_config_load and lw_config_check. */
#define LW_CONFIG_ERR_MAX 4096
/* Largest configuration file read, in bytes (a guard against -c /dev/zero). */
#define LW_CONFIG_FILE_MAX (1024 * 1024)

struct lw_config {
    /* [mqtt] */
    char mqtt_host[LW_CONFIG_STR_MAX + 1];      /* broker host */
    int mqtt_port;                              /* broker port */
    char mqtt_client_id[LW_CONFIG_STR_MAX + 1]; /* fixed client id */
    int mqtt_keepalive_s;                       /* MQTT keepalive */
    int mqtt_qos;                               /* subscription QoS (0-2) */
    char mqtt_username[LW_CONFIG_STR_MAX + 1];  /* "" = no auth */
    char mqtt_password_file[LW_CONFIG_STR_MAX + 1]; /* file holding password */
    char mqtt_cafile[LW_CONFIG_STR_MAX + 1];    /* TLS CA file; "" = no TLS */
    char mqtt_capath[LW_CONFIG_STR_MAX + 1];    /* TLS CA directory */
    char mqtt_certfile[LW_CONFIG_STR_MAX + 1];  /* TLS client certificate */
    char mqtt_keyfile[LW_CONFIG_STR_MAX + 1];   /* TLS client key */
    char topic_owntracks[LW_CONFIG_STR_MAX + 1]; /* OwnTracks filter; "" off */
    char topic_fix[LW_CONFIG_STR_MAX + 1];      /* gpsd TPV filter; "" off */
    char topic_account[LW_CONFIG_STR_MAX + 1];  /* account filter; "" off */
    char topic_prefix[LW_CONFIG_STR_MAX + 1];   /* our output prefix */
    int64_t state_interval_ms;                  /* state topic throttle */
    int64_t reconnect_min_ms;                   /* first reconnect delay */
    int64_t reconnect_max_ms;                   /* reconnect back-off cap */
    /* [store] */
    char db_path[LW_CONFIG_STR_MAX + 1];        /* SQLite database file */
    int64_t commit_interval_ms;                 /* 0 = commit per fix */
    int commit_max_fixes;                       /* commit when this many wait */
    int64_t retention_ms;                       /* history kept; 0 = forever */
    int64_t retention_delay_ms;                 /* start to first pass */
    int64_t thin_after_ms;                      /* thinned past; 0 = never */
    int64_t thin_interval_ms;                   /* one fix per this, thinned */
    int import_max_bytes;                       /* largest file an import reads */
    int64_t stop_timeout_ms;                    /* commit tries at a stop */
    int64_t reserve_bytes;                      /* reserve file; 0 = none */
    /* [ingest] */
    int64_t future_tolerance_ms;                /* reject fixes later than this */
    int max_payload_bytes;                      /* reject bigger payloads */
    double max_speed_kmh;                       /* gps_jump above; 0 off */
    /* [alerts] */
    int watch_days_past_due;                    /* watched at/over this */
    int64_t offline_after_ms;                   /* default silence allowance */
    int confirm_fixes;                          /* fixes to confirm a crossing */
    double fence_margin_m;                      /* minimum distance from edge */
    int64_t parked_alert_after_ms;              /* parked_long; 0 off */
    /* [smtp] (alert e-mail; lib/outbox.c, daemon/mail.c) */
    char smtp_url[LW_CONFIG_STR_MAX + 1];       /* smtp(s)://; "" = off */
    char smtp_starttls[LW_CONFIG_STR_MAX + 1];  /* "required" or "no" */
    char smtp_cafile[LW_CONFIG_STR_MAX + 1];    /* CA file; "" = system CAs */
    char smtp_from[LW_CONFIG_STR_MAX + 1];      /* From: mailbox */
    char smtp_to[LW_CONFIG_STR_MAX + 1];        /* every alert, a list */
    char smtp_username[LW_CONFIG_STR_MAX + 1];  /* "" = no AUTH */
    char smtp_password_file[LW_CONFIG_STR_MAX + 1]; /* file holding password */
    int smtp_timeout_s;                         /* per connection and reply */
    int smtp_digest_threshold;                  /* storm: more than this ... */
    int smtp_digest_window_s;                   /* ... within this window */
    int smtp_digest_delay_s;                    /* digest at most this late */
    int smtp_retry_initial_s;                   /* first retry delay */
    int smtp_retry_max_s;                       /* back-off cap */
    int64_t smtp_max_age_ms;                    /* pending longer: failed */
    /* more recipients of one alert kind each, comma-separated */
    char smtp_route_geofence_exit[LW_CONFIG_STR_MAX + 1]; /* geofence_exit */
    char smtp_route_geofence_enter[LW_CONFIG_STR_MAX + 1]; /* geofence_enter */
    char smtp_route_dwell[LW_CONFIG_STR_MAX + 1]; /* dwell */
    char smtp_route_offline[LW_CONFIG_STR_MAX + 1]; /* offline */
    char smtp_route_back_online[LW_CONFIG_STR_MAX + 1]; /* back_online */
    char smtp_route_power_cut[LW_CONFIG_STR_MAX + 1]; /* power_cut */
    char smtp_route_tow[LW_CONFIG_STR_MAX + 1]; /* tow */
    char smtp_route_low_battery[LW_CONFIG_STR_MAX + 1]; /* low_battery */
    /* [privacy] */
    char privacy_signing_key_file[LW_CONFIG_STR_MAX + 1]; /* evidence key */
    char privacy_unwatched_access[LW_CONFIG_STR_MAX + 1]; /* reason, deny,
                                                              allow */
    char privacy_publish_unwatched[LW_CONFIG_STR_MAX + 1]; /* yes or no */
    int64_t privacy_purge_after_payoff_ms; /* payoff to purge; 0 = at once */
    /* [places] */
    char places_timezone[LW_CONFIG_STR_MAX + 1]; /* IANA zone; "" system's */
    double places_new_place_km;                 /* new_overnight_place */
    double places_long_move_km;                 /* long_move */
    /* [web] (lienwatch-web; lienwatchd does not use these) */
    char web_listen[LW_CONFIG_STR_MAX + 1];     /* HOST:PORT to listen on */
    char web_certfile[LW_CONFIG_STR_MAX + 1];   /* TLS certificate; "" plain */
    char web_keyfile[LW_CONFIG_STR_MAX + 1];    /* TLS private key */
    char web_allow_plain_http[LW_CONFIG_STR_MAX + 1]; /* "yes" or "no" */
    char web_tile_url[LW_CONFIG_STR_MAX + 1];   /* map tiles {z}/{x}/{y} */
    char web_tile_attribution[LW_CONFIG_STR_MAX + 1]; /* shown on the map */
    char web_static_dir[LW_CONFIG_STR_MAX + 1]; /* the page; "" built-in */
    char web_leaflet_dir[LW_CONFIG_STR_MAX + 1]; /* Debian's libjs-leaflet */
    int64_t web_session_idle_ms;                /* idle session expiry */
    int64_t web_session_max_ms;                 /* absolute session expiry */
    int web_login_failures;                     /* failures before 429 */
    int64_t web_login_window_ms;                /* ... within this window */
    int web_max_connections;                    /* concurrent connections */
    /* [log] */
    int log_level;                              /* 0 err .. 3 debug */
};

/*
 * How a running daemon takes a new value of a setting on SIGHUP. Every row
 * of the table names one. A value that cannot be applied cleanly while the
 * daemon runs is LW_RELOAD_RESTART: SIGHUP then keeps the running value for
 * it (so nothing runs half on the old and half on the new value) and says
 * that the change waits for a restart.
 */
enum lw_config_reload {
    LW_RELOAD_RESTART = 0, /* read once at start; SIGHUP keeps the old value */
    LW_RELOAD_LIVE,        /* read where it is used; counts from its next use */
    LW_RELOAD_LOG,         /* the log level: set again on SIGHUP */
    LW_RELOAD_INGEST,      /* decoding limits, batch size: pass to ingest */
    LW_RELOAD_ALERTS,      /* alert engine thresholds: pass to the engine */
    LW_RELOAD_MAIL,        /* mail server, sender, credentials: re-read */
    LW_RELOAD_CLI,         /* not the daemon's: read by the lienwatch
                              command each time it runs */
    LW_RELOAD_WEB,         /* not the daemon's: read by lienwatch-web at
                              its start */
    LW_RELOAD_COUNT_       /* number of classes; not a class */
};

/* Short name of a reload class ("restart", "live", "log", "ingest",
 * "alerts", "mail", "cli"); "unknown" for anything else. Static, never
 * NULL. */
const char *lw_config_reload_name(enum lw_config_reload r);

/* One setting of the table, as lw_config_key_at describes it. */
struct lw_config_key {
    const char *section;          /* INI section, e.g. "mqtt" */
    const char *key;              /* key within it, e.g. "topic_prefix" */
    const char *defval;           /* default, in file syntax */
    const char *doc;              /* one line of documentation */
    enum lw_config_reload reload; /* how SIGHUP takes a new value */
};

/* Number of settings in the table. */
size_t lw_config_nkeys(void);

/*
 * Describes the i-th setting (table order, 0-based) into *out; the strings
 * are static. Returns false when i is past the end.
 */
bool lw_config_key_at(size_t i, struct lw_config_key *out);

/* Fills c with the defaults of the table. */
void lw_config_defaults(struct lw_config *c);

/*
 * Parses INI file path over the values already in c (call lw_config_defaults
 * first). The whole file is read and every problem reported, each as
 * "PATH:LINE: what is wrong" on its own line of err (see the top of this
 * file). Returns LW_OK, LW_ERR_CONFIG for a file with errors, or LW_ERR_IO
 * when the file cannot be opened or read, is a directory, or is larger than
 * LW_CONFIG_FILE_MAX ("PATH: what"). On failure c may be partly changed, so
 * parse into a copy when the old configuration must survive.
 *
 * Syntax (inih, with three changes): "[section]", "key = value", comments
 * starting with ';' or '#', an inline comment after " ;". Leading blanks
 * are ignored (inih would take an indented line as the continuation of the
 * previous value); a line longer than the parser's limit, a NUL byte and a
 * key outside a section are errors. Values are not range-checked against
 * each other here: call lw_config_check (or lw_config_validate) next.
 */
enum lw_err lw_config_load(struct lw_config *c, const char *path, char *err,
                           size_t errlen);

/*
 * Same as lw_config_load on an open stream f (borrowed, read to its end, not
 * closed); name is used in messages in place of the path.
 */
enum lw_err lw_config_parse(struct lw_config *c, FILE *f, const char *name,
                            char *err, size_t errlen);

/*
 * Sets one setting from its "section.key" name or its key alone when unique
 * (used by command-line options). The value is checked like a file's: type,
 * range, and for topic filters and the topic prefix their form. Returns
 * LW_ERR_CONFIG with one line of detail in err.
 */
enum lw_err lw_config_set(struct lw_config *c, const char *section,
                          const char *key, const char *value, char *err,
                          size_t errlen);

/*
 * Checks what needs no file system: every value within its range, and the
 * rules between settings (certfile needs keyfile; at least one of the
 * OwnTracks and TPV subscriptions; no two subscriptions, nor a subscription
 * and the daemon's own output topics, that one topic could match; mail
 * needs a sender and recipients; ...). Reports every problem, one per line.
 * Returns LW_OK or LW_ERR_CONFIG (LW_ERR_INVAL for c == NULL).
 */
enum lw_err lw_config_validate(const struct lw_config *c, char *err,
                               size_t errlen);

/*
 * The check a start, --check-config and SIGHUP all make: lw_config_validate,
 * then the file system as the calling process sees it. Every file the
 * daemon reads (mqtt password_file, cafile, certfile, keyfile; smtp cafile,
 * password_file) must be a regular file this process can open for reading;
 * mqtt.capath a directory it can read and search; store.db, when it exists,
 * a regular file it can read and write, in a directory (when that exists)
 * where it can create files (SQLite's -wal and -shm).
 *
 * What it cannot know: it checks as the user that calls it, so it speaks
 * for the service user only when run as that user (systemctl reload runs it
 * in the unit; by hand: runuser -u lienwatch -- lienwatchd --check-config);
 * root passes every permission test. It does not see what systemd sets up
 * for the unit alone: credentials (LoadCredential=), the state directory
 * (StateDirectory=, so a missing directory of store.db is not an error) or
 * a read-only file system (ProtectSystem=). It reads no file's content (a
 * certificate that does not parse fails at connection), and a file can
 * change between the check and its use.
 *
 * Returns LW_OK or LW_ERR_CONFIG, every problem on its own line of err.
 */
enum lw_err lw_config_check(const struct lw_config *c, char *err,
                            size_t errlen);

/* One setting whose value differs between two configurations. */
struct lw_config_change {
    const char *section;          /* static, from the table */
    const char *key;              /* static, from the table */
    enum lw_config_reload reload; /* its reload class */
};

/*
 * Compares every setting of a and b. Writes the first max differing
 * settings, in table order, into out (which may be NULL when max is 0) and
 * returns how many settings differ (which may be more than max).
 */
size_t lw_config_diff(const struct lw_config *a, const struct lw_config *b,
                      struct lw_config_change *out, size_t max);

/*
 * Gives every LW_RELOAD_RESTART setting of next the value it has in
 * running: what a SIGHUP may run with. Both borrowed; next is changed.
 */
void lw_config_keep_restart(const struct lw_config *running,
                            struct lw_config *next);

/*
 * Writes the value of setting section.key in c, in file syntax, into buf
 * (len bytes, truncated, always NUL-terminated). Returns LW_ERR_NOTFOUND
 * for an unknown setting.
 */
enum lw_err lw_config_value(const struct lw_config *c, const char *section,
                            const char *key, char *buf, size_t len);

/*
 * Writes an example file to f: every key, commented, set to its default,
 * each with its documentation line and its reload class.
 */
void lw_config_dump(FILE *f);

/* Log level names: "error", "warning", "info", "debug". */
const char *lw_log_level_name(int level);

#endif
