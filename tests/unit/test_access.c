/*
 * test_access.c - unit tests for lib/access.c: every combination of roles,
 * watched, case and reason under each unwatched policy, against a table
 * written out by hand from the rules in access.h (not derived from the
 * code), plus the parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/access.h"

#define A LW_ROLE_AGENT
#define O LW_ROLE_OPS
#define M LW_ROLE_ADMIN

struct row {
    unsigned roles;
    bool watched, case_open, reason;
    enum lw_unwatched_policy pol;
    enum lw_access_verdict want;
    const char *basis;
};

static const struct row rows[] = {
    /* agents: a case and a watched account, nothing else; never a reason */
    {A, true, true, false, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED, "case"},
    {A, true, true, true, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED, "case"},
    {A, true, false, false, LW_UNWATCHED_REASON, LW_ACCESS_HIDDEN, NULL},
    {A, true, false, true, LW_UNWATCHED_ALLOW, LW_ACCESS_HIDDEN, NULL},
    {A, false, true, false, LW_UNWATCHED_REASON, LW_ACCESS_HIDDEN, NULL},
    {A, false, true, true, LW_UNWATCHED_REASON, LW_ACCESS_HIDDEN, NULL},
    {A, false, true, true, LW_UNWATCHED_ALLOW, LW_ACCESS_HIDDEN, NULL},
    {A, false, false, false, LW_UNWATCHED_ALLOW, LW_ACCESS_HIDDEN, NULL},
    /* ops: watched always; unwatched by the policy */
    {O, true, false, false, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED, "watched"},
    {O, true, false, false, LW_UNWATCHED_DENY, LW_ACCESS_GRANTED, "watched"},
    {O, true, false, true, LW_UNWATCHED_DENY, LW_ACCESS_GRANTED, "watched"},
    {O, false, false, false, LW_UNWATCHED_REASON, LW_ACCESS_NEED_REASON, NULL},
    {O, false, false, true, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED, "override"},
    {O, false, false, false, LW_UNWATCHED_DENY, LW_ACCESS_DENIED, NULL},
    {O, false, false, true, LW_UNWATCHED_DENY, LW_ACCESS_DENIED, NULL},
    {O, false, false, false, LW_UNWATCHED_ALLOW, LW_ACCESS_GRANTED,
     "unwatched_allowed"},
    {O, false, true, false, LW_UNWATCHED_REASON, LW_ACCESS_NEED_REASON, NULL},
    /* admin alone sees nothing; with another role, that role's rules */
    {M, true, true, true, LW_UNWATCHED_ALLOW, LW_ACCESS_DENIED, NULL},
    {M, false, false, true, LW_UNWATCHED_ALLOW, LW_ACCESS_DENIED, NULL},
    {M | O, false, false, true, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED,
     "override"},
    {M | A, true, true, false, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED, "case"},
    {M | A, true, false, false, LW_UNWATCHED_REASON, LW_ACCESS_HIDDEN, NULL},
    /* agent and ops: the ops rules */
    {A | O, true, false, false, LW_UNWATCHED_REASON, LW_ACCESS_GRANTED,
     "watched"},
    {A | O, false, true, false, LW_UNWATCHED_REASON, LW_ACCESS_NEED_REASON,
     NULL},
    {A | O, false, true, true, LW_UNWATCHED_DENY, LW_ACCESS_DENIED, NULL},
    /* no role at all */
    {0, true, true, true, LW_UNWATCHED_ALLOW, LW_ACCESS_DENIED, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        struct lw_access_req r = {.roles = w->roles,
                                  .watched = w->watched,
                                  .case_open = w->case_open,
                                  .reason = w->reason ? "court order 17" : NULL,
                                  .unwatched = w->pol};
        struct lw_access_decision d = {.verdict = -1};

        lw_access_decide(&r, &d);
        if (d.verdict != w->want) {
            print_error("row %zu: verdict %d, want %d\n", i, (int)d.verdict,
                        (int)w->want);
            fail();
        }
        if (w->basis)
            assert_non_null(d.basis), assert_string_equal(d.basis, w->basis);
        else
            assert_null(d.basis);
        assert_non_null(d.why);
        assert_true(strlen(d.why) > 10);
    }
}

/* An empty reason is no reason. */
static void test_empty_reason(void **state)
{
    struct lw_access_req r = {.roles = LW_ROLE_OPS, .reason = ""};
    struct lw_access_decision d;

    (void)state;
    lw_access_decide(&r, &d);
    assert_int_equal(d.verdict, LW_ACCESS_NEED_REASON);
    lw_access_decide(NULL, &d); /* does nothing */
    lw_access_decide(&r, NULL);
}

static void test_watched(void **state)
{
    (void)state;
    assert_true(lw_access_account_watched(1, "overdue", 1));
    assert_true(lw_access_account_watched(45, NULL, 30));
    assert_true(lw_access_account_watched(30, "", 30));
    assert_false(lw_access_account_watched(29, "overdue", 30));
    assert_false(lw_access_account_watched(0, "current", 0)); /* min 1 */
    assert_false(lw_access_account_watched(-3, NULL, -5));
    assert_false(lw_access_account_watched(90, "paid_off", 1));
    assert_false(lw_access_account_watched(90, "closed", 1));
    assert_true(lw_access_account_watched(90, "charged_off", 1));
    assert_true(lw_access_account_ended("paid_off"));
    assert_true(lw_access_account_ended("closed"));
    assert_false(lw_access_account_ended("Paid_Off"));
    assert_false(lw_access_account_ended(""));
    assert_false(lw_access_account_ended(NULL));
}

static void test_policy_names(void **state)
{
    enum lw_unwatched_policy p;

    (void)state;
    assert_int_equal(lw_access_policy_parse("reason", &p), LW_OK);
    assert_int_equal(p, LW_UNWATCHED_REASON);
    assert_int_equal(lw_access_policy_parse("deny", &p), LW_OK);
    assert_int_equal(p, LW_UNWATCHED_DENY);
    assert_int_equal(lw_access_policy_parse("allow", &p), LW_OK);
    assert_int_equal(p, LW_UNWATCHED_ALLOW);
    assert_string_equal(lw_access_policy_name(p), "allow");
    assert_int_equal(lw_access_policy_parse("Allow", &p), LW_ERR_INVAL);
    assert_int_equal(lw_access_policy_parse("", &p), LW_ERR_INVAL);
    assert_int_equal(lw_access_policy_parse(NULL, &p), LW_ERR_INVAL);
    assert_string_equal(lw_access_policy_name((enum lw_unwatched_policy)9),
                        "?");
}

static void test_roles(void **state)
{
    unsigned r = 0;
    char buf[32];

    (void)state;
    assert_int_equal(lw_access_roles_parse("agent", &r), LW_OK);
    assert_int_equal(r, LW_ROLE_AGENT);
    assert_int_equal(lw_access_roles_parse(" ops , admin ", &r), LW_OK);
    assert_int_equal(r, LW_ROLE_OPS | LW_ROLE_ADMIN);
    assert_int_equal(lw_access_roles_parse("admin,ops,agent,ops", &r), LW_OK);
    assert_int_equal(r, LW_ROLE_ALL);
    assert_string_equal(lw_access_roles_format(r, buf, sizeof(buf)),
                        "agent,ops,admin");
    assert_string_equal(lw_access_roles_format(LW_ROLE_OPS, buf, 4), "ops");
    assert_string_equal(lw_access_roles_format(LW_ROLE_ALL, buf, 10),
                        "agent,ops"); /* whole names only */
    assert_string_equal(lw_access_roles_format(0, buf, sizeof(buf)), "");
    r = 77;
    assert_int_equal(lw_access_roles_parse("", &r), LW_ERR_INVAL);
    assert_int_equal(lw_access_roles_parse("ops,,agent", &r), LW_ERR_INVAL);
    assert_int_equal(lw_access_roles_parse("ops,", &r), LW_ERR_INVAL);
    assert_int_equal(lw_access_roles_parse("root", &r), LW_ERR_INVAL);
    assert_int_equal(lw_access_roles_parse("opsx", &r), LW_ERR_INVAL);
    assert_int_equal(lw_access_roles_parse("<script>", &r), LW_ERR_INVAL);
    assert_int_equal(r, 77); /* untouched on error */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),   cmocka_unit_test(test_empty_reason),
        cmocka_unit_test(test_watched), cmocka_unit_test(test_policy_names),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
