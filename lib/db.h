/*
 * db.h - the one SQL layer of the core: an SQLite connection with its
 * statement cache, the one mapping of SQLite result codes to enum lw_err,
 * row iteration, transactions and savepoints. Private to lib/ (not
 * installed): store.c, schema.c, registry.c, outbox.c and audit.c use it;
 * the programs see only the modules' own functions.
 *
 * Error classes (the mapping of lw_db_map, documented for callers in err.h):
 *   SQLITE_OK, _ROW, _DONE                       LW_OK
 *   SQLITE_BUSY*, SQLITE_LOCKED*, SQLITE_PROTOCOL LW_ERR_BUSY (retry later)
 *   SQLITE_FULL                                  LW_ERR_FULL
 *   SQLITE_READONLY*, SQLITE_PERM, SQLITE_AUTH   LW_ERR_READONLY
 *   SQLITE_IOERR*, SQLITE_CANTOPEN*, SQLITE_NOLFS LW_ERR_IO
 *   SQLITE_CORRUPT*, SQLITE_NOTADB,
 *   SQLITE_IOERR_CORRUPTFS                       LW_ERR_CORRUPT
 *   SQLITE_NOMEM, SQLITE_IOERR_NOMEM             LW_ERR_NOMEM
 *   SQLITE_TOOBIG                                LW_ERR_RANGE
 *   everything else (CONSTRAINT, ERROR, SCHEMA, INTERRUPT, MISUSE, ...)
 *                                                LW_ERR_DB
 * Extended result codes are on for every connection, so the class is taken
 * from the whole code where it matters (SQLITE_IOERR_NOMEM is memory, not
 * I/O) and from its primary byte otherwise.
 *
 * Statements. lw_db_stmt(db, sql) hands out a prepared statement for sql,
 * which must be a string of static storage (a literal, or a static const
 * array): the cache is keyed by its ADDRESS, so a statement is prepared
 * once per connection and each later use costs a pointer hash. A statement
 * still in use (a callback re-entered the query that called it) is not
 * handed out twice: the caller gets a fresh one, finalized after its use.
 * Every use ends with exactly one of lw_db_run, lw_db_run_bound,
 * lw_db_get_row, lw_db_each_row (which end it themselves) or lw_db_done;
 * ending resets the statement and (but for lw_db_run_bound) clears its
 * bindings, so no statement stays active between calls (a reader's snapshot
 * ends with the call), a parameter a caller leaves unbound is NULL, and
 * close can finalize them all.
 *
 * Binding. The lw_db_bind_* helpers bind text by reference (SQLITE_STATIC:
 * the text must stay valid until the use ends). A failed bind (a wrong
 * index, a text too big) is remembered by the connection and reported by
 * the next step (lw_db_step, lw_db_run, lw_db_get_row, lw_db_each_row)
 * instead of running the statement with a parameter missing (SQLite's
 * message of the connection then says what was wrong with the bind);
 * lw_db_done forgets it.
 *
 * Errors. Every failure leaves a sentence "<what>: <SQLite's message>" in
 * the connection (lw_db_errmsg) and returns the class above. "what" is a
 * short phrase of the caller ("storing a fix").
 *
 * One connection, one thread. No clock, no logging, no globals.
 */
#ifndef LIENWATCH_DB_H
#define LIENWATCH_DB_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "lienwatch/err.h"

/* Room for one error sentence of a connection, with the NUL. */
#define LW_DB_ERRMSG_LEN 512
/* The busy timeout a connection starts with, ms. */
#define LW_DB_BUSY_TIMEOUT_MS 5000

struct lw_db; /* opaque: the connection, its statements, its last error */

/* ---- connection ---------------------------------------------------------- */

/*
 * Opens path (a file name, ":memory:", or a "file:" URI when flags has
 * SQLITE_OPEN_URI) with the sqlite3_open_v2 flags given, turns on extended
 * result codes and sets the busy timeout to LW_DB_BUSY_TIMEOUT_MS. On
 * success *out owns the connection (lw_db_close). On failure *out is NULL
 * and err (may be NULL) gets "cannot open database PATH: REASON"; returns
 * the class of SQLite's code (LW_ERR_IO when the file cannot be opened,
 * LW_ERR_NOMEM, ...).
 */
enum lw_err lw_db_open(struct lw_db **out, const char *path, int flags,
                       char *err, size_t errlen);

/*
 * Closes the connection of db and opens path with flags in its place (the
 * cached statements are finalized first; the error sentence is kept).
 * On failure db has no connection: every later call fails with
 * LW_ERR_INVAL until lw_db_close. Returns as lw_db_open; the reason is
 * recorded in db.
 */
enum lw_err lw_db_reopen(struct lw_db *db, const char *path, int flags);

/* Finalizes every statement and closes the connection (an open transaction
 * is rolled back). NULL is a no-op. */
void lw_db_close(struct lw_db *db);

/* The SQLite connection (borrowed; valid until lw_db_close or a reopen). */
sqlite3 *lw_db_sqlite(struct lw_db *db);

/*
 * How long a statement waits for another connection's lock before it fails
 * with LW_ERR_BUSY: ms >= 0 (0: fail at once). Returns LW_OK, LW_ERR_INVAL
 * for a negative ms or a closed connection.
 */
enum lw_err lw_db_set_busy_timeout(struct lw_db *db, int ms);

/* ---- errors -------------------------------------------------------------- */

/* The class of an SQLite result code (see the table above). */
enum lw_err lw_db_map(int rc);

/* Records "<what>: <SQLite's message for the connection>" and returns
 * lw_db_map(rc). */
enum lw_err lw_db_fail(struct lw_db *db, int rc, const char *what);

/* Records a sentence of the caller (printf format). */
void lw_db_seterr(struct lw_db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last recorded sentence (borrowed; changes with the next failure),
 * SQLite's own message when none was recorded yet. Never NULL. */
const char *lw_db_errmsg(const struct lw_db *db);

/* ---- statements ---------------------------------------------------------- */

/*
 * The statement for sql (static storage, see above), reset and without
 * bindings, ready to bind and step. NULL on failure, with *e set
 * (LW_ERR_INVAL for a closed connection, the class of the prepare error
 * otherwise) and the reason recorded.
 */
sqlite3_stmt *lw_db_stmt(struct lw_db *db, const char *sql, enum lw_err *e);

/* Ends one use of st (see above). NULL is a no-op. */
void lw_db_done(struct lw_db *db, sqlite3_stmt *st);

/* Records a failed bind of st (called by the inline helpers below). */
void lw_db_bind_failed(struct lw_db *db, int rc);

static inline void lw_db_bound(struct lw_db *db, int rc)
{
    if (rc != SQLITE_OK)
        lw_db_bind_failed(db, rc);
}

/* Binds text v (borrowed until the use ends); NULL binds SQL NULL. */
static inline void lw_db_bind_text(struct lw_db *db, sqlite3_stmt *st, int i,
                                   const char *v)
{
    lw_db_bound(db, v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(st, i));
}

/* Binds the n bytes at v (borrowed until the use ends) as text. */
static inline void lw_db_bind_textn(struct lw_db *db, sqlite3_stmt *st, int i,
                                    const char *v, int n)
{
    lw_db_bound(db, sqlite3_bind_text(st, i, v, n, SQLITE_STATIC));
}

static inline void lw_db_bind_int64(struct lw_db *db, sqlite3_stmt *st, int i,
                                    int64_t v)
{
    lw_db_bound(db, sqlite3_bind_int64(st, i, v));
}

static inline void lw_db_bind_int(struct lw_db *db, sqlite3_stmt *st, int i,
                                  int v)
{
    lw_db_bound(db, sqlite3_bind_int(st, i, v));
}

/* Binds v as a REAL (SQLite would store a NaN as NULL, at more cost than
 * lw_db_bind_opt_double). */
static inline void lw_db_bind_double(struct lw_db *db, sqlite3_stmt *st, int i,
                                     double v)
{
    lw_db_bound(db, sqlite3_bind_double(st, i, v));
}

/* Binds an optional value: NAN (unknown, fix.h) as NULL. */
static inline void lw_db_bind_opt_double(struct lw_db *db, sqlite3_stmt *st,
                                         int i, double v)
{
    lw_db_bound(db, isnan(v) ? sqlite3_bind_null(st, i)
                             : sqlite3_bind_double(st, i, v));
}

static inline void lw_db_bind_null(struct lw_db *db, sqlite3_stmt *st, int i)
{
    lw_db_bound(db, sqlite3_bind_null(st, i));
}

/* ---- running ------------------------------------------------------------- */

/*
 * sqlite3_step(st), or the code of a bind that failed since the last step
 * (the statement is then not stepped). For loops the helpers below do not
 * cover; the caller ends the use.
 */
int lw_db_step(struct lw_db *db, sqlite3_stmt *st);

/*
 * Runs st once (a statement without rows, or one whose rows do not matter:
 * the first row is taken as success) and ends its use. Returns LW_OK or the
 * class of the failure, what naming it.
 */
enum lw_err lw_db_run(struct lw_db *db, sqlite3_stmt *st, const char *what);

/*
 * lw_db_run for the hot path: the same, but the bindings are left in place
 * (clearing eleven of them cost more than the lookup of the statement). Only
 * for a statement whose every parameter the caller binds at every use, so
 * no use can see a value of the one before.
 */
enum lw_err lw_db_run_bound(struct lw_db *db, sqlite3_stmt *st,
                            const char *what);

/* Decodes the current row of st into out (the struct the query selects). */
typedef void (*lw_db_row_fn)(sqlite3_stmt *st, void *out);

/*
 * Runs st, a lookup of at most one row, and decodes its row into out with
 * decode. Returns LW_OK; LW_ERR_NOTFOUND when there is no row (nothing
 * recorded: the caller says what is missing); or the class of the failure,
 * what naming it. Ends st's use.
 */
enum lw_err lw_db_get_row(struct lw_db *db, sqlite3_stmt *st,
                          lw_db_row_fn decode, void *out, const char *what);

/*
 * A lookup of one row by its id: runs sql (static storage, as for
 * lw_db_stmt; ?1 is the id) with lw_db_get_row. When there is no such row,
 * records "no <noun> <id>" as the message and returns LW_ERR_NOTFOUND.
 */
enum lw_err lw_db_get_id(struct lw_db *db, const char *sql, int64_t id,
                         lw_db_row_fn decode, void *out, const char *what,
                         const char *noun);

/*
 * Hands the current row of a listing to the caller's typed callback: decodes
 * it and returns the callback's result (non-zero stops the listing). cbp
 * points to that callback (an lw_fix_cb, lw_vehicle_cb, ...); ctx is its
 * context.
 */
typedef int (*lw_db_visit_fn)(sqlite3_stmt *st, const void *cbp, void *ctx);

/*
 * Runs st, a listing, calling visit(st, cbp, ctx) for each row until it
 * returns non-zero (a stop, not an error). Returns LW_OK, or the class of
 * the failure of a listing that broke off (what names it): never steps a
 * failed statement again, which would restart the query silently. Ends
 * st's use.
 */
enum lw_err lw_db_each_row(struct lw_db *db, sqlite3_stmt *st,
                           lw_db_visit_fn visit, const void *cbp, void *ctx,
                           const char *what);

/*
 * Runs sql (one or more statements without parameters, not cached: DDL,
 * pragmas, migrations). Returns LW_OK or the class of the failure, what
 * naming it.
 */
enum lw_err lw_db_exec(struct lw_db *db, const char *sql, const char *what);

/* Rows changed by the last INSERT, UPDATE or DELETE of the connection. */
int64_t lw_db_changes(struct lw_db *db);

/* Rowid of the last successful INSERT into a rowid table. */
int64_t lw_db_last_rowid(struct lw_db *db);

/* ---- column helpers ------------------------------------------------------ */

/* Copies text column i into dst (len bytes; NULL reads as ""), truncating. */
void lw_db_col_copy(sqlite3_stmt *st, int i, char *dst, size_t len);

/* Text column i, "" for NULL (borrowed: valid until the next step). */
const char *lw_db_col_str(sqlite3_stmt *st, int i);

/* REAL column i, NAN for NULL. */
double lw_db_col_opt_double(sqlite3_stmt *st, int i);

/* ---- transactions -------------------------------------------------------- */

/* BEGIN IMMEDIATE (the write lock now, or LW_ERR_BUSY), COMMIT, ROLLBACK:
 * LW_OK or the class of the failure. Cached statements. */
enum lw_err lw_db_begin(struct lw_db *db);
enum lw_err lw_db_commit(struct lw_db *db);
enum lw_err lw_db_rollback(struct lw_db *db);

/* True while a transaction is open on the connection. */
bool lw_db_in_txn(const struct lw_db *db);

/*
 * SAVEPOINT name: a transaction of its own, or nested in the caller's.
 * name is an SQL identifier of the caller (a literal such as "lw_outbox").
 */
enum lw_err lw_db_savepoint(struct lw_db *db, const char *name);

/*
 * Ends savepoint name: released when e is LW_OK, else rolled back to and
 * released (the work since the savepoint undone, the caller's transaction
 * kept). Returns e, or the failure of the release (the savepoint is then
 * rolled back); the sentence of the first failure is kept.
 */
enum lw_err lw_db_savepoint_end(struct lw_db *db, const char *name,
                                enum lw_err e);

#endif
