/*
 * err.h - the one error enum of the lienwatch core.
 *
 * Every action function of lib/ returns an enum lw_err; LW_OK (0) is success.
 * Functions that can say more take a caller buffer (char *err, size_t errlen)
 * and write a NUL-terminated sentence into it on failure; the buffer may be
 * NULL when the caller does not want the detail.
 */
#ifndef LIENWATCH_ERR_H
#define LIENWATCH_ERR_H

#include <stddef.h>

enum lw_err {
    LW_OK = 0,      /* success */
    LW_ERR_NOMEM,   /* out of memory */
    LW_ERR_INVAL,   /* invalid argument or input */
    LW_ERR_IO,      /* file or database I/O failed */
    LW_ERR_DB,      /* SQLite reported an error */
    LW_ERR_NOTFOUND, /* the thing asked for does not exist */
    LW_ERR_BUSY,    /* the database stayed locked past busy_timeout */
    LW_ERR_CONFIG,  /* a configuration file or value is invalid */
    LW_ERR_SCHEMA,  /* the database schema is newer than this build */
    LW_ERR_RANGE,   /* a value is outside its allowed range */
    LW_ERR_COUNT_   /* number of codes; not an error */
};

/* Returns a static English sentence for 'e'; never NULL. */
const char *lw_strerror(enum lw_err e);

/*
 * Formats into err (when err != NULL and errlen > 0), always NUL-terminated.
 * Convenience for lib/ modules filling the caller's detail buffer.
 */
void lw_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Copies the NUL-terminated src into dst (dstlen bytes), truncating, always
 * NUL-terminated when dstlen > 0. Returns dst. For the per-message path,
 * where snprintf("%s") costs ten times as much.
 */
char *lw_copy(char *dst, size_t dstlen, const char *src);

#endif
