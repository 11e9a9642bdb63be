/*
 * mqtt.h - libmosquitto driven from a libev loop, with reconnect back-off.
 *
 * No mosquitto thread: an ev_io watches mosquitto_socket() for reading
 * (always) and writing (only while mosquitto_want_write()), a 1 s timer
 * calls mosquitto_loop_misc (keepalive, retries), and a timer reconnects
 * with exponential back-off after any disconnection. Subscriptions are
 * (re)made in on_connect, so a broker restart is transparent; the session is
 * persistent (fixed client id, clean session off) so the broker queues QoS 1
 * messages while we are away.
 */
#ifndef LW_DAEMON_MQTT_H
#define LW_DAEMON_MQTT_H

#include <ev.h>
#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/config.h"

/* Up to this many subscription patterns. */
#define MQTT_MAX_SUBS 4

/* Callbacks into the link's owner; ctx is mqtt_link.ctx. */
struct mqtt_handlers {
    /* A message arrived; topic and payload are valid during the call only. */
    void (*on_message)(void *ctx, const char *topic, const void *payload,
                       size_t len);
    /* The broker accepted the connection (subscriptions already sent). */
    void (*on_connected)(void *ctx);
    /* The broker acknowledged every subscription of this connection. */
    void (*on_subscribed)(void *ctx);
    /* A QoS > 0 message we published was acknowledged (mid from publish). */
    void (*on_published)(void *ctx, int mid);
};

struct mqtt_link {
    struct ev_loop *loop;      /* borrowed */
    struct mosquitto *mosq;    /* owned */
    ev_io io_read;             /* readable socket */
    ev_io io_write;            /* writable socket, armed while want_write */
    ev_timer misc_timer;       /* mosquitto_loop_misc every second */
    ev_timer reconnect_timer;  /* next reconnection attempt */
    struct mqtt_handlers h;    /* owner's callbacks */
    void *ctx;                 /* owner's context for h */
    char host[LW_CONFIG_STR_MAX + 1]; /* broker host */
    int port;                  /* broker port */
    int keepalive_s;           /* keepalive interval */
    int qos;                   /* subscription QoS */
    char subs[MQTT_MAX_SUBS][LW_CONFIG_STR_MAX + 1]; /* patterns */
    int nsubs;                 /* used entries of subs */
    int sub_mids[MQTT_MAX_SUBS]; /* SUBSCRIBE message id per pattern */
    int subscribed;            /* SUBACKs received on this connection */
    char cafile[LW_CONFIG_STR_MAX + 1]; /* for error messages */
    int64_t backoff_ms;        /* current reconnect delay */
    int64_t backoff_min_ms;    /* first delay */
    int64_t backoff_max_ms;    /* cap */
    bool connected;            /* CONNACK received, not disconnected since */
    bool log_callback;         /* on_log is set (see set_log_callback) */
    uint64_t rx_events;        /* callbacks run by incoming packets */
    bool socket_watched;       /* io watchers hold the current socket */
    bool paused;               /* owner asked us to stop reading */
    bool stopping;             /* shutdown: do not reconnect */
    uint64_t connects;         /* successful connections */
    uint64_t disconnects;      /* connections lost */
    char last_error[256];      /* latest connection problem, for status */
};

/*
 * Creates the mosquitto handle from cfg (client id, TLS, credentials, will
 * message 'will_payload' retained on will_topic; both copied) and prepares
 * the watchers. Does not connect. Returns 0, or -1 with a logged reason.
 */
int mqtt_link_init(struct mqtt_link *l, struct ev_loop *loop,
                   const struct lw_config *cfg, const char *will_topic,
                   const char *will_payload, const struct mqtt_handlers *h,
                   void *ctx);

/* Adds a subscription pattern (copied); call before mqtt_link_start. */
int mqtt_link_subscribe(struct mqtt_link *l, const char *pattern);

/* First connection attempt; failures schedule retries. */
void mqtt_link_start(struct mqtt_link *l);

/*
 * Publishes payload (copied by libmosquitto). QoS > 0 messages are queued by
 * libmosquitto when disconnected. *mid (may be NULL) gets the message id.
 * Returns a MOSQ_ERR_* code.
 */
int mqtt_link_publish(struct mqtt_link *l, const char *topic,
                      const void *payload, size_t len, int qos, bool retain,
                      int *mid);

/* Applies a new log level to libmosquitto's own lines (debug shows them). */
void mqtt_link_log_level_changed(struct mqtt_link *l);

/* Stops (true) or resumes (false) reading from the broker: back-pressure. */
void mqtt_link_pause(struct mqtt_link *l, bool pause);

/*
 * Clean shutdown: publishes final_payload retained on final_topic (when not
 * NULL), sends DISCONNECT and flushes the socket for up to timeout_ms.
 */
void mqtt_link_shutdown(struct mqtt_link *l, const char *final_topic,
                        const char *final_payload, int timeout_ms);

/* Frees everything; safe after init failure. */
void mqtt_link_release(struct mqtt_link *l);

#endif
