/*
 * fuzz_mime.c - libFuzzer target: composing Internet mail (lib/mime.c, and
 * the alert mail of lib/outbox.c) from hostile text: device ids, fence
 * names, plates and descriptions come from trackers and operators.
 *
 * Byte 0 picks what is fuzzed, the rest is the text:
 *   0 lw_mime_header         1 lw_mime_mailbox_header   2 lw_mime_qp
 *   3 lw_mime_addr_spec      4 lw_mime_list_next        5 lw_mime_base64
 *   6 lw_mime_date           7 lw_mail_compose_alert (fields split at NUL)
 * Invariants (a violation aborts): what goes on the wire is 7-bit, lines
 * end in CRLF and nowhere else, a header field cannot be ended early (no
 * header injection), quoted-printable lines are at most 76 characters and
 * encoded words at most 75, and everything decodes back to what was put in
 * (quoted-printable, base64 and RFC 2047 words are decoded here, by code
 * that shares nothing with lib/mime.c). Seeds are written by run.sh.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/config.h"
#include "lienwatch/mime.h"
#include "lienwatch/outbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 5322: a line is at most 998 characters without its CRLF. */
#define LINE_HARD_MAX 998
/* Where lib/mime.c folds header lines. */
#define HEADER_FOLD_AT 78
/* The alert id every composed mail gets. */
#define ALERT_ID 42

/* Value of a hex digit, -1 if none. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Value of a base64 character, -1 if none. */
static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes n base64 characters (a multiple of 4, '=' padding) into out;
 * returns the byte count, or -1 if it is not base64. */
static long b64_decode(const char *s, size_t n, unsigned char *out)
{
    long o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];

        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' ? 0 : b64val(s[i + k]);
            if (v[k] < 0)
                return -1;
            /* padding only at the very end */
            if (s[i + k] == '=' && i + 4 != n)
                return -1;
        }
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (s[i + 2] != '=')
            out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (s[i + 3] != '=')
            out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    return o;
}

/* Every line of text (n bytes) ends in CRLF, there is no other CR or LF,
 * and every byte is printable ASCII, space or tab. Returns the longest
 * line's length. */
static size_t check_wire(const char *text, size_t n)
{
    size_t longest = 0, col = 0;

    FUZZ_REQUIRE(n >= 2 && text[n - 2] == '\r' && text[n - 1] == '\n');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '\r') {
            FUZZ_REQUIRE(i + 1 < n && text[i + 1] == '\n');
            if (col > longest)
                longest = col;
            col = 0;
            i++;
            continue;
        }
        FUZZ_REQUIRE(c != '\n');
        FUZZ_REQUIRE((c >= 0x20 && c < 0x7f) || c == '\t');
        col++;
    }
    return longest;
}

/* The value with CR and LF as spaces, as lib/mime.c puts it in a header. */
static char *one_line(const char *v)
{
    char *s = strdup(v);

    FUZZ_REQUIRE(s != NULL);
    for (char *q = s; *q; q++)
        if (*q == '\r' || *q == '\n')
            *q = ' ';
    return s;
}

/*
 * Decodes the value of a header field (after "Name: "): unfolded, and when
 * it is made of encoded words "=?UTF-8?B?...?=" separated by folds, those
 * decoded. Returns a new string; encoded says which it was.
 */
static char *header_value(const char *field, size_t skip, bool *encoded)
{
    size_t n = strlen(field);
    char *out = malloc(n + 1);
    size_t o = 0;
    const char *p = field + skip;

    FUZZ_REQUIRE(out != NULL);
    *encoded = strncmp(p, "=?UTF-8?B?", 10) == 0;
    if (!*encoded) {
        /* unfold: drop every CRLF (lib/mime.c folds before a space) */
        for (; *p; p++) {
            if (p[0] == '\r' && p[1] == '\n') {
                p++;
                continue;
            }
            out[o++] = *p;
        }
        out[o] = '\0';
        return out;
    }
    for (;;) {
        const char *end;
        long got;

        FUZZ_REQUIRE(strncmp(p, "=?UTF-8?B?", 10) == 0);
        end = strstr(p + 10, "?=");
        FUZZ_REQUIRE(end != NULL);
        FUZZ_REQUIRE((size_t)(end + 2 - p) <= LW_MIME_WORD_MAX);
        got = b64_decode(p + 10, (size_t)(end - p - 10),
                         (unsigned char *)out + o);
        FUZZ_REQUIRE(got > 0);
        o += (size_t)got;
        p = end + 2;
        if (strncmp(p, "\r\n ", 3) == 0) {
            p += 3;
            continue;
        }
        break;
    }
    out[o] = '\0';
    return out;
}

/* Checks a header field "Name: ...\r\n" made of value. */
static void check_header(const char *name, const char *value, const char *field)
{
    size_t n = strlen(field), nlen = strlen(name), longest;
    char *expect = one_line(value), *got, *line, *save = NULL;
    char *copy;
    bool encoded;
    bool first = true;

    longest = check_wire(field, n);
    FUZZ_REQUIRE(strncmp(field, name, nlen) == 0);
    FUZZ_REQUIRE(field[nlen] == ':' && field[nlen + 1] == ' ');
    /* continuation lines start with white space: no new field sneaks in */
    for (const char *q = strstr(field, "\r\n"); q && q[2];
         q = strstr(q + 2, "\r\n"))
        FUZZ_REQUIRE(q[2] == ' ' || q[2] == '\t');
    /* drop the final CRLF, then decode */
    copy = strndup(field, n - 2);
    FUZZ_REQUIRE(copy != NULL);
    got = header_value(copy, nlen + 2, &encoded);
    FUZZ_REQUIRE(strcmp(got, expect) == 0);
    /* ASCII that could pass for an encoded word is encoded too */
    FUZZ_REQUIRE(encoded == (lw_mime_needs_encoding(expect) ||
                             strstr(expect, "=?") != NULL));
    /* folding: no line of white space only (RFC 5322 3.2.2), and a line
     * over 78 is one word that could not be split (white space around it
     * aside) */
    for (line = strtok_r(copy, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        char *words = first ? line + nlen + 2 : line;
        size_t wl;

        if (!first)
            FUZZ_REQUIRE(line[strspn(line, " \t")] != '\0');
        words += strspn(words, " \t");
        wl = strlen(words);
        while (wl > 0 && (words[wl - 1] == ' ' || words[wl - 1] == '\t'))
            wl--;
        if ((size_t)(words - line) + wl > HEADER_FOLD_AT)
            FUZZ_REQUIRE(!encoded && memchr(words, ' ', wl) == NULL);
        first = false;
    }
    if (encoded)
        FUZZ_REQUIRE(longest <= HEADER_FOLD_AT);
    free(copy);
    free(got);
    free(expect);
}

/* Decodes quoted-printable qp; returns a new string. */
static char *qp_decode(const char *qp)
{
    char *out = malloc(strlen(qp) + 1);
    size_t o = 0;

    FUZZ_REQUIRE(out != NULL);
    for (const char *p = qp; *p; p++) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 2; /* soft line break */
            continue;
        }
        if (p[0] == '=') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

            FUZZ_REQUIRE(hi >= 0 && lo >= 0);
            out[o++] = (char)(hi << 4 | lo);
            p += 2;
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/* text with every line end (LF, or CRLF) as CRLF, as lw_mime_qp means it. */
static char *crlf_lines(const char *text)
{
    char *out = malloc(2 * strlen(text) + 1);
    size_t o = 0;

    FUZZ_REQUIRE(out != NULL);
    for (const char *p = text; *p; p++) {
        if (p[0] == '\r' && p[1] == '\n')
            continue; /* the LF writes the CRLF */
        if (p[0] == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

/* Checks quoted-printable text qp of text. */
static void check_qp(const char *text, const char *qp)
{
    size_t n = strlen(qp);
    char *dec, *want;

    if (n) {
        /* every line <= 76, 7-bit, no white space at a line's end */
        const char *s = qp;

        while (*s) {
            const char *e = strstr(s, "\r\n");
            size_t len = e ? (size_t)(e - s) : strlen(s);

            FUZZ_REQUIRE(len <= LW_MIME_QP_LINE_MAX);
            FUZZ_REQUIRE(len == 0 || (s[len - 1] != ' ' && s[len - 1] != '\t'));
            for (size_t i = 0; i < len; i++)
                FUZZ_REQUIRE((s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\t');
            if (!e)
                break;
            s = e + 2;
        }
    }
    dec = qp_decode(qp);
    want = crlf_lines(text);
    FUZZ_REQUIRE(strcmp(dec, want) == 0);
    free(dec);
    free(want);
}

static void fuzz_addr(const char *text)
{
    char out[LW_MIME_ADDR_MAX + 1], again[LW_MIME_ADDR_MAX + 1], tiny[8];
    enum lw_err e = lw_mime_addr_spec(text, out, sizeof(out));
    const char *at;

    FUZZ_REQUIRE(e == LW_OK || e == LW_ERR_INVAL || e == LW_ERR_RANGE);
    FUZZ_REQUIRE(fuzz_terminated(out, sizeof(out)));
    if (e != LW_OK)
        return;
    at = strchr(out, '@');
    FUZZ_REQUIRE(at && at != out && at[1] && !strchr(at + 1, '@'));
    FUZZ_REQUIRE(strlen(out) <= LW_MIME_ADDR_MAX);
    for (const char *q = out; *q; q++)
        FUZZ_REQUIRE(*q > ' ' && *q < 0x7f && !strchr("\"(),:;<>[\\]", *q));
    /* an addr-spec is its own addr-spec */
    FUZZ_REQUIRE(lw_mime_addr_spec(out, again, sizeof(again)) == LW_OK);
    FUZZ_REQUIRE(strcmp(out, again) == 0);
    e = lw_mime_addr_spec(text, tiny, sizeof(tiny));
    FUZZ_REQUIRE(fuzz_terminated(tiny, sizeof(tiny)));
    FUZZ_REQUIRE(e == (strlen(out) < sizeof(tiny) ? LW_OK : LW_ERR_RANGE));
}

static void fuzz_list(const char *text)
{
    const char *p = text;
    char item[LW_MIME_ADDR_MAX + 1];
    size_t rounds = 0, len = strlen(text);

    while (lw_mime_list_next(&p, item, sizeof(item))) {
        size_t n = strlen(item);

        FUZZ_REQUIRE(rounds++ <= len);
        FUZZ_REQUIRE(p >= text && p <= text + len);
        FUZZ_REQUIRE(n > 0 && item[0] != ' ' && item[0] != '\t');
        FUZZ_REQUIRE(item[n - 1] != ' ' || n == sizeof(item) - 1);
    }
    FUZZ_REQUIRE(*p == '\0' && item[0] == '\0');
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
    char *b = lw_mime_base64(data, size);
    unsigned char *back = malloc(size + 3);
    long n;

    FUZZ_REQUIRE(b != NULL && back != NULL);
    FUZZ_REQUIRE(strlen(b) == (size + 2) / 3 * 4);
    n = b64_decode(b, strlen(b), back);
    FUZZ_REQUIRE(n == (long)size);
    FUZZ_REQUIRE(size == 0 || memcmp(back, data, size) == 0);
    free(back);
    free(b);
}

static void fuzz_date(const uint8_t *data, size_t size)
{
    char buf[LW_MIME_DATE_BUFLEN];
    int64_t ms = 0;

    memcpy(&ms, data, size < sizeof(ms) ? size : sizeof(ms));
    lw_mime_date(ms, buf, sizeof(buf));
    FUZZ_REQUIRE(fuzz_terminated(buf, sizeof(buf)));
    FUZZ_REQUIRE(fuzz_printable(buf));
    /* "Mon, 23 Nov 2026 16:43:46 +0000": fixed layout while the year has
     * four digits (to 9999) */
    if (ms >= 0 && ms < INT64_C(253402300800000)) {
        FUZZ_REQUIRE(strlen(buf) == 31);
        FUZZ_REQUIRE(buf[3] == ',' && buf[25] == ' ' &&
                     strcmp(buf + 26, "+0000") == 0);
    }
}

/* The next NUL-separated field of the input, or "" past its end. */
static const char *next_field(const char **p, const char *end)
{
    const char *f = *p;

    if (f >= end)
        return "";
    *p = f + strlen(f) + 1;
    return f;
}

static void fuzz_compose(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct lw_alert a;
    struct lw_vehicle v;
    struct lw_account acct;
    struct lw_mail m;
    struct lw_mail_env env;
    char from[LW_CONFIG_STR_MAX + 1], addr[LW_MIME_ADDR_MAX + 1];
    const char *subject_field, *body;
    char *subject_copy;
    enum lw_err e;

    memset(&a, 0, sizeof(a));
    memset(&v, 0, sizeof(v));
    memset(&acct, 0, sizeof(acct));
    a.kind = (enum lw_alert_kind)(1 + (unsigned char)*next_field(&p, end) %
                                          (LW_ALERT_KIND_COUNT_ - 1));
    lw_copy(a.device, sizeof(a.device), next_field(&p, end));
    lw_copy(a.fence, sizeof(a.fence), next_field(&p, end));
    lw_copy(v.plate, sizeof(v.plate), next_field(&p, end));
    lw_copy(v.vin, sizeof(v.vin), next_field(&p, end));
    lw_copy(v.description, sizeof(v.description), next_field(&p, end));
    lw_copy(v.account, sizeof(v.account), next_field(&p, end));
    lw_copy(acct.status, sizeof(acct.status), next_field(&p, end));
    lw_copy(from, sizeof(from), next_field(&p, end));
    if (!from[0])
        lw_copy(from, sizeof(from), "lienwatch <alerts@example.com>");
    a.raised_ms = FUZZ_NOW_MS;
    a.has_fix = true;
    a.fix.fix_time_ms = FUZZ_NOW_MS - 5000;
    a.fix.recv_time_ms = FUZZ_NOW_MS;
    a.fix.lat_deg = -10.91;
    a.fix.lon_deg = -37.07;
    a.fix.accuracy_m = 8;
    a.fix.speed_mps = NAN;
    a.fix.course_deg = NAN;
    a.moved_m = NAN;
    acct.days_past_due = 45;
    env = (struct lw_mail_env){from, "ops@example.com, b@example.org",
                               "1a2b3c4d", FUZZ_NOW_MS, NULL};
    e = lw_mail_compose_alert(&env, ALERT_ID, &a, &v, &acct, &m);
    if (lw_mime_addr_spec(from, addr, sizeof(addr)) != LW_OK) {
        FUZZ_REQUIRE(e == LW_ERR_INVAL);
        return;
    }
    FUZZ_REQUIRE(e == LW_OK);
    FUZZ_REQUIRE(check_wire(m.message, strlen(m.message)) <= LINE_HARD_MAX);
    body = strstr(m.message, "\r\n\r\n");
    FUZZ_REQUIRE(body != NULL);
    body += 4;
    /* the header section: every field checked where we can rebuild it */
    subject_field = strstr(m.message, "\r\nSubject: ");
    FUZZ_REQUIRE(subject_field != NULL && subject_field < body);
    subject_field += 2;
    {
        const char *e2 = subject_field;
        /* the field ends at the first CRLF not followed by white space */
        while ((e2 = strstr(e2, "\r\n")) && (e2[2] == ' ' || e2[2] == '\t'))
            e2 += 2;
        FUZZ_REQUIRE(e2 != NULL);
        subject_copy = strndup(subject_field, (size_t)(e2 + 2 - subject_field));
        FUZZ_REQUIRE(subject_copy != NULL);
        check_header("Subject", m.subject, subject_copy);
        free(subject_copy);
    }
    FUZZ_REQUIRE(strstr(m.message, "Content-Transfer-Encoding: "
                                   "quoted-printable\r\n") != NULL);
    {
        char *dec = qp_decode(body), *dev = crlf_lines(a.device);

        /* the story names the device (its line ends as CRLF, as the
         * body's) */
        FUZZ_REQUIRE(strstr(dec, dev) != NULL);
        free(dev);
        free(dec);
    }
    lw_mail_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *out;
    int which;

    if (size < 1)
        return 0;
    which = data[0] % 8;
    data++;
    size--;
    text = malloc(size + 1);
    FUZZ_REQUIRE(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    switch (which) {
    case 0:
        out = lw_mime_header("Subject", text);
        FUZZ_REQUIRE(out != NULL);
        check_header("Subject", text, out);
        free(out);
        break;
    case 1:
        out = lw_mime_mailbox_header("From", text);
        FUZZ_REQUIRE(out != NULL);
        /* one field: it ends in CRLF, and a CRLF inside only folds (white
         * space follows), so nothing can start a new field */
        FUZZ_REQUIRE(strlen(out) >= 2);
        FUZZ_REQUIRE(strcmp(out + strlen(out) - 2, "\r\n") == 0);
        for (const char *q = out; *q; q++) {
            if (*q == '\r') {
                FUZZ_REQUIRE(q[1] == '\n');
                FUZZ_REQUIRE(q[2] == '\0' || q[2] == ' ' || q[2] == '\t');
            } else if (*q == '\n') {
                FUZZ_REQUIRE(q > out && q[-1] == '\r');
            }
        }
        {
            char addr[LW_MIME_ADDR_MAX + 1];

            /* a valid mailbox goes out 7-bit (its display name encoded) */
            if (lw_mime_addr_spec(text, addr, sizeof(addr)) == LW_OK)
                check_wire(out, strlen(out));
        }
        free(out);
        break;
    case 2:
        out = lw_mime_qp(text);
        FUZZ_REQUIRE(out != NULL);
        check_qp(text, out);
        free(out);
        break;
    case 3:
        fuzz_addr(text);
        break;
    case 4:
        fuzz_list(text);
        break;
    case 5:
        fuzz_base64(data, size);
        break;
    case 6:
        fuzz_date(data, size);
        break;
    default:
        fuzz_compose(text, size);
        break;
    }
    free(text);
    return 0;
}
