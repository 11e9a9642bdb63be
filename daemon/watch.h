/*
 * watch.h - alerts in the daemon: the core's alert pipeline (lw_watch:
 * engine, restore, registry, alert storage, device states) wired to the
 * libev loop and the MQTT link (alert and state topics).
 *
 * Watchers, embedded in struct lwd_watch:
 *   - deadline_timer: one timer, re-armed at the earliest engine deadline
 *     (offline allowances, dwell limits) instead of one timer per vehicle;
 *   - poll_timer (1 s): lw_watch_poll, which re-reads the registry when
 *     another connection (the CLI) changed it and marks the states of
 *     devices whose alerts were acknowledged or closed;
 *   - state_timer: publishes the retained states that are due
 *     (lw_watch_state_sweep), each at most once per state interval;
 *   - places_timer: runs while places checks are queued (a watched
 *     vehicle's first fix after 03:00), one slice of history
 *     (lw_watch_places_step) per PLACES_STEP_S, so that many vehicles
 *     crossing 03:00 together never hold the loop for long.
 * Alerts are stored first (daemon/commit.c runs lw_watch_flush, retried
 * like fixes when it fails), then published at QoS 1 and marked published
 * on PUBACK; unpublished ones are sent again on every (re)connection.
 */
#ifndef LW_DAEMON_WATCH_H
#define LW_DAEMON_WATCH_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "commit.h"
#include "lienwatch/config.h"
#include "lienwatch/decode.h"
#include "lienwatch/store.h"
#include "lienwatch/watch.h"
#include "mqtt.h"
#include "runtime/log.h"

/* One message id awaiting PUBACK, and the alert it carries. */
struct pending_pub {
    int mid;          /* libmosquitto message id */
    int64_t alert_id; /* database id */
};

struct lwd_watch {
    struct ev_loop *loop;         /* borrowed */
    struct lw_store *store;       /* borrowed */
    struct lwd_mqtt *link;        /* borrowed */
    const struct lw_config *cfg;  /* borrowed; re-read after SIGHUP */
    struct lwd_commit *commit;    /* borrowed: stores what is raised */
    struct lw_watch *core;        /* owned: the pipeline */
    ev_timer deadline_timer;      /* earliest engine deadline */
    int64_t armed_ms;             /* when deadline_timer fires, or INT64_MAX */
    ev_timer poll_timer;          /* registry change detection */
    ev_timer state_timer;         /* due states out */
    ev_timer places_timer;        /* places checks, a slice at a time */
    struct lwrt_limit poll_limit; /* registry read failure log limit */
    struct pending_pub *pubs;     /* alert publications awaiting PUBACK */
    size_t npubs, cappubs;        /* used / allocated */
};

/*
 * Restores the alert state from the store, stores what that raised
 * (through commit, which must be initialised) and starts the timers.
 * 0 or -1 (logged).
 */
int lwd_watch_init(struct lwd_watch *w, struct ev_loop *loop,
                   struct lw_store *store, struct lwd_mqtt *link,
                   const struct lw_config *cfg, struct lwd_commit *commit);
void lwd_watch_release(struct lwd_watch *w);

/* Where device usually parks (lw_watch_places_of; ctx is the struct
 * lwd_watch): for the mail's storm digests. */
const char *lwd_watch_places_of(void *ctx, const char *device);

/* Applies changed [alerts] settings (after SIGHUP). */
void lwd_watch_reconfigure(struct lwd_watch *w);

/* Events from the ingest path. lwd_watch_fix runs after the fix's batch
 * commit, with the jump judgement made when the fix was stored (j, NULL:
 * accepted); what it raises is stored by the commit that called it. */
void lwd_watch_fix(struct lwd_watch *w, const struct lw_fix *f, bool late,
                   const struct lw_jump_ruling *j, int64_t now_ms);
void lwd_watch_heard(struct lwd_watch *w, const char *device, int64_t now_ms);
/* An account status from MQTT; false when it changed nothing (retained
 * messages come again on every reconnection). */
bool lwd_watch_account(struct lwd_watch *w, const struct lw_account_update *u,
                       int64_t now_ms);

/* MQTT link events. */
void lwd_watch_connected(struct lwd_watch *w);
void lwd_watch_published(struct lwd_watch *w, int mid);

/* A device's positions were purged: its state topic shows no fix. */
void lwd_watch_forget_fix(struct lwd_watch *w, const char *device);

#endif
