/*
 * test_audit.c - cmocka tests of lib/audit.c: the audit trail appended by a
 * writer and by a side writer (the CLI's) next to it, read back oldest
 * first (all, or one device's) by a reader; NULL device and reason; hostile
 * text; the trail inside a transaction; the arguments refused.
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

#include "lienwatch/audit.h"
#include "lienwatch/store.h"

/* 2026-11-23T00:00:00Z */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)

#define TMPDB_TAG "audit"
#include "tmpdb.h"

struct audits {
    int n;              /* records seen */
    char who[4][32];    /* who of each */
    char device[4][48]; /* device of each, "(null)" when NULL */
    char reason[4][48]; /* reason of each, "(null)" when NULL */
    int64_t at[4];      /* at_ms of each */
    int64_t id[4];      /* id of each */
    int stop_after;     /* stop when this many were seen (0 = never) */
};

static int audit_cb(void *ctx, const struct lw_audit_entry *a)
{
    struct audits *v = ctx;

    if (v->stop_after && v->n >= v->stop_after)
        return 1;
    if (v->n < 4) {
        snprintf(v->who[v->n], sizeof(v->who[0]), "%s", a->who);
        snprintf(v->device[v->n], sizeof(v->device[0]), "%s",
                 a->device ? a->device : "(null)");
        snprintf(v->reason[v->n], sizeof(v->reason[0]), "%s",
                 a->reason ? a->reason : "(null)");
        v->at[v->n] = a->at_ms;
        v->id[v->n] = a->id;
    }
    v->n++;
    return 0;
}

static void test_audit(void **state)
{
    struct tmp t;
    struct lw_store *w, *side, *r;
    struct audits v = {0};

    (void)state;
    tmp_make(&t);
    w = open_ok(t.path, 0);
    assert_int_equal(
        lw_audit_add(w, T0, "ann", "locate", "car-1", "repossession order 17"),
        LW_OK);
    /* a side handle (the CLI's) writes next to the open writer */
    side = open_ok(t.path, LW_STORE_NOMIGRATE);
    assert_int_equal(lw_store_schema_version(side), LW_STORE_SCHEMA_VERSION);
    assert_int_equal(
        lw_audit_add(side, T0 + SEC, "bob", "history", "car-2", NULL), LW_OK);
    lw_store_close(side);
    assert_int_equal(
        lw_audit_add(w, T0 + 2 * SEC, "ann", "devices", NULL, NULL), LW_OK);

    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_audit_list(r, NULL, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.who[0], "ann");
    assert_string_equal(v.reason[0], "repossession order 17");
    assert_string_equal(v.who[1], "bob");
    assert_string_equal(v.reason[1], "(null)");
    assert_string_equal(v.device[2], "(null)");
    assert_int_equal(v.at[1], T0 + SEC);
    v = (struct audits){0};
    assert_int_equal(lw_audit_list(r, "car-2", audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.who[0], "bob");
    lw_store_close(r);
    lw_store_close(w);
    tmp_remove(&t);
}

/* In the caller's transaction: gone with its rollback, kept with its
 * commit; a listing can stop early; hostile text is text. */
static void test_audit_txn_and_text(void **state)
{
    static const char evil[] = "x'); DROP TABLE audit;--";
    struct lw_store *s = open_ok(":memory:", 0);
    struct audits v = {0};

    (void)state;
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_audit_add(s, T0, "ann", "locate", "a", NULL), LW_OK);
    assert_int_equal(lw_store_rollback(s), LW_OK);
    assert_int_equal(lw_audit_list(s, NULL, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_audit_add(s, T0, evil, evil, evil, evil), LW_OK);
    assert_int_equal(lw_audit_add(s, T0 + SEC, "bob", "history", "b", "why"),
                     LW_OK);
    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_int_equal(lw_audit_list(s, NULL, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.who[0], evil);
    assert_string_equal(v.device[0], evil);
    assert_true(v.id[1] > v.id[0]);
    v = (struct audits){.stop_after = 1};
    assert_int_equal(lw_audit_list(s, NULL, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 1);
    v = (struct audits){0};
    assert_int_equal(lw_audit_list(s, evil, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 1);
    v = (struct audits){0};
    assert_int_equal(lw_audit_list(s, "nobody", audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 0);
    lw_store_close(s);
}

static void test_audit_arguments(void **state)
{
    struct tmp t;
    struct lw_store *s, *r;
    struct audits v = {0};

    (void)state;
    assert_int_equal(lw_audit_add(NULL, T0, "a", "b", NULL, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_audit_list(NULL, NULL, audit_cb, &v), LW_ERR_INVAL);
    tmp_make(&t);
    s = open_ok(t.path, 0);
    assert_int_equal(lw_audit_add(s, T0, "", "locate", NULL, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_audit_add(s, T0, NULL, "locate", NULL, NULL),
                     LW_ERR_INVAL);
    assert_int_equal(lw_audit_add(s, T0, "ann", "", NULL, NULL), LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(s), "who or action"));
    assert_int_equal(lw_audit_list(s, NULL, NULL, NULL), LW_ERR_INVAL);
    r = open_ok(t.path, LW_STORE_RDONLY);
    assert_int_equal(lw_audit_add(r, T0, "ann", "locate", NULL, NULL),
                     LW_ERR_INVAL);
    assert_non_null(strstr(lw_store_errmsg(r), "read-only"));
    lw_store_close(r);
    assert_int_equal(lw_audit_list(s, NULL, audit_cb, &v), LW_OK);
    assert_int_equal(v.n, 0); /* nothing was written */
    lw_store_close(s);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_audit_txn_and_text),
        cmocka_unit_test(test_audit_arguments),
    };

    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
