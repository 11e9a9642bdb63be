/*
 * fuzz_store.c - libFuzzer target: the store and the registry decoding
 * their own rows, when those rows are not what the code wrote: a database
 * edited by hand, restored from an old backup, or damaged.
 *
 * The input is SQL text, run on a second connection to a freshly migrated
 * database (INSERT, UPDATE, DELETE and SELECT only: an authorizer refuses
 * everything else, values are limited to 64 KiB, and a statement is
 * stopped after a bounded amount of work). Then the database is opened
 * with lw_store_open, as lienwatchd opens it (which reads the fix inbox
 * back), and read through every reading function: devices, each device's
 * last fix and history, counters, the audit trail, vehicles, accounts,
 * fences (each fence's GeoJSON loaded as the daemon loads it), alerts and
 * the registry versions, and the audit chain verified (twice, the second
 * time against the head the first found); then one prune step and one new
 * fix are written.
 * The schema is whatever lib/ migrates to: nothing here names a column, so
 * the target follows the schema as it changes.
 *
 * Invariants (a violation aborts): no crash or undefined behaviour (ASan,
 * UBSan), every string handed out NUL-terminated within its buffer, every
 * call returns a defined error code, and a read that succeeded once
 * succeeds again with the same rows.
 *
 * Each run starts from the same migrated file (copied from memory), so
 * the outcome depends on the input only.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_invariants.h"
#include "lienwatch/audit.h"
#include "lienwatch/fence.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest value a statement may make, bytes. */
#define VALUE_MAX 65536
/* Virtual machine steps between progress checks, and checks allowed. */
#define PROGRESS_STEPS 1000
#define PROGRESS_MAX 200
/* Most devices read back per run. */
#define DEVICES_MAX 64
/* Room for a path. */
#define PATH_LEN 4096

static char dir[PATH_LEN];     /* private temp directory */
static char db_path[PATH_LEN]; /* the database file in it */
static char *pristine;         /* the migrated file's bytes */
static size_t pristine_len;    /* their count */
static int progress_calls;     /* progress handler calls, this statement */

/* Removes the temp directory at exit. */
static void cleanup(void)
{
    char p[PATH_LEN + 8];

    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    unlink(db_path);
    rmdir(dir);
}

/* Reads the whole file path into *out. */
static void slurp(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    FUZZ_REQUIRE(f != NULL);
    FUZZ_REQUIRE(fseek(f, 0, SEEK_END) == 0);
    n = ftell(f);
    FUZZ_REQUIRE(n > 0);
    rewind(f);
    *out = malloc((size_t)n);
    FUZZ_REQUIRE(*out != NULL);
    FUZZ_REQUIRE(fread(*out, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
}

/* Puts the migrated database back, without its WAL. */
static void restore(void)
{
    char p[PATH_LEN + 8];
    FILE *f;

    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    f = fopen(db_path, "wb");
    FUZZ_REQUIRE(f != NULL);
    FUZZ_REQUIRE(fwrite(pristine, 1, pristine_len, f) == pristine_len);
    FUZZ_REQUIRE(fclose(f) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = getenv("TMPDIR");
    struct lw_store *s = NULL;
    char err[FUZZ_ERRLEN];
    struct stat st;

    (void)argc;
    (void)argv;
    /* tmpfs when there is one: a run writes the file twice */
    if (!base && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
        base = "/dev/shm";
    snprintf(dir, sizeof(dir), "%s/lw-fuzz-store.XXXXXX", base ? base : "/tmp");
    FUZZ_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
    atexit(cleanup);
    FUZZ_REQUIRE(lw_store_open(&s, db_path, 0, err, sizeof(err)) == LW_OK);
    lw_store_close(s); /* checkpoints: the file holds everything */
    slurp(db_path, &pristine, &pristine_len);
    return 0;
}

/* Only data statements: no schema change, ATTACH, PRAGMA, VACUUM... */
static int authorize(void *ctx, int action, const char *a, const char *b,
                     const char *db, const char *trigger)
{
    (void)ctx;
    (void)a;
    (void)b;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        return SQLITE_OK;
    default:
        return SQLITE_DENY;
    }
}

/* Stops a statement that runs too long (a recursive CTE, say). */
static int progress(void *ctx)
{
    (void)ctx;
    return ++progress_calls > PROGRESS_MAX;
}

/* Runs the input's SQL, statement by statement, errors ignored. */
static void inject(const uint8_t *data, size_t size)
{
    sqlite3 *db = NULL;
    char *sql = malloc(size + 1);
    const char *p, *tail;

    FUZZ_REQUIRE(sql != NULL);
    memcpy(sql, data, size);
    sql[size] = '\0';
    FUZZ_REQUIRE(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) ==
                 SQLITE_OK);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, VALUE_MAX);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, VALUE_MAX);
    sqlite3_set_authorizer(db, authorize, NULL);
    sqlite3_progress_handler(db, PROGRESS_STEPS, progress, NULL);
    for (p = sql; *p; p = tail) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, p, -1, &st, &tail);

        if (rc != SQLITE_OK || !tail || tail == p) {
            sqlite3_finalize(st);
            break;
        }
        progress_calls = 0;
        while (st && sqlite3_step(st) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
    }
    /* an open transaction is rolled back: close ends it */
    FUZZ_REQUIRE(sqlite3_close(db) == SQLITE_OK);
    free(sql);
}

static int err_ok(enum lw_err e)
{
    return (unsigned)e < LW_ERR_COUNT_;
}

/* Checks a fix handed out by the store. */
static void check_fix(const struct lw_fix *f)
{
    FUZZ_REQUIRE(fuzz_terminated(f->device, sizeof(f->device)));
}

/* Device ids collected by the first listing. */
struct devices {
    char id[DEVICES_MAX][LW_DEVICE_MAX + 1]; /* copies */
    size_t n;                                /* kept */
    size_t total;                            /* listed */
};

static int on_device(void *ctx, const struct lw_device_info *d)
{
    struct devices *ds = ctx;

    FUZZ_REQUIRE(fuzz_terminated(d->device, sizeof(d->device)));
    if (ds->n < DEVICES_MAX)
        lw_copy(ds->id[ds->n++], sizeof(ds->id[0]), d->device);
    ds->total++;
    return 0;
}

static int on_fix(void *ctx, const struct lw_fix *f)
{
    size_t *n = ctx;

    check_fix(f);
    (*n)++;
    return 0;
}

static int on_counter(void *ctx, const char *name, int64_t value)
{
    size_t *n = ctx;

    (void)value;
    FUZZ_REQUIRE(name != NULL);
    (*n)++;
    return 0;
}

static int on_audit(void *ctx, const struct lw_audit_entry *a)
{
    size_t *n = ctx;

    FUZZ_REQUIRE(a->who != NULL && a->action != NULL);
    (*n)++;
    return 0;
}

static int on_vehicle(void *ctx, const struct lw_vehicle *v)
{
    size_t *n = ctx;

    FUZZ_REQUIRE(fuzz_terminated(v->device, sizeof(v->device)));
    FUZZ_REQUIRE(fuzz_terminated(v->vin, sizeof(v->vin)));
    FUZZ_REQUIRE(fuzz_terminated(v->plate, sizeof(v->plate)));
    FUZZ_REQUIRE(fuzz_terminated(v->description, sizeof(v->description)));
    FUZZ_REQUIRE(fuzz_terminated(v->account, sizeof(v->account)));
    (*n)++;
    return 0;
}

static int on_account(void *ctx, const struct lw_account *a)
{
    size_t *n = ctx;

    FUZZ_REQUIRE(fuzz_terminated(a->account, sizeof(a->account)));
    FUZZ_REQUIRE(fuzz_terminated(a->status, sizeof(a->status)));
    FUZZ_REQUIRE(fuzz_terminated(a->source, sizeof(a->source)));
    (*n)++;
    return 0;
}

/* Loads each fence's GeoJSON as lienwatchd does. */
static int on_fence(void *ctx, const struct lw_geofence *g)
{
    struct lw_fenceset *set = ctx;
    char err[FUZZ_ERRLEN];
    enum lw_err e;

    FUZZ_REQUIRE(fuzz_terminated(g->name, sizeof(g->name)));
    FUZZ_REQUIRE(fuzz_terminated(g->link_device, sizeof(g->link_device)));
    FUZZ_REQUIRE(fuzz_terminated(g->link_account, sizeof(g->link_account)));
    FUZZ_REQUIRE(g->geojson != NULL);
    e = lw_fenceset_add_geojson(set, g->geojson, strlen(g->geojson), g->kind,
                                NULL, err, sizeof(err));
    FUZZ_REQUIRE(err_ok(e));
    return 0;
}

static int on_alert(void *ctx, const struct lw_alert_row *r)
{
    size_t *n = ctx;

    FUZZ_REQUIRE(r != NULL);
    (*n)++;
    return 0;
}

/* Reads everything; returns a digest of what was read (counts). */
static size_t read_all(struct lw_store *s)
{
    struct devices ds;
    struct lw_fenceset *set = lw_fenceset_new();
    size_t n = 0, fixes, digest = 0;
    int64_t reg = 0, alerts = 0;
    enum lw_err e;

    FUZZ_REQUIRE(set != NULL);
    memset(&ds, 0, sizeof(ds));
    e = lw_store_devices(s, on_device, &ds);
    FUZZ_REQUIRE(err_ok(e));
    digest = digest * 31 + ds.total;
    for (size_t i = 0; i < ds.n; i++) {
        struct lw_device_info d;
        struct lw_fix f;

        e = lw_store_device_get(s, ds.id[i], &d);
        FUZZ_REQUIRE(err_ok(e));
        if (e == LW_OK)
            FUZZ_REQUIRE(fuzz_terminated(d.device, sizeof(d.device)));
        e = lw_store_last_fix(s, ds.id[i], &f);
        FUZZ_REQUIRE(err_ok(e));
        if (e == LW_OK)
            check_fix(&f);
        fixes = 0;
        e = lw_store_history(s, ds.id[i], INT64_MIN, INT64_MAX, on_fix, &fixes);
        FUZZ_REQUIRE(err_ok(e));
        digest = digest * 31 + fixes;
    }
    e = lw_store_counters(s, on_counter, &n);
    FUZZ_REQUIRE(err_ok(e));
    e = lw_audit_list(s, NULL, on_audit, &n);
    FUZZ_REQUIRE(err_ok(e));
    {
        /* the chain of whatever records the input left: a verdict, and
         * the same one twice */
        struct lw_audit_verdict v1, v2;

        e = lw_audit_verify(s, NULL, &v1);
        FUZZ_REQUIRE(err_ok(e));
        if (e == LW_OK) {
            FUZZ_REQUIRE(v1.problem >= LW_AUDIT_INTACT &&
                         v1.problem <= LW_AUDIT_HEAD_DIFFERS);
            FUZZ_REQUIRE(fuzz_terminated(v1.detail, sizeof(v1.detail)));
            FUZZ_REQUIRE(fuzz_terminated(v1.head.hash, sizeof(v1.head.hash)));
            FUZZ_REQUIRE(lw_audit_verify(s, &v1.head, &v2) == LW_OK);
            FUZZ_REQUIRE(v2.problem == v1.problem && v2.rows == v1.rows &&
                         v2.bad_id == v1.bad_id);
            FUZZ_REQUIRE(v1.problem != LW_AUDIT_INTACT || v2.head_found);
        }
    }
    e = lw_registry_vehicles(s, on_vehicle, &n);
    FUZZ_REQUIRE(err_ok(e));
    e = lw_registry_accounts(s, on_account, &n);
    FUZZ_REQUIRE(err_ok(e));
    e = lw_registry_fences(s, on_fence, set);
    FUZZ_REQUIRE(err_ok(e));
    e = lw_registry_alerts(s, NULL, on_alert, &n);
    FUZZ_REQUIRE(err_ok(e));
    e = lw_registry_version(s, &reg, &alerts);
    FUZZ_REQUIRE(err_ok(e));
    FUZZ_REQUIRE(lw_store_schema_version(s) >= -1);
    FUZZ_REQUIRE(lw_store_errmsg(s) != NULL);
    digest = digest * 31 + n;
    digest = digest * 31 + lw_fenceset_count(set);
    lw_fenceset_free(set);
    return digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_store *s = NULL;
    char err[FUZZ_ERRLEN], cursor[LW_DEVICE_MAX + 1] = "";
    struct lw_fix f;
    enum lw_put_result res;
    int64_t deleted = 0;
    bool finished = false;
    size_t first, second;
    enum lw_err e;

    restore();
    inject(data, size);
    e = lw_store_open(&s, db_path, 0, err, sizeof(err));
    FUZZ_REQUIRE(err_ok(e));
    FUZZ_REQUIRE(fuzz_terminated(err, sizeof(err)));
    if (e != LW_OK)
        return 0;
    first = read_all(s);
    second = read_all(s);
    FUZZ_REQUIRE(first == second);
    /* the write paths that read rows back: a prune step (it merges the
     * inbox into history) and a new fix */
    e = lw_store_prune_step(s, FUZZ_NOW_MS, cursor, 1000, &deleted, &finished);
    FUZZ_REQUIRE(err_ok(e));
    FUZZ_REQUIRE(fuzz_terminated(cursor, sizeof(cursor)));
    lw_fix_init(&f);
    lw_copy(f.device, sizeof(f.device), "fuzz/car");
    f.fix_time_ms = FUZZ_NOW_MS;
    f.recv_time_ms = FUZZ_NOW_MS;
    f.lat_deg = 1.5;
    f.lon_deg = 2.5;
    if (lw_store_begin(s) == LW_OK) {
        e = lw_store_put_fix(s, &f, &res);
        FUZZ_REQUIRE(err_ok(e));
        e = e == LW_OK ? lw_store_commit(s) : lw_store_rollback(s);
        FUZZ_REQUIRE(err_ok(e));
    }
    read_all(s);
    lw_store_close(s);
    return 0;
}
