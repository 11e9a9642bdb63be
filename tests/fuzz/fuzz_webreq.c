/*
 * fuzz_webreq.c - libFuzzer target for lienwatch-web's request parsing
 * (webreq.h): what a client controls before any access decision.
 *
 * The first input byte picks the parser (modulo 6), the rest is its input:
 *   0  "METHOD\nPATH": lw_webreq_route; on 0 the kind is set, a device
 *      route has a non-empty, terminated, control-free device, an id route
 *      an id >= 1; any other status is 400, 404 or 405;
 *   1  lw_webreq_decode into a buffer of the second byte's size: the result
 *      is terminated and fits;
 *   2  query numbers and times (lw_webreq_double, _int, _time): a success
 *      is within its range and finite;
 *   3  login body; 4 case body (a success has non-empty fields and a
 *      positive expiry); 5 close and ack bodies, and the text as a Cookie
 *      header.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/webreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_route(const char *text)
{
    struct lw_route r;
    char err[FUZZ_ERRLEN];
    const char *nl = strchr(text, '\n');
    char method[16];
    int st;

    if (!nl || (size_t)(nl - text) >= sizeof(method))
        return;
    memcpy(method, text, (size_t)(nl - text));
    method[nl - text] = '\0';
    st = lw_webreq_route(method, nl + 1, &r, err, sizeof(err));
    FUZZ_REQUIRE(fuzz_terminated(err, sizeof(err)));
    if (st != 0) {
        FUZZ_REQUIRE(st == 400 || st == 404 || st == 405);
        return;
    }
    FUZZ_REQUIRE(r.kind != LW_RT_NONE);
    FUZZ_REQUIRE(fuzz_terminated(r.device, sizeof(r.device)));
    if (r.kind == LW_RT_VEHICLE || r.kind == LW_RT_HISTORY ||
        r.kind == LW_RT_LOCATE) {
        FUZZ_REQUIRE(r.device[0] != '\0');
        for (const char *p = r.device; *p; p++)
            FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
    if (r.kind == LW_RT_COMMAND || r.kind == LW_RT_CASE_CLOSE ||
        r.kind == LW_RT_ALERT_ACK)
        FUZZ_REQUIRE(r.id >= 1);
}

static void fuzz_pct(const char *text, size_t len, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1);

    if (!out)
        return;
    if (lw_webreq_decode(text, len, outlen & 1, out, outlen ? outlen : 1) ==
        LW_OK)
        FUZZ_REQUIRE(strlen(out) < (outlen ? outlen : 1));
    free(out);
}

static void fuzz_numbers(const char *text)
{
    char err[FUZZ_ERRLEN];
    double d;
    int64_t i;

    if (lw_webreq_double("x", text, -90, 90, &d, err, sizeof(err)) == LW_OK)
        FUZZ_REQUIRE(isfinite(d) && d >= -90 && d <= 90);
    if (lw_webreq_int("x", text, -5, 1000, &i, err, sizeof(err)) == LW_OK)
        FUZZ_REQUIRE(i >= -5 && i <= 1000);
    lw_webreq_time("x", text, &i, err, sizeof(err));
    FUZZ_REQUIRE(fuzz_terminated(err, sizeof(err)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[FUZZ_ERRLEN];
    char *text;
    size_t len;

    if (size < 2)
        return 0;
    len = size - 1;
    text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    switch (data[0] % 6) {
    case 0:
        fuzz_route(text);
        break;
    case 1:
        fuzz_pct(text + 1, len - 1, (unsigned char)text[0]);
        break;
    case 2:
        fuzz_numbers(text);
        break;
    case 3: {
        struct lw_login_req l;
        if (lw_webreq_login(text, len, &l, err, sizeof(err)) == 0)
            FUZZ_REQUIRE(l.username[0] && l.password[0]);
        break;
    }
    case 4: {
        struct lw_case_req c;
        if (lw_webreq_case(text, len, &c, err, sizeof(err)) == 0)
            FUZZ_REQUIRE(c.device[0] && c.agent[0] && c.reason[0] &&
                         c.expires_in_ms > 0);
        break;
    }
    default: {
        struct lw_text_req t;
        char v[64];
        lw_webreq_close(text, len, &t, err, sizeof(err));
        lw_webreq_ack(text, len, &t, err, sizeof(err));
        if (lw_webreq_cookie(text, "lw_session", v, sizeof(v)))
            FUZZ_REQUIRE(strlen(v) < sizeof(v));
        break;
    }
    }
    free(text);
    return 0;
}
