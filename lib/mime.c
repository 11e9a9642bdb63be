/*
 * mime.c - see mime.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lienwatch/mime.h"
#include "sbuf.h"

/* Milliseconds per second. */
#define MS_PER_S 1000
/* Header lines are folded before this many characters (RFC 5322 "SHOULD"). */
#define HEADER_FOLD_AT 78
/* Bytes of text per encoded word: 36 bytes are 48 base64 characters, so a
 * word "=?UTF-8?B?...?=" is 60 long and "Subject: " plus one fits in 78. */
#define WORD_BYTES 36

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hexdigits[] = "0123456789ABCDEF";

char *lw_mime_date(int64_t ms, char *buf, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
                                       "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / MS_PER_S);
    struct tm tm;

    if (ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
        return buf;
    }
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

/* Characters never allowed in the addresses we accept. */
static bool bad_addr_char(unsigned char c)
{
    return c <= ' ' || c >= 0x7f || strchr("\"(),:;<>[\\]", c) != NULL;
}

enum lw_err lw_mime_addr_spec(const char *mailbox, char *out, size_t len)
{
    const char *start, *end, *at = NULL;
    size_t n;

    if (!mailbox || !out || len == 0)
        return LW_ERR_INVAL;
    out[0] = '\0';
    start = strrchr(mailbox, '<');
    if (start) {
        start++;
        end = strchr(start, '>');
        if (!end)
            return LW_ERR_INVAL;
        for (const char *q = end + 1; *q; q++)
            if (*q != ' ' && *q != '\t')
                return LW_ERR_INVAL; /* text after the address */
    } else {
        start = mailbox;
        while (*start == ' ' || *start == '\t')
            start++;
        end = start + strlen(start);
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
    }
    for (const char *q = start; q < end; q++) {
        if (*q == '@') {
            if (at)
                return LW_ERR_INVAL;
            at = q;
        } else if (bad_addr_char((unsigned char)*q)) {
            return LW_ERR_INVAL;
        }
    }
    if (!at || at == start || at + 1 == end || at[1] == '.' || end[-1] == '.')
        return LW_ERR_INVAL;
    n = (size_t)(end - start);
    if (n > LW_MIME_ADDR_MAX || n + 1 > len)
        return LW_ERR_RANGE;
    memcpy(out, start, n);
    out[n] = '\0';
    return LW_OK;
}

bool lw_mime_list_next(const char **p, char *item, size_t len)
{
    const char *s = *p;

    if (len == 0)
        return false;
    for (;;) {
        const char *b, *e;
        bool quoted = false;
        size_t n;

        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (!*s) {
            *p = s;
            item[0] = '\0';
            return false;
        }
        b = s;
        while (*s && (quoted || *s != ',')) {
            if (*s == '"')
                quoted = !quoted;
            s++;
        }
        e = s;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        n = (size_t)(e - b);
        if (n == 0)
            continue;
        if (n >= len)
            n = len - 1;
        memcpy(item, b, n);
        item[n] = '\0';
        if (*s == ',')
            s++;
        *p = s;
        return true;
    }
}

bool lw_mime_needs_encoding(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < ' ' && c != '\t') || c >= 0x7f)
            return true;
    }
    return false;
}

char *lw_mime_base64(const void *data, size_t n)
{
    const unsigned char *d = data;
    struct lw_sb b = {0};
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        char q[4] = {b64chars[d[i] >> 2],
                     b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)],
                     b64chars[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)],
                     b64chars[d[i + 2] & 63]};
        lw_sb_putn(&b, q, 4);
    }
    if (n - i == 1) {
        char q[4] = {b64chars[d[i] >> 2], b64chars[(d[i] & 3) << 4], '=', '='};
        lw_sb_putn(&b, q, 4);
    } else if (n - i == 2) {
        char q[4] = {b64chars[d[i] >> 2],
                     b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)],
                     b64chars[(d[i + 1] & 15) << 2], '='};
        lw_sb_putn(&b, q, 4);
    }
    return lw_sb_take(&b);
}

/* Length of the UTF-8 sequence that starts with byte c (1 for a stray
 * continuation byte or invalid lead, so progress is always made). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xf0 && c < 0xf8)
        return 4;
    if (c >= 0xe0)
        return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0)
        return 2;
    return 1;
}

/*
 * True when header text v must go out as encoded words: it is not
 * printable ASCII, or it holds "=?", with which ASCII text could pass for
 * an encoded word and be shown as something else (RFC 2047 section 5: a
 * device named "=?UTF-8?B?...?=" must not show as what the base64 says).
 */
static bool must_encode(const char *v)
{
    return lw_mime_needs_encoding(v) || strstr(v, "=?") != NULL;
}

/* Copies value with CR and LF turned into spaces (no header injection). */
static char *one_line(const char *value)
{
    char *v = strdup(value);

    if (v)
        for (char *q = v; *q; q++)
            if (*q == '\r' || *q == '\n')
                *q = ' ';
    return v;
}

/* Appends text as encoded words: the first on the current line, the others
 * each on a continuation line (the space between them is not text). */
static void put_words(struct lw_sb *b, const char *text)
{
    size_t n = strlen(text), i = 0;
    bool first = true;

    while (i < n) {
        size_t take = 0;
        char *enc;

        /* whole UTF-8 characters, at most WORD_BYTES bytes (at least one) */
        while (i + take < n) {
            size_t cl = utf8_len((unsigned char)text[i + take]);
            if (i + take + cl > n)
                cl = n - i - take;
            if (take > 0 && take + cl > WORD_BYTES)
                break;
            take += cl;
        }
        enc = lw_mime_base64(text + i, take);
        if (!enc) {
            b->oom = true;
            return;
        }
        if (!first)
            lw_sb_puts(b, "\r\n ");
        lw_sb_printf(b, "=?UTF-8?B?%s?=", enc);
        free(enc);
        first = false;
        i += take;
    }
}

/* Appends ASCII text folded at spaces, after a line already col long. */
static void put_folded(struct lw_sb *b, const char *text, size_t col)
{
    const char *s = text;

    while (*s) {
        const char *sp = strchr(s + 1, ' ');
        size_t wl = sp ? (size_t)(sp - s) : strlen(s);
        /* a word starting with a space may move to a new line, unless it
         * is white space only: a line of nothing but white space is not a
         * fold (RFC 5322 3.2.2) */
        bool blank = strspn(s, " \t") >= wl;

        if (col + wl > HEADER_FOLD_AT && col > 1 && *s == ' ' && !blank) {
            lw_sb_puts(b, "\r\n");
            col = 0;
        }
        lw_sb_putn(b, s, wl);
        col += wl;
        s += wl;
    }
}

char *lw_mime_header(const char *name, const char *value)
{
    struct lw_sb b = {0};
    char *v = one_line(value ? value : "");

    if (!v)
        return NULL;
    lw_sb_printf(&b, "%s: ", name);
    if (must_encode(v))
        put_words(&b, v);
    else
        put_folded(&b, v, strlen(name) + 2);
    lw_sb_puts(&b, "\r\n");
    free(v);
    return lw_sb_take(&b);
}

char *lw_mime_mailbox_header(const char *name, const char *mailbox)
{
    struct lw_sb b = {0};
    char *v = one_line(mailbox ? mailbox : "");
    char *lt, *disp;

    if (!v)
        return NULL;
    lt = strrchr(v, '<');
    lw_sb_printf(&b, "%s: ", name);
    if (!lt || !must_encode(v)) {
        lw_sb_puts(&b, v);
    } else {
        /* display name: trimmed, without surrounding quotes */
        *lt = '\0';
        disp = v;
        while (*disp == ' ' || *disp == '"')
            disp++;
        for (char *e = disp + strlen(disp);
             e > disp && (e[-1] == ' ' || e[-1] == '"');)
            *--e = '\0';
        put_words(&b, disp);
        lw_sb_printf(&b, " <%s", lt + 1);
    }
    lw_sb_puts(&b, "\r\n");
    free(v);
    return lw_sb_take(&b);
}

/* Appends one quoted-printable token to line-building state. */
static void qp_token(struct lw_sb *b, size_t *col, const char *tok, size_t n)
{
    /* leave room for the '=' of a soft line break */
    if (*col + n > LW_MIME_QP_LINE_MAX - 1) {
        lw_sb_puts(b, "=\r\n");
        *col = 0;
    }
    lw_sb_putn(b, tok, n);
    *col += n;
}

char *lw_mime_qp(const char *text)
{
    struct lw_sb b = {0};
    const char *s = text ? text : "";

    while (*s) {
        const char *eol = strchr(s, '\n');
        const char *end = eol ? eol : s + strlen(s);
        size_t col = 0;

        /* CR LF ends a line; a CR without LF (at the very end) is text */
        if (eol && end > s && end[-1] == '\r')
            end--;
        for (const char *q = s; q < end; q++) {
            unsigned char c = (unsigned char)*q;
            bool last = q + 1 == end;
            if ((c >= '!' && c <= '~' && c != '=') ||
                ((c == ' ' || c == '\t') && !last)) {
                qp_token(&b, &col, (const char *)q, 1);
            } else {
                char t[3] = {'=', hexdigits[c >> 4], hexdigits[c & 15]};
                qp_token(&b, &col, t, 3);
            }
        }
        if (!eol)
            break;
        lw_sb_puts(&b, "\r\n");
        s = eol + 1;
    }
    return lw_sb_take(&b);
}
