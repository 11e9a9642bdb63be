/*
 * mqttlink.c - the spool published through the runtime's MQTT link
 * (runtime/mqtt.h: libmosquitto on the bridge's libev loop, every address
 * of the broker's name tried in order, back-off from 1 s doubling to 60 s
 * with jitter).
 *
 * The spool is the only queue. A fix is committed there first, then handed
 * to the library at QoS 1 in spool-id order, at most max_inflight at a
 * time; the PUBACK (on_published) deletes its row, by the mid -> row id
 * map. The link uses a fresh libmosquitto handle for every connection, so
 * when the connection drops whatever the library still held goes with it
 * and the library never resends on its own; the next session starts again
 * from the oldest row in the spool. The broker therefore receives the
 * fixes in the order they were taken, new fixes behind the backlog; a fix
 * that reached the broker but whose PUBACK was lost is sent again
 * (at-least-once; the daemon ignores duplicates).
 *
 * Commands: the link subscribes to the device's command topic at QoS 1 on
 * every connection (a clean session: a command sent while the bridge was
 * away is not delivered later, when it would be stale) and hands each
 * message to the owner's callback.
 */
#include <inttypes.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "bridge.h"
#include "runtime/mqtt.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* At exit, how long the DISCONNECT may take to go out. */
#define DISCONNECT_FLUSH_MS 500

/* One message handed to the library, waiting for its PUBACK. */
struct inflight {
    int mid;    /* MQTT message id */
    int64_t id; /* spool row id */
};

struct gb_mqttlink {
    const struct gb_settings *cfg; /* borrowed */
    struct gb_spool *spool;        /* borrowed */
    struct lwrt_mqtt *link;        /* the broker connection (owned) */
    char client_id[GB_STR_MAX];    /* MQTT client id */
    struct inflight *inflight;     /* max_inflight slots */
    int n_inflight;                /* used slots */
    int64_t cursor;                /* highest row id handed over */
    struct gb_spooled *batch;      /* buffer for gb_spool_next */
    uint64_t published;            /* handed to the library */
    uint64_t acked;                /* PUBACKs received */
    gb_command_cb *cmd_cb;         /* the owner's command callback */
    void *cmd_ctx;                 /* its context */
};

/* Hands spooled fixes to the library, oldest first, up to max_inflight. */
static void pump(struct gb_mqttlink *m)
{
    char err[256];
    int want, got, rc;

    while (lwrt_mqtt_connected(m->link) &&
           m->n_inflight < m->cfg->max_inflight) {
        want = m->cfg->max_inflight - m->n_inflight;
        got =
            gb_spool_next(m->spool, m->cursor, m->batch, want, err, sizeof err);
        if (got < 0) {
            lwrt_log(LOG_ERR, "%s", err);
            return;
        }
        if (got == 0)
            return;
        for (int i = 0; i < got; i++) {
            const struct gb_spooled *f = &m->batch[i];
            int mid = 0;

            rc = lwrt_mqtt_publish(m->link, f->topic, f->payload,
                                   strlen(f->payload), 1, false, &mid);
            if (rc != MOSQ_ERR_SUCCESS) {
                /* the session is failing; on reconnect the spool is read
                 * again from its oldest row */
                lwrt_log(LOG_DEBUG, "mqtt: publish: %s",
                         mosquitto_strerror(rc));
                return;
            }
            m->inflight[m->n_inflight].mid = mid;
            m->inflight[m->n_inflight].id = f->id;
            m->n_inflight++;
            m->cursor = f->id;
            m->published++;
        }
    }
}

static void on_connected(void *ctx)
{
    struct gb_mqttlink *m = ctx;

    lwrt_log(LOG_NOTICE, "mqtt: %" PRId64 " fixes in the spool",
             gb_spool_count(m->spool));
    m->n_inflight = 0;
    m->cursor = 0; /* every row still in the spool is unacknowledged */
    pump(m);
}

static void on_disconnected(void *ctx, const char *why)
{
    struct gb_mqttlink *m = ctx;

    (void)why;
    /* the handle and what it held are gone: start again from the spool */
    m->n_inflight = 0;
    lwrt_log(LOG_WARNING, "mqtt: %" PRId64 " fixes wait in the spool",
             gb_spool_count(m->spool));
}

static void on_message(void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    struct gb_mqttlink *m = ctx;

    (void)topic; /* the one subscription */
    if (m->cmd_cb)
        m->cmd_cb(m->cmd_ctx, payload, len);
}

static void on_published(void *ctx, int mid)
{
    struct gb_mqttlink *m = ctx;
    char err[256];

    for (int i = 0; i < m->n_inflight; i++) {
        if (m->inflight[i].mid != mid)
            continue;
        if (gb_spool_remove(m->spool, m->inflight[i].id, err, sizeof err) !=
            LW_OK)
            lwrt_log(LOG_ERR, "%s (the fix will be sent again)", err);
        m->acked++;
        m->inflight[i] = m->inflight[--m->n_inflight];
        pump(m);
        return;
    }
    lwrt_log(LOG_DEBUG, "mqtt: PUBACK for unknown mid %d", mid);
}

struct gb_mqttlink *gb_mqttlink_new(struct ev_loop *loop,
                                    const struct gb_settings *s,
                                    struct gb_spool *spool,
                                    const char *cmd_topic, gb_command_cb *cb,
                                    void *ctx)
{
    static const struct lwrt_mqtt_handlers h = {
        .on_message = on_message,
        .on_connected = on_connected,
        .on_published = on_published,
        .on_disconnected = on_disconnected,
    };
    struct gb_mqttlink *m = calloc(1, sizeof *m);
    struct lwrt_mqtt_opts o = {0};
    char err[1024];

    if (!m)
        return NULL;
    m->cfg = s;
    m->spool = spool;
    m->cmd_cb = cb;
    m->cmd_ctx = ctx;
    m->inflight = calloc((size_t)s->max_inflight, sizeof *m->inflight);
    m->batch = calloc((size_t)s->max_inflight, sizeof *m->batch);
    if (!m->inflight || !m->batch)
        goto fail;
    if (*s->mqtt_client_id)
        snprintf(m->client_id, sizeof m->client_id, "%s", s->mqtt_client_id);
    else
        snprintf(m->client_id, sizeof m->client_id, "%s-%s", GB_PROG,
                 s->device);
    o.name = "mqtt";
    o.host = s->mqtt_host;
    o.port = s->mqtt_port;
    o.client_id = m->client_id;
    o.clean_session = true;
    o.fresh_handle = true; /* the spool is the queue, see above */
    o.keepalive_s = (int)(s->mqtt_keepalive_ms / 1000);
    o.max_inflight = s->max_inflight;
    o.username = s->mqtt_username;
    o.password_file = s->mqtt_password_file;
    o.cafile = s->mqtt_cafile;
    o.capath = s->mqtt_capath;
    o.certfile = s->mqtt_certfile;
    o.keyfile = s->mqtt_keyfile;
    o.tls_insecure = s->mqtt_tls_insecure;
    o.backoff_min_ms = BACKOFF_MIN_MS;
    o.backoff_max_ms = BACKOFF_MAX_MS;
    o.backoff_jitter = true;
    /* an in-vehicle unit is often out of coverage: say it once */
    o.quiet_retries = true;
    if (lwrt_mqtt_new(&m->link, loop, &o, &h, m, err, sizeof err) != 0) {
        lwrt_log(LOG_ERR, "%s", err);
        goto fail;
    }
    if (cmd_topic && *cmd_topic &&
        lwrt_mqtt_subscribe(m->link, cmd_topic, 1, err, sizeof err) != 0) {
        lwrt_log(LOG_ERR, "%s", err);
        lwrt_mqtt_free(m->link);
        goto fail;
    }
    lwrt_mqtt_start(m->link);
    return m;
fail:
    free(m->inflight);
    free(m->batch);
    free(m);
    return NULL;
}

void gb_mqttlink_kick(struct gb_mqttlink *m)
{
    pump(m);
}

bool gb_mqttlink_connected(const struct gb_mqttlink *m)
{
    return lwrt_mqtt_connected(m->link);
}

uint64_t gb_mqttlink_acked(const struct gb_mqttlink *m)
{
    return m->acked;
}

void gb_mqttlink_free(struct gb_mqttlink *m)
{
    if (!m)
        return;
    lwrt_mqtt_shutdown(m->link, NULL, NULL, DISCONNECT_FLUSH_MS);
    lwrt_mqtt_free(m->link);
    lwrt_log(LOG_INFO, "mqtt: %llu fixes published, %llu acknowledged",
             (unsigned long long)m->published, (unsigned long long)m->acked);
    free(m->inflight);
    free(m->batch);
    free(m);
}
