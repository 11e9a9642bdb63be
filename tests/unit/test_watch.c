/*
 * test_watch.c - the alert pipeline of lib/watch.c on a real SQLite file:
 * registry loading, restore after a restart (one alert per transition,
 * silences, fence sides), keep-and-retry of alerts while another connection
 * holds the database locked, registry change detection and the state topic.
 *
 * A "restart" is what lienwatchd does: the watch and the store are freed
 * and opened again on the same file, then lw_watch_restore, lw_watch_tick
 * and lw_watch_flush. No daemon, no clock: every time is passed in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "lienwatch/ingest.h"
#include "lienwatch/outbox.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/suspect.h"
#include "lienwatch/watch.h"

/* 2026-11-23T12:00:00Z */
#define T0 INT64_C(1795435200000)
#define MIN_MS INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
/* A square keep-in fence around (41.15, -8.61), about 2.2 km a side. */
#define HOME_POLY                                                              \
    "{\"type\":\"Polygon\",\"coordinates\":[[[-8.62,41.14],[-8.60,41.14],"     \
    "[-8.60,41.16],[-8.62,41.16],[-8.62,41.14]]]}"
#define IN_LAT 41.15
#define OUT_LAT 41.20 /* 4.4 km north of the fence */
#define LON -8.61
#define MAX_SEEN 16

struct fx {
    char dir[64];         /* private temp directory */
    char path[96];        /* the database file in it */
    struct lw_config cfg; /* settings */
    struct lw_store *s;   /* the daemon's handle */
    struct lw_watch *w;   /* the watch */
    int nstored;          /* alerts handed to the stored handler */
    struct lw_alert_row stored[MAX_SEEN]; /* the first MAX_SEEN of them */
    enum lw_err mail_err[MAX_SEEN];       /* with their mail result */
    int nskipped;                         /* fences reported skipped */
    char skipped[MAX_SEEN][LW_FENCE_NAME_MAX + 1]; /* their names */
};

static void on_stored(void *ctx, const struct lw_alert_row *r,
                      enum lw_err mail_err)
{
    struct fx *f = ctx;

    assert_true(r->id > 0);
    assert_int_equal(r->state, LW_ALERT_OPEN);
    if (f->nstored < MAX_SEEN) {
        f->stored[f->nstored] = *r;
        f->mail_err[f->nstored] = mail_err;
    }
    f->nstored++;
}

static void on_skipped(void *ctx, const struct lw_geofence *g, const char *why)
{
    struct fx *f = ctx;

    assert_non_null(why);
    assert_true(why[0] != '\0');
    if (f->nskipped < MAX_SEEN)
        snprintf(f->skipped[f->nskipped], sizeof(f->skipped[0]), "%s", g->name);
    f->nskipped++;
}

static const struct lw_watch_handlers handlers = {
    .stored = on_stored,
    .fence_skipped = on_skipped,
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lw-test-watch-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/lw.db", f->dir);
    lw_config_defaults(&f->cfg);
    f->cfg.confirm_fixes = 2;
    f->cfg.watch_days_past_due = 30;
    f->cfg.offline_after_ms = 60 * MIN_MS;
    /* these fixes cross 5.5 km in a minute (330 km/h): not what the
     * restart tests are about; the jump check has its own (test_alert) */
    f->cfg.max_speed_kmh = 0;
    f->cfg.state_interval_ms = 0;
    assert_int_equal(lw_store_open(&f->s, f->path, 0, err, sizeof(err)), LW_OK);
    *state = f;
    return 0;
}

static void stop_watch(struct fx *f)
{
    lw_watch_free(f->w);
    f->w = NULL;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    const char *sfx[] = {"", "-wal", "-shm"};
    char p[128];

    stop_watch(f);
    lw_store_close(f->s);
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* What lienwatchd does at start: restore, tick, store what that raised. */
static void start_watch(struct fx *f, int64_t now)
{
    char err[256] = "";

    assert_int_equal(
        lw_watch_new(&f->w, f->s, &f->cfg, &handlers, f, err, sizeof(err)),
        LW_OK);
    if (lw_watch_restore(f->w, now, err, sizeof(err)) != LW_OK)
        fail_msg("restore: %s", err);
    lw_watch_tick(f->w, now);
    if (lw_watch_flush(f->w, err, sizeof(err)) != LW_OK)
        fail_msg("flush: %s", err);
}

/* A restart: watch and store closed and opened again on the same file. */
static void restart(struct fx *f, int64_t now)
{
    char err[256];

    stop_watch(f);
    lw_store_close(f->s);
    assert_int_equal(lw_store_open(&f->s, f->path, 0, err, sizeof(err)), LW_OK);
    start_watch(f, now);
}

static void flush_ok(struct fx *f)
{
    char err[256] = "";

    if (lw_watch_flush(f->w, err, sizeof(err)) != LW_OK)
        fail_msg("flush: %s", err);
    assert_int_equal(lw_watch_pending(f->w), 0);
}

/* Stores a fence as the CLI does: one Feature named in its properties
 * (geometry NULL: geojson is stored as it is). */
static void add_fence(struct lw_store *s, const char *name,
                      enum lw_fence_kind kind, const char *geometry,
                      const char *link_device, int64_t dwell_ms, int64_t *id)
{
    struct lw_geofence g;
    char feature[1024];

    memset(&g, 0, sizeof(g));
    snprintf(g.name, sizeof(g.name), "%s", name);
    snprintf(feature, sizeof(feature),
             "{\"type\":\"Feature\",\"properties\":{\"name\":\"%s\"},"
             "\"geometry\":%s}",
             name, geometry);
    g.kind = kind;
    g.geojson = strstr(geometry, "FeatureCollection") ? geometry : feature;
    g.min_lat = 41.14;
    g.min_lon = -8.62;
    g.max_lat = 41.16;
    g.max_lon = -8.60;
    g.max_dwell_ms = dwell_ms;
    snprintf(g.link_device, sizeof(g.link_device), "%s", link_device);
    assert_int_equal(lw_registry_fence_add(s, &g, T0, id), LW_OK);
}

static void set_account(struct lw_store *s, const char *account, int days)
{
    struct lw_account a;

    memset(&a, 0, sizeof(a));
    snprintf(a.account, sizeof(a.account), "%s", account);
    snprintf(a.source, sizeof(a.source), "cli");
    a.days_past_due = days;
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
}

static void set_vehicle(struct lw_store *s, const char *device,
                        const char *account, int64_t offline_after_ms,
                        int64_t now)
{
    struct lw_vehicle v;

    memset(&v, 0, sizeof(v));
    snprintf(v.device, sizeof(v.device), "%s", device);
    snprintf(v.account, sizeof(v.account), "%s", account);
    snprintf(v.plate, sizeof(v.plate), "AA-11-BB");
    v.offline_after_ms = offline_after_ms;
    assert_int_equal(lw_registry_vehicle_set(s, &v, now), LW_OK);
}

/* The registry of most tests: the home fence, account A1 days past due,
 * vehicle v1 on it. */
static void registry(struct fx *f, int days)
{
    add_fence(f->s, "home", LW_FENCE_KEEP_IN, HOME_POLY, "", 0, NULL);
    set_account(f->s, "A1", days);
    set_vehicle(f->s, "v1", "A1", 0, T0);
}

/* A fix of device at time t, stored then handed to the watch, as the
 * daemon does after a batch commit. */
static void fix(struct fx *f, const char *device, double lat, int64_t t)
{
    struct lw_fix x;
    enum lw_put_result r;

    lw_fix_init(&x);
    snprintf(x.device, sizeof(x.device), "%s", device);
    x.lat_deg = lat;
    x.lon_deg = LON;
    x.accuracy_m = 10;
    x.fix_time_ms = t;
    x.recv_time_ms = t + 1000;
    assert_int_equal(lw_store_begin(f->s), LW_OK);
    assert_int_equal(lw_store_put_fix(f->s, &x, &r), LW_OK);
    assert_int_equal(lw_store_commit(f->s), LW_OK);
    if (r != LW_PUT_DUPLICATE)
        assert_int_equal(
            lw_watch_fix(f->w, &x, r == LW_PUT_LATE, x.recv_time_ms), LW_OK);
}

struct count_ctx {
    enum lw_alert_kind kind; /* wanted */
    int n;                   /* found */
};

static int count_cb(void *ctx, const struct lw_alert_row *r)
{
    struct count_ctx *c = ctx;

    c->n += r->a.kind == c->kind;
    return 0;
}

static int count(struct lw_store *s, const char *device,
                 enum lw_alert_kind kind)
{
    struct lw_alert_filter flt = {.device = device};
    struct count_ctx c = {kind, 0};

    assert_int_equal(lw_registry_alerts(s, &flt, count_cb, &c), LW_OK);
    return c.n;
}

/* ---- registry loading ------------------------------------------------- */

static void test_fences_load(void **state)
{
    struct fx *f = *state;
    struct lw_watch_fences wf;
    int64_t home_id = 0, linked_id = 0;
    char err[256] = "";
    const char *two =
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{},\"geometry\":" HOME_POLY "},"
        "{\"type\":\"Feature\",\"properties\":{},\"geometry\":" HOME_POLY "}]}";

    /* by name: a-bad (not a polygon), b-two (two fences in one row),
     * c-home, d-linked (keep-out, linked to v1, dwell limit) */
    add_fence(f->s, "a-bad", LW_FENCE_KEEP_IN,
              "{\"type\":\"Polygon\",\"coordinates\":[]}", "", 0, NULL);
    add_fence(f->s, "b-two", LW_FENCE_KEEP_IN, two, "", 0, NULL);
    add_fence(f->s, "c-home", LW_FENCE_KEEP_IN, HOME_POLY, "", 0, &home_id);
    add_fence(f->s, "d-linked", LW_FENCE_KEEP_OUT, HOME_POLY, "v1", 10 * MIN_MS,
              &linked_id);

    assert_int_equal(
        lw_watch_fences_load(f->s, on_skipped, f, &wf, err, sizeof(err)),
        LW_OK);
    assert_int_equal(wf.count, 2);
    assert_int_equal(lw_fenceset_count(wf.set), 2);
    assert_int_equal(wf.skipped, 2);
    /* each bad row reported once, although the two-fence row makes the
     * load start over */
    assert_int_equal(f->nskipped, 2);
    assert_string_equal(f->skipped[0], "a-bad");
    assert_string_equal(f->skipped[1], "b-two");
    assert_string_equal(wf.rows[0].name, "c-home");
    assert_string_equal(wf.rows[1].name, "d-linked");
    assert_null(wf.rows[0].geojson);
    assert_int_equal(lw_fence_get_tag(wf.set, 0), home_id);
    assert_int_equal(lw_fence_get_tag(wf.set, 1), linked_id);
    assert_int_equal(lw_fence_get_kind(wf.set, 1), LW_FENCE_KEEP_OUT);
    assert_int_equal(wf.max_dwell_ms[0], 0);
    assert_int_equal(wf.max_dwell_ms[1], 10 * MIN_MS);
    assert_int_equal(wf.nlinks, 1);
    assert_int_equal(wf.links[0].fence_tag, linked_id);
    assert_string_equal(wf.links[0].device, "v1");
    assert_string_equal(wf.links[0].account, "");
    lw_watch_fences_release(&wf);
    lw_watch_fences_release(&wf); /* released twice is fine */
    assert_null(wf.set);

    /* the watch loads the same, and says so in its figures */
    f->nskipped = 0;
    start_watch(f, T0);
    struct lw_watch_stats st;
    lw_watch_stats(f->w, &st);
    assert_int_equal(st.fences, 2);
    assert_int_equal(st.fences_skipped, 2);
    assert_int_equal(f->nskipped, 2);
}

/* An empty registry loads as nothing, not as an error. */
static void test_fences_load_empty(void **state)
{
    struct fx *f = *state;
    struct lw_watch_fences wf;

    assert_int_equal(lw_watch_fences_load(f->s, NULL, NULL, &wf, NULL, 0),
                     LW_OK);
    assert_int_equal(wf.count, 0);
    assert_int_equal(wf.skipped, 0);
    lw_watch_fences_release(&wf);
    assert_int_equal(lw_watch_fences_load(NULL, NULL, NULL, &wf, NULL, 0),
                     LW_ERR_INVAL);
}

/* ---- restore ----------------------------------------------------------- */

/* A fence exit is alerted once, whatever restarts happen while the vehicle
 * stays out; a return and a new exit is a new transition. */
static void test_restart_one_alert_per_exit(void **state)
{
    struct fx *f = *state;
    int64_t t = T0;

    registry(f, 40);
    start_watch(f, t);
    fix(f, "v1", IN_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    assert_int_equal(lw_watch_pending(f->w), 0); /* not confirmed yet */
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    assert_int_equal(lw_watch_pending(f->w), 1);
    flush_ok(f);
    assert_int_equal(f->nstored, 1);
    assert_int_equal(f->stored[0].a.kind, LW_ALERT_GEOFENCE_EXIT);
    assert_string_equal(f->stored[0].a.fence, "home");
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 1);

    /* restart while out: nothing again, at start or with more fixes */
    restart(f, t += MIN_MS);
    assert_int_equal(f->nstored, 1);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(f->nstored, 1);
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 1);

    /* back in, a restart (the open alert no longer holds: the newest fix is
     * inside), out again: a second exit */
    fix(f, "v1", IN_LAT, t += MIN_MS);
    fix(f, "v1", IN_LAT, t += MIN_MS);
    restart(f, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(f->nstored, 2);
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 2);
    restart(f, t += MIN_MS);
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 2);
}

/* Silence: an offline alert survives a restart (no second one, and the
 * next message is back_online); a silence that began while the daemon
 * was down is alerted once, at start. */
static void test_restart_silence(void **state)
{
    struct fx *f = *state;
    int64_t t = T0;

    add_fence(f->s, "home", LW_FENCE_KEEP_IN, HOME_POLY, "", 0, NULL);
    set_account(f->s, "A1", 40);
    set_vehicle(f->s, "v1", "A1", MIN_MS, T0);
    start_watch(f, t);
    fix(f, "v1", IN_LAT, t);
    int64_t due = lw_watch_deadline(f->w, "v1");
    assert_true(due > t && due <= t + 2 * MIN_MS);
    lw_watch_tick(f->w, due + 1000);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_OFFLINE), 1);

    restart(f, t += 5 * MIN_MS);
    lw_watch_tick(f->w, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_OFFLINE), 1);
    fix(f, "v1", IN_LAT, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_BACK_ONLINE), 1);
    assert_int_equal(count(f->s, "v1", LW_ALERT_OFFLINE), 1);

    /* v2 registered, never heard, the daemon stops before its allowance
     * runs out and starts again long after */
    set_vehicle(f->s, "v2", "A1", MIN_MS, t);
    restart(f, t += 1000);
    assert_int_equal(count(f->s, "v2", LW_ALERT_OFFLINE), 0);
    stop_watch(f);
    restart(f, t += 30 * MIN_MS);
    assert_int_equal(count(f->s, "v2", LW_ALERT_OFFLINE), 1);
    restart(f, t += MIN_MS);
    lw_watch_tick(f->w, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v2", LW_ALERT_OFFLINE), 1);
}

/* ---- the state topic --------------------------------------------------- */

#define MAX_STATES 8

/* States handed out by a sweep or an emit. */
struct states {
    int n;                  /* handed */
    bool refuse;            /* answer "not published" */
    char *json[MAX_STATES]; /* the first MAX_STATES, owned */
};

static int take_state(void *ctx, const char *device, const char *json,
                      size_t len)
{
    struct states *st = ctx;

    assert_non_null(device);
    assert_int_equal(strlen(json), len);
    if (st->refuse)
        return 1;
    if (st->n < MAX_STATES)
        st->json[st->n] = strdup(json);
    st->n++;
    return 0;
}

static void states_clear(struct states *st)
{
    for (int i = 0; i < st->n && i < MAX_STATES; i++)
        free(st->json[i]);
    memset(st, 0, sizeof(*st));
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);

    if (!o)
        fail_msg("bad JSON (%s): %s", je.text, text);
    return o;
}

/* After a restart the state shows what the database and the restore say:
 * vehicle, account, watched, newest fix, the open alert. */
static void test_restore_state(void **state)
{
    struct fx *f = *state;
    struct states st = {0};
    json_t *o, *lf, *a;
    int64_t t = T0;

    registry(f, 40);
    start_watch(f, t);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    restart(f, t += MIN_MS);

    assert_int_equal(lw_watch_state_sweep(f->w, t, 100, take_state, &st), 1);
    assert_int_equal(st.n, 1);
    o = parse(st.json[0]);
    assert_string_equal(json_string_value(json_object_get(o, "device")), "v1");
    assert_true(json_is_true(json_object_get(o, "watched")));
    assert_string_equal(json_string_value(json_object_get(o, "plate")),
                        "AA-11-BB");
    assert_string_equal(json_string_value(json_object_get(o, "account")), "A1");
    assert_int_equal(json_integer_value(json_object_get(o, "days_past_due")),
                     40);
    assert_null(json_string_value(json_object_get(o, "vin")));
    lf = json_object_get(o, "last_fix");
    assert_true(json_is_object(lf));
    assert_true(json_real_value(json_object_get(lf, "lat")) == OUT_LAT);
    assert_true(json_real_value(json_object_get(lf, "age_s")) == 60.0);
    a = json_array_get(json_object_get(o, "open_alerts"), 0);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "kind")),
                        "geofence_exit");
    assert_string_equal(json_string_value(json_object_get(a, "state")), "open");
    assert_string_equal(json_string_value(json_object_get(a, "geofence")),
                        "home");
    json_decref(o);
    states_clear(&st);

    /* handed out: clean until something changes */
    assert_int_equal(lw_watch_state_sweep(f->w, t, 100, take_state, &st), 0);
    /* a refused state stays due */
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    st.refuse = true;
    assert_int_equal(lw_watch_state_sweep(f->w, t, 100, take_state, &st), 1);
    st.refuse = false;
    assert_int_equal(lw_watch_state_sweep(f->w, t, 100, take_state, &st), 1);
    states_clear(&st);
    /* a change within the interval waits for it; emit does not */
    f->cfg.state_interval_ms = 10 * MIN_MS;
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    assert_int_equal(lw_watch_state_sweep(f->w, t, 100, take_state, &st), 0);
    assert_int_equal(
        lw_watch_state_sweep(f->w, t + 10 * MIN_MS, 100, take_state, &st), 1);
    assert_int_equal(lw_watch_state_emit(f->w, "v1", t, take_state, &st),
                     LW_OK);
    assert_int_equal(st.n, 2);
    states_clear(&st);
    assert_int_equal(lw_watch_state_emit(f->w, "nobody", t, take_state, &st),
                     LW_ERR_NOTFOUND);
}

/* A sweep hands out at most its budget, round robin: none starves. */
static void test_state_sweep_budget(void **state)
{
    struct fx *f = *state;
    struct states st = {0};
    char dev[16];
    int64_t t = T0;
    int total = 0;

    start_watch(f, t);
    for (int i = 0; i < 10; i++) {
        snprintf(dev, sizeof(dev), "d%d", i);
        fix(f, dev, IN_LAT, t + i);
    }
    for (int round = 0; round < 4; round++) {
        size_t n = lw_watch_state_sweep(f->w, t + MIN_MS, 3, take_state, &st);
        assert_true(n <= 3);
        total += (int)n;
        states_clear(&st);
    }
    assert_int_equal(total, 10);
}

/* ---- keep and retry ------------------------------------------------------ */

static int outbox_pending(struct lw_store *s)
{
    int64_t pending = -1;

    assert_int_equal(lw_outbox_counts(s, &pending, NULL, NULL, NULL), LW_OK);
    return (int)pending;
}

static sqlite3 *lock_db(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * Another process holds the database locked when an account goes overdue
 * over MQTT while its vehicle is out of its fence: the account status and
 * the exit alert cannot be stored. They are kept, in order, not handed on
 * and not lost; once the lock goes, one flush stores both, the alert with
 * its mail, and hands the alert on once; a restart repeats nothing.
 */
static void test_locked_alert_kept_and_retried(void **state)
{
    struct fx *f = *state;
    struct lw_account_update u = {
        .account = "A1", .days_past_due = 45, .status = "overdue"};
    struct lw_watch_stats ws;
    struct lw_account acc;
    char err[256] = "";
    bool changed = false;
    int64_t t = T0;
    sqlite3 *lock;

    snprintf(f->cfg.smtp_url, sizeof(f->cfg.smtp_url), "smtp://127.0.0.1:1");
    snprintf(f->cfg.smtp_from, sizeof(f->cfg.smtp_from), "lw@example.org");
    snprintf(f->cfg.smtp_to, sizeof(f->cfg.smtp_to), "ops@example.org");
    assert_int_equal(lw_config_validate(&f->cfg, err, sizeof(err)), LW_OK);
    registry(f, 0); /* current: not watched */
    start_watch(f, t);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(f->nstored, 0);

    lock = lock_db(f->path);
    assert_int_equal(lw_watch_account(f->w, &u, t += MIN_MS, &changed), LW_OK);
    assert_true(changed);
    lw_watch_tick(f->w, t);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.pending_accounts, 1);
    assert_int_equal(ws.pending_alerts, 1);
    /* the same status again is no change: the queued one counts */
    assert_int_equal(lw_watch_account(f->w, &u, t, &changed), LW_OK);
    assert_false(changed);

    /* waits a short busy timeout (the daemon's loop must not stop for
     * long), then gives up: nothing stored, nothing lost */
    assert_int_equal(lw_store_set_busy_timeout(f->s, 50), LW_OK);
    assert_int_equal(lw_watch_flush(f->w, err, sizeof(err)), LW_ERR_BUSY);
    assert_true(strlen(err) > 0);
    assert_int_equal(lw_watch_pending(f->w), 2);
    assert_int_equal(f->nstored, 0);
    assert_int_equal(scalar(lock, "SELECT count(*) FROM alerts"), 0);
    assert_int_equal(
        scalar(lock, "SELECT days_past_due FROM accounts WHERE id = 'A1'"), 0);
    /* what is raised meanwhile queues behind */
    lw_watch_heard(f->w, "v1", t += 1000);
    assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);

    flush_ok(f);
    assert_int_equal(f->nstored, 1);
    assert_int_equal(f->stored[0].a.kind, LW_ALERT_GEOFENCE_EXIT);
    assert_int_equal(f->mail_err[0], LW_OK);
    assert_int_equal(scalar(lock, "SELECT count(*) FROM alerts"), 1);
    assert_int_equal(outbox_pending(f->s), 1);
    assert_int_equal(lw_registry_account_get(f->s, "A1", &acc), LW_OK);
    assert_int_equal(acc.days_past_due, 45);
    assert_string_equal(acc.source, "mqtt");
    assert_int_equal(lw_registry_account_get(f->s, "A1", &acc), LW_OK);
    sqlite3_close(lock);

    /* once: a second flush, more fixes outside and a restart add nothing */
    flush_ok(f);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    restart(f, t += MIN_MS);
    assert_int_equal(f->nstored, 1);
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 1);
    assert_int_equal(outbox_pending(f->s), 1);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.lost, 0);
}

/* The registry version our own account write moves is not a change to
 * reload for; one made by another connection is. */
static void test_poll(void **state)
{
    struct fx *f = *state;
    struct lw_store *cli;
    struct lw_watch_stats ws;
    struct lw_account_update u = {.account = "A1", .days_past_due = 50};
    struct states st = {0};
    char err[256] = "";
    unsigned what = 99;
    int64_t t = T0;

    registry(f, 40);
    start_watch(f, t);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    flush_ok(f);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);
    assert_int_equal(lw_watch_account(f->w, &u, t, NULL), LW_OK);
    flush_ok(f);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);

    /* the CLI adds a fence and a vehicle */
    assert_int_equal(lw_store_open(&cli, f->path, 0, err, sizeof(err)), LW_OK);
    add_fence(cli, "second", LW_FENCE_KEEP_OUT, HOME_POLY, "", 0, NULL);
    set_vehicle(cli, "v9", "A1", 0, T0);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, LW_WATCH_RELOADED);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.fences, 2);
    assert_int_equal(ws.vehicles, 2);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);

    /* ... and acknowledges v1's alert: its state is due at once */
    lw_watch_state_sweep(f->w, t, 100, take_state, &st);
    states_clear(&st);
    assert_int_equal(
        lw_registry_alert_ack(cli, f->stored[0].id, "ops", "on it", t + 500),
        LW_OK);
    f->cfg.state_interval_ms = 60 * MIN_MS;
    assert_int_equal(lw_watch_poll(f->w, t + 1000, &what, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(what, LW_WATCH_ALERTS_CHANGED);
    assert_int_equal(lw_watch_state_sweep(f->w, t + 1000, 100, take_state, &st),
                     1);
    assert_non_null(strstr(st.json[0], "\"acknowledged\""));
    states_clear(&st);
    lw_store_close(cli);
}

/* The race of a registry change by another connection committed after our
 * last poll and before our own account write: the version after our write
 * must not be taken as seen, or that change is never loaded. */
static void test_poll_race_own_write(void **state)
{
    struct fx *f = *state;
    struct lw_store *cli;
    struct lw_watch_stats ws;
    struct lw_account_update u = {.account = "A1", .days_past_due = 50};
    char err[256] = "";
    unsigned what = 99;
    int64_t t = T0;

    registry(f, 40);
    start_watch(f, t);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.vehicles, 1);
    /* the CLI adds a vehicle: no poll sees it yet */
    assert_int_equal(lw_store_open(&cli, f->path, 0, err, sizeof(err)), LW_OK);
    set_vehicle(cli, "v9", "A1", 0, T0);
    lw_store_close(cli);
    /* our account write moves the version past the CLI's */
    assert_int_equal(lw_watch_account(f->w, &u, t += MIN_MS, NULL), LW_OK);
    flush_ok(f);
    /* the CLI's change is still loaded */
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, LW_WATCH_RELOADED);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.vehicles, 2);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);
}

/* A registry reload while an account status still waits to be stored
 * (a locked database) keeps the queued status: the engine must not see the
 * account go back to current and overdue again, which would raise the
 * same exit twice. */
static void test_reload_keeps_queued_account(void **state)
{
    struct fx *f = *state;
    struct lw_account_update u = {.account = "A1", .days_past_due = 45};
    struct lw_watch_stats ws;
    struct lw_store *cli;
    char err[256] = "";
    unsigned what = 0;
    int64_t t = T0;

    registry(f, 0);
    start_watch(f, t);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    fix(f, "v1", OUT_LAT, t += MIN_MS);
    assert_int_equal(lw_watch_account(f->w, &u, t += MIN_MS, NULL), LW_OK);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.pending_alerts, 1);

    assert_int_equal(lw_store_open(&cli, f->path, 0, err, sizeof(err)), LW_OK);
    set_vehicle(cli, "v9", "", 0, t);
    lw_store_close(cli);
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, LW_WATCH_RELOADED);
    lw_watch_tick(f->w, t);
    lw_watch_stats(f->w, &ws);
    assert_int_equal(ws.pending_alerts, 1);
    assert_int_equal(ws.pending_accounts, 1);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_GEOFENCE_EXIT), 1);
    /* our own account write is no reason to reload */
    assert_int_equal(lw_watch_poll(f->w, t, &what, err, sizeof(err)), LW_OK);
    assert_int_equal(what, 0);
}

/* A retained account status that comes again unchanged changes nothing. */
static void test_account_unchanged(void **state)
{
    struct fx *f = *state;
    struct lw_account_update u = {.account = "A1", .days_past_due = 40};
    bool changed = true;

    registry(f, 40);
    start_watch(f, T0);
    assert_int_equal(lw_watch_account(f->w, &u, T0, &changed), LW_OK);
    assert_false(changed);
    assert_int_equal(lw_watch_pending(f->w), 0);
    u.days_past_due = 41;
    assert_int_equal(lw_watch_account(f->w, &u, T0, &changed), LW_OK);
    assert_true(changed);
    assert_int_equal(lw_watch_pending(f->w), 1);
    flush_ok(f);
    assert_int_equal(lw_watch_account(f->w, &u, T0, &changed), LW_OK);
    assert_false(changed);
}

/* ---- one jump judgement per fix ---------------------------------------- */

/* lw_ingest_stored_cb as lienwatchd's: each committed fix goes to the
 * watch with the judgement made when it was stored. */
static void ingest_stored(void *ctx, const struct lw_fix *x,
                          enum lw_put_result r, const struct lw_jump_ruling *j)
{
    struct fx *f = ctx;

    if (r == LW_PUT_DUPLICATE || r == LW_PUT_ENDED)
        return;
    assert_int_equal(
        lw_watch_fix_judged(f->w, x, r == LW_PUT_LATE, j, x->recv_time_ms),
        LW_OK);
}

/* One OwnTracks fix of owntracks/a/<dev> (acc 10 m) through in, flushed
 * as its own batch. */
static void ingest_fix(struct fx *f, struct lw_ingest *in, const char *dev,
                       double lat, int64_t tst_s)
{
    struct lw_ingest_result r;
    char topic[64], p[256], err[256] = "";

    snprintf(topic, sizeof(topic), "owntracks/a/%s", dev);
    snprintf(p, sizeof(p),
             "{\"_type\":\"location\",\"lat\":%.6f,\"lon\":%.6f,"
             "\"tst\":%lld,\"acc\":10}",
             lat, LON, (long long)tst_s);
    lw_ingest_message(in, topic, p, strlen(p), tst_s * 1000 + 1000, &r);
    assert_int_equal(r.reject, LW_REJ_NONE);
    if (lw_ingest_flush(in, err, sizeof(err)) != LW_OK)
        fail_msg("ingest flush: %s", err);
    flush_ok(f);
}

static int count_flags(void *ctx, int64_t fix_time_ms, const char *kind)
{
    (void)fix_time_ms;
    (void)kind;
    (*(int *)ctx)++;
    return 0;
}

static int flagged(struct fx *f, const char *device, int64_t fix_time_ms)
{
    int n = 0;

    assert_int_equal(lw_suspect_each(f->s, device, fix_time_ms, fix_time_ms,
                                     count_flags, &n),
                     LW_OK);
    return n;
}

/*
 * A jump is judged once, when its fix is stored; the alert engine acts on
 * that verdict, so the stored flag, the last-known fix and the fence state
 * agree. Two redeliveries (QoS 1) made the ingester's own judge and the
 * engine's disagree before, each judge seeing a different sequence (the
 * engine never sees a duplicate):
 *   a/v1: home, spoof (suspect), home again (a duplicate), a fix near the
 *     spoof. It confirms the spoof: geofence_exit, the last-known fix there,
 *     and it is not flagged. (The ingester's judge took the duplicate as a
 *     fix, dropped its suspect, and flagged the confirming fix, while the
 *     engine raised the exit from it.)
 *   a/v2: home, spoof (suspect), the spoof again (a duplicate), home. The
 *     car is home: no flag on the last fix, the last-known fix at home, no
 *     exit. (The ingester's judge took the duplicate as confirming the
 *     spoof, flagged the fix at home and put the spoof back as the
 *     last-known fix, while the engine kept the car home.)
 */
static void test_jump_judged_once(void **state)
{
    struct fx *f = *state;
    struct lw_ingest_opts o = {.topic_owntracks = "owntracks/+/+",
                               .batch_max = 16};
    struct lw_ingest *in;
    struct lw_fix last;
    int64_t t = T0 / 1000;
    char err[256];

    f->cfg.confirm_fixes = 1;
    f->cfg.max_speed_kmh = 300;
    add_fence(f->s, "home", LW_FENCE_KEEP_IN, HOME_POLY, "", 0, NULL);
    set_account(f->s, "A1", 45);
    set_vehicle(f->s, "a/v1", "A1", 0, T0);
    set_vehicle(f->s, "a/v2", "A1", 0, T0);
    start_watch(f, T0);
    lw_decode_opts_init(&o.decode);
    assert_int_equal(lw_ingest_new(&in, f->s, &o, err, sizeof(err)), LW_OK);
    lw_ingest_set_max_speed(in, 300 / 3.6);
    lw_ingest_set_stored_cb(in, ingest_stored, f);

    ingest_fix(f, in, "v1", IN_LAT, t);
    ingest_fix(f, in, "v1", OUT_LAT, t + 10);
    assert_int_equal(count(f->s, "a/v1", LW_ALERT_GPS_JUMP), 1);
    assert_int_equal(flagged(f, "a/v1", (t + 10) * 1000), 1);
    ingest_fix(f, in, "v1", IN_LAT, t); /* redelivered */
    ingest_fix(f, in, "v1", OUT_LAT + 0.001, t + 20);
    assert_int_equal(flagged(f, "a/v1", (t + 20) * 1000), 0);
    assert_int_equal(count(f->s, "a/v1", LW_ALERT_GEOFENCE_EXIT), 1);
    assert_int_equal(lw_store_last_fix(f->s, "a/v1", &last), LW_OK);
    assert_int_equal(last.fix_time_ms, (t + 20) * 1000);

    ingest_fix(f, in, "v2", IN_LAT, t);
    ingest_fix(f, in, "v2", OUT_LAT, t + 10);
    ingest_fix(f, in, "v2", OUT_LAT, t + 10); /* redelivered */
    ingest_fix(f, in, "v2", IN_LAT, t + 20);
    assert_int_equal(flagged(f, "a/v2", (t + 10) * 1000), 1);
    assert_int_equal(flagged(f, "a/v2", (t + 20) * 1000), 0);
    assert_int_equal(count(f->s, "a/v2", LW_ALERT_GEOFENCE_EXIT), 0);
    assert_int_equal(lw_store_last_fix(f->s, "a/v2", &last), LW_OK);
    assert_int_equal(last.fix_time_ms, (t + 20) * 1000);
    assert_true(last.lat_deg < 41.16);
    lw_ingest_free(in);
}

/*
 * The places check of a watched vehicle's first fix (placewatch.h) reads
 * its history: lw_watch_fix only queues it, and lw_watch_places_step reads
 * at most max_fixes fixes a call, so the daemon's loop never waits for a
 * whole history. The top places are kept for the offline mail.
 */
static void test_places_in_slices(void **state)
{
    struct fx *f = *state;
    size_t steps = 0, left;

    registry(f, 45);
    /* 49 fixes at home, a minute apart, stored before the start */
    assert_int_equal(lw_store_begin(f->s), LW_OK);
    for (int i = 0; i < 49; i++) {
        struct lw_fix x;

        lw_fix_init(&x);
        snprintf(x.device, sizeof(x.device), "v1");
        x.lat_deg = IN_LAT;
        x.lon_deg = LON;
        x.accuracy_m = 10;
        x.fix_time_ms = T0 + i * MIN_MS;
        x.recv_time_ms = x.fix_time_ms + 1000;
        assert_int_equal(lw_store_put_fix(f->s, &x, NULL), LW_OK);
    }
    assert_int_equal(lw_store_commit(f->s), LW_OK);
    /* the restore queues a check of the watched vehicle, nothing read */
    start_watch(f, T0 + 50 * MIN_MS);
    assert_int_equal(lw_watch_places_pending(f->w), 1);
    assert_null(lw_watch_places_of(f->w, "v1"));
    do {
        left = lw_watch_places_step(f->w, T0 + 50 * MIN_MS, 10);
        steps++;
    } while (left > 0 && steps < 100);
    assert_int_equal(left, 0);
    /* 49 fixes, 10 a slice */
    assert_int_equal(steps, 5);
    /* its top places are kept for the offline mail and digests */
    assert_non_null(lw_watch_places_of(f->w, "v1"));
    assert_non_null(strstr(lw_watch_places_of(f->w, "v1"), "  1. 41.15"));
    /* a fix the same day asks for nothing more */
    fix(f, "v1", IN_LAT, T0 + 49 * MIN_MS);
    assert_int_equal(lw_watch_places_pending(f->w), 0);
    /* after a restart (its check done) its first fix after the next
     * 03:00 asks again: 51 fixes now */
    steps = 0;
    restart(f, T0 + 51 * MIN_MS);
    while (lw_watch_places_step(f->w, T0 + 51 * MIN_MS, 1000) > 0)
        ;
    fix(f, "v1", IN_LAT, T0 + 26 * 60 * MIN_MS);
    assert_int_equal(lw_watch_places_pending(f->w), 1);
    do {
        left = lw_watch_places_step(f->w, T0 + 50 * MIN_MS, 10);
        steps++;
    } while (left > 0 && steps < 100);
    /* 51 fixes: five full slices and one */
    assert_int_equal(steps, 6);
    assert_int_equal(lw_watch_places_step(f->w, T0 + 50 * MIN_MS, 10), 0);
    flush_ok(f);
}

/*
 * parked_long across restarts: a car parked six days before a restart
 * raises it at seven days of the stay (not seven days after the restart),
 * and a restart after it was raised does not raise it again for the same
 * stay; a move then starts a new stay.
 */
static void test_restart_parked_long(void **state)
{
    struct fx *f = *state;
    const int64_t day = 24 * 60 * MIN_MS;
    int64_t t = T0;

    f->cfg.parked_alert_after_ms = 7 * day;
    f->cfg.offline_after_ms = 30 * day;
    registry(f, 45);
    start_watch(f, T0);
    /* driving in, then parked (jitter within 200 m) every 6 h for 6 days */
    fix(f, "v1", OUT_LAT, t);
    for (int i = 0; i <= 24; i++) {
        t = T0 + HOUR_MS + i * 6 * HOUR_MS;
        fix(f, "v1", IN_LAT + (i % 2) * 0.001, t);
    }
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 0);
    restart(f, t + MIN_MS);
    /* seven days after the stay began (T0 + 1 h) */
    fix(f, "v1", IN_LAT, T0 + HOUR_MS + 7 * day - 6 * HOUR_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 0);
    fix(f, "v1", IN_LAT, T0 + HOUR_MS + 7 * day + MIN_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 1);
    /* a restart in the same stay: not again */
    restart(f, T0 + 8 * day);
    fix(f, "v1", IN_LAT, T0 + 8 * day);
    fix(f, "v1", IN_LAT, T0 + 9 * day);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 1);
    /* moved: a new stay, alerted after seven more days */
    fix(f, "v1", OUT_LAT, T0 + 9 * day + HOUR_MS);
    restart(f, T0 + 12 * day);
    fix(f, "v1", OUT_LAT, T0 + 16 * day);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 1);
    fix(f, "v1", OUT_LAT, T0 + 16 * day + 2 * HOUR_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 2);
}

/* Stored offline mails whose text has needle. */
static int mails_with(struct fx *f, const char *needle)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;

    /* a connection of its own, as the CLI reads */
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT message FROM outbox WHERE "
                                        "kind = 'offline'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n += strstr((const char *)sqlite3_column_text(st, 0), needle) != NULL;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/*
 * Offline mails name the vehicle's places without reading history inside
 * the transaction that stores them: from its places check when done;
 * before that (just after a start) read for at most two mails of a flush,
 * and the others say they were not looked up.
 */
static void test_offline_mail_places(void **state)
{
    struct fx *f = *state;
    char dev[16];

    snprintf(f->cfg.smtp_url, sizeof(f->cfg.smtp_url), "smtp://127.0.0.1:1");
    snprintf(f->cfg.smtp_to, sizeof(f->cfg.smtp_to), "ops@example.com");
    snprintf(f->cfg.smtp_from, sizeof(f->cfg.smtp_from), "lw@example.com");
    set_account(f->s, "A1", 45);
    assert_int_equal(lw_store_begin(f->s), LW_OK);
    for (int v = 0; v < 5; v++) {
        snprintf(dev, sizeof(dev), "p%d", v);
        set_vehicle(f->s, dev, "A1", 0, T0);
        /* an hour parked at home, ending two hours before the start */
        for (int i = 0; i < 13; i++) {
            struct lw_fix x;

            lw_fix_init(&x);
            snprintf(x.device, sizeof(x.device), "%s", dev);
            x.lat_deg = IN_LAT;
            x.lon_deg = LON;
            x.accuracy_m = 10;
            x.fix_time_ms = T0 - 3 * HOUR_MS + i * 5 * MIN_MS;
            x.recv_time_ms = x.fix_time_ms + 1000;
            assert_int_equal(lw_store_put_fix(f->s, &x, NULL), LW_OK);
        }
    }
    assert_int_equal(lw_store_commit(f->s), LW_OK);
    /* silent past the allowance at the start: five offline alerts, before
     * any places check ran */
    start_watch(f, T0);
    assert_int_equal(f->nstored, 5);
    assert_int_equal(lw_watch_places_pending(f->w), 5);
    assert_int_equal(mails_with(f, "Where it usually parks"), 5);
    assert_int_equal(mails_with(f, "1. 41.150000"), 2);
    assert_int_equal(mails_with(f, "Not looked up for this mail"), 3);
    while (lw_watch_places_step(f->w, T0, 1000) > 0)
        ;
    /* checks done: a storm digest finds the places of each */
    for (int v = 0; v < 5; v++) {
        snprintf(dev, sizeof(dev), "p%d", v);
        assert_non_null(lw_watch_places_of(f->w, dev));
        assert_non_null(strstr(lw_watch_places_of(f->w, dev), "1. 41.150000"));
    }
    /* positions purged (a loan paid off): its places go too, and a check
     * under way is dropped */
    lw_watch_forget_fix(f->w, "p0");
    assert_null(lw_watch_places_of(f->w, "p0"));
    restart(f, T0 + MIN_MS);
    assert_int_equal(lw_watch_places_pending(f->w), 5);
    assert_int_equal(lw_watch_places_step(f->w, T0 + MIN_MS, 5), 5);
    lw_watch_forget_fix(f->w, "p0");
    while (lw_watch_places_step(f->w, T0 + MIN_MS, 1000) > 0)
        ;
    assert_null(lw_watch_places_of(f->w, "p0"));
    assert_non_null(lw_watch_places_of(f->w, "p1"));
}

/* The same for a car whose account goes overdue after the restart: its
 * stay, begun before the restart, is found in the history when it is
 * first watched, and parked_long comes at seven days of it. */
static void test_restart_parked_then_watched(void **state)
{
    struct fx *f = *state;
    const int64_t day = 24 * 60 * MIN_MS;
    struct lw_account_update u = {.days_past_due = 45};
    bool changed = false;

    f->cfg.parked_alert_after_ms = 7 * day;
    f->cfg.offline_after_ms = 30 * day;
    registry(f, 0); /* current: not watched */
    start_watch(f, T0);
    for (int i = 0; i <= 24; i++)
        fix(f, "v1", IN_LAT + (i % 2) * 0.001, T0 + i * 6 * HOUR_MS);
    restart(f, T0 + 6 * day + MIN_MS);
    snprintf(u.account, sizeof(u.account), "A1");
    snprintf(u.status, sizeof(u.status), "overdue");
    assert_int_equal(lw_watch_account(f->w, &u, T0 + 6 * day + 2 * MIN_MS,
                                      &changed),
                     LW_OK);
    assert_true(changed);
    flush_ok(f);
    /* its first fix watched asks for its places; the check finds the stay */
    fix(f, "v1", IN_LAT, T0 + 6 * day + 12 * HOUR_MS);
    while (lw_watch_places_step(f->w, T0 + 6 * day + 12 * HOUR_MS, 1000) > 0)
        ;
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 0);
    fix(f, "v1", IN_LAT, T0 + 7 * day + MIN_MS);
    flush_ok(f);
    assert_int_equal(count(f->s, "v1", LW_ALERT_PARKED_LONG), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fences_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fences_load_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_one_alert_per_exit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_sweep_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_locked_alert_kept_and_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_race_own_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_queued_account, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jump_judged_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_places_in_slices, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_parked_long, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offline_mail_places, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_parked_then_watched,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_unchanged, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
