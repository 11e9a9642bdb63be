/*
 * mqtt.c - see mqtt.h: the daemon's settings into lwrt_mqtt_opts, and the
 * runtime's callbacks back to the daemon's (keeping connected/connects).
 */
#include <string.h>

#include "mqtt.h"
#include "runtime/log.h"

static void on_message(void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    struct lwd_mqtt *l = ctx;

    if (l->h.on_message)
        l->h.on_message(l->ctx, topic, payload, len);
}

static void on_connected(void *ctx)
{
    struct lwd_mqtt *l = ctx;

    l->connected = true;
    l->connects++;
    if (l->h.on_connected)
        l->h.on_connected(l->ctx);
}

static void on_subscribed(void *ctx)
{
    struct lwd_mqtt *l = ctx;

    if (l->h.on_subscribed)
        l->h.on_subscribed(l->ctx);
}

static void on_unsubscribed(void *ctx)
{
    struct lwd_mqtt *l = ctx;

    if (l->h.on_unsubscribed)
        l->h.on_unsubscribed(l->ctx);
}

static void on_published(void *ctx, int mid)
{
    struct lwd_mqtt *l = ctx;

    if (l->h.on_published)
        l->h.on_published(l->ctx, mid);
}

static void on_disconnected(void *ctx, const char *why)
{
    struct lwd_mqtt *l = ctx;

    (void)why;
    l->connected = false;
}

int lwd_mqtt_init(struct lwd_mqtt *l, struct ev_loop *loop,
                  const struct lw_config *cfg, const char *will_topic,
                  const char *will_payload, const struct lwd_mqtt_handlers *h,
                  void *ctx)
{
    static const struct lwrt_mqtt_handlers rh = {
        .on_message = on_message,
        .on_connected = on_connected,
        .on_subscribed = on_subscribed,
        .on_unsubscribed = on_unsubscribed,
        .on_published = on_published,
        .on_disconnected = on_disconnected,
    };
    struct lwrt_mqtt_opts o = {
        .name = "mqtt",
        .host = cfg->mqtt_host,
        .port = cfg->mqtt_port,
        .client_id = cfg->mqtt_client_id,
        /* the broker keeps our subscriptions and queues while we are away */
        .clean_session = false,
        .keepalive_s = cfg->mqtt_keepalive_s,
        /* our own publishes (alerts, state) are few; do not throttle them */
        .max_inflight = 0,
        .username = cfg->mqtt_username,
        .password_file = cfg->mqtt_password_file,
        .cafile = cfg->mqtt_cafile,
        .capath = cfg->mqtt_capath,
        .certfile = cfg->mqtt_certfile,
        .keyfile = cfg->mqtt_keyfile,
        .will_topic = will_topic,
        .will_payload = will_payload,
        .backoff_min_ms = cfg->reconnect_min_ms,
        .backoff_max_ms = cfg->reconnect_max_ms,
    };
    char err[600];

    memset(l, 0, sizeof(*l));
    l->h = *h;
    l->ctx = ctx;
    l->qos = cfg->mqtt_qos;
    if (lwrt_mqtt_new(&l->m, loop, &o, &rh, l, err, sizeof(err)) != 0) {
        lwrt_log(LOG_ERR, "%s", err);
        return -1;
    }
    return 0;
}

int lwd_mqtt_subscribe(struct lwd_mqtt *l, const char *pattern)
{
    char err[600];

    if (lwrt_mqtt_subscribe(l->m, pattern, l->qos, err, sizeof(err)) != 0) {
        lwrt_log(LOG_ERR, "%s", err);
        return -1;
    }
    return 0;
}

int lwd_mqtt_unsubscribe_stale(struct lwd_mqtt *l, const char *pattern)
{
    char err[600];

    if (lwrt_mqtt_unsubscribe_stale(l->m, pattern, err, sizeof(err)) != 0) {
        lwrt_log(LOG_ERR, "%s", err);
        return -1;
    }
    return 0;
}

void lwd_mqtt_start(struct lwd_mqtt *l)
{
    lwrt_mqtt_start(l->m);
}

int lwd_mqtt_publish(struct lwd_mqtt *l, const char *topic, const void *payload,
                     size_t len, int qos, bool retain, int *mid)
{
    return lwrt_mqtt_publish(l->m, topic, payload, len, qos, retain, mid);
}

void lwd_mqtt_log_level_changed(struct lwd_mqtt *l)
{
    if (l->m)
        lwrt_mqtt_log_level_changed(l->m);
}

void lwd_mqtt_pause(struct lwd_mqtt *l, bool pause)
{
    lwrt_mqtt_pause(l->m, pause);
}

void lwd_mqtt_shutdown(struct lwd_mqtt *l, const char *final_topic,
                       const char *final_payload, int timeout_ms)
{
    lwrt_mqtt_shutdown(l->m, final_topic, final_payload, timeout_ms);
    l->connected = false;
}

void lwd_mqtt_release(struct lwd_mqtt *l)
{
    lwrt_mqtt_free(l->m);
    l->m = NULL;
    l->connected = false;
}
