/*
 * runtime/mqtt.h - libmosquitto driven from a libev loop: the one MQTT link
 * of lienwatch's programs (lienwatchd, lw-gpsbridge).
 *
 * No mosquitto thread. An ev_io reads mosquitto_socket() (always, unless
 * the owner paused reading), a second one runs only while
 * mosquitto_want_write(), and a 1 s timer calls mosquitto_loop_misc
 * (keep-alive, retries).
 *
 * Connecting. The host is looked up without blocking the loop (a numeric
 * address at once, a name in a one-shot thread), then each address it
 * resolves to is tried in the order getaddrinfo gives, one at a time, until
 * one answers: a refused or unreachable address, one that does not complete
 * the TCP connection within connect_timeout_ms, or one whose TLS or MQTT
 * handshake fails or does not end within handshake_timeout_ms, moves on to
 * the next. (libmosquitto's own non-blocking connect tries only the first
 * address: with "::1 localhost" first in /etc/hosts and a broker on
 * 127.0.0.1 it never connected.) The log says which address answered.
 * When every address failed, or the broker refused the login, the next
 * round (a new lookup) waits an exponential back-off, from backoff_min_ms
 * doubling to backoff_max_ms; a lost connection is retried after
 * backoff_min_ms. With TLS the broker's certificate is checked against the
 * configured host name, never against the address (see runtime/tls.h).
 *
 * Sessions. Either one libmosquitto handle for the link's life (QoS 1
 * messages published while disconnected are kept and sent on reconnection;
 * with clean_session false the broker keeps the subscriptions and queues
 * for us), or, with fresh_handle, a new handle for every round: whatever
 * libmosquitto still held is dropped with the connection, and the owner
 * sends again from its own queue after on_connected.
 *
 * Paused. While the owner pauses reading, the connection stays up and the
 * broker sees no keep-alive failure (so no last will): libmosquitto's own
 * keep-alive, whose PINGRESP would wait unread behind the messages, is
 * replaced by a no-op UNSUBSCRIBE every half keep-alive (see mqtt.c).
 *
 * Subscriptions are (re)made after every CONNACK, after the UNSUBSCRIBE of
 * any stale filter the owner named. A password that would go
 * to an address that is not loopback without TLS is warned about.
 */
#ifndef LWRT_MQTT_H
#define LWRT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct lwrt_mqtt;

/* Up to this many subscription patterns per link. */
#define LWRT_MQTT_MAX_SUBS 8

/* Default per-address timeouts (see lwrt_mqtt_opts). */
#define LWRT_MQTT_CONNECT_TIMEOUT_MS 10000
#define LWRT_MQTT_HANDSHAKE_TIMEOUT_MS 30000

/* Settings of a link; every string is copied by lwrt_mqtt_new. */
struct lwrt_mqtt_opts {
    const char *name;          /* in log lines: "mqtt" (default) */
    const char *host;          /* broker host name or numeric address */
    int port;                  /* broker TCP port */
    const char *client_id;     /* MQTT client id (required unless clean) */
    bool clean_session;        /* false: the broker keeps our session */
    bool fresh_handle;         /* a new libmosquitto handle per round */
    int keepalive_s;           /* MQTT keep-alive, seconds (>= 5) */
    int max_inflight;          /* QoS 1/2 messages in flight; 0 = no limit */
    const char *username;      /* NULL or "": no authentication */
    const char *password_file; /* "": the credential "mqtt-password" */
    const char *cafile;        /* TLS when cafile or capath is set */
    const char *capath;
    const char *certfile;         /* TLS client certificate, or NULL */
    const char *keyfile;          /* its key, or NULL */
    bool tls_insecure;            /* do not check the host name (tests only) */
    const char *will_topic;       /* retained QoS 1 last will, or NULL */
    const char *will_payload;     /* its payload (with will_topic) */
    int64_t backoff_min_ms;       /* first delay after a failed round */
    int64_t backoff_max_ms;       /* cap of the doubling delay */
    bool backoff_jitter;          /* +-20 % on each delay (many clients) */
    int64_t connect_timeout_ms;   /* TCP connect per address; 0 = default */
    int64_t handshake_timeout_ms; /* TLS + CONNACK per address; 0 = default */
    bool quiet_retries;           /* repeated failures at debug, not warning */
};

/* Callbacks into the link's owner, ctx as given to lwrt_mqtt_new. Each
 * may be NULL. They run on the loop; the link may be used in them. */
struct lwrt_mqtt_handlers {
    /* A message arrived; topic and payload are valid during the call. */
    void (*on_message)(void *ctx, const char *topic, const void *payload,
                       size_t len);
    /* The broker accepted the connection (subscriptions already sent). */
    void (*on_connected)(void *ctx);
    /* The broker acknowledged every subscription of this connection. */
    void (*on_subscribed)(void *ctx);
    /* The broker acknowledged the UNSUBSCRIBE of every stale filter
     * (lwrt_mqtt_unsubscribe_stale); the list is then empty. */
    void (*on_unsubscribed)(void *ctx);
    /* A QoS > 0 message we published was acknowledged (mid of publish). */
    void (*on_published)(void *ctx, int mid);
    /* An accepted connection ended (not called for failed attempts, nor
     * at shutdown). With fresh_handle every message in flight is gone. */
    void (*on_disconnected)(void *ctx, const char *why);
};

/*
 * Creates a link: copies o, reads the password (password_file, or the
 * systemd credential "mqtt-password" when password_file is empty and a
 * username is set), builds the TLS context, and with a persistent handle
 * creates it. Does not connect. mosquitto_lib_init() must have been called.
 * Returns 0 and *out, or -1 with a sentence in err.
 */
int lwrt_mqtt_new(struct lwrt_mqtt **out, struct ev_loop *loop,
                  const struct lwrt_mqtt_opts *o,
                  const struct lwrt_mqtt_handlers *h, void *ctx, char *err,
                  size_t errlen);

/*
 * Adds a subscription pattern (copied) at qos, made after every CONNACK.
 * Returns 0, or -1 with a sentence in err (not a valid filter, too many).
 */
int lwrt_mqtt_subscribe(struct lwrt_mqtt *m, const char *pattern, int qos,
                        char *err, size_t errlen);

/*
 * Adds a filter (copied) to unsubscribe from at the next CONNACK, before
 * the subscriptions: one a persistent session kept from an older
 * configuration. Sent after every CONNACK until the broker acknowledged
 * all of them (on_unsubscribed). Returns 0, or -1 with a sentence in err.
 */
int lwrt_mqtt_unsubscribe_stale(struct lwrt_mqtt *m, const char *pattern,
                                char *err, size_t errlen);

/* Starts connecting (the first round); failures are retried. */
void lwrt_mqtt_start(struct lwrt_mqtt *m);

/*
 * Publishes payload (copied by libmosquitto). With a persistent handle, a
 * QoS > 0 message published while disconnected waits in libmosquitto.
 * *mid (may be NULL) gets the message id. Returns a MOSQ_ERR_* code
 * (MOSQ_ERR_NO_CONN with fresh_handle between connections).
 */
int lwrt_mqtt_publish(struct lwrt_mqtt *m, const char *topic,
                      const void *payload, size_t len, int qos, bool retain,
                      int *mid);

/* Stops (true) or resumes (false) reading messages: back-pressure. The
 * handshake of a new connection is read all the same. */
void lwrt_mqtt_pause(struct lwrt_mqtt *m, bool pause);

/* True between an accepted CONNACK and the end of that connection. */
bool lwrt_mqtt_connected(const struct lwrt_mqtt *m);

/* Connections accepted since start (a change means "reconnected"). */
uint64_t lwrt_mqtt_connects(const struct lwrt_mqtt *m);

/* Connections lost since start. */
uint64_t lwrt_mqtt_disconnects(const struct lwrt_mqtt *m);

/* Keep-alive nudges sent while paused (see above), since start. */
uint64_t lwrt_mqtt_nudges(const struct lwrt_mqtt *m);

/* The address of the current (or last) connection, "" before the first. */
const char *lwrt_mqtt_address(const struct lwrt_mqtt *m);

/* The latest connection problem as a sentence, "" when none. */
const char *lwrt_mqtt_last_error(const struct lwrt_mqtt *m);

/* Call after lwrt_log_set_level: libmosquitto's own lines are logged at
 * debug level (and, until connected, kept to explain a failure). */
void lwrt_mqtt_log_level_changed(struct lwrt_mqtt *m);

/*
 * Clean shutdown: stops reconnecting; when connected publishes
 * final_payload retained at QoS 1 on final_topic (when not NULL), sends
 * DISCONNECT (so the broker does not publish the will) and flushes the
 * socket for up to timeout_ms, blocking. The link may then only be freed.
 */
void lwrt_mqtt_shutdown(struct lwrt_mqtt *m, const char *final_topic,
                        const char *final_payload, int timeout_ms);

/* Frees the link (a lookup still running finishes in the background).
 * NULL is a no-op. */
void lwrt_mqtt_free(struct lwrt_mqtt *m);

#endif
