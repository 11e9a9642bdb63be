/*
 * main.c - lw-sim: publishes simulated vehicles' OwnTracks reports over MQTT.
 *
 * The load generator of the lienwatch benchmark and the feed of the demo and
 * of integration tests. One thread: libmosquitto is driven from a poll(2)
 * loop through mosquitto_socket/loop_read/loop_write/loop_misc, so nothing
 * waits on a lock or a second thread, and publishing stays cheap enough
 * (well over 50,000 QoS 1 messages/s to a local broker) that the simulator
 * is never what a benchmark measures.
 *
 * Schedule: messages go to the vehicles in turn (0, 1, ..., N-1, 0, ...).
 * Each report advances that vehicle's clock by --step seconds, so simulated
 * time can run faster than the wall clock; but a report's "tst" is never
 * more than FUTURE_SLACK_S ahead of the wall clock (the daemon rejects fixes
 * from the future): when a vehicle's clock gets there, the simulator waits.
 * By default the start is chosen so that the last report of a run with a
 * known size lands at about "now".
 *
 * Counting: --count is every publish (good + bad + duplicate). With QoS 1 a
 * message counts as acknowledged when its PUBACK arrives (on_publish); the
 * simulator waits for all of them (up to --timeout) before it exits, so a
 * benchmark can trust "acked". Exit status: 0 when every message was
 * acknowledged, 1 otherwise, 2 for bad options.
 *
 * Output: the human summary on stderr ("sent N good, M bad (...)"), and one
 * machine-readable key=value line on stdout (with our own CPU seconds, so a
 * benchmark can show that the simulator was not the bottleneck).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "lienwatch/timeutil.h"
#include "sim.h"

#define PROG "lw-sim"

/* Defaults (see --help). */
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 1883
#define DEFAULT_VEHICLES 10
#define DEFAULT_RATE 10.0
#define DEFAULT_QOS 1
#define DEFAULT_SEED 1
#define DEFAULT_PREFIX "owntracks/sim"
/* A tracker in move mode reports about twice a minute. */
#define DEFAULT_STEP_S 30
/* Porto, Portugal: a plausible city to drive around. */
#define DEFAULT_CENTRE_LAT_DEG 41.15
#define DEFAULT_CENTRE_LON_DEG (-8.61)
#define DEFAULT_RADIUS_KM 15.0
/* Seconds to wait for the last PUBACKs (or for a lost broker). */
#define DEFAULT_TIMEOUT_S 30.0
/* Our own cap on messages awaiting PUBACK. Small on purpose: libmosquitto
 * 2.0 walks its whole in-flight list on every PUBACK, so a long list costs
 * the simulator CPU that the broker needs (measured: 20,000 in flight
 * publishes 40% slower end to end than 256), while 256 is far more than the
 * round trip to a local broker needs to keep the pipe full. MQTT message ids
 * are 16 bits, so the limit stays below 65,535. */
#define DEFAULT_MAX_INFLIGHT 256
#define MAX_INFLIGHT_LIMIT 60000
/* Simulated history when the run's size is unknown (no --count, and no
 * --duration with a --rate): start this far back, then catch up. */
#define DEFAULT_BACKFILL_S 3600

/* How far ahead of the wall clock a report's tst may be. */
#define FUTURE_SLACK_S 2
/* Limits. */
#define VEHICLES_MAX 10000000u
#define SHUFFLE_MAX 100000
#define TOPIC_MAX 256
/* Longest "/carNNNNNNNN" a vehicle adds to the prefix. */
#define DEVICE_SUFFIX_MAX 16
#define SECONDS_MAX 1e9
#define RATE_MAX 1e9
#define RADIUS_MIN_KM 0.001
#define RADIUS_MAX_KM 1000.0
#define LAT_MAX_DEG 90.0
#define LON_MAX_DEG 180.0
/* Room for "LAT,LON" in --centre. */
#define CENTRE_ARG_MAX 64
#define DEVICE_DIGITS_FMT "%s/car%05" PRIu32
/* OwnTracks tracker ids are two characters: base 36 digits. */
#define TID_BASE 36
#define MQTT_KEEPALIVE_S 60
/* Most good payloads remembered for --duplicates. */
#define DUP_RING 64
/* Publishes between two polls when running flat out: enough to amortise
 * the poll(2), few enough that PUBACKs are read before buffers fill. */
#define BATCH_MAX 256
/* Most mosquitto_loop_read calls in one go (each reads a packet or so). */
#define READ_BURST_MAX 4096
/* Poll timeout when only waiting for the network. */
#define POLL_IDLE_MS 1000
/* mosquitto_loop_misc (keepalive pings) at most this often. */
#define MISC_INTERVAL_MS 1000
/* Reconnect back-off. */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000
#define CONNECT_WAIT_MS 10000
/* Accuracy stated in bad payloads: they are about their defect, not this. */
#define PEEK_ACC_M 10.0
#define KMH_PER_MPS 3.6
#define MS_PER_S 1000
#define US_PER_S 1e6
#define NS_PER_MS 1000000
#define KM 1000.0
/* Exit codes. */
#define EXIT_USAGE 2

/* Options, after parsing. */
struct opts {
    const char *host; /* broker */
    int port;
    uint32_t vehicles;     /* fleet size */
    double rate;           /* messages/s in total; 0 = flat out */
    uint64_t count;        /* publishes in total; 0 = no limit */
    double duration_s;     /* stop after this long; 0 = no limit */
    int qos;               /* 0, 1 or 2 */
    uint64_t seed;         /* --seed */
    const char *prefix;    /* topic prefix */
    const char *client_id; /* NULL: lw-sim-<pid> */
    double bad_ratio;      /* share of bad payloads */
    double dup_ratio;      /* share of re-sent good payloads */
    size_t shuffle;        /* block size for out-of-order publishing */
    int64_t start_s;       /* first fix time (before per-vehicle offset) */
    bool start_set;        /* --start given */
    int step_s;            /* simulated seconds between a vehicle's reports */
    struct sim_area area;  /* where the fleet lives */
    size_t max_inflight;   /* our cap on unacknowledged messages */
    double timeout_s;      /* wait for PUBACKs / broker at most this long */
    bool quiet;            /* -q */
};

/* One message ready to publish. */
struct out_msg {
    char topic[TOPIC_MAX];       /* full topic */
    char *big;                   /* heap payload (oversize), else NULL */
    int len;                     /* payload length */
    char small[SIM_PAYLOAD_MAX]; /* payload when it fits */
};

/* What the next generated message will be (drawn once, kept on waits). */
enum pending {
    PEND_NONE, /* not drawn yet */
    PEND_GOOD, /* the next vehicle's report */
    PEND_BAD,  /* a bad payload of kind pend_bad for vehicle pend_vehicle */
    PEND_DUP,  /* a re-send of ring entry pend_dup */
};

/* The whole simulator. */
struct sim {
    struct opts o;                /* options */
    struct mosquitto *mosq;       /* the MQTT client */
    struct sim_vehicle *veh;      /* o.vehicles vehicles */
    struct sim_rng rng;           /* decisions: bad, dup, shuffle */
    uint32_t next_vehicle;        /* whose turn it is */
    enum pending pend;            /* kind of the next message, if drawn */
    enum sim_bad pend_bad;        /* PEND_BAD: which kind */
    uint32_t pend_vehicle;        /* PEND_BAD: on whose topic */
    size_t pend_dup;              /* PEND_DUP: which ring entry */
    struct out_msg *win;          /* the current block (shuffle) */
    size_t win_cap;               /* block size, >= 1 */
    size_t win_len;               /* messages in the block */
    size_t win_pos;               /* next to publish */
    bool win_ready;               /* block complete and shuffled */
    struct out_msg *ring;         /* recent good messages, DUP_RING */
    size_t ring_len;              /* entries filled */
    size_t ring_next;             /* next slot to overwrite */
    uint64_t generated;           /* messages made */
    uint64_t good;                /* of which good reports */
    uint64_t bad[SIM_BAD_COUNT_]; /* of which bad, per kind */
    uint64_t dups;                /* of which duplicates */
    uint64_t published;           /* accepted by mosquitto_publish */
    uint64_t acked;               /* on_publish (PUBACK for QoS 1) */
    bool gen_done;                /* no more messages will be made */
    bool connected;               /* CONNACK accepted, not lost since */
    bool ever_connected;          /* first CONNACK seen */
    bool throttled_note;          /* said once that we wait for the clock */
    int connack_rc;               /* last CONNACK code, -1 none yet */
    uint64_t events;              /* callbacks run: progress of a read */
};

static volatile sig_atomic_t stop_requested;

/* SIGINT/SIGTERM: stop making messages; what was published is still
 * waited for. Only sets a flag (async-signal-safe). */
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Returns a clock in milliseconds (CLOCK_MONOTONIC or CLOCK_REALTIME). */
static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* clang-format off: the help text is laid out as it prints */
/* Prints --help to f. */
static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: " PROG " [OPTION]...\n"
        "Publish simulated vehicles' positions as OwnTracks JSON over MQTT.\n"
        "\n"
        "Each vehicle has a home near --centre, parks for random periods, and\n"
        "drives to destinations at 30-110 km/h along zig-zag routes. Reports "
        "go to\n"
        "PREFIX/carNNNNN (OwnTracks _type \"location\": lat, lon, tst, acc, "
        "vel km/h,\n"
        "cog, batt, tid, t) to the vehicles in turn. Same --seed (and "
        "--start), same\n"
        "messages.\n"
        "\n"
        "Connection:\n"
        "  --host HOST          broker address (default " DEFAULT_HOST ")\n"
        "  --port PORT          broker port (default %d)\n"
        "  --client-id ID       MQTT client id (default lw-sim-PID)\n"
        "  --qos N              0, 1 or 2 (default %d)\n"
        "  --topic-prefix P     topics are P/carNNNNN (default " DEFAULT_PREFIX
        ")\n"
        "  --max-inflight N     at most N messages awaiting PUBACK (default "
        "%d)\n"
        "  --timeout S          wait at most S seconds for the last PUBACKs or "
        "for a\n"
        "                       lost broker to come back (default %.0f)\n"
        "Load:\n"
        "  -n, --vehicles N     number of vehicles (default %d)\n"
        "  -r, --rate R         messages per second in total, 0 = as fast as "
        "possible\n"
        "                       (default %.0f)\n"
        "  -c, --count N        stop after N messages (good + bad + "
        "duplicates)\n"
        "  -d, --duration S     stop after S seconds\n"
        "                       (with neither, run until SIGINT/SIGTERM)\n"
        "Simulation:\n"
        "  --seed N             random seed (default %d)\n"
        "  --start T            fix time of the first reports: Unix seconds or "
        "ISO\n"
        "                       8601 (default: so that the last report is "
        "about now)\n"
        "  --step S             simulated seconds between two reports of a "
        "vehicle\n"
        "                       (default %d); reports never run more than %d s "
        "ahead\n"
        "                       of the wall clock: the simulator waits "
        "instead\n"
        "  --centre LAT,LON     centre of the fleet's homes (default "
        "%.2f,%.2f)\n"
        "  --radius KM          homes within KM of the centre (default %.0f)\n"
        "Robustness testing:\n"
        "  --bad-ratio R        share of deliberately bad payloads (0..1): not "
        "JSON,\n"
        "                       truncated JSON, string lat, lat 91, 0/0, tst 1 "
        "h in\n"
        "                       the future, 70 KiB oversize\n"
        "  --duplicates R       share of re-sent recent good payloads (0..1)\n"
        "  --shuffle W          publish in random order within blocks of W "
        "messages\n"
        "Output:\n"
        "  -q, --quiet          no progress notes and no human summary on "
        "stderr\n"
        "  -h, --help           this help\n"
        "  --version            print the version\n"
        "\n"
        "At exit: \"sent N good, M bad (kind=n, ...), D duplicates\" and the\n"
        "published/acknowledged counts on stderr, and one line on stdout:\n"
        "  published=N acked=N good=N bad=N duplicates=N seconds=S rate=R "
        "cpu_s=C\n"
        "Exit status: 0 all acknowledged, 1 not all acknowledged or no "
        "broker,\n"
        "2 bad options.\n",
        DEFAULT_PORT, DEFAULT_QOS, DEFAULT_MAX_INFLIGHT, DEFAULT_TIMEOUT_S,
        DEFAULT_VEHICLES, DEFAULT_RATE, DEFAULT_SEED, DEFAULT_STEP_S,
        FUTURE_SLACK_S, DEFAULT_CENTRE_LAT_DEG, DEFAULT_CENTRE_LON_DEG,
        DEFAULT_RADIUS_KM);
}
/* clang-format on */

/* Parses a whole unsigned integer in [min, max]; false if it is not one. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s == '\0' || *s == '-')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Parses a finite double in [min, max]; false if it is not one. */
static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Parses --start: Unix seconds or an ISO 8601 date-time. */
static bool parse_start(const char *s, int64_t *out_s)
{
    uint64_t secs;
    int64_t ms;

    if (parse_u64(s, 0, INT64_MAX, &secs)) {
        *out_s = (int64_t)secs;
        return true;
    }
    if (lw_time_parse(s, &ms) != LW_OK)
        return false;
    *out_s = ms / MS_PER_S;
    return true;
}

/* Parses --centre LAT,LON. */
static bool parse_centre(const char *s, struct sim_area *a)
{
    char buf[CENTRE_ARG_MAX];
    char *comma;

    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    comma = strchr(buf, ',');
    if (!comma)
        return false;
    *comma = '\0';
    return parse_double(buf, -LAT_MAX_DEG, LAT_MAX_DEG, &a->centre_lat_deg) &&
           parse_double(comma + 1, -LON_MAX_DEG, LON_MAX_DEG,
                        &a->centre_lon_deg);
}

/* Long-only options. */
enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_CLIENT_ID,
    OPT_QOS,
    OPT_PREFIX,
    OPT_MAX_INFLIGHT,
    OPT_TIMEOUT,
    OPT_SEED,
    OPT_START,
    OPT_STEP,
    OPT_CENTRE,
    OPT_RADIUS,
    OPT_BAD,
    OPT_DUP,
    OPT_SHUFFLE,
    OPT_VERSION,
};

/*
 * Parses argv into *o. Returns -1 to go on, or an exit code (0 after
 * --help/--version, EXIT_USAGE after a message about a bad option).
 */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"qos", required_argument, NULL, OPT_QOS},
        {"topic-prefix", required_argument, NULL, OPT_PREFIX},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"vehicles", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"start", required_argument, NULL, OPT_START},
        {"step", required_argument, NULL, OPT_STEP},
        {"centre", required_argument, NULL, OPT_CENTRE},
        {"center", required_argument, NULL, OPT_CENTRE},
        {"radius", required_argument, NULL, OPT_RADIUS},
        {"bad-ratio", required_argument, NULL, OPT_BAD},
        {"duplicates", required_argument, NULL, OPT_DUP},
        {"shuffle", required_argument, NULL, OPT_SHUFFLE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    uint64_t u;
    double d;
    int c;

    *o = (struct opts){
        .host = DEFAULT_HOST,
        .port = DEFAULT_PORT,
        .vehicles = DEFAULT_VEHICLES,
        .rate = DEFAULT_RATE,
        .qos = DEFAULT_QOS,
        .seed = DEFAULT_SEED,
        .prefix = DEFAULT_PREFIX,
        .shuffle = 1,
        .step_s = DEFAULT_STEP_S,
        .area = {DEFAULT_CENTRE_LAT_DEG, DEFAULT_CENTRE_LON_DEG,
                 DEFAULT_RADIUS_KM * KM},
        .max_inflight = DEFAULT_MAX_INFLIGHT,
        .timeout_s = DEFAULT_TIMEOUT_S,
    };

    while ((c = getopt_long(argc, argv, "n:r:c:d:qh", longopts, NULL)) != -1) {
        const char *bad = NULL;

        switch (c) {
        case OPT_HOST:
            o->host = optarg;
            break;
        case OPT_PORT:
            if (!parse_u64(optarg, 1, UINT16_MAX, &u))
                bad = "--port wants 1..65535";
            o->port = (int)u;
            break;
        case OPT_CLIENT_ID:
            o->client_id = optarg;
            break;
        case OPT_QOS:
            if (!parse_u64(optarg, 0, 2, &u))
                bad = "--qos wants 0, 1 or 2";
            o->qos = (int)u;
            break;
        case OPT_PREFIX:
            /* Room for "/carNNNNNNNN"; no wildcards in a publish topic. */
            if (strlen(optarg) + DEVICE_SUFFIX_MAX >= TOPIC_MAX ||
                strpbrk(optarg, "+#"))
                bad = "--topic-prefix is too long or has a wildcard";
            o->prefix = optarg;
            break;
        case OPT_MAX_INFLIGHT:
            if (!parse_u64(optarg, 1, MAX_INFLIGHT_LIMIT, &u))
                bad = "--max-inflight wants 1..60000";
            o->max_inflight = (size_t)u;
            break;
        case OPT_TIMEOUT:
            if (!parse_double(optarg, 0, SECONDS_MAX, &o->timeout_s))
                bad = "--timeout wants seconds >= 0";
            break;
        case 'n':
            if (!parse_u64(optarg, 1, VEHICLES_MAX, &u))
                bad = "--vehicles wants 1..10000000";
            o->vehicles = (uint32_t)u;
            break;
        case 'r':
            if (!parse_double(optarg, 0, RATE_MAX, &o->rate))
                bad = "--rate wants messages/s >= 0";
            break;
        case 'c':
            if (!parse_u64(optarg, 1, UINT64_MAX, &o->count))
                bad = "--count wants a positive integer";
            break;
        case 'd':
            if (!parse_double(optarg, 0, SECONDS_MAX, &d) || d <= 0)
                bad = "--duration wants seconds > 0";
            o->duration_s = d;
            break;
        case OPT_SEED:
            if (!parse_u64(optarg, 0, UINT64_MAX, &o->seed))
                bad = "--seed wants an unsigned integer";
            break;
        case OPT_START:
            if (!parse_start(optarg, &o->start_s))
                bad = "--start wants Unix seconds or ISO 8601";
            o->start_set = true;
            break;
        case OPT_STEP:
            if (!parse_u64(optarg, 1, INT32_MAX, &u))
                bad = "--step wants whole seconds >= 1";
            o->step_s = (int)u;
            break;
        case OPT_CENTRE:
            if (!parse_centre(optarg, &o->area))
                bad = "--centre wants LAT,LON in degrees";
            break;
        case OPT_RADIUS:
            if (!parse_double(optarg, RADIUS_MIN_KM, RADIUS_MAX_KM, &d))
                bad = "--radius wants 0.001..1000 km";
            o->area.radius_m = d * KM;
            break;
        case OPT_BAD:
            if (!parse_double(optarg, 0, 1, &o->bad_ratio))
                bad = "--bad-ratio wants 0..1";
            break;
        case OPT_DUP:
            if (!parse_double(optarg, 0, 1, &o->dup_ratio))
                bad = "--duplicates wants 0..1";
            break;
        case OPT_SHUFFLE:
            if (!parse_u64(optarg, 1, SHUFFLE_MAX, &u))
                bad = "--shuffle wants a window of 1..100000 messages";
            o->shuffle = (size_t)u;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf(PROG " " LW_VERSION "\n");
            return 0;
        default:
            fprintf(stderr, "Try '" PROG " --help'.\n");
            return EXIT_USAGE;
        }
        if (bad) {
            fprintf(stderr, PROG ": %s (got '%s')\n", bad, optarg);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (o->bad_ratio + o->dup_ratio > 1) {
        fprintf(stderr, PROG ": --bad-ratio plus --duplicates exceeds 1\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* Returns the payload bytes of m. */
static const char *msg_payload(const struct out_msg *m)
{
    return m->big ? m->big : m->small;
}

/* Writes vehicle index's topic into m. */
static void set_topic(const struct sim *s, struct out_msg *m, uint32_t index)
{
    snprintf(m->topic, sizeof m->topic, DEVICE_DIGITS_FMT, s->o.prefix,
             index + 1);
}

/* Writes vehicle index's two-character OwnTracks tracker id into tid[3]. */
static void make_tid(uint32_t index, char tid[3])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint32_t n = (index + 1) % (TID_BASE * TID_BASE);

    tid[0] = digits[n / TID_BASE];
    tid[1] = digits[n % TID_BASE];
    tid[2] = '\0';
}

/*
 * A report of vehicle v as it stands, without moving it or drawing from its
 * random stream: the base of a bad payload, so that mixing bad payloads in
 * does not change any vehicle's path.
 */
static void peek_report(const struct sim_vehicle *v, struct sim_report *r)
{
    *r = (struct sim_report){
        .lat_deg = v->lat_deg,
        .lon_deg = v->lon_deg,
        .acc_m = PEEK_ACC_M,
        .vel_kmh = v->speed_mps * KMH_PER_MPS,
        .cog_deg = v->heading_deg,
        .batt_pct = (int)lround(v->batt_pct),
        .trigger = 't',
        .tst_s = v->clock_s,
    };
}

/* Result of generate(). */
enum gen_result {
    GEN_OK,   /* *m holds a message */
    GEN_WAIT, /* the next report is in the future: retry after *wait_ms */
    GEN_FAIL, /* out of memory */
};

/*
 * Makes the next message into *m. The kind is drawn once and kept across
 * GEN_WAIT, so waiting for the clock never changes what is sent.
 */
static enum gen_result generate(struct sim *s, struct out_msg *m,
                                int64_t wall_ms, int64_t *wait_ms)
{
    struct sim_vehicle *v;
    struct sim_report r;
    char tid[3];
    double u;
    int n;

    if (s->pend == PEND_NONE) {
        u = sim_rng_unit(&s->rng);
        if (u < s->o.bad_ratio) {
            s->pend = PEND_BAD;
            s->pend_bad = (enum sim_bad)sim_rng_below(&s->rng, SIM_BAD_COUNT_);
            s->pend_vehicle = (uint32_t)sim_rng_below(&s->rng, s->o.vehicles);
        } else if (u < s->o.bad_ratio + s->o.dup_ratio && s->ring_len > 0) {
            s->pend = PEND_DUP;
            s->pend_dup = (size_t)sim_rng_below(&s->rng, s->ring_len);
        } else {
            s->pend = PEND_GOOD;
        }
    }

    m->big = NULL;
    switch (s->pend) {
    case PEND_BAD:
        v = &s->veh[s->pend_vehicle];
        peek_report(v, &r);
        make_tid(s->pend_vehicle, tid);
        set_topic(s, m, s->pend_vehicle);
        if (s->pend_bad == SIM_BAD_OVERSIZE) {
            m->big = malloc(SIM_OVERSIZE_BYTES + SIM_PAYLOAD_MAX);
            if (!m->big)
                return GEN_FAIL;
            n = sim_payload_bad(m->big, SIM_OVERSIZE_BYTES + SIM_PAYLOAD_MAX,
                                s->pend_bad, &r, tid, wall_ms / MS_PER_S,
                                &s->rng);
        } else {
            n = sim_payload_bad(m->small, sizeof m->small, s->pend_bad, &r, tid,
                                wall_ms / MS_PER_S, &s->rng);
        }
        if (n < 0) {
            /* Cannot happen with the buffer sizes above; stay defensive. */
            free(m->big);
            m->big = NULL;
            return GEN_FAIL;
        }
        m->len = n;
        s->bad[s->pend_bad]++;
        break;
    case PEND_DUP:
        *m = s->ring[s->pend_dup];
        s->dups++;
        break;
    case PEND_GOOD:
    case PEND_NONE:
        v = &s->veh[s->next_vehicle];
        if (v->clock_s > wall_ms / MS_PER_S + FUTURE_SLACK_S) {
            *wait_ms = (v->clock_s - FUTURE_SLACK_S) * MS_PER_S - wall_ms;
            return GEN_WAIT;
        }
        sim_vehicle_report(v, &s->o.area, s->o.step_s, &r);
        make_tid(s->next_vehicle, tid);
        set_topic(s, m, s->next_vehicle);
        m->len = sim_payload_good(m->small, sizeof m->small, &r, tid);
        if (m->len < 0)
            return GEN_FAIL;
        s->ring[s->ring_next] = *m;
        s->ring_next = (s->ring_next + 1) % DUP_RING;
        if (s->ring_len < DUP_RING)
            s->ring_len++;
        s->next_vehicle = (s->next_vehicle + 1) % s->o.vehicles;
        s->good++;
        break;
    }
    s->pend = PEND_NONE;
    s->generated++;
    return GEN_OK;
}

/* Shuffles the block in place (Fisher-Yates) with the decision stream. */
static void shuffle_block(struct sim *s)
{
    for (size_t i = s->win_len; i > 1; i--) {
        size_t j = (size_t)sim_rng_below(&s->rng, i);
        struct out_msg t = s->win[i - 1];

        s->win[i - 1] = s->win[j];
        s->win[j] = t;
    }
}

/*
 * Returns the next message to publish, or NULL: then *wait_ms says when to
 * try again (the clock), or the run has nothing more (s->gen_done and the
 * block empty), or generation failed (*failed).
 */
static struct out_msg *next_message(struct sim *s, int64_t wall_ms,
                                    int64_t *wait_ms, bool *failed)
{
    if (s->win_ready && s->win_pos < s->win_len)
        return &s->win[s->win_pos];

    if (s->win_ready) {
        s->win_ready = false;
        s->win_len = 0;
        s->win_pos = 0;
    }
    while (s->win_len < s->win_cap && !s->gen_done) {
        if (s->o.count && s->generated >= s->o.count) {
            s->gen_done = true;
            break;
        }
        switch (generate(s, &s->win[s->win_len], wall_ms, wait_ms)) {
        case GEN_OK:
            s->win_len++;
            break;
        case GEN_WAIT:
            return NULL;
        case GEN_FAIL:
            *failed = true;
            return NULL;
        }
    }
    if (s->win_len == 0)
        return NULL;
    if (s->win_cap > 1)
        shuffle_block(s);
    s->win_ready = true;
    return &s->win[s->win_pos];
}

/* Drops the message just published from the block. */
static void message_done(struct sim *s)
{
    struct out_msg *m = &s->win[s->win_pos++];

    free(m->big);
    m->big = NULL;
}

/* on_connect: a CONNACK arrived. */
static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct sim *s = obj;

    (void)mosq;
    s->events++;
    s->connack_rc = rc;
    if (rc == 0) {
        s->connected = true;
        s->ever_connected = true;
    } else if (!s->o.quiet) {
        fprintf(stderr, PROG ": broker refused the connection: %s\n",
                mosquitto_connack_string(rc));
    }
}

/* on_disconnect: the connection is gone (rc 0: we asked for it). */
static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    struct sim *s = obj;

    (void)mosq;
    s->events++;
    s->connected = false;
    if (rc != 0 && !s->o.quiet)
        fprintf(stderr, PROG ": connection lost (%s); reconnecting\n",
                mosquitto_strerror(rc));
}

/* on_publish: PUBACK for QoS 1 (PUBCOMP for 2; written, for 0). */
static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct sim *s = obj;

    (void)mosq;
    (void)mid;
    s->acked++;
    s->events++;
}

/*
 * Services the socket once: waits up to timeout_ms for it (reading what
 * arrives, writing what is queued), and runs the keepalive housekeeping at
 * most once per MISC_INTERVAL_MS. Lost connections are reported through
 * on_disconnect.
 */
static void service(struct sim *s, int timeout_ms, int64_t *last_misc_ms)
{
    struct pollfd pfd = {.fd = mosquitto_socket(s->mosq), .events = POLLIN};
    int64_t now;
    int rc;

    if (pfd.fd < 0) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return;
    }
    if (mosquitto_want_write(s->mosq))
        pfd.events |= POLLOUT;
    rc = poll(&pfd, 1, timeout_ms);
    if (rc > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
        /* libmosquitto 2.0 may return after one packet (it tests an errno
         * left over from an earlier call), so read on while calls make
         * progress; the last, idle, call costs one EAGAIN read. */
        for (int i = 0; i < READ_BURST_MAX; i++) {
            uint64_t before = s->events;

            if (mosquitto_loop_read(s->mosq, 1) != MOSQ_ERR_SUCCESS ||
                s->events == before || mosquitto_socket(s->mosq) < 0)
                break;
        }
    }
    if (mosquitto_socket(s->mosq) >= 0 && mosquitto_want_write(s->mosq))
        mosquitto_loop_write(s->mosq, 1);
    now = clock_ms(CLOCK_MONOTONIC);
    if (now - *last_misc_ms >= MISC_INTERVAL_MS) {
        mosquitto_loop_misc(s->mosq);
        *last_misc_ms = now;
    }
}

/*
 * Waits until the broker accepted the connection, or deadline (monotonic
 * ms) passed. Returns true when connected.
 */
static bool wait_connack(struct sim *s, int64_t deadline_ms,
                         int64_t *last_misc_ms)
{
    while (!s->connected && clock_ms(CLOCK_MONOTONIC) < deadline_ms) {
        if (mosquitto_socket(s->mosq) < 0)
            return false;
        service(s, POLL_IDLE_MS / 10, last_misc_ms);
        if (s->connack_rc > 0)
            return false;
    }
    return s->connected;
}

/*
 * Reconnects after a loss, with back-off, for at most timeout_s. libmosquitto
 * re-sends the messages that were awaiting PUBACK. Returns true when
 * connected again.
 */
static bool reconnect(struct sim *s, int64_t *last_misc_ms)
{
    int64_t start = clock_ms(CLOCK_MONOTONIC);
    int64_t limit = start + (int64_t)(s->o.timeout_s * MS_PER_S);
    int backoff = RECONNECT_MIN_MS;

    while (clock_ms(CLOCK_MONOTONIC) < limit) {
        s->connack_rc = -1;
        if (mosquitto_reconnect(s->mosq) == MOSQ_ERR_SUCCESS &&
            wait_connack(s, clock_ms(CLOCK_MONOTONIC) + CONNECT_WAIT_MS,
                         last_misc_ms)) {
            if (!s->o.quiet)
                fprintf(stderr, PROG ": reconnected\n");
            return true;
        }
        poll(NULL, 0, backoff);
        backoff =
            backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
    }
    return false;
}

/* Default start: the last report of a run of known size lands at ~now. */
static int64_t default_start_s(const struct opts *o, int64_t now_s)
{
    uint64_t total = o->count;
    uint64_t per_vehicle;

    if (!total && o->duration_s > 0 && o->rate > 0)
        total = (uint64_t)ceil(o->duration_s * o->rate);
    if (!total)
        return now_s - DEFAULT_BACKFILL_S;
    per_vehicle = (total + o->vehicles - 1) / o->vehicles;
    return now_s - (int64_t)per_vehicle * o->step_s;
}

/*
 * The main loop: publishes at the asked rate while keeping at most
 * max_inflight unacknowledged, until the run is over and every message is
 * acknowledged, or the PUBACK/broker wait runs out. Returns true when all
 * were acknowledged.
 */
static bool run(struct sim *s, int64_t *t0_ms, int64_t *t_end_ms)
{
    int64_t last_misc = clock_ms(CLOCK_MONOTONIC);
    int64_t drain_deadline = 0;
    bool failed = false;

    *t0_ms = clock_ms(CLOCK_MONOTONIC);
    for (;;) {
        int64_t now = clock_ms(CLOCK_MONOTONIC);
        int64_t wall = clock_ms(CLOCK_REALTIME);
        int64_t timeout = POLL_IDLE_MS;
        int batch = 0;

        if (stop_requested ||
            (s->o.duration_s > 0 &&
             now - *t0_ms >= (int64_t)(s->o.duration_s * MS_PER_S))) {
            s->gen_done = true;
            /* Messages made for a block but not yet published are dropped
             * on a stop: "published" is what counts. */
            if (stop_requested)
                s->win_pos = s->win_len;
        }

        if (!s->connected) {
            if (!reconnect(s, &last_misc)) {
                fprintf(stderr, PROG ": no broker at %s:%d for %.0f s\n",
                        s->o.host, s->o.port, s->o.timeout_s);
                break;
            }
            continue;
        }

        while (batch < BATCH_MAX) {
            struct out_msg *m;
            int64_t wait = 0;
            int rc;

            if (s->published - s->acked >= s->o.max_inflight)
                break;
            if (s->o.rate > 0) {
                uint64_t allowed =
                    (uint64_t)((double)(now - *t0_ms) * s->o.rate / MS_PER_S) +
                    1;
                if (s->published >= allowed) {
                    double next_ms =
                        (double)s->published * MS_PER_S / s->o.rate;
                    timeout = (int64_t)ceil(next_ms) - (now - *t0_ms);
                    break;
                }
            }
            m = next_message(s, wall, &wait, &failed);
            if (failed) {
                fprintf(stderr, PROG ": out of memory\n");
                s->gen_done = true;
                s->win_pos = s->win_len;
                break;
            }
            if (!m) {
                if (!s->gen_done) {
                    timeout = wait;
                    if (!s->throttled_note && !s->o.quiet) {
                        fprintf(stderr,
                                PROG ": reports reached the wall "
                                     "clock; continuing in real time\n");
                        s->throttled_note = true;
                    }
                }
                break;
            }
            rc = mosquitto_publish(s->mosq, NULL, m->topic, m->len,
                                   msg_payload(m), s->o.qos, false);
            if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
                s->connected = false;
                break;
            }
            if (rc != MOSQ_ERR_SUCCESS) {
                fprintf(stderr, PROG ": publish: %s\n", mosquitto_strerror(rc));
                s->gen_done = true;
                s->win_pos = s->win_len;
                break;
            }
            message_done(s);
            s->published++;
            batch++;
        }
        if (batch == BATCH_MAX)
            timeout = 0;

        if (s->gen_done && s->win_pos >= s->win_len) {
            if (s->acked >= s->published) {
                *t_end_ms = clock_ms(CLOCK_MONOTONIC);
                return !failed;
            }
            if (!drain_deadline)
                drain_deadline = now + (int64_t)(s->o.timeout_s * MS_PER_S);
            if (now >= drain_deadline) {
                fprintf(stderr,
                        PROG ": gave up waiting for %" PRIu64
                             " acknowledgements after %.0f s\n",
                        s->published - s->acked, s->o.timeout_s);
                break;
            }
            timeout = POLL_IDLE_MS / 10;
        }
        if (timeout < 0)
            timeout = 0;
        if (timeout > POLL_IDLE_MS)
            timeout = POLL_IDLE_MS;
        service(s, (int)timeout, &last_misc);
    }
    *t_end_ms = clock_ms(CLOCK_MONOTONIC);
    return false;
}

/* Prints the summary lines (stderr unless quiet; the key=value line always). */
static void report(const struct sim *s, double seconds)
{
    struct rusage ru;
    uint64_t bad = 0;
    double rate = seconds > 0 ? (double)s->acked / seconds : 0;

    for (int k = 0; k < SIM_BAD_COUNT_; k++)
        bad += s->bad[k];
    if (!s->o.quiet) {
        fprintf(stderr, PROG ": sent %" PRIu64 " good, %" PRIu64 " bad (",
                s->good, bad);
        for (int k = 0; k < SIM_BAD_COUNT_; k++)
            fprintf(stderr, "%s%s=%" PRIu64, k ? ", " : "",
                    sim_bad_name((enum sim_bad)k), s->bad[k]);
        fprintf(stderr, "), %" PRIu64 " duplicates\n", s->dups);
        fprintf(stderr,
                PROG ": published %" PRIu64 ", acknowledged %" PRIu64
                     " in %.3f s (%.0f msgs/s)\n",
                s->published, s->acked, seconds, rate);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("published=%" PRIu64 " acked=%" PRIu64 " good=%" PRIu64
           " bad=%" PRIu64 " duplicates=%" PRIu64
           " seconds=%.3f rate=%.0f cpu_s=%.3f\n",
           s->published, s->acked, s->good, bad, s->dups, seconds, rate,
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / US_PER_S);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sim s = {.connack_rc = -1};
    struct sigaction sa = {.sa_handler = on_signal};
    char client_id[64];
    int64_t start_s, t0 = 0, t_end = 0, last_misc = 0;
    bool ok = false;
    int rc, exit_code = EXIT_FAILURE;

    rc = parse_args(argc, argv, &s.o);
    if (rc >= 0)
        return rc;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s.veh = calloc(s.o.vehicles, sizeof *s.veh);
    s.win_cap = s.o.shuffle;
    s.win = calloc(s.win_cap, sizeof *s.win);
    s.ring = calloc(DUP_RING, sizeof *s.ring);
    if (!s.veh || !s.win || !s.ring) {
        fprintf(stderr, PROG ": out of memory for %" PRIu32 " vehicles\n",
                s.o.vehicles);
        goto out_free;
    }

    start_s = s.o.start_set
                  ? s.o.start_s
                  : default_start_s(&s.o, clock_ms(CLOCK_REALTIME) / MS_PER_S);
    sim_rng_seed(&s.rng, s.o.seed, UINT64_MAX);
    for (uint32_t i = 0; i < s.o.vehicles; i++)
        sim_vehicle_init(&s.veh[i], &s.o.area, s.o.seed, i, start_s,
                         s.o.step_s);

    mosquitto_lib_init();
    if (!s.o.client_id) {
        snprintf(client_id, sizeof client_id, PROG "-%ld", (long)getpid());
        s.o.client_id = client_id;
    }
    s.mosq = mosquitto_new(s.o.client_id, true, &s);
    if (!s.mosq) {
        fprintf(stderr, PROG ": mosquitto_new: %s\n", strerror(errno));
        goto out_lib;
    }
    mosquitto_connect_callback_set(s.mosq, on_connect);
    mosquitto_disconnect_callback_set(s.mosq, on_disconnect);
    mosquitto_publish_callback_set(s.mosq, on_publish);
    /* Unlimited in the library: our own max_inflight gates publishing, so
     * nothing waits in libmosquitto's queue unsent. */
    mosquitto_max_inflight_messages_set(s.mosq, 0);

    rc = mosquitto_connect(s.mosq, s.o.host, s.o.port, MQTT_KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(
            stderr, PROG ": cannot connect to %s:%d: %s\n", s.o.host, s.o.port,
            rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        goto out_destroy;
    }
    if (!wait_connack(&s, clock_ms(CLOCK_MONOTONIC) + CONNECT_WAIT_MS,
                      &last_misc)) {
        fprintf(stderr, PROG ": no CONNACK from %s:%d\n", s.o.host, s.o.port);
        goto out_destroy;
    }

    ok = run(&s, &t0, &t_end);
    report(&s, (double)(t_end - t0) / MS_PER_S);
    exit_code = ok ? EXIT_SUCCESS : EXIT_FAILURE;
    if (s.connected) {
        mosquitto_disconnect(s.mosq);
        /* Flushes the DISCONNECT if the socket was busy. */
        if (mosquitto_socket(s.mosq) >= 0)
            mosquitto_loop_write(s.mosq, 1);
    }

out_destroy:
    mosquitto_destroy(s.mosq);
out_lib:
    mosquitto_lib_cleanup();
out_free:
    for (size_t i = 0; s.win && i < s.win_cap; i++)
        free(s.win[i].big);
    free(s.ring);
    free(s.win);
    free(s.veh);
    return exit_code;
}
