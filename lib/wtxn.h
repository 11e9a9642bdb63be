/*
 * wtxn.h - a write of several statements, all or nothing, for the core
 * modules that change more than one row (users.c, cases.c, commands.c):
 * in the caller's write transaction when one is open (as a savepoint, so a
 * failure undoes this write alone), else in one of its own (BEGIN
 * IMMEDIATE). Private to lib/.
 */
#ifndef LIENWATCH_WTXN_H
#define LIENWATCH_WTXN_H

#include <stdbool.h>

#include "db.h"

/* Refuses a write on a read-only connection (LW_ERR_INVAL, reason
 * recorded), else LW_OK. */
static inline enum lw_err lw_wtxn_writable(struct lw_db *db)
{
    if (!lw_db_sqlite(db))
        return LW_ERR_INVAL;
    if (sqlite3_db_readonly(lw_db_sqlite(db), "main") == 1) {
        lw_db_seterr(db, "the store was opened read-only");
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Starts the write; *own says whether it is a transaction of its own. */
static inline enum lw_err lw_wtxn_begin(struct lw_db *db, const char *name,
                                        bool *own)
{
    *own = !lw_db_in_txn(db);
    return *own ? lw_db_begin(db) : lw_db_savepoint(db, name);
}

/* Ends the write: kept when e is LW_OK (and the commit works), else
 * undone. Returns e or the commit's failure; the first failure's sentence
 * is kept. */
static inline enum lw_err lw_wtxn_end(struct lw_db *db, const char *name,
                                      bool own, enum lw_err e)
{
    if (!own)
        return lw_db_savepoint_end(db, name, e);
    if (e == LW_OK)
        e = lw_db_commit(db);
    if (e != LW_OK && lw_db_in_txn(db))
        sqlite3_exec(lw_db_sqlite(db), "ROLLBACK", NULL, NULL, NULL);
    return e;
}

#endif
