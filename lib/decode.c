/*
 * decode.c - MQTT topics and payloads to normalised reports (see decode.h).
 *
 * Pure: no clock (now_ms comes in), no logging, no I/O, no globals. JSON is
 * parsed by jansson (json_loadb); this file only walks the resulting tree.
 *
 * Invariants of a report with kind LW_MSG_FIX (the fuzz targets check them):
 * lat in [-90, 90], lon in [-180, 180], not both 0; every double finite or
 * NAN; speed in [0, SPEED_MAX_MPS], course in [0, 360), accuracy in
 * [0, ACCURACY_MAX_M]; fix_time_ms in [min_fix_time_ms, now_ms + tolerance];
 * device a valid id; recv_time_ms == now_ms.
 *
 * Decisions where the payload rules leave room (documented here, tested in
 * tests/unit/test_decode.c):
 *   - Checks run in a fixed order and the first failure wins: source, id,
 *     size (before any parsing), JSON, then the fields in the order the
 *     decoder reads them (lat, lon, 0/0, time, then the optional fields).
 *   - A top-level JSON array (OwnTracks' own fixture array.json holds two
 *     messages in one) is not_json with the detail "top-level JSON array; one
 *     object per message expected": one MQTT message carries one report, and
 *     half-accepting a batch would make the counters lie.
 *   - Duplicate keys ({"lat": 1, "lat": 2}) are not_json: two readers of the
 *     same message must not disagree on where the vehicle is.
 *   - A number jansson cannot hold (1e400 overflows a double; an integer
 *     such as 99999999999999999999 overflows int64) is not_finite: JSON has
 *     no NaN or Infinity tokens (those are not_json), so this is how a
 *     non-finite value arrives.
 *   - Optional fields: absent or JSON null means unknown. Present with the
 *     wrong JSON type (a string "acc", a number "t") rejects the message as
 *     wrong_type, the same as for a required field: a producer that gets
 *     types wrong is not trusted for the position either. A required field
 *     that is null is wrong_type ("lat is null").
 *   - Negative accuracy, speed (OwnTracks vel, gpsd speed) and course mean
 *     unknown (OwnTracks sends -1). Course 360 is normalised to 0; above 360
 *     is out_of_range. Speed over SPEED_MAX_MPS, accuracy over ACCURACY_MAX_M
 *     and |altitude| over ALT_ABS_MAX_M are out_of_range.
 *   - batt: an integer 0..100 is kept; any other number (-1, 150, 99.5) is
 *     unknown; a non-number is wrong_type. t: a one-character visible
 *     ASCII string is the trigger; any other string is ignored.
 *     created_at and every field not listed in decode.h are ignored.
 *   - tst may be an integer or a real (fractional seconds kept to the ms).
 *   - TPV time that is a string but not an ISO 8601 date-time (see
 *     timeutil.c for the exact grammar) is wrong_type; mode that is not an
 *     integer is wrong_type. eph absent: max(epx, epy) when both are there.
 *     Altitude is altMSL, else altHAE, else alt (the first one present).
 *   - Account: days_past_due must be a JSON integer in 0..DAYS_PAST_DUE_MAX;
 *     status, when present, a string of at most LW_STATUS_MAX bytes without
 *     control characters (it is printed on terminals and in mails).
 *   - out->type is copied with anything but printable ASCII replaced by '?'
 *     and truncated to fit: it is a counter label and goes into logs.
 *   - The err detail is one line of printable ASCII (anything else becomes
 *     '?'), since it quotes attacker-controlled bytes into the daemon's log.
 *   - out may be NULL (validate only). On a rejection *out is reset and
 *     holds at most the type seen; only LW_REJ_NONE makes it meaningful.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lienwatch/decode.h"
#include "lienwatch/err.h"
#include "lienwatch/timeutil.h"

#define LAT_MAX_DEG 90.0
#define LON_MAX_DEG 180.0
#define COURSE_FULL_DEG 360.0
/* Nothing a lender tracks moves at Mach 3; beyond it the value is garbage. */
#define SPEED_MAX_MPS 1000.0
/* A stated accuracy worse than 1000 km is no position at all. */
#define ACCURACY_MAX_M 1e6
/* Well beyond any road or airliner, still a number the store can keep. */
#define ALT_ABS_MAX_M 1e6
#define KMH_PER_MPS 3.6
#define BATTERY_MAX_PCT 100
/* A hundred years overdue: anything beyond is a servicing-system bug. */
#define DAYS_PAST_DUE_MAX 36500
/* gpsd TPV mode: 0 unknown, 1 no fix, 2 2D fix, 3 3D fix. */
#define GPSD_MODE_2D 2
#define MS_PER_S 1000
/* Average Gregorian year (365.2425 days), for "N years in the future". */
#define MS_PER_YEAR INT64_C(31556952000)
/* |tst| beyond this (about 31.7 million years) is outside any window, and
 * small enough that tst * 1000 cannot overflow int64. */
#define TST_ABS_MAX_S 1e15
/* How much of a quoted string goes into an err detail. */
#define QUOTE_MAX 40
/* Length of a buffer for a field label such as "tst 1700000000". */
#define LABEL_LEN 80
#define SPAN_LEN 48

#define OWNTRACKS_LOCATION "location"
#define GPSD_CLASS_TPV "TPV"
#define ACCOUNT_TYPE "account"

static const char *const reject_names[LW_REJ_COUNT] = {
    [LW_REJ_NONE] = "none",
    [LW_REJ_NOT_JSON] = "not_json",
    [LW_REJ_WRONG_TYPE] = "wrong_type",
    [LW_REJ_MISSING_FIELD] = "missing_field",
    [LW_REJ_NOT_FINITE] = "not_finite",
    [LW_REJ_OUT_OF_RANGE] = "out_of_range",
    [LW_REJ_NULL_ISLAND] = "null_island",
    [LW_REJ_FUTURE] = "future",
    [LW_REJ_TOO_OLD] = "too_old",
    [LW_REJ_TOO_LARGE] = "too_large",
    [LW_REJ_UNKNOWN_TOPIC] = "unknown_topic",
    [LW_REJ_BAD_DEVICE] = "bad_device",
};

/* What every field reader needs: the limits, the clock value passed in and
 * the caller's detail buffer. */
struct ctx {
    const struct lw_decode_opts *opts; /* never NULL */
    int64_t now_ms;                    /* receive time */
    char *err;                         /* caller's detail buffer, may be NULL */
    size_t errlen;                     /* its size */
};

const char *lw_reject_name(enum lw_reject r)
{
    if ((unsigned)r >= LW_REJ_COUNT || !reject_names[r])
        return "unknown";
    return reject_names[r];
}

void lw_decode_opts_init(struct lw_decode_opts *o)
{
    if (!o)
        return;
    o->max_payload = LW_DECODE_MAX_PAYLOAD;
    o->future_tolerance_ms = LW_DECODE_FUTURE_TOLERANCE_MS;
    o->min_fix_time_ms = LW_DECODE_MIN_FIX_TIME_MS;
}

/*
 * MQTT topic matching. A '+' in the pattern matches exactly one topic level,
 * which may be empty ("a//b"), as in MQTT; the matched levels are joined with
 * '/' into id. '#' is not supported and, like '+' inside a level ("a+"),
 * compares as an ordinary character. id may be NULL to test a match only.
 */
int lw_topic_match(const char *pattern, const char *topic, char *id,
                   size_t idlen)
{
    const char *p = pattern, *t = topic;
    size_t used = 0;
    bool first_id_level = true;

    if (id && idlen > 0)
        id[0] = '\0';
    if (!pattern || !topic || (id && idlen == 0))
        return 0;
    for (;;) {
        const char *pe = strchr(p, '/'), *te = strchr(t, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p);
        size_t tn = te ? (size_t)(te - t) : strlen(t);

        if (pn == 1 && p[0] == '+') {
            if (id) {
                size_t sep = first_id_level ? 0 : 1;

                if (used + sep + tn + 1 > idlen)
                    goto out_no_match; /* the id would not fit */
                if (sep)
                    id[used++] = '/';
                memcpy(id + used, t, tn);
                used += tn;
                id[used] = '\0';
            }
            first_id_level = false;
        } else if (pn != tn || memcmp(p, t, tn) != 0) {
            goto out_no_match;
        }
        if (!pe || !te) {
            if (pe || te)
                goto out_no_match; /* different numbers of levels */
            return 1;
        }
        p = pe + 1;
        t = te + 1;
    }

out_no_match:
    if (id)
        id[0] = '\0';
    return 0;
}

/* Writes the detail of a rejection and returns r, so that callers can say
 * `return rejectf(c, LW_REJ_..., "...")`. */
static enum lw_reject rejectf(const struct ctx *c, enum lw_reject r,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum lw_reject rejectf(const struct ctx *c, enum lw_reject r,
                              const char *fmt, ...)
{
    va_list ap;

    if (c->err && c->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* True for the bytes we let into logs and labels: printable ASCII. */
static bool is_printable_ascii(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f;
}

/*
 * Copies at most n bytes of src into dst (dstlen bytes, always
 * NUL-terminated), replacing anything but printable ASCII with '?'.
 */
static void copy_printable(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t i;

    if (dstlen == 0)
        return;
    for (i = 0; i < n && i + 1 < dstlen; i++)
        dst[i] = is_printable_ascii((unsigned char)src[i]) ? src[i] : '?';
    dst[i] = '\0';
}

/* Replaces, in place, every byte of the NUL-terminated s that is not
 * printable ASCII with '?' (a log line must stay one line). */
static void make_printable(char *s)
{
    for (; s && *s; s++)
        if (!is_printable_ascii((unsigned char)*s))
            *s = '?';
}

/*
 * True when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF) without C0 or C1 control characters or DEL. Used for
 * ids from topics and for free text that reaches terminals.
 */
static bool is_clean_text(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        unsigned long cp;
        size_t need;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, 0xc0/0xc1 or 0xf5+ */
        }
        if (n - i - 1 < need)
            return false; /* truncated sequence */
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false; /* overlong, out of Unicode, or a surrogate */
        if (cp <= 0x9f)
            return false; /* C1 control characters U+0080..U+009F */
        i += need + 1;
    }
    return true;
}

/* "a string", "an integer", ...: how a JSON value reads in "lat is ...". */
static const char *json_kind(const json_t *v)
{
    if (!v)
        return "absent";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "of an unknown JSON type";
}

/*
 * Looks up key in obj. A required key that is absent is missing_field; an
 * optional key that is absent or null yields *v = NULL and LW_REJ_NONE.
 */
static enum lw_reject get_field(const struct ctx *c, json_t *obj,
                                const char *key, bool required, json_t **v)
{
    json_t *j = json_object_get(obj, key);

    *v = NULL;
    if (!j) {
        if (required)
            return rejectf(c, LW_REJ_MISSING_FIELD, "%s is missing", key);
        return LW_REJ_NONE;
    }
    if (json_is_null(j) && !required)
        return LW_REJ_NONE;
    *v = j;
    return LW_REJ_NONE;
}

/*
 * Reads a JSON number field as a finite double. Absent optional fields give
 * NAN. Returns missing_field, wrong_type or not_finite as the field deserves.
 */
static enum lw_reject get_number(const struct ctx *c, json_t *obj,
                                 const char *key, bool required, double *out)
{
    json_t *j;
    enum lw_reject r = get_field(c, obj, key, required, &j);

    *out = NAN;
    if (r != LW_REJ_NONE || !j)
        return r;
    if (!json_is_number(j))
        return rejectf(c, LW_REJ_WRONG_TYPE, "%s is %s", key, json_kind(j));
    *out = json_number_value(j);
    if (!isfinite(*out))
        return rejectf(c, LW_REJ_NOT_FINITE, "%s is not finite", key);
    return LW_REJ_NONE;
}

/*
 * Reads a JSON string field; *s and *len point into the JSON tree (valid
 * while it lives). Absent optional fields give *s = NULL.
 */
static enum lw_reject get_string(const struct ctx *c, json_t *obj,
                                 const char *key, bool required, const char **s,
                                 size_t *len)
{
    json_t *j;
    enum lw_reject r = get_field(c, obj, key, required, &j);

    *s = NULL;
    *len = 0;
    if (r != LW_REJ_NONE || !j)
        return r;
    if (!json_is_string(j))
        return rejectf(c, LW_REJ_WRONG_TYPE, "%s is %s", key, json_kind(j));
    *s = json_string_value(j);
    *len = json_string_length(j);
    return LW_REJ_NONE;
}

/* Reads a required JSON integer field into *out. */
static enum lw_reject get_integer(const struct ctx *c, json_t *obj,
                                  const char *key, json_int_t *out)
{
    json_t *j;
    enum lw_reject r = get_field(c, obj, key, true, &j);

    *out = 0;
    if (r != LW_REJ_NONE)
        return r;
    if (!json_is_integer(j))
        return rejectf(c, LW_REJ_WRONG_TYPE, "%s is %s, an integer expected",
                       key, json_kind(j));
    *out = json_integer_value(j);
    return LW_REJ_NONE;
}

/* True when s (len bytes, no embedded NUL) equals the literal lit. */
static bool str_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/*
 * Reads the required lat/lon pair into f and rejects out-of-range values and
 * the 0,0 "null island" that broken receivers report before a fix.
 */
static enum lw_reject get_position(const struct ctx *c, json_t *obj,
                                   struct lw_fix *f)
{
    enum lw_reject r;

    r = get_number(c, obj, "lat", true, &f->lat_deg);
    if (r != LW_REJ_NONE)
        return r;
    if (f->lat_deg < -LAT_MAX_DEG || f->lat_deg > LAT_MAX_DEG)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "lat %.10g is outside [-%g, %g]",
                       f->lat_deg, LAT_MAX_DEG, LAT_MAX_DEG);
    r = get_number(c, obj, "lon", true, &f->lon_deg);
    if (r != LW_REJ_NONE)
        return r;
    if (f->lon_deg < -LON_MAX_DEG || f->lon_deg > LON_MAX_DEG)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "lon %.10g is outside [-%g, %g]",
                       f->lon_deg, LON_MAX_DEG, LON_MAX_DEG);
    if (f->lat_deg == 0.0 && f->lon_deg == 0.0)
        return rejectf(c, LW_REJ_NULL_ISLAND, "lat 0, lon 0 (null island)");
    return LW_REJ_NONE;
}

/* Writes a human length of the positive span ms: "73 years" or "5m1s". */
static void describe_span(int64_t ms, char *buf, size_t len)
{
    if (ms >= MS_PER_YEAR) {
        int64_t years = ms / MS_PER_YEAR;

        snprintf(buf, len, "%lld year%s", (long long)years,
                 years == 1 ? "" : "s");
    } else {
        lw_duration_format(ms, buf, len);
    }
}

/*
 * Accepts t_ms as a fix time when it lies in [min_fix_time_ms, now_ms +
 * future_tolerance_ms]. 'label' names the value in the detail ("tst 123").
 */
static enum lw_reject check_fix_time(const struct ctx *c, int64_t t_ms,
                                     const char *label)
{
    char when[LW_TIME_BUFLEN], limit_s[LW_TIME_BUFLEN];
    char span[SPAN_LEN], tol[SPAN_LEN];
    int64_t limit;

    /* now_ms + tolerance, saturating: both come from the caller. */
    if (c->opts->future_tolerance_ms > 0 &&
        c->now_ms > INT64_MAX - c->opts->future_tolerance_ms)
        limit = INT64_MAX;
    else if (c->opts->future_tolerance_ms < 0 &&
             c->now_ms < INT64_MIN - c->opts->future_tolerance_ms)
        limit = INT64_MIN;
    else
        limit = c->now_ms + c->opts->future_tolerance_ms;

    if (t_ms < c->opts->min_fix_time_ms)
        return rejectf(
            c, LW_REJ_TOO_OLD, "%s (%s) is before %s", label,
            lw_time_format(t_ms, when, sizeof(when)),
            lw_time_format(c->opts->min_fix_time_ms, limit_s, sizeof(limit_s)));
    if (t_ms > limit) {
        /* t_ms > limit >= now_ms - |tolerance| cannot overflow unless now_ms
         * is absurd; describe_span only sees positive values. */
        uint64_t ahead = (uint64_t)t_ms - (uint64_t)c->now_ms;

        describe_span(ahead > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ahead,
                      span, sizeof(span));
        lw_duration_format(c->opts->future_tolerance_ms, tol, sizeof(tol));
        return rejectf(c, LW_REJ_FUTURE,
                       "%s (%s) is %s in the future (tolerance %s)", label,
                       lw_time_format(t_ms, when, sizeof(when)), span, tol);
    }
    return LW_REJ_NONE;
}

/* Stores an optional speed already in m/s: negative is unknown. 'what' and
 * 'raw' describe the value as the payload had it, for the detail. */
static enum lw_reject set_speed(const struct ctx *c, struct lw_fix *f,
                                double mps, const char *what, double raw)
{
    if (isnan(mps) || mps < 0)
        return LW_REJ_NONE;
    if (mps > SPEED_MAX_MPS)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "%s %.10g is over %g m/s", what,
                       raw, SPEED_MAX_MPS);
    f->speed_mps = mps;
    return LW_REJ_NONE;
}

/* Stores an optional course: negative is unknown, 360 is 0, above is bad. */
static enum lw_reject set_course(const struct ctx *c, struct lw_fix *f,
                                 double deg, const char *what)
{
    if (isnan(deg) || deg < 0)
        return LW_REJ_NONE;
    if (deg > COURSE_FULL_DEG)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "%s %.10g is over %g degrees",
                       what, deg, COURSE_FULL_DEG);
    f->course_deg = deg == COURSE_FULL_DEG ? 0.0 : deg;
    return LW_REJ_NONE;
}

/* Stores an optional horizontal accuracy: negative is unknown. */
static enum lw_reject set_accuracy(const struct ctx *c, struct lw_fix *f,
                                   double m, const char *what)
{
    if (isnan(m) || m < 0)
        return LW_REJ_NONE;
    if (m > ACCURACY_MAX_M)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "%s %.10g is over %g m", what, m,
                       ACCURACY_MAX_M);
    f->accuracy_m = m;
    return LW_REJ_NONE;
}

/* Stores an optional altitude. */
static enum lw_reject set_alt(const struct ctx *c, struct lw_fix *f, double m,
                              const char *what)
{
    if (isnan(m))
        return LW_REJ_NONE;
    if (fabs(m) > ALT_ABS_MAX_M)
        return rejectf(c, LW_REJ_OUT_OF_RANGE, "%s %.10g is beyond +-%g m",
                       what, m, ALT_ABS_MAX_M);
    f->alt_m = m;
    return LW_REJ_NONE;
}

/*
 * Reads OwnTracks' tst (Unix seconds, integer or real) into f->fix_time_ms
 * and checks it against the time window.
 */
static enum lw_reject get_tst(const struct ctx *c, json_t *obj,
                              struct lw_fix *f)
{
    char label[LABEL_LEN];
    double secs;
    json_t *j;
    enum lw_reject r = get_field(c, obj, "tst", true, &j);

    if (r != LW_REJ_NONE)
        return r;
    if (!json_is_number(j))
        return rejectf(c, LW_REJ_WRONG_TYPE, "tst is %s", json_kind(j));
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);

        snprintf(label, sizeof(label), "tst %lld", (long long)v);
        secs = (double)v;
    } else {
        secs = json_real_value(j);
        if (!isfinite(secs))
            return rejectf(c, LW_REJ_NOT_FINITE, "tst is not finite");
        snprintf(label, sizeof(label), "tst %.3f", secs);
    }
    if (secs > TST_ABS_MAX_S)
        return rejectf(c, LW_REJ_FUTURE, "%s is millions of years ahead",
                       label);
    if (secs < -TST_ABS_MAX_S)
        return rejectf(c, LW_REJ_TOO_OLD, "%s is millions of years ago", label);
    if (json_is_integer(j))
        f->fix_time_ms = (int64_t)json_integer_value(j) * MS_PER_S;
    else
        f->fix_time_ms = (int64_t)llround(secs * MS_PER_S);
    return check_fix_time(c, f->fix_time_ms, label);
}

/* Decodes the optional fields of an OwnTracks location into f. */
static enum lw_reject owntracks_optional(const struct ctx *c, json_t *obj,
                                         struct lw_fix *f)
{
    const char *t;
    size_t t_len;
    double v;
    json_t *j;
    enum lw_reject r;

    if ((r = get_number(c, obj, "acc", false, &v)) != LW_REJ_NONE ||
        (r = set_accuracy(c, f, v, "acc")) != LW_REJ_NONE)
        return r;
    if ((r = get_number(c, obj, "alt", false, &v)) != LW_REJ_NONE ||
        (r = set_alt(c, f, v, "alt")) != LW_REJ_NONE)
        return r;
    /* vel is km/h; the fix carries m/s */
    if ((r = get_number(c, obj, "vel", false, &v)) != LW_REJ_NONE ||
        (r = set_speed(c, f, v / KMH_PER_MPS, "vel (km/h)", v)) != LW_REJ_NONE)
        return r;
    if ((r = get_number(c, obj, "cog", false, &v)) != LW_REJ_NONE ||
        (r = set_course(c, f, v, "cog")) != LW_REJ_NONE)
        return r;

    if ((r = get_field(c, obj, "batt", false, &j)) != LW_REJ_NONE)
        return r;
    if (j && !json_is_number(j))
        return rejectf(c, LW_REJ_WRONG_TYPE, "batt is %s", json_kind(j));
    if (j && json_is_integer(j) && json_integer_value(j) >= 0 &&
        json_integer_value(j) <= BATTERY_MAX_PCT)
        f->battery_pct = (int)json_integer_value(j);

    if ((r = get_string(c, obj, "t", false, &t, &t_len)) != LW_REJ_NONE)
        return r;
    if (t && t_len == 1 && t[0] > ' ' && t[0] <= '~')
        f->trigger = t[0];
    return LW_REJ_NONE;
}

/* Decodes an OwnTracks message: a location fix, or ALIVE for other _types. */
static enum lw_reject decode_owntracks(const struct ctx *c, json_t *root,
                                       struct lw_decoded *out)
{
    const char *type;
    size_t type_len;
    enum lw_reject r;

    r = get_string(c, root, "_type", true, &type, &type_len);
    if (r != LW_REJ_NONE)
        return r;
    copy_printable(out->type, sizeof(out->type), type, type_len);
    if (!str_is(type, type_len, OWNTRACKS_LOCATION)) {
        out->kind = LW_MSG_ALIVE;
        return LW_REJ_NONE;
    }
    if ((r = get_position(c, root, &out->fix)) != LW_REJ_NONE ||
        (r = get_tst(c, root, &out->fix)) != LW_REJ_NONE ||
        (r = owntracks_optional(c, root, &out->fix)) != LW_REJ_NONE)
        return r;
    out->kind = LW_MSG_FIX;
    return LW_REJ_NONE;
}

/* Reads the TPV accuracy: eph, else max(epx, epy) when both are present. */
static enum lw_reject tpv_accuracy(const struct ctx *c, json_t *obj,
                                   struct lw_fix *f)
{
    double eph, epx, epy;
    enum lw_reject r;

    if ((r = get_number(c, obj, "eph", false, &eph)) != LW_REJ_NONE)
        return r;
    if (!isnan(eph))
        return set_accuracy(c, f, eph, "eph");
    if ((r = get_number(c, obj, "epx", false, &epx)) != LW_REJ_NONE ||
        (r = get_number(c, obj, "epy", false, &epy)) != LW_REJ_NONE)
        return r;
    if (isnan(epx) || isnan(epy))
        return LW_REJ_NONE;
    return set_accuracy(c, f, fmax(epx, epy), "max(epx, epy)");
}

/* Reads the TPV altitude: the first of altMSL, altHAE, alt present. */
static enum lw_reject tpv_altitude(const struct ctx *c, json_t *obj,
                                   struct lw_fix *f)
{
    static const char *const keys[] = {"altMSL", "altHAE", "alt"};
    enum lw_reject r;
    double v;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if ((r = get_number(c, obj, keys[i], false, &v)) != LW_REJ_NONE)
            return r;
        if (!isnan(v))
            return set_alt(c, f, v, keys[i]);
    }
    return LW_REJ_NONE;
}

/* Decodes a gpsd TPV report: a fix when mode >= 2, else ALIVE. */
static enum lw_reject decode_tpv(const struct ctx *c, json_t *root,
                                 struct lw_decoded *out)
{
    char label[LABEL_LEN], quoted[QUOTE_MAX + 1];
    const char *cls, *time_s;
    size_t cls_len, time_len;
    json_t *mode;
    double v;
    enum lw_reject r;

    r = get_string(c, root, "class", true, &cls, &cls_len);
    if (r != LW_REJ_NONE)
        return r;
    copy_printable(out->type, sizeof(out->type), cls, cls_len);
    if (!str_is(cls, cls_len, GPSD_CLASS_TPV)) {
        out->kind = LW_MSG_ALIVE;
        return LW_REJ_NONE;
    }
    if ((r = get_field(c, root, "mode", false, &mode)) != LW_REJ_NONE)
        return r;
    if (mode && !json_is_integer(mode))
        return rejectf(c, LW_REJ_WRONG_TYPE, "mode is %s, an integer expected",
                       json_kind(mode));
    if (!mode || json_integer_value(mode) < GPSD_MODE_2D) {
        out->kind = LW_MSG_ALIVE; /* no fix yet: alive, nothing to store */
        return LW_REJ_NONE;
    }

    r = get_string(c, root, "time", true, &time_s, &time_len);
    if (r != LW_REJ_NONE)
        return r;
    copy_printable(quoted, sizeof(quoted), time_s, time_len);
    if (!time_s || strlen(time_s) != time_len ||
        lw_time_parse(time_s, &out->fix.fix_time_ms) != LW_OK)
        return rejectf(c, LW_REJ_WRONG_TYPE,
                       "time \"%s\" is not an ISO 8601 date-time", quoted);
    if ((r = get_position(c, root, &out->fix)) != LW_REJ_NONE)
        return r;
    snprintf(label, sizeof(label), "time %s", quoted);
    if ((r = check_fix_time(c, out->fix.fix_time_ms, label)) != LW_REJ_NONE)
        return r;

    if ((r = get_number(c, root, "speed", false, &v)) != LW_REJ_NONE ||
        (r = set_speed(c, &out->fix, v, "speed", v)) != LW_REJ_NONE)
        return r;
    if ((r = get_number(c, root, "track", false, &v)) != LW_REJ_NONE ||
        (r = set_course(c, &out->fix, v, "track")) != LW_REJ_NONE)
        return r;
    if ((r = tpv_accuracy(c, root, &out->fix)) != LW_REJ_NONE ||
        (r = tpv_altitude(c, root, &out->fix)) != LW_REJ_NONE)
        return r;
    out->kind = LW_MSG_FIX;
    return LW_REJ_NONE;
}

/* Decodes an account status update for the account 'id' (validated). */
static enum lw_reject decode_account(const struct ctx *c, json_t *root,
                                     const char *id, struct lw_decoded *out)
{
    const char *status;
    size_t status_len;
    json_int_t days;
    enum lw_reject r;

    snprintf(out->type, sizeof(out->type), "%s", ACCOUNT_TYPE);
    if ((r = get_integer(c, root, "days_past_due", &days)) != LW_REJ_NONE)
        return r;
    if (days < 0 || days > DAYS_PAST_DUE_MAX)
        return rejectf(c, LW_REJ_OUT_OF_RANGE,
                       "days_past_due %lld is outside [0, %d]", (long long)days,
                       DAYS_PAST_DUE_MAX);
    r = get_string(c, root, "status", false, &status, &status_len);
    if (r != LW_REJ_NONE)
        return r;
    if (status && status_len > LW_STATUS_MAX)
        return rejectf(c, LW_REJ_OUT_OF_RANGE,
                       "status is %zu bytes long, at most %d allowed",
                       status_len, LW_STATUS_MAX);
    if (status && !is_clean_text((const unsigned char *)status, status_len))
        return rejectf(c, LW_REJ_OUT_OF_RANGE,
                       "status contains a control character");
    snprintf(out->account.account, sizeof(out->account.account), "%s", id);
    out->account.days_past_due = (int)days;
    if (status)
        memcpy(out->account.status, status, status_len + 1);
    out->kind = LW_MSG_ACCOUNT;
    return LW_REJ_NONE;
}

/*
 * Validates a device or account id from a topic: 1..max bytes of clean
 * UTF-8 text. 'what' is "device" or "account" for the detail.
 */
static enum lw_reject check_id(const struct ctx *c, const char *id, size_t max,
                               const char *what)
{
    size_t n;

    if (!id || id[0] == '\0')
        return rejectf(c, LW_REJ_BAD_DEVICE, "%s id is empty", what);
    n = strnlen(id, max + 1);
    if (n > max)
        return rejectf(c, LW_REJ_BAD_DEVICE, "%s id is longer than %zu bytes",
                       what, max);
    if (!is_clean_text((const unsigned char *)id, n))
        return rejectf(c, LW_REJ_BAD_DEVICE,
                       "%s id has a control character or invalid UTF-8", what);
    return LW_REJ_NONE;
}

/* Parses payload into *root: a JSON object, or a rejection. */
static enum lw_reject parse_object(const struct ctx *c, const void *payload,
                                   size_t len, json_t **root)
{
    json_error_t jerr;

    *root = NULL;
    if (len == 0)
        return rejectf(c, LW_REJ_NOT_JSON, "empty payload");
    if (!payload)
        return rejectf(c, LW_REJ_NOT_JSON, "no payload");
    *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        if (json_error_code(&jerr) == json_error_numeric_overflow)
            return rejectf(c, LW_REJ_NOT_FINITE,
                           "number does not fit: %s (line %d, column %d)",
                           jerr.text, jerr.line, jerr.column);
        return rejectf(c, LW_REJ_NOT_JSON, "not JSON: %s (line %d, column %d)",
                       jerr.text, jerr.line, jerr.column);
    }
    if (json_is_array(*root))
        return rejectf(c, LW_REJ_NOT_JSON,
                       "top-level JSON array; one object per message "
                       "expected");
    if (!json_is_object(*root))
        return rejectf(c, LW_REJ_NOT_JSON,
                       "top-level JSON %s; an object expected",
                       json_kind(*root));
    return LW_REJ_NONE;
}

enum lw_reject lw_decode(enum lw_source src, const char *id,
                         const void *payload, size_t len, int64_t now_ms,
                         const struct lw_decode_opts *opts,
                         struct lw_decoded *out, char *err, size_t errlen)
{
    struct lw_decode_opts defaults;
    struct lw_decoded scratch = {0};
    struct lw_decoded *d = out ? out : &scratch;
    struct ctx c = {opts, now_ms, err, errlen};
    json_t *root = NULL;
    enum lw_reject r;

    if (!opts) {
        lw_decode_opts_init(&defaults);
        c.opts = &defaults;
    }
    memset(d, 0, sizeof(*d));
    lw_fix_init(&d->fix);
    if (err && errlen > 0)
        err[0] = '\0';

    switch (src) {
    case LW_SRC_OWNTRACKS:
    case LW_SRC_TPV:
        r = check_id(&c, id, LW_DEVICE_MAX, "device");
        break;
    case LW_SRC_ACCOUNT:
        r = check_id(&c, id, LW_ACCOUNT_MAX, "account");
        break;
    default:
        r = rejectf(&c, LW_REJ_UNKNOWN_TOPIC, "unknown payload source %d",
                    (int)src);
        break;
    }
    if (r != LW_REJ_NONE)
        goto out;
    if (len > c.opts->max_payload) {
        r = rejectf(&c, LW_REJ_TOO_LARGE,
                    "payload of %zu bytes is over the %zu-byte limit", len,
                    c.opts->max_payload);
        goto out;
    }
    r = parse_object(&c, payload, len, &root);
    if (r != LW_REJ_NONE)
        goto out_decref_root;

    switch (src) {
    case LW_SRC_OWNTRACKS:
        r = decode_owntracks(&c, root, d);
        break;
    case LW_SRC_TPV:
        r = decode_tpv(&c, root, d);
        break;
    case LW_SRC_ACCOUNT:
        r = decode_account(&c, root, id, d);
        break;
    }
    if (r == LW_REJ_NONE && d->kind != LW_MSG_ACCOUNT) {
        lw_copy(d->fix.device, sizeof(d->fix.device), id);
        d->fix.recv_time_ms = now_ms;
    }

out_decref_root:
    json_decref(root);
out:
    if (r != LW_REJ_NONE) {
        /* keep only the type seen, so nobody mistakes half a fix for one */
        char type[sizeof(d->type)];

        memcpy(type, d->type, sizeof(type));
        memset(d, 0, sizeof(*d));
        lw_fix_init(&d->fix);
        memcpy(d->type, type, sizeof(type));
        make_printable(err && errlen > 0 ? err : NULL);
    }
    return r;
}
