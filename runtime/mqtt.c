/*
 * runtime/mqtt.c - see mqtt.h.
 *
 * States of a link:
 *   IDLE       created, not started
 *   RESOLVING  the round's name lookup runs
 *   TCP        TCP connect to addrs[cur]: only the write watcher, on our
 *              side (SO_ERROR tells the outcome); libmosquitto is not
 *              called until the socket is connected
 *   HANDSHAKE  TCP up: TLS and CONNECT/CONNACK, libmosquitto drives it
 *   CONNECTED  CONNACK accepted
 *   WAIT       back-off before the next round
 *   STOPPED    shut down
 * One timer (step) serves the back-off, the per-address timeouts, and the
 * hand-over of a disconnection: libmosquitto reports it from inside its own
 * calls (on_disconnect), where connecting again is not safe, so the
 * callback only notes it and the timer acts at once from the loop.
 *
 * libmosquitto's network calls are made only from the callbacks below;
 * after each of them the write watcher is re-armed from
 * mosquitto_want_write() so queued packets go out.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <mosquitto.h>

#include "runtime/log.h"
#include "runtime/mqtt.h"
#include "runtime/resolve.h"
#include "runtime/secret.h"
#include "runtime/tls.h"

/* Most mosquitto_loop_read calls per readable event before returning to
 * the loop; the watcher is level-triggered, so leftovers are read on the
 * next iteration. */
#define READ_BURST 1000
/* Seconds between mosquitto_loop_misc calls (keep-alive and retries). */
#define MISC_INTERVAL_S 1.0
/* Room for one problem sentence, and for a round's list of them. */
#define ERR_MAX 512
#define SUMMARY_MAX 1024
/* Back-off jitter: +-20 %. */
#define JITTER 0.4
/* Bounds of the TCP port. */
#define PORT_MAX 65535
/*
 * While reading is paused the link keeps itself alive without a PINGREQ:
 * libmosquitto's keep-alive check (mosquitto_loop_misc) closes the socket
 * when the PINGRESP of its previous PINGREQ has not been read one
 * keep-alive later, and that PINGRESP waits behind the messages we are not
 * reading; the broker would then publish the last will although we live.
 * So while paused mosquitto_loop_misc is not called and, every half
 * keep-alive, an UNSUBSCRIBE of this filter (which nobody subscribes to)
 * goes out instead: any packet resets the broker's keep-alive clock, and
 * its answer needs no reading. The filter is a valid one no client can
 * publish to ($-topics are the broker's).
 */
#define NUDGE_FILTER "$lienwatch/keepalive"

enum state {
    ST_IDLE,
    ST_RESOLVING,
    ST_TCP,
    ST_HANDSHAKE,
    ST_CONNECTED,
    ST_WAIT,
    ST_STOPPED,
};

/* One subscription pattern. */
struct sub {
    char *pattern; /* owned */
    int qos;       /* requested QoS */
    int mid;       /* SUBSCRIBE message id on this connection */
};

struct lwrt_mqtt {
    struct ev_loop *loop;        /* borrowed */
    struct lwrt_mqtt_handlers h; /* owner's callbacks */
    void *ctx;                   /* owner's context for h */
    /* settings (copies) */
    char *name;                          /* log prefix */
    char *host;                          /* configured host */
    char *client_id;                     /* NULL: libmosquitto makes one */
    char *username;                      /* NULL: no authentication */
    char *will_topic;                    /* NULL: no will */
    char *will_payload;                  /* with will_topic */
    int port;                            /* broker port */
    int keepalive_s;                     /* MQTT keep-alive */
    int max_inflight;                    /* 0: no limit */
    bool clean_session;                  /* see lwrt_mqtt_opts */
    bool fresh_handle;                   /* a new handle per round */
    bool quiet;                          /* repeated failures at debug */
    bool jitter;                         /* randomise back-off delays */
    int64_t backoff_min_ms;              /* first delay */
    int64_t backoff_max_ms;              /* cap */
    int64_t connect_timeout_ms;          /* TCP, per address */
    int64_t handshake_timeout_ms;        /* TLS + CONNACK, per address */
    char password[LWRT_SECRET_MAX + 1];  /* wiped at free */
    bool have_password;                  /* password holds one */
    struct lwrt_tls *tls;                /* NULL: plain TCP */
    struct sub subs[LWRT_MQTT_MAX_SUBS]; /* subscriptions */
    int nsubs;                           /* used entries of subs */
    struct sub stale[LWRT_MQTT_MAX_SUBS]; /* filters to unsubscribe from */
    int nstale;                           /* used entries of stale */
    int unsubscribed;                     /* UNSUBACKs of stale received */
    ev_tstamp nudged;                     /* last keep-alive nudge (paused) */
    ev_tstamp misc_after;                 /* no loop_misc before this */
    uint64_t nudges;                      /* nudges sent since start */
    int subscribed; /* SUBACKs received on this connection */
    /* the connection */
    struct mosquitto *mosq;     /* NULL between rounds with fresh_handle */
    enum state st;              /* see the file comment */
    struct lwrt_lookup *lookup; /* running name lookup, or NULL */
    struct lwrt_addr *addrs;    /* this round's addresses (owned) */
    size_t naddrs;              /* entries of addrs */
    size_t cur;                 /* the address being tried */
    ev_io io_read;              /* readable socket */
    ev_io io_write;             /* writable socket (TCP connect, or
                                   while mosquitto_want_write) */
    ev_timer misc_timer;        /* mosquitto_loop_misc every second */
    ev_timer step_timer;        /* back-off, timeouts, hand-over */
    bool socket_watched;        /* io watchers follow libmosquitto */
    bool paused;                /* owner asked us to stop reading */
    bool log_callback;          /* on_log is installed */
    bool dropped;               /* on_disconnect seen, not yet handled */
    int dropped_rc;             /* its code */
    int dropped_errno;          /* errno then, for MOSQ_ERR_ERRNO */
    int connect_errno;          /* a connect error libmosquitto's first
                                   write (TLS) took from the socket */
    bool refused;               /* the broker refused this login */
    int64_t backoff_ms;         /* delay before the next round */
    unsigned failures;          /* consecutive failed rounds */
    uint64_t connects;          /* connections accepted */
    uint64_t disconnects;       /* connections lost */
    uint64_t rx_events;         /* callbacks run by incoming packets */
    char address[LWRT_ADDR_TEXT_MAX];      /* current or last address */
    char warned_plain[LWRT_ADDR_TEXT_MAX]; /* last "no TLS" warning */
    char last_error[ERR_MAX];              /* latest problem, for status */
    char attempt_error[ERR_MAX]; /* libmosquitto's error this attempt */
    char summary[SUMMARY_MAX];   /* this round's failures */
};

static void begin_round(struct lwrt_mqtt *m);
static void try_address(struct lwrt_mqtt *m);

/* ---- small helpers ----------------------------------------------------- */

/* snprintf that may cut: every message here fits its buffer in practice,
 * and a cut one is still a useful message. */
__attribute__((format(printf, 3, 4))) static void put(char *buf, size_t len,
                                                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static const char *opt_str(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

/* Logs "NAME HOST:PORT: message" ([HOST] for an IPv6 address). */
__attribute__((format(printf, 3, 4))) static void
say(struct lwrt_mqtt *m, int level, const char *fmt, ...)
{
    char msg[SUMMARY_MAX + ERR_MAX];
    va_list ap;

    if (!lwrt_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lwrt_log(level, strchr(m->host, ':') ? "%s [%s]:%d: %s" : "%s %s:%d: %s",
             m->name, m->host, m->port, msg);
}

static const char *rc_text(int rc, int saved_errno)
{
    if (rc == MOSQ_ERR_ERRNO)
        return strerror(saved_errno);
    if (rc == MOSQ_ERR_EAI)
        return gai_strerror(saved_errno);
    return mosquitto_strerror(rc);
}

static const char *cur_addr(const struct lwrt_mqtt *m)
{
    return m->cur < m->naddrs ? m->addrs[m->cur].text : "?";
}

/* "" when the host is the address itself, else " to ADDR". */
static void to_addr(const struct lwrt_mqtt *m, const char *addr, char *buf,
                    size_t len)
{
    if (strcmp(m->host, addr) == 0)
        buf[0] = '\0';
    else
        put(buf, len, " to %s", addr);
}

/* ---- watchers ---------------------------------------------------------- */

static void update_write_watcher(struct lwrt_mqtt *m)
{
    if (!m->socket_watched)
        return;
    if (mosquitto_want_write(m->mosq))
        ev_io_start(m->loop, &m->io_write);
    else
        ev_io_stop(m->loop, &m->io_write);
}

/* Reading stops only on a working connection the owner paused: the
 * handshake of a new one is always read. */
static void update_read_watcher(struct lwrt_mqtt *m)
{
    if (!m->socket_watched)
        return;
    if (m->paused && m->st == ST_CONNECTED)
        ev_io_stop(m->loop, &m->io_read);
    else
        ev_io_start(m->loop, &m->io_read);
}

static void unwatch_socket(struct lwrt_mqtt *m)
{
    ev_io_stop(m->loop, &m->io_read);
    ev_io_stop(m->loop, &m->io_write);
    m->socket_watched = false;
}

static void watch_socket(struct lwrt_mqtt *m)
{
    int fd = mosquitto_socket(m->mosq);

    unwatch_socket(m);
    if (fd < 0)
        return;
    ev_io_set(&m->io_read, fd, EV_READ);
    ev_io_set(&m->io_write, fd, EV_WRITE);
    m->socket_watched = true;
    update_read_watcher(m);
    update_write_watcher(m);
}

/* Stops a TCP connect or handshake that takes too long: the socket stays
 * libmosquitto's (closed by its next connect, or the handle's end), but no
 * more SYNs go out. */
static void abort_socket(struct lwrt_mqtt *m)
{
    int fd = m->mosq ? mosquitto_socket(m->mosq) : -1;

    unwatch_socket(m);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static void arm_step(struct lwrt_mqtt *m, int64_t delay_ms)
{
    ev_timer_stop(m->loop, &m->step_timer);
    ev_timer_set(&m->step_timer, (double)delay_ms / 1000.0, 0.);
    ev_timer_start(m->loop, &m->step_timer);
}

/* ---- libmosquitto callbacks (called from inside its calls) ------------- */

/* libmosquitto's own log lines: at debug level; while not connected its
 * errors (TLS, socket) are also kept to explain a failed attempt. */
static void on_log(struct mosquitto *mosq, void *obj, int level,
                   const char *str)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) && m->st != ST_CONNECTED &&
        !m->attempt_error[0])
        put(m->attempt_error, sizeof(m->attempt_error), "%s", str);
    lwrt_log(LOG_DEBUG, "%s: %s", m->name, str);
}

/*
 * libmosquitto formats a line (vsnprintf into a fresh malloc) for every
 * packet while a log callback is set: 5 % of the daemon's CPU at full
 * ingest. So it is set only while it tells something: until connected
 * (TLS and handshake errors come only through it) and at debug level.
 */
static void set_log_callback(struct lwrt_mqtt *m)
{
    bool want = m->st != ST_CONNECTED || lwrt_log_enabled(LOG_DEBUG);

    if (!m->mosq || want == m->log_callback)
        return;
    mosquitto_log_callback_set(m->mosq, want ? on_log : NULL);
    m->log_callback = want;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    if (m->st == ST_STOPPED || m->st == ST_IDLE || m->dropped)
        return;
    unwatch_socket(m);
    m->dropped = true;
    m->dropped_rc = rc;
    m->dropped_errno = errno;
    arm_step(m, 0);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct lwrt_mqtt *m = obj;
    char err[ERR_MAX];

    m->rx_events++;
    if (m->st != ST_HANDSHAKE)
        return;
    if (rc != 0) {
        /* the broker closes the socket: on_disconnect follows */
        m->refused = true;
        put(m->last_error, sizeof(m->last_error), "connection refused: %s",
            mosquitto_connack_string(rc));
        say(m, LOG_ERR, "connection refused: %s (the broker at %s)",
            mosquitto_connack_string(rc), cur_addr(m));
        return;
    }
    ev_timer_stop(m->loop, &m->step_timer);
    m->st = ST_CONNECTED;
    m->connects++;
    m->failures = 0;
    m->backoff_ms = m->backoff_min_ms;
    m->last_error[0] = '\0';
    put(m->address, sizeof(m->address), "%s", cur_addr(m));
    say(m, LOG_NOTICE, "connected to %s as %s", m->address,
        m->client_id ? m->client_id : "(generated id)");
    set_log_callback(m);
    m->unsubscribed = 0;
    for (int i = 0; i < m->nstale; i++) {
        int src = mosquitto_unsubscribe(mosq, &m->stale[i].mid,
                                        m->stale[i].pattern);
        if (src != MOSQ_ERR_SUCCESS)
            say(m, LOG_ERR, "cannot unsubscribe from '%s': %s",
                m->stale[i].pattern, mosquitto_strerror(src));
    }
    m->subscribed = 0;
    m->nudged = ev_now(m->loop);
    for (int i = 0; i < m->nsubs; i++) {
        int src = mosquitto_subscribe(mosq, &m->subs[i].mid, m->subs[i].pattern,
                                      m->subs[i].qos);
        if (src != MOSQ_ERR_SUCCESS) {
            put(err, sizeof(err), "%s", mosquitto_strerror(src));
            say(m, LOG_ERR, "cannot subscribe to '%s': %s", m->subs[i].pattern,
                err);
        }
    }
    if (m->h.on_connected)
        m->h.on_connected(m->ctx);
}

/* SUBACK: say what the broker granted; a refusal (0x80) is an error the
 * operator must fix (ACLs), not something to retry. */
static void on_subscribe(struct mosquitto *mosq, void *obj, int mid,
                         int qos_count, const int *granted)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    m->rx_events++;
    for (int i = 0; i < m->nsubs; i++) {
        if (m->subs[i].mid != mid)
            continue;
        if (qos_count < 1 || granted[0] > 2)
            say(m, LOG_ERR,
                "the broker refused the subscription to %s (check its ACLs)",
                m->subs[i].pattern);
        else
            say(m, LOG_INFO, "subscribed to %s (QoS %d granted)",
                m->subs[i].pattern, granted[0]);
        if (++m->subscribed == m->nsubs && m->h.on_subscribed)
            m->h.on_subscribed(m->ctx);
    }
}

/* UNSUBACK: a stale filter is gone (the keep-alive nudges' answers have
 * other ids). Once all are, the owner hears of it and the list is empty. */
static void on_unsubscribe(struct mosquitto *mosq, void *obj, int mid)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    m->rx_events++;
    for (int i = 0; i < m->nstale; i++) {
        if (m->stale[i].mid != mid || mid == 0)
            continue;
        say(m, LOG_NOTICE,
            "unsubscribed from %s (no longer in the configuration)",
            m->stale[i].pattern);
        m->stale[i].mid = 0;
        if (++m->unsubscribed < m->nstale)
            return;
        for (int k = 0; k < m->nstale; k++)
            free(m->stale[k].pattern);
        m->nstale = 0;
        if (m->h.on_unsubscribed)
            m->h.on_unsubscribed(m->ctx);
        return;
    }
}

static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *msg)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    m->rx_events++;
    if (m->h.on_message)
        m->h.on_message(m->ctx, msg->topic, msg->payload,
                        msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct lwrt_mqtt *m = obj;

    (void)mosq;
    m->rx_events++;
    if (m->h.on_published)
        m->h.on_published(m->ctx, mid);
}

/* ---- the handle ---------------------------------------------------------- */

/* Creates m->mosq with every option. Returns 0, or -1 with err set. */
static int create_handle(struct lwrt_mqtt *m, char *err, size_t errlen)
{
    int rc;

    m->mosq = mosquitto_new(m->client_id, m->clean_session, m);
    if (!m->mosq) {
        put(err, errlen, "cannot create an MQTT client: %s", strerror(errno));
        return -1;
    }
    m->log_callback = false;
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m->mosq, (unsigned)m->max_inflight);
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_unsubscribe_callback_set(m->mosq, on_unsubscribe);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    set_log_callback(m);
    if (m->username) {
        rc = mosquitto_username_pw_set(m->mosq, m->username,
                                       m->have_password ? m->password : NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            put(err, errlen, "cannot set the credentials: %s",
                mosquitto_strerror(rc));
            goto out_destroy;
        }
    }
    if (m->tls) {
        /* our context as it is (libmosquitto 2.0 would otherwise add its
         * own settings, host check against the address included); it
         * takes its own reference on it */
        mosquitto_int_option(m->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        rc = mosquitto_void_option(m->mosq, MOSQ_OPT_SSL_CTX,
                                   lwrt_tls_ctx(m->tls));
        if (rc != MOSQ_ERR_SUCCESS) {
            put(err, errlen, "cannot use the TLS context: %s",
                mosquitto_strerror(rc));
            goto out_destroy;
        }
    }
    if (m->will_topic) {
        rc = mosquitto_will_set(m->mosq, m->will_topic,
                                (int)strlen(m->will_payload), m->will_payload,
                                1, true);
        if (rc != MOSQ_ERR_SUCCESS) {
            put(err, errlen, "cannot set the last will on %s: %s",
                m->will_topic, mosquitto_strerror(rc));
            goto out_destroy;
        }
    }
    return 0;
out_destroy:
    mosquitto_destroy(m->mosq);
    m->mosq = NULL;
    return -1;
}

static void destroy_handle(struct lwrt_mqtt *m)
{
    unwatch_socket(m);
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    m->mosq = NULL;
    m->log_callback = false;
}

/* ---- rounds and addresses ------------------------------------------------ */

static void schedule_round(struct lwrt_mqtt *m, int64_t delay_ms, int level)
{
    int64_t d = delay_ms;

    m->st = ST_WAIT;
    if (m->jitter && d > 0)
        d +=
            (int64_t)((double)d * ((double)random() / RAND_MAX - 0.5) * JITTER);
    say(m, level, "next connection attempt in %.1f s", (double)d / 1000.0);
    arm_step(m, d);
}

/* Every address failed (or the broker refused us): back off. */
static void round_failed(struct lwrt_mqtt *m, bool log_summary)
{
    bool repeat = m->failures++ > 0;
    int level = m->quiet && repeat ? LOG_DEBUG : LOG_WARNING;
    char to[LWRT_ADDR_TEXT_MAX + 8];

    if (log_summary) {
        if (m->naddrs > 1) {
            put(m->last_error, sizeof(m->last_error),
                "cannot connect to any of its %zu addresses: %s", m->naddrs,
                m->summary);
        } else if (m->naddrs == 1) {
            to_addr(m, m->addrs[0].text, to, sizeof(to));
            put(m->last_error, sizeof(m->last_error), "cannot connect%s (%s)",
                to, m->summary);
        }
        say(m, level, "%s", m->last_error);
    }
    schedule_round(m, m->backoff_ms, m->quiet && repeat ? LOG_DEBUG : LOG_INFO);
    m->backoff_ms *= 2;
    if (m->backoff_ms > m->backoff_max_ms)
        m->backoff_ms = m->backoff_max_ms;
}

/* The address being tried failed for why: note it and move on (the caller
 * then calls try_address, which ends the round after the last one). */
static void address_failed(struct lwrt_mqtt *m, const char *why)
{
    size_t used = strlen(m->summary);
    const char *addr = cur_addr(m);

    if (m->naddrs > 1)
        put(m->summary + used, sizeof(m->summary) - used, "%s%s (%s)",
            used ? "; " : "", addr, why);
    else
        put(m->summary, sizeof(m->summary), "%s", why);
    if (m->cur + 1 < m->naddrs)
        say(m, LOG_INFO, "cannot connect to %s (%s); trying %s", addr, why,
            m->addrs[m->cur + 1].text);
    m->cur++;
}

/* Why this attempt failed, from what is known best. */
static const char *attempt_reason(struct lwrt_mqtt *m, int rc, int saved_errno,
                                  char *buf, size_t len)
{
    const char *tls = lwrt_tls_error(m->tls);

    if (tls)
        put(buf, len, "TLS: %s", tls);
    else if (rc == MOSQ_ERR_TLS && m->attempt_error[0])
        put(buf, len, "TLS: %s", m->attempt_error);
    else if (m->attempt_error[0] && rc != MOSQ_ERR_ERRNO)
        put(buf, len, "%s (%s)", rc_text(rc, saved_errno), m->attempt_error);
    else
        put(buf, len, "%s", rc_text(rc, saved_errno));
    return buf;
}

/* Errors a TCP connect ends with (as opposed to a stale errno). */
static bool is_connect_error(int e)
{
    switch (e) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ETIMEDOUT:
    case EPIPE:
        return true;
    default:
        return false;
    }
}

static void warn_plaintext(struct lwrt_mqtt *m, const struct lwrt_addr *a)
{
    if (!m->have_password || m->tls || lwrt_addr_is_loopback(a) ||
        strcmp(m->warned_plain, a->text) == 0)
        return;
    put(m->warned_plain, sizeof(m->warned_plain), "%s", a->text);
    say(m, LOG_WARNING,
        "the password of user '%s' goes to %s without TLS: anyone on the "
        "way can read it (set cafile or capath and use the broker's TLS "
        "listener)",
        m->username, a->text);
}

static void try_address(struct lwrt_mqtt *m)
{
    char why[ERR_MAX];

    while (m->cur < m->naddrs) {
        const struct lwrt_addr *a = &m->addrs[m->cur];
        int rc, e, fd;

        warn_plaintext(m, a);
        if (m->tls)
            lwrt_tls_reset(m->tls);
        m->attempt_error[0] = '\0';
        m->refused = false;
        m->dropped = false;
        say(m, LOG_DEBUG, "connecting to %s", a->text);
        errno = 0;
        rc = mosquitto_connect_bind_async(m->mosq, a->text, m->port,
                                          m->keepalive_s, NULL);
        e = errno;
        m->connect_errno = is_connect_error(e) ? e : 0;
        if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_CONN_PENDING) {
            fd = mosquitto_socket(m->mosq);
            if (fd >= 0) {
                m->st = ST_TCP;
                unwatch_socket(m);
                ev_io_set(&m->io_write, fd, EV_WRITE);
                ev_io_start(m->loop, &m->io_write);
                arm_step(m, m->connect_timeout_ms);
                return;
            }
            put(why, sizeof(why), "no socket");
        } else {
            attempt_reason(m, rc, e, why, sizeof(why));
        }
        address_failed(m, why);
    }
    round_failed(m, true);
}

static void resolved(void *ctx, int err, int errno_, struct lwrt_addr *addrs,
                     size_t n)
{
    struct lwrt_mqtt *m = ctx;
    char list[SUMMARY_MAX];
    size_t used = 0;

    m->lookup = NULL;
    if (m->st != ST_RESOLVING) {
        free(addrs);
        return;
    }
    free(m->addrs);
    m->addrs = addrs;
    m->naddrs = n;
    m->cur = 0;
    if (err) {
        put(m->last_error, sizeof(m->last_error), "cannot resolve %s: %s",
            m->host, err == EAI_SYSTEM ? strerror(errno_) : gai_strerror(err));
        say(m, m->quiet && m->failures > 0 ? LOG_DEBUG : LOG_WARNING, "%s",
            m->last_error);
        round_failed(m, false);
        return;
    }
    if (n > 1 && lwrt_log_enabled(LOG_DEBUG)) {
        list[0] = '\0';
        for (size_t i = 0; i < n && used + 1 < sizeof(list); i++) {
            put(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                addrs[i].text);
            used += strlen(list + used);
        }
        say(m, LOG_DEBUG, "%s has %zu addresses: %s", m->host, n, list);
    }
    try_address(m);
}

static void begin_round(struct lwrt_mqtt *m)
{
    char err[ERR_MAX];

    m->st = ST_RESOLVING;
    m->summary[0] = '\0';
    m->naddrs = m->cur = 0;
    if (m->fresh_handle) {
        destroy_handle(m);
        if (create_handle(m, err, sizeof(err)) != 0) {
            put(m->last_error, sizeof(m->last_error), "%s", err);
            say(m, LOG_ERR, "%s", err);
            round_failed(m, false);
            return;
        }
    }
    if (lwrt_resolve(m->loop, m->host, resolved, m, &m->lookup) != 0) {
        put(m->last_error, sizeof(m->last_error),
            "cannot start the lookup of %s: %s", m->host, strerror(errno));
        say(m, LOG_ERR, "%s", m->last_error);
        round_failed(m, false);
    }
}

/* ---- loop callbacks --------------------------------------------------------
 */

/* After a libmosquitto call: an error it did not report through
 * on_disconnect is handled as if it had. Returns true while the socket is
 * still ours to use. */
static bool check_rc(struct lwrt_mqtt *m, int rc)
{
    if (rc != MOSQ_ERR_SUCCESS && m->socket_watched)
        on_disconnect(m->mosq, m, rc);
    return m->socket_watched && !m->dropped;
}

/* A disconnection noted by on_disconnect, handled from the loop. */
static void handle_drop(struct lwrt_mqtt *m)
{
    char why[ERR_MAX];
    int rc = m->dropped_rc;

    m->dropped = false;
    if (m->st == ST_CONNECTED) {
        put(why, sizeof(why), "%s",
            rc == 0 ? "closed" : mosquitto_strerror(rc));
        put(m->last_error, sizeof(m->last_error), "connection lost: %s", why);
        m->disconnects++;
        say(m, LOG_WARNING, "connection lost (%s)", why);
        m->st = ST_WAIT;
        set_log_callback(m);
        if (m->fresh_handle)
            destroy_handle(m);
        if (m->h.on_disconnected)
            m->h.on_disconnected(m->ctx, why);
        if (m->st != ST_WAIT) /* the owner shut us down */
            return;
        m->backoff_ms = m->backoff_min_ms;
        schedule_round(m, m->backoff_ms, LOG_INFO);
        m->backoff_ms *= 2;
        if (m->backoff_ms > m->backoff_max_ms)
            m->backoff_ms = m->backoff_max_ms;
        return;
    }
    if (m->st != ST_TCP && m->st != ST_HANDSHAKE)
        return;
    if (m->refused) { /* logged by on_connect: another address won't help */
        round_failed(m, false);
        return;
    }
    address_failed(m,
                   attempt_reason(m, rc, m->dropped_errno, why, sizeof(why)));
    try_address(m);
}

static void step_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwrt_mqtt *m = w->data;
    char why[ERR_MAX];

    (void)loop;
    (void)revents;
    if (m->dropped) {
        handle_drop(m);
        return;
    }
    switch (m->st) {
    case ST_WAIT:
        begin_round(m);
        break;
    case ST_TCP:
        abort_socket(m);
        put(why, sizeof(why), "no TCP connection within %.1f s",
            (double)m->connect_timeout_ms / 1000.0);
        address_failed(m, why);
        try_address(m);
        break;
    case ST_HANDSHAKE:
        abort_socket(m);
        put(why, sizeof(why), "no %sMQTT handshake within %.1f s",
            m->tls ? "TLS and " : "", (double)m->handshake_timeout_ms / 1000.0);
        if (m->attempt_error[0]) {
            size_t used = strlen(why);
            put(why + used, sizeof(why) - used, " (%s)", m->attempt_error);
        }
        address_failed(m, why);
        try_address(m);
        break;
    default:
        break;
    }
}

/* The TCP connect of the current address ended: SO_ERROR says how. */
static void tcp_ready(struct lwrt_mqtt *m)
{
    int soerr = 0, rc;
    socklen_t sl = sizeof(soerr), pl = sizeof(struct sockaddr_storage);
    struct sockaddr_storage peer;
    int fd = mosquitto_socket(m->mosq);

    ev_io_stop(m->loop, &m->io_write);
    if (fd < 0)
        soerr = ENOTCONN;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    /* With TLS, libmosquitto's first SSL_connect may already have taken
     * the connect error from the socket (SO_ERROR is then 0): a socket
     * without a peer did not connect. */
    if (!soerr && getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
        soerr = m->connect_errno ? m->connect_errno : errno;
    if (soerr) {
        address_failed(m, soerr == ENOTCONN ? "the TCP connection failed"
                                            : strerror(soerr));
        try_address(m);
        return;
    }
    say(m, LOG_DEBUG, "TCP connection to %s established", cur_addr(m));
    m->st = ST_HANDSHAKE;
    arm_step(m, m->handshake_timeout_ms);
    watch_socket(m);
    /* TLS: libmosquitto advances its handshake from the read path */
    rc = mosquitto_loop_read(m->mosq, 1);
    if (!check_rc(m, rc))
        return;
    rc = mosquitto_loop_write(m->mosq, 1);
    if (!check_rc(m, rc))
        return;
    update_write_watcher(m);
}

/*
 * libmosquitto 2.0 takes an SSL_ERROR_SYSCALL in the TLS handshake for
 * "try again", so a peer that closed or reset the connection then would
 * make the readable socket spin until the handshake timeout. When a read
 * made no progress, look: EOF or an error ends the attempt. Returns true
 * when it did (the next address is being tried).
 */
static bool handshake_dead(struct lwrt_mqtt *m)
{
    int fd = mosquitto_socket(m->mosq);
    char c, why[ERR_MAX];
    ssize_t n;

    if (fd < 0 || !m->tls)
        return false;
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 ||
        (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return false;
    put(why, sizeof(why), "TLS: %s during the handshake",
        n == 0 ? "the broker closed the connection" : strerror(errno));
    abort_socket(m);
    address_failed(m, why);
    try_address(m);
    return true;
}

static void io_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct lwrt_mqtt *m = w->data;

    (void)loop;
    (void)revents;
    /* libmosquitto 2.0 reads one packet per call whatever max_packets says
     * (it goes by its own queue lengths, 0 for a QoS 1 subscriber): read on
     * while a call makes progress, instead of an epoll_wait and a loop
     * iteration per message. A partial packet or an empty socket makes
     * none. */
    for (int i = 0; i < READ_BURST; i++) {
        uint64_t before = m->rx_events;
        int rc = mosquitto_loop_read(m->mosq, 1);

        if (!check_rc(m, rc))
            return;
        if (m->st == ST_HANDSHAKE && m->rx_events == before &&
            handshake_dead(m))
            return;
        if (m->rx_events == before || (m->paused && m->st == ST_CONNECTED))
            break;
    }
    update_read_watcher(m);
    update_write_watcher(m);
}

static void io_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct lwrt_mqtt *m = w->data;
    int rc;

    (void)loop;
    (void)revents;
    if (m->st == ST_TCP) {
        tcp_ready(m);
        return;
    }
    if (m->st == ST_HANDSHAKE) {
        /* a TLS handshake waiting to write goes on from the read path */
        rc = mosquitto_loop_read(m->mosq, 1);
        if (!check_rc(m, rc))
            return;
    }
    rc = mosquitto_loop_write(m->mosq, 1);
    if (!check_rc(m, rc))
        return;
    update_write_watcher(m);
}

static void misc_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lwrt_mqtt *m = w->data;
    int rc;

    (void)revents;
    if (!m->socket_watched)
        return;
    /* just resumed: read first. libmosquitto's check would close a
     * connection whose PINGREQ went out before the pause and whose
     * PINGRESP is still unread; any packet read makes that moot */
    if (!m->paused && ev_now(loop) < m->misc_after)
        return;
    if (m->paused && m->st == ST_CONNECTED) {
        /* see NUDGE_FILTER */
        if (ev_now(loop) - m->nudged < (double)m->keepalive_s / 2.0)
            return;
        m->nudged = ev_now(loop);
        m->nudges++;
        rc = mosquitto_unsubscribe(m->mosq, NULL, NUDGE_FILTER);
        if (!check_rc(m, rc))
            return;
        update_write_watcher(m);
        return;
    }
    rc = mosquitto_loop_misc(m->mosq);
    if (rc == MOSQ_ERR_NO_CONN)
        rc = MOSQ_ERR_SUCCESS;
    if (!check_rc(m, rc))
        return;
    update_write_watcher(m);
}

/* ---- public -------------------------------------------------------------- */

/* Copies the settings of o into m. Returns 0, or -1 when out of memory. */
static int copy_opts(struct lwrt_mqtt *m, const struct lwrt_mqtt_opts *o)
{
    m->name = strdup(opt_str(o->name, "mqtt"));
    m->host = strdup(o->host);
    m->client_id = dup_or_null(o->client_id);
    m->username = dup_or_null(o->username);
    if (o->will_topic) {
        m->will_topic = strdup(o->will_topic);
        m->will_payload = strdup(o->will_payload ? o->will_payload : "");
    }
    if (!m->name || !m->host ||
        (o->client_id && *o->client_id && !m->client_id) ||
        (o->username && *o->username && !m->username) ||
        (o->will_topic && (!m->will_topic || !m->will_payload)))
        return -1;
    m->port = o->port;
    m->keepalive_s = o->keepalive_s;
    m->max_inflight = o->max_inflight > 0 ? o->max_inflight : 0;
    m->clean_session = o->clean_session;
    m->fresh_handle = o->fresh_handle;
    m->quiet = o->quiet_retries;
    m->jitter = o->backoff_jitter;
    m->backoff_min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : 1000;
    m->backoff_max_ms = o->backoff_max_ms > m->backoff_min_ms
                            ? o->backoff_max_ms
                            : m->backoff_min_ms;
    m->backoff_ms = m->backoff_min_ms;
    m->connect_timeout_ms = o->connect_timeout_ms > 0
                                ? o->connect_timeout_ms
                                : LWRT_MQTT_CONNECT_TIMEOUT_MS;
    m->handshake_timeout_ms = o->handshake_timeout_ms > 0
                                  ? o->handshake_timeout_ms
                                  : LWRT_MQTT_HANDSHAKE_TIMEOUT_MS;
    return 0;
}

/* With a username: the password from password_file or the credential
 * "mqtt-password". Returns 0, or -1 with err set. */
static int load_password(struct lwrt_mqtt *m, const char *password_file,
                         char *err, size_t errlen)
{
    char src[LWRT_SECRET_MAX + 1];
    enum lwrt_secret sr;

    if (!m->username)
        return 0;
    sr = lwrt_secret_read("mqtt password file", password_file, "mqtt-password",
                          m->password, sizeof(m->password), src, sizeof(src),
                          err, errlen);
    if (sr == LWRT_SECRET_ERROR)
        return -1;
    if (sr == LWRT_SECRET_EMPTY)
        lwrt_log(LOG_WARNING,
                 "%s: the first line of %s is empty: connecting as '%s' "
                 "without a password",
                 m->name, src, m->username);
    m->have_password = sr == LWRT_SECRET_OK;
    return 0;
}

int lwrt_mqtt_new(struct lwrt_mqtt **out, struct ev_loop *loop,
                  const struct lwrt_mqtt_opts *o,
                  const struct lwrt_mqtt_handlers *h, void *ctx, char *err,
                  size_t errlen)
{
    const char *name = opt_str(o->name, "mqtt");
    struct lwrt_mqtt *m;
    char e[ERR_MAX];

    *out = NULL;
    if (!o->host || !*o->host || o->port <= 0 || o->port > PORT_MAX) {
        put(err, errlen, "%s: a broker host and a port in 1..%d are needed",
            name, PORT_MAX);
        return -1;
    }
    if (!o->clean_session && !(o->client_id && *o->client_id)) {
        put(err, errlen, "%s: a persistent session needs a client id", name);
        return -1;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        put(err, errlen, "%s: out of memory", name);
        return -1;
    }
    m->loop = loop;
    ev_io_init(&m->io_read, io_read_cb, -1, EV_READ);
    ev_io_init(&m->io_write, io_write_cb, -1, EV_WRITE);
    ev_timer_init(&m->misc_timer, misc_cb, MISC_INTERVAL_S, MISC_INTERVAL_S);
    ev_timer_init(&m->step_timer, step_cb, 0., 0.);
    m->io_read.data = m->io_write.data = m;
    m->misc_timer.data = m->step_timer.data = m;
    if (h)
        m->h = *h;
    m->ctx = ctx;
    if (copy_opts(m, o) != 0) {
        put(err, errlen, "%s: out of memory", name);
        goto out_free;
    }
    /* "mqtt password file F: ..." says whose it is */
    if (load_password(m, o->password_file, err, errlen) != 0)
        goto out_free;
    if ((o->cafile && *o->cafile) || (o->capath && *o->capath)) {
        struct lwrt_tls_opts to = {
            .host = o->host,
            .cafile = o->cafile,
            .capath = o->capath,
            .certfile = o->certfile,
            .keyfile = o->keyfile,
            .insecure = o->tls_insecure,
        };
        m->tls = lwrt_tls_new(&to, e, sizeof(e));
        if (!m->tls) {
            put(err, errlen, "%s: %s", name, e);
            goto out_free;
        }
    }
    if (!m->fresh_handle && create_handle(m, e, sizeof(e)) != 0) {
        put(err, errlen, "%s: %s", name, e);
        goto out_free;
    }
    *out = m;
    return 0;
out_free:
    lwrt_mqtt_free(m);
    return -1;
}

int lwrt_mqtt_unsubscribe_stale(struct lwrt_mqtt *m, const char *pattern,
                                char *err, size_t errlen)
{
    if (m->nstale >= LWRT_MQTT_MAX_SUBS) {
        put(err, errlen, "%s: more than %d filters to unsubscribe from",
            m->name, LWRT_MQTT_MAX_SUBS);
        return -1;
    }
    if (mosquitto_sub_topic_check(pattern) != MOSQ_ERR_SUCCESS) {
        put(err, errlen, "%s: '%s' is not a valid filter", m->name, pattern);
        return -1;
    }
    m->stale[m->nstale].pattern = strdup(pattern);
    if (!m->stale[m->nstale].pattern) {
        put(err, errlen, "%s: out of memory", m->name);
        return -1;
    }
    m->stale[m->nstale].mid = 0;
    m->nstale++;
    return 0;
}

int lwrt_mqtt_subscribe(struct lwrt_mqtt *m, const char *pattern, int qos,
                        char *err, size_t errlen)
{
    if (m->nsubs >= LWRT_MQTT_MAX_SUBS) {
        put(err, errlen, "%s: more than %d subscriptions", m->name,
            LWRT_MQTT_MAX_SUBS);
        return -1;
    }
    if (mosquitto_sub_topic_check(pattern) != MOSQ_ERR_SUCCESS || qos < 0 ||
        qos > 2) {
        put(err, errlen, "%s: '%s' (QoS %d) is not a valid subscription",
            m->name, pattern, qos);
        return -1;
    }
    m->subs[m->nsubs].pattern = strdup(pattern);
    if (!m->subs[m->nsubs].pattern) {
        put(err, errlen, "%s: out of memory", m->name);
        return -1;
    }
    m->subs[m->nsubs].qos = qos;
    m->nsubs++;
    return 0;
}

void lwrt_mqtt_start(struct lwrt_mqtt *m)
{
    if (m->st != ST_IDLE)
        return;
    ev_timer_start(m->loop, &m->misc_timer);
    say(m, LOG_INFO, "connecting%s", m->tls ? " (TLS)" : "");
    begin_round(m);
}

int lwrt_mqtt_publish(struct lwrt_mqtt *m, const char *topic,
                      const void *payload, size_t len, int qos, bool retain,
                      int *mid)
{
    int rc;

    if (!m->mosq)
        return MOSQ_ERR_NO_CONN;
    rc = mosquitto_publish(m->mosq, mid, topic, (int)len, payload, qos, retain);
    update_write_watcher(m);
    return rc;
}

void lwrt_mqtt_pause(struct lwrt_mqtt *m, bool pause)
{
    if (m->paused == pause)
        return;
    m->paused = pause;
    m->nudged = ev_now(m->loop);
    if (!pause)
        m->misc_after = ev_now(m->loop) + MISC_INTERVAL_S;
    update_read_watcher(m);
}

bool lwrt_mqtt_connected(const struct lwrt_mqtt *m)
{
    return m->st == ST_CONNECTED && !m->dropped;
}

uint64_t lwrt_mqtt_connects(const struct lwrt_mqtt *m)
{
    return m->connects;
}

uint64_t lwrt_mqtt_disconnects(const struct lwrt_mqtt *m)
{
    return m->disconnects;
}

uint64_t lwrt_mqtt_nudges(const struct lwrt_mqtt *m)
{
    return m->nudges;
}

const char *lwrt_mqtt_address(const struct lwrt_mqtt *m)
{
    return m->address;
}

const char *lwrt_mqtt_last_error(const struct lwrt_mqtt *m)
{
    return m->last_error;
}

void lwrt_mqtt_log_level_changed(struct lwrt_mqtt *m)
{
    set_log_callback(m);
}

void lwrt_mqtt_shutdown(struct lwrt_mqtt *m, const char *final_topic,
                        const char *final_payload, int timeout_ms)
{
    bool was_connected = lwrt_mqtt_connected(m);

    m->st = ST_STOPPED;
    lwrt_resolve_cancel(m->lookup);
    m->lookup = NULL;
    ev_timer_stop(m->loop, &m->step_timer);
    ev_timer_stop(m->loop, &m->misc_timer);
    if (!was_connected) {
        unwatch_socket(m);
        return;
    }
    if (final_topic)
        mosquitto_publish(m->mosq, NULL, final_topic,
                          (int)strlen(final_payload), final_payload, 1, true);
    mosquitto_disconnect(m->mosq);
    /* flush what is queued (the final state, DISCONNECT) before closing */
    for (int waited = 0;
         waited < timeout_ms && mosquitto_socket(m->mosq) >= 0 &&
         mosquitto_want_write(m->mosq);
         waited += 10) {
        if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (mosquitto_want_write(m->mosq))
            ev_sleep(0.01);
    }
    unwatch_socket(m);
}

void lwrt_mqtt_free(struct lwrt_mqtt *m)
{
    if (!m)
        return;
    m->st = ST_STOPPED;
    lwrt_resolve_cancel(m->lookup);
    if (m->loop) {
        ev_timer_stop(m->loop, &m->step_timer);
        ev_timer_stop(m->loop, &m->misc_timer);
    }
    destroy_handle(m);
    lwrt_tls_free(m->tls);
    memset(m->password, 0, sizeof(m->password));
    for (int i = 0; i < m->nsubs; i++)
        free(m->subs[i].pattern);
    for (int i = 0; i < m->nstale; i++)
        free(m->stale[i].pattern);
    free(m->addrs);
    free(m->name);
    free(m->host);
    free(m->client_id);
    free(m->username);
    free(m->will_topic);
    free(m->will_payload);
    free(m);
}
