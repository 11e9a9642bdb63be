/*
 * test_registry.c - cmocka tests of lib/registry.c on ":memory:" and on a
 * temp file.
 *
 * Covers registry.h: vehicles (create, update where "" and < 0 keep the
 * stored value, UTF-8), accounts (an unchanged update is not a registry
 * change), geofences (add, replace by name keeping the id, remove, list,
 * links, lookups through the R*Tree, a caller's transaction), alerts (add,
 * get, every filter, publication, the ack/close lifecycle and its errors),
 * vehicles with several trackers (attach, detach, install records kept,
 * one vehicle per device at a time, vehicle set and remove in step),
 * the two meta versions and PRAGMA data_version seen from a second
 * connection, writes refused on a read-only handle, bad arguments.
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

#include "lienwatch/alertjson.h"
#include "lienwatch/fence.h"
#include "lienwatch/registry.h"
/* the store's connection, to break off a listing (never used otherwise) */
#include "../../lib/store_priv.h"

/* 2026-11-23T00:00:00Z, a plausible base time. */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)
#define HOUR (3600 * SEC)

#define TMPDB_TAG "registry"
#include "tmpdb.h"

static int64_t registry_version(struct lw_store *s)
{
    int64_t r = -1, a = -1;

    assert_int_equal(lw_registry_version(s, &r, &a), LW_OK);
    return r;
}

static int64_t alerts_version(struct lw_store *s)
{
    int64_t r = -1, a = -1;

    assert_int_equal(lw_registry_version(s, &r, &a), LW_OK);
    return a;
}

static struct lw_vehicle mkvehicle(const char *device)
{
    struct lw_vehicle v;

    memset(&v, 0, sizeof(v));
    snprintf(v.device, sizeof(v.device), "%s", device);
    v.offline_after_ms = -1;
    return v;
}

static struct lw_account mkaccount(const char *id, int days, const char *status,
                                   int64_t at)
{
    struct lw_account a;

    memset(&a, 0, sizeof(a));
    snprintf(a.account, sizeof(a.account), "%s", id);
    a.days_past_due = days;
    snprintf(a.status, sizeof(a.status), "%s", status);
    a.updated_ms = at;
    snprintf(a.source, sizeof(a.source), "cli");
    return a;
}

/* ---- vehicles ------------------------------------------------------------ */

/* Collects device ids. */
struct names {
    int n;           /* seen */
    char v[16][160]; /* the first 16 */
    int stop_after;  /* stop after this many (0 = never) */
};

static int vehicle_name_cb(void *ctx, const struct lw_vehicle *v)
{
    struct names *n = ctx;

    if (n->n < 16)
        snprintf(n->v[n->n], sizeof(n->v[0]), "%s", v->device);
    n->n++;
    return n->stop_after && n->n >= n->stop_after;
}

static void test_vehicle_set_get(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v = mkvehicle("alice/phone"), got;
    /* "white Toyota Corolla, Beijing plate" in Chinese: 3-byte UTF-8 */
    static const char zh[] = "白色丰田卡罗拉，京A·12345";

    (void)state;
    assert_int_equal(lw_registry_vehicle_get(s, "alice/phone", &got),
                     LW_ERR_NOTFOUND);
    snprintf(v.vin, sizeof(v.vin), "1HGCM82633A004352");
    snprintf(v.plate, sizeof(v.plate), "B-LW 123");
    snprintf(v.description, sizeof(v.description), "%s", zh);
    snprintf(v.account, sizeof(v.account), "ACC-1");
    v.offline_after_ms = 2 * HOUR;
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    assert_int_equal(lw_registry_vehicle_get(s, "alice/phone", &got), LW_OK);
    assert_string_equal(got.device, "alice/phone");
    assert_string_equal(got.vin, "1HGCM82633A004352");
    assert_string_equal(got.plate, "B-LW 123");
    assert_string_equal(got.description, zh);
    assert_string_equal(got.account, "ACC-1");
    assert_int_equal(got.offline_after_ms, 2 * HOUR);
    assert_int_equal(got.registered_ms, T0);
    assert_int_equal(got.updated_ms, T0);

    /* an update giving only the plate keeps everything else */
    v = mkvehicle("alice/phone");
    snprintf(v.plate, sizeof(v.plate), "B-LW 999");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + HOUR), LW_OK);
    assert_int_equal(lw_registry_vehicle_get(s, "alice/phone", &got), LW_OK);
    assert_string_equal(got.plate, "B-LW 999");
    assert_string_equal(got.vin, "1HGCM82633A004352");
    assert_string_equal(got.description, zh);
    assert_string_equal(got.account, "ACC-1");
    assert_int_equal(got.offline_after_ms, 2 * HOUR);
    assert_int_equal(got.registered_ms, T0);
    assert_int_equal(got.updated_ms, T0 + HOUR);

    /* 0 is a value (back to the daemon's default), not "keep" */
    v = mkvehicle("alice/phone");
    v.offline_after_ms = 0;
    snprintf(v.account, sizeof(v.account), "ACC-2");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 2 * HOUR), LW_OK);
    assert_int_equal(lw_registry_vehicle_get(s, "alice/phone", &got), LW_OK);
    assert_int_equal(got.offline_after_ms, 0);
    assert_string_equal(got.account, "ACC-2");
    assert_string_equal(got.plate, "B-LW 999");

    /* created with "keep" values: empty strings, allowance 0 */
    v = mkvehicle("bob/car");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 5), LW_OK);
    assert_int_equal(lw_registry_vehicle_get(s, "bob/car", &got), LW_OK);
    assert_string_equal(got.vin, "");
    assert_string_equal(got.account, "");
    assert_int_equal(got.offline_after_ms, 0);
    assert_int_equal(got.registered_ms, T0 + 5);
    lw_store_close(s);
}

/* ---- vehicles with several trackers -------------------------------------- */

struct installs {
    int n;                  /* records seen */
    struct lw_install r[8]; /* the first 8 */
};

static int install_cb(void *ctx, const struct lw_install *r)
{
    struct installs *v = ctx;

    if (v->n < 8)
        v->r[v->n] = *r;
    v->n++;
    return 0;
}

static int removed_cb_impl(void *ctx, const char *device)
{
    struct installs *v = ctx;

    (void)device;
    v->n++;
    return 0;
}

static struct lw_install mkinstall(const char *device, const char *role)
{
    struct lw_install in;

    memset(&in, 0, sizeof(in));
    snprintf(in.device, sizeof(in.device), "%s", device);
    snprintf(in.role, sizeof(in.role), "%s", role);
    return in;
}

/* Attach two trackers to one VIN: one vehicle, the second takes the
 * first's plate, description and account; the records in order. */
static void test_attach_two(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v = mkvehicle("car/wired"), got;
    struct lw_install in, out, cur;
    struct installs all = {0};
    int64_t vid = 0, reg;
    char vin[LW_VIN_MAX + 1];

    (void)state;
    snprintf(v.vin, sizeof(v.vin), "1HGCM82633A004352");
    snprintf(v.plate, sizeof(v.plate), "B-LW 123");
    snprintf(v.description, sizeof(v.description), "white Corolla");
    snprintf(v.account, sizeof(v.account), "ACC-1");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    /* vehicle set attached it under its VIN */
    assert_int_equal(lw_registry_vehicle_of(s, "car/wired", &cur), LW_OK);
    assert_string_equal(cur.vin, "1HGCM82633A004352");
    assert_int_equal(cur.attached_ms, T0);

    reg = registry_version(s);
    in = mkinstall("car/hidden", "hidden");
    in.installed_ms = T0 - 24 * HOUR;
    snprintf(in.installer, sizeof(in.installer), "Garage Nord");
    snprintf(in.disclosure_signed, sizeof(in.disclosure_signed), "2026-11-01");
    /* typed loosely: the same vehicle */
    assert_int_equal(
        lw_registry_attach(s, "1hgcm8-2633a 004352", &in, T0 + HOUR, &out),
        LW_OK);
    assert_int_equal(out.vehicle_id, cur.vehicle_id);
    assert_string_equal(out.role, "hidden");
    assert_int_equal(out.installed_ms, T0 - 24 * HOUR);
    assert_string_equal(out.installer, "Garage Nord");
    assert_string_equal(out.disclosure_signed, "2026-11-01");
    assert_int_equal(out.attached_ms, T0 + HOUR);
    assert_int_equal(out.detached_ms, 0);
    assert_true(registry_version(s) > reg);
    /* registered by the attach, with the vehicle's plate and account */
    assert_int_equal(lw_registry_vehicle_get(s, "car/hidden", &got), LW_OK);
    assert_string_equal(got.vin, "1HGCM82633A004352");
    assert_string_equal(got.plate, "B-LW 123");
    assert_string_equal(got.description, "white Corolla");
    assert_string_equal(got.account, "ACC-1");

    assert_int_equal(lw_registry_fleet_find(s, "1HGCM82633A004352", &vid, vin),
                     LW_OK);
    assert_int_equal(vid, cur.vehicle_id);
    assert_int_equal(lw_registry_installs(s, vid, true, install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.r[0].device, "car/wired");
    assert_string_equal(all.r[1].device, "car/hidden");

    /* a device is in one vehicle at a time */
    in = mkinstall("car/hidden", "");
    assert_int_equal(lw_registry_attach(s, "WVWZZZ1JZXW000001", &in,
                                        T0 + 2 * HOUR, NULL),
                     LW_ERR_EXISTS);
    assert_non_null(strstr(lw_store_errmsg(s), "1HGCM82633A004352"));
    assert_int_equal(lw_registry_attach(s, "1HGCM82633A004352", &in,
                                        T0 + 2 * HOUR, NULL),
                     LW_ERR_EXISTS);
    assert_non_null(strstr(lw_store_errmsg(s), "already in"));
    /* the refused attach to a new VIN left no vehicle behind */
    assert_int_equal(lw_registry_fleet_find(s, "WVWZZZ1JZXW000001", &vid, vin),
                     LW_ERR_NOTFOUND);
    lw_store_close(s);
}

/* Detach keeps the record; the device may then go to another vehicle; the
 * history of records is kept in order. */
static void test_detach_keeps_records(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_install in = mkinstall("trk/1", "wired"), out;
    struct installs all = {0};
    struct lw_vehicle got;
    int64_t vid = 0, vid2 = 0;
    char vin[LW_VIN_MAX + 1];

    (void)state;
    in.installed_ms = T0;
    assert_int_equal(lw_registry_attach(s, "VIN-A-1", &in, T0, &out), LW_OK);
    vid = out.vehicle_id;
    /* not in that vehicle, not a vehicle, before its install */
    assert_int_equal(
        lw_registry_detach(s, "VIN-A-1", "trk/2", T0 + HOUR, T0 + HOUR, NULL),
        LW_ERR_NOTFOUND);
    assert_int_equal(
        lw_registry_detach(s, "NOPE", "trk/1", T0 + HOUR, T0 + HOUR, NULL),
        LW_ERR_NOTFOUND);
    assert_int_equal(
        lw_registry_detach(s, "VIN-A-1", "trk/1", T0 - HOUR, T0 + HOUR, NULL),
        LW_ERR_RANGE);
    assert_int_equal(lw_registry_detach(s, "vina1", "trk/1", T0 + 2 * HOUR,
                                        T0 + 3 * HOUR, &out),
                     LW_OK);
    assert_int_equal(out.detached_ms, T0 + 2 * HOUR);
    assert_int_equal(lw_registry_vehicle_of(s, "trk/1", &out),
                     LW_ERR_NOTFOUND);
    /* the registry row no longer names that VIN */
    assert_int_equal(lw_registry_vehicle_get(s, "trk/1", &got), LW_OK);
    assert_string_equal(got.vin, "");
    /* twice: not in it any more */
    assert_int_equal(lw_registry_detach(s, "VIN-A-1", "trk/1", T0 + 3 * HOUR,
                                        T0 + 3 * HOUR, NULL),
                     LW_ERR_NOTFOUND);
    /* into another vehicle, then back */
    in = mkinstall("trk/1", "hidden");
    assert_int_equal(
        lw_registry_attach(s, "VIN-B-2", &in, T0 + 4 * HOUR, &out), LW_OK);
    vid2 = out.vehicle_id;
    assert_true(vid2 != vid);
    assert_int_equal(lw_registry_detach(s, "VIN-B-2", "trk/1", T0 + 5 * HOUR,
                                        T0 + 5 * HOUR, NULL),
                     LW_OK);
    in = mkinstall("trk/1", "");
    assert_int_equal(lw_registry_attach(s, LW_FLEET_ID_PREFIX "1", &in,
                                        T0 + 6 * HOUR, &out),
                     LW_OK);
    assert_int_equal(out.vehicle_id, vid);
    assert_string_equal(out.vin, "VINA1");
    assert_int_equal(lw_registry_installs(s, vid, false, install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 2); /* now, then the past one */
    assert_int_equal(all.r[0].detached_ms, 0);
    assert_int_equal(all.r[0].attached_ms, T0 + 6 * HOUR);
    assert_int_equal(all.r[1].detached_ms, T0 + 2 * HOUR);
    assert_string_equal(all.r[1].role, "wired");
    all = (struct installs){0};
    assert_int_equal(lw_registry_device_installs(s, "trk/1", install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 3);
    assert_int_equal(all.r[1].vehicle_id, vid2);
    assert_int_equal(lw_registry_fleet_find(s, LW_FLEET_ID_PREFIX "99", &vid,
                                            vin),
                     LW_ERR_NOTFOUND);
    in = mkinstall("trk/9", "");
    assert_int_equal(lw_registry_attach(s, LW_FLEET_ID_PREFIX "99", &in,
                                        T0 + 6 * HOUR, NULL),
                     LW_ERR_NOTFOUND);
    lw_store_close(s);
}

/* vehicle set keeps the install records in step: a new device without a
 * VIN gets a vehicle of its own, which learns the VIN when it is set; a
 * device moved to another VIN is moved, the old record kept; remove ends
 * the record. */
static void test_vehicle_set_fleet(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v = mkvehicle("solo/1");
    struct lw_install r, r2, in;
    struct installs all = {0};
    bool registered = false;

    (void)state;
    snprintf(v.plate, sizeof(v.plate), "P 1");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "solo/1", &r), LW_OK);
    assert_string_equal(r.vin, "");
    /* an update without a VIN changes nothing */
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 1), LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "solo/1", &r2), LW_OK);
    assert_int_equal(r2.id, r.id);
    /* the vehicle learns its VIN */
    v = mkvehicle("solo/1");
    snprintf(v.vin, sizeof(v.vin), "abc 123");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 2), LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "solo/1", &r2), LW_OK);
    assert_int_equal(r2.id, r.id);
    assert_string_equal(r2.vin, "ABC123");
    /* a VIN another vehicle has: moved there, the old record kept */
    in = mkinstall("other/2", "wired");
    assert_int_equal(lw_registry_attach(s, "XYZ 9", &in, T0 + 3, NULL), LW_OK);
    v = mkvehicle("solo/1");
    snprintf(v.vin, sizeof(v.vin), "XYZ9");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 4), LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "solo/1", &r2), LW_OK);
    assert_string_equal(r2.vin, "XYZ9");
    assert_int_equal(lw_registry_device_installs(s, "solo/1", install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 2);
    assert_int_equal(all.r[1].id, r.id);
    assert_int_equal(all.r[1].detached_ms, T0 + 4);
    /* a tracker registered without a VIN is alone in a vehicle of its
     * own: attaching it elsewhere moves it (that record ends) */
    v = mkvehicle("bare/5");
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0 + 4), LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "bare/5", &r), LW_OK);
    assert_string_equal(r.vin, "");
    in = mkinstall("bare/5", "hidden");
    assert_int_equal(lw_registry_attach(s, "XYZ9", &in, T0 + 5, &r2), LW_OK);
    assert_string_equal(r2.vin, "XYZ9");
    all = (struct installs){0};
    assert_int_equal(lw_registry_device_installs(s, "bare/5", install_cb, &all),
                     LW_OK);
    assert_int_equal(all.n, 2);
    assert_int_equal(all.r[1].id, r.id);
    assert_int_equal(all.r[1].detached_ms, T0 + 5);
    /* but not out of a vehicle with a VIN */
    in = mkinstall("bare/5", "");
    assert_int_equal(lw_registry_attach(s, "ABC123", &in, T0 + 6, NULL),
                     LW_ERR_EXISTS);
    all = (struct installs){0};
    /* removing the tracker ends its record */
    assert_int_equal(
        lw_registry_vehicle_remove(s, "solo/1", false, T0 + 5, &registered),
        LW_OK);
    assert_int_equal(lw_registry_vehicle_of(s, "solo/1", &r2),
                     LW_ERR_NOTFOUND);
    /* attaching it again puts it back in service (no longer removed) */
    in = mkinstall("solo/1", "");
    assert_int_equal(lw_registry_attach(s, "XYZ9", &in, T0 + 6, NULL), LW_OK);
    all = (struct installs){0};
    assert_int_equal(lw_registry_removed(s, removed_cb_impl, &all), LW_OK);
    assert_int_equal(all.n, 0);
    lw_store_close(s);
}

struct merged {
    int n;           /* fixes seen */
    char dev[8][LW_DEVICE_MAX + 1]; /* their devices */
    int64_t t[8];    /* their times */
};

static int merged_cb(void *ctx, const struct lw_fix *f)
{
    struct merged *m = ctx;

    if (m->n < 8) {
        snprintf(m->dev[m->n], sizeof(m->dev[0]), "%s", f->device);
        m->t[m->n] = f->fix_time_ms;
    }
    m->n++;
    return 0;
}

static void put_at(struct lw_store *s, const char *dev, int64_t t)
{
    struct lw_fix f;
    enum lw_put_result r;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", dev);
    f.fix_time_ms = t;
    f.recv_time_ms = t;
    f.lat_deg = 45.0;
    f.lon_deg = 7.0;
    assert_int_equal(lw_store_put_fix(s, &f, &r), LW_OK);
}

/* A vehicle's history: its devices' fixes merged by time, each device's
 * only while it was in the vehicle. */
static void test_vehicle_history(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_install in = mkinstall("w/1", "wired"), out;
    struct merged m = {0};
    int64_t vid;

    (void)state;
    assert_int_equal(lw_registry_attach(s, "VV1", &in, T0, &out), LW_OK);
    vid = out.vehicle_id;
    in = mkinstall("h/2", "hidden");
    in.installed_ms = T0 + 15 * SEC;
    assert_int_equal(lw_registry_attach(s, "VV1", &in, T0, NULL), LW_OK);
    put_at(s, "w/1", T0 + 10 * SEC);
    put_at(s, "h/2", T0 + 12 * SEC); /* before its install: not this car */
    put_at(s, "h/2", T0 + 20 * SEC);
    put_at(s, "w/1", T0 + 30 * SEC);
    put_at(s, "h/2", T0 + 30 * SEC);
    put_at(s, "h/2", T0 + 50 * SEC);
    put_at(s, "other/3", T0 + 40 * SEC);
    assert_int_equal(lw_registry_detach(s, "VV1", "h/2", T0 + 40 * SEC,
                                        T0 + 60 * SEC, NULL),
                     LW_OK);
    assert_int_equal(lw_registry_vehicle_history(s, vid, INT64_MIN, INT64_MAX,
                                                 merged_cb, &m),
                     LW_OK);
    assert_int_equal(m.n, 4);
    assert_string_equal(m.dev[0], "w/1");
    assert_int_equal(m.t[0], T0 + 10 * SEC);
    assert_string_equal(m.dev[1], "h/2");
    assert_int_equal(m.t[1], T0 + 20 * SEC);
    assert_string_equal(m.dev[2], "h/2"); /* same time: by device */
    assert_string_equal(m.dev[3], "w/1");
    m = (struct merged){0};
    assert_int_equal(lw_registry_vehicle_history(s, vid, T0 + 25 * SEC,
                                                 T0 + 30 * SEC, merged_cb, &m),
                     LW_OK);
    assert_int_equal(m.n, 2);
    lw_store_close(s);
}

static void test_attach_bad_arguments(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_install in = mkinstall("d/1", "");
    int64_t vid;

    (void)state;
    assert_int_equal(lw_registry_attach(s, "", &in, T0, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_attach(s, " -.", &in, T0, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_registry_attach(NULL, "V", &in, T0, NULL),
                     LW_ERR_INVAL);
    snprintf(in.role, sizeof(in.role), "glued");
    assert_int_equal(lw_registry_attach(s, "V", &in, T0, NULL), LW_ERR_INVAL);
    in = mkinstall("d/1", "");
    snprintf(in.disclosure_signed, sizeof(in.disclosure_signed), "2026-02-30");
    assert_int_equal(lw_registry_attach(s, "V", &in, T0, NULL), LW_ERR_INVAL);
    in = mkinstall("", "");
    assert_int_equal(lw_registry_attach(s, "V", &in, T0, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_fleet_find(s, "V", &vid, NULL),
                     LW_ERR_NOTFOUND);
    assert_true(lw_registry_date_ok("2024-02-29"));
    assert_false(lw_registry_date_ok("2025-02-29"));
    assert_false(lw_registry_date_ok("2025-13-01"));
    assert_false(lw_registry_date_ok("2025-1-01"));
    assert_true(lw_registry_role_ok(""));
    assert_true(lw_registry_role_ok("wired"));
    assert_false(lw_registry_role_ok("Wired"));
    lw_store_close(s);
}

static void test_vehicle_list(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    static const char *const devs[] = {"zed/x", "alice/phone", "mid/1"};
    struct names n = {0};
    size_t i;

    (void)state;
    assert_int_equal(lw_registry_vehicles(s, vehicle_name_cb, &n), LW_OK);
    assert_int_equal(n.n, 0);
    for (i = 0; i < 3; i++) {
        struct lw_vehicle v = mkvehicle(devs[i]);
        assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    }
    assert_int_equal(lw_registry_vehicles(s, vehicle_name_cb, &n), LW_OK);
    assert_int_equal(n.n, 3);
    assert_string_equal(n.v[0], "alice/phone");
    assert_string_equal(n.v[1], "mid/1");
    assert_string_equal(n.v[2], "zed/x");
    /* a callback that stops early: not an error */
    memset(&n, 0, sizeof(n));
    n.stop_after = 1;
    assert_int_equal(lw_registry_vehicles(s, vehicle_name_cb, &n), LW_OK);
    assert_int_equal(n.n, 1);
    lw_store_close(s);
}

/* Only the vehicles of the account asked for, by device. */
static void test_account_vehicles(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    static const char *const devs[] = {"c/3", "a/1", "b/2", "d/4"};
    static const char *const accts[] = {"L-1", "L-1", "L-2", ""};
    struct names n = {0};
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        struct lw_vehicle v = mkvehicle(devs[i]);
        snprintf(v.account, sizeof(v.account), "%s", accts[i]);
        assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    }
    assert_int_equal(
        lw_registry_account_vehicles(s, "L-1", vehicle_name_cb, &n), LW_OK);
    assert_int_equal(n.n, 2);
    assert_string_equal(n.v[0], "a/1");
    assert_string_equal(n.v[1], "c/3");
    memset(&n, 0, sizeof(n));
    assert_int_equal(
        lw_registry_account_vehicles(s, "L-9", vehicle_name_cb, &n), LW_OK);
    assert_int_equal(n.n, 0);
    assert_int_equal(
        lw_registry_account_vehicles(s, NULL, vehicle_name_cb, &n),
        LW_ERR_INVAL);
    lw_store_close(s);
}

/* Interrupts the store's connection on the first row. */
static int interrupt_cb(void *ctx, const struct lw_vehicle *v)
{
    struct lw_store *s = ctx;

    (void)v;
    sqlite3_interrupt(lw_db_sqlite(lw_store_db(s)));
    return 0;
}

static int interrupt_alert_cb(void *ctx, const struct lw_alert_row *r)
{
    struct lw_store *s = ctx;

    (void)r;
    sqlite3_interrupt(lw_db_sqlite(lw_store_db(s)));
    return 0;
}

/* A listing that breaks off is an error, not a silent restart. */
static void test_listing_failure(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v;
    struct lw_alert a;
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        char dev[16];

        snprintf(dev, sizeof(dev), "d%d", i);
        v = mkvehicle(dev);
        assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
        memset(&a, 0, sizeof(a));
        a.kind = LW_ALERT_OFFLINE;
        snprintf(a.device, sizeof(a.device), "%s", dev);
        a.moved_m = NAN;
        assert_int_equal(lw_registry_alert_add(s, &a, NULL), LW_OK);
    }
    assert_int_equal(lw_registry_vehicles(s, interrupt_cb, s), LW_ERR_DB);
    assert_non_null(strstr(lw_store_errmsg(s), "listing vehicles"));
    assert_int_equal(lw_registry_alerts(s, NULL, interrupt_alert_cb, s),
                     LW_ERR_DB);
    /* the connection is usable afterwards */
    assert_int_equal(lw_registry_vehicle_get(s, "d1", &v), LW_OK);
    lw_store_close(s);
}

static void test_vehicle_bad_arguments(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v = mkvehicle(""), got;
    struct names n = {0};

    (void)state;
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicle_set(s, NULL, T0), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicle_set(NULL, &v, T0), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicle_get(s, NULL, &got), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicle_get(s, "a", NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicles(s, NULL, &n), LW_ERR_INVAL);
    assert_int_equal(lw_registry_vehicles(NULL, vehicle_name_cb, &n),
                     LW_ERR_INVAL);
    /* an unterminated field is refused, not overread */
    v = mkvehicle("a");
    memset(v.vin, 'V', sizeof(v.vin));
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_ERR_INVAL);
    assert_int_equal(registry_version(s), 0);
    lw_store_close(s);
}

/* ---- accounts ------------------------------------------------------------ */

static int account_count_cb(void *ctx, const struct lw_account *a)
{
    struct names *n = ctx;

    if (n->n < 16)
        snprintf(n->v[n->n], sizeof(n->v[0]), "%s:%d", a->account,
                 a->days_past_due);
    n->n++;
    return 0;
}

static void test_accounts(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_account a = mkaccount("ACC-1", 0, "current", T0), got;
    struct names n = {0};
    int64_t v0, v1;

    (void)state;
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got),
                     LW_ERR_NOTFOUND);
    v0 = registry_version(s);
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
    v1 = registry_version(s);
    assert_true(v1 > v0);
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got), LW_OK);
    assert_string_equal(got.account, "ACC-1");
    assert_int_equal(got.days_past_due, 0);
    assert_string_equal(got.status, "current");
    assert_int_equal(got.updated_ms, T0);
    assert_string_equal(got.source, "cli");

    /* the same values again (a retained MQTT message re-sent on every
     * reconnection): no registry change, the row keeps its time */
    a = mkaccount("ACC-1", 0, "current", T0 + HOUR);
    snprintf(a.source, sizeof(a.source), "mqtt");
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
    assert_int_equal(registry_version(s), v1);
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got), LW_OK);
    assert_int_equal(got.updated_ms, T0);
    assert_string_equal(got.source, "cli");

    /* a change of days past due, then of the status alone */
    a = mkaccount("ACC-1", 45, "current", T0 + 2 * HOUR);
    snprintf(a.source, sizeof(a.source), "mqtt");
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
    assert_true(registry_version(s) > v1);
    v1 = registry_version(s);
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got), LW_OK);
    assert_int_equal(got.days_past_due, 45);
    assert_int_equal(got.updated_ms, T0 + 2 * HOUR);
    assert_string_equal(got.source, "mqtt");
    a = mkaccount("ACC-1", 45, "overdue", T0 + 3 * HOUR);
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
    assert_true(registry_version(s) > v1);
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got), LW_OK);
    assert_string_equal(got.status, "overdue");

    /* listed by id */
    a = mkaccount("ACC-0", 3, "", T0);
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
    assert_int_equal(lw_registry_accounts(s, account_count_cb, &n), LW_OK);
    assert_int_equal(n.n, 2);
    assert_string_equal(n.v[0], "ACC-0:3");
    assert_string_equal(n.v[1], "ACC-1:45");

    /* refused */
    v1 = registry_version(s);
    a = mkaccount("ACC-1", -1, "", T0);
    assert_int_equal(lw_registry_account_set(s, &a), LW_ERR_INVAL);
    a = mkaccount("", 1, "", T0);
    assert_int_equal(lw_registry_account_set(s, &a), LW_ERR_INVAL);
    assert_int_equal(lw_registry_account_set(s, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_account_get(s, NULL, &got), LW_ERR_INVAL);
    assert_int_equal(lw_registry_accounts(s, NULL, NULL), LW_ERR_INVAL);
    assert_int_equal(registry_version(s), v1);
    assert_int_equal(lw_registry_account_get(s, "ACC-1", &got), LW_OK);
    assert_int_equal(got.days_past_due, 45);
    lw_store_close(s);
}

/* ---- geofences ----------------------------------------------------------- */

/* A square "lat0..lat1 x lon0..lon1" as a GeoJSON Feature named name. */
static void square(char *buf, size_t len, const char *name, double lat0,
                   double lon0, double lat1, double lon1)
{
    snprintf(buf, len,
             "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\"},"
             "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[["
             "[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]"
             "]]}}",
             name, lon0, lat0, lon1, lat0, lon1, lat1, lon0, lat1, lon0, lat0);
}

static struct lw_geofence mkfence(const char *name, enum lw_fence_kind kind,
                                  const char *geojson, double lat0, double lon0,
                                  double lat1, double lon1)
{
    struct lw_geofence g;

    memset(&g, 0, sizeof(g));
    snprintf(g.name, sizeof(g.name), "%s", name);
    g.kind = kind;
    g.geojson = geojson;
    g.min_lat = lat0;
    g.min_lon = lon0;
    g.max_lat = lat1;
    g.max_lon = lon1;
    return g;
}

/* Collects fences seen by a callback. */
struct fences {
    int n;                    /* seen */
    struct lw_geofence g[16]; /* the first 16 (geojson not kept) */
    char geojson[16][512];    /* their GeoJSON, truncated */
};

static int fence_cb(void *ctx, const struct lw_geofence *g)
{
    struct fences *f = ctx;

    if (f->n < 16) {
        f->g[f->n] = *g;
        f->g[f->n].geojson = NULL;
        snprintf(f->geojson[f->n], sizeof(f->geojson[0]), "%s", g->geojson);
    }
    f->n++;
    return 0;
}

static struct fences fences_at(struct lw_store *s, double lat, double lon)
{
    struct fences f;

    memset(&f, 0, sizeof(f));
    assert_int_equal(lw_registry_fences_at(s, lat, lon, fence_cb, &f), LW_OK);
    return f;
}

static struct fences all_fences(struct lw_store *s)
{
    struct fences f;

    memset(&f, 0, sizeof(f));
    assert_int_equal(lw_registry_fences(s, fence_cb, &f), LW_OK);
    return f;
}

static void test_fence_add_list(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char a[512], b[512];
    struct lw_geofence g;
    struct fences f;
    int64_t id1 = 0, id2 = 0, v0;

    (void)state;
    square(a, sizeof(a), "home", 10.0, 20.0, 11.0, 21.0);
    square(b, sizeof(b), "port", 10.5, 20.5, 12.0, 22.0);
    v0 = registry_version(s);
    g = mkfence("home", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    snprintf(g.link_device, sizeof(g.link_device), "alice/phone");
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id1), LW_OK);
    assert_true(id1 > 0);
    assert_true(registry_version(s) > v0);
    g = mkfence("port", LW_FENCE_KEEP_OUT, b, 10.5, 20.5, 12.0, 22.0);
    g.max_dwell_ms = 15 * 60 * SEC;
    snprintf(g.link_account, sizeof(g.link_account), "ACC-1");
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id2), LW_OK);
    assert_true(id2 > 0 && id2 != id1);

    f = all_fences(s);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.g[0].name, "home");
    assert_int_equal(f.g[0].id, id1);
    assert_int_equal(f.g[0].kind, LW_FENCE_KEEP_IN);
    assert_string_equal(f.g[0].link_device, "alice/phone");
    assert_string_equal(f.g[0].link_account, "");
    assert_int_equal(f.g[0].max_dwell_ms, 0);
    assert_string_equal(f.geojson[0], a);
    /* the R*Tree keeps 32-bit floats rounded outwards: the box read back
     * holds the one stored, within float precision */
    assert_true(f.g[0].min_lat <= 10.0 && f.g[0].min_lat > 10.0 - 1e-5);
    assert_true(f.g[0].max_lat >= 11.0 && f.g[0].max_lat < 11.0 + 1e-5);
    assert_true(f.g[0].min_lon <= 20.0 && f.g[0].min_lon > 20.0 - 1e-5);
    assert_true(f.g[0].max_lon >= 21.0 && f.g[0].max_lon < 21.0 + 1e-5);
    assert_string_equal(f.g[1].name, "port");
    assert_int_equal(f.g[1].kind, LW_FENCE_KEEP_OUT);
    assert_int_equal(f.g[1].max_dwell_ms, 15 * 60 * SEC);
    assert_string_equal(f.g[1].link_account, "ACC-1");

    /* the stored GeoJSON loads back into a fence set */
    {
        struct lw_fenceset *set = lw_fenceset_new();
        char err[256] = "";

        assert_non_null(set);
        assert_int_equal(
            lw_fenceset_add_geojson(set, f.geojson[1], strlen(f.geojson[1]),
                                    f.g[1].kind, NULL, err, sizeof(err)),
            LW_OK);
        assert_string_equal(lw_fence_get_name(set, 0), "port");
        lw_fenceset_free(set);
    }
    lw_store_close(s);
}

static void test_fences_at(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char a[512], b[512], c[512];
    struct lw_geofence g;
    struct fences f;

    (void)state;
    square(a, sizeof(a), "home", 10.0, 20.0, 11.0, 21.0);
    square(b, sizeof(b), "port", 10.5, 20.5, 12.0, 22.0);
    square(c, sizeof(c), "south", -35.0, -60.0, -34.0, -58.0);
    g = mkfence("home", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);
    g = mkfence("port", LW_FENCE_KEEP_OUT, b, 10.5, 20.5, 12.0, 22.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);
    g = mkfence("south", LW_FENCE_KEEP_IN, c, -35.0, -60.0, -34.0, -58.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);

    f = fences_at(s, 10.2, 20.2);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.g[0].name, "home");
    f = fences_at(s, 10.7, 20.7); /* both boxes, by name */
    assert_int_equal(f.n, 2);
    assert_string_equal(f.g[0].name, "home");
    assert_string_equal(f.g[1].name, "port");
    assert_string_equal(f.geojson[1], b);
    f = fences_at(s, 11.5, 21.5);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.g[0].name, "port");
    f = fences_at(s, -34.5, -59.0);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.g[0].name, "south");
    /* corners and edges of a box belong to it */
    f = fences_at(s, 10.0, 20.0);
    assert_int_equal(f.n, 1);
    f = fences_at(s, 12.0, 22.0);
    assert_int_equal(f.n, 1);
    /* outside every box */
    f = fences_at(s, 0.0, 0.0);
    assert_int_equal(f.n, 0);
    f = fences_at(s, 10.2, 19.9);
    assert_int_equal(f.n, 0);
    f = fences_at(s, 12.01, 21.0);
    assert_int_equal(f.n, 0);
    assert_int_equal(lw_registry_fences_at(s, 1, 1, NULL, NULL), LW_ERR_INVAL);
    lw_store_close(s);
}

static void test_fence_replace_remove(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char a[512], a2[512];
    struct lw_geofence g;
    struct fences f;
    int64_t id1 = 0, id2 = 0, v;

    (void)state;
    square(a, sizeof(a), "home", 10.0, 20.0, 11.0, 21.0);
    square(a2, sizeof(a2), "home", 40.0, 50.0, 41.0, 51.0);
    g = mkfence("home", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    snprintf(g.link_device, sizeof(g.link_device), "alice/phone");
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id1), LW_OK);
    v = registry_version(s);

    /* the same name again: replaced (geometry, kind, link, box), one row,
     * the same id so that the daemon's state and open alerts keep to it */
    g = mkfence("home", LW_FENCE_KEEP_OUT, a2, 40.0, 50.0, 41.0, 51.0);
    g.max_dwell_ms = 60 * SEC;
    assert_int_equal(lw_registry_fence_add(s, &g, T0 + HOUR, &id2), LW_OK);
    assert_int_equal(id2, id1);
    assert_true(registry_version(s) > v);
    f = all_fences(s);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.g[0].kind, LW_FENCE_KEEP_OUT);
    assert_int_equal(f.g[0].max_dwell_ms, 60 * SEC);
    assert_string_equal(f.g[0].link_device, "");
    assert_string_equal(f.geojson[0], a2);
    assert_int_equal(fences_at(s, 10.5, 20.5).n, 0); /* old box gone */
    assert_int_equal(fences_at(s, 40.5, 50.5).n, 1);

    /* remove */
    v = registry_version(s);
    assert_int_equal(lw_registry_fence_remove(s, "nope"), LW_ERR_NOTFOUND);
    assert_non_null(strstr(lw_store_errmsg(s), "nope"));
    assert_int_equal(registry_version(s), v);
    assert_int_equal(lw_registry_fence_remove(s, "home"), LW_OK);
    assert_true(registry_version(s) > v);
    assert_int_equal(all_fences(s).n, 0);
    assert_int_equal(fences_at(s, 40.5, 50.5).n, 0);
    assert_int_equal(lw_registry_fence_remove(s, "home"), LW_ERR_NOTFOUND);

    /* removed (it had the highest id) and added again: a new id, never the
     * old one that open alerts may still carry */
    g = mkfence("home", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id2), LW_OK);
    assert_true(id2 > id1);
    lw_store_close(s);
}

static void test_fence_bad_arguments(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char a[512];
    struct lw_geofence g;
    int64_t id = 77;

    (void)state;
    square(a, sizeof(a), "x", 10.0, 20.0, 11.0, 21.0);
    g = mkfence("", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id), LW_ERR_INVAL);
    g = mkfence("x", 0, a, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id), LW_ERR_INVAL);
    g = mkfence("x", LW_FENCE_KEEP_IN, NULL, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, &id), LW_ERR_INVAL);
    /* an inverted or non-finite box */
    g = mkfence("x", LW_FENCE_KEEP_IN, a, 11.0, 20.0, 10.0, 21.0);
    assert_int_not_equal(lw_registry_fence_add(s, &g, T0, &id), LW_OK);
    g = mkfence("x", LW_FENCE_KEEP_IN, a, NAN, 20.0, 10.0, 21.0);
    assert_int_not_equal(lw_registry_fence_add(s, &g, T0, &id), LW_OK);
    assert_int_equal(id, 77);
    assert_int_equal(lw_registry_fence_add(NULL, &g, T0, &id), LW_ERR_INVAL);
    assert_int_equal(lw_registry_fence_add(s, NULL, T0, &id), LW_ERR_INVAL);
    assert_int_equal(lw_registry_fence_remove(s, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_fences(s, NULL, NULL), LW_ERR_INVAL);
    /* nothing half-written, nothing counted */
    assert_int_equal(all_fences(s).n, 0);
    assert_int_equal(registry_version(s), 0);
    assert_false(lw_store_in_txn(s));
    lw_store_close(s);
}

/* Inside the caller's transaction: all or nothing. */
static void test_fence_in_caller_txn(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    char a[512], b[512];
    struct lw_geofence g;

    (void)state;
    square(a, sizeof(a), "a", 10.0, 20.0, 11.0, 21.0);
    square(b, sizeof(b), "b", 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_store_begin(s), LW_OK);
    g = mkfence("a", LW_FENCE_KEEP_IN, a, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);
    g = mkfence("b", LW_FENCE_KEEP_IN, b, 10.0, 20.0, 11.0, 21.0);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);
    assert_true(lw_store_in_txn(s));
    assert_int_equal(all_fences(s).n, 2);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(all_fences(s).n, 0);
    assert_int_equal(fences_at(s, 10.5, 20.5).n, 0);
    assert_int_equal(registry_version(s), 0);

    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, NULL), LW_OK);
    assert_int_equal(lw_registry_fence_remove(s, "nope"), LW_ERR_NOTFOUND);
    assert_true(lw_store_in_txn(s)); /* the caller decides */
    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_int_equal(all_fences(s).n, 1);
    assert_int_equal(registry_version(s), 1);
    lw_store_close(s);
}

/* ---- alerts -------------------------------------------------------------- */

static struct lw_alert mkalert(enum lw_alert_kind kind, const char *device,
                               const char *fence, int64_t raised)
{
    struct lw_alert a;

    memset(&a, 0, sizeof(a));
    a.kind = kind;
    snprintf(a.device, sizeof(a.device), "%s", device);
    snprintf(a.fence, sizeof(a.fence), "%s", fence);
    a.raised_ms = raised;
    lw_fix_init(&a.fix);
    a.moved_m = NAN;
    return a;
}

/* Collects alert ids. */
struct ids {
    int n;         /* seen */
    int64_t v[32]; /* the first 32 */
};

static int id_cb(void *ctx, const struct lw_alert_row *r)
{
    struct ids *x = ctx;

    if (x->n < 32)
        x->v[x->n] = r->id;
    x->n++;
    return 0;
}

static struct ids alerts(struct lw_store *s, const struct lw_alert_filter *f)
{
    struct ids x;

    memset(&x, 0, sizeof(x));
    assert_int_equal(lw_registry_alerts(s, f, id_cb, &x), LW_OK);
    return x;
}

static void test_alert_add_get(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_alert a =
        mkalert(LW_ALERT_GEOFENCE_EXIT, "alice/phone", "home", T0);
    struct lw_alert_row r;
    int64_t id1 = 0, id2 = 0;

    (void)state;
    a.fence_tag = 7;
    a.has_fix = true;
    snprintf(a.fix.device, sizeof(a.fix.device), "alice/phone");
    a.fix.fix_time_ms = T0 - 5 * SEC;
    a.fix.recv_time_ms = T0 - 4 * SEC;
    a.fix.lat_deg = -10.91;
    a.fix.lon_deg = -37.07;
    a.fix.accuracy_m = 12.5;
    a.fix.speed_mps = 3.25;
    a.late = true;
    a.age_ms = 90 * SEC;
    assert_int_equal(lw_registry_alert_add(s, &a, &id1), LW_OK);
    assert_true(id1 > 0);
    assert_int_equal(lw_registry_alert_get(s, id1, &r), LW_OK);
    assert_int_equal(r.id, id1);
    assert_int_equal(r.a.kind, LW_ALERT_GEOFENCE_EXIT);
    assert_string_equal(r.a.device, "alice/phone");
    assert_string_equal(r.a.fence, "home");
    assert_int_equal(r.a.fence_tag, 7);
    assert_int_equal(r.a.raised_ms, T0);
    assert_true(r.a.has_fix);
    assert_string_equal(r.a.fix.device, "alice/phone");
    assert_int_equal(r.a.fix.fix_time_ms, T0 - 5 * SEC);
    assert_int_equal(r.a.fix.recv_time_ms, T0 - 4 * SEC);
    assert_true(r.a.fix.lat_deg == -10.91);
    assert_true(r.a.fix.lon_deg == -37.07);
    assert_true(r.a.fix.accuracy_m == 12.5);
    assert_true(r.a.fix.speed_mps == 3.25);
    assert_true(isnan(r.a.fix.course_deg));
    assert_true(r.a.late);
    assert_int_equal(r.a.age_ms, 90 * SEC);
    assert_true(isnan(r.a.moved_m));
    assert_int_equal(r.state, LW_ALERT_OPEN);
    assert_string_equal(lw_alert_state_name(r.state), "open");
    assert_string_equal(r.ack_by, "");
    assert_int_equal(r.ack_ms, 0);
    assert_int_equal(r.closed_ms, 0);
    assert_false(r.published);

    /* offline without a fix, back_online with a distance */
    a = mkalert(LW_ALERT_OFFLINE, "bob/car", "", T0 + SEC);
    a.gap_ms = 7 * HOUR;
    assert_int_equal(lw_registry_alert_add(s, &a, &id2), LW_OK);
    assert_true(id2 > id1);
    assert_int_equal(lw_registry_alert_get(s, id2, &r), LW_OK);
    assert_int_equal(r.a.kind, LW_ALERT_OFFLINE);
    assert_false(r.a.has_fix);
    assert_int_equal(r.a.gap_ms, 7 * HOUR);
    assert_string_equal(r.a.fence, "");
    a = mkalert(LW_ALERT_BACK_ONLINE, "bob/car", "", T0 + 2 * SEC);
    a.moved_m = 1234.5;
    assert_int_equal(lw_registry_alert_add(s, &a, &id2), LW_OK);
    assert_int_equal(lw_registry_alert_get(s, id2, &r), LW_OK);
    assert_true(r.a.moved_m == 1234.5);

    assert_int_equal(lw_registry_alert_get(s, 999, &r), LW_ERR_NOTFOUND);
    a = mkalert(LW_ALERT_OFFLINE, "", "", T0);
    assert_int_equal(lw_registry_alert_add(s, &a, NULL), LW_ERR_INVAL);
    a = mkalert(0, "a", "", T0);
    assert_int_equal(lw_registry_alert_add(s, &a, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_alert_add(s, NULL, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_alert_get(s, 1, NULL), LW_ERR_INVAL);
    assert_int_equal(lw_registry_alerts(s, NULL, NULL, NULL), LW_ERR_INVAL);
    assert_string_equal(lw_alert_state_name(0), "unknown");
    assert_string_equal(lw_alert_state_name(LW_ALERT_CLOSED), "closed");
    assert_string_equal(lw_alert_state_name(LW_ALERT_ACKNOWLEDGED),
                        "acknowledged");
    lw_store_close(s);
}

static void test_alert_filters(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_alert_filter f;
    struct ids x;
    int64_t id[5];
    int i;

    (void)state;
    /* a, b, a, c, a raised one second apart */
    static const char *const devs[] = {"a", "b", "a", "c", "a"};
    for (i = 0; i < 5; i++) {
        struct lw_alert a =
            mkalert(LW_ALERT_OFFLINE, devs[i], "", T0 + i * SEC);
        assert_int_equal(lw_registry_alert_add(s, &a, &id[i]), LW_OK);
    }
    x = alerts(s, NULL);
    assert_int_equal(x.n, 5);
    for (i = 0; i < 5; i++)
        assert_int_equal(x.v[i], id[i]); /* oldest first */

    memset(&f, 0, sizeof(f));
    f.device = "a";
    x = alerts(s, &f);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.v[0], id[0]);
    assert_int_equal(x.v[1], id[2]);
    assert_int_equal(x.v[2], id[4]);
    f.device = "nobody";
    assert_int_equal(alerts(s, &f).n, 0);

    /* published */
    assert_int_equal(lw_registry_alert_published(s, id[0]), LW_OK);
    assert_int_equal(lw_registry_alert_published(s, id[3]), LW_OK);
    memset(&f, 0, sizeof(f));
    f.unpublished_only = true;
    x = alerts(s, &f);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.v[0], id[1]);
    assert_int_equal(x.v[1], id[2]);
    assert_int_equal(x.v[2], id[4]);

    /* open only: acknowledged still counts as open, closed does not */
    assert_int_equal(lw_registry_alert_ack(s, id[1], "ops", NULL, T0 + HOUR),
                     LW_OK);
    assert_int_equal(lw_registry_alert_close(s, id[2], T0 + 2 * HOUR), LW_OK);
    memset(&f, 0, sizeof(f));
    f.open_only = true;
    x = alerts(s, &f);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.v[0], id[0]);
    assert_int_equal(x.v[1], id[1]);
    assert_int_equal(x.v[2], id[3]);
    assert_int_equal(x.v[3], id[4]);
    f.device = "a";
    x = alerts(s, &f);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.v[0], id[0]);
    assert_int_equal(x.v[1], id[4]);

    /* changed since: raised, acknowledged or closed at or after */
    memset(&f, 0, sizeof(f));
    f.changed_since_ms = T0 + 3 * SEC;
    x = alerts(s, &f);
    assert_int_equal(x.n, 4); /* ack'd b, closed a, c and a raised late */
    assert_int_equal(x.v[0], id[1]);
    assert_int_equal(x.v[1], id[2]);
    assert_int_equal(x.v[2], id[3]);
    assert_int_equal(x.v[3], id[4]);
    f.changed_since_ms = T0 + HOUR + 1;
    x = alerts(s, &f);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.v[0], id[2]);
    f.changed_since_ms = T0 + 3 * HOUR;
    assert_int_equal(alerts(s, &f).n, 0);

    /* every filter at once */
    memset(&f, 0, sizeof(f));
    f.device = "a";
    f.open_only = true;
    f.unpublished_only = true;
    f.changed_since_ms = T0;
    x = alerts(s, &f);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.v[0], id[4]);
    lw_store_close(s);
}

static void test_alert_lifecycle(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_alert a = mkalert(LW_ALERT_GEOFENCE_ENTER, "a", "port", T0);
    struct lw_alert_row r;
    int64_t id = 0, av, rv;

    (void)state;
    assert_int_equal(lw_registry_alert_add(s, &a, &id), LW_OK);
    av = alerts_version(s);
    rv = registry_version(s);

    assert_int_equal(
        lw_registry_alert_ack(s, id, "agent7", "on my way", T0 + HOUR), LW_OK);
    assert_true(alerts_version(s) > av);
    assert_int_equal(registry_version(s), rv);
    assert_int_equal(lw_registry_alert_get(s, id, &r), LW_OK);
    assert_int_equal(r.state, LW_ALERT_ACKNOWLEDGED);
    assert_string_equal(r.ack_by, "agent7");
    assert_string_equal(r.ack_note, "on my way");
    assert_int_equal(r.ack_ms, T0 + HOUR);
    assert_int_equal(r.closed_ms, 0);

    /* acknowledged again (someone else takes over): allowed */
    assert_int_equal(
        lw_registry_alert_ack(s, id, "agent9", NULL, T0 + 2 * HOUR), LW_OK);
    assert_int_equal(lw_registry_alert_get(s, id, &r), LW_OK);
    assert_string_equal(r.ack_by, "agent9");
    assert_string_equal(r.ack_note, "");
    av = alerts_version(s);

    assert_int_equal(lw_registry_alert_close(s, id, T0 + 3 * HOUR), LW_OK);
    assert_true(alerts_version(s) > av);
    av = alerts_version(s);
    assert_int_equal(lw_registry_alert_get(s, id, &r), LW_OK);
    assert_int_equal(r.state, LW_ALERT_CLOSED);
    assert_int_equal(r.closed_ms, T0 + 3 * HOUR);
    assert_string_equal(r.ack_by, "agent9"); /* kept */

    /* closed is final */
    assert_int_equal(lw_registry_alert_ack(s, id, "x", NULL, T0 + 4 * HOUR),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "closed"));
    assert_int_equal(lw_registry_alert_close(s, id, T0 + 4 * HOUR),
                     LW_ERR_INVAL);
    assert_int_equal(alerts_version(s), av);
    assert_int_equal(lw_registry_alert_get(s, id, &r), LW_OK);
    assert_int_equal(r.closed_ms, T0 + 3 * HOUR);
    assert_false(lw_store_in_txn(s));

    /* unknown id, missing name */
    assert_int_equal(lw_registry_alert_ack(s, 999, "x", NULL, T0),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_registry_alert_close(s, 999, T0), LW_ERR_NOTFOUND);
    assert_int_equal(lw_registry_alert_close(s, -1, T0), LW_ERR_NOTFOUND);
    a = mkalert(LW_ALERT_TOW, "a", "", T0);
    assert_int_equal(lw_registry_alert_add(s, &a, &id), LW_OK);
    assert_int_equal(lw_registry_alert_ack(s, id, "", NULL, T0), LW_ERR_INVAL);
    assert_int_equal(lw_registry_alert_ack(s, id, NULL, NULL, T0),
                     LW_ERR_INVAL);
    assert_int_equal(alerts_version(s), av);
    /* closed straight from open */
    assert_int_equal(lw_registry_alert_close(s, id, T0 + SEC), LW_OK);
    assert_int_equal(lw_registry_alert_get(s, id, &r), LW_OK);
    assert_int_equal(r.state, LW_ALERT_CLOSED);
    assert_int_equal(r.ack_ms, 0);
    lw_store_close(s);
}

/* ---- versions and change detection --------------------------------------- */

static void test_versions(void **state)
{
    struct lw_store *s = open_ok(":memory:", 0);
    struct lw_vehicle v = mkvehicle("a");
    struct lw_alert al = mkalert(LW_ALERT_OFFLINE, "a", "", T0);
    int64_t r = -1, a = -1, id;

    (void)state;
    assert_int_equal(lw_registry_version(s, &r, &a), LW_OK);
    assert_int_equal(r, 0);
    assert_int_equal(a, 0);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    assert_int_equal(registry_version(s), 1);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    assert_int_equal(registry_version(s), 2);
    /* raising and publishing an alert is the daemon's own business */
    assert_int_equal(lw_registry_alert_add(s, &al, &id), LW_OK);
    assert_int_equal(lw_registry_alert_published(s, id), LW_OK);
    assert_int_equal(alerts_version(s), 0);
    assert_int_equal(lw_registry_alert_close(s, id, T0), LW_OK);
    assert_int_equal(alerts_version(s), 1);
    assert_int_equal(registry_version(s), 2);

    /* either pointer may be NULL, and each gets its own key */
    a = -1;
    assert_int_equal(lw_registry_version(s, NULL, &a), LW_OK);
    assert_int_equal(a, 1);
    r = -1;
    assert_int_equal(lw_registry_version(s, &r, NULL), LW_OK);
    assert_int_equal(r, 2);
    assert_int_equal(lw_registry_version(s, NULL, NULL), LW_OK);
    assert_int_equal(lw_registry_version(NULL, &r, &a), LW_ERR_INVAL);
    lw_store_close(s);
}

/* PRAGMA data_version moves when ANOTHER connection commits; the registry
 * versions say what changed. This is how the daemon sees the CLI. */
static void test_data_version_other_connection(void **state)
{
    struct tmp t;
    struct lw_store *daemon, *cli, *ro;
    struct lw_vehicle v = mkvehicle("alice/phone");
    struct lw_account acc = mkaccount("ACC-1", 30, "overdue", T0);
    struct lw_vehicle got;
    int64_t dv0, dv1, dv2, ro0, ro1, rv;

    (void)state;
    tmp_make(&t);
    daemon = open_ok(t.path, 0);
    cli = open_ok(t.path, LW_STORE_NOMIGRATE);
    ro = open_ok(t.path, LW_STORE_RDONLY);

    assert_int_equal(lw_store_data_version(daemon, &dv0), LW_OK);
    assert_int_equal(lw_store_data_version(ro, &ro0), LW_OK);
    /* the daemon's own commits do not move its data_version */
    assert_int_equal(lw_registry_account_set(daemon, &acc), LW_OK);
    assert_int_equal(lw_store_data_version(daemon, &dv1), LW_OK);
    assert_int_equal(dv1, dv0);
    /* ... but the reader's */
    assert_int_equal(lw_store_data_version(ro, &ro1), LW_OK);
    assert_int_not_equal(ro1, ro0);

    /* the CLI's commit moves the daemon's, and registry_version tells it
     * the registry changed */
    rv = registry_version(daemon);
    assert_int_equal(lw_registry_vehicle_set(cli, &v, T0), LW_OK);
    assert_int_equal(lw_store_data_version(daemon, &dv2), LW_OK);
    assert_int_not_equal(dv2, dv1);
    assert_true(registry_version(daemon) > rv);
    assert_int_equal(lw_registry_vehicle_get(daemon, "alice/phone", &got),
                     LW_OK);
    /* nothing new: no move */
    assert_int_equal(lw_store_data_version(daemon, &dv1), LW_OK);
    assert_int_equal(dv1, dv2);

    /* a read-only handle cannot write the registry, and says so */
    v = mkvehicle("x");
    assert_int_not_equal(lw_registry_vehicle_set(ro, &v, T0), LW_OK);
    assert_int_not_equal(lw_registry_account_set(ro, &acc), LW_OK);
    assert_false(lw_store_in_txn(ro));
    assert_int_equal(lw_registry_vehicle_get(ro, "x", &got), LW_ERR_NOTFOUND);
    assert_int_equal(lw_store_data_version(NULL, &dv1), LW_ERR_INVAL);
    assert_int_equal(lw_store_data_version(ro, NULL), LW_ERR_INVAL);

    lw_store_close(ro);
    lw_store_close(cli);
    lw_store_close(daemon);
    tmp_remove(&t);
}

/* A registry written through one file handle reads back through another. */
static void test_file_round_trip(void **state)
{
    struct tmp t;
    struct lw_store *w, *r;
    struct lw_vehicle v = mkvehicle("carol/tracker"), got;
    struct lw_alert al = mkalert(LW_ALERT_POWER_CUT, "carol/tracker", "", T0);
    struct lw_alert_row row;
    char a[512];
    struct lw_geofence g;
    int64_t id;

    (void)state;
    tmp_make(&t);
    w = open_ok(t.path, 0);
    snprintf(v.description, sizeof(v.description), "Grün, Škoda Octavia");
    assert_int_equal(lw_registry_vehicle_set(w, &v, T0), LW_OK);
    square(a, sizeof(a), "Zürich", 47.3, 8.4, 47.4, 8.6);
    g = mkfence("Zürich", LW_FENCE_KEEP_IN, a, 47.3, 8.4, 47.4, 8.6);
    assert_int_equal(lw_registry_fence_add(w, &g, T0, NULL), LW_OK);
    assert_int_equal(lw_registry_alert_add(w, &al, &id), LW_OK);
    lw_store_close(w);

    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_registry_vehicle_get(r, "carol/tracker", &got), LW_OK);
    assert_string_equal(got.description, "Grün, Škoda Octavia");
    assert_int_equal(fences_at(r, 47.35, 8.5).n, 1);
    assert_string_equal(fences_at(r, 47.35, 8.5).g[0].name, "Zürich");
    assert_int_equal(lw_registry_alert_get(r, id, &row), LW_OK);
    assert_int_equal(row.a.kind, LW_ALERT_POWER_CUT);
    assert_int_equal(lw_registry_alert_ack(r, id, "x", NULL, T0),
                     LW_ERR_READONLY);
    assert_int_equal(registry_version(r), 2);
    lw_store_close(r);
    tmp_remove(&t);
}

/* The null-or-value helpers the alert, state and mail JSON share. */
static void test_json_or_null(void **state)
{
    json_t *j;

    (void)state;
    j = lw_json_str_or_null(NULL);
    assert_true(json_is_null(j));
    json_decref(j);
    j = lw_json_str_or_null("");
    assert_true(json_is_null(j));
    json_decref(j);
    j = lw_json_str_or_null("AA-11-BB");
    assert_true(json_is_string(j));
    assert_string_equal(json_string_value(j), "AA-11-BB");
    json_decref(j);
    j = lw_json_num_or_null(NAN);
    assert_true(json_is_null(j));
    json_decref(j);
    j = lw_json_num_or_null(INFINITY);
    assert_true(json_is_null(j));
    json_decref(j);
    j = lw_json_num_or_null(-8.25);
    assert_true(json_is_real(j));
    assert_true(json_real_value(j) == -8.25);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vehicle_set_get),
        cmocka_unit_test(test_vehicle_list),
        cmocka_unit_test(test_attach_two),
        cmocka_unit_test(test_detach_keeps_records),
        cmocka_unit_test(test_vehicle_set_fleet),
        cmocka_unit_test(test_attach_bad_arguments),
        cmocka_unit_test(test_vehicle_history),
        cmocka_unit_test(test_account_vehicles),
        cmocka_unit_test(test_vehicle_bad_arguments),
        cmocka_unit_test(test_listing_failure),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_fence_add_list),
        cmocka_unit_test(test_fences_at),
        cmocka_unit_test(test_fence_replace_remove),
        cmocka_unit_test(test_fence_bad_arguments),
        cmocka_unit_test(test_fence_in_caller_txn),
        cmocka_unit_test(test_alert_add_get),
        cmocka_unit_test(test_alert_filters),
        cmocka_unit_test(test_alert_lifecycle),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_data_version_other_connection),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_json_or_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
