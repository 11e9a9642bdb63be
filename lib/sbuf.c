/*
 * sbuf.c - see sbuf.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

/* First allocation; doubled from there. */
#define SB_MIN_CAP 256

/* Makes room for n more bytes and the NUL; false (oom set) on failure. */
static bool reserve(struct lw_sb *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return false;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->oom = true;
        return false;
    }
    need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : SB_MIN_CAP;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void lw_sb_putn(struct lw_sb *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void lw_sb_puts(struct lw_sb *b, const char *s)
{
    lw_sb_putn(b, s, strlen(s));
}

void lw_sb_putc(struct lw_sb *b, char c)
{
    lw_sb_putn(b, &c, 1);
}

void lw_sb_printf(struct lw_sb *b, const char *fmt, ...)
{
    va_list ap, aq;
    int n;

    if (b->oom)
        return;
    va_start(ap, fmt);
    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        b->oom = true;
    else if (reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

char *lw_sb_take(struct lw_sb *b)
{
    char *p;

    if (b->oom) {
        lw_sb_release(b);
        return NULL;
    }
    p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void lw_sb_release(struct lw_sb *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
