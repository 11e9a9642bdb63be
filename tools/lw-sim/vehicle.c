/*
 * vehicle.c - how a simulated vehicle moves.
 *
 * Each vehicle has a home in a disc around the area's centre. It parks
 * (longer at home, shorter elsewhere), then drives to a destination: home
 * again, or a point 1-25 km away (now and then a long trip up to 80 km).
 * A trip is split into legs of a few kilometres whose ends are pushed
 * sideways, so the track zig-zags like a road network instead of flying
 * straight; the first and last legs are town streets (30-50 km/h, with
 * stops at junctions), the middle ones arterials (50-80 km/h) or, on long
 * trips, motorways (80-110 km/h). Speed changes with bounded acceleration.
 *
 * The model is integrated in sub-steps of at most SUBSTEP_MAX_S seconds;
 * positions use a local flat-earth approximation, which errs by far less
 * than GPS noise over a leg of a few kilometres.
 *
 * Everything random comes from the vehicle's own stream (struct sim_rng),
 * so a vehicle's path depends only on the seed and its index.
 */
#include <math.h>

#include "sim.h"

/* Mean Earth radius, metres (IUGG). */
#define EARTH_RADIUS_M 6371008.8
#define DEG_PER_RAD (180.0 / M_PI)
#define RAD_PER_DEG (M_PI / 180.0)
#define FULL_CIRCLE_DEG 360.0
#define KMH_PER_MPS 3.6
#define SECONDS_PER_MINUTE 60.0
#define SECONDS_PER_HOUR 3600.0

/* Longest integration step: short enough that a junction stop or a leg end
 * lands within a few tens of metres of where it should. */
#define SUBSTEP_MAX_S 5.0

/* Road classes, km/h. */
#define URBAN_MIN_KMH 30.0
#define URBAN_MAX_KMH 50.0
#define ARTERIAL_MIN_KMH 50.0
#define ARTERIAL_MAX_KMH 80.0
#define HIGHWAY_MIN_KMH 80.0
#define HIGHWAY_MAX_KMH 110.0
/* Trips longer than this use motorways for their middle legs. */
#define HIGHWAY_TRIP_M 15000.0

/* Trip lengths: log-uniform, so short errands are as common as long runs. */
#define TRIP_MIN_M 1000.0
#define TRIP_MAX_M 25000.0
#define LONG_TRIP_MAX_M 80000.0
#define LONG_TRIP_P 0.05
/* Chance that a vehicle away from home drives home next. */
#define GO_HOME_P 0.6
/* Destinations stay within this many home radii of the centre. */
#define AREA_MAX_FACTOR 3.0
/* When a destination falls outside, turn towards the centre +- this. */
#define TOWARDS_CENTRE_SPREAD_DEG 60.0

/* Legs: about this long, at most LEGS_MAX per trip. */
#define LEG_TARGET_M 2500.0
#define LEGS_MAX 12
/* Sideways push of a leg end, as a fraction of the leg's length. */
#define LEG_SIDE_FRAC 0.3

/* Motion. */
#define ACCEL_MPS2 2.0
#define BRAKE_MPS2 4.0
/* Relative spread of the speed around the leg's cruising speed. */
#define CRUISE_JITTER 0.05
/* ... cut at this, so that 110 km/h roads see at most 115 km/h. */
#define CRUISE_JITTER_MAX 0.045
/* Speed kept through a bend at the end of a leg. */
#define TURN_SPEED_FACTOR 0.6
/* Town streets: on average one junction stop per this many seconds. */
#define JUNCTION_EVERY_S 90.0
#define JUNCTION_MIN_S 10.0
#define JUNCTION_MAX_S 60.0

/* Parking stays. */
#define HOME_PARK_MIN_S (30.0 * SECONDS_PER_MINUTE)
#define HOME_PARK_MAX_S (12.0 * SECONDS_PER_HOUR)
#define AWAY_PARK_MIN_S (5.0 * SECONDS_PER_MINUTE)
#define AWAY_PARK_MAX_S (3.0 * SECONDS_PER_HOUR)
/* Closer than this to home counts as parked at home. */
#define AT_HOME_M 100.0
/* Share of the fleet already driving when the simulation starts. */
#define START_DRIVING_P 0.3

/* Tracker battery: charges while the engine runs, drains slowly parked. */
#define BATT_MIN_PCT 15.0
#define BATT_MAX_PCT 100.0
#define BATT_START_MIN_PCT 60.0
#define BATT_CHARGE_PCT_S (10.0 / SECONDS_PER_HOUR)
#define BATT_DRAIN_PCT_S (1.0 / SECONDS_PER_HOUR)

/* Stated GPS accuracy: better in the open on the move than parked in a
 * street canyon or a garage. The noise added has sigma = acc / 2. */
#define ACC_DRIVING_MIN_M 3.0
#define ACC_DRIVING_MAX_M 12.0
#define ACC_PARKED_MIN_M 5.0
#define ACC_PARKED_MAX_M 25.0
#define NOISE_SIGMA_PER_ACC 0.5
/* Course noise while driving, degrees (sigma). */
#define COG_NOISE_DEG 2.0
/* Share of reports the user asked for (OwnTracks t = "u"). */
#define USER_TRIGGER_P 0.01

/* Metres per degree of latitude. */
static double m_per_deg_lat(void)
{
    return EARTH_RADIUS_M * RAD_PER_DEG;
}

/* Metres per degree of longitude at latitude lat_deg. */
static double m_per_deg_lon(double lat_deg)
{
    return EARTH_RADIUS_M * RAD_PER_DEG * cos(lat_deg * RAD_PER_DEG);
}

double sim_distance_m(double lat1_deg, double lon1_deg, double lat2_deg,
                      double lon2_deg)
{
    double p1 = lat1_deg * RAD_PER_DEG, p2 = lat2_deg * RAD_PER_DEG;
    double dp = p2 - p1, dl = (lon2_deg - lon1_deg) * RAD_PER_DEG;
    double a = sin(dp / 2) * sin(dp / 2) +
               cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

    return 2.0 * EARTH_RADIUS_M * asin(sqrt(a));
}

/* Bearing from point 1 to point 2 (flat approximation), degrees [0, 360). */
static double bearing_deg(double lat1_deg, double lon1_deg, double lat2_deg,
                          double lon2_deg)
{
    double north_m = (lat2_deg - lat1_deg) * m_per_deg_lat();
    double east_m = (lon2_deg - lon1_deg) * m_per_deg_lon(lat1_deg);
    double b = atan2(east_m, north_m) * DEG_PER_RAD;

    return b < 0 ? b + FULL_CIRCLE_DEG : b;
}

/* Moves (*lat, *lon) dist_m metres towards bearing brg_deg (flat). */
static void offset(double *lat_deg, double *lon_deg, double brg_deg,
                   double dist_m)
{
    double b = brg_deg * RAD_PER_DEG;

    *lon_deg += dist_m * sin(b) / m_per_deg_lon(*lat_deg);
    *lat_deg += dist_m * cos(b) / m_per_deg_lat();
}

/* Picks a stay length for a vehicle that has just parked. */
static double park_time_s(struct sim_vehicle *v)
{
    return v->at_home
               ? sim_rng_logrange(&v->rng, HOME_PARK_MIN_S, HOME_PARK_MAX_S)
               : sim_rng_logrange(&v->rng, AWAY_PARK_MIN_S, AWAY_PARK_MAX_S);
}

/*
 * Starts the next leg of the trip: places its end (the destination itself
 * on the last leg), picks its road class and speed, and precomputes the
 * per-metre position change so that each sub-step is two multiplications.
 */
static void start_leg(struct sim_vehicle *v)
{
    double side, brg, len_m, east_m, north_m;
    double frac = 1.0 / v->legs_left;
    bool first = v->legs_left == v->legs_total;
    bool last = v->legs_left == 1;

    if (last) {
        v->wp_lat_deg = v->dest_lat_deg;
        v->wp_lon_deg = v->dest_lon_deg;
    } else {
        /* An even share of the remaining way, pushed sideways. */
        v->wp_lat_deg = v->lat_deg + (v->dest_lat_deg - v->lat_deg) * frac;
        v->wp_lon_deg = v->lon_deg + (v->dest_lon_deg - v->lon_deg) * frac;
        len_m = sim_distance_m(v->lat_deg, v->lon_deg, v->wp_lat_deg,
                               v->wp_lon_deg);
        brg = bearing_deg(v->lat_deg, v->lon_deg, v->dest_lat_deg,
                          v->dest_lon_deg);
        side = sim_rng_range(&v->rng, -LEG_SIDE_FRAC, LEG_SIDE_FRAC) * len_m;
        offset(&v->wp_lat_deg, &v->wp_lon_deg, brg + FULL_CIRCLE_DEG / 4, side);
    }

    v->leg_urban = first || last;
    if (v->leg_urban)
        v->leg_speed_mps =
            sim_rng_range(&v->rng, URBAN_MIN_KMH, URBAN_MAX_KMH) / KMH_PER_MPS;
    else if (v->trip_m > HIGHWAY_TRIP_M)
        v->leg_speed_mps =
            sim_rng_range(&v->rng, HIGHWAY_MIN_KMH, HIGHWAY_MAX_KMH) /
            KMH_PER_MPS;
    else
        v->leg_speed_mps =
            sim_rng_range(&v->rng, ARTERIAL_MIN_KMH, ARTERIAL_MAX_KMH) /
            KMH_PER_MPS;

    north_m = (v->wp_lat_deg - v->lat_deg) * m_per_deg_lat();
    east_m = (v->wp_lon_deg - v->lon_deg) * m_per_deg_lon(v->lat_deg);
    len_m = hypot(north_m, east_m);
    v->leg_left_m = len_m;
    if (len_m > 0) {
        v->heading_deg =
            bearing_deg(v->lat_deg, v->lon_deg, v->wp_lat_deg, v->wp_lon_deg);
        v->leg_dlat_deg_m = (v->wp_lat_deg - v->lat_deg) / len_m;
        v->leg_dlon_deg_m = (v->wp_lon_deg - v->lon_deg) / len_m;
    } else {
        v->leg_dlat_deg_m = 0;
        v->leg_dlon_deg_m = 0;
    }
}

/* Chooses where to go next and sets the vehicle on its first leg. */
static void plan_trip(struct sim_vehicle *v, const struct sim_area *area)
{
    double dist_m, brg;
    int legs;

    if (!v->at_home && sim_rng_unit(&v->rng) < GO_HOME_P) {
        v->dest_lat_deg = v->home_lat_deg;
        v->dest_lon_deg = v->home_lon_deg;
    } else {
        dist_m = sim_rng_unit(&v->rng) < LONG_TRIP_P
                     ? sim_rng_logrange(&v->rng, TRIP_MAX_M, LONG_TRIP_MAX_M)
                     : sim_rng_logrange(&v->rng, TRIP_MIN_M, TRIP_MAX_M);
        brg = sim_rng_range(&v->rng, 0, FULL_CIRCLE_DEG);
        v->dest_lat_deg = v->lat_deg;
        v->dest_lon_deg = v->lon_deg;
        offset(&v->dest_lat_deg, &v->dest_lon_deg, brg, dist_m);
        if (sim_distance_m(v->dest_lat_deg, v->dest_lon_deg,
                           area->centre_lat_deg, area->centre_lon_deg) >
            AREA_MAX_FACTOR * area->radius_m) {
            /* Keep the fleet in its region: head back towards the centre. */
            brg = bearing_deg(v->lat_deg, v->lon_deg, area->centre_lat_deg,
                              area->centre_lon_deg) +
                  sim_rng_range(&v->rng, -TOWARDS_CENTRE_SPREAD_DEG,
                                TOWARDS_CENTRE_SPREAD_DEG);
            v->dest_lat_deg = v->lat_deg;
            v->dest_lon_deg = v->lon_deg;
            offset(&v->dest_lat_deg, &v->dest_lon_deg, brg, dist_m);
        }
    }

    v->trip_m = sim_distance_m(v->lat_deg, v->lon_deg, v->dest_lat_deg,
                               v->dest_lon_deg);
    legs = (int)ceil(v->trip_m / LEG_TARGET_M);
    if (legs < 1)
        legs = 1;
    if (legs > LEGS_MAX)
        legs = LEGS_MAX;
    v->legs_total = legs;
    v->legs_left = legs;
    v->phase = SIM_DRIVING;
    v->at_home = false;
    v->hold_left_s = 0;
    v->speed_mps = 0;
    start_leg(v);
}

/* Ends the trip: the vehicle parks where it is. */
static void park(struct sim_vehicle *v)
{
    v->phase = SIM_PARKED;
    v->speed_mps = 0;
    v->at_home = sim_distance_m(v->lat_deg, v->lon_deg, v->home_lat_deg,
                                v->home_lon_deg) < AT_HOME_M;
    v->park_left_s = park_time_s(v);
}

/* Drives for h seconds (h <= SUBSTEP_MAX_S). */
static void drive(struct sim_vehicle *v, double h)
{
    double target, dv, d_m, jitter;

    if (v->hold_left_s > 0) {
        v->hold_left_s -= h;
        v->speed_mps = 0;
        return;
    }
    if (v->leg_urban && sim_rng_unit(&v->rng) < h / JUNCTION_EVERY_S) {
        v->hold_left_s = sim_rng_range(&v->rng, JUNCTION_MIN_S, JUNCTION_MAX_S);
        v->speed_mps = 0;
        return;
    }

    jitter = CRUISE_JITTER * sim_rng_gauss(&v->rng);
    if (jitter > CRUISE_JITTER_MAX)
        jitter = CRUISE_JITTER_MAX;
    if (jitter < -CRUISE_JITTER_MAX)
        jitter = -CRUISE_JITTER_MAX;
    target = v->leg_speed_mps * (1.0 + jitter);
    dv = target - v->speed_mps;
    if (dv > ACCEL_MPS2 * h)
        dv = ACCEL_MPS2 * h;
    if (dv < -BRAKE_MPS2 * h)
        dv = -BRAKE_MPS2 * h;
    v->speed_mps += dv;
    if (v->speed_mps < 0)
        v->speed_mps = 0;

    d_m = v->speed_mps * h;
    if (d_m < v->leg_left_m) {
        v->lat_deg += d_m * v->leg_dlat_deg_m;
        v->lon_deg += d_m * v->leg_dlon_deg_m;
        v->leg_left_m -= d_m;
        return;
    }

    /* End of the leg; the rest of this sub-step is spent turning. */
    v->lat_deg = v->wp_lat_deg;
    v->lon_deg = v->wp_lon_deg;
    v->legs_left--;
    if (v->legs_left == 0) {
        park(v);
        return;
    }
    v->speed_mps *= TURN_SPEED_FACTOR;
    start_leg(v);
}

/* Moves the vehicle dt_s seconds forward. */
static void advance(struct sim_vehicle *v, const struct sim_area *area,
                    double dt_s)
{
    while (dt_s > 0) {
        double h = dt_s < SUBSTEP_MAX_S ? dt_s : SUBSTEP_MAX_S;

        dt_s -= h;
        if (v->phase == SIM_PARKED) {
            v->batt_pct -= BATT_DRAIN_PCT_S * h;
            if (v->batt_pct < BATT_MIN_PCT)
                v->batt_pct = BATT_MIN_PCT;
            v->park_left_s -= h;
            if (v->park_left_s <= 0)
                plan_trip(v, area);
            continue;
        }
        v->batt_pct += BATT_CHARGE_PCT_S * h;
        if (v->batt_pct > BATT_MAX_PCT)
            v->batt_pct = BATT_MAX_PCT;
        drive(v, h);
    }
}

void sim_vehicle_init(struct sim_vehicle *v, const struct sim_area *area,
                      uint64_t seed, uint32_t index, int64_t start_s,
                      int step_s)
{
    double r_m, brg;

    *v = (struct sim_vehicle){0};
    sim_rng_seed(&v->rng, seed, index);

    /* Uniform over the disc: the radius grows as the square root. */
    r_m = area->radius_m * sqrt(sim_rng_unit(&v->rng));
    brg = sim_rng_range(&v->rng, 0, FULL_CIRCLE_DEG);
    v->home_lat_deg = area->centre_lat_deg;
    v->home_lon_deg = area->centre_lon_deg;
    offset(&v->home_lat_deg, &v->home_lon_deg, brg, r_m);
    v->lat_deg = v->home_lat_deg;
    v->lon_deg = v->home_lon_deg;
    v->heading_deg = sim_rng_range(&v->rng, 0, FULL_CIRCLE_DEG);
    v->batt_pct = sim_rng_range(&v->rng, BATT_START_MIN_PCT, BATT_MAX_PCT);
    v->clock_s = start_s + (int64_t)sim_rng_below(&v->rng, (uint64_t)step_s);

    v->at_home = true;
    if (sim_rng_unit(&v->rng) < START_DRIVING_P) {
        plan_trip(v, area);
    } else {
        v->phase = SIM_PARKED;
        v->park_left_s = sim_rng_range(&v->rng, 0, HOME_PARK_MAX_S);
    }
}

void sim_vehicle_report(struct sim_vehicle *v, const struct sim_area *area,
                        int step_s, struct sim_report *out)
{
    bool driving = v->phase == SIM_DRIVING && v->speed_mps > 0;
    double acc_m =
        driving ? sim_rng_range(&v->rng, ACC_DRIVING_MIN_M, ACC_DRIVING_MAX_M)
                : sim_rng_range(&v->rng, ACC_PARKED_MIN_M, ACC_PARKED_MAX_M);
    double sigma_m = acc_m * NOISE_SIGMA_PER_ACC;
    double cog = v->heading_deg;

    out->lat_deg =
        v->lat_deg + sigma_m * sim_rng_gauss(&v->rng) / m_per_deg_lat();
    out->lon_deg = v->lon_deg +
                   sigma_m * sim_rng_gauss(&v->rng) / m_per_deg_lon(v->lat_deg);
    if (driving)
        cog += COG_NOISE_DEG * sim_rng_gauss(&v->rng);
    cog = fmod(cog, FULL_CIRCLE_DEG);
    if (cog < 0)
        cog += FULL_CIRCLE_DEG;
    out->cog_deg = cog;
    out->acc_m = acc_m;
    out->vel_kmh = v->speed_mps * KMH_PER_MPS;
    out->batt_pct = (int)lround(v->batt_pct);
    out->trigger = sim_rng_unit(&v->rng) < USER_TRIGGER_P ? 'u' : 't';
    out->tst_s = v->clock_s;

    advance(v, area, step_s);
    v->clock_s += step_s;
}
