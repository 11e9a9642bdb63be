/*
 * test_rt_log.c - unit tests for runtime/log.c: the line formats (journal
 * and plain), levels, and the rate limiter with the span its note tells.
 *
 * Lines are captured by pointing stderr at a temporary file.
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

#include "runtime/log.h"

#define S(x) ((int64_t)(x)*1000)

/* Runs the logging in fn with stderr in a file; returns what was written
 * (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[4096];
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    assert_non_null(tmp);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, sizeof(out) - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void log_three(void)
{
    lwrt_log(LOG_ERR, "disk %s", "full");
    lwrt_log(LOG_INFO, "hello %d\n", 42); /* a trailing newline is dropped */
    lwrt_log(LOG_DEBUG, "not shown at info");
}

static void test_plain_format(void **state)
{
    char want[128];
    const char *out;

    (void)state;
    lwrt_log_init("lw-test");
    lwrt_log_set_level(LOG_INFO);
    lwrt_log_set_journal(0);
    out = capture(log_three);
    /* 2026-01-02T03:04:05.678Z lw-test[PID]: error: disk full */
    assert_int_equal(strlen(out) > 24, 1);
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    assert_int_equal(out[19], '.');
    assert_int_equal(out[23], 'Z');
    snprintf(want, sizeof(want), " lw-test[%ld]: error: disk full\n",
             (long)getpid());
    assert_memory_equal(out + 24, want, strlen(want));
    snprintf(want, sizeof(want), " lw-test[%ld]: info: hello 42\n",
             (long)getpid());
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "not shown"));
    /* exactly two lines */
    assert_int_equal(strchr(strchr(out, '\n') + 1, '\n')[1], '\0');
}

static void test_journal_format(void **state)
{
    (void)state;
    lwrt_log_set_level(LOG_INFO);
    lwrt_log_set_journal(1);
    assert_string_equal(capture(log_three), "<3>disk full\n<6>hello 42\n");
    lwrt_log_set_journal(-1);
}

static void test_journal_detection(void **state)
{
    (void)state;
    /* JOURNAL_STREAM naming another file is not the journal */
    setenv("JOURNAL_STREAM", "1:2", 1);
    lwrt_log_set_journal(-1);
    assert_null(strstr(capture(log_three), "<3>"));
    unsetenv("JOURNAL_STREAM");
    lwrt_log_set_journal(-1);
}

static void test_levels(void **state)
{
    int l = -1;

    (void)state;
    lwrt_log_set_level(LOG_DEBUG + 5);
    assert_int_equal(lwrt_log_get_level(), LOG_DEBUG);
    lwrt_log_set_level(0);
    assert_int_equal(lwrt_log_get_level(), LOG_ERR);
    assert_true(lwrt_log_enabled(LOG_ERR));
    assert_false(lwrt_log_enabled(LOG_WARNING));
    lwrt_log_set_level(LOG_NOTICE);
    assert_true(lwrt_log_enabled(LOG_NOTICE));
    assert_false(lwrt_log_enabled(LOG_INFO));

    assert_true(lwrt_log_level_parse("notice", &l));
    assert_int_equal(l, LOG_NOTICE);
    assert_true(lwrt_log_level_parse("warn", &l));
    assert_int_equal(l, LOG_WARNING);
    assert_true(lwrt_log_level_parse("debug", &l));
    assert_int_equal(l, LOG_DEBUG);
    l = 99;
    assert_false(lwrt_log_level_parse("loud", &l));
    assert_false(lwrt_log_level_parse("emergency", &l));
    assert_false(lwrt_log_level_parse("", &l));
    assert_int_equal(l, 99);
    assert_string_equal(lwrt_log_level_name(LOG_WARNING), "warning");
    assert_string_equal(lwrt_log_level_name(42), "?");
}

static void test_limit_counts(void **state)
{
    struct lwrt_limit l = {0};
    struct lwrt_limit_note n;

    (void)state;
    assert_true(lwrt_limit_allow(&l, S(100), S(10), &n));
    assert_int_equal(n.suppressed, 0);
    assert_false(lwrt_limit_allow(&l, S(101), S(10), &n));
    assert_false(lwrt_limit_allow(&l, S(105), S(10), &n));
    assert_false(lwrt_limit_allow(&l, S(109), S(10), NULL));
    assert_true(lwrt_limit_allow(&l, S(110), S(10), &n));
    assert_int_equal(n.suppressed, 3);
    assert_int_equal(n.first_ms, S(101));
    assert_int_equal(n.last_ms, S(109));
    /* the count starts again */
    assert_true(lwrt_limit_allow(&l, S(200), S(10), &n));
    assert_int_equal(n.suppressed, 0);
}

/* The case of the bug report: lines swallowed right after one written,
 * then silence, then a line 90 s later must not say "in the last 10 s". */
static void test_limit_note_tells_the_true_span(void **state)
{
    struct lwrt_limit l = {0};
    struct lwrt_limit_note n;
    char buf[64];

    (void)state;
    assert_true(lwrt_limit_allow(&l, S(1000), S(10), &n));
    for (int i = 1; i <= 9; i++)
        assert_false(lwrt_limit_allow(&l, S(1000) + S(i), S(10), &n));
    assert_true(lwrt_limit_allow(&l, S(1099), S(10), &n));
    assert_int_equal(n.suppressed, 9);
    assert_string_equal(lwrt_limit_when(&n, S(1099), buf, sizeof(buf)),
                        "between 98 s and 90 s ago");
}

static void test_limit_when_forms(void **state)
{
    struct lwrt_limit_note n;
    char buf[64];

    (void)state;
    /* lines up to now */
    n = (struct lwrt_limit_note){5, S(100) + 300, S(110)};
    assert_string_equal(lwrt_limit_when(&n, S(110) + 400, buf, sizeof(buf)),
                        "in the last 11 s");
    /* one line, 12.5 s ago */
    n = (struct lwrt_limit_note){1, S(100), S(100)};
    assert_string_equal(lwrt_limit_when(&n, S(112) + 500, buf, sizeof(buf)),
                        "12 s ago");
    /* several within one second, just now */
    n = (struct lwrt_limit_note){3, S(100) + 100, S(100) + 200};
    assert_string_equal(lwrt_limit_when(&n, S(100) + 900, buf, sizeof(buf)),
                        "in the last second");
    /* a clock step backwards: no invented figures */
    n = (struct lwrt_limit_note){2, S(100), S(105)};
    assert_string_equal(lwrt_limit_when(&n, S(50), buf, sizeof(buf)),
                        "at times not known");
    /* a short buffer is cut, not overrun */
    n = (struct lwrt_limit_note){2, S(10), S(20)};
    assert_string_equal(lwrt_limit_when(&n, S(100), buf, 8), "between");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_format),
        cmocka_unit_test(test_journal_format),
        cmocka_unit_test(test_journal_detection),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_limit_counts),
        cmocka_unit_test(test_limit_note_tells_the_true_span),
        cmocka_unit_test(test_limit_when_forms),
    };

    return cmocka_run_group_tests_name("runtime log", tests, NULL, NULL);
}
