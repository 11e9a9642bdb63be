/*
 * fuzz_topic.c - libFuzzer target for the core's text parsers that are not
 * JSON: MQTT topic matching, topic ids, ISO 8601 times and durations.
 *
 * The first input byte picks the parser (modulo 4), the rest is its text:
 *   0  "pattern\ntopic": lw_topic_match into an id buffer whose size is the
 *      second byte; the id must be terminated, fit, and be empty on no match.
 *   1  lw_time_parse; when it succeeds, format and parse again: same instant.
 *      Also formats the first 8 text bytes as an int64 (any value, even
 *      INT64_MIN, must format without overflow and fit LW_TIME_BUFLEN).
 *   2  lw_duration_parse; when it succeeds, format and parse again. Also
 *      formats the first 8 bytes as a duration, likewise.
 *   3  the text as an account id: accepted only when it is clean, and then
 *      copied exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_invariants.h"
#include "lienwatch/timeutil.h"

#define ID_BUF_MAX 256
/* 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in ms. */
#define YEAR_0000_MS (INT64_C(-62167219200) * 1000)
#define YEAR_10000_MS (INT64_C(253402300800) * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Topic matching: pattern and topic split at the first newline. */
static void fuzz_match(const char *text, size_t idlen)
{
    char id[ID_BUF_MAX];
    const char *nl = strchr(text, '\n'), *topic;
    char *pattern, *whole;
    int m, m_any;

    if (!nl)
        return;
    topic = nl + 1;
    pattern = strndup(text, (size_t)(nl - text));
    FUZZ_REQUIRE(pattern != NULL);
    memset(id, 'x', sizeof(id));
    m = lw_topic_match(pattern, topic, id, idlen);
    m_any = lw_topic_match(pattern, topic, NULL, 0);
    FUZZ_REQUIRE(m == 0 || m == 1);
    FUZZ_REQUIRE(m <= m_any); /* a buffer can only make a match fail */
    if (idlen > 0) {
        FUZZ_REQUIRE(fuzz_terminated(id, idlen));
        FUZZ_REQUIRE(m == 1 || id[0] == '\0');
    }
    if (m_any) {
        /* the id is topic levels joined by '/': it always fits a buffer
         * the size of the topic */
        whole = malloc(strlen(topic) + 1);
        FUZZ_REQUIRE(whole != NULL);
        FUZZ_REQUIRE(lw_topic_match(pattern, topic, whole, strlen(topic) + 1) ==
                     1);
        if (m)
            FUZZ_REQUIRE(strcmp(whole, id) == 0);
        free(whole);
    }
    free(pattern);
}

/* Formats the first 8 bytes of raw as a time and as a duration. */
static void fuzz_format_raw(const uint8_t *raw, size_t len)
{
    char buf[LW_TIME_BUFLEN], dur[64];
    int64_t ms;

    if (len < sizeof(ms))
        return;
    memcpy(&ms, raw, sizeof(ms));
    memset(buf, 'x', sizeof(buf));
    lw_time_format(ms, buf, sizeof(buf));
    FUZZ_REQUIRE(fuzz_terminated(buf, sizeof(buf)));
    FUZZ_REQUIRE(buf[strlen(buf) - 1] == 'Z'); /* never truncated */
    memset(dur, 'x', sizeof(dur));
    lw_duration_format(ms, dur, sizeof(dur));
    FUZZ_REQUIRE(fuzz_terminated(dur, sizeof(dur)));
}

/* ISO 8601: parse, and when accepted, round-trip through the formatter. */
static void fuzz_time(const char *text)
{
    char buf[LW_TIME_BUFLEN];
    int64_t ms, back;

    if (lw_time_parse(text, &ms) != LW_OK)
        return;
    /* a zone offset can push year 0000 or 9999 out of four digits, which
     * the formatter writes but the parser (rightly) refuses */
    if (ms < YEAR_0000_MS || ms >= YEAR_10000_MS)
        return;
    lw_time_format(ms, buf, sizeof(buf));
    FUZZ_REQUIRE(lw_time_parse(buf, &back) == LW_OK);
    FUZZ_REQUIRE(back == ms);
}

/* Durations: parse, and when accepted, round-trip through the formatter. */
static void fuzz_duration(const char *text)
{
    char buf[64];
    int64_t ms, back;

    if (lw_duration_parse(text, &ms) != LW_OK)
        return;
    FUZZ_REQUIRE(ms >= 0);
    lw_duration_format(ms, buf, sizeof(buf));
    FUZZ_REQUIRE(lw_duration_parse(buf, &back) == LW_OK);
    FUZZ_REQUIRE(back == ms);
}

/* An id from a topic, through the account decoder with a valid payload. */
static void fuzz_id(const char *text)
{
    static const char payload[] = "{\"days_past_due\":1}";
    struct lw_decoded out;
    char err[FUZZ_ERRLEN];
    enum lw_reject r;

    r = lw_decode(LW_SRC_ACCOUNT, text, payload, sizeof(payload) - 1,
                  FUZZ_NOW_MS, NULL, &out, err, sizeof(err));
    FUZZ_REQUIRE(r == LW_REJ_NONE || r == LW_REJ_BAD_DEVICE);
    fuzz_check(LW_SRC_ACCOUNT, text, r, &out, err, FUZZ_NOW_MS);
    if (r == LW_REJ_NONE) {
        for (const char *p = text; *p; p++)
            FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size < 2)
        return 0;
    text = strndup((const char *)data + 2, size - 2);
    FUZZ_REQUIRE(text != NULL);
    switch (data[0] % 4) {
    case 0:
        fuzz_match(text, data[1] % ID_BUF_MAX);
        break;
    case 1:
        fuzz_time(text);
        fuzz_format_raw(data + 2, size - 2);
        break;
    case 2:
        fuzz_duration(text);
        fuzz_format_raw(data + 2, size - 2);
        break;
    default:
        fuzz_id(text);
        break;
    }
    free(text);
    return 0;
}
