/*
 * test_mime.c - unit tests of lib/mime.c for what fuzzing found: a bare CR
 * at the end of quoted-printable text is kept, a folded header never has a
 * line of white space only, and header text that could pass for an RFC
 * 2047 encoded word is encoded itself. (The rest of mime.c is exercised
 * through the composed mails of test_outbox.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/mime.h"

static void test_qp_bare_cr(void **state)
{
    char *q;

    (void)state;
    /* a CR that ends no line is text: encoded, not dropped */
    q = lw_mime_qp("abc\r");
    assert_string_equal(q, "abc=0D");
    free(q);
    /* CR LF and LF both end a line */
    q = lw_mime_qp("a\r\nb\nc");
    assert_string_equal(q, "a\r\nb\r\nc");
    free(q);
    q = lw_mime_qp("x \r\n");
    assert_string_equal(q, "x=20\r\n");
    free(q);
}

static void test_header_no_blank_lines(void **state)
{
    char value[256], *h, *line, *save = NULL;

    (void)state;
    /* a long word, blanks, a long word: the blanks stay on the first line */
    memset(value, 'y', 80);
    memcpy(value + 80, "   ", 3);
    memset(value + 83, 'z', 90);
    value[173] = '\0';
    value[0] = ' ';
    h = lw_mime_header("Subject", value);
    assert_non_null(h);
    for (line = strtok_r(h, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save))
        assert_true(line[strspn(line, " \t")] != '\0');
    free(h);
    /* ordinary text still folds at spaces */
    h = lw_mime_header("Subject", "[lienwatch] geofence_exit: device "
                                  "alice/phone left its geofence (a fence "
                                  "with a rather long name indeed)");
    assert_string_equal(h, "Subject: [lienwatch] geofence_exit: device "
                           "alice/phone left its geofence (a\r\n fence with a "
                           "rather long name indeed)\r\n");
    free(h);
}

static void test_header_lookalike_words(void **state)
{
    char *h;

    (void)state;
    /* "=?" could start an encoded word: the whole text is encoded */
    h = lw_mime_header("Subject", "=?UTF-8?B?SGFja2Vk?=");
    assert_string_equal(h, "Subject: =?UTF-8?B?PT9VVEYtOD9CP1NHRmphMlZrPz0="
                           "?=\r\n");
    free(h);
    h = lw_mime_header("Subject", "a = b ? c");
    assert_string_equal(h, "Subject: a = b ? c\r\n");
    free(h);
    h = lw_mime_mailbox_header("From", "=?x?= <a@b.c>");
    assert_string_equal(h, "From: =?UTF-8?B?PT94Pz0=?= <a@b.c>\r\n");
    free(h);
    h = lw_mime_mailbox_header("From", "Ops <a@b.c>");
    assert_string_equal(h, "From: Ops <a@b.c>\r\n");
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qp_bare_cr),
        cmocka_unit_test(test_header_no_blank_lines),
        cmocka_unit_test(test_header_lookalike_words),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
