/*
 * test_store.c - cmocka tests of lib/store.c on ":memory:" and on temp files.
 *
 * Covers the invariants of store.h (idempotency, fix-time order, last-known
 * never backwards, heard vs fix), NULL/NAN round trips, hostile ids, the
 * read-only handle beside an open write transaction, migrations, prune,
 * the audit trail, the private file mode and the failure paths of open;
 * the fix inbox of migration 4 and its merge into fix_history (shuffled
 * batches across the merge threshold, duplicates and late fixes on both
 * sides of it, rolled-back transactions), and the upgrade of a database left
 * at schema version 3.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lienwatch/audit.h"
#include "lienwatch/store.h"
/* the store's connection, to provoke failures (full, read-only, locked) */
#include "../../lib/store_priv.h"

/* 2026-11-23T00:00:00Z, a plausible base time for fixes. */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)

#define TMPDB_TAG "store"
#include "tmpdb.h"

static struct lw_fix mkfix(const char *dev, int64_t t_ms, double lat,
                           double lon)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", dev);
    f.fix_time_ms = t_ms;
    f.recv_time_ms = t_ms + 2 * SEC;
    f.lat_deg = lat;
    f.lon_deg = lon;
    return f;
}

static enum lw_put_result put(struct lw_store *s, const struct lw_fix *f)
{
    enum lw_put_result r = 0;

    assert_int_equal(lw_store_put_fix(s, f, &r), LW_OK);
    return r;
}

/* History collector. */
struct hist {
    int n;              /* fixes seen */
    int64_t times[64];  /* their fix times */
    struct lw_fix last; /* the last one */
    int stop_after;     /* stop early after this many (0 = never) */
};

static int hist_cb(void *ctx, const struct lw_fix *f)
{
    struct hist *h = ctx;

    if (h->n < (int)(sizeof(h->times) / sizeof(h->times[0])))
        h->times[h->n] = f->fix_time_ms;
    h->n++;
    h->last = *f;
    return h->stop_after && h->n >= h->stop_after;
}

static struct hist history(struct lw_store *s, const char *dev, int64_t from,
                           int64_t to)
{
    struct hist h = {0};

    assert_int_equal(lw_store_history(s, dev, from, to, hist_cb, &h), LW_OK);
    return h;
}

static void test_open_memory(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);

    (void)state;
    assert_int_equal(lw_store_schema_version(s), LW_STORE_SCHEMA_VERSION);
    assert_false(lw_store_in_txn(s));
    lw_store_close(s);
}

static void test_bad_arguments(void **state)
{
    struct lw_store *s = NULL;
    struct lw_fix f = mkfix("a", T0, 1, 1);
    struct lw_device_info d;
    char err[128] = "";

    (void)state;
    lw_store_close(NULL);
    assert_non_null(lw_store_errmsg(NULL));
    assert_int_equal(lw_store_open(NULL, ":memory:", 0, err, sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_store_open(&s, NULL, 0, NULL, 0), LW_ERR_INVAL);
    assert_null(s);
    assert_int_equal(lw_store_open(&s, ":memory:", 0x100, NULL, 0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_store_put_fix(NULL, &f, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_store_begin(NULL), LW_ERR_INVAL);
    assert_int_equal(lw_store_commit(NULL), LW_ERR_INVAL);
    assert_false(lw_store_in_txn(NULL));
    assert_int_equal(lw_store_heard(NULL, "a", T0), LW_ERR_INVAL);
    assert_int_equal(lw_store_counter_add(NULL, "x", 1), LW_ERR_INVAL);
    assert_int_equal(lw_store_schema_version(NULL), -1);

    s = open_ok(":memory:", 0);
    assert_int_equal(lw_store_put_fix(s, NULL, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_store_heard(s, "", T0), LW_ERR_INVAL);
    assert_int_equal(lw_store_heard(s, NULL, T0), LW_ERR_INVAL);
    assert_int_equal(lw_store_counter_add(s, "", 1), LW_ERR_INVAL);
    assert_int_equal(lw_store_device_get(s, NULL, &d), LW_ERR_INVAL);
    assert_int_equal(lw_store_history(s, "a", 0, 1, NULL, NULL), LW_ERR_INVAL);
    lw_store_close(s);
}

static void test_invalid_fix(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f;
    char longid[LW_DEVICE_MAX + 2];

    (void)state;
    f = mkfix("a", T0, 91.0, 0.5);
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "out of range"));
    f = mkfix("a", T0, NAN, 0.5);
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    f = mkfix("a", T0, 10.0, INFINITY);
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    f = mkfix("", T0, 10.0, 10.0);
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    f = mkfix("a", T0, 10.0, 10.0);
    f.battery_pct = 101;
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    /* an unterminated device field is refused, not overread */
    memset(longid, 'x', sizeof(longid));
    memcpy(f.device, longid, sizeof(f.device));
    f.battery_pct = -1;
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_INVAL);
    longid[LW_DEVICE_MAX + 1] = '\0';
    assert_int_equal(lw_store_heard(s, longid, T0), LW_ERR_INVAL);
    lw_store_close(s);
}

static void test_idempotent(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f = mkfix("alice/phone", T0, 48.85837, 2.294481);
    struct lw_fix again;
    struct lw_device_info d;
    struct hist h;

    (void)state;
    assert_int_equal(put(s, &f), LW_PUT_NEWEST);
    again = f;
    again.recv_time_ms += 60 * SEC; /* a QoS 1 redelivery, later */
    again.lat_deg = 10.0;           /* even with other content */
    assert_int_equal(put(s, &again), LW_PUT_DUPLICATE);
    assert_int_equal(put(s, &f), LW_PUT_DUPLICATE);

    h = history(s, "alice/phone", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 1);
    assert_true(h.last.lat_deg == 48.85837);
    assert_int_equal(lw_store_device_get(s, "alice/phone", &d), LW_OK);
    assert_int_equal(d.fixes, 1);
    /* a duplicate changes nothing, last heard included */
    assert_int_equal(d.last_heard_ms, f.recv_time_ms);
    assert_int_equal(d.first_heard_ms, f.recv_time_ms);
    assert_int_equal(d.last_fix_ms, T0);
    lw_store_close(s);
}

static void test_history_order_and_bounds(void **state)
{
    /* a fixed shuffle of 0..15 */
    static const int order[] = {7, 3,  12, 0,  15, 9, 1,  14,
                                5, 10, 2,  13, 8,  4, 11, 6};
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f;
    struct hist h;
    size_t i;
    int n_newest = 0;

    (void)state;
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_true(lw_store_in_txn(s));
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        f = mkfix("veh-1", T0 + order[i] * SEC, 50.0 + order[i] * 0.001, 8.0);
        n_newest += put(s, &f) == LW_PUT_NEWEST;
    }
    /* a neighbour's fixes must not leak into veh-1's history */
    f = mkfix("veh-0", T0 + 5 * SEC, 1.0, 1.0);
    put(s, &f);
    f = mkfix("veh-10", T0 + 5 * SEC, 1.0, 1.0);
    put(s, &f);
    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_false(lw_store_in_txn(s));
    /* 7, 12, 15 each raised the last-known fix */
    assert_int_equal(n_newest, 3);

    h = history(s, "veh-1", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 16);
    for (i = 0; i < 16; i++)
        assert_int_equal(h.times[i], T0 + (int64_t)i * SEC);

    /* inclusive bounds */
    h = history(s, "veh-1", T0 + 3 * SEC, T0 + 6 * SEC);
    assert_int_equal(h.n, 4);
    assert_int_equal(h.times[0], T0 + 3 * SEC);
    assert_int_equal(h.times[3], T0 + 6 * SEC);
    h = history(s, "veh-1", T0 + 100 * SEC, INT64_MAX);
    assert_int_equal(h.n, 0);
    h = history(s, "nobody", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 0);

    /* the callback may stop early */
    h = (struct hist){.stop_after = 2};
    assert_int_equal(
        lw_store_history(s, "veh-1", INT64_MIN, INT64_MAX, hist_cb, &h), LW_OK);
    assert_int_equal(h.n, 2);
    lw_store_close(s);
}

static void test_late_fix_never_moves_last(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix newer = mkfix("d", T0 + 600 * SEC, 40.0, -3.0);
    struct lw_fix late = mkfix("d", T0, 41.0, -4.0);
    struct lw_fix last;
    struct lw_device_info d;

    (void)state;
    assert_int_equal(put(s, &newer), LW_PUT_NEWEST);
    late.recv_time_ms = newer.recv_time_ms + 30 * SEC; /* uploaded later */
    assert_int_equal(put(s, &late), LW_PUT_LATE);

    assert_int_equal(lw_store_last_fix(s, "d", &last), LW_OK);
    assert_int_equal(last.fix_time_ms, newer.fix_time_ms);
    assert_true(last.lat_deg == 40.0);
    assert_int_equal(history(s, "d", INT64_MIN, INT64_MAX).n, 2);
    assert_int_equal(lw_store_device_get(s, "d", &d), LW_OK);
    assert_int_equal(d.last_fix_ms, newer.fix_time_ms);
    /* the late upload was still heard */
    assert_int_equal(d.last_heard_ms, late.recv_time_ms);
    assert_int_equal(d.fixes, 2);
    lw_store_close(s);
}

static void test_heard_vs_fix(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f = mkfix("t/1", T0, 10.0, 20.0);
    struct lw_fix last;
    struct lw_device_info d;

    (void)state;
    /* heard before any fix: registered, no last fix */
    assert_int_equal(lw_store_heard(s, "t/1", T0 - 60 * SEC), LW_OK);
    assert_int_equal(lw_store_device_get(s, "t/1", &d), LW_OK);
    assert_int_equal(d.first_heard_ms, T0 - 60 * SEC);
    assert_int_equal(d.last_fix_ms, 0);
    assert_int_equal(d.fixes, 0);
    assert_int_equal(lw_store_last_fix(s, "t/1", &last), LW_ERR_NOTFOUND);

    assert_int_equal(put(s, &f), LW_PUT_NEWEST);
    /* alive without position, an hour later */
    assert_int_equal(lw_store_heard(s, "t/1", T0 + 3600 * SEC), LW_OK);
    /* an older heard never moves last heard back */
    assert_int_equal(lw_store_heard(s, "t/1", T0), LW_OK);
    assert_int_equal(lw_store_device_get(s, "t/1", &d), LW_OK);
    assert_int_equal(d.last_heard_ms, T0 + 3600 * SEC);
    assert_int_equal(d.first_heard_ms, T0 - 60 * SEC);
    assert_int_equal(d.last_fix_ms, T0);
    assert_int_equal(lw_store_last_fix(s, "t/1", &last), LW_OK);
    assert_int_equal(last.fix_time_ms, T0);

    assert_int_equal(lw_store_device_get(s, "never", &d), LW_ERR_NOTFOUND);
    lw_store_close(s);
}

static void test_optional_round_trip(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix bare = mkfix("opt", T0, -33.8688, 151.2093);
    struct lw_fix full = mkfix("opt", T0 + SEC, -33.8689, 151.2094);
    struct lw_fix got;

    (void)state;
    full.speed_mps = 13.5;
    full.course_deg = 359.5;
    full.accuracy_m = 4.25;
    full.alt_m = -12.0;
    full.battery_pct = 0;
    full.trigger = 'u';
    put(s, &bare);
    assert_int_equal(lw_store_last_fix(s, "opt", &got), LW_OK);
    assert_true(isnan(got.speed_mps));
    assert_true(isnan(got.course_deg));
    assert_true(isnan(got.accuracy_m));
    assert_true(isnan(got.alt_m));
    assert_int_equal(got.battery_pct, -1);
    assert_int_equal(got.trigger, 0);
    assert_int_equal(got.recv_time_ms, bare.recv_time_ms);

    put(s, &full);
    assert_int_equal(lw_store_last_fix(s, "opt", &got), LW_OK);
    assert_true(got.speed_mps == 13.5);
    assert_true(got.course_deg == 359.5);
    assert_true(got.accuracy_m == 4.25);
    assert_true(got.alt_m == -12.0);
    assert_int_equal(got.battery_pct, 0);
    assert_int_equal(got.trigger, 'u');
    assert_true(got.lat_deg == -33.8689 && got.lon_deg == 151.2094);
    assert_string_equal(got.device, "opt");

    /* and from history, in order: the bare one first */
    assert_int_equal(history(s, "opt", INT64_MIN, T0).n, 1);
    assert_true(isnan(history(s, "opt", INT64_MIN, T0).last.speed_mps));
    lw_store_close(s);
}

static void test_hostile_device_id(void **state)
{
    static const char evil[] = "x'); DROP TABLE fixes;--";
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f = mkfix(evil, T0, 1.5, 2.5);
    struct lw_fix got;
    struct lw_device_info d;

    (void)state;
    assert_int_equal(put(s, &f), LW_PUT_NEWEST);
    assert_int_equal(lw_store_last_fix(s, evil, &got), LW_OK);
    assert_string_equal(got.device, evil);
    assert_int_equal(lw_store_device_get(s, evil, &d), LW_OK);
    assert_string_equal(d.device, evil);
    assert_int_equal(history(s, evil, INT64_MIN, INT64_MAX).n, 1);
    assert_int_equal(lw_audit_add(s, T0, evil, evil, evil, evil), LW_OK);
    /* the fixes table is still there */
    f = mkfix("other", T0, 1.0, 1.0);
    assert_int_equal(put(s, &f), LW_PUT_NEWEST);
    lw_store_close(s);
}

/* Counter collector. */
struct ctrs {
    int n;             /* counters seen */
    char names[8][32]; /* in order */
    int64_t values[8]; /* their values */
};

static int ctr_cb(void *ctx, const char *name, int64_t value)
{
    struct ctrs *c = ctx;

    if (c->n < 8) {
        snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
        c->values[c->n] = value;
    }
    c->n++;
    return 0;
}

static void test_counters(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct ctrs c = {0};

    (void)state;
    assert_int_equal(lw_store_counter_add(s, "stored", 5), LW_OK);
    assert_int_equal(lw_store_counter_add(s, "received", 7), LW_OK);
    assert_int_equal(lw_store_counter_add(s, "rejected.not_json", 1), LW_OK);
    assert_int_equal(lw_store_counter_add(s, "stored", 3), LW_OK);
    assert_int_equal(lw_store_counter_add(s, "received", 0), LW_OK);
    assert_int_equal(lw_store_counters(s, ctr_cb, &c), LW_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.names[0], "received");
    assert_int_equal(c.values[0], 7);
    assert_string_equal(c.names[1], "rejected.not_json");
    assert_int_equal(c.values[1], 1);
    assert_string_equal(c.names[2], "stored");
    assert_int_equal(c.values[2], 8);
    lw_store_close(s);
}

/* Device collector. */
struct devs {
    int n;                      /* devices seen */
    struct lw_device_info d[8]; /* in order */
};

static int dev_cb(void *ctx, const struct lw_device_info *d)
{
    struct devs *v = ctx;

    if (v->n < 8)
        v->d[v->n] = *d;
    v->n++;
    return 0;
}

static void test_devices(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f;
    struct devs v = {0};
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        f = mkfix("b", T0 + i * SEC, 1, 1);
        put(s, &f);
    }
    f = mkfix("a", T0, 1, 1);
    put(s, &f);
    assert_int_equal(lw_store_heard(s, "c", T0), LW_OK);
    assert_int_equal(lw_store_devices(s, dev_cb, &v), LW_OK);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.d[0].device, "a");
    assert_int_equal(v.d[0].fixes, 1);
    assert_string_equal(v.d[1].device, "b");
    assert_int_equal(v.d[1].fixes, 3);
    assert_int_equal(v.d[1].last_fix_ms, T0 + 2 * SEC);
    assert_int_equal(v.d[1].first_heard_ms, T0 + 2 * SEC);
    assert_int_equal(v.d[1].last_heard_ms, T0 + 4 * SEC);
    assert_string_equal(v.d[2].device, "c");
    assert_int_equal(v.d[2].fixes, 0);
    assert_int_equal(v.d[2].last_fix_ms, 0);
    lw_store_close(s);
}

static void test_rollback_and_close_in_txn(void **state)
{
    struct tmp t;
    struct lw_store *s;
    struct lw_fix f = mkfix("r", T0, 1, 1);
    struct lw_device_info d;

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(lw_store_begin(s), LW_OK);
    put(s, &f);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(lw_store_device_get(s, "r", &d), LW_ERR_NOTFOUND);
    /* closing with a transaction open rolls it back */
    assert_int_equal(lw_store_begin(s), LW_OK);
    put(s, &f);
    lw_store_close(s);
    s = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_store_device_get(s, "r", &d), LW_ERR_NOTFOUND);
    lw_store_close(s);
    tmp_remove(&t);
}

static void test_reader_beside_writer(void **state)
{
    struct tmp t;
    struct lw_store *w, *r;
    struct lw_fix f = mkfix("v", T0, 1, 1);
    struct lw_fix got;
    struct ctrs c = {0};

    (void)state;
    tmp_make(&t);
    w = open_ok(t.path, 0);
    put(w, &f);
    assert_int_equal(lw_store_counter_add(w, "stored", 1), LW_OK);
    /* the writer holds a write transaction with uncommitted data */
    assert_int_equal(lw_store_begin(w), LW_OK);
    f = mkfix("v", T0 + SEC, 2, 2);
    put(w, &f);

    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_store_schema_version(r), LW_STORE_SCHEMA_VERSION);
    assert_int_equal(lw_store_last_fix(r, "v", &got), LW_OK);
    assert_int_equal(got.fix_time_ms, T0); /* committed data only */
    assert_int_equal(history(r, "v", INT64_MIN, INT64_MAX).n, 1);
    assert_int_equal(lw_store_counters(r, ctr_cb, &c), LW_OK);
    assert_int_equal(c.n, 1);

    /* a reader cannot write */
    assert_int_equal(lw_store_put_fix(r, &f, NULL), LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(r), "read-only"));
    assert_int_equal(lw_store_heard(r, "v", T0), LW_ERR_INVAL);
    assert_int_equal(lw_store_counter_add(r, "x", 1), LW_ERR_INVAL);
    assert_int_equal(lw_audit_add(r, T0, "me", "locate", "v", NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_store_prune(r, T0, NULL), LW_ERR_INVAL);

    assert_int_equal(lw_store_commit(w), LW_OK);
    assert_int_equal(lw_store_last_fix(r, "v", &got), LW_OK);
    assert_int_equal(got.fix_time_ms, T0 + SEC); /* a new snapshot per call */
    lw_store_close(r);
    lw_store_close(w);
    tmp_remove(&t);
}

static int count_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_migration_idempotent(void **state)
{
    struct tmp t;
    struct lw_store *s;
    struct lw_fix f = mkfix("m", T0, 1, 1);
    int i;

    (void)state;
    tmp_make(&t);
    for (i = 0; i < 3; i++) {
        s = open_ok(t.path, 0);
        assert_int_equal(lw_store_schema_version(s), LW_STORE_SCHEMA_VERSION);
        assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_OK);
        lw_store_close(s);
    }
    assert_int_equal(count_rows(t.path, "SELECT count(*) FROM schema_version"),
                     LW_STORE_SCHEMA_VERSION);
    assert_int_equal(count_rows(t.path, "SELECT count(*) FROM fixes"), 1);
    lw_store_close(NULL);
    tmp_remove(&t);
}

static void test_newer_schema_refused(void **state)
{
    struct tmp t;
    struct lw_store *s = NULL;
    char err[512] = "";
    char sql[128];
    int flags[] = {0, LW_STORE_RDONLY, LW_STORE_NOMIGRATE};
    size_t i;

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    lw_store_close(s);
    snprintf(sql, sizeof(sql),
             "INSERT INTO schema_version (version) VALUES (%d)",
             LW_STORE_SCHEMA_VERSION + 1);
    exec_sql(t.path, sql);
    for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        s = NULL;
        err[0] = '\0';
        assert_int_equal(lw_store_open(&s, t.path, flags[i], err, sizeof(err)),
                         LW_ERR_SCHEMA);
        assert_null(s);
        assert_non_null(strstr(err, t.path));
        assert_non_null(strstr(err, "schema version"));
    }
    tmp_remove(&t);
}

static void test_unversioned_refused_readonly(void **state)
{
    struct tmp t;
    struct lw_store *s = NULL;
    char err[512] = "";

    (void)state;
    tmp_make(&t);
    exec_sql(t.path, "CREATE TABLE something_else (x)");
    assert_int_equal(
        lw_store_open(&s, t.path, LW_STORE_RDONLY, err, sizeof(err)),
        LW_ERR_SCHEMA);
    assert_non_null(strstr(err, "init-db"));
    /* a writer migrates it */
    s = open_ok(t.path, 0);
    assert_int_equal(lw_store_schema_version(s), LW_STORE_SCHEMA_VERSION);
    lw_store_close(s);
    tmp_remove(&t);
}

static void test_prune_keeps_last_fix(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f, got;
    struct lw_device_info d;
    struct hist h;
    int64_t deleted = -1;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        f = mkfix("p", T0 + i * SEC, 1, 1 + i);
        put(s, &f);
    }
    /* a late fix older than everything */
    f = mkfix("p", T0 - 100 * SEC, 1, 1);
    assert_int_equal(put(s, &f), LW_PUT_LATE);
    f = mkfix("q", T0 + 10 * SEC, 1, 1); /* newer than the cut: kept */
    put(s, &f);

    assert_int_equal(lw_store_prune(s, T0 + 3 * SEC, &deleted), LW_OK);
    assert_int_equal(deleted, 4); /* the late one and 0..2 s */
    h = history(s, "p", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 2);
    assert_int_equal(lw_store_device_get(s, "p", &d), LW_OK);
    assert_int_equal(d.fixes, 2);

    /* everything: the last-known fix of each device stays, in both tables */
    assert_int_equal(lw_store_prune(s, INT64_MAX, &deleted), LW_OK);
    assert_int_equal(deleted, 1);
    h = history(s, "p", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.times[0], T0 + 4 * SEC);
    assert_int_equal(lw_store_last_fix(s, "p", &got), LW_OK);
    assert_int_equal(got.fix_time_ms, T0 + 4 * SEC);
    assert_int_equal(lw_store_device_get(s, "p", &d), LW_OK);
    assert_int_equal(d.fixes, 1);
    assert_int_equal(lw_store_device_get(s, "q", &d), LW_OK);
    assert_int_equal(d.fixes, 1);

    /* inside a caller's transaction too */
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_store_prune(s, INT64_MAX, &deleted), LW_OK);
    assert_int_equal(deleted, 0);
    assert_true(lw_store_in_txn(s));
    assert_int_equal(lw_store_commit(s), LW_OK);
    lw_store_close(s);
}

/*
 * Fills s with the prune-step fixture: PS_DEVICES devices with PS_FIXES fixes
 * 1 s apart (device 0 also a late, older one; the last PS_INBOX puts of
 * every device unmerged in the inbox), one device whose every fix is older
 * than the cut, one heard but without a fix.
 */
enum { PS_DEVICES = 23, PS_FIXES = 40, PS_CUT = 25 };

static void prune_fixture(struct lw_store *s)
{
    char dev[16];
    struct lw_fix f;

    assert_int_equal(lw_store_begin(s), LW_OK);
    for (int i = 0; i < PS_FIXES; i++) {
        for (int d = 0; d < PS_DEVICES; d++) {
            snprintf(dev, sizeof(dev), "ps/%02d", d);
            f = mkfix(dev, T0 + i * SEC, 1 + d, 1 + i);
            assert_int_equal(put(s, &f), LW_PUT_NEWEST);
        }
    }
    f = mkfix("ps/00", T0 - 500 * SEC, 1, 1);
    assert_int_equal(put(s, &f), LW_PUT_LATE);
    for (int i = 0; i < 5; i++) {
        f = mkfix("ps/old", T0 - 1000 * SEC + i * SEC, 2, 2);
        put(s, &f);
    }
    assert_int_equal(lw_store_heard(s, "ps/silent", T0), LW_OK);
    assert_int_equal(lw_store_commit(s), LW_OK);
}

/* Device list collector: id, count and last fix time of each. */
struct devs_snap {
    int n;
    char id[32][LW_DEVICE_MAX + 1];
    int64_t fixes[32], last[32];
};

static int devs_snap_cb(void *ctx, const struct lw_device_info *d)
{
    struct devs_snap *v = ctx;

    if (v->n < 32) {
        snprintf(v->id[v->n], sizeof(v->id[0]), "%s", d->device);
        v->fixes[v->n] = d->fixes;
        v->last[v->n] = d->last_fix_ms;
    }
    v->n++;
    return 0;
}

static void test_prune_steps(void **state)
{
    struct lw_store *a = open_ok(":memory:", 0), *b = open_ok(":memory:", 0);
    char cursor[LW_DEVICE_MAX + 1] = "";
    struct devs_snap va = {0}, vb = {0};
    int64_t all = -1, n, sum = 0, cut = T0 + PS_CUT * SEC;
    bool finished = false;
    int steps = 0;

    (void)state;
    prune_fixture(a);
    prune_fixture(b);
    /* a: one pass in one go; b: steps of at most 7 fixes */
    assert_int_equal(lw_store_prune(a, cut, &all), LW_OK);
    /* every device's fixes before the cut, the late one, all but the
     * last-known of the old device */
    assert_int_equal(all, PS_DEVICES * PS_CUT + 1 + 4);
    while (!finished) {
        assert_int_equal(
            lw_store_prune_step(b, cut, cursor, 7, &n, &finished), LW_OK);
        assert_true(n >= 0 && n <= 7);
        assert_false(lw_store_in_txn(b)); /* each a transaction of its own */
        sum += n;
        assert_true(++steps < 1000);
    }
    assert_int_equal(sum, all);
    assert_true(steps >= all / 7);
    /* the same result: devices, counts, last fixes, histories */
    assert_int_equal(lw_store_devices(a, devs_snap_cb, &va), LW_OK);
    assert_int_equal(lw_store_devices(b, devs_snap_cb, &vb), LW_OK);
    assert_int_equal(va.n, PS_DEVICES + 2);
    assert_int_equal(vb.n, va.n);
    for (int i = 0; i < va.n; i++) {
        struct hist ha, hb;

        assert_string_equal(va.id[i], vb.id[i]);
        assert_int_equal(va.fixes[i], vb.fixes[i]);
        assert_int_equal(va.last[i], vb.last[i]);
        ha = history(a, va.id[i], INT64_MIN, INT64_MAX);
        hb = history(b, vb.id[i], INT64_MIN, INT64_MAX);
        assert_int_equal(ha.n, va.fixes[i]);
        assert_int_equal(hb.n, ha.n);
        for (int j = 0; j < ha.n && j < 64; j++)
            assert_int_equal(hb.times[j], ha.times[j]);
        if (strcmp(va.id[i], "ps/old") == 0) {
            assert_int_equal(hb.n, 1); /* the last-known fix stays */
            assert_int_equal(hb.times[0], T0 - 1000 * SEC + 4 * SEC);
        } else if (strcmp(va.id[i], "ps/silent") == 0) {
            assert_int_equal(hb.n, 0);
        } else {
            assert_int_equal(hb.n, PS_FIXES - PS_CUT);
            assert_int_equal(hb.times[0], cut);
        }
    }
    /* a second pass finds nothing; a bad cursor or size is refused */
    cursor[0] = '\0';
    assert_int_equal(lw_store_prune_step(b, cut, cursor, 1000, &n, &finished),
                     LW_OK);
    assert_int_equal(n, 0);
    assert_true(finished);
    assert_int_equal(lw_store_prune_step(b, cut, NULL, 10, &n, &finished),
                     LW_ERR_INVAL);
    assert_int_equal(lw_store_prune_step(b, cut, cursor, 0, &n, &finished),
                     LW_ERR_INVAL);
    lw_store_close(a);
    lw_store_close(b);
}

/* Audit collector. */
static void test_file_mode_private(void **state)
{
    struct tmp t;
    struct lw_store *s;
    struct lw_fix f = mkfix("m", T0, 1, 1);
    struct stat sb;
    char wal[400];
    mode_t old = umask(022);

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(stat(t.path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    put(s, &f);
    snprintf(wal, sizeof(wal), "%s-wal", t.path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    lw_store_close(s);
    umask(old);
    tmp_remove(&t);
}

static void test_open_failures(void **state)
{
    struct tmp t;
    struct lw_store *s = NULL;
    char err[512] = "";
    char path[400];
    FILE *fp;

    (void)state;
    tmp_make(&t);
    /* read-only or no-migrate open of a missing file */
    assert_int_equal(
        lw_store_open(&s, t.path, LW_STORE_RDONLY, err, sizeof(err)),
        LW_ERR_NOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "not found"));
    assert_int_equal(
        lw_store_open(&s, t.path, LW_STORE_NOMIGRATE, err, sizeof(err)),
        LW_ERR_NOTFOUND);
    assert_int_equal(access(t.path, F_OK), -1); /* and nothing created */

    /* a writer in a directory that does not exist */
    snprintf(path, sizeof(path), "%s/no/such/dir/lw.db", t.dir);
    err[0] = '\0';
    assert_int_equal(lw_store_open(&s, path, 0, err, sizeof(err)), LW_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    /* the detail buffer is optional */
    assert_int_equal(lw_store_open(&s, path, 0, NULL, 0), LW_ERR_IO);

    /* a file that is not a database */
    fp = fopen(t.path, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, just text that is long enough "
          "to fill the header of one and then some more bytes of it\n",
          fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(lw_store_open(&s, t.path, 0, err, sizeof(err)),
                     LW_ERR_CORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, t.path));
    err[0] = '\0';
    assert_int_equal(
        lw_store_open(&s, t.path, LW_STORE_RDONLY, err, sizeof(err)),
        LW_ERR_CORRUPT);
    assert_non_null(strstr(err, "not a database"));
    unlink(t.path);

    /* a database this user may not write (meaningless for root) */
    if (geteuid() != 0) {
        s = open_ok(t.path, 0);
        lw_store_close(s);
        assert_int_equal(chmod(t.path, 0400), 0);
        err[0] = '\0';
        assert_int_equal(
            lw_store_open(&s, t.path, LW_STORE_NOMIGRATE, err, sizeof(err)),
            LW_ERR_READONLY);
        assert_non_null(strstr(err, "not writable"));
        s = open_ok(t.path, LW_STORE_RDONLY);
        lw_store_close(s);
        /* no writer, and a directory where the reader cannot create the
         * WAL index: still readable */
        assert_int_equal(chmod(t.dir, 0500), 0);
        s = open_ok(t.path, LW_STORE_RDONLY);
        assert_int_equal(lw_store_schema_version(s), LW_STORE_SCHEMA_VERSION);
        lw_store_close(s);
        assert_int_equal(chmod(t.dir, 0700), 0);
        assert_int_equal(chmod(t.path, 0600), 0);
    }
    tmp_remove(&t);
}

/*
 * A callback may call the store again, even the query that is calling it
 * (the daemon reads a device's history while listing devices): the running
 * statement is not reset under its caller, the nested call gets its own.
 */
struct reenter {
    struct lw_store *s; /* the store */
    int outer;          /* fixes the outer listing saw */
    int inner;          /* fixes the nested listings saw in all */
};

static int reenter_cb(void *ctx, const struct lw_fix *f)
{
    struct reenter *r = ctx;
    struct hist h = {0};

    r->outer++;
    assert_int_equal(
        lw_store_history(r->s, f->device, INT64_MIN, INT64_MAX, hist_cb, &h),
        LW_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.times[2], T0 + 2 * SEC);
    r->inner += h.n;
    return 0;
}

static void test_reentry(void **state)
{
    struct reenter r = {open_ok(":memory:", 0), 0, 0};
    struct lw_fix f;

    (void)state;
    for (int i = 0; i < 3; i++) {
        f = mkfix("z", T0 + i * SEC, 1, 1);
        put(r.s, &f);
    }
    assert_int_equal(
        lw_store_history(r.s, "z", INT64_MIN, INT64_MAX, reenter_cb, &r),
        LW_OK);
    assert_int_equal(r.outer, 3); /* the outer listing was not restarted */
    assert_int_equal(r.inner, 9);
    /* and every statement is back in the cache: again, the same */
    r.outer = r.inner = 0;
    assert_int_equal(
        lw_store_history(r.s, "z", INT64_MIN, INT64_MAX, reenter_cb, &r),
        LW_OK);
    assert_int_equal(r.outer, 3);
    lw_store_close(r.s);
}

/* A large batch, as the daemon writes it: every fix accounted for. */
static void test_batch(void **state)
{
    enum { N = 20000, DEVICES = 100 };
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f;
    struct lw_device_info d;
    int i, newest = 0, dup = 0;
    char dev[16];

    (void)state;
    assert_int_equal(lw_store_begin(s), LW_OK);
    for (i = 0; i < N; i++) {
        enum lw_put_result r;

        snprintf(dev, sizeof(dev), "dev%03d", i % DEVICES);
        f = mkfix(dev, T0 + (i / DEVICES) * SEC, 45.0 + i * 1e-6, 7.0);
        f.speed_mps = 10.0;
        r = put(s, &f);
        newest += r == LW_PUT_NEWEST;
        if (i % 10 == 0)
            dup += put(s, &f) == LW_PUT_DUPLICATE;
    }
    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_int_equal(newest, N);
    assert_int_equal(dup, N / 10);
    assert_int_equal(lw_store_device_get(s, "dev042", &d), LW_OK);
    assert_int_equal(d.fixes, N / DEVICES);
    lw_store_close(s);
}

/* Optional doubles are equal when both are unknown (NAN) or both the same. */
static void assert_same_opt(double got, double want)
{
    if (isnan(want))
        assert_true(isnan(got));
    else
        assert_true(got == want);
}

/* Every one of the 11 stored fields of got equals want. */
static void assert_same_fix(const struct lw_fix *got, const struct lw_fix *want)
{
    assert_string_equal(got->device, want->device);
    assert_int_equal(got->fix_time_ms, want->fix_time_ms);
    assert_int_equal(got->recv_time_ms, want->recv_time_ms);
    assert_true(got->lat_deg == want->lat_deg);
    assert_true(got->lon_deg == want->lon_deg);
    assert_same_opt(got->speed_mps, want->speed_mps);
    assert_same_opt(got->course_deg, want->course_deg);
    assert_same_opt(got->accuracy_m, want->accuracy_m);
    assert_same_opt(got->alt_m, want->alt_m);
    assert_int_equal(got->battery_pct, want->battery_pct);
    assert_int_equal(got->trigger, want->trigger);
}

/*
 * test_inbox_merge: MG_DEVICES devices, each with fix slots 0..MG_SLOTS-1
 * (10 s apart) and a "late" fix half way between slot j and j + 1. Every
 * fix's content is a function of (device, slot, late), so any fix read back
 * can be checked field by field; a model (struct mg) says what must be
 * stored and what each put must return.
 */
enum {
    MG_DEVICES = 50,
    MG_SLOTS = 1000,         /* slots per device in all */
    MG_FIRST = 500,          /* slots written before the rollbacks */
    MG_SLOTS_PER_BATCH = 20, /* x MG_DEVICES = MG_BATCH fixes */
    MG_BATCH = MG_SLOTS_PER_BATCH * MG_DEVICES,
    MG_MERGE_ROWS = 20000, /* INBOX_MERGE_ROWS of lib/store.c */
};

struct mg {
    const char *path;                            /* the database file */
    unsigned char have[MG_DEVICES][MG_SLOTS][2]; /* [d][slot][late] stored */
    int count[MG_DEVICES];                       /* fixes stored per device */
    int last[MG_DEVICES]; /* newest stored: slot * 2 + late; -1 none */
    int64_t first_heard[MG_DEVICES]; /* min recv time of stored fixes */
    int64_t last_heard[MG_DEVICES];  /* max recv time of stored fixes */
    int64_t total;                   /* fixes stored */
    int64_t inbox;                   /* of which not yet merged */
    int merges;                      /* commits that merged a full inbox */
    bool dup_in_batch;               /* a duplicate put since the commit */
    int n_newest, n_late, n_dup;     /* put results seen */
    uint32_t rng;                    /* xorshift32 state */
};

static int64_t mg_time(int d, int j, int late)
{
    return T0 + (int64_t)j * 10 * SEC + late * 5 * SEC + d * 7;
}

static void mg_device(char *buf, size_t len, int d)
{
    snprintf(buf, len, "mg/%02d", d);
}

/* The fix of device d in slot j (late: the one 5 s after it). */
static struct lw_fix mg_fix(int d, int j, int late)
{
    static const char trig[] = "pue!9c";
    struct lw_fix f;
    char dev[16];
    int k = j * 2 + late;

    mg_device(dev, sizeof(dev), d);
    f = mkfix(dev, mg_time(d, j, late), 10.0 + d * 0.5 + k * 1e-4,
              -20.0 - d * 0.25 - k * 1e-4);
    /* a late fix is uploaded after everything else */
    f.recv_time_ms = late ? T0 + 20000 * SEC + k * SEC
                          : f.fix_time_ms + 2 * SEC + (k % 7) * SEC;
    if (k % 3)
        f.speed_mps = k * 0.25;
    if (k % 4)
        f.course_deg = k % 360;
    if (k % 5)
        f.accuracy_m = 3.0 + k % 11;
    if (k % 6)
        f.alt_m = 100.0 - k;
    f.battery_pct = k % 8 ? k % 101 : -1;
    f.trigger = k % 9 ? trig[k % 6] : 0;
    return f;
}

static uint32_t mg_rand(struct mg *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 17;
    m->rng ^= m->rng << 5;
    return m->rng;
}

static void mg_shuffle(struct mg *m, int *v, int n)
{
    int i, j, x;

    for (i = n - 1; i > 0; i--) {
        j = (int)(mg_rand(m) % (uint32_t)(i + 1));
        x = v[i];
        v[i] = v[j];
        v[j] = x;
    }
}

/* Puts the fix (d, j, late) and checks the result the model expects. A
 * fix already stored is sent again with other content and a later receive
 * time (a redelivery): it must change nothing. */
static void mg_put(struct lw_store *s, struct mg *m, int d, int j, int late)
{
    struct lw_fix f = mg_fix(d, j, late);
    enum lw_put_result want;
    int k = j * 2 + late;

    if (m->have[d][j][late]) {
        f.lat_deg += 1.0;
        f.speed_mps = 99.0;
        f.recv_time_ms = T0 + 40000 * SEC;
        want = LW_PUT_DUPLICATE;
        m->n_dup++;
        m->dup_in_batch = true;
    } else {
        if (m->last[d] < k) {
            want = LW_PUT_NEWEST;
            m->last[d] = k;
            m->n_newest++;
        } else {
            want = LW_PUT_LATE;
            m->n_late++;
        }
        if (m->count[d] == 0 || f.recv_time_ms < m->first_heard[d])
            m->first_heard[d] = f.recv_time_ms;
        if (m->count[d] == 0 || f.recv_time_ms > m->last_heard[d])
            m->last_heard[d] = f.recv_time_ms;
        m->have[d][j][late] = 1;
        m->count[d]++;
        m->total++;
        m->inbox++;
    }
    assert_int_equal(put(s, &f), want);
}

/* Rows in fix_history and fix_inbox, read beside the writer. */
static void mg_rows(const struct mg *m, int64_t *hist, int64_t *inbox)
{
    *hist = count_rows(m->path, "SELECT count(*) FROM fix_history");
    *inbox = count_rows(m->path, "SELECT count(*) FROM fix_inbox");
}

/*
 * Commits and checks where the fixes are: nothing lost or doubled between
 * the two tables; a merge (history >= MG_MERGE_ROWS, inbox below it) once
 * the inbox holds MG_MERGE_ROWS; below that, none in a batch without
 * duplicates (the inbox grew by exactly what was stored), while a duplicate
 * that may be in the inbox merges it first (the inbox can only shrink).
 */
static void mg_commit(struct lw_store *s, struct mg *m)
{
    int64_t hist, inbox;

    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_false(lw_store_in_txn(s));
    mg_rows(m, &hist, &inbox);
    assert_int_equal(hist + inbox, m->total);
    if (m->inbox < MG_MERGE_ROWS && !m->dup_in_batch) {
        assert_int_equal(inbox, m->inbox);
    } else if (m->inbox < MG_MERGE_ROWS) {
        assert_true(inbox <= m->inbox);
        m->inbox = inbox;
    } else {
        assert_true(hist >= MG_MERGE_ROWS);
        assert_true(inbox < MG_MERGE_ROWS);
        m->inbox = inbox;
        m->merges++;
    }
    m->dup_in_batch = false;
}

/* One transaction putting the n fixes items[] (d * MG_SLOTS + slot). */
static void mg_batch(struct lw_store *s, struct mg *m, const int *items, int n,
                     int late)
{
    int i;

    assert_int_equal(lw_store_begin(s), LW_OK);
    for (i = 0; i < n; i++)
        mg_put(s, m, items[i] / MG_SLOTS, items[i] % MG_SLOTS, late);
    mg_commit(s, m);
}

/* Batches of slots [from, to) of every device, shuffled within a batch. */
static void mg_slots(struct lw_store *s, struct mg *m, int *items, int from,
                     int to)
{
    int b, j, d, n;

    for (b = from; b < to; b += MG_SLOTS_PER_BATCH) {
        n = 0;
        for (j = b; j < b + MG_SLOTS_PER_BATCH && j < to; j++)
            for (d = 0; d < MG_DEVICES; d++)
                items[n++] = d * MG_SLOTS + j;
        mg_shuffle(m, items, n);
        mg_batch(s, m, items, n, 0);
    }
}

/* History checker: strictly in fix-time order, only fixes of the model,
 * each with its own content. */
struct mg_hist {
    const struct mg *m; /* the model */
    int d;              /* the device read */
    int n;              /* fixes seen */
    int64_t prev;       /* fix time of the previous one */
};

static int mg_hist_cb(void *ctx, const struct lw_fix *f)
{
    struct mg_hist *h = ctx;
    int64_t off = f->fix_time_ms - T0;
    struct lw_fix want;
    int j, late;

    if (h->n > 0)
        assert_true(f->fix_time_ms > h->prev);
    assert_true(off >= 0);
    assert_int_equal(off % (5 * SEC), h->d * 7); /* this device's */
    j = (int)(off / (10 * SEC));
    late = (int)(off / (5 * SEC) % 2);
    assert_true(j < MG_SLOTS);
    assert_true(h->m->have[h->d][j][late]);
    want = mg_fix(h->d, j, late);
    assert_same_fix(f, &want);
    h->prev = f->fix_time_ms;
    h->n++;
    return 0;
}

static int count_dev_cb(void *ctx, const struct lw_device_info *d)
{
    (void)d;
    (*(int *)ctx)++;
    return 0;
}

/* Everything the store reports agrees with the model. */
static void mg_check(struct lw_store *s, const struct mg *m)
{
    struct lw_device_info info;
    struct lw_fix got, want;
    struct mg_hist h;
    char dev[16];
    int d, ndev = 0;

    for (d = 0; d < MG_DEVICES; d++) {
        mg_device(dev, sizeof(dev), d);
        assert_int_equal(lw_store_device_get(s, dev, &info), LW_OK);
        assert_int_equal(info.fixes, m->count[d]);
        assert_int_equal(info.last_fix_ms,
                         mg_time(d, m->last[d] / 2, m->last[d] % 2));
        assert_int_equal(info.first_heard_ms, m->first_heard[d]);
        assert_int_equal(info.last_heard_ms, m->last_heard[d]);
        assert_int_equal(lw_store_last_fix(s, dev, &got), LW_OK);
        want = mg_fix(d, m->last[d] / 2, m->last[d] % 2);
        assert_same_fix(&got, &want);
        h = (struct mg_hist){.m = m, .d = d};
        assert_int_equal(
            lw_store_history(s, dev, INT64_MIN, INT64_MAX, mg_hist_cb, &h),
            LW_OK);
        assert_int_equal(h.n, m->count[d]); /* ordered + counted: complete */
    }
    assert_int_equal(lw_store_devices(s, count_dev_cb, &ndev), LW_OK);
    assert_int_equal(ndev, MG_DEVICES);
}

/*
 * The inbox of migration 4 and its merge into fix_history, on a file (read
 * beside the writer with plain SQLite): shuffled batches across the merge
 * threshold, duplicates and late fixes of merged and unmerged fixes, rolled
 * back transactions (with and without a merge inside) and a second merge.
 */
static void test_inbox_merge(void **state)
{
    static const int late_slots[] = {3, 77, 150, 399, 400, 401, 450, 498};
    enum { NLATE = sizeof(late_slots) / sizeof(late_slots[0]) };
    struct mg *m = calloc(1, sizeof(*m));
    struct mg *saved = malloc(sizeof(*saved));
    int *items = malloc(MG_BATCH * sizeof(*items));
    struct lw_device_info info;
    struct lw_fix f;
    struct hist h;
    struct tmp t;
    struct lw_store *s;
    int64_t hist_rows, inbox_rows, deleted = -1;
    int d, i, n;

    (void)state;
    assert_non_null(m);
    assert_non_null(saved);
    assert_non_null(items);
    tmp_make(&t);
    m->path = t.path;
    m->rng = 0x9e3779b9u;
    for (d = 0; d < MG_DEVICES; d++)
        m->last[d] = -1;
    s = open_ok(t.path, 0);

    /* 25 batches: the 20th brings the inbox to MG_MERGE_ROWS and merges */
    mg_slots(s, m, items, 0, MG_FIRST);
    assert_int_equal(m->merges, 1);
    assert_int_equal(m->total, MG_DEVICES * MG_FIRST);
    assert_true(m->n_late > 0); /* the shuffle made some fixes late */
    assert_int_equal(m->n_newest + m->n_late, m->total);
    mg_check(s, m);

    /* every fix again, in other shuffles: merged ones and inbox ones */
    m->n_dup = 0;
    mg_slots(s, m, items, 0, MG_FIRST);
    assert_int_equal(m->n_dup, MG_DEVICES * MG_FIRST);
    assert_int_equal(m->total, MG_DEVICES * MG_FIRST);
    assert_int_equal(m->merges, 1);
    mg_check(s, m);

    /* late fixes after the merge, between merged fixes and between inbox
     * fixes: stored in history only, the last-known fix stays */
    m->n_late = 0;
    for (n = 0, d = 0; d < MG_DEVICES; d++)
        for (i = 0; i < NLATE; i++)
            items[n++] = d * MG_SLOTS + late_slots[i];
    mg_shuffle(m, items, n);
    mg_batch(s, m, items, n, 1);
    assert_int_equal(m->n_late, n);
    for (d = 0; d < MG_DEVICES; d++)
        assert_int_equal(m->last[d], (MG_FIRST - 1) * 2);
    mg_check(s, m);
    /* and again: duplicates of fixes in the inbox */
    m->n_dup = 0;
    mg_batch(s, m, items, n, 1);
    assert_int_equal(m->n_dup, n);
    mg_check(s, m);

    /* a rolled-back transaction of newer, late, duplicate fixes and a new
     * device leaves nothing behind */
    memcpy(saved, m, sizeof(*m));
    assert_int_equal(lw_store_begin(s), LW_OK);
    for (i = MG_FIRST; i < MG_FIRST + 12; i++)
        for (d = 0; d < MG_DEVICES; d++)
            mg_put(s, m, d, i, 0);
    for (d = 0; d < MG_DEVICES; d++) {
        mg_put(s, m, d, 11, 1);  /* late, among merged fixes */
        mg_put(s, m, d, 5, 0);   /* duplicate of a merged fix */
        mg_put(s, m, d, 450, 1); /* duplicate in the inbox */
    }
    f = mkfix("mg/rolled-back", T0, 1, 1);
    assert_int_equal(put(s, &f), LW_PUT_NEWEST);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    memcpy(m, saved, sizeof(*m));
    assert_int_equal(lw_store_device_get(s, "mg/rolled-back", &info),
                     LW_ERR_NOTFOUND);
    mg_rows(m, &hist_rows, &inbox_rows);
    assert_int_equal(inbox_rows, m->inbox);
    assert_int_equal(hist_rows + inbox_rows, m->total);
    mg_check(s, m);

    /* a rolled-back transaction that merged (prune merges first) */
    assert_int_equal(lw_store_begin(s), LW_OK);
    for (d = 0; d < MG_DEVICES; d++)
        mg_put(s, m, d, MG_FIRST, 0);
    assert_int_equal(lw_store_prune(s, INT64_MAX, &deleted), LW_OK);
    assert_int_equal(deleted, saved->total); /* all but the last-known */
    h = history(s, "mg/07", INT64_MIN, INT64_MAX);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.times[0], mg_time(7, MG_FIRST, 0));
    assert_int_equal(lw_store_rollback(s), LW_OK);
    memcpy(m, saved, sizeof(*m));
    mg_rows(m, &hist_rows, &inbox_rows);
    assert_int_equal(inbox_rows, m->inbox);
    assert_int_equal(hist_rows + inbox_rows, m->total);
    mg_check(s, m);

    /* later puts: the inbox count survived both rollbacks and, half way,
     * a close and reopen, so the second merge comes when the inbox really
     * holds MG_MERGE_ROWS (mg_commit) */
    m->n_newest = m->n_late = 0;
    mg_slots(s, m, items, MG_FIRST, MG_FIRST + 7 * MG_SLOTS_PER_BATCH);
    assert_int_equal(m->merges, 1);
    lw_store_close(s);
    s = open_ok(t.path, 0);
    mg_slots(s, m, items, MG_FIRST + 7 * MG_SLOTS_PER_BATCH, MG_SLOTS);
    assert_int_equal(m->merges, 2);
    assert_int_equal(m->n_newest + m->n_late,
                     MG_DEVICES * (MG_SLOTS - MG_FIRST));
    mg_check(s, m);
    lw_store_close(s);

    /* a reader, and a writer reopening */
    s = open_ok(t.path, LW_STORE_RDONLY);
    mg_check(s, m);
    lw_store_close(s);
    s = open_ok(t.path, 0);
    mg_put(s, m, 3, 77, 1); /* a duplicate of a merged late fix */
    mg_rows(m, &hist_rows, &inbox_rows);
    assert_int_equal(inbox_rows, m->inbox); /* told apart without a merge */
    assert_true(inbox_rows > 0);
    mg_put(s, m, 3, MG_SLOTS - 1, 0); /* one in the inbox: merges it */
    mg_check(s, m);
    lw_store_close(s);
    mg_rows(m, &hist_rows, &inbox_rows);
    assert_int_equal(inbox_rows, 0);
    assert_int_equal(hist_rows, m->total);

    free(items);
    free(saved);
    free(m);
    tmp_remove(&t);
}

/* ---- error classes: what the daemon must tell apart ----------------------- */

/*
 * A VFS that forwards to the default one, except that while fault_rc is set
 * every write fails with it: SQLITE_FULL is what SQLite's unix VFS returns
 * when write(2) says ENOSPC, SQLITE_IOERR_WRITE what it returns for EIO.
 * Registered as the default VFS for one test at a time.
 */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs faulty_vfs;
static sqlite3_io_methods faulty_io;
static int fault_rc;   /* what writes fail with; 0: they do not */
static int fault_hits; /* writes failed */

struct ffile {
    sqlite3_file base; /* ours (pMethods = &faulty_io) */
    sqlite3_file *real; /* the default VFS's file, right after this struct */
};

#define REAL(f) (((struct ffile *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (fault_rc) {
        fault_hits++;
        return fault_rc;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                  int flags, int *out_flags)
{
    struct ffile *f = (struct ffile *)file;
    int rc;

    (void)vfs;
    f->real = (sqlite3_file *)(f + 1);
    rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    f->base.pMethods = f->real->pMethods ? &faulty_io : NULL;
    return rc;
}

/* Makes the faulty VFS the default (writes pass until fault_rc is set). */
static void faulty_vfs_install(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    faulty_vfs = *real_vfs;
    faulty_vfs.zName = "lw-faulty";
    faulty_vfs.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile;
    faulty_vfs.xOpen = f_open;
    faulty_io = (sqlite3_io_methods){
        3,        f_close,     f_read,        f_write,     f_truncate,
        f_sync,   f_size,      f_lock,        f_unlock,    f_reserved,
        f_control, f_sector,   f_device,      f_shm_map,   f_shm_lock,
        f_shm_barrier, f_shm_unmap, f_fetch,  f_unfetch,
    };
    fault_rc = 0;
    fault_hits = 0;
    assert_int_equal(sqlite3_vfs_register(&faulty_vfs, 1), SQLITE_OK);
}

static void faulty_vfs_remove(void)
{
    if (sqlite3_vfs_find(faulty_vfs.zName)) {
        sqlite3_vfs_unregister(&faulty_vfs);
        sqlite3_vfs_register(real_vfs, 1);
    }
    fault_rc = 0;
}

/* Teardown of the tests that install it: a failed one leaves the default
 * VFS as it was for the next. */
static int faulty_vfs_teardown(void **state)
{
    (void)state;
    if (real_vfs && faulty_vfs.zName)
        faulty_vfs_remove();
    return 0;
}

/* Puts n fixes of dev (newest each) in one transaction and commits. */
static enum lw_err put_batch(struct lw_store *s, const char *dev, int64_t t0,
                             int n)
{
    struct lw_fix f;
    enum lw_err e = lw_store_begin(s);

    for (int i = 0; e == LW_OK && i < n; i++) {
        f = mkfix(dev, t0 + i * SEC, 10.0 + i * 1e-4, 20.0);
        e = lw_store_put_fix(s, &f, NULL);
    }
    if (e == LW_OK)
        e = lw_store_commit(s);
    if (e != LW_OK && lw_store_in_txn(s))
        lw_store_rollback(s);
    return e;
}

/*
 * A write that the file system refuses: a full disk is LW_ERR_FULL, an I/O
 * error LW_ERR_IO, each with SQLite's words; nothing of the batch is kept,
 * and once the disk has room again the same batch goes in whole.
 */
static void check_write_fault(int rc, enum lw_err want, const char *words)
{
    struct tmp t;
    struct lw_store *s;
    struct lw_device_info d;

    tmp_make(&t);
    faulty_vfs_install();
    s = open_ok(t.path, 0);
    assert_int_equal(put_batch(s, "disk", T0, 10), LW_OK);
    fault_rc = rc;
    assert_int_equal(put_batch(s, "disk", T0 + 100 * SEC, 500), want);
    assert_true(fault_hits > 0);
    assert_non_null(strstr(lw_store_errmsg(s), words));
    assert_false(lw_store_in_txn(s));
    fault_rc = 0;
    assert_int_equal(lw_store_device_get(s, "disk", &d), LW_OK);
    assert_int_equal(d.fixes, 10); /* the failed batch left nothing */
    assert_int_equal(put_batch(s, "disk", T0 + 100 * SEC, 500), LW_OK);
    assert_int_equal(lw_store_device_get(s, "disk", &d), LW_OK);
    assert_int_equal(d.fixes, 510);
    assert_int_equal(history(s, "disk", INT64_MIN, INT64_MAX).n, 510);
    lw_store_close(s);
    faulty_vfs_remove();
    tmp_remove(&t);
}

static void test_error_disk_full(void **state)
{
    (void)state;
    check_write_fault(SQLITE_FULL, LW_ERR_FULL, "full");
}

static void test_error_io(void **state)
{
    (void)state;
    check_write_fault(SQLITE_IOERR_WRITE, LW_ERR_IO, "I/O");
}

/* SQLite's own limit: a database at its page limit is full, too. */
static void test_error_page_limit(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    sqlite3 *db = lw_db_sqlite(lw_store_db(s));
    char dev[32];
    enum lw_err e = LW_OK;

    (void)state;
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA max_page_count = 60", NULL, NULL, NULL),
        SQLITE_OK);
    for (int i = 0; i < 5000 && e == LW_OK; i++) {
        snprintf(dev, sizeof(dev), "a-long-device-name-%06d", i);
        e = lw_store_heard(s, dev, T0);
    }
    assert_int_equal(e, LW_ERR_FULL);
    assert_non_null(strstr(lw_store_errmsg(s), "recording heard"));
    assert_non_null(strstr(lw_store_errmsg(s), "full"));
    lw_store_close(s);
}

/* Writes refused by SQLite on a connection that may not write. */
static void test_error_readonly(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_fix f = mkfix("ro", T0, 1, 1);

    (void)state;
    put(s, &f);
    assert_int_equal(sqlite3_exec(lw_db_sqlite(lw_store_db(s)),
                                  "PRAGMA query_only = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    f.fix_time_ms += SEC;
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_ERR_READONLY);
    assert_non_null(strstr(lw_store_errmsg(s), "readonly"));
    assert_int_equal(lw_store_counter_add(s, "x", 1), LW_ERR_READONLY);
    assert_int_equal(lw_store_meta_set(s, "k", "v"), LW_ERR_READONLY);
    /* reading goes on */
    assert_int_equal(history(s, "ro", INT64_MIN, INT64_MAX).n, 1);
    lw_store_close(s);
}

static int64_t elapsed_ms(const struct timespec *a)
{
    struct timespec b;

    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/*
 * Another connection holds the write lock (the CLI changing the registry):
 * the store waits its busy timeout, then says LW_ERR_BUSY, and works once
 * the lock is gone. A short timeout is short: the daemon sets one so its
 * loop is not stopped for the default 5 s.
 */
static void test_error_busy(void **state)
{
    struct tmp t;
    struct lw_store *s;
    sqlite3 *other = NULL;
    struct timespec t0;
    int64_t ms;

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(sqlite3_open(t.path, &other), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(lw_store_set_busy_timeout(s, 0), LW_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(lw_store_begin(s), LW_ERR_BUSY);
    assert_true(elapsed_ms(&t0) < 1000);
    assert_non_null(strstr(lw_store_errmsg(s), "locked"));
    assert_int_equal(lw_store_heard(s, "b", T0), LW_ERR_BUSY);

    assert_int_equal(lw_store_set_busy_timeout(s, 200), LW_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(lw_store_begin(s), LW_ERR_BUSY);
    ms = elapsed_ms(&t0);
    assert_true(ms >= 150); /* it did wait */
    assert_true(ms < LW_STORE_BUSY_TIMEOUT_MS / 2);
    assert_false(lw_store_in_txn(s));

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_store_heard(s, "b", T0), LW_OK);
    assert_int_equal(lw_store_commit(s), LW_OK);
    sqlite3_close(other);

    assert_int_equal(lw_store_set_busy_timeout(s, -1), LW_ERR_INVAL);
    assert_int_equal(lw_store_set_busy_timeout(NULL, 10), LW_ERR_INVAL);
    lw_store_close(s);
    tmp_remove(&t);
}

/* A file whose pages were overwritten: damaged, not "a database error". */
static void test_error_corrupt(void **state)
{
    struct tmp t;
    struct lw_store *s = NULL;
    char err[512] = "", junk[4096];
    struct stat sb;
    FILE *fp;

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(put_batch(s, "c", T0, 300), LW_OK);
    lw_store_close(s); /* checkpoints the WAL into the file */
    assert_int_equal(stat(t.path, &sb), 0);
    assert_true(sb.st_size >= 4 * (off_t)sizeof(junk));
    /* every page but the first (the schema) becomes junk */
    memset(junk, 0x5a, sizeof(junk));
    fp = fopen(t.path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)sizeof(junk), SEEK_SET), 0);
    for (off_t o = sizeof(junk); o < sb.st_size; o += (off_t)sizeof(junk))
        assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);
    s = NULL;
    assert_int_equal(lw_store_open(&s, t.path, 0, err, sizeof(err)),
                     LW_ERR_CORRUPT);
    assert_null(s);
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(
        lw_store_open(&s, t.path, LW_STORE_RDONLY, err, sizeof(err)),
        LW_ERR_CORRUPT);
    tmp_remove(&t);
}

/* ---- meta: key -> text ------------------------------------------------------ */

static void test_meta(void **state)
{
    static const char *const values[] = {
        "0123", "3.0e+5", "", "lienwatch/+/location,gps/#",
        "Zürich \xe2\x80\x94 ünïcödé", "9223372036854775808",
    };
    struct tmp t;
    struct lw_store *s, *r;
    char key[200], *v = NULL;

    (void)state;
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(lw_store_meta_get(s, "mqtt.subs", &v), LW_ERR_NOTFOUND);
    assert_null(v);
    assert_non_null(strstr(lw_store_errmsg(s), "mqtt.subs"));
    /* text comes back byte for byte, numbers-looking text too */
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_int_equal(lw_store_meta_set(s, "mqtt.subs", values[i]), LW_OK);
        assert_int_equal(lw_store_meta_get(s, "mqtt.subs", &v), LW_OK);
        assert_string_equal(v, values[i]);
        free(v);
        v = NULL;
    }
    /* in a transaction: rolled back with it */
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_store_meta_set(s, "mqtt.subs", "rolled back"), LW_OK);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(lw_store_meta_get(s, "mqtt.subs", &v), LW_OK);
    assert_string_equal(v, values[5]);
    free(v);
    /* the registry's numbers read as text; writing them is refused */
    assert_int_equal(lw_store_meta_get(s, "mail_instance", &v), LW_OK);
    assert_true(strlen(v) > 0 && strspn(v, "0123456789") == strlen(v));
    free(v);
    assert_int_equal(lw_store_meta_set(s, "registry_version", "7"),
                     LW_ERR_INVAL);
    assert_int_equal(lw_store_meta_set(s, "fence_id_seq", NULL), LW_ERR_INVAL);
    assert_int_equal(lw_store_meta_set(s, "", "x"), LW_ERR_INVAL);
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(lw_store_meta_set(s, key, "x"), LW_ERR_INVAL);
    key[128] = '\0'; /* the longest key */
    assert_int_equal(lw_store_meta_set(s, key, "x"), LW_OK);
    assert_int_equal(lw_store_meta_get(s, NULL, &v), LW_ERR_INVAL);
    assert_int_equal(lw_store_meta_get(s, "x", NULL), LW_ERR_INVAL);
    assert_int_equal(lw_store_meta_get(NULL, "x", &v), LW_ERR_INVAL);
    assert_int_equal(lw_store_meta_set(NULL, "x", "y"), LW_ERR_INVAL);

    /* another connection reads it; a reader may not write */
    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_store_meta_get(r, "mqtt.subs", &v), LW_OK);
    assert_string_equal(v, values[5]);
    free(v);
    assert_int_equal(lw_store_meta_set(r, "mqtt.subs", "x"), LW_ERR_INVAL);
    lw_store_close(r);

    /* NULL deletes */
    assert_int_equal(lw_store_meta_set(s, "mqtt.subs", NULL), LW_OK);
    assert_int_equal(lw_store_meta_get(s, "mqtt.subs", &v), LW_ERR_NOTFOUND);
    assert_int_equal(lw_store_meta_set(s, "mqtt.subs", NULL), LW_OK);
    lw_store_close(s);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_memory),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_invalid_fix),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_history_order_and_bounds),
        cmocka_unit_test(test_late_fix_never_moves_last),
        cmocka_unit_test(test_heard_vs_fix),
        cmocka_unit_test(test_optional_round_trip),
        cmocka_unit_test(test_hostile_device_id),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_rollback_and_close_in_txn),
        cmocka_unit_test(test_reader_beside_writer),
        cmocka_unit_test(test_migration_idempotent),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_unversioned_refused_readonly),
        cmocka_unit_test(test_prune_keeps_last_fix),
        cmocka_unit_test(test_prune_steps),
        cmocka_unit_test(test_file_mode_private),
        cmocka_unit_test(test_open_failures),
        cmocka_unit_test(test_reentry),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_inbox_merge),
        cmocka_unit_test_teardown(test_error_disk_full, faulty_vfs_teardown),
        cmocka_unit_test_teardown(test_error_io, faulty_vfs_teardown),
        cmocka_unit_test(test_error_page_limit),
        cmocka_unit_test(test_error_readonly),
        cmocka_unit_test(test_error_busy),
        cmocka_unit_test(test_error_corrupt),
        cmocka_unit_test(test_meta),
    };

    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
