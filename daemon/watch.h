/*
 * watch.h - alerts in the daemon: the core's alert engine wired to the
 * store (registry, alerts), the MQTT link (state and alert topics) and the
 * libev loop (deadline timer, registry polling).
 *
 * Watchers, embedded in struct watch:
 *   - deadline_timer: one timer, re-armed at the earliest engine deadline
 *     (offline allowances, dwell limits) instead of one timer per vehicle;
 *   - poll_timer (1 s): PRAGMA data_version; when another connection (the
 *     CLI) committed, re-read the registry (vehicles, accounts, fences) if
 *     its version moved and republish the state of devices whose alerts
 *     were acknowledged or closed;
 *   - state_timer: publishes the retained state of devices marked dirty,
 *     each at most once per state interval.
 * Alerts are stored first (so none is lost), then published at QoS 1 and
 * marked published on PUBACK; unpublished ones are sent again on every
 * (re)connection.
 */
#ifndef LW_DAEMON_WATCH_H
#define LW_DAEMON_WATCH_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/alert.h"
#include "lienwatch/config.h"
#include "lienwatch/decode.h"
#include "lienwatch/fence.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "mqtt.h"

#include "devmap.h"

/* One message id awaiting PUBACK, and the alert it carries. */
struct pending_pub {
    int mid;          /* libmosquitto message id */
    int64_t alert_id; /* database id */
};

struct watch {
    struct ev_loop *loop;        /* borrowed */
    struct lw_store *store;      /* borrowed */
    struct mqtt_link *link;      /* borrowed */
    const struct lw_config *cfg; /* borrowed; re-read after SIGHUP */
    struct lw_engine *engine;    /* owned */
    struct lw_fenceset *fences;  /* owned, current fence set */
    ev_timer deadline_timer;     /* earliest engine deadline */
    int64_t armed_ms;            /* when deadline_timer fires, or INT64_MAX */
    ev_timer poll_timer;         /* registry change detection */
    ev_timer state_timer;        /* dirty states out */
    struct devmap devices;       /* per-device state cache */
    size_t sweep_pos;            /* where the next state sweep starts */
    int64_t data_version;        /* last PRAGMA data_version seen */
    int64_t registry_version;    /* last registry version loaded */
    int64_t alerts_version;      /* last alerts version seen */
    int64_t alerts_checked_ms;   /* alerts changed since this were handled */
    struct pending_pub *pubs;    /* alert publications awaiting PUBACK */
    size_t npubs, cappubs;       /* used / allocated */
    struct lw_alert *raised;     /* alerts raised by the current event */
    size_t nraised, capraised;   /* used / allocated */
    uint64_t alerts_raised;      /* since start */
    uint64_t alerts_failed;      /* could not be stored */
    size_t nfences;              /* fences loaded */
    size_t nvehicles;            /* vehicles registered */
};

/* Loads registry and state from the store, starts the timers. 0 or -1. */
int watch_init(struct watch *w, struct ev_loop *loop, struct lw_store *store,
               struct mqtt_link *link, const struct lw_config *cfg);
void watch_release(struct watch *w);

/* Applies changed [alerts] settings (after SIGHUP). */
void watch_reconfigure(struct watch *w);

/* Events from the ingest path. */
void watch_fix(struct watch *w, const struct lw_fix *f, bool late,
               int64_t now_ms);
void watch_heard(struct watch *w, const char *device, int64_t now_ms);
/* An account status from MQTT; false when it changed nothing (retained
 * messages come again on every reconnection). */
bool watch_account(struct watch *w, const struct lw_account_update *u,
                   int64_t now_ms);

/* MQTT link events. */
void watch_connected(struct watch *w);
void watch_published(struct watch *w, int mid);

#endif
