/*
 * db.c - the one SQL layer of the core (db.h): connection, statement cache,
 * result-code mapping, row iteration, transactions and savepoints.
 *
 * The statement cache is an open-addressing table keyed by the address of
 * the SQL text (a string of static storage, so the address is the identity
 * of the query): CACHE_SLOTS slots, used up to CACHE_MAX, linear probing.
 * A statement that cannot be cached (the table is full, or its cached copy
 * is in use by an outer caller) is "loose": prepared for one use, listed in
 * loose[] and finalized when that use ends. The hot path (a cached
 * statement, no loose one outstanding) is a hash, a compare, and at the end
 * a reset.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

/* Slots of the statement cache (a power of two) and how many may be used:
 * the core has about 90 distinct queries. */
#define CACHE_SLOTS 256
#define CACHE_MAX (CACHE_SLOTS * 3 / 4)
/* Loose statements in use at once: the depth of re-entered queries. */
#define LOOSE_MAX 16
/* Room for "SAVEPOINT <name>" and the like. */
#define SAVEPOINT_SQL_LEN 128

struct slot {
    const char *sql;  /* the caller's static text: the key; NULL = free */
    sqlite3_stmt *st; /* its prepared statement */
};

struct lw_db {
    sqlite3 *sq;                    /* the connection; NULL after a failed
                                       reopen */
    struct slot cache[CACHE_SLOTS]; /* cached statements */
    int cached;                     /* used slots */
    sqlite3_stmt *loose[LOOSE_MAX]; /* uncached statements in use */
    int nloose;                     /* entries of loose[] */
    int bind_rc;                    /* first failed bind since the last
                                       step or done; SQLITE_OK */
    char errmsg[LW_DB_ERRMSG_LEN];  /* last failure */
};

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

/* ---- errors -------------------------------------------------------------- */

enum lw_err lw_err_from_sqlite(int rc)
{
    return lw_db_map(rc);
}

enum lw_err lw_db_map(int rc)
{
    /* extended codes whose class differs from their primary code's */
    switch (rc) {
    case SQLITE_IOERR_NOMEM:
        return LW_ERR_NOMEM;
#ifdef SQLITE_IOERR_CORRUPTFS
    case SQLITE_IOERR_CORRUPTFS:
        return LW_ERR_CORRUPT;
#endif
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return LW_OK;
    case SQLITE_NOMEM:
        return LW_ERR_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL: /* WAL lock races that outlasted SQLite's retries */
        return LW_ERR_BUSY;
    case SQLITE_FULL:
        return LW_ERR_FULL;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return LW_ERR_READONLY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOLFS:
        return LW_ERR_IO;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return LW_ERR_CORRUPT;
    case SQLITE_TOOBIG:
        return LW_ERR_RANGE;
    default:
        return LW_ERR_DB;
    }
}

void lw_db_seterr(struct lw_db *db, const char *fmt, ...)
{
    va_list ap;

    if (!db)
        return;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
    va_end(ap);
}

enum lw_err lw_db_fail(struct lw_db *db, int rc, const char *what)
{
    if (db)
        lw_db_seterr(db, "%s: %s", what,
                     db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
    return lw_db_map(rc);
}

const char *lw_db_errmsg(const struct lw_db *db)
{
    if (!db)
        return "no database handle";
    if (db->errmsg[0])
        return db->errmsg;
    return db->sq ? sqlite3_errmsg(db->sq) : "database not open";
}

/* ---- connection ---------------------------------------------------------- */

/* Opens path into db->sq; records the reason of a failure. */
static enum lw_err db_connect(struct lw_db *db, const char *path, int flags)
{
    int rc = sqlite3_open_v2(path, &db->sq, flags, NULL);

    if (rc != SQLITE_OK) {
        lw_db_seterr(db, "cannot open database %s: %s", path,
                     db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(rc));
        sqlite3_close_v2(db->sq);
        db->sq = NULL;
        return lw_db_map(rc);
    }
    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, LW_DB_BUSY_TIMEOUT_MS);
    return LW_OK;
}

/* Finalizes every statement of db (before a close or a reopen). */
static void finalize_all(struct lw_db *db)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        sqlite3_finalize(db->cache[i].st);
        db->cache[i] = (struct slot){NULL, NULL};
    }
    db->cached = 0;
    for (int i = 0; i < db->nloose; i++)
        sqlite3_finalize(db->loose[i]);
    db->nloose = 0;
    db->bind_rc = SQLITE_OK;
}

enum lw_err lw_db_open(struct lw_db **out, const char *path, int flags,
                       char *err, size_t errlen)
{
    struct lw_db *db;
    enum lw_err e;

    if (out)
        *out = NULL;
    if (!out || !path) {
        lw_seterr(err, errlen, "lw_db_open: invalid argument");
        return LW_ERR_INVAL;
    }
    db = calloc(1, sizeof(*db));
    if (!db) {
        lw_seterr(err, errlen, "out of memory opening %s", path);
        return LW_ERR_NOMEM;
    }
    e = db_connect(db, path, flags);
    if (e != LW_OK) {
        lw_seterr(err, errlen, "%s", db->errmsg);
        free(db);
        return e;
    }
    *out = db;
    return LW_OK;
}

enum lw_err lw_db_reopen(struct lw_db *db, const char *path, int flags)
{
    if (!db || !path)
        return LW_ERR_INVAL;
    finalize_all(db);
    sqlite3_close_v2(db->sq);
    db->sq = NULL;
    return db_connect(db, path, flags);
}

void lw_db_close(struct lw_db *db)
{
    if (!db)
        return;
    finalize_all(db);
    /* the statements are finalized, so close_v2 frees everything now (and
     * rolls back an open transaction) */
    sqlite3_close_v2(db->sq);
    free(db);
}

sqlite3 *lw_db_sqlite(struct lw_db *db)
{
    return db ? db->sq : NULL;
}

enum lw_err lw_db_set_busy_timeout(struct lw_db *db, int ms)
{
    if (!db || !db->sq || ms < 0)
        return LW_ERR_INVAL;
    return lw_db_map(sqlite3_busy_timeout(db->sq, ms));
}

/* ---- statements ---------------------------------------------------------- */

/* The cache slot of sql: its own, or the free one where it would go. */
static struct slot *find_slot(struct lw_db *db, const char *sql)
{
    /* Fibonacci hashing of the address; the low bits of a pointer to a
     * string carry little, the multiplication spreads them */
    uint64_t h = (uint64_t)(uintptr_t)sql * UINT64_C(0x9e3779b97f4a7c15);
    size_t i = (size_t)(h >> 56) & (CACHE_SLOTS - 1);

    while (db->cache[i].sql && db->cache[i].sql != sql)
        i = (i + 1) & (CACHE_SLOTS - 1);
    return &db->cache[i];
}

/* Prepares sql; persistent when it will be cached. */
static sqlite3_stmt *prepare(struct lw_db *db, const char *sql, bool cache,
                             enum lw_err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(
        db->sq, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);

    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        *e = lw_db_fail(db, rc, "preparing a statement");
        return NULL;
    }
    if (!st) { /* only for SQL without a statement */
        lw_db_seterr(db, "preparing a statement: no SQL in \"%.40s\"", sql);
        *e = LW_ERR_INVAL;
        return NULL;
    }
    return st;
}

sqlite3_stmt *lw_db_stmt(struct lw_db *db, const char *sql, enum lw_err *e)
{
    struct slot *sl;
    sqlite3_stmt *st;

    *e = LW_OK;
    if (!db || !db->sq || !sql) {
        *e = LW_ERR_INVAL;
        return NULL;
    }
    sl = find_slot(db, sql);
    if (sl->sql) {
        if (!sqlite3_stmt_busy(sl->st))
            return sl->st;
    } else if (db->cached < CACHE_MAX) {
        st = prepare(db, sql, true, e);
        if (!st)
            return NULL;
        *sl = (struct slot){sql, st};
        db->cached++;
        return st;
    }
    /* in use by an outer caller, or no room: a loose one for this use */
    if (db->nloose == LOOSE_MAX) {
        lw_db_seterr(db,
                     "%d statements in use at once: queries re-entered "
                     "from their own callbacks too deep",
                     LOOSE_MAX);
        *e = LW_ERR_DB;
        return NULL;
    }
    st = prepare(db, sql, false, e);
    if (st)
        db->loose[db->nloose++] = st;
    return st;
}

/* Ends one use of st: a loose statement is finalized, a cached one reset
 * (and its bindings cleared when clear is set). */
static void end_use(struct lw_db *db, sqlite3_stmt *st, bool clear)
{
    db->bind_rc = SQLITE_OK;
    for (int i = db->nloose - 1; i >= 0; i--) {
        if (db->loose[i] == st) {
            sqlite3_finalize(st);
            db->loose[i] = db->loose[--db->nloose];
            return;
        }
    }
    sqlite3_reset(st);
    if (clear)
        sqlite3_clear_bindings(st);
}

void lw_db_done(struct lw_db *db, sqlite3_stmt *st)
{
    if (st)
        end_use(db, st, true);
}

void lw_db_bind_failed(struct lw_db *db, int rc)
{
    if (db && db->bind_rc == SQLITE_OK)
        db->bind_rc = rc;
}

/* ---- running ------------------------------------------------------------- */

int lw_db_step(struct lw_db *db, sqlite3_stmt *st)
{
    int rc = db->bind_rc;

    if (rc != SQLITE_OK) {
        db->bind_rc = SQLITE_OK;
        return rc;
    }
    return sqlite3_step(st);
}

/* Steps st once; a row is success. Ends its use (clearing the bindings
 * when clear is set). */
static enum lw_err run_once(struct lw_db *db, sqlite3_stmt *st,
                            const char *what, bool clear)
{
    int rc = lw_db_step(db, st);
    enum lw_err e = LW_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = lw_db_fail(db, rc, what);
    end_use(db, st, clear);
    return e;
}

enum lw_err lw_db_run(struct lw_db *db, sqlite3_stmt *st, const char *what)
{
    return run_once(db, st, what, true);
}

enum lw_err lw_db_run_bound(struct lw_db *db, sqlite3_stmt *st,
                            const char *what)
{
    return run_once(db, st, what, false);
}

enum lw_err lw_db_get_row(struct lw_db *db, sqlite3_stmt *st,
                          lw_db_row_fn decode, void *out, const char *what)
{
    int rc = lw_db_step(db, st);
    enum lw_err e = LW_OK;

    if (rc == SQLITE_ROW)
        decode(st, out);
    else if (rc == SQLITE_DONE)
        e = LW_ERR_NOTFOUND;
    else
        e = lw_db_fail(db, rc, what);
    lw_db_done(db, st);
    return e;
}

enum lw_err lw_db_get_id(struct lw_db *db, const char *sql, int64_t id,
                         lw_db_row_fn decode, void *out, const char *what,
                         const char *noun)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = lw_db_stmt(db, sql, &e);
    if (!st)
        return e;
    lw_db_bind_int64(db, st, 1, id);
    e = lw_db_get_row(db, st, decode, out, what);
    if (e == LW_ERR_NOTFOUND)
        lw_db_seterr(db, "no %s %lld", noun, (long long)id);
    return e;
}

enum lw_err lw_db_each_row(struct lw_db *db, sqlite3_stmt *st,
                           lw_db_visit_fn visit, const void *cbp, void *ctx,
                           const char *what)
{
    enum lw_err e = LW_OK;
    int rc;

    while ((rc = lw_db_step(db, st)) == SQLITE_ROW) {
        if (visit(st, cbp, ctx) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        e = lw_db_fail(db, rc, what);
    lw_db_done(db, st);
    return e;
}

enum lw_err lw_db_exec(struct lw_db *db, const char *sql, const char *what)
{
    int rc;

    if (!db || !db->sq || !sql)
        return LW_ERR_INVAL;
    rc = sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? LW_OK : lw_db_fail(db, rc, what);
}

int64_t lw_db_changes(struct lw_db *db)
{
    return db && db->sq ? sqlite3_changes64(db->sq) : 0;
}

int64_t lw_db_last_rowid(struct lw_db *db)
{
    return db && db->sq ? sqlite3_last_insert_rowid(db->sq) : 0;
}

/* ---- column helpers ------------------------------------------------------ */

void lw_db_col_copy(sqlite3_stmt *st, int i, char *dst, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n;

    if (!dst || len == 0)
        return;
    n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n > len - 1)
        n = len - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

const char *lw_db_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? (const char *)t : "";
}

double lw_db_col_opt_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? NAN
               : sqlite3_column_double(st, i);
}

/* ---- transactions -------------------------------------------------------- */

/* Runs one of the cached statements without parameters or rows. */
static enum lw_err run_plain(struct lw_db *db, const char *sql,
                             const char *what)
{
    sqlite3_stmt *st;
    enum lw_err e;

    st = lw_db_stmt(db, sql, &e);
    return st ? lw_db_run(db, st, what) : e;
}

enum lw_err lw_db_begin(struct lw_db *db)
{
    return run_plain(db, SQL_BEGIN, "BEGIN");
}

enum lw_err lw_db_commit(struct lw_db *db)
{
    return run_plain(db, SQL_COMMIT, "COMMIT");
}

enum lw_err lw_db_rollback(struct lw_db *db)
{
    return run_plain(db, SQL_ROLLBACK, "ROLLBACK");
}

bool lw_db_in_txn(const struct lw_db *db)
{
    return db && db->sq && !sqlite3_get_autocommit(db->sq);
}

enum lw_err lw_db_savepoint(struct lw_db *db, const char *name)
{
    char sql[SAVEPOINT_SQL_LEN];

    if (!name ||
        snprintf(sql, sizeof(sql), "SAVEPOINT %s", name) >= (int)sizeof(sql))
        return LW_ERR_INVAL;
    return lw_db_exec(db, sql, "starting a savepoint");
}

enum lw_err lw_db_savepoint_end(struct lw_db *db, const char *name,
                                enum lw_err e)
{
    char sql[SAVEPOINT_SQL_LEN];

    if (!db || !db->sq || !name)
        return e != LW_OK ? e : LW_ERR_INVAL;
    if (e == LW_OK) {
        snprintf(sql, sizeof(sql), "RELEASE %s", name);
        e = lw_db_exec(db, sql, "releasing a savepoint");
        if (e == LW_OK)
            return LW_OK;
    }
    /* undo, keeping the sentence of the failure */
    snprintf(sql, sizeof(sql), "ROLLBACK TO %s; RELEASE %s", name, name);
    sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
    return e;
}
