/*
 * test_jsonw.c - unit tests for lib/jsonw.c: the writer's text is what
 * jansson's json_dumps (COMPACT | ENSURE_ASCII) prints for the same values
 * (strings with quotes, controls, UTF-8 of every length, reals integral and
 * not, extremes), malformed UTF-8 becomes U+FFFD, NaN and infinities null,
 * and misuse (a value without key, an unbalanced end, too deep) fails the
 * writer instead of printing broken JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "lienwatch/jsonw.h"

static const char *const STRINGS[] = {
    "",
    "plain",
    "quote \" backslash \\ slash /",
    "\b\f\n\r\t\x01\x1f\x7f",
    "<img src=x onerror=alert(1)>",
    "caf\xc3\xa9 \xe8\xbd\xa6\xe8\xbe\x86 \xf0\x9f\x9a\x97", /* 2, 3, 4 bytes */
    "\xef\xbf\xbf\xf4\x8f\xbf\xbf",                       /* U+FFFF, max */
};

static const double REALS[] = {0.0,     -0.0,   1.0,       41.15,
                               -8.61,   1e300,  -1.5e-300, 123456789.0,
                               0.1,     2.5e-5, 1e21,      41.123456789012345};

static char *with_jansson(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

    json_decref(v);
    assert_non_null(s);
    return s;
}

static void test_strings_as_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(STRINGS) / sizeof(STRINGS[0]); i++) {
        struct lw_jw w;
        char *mine, *theirs;

        lw_jw_init(&w);
        lw_jw_string(&w, STRINGS[i]);
        mine = lw_jw_take(&w, NULL);
        theirs = with_jansson(json_string(STRINGS[i]));
        assert_non_null(mine);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
    }
}

static void test_reals_as_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(REALS) / sizeof(REALS[0]); i++) {
        struct lw_jw w;
        char *mine, *theirs;
        json_t *back;

        lw_jw_init(&w);
        lw_jw_real(&w, REALS[i]);
        mine = lw_jw_take(&w, NULL);
        theirs = with_jansson(json_real(REALS[i]));
        assert_non_null(mine);
        /* the same double read back (jansson may drop a "+" or zeros of
         * an exponent), and a real, never an integer */
        back = json_loads(mine, JSON_DECODE_ANY, NULL);
        assert_non_null(back);
        assert_true(json_is_real(back));
        assert_true(json_real_value(back) == REALS[i]);
        json_decref(back);
        if (!strchr(theirs, 'e'))
            assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
    }
}

static void test_document(void **state)
{
    struct lw_jw w;
    char *mine, *theirs;
    size_t len = 0;
    json_t *v;

    (void)state;
    lw_jw_init(&w);
    lw_jw_array(&w);
    for (int i = 0; i < 3; i++) {
        lw_jw_object(&w);
        lw_jw_kint(&w, "case_id", i + 1);
        lw_jw_kstring(&w, "device", "fleet/\"v1\"");
        lw_jw_key(&w, "plate");
        lw_jw_string_or_null(&w, i == 1 ? "" : "AB-12");
        lw_jw_kbool(&w, "watched", i != 2);
        lw_jw_key(&w, "fix");
        lw_jw_object(&w);
        lw_jw_kreal(&w, "lat", 41.15 + i);
        lw_jw_kreal(&w, "speed", NAN);
        lw_jw_object_end(&w);
        lw_jw_key(&w, "tags");
        lw_jw_array(&w);
        lw_jw_array_end(&w);
        lw_jw_key(&w, "raw");
        lw_jw_raw(&w, "{\"a\":[1,2]}");
        lw_jw_kint(&w, "big", INT64_MIN);
        lw_jw_object_end(&w);
    }
    lw_jw_array_end(&w);
    mine = lw_jw_take(&w, &len);
    assert_non_null(mine);
    assert_int_equal(len, strlen(mine));
    v = json_loads(mine, 0, NULL);
    assert_non_null(v);
    assert_int_equal(json_array_size(v), 3);
    assert_true(json_is_null(json_object_get(json_array_get(v, 1), "plate")));
    assert_true(json_is_null(
        json_object_get(json_object_get(json_array_get(v, 0), "fix"),
                        "speed")));
    theirs = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_string_equal(mine, theirs);
    json_decref(v);
    free(mine);
    free(theirs);
}

static void test_malformed_utf8(void **state)
{
    /* a lone continuation byte, a truncated sequence, an overlong '/', a
     * surrogate, a byte never valid */
    static const char *const bad[] = {"a\x80z", "a\xe8\xbdz", "\xc0\xaf",
                                      "\xed\xa0\x80", "\xff"};
    struct lw_jw w;
    char *mine;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lw_jw_init(&w);
        lw_jw_string(&w, bad[i]);
        mine = lw_jw_take(&w, NULL);
        assert_non_null(mine);
        assert_non_null(strstr(mine, "\\uFFFD"));
        for (const char *p = mine; *p; p++)
            assert_true((unsigned char)*p < 0x80);
        json_decref(json_loads(mine, JSON_DECODE_ANY, NULL));
        free(mine);
    }
    lw_jw_init(&w);
    lw_jw_string(&w, "a\x80z");
    mine = lw_jw_take(&w, NULL);
    assert_string_equal(mine, "\"a\\uFFFDz\"");
    free(mine);
}

static void test_misuse_fails(void **state)
{
    struct lw_jw w;

    (void)state;
    lw_jw_init(&w); /* a value in an object without its key */
    lw_jw_object(&w);
    lw_jw_int(&w, 1);
    lw_jw_object_end(&w);
    assert_null(lw_jw_take(&w, NULL));

    lw_jw_init(&w); /* ends that do not match */
    lw_jw_array(&w);
    lw_jw_object_end(&w);
    assert_null(lw_jw_take(&w, NULL));

    lw_jw_init(&w); /* left open */
    lw_jw_array(&w);
    assert_null(lw_jw_take(&w, NULL));

    lw_jw_init(&w); /* a key without its value */
    lw_jw_object(&w);
    lw_jw_key(&w, "k");
    lw_jw_object_end(&w);
    assert_null(lw_jw_take(&w, NULL));

    lw_jw_init(&w); /* two top-level values */
    lw_jw_int(&w, 1);
    lw_jw_int(&w, 2);
    assert_null(lw_jw_take(&w, NULL));

    lw_jw_init(&w); /* too deep */
    for (int i = 0; i <= LW_JW_DEPTH; i++)
        lw_jw_array(&w);
    assert_true(w.failed);
    lw_jw_release(&w);
    assert_null(w.p);
}

static void test_large(void **state)
{
    struct lw_jw w;
    char *mine;
    size_t len = 0;
    json_t *v;

    (void)state;
    lw_jw_init(&w);
    lw_jw_array(&w);
    for (int i = 0; i < 20000; i++)
        lw_jw_string(&w, "twenty-three bytes long");
    lw_jw_array_end(&w);
    mine = lw_jw_take(&w, &len);
    assert_non_null(mine);
    assert_int_equal(len, 2 + 20000 * 26 - 1); /* "...", */
    v = json_loads(mine, 0, NULL);
    assert_int_equal(json_array_size(v), 20000);
    json_decref(v);
    free(mine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_as_jansson),
        cmocka_unit_test(test_reals_as_jansson),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_malformed_utf8),
        cmocka_unit_test(test_misuse_fails),
        cmocka_unit_test(test_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
