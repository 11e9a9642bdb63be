/*
 * test_listing.c - unit tests for lib/listing.c: every row of a listing
 * holds what the one-vehicle lookups (registry, account, last fix, device,
 * open alerts, the viewer's case) give for the same device; expired and
 * closed cases are left out; one agent's cases only with f->agent; the
 * watched list takes overdue accounts only and not ended ones. And
 * lw_audit_append_many: n records chained as n single appends would be,
 * all or nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/access.h"
#include "lienwatch/alert.h"
#include "lienwatch/audit.h"
#include "lienwatch/cases.h"
#include "lienwatch/listing.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/users.h"

#define T0 1795000000000LL
#define HOUR 3600000LL
#define THRESHOLD 30

static const struct lw_audit_rec BY = {.who = "ops1", .via = "cli"};

static void vehicle(struct lw_store *s, const char *device, const char *account,
                    const char *plate)
{
    struct lw_vehicle v;

    memset(&v, 0, sizeof(v));
    snprintf(v.device, sizeof(v.device), "%s", device);
    snprintf(v.account, sizeof(v.account), "%s", account);
    snprintf(v.plate, sizeof(v.plate), "%s", plate);
    snprintf(v.description, sizeof(v.description), "grey van \"%s\"", plate);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
}

static void account(struct lw_store *s, const char *id, int dpd,
                    const char *status)
{
    struct lw_account a;

    memset(&a, 0, sizeof(a));
    snprintf(a.account, sizeof(a.account), "%s", id);
    a.days_past_due = dpd;
    snprintf(a.status, sizeof(a.status), "%s", status);
    a.updated_ms = T0;
    snprintf(a.source, sizeof(a.source), "cli");
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
}

static void fix(struct lw_store *s, const char *device, int64_t t, double lat)
{
    struct lw_fix f;
    enum lw_put_result res;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", device);
    f.fix_time_ms = t;
    f.recv_time_ms = t + 500;
    f.lat_deg = lat;
    f.lon_deg = -8.61;
    f.accuracy_m = 12;
    f.battery_pct = 77;
    f.trigger = 'u';
    assert_int_equal(lw_store_put_fix(s, &f, &res), LW_OK);
}

static void alert(struct lw_store *s, const char *device, bool close)
{
    struct lw_alert a;
    int64_t id;

    memset(&a, 0, sizeof(a));
    a.kind = LW_ALERT_OFFLINE;
    snprintf(a.device, sizeof(a.device), "%s", device);
    a.raised_ms = T0;
    assert_int_equal(lw_registry_alert_add(s, &a, &id), LW_OK);
    if (close)
        assert_int_equal(lw_registry_alert_close(s, id, T0 + 1), LW_OK);
}

static int64_t open_case(struct lw_store *s, const char *device,
                         const char *agent, int64_t expires_ms)
{
    struct lw_case_new c = {.device = device, .agent = agent,
                            .reason = "order 7", .expires_ms = expires_ms};
    int64_t id = 0;

    assert_int_equal(lw_case_open(s, &c, THRESHOLD, &BY, T0, &id), LW_OK);
    return id;
}

/* car/1 watched, fix, 2 open + 1 closed alert; car/2 watched, no fix;
 * car/3 current; car/4 watched but paid off... (status), car/5 watched,
 * no account row for car/6. Agents alice, bob. */
static struct lw_store *fixture(void)
{
    struct lw_store *s = NULL;
    char err[256];

    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    account(s, "A1", 45, "overdue");
    account(s, "A2", 31, "");
    account(s, "A3", 0, "");
    account(s, "A5", 90, "");
    vehicle(s, "car/1", "A1", "P-1");
    vehicle(s, "car/2", "A2", "P-2");
    vehicle(s, "car/3", "A3", "P-3");
    vehicle(s, "car/5", "A5", "P-5");
    vehicle(s, "car/6", "A-none", "P-6");
    fix(s, "car/1", T0 - HOUR, 41.1);
    fix(s, "car/1", T0 - 2 * HOUR, 41.0); /* late: not the last */
    fix(s, "car/3", T0 - HOUR, 41.3);
    fix(s, "car/5", T0 - HOUR, 41.5);
    alert(s, "car/1", false);
    alert(s, "car/1", false);
    alert(s, "car/1", true);
    alert(s, "car/5", true);
    assert_int_equal(lw_user_add(s, "alice", LW_ROLE_AGENT, NULL, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_add(s, "bob", LW_ROLE_AGENT, NULL, &BY, T0, NULL),
                     LW_OK);
    return s;
}

struct rows {
    struct lw_listing_row r[16];
    int n;
};

static int collect(void *ctx, const struct lw_listing_row *r)
{
    struct rows *rs = ctx;

    assert_true(rs->n < 16);
    rs->r[rs->n++] = *r;
    return 0;
}

static int count_open(void *ctx, const struct lw_alert_row *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

/* The row matches the one-vehicle lookups of its device. */
static void same_as_lookups(struct lw_store *s, const struct lw_listing_row *r,
                            const char *viewer, int64_t now_ms)
{
    struct lw_vehicle v;
    struct lw_account a;
    struct lw_fix f;
    struct lw_device_info di;
    struct lw_alert_filter af = {.device = r->c.device, .open_only = true};
    int open = 0;
    int64_t cid = 0;
    enum lw_err e;

    e = lw_registry_vehicle_get(s, r->c.device, &v);
    assert_int_equal(r->registered, e == LW_OK);
    if (r->registered) {
        assert_string_equal(r->v.plate, v.plate);
        assert_string_equal(r->v.description, v.description);
        assert_string_equal(r->v.account, v.account);
        assert_string_equal(r->v.vin, v.vin);
        e = lw_registry_account_get(s, v.account, &a);
        assert_int_equal(r->has_account, v.account[0] && e == LW_OK);
        if (r->has_account) {
            assert_int_equal(r->a.days_past_due, a.days_past_due);
            assert_string_equal(r->a.status, a.status);
        }
    }
    e = lw_store_last_fix(s, r->c.device, &f);
    assert_int_equal(r->has_fix, e == LW_OK);
    if (r->has_fix) {
        assert_int_equal(r->fix.fix_time_ms, f.fix_time_ms);
        assert_int_equal(r->fix.recv_time_ms, f.recv_time_ms);
        assert_true(r->fix.lat_deg == f.lat_deg);
        assert_true(r->fix.lon_deg == f.lon_deg);
        assert_true(r->fix.accuracy_m == f.accuracy_m);
        assert_true(isnan(r->fix.speed_mps) && isnan(f.speed_mps));
        assert_int_equal(r->fix.battery_pct, f.battery_pct);
        assert_int_equal(r->fix.trigger, f.trigger);
        assert_string_equal(r->fix.device, f.device);
    }
    e = lw_store_device_get(s, r->c.device, &di);
    assert_int_equal(r->last_heard_ms, e == LW_OK ? di.last_heard_ms : 0);
    assert_int_equal(lw_registry_alerts(s, &af, count_open, &open), LW_OK);
    assert_int_equal(r->open_alerts, open);
    if (viewer)
        (void)lw_case_active(s, viewer, r->c.device, now_ms, &cid);
    assert_int_equal(r->viewer_case_id, cid);
}

static void test_cases(void **state)
{
    struct lw_store *s = fixture();
    struct lw_case_filter f = {.open_only = true, .now_ms = T0 + HOUR};
    struct lw_case c;
    struct rows rs = {0};
    int64_t a1, a2, b1, gone;

    (void)state;
    a1 = open_case(s, "car/1", "alice", T0 + 72 * HOUR);
    a2 = open_case(s, "car/2", "alice", T0 + 72 * HOUR);
    b1 = open_case(s, "car/1", "bob", T0 + 72 * HOUR);
    gone = open_case(s, "car/5", "bob", T0 + HOUR / 2); /* expired by then */
    (void)gone;
    assert_int_equal(lw_case_close(s, open_case(s, "car/5", "alice",
                                                T0 + 72 * HOUR),
                                   LW_CASE_CANCELLED, NULL, &BY, T0),
                     LW_OK);

    /* everyone's, seen by alice: her own case for car/1 also on bob's row */
    assert_int_equal(lw_listing_cases(s, &f, "alice", collect, &rs), LW_OK);
    assert_int_equal(rs.n, 3);
    assert_int_equal(rs.r[0].c.id, a1);
    assert_int_equal(rs.r[1].c.id, a2);
    assert_int_equal(rs.r[2].c.id, b1);
    assert_int_equal(rs.r[2].viewer_case_id, a1);
    assert_int_equal(lw_case_get(s, a1, &c), LW_OK);
    assert_string_equal(rs.r[0].c.reason, c.reason);
    assert_int_equal(rs.r[0].c.expires_ms, c.expires_ms);
    assert_string_equal(rs.r[0].c.agent, "alice");
    assert_int_equal(rs.r[0].open_alerts, 2);
    assert_false(rs.r[1].has_fix);
    for (int i = 0; i < rs.n; i++)
        same_as_lookups(s, &rs.r[i], "alice", f.now_ms);

    /* bob's only, no viewer */
    memset(&rs, 0, sizeof(rs));
    f.agent = "bob";
    assert_int_equal(lw_listing_cases(s, &f, NULL, collect, &rs), LW_OK);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].c.id, b1);
    same_as_lookups(s, &rs.r[0], NULL, f.now_ms);

    /* one device */
    memset(&rs, 0, sizeof(rs));
    f.agent = NULL;
    f.device = "car/2";
    assert_int_equal(lw_listing_cases(s, &f, "bob", collect, &rs), LW_OK);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.r[0].viewer_case_id, 0);
    assert_int_equal(lw_listing_cases(NULL, &f, NULL, collect, &rs),
                     LW_ERR_INVAL);
    assert_int_equal(lw_listing_cases(s, &f, NULL, NULL, &rs), LW_ERR_INVAL);
    lw_store_close(s);
}

static void test_watched(void **state)
{
    struct lw_store *s = fixture();
    struct rows rs = {0};
    int64_t a1;

    (void)state;
    account(s, "A2", 31, "paid_off"); /* ended: never watched */
    a1 = open_case(s, "car/1", "alice", T0 + 72 * HOUR);
    assert_int_equal(lw_listing_watched(s, THRESHOLD, "alice", T0, collect,
                                        &rs),
                     LW_OK);
    /* A1 (45) and A5 (90); A2 ended, A3 current, car/6's account unknown */
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.r[0].c.device, "car/1");
    assert_string_equal(rs.r[1].c.device, "car/5");
    assert_int_equal(rs.r[0].c.id, 0);
    assert_int_equal(rs.r[0].viewer_case_id, a1);
    for (int i = 0; i < rs.n; i++) {
        assert_true(lw_access_account_watched(rs.r[i].a.days_past_due,
                                              rs.r[i].a.status, THRESHOLD));
        same_as_lookups(s, &rs.r[i], "alice", T0);
    }
    /* a threshold of 60 leaves A5 alone; below 1 counts as 1 */
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(lw_listing_watched(s, 60, NULL, T0, collect, &rs), LW_OK);
    assert_int_equal(rs.n, 1);
    assert_string_equal(rs.r[0].c.device, "car/5");
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(lw_listing_watched(s, 0, NULL, T0, collect, &rs), LW_OK);
    assert_int_equal(rs.n, 2);
    lw_store_close(s);
}

static int stop_first(void *ctx, const struct lw_listing_row *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 1;
}

static void test_stop(void **state)
{
    struct lw_store *s = fixture();
    int n = 0;

    (void)state;
    assert_int_equal(lw_listing_watched(s, 1, NULL, T0, stop_first, &n), LW_OK);
    assert_int_equal(n, 1);
    lw_store_close(s);
}

static void test_append_many(void **state)
{
    struct lw_store *s = fixture();
    struct lw_audit_rec recs[50];
    struct lw_audit_head before, after;
    struct lw_audit_verdict v;
    char devs[50][16];

    (void)state;
    assert_int_equal(lw_audit_head(s, &before), LW_OK);
    for (int i = 0; i < 50; i++) {
        snprintf(devs[i], sizeof(devs[i]), "car/%d", i);
        recs[i] = (struct lw_audit_rec){.at_ms = T0, .who = "ops1",
                                        .action = "web cases",
                                        .device = devs[i], .role = "ops",
                                        .via = "web", .basis = "watched"};
    }
    assert_int_equal(lw_audit_append_many(s, recs, 50), LW_OK);
    assert_int_equal(lw_audit_head(s, &after), LW_OK);
    assert_int_equal(after.id, before.id + 50);
    assert_int_equal(lw_audit_verify(s, NULL, &v), LW_OK);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    /* one bad record: none of them */
    recs[7].action = "";
    assert_int_equal(lw_audit_append_many(s, recs, 50), LW_ERR_INVAL);
    assert_int_equal(lw_audit_head(s, &before), LW_OK);
    assert_int_equal(before.id, after.id);
    /* inside the caller's transaction, rolled back by the caller */
    recs[7].action = "web cases";
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_audit_append_many(s, recs, 50), LW_OK);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(lw_audit_head(s, &before), LW_OK);
    assert_int_equal(before.id, after.id);
    assert_int_equal(lw_audit_append_many(s, recs, 0), LW_OK);
    assert_int_equal(lw_audit_append_many(s, NULL, 1), LW_ERR_INVAL);
    assert_int_equal(lw_audit_verify(s, NULL, &v), LW_OK);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    lw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_watched),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_append_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
