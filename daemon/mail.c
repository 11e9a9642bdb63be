/*
 * mail.c - see mail.h. The loop side (tick, dispatch, finish, events) and
 * the worker side (perform) meet only in struct lwd_mail's todo/done slots
 * under its mutex; the worker touches no database, logs nothing and reads
 * no setting except through the job, which carries copies of them.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lienwatch/alertjson.h"
#include "lienwatch/mime.h"
#include "lienwatch/outbox.h"
#include "lienwatch/timeutil.h"
#include "mail.h"
#include "runtime/clock.h"
#include "runtime/log.h"
#include "runtime/secret.h"

/* Seconds between ticks (new mail is seen within this). */
#define TICK_S 1.0
/* Longest topic we build. */
#define TOPIC_MAX (LW_CONFIG_STR_MAX + 16)
/* Expired rows failed per tick at most (the rest on the next). */
#define EXPIRE_BURST 100
/* Failure events published per tick at most. */
#define NOTIFY_BURST 100
/* Room for one error sentence. */
#define ERR_LEN (CURL_ERROR_SIZE + 256 + 16)
/* SMTP reply classes. */
#define SMTP_TEMP_MIN 400
#define SMTP_PERM_MIN 500
#define SMTP_PERM_END 600
/* "421 Service not available, closing transmission channel". */
#define SMTP_SERVICE_CLOSING 421

/* Room for the SMTP conversation kept for the debug log. */
#define TRANSCRIPT_LEN 8192

/* One send. The loop fills the first part and hands it to the worker; the
 * worker fills the second and hands it back. Never shared at once. */
struct mail_xfer {
    /* the mail (from the outbox row) */
    char *data;                           /* the message (owned) */
    size_t len, off;                      /* its length, bytes read */
    int64_t id;                           /* outbox row */
    int64_t alert_id;                     /* its (first) alert */
    bool digest;                          /* a digest */
    int nalerts;                          /* alerts in it */
    int attempts;                         /* tries before this one */
    char kind[LW_OUTBOX_KIND_LEN];        /* alert kind */
    char device[LW_DEVICE_MAX + 1];       /* "" for a digest */
    char recipient[LW_MIME_ADDR_MAX + 1]; /* the one recipient */
    char message_id[256];                 /* for the log */
    /* the settings of this send (copies: SIGHUP may change them) */
    char url[LW_CONFIG_STR_MAX + 1];      /* smtp:// or smtps:// */
    char cafile[LW_CONFIG_STR_MAX + 1];   /* "" = system CAs */
    char username[LW_CONFIG_STR_MAX + 1]; /* "" = no AUTH */
    char password[MAIL_PASSWORD_MAX];     /* with username */
    char from[LW_MIME_ADDR_MAX + 3];      /* "<addr>" */
    bool starttls;                        /* CURLUSESSL_ALL */
    long timeout_s;                       /* smtp.timeout_s */
    bool debug;                           /* keep the conversation */
    struct lwd_mail *m;                   /* for the abort flag */
    /* what happened (worker) */
    bool performed;                  /* the worker took it */
    CURLcode res;                    /* libcurl's result */
    long code;                       /* last SMTP reply code */
    char errbuf[CURL_ERROR_SIZE];    /* libcurl's detail */
    char reply[256];                 /* the server's last refusal */
    char transcript[TRANSCRIPT_LEN]; /* debug: replies and notes */
    size_t tlen;                     /* used of transcript */
};

/* "alert #42 offline of alice/car" or "digest of 280 offline alerts". */
static void describe(const struct mail_xfer *x, char *buf, size_t len)
{
    if (x->digest)
        snprintf(buf, len, "digest of %d %s alerts (first #%" PRId64 ")",
                 x->nalerts, x->kind, x->alert_id);
    else
        snprintf(buf, len, "alert #%" PRId64 " %s of %s", x->alert_id, x->kind,
                 x->device);
}

/* ---- credentials ----------------------------------------------------- */

/* Reads the settings that need the file system; sets m->ready. */
static void load_credentials(struct lwd_mail *m)
{
    const struct lw_config *c = m->cfg;
    char err[LW_CONFIG_STR_MAX + 256];

    memset(m->password, 0, sizeof(m->password));
    m->ready = false;
    if (!c->smtp_url[0])
        return;
    if (c->smtp_username[0]) {
        /* smtp.password_file, else the systemd credential smtp-password */
        if (lwrt_secret_read("mail: password file", c->smtp_password_file,
                             "smtp-password", m->password, sizeof(m->password),
                             NULL, 0, err, sizeof(err)) == LWRT_SECRET_ERROR) {
            lwrt_log(LOG_ERR, "%s", err);
            goto out_not_ready;
        }
        if (!m->password[0]) {
            lwrt_log(LOG_ERR,
                     "mail: smtp.username is set but there is no password "
                     "(smtp.password_file or the credential smtp-password)");
            goto out_not_ready;
        }
    }
    m->ready = true;
    return;
out_not_ready:
    lwrt_log(LOG_ERR,
             "mail: not sending until the configuration is fixed (SIGHUP); "
             "alert mail stays queued");
}

/* ---- the worker (no database, no log, no struct lwd_mail but its flags) ----
 */

/* Keeps the server's last refusal (4xx, 5xx: its text explains it) and, at
 * debug level, the conversation: replies and libcurl's notes, never what
 * we send (AUTH carries the password). */
static int debug_cb(CURL *easy, curl_infotype type, char *data, size_t size,
                    void *userp)
{
    struct mail_xfer *x = userp;
    int n;

    (void)easy;
    if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN)
        return 0;
    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
        size--;
    if (type == CURLINFO_HEADER_IN && size > 0 &&
        (data[0] == '4' || data[0] == '5'))
        snprintf(x->reply, sizeof(x->reply), "%.*s", (int)size, data);
    if (x->debug && x->tlen < sizeof(x->transcript)) {
        n = snprintf(x->transcript + x->tlen, sizeof(x->transcript) - x->tlen,
                     "%s%s %.*s", x->tlen ? "\n" : "",
                     type == CURLINFO_TEXT ? "*" : "<", (int)size, data);
        if (n > 0)
            x->tlen += (size_t)n;
    }
    return 0;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    struct mail_xfer *x = userp;
    size_t room = size * nitems, n = x->len - x->off;

    if (n > room)
        n = room;
    memcpy(buf, x->data + x->off, n);
    x->off += n;
    return n;
}

/* Called by libcurl about once a second, also while it waits for a reply
 * and for the reply to QUIT when it closes the connection: non-zero aborts
 * (the daemon is stopping). userp is the struct lwd_mail. */
static int progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct lwd_mail *m = userp;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&m->abort) ? 1 : 0;
}

/* One SMTP transaction on handle e (reset first; its connection is kept). */
static void perform(CURL *e, struct mail_xfer *x)
{
    char to[LW_MIME_ADDR_MAX + 3];
    struct curl_slist *rcpt;

    snprintf(to, sizeof(to), "<%s>", x->recipient);
    rcpt = curl_slist_append(NULL, to);

    curl_easy_reset(e);
    if (!rcpt) {
        x->res = CURLE_OUT_OF_MEMORY;
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, x->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     (long)(x->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (x->cafile[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, x->cafile);
    if (x->username[0]) {
        curl_easy_setopt(e, CURLOPT_USERNAME, x->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, x->password);
    }
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, x->from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, x->timeout_s);
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, x->timeout_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, x->timeout_s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x->m);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    x->res = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->code);
    /* x goes back to the loop: nothing of it may stay in the handle */
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(e, CURLOPT_READDATA, NULL);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, NULL);
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, NULL);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);
    /* the progress callback stays: it also cuts the wait for QUIT short
     * when the handle is cleaned up at a stop */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_PASSWORD, "");
    curl_slist_free_all(rcpt);
}

/* The thread: waits for a job, performs it, hands it back, until stop. */
static void *worker_main(void *arg)
{
    struct lwd_mail *m = arg;
    CURL *e = curl_easy_init();

    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct mail_xfer *x;

        while (!m->todo && !m->stop)
            pthread_cond_wait(&m->cv, &m->mu);
        if (m->stop)
            break;
        x = m->todo;
        m->todo = NULL;
        pthread_mutex_unlock(&m->mu);
        x->performed = true;
        if (e)
            perform(e, x);
        else
            x->res = CURLE_FAILED_INIT;
        pthread_mutex_lock(&m->mu);
        m->done = x;
        ev_async_send(m->loop, &m->done_async);
    }
    pthread_mutex_unlock(&m->mu);
    /* closes the kept connection (QUIT; aborted at once when stopping) */
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

static void xfer_free(struct mail_xfer *x)
{
    if (!x)
        return;
    free(x->data);
    memset(x->password, 0, sizeof(x->password));
    free(x);
}

/* ---- events on MQTT
 * ---------------------------------------------------------- */

/* Publishes the delivery_failed event of row r; remembers its mid. */
static void publish_failure(struct lwd_mail *m, const struct lw_outbox_row *r)
{
    char topic[TOPIC_MAX], tbuf[LW_TIME_BUFLEN];
    json_t *o, *ids;
    char *s;
    int mid = 0;

    for (size_t i = 0; i < m->nnotes; i++)
        if (m->notes[i].outbox_id == r->id)
            return; /* already on its way */
    o = json_object();
    ids = json_array();
    if (!o || !ids) {
        json_decref(o);
        json_decref(ids);
        return;
    }
    if (r->digest) {
        for (const char *p = r->alert_ids; *p;) {
            json_array_append_new(ids, json_integer(strtoll(p, NULL, 10)));
            p = strchr(p, ',');
            if (!p)
                break;
            p++;
        }
    } else {
        json_array_append_new(ids, json_integer(r->alert_id));
    }
    json_object_set_new(o, "kind", json_string("delivery_failed"));
    json_object_set_new(o, "outbox_id", json_integer(r->id));
    json_object_set_new(o, "message_id", json_string(r->message_id));
    json_object_set_new(o, "recipient", json_string(r->recipient));
    json_object_set_new(o, "alert_kind", json_string(r->kind));
    json_object_set_new(o, "digest", json_boolean(r->digest));
    json_object_set_new(o, "alert_ids", ids);
    json_object_set_new(o, "device", lw_json_str_or_null(r->device));
    json_object_set_new(o, "subject", json_string(r->subject));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "error", json_string(r->last_error));
    json_object_set_new(
        o, "created_at",
        json_string(lw_time_format(r->created_ms, tbuf, sizeof(tbuf))));
    json_object_set_new(
        o, "failed_at",
        json_string(lw_time_format(r->failed_ms, tbuf, sizeof(tbuf))));
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    snprintf(topic, sizeof(topic), "%s/mail", m->cfg->topic_prefix);
    if (lwd_mqtt_publish(m->link, topic, s, strlen(s), 1, false, &mid) == 0) {
        if (m->nnotes == 0)
            m->notes_connects = m->link->connects;
        if (m->nnotes == m->capnotes) {
            size_t ncap = m->capnotes ? m->capnotes * 2 : 16;
            struct mail_note *n = realloc(m->notes, ncap * sizeof(*n));
            if (n) {
                m->notes = n;
                m->capnotes = ncap;
            }
        }
        if (m->nnotes < m->capnotes)
            m->notes[m->nnotes++] = (struct mail_note){mid, r->id};
    }
    free(s);
}

static int notify_one(void *ctx, const struct lw_outbox_row *r)
{
    publish_failure(ctx, r);
    return 0;
}

/* Publishes the events of failed rows the broker has not acknowledged. */
static void notify_failures(struct lwd_mail *m)
{
    struct lw_outbox_filter f = {.unnotified_failed = true,
                                 .limit = NOTIFY_BURST};

    if (!m->link || !m->link->connected)
        return;
    if (m->notes_connects != m->link->connects) {
        /* message ids of an old connection mean nothing now */
        m->nnotes = 0;
        m->notes_connects = m->link->connects;
    }
    if (lw_outbox_list(m->store, &f, notify_one, m) != LW_OK)
        lwrt_log(LOG_ERR, "mail: cannot read failed mail: %s",
                 lw_store_errmsg(m->store));
}

void lwd_mail_published(struct lwd_mail *m, int mid)
{
    for (size_t i = 0; i < m->nnotes; i++) {
        if (m->notes[i].mid != mid)
            continue;
        if (lw_outbox_mark_notified(m->store, m->notes[i].outbox_id) != LW_OK)
            lwrt_log(LOG_WARNING,
                     "mail: cannot mark failure %" PRId64 " as published: %s",
                     m->notes[i].outbox_id, lw_store_errmsg(m->store));
        m->notes[i] = m->notes[--m->nnotes];
        return;
    }
}

/* Logs the final failure of row id and publishes its event. */
static int report_failed(void *ctx, const struct lw_outbox_row *r)
{
    struct lwd_mail *m = ctx;

    m->failed++;
    lwrt_log(LOG_ERR,
             "mail: FAILED for good: %s to %s, %s%s #%" PRId64 " (%s), after "
             "%d attempt%s: %s; kept as failed in the outbox, "
             "delivery_failed published on %s/mail",
             r->message_id, r->recipient, r->digest ? "digest of " : "alert",
             r->digest ? r->kind : "", r->alert_id,
             r->device[0] ? r->device : r->kind, r->attempts,
             r->attempts == 1 ? "" : "s", r->last_error, m->cfg->topic_prefix);
    publish_failure(m, r);
    return 0;
}

static void failed_now(struct lwd_mail *m, int64_t id)
{
    if (lw_outbox_get(m->store, id, report_failed, m) != LW_OK)
        lwrt_log(LOG_ERR, "mail: cannot read failed mail %" PRId64 ": %s", id,
                 lw_store_errmsg(m->store));
}

/* ---- sending ------------------------------------------------------------- */

static void dispatch(struct lwd_mail *m);

/* Logs what libcurl and the server said (debug level). */
static void log_transcript(const struct mail_xfer *x)
{
    const char *p = x->transcript;

    while (x->debug && *p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        lwrt_log(LOG_DEBUG, "mail: curl %.*s", n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* A send ended: update the row, log, report. */
static void finish(struct lwd_mail *m, struct mail_xfer *x)
{
    int64_t now = lwrt_wall_ms();
    char what[LW_DEVICE_MAX + 128], err[ERR_LEN], when[LW_TIME_BUFLEN];
    enum lw_outbox_state st = LW_OUTBOX_PENDING;
    struct lw_outbox_opts opts;
    int64_t next = 0;
    bool permanent, conn_level;
    enum lw_err e;

    log_transcript(x);
    describe(x, what, sizeof(what));
    if (x->res == CURLE_OK) {
        m->conn_failures = 0;
        m->server_retry_ms = 0;
        m->sent++;
        e = lw_outbox_mark_sent(m->store, x->id, now);
        if (e != LW_OK)
            lwrt_log(LOG_ERR,
                     "mail: %s sent to %s but not marked (%s): it will be "
                     "sent again, with the same Message-ID",
                     what, x->recipient, lw_store_errmsg(m->store));
        lwrt_log(LOG_INFO, "mail: sent %s to %s (%s)", what, x->recipient,
                 x->message_id);
        return;
    }
    /* the server's own words when it refused, and libcurl's sentence */
    if (x->reply[0])
        snprintf(err, sizeof(err), "%s (%s)", x->reply,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->res));
    else
        snprintf(err, sizeof(err), "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->res));
    /* a 5xx to our mail or recipient is final; a refused login is our
     * configuration (fixed with SIGHUP), so it is retried like a dead
     * server rather than failing every mail */
    permanent = x->res != CURLE_LOGIN_DENIED && x->code >= SMTP_PERM_MIN &&
                x->code < SMTP_PERM_END;
    /* no answer, a refused login or 421 (service closing): the server as
     * a whole is unusable for now, so do not try the next row at once */
    conn_level = !permanent &&
                 (x->res == CURLE_LOGIN_DENIED || x->code < SMTP_TEMP_MIN ||
                  x->code >= SMTP_PERM_END || x->code == SMTP_SERVICE_CLOSING);
    if (permanent) {
        e = lw_outbox_mark_failed(m->store, x->id, now, true, err);
        if (e == LW_OK)
            failed_now(m, x->id);
        else
            lwrt_log(LOG_ERR, "mail: %s to %s refused (%s) but not marked: %s",
                     what, x->recipient, err, lw_store_errmsg(m->store));
        return;
    }
    lw_outbox_opts_from_config(&opts, m->cfg);
    e = lw_outbox_mark_retry(m->store, &opts, x->id, now, err, &st, &next);
    if (e != LW_OK) {
        lwrt_log(LOG_ERR,
                 "mail: %s to %s failed (%s) and cannot be rescheduled: %s",
                 what, x->recipient, err, lw_store_errmsg(m->store));
    } else if (st == LW_OUTBOX_FAILED) {
        failed_now(m, x->id);
    } else {
        m->retried++;
        lwrt_log(LOG_WARNING,
                 "mail: %s to %s not sent (attempt %d): %s; next try at %s",
                 what, x->recipient, x->attempts + 1, err,
                 lw_time_format(next, when, sizeof(when)));
    }
    if (!conn_level)
        return;
    m->conn_failures++;
    m->server_retry_ms = now + lw_outbox_backoff_ms(&opts, m->conn_failures);
    if (x->res == CURLE_USE_SSL_FAILED)
        lwrt_log(LOG_ERR,
                 "mail: %s does not offer STARTTLS; smtp.starttls = required "
                 "refuses to send in clear (set 'no' only for a relay on "
                 "this machine)",
                 x->url);
    else if (x->res == CURLE_PEER_FAILED_VERIFICATION)
        lwrt_log(LOG_ERR,
                 "mail: the certificate of %s is not trusted%s%s or is not "
                 "for that host name",
                 x->url, x->cafile[0] ? " by CA file " : "", x->cafile);
    else if (x->res == CURLE_LOGIN_DENIED)
        lwrt_log(LOG_ERR,
                 "mail: %s refused the login of '%s': check smtp.username "
                 "and the password",
                 x->url, x->username);
}

/* ev_async: the worker handed a job back. */
static void done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct lwd_mail *m = w->data;
    struct mail_xfer *x;

    (void)loop;
    (void)revents;
    pthread_mutex_lock(&m->mu);
    x = m->done;
    m->done = NULL;
    pthread_mutex_unlock(&m->mu);
    if (!x)
        return;
    if (x == m->inflight)
        m->inflight = NULL;
    finish(m, x);
    xfer_free(x);
    dispatch(m);
}

/* Copies a due row into a new job (ctx: struct mail_xfer **). */
static int take_row(void *ctx, const struct lw_outbox_row *r)
{
    struct mail_xfer **out = ctx;
    struct mail_xfer *x = calloc(1, sizeof(*x));

    if (x)
        x->data = strdup(r->message);
    if (!x || !x->data) {
        free(x);
        return 1;
    }
    x->len = strlen(x->data);
    x->id = r->id;
    x->alert_id = r->alert_id;
    x->digest = r->digest;
    x->nalerts = r->nalerts;
    x->attempts = r->attempts;
    snprintf(x->kind, sizeof(x->kind), "%s", r->kind);
    snprintf(x->device, sizeof(x->device), "%s", r->device);
    snprintf(x->recipient, sizeof(x->recipient), "%s", r->recipient);
    snprintf(x->message_id, sizeof(x->message_id), "%s", r->message_id);
    *out = x;
    return 1;
}

/* Adds the settings of this send to x and hands it to the worker. */
static void start_job(struct lwd_mail *m, struct mail_xfer *x)
{
    const struct lw_config *c = m->cfg;
    char addr[LW_MIME_ADDR_MAX + 1];

    if (lw_mime_addr_spec(c->smtp_from, addr, sizeof(addr)) != LW_OK) {
        lwrt_log(LOG_ERR, "mail: smtp.from '%s' is not an address",
                 c->smtp_from);
        xfer_free(x);
        return;
    }
    snprintf(x->from, sizeof(x->from), "<%s>", addr);
    snprintf(x->url, sizeof(x->url), "%s", c->smtp_url);
    snprintf(x->cafile, sizeof(x->cafile), "%s", c->smtp_cafile);
    snprintf(x->username, sizeof(x->username), "%s", c->smtp_username);
    memcpy(x->password, m->password, sizeof(x->password));
    x->starttls = strcmp(c->smtp_starttls, "no") != 0;
    x->timeout_s = c->smtp_timeout_s;
    x->debug = lwrt_log_enabled(LOG_DEBUG);
    x->m = m;
    m->inflight = x;
    pthread_mutex_lock(&m->mu);
    m->todo = x;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* cb: is the due row too old? */
struct due_check {
    struct lwd_mail *m; /* the dispatcher */
    int64_t now;        /* the time */
    int64_t id;         /* the row */
    bool expired;       /* older than max_age */
};

static int check_age(void *ctx, const struct lw_outbox_row *r)
{
    struct due_check *dc = ctx;
    struct lw_outbox_opts opts;

    lw_outbox_opts_from_config(&opts, dc->m->cfg);
    dc->id = r->id;
    dc->expired = lw_outbox_expired(&opts, r, dc->now);
    return 1;
}

/* Digests, expired rows, and the next send when none is in flight. */
static void dispatch(struct lwd_mail *m)
{
    int64_t now = lwrt_wall_ms();
    struct lw_outbox_opts opts;
    int made = 0;

    int64_t next_digest = INT64_MAX;

    if (!m->ready || !m->worker_ok || !m->cfg->smtp_url[0])
        return;
    /* digests when they are due, whatever the worker is doing */
    lw_outbox_opts_from_config(&opts, m->cfg);
    opts.places_of = m->places_of;
    opts.places_ctx = m->places_ctx;
    if (lw_outbox_digest_run(m->store, &opts, now, &made, &next_digest) !=
        LW_OK)
        lwrt_log(LOG_ERR, "mail: cannot make storm digests: %s",
                 lw_store_errmsg(m->store));
    else if (made)
        lwrt_log(LOG_WARNING, "mail: alert storm: %d digest%s queued", made,
                 made == 1 ? "" : "s");
    ev_timer_stop(m->loop, &m->digest_timer);
    if (next_digest != INT64_MAX) {
        /* on time to the millisecond, not to the next tick */
        ev_timer_set(
            &m->digest_timer,
            next_digest > now ? (double)(next_digest - now) / 1000.0 : 0., 0.);
        ev_timer_start(m->loop, &m->digest_timer);
    }
    if (m->inflight || now < m->server_retry_ms)
        return;
    for (int i = 0; i < EXPIRE_BURST; i++) {
        struct due_check dc = {m, now, 0, false};
        struct mail_xfer *x = NULL;

        if (lw_outbox_due(m->store, now, 1, check_age, &dc) != LW_OK) {
            lwrt_log(LOG_ERR, "mail: cannot read the outbox: %s",
                     lw_store_errmsg(m->store));
            return;
        }
        if (!dc.id)
            return; /* nothing due */
        if (dc.expired) {
            char err[ERR_LEN], dbuf[48];
            snprintf(err, sizeof(err), "not delivered within max_age (%s)",
                     lw_duration_format(m->cfg->smtp_max_age_ms, dbuf,
                                        sizeof(dbuf)));
            if (lw_outbox_mark_failed(m->store, dc.id, now, false, err) ==
                LW_OK)
                failed_now(m, dc.id);
            continue;
        }
        if (lw_outbox_get(m->store, dc.id, take_row, &x) != LW_OK || !x) {
            lwrt_log(LOG_ERR, "mail: cannot read mail %" PRId64 ": %s", dc.id,
                     x ? lw_store_errmsg(m->store) : "out of memory");
            xfer_free(x);
            return;
        }
        start_job(m, x);
        return;
    }
}

static void digest_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    dispatch(w->data);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwd_mail *m = w->data;

    (void)loop;
    (void)revents;
    dispatch(m);
    notify_failures(m);
}

/* ---- life cycle ---------------------------------------------------------- */

/* Starts the worker with every signal blocked: they are the loop's. */
static int start_worker(struct lwd_mail *m)
{
    sigset_t all, old;
    int rc;

    if (pthread_mutex_init(&m->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&m->cv, NULL) != 0) {
        pthread_mutex_destroy(&m->mu);
        return -1;
    }
    m->sync_ok = true;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&m->worker, NULL, worker_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        lwrt_log(LOG_ERR, "mail: cannot start the SMTP thread: %s",
                 strerror(rc));
        return -1;
    }
    m->worker_ok = true;
    return 0;
}

int lwd_mail_init(struct lwd_mail *m, struct ev_loop *loop,
                  struct lw_store *store, struct lwd_mqtt *link,
                  const struct lw_config *cfg)
{
    int64_t pending = 0, failed = 0, held = 0;
    CURLcode rc;

    memset(m, 0, sizeof(*m));
    m->loop = loop;
    m->store = store;
    m->link = link;
    m->cfg = cfg;
    atomic_init(&m->abort, false);
    ev_timer_init(&m->tick_timer, tick_cb, TICK_S, TICK_S);
    ev_async_init(&m->done_async, done_cb);
    ev_init(&m->digest_timer, digest_cb);
    m->tick_timer.data = m->done_async.data = m->digest_timer.data = m;
    rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        lwrt_log(LOG_ERR, "mail: cannot initialise libcurl: %s",
                 curl_easy_strerror(rc));
        return -1;
    }
    m->curl_ok = true;
    ev_async_start(loop, &m->done_async);
    if (start_worker(m) != 0) {
        lwd_mail_release(m);
        return -1;
    }
    load_credentials(m);
    ev_timer_start(loop, &m->tick_timer);
    lw_outbox_counts(store, &pending, NULL, &failed, &held);
    if (cfg->smtp_url[0])
        lwrt_log(LOG_INFO,
                 "mail: alert e-mail through %s (STARTTLS %s) to %s; "
                 "outbox: %" PRId64 " pending, %" PRId64 " failed, %" PRId64
                 " alerts held for a digest",
                 cfg->smtp_url, cfg->smtp_starttls, cfg->smtp_to, pending,
                 failed, held);
    else if (pending || held)
        lwrt_log(LOG_WARNING,
                 "mail: smtp.url is empty: %" PRId64
                 " queued mails and %" PRId64
                 " held alerts wait until it is set",
                 pending, held);
    return 0;
}

void lwd_mail_release(struct lwd_mail *m)
{
    struct mail_xfer *x = NULL;

    if (m->loop) {
        ev_timer_stop(m->loop, &m->tick_timer);
        ev_timer_stop(m->loop, &m->digest_timer);
        ev_async_stop(m->loop, &m->done_async);
    }
    if (m->worker_ok) {
        /* abort what is in flight (libcurl asks within a second) */
        atomic_store(&m->abort, true);
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->worker, NULL);
        m->worker_ok = false;
        x = m->done ? m->done : m->todo; /* done, or never taken */
        m->done = m->todo = NULL;
    }
    if (x) {
        char what[LW_DEVICE_MAX + 128];
        describe(x, what, sizeof(what));
        if (x->performed && x->res == CURLE_OK) {
            finish(m, x); /* accepted before the stop */
        } else {
            lwrt_log(LOG_INFO,
                     "mail: send of %s to %s abandoned at shutdown; it "
                     "stays pending and goes out after the restart (%s)",
                     what, x->recipient, x->message_id);
        }
        xfer_free(x);
    }
    m->inflight = NULL;
    if (m->sync_ok) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        m->sync_ok = false;
    }
    if (m->curl_ok)
        curl_global_cleanup();
    m->curl_ok = false;
    free(m->notes);
    m->notes = NULL;
    m->nnotes = m->capnotes = 0;
    memset(m->password, 0, sizeof(m->password));
    if (m->sent || m->retried || m->failed)
        lwrt_log(LOG_INFO,
                 "mail: sent %" PRIu64 ", retries %" PRIu64 ", failed %" PRIu64
                 " since start",
                 m->sent, m->retried, m->failed);
}

void lwd_mail_reconfigure(struct lwd_mail *m)
{
    bool was = m->ready;

    load_credentials(m);
    m->conn_failures = 0;
    m->server_retry_ms = 0; /* a fixed configuration is tried at once */
    if (m->ready && !was)
        lwrt_log(LOG_INFO, "mail: sending through %s", m->cfg->smtp_url);
}

void lwd_mail_set_places(struct lwd_mail *m,
                         const char *(*places_of)(void *ctx,
                                                  const char *device),
                         void *ctx)
{
    m->places_of = places_of;
    m->places_ctx = ctx;
}
