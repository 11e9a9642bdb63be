/*
 * places.h - where a vehicle parks: stops, places, and how likely the car
 * is at each place at a given time. Pure: no clock (times come in), no
 * logging, no globals, no I/O.
 *
 * Input: the position history of one vehicle: the fixes of one device, or
 * of several devices of the same car merged (they are sorted by fix time
 * here; fixes at the same instant are fine). Coordinates WGS-84 degrees,
 * times UTC milliseconds, distances metres.
 *
 * Fixes not used (counted in struct lw_places_stats): invalid coordinates or
 * time; stated accuracy worse than max_accuracy_m (a cell-tower fix cannot
 * tell a parking space from the next street); fix time later than the
 * caller's now_ms + LW_PLACES_FUTURE_SLACK_MS.
 *
 * STOP: the car stayed within stop_radius_m (150 m) of one point for at
 * least min_stop_ms (15 min), measured from the first to the last fix
 * there. The point (the stop's centre) is the mean of the fixes so far,
 * weighted by 1 / accuracy^2 (accuracy clipped to 10..200 m; unknown or
 * negative taken as 20 m) and by 0.1 for a fix moving faster than 2 m/s, so the
 * approach and the better fixes weigh as they should. A fix counts as "there"
 * when its distance from the centre is at most stop_radius_m plus its accuracy
 * (at most 50 m of it): jitter and a poor fix do not end a stop.
 *   - Gaps: a gap in reporting, of any length, while stopped counts as
 *     staying when the next fix is at the same place (trackers sleep while
 *     parked). A gap while moving is not a stop: the fixes before and after
 *     it are far apart.
 *   - Jitter and spikes: up to max_outliers consecutive fixes outside the
 *     radius, followed within outlier_window_ms (of the first of them) by a
 *     fix back inside, are GPS spikes: skipped, counted, and the stop goes
 *     on. More of them, or no return in time, is a departure: the stop ends
 *     at its last fix inside, and the fixes that left start the next run.
 *     So is a return by a moving fix when the fixes outside came after a
 *     gap longer than outlier_window_ms: the car left unseen and is
 *     driving past.
 *   - A run in which every fix is moving (faster than 2 m/s) is no stop,
 *     however long: a car that drove past the same point twice.
 *   - The stop still open at the last fix is "ongoing"; when the last fixes
 *     are outside it (a departure or a spike not yet confirmed) it is not.
 *   - A stop's end is its last fix there: when the tracker slept and woke up
 *     elsewhere, the departure is unknown and the stop is not extended.
 *
 * NIGHT: a stop "covers a night" for each local night_hour:00 (03:00) that
 * lies between its first and last fix, in the caller's time zone (struct
 * lw_tz, correct across daylight-saving changes; on a day when 03:00 is
 * skipped, the instant of the jump counts). A stop from Friday evening to
 * Monday morning covers three nights.
 *
 * PLACE: stops clustered by position. Stops are taken longest first; each
 * joins the place whose centre is nearest, if within place_radius_m
 * (150 m), else founds a new place; centres are the dwell-weighted mean of
 * their stops; then every stop is re-assigned to the nearest centre once
 * and centres recomputed (so the order of discovery does not matter much).
 * A stop joins a centre within place_radius_m of it; the centre then moves
 * with the stops that join later, by little since the longest come first.
 *
 * KNOWN TIME: time when the car's whereabouts are known: during stops, and
 * between two consecutive fixes at most moving_gap_ms (10 min) apart.
 * A long gap while moving is unknown time, counted nowhere.
 *
 * USUAL HOURS: usual_hours[h] = time at the place during local hour h
 * (0..23) / known time during local hour h, over the whole history: the
 * share of the time the car was here at that hour of the day, 0..1.
 *
 * LIKELY NOW (the model): the probability that the car is at place p at
 * time T ("now"), combining what it usually does at that time with where it
 * was last seen:
 *
 *   likely_now(p) = S * [p is the place of the last fix]
 *                 + (1 - S) * R(p, T)
 *
 *   R(p, T), routine: the share of known time the car spent at p in T's
 *   local hour of the week, shrunk towards its share in T's hour on days
 *   of the same type (weekday, or weekend as weekend_mask says: Saturday
 *   and Sunday by default). Four weeks give four samples of "Tuesday
 *   18:00" but twenty of "a weekday at 18:00"; the first tells the gym on
 *   Tuesdays from home on the other evenings, the second keeps one odd
 *   Tuesday from deciding:
 *     R_daytype = (A_dt + 0.25 A_other) / (E_dt + 0.25 E_other)
 *     R = (A_wd + 2 h * R_daytype) / (E_wd + 2 h)
 *   where A is the time at p and E the known time, in T's weekday (wd), in
 *   the days of T's day type (dt) or of the other type, at T's local hour.
 *   Every slot's time is weighted by recency, 2^(-age / half_life_ms) (14
 *   days; age from the now_ms given to lw_places_compute), and the hours
 *   before and after T's count with a triangular kernel (1.5 h wide,
 *   centred on T's fractional hour), so 16:55 leans towards 17:00. Where
 *   less than a minute is known around T's hour, R_daytype is p's share of
 *   all known time. Summed over places R <= 1: the rest is driving or
 *   somewhere that is not a place.
 *
 *   S, still there: the car was last seen at a place at t_last, there
 *   since t_arr. Two estimates of P(still there at T):
 *     S_dur: P(stay lasts >= T - t_arr | it lasted >= t_last - t_arr) from
 *       the recency-weighted durations of the earlier stops at that place,
 *       plus a pseudo-stay that never ends (so a place seen once keeps the
 *       car);
 *     the same hours on earlier days: for each day k before, when the car
 *       was at that place at t_last - k days, was it still there at T - k
 *       days (days whose later instant is unknown are skipped)? Each day
 *       weighs its recency times 1 for T's weekday, 0.5 for T's day type,
 *       0.2 otherwise. This knows that a car home at 04:00 on a weekday is
 *       at work by 10:00, which stay durations alone do not.
 *     S = (S_dur + sum w [still there]) / (1 + sum w [was there])
 *         * 2^(-(T - t_last) / silence_half_life_ms)   (7 days: a tracker
 *     silent for weeks says little). S = 0 when the last fix is at no
 *   place, or moving (faster than 2 m/s, and the run it ends shorter than a
 *   stop), or with LW_PLACES_RANK_ROUTINE (what the car usually does at T,
 *   e.g. to plan a visit next Tuesday).
 *
 * Places are ranked by likely_now, ties by nights, then dwell.
 *
 * NEW OVERNIGHT PLACE (lw_places_overnight): a stop that covers a night,
 * judged on the first night it covers, at a place farther than new_place_m
 * (5 km) from every stop that covered a night in the lookback (60 days)
 * before that night. Without any night in the lookback there is no baseline
 * and nothing is new.
 *
 * USUAL NIGHT PLACE: the place with the most nights (ties: the latest
 * night). long_move measures from it (lw_places_night_distance_m).
 *
 * Cost: O(n log n) for n fixes (a sort, skipped when they come in order),
 * then linear; clustering O(stops x places). About 32 bytes per fix kept.
 *
 * Ownership: a struct lw_places is owned by its creator and freed with
 * lw_places_free; fixes are copied when added; the struct lw_tz is
 * borrowed for the call only; pointers returned into a struct lw_places are
 * valid until the next lw_places_add/compute/rank or lw_places_free.
 */
#ifndef LIENWATCH_PLACES_H
#define LIENWATCH_PLACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lienwatch/err.h"
#include "lienwatch/fix.h"
#include "lienwatch/tz.h"

/* Defaults (issue "Where it parks"). */
#define LW_PLACES_STOP_RADIUS_M 150.0
#define LW_PLACES_MIN_STOP_MS (15 * 60 * 1000LL)
#define LW_PLACES_PLACE_RADIUS_M 150.0
#define LW_PLACES_MAX_ACCURACY_M 200.0
#define LW_PLACES_MAX_OUTLIERS 3
#define LW_PLACES_OUTLIER_WINDOW_MS (10 * 60 * 1000LL)
#define LW_PLACES_MOVING_GAP_MS (10 * 60 * 1000LL)
#define LW_PLACES_NIGHT_HOUR 3
#define LW_PLACES_HALF_LIFE_MS (14 * 86400 * 1000LL)
#define LW_PLACES_SILENCE_HALF_LIFE_MS (7 * 86400 * 1000LL)
/* Bit d set: weekday d (0 = Sunday .. 6 = Saturday) is a weekend day. */
#define LW_PLACES_WEEKEND_MASK ((1u << 0) | (1u << 6))
#define LW_PLACES_NEW_PLACE_M 5000.0
#define LW_PLACES_NIGHT_LOOKBACK_MS (60 * 86400 * 1000LL)
/* Fixes later than now_ms + this are ignored (clock skew allowance). */
#define LW_PLACES_FUTURE_SLACK_MS (5 * 60 * 1000LL)

/* Tunables; lw_places_params_init fills the defaults above. */
struct lw_places_params {
    double stop_radius_m;         /* a stop stays within this, 150 */
    int64_t min_stop_ms;          /* shortest stop, 15 min */
    double place_radius_m;        /* stops of a place lie within, 150 */
    double max_accuracy_m;        /* worse fixes are ignored, 200 */
    int max_outliers;             /* spikes tolerated in a row, 3 */
    int64_t outlier_window_ms;    /* a spike's return within, 10 min */
    int64_t moving_gap_ms;        /* longer gaps while moving: unknown */
    int night_hour;               /* local hour a night is counted at, 3 */
    int64_t half_life_ms;         /* recency of the routine, 14 days */
    int64_t silence_half_life_ms; /* trust in the last fix, 7 days */
    unsigned weekend_mask;        /* weekend days, Saturday + Sunday */
};

/* One stop, in time order. */
struct lw_places_stop {
    double lat_deg;        /* centre (weighted mean of its fixes) */
    double lon_deg;        /* centre */
    double spread_m;       /* RMS distance of its fixes from the centre */
    int64_t start_ms;      /* first fix there */
    int64_t end_ms;        /* last fix there */
    int64_t next_ms;       /* first fix after it (0 when none): left before */
    uint32_t fixes;        /* fixes there (spikes excluded) */
    uint32_t nights;       /* local night_hour:00 instants in [start, end] */
    int64_t night_ms;      /* the first of them, 0 when none */
    int64_t last_night_ms; /* the last of them, 0 when none */
    int32_t place;         /* id of its place (see struct lw_place), -1: none */
    bool ongoing;          /* the last fix of the history is in it */
};

/* One place. */
struct lw_place {
    int32_t id;            /* stable index, what stops refer to */
    double lat_deg;        /* centre: dwell-weighted mean of its stops */
    double lon_deg;        /* centre */
    double radius_m;       /* max over its stops: centre distance + spread */
    uint32_t visits;       /* stops here */
    uint32_t nights;       /* nights covered by its stops */
    int64_t dwell_ms;      /* total duration of its stops */
    int64_t first_seen_ms; /* start of the first stop */
    int64_t last_seen_ms;  /* end of the last stop */
    int64_t last_night_ms; /* latest night instant here, 0 when none */
    float usual_hours[24]; /* share of local hour h spent here, 0..1 */
    double routine;        /* R(p, T) of the last ranking, 0..1 */
    double likely_now;     /* likely_now(p) of the last ranking, 0..1 */
    bool here_now;         /* the last fix is at this place */
};

/* What the input held and what was used. */
struct lw_places_stats {
    size_t fixes_in;   /* fixes added */
    size_t used;       /* fixes used for stops */
    size_t invalid;    /* bad coordinates or time */
    size_t inaccurate; /* accuracy worse than max_accuracy_m */
    size_t future;     /* later than now + slack */
    size_t spikes;     /* outliers skipped inside stops */
    int64_t first_ms;  /* first used fix, 0 when none */
    int64_t last_ms;   /* last used fix, 0 when none */
    int64_t known_ms;  /* total known time (see KNOWN TIME) */
};

/* Options of lw_places_rank. */
#define LW_PLACES_RANK_ROUTINE 1u /* ignore the last fix: routine alone */

/* What lw_places_overnight decides. */
struct lw_places_overnight {
    bool night;          /* the stop covers a night and is a stop */
    int64_t night_ms;    /* the (first) night it covers */
    unsigned baseline;   /* other stops with a night in the lookback */
    double nearest_m;    /* nearest of those stops; INFINITY if none */
    bool is_new;         /* night && baseline && nearest_m > limit */
    int32_t usual_place; /* usual night place of the other stops; -1 */
    double usual_m;      /* distance from it, NAN when none */
};

struct lw_places;

/* Fills p with the defaults. */
void lw_places_params_init(struct lw_places_params *p);

/*
 * Creates an empty history. params NULL: the defaults; else copied.
 * Returns LW_OK (*out owned by the caller), LW_ERR_RANGE for a parameter
 * out of range (detail names it), LW_ERR_NOMEM.
 */
enum lw_err lw_places_new(const struct lw_places_params *params,
                          struct lw_places **out, char *err, size_t errlen);

/* Frees pl. NULL is a no-op. */
void lw_places_free(struct lw_places *pl);

/*
 * Adds one fix (copied: time, position, accuracy, speed; the device is not
 * needed). Unusable fixes are counted, not refused. Fixes may come in any
 * order. Returns LW_OK or LW_ERR_NOMEM (nothing added).
 */
enum lw_err lw_places_add(struct lw_places *pl, const struct lw_fix *f);

/* The same from plain values; accuracy_m and speed_mps may be NAN. */
enum lw_err lw_places_add_pos(struct lw_places *pl, int64_t fix_time_ms,
                              double lat_deg, double lon_deg, double accuracy_m,
                              double speed_mps);

/*
 * Finds stops and places in what was added, with local time in tz (NULL:
 * UTC), recency measured from now_ms, and ranks the places at now_ms.
 * May be called again after more fixes are added.
 * Returns LW_OK or LW_ERR_NOMEM.
 */
enum lw_err lw_places_compute(struct lw_places *pl, const struct lw_tz *tz,
                              int64_t now_ms, char *err, size_t errlen);

/*
 * Ranks the places again for time at_ms (flags: LW_PLACES_RANK_*): cheap,
 * no recomputation of stops. tz should be the one given to compute.
 * Returns LW_OK, LW_ERR_INVAL when compute has not run.
 */
enum lw_err lw_places_rank(struct lw_places *pl, const struct lw_tz *tz,
                           int64_t at_ms, unsigned flags);

/* Convenience: new + add every fix + compute. */
enum lw_err lw_places_build(const struct lw_fix *fixes, size_t n,
                            const struct lw_places_params *params,
                            const struct lw_tz *tz, int64_t now_ms,
                            struct lw_places **out, char *err, size_t errlen);

/* Number of places. */
size_t lw_places_count(const struct lw_places *pl);

/* The place ranked 'rank' (0 = most likely); NULL when out of range. */
const struct lw_place *lw_places_get(const struct lw_places *pl, size_t rank);

/* The place with id 'id'; NULL when out of range. */
const struct lw_place *lw_places_by_id(const struct lw_places *pl, int32_t id);

/* Number of stops, and stop i in time order (NULL when out of range). */
size_t lw_places_stop_count(const struct lw_places *pl);
const struct lw_places_stop *lw_places_stop(const struct lw_places *pl,
                                            size_t i);

/*
 * Where the car is according to the last fix: the run of fixes it ends,
 * shaped as a stop (start_ms = arrival there, end_ms = last fix, place =
 * the place it lies in or -1, ongoing = true), even when shorter than
 * min_stop_ms; NULL when there are no fixes. For new_overnight_place and
 * parked_long.
 */
const struct lw_places_stop *lw_places_current(const struct lw_places *pl);

/* What the input held. */
const struct lw_places_stats *lw_places_stats(const struct lw_places *pl);

/* The usual night place (see USUAL NIGHT PLACE); NULL when no nights. */
const struct lw_place *lw_places_night_place(const struct lw_places *pl);

/* Distance in metres from the usual night place; NAN when none. */
double lw_places_night_distance_m(const struct lw_places *pl, double lat_deg,
                                  double lon_deg);

/*
 * Decides whether 'stop' (one of pl's stops, or lw_places_current) is a
 * night at a new place (see NEW OVERNIGHT PLACE), with new_place_m (<= 0:
 * LW_PLACES_NEW_PLACE_M) and lookback_ms (<= 0: LW_PLACES_NIGHT_LOOKBACK_MS).
 * Returns LW_OK, LW_ERR_INVAL when compute has not run or stop is NULL,
 * LW_ERR_NOMEM.
 */
enum lw_err lw_places_overnight(const struct lw_places *pl,
                                const struct lw_places_stop *stop,
                                double new_place_m, int64_t lookback_ms,
                                struct lw_places_overnight *out);

/*
 * Number of local night_hour:00 instants in [start_ms, end_ms] in zone tz
 * (NULL: UTC); the first one in *first_ms (when not NULL; 0 when none).
 * Spans past 100 years are cut there.
 */
unsigned lw_places_nights_between(const struct lw_tz *tz, int night_hour,
                                  int64_t start_ms, int64_t end_ms,
                                  int64_t *first_ms);

#endif
