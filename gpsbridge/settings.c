/*
 * settings.c - every lw-gpsbridge setting, declared once in one table.
 *
 * The table gives each setting its configuration-file key, type, default
 * and range. Defaults, the configuration file (read with inih) and the
 * command-line options all go through gb_settings_set, so a value is
 * checked the same way wherever it comes from. Precedence is defaults <
 * file < command line (main.c applies them in that order).
 *
 * Durations are written "90", "90s", "500ms", "5m" or "1h" (a bare number
 * is seconds) and kept in milliseconds.
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <math.h>
#include <mosquitto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridge.h"

enum kind {
    K_STR,      /* char[] of .size bytes */
    K_INT,      /* int */
    K_INT64,    /* int64_t */
    K_DURATION, /* int64_t milliseconds */
    K_DOUBLE,   /* double */
    K_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    K_LEVEL,    /* a syslog level by name (runtime/log.h) */
    K_SYNC,     /* bool spool_sync_full: "full" or "normal" */
    K_GPSD,     /* "HOST[:PORT]" into gpsd_host and gpsd_port */
};

struct setting {
    const char *key;  /* configuration-file name */
    enum kind kind;   /* how to parse and print it */
    size_t off;       /* offset in struct gb_settings */
    size_t size;      /* K_STR: buffer size */
    double min, max;  /* numeric range (durations in seconds) */
    const char *dflt; /* default, parsed like any other value */
};

#define OFF(f) offsetof(struct gb_settings, f)
#define STR(f) OFF(f), sizeof(((struct gb_settings *)0)->f)
#define S_PER_DAY 86400.0

static const struct setting table[] = {
    {"device", K_STR, STR(device), 0, 0, ""},
    {"gpsd", K_GPSD, OFF(gpsd_host), 0, 0, 0, "localhost:2947"},
    {"gpsd_timeout", K_DURATION, OFF(gpsd_timeout_ms), 0, 1, S_PER_DAY, "60s"},
    {"mqtt_host", K_STR, STR(mqtt_host), 0, 0, "localhost"},
    {"mqtt_port", K_INT, OFF(mqtt_port), 0, 1, 65535, "1883"},
    {"mqtt_client_id", K_STR, STR(mqtt_client_id), 0, 0, ""},
    {"mqtt_keepalive", K_DURATION, OFF(mqtt_keepalive_ms), 0, 5, 65535, "60s"},
    {"topic_prefix", K_STR, STR(topic_prefix), 0, 0, "lienwatch/v1/fix"},
    {"command_prefix", K_STR, STR(command_prefix), 0, 0, "lienwatch/v1/cmd"},
    {"max_inflight", K_INT, OFF(max_inflight), 0, 1, 1000, "20"},
    {"mqtt_username", K_STR, STR(mqtt_username), 0, 0, ""},
    {"mqtt_password_file", K_STR, STR(mqtt_password_file), 0, 0, ""},
    {"mqtt_cafile", K_STR, STR(mqtt_cafile), 0, 0, ""},
    {"mqtt_capath", K_STR, STR(mqtt_capath), 0, 0, ""},
    {"mqtt_certfile", K_STR, STR(mqtt_certfile), 0, 0, ""},
    {"mqtt_keyfile", K_STR, STR(mqtt_keyfile), 0, 0, ""},
    {"mqtt_tls_insecure", K_BOOL, OFF(mqtt_tls_insecure), 0, 0, 0, "false"},
    {"spool", K_STR, STR(spool_path), 0, 0, "/var/lib/lw-gpsbridge/spool.db"},
    {"spool_max", K_INT64, OFF(spool_max), 0, 1, 1e9, "100000"},
    {"spool_sync", K_SYNC, OFF(spool_sync_full), 0, 0, 0, "full"},
    {"min_interval", K_DURATION, OFF(min_interval_ms), 0, 0, S_PER_DAY, "5s"},
    {"parked_interval", K_DURATION, OFF(parked_interval_ms), 0, 0, S_PER_DAY,
     "300s"},
    {"turn_angle", K_DOUBLE, OFF(turn_deg), 0, 1, 180, "30"},
    {"moving_speed", K_DOUBLE, OFF(moving_mps), 0, 0.1, 100, "1.5"},
    {"log_level", K_LEVEL, OFF(log_level), 0, 0, 0, "info"},
};

#define NSETTINGS (sizeof table / sizeof table[0])

static const struct setting *find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

/* Parses a duration into ms; false on syntax or range error. */
static bool parse_duration(const char *v, double min_s, double max_s,
                           int64_t *out)
{
    char *end;
    double n, scale = 1000.0;

    errno = 0;
    n = strtod(v, &end);
    if (end == v || errno || !isfinite(n))
        return false;
    if (strcmp(end, "ms") == 0)
        scale = 1.0;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        scale = 1000.0;
    else if (strcmp(end, "m") == 0)
        scale = 60000.0;
    else if (strcmp(end, "h") == 0)
        scale = 3600000.0;
    else
        return false;
    n *= scale;
    if (n < min_s * 1000.0 || n > max_s * 1000.0)
        return false;
    *out = (int64_t)llround(n);
    return true;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Splits "host", "host:port", "[v6]" or "[v6]:port". */
static bool parse_hostport(const char *v, struct gb_settings *s)
{
    const char *host = v, *port = NULL;
    size_t hlen;

    if (*v == '[') {
        const char *close = strchr(v, ']');
        if (!close || (close[1] != '\0' && close[1] != ':'))
            return false;
        host = v + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(v, ':');
        if (colon && strchr(colon + 1, ':'))
            return false; /* a bare IPv6 address needs brackets */
        hlen = colon ? (size_t)(colon - v) : strlen(v);
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof s->gpsd_host)
        return false;
    if (port && (*port == '\0' || strlen(port) >= sizeof s->gpsd_port))
        return false;
    memcpy(s->gpsd_host, host, hlen);
    s->gpsd_host[hlen] = '\0';
    snprintf(s->gpsd_port, sizeof s->gpsd_port, "%s", port ? port : "2947");
    return true;
}

enum lw_err gb_settings_set(struct gb_settings *s, const char *key,
                            const char *value, char *err, size_t errlen)
{
    const struct setting *t = find(key);
    char *p, *end;
    long long n;
    double d;

    if (!t) {
        lw_seterr(err, errlen, "unknown setting '%s'", key);
        return LW_ERR_NOTFOUND;
    }
    p = (char *)s + t->off;
    switch (t->kind) {
    case K_STR:
        if (strlen(value) >= t->size)
            goto bad;
        memcpy(p, value, strlen(value) + 1);
        return LW_OK;
    case K_INT:
    case K_INT64:
        errno = 0;
        n = strtoll(value, &end, 10);
        if (end == value || *end || errno || n < t->min || n > t->max)
            goto bad;
        if (t->kind == K_INT)
            *(int *)(void *)p = (int)n;
        else
            *(int64_t *)(void *)p = n;
        return LW_OK;
    case K_DURATION:
        if (!parse_duration(value, t->min, t->max, (int64_t *)(void *)p))
            goto bad;
        return LW_OK;
    case K_DOUBLE:
        errno = 0;
        d = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(d) || d < t->min ||
            d > t->max)
            goto bad;
        *(double *)(void *)p = d;
        return LW_OK;
    case K_BOOL:
        if (!parse_bool(value, (bool *)p))
            goto bad;
        return LW_OK;
    case K_LEVEL:
        if (!lwrt_log_level_parse(value, (int *)(void *)p))
            goto bad;
        return LW_OK;
    case K_SYNC:
        if (strcmp(value, "full") == 0)
            *(bool *)p = true;
        else if (strcmp(value, "normal") == 0)
            *(bool *)p = false;
        else
            goto bad;
        return LW_OK;
    case K_GPSD:
        if (!parse_hostport(value, s))
            goto bad;
        return LW_OK;
    }
bad:
    switch (t->kind) {
    case K_DURATION:
        lw_seterr(err, errlen,
                  "%s: bad duration '%s' (e.g. 5, 5s, 500ms, 2m, 1h; "
                  "%g s to %g s)",
                  key, value, t->min, t->max);
        break;
    case K_INT:
    case K_INT64:
    case K_DOUBLE:
        lw_seterr(err, errlen, "%s: '%s' is not a number from %g to %g", key,
                  value, t->min, t->max);
        break;
    case K_BOOL:
        lw_seterr(err, errlen, "%s: '%s' is not true or false", key, value);
        break;
    case K_LEVEL:
        lw_seterr(err, errlen,
                  "%s: '%s' is not error, warning, notice, info or debug", key,
                  value);
        break;
    case K_SYNC:
        lw_seterr(err, errlen, "%s: '%s' is not full or normal", key, value);
        break;
    case K_GPSD:
        lw_seterr(err, errlen,
                  "%s: '%s' is not HOST[:PORT] ([ADDR]:PORT "
                  "for IPv6)",
                  key, value);
        break;
    case K_STR:
        lw_seterr(err, errlen, "%s: value too long (at most %zu bytes)", key,
                  t->size - 1);
        break;
    }
    return LW_ERR_CONFIG;
}

void gb_settings_defaults(struct gb_settings *s)
{
    *s = (struct gb_settings){0};
    for (size_t i = 0; i < NSETTINGS; i++) {
        enum lw_err rc =
            gb_settings_set(s, table[i].key, table[i].dflt, NULL, 0);
        (void)rc; /* the defaults are valid by construction */
    }
}

struct load_ctx {
    struct gb_settings *s; /* being filled */
    const char *path;      /* for messages */
    char *err;             /* first error */
    size_t errlen;
    bool failed;
};

static int on_ini(void *user, const char *section, const char *name,
                  const char *value)
{
    struct load_ctx *c = user;
    char detail[512];

    if (c->failed)
        return 0;
    if (section && *section) {
        lw_seterr(c->err, c->errlen,
                  "%s: section [%s]: this file has no sections", c->path,
                  section);
        c->failed = true;
        return 0;
    }
    if (gb_settings_set(c->s, name, value ? value : "", detail,
                        sizeof detail) != LW_OK) {
        lw_seterr(c->err, c->errlen, "%s: %s", c->path, detail);
        c->failed = true;
        return 0;
    }
    return 1;
}

enum lw_err gb_settings_load(struct gb_settings *s, const char *path, char *err,
                             size_t errlen)
{
    struct load_ctx c = {s, path, err, errlen, false};
    int rc = ini_parse(path, on_ini, &c);

    if (rc == -1) {
        lw_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return LW_ERR_IO;
    }
    if (rc == -2)
        return LW_ERR_NOMEM;
    if (c.failed)
        return LW_ERR_CONFIG;
    if (rc > 0) {
        lw_seterr(err, errlen, "%s:%d: syntax error (expected key = value)",
                  path, rc);
        return LW_ERR_CONFIG;
    }
    return LW_OK;
}

/* A device id becomes one MQTT topic level: no '/', '+', '#', spaces or
 * control characters. */
static bool device_ok(const char *d)
{
    if (!*d || strlen(d) > LW_DEVICE_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        if (*p <= ' ' || *p == '/' || *p == '+' || *p == '#' || *p == 0x7f)
            return false;
    return true;
}

enum lw_err gb_settings_check(const struct gb_settings *s, char *err,
                              size_t errlen)
{
    char topic[GB_TOPIC_MAX];
    int n;

    if (!*s->device) {
        lw_seterr(err, errlen,
                  "no device id: give --device ID (or device = "
                  "ID in the configuration file)");
        return LW_ERR_CONFIG;
    }
    if (!device_ok(s->device)) {
        lw_seterr(err, errlen,
                  "device '%s': 1 to %d printable characters without "
                  "spaces, '/', '+' or '#'",
                  s->device, LW_DEVICE_MAX);
        return LW_ERR_CONFIG;
    }
    n = snprintf(topic, sizeof topic, "%s/%s", s->topic_prefix, s->device);
    if (n < 0 || (size_t)n >= sizeof topic || !*s->topic_prefix ||
        mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS) {
        lw_seterr(err, errlen, "topic '%s/%s' is not a valid MQTT topic",
                  s->topic_prefix, s->device);
        return LW_ERR_CONFIG;
    }
    if (*s->command_prefix) {
        n = snprintf(topic, sizeof topic, "%s/%s", s->command_prefix,
                     s->device);
        if (n < 0 || (size_t)n >= sizeof topic ||
            mosquitto_pub_topic_check(topic) != MOSQ_ERR_SUCCESS) {
            lw_seterr(err, errlen,
                      "command topic '%s/%s' is not a valid MQTT topic",
                      s->command_prefix, s->device);
            return LW_ERR_CONFIG;
        }
    }
    if (!*s->spool_path) {
        lw_seterr(err, errlen, "spool: no path");
        return LW_ERR_CONFIG;
    }
    if (!*s->mqtt_host) {
        lw_seterr(err, errlen, "mqtt_host: empty");
        return LW_ERR_CONFIG;
    }
    if ((*s->mqtt_certfile != '\0') != (*s->mqtt_keyfile != '\0')) {
        lw_seterr(err, errlen, "mqtt_certfile and mqtt_keyfile go together");
        return LW_ERR_CONFIG;
    }
    if (*s->mqtt_password_file && !*s->mqtt_username) {
        lw_seterr(err, errlen, "mqtt_password_file needs mqtt_username");
        return LW_ERR_CONFIG;
    }
    return LW_OK;
}

static void print_duration(FILE *f, int64_t ms)
{
    if (ms % 1000 == 0)
        fprintf(f, "%" PRId64 "s", ms / 1000);
    else
        fprintf(f, "%" PRId64 "ms", ms);
}

void gb_settings_print(const struct gb_settings *s, void *stdio_file)
{
    FILE *f = stdio_file;

    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *t = &table[i];
        const char *p = (const char *)s + t->off;

        fprintf(f, "%s = ", t->key);
        switch (t->kind) {
        case K_STR:
            fputs(p, f);
            break;
        case K_INT:
            fprintf(f, "%d", *(const int *)(const void *)p);
            break;
        case K_INT64:
            fprintf(f, "%" PRId64, *(const int64_t *)(const void *)p);
            break;
        case K_DURATION:
            print_duration(f, *(const int64_t *)(const void *)p);
            break;
        case K_DOUBLE:
            fprintf(f, "%g", *(const double *)(const void *)p);
            break;
        case K_BOOL:
            fputs(*(const bool *)p ? "true" : "false", f);
            break;
        case K_LEVEL:
            fputs(lwrt_log_level_name(*(const int *)(const void *)p), f);
            break;
        case K_SYNC:
            fputs(*(const bool *)p ? "full" : "normal", f);
            break;
        case K_GPSD:
            if (strchr(s->gpsd_host, ':'))
                fprintf(f, "[%s]:%s", s->gpsd_host, s->gpsd_port);
            else
                fprintf(f, "%s:%s", s->gpsd_host, s->gpsd_port);
            break;
        }
        fputc('\n', f);
    }
}

void gb_settings_policy(const struct gb_settings *s, struct gb_policy_cfg *out)
{
    out->min_interval_ms = s->min_interval_ms;
    out->parked_interval_ms = s->parked_interval_ms;
    out->turn_deg = s->turn_deg;
    out->moving_mps = s->moving_mps;
}
