/*
 * test_accountcsv.c - unit tests of lib/accountcsv.c: a good file (byte
 * order mark, CRLF, quotes, blank lines, no final newline), every kind of
 * bad row with its line and message, repeated accounts, the header, NUL
 * bytes, limits of the fields, and a large file.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/accountcsv.h"

/* Room for error detail. */
#define ERR_MAX 256
/* Bad rows kept by one parse in these tests. */
#define MAX_BAD 16

/* The bad rows of one parse, copied. */
struct bads {
    long line[MAX_BAD];     /* their lines, in callback order */
    char why[MAX_BAD][256]; /* their messages */
    size_t n;               /* how many */
};

static void keep(void *ctx, long line, const char *why)
{
    struct bads *b = ctx;

    assert_true(b->n < MAX_BAD);
    b->line[b->n] = line;
    snprintf(b->why[b->n], sizeof b->why[0], "%s", why);
    b->n++;
}

/* The message reported for line, or NULL. */
static const char *why_of(const struct bads *b, long line)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->line[i] == line)
            return b->why[i];
    return NULL;
}

/* Parses the NUL-terminated text; expects LW_OK. */
static void parse_ok(const char *text, struct lw_accountcsv *csv,
                     struct bads *b)
{
    char err[ERR_MAX] = "";

    memset(b, 0, sizeof *b);
    if (lw_accountcsv_parse(text, strlen(text), csv, keep, b, err,
                            sizeof err) != LW_OK)
        fail_msg("parse failed: %s", err);
    assert_int_equal((size_t)csv->bad, b->n);
}

static void test_good(void **state)
{
    static const char text[] = "\xef\xbb\xbf"
                               "account,days_past_due,status\r\n"
                               "A-1,3,overdue\r\n"
                               "\r\n"
                               "\"A,2\", 0 ,\"cur \"\"rent\"\"\"\r\n"
                               "  \t \n"
                               "J\xc3\xb6rg-7,2147483647,\n"
                               "LAST,12,\"\"";
    struct lw_accountcsv csv;
    struct bads b;

    (void)state;
    parse_ok(text, &csv, &b);
    assert_int_equal(csv.bad, 0);
    assert_int_equal(csv.lines, 7);
    assert_int_equal(csv.n, 4);
    assert_string_equal(csv.rows[0].a.account, "A-1");
    assert_int_equal(csv.rows[0].a.days_past_due, 3);
    assert_string_equal(csv.rows[0].a.status, "overdue");
    assert_int_equal(csv.rows[0].line, 2);
    assert_string_equal(csv.rows[1].a.account, "A,2");
    assert_int_equal(csv.rows[1].a.days_past_due, 0);
    assert_string_equal(csv.rows[1].a.status, "cur \"rent\"");
    assert_int_equal(csv.rows[1].line, 4);
    assert_string_equal(csv.rows[2].a.account, "J\xc3\xb6rg-7");
    assert_int_equal(csv.rows[2].a.days_past_due, INT_MAX);
    assert_string_equal(csv.rows[2].a.status, "");
    assert_string_equal(csv.rows[3].a.account, "LAST");
    assert_int_equal(csv.rows[3].line, 7);
    lw_accountcsv_release(&csv);
    assert_null(csv.rows);
    assert_int_equal(csv.n, 0);
    lw_accountcsv_release(NULL);
}

static void test_bad_rows(void **state)
{
    static const char text[] = "account,days_past_due,status\n"
                               "NEW-1,3,overdue\n"
                               "A-1,x,overdue\n"
                               "NEW-2,1\n"
                               ",2,empty\n"
                               "NEW-1,4,again\n"
                               "A-1,\"7,unclosed\n"
                               "ACC-1,-2,negative\n"
                               "B,2147483648,big\n"
                               "C,1,a,b,c,d,e,f,g,h,i\n"
                               "D,\"1\"x,after\n"
                               "E,1\"2,inside\n"
                               "F,1,\xff\n"
                               "G,1,tab\there\n"
                               "H,1,0123456789012345678901234567890123\n"
                               "I,+1,plus\n";
    struct lw_accountcsv csv;
    struct bads b;

    (void)state;
    parse_ok(text, &csv, &b);
    assert_int_equal(csv.lines, 16);
    assert_int_equal(csv.bad, 14);
    /* only NEW-1 (line 2) is good; its repeat on line 6 is dropped */
    assert_int_equal(csv.n, 1);
    assert_string_equal(csv.rows[0].a.account, "NEW-1");
    assert_int_equal(csv.rows[0].a.days_past_due, 3);
    assert_string_equal(why_of(&b, 3),
                        "account A-1: days_past_due 'x' is not a whole number "
                        ">= 0");
    assert_string_equal(why_of(&b, 4),
                        "2 fields, expected 3 (account,days_past_due,status)");
    assert_string_equal(why_of(&b, 5), "account is empty");
    assert_string_equal(why_of(&b, 6), "account NEW-1 repeats the one on "
                                       "line 2");
    assert_string_equal(why_of(&b, 7), "a quoted field is not closed");
    assert_string_equal(why_of(&b, 8), "account ACC-1: days_past_due '-2' is "
                                       "not a whole number >= 0");
    assert_non_null(strstr(why_of(&b, 9), "'2147483648'"));
    assert_string_equal(why_of(&b, 10), "11 fields, expected 3 "
                                        "(account,days_past_due,status)");
    assert_string_equal(why_of(&b, 11),
                        "text after the closing quote of a field");
    assert_string_equal(why_of(&b, 12), "a quote inside an unquoted field");
    assert_string_equal(why_of(&b, 13), "account F: status is not valid UTF-8 "
                                        "(byte 1)");
    assert_string_equal(why_of(&b, 14), "account G: status contains a "
                                        "control character (byte 4)");
    assert_string_equal(why_of(&b, 15), "account H: status is 34 bytes long, "
                                        "at most 32 are allowed");
    assert_non_null(why_of(&b, 16));
    /* the repeat comes after the pass: last */
    assert_int_equal(b.line[b.n - 1], 6);
    lw_accountcsv_release(&csv);
}

static void test_repeats_keep_first(void **state)
{
    static const char text[] = "account,days_past_due,status\n"
                               "Z,1,a\nY,2,b\nZ,3,c\nX,4,d\nY,5,e\nZ,6,f\n";
    struct lw_accountcsv csv;
    struct bads b;

    (void)state;
    parse_ok(text, &csv, &b);
    assert_int_equal(csv.bad, 3);
    assert_int_equal(csv.n, 3);
    /* file order, first of each */
    assert_string_equal(csv.rows[0].a.account, "Z");
    assert_int_equal(csv.rows[0].a.days_past_due, 1);
    assert_string_equal(csv.rows[1].a.account, "Y");
    assert_int_equal(csv.rows[1].a.days_past_due, 2);
    assert_string_equal(csv.rows[2].a.account, "X");
    assert_string_equal(why_of(&b, 4), "account Z repeats the one on line 2");
    assert_string_equal(why_of(&b, 7), "account Z repeats the one on line 2");
    assert_string_equal(why_of(&b, 6), "account Y repeats the one on line 3");
    lw_accountcsv_release(&csv);
}

static void test_header_and_nul(void **state)
{
    static const char nul_data[] = "account,days_past_due,status\nA,1,x\0y\n"
                                   "B,2,z\n";
    static const char nul_head[] = "account,days_past_due,status\0\nA,1,x\n";
    struct lw_accountcsv csv;
    char err[ERR_MAX] = "";
    struct bads b = {0};

    (void)state;
    assert_int_equal(
        lw_accountcsv_parse("", 0, &csv, keep, &b, err, sizeof err),
        LW_ERR_INVAL);
    assert_non_null(strstr(err, "empty"));
    lw_accountcsv_release(&csv);
    assert_int_equal(lw_accountcsv_parse("acct,dpd,status\nA,1,x\n", 22, &csv,
                                         keep, &b, err, sizeof err),
                     LW_ERR_INVAL);
    assert_string_equal(err, "line 1: the first line must be exactly "
                             "'account,days_past_due,status'");
    lw_accountcsv_release(&csv);
    assert_int_equal(lw_accountcsv_parse(nul_head, sizeof nul_head - 1, &csv,
                                         keep, &b, err, sizeof err),
                     LW_ERR_INVAL);
    lw_accountcsv_release(&csv);
    /* header only: nothing, nothing bad */
    parse_ok("account,days_past_due,status\n", &csv, &b);
    assert_int_equal(csv.n, 0);
    assert_int_equal(csv.bad, 0);
    lw_accountcsv_release(&csv);
    /* a NUL in a data line: that row is bad, the next one fine */
    memset(&b, 0, sizeof b);
    assert_int_equal(lw_accountcsv_parse(nul_data, sizeof nul_data - 1, &csv,
                                         keep, &b, NULL, 0),
                     LW_OK);
    assert_int_equal(csv.bad, 1);
    assert_string_equal(why_of(&b, 2), "a NUL byte in the line");
    assert_int_equal(csv.n, 1);
    assert_string_equal(csv.rows[0].a.account, "B");
    lw_accountcsv_release(&csv);
    /* no callback, no error buffer */
    assert_int_equal(lw_accountcsv_parse("account,days_past_due,status\n,1,x",
                                         33, &csv, NULL, NULL, NULL, 0),
                     LW_OK);
    assert_int_equal(csv.bad, 1);
    lw_accountcsv_release(&csv);
    assert_int_equal(lw_accountcsv_parse(NULL, 3, &csv, NULL, NULL, NULL, 0),
                     LW_ERR_INVAL);
    assert_int_equal(lw_accountcsv_parse("x", 1, NULL, NULL, NULL, NULL, 0),
                     LW_ERR_INVAL);
}

static void test_quoting_in_messages(void **state)
{
    /* a bad days field is quoted safely: no terminal escapes get out */
    static const char text[] = "account,days_past_due,status\n"
                               "A,\x1b[31m9,x\n"
                               "B,"
                               "12345678901234567890123456789012345678901234567"
                               "890,x\n";
    struct lw_accountcsv csv;
    struct bads b;

    (void)state;
    parse_ok(text, &csv, &b);
    assert_string_equal(why_of(&b, 2), "account A: days_past_due '\\x1B[31m9' "
                                       "is not a whole number >= 0");
    assert_non_null(strstr(why_of(&b, 3), "1234567890...'"));
    lw_accountcsv_release(&csv);
}

static void test_limits(void **state)
{
    char text[512];
    struct lw_accountcsv csv;
    struct bads b;
    char acct[LW_ACCOUNT_MAX + 2];

    (void)state;
    memset(acct, 'a', LW_ACCOUNT_MAX);
    acct[LW_ACCOUNT_MAX] = '\0';
    snprintf(text, sizeof text,
             "account,days_past_due,status\n%s,1,x\n%sb,1,x\n", acct, acct);
    parse_ok(text, &csv, &b);
    assert_int_equal(csv.n, 1);
    assert_string_equal(csv.rows[0].a.account, acct);
    assert_string_equal(why_of(&b, 3), "account is 65 bytes long, at most 64 "
                                       "are allowed");
    lw_accountcsv_release(&csv);
    /* overlong UTF-8, a surrogate, a C1 control */
    parse_ok("account,days_past_due,status\n\xc0\xaf,1,x\n\xed\xa0\x80,1,x\n"
             "\xc2\x85,1,x\n",
             &csv, &b);
    assert_int_equal(csv.bad, 3);
    assert_non_null(strstr(why_of(&b, 2), "not valid UTF-8"));
    assert_non_null(strstr(why_of(&b, 3), "not valid UTF-8"));
    assert_non_null(strstr(why_of(&b, 4), "control character"));
    lw_accountcsv_release(&csv);
}

static void test_large(void **state)
{
    const size_t rows = 200000;
    size_t cap = 64 + rows * 32, len = 0;
    char *text = malloc(cap);
    struct lw_accountcsv csv;
    char err[ERR_MAX];

    (void)state;
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "account,days_past_due,status\n");
    for (size_t i = 0; i < rows; i++)
        len += (size_t)snprintf(text + len, cap - len, "BULK-%06zu,%zu,%s\n", i,
                                i % 90, i % 90 ? "overdue" : "current");
    assert_int_equal(
        lw_accountcsv_parse(text, len, &csv, NULL, NULL, err, sizeof err),
        LW_OK);
    assert_int_equal(csv.n, rows);
    assert_int_equal(csv.bad, 0);
    assert_string_equal(csv.rows[rows - 1].a.account, "BULK-199999");
    assert_int_equal(csv.rows[rows - 1].a.days_past_due, 199999 % 90);
    lw_accountcsv_release(&csv);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_repeats_keep_first),
        cmocka_unit_test(test_header_and_nul),
        cmocka_unit_test(test_quoting_in_messages),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
