/*
 * schema.c - every schema migration of the lienwatch database (schema.h).
 *
 * Numbered migrations: migrations[i] takes the schema from version i to
 * i + 1, each in the one transaction of lw_schema_migrate together with its
 * row in schema_version. Append only; never edit a migration that has
 * shipped (its text is what older databases went through). The modules
 * that use the tables (store.c, registry.c, outbox.c, audit.c) describe
 * their columns; the tables of each migration:
 *   1  devices, fixes, last_fix, counters, audit (store.c, audit.c)
 *   2  meta, accounts, vehicles, geofences, geofence_rtree, alerts
 *      (registry.c)
 *   3  outbox, outbox_held, alerts_by_kind_time, meta 'mail_instance'
 *      (outbox.c)
 *   4  the last-known fix as columns of devices, fix_history and fix_inbox
 *      (the views fixes and last_fix keep the old names; store.c)
 *   5  the audit trail's further columns, its hash chain (the records
 *      already there chained in id order by a C step, auditchain.c) and
 *      the triggers that refuse changing or deleting a record (audit.c)
 *   6  purges: devices whose loan ended or tracker was removed; thin_marks:
 *      how far each device's history is thinned (store.c)
 *   7  users, tokens, cases, commands (users.c, cases.c, commands.c)
 *   8  fix_suspect: fixes flagged suspect ("jump") by ingest (suspect.c);
 *      alerts.jamming: an offline alert after degraded accuracy (registry.c)
 *   9  fleet: the vehicle as an entity of its own (by VIN, or an id when the
 *      VIN is unknown); vehicle_devices: install records, which tracker was
 *      in which vehicle and when (registry.c); alerts.other_*: the second
 *      device of a tracker_separation / tracker_lost alert
 * tests/fixtures/schema-vN.sql are databases written by the code of each
 * version; tests/unit/test_schema.c upgrades each of them.
 */
#include <limits.h>
#include <stdio.h>

#include "auditchain.h"
#include "lienwatch/store.h"
#include "schema.h"

/* Migration 4's column lists (part of a shipped migration: never change
 * them, even when the store's queries change theirs). */
#define FIX_COLS_V4                                                            \
    "device, fix_time_ms, recv_time_ms, lat_deg, lon_deg, speed_mps, "         \
    "course_deg, accuracy_m, alt_m, battery_pct, trigger_code"
#define LAST_COLS_V4                                                           \
    "last_fix_time_ms, last_recv_time_ms, last_lat_deg, last_lon_deg, "        \
    "last_speed_mps, last_course_deg, last_accuracy_m, last_alt_m, "           \
    "last_battery_pct, last_trigger_code"
#define FIX_COLUMNS_V4                                                         \
    "device TEXT NOT NULL, fix_time_ms INTEGER NOT NULL, "                     \
    "recv_time_ms INTEGER NOT NULL, lat_deg REAL NOT NULL, "                   \
    "lon_deg REAL NOT NULL, speed_mps REAL, course_deg REAL, "                 \
    "accuracy_m REAL, alt_m REAL, battery_pct INTEGER, trigger_code TEXT"

/* 1: devices, fix history, last-known fix, counters, audit trail */
static const char migration_1[] =
    "CREATE TABLE devices ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  first_heard_ms INTEGER NOT NULL,"
    "  last_heard_ms INTEGER NOT NULL,"
    "  fix_count INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE TABLE fixes ("
    "  device TEXT NOT NULL REFERENCES devices(id),"
    "  fix_time_ms INTEGER NOT NULL,"
    "  recv_time_ms INTEGER NOT NULL,"
    "  lat_deg REAL NOT NULL,"
    "  lon_deg REAL NOT NULL,"
    "  speed_mps REAL,"
    "  course_deg REAL,"
    "  accuracy_m REAL,"
    "  alt_m REAL,"
    "  battery_pct INTEGER,"
    "  trigger_code TEXT,"
    "  PRIMARY KEY (device, fix_time_ms)"
    ") WITHOUT ROWID;"
    "CREATE TABLE last_fix ("
    "  device TEXT NOT NULL PRIMARY KEY REFERENCES devices(id),"
    "  fix_time_ms INTEGER NOT NULL,"
    "  recv_time_ms INTEGER NOT NULL,"
    "  lat_deg REAL NOT NULL,"
    "  lon_deg REAL NOT NULL,"
    "  speed_mps REAL,"
    "  course_deg REAL,"
    "  accuracy_m REAL,"
    "  alt_m REAL,"
    "  battery_pct INTEGER,"
    "  trigger_code TEXT"
    ") WITHOUT ROWID;"
    "CREATE TABLE counters ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  value INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    /* no foreign key on device: the trail outlives devices and also records
     * lookups of ids that never existed */
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  who TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  device TEXT,"
    "  reason TEXT"
    ");"
    "CREATE INDEX audit_by_device ON audit(device, id);";

/* 2: meta (key -> integer), accounts, vehicles, geofences (+ R*Tree),
 * alerts */
static const char migration_2[] =
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

/* 3: the mail outbox, alerts held for storm digests */
static const char migration_3[] =
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  digest INTEGER NOT NULL DEFAULT 0,"
    "  alert_id INTEGER NOT NULL DEFAULT 0,"
    "  alert_ids TEXT NOT NULL DEFAULT '',"
    "  nalerts INTEGER NOT NULL DEFAULT 1,"
    "  device TEXT NOT NULL DEFAULT '',"
    "  recipient TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending', 'sent', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_try_ms INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  failed_ms INTEGER NOT NULL DEFAULT 0,"
    "  notified INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (message_id, recipient)"
    ");"
    "CREATE INDEX outbox_due ON outbox(next_try_ms, id) "
    "  WHERE state = 'pending';"
    "CREATE INDEX outbox_unnotified ON outbox(id) "
    "  WHERE state = 'failed' AND notified = 0;"
    "CREATE INDEX outbox_by_alert ON outbox(alert_id);"
    "CREATE TABLE outbox_held ("
    "  alert_id INTEGER NOT NULL PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  device TEXT NOT NULL,"
    "  held_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX outbox_held_by_kind ON outbox_held(kind, alert_id);"
    "CREATE INDEX alerts_by_kind_time ON alerts(kind, raised_ms);"
    /* 32 random bits (SQLite's PRNG, seeded from the OS) */
    "INSERT INTO meta(key, value) VALUES "
    "  ('mail_instance', random() & 4294967295) "
    "  ON CONFLICT(key) DO NOTHING;";

/* 4: the write path in two statements per fix. The last-known fix moves
 * into the devices row (one UPDATE for heard times, count and position),
 * and new fixes go to fix_inbox, a small table in arrival order, moved
 * into the device-ordered history in bulk (store.c, merge_inbox). Views keep
 * the names fixes and last_fix for every reader. */
static const char migration_4[] =
    "ALTER TABLE devices ADD COLUMN last_fix_time_ms INTEGER;"
    "ALTER TABLE devices ADD COLUMN last_recv_time_ms INTEGER;"
    "ALTER TABLE devices ADD COLUMN last_lat_deg REAL;"
    "ALTER TABLE devices ADD COLUMN last_lon_deg REAL;"
    "ALTER TABLE devices ADD COLUMN last_speed_mps REAL;"
    "ALTER TABLE devices ADD COLUMN last_course_deg REAL;"
    "ALTER TABLE devices ADD COLUMN last_accuracy_m REAL;"
    "ALTER TABLE devices ADD COLUMN last_alt_m REAL;"
    "ALTER TABLE devices ADD COLUMN last_battery_pct INTEGER;"
    "ALTER TABLE devices ADD COLUMN last_trigger_code TEXT;"
    "UPDATE devices SET (" LAST_COLS_V4 ") = "
    "(SELECT fix_time_ms, recv_time_ms, lat_deg, lon_deg, speed_mps, "
    "course_deg, accuracy_m, alt_m, battery_pct, trigger_code "
    "FROM last_fix l WHERE l.device = devices.id);"
    "DROP TABLE last_fix;"
    "CREATE VIEW last_fix AS SELECT id AS device, "
    "last_fix_time_ms AS fix_time_ms, last_recv_time_ms AS recv_time_ms, "
    "last_lat_deg AS lat_deg, last_lon_deg AS lon_deg, "
    "last_speed_mps AS speed_mps, last_course_deg AS course_deg, "
    "last_accuracy_m AS accuracy_m, last_alt_m AS alt_m, "
    "last_battery_pct AS battery_pct, last_trigger_code AS trigger_code "
    "FROM devices WHERE last_fix_time_ms IS NOT NULL;"
    /* fix_history as fixes was, without the foreign key: put_fix writes a
     * fix and its device row in one transaction, nothing deletes devices,
     * and the check cost a lookup in devices for every fix moved */
    "CREATE TABLE fix_history (" FIX_COLUMNS_V4 ","
    "  PRIMARY KEY (device, fix_time_ms)"
    ") WITHOUT ROWID;"
    "INSERT INTO fix_history SELECT * FROM fixes;"
    "DROP TABLE fixes;"
    "CREATE TABLE fix_inbox (" FIX_COLUMNS_V4 ");"
    "CREATE VIEW fixes AS SELECT " FIX_COLS_V4 " FROM fix_history "
    "UNION ALL SELECT " FIX_COLS_V4 " FROM fix_inbox;";

/* 5: who and on what grounds in more detail (role, program, a name given
 * with --as, the operating system's word on the user, client address, case,
 * the basis of access, what was changed or shown), the hash chain, and
 * triggers: records are never changed or deleted, and none is added
 * without a well-formed hash past the last record (audit.h). Defence in
 * depth only: whoever can write the file can drop them, which the chain
 * then shows. */
static const char migration_5[] =
    "ALTER TABLE audit ADD COLUMN role TEXT;"
    "ALTER TABLE audit ADD COLUMN via TEXT;"
    "ALTER TABLE audit ADD COLUMN as_name TEXT;"
    "ALTER TABLE audit ADD COLUMN os_detail TEXT;"
    "ALTER TABLE audit ADD COLUMN client TEXT;"
    "ALTER TABLE audit ADD COLUMN case_id TEXT;"
    "ALTER TABLE audit ADD COLUMN basis TEXT;"
    "ALTER TABLE audit ADD COLUMN detail TEXT;"
    "ALTER TABLE audit ADD COLUMN hash TEXT;"
    "CREATE INDEX audit_by_case ON audit(case_id, id) "
    "  WHERE case_id IS NOT NULL;";
/* ... after lw_auditchain_migrate has chained the records already there */
static const char migration_5_after[] =
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN"
    "  SELECT RAISE(ABORT, 'audit records are never changed');"
    "END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN"
    "  SELECT RAISE(ABORT, 'audit records are never deleted');"
    "END;"
    "CREATE TRIGGER audit_chained BEFORE INSERT ON audit"
    "  WHEN NEW.hash IS NULL OR length(NEW.hash) != 64"
    "    OR NEW.hash GLOB '*[^0-9a-f]*'"
    "    OR NEW.id <= (SELECT coalesce(max(id), 0) FROM audit)"
    "BEGIN"
    "  SELECT RAISE(ABORT, 'an audit record is appended with its chain "
    "hash, past the last record');"
    "END;";

/* 6: the end of a loan. One row per device whose positions are to be
 * purged: its account was paid off or closed (purged [privacy]
 * purge_after_payoff after requested_ms), or its tracker was removed with
 * --purge (immediate; without --purge, purge = 0: nothing is deleted but
 * retention's deletions). From the row's creation on, the device's fixes are
 * not stored, and a removed tracker's vehicle is not watched (store.c, counted
 * ignored.paid_off); done_ms is set when the purge is complete (store.c,
 * lw_store_purge_step). Accounts ended before this version are queued as of
 * their last update. */
static const char migration_6[] =
    "CREATE TABLE purges ("
    "  device TEXT NOT NULL PRIMARY KEY,"
    "  account TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL"
    "    CHECK (reason IN ('paid_off', 'closed', 'removed')),"
    "  requested_ms INTEGER NOT NULL,"
    "  immediate INTEGER NOT NULL DEFAULT 0,"
    "  purge INTEGER NOT NULL DEFAULT 1,"
    "  done_ms INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE INDEX purges_pending ON purges(requested_ms) WHERE done_ms = 0;"
    /* retention thinning: history of each device up to until_ms is thinned
     * (store.c, lw_store_thin_step), so a fix is judged once */
    "CREATE TABLE thin_marks ("
    "  device TEXT NOT NULL PRIMARY KEY,"
    "  until_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO purges(device, account, reason, requested_ms) "
    "  SELECT v.device, a.id, a.status, a.updated_ms FROM vehicles v "
    "  JOIN accounts a ON a.id = v.account "
    "  WHERE a.status IN ('paid_off', 'closed');";
/* 7: users, bearer tokens, cases and
 * commands to devices (users.c, cases.c, commands.c). Names are shared by
 * users and tokens (checked in users.c); roles are access.h's bits. At most
 * one valid token per name and one open case per agent and device. */
static const char migration_users[] =
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  roles INTEGER NOT NULL CHECK (roles BETWEEN 1 AND 7),"
    "  pwhash TEXT,"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  password_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  roles INTEGER NOT NULL CHECK (roles BETWEEN 1 AND 3),"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_used_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX tokens_by_name ON tokens(name, id);"
    "CREATE TABLE cases ("
    "  id INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  opened_by TEXT NOT NULL,"
    "  opened_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', "
    "'recovered', 'cancelled', 'expired', 'unwatched')),"
    "  closed_ms INTEGER NOT NULL DEFAULT 0,"
    "  closed_by TEXT NOT NULL DEFAULT '',"
    "  note TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE UNIQUE INDEX cases_open ON cases(agent, device) "
    "  WHERE outcome = 'open';"
    "CREATE INDEX cases_open_by_device ON cases(device) "
    "  WHERE outcome = 'open';"
    "CREATE TABLE commands ("
    "  id INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  action TEXT NOT NULL CHECK (action IN ('report_now')),"
    "  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', "
    "'sent', 'answered', 'failed')),"
    "  requested_by TEXT NOT NULL,"
    "  case_id INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  answered_ms INTEGER NOT NULL DEFAULT 0,"
    "  answer_fix_ms INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX commands_outstanding ON commands(state, id) "
    "  WHERE state IN ('queued', 'sent');";

/* fixes flagged suspect: a jump (jump.h), kept apart from the fix columns
 * so that the fix tables and their queries stay as they are */
static const char migration_suspect[] =
    "CREATE TABLE fix_suspect ("
    "  device TEXT NOT NULL,"
    "  fix_time_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  PRIMARY KEY (device, fix_time_ms)"
    ") WITHOUT ROWID;"
    "ALTER TABLE alerts ADD COLUMN jamming INTEGER NOT NULL DEFAULT 0;";

/* The loose form of a VIN in migration 9 (registry.c's LOOSE, as shipped
 * with it): ASCII upper case, spaces, tabs, hyphens and dots removed. */
#define LOOSE_V9(x)                                                            \
    "upper(replace(replace(replace(replace(" x ", ' ', ''), char(9), ''), "    \
    "'-', ''), '.', ''))"

/* 9: vehicles with several trackers. The vehicles table stays the device
 * registry (one row per tracker: account, allowance, what the agent looks
 * for); fleet is the vehicle itself, keyed by the loose form of its VIN
 * (unique when known) or by its id alone; vehicle_devices holds the install
 * records, kept after a detach (detached_ms set). A device is in at most one
 * vehicle at a time (the partial unique index). Every registered device
 * becomes one vehicle with one attached device: devices sharing a VIN are
 * one vehicle with both attached; a device without a VIN gets a vehicle of
 * its own (ids after those with a VIN, in device order). A tracker already
 * removed (purges, 'removed') is recorded as detached at its removal. */
static const char migration_vehicles[] =
    "CREATE TABLE fleet ("
    "  id INTEGER PRIMARY KEY,"
    "  vin TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX fleet_by_vin ON fleet(vin) WHERE vin != '';"
    "CREATE TABLE vehicle_devices ("
    "  id INTEGER PRIMARY KEY,"
    "  vehicle INTEGER NOT NULL REFERENCES fleet(id),"
    "  device TEXT NOT NULL,"
    "  role TEXT NOT NULL DEFAULT ''"
    "    CHECK (role IN ('', 'wired', 'hidden')),"
    "  installed_ms INTEGER NOT NULL DEFAULT 0,"
    "  installer TEXT NOT NULL DEFAULT '',"
    "  disclosure_signed TEXT NOT NULL DEFAULT '',"
    "  attached_ms INTEGER NOT NULL,"
    "  detached_ms INTEGER,"
    "  CHECK (detached_ms IS NULL OR detached_ms >= installed_ms)"
    ");"
    "CREATE UNIQUE INDEX vehicle_devices_attached ON vehicle_devices(device) "
    "  WHERE detached_ms IS NULL;"
    "CREATE INDEX vehicle_devices_by_vehicle ON vehicle_devices(vehicle, id);"
    "CREATE INDEX vehicle_devices_by_device ON vehicle_devices(device, id);"
    "INSERT INTO fleet(vin, created_ms) SELECT " LOOSE_V9("vin") ", "
    "  min(registered_ms) FROM vehicles WHERE " LOOSE_V9("vin") " != '' "
    "  GROUP BY " LOOSE_V9("vin") " ORDER BY " LOOSE_V9("vin") ";"
    "INSERT INTO fleet(vin, created_ms) SELECT '', registered_ms "
    "  FROM vehicles WHERE " LOOSE_V9("vin") " = '' ORDER BY device;"
    "INSERT INTO vehicle_devices(vehicle, device, attached_ms, detached_ms) "
    "  SELECT f.id, v.device, v.registered_ms, p.requested_ms "
    "  FROM vehicles v JOIN fleet f ON f.vin = " LOOSE_V9("v.vin") " "
    "  LEFT JOIN purges p ON p.device = v.device AND p.reason = 'removed' "
    "  WHERE f.vin != '' "
    "UNION ALL "
    "  SELECT (SELECT count(*) FROM fleet WHERE vin != '') + "
    "  row_number() OVER (ORDER BY v.device), v.device, v.registered_ms, "
    "  p.requested_ms FROM vehicles v "
    "  LEFT JOIN purges p ON p.device = v.device AND p.reason = 'removed' "
    "  WHERE " LOOSE_V9("v.vin") " = '';"
    /* the other device of a tracker_separation / tracker_lost alert */
    "ALTER TABLE alerts ADD COLUMN other_device TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE alerts ADD COLUMN other_has_fix INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE alerts ADD COLUMN other_fix_time_ms INTEGER;"
    "ALTER TABLE alerts ADD COLUMN other_lat_deg REAL;"
    "ALTER TABLE alerts ADD COLUMN other_lon_deg REAL;"
    "ALTER TABLE alerts ADD COLUMN other_accuracy_m REAL;"
    "ALTER TABLE alerts ADD COLUMN distance_m REAL;";

/* One migration: SQL, then optionally a step in C and more SQL. */
struct migration {
    const char *sql;                     /* run first */
    enum lw_err (*step)(struct lw_db *); /* then this, when not NULL */
    const char *sql_after;               /* then this, when not NULL */
};

static const struct migration migrations[] = {
    {migration_1, NULL, NULL},
    {migration_2, NULL, NULL},
    {migration_3, NULL, NULL},
    {migration_4, NULL, NULL},
    {migration_5, lw_auditchain_migrate, migration_5_after},
    {migration_6, NULL, NULL},
    {migration_users, NULL, NULL},
    {migration_suspect, NULL, NULL},
    {migration_vehicles, NULL, NULL},
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(MIGRATION_COUNT == LW_STORE_SCHEMA_VERSION,
               "LW_STORE_SCHEMA_VERSION must equal the number of migrations");

static const char SQL_HAS_VERSION[] =
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
    "name = 'schema_version')";
static const char SQL_MAX_VERSION[] =
    "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_CREATE_VERSION[] =
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER NOT NULL PRIMARY KEY)";
static const char SQL_ADD_VERSION[] =
    "INSERT INTO schema_version (version) VALUES (?1)";

/* Decodes a one-integer row into the int64_t at out. */
static void row_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* Runs a one-integer query into *v. */
static enum lw_err query_int(struct lw_db *db, const char *sql, int64_t *v,
                             const char *what)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, sql, &e);

    *v = 0;
    if (!st)
        return e;
    e = lw_db_get_row(db, st, row_int64, v, what);
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

enum lw_err lw_schema_version(struct lw_db *db, int *v)
{
    int64_t has = 0, ver = 0;
    enum lw_err e;

    if (!v)
        return LW_ERR_INVAL;
    *v = 0;
    e = query_int(db, SQL_HAS_VERSION, &has, "reading the schema version");
    if (e == LW_OK && has)
        e = query_int(db, SQL_MAX_VERSION, &ver, "reading the schema version");
    if (e == LW_OK)
        *v = ver > INT_MAX ? INT_MAX : ver < 0 ? 0 : (int)ver;
    return e;
}

/* Records version v as applied. */
static enum lw_err add_version(struct lw_db *db, int v)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, SQL_ADD_VERSION, &e);

    if (!st)
        return e;
    lw_db_bind_int(db, st, 1, v);
    return lw_db_run(db, st, "recording the schema version");
}

enum lw_err lw_schema_migrate(struct lw_db *db, const char *path)
{
    char why[LW_DB_ERRMSG_LEN];
    enum lw_err e;
    int v;

    if (!db || !path)
        return LW_ERR_INVAL;
    e = lw_db_begin(db);
    if (e)
        return e;
    e = lw_db_exec(db, SQL_CREATE_VERSION, "creating schema_version");
    if (e)
        goto out_rollback;
    e = lw_schema_version(db, &v);
    if (e)
        goto out_rollback;
    if (v > LW_STORE_SCHEMA_VERSION) {
        lw_db_seterr(db,
                     "database %s has schema version %d; this program "
                     "knows up to %d: upgrade lienwatch",
                     path, v, LW_STORE_SCHEMA_VERSION);
        e = LW_ERR_SCHEMA;
        goto out_rollback;
    }
    for (; v < MIGRATION_COUNT; v++) {
        const struct migration *m = &migrations[v];

        e = lw_db_exec(db, m->sql, "applying a schema migration");
        if (e == LW_OK && m->step)
            e = m->step(db);
        if (e == LW_OK && m->sql_after)
            e = lw_db_exec(db, m->sql_after, "applying a schema migration");
        if (e) {
            /* keep SQLite's words, say which step */
            snprintf(why, sizeof(why), "%s", lw_db_errmsg(db));
            lw_db_seterr(db, "migration %d of %s: %s", v + 1, path, why);
            goto out_rollback;
        }
        e = add_version(db, v + 1);
        if (e)
            goto out_rollback;
    }
    e = lw_db_commit(db);
    if (e)
        goto out_rollback;
    return LW_OK;

out_rollback:
    sqlite3_exec(lw_db_sqlite(db), "ROLLBACK", NULL, NULL, NULL);
    return e;
}
