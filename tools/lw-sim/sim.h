/*
 * sim.h - shared pieces of lw-sim, the lienwatch load generator.
 *
 * lw-sim drives N simulated vehicles and publishes their positions as
 * OwnTracks "location" JSON over MQTT. This header joins its three parts:
 *   rng.c      a small seeded PRNG (xoshiro256**), so a run is reproducible
 *              for a given --seed whatever the machine or libc;
 *   vehicle.c  the motion model: homes scattered around a centre, trips
 *              between destinations along wiggly multi-leg routes at road
 *              speeds, stops at junctions, parking for random periods;
 *   payload.c  the JSON text of good reports and of deliberately bad ones.
 * main.c holds the options, the schedule and the MQTT loop.
 *
 * Coordinates are WGS-84 degrees; distances metres; speeds m/s inside the
 * model (km/h only in the OwnTracks payload, as the format wants); times
 * whole seconds since the Unix epoch (OwnTracks "tst" has 1 s resolution).
 */
#ifndef LW_SIM_H
#define LW_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- rng.c ---------------------------------------------------------- */

/* State of one xoshiro256** generator; never all zero once seeded. */
struct sim_rng {
    uint64_t s[4]; /* the 256-bit state */
};

/*
 * Seeds r for (seed, stream): different streams of one seed are independent
 * sequences, so each vehicle owns one and its path does not depend on how
 * many numbers the others drew.
 */
void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);

/* Returns the next 64 random bits. */
uint64_t sim_rng_next(struct sim_rng *r);

/* Returns a uniform double in [0, 1). */
double sim_rng_unit(struct sim_rng *r);

/* Returns a uniform double in [lo, hi). */
double sim_rng_range(struct sim_rng *r, double lo, double hi);

/* Returns a uniform integer in [0, n); n must be > 0. */
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n);

/* Returns a value of the standard normal distribution (mean 0, sigma 1). */
double sim_rng_gauss(struct sim_rng *r);

/* Returns exp(uniform(log lo, log hi)): as many short values as long ones. */
double sim_rng_logrange(struct sim_rng *r, double lo, double hi);

/* ---- vehicle.c ------------------------------------------------------ */

/* Where the simulated fleet lives. */
struct sim_area {
    double centre_lat_deg; /* centre of the homes' disc */
    double centre_lon_deg;
    double radius_m; /* homes lie within this distance of the centre */
};

/* What a vehicle is doing. */
enum sim_phase {
    SIM_PARKED,  /* standing still at home or at a destination */
    SIM_DRIVING, /* on a trip along its legs */
};

/*
 * One simulated vehicle. A trip is a chain of legs: the next waypoint is
 * placed only when the previous one is reached (a share of the remaining
 * way, pushed sideways), so a vehicle needs no route storage and 100,000 of
 * them fit in a few tens of megabytes.
 */
struct sim_vehicle {
    struct sim_rng rng;  /* this vehicle's own random stream */
    double home_lat_deg; /* where it parks overnight */
    double home_lon_deg;
    double lat_deg; /* true position (reports add GPS noise) */
    double lon_deg;
    double dest_lat_deg; /* end of the current trip */
    double dest_lon_deg;
    double wp_lat_deg; /* end of the current leg */
    double wp_lon_deg;
    double trip_m;         /* current trip, as the crow flies */
    double leg_left_m;     /* distance still to drive on this leg */
    double leg_dlat_deg_m; /* latitude change per metre along the leg */
    double leg_dlon_deg_m; /* longitude change per metre along the leg */
    double leg_speed_mps;  /* cruising speed chosen for the current leg */
    double speed_mps;      /* current speed */
    double heading_deg;    /* current course, clockwise from north */
    double park_left_s;    /* parked: time until the next trip */
    double hold_left_s;    /* driving: time left waiting at a junction */
    double batt_pct;       /* tracker battery, 0..100 */
    int64_t clock_s;       /* fix time of this vehicle's next report */
    int legs_left;         /* legs of the trip still to drive, >= 1 */
    int legs_total;        /* legs of the whole trip */
    enum sim_phase phase;  /* parked or driving */
    bool at_home;          /* parked at home (longer stays) */
    bool leg_urban;        /* current leg is a town street (junctions) */
};

/* One report as a tracker would send it. */
struct sim_report {
    double lat_deg; /* position with GPS noise */
    double lon_deg;
    double acc_m;   /* stated horizontal accuracy */
    double vel_kmh; /* speed, km/h as OwnTracks has it */
    double cog_deg; /* course over ground [0, 360) */
    int batt_pct;   /* battery percentage */
    char trigger;   /* OwnTracks "t": 't' timer, 'u' user request */
    int64_t tst_s;  /* fix time, seconds since the epoch */
};

/*
 * Places vehicle number index (0-based) of a fleet: a home in the area,
 * parked there or already on a trip, its first report at start_s plus a
 * per-vehicle offset below step_s so that the fleet does not report in
 * lockstep. The vehicle's path depends only on (seed, index).
 */
void sim_vehicle_init(struct sim_vehicle *v, const struct sim_area *area,
                      uint64_t seed, uint32_t index, int64_t start_s,
                      int step_s);

/*
 * Fills *out with the vehicle's report at its current clock (adding GPS
 * noise), then moves the vehicle step_s seconds forward in time.
 */
void sim_vehicle_report(struct sim_vehicle *v, const struct sim_area *area,
                        int step_s, struct sim_report *out);

/* Great-circle distance between two points, metres (haversine). */
double sim_distance_m(double lat1_deg, double lon1_deg, double lat2_deg,
                      double lon2_deg);

/* ---- payload.c ------------------------------------------------------ */

/* Kinds of deliberately bad payload (--bad-ratio). */
enum sim_bad {
    SIM_BAD_NOT_JSON,   /* random bytes */
    SIM_BAD_TRUNCATED,  /* a good report cut in half */
    SIM_BAD_STRING_LAT, /* "lat":"41.1" */
    SIM_BAD_LAT_RANGE,  /* lat 91 */
    SIM_BAD_ZERO,       /* 0,0 ("null island") */
    SIM_BAD_FUTURE,     /* tst an hour ahead of the wall clock */
    SIM_BAD_OVERSIZE,   /* a 70 KiB report, over the 64 KiB limit */
    SIM_BAD_COUNT_      /* number of kinds */
};

/* Longest good payload sim_payload_good writes, with its NUL. */
#define SIM_PAYLOAD_MAX 256

/* Size of the oversize payload: past the daemon's 64 KiB limit. */
#define SIM_OVERSIZE_BYTES (70 * 1024)

/* Returns the short name of a bad kind ("not_json", ...), never NULL. */
const char *sim_bad_name(enum sim_bad kind);

/*
 * Writes the OwnTracks location JSON of r, tagged with tracker id tid (two
 * characters), into buf (NUL-terminated). Returns its length without the
 * NUL, or -1 when buflen is too small.
 */
int sim_payload_good(char *buf, size_t buflen, const struct sim_report *r,
                     const char *tid);

/*
 * Writes a bad payload of the given kind, based on report r, into buf.
 * now_s is the wall clock (for SIM_BAD_FUTURE). buf must hold
 * SIM_OVERSIZE_BYTES + SIM_PAYLOAD_MAX bytes. The result is not always
 * NUL-terminated text (SIM_BAD_NOT_JSON is raw bytes): use the returned
 * length, which is -1 if buflen is too small.
 */
int sim_payload_bad(char *buf, size_t buflen, enum sim_bad kind,
                    const struct sim_report *r, const char *tid, int64_t now_s,
                    struct sim_rng *rng);

#endif
