/*
 * mqtt.h - lienwatchd's broker link: the runtime's libev+libmosquitto glue
 * (runtime/mqtt.h) set up from the daemon's configuration.
 *
 * A persistent session (fixed client id, clean session off) so the broker
 * queues QoS 1 messages while the daemon is away; subscriptions are
 * (re)made on every connection; the retained last will says
 * {"state":"offline"}. Connecting tries every address the host resolves
 * to, in order (see runtime/mqtt.h).
 *
 * These names are kept while the daemon's files move to the runtime's
 * lwrt_mqtt_* functions; struct lwd_mqtt mirrors the two facts the other
 * daemon files read (connected, connects).
 */
#ifndef LW_DAEMON_MQTT_H
#define LW_DAEMON_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/config.h"
#include "runtime/mqtt.h"

struct ev_loop;

/* Callbacks into the link's owner; ctx is the one given to init. */
struct lwd_mqtt_handlers {
    /* A message arrived; topic and payload are valid during the call only. */
    void (*on_message)(void *ctx, const char *topic, const void *payload,
                       size_t len);
    /* The broker accepted the connection (subscriptions already sent). */
    void (*on_connected)(void *ctx);
    /* The broker acknowledged every subscription of this connection. */
    void (*on_subscribed)(void *ctx);
    /* The broker acknowledged the UNSUBSCRIBE of every stale filter. */
    void (*on_unsubscribed)(void *ctx);
    /* A QoS > 0 message we published was acknowledged (mid from publish). */
    void (*on_published)(void *ctx, int mid);
};

struct lwd_mqtt {
    struct lwrt_mqtt *m;        /* the runtime link (owned), NULL before init */
    struct lwd_mqtt_handlers h; /* owner's callbacks */
    void *ctx;                  /* owner's context for h */
    int qos;                    /* subscription QoS */
    bool connected;             /* CONNACK received, not disconnected since */
    uint64_t connects;          /* successful connections */
};

/*
 * Creates the link from cfg (client id, TLS, credentials, will message
 * 'will_payload' retained on will_topic; both copied). Does not connect.
 * Returns 0, or -1 with a logged reason.
 */
int lwd_mqtt_init(struct lwd_mqtt *l, struct ev_loop *loop,
                  const struct lw_config *cfg, const char *will_topic,
                  const char *will_payload, const struct lwd_mqtt_handlers *h,
                  void *ctx);

/* Adds a subscription pattern (copied); call before lwd_mqtt_start.
 * Returns 0, or -1 (logged). */
int lwd_mqtt_subscribe(struct lwd_mqtt *l, const char *pattern);

/* A filter (copied) to unsubscribe from at connection, before the
 * subscriptions: one an older configuration subscribed to in our
 * persistent session. Returns 0, or -1 (logged). */
int lwd_mqtt_unsubscribe_stale(struct lwd_mqtt *l, const char *pattern);

/* First connection attempt; failures schedule retries. */
void lwd_mqtt_start(struct lwd_mqtt *l);

/*
 * Publishes payload (copied by libmosquitto). QoS > 0 messages are queued by
 * libmosquitto when disconnected. *mid (may be NULL) gets the message id.
 * Returns a MOSQ_ERR_* code.
 */
int lwd_mqtt_publish(struct lwd_mqtt *l, const char *topic, const void *payload,
                     size_t len, int qos, bool retain, int *mid);

/* Applies a new log level to libmosquitto's own lines (debug shows them). */
void lwd_mqtt_log_level_changed(struct lwd_mqtt *l);

/* Stops (true) or resumes (false) reading from the broker: back-pressure. */
void lwd_mqtt_pause(struct lwd_mqtt *l, bool pause);

/*
 * Clean shutdown: publishes final_payload retained on final_topic (when not
 * NULL), sends DISCONNECT and flushes the socket for up to timeout_ms.
 */
void lwd_mqtt_shutdown(struct lwd_mqtt *l, const char *final_topic,
                       const char *final_payload, int timeout_ms);

/* Frees everything; safe after init failure and on a zeroed link. */
void lwd_mqtt_release(struct lwd_mqtt *l);

#endif
