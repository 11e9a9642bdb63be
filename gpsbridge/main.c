/*
 * main.c - lw-gpsbridge: gpsd fixes to MQTT, with a spool for when the
 * link is down.
 *
 * One libev loop: the gpsd socket (gpslink.c), the broker socket
 * (mqttlink.c over runtime/mqtt.h, whose name lookups run in a short-lived
 * thread), a 1 s tick, the systemd watchdog and the signals.
 * Each valid fix goes through the reporting policy (policy.c); a fix to
 * report is formatted as gpsd TPV JSON, committed to the spool (spool.c)
 * and then published at QoS 1 in spool order.
 *
 * SIGTERM/SIGINT: stop, keep the spool, exit 0. SIGHUP: re-read the
 * configuration file; the reporting policy and log level take effect, other
 * settings need a restart (an invalid file is reported and ignored).
 */
#include <errno.h>
#include <getopt.h>
#include <gps.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "bridge.h"

#ifndef LW_VERSION
#define LW_VERSION "0.0.0"
#endif

/* Exit statuses besides 0 and 1 (sysexits.h values where one fits). */
#define EXIT_USAGE 2   /* unknown option, missing argument */
#define EXIT_CONFIG 78 /* invalid settings: file or values (EX_CONFIG) */
/* Log counters this often at level info. */
#define STATS_EVERY_MS (15 * 60 * 1000)
/* At most one "spool full" warning per this long. */
#define DROP_LOG_EVERY_MS 60000
#define TICK_S 1.0

struct app {
    struct gb_settings cfg;  /* effective settings */
    const char *config_path; /* -c FILE, or NULL */
    int argc;                /* kept for SIGHUP re-parsing */
    char **argv;
    bool dry_run;             /* --dry-run */
    struct ev_loop *loop;     /* the default loop */
    struct gb_policy policy;  /* reporting policy state */
    struct gb_spool *spool;   /* NULL in dry-run */
    struct gb_gpslink *gps;   /* NULL in dry-run */
    struct gb_mqttlink *mqtt; /* NULL in dry-run */
    char topic[GB_TOPIC_MAX]; /* prefix/device */
    ev_signal sig_term, sig_int, sig_hup;
    ev_timer tick;                            /* 1 s housekeeping */
    ev_timer watchdog;                        /* WATCHDOG=1 to systemd */
    uint64_t fixes_valid;                     /* valid fixes from gpsd */
    uint64_t verdicts[GB_VERDICTS];           /* per policy verdict */
    char cmd_topic[GB_TOPIC_MAX];             /* command prefix/device, "" */
    uint64_t commands;                        /* report_now received */
    uint64_t spool_failures;   /* fixes lost: spool write failed */
    int64_t dropped_since_log; /* dropped, not yet logged */
    int64_t drop_log_mono;     /* last "spool full" warning */
    int64_t stats_mono;        /* last stats line */
};

/* Options without a short form; each maps to a setting key. */
struct optmap {
    const char *name; /* long option */
    const char *key;  /* setting */
    int has_arg;      /* getopt has_arg */
};

static const struct optmap optmap[] = {
    {"gpsd", "gpsd", required_argument},
    {"gpsd-timeout", "gpsd_timeout", required_argument},
    {"mqtt-host", "mqtt_host", required_argument},
    {"mqtt-port", "mqtt_port", required_argument},
    {"mqtt-client-id", "mqtt_client_id", required_argument},
    {"mqtt-keepalive", "mqtt_keepalive", required_argument},
    {"topic-prefix", "topic_prefix", required_argument},
    {"command-prefix", "command_prefix", required_argument},
    {"max-inflight", "max_inflight", required_argument},
    {"mqtt-username", "mqtt_username", required_argument},
    {"mqtt-password-file", "mqtt_password_file", required_argument},
    {"mqtt-cafile", "mqtt_cafile", required_argument},
    {"mqtt-capath", "mqtt_capath", required_argument},
    {"mqtt-certfile", "mqtt_certfile", required_argument},
    {"mqtt-keyfile", "mqtt_keyfile", required_argument},
    {"mqtt-tls-insecure", "mqtt_tls_insecure", no_argument},
    {"device", "device", required_argument},
    {"spool", "spool", required_argument},
    {"spool-max", "spool_max", required_argument},
    {"spool-sync", "spool_sync", required_argument},
    {"min-interval", "min_interval", required_argument},
    {"parked-interval", "parked_interval", required_argument},
    {"turn-angle", "turn_angle", required_argument},
    {"moving-speed", "moving_speed", required_argument},
    {"log-level", "log_level", required_argument},
};

#define NOPTMAP (sizeof optmap / sizeof optmap[0])
#define OPT_BASE 1000
#define OPT_DRY_RUN (OPT_BASE + 200)
#define OPT_PRINT_CONFIG (OPT_BASE + 201)

/* The help text is laid out as it prints. */
/* clang-format off */
static void usage(FILE *f)
{
    fprintf(f,
"Usage: " GB_PROG " --device ID [OPTION]...\n"
"Read position fixes from gpsd and publish them to an MQTT broker as gpsd\n"
"TPV JSON on TOPIC_PREFIX/ID (QoS 1), keeping every fix in a local SQLite\n"
"spool until the broker has acknowledged it. A {\"action\":\"report_now\"}\n"
"command on COMMAND_PREFIX/ID (lienwatchd sends it when asked to locate the\n"
"vehicle now) sends the next valid fix whatever the policy says.\n"
"\n"
"  -d, --device ID            device id, the last topic level (required)\n"
"  -c, --config FILE          read settings from FILE (key = value lines);\n"
"                             options given here override the file\n"
"gpsd:\n"
"      --gpsd HOST[:PORT]     gpsd to read (default localhost:2947)\n"
"      --gpsd-timeout DUR     reconnect after this long without data (60s)\n"
"MQTT:\n"
"      --mqtt-host HOST       broker host (default localhost)\n"
"      --mqtt-port PORT       broker port (default 1883)\n"
"      --mqtt-client-id ID    client id (default lw-gpsbridge-ID)\n"
"      --mqtt-keepalive DUR   keep-alive interval (default 60s)\n"
"      --topic-prefix P       topic prefix (default lienwatch/v1/fix)\n"
"      --command-prefix P     take commands on P/ID (default\n"
"                             lienwatch/v1/cmd; \"\" for none): report_now\n"
"                             sends the next valid fix at once\n"
"      --max-inflight N       QoS 1 messages awaiting PUBACK (default 20)\n"
"      --mqtt-username USER   authenticate as USER\n"
"      --mqtt-password-file F password: first line of F\n"
"      --mqtt-cafile FILE     enable TLS, trusting the CAs in FILE\n"
"      --mqtt-capath DIR      enable TLS, trusting the CAs in DIR\n"
"      --mqtt-certfile FILE   TLS client certificate (with --mqtt-keyfile)\n"
"      --mqtt-keyfile FILE    TLS client key\n"
"      --mqtt-tls-insecure    do not check the broker's host name\n"
"Spool:\n"
"      --spool PATH           spool database\n"
"                             (default /var/lib/lw-gpsbridge/spool.db)\n"
"      --spool-max N          keep at most N fixes; when full the oldest\n"
"                             are dropped, counted and logged (100000)\n"
"      --spool-sync MODE      full (each fix on disk before it is sent,\n"
"                             the default) or normal (faster, a power cut\n"
"                             may lose the last fixes)\n"
"Reporting policy (DUR: 5, 5s, 500ms, 2m, 1h; a bare number is seconds):\n"
"      --min-interval DUR     moving: at most one fix per DUR (default 5s)\n"
"      --parked-interval DUR  parked: one fix per DUR (default 300s)\n"
"      --turn-angle DEG       course change that is always sent (30)\n"
"      --moving-speed M/S     speed at which a parked vehicle is moving;\n"
"                             it parks below half of it (default 1.5)\n"
"                             A start, a stop and a turn are always sent;\n"
"                             intervals of 0 send every valid fix.\n"
"Other:\n"
"      --dry-run              read gpsd JSON (as gpspipe -w prints it) from\n"
"                             standard input and print \"TOPIC PAYLOAD\" for\n"
"                             each fix the policy keeps; no MQTT, no spool\n"
"      --print-config         print the effective settings and exit\n"
"      --log-level LEVEL      error, warning, notice, info (default), debug\n"
"  -v, --verbose              same as --log-level debug\n"
"  -q, --quiet                same as --log-level warning\n"
"  -h, --help                 show this help and exit\n"
"  -V, --version              show the version and exit\n"
"\n"
"Signals: SIGTERM or SIGINT stop it (exit 0, the spool is kept); SIGHUP\n"
"re-reads the configuration file (policy and log level).\n"
"Exit status: 0 stopped by a signal or done; 1 cannot start (spool, password\n"
"file); 2 bad usage; 78 invalid configuration (file or values).\n"
"See lw-gpsbridge(8).\n");
}
/* clang-format on */

/* Fills a getopt_long table from optmap plus the fixed options. */
static void build_longopts(struct option *lo)
{
    size_t i;

    for (i = 0; i < NOPTMAP; i++)
        lo[i] = (struct option){optmap[i].name, optmap[i].has_arg, NULL,
                                OPT_BASE + (int)i};
    lo[i++] = (struct option){"config", required_argument, NULL, 'c'};
    lo[i++] = (struct option){"verbose", no_argument, NULL, 'v'};
    lo[i++] = (struct option){"quiet", no_argument, NULL, 'q'};
    lo[i++] = (struct option){"help", no_argument, NULL, 'h'};
    lo[i++] = (struct option){"version", no_argument, NULL, 'V'};
    lo[i++] = (struct option){"dry-run", no_argument, NULL, OPT_DRY_RUN};
    lo[i++] =
        (struct option){"print-config", no_argument, NULL, OPT_PRINT_CONFIG};
    lo[i] = (struct option){NULL, 0, NULL, 0};
}

#define SHORTOPTS "c:d:vqhV"
#define NLONGOPTS (NOPTMAP + 8)

/*
 * Applies the command line to s (after defaults and file). With first_pass
 * only -c, -h, -V and usage errors are handled. Returns -1 to continue,
 * else an exit status.
 */
static int parse_args(struct app *a, struct gb_settings *s, bool first_pass,
                      bool *print_config)
{
    struct option lo[NLONGOPTS];
    char err[512];
    int c;

    build_longopts(lo);
    optind = 0; /* GNU: full re-initialisation */
    opterr = first_pass;
    while ((c = getopt_long(a->argc, a->argv, SHORTOPTS, lo, NULL)) != -1) {
        const char *key = NULL, *val = optarg;

        switch (c) {
        case 'c':
            a->config_path = optarg;
            continue;
        case 'h':
            if (first_pass) {
                usage(stdout);
                return 0;
            }
            continue;
        case 'V':
            if (first_pass) {
                printf(GB_PROG " " LW_VERSION " (libgps API %d.%d, "
                               "libmosquitto %d.%d.%d)\n",
                       GPSD_API_MAJOR_VERSION, GPSD_API_MINOR_VERSION,
                       LIBMOSQUITTO_MAJOR, LIBMOSQUITTO_MINOR,
                       LIBMOSQUITTO_REVISION);
                return 0;
            }
            continue;
        case '?':
            fprintf(stderr, "Try '" GB_PROG " --help'.\n");
            return EXIT_USAGE;
        case OPT_DRY_RUN:
            a->dry_run = true;
            continue;
        case OPT_PRINT_CONFIG:
            *print_config = true;
            continue;
        case 'd':
            key = "device";
            break;
        case 'v':
            key = "log_level";
            val = "debug";
            break;
        case 'q':
            key = "log_level";
            val = "warning";
            break;
        default:
            if (c >= OPT_BASE && c < OPT_BASE + (int)NOPTMAP) {
                key = optmap[c - OPT_BASE].key;
                if (!val)
                    val = "true"; /* flag options */
            }
            break;
        }
        if (first_pass || !key)
            continue;
        if (gb_settings_set(s, key, val, err, sizeof err) != LW_OK) {
            fprintf(stderr, GB_PROG ": %s\n", err);
            return EXIT_CONFIG;
        }
    }
    if (optind < a->argc) {
        fprintf(stderr, GB_PROG ": unexpected argument '%s'\n",
                a->argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

/* defaults, then the file, then the command line. Returns -1 or a status. */
static int load_settings(struct app *a, struct gb_settings *s,
                         bool *print_config)
{
    char err[512];
    int rc;

    gb_settings_defaults(s);
    if (a->config_path &&
        gb_settings_load(s, a->config_path, err, sizeof err) != LW_OK) {
        fprintf(stderr, GB_PROG ": %s\n", err);
        return EXIT_CONFIG;
    }
    rc = parse_args(a, s, false, print_config);
    if (rc >= 0)
        return rc;
    if (*print_config)
        return -1;
    if (gb_settings_check(s, err, sizeof err) != LW_OK) {
        fprintf(stderr, GB_PROG ": %s\n", err);
        return EXIT_CONFIG;
    }
    return -1;
}

static void on_fix(void *ctx, const struct gb_fix *fix)
{
    struct app *a = ctx;
    enum gb_verdict v = gb_policy_decide(&a->policy, fix);
    char payload[GB_PAYLOAD_MAX], when[32], err[512];
    int64_t dropped = 0;

    a->fixes_valid++;
    a->verdicts[v]++;
    lwrt_log(LOG_DEBUG, "fix %s %.7f %.7f speed %.2f track %.1f: %s",
           gb_time_format(fix->time_ms, when, sizeof when), fix->lat_deg,
           fix->lon_deg, fix->speed_mps, fix->track_deg, gb_verdict_name(v));
    if (!gb_verdict_sends(v))
        return;
    if (gb_tpv_format(fix, payload, sizeof payload) < 0) {
        lwrt_log(LOG_ERR, "fix %s: payload too long", when);
        return;
    }
    if (a->dry_run) {
        printf("%s %s\n", a->topic, payload);
        return;
    }
    if (gb_spool_push(a->spool, a->topic, payload, fix->time_ms, lwrt_wall_ms(),
                      NULL, &dropped, err, sizeof err) != LW_OK) {
        a->spool_failures++;
        lwrt_log(LOG_ERR, "%s: fix %s lost", err, when);
        return;
    }
    if (dropped > 0) {
        int64_t now = lwrt_mono_ms();

        a->dropped_since_log += dropped;
        if (a->drop_log_mono == 0 ||
            now - a->drop_log_mono >= DROP_LOG_EVERY_MS) {
            lwrt_log(LOG_WARNING,
                   "spool full (%" PRId64 " fixes): dropped the %" PRId64
                   " oldest; %" PRId64 " dropped in all",
                   a->cfg.spool_max, a->dropped_since_log,
                   gb_spool_dropped_total(a->spool));
            a->dropped_since_log = 0;
            a->drop_log_mono = now;
        }
    }
    gb_mqttlink_kick(a->mqtt);
}

/* A message on the command topic. */
static void on_command(void *ctx, const void *payload, size_t len)
{
    struct app *a = ctx;

    if (!gb_command_is_report_now(payload, len)) {
        lwrt_log(LOG_WARNING,
                 "command on %s ignored: not {\"action\":\"report_now\"} "
                 "(%zu bytes)",
                 a->cmd_topic, len);
        return;
    }
    a->commands++;
    gb_policy_request(&a->policy);
    lwrt_log(LOG_INFO, "report_now on %s: sending the next valid fix",
             a->cmd_topic);
}

static void log_stats(struct app *a, int level)
{
    lwrt_log(level,
           "stats: %" PRIu64 " valid fixes, %" PRIu64 " kept (first %" PRIu64
           ", start %" PRIu64 ", stop %" PRIu64 ", turn %" PRIu64
           ", interval %" PRIu64 ", time-jump %" PRIu64 ", requested %" PRIu64
           " of %" PRIu64 " report_now), %" PRIu64
           " same-time, %" PRIu64 " skipped; %" PRIu64
           " acknowledged; spool %" PRId64 " waiting, %" PRId64
           " dropped in all, %" PRIu64 " lost to write errors",
           a->fixes_valid,
           a->verdicts[GB_SEND_FIRST] + a->verdicts[GB_SEND_START] +
               a->verdicts[GB_SEND_STOP] + a->verdicts[GB_SEND_TURN] +
               a->verdicts[GB_SEND_INTERVAL] + a->verdicts[GB_SEND_TIME_JUMP] +
               a->verdicts[GB_SEND_REQUESTED],
           a->verdicts[GB_SEND_FIRST], a->verdicts[GB_SEND_START],
           a->verdicts[GB_SEND_STOP], a->verdicts[GB_SEND_TURN],
           a->verdicts[GB_SEND_INTERVAL], a->verdicts[GB_SEND_TIME_JUMP],
           a->verdicts[GB_SEND_REQUESTED], a->commands,
           a->verdicts[GB_SKIP_SAME_TIME], a->verdicts[GB_SKIP],
           a->mqtt ? gb_mqttlink_acked(a->mqtt) : 0,
           a->spool ? gb_spool_count(a->spool) : 0,
           a->spool ? gb_spool_dropped_total(a->spool) : 0, a->spool_failures);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct app *a = w->data;
    int64_t now = lwrt_mono_ms();

    (void)loop;
    (void)revents;
    gb_gpslink_tick(a->gps);
    sd_notifyf(0,
               "STATUS=gpsd %s, broker %s; %" PRIu64 " fixes, %" PRIu64
               " acknowledged, %" PRId64 " waiting in the spool",
               gb_gpslink_connected(a->gps) ? "connected" : "down",
               gb_mqttlink_connected(a->mqtt) ? "connected" : "down",
               a->fixes_valid, gb_mqttlink_acked(a->mqtt),
               gb_spool_count(a->spool));
    if (now - a->stats_mono >= STATS_EVERY_MS) {
        log_stats(a, LOG_INFO);
        a->stats_mono = now;
    }
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sd_notify(0, "WATCHDOG=1");
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    lwrt_log(LOG_NOTICE, "%s: stopping", strsignal(w->signum));
    ev_break(loop, EVBREAK_ALL);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct app *a = w->data;
    struct gb_settings s;
    struct gb_policy_cfg pc;
    bool print_config = false;

    (void)loop;
    (void)revents;
    if (!a->config_path) {
        lwrt_log(LOG_NOTICE, "SIGHUP: no configuration file to re-read");
        return;
    }
    if (load_settings(a, &s, &print_config) >= 0) {
        lwrt_log(LOG_ERR,
               "SIGHUP: %s is not valid; keeping the current "
               "settings",
               a->config_path);
        return;
    }
    a->cfg.min_interval_ms = s.min_interval_ms;
    a->cfg.parked_interval_ms = s.parked_interval_ms;
    a->cfg.turn_deg = s.turn_deg;
    a->cfg.moving_mps = s.moving_mps;
    a->cfg.log_level = s.log_level;
    gb_settings_policy(&a->cfg, &pc);
    gb_policy_set_cfg(&a->policy, &pc);
    lwrt_log_set_level(a->cfg.log_level);
    lwrt_log(LOG_NOTICE,
           "SIGHUP: re-read %s (policy and log level applied; "
           "other changes need a restart)",
           a->config_path);
}

static int run_dry(struct app *a)
{
    long tpvs = gb_gps_replay_file(stdin, on_fix, a);

    fflush(stdout);
    lwrt_log(LOG_INFO, "dry run: %ld TPV reports", tpvs);
    log_stats(a, LOG_INFO);
    return ferror(stdout) ? 1 : 0;
}

static int run(struct app *a)
{
    char err[512], when[32];
    double wd_s;
    uint64_t wd_usec = 0;
    int64_t oldest;
    int status = 1;

    if (gb_spool_open(a->cfg.spool_path, a->cfg.spool_max,
                      a->cfg.spool_sync_full, &a->spool, err,
                      sizeof err) != LW_OK) {
        lwrt_log(LOG_ERR, "%s", err);
        return 1;
    }
    oldest = gb_spool_oldest_fix_ms(a->spool);
    lwrt_log(
        LOG_NOTICE, "%s %s: device %s, spool %s (%" PRId64 " fixes waiting%s%s)",
        GB_PROG, LW_VERSION, a->cfg.device, a->cfg.spool_path,
        gb_spool_count(a->spool), oldest == INT64_MIN ? "" : ", oldest ",
        oldest == INT64_MIN ? "" : gb_time_format(oldest, when, sizeof when));
    if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) {
        lwrt_log(LOG_ERR, "mosquitto_lib_init failed");
        goto out_spool;
    }
    a->loop = EV_DEFAULT;
    ev_signal_init(&a->sig_term, on_stop, SIGTERM);
    ev_signal_init(&a->sig_int, on_stop, SIGINT);
    ev_signal_init(&a->sig_hup, on_hup, SIGHUP);
    a->sig_hup.data = a;
    ev_signal_start(a->loop, &a->sig_term);
    ev_signal_start(a->loop, &a->sig_int);
    ev_signal_start(a->loop, &a->sig_hup);

    a->mqtt = gb_mqttlink_new(a->loop, &a->cfg, a->spool, a->cmd_topic,
                              on_command, a);
    if (!a->mqtt)
        goto out_lib;
    a->gps = gb_gpslink_new(a->loop, &a->cfg, on_fix, a);
    if (!a->gps)
        goto out_mqtt;
    ev_timer_init(&a->tick, on_tick, TICK_S, TICK_S);
    a->tick.data = a;
    ev_timer_start(a->loop, &a->tick);
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        wd_s = (double)wd_usec / 2e6;
        ev_timer_init(&a->watchdog, on_watchdog, wd_s, wd_s);
        ev_timer_start(a->loop, &a->watchdog);
    }
    a->stats_mono = lwrt_mono_ms();
    sd_notify(0, "READY=1");

    ev_run(a->loop, 0);

    sd_notify(0, "STOPPING=1");
    ev_timer_stop(a->loop, &a->tick);
    ev_timer_stop(a->loop, &a->watchdog);
    log_stats(a, LOG_NOTICE);
    status = 0;
    gb_gpslink_free(a->gps);
out_mqtt:
    gb_mqttlink_free(a->mqtt);
out_lib:
    ev_signal_stop(a->loop, &a->sig_term);
    ev_signal_stop(a->loop, &a->sig_int);
    ev_signal_stop(a->loop, &a->sig_hup);
    ev_loop_destroy(a->loop);
    mosquitto_lib_cleanup();
out_spool:
    lwrt_log(LOG_NOTICE, "exit: %" PRId64 " fixes kept in the spool",
           gb_spool_count(a->spool));
    gb_spool_close(a->spool);
    return status;
}

int main(int argc, char **argv)
{
    static struct app a; /* zeroed; large, so not on the stack */
    struct gb_policy_cfg pc;
    bool print_config = false;
    int rc;

    lwrt_log_init(GB_PROG);
    a.argc = argc;
    a.argv = argv;
    rc = parse_args(&a, &a.cfg, true, &print_config);
    if (rc >= 0)
        return rc;
    rc = load_settings(&a, &a.cfg, &print_config);
    if (rc >= 0)
        return rc;
    if (print_config) {
        gb_settings_print(&a.cfg, stdout);
        return 0;
    }
    lwrt_log_set_level(a.cfg.log_level);
    snprintf(a.topic, sizeof a.topic, "%s/%s", a.cfg.topic_prefix,
             a.cfg.device);
    if (*a.cfg.command_prefix)
        snprintf(a.cmd_topic, sizeof a.cmd_topic, "%s/%s",
                 a.cfg.command_prefix, a.cfg.device);
    gb_settings_policy(&a.cfg, &pc);
    gb_policy_init(&a.policy, &pc);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)(getpid() ^ time(NULL)));
    if (a.dry_run)
        return run_dry(&a);
    return run(&a);
}
