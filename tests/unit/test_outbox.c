/*
 * test_outbox.c - cmocka tests of alert e-mail (lib/outbox.c, lib/mime.c)
 * on ":memory:": RFC 5322 / 2047 / quoted-printable composition, the
 * Message-ID, recipients and routing, the retry schedule and maximum age,
 * and the storm digest decisions with a stepped clock.
 *
 * Encoded text is decoded again here (base64, quoted-printable) so the
 * tests check what a mail reader shows, not only the bytes on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lienwatch/config.h"
#include "lienwatch/mime.h"
#include "lienwatch/outbox.h"
#include "lienwatch/registry.h"
#include "lienwatch/store.h"

/* 2026-11-23T00:00:00Z (a Monday). */
#define T0 INT64_C(1795392000000)
#define SEC INT64_C(1000)

/* Chinese description and plate: must survive every encoding. */
#define DESC_ZH "白色 大众朗逸 2019 款，左后门有划痕"
#define PLATE_ZH "粤B·12345"

/* ---- decoders for the checks ------------------------------------------ */

static int b64val(char c)
{
    const char *tab =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(tab, c);

    return c && p ? (int)(p - tab) : -1;
}

/* Decodes base64 text of length n into out (NUL-terminated). */
static void b64dec(const char *in, size_t n, char *out)
{
    unsigned acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *out++ = (char)((acc >> bits) & 0xff);
        }
    }
    *out = '\0';
}

/* Decodes a header value made of encoded words and/or ASCII (unfolded). */
static void header_decode(const char *v, char *out)
{
    char *o = out;

    while (*v) {
        if (strncmp(v, "=?UTF-8?B?", 10) == 0) {
            const char *end = strstr(v + 10, "?=");
            assert_non_null(end);
            b64dec(v + 10, (size_t)(end - v - 10), o);
            o += strlen(o);
            v = end + 2;
            /* whitespace between encoded words is not text */
            {
                const char *w = v;
                while (*w == '\r' || *w == '\n' || *w == ' ')
                    w++;
                if (strncmp(w, "=?UTF-8?B?", 10) == 0)
                    v = w;
            }
        } else if (v[0] == '\r' && v[1] == '\n') {
            v += 2; /* unfold */
        } else {
            *o++ = *v++;
        }
    }
    *o = '\0';
}

/* Decodes quoted-printable (CRLF lines) into out, lines ending in LF. */
static void qp_decode(const char *in, char *out)
{
    while (*in) {
        if (in[0] == '=' && in[1] == '\r' && in[2] == '\n') {
            in += 3;
        } else if (in[0] == '=') {
            char hex[3] = {in[1], in[2], 0};
            *out++ = (char)strtol(hex, NULL, 16);
            in += 3;
        } else if (in[0] == '\r' && in[1] == '\n') {
            *out++ = '\n';
            in += 2;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
}

/* The value of header name in message m (unfolded, decoded) into out. */
static bool get_header(const char *m, const char *name, char *out, size_t len)
{
    const char *end = strstr(m, "\r\n\r\n");
    size_t n = strlen(name);
    char raw[4096];

    assert_non_null(end);
    for (const char *p = m; p < end;) {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e = v;
            while (*v == ' ')
                v++;
            /* up to the CRLF not followed by a space */
            for (e = v; e < end; e++)
                if (e[0] == '\r' && e[1] == '\n' && e[2] != ' ')
                    break;
            assert_true((size_t)(e - v) < sizeof(raw));
            memcpy(raw, v, (size_t)(e - v));
            raw[e - v] = '\0';
            header_decode(raw, out);
            assert_true(strlen(out) < len);
            return true;
        }
        p = strstr(p, "\r\n") + 2;
    }
    return false;
}

/* Every line ends in CRLF, no bare CR or LF, no line over 998. */
static void check_lines(const char *m)
{
    size_t col = 0;

    for (const char *p = m; *p; p++) {
        if (*p == '\r') {
            assert_int_equal(p[1], '\n');
            p++;
            col = 0;
            continue;
        }
        assert_int_not_equal(*p, '\n');
        col++;
        assert_true(col <= 998);
    }
    assert_int_equal(col, 0); /* ends with CRLF */
}

/* The decoded body of message m, caller frees. */
static char *body_of(const char *m)
{
    const char *b = strstr(m, "\r\n\r\n");
    char *out;

    assert_non_null(b);
    b += 4;
    out = malloc(strlen(b) + 1);
    assert_non_null(out);
    qp_decode(b, out);
    return out;
}

/* ---- fixtures -------------------------------------------------------------
 */

static struct lw_store *mem_store(void)
{
    struct lw_store *s = NULL;
    char err[256];

    assert_int_equal(lw_store_open(&s, ":memory:", 0, err, sizeof(err)), LW_OK);
    return s;
}

/*
 * The outbox's options for configuration c, as the daemon makes them
 * (lw_outbox_opts_from_config). Valid until the next call; c must outlive
 * their use (they borrow its strings).
 */
static const struct lw_outbox_opts *O(const struct lw_config *c)
{
    static struct lw_outbox_opts o;

    lw_outbox_opts_from_config(&o, c);
    return &o;
}

static void cfg_mail(struct lw_config *c)
{
    lw_config_defaults(c);
    strcpy(c->smtp_url, "smtp://127.0.0.1:2525");
    strcpy(c->smtp_from, "Lienwatch 警报 <alerts@lender.example>");
    strcpy(c->smtp_to,
           "ops@lender.example, \"Desk, Night\" <night@lender.example>");
    strcpy(c->smtp_route_offline,
           "recovery@agency.example, OPS@lender.example");
}

static void add_vehicle(struct lw_store *s, const char *device,
                        const char *account)
{
    struct lw_vehicle v = {0};
    struct lw_account a = {0};

    snprintf(v.device, sizeof(v.device), "%s", device);
    snprintf(v.vin, sizeof(v.vin), "LSVAU2180N2183294");
    snprintf(v.plate, sizeof(v.plate), "%s", PLATE_ZH);
    snprintf(v.description, sizeof(v.description), "%s", DESC_ZH);
    snprintf(v.account, sizeof(v.account), "%s", account);
    assert_int_equal(lw_registry_vehicle_set(s, &v, T0), LW_OK);
    snprintf(a.account, sizeof(a.account), "%s", account);
    a.days_past_due = 45;
    snprintf(a.status, sizeof(a.status), "overdue");
    snprintf(a.source, sizeof(a.source), "cli");
    assert_int_equal(lw_registry_account_set(s, &a), LW_OK);
}

static struct lw_alert make_alert(enum lw_alert_kind k, const char *device,
                                  int64_t at)
{
    struct lw_alert a;

    memset(&a, 0, sizeof(a));
    a.kind = k;
    snprintf(a.device, sizeof(a.device), "%s", device);
    a.raised_ms = at;
    a.has_fix = true;
    lw_fix_init(&a.fix);
    snprintf(a.fix.device, sizeof(a.fix.device), "%s", device);
    a.fix.fix_time_ms = at - 90 * SEC;
    a.fix.recv_time_ms = at - 89 * SEC;
    a.fix.lat_deg = 41.1579;
    a.fix.lon_deg = -8.6291;
    a.fix.accuracy_m = 12;
    a.fix.speed_mps = 10;
    a.fix.course_deg = 270;
    a.moved_m = NAN;
    if (k == LW_ALERT_GEOFENCE_EXIT)
        snprintf(a.fence, sizeof(a.fence), "Porto 市区");
    if (k == LW_ALERT_OFFLINE)
        a.gap_ms = 6 * 3600 * SEC + 5 * SEC;
    if (k == LW_ALERT_BACK_ONLINE) {
        a.gap_ms = 7 * 3600 * SEC;
        a.moved_m = 12345.0;
    }
    return a;
}

/* Stores alert a and mails it; returns its id. */
static int64_t raise(struct lw_store *s, const struct lw_config *c,
                     const struct lw_alert *a, bool *held)
{
    int64_t id = 0;

    assert_int_equal(lw_store_begin(s), LW_OK);
    assert_int_equal(lw_registry_alert_add(s, a, &id), LW_OK);
    assert_int_equal(lw_outbox_enqueue(s, O(c), id, a, a->raised_ms, held), LW_OK);
    assert_int_equal(lw_store_commit(s), LW_OK);
    return id;
}

/* Collects rows (copies of the strings that matter). */
struct rows {
    int n;                  /* rows seen */
    int64_t id[4096];       /* their ids */
    char rcpt[64][128];     /* first recipients */
    char msgid[64][128];    /* first Message-IDs */
    char *message[64];      /* first messages (owned) */
    bool digest[4096];      /* digest flags */
    char *alert_ids[4096];  /* alert id lists (owned) */
    int attempts[4096];     /* attempts */
    int state[4096];        /* states */
    int64_t next_try[4096]; /* next tries */
};

static int collect(void *ctx, const struct lw_outbox_row *r)
{
    struct rows *rs = ctx;
    int i = rs->n++;

    assert_true(i < 4096);
    rs->id[i] = r->id;
    rs->digest[i] = r->digest;
    rs->alert_ids[i] = strdup(r->digest ? r->alert_ids : "");
    rs->attempts[i] = r->attempts;
    rs->state[i] = r->state;
    rs->next_try[i] = r->next_try_ms;
    if (i < 64) {
        snprintf(rs->rcpt[i], sizeof(rs->rcpt[i]), "%s", r->recipient);
        snprintf(rs->msgid[i], sizeof(rs->msgid[i]), "%s", r->message_id);
        rs->message[i] = strdup(r->message);
    }
    return 0;
}

static void rows_free(struct rows *rs)
{
    for (int i = 0; i < rs->n; i++) {
        free(rs->alert_ids[i]);
        if (i < 64)
            free(rs->message[i]);
    }
    rs->n = 0;
}

static struct rows *rows_new(void)
{
    struct rows *rs = calloc(1, sizeof(*rs));
    assert_non_null(rs);
    return rs;
}

/* ---- MIME pieces -----------------------------------------------------------
 */

static void test_date(void **state)
{
    char buf[LW_MIME_DATE_BUFLEN];
    (void)state;

    assert_string_equal(lw_mime_date(T0, buf, sizeof(buf)),
                        "Mon, 23 Nov 2026 00:00:00 +0000");
    assert_string_equal(
        lw_mime_date(T0 + 86400 * SEC * 5 + 3723 * SEC + 999, buf, sizeof(buf)),
        "Sat, 28 Nov 2026 01:02:03 +0000");
}

static void test_addresses(void **state)
{
    char a[LW_MIME_ADDR_MAX + 1], item[128];
    const char *p = " a@x.example, \"Doe, Jane\" <jane@y.example>,,"
                    " Ops <ops@z.example> ";
    (void)state;

    assert_int_equal(lw_mime_addr_spec("ops@x.example", a, sizeof(a)), LW_OK);
    assert_string_equal(a, "ops@x.example");
    assert_int_equal(
        lw_mime_addr_spec(" Ops Desk <ops@x.example> ", a, sizeof(a)), LW_OK);
    assert_string_equal(a, "ops@x.example");
    assert_int_equal(lw_mime_addr_spec("no-at-sign", a, sizeof(a)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("a@b@c", a, sizeof(a)), LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("@x", a, sizeof(a)), LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("a@", a, sizeof(a)), LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("a b@x", a, sizeof(a)), LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("a@x\r\nBcc: evil@x", a, sizeof(a)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("<a@x> trailing", a, sizeof(a)),
                     LW_ERR_INVAL);
    assert_int_equal(lw_mime_addr_spec("a@x", a, 3), LW_ERR_RANGE);

    assert_true(lw_mime_list_next(&p, item, sizeof(item)));
    assert_string_equal(item, "a@x.example");
    assert_true(lw_mime_list_next(&p, item, sizeof(item)));
    assert_string_equal(item, "\"Doe, Jane\" <jane@y.example>");
    assert_true(lw_mime_list_next(&p, item, sizeof(item)));
    assert_string_equal(item, "Ops <ops@z.example>");
    assert_false(lw_mime_list_next(&p, item, sizeof(item)));
}

static void test_header_encoding(void **state)
{
    char dec[1024];
    char *h;
    (void)state;

    h = lw_mime_header("Subject", "plain ASCII subject");
    assert_string_equal(h, "Subject: plain ASCII subject\r\n");
    free(h);

    /* injection: CR LF become spaces */
    h = lw_mime_header("Subject", "a\r\nBcc: x@y");
    assert_string_equal(h, "Subject: a  Bcc: x@y\r\n");
    free(h);

    /* long ASCII is folded at spaces, and unfolds to the same text */
    {
        const char *longs = "one two three four five six seven eight nine "
                            "ten eleven twelve thirteen fourteen fifteen "
                            "sixteen seventeen";
        h = lw_mime_header("Subject", longs);
        check_lines(h);
        for (const char *l = h; *l;) {
            const char *e = strstr(l, "\r\n");
            assert_true(e - l <= 78);
            l = e + 2;
        }
        header_decode(h + strlen("Subject: "), dec);
        dec[strlen(dec)] = '\0';
        assert_string_equal(dec, longs);
        free(h);
    }

    /* non-ASCII: encoded words of whole characters, each <= 75 long */
    {
        const char *zh = "[lienwatch] offline: " PLATE_ZH " (device a/b) "
                         "went silent " DESC_ZH DESC_ZH;
        h = lw_mime_header("Subject", zh);
        check_lines(h);
        assert_non_null(strstr(h, "=?UTF-8?B?"));
        for (const char *w = strstr(h, "=?"); w; w = strstr(w + 2, "=?")) {
            const char *e = strstr(w + 10, "?=");
            char part[128];
            assert_true(e + 2 - w <= LW_MIME_WORD_MAX);
            /* each word decodes to valid, whole UTF-8 characters */
            b64dec(w + 10, (size_t)(e - w - 10), part);
            assert_true(((unsigned char)part[0] & 0xc0) != 0x80);
            w = e;
        }
        for (const char *l = h; *l;) {
            const char *e = strstr(l, "\r\n");
            assert_true(e - l <= 78);
            l = e + 2;
        }
        header_decode(h + strlen("Subject: "), dec);
        assert_string_equal(dec, zh);
        free(h);
    }

    /* From with a non-ASCII display name keeps the address readable */
    h = lw_mime_mailbox_header("From", "\"Lienwatch 警报\" <a@x.example>");
    assert_non_null(strstr(h, "=?UTF-8?B?"));
    assert_non_null(strstr(h, " <a@x.example>\r\n"));
    header_decode(h + strlen("From: "), dec);
    assert_string_equal(dec, "Lienwatch 警报 <a@x.example>");
    free(h);
    h = lw_mime_mailbox_header("From", "a@x.example");
    assert_string_equal(h, "From: a@x.example\r\n");
    free(h);
}

static void test_quoted_printable(void **state)
{
    char dec[8192];
    char *q;
    (void)state;

    q = lw_mime_qp("a=b\n");
    assert_string_equal(q, "a=3Db\r\n");
    free(q);
    q = lw_mime_qp("trailing space \nand tab\t\n");
    assert_string_equal(q, "trailing space=20\r\nand tab=09\r\n");
    free(q);
    q = lw_mime_qp("中");
    assert_string_equal(q, "=E4=B8=AD");
    free(q);
    /* long lines: soft breaks, no line over 76, =XX never split */
    {
        char in[3000];
        size_t n = 0;
        for (int i = 0; i < 40; i++) {
            memcpy(in + n, DESC_ZH, strlen(DESC_ZH));
            n += strlen(DESC_ZH);
            in[n++] = i % 7 == 0 ? '=' : 'x';
        }
        in[n++] = '\n';
        in[n] = '\0';
        q = lw_mime_qp(in);
        check_lines(q);
        for (const char *l = q; *l;) {
            const char *e = strstr(l, "\r\n");
            assert_true(e - l <= LW_MIME_QP_LINE_MAX);
            for (const char *c = l; c < e; c++)
                if (*c == '=' && c + 1 < e)
                    assert_true(c + 2 < e);
            l = e + 2;
        }
        qp_decode(q, dec);
        assert_string_equal(dec, in);
        free(q);
    }
}

/* ---- composition ------------------------------------------------------------
 */

static void test_compose_alert(void **state)
{
    struct lw_vehicle v = {0};
    struct lw_account acct = {0};
    struct lw_alert a =
        make_alert(LW_ALERT_GEOFENCE_EXIT, "alice/car", T0 + 3600 * SEC);
    struct lw_mail_env env = {"Lienwatch 警报 <alerts@lender.example>",
                              "ops@lender.example,night@lender.example",
                              "0badcafe", T0 + 3601 * SEC, NULL};
    struct lw_mail m, m2;
    char h[1024];
    char *body;
    (void)state;

    snprintf(v.device, sizeof(v.device), "alice/car");
    snprintf(v.plate, sizeof(v.plate), PLATE_ZH);
    snprintf(v.vin, sizeof(v.vin), "LSVAU2180N2183294");
    snprintf(v.description, sizeof(v.description), DESC_ZH);
    snprintf(v.account, sizeof(v.account), "ACC-7");
    snprintf(acct.account, sizeof(acct.account), "ACC-7");
    acct.days_past_due = 45;
    snprintf(acct.status, sizeof(acct.status), "overdue");

    assert_int_equal(lw_mail_compose_alert(&env, 42, &a, &v, &acct, &m), LW_OK);
    check_lines(m.message);
    assert_string_equal(m.message_id, "<alert-42.0badcafe@lender.example>");
    assert_true(get_header(m.message, "Message-ID", h, sizeof(h)));
    assert_string_equal(h, "<alert-42.0badcafe@lender.example>");
    assert_true(get_header(m.message, "Date", h, sizeof(h)));
    assert_string_equal(h, "Mon, 23 Nov 2026 01:00:01 +0000");
    assert_true(get_header(m.message, "From", h, sizeof(h)));
    assert_string_equal(h, "Lienwatch 警报 <alerts@lender.example>");
    assert_true(get_header(m.message, "To", h, sizeof(h)));
    assert_string_equal(h, "ops@lender.example, night@lender.example");
    assert_true(get_header(m.message, "Subject", h, sizeof(h)));
    assert_string_equal(h, m.subject);
    assert_non_null(strstr(h, "geofence_exit"));
    assert_non_null(strstr(h, PLATE_ZH));
    assert_true(get_header(m.message, "MIME-Version", h, sizeof(h)));
    assert_string_equal(h, "1.0");
    assert_true(get_header(m.message, "Content-Type", h, sizeof(h)));
    assert_string_equal(h, "text/plain; charset=UTF-8");
    assert_true(
        get_header(m.message, "Content-Transfer-Encoding", h, sizeof(h)));
    assert_string_equal(h, "quoted-printable");
    assert_true(get_header(m.message, "Auto-Submitted", h, sizeof(h)));

    body = body_of(m.message);
    assert_non_null(strstr(body, "geofence_exit"));
    assert_non_null(strstr(body, "alice/car"));
    assert_non_null(strstr(body, PLATE_ZH));
    assert_non_null(strstr(body, "LSVAU2180N2183294"));
    assert_non_null(strstr(body, DESC_ZH));
    assert_non_null(strstr(body, "ACC-7"));
    assert_non_null(strstr(body, "45 (overdue)"));
    assert_non_null(strstr(body, "Porto 市区"));
    assert_non_null(strstr(body, "https://www.openstreetmap.org/?mlat=41."
                                 "157900&mlon=-8.629100#map=17/41.157900/"
                                 "-8.629100"));
    assert_non_null(strstr(body, "geo:41.157900,-8.629100;u=12"));
    assert_non_null(strstr(body, "1m30s before the alert"));
    assert_non_null(strstr(body, "12 m"));
    assert_non_null(strstr(body, "What to do"));
    assert_non_null(strstr(body, "lienwatch alerts ack 42"));
    free(body);

    /* the same alert composed later: same Message-ID */
    env.now_ms += 3600 * SEC;
    assert_int_equal(lw_mail_compose_alert(&env, 42, &a, &v, &acct, &m2),
                     LW_OK);
    assert_string_equal(m.message_id, m2.message_id);
    lw_mail_release(&m2);
    lw_mail_release(&m);

    /* unknown vehicle, no fix */
    a.has_fix = false;
    assert_int_equal(lw_mail_compose_alert(&env, 7, &a, NULL, NULL, &m), LW_OK);
    body = body_of(m.message);
    assert_non_null(strstr(body, "No position of this vehicle is known"));
    assert_non_null(strstr(body, "(unknown)"));
    free(body);
    lw_mail_release(&m);

    /* a From without a domain cannot make a Message-ID */
    env.from = "nobody";
    assert_int_equal(lw_mail_compose_alert(&env, 7, &a, NULL, NULL, &m),
                     LW_ERR_INVAL);
    assert_null(m.message);
}

static void test_compose_offline_back_online(void **state)
{
    struct lw_alert off = make_alert(LW_ALERT_OFFLINE, "bob/van", T0);
    struct lw_alert back = make_alert(LW_ALERT_BACK_ONLINE, "bob/van", T0);
    struct lw_mail_env env = {"alerts@x.example", "ops@x.example", "1", T0,
                              NULL};
    struct lw_mail m;
    char *body;
    (void)state;

    assert_int_equal(lw_mail_compose_alert(&env, 1, &off, NULL, NULL, &m),
                     LW_OK);
    body = body_of(m.message);
    assert_non_null(strstr(body, "Last position before the silence"));
    assert_non_null(strstr(body, "Silent for:"));
    assert_non_null(strstr(body, "6h5s"));
    assert_non_null(strstr(body, "geo:41.157900,-8.629100"));
    free(body);
    lw_mail_release(&m);

    assert_int_equal(lw_mail_compose_alert(&env, 2, &back, NULL, NULL, &m),
                     LW_OK);
    body = body_of(m.message);
    assert_non_null(strstr(body, "First position after the silence"));
    assert_non_null(strstr(body, "Was silent:"));
    assert_non_null(strstr(body, "7h"));
    assert_non_null(strstr(body, "12.3 km"));
    free(body);
    lw_mail_release(&m);
}

/* The offline mail names the top two places of the last 30 days: a car
 * home every night (20:00-07:00 UTC) and at work by day for five days. */
static void test_offline_places(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_alert off = make_alert(LW_ALERT_OFFLINE, "bob/van", T0);
    struct lw_mail_env env = {"alerts@x.example", "ops@x.example", "1", T0,
                              NULL};
    int64_t day = 86400 * SEC, t0 = T0 - T0 % day - 5 * day;
    struct lw_mail m;
    char *text, *body, *work;
    (void)state;

    assert_null(lw_outbox_places_text(s, "bob/van", "UTC", T0));
    assert_int_equal(lw_store_begin(s), LW_OK);
    for (int64_t t = t0; t < T0 - 3600 * SEC; t += 300 * SEC) {
        int64_t h = (t % day) / (3600 * SEC);
        bool home = h >= 20 || h < 7;
        bool drive = h == 7 || h == 19;
        struct lw_fix f;

        lw_fix_init(&f);
        snprintf(f.device, sizeof(f.device), "bob/van");
        f.fix_time_ms = f.recv_time_ms = t;
        f.lat_deg = home ? 41.1500 : drive ? 41.1600 : 41.1800;
        f.lon_deg = drive ? -8.60 + (double)(t % 3600000) / 3600000 * 0.1
                          : -8.6100;
        f.accuracy_m = 10;
        f.speed_mps = drive ? 12 : 0;
        assert_int_equal(lw_store_put_fix(s, &f, NULL), LW_OK);
    }
    assert_int_equal(lw_store_commit(s), LW_OK);
    text = lw_outbox_places_text(s, "bob/van", "UTC", T0);
    assert_non_null(text);
    /* home first (the car was last seen there, at night), then work */
    assert_non_null(strstr(text, "  1. 41.150000, -8.610000"));
    assert_non_null(strstr(text, "  2. 41.180000, -8.610000"));
    assert_null(strstr(text, "  3. "));
    assert_non_null(strstr(text, "usually there (UTC): 20-06"));
    work = strstr(text, "  2. ");
    assert_non_null(strstr(work, "0 nights"));
    assert_non_null(strstr(text, "openstreetmap.org/?mlat=41.150000"));
    env.places = text;
    assert_int_equal(lw_mail_compose_alert(&env, 1, &off, NULL, NULL, &m),
                     LW_OK);
    body = body_of(m.message);
    assert_non_null(strstr(body, "Where it usually parks"));
    assert_non_null(strstr(body, "1. 41.150000, -8.610000"));
    assert_non_null(strstr(body, "lienwatch places bob/van"));
    free(body);
    lw_mail_release(&m);
    /* without places: said so */
    env.places = NULL;
    assert_int_equal(lw_mail_compose_alert(&env, 1, &off, NULL, NULL, &m),
                     LW_OK);
    body = body_of(m.message);
    assert_non_null(strstr(body, "No usual place in the last 30 days"));
    free(body);
    lw_mail_release(&m);
    free(text);
    lw_store_close(s);
}

/* lw_outbox_opts.places_of for test_digest_places: d/3 parks somewhere
 * known, the others nowhere known. */
static const char *places_of(void *ctx, const char *device)
{
    (void)ctx;
    return strcmp(device, "d/3") == 0
               ? "  1. 41.150000, -8.610000 (within 20 m): 5 nights\n"
               : NULL;
}

/* A storm digest of offline alerts names where each vehicle usually
 * parks, as the places_of given in the options knows it (no history is
 * read); a vehicle without known places gets no such lines. */
static void test_digest_places(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_config c;
    struct lw_outbox_opts o;
    struct rows *rs = rows_new();
    int64_t next = 0;
    bool was_held;
    int made = -1, digests = 0;
    (void)state;

    lw_config_defaults(&c);
    strcpy(c.smtp_url, "smtp://127.0.0.1:25");
    strcpy(c.smtp_from, "a@x.example");
    strcpy(c.smtp_to, "ops@x.example");
    c.smtp_digest_threshold = 2;
    c.smtp_digest_window_s = 300;
    c.smtp_digest_delay_s = 60;
    for (int i = 0; i < 5; i++) {
        char dev[16];
        struct lw_alert a;
        snprintf(dev, sizeof(dev), "d/%d", i);
        a = make_alert(LW_ALERT_OFFLINE, dev, T0 + i * SEC);
        raise(s, &c, &a, &was_held);
        assert_int_equal(was_held, i >= 2);
    }
    o = *O(&c);
    o.places_of = places_of;
    assert_int_equal(lw_outbox_digest_run(s, &o, T0 + 200 * SEC, &made, &next),
                     LW_OK);
    assert_int_equal(made, 1);
    assert_int_equal(lw_outbox_list(s, NULL, collect, rs), LW_OK);
    for (int i = 0; i < rs->n; i++) {
        char *body, *d3, *d4;

        if (!rs->digest[i])
            continue;
        digests++;
        body = body_of(rs->message[i]);
        d3 = strstr(body, "device d/3");
        d4 = strstr(body, "device d/4");
        assert_non_null(d3);
        assert_non_null(d4);
        /* d/3's entry (before d/4's) has its place, d/4's none */
        assert_non_null(strstr(d3, "usually parks:"));
        assert_true(strstr(d3, "usually parks:") < d4);
        assert_non_null(strstr(d3, "1. 41.150000, -8.610000"));
        assert_null(strstr(d4, "usually parks:"));
        free(body);
    }
    assert_int_equal(digests, 1);
    rows_free(rs);
    free(rs);
    lw_store_close(s);
}

/* ---- settings -------------------------------------------------------------
 */

static void test_recipients_and_backoff(void **state)
{
    struct lw_config c;
    enum lw_err e;
    char *r;
    (void)state;

    cfg_mail(&c);
    r = lw_outbox_recipients(O(&c), LW_ALERT_GEOFENCE_EXIT, &e);
    assert_string_equal(r, "ops@lender.example,night@lender.example");
    free(r);
    /* routed, case-insensitive repeats dropped */
    r = lw_outbox_recipients(O(&c), LW_ALERT_OFFLINE, &e);
    assert_string_equal(r, "ops@lender.example,night@lender.example,"
                           "recovery@agency.example");
    free(r);
    strcpy(c.smtp_to, "");
    strcpy(c.smtp_route_offline, "");
    assert_null(lw_outbox_recipients(O(&c), LW_ALERT_OFFLINE, &e));
    assert_int_equal(e, LW_ERR_CONFIG);

    lw_config_defaults(&c);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 1), 5 * SEC);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 2), 10 * SEC);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 3), 20 * SEC);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 7), 320 * SEC);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 8), 600 * SEC);
    assert_int_equal(lw_outbox_backoff_ms(O(&c), 1000), 600 * SEC);
}

/* Every [smtp] setting the outbox uses reaches its options, each route to
 * its own kind; options without a configuration mean no mail. */
static void test_opts_from_config(void **state)
{
    static const struct {
        enum lw_alert_kind kind; /* the kind */
        const char *addr;        /* its route */
    } routes[] = {
        {LW_ALERT_GEOFENCE_EXIT, "exit@x.example"},
        {LW_ALERT_GEOFENCE_ENTER, "enter@x.example"},
        {LW_ALERT_DWELL, "dwell@x.example"},
        {LW_ALERT_OFFLINE, "offline@x.example"},
        {LW_ALERT_BACK_ONLINE, "back@x.example"},
        {LW_ALERT_POWER_CUT, "power@x.example"},
        {LW_ALERT_TOW, "tow@x.example"},
        {LW_ALERT_LOW_BATTERY, "battery@x.example"},
    };
    struct lw_outbox_opts o;
    struct lw_config c;
    char want[128], *r;
    enum lw_err e;

    (void)state;
    lw_config_defaults(&c);
    strcpy(c.smtp_url, "smtp://127.0.0.1:25");
    strcpy(c.smtp_from, "lw <lw@x.example>");
    strcpy(c.smtp_to, "all@x.example");
    strcpy(c.smtp_route_geofence_exit, routes[0].addr);
    strcpy(c.smtp_route_geofence_enter, routes[1].addr);
    strcpy(c.smtp_route_dwell, routes[2].addr);
    strcpy(c.smtp_route_offline, routes[3].addr);
    strcpy(c.smtp_route_back_online, routes[4].addr);
    strcpy(c.smtp_route_power_cut, routes[5].addr);
    strcpy(c.smtp_route_tow, routes[6].addr);
    strcpy(c.smtp_route_low_battery, routes[7].addr);
    c.smtp_digest_threshold = 7;
    c.smtp_digest_window_s = 70;
    c.smtp_digest_delay_s = 17;
    c.smtp_retry_initial_s = 3;
    c.smtp_retry_max_s = 33;
    c.smtp_max_age_ms = 777 * SEC;
    lw_outbox_opts_from_config(&o, &c);
    assert_true(o.enabled);
    assert_string_equal(o.from, c.smtp_from);
    assert_ptr_equal(o.to, c.smtp_to); /* borrowed, not copied */
    assert_int_equal(o.digest_threshold, 7);
    assert_int_equal(o.digest_window_s, 70);
    assert_int_equal(o.digest_delay_s, 17);
    assert_int_equal(o.retry_initial_s, 3);
    assert_int_equal(o.retry_max_s, 33);
    assert_int_equal(o.max_age_ms, 777 * SEC);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        snprintf(want, sizeof(want), "all@x.example,%s", routes[i].addr);
        r = lw_outbox_recipients(&o, routes[i].kind, &e);
        assert_non_null(r);
        assert_string_equal(r, want);
        free(r);
    }
    /* a kind without a route (or unknown) gets smtp.to only */
    r = lw_outbox_recipients(&o, LW_ALERT_KIND_COUNT_, &e);
    assert_string_equal(r, "all@x.example");
    free(r);
    lw_outbox_opts_from_config(&o, NULL);
    assert_false(o.enabled);
    assert_null(lw_outbox_recipients(NULL, LW_ALERT_TOW, &e));
    assert_int_equal(e, LW_ERR_INVAL);
    lw_outbox_opts_from_config(NULL, &c); /* no-op */
}

static void test_config_rules(void **state)
{
    struct lw_config c;
    char err[256];
    (void)state;

    lw_config_defaults(&c);
    assert_string_equal(c.smtp_starttls, "required");
    assert_int_equal(c.smtp_digest_threshold, 20);
    assert_int_equal(c.smtp_digest_window_s, 300);
    assert_int_equal(c.smtp_digest_delay_s, 60);
    assert_int_equal(c.smtp_retry_initial_s, 5);
    assert_int_equal(c.smtp_retry_max_s, 600);
    assert_int_equal(c.smtp_max_age_ms, 2 * 86400 * SEC);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
    cfg_mail(&c);
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
    strcpy(c.smtp_url, "http://x");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "smtp.url"));
    strcpy(c.smtp_url, "smtps://mail.example:465");
    strcpy(c.smtp_to, "");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "smtp.to"));
    strcpy(c.smtp_to, "ops@x.example");
    strcpy(c.smtp_from, "nobody");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "smtp.from"));
    strcpy(c.smtp_from, "a@x.example");
    strcpy(c.smtp_route_tow, "police@x.example, not an address");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    assert_non_null(strstr(err, "route_tow"));
    strcpy(c.smtp_route_tow, "");
    strcpy(c.smtp_starttls, "optional");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    strcpy(c.smtp_starttls, "no");
    c.smtp_retry_initial_s = 700;
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    c.smtp_retry_initial_s = 5;
    strcpy(c.smtp_password_file, "/etc/pw");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_ERR_CONFIG);
    strcpy(c.smtp_username, "lw");
    assert_int_equal(lw_config_validate(&c, err, sizeof(err)), LW_OK);
}

/* ---- the table --------------------------------------------------------------
 */

static void test_enqueue_off(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_config c;
    struct lw_alert a = make_alert(LW_ALERT_OFFLINE, "x/y", T0);
    int64_t pending = -1, held = -1;
    (void)state;

    lw_config_defaults(&c); /* no url: no mail */
    raise(s, &c, &a, NULL);
    assert_int_equal(lw_outbox_counts(s, &pending, NULL, NULL, &held), LW_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(held, 0);
    lw_store_close(s);
}

static void test_enqueue_route_and_states(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_config c;
    struct lw_alert a = make_alert(LW_ALERT_OFFLINE, "alice/car", T0);
    struct rows *rs = rows_new();
    enum lw_outbox_state st;
    int64_t id, next = 0, pending, sent, failed;
    char want[128];
    (void)state;

    cfg_mail(&c);
    add_vehicle(s, "alice/car", "ACC-1");
    id = raise(s, &c, &a, NULL);
    /* to + route_offline (OPS@ is a repeat) = 3 rows, one Message-ID */
    assert_int_equal(lw_outbox_due(s, T0, 0, collect, rs), LW_OK);
    assert_int_equal(rs->n, 3);
    assert_string_equal(rs->rcpt[0], "ops@lender.example");
    assert_string_equal(rs->rcpt[1], "night@lender.example");
    assert_string_equal(rs->rcpt[2], "recovery@agency.example");
    assert_string_equal(rs->msgid[0], rs->msgid[2]);
    snprintf(want, sizeof(want), "<alert-%lld.", (long long)id);
    assert_memory_equal(rs->msgid[0], want, strlen(want));
    assert_non_null(strstr(rs->msgid[0], "@lender.example>"));
    {
        char *body = body_of(rs->message[0]);
        assert_non_null(strstr(body, DESC_ZH));
        assert_non_null(strstr(body, "45 (overdue)"));
        free(body);
    }
    /* queueing the same alert again changes nothing */
    assert_int_equal(lw_outbox_enqueue(s, O(&c), id, &a, T0, NULL), LW_OK);
    assert_int_equal(lw_outbox_counts(s, &pending, NULL, NULL, NULL), LW_OK);
    assert_int_equal(pending, 3);
    assert_int_equal(lw_outbox_next_due(s, &next), LW_OK);
    assert_int_equal(next, T0);

    /* retries: 5 s, 10 s, 20 s ... */
    assert_int_equal(lw_outbox_mark_retry(s, O(&c), rs->id[0], T0 + SEC,
                                          "451 try later", &st, &next),
                     LW_OK);
    assert_int_equal(st, LW_OUTBOX_PENDING);
    assert_int_equal(next, T0 + 6 * SEC);
    assert_int_equal(lw_outbox_mark_retry(s, O(&c), rs->id[0], T0 + 6 * SEC,
                                          "connection refused", &st, &next),
                     LW_OK);
    assert_int_equal(next, T0 + 16 * SEC);
    rows_free(rs);
    /* not due before its time */
    assert_int_equal(lw_outbox_due(s, T0 + 15 * SEC, 0, collect, rs), LW_OK);
    assert_int_equal(rs->n, 2);
    rows_free(rs);
    assert_int_equal(lw_outbox_due(s, T0 + 16 * SEC, 1, collect, rs), LW_OK);
    assert_int_equal(rs->n, 1);
    rows_free(rs);

    /* sent and failed */
    assert_int_equal(lw_outbox_due(s, T0 + 16 * SEC, 0, collect, rs), LW_OK);
    assert_int_equal(lw_outbox_mark_sent(s, rs->id[0], T0 + 17 * SEC), LW_OK);
    assert_int_equal(lw_outbox_mark_sent(s, rs->id[0], T0 + 17 * SEC),
                     LW_ERR_NOTFOUND);
    assert_int_equal(lw_outbox_mark_failed(s, rs->id[1], T0 + 17 * SEC, true,
                                           "550 no such user"),
                     LW_OK);
    rows_free(rs);
    {
        struct lw_outbox_filter f = {.unnotified_failed = true};
        assert_int_equal(lw_outbox_list(s, &f, collect, rs), LW_OK);
        assert_int_equal(rs->n, 1);
        assert_int_equal(rs->state[0], LW_OUTBOX_FAILED);
        assert_int_equal(rs->attempts[0], 1);
        assert_int_equal(lw_outbox_mark_notified(s, rs->id[0]), LW_OK);
        rows_free(rs);
        assert_int_equal(lw_outbox_list(s, &f, collect, rs), LW_OK);
        assert_int_equal(rs->n, 0);
    }
    assert_int_equal(lw_outbox_counts(s, &pending, &sent, &failed, NULL),
                     LW_OK);
    assert_int_equal(pending, 1);
    assert_int_equal(sent, 1);
    assert_int_equal(failed, 1);

    /* the last one: retried until max_age, then failed */
    assert_int_equal(lw_outbox_due(s, T0 + 20 * SEC, 0, collect, rs), LW_OK);
    assert_int_equal(rs->n, 1);
    assert_int_equal(lw_outbox_mark_retry(s, O(&c), rs->id[0],
                                          T0 + c.smtp_max_age_ms - SEC,
                                          "timeout", &st, &next),
                     LW_OK);
    assert_int_equal(st, LW_OUTBOX_PENDING);
    assert_int_equal(next, T0 + c.smtp_max_age_ms); /* capped at max age */
    assert_int_equal(lw_outbox_mark_retry(s, O(&c), rs->id[0],
                                          T0 + c.smtp_max_age_ms, "timeout",
                                          &st, &next),
                     LW_OK);
    assert_int_equal(st, LW_OUTBOX_FAILED);
    rows_free(rs);
    assert_int_equal(lw_outbox_counts(s, &pending, &sent, &failed, NULL),
                     LW_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(failed, 2);
    assert_int_equal(lw_outbox_next_due(s, &next), LW_OK);
    assert_int_equal(next, INT64_MAX);
    free(rs);
    lw_store_close(s);
}

static void test_expired(void **state)
{
    struct lw_config c;
    struct lw_outbox_row r = {0};
    (void)state;

    lw_config_defaults(&c);
    r.state = LW_OUTBOX_PENDING;
    r.created_ms = T0;
    assert_false(lw_outbox_expired(O(&c), &r, T0 + c.smtp_max_age_ms - 1));
    assert_true(lw_outbox_expired(O(&c), &r, T0 + c.smtp_max_age_ms));
    r.state = LW_OUTBOX_SENT;
    assert_false(lw_outbox_expired(O(&c), &r, T0 + c.smtp_max_age_ms));
}

static void test_instance_tags_differ(void **state)
{
    struct lw_store *s1 = mem_store(), *s2 = mem_store();
    struct lw_config c;
    struct lw_alert a = make_alert(LW_ALERT_TOW, "t/1", T0);
    struct rows *r1 = rows_new(), *r2 = rows_new();
    (void)state;

    cfg_mail(&c);
    raise(s1, &c, &a, NULL);
    raise(s2, &c, &a, NULL);
    assert_int_equal(lw_outbox_due(s1, T0, 1, collect, r1), LW_OK);
    assert_int_equal(lw_outbox_due(s2, T0, 1, collect, r2), LW_OK);
    /* both are alert 1, of different databases: different Message-IDs */
    assert_memory_equal(r1->msgid[0], "<alert-1.", 9);
    assert_memory_equal(r2->msgid[0], "<alert-1.", 9);
    assert_string_not_equal(r1->msgid[0], r2->msgid[0]);
    rows_free(r1);
    rows_free(r2);
    free(r1);
    free(r2);
    lw_store_close(s1);
    lw_store_close(s2);
}

/* ---- storms -----------------------------------------------------------------
 */

/* True when alert id is in the comma-separated list. */
static bool in_list(const char *list, int64_t id)
{
    char buf[32];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)id);

    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, buf, n) == 0)
            return true;
        p += l + (e ? 1 : 0);
    }
    return false;
}

static void test_storm_digest(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_config c;
    struct rows *rs = rows_new();
    int64_t ids[12], next = 0, held = 0, pending = 0;
    bool was_held;
    int made = -1, singles = 0, digests = 0;
    (void)state;

    lw_config_defaults(&c);
    strcpy(c.smtp_url, "smtp://127.0.0.1:25");
    strcpy(c.smtp_from, "a@x.example");
    strcpy(c.smtp_to, "ops@x.example");
    c.smtp_digest_threshold = 3;
    c.smtp_digest_window_s = 300;
    c.smtp_digest_delay_s = 60;
    add_vehicle(s, "d/0", "ACC-1");

    /* 5 offline alerts a second apart: 3 mailed, 2 held */
    for (int i = 0; i < 5; i++) {
        char dev[16];
        struct lw_alert a;
        snprintf(dev, sizeof(dev), "d/%d", i);
        a = make_alert(LW_ALERT_OFFLINE, dev, T0 + i * SEC);
        ids[i] = raise(s, &c, &a, &was_held);
        assert_int_equal(was_held, i >= 3);
    }
    /* another kind is not part of this storm */
    {
        struct lw_alert a = make_alert(LW_ALERT_TOW, "d/9", T0 + 5 * SEC);
        raise(s, &c, &a, &was_held);
        assert_false(was_held);
    }
    assert_int_equal(lw_outbox_counts(s, &pending, NULL, NULL, &held), LW_OK);
    assert_int_equal(pending, 4);
    assert_int_equal(held, 2);

    /* due 60 s after the threshold was crossed (the 4th alert, T0 + 3 s) */
    assert_int_equal(lw_outbox_digest_run(s, O(&c), T0 + 62 * SEC, &made, &next),
                     LW_OK);
    assert_int_equal(made, 0);
    assert_int_equal(next, T0 + 63 * SEC);
    assert_int_equal(lw_outbox_digest_run(s, O(&c), T0 + 63 * SEC, &made, &next),
                     LW_OK);
    assert_int_equal(made, 1);
    assert_int_equal(next, INT64_MAX);
    assert_int_equal(lw_outbox_counts(s, &pending, NULL, NULL, &held), LW_OK);
    assert_int_equal(pending, 5);
    assert_int_equal(held, 0);

    /* the storm goes on: held again, next digest 60 s after the first of
     * them, so never more often than once per delay */
    for (int i = 5; i < 8; i++) {
        char dev[16];
        struct lw_alert a;
        snprintf(dev, sizeof(dev), "d/%d", i);
        a = make_alert(LW_ALERT_OFFLINE, dev, T0 + (60 + i) * SEC);
        ids[i] = raise(s, &c, &a, &was_held);
        assert_true(was_held);
    }
    assert_int_equal(lw_outbox_digest_run(s, O(&c), T0 + 100 * SEC, &made, &next),
                     LW_OK);
    assert_int_equal(made, 0);
    assert_int_equal(next, T0 + 125 * SEC);
    assert_int_equal(lw_outbox_digest_run(s, O(&c), T0 + 125 * SEC, &made, &next),
                     LW_OK);
    assert_int_equal(made, 1);

    /* after the window, alerts are mailed one by one again */
    {
        struct lw_alert a =
            make_alert(LW_ALERT_OFFLINE, "d/8", T0 + 1000 * SEC);
        ids[8] = raise(s, &c, &a, &was_held);
        assert_false(was_held);
    }

    /* every alert is in exactly one mail */
    assert_int_equal(lw_outbox_list(s, NULL, collect, rs), LW_OK);
    for (int i = 0; i < rs->n; i++) {
        if (rs->digest[i]) {
            char *body = body_of(rs->message[i]);
            digests++;
            assert_non_null(strstr(body, "shared cause"));
            assert_non_null(strstr(body, "device d/"));
            assert_non_null(strstr(body, "https://www.openstreetmap.org/"));
            free(body);
        } else {
            singles++;
        }
    }
    assert_int_equal(digests, 2);
    assert_int_equal(singles, 5); /* 3 + tow + after the window */
    for (int k = 0; k < 9; k++) {
        int seen = 0;
        for (int i = 0; i < rs->n; i++) {
            char *body = body_of(rs->message[i]);
            char dev[32];
            snprintf(dev, sizeof(dev), "device d/%d", k);
            if (rs->digest[i] ? in_list(rs->alert_ids[i], ids[k])
                              : strstr(body, dev) != NULL) {
                seen++;
                assert_non_null(strstr(body, dev));
            }
            free(body);
        }
        assert_int_equal(seen, 1);
    }
    rows_free(rs);
    free(rs);
    lw_store_close(s);
}

static void test_storm_large(void **state)
{
    struct lw_store *s = mem_store();
    struct lw_config c;
    struct rows *rs = rows_new();
    int n = 2 * LW_OUTBOX_DIGEST_MAX + 30, made = 0, digested = 0;
    int64_t first = 0, last = 0;
    (void)state;

    lw_config_defaults(&c);
    strcpy(c.smtp_url, "smtp://127.0.0.1:25");
    strcpy(c.smtp_from, "a@x.example");
    strcpy(c.smtp_to, "ops@x.example");
    assert_int_equal(lw_store_begin(s), LW_OK);
    for (int i = 0; i < n; i++) {
        char dev[32];
        struct lw_alert a;
        int64_t id;
        snprintf(dev, sizeof(dev), "cell/%05d", i);
        a = make_alert(LW_ALERT_OFFLINE, dev, T0 + i);
        assert_int_equal(lw_registry_alert_add(s, &a, &id), LW_OK);
        assert_int_equal(lw_outbox_enqueue(s, O(&c), id, &a, T0 + i, NULL), LW_OK);
        if (i == 0)
            first = id;
        last = id;
    }
    assert_int_equal(lw_store_commit(s), LW_OK);
    assert_int_equal(lw_outbox_digest_run(s, O(&c), T0 + 3600 * SEC, &made, NULL),
                     LW_OK);
    assert_int_equal(made, 3);
    assert_int_equal(lw_outbox_list(s, NULL, collect, rs), LW_OK);
    assert_int_equal(rs->n, c.smtp_digest_threshold + 3);
    for (int64_t id = first; id <= last; id++) {
        int seen = 0;
        for (int i = 0; i < rs->n; i++)
            if (rs->digest[i] && in_list(rs->alert_ids[i], id))
                seen++;
        if (id - first >= c.smtp_digest_threshold) {
            assert_int_equal(seen, 1);
            digested++;
        } else {
            assert_int_equal(seen, 0);
        }
    }
    assert_int_equal(digested, n - c.smtp_digest_threshold);
    rows_free(rs);
    free(rs);
    lw_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_header_encoding),
        cmocka_unit_test(test_quoted_printable),
        cmocka_unit_test(test_compose_alert),
        cmocka_unit_test(test_compose_offline_back_online),
        cmocka_unit_test(test_offline_places),
        cmocka_unit_test(test_recipients_and_backoff),
        cmocka_unit_test(test_opts_from_config),
        cmocka_unit_test(test_config_rules),
        cmocka_unit_test(test_enqueue_off),
        cmocka_unit_test(test_enqueue_route_and_states),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_instance_tags_differ),
        cmocka_unit_test(test_storm_digest),
        cmocka_unit_test(test_digest_places),
        cmocka_unit_test(test_storm_large),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
