/*
 * config.h - lienwatchd configuration: one table of settings, INI files.
 *
 * Every setting is declared once, in lib/config.c's table, with its section,
 * key, type, default and one line of documentation. The same table parses
 * files (inih), applies defaults, prints the documented example file
 * (lienwatchd --dump-config) and feeds the README/man page reference, so a
 * key cannot exist undocumented.
 *
 * Durations are written "90s", "15m", "6h", "2d" and stored in ms.
 */
#ifndef LIENWATCH_CONFIG_H
#define LIENWATCH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lienwatch/err.h"

/* Longest string setting, without the NUL. */
#define LW_CONFIG_STR_MAX 512

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
    char topic_owntracks[LW_CONFIG_STR_MAX + 1]; /* OwnTracks pattern */
    char topic_fix[LW_CONFIG_STR_MAX + 1];      /* gpsd TPV pattern */
    char topic_account[LW_CONFIG_STR_MAX + 1];  /* account status pattern */
    char topic_prefix[LW_CONFIG_STR_MAX + 1];   /* our output prefix */
    int64_t state_interval_ms;                  /* state topic throttle */
    int64_t reconnect_min_ms;                   /* first reconnect delay */
    int64_t reconnect_max_ms;                   /* reconnect back-off cap */
    /* [store] */
    char db_path[LW_CONFIG_STR_MAX + 1];        /* SQLite database file */
    int64_t commit_interval_ms;                 /* 0 = commit per fix */
    int commit_max_fixes;                       /* commit when this many wait */
    int64_t retention_ms;                       /* history kept; 0 = forever */
    int import_max_bytes;                       /* largest file an import reads */
    /* [ingest] */
    int64_t future_tolerance_ms;                /* reject fixes later than this */
    int max_payload_bytes;                      /* reject bigger payloads */
    /* [alerts] */
    int watch_days_past_due;                    /* watched at/over this */
    int64_t offline_after_ms;                   /* default silence allowance */
    int confirm_fixes;                          /* fixes to confirm a crossing */
    double fence_margin_m;                      /* minimum distance from edge */
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
    /* [log] */
    int log_level;                              /* 0 err .. 3 debug */
};

/* Fills c with the defaults of the table. */
void lw_config_defaults(struct lw_config *c);

/*
 * Parses INI file path over the values already in c (call lw_config_defaults
 * first). On failure returns LW_ERR_CONFIG (or LW_ERR_IO when the file cannot
 * be read) and writes "FILE:LINE: what is wrong" into err; c may then be
 * partly changed, so parse into a copy when the old config must survive.
 */
enum lw_err lw_config_load(struct lw_config *c, const char *path, char *err,
                           size_t errlen);

/*
 * Sets one setting from its "section.key" name or its key alone when unique
 * (used by command-line options). Returns LW_ERR_CONFIG with detail in err.
 */
enum lw_err lw_config_set(struct lw_config *c, const char *section,
                          const char *key, const char *value, char *err,
                          size_t errlen);

/* Checks cross-field rules (e.g. certfile needs keyfile). */
enum lw_err lw_config_validate(const struct lw_config *c, char *err,
                               size_t errlen);

/*
 * Writes an example file to f: every key, commented, set to its default,
 * each with its documentation line.
 */
void lw_config_dump(FILE *f);

/* Log level names: "error", "warning", "info", "debug". */
const char *lw_log_level_name(int level);

#endif
