/*
 * schema.h - the database schema: every migration, and the version of an
 * open database. Private to lib/ (store.c opens and migrates through it);
 * the version this build writes is LW_STORE_SCHEMA_VERSION (store.h).
 */
#ifndef LIENWATCH_SCHEMA_H
#define LIENWATCH_SCHEMA_H

#include "db.h"

/*
 * Reads the schema version of db into *v: the highest version recorded in
 * schema_version, 0 when the database has no schema_version table (empty,
 * or not lienwatch's). Returns LW_OK, LW_ERR_INVAL for a NULL v, or the
 * class of the failure (LW_ERR_CORRUPT for a file that is not a database,
 * LW_ERR_BUSY, ...); the reason is recorded in db.
 */
enum lw_err lw_schema_version(struct lw_db *db, int *v);

/*
 * Applies every migration after db's version, in one write transaction
 * (BEGIN IMMEDIATE: waits for another writer up to the busy timeout).
 * path (borrowed) names the database in error sentences. Returns LW_OK (also
 * when nothing was to do); LW_ERR_SCHEMA for a version newer than this
 * build's, with how to resolve it recorded; or the class of the SQLite
 * failure, with "migration N of PATH: <why>" recorded. Nothing is changed
 * on failure.
 */
enum lw_err lw_schema_migrate(struct lw_db *db, const char *path);

#endif
