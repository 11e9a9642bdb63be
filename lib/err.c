/*
 * err.c - lw_strerror and the caller-buffer detail helper.
 */
#include <stdarg.h>
#include <stdio.h>

#include "lienwatch/err.h"

static const char *const messages[LW_ERR_COUNT_] = {
    [LW_OK] = "success",
    [LW_ERR_NOMEM] = "out of memory",
    [LW_ERR_INVAL] = "invalid argument",
    [LW_ERR_IO] = "input/output error",
    [LW_ERR_DB] = "database error",
    [LW_ERR_NOTFOUND] = "not found",
    [LW_ERR_BUSY] = "database is busy",
    [LW_ERR_CONFIG] = "invalid configuration",
    [LW_ERR_SCHEMA] = "database schema does not match this program",
    [LW_ERR_RANGE] = "value out of range",
    [LW_ERR_FULL] = "disk or database is full",
    [LW_ERR_READONLY] = "database is read-only for this process",
    [LW_ERR_CORRUPT] = "database file is damaged or not a database",
    [LW_ERR_EXISTS] = "already exists",
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
