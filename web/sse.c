/*
 * sse.c - GET /api/v1/events: Server-Sent Events of the fixes and alerts
 * the caller may see, as they are stored.
 *
 * lienwatch-web does not talk MQTT: it learns of new fixes and alerts from
 * the database, polling once a second (a cheap PRAGMA data_version when
 * nothing changed). Each stream is a connection whose response is a content
 * reader: with nothing to send, the reader suspends the connection; the
 * poll resumes it when it has queued events. Every 15 s a comment line
 * keeps proxies from closing the stream and lets MHD notice a client that
 * went away.
 *
 * A stream ends ("event: end", then the end of the response) when its
 * session ends (logout, expiry, user disabled) or, for an agent, when no
 * vehicle is left that they may see (their cases closed or expired, or the
 * accounts paid up); for one vehicle whose access ended it says so
 * ("event: revoked"). Every fix sent is a look: one audit record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/alert.h"
#include "lienwatch/cases.h"
#include "lienwatch/registry.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "web.h"

#define HEARTBEAT_MS 15000
/* Streams are checked at least this often even when the database did not
 * change: a case expires by the clock alone. */
#define REFRESH_MS 2000
/* A stream whose client reads nothing: at most this much is buffered. */
#define BUF_MAX (1024 * 1024)

struct seen {
    char device[LW_DEVICE_MAX + 1]; /* a device the stream showed */
    int64_t fix_ms;                 /* newest fix time sent */
    bool visible;                   /* still visible at the last poll */
};

struct lww_sse {
    struct lww_sse *next;          /* the list in struct lww */
    struct lww *w;                 /* the service */
    struct MHD_Connection *conn;   /* its connection */
    struct lww_who who;            /* whose stream */
    char client[LWW_ADDR_MAX];     /* client address */
    char *buf;                     /* events not yet read by MHD */
    size_t len, off, cap;          /* bytes, read so far, allocated */
    bool suspended;                /* the connection is suspended */
    bool ended;                    /* the end event is queued */
    struct seen *seen;             /* devices shown */
    size_t nseen, capseen;         /* used, allocated */
    int64_t last_beat_ms;          /* last data or heartbeat */
};

static void append(struct lww_sse *s, const char *text, size_t n)
{
    if (s->len + n > BUF_MAX) {
        s->ended = true; /* the client does not read: end it */
        return;
    }
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            return;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
}

/* Queues "event: name\ndata: json\n\n" (o is consumed). */
static void event(struct lww_sse *s, const char *name, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    char head[64];

    json_decref(o);
    if (!text)
        return;
    snprintf(head, sizeof(head), "event: %s\ndata: ", name);
    append(s, head, strlen(head));
    append(s, text, strlen(text));
    append(s, "\n\n", 2);
    free(text);
}

static void wake(struct lww_sse *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct lww_sse *s = cls;
    size_t n;

    (void)pos;
    if (s->off < s->len) {
        n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    if (s->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

static void release(void *cls)
{
    struct lww_sse *s = cls;
    struct lww_sse **p;

    for (p = &s->w->streams; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    lwrt_log(LOG_DEBUG, "stream of %s from %s closed", s->who.name,
             s->client);
    free(s->buf);
    free(s->seen);
    free(s);
}

static struct seen *find_seen(struct lww_sse *s, const char *device, bool add)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i].device, device) == 0)
            return &s->seen[i];
    if (!add)
        return NULL;
    if (s->nseen == s->capseen) {
        size_t cap = s->capseen ? s->capseen * 2 : 8;
        struct seen *v = realloc(s->seen, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->seen = v;
        s->capseen = cap;
    }
    memset(&s->seen[s->nseen], 0, sizeof(s->seen[0]));
    snprintf(s->seen[s->nseen].device, sizeof(s->seen[0].device), "%s",
             device);
    return &s->seen[s->nseen++];
}

/* Sends a listed device's fix when the stream's caller may see it and it
 * is newer than what the stream showed. */
static int check_row(void *ctx, const struct lw_listing_row *row)
{
    struct lww_sse *s = ctx;
    struct lww *w = s->w;
    const char *device = row->c.device;
    int64_t now = lwrt_wall_ms(), case_id = 0;
    const char *basis = NULL;
    struct seen *x;
    json_t *o;

    if (!lww_listed_may_see(w, &s->who, row, &case_id, &basis))
        return 0;
    x = find_seen(s, device, true);
    if (!x)
        return 0;
    x->visible = true;
    if (!row->has_fix || row->fix.fix_time_ms <= x->fix_ms)
        return 0;
    if (!lww_audit_look(w, &s->who, s->client, "web stream", device, case_id,
                        NULL, basis, NULL, now))
        return 0; /* not recorded: not shown; the next poll tries again */
    x->fix_ms = row->fix.fix_time_ms;
    o = json_pack("{s:s, s:o}", "device", device, "fix",
                  lww_fix_json(&row->fix));
    if (o && case_id)
        json_object_set_new(o, "case_id", json_integer(case_id));
    event(s, "fix", o);
    return 0;
}

/* One poll of one stream: new fixes, ended access. */
static void refresh(struct lww_sse *s, int64_t now)
{
    struct lww *w = s->w;
    size_t visible = 0;

    for (size_t i = 0; i < s->nseen; i++)
        s->seen[i].visible = false;
    /* one joined query per stream (listing.h), as the lists */
    if (s->who.roles & LW_ROLE_OPS) {
        if (lw_listing_watched(w->store, w->cfg.watch_days_past_due,
                               lww_listing_viewer(&s->who), now, check_row,
                               s) != LW_OK)
            return; /* database busy: the next poll tries again */
    } else {
        struct lw_case_filter f = {.agent = s->who.name, .open_only = true,
                                   .now_ms = now};
        if (lw_listing_cases(w->store, &f, lww_listing_viewer(&s->who),
                             check_row, s) != LW_OK)
            return; /* database busy: the next poll tries again */
    }
    for (size_t i = 0; i < s->nseen;) {
        if (s->seen[i].visible) {
            visible++;
            i++;
            continue;
        }
        event(s, "revoked",
              json_pack("{s:s}", "device", s->seen[i].device));
        s->seen[i] = s->seen[--s->nseen];
    }
    if (!(s->who.roles & LW_ROLE_OPS) && visible == 0) {
        event(s, "end", json_pack("{s:s}", "reason",
                                  "no vehicle of yours to see any more"));
        s->ended = true;
    }
}

struct alert_push {
    struct lww *w;
    int64_t now;
    int64_t newest;
};

static int alert_cb(void *ctx, const struct lw_alert_row *a)
{
    struct alert_push *ap = ctx;
    char t[32];

    if (a->id > ap->newest)
        ap->newest = a->id;
    if (a->id <= ap->w->last_alert_id)
        return 0;
    for (struct lww_sse *s = ap->w->streams; s; s = s->next) {
        int64_t case_id;
        const char *basis;
        if (s->ended ||
            !lww_may_see(ap->w, &s->who, a->a.device, ap->now, &case_id,
                         &basis))
            continue;
        snprintf(t, sizeof(t), "%s", lw_alert_kind_name(a->a.kind));
        event(s, "alert",
              json_pack("{s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)a->id,
                        "kind", t, "device", a->a.device, "state",
                        lw_alert_state_name(a->state), "raised_at",
                        lww_time_json(a->a.raised_ms)));
    }
    return 0;
}

void lww_sse_poll(struct lww *w)
{
    int64_t now = lwrt_wall_ms(), dv = 0;
    bool changed;
    bool woke = false;

    if (!w->streams)
        return;
    lw_store_data_version(w->store, &dv);
    changed = dv != w->data_version || w->dirty ||
              now - w->last_refresh_ms >= REFRESH_MS;
    w->data_version = dv;
    w->dirty = false;
    if (changed)
        w->last_refresh_ms = now;
    if (changed) {
        struct alert_push ap = {.w = w, .now = now,
                                .newest = w->last_alert_id};
        struct lw_alert_filter f = {.open_only = true};
        lw_registry_alerts(w->store, &f, alert_cb, &ap);
        w->last_alert_id = ap.newest;
    }
    for (struct lww_sse *s = w->streams; s; s = s->next) {
        if (s->ended)
            continue;
        if (s->who.session &&
            !lw_session_alive(w->sessions, s->who.session, now)) {
            event(s, "end", json_pack("{s:s}", "reason", "session ended"));
            s->ended = true;
        } else if (changed) {
            refresh(s, now);
        }
        if (s->len == 0 && now - s->last_beat_ms >= HEARTBEAT_MS)
            append(s, ": keep-alive\n\n", 14);
        if (s->len || s->ended) {
            s->last_beat_ms = now;
            wake(s);
            woke = true;
        }
    }
    if (woke)
        lww_http_kick(w);
}

/* The newest alert id, so a new stream gets only alerts raised from now. */
static int newest_cb(void *ctx, const struct lw_alert_row *a)
{
    int64_t *n = ctx;

    if (a->id > *n)
        *n = a->id;
    return 0;
}

enum MHD_Result lww_sse_open(struct lww_req *r, const struct lww_who *who)
{
    struct lww *w = r->w;
    struct MHD_Response *resp;
    struct lww_sse *s;
    enum MHD_Result ret;

    if (!(who->roles & (LW_ROLE_AGENT | LW_ROLE_OPS)))
        return lww_reply_error(r, 403, "admin sees no locations");
    s = calloc(1, sizeof(*s));
    if (!s)
        return lww_reply_error(r, 500, "out of memory");
    s->w = w;
    s->conn = r->conn;
    s->who = *who;
    s->last_beat_ms = r->now_ms;
    snprintf(s->client, sizeof(s->client), "%s", r->client);
    if (!w->streams) {
        struct lw_alert_filter f = {.open_only = true};
        lw_store_data_version(w->store, &w->data_version);
        lw_registry_alerts(w->store, &f, newest_cb, &w->last_alert_id);
    }
    append(s, "retry: 3000\n\n", 13);
    event(s, "hello", json_pack("{s:s}", "username", who->name));
    refresh(s, r->now_ms); /* the current positions first */
    if (s->ended && !(who->roles & LW_ROLE_OPS)) {
        /* nothing to see: say so plainly rather than stream nothing */
        free(s->buf);
        free(s->seen);
        free(s);
        return lww_reply_error(r, 404, "no vehicle of yours to follow");
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
                                             reader, s, release);
    if (!resp) {
        free(s->buf);
        free(s->seen);
        free(s);
        return MHD_NO;
    }
    s->next = w->streams;
    w->streams = s;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    /* a stream that ended is not a connection to reuse */
    MHD_add_response_header(resp, "Connection", "close");
    lww_security_headers(w, resp);
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    lwrt_log(LOG_INFO, "%s follows live updates from %s", who->name,
             r->client);
    return ret;
}

void lww_sse_release(struct lww *w)
{
    for (struct lww_sse *s = w->streams; s; s = s->next) {
        s->ended = true;
        wake(s);
    }
    if (w->streams)
        MHD_run(w->mhd);
}
