/*
 * mail.h - alert e-mail in the daemon: the outbox (lib/outbox.c) sent over
 * SMTP with libcurl's multi interface on the libev loop. Never a blocking
 * send: libcurl's sockets are ev_io watchers and its timeout one ev_timer.
 *
 * What it does, on a 1 s tick and after each finished send:
 *   - turns held storm alerts into digests when due (lw_outbox_digest_run);
 *   - sends the next due outbox row, one at a time (libcurl reuses the
 *     connection for the next); STARTTLS required unless smtp.starttls =
 *     no, certificate and host name verified, AUTH with smtp.username and
 *     the password from smtp.password_file or the systemd credential
 *     'smtp-password';
 *   - classifies the result: accepted -> sent; a 5xx reply -> failed for
 *     good; a 4xx reply -> retried with back-off; a connection, TLS or
 *     authentication problem -> retried, and no new connection is tried
 *     before the same back-off (a server that is down is not hammered row
 *     by row); a row older than smtp.max_age -> failed;
 *   - publishes a delivery_failed event for each failed row on
 *     <topic_prefix>/mail (QoS 1, not retained), again after every
 *     reconnection until the broker acknowledged it, and logs it.
 * Rows are never marked while in flight: a stop (or crash) in the middle of
 * a send leaves the row pending, so it is sent again after the restart
 * with the same Message-ID (at least once, never lost).
 *
 * Watchers, embedded in struct mail: tick_timer, curl_timer and one ev_io
 * per socket libcurl asks for (struct mail_sock, allocated).
 */
#ifndef LW_DAEMON_MAIL_H
#define LW_DAEMON_MAIL_H

#include <curl/curl.h>
#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "lienwatch/store.h"
#include "mqtt.h"

/* Longest SMTP password kept, with the NUL. */
#define MAIL_PASSWORD_MAX 1024

struct mail_sock;
struct mail_xfer;

/* A delivery_failed event awaiting its PUBACK. */
struct mail_note {
    int mid;            /* libmosquitto message id */
    int64_t outbox_id;  /* the failed row */
};

struct mail {
    struct ev_loop *loop;          /* borrowed */
    struct lw_store *store;        /* borrowed */
    struct mqtt_link *link;        /* borrowed */
    const struct lw_config *cfg;   /* borrowed; changes after SIGHUP */
    CURLM *multi;                  /* owned */
    bool curl_ok;                  /* curl_global_init succeeded */
    ev_timer tick_timer;           /* 1 s: digests, due mail, events */
    ev_timer curl_timer;           /* libcurl's timeout */
    struct mail_sock *socks;       /* sockets watched for libcurl */
    struct mail_xfer *xfer;        /* the send in flight, or NULL */
    char password[MAIL_PASSWORD_MAX]; /* SMTP password, "" when none */
    bool ready;                    /* url set and credentials readable */
    int64_t server_retry_ms;       /* no new connection before this */
    int conn_failures;             /* consecutive connection failures */
    struct mail_note *notes;       /* events awaiting PUBACK */
    size_t nnotes, capnotes;       /* used / allocated */
    uint64_t notes_connects;       /* link->connects when notes were sent */
    uint64_t sent, retried, failed; /* since start */
};

/*
 * Prepares the dispatcher (libcurl, watchers) and starts its tick. With no
 * smtp.url it only waits for one (SIGHUP). Returns 0, or -1 (logged) when
 * libcurl cannot be set up.
 */
int mail_init(struct mail *m, struct ev_loop *loop, struct lw_store *store,
              struct mqtt_link *link, const struct lw_config *cfg);

/*
 * Stops: a send in flight is abandoned (its row stays pending), the
 * connection is closed, everything freed. Safe after a failed init.
 */
void mail_release(struct mail *m);

/* After SIGHUP: re-reads the password; new settings apply to the next
 * send. */
void mail_reconfigure(struct mail *m);

/* A QoS 1 message we published was acknowledged (mqtt on_published). */
void mail_published(struct mail *m, int mid);

#endif
