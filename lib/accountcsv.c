/*
 * accountcsv.c - parsing and checking the account CSV file (see
 * accountcsv.h). One pass over the lines, each copied into a scratch
 * buffer and split in place; then one sort to find repeated accounts.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/accountcsv.h"
#include "lienwatch/text.h"

/* Fields of a row. */
#define CSV_FIELDS 3
/* Field starts kept at most (more are counted, not kept). */
#define CSV_SPLIT_MAX 8
/* A UTF-8 byte order mark, which spreadsheet exports put first. */
#define UTF8_BOM "\xEF\xBB\xBF"
/* Room for a message about a row. */
#define WHY_MAX 256
/* Most bytes of a bad field quoted in a message. */
#define QUOTE_MAX 40
/* Room for a quoted field: each byte may become "\xHH". */
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
/* First capacity of the rows array. */
#define ROWS_INITIAL 256

/* State of one parse. */
struct parse {
    struct lw_accountcsv *out; /* the result */
    size_t cap;                /* rows allocated */
    lw_accountcsv_bad_cb bad;  /* the caller's report, may be NULL */
    void *ctx;                 /* its pointer */
};

/* Reports a bad row and counts it. */
__attribute__((format(printf, 3, 4))) static void
bad_row(struct parse *ps, long line, const char *fmt, ...)
{
    char why[WHY_MAX];
    va_list ap;

    ps->out->bad++;
    if (!ps->bad)
        return;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ps->bad(ps->ctx, line, why);
}

/* s for a message: printable ASCII as it is, other bytes as \xHH, at most
 * QUOTE_MAX bytes of s (then "..."). buf holds QUOTE_BUF bytes. */
static const char *quote(const char *s, char *buf)
{
    size_t o = 0, i;

    for (i = 0; s[i] && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c < 0x7F && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, QUOTE_BUF - o, "\\x%02X", c);
    }
    if (s[i])
        o += (size_t)snprintf(buf + o, QUOTE_BUF - o, "...");
    buf[o] = '\0';
    return buf;
}

/* Parses a whole number of days >= 0 (digits only); false otherwise. */
static bool parse_days(const char *s, int *out)
{
    char *end;
    long v;

    if (!s[0] || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

/*
 * Splits the NUL-terminated line p in place into fields (RFC 4180 quoting,
 * spaces around unquoted fields trimmed). Stores up to CSV_SPLIT_MAX field
 * starts in f and returns the number of fields, or -1 with *err set.
 */
static int csv_split(char *p, char **f, const char **err)
{
    int n = 0;

    for (;;) {
        char *start, *end;

        while (*p == ' ')
            p++;
        if (*p == '"') {
            char *dst = ++p;

            start = dst;
            for (;;) {
                if (*p == '\0') {
                    *err = "a quoted field is not closed";
                    return -1;
                }
                if (*p == '"' && p[1] == '"') {
                    *dst++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *dst++ = *p++;
                }
            }
            end = dst;
            while (*p == ' ')
                p++;
            if (*p != ',' && *p != '\0') {
                *err = "text after the closing quote of a field";
                return -1;
            }
        } else {
            start = p;
            while (*p && *p != ',' && *p != '"')
                p++;
            if (*p == '"') {
                *err = "a quote inside an unquoted field";
                return -1;
            }
            end = p;
            while (end > start && end[-1] == ' ')
                end--;
        }
        if (n < CSV_SPLIT_MAX)
            f[n] = start;
        if (n < INT_MAX)
            n++;
        if (*p == '\0') {
            *end = '\0';
            return n;
        }
        p++;         /* past the comma */
        *end = '\0'; /* may be the comma itself */
    }
}

/* Checks one data line (NUL-terminated, split in place); keeps it when
 * good. LW_OK or LW_ERR_NOMEM. */
static enum lw_err check_row(struct parse *ps, char *text, long line)
{
    struct lw_accountcsv *out = ps->out;
    char *f[CSV_SPLIT_MAX], why[WHY_MAX], q[QUOTE_BUF];
    const char *err = NULL;
    struct lw_accountcsv_row *r;
    int n = csv_split(text, f, &err), days;

    if (n < 0) {
        bad_row(ps, line, "%s", err);
        return LW_OK;
    }
    if (n != CSV_FIELDS) {
        bad_row(ps, line, "%d field%s, expected %d (%s)", n, n == 1 ? "" : "s",
                CSV_FIELDS, LW_ACCOUNTCSV_HEADER);
        return LW_OK;
    }
    if (!f[0][0]) {
        bad_row(ps, line, "account is empty");
        return LW_OK;
    }
    if (!lw_text_ok(f[0], LW_ACCOUNT_MAX, why, sizeof why)) {
        bad_row(ps, line, "account %s", why);
        return LW_OK;
    }
    if (!parse_days(f[1], &days)) {
        bad_row(ps, line,
                "account %s: days_past_due '%s' is not a whole number >= 0",
                f[0], quote(f[1], q));
        return LW_OK;
    }
    if (!lw_text_ok(f[2], LW_STATUS_MAX, why, sizeof why)) {
        bad_row(ps, line, "account %s: status %s", f[0], why);
        return LW_OK;
    }
    if (out->n == ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : ROWS_INITIAL;
        struct lw_accountcsv_row *nr;

        if (ncap > SIZE_MAX / sizeof(*nr))
            return LW_ERR_NOMEM;
        nr = realloc(out->rows, ncap * sizeof(*nr));
        if (!nr)
            return LW_ERR_NOMEM;
        out->rows = nr;
        ps->cap = ncap;
    }
    r = &out->rows[out->n++];
    memset(r, 0, sizeof(*r));
    r->line = line;
    r->a.days_past_due = days;
    lw_copy(r->a.account, sizeof r->a.account, f[0]);
    lw_copy(r->a.status, sizeof r->a.status, f[2]);
    return LW_OK;
}

static int by_account(const void *x, const void *y)
{
    const struct lw_accountcsv_row *a = x, *b = y;
    int c = strcmp(a->a.account, b->a.account);

    if (c)
        return c;
    return a->line < b->line ? -1 : a->line > b->line;
}

static int by_line(const void *x, const void *y)
{
    const struct lw_accountcsv_row *a = x, *b = y;

    return a->line < b->line ? -1 : a->line > b->line;
}

/* Reports and drops every row that repeats an earlier row's account. */
static void drop_repeats(struct parse *ps)
{
    struct lw_accountcsv *out = ps->out;
    size_t i, kept = 1, first = 0;

    if (out->n < 2) /* qsort forbids a NULL array, even empty */
        return;
    qsort(out->rows, out->n, sizeof(*out->rows), by_account);
    for (i = 1; i < out->n; i++) {
        if (strcmp(out->rows[i].a.account, out->rows[first].a.account) == 0) {
            bad_row(ps, out->rows[i].line,
                    "account %s repeats the one on line %ld",
                    out->rows[i].a.account, out->rows[first].line);
            continue;
        }
        first = kept;
        out->rows[kept++] = out->rows[i];
    }
    out->n = kept;
    qsort(out->rows, out->n, sizeof(*out->rows), by_line);
}

enum lw_err lw_accountcsv_parse(const char *text, size_t len,
                                struct lw_accountcsv *out,
                                lw_accountcsv_bad_cb bad, void *ctx, char *err,
                                size_t errlen)
{
    struct parse ps = {out, 0, bad, ctx};
    const char *p, *end;
    char *line = NULL;
    size_t cap = 0;
    enum lw_err e = LW_OK;

    if (!out) {
        lw_seterr(err, errlen, "invalid argument");
        return LW_ERR_INVAL;
    }
    memset(out, 0, sizeof(*out));
    if (!text) {
        lw_seterr(err, errlen, "invalid argument");
        return LW_ERR_INVAL;
    }
    if (len == 0) {
        lw_seterr(err, errlen,
                  "the file is empty: its first line must be "
                  "'" LW_ACCOUNTCSV_HEADER "'");
        return LW_ERR_INVAL;
    }
    p = text;
    end = text + len;
    while (e == LW_OK && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        char *t;

        /* the scratch copy, NUL-terminated, for csv_split */
        if (n + 1 > cap) {
            char *nb = realloc(line, n + 1);

            if (!nb) {
                e = LW_ERR_NOMEM;
                break;
            }
            line = nb;
            cap = n + 1;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl ? nl + 1 : end;
        out->lines++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
            line[--n] = '\0';
        t = line;
        if (out->lines == 1) {
            if (strncmp(t, UTF8_BOM, strlen(UTF8_BOM)) == 0)
                t += strlen(UTF8_BOM);
            if (strlen(line) != n || strcmp(t, LW_ACCOUNTCSV_HEADER) != 0) {
                lw_seterr(err, errlen,
                          "line 1: the first line must be exactly '%s'",
                          LW_ACCOUNTCSV_HEADER);
                e = LW_ERR_INVAL;
            }
            continue;
        }
        if (strlen(line) != n) {
            bad_row(&ps, out->lines, "a NUL byte in the line");
            continue;
        }
        if (t[strspn(t, " \t")] == '\0')
            continue; /* blank */
        e = check_row(&ps, t, out->lines);
    }
    free(line);
    if (e == LW_OK)
        drop_repeats(&ps);
    else if (e == LW_ERR_NOMEM)
        lw_seterr(err, errlen, "out of memory");
    return e;
}

void lw_accountcsv_release(struct lw_accountcsv *csv)
{
    if (!csv)
        return;
    free(csv->rows);
    memset(csv, 0, sizeof(*csv));
}
