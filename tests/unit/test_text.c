/*
 * test_text.c - bounded copies and the check of typed or imported text
 * (lib/text.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/text.h"

static void test_copy_truncates(void **state)
{
    char buf[4];

    (void)state;
    assert_string_equal(lw_copy(buf, sizeof(buf), "abcdef"), "abc");
    assert_string_equal(lw_copy(buf, sizeof(buf), NULL), "");
    assert_string_equal(lw_copy(buf, sizeof(buf), "ab"), "ab");
    assert_null(lw_copy(NULL, 4, "x"));
}

static void test_utf8_next(void **state)
{
    unsigned long cp = 0;

    (void)state;
    assert_int_equal(lw_utf8_next((const unsigned char *)"A", &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xc3\xa9", &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xe8\xbd\xa6", &cp),
                     3);
    assert_int_equal(cp, 0x8F66); /* 车 */
    assert_int_equal(
        lw_utf8_next((const unsigned char *)"\xf0\x9f\x9a\x97", &cp), 4);
    assert_int_equal(cp, 0x1F697);
    /* overlong, surrogate, past U+10FFFF, stray continuation, cut short */
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xc0\xaf", &cp), 0);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xe0\x80\xaf", &cp),
                     0);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xed\xa0\x80", &cp),
                     0);
    assert_int_equal(
        lw_utf8_next((const unsigned char *)"\xf4\x90\x80\x80", &cp), 0);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\x80", &cp), 0);
    assert_int_equal(lw_utf8_next((const unsigned char *)"\xe8\xbd", &cp), 0);
}

static void test_text_ok(void **state)
{
    char why[96];

    (void)state;
    assert_true(lw_text_ok("B-LW 123", 16, why, sizeof(why)));
    assert_true(lw_text_ok("Müller 车 <img src=x>", 64, why, sizeof(why)));
    assert_true(lw_text_ok("", 0, why, sizeof(why)));
    assert_false(lw_text_ok("abcdef", 5, why, sizeof(why)));
    assert_string_equal(why, "is 6 bytes long, at most 5 are allowed");
    assert_false(lw_text_ok("ab\xff", 16, why, sizeof(why)));
    assert_string_equal(why, "is not valid UTF-8 (byte 3)");
    assert_false(lw_text_ok("a\tb", 16, why, sizeof(why)));
    assert_string_equal(why, "contains a control character (byte 2)");
    assert_false(lw_text_ok("a\x7f", 16, why, sizeof(why)));
    assert_false(lw_text_ok("a\xc2\x85", 16, why, sizeof(why))); /* NEL, C1 */
    assert_string_equal(why, "contains a control character (byte 2)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_truncates),
        cmocka_unit_test(test_utf8_next),
        cmocka_unit_test(test_text_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
