/*
 * test_commands.c - unit tests for lib/commands.c: queueing (known devices
 * only, coalescing, the audit record), the states queued -> sent ->
 * answered (only by a fix newer than the command) or failed, the daemon's
 * listing, and the topic and payload of each kind of device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/audit.h"
#include "lienwatch/commands.h"
#include "lienwatch/store.h"

#define T0 1795000000000LL

static const struct lw_audit_rec BY = {
    .who = "alice", .role = "agent", .via = "web", .client = "192.0.2.7"};

static struct lw_store *fixture(void)
{
    struct lw_store *s = NULL;
    char err[256];

    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    return s;
}

static void fix(struct lw_store *s, const char *device, int64_t fix_ms)
{
    struct lw_fix f;

    lw_fix_init(&f);
    snprintf(f.device, sizeof(f.device), "%s", device);
    f.fix_time_ms = fix_ms;
    f.recv_time_ms = fix_ms + 500;
    f.lat_deg = 48.85;
    f.lon_deg = 2.35;
    assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_OK);
}

struct seen {
    int n;
    int64_t id[8];
    struct lw_store *s; /* when set: mark each sent at 'at' */
    int64_t at;
};

static int collect(void *ctx, const struct lw_cmd *c)
{
    struct seen *x = ctx;

    x->id[x->n++] = c->id;
    if (x->s)
        assert_int_equal(lw_cmd_mark_sent(x->s, c->id, x->at), LW_OK);
    return x->n >= 8;
}

static int count_audit(void *ctx, const struct lw_audit_entry *a)
{
    int *n = ctx;

    if (strcmp(a->action, "command report_now") == 0) {
        assert_string_equal(a->who, "alice");
        assert_string_equal(a->role, "agent");
        assert_string_equal(a->client, "192.0.2.7");
        assert_string_equal(a->device, "owntracks-user/phone");
        assert_string_equal(a->case_id, "12");
        (*n)++;
    }
    return 0;
}

static void test_lifecycle(void **state)
{
    struct lw_store *s = fixture();
    struct seen x = {0};
    struct lw_cmd c;
    int64_t id = 0, id2 = 0, n = -1;
    int audits = 0;

    (void)state;
    /* a device never heard of cannot be asked */
    assert_int_equal(lw_cmd_queue(s, "owntracks-user/phone", LW_CMD_REPORT_NOW,
                                  &BY, 12, T0, &id),
                     LW_ERR_NOTFOUND);
    assert_int_equal(id, 0);
    fix(s, "owntracks-user/phone", T0 - 60000);
    assert_int_equal(lw_cmd_queue(s, "owntracks-user/phone", LW_CMD_REPORT_NOW,
                                  &BY, 12, T0, &id),
                     LW_OK);
    assert_int_equal(id, 1);
    /* asked again while queued: the same command */
    assert_int_equal(lw_cmd_queue(s, "owntracks-user/phone", LW_CMD_REPORT_NOW,
                                  &BY, 12, T0 + 10, &id2),
                     LW_OK);
    assert_int_equal(id2, id);
    assert_int_equal(lw_audit_list(s, NULL, count_audit, &audits), LW_OK);
    assert_int_equal(audits, 1);

    assert_int_equal(lw_cmd_get(s, id, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_QUEUED);
    assert_string_equal(lw_cmd_state_name(c.state), "queued");
    assert_string_equal(c.device, "owntracks-user/phone");
    assert_string_equal(c.requested_by, "alice");
    assert_int_equal(c.case_id, 12);
    assert_int_equal(c.created_ms, T0);
    assert_int_equal(c.sent_ms, 0);
    assert_int_equal(lw_cmd_outstanding(s, &n), LW_OK);
    assert_int_equal(n, 1);

    /* the daemon lists and sends it */
    x.s = s;
    x.at = T0 + 800;
    assert_int_equal(lw_cmd_pending(s, 0, collect, &x), LW_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.id[0], id);
    assert_int_equal(lw_cmd_mark_sent(s, id, T0 + 900), LW_ERR_NOTFOUND);
    x.n = 0;
    assert_int_equal(lw_cmd_pending(s, 0, collect, &x), LW_OK);
    assert_int_equal(x.n, 0);
    assert_int_equal(lw_cmd_get(s, id, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_SENT);
    assert_int_equal(c.sent_ms, T0 + 800);

    /* once sent, a new ask is a new command */
    assert_int_equal(lw_cmd_queue(s, "owntracks-user/phone", LW_CMD_REPORT_NOW,
                                  &BY, 12, T0 + 20, &id2),
                     LW_OK);
    assert_int_equal(id2, 2);

    /* a late fix taken before the command does not answer it */
    fix(s, "owntracks-user/phone", T0 - 1000);
    assert_int_equal(lw_cmd_answer(s, T0 + 1500, &n), LW_OK);
    assert_int_equal(n, 0);
    fix(s, "owntracks-user/phone", T0);
    assert_int_equal(lw_cmd_answer(s, T0 + 1600, &n), LW_OK);
    assert_int_equal(n, 0); /* not newer: equal */
    fix(s, "owntracks-user/phone", T0 + 1200);
    assert_int_equal(lw_cmd_answer(s, T0 + 2000, &n), LW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(lw_cmd_get(s, id, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_ANSWERED);
    assert_int_equal(c.answered_ms, T0 + 2000);
    assert_int_equal(c.answer_fix_ms, T0 + 1200);
    /* the queued one (not sent) is not answered */
    assert_int_equal(lw_cmd_get(s, id2, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_QUEUED);
    assert_int_equal(lw_cmd_answer(s, T0 + 3000, &n), LW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lw_cmd_outstanding(s, &n), LW_OK);
    assert_int_equal(n, 1);

    /* failed */
    assert_int_equal(
        lw_cmd_mark_failed(s, id2, "no route for this device", T0 + 3100),
        LW_OK);
    assert_int_equal(lw_cmd_get(s, id2, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_FAILED);
    assert_string_equal(c.error, "no route for this device");
    assert_int_equal(lw_cmd_outstanding(s, &n), LW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lw_cmd_get(s, 99, &c), LW_ERR_NOTFOUND);
    lw_store_close(s);
}

/* Commands of one device are answered by that device's fixes only. */
static void test_answer_per_device(void **state)
{
    struct lw_store *s = fixture();
    struct lw_cmd c;
    int64_t a, b, n;

    (void)state;
    fix(s, "van7", T0 - 5000);
    fix(s, "van8", T0 - 5000);
    assert_int_equal(lw_cmd_queue(s, "van7", LW_CMD_REPORT_NOW, &BY, 0, T0, &a),
                     LW_OK);
    assert_int_equal(lw_cmd_queue(s, "van8", LW_CMD_REPORT_NOW, &BY, 0, T0, &b),
                     LW_OK);
    assert_int_equal(lw_cmd_mark_sent(s, a, T0 + 1), LW_OK);
    assert_int_equal(lw_cmd_mark_sent(s, b, T0 + 1), LW_OK);
    fix(s, "van8", T0 + 4000);
    assert_int_equal(lw_cmd_answer(s, T0 + 4500, &n), LW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(lw_cmd_get(s, a, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_SENT);
    assert_int_equal(c.case_id, 0);
    assert_int_equal(lw_cmd_get(s, b, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_ANSWERED);

    /* van7 stays dark: given up on, the answered one untouched */
    assert_int_equal(lw_cmd_expire(s, T0 + 1, T0 + 9000, &n), LW_OK);
    assert_int_equal(n, 0); /* sent at T0 + 1: not before the cut */
    assert_int_equal(lw_cmd_expire(s, T0 + 2, T0 + 9000, &n), LW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(lw_cmd_get(s, a, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_FAILED);
    assert_string_equal(c.error, "no fix since it was sent");
    assert_int_equal(lw_cmd_get(s, b, &c), LW_OK);
    assert_int_equal(c.state, LW_CMD_ANSWERED);
    fix(s, "van7", T0 + 10000);
    assert_int_equal(lw_cmd_answer(s, T0 + 10500, &n), LW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lw_cmd_outstanding(s, &n), LW_OK);
    assert_int_equal(n, 0);
    lw_store_close(s);
}

static void test_queue_refused(void **state)
{
    struct lw_store *s = fixture();
    struct lw_audit_rec nobody = {0};
    char longdev[LW_DEVICE_MAX + 2];
    int64_t id;

    (void)state;
    fix(s, "van7", T0);
    memset(longdev, 'd', sizeof(longdev) - 1);
    longdev[sizeof(longdev) - 1] = '\0';
    assert_int_equal(
        lw_cmd_queue(s, longdev, LW_CMD_REPORT_NOW, &BY, 0, T0, &id),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_cmd_queue(s, "van7", (enum lw_cmd_action)7, &BY, 0, T0, &id),
        LW_ERR_INVAL);
    assert_int_equal(
        lw_cmd_queue(s, "van7", LW_CMD_REPORT_NOW, &nobody, 0, T0, &id),
        LW_ERR_INVAL);
    assert_int_equal(lw_cmd_queue(s, "", LW_CMD_REPORT_NOW, &BY, 0, T0, &id),
                     LW_ERR_INVAL);
    assert_int_equal(
        lw_cmd_queue(NULL, "van7", LW_CMD_REPORT_NOW, &BY, 0, T0, &id),
        LW_ERR_INVAL);
    lw_store_close(s);
}

static void route_ok(const char *device, const char *ot, const char *prefix,
                     const char *topic, const char *payload)
{
    struct lw_cmd c;
    char t[LW_CMD_TOPIC_MAX], p[LW_CMD_PAYLOAD_MAX];

    memset(&c, 0, sizeof(c));
    c.action = LW_CMD_REPORT_NOW;
    snprintf(c.device, sizeof(c.device), "%s", device);
    assert_int_equal(lw_cmd_route(&c, ot, prefix, t, sizeof(t), p, sizeof(p)),
                     LW_OK);
    assert_string_equal(t, topic);
    assert_string_equal(p, payload);
}

static enum lw_err route(const char *device, const char *ot, size_t tlen)
{
    struct lw_cmd c;
    char t[LW_CMD_TOPIC_MAX], p[LW_CMD_PAYLOAD_MAX];

    memset(&c, 0, sizeof(c));
    c.action = LW_CMD_REPORT_NOW;
    snprintf(c.device, sizeof(c.device), "%s", device);
    return lw_cmd_route(&c, ot, "lienwatch/v1", t, tlen, p, sizeof(p));
}

#define OT "{\"_type\":\"cmd\",\"action\":\"reportLocation\"}"
#define GB "{\"action\":\"report_now\"}"

static void test_route(void **state)
{
    (void)state;
    route_ok("alice/phone", "owntracks/+/+", "lienwatch/v1",
             "owntracks/alice/phone/cmd", OT);
    route_ok("van7", "owntracks/+/+", "lienwatch/v1", "lienwatch/v1/cmd/van7",
             GB);
    route_ok("van7", "owntracks/+/+", "acme/lw", "acme/lw/cmd/van7", GB);
    route_ok("van7", NULL, "lienwatch/v1", "lienwatch/v1/cmd/van7", GB);
    /* a filter with '+' levels anywhere */
    route_ok("u/d", "fleet/+/x/+", "lienwatch/v1", "fleet/u/x/d/cmd", OT);
    /* a one-level OwnTracks filter names one-level devices */
    route_ok("van7", "ot/+", "lienwatch/v1", "ot/van7/cmd", OT);

    /* no route */
    assert_int_equal(route("a/b/c", "owntracks/+/+", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("a/b", "", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("a/b", NULL, 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("a/+", "owntracks/+/+", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("#", "owntracks/+/+", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("a//b", "x/+/+/+", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("a/", "owntracks/+/+", 512), LW_ERR_NOTFOUND);
    assert_int_equal(route("", "owntracks/+/+", 512), LW_ERR_NOTFOUND);
    /* too small */
    assert_int_equal(route("alice/phone", "owntracks/+/+", 20), LW_ERR_RANGE);
    assert_int_equal(route("van7", "owntracks/+/+", 10), LW_ERR_RANGE);
    assert_int_equal(route("van7", "owntracks/+/+", 21), LW_ERR_RANGE);
    assert_int_equal(route("van7", "owntracks/+/+", 22), LW_OK);
}

static void test_names(void **state)
{
    enum lw_cmd_action a;

    (void)state;
    assert_string_equal(lw_cmd_action_name(LW_CMD_REPORT_NOW), "report_now");
    assert_int_equal(lw_cmd_action_parse("report_now", &a), LW_OK);
    assert_int_equal(a, LW_CMD_REPORT_NOW);
    assert_int_equal(lw_cmd_action_parse("reportLocation", &a), LW_ERR_INVAL);
    assert_string_equal(lw_cmd_state_name(LW_CMD_ANSWERED), "answered");
    assert_string_equal(lw_cmd_state_name((enum lw_cmd_state)9), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_answer_per_device),
        cmocka_unit_test(test_queue_refused),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
