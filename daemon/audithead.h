/*
 * audithead.h - an outside copy of the audit trail's head.
 *
 * The audit chain (lienwatch/audit.h) shows a record changed, removed or
 * inserted anywhere but at the end; records removed from the end, or a
 * chain recomputed by whoever holds the file, show only against a head
 * copied out before. lienwatchd makes such copies: it reads the head (the
 * last record's id and hash: one index lookup) every second, publishes it
 * retained (QoS 1) on <topic_prefix>/audit/head whenever it moved, at most
 * every AUDITHEAD_MIN_INTERVAL_S seconds (and again on every new broker
 * connection), and logs it at start and hourly, so the broker's retained
 * store, its subscribers and the journal all hold one.
 *
 * Payload: {"id":1042,"hash":"<64 hex>","published":"<ISO 8601 UTC>"};
 * 'lienwatch audit verify --head' takes it as it is.
 *
 * Watchers, embedded here: poll (every second) and hourly (the log line).
 * The head is read only while the daemon's connection has no transaction
 * open, so a head not yet committed is never published.
 */
#ifndef LW_DAEMON_AUDITHEAD_H
#define LW_DAEMON_AUDITHEAD_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/audit.h"
#include "lienwatch/config.h"
#include "lienwatch/store.h"
#include "mqtt.h"
#include "runtime/log.h"

/* Fewest seconds between two publications of a moved head. */
#define AUDITHEAD_MIN_INTERVAL_S 10.0

struct lwd_audithead {
    struct ev_loop *loop;               /* borrowed; NULL before init */
    struct lw_store *store;             /* borrowed: the daemon's connection */
    struct lwd_mqtt *link;              /* borrowed */
    char topic[LW_CONFIG_STR_MAX + 16]; /* <prefix>/audit/head */
    ev_timer poll;                      /* every second: did the head move? */
    ev_timer hourly;                    /* the hourly log line */
    struct lw_audit_head head;          /* the head last read */
    bool have_head;                     /* head was read at least once */
    struct lw_audit_head published;     /* the head last published */
    bool have_published;                /* published at least once */
    uint64_t published_connects;        /* link->connects at that time */
    double published_at;                /* ev_now() at that time */
    struct lwrt_limit err_limit;        /* read failures */
};

/* Reads the head now, logs it and starts the timers; the first
 * publication follows the first connection. */
void lwd_audithead_init(struct lwd_audithead *a, struct ev_loop *loop,
                        struct lw_store *store, struct lwd_mqtt *link,
                        const struct lw_config *cfg);

/* Publishes a head that moved since the last publication (without waiting
 * for the interval; call before the link's shutdown, which sends it) and
 * stops the timers. A zeroed struct (init never called) is a no-op. */
void lwd_audithead_release(struct lwd_audithead *a);

#endif
