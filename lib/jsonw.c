/*
 * jsonw.c - the streaming JSON writer (jsonw.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/jsonw.h"
#include "lienwatch/text.h"

/* The first allocation, bytes. */
#define FIRST_CAP 4096
/* Room for one number's text. */
#define NUM_MAX 40

void lw_jw_init(struct lw_jw *w)
{
    memset(w, 0, sizeof(*w));
}

/* Makes room for n more bytes and the NUL. */
static bool room(struct lw_jw *w, size_t n)
{
    size_t cap;
    char *p;

    if (w->failed)
        return false;
    if (w->len + n + 1 <= w->cap)
        return true;
    cap = w->cap ? w->cap : FIRST_CAP;
    while (cap < w->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            w->failed = true;
            return false;
        }
        cap *= 2;
    }
    p = realloc(w->p, cap);
    if (!p) {
        w->failed = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

static void put(struct lw_jw *w, const char *s, size_t n)
{
    if (!room(w, n))
        return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

/* Before a value: the comma after an earlier element; a value in an
 * object must follow its key. */
static bool value_starts(struct lw_jw *w)
{
    if (w->failed)
        return false;
    if (w->depth > 0) {
        if (w->obj[w->depth - 1]) {
            if (!w->keyed) {
                w->failed = true;
                return false;
            }
            w->keyed = false;
        } else {
            if (w->more[w->depth - 1])
                put(w, ",", 1);
            w->more[w->depth - 1] = true;
        }
    } else if (w->len > 0) {
        w->failed = true; /* a second top-level value */
        return false;
    }
    return !w->failed;
}

static void open_container(struct lw_jw *w, bool obj)
{
    if (!value_starts(w))
        return;
    if (w->depth == LW_JW_DEPTH) {
        w->failed = true;
        return;
    }
    w->obj[w->depth] = obj;
    w->more[w->depth] = false;
    w->depth++;
    put(w, obj ? "{" : "[", 1);
}

static void close_container(struct lw_jw *w, bool obj)
{
    if (w->failed)
        return;
    if (w->depth == 0 || w->obj[w->depth - 1] != obj || w->keyed) {
        w->failed = true;
        return;
    }
    w->depth--;
    put(w, obj ? "}" : "]", 1);
}

void lw_jw_object(struct lw_jw *w)
{
    open_container(w, true);
}
void lw_jw_object_end(struct lw_jw *w)
{
    close_container(w, true);
}
void lw_jw_array(struct lw_jw *w)
{
    open_container(w, false);
}
void lw_jw_array_end(struct lw_jw *w)
{
    close_container(w, false);
}

static void put_u(struct lw_jw *w, unsigned v)
{
    char b[8];

    snprintf(b, sizeof(b), "\\u%04X", v & 0xFFFFu);
    put(w, b, 6);
}

static void put_escaped(struct lw_jw *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *run = s;
    unsigned long ucp;
    size_t n;
    long cp;

    put(w, "\"", 1);
    while (*s) {
        unsigned c = *s;
        if (c >= 0x20 && c <= 0x7F && c != '"' && c != '\\') {
            s++;
            continue;
        }
        put(w, (const char *)run, (size_t)(s - run));
        switch (c) {
        case '"':
            put(w, "\\\"", 2);
            n = 1;
            break;
        case '\\':
            put(w, "\\\\", 2);
            n = 1;
            break;
        case '\b':
            put(w, "\\b", 2);
            n = 1;
            break;
        case '\f':
            put(w, "\\f", 2);
            n = 1;
            break;
        case '\n':
            put(w, "\\n", 2);
            n = 1;
            break;
        case '\r':
            put(w, "\\r", 2);
            n = 1;
            break;
        case '\t':
            put(w, "\\t", 2);
            n = 1;
            break;
        default:
            n = lw_utf8_next(s, &ucp);
            cp = n ? (long)ucp : 0xFFFD;
            if (!n)
                n = 1; /* the byte is replaced */
            if (cp >= 0x10000) {
                cp -= 0x10000;
                put_u(w, 0xD800u | (unsigned)(cp >> 10));
                put_u(w, 0xDC00u | (unsigned)(cp & 0x3FF));
            } else {
                put_u(w, (unsigned)cp);
            }
        }
        s += n;
        run = s;
    }
    put(w, (const char *)run, (size_t)(s - run));
    put(w, "\"", 1);
}

void lw_jw_key(struct lw_jw *w, const char *key)
{
    if (w->failed)
        return;
    if (w->depth == 0 || !w->obj[w->depth - 1] || w->keyed || !key) {
        w->failed = true;
        return;
    }
    if (w->more[w->depth - 1])
        put(w, ",", 1);
    w->more[w->depth - 1] = true;
    put_escaped(w, key);
    put(w, ":", 1);
    w->keyed = true;
}

void lw_jw_string(struct lw_jw *w, const char *s)
{
    if (!s) {
        lw_jw_null(w);
        return;
    }
    if (value_starts(w))
        put_escaped(w, s);
}

void lw_jw_string_or_null(struct lw_jw *w, const char *s)
{
    lw_jw_string(w, s && s[0] ? s : NULL);
}

void lw_jw_int(struct lw_jw *w, int64_t v)
{
    char b[NUM_MAX];
    int n;

    if (!value_starts(w))
        return;
    n = snprintf(b, sizeof(b), "%" PRId64, v);
    put(w, b, (size_t)n);
}

void lw_jw_real(struct lw_jw *w, double v)
{
    char b[NUM_MAX];
    int n;

    if (!isfinite(v)) {
        lw_jw_null(w);
        return;
    }
    if (!value_starts(w))
        return;
    n = snprintf(b, sizeof(b), "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof(b) - 2) {
        w->failed = true;
        return;
    }
    /* as jansson: a real never reads back as an integer */
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    put(w, b, (size_t)n);
}

void lw_jw_bool(struct lw_jw *w, bool v)
{
    if (value_starts(w))
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void lw_jw_null(struct lw_jw *w)
{
    if (value_starts(w))
        put(w, "null", 4);
}

void lw_jw_raw(struct lw_jw *w, const char *json)
{
    if (!json) {
        lw_jw_null(w);
        return;
    }
    if (value_starts(w))
        put(w, json, strlen(json));
}

void lw_jw_kstring(struct lw_jw *w, const char *key, const char *s)
{
    lw_jw_key(w, key);
    lw_jw_string(w, s);
}

void lw_jw_kint(struct lw_jw *w, const char *key, int64_t v)
{
    lw_jw_key(w, key);
    lw_jw_int(w, v);
}

void lw_jw_kreal(struct lw_jw *w, const char *key, double v)
{
    lw_jw_key(w, key);
    lw_jw_real(w, v);
}

void lw_jw_kbool(struct lw_jw *w, const char *key, bool v)
{
    lw_jw_key(w, key);
    lw_jw_bool(w, v);
}

char *lw_jw_take(struct lw_jw *w, size_t *len)
{
    char *p = w->p;
    size_t n = w->len;
    bool ok = !w->failed && w->depth == 0 && !w->keyed && p;

    memset(w, 0, sizeof(*w));
    if (!ok) {
        free(p);
        return NULL;
    }
    if (len)
        *len = n;
    return p;
}

size_t lw_jw_len(const struct lw_jw *w)
{
    return w->len;
}

const char *lw_jw_text(const struct lw_jw *w)
{
    return w->p ? w->p : "";
}

void lw_jw_release(struct lw_jw *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}
