/*
 * mail.h - alert e-mail in the daemon: the outbox (lib/outbox.c) sent over
 * SMTP with libcurl, without ever blocking the libev loop.
 *
 * The loop thread owns the database and every decision; one worker thread
 * owns a libcurl handle and only talks SMTP. They share one job at a time
 * (a copy of the row and of the settings, handed over under a mutex) and an
 * ev_async tells the loop that the job is done. A thread, not libcurl's
 * multi interface on the loop: libcurl's SMTP code (up to and including
 * Debian 12's 7.88) waits for the reply to the end of the message with a
 * blocking loop (smtp_done -> smtp_block_statemach), even in the multi
 * interface, and again for the reply to QUIT when it closes a connection:
 * a slow or hung server would stall MQTT, commits and signals for up to
 * smtp.timeout_s per mail (measured: a server that answers the data after
 * 5 s held a SIGTERM for 5 s). In the worker that costs nothing.
 *
 * What the loop does, on a 1 s tick and after each finished send:
 *   - turns held storm alerts into digests when due (lw_outbox_digest_run);
 *   - hands the next due outbox row to the worker, one at a time (the
 *     worker's handle keeps the connection for the next); STARTTLS
 *     required unless smtp.starttls = no, certificate and host name
 *     verified, AUTH with smtp.username and the password from
 *     smtp.password_file or the systemd credential 'smtp-password';
 *   - classifies the result: accepted -> sent; a 5xx reply -> failed for
 *     good; a 4xx reply -> retried with back-off; a connection, TLS or
 *     authentication problem (or 421) -> retried, and no new connection is
 *     tried before the same back-off (a server that is down is not
 *     hammered row by row); a row older than smtp.max_age -> failed;
 *   - publishes a delivery_failed event for each failed row on
 *     <topic_prefix>/mail (QoS 1, not retained), again after every
 *     reconnection until the broker acknowledged it, and logs it.
 * Rows are never marked while in flight: a stop (or crash) in the middle of
 * a send leaves the row pending, so it is sent again after the restart
 * with the same Message-ID (at least once, never lost). At a stop the
 * transfer in flight is aborted within about a second (libcurl's progress
 * callback) and the worker joined.
 */
#ifndef LW_DAEMON_MAIL_H
#define LW_DAEMON_MAIL_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "lienwatch/store.h"
#include "mqtt.h"

/* Longest SMTP password kept, with the NUL. */
#define MAIL_PASSWORD_MAX 1024

struct mail_xfer;

/* A delivery_failed event awaiting its PUBACK. */
struct mail_note {
    int mid;           /* libmosquitto message id */
    int64_t outbox_id; /* the failed row */
};

struct lwd_mail {
    struct ev_loop *loop;             /* borrowed */
    struct lw_store *store;           /* borrowed */
    struct lwd_mqtt *link;            /* borrowed */
    const struct lw_config *cfg;      /* borrowed; changes after SIGHUP */
    bool curl_ok;                     /* curl_global_init succeeded */
    ev_timer tick_timer;              /* 1 s: digests, due mail, events */
    ev_timer digest_timer;            /* the next storm digest is due */
    ev_async done_async;              /* the worker finished a job */
    pthread_t worker;                 /* the SMTP thread */
    bool worker_ok;                   /* it runs (join it) */
    pthread_mutex_t mu;               /* guards todo, done, stop */
    pthread_cond_t cv;                /* todo or stop changed */
    bool sync_ok;                     /* mu and cv initialised */
    struct mail_xfer *todo;           /* (mu) job for the worker, or NULL */
    struct mail_xfer *done;           /* (mu) job finished, or NULL */
    bool stop;                        /* (mu) the worker is to exit */
    atomic_bool abort;                /* abort the transfer in progress */
    struct mail_xfer *inflight;       /* loop: the job handed over, or NULL */
    char password[MAIL_PASSWORD_MAX]; /* SMTP password, "" when none */
    bool ready;                       /* url set and credentials readable */
    int64_t server_retry_ms;          /* no new connection before this */
    int conn_failures;                /* consecutive connection failures */
    struct mail_note *notes;          /* events awaiting PUBACK */
    size_t nnotes, capnotes;          /* used / allocated */
    uint64_t notes_connects;          /* link->connects when notes were sent */
    uint64_t sent, retried, failed;   /* since start */
    /* where a device usually parks, for storm digests (the alert
     * pipeline's places; lwd_mail_set_places); NULL: none named */
    const char *(*places_of)(void *ctx, const char *device);
    void *places_ctx; /* its context */
};

/*
 * Prepares the dispatcher (libcurl, the worker, watchers) and starts its
 * tick. With no smtp.url it only waits for one (SIGHUP). Returns 0, or -1
 * (logged) when libcurl or the worker cannot be set up.
 */
int lwd_mail_init(struct lwd_mail *m, struct ev_loop *loop,
                  struct lw_store *store, struct lwd_mqtt *link,
                  const struct lw_config *cfg);

/*
 * Stops: a send in flight is aborted (its row stays pending unless the
 * server accepted it already), the worker joined, the connection closed,
 * everything freed. Safe after a failed init.
 */
void lwd_mail_release(struct lwd_mail *m);

/* After SIGHUP: re-reads the password; new settings apply to the next
 * send. */
void lwd_mail_reconfigure(struct lwd_mail *m);

/* Where storm digests find the places of their offline alerts' vehicles
 * (kept by the alert pipeline; places_of returns borrowed text or NULL). */
void lwd_mail_set_places(struct lwd_mail *m,
                         const char *(*places_of)(void *ctx,
                                                  const char *device),
                         void *ctx);

/* A QoS 1 message we published was acknowledged (mqtt on_published). */
void lwd_mail_published(struct lwd_mail *m, int mid);

#endif
