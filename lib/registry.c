/*
 * registry.c - vehicles, accounts, geofences and alerts (registry.h), on
 * the store's SQLite connection.
 *
 * Schema migration 2 (lw_registry_migration_2, applied by lw_store_open):
 *   meta            key -> integer: registry_version, alerts_version,
 *                   fence_id_seq (highest geofence id ever given)
 *   accounts        the loan: days past due, status, where it came from
 *   vehicles        device -> VIN, plate, description, account, allowance
 *   geofences       name, kind, GeoJSON feature, dwell limit, one optional
 *                   link (a device or an account; none = every vehicle)
 *   geofence_rtree  R*Tree of the fences' bounding boxes (same id)
 *   alerts          what the engine raised, with its lifecycle and whether
 *                   the broker acknowledged its publication
 *
 * Statements here run rarely (operators' commands, alerts, state topics),
 * so they are prepared per call rather than cached.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "lienwatch/registry.h"
#include "store_priv.h"

const char lw_registry_migration_2[] =
    "CREATE TABLE meta ("
    "  key TEXT NOT NULL PRIMARY KEY,"
    "  value INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE accounts ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  days_past_due INTEGER NOT NULL CHECK (days_past_due >= 0),"
    "  status TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL,"
    "  source TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;"
    "CREATE TABLE vehicles ("
    "  device TEXT NOT NULL PRIMARY KEY,"
    "  vin TEXT NOT NULL DEFAULT '',"
    "  plate TEXT NOT NULL DEFAULT '',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  account TEXT NOT NULL DEFAULT '',"
    "  offline_after_ms INTEGER NOT NULL DEFAULT 0,"
    "  registered_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX vehicles_by_account ON vehicles(account);"
    "CREATE TABLE geofences ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('keep_in', 'keep_out')),"
    "  geojson TEXT NOT NULL,"
    "  max_dwell_ms INTEGER NOT NULL DEFAULT 0,"
    "  link_device TEXT NOT NULL DEFAULT '',"
    "  link_account TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE VIRTUAL TABLE geofence_rtree USING rtree("
    "  id, min_lat, max_lat, min_lon, max_lon);"
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  device TEXT NOT NULL,"
    "  geofence TEXT NOT NULL DEFAULT '',"
    "  fence_tag INTEGER NOT NULL DEFAULT 0,"
    "  raised_ms INTEGER NOT NULL,"
    "  has_fix INTEGER NOT NULL DEFAULT 0,"
    "  fix_time_ms INTEGER,"
    "  recv_time_ms INTEGER,"
    "  lat_deg REAL,"
    "  lon_deg REAL,"
    "  speed_mps REAL,"
    "  course_deg REAL,"
    "  accuracy_m REAL,"
    "  late INTEGER NOT NULL DEFAULT 0,"
    "  age_ms INTEGER NOT NULL DEFAULT 0,"
    "  gap_ms INTEGER NOT NULL DEFAULT 0,"
    "  moved_m REAL,"
    "  state TEXT NOT NULL DEFAULT 'open',"
    "  ack_by TEXT NOT NULL DEFAULT '',"
    "  ack_note TEXT NOT NULL DEFAULT '',"
    "  ack_ms INTEGER NOT NULL DEFAULT 0,"
    "  closed_ms INTEGER NOT NULL DEFAULT 0,"
    "  changed_ms INTEGER NOT NULL,"
    "  published INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX alerts_by_device ON alerts(device, id);"
    "CREATE INDEX alerts_unpublished ON alerts(id) WHERE published = 0;"
    "CREATE INDEX alerts_open ON alerts(id) WHERE state != 'closed';"
    "CREATE INDEX alerts_changed ON alerts(changed_ms);";

static const char *const state_names[] = {
    [LW_ALERT_OPEN] = "open",
    [LW_ALERT_ACKNOWLEDGED] = "acknowledged",
    [LW_ALERT_CLOSED] = "closed",
};

const char *lw_alert_state_name(enum lw_alert_state s)
{
    if (s < LW_ALERT_OPEN || s > LW_ALERT_CLOSED)
        return "unknown";
    return state_names[s];
}

static enum lw_alert_state parse_state(const char *s)
{
    for (int i = LW_ALERT_OPEN; i <= LW_ALERT_CLOSED; i++) {
        if (s && strcmp(s, state_names[i]) == 0)
            return i;
    }
    return LW_ALERT_OPEN;
}

/*
 * The statement for sql (a string literal: the cache is keyed by its
 * address), prepared once per handle; NULL (with the error recorded) on
 * failure. Every use ends with lw_store_release_stmt (through "done").
 */
static sqlite3_stmt *prep(struct lw_store *s, const char *sql)
{
    sqlite3_stmt *st = lw_store_prepare_cached(s, sql);

    if (!st)
        lw_store_seterr(s, "preparing a registry statement: %s",
                        sqlite3_errmsg(lw_store_sqlite(s)));
    return st;
}

/* Runs st to completion (no rows expected), then ends its use. */
static enum lw_err run(struct lw_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    enum lw_err e = LW_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        lw_store_seterr(s, "%s: %s", what, sqlite3_errmsg(lw_store_sqlite(s)));
        e = (rc & 0xff) == SQLITE_BUSY       ? LW_ERR_BUSY
            : (rc & 0xff) == SQLITE_READONLY ? LW_ERR_IO
                                             : LW_ERR_DB;
    }
    lw_store_release_stmt(s, st);
    return e;
}

/*
 * Records the failure rc of a statement being stepped (a listing that broke
 * off), finalizes it and returns the error. Never steps it again: after an
 * error sqlite3_step resets the statement and would start the query over,
 * turning the failure into a silent restart.
 */
static enum lw_err step_fail(struct lw_store *s, sqlite3_stmt *st, int rc,
                             const char *what)
{
    lw_store_seterr(s, "%s: %s", what, sqlite3_errmsg(lw_store_sqlite(s)));
    lw_store_release_stmt(s, st);
    return (rc & 0xff) == SQLITE_BUSY ? LW_ERR_BUSY : LW_ERR_DB;
}

/* Decodes the current row of a statement into row (the struct the statement
 * selects: struct lw_vehicle for VEHICLE_COLS, ...). */
typedef void (*row_decoder)(sqlite3_stmt *st, void *row);

/*
 * Runs st, a lookup by key (prepared and bound), and decodes its row into
 * out with decode. Returns LW_OK, LW_ERR_NOTFOUND when there is no such row
 * (no error recorded: the caller says what is missing, if it wants to), or
 * LW_ERR_DB with "<what>: <SQLite's message>" recorded. Ends st's use.
 */
static enum lw_err get_row(struct lw_store *s, sqlite3_stmt *st,
                           row_decoder decode, void *out, const char *what)
{
    int rc = sqlite3_step(st);
    enum lw_err e;

    if (rc == SQLITE_ROW) {
        decode(st, out);
        e = LW_OK;
    } else if (rc == SQLITE_DONE) {
        e = LW_ERR_NOTFOUND;
    } else {
        lw_store_seterr(s, "%s: %s", what, sqlite3_errmsg(lw_store_sqlite(s)));
        e = LW_ERR_DB;
    }
    lw_store_release_stmt(s, st);
    return e;
}

/*
 * Hands the current row of a listing to its callback: decodes it into a
 * value of the callback's type and returns the callback's result (non-zero
 * stops the listing). cbp points to the typed callback (lw_vehicle_cb, ...).
 */
typedef int (*row_visitor)(sqlite3_stmt *st, const void *cbp, void *ctx);

/*
 * Runs st, a listing (prepared and bound), calling visit(st, cbp, ctx) for
 * each row until it returns non-zero. Returns LW_OK, or the error of a
 * listing that broke off (see step_fail; what names it). Ends st's use.
 */
static enum lw_err each_row(struct lw_store *s, sqlite3_stmt *st,
                            row_visitor visit, const void *cbp, void *ctx,
                            const char *what)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (visit(st, cbp, ctx))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, st, rc, what);
    lw_store_release_stmt(s, st);
    return LW_OK;
}

/* True when the fixed-size field f (size bytes) holds a NUL: a string. */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static void text_col(sqlite3_stmt *st, int col, char *buf, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static double real_col(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL
               ? NAN
               : sqlite3_column_double(st, col);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Adds 1 to meta key (created at 1). Caller holds a transaction or not. */
static enum lw_err bump(struct lw_store *s, const char *key)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO meta(key, value) VALUES (?1, 1) "
                               "ON CONFLICT(key) DO UPDATE SET value = "
                               "value + 1");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return run(s, st, "bumping a version");
}

/* Runs the statement and the version bump in one transaction unless the
 * caller already holds one. */
static enum lw_err write_and_bump(struct lw_store *s, sqlite3_stmt *st,
                                  const char *what, const char *key,
                                  int *changes)
{
    bool own = !lw_store_in_txn(s);
    enum lw_err e;

    if (own && (e = lw_store_begin(s)) != LW_OK) {
        lw_store_release_stmt(s, st);
        return e;
    }
    e = run(s, st, what);
    if (changes)
        *changes = sqlite3_changes(lw_store_sqlite(s));
    if (e == LW_OK && (!changes || *changes > 0))
        e = bump(s, key);
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

/* ---- vehicles ------------------------------------------------------------ */

#define VEHICLE_COLS                                                           \
    "device, vin, plate, description, account, offline_after_ms, "             \
    "registered_ms, updated_ms"

static void row_to_vehicle(sqlite3_stmt *st, void *row)
{
    struct lw_vehicle *v = row;

    memset(v, 0, sizeof(*v));
    text_col(st, 0, v->device, sizeof(v->device));
    text_col(st, 1, v->vin, sizeof(v->vin));
    text_col(st, 2, v->plate, sizeof(v->plate));
    text_col(st, 3, v->description, sizeof(v->description));
    text_col(st, 4, v->account, sizeof(v->account));
    v->offline_after_ms = sqlite3_column_int64(st, 5);
    v->registered_ms = sqlite3_column_int64(st, 6);
    v->updated_ms = sqlite3_column_int64(st, 7);
}

static int visit_vehicle(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_vehicle_cb *cb = cbp;
    struct lw_vehicle v;

    row_to_vehicle(st, &v);
    return (*cb)(ctx, &v);
}

enum lw_err lw_registry_vehicle_set(struct lw_store *s,
                                    const struct lw_vehicle *v, int64_t now_ms)
{
    sqlite3_stmt *st;

    if (!s || !v || !TERMINATED(v->device) || !v->device[0] ||
        !TERMINATED(v->vin) || !TERMINATED(v->plate) ||
        !TERMINATED(v->description) || !TERMINATED(v->account))
        return LW_ERR_INVAL;
    /* "" and < 0 mean "keep": only given fields change on an update */
    st =
        prep(s, "INSERT INTO vehicles(" VEHICLE_COLS ") VALUES "
                "(?1, ?2, ?3, ?4, ?5, max(?6, 0), ?7, ?7) "
                "ON CONFLICT(device) DO UPDATE SET "
                " vin = CASE WHEN ?2 = '' THEN vin ELSE ?2 END,"
                " plate = CASE WHEN ?3 = '' THEN plate ELSE ?3 END,"
                " description = CASE WHEN ?4 = '' THEN description ELSE ?4 END,"
                " account = CASE WHEN ?5 = '' THEN account ELSE ?5 END,"
                " offline_after_ms = CASE WHEN ?6 < 0 THEN offline_after_ms "
                "   ELSE ?6 END,"
                " updated_ms = ?7");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, v->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v->vin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, v->plate, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, v->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, v->account, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, v->offline_after_ms);
    sqlite3_bind_int64(st, 7, now_ms);
    return write_and_bump(s, st, "storing a vehicle", "registry_version", NULL);
}

enum lw_err lw_registry_vehicle_get(struct lw_store *s, const char *device,
                                    struct lw_vehicle *out)
{
    sqlite3_stmt *st;

    if (!s || !device || !out)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " VEHICLE_COLS " FROM vehicles WHERE device = ?1");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    return get_row(s, st, row_to_vehicle, out, "reading a vehicle");
}

enum lw_err lw_registry_vehicles(struct lw_store *s, lw_vehicle_cb cb,
                                 void *ctx)
{
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " VEHICLE_COLS " FROM vehicles ORDER BY device");
    if (!st)
        return LW_ERR_DB;
    return each_row(s, st, visit_vehicle, &cb, ctx, "listing vehicles");
}

enum lw_err lw_registry_account_vehicles(struct lw_store *s,
                                         const char *account,
                                         lw_vehicle_cb cb, void *ctx)
{
    sqlite3_stmt *st;

    if (!s || !account || !cb)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " VEHICLE_COLS " FROM vehicles WHERE account = ?1 "
                 "ORDER BY device");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    return each_row(s, st, visit_vehicle, &cb, ctx, "listing vehicles");
}

/* ---- accounts ------------------------------------------------------------ */

static void row_to_account(sqlite3_stmt *st, void *row)
{
    struct lw_account *a = row;

    memset(a, 0, sizeof(*a));
    text_col(st, 0, a->account, sizeof(a->account));
    a->days_past_due = sqlite3_column_int(st, 1);
    text_col(st, 2, a->status, sizeof(a->status));
    a->updated_ms = sqlite3_column_int64(st, 3);
    text_col(st, 4, a->source, sizeof(a->source));
}

static int visit_account(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_account_cb *cb = cbp;
    struct lw_account a;

    row_to_account(st, &a);
    return (*cb)(ctx, &a);
}

enum lw_err lw_registry_account_set(struct lw_store *s,
                                    const struct lw_account *a)
{
    sqlite3_stmt *st;
    int changes = 0;

    if (!s || !a || !TERMINATED(a->account) || !a->account[0] ||
        a->days_past_due < 0 || !TERMINATED(a->status) ||
        !TERMINATED(a->source))
        return LW_ERR_INVAL;
    /* an unchanged retained message (re-sent on every reconnection) must
     * not count as a registry change */
    st = prep(s, "INSERT INTO accounts(id, days_past_due, status, "
                 "updated_ms, source) VALUES (?1, ?2, ?3, ?4, ?5) "
                 "ON CONFLICT(id) DO UPDATE SET days_past_due = ?2, "
                 "status = ?3, updated_ms = ?4, source = ?5 "
                 "WHERE days_past_due != ?2 OR status != ?3");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, a->account, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, a->days_past_due);
    sqlite3_bind_text(st, 3, a->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->updated_ms);
    sqlite3_bind_text(st, 5, a->source, -1, SQLITE_STATIC);
    return write_and_bump(s, st, "storing an account", "registry_version",
                          &changes);
}

enum lw_err lw_registry_account_get(struct lw_store *s, const char *account,
                                    struct lw_account *out)
{
    sqlite3_stmt *st;

    if (!s || !account || !out)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT id, days_past_due, status, updated_ms, source "
                 "FROM accounts WHERE id = ?1");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    return get_row(s, st, row_to_account, out, "reading an account");
}

enum lw_err lw_registry_accounts(struct lw_store *s, lw_account_cb cb,
                                 void *ctx)
{
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT id, days_past_due, status, updated_ms, source "
                 "FROM accounts ORDER BY id");
    if (!st)
        return LW_ERR_DB;
    return each_row(s, st, visit_account, &cb, ctx, "listing accounts");
}

/* ---- geofences ----------------------------------------------------------- */

#define FENCE_COLS                                                             \
    "g.id, g.name, g.kind, g.max_dwell_ms, r.min_lat, r.min_lon, r.max_lat, "  \
    "r.max_lon, g.link_device, g.link_account, g.geojson"

/* Reads a fence row and calls the lw_geofence_cb at cbp; returns its
 * result. */
static int visit_fence(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_geofence_cb *cb = cbp;
    struct lw_geofence g;
    char kind[16];

    memset(&g, 0, sizeof(g));
    g.id = sqlite3_column_int64(st, 0);
    text_col(st, 1, g.name, sizeof(g.name));
    text_col(st, 2, kind, sizeof(kind));
    if (lw_fence_kind_parse(kind, &g.kind) != LW_OK)
        g.kind = LW_FENCE_KEEP_IN;
    g.max_dwell_ms = sqlite3_column_int64(st, 3);
    g.min_lat = sqlite3_column_double(st, 4);
    g.min_lon = sqlite3_column_double(st, 5);
    g.max_lat = sqlite3_column_double(st, 6);
    g.max_lon = sqlite3_column_double(st, 7);
    text_col(st, 8, g.link_device, sizeof(g.link_device));
    text_col(st, 9, g.link_account, sizeof(g.link_account));
    g.geojson = (const char *)sqlite3_column_text(st, 10);
    if (!g.geojson)
        g.geojson = "";
    return (*cb)(ctx, &g);
}

/* True when the box is finite, inside WGS-84 ranges and not inverted. */
static bool box_ok(const struct lw_geofence *g)
{
    return isfinite(g->min_lat) && isfinite(g->max_lat) &&
           isfinite(g->min_lon) && isfinite(g->max_lon) &&
           g->min_lat >= -90.0 && g->max_lat <= 90.0 && g->min_lon >= -180.0 &&
           g->max_lon <= 180.0 && g->min_lat <= g->max_lat &&
           g->min_lon <= g->max_lon;
}

enum lw_err lw_registry_fence_add(struct lw_store *s,
                                  const struct lw_geofence *g, int64_t now_ms,
                                  int64_t *id)
{
    sqlite3_stmt *st;
    bool own;
    enum lw_err e;
    int64_t newid = 0;
    int rc;

    if (!s || !g || !TERMINATED(g->name) || !g->name[0] || !g->geojson ||
        !TERMINATED(g->link_device) || !TERMINATED(g->link_account) ||
        (g->kind != LW_FENCE_KEEP_IN && g->kind != LW_FENCE_KEEP_OUT))
        return LW_ERR_INVAL;
    if (!box_ok(g)) {
        lw_store_seterr(s, "geofence '%s': invalid bounding box", g->name);
        return LW_ERR_RANGE;
    }
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    /* A fence of the same name is replaced in place: it keeps its id, the
     * tag under which the daemon keeps each vehicle's state for it and which
     * its open alerts carry, so re-importing an unchanged file changes
     * nothing and a changed one is re-evaluated, not raised afresh. */
    /* A new fence never gets the id of a removed one (whose open alerts
     * still carry it as their fence_tag): ids come from meta fence_id_seq,
     * the highest id ever given, not from max(id) + 1. */
    st = prep(s, "INSERT INTO geofences(id, name, kind, geojson, "
                 "max_dwell_ms, link_device, link_account, created_ms) "
                 "VALUES (max(coalesce((SELECT value FROM meta WHERE key = "
                 "'fence_id_seq'), 0), coalesce((SELECT max(id) FROM "
                 "geofences), 0)) + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                 "ON CONFLICT(name) DO UPDATE SET kind = ?2, geojson = ?3, "
                 "max_dwell_ms = ?4, link_device = ?5, link_account = ?6 "
                 "RETURNING id");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lw_fence_kind_name(g->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, g->geojson, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, g->max_dwell_ms > 0 ? g->max_dwell_ms : 0);
    sqlite3_bind_text(st, 5, g->link_device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, g->link_account, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now_ms);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        e = step_fail(s, st, rc, "storing a geofence");
        goto out;
    }
    newid = sqlite3_column_int64(st, 0);
    if ((e = run(s, st, "storing a geofence")) != LW_OK)
        goto out;
    st = prep(s, "INSERT INTO meta(key, value) VALUES ('fence_id_seq', ?1) "
                 "ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, newid);
    if ((e = run(s, st, "numbering a geofence")) != LW_OK)
        goto out;
    /* an R*Tree row is replaced by its id */
    st = prep(s, "INSERT OR REPLACE INTO geofence_rtree(id, min_lat, max_lat, "
                 "min_lon, max_lon) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, newid);
    sqlite3_bind_double(st, 2, g->min_lat);
    sqlite3_bind_double(st, 3, g->max_lat);
    sqlite3_bind_double(st, 4, g->min_lon);
    sqlite3_bind_double(st, 5, g->max_lon);
    if ((e = run(s, st, "indexing a geofence")) != LW_OK)
        goto out;
    e = bump(s, "registry_version");
    if (e == LW_OK && id)
        *id = newid;
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_fence_remove(struct lw_store *s, const char *name)
{
    sqlite3_stmt *st;
    bool own;
    enum lw_err e;
    int changes;

    if (!s || !name)
        return LW_ERR_INVAL;
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    st = prep(s, "DELETE FROM geofence_rtree WHERE id IN "
                 "(SELECT id FROM geofences WHERE name = ?1)");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((e = run(s, st, "removing a geofence")) != LW_OK)
        goto out;
    st = prep(s, "DELETE FROM geofences WHERE name = ?1");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((e = run(s, st, "removing a geofence")) != LW_OK)
        goto out;
    changes = sqlite3_changes(lw_store_sqlite(s));
    if (changes == 0) {
        lw_store_seterr(s, "no geofence named '%s'", name);
        e = LW_ERR_NOTFOUND;
        goto out;
    }
    e = bump(s, "registry_version");
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_fences(struct lw_store *s, lw_geofence_cb cb, void *ctx)
{
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " FENCE_COLS " FROM geofences g "
                 "JOIN geofence_rtree r ON r.id = g.id ORDER BY g.name");
    if (!st)
        return LW_ERR_DB;
    return each_row(s, st, visit_fence, &cb, ctx, "listing geofences");
}

enum lw_err lw_registry_fences_at(struct lw_store *s, double lat_deg,
                                  double lon_deg, lw_geofence_cb cb, void *ctx)
{
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " FENCE_COLS " FROM geofence_rtree r "
                 "JOIN geofences g ON g.id = r.id "
                 "WHERE r.min_lat <= ?1 AND r.max_lat >= ?1 "
                 "AND r.min_lon <= ?2 AND r.max_lon >= ?2 ORDER BY g.name");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_double(st, 1, lat_deg);
    sqlite3_bind_double(st, 2, lon_deg);
    return each_row(s, st, visit_fence, &cb, ctx, "listing geofences");
}

/* ---- alerts ------------------------------------------------------------- */

#define ALERT_COLS                                                             \
    "id, kind, device, geofence, fence_tag, raised_ms, has_fix, fix_time_ms, " \
    "recv_time_ms, lat_deg, lon_deg, speed_mps, course_deg, accuracy_m, "      \
    "late, age_ms, gap_ms, moved_m, state, ack_by, ack_note, ack_ms, "         \
    "closed_ms, published"

static void row_to_alert(sqlite3_stmt *st, void *row)
{
    struct lw_alert_row *r = row;
    char buf[32];
    struct lw_alert *a = &r->a;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    text_col(st, 1, buf, sizeof(buf));
    if (lw_alert_kind_parse(buf, &a->kind) != LW_OK)
        a->kind = 0;
    text_col(st, 2, a->device, sizeof(a->device));
    text_col(st, 3, a->fence, sizeof(a->fence));
    a->fence_tag = sqlite3_column_int64(st, 4);
    a->raised_ms = sqlite3_column_int64(st, 5);
    a->has_fix = sqlite3_column_int(st, 6) != 0;
    lw_fix_init(&a->fix);
    snprintf(a->fix.device, sizeof(a->fix.device), "%s", a->device);
    if (a->has_fix) {
        a->fix.fix_time_ms = sqlite3_column_int64(st, 7);
        a->fix.recv_time_ms = sqlite3_column_int64(st, 8);
        a->fix.lat_deg = sqlite3_column_double(st, 9);
        a->fix.lon_deg = sqlite3_column_double(st, 10);
        a->fix.speed_mps = real_col(st, 11);
        a->fix.course_deg = real_col(st, 12);
        a->fix.accuracy_m = real_col(st, 13);
    }
    a->late = sqlite3_column_int(st, 14) != 0;
    a->age_ms = sqlite3_column_int64(st, 15);
    a->gap_ms = sqlite3_column_int64(st, 16);
    a->moved_m = real_col(st, 17);
    text_col(st, 18, buf, sizeof(buf));
    r->state = parse_state(buf);
    text_col(st, 19, r->ack_by, sizeof(r->ack_by));
    text_col(st, 20, r->ack_note, sizeof(r->ack_note));
    r->ack_ms = sqlite3_column_int64(st, 21);
    r->closed_ms = sqlite3_column_int64(st, 22);
    r->published = sqlite3_column_int(st, 23) != 0;
}

static int visit_alert(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_alert_row_cb *cb = cbp;
    struct lw_alert_row r;

    row_to_alert(st, &r);
    return (*cb)(ctx, &r);
}

enum lw_err lw_registry_alert_add(struct lw_store *s, const struct lw_alert *a,
                                  int64_t *id)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !a || !TERMINATED(a->device) || !a->device[0] ||
        !TERMINATED(a->fence) ||
        strcmp(lw_alert_kind_name(a->kind), "unknown") == 0)
        return LW_ERR_INVAL;
    st = prep(s, "INSERT INTO alerts(kind, device, geofence, fence_tag, "
                 "raised_ms, has_fix, fix_time_ms, recv_time_ms, lat_deg, "
                 "lon_deg, speed_mps, course_deg, accuracy_m, late, age_ms, "
                 "gap_ms, moved_m, changed_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
                 "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?5)");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, lw_alert_kind_name(a->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->fence, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->fence_tag);
    sqlite3_bind_int64(st, 5, a->raised_ms);
    sqlite3_bind_int(st, 6, a->has_fix);
    if (a->has_fix) {
        sqlite3_bind_int64(st, 7, a->fix.fix_time_ms);
        sqlite3_bind_int64(st, 8, a->fix.recv_time_ms);
        sqlite3_bind_double(st, 9, a->fix.lat_deg);
        sqlite3_bind_double(st, 10, a->fix.lon_deg);
        bind_real(st, 11, a->fix.speed_mps);
        bind_real(st, 12, a->fix.course_deg);
        bind_real(st, 13, a->fix.accuracy_m);
    }
    sqlite3_bind_int(st, 14, a->late);
    sqlite3_bind_int64(st, 15, a->age_ms);
    sqlite3_bind_int64(st, 16, a->gap_ms);
    bind_real(st, 17, a->moved_m);
    e = run(s, st, "storing an alert");
    if (e == LW_OK && id)
        *id = sqlite3_last_insert_rowid(lw_store_sqlite(s));
    return e;
}

enum lw_err lw_registry_alert_published(struct lw_store *s, int64_t id)
{
    sqlite3_stmt *st;

    if (!s)
        return LW_ERR_INVAL;
    st = prep(s, "UPDATE alerts SET published = 1 WHERE id = ?1");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    return run(s, st, "marking an alert published");
}

/*
 * Changes the lifecycle of alert id; LW_ERR_NOTFOUND / LW_ERR_INVAL. The
 * state is read inside the write transaction (BEGIN IMMEDIATE), so an alert
 * closed by another connection in between cannot be acknowledged.
 */
static enum lw_err alert_lifecycle(struct lw_store *s, int64_t id, bool close,
                                   const char *by, const char *note,
                                   int64_t now_ms)
{
    struct lw_alert_row r;
    sqlite3_stmt *st;
    bool own = !lw_store_in_txn(s);
    enum lw_err e;

    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    e = lw_registry_alert_get(s, id, &r);
    if (e != LW_OK)
        goto out;
    if (r.state == LW_ALERT_CLOSED) {
        lw_store_seterr(s, "alert %lld is already closed", (long long)id);
        e = LW_ERR_INVAL;
        goto out;
    }
    if (close)
        st = prep(s, "UPDATE alerts SET state = 'closed', closed_ms = ?2, "
                     "changed_ms = ?2 WHERE id = ?1");
    else
        st = prep(s, "UPDATE alerts SET state = 'acknowledged', ack_by = ?3, "
                     "ack_note = ?4, ack_ms = ?2, changed_ms = ?2 "
                     "WHERE id = ?1");
    if (!st) {
        e = LW_ERR_DB;
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    if (!close) {
        sqlite3_bind_text(st, 3, by ? by : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, note ? note : "", -1, SQLITE_STATIC);
    }
    e = run(s, st, close ? "closing an alert" : "acknowledging an alert");
    if (e == LW_OK)
        e = bump(s, "alerts_version");
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        else
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_alert_ack(struct lw_store *s, int64_t id,
                                  const char *by, const char *note,
                                  int64_t now_ms)
{
    if (!s || !by || !by[0])
        return LW_ERR_INVAL;
    return alert_lifecycle(s, id, false, by, note, now_ms);
}

enum lw_err lw_registry_alert_close(struct lw_store *s, int64_t id,
                                    int64_t now_ms)
{
    if (!s)
        return LW_ERR_INVAL;
    return alert_lifecycle(s, id, true, NULL, NULL, now_ms);
}

enum lw_err lw_registry_alert_get(struct lw_store *s, int64_t id,
                                  struct lw_alert_row *out)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !out)
        return LW_ERR_INVAL;
    st = prep(s, "SELECT " ALERT_COLS " FROM alerts WHERE id = ?1");
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    e = get_row(s, st, row_to_alert, out, "reading an alert");
    if (e == LW_ERR_NOTFOUND)
        lw_store_seterr(s, "no alert %lld", (long long)id);
    return e;
}

enum lw_err lw_registry_alerts(struct lw_store *s,
                               const struct lw_alert_filter *f,
                               lw_alert_row_cb cb, void *ctx)
{
    static const struct lw_alert_filter all = {0};
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &all;
    st = prep(s, "SELECT " ALERT_COLS " FROM alerts WHERE "
                 "(?1 IS NULL OR device = ?1) AND "
                 "(?2 = 0 OR state != 'closed') AND "
                 "(?3 = 0 OR published = 0) AND "
                 "changed_ms >= ?4 ORDER BY id");
    if (!st)
        return LW_ERR_DB;
    if (f->device)
        sqlite3_bind_text(st, 1, f->device, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, f->open_only);
    sqlite3_bind_int(st, 3, f->unpublished_only);
    sqlite3_bind_int64(st, 4, f->changed_since_ms);
    return each_row(s, st, visit_alert, &cb, ctx, "listing alerts");
}

/* ---- change detection ---------------------------------------------------- */

enum lw_err lw_store_data_version(struct lw_store *s, int64_t *out)
{
    sqlite3_stmt *st;
    int rc;

    if (!s || !out)
        return LW_ERR_INVAL;
    st = prep(s, "PRAGMA data_version");
    if (!st)
        return LW_ERR_DB;
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    lw_store_release_stmt(s, st);
    return rc == SQLITE_ROW ? LW_OK : LW_ERR_DB;
}

enum lw_err lw_registry_version(struct lw_store *s, int64_t *registry,
                                int64_t *alerts)
{
    sqlite3_stmt *st;
    int rc;

    if (!s)
        return LW_ERR_INVAL;
    if (registry)
        *registry = 0;
    if (alerts)
        *alerts = 0;
    st = prep(s, "SELECT key, value FROM meta WHERE key IN "
                 "('registry_version', 'alerts_version')");
    if (!st)
        return LW_ERR_DB;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!k)
            continue;
        if (strcmp(k, "registry_version") == 0) {
            if (registry)
                *registry = v;
        } else if (alerts) {
            *alerts = v;
        }
    }
    lw_store_release_stmt(s, st);
    return rc == SQLITE_DONE ? LW_OK : LW_ERR_DB;
}

/* ---- finding a vehicle by what an agent has in hand ---------------------- */

/*
 * The loose form of a plate or VIN (SQL over the column or parameter x):
 * ASCII letters in upper case (SQLite's upper() folds ASCII only), spaces,
 * tabs, hyphens and dots removed. Defined here once, in SQL, so both sides
 * of a comparison are loosened by the same code.
 */
#define LOOSE(x)                                                               \
    "upper(replace(replace(replace(replace(" x ", ' ', ''), char(9), ''), "    \
    "'-', ''), '.', ''))"

/* The lookup (see the comment in lw_registry_vehicle_find). */
/* clang-format off */
static const char vehicle_find_sql[] =
    "SELECT m.device, coalesce(v.vin, ''), coalesce(v.plate, ''), "
    " coalesce(v.description, ''), coalesce(v.account, ''), "
    " coalesce(v.offline_after_ms, 0), coalesce(v.registered_ms, 0),"
    " coalesce(v.updated_ms, 0), v.device IS NOT NULL, "
    " max(m.by_device), max(m.by_plate), max(m.by_vin) "
    "FROM ("
    " SELECT id AS device, 1 AS by_device, 0 AS by_plate, "
    "  0 AS by_vin FROM devices WHERE ?2 IN (0, 1) AND id = ?1"
    " UNION ALL"
    " SELECT device, 1, 0, 0 FROM vehicles "
    "  WHERE ?2 IN (0, 1) AND device = ?1"
    " UNION ALL"
    " SELECT device, 0, 1, 0 FROM vehicles "
    "  WHERE ?2 IN (0, 2) AND " LOOSE("?1") " != '' "
    "  AND " LOOSE("plate") " = " LOOSE("?1")
    " UNION ALL"
    " SELECT device, 0, 0, 1 FROM vehicles "
    "  WHERE ?2 IN (0, 3) AND " LOOSE("?1") " != '' "
    "  AND " LOOSE("vin") " = " LOOSE("?1")
    ") AS m LEFT JOIN vehicles AS v ON v.device = m.device "
    "GROUP BY m.device ORDER BY m.device";
/* clang-format on */

enum lw_err lw_registry_vehicle_find(struct lw_store *s, enum lw_vehicle_key by,
                                     const char *text,
                                     struct lw_vehicle_match *out, size_t max,
                                     size_t *n)
{
    sqlite3_stmt *st;
    size_t count = 0;
    int rc;

    if (!s || !text || !text[0] || !n || (max > 0 && !out) ||
        by < LW_VEHICLE_BY_ANY || by > LW_VEHICLE_BY_VIN)
        return LW_ERR_INVAL;
    *n = 0;
    /* ids by their primary keys; plates and VINs each in a scan of the
     * vehicles (an index would need the loose forms indexed: a migration,
     * for a lookup an agent makes by hand). The key tests depend on no row:
     * SQLite evaluates them once and skips the scans a key does not need. */
    st = prep(s, vehicle_find_sql);
    if (!st)
        return LW_ERR_DB;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)by);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count < max) {
            struct lw_vehicle_match *m = &out[count];

            memset(m, 0, sizeof(*m));
            row_to_vehicle(st, &m->v);
            m->registered = sqlite3_column_int(st, 8) != 0;
            m->by_device = sqlite3_column_int(st, 9) != 0;
            m->by_plate = sqlite3_column_int(st, 10) != 0;
            m->by_vin = sqlite3_column_int(st, 11) != 0;
        }
        count++;
    }
    if (rc != SQLITE_DONE)
        return step_fail(s, st, rc, "finding a vehicle");
    lw_store_release_stmt(s, st);
    *n = count;
    return LW_OK;
}
