/*
 * err.h - the one error enum of the lienwatch core.
 *
 * Every action function of lib/ returns an enum lw_err; LW_OK (0) is success.
 * Functions that can say more take a caller buffer (char *err, size_t errlen)
 * and write a NUL-terminated sentence into it on failure; the buffer may be
 * NULL when the caller does not want the detail.
 *
 * Database failures come in classes a caller can act on (lib/db.c maps
 * every SQLite result code to one of them):
 *   LW_ERR_BUSY      another connection holds the lock: transient, retry
 *                    the same work later (a short busy timeout and a timer
 *                    keep a loop responsive);
 *   LW_ERR_FULL      the disk (or the database's page limit) is full: the
 *                    operator must make room; retrying slowly is right;
 *   LW_ERR_READONLY  this process may not write the database (permissions,
 *                    a read-only file system, a file replaced under it);
 *   LW_ERR_IO        the operating system reported an I/O error, or the
 *                    file cannot be opened;
 *   LW_ERR_CORRUPT   the file is damaged or is not an SQLite database;
 *   LW_ERR_NOMEM     SQLite ran out of memory;
 *   LW_ERR_DB        anything else SQLite reports (a constraint, an SQL
 *                    error, an interrupted statement): a bug or a schema
 *                    that is not ours, not a condition to wait out.
 * Codes are never renumbered: new ones go before LW_ERR_COUNT_.
 */
#ifndef LIENWATCH_ERR_H
#define LIENWATCH_ERR_H

#include <stddef.h>

enum lw_err {
    LW_OK = 0,      /* success */
    LW_ERR_NOMEM,   /* out of memory */
    LW_ERR_INVAL,   /* invalid argument or input */
    LW_ERR_IO,      /* file or database I/O failed */
    LW_ERR_DB,      /* SQLite reported another error (see above) */
    LW_ERR_NOTFOUND, /* the thing asked for does not exist */
    LW_ERR_BUSY,    /* the database stayed locked past the busy timeout */
    LW_ERR_CONFIG,  /* a configuration file or value is invalid */
    LW_ERR_SCHEMA,  /* the database schema is not the one this build reads */
    LW_ERR_RANGE,   /* a value is outside its allowed range */
    LW_ERR_FULL,    /* the disk or the database is full */
    LW_ERR_READONLY, /* the database may not be written by this process */
    LW_ERR_CORRUPT, /* the database file is damaged or not a database */
    LW_ERR_EXISTS,  /* the thing to create exists already (a name taken) */
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
 * The class of an SQLite result code (primary or extended), for the
 * programs that keep a database of their own (lw-gpsbridge's spool): the
 * same mapping the core's SQL layer uses, so a full disk is LW_ERR_FULL
 * and a locked file LW_ERR_BUSY everywhere. SQLITE_OK, _ROW and _DONE are
 * LW_OK.
 */
enum lw_err lw_err_from_sqlite(int rc);

/* lw_copy moved to text.h; included here for the callers that still find
 * it through this header. */
#include "lienwatch/text.h"

#endif
