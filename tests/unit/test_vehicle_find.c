/*
 * test_vehicle_find.c - cmocka tests of lw_registry_vehicle_find
 * (lib/registry.c): which device a plate, a VIN or a device id typed by a
 * person names.
 *
 * Covers: exact device ids (case matters) of a tracker that reported and of
 * a vehicle registered before it ever did; plates and VINs compared without
 * case, spaces, tabs, hyphens and dots; non-ASCII plates compared exactly;
 * one device matching several ways counted once; ambiguous texts (ordered
 * by device, out truncated to max while n counts all); each key alone;
 * texts that are empty once loosened; SQL-looking text; bad arguments; a
 * read-only handle; and a lookup among 100,000 vehicles (10,000 under
 * valgrind), whose time is printed, not asserted: timings belong in
 * benchmarks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lienwatch/registry.h"

/* 2026-11-23T00:00:00Z, a plausible base time. */
#define T0 INT64_C(1795392000000)
/* Vehicles in the large registry test (fewer under valgrind). */
#define MANY_VEHICLES 100000
#define MANY_VEHICLES_VALGRIND 10000

static struct lw_store *open_mem(void)
{
    struct lw_store *s = NULL;
    char err[512] = "";

    if (lw_store_open(&s, ":memory:", 0, err, sizeof(err)) != LW_OK)
        fail_msg("open: %s", err);
    return s;
}

static void add_vehicle(struct lw_store *s, const char *device,
                        const char *plate, const char *vin, const char *desc)
{
    struct lw_vehicle v = {.offline_after_ms = -1};

    snprintf(v.device, sizeof(v.device), "%s", device);
    snprintf(v.plate, sizeof(v.plate), "%s", plate);
    snprintf(v.vin, sizeof(v.vin), "%s", vin);
    snprintf(v.description, sizeof(v.description), "%s", desc);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
}

static void add_device(struct lw_store *s, const char *device)
{
    assert_int_equal(lw_store_heard(s, device, T0), LW_OK);
}

/* The five vehicles and one unregistered tracker every test starts from. */
static int setup(void **state)
{
    struct lw_store *s = open_mem();

    add_device(s, "alice/phone");
    add_vehicle(s, "alice/phone", "B-LW 123", "1HGCM82633A004352",
                "white Toyota Corolla");
    /* registered, never reported */
    add_vehicle(s, "bob/car", "SP 4411", "WVWZZZ1JZXW000001", "grey Golf");
    /* a plate that loosens to another vehicle's: ambiguous */
    add_vehicle(s, "carol/van", "blw.123", "", "red Fiat Ducato");
    /* a plate equal to another vehicle's device id */
    add_vehicle(s, "dave/truck", "ALICE/PHONE", "", "blue Scania");
    /* non-ASCII plate: compared as typed apart from ASCII folding */
    add_vehicle(s, "erin/bike", "京A 12345", "", "白色自行车");
    add_device(s, "zed/tracker"); /* reports, not registered */
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    lw_store_close(*state);
    return 0;
}

/* Finds text by key; returns the number of matches, out gets up to 8. */
static size_t find(struct lw_store *s, enum lw_vehicle_key by, const char *text,
                   struct lw_vehicle_match *out)
{
    size_t n = 99;
    enum lw_err e = lw_registry_vehicle_find(s, by, text, out, 8, &n);

    if (e != LW_OK)
        fail_msg("find '%s': %s (%s)", text, lw_strerror(e),
                 lw_store_errmsg(s));
    return n;
}

static void test_device_ids(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];

    /* a tracker that reported, registered */
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "alice/phone", m), 1);
    assert_string_equal(m[0].v.device, "alice/phone");
    assert_true(m[0].registered && m[0].by_device);
    assert_false(m[0].by_plate || m[0].by_vin);
    assert_string_equal(m[0].v.plate, "B-LW 123");
    assert_string_equal(m[0].v.description, "white Toyota Corolla");
    /* registered, never reported */
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "bob/car", m), 1);
    assert_true(m[0].registered && m[0].by_device);
    /* reported, not registered: only the id is known */
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "zed/tracker", m), 1);
    assert_string_equal(m[0].v.device, "zed/tracker");
    assert_false(m[0].registered);
    assert_string_equal(m[0].v.plate, "");
    /* ids are exact */
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "Alice/Phone", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "alice/phone ", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "nobody", m), 0);
}

static void test_plates_loosely(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];
    static const char *const typed[] = {"SP 4411", "sp4411", "Sp-44.11",
                                        " SP\t4411 ", "s-p-4-4-1-1"};

    for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); i++) {
        assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, typed[i], m), 1);
        assert_string_equal(m[0].v.device, "bob/car");
        assert_true(m[0].by_plate);
        assert_false(m[0].by_device || m[0].by_vin);
    }
    /* other characters are not ignored */
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "SP_4411", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "SP 441", m), 0);
    /* non-ASCII: exact apart from spaces */
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "京a12345", m), 1);
    assert_string_equal(m[0].v.device, "erin/bike");
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "沪A 12345", m), 0);
}

static void test_vins_loosely(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];

    assert_int_equal(find(s, LW_VEHICLE_BY_VIN, "1hgcm82633a004352", m), 1);
    assert_string_equal(m[0].v.device, "alice/phone");
    assert_true(m[0].by_vin && !m[0].by_plate && !m[0].by_device);
    assert_int_equal(find(s, LW_VEHICLE_BY_VIN, "1HGCM8 2633A 004352", m), 1);
    /* a plate is not a VIN, nor the other way round */
    assert_int_equal(find(s, LW_VEHICLE_BY_VIN, "SP 4411", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "1HGCM82633A004352", m), 0);
    /* an empty VIN never matches */
    assert_int_equal(find(s, LW_VEHICLE_BY_VIN, "-", m), 0);
}

static void test_any(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];

    /* one device each way */
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "bob/car", m), 1);
    assert_true(m[0].by_device);
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "sp 4411", m), 1);
    assert_string_equal(m[0].v.device, "bob/car");
    assert_true(m[0].by_plate);
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "WVWZZZ1JZXW000001", m), 1);
    assert_true(m[0].by_vin);
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "zed/tracker", m), 1);
    assert_false(m[0].registered);

    /* "B-LW 123" is alice's plate and, loosely, carol's: two vehicles,
     * ordered by device */
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "B-LW 123", m), 2);
    assert_string_equal(m[0].v.device, "alice/phone");
    assert_string_equal(m[1].v.device, "carol/van");
    assert_true(m[0].by_plate && m[1].by_plate);
    assert_string_equal(m[1].v.description, "red Fiat Ducato");

    /* alice's device id is dave's plate: ambiguous unless a key says */
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "alice/phone", m), 2);
    assert_true(m[0].by_device && !m[0].by_plate);
    assert_string_equal(m[1].v.device, "dave/truck");
    assert_true(m[1].by_plate && !m[1].by_device);
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "alice/phone", m), 1);
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "alice/phone", m), 1);
    assert_string_equal(m[0].v.device, "dave/truck");

    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "nothing like it", m), 0);
}

/* One device matching by id, plate and VIN is one match. */
static void test_one_device_many_ways(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];

    add_vehicle(s, "XY-99", "xy 99", "XY99", "all the same");
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "XY-99", m), 1);
    assert_string_equal(m[0].v.device, "XY-99");
    assert_true(m[0].by_device && m[0].by_plate && m[0].by_vin);
}

/* n counts every match; out holds only max of them. */
static void test_max(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[2];
    char dev[32];
    size_t n = 0;

    for (int i = 0; i < 5; i++) {
        snprintf(dev, sizeof(dev), "fleet/%d", i);
        add_vehicle(s, dev, "TAXI 1", "", "");
    }
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_PLATE, "taxi1", m, 2, &n),
        LW_OK);
    assert_int_equal(n, 5);
    assert_string_equal(m[0].v.device, "fleet/0");
    assert_string_equal(m[1].v.device, "fleet/1");
    /* counting only */
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_PLATE, "taxi1", NULL, 0, &n),
        LW_OK);
    assert_int_equal(n, 5);
}

static void test_odd_texts(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];
    size_t n;

    /* empty once loosened: matches no plate or VIN */
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, " - . ", m), 0);
    /* SQL-looking text is only text */
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "x' OR '1'='1", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "%", m), 0);
    assert_int_equal(find(s, LW_VEHICLE_BY_PLATE, "SP 44%", m), 0);
    /* bad arguments */
    assert_int_equal(
        lw_registry_vehicle_find(NULL, LW_VEHICLE_BY_ANY, "x", m, 8, &n),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_ANY, NULL, m, 8, &n),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_ANY, "", m, 8, &n),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_ANY, "x", NULL, 8, &n),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_registry_vehicle_find(s, LW_VEHICLE_BY_ANY, "x", m, 8, NULL),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_registry_vehicle_find(s, (enum lw_vehicle_key)7, "x", m, 8, &n),
        LW_ERR_INVAL);
}

/* What the CLI does: a second, read-only handle on a file. */
static void test_read_only_handle(void **state)
{
    const char *base = getenv("TMPDIR");
    char dir[256], path[300], p[320];
    struct lw_store *w = NULL, *r = NULL;
    struct lw_vehicle_match m[8];
    char err[512] = "";

    (void)state;
    snprintf(dir, sizeof(dir), "%s/lw-find-XXXXXX",
             base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/lw.db", dir);
    assert_int_equal(lw_store_open(&w, path, 0, err, sizeof(err)), LW_OK);
    add_vehicle(w, "bob/car", "SP 4411", "", "");
    assert_int_equal(lw_store_open(&r, path, LW_STORE_RDONLY, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(find(r, LW_VEHICLE_BY_ANY, "sp4411", m), 1);
    assert_string_equal(m[0].v.device, "bob/car");
    lw_store_close(r);
    lw_store_close(w);
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    rmdir(dir);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A lookup among many vehicles: the one meant is found by its plate and by
 * its id (a scan of every plate and VIN; its time is printed for the
 * record, the benchmark's business). */
static void test_many_vehicles(void **state)
{
    struct lw_store *s = *state;
    struct lw_vehicle_match m[8];
    const char *vg = getenv("LW_VALGRIND");
    int many =
        vg && strcmp(vg, "1") == 0 ? MANY_VEHICLES_VALGRIND : MANY_VEHICLES;
    char dev[32], plate[32], vin[32];
    double t;

    assert_int_equal(lw_store_begin(s), LW_OK);
    for (int i = 0; i < many; i++) {
        snprintf(dev, sizeof(dev), "fleet/%06d", i);
        snprintf(plate, sizeof(plate), "FL-%06d", i);
        snprintf(vin, sizeof(vin), "VIN%014d", i);
        add_vehicle(s, dev, plate, vin, "fleet car");
    }
    assert_int_equal(lw_store_commit(s), LW_OK);
    t = now_ms();
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "fl 005432", m), 1);
    t = now_ms() - t;
    assert_string_equal(m[0].v.device, "fleet/005432");
    assert_true(m[0].by_plate);
    print_message("lookup by plate among %d vehicles: %.1f ms\n", many, t);
    assert_int_equal(find(s, LW_VEHICLE_BY_ANY, "vin00000000005432", m), 1);
    assert_string_equal(m[0].v.device, "fleet/005432");
    t = now_ms();
    assert_int_equal(find(s, LW_VEHICLE_BY_DEVICE, "fleet/005432", m), 1);
    print_message("by device id: %.2f ms\n", now_ms() - t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_device_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plates_loosely, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vins_loosely, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_device_many_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_texts, setup, teardown),
        cmocka_unit_test(test_read_only_handle),
        cmocka_unit_test_setup_teardown(test_many_vehicles, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
