/*
 * webreq.h - parsing what a web client sends to lienwatch-web: the API's
 * paths and methods, percent-encoded path segments and query values,
 * numbers in query strings, and the JSON bodies of the API.
 *
 * Every function here reads outside input: each is bounded, never trusts a
 * length or a terminator it did not check, and answers bad input with the
 * HTTP status to send and one sentence saying what is wrong (err, errlen
 * bytes, always terminated). Pure: no I/O, no clock, no globals. The fuzz
 * target tests/fuzz/fuzz_webreq.c drives all of it.
 */
#ifndef LIENWATCH_WEBREQ_H
#define LIENWATCH_WEBREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/fix.h"

/* Largest request body accepted, bytes. */
#define LW_WEBREQ_BODY_MAX (64 * 1024)
/* Longest user name and password accepted at login, bytes. */
#define LW_WEBREQ_NAME_MAX 64
#define LW_WEBREQ_PASSWORD_MAX 1024
/* Longest reason or note, bytes. */
#define LW_WEBREQ_TEXT_MAX 1000

/* The API's resources. */
enum lw_route_kind {
    LW_RT_NONE = 0,
    LW_RT_SESSION,    /* /api/v1/session: GET who am I, POST login, DELETE */
    LW_RT_CASES,      /* /api/v1/cases: GET list, POST open */
    LW_RT_CASE_CLOSE, /* /api/v1/cases/{id}/close: POST */
    LW_RT_VEHICLE,    /* /api/v1/vehicles/{device}: GET */
    LW_RT_HISTORY,    /* /api/v1/vehicles/{device}/history: GET */
    LW_RT_LOCATE,     /* /api/v1/vehicles/{device}/locate: POST */
    LW_RT_NEAR,       /* /api/v1/near: GET */
    LW_RT_COMMAND,    /* /api/v1/commands/{id}: GET */
    LW_RT_EVENTS,     /* /api/v1/events: GET (Server-Sent Events) */
    LW_RT_ALERTS,     /* /api/v1/alerts: GET */
    LW_RT_ALERT_ACK,  /* /api/v1/alerts/{id}/ack: POST */
    LW_RT_WATCHED,    /* /api/v1/watched: GET (ops: watched vehicles) */
    LW_RT_PLACES,     /* /api/v1/vehicles/{device}/places: GET */
};

/* A parsed API path. */
struct lw_route {
    enum lw_route_kind kind;        /* which resource */
    char device[LW_DEVICE_MAX + 1]; /* decoded {device}, or "" */
    int64_t id;                     /* {id} (>= 1), or 0 */
};

/*
 * Parses method and path (the raw, still percent-encoded path without the
 * query; borrowed) of an /api/v1/ request into *r. Returns 0 when the
 * path names a resource that takes method; otherwise the HTTP status to
 * answer: 404 for an unknown path, 405 for a method the resource does not
 * take, 400 for a malformed {device} or {id} (err says which).
 */
int lw_webreq_route(const char *method, const char *path, struct lw_route *r,
                    char *err, size_t errlen);

/* Methods a resource takes, for the Allow header ("GET, POST"). Static. */
const char *lw_webreq_allow(enum lw_route_kind k);

/*
 * Decodes percent-encoding of in[0..len) into out (outlen bytes), '+' as
 * a space when plus_space. Refuses (LW_ERR_INVAL) a broken escape, an
 * encoded or raw NUL or control character, invalid UTF-8, and a result
 * that does not fit (LW_ERR_RANGE). Returns LW_OK.
 */
enum lw_err lw_webreq_decode(const char *in, size_t len, bool plus_space,
                             char *out, size_t outlen);

/*
 * Parses a decimal number of a query (name for the message) into *out:
 * finite, within [min, max]. Returns LW_OK, or LW_ERR_INVAL with err.
 */
enum lw_err lw_webreq_double(const char *name, const char *text, double min,
                             double max, double *out, char *err,
                             size_t errlen);

/* A whole number within [min, max]; as lw_webreq_double. */
enum lw_err lw_webreq_int(const char *name, const char *text, int64_t min,
                          int64_t max, int64_t *out, char *err,
                          size_t errlen);

/*
 * A time in a query: an ISO 8601 UTC time ("2026-01-02T03:04:05Z", what
 * the API writes) or milliseconds since the epoch. As lw_webreq_double.
 */
enum lw_err lw_webreq_time(const char *name, const char *text, int64_t *out,
                           char *err, size_t errlen);

/* POST /api/v1/session */
struct lw_login_req {
    char username[LW_WEBREQ_NAME_MAX + 1];
    char password[LW_WEBREQ_PASSWORD_MAX + 1];
};

/* POST /api/v1/cases */
struct lw_case_req {
    char device[LW_DEVICE_MAX + 1];        /* the vehicle's device */
    char agent[LW_WEBREQ_NAME_MAX + 1];    /* who gets it */
    int64_t expires_in_ms;                 /* from now, > 0 */
    char reason[LW_WEBREQ_TEXT_MAX + 1];   /* why, not empty */
};

/* POST /api/v1/cases/{id}/close: outcome; POST /alerts/{id}/ack: note */
struct lw_text_req {
    char text[LW_WEBREQ_TEXT_MAX + 1];
};

/*
 * Parse the JSON body body[0..len) (borrowed; not NUL-terminated) of the
 * requests above. Unknown keys are refused (a typo should not be silently
 * ignored), as are a body that is not one JSON object, over
 * LW_WEBREQ_BODY_MAX, with duplicate keys, a missing required field or a
 * field of the wrong type or length. Returns 0, or 400/413 with err.
 *   login: {"username": s, "password": s}
 *   case:  {"device": s, "agent": s, "expires": "72h" | seconds,
 *           "reason": s}
 *   close: {"outcome": "recovered" | "cancelled"}
 *   ack:   {"note": s} (note may be empty or missing)
 */
int lw_webreq_login(const char *body, size_t len, struct lw_login_req *out,
                    char *err, size_t errlen);
int lw_webreq_case(const char *body, size_t len, struct lw_case_req *out,
                   char *err, size_t errlen);
int lw_webreq_close(const char *body, size_t len, struct lw_text_req *out,
                    char *err, size_t errlen);
int lw_webreq_ack(const char *body, size_t len, struct lw_text_req *out,
                  char *err, size_t errlen);

/* Extracts the value of cookie name from a Cookie header (borrowed) into
 * out (outlen bytes). Returns true when found and it fit. */
bool lw_webreq_cookie(const char *header, const char *name, char *out,
                      size_t outlen);

#endif
