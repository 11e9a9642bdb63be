/*
 * test_config.c - the settings table: defaults, files, errors (each with its
 * own line), --set, the checks a start makes (topic filters, the files the
 * daemon reads), the reload class of every key and the SIGHUP diff, dump.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lienwatch/config.h"

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/lw-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    struct lw_config c;
    char err[256] = "";
    (void)state;

    lw_config_defaults(&c);
    assert_string_equal(c.mqtt_host, "127.0.0.1");
    assert_int_equal(c.mqtt_port, 1883);
    assert_string_equal(c.mqtt_client_id, "lienwatchd");
    assert_int_equal(c.mqtt_qos, 1);
    assert_string_equal(c.topic_owntracks, "owntracks/+/+");
    assert_string_equal(c.db_path, "/var/lib/lienwatch/lienwatch.db");
    assert_int_equal(c.commit_interval_ms, 50);
    assert_int_equal(c.commit_max_fixes, 1000);
    assert_int_equal(c.future_tolerance_ms, 5 * 60 * 1000);
    assert_int_equal(c.offline_after_ms, 6 * 3600 * 1000);
    assert_int_equal(c.watch_days_past_due, 1);
    assert_int_equal(c.confirm_fixes, 2);
    assert_true(c.fence_margin_m == 50.0);
    assert_int_equal(c.log_level, 2);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
}

static void test_load_ok(void **state)
{
    struct lw_config c;
    char err[256] = "";
    (void)state;

    const char *p = write_tmp("; comment\n[mqtt]\nhost = broker.example\n"
                              "port = 8883\n[store]\ncommit_interval_ms = 0\n"
                              "[alerts]\noffline_after = 90m\n"
                              "fence_margin_m = 12.5\n[log]\nlevel = debug\n");
    lw_config_defaults(&c);
    assert_int_equal(lw_config_load(&c, p, err, sizeof(err)), LW_OK);
    unlink(p);
    assert_string_equal(c.mqtt_host, "broker.example");
    assert_int_equal(c.mqtt_port, 8883);
    assert_int_equal(c.commit_interval_ms, 0);
    assert_int_equal(c.offline_after_ms, 90 * 60 * 1000);
    assert_true(c.fence_margin_m == 12.5);
    assert_int_equal(c.log_level, 3);
}

/* Each bad file must fail and name the file, the line and the problem. */
static void test_load_errors(void **state)
{
    static const struct {
        const char *text; /* file content */
        const char *want; /* substring of the error after "path:" */
    } cases[] = {
        {"[mqtt]\nport = 70000\n", ":2: mqtt.port: 70000 is outside"},
        {"[mqtt]\nhost = a\nport = abc\n", ":3: mqtt.port: 'abc' is not a whole"},
        {"[mqtt]\nnope = 1\n", ":2: unknown key 'nope' in section [mqtt]"},
        {"[alerts]\n\noffline_after = 6 hours\n", ":3: alerts.offline_after"},
        {"[log]\nlevel = loud\n", ":2: log.level: 'loud' is not one of"},
        {"[store]\ncommit_interval_ms = -1\n", ":2: store.commit_interval_ms"},
        {"this is not ini\n", ":1: syntax error"},
        {"[mqtt]\ntopic_owntracks = #\n", ":2: mqtt.topic_owntracks: '#'"},
        {"[mqtt]\ntopic_fix = a/#\n", ":2: mqtt.topic_fix: 'a/#'"},
        {"[mqtt]\ntopic_account =\n", ":2: mqtt.topic_account is empty"},
        {"[mqtt]\ntopic_fix = fixes\n", ":2: mqtt.topic_fix: 'fixes' has no '+'"},
        {"[mqtt]\ntopic_fix = a/b+\n", ":2: mqtt.topic_fix: 'a/b+': '+' must"},
        {"[mqtt]\ntopic_prefix = a/+\n", ":2: mqtt.topic_prefix: 'a/+'"},
        {"[mqtt]\ntopic_prefix =\n", ":2: mqtt.topic_prefix must not be"},
        {"[mqt]\nhost = a\n", ":1: unknown section [mqt]"},
        {"host = a\n", ":1: key 'host' is outside any [section]"},
        {"[mqtt]\n= a\n", ":2: '=' without a key"},
        {"[mqtt\nhost = a\n", ":1: section header without ']'"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lw_config c;
        char err[256] = "";
        const char *p = write_tmp(cases[i].text);
        lw_config_defaults(&c);
        assert_int_equal(lw_config_load(&c, p, err, sizeof(err)),
                         LW_ERR_CONFIG);
        assert_non_null(strstr(err, p));
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: error '%s' lacks '%s'", i, err,
                     cases[i].want);
        unlink(p);
    }
}

static void test_missing_file(void **state)
{
    struct lw_config c;
    char err[256] = "";
    (void)state;

    lw_config_defaults(&c);
    assert_int_equal(
        lw_config_load(&c, "/nonexistent/lienwatchd.conf", err, sizeof(err)),
        LW_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/lienwatchd.conf"));
}

static void test_set_and_validate(void **state)
{
    struct lw_config c;
    char err[256] = "";
    (void)state;

    lw_config_defaults(&c);
    assert_int_equal(lw_config_set(&c, "store", "db", "/tmp/x.db", err,
                                   sizeof(err)),
                     LW_OK);
    assert_string_equal(c.db_path, "/tmp/x.db");
    /* a key alone works when unique */
    assert_int_equal(lw_config_set(&c, NULL, "confirm_fixes", "3", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(c.confirm_fixes, 3);
    assert_int_equal(
        lw_config_set(&c, "mqtt", "certfile", "/c.pem", err, sizeof(err)),
        LW_OK);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "keyfile"));
    lw_config_defaults(&c);
    assert_int_equal(lw_config_set(&c, "mqtt", "password_file", "/p", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "username"));
    /* [privacy]: the defaults, and words that are none of the choices */
    lw_config_defaults(&c);
    assert_string_equal(c.privacy_unwatched_access, "reason");
    assert_string_equal(c.privacy_publish_unwatched, "no");
    assert_true(c.privacy_purge_after_payoff_ms == 30LL * 86400 * 1000);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_config_set(&c, "privacy", "unwatched_access", "deny",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&c, "privacy", "purge_after_payoff", "0",
                                   err, sizeof(err)),
                     LW_OK);
    assert_true(c.privacy_purge_after_payoff_ms == 0);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_config_set(&c, "privacy", "unwatched_access", "maybe",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&c, "privacy", "publish_unwatched", "1",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "privacy.unwatched_access: 'maybe'"));
    assert_non_null(strstr(err, "privacy.publish_unwatched: '1'"));
}

/* Parses text through lw_config_parse (a memory stream) into c. */
static enum lw_err parse_text(struct lw_config *c, const char *text,
                              size_t len, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, len, "r");
    enum lw_err rc;

    assert_non_null(f);
    lw_config_defaults(c);
    rc = lw_config_parse(c, f, "t.conf", err, errlen);
    fclose(f);
    return rc;
}

/* Counts the lines of an error text. */
static int count_lines(const char *s)
{
    int n = *s ? 1 : 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Issue: with two errors in one file the second was printed with the
 * first's line number. Each problem now has its own FILE:LINE. */
/* [store] reserve is a size: bytes, K, M, G (powers of 1024), 0 for none;
 * it reads back in the largest exact unit. stop_timeout is a duration. */
static void test_sizes(void **state)
{
    static const struct {
        const char *in;   /* value given */
        long long bytes;  /* -1: refused */
        const char *back; /* lw_config_value */
    } cases[] = {
        {"64M", 64LL << 20, "64M"}, {"0", 0, "0"},
        {"512k", 512LL << 10, "512K"}, {"3G", 3LL << 30, "3G"},
        {"1000", 1000, "1000"}, {"2048", 2048, "2K"},
        {"", -1, NULL}, {"M", -1, NULL}, {"-1M", -1, NULL},
        {"12MB", -1, NULL}, {"1.5M", -1, NULL}, {"2000G", -1, NULL},
        {"99999999999999999999", -1, NULL}, {" 1M", -1, NULL},
    };
    struct lw_config c;
    char err[512], back[64];

    (void)state;
    lw_config_defaults(&c);
    assert_int_equal(c.reserve_bytes, 64LL << 20);
    assert_int_equal(c.stop_timeout_ms, 10000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum lw_err rc = lw_config_set(&c, "store", "reserve", cases[i].in,
                                       err, sizeof(err));
        if (cases[i].bytes < 0) {
            if (rc != LW_ERR_CONFIG)
                fail_msg("reserve '%s' accepted", cases[i].in);
            assert_non_null(strstr(err, "store.reserve"));
            continue;
        }
        if (rc != LW_OK)
            fail_msg("reserve '%s' refused: %s", cases[i].in, err);
        assert_int_equal(c.reserve_bytes, cases[i].bytes);
        assert_int_equal(
            lw_config_value(&c, "store", "reserve", back, sizeof(back)), LW_OK);
        assert_string_equal(back, cases[i].back);
    }
    assert_int_equal(lw_config_set(&c, "store", "stop_timeout", "90s", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(c.stop_timeout_ms, 90000);
    assert_int_equal(lw_config_set(&c, "store", "stop_timeout", "2h", err,
                                   sizeof(err)),
                     LW_ERR_CONFIG);
}

static void test_each_error_its_line(void **state)
{
    static const char text[] = "[mqtt]\n"          /* 1 */
                               "host = a\n"        /* 2 */
                               "port\n"            /* 3: syntax */
                               "\n"                /* 4 */
                               "nope = 1\n"        /* 5: unknown key */
                               "[store]\n"         /* 6 */
                               "commit_max_fixes = 0\n" /* 7: range */
                               "; fine\n"          /* 8 */
                               "db = /tmp/x.db\n"  /* 9 */
                               "[alerts]\n"        /* 10 */
                               "confirm_fixes = x\n"; /* 11 */
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    (void)state;

    assert_int_equal(parse_text(&c, text, strlen(text), err, sizeof(err)),
                     LW_ERR_CONFIG);
    assert_int_equal(count_lines(err), 4);
    assert_non_null(strstr(err, "t.conf:3: syntax error"));
    assert_non_null(strstr(err, "t.conf:5: unknown key 'nope' in section [mqtt]"));
    assert_non_null(strstr(err, "t.conf:7: store.commit_max_fixes: 0 is outside"));
    assert_non_null(strstr(err, "t.conf:11: alerts.confirm_fixes: 'x'"));
    /* in file order */
    assert_true(strstr(err, ":3:") < strstr(err, ":5:"));
    assert_true(strstr(err, ":5:") < strstr(err, ":7:"));
    assert_true(strstr(err, ":7:") < strstr(err, ":11:"));
    /* the good lines around them were read */
    assert_string_equal(c.mqtt_host, "a");
    assert_string_equal(c.db_path, "/tmp/x.db");
}

/* Two syntax errors: the second is reported too (inih itself keeps only
 * the first line), and two bad section headers each. */
static void test_two_syntax_errors(void **state)
{
    static const char text[] = "[mqtt]\nport\nhost = a\nqos\n[x]\n[y\n";
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    (void)state;

    assert_int_equal(parse_text(&c, text, strlen(text), err, sizeof(err)),
                     LW_ERR_CONFIG);
    assert_non_null(strstr(err, "t.conf:2: syntax error"));
    assert_non_null(strstr(err, "t.conf:4: syntax error"));
    assert_non_null(strstr(err, "t.conf:5: unknown section [x]"));
    assert_non_null(strstr(err, "t.conf:6: section header without ']'"));
    assert_int_equal(count_lines(err), 4);
}

/* Keys in an unknown section are not reported one by one. */
static void test_unknown_section_once(void **state)
{
    static const char text[] = "[mqt]\nhost = a\nport = 1\n[mqtt]\nqos = 2\n";
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    (void)state;

    assert_int_equal(parse_text(&c, text, strlen(text), err, sizeof(err)),
                     LW_ERR_CONFIG);
    assert_string_equal(err, "t.conf:1: unknown section [mqt]");
    assert_int_equal(c.mqtt_qos, 2);
}

/* A leading blank no longer makes a line the continuation of the previous
 * value (inih's multi-line rule): an indented key is a key. */
static void test_indented_lines(void **state)
{
    static const char text[] = "\xEF\xBB\xBF[mqtt]\n  host = a\n\tport = 1884\n"
                               "   ; comment\n [ store ]\n db = /tmp/i.db\r\n";
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX] = "";
    (void)state;

    assert_int_equal(parse_text(&c, text, strlen(text), err, sizeof(err)),
                     LW_OK);
    assert_string_equal(c.mqtt_host, "a");
    assert_int_equal(c.mqtt_port, 1884);
    assert_string_equal(c.db_path, "/tmp/i.db");
    /* a BOM after blanks on line 1 (found by fuzz_config: inih skipped it
     * where the reader had called the line a syntax error) */
    assert_int_equal(parse_text(&c, " \xEF\xBB\xBF\n.\n", 6, err, sizeof(err)),
                     LW_ERR_CONFIG);
    assert_string_equal(err, "t.conf:2: syntax error (expected [section] or "
                             "key = value)");
}

/* A line inih cannot hold is reported as such, not cut into a "syntax
 * error" on the same line; a NUL byte is reported, not read past. */
static void test_long_line_and_nul(void **state)
{
    char text[2000];
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    size_t n;
    (void)state;

    n = (size_t)snprintf(text, sizeof(text), "[smtp]\nto = ");
    memset(text + n, 'a', 300);
    n += 300;
    n += (size_t)snprintf(text + n, sizeof(text) - n, "@example.com\n");
    n += (size_t)snprintf(text + n, sizeof(text) - n, "[mqtt]\nhost = a");
    text[n++] = '\0';
    n += (size_t)snprintf(text + n, sizeof(text) - n, "b\nport = 9\n");
    assert_int_equal(parse_text(&c, text, n, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "t.conf:2: the line is longer than"));
    assert_non_null(strstr(err, "t.conf:4: the line contains a NUL byte"));
    assert_int_equal(count_lines(err), 2);
    assert_int_equal(c.mqtt_port, 9);
    assert_string_equal(c.mqtt_host, "127.0.0.1");
}

/* More problems than the buffer holds: the first ones, then a count. */
static void test_many_errors(void **state)
{
    char text[8000], err[300];
    struct lw_config c;
    size_t n = 0;
    (void)state;

    n += (size_t)snprintf(text + n, sizeof(text) - n, "[mqtt]\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "bad%d = 1\n", i);
    assert_int_equal(parse_text(&c, text, n, err, sizeof(err)), LW_ERR_CONFIG);
    assert_true(strlen(err) < sizeof(err));
    assert_non_null(strstr(err, "t.conf:2: unknown key 'bad0'"));
    assert_non_null(strstr(err, "more problems)"));
    /* a tiny buffer still gets the start of the first problem */
    assert_int_equal(parse_text(&c, text, n, err, 8), LW_ERR_CONFIG);
    assert_string_equal(err, "t.conf:");
}

/* -c DIRECTORY is not an empty configuration; nor is an endless file. */
static void test_not_a_file(void **state)
{
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    (void)state;

    lw_config_defaults(&c);
    assert_int_equal(lw_config_load(&c, "/tmp", err, sizeof(err)), LW_ERR_IO);
    assert_string_equal(err, "/tmp: is a directory, not a configuration file");
    assert_int_equal(lw_config_load(&c, "/dev/zero", err, sizeof(err)),
                     LW_ERR_IO);
    assert_non_null(strstr(err, "/dev/zero: larger than"));
    /* an empty file (or /dev/null) is the defaults */
    assert_int_equal(lw_config_load(&c, "/dev/null", err, sizeof(err)), LW_OK);
}

/* Topic filters are checked as lw_topic_match uses them. */
static void test_topic_filters(void **state)
{
    static const struct {
        const char *value; /* mqtt.topic_fix = value */
        const char *want;  /* NULL: accepted; else a substring of the error */
    } cases[] = {
        {"lienwatch/v1/fix/+", NULL},
        {"+", NULL},
        {"a/+/b/+", NULL},
        {"/+", NULL},
        {"trackers/j\xc3\xb6rg/+", NULL},
        {"#", "'#' is not supported"},
        {"a/#", "'#' is not supported"},
        {"a/+/#", "'#' is not supported"},
        {"a/b#/+", "'#' is not supported"},
        {"", "is empty: write 'off'"},
        {"a/b", "has no '+' level"},
        {"a+/+", "'+' must be a whole level"},
        {"a/++", "'+' must be a whole level"},
        {"a/+b", "'+' must be a whole level"},
        {"a/\x01/+", "not a topic filter"},
        {"a/\xff/+", "not a topic filter"},
        {"a/\xc2\x85/+", "not a topic filter"}, /* C1 control */
        {"a/\xed\xa0\x80/+", "not a topic filter"}, /* surrogate */
    };
    struct lw_config c;
    char err[256], v[LW_CONFIG_STR_MAX + 1];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum lw_err rc;

        lw_config_defaults(&c);
        err[0] = '\0';
        rc = lw_config_set(&c, "mqtt", "topic_fix", cases[i].value, err,
                           sizeof(err));
        if (!cases[i].want) {
            if (rc != LW_OK)
                fail_msg("'%s' refused: %s", cases[i].value, err);
            assert_string_equal(c.topic_fix, cases[i].value);
        } else if (rc != LW_ERR_CONFIG || !strstr(err, cases[i].want)) {
            fail_msg("'%s': rc %d, error '%s', wanted '%s'", cases[i].value,
                     rc, err, cases[i].want);
        }
    }
    /* "off" turns a subscription off, and reads back as "off" */
    lw_config_defaults(&c);
    assert_int_equal(lw_config_set(&c, "mqtt", "topic_account", "off", err,
                                   sizeof(err)),
                     LW_OK);
    assert_string_equal(c.topic_account, "");
    assert_int_equal(lw_config_value(&c, "mqtt", "topic_account", v,
                                     sizeof(v)),
                     LW_OK);
    assert_string_equal(v, "off");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
    /* but not both sources of fixes */
    assert_int_equal(lw_config_set(&c, NULL, "topic_owntracks", "off", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&c, NULL, "topic_fix", "off", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "both off"));
}

/* No topic may match two subscriptions, or a subscription and the
 * daemon's own output (it would read its own status and states). */
static void test_topic_overlaps(void **state)
{
    static const struct {
        const char *owntracks, *fix, *account, *prefix; /* NULL: default */
        const char *want; /* NULL: valid; else a substring of the error */
    } cases[] = {
        {NULL, NULL, NULL, NULL, NULL},
        {"+/+", "lienwatch/+", "off", NULL, "topic 'lienwatch/x' matches both"},
        {"+/+/+", NULL, NULL, NULL, "own topic 'lienwatch/v1/daemon'"},
        {"lienwatch/v1/state/+", NULL, NULL, NULL,
         "own topic 'lienwatch/v1/state/x'"},
        {"lienwatch/+/alert/+/+", NULL, NULL, NULL,
         "own topic 'lienwatch/v1/alert/x/x'"},
        {NULL, "+/+/mail", NULL, "ops/lw", "own topic 'ops/lw/mail'"},
        {"+/+/+", NULL, NULL, "a/b/c", NULL},  /* 3 levels vs 4 */
        {"lienwatch/v1/state", NULL, NULL, NULL, "has no '+'"},
        {"a/+", "a/+/b", "+/x/c", NULL, NULL},
        {"a/+", "+/b", "off", NULL, "topic 'a/b' matches both"},
        {"a/+/c", "a/b/+", "+/b/c", NULL, "topic 'a/b/c' matches both"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lw_config c;
        char err[LW_CONFIG_ERR_MAX] = "";
        enum lw_err rc = LW_OK;

        lw_config_defaults(&c);
        if (cases[i].owntracks)
            rc |= lw_config_set(&c, "mqtt", "topic_owntracks",
                                cases[i].owntracks, err, sizeof(err));
        if (cases[i].fix)
            rc |= lw_config_set(&c, "mqtt", "topic_fix", cases[i].fix, err,
                                sizeof(err));
        if (cases[i].account)
            rc |= lw_config_set(&c, "mqtt", "topic_account", cases[i].account,
                                err, sizeof(err));
        if (cases[i].prefix)
            rc |= lw_config_set(&c, "mqtt", "topic_prefix", cases[i].prefix,
                                err, sizeof(err));
        if (rc == LW_OK)
            rc = lw_config_validate(&c, err, sizeof(err));
        if (!cases[i].want && rc != LW_OK)
            fail_msg("case %zu refused: %s", i, err);
        if (cases[i].want && (rc == LW_OK || !strstr(err, cases[i].want)))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
    }
}

/* A configuration built by code is held to the table's limits too. */
static void test_validate_values(void **state)
{
    struct lw_config c;
    char err[LW_CONFIG_ERR_MAX];
    (void)state;

    lw_config_defaults(&c);
    c.mqtt_port = 0;
    c.commit_interval_ms = -5;
    c.fence_margin_m = 0.0 / 0.0;
    c.log_level = 9;
    strcpy(c.topic_fix, "a/#");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "mqtt.port: 0 is outside"));
    assert_non_null(strstr(err, "store.commit_interval_ms: -5 is outside"));
    assert_non_null(strstr(err, "alerts.fence_margin_m: "));
    assert_non_null(strstr(err, "nan is outside"));
    assert_non_null(strstr(err, "log.level: 9 is outside"));
    assert_non_null(strstr(err, "mqtt.topic_fix: 'a/#'"));
    assert_int_equal(count_lines(err), 5);
}

/* Makes dir/name with mode and content; returns its path (static). */
static const char *make_file(const char *dir, const char *name, mode_t mode)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    int fd;

    snprintf(p, 256, "%s/%s", dir, name);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);
    close(fd);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

/* The files a start reads must be there, be files, and be readable. */
static void test_check_files(void **state)
{
    char dir[] = "/tmp/lw-test-files-XXXXXX";
    char path[300], err[LW_CONFIG_ERR_MAX];
    struct lw_config c, base;
    (void)state;

    assert_non_null(mkdtemp(dir));
    lw_config_defaults(&base);
    snprintf(path, sizeof(path), "%s/lw.db", dir);
    assert_int_equal(lw_config_set(&base, "store", "db", path, err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_check(&base, err, sizeof(err)), LW_OK);

    /* every file setting, present and readable */
    c = base;
    strcpy(c.mqtt_username, "u");
    strcpy(c.smtp_username, "u");
    strcpy(c.mqtt_password_file, make_file(dir, "mqtt-pw", 0600));
    strcpy(c.mqtt_cafile, make_file(dir, "ca.pem", 0644));
    strcpy(c.mqtt_certfile, make_file(dir, "cert.pem", 0644));
    strcpy(c.mqtt_keyfile, make_file(dir, "key.pem", 0600));
    strcpy(c.smtp_password_file, make_file(dir, "smtp-pw", 0600));
    strcpy(c.smtp_cafile, c.mqtt_cafile);
    strcpy(c.mqtt_capath, dir);
    if (lw_config_check(&c, err, sizeof(err)) != LW_OK)
        fail_msg("good files refused: %s", err);

    /* each missing one is named, all in one report */
    snprintf(c.mqtt_password_file, sizeof(c.mqtt_password_file),
             "%s/none-1", dir);
    snprintf(c.mqtt_keyfile, sizeof(c.mqtt_keyfile), "%s/none-2", dir);
    snprintf(c.smtp_password_file, sizeof(c.smtp_password_file),
             "%s/none-3", dir);
    snprintf(c.smtp_cafile, sizeof(c.smtp_cafile), "%s/none-4", dir);
    snprintf(c.mqtt_certfile, sizeof(c.mqtt_certfile), "%s", dir);
    snprintf(c.mqtt_capath, sizeof(c.mqtt_capath), "%s", c.mqtt_cafile);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "mqtt.password_file: "));
    assert_non_null(strstr(err, "none-1: cannot open for reading as uid"));
    assert_non_null(strstr(err, "mqtt.keyfile: "));
    assert_non_null(strstr(err, "smtp.password_file: "));
    assert_non_null(strstr(err, "smtp.cafile: "));
    assert_non_null(strstr(err, "mqtt.certfile: "));
    assert_non_null(strstr(err, "is a directory, not a file"));
    assert_non_null(strstr(err, "mqtt.capath: "));
    assert_non_null(strstr(err, "cannot open as a directory"));
    assert_int_equal(count_lines(err), 6);
    /* lw_config_validate does not look at the file system */
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);

    /* the database: not a directory, not below a file */
    c = base;
    snprintf(c.db_path, sizeof(c.db_path), "%s", dir);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "is not a regular file"));
    snprintf(path, sizeof(path), "%s/x.db", make_file(dir, "plain", 0644));
    strcpy(c.db_path, path);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "is not a directory"));
    /* a missing directory is left to the service manager (StateDirectory=) */
    snprintf(c.db_path, sizeof(c.db_path), "%s/state/lw.db", dir);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_OK);

    /* permissions: only a user other than root is refused by them */
    if (geteuid() != 0) {
        c = base;
        strcpy(c.mqtt_username, "u");
        strcpy(c.mqtt_password_file, make_file(dir, "root-only", 0000));
        assert_int_equal(lw_config_check(&c, err, sizeof(err)),
                         LW_ERR_CONFIG);
        assert_non_null(strstr(err, "Permission denied"));
        snprintf(path, sizeof(path), "%s/ro", dir);
        assert_int_equal(mkdir(path, 0500), 0);
        c = base;
        snprintf(c.db_path, sizeof(c.db_path), "%s/ro/lw.db", dir);
        assert_int_equal(lw_config_check(&c, err, sizeof(err)),
                         LW_ERR_CONFIG);
        assert_non_null(strstr(err, "cannot create files in"));
        rmdir(path);
    }
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* Finds a valid value for key that differs from the one in c. */
static bool other_value(const struct lw_config *c, const char *section,
                        const char *key, struct lw_config *out)
{
    static const char *const candidates[] = {
        "alt/+", "7", "0", "1", "2", "3", "100", "3000", "200000",
        "debug", "error", "2s", "1d", "30d", "12.5", "/alt/file",
    };

    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        *out = *c;
        if (lw_config_set(out, section, key, candidates[i], NULL, 0) ==
                LW_OK &&
            lw_config_diff(c, out, NULL, 0) == 1)
            return true;
    }
    return false;
}

/* Every key: a class, documentation, a default that reads back; a change
 * to it is seen by the diff with its class, and kept back when (and only
 * when) it needs a restart. */
/* places.timezone: a zone this machine has; a missing or malformed name is
 * named in the check (the file system is read: lw_config_check). */
static void test_check_timezone(void **state)
{
    char err[LW_CONFIG_ERR_MAX];
    struct lw_config c;
    (void)state;

    lw_config_defaults(&c);
    assert_string_equal(c.places_timezone, "");
    assert_int_equal(lw_config_set(&c, "places", "timezone", "UTC", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&c, "store", "db", "/tmp/lw-tz-check.db",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_OK);
    assert_int_equal(lw_config_set(&c, "places", "timezone", "Mars/Olympus",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "places.timezone"));
    assert_int_equal(lw_config_set(&c, "places", "timezone", "../etc/passwd",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_check(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "places.timezone"));
}

static void test_every_key_reload(void **state)
{
    struct lw_config base, b, z;
    struct lw_config_key k;
    struct lw_config_change ch[4];
    char v[LW_CONFIG_STR_MAX + 1], err[256];
    size_t n = lw_config_nkeys(), restart = 0;
    (void)state;

    assert_true(n >= 40);
    assert_false(lw_config_key_at(n, &k));
    lw_config_defaults(&base);
    for (size_t i = 0; i < n; i++) {
        assert_true(lw_config_key_at(i, &k));
        assert_true((unsigned)k.reload < LW_RELOAD_COUNT_);
        assert_string_not_equal(lw_config_reload_name(k.reload), "unknown");
        assert_true(k.doc && strlen(k.doc) > 10);
        /* the value prints in file syntax and reads back as itself */
        assert_int_equal(lw_config_value(&base, k.section, k.key, v,
                                         sizeof(v)),
                         LW_OK);
        z = base;
        if (lw_config_set(&z, k.section, k.key, v, err, sizeof(err)) != LW_OK)
            fail_msg("%s.%s: its value '%s' does not read back: %s",
                     k.section, k.key, v, err);
        assert_int_equal(lw_config_diff(&base, &z, NULL, 0), 0);

        if (!other_value(&base, k.section, k.key, &b))
            fail_msg("%s.%s: no other value found to test with", k.section,
                     k.key);
        assert_int_equal(lw_config_diff(&base, &b, ch, 4), 1);
        assert_string_equal(ch[0].section, k.section);
        assert_string_equal(ch[0].key, k.key);
        assert_int_equal(ch[0].reload, k.reload);
        /* and the new value reads back too */
        assert_int_equal(lw_config_value(&b, k.section, k.key, v, sizeof(v)),
                         LW_OK);
        z = base;
        assert_int_equal(lw_config_set(&z, k.section, k.key, v, err,
                                       sizeof(err)),
                         LW_OK);
        assert_int_equal(lw_config_diff(&b, &z, NULL, 0), 0);

        lw_config_keep_restart(&base, &b);
        assert_int_equal(lw_config_diff(&base, &b, NULL, 0),
                         k.reload == LW_RELOAD_RESTART ? 0 : 1);
        restart += k.reload == LW_RELOAD_RESTART;
    }
    /* the connection and its topics need a restart; alert settings do not */
    assert_true(restart >= 10 && restart < n);
    assert_true(lw_config_key_at(0, &k));
    assert_string_equal(lw_config_reload_name(LW_RELOAD_RESTART), "restart");
    assert_string_equal(lw_config_reload_name(LW_RELOAD_COUNT_), "unknown");
    assert_int_equal(lw_config_value(&base, "mqtt", "nope", v, sizeof(v)),
                     LW_ERR_NOTFOUND);
}

/* The issue's case: a new topic_prefix must not half-apply. */
static void test_keep_restart_prefix(void **state)
{
    struct lw_config run, next;
    struct lw_config_change ch[8];
    char err[256];
    (void)state;

    lw_config_defaults(&run);
    next = run;
    assert_int_equal(lw_config_set(&next, "mqtt", "topic_prefix", "new/v2",
                                   err, sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&next, "alerts", "confirm_fixes", "3", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_set(&next, "mqtt", "keepalive_s", "60", err,
                                   sizeof(err)),
                     LW_OK);
    assert_int_equal(lw_config_diff(&run, &next, ch, 8), 3);
    assert_string_equal(ch[0].key, "keepalive_s");
    assert_int_equal(ch[0].reload, LW_RELOAD_RESTART);
    assert_string_equal(ch[1].key, "topic_prefix");
    assert_int_equal(ch[1].reload, LW_RELOAD_RESTART);
    assert_string_equal(ch[2].key, "confirm_fixes");
    assert_int_equal(ch[2].reload, LW_RELOAD_ALERTS);
    /* max smaller than the count: the count is still the whole */
    assert_int_equal(lw_config_diff(&run, &next, ch, 1), 3);
    lw_config_keep_restart(&run, &next);
    assert_string_equal(next.topic_prefix, "lienwatch/v1");
    assert_int_equal(next.mqtt_keepalive_s, 30);
    assert_int_equal(next.confirm_fixes, 3);
}

/* The example file lists every key at its default: loading it changes
 * nothing, and it is a valid configuration. */
static void test_dump_roundtrip(void **state)
{
    struct lw_config a, b;
    char err[256] = "";
    char path[] = "/tmp/lw-test-dump-XXXXXX";
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    lw_config_dump(f);
    fclose(f);
    lw_config_defaults(&a);
    /* start from all zeros, not the defaults: only a file that names every
     * key at its default gives back exactly the defaults */
    memset(&b, 0, sizeof(b));
    assert_int_equal(lw_config_load(&b, path, err, sizeof(err)), LW_OK);
    unlink(path);
    assert_int_equal(b.mqtt_port, a.mqtt_port);
    assert_int_equal(b.commit_interval_ms, a.commit_interval_ms);
    assert_string_equal(b.db_path, a.db_path);
    assert_memory_equal(&a, &b, sizeof(a));
}

/* The example file says, for every key, how a SIGHUP takes it. */
static void test_dump_reload(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int applies = 0, restarts = 0, cli = 0;
    (void)state;

    assert_non_null(f);
    lw_config_dump(f);
    fclose(f);
    /* undo the wrapping of comment lines */
    for (char *p; (p = strstr(buf, "\n# "));)
        memmove(p, p + 2, strlen(p + 2) + 1), *p = ' ';
    for (const char *p = buf; (p = strstr(p, "SIGHUP applies")); p++)
        applies++;
    for (const char *p = buf; (p = strstr(p, "Takes effect at a")); p++)
        restarts++;
    for (const char *p = buf; (p = strstr(p, "Not used by lienwatchd")); p++)
        cli++;
    assert_int_equal((size_t)(applies + restarts + cli), lw_config_nkeys());
    assert_true(cli > 0); /* [privacy] signing_key_file */
    assert_true(restarts > 0 && applies > 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_and_validate),
        cmocka_unit_test(test_dump_roundtrip),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_each_error_its_line),
        cmocka_unit_test(test_two_syntax_errors),
        cmocka_unit_test(test_unknown_section_once),
        cmocka_unit_test(test_indented_lines),
        cmocka_unit_test(test_long_line_and_nul),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_not_a_file),
        cmocka_unit_test(test_topic_filters),
        cmocka_unit_test(test_topic_overlaps),
        cmocka_unit_test(test_validate_values),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_check_timezone),
        cmocka_unit_test(test_every_key_reload),
        cmocka_unit_test(test_keep_restart_prefix),
        cmocka_unit_test(test_dump_reload),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
