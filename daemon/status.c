/*
 * status.c - see status.h.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "lienwatch/outbox.h"
#include "lienwatch/timeutil.h"
#include "runtime/clock.h"
#include "status.h"

#ifndef LW_VERSION
#define LW_VERSION "0.0.0"
#endif

/* Seconds between status publications (daemon topic, systemd STATUS=). */
#define STATUS_INTERVAL_S 10.0

static json_t *count_json(uint64_t n)
{
    return json_integer((json_int_t)n);
}

static void ingest_json(json_t *o, const struct lw_ingest *in)
{
    json_t *rej = json_object();

    json_object_set_new(o, "received",
                        count_json(lw_ingest_counter(in, LW_CNT_RECEIVED)));
    json_object_set_new(o, "stored",
                        count_json(lw_ingest_counter(in, LW_CNT_STORED)));
    json_object_set_new(o, "duplicates",
                        count_json(lw_ingest_counter(in, LW_CNT_DUPLICATES)));
    json_object_set_new(o, "late",
                        count_json(lw_ingest_counter(in, LW_CNT_LATE)));
    for (int i = 1; i < LW_REJ_COUNT; i++) {
        uint64_t n = lw_ingest_rejected(in, i);
        if (n)
            json_object_set_new(rej, lw_reject_name(i), count_json(n));
    }
    json_object_set_new(o, "rejected", rej);
    json_object_set_new(o, "pending", count_json(lw_ingest_pending(in)));
}

/* Alert e-mail: since start, and what waits in the outbox. */
static json_t *mail_json(const struct lwd_mail *mail, struct lw_store *store)
{
    json_t *m = json_object();
    int64_t pending = 0, held = 0;

    json_object_set_new(m, "configured", json_boolean(mail->ready));
    json_object_set_new(m, "sent", count_json(mail->sent));
    json_object_set_new(m, "retried", count_json(mail->retried));
    json_object_set_new(m, "failed", count_json(mail->failed));
    if (lw_outbox_counts(store, &pending, NULL, NULL, &held) == LW_OK) {
        json_object_set_new(m, "pending", json_integer(pending));
        json_object_set_new(m, "held", json_integer(held));
    }
    return m;
}

char *lwd_status_json(const struct lwd_status *s, const char *state)
{
    const struct lwd_status_src *src = &s->src;
    char tbuf[LW_TIME_BUFLEN];
    json_t *o;
    char *text;

    if (!s->loop)
        return NULL;
    o = json_object();
    if (!state)
        state = lwd_status_state(s);
    json_object_set_new(o, "state", json_string(state));
    if (strcmp(state, "paused") == 0)
        json_object_set_new(o, "reason", json_string(src->commit->reason));
    json_object_set_new(o, "version", json_string(LW_VERSION));
    json_object_set_new(o, "pid", json_integer(getpid()));
    json_object_set_new(
        o, "started_at",
        json_string(lw_time_format(src->started_ms, tbuf, sizeof(tbuf))));
    json_object_set_new(
        o, "at",
        json_string(lw_time_format(lwrt_wall_ms(), tbuf, sizeof(tbuf))));
    ingest_json(o, src->ingest);
    json_object_set_new(o, "max_commit_wait_ms",
                        json_integer(src->commit->max_wait_ms));
    if (src->commit->reserve_bytes > 0) {
        json_t *r = json_object();

        json_object_set_new(r, "bytes",
                            json_integer(src->commit->reserve_bytes));
        json_object_set_new(r, "held",
                            json_boolean(src->commit->reserve_held));
        json_object_set_new(r, "released",
                            count_json(src->commit->reserve_releases));
        json_object_set_new(o, "reserve", r);
    }
    if (src->watch) {
        struct lw_watch_stats st;
        json_t *a = json_object();

        lw_watch_stats(src->watch, &st);
        json_object_set_new(a, "stored", count_json(st.stored));
        json_object_set_new(a, "pending", count_json(st.pending_alerts));
        json_object_set_new(a, "lost", count_json(st.lost));
        json_object_set_new(o, "alerts", a);
    }
    if (src->mail)
        json_object_set_new(o, "mail", mail_json(src->mail, src->store));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(o);
    return text;
}

void lwd_status_publish(struct lwd_status *s)
{
    char *text;

    if (!s->loop || !s->src.link->connected)
        return;
    text = lwd_status_json(s, NULL);
    if (!text)
        return;
    lwd_mqtt_publish(s->src.link, s->src.topic, text, strlen(text), 1, true,
                     NULL);
    free(text);
}

const char *lwd_status_state(const struct lwd_status *s)
{
    const struct lwd_commit *c = s->src.commit;

    if (c->stopping)
        return "stopping";
    return c->failing ? "paused" : "online";
}

void lwd_status_notify(const struct lwd_status *s)
{
    const struct lw_ingest *in = s->src.ingest;
    const struct lwd_commit *c = s->src.commit;
    char what[LWD_COMMIT_REASON_MAX + 64];

    if (!s->loop)
        return;
    if (c->failing)
        snprintf(what, sizeof(what), "paused (reading stopped): %s",
                 c->reason);
    else
        snprintf(what, sizeof(what), "%s",
                 s->src.link->connected ? "connected" : "broker unreachable");
    sd_notifyf(0,
               "STATUS=%s%s; received %llu, stored %llu, duplicates %llu, "
               "rejected %llu",
               what,
               c->reserve_bytes > 0 && !c->reserve_held
                   ? "; disk reserve released"
                   : "",
               (unsigned long long)lw_ingest_counter(in, LW_CNT_RECEIVED),
               (unsigned long long)lw_ingest_counter(in, LW_CNT_STORED),
               (unsigned long long)lw_ingest_counter(in, LW_CNT_DUPLICATES),
               (unsigned long long)lw_ingest_counter(in, LW_CNT_REJECTED));
}

static void status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct lwd_status *s = t->data;

    (void)loop;
    (void)revents;
    lwd_status_publish(s);
    lwd_status_notify(s);
}

void lwd_status_init(struct lwd_status *s, struct ev_loop *loop,
                     const struct lwd_status_src *src)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->src = *src;
    ev_timer_init(&s->timer, status_cb, STATUS_INTERVAL_S, STATUS_INTERVAL_S);
    s->timer.data = s;
    ev_timer_start(loop, &s->timer);
}

void lwd_status_release(struct lwd_status *s)
{
    if (s->loop)
        ev_timer_stop(s->loop, &s->timer);
}
