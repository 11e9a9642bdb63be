/*
 * store_priv.h - what the other core modules (registry.c, outbox.c,
 * audit.c) need of a store handle: its connection, through the SQL layer
 * (db.h). Not installed, not for the daemon or the CLI.
 */
#ifndef LIENWATCH_STORE_PRIV_H
#define LIENWATCH_STORE_PRIV_H

#include "db.h"
#include "lienwatch/store.h"

/*
 * The connection of s (borrowed; valid until lw_store_close), NULL for a
 * NULL s. Errors recorded in it are what lw_store_errmsg reports.
 */
struct lw_db *lw_store_db(struct lw_store *s);

#endif
