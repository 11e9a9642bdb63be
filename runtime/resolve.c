/*
 * runtime/resolve.c - see resolve.h.
 *
 * A lookup is one allocation shared by the loop and the thread, with two
 * references. The thread does getaddrinfo, then under the mutex either
 * signals the ev_async (the loop has not cancelled) or does nothing, and
 * drops its reference. The loop stops the ev_async (when the answer came
 * or on cancel) and drops its own. Whoever drops the last frees; so the
 * ev_async is never signalled after the loop stopped it.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "runtime/resolve.h"

struct lwrt_lookup {
    pthread_mutex_t mu;    /* guards everything below but the loop part */
    int refs;              /* 2 while the thread runs, then 1, then free */
    bool cancelled;        /* the loop no longer wants the answer */
    int err;               /* getaddrinfo's result */
    int errno_;            /* errno for EAI_SYSTEM */
    struct addrinfo *list; /* the answer, until the loop takes it */
    /* loop side, not touched by the thread after it signalled */
    struct ev_loop *loop; /* borrowed */
    ev_async async;       /* signalled by the thread */
    lwrt_resolve_cb *cb;  /* the owner's callback */
    void *ctx;            /* its argument */
    char host[];          /* the name looked up */
};

static const struct addrinfo hints_tcp = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_protocol = IPPROTO_TCP,
};

static void unref(struct lwrt_lookup *lk)
{
    bool last;

    pthread_mutex_lock(&lk->mu);
    last = --lk->refs == 0;
    pthread_mutex_unlock(&lk->mu);
    if (!last)
        return;
    if (lk->list)
        freeaddrinfo(lk->list);
    pthread_mutex_destroy(&lk->mu);
    free(lk);
}

static bool same_addr(const struct lwrt_addr *a, const struct sockaddr *sa,
                      socklen_t len)
{
    return a->len == len && memcmp(&a->sa, sa, len) == 0;
}

struct lwrt_addr *lwrt_addrs_from_list(const struct addrinfo *list, size_t *n)
{
    const struct addrinfo *ai;
    struct lwrt_addr *out;
    size_t cap = 0, used = 0;

    *n = 0;
    for (ai = list; ai; ai = ai->ai_next)
        cap++;
    if (cap == 0)
        return NULL;
    out = calloc(cap, sizeof(*out));
    if (!out)
        return NULL;
    for (ai = list; ai; ai = ai->ai_next) {
        bool dup = false;

        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(out[0].sa))
            continue;
        for (size_t i = 0; i < used && !dup; i++)
            dup = same_addr(&out[i], ai->ai_addr, ai->ai_addrlen);
        if (dup)
            continue;
        memcpy(&out[used].sa, ai->ai_addr, ai->ai_addrlen);
        out[used].len = ai->ai_addrlen;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, out[used].text,
                        sizeof(out[used].text), NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        used++;
    }
    if (used == 0) {
        free(out);
        return NULL;
    }
    *n = used;
    return out;
}

bool lwrt_addr_is_loopback(const struct lwrt_addr *a)
{
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
        if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) &&
               s->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

bool lwrt_host_is_numeric(const char *host)
{
    struct addrinfo hints = hints_tcp, *list = NULL;

    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &list) != 0)
        return false;
    freeaddrinfo(list);
    return true;
}

/* Hands a getaddrinfo answer to the callback (list is freed here). */
static void deliver(lwrt_resolve_cb *cb, void *ctx, int err, int errno_,
                    struct addrinfo *list)
{
    struct lwrt_addr *addrs = NULL;
    size_t n = 0;

    if (err == 0) {
        addrs = lwrt_addrs_from_list(list, &n);
        if (!addrs)
            err = EAI_NONAME; /* nothing usable (or no memory) */
    }
    if (list)
        freeaddrinfo(list);
    cb(ctx, err, errno_, addrs, n);
}

static void *lookup_thread(void *arg)
{
    struct lwrt_lookup *lk = arg;
    struct addrinfo *list = NULL;
    int err, e;

    err = getaddrinfo(lk->host, NULL, &hints_tcp, &list);
    e = errno;
    pthread_mutex_lock(&lk->mu);
    lk->err = err;
    lk->errno_ = e;
    lk->list = list;
    if (!lk->cancelled)
        ev_async_send(lk->loop, &lk->async);
    pthread_mutex_unlock(&lk->mu);
    unref(lk);
    return NULL;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct lwrt_lookup *lk = w->data;
    struct addrinfo *list;
    int err, e;

    (void)revents;
    ev_async_stop(loop, w);
    pthread_mutex_lock(&lk->mu);
    list = lk->list;
    lk->list = NULL;
    err = lk->err;
    e = lk->errno_;
    lk->cancelled = true; /* answered: nothing more to signal */
    pthread_mutex_unlock(&lk->mu);
    lwrt_resolve_cb *cb = lk->cb;
    void *ctx = lk->ctx;
    unref(lk);
    deliver(cb, ctx, err, e, list);
}

int lwrt_resolve(struct ev_loop *loop, const char *host, lwrt_resolve_cb *cb,
                 void *ctx, struct lwrt_lookup **out)
{
    struct addrinfo hints = hints_tcp, *list = NULL;
    struct lwrt_lookup *lk;
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t tid;
    size_t hlen = strlen(host);
    int rc;

    if (out)
        *out = NULL;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &list) == 0) {
        deliver(cb, ctx, 0, 0, list);
        return 0;
    }
    lk = calloc(1, sizeof(*lk) + hlen + 1);
    if (!lk)
        return -1;
    memcpy(lk->host, host, hlen + 1);
    pthread_mutex_init(&lk->mu, NULL);
    lk->refs = 2;
    lk->loop = loop;
    lk->cb = cb;
    lk->ctx = ctx;
    ev_async_init(&lk->async, async_cb);
    lk->async.data = lk;
    ev_async_start(loop, &lk->async);

    /* the thread takes no signals: they belong to the loop */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, lookup_thread, lk);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ev_async_stop(loop, &lk->async);
        pthread_mutex_destroy(&lk->mu);
        free(lk);
        errno = rc;
        return -1;
    }
    if (out)
        *out = lk;
    return 0;
}

void lwrt_resolve_cancel(struct lwrt_lookup *lk)
{
    if (!lk)
        return;
    pthread_mutex_lock(&lk->mu);
    lk->cancelled = true;
    pthread_mutex_unlock(&lk->mu);
    ev_async_stop(lk->loop, &lk->async);
    unref(lk);
}
