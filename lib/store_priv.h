/*
 * store_priv.h - what other core modules (registry.c) need of the store's
 * internals: its SQLite connection and its error sentence. Not installed,
 * not for the daemon or the CLI.
 */
#ifndef LIENWATCH_STORE_PRIV_H
#define LIENWATCH_STORE_PRIV_H

#include <sqlite3.h>

#include "lienwatch/store.h"

/* The connection of s (borrowed; valid until lw_store_close). */
sqlite3 *lw_store_sqlite(struct lw_store *s);

/* Records a failure sentence for lw_store_errmsg. */
void lw_store_seterr(struct lw_store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A prepared statement for sql, cached in s by the ADDRESS of sql (pass a
 * string literal), ready to bind and step. When the cached one is still in
 * use (a callback re-entered the same query) a fresh one is prepared. NULL
 * on failure (sqlite3_errmsg tells why). End every use with
 * lw_store_release_stmt, which resets a cached statement (so no read
 * transaction stays open) and finalizes an uncached one.
 */
sqlite3_stmt *lw_store_prepare_cached(struct lw_store *s, const char *sql);
void lw_store_release_stmt(struct lw_store *s, sqlite3_stmt *st);

/* Schema migration 2 (registry.c): vehicles, accounts, geofences, alerts. */
extern const char lw_registry_migration_2[];

/* Schema migration 3 (outbox.c): the mail outbox, held alerts. */
extern const char lw_outbox_migration_3[];

#endif
