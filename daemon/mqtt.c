/*
 * mqtt.c - see mqtt.h. libmosquitto's network calls are made only from the
 * libev callbacks below; after each of them the write watcher is re-armed
 * from mosquitto_want_write() so queued PUBACKs and publishes go out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mqtt.h"

/* Most mosquitto_loop_read calls per readable event before returning to
 * the loop; the watcher is level-triggered, so leftovers are read on the
 * next iteration. */
#define READ_BURST 1000
/* Seconds between mosquitto_loop_misc calls (keepalive and retries). */
#define MISC_INTERVAL_S 1.0
/* Longest accepted password file line. */
#define PASSWORD_MAX 1024

static void update_write_watcher(struct mqtt_link *l)
{
    if (!l->socket_watched)
        return;
    if (mosquitto_want_write(l->mosq))
        ev_io_start(l->loop, &l->io_write);
    else
        ev_io_stop(l->loop, &l->io_write);
}

static void unwatch_socket(struct mqtt_link *l)
{
    ev_io_stop(l->loop, &l->io_read);
    ev_io_stop(l->loop, &l->io_write);
    l->socket_watched = false;
}

static void watch_socket(struct mqtt_link *l)
{
    int fd = mosquitto_socket(l->mosq);

    unwatch_socket(l);
    if (fd < 0)
        return;
    ev_io_set(&l->io_read, fd, EV_READ);
    ev_io_set(&l->io_write, fd, EV_WRITE);
    if (!l->paused)
        ev_io_start(l->loop, &l->io_read);
    l->socket_watched = true;
    update_write_watcher(l);
}

static void schedule_reconnect(struct mqtt_link *l)
{
    if (l->stopping || ev_is_active(&l->reconnect_timer))
        return;
    log_info("mqtt: reconnecting to %s:%d in %.1f s", l->host, l->port,
             (double)l->backoff_ms / 1000.0);
    ev_timer_set(&l->reconnect_timer, (double)l->backoff_ms / 1000.0, 0.);
    ev_timer_start(l->loop, &l->reconnect_timer);
    l->backoff_ms *= 2;
    if (l->backoff_ms > l->backoff_max_ms)
        l->backoff_ms = l->backoff_max_ms;
}

/* libmosquitto's own log lines: TLS and socket errors show up here. */
static void on_log(struct mosquitto *mosq, void *obj, int level,
                   const char *str)
{
    struct mqtt_link *l = obj;

    (void)mosq;
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) {
        snprintf(l->last_error, sizeof(l->last_error), "%s", str);
        log_warn("mqtt: %s", str);
    } else {
        log_debug("mqtt: %s", str);
    }
}

/*
 * libmosquitto formats a line (vsnprintf into a fresh malloc) for every
 * packet while a log callback is set: 5 % of the daemon's CPU at full ingest.
 * So the callback is set only while it tells something: until connected (TLS
 * and handshake errors come only through it) and at debug level. Connected,
 * errors reach on_disconnect as a code. Called on (dis)connection and when
 * the level changes (SIGHUP).
 */
static void set_log_callback(struct mqtt_link *l)
{
    bool want = !l->connected || log_get_level() >= LOG_DEBUG_;

    if (want != l->log_callback) {
        mosquitto_log_callback_set(l->mosq, want ? on_log : NULL);
        l->log_callback = want;
    }
}

/* Called by libmosquitto (from inside loop_read/write/misc) and by us. */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct mqtt_link *l = obj;

    (void)mosq;
    unwatch_socket(l);
    if (l->connected) {
        l->disconnects++;
        if (rc != 0) {
            snprintf(l->last_error, sizeof(l->last_error),
                     "connection lost: %s", mosquitto_strerror(rc));
            log_warn("mqtt: connection to %s:%d lost (%s)", l->host, l->port,
                     mosquitto_strerror(rc));
        }
    }
    else if (rc != 0 && strstr(l->last_error, "certificate verify failed"))
        log_err("mqtt: TLS: the certificate of %s:%d is not trusted by CA "
                "file '%s' (or it is expired)",
                l->host, l->port, l->cafile);
    else if (rc != 0 && strstr(l->last_error, "host name verification"))
        log_err("mqtt: TLS: the certificate of %s:%d is not for host name "
                "'%s'",
                l->host, l->port, l->host);
    l->connected = false;
    set_log_callback(l);
    schedule_reconnect(l);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct mqtt_link *l = obj;

    l->rx_events++;
    if (rc != 0) {
        snprintf(l->last_error, sizeof(l->last_error),
                 "broker refused the connection: %s",
                 mosquitto_connack_string(rc));
        log_err("mqtt: %s:%d refused the connection: %s", l->host, l->port,
                mosquitto_connack_string(rc));
        return; /* the broker closes the socket; on_disconnect retries */
    }
    l->connected = true;
    l->connects++;
    l->backoff_ms = l->backoff_min_ms;
    l->last_error[0] = '\0';
    log_info("mqtt: connected to %s:%d", l->host, l->port);
    set_log_callback(l);
    l->subscribed = 0;
    for (int i = 0; i < l->nsubs; i++) {
        int src = mosquitto_subscribe(mosq, &l->sub_mids[i], l->subs[i],
                                      l->qos);
        if (src != MOSQ_ERR_SUCCESS)
            log_err("mqtt: cannot subscribe to '%s': %s", l->subs[i],
                    mosquitto_strerror(src));
    }
    if (l->h.on_connected)
        l->h.on_connected(l->ctx);
}

/* SUBACK: say what the broker granted; a refusal (0x80) is an error the
 * operator must fix (ACLs), not something to retry. */
static void on_subscribe(struct mosquitto *mosq, void *obj, int mid,
                         int qos_count, const int *granted)
{
    struct mqtt_link *l = obj;

    (void)mosq;
    l->rx_events++;
    for (int i = 0; i < l->nsubs; i++) {
        if (l->sub_mids[i] != mid)
            continue;
        if (qos_count < 1 || granted[0] > 2)
            log_err("mqtt: the broker refused the subscription to %s "
                    "(check its ACLs)",
                    l->subs[i]);
        else
            log_info("mqtt: subscribed to %s (QoS %d granted)", l->subs[i],
                     granted[0]);
        if (++l->subscribed == l->nsubs && l->h.on_subscribed)
            l->h.on_subscribed(l->ctx);
    }
}

static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *m)
{
    struct mqtt_link *l = obj;

    (void)mosq;
    l->rx_events++;
    if (l->h.on_message)
        l->h.on_message(l->ctx, m->topic, m->payload,
                        m->payloadlen > 0 ? (size_t)m->payloadlen : 0);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct mqtt_link *l = obj;

    (void)mosq;
    l->rx_events++;
    if (l->h.on_published)
        l->h.on_published(l->ctx, mid);
}

static void io_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mqtt_link *l = w->data;

    (void)loop;
    (void)revents;
    /* libmosquitto 2.0 reads one packet per call whatever max_packets says
     * (it goes by its own queue lengths, 0 for a QoS 1 subscriber): read on
     * while a call makes progress, instead of an epoll_wait and a loop
     * iteration per message. A partial packet or an empty socket makes
     * none. */
    for (int i = 0; i < READ_BURST; i++) {
        uint64_t before = l->rx_events;
        int rc = mosquitto_loop_read(l->mosq, 1);

        if (rc != MOSQ_ERR_SUCCESS) {
            /* libmosquitto normally reports this through on_disconnect */
            if (l->socket_watched)
                on_disconnect(l->mosq, l, rc);
            return;
        }
        if (l->rx_events == before || !l->socket_watched || l->paused)
            break;
    }
    update_write_watcher(l);
}

static void io_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mqtt_link *l = w->data;

    (void)loop;
    (void)revents;
    int rc = mosquitto_loop_write(l->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS && l->socket_watched) {
        on_disconnect(l->mosq, l, rc);
        return;
    }
    update_write_watcher(l);
}

static void misc_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mqtt_link *l = w->data;

    (void)loop;
    (void)revents;
    if (!l->socket_watched)
        return;
    int rc = mosquitto_loop_misc(l->mosq);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN &&
        l->socket_watched) {
        on_disconnect(l->mosq, l, rc);
        return;
    }
    update_write_watcher(l);
}

/* One connection attempt; on failure another is scheduled. */
static void try_connect(struct mqtt_link *l, bool first)
{
    int rc;

    if (first)
        rc = mosquitto_connect_async(l->mosq, l->host, l->port,
                                     l->keepalive_s);
    else
        rc = mosquitto_reconnect_async(l->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        const char *why = rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                               : mosquitto_strerror(rc);
        snprintf(l->last_error, sizeof(l->last_error), "cannot connect: %s",
                 why);
        log_warn("mqtt: cannot connect to %s:%d: %s", l->host, l->port, why);
        schedule_reconnect(l);
        return;
    }
    watch_socket(l);
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mqtt_link *l = w->data;

    (void)loop;
    (void)revents;
    try_connect(l, false);
}

/*
 * Reads the first line of path into buf. Returns 0, 1 when the line is
 * empty (no password), or -1 (logged). Warns about files every user may
 * read: a password should not be.
 */
static int read_secret(const char *path, char *buf, size_t buflen)
{
    struct stat st;
    FILE *f = fopen(path, "r");

    if (!f) {
        log_err("mqtt: cannot open password file %s: %s", path,
                strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
        log_warn("mqtt: password file %s is readable by every user; "
                 "chmod o-r it",
                 path);
    if (!fgets(buf, (int)buflen, f)) {
        log_err("mqtt: password file %s is empty", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0') {
        log_warn("mqtt: password file %s has an empty first line: "
                 "connecting without a password",
                 path);
        return 1;
    }
    return 0;
}

int mqtt_link_init(struct mqtt_link *l, struct ev_loop *loop,
                   const struct lw_config *cfg, const char *will_topic,
                   const char *will_payload, const struct mqtt_handlers *h,
                   void *ctx)
{
    char password[PASSWORD_MAX];
    const char *pw = NULL;
    int rc;

    memset(l, 0, sizeof(*l));
    l->loop = loop;
    l->h = *h;
    l->ctx = ctx;
    snprintf(l->host, sizeof(l->host), "%s", cfg->mqtt_host);
    l->port = cfg->mqtt_port;
    l->keepalive_s = cfg->mqtt_keepalive_s;
    l->qos = cfg->mqtt_qos;
    l->backoff_min_ms = l->backoff_ms = cfg->reconnect_min_ms;
    l->backoff_max_ms = cfg->reconnect_max_ms;
    snprintf(l->cafile, sizeof(l->cafile), "%s",
             cfg->mqtt_cafile[0] ? cfg->mqtt_cafile : cfg->mqtt_capath);
    ev_io_init(&l->io_read, io_read_cb, -1, EV_READ);
    ev_io_init(&l->io_write, io_write_cb, -1, EV_WRITE);
    ev_timer_init(&l->misc_timer, misc_cb, MISC_INTERVAL_S, MISC_INTERVAL_S);
    ev_timer_init(&l->reconnect_timer, reconnect_cb, 1., 0.);
    l->io_read.data = l->io_write.data = l;
    l->misc_timer.data = l->reconnect_timer.data = l;

    /* clean_session false: the broker keeps our subscriptions and queues */
    l->mosq = mosquitto_new(cfg->mqtt_client_id, false, l);
    if (!l->mosq) {
        log_err("mqtt: cannot create client: %s", strerror(errno));
        return -1;
    }
    mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         MQTT_PROTOCOL_V311);
    /* our own publishes (alerts, state) are few; do not throttle them */
    mosquitto_max_inflight_messages_set(l->mosq, 0);
    mosquitto_connect_callback_set(l->mosq, on_connect);
    mosquitto_disconnect_callback_set(l->mosq, on_disconnect);
    mosquitto_message_callback_set(l->mosq, on_message);
    mosquitto_subscribe_callback_set(l->mosq, on_subscribe);
    mosquitto_publish_callback_set(l->mosq, on_publish);
    mosquitto_log_callback_set(l->mosq, on_log);
    l->log_callback = true;

    if (cfg->mqtt_username[0]) {
        if (cfg->mqtt_password_file[0]) {
            rc = read_secret(cfg->mqtt_password_file, password,
                             sizeof(password));
            if (rc < 0)
                return -1;
            pw = rc == 0 ? password : NULL;
        } else if (getenv("CREDENTIALS_DIRECTORY")) {
            char path[LW_CONFIG_STR_MAX + 64];
            snprintf(path, sizeof(path), "%s/mqtt-password",
                     getenv("CREDENTIALS_DIRECTORY"));
            if (access(path, R_OK) == 0) {
                rc = read_secret(path, password, sizeof(password));
                if (rc < 0)
                    return -1;
                pw = rc == 0 ? password : NULL;
            }
        }
        rc = mosquitto_username_pw_set(l->mosq, cfg->mqtt_username, pw);
        memset(password, 0, sizeof(password));
        if (rc != MOSQ_ERR_SUCCESS) {
            log_err("mqtt: cannot set credentials: %s",
                    mosquitto_strerror(rc));
            return -1;
        }
    }
    if (cfg->mqtt_cafile[0] || cfg->mqtt_capath[0]) {
        rc = mosquitto_tls_set(
            l->mosq, cfg->mqtt_cafile[0] ? cfg->mqtt_cafile : NULL,
            cfg->mqtt_capath[0] ? cfg->mqtt_capath : NULL,
            cfg->mqtt_certfile[0] ? cfg->mqtt_certfile : NULL,
            cfg->mqtt_keyfile[0] ? cfg->mqtt_keyfile : NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            log_err("mqtt: TLS setup failed (cafile '%s', certfile '%s'): %s",
                    cfg->mqtt_cafile, cfg->mqtt_certfile,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                         : mosquitto_strerror(rc));
            return -1;
        }
        /* 1 = SSL_VERIFY_PEER; host name verification stays on */
        mosquitto_tls_opts_set(l->mosq, 1, NULL, NULL);
        mosquitto_tls_insecure_set(l->mosq, false);
    }
    if (will_topic) {
        rc = mosquitto_will_set(l->mosq, will_topic, (int)strlen(will_payload),
                                will_payload, 1, true);
        if (rc != MOSQ_ERR_SUCCESS) {
            log_err("mqtt: cannot set last will on %s: %s", will_topic,
                    mosquitto_strerror(rc));
            return -1;
        }
    }
    return 0;
}

int mqtt_link_subscribe(struct mqtt_link *l, const char *pattern)
{
    if (l->nsubs >= MQTT_MAX_SUBS || strlen(pattern) > LW_CONFIG_STR_MAX)
        return -1;
    if (mosquitto_sub_topic_check(pattern) != MOSQ_ERR_SUCCESS) {
        log_err("mqtt: '%s' is not a valid subscription pattern", pattern);
        return -1;
    }
    snprintf(l->subs[l->nsubs++], sizeof(l->subs[0]), "%s", pattern);
    return 0;
}

void mqtt_link_start(struct mqtt_link *l)
{
    ev_timer_start(l->loop, &l->misc_timer);
    log_info("mqtt: connecting to %s:%d", l->host, l->port);
    try_connect(l, true);
}

int mqtt_link_publish(struct mqtt_link *l, const char *topic,
                      const void *payload, size_t len, int qos, bool retain,
                      int *mid)
{
    int rc = mosquitto_publish(l->mosq, mid, topic, (int)len, payload, qos,
                               retain);
    update_write_watcher(l);
    return rc;
}

void mqtt_link_log_level_changed(struct mqtt_link *l)
{
    if (l->mosq)
        set_log_callback(l);
}

void mqtt_link_pause(struct mqtt_link *l, bool pause)
{
    if (l->paused == pause)
        return;
    l->paused = pause;
    if (!l->socket_watched)
        return;
    if (pause)
        ev_io_stop(l->loop, &l->io_read);
    else
        ev_io_start(l->loop, &l->io_read);
}

void mqtt_link_shutdown(struct mqtt_link *l, const char *final_topic,
                        const char *final_payload, int timeout_ms)
{
    l->stopping = true;
    ev_timer_stop(l->loop, &l->reconnect_timer);
    ev_timer_stop(l->loop, &l->misc_timer);
    if (!l->connected) {
        unwatch_socket(l);
        return;
    }
    if (final_topic)
        mosquitto_publish(l->mosq, NULL, final_topic,
                          (int)strlen(final_payload), final_payload, 1, true);
    mosquitto_disconnect(l->mosq);
    /* flush what is queued (the final state, DISCONNECT) before closing */
    for (int waited = 0; waited < timeout_ms && mosquitto_socket(l->mosq) >= 0 &&
                         mosquitto_want_write(l->mosq);
         waited += 10) {
        if (mosquitto_loop_write(l->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (mosquitto_want_write(l->mosq))
            ev_sleep(0.01);
    }
    unwatch_socket(l);
    l->connected = false;
}

void mqtt_link_release(struct mqtt_link *l)
{
    if (l->loop) {
        unwatch_socket(l);
        ev_timer_stop(l->loop, &l->misc_timer);
        ev_timer_stop(l->loop, &l->reconnect_timer);
    }
    if (l->mosq)
        mosquitto_destroy(l->mosq);
    l->mosq = NULL;
}
