/*
 * login.c - password checks off the loop.
 *
 * An argon2id verify (lw_user_password_check) takes about a tenth of a
 * second and 64 MiB: run in the loop, every sign-in would stall every other
 * request and live stream for that long. So the loop reads the stored hash
 * (one index lookup), suspends the connection and hands hash and password
 * to one worker thread; the worker's answer comes back through an ev_async,
 * the connection is resumed and MHD calls the request handler again, which
 * finishes the sign-in (api.c). One worker: sign-ins queue behind each
 * other rather than take all cores and memory at once. The worker touches
 * neither the database nor MHD nor the log.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "web.h"

struct lww_login_job {
    struct lww_login_job *next;     /* queue link */
    struct lww_req *r;              /* the suspended request */
    char hash[LW_USER_HASH_MAX + 1]; /* stored hash; "" for none */
    char password[LW_WEBREQ_PASSWORD_MAX + 1]; /* what was typed */
    bool ok;                        /* the answer */
};

struct lww_login {
    pthread_t thread;               /* the worker */
    pthread_mutex_t mu;             /* guards the rest */
    pthread_cond_t cv;              /* work or stop */
    struct lww_login_job *todo;     /* waiting for the worker (FIFO) */
    struct lww_login_job *done;     /* answered, for the loop */
    bool stop;                      /* the worker should exit */
    ev_async async;                 /* the worker woke the loop */
};

static void *worker(void *arg)
{
    struct lww_login *l = arg;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct lww_login_job *j;
        while (!l->todo && !l->stop)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop && !l->todo)
            break;
        j = l->todo;
        l->todo = j->next;
        pthread_mutex_unlock(&l->mu);
        j->ok = lw_user_password_check(j->hash, j->password);
        sodium_memzero(j->password, sizeof(j->password));
        pthread_mutex_lock(&l->mu);
        j->next = l->done;
        l->done = j;
        pthread_mutex_unlock(&l->mu);
        /* ev_async_send is the one libev call safe from another thread */
        ev_async_send(((struct lww *)l->async.data)->loop, &l->async);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Hands finished jobs back to their requests. */
static void finish(struct lww *w, struct lww_login_job *j)
{
    while (j) {
        struct lww_login_job *next = j->next;
        j->r->login_state = LWW_LOGIN_DONE;
        j->r->login_ok = j->ok;
        MHD_resume_connection(j->r->conn);
        free(j);
        j = next;
    }
    lww_http_kick(w);
}

static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    struct lww *w = a->data;
    struct lww_login_job *j;

    (void)loop;
    (void)revents;
    pthread_mutex_lock(&w->login->mu);
    j = w->login->done;
    w->login->done = NULL;
    pthread_mutex_unlock(&w->login->mu);
    finish(w, j);
}

int lww_login_init(struct lww *w)
{
    struct lww_login *l = calloc(1, sizeof(*l));

    if (!l)
        return -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    ev_async_init(&l->async, async_cb);
    l->async.data = w;
    ev_async_start(w->loop, &l->async);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        lwrt_log(LOG_ERR, "cannot start the password-check thread");
        ev_async_stop(w->loop, &l->async);
        free(l);
        return -1;
    }
    w->login = l;
    return 0;
}

int lww_login_start(struct lww_req *r, const char *hash, const char *password)
{
    struct lww_login *l = r->w->login;
    struct lww_login_job *j, **p;

    if (!l || !(j = calloc(1, sizeof(*j))))
        return -1;
    j->r = r;
    snprintf(j->hash, sizeof(j->hash), "%s", hash);
    snprintf(j->password, sizeof(j->password), "%s", password);
    r->login_state = LWW_LOGIN_PENDING;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&l->mu);
    for (p = &l->todo; *p; p = &(*p)->next)
        ;
    *p = j;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void lww_login_release(struct lww *w)
{
    struct lww_login *l = w->login;
    struct lww_login_job *j;

    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL); /* finishes the queue first */
    ev_async_stop(w->loop, &l->async);
    j = l->done;
    l->done = NULL;
    if (j && w->mhd)
        finish(w, j); /* suspended connections must be resumed before
                         MHD stops */
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    w->login = NULL;
}
