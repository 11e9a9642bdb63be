/*
 * alert.h - the alert state machine: pure, time passed in.
 *
 * The engine keeps, per vehicle (device), what it needs to decide when an
 * alert is due: watched or not, last heard, newest processed fix, the side
 * of each fence it is on (confirmed and pending), offline state. It never
 * reads a clock, never does I/O: the daemon feeds it events with now_ms and
 * receives alerts through a callback, then stores, publishes and mails them.
 *
 * Rules (see README "Alerts"):
 *   - geofence_exit (keep-in) / geofence_enter (keep-out): the vehicle's
 *     side of a fence changes only when confirm_fixes consecutive fixes are
 *     on the new side AND each is farther from the fence line than
 *     max(fix accuracy, fence_margin_m). A fix within that distance of the
 *     line is ambiguous: it neither confirms nor counts, and it breaks the
 *     run. The "good" side (inside keep-in, outside keep-out) is assumed
 *     until the contrary is confirmed; a confirmed move to the bad side
 *     raises one alert; only a confirmed return re-arms the fence.
 *   - dwell: confirmed inside a keep-out fence with max_dwell_ms > 0 for
 *     longer than that: one alert per stay.
 *   - offline: no message of any kind for longer than the vehicle's
 *     allowance, measured on the daemon's clock from the last message (or
 *     from registration when never heard). Carries the last fix before the
 *     silence. One per silence.
 *   - back_online: the first message after an offline alert, with the gap
 *     and, when the message is a fix, the distance from the last fix before.
 *   - power_cut / tow / low_battery: OwnTracks trigger 'e' / '!' / '9'; one
 *     per run (re-armed by a fix with another trigger).
 *   - gps_jump: a fix judged a jump (jump.h: implied speed from the
 *     previous accepted fix over [ingest] max_speed_kmh, both accuracies
 *     under 100 m) is kept aside. The engine does not judge: the ingester
 *     judges each fix once, when it stores it, and the verdict comes in
 *     with the fix (lw_engine_fix_judged). A suspect fix is heard (ends a
 *     silence) but moves no fence state, is not the newest fix and raises
 *     no trigger alert, until the next fix confirms it (then it is
 *     processed, followed by that fix). A
 *     gps_jump alert carries the suspect fix, moved_m (distance from the
 *     accepted fix) and gap_ms (time between them); at most one per
 *     LW_ALERT_JUMP_REPEAT_MS per vehicle, by now_ms.
 *   - offline carries jamming_suspected when the fixes up to the last one
 *     before the silence (live ones, by fix time) had an accuracy worse
 *     than LW_ALERT_JAM_ACCURACY_M for at least LW_ALERT_JAM_MS: a jammer
 *     degrades GPS before the tracker loses its network too.
 *   - parked_long: the live fixes of a vehicle that keeps reporting have
 *     stayed within LW_ALERT_PARKED_RADIUS_M of the first fix of the stay
 *     for parked_after_ms (fix times): hidden, abandoned or stored. One per
 *     stay; a fix farther away starts a new stay. Fixes less accurate than
 *     that radius neither move nor end a stay. A restart restores the
 *     stay in progress from the stored history (lw_engine_restore_stay).
 *   - Alerts are raised only while the vehicle is watched (its account is at
 *     least watch_days_past_due days past due). State is tracked for every
 *     vehicle regardless, so when a vehicle becomes watched while already on
 *     the bad side of a fence or silent, that is raised once at that moment.
 *   - Late fixes (older than the newest processed fix of the device) never
 *     change state. A run of confirm_fixes late fixes on the bad side of a
 *     fence the vehicle is (now) on the good side of reveals a past
 *     excursion: reported once per fence with late = true.
 *   - Duplicates must not be fed in (the store tells them apart).
 *
 * Details settled by lib/alert.c (all within the rules above):
 *   - A fix whose distance to a fence line cannot be computed counts as
 *     ambiguous. Accuracy NAN or negative counts as 0 (the margin rules).
 *   - A dwell starts at the fix time of the first fix of the run that
 *     confirmed the entry and is compared with now_ms.
 *   - Alerts raised for a state rather than a fix (becoming watched, dwell,
 *     offline) carry the newest processed fix; has_fix is false if none.
 *   - When a vehicle stops being watched, what was raised is forgotten: if
 *     it is watched again while still on the bad side or silent, that is
 *     raised again, once. back_online follows only an offline alert raised
 *     in the current watch period (or restored as open).
 *   - Late fixes: they count as heard (and so end a silence, with
 *     back_online carrying the late fix, late = true and moved_m NAN), but
 *     their triggers raise nothing. A late excursion, once reported for a
 *     fence, is not reported again for late fixes up to the device's newest
 *     fix time at that moment (the same backlog); later ones may report a
 *     new excursion.
 *   - A message received at now_ms after a silence whose deadline passed
 *     (the tick not yet run) raises offline first, then back_online.
 *   - Alerts of power_cut / tow / low_battery are events, not states:
 *     becoming watched does not raise them retroactively.
 *
 * Ownership: strings passed in are copied; the struct lw_alert handed to the
 * callback is valid during the call only.
 */
#ifndef LIENWATCH_ALERT_H
#define LIENWATCH_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/fence.h"
#include "lienwatch/fix.h"
#include "lienwatch/jump.h"

enum lw_alert_kind {
    LW_ALERT_GEOFENCE_EXIT = 1, /* "geofence_exit" */
    LW_ALERT_GEOFENCE_ENTER,    /* "geofence_enter" */
    LW_ALERT_DWELL,             /* "dwell" */
    LW_ALERT_OFFLINE,           /* "offline" */
    LW_ALERT_BACK_ONLINE,       /* "back_online" */
    LW_ALERT_POWER_CUT,         /* "power_cut" */
    LW_ALERT_TOW,               /* "tow" */
    LW_ALERT_LOW_BATTERY,       /* "low_battery" */
    LW_ALERT_GPS_JUMP,          /* "gps_jump" */
    LW_ALERT_PARKED_LONG,       /* "parked_long" */
    LW_ALERT_NEW_OVERNIGHT_PLACE, /* "new_overnight_place" (placewatch.h) */
    LW_ALERT_LONG_MOVE,         /* "long_move" (placewatch.h) */
    LW_ALERT_TRACKER_SEPARATION, /* "tracker_separation" (trackers.h) */
    LW_ALERT_TRACKER_LOST,      /* "tracker_lost" (trackers.h) */
    LW_ALERT_KIND_COUNT_        /* not a kind */
};

/* Stable snake_case name ("geofence_exit", ...); "unknown" otherwise. */
const char *lw_alert_kind_name(enum lw_alert_kind k);
/* Parses a name; LW_ERR_INVAL when unknown. */
enum lw_err lw_alert_kind_parse(const char *s, enum lw_alert_kind *out);

/* Jamming: fixes less accurate than this (1 km) ... */
#define LW_ALERT_JAM_ACCURACY_M 1000.0
/* ... for at least this long (fix times, 10 min) up to the last fix before
 * a silence make its offline alert say "jamming suspected". */
#define LW_ALERT_JAM_MS (10 * 60 * 1000LL)

/* parked_long: the car has not moved beyond this from where it stopped. */
#define LW_ALERT_PARKED_RADIUS_M 200.0

/* gps_jump alerts of one vehicle are at least this far apart (1 h). */
#define LW_ALERT_JUMP_REPEAT_MS (3600 * 1000LL)

/* Longest fence name carried in an alert, without the NUL. */
#define LW_ALERT_FENCE_MAX 128

/* One alert transition, as raised by the engine. */
/* The other tracker of a vehicle in a tracker_separation / tracker_lost
 * alert (trackers.h). */
struct lw_alert_other {
    char device[LW_DEVICE_MAX + 1]; /* "" when the alert has none */
    bool has_fix;                   /* fix is meaningful */
    struct lw_fix fix;              /* its fix at the time */
    double distance_m;              /* between the two fixes */
};

struct lw_alert {
    enum lw_alert_kind kind;          /* what happened */
    char device[LW_DEVICE_MAX + 1];   /* the vehicle's device */
    char fence[LW_ALERT_FENCE_MAX + 1]; /* fence name, "" when none */
    int64_t fence_tag;                /* the fence's user tag, 0 when none */
    int64_t raised_ms;                /* now_ms of the event that raised it */
    bool has_fix;                     /* fix below is meaningful */
    struct lw_fix fix;                /* the fix that caused it; for offline
                                         the last fix before the silence */
    bool late;                        /* revealed by a late fix */
    int64_t age_ms;                   /* late: raised_ms - fix time */
    int64_t gap_ms;                   /* offline/back_online: silence so far */
    double moved_m;                   /* back_online: distance moved while
                                         silent; NAN when unknown */
    bool jamming_suspected;           /* offline: the fixes before the
                                         silence had an accuracy worse than
                                         LW_ALERT_JAM_ACCURACY_M for at
                                         least LW_ALERT_JAM_MS */
    struct lw_alert_other other;      /* tracker_separation: the other
                                         device (device/fix: the fix that
                                         showed it); tracker_lost: the one
                                         still reporting (device/fix: the
                                         silent one, its last fix) */
};

/* Engine settings (from [alerts]). */
struct lw_alert_cfg {
    int confirm_fixes;          /* >= 1 */
    double fence_margin_m;      /* >= 0 */
    int64_t offline_after_ms;   /* default allowance, > 0 */
    int watch_days_past_due;    /* watched at or over this */
    double max_speed_mps;       /* >= 0; not read by the engine: jumps
                                   are judged by the ingester
                                   (lw_ingest_set_max_speed) and come in
                                   with the fix (lw_engine_fix_judged) */
    int64_t parked_after_ms;    /* parked_long after this long within
                                   LW_ALERT_PARKED_RADIUS_M; 0 = off */
};

/* What the engine needs to know of a registered vehicle. */
struct lw_vehicle_reg {
    char account[LW_ACCOUNT_MAX + 1]; /* "" when none: never watched */
    int64_t offline_after_ms;         /* 0 = the default allowance */
    int64_t registered_ms;            /* offline clock start if never heard */
};

/*
 * Receives each alert raised; ctx is the one given to lw_engine_new. It runs
 * inside the engine call that raised it and must not call the engine.
 */
typedef void (*lw_alert_cb)(void *ctx, const struct lw_alert *a);

struct lw_engine; /* opaque */

/* Creates an engine; *out owned by the caller (lw_engine_free). */
enum lw_err lw_engine_new(struct lw_engine **out,
                          const struct lw_alert_cfg *cfg, lw_alert_cb cb,
                          void *ctx);
void lw_engine_free(struct lw_engine *e);

/*
 * Replaces the settings (e.g. after SIGHUP); state is kept. Invalid settings
 * (those lw_engine_new rejects) are ignored: the old ones stay. Vehicles
 * that become watched through a new threshold get their alerts at the next
 * lw_engine_tick (their deadline reads INT64_MIN until then), because this
 * call has no now_ms; those no longer watched stop at once. Pending runs
 * longer than a new confirm_fixes confirm at their next fix.
 */
void lw_engine_set_cfg(struct lw_engine *e, const struct lw_alert_cfg *cfg);

/*
 * Uses fences (borrowed: must stay valid until replaced or the engine is
 * freed) for geofence rules. Fence state of vehicles is keyed by each
 * fence's user tag (lw_fence_set_tag), so it survives a reload that
 * keeps tags. links says which fences apply to whom: a fence with no link
 * applies to every vehicle. Passing NULL removes all fences.
 */
struct lw_fence_link {
    int64_t fence_tag;                /* which fence */
    char device[LW_DEVICE_MAX + 1];   /* "" or a device */
    char account[LW_ACCOUNT_MAX + 1]; /* "" or an account */
};
enum lw_err lw_engine_set_fences(struct lw_engine *e,
                                 const struct lw_fenceset *fences,
                                 const struct lw_fence_link *links,
                                 size_t nlinks, const int64_t *max_dwell_ms);
/* max_dwell_ms[i] is fence id i's dwell limit (0 = none); may be NULL.
 * Every fence's tag must be unique in the set (the state key). Links to a
 * tag not in the set are ignored. Returns LW_OK; LW_ERR_INVAL for NULL e,
 * links NULL with nlinks > 0, duplicate tags, a negative dwell limit, or a
 * link naming neither device nor account; LW_ERR_NOMEM. On error the
 * previous fences stay in use. States of fences gone, changed kind or no
 * longer applicable to a vehicle are dropped (good side assumed). */

/*
 * Registers or updates a vehicle (a device with its account). Devices never
 * registered are tracked too, but without an account they are never watched.
 */
enum lw_err lw_engine_set_vehicle(struct lw_engine *e, const char *device,
                                  const struct lw_vehicle_reg *reg,
                                  int64_t now_ms);

/* Forgets a vehicle's registration (its state stays, unwatched). */
void lw_engine_unset_vehicle(struct lw_engine *e, const char *device,
                             int64_t now_ms);

/*
 * Sets an account's days past due. Vehicles that become watched get the
 * alerts their current state deserves (bad side of a fence, silent).
 */
enum lw_err lw_engine_set_account(struct lw_engine *e, const char *account,
                                  int days_past_due, int64_t now_ms);

/* A message without a position from device at now_ms (alive). */
enum lw_err lw_engine_heard(struct lw_engine *e, const char *device,
                            int64_t now_ms);

/*
 * A stored (not duplicate) fix; late says it is older than the device's
 * newest (LW_PUT_LATE). Also counts as heard at f->recv_time_ms (now_ms
 * when that is not set). A fix older than the newest processed one is
 * treated as late even if late is false. Returns LW_OK; LW_ERR_INVAL (NULL
 * or bad device id); LW_ERR_RANGE (invalid position); LW_ERR_NOMEM (some
 * fence state for this fix may then be missing).
 */
enum lw_err lw_engine_fix(struct lw_engine *e, const struct lw_fix *f,
                          bool late, int64_t now_ms);

/*
 * lw_engine_fix for a fix that was judged for a jump when it was stored
 * (jump.h; j borrowed, NULL: accepted). The engine acts on the verdict of
 * a live fix: LW_JUMP_SUSPECT keeps f aside (heard, moves nothing; raises
 * gps_jump with j->info's distance and time), LW_JUMP_CONFIRMS processes
 * the suspect kept aside (when it is the one j->info.confirmed names)
 * then f, LW_JUMP_OK processes f and drops any suspect. Late fixes ignore
 * j. lw_engine_fix is this with j NULL.
 */
enum lw_err lw_engine_fix_judged(struct lw_engine *e, const struct lw_fix *f,
                                 bool late, const struct lw_jump_ruling *j,
                                 int64_t now_ms);

/*
 * Raises what is due at now_ms (offline, dwell) for one device, or for all
 * when device is NULL. Returns the earliest future deadline of that device
 * (or of all), INT64_MAX when none: the daemon arms its timer there.
 * Only watched devices have deadlines; with device NULL the cost is
 * O(k log n) for k devices due (a heap), so calling it often is cheap.
 */
int64_t lw_engine_tick(struct lw_engine *e, const char *device,
                       int64_t now_ms);

/* The next deadline of one device (offline, dwell), INT64_MAX if none,
 * INT64_MIN when a settings change made it watched and a tick is due. */
int64_t lw_engine_deadline(const struct lw_engine *e, const char *device);

/* Whether device is watched now. */
bool lw_engine_watched(const struct lw_engine *e, const char *device);

/*
 * Restores a device's state at start-up from the database: last heard, the
 * newest fix, and whether an offline alert is open. Call before events,
 * including lw_engine_set_vehicle / lw_engine_set_account for that device:
 * becoming watched checks the silence, and without the restored last heard
 * it would measure from registration. last_heard_ms <= 0 means never heard;
 * newest may be NULL (newest->device is not used). Fence sides are
 * restored separately, from the open exit/enter alerts, with
 * lw_engine_restore_fence; a fence without one starts on the good side.
 * Returns LW_OK, LW_ERR_INVAL, LW_ERR_RANGE (newest's position invalid) or
 * LW_ERR_NOMEM.
 */
enum lw_err lw_engine_restore(struct lw_engine *e, const char *device,
                              int64_t last_heard_ms,
                              const struct lw_fix *newest,
                              bool offline_open);

/*
 * Restores, at start-up, that device is confirmed on the bad side of the
 * fence tagged fence_tag since since_ms (fix time) and that its exit/enter
 * alert was raised (an open alert in the database), so a restart does not
 * raise it again; dwell_done says its dwell alert was raised too. When the
 * device's newest fix (lw_engine_restore first) is clearly back on the good
 * side, nothing is restored: that stay is over. Call after
 * lw_engine_set_fences and before lw_engine_set_account.
 * LW_ERR_NOTFOUND when no loaded fence has that tag.
 */
enum lw_err lw_engine_restore_fence(struct lw_engine *e, const char *device,
                                    int64_t fence_tag, int64_t since_ms,
                                    bool dwell_done);

/*
 * Restores, at start-up, where device's current stay began (parked_long:
 * lat_deg, lon_deg, the stay's first fix, at since_ms, fix time) and
 * whether its parked_long was raised (an alert of this stay in the
 * database), so that a restart neither forgets a stay in progress nor
 * raises its alert again. Call after lw_engine_restore. Returns LW_OK,
 * LW_ERR_INVAL, LW_ERR_RANGE (invalid position) or LW_ERR_NOMEM.
 */
enum lw_err lw_engine_restore_stay(struct lw_engine *e, const char *device,
                                   double lat_deg, double lon_deg,
                                   int64_t since_ms, bool alerted);

/* Fix time of device's newest accepted fix (a suspect jump is not one
 * until confirmed); 0 when none or unknown device. */
int64_t lw_engine_newest_ms(const struct lw_engine *e, const char *device);

/* Number of devices tracked. */
size_t lw_engine_devices(const struct lw_engine *e);

#endif
