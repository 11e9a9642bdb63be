/*
 * spool.c - lw-gpsbridge's store-and-forward queue in SQLite.
 *
 * Every fix is committed here before it is handed to the MQTT library, and
 * deleted when the broker acknowledges it (PUBACK). Row ids come from
 * AUTOINCREMENT, so they never repeat and their order is the order the
 * fixes were taken in; the publisher sends by increasing id.
 *
 * Durability: WAL journal; synchronous=FULL by default, so a committed fix
 * survives a power cut (an in-vehicle unit loses power at ignition-off, and
 * the last fixes before that are where the vehicle parked). With NORMAL a
 * power cut can lose the last commits, a crash of the process cannot.
 * A lost delete only means the fix is sent again: the daemon ignores
 * duplicates (unique on device + fix time).
 *
 * Privacy: the spool holds where the vehicle was. It is created 0600 (and
 * SQLite gives its -wal and -shm files the database's mode), whatever the
 * umask of a bridge run by hand; an existing spool that others may read is
 * made 0600.
 *
 * Invariants: count == rows in table spool; the "dropped" row of table meta
 * is the number of fixes ever deleted because the spool was full.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"

/* Format version of the spool database (PRAGMA user_version). */
#define SPOOL_VERSION 1
/* Wait this long for a reader (e.g. sqlite3 run by an operator). */
#define SPOOL_BUSY_MS 2000
/* Mode of the spool and its -wal and -shm files: the owner's only. */
#define SPOOL_MODE 0600

struct gb_spool {
    sqlite3 *db;               /* the connection */
    int lock_fd;               /* flock()ed "<path>.lock" */
    int64_t max_rows;          /* bound, > 0 */
    int64_t count;             /* rows in spool */
    int64_t dropped_total;     /* fixes dropped because full, ever */
    sqlite3_stmt *ins;         /* INSERT a fix */
    sqlite3_stmt *del;         /* DELETE by id */
    sqlite3_stmt *next;        /* SELECT id > ? ORDER BY id LIMIT ? */
    sqlite3_stmt *drop;        /* DELETE the n oldest */
    sqlite3_stmt *add_dropped; /* meta.dropped += n */
    sqlite3_stmt *oldest;      /* fix time of the oldest row */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS spool ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " fix_time_ms INTEGER NOT NULL," /* receiver's time of the fix */
    " taken_ms INTEGER NOT NULL);"   /* our clock when spooled */
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES ('dropped', 0);";

static enum lw_err db_err(struct gb_spool *s, const char *what, char *err,
                          size_t errlen)
{
    int rc = sqlite3_extended_errcode(s->db);

    lw_seterr(err, errlen, "spool: %s: %s", what, sqlite3_errmsg(s->db));
    /* the core's classes: a full disk or a locked spool says so */
    return rc == SQLITE_OK ? LW_ERR_DB : lw_err_from_sqlite(rc);
}

static int exec(struct gb_spool *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static int64_t query_int(struct gb_spool *s, const char *sql, int64_t dflt)
{
    sqlite3_stmt *st;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static enum lw_err take_lock(struct gb_spool *s, const char *path, char *err,
                             size_t errlen)
{
    char lock_path[GB_PATH_MAX + 8];

    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        lw_seterr(err, errlen, "spool: cannot open %s: %s", lock_path,
                  strerror(errno));
        return LW_ERR_IO;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        lw_seterr(err, errlen,
                  "spool: %s is locked: another lw-gpsbridge uses %s",
                  lock_path, path);
        return LW_ERR_BUSY;
    }
    return LW_OK;
}

/*
 * Creates path with SPOOL_MODE when it does not exist, and takes group and
 * other permissions away from it and from its -wal and -shm files when
 * they exist (a spool made by an earlier version, or by hand).
 */
static enum lw_err private_files(const char *path, char *err, size_t errlen)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[GB_PATH_MAX + 8];
    struct stat st;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, SPOOL_MODE);
    if (fd >= 0) {
        close(fd);
        return LW_OK;
    }
    if (errno != EEXIST) {
        lw_seterr(err, errlen, "spool: cannot create %s: %s", path,
                  strerror(errno));
        return LW_ERR_IO;
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) ||
            (st.st_mode & 077) == 0)
            continue;
        if (chmod(p, st.st_mode & 0700) != 0) {
            lw_seterr(err, errlen,
                      "spool: %s is readable by others (mode %04o) and "
                      "cannot be made private: %s",
                      p, (unsigned)(st.st_mode & 07777), strerror(errno));
            return LW_ERR_IO;
        }
    }
    return LW_OK;
}

enum lw_err gb_spool_open(const char *path, int64_t max_rows, bool full_sync,
                          struct gb_spool **out, char *err, size_t errlen)
{
    struct gb_spool *s;
    enum lw_err rc;
    int64_t version;

    *out = NULL;
    if (!path || !*path || max_rows <= 0) {
        lw_seterr(err, errlen, "spool: no path or bad bound");
        return LW_ERR_INVAL;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return LW_ERR_NOMEM;
    s->lock_fd = -1;
    s->max_rows = max_rows;
    rc = take_lock(s, path, err, errlen);
    if (rc != LW_OK)
        goto out_free;
    rc = private_files(path, err, errlen);
    if (rc != LW_OK)
        goto out_free;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = s->db ? db_err(s, path, err, errlen) : LW_ERR_NOMEM;
        goto out_free;
    }
    sqlite3_busy_timeout(s->db, SPOOL_BUSY_MS);
    version = query_int(s, "PRAGMA user_version", -1);
    if (version > SPOOL_VERSION) {
        lw_seterr(err, errlen,
                  "spool: %s has format %" PRId64 ", newer than this "
                  "program (%d)",
                  path, version, SPOOL_VERSION);
        rc = LW_ERR_SCHEMA;
        goto out_free;
    }
    if (exec(s, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
        exec(s, full_sync ? "PRAGMA synchronous=FULL"
                          : "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
        exec(s, schema) != SQLITE_OK ||
        exec(s, "PRAGMA user_version=1") != SQLITE_OK) {
        rc = db_err(s, path, err, errlen);
        goto out_free;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO spool (topic, payload, fix_time_ms, "
                           "taken_ms) VALUES (?, ?, ?, ?)",
                           -1, &s->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM spool WHERE id = ?", -1, &s->del,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT id, fix_time_ms, topic, payload FROM spool"
                           " WHERE id > ? ORDER BY id LIMIT ?",
                           -1, &s->next, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "DELETE FROM spool WHERE id IN (SELECT id FROM "
                           "spool ORDER BY id LIMIT ?)",
                           -1, &s->drop, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "UPDATE meta SET value = value + ? WHERE key = "
                           "'dropped'",
                           -1, &s->add_dropped, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT fix_time_ms FROM spool ORDER BY id LIMIT 1",
                           -1, &s->oldest, NULL) != SQLITE_OK) {
        rc = db_err(s, "prepare", err, errlen);
        goto out_free;
    }
    s->count = query_int(s, "SELECT count(*) FROM spool", 0);
    s->dropped_total =
        query_int(s, "SELECT value FROM meta WHERE key = 'dropped'", 0);
    *out = s;
    return LW_OK;

out_free:
    gb_spool_close(s);
    return rc;
}

void gb_spool_close(struct gb_spool *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->next);
    sqlite3_finalize(s->drop);
    sqlite3_finalize(s->add_dropped);
    sqlite3_finalize(s->oldest);
    sqlite3_close(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s);
}

/* Steps a write statement once and resets it; SQLite result code. */
static int step_once(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

enum lw_err gb_spool_push(struct gb_spool *s, const char *topic,
                          const char *payload, int64_t fix_time_ms,
                          int64_t taken_ms, int64_t *id, int64_t *dropped,
                          char *err, size_t errlen)
{
    int64_t ndrop = 0, removed = 0;
    enum lw_err rc;

    if (dropped)
        *dropped = 0;
    if (exec(s, "BEGIN IMMEDIATE") != SQLITE_OK)
        return db_err(s, "begin", err, errlen);
    if (s->count >= s->max_rows) {
        ndrop = s->count - s->max_rows + 1;
        sqlite3_bind_int64(s->drop, 1, ndrop);
        if (step_once(s->drop) != SQLITE_DONE) {
            rc = db_err(s, "drop oldest", err, errlen);
            goto out_rollback;
        }
        removed = sqlite3_changes(s->db);
        sqlite3_bind_int64(s->add_dropped, 1, removed);
        if (step_once(s->add_dropped) != SQLITE_DONE) {
            rc = db_err(s, "count dropped", err, errlen);
            goto out_rollback;
        }
    }
    sqlite3_bind_text(s->ins, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins, 2, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->ins, 3, fix_time_ms);
    sqlite3_bind_int64(s->ins, 4, taken_ms);
    if (step_once(s->ins) != SQLITE_DONE) {
        rc = db_err(s, "insert", err, errlen);
        goto out_rollback;
    }
    if (exec(s, "COMMIT") != SQLITE_OK) {
        rc = db_err(s, "commit", err, errlen);
        goto out_rollback;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    s->count += 1 - removed;
    s->dropped_total += removed;
    if (dropped)
        *dropped = removed;
    return LW_OK;

out_rollback:
    exec(s, "ROLLBACK");
    return rc;
}

int gb_spool_next(struct gb_spool *s, int64_t after_id, struct gb_spooled *out,
                  int n, char *err, size_t errlen)
{
    int got = 0, rc = SQLITE_DONE;

    sqlite3_bind_int64(s->next, 1, after_id);
    sqlite3_bind_int(s->next, 2, n);
    while (got < n && (rc = sqlite3_step(s->next)) == SQLITE_ROW) {
        const unsigned char *topic = sqlite3_column_text(s->next, 2);
        const unsigned char *payload = sqlite3_column_text(s->next, 3);

        out[got].id = sqlite3_column_int64(s->next, 0);
        out[got].fix_time_ms = sqlite3_column_int64(s->next, 1);
        snprintf(out[got].topic, sizeof out[got].topic, "%s",
                 topic ? (const char *)topic : "");
        snprintf(out[got].payload, sizeof out[got].payload, "%s",
                 payload ? (const char *)payload : "");
        got++;
    }
    if (got < n && rc != SQLITE_DONE) {
        db_err(s, "read", err, errlen);
        got = -1;
    }
    sqlite3_reset(s->next);
    sqlite3_clear_bindings(s->next);
    return got;
}

enum lw_err gb_spool_remove(struct gb_spool *s, int64_t id, char *err,
                            size_t errlen)
{
    sqlite3_bind_int64(s->del, 1, id);
    if (step_once(s->del) != SQLITE_DONE)
        return db_err(s, "delete", err, errlen);
    s->count -= sqlite3_changes(s->db);
    return LW_OK;
}

int64_t gb_spool_count(const struct gb_spool *s)
{
    return s->count;
}

int64_t gb_spool_dropped_total(const struct gb_spool *s)
{
    return s->dropped_total;
}

int64_t gb_spool_oldest_fix_ms(struct gb_spool *s)
{
    int64_t v = INT64_MIN;

    if (sqlite3_step(s->oldest) == SQLITE_ROW)
        v = sqlite3_column_int64(s->oldest, 0);
    sqlite3_reset(s->oldest);
    return v;
}
