/*
 * commands.h - what lienwatch-web and the CLI leave in the database for
 * lienwatchd to do: publish commands to devices (commands.h of the core)
 * and record the ends of cases that come by themselves (cases.h).
 *
 * Commands. Every COMMANDS_POLL_S the daemon asks PRAGMA data_version
 * whether another connection committed; when one did (and at start, and
 * on every new broker connection) it lists the queued commands and, while
 * the broker link is up, publishes each at QoS 1 (not retained) on the
 * topic lw_cmd_route gives: {"_type":"cmd","action":"reportLocation"} on
 * owntracks/<user>/<device>/cmd for an OwnTracks device,
 * {"action":"report_now"} on <topic_prefix>/cmd/<device> for an
 * lw-gpsbridge device; then marks it sent (or failed, when the device has
 * no command topic). A command queued while the broker is away waits,
 * queued, for the connection, for up to 10 minutes: older, it is marked
 * failed instead of sent (whoever asked has moved on). After each commit of fixes, while commands
 * are sent and unanswered, lw_cmd_answer marks those a newer fix answers.
 * Hourly, commands sent a day ago without an answer are given up on.
 *
 * Cases. Every CASES_SWEEP_S, and when another connection committed (at
 * most every CASES_SWEEP_MIN_S),
 * lw_case_sweep records expired cases and ends those whose account is no
 * longer watched (by [alerts] watch_days_past_due), as "lienwatchd".
 *
 * All of it runs on the daemon's connection between commits (never while a
 * transaction is open on it); a failure is logged (rate-limited) and
 * retried at the next tick.
 *
 * Watchers, embedded here: poll (COMMANDS_POLL_S), answer (one-shot, after
 * a commit that stored fixes), hourly.
 */
#ifndef LW_DAEMON_COMMANDS_H
#define LW_DAEMON_COMMANDS_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "lienwatch/store.h"
#include "mqtt.h"
#include "runtime/log.h"

/* Seconds between looks for queued commands: a command is published
 * within this (plus a commit's wait) of being queued. */
#define COMMANDS_POLL_S 0.25
/* Seconds between case sweeps when nothing else committed, and at least
 * between two when other connections commit all the time. */
#define CASES_SWEEP_S 10.0
#define CASES_SWEEP_MIN_S 1.0

struct lwd_commands {
    struct ev_loop *loop;        /* borrowed; NULL before init */
    struct lw_store *store;      /* borrowed: the daemon's connection */
    struct lwd_mqtt *link;       /* borrowed */
    const struct lw_config *cfg; /* borrowed; re-read after SIGHUP */
    ev_timer poll;               /* queued commands, the case sweep */
    ev_timer answer;             /* one-shot: answered commands */
    ev_timer hourly;             /* give up on stale sent commands */
    int64_t data_version;        /* PRAGMA data_version last seen */
    bool look;                   /* list queued commands at the next tick */
    uint64_t look_connects;      /* link->connects when last listed */
    int64_t sent_open;           /* sent, unanswered (as last counted) */
    bool answer_due;             /* fixes were stored since the last pass */
    double swept_at;             /* ev_now() of the last case sweep */
    bool sweep_due;              /* another connection committed */
    uint64_t published, answered, failed; /* since start */
    struct lwrt_limit err_limit;          /* database and publish failures */
};

/* Starts the timers; every pointer is borrowed. */
void lwd_commands_init(struct lwd_commands *c, struct ev_loop *loop,
                       struct lw_store *store, struct lwd_mqtt *link,
                       const struct lw_config *cfg);

/* Fixes were stored (after their commit): answers what they answer. */
void lwd_commands_fixes_stored(struct lwd_commands *c);

/* The broker accepted a connection: publish what waits. */
void lwd_commands_connected(struct lwd_commands *c);

/* Stops the timers. A zeroed struct (init never called) is a no-op. */
void lwd_commands_release(struct lwd_commands *c);

#endif
