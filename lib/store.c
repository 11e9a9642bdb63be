/*
 * store.c - the SQLite store behind include/lienwatch/store.h.
 *
 * Schema (migrations 1 and 4; see migrations[] below for the exact SQL):
 *   schema_version  one row per applied migration; the version is max(version)
 *   devices         id, first/last heard (our clock), fix_count (kept in step
 *                   with the history by put_fix and prune), and a copy of the
 *                   newest fix by fix time (last_*), so the last-known
 *                   position survives any pruning of history
 *   fix_history     history, PRIMARY KEY (device, fix_time_ms), WITHOUT ROWID:
 *                   the key is the uniqueness rule and the history index
 *   fix_inbox       the newest fixes in arrival order, no index (their keys
 *                   are in memory: struct keyset); moved into fix_history
 *                   INBOX_MERGE_ROWS at a time (merge_inbox)
 *   fixes           view: fix_history UNION ALL fix_inbox (all of history)
 *   last_fix        view: the last-known fix of each device that has one
 *   counters        name -> value, e.g. "received", "rejected.not_json"
 *   audit           who looked up which device, when, why
 * Units as in fix.h: WGS-84 degrees, m/s, metres, UTC milliseconds. Unknown
 * optional values are SQL NULL (NAN, battery -1 and trigger 0 in C).
 *
 * Every statement is prepared once per handle, on first use, and kept in
 * s->stmts; after each use it is reset and its bindings cleared, so no
 * statement stays active between calls (a reader's snapshot ends with the
 * call) and close can finalize them all.
 *
 * Pure core: no clock, no logging, no globals. Failures return an enum lw_err
 * and leave a sentence in s->errmsg (lw_store_errmsg).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lienwatch/store.h"
#include "store_priv.h"

/* How long a statement waits for another connection's lock, ms. */
#define BUSY_TIMEOUT_MS 5000
/* Room for one error sentence of this handle. */
#define ERRMSG_LEN 512
/* Mode of a database file we create: borrowers' locations are private. */
#define DB_FILE_MODE 0600
/*
 * Writer tuning, from a 200,000-fix run over 10,000 devices in batches of
 * 1,000 (every batch touches ~1,000 random history pages): SQLite's default
 * 2 MiB page cache re-reads pages from the WAL and a checkpoint every 1,000
 * pages runs after nearly every commit; 32 MiB and 8,192 pages (~32 MiB of
 * WAL) took the rate from ~46,000 to ~70,000 fixes/s. Negative cache_size
 * is in KiB.
 */
#define WRITER_CACHE_KIB 32768
#define WRITER_WAL_CHECKPOINT_PAGES 8192
/* Devices one lw_store_prune_step looks at, at most. */
#define PRUNE_STEP_DEVICES 1000
/* Fixes in fix_inbox that make a commit move them into history first. */
#define INBOX_MERGE_ROWS 20000

/* Columns of a fix row, in the order row_to_fix reads them. */
#define FIX_COLS                                                               \
    "device, fix_time_ms, recv_time_ms, lat_deg, lon_deg, speed_mps, "         \
    "course_deg, accuracy_m, alt_m, battery_pct, trigger_code"
/* The same columns of the last-known fix in a devices row (migration 4),
 * without the device (the row's id). */
#define LAST_COLS_NO_DEVICE                                                    \
    "last_fix_time_ms, last_recv_time_ms, last_lat_deg, last_lon_deg, "        \
    "last_speed_mps, last_course_deg, last_accuracy_m, last_alt_m, "           \
    "last_battery_pct, last_trigger_code"

/* The columns of a stored fix in migration 4's fix_history and fix_inbox
 * (part of a shipped migration: never change it). */
#define FIX_COLUMNS_V4                                                         \
    "device TEXT NOT NULL, fix_time_ms INTEGER NOT NULL, "                     \
    "recv_time_ms INTEGER NOT NULL, lat_deg REAL NOT NULL, "                   \
    "lon_deg REAL NOT NULL, speed_mps REAL, course_deg REAL, "                 \
    "accuracy_m REAL, alt_m REAL, battery_pct INTEGER, trigger_code TEXT"

/*
 * Numbered migrations: migrations[i] takes the schema from version i to i+1.
 * Append only; never edit an entry that has shipped. Later issues add
 * vehicles, accounts, geofences, alerts and the mail outbox here.
 */
static const char *const migrations[] = {
    /* 1: devices, fix history, last-known fix, counters, audit trail */
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
    "CREATE INDEX audit_by_device ON audit(device, id);",
    /* 2: meta, accounts, vehicles, geofences (+ R*Tree), alerts: registry.c */
    lw_registry_migration_2,
    /* 3: mail outbox, alerts held for storm digests: outbox.c */
    lw_outbox_migration_3,
    /* 4: the write path in two statements per fix. The last-known fix moves
     * into the devices row (one UPDATE for heard times, count and position),
     * and new fixes go to fix_inbox, a small table in arrival order, moved
     * into the device-ordered history in bulk (see merge_inbox). Views keep
     * the names fixes and last_fix for every reader. */
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
    "UPDATE devices SET (" LAST_COLS_NO_DEVICE ") = "
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
    "CREATE VIEW fixes AS SELECT " FIX_COLS " FROM fix_history "
    "UNION ALL SELECT " FIX_COLS " FROM fix_inbox;",
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(MIGRATION_COUNT == LW_STORE_SCHEMA_VERSION,
               "LW_STORE_SCHEMA_VERSION must equal the number of migrations");


/* Index of each FIX_COLS column in a result row; its parameter is one more
 * (?1 .. ?11 in the INSERTs below). */
enum fix_col {
    COL_DEVICE,
    COL_FIX_TIME,
    COL_RECV_TIME,
    COL_LAT,
    COL_LON,
    COL_SPEED,
    COL_COURSE,
    COL_ACCURACY,
    COL_ALT,
    COL_BATTERY,
    COL_TRIGGER,
};
#define PARAM(col) ((col) + 1)

/* Limits checked before a fix reaches the database. */
#define LAT_MAX_DEG 90.0
#define LON_MAX_DEG 180.0
#define BATTERY_MAX_PCT 100

/* Cached statements; the SQL of each is in stmt_sql[]. */
enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_DEV_REGISTER_FIX,
    ST_INBOX_INSERT,
    ST_DEV_NEWEST,
    ST_DEV_FIXED,
    ST_HISTORY_HAS,
    ST_MERGE_COPY,
    ST_MERGE_CLEAR,
    ST_INBOX_KEYS,
    ST_HEARD,
    ST_COUNTER_ADD,
    ST_DEV_GET,
    ST_LAST_GET,
    ST_HISTORY,
    ST_DEVICES,
    ST_COUNTERS,
    ST_PRUNE_NEXT,
    ST_PRUNE_DELETE,
    ST_PRUNE_COUNT,
    ST_AUDIT_ADD,
    ST_AUDIT_LIST,
    ST_AUDIT_LIST_DEV,
    ST_COUNT_
};

/* The columns of struct lw_device_info, in the order row_to_device reads. */
#define DEVICE_COLS "id, first_heard_ms, last_heard_ms, last_fix_time_ms, fix_count"

static const char *const stmt_sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* a device's first fix registers it, with that fix as its last-known;
     * changes() == 0: the device is known */
    [ST_DEV_REGISTER_FIX] =
        "INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count, "
        LAST_COLS_NO_DEVICE ") VALUES "
        "(?1, ?3, ?3, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT (id) DO NOTHING",
    /* put_fix has ruled out a duplicate (the inbox has no index to do it) */
    [ST_INBOX_INSERT] = "INSERT INTO fix_inbox (" FIX_COLS ") VALUES "
                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    /* the common case in one statement: a known device's fix newer than its
     * last-known one (so newer than all its history, never a duplicate)
     * moves the heard window, the count and the last-known fix; changes()
     * == 0 means an unknown device, a late fix or a duplicate. min/max: our
     * clock may step back; the window only ever widens */
    [ST_DEV_NEWEST] =
        "UPDATE devices SET "
        "first_heard_ms = min(first_heard_ms, ?3), "
        "last_heard_ms = max(last_heard_ms, ?3), "
        "fix_count = fix_count + 1, "
        "last_fix_time_ms = ?2, last_recv_time_ms = ?3, "
        "last_lat_deg = ?4, last_lon_deg = ?5, last_speed_mps = ?6, "
        "last_course_deg = ?7, last_accuracy_m = ?8, last_alt_m = ?9, "
        "last_battery_pct = ?10, last_trigger_code = ?11 "
        "WHERE id = ?1 AND "
        "(last_fix_time_ms IS NULL OR last_fix_time_ms < ?2)",
    /* a late fix: heard window and count only */
    [ST_DEV_FIXED] = "UPDATE devices SET "
                     "first_heard_ms = min(first_heard_ms, ?2), "
                     "last_heard_ms = max(last_heard_ms, ?2), "
                     "fix_count = fix_count + 1 WHERE id = ?1",
    [ST_HISTORY_HAS] = "SELECT 1 FROM fix_history "
                       "WHERE device = ?1 AND fix_time_ms = ?2",
    /* the inbox into the history in key order (each device's pages are
     * written once per merge, not once per commit); DO NOTHING: put_fix
     * never lets a duplicate into the inbox, and a merge must not fail on
     * one all the same; unlike INSERT OR IGNORE, any other constraint still
     * fails it */
    [ST_MERGE_COPY] = "INSERT INTO fix_history (" FIX_COLS ") SELECT "
                      FIX_COLS " FROM fix_inbox WHERE true "
                      "ORDER BY device, fix_time_ms "
                      "ON CONFLICT (device, fix_time_ms) DO NOTHING",
    [ST_MERGE_CLEAR] = "DELETE FROM fix_inbox",
    [ST_INBOX_KEYS] = "SELECT device, fix_time_ms FROM fix_inbox",
    [ST_HEARD] =
        "INSERT INTO devices (id, first_heard_ms, last_heard_ms) "
        "VALUES (?1, ?2, ?2) ON CONFLICT (id) DO UPDATE SET "
        "first_heard_ms = min(first_heard_ms, excluded.first_heard_ms), "
        "last_heard_ms = max(last_heard_ms, excluded.last_heard_ms)",
    [ST_COUNTER_ADD] = "INSERT INTO counters (name, value) VALUES (?1, ?2) "
                       "ON CONFLICT (name) DO UPDATE SET "
                       "value = value + excluded.value",
    [ST_DEV_GET] = "SELECT " DEVICE_COLS " FROM devices WHERE id = ?1",
    [ST_LAST_GET] = "SELECT id, " LAST_COLS_NO_DEVICE " FROM devices "
                    "WHERE id = ?1 AND last_fix_time_ms IS NOT NULL",
    /* the view: history and inbox */
    [ST_HISTORY] = "SELECT " FIX_COLS " FROM fixes WHERE device = ?1 "
                   "AND fix_time_ms BETWEEN ?2 AND ?3 ORDER BY fix_time_ms",
    [ST_DEVICES] = "SELECT " DEVICE_COLS " FROM devices ORDER BY id",
    [ST_COUNTERS] = "SELECT name, value FROM counters ORDER BY name",
    /* prune, device by device in id order (after a merge: all of history
     * is in fix_history): the next device, then at most ?4 + 1 of its fixes
     * older than ?2 (the oldest), never its last-known one (?3) */
    [ST_PRUNE_NEXT] = "SELECT id, last_fix_time_ms FROM devices "
                      "WHERE id > ?1 ORDER BY id LIMIT 1",
    [ST_PRUNE_DELETE] =
        "DELETE FROM fix_history WHERE device = ?1 AND fix_time_ms < ?2 "
        "AND fix_time_ms IS NOT ?3 AND fix_time_ms <= coalesce("
        "(SELECT fix_time_ms FROM fix_history WHERE device = ?1 "
        "AND fix_time_ms < ?2 ORDER BY fix_time_ms LIMIT 1 OFFSET ?4), ?2)",
    [ST_PRUNE_COUNT] = "UPDATE devices SET fix_count = fix_count - ?2 "
                       "WHERE id = ?1",
    [ST_AUDIT_ADD] = "INSERT INTO audit (at_ms, who, action, device, reason) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_AUDIT_LIST] = "SELECT id, at_ms, who, action, device, reason "
                      "FROM audit ORDER BY id",
    [ST_AUDIT_LIST_DEV] = "SELECT id, at_ms, who, action, device, reason "
                          "FROM audit WHERE device = ?1 ORDER BY id",
};

/* Statements of other core modules cached per handle (store_priv.h). */
#define EXT_STMT_MAX 64

struct ext_stmt {
    const char *sql;  /* the caller's string literal: the cache key */
    sqlite3_stmt *st; /* its prepared statement */
};

/*
 * The keys (device, fix_time_ms) of the rows in fix_inbox, as 64-bit hashes
 * in an open-addressing table (0 marks a free slot). The inbox has no index:
 * put_fix asks this set whether a fix that is not newer than its device's
 * last-known one may be in the inbox, and merges the inbox first when it
 * may. A hash collision only costs an early merge. valid is false while the
 * set may miss a key (memory ran out, a rollback could not re-read the
 * inbox): every such fix then merges first, and an empty inbox after a
 * merge makes the set valid again.
 */
struct keyset {
    uint64_t *slots; /* cap slots, cap a power of two */
    size_t cap;
    size_t n;   /* used slots */
    bool valid; /* holds every key of the inbox */
};

/* Slots of a new set; grows by doubling past half full. */
#define KEYSET_MIN_CAP 1024

/* FNV-1a over the device id, then the time mixed in (splitmix64). */
static uint64_t key_hash(const char *device, int64_t fix_time_ms)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)device; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= (uint64_t)fix_time_ms + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

static bool keyset_has(const struct keyset *k, uint64_t h)
{
    if (!k->cap)
        return false;
    for (size_t i = h & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        if (k->slots[i] == h)
            return true;
        if (k->slots[i] == 0)
            return false;
    }
}

/* Puts h in a table known to have room (no growth). */
static void keyset_put(uint64_t *slots, size_t cap, uint64_t h)
{
    size_t i = h & (cap - 1);

    while (slots[i] != 0 && slots[i] != h)
        i = (i + 1) & (cap - 1);
    slots[i] = h;
}

/* Adds h; false (set unchanged) when memory runs out. */
static bool keyset_add(struct keyset *k, uint64_t h)
{
    if (keyset_has(k, h))
        return true;
    if ((k->n + 1) * 2 > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : KEYSET_MIN_CAP;
        uint64_t *slots = calloc(cap, sizeof(*slots));

        if (!slots)
            return false;
        for (size_t i = 0; i < k->cap; i++)
            if (k->slots[i])
                keyset_put(slots, cap, k->slots[i]);
        free(k->slots);
        k->slots = slots;
        k->cap = cap;
    }
    keyset_put(k->slots, k->cap, h);
    k->n++;
    return true;
}

/* Empties the set (the inbox was emptied): valid again. */
static void keyset_clear(struct keyset *k)
{
    if (k->n)
        memset(k->slots, 0, k->cap * sizeof(*k->slots));
    k->n = 0;
    k->valid = true;
}

struct lw_store {
    sqlite3 *db;                    /* the connection */
    struct ext_stmt ext[EXT_STMT_MAX]; /* registry.c's statements */
    int next;                       /* used entries of ext */
    bool rdonly;                    /* opened with LW_STORE_RDONLY */
    int64_t inbox_rows;             /* rows in fix_inbox, as far as known */
    struct keyset inbox_keys;       /* their keys (see struct keyset) */
    sqlite3_stmt *stmts[ST_COUNT_]; /* prepared on first use, NULL before */
    char errmsg[ERRMSG_LEN];        /* last failure of this handle */
};

/* Records a failure sentence in s->errmsg. */
__attribute__((format(printf, 2, 3))) static void
set_errmsg(struct lw_store *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
}

/* Maps a SQLite result code to the lienwatch error enum. */
static enum lw_err map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return LW_OK;
    case SQLITE_NOMEM:
        return LW_ERR_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LW_ERR_BUSY;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return LW_ERR_IO;
    default:
        return LW_ERR_DB;
    }
}

/* Records SQLite's message for a failed 'what' and returns the mapped code. */
static enum lw_err db_fail(struct lw_store *s, int rc, const char *what)
{
    set_errmsg(s, "%s: %s", what, sqlite3_errmsg(s->db));
    return map_rc(rc);
}

/* The cached statement id, prepared on first use; NULL (errmsg set) on
 * failure. A statement still stepping (a callback re-entering the same
 * query) is refused rather than reset under its caller. */
static sqlite3_stmt *stmt(struct lw_store *s, enum stmt_id id, enum lw_err *e)
{
    int rc;

    *e = LW_OK;
    if (!s->stmts[id]) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            *e = db_fail(s, rc, "preparing a statement");
            s->stmts[id] = NULL;
            return NULL;
        }
        if (!s->stmts[id]) { /* only for SQL without a statement */
            set_errmsg(s, "statement %d is empty", (int)id);
            *e = LW_ERR_DB;
            return NULL;
        }
    } else if (sqlite3_stmt_busy(s->stmts[id])) {
        set_errmsg(s, "store function re-entered from its own callback");
        *e = LW_ERR_INVAL;
        return NULL;
    }
    return s->stmts[id];
}

/* Ends one use of a cached statement. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Binds an optional double: NAN is NULL. */
static int bind_opt_double(sqlite3_stmt *st, int i, double v)
{
    return lw_has(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

/* Reads an optional double: NULL is NAN. */
static double col_opt_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? NAN
               : sqlite3_column_double(st, i);
}

/* Copies a text column into dst (dstlen bytes incl. NUL), truncating. */
static void col_text(sqlite3_stmt *st, int i, char *dst, size_t dstlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

/* Binds the 11 FIX_COLS of f as parameters 1..11. The text parameters
 * point into f (SQLITE_STATIC): f must outlive the statement's use. */
static int bind_fix(sqlite3_stmt *st, const struct lw_fix *f)
{
    int rc =
        sqlite3_bind_text(st, PARAM(COL_DEVICE), f->device, -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, PARAM(COL_FIX_TIME), f->fix_time_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, PARAM(COL_RECV_TIME), f->recv_time_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, PARAM(COL_LAT), f->lat_deg);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_double(st, PARAM(COL_LON), f->lon_deg);
    if (rc == SQLITE_OK)
        rc = bind_opt_double(st, PARAM(COL_SPEED), f->speed_mps);
    if (rc == SQLITE_OK)
        rc = bind_opt_double(st, PARAM(COL_COURSE), f->course_deg);
    if (rc == SQLITE_OK)
        rc = bind_opt_double(st, PARAM(COL_ACCURACY), f->accuracy_m);
    if (rc == SQLITE_OK)
        rc = bind_opt_double(st, PARAM(COL_ALT), f->alt_m);
    if (rc == SQLITE_OK)
        rc = f->battery_pct < 0
                 ? sqlite3_bind_null(st, PARAM(COL_BATTERY))
                 : sqlite3_bind_int(st, PARAM(COL_BATTERY), f->battery_pct);
    if (rc == SQLITE_OK)
        rc = f->trigger ? sqlite3_bind_text(st, PARAM(COL_TRIGGER),
                                            &f->trigger, 1, SQLITE_STATIC)
                        : sqlite3_bind_null(st, PARAM(COL_TRIGGER));
    return rc;
}

/* Decodes the current row of a statement into row (the struct the statement
 * selects: struct lw_fix for FIX_COLS, ...). */
typedef void (*row_decoder)(sqlite3_stmt *st, void *row);

/* Fills the struct lw_fix at row from a row of FIX_COLS. */
static void row_to_fix(sqlite3_stmt *st, void *row)
{
    struct lw_fix *f = row;
    const unsigned char *trig;

    lw_fix_init(f);
    col_text(st, COL_DEVICE, f->device, sizeof(f->device));
    f->fix_time_ms = sqlite3_column_int64(st, COL_FIX_TIME);
    f->recv_time_ms = sqlite3_column_int64(st, COL_RECV_TIME);
    f->lat_deg = sqlite3_column_double(st, COL_LAT);
    f->lon_deg = sqlite3_column_double(st, COL_LON);
    f->speed_mps = col_opt_double(st, COL_SPEED);
    f->course_deg = col_opt_double(st, COL_COURSE);
    f->accuracy_m = col_opt_double(st, COL_ACCURACY);
    f->alt_m = col_opt_double(st, COL_ALT);
    if (sqlite3_column_type(st, COL_BATTERY) != SQLITE_NULL)
        f->battery_pct = sqlite3_column_int(st, COL_BATTERY);
    trig = sqlite3_column_text(st, COL_TRIGGER);
    f->trigger = trig ? (char)trig[0] : 0;
}

/* Fills the struct lw_device_info at row from a devices row (id, first,
 * last heard, last fix, count). */
static void row_to_device(sqlite3_stmt *st, void *row)
{
    struct lw_device_info *d = row;

    *d = (struct lw_device_info){0};
    col_text(st, 0, d->device, sizeof(d->device));
    d->first_heard_ms = sqlite3_column_int64(st, 1);
    d->last_heard_ms = sqlite3_column_int64(st, 2);
    d->last_fix_ms = sqlite3_column_int64(st, 3); /* NULL reads as 0 */
    d->fixes = sqlite3_column_int64(st, 4);
}

/* True when id is a device id the store accepts. */
static bool device_ok(const char *id)
{
    size_t n;

    if (!id)
        return false;
    n = strnlen(id, LW_DEVICE_MAX + 1);
    return n > 0 && n <= LW_DEVICE_MAX;
}

/* Argument check shared by the public entry points. */
static enum lw_err check_handle(const struct lw_store *s)
{
    return s && s->db ? LW_OK : LW_ERR_INVAL;
}

/* Argument check of the writing entry points. */
static enum lw_err check_writable(struct lw_store *s)
{
    if (check_handle(s) != LW_OK)
        return LW_ERR_INVAL;
    if (s->rdonly) {
        set_errmsg(s, "the store was opened read-only");
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Runs one statement without parameters or rows (pragmas, DDL). */
static enum lw_err exec(struct lw_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? LW_OK : db_fail(s, rc, what);
}

/* Reads the schema version into *v (0 when there is no schema_version). */
static enum lw_err read_version(struct lw_store *s, int *v)
{
    static const char sql[] =
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE "
        "type = 'table' AND name = 'schema_version') THEN 1 ELSE 0 END";
    static const char max_sql[] =
        "SELECT coalesce(max(version), 0) FROM schema_version";
    sqlite3_stmt *st = NULL;
    enum lw_err e = LW_OK;
    int rc;

    *v = 0;
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
        sqlite3_column_int(st, 0) == 1) {
        sqlite3_finalize(st);
        st = NULL;
        rc = sqlite3_prepare_v2(s->db, max_sql, -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            sqlite3_int64 ver = sqlite3_column_int64(st, 0);

            *v = ver > INT_MAX ? INT_MAX : (int)ver;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = db_fail(s, rc, "reading the schema version");
    sqlite3_finalize(st);
    return e;
}

/*
 * Reads the keys of fix_inbox into s->inbox_keys and their number into
 * s->inbox_rows (on open, and after a rollback took rows back). On failure
 * the set is marked not valid (see struct keyset).
 */
static enum lw_err read_inbox_keys(struct lw_store *s)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int64_t rows = 0;
    bool ok = true;
    int rc;

    keyset_clear(&s->inbox_keys);
    s->inbox_keys.valid = false;
    st = stmt(s, ST_INBOX_KEYS, &e);
    if (!st)
        return e;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *dev = sqlite3_column_text(st, 0);

        rows++;
        if (ok && dev)
            ok = keyset_add(&s->inbox_keys,
                            key_hash((const char *)dev,
                                     sqlite3_column_int64(st, 1)));
    }
    e = rc == SQLITE_DONE ? LW_OK : db_fail(s, rc, "reading the fix inbox");
    done(st);
    if (e == LW_OK) {
        s->inbox_rows = rows;
        s->inbox_keys.valid = ok;
    }
    return e;
}

/* Applies every migration after the current version, in one transaction. */
static enum lw_err migrate(struct lw_store *s, const char *path)
{
    char sql[64];
    enum lw_err e;
    int v;

    e = exec(s, "BEGIN IMMEDIATE", "starting the migration");
    if (e)
        return e;
    e = exec(s,
             "CREATE TABLE IF NOT EXISTS schema_version "
             "(version INTEGER NOT NULL PRIMARY KEY)",
             "creating schema_version");
    if (e)
        goto out_rollback;
    e = read_version(s, &v);
    if (e)
        goto out_rollback;
    if (v > LW_STORE_SCHEMA_VERSION) {
        set_errmsg(s,
                   "database %s has schema version %d; this program "
                   "knows up to %d: upgrade lienwatch",
                   path, v, LW_STORE_SCHEMA_VERSION);
        e = LW_ERR_SCHEMA;
        goto out_rollback;
    }
    for (; v < MIGRATION_COUNT; v++) {
        e = exec(s, migrations[v], "applying a schema migration");
        if (e) {
            /* keep SQLite's words, say which step */
            char why[ERRMSG_LEN];

            snprintf(why, sizeof(why), "%s", s->errmsg);
            set_errmsg(s, "migration %d of %s: %s", v + 1, path, why);
            goto out_rollback;
        }
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_version (version) VALUES (%d)", v + 1);
        e = exec(s, sql, "recording the schema version");
        if (e)
            goto out_rollback;
    }
    e = exec(s, "COMMIT", "committing the migration");
    if (e)
        goto out_rollback;
    return LW_OK;

out_rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

/*
 * Creates path with DB_FILE_MODE when it does not exist yet, so SQLite (which
 * would use 0644 & ~umask) opens our private file; SQLite gives its -wal and
 * -shm files the database file's mode. An existing file is left as it is.
 */
static enum lw_err create_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, DB_FILE_MODE);

    if (fd >= 0) {
        close(fd);
        return LW_OK;
    }
    if (errno == EEXIST)
        return LW_OK;
    lw_seterr(err, errlen, "cannot create database %s: %s", path,
              strerror(errno));
    return LW_ERR_IO;
}

/* True for names SQLite treats as in-memory or temporary databases. */
static bool is_memory(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0;
}

/* True when the WAL file of path exists (a writer is or was connected). */
static bool wal_exists(const char *path)
{
    char wal[PATH_MAX];
    struct stat sb;

    if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
        return true; /* cannot tell: assume the careful answer */
    return stat(wal, &sb) == 0 || errno != ENOENT;
}

/*
 * A reader of a WAL database must create the -shm index when no connection
 * has; in a directory it may not write (the daemon stopped, an agent's
 * account) that fails with SQLITE_READONLY. With no -wal file there is no
 * writer and nothing beyond the main file to read, so the file is reopened
 * as immutable (no locks, no -shm). Returns LW_OK or the error of the reopen.
 */
static enum lw_err reopen_immutable(struct lw_store *s, const char *path)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-";
    size_t n = strlen(path);
    char *uri = malloc(n * 3 + sizeof("file:?immutable=1"));
    char *p = uri;
    int rc;

    if (!uri)
        return LW_ERR_NOMEM;
    p += sprintf(p, "file:");
    for (; *path; path++) {
        if (strchr(safe, *path))
            *p++ = *path;
        else
            p += sprintf(p, "%%%02X", (unsigned char)*path);
    }
    strcpy(p, "?immutable=1");
    sqlite3_close_v2(s->db);
    rc = sqlite3_open_v2(
        uri, &s->db,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK)
        return s->db ? db_fail(s, rc, "reopening read-only") : map_rc(rc);
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    return LW_OK;
}

enum lw_err lw_store_open(struct lw_store **out, const char *path, int flags,
                          char *err, size_t errlen)
{
    struct lw_store *s = NULL;
    bool rdonly = flags & LW_STORE_RDONLY;
    bool nomigrate = !rdonly && (flags & LW_STORE_NOMIGRATE);
    bool memory;
    struct stat sb;
    enum lw_err e;
    int oflags, rc, v;

    if (out)
        *out = NULL;
    if (!out || !path ||
        (flags & ~(LW_STORE_RDONLY | LW_STORE_NOMIGRATE)) != 0) {
        lw_seterr(err, errlen, "lw_store_open: invalid argument");
        return LW_ERR_INVAL;
    }
    memory = is_memory(path);
    if (!memory && (rdonly || nomigrate) && stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            lw_seterr(err, errlen, "database %s not found", path);
            return LW_ERR_NOTFOUND;
        }
        lw_seterr(err, errlen, "cannot access database %s: %s", path,
                  strerror(errno));
        return LW_ERR_IO;
    }
    if (!memory && !rdonly && !nomigrate) {
        e = create_private(path, err, errlen);
        if (e)
            return e;
    }

    s = calloc(1, sizeof(*s));
    if (!s) {
        lw_seterr(err, errlen, "out of memory opening %s", path);
        return LW_ERR_NOMEM;
    }
    s->rdonly = rdonly;
    /* one handle, one thread: SQLite's per-connection mutex is not needed */
    oflags =
        SQLITE_OPEN_NOMUTEX |
        (rdonly ? SQLITE_OPEN_READONLY
                : SQLITE_OPEN_READWRITE | (nomigrate ? 0 : SQLITE_OPEN_CREATE));
    rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        lw_seterr(err, errlen, "cannot open database %s: %s", path,
                  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        e = map_rc(rc);
        goto out_close;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* SQLite falls back to read-only when it may not write the file */
    if (!rdonly && sqlite3_db_readonly(s->db, "main") == 1) {
        lw_seterr(err, errlen,
                  "database %s is not writable by this user (permission "
                  "denied)",
                  path);
        e = LW_ERR_IO;
        goto out_close;
    }

    if (!rdonly) {
        char pragmas[256];

        /* journal_mode is persistent in the file; the others are per
         * connection. WAL: readers never block the writer. NORMAL: a
         * power cut may lose the last commits, never corrupt. */
        if (nomigrate) {
            /* a side writer never checkpoints: one small insert must not
             * pay for the daemon's WAL */
            snprintf(pragmas, sizeof(pragmas),
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                     "PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0");
        } else {
            snprintf(pragmas, sizeof(pragmas),
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                     "PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d; "
                     "PRAGMA wal_autocheckpoint = %d",
                     WRITER_CACHE_KIB, WRITER_WAL_CHECKPOINT_PAGES);
        }
        e = exec(s, pragmas, "setting pragmas");
        if (e)
            goto out_detail;
    }
    if (!rdonly && !nomigrate) {
        e = migrate(s, path);
        if (!e)
            e = read_inbox_keys(s);
        if (e)
            goto out_detail;
        goto out_ok;
    }

    /* read-only or no-migrate: the schema must already be there */
    e = read_version(s, &v);
    if (e && rdonly && !memory &&
        (sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_READONLY &&
        !wal_exists(path)) {
        e = reopen_immutable(s, path);
        if (e == LW_OK)
            e = read_version(s, &v);
    }
    if (e)
        goto out_detail;
    if (v > LW_STORE_SCHEMA_VERSION) {
        set_errmsg(s,
                   "database %s has schema version %d; this program knows "
                   "up to %d: upgrade lienwatch",
                   path, v, LW_STORE_SCHEMA_VERSION);
        e = LW_ERR_SCHEMA;
        goto out_detail;
    }
    if (v < 1) {
        set_errmsg(s,
                   "database %s has no lienwatch schema yet (create it with "
                   "'lienwatch init-db' or by starting lienwatchd)",
                   path);
        e = LW_ERR_SCHEMA;
        goto out_detail;
    }
    /* the queries are those of the current schema (migration 4 moved the
     * last-known fix): an older file must be upgraded by a writer first */
    if (v < LW_STORE_SCHEMA_VERSION) {
        set_errmsg(s,
                   "database %s has schema version %d, older than this "
                   "program's %d: start lienwatchd (or run 'lienwatch "
                   "init-db') once to upgrade it",
                   path, v, LW_STORE_SCHEMA_VERSION);
        e = LW_ERR_SCHEMA;
        goto out_detail;
    }
out_ok:
    *out = s;
    return LW_OK;

out_detail:
    if (strstr(s->errmsg, path))
        lw_seterr(err, errlen, "%s", s->errmsg);
    else
        lw_seterr(err, errlen, "database %s: %s", path, s->errmsg);
out_close:
    lw_store_close(s);
    return e;
}

void lw_store_close(struct lw_store *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < ST_COUNT_; i++)
        sqlite3_finalize(s->stmts[i]);
    for (i = 0; i < s->next; i++)
        sqlite3_finalize(s->ext[i].st);
    free(s->inbox_keys.slots);
    if (s->db) {
        /* closing rolls back an open transaction; the statements are
         * finalized, so close_v2 frees everything now */
        sqlite3_close_v2(s->db);
    }
    free(s);
}

const char *lw_store_errmsg(const struct lw_store *s)
{
    if (!s)
        return "no store handle";
    if (s->errmsg[0])
        return s->errmsg;
    return s->db ? sqlite3_errmsg(s->db) : "not open";
}

/* Steps a cached statement that returns no rows, then ends its use. */
static enum lw_err run(struct lw_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    enum lw_err e = LW_OK;

    if (rc != SQLITE_DONE)
        e = db_fail(s, rc, what);
    done(st);
    return e;
}

/* Runs one of the cached statements without parameters or rows. */
static enum lw_err txn(struct lw_store *s, enum stmt_id id, const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (check_handle(s))
        return LW_ERR_INVAL;
    st = stmt(s, id, &e);
    return st ? run(s, st, what) : e;
}

/*
 * Moves the inbox into fix_history, in the caller's transaction. One merge
 * writes each device's history pages once for all its fixes since the last
 * one; storing fixes there directly wrote them at every commit (one page per
 * device per batch: ~4 KiB of WAL for each ~100-byte fix).
 */
static enum lw_err merge_inbox(struct lw_store *s)
{
    enum lw_err e;

    e = txn(s, ST_MERGE_COPY, "moving fixes into history");
    if (e)
        return e;
    e = txn(s, ST_MERGE_CLEAR, "emptying the fix inbox");
    if (e)
        return e;
    s->inbox_rows = 0;
    keyset_clear(&s->inbox_keys);
    return LW_OK;
}

enum lw_err lw_store_begin(struct lw_store *s)
{
    return txn(s, ST_BEGIN, "BEGIN");
}

enum lw_err lw_store_commit(struct lw_store *s)
{
    enum lw_err e;

    if (check_handle(s))
        return LW_ERR_INVAL;
    if (s->inbox_rows >= INBOX_MERGE_ROWS && lw_store_in_txn(s)) {
        e = merge_inbox(s);
        if (e)
            return e;
    }
    return txn(s, ST_COMMIT, "COMMIT");
}

enum lw_err lw_store_rollback(struct lw_store *s)
{
    enum lw_err e = txn(s, ST_ROLLBACK, "ROLLBACK");

    /* what the transaction put in (or merged out of) the inbox is back as
     * it was */
    if (e == LW_OK && !s->rdonly)
        (void)read_inbox_keys(s);
    return e;
}

bool lw_store_in_txn(const struct lw_store *s)
{
    return s && s->db && !sqlite3_get_autocommit(s->db);
}

/* Binds (text ?1, int64 ?2) and runs a cached no-row statement. */
static enum lw_err run_text_int(struct lw_store *s, enum stmt_id id,
                                const char *text, int64_t n, const char *what,
                                int *changes)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    st = stmt(s, id, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, n);
    if (rc != SQLITE_OK) {
        done(st);
        return db_fail(s, rc, what);
    }
    e = run(s, st, what);
    if (changes)
        *changes = e ? 0 : sqlite3_changes(s->db);
    return e;
}

/* Binds f and runs a cached no-row statement, giving sqlite3_changes. */
static enum lw_err run_fix(struct lw_store *s, enum stmt_id id,
                           const struct lw_fix *f, const char *what,
                           int *changes)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    st = stmt(s, id, &e);
    if (!st)
        return e;
    rc = bind_fix(st, f);
    if (rc != SQLITE_OK) {
        done(st);
        return db_fail(s, rc, what);
    }
    e = run(s, st, what);
    *changes = e ? 0 : sqlite3_changes(s->db);
    return e;
}

/* Checks a fix before it reaches the database. */
static enum lw_err check_fix(struct lw_store *s, const struct lw_fix *f)
{
    if (!f || !device_ok(f->device)) {
        set_errmsg(s, "fix without a valid device id");
        return LW_ERR_INVAL;
    }
    if (!isfinite(f->lat_deg) || !isfinite(f->lon_deg) ||
        fabs(f->lat_deg) > LAT_MAX_DEG || fabs(f->lon_deg) > LON_MAX_DEG) {
        set_errmsg(s, "fix of %s: position out of range", f->device);
        return LW_ERR_INVAL;
    }
    if (f->battery_pct < -1 || f->battery_pct > BATTERY_MAX_PCT) {
        set_errmsg(s, "fix of %s: battery %d%% out of range", f->device,
                   f->battery_pct);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/*
 * Whether fix_history holds (device, fix_time_ms) of f: *has true or false.
 */
static enum lw_err history_has(struct lw_store *s, const struct lw_fix *f,
                               bool *has)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    st = stmt(s, ST_HISTORY_HAS, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, f->device, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, f->fix_time_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    e = rc == SQLITE_ROW || rc == SQLITE_DONE
            ? LW_OK
            : db_fail(s, rc, "looking a fix up in history");
    *has = rc == SQLITE_ROW;
    done(st);
    return e;
}

/*
 * The hot path. A fix newer than its device's last-known one is newer than
 * all of the device's history, so it cannot be a duplicate: one UPDATE of the
 * device row (heard times, count, last-known fix) and one append to the inbox
 * store it. That is nearly every fix. A device's first fix registers it.
 * Only a fix that is not newer (late, or a duplicate) is compared with the
 * history: in fix_history by its key, after a merge when the inbox may hold
 * it (see struct keyset).
 */
enum lw_err lw_store_put_fix(struct lw_store *s, const struct lw_fix *f,
                             enum lw_put_result *res)
{
    enum lw_put_result r = LW_PUT_NEWEST;
    uint64_t key;
    enum lw_err e;
    int changes = 0;
    bool dup;

    e = check_writable(s);
    if (e)
        return e;
    e = check_fix(s, f);
    if (e)
        return e;
    key = key_hash(f->device, f->fix_time_ms);
    e = run_fix(s, ST_DEV_NEWEST, f, "updating the last-known fix", &changes);
    if (e)
        return e;
    if (changes == 0) {
        e = run_fix(s, ST_DEV_REGISTER_FIX, f, "registering a device",
                    &changes);
        if (e)
            return e;
    }
    if (changes == 0) {
        /* a known device, and not its newest fix */
        if (!s->inbox_keys.valid || keyset_has(&s->inbox_keys, key)) {
            e = merge_inbox(s);
            if (e)
                return e;
        }
        e = history_has(s, f, &dup);
        if (e)
            return e;
        if (dup) {
            if (res)
                *res = LW_PUT_DUPLICATE;
            return LW_OK;
        }
        e = run_text_int(s, ST_DEV_FIXED, f->device, f->recv_time_ms,
                         "updating a device", NULL);
        if (e)
            return e;
        r = LW_PUT_LATE;
    }
    e = run_fix(s, ST_INBOX_INSERT, f, "storing a fix", &changes);
    if (e)
        return e;
    s->inbox_rows++;
    if (!keyset_add(&s->inbox_keys, key))
        s->inbox_keys.valid = false; /* merges until the next empty inbox */
    if (res)
        *res = r;
    return LW_OK;
}

enum lw_err lw_store_heard(struct lw_store *s, const char *device,
                           int64_t recv_ms)
{
    enum lw_err e = check_writable(s);

    if (e)
        return e;
    if (!device_ok(device)) {
        set_errmsg(s, "invalid device id");
        return LW_ERR_INVAL;
    }
    return run_text_int(s, ST_HEARD, device, recv_ms, "recording heard", NULL);
}

enum lw_err lw_store_counter_add(struct lw_store *s, const char *name,
                                 int64_t delta)
{
    enum lw_err e = check_writable(s);

    if (e)
        return e;
    if (!name || !name[0]) {
        set_errmsg(s, "counter without a name");
        return LW_ERR_INVAL;
    }
    return run_text_int(s, ST_COUNTER_ADD, name, delta, "adding to a counter",
                        NULL);
}

/*
 * Runs the one-row query id bound to device (?1) and decodes its row into
 * out. Returns LW_OK, LW_ERR_NOTFOUND ("<what>: no such device '<device>'"
 * recorded) or the error (what names it); LW_ERR_INVAL for a bad handle or
 * a NULL argument.
 */
static enum lw_err get_device_row(struct lw_store *s, enum stmt_id id,
                                  const char *device, row_decoder decode,
                                  void *out, const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    if (check_handle(s) || !device || !out)
        return LW_ERR_INVAL;
    st = stmt(s, id, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        decode(st, out);
        e = LW_OK;
    } else if (rc == SQLITE_DONE) {
        set_errmsg(s, "%s: no such device '%s'", what, device);
        e = LW_ERR_NOTFOUND;
    } else {
        e = db_fail(s, rc, what);
    }
    done(st);
    return e;
}

/*
 * Hands the current row of a listing to its callback: decodes it into a
 * value of the callback's type and returns the callback's result (non-zero
 * stops the listing). cbp points to the typed callback (lw_fix_cb, ...).
 */
typedef int (*row_visitor)(sqlite3_stmt *st, const void *cbp, void *ctx);

/*
 * Runs the listing st, calling visit(st, cbp, ctx) for each row until it
 * returns non-zero. rc is the result of binding st's parameters: anything
 * but SQLITE_OK fails at once. Returns LW_OK or the error (what names it).
 * Ends st's use.
 */
static enum lw_err each_row(struct lw_store *s, sqlite3_stmt *st, int rc,
                            row_visitor visit, const void *cbp, void *ctx,
                            const char *what)
{
    enum lw_err e;

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (visit(st, cbp, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    e = rc == SQLITE_DONE ? LW_OK : db_fail(s, rc, what);
    done(st);
    return e;
}

static int visit_fix(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_fix_cb *cb = cbp;
    struct lw_fix f;

    row_to_fix(st, &f);
    return (*cb)(ctx, &f);
}

static int visit_device(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_device_cb *cb = cbp;
    struct lw_device_info d;

    row_to_device(st, &d);
    return (*cb)(ctx, &d);
}

static int visit_counter(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    const lw_counter_cb *cb = cbp;
    const unsigned char *name = sqlite3_column_text(st, 0);

    return (*cb)(ctx, name ? (const char *)name : "",
                 sqlite3_column_int64(st, 1));
}

enum lw_err lw_store_device_get(struct lw_store *s, const char *device,
                                struct lw_device_info *out)
{
    return get_device_row(s, ST_DEV_GET, device, row_to_device, out,
                          "reading a device");
}

enum lw_err lw_store_last_fix(struct lw_store *s, const char *device,
                              struct lw_fix *out)
{
    return get_device_row(s, ST_LAST_GET, device, row_to_fix, out,
                          "reading the last-known fix");
}

enum lw_err lw_store_history(struct lw_store *s, const char *device,
                             int64_t from_ms, int64_t to_ms, lw_fix_cb cb,
                             void *ctx)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    if (check_handle(s) || !device || !cb)
        return LW_ERR_INVAL;
    st = stmt(s, ST_HISTORY, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, from_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, to_ms);
    return each_row(s, st, rc, visit_fix, &cb, ctx, "reading history");
}

enum lw_err lw_store_devices(struct lw_store *s, lw_device_cb cb, void *ctx)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (check_handle(s) || !cb)
        return LW_ERR_INVAL;
    st = stmt(s, ST_DEVICES, &e);
    if (!st)
        return e;
    return each_row(s, st, SQLITE_OK, visit_device, &cb, ctx,
                    "listing devices");
}

enum lw_err lw_store_counters(struct lw_store *s, lw_counter_cb cb, void *ctx)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (check_handle(s) || !cb)
        return LW_ERR_INVAL;
    st = stmt(s, ST_COUNTERS, &e);
    if (!st)
        return e;
    return each_row(s, st, SQLITE_OK, visit_counter, &cb, ctx,
                    "reading counters");
}

/*
 * Retention, after a merge of the inbox. The last-known fix lives in the
 * devices row (a copy), so deleting history could never lose it; the history
 * row of the last-known fix is kept as well, so a device's history always
 * ends at its last-known position.
 */

/* The device after *cursor in id order into next (and its last fix time);
 * *found false after the last one. */
static enum lw_err prune_next(struct lw_store *s, const char *cursor,
                              char *next, size_t nextlen, int64_t *last_ms,
                              bool *last_null, bool *found)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    st = stmt(s, ST_PRUNE_NEXT, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, cursor, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        col_text(st, 0, next, nextlen);
        *last_null = sqlite3_column_type(st, 1) == SQLITE_NULL;
        *last_ms = sqlite3_column_int64(st, 1);
    }
    e = rc == SQLITE_ROW || rc == SQLITE_DONE ? LW_OK
                                              : db_fail(s, rc, "pruning");
    done(st);
    return e;
}

/* Deletes at most max_rows expired fixes of one device; *n gets how many. */
static enum lw_err prune_device(struct lw_store *s, const char *device,
                                int64_t before_ms, int64_t last_ms,
                                bool last_null, int64_t max_rows, int64_t *n)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    *n = 0;
    st = stmt(s, ST_PRUNE_DELETE, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, before_ms);
    if (rc == SQLITE_OK)
        rc = last_null ? sqlite3_bind_null(st, 3)
                       : sqlite3_bind_int64(st, 3, last_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 4, max_rows - 1);
    if (rc != SQLITE_OK) {
        done(st);
        return db_fail(s, rc, "pruning");
    }
    e = run(s, st, "pruning");
    if (e)
        return e;
    *n = sqlite3_changes64(s->db);
    if (*n == 0)
        return LW_OK;
    /* fix_count stays the size of the device's history */
    return run_text_int(s, ST_PRUNE_COUNT, device, *n, "pruning (counting)",
                        NULL);
}

enum lw_err lw_store_prune_step(struct lw_store *s, int64_t before_ms,
                                char *cursor, int64_t max_rows,
                                int64_t *deleted, bool *finished)
{
    char next[LW_DEVICE_MAX + 1];
    int64_t total = 0, n, last_ms = 0;
    bool last_null = true, found;
    enum lw_err e;
    int visited = 0;

    if (deleted)
        *deleted = 0;
    if (finished)
        *finished = false;
    e = check_writable(s);
    if (e)
        return e;
    if (!cursor || max_rows < 1)
        return LW_ERR_INVAL;
    e = exec(s, "SAVEPOINT lw_prune", "starting prune");
    if (e)
        return e;
    if (!cursor[0]) {
        e = merge_inbox(s);
        if (e)
            goto out_rollback;
    }
    for (;;) {
        e = prune_next(s, cursor, next, sizeof(next), &last_ms, &last_null,
                       &found);
        if (e)
            goto out_rollback;
        if (!found) {
            if (finished)
                *finished = true;
            break;
        }
        e = prune_device(s, next, before_ms, last_ms, last_null,
                         max_rows - total, &n);
        if (e)
            goto out_rollback;
        total += n;
        if (total >= max_rows)
            break; /* this device may have more: the next step goes on */
        memcpy(cursor, next, strlen(next) + 1);
        if (++visited >= PRUNE_STEP_DEVICES)
            break;
    }
    e = exec(s, "RELEASE lw_prune", "finishing prune");
    if (e)
        goto out_rollback;
    if (deleted)
        *deleted = total;
    return LW_OK;

out_rollback:
    sqlite3_exec(s->db, "ROLLBACK TO lw_prune; RELEASE lw_prune", NULL, NULL,
                 NULL);
    (void)read_inbox_keys(s); /* the merge may be undone */
    return e;
}

enum lw_err lw_store_prune(struct lw_store *s, int64_t before_ms,
                           int64_t *deleted)
{
    char cursor[LW_DEVICE_MAX + 1] = "";
    int64_t total = 0, n;
    bool finished = false;
    enum lw_err e;

    if (deleted)
        *deleted = 0;
    e = check_writable(s);
    if (e)
        return e;
    e = exec(s, "SAVEPOINT lw_prune_all", "starting prune");
    if (e)
        return e;
    while (!finished) {
        e = lw_store_prune_step(s, before_ms, cursor, INT64_MAX, &n,
                                &finished);
        if (e) {
            sqlite3_exec(s->db,
                         "ROLLBACK TO lw_prune_all; RELEASE lw_prune_all",
                         NULL, NULL, NULL);
            (void)read_inbox_keys(s);
            return e;
        }
        total += n;
    }
    e = exec(s, "RELEASE lw_prune_all", "finishing prune");
    if (e) {
        sqlite3_exec(s->db, "ROLLBACK TO lw_prune_all; RELEASE lw_prune_all",
                     NULL, NULL, NULL);
        (void)read_inbox_keys(s);
        return e;
    }
    if (deleted)
        *deleted = total;
    return LW_OK;
}

/* Binds text or NULL. */
static int bind_opt_text(sqlite3_stmt *st, int i, const char *t)
{
    return t ? sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}

enum lw_err lw_store_audit(struct lw_store *s, int64_t at_ms, const char *who,
                           const char *action, const char *device,
                           const char *reason)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int rc;

    e = check_writable(s);
    if (e)
        return e;
    if (!who || !who[0] || !action || !action[0]) {
        set_errmsg(s, "audit record without who or action");
        return LW_ERR_INVAL;
    }
    st = stmt(s, ST_AUDIT_ADD, &e);
    if (!st)
        return e;
    rc = sqlite3_bind_int64(st, 1, at_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_opt_text(st, 4, device);
    if (rc == SQLITE_OK)
        rc = bind_opt_text(st, 5, reason);
    if (rc != SQLITE_OK) {
        done(st);
        return db_fail(s, rc, "recording an audit entry");
    }
    return run(s, st, "recording an audit entry");
}

enum lw_err lw_store_audit_list(struct lw_store *s, const char *device,
                                lw_audit_cb cb, void *ctx)
{
    struct lw_audit_entry a;
    sqlite3_stmt *st;
    enum lw_err e;
    int rc = SQLITE_OK;

    if (check_handle(s) || !cb)
        return LW_ERR_INVAL;
    st = stmt(s, device ? ST_AUDIT_LIST_DEV : ST_AUDIT_LIST, &e);
    if (!st)
        return e;
    if (device)
        rc = sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *who = sqlite3_column_text(st, 2);
        const unsigned char *action = sqlite3_column_text(st, 3);

        a.id = sqlite3_column_int64(st, 0);
        a.at_ms = sqlite3_column_int64(st, 1);
        a.who = who ? (const char *)who : "";
        a.action = action ? (const char *)action : "";
        a.device = (const char *)sqlite3_column_text(st, 4);
        a.reason = (const char *)sqlite3_column_text(st, 5);
        if (cb(ctx, &a) != 0) {
            rc = SQLITE_DONE;
            break;
        }
        rc = SQLITE_OK;
    }
    e = rc == SQLITE_DONE ? LW_OK : db_fail(s, rc, "reading the audit trail");
    done(st);
    return e;
}

int lw_store_schema_version(struct lw_store *s)
{
    int v;

    if (check_handle(s))
        return -1;
    return read_version(s, &v) == LW_OK ? v : -1;
}

sqlite3 *lw_store_sqlite(struct lw_store *s)
{
    return s ? s->db : NULL;
}

void lw_store_seterr(struct lw_store *s, const char *fmt, ...)
{
    va_list ap;

    if (!s)
        return;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
}

sqlite3_stmt *lw_store_prepare_cached(struct lw_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int i;

    if (!s || !s->db || !sql)
        return NULL;
    for (i = 0; i < s->next; i++) {
        if (s->ext[i].sql == sql) {
            if (!sqlite3_stmt_busy(s->ext[i].st))
                return s->ext[i].st;
            break; /* in use by an outer caller: prepare a fresh one */
        }
    }
    if (sqlite3_prepare_v3(s->db, sql, -1,
                           i == s->next ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    if (i == s->next && s->next < EXT_STMT_MAX)
        s->ext[s->next++] = (struct ext_stmt){sql, st};
    return st;
}

void lw_store_release_stmt(struct lw_store *s, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (int i = 0; s && i < s->next; i++) {
        if (s->ext[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}
