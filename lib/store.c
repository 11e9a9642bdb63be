/*
 * store.c - the SQLite store behind include/lienwatch/store.h: opening
 * (with the schema module's migrations), fixes, devices, counters, retention,
 * and the connection the other core modules share (store_priv.h).
 *
 * Tables used here (created by lib/schema.c, migrations 1 and 4):
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
 *   meta            key -> value (migration 2): lw_store_meta_get/set
 * Units as in fix.h: WGS-84 degrees, m/s, metres, UTC milliseconds. Unknown
 * optional values are SQL NULL (NAN, battery -1 and trigger 0 in C).
 *
 * Statements go through lib/db.c: prepared once per handle on first use,
 * reset after each use, so no statement stays active between calls.
 *
 * Pure core: no clock, no logging, no globals. Failures return an enum lw_err
 * and leave a sentence in the handle (lw_store_errmsg).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "lienwatch/geo.h"
#include "lienwatch/places.h"
#include "lienwatch/store.h"
#include "schema.h"
#include "store_priv.h"

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
/* Longest meta key, without the NUL. */
#define META_KEY_MAX 128

_Static_assert(LW_STORE_BUSY_TIMEOUT_MS == LW_DB_BUSY_TIMEOUT_MS,
               "store.h documents the busy timeout db.c sets");

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

/* The store's statements; the SQL of each is in stmt_sql[] (static
 * storage: lw_db_stmt caches them by address). */
enum stmt_id {
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
    ST_PRUNE_SUSPECT,
    ST_PRUNE_COUNT,
    ST_DATA_VERSION,
    ST_META_GET,
    ST_META_SET,
    ST_META_DELETE,
    ST_ENDED,
    ST_COUNT_
};

/* The columns of struct lw_device_info, in the order row_to_device reads. */
#define DEVICE_COLS                                                            \
    "id, first_heard_ms, last_heard_ms, last_fix_time_ms, fix_count"

static const char *const stmt_sql[ST_COUNT_] = {
    /* a device whose loan ended or whose tracker was removed (migration 6):
     * its fixes are not stored */
    [ST_ENDED] = "SELECT 1 FROM purges WHERE device = ?1",
    /* a device's first fix registers it, with that fix as its last-known;
     * changes() == 0: the device is known */
    [ST_DEV_REGISTER_FIX] =
        "INSERT INTO devices (id, first_heard_ms, last_heard_ms, "
        "fix_count, " LAST_COLS_NO_DEVICE ") VALUES "
        "(?1, ?3, ?3, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT (id) DO NOTHING",
    /* put_fix has ruled out a duplicate (the inbox has no index to do it) */
    [ST_INBOX_INSERT] = "INSERT INTO fix_inbox (" FIX_COLS ") VALUES "
                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    /* the common case in one statement: a known device's fix newer than its
     * last-known one (so newer than all its history but its suspect fixes,
     * which never became the last-known one: suspect.h) moves the heard
     * window, the count and the last-known fix; changes() == 0 means an
     * unknown device, a late fix or a duplicate (a suspect fix redelivered
     * is one). min/max: our clock may step back; the window only ever
     * widens */
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
        "(last_fix_time_ms IS NULL OR last_fix_time_ms < ?2) AND NOT EXISTS "
        "(SELECT 1 FROM fix_suspect WHERE device = ?1 AND fix_time_ms = ?2)",
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
    [ST_MERGE_COPY] = "INSERT INTO fix_history (" FIX_COLS ") SELECT " FIX_COLS
                      " FROM fix_inbox WHERE true "
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
    /* the suspect flags (suspect.h) of expired fixes the prune deleted go
     * with them: those older than ?2 whose fix is no longer stored */
    [ST_PRUNE_SUSPECT] =
        "DELETE FROM fix_suspect WHERE device = ?1 AND fix_time_ms < ?2 "
        "AND NOT EXISTS (SELECT 1 FROM fixes f WHERE f.device = ?1 AND "
        "f.fix_time_ms = fix_suspect.fix_time_ms)",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    /* a BLOB (?2 is bound as one): the INTEGER affinity of meta.value
     * would turn the text "0123" into the number 123 */
    [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_META_DELETE] = "DELETE FROM meta WHERE key = ?1",
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
    struct lw_db *db;         /* the connection and its statements */
    bool rdonly;              /* opened with LW_STORE_RDONLY */
    int64_t inbox_rows;       /* rows in fix_inbox, as far as known */
    struct keyset inbox_keys; /* their keys (see struct keyset) */
};

/* The statement id, ready to bind; NULL (*e and the reason set) on
 * failure. */
static sqlite3_stmt *stmt(struct lw_store *s, enum stmt_id id, enum lw_err *e)
{
    return lw_db_stmt(s->db, stmt_sql[id], e);
}

/* Binds the 11 FIX_COLS of f as parameters 1..11. The text parameters
 * point into f (SQLITE_STATIC): f must outlive the statement's use. */
static void bind_fix(struct lw_db *db, sqlite3_stmt *st, const struct lw_fix *f)
{
    lw_db_bind_text(db, st, PARAM(COL_DEVICE), f->device);
    lw_db_bind_int64(db, st, PARAM(COL_FIX_TIME), f->fix_time_ms);
    lw_db_bind_int64(db, st, PARAM(COL_RECV_TIME), f->recv_time_ms);
    lw_db_bind_double(db, st, PARAM(COL_LAT), f->lat_deg);
    lw_db_bind_double(db, st, PARAM(COL_LON), f->lon_deg);
    lw_db_bind_opt_double(db, st, PARAM(COL_SPEED), f->speed_mps);
    lw_db_bind_opt_double(db, st, PARAM(COL_COURSE), f->course_deg);
    lw_db_bind_opt_double(db, st, PARAM(COL_ACCURACY), f->accuracy_m);
    lw_db_bind_opt_double(db, st, PARAM(COL_ALT), f->alt_m);
    if (f->battery_pct < 0)
        lw_db_bind_null(db, st, PARAM(COL_BATTERY));
    else
        lw_db_bind_int(db, st, PARAM(COL_BATTERY), f->battery_pct);
    if (f->trigger)
        lw_db_bind_textn(db, st, PARAM(COL_TRIGGER), &f->trigger, 1);
    else
        lw_db_bind_null(db, st, PARAM(COL_TRIGGER));
}

/* Fills the struct lw_fix at row from a row of FIX_COLS. */
static void row_to_fix(sqlite3_stmt *st, void *row)
{
    struct lw_fix *f = row;
    const unsigned char *trig;

    lw_fix_init(f);
    lw_db_col_copy(st, COL_DEVICE, f->device, sizeof(f->device));
    f->fix_time_ms = sqlite3_column_int64(st, COL_FIX_TIME);
    f->recv_time_ms = sqlite3_column_int64(st, COL_RECV_TIME);
    f->lat_deg = sqlite3_column_double(st, COL_LAT);
    f->lon_deg = sqlite3_column_double(st, COL_LON);
    f->speed_mps = lw_db_col_opt_double(st, COL_SPEED);
    f->course_deg = lw_db_col_opt_double(st, COL_COURSE);
    f->accuracy_m = lw_db_col_opt_double(st, COL_ACCURACY);
    f->alt_m = lw_db_col_opt_double(st, COL_ALT);
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
    lw_db_col_copy(st, 0, d->device, sizeof(d->device));
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
    return s && lw_db_sqlite(s->db) ? LW_OK : LW_ERR_INVAL;
}

/* Argument check of the writing entry points. */
static enum lw_err check_writable(struct lw_store *s)
{
    if (check_handle(s) != LW_OK)
        return LW_ERR_INVAL;
    if (s->rdonly) {
        lw_db_seterr(s->db, "the store was opened read-only");
        return LW_ERR_INVAL;
    }
    return LW_OK;
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
    while ((rc = lw_db_step(s->db, st)) == SQLITE_ROW) {
        const unsigned char *dev = sqlite3_column_text(st, 0);

        rows++;
        if (ok && dev)
            ok = keyset_add(
                &s->inbox_keys,
                key_hash((const char *)dev, sqlite3_column_int64(st, 1)));
    }
    e = rc == SQLITE_DONE ? LW_OK
                          : lw_db_fail(s->db, rc, "reading the fix inbox");
    lw_db_done(s->db, st);
    if (e == LW_OK) {
        s->inbox_rows = rows;
        s->inbox_keys.valid = ok;
    }
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
    enum lw_err e;

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
    e = lw_db_reopen(s->db, uri,
                     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                         SQLITE_OPEN_NOMUTEX);
    free(uri);
    return e;
}

enum lw_err lw_store_open(struct lw_store **out, const char *path, int flags,
                          char *err, size_t errlen)
{
    struct lw_store *s = NULL;
    bool rdonly = flags & LW_STORE_RDONLY;
    bool nomigrate = !rdonly && (flags & LW_STORE_NOMIGRATE);
    bool memory;
    struct stat sb;
    const char *why;
    enum lw_err e;
    int oflags, v;

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
    e = lw_db_open(&s->db, path, oflags, err, errlen);
    if (e)
        goto out_close;
    /* SQLite falls back to read-only when it may not write the file */
    if (!rdonly && sqlite3_db_readonly(lw_db_sqlite(s->db), "main") == 1) {
        lw_seterr(err, errlen,
                  "database %s is not writable by this user (permission "
                  "denied)",
                  path);
        e = LW_ERR_READONLY;
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
        e = lw_db_exec(s->db, pragmas, "setting pragmas");
        if (e)
            goto out_detail;
    }
    if (!rdonly && !nomigrate) {
        e = lw_schema_migrate(s->db, path);
        if (!e)
            e = read_inbox_keys(s);
        if (e)
            goto out_detail;
        goto out_ok;
    }

    /* read-only or no-migrate: the schema must already be there */
    e = lw_schema_version(s->db, &v);
    if (e && rdonly && !memory &&
        (sqlite3_extended_errcode(lw_db_sqlite(s->db)) & 0xff) ==
            SQLITE_READONLY &&
        !wal_exists(path)) {
        e = reopen_immutable(s, path);
        if (e == LW_OK)
            e = lw_schema_version(s->db, &v);
    }
    if (e)
        goto out_detail;
    if (v > LW_STORE_SCHEMA_VERSION) {
        lw_db_seterr(s->db,
                     "database %s has schema version %d; this program knows "
                     "up to %d: upgrade lienwatch",
                     path, v, LW_STORE_SCHEMA_VERSION);
        e = LW_ERR_SCHEMA;
        goto out_detail;
    }
    if (v < 1) {
        lw_db_seterr(s->db,
                     "database %s has no lienwatch schema yet (create it "
                     "with 'lienwatch init-db' or by starting lienwatchd)",
                     path);
        e = LW_ERR_SCHEMA;
        goto out_detail;
    }
    /* the queries are those of the current schema (migration 4 moved the
     * last-known fix): an older file must be upgraded by a writer first */
    if (v < LW_STORE_SCHEMA_VERSION) {
        lw_db_seterr(s->db,
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
    why = lw_db_errmsg(s->db);
    if (strstr(why, path))
        lw_seterr(err, errlen, "%s", why);
    else
        lw_seterr(err, errlen, "database %s: %s", path, why);
out_close:
    lw_store_close(s);
    return e;
}

void lw_store_close(struct lw_store *s)
{
    if (!s)
        return;
    free(s->inbox_keys.slots);
    lw_db_close(s->db);
    free(s);
}

const char *lw_store_errmsg(const struct lw_store *s)
{
    if (!s)
        return "no store handle";
    return lw_db_errmsg(s->db);
}

enum lw_err lw_store_set_busy_timeout(struct lw_store *s, int ms)
{
    if (check_handle(s) || ms < 0)
        return LW_ERR_INVAL;
    return lw_db_set_busy_timeout(s->db, ms);
}

enum lw_err lw_store_set_cache_kib(struct lw_store *s, int kib)
{
    char sql[64];

    if (check_handle(s) || kib < 64)
        return LW_ERR_INVAL;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
    return lw_db_exec(s->db, sql, "setting the cache size");
}

/* Runs one of the store's statements without parameters or rows. */
static enum lw_err run_plain(struct lw_store *s, enum stmt_id id,
                             const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = stmt(s, id, &e);
    return st ? lw_db_run(s->db, st, what) : e;
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

    e = run_plain(s, ST_MERGE_COPY, "moving fixes into history");
    if (e)
        return e;
    e = run_plain(s, ST_MERGE_CLEAR, "emptying the fix inbox");
    if (e)
        return e;
    s->inbox_rows = 0;
    keyset_clear(&s->inbox_keys);
    return LW_OK;
}

enum lw_err lw_store_begin(struct lw_store *s)
{
    if (check_handle(s))
        return LW_ERR_INVAL;
    return lw_db_begin(s->db);
}

enum lw_err lw_store_read_begin(struct lw_store *s)
{
    if (check_handle(s))
        return LW_ERR_INVAL;
    return lw_db_exec(s->db, "BEGIN DEFERRED", "starting a read transaction");
}

enum lw_err lw_store_commit(struct lw_store *s)
{
    enum lw_err e;

    if (check_handle(s))
        return LW_ERR_INVAL;
    if (s->inbox_rows >= INBOX_MERGE_ROWS && lw_db_in_txn(s->db)) {
        e = merge_inbox(s);
        if (e)
            return e;
    }
    return lw_db_commit(s->db);
}

enum lw_err lw_store_rollback(struct lw_store *s)
{
    enum lw_err e;

    if (check_handle(s))
        return LW_ERR_INVAL;
    e = lw_db_rollback(s->db);
    /* what the transaction put in (or merged out of) the inbox is back as
     * it was */
    if (e == LW_OK && !s->rdonly)
        (void)read_inbox_keys(s);
    return e;
}

bool lw_store_in_txn(const struct lw_store *s)
{
    return s && lw_db_in_txn(s->db);
}

/* Binds (text ?1, int64 ?2) and runs one of the store's no-row statements. */
static enum lw_err run_text_int(struct lw_store *s, enum stmt_id id,
                                const char *text, int64_t n, const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = stmt(s, id, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, text);
    lw_db_bind_int64(s->db, st, 2, n);
    return lw_db_run_bound(s->db, st, what);
}

/* Binds f and runs one of the store's no-row statements; *changes gets the
 * rows it changed. */
static enum lw_err run_fix(struct lw_store *s, enum stmt_id id,
                           const struct lw_fix *f, const char *what,
                           int64_t *changes)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = stmt(s, id, &e);
    if (!st)
        return e;
    bind_fix(s->db, st, f); /* every parameter, at every use */
    e = lw_db_run_bound(s->db, st, what);
    *changes = e ? 0 : lw_db_changes(s->db);
    return e;
}

/* Checks a fix before it reaches the database. */
static enum lw_err check_fix(struct lw_store *s, const struct lw_fix *f)
{
    if (!f || !device_ok(f->device)) {
        lw_db_seterr(s->db, "fix without a valid device id");
        return LW_ERR_INVAL;
    }
    if (!isfinite(f->lat_deg) || !isfinite(f->lon_deg) ||
        fabs(f->lat_deg) > LAT_MAX_DEG || fabs(f->lon_deg) > LON_MAX_DEG) {
        lw_db_seterr(s->db, "fix of %s: position out of range", f->device);
        return LW_ERR_INVAL;
    }
    if (f->battery_pct < -1 || f->battery_pct > BATTERY_MAX_PCT) {
        lw_db_seterr(s->db, "fix of %s: battery %d%% out of range", f->device,
                     f->battery_pct);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Decodes "a row exists" into the bool at out. */
static void row_exists(sqlite3_stmt *st, void *out)
{
    (void)st;
    *(bool *)out = true;
}

/*
 * Whether fix_history holds (device, fix_time_ms) of f: *has true or false.
 */
static enum lw_err history_has(struct lw_store *s, const struct lw_fix *f,
                               bool *has)
{
    sqlite3_stmt *st;
    enum lw_err e;

    *has = false;
    st = stmt(s, ST_HISTORY_HAS, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, f->device);
    lw_db_bind_int64(s->db, st, 2, f->fix_time_ms);
    e = lw_db_get_row(s->db, st, row_exists, has,
                      "looking a fix up in history");
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
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
/* Decodes a row's first column as true. */
static void row_true(sqlite3_stmt *st, void *out)
{
    (void)st;
    *(bool *)out = true;
}

/* Whether device has a row in purges (its fixes are not stored). */
static enum lw_err device_ended(struct lw_store *s, const char *device,
                                bool *ended)
{
    sqlite3_stmt *st;
    enum lw_err e;

    *ended = false;
    st = stmt(s, ST_ENDED, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, device);
    e = lw_db_get_row(s->db, st, row_true, ended, "reading purges");
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

enum lw_err lw_store_put_fix(struct lw_store *s, const struct lw_fix *f,
                             enum lw_put_result *res)
{
    enum lw_put_result r = LW_PUT_NEWEST;
    int64_t changes = 0;
    uint64_t key;
    enum lw_err e;
    bool dup, ended;

    e = check_writable(s);
    if (e)
        return e;
    e = check_fix(s, f);
    if (e)
        return e;
    e = device_ended(s, f->device, &ended);
    if (e)
        return e;
    if (ended) {
        if (res)
            *res = LW_PUT_ENDED;
        return LW_OK;
    }
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
                         "updating a device");
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
        lw_db_seterr(s->db, "invalid device id");
        return LW_ERR_INVAL;
    }
    return run_text_int(s, ST_HEARD, device, recv_ms, "recording heard");
}

enum lw_err lw_store_counter_add(struct lw_store *s, const char *name,
                                 int64_t delta)
{
    enum lw_err e = check_writable(s);

    if (e)
        return e;
    if (!name || !name[0]) {
        lw_db_seterr(s->db, "counter without a name");
        return LW_ERR_INVAL;
    }
    return run_text_int(s, ST_COUNTER_ADD, name, delta, "adding to a counter");
}

/*
 * Runs the one-row query id bound to device (?1) and decodes its row into
 * out. Returns LW_OK, LW_ERR_NOTFOUND ("<what>: no such device '<device>'"
 * recorded) or the error (what names it); LW_ERR_INVAL for a bad handle or
 * a NULL argument.
 */
static enum lw_err get_device_row(struct lw_store *s, enum stmt_id id,
                                  const char *device, lw_db_row_fn decode,
                                  void *out, const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (check_handle(s) || !device || !out)
        return LW_ERR_INVAL;
    st = stmt(s, id, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, device);
    e = lw_db_get_row(s->db, st, decode, out, what);
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(s->db, "%s: no such device '%s'", what, device);
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

    return (*cb)(ctx, lw_db_col_str(st, 0), sqlite3_column_int64(st, 1));
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

    if (check_handle(s) || !device || !cb)
        return LW_ERR_INVAL;
    st = stmt(s, ST_HISTORY, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, device);
    lw_db_bind_int64(s->db, st, 2, from_ms);
    lw_db_bind_int64(s->db, st, 3, to_ms);
    return lw_db_each_row(s->db, st, visit_fix, &cb, ctx, "reading history");
}

/* Degrees of latitude in one metre (WGS-84 sphere of lw_geo). */
#define DEG_PER_M (180.0 / (M_PI * LW_GEO_EARTH_RADIUS_M))

/* Scans fixes newest first for the first one really farther than radius_m
 * from the centre (the SQL only rules out those inside the inscribed
 * square). */
struct stay_scan {
    double lat, lon; /* the centre: the newest fix */
    double radius_m; /* the stay's radius */
    int64_t far_ms;  /* the newest far fix found; INT64_MIN none */
};

static int visit_stay(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct stay_scan *sc = ctx;

    (void)cbp;
    if (lw_geo_distance_m(sc->lat, sc->lon, sqlite3_column_double(st, 1),
                          sqlite3_column_double(st, 2)) <= sc->radius_m)
        return 0;
    sc->far_ms = sqlite3_column_int64(st, 0);
    return 1;
}

enum lw_err lw_store_stay_start(struct lw_store *s, const struct lw_fix *newest,
                                double radius_m, double max_accuracy_m,
                                int64_t from_ms, struct lw_fix *first)
{
    struct stay_scan sc;
    double half_lat, half_lon, c;
    sqlite3_stmt *st;
    enum lw_err e;

    if (check_handle(s) || !newest || !first || !(radius_m > 0) ||
        !lw_geo_valid(newest->lat_deg, newest->lon_deg))
        return LW_ERR_INVAL;
    sc = (struct stay_scan){newest->lat_deg, newest->lon_deg, radius_m,
                            INT64_MIN};
    /* the square inscribed in the circle: nothing inside it is far */
    half_lat = radius_m / M_SQRT2 * DEG_PER_M;
    c = cos(newest->lat_deg * M_PI / 180.0);
    half_lon = c > 1e-6 ? half_lat / c : 360.0;
    st = lw_db_stmt(s->db,
                    "SELECT fix_time_ms, lat_deg, lon_deg FROM fixes f "
                    "WHERE device = ?1 AND fix_time_ms BETWEEN ?2 AND ?3 AND "
                    "(abs(lat_deg - ?4) > ?5 OR abs(lon_deg - ?6) > ?7) AND "
                    "(accuracy_m IS NULL OR accuracy_m <= ?8) AND NOT EXISTS "
                    "(SELECT 1 FROM fix_suspect x WHERE x.device = ?1 AND "
                    "x.fix_time_ms = f.fix_time_ms) ORDER BY fix_time_ms DESC",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, newest->device);
    lw_db_bind_int64(s->db, st, 2, from_ms);
    lw_db_bind_int64(s->db, st, 3, newest->fix_time_ms);
    lw_db_bind_double(s->db, st, 4, newest->lat_deg);
    lw_db_bind_double(s->db, st, 5, half_lat);
    lw_db_bind_double(s->db, st, 6, newest->lon_deg);
    lw_db_bind_double(s->db, st, 7, half_lon);
    lw_db_bind_double(s->db, st, 8, max_accuracy_m);
    e = lw_db_each_row(s->db, st, visit_stay, NULL, &sc, "finding a stay");
    if (e)
        return e;
    /* the stay began at the first usable fix after the last far one */
    st = lw_db_stmt(s->db,
                    "SELECT " FIX_COLS " FROM fixes f WHERE device = ?1 AND "
                    "fix_time_ms > ?2 AND fix_time_ms <= ?3 AND "
                    "(accuracy_m IS NULL OR accuracy_m <= ?4) AND NOT EXISTS "
                    "(SELECT 1 FROM fix_suspect x WHERE x.device = ?1 AND "
                    "x.fix_time_ms = f.fix_time_ms) ORDER BY fix_time_ms "
                    "LIMIT 1",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, newest->device);
    lw_db_bind_int64(s->db, st, 2,
                     sc.far_ms == INT64_MIN ? from_ms - 1 : sc.far_ms);
    lw_db_bind_int64(s->db, st, 3, newest->fix_time_ms);
    lw_db_bind_double(s->db, st, 4, max_accuracy_m);
    return lw_db_get_row(s->db, st, row_to_fix, first, "finding a stay");
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
    return lw_db_each_row(s->db, st, visit_device, &cb, ctx, "listing devices");
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
    return lw_db_each_row(s->db, st, visit_counter, &cb, ctx,
                          "reading counters");
}

/*
 * Retention, after a merge of the inbox. The last-known fix lives in the
 * devices row (a copy), so deleting history could never lose it; the history
 * row of the last-known fix is kept as well, so a device's history always
 * ends at its last-known position.
 */

/* Where a prune step goes next (decoded from ST_PRUNE_NEXT). */
struct prune_dev {
    char id[LW_DEVICE_MAX + 1]; /* the device */
    int64_t last_ms;            /* its last-known fix time */
    bool last_null;             /* it has none */
};

static void row_to_prune_dev(sqlite3_stmt *st, void *out)
{
    struct prune_dev *p = out;

    lw_db_col_copy(st, 0, p->id, sizeof(p->id));
    p->last_null = sqlite3_column_type(st, 1) == SQLITE_NULL;
    p->last_ms = sqlite3_column_int64(st, 1);
}

/* The device after cursor in id order into *next; *found false after the
 * last one. */
static enum lw_err prune_next(struct lw_store *s, const char *cursor,
                              struct prune_dev *next, bool *found)
{
    sqlite3_stmt *st;
    enum lw_err e;

    *found = false;
    st = stmt(s, ST_PRUNE_NEXT, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, cursor);
    e = lw_db_get_row(s->db, st, row_to_prune_dev, next, "pruning");
    *found = e == LW_OK;
    return e == LW_ERR_NOTFOUND ? LW_OK : e;
}

/* Deletes at most max_rows expired fixes of one device; *n gets how many. */
static enum lw_err prune_device(struct lw_store *s, const struct prune_dev *d,
                                int64_t before_ms, int64_t max_rows, int64_t *n)
{
    sqlite3_stmt *st;
    enum lw_err e;

    *n = 0;
    st = stmt(s, ST_PRUNE_DELETE, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, d->id);
    lw_db_bind_int64(s->db, st, 2, before_ms);
    if (d->last_null)
        lw_db_bind_null(s->db, st, 3);
    else
        lw_db_bind_int64(s->db, st, 3, d->last_ms);
    lw_db_bind_int64(s->db, st, 4, max_rows - 1);
    e = lw_db_run(s->db, st, "pruning");
    if (e)
        return e;
    *n = lw_db_changes(s->db);
    if (*n == 0)
        return LW_OK;
    /* no suspect flag outlives its fix */
    e = run_text_int(s, ST_PRUNE_SUSPECT, d->id, before_ms,
                     "pruning (suspect flags)");
    if (e)
        return e;
    /* fix_count stays the size of the device's history */
    return run_text_int(s, ST_PRUNE_COUNT, d->id, *n, "pruning (counting)");
}

enum lw_err lw_store_prune_step(struct lw_store *s, int64_t before_ms,
                                char *cursor, int64_t max_rows,
                                int64_t *deleted, bool *finished)
{
    struct prune_dev next;
    int64_t total = 0, n;
    enum lw_err e;
    int visited = 0;
    bool found;

    if (deleted)
        *deleted = 0;
    if (finished)
        *finished = false;
    e = check_writable(s);
    if (e)
        return e;
    if (!cursor || max_rows < 1)
        return LW_ERR_INVAL;
    e = lw_db_savepoint(s->db, "lw_prune");
    if (e)
        return e;
    if (!cursor[0])
        e = merge_inbox(s);
    while (e == LW_OK) {
        e = prune_next(s, cursor, &next, &found);
        if (e)
            break;
        if (!found) {
            if (finished)
                *finished = true;
            break;
        }
        e = prune_device(s, &next, before_ms, max_rows - total, &n);
        if (e)
            break;
        total += n;
        if (total >= max_rows)
            break; /* this device may have more: the next step goes on */
        memcpy(cursor, next.id, strlen(next.id) + 1);
        if (++visited >= PRUNE_STEP_DEVICES)
            break;
    }
    e = lw_db_savepoint_end(s->db, "lw_prune", e);
    if (e) {
        (void)read_inbox_keys(s); /* the merge may be undone */
        if (finished)
            *finished = false;
        return e;
    }
    if (deleted)
        *deleted = total;
    return LW_OK;
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
    e = lw_db_savepoint(s->db, "lw_prune_all");
    if (e)
        return e;
    while (e == LW_OK && !finished) {
        e = lw_store_prune_step(s, before_ms, cursor, INT64_MAX, &n, &finished);
        total += e ? 0 : n;
    }
    e = lw_db_savepoint_end(s->db, "lw_prune_all", e);
    if (e) {
        (void)read_inbox_keys(s);
        return e;
    }
    if (deleted)
        *deleted = total;
    return LW_OK;
}

int lw_store_schema_version(struct lw_store *s)
{
    int v;

    if (check_handle(s))
        return -1;
    return lw_schema_version(s->db, &v) == LW_OK ? v : -1;
}

/* Decodes a one-integer row into the int64_t at out. */
static void row_int64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

enum lw_err lw_store_data_version(struct lw_store *s, int64_t *out)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (out)
        *out = 0;
    if (check_handle(s) || !out)
        return LW_ERR_INVAL;
    st = stmt(s, ST_DATA_VERSION, &e);
    if (!st)
        return e;
    e = lw_db_get_row(s->db, st, row_int64, out, "reading data_version");
    return e == LW_ERR_NOTFOUND ? LW_ERR_DB : e;
}

/* ---- meta: key -> text --------------------------------------------------- */

/* Keys of meta whose values are numbers the registry and the outbox keep. */
static const char *const meta_reserved[] = {
    "registry_version",
    "alerts_version",
    "fence_id_seq",
    "mail_instance",
};

/* True when key is a key lw_store_meta_set may write. */
static bool meta_key_ok(const char *key)
{
    size_t n;

    if (!key)
        return false;
    n = strnlen(key, META_KEY_MAX + 1);
    if (n == 0 || n > META_KEY_MAX)
        return false;
    for (size_t i = 0; i < sizeof(meta_reserved) / sizeof(meta_reserved[0]);
         i++)
        if (strcmp(key, meta_reserved[i]) == 0)
            return false;
    return true;
}

/* Decodes a meta value into a new string at the char * at out (NULL when
 * out of memory; the caller tells by the NULL). */
static void row_meta(sqlite3_stmt *st, void *out)
{
    const char *v = lw_db_col_str(st, 0);

    *(char **)out = strdup(v);
}

enum lw_err lw_store_meta_get(struct lw_store *s, const char *key, char **value)
{
    sqlite3_stmt *st;
    enum lw_err e;

    if (value)
        *value = NULL;
    if (check_handle(s) || !key || !key[0] || !value)
        return LW_ERR_INVAL;
    st = stmt(s, ST_META_GET, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, key);
    e = lw_db_get_row(s->db, st, row_meta, value, "reading meta");
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(s->db, "no meta value '%s'", key);
    else if (e == LW_OK && !*value)
        e = LW_ERR_NOMEM;
    return e;
}

enum lw_err lw_store_meta_set(struct lw_store *s, const char *key,
                              const char *value)
{
    sqlite3_stmt *st;
    enum lw_err e;

    e = check_writable(s);
    if (e)
        return e;
    if (!meta_key_ok(key)) {
        lw_db_seterr(s->db, "meta: invalid or reserved key");
        return LW_ERR_INVAL;
    }
    st = stmt(s, value ? ST_META_SET : ST_META_DELETE, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, key);
    if (value) {
        size_t n = strlen(value);

        if (n > INT_MAX) {
            lw_db_done(s->db, st);
            lw_db_seterr(s->db, "meta '%s': value too long", key);
            return LW_ERR_RANGE;
        }
        lw_db_bound(s->db,
                    sqlite3_bind_blob(st, 2, value, (int)n, SQLITE_STATIC));
    }
    return lw_db_run(s->db, st, value ? "writing meta" : "deleting meta");
}

/* ---- for the other core modules (store_priv.h) --------------------------- */

struct lw_db *lw_store_db(struct lw_store *s)
{
    return s ? s->db : NULL;
}

/* ---- the end of a loan: purges (migration 6) ------------------------------
 */

/* The next purge due, into *p; p->device[0] stays '\0' when none. */
static void row_purge(sqlite3_stmt *st, void *out)
{
    struct lw_purge_step *p = out;

    snprintf(p->device, sizeof(p->device), "%s", lw_db_col_str(st, 0));
    snprintf(p->account, sizeof(p->account), "%s", lw_db_col_str(st, 1));
    snprintf(p->reason, sizeof(p->reason), "%s", lw_db_col_str(st, 2));
    p->requested_ms = sqlite3_column_int64(st, 3);
    p->total = sqlite3_column_int64(st, 4);
}

/* Runs sql with ?1 = device and ?2 = n (when the statement has it). */
static enum lw_err purge_run(struct lw_store *s, const char *sql,
                             const char *device, int64_t n, const char *what,
                             int64_t *changes)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = lw_db_stmt(s->db, sql, &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, device);
    if (sqlite3_bind_parameter_count(st) >= 2)
        lw_db_bind_int64(s->db, st, 2, n);
    e = lw_db_run(s->db, st, what);
    if (e == LW_OK && changes)
        *changes = lw_db_changes(s->db);
    return e;
}

/* Everything but the history: the last-known fix, the positions alerts
 * carry, the mail that told them; then the row is done. */
static enum lw_err purge_finish(struct lw_store *s, const char *device,
                                int64_t now_ms)
{
    static const char *const sql[] = {
        "DELETE FROM fix_inbox WHERE device = ?1",
        /* which of its fixes were suspect: nothing of it is left */
        "DELETE FROM fix_suspect WHERE device = ?1",
        "UPDATE devices SET last_fix_time_ms = NULL, last_recv_time_ms = "
        "NULL, last_lat_deg = NULL, last_lon_deg = NULL, last_speed_mps = "
        "NULL, last_course_deg = NULL, last_accuracy_m = NULL, last_alt_m = "
        "NULL, last_battery_pct = NULL, last_trigger_code = NULL, "
        "fix_count = 0 WHERE id = ?1",
        "UPDATE alerts SET has_fix = 0, fix_time_ms = NULL, recv_time_ms = "
        "NULL, lat_deg = NULL, lon_deg = NULL, speed_mps = NULL, course_deg "
        "= NULL, accuracy_m = NULL, moved_m = NULL WHERE device = ?1",
        "DELETE FROM outbox_held WHERE device = ?1",
        /* a storm digest names several devices' alerts with their
         * positions: it goes when one of them is this device's */
        "DELETE FROM outbox WHERE digest = 1 AND EXISTS (SELECT 1 FROM "
        "alerts a WHERE a.device = ?1 AND instr(',' || outbox.alert_ids || "
        "',', ',' || a.id || ',') > 0)",
        "DELETE FROM outbox WHERE device = ?1",
        "UPDATE purges SET done_ms = ?2 WHERE device = ?1",
    };
    enum lw_err e = LW_OK;

    for (size_t i = 0; e == LW_OK && i < sizeof(sql) / sizeof(sql[0]); i++)
        e = purge_run(s, sql[i], device, now_ms, "purging a device", NULL);
    return e;
}

enum lw_err lw_store_purge_step(struct lw_store *s, int64_t now_ms,
                                int64_t delay_ms, int64_t max_rows,
                                struct lw_purge_step *out)
{
    sqlite3_stmt *st;
    enum lw_err e;
    int64_t n = 0;

    if (!out)
        return LW_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    e = check_writable(s);
    if (e)
        return e;
    if (max_rows < 1 || delay_ms < 0 || !lw_store_in_txn(s)) {
        lw_db_seterr(s->db, "purge step: bad arguments or no transaction");
        return LW_ERR_INVAL;
    }
    st = lw_db_stmt(
        s->db,
        "SELECT device, account, reason, requested_ms, deleted "
        "FROM purges WHERE done_ms = 0 AND purge = 1 AND (immediate = 1 OR "
        "requested_ms <= ?1 - ?2) ORDER BY requested_ms, device "
        "LIMIT 1",
        &e);
    if (!st)
        return e;
    lw_db_bind_int64(s->db, st, 1, now_ms);
    lw_db_bind_int64(s->db, st, 2, delay_ms);
    e = lw_db_get_row(s->db, st, row_purge, out, "reading purges");
    if (e == LW_ERR_NOTFOUND)
        return LW_OK; /* nothing due */
    if (e)
        return e;
    /* the inbox first: what it holds of the device goes with the history */
    e = merge_inbox(s);
    if (e == LW_OK)
        e = purge_run(s,
                      "DELETE FROM fix_history WHERE device = ?1 AND "
                      "fix_time_ms IN (SELECT fix_time_ms FROM fix_history "
                      "WHERE device = ?1 ORDER BY fix_time_ms LIMIT ?2)",
                      out->device, max_rows, "purging history", &n);
    if (e == LW_OK)
        e = purge_run(s,
                      "UPDATE purges SET deleted = deleted + ?2 WHERE "
                      "device = ?1",
                      out->device, n, "counting a purge", NULL);
    if (e == LW_OK && n < max_rows) {
        e = purge_finish(s, out->device, now_ms);
        out->done = e == LW_OK;
    }
    if (e)
        return e;
    out->deleted = n;
    out->total += n;
    return LW_OK;
}

/* ---- retention thinning (migration 6) ------------------------------------
 */

/* Devices one thinning step looks at, at most (as PRUNE_STEP_DEVICES). */
#define THIN_STEP_DEVICES 1000

/* One fix as thinning sees it. */
struct thin_fix {
    int64_t t;       /* fix time */
    double lat, lon; /* position */
    double acc, spd; /* accuracy, speed; NAN when unknown */
    bool keep;       /* survives */
};

/* The fixes of one chunk. */
struct thin_chunk {
    struct thin_fix *f; /* in fix-time order */
    size_t n, cap;      /* used, allocated */
    bool oom;           /* out of memory while reading */
};

static void row_thin_dev(sqlite3_stmt *st, void *out)
{
    struct prune_dev *d = out;

    snprintf(d->id, sizeof(d->id), "%s", lw_db_col_str(st, 0));
    d->last_null = sqlite3_column_type(st, 1) == SQLITE_NULL;
    d->last_ms = d->last_null ? INT64_MIN : sqlite3_column_int64(st, 1);
}

static int visit_thin_fix(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct thin_chunk *c = ctx;
    struct thin_fix *x;

    (void)cbp;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        struct thin_fix *nf = realloc(c->f, ncap * sizeof(*nf));

        if (!nf) {
            c->oom = true;
            return 1;
        }
        c->f = nf;
        c->cap = ncap;
    }
    x = &c->f[c->n++];
    x->t = sqlite3_column_int64(st, 0);
    x->lat = sqlite3_column_double(st, 1);
    x->lon = sqlite3_column_double(st, 2);
    x->acc = sqlite3_column_type(st, 3) == SQLITE_NULL
                 ? NAN
                 : sqlite3_column_double(st, 3);
    x->spd = sqlite3_column_type(st, 4) == SQLITE_NULL
                 ? NAN
                 : sqlite3_column_double(st, 4);
    x->keep = false;
    return 0;
}

/* Marks the fix at time t kept (binary search; fixes are in time order). */
static void keep_at(struct thin_chunk *c, int64_t t)
{
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->f[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->n && c->f[lo].t == t)
        c->f[lo].keep = true;
}

/*
 * Decides which fixes of c survive: the first and last fix of each stop
 * (lib/places.c's stop detection), and the first fix of each interval_ms
 * bucket that holds none of those and not the fix kept before the chunk
 * (prev_kept_ms, INT64_MIN for none). When
 * more fixes follow the chunk and its last stop is still open, the chunk is
 * cut before that stop (c->n shrinks): the next one sees the stop whole.
 */
static enum lw_err thin_decide(struct thin_chunk *c, int64_t interval_ms,
                               bool more, int64_t prev_kept_ms)
{
    struct lw_places *pl = NULL;
    int64_t bucket, kept_bucket = INT64_MIN;
    enum lw_err e;
    size_t i, nstops = 0;

    e = lw_places_new(NULL, &pl, NULL, 0);
    for (i = 0; e == LW_OK && i < c->n; i++)
        e = lw_places_add_pos(pl, c->f[i].t, c->f[i].lat, c->f[i].lon,
                              c->f[i].acc, c->f[i].spd);
    if (e == LW_OK)
        e = lw_places_compute(pl, NULL, c->f[c->n - 1].t, NULL, 0);
    if (e == LW_OK)
        nstops = lw_places_stop_count(pl);
    /* a stop still open at the end of a full chunk is judged whole by the
     * next chunk, which starts at its first fix */
    if (e == LW_OK && more && nstops &&
        lw_places_stop(pl, nstops - 1)->ongoing) {
        int64_t start = lw_places_stop(pl, nstops - 1)->start_ms;
        size_t cut = 0;

        while (cut < c->n && c->f[cut].t < start)
            cut++;
        if (cut > 0) {
            c->n = cut;
            nstops--;
        }
    }
    for (i = 0; e == LW_OK && i < nstops; i++) {
        const struct lw_places_stop *sp = lw_places_stop(pl, i);

        keep_at(c, sp->start_ms);
        keep_at(c, sp->end_ms);
    }
    lw_places_free(pl);
    if (e != LW_OK)
        return e;
    /* the bucket of the last fix kept before the chunk holds nothing
     * more */
    if (prev_kept_ms != INT64_MIN)
        kept_bucket =
            prev_kept_ms / interval_ms - (prev_kept_ms % interval_ms < 0);
    /* one fix per bucket: a kept one (stop end) or the bucket's first */
    for (i = 0; i < c->n; i++) {
        bool later_kept = false;

        bucket = c->f[i].t / interval_ms - (c->f[i].t % interval_ms < 0);
        if (c->f[i].keep) {
            kept_bucket = bucket;
            continue;
        }
        if (bucket == kept_bucket)
            continue;
        /* a stop's end later in this bucket takes its place */
        for (size_t j = i + 1; j < c->n; j++) {
            int64_t b = c->f[j].t / interval_ms - (c->f[j].t % interval_ms < 0);

            if (b != bucket)
                break;
            if (c->f[j].keep) {
                later_kept = true;
                break;
            }
        }
        if (!later_kept) {
            c->f[i].keep = true;
            kept_bucket = bucket;
        }
    }
    return LW_OK;
}

/* Thins up to max_rows fixes of device d older than before_ms past its
 * mark; *n gets the fixes deleted, *more whether more are left. */
static enum lw_err thin_device(struct lw_store *s, const struct prune_dev *d,
                               int64_t before_ms, int64_t interval_ms,
                               int64_t max_rows, int64_t *n, int64_t *seen,
                               bool *more)
{
    struct thin_chunk c = {0};
    sqlite3_stmt *st;
    int64_t mark = INT64_MIN, del = 0, prev_kept = INT64_MIN;
    enum lw_err e;

    *n = 0;
    *seen = 0;
    *more = false;
    st = lw_db_stmt(s->db,
                    "SELECT coalesce((SELECT until_ms FROM thin_marks WHERE "
                    "device = ?1), -9223372036854775807)",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, d->id);
    e = lw_db_get_row(s->db, st, row_int64, &mark, "reading a thin mark");
    if (e)
        return e;
    st = lw_db_stmt(s->db,
                    "SELECT fix_time_ms, lat_deg, lon_deg, accuracy_m, "
                    "speed_mps FROM fix_history WHERE device = ?1 AND "
                    "fix_time_ms > ?2 AND fix_time_ms < ?3 ORDER BY "
                    "fix_time_ms LIMIT ?4",
                    &e);
    if (!st)
        return e;
    lw_db_bind_text(s->db, st, 1, d->id);
    lw_db_bind_int64(s->db, st, 2, mark);
    lw_db_bind_int64(s->db, st, 3, before_ms);
    lw_db_bind_int64(s->db, st, 4, max_rows);
    e = lw_db_each_row(s->db, st, visit_thin_fix, NULL, &c, "thinning");
    if (e == LW_OK && c.oom)
        e = LW_ERR_NOMEM;
    if (e || c.n == 0)
        goto out;
    *more = (int64_t)c.n == max_rows;
    if (mark != INT64_MIN + 1) {
        /* the last fix kept up to the mark */
        int64_t prev = INT64_MIN;

        st = lw_db_stmt(s->db,
                        "SELECT coalesce(max(fix_time_ms), "
                        "-9223372036854775807) FROM fix_history WHERE "
                        "device = ?1 AND fix_time_ms <= ?2",
                        &e);
        if (!st)
            goto out;
        lw_db_bind_text(s->db, st, 1, d->id);
        lw_db_bind_int64(s->db, st, 2, mark);
        e = lw_db_get_row(s->db, st, row_int64, &prev, "thinning");
        if (e)
            goto out;
        prev_kept = prev == INT64_MIN + 1 ? INT64_MIN : prev;
    }
    e = thin_decide(&c, interval_ms, *more, prev_kept);
    *seen = (int64_t)c.n;
    for (size_t i = 0; e == LW_OK && i < c.n; i++) {
        if (c.f[i].keep || c.f[i].t == d->last_ms)
            continue;
        st = lw_db_stmt(s->db,
                        "DELETE FROM fix_history WHERE device = ?1 AND "
                        "fix_time_ms = ?2",
                        &e);
        if (!st)
            break;
        lw_db_bind_text(s->db, st, 1, d->id);
        lw_db_bind_int64(s->db, st, 2, c.f[i].t);
        e = lw_db_run(s->db, st, "thinning");
        del += e == LW_OK ? lw_db_changes(s->db) : 0;
        /* its suspect flag (suspect.h) goes with it */
        st = e == LW_OK ? lw_db_stmt(s->db,
                                     "DELETE FROM fix_suspect WHERE device "
                                     "= ?1 AND fix_time_ms = ?2",
                                     &e)
                        : NULL;
        if (!st)
            break;
        lw_db_bind_text(s->db, st, 1, d->id);
        lw_db_bind_int64(s->db, st, 2, c.f[i].t);
        e = lw_db_run(s->db, st, "thinning (suspect flags)");
    }
    if (e == LW_OK && del)
        e = run_text_int(s, ST_PRUNE_COUNT, d->id, del, "thinning (counting)");
    if (e == LW_OK) {
        st = lw_db_stmt(s->db,
                        "INSERT INTO thin_marks (device, until_ms) VALUES "
                        "(?1, ?2) ON CONFLICT(device) DO UPDATE SET "
                        "until_ms = ?2",
                        &e);
        if (st) {
            lw_db_bind_text(s->db, st, 1, d->id);
            lw_db_bind_int64(s->db, st, 2, c.f[c.n - 1].t);
            e = lw_db_run(s->db, st, "thinning (mark)");
        }
    }
    if (e == LW_OK)
        *n = del;
out:
    free(c.f);
    return e;
}

enum lw_err lw_store_thin_step(struct lw_store *s, int64_t before_ms,
                               int64_t interval_ms, char *cursor,
                               int64_t max_rows, int64_t *deleted,
                               bool *finished)
{
    struct prune_dev next;
    int64_t total = 0, n, seen, budget;
    enum lw_err e;
    int visited = 0;
    bool more = false;

    if (deleted)
        *deleted = 0;
    if (finished)
        *finished = false;
    e = check_writable(s);
    if (e)
        return e;
    if (!cursor || max_rows < 2 || interval_ms < 1)
        return LW_ERR_INVAL;
    e = lw_db_savepoint(s->db, "lw_thin");
    if (e)
        return e;
    if (!cursor[0])
        e = merge_inbox(s); /* a pass sees the whole history */
    budget = max_rows;
    while (e == LW_OK && budget > 1) {
        sqlite3_stmt *st = lw_db_stmt(s->db,
                                      "SELECT id, last_fix_time_ms FROM "
                                      "devices WHERE id > ?1 ORDER BY id "
                                      "LIMIT 1",
                                      &e);

        if (!st)
            break;
        lw_db_bind_text(s->db, st, 1, cursor);
        e = lw_db_get_row(s->db, st, row_thin_dev, &next, "thinning");
        if (e == LW_ERR_NOTFOUND) {
            e = LW_OK;
            if (finished)
                *finished = true;
            break;
        }
        if (e)
            break;
        e = thin_device(s, &next, before_ms, interval_ms, budget, &n, &seen,
                        &more);
        if (e)
            break;
        total += n;
        if (more)
            break; /* the next step goes on with this device */
        budget -= seen;
        memcpy(cursor, next.id, strlen(next.id) + 1);
        if (++visited >= THIN_STEP_DEVICES)
            break;
    }
    e = lw_db_savepoint_end(s->db, "lw_thin", e);
    if (e) {
        (void)read_inbox_keys(s); /* the merge may be undone */
        if (finished)
            *finished = false;
        return e;
    }
    if (deleted)
        *deleted = total;
    return LW_OK;
}
