/*
 * trackers.h - vehicles with several trackers (a wired one and a hidden
 * battery one): when two trackers of one vehicle disagree, one of them was
 * probably taken out, or the vehicle was swapped.
 *
 *   tracker_separation: two devices of one vehicle both reporting, at
 *     positions farther apart than max(the sum of their accuracies,
 *     LW_TRACKERS_SEPARATION_M) in LW_TRACKERS_PAIRS consecutive pairs of
 *     fixes, a pair being a new fix of one and the newest fix of the other
 *     taken within LW_TRACKERS_PAIR_MS of each other; the next pair in a
 *     row has a new fix of each (a tracker that went quiet does not make
 *     two pairs with its one last fix). Raised once; re-armed by a pair
 *     seen together.
 *   tracker_lost: a device of a vehicle silent (nothing heard) for longer
 *     than half its allowance while another device of the same vehicle
 *     keeps reporting (heard within half its own allowance, with a fix
 *     newer than the silent one's last) and shows movement: its newest fix
 *     is farther than max(LW_TRACKERS_MOVED_M, the sum of their
 *     accuracies) from the silent one's last fix. Raised once; re-armed
 *     when the silent device is heard again.
 * Both only while the vehicle is watched (either device's account, asked
 * through the watched hook), each with the positions of both devices.
 *
 * Pure core: no clock (times come in), no logging, no globals; the state is
 * an opaque handle. The grouping of devices into vehicles is set with
 * lw_trackers_group_* (lib/watch.c loads it from the install records,
 * registry.h, lw_trackers_load); a device in no vehicle with another
 * device costs one hash lookup per fix. Coordinates are WGS-84 degrees,
 * distances metres, times ms since the epoch (UTC).
 */
#ifndef LIENWATCH_TRACKERS_H
#define LIENWATCH_TRACKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/store.h"

/* The figures: a pair is two fixes within 5 minutes; apart means
 * farther than 300 m (or the sum of the accuracies); two pairs in a row. */
#define LW_TRACKERS_PAIR_MS (5 * 60 * 1000LL)
#define LW_TRACKERS_SEPARATION_M 300.0
#define LW_TRACKERS_PAIRS 2
/* The reporting tracker has moved when this far (as parked_long's radius,
 * LW_ALERT_PARKED_RADIUS_M) from where the silent one last was. */
#define LW_TRACKERS_MOVED_M 200.0
/* Devices per vehicle that are compared; more are ignored. */
#define LW_TRACKERS_MAX_PER_VEHICLE 8

struct lw_trackers; /* opaque */

/* What the owner is told and asked. */
struct lw_trackers_hooks {
    /* Whether device's vehicle is watched now (alerts only then). */
    bool (*watched)(void *ctx, const char *device);
    /* An alert (a borrowed: copy it), kind tracker_separation or
     * tracker_lost, raised_ms as given to the call, other filled in. */
    void (*alert)(void *ctx, const struct lw_alert *a);
    void *ctx; /* passed to both */
};

/* A new, empty state into *out (lw_trackers_free). LW_OK, LW_ERR_INVAL,
 * LW_ERR_NOMEM. */
enum lw_err lw_trackers_new(struct lw_trackers **out);

/* Frees t; NULL is fine. */
void lw_trackers_free(struct lw_trackers *t);

/*
 * Grouping. lw_trackers_group_begin starts a new grouping; each
 * lw_trackers_group_add puts device (copied) in vehicle vehicle_id with its
 * silence allowance (> 0); lw_trackers_group_end makes it current. A
 * device in both the old and the new grouping, in the same vehicle, keeps
 * what it knew (its newest fix, last heard, which alerts are raised), so a
 * reload raises nothing again; vehicles of one device are dropped. Returns
 * LW_OK, LW_ERR_INVAL (NULL or empty arguments, a begin missing) or
 * LW_ERR_NOMEM (the old grouping then stays).
 */
enum lw_err lw_trackers_group_begin(struct lw_trackers *t);
enum lw_err lw_trackers_group_add(struct lw_trackers *t, int64_t vehicle_id,
                                  const char *device, int64_t allowance_ms);
enum lw_err lw_trackers_group_end(struct lw_trackers *t);

/* True when device is in a vehicle with another device. */
bool lw_trackers_grouped(const struct lw_trackers *t, const char *device);

/*
 * What a device did before a restart (its newest fix, may be NULL; when it
 * was last heard), and whether an open alert says it is lost; for a
 * separation already open between it and other, lw_trackers_restore_apart.
 * Raises nothing. Unknown devices are ignored.
 */
void lw_trackers_restore(struct lw_trackers *t, const char *device,
                         const struct lw_fix *newest, int64_t heard_ms,
                         bool lost);
void lw_trackers_restore_apart(struct lw_trackers *t, const char *device,
                               const char *other);

/*
 * A new newest fix of f->device (accepted, not late, not held back as
 * suspect), heard at now_ms: compares it with the other devices of its
 * vehicle (tracker_separation, raised through h with raised_ms = now_ms)
 * and re-arms tracker_lost for it. Returns the number of alerts raised.
 */
int lw_trackers_fix(struct lw_trackers *t, const struct lw_fix *f,
                    int64_t now_ms, const struct lw_trackers_hooks *h);

/* device was heard (any message) at now_ms: re-arms tracker_lost. */
void lw_trackers_heard(struct lw_trackers *t, const char *device,
                       int64_t now_ms);

/*
 * tracker_lost for every device silent at now_ms (raised through h).
 * Returns the earliest time a device not yet lost passes half its
 * allowance (INT64_MAX when none): call again then.
 */
int64_t lw_trackers_tick(struct lw_trackers *t, int64_t now_ms,
                         const struct lw_trackers_hooks *h);

/* The earliest time a device of device's vehicle, not yet lost, passes
 * half its allowance (when lw_trackers_tick has work); INT64_MAX when
 * device is in no vehicle with another. */
int64_t lw_trackers_deadline(const struct lw_trackers *t, const char *device);

/*
 * Loads the grouping from the store's install records (registry.h,
 * lw_registry_attached) with each device's allowance (its vehicle's
 * offline_after_ms, else default_allowance_ms); devices new to the
 * grouping get their newest fix and last heard time from the store and
 * their open tracker_lost / tracker_separation alerts. Returns LW_OK, a
 * store error (the old grouping stays) or LW_ERR_NOMEM.
 */
enum lw_err lw_trackers_load(struct lw_trackers *t, struct lw_store *s,
                             int64_t default_allowance_ms);

#endif
