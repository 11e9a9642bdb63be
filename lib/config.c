/*
 * config.c - the one table of lienwatchd settings, and INI parsing (inih).
 *
 * Each setting is declared once in 'settings' below: section, key, type,
 * where it lives in struct lw_config, its default (as text, parsed by the
 * same code as the file), limits and its documentation line. Parsing,
 * defaults, --set, validation of ranges and the example file all come from
 * that table.
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lienwatch/config.h"
#include "lienwatch/mime.h"
#include "lienwatch/timeutil.h"

enum setting_type {
    T_STR,      /* char[LW_CONFIG_STR_MAX + 1] */
    T_INT,      /* int within [min, max] */
    T_DURATION, /* int64_t ms within [min, max]; text "90s", "15m", "6h" */
    T_MS,       /* int64_t ms within [min, max]; text is a whole number of ms */
    T_DOUBLE,   /* double within [min, max] */
    T_LOGLEVEL, /* int 0..3 named error/warning/info/debug */
};

struct setting {
    const char *section; /* INI section */
    const char *key;     /* key within the section */
    enum setting_type type;
    size_t offset;      /* offsetof(struct lw_config, field) */
    const char *defval; /* default, in file syntax */
    double min, max;    /* allowed range for numbers and durations (ms) */
    const char *doc;    /* one line of documentation */
};

#define OFF(f) offsetof(struct lw_config, f)
#define MS_DAY (86400.0 * 1000.0)

static const struct setting settings[] = {
    {"mqtt", "host", T_STR, OFF(mqtt_host), "127.0.0.1", 0, 0,
     "MQTT broker host name or address."},
    {"mqtt", "port", T_INT, OFF(mqtt_port), "1883", 1, 65535,
     "MQTT broker port (8883 is usual for TLS)."},
    {"mqtt", "client_id", T_STR, OFF(mqtt_client_id), "lienwatchd", 0, 0,
     "Fixed MQTT client id; with clean session off the broker queues "
     "messages for it while the daemon is down."},
    {"mqtt", "keepalive_s", T_INT, OFF(mqtt_keepalive_s), "30", 5, 3600,
     "MQTT keepalive interval in seconds."},
    {"mqtt", "qos", T_INT, OFF(mqtt_qos), "1", 0, 2,
     "QoS of the subscriptions (1: the broker redelivers until acked)."},
    {"mqtt", "username", T_STR, OFF(mqtt_username), "", 0, 0,
     "User name for the broker; empty for none."},
    {"mqtt", "password_file", T_STR, OFF(mqtt_password_file), "", 0, 0,
     "File whose first line is the broker password. When empty, the "
     "systemd credential 'mqtt-password' is used if present."},
    {"mqtt", "cafile", T_STR, OFF(mqtt_cafile), "", 0, 0,
     "CA certificate file (PEM); setting it or capath turns TLS on. The "
     "broker's host name is always verified."},
    {"mqtt", "capath", T_STR, OFF(mqtt_capath), "", 0, 0,
     "Directory of CA certificates (alternative to cafile)."},
    {"mqtt", "certfile", T_STR, OFF(mqtt_certfile), "", 0, 0,
     "Client certificate (PEM) for TLS client authentication; needs keyfile."},
    {"mqtt", "keyfile", T_STR, OFF(mqtt_keyfile), "", 0, 0,
     "Private key (PEM) of certfile."},
    {"mqtt", "topic_owntracks", T_STR, OFF(topic_owntracks), "owntracks/+/+",
     0, 0,
     "Subscription for OwnTracks JSON; the '+' levels joined by '/' name "
     "the device. Empty to disable."},
    {"mqtt", "topic_fix", T_STR, OFF(topic_fix), "lienwatch/v1/fix/+", 0, 0,
     "Subscription for gpsd TPV JSON (lw-gpsbridge). Empty to disable."},
    {"mqtt", "topic_account", T_STR, OFF(topic_account),
     "lienwatch/v1/account/+", 0, 0,
     "Subscription for account status from loan servicing. Empty to "
     "disable."},
    {"mqtt", "topic_prefix", T_STR, OFF(topic_prefix), "lienwatch/v1", 0, 0,
     "Prefix of the topics the daemon publishes (state, alert, daemon)."},
    {"mqtt", "state_interval", T_DURATION, OFF(state_interval_ms), "10s", 0,
     3600e3,
     "A device's retained state topic is republished at most this often "
     "for new fixes; alert changes publish it at once. 0 publishes every "
     "change."},
    {"mqtt", "reconnect_min", T_DURATION, OFF(reconnect_min_ms), "1s", 100,
     3600e3, "First delay before reconnecting to the broker."},
    {"mqtt", "reconnect_max", T_DURATION, OFF(reconnect_max_ms), "30s", 100,
     3600e3, "Longest delay between reconnection attempts (back-off cap)."},

    {"store", "db", T_STR, OFF(db_path), "/var/lib/lienwatch/lienwatch.db", 0,
     0, "SQLite database file (created mode 0600, WAL)."},
    {"store", "commit_interval_ms", T_MS, OFF(commit_interval_ms), "50", 0,
     10000,
     "Longest time a received fix waits before its batch is committed. "
     "libmosquitto acknowledges QoS 1 messages before the daemon sees them, "
     "so this is the window a crash can lose. 0 commits every fix at once."},
    {"store", "commit_max_fixes", T_INT, OFF(commit_max_fixes), "1000", 1,
     100000, "Commit as soon as this many fixes wait, whatever the time."},
    {"store", "retention", T_DURATION, OFF(retention_ms), "365d", 0,
     100.0 * 365 * MS_DAY,
     "Fix history older than this (by fix time) is deleted a minute after "
     "start and then hourly, in short steps; the last-known fix of each "
     "device is kept. 0 keeps history forever."},
    {"store", "import_max_bytes", T_INT, OFF(import_max_bytes), "67108864",
     1024, 1024.0 * 1024 * 1024,
     "Largest file 'lienwatch geofence import' and 'account import' read, "
     "in bytes (64 MiB); a larger file or stream is refused, nothing "
     "imported. lienwatch reads it from the file given with --config."},

    {"ingest", "future_tolerance", T_DURATION, OFF(future_tolerance_ms), "5m",
     0, MS_DAY,
     "Fixes whose time is later than now plus this are rejected (clock "
     "bugs, GPS week rollover)."},
    {"ingest", "max_payload_bytes", T_INT, OFF(max_payload_bytes), "65536",
     256, 16 * 1024 * 1024, "Larger payloads are rejected unread."},

    {"alerts", "watch_days_past_due", T_INT, OFF(watch_days_past_due), "1", 0,
     36500,
     "A vehicle is watched (alerts raised) while its account is at least "
     "this many days past due."},
    {"alerts", "offline_after", T_DURATION, OFF(offline_after_ms), "6h",
     1000, 365 * MS_DAY,
     "Default silence allowance: no message for longer raises 'offline'."},
    {"alerts", "confirm_fixes", T_INT, OFF(confirm_fixes), "2", 1, 100,
     "Consecutive fixes on the new side of a fence that confirm a crossing."},
    {"alerts", "fence_margin_m", T_DOUBLE, OFF(fence_margin_m), "50", 0,
     100000,
     "A fix confirms a crossing only when farther from the fence line than "
     "max(its accuracy, this)."},

    {"smtp", "url", T_STR, OFF(smtp_url), "", 0, 0,
     "Mail server for alert e-mail: smtp://host:port (STARTTLS, see "
     "starttls) or smtps://host:port (TLS from the start). Empty: no mail."},
    {"smtp", "starttls", T_STR, OFF(smtp_starttls), "required", 0, 0,
     "For smtp:// URLs: 'required' refuses to send without STARTTLS; 'no' "
     "sends in clear, for a relay on the same machine only."},
    {"smtp", "cafile", T_STR, OFF(smtp_cafile), "", 0, 0,
     "CA certificates (PEM) that verify the mail server; empty for the "
     "system's. The certificate and host name are always verified."},
    {"smtp", "from", T_STR, OFF(smtp_from), "", 0, 0,
     "Sender, 'lienwatch <alerts@example.com>' or an address; its domain "
     "ends every Message-ID. Required with url."},
    {"smtp", "to", T_STR, OFF(smtp_to), "", 0, 0,
     "Recipients of every alert mail, comma-separated. Required with url."},
    {"smtp", "username", T_STR, OFF(smtp_username), "", 0, 0,
     "User name for SMTP AUTH; empty: no AUTH."},
    {"smtp", "password_file", T_STR, OFF(smtp_password_file), "", 0, 0,
     "File whose first line is the SMTP password. When empty, the systemd "
     "credential 'smtp-password' is used if present."},
    {"smtp", "timeout_s", T_INT, OFF(smtp_timeout_s), "60", 1, 3600,
     "Seconds allowed for connecting, for each server reply and for one "
     "mail as a whole."},
    {"smtp", "digest_threshold", T_INT, OFF(smtp_digest_threshold), "20", 1,
     1000000,
     "Storm: when more than this many alerts of one kind were raised within "
     "digest_window_s, the further ones go into a digest mail."},
    {"smtp", "digest_window_s", T_INT, OFF(smtp_digest_window_s), "300", 1,
     86400, "Storm window in seconds (see digest_threshold)."},
    {"smtp", "digest_delay_s", T_INT, OFF(smtp_digest_delay_s), "60", 0,
     86400,
     "A digest goes out at most this many seconds after its first alert, "
     "and at most once per this many seconds while the storm lasts."},
    {"smtp", "retry_initial_s", T_INT, OFF(smtp_retry_initial_s), "5", 1,
     86400,
     "First retry delay after a temporary failure (4xx reply, connection "
     "problem); doubled at each further failure."},
    {"smtp", "retry_max_s", T_INT, OFF(smtp_retry_max_s), "600", 1, 604800,
     "Longest retry delay."},
    {"smtp", "max_age", T_DURATION, OFF(smtp_max_age_ms), "2d", 60e3,
     365 * MS_DAY,
     "Mail not delivered this long after its alert is failed and reported "
     "(log, delivery_failed on MQTT)."},
    {"smtp", "route_geofence_exit", T_STR, OFF(smtp_route_geofence_exit), "",
     0, 0, "More recipients of geofence_exit alerts, comma-separated."},
    {"smtp", "route_geofence_enter", T_STR, OFF(smtp_route_geofence_enter),
     "", 0, 0, "More recipients of geofence_enter alerts."},
    {"smtp", "route_dwell", T_STR, OFF(smtp_route_dwell), "", 0, 0,
     "More recipients of dwell alerts."},
    {"smtp", "route_offline", T_STR, OFF(smtp_route_offline), "", 0, 0,
     "More recipients of offline alerts."},
    {"smtp", "route_back_online", T_STR, OFF(smtp_route_back_online), "", 0,
     0, "More recipients of back_online alerts."},
    {"smtp", "route_power_cut", T_STR, OFF(smtp_route_power_cut), "", 0, 0,
     "More recipients of power_cut alerts."},
    {"smtp", "route_tow", T_STR, OFF(smtp_route_tow), "", 0, 0,
     "More recipients of tow alerts."},
    {"smtp", "route_low_battery", T_STR, OFF(smtp_route_low_battery), "", 0,
     0, "More recipients of low_battery alerts."},

    {"log", "level", T_LOGLEVEL, OFF(log_level), "info", 0, 3,
     "Least severe messages logged: error, warning, info or debug."},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *const level_names[] = {"error", "warning", "info", "debug"};

const char *lw_log_level_name(int level)
{
    if (level < 0 || level > 3)
        return "unknown";
    return level_names[level];
}

/* Finds a setting; section may be NULL to match a key that is unique. */
static const struct setting *find(const char *section, const char *key)
{
    const struct setting *hit = NULL;

    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].key, key) != 0)
            continue;
        if (section) {
            if (strcmp(settings[i].section, section) == 0)
                return &settings[i];
        } else {
            if (hit)
                return NULL; /* ambiguous */
            hit = &settings[i];
        }
    }
    return hit;
}

/* Parses a whole decimal number into *out; false on junk or overflow. */
static bool parse_ll(const char *s, long long *out)
{
    char *end;

    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Applies one textual value to c according to the setting's type. */
static enum lw_err apply(struct lw_config *c, const struct setting *st,
                         const char *value, char *err, size_t errlen)
{
    char *field = (char *)c + st->offset;
    long long ll;
    int64_t ms;
    double d;
    char *end;

    switch (st->type) {
    case T_STR:
        if (strlen(value) > LW_CONFIG_STR_MAX) {
            lw_seterr(err, errlen, "%s.%s is longer than %d characters",
                      st->section, st->key, LW_CONFIG_STR_MAX);
            return LW_ERR_CONFIG;
        }
        strcpy(field, value);
        return LW_OK;
    case T_INT:
        if (!parse_ll(value, &ll)) {
            lw_seterr(err, errlen, "%s.%s: '%s' is not a whole number",
                      st->section, st->key, value);
            return LW_ERR_CONFIG;
        }
        if (ll < st->min || ll > st->max) {
            lw_seterr(err, errlen, "%s.%s: %lld is outside %.0f..%.0f",
                      st->section, st->key, ll, st->min, st->max);
            return LW_ERR_CONFIG;
        }
        *(int *)field = (int)ll;
        return LW_OK;
    case T_MS:
        if (!parse_ll(value, &ll)) {
            lw_seterr(err, errlen,
                      "%s.%s: '%s' is not a whole number of milliseconds",
                      st->section, st->key, value);
            return LW_ERR_CONFIG;
        }
        ms = ll;
        goto range_ms;
    case T_DURATION:
        if (lw_duration_parse(value, &ms) != LW_OK) {
            lw_seterr(err, errlen,
                      "%s.%s: '%s' is not a duration (like 90s, 15m, 6h, 2d)",
                      st->section, st->key, value);
            return LW_ERR_CONFIG;
        }
    range_ms:
        if ((double)ms < st->min || (double)ms > st->max) {
            lw_seterr(err, errlen, "%s.%s: '%s' is out of range", st->section,
                      st->key, value);
            return LW_ERR_CONFIG;
        }
        *(int64_t *)field = ms;
        return LW_OK;
    case T_DOUBLE:
        errno = 0;
        d = strtod(value, &end);
        if (errno || end == value || *end != '\0' || !(d >= st->min) ||
            !(d <= st->max)) {
            lw_seterr(err, errlen, "%s.%s: '%s' is not a number in %g..%g",
                      st->section, st->key, value, st->min, st->max);
            return LW_ERR_CONFIG;
        }
        *(double *)field = d;
        return LW_OK;
    case T_LOGLEVEL:
        for (int i = 0; i <= 3; i++) {
            if (strcasecmp(value, level_names[i]) == 0) {
                *(int *)field = i;
                return LW_OK;
            }
        }
        lw_seterr(err, errlen,
                  "%s.%s: '%s' is not one of error, warning, info, debug",
                  st->section, st->key, value);
        return LW_ERR_CONFIG;
    }
    lw_seterr(err, errlen, "%s.%s: internal error: unknown type", st->section,
              st->key);
    return LW_ERR_CONFIG;
}

void lw_config_defaults(struct lw_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NSETTINGS; i++) {
        /* The table's defaults are valid by construction (test_config). */
        (void)apply(c, &settings[i], settings[i].defval, NULL, 0);
    }
}

enum lw_err lw_config_set(struct lw_config *c, const char *section,
                          const char *key, const char *value, char *err,
                          size_t errlen)
{
    const struct setting *st;

    if (!c || !key || !value) {
        lw_seterr(err, errlen, "missing key or value");
        return LW_ERR_INVAL;
    }
    st = find(section, key);
    if (!st) {
        if (section)
            lw_seterr(err, errlen, "unknown key '%s' in section [%s]", key,
                      section);
        else
            lw_seterr(err, errlen, "unknown or ambiguous key '%s'", key);
        return LW_ERR_CONFIG;
    }
    return apply(c, st, value, err, errlen);
}

/* State shared with the inih callback: the first error wins. */
struct parse_ctx {
    struct lw_config *c; /* config being filled */
    char msg[256];       /* first error, without file and line */
    bool failed;         /* an error was seen */
};

static int ini_cb(void *user, const char *section, const char *name,
                  const char *value)
{
    struct parse_ctx *p = user;
    char err[256];

    if (lw_config_set(p->c, section, name, value, err, sizeof(err)) ==
        LW_OK)
        return 1;
    if (!p->failed) {
        p->failed = true;
        snprintf(p->msg, sizeof(p->msg), "%s", err);
    }
    return 0; /* inih reports this line number */
}

enum lw_err lw_config_load(struct lw_config *c, const char *path, char *err,
                           size_t errlen)
{
    struct parse_ctx p = {.c = c};
    FILE *f;
    int line;

    if (!c || !path) {
        lw_seterr(err, errlen, "no configuration file given");
        return LW_ERR_INVAL;
    }
    f = fopen(path, "r");
    if (!f) {
        lw_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return LW_ERR_IO;
    }
    line = ini_parse_file(f, ini_cb, &p);
    fclose(f);
    if (line == 0 && !p.failed)
        return LW_OK;
    if (line < 0) {
        lw_seterr(err, errlen, "%s: cannot read", path);
        return LW_ERR_IO;
    }
    if (p.failed)
        lw_seterr(err, errlen, "%s:%d: %s", path, line, p.msg);
    else
        lw_seterr(err, errlen,
                  "%s:%d: syntax error (expected [section] or key = value)",
                  path, line);
    return LW_ERR_CONFIG;
}

/* Checks a comma-separated list of mailboxes; at least one when needed. */
static enum lw_err check_addresses(const char *key, const char *list,
                                   bool needed, char *err, size_t errlen)
{
    char item[LW_CONFIG_STR_MAX + 1], addr[LW_MIME_ADDR_MAX + 1];
    const char *p = list;
    int n = 0;

    while (lw_mime_list_next(&p, item, sizeof(item))) {
        if (lw_mime_addr_spec(item, addr, sizeof(addr)) != LW_OK) {
            lw_seterr(err, errlen, "smtp.%s: '%s' is not an e-mail address",
                      key, item);
            return LW_ERR_CONFIG;
        }
        n++;
    }
    if (needed && n == 0) {
        lw_seterr(err, errlen, "smtp.%s must name at least one address "
                               "when smtp.url is set",
                  key);
        return LW_ERR_CONFIG;
    }
    return LW_OK;
}

/* The [smtp] rules: a mail URL needs a sender and recipients. */
static enum lw_err validate_smtp(const struct lw_config *c, char *err,
                                 size_t errlen)
{
    const struct {
        const char *key;   /* route_<kind> */
        const char *value; /* its list */
    } routes[] = {
        {"route_geofence_exit", c->smtp_route_geofence_exit},
        {"route_geofence_enter", c->smtp_route_geofence_enter},
        {"route_dwell", c->smtp_route_dwell},
        {"route_offline", c->smtp_route_offline},
        {"route_back_online", c->smtp_route_back_online},
        {"route_power_cut", c->smtp_route_power_cut},
        {"route_tow", c->smtp_route_tow},
        {"route_low_battery", c->smtp_route_low_battery},
    };
    char addr[LW_MIME_ADDR_MAX + 1];
    enum lw_err e;

    if (strcmp(c->smtp_starttls, "required") != 0 &&
        strcmp(c->smtp_starttls, "no") != 0) {
        lw_seterr(err, errlen, "smtp.starttls: '%s' is not 'required' or 'no'",
                  c->smtp_starttls);
        return LW_ERR_CONFIG;
    }
    if (c->smtp_password_file[0] && !c->smtp_username[0]) {
        lw_seterr(err, errlen, "smtp.password_file needs smtp.username");
        return LW_ERR_CONFIG;
    }
    if (c->smtp_retry_initial_s > c->smtp_retry_max_s) {
        lw_seterr(err, errlen,
                  "smtp.retry_initial_s is larger than smtp.retry_max_s");
        return LW_ERR_CONFIG;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        e = check_addresses(routes[i].key, routes[i].value, false, err,
                            errlen);
        if (e != LW_OK)
            return e;
    }
    e = check_addresses("to", c->smtp_to, c->smtp_url[0] != '\0', err,
                        errlen);
    if (e != LW_OK || !c->smtp_url[0])
        return e;
    if (strncasecmp(c->smtp_url, "smtp://", strlen("smtp://")) != 0 &&
        strncasecmp(c->smtp_url, "smtps://", strlen("smtps://")) != 0) {
        lw_seterr(err, errlen,
                  "smtp.url: '%s' does not start with smtp:// or smtps://",
                  c->smtp_url);
        return LW_ERR_CONFIG;
    }
    if (lw_mime_addr_spec(c->smtp_from, addr, sizeof(addr)) != LW_OK) {
        lw_seterr(err, errlen,
                  "smtp.from: '%s' is not an e-mail address (needed when "
                  "smtp.url is set)",
                  c->smtp_from);
        return LW_ERR_CONFIG;
    }
    return LW_OK;
}

enum lw_err lw_config_validate(const struct lw_config *c, char *err,
                               size_t errlen)
{
    if (!c)
        return LW_ERR_INVAL;
    if (c->mqtt_host[0] == '\0') {
        lw_seterr(err, errlen, "mqtt.host must not be empty");
        return LW_ERR_CONFIG;
    }
    if (c->mqtt_client_id[0] == '\0') {
        lw_seterr(err, errlen,
                  "mqtt.client_id must not be empty (the broker keeps the "
                  "session under it)");
        return LW_ERR_CONFIG;
    }
    if ((c->mqtt_certfile[0] != '\0') != (c->mqtt_keyfile[0] != '\0')) {
        lw_seterr(err, errlen, "mqtt.certfile and mqtt.keyfile go together");
        return LW_ERR_CONFIG;
    }
    if (c->mqtt_certfile[0] && !c->mqtt_cafile[0] && !c->mqtt_capath[0]) {
        lw_seterr(err, errlen,
                  "mqtt.certfile needs mqtt.cafile or mqtt.capath (TLS)");
        return LW_ERR_CONFIG;
    }
    if (c->mqtt_password_file[0] && !c->mqtt_username[0]) {
        lw_seterr(err, errlen, "mqtt.password_file needs mqtt.username");
        return LW_ERR_CONFIG;
    }
    if (!c->topic_owntracks[0] && !c->topic_fix[0]) {
        lw_seterr(err, errlen,
                  "mqtt.topic_owntracks and mqtt.topic_fix are both empty: "
                  "nothing to ingest");
        return LW_ERR_CONFIG;
    }
    if (c->reconnect_min_ms > c->reconnect_max_ms) {
        lw_seterr(err, errlen,
                  "mqtt.reconnect_min is larger than mqtt.reconnect_max");
        return LW_ERR_CONFIG;
    }
    if (c->db_path[0] == '\0') {
        lw_seterr(err, errlen, "store.db must not be empty");
        return LW_ERR_CONFIG;
    }
    return validate_smtp(c, err, errlen);
}

/* Writes text as '#'-comment lines wrapped at about 76 columns. */
static void dump_wrapped(FILE *f, const char *text)
{
    const int width = 74;
    const char *p = text;

    while (*p) {
        int n = (int)strlen(p);
        if (n > width) {
            n = width;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = width;
        }
        fprintf(f, "# %.*s\n", n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

void lw_config_dump(FILE *f)
{
    const char *section = NULL;

    fprintf(f, "# lienwatchd.conf - configuration of the lienwatch daemon.\n"
               "# Every key is present, set to its default, with what it "
               "does.\n"
               "# Durations: 90s, 15m, 6h, 2d. See lienwatchd.conf(5).\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        if (!section || strcmp(section, st->section) != 0) {
            section = st->section;
            fprintf(f, "\n[%s]\n", section);
        }
        fputc('\n', f);
        dump_wrapped(f, st->doc);
        fprintf(f, "%s = %s\n", st->key, st->defval);
    }
}
