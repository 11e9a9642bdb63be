/*
 * fuzz_accountcsv.c - libFuzzer target: the account CSV file of 'lienwatch
 * account import' through lw_accountcsv_parse.
 *
 * Invariants (a violation aborts):
 *   - a refused text (not an account file) says why, has no rows;
 *   - every good row has an account of 1..LW_ACCOUNT_MAX bytes and a status
 *     of at most LW_STATUS_MAX, both NUL-terminated UTF-8 without control
 *     characters (they are stored and shown), days past due >= 0, and a
 *     line number after the header and within the text; rows come in line
 *     order and no account appears twice;
 *   - every bad row is reported once, with a one-line message without
 *     control characters (it goes to the operator's terminal), on a line of
 *     the text; good and bad rows together are at most the lines;
 *   - the outcome does not depend on whether a callback is given.
 * Seeds are written by tests/fuzz/run.sh (hand-made: there is no shared
 * data for this file).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/accountcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the callback saw. */
struct seen {
    long n;     /* bad rows reported */
    long lines; /* lines of the text, for the range check */
};

/* True when s is valid UTF-8 without C0/C1 controls or DEL. */
static int clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned long cp;
        int n, i;

        if (p[0] < 0x80) {
            cp = p[0];
            n = 1;
        } else if (p[0] >= 0xC2 && p[0] <= 0xDF) {
            cp = p[0] & 0x1F;
            n = 2;
        } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
            cp = p[0] & 0x0F;
            n = 3;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
            cp = p[0] & 0x07;
            n = 4;
        } else {
            return 0;
        }
        for (i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            return 0;
        p += n;
    }
    return 1;
}

static void on_bad(void *ctx, long line, const char *why)
{
    struct seen *s = ctx;

    s->n++;
    FUZZ_REQUIRE(why != NULL && why[0] != '\0');
    FUZZ_REQUIRE(line >= 2 && line <= s->lines);
    /* the message may quote a field: valid text only, never raw bytes */
    FUZZ_REQUIRE(clean_utf8(why));
}

static int by_account(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_accountcsv csv, quiet;
    struct seen s = {0, 0};
    char err[FUZZ_ERRLEN] = "";
    const char **names;
    enum lw_err e, e2;
    long lines = 0;

    /* lines of the text, as the parser counts them */
    for (size_t i = 0; i < size; i++)
        if (data[i] == '\n')
            lines++;
    if (size && data[size - 1] != '\n')
        lines++;
    s.lines = lines;
    e = lw_accountcsv_parse((const char *)data, size, &csv, on_bad, &s, err,
                            sizeof(err));
    FUZZ_REQUIRE(fuzz_terminated(err, sizeof(err)));
    e2 = lw_accountcsv_parse((const char *)data, size, &quiet, NULL, NULL, NULL,
                             0);
    FUZZ_REQUIRE(e == e2);
    if (e != LW_OK) {
        FUZZ_REQUIRE(e == LW_ERR_INVAL || e == LW_ERR_NOMEM);
        FUZZ_REQUIRE(err[0] != '\0' && fuzz_printable(err));
        FUZZ_REQUIRE(csv.n == 0 || e == LW_ERR_NOMEM);
        goto out;
    }
    FUZZ_REQUIRE(csv.lines == lines);
    FUZZ_REQUIRE(csv.bad == s.n);
    FUZZ_REQUIRE(csv.n == quiet.n && csv.bad == quiet.bad);
    FUZZ_REQUIRE((long)csv.n + csv.bad <= lines - 1);
    names = calloc(csv.n ? csv.n : 1, sizeof(*names));
    FUZZ_REQUIRE(names != NULL);
    for (size_t i = 0; i < csv.n; i++) {
        const struct lw_accountcsv_row *r = &csv.rows[i];

        FUZZ_REQUIRE(memcmp(r, &quiet.rows[i], sizeof(*r)) == 0);
        FUZZ_REQUIRE(fuzz_terminated(r->a.account, sizeof(r->a.account)));
        FUZZ_REQUIRE(fuzz_terminated(r->a.status, sizeof(r->a.status)));
        FUZZ_REQUIRE(r->a.account[0] != '\0');
        FUZZ_REQUIRE(strlen(r->a.account) <= LW_ACCOUNT_MAX);
        FUZZ_REQUIRE(strlen(r->a.status) <= LW_STATUS_MAX);
        FUZZ_REQUIRE(clean_utf8(r->a.account) && clean_utf8(r->a.status));
        FUZZ_REQUIRE(r->a.days_past_due >= 0);
        FUZZ_REQUIRE(r->line >= 2 && r->line <= lines);
        FUZZ_REQUIRE(i == 0 || r->line > csv.rows[i - 1].line);
        names[i] = r->a.account;
    }
    if (csv.n > 1) {
        qsort(names, csv.n, sizeof(*names), by_account);
        for (size_t i = 1; i < csv.n; i++)
            FUZZ_REQUIRE(strcmp(names[i - 1], names[i]) != 0);
    }
    free(names);
out:
    lw_accountcsv_release(&csv);
    lw_accountcsv_release(&quiet);
    return 0;
}
