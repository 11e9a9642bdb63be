/*
 * config.c - the one table of lienwatchd settings, INI parsing (inih), the
 * checks a configuration must pass, and the comparison SIGHUP makes.
 *
 * Each setting is declared once in 'settings' below: section, key, type,
 * where it lives in struct lw_config, its default (as text, parsed by the
 * same code as the file), limits, its reload class and its documentation
 * line. Parsing, defaults, --set, validation, the file checks, the SIGHUP
 * diff and the example file all come from that table; adding a key is adding
 * one row (and its field in struct lw_config).
 *
 * The type says what a string is, so that the checks follow from the table:
 * a T_FILE is opened for reading by the daemon, a T_TOPIC is a subscription
 * filter whose '+' levels name the device (lib/decode.c, lw_topic_match).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lienwatch/config.h"
#include "lienwatch/mime.h"
#include "lienwatch/timeutil.h"
#include "lienwatch/tz.h"

enum setting_type {
    T_STR,      /* char[LW_CONFIG_STR_MAX + 1], free text */
    T_FILE,     /* a file the daemon reads; "" = none */
    T_DIR,      /* a directory the daemon reads; "" = none */
    T_DB,       /* the database: a file the daemon creates, reads, writes */
    T_TOPIC,    /* subscription filter with '+' levels; "off" stored as "" */
    T_PREFIX,   /* topic prefix of what the daemon publishes */
    T_INT,      /* int within [min, max] */
    T_DURATION, /* int64_t ms within [min, max]; text "90s", "15m", "6h" */
    T_MS,       /* int64_t ms within [min, max]; text is a whole number of ms */
    T_SIZE,     /* int64_t bytes within [min, max]; text "0", "512K", "64M" */
    T_DOUBLE,   /* double within [min, max] */
    T_LOGLEVEL, /* int 0..3 named error/warning/info/debug */
};

struct setting {
    const char *section;          /* INI section */
    const char *key;              /* key within the section */
    enum setting_type type;       /* what the value is */
    size_t offset;                /* offsetof(struct lw_config, field) */
    const char *defval;           /* default, in file syntax */
    double min, max;              /* range of numbers and durations (ms) */
    enum lw_config_reload reload; /* how SIGHUP takes a new value */
    const char *doc;              /* one line of documentation */
};

#define OFF(f) offsetof(struct lw_config, f)
#define MS_DAY (86400.0 * 1000.0)
/* Reload classes, short for the table (see config.h). */
#define RESTART LW_RELOAD_RESTART
#define LIVE LW_RELOAD_LIVE
#define LOG LW_RELOAD_LOG
#define INGEST LW_RELOAD_INGEST
#define ALERTS LW_RELOAD_ALERTS
#define MAIL LW_RELOAD_MAIL
#define CLI LW_RELOAD_CLI
#define WEB LW_RELOAD_WEB
/* The word that turns a subscription off. */
#define TOPIC_OFF "off"

/*
 * Reload classes, decided per key: RESTART where the value is taken once
 * (the MQTT connection, its will and subscriptions, the database), LIVE
 * where the daemon reads d->cfg each time it needs the value, CLI for the
 * keys only the lienwatch command reads (lienwatchd ignores a change), the
 * others where SIGHUP has a step that passes the new value on
 * (daemon/main.c).
 */
static const struct setting settings[] = {
    {"mqtt", "host", T_STR, OFF(mqtt_host), "127.0.0.1", 0, 0, RESTART,
     "MQTT broker host name or address."},
    {"mqtt", "port", T_INT, OFF(mqtt_port), "1883", 1, 65535, RESTART,
     "MQTT broker port (8883 is usual for TLS)."},
    {"mqtt", "client_id", T_STR, OFF(mqtt_client_id), "lienwatchd", 0, 0,
     RESTART,
     "Fixed MQTT client id; with clean session off the broker queues "
     "messages for it while the daemon is down."},
    {"mqtt", "keepalive_s", T_INT, OFF(mqtt_keepalive_s), "30", 5, 3600,
     RESTART, "MQTT keepalive interval in seconds."},
    {"mqtt", "qos", T_INT, OFF(mqtt_qos), "1", 0, 2, RESTART,
     "QoS of the subscriptions (1: the broker redelivers until acked)."},
    {"mqtt", "username", T_STR, OFF(mqtt_username), "", 0, 0, RESTART,
     "User name for the broker; empty for none."},
    {"mqtt", "password_file", T_FILE, OFF(mqtt_password_file), "", 0, 0,
     RESTART,
     "File whose first line is the broker password, read at start. When "
     "empty, the systemd credential 'mqtt-password' is used if present."},
    {"mqtt", "cafile", T_FILE, OFF(mqtt_cafile), "", 0, 0, RESTART,
     "CA certificate file (PEM); setting it or capath turns TLS on. The "
     "broker's host name is always verified."},
    {"mqtt", "capath", T_DIR, OFF(mqtt_capath), "", 0, 0, RESTART,
     "Directory of CA certificates (alternative to cafile)."},
    {"mqtt", "certfile", T_FILE, OFF(mqtt_certfile), "", 0, 0, RESTART,
     "Client certificate (PEM) for TLS client authentication; needs keyfile."},
    {"mqtt", "keyfile", T_FILE, OFF(mqtt_keyfile), "", 0, 0, RESTART,
     "Private key (PEM) of certfile."},
    {"mqtt", "topic_owntracks", T_TOPIC, OFF(topic_owntracks), "owntracks/+/+",
     0, 0, RESTART,
     "Subscription for OwnTracks JSON; the '+' levels joined by '/' name "
     "the device ('#' is not allowed). 'off' to disable."},
    {"mqtt", "topic_fix", T_TOPIC, OFF(topic_fix), "lienwatch/v1/fix/+", 0, 0,
     RESTART,
     "Subscription for gpsd TPV JSON (lw-gpsbridge); '+' levels name the "
     "device. 'off' to disable."},
    {"mqtt", "topic_account", T_TOPIC, OFF(topic_account),
     "lienwatch/v1/account/+", 0, 0, RESTART,
     "Subscription for account status from loan servicing; '+' levels name "
     "the account. 'off' to disable."},
    {"mqtt", "topic_prefix", T_PREFIX, OFF(topic_prefix), "lienwatch/v1", 0,
     0, RESTART,
     "Prefix of the topics the daemon publishes (state, alert, daemon, "
     "mail)."},
    {"mqtt", "state_interval", T_DURATION, OFF(state_interval_ms), "10s", 0,
     3600e3, LIVE,
     "A device's retained state topic is republished at most this often "
     "for new fixes; alert changes publish it at once. 0 publishes every "
     "change."},
    {"mqtt", "reconnect_min", T_DURATION, OFF(reconnect_min_ms), "1s", 100,
     3600e3, RESTART, "First delay before reconnecting to the broker."},
    {"mqtt", "reconnect_max", T_DURATION, OFF(reconnect_max_ms), "30s", 100,
     3600e3, RESTART,
     "Longest delay between reconnection attempts (back-off cap)."},

    {"store", "db", T_DB, OFF(db_path), "/var/lib/lienwatch/lienwatch.db", 0,
     0, RESTART, "SQLite database file (created mode 0600, WAL)."},
    {"store", "commit_interval_ms", T_MS, OFF(commit_interval_ms), "50", 0,
     10000, LIVE,
     "Longest time a received fix waits before its batch is committed. "
     "libmosquitto acknowledges QoS 1 messages before the daemon sees them, "
     "so this is the window a crash can lose. 0 commits every fix at once."},
    {"store", "commit_max_fixes", T_INT, OFF(commit_max_fixes), "1000", 1,
     100000, INGEST,
     "Commit as soon as this many fixes wait, whatever the time."},
    {"store", "retention", T_DURATION, OFF(retention_ms), "365d", 0,
     100.0 * 365 * MS_DAY, LIVE,
     "Fix history older than this (by fix time) is deleted a minute after "
     "start and then hourly, in short steps; the last-known fix of each "
     "device is kept. 0 keeps history forever."},
    {"store", "stop_timeout", T_DURATION, OFF(stop_timeout_ms), "10s", 0,
     3600e3, LIVE,
     "At a stop, how long the daemon keeps trying to commit what it received "
     "(a locked or full database) before it writes it to a spill file beside "
     "the database (DB.spill, mode 0600, fsync'd), merged at the next start "
     "before anything is read from the broker. Keep it well below the "
     "unit's TimeoutStopSec (30 s), after which systemd kills the daemon."},
    {"store", "reserve", T_SIZE, OFF(reserve_bytes), "64M", 0,
     1024.0 * 1024 * 1024 * 1024, RESTART,
     "Bytes kept in a reserve file beside the database (DB.reserve): "
     "released when a commit fails for lack of space, so that what is in "
     "memory can be committed, and made again when the space is back. 0 "
     "keeps none."},
    {"store", "retention_delay", T_DURATION, OFF(retention_delay_ms), "1m",
     0, MS_DAY, RESTART,
     "Time after start before the first thinning and retention pass (then "
     "hourly)."},
    {"store", "thin_after", T_DURATION, OFF(thin_after_ms), "90d", 0,
     100.0 * 365 * MS_DAY, LIVE,
     "Fix history older than this (by fix time) is thinned before "
     "retention runs: at most one fix per thin_interval per device is kept, "
     "besides the first and last fix of each stop and the last-known fix; "
     "each fix is judged once. 0 never thins."},
    {"store", "thin_interval", T_DURATION, OFF(thin_interval_ms), "1h", 1000,
     30.0 * MS_DAY, LIVE,
     "What thinned history keeps: one fix per this much time per device."},
    {"store", "import_max_bytes", T_INT, OFF(import_max_bytes), "67108864",
     1024, 1024.0 * 1024 * 1024, LIVE,
     "Largest file 'lienwatch geofence import' and 'account import' read, "
     "in bytes (64 MiB); a larger file or stream is refused, nothing "
     "imported. lienwatch reads it from the file given with --config."},

    {"ingest", "future_tolerance", T_DURATION, OFF(future_tolerance_ms), "5m",
     0, MS_DAY, INGEST,
     "Fixes whose time is later than now plus this are rejected (clock "
     "bugs, GPS week rollover)."},
    {"ingest", "max_payload_bytes", T_INT, OFF(max_payload_bytes), "65536",
     256, 16 * 1024 * 1024, INGEST,
     "Larger payloads are rejected (too_large) without being decoded; "
     "libmosquitto has read them by then: the broker's max_packet_size keeps "
     "them off the wire."},
    {"ingest", "max_speed_kmh", T_DOUBLE, OFF(max_speed_kmh), "300", 0, 100000,
     ALERTS,
     "A fix implying a faster move than this from the previous accepted fix "
     "(distance less both accuracies, both under 100 m) is a suspect jump: "
     "it moves neither the last-known fix nor the geofence state until the "
     "next fix confirms it, and raises gps_jump (at most hourly per "
     "vehicle). 0 turns the check off."},

    {"alerts", "watch_days_past_due", T_INT, OFF(watch_days_past_due), "1", 1,
     36500, ALERTS,
     "A vehicle is watched (alerts raised, its position shown without a "
     "stated reason) while its account is at least this many days past due "
     "and not paid off or closed. At least 1: an account that is not late "
     "is never watched."},
    {"alerts", "offline_after", T_DURATION, OFF(offline_after_ms), "6h",
     1000, 365 * MS_DAY, ALERTS,
     "Default silence allowance: no message for longer raises 'offline'."},
    {"alerts", "confirm_fixes", T_INT, OFF(confirm_fixes), "2", 1, 100,
     ALERTS,
     "Consecutive fixes on the new side of a fence that confirm a crossing."},
    {"alerts", "fence_margin_m", T_DOUBLE, OFF(fence_margin_m), "50", 0,
     100000, ALERTS,
     "A fix confirms a crossing only when farther from the fence line than "
     "max(its accuracy, this)."},
    {"alerts", "parked_alert_after", T_DURATION, OFF(parked_alert_after_ms),
     "7d", 0, 3650 * MS_DAY, ALERTS,
     "A watched vehicle whose tracker keeps reporting from within 200 m of "
     "where it stopped for this long raises parked_long (hidden, abandoned "
     "or stored), once per stay. 0 turns it off."},

    {"smtp", "url", T_STR, OFF(smtp_url), "", 0, 0, MAIL,
     "Mail server for alert e-mail: smtp://host:port (STARTTLS, see "
     "starttls) or smtps://host:port (TLS from the start). Empty: no mail."},
    {"smtp", "starttls", T_STR, OFF(smtp_starttls), "required", 0, 0, MAIL,
     "For smtp:// URLs: 'required' refuses to send without STARTTLS; 'no' "
     "sends in clear, for a relay on the same machine only."},
    {"smtp", "cafile", T_FILE, OFF(smtp_cafile), "", 0, 0, MAIL,
     "CA certificates (PEM) that verify the mail server; empty for the "
     "system's. The certificate and host name are always verified."},
    {"smtp", "from", T_STR, OFF(smtp_from), "", 0, 0, MAIL,
     "Sender, 'lienwatch <alerts@example.com>' or an address; its domain "
     "ends every Message-ID. Required with url."},
    {"smtp", "to", T_STR, OFF(smtp_to), "", 0, 0, LIVE,
     "Recipients of every alert mail, comma-separated. Required with url."},
    {"smtp", "username", T_STR, OFF(smtp_username), "", 0, 0, MAIL,
     "User name for SMTP AUTH; empty: no AUTH."},
    {"smtp", "password_file", T_FILE, OFF(smtp_password_file), "", 0, 0,
     MAIL,
     "File whose first line is the SMTP password, read at start and on "
     "SIGHUP. When empty, the systemd credential 'smtp-password' is used if "
     "present."},
    {"smtp", "timeout_s", T_INT, OFF(smtp_timeout_s), "60", 1, 3600, MAIL,
     "Seconds allowed for connecting, for each server reply and for one "
     "mail as a whole."},
    {"smtp", "digest_threshold", T_INT, OFF(smtp_digest_threshold), "20", 1,
     1000000, LIVE,
     "Storm: when more than this many alerts of one kind were raised within "
     "digest_window_s, the further ones go into a digest mail."},
    {"smtp", "digest_window_s", T_INT, OFF(smtp_digest_window_s), "300", 1,
     86400, LIVE, "Storm window in seconds (see digest_threshold)."},
    {"smtp", "digest_delay_s", T_INT, OFF(smtp_digest_delay_s), "60", 0,
     86400, LIVE,
     "A digest goes out at most this many seconds after its first alert, "
     "and at most once per this many seconds while the storm lasts."},
    {"smtp", "retry_initial_s", T_INT, OFF(smtp_retry_initial_s), "5", 1,
     86400, LIVE,
     "First retry delay after a temporary failure (4xx reply, connection "
     "problem); doubled at each further failure."},
    {"smtp", "retry_max_s", T_INT, OFF(smtp_retry_max_s), "600", 1, 604800,
     LIVE, "Longest retry delay."},
    {"smtp", "max_age", T_DURATION, OFF(smtp_max_age_ms), "2d", 60e3,
     365 * MS_DAY, LIVE,
     "Mail not delivered this long after its alert is failed and reported "
     "(log, delivery_failed on MQTT)."},
    {"smtp", "route_geofence_exit", T_STR, OFF(smtp_route_geofence_exit), "",
     0, 0, LIVE, "More recipients of geofence_exit alerts, comma-separated."},
    {"smtp", "route_geofence_enter", T_STR, OFF(smtp_route_geofence_enter),
     "", 0, 0, LIVE, "More recipients of geofence_enter alerts."},
    {"smtp", "route_dwell", T_STR, OFF(smtp_route_dwell), "", 0, 0, LIVE,
     "More recipients of dwell alerts."},
    {"smtp", "route_offline", T_STR, OFF(smtp_route_offline), "", 0, 0, LIVE,
     "More recipients of offline alerts."},
    {"smtp", "route_back_online", T_STR, OFF(smtp_route_back_online), "", 0,
     0, LIVE, "More recipients of back_online alerts."},
    {"smtp", "route_power_cut", T_STR, OFF(smtp_route_power_cut), "", 0, 0,
     LIVE, "More recipients of power_cut alerts."},
    {"smtp", "route_tow", T_STR, OFF(smtp_route_tow), "", 0, 0, LIVE,
     "More recipients of tow alerts."},
    {"smtp", "route_low_battery", T_STR, OFF(smtp_route_low_battery), "", 0,
     0, LIVE, "More recipients of low_battery alerts."},

    {"privacy", "signing_key_file", T_STR, OFF(privacy_signing_key_file), "", 0,
     0, CLI,
     "Ed25519 secret key that signs evidence bundles ('lienwatch evidence "
     "keygen' writes one); read by 'lienwatch evidence' when --key is not "
     "given."},
    {"privacy", "unwatched_access", T_STR, OFF(privacy_unwatched_access),
     "reason", 0, 0, LIVE,
     "What a look at the position of a vehicle that is not watched needs: "
     "'reason' (a stated reason, recorded as an override), 'deny' (refused, "
     "reason or not) or 'allow' (recorded). lienwatchd records the value "
     "in the database at start and on SIGHUP, where 'lienwatch' reads it."},
    {"privacy", "publish_unwatched", T_STR, OFF(privacy_publish_unwatched),
     "no", 0, 0, LIVE,
     "'yes' publishes the position of every vehicle on the retained state "
     "topic; 'no' (the default) publishes it only for watched vehicles, "
     "the others showing watched false, last heard and no fix."},
    {"privacy", "purge_after_payoff", T_DURATION,
     OFF(privacy_purge_after_payoff_ms), "30d", 0, 10.0 * 365 * MS_DAY, LIVE,
     "How long after an account is paid off or closed the history and "
     "last-known positions of its vehicles are deleted (0: at once). From "
     "payoff on, their fixes are counted as ignored.paid_off and not "
     "stored."},

    {"places", "timezone", T_STR, OFF(places_timezone), "", 0, 0, CLI,
     "Time zone (an IANA name such as Europe/Berlin) of the local time in "
     "which 'lienwatch places' counts nights (a stop covering 03:00) and "
     "usual hours; empty: the system's (/etc/localtime). 'lienwatch places "
     "--tz ZONE' overrides it. lienwatchd counts nights in it for "
     "new_overnight_place."},
    {"places", "new_place_km", T_DOUBLE, OFF(places_new_place_km), "5", 0,
     20000, LIVE,
     "A watched vehicle's night (a stop covering 03:00 local) farther than "
     "this from every place where it spent a night in the 60 days before "
     "raises new_overnight_place; nights before it was watched are the "
     "baseline. 0 turns it off."},
    {"places", "long_move_km", T_DOUBLE, OFF(places_long_move_km), "100", 0,
     20000, LIVE,
     "A watched vehicle farther than this from its usual night place raises "
     "long_move, once per trip. 0 turns it off."},
    {"web", "listen", T_STR, OFF(web_listen), "127.0.0.1:8080", 0, 0, WEB,
     "Address and port lienwatch-web listens on, HOST:PORT ([::1]:8080 for "
     "IPv6). Without certfile only a loopback address is accepted (for a "
     "reverse proxy that terminates TLS), unless allow_plain_http = yes."},
    {"web", "certfile", T_FILE, OFF(web_certfile), "", 0, 0, WEB,
     "TLS certificate chain (PEM) of lienwatch-web; needs keyfile. Empty: "
     "plain HTTP."},
    {"web", "keyfile", T_FILE, OFF(web_keyfile), "", 0, 0, WEB,
     "Private key (PEM) of the web certificate."},
    {"web", "allow_plain_http", T_STR, OFF(web_allow_plain_http), "no", 0, 0,
     WEB,
     "'yes' lets lienwatch-web serve plain HTTP on a non-loopback address: "
     "passwords and locations then cross the network in clear."},
    {"web", "tile_url", T_STR, OFF(web_tile_url),
     "https://tile.openstreetmap.org/{z}/{x}/{y}.png", 0, 0, WEB,
     "Map tiles of the page ({z}/{x}/{y}); empty: no tiles (markers on a "
     "blank map). The page's Content-Security-Policy allows this host."},
    {"web", "tile_attribution", T_STR, OFF(web_tile_attribution),
     "(c) OpenStreetMap contributors", 0, 0, WEB,
     "Attribution shown on the map for the tiles."},
    {"web", "static_dir", T_DIR, OFF(web_static_dir), "", 0, 0, WEB,
     "Directory of the page's files; empty: where make install put them."},
    {"web", "leaflet_dir", T_STR, OFF(web_leaflet_dir),
     "/usr/share/javascript/leaflet", 0, 0, WEB,
     "Directory of Leaflet (Debian's libjs-leaflet), served under "
     "/leaflet/."},
    {"web", "session_idle", T_DURATION, OFF(web_session_idle_ms), "30m",
     1e3, MS_DAY, WEB, "A web session unused this long ends."},
    {"web", "session_max", T_DURATION, OFF(web_session_max_ms), "12h", 1e3,
     30 * MS_DAY, WEB,
     "A web session ends this long after login, used or not."},
    {"web", "login_failures", T_INT, OFF(web_login_failures), "5", 1, 1000,
     WEB,
     "Failed logins for one user name or one client address within "
     "login_window after which further attempts get 429 until the window "
     "has passed."},
    {"web", "login_window", T_DURATION, OFF(web_login_window_ms), "15m", 1e3,
     MS_DAY, WEB, "Window of login_failures."},
    {"web", "max_connections", T_INT, OFF(web_max_connections), "512", 8,
     100000, WEB,
     "Most concurrent HTTP connections (live streams included)."},

    {"log", "level", T_LOGLEVEL, OFF(log_level), "info", 0, 3, LOG,
     "Least severe messages logged: error, warning, info or debug."},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static const char *const reload_names[LW_RELOAD_COUNT_] = {
    [LW_RELOAD_RESTART] = "restart", [LW_RELOAD_LIVE] = "live",
    [LW_RELOAD_LOG] = "log",         [LW_RELOAD_INGEST] = "ingest",
    [LW_RELOAD_ALERTS] = "alerts",   [LW_RELOAD_MAIL] = "mail",
    [LW_RELOAD_CLI] = "cli",         [LW_RELOAD_WEB] = "web",
};

const char *lw_log_level_name(int level)
{
    if (level < 0 || level > 3)
        return "unknown";
    return level_names[level];
}

const char *lw_config_reload_name(enum lw_config_reload r)
{
    if ((unsigned)r >= LW_RELOAD_COUNT_ || !reload_names[r])
        return "unknown";
    return reload_names[r];
}

size_t lw_config_nkeys(void)
{
    return NSETTINGS;
}

bool lw_config_key_at(size_t i, struct lw_config_key *out)
{
    if (i >= NSETTINGS || !out)
        return false;
    out->section = settings[i].section;
    out->key = settings[i].key;
    out->defval = settings[i].defval;
    out->doc = settings[i].doc;
    out->reload = settings[i].reload;
    return true;
}

/* ---- error lists --------------------------------------------------------- */

/* Room kept at the end of a caller's buffer for the "and N more" line. */
#define ERR_RESERVE 40
/* Longest single problem, before it is put into the caller's buffer. */
#define ERR_LINE_MAX 700

/*
 * Problems, one per line, into the caller's buffer (see config.h). The first
 * problem is always written (truncated if it must be); later ones only when
 * they fit whole, leaving ERR_RESERVE for the count of those that did not.
 */
struct errlist {
    char *buf;        /* caller's buffer, may be NULL */
    size_t cap;       /* its size */
    size_t len;       /* bytes used, without the NUL */
    unsigned n;       /* problems reported */
    unsigned dropped; /* problems that did not fit */
};

static void el_init(struct errlist *e, char *buf, size_t cap)
{
    e->buf = cap ? buf : NULL;
    e->cap = buf ? cap : 0;
    e->len = 0;
    e->n = 0;
    e->dropped = 0;
    if (e->buf)
        e->buf[0] = '\0';
}

static void el_add(struct errlist *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void el_add(struct errlist *e, const char *fmt, ...)
{
    char line[ERR_LINE_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    e->n++;
    if (!e->buf)
        return;
    n = strlen(line);
    if (e->len == 0) {
        snprintf(e->buf, e->cap, "%s", line);
        e->len = strlen(e->buf);
        return;
    }
    if (e->len + 1 + n + ERR_RESERVE >= e->cap) {
        e->dropped++;
        return;
    }
    e->buf[e->len++] = '\n';
    memcpy(e->buf + e->len, line, n + 1);
    e->len += n;
}

/* Adds the "and N more" line when problems were dropped. */
static void el_finish(struct errlist *e)
{
    if (!e->buf || !e->dropped)
        return;
    snprintf(e->buf + e->len, e->cap - e->len, "\n(and %u more problem%s)",
             e->dropped, e->dropped == 1 ? "" : "s");
    e->len += strlen(e->buf + e->len);
}

/* ---- values ---------------------------------------------------------------- */

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

/* True when some setting lives in section. */
static bool section_exists(const char *section)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].section, section) == 0)
            return true;
    return false;
}

static bool is_string_type(enum setting_type t)
{
    return t == T_STR || t == T_FILE || t == T_DIR || t == T_DB ||
           t == T_TOPIC || t == T_PREFIX;
}

/* Size of a setting's field in struct lw_config. */
static size_t field_size(const struct setting *st)
{
    switch (st->type) {
    case T_INT:
    case T_LOGLEVEL:
        return sizeof(int);
    case T_DURATION:
    case T_MS:
    case T_SIZE:
        return sizeof(int64_t);
    case T_DOUBLE:
        return sizeof(double);
    default:
        return LW_CONFIG_STR_MAX + 1;
    }
}

/* A double field, through memcpy rather than a cast of the char pointer. */
static double get_double(const char *field)
{
    double d;

    memcpy(&d, field, sizeof(d));
    return d;
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

/* Parses a byte count: digits with an optional K, M or G (powers of
 * 1024) into *out; false on junk or overflow. */
static bool parse_size(const char *s, long long *out)
{
    static const char units[] = "KMG";
    char num[32];
    size_t len = strlen(s);
    const char *u;
    long long v, mul = 1;

    if (len == 0 || len >= sizeof(num))
        return false;
    memcpy(num, s, len + 1);
    u = strchr(units, toupper((unsigned char)num[len - 1]));
    if (u) {
        num[len - 1] = '\0';
        for (const char *p = units; p <= u; p++)
            mul *= 1024;
    }
    if (!num[0] || !isdigit((unsigned char)num[0]) || !parse_ll(num, &v) ||
        v > LLONG_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}

/* A byte count as parse_size reads it, in the largest exact unit. */
static void format_size(int64_t v, char *buf, size_t len)
{
    static const char units[] = "KMG";
    int u = -1;

    while (v != 0 && u < 2 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%lld", (long long)v);
    else
        snprintf(buf, len, "%lld%c", (long long)v, units[u]);
}

/*
 * True when s is UTF-8 without control characters (C0, DEL, C1), which
 * MQTT topics must be (libmosquitto refuses the rest at run time).
 */
static bool topic_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned cp;
        int more;

        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                return false;
            p++;
            continue;
        }
        if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1fu;
            more = 1;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0fu;
            more = 2;
        } else if ((*p & 0xf8) == 0xf0) {
            cp = *p & 0x07u;
            more = 3;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3fu);
        }
        /* overlong forms, surrogates, beyond Unicode, C1 controls */
        if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
            (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
    }
    return true;
}

/*
 * Checks a subscription filter as the daemon uses it: lw_topic_match takes
 * the device (or account) id from the '+' levels, so there must be at least
 * one, each a whole level, and no '#' (which the matcher does not support:
 * everything under it would be an unknown topic). Empty means "not set":
 * the caller turns "off" into "".
 */
static bool check_filter(const struct setting *st, const char *v, char *err,
                         size_t errlen)
{
    bool plus = false;

    if (v[0] == '\0') {
        lw_seterr(err, errlen,
                  "%s.%s is empty: write '%s' to subscribe to nothing, or a "
                  "filter such as %s",
                  st->section, st->key, TOPIC_OFF, st->defval);
        return false;
    }
    if (!topic_text_ok(v)) {
        lw_seterr(err, errlen,
                  "%s.%s: '%s' is not a topic filter (control character or "
                  "not UTF-8)",
                  st->section, st->key, v);
        return false;
    }
    if (strchr(v, '#')) {
        lw_seterr(err, errlen,
                  "%s.%s: '%s': '#' is not supported: the daemon takes the "
                  "device id from '+' levels (one level each), as in %s",
                  st->section, st->key, v, st->defval);
        return false;
    }
    for (const char *p = v; *p; p++) {
        if (*p != '+')
            continue;
        if ((p != v && p[-1] != '/') || (p[1] != '\0' && p[1] != '/')) {
            lw_seterr(err, errlen,
                      "%s.%s: '%s': '+' must be a whole level (a/+/b)",
                      st->section, st->key, v);
            return false;
        }
        plus = true;
    }
    if (!plus) {
        lw_seterr(err, errlen,
                  "%s.%s: '%s' has no '+' level to name the device: the "
                  "daemon takes the device id from the '+' levels, as in %s",
                  st->section, st->key, v, st->defval);
        return false;
    }
    return true;
}

/* Checks the prefix of the daemon's own topics: a plain topic name. */
static bool check_prefix(const struct setting *st, const char *v, char *err,
                         size_t errlen)
{
    size_t n = strlen(v);

    if (n == 0) {
        lw_seterr(err, errlen, "%s.%s must not be empty", st->section,
                  st->key);
        return false;
    }
    if (!topic_text_ok(v) || strpbrk(v, "+#") || v[0] == '$' ||
        v[n - 1] == '/') {
        lw_seterr(err, errlen,
                  "%s.%s: '%s' is not a topic prefix (no '+', '#', leading "
                  "'$', trailing '/' or control characters)",
                  st->section, st->key, v);
        return false;
    }
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
    case T_FILE:
    case T_DIR:
    case T_DB:
    case T_TOPIC:
    case T_PREFIX:
        if (strlen(value) > LW_CONFIG_STR_MAX) {
            lw_seterr(err, errlen, "%s.%s is longer than %d characters",
                      st->section, st->key, LW_CONFIG_STR_MAX);
            return LW_ERR_CONFIG;
        }
        if (st->type == T_TOPIC && strcmp(value, TOPIC_OFF) == 0) {
            field[0] = '\0';
            return LW_OK;
        }
        if (st->type == T_TOPIC && !check_filter(st, value, err, errlen))
            return LW_ERR_CONFIG;
        if (st->type == T_PREFIX && !check_prefix(st, value, err, errlen))
            return LW_ERR_CONFIG;
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
    case T_SIZE:
        if (!parse_size(value, &ll) || (double)ll < st->min ||
            (double)ll > st->max) {
            lw_seterr(err, errlen,
                      "%s.%s: '%s' is not a size (bytes, or with K, M or G) "
                      "in %.0f..%.0f bytes",
                      st->section, st->key, value, st->min, st->max);
            return LW_ERR_CONFIG;
        }
        *(int64_t *)field = ll;
        return LW_OK;
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
        memcpy(field, &d, sizeof(d));
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
        if (section && !section_exists(section))
            lw_seterr(err, errlen, "unknown section [%s] (key '%s')",
                      section, key);
        else if (section)
            lw_seterr(err, errlen, "unknown key '%s' in section [%s]", key,
                      section);
        else
            lw_seterr(err, errlen, "unknown or ambiguous key '%s'", key);
        return LW_ERR_CONFIG;
    }
    return apply(c, st, value, err, errlen);
}

/* Writes v as the shortest "%g" text that reads back as exactly v. */
static void format_double(double v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

enum lw_err lw_config_value(const struct lw_config *c, const char *section,
                            const char *key, char *buf, size_t len)
{
    const struct setting *st;
    const char *field;

    if (!buf || len == 0)
        return LW_ERR_INVAL;
    buf[0] = '\0';
    if (!c || !section || !key || !(st = find(section, key)))
        return LW_ERR_NOTFOUND;
    field = (const char *)c + st->offset;
    switch (st->type) {
    case T_INT:
        snprintf(buf, len, "%d", *(const int *)field);
        break;
    case T_LOGLEVEL:
        snprintf(buf, len, "%s", lw_log_level_name(*(const int *)field));
        break;
    case T_MS:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)field);
        break;
    case T_SIZE:
        format_size(*(const int64_t *)field, buf, len);
        break;
    case T_DURATION:
        lw_duration_format(*(const int64_t *)field, buf, len);
        break;
    case T_DOUBLE:
        format_double(get_double(field), buf, len);
        break;
    default:
        if (st->type == T_TOPIC && field[0] == '\0')
            snprintf(buf, len, "%s", TOPIC_OFF);
        else
            snprintf(buf, len, "%s", field);
        break;
    }
    return LW_OK;
}

/* ---- the file ---------------------------------------------------------- */

/* Bytes of one line kept while reading; inih takes far fewer (INI_MAX_LINE,
 * 200 in Debian's build), so a longer line is reported, never cut. */
#define RAW_LINE_MAX 1024

/*
 * State shared by the line reader and the inih callback. inih reads a line
 * through reader() and calls the handler for it before reading the next, so
 * 'line' is the line the handler is working on.
 */
struct parse_ctx {
    struct lw_config *c;     /* config being filled */
    FILE *f;                 /* the file */
    const char *name;        /* its name, for messages */
    struct errlist *el;      /* problems found */
    int line;                /* number of the line last handed to inih */
    bool expect_cb;          /* that line is "key = value": a call is due */
    bool got_cb;             /* ... and the handler ran for it */
    int first_syntax_line;   /* first line reported as a syntax error */
    bool stop;               /* too big or unreadable: no more lines */
    bool too_big;            /* more than LW_CONFIG_FILE_MAX bytes */
    int read_errno;          /* errno of a read error, or 0 */
    size_t total;            /* bytes read */
    char raw[RAW_LINE_MAX];  /* the line being read */
};

static void syntax_error(struct parse_ctx *p, int line, const char *what)
{
    if (!p->first_syntax_line)
        p->first_syntax_line = line;
    el_add(p->el, "%s:%d: %s", p->name, line, what);
}

/* Called before the next line is read: a key line the handler never saw
 * was not "key = value" to inih. */
static void finish_line(struct parse_ctx *p)
{
    if (p->expect_cb && !p->got_cb)
        syntax_error(p, p->line,
                     "syntax error (expected [section] or key = value)");
    p->expect_cb = p->got_cb = false;
}

/*
 * Classifies a section header as inih reads it: the name runs to the first
 * ']' unless an inline comment (" ;") comes first. Reports a header without
 * ']' and an unknown section.
 */
static void check_header(struct parse_ctx *p, const char *s)
{
    char name[LW_CONFIG_STR_MAX + 1];
    const char *q = s + 1, *end;
    size_t n;

    while (*q && *q != ']' && !(*q == ';' && isspace((unsigned char)q[-1])))
        q++;
    if (*q != ']') {
        syntax_error(p, p->line, "section header without ']'");
        return;
    }
    while (q > s + 1 && isspace((unsigned char)q[-1]))
        q--;
    end = q;
    q = s + 1;
    while (q < end && isspace((unsigned char)*q))
        q++;
    n = (size_t)(end - q);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, q, n);
    name[n] = '\0';
    if (!section_exists(name))
        el_add(p->el, "%s:%d: unknown section [%s]", p->name, p->line, name);
}

/*
 * inih's line reader (fgets-like: fills str, at most num - 1 characters).
 * Reads a whole line whatever its length, counts it, drops leading blanks
 * (and UTF-8 BOMs on line 1), and hands inih an empty line in place of one
 * it could not read as written (too long, NUL byte), reporting it.
 */
static char *reader(char *str, int num, void *stream)
{
    struct parse_ctx *p = stream;
    size_t n = 0;
    bool any = false, nul = false, long_line = false;
    char *s, *e;
    int ch;

    finish_line(p);
    if (p->stop || num < 2)
        return NULL;
    while ((ch = getc(p->f)) != EOF) {
        any = true;
        if (++p->total > LW_CONFIG_FILE_MAX) {
            p->too_big = p->stop = true;
            return NULL;
        }
        if (ch == '\n')
            break;
        if (ch == '\0')
            nul = true;
        if (n + 1 < sizeof(p->raw))
            p->raw[n++] = (char)ch;
        else
            long_line = true;
    }
    if (ferror(p->f)) {
        p->read_errno = errno ? errno : EIO;
        p->stop = true;
        return NULL;
    }
    if (!any)
        return NULL;
    p->raw[n] = '\0';
    p->line++;
    str[0] = '\0';
    if (nul) {
        el_add(p->el, "%s:%d: the line contains a NUL byte", p->name,
               p->line);
        return str;
    }
    /* blanks, and on line 1 byte order marks among them (inih would skip
     * one more at the start of what it is given) */
    s = p->raw;
    for (;;) {
        if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3;
        else if (isspace((unsigned char)*s))
            s++;
        else
            break;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (long_line || e - s > num - 1) {
        el_add(p->el, "%s:%d: the line is longer than %d characters", p->name,
               p->line, num - 1);
        return str;
    }
    memcpy(str, s, (size_t)(e - s) + 1);
    if (*s == '\0' || *s == ';' || *s == '#')
        return str;
    if (*s == '[')
        check_header(p, s);
    else
        p->expect_cb = true;
    return str;
}

static int ini_cb(void *user, const char *section, const char *name,
                  const char *value)
{
    struct parse_ctx *p = user;
    char sec[LW_CONFIG_STR_MAX + 1], err[ERR_LINE_MAX - 64];
    const char *q = section;
    size_t n;

    if (!name)
        return 1; /* a new section, from an inih built to announce them */
    p->got_cb = true;
    if (!value) { /* from an inih built to allow keys without a value */
        el_add(p->el, "%s:%d: key '%s' has no value (expected key = value)",
               p->name, p->line, name);
        return 1;
    }
    while (isspace((unsigned char)*q))
        q++;
    n = strlen(q);
    while (n > 0 && isspace((unsigned char)q[n - 1]))
        n--;
    if (n >= sizeof(sec))
        n = sizeof(sec) - 1;
    memcpy(sec, q, n);
    sec[n] = '\0';
    if (name[0] == '\0') {
        el_add(p->el, "%s:%d: '=' without a key before it", p->name, p->line);
    } else if (sec[0] == '\0') {
        el_add(p->el, "%s:%d: key '%s' is outside any [section]", p->name,
               p->line, name);
    } else if (!section_exists(sec)) {
        /* reported once, at the section header */
    } else if (lw_config_set(p->c, sec, name, value, err, sizeof(err)) !=
               LW_OK) {
        el_add(p->el, "%s:%d: %s", p->name, p->line, err);
    }
    return 1; /* problems are ours to report: let inih go on */
}

enum lw_err lw_config_parse(struct lw_config *c, FILE *f, const char *name,
                            char *err, size_t errlen)
{
    struct parse_ctx *p;
    struct errlist el;
    enum lw_err rc = LW_OK;
    int line;

    el_init(&el, err, errlen);
    if (!c || !f) {
        lw_seterr(err, errlen, "no configuration to read");
        return LW_ERR_INVAL;
    }
    if (!name)
        name = "configuration";
    p = calloc(1, sizeof(*p));
    if (!p) {
        lw_seterr(err, errlen, "%s: out of memory", name);
        return LW_ERR_NOMEM;
    }
    p->c = c;
    p->f = f;
    p->name = name;
    p->el = &el;
    errno = 0;
    line = ini_parse_stream(reader, p, ini_cb, p);
    finish_line(p);
    if (p->too_big || p->read_errno) {
        /* what was read is not the file: its problems do not matter */
        el_init(&el, err, errlen);
        if (p->too_big)
            el_add(&el, "%s: larger than %d bytes: not a configuration file",
                   name, LW_CONFIG_FILE_MAX);
        else
            el_add(&el, "%s: cannot read: %s", name,
                   strerror(p->read_errno));
        rc = LW_ERR_IO;
        goto out_free;
    }
    if (line > 0 && line != p->first_syntax_line)
        /* inih saw a syntax error that reader() did not classify */
        syntax_error(p, line, "syntax error (reported by the parser)");
    else if (line < 0)
        el_add(&el, "%s: the parser failed (%d)", name, line);
    if (el.n)
        rc = LW_ERR_CONFIG;
out_free:
    el_finish(&el);
    free(p);
    return rc;
}

enum lw_err lw_config_load(struct lw_config *c, const char *path, char *err,
                           size_t errlen)
{
    struct stat st;
    enum lw_err rc;
    FILE *f;

    if (!c || !path) {
        lw_seterr(err, errlen, "no configuration file given");
        return LW_ERR_INVAL;
    }
    f = fopen(path, "re");
    if (!f) {
        lw_seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return LW_ERR_IO;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        lw_seterr(err, errlen, "%s: is a directory, not a configuration file",
                  path);
        return LW_ERR_IO;
    }
    rc = lw_config_parse(c, f, path, err, errlen);
    fclose(f);
    return rc;
}

/* ---- rules between settings --------------------------------------------- */

/* Checks a comma-separated list of mailboxes; at least one when needed. */
static void check_addresses(struct errlist *el, const char *key,
                            const char *list, bool needed)
{
    char item[LW_CONFIG_STR_MAX + 1], addr[LW_MIME_ADDR_MAX + 1];
    const char *p = list;
    int n = 0;

    while (lw_mime_list_next(&p, item, sizeof(item))) {
        if (lw_mime_addr_spec(item, addr, sizeof(addr)) != LW_OK) {
            el_add(el, "smtp.%s: '%s' is not an e-mail address", key, item);
            return;
        }
        n++;
    }
    if (needed && n == 0)
        el_add(el, "smtp.%s must name at least one address when smtp.url is "
                   "set",
               key);
}

/* The [smtp] rules: a mail URL needs a sender and recipients. */
static void validate_smtp(struct errlist *el, const struct lw_config *c)
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

    if (strcmp(c->smtp_starttls, "required") != 0 &&
        strcmp(c->smtp_starttls, "no") != 0)
        el_add(el, "smtp.starttls: '%s' is not 'required' or 'no'",
               c->smtp_starttls);
    if (c->smtp_password_file[0] && !c->smtp_username[0])
        el_add(el, "smtp.password_file needs smtp.username");
    if (c->smtp_retry_initial_s > c->smtp_retry_max_s)
        el_add(el, "smtp.retry_initial_s is larger than smtp.retry_max_s");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        check_addresses(el, routes[i].key, routes[i].value, false);
    check_addresses(el, "to", c->smtp_to, c->smtp_url[0] != '\0');
    if (!c->smtp_url[0])
        return;
    if (strncasecmp(c->smtp_url, "smtp://", strlen("smtp://")) != 0 &&
        strncasecmp(c->smtp_url, "smtps://", strlen("smtps://")) != 0)
        el_add(el, "smtp.url: '%s' does not start with smtp:// or smtps://",
               c->smtp_url);
    if (lw_mime_addr_spec(c->smtp_from, addr, sizeof(addr)) != LW_OK)
        el_add(el,
               "smtp.from: '%s' is not an e-mail address (needed when "
               "smtp.url is set)",
               c->smtp_from);
}

/* Next level of a topic or filter: sets *len, returns the level's start and
 * moves *p past it (to NULL after the last). */
static const char *next_level(const char **p, size_t *len)
{
    const char *s = *p, *slash = strchr(s, '/');

    *len = slash ? (size_t)(slash - s) : strlen(s);
    *p = slash ? slash + 1 : NULL;
    return s;
}

/*
 * True when one topic can match both filter a (levels and '+') and filter b
 * (which may end in '#', meaning one level or more here: the daemon's own
 * topics under a prefix). Writes such a topic into ex (exlen bytes).
 */
static bool filters_overlap(const char *a, const char *b, char *ex,
                            size_t exlen)
{
    const char *pa = a, *pb = b;
    size_t used = 0;

    ex[0] = '\0';
    while (pa && pb) {
        size_t na, nb;
        const char *la = next_level(&pa, &na), *lb = next_level(&pb, &nb);
        const char *pick;
        size_t npick;

        if (nb == 1 && lb[0] == '#') {
            /* b takes every further level of a, and a has one */
            for (;;) {
                pick = (na == 1 && la[0] == '+') ? "x" : la;
                npick = (na == 1 && la[0] == '+') ? 1 : na;
                used += (size_t)snprintf(ex + used, exlen - used, "%s%.*s",
                                         used ? "/" : "", (int)npick, pick);
                if (used >= exlen)
                    used = exlen - 1;
                if (!pa)
                    return true;
                la = next_level(&pa, &na);
            }
        }
        if (na == 1 && la[0] == '+') {
            pick = (nb == 1 && lb[0] == '+') ? "x" : lb;
            npick = (nb == 1 && lb[0] == '+') ? 1 : nb;
        } else if ((nb == 1 && lb[0] == '+') ||
                   (na == nb && memcmp(la, lb, na) == 0)) {
            pick = la;
            npick = na;
        } else {
            return false;
        }
        used += (size_t)snprintf(ex + used, exlen - used, "%s%.*s",
                                 used ? "/" : "", (int)npick, pick);
        if (used >= exlen)
            used = exlen - 1;
    }
    /* both filters must end together ('#' needs a level, handled above) */
    return !pa && !pb;
}

/*
 * The subscriptions: at least one source of fixes; no topic matching two of
 * them (which decoder would get it?) or one of the daemon's own topics (it
 * would read its own state and alerts).
 */
static void validate_topics(struct errlist *el, const struct lw_config *c)
{
    static const char *const own[] = {"state/#", "alert/#", "daemon", "mail"};
    const struct {
        const char *key;    /* mqtt.<key> */
        const char *filter; /* "" = off */
    } subs[] = {
        {"topic_owntracks", c->topic_owntracks},
        {"topic_fix", c->topic_fix},
        {"topic_account", c->topic_account},
    };
    const size_t nsubs = sizeof(subs) / sizeof(subs[0]);
    char ex[2 * LW_CONFIG_STR_MAX + 16], mine[LW_CONFIG_STR_MAX + 16];

    if (!c->topic_owntracks[0] && !c->topic_fix[0])
        el_add(el, "mqtt.topic_owntracks and mqtt.topic_fix are both off: "
                   "nothing to ingest");
    for (size_t i = 0; i < nsubs; i++) {
        if (!subs[i].filter[0])
            continue;
        for (size_t j = i + 1; j < nsubs; j++) {
            if (subs[j].filter[0] &&
                filters_overlap(subs[i].filter, subs[j].filter, ex,
                                sizeof(ex)))
                el_add(el,
                       "mqtt.%s '%s' and mqtt.%s '%s' overlap: topic '%s' "
                       "matches both",
                       subs[i].key, subs[i].filter, subs[j].key,
                       subs[j].filter, ex);
        }
        if (!c->topic_prefix[0])
            continue;
        for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
            snprintf(mine, sizeof(mine), "%s/%s", c->topic_prefix, own[k]);
            if (filters_overlap(subs[i].filter, mine, ex, sizeof(ex))) {
                el_add(el,
                       "mqtt.%s '%s' matches the daemon's own topic '%s' "
                       "(mqtt.topic_prefix '%s')",
                       subs[i].key, subs[i].filter, ex, c->topic_prefix);
                break;
            }
        }
    }
}

/* Every value within what its setting allows, as if set from text: for a
 * configuration filled in by code rather than parsed. */
static void validate_values(struct errlist *el, const struct lw_config *c)
{
    char err[ERR_LINE_MAX - 64];

    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *field = (const char *)c + st->offset;
        double v;

        switch (st->type) {
        case T_INT:
        case T_LOGLEVEL:
            v = *(const int *)field;
            break;
        case T_DURATION:
        case T_MS:
        case T_SIZE:
            v = (double)*(const int64_t *)field;
            break;
        case T_DOUBLE:
            v = get_double(field);
            break;
        default:
            if (!memchr(field, '\0', LW_CONFIG_STR_MAX + 1))
                el_add(el, "%s.%s is not terminated", st->section, st->key);
            else if (st->type == T_TOPIC && field[0] &&
                     !check_filter(st, field, err, sizeof(err)))
                el_add(el, "%s", err);
            else if (st->type == T_PREFIX &&
                     !check_prefix(st, field, err, sizeof(err)))
                el_add(el, "%s", err);
            continue;
        }
        if (!(v >= st->min && v <= st->max))
            el_add(el, "%s.%s: %g is outside %g..%g", st->section, st->key, v,
                   st->min, st->max);
    }
}

/* [web]: what lienwatch-web needs before it can start. */
static void validate_web(struct errlist *el, const struct lw_config *c)
{
    const char *colon = strrchr(c->web_listen, ':');

    if ((c->web_certfile[0] != '\0') != (c->web_keyfile[0] != '\0'))
        el_add(el, "web.certfile and web.keyfile go together");
    if (strcmp(c->web_allow_plain_http, "yes") != 0 &&
        strcmp(c->web_allow_plain_http, "no") != 0)
        el_add(el, "web.allow_plain_http: '%s' is not 'yes' or 'no'",
               c->web_allow_plain_http);
    if (!colon || colon == c->web_listen || colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
        el_add(el, "web.listen: '%s' is not HOST:PORT (port 1-65535)",
               c->web_listen);
    if (c->web_session_idle_ms > c->web_session_max_ms)
        el_add(el, "web.session_idle is longer than web.session_max");
}

static void validate(struct errlist *el, const struct lw_config *c)
{
    validate_values(el, c);
    if (c->mqtt_host[0] == '\0')
        el_add(el, "mqtt.host must not be empty");
    if (c->mqtt_client_id[0] == '\0')
        el_add(el, "mqtt.client_id must not be empty (the broker keeps the "
                   "session under it)");
    if ((c->mqtt_certfile[0] != '\0') != (c->mqtt_keyfile[0] != '\0'))
        el_add(el, "mqtt.certfile and mqtt.keyfile go together");
    if (c->mqtt_certfile[0] && !c->mqtt_cafile[0] && !c->mqtt_capath[0])
        el_add(el, "mqtt.certfile needs mqtt.cafile or mqtt.capath (TLS)");
    if (c->mqtt_password_file[0] && !c->mqtt_username[0])
        el_add(el, "mqtt.password_file needs mqtt.username");
    validate_topics(el, c);
    if (c->reconnect_min_ms > c->reconnect_max_ms)
        el_add(el, "mqtt.reconnect_min is larger than mqtt.reconnect_max");
    if (c->db_path[0] == '\0')
        el_add(el, "store.db must not be empty");
    validate_smtp(el, c);
    if (strcmp(c->privacy_unwatched_access, "reason") != 0 &&
        strcmp(c->privacy_unwatched_access, "deny") != 0 &&
        strcmp(c->privacy_unwatched_access, "allow") != 0)
        el_add(el,
               "privacy.unwatched_access: '%s' is not 'reason', 'deny' or "
               "'allow'",
               c->privacy_unwatched_access);
    if (strcmp(c->privacy_publish_unwatched, "yes") != 0 &&
        strcmp(c->privacy_publish_unwatched, "no") != 0)
        el_add(el, "privacy.publish_unwatched: '%s' is not 'yes' or 'no'",
               c->privacy_publish_unwatched);
    validate_web(el, c);
}

static enum lw_err checks(const struct lw_config *c, bool fs, char *err,
                          size_t errlen);

enum lw_err lw_config_validate(const struct lw_config *c, char *err,
                               size_t errlen)
{
    return checks(c, false, err, errlen);
}

/* ---- the file system ------------------------------------------------------ */

/* A file the daemon opens for reading: open it the same way, as we are. */
static void check_file_in(struct errlist *el, const struct setting *st,
                          const char *path)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        el_add(el, "%s.%s: %s: cannot open for reading as uid %d: %s",
               st->section, st->key, path, (int)geteuid(), strerror(errno));
        return;
    }
    if (fstat(fd, &sb) != 0)
        el_add(el, "%s.%s: %s: %s", st->section, st->key, path,
               strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        el_add(el, "%s.%s: %s is a directory, not a file", st->section,
               st->key, path);
    else if (!S_ISREG(sb.st_mode))
        el_add(el, "%s.%s: %s is not a regular file", st->section, st->key,
               path);
    close(fd);
}

/* A directory the daemon lists and reads files from (capath). */
static void check_dir_in(struct errlist *el, const struct setting *st,
                         const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        el_add(el, "%s.%s: %s: cannot open as a directory as uid %d: %s",
               st->section, st->key, path, (int)geteuid(), strerror(errno));
        return;
    }
    close(fd);
    if (faccessat(AT_FDCWD, path, R_OK | X_OK, AT_EACCESS) != 0)
        el_add(el, "%s.%s: %s: cannot read and search as uid %d: %s",
               st->section, st->key, path, (int)geteuid(), strerror(errno));
}

/*
 * The database: SQLite opens it read-write, creating it when missing, and
 * creates its -wal and -shm files beside it. A missing directory is left
 * alone: under systemd, StateDirectory= creates it before the start.
 */
static void check_db(struct errlist *el, const struct setting *st,
                     const char *path)
{
    char dir[LW_CONFIG_STR_MAX + 1];
    struct stat sb;
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT)
            el_add(el, "%s.%s: directory %s: %s", st->section, st->key, dir,
                   strerror(errno));
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        el_add(el, "%s.%s: %s is not a directory", st->section, st->key, dir);
        return;
    }
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        el_add(el,
               "%s.%s: cannot create files in %s as uid %d (the database "
               "and its -wal and -shm files): %s",
               st->section, st->key, dir, (int)geteuid(), strerror(errno));
        return;
    }
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT)
            el_add(el, "%s.%s: %s: %s", st->section, st->key, path,
                   strerror(errno));
        return;
    }
    if (!S_ISREG(sb.st_mode)) {
        el_add(el, "%s.%s: %s is not a regular file", st->section, st->key,
               path);
        return;
    }
    /* never open() and close() the database file here: lienwatchd checks
     * its configuration again on SIGHUP with the database open, and closing
     * any descriptor of a file drops every POSIX lock the process holds on
     * it, SQLite's included; another process (the lienwatch command) would
     * then take itself for the last connection and delete the -wal file
     * the daemon still writes to */
    if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) != 0)
        el_add(el, "%s.%s: %s: cannot open for reading and writing as uid "
                   "%d: %s",
               st->section, st->key, path, (int)geteuid(), strerror(errno));
}

/* places.timezone names a zone that this machine has. */
static void check_timezone(struct errlist *el, const struct lw_config *c)
{
    char err[ERR_LINE_MAX - 64] = "";
    struct lw_tz *tz = NULL;
    enum lw_err e;

    if (!c->places_timezone[0] ||
        !memchr(c->places_timezone, '\0', LW_CONFIG_STR_MAX + 1))
        return;
    e = lw_tz_load(c->places_timezone, &tz, err, sizeof(err));
    lw_tz_free(tz);
    if (e != LW_OK)
        el_add(el, "places.timezone: %s", err[0] ? err : lw_strerror(e));
}

/* The values (validate), and with fs the files and folders they name;
 * every problem into err. */
static enum lw_err checks(const struct lw_config *c, bool fs, char *err,
                          size_t errlen)
{
    struct errlist el;

    el_init(&el, err, errlen);
    if (!c) {
        lw_seterr(err, errlen, "no configuration");
        return LW_ERR_INVAL;
    }
    validate(&el, c);
    for (size_t i = 0; fs && i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *path = (const char *)c + st->offset;

        if (!is_string_type(st->type) || !path[0] ||
            !memchr(path, '\0', LW_CONFIG_STR_MAX + 1))
            continue;
        if (st->type == T_FILE)
            check_file_in(&el, st, path);
        else if (st->type == T_DIR)
            check_dir_in(&el, st, path);
        else if (st->type == T_DB)
            check_db(&el, st, path);
    }
    if (fs)
        check_timezone(&el, c);
    el_finish(&el);
    return el.n ? LW_ERR_CONFIG : LW_OK;
}

enum lw_err lw_config_check(const struct lw_config *c, char *err,
                            size_t errlen)
{
    return checks(c, true, err, errlen);
}

/* ---- SIGHUP: what changed, and what may change ---------------------------- */

static bool field_equal(const struct lw_config *a, const struct lw_config *b,
                        const struct setting *st)
{
    const char *fa = (const char *)a + st->offset;
    const char *fb = (const char *)b + st->offset;

    switch (st->type) {
    case T_INT:
    case T_LOGLEVEL:
        return *(const int *)fa == *(const int *)fb;
    case T_DURATION:
    case T_MS:
    case T_SIZE:
        return *(const int64_t *)fa == *(const int64_t *)fb;
    case T_DOUBLE:
        return get_double(fa) == get_double(fb);
    default:
        return strncmp(fa, fb, LW_CONFIG_STR_MAX + 1) == 0;
    }
}

size_t lw_config_diff(const struct lw_config *a, const struct lw_config *b,
                      struct lw_config_change *out, size_t max)
{
    size_t n = 0;

    if (!a || !b)
        return 0;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (field_equal(a, b, &settings[i]))
            continue;
        if (out && n < max) {
            out[n].section = settings[i].section;
            out[n].key = settings[i].key;
            out[n].reload = settings[i].reload;
        }
        n++;
    }
    return n;
}

void lw_config_keep_restart(const struct lw_config *running,
                            struct lw_config *next)
{
    if (!running || !next)
        return;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];

        if (st->reload == LW_RELOAD_RESTART)
            memcpy((char *)next + st->offset,
                   (const char *)running + st->offset, field_size(st));
    }
}

/* ---- the example file ------------------------------------------------------ */

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
    char doc[ERR_LINE_MAX + 100];

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
        snprintf(doc, sizeof(doc), "%s %s", st->doc,
                 st->reload == LW_RELOAD_RESTART
                     ? "Takes effect at a restart (SIGHUP keeps the running "
                       "value)."
                 : st->reload == LW_RELOAD_CLI
                     ? "Not used by lienwatchd: the lienwatch command reads "
                       "it each time it runs."
                 : st->reload == LW_RELOAD_WEB
                     ? "Not used by lienwatchd: lienwatch-web reads it at "
                       "its start."
                     : "SIGHUP applies a change.");
        dump_wrapped(f, doc);
        fprintf(f, "%s = %s\n", st->key, st->defval);
    }
}
