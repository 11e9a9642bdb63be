/*
 * fuzz_config.c - libFuzzer target: the configuration parser (lib/config.c
 * over inih) on arbitrary file contents, read from memory.
 *
 * Invariants checked after each parse:
 *   - the result is LW_OK with an empty error text, or LW_ERR_CONFIG with
 *     one or more lines, each "fuzz.conf:LINE: ..." with 1 <= LINE <= the
 *     number of lines of the input (every problem carries its own line);
 *   - the line reader and inih agree on what a syntax error is (the parser's
 *     own first error is always one the reader already reported);
 *   - parsing is deterministic: the same input gives the same result, text
 *     and configuration;
 *   - every value of an accepted configuration prints in file syntax and
 *     reads back as itself through the table's checks (lw_config_value,
 *     lw_config_set), and the rules between settings report cleanly;
 *   - lw_config_keep_restart leaves exactly the changes SIGHUP may apply.
 * The file system is not touched (lw_config_check would open the files the
 * input names).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/config.h"

#define FUZZ_NAME "fuzz.conf"
/* What lib/config.c says when inih saw a syntax error its reader missed. */
#define PARSER_SAID "syntax error (reported by the parser)"

/* Aborts with a message naming the broken invariant. */
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data into *c from the defaults; err gets LW_CONFIG_ERR_MAX. */
static enum lw_err parse(const uint8_t *data, size_t size,
                         struct lw_config *c, char *err)
{
    FILE *f = fmemopen((void *)data, size, "r");
    enum lw_err rc;

    REQUIRE(f != NULL);
    lw_config_defaults(c);
    memset(err, 'x', LW_CONFIG_ERR_MAX);
    rc = lw_config_parse(c, f, FUZZ_NAME, err, LW_CONFIG_ERR_MAX);
    fclose(f);
    REQUIRE(memchr(err, '\0', LW_CONFIG_ERR_MAX) != NULL);
    return rc;
}

/* Every line of err names the file and a line of the input. */
static void check_lines(const char *err, long nlines)
{
    const char *p = err;

    REQUIRE(*p != '\0');
    while (*p) {
        const char *nl = strchr(p, '\n');
        char *end;
        long line;

        if (strncmp(p, "(and ", 5) == 0) { /* the count of dropped ones */
            REQUIRE(nl == NULL);
            break;
        }
        REQUIRE(strncmp(p, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) == 0);
        line = strtol(p + strlen(FUZZ_NAME ":"), &end, 10);
        REQUIRE(end[0] == ':' && end[1] == ' ');
        REQUIRE(line >= 1 && line <= nlines);
        /* the reader classified every line as inih does */
        REQUIRE(strncmp(end + 2, PARSER_SAID, strlen(PARSER_SAID)) != 0 ||
                (end[2 + strlen(PARSER_SAID)] != '\n' &&
                 end[2 + strlen(PARSER_SAID)] != '\0'));
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* The rules between settings run on whatever was accepted; their text
 * fits and ends (whether they pass depends on the input). Each value on its
 * own passed the table's checks: check_roundtrip sets each again. */
static void check_validate(const struct lw_config *c)
{
    static char err[LW_CONFIG_ERR_MAX];
    enum lw_err rc;

    memset(err, 'x', sizeof(err));
    rc = lw_config_validate(c, err, sizeof(err));
    REQUIRE(memchr(err, '\0', sizeof(err)) != NULL);
    REQUIRE(rc == LW_OK ? err[0] == '\0' : (rc == LW_ERR_CONFIG && err[0]));
}

/* Every value prints and reads back; the restart-only ones are kept. */
static void check_roundtrip(const struct lw_config *c)
{
    static struct lw_config z, d, k;
    char v[LW_CONFIG_STR_MAX + 1], err[256];
    struct lw_config_key key;
    size_t changed, live = 0;

    lw_config_defaults(&z);
    for (size_t i = 0; lw_config_key_at(i, &key); i++) {
        REQUIRE(lw_config_value(c, key.section, key.key, v, sizeof(v)) ==
                LW_OK);
        if (lw_config_set(&z, key.section, key.key, v, err, sizeof(err)) !=
            LW_OK) {
            fprintf(stderr, "%s.%s = '%s': %s\n", key.section, key.key, v,
                    err);
            REQUIRE(0);
        }
    }
    REQUIRE(lw_config_diff(c, &z, NULL, 0) == 0);

    lw_config_defaults(&d);
    changed = lw_config_diff(&d, c, NULL, 0);
    REQUIRE(changed <= lw_config_nkeys());
    for (size_t i = 0; lw_config_key_at(i, &key); i++) {
        char a[LW_CONFIG_STR_MAX + 1];

        lw_config_value(&d, key.section, key.key, a, sizeof(a));
        lw_config_value(c, key.section, key.key, v, sizeof(v));
        if (strcmp(a, v) != 0 && key.reload != LW_RELOAD_RESTART)
            live++;
    }
    k = *c;
    lw_config_keep_restart(&d, &k);
    REQUIRE(lw_config_diff(&d, &k, NULL, 0) == live);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lw_config a, b;
    static char ea[LW_CONFIG_ERR_MAX], eb[LW_CONFIG_ERR_MAX];
    enum lw_err ra, rb;
    long nlines = 1;

    if (size == 0)
        return 0;
    for (size_t i = 0; i < size; i++)
        nlines += data[i] == '\n';
    ra = parse(data, size, &a, ea);
    rb = parse(data, size, &b, eb);
    REQUIRE(ra == rb);
    REQUIRE(strcmp(ea, eb) == 0);
    REQUIRE(lw_config_diff(&a, &b, NULL, 0) == 0);
    if (ra == LW_OK) {
        REQUIRE(ea[0] == '\0');
        check_validate(&a);
        check_roundtrip(&a);
    } else {
        REQUIRE(ra == LW_ERR_CONFIG);
        check_lines(ea, nlines);
    }
    return 0;
}
