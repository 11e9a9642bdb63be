/*
 * main.c - lienwatchd: options, configuration, signals, systemd, and the
 * composition of the daemon: the core (store, ingest, watch) wired to the
 * libev loop and MQTT by the parts below.
 *
 * One libev loop owns every decision and the database. Watchers, all
 * embedded in struct daemon or its parts:
 *   - the MQTT link's socket watchers and timers (mqtt.c);
 *   - committing what arrives, with back-pressure when a commit fails
 *     (commit.c: flush and retry timers);
 *   - the alert engine's single deadline timer, registry polling and the
 *     state-topic sweep (watch.c);
 *   - the mail outbox dispatcher (mail.c; the SMTP transfer itself runs in
 *     one worker thread, because libcurl's SMTP blocks on some replies even
 *     in its multi interface);
 *   - the daemon's status every 10 s (status.c);
 *   - retention in bounded steps (retention.c);
 *   - commands to devices queued by lienwatch-web, and the ends of cases
 *     that come by themselves (commands.c);
 *   - watchdog_timer: WATCHDOG=1 at half of WATCHDOG_USEC;
 *   - SIGINT/SIGTERM (stop reading, commit for up to [store] stop_timeout,
 *     then spill what is left; disconnect, exit 0; a second signal spills
 *     at once) and SIGHUP (reload).
 * Signal handling is libev's: the handlers run in the loop, not in signal
 * context.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <mosquitto.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "audithead.h"
#include "commands.h"
#include "commit.h"
#include "jsonarena.h"
#include "lienwatch/access.h"
#include "lienwatch/config.h"
#include "lienwatch/ingest.h"
#include "lienwatch/store.h"
#include "mail.h"
#include "mqtt.h"
#include "retention.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "status.h"
#include "watch.h"

#ifndef LW_VERSION
#define LW_VERSION "0.0.0"
#endif

/* Rejection log lines: at most one per reason per this many ms. */
#define REJECT_LOG_INTERVAL_MS 10000
/* Time allowed to send the final state and DISCONNECT at shutdown. */
#define SHUTDOWN_FLUSH_MS 2000
/* Exit status for an invalid configuration (sysexits EX_CONFIG), so the
 * unit can refuse to restart on it (RestartPreventExitStatus=78). */
#define EXIT_CONFIG 78
/* Bump-allocator buffer for decoding one payload (jsonarena.h): an
 * OwnTracks message needs about 2 KiB; larger ones fall back to malloc. */
#define JSON_ARENA_BYTES (256 * 1024)
/* Most --set options kept for re-application on SIGHUP. */
#define MAX_OVERRIDES 64
/* km/h in one m/s ([ingest] max_speed_kmh to the core's m/s) */
#define KMH_PER_MPS 3.6

/* A command-line override, re-applied after each configuration load. */
struct override {
    char section[32];  /* "" when the key alone was given */
    char key[64];      /* setting name */
    const char *value; /* borrowed from argv */
};

struct daemon {
    struct ev_loop *loop;                     /* the default loop */
    struct lw_config cfg;                     /* the running configuration */
    const char *config_path;                  /* -c FILE, or NULL */
    struct override overrides[MAX_OVERRIDES]; /* command-line settings */
    int noverrides;                           /* used entries */
    struct lw_store *store;                   /* the database (writer) */
    struct lw_ingest *ingest;                 /* decoding and batching */
    struct lwd_commit commit;       /* when and in what order to commit */
    struct lwd_mqtt link;           /* broker connection */
    struct lwd_watch watch;         /* alerts, state topics */
    struct lwd_mail mail;           /* alert e-mail outbox dispatcher */
    bool mail_ok;                   /* lwd_mail_init succeeded */
    struct lwd_status status;       /* the daemon topic, STATUS= */
    struct lwd_retention retention; /* hourly pruning of old history */
    struct lwd_audithead audithead; /* the audit trail's head, published */
    struct lwd_commands commands;   /* commands to devices, case endings */
    char daemon_topic[LW_CONFIG_STR_MAX + 16];    /* <prefix>/daemon */
    ev_timer watchdog_timer;                      /* systemd watchdog */
    ev_signal sigint_w, sigterm_w, sighup_w;      /* signals */
    struct lwrt_limit reject_limit[LW_REJ_COUNT]; /* per-reason log limits */
    bool link_ok;                                 /* lwd_mqtt_init succeeded */
    int64_t started_ms;                           /* start time, for uptime */
};

/* The options in brief; lienwatchd(8) has the rest. */
static void usage(FILE *f)
{
    fputs("Usage: lienwatchd [OPTION]...\n"
          "Watch the GPS trackers of financed vehicles over MQTT: keep their\n"
          "positions in SQLite and alert when an overdue account's vehicle\n"
          "leaves where it belongs or goes silent.\n"
          "\n"
          "  -c, --config FILE       read settings from FILE\n"
          "      --db PATH           SQLite database (store.db)\n"
          "      --mqtt-host HOST    broker host (mqtt.host)\n"
          "      --mqtt-port PORT    broker port (mqtt.port)\n"
          "      --set SECTION.KEY=VALUE\n"
          "                          set any configuration key; repeatable\n"
          "      --check-config      check the configuration as a start would\n"
          "                          (values and the files it names), exit\n"
          "      --dump-config       print an example configuration and exit\n"
          "  -v, --verbose           log more (repeat for debug)\n"
          "  -q, --quiet             log errors and warnings only\n"
          "  -h, --help              show this help and exit\n"
          "  -V, --version           show the version and exit\n"
          "\n"
          "SIGTERM or SIGINT commits and stops; SIGHUP re-reads the\n"
          "configuration file. Exit status: 0 stopped, 1 start-up error,\n"
          "2 usage, 78 invalid configuration.\n"
          "\n"
          "Full documentation: lienwatchd(8); settings: lienwatchd.conf(5).\n",
          f);
}

/* Records --set SECTION.KEY=VALUE (or KEY=VALUE) for (re)application. */
static int add_override(struct daemon *d, const char *section, const char *key,
                        const char *value)
{
    struct override *o;

    if (d->noverrides >= MAX_OVERRIDES) {
        fprintf(stderr, "lienwatchd: too many --set options\n");
        return -1;
    }
    o = &d->overrides[d->noverrides++];
    snprintf(o->section, sizeof(o->section), "%s", section ? section : "");
    snprintf(o->key, sizeof(o->key), "%s", key);
    o->value = value;
    return 0;
}

static int parse_set(struct daemon *d, char *arg)
{
    char *eq = strchr(arg, '=');
    char *dot;

    if (!eq) {
        fprintf(stderr, "lienwatchd: --set '%s': expected SECTION.KEY=VALUE\n",
                arg);
        return -1;
    }
    *eq = '\0';
    dot = strchr(arg, '.');
    if (dot) {
        *dot = '\0';
        return add_override(d, arg, dot + 1, eq + 1);
    }
    return add_override(d, NULL, arg, eq + 1);
}

/* Appends text to err (errlen bytes) as lines, each with prefix before it;
 * text is one or more lines separated by '\n'. */
static void add_lines(char *err, size_t errlen, const char *prefix,
                      const char *text)
{
    size_t used = strlen(err);
    const char *p = text;

    while (*p && used + 1 < errlen) {
        size_t n = strcspn(p, "\n");
        int w = snprintf(err + used, errlen - used, "%s%s%.*s",
                         used ? "\n" : "", prefix, (int)n, p);
        if (w < 0)
            break;
        used += (size_t)w;
        if (used >= errlen)
            used = errlen - 1;
        p += n;
        if (*p == '\n')
            p++;
    }
}

/*
 * Builds the configuration that a start, --check-config and SIGHUP all use,
 * with the same checks: defaults, the file (-c), the command-line
 * overrides, then lw_config_check (values, rules between settings, and the
 * files the daemon will read, as this process sees them). Returns 0, or -1
 * with every problem on its own line of err ("FILE:LINE: what").
 */
static int load_config(const struct daemon *d, struct lw_config *c, char *err,
                       size_t errlen)
{
    char why[LW_CONFIG_ERR_MAX];
    char prefix[LW_CONFIG_STR_MAX + 16];
    bool bad = false;

    err[0] = '\0';
    lw_config_defaults(c);
    if (d->config_path &&
        lw_config_load(c, d->config_path, err, errlen) != LW_OK)
        return -1;
    for (int i = 0; i < d->noverrides; i++) {
        const struct override *o = &d->overrides[i];
        if (lw_config_set(c, o->section[0] ? o->section : NULL, o->key,
                          o->value, why, sizeof(why)) != LW_OK) {
            add_lines(err, errlen, "command line: ", why);
            bad = true;
        }
    }
    if (bad)
        return -1;
    if (lw_config_check(c, why, sizeof(why)) != LW_OK) {
        snprintf(prefix, sizeof(prefix),
                 "%s: ", d->config_path ? d->config_path : "configuration");
        add_lines(err, errlen, prefix, why);
        return -1;
    }
    return 0;
}

/* The configuration's level (0 error .. 3 debug) plus -v/-q, on syslog's
 * scale. */
static void apply_log_level(const struct lw_config *c, int verbosity)
{
    static const int syslog_level[] = {LOG_ERR, LOG_WARNING, LOG_INFO,
                                       LOG_DEBUG};
    int level = c->log_level + verbosity;

    lwrt_log_set_level(syslog_level[level < 0 ? 0 : level > 3 ? 3 : level]);
}

static void set_ingest_limits(struct daemon *d)
{
    struct lw_decode_opts o;

    lw_decode_opts_init(&o);
    o.max_payload = (size_t)d->cfg.max_payload_bytes;
    o.future_tolerance_ms = d->cfg.future_tolerance_ms;
    lw_ingest_set_limits(d->ingest, d->cfg.commit_max_fixes, &o);
    lw_ingest_set_max_speed(d->ingest, d->cfg.max_speed_kmh / KMH_PER_MPS);
}

/* ---- MQTT callbacks ---------------------------------------------------- */

/* At most one line per reason and interval; the next line says how many
 * were not logged and when they came (not "in the last interval": the
 * next one may come much later). */
static void log_reject(struct daemon *d, const char *topic,
                       const struct lw_ingest_result *r, int64_t t)
{
    struct lwrt_limit_note note;
    char when[64];

    if (!lwrt_limit_allow(&d->reject_limit[r->reject], t,
                          REJECT_LOG_INTERVAL_MS, &note))
        return;
    lwrt_log(LOG_WARNING, "rejected message on '%.200s' (%s): %s", topic,
             lw_reject_name(r->reject), r->detail);
    if (note.suppressed)
        lwrt_log(LOG_WARNING,
                 "  ... and %llu more '%s' rejection%s not logged, %s",
                 (unsigned long long)note.suppressed, lw_reject_name(r->reject),
                 note.suppressed == 1 ? "" : "s",
                 lwrt_limit_when(&note, t, when, sizeof(when)));
}

static void on_message(void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    struct daemon *d = ctx;
    struct lw_ingest_result r;
    /* the receipt time, read per message: ev_now() is the start of the
     * loop iteration, and one readable event reads up to a thousand
     * messages; the commit window is measured from this */
    int64_t t = lwrt_wall_ms();

    lwd_jsonarena_begin();
    lw_ingest_message(d->ingest, topic, payload, len, t, &r);
    lwd_jsonarena_end();
    if (r.reject != LW_REJ_NONE) {
        log_reject(d, topic, &r, t);
    } else if (r.kind == LW_MSG_ACCOUNT) {
        if (lwd_watch_account(&d->watch, &r.account, t))
            lwrt_log(LOG_INFO, "account %s: %d days past due (%s)",
                     r.account.account, r.account.days_past_due,
                     r.account.status);
    } else if (r.kind == LW_MSG_ALIVE) {
        lwd_watch_heard(&d->watch, r.device, t);
    }
    lwd_commit_received(&d->commit, t, r.flush_now);
}

static void on_connected(void *ctx)
{
    struct daemon *d = ctx;

    lwd_status_publish(&d->status);
    lwd_watch_connected(&d->watch);
    lwd_commands_connected(&d->commands);
}

static void on_published(void *ctx, int mid)
{
    struct daemon *d = ctx;

    lwd_watch_published(&d->watch, mid);
    if (d->mail_ok)
        lwd_mail_published(&d->mail, mid);
}

/* After a batch commit: each stored fix goes to the alert engine. */
static void on_stored(void *ctx, const struct lw_fix *f, enum lw_put_result r,
                      const struct lw_jump_ruling *j)
{
    struct daemon *d = ctx;

    if (r == LW_PUT_DUPLICATE || r == LW_PUT_ENDED)
        return;
    if (r == LW_PUT_NEWEST)
        lwd_commands_fixes_stored(&d->commands);
    lwd_watch_fix(&d->watch, f, r == LW_PUT_LATE, j, lwrt_wall_ms());
}

/* A device's positions were purged: its retained state drops its fix. */
static void on_purged(void *ctx, const char *device)
{
    struct daemon *d = ctx;

    lwd_watch_forget_fix(&d->watch, device);
}

/* ---- timers and signals ------------------------------------------------ */

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sd_notify(0, "WATCHDOG=1");
}

/* Everything received is committed or about to be spilled: end the loop. */
static void stopped(void *ctx)
{
    struct daemon *d = ctx;

    ev_break(d->loop, EVBREAK_ALL);
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;

    (void)loop;
    (void)revents;
    lwrt_log(LOG_INFO, "received %s: stopping", strsignal(w->signum));
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: committing what was received");
    lwd_commit_begin_stop(&d->commit, stopped, d);
}

/* The paused state or the reserve changed: say so at once. */
static void commit_state(void *ctx)
{
    struct daemon *d = ctx;

    lwd_status_publish(&d->status);
    lwd_status_notify(&d->status);
}

static int verbosity; /* -v/-q count, process-wide like the log level */

/* Most changed settings one SIGHUP names one by one. */
#define HUP_CHANGES_MAX 128

/*
 * SIGHUP: re-reads the file with the checks of a start. A file with errors
 * changes nothing. Otherwise every changed setting is named: one that its
 * reload class says SIGHUP can apply is applied (by the class's step), and
 * one that needs a restart keeps its running value, so that nothing runs
 * half on the old and half on the new configuration (a new topic_prefix
 * would otherwise move the state topics but not the status topic or the
 * last will).
 */
/*
 * Records in the database the settings that other readers of it (the
 * lienwatch command, the web service) must apply as this daemon does: when
 * a vehicle is watched, and what a look at an unwatched one needs
 * (LW_META_* in lienwatch/access.h). Logged, not fatal, when it fails: the
 * readers then fall back to the configuration file.
 */
static void record_settings(struct daemon *d)
{
    char days[32];
    enum lw_err e;
    bool own;

    snprintf(days, sizeof(days), "%d", d->cfg.watch_days_past_due);
    /* a transaction of its own, unless a batch is open (it then commits
     * with the batch) */
    own = !lw_store_in_txn(d->store);
    e = own ? lw_store_begin(d->store) : LW_OK;
    if (e == LW_OK)
        e = lw_store_meta_set(d->store, LW_META_WATCH_DAYS, days);
    if (e == LW_OK)
        e = lw_store_meta_set(d->store, LW_META_UNWATCHED_ACCESS,
                              d->cfg.privacy_unwatched_access);
    if (e == LW_OK && own)
        e = lw_store_commit(d->store);
    if (e != LW_OK && own && lw_store_in_txn(d->store))
        (void)lw_store_rollback(d->store);
    if (e != LW_OK)
        lwrt_log(LOG_WARNING,
                 "store: cannot record watch_days_past_due and "
                 "unwatched_access for the lienwatch command: %s",
                 lw_store_errmsg(d->store));
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    struct lw_config c;
    struct lw_config_change ch[HUP_CHANGES_MAX];
    bool cls[LW_RELOAD_COUNT_] = {false};
    char err[LW_CONFIG_ERR_MAX];
    char oldv[LW_CONFIG_STR_MAX + 1], newv[LW_CONFIG_STR_MAX + 1];
    size_t n, applied = 0, waiting = 0;

    (void)loop;
    (void)revents;
    if (!d->config_path) {
        lwrt_log(LOG_INFO, "SIGHUP: no configuration file (-c) to re-read");
        return;
    }
    if (load_config(d, &c, err, sizeof(err)) != 0) {
        for (const char *p = err; *p;) {
            size_t len = strcspn(p, "\n");
            lwrt_log(LOG_ERR, "SIGHUP: %.*s", (int)len, p);
            p += len + (p[len] == '\n');
        }
        lwrt_log(LOG_ERR,
                 "SIGHUP: configuration not reloaded; keeping the running "
                 "configuration");
        return;
    }
    n = lw_config_diff(&d->cfg, &c, ch, HUP_CHANGES_MAX);
    for (size_t i = 0; i < n && i < HUP_CHANGES_MAX; i++) {
        lw_config_value(&d->cfg, ch[i].section, ch[i].key, oldv, sizeof(oldv));
        lw_config_value(&c, ch[i].section, ch[i].key, newv, sizeof(newv));
        if (ch[i].reload == LW_RELOAD_WEB) {
            lwrt_log(LOG_INFO,
                     "SIGHUP: %s.%s changed (lienwatch-web's; lienwatchd "
                     "does not use it)",
                     ch[i].section, ch[i].key);
            continue;
        }
        if (ch[i].reload == LW_RELOAD_CLI) {
            lwrt_log(LOG_INFO,
                     "SIGHUP: %s.%s changed (the lienwatch command's; "
                     "lienwatchd does not use it)",
                     ch[i].section, ch[i].key);
            continue;
        }
        if (ch[i].reload == LW_RELOAD_RESTART) {
            lwrt_log(LOG_WARNING,
                     "SIGHUP: %s.%s changed ('%s' -> '%s'): takes effect at "
                     "restart; running with '%s' until then",
                     ch[i].section, ch[i].key, oldv, newv, oldv);
            waiting++;
        } else {
            lwrt_log(LOG_INFO, "SIGHUP: %s.%s: '%s' -> '%s' (applied)",
                     ch[i].section, ch[i].key, oldv, newv);
            cls[ch[i].reload] = true;
            applied++;
        }
    }
    if (n > HUP_CHANGES_MAX)
        lwrt_log(LOG_WARNING, "SIGHUP: ... and %zu more changed settings",
                 n - HUP_CHANGES_MAX);
    lw_config_keep_restart(&d->cfg, &c);
    /* a rule between a new and a kept value could fail: then nothing */
    if (lw_config_validate(&c, err, sizeof(err)) != LW_OK) {
        lwrt_log(LOG_ERR,
                 "SIGHUP: the new settings do not go with the running ones "
                 "that need a restart (%s); keeping the running "
                 "configuration",
                 err);
        return;
    }
    d->cfg = c;
    record_settings(d);
    if (cls[LW_RELOAD_LOG]) {
        apply_log_level(&d->cfg, verbosity);
        lwd_mqtt_log_level_changed(&d->link);
    }
    /* ingest.max_speed_kmh: the ingester judges, the engine acts on it */
    if (cls[LW_RELOAD_INGEST] || cls[LW_RELOAD_ALERTS])
        set_ingest_limits(d);
    if (cls[LW_RELOAD_ALERTS])
        lwd_watch_reconfigure(&d->watch);
    /* always: the password file or credential may have a new password */
    if (d->mail_ok)
        lwd_mail_reconfigure(&d->mail);
    if (n == 0)
        lwrt_log(LOG_INFO, "SIGHUP: configuration re-read from %s: no changes",
                 d->config_path);
    else
        lwrt_log(LOG_INFO,
                 "SIGHUP: configuration re-read from %s: %zu change%s "
                 "applied, %zu waiting for a restart",
                 d->config_path, applied, applied == 1 ? "" : "s", waiting);
}

/* ---- start and stop ---------------------------------------------------- */

/* The database and the ingest path. 0 or -1 (logged). */
static int open_store(struct daemon *d)
{
    char err[400];
    struct lw_ingest_opts io = {0};

    if (lw_store_open(&d->store, d->cfg.db_path, 0, err, sizeof(err)) !=
        LW_OK) {
        lwrt_log(LOG_ERR, "cannot open database %s: %s", d->cfg.db_path, err);
        return -1;
    }
    lwrt_log(LOG_INFO, "store: %s open (schema %d)", d->cfg.db_path,
             lw_store_schema_version(d->store));
    record_settings(d);
    io.topic_owntracks = d->cfg.topic_owntracks;
    io.topic_fix = d->cfg.topic_fix;
    io.topic_account = d->cfg.topic_account;
    io.batch_max = d->cfg.commit_max_fixes;
    lw_decode_opts_init(&io.decode);
    if (lw_ingest_new(&d->ingest, d->store, &io, err, sizeof(err)) != LW_OK) {
        lwrt_log(LOG_ERR, "%s", err);
        return -1;
    }
    set_ingest_limits(d);
    lw_ingest_set_stored_cb(d->ingest, on_stored, d);
    lwd_commit_init(&d->commit, d->loop, d->store, d->ingest, &d->link,
                    &d->cfg);
    lwd_commit_set_observer(&d->commit, commit_state, d);
    return lwd_commit_open(&d->commit);
}

/*
 * The filters our persistent session holds at the broker are kept in the
 * database under SUBS_META_KEY + client id, one a line: the broker keeps a
 * subscription of an older configuration until it is unsubscribed (with
 * "owntracks/#" once configured, the daemon went on receiving everything).
 */
#define SUBS_META_KEY "mqtt.subscriptions."
/* Most filters kept. */
#define SUBS_MAX 8

/* The configured filters, joined by '\n' into buf. */
static void configured_subs(const struct daemon *d, char *buf, size_t len)
{
    const char *subs[] = {d->cfg.topic_owntracks, d->cfg.topic_fix,
                          d->cfg.topic_account};
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (!subs[i][0])
            continue;
        snprintf(buf + used, len - used, "%s%s", used ? "\n" : "", subs[i]);
        used += strlen(buf + used);
    }
}

/* True when filter is a line of list. */
static bool has_line(const char *list, const char *filter)
{
    size_t n = strlen(filter);

    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (len == n && strncmp(p, filter, n) == 0)
            return true;
        p += len + (p[len] == '\n');
    }
    return false;
}

static void save_subs(struct daemon *d, const char *list)
{
    char key[LW_CONFIG_STR_MAX + sizeof(SUBS_META_KEY)];

    snprintf(key, sizeof(key), "%s%s", SUBS_META_KEY, d->cfg.mqtt_client_id);
    if (lw_store_meta_set(d->store, key, list) != LW_OK)
        lwrt_log(LOG_WARNING,
                 "mqtt: cannot record the subscriptions in the database "
                 "(%s): a filter removed from the configuration later may "
                 "stay subscribed",
                 lw_store_errmsg(d->store));
}

/* Every stale filter is gone at the broker: only the configured remain. */
static void on_unsubscribed(void *ctx)
{
    struct daemon *d = ctx;
    char now[3 * (LW_CONFIG_STR_MAX + 1)];

    configured_subs(d, now, sizeof(now));
    save_subs(d, now);
}

/*
 * Compares the filters the session held (database) with the configured
 * ones: the others are unsubscribed at connection. The record is the union
 * until the broker acknowledged that, so a crash in between forgets none.
 */
static int stale_subs(struct daemon *d)
{
    char key[LW_CONFIG_STR_MAX + sizeof(SUBS_META_KEY)];
    char now[3 * (LW_CONFIG_STR_MAX + 1)];
    char all[sizeof(now) + SUBS_MAX * (LW_CONFIG_STR_MAX + 1)];
    char *old = NULL;
    size_t used, nstale = 0;
    enum lw_err e;

    configured_subs(d, now, sizeof(now));
    snprintf(key, sizeof(key), "%s%s", SUBS_META_KEY, d->cfg.mqtt_client_id);
    e = lw_store_meta_get(d->store, key, &old);
    if (e != LW_OK && e != LW_ERR_NOTFOUND) {
        lwrt_log(LOG_WARNING, "mqtt: cannot read the past subscriptions: %s",
                 lw_store_errmsg(d->store));
        return 0;
    }
    snprintf(all, sizeof(all), "%s", now);
    used = strlen(all);
    for (const char *p = old; p && *p;) {
        size_t len = strcspn(p, "\n");
        char f[LW_CONFIG_STR_MAX + 1];

        snprintf(f, sizeof(f), "%.*s", (int)len, p);
        p += len + (p[len] == '\n');
        if (!f[0] || has_line(now, f))
            continue;
        if (nstale >= SUBS_MAX || lwd_mqtt_unsubscribe_stale(&d->link, f) != 0)
            break;
        nstale++;
        lwrt_log(LOG_NOTICE,
                 "mqtt: '%s' was subscribed by an earlier configuration: "
                 "unsubscribing at connection",
                 f);
        snprintf(all + used, sizeof(all) - used, "\n%s", f);
        used += strlen(all + used);
    }
    if (!old || strcmp(old, all) != 0)
        save_subs(d, all);
    free(old);
    return 0;
}

/* The broker link and its subscriptions (not connected yet). 0 or -1. */
static int prepare_link(struct daemon *d)
{
    struct lwd_mqtt_handlers h = {.on_message = on_message,
                                  .on_connected = on_connected,
                                  .on_unsubscribed = on_unsubscribed,
                                  .on_published = on_published};
    const char *subs[] = {d->cfg.topic_owntracks, d->cfg.topic_fix,
                          d->cfg.topic_account};

    snprintf(d->daemon_topic, sizeof(d->daemon_topic), "%s/daemon",
             d->cfg.topic_prefix);
    if (lwd_mqtt_init(&d->link, d->loop, &d->cfg, d->daemon_topic,
                      "{\"state\":\"offline\"}", &h, d) != 0)
        return -1;
    d->link_ok = true;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (subs[i][0] && lwd_mqtt_subscribe(&d->link, subs[i]) != 0) {
            lwrt_log(LOG_ERR, "config: bad subscription pattern '%s'", subs[i]);
            return -1;
        }
    }
    return stale_subs(d);
}

/* Status, retention, the systemd watchdog and the signals. */
static void start_timers(struct daemon *d)
{
    struct lwd_status_src src = {
        .link = &d->link,
        .topic = d->daemon_topic,
        .store = d->store,
        .ingest = d->ingest,
        .commit = &d->commit,
        .watch = d->watch.core,
        .mail = &d->mail,
        .started_ms = d->started_ms,
    };
    uint64_t wd_usec = 0;

    lwd_status_init(&d->status, d->loop, &src);
    lwd_retention_init(&d->retention, d->loop, d->store, &d->cfg, &d->commit);
    lwd_audithead_init(&d->audithead, d->loop, d->store, &d->link, &d->cfg);
    lwd_commands_init(&d->commands, d->loop, d->store, &d->link, &d->cfg);
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        double every = (double)wd_usec / 2e6;
        ev_timer_init(&d->watchdog_timer, watchdog_cb, every, every);
        ev_timer_start(d->loop, &d->watchdog_timer);
        lwrt_log(LOG_INFO, "systemd watchdog: pinging every %.1f s", every);
    } else {
        ev_timer_init(&d->watchdog_timer, watchdog_cb, 1., 0.);
    }
    ev_signal_init(&d->sigint_w, stop_cb, SIGINT);
    ev_signal_init(&d->sigterm_w, stop_cb, SIGTERM);
    ev_signal_init(&d->sighup_w, hup_cb, SIGHUP);
    d->sighup_w.data = d->sigint_w.data = d->sigterm_w.data = d;
    ev_signal_start(d->loop, &d->sigint_w);
    ev_signal_start(d->loop, &d->sigterm_w);
    ev_signal_start(d->loop, &d->sighup_w);
}

static int start(struct daemon *d)
{
    if (open_store(d) != 0 || prepare_link(d) != 0)
        return -1;
    if (lwd_watch_init(&d->watch, d->loop, d->store, &d->link, &d->cfg,
                       &d->commit) != 0)
        return -1;
    d->retention.purged = on_purged;
    d->retention.purged_ctx = d;
    /* a spill left by the last stop, before anything is read */
    if (lwd_commit_merge_late(&d->commit) != 0)
        return -1;
    if (lwd_mail_init(&d->mail, d->loop, d->store, &d->link, &d->cfg) != 0)
        return -1;
    d->mail_ok = true;
    /* storm digests name the places the alert pipeline keeps */
    lwd_mail_set_places(&d->mail, lwd_watch_places_of, &d->watch);
    start_timers(d);
    lwd_mqtt_start(&d->link);
    sd_notify(0, "READY=1\nSTATUS=started");
    lwrt_log(LOG_INFO,
             "lienwatchd %s started (pid %d); commit interval %lld ms, "
             "batch %d",
             LW_VERSION, (int)getpid(), (long long)d->cfg.commit_interval_ms,
             d->cfg.commit_max_fixes);
    return 0;
}

static void stop(struct daemon *d)
{
    char *final = NULL;

    sd_notify(0, "STOPPING=1");
    if (d->ingest) {
        /* what the stop could not commit goes to the spill file */
        lwd_commit_stop(&d->commit);
        final = lwd_status_json(&d->status, "offline");
        lwrt_log(
            LOG_INFO,
            "stopped: received %llu, stored %llu, duplicates %llu, "
            "rejected %llu; longest commit wait %lld ms",
            (unsigned long long)lw_ingest_counter(d->ingest, LW_CNT_RECEIVED),
            (unsigned long long)lw_ingest_counter(d->ingest, LW_CNT_STORED),
            (unsigned long long)lw_ingest_counter(d->ingest, LW_CNT_DUPLICATES),
            (unsigned long long)lw_ingest_counter(d->ingest, LW_CNT_REJECTED),
            (long long)d->commit.max_wait_ms);
    }
    lwd_audithead_release(&d->audithead);
    lwd_commands_release(&d->commands);
    if (d->link_ok)
        lwd_mqtt_shutdown(&d->link, d->daemon_topic,
                          final ? final : "{\"state\":\"offline\"}",
                          SHUTDOWN_FLUSH_MS);
    free(final);
    lwd_status_release(&d->status);
    lwd_retention_release(&d->retention);
    lwd_commit_release(&d->commit);
    if (d->mail_ok)
        lwd_mail_release(&d->mail);
    lwd_watch_release(&d->watch); /* also after a lwd_watch_init that failed */
    lwd_mqtt_release(&d->link);
    lw_ingest_free(d->ingest);
    lw_store_close(d->store);
    if (d->loop) {
        ev_timer_stop(d->loop, &d->watchdog_timer);
        ev_signal_stop(d->loop, &d->sigint_w);
        ev_signal_stop(d->loop, &d->sigterm_w);
        ev_signal_stop(d->loop, &d->sighup_w);
    }
}

enum {
    OPT_DB = 256,
    OPT_MQTT_HOST,
    OPT_MQTT_PORT,
    OPT_SET,
    OPT_CHECK,
    OPT_DUMP,
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, OPT_DB},
        {"mqtt-host", required_argument, NULL, OPT_MQTT_HOST},
        {"mqtt-port", required_argument, NULL, OPT_MQTT_PORT},
        {"set", required_argument, NULL, OPT_SET},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"dump-config", no_argument, NULL, OPT_DUMP},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static struct daemon d; /* large; keep it off the stack */
    char cerr[LW_CONFIG_ERR_MAX];
    bool check_only = false;
    int opt, rc = 1;

    while ((opt = getopt_long(argc, argv, "c:vqhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            d.config_path = optarg;
            break;
        case OPT_DB:
            if (add_override(&d, "store", "db", optarg) != 0)
                return 2;
            break;
        case OPT_MQTT_HOST:
            if (add_override(&d, "mqtt", "host", optarg) != 0)
                return 2;
            break;
        case OPT_MQTT_PORT:
            if (add_override(&d, "mqtt", "port", optarg) != 0)
                return 2;
            break;
        case OPT_SET:
            if (parse_set(&d, optarg) != 0)
                return 2;
            break;
        case OPT_CHECK:
            check_only = true;
            break;
        case OPT_DUMP:
            lw_config_dump(stdout);
            return 0;
        case 'v':
            verbosity++;
            break;
        case 'q':
            verbosity--;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("lienwatchd %s\n", LW_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try 'lienwatchd --help' for more information.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "lienwatchd: unexpected argument '%s'\n"
                "Try 'lienwatchd --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (load_config(&d, &d.cfg, cerr, sizeof(cerr)) != 0) {
        for (const char *p = cerr; *p;) {
            size_t len = strcspn(p, "\n");
            fprintf(stderr, "lienwatchd: %.*s\n", (int)len, p);
            p += len + (p[len] == '\n');
        }
        return EXIT_CONFIG;
    }
    if (check_only) {
        printf("%s: configuration is valid\n",
               d.config_path ? d.config_path : "(defaults)");
        if (geteuid() == 0)
            fprintf(
                stderr,
                "lienwatchd: note: files were checked as root, who may "
                "read what the service user cannot; check as that user "
                "(runuser -u lienwatch -- lienwatchd --check-config ...)\n");
        return 0;
    }
    apply_log_level(&d.cfg, verbosity);
    signal(SIGPIPE, SIG_IGN);
    /* one thread: SQLite's global memory statistics would only add a
     * mutex to every allocation */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (lwd_jsonarena_init(JSON_ARENA_BYTES) != 0)
        lwrt_log(LOG_WARNING,
                 "no memory for the JSON arena; decoding uses malloc");
    mosquitto_lib_init();
    d.loop = EV_DEFAULT;
    d.started_ms = lwrt_wall_ms();
    if (start(&d) == 0) {
        ev_run(d.loop, 0);
        rc = 0;
    }
    stop(&d);
    mosquitto_lib_cleanup();
    ev_loop_destroy(d.loop);
    lwd_jsonarena_release();
    return rc;
}
