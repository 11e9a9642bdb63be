/*
 * test_purge.c - the end of a loan and retention thinning in the store:
 * an account paid off or closed queues its vehicles' devices (their fixes
 * are no longer stored), lw_store_purge_step deletes their positions after
 * the delay in bounded steps and leaves the registry; a payoff reversed in
 * time calls it off; a removed tracker with and without --purge;
 * lw_store_thin_step keeps at most one fix per interval, the first and last
 * fix of each stop and the last-known fix, and judges each fix once.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/places.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/suspect.h"

#include <sqlite3.h>

#include "../../lib/db.h"
#include "../../lib/store_priv.h"

#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static struct lw_store *open_mem(void)
{
    struct lw_store *s = NULL;
    char err[256] = "";

    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    return s;
}

static enum lw_put_result put(struct lw_store *s, const char *dev, int64_t t,
                              double lat, double lon)
{
    struct lw_fix f;
    enum lw_put_result r = 0;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", dev);
    f.fix_time_ms = t;
    f.recv_time_ms = t + SEC;
    f.lat_deg = lat;
    f.lon_deg = lon;
    f.accuracy_m = 5;
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    return r;
}

static int count_cb(void *ctx, const struct lw_fix *f)
{
    (void)f;
    (*(int *)ctx)++;
    return 0;
}

static int nfixes(struct lw_store *s, const char *dev)
{
    int n = 0;

    assert_int_equal(
        lw_store_history(s, dev, INT64_MIN, INT64_MAX, count_cb, &n), LW_OK);
    return n;
}

static void account(struct lw_store *s, const char *id, int dpd,
                    const char *status, int64_t at)
{
    struct lw_account a = {0};

    snprintf(a.account, sizeof(a.account), "%s", id);
    snprintf(a.status, sizeof(a.status), "%s", status);
    snprintf(a.source, sizeof(a.source), "cli");
    a.days_past_due = dpd;
    a.updated_ms = at;
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
}

static void vehicle(struct lw_store *s, const char *dev, const char *acc)
{
    struct lw_vehicle v = {0};

    snprintf(v.device, sizeof(v.device), "%s", dev);
    snprintf(v.account, sizeof(v.account), "%s", acc);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
}

/* Runs purge steps at now until nothing is due; returns the steps. */
static int purge_all(struct lw_store *s, int64_t now, int64_t delay,
                     int64_t max_rows, int *done)
{
    struct lw_purge_step p;
    int steps = 0;

    *done = 0;
    for (;;) {
        assert_int_equal(lw_store_begin(s), LW_OK);
        assert_int_equal(lw_store_purge_step(s, now, delay, max_rows, &p),
                         LW_OK);
        assert_int_equal(lw_store_commit(s), LW_OK);
        if (!p.device[0])
            return steps;
        assert_true(p.deleted <= max_rows);
        steps++;
        *done += p.done;
        assert_true(steps < 1000);
    }
}

static void test_payoff(void **state)
{
    struct lw_store *s = open_mem();
    struct lw_vehicle v;
    struct lw_fix last;
    struct lw_purge_step p;
    int done, i;

    (void)state;
    account(s, "A", 40, "overdue", T0);
    account(s, "B", 40, "overdue", T0);
    vehicle(s, "a/1", "A");
    vehicle(s, "b/1", "B");
    for (i = 0; i < 25; i++) {
        put(s, "a/1", T0 + i * MIN, 41.1 + i * 1e-3, -8.6);
        put(s, "b/1", T0 + i * MIN, 41.1, -8.6 + i * 1e-3);
    }
    /* no transaction: refused */
    assert_int_equal(lw_store_purge_step(s, T0, 0, 10, &p), LW_ERR_INVAL);

    account(s, "A", 40, "paid_off", T0 + HOUR);
    /* from now on a/1's fixes are not stored */
    assert_int_equal(put(s, "a/1", T0 + 2 * HOUR, 41.5, -8.5), LW_PUT_ENDED);
    assert_int_equal(put(s, "b/1", T0 + 2 * HOUR, 41.5, -8.5), LW_PUT_NEWEST);
    /* before the delay: nothing */
    assert_int_equal(purge_all(s, T0 + HOUR + 29 * DAY, 30 * DAY, 10, &done),
                     0);
    assert_int_equal(nfixes(s, "a/1"), 25);
    /* after: in bounded steps (25 fixes, 10 a step: 3 steps) */
    assert_int_equal(purge_all(s, T0 + HOUR + 30 * DAY, 30 * DAY, 10, &done),
                     3);
    assert_int_equal(done, 1);
    assert_int_equal(nfixes(s, "a/1"), 0);
    assert_int_equal(lw_store_last_fix(s, "a/1", &last), LW_ERR_NOTFOUND);
    assert_int_equal(lw_registry_vehicle_get(s, "a/1", &v), LW_OK);
    /* b/1 untouched; done purges are not done again */
    assert_int_equal(nfixes(s, "b/1"), 26);
    assert_int_equal(purge_all(s, T0 + 100 * DAY, 30 * DAY, 10, &done), 0);
    assert_int_equal(put(s, "a/1", T0 + 3 * HOUR, 41.5, -8.5), LW_PUT_ENDED);

    /* closed, then overdue again before the delay: called off */
    account(s, "B", 40, "closed", T0 + 2 * HOUR);
    assert_int_equal(put(s, "b/1", T0 + 3 * HOUR, 41.5, -8.5), LW_PUT_ENDED);
    account(s, "B", 50, "overdue", T0 + 3 * HOUR);
    assert_int_equal(put(s, "b/1", T0 + 4 * HOUR, 41.5, -8.5), LW_PUT_NEWEST);
    assert_int_equal(purge_all(s, T0 + 100 * DAY, 30 * DAY, 10, &done), 0);
    assert_int_equal(nfixes(s, "b/1"), 27);
    lw_store_close(s);
}

/* Runs sql on s's own connection (rows the test needs that no API makes
 * by itself: alerts and a storm digest). */
static void sql(struct lw_store *s, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(lw_db_sqlite(lw_store_db(s)), text, NULL, NULL, &msg) !=
        SQLITE_OK)
        fail_msg("%s: %s", text, msg ? msg : "?");
    sqlite3_free(msg);
}

static int count_rows(struct lw_store *s, const char *where)
{
    char q[256];
    sqlite3_stmt *st;
    int n = -1;

    snprintf(q, sizeof(q), "SELECT count(*) FROM outbox WHERE %s", where);
    assert_int_equal(sqlite3_prepare_v2(lw_db_sqlite(lw_store_db(s)), q, -1,
                                        &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The mail about a purged device goes with its positions, storm digests
 * that name one of its alerts included; digests of others stay. */
static void test_payoff_mail(void **state)
{
    struct lw_store *s = open_mem();
    int done;

    (void)state;
    account(s, "A", 40, "overdue", T0);
    account(s, "B", 40, "overdue", T0);
    vehicle(s, "a/1", "A");
    vehicle(s, "b/1", "B");
    put(s, "a/1", T0, 41.1, -8.6);
    sql(s, "INSERT INTO alerts(id, kind, device, raised_ms, changed_ms) "
           "VALUES (7, 'offline', 'a/1', 0, 0), (17, 'offline', 'b/1', 0, 0),"
           " (70, 'offline', 'b/1', 0, 0)");
    sql(s, "INSERT INTO outbox(kind, digest, alert_id, alert_ids, device, "
           "recipient, message_id, subject, message, next_try_ms, "
           "created_ms) VALUES "
           "('offline', 0, 7, '', 'a/1', 'o@x', 'm1', 's', 'at 41.1', 0, 0),"
           "('offline', 1, 0, '17,7,70', '', 'o@x', 'm2', 's', 'both', 0, 0),"
           "('offline', 1, 0, '17,70', '', 'o@x', 'm3', 's', 'b only', 0, 0),"
           "('offline', 1, 0, '77', '', 'o@x', 'm4', 's', 'b only', 0, 0)");
    account(s, "A", 40, "paid_off", T0 + HOUR);
    purge_all(s, T0 + HOUR, 0, 10, &done);
    assert_int_equal(done, 1);
    assert_int_equal(count_rows(s, "message_id IN ('m1', 'm2')"), 0);
    assert_int_equal(count_rows(s, "message_id IN ('m3', 'm4')"), 2);
    lw_store_close(s);
}

static void test_remove(void **state)
{
    struct lw_store *s = open_mem();
    bool reg = false;
    int done, i;

    (void)state;
    account(s, "A", 40, "overdue", T0);
    vehicle(s, "a/1", "A");
    for (i = 0; i < 5; i++) {
        put(s, "a/1", T0 + i * MIN, 41.1, -8.6);
        put(s, "x/9", T0 + i * MIN, 41.1, -8.6);
    }
    /* without --purge: not stored from now, kept */
    assert_int_equal(lw_registry_vehicle_remove(s, "a/1", false, T0, &reg),
                     LW_OK);
    assert_true(reg);
    assert_int_equal(put(s, "a/1", T0 + HOUR, 41.5, -8.5), LW_PUT_ENDED);
    assert_int_equal(purge_all(s, T0 + 1000 * DAY, 0, 10, &done), 0);
    assert_int_equal(nfixes(s, "a/1"), 5);
    /* with --purge (an unregistered device too): at once, delay or not */
    assert_int_equal(lw_registry_vehicle_remove(s, "a/1", true, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_registry_vehicle_remove(s, "x/9", true, T0, &reg),
                     LW_OK);
    assert_false(reg);
    assert_int_equal(purge_all(s, T0 + MIN, 30 * DAY, 10, &done), 2);
    assert_int_equal(done, 2);
    assert_int_equal(nfixes(s, "a/1"), 0);
    assert_int_equal(nfixes(s, "x/9"), 0);
    /* the tracker fitted to a car on a new loan: tracked again */
    account(s, "N", 40, "overdue", T0 + DAY);
    vehicle(s, "a/1", "N");
    assert_int_equal(put(s, "a/1", T0 + 2 * DAY, 41.5, -8.5), LW_PUT_NEWEST);
    /* but not on a loan that has ended */
    account(s, "P", 0, "paid_off", T0 + DAY);
    assert_int_equal(lw_registry_vehicle_remove(s, "x/9", false, T0, NULL),
                     LW_OK);
    vehicle(s, "x/9", "P");
    assert_int_equal(put(s, "x/9", T0 + 2 * DAY, 41.5, -8.5), LW_PUT_ENDED);
    lw_store_close(s);
}

/* Thinning's survivors. */
struct kept {
    int64_t t[4096]; /* fix times */
    int n;           /* how many */
};

static int kept_cb(void *ctx, const struct lw_fix *f)
{
    struct kept *k = ctx;

    if (k->n < 4096)
        k->t[k->n++] = f->fix_time_ms;
    return 0;
}

static int64_t thin_all(struct lw_store *s, int64_t before, int64_t interval,
                        int64_t max_rows)
{
    char cursor[LW_DEVICE_MAX + 1] = "";
    int64_t n, total = 0;
    bool finished = false;
    int steps = 0;

    while (!finished) {
        assert_int_equal(lw_store_thin_step(s, before, interval, cursor,
                                            max_rows, &n, &finished),
                         LW_OK);
        total += n;
        assert_true(++steps < 10000);
    }
    return total;
}

static int places_cb(void *ctx, const struct lw_fix *f)
{
    return lw_places_add(ctx, f) != LW_OK;
}

static void test_thin(void **state)
{
    struct lw_store *s = open_mem();
    struct kept k = {0};
    int64_t t = T0, stop_first, stop_last, last_recent;
    int i, n0, per_bucket[64] = {0};
    struct lw_places *pl = NULL;
    const struct lw_places_stop *sp;

    (void)state;
    /* 2 h driving north (a fix every 10 s), 3 h parked (every 30 s), 1 h
     * driving again: all old */
    for (i = 0; i < 720; i++, t += 10 * SEC)
        put(s, "c/1", t, 41.0 + i * 1e-4, -8.6);
    stop_first = t;
    for (i = 0; i < 360; i++, t += 30 * SEC)
        put(s, "c/1", t, 41.2 + (i % 3) * 1e-5, -8.6);
    stop_last = t - 30 * SEC;
    for (i = 0; i < 360; i++, t += 10 * SEC)
        put(s, "c/1", t, 41.2 - i * 1e-4, -8.6);
    /* and a recent one, the last-known fix */
    last_recent = T0 + 200 * DAY;
    put(s, "c/1", last_recent, 41.3, -8.6);
    n0 = nfixes(s, "c/1");
    assert_int_equal(n0, 1441);
    assert_int_equal(lw_places_new(NULL, &pl, NULL, 0), LW_OK);
    assert_int_equal(
        lw_store_history(s, "c/1", INT64_MIN, T0 + DAY, places_cb, pl), LW_OK);
    assert_int_equal(lw_places_compute(pl, NULL, T0 + DAY, NULL, 0), LW_OK);

    {
        int64_t d = thin_all(s, T0 + 90 * DAY, HOUR, 500);
        print_message("thinned %lld of %d\n", (long long)d, n0);
        assert_true(d > 1400);
    }
    assert_int_equal(
        lw_store_history(s, "c/1", INT64_MIN, INT64_MAX, kept_cb, &k), LW_OK);
    /* the stop's ends (as lib/places.c finds them in the whole history)
     * survive, and the last-known fix */
    assert_int_equal(lw_places_stop_count(pl), 1);
    sp = lw_places_stop(pl, 0);
    assert_true(sp->start_ms <= stop_first && sp->end_ms >= stop_last - MIN);
    for (i = 0; i < k.n && k.t[i] != sp->start_ms; i++)
        ;
    assert_true(i < k.n);
    for (i = 0; i < k.n && k.t[i] != sp->end_ms; i++)
        ;
    assert_true(i < k.n);
    lw_places_free(pl);
    assert_int_equal(k.t[k.n - 1], last_recent);
    /* at most one per hour, besides the stop's ends */
    for (i = 0; i < k.n - 1; i++) {
        int64_t b = (k.t[i] - T0) / HOUR;

        assert_true(b >= 0 && b < 64);
        per_bucket[b]++;
    }
    for (i = 0; i < 64; i++)
        assert_true(per_bucket[i] <= 2);
    assert_true(k.n < 30);
    /* judged once: a second pass deletes nothing */
    assert_int_equal(thin_all(s, T0 + 90 * DAY, HOUR, 500), 0);
    /* nothing newer than the cut is touched */
    put(s, "d/1", T0 + 100 * DAY, 41.0, -8.6);
    put(s, "d/1", T0 + 100 * DAY + SEC, 41.0, -8.6);
    assert_int_equal(thin_all(s, T0 + 90 * DAY, HOUR, 500), 0);
    assert_int_equal(nfixes(s, "d/1"), 2);
    lw_store_close(s);
}

/* Rows of a query's single count. */
static int count_sql(struct lw_store *s, const char *q)
{
    sqlite3_stmt *st;
    int n = -1;

    assert_int_equal(sqlite3_prepare_v2(lw_db_sqlite(lw_store_db(s)), q, -1,
                                        &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Suspect flags whose fix is not stored. */
#define ORPHAN_FLAGS                                                           \
    "SELECT count(*) FROM fix_suspect s WHERE NOT EXISTS (SELECT 1 FROM "    \
    "fixes f WHERE f.device = s.device AND f.fix_time_ms = s.fix_time_ms)"

/* Flags every fourth fix of dev (i = 0, 4, ...) of n a minute apart from
 * t0 suspect. */
static void flag_some(struct lw_store *s, const char *dev, int64_t t0, int n)
{
    for (int i = 0; i < n; i += 4)
        assert_int_equal(lw_suspect_mark(s, dev, t0 + i * MIN, "jump", 0),
                         LW_OK);
}

static int flags_of(struct lw_store *s, const char *dev)
{
    char q[128];

    snprintf(q, sizeof(q),
             "SELECT count(*) FROM fix_suspect WHERE device = '%s'", dev);
    return count_sql(s, q);
}

/* The suspect flags (suspect.h) of the fixes that retention, thinning or a
 * payoff purge delete go with them: no flag without its fix, nothing left
 * of a paid-off borrower's device. */
static void test_suspect_flags(void **state)
{
    struct lw_store *s = open_mem();
    char cursor[LW_DEVICE_MAX + 1] = "";
    int64_t deleted;
    bool finished = false;
    int done;

    (void)state;
    account(s, "A", 40, "overdue", T0);
    vehicle(s, "p/1", "A");
    for (int i = 0; i < 40; i++) {
        put(s, "r/1", T0 + i * MIN, 41.1 + i * 1e-3, -8.6);
        put(s, "t/1", T0 + i * MIN, 41.1 + i * 1e-3, -8.6);
        put(s, "p/1", T0 + i * MIN, 41.1 + i * 1e-3, -8.6);
    }
    flag_some(s, "r/1", T0, 40);
    flag_some(s, "t/1", T0, 40);
    flag_some(s, "p/1", T0, 40);
    assert_int_equal(flags_of(s, "r/1"), 10);
    assert_int_equal(count_sql(s, ORPHAN_FLAGS), 0);

    /* retention: the 20 oldest fixes of every device go, in small steps,
     * and the 5 flags among them */
    do {
        assert_int_equal(lw_store_prune_step(s, T0 + 20 * MIN, cursor, 3,
                                             &deleted, &finished),
                         LW_OK);
    } while (!finished);
    assert_int_equal(nfixes(s, "r/1"), 20);
    assert_int_equal(flags_of(s, "r/1"), 5);
    assert_int_equal(count_sql(s, ORPHAN_FLAGS), 0);

    /* thinning to one fix an hour: most of the rest goes, their flags
     * with them */
    assert_true(thin_all(s, T0 + DAY, HOUR, 7) > 0);
    assert_true(nfixes(s, "t/1") < 20);
    assert_true(flags_of(s, "t/1") < 5);
    assert_int_equal(count_sql(s, ORPHAN_FLAGS), 0);

    /* paid off: after the purge nothing of p/1 is left, flags included */
    account(s, "A", 40, "paid_off", T0 + HOUR);
    purge_all(s, T0 + HOUR + 30 * DAY, 30 * DAY, 6, &done);
    assert_int_equal(done, 1);
    assert_int_equal(nfixes(s, "p/1"), 0);
    assert_int_equal(flags_of(s, "p/1"), 0);
    assert_true(flags_of(s, "r/1") > 0);
    assert_int_equal(count_sql(s, ORPHAN_FLAGS), 0);
    lw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payoff),
        cmocka_unit_test(test_payoff_mail),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_thin),
        cmocka_unit_test(test_suspect_flags),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
