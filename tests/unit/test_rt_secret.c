/*
 * test_rt_secret.c - unit tests for runtime/secret.c: a configured file, the
 * systemd credential, precedence, empty and over-long lines, and the
 * warning about files every user may read.
 */
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

#include "runtime/log.h"
#include "runtime/secret.h"

static char dir[] = "/tmp/lwrt-secret-XXXXXX";

static void put_file(const char *name, const char *text, mode_t mode,
                     char *path, size_t len)
{
    FILE *f;

    snprintf(path, len, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    unsetenv("CREDENTIALS_DIRECTORY");
    lwrt_log_set_level(LOG_ERR); /* keep the warnings out of the output */
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static enum lwrt_secret rd(const char *path, const char *cred, char *buf,
                           size_t len, char *src, char *err)
{
    return lwrt_secret_read("test password file", path, cred, buf, len, src,
                            256, err, 256);
}

static void test_file(void **state)
{
    char path[256], buf[LWRT_SECRET_MAX + 1], src[256], err[256];

    (void)state;
    put_file("pw", "s3cret\r\nsecond line\n", 0600, path, sizeof(path));
    assert_int_equal(rd(path, "mqtt-password", buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    assert_string_equal(buf, "s3cret");
    assert_string_equal(src, path);
    /* no line end at all is fine */
    put_file("pw2", "abc", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    assert_string_equal(buf, "abc");
}

static void test_empty_and_missing(void **state)
{
    char path[256], buf[64], src[256], err[256];

    (void)state;
    put_file("emptyline", "\nrest\n", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_EMPTY);
    assert_string_equal(buf, "");
    put_file("empty", "", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_ERROR);
    assert_non_null(strstr(err, "is empty"));
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof(path), "%s/absent", dir);
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_ERROR);
    assert_non_null(strstr(err, "No such file"));
    /* nothing configured, no credentials: none */
    assert_int_equal(rd("", "mqtt-password", buf, sizeof(buf), src, err),
                     LWRT_SECRET_NONE);
    assert_int_equal(rd(NULL, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_NONE);
    assert_string_equal(src, "");
}

static void test_too_long(void **state)
{
    char path[256], buf[8], src[256], err[256];

    (void)state;
    put_file("long", "0123456789\n", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_ERROR);
    assert_non_null(strstr(err, "longer than 7 bytes"));
    assert_string_equal(buf, ""); /* nothing half-read is left */
    /* exactly 7 bytes fit */
    put_file("seven", "0123456\n", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    assert_string_equal(buf, "0123456");
    put_file("seven-noeol", "0123456", 0600, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
}

static void test_credential(void **state)
{
    char path[256], other[256], buf[64], src[256], err[256];

    (void)state;
    put_file("mqtt-password", "from-systemd\n", 0400, path, sizeof(path));
    put_file("configured", "from-file\n", 0600, other, sizeof(other));
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    assert_int_equal(rd("", "mqtt-password", buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    assert_string_equal(buf, "from-systemd");
    assert_string_equal(src, path);
    /* a configured file wins over the credential */
    assert_int_equal(rd(other, "mqtt-password", buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    assert_string_equal(buf, "from-file");
    /* another credential name that does not exist: none */
    assert_int_equal(rd("", "smtp-password", buf, sizeof(buf), src, err),
                     LWRT_SECRET_NONE);
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void run_world_readable(void)
{
    char path[256], buf[64], src[256], err[256];

    put_file("open", "x\n", 0644, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
    put_file("group", "x\n", 0640, path, sizeof(path));
    assert_int_equal(rd(path, NULL, buf, sizeof(buf), src, err),
                     LWRT_SECRET_OK);
}

static void test_world_readable_warned(void **state)
{
    char out[2048] = "";
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    (void)state;
    lwrt_log_set_level(LOG_WARNING);
    lwrt_log_set_journal(1);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    run_world_readable();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, sizeof(out) - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    lwrt_log_set_level(LOG_ERR);
    lwrt_log_set_journal(-1);
    /* one warning, for the 0644 file only (0640 is a service group's) */
    assert_non_null(strstr(out, "<4>test password file "));
    assert_non_null(strstr(out, "/open is readable by every user "
                                "(mode 0644); chmod o-r it\n"));
    assert_null(strstr(out, "/group"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_credential),
        cmocka_unit_test(test_world_readable_warned),
    };

    return cmocka_run_group_tests_name("runtime secret", tests, setup,
                                       teardown);
}
