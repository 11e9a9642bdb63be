/*
 * watch.h - the alert pipeline of lienwatchd in the core: the alert engine
 * (alert.h) fed from the store and the registry, raised alerts stored with
 * their mail, the start-up restore, registry loading and change detection,
 * and the per-device state behind the retained state topic.
 *
 * Pure core, beside lw_ingest: no clock (time comes in as now_ms, UTC ms
 * since the epoch), no logging (errors come back as enum lw_err with detail
 * in a caller buffer, events through the handlers below), no network, no
 * globals. The daemon (daemon/watch.c) owns the timers and the publishing;
 * daemon/commit.c decides when lw_watch_flush runs.
 *
 * Keep and retry. What the engine raises, and the account statuses taken
 * from MQTT, wait in one queue, in the order they happened, until
 * lw_watch_flush stores them in one transaction: each alert with its mail
 * (lw_outbox_enqueue), each account status in the registry. When that fails
 * (a locked or full database) nothing is dropped: the queue stays as it
 * was and the next flush tries again, as lw_ingest keeps a failed batch.
 * An alert reaches the stored handler exactly once, after the commit that
 * stored it: publication (and, through the outbox, mail) follows storage,
 * so an alert is stored, published and mailed once. The only loss is an
 * alert raised while memory is exhausted (counted in stats.lost).
 *
 * Restart. lw_watch_restore rebuilds what the engine knew from what the
 * database holds: each device's last heard and newest fix, its silence
 * (the latest offline/back_online alert), its fence sides (open
 * geofence_exit/enter/dwell alerts while the newest fix is still on the bad
 * side), then vehicles and accounts. A condition already alerted before a
 * restart is not alerted again; one that arose while the daemon was down is
 * alerted once.
 *
 * State topic. Per device the watch keeps the newest fix, last heard, when
 * its state was last handed out and whether it changed since; the part
 * that comes from the database (vehicle, account, open alerts) is read once
 * and kept as plain C until something invalidates it (a registry reload,
 * an account change, an alert stored here or changed by another
 * connection). lw_watch_state_sweep hands out the states that are due.
 *
 * Ownership: strings and structs passed in are borrowed for the call
 * unless said otherwise; those handed to callbacks are valid during the
 * call only.
 */
#ifndef LIENWATCH_WATCH_H
#define LIENWATCH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/config.h"
#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/fence.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

struct lw_watch; /* opaque */

/* ---- registry fences (shared with the CLI) ------------------------------ */

/*
 * A fence of the registry that cannot be loaded (its GeoJSON is not exactly
 * one valid fence): g is its row (g->geojson valid during the call), why the
 * reason. The fence is left out; the others load.
 */
typedef void (*lw_watch_skip_cb)(void *ctx, const struct lw_geofence *g,
                                 const char *why);

/* Every fence of the registry, as the engine and `lienwatch geofence which`
 * use them. All arrays are indexed by fence id (0 .. count - 1, the order of
 * lw_registry_fences: by name). */
struct lw_watch_fences {
    struct lw_fenceset *set;     /* fences, indexed; tag = database id */
    size_t count;                /* fences in set */
    struct lw_geofence *rows;    /* per id: its registry row, geojson NULL */
    int64_t *max_dwell_ms;       /* per id: dwell limit, 0 = none */
    struct lw_fence_link *links; /* fences linked to a device or account */
    size_t nlinks;               /* entries in links */
    size_t skipped;              /* fences that could not be loaded */
};

/*
 * Reads every fence of the registry of s into *out (owned by the caller:
 * lw_watch_fences_release) with its spatial index built. A fence that does
 * not load is reported to skip (may be NULL) and counted in out->skipped.
 * Returns LW_OK; LW_ERR_NOMEM; or the store's error reading the registry
 * (detail in err). On error *out is empty.
 */
enum lw_err lw_watch_fences_load(struct lw_store *s, lw_watch_skip_cb skip,
                                 void *ctx, struct lw_watch_fences *out,
                                 char *err, size_t errlen);

/* Frees what *f owns and empties it; an empty or released *f is fine. */
void lw_watch_fences_release(struct lw_watch_fences *f);

/* ---- the watch ----------------------------------------------------------- */

/* What the watch tells its owner. Each may be NULL. Handlers run inside
 * the watch call that caused them; they may call lw_watch_alert_json,
 * lw_watch_state_emit, lw_watch_stats and lw_watch_places_pending, nothing
 * else of this watch. */
struct lw_watch_handlers {
    /* An alert was committed: r has its id and state open. mail_err is
     * LW_OK, or why its mail could not be queued for a reason a retry
     * cannot cure (LW_ERR_CONFIG, LW_ERR_INVAL, LW_ERR_RANGE): the alert was
     * then stored without it. Called by lw_watch_flush, oldest first. */
    void (*stored)(void *ctx, const struct lw_alert_row *r,
                   enum lw_err mail_err);
    /* A registry fence was left out (lw_watch_skip_cb). */
    lw_watch_skip_cb fence_skipped;
};

/*
 * Creates a watch on store (borrowed: it must outlive the watch) with the
 * settings of cfg (borrowed, read again at every flush for the mail and at
 * every sweep for the state interval: it must stay valid until replaced by
 * lw_watch_set_cfg or the watch is freed). h is copied; ctx is passed to
 * its handlers. Reads nothing yet: call lw_watch_restore. Returns LW_OK
 * and *out (lw_watch_free), LW_ERR_INVAL (missing argument, invalid
 * [alerts] settings) or LW_ERR_NOMEM, with detail in err.
 */
enum lw_err lw_watch_new(struct lw_watch **out, struct lw_store *store,
                         const struct lw_config *cfg,
                         const struct lw_watch_handlers *h, void *ctx,
                         char *err, size_t errlen);

/* Frees the watch; alerts still queued are lost (flush first). NULL ok. */
void lw_watch_free(struct lw_watch *w);

/* Uses cfg (borrowed, as in lw_watch_new) from now on, the engine's
 * [alerts] settings included (after SIGHUP). Call lw_watch_tick next:
 * vehicles that became watched get their alerts there. */
void lw_watch_set_cfg(struct lw_watch *w, const struct lw_config *cfg);

/*
 * Start-up: loads the fences, restores what each device last did and which
 * conditions already have open alerts, then loads vehicles and accounts
 * (a vehicle watched at start that went silent while the daemon was down
 * raises its offline alert here, unless one is open). Raised alerts are
 * queued; call lw_watch_tick, then lw_watch_flush. Returns LW_OK or the
 * store's error, with detail in err.
 */
enum lw_err lw_watch_restore(struct lw_watch *w, int64_t now_ms, char *err,
                             size_t errlen);

/* ---- events ---------------------------------------------------------- */

/*
 * A fix the store committed (not a duplicate; late when LW_PUT_LATE): the
 * device's state and the engine. Alerts raised are queued. Returns the
 * engine's code (alert.h: lw_engine_fix).
 */
enum lw_err lw_watch_fix(struct lw_watch *w, const struct lw_fix *f, bool late,
                         int64_t now_ms);

/* lw_watch_fix with the jump judgement made when f was stored (j borrowed,
 * NULL: accepted; lw_ingest_stored_cb): see lw_engine_fix_judged. */
enum lw_err lw_watch_fix_judged(struct lw_watch *w, const struct lw_fix *f,
                                bool late, const struct lw_jump_ruling *j,
                                int64_t now_ms);

/*
 * Places checks. new_overnight_place and long_move (placewatch.h) need the
 * places of up to LW_PLACEWATCH_HISTORY_MS of a watched vehicle's history,
 * computed again at its first fix after each local 03:00 ([places]
 * timezone): reading that history takes about 0.3 s for 60 days of 30 s
 * fixes, too long for the daemon's loop when many vehicles cross 03:00
 * together. lw_watch_fix only queues such a check; lw_watch_places_step
 * reads at most max_fixes fixes of the first queued check and, once its
 * history is read, computes its places (a few ms), raises what they show
 * (queued for lw_watch_flush; the alerts carry the fix that asked for the
 * check, raised at now_ms) and keeps the vehicle's top places for its
 * offline mail (so storing an offline alert reads no history). Returns the
 * checks still queued: call it again soon while that is not 0.
 */
#define LW_WATCH_PLACES_STEP_FIXES 10000
size_t lw_watch_places_step(struct lw_watch *w, int64_t now_ms,
                            size_t max_fixes);

/* Places checks queued (lw_watch_places_step). */
size_t lw_watch_places_pending(const struct lw_watch *w);

/*
 * Where device usually parks, as its last places check found it (the
 * offline mail's text, lw_outbox_places_format); NULL when not computed
 * since the start or none found. Borrowed: valid until the next call into
 * the watch. For storm digests (lw_outbox_opts.places_of). The restore
 * queues a check of every watched vehicle with a fix, so these are known
 * soon after a start.
 */
const char *lw_watch_places_of(struct lw_watch *w, const char *device);

/* A message without a position from device at now_ms (alive). */
/*
 * Forgets the last-known fix of device (borrowed) after its positions were
 * purged (store.h, lw_store_purge_step): its state is built again, at the
 * next sweep, with no fix. Unknown devices are ignored.
 */
void lw_watch_forget_fix(struct lw_watch *w, const char *device);

enum lw_err lw_watch_heard(struct lw_watch *w, const char *device,
                           int64_t now_ms);

/*
 * An account status from MQTT. *changed (may be NULL) is false when it
 * equals what is stored or queued (loan servicing's messages are retained
 * and come again on every reconnection): nothing is done then. Otherwise
 * the status is queued for storage (source "mqtt", updated at now_ms), the
 * engine is told (alerts raised are queued behind it, and vehicles that
 * become watched get theirs at the next lw_watch_tick) and the states of
 * the account's vehicles are marked for publication. Returns LW_OK, or the
 * store's error listing those vehicles (the status is queued anyway).
 */
enum lw_err lw_watch_account(struct lw_watch *w,
                             const struct lw_account_update *u, int64_t now_ms,
                             bool *changed);

/* Raises what is due at now_ms (offline, dwell, vehicles that became
 * watched); returns the earliest future deadline, INT64_MAX when none. */
int64_t lw_watch_tick(struct lw_watch *w, int64_t now_ms);

/* The next deadline of one device (lw_engine_deadline). */
int64_t lw_watch_deadline(const struct lw_watch *w, const char *device);

/* ---- storing ---------------------------------------------------------- */

/*
 * Stores everything queued, in order, in one transaction: each account
 * status (lw_registry_account_set), each alert (lw_registry_alert_add) with
 * its mail (lw_outbox_enqueue, due at the alert's raised_ms). After the
 * commit the queue is empty, each alert's device state is marked for
 * publication, and h->stored is called for each alert, oldest first.
 * On failure the queue is kept as it was (nothing was stored), err says
 * why, and the error is returned: the caller tries again later, and should
 * hold back what must be stored after these (fixes). Returns LW_OK (also
 * with nothing queued); the store's LW_ERR_BUSY, LW_ERR_FULL,
 * LW_ERR_READONLY, LW_ERR_IO, LW_ERR_CORRUPT or LW_ERR_DB; LW_ERR_NOMEM;
 * LW_ERR_INVAL for a NULL w.
 */
enum lw_err lw_watch_flush(struct lw_watch *w, char *err, size_t errlen);

/* Alerts and account statuses waiting for lw_watch_flush. */
size_t lw_watch_pending(const struct lw_watch *w);

/* Receives one queued entry (borrowed for the call): an alert, or (a NULL)
 * an account status. */
typedef void (*lw_watch_queued_cb)(void *ctx, const struct lw_alert *alert,
                                   const struct lw_account *account);

/* Hands every entry waiting for lw_watch_flush to cb, in order (what a stop
 * that cannot store writes to its spill file). */
void lw_watch_each_queued(const struct lw_watch *w, lw_watch_queued_cb cb,
                          void *ctx);

/*
 * Queues an alert raised before a restart and never stored (a spill file
 * merged at start), to be stored, published and mailed by the next
 * lw_watch_flush like one just raised; a (borrowed) is copied. Call it
 * before lw_watch_restore, and flush before the restore, so that the
 * restore finds the alert open. Returns LW_OK, LW_ERR_INVAL or
 * LW_ERR_NOMEM.
 */
enum lw_err lw_watch_requeue_alert(struct lw_watch *w,
                                   const struct lw_alert *a);

/*
 * The registry changed under us? Compares PRAGMA data_version (another
 * connection committed) and the meta versions: when the registry version
 * moved, fences, vehicles and accounts are read again (call lw_watch_tick
 * next; fences that do not load go to h->fence_skipped); when the alerts
 * version moved (the CLI acknowledged or closed alerts), the states of
 * those devices are marked for publication at once. *what (may be NULL)
 * gets LW_WATCH_RELOADED and/or LW_WATCH_ALERTS_CHANGED. A failed read is
 * tried again at the next call. Returns LW_OK or the store's error.
 */
#define LW_WATCH_RELOADED 0x1u
#define LW_WATCH_ALERTS_CHANGED 0x2u
enum lw_err lw_watch_poll(struct lw_watch *w, int64_t now_ms, unsigned *what,
                          char *err, size_t errlen);

/* ---- publishing ------------------------------------------------------ */

/*
 * The alert topic's JSON text of stored alert r (lw_alert_to_json, with its
 * vehicle and account from the registry). Owned by the caller (free());
 * NULL when out of memory.
 */
char *lw_watch_alert_json(struct lw_watch *w, const struct lw_alert_row *r);

/*
 * Receives a device's retained state: json is len bytes (NUL-terminated).
 * Returns 0 when it was handed on (the state is then clean until it changes
 * again), non-zero when not (it stays due).
 */
typedef int (*lw_watch_state_cb)(void *ctx, const char *device,
                                 const char *json, size_t len);

/*
 * Hands device's state at now_ms to cb, whatever its interval. LW_OK;
 * LW_ERR_NOTFOUND for a device never seen; LW_ERR_NOMEM; LW_ERR_IO when cb
 * refused it (it stays due).
 */
enum lw_err lw_watch_state_emit(struct lw_watch *w, const char *device,
                                int64_t now_ms, lw_watch_state_cb cb,
                                void *ctx);

/*
 * Hands cb the states that changed and are due at now_ms (marked urgent, or
 * last handed out at least mqtt.state_interval before), at most budget of
 * them, round robin from where the last sweep stopped so that none starves
 * while more than a budget are due. Returns how many were handed to cb.
 */
size_t lw_watch_state_sweep(struct lw_watch *w, int64_t now_ms, size_t budget,
                            lw_watch_state_cb cb, void *ctx);

/* ---- figures ------------------------------------------------------------- */

struct lw_watch_stats {
    size_t fences;            /* fences loaded */
    size_t fences_skipped;    /* registry fences that did not load */
    size_t vehicles;          /* vehicles registered at the last load */
    size_t devices;           /* devices the engine tracks */
    size_t pending_alerts;    /* raised, waiting for lw_watch_flush */
    size_t pending_accounts;  /* account statuses waiting likewise */
    uint64_t stored;          /* alerts stored since lw_watch_new */
    uint64_t lost;            /* alerts lost: no memory to queue them */
    int64_t registry_version; /* meta registry_version last loaded */
};

/* Fills *out. */
void lw_watch_stats(const struct lw_watch *w, struct lw_watch_stats *out);

#endif
