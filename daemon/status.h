/*
 * status.h - the daemon's own state and counters: the retained JSON on
 * <prefix>/daemon (every STATUS_INTERVAL_S, on each connection, and
 * "offline" at a clean stop) and systemd's STATUS= line.
 *
 * The state: "online"; "paused" while commits fail (reading from the
 * broker stopped, the connection kept), with "reason"; "stopping";
 * "offline" at a clean stop (and as the last will).
 *
 * The JSON: {"state", ["reason",] "version", "pid", "started_at", "at", "received",
 * "stored", "duplicates", "late", "rejected": {reason: n}, "pending",
 * "max_commit_wait_ms", ["reserve": {"bytes", "held", "released"},]
 * "alerts": {"stored", "pending", "lost"},
 * "mail": {"configured", "sent", "retried", "failed", "pending", "held"}}
 * (mail only while the mail dispatcher runs).
 */
#ifndef LW_DAEMON_STATUS_H
#define LW_DAEMON_STATUS_H

#include <ev.h>
#include <stdint.h>

#include "commit.h"
#include "lienwatch/ingest.h"
#include "lienwatch/store.h"
#include "lienwatch/watch.h"
#include "mail.h"
#include "mqtt.h"

/* Where the figures come from; every pointer borrowed. */
struct lwd_status_src {
    struct lwd_mqtt *link;           /* where the JSON goes */
    const char *topic;               /* <prefix>/daemon */
    struct lw_store *store;          /* outbox counts */
    const struct lw_ingest *ingest;  /* ingest counters */
    const struct lwd_commit *commit; /* longest commit wait */
    const struct lw_watch *watch;    /* alert counters; may be NULL */
    const struct lwd_mail *mail;     /* mail counters; NULL when off */
    int64_t started_ms;              /* start time */
};

struct lwd_status {
    struct ev_loop *loop;      /* borrowed; NULL before lwd_status_init */
    ev_timer timer;            /* every STATUS_INTERVAL_S */
    struct lwd_status_src src; /* copied */
};

/* Starts the periodic publication. */
void lwd_status_init(struct lwd_status *s, struct ev_loop *loop,
                     const struct lwd_status_src *src);

/* Publishes the status now (retained, QoS 1) when connected. */
void lwd_status_publish(struct lwd_status *s);

/* Sends systemd's STATUS= line now. */
void lwd_status_notify(const struct lwd_status *s);

/* The current state: "online", "paused" or "stopping" (borrowed). */
const char *lwd_status_state(const struct lwd_status *s);

/* The status JSON with state (NULL: the current one; "offline" at a stop);
 * caller frees; NULL when out of memory or before lwd_status_init. */
char *lwd_status_json(const struct lwd_status *s, const char *state);

/* Stops the timer. */
void lwd_status_release(struct lwd_status *s);

#endif
