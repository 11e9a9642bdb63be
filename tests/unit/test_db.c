/*
 * test_db.c - cmocka tests of lib/db.c, the core's SQL layer: the mapping
 * of SQLite result codes to enum lw_err (every class of db.h), the
 * statement cache (one statement per query, a fresh one for a query
 * re-entered from its own callback, none left behind), binds that fail,
 * row iteration (a stop is not an error, a listing that breaks off is), and
 * savepoints. The store-level error classes (a full disk, a locked or
 * read-only database, I/O errors, a damaged file) are in test_store.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../lib/db.h"

static struct lw_db *open_mem(void)
{
    struct lw_db *db = NULL;
    char err[256] = "";

    if (lw_db_open(&db, ":memory:", SQLITE_OPEN_READWRITE, err, sizeof(err)) !=
        LW_OK)
        fail_msg("open: %s", err);
    assert_int_equal(lw_db_exec(db,
                                "CREATE TABLE t (k INTEGER PRIMARY KEY, "
                                "v TEXT NOT NULL, x REAL);"
                                "INSERT INTO t VALUES (1, 'one', 1.5), "
                                "(2, 'two', NULL), (3, 'three', 3.5)",
                                "setting up"),
                     LW_OK);
    return db;
}

/* Statements of the connection that are prepared (cached or not). */
static int prepared(struct lw_db *db)
{
    int n = 0;

    for (sqlite3_stmt *st = sqlite3_next_stmt(lw_db_sqlite(db), NULL); st;
         st = sqlite3_next_stmt(lw_db_sqlite(db), st))
        n++;
    return n;
}

/* ---- the mapping ----------------------------------------------------------
 */

static void test_map(void **state)
{
    static const struct {
        int rc;          /* SQLite's code */
        enum lw_err err; /* its class */
    } cases[] = {
        {SQLITE_OK, LW_OK},
        {SQLITE_ROW, LW_OK},
        {SQLITE_DONE, LW_OK},
        {SQLITE_NOMEM, LW_ERR_NOMEM},
        {SQLITE_IOERR_NOMEM, LW_ERR_NOMEM}, /* memory, not I/O */
        {SQLITE_BUSY, LW_ERR_BUSY},
        {SQLITE_BUSY_SNAPSHOT, LW_ERR_BUSY},
        {SQLITE_BUSY_TIMEOUT, LW_ERR_BUSY},
        {SQLITE_LOCKED, LW_ERR_BUSY},
        {SQLITE_LOCKED_SHAREDCACHE, LW_ERR_BUSY},
        {SQLITE_PROTOCOL, LW_ERR_BUSY},
        {SQLITE_FULL, LW_ERR_FULL},
        {SQLITE_READONLY, LW_ERR_READONLY},
        {SQLITE_READONLY_DBMOVED, LW_ERR_READONLY},
        {SQLITE_READONLY_RECOVERY, LW_ERR_READONLY},
        {SQLITE_PERM, LW_ERR_READONLY},
        {SQLITE_AUTH, LW_ERR_READONLY},
        {SQLITE_IOERR, LW_ERR_IO},
        {SQLITE_IOERR_WRITE, LW_ERR_IO},
        {SQLITE_IOERR_FSYNC, LW_ERR_IO},
        {SQLITE_IOERR_SHORT_READ, LW_ERR_IO},
        {SQLITE_CANTOPEN, LW_ERR_IO},
        {SQLITE_CANTOPEN_ISDIR, LW_ERR_IO},
        {SQLITE_NOLFS, LW_ERR_IO},
        {SQLITE_CORRUPT, LW_ERR_CORRUPT},
        {SQLITE_CORRUPT_INDEX, LW_ERR_CORRUPT},
        {SQLITE_NOTADB, LW_ERR_CORRUPT},
#ifdef SQLITE_IOERR_CORRUPTFS
        {SQLITE_IOERR_CORRUPTFS, LW_ERR_CORRUPT},
#endif
        {SQLITE_TOOBIG, LW_ERR_RANGE},
        {SQLITE_ERROR, LW_ERR_DB},
        {SQLITE_CONSTRAINT, LW_ERR_DB},
        {SQLITE_CONSTRAINT_UNIQUE, LW_ERR_DB},
        {SQLITE_SCHEMA, LW_ERR_DB},
        {SQLITE_INTERRUPT, LW_ERR_DB},
        {SQLITE_MISUSE, LW_ERR_DB},
        {SQLITE_RANGE, LW_ERR_DB},
        {SQLITE_MISMATCH, LW_ERR_DB},
        {SQLITE_ABORT, LW_ERR_DB},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (lw_db_map(cases[i].rc) != cases[i].err)
            fail_msg("SQLite code %d (%s): %d, want %d", cases[i].rc,
                     sqlite3_errstr(cases[i].rc), lw_db_map(cases[i].rc),
                     cases[i].err);
    }
}

/* Every code has its own sentence. */
static void test_strerror(void **state)
{
    (void)state;
    for (int i = 0; i < LW_ERR_COUNT_; i++) {
        assert_string_not_equal(lw_strerror((enum lw_err)i), "unknown error");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(lw_strerror((enum lw_err)i),
                                    lw_strerror((enum lw_err)j));
    }
    assert_string_equal(lw_strerror(LW_ERR_COUNT_), "unknown error");
    assert_non_null(strstr(lw_strerror(LW_ERR_FULL), "full"));
    assert_non_null(strstr(lw_strerror(LW_ERR_READONLY), "read-only"));
    assert_non_null(strstr(lw_strerror(LW_ERR_CORRUPT), "damaged"));
}

/* A failure says what failed and what SQLite said, in its class. */
static void test_fail_sentence(void **state)
{
    static const char sql[] = "INSERT INTO t (k, v) VALUES (?1, ?2)";
    struct lw_db *db = open_mem();
    sqlite3_stmt *st;
    enum lw_err e;

    (void)state;
    st = lw_db_stmt(db, sql, &e);
    assert_non_null(st);
    lw_db_bind_int64(db, st, 1, 1); /* the key exists */
    lw_db_bind_text(db, st, 2, "uno");
    assert_int_equal(lw_db_run(db, st, "adding a row"), LW_ERR_DB);
    assert_non_null(strstr(lw_db_errmsg(db), "adding a row: "));
    assert_non_null(strstr(lw_db_errmsg(db), "UNIQUE"));
    /* the statement is usable again */
    st = lw_db_stmt(db, sql, &e);
    lw_db_bind_int64(db, st, 1, 4);
    lw_db_bind_text(db, st, 2, "four");
    assert_int_equal(lw_db_run(db, st, "adding a row"), LW_OK);
    assert_int_equal(lw_db_changes(db), 1);
    assert_int_equal(lw_db_last_rowid(db), 4);
    /* a statement that does not prepare */
    assert_null(lw_db_stmt(db, "SELECT nope FROM nowhere", &e));
    assert_int_equal(e, LW_ERR_DB);
    assert_non_null(strstr(lw_db_errmsg(db), "no such table"));
    assert_null(lw_db_stmt(db, "  ", &e));
    assert_int_equal(e, LW_ERR_INVAL);
    lw_db_close(db);
}

/* ---- the statement cache --------------------------------------------------
 */

static void row_text(sqlite3_stmt *st, void *out)
{
    lw_db_col_copy(st, 0, out, 16);
}

static void test_cache(void **state)
{
    static const char sql[] = "SELECT v FROM t WHERE k = ?1";
    struct lw_db *db = open_mem();
    sqlite3_stmt *a, *b;
    char v[16];
    enum lw_err e;
    int before;

    (void)state;
    before = prepared(db);
    a = lw_db_stmt(db, sql, &e);
    assert_non_null(a);
    lw_db_bind_int64(db, a, 1, 2);
    assert_int_equal(lw_db_get_row(db, a, row_text, v, "reading"), LW_OK);
    assert_string_equal(v, "two");
    /* the same query again: the same statement, reset, bindings cleared */
    b = lw_db_stmt(db, sql, &e);
    assert_ptr_equal(a, b);
    assert_int_equal(lw_db_get_row(db, b, row_text, v, "reading"),
                     LW_ERR_NOTFOUND); /* k = NULL matches nothing */
    assert_int_equal(prepared(db), before + 1);
    /* the same text at another address is another entry */
    {
        static const char copy[] = "SELECT v FROM t WHERE k = ?1";

        b = lw_db_stmt(db, copy, &e);
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        lw_db_done(db, b);
    }
    assert_int_equal(prepared(db), before + 2);
    lw_db_done(db, NULL); /* no-op */
    lw_db_close(db);
    lw_db_close(NULL);
}

/* Listing collector that re-enters the same query once per row. */
struct nest {
    struct lw_db *db;        /* the connection */
    const char *sql;         /* the query */
    int outer, inner, depth; /* rows seen outside, inside; nesting */
    sqlite3_stmt *outer_st;  /* the outer statement */
};

static int visit_nested(sqlite3_stmt *st, const void *cbp, void *ctx);

static enum lw_err list(struct nest *n)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(n->db, n->sql, &e);

    if (!st)
        return e;
    if (n->depth == 0)
        n->outer_st = st;
    else
        assert_ptr_not_equal(st, n->outer_st); /* never the busy one */
    return lw_db_each_row(n->db, st, visit_nested, NULL, n, "listing");
}

static int visit_nested(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct nest *n = ctx;

    (void)st;
    (void)cbp;
    if (n->depth > 0) {
        n->inner++;
        return 0;
    }
    n->outer++;
    n->depth++;
    assert_int_equal(list(n), LW_OK);
    n->depth--;
    return 0;
}

static void test_reentry(void **state)
{
    static const char sql[] = "SELECT k FROM t ORDER BY k";
    struct lw_db *db = open_mem();
    struct nest n = {db, sql, 0, 0, 0, NULL};
    int before = prepared(db);

    (void)state;
    assert_int_equal(list(&n), LW_OK);
    assert_int_equal(n.outer, 3); /* not restarted by the nested use */
    assert_int_equal(n.inner, 9);
    /* the fresh statements were finalized: only the cached one is left */
    assert_int_equal(prepared(db), before + 1);
    lw_db_close(db);
}

/* ---- binds ----------------------------------------------------------------
 */

static void test_bind_failure(void **state)
{
    static const char sql[] = "INSERT INTO t (k, v) VALUES (?1, ?2)";
    struct lw_db *db = open_mem();
    sqlite3_stmt *st;
    enum lw_err e;
    int64_t n = 0;

    (void)state;
    st = lw_db_stmt(db, sql, &e);
    lw_db_bind_int64(db, st, 1, 10);
    lw_db_bind_text(db, st, 2, "ten");
    lw_db_bind_int64(db, st, 3, 99); /* no such parameter */
    assert_int_equal(lw_db_run(db, st, "adding ten"), LW_ERR_DB);
    assert_non_null(strstr(lw_db_errmsg(db), "adding ten"));
    assert_non_null(strstr(lw_db_errmsg(db), "range"));
    /* and the statement did not run */
    st = lw_db_stmt(db, "SELECT count(*) FROM t WHERE k = 10", &e);
    assert_int_equal(lw_db_step(db, st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    lw_db_done(db, st);
    assert_int_equal(n, 0);
    /* the failure is forgotten with the use: the next one runs */
    st = lw_db_stmt(db, sql, &e);
    lw_db_bind_int64(db, st, 1, 10);
    lw_db_bind_text(db, st, 2, "ten");
    assert_int_equal(lw_db_run(db, st, "adding ten"), LW_OK);
    lw_db_close(db);
}

/* lw_db_run_bound leaves the bindings; lw_db_run clears them. */
static void test_run_bound(void **state)
{
    static const char sql[] = "UPDATE t SET v = coalesce(?2, 'cleared') "
                              "WHERE k = coalesce(?1, 3)";
    struct lw_db *db = open_mem();
    sqlite3_stmt *st;
    enum lw_err e;
    char v[16];

    (void)state;
    st = lw_db_stmt(db, sql, &e);
    lw_db_bind_int64(db, st, 1, 1);
    lw_db_bind_text(db, st, 2, "uno");
    assert_int_equal(lw_db_run_bound(db, st, "updating"), LW_OK);
    st = lw_db_stmt(db, sql, &e); /* kept: ?1 = 1, ?2 = 'uno' */
    lw_db_bind_text(db, st, 2, "eins");
    assert_int_equal(lw_db_run(db, st, "updating"), LW_OK);
    st = lw_db_stmt(db, sql, &e); /* cleared: both NULL */
    assert_int_equal(lw_db_run(db, st, "updating"), LW_OK);
    st = lw_db_stmt(db, "SELECT v FROM t WHERE k = ?1", &e);
    lw_db_bind_int64(db, st, 1, 1);
    assert_int_equal(lw_db_get_row(db, st, row_text, v, "reading"), LW_OK);
    assert_string_equal(v, "eins");
    st = lw_db_stmt(db, "SELECT v FROM t WHERE k = 3", &e);
    assert_int_equal(lw_db_get_row(db, st, row_text, v, "reading"), LW_OK);
    assert_string_equal(v, "cleared");
    lw_db_close(db);
}

/* ---- rows ------------------------------------------------------------------
 */

struct seen {
    int n;       /* rows */
    int stop_at; /* stop after this many, 0 = never */
    double x[4]; /* column x, NAN for NULL */
};

static int visit_x(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct seen *s = ctx;

    (void)cbp;
    if (s->n < 4)
        s->x[s->n] = lw_db_col_opt_double(st, 0);
    s->n++;
    return s->stop_at && s->n >= s->stop_at;
}

static int interrupt_first(sqlite3_stmt *st, const void *cbp, void *ctx)
{
    struct lw_db *db = (struct lw_db *)cbp;

    (void)st;
    (*(int *)ctx)++;
    sqlite3_interrupt(lw_db_sqlite(db));
    return 0;
}

static void test_rows(void **state)
{
    static const char sql[] = "SELECT x FROM t ORDER BY k";
    struct lw_db *db = open_mem();
    struct seen s = {0};
    sqlite3_stmt *st;
    enum lw_err e;
    int n = 0;

    (void)state;
    st = lw_db_stmt(db, sql, &e);
    assert_int_equal(lw_db_each_row(db, st, visit_x, NULL, &s, "listing"),
                     LW_OK);
    assert_int_equal(s.n, 3);
    assert_true(s.x[0] == 1.5);
    assert_true(isnan(s.x[1]));
    s = (struct seen){.stop_at = 2};
    st = lw_db_stmt(db, sql, &e);
    assert_int_equal(lw_db_each_row(db, st, visit_x, NULL, &s, "listing"),
                     LW_OK); /* a stop is not an error */
    assert_int_equal(s.n, 2);
    /* a listing that breaks off fails, and is not started over */
    st = lw_db_stmt(db, sql, &e);
    assert_int_equal(
        lw_db_each_row(db, st, interrupt_first, db, &n, "listing x"),
        LW_ERR_DB);
    assert_int_equal(n, 1);
    assert_non_null(strstr(lw_db_errmsg(db), "listing x"));
    assert_non_null(strstr(lw_db_errmsg(db), "interrupt"));
    /* the connection and the statement work afterwards */
    s = (struct seen){0};
    st = lw_db_stmt(db, sql, &e);
    assert_int_equal(lw_db_each_row(db, st, visit_x, NULL, &s, "listing"),
                     LW_OK);
    assert_int_equal(s.n, 3);
    lw_db_close(db);
}

/* ---- transactions ----------------------------------------------------------
 */

static int64_t count(struct lw_db *db)
{
    enum lw_err e;
    sqlite3_stmt *st = lw_db_stmt(db, "SELECT count(*) FROM t", &e);
    int64_t n;

    assert_int_equal(lw_db_step(db, st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    lw_db_done(db, st);
    return n;
}

static void test_savepoints(void **state)
{
    struct lw_db *db = open_mem();

    (void)state;
    /* on its own: a transaction */
    assert_int_equal(lw_db_savepoint(db, "sp"), LW_OK);
    assert_true(lw_db_in_txn(db));
    assert_int_equal(lw_db_exec(db, "INSERT INTO t VALUES (5, 'f', 0)", "x"),
                     LW_OK);
    assert_int_equal(lw_db_savepoint_end(db, "sp", LW_OK), LW_OK);
    assert_false(lw_db_in_txn(db));
    assert_int_equal(count(db), 4);
    /* a failure undoes the savepoint's work only, and is returned */
    assert_int_equal(lw_db_begin(db), LW_OK);
    assert_int_equal(lw_db_exec(db, "INSERT INTO t VALUES (6, 'g', 0)", "x"),
                     LW_OK);
    assert_int_equal(lw_db_savepoint(db, "sp"), LW_OK);
    assert_int_equal(lw_db_exec(db, "INSERT INTO t VALUES (7, 'h', 0)", "x"),
                     LW_OK);
    assert_int_equal(lw_db_savepoint_end(db, "sp", LW_ERR_CONFIG),
                     LW_ERR_CONFIG);
    assert_true(lw_db_in_txn(db)); /* the caller's transaction goes on */
    assert_int_equal(count(db), 5);
    assert_int_equal(lw_db_commit(db), LW_OK);
    assert_int_equal(count(db), 5);
    /* transaction misuse is reported, not hidden */
    assert_int_equal(lw_db_commit(db), LW_ERR_DB);
    assert_int_equal(lw_db_begin(db), LW_OK);
    assert_int_equal(lw_db_begin(db), LW_ERR_DB);
    assert_int_equal(lw_db_rollback(db), LW_OK);
    assert_int_equal(lw_db_savepoint(db, NULL), LW_ERR_INVAL);
    lw_db_close(db);
}

static void test_arguments(void **state)
{
    struct lw_db *db = NULL;
    char err[128] = "";
    enum lw_err e;

    (void)state;
    assert_int_equal(
        lw_db_open(NULL, ":memory:", SQLITE_OPEN_READWRITE, err, sizeof(err)),
        LW_ERR_INVAL);
    assert_int_equal(lw_db_open(&db, NULL, 0, NULL, 0), LW_ERR_INVAL);
    assert_null(db);
    /* a directory that does not exist: I/O, with the path named */
    assert_int_equal(lw_db_open(&db, "/nonexistent/dir/x.db",
                                SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err,
                                sizeof(err)),
                     LW_ERR_IO);
    assert_null(db);
    assert_non_null(strstr(err, "/nonexistent/dir/x.db"));
    assert_null(lw_db_stmt(NULL, "SELECT 1", &e));
    assert_int_equal(e, LW_ERR_INVAL);
    assert_int_equal(lw_db_set_busy_timeout(NULL, 0), LW_ERR_INVAL);
    assert_int_equal(lw_db_exec(NULL, "SELECT 1", "x"), LW_ERR_INVAL);
    assert_false(lw_db_in_txn(NULL));
    assert_string_equal(lw_db_errmsg(NULL), "no database handle");
    db = open_mem();
    assert_int_equal(lw_db_set_busy_timeout(db, -1), LW_ERR_INVAL);
    assert_int_equal(lw_db_set_busy_timeout(db, 0), LW_OK);
    lw_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_fail_sentence),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_reentry),
        cmocka_unit_test(test_bind_failure),
        cmocka_unit_test(test_run_bound),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_savepoints),
        cmocka_unit_test(test_arguments),
    };

    return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
