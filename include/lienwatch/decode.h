/*
 * decode.h - turn MQTT topics and payloads into normalised reports.
 *
 * Pure: no clock (now_ms is passed in), no logging, no I/O. Every rejection
 * comes back as an enum lw_reject reason with a one-line detail, so the daemon
 * can count it under a stable name and log it.
 *
 * Payloads (see README "Payloads"):
 *   - OwnTracks JSON, _type "location": lat, lon, tst required; acc, alt,
 *     vel (km/h), cog, batt, t, created_at optional. Other _types decode to
 *     LW_MSG_ALIVE (the device is alive, nothing to store as a position).
 *   - gpsd TPV JSON (class "TPV"): time (ISO 8601) required; mode < 2 is
 *     LW_MSG_ALIVE; lat, lon required when mode >= 2; speed m/s, track, eph,
 *     altMSL/altHAE optional.
 *   - account status JSON: {"days_past_due": N, "status": "..."}.
 * JSON is parsed with jansson; nothing here parses JSON by hand.
 */
#ifndef LIENWATCH_DECODE_H
#define LIENWATCH_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "lienwatch/fix.h"

/* Why a message was rejected. Names (lw_reject_name) are stable: they are the
 * keys of the "rejected" object in `lienwatch stats --json`. */
enum lw_reject {
    LW_REJ_NONE = 0,      /* accepted */
    LW_REJ_NOT_JSON,      /* "not_json": not parseable JSON / not an object */
    LW_REJ_WRONG_TYPE,    /* "wrong_type": a field has the wrong JSON type */
    LW_REJ_MISSING_FIELD, /* "missing_field": a required field is absent */
    LW_REJ_NOT_FINITE,    /* "not_finite": NaN or infinite number */
    LW_REJ_OUT_OF_RANGE,  /* "out_of_range": lat/lon/speed/... out of range */
    LW_REJ_NULL_ISLAND,   /* "null_island": lat 0, lon 0 */
    LW_REJ_FUTURE,        /* "future": fix time beyond now + tolerance */
    LW_REJ_TOO_OLD,       /* "too_old": fix time before 2000-01-01 */
    LW_REJ_TOO_LARGE,     /* "too_large": payload over the size limit */
    LW_REJ_UNKNOWN_TOPIC, /* "unknown_topic": topic matches no pattern */
    LW_REJ_BAD_DEVICE,    /* "bad_device": device id empty, too long, control chars */
    LW_REJ_COUNT          /* number of reasons; not a reason */
};

/* Stable snake_case name of r ("not_json", ...); "unknown" if out of range. */
const char *lw_reject_name(enum lw_reject r);

/* What a message turned out to be. */
enum lw_msg_kind {
    LW_MSG_FIX = 1, /* a valid position: out->fix is filled */
    LW_MSG_ALIVE,   /* device alive, no position (other _type, TPV mode<2) */
    LW_MSG_ACCOUNT, /* account status: out->account is filled */
};

/* Which decoder a topic routes to. */
enum lw_source {
    LW_SRC_OWNTRACKS = 1, /* owntracks/<user>/<device> */
    LW_SRC_TPV,           /* lienwatch/v1/fix/<device> */
    LW_SRC_ACCOUNT,       /* lienwatch/v1/account/<account> */
};

/* Longest account id, without the NUL. */
#define LW_ACCOUNT_MAX 64
/* Longest account status text, without the NUL. */
#define LW_STATUS_MAX 32

struct lw_account_update {
    char account[LW_ACCOUNT_MAX + 1]; /* account id from the topic */
    int days_past_due;                /* >= 0 */
    char status[LW_STATUS_MAX + 1];   /* free text ("overdue"), may be "" */
};

struct lw_decoded {
    enum lw_msg_kind kind;            /* what was decoded */
    struct lw_fix fix;                /* when kind == LW_MSG_FIX */
    struct lw_account_update account; /* when kind == LW_MSG_ACCOUNT */
    char type[24];                    /* OwnTracks _type / gpsd class seen */
};

/* Limits applied by the decoders. */
struct lw_decode_opts {
    size_t max_payload;          /* bytes; default LW_DECODE_MAX_PAYLOAD */
    int64_t future_tolerance_ms; /* default 5 min */
    int64_t min_fix_time_ms;     /* default 2000-01-01T00:00:00Z */
};

#define LW_DECODE_MAX_PAYLOAD (64 * 1024)
#define LW_DECODE_FUTURE_TOLERANCE_MS (5 * 60 * 1000)
#define LW_DECODE_MIN_FIX_TIME_MS INT64_C(946684800000)

/* Fills o with the defaults above. */
void lw_decode_opts_init(struct lw_decode_opts *o);

/*
 * Matches an MQTT topic against a subscription pattern with '+' wildcards
 * (no '#'), and on a match writes the '+' segments, joined by '/', into id
 * (idlen bytes incl. NUL). Returns 1 on a match, 0 otherwise; 0 as well when
 * the id would not fit. Both strings are borrowed.
 */
int lw_topic_match(const char *pattern, const char *topic, char *id,
                   size_t idlen);

/*
 * Decodes one payload of the given source. 'id' is the device (or account)
 * id taken from the topic; payload/len are borrowed and need not be
 * NUL-terminated; now_ms is the receive time. On LW_REJ_NONE *out is filled
 * (fix.recv_time_ms = now_ms). Otherwise err receives a one-line reason such
 * as "lat is a string". opts may be NULL for the defaults.
 */
enum lw_reject lw_decode(enum lw_source src, const char *id,
                         const void *payload, size_t len, int64_t now_ms,
                         const struct lw_decode_opts *opts,
                         struct lw_decoded *out, char *err, size_t errlen);

#endif
