/*
 * test_config.c - the settings table: defaults, files, errors, --set, dump.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_and_validate),
        cmocka_unit_test(test_dump_roundtrip),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
