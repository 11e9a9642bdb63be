/*
 * webreq.c - parsing what web clients send (webreq.h).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/timeutil.h"
#include "lienwatch/webreq.h"

#define API_PREFIX "/api/v1/"
/* largest id taken from a path */
#define ID_MAX 9007199254740991LL

/* Methods per resource. */
enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

static const struct {
    enum lw_route_kind kind;
    unsigned methods;
    const char *allow;
} methods[] = {
    {LW_RT_SESSION, M_GET | M_POST | M_DELETE, "GET, POST, DELETE"},
    {LW_RT_CASES, M_GET | M_POST, "GET, POST"},
    {LW_RT_CASE_CLOSE, M_POST, "POST"},
    {LW_RT_VEHICLE, M_GET, "GET"},
    {LW_RT_HISTORY, M_GET, "GET"},
    {LW_RT_LOCATE, M_POST, "POST"},
    {LW_RT_NEAR, M_GET, "GET"},
    {LW_RT_COMMAND, M_GET, "GET"},
    {LW_RT_EVENTS, M_GET, "GET"},
    {LW_RT_ALERTS, M_GET, "GET"},
    {LW_RT_ALERT_ACK, M_POST, "POST"},
    {LW_RT_WATCHED, M_GET, "GET"},
    {LW_RT_PLACES, M_GET, "GET"},
};

const char *lw_webreq_allow(enum lw_route_kind k)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].kind == k)
            return methods[i].allow;
    return "";
}

static unsigned method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return M_GET;
    if (strcmp(m, "POST") == 0)
        return M_POST;
    if (strcmp(m, "DELETE") == 0)
        return M_DELETE;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* True when s[0..n) is valid UTF-8 (no overlong forms, no surrogates). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += k + 1;
    }
    return true;
}

enum lw_err lw_webreq_decode(const char *in, size_t len, bool plus_space,
                             char *out, size_t outlen)
{
    size_t o = 0;

    if (!in || !out || outlen == 0)
        return LW_ERR_INVAL;
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int hi, lo;
            if (len - i < 3)
                return LW_ERR_INVAL;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return LW_ERR_INVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return LW_ERR_INVAL;
        if (o + 1 >= outlen)
            return LW_ERR_RANGE;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (!utf8_ok((const unsigned char *)out, o)) {
        out[0] = '\0';
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* Parses a path id: decimal, 1..ID_MAX, no sign or blanks. */
static bool parse_id(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;

    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > ID_MAX)
        return false;
    *out = v;
    return true;
}

/* The segment of p up to '/' or the end: its length. */
static size_t seglen(const char *p)
{
    return strcspn(p, "/");
}

static bool seg_is(const char *p, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(p, word, n) == 0;
}

int lw_webreq_route(const char *method, const char *path, struct lw_route *r,
                    char *err, size_t errlen)
{
    const char *p, *segs[4];
    size_t lens[4], nseg = 0;
    unsigned mbit, allowed = 0;

    lw_seterr(err, errlen, "no such resource");
    if (!r)
        return 404;
    memset(r, 0, sizeof(*r));
    if (!method || !path ||
        strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
        return 404;
    p = path + strlen(API_PREFIX);
    while (*p) {
        size_t n = seglen(p);
        if (nseg == 4 || n == 0)
            return 404;
        segs[nseg] = p;
        lens[nseg++] = n;
        p += n;
        if (*p == '/') {
            p++;
            if (!*p)
                return 404; /* trailing slash */
        }
    }
    if (nseg == 0)
        return 404;
#define SEG(i, w) seg_is(segs[i], lens[i], w)
    if (nseg == 1 && SEG(0, "session"))
        r->kind = LW_RT_SESSION;
    else if (nseg == 1 && SEG(0, "cases"))
        r->kind = LW_RT_CASES;
    else if (nseg == 3 && SEG(0, "cases") && SEG(2, "close"))
        r->kind = LW_RT_CASE_CLOSE;
    else if (nseg == 2 && SEG(0, "vehicles"))
        r->kind = LW_RT_VEHICLE;
    else if (nseg == 3 && SEG(0, "vehicles") && SEG(2, "history"))
        r->kind = LW_RT_HISTORY;
    else if (nseg == 3 && SEG(0, "vehicles") && SEG(2, "locate"))
        r->kind = LW_RT_LOCATE;
    else if (nseg == 3 && SEG(0, "vehicles") && SEG(2, "places"))
        r->kind = LW_RT_PLACES;
    else if (nseg == 1 && SEG(0, "near"))
        r->kind = LW_RT_NEAR;
    else if (nseg == 2 && SEG(0, "commands"))
        r->kind = LW_RT_COMMAND;
    else if (nseg == 1 && SEG(0, "events"))
        r->kind = LW_RT_EVENTS;
    else if (nseg == 1 && SEG(0, "alerts"))
        r->kind = LW_RT_ALERTS;
    else if (nseg == 3 && SEG(0, "alerts") && SEG(2, "ack"))
        r->kind = LW_RT_ALERT_ACK;
    else if (nseg == 1 && SEG(0, "watched"))
        r->kind = LW_RT_WATCHED;
    else
        return 404;
#undef SEG
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].kind == r->kind)
            allowed = methods[i].methods;
    mbit = method_bit(method);
    if (!(mbit & allowed)) {
        lw_seterr(err, errlen, "method %.16s not allowed here (allowed: %s)",
                  method, lw_webreq_allow(r->kind));
        return 405;
    }
    switch (r->kind) {
    case LW_RT_VEHICLE:
    case LW_RT_HISTORY:
    case LW_RT_LOCATE:
    case LW_RT_PLACES:
        if (lw_webreq_decode(segs[1], lens[1], false, r->device,
                             sizeof(r->device)) != LW_OK ||
            r->device[0] == '\0') {
            lw_seterr(err, errlen,
                      "the device in the path is not a valid "
                      "percent-encoded id of at most %d bytes",
                      LW_DEVICE_MAX);
            return 400;
        }
        break;
    case LW_RT_CASE_CLOSE:
    case LW_RT_COMMAND:
    case LW_RT_ALERT_ACK:
        if (!parse_id(segs[1], lens[1], &r->id)) {
            lw_seterr(err, errlen, "the id in the path is not a number >= 1");
            return 400;
        }
        break;
    default:
        break;
    }
    lw_seterr(err, errlen, "ok");
    return 0;
}

enum lw_err lw_webreq_double(const char *name, const char *text, double min,
                             double max, double *out, char *err,
                             size_t errlen)
{
    char *end;
    double v;

    if (!text || !*text || strlen(text) > 64) {
        lw_seterr(err, errlen, "%s: a number is required", name);
        return LW_ERR_INVAL;
    }
    errno = 0;
    v = strtod(text, &end);
    if (*end || errno || !isfinite(v) || text[0] == ' ' ||
        strpbrk(text, "xXpP")) {
        lw_seterr(err, errlen, "%s: '%.64s' is not a decimal number", name,
                  text);
        return LW_ERR_INVAL;
    }
    if (v < min || v > max) {
        lw_seterr(err, errlen, "%s: %g is outside %g..%g", name, v, min, max);
        return LW_ERR_INVAL;
    }
    *out = v;
    return LW_OK;
}

enum lw_err lw_webreq_int(const char *name, const char *text, int64_t min,
                          int64_t max, int64_t *out, char *err,
                          size_t errlen)
{
    char *end;
    long long v;

    if (!text || !*text || strlen(text) > 24 ||
        strspn(text, "-0123456789") != strlen(text)) {
        lw_seterr(err, errlen, "%s: a whole number is required", name);
        return LW_ERR_INVAL;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (*end || errno || v < min || v > max) {
        lw_seterr(err, errlen, "%s: '%.24s' is not a whole number in %lld..%lld",
                  name, text, (long long)min, (long long)max);
        return LW_ERR_INVAL;
    }
    *out = v;
    return LW_OK;
}

enum lw_err lw_webreq_time(const char *name, const char *text, int64_t *out,
                           char *err, size_t errlen)
{
    if (text && *text && strlen(text) <= 40 &&
        strspn(text, "0123456789") == strlen(text))
        return lw_webreq_int(name, text, 0, 253402300799999LL, out, err,
                             errlen);
    if (!text || strlen(text) > 40 || lw_time_parse(text, out) != LW_OK) {
        lw_seterr(err, errlen,
                  "%s: not a time (2026-01-02T03:04:05Z or ms since the "
                  "epoch)",
                  name);
        return LW_ERR_INVAL;
    }
    return LW_OK;
}

/* ---- JSON bodies ---------------------------------------------------------- */

/* Loads body as one JSON object into *o. 0 or an HTTP status. */
static int load_object(const char *body, size_t len, json_t **o, char *err,
                       size_t errlen)
{
    json_error_t je;

    *o = NULL;
    if (len > LW_WEBREQ_BODY_MAX) {
        lw_seterr(err, errlen, "the body is larger than %d bytes",
                  LW_WEBREQ_BODY_MAX);
        return 413;
    }
    if (!body || len == 0) {
        lw_seterr(err, errlen, "a JSON object is required in the body");
        return 400;
    }
    *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!*o) {
        lw_seterr(err, errlen, "bad JSON at line %d column %d: %.120s",
                  je.line, je.column, je.text);
        return 400;
    }
    if (!json_is_object(*o)) {
        json_decref(*o);
        *o = NULL;
        lw_seterr(err, errlen, "the body must be a JSON object");
        return 400;
    }
    return 0;
}

/* Refuses keys of o not in keys (NULL-terminated). 0 or 400. */
static int only_keys(json_t *o, const char *const *keys, char *err,
                     size_t errlen)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v) {
        bool known = false;
        (void)v;
        for (size_t i = 0; keys[i]; i++)
            if (strcmp(k, keys[i]) == 0)
                known = true;
        if (!known) {
            lw_seterr(err, errlen, "unknown field '%.64s'", k);
            return 400;
        }
    }
    return 0;
}

/* Copies string field key of o into out (max bytes + NUL). 0 or 400. */
static int get_str(json_t *o, const char *key, bool required, bool nonempty,
                   char *out, size_t max, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    size_t n;

    out[0] = '\0';
    if (!v) {
        if (!required)
            return 0;
        lw_seterr(err, errlen, "field '%s' is required", key);
        return 400;
    }
    if (!json_is_string(v)) {
        lw_seterr(err, errlen, "field '%s' must be a string", key);
        return 400;
    }
    n = json_string_length(v);
    if (n > max || memchr(json_string_value(v), '\0', n)) {
        lw_seterr(err, errlen, "field '%s' is longer than %zu bytes", key,
                  max);
        return 400;
    }
    if (nonempty && n == 0) {
        lw_seterr(err, errlen, "field '%s' must not be empty", key);
        return 400;
    }
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

int lw_webreq_login(const char *body, size_t len, struct lw_login_req *out,
                    char *err, size_t errlen)
{
    static const char *const keys[] = {"username", "password", NULL};
    json_t *o;
    int st;

    if (!out)
        return 400;
    memset(out, 0, sizeof(*out));
    st = load_object(body, len, &o, err, errlen);
    if (st == 0)
        st = only_keys(o, keys, err, errlen);
    if (st == 0)
        st = get_str(o, "username", true, true, out->username,
                     LW_WEBREQ_NAME_MAX, err, errlen);
    if (st == 0)
        st = get_str(o, "password", true, true, out->password,
                     LW_WEBREQ_PASSWORD_MAX, err, errlen);
    json_decref(o);
    return st;
}

int lw_webreq_case(const char *body, size_t len, struct lw_case_req *out,
                   char *err, size_t errlen)
{
    static const char *const keys[] = {"device", "agent", "expires",
                                       "reason", NULL};
    json_t *o, *e;
    int st;

    if (!out)
        return 400;
    memset(out, 0, sizeof(*out));
    st = load_object(body, len, &o, err, errlen);
    if (st == 0)
        st = only_keys(o, keys, err, errlen);
    if (st == 0)
        st = get_str(o, "device", true, true, out->device, LW_DEVICE_MAX, err,
                     errlen);
    if (st == 0)
        st = get_str(o, "agent", true, true, out->agent, LW_WEBREQ_NAME_MAX,
                     err, errlen);
    if (st == 0)
        st = get_str(o, "reason", true, true, out->reason, LW_WEBREQ_TEXT_MAX,
                     err, errlen);
    if (st == 0) {
        e = json_object_get(o, "expires");
        if (json_is_integer(e) && json_integer_value(e) > 0 &&
            json_integer_value(e) <= 365LL * 86400) {
            out->expires_in_ms = json_integer_value(e) * 1000;
        } else if (json_is_string(e) &&
                   lw_duration_parse(json_string_value(e),
                                     &out->expires_in_ms) == LW_OK &&
                   out->expires_in_ms > 0 &&
                   out->expires_in_ms <= 365LL * 86400 * 1000) {
            /* parsed */
        } else {
            lw_seterr(err, errlen,
                      "field 'expires' must be a duration (\"72h\", \"3d\") "
                      "or seconds, more than 0 and at most 365 days");
            st = 400;
        }
    }
    json_decref(o);
    return st;
}

int lw_webreq_close(const char *body, size_t len, struct lw_text_req *out,
                    char *err, size_t errlen)
{
    static const char *const keys[] = {"outcome", NULL};
    json_t *o;
    int st;

    if (!out)
        return 400;
    memset(out, 0, sizeof(*out));
    st = load_object(body, len, &o, err, errlen);
    if (st == 0)
        st = only_keys(o, keys, err, errlen);
    if (st == 0)
        st = get_str(o, "outcome", true, true, out->text, LW_WEBREQ_TEXT_MAX,
                     err, errlen);
    if (st == 0 && strcmp(out->text, "recovered") != 0 &&
        strcmp(out->text, "cancelled") != 0) {
        lw_seterr(err, errlen,
                  "field 'outcome' must be \"recovered\" or \"cancelled\"");
        st = 400;
    }
    json_decref(o);
    return st;
}

int lw_webreq_ack(const char *body, size_t len, struct lw_text_req *out,
                  char *err, size_t errlen)
{
    static const char *const keys[] = {"note", NULL};
    json_t *o;
    int st;

    if (!out)
        return 400;
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0; /* no body: no note */
    st = load_object(body, len, &o, err, errlen);
    if (st == 0)
        st = only_keys(o, keys, err, errlen);
    if (st == 0)
        st = get_str(o, "note", false, false, out->text, 255, err, errlen);
    json_decref(o);
    return st;
}

bool lw_webreq_cookie(const char *header, const char *name, char *out,
                      size_t outlen)
{
    size_t nlen;
    const char *p = header;

    if (!header || !name || !out || outlen == 0)
        return false;
    nlen = strlen(name);
    while (*p) {
        size_t n;
        while (*p == ' ' || *p == ';')
            p++;
        n = strcspn(p, ";");
        if (n > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = n - nlen - 1;
            if (vlen + 1 > outlen)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}
