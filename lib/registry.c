/*
 * registry.c - vehicles, accounts, geofences and alerts (registry.h), on
 * the store's SQLite connection.
 *
 * Tables (schema migration 2, lib/schema.c):
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
 * Statements go through lib/db.c (prepared once per handle, by the address
 * of their SQL text); errors are recorded in the store's handle
 * (lw_store_errmsg) and returned in the classes of err.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lienwatch/access.h"
#include "lienwatch/registry.h"
#include "lienwatch/timeutil.h"
#include "store_priv.h"

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

/* True when the fixed-size field f (size bytes) holds a NUL: a string. */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

/* Binds v, or NULL when it is not finite (unknown). */
static void bind_finite(struct lw_db *db, sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        lw_db_bind_double(db, st, i, v);
    else
        lw_db_bind_null(db, st, i);
}

/* Decodes a one-integer row into the int64_t at out. */
static void row_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* Adds 1 to meta key (created at 1). Caller holds a transaction or not. */
static enum lw_err bump(struct lw_store *s, const char *key)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db,
                                  "INSERT INTO meta(key, value) VALUES (?1, 1) "
                                  "ON CONFLICT(key) DO UPDATE SET value = "
                                  "value + 1",
                                  &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, key);
    return lw_db_run(db, st, "bumping a version");
}

/* Runs the statement and the version bump in one transaction unless the
 * caller already holds one. */
static enum lw_err write_and_bump(struct lw_store *s, sqlite3_stmt *st,
                                  const char *what, const char *key,
                                  int64_t *changes)
{
    struct lw_db *db = lw_store_db(s);
    bool own = !lw_store_in_txn(s);
    enum lw_err e;

    if (own && (e = lw_store_begin(s)) != LW_OK) {
        lw_db_done(db, st);
        return e;
    }
    e = lw_db_run(db, st, what);
    if (changes)
        *changes = lw_db_changes(db);
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
    lw_db_col_copy(st, 0, v->device, sizeof(v->device));
    lw_db_col_copy(st, 1, v->vin, sizeof(v->vin));
    lw_db_col_copy(st, 2, v->plate, sizeof(v->plate));
    lw_db_col_copy(st, 3, v->description, sizeof(v->description));
    lw_db_col_copy(st, 4, v->account, sizeof(v->account));
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

/*
 * A tracker put on a loan again (vehicle set with an account): a removal
 * (its fixes were not stored) or a finished purge of its earlier loan no
 * longer holds, unless the loan it now serves has ended too. A purge still
 * waiting for an ended loan's delay stays: that loan's history goes.
 */
static enum lw_err tracker_reused(struct lw_store *s, const char *device,
                                  const char *account)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(
        db,
        "DELETE FROM purges WHERE device = ?1 AND (done_ms != 0 OR reason = "
        "'removed') AND NOT EXISTS (SELECT 1 FROM accounts WHERE id = ?2 AND "
        "status IN ('paid_off', 'closed'))",
        &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_text(db, st, 2, account);
    return lw_db_run(db, st, "putting a tracker on a loan again");
}

/* ---- vehicles with several trackers (migration 9) ------------------------ */

/*
 * The loose form of a plate or VIN (SQL over the column or parameter x):
 * ASCII letters in upper case (SQLite's upper() folds ASCII only), spaces,
 * tabs, hyphens and dots removed. Defined here once, in SQL, so both sides
 * of a comparison are loosened by the same code; loosen() below is its C
 * twin for fleet keys (the same characters).
 */
#define LOOSE(x)                                                               \
    "upper(replace(replace(replace(replace(" x ", ' ', ''), char(9), ''), "    \
    "'-', ''), '.', ''))"

/* The loose form of s into out (len bytes, truncated). */
static void loosen(const char *s, char *out, size_t len)
{
    size_t n = 0;

    for (; *s && n + 1 < len; s++) {
        char ch = *s;

        if (ch == ' ' || ch == '\t' || ch == '-' || ch == '.')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        out[n++] = ch;
    }
    out[n] = '\0';
}

bool lw_registry_role_ok(const char *role)
{
    return role && (!role[0] || strcmp(role, "wired") == 0 ||
                    strcmp(role, "hidden") == 0);
}

bool lw_registry_date_ok(const char *d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, day;

    if (!d || strlen(d) != LW_DATE_MAX || d[4] != '-' || d[7] != '-')
        return false;
    for (int i = 0; i < LW_DATE_MAX; i++)
        if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
            return false;
    y = atoi(d);
    m = atoi(d + 5);
    day = atoi(d + 8);
    if (y < 1900 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1])
        return false;
    /* 29 February of a common year */
    return !(m == 2 && day == 29 &&
             !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

#define INSTALL_COLS                                                           \
    "d.id, d.vehicle, f.vin, d.device, d.role, d.installed_ms, d.installer, "  \
    "d.disclosure_signed, d.attached_ms, coalesce(d.detached_ms, 0)"

static void row_to_install(sqlite3_stmt *st, void *row)
{
    struct lw_install *r = row;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->vehicle_id = sqlite3_column_int64(st, 1);
    lw_db_col_copy(st, 2, r->vin, sizeof(r->vin));
    lw_db_col_copy(st, 3, r->device, sizeof(r->device));
    lw_db_col_copy(st, 4, r->role, sizeof(r->role));
    r->installed_ms = sqlite3_column_int64(st, 5);
    lw_db_col_copy(st, 6, r->installer, sizeof(r->installer));
    lw_db_col_copy(st, 7, r->disclosure_signed, sizeof(r->disclosure_signed));
    r->attached_ms = sqlite3_column_int64(st, 8);
    r->detached_ms = sqlite3_column_int64(st, 9);
}

static int visit_install(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_install_cb *cb = cbp;
    struct lw_install r;

    row_to_install(st, &r);
    return (*cb)(ctx, &r);
}

/* A fleet row: its id and key. */
struct fleet_row {
    int64_t id;               /* fleet id */
    char vin[LW_VIN_MAX + 1]; /* loose VIN or "" */
};

static void row_to_fleet(sqlite3_stmt *st, void *row)
{
    struct fleet_row *f = row;

    f->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, f->vin, sizeof(f->vin));
}

/* True when key is "id:N"; *id gets N (0 when malformed). */
static bool key_is_id(const char *key, int64_t *id)
{
    size_t plen = strlen(LW_FLEET_ID_PREFIX);
    char *end = NULL;
    long long v;

    if (strncmp(key, LW_FLEET_ID_PREFIX, plen) != 0)
        return false;
    v = strtoll(key + plen, &end, 10);
    *id = (end && end != key + plen && !*end && v > 0) ? (int64_t)v : 0;
    return true;
}

/* The vehicle with loose VIN vin into *f. */
static enum lw_err fleet_by_vin(struct lw_store *s, const char *vin,
                                struct fleet_row *f)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    /* "vin != ''" lets SQLite use the partial index fleet_by_vin (it cannot
     * tell that a bound ?1 is not ''): without it every lookup scanned the
     * table, and registering 100,000 vehicles took minutes */
    sqlite3_stmt *st = lw_db_stmt(
        db, "SELECT id, vin FROM fleet WHERE vin = ?1 AND vin != ''", &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, vin);
    return lw_db_get_row(db, st, row_to_fleet, f, "finding a vehicle");
}

static enum lw_err fleet_by_id(struct lw_store *s, int64_t id,
                               struct fleet_row *f)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st =
        lw_db_stmt(db, "SELECT id, vin FROM fleet WHERE id = ?1", &e);

    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    return lw_db_get_row(db, st, row_to_fleet, f, "finding a vehicle");
}

/* A new vehicle with loose VIN vin ("" for none) into *f. */
static enum lw_err fleet_new(struct lw_store *s, const char *vin,
                             int64_t now_ms, struct fleet_row *f)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(
        db, "INSERT INTO fleet(vin, created_ms) VALUES (?1, ?2)", &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, vin);
    lw_db_bind_int64(db, st, 2, now_ms);
    e = lw_db_run(db, st, "creating a vehicle");
    if (e == LW_OK) {
        f->id = lw_db_last_rowid(db);
        snprintf(f->vin, sizeof(f->vin), "%s", vin);
    }
    return e;
}

/* The current install record of device into *r (LW_ERR_NOTFOUND). */
static enum lw_err current_install(struct lw_store *s, const char *device,
                                   struct lw_install *r)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db,
                                  "SELECT " INSTALL_COLS
                                  " FROM vehicle_devices d JOIN fleet f ON "
                                  "f.id = d.vehicle WHERE d.device = ?1 AND "
                                  "d.detached_ms IS NULL",
                                  &e);

    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    return lw_db_get_row(db, st, row_to_install, r, "reading an install");
}

static enum lw_err install_by_id(struct lw_store *s, int64_t id,
                                 struct lw_install *r)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db,
                                  "SELECT " INSTALL_COLS
                                  " FROM vehicle_devices d JOIN fleet f ON "
                                  "f.id = d.vehicle WHERE d.id = ?1",
                                  &e);

    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    return lw_db_get_row(db, st, row_to_install, r, "reading an install");
}

/* Inserts the install record of device in vehicle (fields of in); *id
 * gets its id. */
static enum lw_err install_add(struct lw_store *s, int64_t vehicle,
                               const char *device, const struct lw_install *in,
                               int64_t now_ms, int64_t *id)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(
        db,
        "INSERT INTO vehicle_devices(vehicle, device, role, installed_ms, "
        "installer, disclosure_signed, attached_ms) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7)",
        &e);

    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, vehicle);
    lw_db_bind_text(db, st, 2, device);
    lw_db_bind_text(db, st, 3, in ? in->role : "");
    lw_db_bind_int64(db, st, 4, in ? in->installed_ms : 0);
    lw_db_bind_text(db, st, 5, in ? in->installer : "");
    lw_db_bind_text(db, st, 6, in ? in->disclosure_signed : "");
    lw_db_bind_int64(db, st, 7, now_ms);
    e = lw_db_run(db, st, "recording an install");
    if (e == LW_OK && id)
        *id = lw_db_last_rowid(db);
    return e;
}

/* Sets detached_ms of record id. */
static enum lw_err install_end(struct lw_store *s, int64_t id, int64_t at_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(
        db, "UPDATE vehicle_devices SET detached_ms = ?2 WHERE id = ?1", &e);

    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, at_ms);
    return lw_db_run(db, st, "detaching a device");
}

/*
 * After lw_registry_vehicle_set of device with vin (as typed, "" = not
 * given): keeps its install record in step (see registry.h). created: the
 * registry row was new.
 */
static enum lw_err fleet_sync(struct lw_store *s, const char *device,
                              const char *vin, bool created, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    char key[LW_VIN_MAX + 1];
    struct lw_install cur;
    struct fleet_row f;
    bool has_cur;
    enum lw_err e;

    loosen(vin, key, sizeof(key));
    e = current_install(s, device, &cur);
    if (e != LW_OK && e != LW_ERR_NOTFOUND)
        return e;
    has_cur = e == LW_OK;
    if (!key[0]) { /* no VIN: a new device gets a vehicle of its own */
        if (has_cur || !created)
            return LW_OK;
        e = fleet_new(s, "", now_ms, &f);
        return e == LW_OK ? install_add(s, f.id, device, NULL, now_ms, NULL)
                          : e;
    }
    if (has_cur && strcmp(cur.vin, key) == 0)
        return LW_OK;
    e = fleet_by_vin(s, key, &f);
    if (e != LW_OK && e != LW_ERR_NOTFOUND)
        return e;
    if (e == LW_ERR_NOTFOUND && has_cur && !cur.vin[0]) {
        /* the vehicle it is in learns its VIN */
        sqlite3_stmt *st =
            lw_db_stmt(db, "UPDATE fleet SET vin = ?2 WHERE id = ?1", &e);

        if (!st)
            return e;
        lw_db_bind_int64(db, st, 1, cur.vehicle_id);
        lw_db_bind_text(db, st, 2, key);
        return lw_db_run(db, st, "giving a vehicle its VIN");
    }
    if (e == LW_ERR_NOTFOUND && (e = fleet_new(s, key, now_ms, &f)) != LW_OK)
        return e;
    if (has_cur &&
        (e = install_end(s, cur.id,
                         now_ms > cur.installed_ms ? now_ms
                                                   : cur.installed_ms)) !=
            LW_OK)
        return e;
    return install_add(s, f.id, device, NULL, now_ms, NULL);
}

enum lw_err lw_registry_fleet_find(struct lw_store *s, const char *key,
                                   int64_t *vehicle_id, char *vin)
{
    struct lw_db *db = lw_store_db(s);
    char loose[LW_VIN_MAX + 1];
    struct fleet_row f;
    int64_t id = 0;
    enum lw_err e;

    if (!s || !key || !key[0] || !vehicle_id)
        return LW_ERR_INVAL;
    if (key_is_id(key, &id)) {
        e = id > 0 ? fleet_by_id(s, id, &f) : LW_ERR_NOTFOUND;
    } else {
        if (strlen(key) > LW_VIN_MAX)
            return LW_ERR_INVAL;
        loosen(key, loose, sizeof(loose));
        if (!loose[0])
            return LW_ERR_INVAL;
        e = fleet_by_vin(s, loose, &f);
    }
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "no vehicle %s '%s'", id ? "with the id" : "with "
                     "the VIN", key);
    if (e == LW_OK) {
        *vehicle_id = f.id;
        if (vin)
            snprintf(vin, LW_VIN_MAX + 1, "%s", f.vin);
    }
    return e;
}

/* The name of a vehicle in messages: its VIN, or "id:N". */
static const char *fleet_name(const char *vin, int64_t id, char *buf,
                              size_t len)
{
    if (vin[0])
        snprintf(buf, len, "%s", vin);
    else
        snprintf(buf, len, LW_FLEET_ID_PREFIX "%lld", (long long)id);
    return buf;
}

/* The device's registry row after an attach: created when missing, the VIN
 * (the vehicle's, "" to keep) set, empty plate, description and account filled
 * from another device in the same vehicle. */
static enum lw_err registry_row_attach(struct lw_store *s, const char *device,
                                       const char *vin, int64_t vehicle,
                                       int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    st = lw_db_stmt(db,
                    "INSERT INTO vehicles(device, vin, registered_ms, "
                    "updated_ms) VALUES (?1, ?2, ?3, ?3) ON CONFLICT(device) "
                    "DO UPDATE SET vin = CASE WHEN ?2 = '' THEN vin ELSE ?2 "
                    "END, updated_ms = ?3",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_text(db, st, 2, vin);
    lw_db_bind_int64(db, st, 3, now_ms);
    if ((e = lw_db_run(db, st, "storing a vehicle")) != LW_OK)
        return e;
#define SIBLING(col)                                                           \
    "coalesce((SELECT v2." col " FROM vehicles v2 JOIN vehicle_devices d ON "  \
    "d.device = v2.device WHERE d.vehicle = ?2 AND d.detached_ms IS NULL AND " \
    "v2.device != ?1 AND v2." col " != '' ORDER BY d.id LIMIT 1), '')"
    st = lw_db_stmt(db,
                    "UPDATE vehicles SET "
                    "plate = CASE WHEN plate = '' THEN " SIBLING("plate")
                    " ELSE plate END, description = CASE WHEN description = "
                    "'' THEN " SIBLING("description")
                    " ELSE description END, account = CASE WHEN account = "
                    "'' THEN " SIBLING("account")
                    " ELSE account END WHERE device = ?1",
                    &e);
#undef SIBLING
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_int64(db, st, 2, vehicle);
    return lw_db_run(db, st, "storing a vehicle");
}

/* A tracker fitted to a vehicle is in service again: its removal (and a
 * finished purge of an earlier loan) no longer holds (tracker_reused). */
static enum lw_err attach_reuse(struct lw_store *s, const char *device)
{
    struct lw_vehicle v;
    enum lw_err e = lw_registry_vehicle_get(s, device, &v);

    if (e != LW_OK)
        return e;
    return tracker_reused(s, device, v.account);
}

enum lw_err lw_registry_attach(struct lw_store *s, const char *key,
                               const struct lw_install *in, int64_t now_ms,
                               struct lw_install *out)
{
    struct lw_db *db = lw_store_db(s);
    char loose[LW_VIN_MAX + 1], name[LW_VIN_MAX + 32];
    char when[LW_TIME_BUFLEN];
    struct lw_install cur;
    struct fleet_row f;
    int64_t id = 0, rec = 0;
    bool own, by_id;
    enum lw_err e;

    if (!s || !key || !key[0] || !in || !TERMINATED(in->device) ||
        !in->device[0] || !TERMINATED(in->role) ||
        !lw_registry_role_ok(in->role) || !TERMINATED(in->installer) ||
        !TERMINATED(in->disclosure_signed) ||
        (in->disclosure_signed[0] &&
         !lw_registry_date_ok(in->disclosure_signed)) ||
        in->installed_ms < 0)
        return LW_ERR_INVAL;
    by_id = key_is_id(key, &id);
    if (!by_id) {
        if (strlen(key) > LW_VIN_MAX)
            return LW_ERR_INVAL;
        loosen(key, loose, sizeof(loose));
        if (!loose[0])
            return LW_ERR_INVAL;
    }
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    if (by_id) {
        e = id > 0 ? fleet_by_id(s, id, &f) : LW_ERR_NOTFOUND;
        if (e == LW_ERR_NOTFOUND)
            lw_db_seterr(db, "no vehicle with the id '%s'", key);
    } else {
        e = fleet_by_vin(s, loose, &f);
        if (e == LW_ERR_NOTFOUND)
            e = fleet_new(s, loose, now_ms, &f);
    }
    if (e != LW_OK)
        goto out;
    e = current_install(s, in->device, &cur);
    if (e == LW_OK && cur.vehicle_id != f.id && !cur.vin[0]) {
        /* alone in a vehicle without a VIN (a tracker registered without
         * one): that placeholder record ends here */
        int64_t others = 0;
        sqlite3_stmt *st = lw_db_stmt(
            db,
            "SELECT count(*) FROM vehicle_devices WHERE vehicle = ?1 AND "
            "device != ?2 AND detached_ms IS NULL",
            &e);

        if (!st)
            goto out;
        lw_db_bind_int64(db, st, 1, cur.vehicle_id);
        lw_db_bind_text(db, st, 2, in->device);
        e = lw_db_get_row(db, st, row_int64, &others, "reading an install");
        if (e != LW_OK)
            goto out;
        e = LW_OK;
        if (others == 0) {
            e = install_end(s, cur.id,
                            now_ms > cur.installed_ms ? now_ms
                                                      : cur.installed_ms);
            if (e != LW_OK)
                goto out;
            e = LW_ERR_NOTFOUND;
        }
    }
    if (e == LW_OK) {
        lw_db_seterr(db,
                     "device %s is %s vehicle %s (attached %s): detach it "
                     "first",
                     in->device,
                     cur.vehicle_id == f.id ? "already in" : "in",
                     fleet_name(cur.vin, cur.vehicle_id, name, sizeof(name)),
                     lw_time_format(cur.attached_ms, when, sizeof(when)));
        e = LW_ERR_EXISTS;
        goto out;
    }
    if (e != LW_ERR_NOTFOUND)
        goto out;
    e = install_add(s, f.id, in->device, in, now_ms, &rec);
    if (e == LW_OK)
        e = registry_row_attach(s, in->device, f.vin, f.id, now_ms);
    if (e == LW_OK)
        e = attach_reuse(s, in->device);
    if (e == LW_OK)
        e = bump(s, "registry_version");
    if (e == LW_OK && out)
        e = install_by_id(s, rec, out);
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_detach(struct lw_store *s, const char *key,
                               const char *device, int64_t at_ms,
                               int64_t now_ms, struct lw_install *out)
{
    struct lw_db *db = lw_store_db(s);
    char vin[LW_VIN_MAX + 1], name[LW_VIN_MAX + 32];
    struct lw_install cur;
    sqlite3_stmt *st;
    int64_t vid = 0;
    bool own;
    enum lw_err e;

    if (!s || !key || !key[0] || !device || !device[0])
        return LW_ERR_INVAL;
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    e = lw_registry_fleet_find(s, key, &vid, vin);
    if (e != LW_OK)
        goto out;
    e = current_install(s, device, &cur);
    if (e == LW_OK && cur.vehicle_id != vid)
        e = LW_ERR_NOTFOUND;
    if (e == LW_ERR_NOTFOUND) {
        lw_db_seterr(db, "device %s is not in vehicle %s", device,
                     fleet_name(vin, vid, name, sizeof(name)));
        goto out;
    }
    if (e != LW_OK)
        goto out;
    if (at_ms < cur.installed_ms) {
        lw_db_seterr(db,
                     "device %s cannot be detached before it was installed",
                     device);
        e = LW_ERR_RANGE;
        goto out;
    }
    if ((e = install_end(s, cur.id, at_ms)) != LW_OK)
        goto out;
    /* its registry row no longer names that vehicle's VIN */
    st = lw_db_stmt(db,
                    "UPDATE vehicles SET vin = '', updated_ms = ?3 WHERE "
                    "device = ?1 AND ?2 != '' AND " LOOSE("vin") " = ?2",
                    &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, device);
    lw_db_bind_text(db, st, 2, vin);
    lw_db_bind_int64(db, st, 3, now_ms);
    if ((e = lw_db_run(db, st, "detaching a device")) != LW_OK)
        goto out;
    e = bump(s, "registry_version");
    if (e == LW_OK && out)
        e = install_by_id(s, cur.id, out);
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_installs(struct lw_store *s, int64_t vehicle_id,
                                 bool current_only, lw_install_cb cb,
                                 void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " INSTALL_COLS
                    " FROM vehicle_devices d JOIN fleet f ON f.id = "
                    "d.vehicle WHERE d.vehicle = ?1 AND (?2 = 0 OR "
                    "d.detached_ms IS NULL) ORDER BY d.detached_ms IS NOT "
                    "NULL, d.detached_ms DESC, d.attached_ms, d.id",
                    &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, vehicle_id);
    lw_db_bind_int(db, st, 2, current_only);
    return lw_db_each_row(db, st, visit_install, &cb, ctx,
                          "listing install records");
}

enum lw_err lw_registry_device_installs(struct lw_store *s,
                                        const char *device, lw_install_cb cb,
                                        void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !device || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " INSTALL_COLS
                    " FROM vehicle_devices d JOIN fleet f ON f.id = "
                    "d.vehicle WHERE d.device = ?1 ORDER BY d.id DESC",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    return lw_db_each_row(db, st, visit_install, &cb, ctx,
                          "listing install records");
}

enum lw_err lw_registry_vehicle_of(struct lw_store *s, const char *device,
                                   struct lw_install *out)
{
    if (!s || !device || !out)
        return LW_ERR_INVAL;
    return current_install(s, device, out);
}

/* A fixes row (the store's FIX_COLS order) into the struct lw_fix at row. */
static void row_to_fix(sqlite3_stmt *st, void *row)
{
    struct lw_fix *f = row;
    const unsigned char *trig;

    lw_fix_init(f);
    lw_db_col_copy(st, 0, f->device, sizeof(f->device));
    f->fix_time_ms = sqlite3_column_int64(st, 1);
    f->recv_time_ms = sqlite3_column_int64(st, 2);
    f->lat_deg = sqlite3_column_double(st, 3);
    f->lon_deg = sqlite3_column_double(st, 4);
    f->speed_mps = lw_db_col_opt_double(st, 5);
    f->course_deg = lw_db_col_opt_double(st, 6);
    f->accuracy_m = lw_db_col_opt_double(st, 7);
    f->alt_m = lw_db_col_opt_double(st, 8);
    if (sqlite3_column_type(st, 9) != SQLITE_NULL)
        f->battery_pct = sqlite3_column_int(st, 9);
    trig = sqlite3_column_text(st, 10);
    f->trigger = trig ? (char)trig[0] : 0;
}

static int visit_fix(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_fix_cb *cb = cbp;
    struct lw_fix f;

    row_to_fix(st, &f);
    return (*cb)(ctx, &f);
}

/* lw_registry_vehicle_history, of one of its devices when device is not
 * NULL. */
static enum lw_err vehicle_history(struct lw_store *s, int64_t vehicle_id,
                                   const char *device, int64_t from_ms,
                                   int64_t to_ms, lw_fix_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    /* each device through its primary key, then one sort by time; a fix
     * counts once however many records of the device cover it */
    st = lw_db_stmt(
        db,
        "SELECT x.device, x.fix_time_ms, x.recv_time_ms, x.lat_deg, "
        "x.lon_deg, x.speed_mps, x.course_deg, x.accuracy_m, x.alt_m, "
        "x.battery_pct, x.trigger_code FROM fixes x WHERE x.device IN "
        "(SELECT device FROM vehicle_devices WHERE vehicle = ?1) AND "
        "(?4 IS NULL OR x.device = ?4) AND "
        "x.fix_time_ms BETWEEN ?2 AND ?3 AND EXISTS (SELECT 1 FROM "
        "vehicle_devices d WHERE d.vehicle = ?1 AND d.device = x.device AND "
        "(d.installed_ms = 0 OR x.fix_time_ms >= d.installed_ms) AND "
        "(d.detached_ms IS NULL OR x.fix_time_ms <= d.detached_ms)) "
        "ORDER BY x.fix_time_ms, x.device",
        &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, vehicle_id);
    lw_db_bind_int64(db, st, 2, from_ms);
    lw_db_bind_int64(db, st, 3, to_ms);
    if (device)
        lw_db_bind_text(db, st, 4, device);
    return lw_db_each_row(db, st, visit_fix, &cb, ctx,
                          "reading a vehicle's history");
}

enum lw_err lw_registry_vehicle_history(struct lw_store *s, int64_t vehicle_id,
                                        int64_t from_ms, int64_t to_ms,
                                        lw_fix_cb cb, void *ctx)
{
    return vehicle_history(s, vehicle_id, NULL, from_ms, to_ms, cb, ctx);
}

enum lw_err lw_registry_vehicle_track(struct lw_store *s, int64_t vehicle_id,
                                      const char *device, int64_t from_ms,
                                      int64_t to_ms, lw_fix_cb cb, void *ctx)
{
    if (!device)
        return LW_ERR_INVAL;
    return vehicle_history(s, vehicle_id, device, from_ms, to_ms, cb, ctx);
}

enum lw_err lw_registry_attached(struct lw_store *s, lw_install_cb cb,
                                 void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " INSTALL_COLS
                    " FROM vehicle_devices d JOIN fleet f ON f.id = "
                    "d.vehicle WHERE d.detached_ms IS NULL ORDER BY "
                    "d.vehicle, d.device",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_install, &cb, ctx,
                          "listing install records");
}

enum lw_err lw_registry_vehicle_set(struct lw_store *s,
                                    const struct lw_vehicle *v, int64_t now_ms)
{
    struct lw_db *db = lw_store_db(s);
    int64_t existed = 0;
    enum lw_err e;
    sqlite3_stmt *st;
    bool own;

    if (!s || !v || !TERMINATED(v->device) || !v->device[0] ||
        !TERMINATED(v->vin) || !TERMINATED(v->plate) ||
        !TERMINATED(v->description) || !TERMINATED(v->account))
        return LW_ERR_INVAL;
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    st = lw_db_stmt(db, "SELECT count(*) FROM vehicles WHERE device = ?1", &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, v->device);
    e = lw_db_get_row(db, st, row_int64, &existed, "reading a vehicle");
    if (e != LW_OK)
        goto out;
    /* "" and < 0 mean "keep": only given fields change on an update */
    st = lw_db_stmt(
        db,
        "INSERT INTO vehicles(" VEHICLE_COLS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, max(?6, 0), ?7, ?7) "
        "ON CONFLICT(device) DO UPDATE SET "
        " vin = CASE WHEN ?2 = '' THEN vin ELSE ?2 END,"
        " plate = CASE WHEN ?3 = '' THEN plate ELSE ?3 END,"
        " description = CASE WHEN ?4 = '' THEN description ELSE ?4 END,"
        " account = CASE WHEN ?5 = '' THEN account ELSE ?5 END,"
        " offline_after_ms = CASE WHEN ?6 < 0 THEN offline_after_ms "
        "   ELSE ?6 END,"
        " updated_ms = ?7",
        &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, v->device);
    lw_db_bind_text(db, st, 2, v->vin);
    lw_db_bind_text(db, st, 3, v->plate);
    lw_db_bind_text(db, st, 4, v->description);
    lw_db_bind_text(db, st, 5, v->account);
    lw_db_bind_int64(db, st, 6, v->offline_after_ms);
    lw_db_bind_int64(db, st, 7, now_ms);
    e = write_and_bump(s, st, "storing a vehicle", "registry_version", NULL);
    if (e == LW_OK)
        e = fleet_sync(s, v->device, v->vin, existed == 0, now_ms);
    if (e == LW_OK && v->account[0])
        e = tracker_reused(s, v->device, v->account);
out:
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_vehicle_get(struct lw_store *s, const char *device,
                                    struct lw_vehicle *out)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !device || !out)
        return LW_ERR_INVAL;
    st = lw_db_stmt(
        db, "SELECT " VEHICLE_COLS " FROM vehicles WHERE device = ?1", &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, device);
    return lw_db_get_row(db, st, row_to_vehicle, out, "reading a vehicle");
}

enum lw_err lw_registry_vehicles(struct lw_store *s, lw_vehicle_cb cb,
                                 void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, "SELECT " VEHICLE_COLS " FROM vehicles ORDER BY device",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_vehicle, &cb, ctx, "listing vehicles");
}

enum lw_err lw_registry_account_vehicles(struct lw_store *s,
                                         const char *account, lw_vehicle_cb cb,
                                         void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !account || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " VEHICLE_COLS " FROM vehicles WHERE account = ?1 "
                    "ORDER BY device",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, account);
    return lw_db_each_row(db, st, visit_vehicle, &cb, ctx, "listing vehicles");
}

/* ---- accounts ------------------------------------------------------------ */

static void row_to_account(sqlite3_stmt *st, void *row)
{
    struct lw_account *a = row;

    memset(a, 0, sizeof(*a));
    lw_db_col_copy(st, 0, a->account, sizeof(a->account));
    a->days_past_due = sqlite3_column_int(st, 1);
    lw_db_col_copy(st, 2, a->status, sizeof(a->status));
    a->updated_ms = sqlite3_column_int64(st, 3);
    lw_db_col_copy(st, 4, a->source, sizeof(a->source));
}

static int visit_account(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_account_cb *cb = cbp;
    struct lw_account a;

    row_to_account(st, &a);
    return (*cb)(ctx, &a);
}

/* Runs sql with ?1 = account, ?2 = n, ?3 = text; *changes gets the rows it
 * changed (may be NULL). */
static enum lw_err account_run(struct lw_store *s, const char *sql,
                               const char *account, int64_t n, const char *text,
                               int64_t *changes)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;
    int np;

    st = lw_db_stmt(db, sql, &e);
    if (!st)
        return e;
    np = sqlite3_bind_parameter_count(st);
    lw_db_bind_text(db, st, 1, account);
    if (np >= 2)
        lw_db_bind_int64(db, st, 2, n);
    if (np >= 3)
        lw_db_bind_text(db, st, 3, text);
    e = lw_db_run(db, st, "ending a loan");
    if (e == LW_OK && changes)
        *changes = lw_db_changes(db);
    return e;
}

/*
 * After a change of account a: when its status ends the loan (paid_off,
 * closed), its vehicles' devices are queued for the purge (purges; their
 * fixes are not stored from now on) and their open alerts are closed; when
 * it does not (any more), purges of its devices not yet done are called
 * off (a payment reversed within the delay). In the caller's transaction.
 *
 * Cases: when the cases table exists (the web service's), open cases of
 * these vehicles are to be closed here too, in the same transaction.
 */
static enum lw_err account_lifecycle(struct lw_store *s,
                                     const struct lw_account *a)
{
    int64_t closed = 0;
    enum lw_err e;

    if (!lw_access_account_ended(a->status))
        return account_run(s,
                           "DELETE FROM purges WHERE account = ?1 AND "
                           "done_ms = 0 AND reason IN ('paid_off', 'closed')",
                           a->account, 0, NULL, NULL);
    e = account_run(s,
                    "INSERT INTO purges (device, account, reason, "
                    "requested_ms) SELECT device, ?1, ?3, ?2 FROM vehicles "
                    "WHERE account = ?1 ON CONFLICT(device) DO NOTHING",
                    a->account, a->updated_ms, a->status, NULL);
    if (e == LW_OK)
        e = account_run(s,
                        "UPDATE alerts SET state = 'closed', closed_ms = ?2, "
                        "changed_ms = ?2 WHERE state != 'closed' AND device "
                        "IN (SELECT device FROM vehicles WHERE account = ?1)",
                        a->account, a->updated_ms, NULL, &closed);
    if (e == LW_OK && closed > 0)
        e = bump(s, "alerts_version");
    return e;
}

enum lw_err lw_registry_account_set(struct lw_store *s,
                                    const struct lw_account *a)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;
    int64_t changes = 0;
    bool own;

    if (!s || !a || !TERMINATED(a->account) || !a->account[0] ||
        a->days_past_due < 0 || !TERMINATED(a->status) ||
        !TERMINATED(a->source))
        return LW_ERR_INVAL;
    /* an unchanged retained message (re-sent on every reconnection) must
     * not count as a registry change */
    st = lw_db_stmt(db,
                    "INSERT INTO accounts(id, days_past_due, status, "
                    "updated_ms, source) VALUES (?1, ?2, ?3, ?4, ?5) "
                    "ON CONFLICT(id) DO UPDATE SET days_past_due = ?2, "
                    "status = ?3, updated_ms = ?4, source = ?5 "
                    "WHERE days_past_due != ?2 OR status != ?3",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, a->account);
    lw_db_bind_int(db, st, 2, a->days_past_due);
    lw_db_bind_text(db, st, 3, a->status);
    lw_db_bind_int64(db, st, 4, a->updated_ms);
    lw_db_bind_text(db, st, 5, a->source);
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK) {
        lw_db_done(db, st);
        return e;
    }
    e = write_and_bump(s, st, "storing an account", "registry_version",
                       &changes);
    if (e == LW_OK && changes > 0)
        e = account_lifecycle(s, a);
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    return e;
}

enum lw_err lw_registry_vehicle_remove(struct lw_store *s, const char *device,
                                       bool purge, int64_t now_ms,
                                       bool *registered)
{
    struct lw_db *db = lw_store_db(s);
    bool own = !lw_store_in_txn(s);
    int64_t closed = 0;
    enum lw_err e;

    (void)db;
    if (!s || !device || !device[0])
        return LW_ERR_INVAL;
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    e = account_run(s,
                    "INSERT INTO purges (device, account, reason, "
                    "requested_ms, immediate, purge) VALUES (?1, coalesce("
                    "(SELECT account FROM vehicles WHERE device = ?1), ''), "
                    "'removed', ?2, ?3 = 'yes', ?3 = 'yes') ON "
                    "CONFLICT(device) DO UPDATE SET purge = max(purge, "
                    "excluded.purge), immediate = max(immediate, "
                    "excluded.immediate) WHERE done_ms = 0",
                    device, now_ms, purge ? "yes" : "no", NULL);
    /* without --purge the row stops ingest and watching and deletes
     * nothing; a payoff's row keeps its own purge */
    if (e == LW_OK)
        e = account_run(s,
                        "UPDATE alerts SET state = 'closed', closed_ms = ?2, "
                        "changed_ms = ?2 WHERE state != 'closed' AND device "
                        "= ?1",
                        device, now_ms, NULL, &closed);
    if (e == LW_OK && closed > 0)
        e = bump(s, "alerts_version");
    /* taken out of its vehicle: the install record ends now */
    if (e == LW_OK)
        e = account_run(s,
                        "UPDATE vehicle_devices SET detached_ms = max(?2, "
                        "installed_ms) WHERE device = ?1 AND detached_ms IS "
                        "NULL",
                        device, now_ms, NULL, NULL);
    if (e == LW_OK)
        e = bump(s, "registry_version");
    if (own) {
        if (e == LW_OK)
            e = lw_store_commit(s);
        if (e != LW_OK)
            lw_store_rollback(s);
    }
    if (e == LW_OK && registered) {
        struct lw_vehicle v;

        *registered = lw_registry_vehicle_get(s, device, &v) == LW_OK;
    }
    return e;
}

/* Hands the device of a purges row to the caller's lw_device_id_cb. */
static int visit_removed(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    lw_device_id_cb cb = *(const lw_device_id_cb *)cbp;

    return cb(ctx, lw_db_col_str(st, 0));
}

enum lw_err lw_registry_removed(struct lw_store *s, lw_device_id_cb cb,
                                void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT device FROM purges WHERE reason = 'removed' "
                    "ORDER BY device",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_removed, &cb, ctx, "reading removals");
}

enum lw_err lw_registry_account_get(struct lw_store *s, const char *account,
                                    struct lw_account *out)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !account || !out)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT id, days_past_due, status, updated_ms, source "
                    "FROM accounts WHERE id = ?1",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, account);
    return lw_db_get_row(db, st, row_to_account, out, "reading an account");
}

enum lw_err lw_registry_accounts(struct lw_store *s, lw_account_cb cb,
                                 void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT id, days_past_due, status, updated_ms, source "
                    "FROM accounts ORDER BY id",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_account, &cb, ctx, "listing accounts");
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
    lw_db_col_copy(st, 1, g.name, sizeof(g.name));
    lw_db_col_copy(st, 2, kind, sizeof(kind));
    if (lw_fence_kind_parse(kind, &g.kind) != LW_OK)
        g.kind = LW_FENCE_KEEP_IN;
    g.max_dwell_ms = sqlite3_column_int64(st, 3);
    g.min_lat = sqlite3_column_double(st, 4);
    g.min_lon = sqlite3_column_double(st, 5);
    g.max_lat = sqlite3_column_double(st, 6);
    g.max_lon = sqlite3_column_double(st, 7);
    lw_db_col_copy(st, 8, g.link_device, sizeof(g.link_device));
    lw_db_col_copy(st, 9, g.link_account, sizeof(g.link_account));
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
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    bool own;
    enum lw_err e;
    int64_t newid = 0;

    if (!s || !g || !TERMINATED(g->name) || !g->name[0] || !g->geojson ||
        !TERMINATED(g->link_device) || !TERMINATED(g->link_account) ||
        (g->kind != LW_FENCE_KEEP_IN && g->kind != LW_FENCE_KEEP_OUT))
        return LW_ERR_INVAL;
    if (!box_ok(g)) {
        lw_db_seterr(db, "geofence '%s': invalid bounding box", g->name);
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
    st = lw_db_stmt(db,
                    "INSERT INTO geofences(id, name, kind, geojson, "
                    "max_dwell_ms, link_device, link_account, created_ms) "
                    "VALUES (max(coalesce((SELECT value FROM meta WHERE key = "
                    "'fence_id_seq'), 0), coalesce((SELECT max(id) FROM "
                    "geofences), 0)) + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                    "ON CONFLICT(name) DO UPDATE SET kind = ?2, geojson = ?3, "
                    "max_dwell_ms = ?4, link_device = ?5, link_account = ?6 "
                    "RETURNING id",
                    &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, g->name);
    lw_db_bind_text(db, st, 2, lw_fence_kind_name(g->kind));
    lw_db_bind_text(db, st, 3, g->geojson);
    lw_db_bind_int64(db, st, 4, g->max_dwell_ms > 0 ? g->max_dwell_ms : 0);
    lw_db_bind_text(db, st, 5, g->link_device);
    lw_db_bind_text(db, st, 6, g->link_account);
    lw_db_bind_int64(db, st, 7, now_ms);
    /* RETURNING: the insert or update is complete at the first row */
    e = lw_db_get_row(db, st, row_int64, &newid, "storing a geofence");
    if (e == LW_ERR_NOTFOUND) {
        lw_db_seterr(db, "storing a geofence: no id returned");
        e = LW_ERR_DB;
    }
    if (e != LW_OK)
        goto out;
    st = lw_db_stmt(db,
                    "INSERT INTO meta(key, value) VALUES ('fence_id_seq', ?1) "
                    "ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)",
                    &e);
    if (!st)
        goto out;
    lw_db_bind_int64(db, st, 1, newid);
    if ((e = lw_db_run(db, st, "numbering a geofence")) != LW_OK)
        goto out;
    /* an R*Tree row is replaced by its id */
    st = lw_db_stmt(
        db,
        "INSERT OR REPLACE INTO geofence_rtree(id, min_lat, max_lat, "
        "min_lon, max_lon) VALUES (?1, ?2, ?3, ?4, ?5)",
        &e);
    if (!st)
        goto out;
    lw_db_bind_int64(db, st, 1, newid);
    lw_db_bind_double(db, st, 2, g->min_lat);
    lw_db_bind_double(db, st, 3, g->max_lat);
    lw_db_bind_double(db, st, 4, g->min_lon);
    lw_db_bind_double(db, st, 5, g->max_lon);
    if ((e = lw_db_run(db, st, "indexing a geofence")) != LW_OK)
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
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    bool own;
    enum lw_err e;
    int64_t changes;

    if (!s || !name)
        return LW_ERR_INVAL;
    own = !lw_store_in_txn(s);
    if (own && (e = lw_store_begin(s)) != LW_OK)
        return e;
    st = lw_db_stmt(db,
                    "DELETE FROM geofence_rtree WHERE id IN "
                    "(SELECT id FROM geofences WHERE name = ?1)",
                    &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, name);
    if ((e = lw_db_run(db, st, "removing a geofence")) != LW_OK)
        goto out;
    st = lw_db_stmt(db, "DELETE FROM geofences WHERE name = ?1", &e);
    if (!st)
        goto out;
    lw_db_bind_text(db, st, 1, name);
    if ((e = lw_db_run(db, st, "removing a geofence")) != LW_OK)
        goto out;
    changes = lw_db_changes(db);
    if (changes == 0) {
        lw_db_seterr(db, "no geofence named '%s'", name);
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
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " FENCE_COLS " FROM geofences g "
                    "JOIN geofence_rtree r ON r.id = g.id ORDER BY g.name",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_fence, &cb, ctx, "listing geofences");
}

enum lw_err lw_registry_fences_at(struct lw_store *s, double lat_deg,
                                  double lon_deg, lw_geofence_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT " FENCE_COLS " FROM geofence_rtree r "
                    "JOIN geofences g ON g.id = r.id "
                    "WHERE r.min_lat <= ?1 AND r.max_lat >= ?1 "
                    "AND r.min_lon <= ?2 AND r.max_lon >= ?2 ORDER BY g.name",
                    &e);
    if (!st)
        return e;
    lw_db_bind_double(db, st, 1, lat_deg);
    lw_db_bind_double(db, st, 2, lon_deg);
    return lw_db_each_row(db, st, visit_fence, &cb, ctx, "listing geofences");
}

/* ---- alerts ------------------------------------------------------------- */

#define ALERT_COLS                                                             \
    "id, kind, device, geofence, fence_tag, raised_ms, has_fix, fix_time_ms, " \
    "recv_time_ms, lat_deg, lon_deg, speed_mps, course_deg, accuracy_m, "      \
    "late, age_ms, gap_ms, moved_m, state, ack_by, ack_note, ack_ms, "         \
    "closed_ms, published, jamming, other_device, other_has_fix, "          \
    "other_fix_time_ms, other_lat_deg, other_lon_deg, other_accuracy_m, "      \
    "distance_m"

static void row_to_alert(sqlite3_stmt *st, void *row)
{
    struct lw_alert_row *r = row;
    char buf[32];
    struct lw_alert *a = &r->a;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    lw_db_col_copy(st, 1, buf, sizeof(buf));
    if (lw_alert_kind_parse(buf, &a->kind) != LW_OK)
        a->kind = 0;
    lw_db_col_copy(st, 2, a->device, sizeof(a->device));
    lw_db_col_copy(st, 3, a->fence, sizeof(a->fence));
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
        a->fix.speed_mps = lw_db_col_opt_double(st, 11);
        a->fix.course_deg = lw_db_col_opt_double(st, 12);
        a->fix.accuracy_m = lw_db_col_opt_double(st, 13);
    }
    a->late = sqlite3_column_int(st, 14) != 0;
    a->age_ms = sqlite3_column_int64(st, 15);
    a->gap_ms = sqlite3_column_int64(st, 16);
    a->moved_m = lw_db_col_opt_double(st, 17);
    lw_db_col_copy(st, 18, buf, sizeof(buf));
    r->state = parse_state(buf);
    lw_db_col_copy(st, 19, r->ack_by, sizeof(r->ack_by));
    lw_db_col_copy(st, 20, r->ack_note, sizeof(r->ack_note));
    r->ack_ms = sqlite3_column_int64(st, 21);
    r->closed_ms = sqlite3_column_int64(st, 22);
    r->published = sqlite3_column_int(st, 23) != 0;
    a->jamming_suspected = sqlite3_column_int(st, 24) != 0;
    lw_db_col_copy(st, 25, a->other.device, sizeof(a->other.device));
    a->other.has_fix = sqlite3_column_int(st, 26) != 0;
    lw_fix_init(&a->other.fix);
    snprintf(a->other.fix.device, sizeof(a->other.fix.device), "%s",
             a->other.device);
    if (a->other.has_fix) {
        a->other.fix.fix_time_ms = sqlite3_column_int64(st, 27);
        a->other.fix.lat_deg = sqlite3_column_double(st, 28);
        a->other.fix.lon_deg = sqlite3_column_double(st, 29);
        a->other.fix.accuracy_m = lw_db_col_opt_double(st, 30);
    }
    a->other.distance_m = lw_db_col_opt_double(st, 31);
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
    struct lw_db *db = lw_store_db(s);
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !a || !TERMINATED(a->device) || !a->device[0] ||
        !TERMINATED(a->fence) || !TERMINATED(a->other.device) ||
        strcmp(lw_alert_kind_name(a->kind), "unknown") == 0)
        return LW_ERR_INVAL;
    st = lw_db_stmt(
        db,
        "INSERT INTO alerts(kind, device, geofence, fence_tag, "
        "raised_ms, has_fix, fix_time_ms, recv_time_ms, lat_deg, "
        "lon_deg, speed_mps, course_deg, accuracy_m, late, age_ms, "
        "gap_ms, moved_m, changed_ms, jamming, other_device, other_has_fix, "
        "other_fix_time_ms, other_lat_deg, other_lon_deg, other_accuracy_m, "
        "distance_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
        "?12, ?13, ?14, ?15, ?16, ?17, ?5, ?18, ?19, ?20, ?21, ?22, ?23, ?24, "
        "?25)",
        &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, lw_alert_kind_name(a->kind));
    lw_db_bind_text(db, st, 2, a->device);
    lw_db_bind_text(db, st, 3, a->fence);
    lw_db_bind_int64(db, st, 4, a->fence_tag);
    lw_db_bind_int64(db, st, 5, a->raised_ms);
    lw_db_bind_int(db, st, 6, a->has_fix);
    if (a->has_fix) {
        lw_db_bind_int64(db, st, 7, a->fix.fix_time_ms);
        lw_db_bind_int64(db, st, 8, a->fix.recv_time_ms);
        lw_db_bind_double(db, st, 9, a->fix.lat_deg);
        lw_db_bind_double(db, st, 10, a->fix.lon_deg);
        bind_finite(db, st, 11, a->fix.speed_mps);
        bind_finite(db, st, 12, a->fix.course_deg);
        bind_finite(db, st, 13, a->fix.accuracy_m);
    }
    lw_db_bind_int(db, st, 14, a->late);
    lw_db_bind_int64(db, st, 15, a->age_ms);
    lw_db_bind_int64(db, st, 16, a->gap_ms);
    bind_finite(db, st, 17, a->moved_m);
    lw_db_bind_int(db, st, 18, a->jamming_suspected);
    lw_db_bind_text(db, st, 19, a->other.device);
    lw_db_bind_int(db, st, 20, a->other.device[0] && a->other.has_fix);
    if (a->other.device[0] && a->other.has_fix) {
        lw_db_bind_int64(db, st, 21, a->other.fix.fix_time_ms);
        lw_db_bind_double(db, st, 22, a->other.fix.lat_deg);
        lw_db_bind_double(db, st, 23, a->other.fix.lon_deg);
        bind_finite(db, st, 24, a->other.fix.accuracy_m);
    }
    if (a->other.device[0])
        bind_finite(db, st, 25, a->other.distance_m);
    e = lw_db_run(db, st, "storing an alert");
    if (e == LW_OK && id)
        *id = lw_db_last_rowid(db);
    return e;
}

enum lw_err lw_registry_alert_published(struct lw_store *s, int64_t id)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    sqlite3_stmt *st;

    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db, "UPDATE alerts SET published = 1 WHERE id = ?1", &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    return lw_db_run(db, st, "marking an alert published");
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
    struct lw_db *db = lw_store_db(s);
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
        lw_db_seterr(db, "alert %lld is already closed", (long long)id);
        e = LW_ERR_INVAL;
        goto out;
    }
    if (close)
        st = lw_db_stmt(db,
                        "UPDATE alerts SET state = 'closed', closed_ms = ?2, "
                        "changed_ms = ?2 WHERE id = ?1",
                        &e);
    else
        st =
            lw_db_stmt(db,
                       "UPDATE alerts SET state = 'acknowledged', ack_by = ?3, "
                       "ack_note = ?4, ack_ms = ?2, changed_ms = ?2 "
                       "WHERE id = ?1",
                       &e);
    if (!st)
        goto out;
    lw_db_bind_int64(db, st, 1, id);
    lw_db_bind_int64(db, st, 2, now_ms);
    if (!close) {
        lw_db_bind_text(db, st, 3, by ? by : "");
        lw_db_bind_text(db, st, 4, note ? note : "");
    }
    e = lw_db_run(db, st,
                  close ? "closing an alert" : "acknowledging an alert");
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
    if (!s || !out)
        return LW_ERR_INVAL;
    return lw_db_get_id(lw_store_db(s),
                        "SELECT " ALERT_COLS " FROM alerts WHERE id = ?1", id,
                        row_to_alert, out, "reading an alert", "alert");
}

enum lw_err lw_registry_alerts(struct lw_store *s,
                               const struct lw_alert_filter *f,
                               lw_alert_row_cb cb, void *ctx)
{
    struct lw_db *db = lw_store_db(s);
    enum lw_err e;
    static const struct lw_alert_filter all = {0};
    sqlite3_stmt *st;

    if (!s || !cb)
        return LW_ERR_INVAL;
    if (!f)
        f = &all;
    st = lw_db_stmt(db,
                    "SELECT " ALERT_COLS " FROM alerts WHERE "
                    "(?1 IS NULL OR device = ?1) AND "
                    "(?2 = 0 OR state != 'closed') AND "
                    "(?3 = 0 OR published = 0) AND "
                    "changed_ms >= ?4 ORDER BY id",
                    &e);
    if (!st)
        return e;
    if (f->device)
        lw_db_bind_text(db, st, 1, f->device);
    lw_db_bind_int(db, st, 2, f->open_only);
    lw_db_bind_int(db, st, 3, f->unpublished_only);
    lw_db_bind_int64(db, st, 4, f->changed_since_ms);
    return lw_db_each_row(db, st, visit_alert, &cb, ctx, "listing alerts");
}

/* ---- change detection ---------------------------------------------------- */

/* Where lw_registry_version puts the two versions (either may be NULL). */
struct versions {
    int64_t *registry; /* registry_version */
    int64_t *alerts;   /* alerts_version */
};

static int visit_version(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const struct versions *v = cbp;
    const char *k = lw_db_col_str(st, 0);
    int64_t *to = strcmp(k, "registry_version") == 0 ? v->registry
                  : strcmp(k, "alerts_version") == 0 ? v->alerts
                                                     : NULL;

    (void)ctx;
    if (to)
        *to = sqlite3_column_int64(st, 1);
    return 0;
}

enum lw_err lw_registry_version(struct lw_store *s, int64_t *registry,
                                int64_t *alerts)
{
    struct lw_db *db = lw_store_db(s);
    struct versions v = {registry, alerts};
    sqlite3_stmt *st;
    enum lw_err e;

    if (registry)
        *registry = 0;
    if (alerts)
        *alerts = 0;
    if (!s)
        return LW_ERR_INVAL;
    st = lw_db_stmt(db,
                    "SELECT key, value FROM meta WHERE key IN "
                    "('registry_version', 'alerts_version')",
                    &e);
    if (!st)
        return e;
    return lw_db_each_row(db, st, visit_version, &v, NULL,
                          "reading the registry versions");
}

/* ---- finding a vehicle by what an agent has in hand ---------------------- */

/* LOOSE(x): the loose form of a plate or VIN, defined above. */

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

/* Where lw_registry_vehicle_find's rows go. */
struct find_ctx {
    struct lw_vehicle_match *out; /* the caller's array */
    size_t max;                   /* its size */
    size_t count;                 /* matches seen (all of them) */
};

static int visit_match(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct find_ctx *f = ctx;

    (void)cbp;
    if (f->count < f->max) {
        struct lw_vehicle_match *m = &f->out[f->count];

        memset(m, 0, sizeof(*m));
        row_to_vehicle(st, &m->v);
        m->registered = sqlite3_column_int(st, 8) != 0;
        m->by_device = sqlite3_column_int(st, 9) != 0;
        m->by_plate = sqlite3_column_int(st, 10) != 0;
        m->by_vin = sqlite3_column_int(st, 11) != 0;
    }
    f->count++;
    return 0;
}

enum lw_err lw_registry_vehicle_find(struct lw_store *s, enum lw_vehicle_key by,
                                     const char *text,
                                     struct lw_vehicle_match *out, size_t max,
                                     size_t *n)
{
    struct lw_db *db = lw_store_db(s);
    struct find_ctx f = {out, max, 0};
    sqlite3_stmt *st;
    enum lw_err e;

    if (!s || !text || !text[0] || !n || (max > 0 && !out) ||
        by < LW_VEHICLE_BY_ANY || by > LW_VEHICLE_BY_VIN)
        return LW_ERR_INVAL;
    *n = 0;
    /* ids by their primary keys; plates and VINs each in a scan of the
     * vehicles (an index would need the loose forms indexed: a migration,
     * for a lookup an agent makes by hand). The key tests depend on no row:
     * SQLite evaluates them once and skips the scans a key does not need. */
    st = lw_db_stmt(db, vehicle_find_sql, &e);
    if (!st)
        return e;
    lw_db_bind_text(db, st, 1, text);
    lw_db_bind_int(db, st, 2, (int)by);
    e = lw_db_each_row(db, st, visit_match, NULL, &f, "finding a vehicle");
    if (e == LW_OK)
        *n = f.count;
    return e;
}
