/*
 * bridge.h - private interfaces of lw-gpsbridge (gpsd -> MQTT with a spool).
 *
 * Logging, clocks, the password and the MQTT connection come from the
 * shared runtime (runtime/log.h, clock.h, secret.h, mqtt.h).
 *
 * Modules, each in its own file, prefix gb_:
 *   policy.c    pure logic: the reporting policy, TPV JSON, time formatting
 *   spool.c     the SQLite store-and-forward queue
 *   settings.c  the settings table (defaults, config file, options)
 *   gpslink.c   gpsd through libgps on a libev loop
 *   mqttlink.c  the spool published through the runtime's MQTT link
 *   main.c      option parsing, wiring, signals, systemd notification
 *
 * Units: WGS-84 degrees, metres, metres per second, degrees clockwise from
 * true north. Times are int64_t milliseconds: fix times are UTC since the
 * Unix epoch (the receiver's clock), "mono" times come from CLOCK_MONOTONIC.
 */
#ifndef LW_GPSBRIDGE_BRIDGE_H
#define LW_GPSBRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "runtime/clock.h"
#include "runtime/log.h"

#define GB_PROG "lw-gpsbridge"

/* Buffer size for host names, file paths and similar strings. */
#define GB_STR_MAX 256
#define GB_PATH_MAX 4096
/* Longest topic (prefix "/" device) and payload, with the NUL. */
#define GB_TOPIC_MAX (GB_STR_MAX + LW_DEVICE_MAX + 2)
#define GB_PAYLOAD_MAX 512

/* --------------------------------------------------------------- policy */

/*
 * One valid position report, already checked (see gb_fix_valid in
 * gpslink.c): optional doubles are NAN when gpsd did not give them.
 */
struct gb_fix {
    int64_t time_ms;  /* receiver's fix time, UTC ms since the epoch */
    int mode;         /* gpsd fix mode: 2 = 2D, 3 = 3D */
    double lat_deg;   /* latitude, WGS-84 */
    double lon_deg;   /* longitude, WGS-84 */
    double speed_mps; /* speed over ground, NAN if unknown */
    double track_deg; /* course over ground, NAN if unknown */
    double eph_m;     /* horizontal position error estimate, NAN if unknown */
    double alt_msl_m; /* altitude above mean sea level, NAN if unknown */
};

/* Reporting-policy parameters (see the man page, "REPORTING POLICY"). */
struct gb_policy_cfg {
    int64_t min_interval_ms;    /* moving: at most one report per interval */
    int64_t parked_interval_ms; /* parked: one report per interval */
    double turn_deg;            /* course change that forces a report */
    double moving_mps;          /* speed at which a parked vehicle moves */
};

/* Why a fix was sent or not. */
enum gb_verdict {
    GB_SKIP = 0,       /* not due: dropped by the policy */
    GB_SKIP_SAME_TIME, /* same fix time as the previous valid fix */
    GB_SEND_FIRST,     /* first valid fix since the bridge started */
    GB_SEND_START,     /* parked -> moving */
    GB_SEND_STOP,      /* moving -> parked */
    GB_SEND_TURN,      /* course changed by more than turn_deg */
    GB_SEND_INTERVAL,  /* min_interval (moving) or parked_interval passed */
    GB_SEND_TIME_JUMP, /* the receiver's clock went backwards */
    GB_SEND_REQUESTED, /* not due, but a report_now command asked for it */
};
/* Number of verdicts, for per-verdict counters. */
#define GB_VERDICTS (GB_SEND_REQUESTED + 1)

/* True when the verdict says "publish". */
static inline bool gb_verdict_sends(enum gb_verdict v)
{
    return v >= GB_SEND_FIRST;
}

/* A short English name for v ("turn", "parked-interval"...). */
const char *gb_verdict_name(enum gb_verdict v);

/* State of the reporting policy; plain data, no allocation. */
struct gb_policy {
    struct gb_policy_cfg cfg; /* copied parameters */
    bool have_prev;           /* a valid fix has been seen */
    int64_t prev_time_ms;     /* time of the previous valid fix */
    double prev_lat_deg;      /* its position (for a derived speed) */
    double prev_lon_deg;
    bool moving;           /* current motion state */
    bool have_sent;        /* a fix has been sent */
    int64_t sent_time_ms;  /* time of the last sent fix */
    double sent_track_deg; /* its course, NAN if unknown */
    bool requested;        /* report_now: send the next valid fix */
};

/* Starts a policy with cfg (copied); no fix seen yet. */
void gb_policy_init(struct gb_policy *p, const struct gb_policy_cfg *cfg);

/* Replaces the parameters (SIGHUP) and keeps the state. */
void gb_policy_set_cfg(struct gb_policy *p, const struct gb_policy_cfg *cfg);

/*
 * Decides whether the valid fix f (borrowed) is reported, and updates the
 * policy state. Fixes must be passed in the order the receiver gave them.
 */
enum gb_verdict gb_policy_decide(struct gb_policy *p, const struct gb_fix *f);

/*
 * A report_now command arrived: the next valid fix (with a new fix time) is
 * sent whatever the policy says (GB_SEND_REQUESTED, unless it is sent for
 * another reason). The next fix, not the last one: its time is after the
 * request, which is what tells the asker that the answer is fresh.
 */
void gb_policy_request(struct gb_policy *p);

/*
 * True when payload (len bytes, not terminated) is a report_now command:
 * a JSON object whose "action" is "report_now". Anything else (other
 * actions, garbage) is false.
 */
bool gb_command_is_report_now(const void *payload, size_t len);

/* Great-circle distance in metres (spherical Earth). */
double gb_distance_m(double lat1, double lon1, double lat2, double lon2);

/* Smallest angle between two courses, in [0, 180]. */
double gb_angle_diff_deg(double a, double b);

/*
 * Formats ms as ISO 8601 UTC with milliseconds, as gpsd does:
 * "2010-04-03T11:22:33.000Z". buf needs at least 32 bytes. Returns buf.
 */
char *gb_time_format(int64_t ms, char *buf, size_t len);

/*
 * Formats f as a gpsd TPV JSON object (class, mode, time, lat, lon, and
 * altMSL, track, speed, eph when known), with gpsd's number precision.
 * Returns the length written, or -1 if buf (len bytes) is too small.
 */
int gb_tpv_format(const struct gb_fix *f, char *buf, size_t len);

/* ---------------------------------------------------------------- spool */

struct gb_spool;

/*
 * Opens (creating when missing, mode 0600 whatever the umask) the spool
 * database at path; an existing spool that group or others may read is
 * made private (with its -wal and -shm files). max_rows > 0
 * bounds it; full_sync selects synchronous=FULL (each fix on disk before
 * it is published) over NORMAL. Also takes an exclusive lock on
 * "<path>.lock" so that two bridges cannot drain one spool. On failure
 * returns an error with a sentence in err.
 */
enum lw_err gb_spool_open(const char *path, int64_t max_rows, bool full_sync,
                          struct gb_spool **out, char *err, size_t errlen);

/* Closes the spool; pending fixes stay on disk. NULL is a no-op. */
void gb_spool_close(struct gb_spool *s);

/*
 * Appends a fix (topic and payload copied). When the spool already holds
 * max_rows fixes the oldest are deleted first; *dropped (may be NULL) gets
 * how many. *id gets the new row id (ids only grow: their order is the
 * order the fixes were taken in).
 */
enum lw_err gb_spool_push(struct gb_spool *s, const char *topic,
                          const char *payload, int64_t fix_time_ms,
                          int64_t taken_ms, int64_t *id, int64_t *dropped,
                          char *err, size_t errlen);

/* One spooled fix, as returned by gb_spool_next. */
struct gb_spooled {
    int64_t id;                   /* row id, increasing */
    int64_t fix_time_ms;          /* the fix's time */
    char topic[GB_TOPIC_MAX];     /* MQTT topic */
    char payload[GB_PAYLOAD_MAX]; /* TPV JSON */
};

/*
 * Reads up to n fixes with id > after_id, oldest first, into out[].
 * Returns how many (0 when none), or -1 on a database error (err set).
 */
int gb_spool_next(struct gb_spool *s, int64_t after_id, struct gb_spooled *out,
                  int n, char *err, size_t errlen);

/* Deletes the fix with this id (acknowledged by the broker). Deleting an
 * id that is gone (dropped while in flight) is not an error. */
enum lw_err gb_spool_remove(struct gb_spool *s, int64_t id, char *err,
                            size_t errlen);

/* Number of fixes waiting, and total dropped because the spool was full
 * (kept in the database across restarts). */
int64_t gb_spool_count(const struct gb_spool *s);
int64_t gb_spool_dropped_total(const struct gb_spool *s);

/* Oldest pending fix time, or INT64_MIN when empty. */
int64_t gb_spool_oldest_fix_ms(struct gb_spool *s);

/* ------------------------------------------------------------- settings */

struct gb_settings {
    char device[LW_DEVICE_MAX + 1];       /* device id: last topic level */
    char gpsd_host[GB_STR_MAX];           /* gpsd host name or address */
    char gpsd_port[16];                   /* gpsd port or service name */
    int64_t gpsd_timeout_ms;              /* silence before reconnecting */
    char mqtt_host[GB_STR_MAX];           /* broker host */
    int mqtt_port;                        /* broker port */
    char mqtt_client_id[GB_STR_MAX];      /* empty: "lw-gpsbridge-<device>" */
    int64_t mqtt_keepalive_ms;            /* MQTT keep-alive */
    char topic_prefix[GB_STR_MAX];        /* topic = prefix "/" device */
    char command_prefix[GB_STR_MAX];      /* commands on prefix "/" device;
                                             "": none */
    int max_inflight;                     /* QoS 1 messages awaiting PUBACK */
    char mqtt_username[GB_STR_MAX];       /* empty: no authentication */
    char mqtt_password_file[GB_PATH_MAX]; /* first line is the password */
    char mqtt_cafile[GB_PATH_MAX];        /* TLS: CA bundle (enables TLS) */
    char mqtt_capath[GB_PATH_MAX];        /* TLS: CA directory (enables TLS) */
    char mqtt_certfile[GB_PATH_MAX];      /* TLS client certificate */
    char mqtt_keyfile[GB_PATH_MAX];       /* TLS client key */
    bool mqtt_tls_insecure;               /* skip the host name check */
    char spool_path[GB_PATH_MAX];         /* SQLite spool file */
    int64_t spool_max;                    /* bound on spooled fixes */
    bool spool_sync_full;                 /* synchronous=FULL, else NORMAL */
    int64_t min_interval_ms;              /* policy, see struct gb_policy_cfg */
    int64_t parked_interval_ms;
    double turn_deg;
    double moving_mps;
    int log_level; /* most verbose level logged (LOG_ERR..LOG_DEBUG) */
};

/* Fills s with every setting's default. */
void gb_settings_defaults(struct gb_settings *s);

/*
 * Sets one setting by its configuration-file name from a string, checking
 * type and range. Returns LW_OK, LW_ERR_NOTFOUND (unknown key) or
 * LW_ERR_CONFIG (bad value), with a sentence in err.
 */
enum lw_err gb_settings_set(struct gb_settings *s, const char *key,
                            const char *value, char *err, size_t errlen);

/* Reads a configuration file (inih syntax: "key = value", '#' or ';'
 * comments, no sections) into s. Stops at the first error. */
enum lw_err gb_settings_load(struct gb_settings *s, const char *path, char *err,
                             size_t errlen);

/* Checks the combination (device given and valid, topic valid...). */
enum lw_err gb_settings_check(const struct gb_settings *s, char *err,
                              size_t errlen);

/* Prints every setting in configuration-file syntax. */
void gb_settings_print(const struct gb_settings *s, void *stdio_file);

/* The policy part of the settings. */
void gb_settings_policy(const struct gb_settings *s, struct gb_policy_cfg *out);

/* ---------------------------------------------------------------- links */

struct ev_loop;
struct gb_gpslink;
struct gb_mqttlink;

/*
 * Called for each valid fix that gpsd reports, in order. ctx is what was
 * given to gb_gpslink_new.
 */
typedef void gb_fix_cb(void *ctx, const struct gb_fix *fix);

/* Creates the gpsd side and starts connecting (retrying with back-off).
 * s and loop are borrowed and must outlive the link. */
struct gb_gpslink *gb_gpslink_new(struct ev_loop *loop,
                                  const struct gb_settings *s, gb_fix_cb *cb,
                                  void *ctx);
/* Once a second: silence and no-fix watchdogs. */
void gb_gpslink_tick(struct gb_gpslink *g);
bool gb_gpslink_connected(const struct gb_gpslink *g);
/* Stops watching and closes the connection. NULL is a no-op. */
void gb_gpslink_free(struct gb_gpslink *g);

/*
 * Reads gpsd JSON lines (as gpspipe -w prints them) from a stdio FILE and
 * passes each valid fix to cb: the offline path of --dry-run, using the
 * same decoding and checks as the live link. Returns the number of TPV
 * reports read.
 */
long gb_gps_replay_file(void *stdio_file, gb_fix_cb *cb, void *ctx);

/* Called with each message on the command topic (payload valid during the
 * call only); ctx is what was given to gb_mqttlink_new. */
typedef void gb_command_cb(void *ctx, const void *payload, size_t len);

/* Creates the MQTT side and starts connecting (runtime/mqtt.h: every
 * address of the broker's name in turn, back-off, keep-alive). s, spool and
 * loop are borrowed. With cmd_topic (copied; NULL or "": none) it
 * subscribes to it at QoS 1 on every connection and hands each message to
 * cb. Returns NULL (error logged) when the settings cannot be used (the
 * password file cannot be read, TLS files cannot be loaded). */
struct gb_mqttlink *gb_mqttlink_new(struct ev_loop *loop,
                                    const struct gb_settings *s,
                                    struct gb_spool *spool,
                                    const char *cmd_topic, gb_command_cb *cb,
                                    void *ctx);
/* A fix was appended to the spool: publish it when its turn comes. */
void gb_mqttlink_kick(struct gb_mqttlink *m);
bool gb_mqttlink_connected(const struct gb_mqttlink *m);
/* Messages acknowledged by the broker since start. */
uint64_t gb_mqttlink_acked(const struct gb_mqttlink *m);
/* Sends DISCONNECT when connected, then frees. NULL is a no-op. */
void gb_mqttlink_free(struct gb_mqttlink *m);

#endif
