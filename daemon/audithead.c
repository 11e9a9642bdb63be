/*
 * audithead.c - see audithead.h.
 */
#include <stdio.h>
#include <string.h>

#include "audithead.h"
#include "lienwatch/timeutil.h"

/* Seconds between reads of the head, and between log lines. */
#define POLL_S 1.0
#define LOG_EVERY_S 3600.0
/* Read failures: at most one log line per this many ms. */
#define ERR_LOG_INTERVAL_MS 60000
#define MS_PER_S 1000.0
/* QoS of the publication: retained, and delivered once the broker has it. */
#define HEAD_QOS 1
/* Room for the payload. */
#define PAYLOAD_LEN (LW_AUDIT_HASH_HEX + 128)

static bool same_head(const struct lw_audit_head *x,
                      const struct lw_audit_head *y)
{
    return x->id == y->id && strcmp(x->hash, y->hash) == 0;
}

/* Reads the head into a->head; false (logged, rate-limited) on failure or
 * while a transaction is open on the connection. */
static bool read_head(struct lwd_audithead *a)
{
    struct lwrt_limit_note note;
    struct lw_audit_head h;

    if (lw_store_in_txn(a->store))
        return false;
    if (lw_audit_head(a->store, &h) != LW_OK) {
        if (lwrt_limit_allow(&a->err_limit,
                             (int64_t)(ev_now(a->loop) * MS_PER_S),
                             ERR_LOG_INTERVAL_MS, &note))
            lwrt_log(LOG_WARNING, "audit: cannot read the trail's head: %s%s",
                     lw_store_errmsg(a->store),
                     note.suppressed ? " (and earlier failures)" : "");
        return false;
    }
    if (a->have_head && !same_head(&h, &a->head))
        lwrt_log(LOG_DEBUG, "audit: head moved to %lld:%s", (long long)h.id,
                 h.hash);
    a->head = h;
    a->have_head = true;
    return true;
}

static void publish(struct lwd_audithead *a)
{
    char payload[PAYLOAD_LEN], t[LW_TIME_BUFLEN];
    int n, rc;

    lw_time_format((int64_t)(ev_now(a->loop) * MS_PER_S), t, sizeof(t));
    n = snprintf(payload, sizeof(payload),
                 "{\"id\":%lld,\"hash\":\"%s\",\"published\":\"%s\"}",
                 (long long)a->head.id, a->head.hash, t);
    rc = lwd_mqtt_publish(a->link, a->topic, payload, (size_t)n, HEAD_QOS, true,
                          NULL);
    if (rc != 0) {
        lwrt_log(LOG_WARNING,
                 "audit: publishing the head on %s failed (code %d); "
                 "retried",
                 a->topic, rc);
        return;
    }
    a->published = a->head;
    a->have_published = true;
    a->published_connects = a->link->connects;
    a->published_at = ev_now(a->loop);
    lwrt_log(LOG_DEBUG, "audit: head %lld:%s published on %s",
             (long long)a->head.id, a->head.hash, a->topic);
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwd_audithead *a = w->data;
    bool reconnected, moved;

    (void)loop;
    (void)revents;
    if (!read_head(a) || !a->link->connected)
        return;
    reconnected =
        !a->have_published || a->published_connects != a->link->connects;
    moved = !a->have_published || !same_head(&a->head, &a->published);
    if (reconnected || (moved && ev_now(a->loop) - a->published_at >=
                                     AUDITHEAD_MIN_INTERVAL_S))
        publish(a);
}

static void log_head(struct lwd_audithead *a)
{
    if (read_head(a) || a->have_head)
        lwrt_log(LOG_INFO, "audit: trail head %lld:%s", (long long)a->head.id,
                 a->head.hash);
}

static void hourly_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    log_head(w->data);
}

void lwd_audithead_init(struct lwd_audithead *a, struct ev_loop *loop,
                        struct lw_store *store, struct lwd_mqtt *link,
                        const struct lw_config *cfg)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->store = store;
    a->link = link;
    snprintf(a->topic, sizeof(a->topic), "%s/audit/head", cfg->topic_prefix);
    log_head(a);
    ev_timer_init(&a->poll, poll_cb, POLL_S, POLL_S);
    ev_timer_init(&a->hourly, hourly_cb, LOG_EVERY_S, LOG_EVERY_S);
    a->poll.data = a->hourly.data = a;
    ev_timer_start(loop, &a->poll);
    ev_timer_start(loop, &a->hourly);
}

void lwd_audithead_release(struct lwd_audithead *a)
{
    if (!a->loop)
        return;
    ev_timer_stop(a->loop, &a->poll);
    ev_timer_stop(a->loop, &a->hourly);
    if (read_head(a) && a->link->connected &&
        (!a->have_published || !same_head(&a->head, &a->published)))
        publish(a);
    if (a->have_head)
        lwrt_log(LOG_INFO, "audit: trail head at stop %lld:%s",
                 (long long)a->head.id, a->head.hash);
    a->loop = NULL;
}
