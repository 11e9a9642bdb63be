/*
 * test_schema.c - cmocka tests of lib/schema.c: every old schema version
 * upgraded to today's, from databases the old code wrote.
 *
 * tests/fixtures/schema-vN.sql is a database of schema version N written
 * by the commit that introduced N (tests/fixtures/mkfixture.c through
 * make-fixtures.sh) and dumped as SQL. Each test loads one into a temporary
 * file, checks that readers refuse it until it is upgraded, opens it as the
 * daemon does (which migrates it), and checks every row the old code wrote:
 * devices, history, last-known fixes, counters and the audit trail (1);
 * vehicles, accounts, a geofence through the R*Tree and alerts with their
 * lifecycle (2); the outbox and an alert held for a digest (3); the audit
 * records chained in id order by migration 5, which the triggers then keep
 * from being changed or deleted, and the next record chaining to them.
 * Then the upgraded store is written to (old fixes are duplicates, new ones
 * newest or late) and pruned. A migration that fails leaves the file as it
 * was.
 *
 * The fixtures are found in $LW_FIXTURE_DIR, or tests/fixtures from the
 * directory the tests run in (tests/run-unit.sh: the top of the tree).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lienwatch/audit.h"
#include "lienwatch/outbox.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

/* 2026-11-23T00:00:00Z: mkfixture.c's T0. */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)
/* Fixes the fixtures hold: four of car/1 (one late), one of car/2. */
#define FIXTURE_FIXES 5

#define TMPDB_TAG "schema"
#include "tmpdb.h"

/* Loads tests/fixtures/schema-v<version>.sql into a new database at path. */
static void load_fixture(int version, const char *path)
{
    const char *dir = getenv("LW_FIXTURE_DIR");
    char file[512], *sql, *msg = NULL;
    sqlite3 *db = NULL;
    long n;
    FILE *fp;

    snprintf(file, sizeof(file), "%s/schema-v%d.sql",
             dir && dir[0] ? dir : "tests/fixtures", version);
    fp = fopen(file, "rb");
    if (!fp)
        fail_msg("cannot open %s (run from the top of the tree or set "
                 "LW_FIXTURE_DIR)",
                 file);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    sql = malloc((size_t)n + 1);
    assert_non_null(sql);
    assert_int_equal(fread(sql, 1, (size_t)n, fp), (size_t)n);
    sql[n] = '\0';
    fclose(fp);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", file, msg ? msg : "?");
    free(sql);
    sqlite3_close(db);
}

/* One integer from a query on the file, without the store. */
static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static struct lw_fix mkfix(const char *dev, int64_t t, double lat, double lon)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", dev);
    f.fix_time_ms = t;
    f.recv_time_ms = t + 2 * SEC;
    f.lat_deg = lat;
    f.lon_deg = lon;
    return f;
}

/* The fixes mkfixture.c wrote, in fix-time order per device. */
static void fixture_fixes(struct lw_fix car1[4], struct lw_fix *car2)
{
    car1[0] = mkfix("car/1", T0, 45.0, 7.0);
    car1[1] = mkfix("car/1", T0 + 30 * SEC, 45.0005, 7.001);
    car1[1].recv_time_ms = T0 + 300 * SEC; /* the late one */
    car1[2] = mkfix("car/1", T0 + 60 * SEC, 45.001, 7.002);
    car1[2].speed_mps = 12.5;
    car1[2].course_deg = 270.0;
    car1[2].accuracy_m = 4.0;
    car1[2].alt_m = 250.0;
    car1[2].battery_pct = 77;
    car1[2].trigger = 'p';
    car1[3] = mkfix("car/1", T0 + 120 * SEC, 45.002, 7.004);
    car1[3].battery_pct = 76;
    *car2 = mkfix("car/2", T0 + 10 * SEC, -33.9, 18.4);
    car2->trigger = 'u';
}

static void assert_same_opt(double got, double want)
{
    if (isnan(want))
        assert_true(isnan(got));
    else
        assert_true(got == want);
}

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

/* ---- collectors -----------------------------------------------------------
 */

struct fixes {
    int n;              /* fixes seen */
    struct lw_fix f[8]; /* the first 8 */
};

static int fix_cb(void *ctx, const struct lw_fix *f)
{
    struct fixes *h = ctx;

    if (h->n < 8)
        h->f[h->n] = *f;
    h->n++;
    return 0;
}

static struct fixes history(struct lw_store *s, const char *dev)
{
    struct fixes h = {0};

    assert_int_equal(lw_store_history(s, dev, INT64_MIN, INT64_MAX, fix_cb, &h),
                     LW_OK);
    return h;
}

struct counters {
    int n;            /* counters seen */
    char name[4][32]; /* their names */
    int64_t value[4]; /* their values */
};

static int counter_cb(void *ctx, const char *name, int64_t value)
{
    struct counters *c = ctx;

    if (c->n < 4) {
        snprintf(c->name[c->n], sizeof(c->name[0]), "%s", name);
        c->value[c->n] = value;
    }
    c->n++;
    return 0;
}

struct audits {
    int n;                      /* records seen */
    struct lw_audit_entry a[4]; /* their fixed fields */
    char text[4][4][64];        /* who, action, device, reason ("(null)") */
};

static int audit_cb(void *ctx, const struct lw_audit_entry *a)
{
    struct audits *v = ctx;

    if (v->n < 4) {
        const char *t[4] = {a->who, a->action, a->device, a->reason};

        v->a[v->n] = *a;
        for (int i = 0; i < 4; i++)
            snprintf(v->text[v->n][i], sizeof(v->text[0][0]), "%s",
                     t[i] ? t[i] : "(null)");
    }
    v->n++;
    return 0;
}

struct alerts {
    int n;                    /* alerts seen */
    struct lw_alert_row r[4]; /* the first 4 */
};

static int alert_cb(void *ctx, const struct lw_alert_row *r)
{
    struct alerts *a = ctx;

    if (a->n < 4)
        a->r[a->n] = *r;
    a->n++;
    return 0;
}

struct fences {
    int n;                /* fences seen */
    struct lw_geofence g; /* the first (geojson not kept) */
    char geojson[512];    /* its GeoJSON */
};

static int fence_cb(void *ctx, const struct lw_geofence *g)
{
    struct fences *f = ctx;

    if (f->n == 0) {
        f->g = *g;
        f->g.geojson = NULL;
        snprintf(f->geojson, sizeof(f->geojson), "%s", g->geojson);
    }
    f->n++;
    return 0;
}

struct mails {
    int n;                  /* rows seen */
    int64_t alert_id[4];    /* their alerts */
    char recipient[4][64];  /* their recipients */
    char message_id[4][96]; /* their Message-IDs */
    int state[4];           /* their states */
};

static int mail_cb(void *ctx, const struct lw_outbox_row *r)
{
    struct mails *m = ctx;

    if (m->n < 4) {
        m->alert_id[m->n] = r->alert_id;
        snprintf(m->recipient[m->n], sizeof(m->recipient[0]), "%s",
                 r->recipient);
        snprintf(m->message_id[m->n], sizeof(m->message_id[0]), "%s",
                 r->message_id);
        m->state[m->n] = r->state;
    }
    m->n++;
    return 0;
}

struct held {
    int n;                   /* held alerts seen */
    struct lw_outbox_held h; /* the first */
};

static int held_cb(void *ctx, const struct lw_outbox_held *h)
{
    struct held *v = ctx;

    if (v->n == 0)
        v->h = *h;
    v->n++;
    return 0;
}

/* ---- what each version holds ----------------------------------------------
 */

/* Schema 1's rows: devices, history, last-known fixes, counters, audit. */
static void check_v1_rows(struct lw_store *s)
{
    struct lw_fix car1[4], car2, got;
    struct lw_device_info d;
    struct counters c = {0};
    struct audits a = {0};
    struct fixes h;

    fixture_fixes(car1, &car2);
    assert_int_equal(lw_store_device_get(s, "car/1", &d), LW_OK);
    assert_int_equal(d.first_heard_ms, T0 + 2 * SEC);
    assert_int_equal(d.last_heard_ms, T0 + 300 * SEC);
    assert_int_equal(d.last_fix_ms, T0 + 120 * SEC);
    assert_int_equal(d.fixes, 4);
    assert_int_equal(lw_store_device_get(s, "car/2", &d), LW_OK);
    assert_int_equal(d.fixes, 1);
    assert_int_equal(lw_store_device_get(s, "quiet/3", &d), LW_OK);
    assert_int_equal(d.first_heard_ms, T0 + 5 * SEC);
    assert_int_equal(d.last_fix_ms, 0);
    assert_int_equal(d.fixes, 0);

    h = history(s, "car/1");
    assert_int_equal(h.n, 4);
    for (int i = 0; i < 4; i++)
        assert_same_fix(&h.f[i], &car1[i]);
    h = history(s, "car/2");
    assert_int_equal(h.n, 1);
    assert_same_fix(&h.f[0], &car2);
    assert_int_equal(history(s, "quiet/3").n, 0);

    assert_int_equal(lw_store_last_fix(s, "car/1", &got), LW_OK);
    assert_same_fix(&got, &car1[3]);
    assert_int_equal(lw_store_last_fix(s, "car/2", &got), LW_OK);
    assert_same_fix(&got, &car2);
    assert_int_equal(lw_store_last_fix(s, "quiet/3", &got), LW_ERR_NOTFOUND);

    assert_int_equal(lw_store_counters(s, counter_cb, &c), LW_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.name[0], "received");
    assert_int_equal(c.value[0], 7);
    assert_string_equal(c.name[1], "rejected.not_json");
    assert_int_equal(c.value[1], 2);

    assert_int_equal(lw_audit_list(s, NULL, audit_cb, &a), LW_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.a[0].id, 1);
    assert_int_equal(a.a[0].at_ms, T0 + 400 * SEC);
    assert_string_equal(a.text[0][0], "alice");
    assert_string_equal(a.text[0][1], "locate");
    assert_string_equal(a.text[0][2], "car/1");
    assert_string_equal(a.text[0][3], "alert 1: it's gone");
    assert_string_equal(a.text[1][0], "bob");
    assert_string_equal(a.text[1][2], "(null)");
    assert_string_equal(a.text[1][3], "(null)");
}

/* Schema 2's rows: vehicles, accounts, the fence (R*Tree), alerts. */
static void check_v2_rows(struct lw_store *s, int version)
{
    struct lw_vehicle v;
    struct lw_account acct;
    struct fences f = {0};
    struct alerts a = {0};
    struct lw_fix car1[4], car2;
    int64_t reg = -1, alv = -1;

    fixture_fixes(car1, &car2);
    assert_int_equal(lw_registry_vehicle_get(s, "car/1", &v), LW_OK);
    assert_string_equal(v.vin, "1HGCM82633A004352");
    assert_string_equal(v.plate, "AB-123-CD");
    assert_string_equal(v.description, "Fiat Panda, red");
    assert_string_equal(v.account, "L-100");
    assert_int_equal(v.offline_after_ms, 7200 * SEC);
    assert_int_equal(v.registered_ms, T0 + SEC);
    assert_int_equal(lw_registry_vehicle_get(s, "car/2", &v), LW_OK);
    assert_string_equal(v.plate, "CA 123-456");
    assert_string_equal(v.vin, "");
    assert_int_equal(lw_registry_account_get(s, "L-100", &acct), LW_OK);
    assert_int_equal(acct.days_past_due, 45);
    assert_string_equal(acct.status, "delinquent");
    assert_string_equal(acct.source, "cli");
    assert_int_equal(lw_registry_account_get(s, "L-200", &acct), LW_OK);
    assert_int_equal(acct.days_past_due, 0);
    assert_string_equal(acct.source, "mqtt");

    /* the fence, found through the R*Tree of the old file */
    assert_int_equal(lw_registry_fences_at(s, 45.0, 7.0, fence_cb, &f), LW_OK);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.g.id, 1);
    assert_string_equal(f.g.name, "home");
    assert_int_equal(f.g.kind, LW_FENCE_KEEP_IN);
    assert_string_equal(f.g.link_account, "L-100");
    assert_true(f.g.min_lat <= 44.9 && f.g.max_lat >= 45.1);
    assert_non_null(strstr(f.geojson, "\"Polygon\""));
    f = (struct fences){0};
    assert_int_equal(lw_registry_fences_at(s, 46.0, 7.0, fence_cb, &f), LW_OK);
    assert_int_equal(f.n, 0);

    assert_int_equal(lw_registry_alerts(s, NULL, alert_cb, &a), LW_OK);
    assert_true(a.n >= 2);
    assert_int_equal(a.r[0].id, 1);
    assert_int_equal(a.r[0].a.kind, LW_ALERT_GEOFENCE_EXIT);
    assert_string_equal(a.r[0].a.device, "car/1");
    assert_string_equal(a.r[0].a.fence, "home");
    assert_int_equal(a.r[0].a.fence_tag, 1);
    assert_int_equal(a.r[0].a.raised_ms, T0 + 130 * SEC);
    assert_true(a.r[0].a.has_fix);
    assert_int_equal(a.r[0].a.fix.fix_time_ms, car1[3].fix_time_ms);
    assert_true(a.r[0].a.fix.lat_deg == car1[3].lat_deg);
    assert_int_equal(a.r[0].state, LW_ALERT_OPEN);
    assert_true(a.r[0].published);
    assert_int_equal(a.r[1].a.kind, LW_ALERT_OFFLINE);
    assert_string_equal(a.r[1].a.device, "car/2");
    assert_false(a.r[1].a.has_fix);
    assert_int_equal(a.r[1].a.gap_ms, 3600 * SEC);
    assert_int_equal(a.r[1].state, LW_ALERT_ACKNOWLEDGED);
    assert_string_equal(a.r[1].ack_by, "carol");
    assert_string_equal(a.r[1].ack_note, "called the borrower");
    assert_int_equal(a.r[1].ack_ms, T0 + 3800 * SEC);
    assert_false(a.r[1].published);

    /* the change counters the daemon compares */
    assert_int_equal(lw_registry_version(s, &reg, &alv), LW_OK);
    /* 2 accounts, 2 vehicles, 1 fence (8: 2 more vehicles, 1 removal) */
    assert_int_equal(reg, version >= 8 ? 8 : 5);
    assert_int_equal(alv, 1); /* 1 acknowledgement */
}

struct installs {
    int n;                  /* records seen */
    struct lw_install r[4]; /* the first 4 */
};

static int install_cb(void *ctx, const struct lw_install *r)
{
    struct installs *v = ctx;

    if (v->n < 4)
        v->r[v->n] = *r;
    v->n++;
    return 0;
}

/*
 * Migration 9: every registered vehicle is a vehicle with its device
 * attached: car/1 under its VIN, car/2 (no VIN) alone under an id; from
 * schema 8, car/3 (car/1's VIN typed loosely) in the same vehicle as car/1,
 * and gone/4, removed, detached at its removal. The VIN lookup that found
 * two vehicles before finds one vehicle with two trackers.
 */
static void check_v9_fleet(struct lw_store *s, int version)
{
    struct lw_install r1, r2, r3;
    struct installs all = {0};
    char vin[LW_VIN_MAX + 1];
    int64_t vid = 0;

    assert_int_equal(lw_registry_vehicle_of(s, "car/1", &r1), LW_OK);
    assert_string_equal(r1.vin, "1HGCM82633A004352");
    assert_int_equal(r1.attached_ms, T0 + SEC);
    assert_int_equal(r1.detached_ms, 0);
    assert_string_equal(r1.role, "");
    assert_int_equal(lw_registry_vehicle_of(s, "car/2", &r2), LW_OK);
    assert_string_equal(r2.vin, "");
    assert_true(r2.vehicle_id != r1.vehicle_id);
    assert_int_equal(lw_registry_fleet_find(s, "1hgcm8 2633a004352", &vid, vin),
                     LW_OK);
    assert_int_equal(vid, r1.vehicle_id);
    assert_int_equal(lw_registry_installs(s, vid, false, install_cb, &all),
                     LW_OK);
    if (version < 8) {
        assert_int_equal(all.n, 1);
        assert_int_equal(lw_registry_vehicle_of(s, "car/3", &r3),
                         LW_ERR_NOTFOUND);
        return;
    }
    assert_int_equal(all.n, 2);
    assert_string_equal(all.r[0].device, "car/1");
    assert_string_equal(all.r[1].device, "car/3");
    assert_int_equal(lw_registry_vehicle_of(s, "car/3", &r3), LW_OK);
    assert_int_equal(r3.vehicle_id, r1.vehicle_id);
    assert_int_equal(r3.attached_ms, T0 + 4 * SEC);
    /* the removed tracker: its record kept, detached at its removal */
    assert_int_equal(lw_registry_vehicle_of(s, "gone/4", &r3),
                     LW_ERR_NOTFOUND);
    all = (struct installs){0};
    assert_int_equal(lw_registry_device_installs(s, "gone/4", install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 1);
    assert_int_equal(all.r[0].detached_ms, T0 + 6 * SEC);
    assert_true(all.r[0].vehicle_id != r1.vehicle_id &&
                all.r[0].vehicle_id != r2.vehicle_id);
}

/* Migration 9: a device is in one vehicle at a time, in SQL; a detached
 * record does not count. */
static void check_v9_unique(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO vehicle_devices(vehicle, device, "
                     "attached_ms) VALUES (2, 'car/1', 0)",
                     NULL, NULL, NULL),
        SQLITE_CONSTRAINT);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO vehicle_devices(vehicle, device, "
                     "attached_ms, detached_ms) VALUES (2, 'car/1', 0, 5)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO vehicle_devices(vehicle, "
                                  "device, attached_ms, role) VALUES (2, "
                                  "'new/9', 0, 'glued')",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM vehicle_devices WHERE "
                                      "detached_ms = 5",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

/* Schema 3's rows: one alert mailed to two recipients, one held. */
static void check_v3_rows(struct lw_store *s, const char *tag)
{
    struct mails m = {0};
    struct held h = {0};
    struct alerts a = {0};
    char want[96];
    char *inst = NULL;

    assert_int_equal(lw_outbox_list(s, NULL, mail_cb, &m), LW_OK);
    assert_int_equal(m.n, 2);
    snprintf(want, sizeof(want), "<alert-1.%08llx@example.com>",
             (unsigned long long)strtoll(tag, NULL, 10) & 0xffffffffULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(m.alert_id[i], 1);
        assert_int_equal(m.state[i], LW_OUTBOX_PENDING);
        assert_string_equal(m.message_id[i], want);
    }
    assert_string_equal(m.recipient[0], "ops@example.com");
    assert_string_equal(m.recipient[1], "recovery@example.com");
    assert_int_equal(lw_outbox_held_list(s, held_cb, &h), LW_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.h.alert_id, 3);
    assert_string_equal(h.h.kind, "offline");
    assert_string_equal(h.h.device, "car/1");
    assert_int_equal(h.h.held_ms, T0 + 3751 * SEC);
    assert_int_equal(lw_registry_alerts(s, NULL, alert_cb, &a), LW_OK);
    assert_int_equal(a.n, 3);
    /* the database's mail tag is the one its mail already carries */
    assert_int_equal(lw_store_meta_get(s, "mail_instance", &inst), LW_OK);
    assert_string_equal(inst, tag);
    free(inst);
}

/* The store works on the upgraded file: the old fixes are duplicates, a
 * newer one is the newest, an older new one is late; prune keeps each
 * device's last-known fix. */
static void check_writes(struct lw_store *s)
{
    struct lw_fix car1[4], car2, f, got;
    enum lw_put_result r = 0;
    struct lw_device_info d;
    int64_t deleted = -1;
    struct fixes h;

    fixture_fixes(car1, &car2);
    for (int i = 0; i < 4; i++) {
        f = car1[i];
        f.lat_deg += 1.0; /* a redelivery with other content */
        assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
        assert_int_equal(r, LW_PUT_DUPLICATE);
    }
    assert_int_equal(lw_store_put_fix(s, &car2, &r), LW_OK);
    assert_int_equal(r, LW_PUT_DUPLICATE);
    f = mkfix("car/1", T0 + 180 * SEC, 45.01, 7.01);
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    assert_int_equal(r, LW_PUT_NEWEST);
    assert_int_equal(lw_store_last_fix(s, "car/1", &got), LW_OK);
    assert_same_fix(&got, &f);
    f = mkfix("car/1", T0 + 90 * SEC, 45.0015, 7.003);
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    assert_int_equal(r, LW_PUT_LATE);
    f = mkfix("quiet/3", T0 + 200 * SEC, 1.0, 2.0);
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
    assert_int_equal(r, LW_PUT_NEWEST);
    h = history(s, "car/1");
    assert_int_equal(h.n, 6);
    for (int i = 1; i < h.n; i++)
        assert_true(h.f[i].fix_time_ms > h.f[i - 1].fix_time_ms);
    assert_int_equal(lw_store_device_get(s, "car/1", &d), LW_OK);
    assert_int_equal(d.fixes, 6);

    assert_int_equal(lw_store_prune(s, INT64_MAX, &deleted), LW_OK);
    /* 8 fixes (the 5 old, 3 new) but the 3 last-known ones */
    assert_int_equal(deleted, FIXTURE_FIXES + 3 - 3);
    h = history(s, "car/1");
    assert_int_equal(h.n, 1);
    assert_int_equal(h.f[0].fix_time_ms, T0 + 180 * SEC);
    assert_int_equal(history(s, "car/2").n, 1);
    assert_int_equal(history(s, "quiet/3").n, 1);
}

/* Schema 5: the records written before it are chained, in id order, and
 * can no longer be changed or deleted. */
static void check_v5_chain(const char *path, struct lw_store *s)
{
    struct lw_audit_verdict v;
    sqlite3 *db = NULL;

    assert_int_equal(lw_audit_verify(s, NULL, &v), LW_OK);
    assert_int_equal(v.problem, LW_AUDIT_INTACT);
    assert_int_equal(v.rows, 2);
    assert_int_equal(v.head.id, 2);
    assert_int_equal(query_int(path, "SELECT count(*) FROM audit WHERE "
                                     "length(hash) = 64"),
                     2);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE audit SET who = 'x'", NULL,
                                  NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    sqlite3_close(db);
}

/* ---- the upgrade -----------------------------------------------------------
 */

static void test_upgrade(int version)
{
    struct tmp t;
    struct lw_store *s;
    char err[512] = "", tag[32] = "";
    int flags[] = {LW_STORE_RDONLY, LW_STORE_NOMIGRATE};

    tmp_make(&t);
    load_fixture(version, t.path);
    assert_int_equal(query_int(t.path, "SELECT max(version) FROM "
                                       "schema_version"),
                     version);
    if (version >= 3)
        snprintf(tag, sizeof(tag), "%lld",
                 (long long)query_int(t.path, "SELECT value FROM meta "
                                              "WHERE key = 'mail_instance'"));

    /* readers and side writers use today's queries: an older file is
     * refused, with how to upgrade it */
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char want[64];

        s = NULL;
        err[0] = '\0';
        if (version == LW_STORE_SCHEMA_VERSION) {
            s = open_ok(t.path, flags[i]);
            check_v1_rows(s);
            lw_store_close(s);
            continue;
        }
        assert_int_equal(lw_store_open(&s, t.path, flags[i], err, sizeof(err)),
                         LW_ERR_SCHEMA);
        assert_null(s);
        snprintf(want, sizeof(want), "schema version %d", version);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "start lienwatchd"));
    }
    assert_int_equal(query_int(t.path, "SELECT max(version) FROM "
                                       "schema_version"),
                     version); /* they changed nothing */

    /* the daemon's open upgrades it, in one step per migration */
    s = open_ok(t.path, 0);
    assert_int_equal(lw_store_schema_version(s), LW_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM schema_version"),
                     LW_STORE_SCHEMA_VERSION);
    check_v1_rows(s);
    check_v5_chain(t.path, s);
    if (version >= 2) {
        check_v2_rows(s, version);
        check_v9_fleet(s, version);
        check_v9_unique(t.path);
    } else {
        struct alerts a = {0};
        int64_t reg = -1, alv = -1;

        assert_int_equal(lw_registry_alerts(s, NULL, alert_cb, &a), LW_OK);
        assert_int_equal(a.n, 0);
        assert_int_equal(lw_registry_version(s, &reg, &alv), LW_OK);
        assert_int_equal(reg, 0);
    }
    if (version >= 3) {
        check_v3_rows(s, tag);
    } else {
        struct mails m = {0};
        char *inst = NULL;

        assert_int_equal(lw_outbox_list(s, NULL, mail_cb, &m), LW_OK);
        assert_int_equal(m.n, 0);
        /* migration 3 gave the database its mail tag */
        assert_int_equal(lw_store_meta_get(s, "mail_instance", &inst), LW_OK);
        free(inst);
    }
    lw_store_close(s);

    /* upgraded once: a reader now opens it, a writer migrates nothing */
    s = open_ok(t.path, LW_STORE_RDONLY);
    check_v1_rows(s);
    lw_store_close(s);
    s = open_ok(t.path, 0);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM schema_version"),
                     LW_STORE_SCHEMA_VERSION);
    check_writes(s);
    {
        /* the next record chains to those the migration chained */
        struct lw_audit_verdict v;
        struct lw_audit_head h;

        assert_int_equal(lw_audit_head(s, &h), LW_OK);
        assert_int_equal(lw_audit_add(s, T0, "carol", "locate", "car/1", NULL),
                         LW_OK);
        assert_int_equal(lw_audit_verify(s, &h, &v), LW_OK);
        assert_int_equal(v.problem, LW_AUDIT_INTACT);
        assert_true(v.head_found);
        assert_int_equal(v.rows, 3);
    }
    lw_store_close(s);
    tmp_remove(&t);
}

static void test_upgrade_v1(void **state)
{
    (void)state;
    test_upgrade(1);
}

static void test_upgrade_v2(void **state)
{
    (void)state;
    test_upgrade(2);
}

static void test_upgrade_v3(void **state)
{
    (void)state;
    test_upgrade(3);
}

/* Version 4: its fixes are still in the inbox (fewer than a merge's worth),
 * whose keys the store reads on open. */
static void test_upgrade_v4(void **state)
{
    struct tmp t;

    (void)state;
    tmp_make(&t);
    load_fixture(4, t.path);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM fix_inbox"),
                     FIXTURE_FIXES);
    tmp_remove(&t);
    test_upgrade(4);
}

/* Version 5, written by the commit that introduced it: its audit records
 * were chained as they were appended, and they verify. */
static void test_current_v5(void **state)
{
    (void)state;
    test_upgrade(5);
}

/* Version 8, the last before vehicles with several trackers: two trackers
 * registered with one VIN become one vehicle, a removed one a detached
 * record. */
static void test_upgrade_v8(void **state)
{
    (void)state;
    test_upgrade(8);
}

/*
 * A migration that fails is undone whole: an object in the way of
 * migration 4 leaves the file at version 3 with every row, and the error
 * names the migration and the file.
 */
static void test_failed_migration(void **state)
{
    struct tmp t;
    struct lw_store *s = NULL;
    char err[512] = "";
    sqlite3 *db = NULL;

    (void)state;
    tmp_make(&t);
    load_fixture(3, t.path);
    assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE fix_inbox (x)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(lw_store_open(&s, t.path, 0, err, sizeof(err)), LW_ERR_DB);
    assert_null(s);
    assert_non_null(strstr(err, "migration 4 of"));
    assert_non_null(strstr(err, t.path));
    assert_non_null(strstr(err, "fix_inbox"));
    assert_int_equal(query_int(t.path, "SELECT max(version) FROM "
                                       "schema_version"),
                     3);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM fixes"),
                     FIXTURE_FIXES);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM last_fix"), 2);
    assert_int_equal(query_int(t.path, "SELECT count(*) FROM sqlite_master "
                                       "WHERE name = 'fix_history'"),
                     0);
    /* out of the way, the same file upgrades */
    assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE fix_inbox", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    s = open_ok(t.path, 0);
    check_v1_rows(s);
    lw_store_close(s);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_v1),
        cmocka_unit_test(test_upgrade_v2),
        cmocka_unit_test(test_upgrade_v3),
        cmocka_unit_test(test_upgrade_v4),
        cmocka_unit_test(test_current_v5),
        cmocka_unit_test(test_upgrade_v8),
        cmocka_unit_test(test_failed_migration),
    };

    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
