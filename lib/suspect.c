/*
 * suspect.c - see suspect.h.
 */
#include <stdbool.h>
#include <string.h>

#include "lienwatch/suspect.h"
#include "store_priv.h"

static const char SQL_MARK[] =
    "INSERT INTO fix_suspect (device, fix_time_ms, kind) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (device, fix_time_ms) DO UPDATE SET kind = excluded.kind";
/* the suspect fix became the last-known one: the kept fix goes back, when
 * it is stored */
static const char SQL_KEEP[] =
    "UPDATE devices SET (last_fix_time_ms, last_recv_time_ms, last_lat_deg, "
    "last_lon_deg, last_speed_mps, last_course_deg, last_accuracy_m, "
    "last_alt_m, last_battery_pct, last_trigger_code) = "
    "(SELECT fix_time_ms, recv_time_ms, lat_deg, lon_deg, speed_mps, "
    "course_deg, accuracy_m, alt_m, battery_pct, trigger_code FROM fixes "
    "WHERE device = ?1 AND fix_time_ms = ?3) "
    "WHERE id = ?1 AND last_fix_time_ms = ?2 AND EXISTS "
    "(SELECT 1 FROM fixes WHERE device = ?1 AND fix_time_ms = ?3)";
/* whether the table exists: a read-only handle on an older database */
static const char SQL_HAS_TABLE[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
    "AND name = 'fix_suspect'";
static const char SQL_EACH[] =
    "SELECT fix_time_ms, kind FROM fix_suspect WHERE device = ?1 "
    "AND fix_time_ms BETWEEN ?2 AND ?3 ORDER BY fix_time_ms";

enum lw_err lw_suspect_mark(struct lw_store *s, const char *device,
                            int64_t fix_time_ms, const char *kind,
                            int64_t keep_ms)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!db || !device || !device[0] || !kind || !kind[0] ||
        strlen(kind) > LW_SUSPECT_KIND_MAX)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_MARK, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_int64(db, st, 2, fix_time_ms);
    lw_db_bind_text(db, st, 3, kind);
    e = lw_db_run_bound(db, st, "flagging a suspect fix");
    if (e != LW_OK)
        return e;
    st = lw_db_stmt(db, SQL_KEEP, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_int64(db, st, 2, fix_time_ms);
    lw_db_bind_int64(db, st, 3, keep_ms);
    return lw_db_run_bound(db, st, "keeping the last-known fix");
}

static int visit(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_suspect_cb *cb = cbp;

    return (*cb)(ctx, sqlite3_column_int64(st, 0), lw_db_col_str(st, 1));
}

enum lw_err lw_suspect_each(struct lw_store *s, const char *device,
                            int64_t from_ms, int64_t to_ms, lw_suspect_cb cb,
                            void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;
    bool has;
    int rc;

    if (!db || !device || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, SQL_HAS_TABLE, &e);
    if (!st)
        return e;
    rc = lw_db_step(db, st);
    if (rc != SQLITE_ROW) {
        e = lw_db_fail(db, rc, "looking for suspect fixes");
        lw_db_done(db, st);
        return e;
    }
    has = sqlite3_column_int(st, 0) > 0;
    lw_db_done(db, st);
    if (!has)
        return LW_OK;
    st = lw_db_stmt(db, SQL_EACH, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_int64(db, st, 2, from_ms);
    lw_db_bind_int64(db, st, 3, to_ms);
    return lw_db_each_row(db, st, visit, &cb, ctx, "listing suspect fixes");
}
