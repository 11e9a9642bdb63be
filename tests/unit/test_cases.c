/*
 * test_cases.c - unit tests for lib/cases.c: opening (watched vehicle,
 * agent role, one open case per agent and device, expiry bounds), the
 * active-case query at and around expiry, closing, listing, the sweep
 * (expiry, an account paid up, a vehicle without account) and the audit
 * record of each.
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
#include "lienwatch/audit.h"
#include "lienwatch/cases.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"
#include "lienwatch/users.h"

#define T0 1795000000000LL
#define HOUR 3600000LL
#define THRESHOLD 30 /* days past due from which an account is watched */

static const struct lw_audit_rec BY = {.who = "ops1", .via = "cli"};
static const struct lw_audit_rec DAEMON = {.who = "lienwatchd",
                                           .via = "daemon"};

static void vehicle(struct lw_store *s, const char *device, const char *account)
{
    struct lw_vehicle v;

    memset(&v, 0, sizeof(v));
    snprintf(v.device, sizeof(v.device), "%s", device);
    snprintf(v.account, sizeof(v.account), "%s", account);
    snprintf(v.plate, sizeof(v.plate), "P-%s", account);
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

/* car/1 watched (45 days), car/2 current (0 days), car/3 no account,
 * car/4 watched; agents alice, token tab; bob ops only; carol disabled. */
static struct lw_store *fixture(void)
{
    struct lw_store *s = NULL;
    char err[256], text[LW_TOKEN_TEXT_LEN + 1];

    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    account(s, "A1", 45, "overdue");
    account(s, "A2", 0, "");
    account(s, "A4", 90, "");
    vehicle(s, "car/1", "A1");
    vehicle(s, "car/2", "A2");
    vehicle(s, "car/3", "");
    vehicle(s, "car/4", "A4");
    assert_int_equal(
        lw_user_add(s, "alice", LW_ROLE_AGENT, NULL, &BY, T0, NULL), LW_OK);
    assert_int_equal(lw_user_add(s, "bob", LW_ROLE_OPS, NULL, &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_add(s, "carol", LW_ROLE_AGENT | LW_ROLE_OPS, NULL,
                                 &BY, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_user_set_disabled(s, "carol", true, &BY, T0), LW_OK);
    assert_int_equal(
        lw_token_create(s, "tab", LW_ROLE_AGENT, 0, &BY, T0, text, NULL),
        LW_OK);
    return s;
}

static enum lw_err open_case(struct lw_store *s, const char *device,
                             const char *agent, int64_t expires_ms,
                             int64_t now_ms, int64_t *id)
{
    struct lw_case_new c = {.device = device,
                            .agent = agent,
                            .reason = "repossession order 2026-113",
                            .expires_ms = expires_ms};

    return lw_case_open(s, &c, THRESHOLD, &BY, now_ms, id);
}

/* Audit records of one action, collected. */
struct recs {
    const char *action;
    int n;
    char device[8][32], case_id[8][16], reason[8][64], detail[8][96],
        who[8][32];
};

static int collect(void *ctx, const struct lw_audit_entry *a)
{
    struct recs *r = ctx;

    if (strcmp(a->action, r->action) != 0 || r->n >= 8)
        return 0;
    snprintf(r->device[r->n], 32, "%s", a->device ? a->device : "(null)");
    snprintf(r->case_id[r->n], 16, "%s", a->case_id ? a->case_id : "(null)");
    snprintf(r->reason[r->n], 64, "%s", a->reason ? a->reason : "(null)");
    snprintf(r->detail[r->n], 96, "%s", a->detail ? a->detail : "(null)");
    snprintf(r->who[r->n], 32, "%s", a->who);
    r->n++;
    return 0;
}

static void audit_of(struct lw_store *s, const char *action, struct recs *r)
{
    memset(r, 0, sizeof(*r));
    r->action = action;
    assert_int_equal(lw_audit_list(s, NULL, collect, r), LW_OK);
}

static void test_open_and_active(void **state)
{
    struct lw_store *s = fixture();
    int64_t id = 0, cid = 0;
    struct lw_case c;
    struct recs r;

    (void)state;
    assert_int_equal(open_case(s, "car/1", "alice", T0 + 72 * HOUR, T0, &id),
                     LW_OK);
    assert_int_equal(id, 1);
    assert_int_equal(lw_case_get(s, id, &c), LW_OK);
    assert_string_equal(c.device, "car/1");
    assert_string_equal(c.agent, "alice");
    assert_string_equal(c.opened_by, "ops1");
    assert_int_equal(c.opened_ms, T0);
    assert_int_equal(c.expires_ms, T0 + 72 * HOUR);
    assert_int_equal(c.outcome, LW_CASE_OPEN);
    assert_true(lw_case_is_open(&c, T0 + 72 * HOUR - 1));
    assert_false(lw_case_is_open(&c, T0 + 72 * HOUR));

    /* open until (exclusive) the expiry; only for that agent and device */
    assert_int_equal(lw_case_active(s, "alice", "car/1", T0 + HOUR, &cid),
                     LW_OK);
    assert_int_equal(cid, id);
    assert_int_equal(
        lw_case_active(s, "alice", "car/1", T0 + 72 * HOUR - 1, &cid), LW_OK);
    assert_int_equal(lw_case_active(s, "alice", "car/1", T0 + 72 * HOUR, &cid),
                     LW_ERR_NOTFOUND);
    assert_int_equal(cid, 0);
    assert_int_equal(lw_case_active(s, "alice", "car/4", T0, &cid),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_case_active(s, "bob", "car/1", T0, &cid),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_case_active(s, "alicE", "car/1", T0, &cid),
                     LW_ERR_NOTFOUND);

    /* a token holding the agent role can have cases */
    assert_int_equal(open_case(s, "car/4", "tab", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(id, 2);

    audit_of(s, "case open", &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.device[0], "car/1");
    assert_string_equal(r.case_id[0], "1");
    assert_string_equal(r.reason[0], "repossession order 2026-113");
    assert_string_equal(r.who[0], "ops1");
    assert_non_null(strstr(r.detail[0], "agent=alice expires=2026-11-"));
    lw_store_close(s);
}

static void test_open_refused(void **state)
{
    struct lw_store *s = fixture();
    struct lw_case_new c = {.device = "car/1",
                            .agent = "alice",
                            .reason = "",
                            .expires_ms = T0 + HOUR};
    int64_t id = 7;
    struct recs r;

    (void)state;
    assert_int_equal(open_case(s, "car/2", "alice", T0 + HOUR, T0, &id),
                     LW_ERR_INVAL);
    assert_int_equal(id, 0);
    assert_non_null(strstr(lw_store_errmsg(s), "account A2 of car/2 is not "
                                               "watched (0 days past due, "
                                               "threshold 30)"));
    assert_int_equal(open_case(s, "car/3", "alice", T0 + HOUR, T0, &id),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "no account"));
    assert_int_equal(open_case(s, "car/9", "alice", T0 + HOUR, T0, &id),
                     LW_ERR_NOTFOUND);
    assert_non_null(strstr(lw_store_errmsg(s), "car/9 is not registered"));
    assert_int_equal(open_case(s, "car/1", "bob", T0 + HOUR, T0, &id),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "bob does not hold the agent"));
    assert_int_equal(open_case(s, "car/1", "carol", T0 + HOUR, T0, &id),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "carol is disabled"));
    assert_int_equal(open_case(s, "car/1", "dan", T0 + HOUR, T0, &id),
                     LW_ERR_NOTFOUND);
    assert_int_equal(open_case(s, "car/1", "alice", T0, T0, &id), LW_ERR_INVAL);
    assert_int_equal(
        open_case(s, "car/1", "alice", T0 + LW_CASE_EXPIRY_MAX_MS + 1, T0, &id),
        LW_ERR_INVAL);
    assert_int_equal(lw_case_open(s, &c, THRESHOLD, &BY, T0, &id),
                     LW_ERR_INVAL);
    assert_int_equal(lw_case_open(s, NULL, THRESHOLD, &BY, T0, &id),
                     LW_ERR_INVAL);
    c.reason = "x";
    assert_int_equal(lw_case_open(s, &c, THRESHOLD, NULL, T0, &id),
                     LW_ERR_INVAL);
    /* at a threshold of 50 days car/1 (45) is not watched */
    assert_int_equal(lw_case_open(s, &c, 50, &BY, T0, &id), LW_ERR_INVAL);
    /* a paid-off account is not watched however late */
    account(s, "A4", 400, "paid_off");
    assert_int_equal(open_case(s, "car/4", "alice", T0 + HOUR, T0, &id),
                     LW_ERR_INVAL);

    /* one open case per agent and device; another agent may have one */
    assert_int_equal(open_case(s, "car/1", "alice", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(open_case(s, "car/1", "alice", T0 + 2 * HOUR, T0 + 1, &id),
                     LW_ERR_EXISTS);
    assert_non_null(strstr(lw_store_errmsg(s), "case 1"));
    assert_int_equal(open_case(s, "car/1", "tab", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(id, 2);

    audit_of(s, "case open", &r);
    assert_int_equal(r.n, 2);
    lw_store_close(s);
}

/* A new case after the last one expired: the old one is recorded expired. */
static void test_reopen_after_expiry(void **state)
{
    struct lw_store *s = fixture();
    struct lw_case c;
    int64_t id = 0;
    struct recs r;

    (void)state;
    assert_int_equal(open_case(s, "car/1", "alice", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(
        open_case(s, "car/1", "alice", T0 + 3 * HOUR, T0 + 2 * HOUR, &id),
        LW_OK);
    assert_int_equal(id, 2);
    assert_int_equal(lw_case_get(s, 1, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_EXPIRED);
    assert_int_equal(c.closed_ms, T0 + HOUR);
    audit_of(s, "case end", &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.case_id[0], "1");
    assert_string_equal(r.detail[0], "outcome=expired");
    lw_store_close(s);
}

static void test_close(void **state)
{
    struct lw_store *s = fixture();
    int64_t id = 0, cid;
    struct lw_case c;
    struct recs r;

    (void)state;
    assert_int_equal(open_case(s, "car/1", "alice", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(lw_case_close(s, id, LW_CASE_EXPIRED, NULL, &BY, T0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_case_close(s, id, LW_CASE_OPEN, NULL, &BY, T0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_case_close(s, 99, LW_CASE_RECOVERED, NULL, &BY, T0),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_case_close(s, id, LW_CASE_RECOVERED, "towed to lot 4",
                                   &BY, T0 + 60000),
                     LW_OK);
    assert_int_equal(lw_case_get(s, id, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_RECOVERED);
    assert_int_equal(c.closed_ms, T0 + 60000);
    assert_string_equal(c.closed_by, "ops1");
    assert_string_equal(c.note, "towed to lot 4");
    assert_false(lw_case_is_open(&c, T0 + 60001));
    assert_int_equal(lw_case_active(s, "alice", "car/1", T0 + 60001, &cid),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_case_close(s, id, LW_CASE_CANCELLED, NULL, &BY, T0),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "ended already (recovered"));

    /* an expired, not yet swept case can still be closed */
    assert_int_equal(open_case(s, "car/4", "alice", T0 + HOUR, T0, &id), LW_OK);
    assert_int_equal(
        lw_case_close(s, id, LW_CASE_CANCELLED, NULL, &BY, T0 + 2 * HOUR),
        LW_OK);
    assert_int_equal(lw_case_get(s, id, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_CANCELLED);

    audit_of(s, "case close", &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.case_id[0], "1");
    assert_string_equal(r.device[0], "car/1");
    assert_string_equal(r.detail[0], "outcome=recovered");
    assert_string_equal(r.reason[0], "towed to lot 4");
    assert_string_equal(r.reason[1], "(null)");
    lw_store_close(s);
}

struct ids {
    int n;
    int64_t id[8];
};

static int collect_id(void *ctx, const struct lw_case *c)
{
    struct ids *x = ctx;

    x->id[x->n++] = c->id;
    return x->n >= 8;
}

static void test_list(void **state)
{
    struct lw_store *s = fixture();
    struct lw_case_filter f = {0};
    struct ids x = {0};

    (void)state;
    assert_int_equal(open_case(s, "car/1", "alice", T0 + HOUR, T0, NULL),
                     LW_OK);
    assert_int_equal(open_case(s, "car/4", "alice", T0 + 5 * HOUR, T0, NULL),
                     LW_OK);
    assert_int_equal(open_case(s, "car/1", "tab", T0 + 5 * HOUR, T0, NULL),
                     LW_OK);
    assert_int_equal(lw_case_close(s, 3, LW_CASE_CANCELLED, NULL, &BY, T0),
                     LW_OK);

    assert_int_equal(lw_case_list(s, NULL, collect_id, &x), LW_OK);
    assert_int_equal(x.n, 3);
    x.n = 0;
    f.open_only = true;
    f.now_ms = T0 + 2 * HOUR;
    assert_int_equal(lw_case_list(s, &f, collect_id, &x), LW_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.id[0], 2);
    x.n = 0;
    f.open_only = false;
    f.device = "car/1";
    assert_int_equal(lw_case_list(s, &f, collect_id, &x), LW_OK);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.id[0], 1);
    assert_int_equal(x.id[1], 3);
    x.n = 0;
    f.device = NULL;
    f.agent = "tab";
    assert_int_equal(lw_case_list(s, &f, collect_id, &x), LW_OK);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.id[0], 3);
    lw_store_close(s);
}

static void test_sweep(void **state)
{
    struct lw_store *s = fixture();
    struct lw_case c;
    int64_t ended = -1, cid;
    struct recs r;

    (void)state;
    assert_int_equal(open_case(s, "car/1", "alice", T0 + HOUR, T0, NULL),
                     LW_OK); /* 1: expires */
    assert_int_equal(open_case(s, "car/4", "alice", T0 + 9 * HOUR, T0, NULL),
                     LW_OK); /* 2: account paid */
    assert_int_equal(open_case(s, "car/1", "tab", T0 + 9 * HOUR, T0, NULL),
                     LW_OK); /* 3: stays */

    /* nothing to end yet */
    assert_int_equal(lw_case_sweep(s, THRESHOLD, &DAEMON, T0 + 1, &ended),
                     LW_OK);
    assert_int_equal(ended, 0);

    account(s, "A4", 0, "paid_off");
    assert_int_equal(
        lw_case_sweep(s, THRESHOLD, &DAEMON, T0 + 2 * HOUR, &ended), LW_OK);
    assert_int_equal(ended, 2);
    assert_int_equal(lw_case_get(s, 1, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_EXPIRED);
    assert_int_equal(c.closed_ms, T0 + HOUR);
    assert_string_equal(c.closed_by, "lienwatchd");
    assert_int_equal(lw_case_get(s, 2, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_UNWATCHED);
    assert_int_equal(c.closed_ms, T0 + 2 * HOUR);
    assert_int_equal(lw_case_get(s, 3, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_OPEN);

    /* ended for good: overdue again does not bring it back */
    account(s, "A4", 90, "");
    assert_int_equal(lw_case_active(s, "alice", "car/4", T0 + 3 * HOUR, &cid),
                     LW_ERR_NOTFOUND);
    assert_int_equal(
        lw_case_sweep(s, THRESHOLD, &DAEMON, T0 + 3 * HOUR, &ended), LW_OK);
    assert_int_equal(ended, 0);

    /* the vehicle moved to an account not registered: ended too */
    vehicle(s, "car/1", "A9");
    assert_int_equal(
        lw_case_sweep(s, THRESHOLD, &DAEMON, T0 + 4 * HOUR, &ended), LW_OK);
    assert_int_equal(ended, 1);
    assert_int_equal(lw_case_get(s, 3, &c), LW_OK);
    assert_int_equal(c.outcome, LW_CASE_UNWATCHED);

    audit_of(s, "case end", &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.who[0], "lienwatchd");
    assert_string_equal(r.case_id[0], "1");
    assert_string_equal(r.detail[0], "outcome=expired");
    assert_string_equal(r.case_id[1], "2");
    assert_string_equal(r.device[1], "car/4");
    assert_string_equal(r.detail[1], "outcome=unwatched");
    assert_string_equal(r.case_id[2], "3");
    lw_store_close(s);
}

static void test_names(void **state)
{
    enum lw_case_outcome o;

    (void)state;
    assert_string_equal(lw_case_outcome_name(LW_CASE_RECOVERED), "recovered");
    assert_string_equal(lw_case_outcome_name((enum lw_case_outcome)99), "?");
    assert_int_equal(lw_case_outcome_parse("cancelled", &o), LW_OK);
    assert_int_equal(o, LW_CASE_CANCELLED);
    assert_int_equal(lw_case_outcome_parse("Cancelled", &o), LW_ERR_INVAL);
    assert_int_equal(lw_case_outcome_parse(NULL, &o), LW_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_active),
        cmocka_unit_test(test_open_refused),
        cmocka_unit_test(test_reopen_after_expiry),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
