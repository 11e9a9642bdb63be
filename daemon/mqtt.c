/*
 * mqtt.c - see mqtt.h: the daemon's settings into lwrt_mqtt_opts, and the
 * runtime's callbacks back to the daemon's (keeping connected/connects).
 */
#include <string.h>

#include "log.h"
#include "mqtt.h"

static void on_message(void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    struct mqtt_link *l = ctx;

    if (l->h.on_message)
        l->h.on_message(l->ctx, topic, payload, len);
}

static void on_connected(void *ctx)
{
    struct mqtt_link *l = ctx;

    l->connected = true;
    l->connects++;
    if (l->h.on_connected)
        l->h.on_connected(l->ctx);
}

static void on_subscribed(void *ctx)
{
    struct mqtt_link *l = ctx;

    if (l->h.on_subscribed)
        l->h.on_subscribed(l->ctx);
}

static void on_published(void *ctx, int mid)
{
    struct mqtt_link *l = ctx;

    if (l->h.on_published)
        l->h.on_published(l->ctx, mid);
}

static void on_disconnected(void *ctx, const char *why)
{
    struct mqtt_link *l = ctx;

    (void)why;
    l->connected = false;
}

int mqtt_link_init(struct mqtt_link *l, struct ev_loop *loop,
                   const struct lw_config *cfg, const char *will_topic,
                   const char *will_payload, const struct mqtt_handlers *h,
                   void *ctx)
{
    static const struct lwrt_mqtt_handlers rh = {
        .on_message = on_message,
        .on_connected = on_connected,
        .on_subscribed = on_subscribed,
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
        log_err("%s", err);
        return -1;
    }
    return 0;
}

int mqtt_link_subscribe(struct mqtt_link *l, const char *pattern)
{
    char err[600];

    if (lwrt_mqtt_subscribe(l->m, pattern, l->qos, err, sizeof(err)) != 0) {
        log_err("%s", err);
        return -1;
    }
    return 0;
}

void mqtt_link_start(struct mqtt_link *l)
{
    lwrt_mqtt_start(l->m);
}

int mqtt_link_publish(struct mqtt_link *l, const char *topic,
                      const void *payload, size_t len, int qos, bool retain,
                      int *mid)
{
    return lwrt_mqtt_publish(l->m, topic, payload, len, qos, retain, mid);
}

void mqtt_link_log_level_changed(struct mqtt_link *l)
{
    if (l->m)
        lwrt_mqtt_log_level_changed(l->m);
}

void mqtt_link_pause(struct mqtt_link *l, bool pause)
{
    lwrt_mqtt_pause(l->m, pause);
}

void mqtt_link_shutdown(struct mqtt_link *l, const char *final_topic,
                        const char *final_payload, int timeout_ms)
{
    lwrt_mqtt_shutdown(l->m, final_topic, final_payload, timeout_ms);
    l->connected = false;
}

void mqtt_link_release(struct mqtt_link *l)
{
    lwrt_mqtt_free(l->m);
    l->m = NULL;
    l->connected = false;
}
