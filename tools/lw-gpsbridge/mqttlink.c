/*
 * mqttlink.c - libmosquitto on the bridge's libev loop, publishing the spool.
 *
 * No library thread: an ev_io reads mosquitto_socket(), a second ev_io runs
 * only while mosquitto_want_write(), and the 1 s tick calls
 * mosquitto_loop_misc (keep-alive). The connection is opened with
 * mosquitto_connect_async and re-opened with exponential back-off (1 s
 * doubling to 60 s, with jitter) after any failure.
 *
 * The spool is the only queue. A fix is committed there first, then handed
 * to the library at QoS 1 in spool-id order, at most max_inflight at a
 * time; the PUBACK (on_publish) deletes its row, by the mid -> row id map.
 * When the connection drops, the mosquitto handle is destroyed with
 * whatever it still held, so the library never resends on its own; the
 * next session starts again from the oldest row in the spool. The broker
 * therefore receives the fixes in the order they were taken, new fixes
 * behind the backlog; a fix that reached the broker but whose PUBACK was
 * lost is sent again (at-least-once; the daemon ignores duplicates).
 */
#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "bridge.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* CONNACK must arrive within this after the connection attempt. */
#define CONNECT_TIMEOUT_MS 30000

/* One message handed to the library, waiting for its PUBACK. */
struct inflight {
    int mid;    /* MQTT message id */
    int64_t id; /* spool row id */
};

struct gb_mqttlink {
    struct ev_loop *loop;          /* borrowed */
    const struct gb_settings *cfg; /* borrowed */
    struct gb_spool *spool;        /* borrowed */
    struct mosquitto *mosq;        /* current session, NULL between them */
    int fd;                        /* socket watched by rio/wio, or -1 */
    ev_io rio;                     /* socket readable */
    ev_io wio;                     /* socket writable, only when wanted */
    ev_timer retry;                /* next connection attempt */
    bool connected;                /* CONNACK accepted */
    bool dead;                     /* the session failed; tear it down */
    int64_t connect_mono;          /* when the attempt began */
    int64_t backoff_ms;            /* delay before the next attempt */
    int failures;                  /* consecutive failed attempts */
    char client_id[GB_STR_MAX];    /* MQTT client id */
    char password[GB_STR_MAX];     /* read from mqtt_password_file */
    struct inflight *inflight;     /* max_inflight slots */
    int n_inflight;                /* used slots */
    int64_t cursor;                /* highest row id handed over */
    struct gb_spooled *batch;      /* buffer for gb_spool_next */
    uint64_t published;            /* handed to the library */
    uint64_t acked;                /* PUBACKs received */
};

static void schedule_retry(struct gb_mqttlink *m);
static void pump(struct gb_mqttlink *m);

/* Starts or stops the write watcher as the library needs. */
static void update_write(struct gb_mqttlink *m)
{
    bool want = m->mosq && m->fd >= 0 && mosquitto_want_write(m->mosq);

    if (want && !ev_is_active(&m->wio))
        ev_io_start(m->loop, &m->wio);
    else if (!want && ev_is_active(&m->wio))
        ev_io_stop(m->loop, &m->wio);
}

static const char *rc_text(int rc, int saved_errno, char *buf, size_t len)
{
    if (rc == MOSQ_ERR_ERRNO)
        snprintf(buf, len, "%s", strerror(saved_errno));
    else if (rc == MOSQ_ERR_TLS)
        snprintf(buf, len,
                 "%s: is the broker's certificate signed by a CA "
                 "in mqtt_cafile/mqtt_capath, for this host name?",
                 mosquitto_strerror(rc));
    else
        snprintf(buf, len, "%s", mosquitto_strerror(rc));
    return buf;
}

/* Ends the session: watchers off, handle and in-flight map dropped. */
static void end_session(struct gb_mqttlink *m, const char *why)
{
    bool was_connected = m->connected;

    if (m->fd >= 0) {
        ev_io_stop(m->loop, &m->rio);
        ev_io_stop(m->loop, &m->wio);
        m->fd = -1;
    }
    if (m->mosq) {
        mosquitto_destroy(m->mosq);
        m->mosq = NULL;
    }
    m->connected = false;
    m->dead = false;
    m->n_inflight = 0;
    if (was_connected) {
        gb_log(GB_WARNING,
               "mqtt %s:%d: connection lost (%s); %" PRId64
               " fixes wait in the spool",
               m->cfg->mqtt_host, m->cfg->mqtt_port, why,
               gb_spool_count(m->spool));
        m->failures = 1;
        m->backoff_ms = BACKOFF_MIN_MS;
    } else if (m->failures++ == 0) {
        gb_log(GB_WARNING, "mqtt %s:%d: cannot connect (%s)", m->cfg->mqtt_host,
               m->cfg->mqtt_port, why);
    } else {
        gb_log(GB_DEBUG, "mqtt %s:%d: cannot connect (%s)", m->cfg->mqtt_host,
               m->cfg->mqtt_port, why);
    }
    schedule_retry(m);
}

/* After each call into the library: react to a failed session, keep the
 * write watcher in step. */
static void after_call(struct gb_mqttlink *m, int rc, int saved_errno)
{
    char buf[256];

    if (!m->mosq)
        return;
    if (rc != MOSQ_ERR_SUCCESS || m->dead ||
        mosquitto_socket(m->mosq) != m->fd) {
        if (rc == MOSQ_ERR_SUCCESS)
            snprintf(buf, sizeof buf, "closed");
        else
            rc_text(rc, saved_errno, buf, sizeof buf);
        end_session(m, buf);
        return;
    }
    update_write(m);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gb_mqttlink *m = w->data;
    int rc;

    (void)loop;
    (void)revents;
    errno = 0;
    rc = mosquitto_loop_read(m->mosq, 1);
    after_call(m, rc, errno);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    struct gb_mqttlink *m = w->data;
    int rc;

    (void)loop;
    (void)revents;
    if (!m->connected) {
        /* While connecting (TCP, then TLS), the library advances the
         * handshake from its read path; let it look first. */
        errno = 0;
        rc = mosquitto_loop_read(m->mosq, 1);
        after_call(m, rc, errno);
        if (!m->mosq || !ev_is_active(&m->wio))
            return;
    }
    errno = 0;
    rc = mosquitto_loop_write(m->mosq, 1);
    after_call(m, rc, errno);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct gb_mqttlink *m = obj;

    (void)mosq;
    if (rc != 0) {
        gb_log(GB_ERR, "mqtt %s:%d: connection refused: %s", m->cfg->mqtt_host,
               m->cfg->mqtt_port, mosquitto_connack_string(rc));
        m->dead = true;
        return;
    }
    gb_log(GB_NOTICE,
           "mqtt %s:%d: connected as %s; %" PRId64 " fixes in the spool",
           m->cfg->mqtt_host, m->cfg->mqtt_port, m->client_id,
           gb_spool_count(m->spool));
    m->connected = true;
    m->failures = 0;
    m->backoff_ms = BACKOFF_MIN_MS;
    m->cursor = 0; /* every row still in the spool is unacknowledged */
    pump(m);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct gb_mqttlink *m = obj;

    (void)mosq;
    (void)rc;
    m->dead = true;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct gb_mqttlink *m = obj;
    char err[256];

    (void)mosq;
    for (int i = 0; i < m->n_inflight; i++) {
        if (m->inflight[i].mid != mid)
            continue;
        if (gb_spool_remove(m->spool, m->inflight[i].id, err, sizeof err) !=
            LW_OK)
            gb_log(GB_ERR, "%s (the fix will be sent again)", err);
        m->acked++;
        m->inflight[i] = m->inflight[--m->n_inflight];
        pump(m);
        return;
    }
    gb_log(GB_DEBUG, "mqtt: PUBACK for unknown mid %d", mid);
}

static void on_log(struct mosquitto *mosq, void *obj, int level,
                   const char *str)
{
    (void)mosq;
    (void)obj;
    (void)level;
    gb_log(GB_DEBUG, "libmosquitto: %s", str);
}

/* Hands spooled fixes to the library, oldest first, up to max_inflight. */
static void pump(struct gb_mqttlink *m)
{
    char err[256];
    int want, got, rc;

    while (m->connected && !m->dead && m->n_inflight < m->cfg->max_inflight) {
        want = m->cfg->max_inflight - m->n_inflight;
        got =
            gb_spool_next(m->spool, m->cursor, m->batch, want, err, sizeof err);
        if (got < 0) {
            gb_log(GB_ERR, "%s", err);
            return;
        }
        if (got == 0)
            return;
        for (int i = 0; i < got; i++) {
            const struct gb_spooled *f = &m->batch[i];
            int mid = 0;

            rc = mosquitto_publish(m->mosq, &mid, f->topic,
                                   (int)strlen(f->payload), f->payload, 1,
                                   false);
            if (rc != MOSQ_ERR_SUCCESS) {
                /* the session is failing; on reconnect the spool is read
                 * again from its oldest row */
                gb_log(GB_DEBUG, "mqtt: publish: %s", mosquitto_strerror(rc));
                m->dead = true;
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

/*
 * Reads the first line of the password file into m->password; warns when
 * others can read it. With mqtt_username set and no mqtt_password_file,
 * systemd's credential "mqtt-password" is used when there is one. An empty
 * password means none.
 */
static bool read_password(struct gb_mqttlink *m)
{
    const char *path = m->cfg->mqtt_password_file;
    const char *creds = getenv("CREDENTIALS_DIRECTORY");
    char cred_path[GB_PATH_MAX];
    struct stat st;
    FILE *f;
    size_t n;

    m->password[0] = '\0';
    if (!*path) {
        if (!*m->cfg->mqtt_username || !creds)
            return true;
        snprintf(cred_path, sizeof cred_path, "%s/mqtt-password", creds);
        if (access(cred_path, F_OK) != 0)
            return true;
        path = cred_path;
    }
    f = fopen(path, "re");
    if (!f) {
        gb_log(GB_ERR, "mqtt_password_file %s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
        gb_log(GB_WARNING,
               "mqtt_password_file %s: readable by group or "
               "others (chmod 600 it)",
               path);
    if (!fgets(m->password, sizeof m->password, f))
        m->password[0] = '\0';
    fclose(f);
    n = strcspn(m->password, "\r\n");
    m->password[n] = '\0';
    return true;
}

static const char *opt_or_null(const char *s)
{
    return *s ? s : NULL;
}

/* Creates a handle with every option; NULL on failure (logged). */
static struct mosquitto *new_handle(struct gb_mqttlink *m)
{
    const struct gb_settings *s = m->cfg;
    struct mosquitto *mosq;
    int rc;

    mosq = mosquitto_new(m->client_id, true, m);
    if (!mosq) {
        gb_log(GB_ERR, "mqtt: mosquitto_new: %s", strerror(errno));
        return NULL;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, s->max_inflight);
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_disconnect_callback_set(mosq, on_disconnect);
    mosquitto_publish_callback_set(mosq, on_publish);
    if (gb_log_get_level() >= GB_DEBUG)
        mosquitto_log_callback_set(mosq, on_log);
    if (*s->mqtt_username) {
        rc = mosquitto_username_pw_set(mosq, s->mqtt_username,
                                       *m->password ? m->password : NULL);
        if (rc != MOSQ_ERR_SUCCESS)
            goto fail;
    }
    if (*s->mqtt_cafile || *s->mqtt_capath) {
        rc = mosquitto_tls_set(
            mosq, opt_or_null(s->mqtt_cafile), opt_or_null(s->mqtt_capath),
            opt_or_null(s->mqtt_certfile), opt_or_null(s->mqtt_keyfile), NULL);
        if (rc != MOSQ_ERR_SUCCESS)
            goto fail;
        if (s->mqtt_tls_insecure)
            mosquitto_tls_insecure_set(mosq, true);
    }
    return mosq;
fail:
    gb_log(GB_ERR, "mqtt: setting up the client: %s",
           rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    mosquitto_destroy(mosq);
    return NULL;
}

static void try_connect(struct gb_mqttlink *m)
{
    char buf[256];
    int rc, keepalive_s = (int)(m->cfg->mqtt_keepalive_ms / 1000);

    m->mosq = new_handle(m);
    if (!m->mosq) {
        schedule_retry(m);
        return;
    }
    m->connect_mono = gb_mono_ms();
    errno = 0;
    rc = mosquitto_connect_async(m->mosq, m->cfg->mqtt_host, m->cfg->mqtt_port,
                                 keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
        end_session(m, rc_text(rc, errno, buf, sizeof buf));
        return;
    }
    m->fd = mosquitto_socket(m->mosq);
    if (m->fd < 0) {
        end_session(m, "no socket");
        return;
    }
    ev_io_set(&m->rio, m->fd, EV_READ);
    ev_io_set(&m->wio, m->fd, EV_WRITE);
    ev_io_start(m->loop, &m->rio);
    update_write(m);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    try_connect(w->data);
}

static void schedule_retry(struct gb_mqttlink *m)
{
    int64_t delay = m->backoff_ms;

    delay += (int64_t)(delay * ((double)random() / RAND_MAX - 0.5) * 0.4);
    ev_timer_set(&m->retry, (double)delay / 1000.0, 0.0);
    ev_timer_start(m->loop, &m->retry);
    gb_log(m->failures > 1 ? GB_DEBUG : GB_INFO,
           "mqtt: next connection attempt in %.1f s", (double)delay / 1000.0);
    m->backoff_ms *= 2;
    if (m->backoff_ms > BACKOFF_MAX_MS)
        m->backoff_ms = BACKOFF_MAX_MS;
}

struct gb_mqttlink *gb_mqttlink_new(struct ev_loop *loop,
                                    const struct gb_settings *s,
                                    struct gb_spool *spool)
{
    struct gb_mqttlink *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->loop = loop;
    m->cfg = s;
    m->spool = spool;
    m->fd = -1;
    m->backoff_ms = BACKOFF_MIN_MS;
    m->inflight = calloc((size_t)s->max_inflight, sizeof *m->inflight);
    m->batch = calloc((size_t)s->max_inflight, sizeof *m->batch);
    if (!m->inflight || !m->batch)
        goto fail;
    if (*s->mqtt_client_id)
        snprintf(m->client_id, sizeof m->client_id, "%s", s->mqtt_client_id);
    else
        snprintf(m->client_id, sizeof m->client_id, "%s-%s", GB_PROG,
                 s->device);
    if (!read_password(m))
        goto fail;
    ev_io_init(&m->rio, on_readable, -1, EV_READ);
    ev_io_init(&m->wio, on_writable, -1, EV_WRITE);
    ev_timer_init(&m->retry, on_retry, 0.0, 0.0);
    m->rio.data = m->wio.data = m->retry.data = m;
    try_connect(m);
    return m;
fail:
    free(m->inflight);
    free(m->batch);
    free(m);
    return NULL;
}

void gb_mqttlink_kick(struct gb_mqttlink *m)
{
    if (!m->connected)
        return;
    pump(m);
    after_call(m, MOSQ_ERR_SUCCESS, 0);
}

void gb_mqttlink_tick(struct gb_mqttlink *m)
{
    int rc;

    if (!m->mosq)
        return;
    if (!m->connected && gb_mono_ms() - m->connect_mono > CONNECT_TIMEOUT_MS) {
        end_session(m, "no answer from the broker");
        return;
    }
    errno = 0;
    rc = mosquitto_loop_misc(m->mosq);
    after_call(m, rc, errno);
}

bool gb_mqttlink_connected(const struct gb_mqttlink *m)
{
    return m->connected;
}

uint64_t gb_mqttlink_acked(const struct gb_mqttlink *m)
{
    return m->acked;
}

void gb_mqttlink_free(struct gb_mqttlink *m)
{
    if (!m)
        return;
    ev_timer_stop(m->loop, &m->retry);
    if (m->fd >= 0) {
        ev_io_stop(m->loop, &m->rio);
        ev_io_stop(m->loop, &m->wio);
    }
    if (m->mosq) {
        if (m->connected)
            mosquitto_disconnect(m->mosq);
        mosquitto_destroy(m->mosq);
    }
    gb_log(GB_INFO, "mqtt: %llu fixes published, %llu acknowledged",
           (unsigned long long)m->published, (unsigned long long)m->acked);
    memset(m->password, 0, sizeof m->password);
    free(m->inflight);
    free(m->batch);
    free(m);
}
