/*
 * test_webreq.c - parsing what web clients send (webreq.h): routes and
 * methods, percent-decoded device ids, query numbers and times, the JSON
 * bodies, cookies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/webreq.h"

static void test_routes(void **state)
{
    struct lw_route r;
    char err[200];

    (void)state;
    assert_int_equal(lw_webreq_route("GET", "/api/v1/cases", &r, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(r.kind, LW_RT_CASES);
    assert_int_equal(lw_webreq_route("GET",
                                     "/api/v1/vehicles/alice%2Fphone/history",
                                     &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.kind, LW_RT_HISTORY);
    assert_string_equal(r.device, "alice/phone");
    /* an unencoded '/' is another path */
    assert_int_equal(lw_webreq_route("GET", "/api/v1/vehicles/alice/phone",
                                     &r, err, sizeof(err)),
                     404);
    assert_int_equal(lw_webreq_route("POST", "/api/v1/vehicles/v%20x/locate",
                                     &r, err, sizeof(err)),
                     0);
    assert_string_equal(r.device, "v x");
    assert_int_equal(lw_webreq_route("GET", "/api/v1/vehicles/a%2Fb/places",
                                     &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.kind, LW_RT_PLACES);
    assert_string_equal(r.device, "a/b");
    assert_int_equal(lw_webreq_route("POST", "/api/v1/vehicles/a/places", &r,
                                     err, sizeof(err)),
                     405);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/vehicles/%ZZ/places",
                                     &r, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/commands/42", &r, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(r.id, 42);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/commands/0", &r, err,
                                     sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/commands/99999999999999999",
                                     &r, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_route("PUT", "/api/v1/cases", &r, err,
                                     sizeof(err)),
                     405);
    assert_string_equal(lw_webreq_allow(r.kind), "GET, POST");
    assert_int_equal(lw_webreq_route("GET", "/api/v1/cases/", &r, err,
                                     sizeof(err)),
                     404);
    assert_int_equal(lw_webreq_route("GET", "/api/v1//cases", &r, err,
                                     sizeof(err)),
                     404);
    assert_int_equal(lw_webreq_route("GET", "/api/v2/cases", &r, err,
                                     sizeof(err)),
                     404);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/vehicles/%zz", &r, err,
                                     sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_route("GET", "/api/v1/vehicles/a%00b", &r, err,
                                     sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_route("POST", "/api/v1/alerts/7/ack", &r, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(r.kind, LW_RT_ALERT_ACK);
}

static void test_decode(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(lw_webreq_decode("a+b%41", 6, true, out, sizeof(out)),
                     LW_OK);
    assert_string_equal(out, "a bA");
    assert_int_equal(lw_webreq_decode("a+b", 3, false, out, sizeof(out)),
                     LW_OK);
    assert_string_equal(out, "a+b");
    assert_int_equal(lw_webreq_decode("%4", 2, true, out, sizeof(out)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_decode("%0a", 3, true, out, sizeof(out)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_decode("%ff", 3, true, out, sizeof(out)),
                     LW_ERR_INVAL); /* not UTF-8 */
    assert_int_equal(lw_webreq_decode("%c3%a9", 6, true, out, sizeof(out)),
                     LW_OK);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(lw_webreq_decode("12345678", 8, true, out, sizeof(out)),
                     LW_ERR_RANGE);
}

static void test_numbers(void **state)
{
    char err[200];
    double d;
    int64_t i;

    (void)state;
    assert_int_equal(lw_webreq_double("lat", "52.5", -90, 90, &d, err,
                                      sizeof(err)),
                     LW_OK);
    assert_true(d == 52.5);
    assert_int_equal(lw_webreq_double("lat", "91", -90, 90, &d, err,
                                      sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_double("lat", "nan", -90, 90, &d, err,
                                      sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_double("lat", "0x10", -90, 90, &d, err,
                                      sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_double("lat", "", -90, 90, &d, err,
                                      sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_int("n", "12", 0, 20, &i, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_webreq_int("n", "99999999999999999999", 0, 20, &i,
                                   err, sizeof(err)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_webreq_time("from", "2026-01-02T03:04:05Z", &i, err,
                                    sizeof(err)),
                     LW_OK);
    assert_int_equal(i, 1767323045000LL);
    assert_int_equal(lw_webreq_time("from", "1000", &i, err, sizeof(err)),
                     LW_OK);
    assert_int_equal(i, 1000);
    assert_int_equal(lw_webreq_time("from", "yesterday", &i, err,
                                    sizeof(err)),
                     LW_ERR_INVAL);
}

#define B(s) s, strlen(s)

static void test_bodies(void **state)
{
    struct lw_login_req l;
    struct lw_case_req c;
    struct lw_text_req t;
    char err[300];

    (void)state;
    assert_int_equal(lw_webreq_login(B("{\"username\":\"a\",\"password\":\"p\"}"),
                                     &l, err, sizeof(err)),
                     0);
    assert_string_equal(l.username, "a");
    assert_int_equal(lw_webreq_login(B("{\"username\":\"a\"}"), &l, err,
                                     sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_login(B("{\"username\":\"a\",\"username\":"
                                       "\"b\",\"password\":\"p\"}"),
                                     &l, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_login(B("{\"username\":\"a\\u0000b\","
                                       "\"password\":\"p\"}"),
                                     &l, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_login("{", 1, &l, err, sizeof(err)), 400);
    assert_int_equal(lw_webreq_login(NULL, LW_WEBREQ_BODY_MAX + 1, &l, err,
                                     sizeof(err)),
                     413);
    assert_int_equal(lw_webreq_case(B("{\"device\":\"d\",\"agent\":\"a\","
                                      "\"expires\":\"72h\",\"reason\":\"r\"}"),
                                    &c, err, sizeof(err)),
                     0);
    assert_int_equal(c.expires_in_ms, 72LL * 3600 * 1000);
    assert_int_equal(lw_webreq_case(B("{\"device\":\"d\",\"agent\":\"a\","
                                      "\"expires\":3600,\"reason\":\"r\"}"),
                                    &c, err, sizeof(err)),
                     0);
    assert_int_equal(c.expires_in_ms, 3600LL * 1000);
    assert_int_equal(lw_webreq_case(B("{\"device\":\"d\",\"agent\":\"a\","
                                      "\"expires\":0,\"reason\":\"r\"}"),
                                    &c, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_case(B("{\"device\":\"d\",\"agent\":\"a\","
                                      "\"expires\":\"1h\",\"reason\":\"\"}"),
                                    &c, err, sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_close(B("{\"outcome\":\"recovered\"}"), &t,
                                     err, sizeof(err)),
                     0);
    assert_int_equal(lw_webreq_close(B("{\"outcome\":\"sold\"}"), &t, err,
                                     sizeof(err)),
                     400);
    assert_int_equal(lw_webreq_ack(NULL, 0, &t, err, sizeof(err)), 0);
    assert_string_equal(t.text, "");
    assert_int_equal(lw_webreq_ack(B("{\"note\":\"seen\"}"), &t, err,
                                   sizeof(err)),
                     0);
    assert_string_equal(t.text, "seen");
}

static void test_cookie(void **state)
{
    char v[16];

    (void)state;
    assert_true(lw_webreq_cookie("a=1; lw_session=xyz; b=2", "lw_session", v,
                                 sizeof(v)));
    assert_string_equal(v, "xyz");
    assert_false(lw_webreq_cookie("xlw_session=1", "lw_session", v,
                                  sizeof(v)));
    assert_false(lw_webreq_cookie("lw_session=0123456789abcdefgh",
                                  "lw_session", v, sizeof(v)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),  cmocka_unit_test(test_decode),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
