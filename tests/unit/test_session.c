/*
 * test_session.c - web sessions and login throttling (session.h): tokens
 * and CSRF values, idle and absolute expiry, logout, ending a user's
 * sessions, the table limit, and the throttle window per user name and
 * per client address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/session.h"

#define MIN_MS (60LL * 1000)

static struct lw_sessions *make(size_t max)
{
    struct lw_session_opts o = {.idle_ms = 30 * MIN_MS,
                                .max_ms = 12 * 60 * MIN_MS,
                                .max_failures = 5,
                                .window_ms = 15 * MIN_MS,
                                .max_sessions = max};
    struct lw_sessions *s = NULL;

    assert_int_equal(lw_sessions_new(&s, &o), LW_OK);
    return s;
}

static void test_create_check(void **state)
{
    struct lw_sessions *s = make(0);
    struct lw_session_info a, b;
    char tok[LW_SESSION_TOKEN_LEN], tok2[LW_SESSION_TOKEN_LEN];

    (void)state;
    assert_int_equal(lw_session_create(s, "alice", 1, 1000, tok, &a), LW_OK);
    assert_int_equal(strlen(tok), 43);
    assert_int_equal(strlen(a.csrf), 43);
    assert_string_not_equal(tok, a.csrf);
    assert_int_equal(lw_session_create(s, "alice", 1, 1000, tok2, NULL),
                     LW_OK);
    assert_string_not_equal(tok, tok2);
    assert_int_equal(lw_session_check(s, tok, 2000, &b), LW_OK);
    assert_string_equal(b.user, "alice");
    assert_int_equal(b.serial, a.serial);
    assert_true(lw_session_csrf_ok(&b, a.csrf));
    assert_false(lw_session_csrf_ok(&b, NULL));
    assert_false(lw_session_csrf_ok(&b, "short"));
    tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
    assert_int_equal(lw_session_check(s, tok2, 2000, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_check(s, "", 2000, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_create(s, "", 1, 1000, tok, NULL),
                     LW_ERR_INVAL);
    lw_sessions_free(s);
    lw_sessions_free(NULL);
}

static void test_expiry(void **state)
{
    struct lw_sessions *s = make(0);
    struct lw_session_info a;
    char tok[LW_SESSION_TOKEN_LEN];
    int64_t t = 0;

    (void)state;
    assert_int_equal(lw_session_create(s, "bob", 1, t, tok, &a), LW_OK);
    /* used every 29 minutes: alive until the absolute 12 h */
    for (t = 29 * MIN_MS; t < 12 * 60 * MIN_MS; t += 29 * MIN_MS)
        assert_int_equal(lw_session_check(s, tok, t, NULL), LW_OK);
    assert_int_equal(lw_session_check(s, tok, 12 * 60 * MIN_MS, NULL),
                     LW_ERR_NOTFOUND);
    /* idle */
    assert_int_equal(lw_session_create(s, "bob", 1, 0, tok, &a), LW_OK);
    assert_true(lw_session_alive(s, a.serial, 29 * MIN_MS));
    assert_false(lw_session_alive(s, a.serial, 30 * MIN_MS));
    assert_int_equal(lw_session_check(s, tok, 30 * MIN_MS, NULL),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_sweep(s, 30 * MIN_MS), 0);
    lw_sessions_free(s);
}

static void test_end(void **state)
{
    struct lw_sessions *s = make(0);
    char t1[LW_SESSION_TOKEN_LEN], t2[LW_SESSION_TOKEN_LEN],
        t3[LW_SESSION_TOKEN_LEN];

    (void)state;
    lw_session_create(s, "a", 1, 0, t1, NULL);
    lw_session_create(s, "a", 1, 0, t2, NULL);
    lw_session_create(s, "b", 1, 0, t3, NULL);
    assert_int_equal(lw_session_end(s, t1), LW_OK);
    assert_int_equal(lw_session_end(s, t1), LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_check(s, t2, 1, NULL), LW_OK);
    assert_int_equal(lw_session_end_user(s, "a"), 1);
    assert_int_equal(lw_session_check(s, t2, 1, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_check(s, t3, 1, NULL), LW_OK);
    lw_sessions_free(s);
}

static void test_limit(void **state)
{
    struct lw_sessions *s = make(3);
    char t[4][LW_SESSION_TOKEN_LEN];

    (void)state;
    for (int i = 0; i < 3; i++)
        lw_session_create(s, "u", 1, i, t[i], NULL);
    lw_session_check(s, t[0], 10, NULL); /* t[1] is now least recent */
    lw_session_create(s, "u", 1, 11, t[3], NULL);
    assert_int_equal(lw_session_check(s, t[1], 12, NULL), LW_ERR_NOTFOUND);
    assert_int_equal(lw_session_check(s, t[0], 12, NULL), LW_OK);
    assert_int_equal(lw_session_check(s, t[3], 12, NULL), LW_OK);
    lw_sessions_free(s);
}

static void test_throttle(void **state)
{
    struct lw_sessions *s = make(0);
    int64_t retry = 0;

    (void)state;
    for (int i = 0; i < 4; i++)
        lw_login_failed(s, "bob", "10.0.0.1", i * 1000);
    assert_false(lw_login_throttled(s, "bob", "10.0.0.9", 5000, NULL));
    lw_login_failed(s, "bob", "10.0.0.1", 5000);
    /* the user name, from any address */
    assert_true(lw_login_throttled(s, "bob", "10.0.0.9", 6000, &retry));
    assert_int_equal(retry, (15 * MIN_MS - 6000) / 1000);
    /* the address, for any name */
    assert_true(lw_login_throttled(s, "carol", "10.0.0.1", 6000, NULL));
    assert_false(lw_login_throttled(s, "carol", "10.0.0.2", 6000, NULL));
    /* the window has passed */
    assert_false(lw_login_throttled(s, "bob", "10.0.0.1", 15 * MIN_MS, NULL));
    lw_sessions_free(s);
}

static void test_throttle_bounded(void **state)
{
    struct lw_sessions *s = make(0);
    char name[32];

    (void)state;
    for (int i = 0; i < LW_SESSION_THROTTLE_MAX + 50; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        lw_login_failed(s, name, NULL, i);
    }
    /* still works, and the newest are remembered */
    for (int i = 0; i < 5; i++)
        lw_login_failed(s, "last", NULL, 100000);
    assert_true(lw_login_throttled(s, "last", NULL, 100001, NULL));
    lw_sessions_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_check),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_end),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_throttle_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
