/*
 * fuzz_invariants.h - what every decoded report must satisfy, checked by the
 * libFuzzer targets after each lw_decode call. A violation aborts, which
 * libFuzzer reports as a crash with the input saved as an artifact.
 *
 * The invariants are the ones lib/decode.c promises in its header comment:
 * a fix has an in-range, non-null-island position, a fix time inside the
 * window, finite-or-NAN optional fields inside their ranges, and a clean,
 * NUL-terminated device id; err is always one line of printable ASCII.
 */
#ifndef LIENWATCH_FUZZ_INVARIANTS_H
#define LIENWATCH_FUZZ_INVARIANTS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lienwatch/decode.h"

/* The receive time every target passes: 2026-11-23T12:00:00Z. */
#define FUZZ_NOW_MS INT64_C(1795435200000)
#define FUZZ_ERRLEN 256

/* Aborts with a message naming the broken invariant. */
#define FUZZ_REQUIRE(cond)                                                     \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* True when s holds a NUL within n bytes. */
static inline int fuzz_terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* True when the NUL-terminated s is printable ASCII only. */
static inline int fuzz_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* Optional double: unknown (NAN) or finite within [lo, hi]. */
static inline int fuzz_opt_in(double v, double lo, double hi)
{
    return isnan(v) || (isfinite(v) && v >= lo && v <= hi);
}

/*
 * Checks the outcome r of lw_decode(src, id, ..., now_ms, default opts, out,
 * err) against the decoder's promises.
 */
static inline void fuzz_check(enum lw_source src, const char *id,
                              enum lw_reject r, const struct lw_decoded *out,
                              const char *err, int64_t now_ms)
{
    const struct lw_fix *f = &out->fix;

    FUZZ_REQUIRE((unsigned)r < LW_REJ_COUNT);
    FUZZ_REQUIRE(strcmp(lw_reject_name(r), "unknown") != 0);
    FUZZ_REQUIRE(fuzz_terminated(err, FUZZ_ERRLEN));
    FUZZ_REQUIRE(fuzz_printable(err));
    FUZZ_REQUIRE(fuzz_terminated(out->type, sizeof(out->type)));
    FUZZ_REQUIRE(fuzz_printable(out->type));
    if (r != LW_REJ_NONE) {
        FUZZ_REQUIRE(err[0] != '\0');
        FUZZ_REQUIRE(out->kind == 0);
        return;
    }
    FUZZ_REQUIRE(err[0] == '\0');
    if (src == LW_SRC_ACCOUNT) {
        const struct lw_account_update *a = &out->account;

        FUZZ_REQUIRE(out->kind == LW_MSG_ACCOUNT);
        FUZZ_REQUIRE(strcmp(a->account, id) == 0);
        FUZZ_REQUIRE(a->days_past_due >= 0);
        FUZZ_REQUIRE(fuzz_terminated(a->status, sizeof(a->status)));
        return;
    }
    FUZZ_REQUIRE(out->kind == LW_MSG_FIX || out->kind == LW_MSG_ALIVE);
    FUZZ_REQUIRE(fuzz_terminated(f->device, sizeof(f->device)));
    FUZZ_REQUIRE(strcmp(f->device, id) == 0);
    FUZZ_REQUIRE(f->recv_time_ms == now_ms);
    if (out->kind != LW_MSG_FIX)
        return;
    FUZZ_REQUIRE(isfinite(f->lat_deg) && f->lat_deg >= -90 && f->lat_deg <= 90);
    FUZZ_REQUIRE(isfinite(f->lon_deg) && f->lon_deg >= -180 &&
                 f->lon_deg <= 180);
    FUZZ_REQUIRE(f->lat_deg != 0 || f->lon_deg != 0);
    FUZZ_REQUIRE(f->fix_time_ms >= LW_DECODE_MIN_FIX_TIME_MS);
    FUZZ_REQUIRE(f->fix_time_ms <= now_ms + LW_DECODE_FUTURE_TOLERANCE_MS);
    FUZZ_REQUIRE(fuzz_opt_in(f->speed_mps, 0, 1000));
    FUZZ_REQUIRE(fuzz_opt_in(f->course_deg, 0, 360) && f->course_deg != 360);
    FUZZ_REQUIRE(fuzz_opt_in(f->accuracy_m, 0, 1e6));
    FUZZ_REQUIRE(fuzz_opt_in(f->alt_m, -1e6, 1e6));
    FUZZ_REQUIRE(f->battery_pct >= -1 && f->battery_pct <= 100);
    FUZZ_REQUIRE(f->trigger == 0 || (f->trigger > ' ' && f->trigger <= '~'));
}

/*
 * Decodes data as src for device/account id, checks the invariants, and
 * checks that the outcome does not depend on out or err being given.
 */
static inline void fuzz_decode(enum lw_source src, const char *id,
                               const uint8_t *data, size_t size)
{
    struct lw_decoded out;
    char err[FUZZ_ERRLEN], tiny[4];
    enum lw_reject r, again;

    r = lw_decode(src, id, data, size, FUZZ_NOW_MS, NULL, &out, err,
                  sizeof(err));
    fuzz_check(src, id, r, &out, err, FUZZ_NOW_MS);
    again = lw_decode(src, id, data, size, FUZZ_NOW_MS, NULL, NULL, tiny,
                      sizeof(tiny));
    FUZZ_REQUIRE(again == r);
    FUZZ_REQUIRE(fuzz_terminated(tiny, sizeof(tiny)));
}

#endif
