/*
 * audit.c - the audit trail (audit.h) on the store's connection.
 *
 * Table audit (schema migration 1): id (insertion order), at_ms, who,
 * action, device (NULL when none), reason (NULL when none), with an index
 * audit_by_device (device, id) for one device's trail.
 */
#include <stdbool.h>

#include "db.h"
#include "lienwatch/audit.h"
#include "store_priv.h"

static const char SQL_ADD[] =
    "INSERT INTO audit (at_ms, who, action, device, reason) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_LIST[] = "SELECT id, at_ms, who, action, device, reason "
                               "FROM audit ORDER BY id";
static const char SQL_LIST_DEVICE[] =
    "SELECT id, at_ms, who, action, device, reason "
    "FROM audit WHERE device = ?1 ORDER BY id";

enum lw_err lw_audit_add(struct lw_store *s, int64_t at_ms, const char *who,
                         const char *action, const char *device,
                         const char *reason)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db))
        return LW_ERR_INVAL;
    if (sqlite3_db_readonly(lw_db_sqlite(db), "main") == 1) {
        lw_db_seterr(db, "the store was opened read-only");
        return LW_ERR_INVAL;
    }
    if (!who || !who[0] || !action || !action[0]) {
        lw_db_seterr(db, "audit record without who or action");
        return LW_ERR_INVAL;
    }
    st = lw_db_stmt(db, SQL_ADD, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, at_ms);
    lw_db_bind_text(db, st, 2, who);
    lw_db_bind_text(db, st, 3, action);
    lw_db_bind_text(db, st, 4, device);
    lw_db_bind_text(db, st, 5, reason);
    return lw_db_run(db, st, "recording an audit entry");
}

static int visit_entry(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_audit_cb *cb = cbp;
    struct lw_audit_entry a;

    a.id = sqlite3_column_int64(st, 0);
    a.at_ms = sqlite3_column_int64(st, 1);
    a.who = lw_db_col_str(st, 2);
    a.action = lw_db_col_str(st, 3);
    a.device = (const char *)sqlite3_column_text(st, 4);
    a.reason = (const char *)sqlite3_column_text(st, 5);
    return (*cb)(ctx, &a);
}

enum lw_err lw_audit_list(struct lw_store *s, const char *device,
                          lw_audit_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!lw_db_sqlite(db) || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, device ? SQL_LIST_DEVICE : SQL_LIST, &e);
    if (!st)
        return e;
    if (device)
        lw_db_bind_text(db, st, 1, device);
    return lw_db_each_row(db, st, visit_entry, &cb, ctx,
                          "reading the audit trail");
}
