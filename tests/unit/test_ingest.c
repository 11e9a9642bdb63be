/*
 * test_ingest.c - routing, batching, counters and commit failure of the
 * ingester, on a real SQLite store (":memory:" or a temp file).
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

#include "lienwatch/ingest.h"
#include "lienwatch/store.h"
#include "lienwatch/suspect.h"

/* 2026-11-23T12:00:00Z: the receive clock of these tests */
#define NOW_MS INT64_C(1795435200000)

struct fixture {
    struct lw_store *store;
    struct lw_ingest *in;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct lw_ingest_opts o = {.topic_owntracks = "owntracks/+/+",
                               .topic_fix = "lienwatch/v1/fix/+",
                               .topic_account = "lienwatch/v1/account/+",
                               .batch_max = 4};
    char err[256];

    lw_decode_opts_init(&o.decode);
    assert_int_equal(lw_store_open(&f->store, ":memory:", 0, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_ingest_new(&f->in, f->store, &o, err, sizeof(err)),
                     LW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lw_ingest_free(f->in);
    lw_store_close(f->store);
    free(f);
    return 0;
}

static void send(struct fixture *f, const char *topic, const char *payload,
                 struct lw_ingest_result *r)
{
    lw_ingest_message(f->in, topic, payload, strlen(payload), NOW_MS, r);
}

static void location(char *buf, size_t len, double lat, double lon,
                     int64_t tst_s)
{
    snprintf(buf, len,
             "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":%.6f,\"tst\":%lld}",
             lat, lon, (long long)tst_s);
}

struct counter_find {
    const char *name; /* wanted */
    int64_t value;    /* found, or -1 */
};

static int count_suspect(void *ctx, int64_t fix_time_ms, const char *kind)
{
    (void)fix_time_ms;
    assert_string_equal(kind, "jump");
    (*(int64_t *)ctx)++;
    return 0;
}

static int find_counter(void *ctx, const char *name, int64_t value)
{
    struct counter_find *cf = ctx;
    if (strcmp(name, cf->name) == 0)
        cf->value = value;
    return 0;
}

static int64_t counter(struct lw_store *s, const char *name)
{
    struct counter_find cf = {name, -1};
    assert_int_equal(lw_store_counters(s, find_counter, &cf), LW_OK);
    return cf.value;
}

/* Suspect: a jump (jump.h) is stored flagged, counted, and does not become
 * the last-known fix; a restarted ingester judges from the stored one. */
static void test_jump_flagged(void **state)
{
    struct fixture *f = *state;
    struct lw_ingest_result r;
    struct counter_find cf = {"suspect", -1};
    struct lw_fix last;
    char p[256], err[256];
    int64_t n = 0;
    int64_t t = NOW_MS / 1000 - 600;

    lw_ingest_set_max_speed(f->in, 300 / 3.6);
    /* OwnTracks acc 10 m: home, 50 km away 10 s later, home again */
    snprintf(p, sizeof(p),
             "{\"_type\":\"location\",\"lat\":41.15,\"lon\":-8.61,"
             "\"tst\":%lld,\"acc\":10}",
             (long long)t);
    send(f, "owntracks/a/car", p, &r);
    snprintf(p, sizeof(p),
             "{\"_type\":\"location\",\"lat\":41.60,\"lon\":-8.61,"
             "\"tst\":%lld,\"acc\":10}",
             (long long)t + 10);
    send(f, "owntracks/a/car", p, &r);
    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_store_last_fix(f->store, "a/car", &last), LW_OK);
    assert_true(fabs(last.lat_deg - 41.15) < 1e-9);
    assert_int_equal(lw_ingest_counter(f->in, LW_CNT_SUSPECT), 1);
    assert_int_equal(lw_store_counters(f->store, find_counter, &cf), LW_OK);
    assert_int_equal(cf.value, 1);
    assert_int_equal(lw_suspect_each(f->store, "a/car", INT64_MIN, INT64_MAX,
                                     count_suspect, &n),
                     LW_OK);
    assert_int_equal(n, 1);
    /* a new ingester (a restart) starts from the stored last-known fix:
     * the same jump again is suspect */
    lw_ingest_free(f->in);
    {
        struct lw_ingest_opts o = {.topic_owntracks = "owntracks/+/+",
                                   .batch_max = 4};

        lw_decode_opts_init(&o.decode);
        assert_int_equal(lw_ingest_new(&f->in, f->store, &o, err, sizeof(err)),
                         LW_OK);
    }
    lw_ingest_set_max_speed(f->in, 300 / 3.6);
    snprintf(p, sizeof(p),
             "{\"_type\":\"location\",\"lat\":41.60,\"lon\":-8.61,"
             "\"tst\":%lld,\"acc\":10}",
             (long long)t + 20);
    send(f, "owntracks/a/car", p, &r);
    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    /* the new ingester knows the accepted fix at home, not the suspect
     * before: 41.60 at t+20 is a jump from home */
    assert_int_equal(lw_ingest_counter(f->in, LW_CNT_SUSPECT), 1);
    n = 0;
    assert_int_equal(lw_suspect_each(f->store, "a/car", INT64_MIN, INT64_MAX,
                                     count_suspect, &n),
                     LW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(lw_store_last_fix(f->store, "a/car", &last), LW_OK);
    assert_true(fabs(last.lat_deg - 41.15) < 1e-9);
}

static void test_routing_and_batch(void **state)
{
    struct fixture *f = *state;
    struct lw_ingest_result r;
    char p[256], err[256];
    int64_t t0 = NOW_MS / 1000 - 600;

    location(p, sizeof(p), 41.15, -8.61, t0);
    send(f, "owntracks/alice/phone", p, &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    assert_int_equal(r.kind, LW_MSG_FIX);
    assert_string_equal(r.device, "alice/phone");
    assert_false(r.flush_now);
    /* duplicate of the same fix, in the same batch */
    send(f, "owntracks/alice/phone", p, &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    /* an lwt: alive, not a position */
    send(f, "owntracks/alice/phone", "{\"_type\":\"lwt\",\"tst\":1}", &r);
    assert_int_equal(r.kind, LW_MSG_ALIVE);
    /* a gpsd TPV fix; the batch is now full (4 records) */
    send(f, "lienwatch/v1/fix/box7",
         "{\"class\":\"TPV\",\"mode\":3,\"time\":\"2026-11-23T11:50:00.000Z\","
         "\"lat\":38.7,\"lon\":-9.1,\"speed\":3.5}",
         &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    assert_string_equal(r.device, "box7");
    assert_true(r.flush_now);
    assert_int_equal(lw_ingest_pending(f->in), 4);
    /* nothing is in the database before the flush */
    assert_int_equal(counter(f->store, "received"), -1);

    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_ingest_pending(f->in), 0);
    assert_false(lw_ingest_dirty(f->in));
    assert_int_equal(counter(f->store, "received"), 4);
    assert_int_equal(counter(f->store, "stored"), 2);
    assert_int_equal(counter(f->store, "duplicates"), 1);
    assert_int_equal(counter(f->store, "heard"), 1);
    assert_int_equal(counter(f->store, "ignored.lwt"), 1);
    assert_int_equal(lw_ingest_counter(f->in, LW_CNT_STORED), 2);

    struct lw_fix last;
    assert_int_equal(lw_store_last_fix(f->store, "box7", &last), LW_OK);
    assert_true(last.speed_mps == 3.5);
}

static void test_rejections_counted(void **state)
{
    struct fixture *f = *state;
    struct lw_ingest_result r;
    char err[256];

    send(f, "owntracks/bob/car", "not json at all", &r);
    assert_int_equal(r.reject, LW_REJ_NOT_JSON);
    assert_true(strlen(r.detail) > 0);
    send(f, "owntracks/bob/car",
         "{\"_type\":\"location\",\"lat\":\"1\",\"lon\":2,\"tst\":1700000000}",
         &r);
    assert_int_equal(r.reject, LW_REJ_WRONG_TYPE);
    send(f, "elsewhere/x", "{}", &r);
    assert_int_equal(r.reject, LW_REJ_UNKNOWN_TOPIC);
    send(f, "lienwatch/v1/account/L-1",
         "{\"days_past_due\":45,\"status\":\"overdue\"}", &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    assert_int_equal(r.kind, LW_MSG_ACCOUNT);
    assert_int_equal(r.account.days_past_due, 45);
    /* only counters changed: still dirty, and a flush persists them */
    assert_int_equal(lw_ingest_pending(f->in), 0);
    assert_true(lw_ingest_dirty(f->in));
    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    assert_int_equal(counter(f->store, "rejected.not_json"), 1);
    assert_int_equal(counter(f->store, "rejected.wrong_type"), 1);
    assert_int_equal(counter(f->store, "rejected.unknown_topic"), 1);
    assert_int_equal(counter(f->store, "accounts"), 1);
    assert_int_equal(lw_ingest_counter(f->in, LW_CNT_REJECTED), 3);
    assert_int_equal(lw_ingest_rejected(f->in, LW_REJ_NOT_JSON), 1);
}

/* A device id longer than LW_DEVICE_MAX (the README's bad_device), in a
 * topic of the right shape, is a bad device, not an unknown topic; one of
 * exactly LW_DEVICE_MAX bytes is accepted. */
static void test_long_device_id(void **state)
{
    struct fixture *f = *state;
    struct lw_ingest_result r;
    char topic[512], dev[301];
    const char *fix =
        "{\"_type\":\"location\",\"lat\":41.1,\"lon\":-8.6,\"tst\":1700000000}";

    memset(dev, 'x', 300);
    dev[300] = '\0';
    snprintf(topic, sizeof(topic), "owntracks/u/%s", dev);
    send(f, topic, fix, &r);
    assert_int_equal(r.reject, LW_REJ_BAD_DEVICE);
    assert_non_null(strstr(r.detail, "longer than"));
    snprintf(topic, sizeof(topic), "lienwatch/v1/fix/%s", dev);
    send(f, topic, "{\"class\":\"TPV\"}", &r);
    assert_int_equal(r.reject, LW_REJ_BAD_DEVICE);
    /* u/ + 126 bytes: LW_DEVICE_MAX exactly */
    dev[LW_DEVICE_MAX - 2] = '\0';
    snprintf(topic, sizeof(topic), "owntracks/u/%s", dev);
    send(f, topic, fix, &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    assert_int_equal(lw_ingest_rejected(f->in, LW_REJ_BAD_DEVICE), 2);
    assert_int_equal(lw_ingest_rejected(f->in, LW_REJ_UNKNOWN_TOPIC), 0);
}

static int64_t late_seen;
static int64_t newest_seen;

static void on_stored(void *ctx, const struct lw_fix *fx, enum lw_put_result r,
                      const struct lw_jump_ruling *j)
{
    (void)ctx;
    (void)fx;
    (void)j;
    if (r == LW_PUT_LATE)
        late_seen++;
    if (r == LW_PUT_NEWEST)
        newest_seen++;
}

static void test_late_and_callback(void **state)
{
    struct fixture *f = *state;
    struct lw_ingest_result r;
    char p[256], err[256];
    int64_t t0 = NOW_MS / 1000 - 3600;

    late_seen = newest_seen = 0;
    lw_ingest_set_stored_cb(f->in, on_stored, NULL);
    location(p, sizeof(p), 41.0, -8.0, t0 + 60);
    send(f, "owntracks/c/d", p, &r);
    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    location(p, sizeof(p), 41.1, -8.1, t0); /* older: store-and-forward */
    send(f, "owntracks/c/d", p, &r);
    assert_int_equal(lw_ingest_flush(f->in, err, sizeof(err)), LW_OK);
    assert_int_equal(newest_seen, 1);
    assert_int_equal(late_seen, 1);
    assert_int_equal(counter(f->store, "late"), 1);
    struct lw_fix last;
    assert_int_equal(lw_store_last_fix(f->store, "c/d", &last), LW_OK);
    assert_int_equal(last.fix_time_ms, (t0 + 60) * 1000);
}

/* A commit that cannot happen keeps every record and counter pending. */
static void test_failed_commit_keeps_batch(void **state)
{
    char path[] = "/tmp/lw-test-ingest-XXXXXX";
    struct lw_store *w, *ro;
    struct lw_ingest *in;
    struct lw_ingest_result r;
    struct lw_ingest_opts o = {.topic_owntracks = "owntracks/+/+",
                               .batch_max = 100};
    char p[256], err[256];
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(lw_store_open(&w, path, 0, err, sizeof(err)), LW_OK);
    lw_store_close(w);
    assert_int_equal(
        lw_store_open(&ro, path, LW_STORE_RDONLY, err, sizeof(err)), LW_OK);
    lw_decode_opts_init(&o.decode);
    assert_int_equal(lw_ingest_new(&in, ro, &o, err, sizeof(err)), LW_OK);
    location(p, sizeof(p), 41.0, -8.0, NOW_MS / 1000 - 10);
    lw_ingest_message(in, "owntracks/e/f", p, strlen(p), NOW_MS, &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    err[0] = '\0';
    assert_int_not_equal(lw_ingest_flush(in, err, sizeof(err)), LW_OK);
    assert_true(strlen(err) > 0);
    assert_int_equal(lw_ingest_pending(in), 1);
    assert_true(lw_ingest_dirty(in));
    assert_int_equal(lw_ingest_counter(in, LW_CNT_STORED), 0);
    lw_ingest_free(in);
    lw_store_close(ro);
    unlink(path);
    char aux[300];
    snprintf(aux, sizeof(aux), "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof(aux), "%s-shm", path);
    unlink(aux);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing_and_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rejections_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_device_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_late_and_callback, setup,
                                        teardown),
        cmocka_unit_test(test_failed_commit_keeps_batch),
        cmocka_unit_test_setup_teardown(test_jump_flagged, setup, teardown),
    };
    return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
