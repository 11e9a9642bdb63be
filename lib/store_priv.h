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

/* Schema migration 2 (registry.c): vehicles, accounts, geofences, alerts. */
extern const char lw_registry_migration_2[];

/* Schema migration 3 (outbox.c): the mail outbox, held alerts. */
extern const char lw_outbox_migration_3[];

#endif
