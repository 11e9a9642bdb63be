/*
 * err.c - lw_strerror and the caller-buffer detail helper.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lienwatch/err.h"
#include "lienwatch/fix.h"

static const char *const messages[LW_ERR_COUNT_] = {
    [LW_OK] = "success",
    [LW_ERR_NOMEM] = "out of memory",
    [LW_ERR_INVAL] = "invalid argument",
    [LW_ERR_IO] = "input/output error",
    [LW_ERR_DB] = "database error",
    [LW_ERR_NOTFOUND] = "not found",
    [LW_ERR_BUSY] = "database is busy",
    [LW_ERR_CONFIG] = "invalid configuration",
    [LW_ERR_SCHEMA] = "database schema is newer than this program",
    [LW_ERR_RANGE] = "value out of range",
};

const char *lw_strerror(enum lw_err e)
{
    if ((unsigned)e >= LW_ERR_COUNT_ || !messages[e])
        return "unknown error";
    return messages[e];
}

void lw_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void lw_fix_init(struct lw_fix *f)
{
    *f = (struct lw_fix){0};
    f->speed_mps = NAN;
    f->course_deg = NAN;
    f->accuracy_m = NAN;
    f->alt_m = NAN;
    f->battery_pct = -1;
}

char *lw_copy(char *dst, size_t dstlen, const char *src)
{
    size_t n;

    if (!dst || dstlen == 0)
        return dst;
    n = src ? strnlen(src, dstlen - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return dst;
}
