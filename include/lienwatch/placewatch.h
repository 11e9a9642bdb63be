/*
 * placewatch.h - alerts from where a watched vehicle spends its nights
 * (places.h): new_overnight_place and long_move. Pure: no clock, no I/O.
 *
 * NEW OVERNIGHT PLACE: the vehicle's current stop (lw_places_current, at
 * least a stop long) covers a night (local 03:00) at a place farther than
 * new_place_m from every stop that covered a night in the lookback before
 * it (lw_places_overnight, judged on the stop's first night). Raised once
 * per stay, as soon as a fix after 03:00 shows the car still there. Nights
 * before the vehicle was watched are the baseline, never alerts: a night counts
 * only from watched_from_ms (the fix time of the first fix seen while watched)
 * on.
 *
 * LONG MOVE: the vehicle's current position (the centre of the run its
 * last fix ends) is farther than long_move_m from its usual night place
 * (the place with the most nights). Once per trip: again only after it
 * came back within long_move_m.
 */
#ifndef LIENWATCH_PLACEWATCH_H
#define LIENWATCH_PLACEWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "lienwatch/places.h"

/* Defaults ([places] new_place_km, long_move_km). */
#define LW_PLACEWATCH_NEW_PLACE_M 5000.0
#define LW_PLACEWATCH_LONG_MOVE_M 100000.0
/* History a check reads: the nights' lookback and one more day. */
#define LW_PLACEWATCH_HISTORY_MS (61 * 86400 * 1000LL)

struct lw_placewatch_cfg {
    double new_place_m; /* <= 0: new_overnight_place off */
    double long_move_m; /* <= 0: long_move off */
};

/* Per vehicle; zero-initialised: not watched yet. */
struct lw_placewatch_state {
    int64_t watched_from_ms;   /* first fix seen while watched; 0: none */
    int64_t last_new_night_ms; /* night of the last new_overnight_place */
    bool away;                 /* long_move raised, not back yet */
    bool has_night_place;      /* night_* hold the usual night place */
    double night_lat_deg;      /* as of the last lw_placewatch_judge */
    double night_lon_deg;      /* ... */
};

/* What a check found. */
struct lw_placewatch_out {
    bool new_night;      /* raise new_overnight_place */
    int64_t night_ms;    /* its night (local 03:00, UTC ms) */
    double lat_deg;      /* the new place (the stop's centre) */
    double lon_deg;      /* ... */
    double from_usual_m; /* distance from the usual night place; NAN */
    bool long_move;      /* raise long_move */
    double move_m;       /* distance from the usual night place */
    double cur_lat_deg;  /* where the car is (the current run's centre) */
    double cur_lon_deg;  /* ... */
};

/*
 * Judges the places pl (computed) of a watched vehicle against *st and
 * updates it, the usual night place included (for lw_placewatch_move).
 * Returns LW_OK, LW_ERR_INVAL, or LW_ERR_NOMEM.
 */
enum lw_err lw_placewatch_judge(const struct lw_places *pl,
                                const struct lw_placewatch_cfg *cfg,
                                struct lw_placewatch_state *st,
                                struct lw_placewatch_out *out);

/*
 * long_move between two judgements: whether a fix at (lat, lon) starts a
 * trip farther than long_move_m (> 0) from the usual night place kept in
 * *st (updated: away); *dist_m (may be NULL) gets the distance, NAN when no
 * night place is known.
 */
bool lw_placewatch_move(struct lw_placewatch_state *st, double lat_deg,
                        double lon_deg, double long_move_m, double *dist_m);

#endif
