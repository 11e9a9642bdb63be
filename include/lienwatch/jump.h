/*
 * jump.h - fixes that jump impossibly far: a sign of GPS spoofing or of a
 * tracker that reports someone else's position.
 *
 * A fix is SUSPECT ("jump") when, from the previous accepted fix of the
 * same device, the implied speed exceeds max_speed_mps while both fixes
 * state an accuracy under max_accuracy_m (a poor fix is not evidence of
 * anything). The implied speed is the distance less both accuracies (what
 * the fixes themselves allow for), over the time between them:
 *     (d - acc_prev - acc_new) / (t_new - t_prev)
 * A suspect fix is kept aside, not accepted: it moves neither the fence
 * state nor the last-known fix. The next fix decides:
 *   - consistent with the accepted fix (not a jump from it): the suspect
 *     was a spike and stays suspect; the new fix is accepted (LW_JUMP_OK);
 *   - a jump from the accepted fix, but consistent with the suspect: it
 *     CONFIRMS the suspect (the car did get there: a ferry, a tow truck
 *     with the tracker off); both are accepted, the suspect first
 *     (LW_JUMP_CONFIRMS);
 *   - a jump from both: it becomes the suspect in place of the earlier one
 *     (LW_JUMP_SUSPECT).
 * Fixes older than the accepted one (late uploads) and fixes of a device
 * without an accepted fix are not judged (LW_JUMP_OK, and the first one
 * becomes the accepted fix).
 *
 * Pure: no clock, no I/O, no globals. Coordinates WGS-84 degrees, times UTC
 * milliseconds.
 */
#ifndef LIENWATCH_JUMP_H
#define LIENWATCH_JUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/fix.h"

/* Defaults ([ingest] max_speed_kmh = 300; the 100 m). */
#define LW_JUMP_MAX_SPEED_KMH 300.0
#define LW_JUMP_MAX_ACCURACY_M 100.0
/* The suspect flag's name, as stored and shown. */
#define LW_JUMP_SUSPECT_NAME "jump"

/* One fix as the judge keeps it. */
struct lw_jump_pt {
    int64_t fix_time_ms; /* the device's time of the fix */
    double lat_deg;      /* WGS-84 */
    double lon_deg;      /* WGS-84 */
    double accuracy_m;   /* NAN when unknown */
};

/* Per-device state; zero-initialised is "nothing seen". */
struct lw_jump_state {
    bool has_accepted;          /* accepted is set */
    bool has_suspect;           /* suspect is set (awaiting the next fix) */
    struct lw_jump_pt accepted; /* the previous accepted fix */
    struct lw_jump_pt suspect;  /* the fix kept aside */
};

enum lw_jump_verdict {
    LW_JUMP_OK = 0,   /* accepted */
    LW_JUMP_SUSPECT,  /* kept aside: store flagged, move nothing */
    LW_JUMP_CONFIRMS, /* accepted, and so is the suspect before it */
};

/* What the judge found, besides the verdict. */
struct lw_jump_info {
    double distance_m; /* from the accepted fix; NAN when not judged */
    double speed_mps;  /* implied speed (see above); NAN when not judged */
    int64_t dt_ms;     /* time since the accepted fix; 0 when not judged */
    struct lw_jump_pt confirmed; /* LW_JUMP_CONFIRMS: the suspect accepted */
};

/*
 * One judgement as it travels with its fix: made once, by the ingester in
 * the transaction that stores the fix (and flags it when suspect), then
 * handed with the committed fix to the alert engine, which acts on it
 * (lw_engine_fix_judged) instead of judging again: the stored flag and the
 * fence state can never disagree.
 */
struct lw_jump_ruling {
    enum lw_jump_verdict verdict; /* LW_JUMP_OK when not judged */
    struct lw_jump_info info;     /* what the judge found */
};

/*
 * Whether f is a jump from p at max_speed_mps (> 0; <= 0: never) when both
 * accuracies are known and under max_accuracy_m. *speed_mps (may be NULL)
 * gets the implied speed.
 */
bool lw_jump_is_jump(const struct lw_jump_pt *p, const struct lw_jump_pt *f,
                     double max_speed_mps, double max_accuracy_m,
                     double *speed_mps);

/*
 * Judges f (borrowed) against st and updates st. info may be NULL.
 * max_speed_mps <= 0 turns judging off (every fix is accepted).
 */
enum lw_jump_verdict lw_jump_judge(struct lw_jump_state *st,
                                   const struct lw_fix *f, double max_speed_mps,
                                   double max_accuracy_m,
                                   struct lw_jump_info *info);

/* Sets st's accepted fix (a restart: the last-known fix of the store). */
void lw_jump_seed(struct lw_jump_state *st, const struct lw_fix *f);

#endif
