/*
 * session.c - web sessions and login throttling in memory (session.h).
 *
 * Sessions are an array searched by the SHA-256 of the token: a web service
 * has tens to hundreds of them, and a linear scan of 32-byte hashes costs
 * microseconds. The throttle is an array of keys ("u:" + user name or
 * "a:" + client address) with a fixed window starting at a key's first
 * failure.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/session.h"

#define HASH_BYTES crypto_hash_sha256_BYTES
#define TOKEN_BYTES 32
#define DEFAULT_MAX_SESSIONS 100000
/* longest throttle key: "u:" or "a:" plus a name or an address */
#define KEY_MAX (LW_SESSION_USER_MAX + 64)

struct session {
    unsigned char hash[HASH_BYTES]; /* SHA-256 of the token */
    struct lw_session_info info;    /* what the session is */
};

struct throttle {
    char key[KEY_MAX + 1]; /* "u:NAME" or "a:ADDRESS" */
    int64_t start_ms;      /* first failure of the window */
    int failures;          /* failures in the window */
};

struct lw_sessions {
    struct lw_session_opts o; /* options */
    struct session *v;        /* live sessions (and expired, until swept) */
    size_t n, cap;            /* used, allocated */
    struct throttle *t;       /* throttle windows */
    size_t nt, capt;          /* used, allocated */
    uint64_t serial;          /* last serial given */
};

enum lw_err lw_sessions_new(struct lw_sessions **out,
                            const struct lw_session_opts *o)
{
    struct lw_sessions *s;

    if (!out)
        return LW_ERR_INVAL;
    *out = NULL;
    if (!o || o->idle_ms <= 0 || o->max_ms <= 0 || o->max_failures < 1 ||
        o->window_ms <= 0)
        return LW_ERR_INVAL;
    if (sodium_init() < 0)
        return LW_ERR_IO;
    s = calloc(1, sizeof(*s));
    if (!s)
        return LW_ERR_NOMEM;
    s->o = *o;
    if (s->o.max_sessions == 0)
        s->o.max_sessions = DEFAULT_MAX_SESSIONS;
    *out = s;
    return LW_OK;
}

void lw_sessions_free(struct lw_sessions *s)
{
    if (!s)
        return;
    if (s->v)
        sodium_memzero(s->v, s->cap * sizeof(*s->v));
    free(s->v);
    free(s->t);
    free(s);
}

static void hash_token(const char *token, unsigned char out[HASH_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

/* 32 random bytes as base64url text. */
static void random_text(char out[LW_SESSION_TOKEN_LEN])
{
    unsigned char raw[TOKEN_BYTES];

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, LW_SESSION_TOKEN_LEN, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

static bool expired(const struct lw_sessions *s, const struct session *x,
                    int64_t now_ms)
{
    return now_ms - x->info.used_ms >= s->o.idle_ms ||
           now_ms - x->info.created_ms >= s->o.max_ms;
}

static void drop(struct lw_sessions *s, size_t i)
{
    s->v[i] = s->v[s->n - 1];
    sodium_memzero(&s->v[s->n - 1], sizeof(s->v[0]));
    s->n--;
}

enum lw_err lw_session_create(struct lw_sessions *s, const char *user,
                              unsigned roles, int64_t now_ms,
                              char token[LW_SESSION_TOKEN_LEN],
                              struct lw_session_info *info)
{
    struct session *x;
    size_t len;

    if (!s || !user || !token)
        return LW_ERR_INVAL;
    len = strlen(user);
    if (len == 0 || len > LW_SESSION_USER_MAX)
        return LW_ERR_INVAL;
    lw_session_sweep(s, now_ms);
    if (s->n >= s->o.max_sessions) {
        size_t oldest = 0;
        for (size_t i = 1; i < s->n; i++)
            if (s->v[i].info.used_ms < s->v[oldest].info.used_ms)
                oldest = i;
        drop(s, oldest);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct session *v = calloc(cap, sizeof(*v));
        if (!v)
            return LW_ERR_NOMEM;
        if (s->v) {
            memcpy(v, s->v, s->n * sizeof(*v));
            sodium_memzero(s->v, s->cap * sizeof(*s->v));
            free(s->v);
        }
        s->v = v;
        s->cap = cap;
    }
    x = &s->v[s->n++];
    memset(x, 0, sizeof(*x));
    random_text(token);
    hash_token(token, x->hash);
    memcpy(x->info.user, user, len + 1);
    x->info.roles = roles;
    random_text(x->info.csrf);
    x->info.created_ms = now_ms;
    x->info.used_ms = now_ms;
    x->info.serial = ++s->serial;
    if (info)
        *info = x->info;
    return LW_OK;
}

/* Index of the session of token, or -1. */
static long find(const struct lw_sessions *s, const char *token)
{
    unsigned char h[HASH_BYTES];

    if (strlen(token) != LW_SESSION_TOKEN_LEN - 1)
        return -1;
    hash_token(token, h);
    for (size_t i = 0; i < s->n; i++)
        if (sodium_memcmp(h, s->v[i].hash, HASH_BYTES) == 0)
            return (long)i;
    return -1;
}

enum lw_err lw_session_check(struct lw_sessions *s, const char *token,
                             int64_t now_ms, struct lw_session_info *info)
{
    long i;

    if (!s || !token)
        return LW_ERR_INVAL;
    i = find(s, token);
    if (i < 0)
        return LW_ERR_NOTFOUND;
    if (expired(s, &s->v[i], now_ms)) {
        drop(s, (size_t)i);
        return LW_ERR_NOTFOUND;
    }
    s->v[i].info.used_ms = now_ms;
    if (info)
        *info = s->v[i].info;
    return LW_OK;
}

bool lw_session_alive(struct lw_sessions *s, uint64_t serial, int64_t now_ms)
{
    if (!s)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].info.serial == serial)
            return !expired(s, &s->v[i], now_ms);
    return false;
}

enum lw_err lw_session_end(struct lw_sessions *s, const char *token)
{
    long i;

    if (!s || !token)
        return LW_ERR_INVAL;
    i = find(s, token);
    if (i < 0)
        return LW_ERR_NOTFOUND;
    drop(s, (size_t)i);
    return LW_OK;
}

size_t lw_session_end_user(struct lw_sessions *s, const char *user)
{
    size_t n = 0;

    if (!s || !user)
        return 0;
    for (size_t i = 0; i < s->n;) {
        if (strcmp(s->v[i].info.user, user) == 0) {
            drop(s, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

size_t lw_session_sweep(struct lw_sessions *s, int64_t now_ms)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < s->n;) {
        if (expired(s, &s->v[i], now_ms))
            drop(s, i);
        else
            i++;
    }
    for (size_t i = 0; i < s->nt;) {
        if (now_ms - s->t[i].start_ms >= s->o.window_ms)
            s->t[i] = s->t[--s->nt];
        else
            i++;
    }
    return s->n;
}

bool lw_session_csrf_ok(const struct lw_session_info *info,
                        const char *header)
{
    if (!info || !header || strlen(header) != LW_SESSION_TOKEN_LEN - 1)
        return false;
    return sodium_memcmp(info->csrf, header, LW_SESSION_TOKEN_LEN - 1) == 0;
}

/* ---- throttling ---------------------------------------------------------- */

static void make_key(char out[KEY_MAX + 1], char kind, const char *what)
{
    /* a longer name is cut: it still counts against its prefix */
    snprintf(out, KEY_MAX + 1, "%c:%s", kind, what);
}

static struct throttle *tfind(struct lw_sessions *s, const char *key,
                              int64_t now_ms)
{
    for (size_t i = 0; i < s->nt; i++) {
        if (strcmp(s->t[i].key, key) != 0)
            continue;
        if (now_ms - s->t[i].start_ms >= s->o.window_ms) {
            s->t[i] = s->t[--s->nt];
            return NULL;
        }
        return &s->t[i];
    }
    return NULL;
}

static bool one_throttled(struct lw_sessions *s, char kind, const char *what,
                          int64_t now_ms, int64_t *retry_s)
{
    char key[KEY_MAX + 1];
    struct throttle *t;

    if (!what || !what[0])
        return false;
    make_key(key, kind, what);
    t = tfind(s, key, now_ms);
    if (!t || t->failures < s->o.max_failures)
        return false;
    if (retry_s) {
        int64_t left = t->start_ms + s->o.window_ms - now_ms;
        int64_t r = (left + 999) / 1000;
        if (r > *retry_s)
            *retry_s = r;
    }
    return true;
}

bool lw_login_throttled(struct lw_sessions *s, const char *user,
                        const char *client, int64_t now_ms, int64_t *retry_s)
{
    bool u, a;

    if (!s)
        return false;
    if (retry_s)
        *retry_s = 0;
    u = one_throttled(s, 'u', user, now_ms, retry_s);
    a = one_throttled(s, 'a', client, now_ms, retry_s);
    return u || a;
}

static void one_failed(struct lw_sessions *s, char kind, const char *what,
                       int64_t now_ms)
{
    char key[KEY_MAX + 1];
    struct throttle *t;

    if (!what || !what[0])
        return;
    make_key(key, kind, what);
    t = tfind(s, key, now_ms);
    if (t) {
        if (t->failures < s->o.max_failures)
            t->failures++;
        return;
    }
    if (s->nt >= LW_SESSION_THROTTLE_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < s->nt; i++)
            if (s->t[i].start_ms < s->t[oldest].start_ms)
                oldest = i;
        s->t[oldest] = s->t[--s->nt];
    }
    if (s->nt == s->capt) {
        size_t cap = s->capt ? s->capt * 2 : 16;
        struct throttle *v = realloc(s->t, cap * sizeof(*v));
        if (!v)
            return; /* not counted: the next failure tries again */
        s->t = v;
        s->capt = cap;
    }
    t = &s->t[s->nt++];
    snprintf(t->key, sizeof(t->key), "%s", key);
    t->start_ms = now_ms;
    t->failures = 1;
}

void lw_login_failed(struct lw_sessions *s, const char *user,
                     const char *client, int64_t now_ms)
{
    if (!s)
        return;
    one_failed(s, 'u', user, now_ms);
    one_failed(s, 'a', client, now_ms);
}
